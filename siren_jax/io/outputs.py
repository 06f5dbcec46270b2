"""Everything a run writes to its workdir, written atomically (temp file in the same directory, fsync,
rename, fsync of the directory), so neither an interrupted run nor a power loss leaves a half-written
JSON or PNG behind."""

import contextlib
import errno
import fcntl
import json
import math
import os
import random
import re
import signal
import threading
from typing import Iterable, List, Optional

import numpy as np
from absl import logging
from PIL import Image

# atomic_path's temp files are ".NAME.XXXXXXXX.EXT" (8 characters of _TEMP_CHARS, tempfile's alphabet,
# so temp files left by earlier versions match too), keeping NAME's extension for writers that infer the
# format from it.
_TEMP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(?P<ext>(\.[^.]*)?)$")


def is_temp_name(filename: str) -> bool:
  """Whether ``filename`` (a base name) is one of atomic_path's temporary files."""
  match = _TEMP_NAME.match(filename)
  return bool(match) and os.path.splitext(match["name"])[1] == match["ext"]


def _create_temp(directory: str, name: str, ext: str):
  """(fd, path) of a new empty file ".NAME.XXXXXXXX.EXT" in ``directory``. Created with mode 0666 so
  the umask applies as it does to any plainly created file (mkstemp's 0600 would make outputs private,
  and reading the umask means setting it)."""
  rng = random.SystemRandom()
  for _ in range(100):
    tmp = os.path.join(directory, f".{name}.{''.join(rng.choices(_TEMP_CHARS, k=8))}{ext}")
    try:
      return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
    except FileExistsError:
      continue
  raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _hold_signals():
  """Defers SIGINT and SIGTERM until ``_release_signals``: meanwhile their handlers only note them.
  (Masking them would not do: the kernel hands a process's signal to any thread that does not mask it,
  JAX's and other libraries' threads included, and Python then runs the handler in the main thread at
  its next instruction.) Returns what ``_release_signals`` needs; None off the main thread, where
  handlers cannot be set (and where Python never raises a signal's exception)."""
  if threading.current_thread() is not threading.main_thread():
    return None
  arrived = []
  previous = {s: signal.getsignal(s) for s in _HELD_SIGNALS}
  previous = {s: h for s, h in previous.items() if h is not None}  # None: set outside Python; leave it
  for s in previous:
    signal.signal(s, lambda signum, frame: arrived.append((signum, frame)))
  return previous, arrived


def _release_signals(held) -> None:
  """Puts the handlers back and gives each deferred signal to its handler, as if it arrived now."""
  if held is None:
    return
  previous, arrived = held
  for s, handler in previous.items():
    signal.signal(s, handler)
  for signum, frame in arrived:
    handler = previous[signum]
    if callable(handler):
      handler(signum, frame)
    elif handler == signal.SIG_DFL:
      signal.raise_signal(signum)


@contextlib.contextmanager
def signals_deferred():
  """SIGINT and SIGTERM that arrive inside the block are acted on as it ends (normally or not): for
  work that must not be cut in the middle, such as a checkpoint being written by threads of its own."""
  held = _hold_signals()
  try:
    yield
  finally:
    _release_signals(held)


def _fsync_path(path: str) -> None:
  fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def _fsync_dir(directory: str) -> None:
  """Makes a rename in ``directory`` durable. Some file systems cannot fsync a directory (EINVAL):
  there the rename is as durable as that file system makes it."""
  try:
    _fsync_path(directory)
  except OSError as e:
    if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
      raise


@contextlib.contextmanager
def atomic_path(path: str):
  """Yields a temporary path beside ``path``; renames it over ``path`` only if the block succeeds.

  The temp file's data is fsynced before the rename and the directory after it: without that a power
  loss can leave ``path`` renamed but empty. While the block runs the temp file is flock-ed, which
  tells ``remove_stale_temps`` that its writer is alive (a killed writer's lock dies with it)."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  # SIGINT and SIGTERM wait while the temp file is created, so that their exception is raised inside
  # the block below, whose cleanup removes the file, never between its creation and that block.
  held = _hold_signals()
  try:
    fd, tmp = _create_temp(directory, os.path.basename(path), os.path.splitext(path)[1])
  except BaseException:
    _release_signals(held)
    raise
  try:
    _release_signals(held)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield tmp
    _fsync_path(tmp)  # by path: the block may have replaced the file our fd refers to
    os.replace(tmp, path)
    _fsync_dir(directory)
  except OSError as e:
    if e.filename in (None, tmp):  # name the file being written, not an anonymous temp file
      e.filename = path
    raise
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
    os.close(fd)


def remove_stale_temps(directory: str) -> List[str]:
  """Removes the temp files that writers killed inside ``atomic_path`` left in ``directory`` (not its
  subdirectories) and returns their paths. A temp file whose writer is alive is flock-ed and kept."""
  removed = []
  for name in sorted(os.listdir(directory)):
    if not is_temp_name(name):
      continue
    path = os.path.join(directory, name)
    try:
      fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
      continue  # gone already (its writer finished), or a link: not ours
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      if os.path.isfile(path):
        os.remove(path)
        removed.append(path)
    except BlockingIOError:
      pass  # a live writer
    finally:
      os.close(fd)
  return removed


def _json_default(o):
  if isinstance(o, (np.floating, np.integer)):
    return o.item()
  if isinstance(o, np.ndarray):
    return o.tolist()
  raise TypeError(f"not JSON serialisable: {type(o)}")


def _clean(value):
  """JSON has no inf/nan: write them as strings so every reader can parse the file."""
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  if isinstance(value, dict):
    return {k: _clean(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_clean(v) for v in value]
  return value


def write_json(path: str, obj) -> None:
  with atomic_path(path) as tmp, open(tmp, "w") as f:
    json.dump(_clean(obj), f, indent=2, sort_keys=True, default=_json_default)
    f.write("\n")


def read_jsonl(path: str) -> List[dict]:
  """The rows of a JSON-lines file. A line that does not parse as a JSON object (the torn last line of
  a killed run, or damage anywhere) is skipped with one warning; the rows after it are kept."""
  if not os.path.exists(path):
    return []
  rows, bad = [], []
  with open(path, errors="replace") as f:
    for number, line in enumerate(f, 1):
      line = line.strip()
      if not line:
        continue
      try:
        row = json.loads(line)
      except ValueError:
        row = None
      if isinstance(row, dict):
        rows.append(row)
      else:
        bad.append(number)
  if bad:
    logging.warning("%s: skipped %d unreadable line(s) (line %s%s)", path, len(bad), bad[0],
                    " and later" if len(bad) > 1 else "")
  return rows


def finished_run(workdir: str, num_steps: int, allow_diverged: bool = True) -> Optional[dict]:
  """The summary of the run in ``workdir`` if it is finished: done after ``num_steps`` steps, or (with
  ``allow_diverged``) given up as diverged, which more steps would not change. Otherwise None: no run,
  an interrupted one (resumable), or one that stopped short of ``num_steps``."""
  try:
    with open(os.path.join(workdir, "summary.json")) as f:
      summary = json.load(f)
  except (OSError, ValueError):
    return None
  status = summary.get("status", "done")
  if status == "done" and summary.get("steps") == num_steps:
    return summary
  return summary if (allow_diverged and status == "diverged") else None


def write_jsonl(path: str, rows: Iterable[dict]) -> None:
  with atomic_path(path) as tmp, open(tmp, "w") as f:
    for row in rows:
      f.write(json.dumps(_clean(row), default=_json_default) + "\n")


def append_jsonl(path: str, row: dict) -> None:
  """Appends one line and flushes it to disk (a reader never sees a partial line unless we are killed
  mid-write; ``read_jsonl`` skips such a torn line)."""
  with open(path, "a") as f:
    f.write(json.dumps(_clean(row), default=_json_default) + "\n")
    f.flush()
    os.fsync(f.fileno())


def to_uint8(pixels: np.ndarray) -> np.ndarray:
  """(H, W, C) floats in [0, 1] -> uint8 (H, W) or (H, W, 3), rounding to nearest."""
  arr = np.clip(np.asarray(pixels, np.float32), 0.0, 1.0)
  arr = np.round(arr * 255.0).astype(np.uint8)
  return arr[..., 0] if arr.shape[-1] == 1 else arr


def write_png(path: str, pixels: np.ndarray) -> None:
  with atomic_path(path) as tmp:
    Image.fromarray(to_uint8(pixels)).save(tmp, format="PNG")
