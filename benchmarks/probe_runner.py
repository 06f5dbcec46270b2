"""The probe's commands and shared environment: the tiny base flags, launching and stopping the entry
points, the clean-refusal tests, the Env every case works in, the reference run and sweep, and tmpfs
mounts. Part of benchmarks/probe.py."""

import concurrent.futures
import contextlib
import dataclasses
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

from benchmarks.probe_files import record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 300  # seconds for any one command
TINY = (("data.image", "{IMG}"), ("data.height", "0"), ("data.width", "0"), ("model.width", "32"),
        ("model.depth", "2"), ("train.batch_size", "0"), ("train.num_steps", "20"),
        ("train.log_every", "10"), ("train.checkpoint_every", "10"))
_STEPS = (("model.width", "32"), ("model.depth", "2"), ("train.num_steps", "20"), ("train.log_every", "10"),
          ("train.checkpoint_every", "10"))
# The other tasks' tiny runs: a 2000-sample WAV, four 16x16 frames, an analytic sphere.
TASK_BASES = {
    "image": ("configs/default.py", TINY),
    "audio": ("configs/audio.py", (("data.audio", "{WAV}"), ("train.batch_size", "0")) + _STEPS),
    "video": ("configs/video.py", (("data.video", "{VIDDIR}"), ("data.height", "0"), ("data.width", "0"),
                                   ("train.batch_size", "0")) + _STEPS),
    "sdf": ("configs/sdf.py", (("data.shape", "sphere"), ("data.num_points", "200"),
                               ("train.batch_size", "100"), ("sdf.mesh_resolution", "16"),
                               ("sdf.render_size", "8"), ("sdf.slice_size", "8"),
                               ("sdf.metric_points", "200"), ("eval.chunk_size", "4096")) + _STEPS),
}
RENDER_OUT = {"image": "png", "audio": "wav", "video": "gif", "sdf": "ply"}  # what a render writes
SWEEP = "--sweep=seed=0,1"
SWEEP_POINTS = ("seed=0", "seed=1")
MOUNT_SKIP = "needs root and tmpfs"


class ProbeError(Exception):
  """The probe itself could not set a case up (a missing file to damage, a failed mount)."""


# ---------------------------------------------------------------------------------------------------
# Commands


@dataclasses.dataclass
class Result:
  args: List[str]
  rc: Optional[int]  # None: timed out
  out: str
  err: str
  seconds: float


def launch(args: Sequence[str], log_base: str, timeout: int = TIMEOUT) -> Result:
  """Runs ``python ARGS`` in the checkout; its stdout and stderr are kept in LOG_BASE.{out,err}."""
  t0 = time.perf_counter()
  with open(log_base + ".out", "w+") as out, open(log_base + ".err", "w+") as err:
    try:
      rc = subprocess.run([sys.executable, *args], cwd=ROOT, stdout=out, stderr=err, timeout=timeout,
                          check=False).returncode
    except subprocess.TimeoutExpired:
      rc = None
    out.seek(0)
    err.seek(0)
    return Result(list(args), rc, out.read(), err.read(), time.perf_counter() - t0)


def start(args: Sequence[str], home: str, name: str) -> Tuple[subprocess.Popen, str]:
  """``python ARGS`` in the background, its output in HOME/NAME.log (a file: a stopped reader must
  not block it). Returns (process, log path)."""
  log = os.path.join(home, f"{name}.log")
  with open(log, "w") as f:
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
  return proc, log


def reap(proc: subprocess.Popen) -> None:
  """Ends a background process the probe started, if it still runs (stopped or not)."""
  if proc.poll() is None:
    proc.send_signal(signal.SIGCONT)
    proc.kill()
  proc.wait()


def _flag_name(arg: str) -> Optional[str]:
  return arg.split("=", 1)[0] if arg.startswith("--") else None


def base_args(prog: str, task: str = "image") -> List[str]:
  if prog in ("main", "sweep"):
    config, fields = TASK_BASES[task]
    args = [f"--config={config}", "--workdir={W}"] + [f"--config.{k}={v}" for k, v in fields]
    return args + ([SWEEP] if prog == "sweep" else [])
  return ["--workdir={W}", "--out={OUT}"] if prog == "render" else ["--workdir={W}"]


def command(prog: str, args: Sequence[str] = (), drop: Sequence[str] = (), base: bool = True,
            task: str = "image") -> List[str]:
  """``-m siren_jax.PROG`` with the tiny base flags of ``task`` (less ``drop`` and those ``args`` give
  again), then ``args``; still templated ({W}, {OUT}, {HOME}, {IMG}, ...)."""
  given = {_flag_name(a) for a in args} | set(drop)
  kept = [a for a in (base_args(prog, task) if base else []) if _flag_name(a) not in given]
  return ["-m", f"siren_jax.{prog}", *kept, *args]


def fill(args: Sequence[str], values: Dict[str, str]) -> List[str]:
  return [a.format(**values) for a in args]


def tiny(env: "Env", prog: str, workdir: str, *args: str, task: str = "image") -> List[str]:
  return fill(command(prog, args, task=task), dict(env.files, W=workdir))


def ref_key(task: str) -> str:
  """The reference record of a task's run ("run" for images, as before)."""
  return "run" if task == "image" else f"run:{task}"


def one_line_problems(result: Result, expect: str = "") -> List[str]:
  """Why ``result`` is not a clean refusal: exit 2, stderr exactly one non-empty line starting with
  "error: " (containing ``expect``), no traceback anywhere."""
  if result.rc is None:
    return ["timed out"]
  problems = []
  if result.rc != 2:
    problems.append(f"exit {result.rc}, expected 2")
  lines = result.err.rstrip("\n").split("\n")
  if len(lines) != 1 or not lines[0].startswith("error: ") or not lines[0][7:].strip():
    problems.append(f"stderr is {len(lines)} line(s), not one 'error: ' line")
  elif expect not in lines[0]:
    problems.append(f"the error line lacks {expect!r}")
  if "Traceback" in result.out + result.err:
    problems.append("a traceback")
  return problems


def error_line_problems(text: str, rc: Optional[int], want_rc: int, pattern: str) -> List[str]:
  """Why a command that may log first did not end in one ``error:`` line matching ``pattern`` (its
  last line) with exit ``want_rc`` and no traceback."""
  problems = [] if rc == want_rc else [f"exit {rc}, expected {want_rc}"]
  errors = [line for line in text.splitlines() if line.startswith("error:")]
  last = text.rstrip("\n").split("\n")[-1]
  if len(errors) != 1 or errors[0] != last:
    problems.append(f"{len(errors)} error line(s), the last line being {last[:150]!r}")
  elif not re.search(pattern, last):
    problems.append(f"the error line does not match {pattern!r}: {last[:200]!r}")
  if "Traceback" in text or "Exception ignored" in text:
    problems.append("a traceback")
  return problems


def last_line(text: str) -> str:
  return text.rstrip("\n").split("\n")[-1][:300]


# ---------------------------------------------------------------------------------------------------
# The environment shared by all cases


@dataclasses.dataclass
class Env:
  top: str
  files: Dict[str, str]
  ref_run: str = ""
  ref_sweep: str = ""
  ref_tasks: Dict[str, str] = dataclasses.field(default_factory=dict)  # task -> its reference run
  ref: Dict[str, dict] = dataclasses.field(default_factory=dict)
  mount_skip: str = ""  # why tmpfs faults are skipped ("" when they can run)
  _ids: "itertools.count" = dataclasses.field(default_factory=itertools.count)
  _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

  def home(self, name: str) -> str:
    """A new directory for one case (or one target of a case)."""
    with self._lock:
      n = next(self._ids)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    path = os.path.join(self.top, "cases", f"{n:03d}-{slug}")
    os.makedirs(path)
    return path

  def short(self, text: str) -> str:
    return str(text).replace(self.top, "TOP")


def copy_ref(env: Env, home: str, sweep: bool = False, task: str = "image") -> str:
  target = os.path.join(home, "sweep" if sweep else "run")
  source = env.ref_sweep if sweep else env.ref_run if task == "image" else env.ref_tasks[task]
  shutil.copytree(source, target, symlinks=True)
  return target


def make_references(env: Env, pool: concurrent.futures.Executor, tasks: Sequence[str] = ()) -> None:
  """The uninterrupted run and sweep every case compares with (or copies), and a run of each of
  ``tasks`` besides images."""
  env.ref_run, env.ref_sweep = os.path.join(env.top, "ref", "run"), os.path.join(env.top, "ref", "sweep")
  env.ref_tasks = {t: os.path.join(env.top, "ref", f"run-{t}") for t in tasks if t != "image"}
  os.makedirs(os.path.join(env.top, "ref"))
  wanted = [("main", env.ref_run, "image"), ("sweep", env.ref_sweep, "image")] + [
      ("main", path, t) for t, path in env.ref_tasks.items()]
  jobs = {pool.submit(launch, tiny(env, prog, path, task=t), path + ".log"): f"{prog} ({t})"
          for prog, path, t in wanted}
  for future in concurrent.futures.as_completed(jobs):
    result = future.result()
    if result.rc != 0:
      raise SystemExit(f"probe.py: the reference {jobs[future]} failed (exit {result.rc}):\n"
                       f"{result.err[-3000:]}")
    print(f"[probe] reference {jobs[future]} done in {result.seconds:.1f} s", file=sys.stderr, flush=True)
  env.ref["run"] = record(env.ref_run)
  for t, path in env.ref_tasks.items():
    env.ref[ref_key(t)] = record(path)
  for point in SWEEP_POINTS:
    env.ref[f"sweep/{point}"] = record(os.path.join(env.ref_sweep, point))
  broken = {k: v["error"] for k, v in env.ref.items() if "error" in v}
  if broken:
    raise SystemExit(f"probe.py: cannot read the references: {broken}")


def mount_problem(top: str) -> str:
  """"" when this process can mount (and unmount) a tmpfs, else why not."""
  if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("mount"):
    return MOUNT_SKIP
  path = os.path.join(top, "mount-check")
  os.makedirs(path, exist_ok=True)
  try:
    with tmpfs(path, "64k"):
      pass
  except ProbeError:
    return MOUNT_SKIP
  finally:
    with contextlib.suppress(OSError):
      os.rmdir(path)
  return ""


def _sh(*args: str) -> None:
  proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
  if proc.returncode != 0:
    raise ProbeError(f"{' '.join(args)}: {proc.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(path: str, size: str):
  """A tmpfs of ``size`` mounted at ``path`` for the block, always unmounted after."""
  _sh("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path)
  try:
    yield path
  finally:
    if subprocess.run(["umount", path], capture_output=True, check=False).returncode != 0:
      subprocess.run(["umount", "-l", path], capture_output=True, check=False)


def remount(path: str, options: str) -> None:
  _sh("mount", "-o", f"remount,{options}", path)
