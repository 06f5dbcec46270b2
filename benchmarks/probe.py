"""Probe: bad input and injected faults, through the command lines a user types.

    python -m benchmarks.probe [--workdir=DIR] [--out=FILE.json] [--only=REGEX] [--jobs=2]

Everything runs as subprocesses of the real entry points (``python -m siren_jax.main``, ``.sweep``,
``.render``, ``.report``) from the checkout, on a 32x32 image written here, with tiny settings: a 2x32
SIREN, 20 full-batch steps, a metrics row and a checkpoint every 10 (sweeps: ``--sweep=seed=0,1``).
Two finished references are made first: a run and a sweep, uninterrupted.

Bad inputs (the BAD table: main, sweep, render, report). Each runs against a fresh workdir path and
against a copy of the finished reference (a sweep's against the finished sweep), unless its definition
says otherwise and why. Handled cleanly means: exit status 2; stderr exactly one non-empty line, which
starts with ``error: `` (and contains the words the case expects, so that a probe typo cannot pass as a
refusal); no Python traceback in stdout or stderr; the fresh workdir not created (or left empty) and
nothing else appearing beside it or in the ``--out`` directory; the copy byte-identical before and after
(SHA-256 of every file, and the same directories).

Faults (the FAULTS table): signals mid-run (SIGKILL, SIGINT, SIGTERM; the process is SIGSTOPped at
the chosen moment first, so that the moment is exact), a second process on a busy run or sweep, a
render of a run that is training, damaged, deleted or orphaned checkpoint files, damaged metrics.jsonl,
orphan temp files, a full and a read-only file system (a tmpfs: needs root and ``mount``; skipped
otherwise), renders stopped midway. Each checks the outcome and that nothing was lost: resumed runs
must end with metrics rows (step, loss, psnr, lr) equal to the reference's and the same final
checkpoint (its ``state`` restored by orbax without a target; SHA-256 of the parameters and of the
whole state).

Data lost: a fault after which a previously complete file became unreadable or changed when it should
not have, a finished run's files changed, or a resumed run's results differ from the reference.

Prints one line per case (PASS, FAIL with the reasons, SKIP), then:

    bad inputs: N tried, M handled cleanly
    faults: N injected, M survived (K skipped: reason)
    data lost: none

--out writes it all as JSON (machine, git revision, date, seconds, each command's exit status and the
end of its stderr). Exit status 0 only when every case passed and no data was lost. The temporary
directory is removed at the end unless --workdir is given; there it keeps every run and every command's
stdout and stderr (``cases/*/``). --only=REGEX runs the cases whose "kind: name" matches (the
references are made only when a selected case needs them); --jobs sets how many cases run at once.

The whole probe (181 bad invocations, 23 faults) took 8.6 minutes on a 2-core Xeon VM while other jobs
shared it: 9.3 CPU-minutes, so about 5 minutes on two idle cores (benchmarks/RESULTS.md).
"""

import concurrent.futures
import contextlib
import dataclasses
import datetime
import functools
import glob
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from absl import app, flags, logging

from benchmarks import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 300  # seconds for any one command
TINY = (("data.image", "{IMG}"), ("data.height", "0"), ("data.width", "0"), ("model.width", "32"),
        ("model.depth", "2"), ("train.batch_size", "0"), ("train.num_steps", "20"),
        ("train.log_every", "10"), ("train.checkpoint_every", "10"))
SWEEP = "--sweep=seed=0,1"
SWEEP_POINTS = ("seed=0", "seed=1")
ROW_KEYS = ("step", "loss", "psnr", "lr")
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(?P<ext>(\.[^.]*)?)$")  # siren_jax.outputs'
MOUNT_SKIP = "needs root and tmpfs"


def define_flags() -> None:
  """Flags exist only when this file runs as a program, so that tests can import it."""
  flags.DEFINE_string("workdir", None, "Directory to work in (kept afterwards); default: a temporary "
                      "directory, removed at the end.")
  flags.DEFINE_string("out", None, "JSON file for the full results.")
  flags.DEFINE_string("only", None, "Run only the cases whose 'kind: name' matches this regex.")
  flags.DEFINE_integer("jobs", 2, "Cases run at once.")


class ProbeError(Exception):
  """The probe itself could not set a case up (a missing file to damage, a failed mount)."""


# ---------------------------------------------------------------------------------------------------
# Files: inputs, snapshots, records


def _write(path: str, data: bytes) -> None:
  with open(path, "wb") as f:
    f.write(data)


def write_inputs(data: str) -> Dict[str, str]:
  """The image every run fits and the bad files the cases name, in ``data``: template name -> path."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  os.makedirs(data, exist_ok=True)
  p = functools.partial(os.path.join, data)
  y, x = np.mgrid[0:32, 0:32] / 32.0
  rgb = np.stack([np.sin(3 * x + 2 * y), np.cos(4 * y - x), np.sin(5 * x * y)], -1)
  Image.fromarray(((rgb + 1) * 127.5).astype(np.uint8)).save(p("img.png"))
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
      p("noise.png"))
  with open(p("noise.png"), "rb") as f:
    _write(p("trunc.png"), f.read()[:400])
  _write(p("notimage.png"), b"not an image\n")
  _write(p("empty.png"), b"")
  Image.fromarray(np.zeros((1, 1), np.uint8)).save(p("one.png"))
  nan = np.full((8, 8), 0.5, np.float32)
  nan[2, 3] = np.nan
  Image.fromarray(nan).save(p("nan.tif"))
  Image.fromarray(np.arange(-32, 32, dtype=np.int32).reshape(8, 8) * 1000).save(p("i32.tif"))
  os.mkfifo(p("fifo.png"))
  os.symlink(p("loop_b.png"), p("loop_a.png"))
  os.symlink(p("loop_a.png"), p("loop_b.png"))
  os.mkdir(p("dir.png"))
  configs = {"CFG_SYNTAX": b"def get_config(:\n", "CFG_NOGET": b"x = 1\n",
             "CFG_BINARY": b"\x89PNG\r\n\x1a\n\x00binary", "CFG_IMPORT": b"import no_such_module_zz\n",
             "CFG_RETURNS3": b"def get_config():\n  return 3\n"}
  for name, text in configs.items():
    _write(p(f"{name.lower()}.py"), text)
  files = {name: p(f"{name.lower()}.py") for name in configs}
  files.update(IMG=p("img.png"), TRUNC=p("trunc.png"), NOTIMAGE=p("notimage.png"),
               EMPTY=p("empty.png"), ONE=p("one.png"), NAN_TIF=p("nan.tif"), I32_TIF=p("i32.tif"),
               FIFO=p("fifo.png"), LOOP=p("loop_a.png"), DIRIMG=p("dir.png"))
  return files


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def snapshot(directory: str) -> Dict[str, str]:
  """Relative path -> SHA-256 (files), "dir", "link:TARGET" or "special", for everything under
  ``directory`` ({} if it does not exist)."""
  out = {}
  for root, dirs, files in os.walk(directory):
    for name in dirs + files:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, directory)
      if os.path.islink(path):
        out[rel] = "link:" + os.readlink(path)
      elif name in dirs:
        out[rel] = "dir"
      else:
        out[rel] = _sha256(path) if os.path.isfile(path) else "special"
  return out


def describe_diff(before: Dict[str, str], after: Dict[str, str]) -> str:
  added = sorted(set(after) - set(before))
  removed = sorted(set(before) - set(after))
  changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
  parts = [f"{what} {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
           for what, names in (("added", added), ("removed", removed), ("changed", changed)) if names]
  return "; ".join(parts)


def read_rows(path: str) -> Tuple[List[dict], int]:
  """(the rows of a JSON-lines file that parse as objects, reduced to ROW_KEYS; unparsable lines)."""
  rows, bad = [], 0
  with open(path, errors="replace") as f:
    for line in f:
      if not line.strip():
        continue
      try:
        row = json.loads(line)
      except ValueError:
        row = None
      if isinstance(row, dict):
        rows.append({k: row.get(k) for k in ROW_KEYS})
      else:
        bad += 1
  return rows, bad


def checkpoint_steps(run: str) -> List[int]:
  ckpt = os.path.join(run, "checkpoints")
  if not os.path.isdir(ckpt):
    return []
  return sorted(int(n) for n in os.listdir(ckpt) if n.isdigit() and os.path.isdir(os.path.join(ckpt, n)))


_ORBAX = threading.Lock()


def state_digests(state_path: str) -> Dict[str, str]:
  """SHA-256 of a checkpoint's parameters and whole state, restored by orbax without a target."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from benchmarks import behaviour  # pylint: disable=g-import-not-at-top
  with _ORBAX:
    checkpointer = ocp.StandardCheckpointer()
    try:
      state = checkpointer.restore(state_path)
    finally:
      checkpointer.close()
  return {"params_sha256": behaviour.tree_sha256(state["params"])[0],
          "state_sha256": behaviour.tree_sha256(state)[0]}


def record(run: str) -> dict:
  """What a finished run must share with the reference: metrics rows, final checkpoint, summary."""
  try:
    rows, bad = read_rows(os.path.join(run, "metrics.jsonl"))
    steps = checkpoint_steps(run)
    if not steps:
      return {"error": "no checkpoint"}
    with open(os.path.join(run, "summary.json")) as f:
      summary = json.load(f)
    return {"rows": rows, "unparsable_rows": bad, "checkpoint_step": steps[-1],
            **state_digests(os.path.join(run, "checkpoints", str(steps[-1]), "state")),
            "summary_psnr": summary.get("psnr"), "summary_steps": summary.get("steps")}
  except Exception as e:  # pylint: disable=broad-except
    return {"error": f"cannot read the run: {type(e).__name__}: {e}"}


def compare_records(got: dict, ref: dict) -> List[str]:
  """How ``got`` differs from the reference ``ref`` ([] when it does not)."""
  if "error" in got:
    return [got["error"]]
  diffs = []
  steps = [r["step"] for r in got["rows"]]
  if len(set(steps)) != len(steps):
    diffs.append(f"duplicated metrics rows (steps {steps})")
  if got["rows"] != ref["rows"]:
    first = next((i for i, (a, b) in enumerate(zip(got["rows"], ref["rows"])) if a != b),
                 min(len(got["rows"]), len(ref["rows"])))
    diffs.append(f"metrics rows differ from row {first} (steps {steps} vs "
                 f"{[r['step'] for r in ref['rows']]})")
  for key in ("checkpoint_step", "params_sha256", "state_sha256", "summary_psnr", "summary_steps"):
    if got[key] != ref[key]:
      diffs.append(f"{key} {str(got[key])[:16]} != {str(ref[key])[:16]}")
  return diffs


def unreadable_files(run: str) -> List[str]:
  """Files under ``run`` that a complete write would have left readable but are not: JSON that does
  not parse, PNGs that do not decode, checkpoint files that differ from their step's digest, and
  complete metrics.jsonl lines that do not parse (an unterminated last line is a torn append, which
  readers skip)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  bad = []
  for rel, kind in sorted(snapshot(run).items()):
    path, name = os.path.join(run, rel), os.path.basename(rel)
    if kind == "dir" or TEMP_NAME.match(name) or ".orbax-checkpoint-tmp" in rel:
      continue
    try:
      if name == "metrics.jsonl":
        with open(path) as f:
          for line in f.read().split("\n")[:-1]:
            if line.strip():
              json.loads(line)
      elif name.endswith(".json") and "/" not in rel:
        with open(path) as f:
          json.load(f)
      elif name.endswith(".png"):
        with Image.open(path) as im:
          im.load()
    except Exception as e:  # pylint: disable=broad-except
      bad.append(f"{rel} ({type(e).__name__})")
  for step in checkpoint_steps(run):
    bad += [f"checkpoints/{step}: {why}" for why in digest_problems(os.path.join(run, "checkpoints",
                                                                                 str(step)))]
  return bad


def digest_problems(step_dir: str) -> List[str]:
  """Files of a checkpoint step that are missing or differ from its siren_digest.json."""
  path = os.path.join(step_dir, "siren_digest.json")
  if not os.path.exists(path):
    return []  # written when the step was complete; a step without one is restored unverified
  try:
    with open(path) as f:
      files = json.load(f)["files"]
  except (OSError, ValueError, KeyError) as e:
    return [f"its digest is unreadable ({type(e).__name__})"]
  return [rel for rel, entry in sorted(files.items())
          if not os.path.isfile(os.path.join(step_dir, rel))
          or _sha256(os.path.join(step_dir, rel)) != entry["sha256"]]


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


def base_args(prog: str) -> List[str]:
  if prog in ("main", "sweep"):
    args = ["--config=configs/default.py", "--workdir={W}"] + [f"--config.{k}={v}" for k, v in TINY]
    return args + ([SWEEP] if prog == "sweep" else [])
  return ["--workdir={W}", "--out={OUT}"] if prog == "render" else ["--workdir={W}"]


def command(prog: str, args: Sequence[str] = (), drop: Sequence[str] = (), base: bool = True) -> List[str]:
  """``-m siren_jax.PROG`` with the tiny base flags (less ``drop`` and those ``args`` give again),
  then ``args``; still templated ({W}, {OUT}, {HOME}, {IMG}, ...)."""
  given = {_flag_name(a) for a in args} | set(drop)
  kept = [a for a in (base_args(prog) if base else []) if _flag_name(a) not in given]
  return ["-m", f"siren_jax.{prog}", *kept, *args]


def fill(args: Sequence[str], values: Dict[str, str]) -> List[str]:
  return [a.format(**values) for a in args]


def tiny(env: "Env", prog: str, workdir: str, *args: str) -> List[str]:
  return fill(command(prog, args), dict(env.files, W=workdir))


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


def copy_ref(env: Env, home: str, sweep: bool = False) -> str:
  target = os.path.join(home, "sweep" if sweep else "run")
  shutil.copytree(env.ref_sweep if sweep else env.ref_run, target, symlinks=True)
  return target


def make_references(env: Env, pool: concurrent.futures.Executor) -> None:
  """The uninterrupted run and sweep every case compares with (or copies)."""
  env.ref_run, env.ref_sweep = os.path.join(env.top, "ref", "run"), os.path.join(env.top, "ref", "sweep")
  os.makedirs(os.path.join(env.top, "ref"))
  jobs = {pool.submit(launch, tiny(env, prog, path), os.path.join(env.top, "ref", prog)): prog
          for prog, path in (("main", env.ref_run), ("sweep", env.ref_sweep))}
  for future in concurrent.futures.as_completed(jobs):
    result = future.result()
    if result.rc != 0:
      raise SystemExit(f"probe.py: the reference {jobs[future]} failed (exit {result.rc}):\n"
                       f"{result.err[-3000:]}")
    print(f"[probe] reference {jobs[future]} done in {result.seconds:.1f} s", file=sys.stderr, flush=True)
  env.ref["run"] = record(env.ref_run)
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


# ---------------------------------------------------------------------------------------------------
# Bad inputs


@dataclasses.dataclass(frozen=True)
class Bad:
  """One bad invocation. ``args`` are templates: {W} the workdir of the target, {OUT} a PNG path in an
  empty directory, {HOME} the case's directory (holding fresh/somefile and out/{somefile,dir.png}),
  and the files of ``write_inputs`` ({IMG}, {TRUNC}, ...)."""
  prog: str  # main | sweep | render | report
  name: str
  args: Tuple[str, ...] = ()
  expect: Union[str, Dict[str, str]] = ""  # words of the error line; per target if a dict
  targets: Tuple[str, ...] = ("fresh", "existing")
  tamper: str = ""  # a TAMPER function applied to the existing copy first
  drop: Tuple[str, ...] = ()  # base flags left out
  base: bool = True  # start from the tiny base flags
  note: str = ""  # why the case's expectation or targets differ from the usual ones


def _o(overrides: str, expect: str, name: str = "", **kw) -> Bad:
  """A siren_jax.main case that sets config fields ("a.b=v c.d=w")."""
  return Bad("main", name or overrides, tuple(f"--config.{o}" for o in overrides.split()), expect, **kw)


def _edit_config(run: str, edit: Callable[[dict], None]) -> None:
  path = os.path.join(run, "config.json")
  with open(path) as f:
    config = json.load(f)
  edit(config)
  _write(path, json.dumps(config).encode())


TAMPER = {
    "config_width": lambda run: _edit_config(run, lambda c: c["model"].update(width=64)),
    "config_invalid": lambda run: _write(os.path.join(run, "config.json"), b'{"model": {"width": 3'),
    "config_list": lambda run: _write(os.path.join(run, "config.json"), b"[1, 2]\n"),
    "config_missing": lambda run: os.remove(os.path.join(run, "config.json")),
    "no_checkpoints": lambda run: shutil.rmtree(os.path.join(run, "checkpoints")),
}

NO_WORKDIR = "no workdir is given, so there is only the fresh target (nothing may appear beside it)"
FRESH_ONLY = "the workdir is the bad input itself, so there is no existing-run variant"
EXISTING_ONLY = "valid on a fresh workdir: only an existing run makes it bad"
SCALE = {"fresh": "workdir not found", "existing": "--scale must be a positive number"}
SCALE_NOTE = "the scale is checked against the run's size, so a missing workdir is reported first"

BAD = [
    # siren_jax.main: the command line and the config file
    Bad("main", "unknown flag", ("--bogus=1",), "bogus"),
    Bad("main", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("main", "missing --workdir", (), "--workdir is required", targets=("fresh",), drop=("--workdir",),
        note=NO_WORKDIR),
    Bad("main", "missing --config", ("--workdir={W}",), "--config is required", base=False),
    Bad("main", "config file missing", ("--config=configs/nope.py",), "config file not found"),
    Bad("main", "config file with a syntax error", ("--config={CFG_SYNTAX}",), "is not valid Python"),
    Bad("main", "config file that is not Python", ("--config={CFG_BINARY}",), "config file"),
    Bad("main", "config file without get_config", ("--config={CFG_NOGET}",), "defines no get_config()"),
    Bad("main", "config whose get_config returns 3", ("--config={CFG_RETURNS3}",), "ConfigDict"),
    Bad("main", "config importing a missing module", ("--config={CFG_IMPORT}",), "ModuleNotFoundError"),
    Bad("main", "config file that is a directory", ("--config={DIRIMG}",), "is not a file"),
    _o("model.colour=3", "unknown config field 'colour'", "unknown config key"),
    _o("model.omega=60", "did you mean 'omega_0'?", "misspelled config key"),
    _o("model.width=wide", "--config.model.width=wide", "wrong type"),
    # siren_jax.main: images
    _o("data.image=/nonexistent/x.png", "not found", "missing image file"),
    _o("data.image={NOTIMAGE}", "not an image", "not an image"),
    _o("data.image={EMPTY}", "not an image", "empty image file"),
    _o("data.image={TRUNC}", "truncated or corrupt", "truncated PNG"),
    _o("data.image={ONE}", "at least 2x2", "1x1 image"),
    _o("data.max_pixels=100", "max_pixels", "image over data.max_pixels"),
    _o("data.image={DIRIMG}", "is a directory", "image that is a directory"),
    _o("data.image={FIFO}", "not a regular file", "image that is a FIFO"),
    _o("data.image={LOOP}", "symbolic link loop", "image in a symlink loop"),
    _o("data.image={NAN_TIF}", "non-finite", "float TIFF with NaN"),
    _o("data.image={I32_TIF}", "32-bit integer image", "signed int32 TIFF"),
    _o("data.image=nosuchbuiltin", "unknown image 'nosuchbuiltin'", "unknown built-in image"),
    # siren_jax.main: config values
    _o("model.omega_0=0", "omega_0 must be > 0"),
    _o("model.omega_0=1e30", "float32 sine arguments"),
    _o("model.width=0", "model.width must be >= 1"),
    _o("model.depth=0", "model.depth must be >= 1"),
    _o("model.width=100000", "needs about"),
    _o("model.kind=garbage", "model.kind must be one of"),
    _o("model.rff_features=-1", "model.rff_features must be >= 1"),
    _o("model.rff_scale=nan", "model.rff_scale must be a finite number"),
    _o("model.pe_frequencies=-3", "model.pe_frequencies must be >= 0"),
    _o("train.num_steps=-5", "num_steps must be >= 0"),
    _o("train.learning_rate=0", "learning_rate must be > 0"),
    _o("train.learning_rate=nan", "learning_rate must be > 0"),
    _o("train.schedule=garbage", "train.schedule must be one of"),
    _o("train.batch_size=-1", "train.batch_size must be >= 0"),
    _o("train.log_every=0", "train.log_every must be >= 1"),
    _o("train.supervision=edges", "unknown term 'edges'"),
    _o("train.supervision=values:inf", "must be a finite number"),
    _o("train.gradient_method=garbage", "train.gradient_method must be one of"),
    _o("train.laplacian_method=garbage", "train.laplacian_method must be one of"),
    _o("model.kind=relu train.supervision=gradient train.gradient_method=propagate",
       "needs model.kind=siren", "propagate without a SIREN"),
    _o("data.blend_source=camera", "needs train.supervision=gradient", "blend without gradient supervision"),
    _o("data.blend_mode=garbage", "data.blend_mode must be"),
    _o("data.resize=stretch", "data.resize must be one of"),
    _o("seed=99999999999999999999", "seed must be an integer in [0, 2^32)"),
    _o("eval.crop_border=100", "leaves nothing"),
    # siren_jax.main: workdirs
    Bad("main", "workdir that is a file", ("--workdir={HOME}/fresh/somefile",), "it is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("main", "workdir under a file", ("--workdir={HOME}/fresh/somefile/run",), "is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    _o("model.omega_0=60", "different config", "resume with a different config", targets=("existing",),
       note=EXISTING_ONLY),
    _o("model.width=64", "does not fit the model", "config.json edited to another width",
       targets=("existing",), tamper="config_width",
       note="config.json and the command agree on width 64; the checkpoints hold width 32"),
    Bad("main", "config.json that is not JSON", (), "config.json", targets=("existing",),
        tamper="config_invalid", note="a tampered run directory"),
    Bad("main", "config.json holding a list", (), "holds a JSON list", targets=("existing",),
        tamper="config_list", note="a tampered run directory"),
    Bad("main", "config.json missing beside checkpoints", (), "no config.json", targets=("existing",),
        tamper="config_missing", note="a tampered run directory"),
    # siren_jax.sweep (the existing target is a finished sweep)
    Bad("sweep", "spec without '='", ("--sweep=model.omega_0",), "expected FIELD=V1,V2"),
    Bad("sweep", "repeated values", ("--sweep=seed=0,0",), "repeated values"),
    Bad("sweep", "unknown field", ("--sweep=model.colour=1,2",), "no such config field"),
    Bad("sweep", "value of the wrong type", ("--sweep=model.depth=two,3",), "is not a valid int"),
    Bad("sweep", "field given twice", ("--sweep=seed=0,1", "--sweep=seed=2,3"), "given twice"),
    Bad("sweep", "no --sweep", (), "give at least one --sweep", drop=("--sweep",)),
    Bad("sweep", "bad gradient_method value", ("--sweep=train.gradient_method=bogus,reverse",),
        "train.gradient_method must be one of"),
    Bad("sweep", "omega_0 of 0 in one point", ("--sweep=model.omega_0=0,30",), "omega_0 must be > 0"),
    Bad("sweep", "nonexistent image in one point", ("--sweep=data.image={IMG},/nonexistent/x.png",),
        "not found"),
    Bad("sweep", "nonexistent base image", ("--config.data.image=/nonexistent/x.png",),
        {"fresh": "image file not found", "existing": "different config"},
        note="over the finished sweep, its points' config.json no longer match: found first"),
    Bad("sweep", "unknown config key", ("--config.model.colour=3",), "unknown config field 'colour'"),
    Bad("sweep", "one point too large for memory", ("--sweep=model.width=32,100000",), "needs about"),
    Bad("sweep", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("sweep", "unknown flag", ("--bogus=1",), "bogus"),
    Bad("sweep", "workdir that is a file", ("--workdir={HOME}/fresh/somefile",), "it is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("sweep", "changed base config over a finished sweep", ("--config.train.learning_rate=0.01",),
        "different config", targets=("existing",), note=EXISTING_ONLY),
    # siren_jax.render (its fresh target is a --workdir that does not exist)
    Bad("render", "window not numbers", ("--window=a,b,c,d",), "--window must be four numbers"),
    Bad("render", "window reversed", ("--window=0.5,-0.5,-1,1",), "must satisfy"),
    Bad("render", "size not HxW", ("--size=abc",), "--size must be HxW"),
    Bad("render", "size 0x16", ("--size=0x16",), "must be between 1 and"),
    Bad("render", "size too large", ("--size=100000x100000",), "must be between 1 and"),
    Bad("render", "scale 0", ("--scale=0",), SCALE, note=SCALE_NOTE),
    Bad("render", "scale nan", ("--scale=nan",), SCALE, note=SCALE_NOTE),
    Bad("render", "both --scale and --size", ("--scale=2", "--size=8x8"), "give either --scale or --size"),
    Bad("render", "out not a PNG", ("--out={HOME}/out/x.jpg",), "--out must be a .png path"),
    Bad("render", "out under a file", ("--out={HOME}/out/somefile/x.png",), "is not a directory"),
    Bad("render", "out in a missing directory", ("--out={HOME}/out/nope/x.png",), "does not exist"),
    Bad("render", "out that is a directory", ("--out={HOME}/out/dir.png",), "is a directory"),
    Bad("render", "negative chunk size", ("--chunk_size=-1",), "--chunk_size must be >= 0"),
    Bad("render", "missing workdir", (), "workdir not found", targets=("fresh",),
        note="the fresh target is the case"),
    Bad("render", "not a run directory", ("--workdir={HOME}/fresh",), "has no config.json",
        targets=("fresh",), note="a directory holding only a file"),
    Bad("render", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("render", "missing --out", (), "--out is required", drop=("--out",)),
    Bad("render", "config.json that is not JSON", (), "config.json", targets=("existing",),
        tamper="config_invalid", note="a tampered run directory"),
    Bad("render", "config.json edited to another width", (), "does not fit the model",
        targets=("existing",), tamper="config_width", note="a tampered run directory"),
    # siren_jax.report
    Bad("report", "missing directory", (), "workdir not found", targets=("fresh",),
        note="the fresh target is the case"),
    Bad("report", "workdir that is a file", ("--workdir={HOME}/fresh/somefile",), "is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("report", "workdir under a file", ("--workdir={HOME}/fresh/somefile/run",), "is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("report", "neither a run nor a sweep", ("--workdir={HOME}/fresh",), "is neither a run",
        targets=("fresh",), note="a directory holding only a file"),
    Bad("report", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("report", "unknown flag", ("--bogus=1",), "bogus"),
    Bad("report", "missing --workdir", (), "--workdir is required", targets=("fresh",),
        drop=("--workdir",), note=NO_WORKDIR),
]


def _case_dirs(home: str) -> Tuple[str, str]:
  """HOME/fresh (holding a file, somefile) and HOME/out (somefile and a directory, dir.png)."""
  fresh, out = os.path.join(home, "fresh"), os.path.join(home, "out")
  for d in (fresh, out):
    os.makedirs(d)
    _write(os.path.join(d, "somefile"), b"x\n")
  os.mkdir(os.path.join(out, "dir.png"))
  return fresh, out


def _without_empty_run(snap: Dict[str, str]) -> Dict[str, str]:
  """A fresh workdir left empty counts as not created."""
  if snap.get("run") == "dir" and not any(k.startswith("run" + os.sep) for k in snap):
    snap = {k: v for k, v in snap.items() if k != "run"}
  return snap


def bad_target(case: Bad, target: str, env: Env) -> dict:
  """Runs ``case`` against one target; returns its record with ``problems`` and ``lost``."""
  home = env.home(f"bad {case.prog} {case.name} {target}")
  fresh, out = _case_dirs(home)
  if target == "existing":
    workdir = copy_ref(env, os.path.join(home), sweep=case.prog == "sweep")
  else:
    workdir = os.path.join(fresh, "run")
  if case.tamper:
    TAMPER[case.tamper](workdir)
  watched = [fresh, out] + ([workdir] if target == "existing" else [])
  before = [snapshot(d) for d in watched]
  args = fill(command(case.prog, case.args, case.drop, case.base),
              dict(env.files, W=workdir, OUT=os.path.join(out, "x.png"), HOME=home))
  result = launch(args, os.path.join(home, "command"))
  expect = case.expect.get(target, "") if isinstance(case.expect, dict) else case.expect
  problems, lost = one_line_problems(result, expect), []
  for directory, snap in zip(watched, before):
    after = _without_empty_run(snapshot(directory)) if directory == fresh else snapshot(directory)
    if after != snap:
      what = f"{os.path.relpath(directory, home)} changed: {describe_diff(snap, after)}"
      problems.append(what)
      if directory == workdir:
        lost.append(what)
  return {"target": target, "command": env.short(" ".join(["python", *args])), "rc": result.rc,
          "stderr": env.short(result.err[-2000:]), "seconds": round(result.seconds, 1),
          "problems": problems, "lost": lost}


def run_bad(case: Bad, env: Env) -> dict:
  checks = [bad_target(case, target, env) for target in case.targets]
  problems = [f"{c['target']}: {p}" for c in checks for p in c["problems"]]
  lost = [f"{case.prog}: {case.name} ({c['target']}): {what}" for c in checks for what in c["lost"]]
  return {"kind": "bad", "name": f"{case.prog}: {case.name}", "status": "FAIL" if problems else "PASS",
          "problems": problems, "lost": lost, "note": case.note, "targets": checks}


# ---------------------------------------------------------------------------------------------------
# Faults


class Check:
  """What one fault case found: problems (the case fails), data lost (also a problem), notes."""

  def __init__(self):
    self.problems: List[str] = []
    self.lost: List[str] = []
    self.notes: List[str] = []

  def need(self, ok: bool, problem: str) -> bool:
    if not ok:
      self.problems.append(problem)
    return ok

  def lose(self, what: str) -> None:
    self.lost.append(what)
    self.problems.append(f"data lost: {what}")


def stop_when(condition: Callable[[], bool], proc: subprocess.Popen, c: Check,
              timeout: float = TIMEOUT) -> bool:
  """SIGSTOPs ``proc`` as soon as ``condition`` holds; False (and a problem) if it ends first."""
  deadline = time.time() + timeout
  while not condition():
    if proc.poll() is not None:
      return c.need(False, f"the process ended (exit {proc.returncode}) before the fault was injected")
    if time.time() > deadline:
      return c.need(False, "timed out waiting for the moment to inject the fault")
    time.sleep(0.002)
  proc.send_signal(signal.SIGSTOP)
  return True


def checkpoint_saved(run: str, step: int) -> Callable[[], bool]:
  return lambda: os.path.isdir(os.path.join(run, "checkpoints", str(step)))


def rows_logged(run: str, n: int) -> Callable[[], bool]:
  def logged():
    try:
      with open(os.path.join(run, "metrics.jsonl")) as f:
        return f.read().count("\n") >= n
    except OSError:
      return False
  return logged


def locked(run: str) -> Callable[[], bool]:
  return lambda: os.path.exists(os.path.join(run, ".lock"))


TRIGGERS = {"after the first checkpoint": lambda run: checkpoint_saved(run, 10),
            "while saving the first checkpoint": lambda run: rows_logged(run, 2),
            "right after taking the lock": locked}


def describe(run: str) -> str:
  rows = read_rows(os.path.join(run, "metrics.jsonl"))[0] if os.path.exists(
      os.path.join(run, "metrics.jsonl")) else []
  temps = glob.glob(os.path.join(run, "checkpoints", "*orbax-checkpoint-tmp*"))
  return (f"metrics rows at steps {[r['step'] for r in rows]}, checkpoints {checkpoint_steps(run)}"
          + (f", {len(temps)} unfinished checkpoint" if temps else ""))


def same_as_reference(env: Env, c: Check, run: str, key: str) -> None:
  diffs = compare_records(record(run), env.ref[key])
  if diffs:
    c.lose(f"{env.short(run)} differs from the uninterrupted reference: {'; '.join(diffs[:3])}")


def leftovers(c: Check, directory: str) -> None:
  """A finished command leaves no lock and no temp files in ``directory`` (not its subdirectories)."""
  names = os.listdir(directory)
  temps = [n for n in names if TEMP_NAME.match(n)]
  c.need(not temps, f"temp files left in {os.path.basename(directory)}: {temps}")
  c.need(".lock" not in names, f".lock left in {os.path.basename(directory)} by a finished command")


def rerun(env: Env, c: Check, args: List[str], home: str, name: str = "rerun") -> Result:
  result = launch(args, os.path.join(home, name))
  c.need(result.rc == 0, f"{name} exited {result.rc}: {env.short(last_line(result.err))}")
  return result


STOPS = {signal.SIGKILL: (-signal.SIGKILL, ""), signal.SIGINT: (130, r"^error: interrupted"),
         signal.SIGTERM: (143, r"^error: terminated \(SIGTERM\)")}


def check_stop(c: Check, sig: int, code: Optional[int], log: str, directory: str) -> None:
  """The stopped process's exit: SIGKILL just dies (leaving its .lock file); SIGINT and SIGTERM stop
  cleanly, in one error line, and release the lock."""
  want, pattern = STOPS[sig]
  c.need(code == want, f"exit {code} after {signal.Signals(sig).name}, expected {want}")
  if pattern:
    c.problems += error_line_problems(log, code, want, pattern)
    c.need(not os.path.exists(os.path.join(directory, ".lock")), "the .lock file was left behind")
  elif os.path.exists(os.path.join(directory, ".lock")):
    c.notes.append("the killed process left its .lock file (a stale lock)")


def _read(path: str) -> str:
  with open(path, errors="replace") as f:
    return f.read()


def interrupted(env: Env, home: str, when: str, sig: int) -> Check:
  """A run stopped by ``sig`` at the moment ``when`` (SIGSTOPped there first), then the same command
  again: it must finish exactly as the uninterrupted reference did."""
  c = Check()
  run = os.path.join(home, "run")
  args = tiny(env, "main", run)
  proc, log = start(args, home, "interrupted")
  try:
    if not stop_when(TRIGGERS[when](run), proc, c):
      return c
    c.notes.append(f"stopped with {describe(run)}")
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    code = proc.wait(timeout=TIMEOUT)
  finally:
    reap(proc)
  check_stop(c, sig, code, _read(log), run)
  rerun(env, c, args, home)
  same_as_reference(env, c, run, "run")
  leftovers(c, run)
  return c


def second_process(env: Env, home: str, prog: str) -> Check:
  """A second ``prog`` on the directory of one that is running (SIGSTOPped after its first checkpoint,
  so that they overlap): refused in one line naming the first's pid, changing nothing; the first then
  finishes as the reference did, with no metrics row twice."""
  c = Check()
  workdir = os.path.join(home, "sweep" if prog == "sweep" else "run")
  args = tiny(env, prog, workdir)
  first, log = start(args, home, "first")
  try:
    watch = os.path.join(workdir, SWEEP_POINTS[0]) if prog == "sweep" else workdir
    if not stop_when(checkpoint_saved(watch, 10), first, c):
      return c
    before = snapshot(workdir)
    second = launch(args, os.path.join(home, "second"))
    after = snapshot(workdir)
  finally:
    if first.poll() is None:
      first.send_signal(signal.SIGCONT)
  c.problems += [f"second: {p}" for p in error_line_problems(
      second.err, second.rc, 2, rf"^error: {re.escape(workdir)} is in use by pid {first.pid} on .*"
                                rf"siren_jax\.{prog}")]
  if after != before:
    c.lose(f"the refused second process changed {env.short(workdir)}: {describe_diff(before, after)}")
  code = first.wait(timeout=TIMEOUT)
  c.need(code == 0, f"the first process exited {code}: {env.short(last_line(_read(log)))}")
  points = [os.path.join(workdir, p) for p in SWEEP_POINTS] if prog == "sweep" else [workdir]
  for point in points:
    key = f"sweep/{os.path.basename(point)}" if prog == "sweep" else "run"
    same_as_reference(env, c, point, key)
    leftovers(c, point)
  return c


def render_while_training(env: Env, home: str) -> Check:
  """Rendering a run that is training (SIGSTOPped after its first checkpoint) works from its latest
  checkpoint, changes none of its files, and the run then finishes as the reference did."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  c = Check()
  run, out = os.path.join(home, "run"), os.path.join(home, "live.png")
  args = tiny(env, "main", run)
  proc, log = start(args, home, "training")
  try:
    if not stop_when(checkpoint_saved(run, 10), proc, c):
      return c
    before = snapshot(run)
    render = launch(["-m", "siren_jax.render", f"--workdir={run}", f"--out={out}", "--size=32x32"],
                    os.path.join(home, "render"))
    after = snapshot(run)
  finally:
    if proc.poll() is None:
      proc.send_signal(signal.SIGCONT)
  if c.need(render.rc == 0, f"render exited {render.rc}: {env.short(last_line(render.err))}"):
    with Image.open(out) as im:
      c.need(im.size == (32, 32), f"the render is {im.size}, not 32x32")
  if after != before:
    c.lose(f"rendering changed the training run: {describe_diff(before, after)}")
  code = proc.wait(timeout=TIMEOUT)
  c.need(code == 0, f"the run exited {code}: {env.short(last_line(_read(log)))}")
  same_as_reference(env, c, run, "run")
  return c


def sweep_killed(env: Env, home: str) -> Check:
  """A sweep SIGKILLed mid-training, with temp files a killed writer leaves added to the sweep and a
  point directory, then run again: the temp files go, and every point ends as the reference's."""
  c = Check()
  sweep = os.path.join(home, "sweep")
  args = tiny(env, "sweep", sweep)
  proc, _ = start(args, home, "sweep")
  try:
    if not stop_when(checkpoint_saved(os.path.join(sweep, SWEEP_POINTS[0]), 10), proc, c):
      return c
    c.notes.append(f"killed with {SWEEP_POINTS[0]}: {describe(os.path.join(sweep, SWEEP_POINTS[0]))}")
    proc.kill()
    proc.wait()
  finally:
    reap(proc)
  orphans = [os.path.join(sweep, ".results.csv.k1ll3d00.csv"),
             os.path.join(sweep, SWEEP_POINTS[0], ".original.png.k1ll3d00.png")]
  for path in orphans:
    _write(path, b"half")
  rerun(env, c, args, home)
  c.need(not any(os.path.exists(p) for p in orphans), "the orphan temp files were not removed")
  c.need(os.path.exists(os.path.join(sweep, "results.csv")), "no results.csv after the re-run")
  for point in SWEEP_POINTS:
    same_as_reference(env, c, os.path.join(sweep, point), f"sweep/{point}")
    leftovers(c, os.path.join(sweep, point))
  leftovers(c, sweep)
  return c


def _random_bytes(step_dir: str) -> None:
  """64 random bytes over the middle of the step's largest file (its array data)."""
  files = [p for p in glob.glob(os.path.join(step_dir, "**"), recursive=True) if os.path.isfile(p)]
  if not files:
    raise ProbeError(f"no file in {step_dir} to damage")
  path = max(files, key=os.path.getsize)
  with open(path, "r+b") as f:
    f.seek(max(os.path.getsize(path) // 2 - 32, 0))
    f.write(os.urandom(64))


def _delete(pattern: str) -> Callable[[str], None]:
  def damage(step_dir: str) -> None:
    paths = glob.glob(os.path.join(step_dir, pattern))
    if not paths:
      raise ProbeError(f"nothing matches {pattern} in {step_dir}")
    for path in paths:
      if os.path.isdir(path):
        shutil.rmtree(path)
      else:
        os.remove(path)
  return damage


DAMAGE = {"64 random bytes in its largest file": _random_bytes,
          "its data files deleted": _delete("state/ocdbt.process_0/d/*"),
          "its state/_METADATA deleted": _delete("state/_METADATA"),
          "everything in it deleted": _delete("*")}


def damaged_latest(env: Env, home: str, damage: str) -> Check:
  """A finished run whose latest checkpoint (step 20) is damaged, run again: it falls back to step 10
  with a warning, keeps the damaged step as checkpoints/corrupt-20, and ends as the reference did."""
  c = Check()
  run = copy_ref(env, home)
  step_dir = os.path.join(run, "checkpoints", "20")
  DAMAGE[damage](step_dir)
  damaged = snapshot(step_dir)
  result = rerun(env, c, tiny(env, "main", run), home)
  c.need("checkpoint step 20" in result.err and "is damaged" in result.err,
         "no warning that checkpoint step 20 is damaged")
  aside = os.path.join(run, "checkpoints", "corrupt-20")
  c.need(os.path.isdir(aside) and snapshot(aside) == damaged,
         "the damaged step was not kept, as it was, in checkpoints/corrupt-20")
  same_as_reference(env, c, run, "run")
  leftovers(c, run)
  return c


def all_damaged(env: Env, home: str) -> Check:
  """Every checkpoint damaged: a re-run and a render each end in one error line, changing nothing."""
  c = Check()
  run = copy_ref(env, home)
  DAMAGE["64 random bytes in its largest file"](os.path.join(run, "checkpoints", "20"))
  DAMAGE["its data files deleted"](os.path.join(run, "checkpoints", "10"))
  before = snapshot(run)
  out = os.path.join(home, "out.png")
  for name, args in (("main", tiny(env, "main", run)),
                     ("render", ["-m", "siren_jax.render", f"--workdir={run}", f"--out={out}"])):
    result = launch(args, os.path.join(home, name))
    c.problems += [f"{name}: {p}" for p in error_line_problems(result.err, result.rc, 2,
                                                               "^error: no intact checkpoint in ")]
  c.need(not os.path.exists(out), "render wrote its --out anyway")
  after = snapshot(run)
  if after != before:
    c.lose(f"the run directory changed: {describe_diff(before, after)}")
  return c


def render_fallback(env: Env, home: str) -> Check:
  """Rendering a run whose latest checkpoint is damaged uses step 10, moving nothing (a reader)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  c = Check()
  run, out = copy_ref(env, home), os.path.join(home, "out.png")
  DAMAGE["64 random bytes in its largest file"](os.path.join(run, "checkpoints", "20"))
  before = snapshot(run)
  result = rerun(env, c, ["-m", "siren_jax.render", f"--workdir={run}", f"--out={out}"], home, "render")
  c.need("(step 10)" in result.err and "is damaged" in result.err,
         "render did not say it fell back to step 10")
  if result.rc == 0:
    with Image.open(out) as im:
      c.need(im.size == (32, 32), f"the render is {im.size}, not 32x32")
  after = snapshot(run)
  if after != before:
    c.lose(f"render changed the run directory: {describe_diff(before, after)}")
  return c


def damaged_metrics(env: Env, home: str, where: str) -> Check:
  """A finished run's metrics.jsonl with a garbage line in the middle, or a torn last line (a kill
  mid-append): report still works, a re-run keeps every row after the bad line (and drops it)."""
  c = Check()
  run = copy_ref(env, home)
  path = os.path.join(run, "metrics.jsonl")
  lines = _read(path).splitlines(keepends=True)
  if where == "middle":
    lines.insert(1, "this is not JSON {\n")
  else:
    lines.append('{"step": 30, "loss": 0.01, "ps')
  _write(path, "".join(lines).encode())
  rerun(env, c, ["-m", "siren_jax.report", f"--workdir={run}"], home, "report")
  result = rerun(env, c, tiny(env, "main", run), home)
  c.need("unreadable line" in result.err, "no warning about the unreadable line")
  same_as_reference(env, c, run, "run")
  c.need(read_rows(path)[1] == 0, "the bad line is still in metrics.jsonl")
  return c


def orphan_temps(env: Env, home: str) -> Check:
  """Temp files that writers killed inside an atomic write leave (".NAME.XXXXXXXX.EXT") in a finished
  run: the next start removes them (and says so), and the run is unchanged."""
  c = Check()
  run = copy_ref(env, home)
  orphans = [os.path.join(run, ".original.png.abcd1234.png"),
             os.path.join(run, ".summary.json.k1ll3d00.json")]
  for path in orphans:
    _write(path, b"half")
  result = rerun(env, c, tiny(env, "main", run), home)
  c.need(not any(os.path.exists(p) for p in orphans), "the orphan temp files were not removed")
  c.need(all(f"Removed {p}" in result.err for p in orphans), "the removal was not logged")
  same_as_reference(env, c, run, "run")
  leftovers(c, run)
  return c


def torn_checkpoint(env: Env, home: str) -> Check:
  """What a kill in the middle of saving step 20 leaves: no step 20, and orbax's unfinished
  ``20.orbax-checkpoint-tmp`` directory (a copy of the step without its commit markers and digest).
  The re-run resumes from step 10, cleans the unfinished directory up and ends as the reference."""
  c = Check()
  run = copy_ref(env, home)
  step, torn = os.path.join(run, "checkpoints", "20"), os.path.join(run, "checkpoints",
                                                                    "20.orbax-checkpoint-tmp")
  os.replace(step, torn)
  for path in glob.glob(os.path.join(torn, "**"), recursive=True):
    if os.path.basename(path) in ("commit_success.txt", "siren_digest.json", "_CHECKPOINT_METADATA"):
      os.remove(path)
  os.remove(os.path.join(run, "summary.json"))  # a run killed mid-save has not finished
  rerun(env, c, tiny(env, "main", run), home)
  c.need(not os.path.exists(torn), "the unfinished checkpoint directory is still there")
  same_as_reference(env, c, run, "run")
  leftovers(c, run)
  return c


def disk_full(env: Env, home: str) -> Check:
  """A run on a 200 KB tmpfs: one "disk full" line (exit 2), every file written before it intact;
  after the file system grows, the same command resumes and ends as the reference did."""
  c = Check()
  mnt = os.path.join(home, "mnt")
  os.makedirs(mnt)
  with tmpfs(mnt, "200k"):
    run = os.path.join(mnt, "run")
    args = tiny(env, "main", run)
    result = launch(args, os.path.join(home, "full"))
    c.problems += error_line_problems(result.err, result.rc, 2, "^error: disk full: .*re-run")
    c.notes.append(f"left when the disk filled: {describe(run)}")
    for what in unreadable_files(run):
      c.lose(f"{what} is unreadable after the disk filled up")
    rows = read_rows(os.path.join(run, "metrics.jsonl"))[0]
    if rows != env.ref["run"]["rows"][:len(rows)]:
      c.lose("the metrics rows written before the disk filled differ from the reference's")
    remount(mnt, "size=16m")
    rerun(env, c, args, home)
    same_as_reference(env, c, run, "run")
    leftovers(c, run)
  return c


def read_only(env: Env, home: str) -> Check:
  """A finished run on a file system remounted read-only: re-running it, a new run or sweep there,
  its report and a render into it are each refused in one line, and nothing changes."""
  c = Check()
  mnt = os.path.join(home, "mnt")
  os.makedirs(mnt)
  with tmpfs(mnt, "16m"):
    run = copy_ref(env, mnt)
    remount(mnt, "ro")
    before = snapshot(mnt)
    commands = {"re-run": tiny(env, "main", run), "new run": tiny(env, "main", f"{mnt}/new/run"),
                "new sweep": tiny(env, "sweep", f"{mnt}/sweep"),
                "report": ["-m", "siren_jax.report", f"--workdir={run}"],
                "render": ["-m", "siren_jax.render", f"--workdir={run}", f"--out={mnt}/x.png"]}
    for name, args in commands.items():
      result = launch(args, os.path.join(home, name.replace(" ", "-")))
      c.problems += [f"{name}: {p}" for p in one_line_problems(result, "Read-only file system")]
    after = snapshot(mnt)
    if after != before:
      c.lose(f"the read-only file system changed: {describe_diff(before, after)}")
  return c


def render_stopped(env: Env, home: str, sig: int) -> Check:
  """A large render stopped by ``sig`` once it writes: SIGTERM ends in one line (exit 143) leaving
  nothing in the --out directory; SIGKILL leaves no file under the --out name. The run is unchanged."""
  c = Check()
  run, out_dir = copy_ref(env, home), os.path.join(home, "out")
  os.makedirs(out_dir)
  before = snapshot(run)
  proc, log = start(["-m", "siren_jax.render", f"--workdir={run}", f"--out={out_dir}/big.png",
                     "--size=8192x8192"], home, "render")
  try:
    if not stop_when(lambda: any(n.startswith(".big.png.") for n in os.listdir(out_dir)), proc, c):
      return c
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    code = proc.wait(timeout=TIMEOUT)
  finally:
    reap(proc)
  left = sorted(os.listdir(out_dir))
  check_stop(c, sig, code, _read(log), out_dir)
  if sig == signal.SIGKILL:
    c.need("big.png" not in left, "a partial big.png under the --out name")
    if left:
      c.notes.append(f"the killed render left its temp file {left} (never the --out name)")
  else:
    c.need(not left, f"left in the --out directory: {left}")
  after = snapshot(run)
  if after != before:
    c.lose(f"rendering changed the run: {describe_diff(before, after)}")
  return c


@dataclasses.dataclass(frozen=True)
class Fault:
  name: str
  fn: Callable[..., Check]
  kwargs: Tuple[Tuple[str, object], ...] = ()
  mount: bool = False  # needs a tmpfs


KILL, INT, TERM = signal.SIGKILL, signal.SIGINT, signal.SIGTERM
FAULTS = [
    Fault("SIGKILL after the first checkpoint, then re-run", interrupted,
          (("when", "after the first checkpoint"), ("sig", KILL))),
    Fault("SIGKILL while saving the first checkpoint, then re-run", interrupted,
          (("when", "while saving the first checkpoint"), ("sig", KILL))),
    Fault("SIGKILL right after taking the lock (stale lock), then re-run", interrupted,
          (("when", "right after taking the lock"), ("sig", KILL))),
    Fault("SIGINT mid-run: exit 130, then re-run", interrupted,
          (("when", "after the first checkpoint"), ("sig", INT))),
    Fault("SIGTERM mid-run: exit 143, then re-run", interrupted,
          (("when", "after the first checkpoint"), ("sig", TERM))),
    Fault("two runs on one workdir", second_process, (("prog", "main"),)),
    Fault("a sweep started twice", second_process, (("prog", "sweep"),)),
    Fault("SIGKILL mid-sweep with orphan temp files, then re-run", sweep_killed),
    Fault("render of a run that is training", render_while_training),
    *[Fault(f"latest checkpoint with {d}, then re-run", damaged_latest, (("damage", d),)) for d in DAMAGE],
    Fault("every checkpoint damaged: main and render refuse", all_damaged),
    Fault("render past a damaged latest checkpoint", render_fallback),
    Fault("a garbage line in the middle of metrics.jsonl", damaged_metrics, (("where", "middle"),)),
    Fault("a torn last line in metrics.jsonl", damaged_metrics, (("where", "end"),)),
    Fault("orphan atomic-write temp files in a run", orphan_temps),
    Fault("an unfinished orbax checkpoint directory", torn_checkpoint),
    Fault("disk full (200 KB tmpfs), then grown and re-run", disk_full, mount=True),
    Fault("read-only file system", read_only, mount=True),
    Fault("SIGTERM during a render", render_stopped, (("sig", TERM),)),
    Fault("SIGKILL during a render", render_stopped, (("sig", KILL),)),
]


def run_fault(fault: Fault, env: Env) -> dict:
  name = fault.name
  if fault.mount and env.mount_skip:
    return {"kind": "fault", "name": name, "status": "SKIP", "problems": [], "lost": [],
            "note": env.mount_skip}
  home = env.home(f"fault {name}")
  t0 = time.perf_counter()
  try:
    c = fault.fn(env, home, **dict(fault.kwargs))
  except (ProbeError, OSError, subprocess.SubprocessError) as e:
    c = Check()
    c.problems.append(f"the probe could not run the case: {type(e).__name__}: {e}")
  return {"kind": "fault", "name": name, "status": "FAIL" if c.problems else "PASS",
          "problems": [env.short(p) for p in c.problems], "lost": [f"{name}: {env.short(w)}" for w in c.lost],
          "notes": [env.short(n) for n in c.notes], "seconds": round(time.perf_counter() - t0, 1)}


# ---------------------------------------------------------------------------------------------------
# Running it all


def select(only: Optional[str]) -> list:
  """The cases to run, faults first (they take longest, so the pool packs them best)."""
  cases = [("fault", f.name, f) for f in FAULTS] + [("bad", f"{b.prog}: {b.name}", b) for b in BAD]
  return [case for kind, name, case in cases if not only or re.search(only, f"{kind}: {name}")]


def needs_references(cases: Sequence) -> bool:
  return any(isinstance(c, Fault) or "existing" in c.targets for c in cases)


def run_case(case, env: Env) -> dict:
  try:
    return run_fault(case, env) if isinstance(case, Fault) else run_bad(case, env)
  except Exception as e:  # pylint: disable=broad-except
    kind, name = ("fault", case.name) if isinstance(case, Fault) else ("bad", f"{case.prog}: {case.name}")
    return {"kind": kind, "name": name, "status": "FAIL", "lost": [],
            "problems": [f"the probe failed on this case: {type(e).__name__}: {env.short(e)}"]}


def case_line(result: dict) -> str:
  line = f"{result['status']} {result['kind']}: {result['name']}"
  if result["status"] == "SKIP":
    return f"{line} (skipped: {result['note']})"
  return line + (f" -- {'; '.join(result['problems'])}" if result["problems"] else "")


def summarize(results: Sequence[dict]) -> List[str]:
  bad = [r for r in results if r["kind"] == "bad"]
  faults = [r for r in results if r["kind"] == "fault"]
  skipped = [r for r in faults if r["status"] == "SKIP"]
  reasons = ", ".join(sorted({r["note"] for r in skipped})) or "none"
  lost = [what for r in results for what in r["lost"]]
  return [f"bad inputs: {len(bad)} tried, {sum(r['status'] == 'PASS' for r in bad)} handled cleanly",
          f"faults: {len(faults) - len(skipped)} injected, {sum(r['status'] == 'PASS' for r in faults)} "
          f"survived ({len(skipped)} skipped: {reasons})",
          "data lost: " + ("; ".join(lost) if lost else "none")]


def probe(top: str, only: Optional[str], jobs: int) -> List[dict]:
  """Runs the selected cases in ``top``, printing one line per case in table order."""
  cases = select(only)
  env = Env(top, write_inputs(os.path.join(top, "data")))
  if any(isinstance(c, Fault) and c.mount for c in cases):
    env.mount_skip = mount_problem(top)
  results = []
  with concurrent.futures.ThreadPoolExecutor(max(jobs, 1)) as pool:
    if needs_references(cases):
      make_references(env, pool)
    futures = [pool.submit(run_case, case, env) for case in cases]
    for future in futures:
      results.append(future.result())
      print(case_line(results[-1]), flush=True)
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  F = flags.FLAGS
  logging.set_verbosity(logging.WARNING)  # orbax logs every restore at INFO
  if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # else the runs would ignore SIGINT too
    signal.signal(signal.SIGINT, signal.default_int_handler)
  rev, t0 = common.git_rev(), time.perf_counter()
  date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  top = os.path.abspath(F.workdir) if F.workdir else tempfile.mkdtemp(prefix="probe_")
  if F.workdir:
    if os.path.exists(top) and os.listdir(top):
      raise SystemExit(f"probe.py: --workdir={top} is not empty; give an empty or new directory")
    os.makedirs(top, exist_ok=True)
  try:
    results = probe(top, F.only, F.jobs)
  finally:
    if not F.workdir:
      shutil.rmtree(top, ignore_errors=True)
  seconds = time.perf_counter() - t0
  lines = summarize(results)
  print("\n".join(lines))
  print(f"[probe] {len(results)} cases in {seconds:.0f} s", file=sys.stderr)
  ok = all(r["status"] != "FAIL" for r in results) and not any(r["lost"] for r in results)
  if F.out:
    with open(F.out, "w") as f:
      json.dump({"benchmark": "probe", "git_rev": rev, "machine": common.machine(), "date": date,
                 "seconds": round(seconds, 1), "jobs": F.jobs, "only": F.only, "summary": lines,
                 "passed": ok, "cases": results}, f, indent=1)
      f.write("\n")
  sys.exit(0 if ok else 1)


if __name__ == "__main__":
  define_flags()
  app.run(main)
