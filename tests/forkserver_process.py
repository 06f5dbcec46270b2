"""The fork server's process (tests/forkserver.py is its client, and describes it): the imports made
once, the checks that a request can be forked faithfully, and the child that becomes the command.
Also the wire protocol both sides speak: a pickled message, with file descriptors passed alongside
(SCM_RIGHTS) so that the command writes where the caller's own child would."""

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
import sys
import tempfile
import threading
import traceback
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "siren_jax"

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


# ---------------------------------------------------------------------------------------- protocol


def send(sock, obj, fds=()):
  """Sends ``obj`` (pickled) over the Unix socket ``sock``, with the descriptors ``fds``."""
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


def recv(sock, maxfds=0):
  """(object, descriptors) of the next message on ``sock``; EOFError once the peer is gone."""
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
  send(conn, ready)
  while ready["ok"]:
    try:
      req, fds = recv(conn, maxfds=3)
    except EOFError:
      return
    why = _why_not(req, base_path, base_env, found)
    if why:
      for fd in fds:
        os.close(fd)
      send(conn, {"fallback": why})
      continue
    req["path"] = _request_path(req, base_path)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
      _become_child(conn, fds, req)
    for fd in fds:
      os.close(fd)
    send(conn, {"pid": pid})
    send(conn, {"returncode": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])})
