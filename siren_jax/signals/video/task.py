"""The video task (SIREN paper Sec. 4.1): a clip fitted as a function of (t, y, x), trained by the same
loop as images (``siren_jax.engine.run``).

Memory: the clip stays uint8 on the host and the device (``step.Sampler``): each step gathers its batch
of random samples and derives their coordinates and [-1, 1] targets on the device, and evaluation
renders the network frame by frame (``VideoFit``) and scores each frame as it comes (per-frame PSNR and
SSIM), so no float copy of the clip or of its coordinates ever exists.

A separate time ω₀ (``model.time_omega_0``, SIREN only) multiplies the time coordinate by
``time_omega_0 / first ω₀`` before the first layer: ``sin(ω₀ (W (s t, y, x) + b))`` equals a first
layer whose time column runs at ω₀ s, in the forward pass and in every parameter gradient alike, so
the coordinates stay in [-1, 1] and the model stays the image model.
"""

import dataclasses
import math
from typing import Any, Callable, Dict, Iterator, Sequence

import jax.numpy as jnp
import numpy as np

from siren_jax import configuration
from siren_jax.engine import hyper, metrics, step, supervision
from siren_jax.engine.task import Capabilities
from siren_jax.errors import UserError
from siren_jax.signals.image import data
from siren_jax.signals.video import clips as video, files as video_files, outputs as video_outputs

IN_FEATURES = 3  # (t, y, x)
HEADLINE = "psnr_frame_mean"  # the mean over frames of each frame's PSNR
VIDEO_FIELDS = ("video", "frames", "frame_step", "fps")  # config.data fields of configs/video.py
MAX_SAMPLES = 2 ** 31 - 1  # sample indices are int32


def time_scale(model_config) -> float:
  """What the time coordinate is multiplied by: ``time_omega_0`` / first-layer ω₀ (1 when unset)."""
  t = model_config.get("time_omega_0")
  return 1.0 if t is None else float(t) / hyper.omegas(model_config)[0]


def gather(arrays, idx):
  """A batch of samples ``idx`` (flat (T, H, W) indices) from the compact arrays: the frames (uint8)
  and each axis's coordinates (``t`` already time-scaled)."""
  frames = arrays["frames"]
  _, h, w, c = frames.shape
  t, rest = idx // (h * w), idx % (h * w)
  coords = jnp.stack([arrays["t"][t], arrays["y"][rest // w], arrays["x"][rest % w]], axis=-1)
  values = frames.reshape(-1, c)[idx].astype(jnp.float32) / 255.0 * 2.0 - 1.0
  return {"coords": coords, "values": values, "weights": jnp.ones(idx.shape, jnp.float32)}


@dataclasses.dataclass
class VideoFit:
  """The network's reconstruction of a clip, rendered on demand a few frames at a time (as many as
  fill one ``eval.chunk_size`` call, so small frames are not each padded to a whole chunk).
  ``evaluate`` maps (N, 3) coordinates to (N, C) network values (``evaluate.make_renderer``)."""
  task: Any
  evaluate: Callable

  def frames(self) -> Iterator[tuple]:
    """(i, fit frame, reference frame), both unclipped (H, W, C) floats in [0, 1], for every frame."""
    num_frames, h, w, c = self.task.shape
    per_call = max(1, self.task.chunk_size // (h * w))
    for start in range(0, num_frames, per_call):
      group = range(start, min(num_frames, start + per_call))
      coords = np.concatenate([video.frame_coords(self.task.arrays["t"][i], h, w) for i in group])
      values = data.to_unit(self.evaluate(coords).reshape(len(group), h, w, c))
      for j, i in enumerate(group):  # the step's very coordinates, frame by frame
        yield i, values[j], self.task.reference01(i)


@dataclasses.dataclass
class VideoTask(Capabilities):
  """A clip to fit: ``frames`` uint8 (T, H, W, C); ``arrays`` its compact device arrays."""
  name: str
  source: str
  frames: np.ndarray
  fps: float
  native_shape: tuple
  time_scale: float
  arrays: Dict[str, np.ndarray]
  sampler: step.Sampler = dataclasses.field()  # required here (Capabilities gives others None)
  chunk_size: int  # samples per evaluation call (``eval.chunk_size``)
  terms: Dict[str, float] = dataclasses.field(default_factory=lambda: {"values": 1.0})

  @property
  def shape(self):
    return self.frames.shape

  @property
  def out_features(self) -> int:
    return self.shape[-1]

  @property
  def grid_shape(self) -> tuple:
    return self.shape[1:3]

  @property
  def headline_name(self) -> str:
    return HEADLINE

  def describe(self) -> str:
    t, h, w, c = self.shape
    resized = (f" (resized from {self.native_shape[0]}x{self.native_shape[1]})"
               if self.native_shape != (h, w) else "")
    omega = f", time coordinate x{self.time_scale:g} (time omega_0)" if self.time_scale != 1 else ""
    return (f"video {self.name} ({self.source}): {t} frames of {h}x{w} (HxW){resized}, {c} channels, "
            f"{self.fps:g} fps{omega}")

  def reference01(self, i: int) -> np.ndarray:
    return self.frames[i].astype(np.float32) / 255.0

  def prediction(self, evaluate: Callable) -> VideoFit:
    return VideoFit(self, evaluate)

  def headline(self, fit: VideoFit) -> float:
    return float(np.mean([metrics.psnr(pred, ref) for _, pred, ref in fit.frames()]))

  def summary_fields(self) -> Dict[str, Any]:
    t, h, w, c = self.shape
    return {"video": self.name, "source": self.source, "frames": t, "height": h, "width": w,
            "channels": c, "fps": self.fps, "supervision": self.terms, "psnr_protocol": HEADLINE,
            "time_scale": self.time_scale}

  def finish(self, workdir: str, fit: VideoFit, rows: Sequence[dict], summary: Dict[str, Any],
             render_derivatives: Callable) -> Dict[str, Any]:
    """Per-frame metrics into ``summary`` and the video outputs into ``workdir`` (derivative panels
    are an image feature: ``render_derivatives`` is not used)."""
    del render_derivatives
    return video_outputs.write_outputs(workdir, self, fit, rows, summary)


def validate_config(config) -> None:
  """The video fields of ``config.data`` and ``model.time_omega_0`` (one-line UserError)."""
  d, m = config.data, config.model
  missing = [f"data.{k}" for k in VIDEO_FIELDS if k not in d] + (
      ["model.time_omega_0"] if "time_omega_0" not in m else [])
  if missing:
    raise UserError(f"task=video needs {', '.join(missing)}: start from configs/video.py")
  checks = [(d.frames >= 0, f"data.frames must be >= 0 (0 = all), got {d.frames}"),
            (d.frame_step >= 1, f"data.frame_step must be >= 1, got {d.frame_step}"),
            (d.height >= 0 and d.width >= 0, "data.height and data.width must be >= 0 (0 = native)"),
            (d.resize in data.RESIZE_MODES, f"data.resize must be one of {data.RESIZE_MODES}"),
            (d.max_pixels >= 4, f"data.max_pixels must be >= 4, got {d.max_pixels}"),
            (d.fps == 0 or video_files.FPS_RANGE[0] <= d.fps <= video_files.FPS_RANGE[1],
             f"data.fps must be 0 (the clip's) or in [{video_files.FPS_RANGE[0]:g}, "
             f"{video_files.FPS_RANGE[1]:g}], got {d.fps}")]
  for ok, message in checks:
    if not ok:
      raise UserError(message)
  if set(supervision.parse(config.train.supervision)) != {"values"}:
    raise UserError("task=video fits values only: train.supervision must be 'values'")
  t = m.time_omega_0
  if t is not None:
    if m.kind != "siren":
      raise UserError(f"model.time_omega_0 is a SIREN setting; model.kind={m.kind!r} takes none")
    if not (isinstance(t, (int, float)) and 0 < t <= configuration.MAX_OMEGA):
      raise UserError(f"model.time_omega_0 must be in (0, {configuration.MAX_OMEGA:g}], got {t}")


def check_loaded(config, task: VideoTask, num_devices: int) -> None:
  t, h, w, _ = task.shape
  if t * h * w > MAX_SAMPLES:
    raise UserError(f"{t} frames of {h}x{w} are {t * h * w} samples, over {MAX_SAMPLES} (int32 "
                    f"indices): lower data.frames, data.height or data.width")
  configuration.check_batch(config, t * h * w, num_devices)
  if not math.isclose(time_scale(config.model), task.time_scale, rel_tol=1e-12):
    raise UserError("points trained together must share model.time_omega_0 / first omega_0; sweep "
                    "model.time_omega_0 itself, or leave it unset")


def prepare(config) -> VideoTask:
  """The clip ``config.data`` describes, with its compact training arrays (one-line errors)."""
  d = config.data
  clip = video.load_clip(d.video, d.frames, d.frame_step, d.height, d.width, d.resize, d.max_pixels,
                         max_samples=MAX_SAMPLES)
  t, h, w, _ = clip.shape
  scale = time_scale(config.model)
  grid = data.grid_coords(h, w)  # the (y, x) evaluation renders at, so training sees the same floats
  arrays = {"frames": clip.frames, "t": data.pixel_centres(t) * np.float32(scale),
            "y": np.ascontiguousarray(grid[::w, 0]), "x": np.ascontiguousarray(grid[:w, 1])}
  return VideoTask(name=clip.name, source=clip.source, frames=clip.frames, fps=d.fps or clip.fps,
                   native_shape=clip.native_shape, time_scale=scale, arrays=arrays,
                   sampler=step.Sampler(num_samples=t * h * w, in_features=IN_FEATURES, gather=gather),
                   chunk_size=config.eval.chunk_size)
