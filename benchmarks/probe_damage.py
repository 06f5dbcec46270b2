"""The probe's damage faults: damaged, deleted or unfinished checkpoints, damaged metrics.jsonl, orphan
temp files, a full and a read-only file system (DAMAGE: how a checkpoint step is damaged). Part of
benchmarks/probe.py."""

import glob
import os
import shutil
from typing import Callable

from benchmarks.probe_checks import Check, describe, leftovers, read_text, rerun, same_as_reference
from benchmarks.probe_files import describe_diff, read_rows, snapshot, unreadable_files, write_bytes
from benchmarks.probe_runner import (RENDER_OUT, Env, ProbeError, copy_ref, error_line_problems, launch,
                                     one_line_problems, ref_key, remount, tiny, tmpfs)


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


def damaged_latest(env: Env, home: str, damage: str, task: str = "image") -> Check:
  """A finished run whose latest checkpoint (step 20) is damaged, run again: it falls back to step 10
  with a warning, keeps the damaged step as checkpoints/corrupt-20, and ends as the reference did."""
  c = Check()
  run = copy_ref(env, home, task=task)
  step_dir = os.path.join(run, "checkpoints", "20")
  DAMAGE[damage](step_dir)
  damaged = snapshot(step_dir)
  result = rerun(env, c, tiny(env, "main", run, task=task), home)
  c.need("checkpoint step 20" in result.err and "is damaged" in result.err,
         "no warning that checkpoint step 20 is damaged")
  aside = os.path.join(run, "checkpoints", "corrupt-20")
  c.need(os.path.isdir(aside) and snapshot(aside) == damaged,
         "the damaged step was not kept, as it was, in checkpoints/corrupt-20")
  same_as_reference(env, c, run, ref_key(task))
  leftovers(c, run)
  return c


def undigested_latest(env: Env, home: str, task: str = "image") -> Check:
  """What a SIGKILL between orbax's rename of step 20 and its digest leaves (the step without
  siren_digest.json, the run without its summary), with a damaged byte in that step: the re-run must
  not trust it (it restored it unverified, diverged or finished on damaged weights, and rotation then
  deleted the intact steps). It falls back to step 10, keeps the step as checkpoints/unverified-20 and
  ends as the reference did."""
  c = Check()
  run = copy_ref(env, home, task=task)
  step_dir = os.path.join(run, "checkpoints", "20")
  os.remove(os.path.join(step_dir, "siren_digest.json"))
  DAMAGE["64 random bytes in its largest file"](step_dir)
  os.remove(os.path.join(run, "summary.json"))
  kept = snapshot(step_dir)
  result = rerun(env, c, tiny(env, "main", run, task=task), home)
  c.need("checkpoint step 20" in result.err and "is unverified" in result.err,
         "no warning that checkpoint step 20 is unverified")
  aside = os.path.join(run, "checkpoints", "unverified-20")
  c.need(os.path.isdir(aside) and snapshot(aside) == kept,
         "the unverified step was not kept, as it was, in checkpoints/unverified-20")
  same_as_reference(env, c, run, ref_key(task))
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


def render_fallback(env: Env, home: str, task: str = "image") -> Check:
  """Rendering a run whose latest checkpoint is damaged uses step 10, moving nothing (a reader)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  c = Check()
  run, out = copy_ref(env, home, task=task), os.path.join(home, f"out.{RENDER_OUT[task]}")
  DAMAGE["64 random bytes in its largest file"](os.path.join(run, "checkpoints", "20"))
  before = snapshot(run)
  result = rerun(env, c, ["-m", "siren_jax.render", f"--workdir={run}", f"--out={out}"], home, "render")
  c.need("(step 10)" in result.err and "is damaged" in result.err,
         "render did not say it fell back to step 10")
  if result.rc == 0 and task == "image":
    with Image.open(out) as im:
      c.need(im.size == (32, 32), f"the render is {im.size}, not 32x32")
  elif result.rc == 0:
    c.need(os.path.isfile(out) and os.path.getsize(out) > 0, f"the render wrote no {os.path.basename(out)}")
  after = snapshot(run)
  if after != before:
    c.lose(f"render changed the run directory: {describe_diff(before, after)}")
  return c


def damaged_metrics(env: Env, home: str, where: str) -> Check:
  """A run killed while writing its final outputs (no summary.json yet), whose metrics.jsonl has a
  garbage line in the middle, or a torn last line (a kill mid-append): report still works, and the
  re-run, which resumes, keeps every row after the bad line (and drops it). A finished run's re-run
  changes nothing, so the run must be unfinished for the rows to be read again."""
  c = Check()
  run = copy_ref(env, home)
  path = os.path.join(run, "metrics.jsonl")
  lines = read_text(path).splitlines(keepends=True)
  if where == "middle":
    lines.insert(1, "this is not JSON {\n")
  else:
    lines.append('{"step": 30, "loss": 0.01, "ps')
  write_bytes(path, "".join(lines).encode())
  os.remove(os.path.join(run, "summary.json"))
  rerun(env, c, ["-m", "siren_jax.report", f"--workdir={run}"], home, "report")
  result = rerun(env, c, tiny(env, "main", run), home)
  c.need("unreadable line" in result.err, "no warning about the unreadable line")
  same_as_reference(env, c, run, "run")
  c.need(read_rows(path)[1] == 0, "the bad line is still in metrics.jsonl")
  return c


def orphan_temps(env: Env, home: str) -> Check:
  """Temp files that writers killed inside an atomic write leave (".NAME.XXXXXXXX.EXT"), here in a run
  killed while writing its summary (so it has none): the next start removes them (and says so), and
  the run ends as the reference."""
  c = Check()
  run = copy_ref(env, home)
  orphans = [os.path.join(run, ".original.png.abcd1234.png"),
             os.path.join(run, ".summary.json.k1ll3d00.json")]
  for path in orphans:
    write_bytes(path, b"half")
  os.remove(os.path.join(run, "summary.json"))
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
  """A finished run on a file system remounted read-only: a new run or sweep there, its report and a
  render into it are each refused in one line; re-running the finished run has nothing to write and
  says it is complete (exit 0); nothing changes."""
  c = Check()
  mnt = os.path.join(home, "mnt")
  os.makedirs(mnt)
  with tmpfs(mnt, "16m"):
    run = copy_ref(env, mnt)
    remount(mnt, "ro")
    before = snapshot(mnt)
    result = launch(tiny(env, "main", run), os.path.join(home, "re-run"))
    c.need(result.rc == 0 and "already complete" in result.err,
           f"re-run of the finished run: exit {result.rc}, not 0 with 'already complete'")
    commands = {"new run": tiny(env, "main", f"{mnt}/new/run"),
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
