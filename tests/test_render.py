"""Rendering a trained run at other resolutions and crops: the training grid reproduces
reconstruction.png, windows agree with crops of larger renders, PNGs stream correctly, bad input is one
line, and an 8192x8192 render stays far below 2 GB of memory."""

import json
import os
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from siren_jax import render
from siren_jax.engine import registry, train, trained
from siren_jax.errors import UserError
from siren_jax.nets import models
from siren_jax.signals.image import render as image_render
import forkserver
from conftest import ROOT, smooth_image, tiny_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A tiny values-supervised fit (2x16 would do for correctness; the memory test needs a cheap model
  and a large eval chunk so that 67M pixels take seconds, not minutes)."""
  d = tmp_path_factory.mktemp("render")
  img = d / "smooth.png"
  Image.fromarray((smooth_image(32, 24) * 255).round().astype(np.uint8)).save(img)
  config = tiny_config(str(img), model__width=16, model__depth=1, eval__chunk_size=65536)
  train.train_and_evaluate(config, str(d / "run"))
  return str(d / "run")


def _max_diff(a, b) -> int:
  return int(np.abs(np.asarray(a, np.int32) - np.asarray(b, np.int32)).max())


def test_training_size_reproduces_reconstruction(run_dir):
  recon = np.asarray(Image.open(os.path.join(run_dir, "reconstruction.png")))
  assert recon.shape == (32, 24, 3)
  out = image_render.render_workdir(run_dir, 32, 24, image_render.FULL_WINDOW)
  assert out.dtype == np.uint8 and out.shape == recon.shape
  assert _max_diff(out, recon) <= 1
  assert recon.std() > 10  # a real image, not a constant that any render would match


def test_window_render_equals_crop_of_larger_render(run_dir, monkeypatch):
  run = trained.load_run(run_dir)
  assert image_render.scaled_size(run, 3.0) == (96, 72)
  # Rows 24..72 and columns 36..72 of the 96x72 render, as a window in [-1, 1] coordinates.
  window = (-1 + 2 * 24 / 96, -1 + 2 * 72 / 96, -1 + 2 * 36 / 72, 1.0)
  assert image_render.scaled_size(run, 3.0, window) == (48, 36)
  crop = image_render.render_array(run, 48, 36, window)
  monkeypatch.setattr(image_render, "BLOCK_PIXELS", 700)  # 9 rows a block, an odd chunk: many blocks
  full = image_render.render_array(run, 96, 72, chunk_size=250)
  assert _max_diff(full[24:72, 36:72], crop) <= 1
  assert _max_diff(full, image_render.render_array(run, 96, 72)) <= 1  # block and chunk sizes do not matter
  # Upsampling samples the same function: 3x3 blocks of the 3x render average close to the 1x render.
  pooled = full.reshape(32, 3, 24, 3, 3).astype(np.float64).mean(axis=(1, 3))
  assert np.abs(pooled - image_render.render_array(run, 32, 24)).mean() < 2


@pytest.mark.parametrize("channels", [1, 3])
def test_streamed_png_decodes_to_the_rows_given(tmp_path, channels):
  rng = np.random.default_rng(channels)
  image = rng.integers(0, 256, (37, 29) + ((channels,) if channels > 1 else ()), dtype=np.uint8)
  blocks = ((r0, image[r0:r0 + 5]) for r0 in range(0, 37, 5))
  path = str(tmp_path / "x.png")
  image_render.write_png_rows(path, 37, 29, channels, blocks)
  np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
  assert [p for p in os.listdir(tmp_path) if p != "x.png"] == []  # no temp file left behind


def test_cli_writes_the_render(run_dir, tmp_path):
  out = tmp_path / "zoom.png"
  proc = forkserver.run(
      [sys.executable, "-m", "siren_jax.render", f"--workdir={run_dir}", "--scale=2",
       "--window=-1,0,-0.5,0.5", f"--out={out}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  got = np.asarray(Image.open(out))
  assert got.shape == (32, 24, 3)  # half of each axis at twice the training resolution
  expected = image_render.render_array(trained.load_run(run_dir), 32, 24, (-1, 0, -0.5, 0.5))
  np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("text,message", [
    ("0,0,-1,1", "y0 < y1"), ("-1,1,-1", "four"), ("a,b,c,d", "four numbers"),
    ("-2,1,-1,1", "-1 <= y0"), ("-1,1,nan,1", "finite")])
def test_bad_windows(text, message):
  with pytest.raises(UserError, match=message):
    image_render.parse_window(text)


def test_bad_sizes_and_scales(run_dir):
  for text in ("10x", "0x10", "axb", "1x2x3", f"{image_render.MAX_SIDE + 1}x4"):
    with pytest.raises(UserError, match="size"):
      image_render.parse_size(text)
  assert image_render.parse_size("12x34") == (12, 34) and image_render.parse_size("8") == (8, 8)
  run = trained.load_run(run_dir)
  for scale in (0.0, -1.0, float("inf")):
    with pytest.raises(UserError, match="scale"):
      image_render.scaled_size(run, scale)
  with pytest.raises(UserError, match="between 1 and"):
    image_render.scaled_size(run, 10000.0)


def test_missing_workdir_and_checkpoint(tmp_path, run_dir):
  with pytest.raises(UserError, match="workdir not found"):
    trained.load_run(str(tmp_path / "nope"))
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(UserError, match="config.json"):
    trained.load_run(str(empty))
  (empty / "config.json").write_text(open(os.path.join(run_dir, "config.json")).read())
  with pytest.raises(UserError, match="checkpoints"):
    trained.load_run(str(empty))
  (empty / "checkpoints").mkdir()
  with pytest.raises(UserError, match="no checkpoint"):
    trained.load_run(str(empty))


def _listing(directory):
  return sorted((os.path.relpath(os.path.join(root, name), directory),
                 os.stat(os.path.join(root, name)).st_mtime_ns)
                for root, dirs, files in os.walk(directory) for name in dirs + files)


def test_loading_leaves_a_training_run_untouched(run_dir, tmp_path):
  """A run may still be training: its in-progress (temporary) checkpoint must survive a render."""
  workdir = str(tmp_path / "run")
  shutil.copytree(run_dir, workdir)
  os.makedirs(os.path.join(workdir, "checkpoints", "90.orbax-checkpoint-tmp-1700000000000000"))
  before = _listing(workdir)
  assert trained.load_run(workdir).step == 60
  assert _listing(workdir) == before


def test_cli_bad_input_is_one_line(tmp_path, run_dir):
  for args, message in [([f"--workdir={tmp_path}/nope", f"--out={tmp_path}/a.png"], "workdir not found"),
                        ([f"--workdir={run_dir}", "--window=1,-1,0,1", f"--out={tmp_path}/a.png"],
                         "y0 < y1"),
                        ([f"--workdir={run_dir}", "--scale=2", "--size=4x4", f"--out={tmp_path}/a.png"],
                         "not both")]:
    proc = forkserver.run([sys.executable, "-m", "siren_jax.render", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
  assert not os.path.exists(tmp_path / "a.png")


def test_8192_render_memory_is_bounded(run_dir):
  """67M pixels: the coordinates alone would be 512 MB and the float output 800 MB; block rendering
  keeps the peak to the uint8 output (192 MB) plus a constant."""
  script = (
      "import resource, sys, numpy as np\n"
      "from siren_jax.signals.image import render as image_render\n"
      f"out = image_render.render_workdir({run_dir!r}, 8192, 8192, image_render.FULL_WINDOW)\n"
      "assert out.shape == (8192, 8192, 3) and out.dtype == np.uint8\n"
      "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, int(out[::64, ::64].std() * 1000))\n")
  proc = forkserver.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                        timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
  assert proc.returncode == 0, proc.stderr[-2000:]
  peak_kb, spread = (int(v) for v in proc.stdout.split()[-2:])
  assert peak_kb < 2 * 1024 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
  assert spread > 1000  # the render has content (std over a subsample > 1 grey level)


def test_relu_pe_with_the_nyquist_rule_renders_at_its_training_size(tmp_path):
  """pe_frequencies=0 sizes the encoding from the training image (32x48 here: 3 frequencies, not the
  6 of a 256x256 default): render must rebuild that model, not one for another size."""
  path = tmp_path / "img.png"
  Image.fromarray((smooth_image(32, 48) * 255).astype(np.uint8)).save(path)
  config = tiny_config(str(path), model__kind="relu_pe", model__pe_frequencies=0,
                       train__num_steps=4, train__log_every=2, train__checkpoint_every=2)
  train.train_and_evaluate(config, str(tmp_path / "run"))
  with open(tmp_path / "run" / trained.RESOLVED_NAME) as f:  # the run saved what the image decided
    assert json.load(f) == {"model": {"pe_frequencies": 3}}
  reconstruction = np.asarray(Image.open(tmp_path / "run" / "reconstruction.png"))
  for saved in (True, False):  # a run written before resolved.json existed: read off the checkpoint
    if not saved:
      os.remove(tmp_path / "run" / trained.RESOLVED_NAME)
    run = trained.load_run(str(tmp_path / "run"))
    assert run.model.pe_frequencies == models.nyquist_frequencies(32, 48) == 3
    np.testing.assert_array_equal(image_render.render_array(run, 32, 48), reconstruction)


def _parsed(*args):
  from absl import flags  # pylint: disable=g-import-not-at-top
  fv = flags.FlagValues()
  render.define_flags(fv)
  fv(["render", "--workdir=w", "--out=o", *args])
  return fv


TASK_FLAGS = {"image": ("scale", "size", "window", "chunk_size"), "audio": ("rate", "chunk_size"),
              "video": ("frames", "time", "t", "fps", "scale", "size", "window", "chunk_size"),
              "sdf": ("resolution", "chunk_size")}
EXAMPLES = {"scale": "2", "size": "8x8", "window": "-1,1,-1,1", "chunk_size": "64", "rate": "8000",
            "resolution": "16", "frames": "4", "time": "-1,1", "t": "0", "fps": "12"}


def test_render_takes_only_the_flags_of_the_run_s_task():
  """Every task shares one flag namespace: --resolution on an audio run, --rate on a video run or
  --scale on an SDF run were accepted and did nothing. Each task's own flags pass (even at their
  defaults: --rate=0 on an image is refused all the same), every other one is refused by name."""
  assert {s.name: s.render_takes for s in registry.builtin_signals()
          if s.render_takes is not None} == TASK_FLAGS  # the PDE signals check their own flags
  for task, allowed in TASK_FLAGS.items():
    signal = registry.get(task)
    render.check_flags(_parsed(*[f"--{n}={EXAMPLES[n]}" for n in allowed]), signal)
    for name in sorted(set(EXAMPLES) - set(allowed)):
      with pytest.raises(UserError, match=f"^--{name}: not a flag for {task} runs"):
        render.check_flags(_parsed(f"--{name}={EXAMPLES[name]}"), signal)
  with pytest.raises(UserError, match="^--rate, --resolution: not a flag for image runs"):
    render.check_flags(_parsed("--rate=0", "--resolution=0"), registry.get("image"))
