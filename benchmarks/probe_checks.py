"""What the probe's fault cases share: the Check that collects problems and lost data, the moments at
which a process is stopped (triggers), comparisons with the reference, leftover locks and temp files,
and the expected exit of a stopped process. Part of benchmarks/probe.py."""

import glob
import os
import signal
import subprocess
import time
from typing import Callable, List, Optional

from benchmarks.probe_files import TEMP_NAME, checkpoint_steps, compare_records, read_rows, record
from benchmarks.probe_runner import TIMEOUT, Env, Result, error_line_problems, last_line, launch


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
  """Step ``step``'s directory exists (orbax has renamed it into place; its digest may still be on
  its way: the window some faults aim at)."""
  return lambda: os.path.isdir(os.path.join(run, "checkpoints", str(step)))


def checkpoint_verified(run: str, step: int) -> Callable[[], bool]:
  """Step ``step`` is complete: its digest is written, so a reader may trust it."""
  return lambda: os.path.isfile(os.path.join(run, "checkpoints", str(step), "siren_digest.json"))


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
  undigested = [s for s in checkpoint_steps(run)
                if not os.path.exists(os.path.join(run, "checkpoints", str(s), "siren_digest.json"))]
  return (f"metrics rows at steps {[r['step'] for r in rows]}, checkpoints {checkpoint_steps(run)}"
          + (f", {len(temps)} unfinished checkpoint" if temps else "")
          + (f", steps {undigested} without their digest" if undigested else ""))


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


def read_text(path: str) -> str:
  with open(path, errors="replace") as f:
    return f.read()
