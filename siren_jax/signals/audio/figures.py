"""Audio figures: the waveform panel (original, fit, error, each with a zoomed inset) and the
spectrograms (original, fit, error). Matplotlib (Agg) through ``figures``' helpers; multi-channel clips
show their first channel (the titles say so)."""

from typing import Tuple

import numpy as np
from scipy import signal as sp_signal

from siren_jax.io import plots

ZOOM_SECONDS = 0.02  # the inset's span: a few periods of a voice or an instrument


def zoom_window(reference: np.ndarray, rate: int, seconds: float = ZOOM_SECONDS) -> Tuple[int, int]:
  """(first, last) sample of the inset: ``seconds`` around the clip's loudest sample, where a fit's
  errors in the fine structure are easiest to see."""
  n = reference.shape[0]
  width = max(2, min(n, int(round(seconds * rate))))
  centre = int(np.argmax(np.abs(reference)))
  first = min(max(centre - width // 2, 0), n - width)
  return first, first + width


def _zoom(ax, t, curves, window, ylim):
  """``curves`` ((values, style, label) triples) over samples ``window``, time in ms from its start."""
  first, last = window
  ms = 1000.0 * (t[first:last] - t[first])
  for values, style, label in curves:
    ax.plot(ms, values[first:last], style, lw=1.0, label=label)
  ax.set_ylim(*ylim)
  ax.set_xlim(ms[0], ms[-1])
  ax.grid(True, alpha=0.3)
  ax.set_title(f"zoom: {ms[-1]:.0f} ms from {t[first]:.3f} s", fontsize=9, loc="left")


def write_waveform_panel(path: str, reference: np.ndarray, fit: np.ndarray, rate: int,
                         title: str = "") -> None:
  """Original, fit and error (fit - original) against time, each with a zoom beside it over
  ``zoom_window`` (shaded on the full view); ``reference`` and ``fit`` are (N, C) on [-1, 1] (the first
  channel is drawn)."""
  plt = plots.pyplot()  # pylint: disable=protected-access
  ref, pred = reference[:, 0], fit[:, 0]
  err = pred - ref
  t = np.arange(ref.shape[0]) / rate
  window = zoom_window(ref, rate)
  fig, axes = plt.subplots(3, 2, figsize=(13, 7.5), gridspec_kw={"width_ratios": [3, 1]})
  peak = max(float(np.max(np.abs(ref))), float(np.max(np.abs(pred))), 1e-12)
  lim = (-1.05 * peak, 1.05 * peak)
  err_peak = max(float(np.max(np.abs(err))), 1e-12)
  err_lim = (-1.05 * err_peak, 1.05 * err_peak)
  channel = f" (channel 1 of {reference.shape[1]})" if reference.shape[1] > 1 else ""
  rows = [(f"original{channel}", ref, "k-", lim), ("fit", pred, "C0-", lim),
          (f"error (fit − original), max |error| {err_peak:.2e}", err, "C3-", err_lim)]
  for (ax, zoom), (name, values, style, ylim) in zip(axes, rows):
    ax.plot(t, values, style, lw=0.4)
    ax.set_ylim(*ylim)
    ax.set_xlim(t[0], t[-1])
    ax.set_ylabel("amplitude")
    ax.set_title(name, fontsize=10, loc="left")
    ax.grid(True, alpha=0.3)
    ax.axvspan(t[window[0]], t[window[1] - 1], color="orange", alpha=0.35, lw=0)
    curves = [(values, style, name.split(" ")[0])]
    if values is pred:  # the fit's zoom shows the original under it
      curves = [(ref, "k-", "original"), (pred, "C0--", "fit")]
    _zoom(zoom, t, curves, window, ylim)
  axes[1, 1].legend(fontsize=7, loc="lower right")
  axes[-1, 0].set_xlabel("time (s)")
  axes[-1, 1].set_xlabel("time (ms)")
  fig.tight_layout()
  plots.suptitle(fig, title)  # pylint: disable=protected-access
  plots.save_figure(fig, path)


def spectrogram_db(x: np.ndarray, rate: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(frequencies Hz, times s, power in dB) of a 1-D signal: Hann-windowed STFT, ~23 ms frames at
  44.1 kHz (1024 samples; shorter for short clips), 75 % overlap. dB are relative to full scale."""
  n = x.shape[0]
  nperseg = int(min(1024, max(16, 2 ** int(np.floor(np.log2(max(n // 8, 16)))))))
  f, t, z = sp_signal.stft(x, fs=rate, window="hann", nperseg=nperseg, noverlap=3 * nperseg // 4)
  power = np.abs(z) ** 2
  return f, t, 10.0 * np.log10(np.maximum(power, 1e-12))


def write_spectrograms(path: str, reference: np.ndarray, fit: np.ndarray, rate: int,
                       title: str = "", dynamic_range_db: float = 100.0) -> None:
  """Spectrograms of the original, the fit and the error (fit - original), on one colour scale (the
  original's peak down ``dynamic_range_db``) so that the error's level reads against the signal's."""
  plt = plots.pyplot()  # pylint: disable=protected-access
  ref, pred = reference[:, 0].astype(np.float64), fit[:, 0].astype(np.float64)
  panels = [("original", ref), ("fit", pred), ("error (fit − original)", pred - ref)]
  specs = [spectrogram_db(x, rate) for _, x in panels]
  top = float(np.max(specs[0][2]))
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=True)
  for ax, (name, _), (f, t, db) in zip(axes, panels, specs):
    im = ax.pcolormesh(t, f, db, shading="auto", cmap="magma", vmin=top - dynamic_range_db, vmax=top)
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("time (s)")
  axes[0].set_ylabel("frequency (Hz)")
  fig.colorbar(im, ax=list(axes), label="power (dB)")
  plots.suptitle(fig, title)  # pylint: disable=protected-access
  plots.save_figure(fig, path)
