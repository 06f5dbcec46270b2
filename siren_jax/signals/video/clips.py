"""Video in: clips read from a directory of frames, an animated image or a video file, or made from a
built-in image, cut down to the frames and size a config asks for; and the (t, y, x) coordinates.

Coordinates extend the image convention (``siren_jax/signals/image/data.py``) by time: a sample is ``(t, y, x)``, each
axis spans [-1, 1] and frame ``i`` of ``T`` sits at its centre ``(2 i + 1) / T - 1``, so rendering the same
cube at another frame count or resolution samples the same continuous function (more frames than the
input had is slow motion). Flattened samples are in C order over (T, H, W): ``index = (t * H + y) * W + x``.

A clip is held as uint8 (T, H, W, C) RGB, 1 byte a value: the float arrays of a 300-frame 512x512 clip
would take 16 times as much. Grey and palette frames become RGB; alpha is dropped.

Sources (``load_clip``): ``astronaut_pan`` (the default: a slow pan and zoom over scikit-image's
astronaut, made deterministically), a directory of frames (any Pillow format, sorted by file name), an
animated GIF / PNG / WebP (Pillow), or a video file (mp4, mkv, webm, mov, avi, ...) through PyAV, whose
wheel brings its own FFmpeg.

Guards come before decoding: a source that is not a regular file or a directory (a FIFO would block) is
refused; each frame's decoded size (from its header) is checked against ``data.max_pixels``, as an
image's is, before it is decoded; and decoding stops as soon as the frames kept would exceed
``max_samples`` (T x H x W). A damaged frame is one error line: Pillow's warnings and log lines about
it are held back (a warning that a frame is truncated or corrupt is that error).
"""

import contextlib
import logging
import os
import stat
import struct
import warnings
from typing import Iterator, List, NamedTuple, Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from siren_jax.errors import UserError
from siren_jax.io import outputs
from siren_jax.signals.image import data
from siren_jax.signals.video import files as video_files

BUILTIN_CLIPS = ("astronaut_pan",)
SYNTH_FRAMES, SYNTH_SIDE, SYNTH_FPS = 48, 256, 24
DEFAULT_FPS = 24.0
DAMAGE_WORDS = ("truncat", "corrupt", "larger than file")  # Pillow's warnings about a damaged file


class Clip(NamedTuple):
  """``frames`` is uint8 (T, H, W, 3)."""
  frames: np.ndarray
  name: str
  source: str
  fps: float
  native_shape: tuple  # (H, W) as decoded, before resizing

  @property
  def shape(self):
    return self.frames.shape


def frame_coords(t: float, height: int, width: int, window=(-1.0, 1.0, -1.0, 1.0)) -> np.ndarray:
  """(H*W, 3) float32 (t, y, x) network inputs of one frame: ``t`` as the network takes it (the
  time coordinate times the task's time scale), an H x W pixel-centre grid over ``window``."""
  coords = np.empty((height * width, 3), np.float32)
  coords[:, 0] = np.float32(t)
  coords[:, 1:] = data.grid_coords(height, width, window)
  return coords


def synth_astronaut(num_frames: int = SYNTH_FRAMES, side: int = SYNTH_SIDE) -> Iterator[np.ndarray]:
  """The default clip: a square window that slowly zooms in (from 70 % to 45 % of the image) while
  panning from the helmet towards the flag of scikit-image's astronaut, resampled with Pillow's
  bicubic filter at sub-pixel window positions (deterministic: no randomness, no codec)."""
  import skimage.data  # pylint: disable=g-import-not-at-top  (slow import, only when needed)
  image = Image.fromarray(skimage.data.astronaut())
  n = image.size[0]
  for i in range(num_frames):
    u = i / max(num_frames - 1, 1)
    u = u * u * (3 - 2 * u)  # ease in and out
    size = n * (0.70 - 0.25 * u)
    cy, cx = n * (0.36 + 0.06 * u), n * (0.40 + 0.22 * u)
    box = (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)
    yield np.asarray(image.resize((side, side), Image.Resampling.BICUBIC, box=box))


def _rgb(img: Image.Image) -> np.ndarray:
  """A decoded frame as uint8 RGB (alpha dropped; 16-bit and float grey scaled to 8 bits)."""
  if img.mode.startswith("I") or img.mode == "F":
    unit = data.to_unit_float(img)  # the image reader's scaling
    return np.repeat(outputs.to_uint8(unit)[..., None], 3, axis=-1)
  return np.asarray(img.convert("RGB"))


def _check_pixels(what: str, height: int, width: int, max_pixels: int) -> None:
  if height * width > max_pixels:
    raise UserError(f"{what} is {height}x{width} (HxW) = {height * width} pixels, over data.max_pixels="
                    f"{max_pixels}, which guards the decoded size (resizing comes after decoding); "
                    f"raise data.max_pixels to read it")


@contextlib.contextmanager
def _decoding(what: str):
  """Decoding errors of ``what`` as one UserError line: Pillow's warnings and log records are held
  back (a failure is reported once, by this), and a warning that the data is truncated or corrupt
  fails the frame rather than letting a damaged frame through."""
  pil_log = logging.getLogger("PIL")
  level = pil_log.level
  pil_log.setLevel(logging.CRITICAL)
  try:
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      try:
        yield
      except Image.DecompressionBombError as e:
        raise UserError(f"{what} is refused by Pillow as too large: {e}") from None
      except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError,
              struct.error) as e:
        raise UserError(f"cannot decode {what} (truncated or corrupt?): {e}") from None
    damaged = [w for w in caught if any(k in str(w.message).lower() for k in DAMAGE_WORDS)]
    if damaged:
      raise UserError(f"cannot decode {what} (truncated or corrupt?): {damaged[0].message}")
  finally:
    pil_log.setLevel(level)


def _open_image(path: str, what: str) -> Image.Image:
  """Image.open with one-line errors; Pillow's own pixel limit is left to data.max_pixels."""
  with _decoding(what), warnings.catch_warnings():
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    return Image.open(path)


def _directory_frames(path: str) -> List[str]:
  extensions = Image.registered_extensions()
  names = sorted(n for n in os.listdir(path) if not n.startswith(".")
                 and os.path.splitext(n)[1].lower() in extensions
                 and os.path.isfile(os.path.join(path, n)))
  if not names:
    raise UserError(f"directory {path} holds no image files (Pillow formats such as .png, .jpg)")
  return [os.path.join(path, n) for n in names]


def _read_directory(path: str, max_pixels: int) -> Iterator[np.ndarray]:
  for frame_path in _directory_frames(path):
    what = f"frame {frame_path}"
    with _open_image(frame_path, what) as img:
      _check_pixels(what, img.size[1], img.size[0], max_pixels)
      with _decoding(what):
        frame = _rgb(img)
    yield frame


def _read_animated(img: Image.Image, path: str, max_pixels: int) -> Iterator[np.ndarray]:
  _check_pixels(f"{path}'s frames", img.size[1], img.size[0], max_pixels)
  for i in range(1 << 30):
    with _decoding(f"frame {i} of {path}"):
      try:
        img.seek(i)
      except EOFError:
        return
      frame = _rgb(img)
    yield frame


def _read_video_file(path: str, max_pixels: int) -> Iterator[np.ndarray]:
  """Frames of a video file through PyAV; decoder failures (an unsupported codec, a damaged file)
  are one-line UserErrors."""
  import av  # pylint: disable=g-import-not-at-top  (only videos need it)
  try:
    container = av.open(path)
  except (av.error.FFmpegError, UnicodeDecodeError) as e:
    raise UserError(f"cannot read {path} as an image or a video: {e}") from None
  with container:
    if not container.streams.video:
      raise UserError(f"{path} has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None or stream.codec_context.codec is None:
      raise UserError(f"{path}: its video codec is not supported by the bundled FFmpeg")
    _check_pixels(f"{path}'s frames", stream.codec_context.height, stream.codec_context.width,
                  max_pixels)
    try:
      for frame in container.decode(stream):
        yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as e:
      raise UserError(f"{path}: cannot decode its video ({stream.codec_context.name}): {e}") from None


def video_fps(path: str) -> Optional[float]:
  """The frame rate a video file or animated image declares, or None."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")  # the frames' reader reports what is wrong with the file
      with Image.open(path) as img:
        duration = float(img.info.get("duration") or 0)
    return 1000.0 / duration if 0 < duration < float("inf") else None
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, Image.DecompressionBombError):
    pass
  try:
    import av  # pylint: disable=g-import-not-at-top
    with av.open(path) as container:
      rate = container.streams.video[0].average_rate if container.streams.video else None
      return float(rate) if rate else None
  except Exception:  # pylint: disable=broad-except  (the frames' reader reports what is wrong)
    return None


def _check_source(spec: str) -> None:
  """A directory or a regular file: a FIFO or a device would block the reader or never end."""
  try:
    mode = os.stat(spec).st_mode
  except OSError as e:
    raise UserError(f"cannot read video {spec}: {e.strerror or e}") from None
  if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
    raise UserError(f"video {spec} is not a regular file or a directory (a pipe or device?)")


def _source_frames(spec: str, max_pixels: int) -> Iterator[np.ndarray]:
  """The raw frames of ``spec``, decoded lazily."""
  if os.path.isdir(spec):
    return _read_directory(spec, max_pixels)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      img = Image.open(spec)
  except Image.DecompressionBombError as e:
    raise UserError(f"{spec} is refused by Pillow as too large: {e}") from None
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
    return _read_video_file(spec, max_pixels)

  def frames():
    with img:
      yield from _read_animated(img, spec, max_pixels)
  return frames()


def _cut(raw: Iterator[np.ndarray], spec: str, num_frames: int, frame_step: int, size_of,
         max_samples: int) -> tuple:
  """Every ``frame_step``-th raw frame, at most ``num_frames`` (0: all), resized by ``size_of(h, w)``;
  decoding stops once the kept frames would hold more than ``max_samples`` pixels."""
  kept, native, size = [], None, None
  for i, frame in enumerate(raw):
    if native is None:
      native = frame.shape[:2]
      size = size_of(*native)
    elif frame.shape[:2] != native:
      raise UserError(f"{spec}: frame {i} is {frame.shape[0]}x{frame.shape[1]} (HxW) but frame 0 is "
                      f"{native[0]}x{native[1]}: all frames must have one size")
    if i % frame_step:
      continue
    if size != native:
      frame = np.asarray(Image.fromarray(frame).resize(size[::-1], Image.Resampling.BICUBIC))
    kept.append(frame)
    if len(kept) * size[0] * size[1] > max_samples:
      raise UserError(f"{spec}: {len(kept)} frames of {size[0]}x{size[1]} (HxW) are already over "
                      f"{max_samples} samples: lower data.frames, data.height or data.width")
    if num_frames and len(kept) == num_frames:
      break
  if native is None:
    raise UserError(f"{spec} holds no frames")
  return kept, tuple(native)


def load_clip(spec: str, num_frames: int = 0, frame_step: int = 1, height: int = 0, width: int = 0,
              resize: str = "fit", max_pixels: int = 4096 * 4096, max_samples: int = 2 ** 31 - 1) -> Clip:
  """The clip ``spec`` names, cut to every ``frame_step``-th frame, at most ``num_frames`` of them (0:
  all), each resized to ``data.target_size(h, w, height, width, resize)``. Needs two frames or more;
  ``max_pixels`` bounds each frame as decoded and as resized, ``max_samples`` the kept clip (T x H x W).
  """
  if not spec:
    raise UserError(f"data.video is empty: give {', '.join(BUILTIN_CLIPS)}, a directory of frames, an "
                    f"animated GIF or a video file")
  if spec in BUILTIN_CLIPS and not os.path.exists(spec):
    raw, name, source, fps = synth_astronaut(), spec, "synthetic pan over skimage.data.astronaut", SYNTH_FPS
  elif not os.path.exists(spec):
    raise UserError(f"video not found: {spec} (not a file, a directory or a built-in clip: "
                    f"{', '.join(BUILTIN_CLIPS)})")
  else:
    _check_source(spec)
    raw = _source_frames(spec, max_pixels)
    name = os.path.splitext(os.path.basename(os.path.normpath(spec)))[0]
    source = os.path.abspath(spec)
    fps = (video_fps(spec) if os.path.isfile(spec) else None) or DEFAULT_FPS
  frames, native = _cut(raw, spec, num_frames, frame_step,
                        lambda h, w: data.target_size(h, w, height, width, resize), max_samples)
  h, w = frames[0].shape[:2]
  if len(frames) < 2:
    raise UserError(f"{spec} gives {len(frames)} frame (after data.frames and data.frame_step): a video "
                    f"needs at least 2")
  if h < 2 or w < 2 or h * w > max_pixels:
    raise UserError(f"{spec}: frames of {h}x{w} (HxW) must be at least 2x2 and at most "
                    f"data.max_pixels={max_pixels} pixels")
  clip = np.stack(frames)
  del frames
  lo, hi = video_files.FPS_RANGE  # what the outputs can be written at (a file may declare anything)
  return Clip(frames=clip, name=name, source=source, fps=min(max(float(fps) / frame_step, lo), hi),
              native_shape=native)
