"""Progress in the log: a line per metrics row and, between rows, time-based lines with the rate and
ETA, so that slow steps still show progress within seconds."""

import contextlib
import math
import time
from typing import Callable, Dict, Optional, Sequence

from absl import logging

REPORT_EVERY_SECONDS = 60.0  # how often report.html is refreshed while training
# Between metrics rows, a progress line after this much training, then at least this often (seconds).
PROGRESS_FIRST_SECONDS = 10.0
PROGRESS_EVERY_SECONDS = 30.0


def info(message: str) -> None:
  logging.info("%s", message)


def warn(message: str) -> None:
  logging.warning("%s", message)


PHASE_PROGRESS_SECONDS = 5.0  # a long phase after training logs its progress at most this often


@contextlib.contextmanager
def phase(what: str):
  """Logs ``what`` as a phase after training begins (meshing, metrics, renders, encoding) and its
  seconds when it ends, so that no minute after the last step passes in silence."""
  logging.info("%s ...", what)
  start = time.perf_counter()
  yield
  logging.info("%s: done in %.1f s", what, time.perf_counter() - start)


def counter(what: str, unit: str) -> Callable[[int, int], None]:
  """``report(done, total)`` for a long phase's loop: a line at most every PHASE_PROGRESS_SECONDS."""
  last = [time.perf_counter()]

  def report(done: int, total: int) -> None:
    if time.perf_counter() - last[0] >= PHASE_PROGRESS_SECONDS and done < total:
      last[0] = time.perf_counter()
      logging.info("%s: %d/%d %s (%d%%)", what, done, total, unit, 100 * done // max(total, 1))

  return report


def _format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Progress:
  """The log's progress lines. One per metrics row (every ``log_every`` steps), and between rows a
  time-based one (after PROGRESS_FIRST_SECONDS of training, then every PROGRESS_EVERY_SECONDS): with
  slow steps (configs/kodak.py: 100 steps of 0.5-2.5 s between rows) the rate and ETA would otherwise
  come only minutes in. Time-based lines are log lines only: they evaluate nothing and write nothing
  (metrics.jsonl keeps its rows at log_every steps), so runs and resumes stay bit-identical. Times are
  training seconds, as in metrics.jsonl. ``labels`` name the points of a sweep (their directories)."""

  def __init__(self, num_steps: int, labels: Sequence[str], step: int, train_seconds: float,
               metric: str = "PSNR", error: bool = False):
    self.num_steps, self.labels, self.metric = num_steps, list(labels), metric.lower()
    # dB to 2 decimals, or an error headline (``Headline.lower_is_better``) to 3 significant digits
    self.fmt, self.unit = ("{:.3g}", "") if error else ("{:.2f}", " dB")
    self.last_step, self.last_seconds = step, train_seconds
    self.next_line = train_seconds + PROGRESS_FIRST_SECONDS

  def due(self, train_seconds: float) -> bool:
    return train_seconds >= self.next_line

  def _speed(self, step: int, train_seconds: float) -> str:
    """'R steps/s  train Ts  ETA E', R measured since the previous line."""
    rate = (step - self.last_step) / max(train_seconds - self.last_seconds, 1e-9)
    eta = _format_duration((self.num_steps - step) / max(rate, 1e-9))
    self.last_step, self.last_seconds = step, train_seconds
    self.next_line = train_seconds + PROGRESS_EVERY_SECONDS
    points = f" ({len(self.labels)} points)" if len(self.labels) > 1 else ""
    return f"{rate:.1f} steps/s{points}  train {train_seconds:.1f}s  ETA {eta}"

  def row(self, step: int, train_seconds: float, loss: float, psnrs: Dict[int, float], lr: float):
    """The line of a metrics row; ``psnrs`` has the points that have not diverged."""
    if len(self.labels) == 1:
      logging.info("step %d/%d  loss %.3e  %s %s%s  lr %.2e  %s", step, self.num_steps, loss,
                   self.metric, self.fmt.format(psnrs[0]), self.unit, lr,
                   self._speed(step, train_seconds))
    else:
      values = "; ".join(f"{name}: " + (self.fmt.format(psnrs[i]) if i in psnrs else "diverged")
                         for i, name in enumerate(self.labels))
      logging.info("step %d/%d  %s%s %s  %s", step, self.num_steps, self.metric,
                   " (dB)" if self.unit else "", values, self._speed(step, train_seconds))

  def between(self, step: int, train_seconds: float, loss: Optional[float]):
    """A time-based line between rows (with the step's training loss when there is one point)."""
    loss_text = f"  loss {loss:.3e}" if loss is not None and len(self.labels) == 1 else ""
    logging.info("step %d/%d%s  %s", step, self.num_steps, loss_text, self._speed(step, train_seconds))


