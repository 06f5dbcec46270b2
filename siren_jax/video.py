"""Video in: clips read from a directory of frames, an animated image or a video file, or made from a
built-in image, cut down to the frames and size a config asks for; and the (t, y, x) coordinates.

Coordinates extend the image convention (``siren_jax/data.py``) by time: a sample is ``(t, y, x)``, each
axis spans [-1, 1] and frame ``i`` of ``T`` sits at its centre ``(2 i + 1) / T - 1``, so rendering the same
cube at another frame count or resolution samples the same continuous function (more frames than the
input had is slow motion). Flattened samples are in C order over (T, H, W): ``index = (t * H + y) * W + x``.

A clip is held as uint8 (T, H, W, C) RGB, 1 byte a value: the float arrays of a 300-frame 512x512 clip
would take 16 times as much. Grey and palette frames become RGB; alpha is dropped.

Sources (``load_clip``): ``astronaut_pan`` (the default: a slow pan and zoom over scikit-image's
astronaut, made deterministically), a directory of frames (any Pillow format, sorted by file name), an
animated GIF / PNG / WebP (Pillow), or a video file (mp4, mkv, webm, mov, avi, ...) through PyAV, whose
wheel brings its own FFmpeg.
"""

import os
from typing import Iterator, List, NamedTuple, Optional

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from siren_jax import data, outputs
from siren_jax.errors import UserError

BUILTIN_CLIPS = ("astronaut_pan",)
SYNTH_FRAMES, SYNTH_SIDE, SYNTH_FPS = 48, 256, 24
DEFAULT_FPS = 24.0


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
    unit = data._to_unit_float(img)  # pylint: disable=protected-access  (the image reader's scaling)
    return np.repeat(outputs.to_uint8(unit)[..., None], 3, axis=-1)
  return np.asarray(img.convert("RGB"))


def _directory_frames(path: str) -> List[str]:
  extensions = Image.registered_extensions()
  names = sorted(n for n in os.listdir(path) if not n.startswith(".")
                 and os.path.splitext(n)[1].lower() in extensions
                 and os.path.isfile(os.path.join(path, n)))
  if not names:
    raise UserError(f"directory {path} holds no image files (Pillow formats such as .png, .jpg)")
  return [os.path.join(path, n) for n in names]


def _read_directory(path: str) -> Iterator[np.ndarray]:
  for frame_path in _directory_frames(path):
    try:
      with Image.open(frame_path) as img:
        yield _rgb(img)
    except (UnidentifiedImageError, OSError, ValueError) as e:
      raise UserError(f"cannot read frame {frame_path}: {e}") from None


def _read_animated(img: Image.Image) -> Iterator[np.ndarray]:
  for frame in ImageSequence.Iterator(img):
    yield _rgb(frame)


def _read_video_file(path: str) -> Iterator[np.ndarray]:
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
    try:
      for frame in container.decode(stream):
        yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as e:
      raise UserError(f"{path}: cannot decode its video ({stream.codec_context.name}): {e}") from None


def video_fps(path: str) -> Optional[float]:
  """The frame rate a video file or animated image declares, or None."""
  try:
    with Image.open(path) as img:
      duration = img.info.get("duration")
      return 1000.0 / duration if duration else None
  except (UnidentifiedImageError, OSError):
    pass
  try:
    import av  # pylint: disable=g-import-not-at-top
    with av.open(path) as container:
      rate = container.streams.video[0].average_rate if container.streams.video else None
      return float(rate) if rate else None
  except Exception:  # pylint: disable=broad-except  (the frames' reader reports what is wrong)
    return None


def _source_frames(spec: str) -> Iterator[np.ndarray]:
  """The raw frames of ``spec``, decoded lazily."""
  if os.path.isdir(spec):
    return _read_directory(spec)
  try:
    img = Image.open(spec)
  except (UnidentifiedImageError, OSError):
    return _read_video_file(spec)

  def frames():
    with img:
      yield from _read_animated(img)
  return frames()


def _cut(raw: Iterator[np.ndarray], spec: str, num_frames: int, frame_step: int, size_of) -> tuple:
  """Every ``frame_step``-th raw frame, at most ``num_frames`` (0: all), resized by ``size_of(h, w)``."""
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
    if num_frames and len(kept) == num_frames:
      break
  if native is None:
    raise UserError(f"{spec} holds no frames")
  return kept, tuple(native)


def load_clip(spec: str, num_frames: int = 0, frame_step: int = 1, height: int = 0, width: int = 0,
              resize: str = "fit", max_pixels: int = 4096 * 4096) -> Clip:
  """The clip ``spec`` names, cut to every ``frame_step``-th frame, at most ``num_frames`` of them (0:
  all), each resized to ``data.target_size(h, w, height, width, resize)``. Needs two frames or more."""
  if not spec:
    raise UserError(f"data.video is empty: give {', '.join(BUILTIN_CLIPS)}, a directory of frames, an "
                    f"animated GIF or a video file")
  if spec in BUILTIN_CLIPS and not os.path.exists(spec):
    raw, name, source, fps = synth_astronaut(), spec, "synthetic pan over skimage.data.astronaut", SYNTH_FPS
  elif not os.path.exists(spec):
    raise UserError(f"video not found: {spec} (not a file, a directory or a built-in clip: "
                    f"{', '.join(BUILTIN_CLIPS)})")
  else:
    raw = _source_frames(spec)
    name = os.path.splitext(os.path.basename(os.path.normpath(spec)))[0]
    source = os.path.abspath(spec)
    fps = (video_fps(spec) if os.path.isfile(spec) else None) or DEFAULT_FPS
  frames, native = _cut(raw, spec, num_frames, frame_step,
                        lambda h, w: data.target_size(h, w, height, width, resize))
  h, w = frames[0].shape[:2]
  if len(frames) < 2:
    raise UserError(f"{spec} gives {len(frames)} frame (after data.frames and data.frame_step): a video "
                    f"needs at least 2")
  if h < 2 or w < 2 or h * w > max_pixels:
    raise UserError(f"{spec}: frames of {h}x{w} (HxW) must be at least 2x2 and at most "
                    f"data.max_pixels={max_pixels} pixels")
  clip = np.stack(frames)
  del frames
  return Clip(frames=clip, name=name, source=source, fps=float(fps) / frame_step, native_shape=native)
