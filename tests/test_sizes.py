"""Sizes are printed rows first, HxW, everywhere (the (y, x) coordinate convention and render's
--size=HxW), and say so: a 32-row, 48-column image is "32x48 (HxW)", never "48x32"."""

import logging

import numpy as np
import pytest
from PIL import Image

from siren_jax import report
from siren_jax.engine import train
from siren_jax.errors import UserError
from siren_jax.signals.image import data
from conftest import smooth_image, tiny_config


@pytest.fixture
def wide_image(tmp_path):
  path = tmp_path / "wide.png"
  Image.fromarray((smooth_image(32, 48) * 255).round().astype(np.uint8)).save(path)
  return str(path)


def test_training_log_and_report_print_hxw(tmp_path, wide_image, caplog):
  caplog.set_level(logging.INFO)
  config = tiny_config(wide_image, train__num_steps=10, train__log_every=10,
                       train__checkpoint_every=10)
  train.train_and_evaluate(config, str(tmp_path / "run"))
  (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("image ")]
  assert "32x48 (HxW)" in line and "48x32" not in line
  page = open(report.write_report(str(tmp_path / "run")), encoding="utf-8").read()
  assert "original (32&times;48, H&times;W)" in page and "48&times;32" not in page


def test_image_size_errors_print_hxw(wide_image):
  with pytest.raises(UserError, match=r"is 32x48 \(HxW\) = 1536 pixels"):
    data.load_image(wide_image, max_pixels=1000)
  with pytest.raises(UserError, match=r"is 1x2 \(HxW\): need at least 2x2"):
    data.load_image(wide_image, height=1, width=2)
