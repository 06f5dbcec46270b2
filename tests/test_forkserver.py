"""tests/forkserver.py: a command it serves behaves as the same command run by a fresh interpreter
(exit statuses, output, tracebacks, argv, sys.path, cwd, environment), timeouts kill it, and what it
cannot serve faithfully runs as a real subprocess."""

import os
import subprocess
import sys

import pytest

import forkserver
from conftest import ROOT

PY = sys.executable


def _both(args, **kwargs):
  """(served, real): ``args`` through the fork server and as a plain subprocess."""
  kwargs = dict({"cwd": ROOT, "capture_output": True, "text": True, "timeout": 120}, **kwargs)
  before = len(forkserver.FALLBACKS)
  served = forkserver.run(args, **kwargs)
  assert len(forkserver.FALLBACKS) == before, forkserver.FALLBACKS[-1]
  return served, subprocess.run(args, check=False, **kwargs)


def _served(script, **kwargs):
  """Runs ``python -c script`` through the server, checking that it was forked there."""
  kwargs = dict({"cwd": ROOT, "capture_output": True, "text": True, "timeout": 120}, **kwargs)
  proc = forkserver.run([PY, "-c", "import os; print(os.getppid()); " + script], **kwargs)
  parent, _, rest = proc.stdout.partition("\n")
  assert int(parent) == forkserver.server_pid(), proc.stderr
  return subprocess.CompletedProcess(proc.args, proc.returncode, rest, proc.stderr)


@pytest.fixture(autouse=True)
def _server_on(monkeypatch):
  monkeypatch.delenv(forkserver.DISABLE_ENV, raising=False)
  assert forkserver.server_pid() is not None


@pytest.mark.parametrize("script", [
    "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)",
    "import sys; sys.exit('a message')",
    "raise ValueError('a bug')",
    "import json; json.loads('{')",  # a traceback through library frames
    "raise KeyboardInterrupt",  # the interpreter ends by SIGINT
    "import atexit, threading, time; atexit.register(print, 'atexit');"
    " threading.Thread(target=lambda: (time.sleep(0.2), print('thread'))).start()",
    "import sys; print(sys.argv, repr(sys.path[0]), __name__, sys.stdin.read())",
])
def test_a_served_command_is_a_fresh_interpreter(script):
  served, real = _both([PY, "-c", script, "arg 1", "--flag=2"])
  assert (served.returncode, served.stdout, served.stderr) == (real.returncode, real.stdout,
                                                              real.stderr)


def test_the_traceback_of_an_uncaught_exception_has_no_server_frames(tmp_path):
  (tmp_path / "boom.py").write_text("def f():\n  raise RuntimeError('boom')\n\nf()\n")
  env = dict(os.environ, PYTHONPATH=ROOT)
  served, real = _both([PY, "-m", "boom", "x"], cwd=tmp_path, env=env)
  assert served.returncode == real.returncode == 1
  assert served.stderr == real.stderr
  assert served.stderr.startswith("Traceback (most recent call last):\n")
  assert "forkserver" not in served.stderr and "RuntimeError: boom" in served.stderr


def test_a_command_gets_its_argv_cwd_environment_and_path(tmp_path):
  env = dict(os.environ, SIREN_JAX_TEST_VALUE="v=1", PYTHONPATH=ROOT)
  proc = _served("import sys; print(os.getcwd(), os.environ['SIREN_JAX_TEST_VALUE'], sys.argv,"
                 " sys.path[:2])", cwd=tmp_path, env=env)
  assert proc.stdout == f"{tmp_path} v=1 ['-c'] ['', '{ROOT}']\n"
  module = forkserver.run([PY, "-m", "siren_jax.main", "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
  assert module.returncode == 0 and "--workdir" in module.stdout, module.stderr


def test_an_absl_command_ends_as_it_would_alone():
  """The entry point without its required flags: absl's parsing, the one error line, exit status 2."""
  served, real = _both([PY, "-m", "siren_jax.main"])
  assert served.returncode == real.returncode == 2
  assert (served.stdout, served.stderr) == (real.stdout, real.stderr)
  assert served.stderr.startswith("error: ") and served.stderr.count("\n") == 1


def test_output_arguments_behave_as_subprocess_run(tmp_path):
  script = "import sys; print('o'); print('e', file=sys.stderr); sys.exit(1)"
  merged = forkserver.run([PY, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
  assert (merged.returncode, merged.stdout, merged.stderr) == (1, b"o\ne\n", None)
  with open(tmp_path / "out", "wb") as f:
    quiet = forkserver.run([PY, "-c", script], cwd=ROOT, stdout=f, stderr=subprocess.DEVNULL)
  assert (quiet.stdout, quiet.stderr, (tmp_path / "out").read_bytes()) == (None, None, b"o\n")
  with pytest.raises(subprocess.CalledProcessError):
    forkserver.run([PY, "-c", script], cwd=ROOT, capture_output=True, check=True)


def test_each_command_gets_its_own_random_state():
  draws = {_served("import numpy as np; print(np.random.rand())").stdout for _ in range(2)}
  assert len(draws) == 2


def test_a_timeout_kills_the_command(tmp_path):
  pid_file = tmp_path / "pid"
  script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
  with pytest.raises(subprocess.TimeoutExpired):
    forkserver.run([PY, "-c", script], cwd=ROOT, capture_output=True, timeout=3)
  with pytest.raises(ProcessLookupError):  # killed, and reaped by the server
    os.kill(int(pid_file.read_text()), 0)
  assert _served("print('next')").stdout == "next\n"  # the server serves on


@pytest.mark.parametrize("case", ["import-time env", "elsewhere", "python option", "stdin"])
def test_what_a_fork_could_change_runs_as_a_subprocess(case, tmp_path):
  script = "import os; print(os.getppid() == int(os.environ['TEST_PARENT']))"
  env = dict(os.environ, TEST_PARENT=str(os.getpid()))
  args, kwargs = [PY, "-c", script], {"cwd": ROOT, "env": env}
  if case == "import-time env":
    kwargs["env"] = dict(env, JAX_ENABLE_X64="1")
  elif case == "elsewhere":  # siren_jax is not importable from there: it must not be preloaded
    kwargs["cwd"] = tmp_path
  elif case == "python option":
    args = [PY, "-I", "-c", script]
  else:
    kwargs["input"] = ""
  before = len(forkserver.FALLBACKS)
  proc = forkserver.run(args, capture_output=True, text=True, timeout=120, **kwargs)
  assert (proc.returncode, proc.stdout) == (0, "True\n"), proc.stderr  # our own child
  assert len(forkserver.FALLBACKS) == before + (case in ("import-time env", "elsewhere"))


def test_the_escape_hatch_turns_the_server_off(monkeypatch):
  monkeypatch.setenv(forkserver.DISABLE_ENV, "1")
  proc = forkserver.run([PY, "-c", "import os; print(os.getppid())"], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.stdout == f"{os.getpid()}\n"
