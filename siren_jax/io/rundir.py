"""Run-directory ownership: one process at a time writes a workdir (a run's or a sweep's).

Two runs writing one workdir interleave their metrics rows and delete each other's checkpoints in
progress. ``own`` takes an OS lock (``fcntl.flock``) on ``WORKDIR/.lock``: the kernel releases it when its
process ends however it ends (SIGKILL included), so a dead run never blocks the next one, and the file
names the holder (pid, host, start time, command) for the error a second process prints. The owner then
removes the temp files a killed writer left (``outputs.remove_stale_temps``) and turns a full disk into a
one-line error, since every file written before it is intact and a re-run resumes.

The lock is advisory: ``siren_jax.report`` and ``siren_jax.render`` only read a run (and write report.html
atomically), so they take no lock and work on a run that is training.
"""

import contextlib
import datetime
import errno
import fcntl
import json
import logging as std_logging
import os
import shlex
import socket
import sys
import threading
from typing import Iterator, List, Optional, Sequence

from absl import logging

from siren_jax.errors import UserError
from siren_jax.io import outputs

LOCK_NAME = ".lock"
_FULL = (errno.ENOSPC, errno.EDQUOT)
_NO_LOCKS = (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP)


def blocking_file(path: str) -> Optional[str]:
  """What stops ``path`` from being (or becoming) a directory: ``path`` itself or the directory above it
  that exists but is not a directory (a file), as an absolute path. None if there is no such thing."""
  path = os.path.abspath(path)
  while not os.path.isdir(path):
    if os.path.lexists(path):
      return path
    path = os.path.dirname(path)
  return None


def not_a_directory(path: str) -> Optional[str]:
  """Why ``path`` cannot be a directory, in words ("it is not a directory", "/x/y is not a directory"),
  or None."""
  blocker = blocking_file(path)
  if blocker is None:
    return None
  return "it is not a directory" if blocker == os.path.abspath(path) else f"{blocker} is not a directory"


def _holder_info() -> dict:
  try:
    with open("/proc/self/cmdline", "rb") as f:  # "python -m siren_jax.main ...", as it was typed
      argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
  except OSError:
    argv = [sys.executable] + sys.argv
  return {"pid": os.getpid(), "host": socket.gethostname(), "command": shlex.join(argv),
          "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def _describe_holder(fd: int) -> str:
  try:
    info = json.loads(os.pread(fd, 65536, 0).decode())
    return (f"pid {info['pid']} on {info['host']}, started {info['started']}: "
            f"{info['command']}")
  except (OSError, ValueError, KeyError, TypeError):
    return "a process that has not written its details yet"


class _Lock:
  """A held lock; ``release`` removes the lock file, then unlocks."""

  def __init__(self, path: str, fd: int):
    self.path, self.fd = path, fd

  def release(self) -> None:
    if self.fd < 0:
      return
    with contextlib.suppress(OSError):
      if _is_current(self.fd, self.path):  # (someone may have deleted it and another run made a new one)
        os.remove(self.path)  # before unlocking: a waiter that then locks this file sees it is gone
    os.close(self.fd)
    self.fd = -1


def _make_workdir(workdir: str) -> List[str]:
  """Creates ``workdir`` if missing; returns the directories created (outermost first)."""
  reason = not_a_directory(workdir)
  if reason:
    raise UserError(f"cannot use {workdir} as a workdir: {reason}")
  missing, path = [], os.path.abspath(workdir)
  while not os.path.isdir(path):
    missing.insert(0, path)
    path = os.path.dirname(path)
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    _remove_dirs(missing)
    raise UserError(f"cannot create workdir {workdir}: {e.strerror}") from None
  return missing


def _remove_dirs(created: List[str]) -> None:
  for path in reversed(created):
    with contextlib.suppress(OSError):
      os.rmdir(path)  # only if still empty


def _lock_file(path: str, workdir: str) -> int:
  """An fd of ``path`` holding its flock, with this process's details written in it."""
  for _ in range(100):
    try:
      fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as e:
      raise UserError(f"cannot write to workdir {workdir}: {e.strerror}") from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = _describe_holder(fd)
      os.close(fd)
      raise UserError(f"{workdir} is in use by {holder}; wait for it to end, or stop it") from None
    except OSError as e:
      if e.errno not in _NO_LOCKS:
        os.close(fd)
        raise
      # Some cluster file systems (Lustre mounted without flock, NFS without a lock daemon) have no
      # locks: training there must still work, unguarded.
      logging.warning("%s: cannot lock %s (%s); nothing stops a second run on this workdir", workdir,
                      path, e.strerror)
    if not _is_current(fd, path):
      os.close(fd)  # locked a file its owner removed while releasing it: lock the one there now
      continue
    try:
      os.ftruncate(fd, 0)
      os.pwrite(fd, (json.dumps(_holder_info()) + "\n").encode(), 0)
      return fd
    except OSError as e:
      _Lock(path, fd).release()
      raise UserError(f"cannot write to workdir {workdir}: {e.strerror}") from None
  raise UserError(f"cannot lock {path}: it keeps being replaced")


def _is_current(fd: int, path: str) -> bool:
  try:
    return os.path.samestat(os.fstat(fd), os.stat(path))
  except FileNotFoundError:
    return False


def acquire(workdir: str) -> _Lock:
  """Owns ``workdir`` (created if missing, which with the lock file is the first write to it), or
  raises UserError naming the process that owns it; a refused or failed call leaves it as it was."""
  created = _make_workdir(workdir)
  path = os.path.join(workdir, LOCK_NAME)
  try:
    return _Lock(path, _lock_file(path, workdir))
  except BaseException:
    _remove_dirs(created)
    raise


def _full_errno(exc: BaseException) -> Optional[int]:
  if isinstance(exc, OSError) and exc.errno in _FULL:
    return exc.errno
  text = str(exc)
  found = next((n for n in _FULL if os.strerror(n) in text or f"os_error_code='{n}'" in text), None)
  if found is None and text.startswith("RESOURCE_EXHAUSTED: Error ") and "Error writing" in text:
    # tensorstore's failed write on a full disk, sometimes without its errno, and sometimes wrapped in
    # the open that wrote ('Error opening "zarr" driver: Error writing ...').
    return errno.ENOSPC
  return found


def disk_full(exc: BaseException) -> Optional[BaseException]:
  """The exception in ``exc``'s cause/context chain that reports a full disk or quota (an OSError, or
  one that only says so in its message, as orbax's ValueErrors from tensorstore do), or None."""
  seen = set()
  while exc is not None and id(exc) not in seen:
    seen.add(id(exc))
    if _full_errno(exc) is not None:
      return exc
    exc = exc.__cause__ or exc.__context__
  return None


def disk_full_message(exc: BaseException, dirs: Sequence[str] = ()) -> Optional[str]:
  """One line for a full disk found in ``exc`` (see ``disk_full``), naming the file when known, else
  the directory of ``dirs`` the error mentions (or the first); None if ``exc`` is something else."""
  cause = disk_full(exc)
  if cause is None:
    return None
  where = getattr(cause, "filename", None)
  if not where:
    where = next((d for d in dirs if os.path.abspath(d) in str(cause)), dirs[0] if dirs else "a file")
  return f"disk full: cannot write {where} ({os.strerror(_full_errno(cause))})"


class _QuietFailedSaves(std_logging.Filter):
  """Drops orbax's log records about a save that failed for lack of space (its threads log the same
  exception the save raises, traceback and all); the run reports it once, in one line."""

  def filter(self, record):
    return not (record.exc_info and disk_full(record.exc_info[1]) is not None)


# Where orbax's failed saves are logged: its threads (absl), and asyncio's "Task exception was never
# retrieved" for its abandoned write tasks when they are collected.
_STORAGE_LOGGERS = ("absl", "asyncio")


@contextlib.contextmanager
def _quiet_storage_failures() -> Iterator[None]:
  """Within the block, orbax's own reports of a save that failed for lack of space are dropped: its
  log records, its worker threads' uncaught exceptions and their posts to a closed event loop. After a
  block that failed so, the filter and hooks stay: abandoned workers may still report the failure
  while the process exits, after the run has said it in one line."""
  quiet = _QuietFailedSaves()
  for name in _STORAGE_LOGGERS:
    std_logging.getLogger(name).addFilter(quiet)
  previous, previous_thread = sys.unraisablehook, threading.excepthook

  def hook(unraisable):
    if not (isinstance(unraisable.exc_value, RuntimeError)
            and str(unraisable.exc_value) == "Event loop is closed"):
      previous(unraisable)

  def thread_hook(args):
    if disk_full(args.exc_value) is None:
      previous_thread(args)

  sys.unraisablehook, threading.excepthook = hook, thread_hook
  failed = False
  try:
    yield
  except BaseException as e:
    failed = disk_full(e) is not None
    raise
  finally:
    if not failed:
      sys.unraisablehook, threading.excepthook = previous, previous_thread
      for name in _STORAGE_LOGGERS:
        std_logging.getLogger(name).removeFilter(quiet)


@contextlib.contextmanager
def own(workdirs: Sequence[str]) -> Iterator[None]:
  """Holds the lock of every one of ``workdirs`` for the block (all or none), removes their stale temp
  files, and turns a full disk inside the block into a one-line UserError."""
  with contextlib.ExitStack() as stack:
    for workdir in workdirs:
      stack.callback(acquire(workdir).release)
    for workdir in workdirs:
      for path in outputs.remove_stale_temps(workdir):
        logging.info("Removed %s (left by a killed writer)", path)
    stack.enter_context(_quiet_storage_failures())
    try:
      yield
    except UserError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      message = disk_full_message(e, workdirs)
      if message is None:
        raise
      raise UserError(f"{message}; what was written before is intact: free some space and re-run the "
                      f"same command to resume") from e


def check_output_file(path: str, flag: str) -> None:
  """Fails early, in one line, when the file ``path`` (given as ``flag``) could not be written: its
  directory is missing, is a file, or refuses writes (read-only file system, permissions). The probe
  is a temp file, removed at once."""
  directory = os.path.dirname(os.path.abspath(path))
  if os.path.isdir(path):
    raise UserError(f"{flag}={path} is a directory")
  blocker = blocking_file(directory)
  if blocker:
    raise UserError(f"{flag}={path}: cannot write there: {blocker} is not a directory")
  if not os.path.isdir(directory):
    raise UserError(f"{flag}={path}: directory {directory} does not exist")
  try:
    with outputs.atomic_path(os.path.join(directory, ".write-test")):
      raise _Probed()
  except _Probed:
    pass
  except OSError as e:
    raise UserError(f"{flag}={path}: cannot write to {directory}: {e.strerror}") from None


class _Probed(Exception):
  """Leaves ``atomic_path`` without renaming its temp file into place."""
