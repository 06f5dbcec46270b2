"""Image loading edge cases and the coordinate convention."""

import os

import numpy as np
import pytest
from PIL import Image

from siren_jax import configuration
from siren_jax.errors import UserError
from siren_jax.signals.image import data
from conftest import DEFAULT_CONFIG

KODAK = data.resolve_kodak_dir()


def test_pixel_centres_span_minus_one_to_one():
  np.testing.assert_allclose(data.pixel_centres(4), [-0.75, -0.25, 0.25, 0.75])
  c = data.pixel_centres(256)
  assert c[0] == pytest.approx(-1 + 1 / 256) and c[-1] == pytest.approx(1 - 1 / 256)


def test_grid_coords_are_row_major_y_then_x_for_any_aspect():
  coords = data.grid_coords(2, 3)
  assert coords.shape == (6, 2)
  np.testing.assert_allclose(coords[:, 0], [-0.5, -0.5, -0.5, 0.5, 0.5, 0.5])  # y varies slowest
  np.testing.assert_allclose(coords[:, 1], [-2 / 3, 0, 2 / 3] * 2, atol=1e-7)
  # Each axis spans [-1, 1] on its own.
  coords = data.grid_coords(10, 40)
  assert coords[:, 0].min() == pytest.approx(-0.9) and coords[:, 1].min() == pytest.approx(-1 + 1 / 40)


def test_grid_coords_window_and_resolution_sample_the_same_function():
  # Every second centre of an 8-pixel grid is NOT a centre of the 4-pixel grid, but the 4-pixel grid's
  # centres are the means of pairs of 8-pixel centres: the two grids tile the same [-1, 1] square.
  fine, coarse = data.pixel_centres(8), data.pixel_centres(4)
  np.testing.assert_allclose(fine.reshape(4, 2).mean(1), coarse, atol=1e-7)
  crop = data.grid_coords(2, 2, window=(0.0, 1.0, -1.0, 0.0))
  np.testing.assert_allclose(crop, [[0.25, -0.75], [0.25, -0.25], [0.75, -0.75], [0.75, -0.25]])


def _save(tmp_path, name, img):
  path = str(tmp_path / name)
  img.save(path)
  return path


def test_grey_rgb_rgba_palette_and_16bit(tmp_path):
  rgb = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 3 % 256).astype(np.uint8)
  grey = rgb[..., 0]
  cases = {
      "grey.png": (Image.fromarray(grey), grey[..., None] / 255.0),
      "rgb.png": (Image.fromarray(rgb), rgb / 255.0),
      "rgba.png": (Image.fromarray(np.dstack([rgb, np.full((4, 5), 7, np.uint8)]), "RGBA"), rgb / 255.0),
      "la.png": (Image.fromarray(np.dstack([grey, grey]), "LA"), grey[..., None] / 255.0),
      "rgb.jpg": None,
  }
  for name, case in cases.items():
    if case is None:
      continue
    img, expected = case
    loaded = data.load_image(_save(tmp_path, name, img)).pixels
    assert loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, expected, atol=1e-6, err_msg=name)
  # Palette: expanded to RGB colours.
  pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
  loaded = data.load_image(_save(tmp_path, "pal.png", pal)).pixels
  np.testing.assert_allclose(loaded, np.asarray(pal.convert("RGB")) / 255.0, atol=1e-6)
  # 16-bit grey keeps its precision (values not multiples of 257).
  v16 = (np.arange(20).reshape(4, 5) * 3001 + 17).astype(np.uint16)
  loaded = data.load_image(_save(tmp_path, "g16.png", Image.fromarray(v16))).pixels
  np.testing.assert_allclose(loaded[..., 0], v16 / 65535.0, atol=1e-7)
  # JPEG and 1-bit images load too.
  assert data.load_image(_save(tmp_path, "x.jpg", Image.fromarray(rgb))).shape == (4, 5, 3)
  bw = Image.fromarray(grey > 100)
  np.testing.assert_allclose(data.load_image(_save(tmp_path, "bw.png", bw)).pixels[..., 0], grey > 100)


def test_resize_keeps_aspect_when_one_side_is_zero(tmp_path):
  path = _save(tmp_path, "r.png", Image.fromarray(np.zeros((40, 80, 3), np.uint8)))
  assert data.load_image(path, height=20).shape == (20, 40, 3)
  assert data.load_image(path, width=20).shape == (10, 20, 3)
  assert data.load_image(path, height=8, width=8).shape == (8, 8, 3)


def test_fit_keeps_the_aspect_ratio_and_never_enlarges(tmp_path):
  path = _save(tmp_path, "r.png", Image.fromarray(np.zeros((30, 45, 3), np.uint8)))
  assert data.load_image(path, height=20, width=20, resize="fit").shape == (13, 20, 3)
  assert data.load_image(path, height=20, width=0, resize="fit").shape == (20, 30, 3)
  assert data.load_image(path, height=256, width=256, resize="fit").shape == (30, 45, 3)
  assert data.load_image(path, height=20, width=20, resize="exact").shape == (20, 20, 3)
  assert data.target_size(300, 451, 256, 256, "fit") == (170, 256)  # chelsea under the default
  assert data.target_size(512, 512, 256, 256, "fit") == (256, 256)  # square built-ins as before
  with pytest.raises(UserError, match="data.resize"):
    data.target_size(30, 45, 20, 20, "stretch")


def test_default_config_keeps_a_photos_aspect_ratio():
  """The default config on a non-square photo (scikit-image's chelsea, 300x451): 170x256, not a
  squashed 256x256; the square cameraman keeps its 256x256."""
  from siren_jax.signals.image import task as image_task  # pylint: disable=g-import-not-at-top
  config = configuration.load_config(DEFAULT_CONFIG)
  config.data.image = "chelsea"
  fit = image_task.prepare(config)
  assert fit.shape == (170, 256, 3) and fit.native_shape == (300, 451)  # the log names both
  config.data.image = "camera"
  assert image_task.prepare(config).shape == (256, 256, 1)


def test_builtin_camera_is_the_papers_cameraman():
  im = data.load_image("camera", height=64, width=64)
  assert im.shape == (64, 64, 1) and im.source == "skimage.data.camera"
  assert 0.0 <= im.pixels.min() and im.pixels.max() <= 1.0 and im.pixels.std() > 0.1
  assert data.load_image("astronaut", height=16, width=16).shape == (16, 16, 3)


@pytest.mark.skipif(KODAK is None, reason="no Kodak directory (run scripts/download_kodak.sh)")
def test_kodak_by_name():
  im = data.load_image("kodim23")
  assert im.shape == (512, 768, 3)
  assert im.pixels[-1].max() == 0.0  # kodim23's black bottom row (see the Kodak README)
  assert data.load_image("kodim04").shape == (768, 512, 3)


def test_kodak_missing_dir_is_a_clear_error(tmp_path):
  with pytest.raises(UserError, match="download_kodak"):
    data.load_image("kodim01", kodak_dir=str(tmp_path))


@pytest.mark.parametrize("make,match", [
    (lambda d: os.path.join(d, "missing.png"), "not found"),
    (lambda d: d, "directory"),
])
def test_missing_paths(tmp_path, make, match):
  with pytest.raises(UserError, match=match):
    data.load_image(make(str(tmp_path)))


def test_not_an_image(tmp_path):
  path = tmp_path / "notes.png"
  path.write_text("hello, this is not a PNG")
  with pytest.raises(UserError, match="not an image"):
    data.load_image(str(path))


def test_truncated_png(tmp_path):
  full = _save(tmp_path, "full.png", Image.fromarray(
      np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
  raw = open(full, "rb").read()
  path = tmp_path / "trunc.png"
  path.write_bytes(raw[: len(raw) // 2])
  with pytest.raises(UserError, match="truncated or corrupt"):
    data.load_image(str(path))


def test_one_pixel_image(tmp_path):
  path = _save(tmp_path, "one.png", Image.fromarray(np.zeros((1, 1), np.uint8)))
  with pytest.raises(UserError, match="at least 2x2"):
    data.load_image(path)


def test_pixel_limit_checked_before_decoding(tmp_path):
  path = _save(tmp_path, "big.png", Image.fromarray(np.zeros((100, 100), np.uint8)))
  with pytest.raises(UserError, match="max_pixels"):
    data.load_image(path, max_pixels=100 * 99)
  assert data.load_image(path, max_pixels=100 * 100).shape == (100, 100, 1)


def test_unknown_name():
  with pytest.raises(UserError, match="unknown image"):
    data.load_image("cameraman")
