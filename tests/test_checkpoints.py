"""Damaged checkpoints and tampered run directories: a damaged latest checkpoint is detected (by its
digest, or by failing to restore) and skipped with a warning for the newest intact one, on resume and on
render; when none is intact, or config.json does not fit the checkpoints (edited, invalid, missing), the
command line says so in one error line and changes nothing."""

import glob
import hashlib
import json
import logging
import os
import pathlib
import shutil
import signal
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

from siren_jax.engine import step as step_lib, train, trained
from siren_jax.errors import UserError
from siren_jax.io import checkpoints
from siren_jax.nets import kinds
import forkserver
from conftest import ROOT, run_main, smooth_image, tiny_config, tiny_flags

# Checkpoints at steps 20 and 40 (max_checkpoints 2 keeps both). The learning rate is given explicitly
# because tiny_flags leaves it at configs/default.py's while tiny_config sets 1e-3: the command-line
# resumes below must match the config of the in-process base run exactly.
STEPS = dict(train__num_steps=40, train__checkpoint_every=20, train__log_every=20,
             train__learning_rate=1e-3)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
  path = tmp_path_factory.mktemp("ckpt_image") / "smooth.png"
  Image.fromarray((smooth_image() * 255).round().astype(np.uint8)).save(path)
  return str(path)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, image):
  """An uninterrupted run: the reference every fallback is compared with. Never modified."""
  workdir = tmp_path_factory.mktemp("ckpt_base") / "run"
  train.train_and_evaluate(tiny_config(image, **STEPS), str(workdir))
  return str(workdir)


@pytest.fixture
def run_copy(base_run, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(base_run, workdir)
  return str(workdir)


def _step_dir(workdir, step):
  return os.path.join(workdir, "checkpoints", str(step))


def _largest_file(directory):
  files = [p for p in glob.glob(os.path.join(directory, "**"), recursive=True) if os.path.isfile(p)]
  return max(files, key=os.path.getsize)


def _write_random_bytes(step_dir):
  """64 random bytes over the middle of the step's largest file (its array data)."""
  path = _largest_file(step_dir)
  before = pathlib.Path(path).read_bytes()
  offset = max(len(before) // 2 - 32, 0)
  with open(path, "r+b") as f:
    f.seek(offset)
    f.write(np.random.default_rng(0).bytes(64))
  assert pathlib.Path(path).read_bytes() != before


def _delete(pattern):
  def damage(step_dir):
    paths = glob.glob(os.path.join(step_dir, pattern))
    assert paths, pattern
    for path in paths:
      shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
  return damage


DAMAGE = {
    "random bytes": _write_random_bytes,
    "data files": _delete("state/ocdbt.process_0/d/*"),
    "_METADATA": _delete("state/_METADATA"),
    "meta metadata": _delete("meta/metadata"),
    "everything": _delete("*"),
}


def _restored(workdir, checkpoint_dir="checkpoints"):
  """(step, state) of the newest intact checkpoint, read without changing anything."""
  config = tiny_config("x")
  like = step_lib.create_train_state(jax.random.PRNGKey(0), kinds.build_model(config.model, 3), config)
  state, _ = checkpoints.Checkpointer(os.path.join(workdir, checkpoint_dir), 2,
                                      restore_only=True).restore_latest(like)
  return int(state.step), state


def _assert_bit_identical(a, b):
  la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _snapshot(directory):
  return {os.path.relpath(os.path.join(root, name), directory):
          hashlib.sha256(pathlib.Path(root, name).read_bytes()).hexdigest()
          for root, _, names in os.walk(directory) for name in names}


def _one_error_line(proc, message):
  """The command failed with exit status 2 and stderr ending in exactly one ``error:`` line."""
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr
  lines = proc.stderr.strip().splitlines()
  errors = [line for line in lines if line.startswith("error:")]
  assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr[-3000:]
  assert message in errors[0], errors[0]
  return errors[0]


def _render_cli(workdir, out):
  return forkserver.run([sys.executable, "-m", "siren_jax.render", f"--workdir={workdir}",
                         f"--out={out}"], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_file_of_a_saved_checkpoint_is_digested(base_run):
  for step in (20, 40):
    step_dir = _step_dir(base_run, step)
    digest = json.loads(pathlib.Path(step_dir, checkpoints.DIGEST_NAME).read_text())
    files = {os.path.relpath(p, step_dir) for p in glob.glob(os.path.join(step_dir, "**"), recursive=True)
             if os.path.isfile(p)} - {checkpoints.DIGEST_NAME}
    assert set(digest["files"]) == files and any(f.startswith("state/") for f in files)
    assert checkpoints.verify_digest(step_dir)


def test_resume_past_random_bytes_matches_an_uninterrupted_run(run_copy, base_run, image):
  """The issue's case through the command line: the damaged step 40 is moved aside, step 20 resumed,
  and the run ends where the uninterrupted one did, bit for bit."""
  _write_random_bytes(_step_dir(run_copy, 40))
  damaged = _snapshot(_step_dir(run_copy, 40))
  proc = run_main(run_copy, *tiny_flags(image, **STEPS))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "checkpoint step 40" in proc.stderr and "is damaged" in proc.stderr
  assert "restored checkpoint step 20" in proc.stderr and "Resuming" in proc.stderr
  aside = os.path.join(run_copy, "checkpoints", "corrupt-40")
  assert _snapshot(aside) == damaged  # kept as it was, not deleted
  step, state = _restored(run_copy)
  assert step == 40 and checkpoints.verify_digest(_step_dir(run_copy, 40))
  _assert_bit_identical(state, _restored(base_run)[1])
  rows = [json.loads(line)["step"]
          for line in pathlib.Path(run_copy, "metrics.jsonl").read_text().splitlines()]
  assert rows == [0, 20, 40]


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_resume_falls_back_past_a_damaged_latest(run_copy, base_run, image, kind, caplog):
  DAMAGE[kind](_step_dir(run_copy, 40))
  with caplog.at_level(logging.WARNING):
    summary = train.train_and_evaluate(tiny_config(image, **STEPS), run_copy)
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert any("checkpoint step 40" in w and "is damaged" in w for w in warnings), warnings
  assert summary["status"] == "done" and summary["steps"] == 40
  assert os.path.isdir(os.path.join(run_copy, "checkpoints", "corrupt-40"))
  _assert_bit_identical(_restored(run_copy)[1], _restored(base_run)[1])


def test_checkpoints_without_a_digest_are_tried_unverified(run_copy, caplog):
  """Checkpoints written before digests existed (no digest, no marker) restore (with a warning) while
  they restore cleanly, and fall back like damaged ones when they do not."""
  for step in (20, 40):
    os.remove(os.path.join(_step_dir(run_copy, step), checkpoints.DIGEST_NAME))
  os.remove(os.path.join(run_copy, "checkpoints", checkpoints.MARKER_NAME))
  with caplog.at_level(logging.WARNING):
    assert _restored(run_copy)[0] == 40
  assert any("without verification" in r.getMessage() for r in caplog.records)
  DAMAGE["data files"](_step_dir(run_copy, 40))
  assert _restored(run_copy)[0] == 20


def test_a_step_without_its_digest_in_a_digested_run_is_not_trusted(run_copy, base_run, image):
  """The issue's data loss: a kill between orbax's rename of step 40 and its digest, then a damaged
  byte in that step. The step must not be restored unverified: the run falls back to the verified step
  20, keeps step 40 aside as unverified-40 and ends as the uninterrupted run did."""
  os.remove(os.path.join(_step_dir(run_copy, 40), checkpoints.DIGEST_NAME))
  _write_random_bytes(_step_dir(run_copy, 40))
  os.remove(os.path.join(run_copy, "summary.json"))  # killed mid-run: not finished
  kept = _snapshot(_step_dir(run_copy, 40))
  ckpt = checkpoints.Checkpointer(os.path.join(run_copy, "checkpoints"), 2, restore_only=True)
  assert ckpt.likely_resume_step() == 20
  proc = run_main(run_copy, *tiny_flags(image, **STEPS))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "checkpoint step 40" in proc.stderr and "is unverified" in proc.stderr
  assert _snapshot(os.path.join(run_copy, "checkpoints", "unverified-40")) == kept
  step, state = _restored(run_copy)
  assert step == 40 and checkpoints.verify_digest(_step_dir(run_copy, 40))
  _assert_bit_identical(state, _restored(base_run)[1])


def test_a_save_cut_off_before_its_digest_is_not_counted(tmp_path, monkeypatch, caplog):
  """The window itself: the marker is on disk before the first step, so a step that orbax finished but
  that has no digest (the process died in between) is never restored. A reader says there is no
  verified checkpoint; a writer moves it aside and starts over."""
  directory = str(tmp_path / "checkpoints")
  ckpt = checkpoints.Checkpointer(directory, 2)

  def killed(step_dir):
    raise KeyboardInterrupt  # stands for the process dying after orbax's rename, before the digest

  monkeypatch.setattr(checkpoints, "write_digest", killed)
  with pytest.raises(KeyboardInterrupt):
    ckpt.save(10, {"w": np.arange(3.0)}, {"note": "x"})
  ckpt.close()
  monkeypatch.undo()
  assert os.path.isfile(os.path.join(directory, checkpoints.MARKER_NAME))
  assert checkpoints.has_steps(directory) and not os.path.exists(
      os.path.join(directory, "10", checkpoints.DIGEST_NAME))
  like = {"w": np.zeros(3)}
  reader = checkpoints.Checkpointer(directory, 2, restore_only=True)
  assert reader.likely_resume_step() is None
  with pytest.raises(UserError, match="no verified checkpoint"):
    reader.restore_latest(like)
  assert sorted(os.listdir(directory)) == ["10", checkpoints.MARKER_NAME]  # a reader moves nothing
  writer = checkpoints.Checkpointer(directory, 2)
  with caplog.at_level(logging.WARNING):
    assert writer.restore_latest(like) is None
  assert any("starting the run over" in r.getMessage() for r in caplog.records)
  assert sorted(os.listdir(directory)) == [checkpoints.MARKER_NAME, "unverified-10"]
  writer.save(10, {"w": np.arange(3.0)}, {"note": "x"})  # the step can be saved again
  np.testing.assert_array_equal(writer.restore_latest(like)[0]["w"], np.arange(3.0))


def test_all_checkpoints_damaged_is_one_error_line_and_changes_nothing(run_copy, image, tmp_path):
  DAMAGE["random bytes"](_step_dir(run_copy, 40))
  DAMAGE["data files"](_step_dir(run_copy, 20))
  before = _snapshot(run_copy)
  ckpt = checkpoints.Checkpointer(os.path.join(run_copy, "checkpoints"), 2)
  assert ckpt.likely_resume_step() is None
  _one_error_line(run_main(run_copy, *tiny_flags(image, **STEPS)), "no intact checkpoint")
  assert _snapshot(run_copy) == before
  _one_error_line(_render_cli(run_copy, tmp_path / "out.png"), "no intact checkpoint")
  assert _snapshot(run_copy) == before and not (tmp_path / "out.png").exists()


def test_render_falls_back_past_a_damaged_latest_and_moves_nothing(run_copy, base_run, tmp_path,
                                                                   caplog):
  DAMAGE["random bytes"](_step_dir(run_copy, 40))
  before = _snapshot(run_copy)
  with caplog.at_level(logging.WARNING):
    run = trained.load_run(run_copy)
  assert run.step == 20 and any("is damaged" in r.getMessage() for r in caplog.records)
  assert _snapshot(run_copy) == before  # a reader never moves a (possibly training) run's files
  reference = tmp_path / "reference"
  shutil.copytree(base_run, reference)
  shutil.rmtree(_step_dir(str(reference), 40))
  _assert_bit_identical(run.params, _restored(str(reference))[1].params)
  proc = _render_cli(run_copy, tmp_path / "out.png")
  assert proc.returncode == 0 and "(step 20)" in proc.stderr, proc.stderr[-3000:]
  with Image.open(tmp_path / "out.png") as out:
    assert out.size == (32, 32)


def test_config_edited_to_another_width_is_one_error_line(run_copy, image, tmp_path):
  """A config that does not fit the checkpoint is the config's fault: nothing is moved aside."""
  path = pathlib.Path(run_copy, "config.json")
  config = json.loads(path.read_text())
  config["model"]["width"] = 64
  path.write_text(json.dumps(config))
  before = _snapshot(run_copy)
  line = _one_error_line(_render_cli(run_copy, tmp_path / "out.png"), "does not fit the model")
  assert "params.params." in line and "(32,)" in line and "(64,)" in line
  proc = run_main(run_copy, *tiny_flags(image, **STEPS, model__width=64))
  line = _one_error_line(proc, "does not fit the model")
  assert "params.params." in line and "(32,)" in line and "(64,)" in line
  assert proc.stderr.strip() == line  # the error line alone: nothing is logged before the restore
  assert _snapshot(run_copy) == before


def test_config_that_is_not_json_is_one_error_line(run_copy, image, tmp_path):
  pathlib.Path(run_copy, "config.json").write_text('{"model": {"width": 3')
  before = _snapshot(run_copy)
  _one_error_line(run_main(run_copy, *tiny_flags(image, **STEPS)), "config.json")
  _one_error_line(_render_cli(run_copy, tmp_path / "out.png"), "config.json")
  assert _snapshot(run_copy) == before


def test_checkpoints_without_config_json_are_not_resumed(run_copy, image):
  os.remove(os.path.join(run_copy, "config.json"))
  before = _snapshot(run_copy)
  changed_lr = dict(STEPS, train__learning_rate=3e-3)
  line = _one_error_line(run_main(run_copy, *tiny_flags(image, **changed_lr)), "no config.json")
  assert "config.json back" in line
  assert _snapshot(run_copy) == before


def test_shape_mismatch_raises_without_falling_back(run_copy):
  """In-process form of the width case: a UserError, not a fallback to (equally unfitting) step 20."""
  config = tiny_config("x", model__width=16)
  like = step_lib.create_train_state(jax.random.PRNGKey(0), kinds.build_model(config.model, 3), config)
  ckpt = checkpoints.Checkpointer(os.path.join(run_copy, "checkpoints"), 2)
  with pytest.raises(UserError, match=r"checkpoint step 40 .* \(32,\) in the checkpoint, \(16,\)"):
    ckpt.restore_latest(like)
  assert sorted(os.listdir(os.path.join(run_copy, "checkpoints"))) == ["20", "40", checkpoints.MARKER_NAME]


def test_an_interrupt_during_a_save_waits_for_the_save(tmp_path, monkeypatch):
  """SIGINT while orbax's threads write a step: the step is finished and digested, then the interrupt
  is raised (an interrupt that stopped the wait left those threads writing as the process exited)."""
  ckpt = checkpoints.Checkpointer(str(tmp_path / "checkpoints"), 2)
  real_save = ckpt._manager.save  # pylint: disable=protected-access

  def save_then_interrupt(*args, **kwargs):
    result = real_save(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGINT)  # lands while the save's threads may still be writing
    time.sleep(0.1)
    return result

  monkeypatch.setattr(ckpt._manager, "save", save_then_interrupt)  # pylint: disable=protected-access
  with pytest.raises(KeyboardInterrupt):
    ckpt.save(7, {"w": np.arange(3.0)}, {"note": "x"})
  monkeypatch.undo()
  ckpt.close()
  assert checkpoints.verify_digest(ckpt.step_dir(7))  # finished and digested before the interrupt
