"""The audio task (SIREN paper Sec. 4.1): a clip fitted as a function of time, one output per channel.

Coordinates are the official code's: sample k of N at ``-R + 2 R k / (N - 1)`` with R =
``data.coord_range`` (``audio.time_coords``). Targets are the clip divided by its peak |amplitude|
(the official ``ImplicitAudioWrapper``), so they span [-1, 1]; the paper's MSE is measured there. The
headline logged every ``log_every`` steps is the signal-to-noise ratio in dB (higher is better; it does
not depend on the normalisation); the summary has both.

The paper's recipe: R = 100 and ω₀ = 30 in every layer, as the official code runs it; its "first-layer
ω₀ of 3000" is that 30 times the 100 of the coordinates. On R = 1 (our recipe, configs/audio.py) the
same first-layer frequencies come from first_omega_0=3000: ``sin(ω₀ (w t + b))`` with the same w
computes the same function of time, and only the bias's phase is scaled (ω₀ b instead of 30 b), a
uniform random phase either way. Both fit float32: a coordinate's rounding (2^-24 relative) moves the
phase ``3000 |w t|`` by under 2e-4 rad.
"""

import dataclasses
import os
from typing import Any, Callable, Dict, Sequence

import numpy as np

from siren_jax import configuration
from siren_jax.engine import supervision
from siren_jax.engine.task import Capabilities
from siren_jax.errors import UserError
from siren_jax.io import plots
from siren_jax.signals.audio import clips as audio, figures as audio_figures


@dataclasses.dataclass
class AudioTask(Capabilities):
  """A clip to fit. ``reference`` (N, C) is the peak-normalised clip in [-1, 1] (what the network is
  trained on and scored against); ``scale`` its peak, which turns the fit back into the file's units."""
  name: str
  source: str
  rate: int
  reference: np.ndarray
  scale: float
  arrays: Dict[str, np.ndarray]
  terms: Dict[str, float]
  coord_range: float

  @property
  def out_features(self) -> int:
    return self.reference.shape[1]

  @property
  def grid_shape(self) -> tuple:
    return (self.reference.shape[0],)

  @property
  def headline_name(self) -> str:
    return "snr"

  def describe(self) -> str:
    n, c = self.reference.shape
    return (f"audio {self.name} ({self.source}): {n} samples at {self.rate} Hz ({n / self.rate:.3f} s), "
            f"{c} channel(s), coordinates in [-{self.coord_range:g}, {self.coord_range:g}]")

  def prediction(self, values: np.ndarray) -> np.ndarray:
    """The network's flat output as an (N, C) signal on the reference's [-1, 1] scale (unclipped)."""
    return np.asarray(values, np.float32).reshape(self.reference.shape)

  def headline(self, prediction: np.ndarray) -> float:
    return snr_db(prediction, self.reference)

  def summary_fields(self) -> Dict[str, Any]:
    n, c = self.reference.shape
    return {"audio": self.name, "source": self.source, "rate": self.rate, "samples": n, "channels": c,
            "seconds": round(n / self.rate, 6), "peak": self.scale, "coord_range": self.coord_range,
            "supervision": self.terms}

  def finish(self, workdir: str, prediction: np.ndarray, rows: Sequence[dict],
             summary: Dict[str, Any], render_derivatives: Callable) -> Dict[str, Any]:
    """SNR and MSE into ``summary``; reconstruction.wav and original.wav (float WAVs in the file's
    units), waveform.png, spectrogram.png and curves.png into ``workdir``."""
    del render_derivatives  # an audio fit shows no derivative panels
    summary["snr"] = snr_db(prediction, self.reference)
    summary["mse"] = mse(prediction, self.reference)
    audio.write_wav(os.path.join(workdir, "reconstruction.wav"), prediction * self.scale, self.rate)
    audio.write_wav(os.path.join(workdir, "original.wav"), self.reference * self.scale, self.rate)
    title = (f"{self.name}: SNR {summary['snr']:.2f} dB, MSE {summary['mse']:.2e} (on [-1, 1]) after "
             f"{summary['steps']} steps")
    audio_figures.write_waveform_panel(os.path.join(workdir, "waveform.png"), self.reference,
                                       prediction, self.rate, title=title)
    audio_figures.write_spectrograms(os.path.join(workdir, "spectrogram.png"), self.reference,
                                     prediction, self.rate, title=title)
    plots.write_curves(os.path.join(workdir, "curves.png"), rows, title=title,
                         loss_label="training loss (MSE on [-1, 1])", metric="snr",
                         metric_label="SNR (dB)")
    return summary


def mse(prediction: np.ndarray, reference: np.ndarray) -> float:
  """The paper's measure: mean squared error on the peak-normalised [-1, 1] signal."""
  return float(np.mean((np.asarray(prediction, np.float64) - np.asarray(reference, np.float64)) ** 2))


def snr_db(prediction: np.ndarray, reference: np.ndarray) -> float:
  """10 log10(signal energy / error energy), over every channel; +inf for an exact fit."""
  ref = np.asarray(reference, np.float64)
  noise = float(np.sum((np.asarray(prediction, np.float64) - ref) ** 2))
  signal = float(np.sum(ref ** 2))
  if noise == 0.0:
    return float("inf")
  return float(10.0 * np.log10(max(signal, 1e-300) / noise))


def validate_config(config) -> None:
  """The audio fields of ``config.data`` (one-line UserError)."""
  d = config.data
  for field in ("audio", "audio_dir", "start", "seconds", "mono", "coord_range", "max_samples"):
    if field not in d:
      raise UserError(f"data.{field} is missing: an audio config needs it (see configs/audio.py)")
  if not isinstance(d.audio, str) or not d.audio:
    raise UserError(f"data.audio must be synth, bach, counting or a WAV path, got {d.audio!r}")
  if not (np.isfinite(d.start) and d.start >= 0):
    raise UserError(f"data.start must be >= 0 seconds, got {d.start}")
  if not (np.isfinite(d.seconds) and d.seconds >= 0):
    raise UserError(f"data.seconds must be >= 0 (0 = to the end of the clip), got {d.seconds}")
  if not (np.isfinite(d.coord_range) and 0 < d.coord_range <= 1e4):
    raise UserError(f"data.coord_range must be in (0, 1e4], got {d.coord_range}")
  if d.max_samples < 2:
    raise UserError(f"data.max_samples must be >= 2, got {d.max_samples}")
  if set(supervision.parse(config.train.supervision)) != {"values"}:
    raise UserError(f"audio fits supervise values only, got train.supervision="
                    f"{config.train.supervision!r}")
  if config.eval.get("crop_border"):
    raise UserError("eval.crop_border is for images; an audio fit is scored on every sample")


def check_loaded(config, task: AudioTask, num_devices: int) -> None:
  """Checks that depend on the loaded clip and the machine."""
  configuration.check_batch(config, task.reference.shape[0], num_devices)


def prepare(config) -> AudioTask:
  """The task ``config.data`` describes (one-line errors)."""
  d = config.data
  clip = audio.load_audio(d.audio, d.audio_dir, d.start, d.seconds, bool(d.mono), d.max_samples)
  scale = float(np.max(np.abs(clip.samples)))
  if scale == 0.0:
    raise UserError(f"{clip.source}: the clip is silent (every sample is 0); there is nothing to fit")
  reference = (clip.samples / scale).astype(np.float32)
  n = reference.shape[0]
  arrays = {"coords": audio.time_coords(n, float(d.coord_range)), "values": reference}
  return AudioTask(name=clip.name, source=clip.source, rate=clip.rate, reference=reference,
                   scale=scale, arrays=arrays, terms=supervision.parse(config.train.supervision),
                   coord_range=float(d.coord_range))
