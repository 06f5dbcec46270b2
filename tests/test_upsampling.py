"""experiments/upsampling.py: Pillow and siren_jax share pixel centres, the baselines are exact where
they must be, a tiny end-to-end run writes its table and figure with sensible numbers, a completed fit is
reused (and a stale one refused), and bad input is one line."""

import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from siren_jax.engine import train
from siren_jax.errors import UserError
from siren_jax.signals.image import data
import forkserver
from conftest import ROOT, smooth_image, tiny_config

from experiments import upsampling


def _ramp(h, w):
  """A linear function of the [-1, 1] pixel-centre coordinates, sampled on an h x w grid, in [0, 1]."""
  c = data.grid_coords(h, w).reshape(h, w, 2)
  return (0.5 + 0.4 * c[..., 1] - 0.3 * c[..., 0])[..., None]


def test_pillow_resampling_and_grid_coords_share_pixel_centres(tmp_path):
  # Downsampling (data.load_image's path) and Pillow's bicubic upsampling both reproduce a linear
  # function at the pixel centres of data.grid_coords, away from the borders. A half-pixel offset
  # between the conventions would cost 0.4 * 1.5 * 2/32 = 0.0375 (~10 grey levels) at factor 4.
  gt = upsampling._u8(_ramp(32, 32))
  low = upsampling.downsample(gt, 4, str(tmp_path / "gt.png"))
  assert low.shape == (8, 8, 1)
  assert np.abs(low / 255.0 - _ramp(8, 8))[2:-2, 2:-2].max() <= 1.01 / 255
  up = upsampling.upsample_pillow(low, 32, 32, "bicubic")
  assert np.abs(up / 255.0 - _ramp(32, 32))[8:-8, 8:-8].max() <= 2.01 / 255


def test_baselines_exact_on_a_constant_image_and_nearest_repeats_pixels(tmp_path):
  gt = np.full((24, 24, 3), 137, np.uint8)
  gt[..., 1] = 20
  low = upsampling.downsample(gt, 3, str(tmp_path / "gt.png"))
  assert np.array_equal(low, gt[:8, :8])
  for method in upsampling.BASELINES:
    up = upsampling.upsample_pillow(low, 24, 24, method)
    assert up.shape == gt.shape
    s = upsampling.score(gt, up)
    assert s["psnr"] == float("inf") and s["ssim"] == pytest.approx(1.0)
  rng = np.random.default_rng(0)
  noise = rng.integers(0, 256, (5, 7, 1), dtype=np.uint8)
  assert np.array_equal(upsampling.upsample_pillow(noise, 10, 14, "nearest"),
                        noise.repeat(2, axis=0).repeat(2, axis=1))


def test_fit_config_uses_the_whole_input_only_when_it_fits_in_one_batch(tmp_path):
  base = upsampling.base_config(10)
  assert base.train.batch_size == 24576 and base.train.learning_rate == 1.5e-3
  small = upsampling.fit_config(base, str(tmp_path / "in.png"), 64 * 64)
  large = upsampling.fit_config(base, str(tmp_path / "in.png"), 384 * 256)
  assert small.train.batch_size == 0 and large.train.batch_size == 24576
  assert small.data.image == str(tmp_path / "in.png") and small.data.height == 0
  assert base.data.image == "camera"  # the base is not modified
  from absl import flags  # pylint: disable=g-import-not-at-top
  assert "images" not in flags.FLAGS  # importing the experiment defines no command-line flags


def test_end_to_end_table_figure_reuse_and_stale_fit(tmp_path, monkeypatch):
  image = tmp_path / "smooth.png"
  Image.fromarray((smooth_image(32, 32) * 255).round().astype(np.uint8)).save(image)
  base = tiny_config("camera", train__learning_rate=3e-3)
  # omega_0 = 30 on a 16x16 input aliases even on this smooth image (19 dB, below nearest's 35 dB);
  # a first-layer omega_0 of 10 interpolates it (41 dB).
  variants = upsampling.parse_variants(["model.first_omega_0=10"], base)
  workdir = str(tmp_path / "out")
  case = upsampling.make_case(str(image), 2, [2], workdir, size=0)
  assert case.ground_truth.shape == (32, 32, 3) and case.low.shape == (16, 16, 3)
  rows = upsampling.run_experiment([case], variants, base, workdir)

  by_method = {r["method"]: r for r in rows}
  assert list(by_method) == ["nearest", "bicubic", "SIREN first_omega_0=10"]
  siren = by_method["SIREN first_omega_0=10"]
  assert siren["steps"] == 60 and siren["fit_psnr"] > 35
  nearest = by_method["nearest"]
  assert 30 < nearest["psnr"] < by_method["bicubic"]["psnr"]
  assert np.isfinite(siren["psnr"]) and siren["psnr"] > nearest["psnr"] + 3
  assert 0.95 < siren["ssim"] <= 1.0
  assert siren["psnr_vs_bicubic"] == pytest.approx(siren["psnr"] - by_method["bicubic"]["psnr"])
  run_dir = os.path.join(workdir, siren["run_dir"])
  assert np.asarray(Image.open(os.path.join(run_dir, "upsampled.png"))).shape == (32, 32, 3)

  table = json.load(open(os.path.join(workdir, "table.json")))
  assert [r["method"] for r in table["rows"]] == list(by_method)
  assert table["rows"][2]["psnr"] == pytest.approx(siren["psnr"])
  md = open(os.path.join(workdir, "table.md")).read()
  assert md.count("| smooth | 32x32 | 16x16 | 2 |") == 3 and f"{siren['psnr']:.2f}" in md
  assert Image.open(os.path.join(workdir, "smooth.png")).size[0] > 300

  # Re-running reuses the finished fit: nothing is trained, and the numbers are the same.
  summary = os.path.join(run_dir, "summary.json")
  mtime = os.path.getmtime(summary)
  monkeypatch.setattr(train, "train_and_evaluate", lambda *a: pytest.fail("retrained a finished fit"))
  again = upsampling.run_experiment([case], variants, base, workdir)
  assert os.path.getmtime(summary) == mtime
  assert [r["psnr"] for r in again] == [r["psnr"] for r in rows]
  # A finished fit of another recipe is refused rather than reported under the new one.
  other = upsampling.parse_variants(["model.first_omega_0=10"],
                                    tiny_config("camera", train__learning_rate=1e-3))
  with pytest.raises(UserError, match="different config"):
    upsampling.run_experiment([case], other, base, workdir)


def test_bad_input_is_rejected(tmp_path):
  for factors, message in [(["1"], ">= 2"), (["x"], "not an integer"), (["2", "2"], "twice")]:
    with pytest.raises(UserError, match=message):
      upsampling.parse_factors(factors)
  base = tiny_config("camera")
  with pytest.raises(UserError, match="no such config field"):
    upsampling.parse_variants(["model.nope=1"], base)
  with pytest.raises(UserError, match="not a valid float"):
    upsampling.parse_variants(["model.first_omega_0=abc"], base)
  with pytest.raises(UserError, match="must be > 0"):
    upsampling.parse_variants(["model.omega_0=-1"], base)
  with pytest.raises(UserError, match="fewer than"):
    upsampling.make_case("camera", 8, [8], str(tmp_path), size=16)
  with pytest.raises(UserError, match="would be upsampled"):
    upsampling.make_case("camera", 2, [2], str(tmp_path), size=1024)
  proc = forkserver.run([sys.executable, "-m", "experiments.upsampling",
                         f"--workdir={tmp_path}", "--images=camera,nope", "--factors=2"],
                        capture_output=True, text=True, timeout=120, cwd=ROOT)
  assert proc.returncode == 2
  assert proc.stderr.startswith("error: unknown image 'nope'") and proc.stderr.count("\n") == 1
