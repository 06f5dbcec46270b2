"""The probe's faults: the FAULTS table and its runner, and the faults made with signals and second
processes (runs, sweeps and renders stopped midway, two processes on one directory, a render of a
run that is training); the damage faults are in benchmarks/probe_damage.py. Part of
benchmarks/probe.py."""

import dataclasses
import os
import re
import signal
import subprocess
import time
from typing import Callable, Tuple

from benchmarks.probe_checks import (TRIGGERS, Check, check_stop, checkpoint_saved, checkpoint_verified,
                                     describe, leftovers, read_text, rerun, same_as_reference,
                                     stop_when)
from benchmarks.probe_damage import (DAMAGE, all_damaged, damaged_latest, damaged_metrics, disk_full,
                                     orphan_temps, read_only, render_fallback, torn_checkpoint,
                                     undigested_latest)
from benchmarks.probe_files import describe_diff, snapshot, write_bytes
from benchmarks.probe_runner import (SWEEP_POINTS, TIMEOUT, Env, ProbeError, copy_ref, error_line_problems,
                                     last_line, launch, reap, ref_key, start, tiny)


def interrupted(env: Env, home: str, when: str, sig: int, task: str = "image") -> Check:
  """A run of ``task`` stopped by ``sig`` at the moment ``when`` (SIGSTOPped there first), then the same
  command again: it must finish exactly as the uninterrupted reference did."""
  c = Check()
  run = os.path.join(home, "run")
  args = tiny(env, "main", run, task=task)
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
  check_stop(c, sig, code, read_text(log), run)
  rerun(env, c, args, home)
  same_as_reference(env, c, run, ref_key(task))
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
  c.need(code == 0, f"the first process exited {code}: {env.short(last_line(read_text(log)))}")
  points = [os.path.join(workdir, p) for p in SWEEP_POINTS] if prog == "sweep" else [workdir]
  for point in points:
    key = f"sweep/{os.path.basename(point)}" if prog == "sweep" else "run"
    same_as_reference(env, c, point, key)
    leftovers(c, point)
  return c


def render_while_training(env: Env, home: str) -> Check:
  """Rendering a run that is training (SIGSTOPped once its first checkpoint is complete, digest and
  all: a step still without its digest is rightly not trusted, and a render then refuses in one line)
  works from its latest checkpoint, changes none of its files, and the run then finishes as the
  reference did."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  c = Check()
  run, out = os.path.join(home, "run"), os.path.join(home, "live.png")
  args = tiny(env, "main", run)
  proc, log = start(args, home, "training")
  try:
    if not stop_when(checkpoint_verified(run, 10), proc, c):
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
  c.need(code == 0, f"the run exited {code}: {env.short(last_line(read_text(log)))}")
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
    write_bytes(path, b"half")
  rerun(env, c, args, home)
  c.need(not any(os.path.exists(p) for p in orphans), "the orphan temp files were not removed")
  c.need(os.path.exists(os.path.join(sweep, "results.csv")), "no results.csv after the re-run")
  for point in SWEEP_POINTS:
    same_as_reference(env, c, os.path.join(sweep, point), f"sweep/{point}")
    leftovers(c, os.path.join(sweep, point))
  leftovers(c, sweep)
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
  check_stop(c, sig, code, read_text(log), out_dir)
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

  @property
  def task(self) -> str:
    return dict(self.kwargs).get("task", "image")


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
    Fault("latest checkpoint without its digest and damaged (a kill between orbax's rename and the "
          "digest), then re-run", undigested_latest),
]
RANDOM_BYTES = "64 random bytes in its largest file"
for _task in ("audio", "video", "sdf"):  # the faults that matter to every task, on each one's tiny run
  FAULTS += [
      Fault(f"{_task}: SIGKILL after the first checkpoint, then re-run", interrupted,
            (("when", "after the first checkpoint"), ("sig", KILL), ("task", _task))),
      Fault(f"{_task}: SIGKILL while saving the first checkpoint, then re-run", interrupted,
            (("when", "while saving the first checkpoint"), ("sig", KILL), ("task", _task))),
      Fault(f"{_task}: SIGTERM mid-run: exit 143, then re-run", interrupted,
            (("when", "after the first checkpoint"), ("sig", TERM), ("task", _task))),
      Fault(f"{_task}: latest checkpoint with {RANDOM_BYTES}, then re-run", damaged_latest,
            (("damage", RANDOM_BYTES), ("task", _task))),
      Fault(f"{_task}: latest checkpoint without its digest and damaged, then re-run", undigested_latest,
            (("task", _task),)),
      Fault(f"{_task}: render past a damaged latest checkpoint", render_fallback, (("task", _task),)),
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
