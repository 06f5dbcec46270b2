"""What every figure shares: matplotlib on the Agg backend, PNGs saved atomically
(``outputs.atomic_path``), titles that never cover the panels, and the loss and headline curves every
run writes (curves.png)."""

import math
import textwrap
from typing import List

from siren_jax.io.outputs import atomic_path


def pyplot():
  """matplotlib.pyplot on the Agg backend (imported on first use: the report and the trainer's
  imports stay light)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def save_figure(fig, path: str, dpi: int = 100) -> None:
  plt = pyplot()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
  plt.close(fig)


def plain_log_ticks(axis) -> None:
  """Tick labels of a log-scaled ``axis`` (ax.yaxis, ax.xaxis) as plain numbers (13.5, 0.002, 1e-05)
  rather than matplotlib's mathtext (1.35×10¹). Ticks between decades are labelled only when the
  axis spans less than a decade, where there may be no decade tick at all."""
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top

  def minor(value, pos):
    low, high = sorted(axis.get_view_interval())
    return f"{value:.3g}" if low > 0 and high < 10 * low else ""

  axis.set_major_formatter(ticker.FuncFormatter(lambda value, pos: f"{value:.3g}"))
  axis.set_minor_formatter(ticker.FuncFormatter(minor))


def finite(value) -> bool:
  """Whether ``value`` is a finite number (metrics rows may lack a value or hold "nan"/"inf")."""
  try:
    return math.isfinite(float(value))
  except (TypeError, ValueError):
    return False


def write_curves(path: str, rows: List[dict], title: str = "", loss_label: str = "loss",
                 metric: str = "psnr", metric_label: str = "PSNR (dB)") -> None:
  """Loss and the headline (``metric``, PSNR for images) against step and against training time, from
  metrics.jsonl rows."""
  plt = pyplot()
  rows = [r for r in rows if "step" in r]
  fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
  if rows:
    steps = [r["step"] for r in rows]
    secs = [r.get("train_seconds", r.get("elapsed_s", 0.0)) for r in rows]
    # The step-0 row has no loss (older files wrote the string "nan"): plot the rows that have one.
    has_loss = [finite(r.get("loss")) for r in rows]
    loss = [float(r["loss"]) for r, ok in zip(rows, has_loss) if ok]
    psnr = [float(r[metric]) for r in rows]
    for col, (x, label) in enumerate([(steps, "step"), (secs, "training time (s)")]):
      axes[0, col].semilogy([v for v, ok in zip(x, has_loss) if ok], loss)
      plain_log_ticks(axes[0, col].yaxis)
      axes[0, col].set_ylabel(loss_label)
      axes[1, col].plot(x, psnr)
      axes[1, col].set_ylabel(metric_label)
      for row in range(2):
        axes[row, col].set_xlabel(label)
        axes[row, col].grid(True, alpha=0.3)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  save_figure(fig, path)


def suptitle(fig, title: str) -> None:
  """``title`` over the whole figure, wrapped to its width (about 11 characters an inch at 9 pt). It sits
  above the figure's top edge, which save_figure's tight bounding box extends to include, so however
  many lines it wraps to it never covers the panels or their titles."""
  if title:
    fig.suptitle(textwrap.fill(title, max(30, int(11 * fig.get_figwidth()))), fontsize=9, y=1.0,
                 va="bottom")
