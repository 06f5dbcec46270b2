"""A fork server for the commands the tests start (``python -m siren_jax.main ...``, ``python -c ...``).

Each such command spends ~3 s of CPU importing jax, flax, optax, orbax, matplotlib... before it does
anything; a suite that starts a few hundred of them spends minutes on imports alone. ``run`` below is
``subprocess.run`` for those commands, served by forking a process that has already imported the
third-party packages and the siren_jax library modules: the child then runs the command as the
interpreter would (``runpy``'s ``-m`` path, or ``-c``'s code in a fresh ``__main__``), with the
request's argv, working directory, environment and file descriptors, and ends as the interpreter
would (SystemExit's status, an uncaught exception's traceback on stderr and status 1, atexit
handlers, non-daemon threads joined).

The server (tests/forkserver_process.py) is a separate interpreter started from the test process
(never a fork of pytest), one per pytest(-xdist) worker, on first use. It must stay safe to fork: it
never initialises XLA's backend (no devices, no arrays) and refuses to fork once it has a second
thread. XLA_FLAGS may differ per command: XLA reads it when the backend starts, in the child.

A command runs as a real subprocess instead ("falls back") whenever forking could change what it
does: Python options before ``-m``/``-c``, a script path, ``input``/``stdin`` or other arguments
``run`` does not model, an environment that differs from the server's in a variable read at import
time (JAX_*, XLA_* but XLA_FLAGS, PYTHON* but PYTHONPATH, BLAS threads, locale, HOME, TMPDIR...), a module
to run that the server has imported, or a ``sys.path`` under which a preloaded package would be
found somewhere else. Tests that need the command's real pid (signals, partial output while it runs)
keep using ``subprocess.Popen``, and a test of what a command imports (``sys.modules``) calls
``subprocess.run``: a served command finds the server's modules imported. One difference remains: a
forked command's /proc/self/cmdline (what ``ps`` shows, and what a run directory's lock records as
its holder's command) is the server's.

SIREN_JAX_TESTS_NO_FORKSERVER=1 in the environment turns the server off: every command is then a
real subprocess (to rule the server out when a test fails, or to time the difference).
"""

import atexit
import locale
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import warnings

from forkserver_process import ROOT, recv, send

DISABLE_ENV = "SIREN_JAX_TESTS_NO_FORKSERVER"
_FORKABLE_KWARGS = {"cwd", "env", "capture_output", "text", "universal_newlines", "timeout", "check",
                    "stdout", "stderr", "encoding", "errors"}


class _Server:
  """The test process's connection to its fork server (started on first use)."""

  def __init__(self):
    self.lock = threading.Lock()
    self.conn = self.proc = None
    self.env = None
    self.broken = None  # why the server cannot be used, once known

  def start(self):
    ours, theirs = socket.socketpair()
    log = tempfile.TemporaryFile()
    self.env = dict(os.environ)
    start = (f"import sys; sys.path[0] = {os.path.dirname(__file__)!r}; import forkserver_process; "
             f"forkserver_process.serve({theirs.fileno()})")  # not __main__: -m, -c commands replace it
    self.proc = subprocess.Popen([sys.executable, "-c", start], cwd=ROOT,
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 pass_fds=[theirs.fileno()], env=self.env)
    theirs.close()
    self.conn = ours
    try:
      ready, _ = recv(ours)
    except EOFError:
      log.seek(0)
      ready = {"ok": False, "why": "the fork server died: " + log.read().decode(errors="replace")}
    log.close()
    self.ready = ready
    if not ready["ok"]:
      self.broken = ready["why"]
      self.stop()  # every command then runs as a real subprocess: correct, only slower
      warnings.warn(f"tests/forkserver.py is off: {self.broken}")
    atexit.register(self.stop)

  def stop(self):
    if self.conn is not None:
      self.conn.close()
      self.conn = None
    if self.proc is not None:
      try:
        self.proc.wait(timeout=10)
      except subprocess.TimeoutExpired:
        self.proc.kill()
        self.proc.wait()
      self.proc = None

  def available(self):
    if self.conn is None and self.broken is None:
      self.start()
    return self.conn is not None


_SERVER = _Server()
FALLBACKS = []  # (command, why) of each request the server declined, for tests/test_forkserver.py


def server_pid():
  """The fork server's pid (the parent of every command it serves), starting it if need be; None
  when it is off or could not start."""
  with _SERVER.lock:
    return _SERVER.proc.pid if _SERVER.available() else None


def _parse(args, kwargs):
  """(mode, target, args) for a request the server may take, else None."""
  if os.environ.get(DISABLE_ENV) == "1" or set(kwargs) - _FORKABLE_KWARGS:
    return None
  if isinstance(args, (str, bytes)) or not all(isinstance(a, (str, os.PathLike)) for a in args):
    return None
  args = [os.fspath(a) for a in args]
  if len(args) < 3 or args[0] != sys.executable or args[1] not in ("-m", "-c"):
    return None
  if kwargs.get("capture_output") and ({"stdout", "stderr"} & set(kwargs)):
    return None
  if kwargs.get("cwd") is not None and not os.path.isdir(kwargs["cwd"]):
    return None  # subprocess.run's own error
  return args[1], args[2], list(args[3:])


def _target_fd(value, default_fd, files, stdout_fd=None):
  """The descriptor the child gets for a stdout/stderr argument of subprocess.run."""
  if value is None:
    return default_fd
  if value == subprocess.PIPE:
    f = tempfile.TemporaryFile()
    files.append(f)
    return f.fileno()
  if value == subprocess.DEVNULL:
    f = open(os.devnull, "wb")  # pylint: disable=consider-using-with
    files.append(f)
    return f.fileno()
  if value == subprocess.STDOUT:
    return stdout_fd
  return value if isinstance(value, int) else value.fileno()


def _decoded(data, kwargs):
  if data is None:
    return None
  if kwargs.get("text") or kwargs.get("universal_newlines") or kwargs.get("encoding") or \
      kwargs.get("errors"):
    encoding = kwargs.get("encoding") or ("utf-8" if sys.flags.utf8_mode else
                                          locale.getencoding())
    data = data.decode(encoding, kwargs.get("errors") or "strict")
    return data.replace("\r\n", "\n").replace("\r", "\n")
  return data


def _read(f):
  if f is None:
    return None
  f.seek(0)
  return f.read()


def run(args, **kwargs):
  """``subprocess.run(args, **kwargs)``, served by the fork server when that is faithful (see the
  module docstring); returns a ``subprocess.CompletedProcess`` either way."""
  parsed = _parse(args, kwargs)
  if parsed is None:
    return subprocess.run(args, **kwargs)  # pylint: disable=subprocess-run-check
  with _SERVER.lock:
    if not _SERVER.available():
      return subprocess.run(args, **kwargs)  # pylint: disable=subprocess-run-check
    return _run_forked(args, parsed, kwargs)


def _run_forked(args, parsed, kwargs):
  mode, target, rest = parsed
  env = dict(kwargs["env"]) if kwargs.get("env") is not None else dict(os.environ)
  cwd = os.path.abspath(os.fspath(kwargs["cwd"])) if kwargs.get("cwd") is not None else os.getcwd()
  capture = kwargs.get("capture_output")
  files = []
  out_fd = _target_fd(subprocess.PIPE if capture else kwargs.get("stdout"), 1, files)
  err_fd = _target_fd(subprocess.PIPE if capture else kwargs.get("stderr"), 2, files, out_fd)
  out_file = files[0] if (capture or kwargs.get("stdout") == subprocess.PIPE) else None
  err_file = files[-1] if (capture or kwargs.get("stderr") == subprocess.PIPE) else None
  try:
    os.fstat(0)
    in_fd = 0  # inherited, as subprocess.run's child inherits it (pytest puts /dev/null there)
  except OSError:
    files.append(open(os.devnull, "rb"))  # pylint: disable=consider-using-with
    in_fd = files[-1].fileno()
  try:
    request = {"mode": mode, "target": target, "args": rest, "env": env, "cwd": cwd}
    send(_SERVER.conn, request, [in_fd, out_fd, err_fd])
    reply, _ = recv(_SERVER.conn)
    if "fallback" in reply:
      FALLBACKS.append((args[1:3], reply["fallback"]))
      return subprocess.run(args, **kwargs)  # pylint: disable=subprocess-run-check
    returncode = _wait(reply["pid"], kwargs.get("timeout"), args, out_file, err_file, kwargs)
    stdout, stderr = (_decoded(_read(f), kwargs) for f in (out_file, err_file))
  finally:
    for f in files:
      f.close()
  proc = subprocess.CompletedProcess(args, returncode, stdout, stderr)
  if kwargs.get("check"):
    proc.check_returncode()
  return proc


def _wait(pid, timeout, args, out_file, err_file, kwargs):
  """The child's exit status; on ``timeout`` (or an interrupt of the tests) the child is killed, as
  subprocess.run kills its process."""
  _SERVER.conn.settimeout(timeout)
  try:
    return recv(_SERVER.conn)[0]["returncode"]
  except (socket.timeout, KeyboardInterrupt) as e:
    os.kill(pid, signal.SIGKILL)
    _SERVER.conn.settimeout(None)
    recv(_SERVER.conn)
    if isinstance(e, KeyboardInterrupt):
      raise
    raise subprocess.TimeoutExpired(args, timeout, _decoded(_read(out_file), kwargs),
                                    _decoded(_read(err_file), kwargs)) from None
  finally:
    if _SERVER.conn is not None:
      _SERVER.conn.settimeout(None)
