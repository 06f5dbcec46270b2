"""Images in, pixel targets and coordinates out.

Coordinate convention (used for training, evaluation, rendering and derivatives):

* a coordinate is ``(y, x)``: row first, then column, matching the ``(H, W, C)`` array layout;
* each axis spans [-1, 1] independently, whatever the aspect ratio, and a pixel is sampled at its centre:
  pixel ``i`` of an axis of ``n`` pixels sits at ``(2 i + 1) / n - 1``. The image's outer edges are -1 and +1,
  so rendering the same [-1, 1] square at another resolution samples the same continuous function;
* flattened coordinates and pixels are in row-major (C) order, ``index = row * W + col``.

Values: images are read as floats in [0, 1] (8-bit / 255, 16-bit / 65535) and the network is trained on
``2 v - 1`` in [-1, 1]. Alpha channels are dropped (the stored colour is kept, not composited over a
background); palette images become RGB; grey images keep one channel.
"""

import errno
import os
import stat
from typing import List, NamedTuple, Optional, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from siren_jax import paths
from siren_jax.errors import UserError

# skimage.data images that ship inside the scikit-image wheel (the rest need pooch and a download).
BUILTIN_IMAGES = (
    "astronaut", "brick", "camera", "cat", "chelsea", "checkerboard", "clock", "coffee", "coins",
    "colorwheel", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo",
    "microaneurysms", "moon", "page", "retina", "rocket", "shepp_logan_phantom", "text")
KODAK_NAMES = tuple(f"kodim{i:02d}" for i in range(1, 25))
DEFAULT_KODAK_DIRS = (
    os.path.join(paths.SHARED_DATA, "kodak"),  # the verified copy beside a checkout (CI)
    os.path.join(os.path.expanduser("~"), ".cache", "siren_jax", "kodak"),  # scripts/download_kodak.sh
)


class ImageData(NamedTuple):
  """An image ready to fit: ``pixels`` is (H, W, C) float32 in [0, 1]."""
  pixels: np.ndarray
  name: str
  source: str  # where it came from: a path or "skimage.data.<name>"
  native_shape: tuple = ()  # (H, W) as decoded, before any resizing

  @property
  def shape(self):
    return self.pixels.shape


def pixel_centres(n: int) -> np.ndarray:
  """Centres of ``n`` pixels spanning [-1, 1]: (2 i + 1) / n - 1."""
  return ((2.0 * np.arange(n) + 1.0) / n - 1.0).astype(np.float32)


def grid_coords(height: int, width: int, window: Sequence[float] = (-1.0, 1.0, -1.0, 1.0)) -> np.ndarray:
  """(H*W, 2) pixel-centre (y, x) coordinates of an H x W grid over ``window`` = (y0, y1, x0, x1)."""
  y0, y1, x0, x1 = window
  ys = y0 + (pixel_centres(height) + 1.0) * 0.5 * (y1 - y0)
  xs = x0 + (pixel_centres(width) + 1.0) * 0.5 * (x1 - x0)
  yy, xx = np.meshgrid(ys, xs, indexing="ij")
  return np.stack([yy.ravel(), xx.ravel()], axis=-1).astype(np.float32)


def kodak_dir_candidates(kodak_dir: str = "") -> List[str]:
  """Where Kodak images are looked for, in order: the configured directory alone if there is one, else
  $SIREN_JAX_KODAK_DIR (when set), then the defaults."""
  if kodak_dir:
    return [kodak_dir]
  env = os.environ.get("SIREN_JAX_KODAK_DIR", "")
  return ([env] if env else []) + [os.path.normpath(d) for d in DEFAULT_KODAK_DIRS]


def resolve_kodak_dir(kodak_dir: str = "") -> Optional[str]:
  """The first existing Kodak directory: the configured one, $SIREN_JAX_KODAK_DIR, then the defaults."""
  for d in kodak_dir_candidates(kodak_dir):
    if os.path.isdir(d):
      return os.path.normpath(d)
  return None


def _kodak_not_found(spec: str, kodak_dir: str, found: Optional[str]) -> UserError:
  """The error for a Kodak image that is not there: where it was looked for and how to provide it."""
  env = os.environ.get("SIREN_JAX_KODAK_DIR", "")
  looked = []
  for d in kodak_dir_candidates(kodak_dir):  # up to the first existing directory, which is used
    label = "data.kodak_dir=" if d == kodak_dir else ("$SIREN_JAX_KODAK_DIR=" if d == env else "")
    looked.append(label + d)
    if found and os.path.normpath(d) == found:
      break
  what = (f"no {spec}.png in {found}" if found else
          "no such directory" if len(looked) == 1 else "none of these directories exists")
  unset = "" if kodak_dir or env else "; $SIREN_JAX_KODAK_DIR is not set"
  return UserError(f"Kodak image {spec} not found: {what} (looked in {', '.join(looked)}{unset}); run "
                   f"scripts/download_kodak.sh, or set $SIREN_JAX_KODAK_DIR or --config.data.kodak_dir "
                   f"to a directory holding kodim01.png..kodim24.png")


def to_unit_float(img: Image.Image) -> np.ndarray:
  """A decoded PIL image as (H, W, C) float32 in [0, 1]; alpha dropped, palettes expanded."""
  mode = img.mode
  if mode == "P":
    img = img.convert("RGBA" if "transparency" in img.info else "RGB")
  elif mode == "PA":
    img = img.convert("RGBA")
  elif mode == "1":
    img = img.convert("L")
  elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
    img = img.convert("RGB")
  mode = img.mode
  arr = np.asarray(img)
  if mode.startswith("I;16"):
    arr = arr.astype(np.float32) / 65535.0
  elif mode == "I":  # 32-bit integer mode: Pillow's mode for 16-bit greyscale PNGs, and int32 TIFFs
    arr = arr.astype(np.float64)
    if arr.min() < 0 or arr.max() > 65535:
      raise UserError(f"32-bit integer image with values in [{arr.min():g}, {arr.max():g}]: siren_jax "
                      f"reads integer images as 8- or 16-bit (0..65535); convert it")
    arr = arr / 65535.0
  elif mode == "F":  # float images are taken as already in [0, 1]
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
      raise UserError(f"float image with {np.size(arr) - np.count_nonzero(np.isfinite(arr))} "
                      f"non-finite (NaN or inf) pixels")
    if arr.min() < 0 or arr.max() > 1:
      raise UserError(f"float image with values in [{arr.min():g}, {arr.max():g}]: float images must "
                      f"hold values in [0, 1]")
  elif arr.dtype == np.uint8:
    arr = arr.astype(np.float32) / 255.0
  else:
    raise UserError(f"unsupported image mode {mode!r}")
  if arr.ndim == 2:
    arr = arr[..., None]
  if mode in ("LA", "RGBA"):  # drop alpha, keep the stored colour
    arr = arr[..., :-1]
  return np.clip(arr, 0.0, 1.0).astype(np.float32)


def _from_array(arr: np.ndarray) -> np.ndarray:
  """A scikit-image array (uint8, bool or float in [0, 1]) as (H, W, C) float32 in [0, 1]."""
  if arr.dtype == np.bool_:
    arr = arr.astype(np.float32)
  elif arr.dtype == np.uint8:
    arr = arr.astype(np.float32) / 255.0
  elif arr.dtype == np.uint16:
    arr = arr.astype(np.float32) / 65535.0
  arr = np.asarray(arr, np.float32)
  if arr.ndim == 2:
    arr = arr[..., None]
  if arr.shape[-1] == 4:
    arr = arr[..., :3]
  return np.clip(arr, 0.0, 1.0)


def _check_regular_file(path: str) -> None:
  """A path that names a readable regular file; a FIFO or device would block or never end."""
  try:
    st = os.stat(path)
  except OSError as e:
    if e.errno == errno.ELOOP:
      raise UserError(f"image path is a symbolic link loop: {path}") from None
    if os.path.lexists(path):
      raise UserError(f"image path is a broken symbolic link: {path}") from None
    raise UserError(f"image file not found: {path}") from None
  if stat.S_ISDIR(st.st_mode):
    raise UserError(f"image path is a directory, not a file: {path}")
  if not stat.S_ISREG(st.st_mode):
    raise UserError(f"image path is not a regular file (a pipe or device?): {path}")
  if not os.access(path, os.R_OK):
    raise UserError(f"image file is not readable: {path}")


def read_image_file(path: str, max_pixels: int) -> np.ndarray:
  """Reads any Pillow-readable image as (H, W, C) float32 in [0, 1], with one-line errors."""
  _check_regular_file(path)
  try:
    with Image.open(path) as img:
      w, h = img.size
      if w * h > max_pixels:
        raise UserError(f"image {path} is {h}x{w} (HxW) = {w * h} pixels, over data.max_pixels="
                        f"{max_pixels}, which guards the decoded size (resizing comes after decoding); "
                        f"raise data.max_pixels to read it")
      img.seek(0)  # first frame of animations and multi-page files
      img.load()
      img = ImageOps.exif_transpose(img)  # phone photos store their rotation in EXIF
      return to_unit_float(img)
  except UserError:
    raise
  except UnidentifiedImageError:
    raise UserError(f"not an image (or a format Pillow cannot read): {path}") from None
  except Image.DecompressionBombError as e:
    raise UserError(f"image {path} refused by Pillow as too large: {e}") from None
  except (OSError, SyntaxError, ValueError) as e:
    raise UserError(f"cannot decode image {path} (truncated or corrupt?): {e}") from None


RESIZE_MODES = ("fit", "exact")


def target_size(h: int, w: int, height: int, width: int, mode: str = "fit"):
  """The (rows, columns) an h x w image is resized to.

  ``fit``: shrink to fit within ``height`` x ``width`` keeping the aspect ratio, never enlarging
  (a photo keeps its shape, and a small image is fitted as it is, not as an interpolation of it);
  0 leaves that side unconstrained. ``exact``: exactly ``height`` x ``width``, enlarging or changing
  the aspect ratio if asked; 0 on one side keeps the aspect ratio, 0 on both the native size.
  """
  if mode not in RESIZE_MODES:
    raise UserError(f"data.resize must be one of {RESIZE_MODES}, got {mode!r}")
  if mode == "fit":
    scale = min([1.0] + [limit / n for limit, n in ((height, h), (width, w)) if limit > 0])
    return (h, w) if scale >= 1.0 else (max(1, round(h * scale)), max(1, round(w * scale)))
  if height <= 0 and width <= 0:
    return h, w
  if height <= 0:
    height = max(1, round(h * width / w))
  if width <= 0:
    width = max(1, round(w * height / h))
  return height, width


def _resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
  """Bicubic resize (antialiased when shrinking) of each channel in float precision."""
  if (height, width) == pixels.shape[:2]:
    return pixels
  chans = [np.asarray(Image.fromarray(pixels[..., c], mode="F").resize((width, height),
                                                                      Image.Resampling.BICUBIC))
           for c in range(pixels.shape[-1])]
  return np.clip(np.stack(chans, axis=-1), 0.0, 1.0).astype(np.float32)


def load_image(spec: str, kodak_dir: str = "", height: int = 0, width: int = 0,
               max_pixels: int = 4096 * 4096, resize: str = "exact") -> ImageData:
  """Loads ``spec``: a scikit-image built-in name, a Kodak name (kodim01..kodim24) or a file path,
  resized to ``target_size(h, w, height, width, resize)`` (0, 0: the native size)."""
  if not spec:
    raise UserError("data.image is empty: give a built-in name (e.g. camera), kodimNN, or a file path")
  if spec in BUILTIN_IMAGES and not os.path.exists(spec):
    import skimage.data  # pylint: disable=g-import-not-at-top  (slow import, only when needed)
    pixels, name, source = _from_array(getattr(skimage.data, spec)()), spec, f"skimage.data.{spec}"
  elif spec in KODAK_NAMES and not os.path.exists(spec):
    d = resolve_kodak_dir(kodak_dir)
    path = os.path.join(d, spec + ".png") if d else None
    if not path or not os.path.exists(path):
      raise _kodak_not_found(spec, kodak_dir, d)
    pixels, name, source = read_image_file(path, max_pixels), spec, path
  else:
    if not os.path.exists(spec) and os.sep not in spec and "." not in spec:
      raise UserError(f"unknown image {spec!r}: not a file, a built-in ({', '.join(BUILTIN_IMAGES)}) "
                      f"or a Kodak name (kodim01..kodim24)")
    pixels = read_image_file(spec, max_pixels)
    name, source = os.path.splitext(os.path.basename(spec))[0], os.path.abspath(spec)
  native = pixels.shape[:2]
  pixels = _resize(pixels, *target_size(*native, height, width, resize))
  h, w, _ = pixels.shape
  if h < 2 or w < 2:
    raise UserError(f"image {spec} is {h}x{w} (HxW): need at least 2x2 pixels")
  if h * w > max_pixels:
    raise UserError(f"image {spec} is {h}x{w} (HxW) = {h * w} pixels, over data.max_pixels={max_pixels}")
  return ImageData(pixels=pixels, name=name, source=source, native_shape=tuple(native))


def to_signed(pixels: np.ndarray) -> np.ndarray:
  """[0, 1] -> [-1, 1], the range the network is trained on."""
  return pixels * 2.0 - 1.0


def to_unit(values):
  """[-1, 1] -> [0, 1] (no clipping)."""
  return (values + 1.0) * 0.5
