"""A set of images in one command (``siren_jax.signals.image.sets``): parsing, grouping by shape, results, resume
and a diverging member, at tiny sizes."""

import csv
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from siren_jax.errors import UserError
from siren_jax.signals.image import data, sets as image_set
import forkserver
from conftest import ROOT, smooth_image, tiny_config


def _write(path, h, w, seed):
  Image.fromarray((smooth_image(h, w, 3, seed) * 255).round().astype(np.uint8)).save(path)
  return str(path)


@pytest.fixture
def images(tmp_path):
  """Three small images of two shapes, listed with the shapes interleaved."""
  d = tmp_path / "images"
  d.mkdir()
  return [_write(d / "a.png", 16, 24, 0), _write(d / "b.png", 24, 16, 1), _write(d / "c.png", 16, 24, 2)]


def test_expand_kodak_lists_and_globs(images, tmp_path):
  assert image_set.expand("kodak") == list(data.KODAK_NAMES) and len(data.KODAK_NAMES) == 24
  assert image_set.expand("camera, astronaut") == ["camera", "astronaut"]
  assert image_set.expand(str(tmp_path / "images" / "*.png")) == sorted(images)
  assert image_set.expand(f"camera,{tmp_path}/images/[ab].png") == ["camera"] + sorted(images)[:2]
  assert image_set.is_set("kodak") and image_set.is_set("a,b") and image_set.is_set("x/*.png")
  assert not image_set.is_set("camera") and not image_set.is_set("/some/path.png")
  for bad, message in ((f"{tmp_path}/none/*.png", "matches no file"), ("camera,,astronaut", "empty"),
                       ("camera,camera", "names 'camera' twice")):
    with pytest.raises(UserError, match=message):
      image_set.expand(bad)


def test_plan_groups_images_by_shape_and_refuses_name_clashes(images, tmp_path):
  config = tiny_config(",".join(images))
  planned = image_set.plan(config, str(tmp_path / "set"))
  assert [p[0] for p in planned] == ["a", "c", "b"]  # the two 16x24 images together
  assert [p[3][0].shape[:2] for p in planned] == [(16, 24), (16, 24), (24, 16)]
  other = tmp_path / "other"
  other.mkdir()
  clash = _write(other / "a.png", 16, 24, 3)
  with pytest.raises(UserError, match="several images are named a"):
    image_set.plan(tiny_config(f"{images[0]},{clash}"), str(tmp_path / "set2"))


def _main(config_overrides, workdir):
  cmd = [sys.executable, "-m", "siren_jax.main", "--config=configs/default.py", f"--workdir={workdir}",
         "--config.data.height=0", "--config.data.width=0", "--config.model.width=16",
         "--config.model.depth=1", "--config.train.batch_size=0", "--config.train.log_every=10",
         "--config.train.checkpoint_every=10", "--config.eval.chunk_size=512"] + config_overrides
  return forkserver.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def _results(workdir):
  with open(os.path.join(workdir, "results.csv")) as f:
    return list(csv.DictReader(f))


def test_a_set_fits_each_image_writes_the_table_and_resumes(images, tmp_path):
  workdir = str(tmp_path / "set")
  spec = f"--config.data.image={','.join(images)}"
  proc = _main([spec, "--config.train.num_steps=20"], workdir)
  assert proc.returncode == 0, proc.stderr[-2000:]
  rows = _results(workdir)
  assert [r["point"] for r in rows] == ["a", "c", "b", "mean"]
  for r in rows[:3]:
    with open(os.path.join(workdir, r["point"], "summary.json")) as f:
      summary = json.load(f)
    assert r["status"] == "done" and float(r["psnr"]) == pytest.approx(summary["psnr"], rel=1e-12)
    assert 0.0 < float(r["ssim"]) <= 1.0
    assert os.path.exists(os.path.join(workdir, r["point"], "reconstruction.png"))
  mean = rows[3]
  assert float(mean["psnr"]) == pytest.approx(np.mean([float(r["psnr"]) for r in rows[:3]]), rel=1e-12)
  assert mean["status"] == "3 of 3 done"
  with open(os.path.join(workdir, "report.html")) as f:
    page = f.read()
  assert "image set" in page and 'href="a/report.html"' in page
  assert "Results (3 runs)" in page  # the mean row is not a run
  # the same command again trains nothing and rewrites no member; more steps continue each one
  stamps = {p: os.path.getmtime(os.path.join(workdir, p, "metrics.jsonl")) for p in "abc"}
  assert _main([spec, "--config.train.num_steps=20"], workdir).returncode == 0
  assert stamps == {p: os.path.getmtime(os.path.join(workdir, p, "metrics.jsonl")) for p in "abc"}
  longer = _main([spec, "--config.train.num_steps=30"], workdir)
  assert longer.returncode == 0, longer.stderr[-2000:]
  assert longer.stderr.count("Resuming") == 3
  assert [r["steps"] for r in _results(workdir)[:3]] == ["30"] * 3


def test_a_diverging_member_does_not_stop_the_others(images, tmp_path):
  """An absurd learning rate makes every member diverge: each is still attempted and reported, the
  table says so, and the command ends with one error line and a non-zero status."""
  workdir = str(tmp_path / "set")
  proc = _main([f"--config.data.image={','.join(images)}", "--config.train.num_steps=20",
                "--config.train.learning_rate=1e30"], workdir)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith("error: 3 of 3 images did not finish")
  rows = _results(workdir)
  assert [r["status"] for r in rows[:3]] == ["diverged"] * 3 and rows[3]["status"] == "0 of 3 done"


def test_a_bad_member_stops_the_set_before_anything_is_written(images, tmp_path):
  workdir = tmp_path / "set"
  proc = _main([f"--config.data.image={images[0]},{tmp_path}/missing.png"], str(workdir))
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith("error: image ")
  assert not workdir.exists()
