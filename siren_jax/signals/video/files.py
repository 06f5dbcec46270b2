"""Video out: a sequence of uint8 (H, W, 3) frames as an animated WebP or GIF (Pillow), a video file
(mp4, mkv, mov, webm, avi: PyAV, streamed frame by frame) or a directory of PNG frames (streamed).
Every file is written atomically (``outputs.atomic_path``).

WebP and GIF encoders take all frames at once, so those formats hold the uint8 frames (T x H x W x 3
bytes); video files and PNG frames hold one frame at a time.
"""

import os
from typing import Iterable

import numpy as np
from PIL import Image

from siren_jax.errors import UserError
from siren_jax.io import outputs

ANIMATED = (".webp", ".gif")
VIDEO_CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9",
                ".avi": "mpeg4"}
FORMATS = ANIMATED + tuple(VIDEO_CODECS)
FPS_RANGE = (0.01, 1000.0)  # frame rates every writer here takes (GIF and WebP durations overflow below)


def is_frame_directory(path: str) -> bool:
  """A path ending in a separator (or an existing directory) names a directory of PNG frames."""
  return path.endswith(os.sep) or path.endswith("/") or os.path.isdir(path)


def check_path(path: str) -> None:
  """One-line UserError for an output path no writer here takes."""
  if is_frame_directory(path):
    return
  if os.path.splitext(path)[1].lower() not in FORMATS:
    raise UserError(f"{path}: the clip's file must end in one of {', '.join(FORMATS)}, or name a "
                    f"directory (ending in /) for PNG frames")


def write_clip(path: str, frames: Iterable[np.ndarray], fps: float, quality: int = 90) -> int:
  """Writes ``frames`` to ``path`` (format from its extension, see the module docstring); returns the
  number of frames written. ``quality`` is the lossy WebP quality (GIF is 256 colours a frame)."""
  check_path(path)
  if is_frame_directory(path):
    return _write_png_frames(path, frames)
  ext = os.path.splitext(path)[1].lower()
  if ext in ANIMATED:
    return _write_animated(path, frames, fps, ext, quality)
  return _write_video(path, frames, fps, VIDEO_CODECS[ext])


def _write_png_frames(directory: str, frames: Iterable[np.ndarray]) -> int:
  os.makedirs(directory, exist_ok=True)
  n = 0
  for n, frame in enumerate(frames, start=1):
    outputs.write_png(os.path.join(directory, f"frame_{n - 1:05d}.png"), frame.astype(np.float32) / 255)
  return n


def _write_animated(path: str, frames: Iterable[np.ndarray], fps: float, ext: str, quality: int) -> int:
  images = [Image.fromarray(f) for f in frames]
  if not images:
    raise UserError(f"{path}: no frames to write")
  duration = max(1, round(1000.0 / fps))
  options = ({"quality": quality, "method": 4} if ext == ".webp" else {"optimize": False})
  with outputs.atomic_path(path) as tmp:
    images[0].save(tmp, format=ext[1:].upper(), save_all=True, append_images=images[1:],
                   duration=duration, loop=0, **options)
  return len(images)


def _write_video(path: str, frames: Iterable[np.ndarray], fps: float, codec: str) -> int:
  """Streams frames into a video file. H.264 in yuv420p (what browsers play) needs even sides; odd
  ones use yuv444p."""
  import av  # pylint: disable=g-import-not-at-top  (only video files need it)
  from fractions import Fraction  # pylint: disable=g-import-not-at-top
  n = 0
  with outputs.atomic_path(path) as tmp:
    with av.open(tmp, mode="w", format={".mkv": "matroska", ".mov": "mov"}.get(
        os.path.splitext(path)[1].lower())) as container:
      stream = None
      for frame in frames:
        if stream is None:
          h, w = frame.shape[:2]
          stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
          stream.width, stream.height = w, h
          even = h % 2 == 0 and w % 2 == 0
          stream.pix_fmt = "yuv420p" if even or codec != "libx264" else "yuv444p"
          if codec == "libx264":
            stream.options = {"crf": "18"}
          elif codec == "libvpx-vp9":  # constant quality (bitrate 0), near-transparent at crf 18
            stream.options = {"crf": "18", "b": "0", "deadline": "good", "cpu-used": "4"}
        container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                                               format="rgb24")))
        n += 1
      if stream is None:
        raise UserError(f"{path}: no frames to write")
      container.mux(stream.encode())
  return n
