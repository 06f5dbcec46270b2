"""The training loop: equivalences, determinism, outputs and resumption."""

import json
import re
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from siren_jax.engine import loop, optim, sharding, step, train
from siren_jax.errors import UserError
from siren_jax.io import checkpoints, outputs
from siren_jax.nets import models
from siren_jax.signals.image import render as image_render
import floatbounds
import forkserver
from conftest import ROOT, crash_after_save_then_resume, final_state, run_main, tiny_config, tiny_flags


def test_chunks_round_trip_with_padding():
  x = jnp.arange(2 * 10 * 3, dtype=jnp.float32).reshape(20, 3)
  for devices, micro in [(1, 4), (1, 3), (2, 3), (4, 2)]:
    chunks = sharding.to_chunks(x, devices, micro, None)
    assert chunks.shape[1] % devices == 0
    np.testing.assert_array_equal(sharding.from_chunks(chunks, devices, 20), x)


@pytest.mark.parametrize("terms", [{"values": 1.0}, {"gradient": 1.0},
                                   {"values": 1.0, "gradient": 0.1, "laplacian": 1e-3}])
def test_microbatched_gradient_equals_whole_batch_gradient(terms):
  """Chunking changes only the order in which per-pixel terms are summed, so the two results may
  differ by the summation bound of floatbounds (from each entry's per-pixel magnitudes), no more."""
  width, depth = 32, 2
  model = models.Siren(width=width, depth=depth, out_features=3)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  n = 1000
  keys = jax.random.split(jax.random.PRNGKey(1), 4)
  batch = {"coords": jax.random.uniform(keys[0], (n, 2), minval=-1, maxval=1),
           "values": jax.random.uniform(keys[1], (n, 3), minval=-1, maxval=1),
           "gradient": jax.random.normal(keys[2], (n, 3, 2)),
           "laplacian": jax.random.normal(keys[3], (n, 3)),
           "weights": jnp.ones((n,)).at[-7:].set(0.0)}  # padding pixels must not count
  sse = step.make_sse_fn(model, terms, "reverse", "propagate")
  whole = step.loss_and_grad(sse, params, batch, 0, None)
  chunked = step.loss_and_grad(sse, params, batch, 96, None)
  # Per-pixel contributions: their absolute sums bound each entry's summation error.
  one = lambda p, px: sse(p, jax.tree_util.tree_map(lambda a: a[None], px))
  per_pixel = jax.vmap(jax.value_and_grad(one, has_aux=True), in_axes=(None, 0))(params, batch)
  total_weight = float(jnp.sum(batch["weights"]))
  abs_mean = jax.tree_util.tree_map(lambda g: np.abs(np.asarray(g)).sum(0) / total_weight, per_pixel)
  ops = width * (depth + 2)  # rounded operations along one pixel's forward and backward path
  for name, a, b, s in [("loss", chunked[0], whole[0], abs_mean[0][0]),
                        ("terms", chunked[1], whole[1], abs_mean[0][1]),
                        ("grads", chunked[2], whole[2], abs_mean[1])]:
    jax.tree_util.tree_map(lambda x, y, m, name=name: floatbounds.assert_within(
        x, y, floatbounds.sum_order_bound(n, m, ops), name), a, b, s)
  if terms == {"values": 1.0}:  # the loss is the plain MSE over the 993 real pixels
    pred = model.apply(params, batch["coords"])[:-7]
    mse = jnp.mean((pred - batch["values"][:-7]) ** 2)
    floatbounds.assert_within(whole[0], mse, floatbounds.sum_order_bound(n, mse, ops), "mse")


def test_schedules(tmp_path):
  config = tiny_config("x", train__num_steps=100, train__learning_rate=1e-2)
  for name, end in [("constant", 1e-2), ("cosine", 1e-4), ("exponential", 1e-4)]:
    config.train.schedule = name
    config.train.final_lr_fraction = 0.01
    s = optim.make_lr_schedule(config.train)
    assert float(s(0)) == pytest.approx(1e-2)
    assert float(s(100)) == pytest.approx(end, rel=1e-3)
  config.train.schedule, config.train.warmup_steps = "cosine", 10
  s = optim.make_lr_schedule(config.train)
  assert float(s(0)) == pytest.approx(1e-3) and float(s(10)) == pytest.approx(1e-2)
  assert float(s(100)) == pytest.approx(1e-4, rel=1e-3)


def test_epoch_permutation_covers_every_pixel_once():
  key = jax.random.PRNGKey(3)
  p0 = np.asarray(step.epoch_permutation(key, 0, 1000))
  p1 = np.asarray(step.epoch_permutation(key, 1, 1000))
  assert sorted(p0) == list(range(1000)) and not np.array_equal(p0, p1)


def test_fit_outputs_and_determinism(tmp_path, image_path):
  """A short fit learns, writes every output of the contract, and is reproducible."""
  config = tiny_config(image_path, train__num_steps=300, train__batch_size=256, train__log_every=100,
                       train__checkpoint_every=150)
  a = train.train_and_evaluate(config, str(tmp_path / "a"))
  rows = outputs.read_jsonl(str(tmp_path / "a" / "metrics.jsonl"))
  assert [r["step"] for r in rows] == [0, 100, 200, 300]
  for r in rows:  # no training loss before the first step: the step-0 row has none
    assert {"step", "psnr", "lr", "elapsed_s", "train_seconds"} <= set(r)
    assert ("loss" in r) == (r["step"] > 0)
  assert rows[-1]["psnr"] > rows[0]["psnr"] + 10 and a["psnr"] > 25, rows
  assert a["psnr"] == pytest.approx(rows[-1]["psnr"])
  summary = json.load(open(tmp_path / "a" / "summary.json"))
  for key in ("psnr", "steps", "train_seconds", "num_params", "height", "width", "channels"):
    assert key in summary
  assert (summary["steps"], summary["height"], summary["width"], summary["channels"]) == (300, 32, 32, 3)
  assert json.load(open(tmp_path / "a" / "config.json"))["train"]["batch_size"] == 256
  recon = np.asarray(Image.open(tmp_path / "a" / "reconstruction.png"))
  assert recon.shape == (32, 32, 3) and recon.dtype == np.uint8
  for png in ("error.png", "curves.png"):
    assert Image.open(tmp_path / "a" / png).size[0] > 200
  ck = checkpoints.Checkpointer(str(tmp_path / "a" / "checkpoints"), 2)
  assert ck.latest_step() == 300
  b = train.train_and_evaluate(config, str(tmp_path / "b"))
  assert b["psnr"] == a["psnr"]
  config.seed = 1
  c = train.train_and_evaluate(config, str(tmp_path / "c"))
  assert c["psnr"] != a["psnr"]


def _final_params(workdir):
  return final_state(workdir)


def _assert_bit_identical(state_a, state_b):
  la, lb = jax.tree_util.tree_leaves(state_a), jax.tree_util.tree_leaves(state_b)
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.usefixtures("quick_figures")
def test_resume_after_crash_is_bit_identical(tmp_path, image_path, monkeypatch):
  config = tiny_config(image_path, train__num_steps=120, train__batch_size=256,
                       train__checkpoint_every=40, train__log_every=40)
  train.train_and_evaluate(config, str(tmp_path / "straight"))
  # Crash right after the step-80 checkpoint has been written.
  crash_after_save_then_resume(monkeypatch, config, str(tmp_path / "resumed"), 80)
  step_a, a = _final_params(str(tmp_path / "straight"))
  step_b, b = _final_params(str(tmp_path / "resumed"))
  assert step_a == step_b == 120
  _assert_bit_identical(a, b)
  rows = outputs.read_jsonl(str(tmp_path / "resumed" / "metrics.jsonl"))
  assert [r["step"] for r in rows] == [0, 40, 80, 120]  # no duplicated or missing rows


def test_killed_run_resumes_to_identical_parameters(tmp_path, image_path):
  """SIGKILL a real run mid-way (no chance to clean up), re-run the same command, compare."""
  flags = tiny_flags(image_path, train__num_steps=2000, train__batch_size=256,
                     train__checkpoint_every=200, train__log_every=200)
  cmd = [sys.executable, "-m", "siren_jax.main", f"--config={ROOT}/configs/default.py", *flags]
  ckdir = tmp_path / "killed" / "checkpoints"
  for attempt in range(3):
    proc = subprocess.Popen(cmd + [f"--workdir={tmp_path / 'killed'}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
      if ckdir.exists() and any(p.name.isdigit() and (p / checkpoints.DIGEST_NAME).exists()
                                for p in ckdir.iterdir()):  # a finished step (see test_checkpoints)
        break
      time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    latest = checkpoints.Checkpointer(str(ckdir), 2).latest_step()
    if latest is not None and latest < 2000:
      break
  assert latest is not None and latest < 2000, "the run finished before it could be killed"
  resumed = forkserver.run(cmd + [f"--workdir={tmp_path / 'killed'}"], cwd=ROOT, capture_output=True,
                           text=True)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert "Resuming" in resumed.stderr
  straight = forkserver.run(cmd + [f"--workdir={tmp_path / 'straight'}"], cwd=ROOT,
                            capture_output=True, text=True)
  assert straight.returncode == 0, straight.stderr[-2000:]
  _assert_bit_identical(_final_params(str(tmp_path / "straight"))[1],
                        _final_params(str(tmp_path / "killed"))[1])


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, image_path):
  config = tiny_config(image_path, train__num_steps=50, train__learning_rate=1e30,
                       train__log_every=1, train__checkpoint_every=1, train__schedule="constant")
  with pytest.raises(UserError, match=r"loss became .*; its checkpoints are kept \(the latest, step "
                                      r"\d+, was saved with finite parameters\)") as raised:
    train.train_and_evaluate(config, str(tmp_path))
  step, state = _final_params(str(tmp_path))
  named = re.search(r"the latest, step (\d+)", str(raised.value))
  assert step is not None and step < 50 and int(named.group(1)) == step
  assert all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(state.params))


@pytest.mark.usefixtures("quick_figures")
def test_diverged_single_run_writes_a_diverged_summary(tmp_path, image_path):
  """One error line (exit 2) as before, and a summary.json and report that say diverged, not "in
  progress". Diverging before the first checkpoint says so instead of "(step None)"."""
  proc = run_main(tmp_path, *tiny_flags(image_path, train__num_steps=50, train__learning_rate=1e30,
                                        train__schedule="constant", train__log_every=1,
                                        train__checkpoint_every=1000))
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and "loss became nan" in errors[0], proc.stderr[-3000:]
  assert "no checkpoint had been saved" in errors[0] and "None" not in errors[0]
  summary = json.load(open(tmp_path / "summary.json"))
  assert summary["status"] == "diverged" and 0 < summary["steps"] < 50
  assert summary["message"] == errors[0][len("error: "):]
  page = open(tmp_path / "report.html", encoding="utf-8").read()
  assert f"diverged at step {summary['steps']}" in page and "in progress" not in page


def test_zero_steps_saves_the_initial_state_so_it_renders(tmp_path, image_path):
  config = tiny_config(image_path, train__num_steps=0)
  summary = train.train_and_evaluate(config, str(tmp_path))
  assert summary["status"] == "done" and summary["steps"] == 0 and "warning" not in summary
  assert checkpoints.Checkpointer(str(tmp_path / "checkpoints"), 2).latest_step() == 0
  out = image_render.render_workdir(str(tmp_path), 32, 32)
  recon = np.asarray(Image.open(tmp_path / "reconstruction.png"))
  # The render and reconstruction.png are the same network output, quantised to uint8 apart.
  assert np.abs(out.astype(int) - recon.astype(int)).max() <= 1


def test_run_ending_near_its_initial_quality_warns(tmp_path, image_path, caplog):
  """A learning rate this high never produces a non-finite loss here, but the fit gets no better than
  its initialisation: the run ends done, with a warning in the log, summary.json and the report."""
  config = tiny_config(image_path, train__learning_rate=10.0)
  with caplog.at_level("WARNING"):
    summary = train.train_and_evaluate(config, str(tmp_path))
  rows = outputs.read_jsonl(str(tmp_path / "metrics.jsonl"))
  assert summary["status"] == "done" and summary["psnr"] < rows[0]["psnr"] + loop.NO_PROGRESS_DB
  assert "has not learned" in summary["warning"]
  assert json.load(open(tmp_path / "summary.json"))["warning"] == summary["warning"]
  assert any("has not learned" in r.getMessage() for r in caplog.records)
  assert "has not learned" in open(tmp_path / "report.html", encoding="utf-8").read()


def test_no_progress_warning_threshold():
  rows = [{"step": 0, "psnr": 12.0}, {"step": 60, "psnr": 30.0}]
  warn = lambda psnr, steps=60: loop.no_progress_warning(rows, {"psnr": psnr, "steps": steps})
  assert warn(12.9) and warn(5.0)  # within 1 dB above the start, or worse than it
  assert warn(13.1) is None and warn(12.0, steps=0) is None and warn(float("nan")) is None
  assert loop.no_progress_warning(rows[1:], {"psnr": 12.0, "steps": 60}) is None  # no step-0 row


@pytest.mark.usefixtures("quick_figures")
def test_multi_device_matches_single_device(tmp_path, image_path):
  """8 simulated CPU devices (pixels sharded, parameters replicated) give the 1-device results.

  The first step's loss is computed from the same initial parameters on the same pixels, so the two
  differ only in the order of the batch reduction: at most the summation bound (its terms are
  non-negative, so their absolute sum is the loss itself). Later steps amplify rounding through
  training, which no bound covers; a sharding fault (a lost shard, counted padding) changes the loss by
  an eighth or more and the PSNR by whole dB, which the 0.1 dB check below separates from rounding."""
  rows = {}
  assert jax.device_count() == 1  # this process: the one-device runs train here, the 8-device ones apart
  for devices in (1, 8):
    for batch in (0, 256):
      workdir = tmp_path / f"d{devices}b{batch}"
      overrides = {"train__num_steps": 40, "train__log_every": 1, "train__checkpoint_every": 40,
                   "train__learning_rate": 1e-3, "train__batch_size": batch, "train__microbatch": 64}
      if devices == 1:
        train.train_and_evaluate(tiny_config(image_path, **overrides), str(workdir))
      else:
        proc = run_main(workdir, *tiny_flags(image_path, **overrides),
                        env={"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"})
        assert proc.returncode == 0, proc.stderr[-2000:]
      assert json.load(open(workdir / "summary.json"))["devices"] == devices
      rows[devices, batch] = outputs.read_jsonl(str(workdir / "metrics.jsonl"))
  for batch, pixels in ((0, 32 * 32), (256, 256)):
    one, eight = rows[1, batch], rows[8, batch]
    assert [r["step"] for r in one] == [r["step"] for r in eight] == list(range(41))
    floatbounds.assert_within(eight[1]["loss"], one[1]["loss"],
                              floatbounds.sum_order_bound(pixels, one[1]["loss"], ops_per_term=32 * 4),
                              f"step-1 loss, batch {batch}")
    assert abs(eight[-1]["psnr"] - one[-1]["psnr"]) < 0.1, batch


def test_relative_workdir(tmp_path, image_path, monkeypatch):
  """The README's commands pass a relative --workdir (runs/camera); orbax wants absolute paths."""
  monkeypatch.chdir(tmp_path)
  config = tiny_config(image_path, train__num_steps=20, train__checkpoint_every=10, train__log_every=10)
  train.train_and_evaluate(config, "runs/rel")
  assert checkpoints.Checkpointer("runs/rel/checkpoints", 2).latest_step() == 20
  train.train_and_evaluate(config, "runs/rel")  # and resumes from it


@pytest.mark.usefixtures("quick_figures")
def test_logged_learning_rate_is_the_one_each_step_applied(tmp_path, image_path):
  """Row s's lr is the rate of the update that produced step s: peak x schedule(s - 1), the schedule
  the optimiser applies (the step reports it; the log once used schedule(s), one step late)."""
  config = tiny_config(image_path, train__num_steps=8, train__log_every=1, train__checkpoint_every=8,
                       train__learning_rate=1e-3, train__schedule="cosine")
  train.train_and_evaluate(config, str(tmp_path / "w"))
  rows = outputs.read_jsonl(str(tmp_path / "w" / "metrics.jsonl"))
  shape = optim.make(config.train)[1]
  for r in rows[1:]:
    expected = np.float32(1e-3) * np.float32(shape(r["step"] - 1))
    floatbounds.assert_within(r["lr"], expected, 2 * floatbounds.EPS32 * expected, f"step {r['step']}")
  assert rows[-1]["lr"] < rows[1]["lr"]  # it decays


def test_divergence_message_names_the_rate_of_the_diverging_step(tmp_path, image_path):
  """The loss logged at step s comes from the update of step s - 1's rate; the message must name that
  rate (peak x schedule(s - 1)), as the metrics row of step s does, not the next step's."""
  config = tiny_config(image_path, train__num_steps=10, train__log_every=1, train__checkpoint_every=10,
                       train__learning_rate=1e6, train__schedule="exponential",
                       train__final_lr_fraction=0.01)
  with pytest.raises(UserError) as e:
    train.train_and_evaluate(config, str(tmp_path / "w"))
  match = re.search(r"at step (\d+) \(learning rate ([0-9.e+-]+) too high", str(e.value))
  assert match, str(e.value)
  step_n, shape = int(match.group(1)), optim.make(config.train)[1]
  assert match.group(2) == f"{float(np.float32(1e6) * np.float32(shape(step_n - 1))):.3g}"
  assert match.group(2) != f"{1e6 * float(shape(step_n)):.3g}"  # the schedule moves a lot per step
