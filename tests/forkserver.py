"""A fork server for the commands the tests start (``python -m siren_jax.main ...``, ``python -c ...``).

Each such command spends ~3 s of CPU importing jax, flax, optax, orbax, matplotlib... before it does
anything; a suite that starts a few hundred of them spends minutes on imports alone. ``run`` below is
``subprocess.run`` for those commands, served by forking a process that has already imported the
third-party packages and the siren_jax library modules: the child then runs the command as the
interpreter would (``runpy``'s ``-m`` path, or ``-c``'s code in a fresh ``__main__``), with the
request's argv, working directory, environment and file descriptors, and ends as the interpreter
would (SystemExit's status, an uncaught exception's traceback on stderr and status 1, atexit
handlers, non-daemon threads joined).

The server is a separate interpreter started from the test process (never a fork of pytest), one per
pytest(-xdist) worker, on first use. It must stay safe to fork: it never initialises XLA's backend
(no devices, no arrays) and refuses to fork once it has a second thread.

A command runs as a real subprocess instead ("falls back") whenever forking could change what it
does: Python options before ``-m``/``-c``, a script path, ``input``/``stdin`` or other arguments
``run`` does not model, an environment that differs from the server's in a variable read at import
time (JAX_*, XLA_*, PYTHON* other than PYTHONPATH, BLAS threads, locale, HOME, TMPDIR...), a module
to run that the server has imported, or a ``sys.path`` under which a preloaded package would be
found somewhere else. Tests that need the command's real pid (signals, partial output while it runs)
keep using ``subprocess.Popen``, and a test of what a command imports (``sys.modules``) calls
``subprocess.run``: a served command finds the server's modules imported. One difference remains: a
forked command's /proc/self/cmdline (what ``ps`` shows, and what a run directory's lock records as
its holder's command) is the server's.

SIREN_JAX_TESTS_NO_FORKSERVER=1 in the environment turns the server off: every command is then a
real subprocess (to rule the server out when a test fails, or to time the difference).
"""

import ast
import atexit
import builtins
import importlib
import importlib.machinery
import importlib.util
import os
import pickle
import pkgutil
import runpy
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
import types
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "siren_jax"
DISABLE_ENV = "SIREN_JAX_TESTS_NO_FORKSERVER"

# Imported once by the server. Only what the commands import anyway (each is also imported by a
# siren_jax module or by the commands' own imports); the library's modules are found at start-up.
THIRD_PARTY = ("numpy", "scipy", "scipy.sparse", "scipy.sparse.linalg", "scipy.special", "PIL.Image",
               "absl.app", "absl.flags", "absl.logging", "ml_collections",
               "ml_collections.config_flags", "jax", "jax.numpy", "flax", "flax.linen", "optax",
               "orbax.checkpoint", "matplotlib", "skimage", "trimesh", "av")

# Environment variables a process reads while it imports (so a forked child would keep the server's
# values): JAX's and XLA's configuration, the interpreter's, BLAS pools, locale and encodings,
# matplotlib's and the temp directory's locations. PYTHONPATH is handled by resolving sys.path.
IMPORT_TIME_ENV = ("JAX_", "XLA_", "TF_", "TPU_", "CUDA", "NVIDIA", "PYTHON", "OPENBLAS", "OMP_",
                   "MKL_", "GOTO", "NPY_", "NUMPY", "SCIPY", "MPL", "MATPLOTLIB", "LD_", "LC_", "LANG",
                   "HOME", "TMPDIR", "TEMP", "TMP", "TZ", "ABSL", "XDG_", "SIREN_JAX_TESTS_XLA")

_HEADER = struct.Struct("!Q")
_FORKABLE_KWARGS = {"cwd", "env", "capture_output", "text", "universal_newlines", "timeout", "check",
                    "stdout", "stderr", "encoding", "errors"}


# ---------------------------------------------------------------------------------------- protocol


def _send(sock, obj, fds=()):
  payload = pickle.dumps(obj)
  socket.send_fds(sock, [_HEADER.pack(len(payload))], list(fds))
  sock.sendall(payload)


def _recv_exact(sock, n):
  chunks = []
  while n:
    chunk = sock.recv(min(n, 1 << 20))
    if not chunk:
      raise EOFError("fork server closed the connection")
    chunks.append(chunk)
    n -= len(chunk)
  return b"".join(chunks)


def _recv(sock, maxfds=0):
  header, fds, _, _ = socket.recv_fds(sock, _HEADER.size, maxfds)
  if not header:
    raise EOFError("fork server closed the connection")
  if len(header) < _HEADER.size:
    header += _recv_exact(sock, _HEADER.size - len(header))
  return pickle.loads(_recv_exact(sock, _HEADER.unpack(header)[0])), fds


# ------------------------------------------------------------------------------------------ server


def _library_modules(path, prefix):
  """The package's modules and subpackages, found on disk (importing a package to walk it could
  run something we must not run)."""
  names = []
  for info in pkgutil.iter_modules(path, prefix):
    names.append(info.name)
    if info.ispkg:
      sub = os.path.join(path[0], info.name.rsplit(".", 1)[-1])
      names += _library_modules([sub], info.name + ".")
  return names


def _output_so_far():
  """What this process has written to its stdout/stderr (one file, see ``_Server.start``)."""
  sys.stdout.flush()
  sys.stderr.flush()
  return os.pread(1, 1 << 16, 0).decode(errors="replace")


def _flag_names():
  from absl import flags  # pylint: disable=g-import-not-at-top
  return set(flags.FLAGS)


def _clean_to_import(name):
  """Whether importing ``name`` leaves the process as a fresh interpreter that imports it would be:
  no absl flags defined (a command defines its flags at import, and would define them twice), no
  command imported (``-m`` runs it), no output, no thread, no XLA backend. Tried in a forked child,
  so that a module that fails stays unimported here."""
  pid = os.fork()
  if pid == 0:
    code = 1
    try:
      with tempfile.TemporaryFile() as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        before, modules = _flag_names(), set(sys.modules)
        importlib.import_module(name)
        commands = [m for m in set(sys.modules) - modules
                    if m.startswith(PACKAGE + ".") and _is_command(m)]
        code = 0 if (_flag_names() == before and not _output_so_far() and _fork_safe()
                     and not commands) else 1
    finally:
      os._exit(code)  # pylint: disable=protected-access
  return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def _is_command(name):
  """Whether module ``name`` is a program (``if __name__ == "__main__":``): run as ``-m``, it must not
  be imported already (runpy would warn and run a second copy)."""
  spec = importlib.util.find_spec(name)
  if not spec or not spec.origin or not spec.origin.endswith(".py"):
    return False
  with open(spec.origin, encoding="utf-8") as f:
    tree = ast.parse(f.read())
  return any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
             and "__name__" in ast.unparse(node.test) for node in tree.body)


def _preload():
  for name in THIRD_PARTY:
    importlib.import_module(name)
  skipped = []
  package = importlib.import_module(PACKAGE)
  for name in _library_modules(package.__path__, PACKAGE + "."):
    if name not in sys.modules and _clean_to_import(name):
      importlib.import_module(name)
    elif name not in sys.modules:
      skipped.append(name)
  return skipped


def _fork_safe():
  """One thread (Python's or native) and no XLA backend: what makes a fork a copy of a fresh
  interpreter rather than of a half-used runtime."""
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  tasks = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
  return tasks == 1 and threading.active_count() == 1 and not xla_bridge.backends_are_initialized()


def _request_path(req, base_path):
  """sys.path as ``python -m``/``-c`` would start it for ``req``: the working directory (or '' for
  -c), then PYTHONPATH's entries made absolute, then the interpreter's own entries."""
  cwd = req["cwd"]
  first = "" if req["mode"] == "-c" else cwd
  extra = req["env"].get("PYTHONPATH", "")
  extra = [os.path.join(cwd, p) if p else cwd for p in extra.split(os.pathsep)] if extra else []
  return [first] + [os.path.normpath(p) for p in extra] + base_path


def _path_found(path):
  """{name: origin} of the preloaded top-level modules that ``path`` finds where they were loaded
  from (the others came through other importers, which sys.path does not steer)."""
  found = {}
  for name, module in list(sys.modules.items()):
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    if "." in name or not origin or not os.path.isabs(origin):
      continue
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is not None and spec.origin == origin:
      found[name] = origin
  return found


def _shadowed(path, cwd, found):
  """A preloaded top-level package that ``path`` would find elsewhere."""
  resolved = [os.path.join(cwd, p) if not os.path.isabs(p) else p for p in path]
  for name, origin in found.items():
    spec = importlib.machinery.PathFinder.find_spec(name, resolved)
    if spec is None or spec.origin != origin:
      return name
  return None


def _why_not(req, base_path, base_env, found):
  """Why ``req`` cannot be forked faithfully (None: it can)."""
  if not _fork_safe():
    return "the server has threads or an XLA backend"
  changed = {k for k in set(req["env"]) | set(base_env) if req["env"].get(k) != base_env.get(k)}
  changed -= {"PYTHONPATH", "XLA_FLAGS"}  # XLA parses its flags when the backend starts, in the child
  sensitive = sorted(k for k in changed if k.startswith(IMPORT_TIME_ENV))
  if sensitive:
    return f"import-time environment differs: {', '.join(sensitive)}"
  if req["mode"] == "-m" and req["target"] in sys.modules:
    return f"{req['target']} is imported by the server"  # runpy would warn, and run it twice
  shadow = _shadowed(_request_path(req, base_path), req["cwd"], found)
  if shadow:
    return f"{shadow} would be imported from elsewhere"
  return None


def _run_request(req):
  """In the forked child: becomes the command. Ends by raising SystemExit out of the server's frames
  (so the interpreter finalises as after any program) or by the interpreter's own exit paths."""
  os.environ.clear()
  os.environ.update(req["env"])
  os.chdir(req["cwd"])
  importlib.invalidate_caches()
  if "numpy.random" in sys.modules:  # a fresh interpreter's global RandomState has its own seed
    sys.modules["numpy.random"].seed()
  sys.path[:] = req["path"]
  sys.argv = [req["mode"], *req["args"]]
  main = types.ModuleType("__main__")  # an interpreter's first __main__, before -m/-c fill it
  main.__loader__ = importlib.machinery.BuiltinImporter
  main.__annotations__ = {}
  main.__builtins__ = builtins
  sys.modules["__main__"] = main
  try:
    if req["mode"] == "-m":
      runpy._run_module_as_main(req["target"], True)  # pylint: disable=protected-access  # what -m calls
    else:
      exec(compile(req["target"], "<string>", "exec"), main.__dict__)  # pylint: disable=exec-used
  except SystemExit:
    raise
  except BaseException as e:  # pylint: disable=broad-except
    _uncaught(e)
  sys.exit(0)


def _uncaught(e):
  """Prints ``e`` as the interpreter prints an uncaught exception (without this module's frames)
  and exits with its status: 1, or death by SIGINT for KeyboardInterrupt."""
  tb = e.__traceback__
  while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
    tb = tb.tb_next
  sys.excepthook(type(e), e.with_traceback(tb), tb)  # the hook prints e.__traceback__
  _INTERRUPTED[0] = isinstance(e, KeyboardInterrupt)
  sys.exit(1)


_INTERRUPTED = [False]


def _die_if_interrupted():
  """Registered before anything is imported, so it runs after every other atexit handler: an
  uncaught KeyboardInterrupt ends the interpreter by SIGINT, as a shell expects."""
  if _INTERRUPTED[0]:
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def _become_child(conn, fds, req):
  conn.close()
  for target, fd in enumerate(fds):
    os.dup2(fd, target)
  for fd in set(fds):
    os.close(fd)
  _run_request(req)


def serve(fd):
  """The server's loop over requests on socket ``fd``; returns when the test process goes away."""
  conn = socket.socket(fileno=fd)
  atexit.register(_die_if_interrupted)
  sys.path[0] = ROOT
  base_env = dict(os.environ)
  try:
    skipped = _preload()
    ready = {"ok": True, "skipped": skipped, "preloaded": sorted(sys.modules)}
  except Exception:  # pylint: disable=broad-except
    ready = {"ok": False, "why": traceback.format_exc()}
  output = _output_so_far()
  if output:
    ready = {"ok": False, "why": f"importing printed: {output[:2000]}"}
  base_path = sys.path[1:]
  found = _path_found(sys.path)
  _send(conn, ready)
  while ready["ok"]:
    try:
      req, fds = _recv(conn, maxfds=3)
    except EOFError:
      return
    why = _why_not(req, base_path, base_env, found)
    if why:
      for fd in fds:
        os.close(fd)
      _send(conn, {"fallback": why})
      continue
    req["path"] = _request_path(req, base_path)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
      _become_child(conn, fds, req)
    for fd in fds:
      os.close(fd)
    _send(conn, {"pid": pid})
    _send(conn, {"returncode": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])})


# ------------------------------------------------------------------------------------------ client


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
    start = (f"import sys; sys.path[0] = {os.path.dirname(__file__)!r}; import forkserver; "
             f"forkserver.serve({theirs.fileno()})")  # not __main__: -m and -c commands replace that
    self.proc = subprocess.Popen([sys.executable, "-c", start], cwd=ROOT,
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 pass_fds=[theirs.fileno()], env=self.env)
    theirs.close()
    self.conn = ours
    try:
      ready, _ = _recv(ours)
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
                                          __import__("locale").getencoding())
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
    _send(_SERVER.conn, request, [in_fd, out_fd, err_fd])
    reply, _ = _recv(_SERVER.conn)
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
    return _recv(_SERVER.conn)[0]["returncode"]
  except (socket.timeout, KeyboardInterrupt) as e:
    os.kill(pid, signal.SIGKILL)
    _SERVER.conn.settimeout(None)
    _recv(_SERVER.conn)
    if isinstance(e, KeyboardInterrupt):
      raise
    raise subprocess.TimeoutExpired(args, timeout, _decoded(_read(out_file), kwargs),
                                    _decoded(_read(err_file), kwargs)) from None
  finally:
    if _SERVER.conn is not None:
      _SERVER.conn.settimeout(None)
