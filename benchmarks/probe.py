"""Probe: bad input and injected faults, through the command lines a user types.

    python -m benchmarks.probe [--workdir=DIR] [--out=FILE.json] [--only=REGEX] [--jobs=2]

Everything runs as subprocesses of the real entry points (``python -m siren_jax.main``, ``.sweep``,
``.render``, ``.report``) from the checkout, on a 32x32 image written here, with tiny settings: a 2x32
SIREN, 20 full-batch steps, a metrics row and a checkpoint every 10 (sweeps: ``--sweep=seed=0,1``).
Two finished references are made first: a run and a sweep, uninterrupted. Every other task has its
own tiny run with the same network and steps (``probe_runner.TASK_BASES``): audio fits a 2000-sample
WAV, video four 16x16 frames, SDF an analytic sphere; their cases (named "audio: ...", "video: ...",
"sdf: ...") start from those flags and compare with that task's uninterrupted reference run.

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

Its size and time are in benchmarks/RESULTS.md; on two cores it is best run in parts (--only).
"""

import concurrent.futures
import datetime
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from typing import List, Optional, Sequence

from absl import app, flags, logging

from benchmarks import common
from benchmarks.probe_faults import FAULTS, Fault, run_fault
from benchmarks.probe_files import write_inputs
from benchmarks.probe_inputs import BAD, run_bad
from benchmarks.probe_runner import Env, make_references, mount_problem


def define_flags() -> None:
  """Flags exist only when this file runs as a program, so that tests can import it."""
  flags.DEFINE_string("workdir", None, "Directory to work in (kept afterwards); default: a temporary "
                      "directory, removed at the end.")
  flags.DEFINE_string("out", None, "JSON file for the full results.")
  flags.DEFINE_string("only", None, "Run only the cases whose 'kind: name' matches this regex.")
  flags.DEFINE_integer("jobs", 2, "Cases run at once.")


# ---------------------------------------------------------------------------------------------------
# Running it all


def select(only: Optional[str]) -> list:
  """The cases to run, faults first (they take longest, so the pool packs them best)."""
  cases = [("fault", f.name, f) for f in FAULTS] + [("bad", f"{b.prog}: {b.name}", b) for b in BAD]
  return [case for kind, name, case in cases if not only or re.search(only, f"{kind}: {name}")]


def needs_references(cases: Sequence) -> bool:
  return any(isinstance(c, Fault) or "existing" in c.targets for c in cases)


def reference_tasks(cases: Sequence) -> List[str]:
  """The tasks whose reference run a selected case needs (images always: the sweep is one)."""
  return sorted({c.task for c in cases if isinstance(c, Fault) or "existing" in c.targets})


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
      make_references(env, pool, reference_tasks(cases))
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
