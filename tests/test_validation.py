"""Values that once passed validation and failed later (after config.json was written, blocking the
corrected command), or ended in NaN blamed on the learning rate: each is refused up front now."""

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from siren_jax import configuration
from siren_jax.engine import memory, train
from siren_jax.errors import UserError
from siren_jax.signals.image import data
from conftest import ROOT, tiny_config

BAD_VALUES = [
    ("train", "gradient_method", "garbage", "train.gradient_method must be one of"),
    ("train", "laplacian_method", "garbage", "train.laplacian_method must be one of"),
    ("model", "rff_features", -1, "model.rff_features must be >= 1"),
    ("model", "rff_scale", float("nan"), "model.rff_scale must be a finite number"),
    ("model", "pe_frequencies", -3, "model.pe_frequencies must be >= 0"),
    ("model", "omega_0", 1e30, "float32 sine arguments"),
    ("data", "blend_mode", "garbage", "data.blend_mode must be"),
    ("train", "supervision", "values:inf", "must be a finite number"),
    ("data", "resize", "stretch", "data.resize must be one of"),
    (None, "seed", 99999999999999999999, "seed must be an integer in [0, 2^32)"),
    ("train", "qat_bits", 9, "train.qat_bits must be 0 (off) or in [1, 8]"),
    ("train", "init_from", "/nonexistent/run", "holds no checkpoint to start from"),
    (None, "task", "smell", "task must be one of"),
]


@pytest.mark.parametrize("section,field,value,message", BAD_VALUES,
                         ids=[f"{b[1]}={b[2]}" for b in BAD_VALUES])
def test_bad_values_are_refused_by_validate(section, field, value, message):
  config = tiny_config("camera")
  setattr(config[section] if section else config, field, value)
  with pytest.raises(UserError, match=re.escape(message)):
    configuration.validate(config)


def test_propagate_needs_a_siren():
  config = tiny_config("camera", model__kind="relu", train__supervision="gradient",
                       train__gradient_method="propagate")
  with pytest.raises(UserError, match="needs model.kind=siren"):
    configuration.validate(config)


def test_a_model_larger_than_memory_is_refused_with_its_size(tmp_path, image_path):
  config = tiny_config(image_path, model__width=100000)
  need = memory.training_bytes(config, 32 * 32, 3)
  assert need > 4 * config.model.depth * 100000 ** 2 * 4  # the hidden kernels, gradients, Adam moments
  with pytest.raises(UserError, match=r"needs about \d+\.\d GB"):
    train.train_and_evaluate(config, str(tmp_path / "w"))
  assert not (tmp_path / "w").exists()


def test_a_fifo_is_refused_instead_of_blocking(tmp_path):
  path = str(tmp_path / "pipe.png")
  os.mkfifo(path)
  with pytest.raises(UserError, match="not a regular file"):
    data.load_image(path)


def test_a_symlink_loop_is_named(tmp_path):
  a, b = tmp_path / "a.png", tmp_path / "b.png"
  a.symlink_to(b)
  b.symlink_to(a)
  with pytest.raises(UserError, match="symbolic link loop"):
    data.load_image(str(a))


def test_float_tiff_with_nan_is_refused(tmp_path):
  arr = np.full((8, 8), 0.5, np.float32)
  arr[2, 3] = np.nan
  path = str(tmp_path / "nan.tif")
  Image.fromarray(arr, mode="F").save(path)
  with pytest.raises(UserError, match="1 non-finite"):
    data.load_image(path)


def test_signed_int32_tiff_is_refused_not_blackened(tmp_path):
  arr = np.arange(-32, 32, dtype=np.int32).reshape(8, 8) * 1000
  path = str(tmp_path / "i32.tif")
  Image.fromarray(arr, mode="I").save(path)
  with pytest.raises(UserError, match="32-bit integer image with values in"):
    data.load_image(path)


def test_max_pixels_message_does_not_suggest_resizing(tmp_path):
  path = str(tmp_path / "big.png")
  Image.fromarray(np.zeros((20, 30), np.uint8)).save(path)
  with pytest.raises(UserError, match="raise data.max_pixels") as e:
    data.load_image(path, max_pixels=100)
  assert "height/width" not in str(e.value)


def test_a_run_saved_with_the_image_fields_resumes_under_a_config_without_them():
  """Until configs/_base.py, every signal's config carried the image targets and crop_border: an audio
  run saved then still resumes under today's audio config, which has none of them; a field today's
  config has must still match, and a dropped field present in both must too."""
  current = configuration.to_dict(configuration.load_config(os.path.join(ROOT, "configs", "audio.py")))
  saved = json.loads(json.dumps(current))
  saved["train"].update(gradient_target="sobel", laplacian_target="5point")
  saved["eval"]["crop_border"] = 0
  configuration.check_resumable(saved, current)
  saved["train"]["learning_rate"] = 1.0
  with pytest.raises(UserError, match="train.learning_rate"):
    configuration.check_resumable(saved, current)
  image = configuration.to_dict(configuration.load_config(os.path.join(ROOT, "configs", "default.py")))
  changed = json.loads(json.dumps(image))
  changed["train"]["gradient_target"] = "central"
  with pytest.raises(UserError, match="train.gradient_target"):
    configuration.check_resumable(changed, image)
