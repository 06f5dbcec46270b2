"""Run-directory ownership and the faults around it: a second process on a busy workdir (run or sweep) is
refused in one line naming the holder and changes nothing, a SIGKILLed owner does not block the next run,
SIGTERM stops a run as cleanly as Ctrl-C, a full disk and an unwritable workdir or --out are one line
each, and temp files a killed writer left are removed."""

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image

from siren_jax import report, sweep
from siren_jax.engine import train
from siren_jax.errors import UserError
from siren_jax.io import checkpoints, outputs, rundir
import forkserver
from conftest import ROOT, run_main, tiny_config, tiny_flags

CONFIG = f"--config={ROOT}/configs/default.py"
ORBAX_FULL = ("RESOURCE_EXHAUSTED: Error writing local file \"{}/checkpoints/60.orbax-checkpoint-tmp/"
              "state/_sharding\": Failed to write 348 bytes to file 17: No space left on device "
              "[os_error_code='28']")


def _snapshot(directory):
  """Every file and directory under ``directory`` with its content hash (files) and mtime."""
  out = {}
  for root, dirs, files in os.walk(directory):
    for name in dirs + files:
      path = os.path.join(root, name)
      digest = hashlib.sha256(open(path, "rb").read()).hexdigest() if name in files else "dir"
      out[os.path.relpath(path, directory)] = (digest, os.stat(path).st_mtime_ns)
  return out


def _error_lines(stderr):
  return [line for line in stderr.splitlines() if line.startswith("error:")]


def _assert_one_error(proc, code, pattern):
  errors = _error_lines(proc.stderr)
  assert proc.returncode == code, proc.stderr[-3000:]
  assert len(errors) == 1 and re.search(pattern, errors[0]), proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr[-3000:]
  return errors[0]


def _popen(args, log_path):
  log = open(log_path, "w")  # a file, not a pipe: a stopped reader must not block the run
  return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def _wait_for(condition, proc, timeout=120):
  deadline = time.time() + timeout
  while not condition():
    assert proc.poll() is None, f"the run ended (status {proc.returncode}) before the test could act"
    assert time.time() < deadline, "timed out"
    time.sleep(0.005)


def _logged(path, min_rows=1):
  return lambda: len(outputs.read_jsonl(str(path))) >= min_rows


def _checkpointed(workdir):
  """A finished checkpoint: a step with its digest (a kill before the digest leaves a step that is not
  counted, and the re-run starts over instead of resuming: tests/test_checkpoints.py)."""
  ckdir = workdir / "checkpoints"
  return lambda: ckdir.exists() and any(p.name.isdigit() and (p / checkpoints.DIGEST_NAME).exists()
                                        for p in ckdir.iterdir())


# ---------------------------------------------------------------------------------- the lock itself


def test_a_second_owner_is_refused_with_the_holders_details(tmp_path):
  workdir = tmp_path / "run"
  lock = rundir.acquire(str(workdir))  # flock: two opens conflict even within one process
  before = _snapshot(workdir)
  with pytest.raises(UserError) as refused:
    rundir.acquire(str(workdir))
  message = str(refused.value)
  assert f"{workdir} is in use by pid {os.getpid()} on {socket.gethostname()}, started " in message
  assert "pytest" in message or "python" in message  # the holder's command line
  assert _snapshot(workdir) == before
  lock.release()
  assert os.listdir(workdir) == []  # the lock file goes with the lock
  rundir.acquire(str(workdir)).release()


def test_a_sigkilled_owner_does_not_block_the_next_one(tmp_path):
  workdir = tmp_path / "run"
  holder = subprocess.Popen(
      [sys.executable, "-c", "import sys, time; from siren_jax.io import rundir; "
       "rundir.acquire(sys.argv[1]); print('locked', flush=True); time.sleep(120)", str(workdir)],
      cwd=ROOT, stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == "locked"
  with pytest.raises(UserError, match=f"pid {holder.pid}"):
    rundir.acquire(str(workdir))
  holder.send_signal(signal.SIGKILL)
  holder.wait()
  assert (workdir / rundir.LOCK_NAME).exists()  # left behind, naming a dead process
  rundir.acquire(str(workdir)).release()


def test_a_file_system_without_locks_still_trains_unguarded(tmp_path, monkeypatch, caplog):
  def no_locks(fd, operation):
    raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

  monkeypatch.setattr(fcntl, "flock", no_locks)
  with caplog.at_level("WARNING"):
    lock = rundir.acquire(str(tmp_path / "run"))
  assert any("nothing stops a second run" in r.getMessage() for r in caplog.records)
  assert json.load(open(tmp_path / "run" / rundir.LOCK_NAME))["pid"] == os.getpid()  # still says who
  lock.release()
  assert os.listdir(tmp_path / "run") == []


def test_temp_files_are_removed_only_by_the_owner(tmp_path):
  workdir = tmp_path / "run"
  workdir.mkdir()
  orphan = workdir / ".original.png.k1ll3d00.png"
  orphan.write_bytes(b"\x89PNG half")
  lock = rundir.acquire(str(workdir))
  with pytest.raises(UserError, match="in use"):
    with rundir.own([str(workdir)]):
      pass
  assert orphan.exists()  # whoever holds the lock may be writing it
  lock.release()
  with rundir.own([str(workdir)]):
    assert not orphan.exists()


@pytest.mark.parametrize("layout", ["file", "under a file"])
def test_a_workdir_that_is_or_is_under_a_file(tmp_path, layout):
  (tmp_path / "somefile").write_text("x")
  workdir = tmp_path / "somefile" / ("" if layout == "file" else "x")
  with pytest.raises(UserError, match="is not a directory"):
    rundir.acquire(str(workdir))
  assert os.listdir(tmp_path) == ["somefile"] and (tmp_path / "somefile").read_text() == "x"


def _refuse_writes(monkeypatch, directory, code):
  """Makes every write under ``directory`` fail with ``code`` (EROFS, EACCES, EPERM): as root, chmod
  cannot make a directory read-only."""
  real_open, real_mkdir = os.open, os.mkdir
  inside = lambda path: os.path.abspath(path).startswith(str(directory))

  def fake_open(path, flags, *args, **kwargs):
    if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
      raise OSError(code, os.strerror(code), path)
    return real_open(path, flags, *args, **kwargs)

  def fake_mkdir(path, *args, **kwargs):
    if inside(path):
      raise OSError(code, os.strerror(code), path)
    return real_mkdir(path, *args, **kwargs)

  monkeypatch.setattr(os, "open", fake_open)
  monkeypatch.setattr(os, "mkdir", fake_mkdir)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EPERM])
def test_unwritable_workdirs_and_out_paths(tmp_path, image_path, monkeypatch, code):
  existing, fresh = tmp_path / "ro" / "run", tmp_path / "ro" / "new" / "run"
  existing.mkdir(parents=True)
  (existing / "config.json").write_text("{}")
  before = _snapshot(tmp_path)
  _refuse_writes(monkeypatch, tmp_path / "ro", code)
  reason = re.escape(os.strerror(code))
  config = tiny_config(image_path)
  with pytest.raises(UserError, match=f"cannot write to workdir {existing}: {reason}"):
    rundir.acquire(str(existing))
  with pytest.raises(UserError, match=f"cannot create workdir {fresh}: {reason}"):
    train.train_and_evaluate(config, str(fresh))
  with pytest.raises(UserError, match=f"cannot create workdir .*: {reason}"):
    sweep.run_sweep(config, str(fresh), ["seed=0,1"])
  with pytest.raises(UserError, match=f"cannot write {existing}/report.html: {reason}"):
    report.write_report(str(existing))
  with pytest.raises(UserError, match=f"--out={existing}/x.png: cannot write to {existing}: {reason}"):
    rundir.check_output_file(str(existing / "x.png"), "--out")
  monkeypatch.undo()
  assert _snapshot(tmp_path) == before


def test_disk_full_is_found_wherever_it_is_wrapped(tmp_path):
  full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x/run/original.png")
  assert rundir.disk_full_message(full) == "disk full: cannot write /x/run/original.png (No space left on device)"
  try:
    try:
      raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    except OSError as e:
      raise RuntimeError("save failed") from e
  except RuntimeError as e:
    wrapped = e
  assert rundir.disk_full_message(wrapped, ["/x/run"]) == (
      "disk full: cannot write /x/run (Disk quota exceeded)")
  orbax = ValueError(ORBAX_FULL.format("/x/b"))  # what orbax raises: tensorstore's text, no OSError
  assert rundir.disk_full_message(orbax, ["/x/a", "/x/b"]) == (
      "disk full: cannot write /x/b (No space left on device)")
  assert rundir.disk_full_message(ValueError("RESOURCE_EXHAUSTED: out of memory")) is None
  assert rundir.disk_full_message(OSError(errno.EIO, "I/O error")) is None


# ----------------------------------------------------------------------------------- in training


def _full_disk_at_step_60(monkeypatch, writer, workdir):
  if writer == "checkpoint":
    real_save = checkpoints.Checkpointer.save

    def save(self, step, state, meta):
      if step >= 60:
        raise ValueError(ORBAX_FULL.format(workdir))
      real_save(self, step, state, meta)

    monkeypatch.setattr(checkpoints.Checkpointer, "save", save)
  else:
    def save(self, fp, *args, **kwargs):  # a PNG half written when the disk fills up
      with open(fp, "wb") as f:
        f.write(b"\x89PNG half")
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", save)


@pytest.mark.parametrize("writer", ["checkpoint", "png"])
def test_disk_full_in_training_keeps_what_was_written_and_resumes(tmp_path, image_path, monkeypatch,
                                                                   writer):
  workdir = tmp_path / "run"
  config = tiny_config(image_path)  # 60 steps, checkpoints at 30 and 60
  _full_disk_at_step_60(monkeypatch, writer, workdir)
  where = workdir if writer == "checkpoint" else workdir / "reconstruction.png"
  with pytest.raises(UserError, match=rf"^disk full: cannot write {where} \(No space left on device\); "
                                      r"what was written before is intact"):
    train.train_and_evaluate(config, str(workdir))
  monkeypatch.undo()
  steps = [r["step"] for r in outputs.read_jsonl(str(workdir / "metrics.jsonl"))]
  assert steps == [0, 20, 40, 60]
  latest = checkpoints.Checkpointer(str(workdir / "checkpoints"), 2, restore_only=True).latest_step()
  assert latest == (30 if writer == "checkpoint" else 60)
  assert not any(outputs.is_temp_name(n) or n == rundir.LOCK_NAME for n in os.listdir(workdir))
  assert not (workdir / "reconstruction.png").exists()  # no half-written PNG in place
  summary = train.train_and_evaluate(config, str(workdir))  # space freed: the same call resumes
  assert summary["steps"] == 60 and Image.open(workdir / "reconstruction.png").size == (32, 32)


def test_disk_full_on_the_command_line_is_one_line(tmp_path, image_path):
  workdir = tmp_path / "run"
  script = ("import sys\n"
            "from siren_jax import cli, main\nfrom siren_jax.io import checkpoints\n"
            "def save(self, step, state, meta):\n"
            f"  raise ValueError({ORBAX_FULL!r}.format({str(workdir)!r}))\n"
            "checkpoints.Checkpointer.save = save\n"
            "cli.run(main.main, required=('config', 'workdir'))\n")
  proc = forkserver.run([sys.executable, "-c", script, CONFIG, f"--workdir={workdir}",
                         *tiny_flags(image_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
  _assert_one_error(proc, 2, rf"^error: disk full: cannot write {workdir} \(No space left on device\)")


def _in_a_small_tmpfs(tmp_path, script, read_only=False):
  """Runs shell ``script`` with a 200 KB tmpfs at tmp_path/mnt (made read-only if asked) in a private
  mount namespace; skips where mounting is not allowed."""
  mnt = tmp_path / "mnt"
  mnt.mkdir()
  setup = f"mount -t tmpfs -o size=200k tmpfs {mnt} && mkdir {mnt}/run"
  if read_only:
    setup += f" && mount -o remount,ro {mnt}"
  if not shutil.which("unshare") or subprocess.run(
      ["unshare", "-m", "sh", "-c", setup], capture_output=True).returncode != 0:
    pytest.skip("cannot mount a tmpfs here (needs root and a private mount namespace)")
  return subprocess.run(["unshare", "-m", "sh", "-c", f"{setup} && {script}"], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("read_only", [False, True], ids=["full", "read-only"])
def test_a_really_full_or_read_only_file_system(tmp_path, image_path, read_only):
  """The real thing, where mounts are allowed: orbax's threads log the failed save with tracebacks and
  its abandoned coroutines complain at exit; the user must see one line."""
  workdir = tmp_path / "mnt" / "run"
  flags = " ".join(tiny_flags(image_path, train__num_steps=400, train__checkpoint_every=20,
                              train__log_every=20))
  proc = _in_a_small_tmpfs(tmp_path, f"{sys.executable} -m siren_jax.main {CONFIG} "
                                     f"--workdir={workdir} {flags}", read_only)
  if read_only:
    _assert_one_error(proc, 2, f"^error: cannot write to workdir {workdir}: Read-only file system$")
  else:
    _assert_one_error(proc, 2, rf"^error: disk full: cannot write {workdir}.*re-run the same command")


# ------------------------------------------------------------------------------ two processes, one dir


def test_a_second_run_on_a_busy_workdir_is_refused_and_changes_nothing(tmp_path, image_path):
  workdir = tmp_path / "run"
  # Stopped (SIGSTOP) once it has logged its first row, it holds its lock for as long as we need.
  flags = tiny_flags(image_path, train__num_steps=300, train__log_every=100,
                     train__checkpoint_every=100)
  first = _popen(["-m", "siren_jax.main", CONFIG, f"--workdir={workdir}", *flags], tmp_path / "1.log")
  try:
    _wait_for(_logged(workdir / "metrics.jsonl"), first)
    first.send_signal(signal.SIGSTOP)
    before = _snapshot(workdir)
    second = run_main(workdir, *flags)
    assert _snapshot(workdir) == before
  finally:
    first.send_signal(signal.SIGCONT)
  _assert_one_error(second, 2, rf"^error: {workdir} is in use by pid {first.pid} on "
                               rf"{re.escape(socket.gethostname())}, started .*siren_jax\.main")
  assert first.wait(timeout=120) == 0, (tmp_path / "1.log").read_text()[-3000:]
  steps = [r["step"] for r in outputs.read_jsonl(str(workdir / "metrics.jsonl"))]
  assert steps == list(range(0, 301, 100))  # one trajectory, no row twice


def test_a_sweep_started_twice_is_refused(tmp_path, image_path):
  workdir = tmp_path / "sweep"
  args = ["-m", "siren_jax.sweep", CONFIG, f"--workdir={workdir}", "--sweep=model.omega_0=10,30",
          *tiny_flags(image_path, train__num_steps=300, train__log_every=100,
                      train__checkpoint_every=100)]
  first = _popen(args, tmp_path / "1.log")
  try:
    _wait_for(_logged(workdir / "omega_0=10" / "metrics.jsonl"), first)
    first.send_signal(signal.SIGSTOP)
    before = _snapshot(workdir)
    second = forkserver.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert _snapshot(workdir) == before
  finally:
    first.send_signal(signal.SIGCONT)
  _assert_one_error(second, 2, rf"^error: {workdir} is in use by pid {first.pid} .*siren_jax\.sweep")
  assert first.wait(timeout=120) == 0, (tmp_path / "1.log").read_text()[-3000:]
  for point in ("omega_0=10", "omega_0=30"):
    steps = [r["step"] for r in outputs.read_jsonl(str(workdir / point / "metrics.jsonl"))]
    assert steps == list(range(0, 301, 100)), point


def test_a_sigkilled_run_resumes_and_its_orphan_temp_files_go(tmp_path, image_path):
  workdir = tmp_path / "run"
  flags = tiny_flags(image_path, train__num_steps=600, train__log_every=200,
                     train__checkpoint_every=200)
  first = _popen(["-m", "siren_jax.main", CONFIG, f"--workdir={workdir}", *flags], tmp_path / "1.log")
  _wait_for(_checkpointed(workdir), first)
  first.send_signal(signal.SIGKILL)
  first.wait()
  assert (workdir / rundir.LOCK_NAME).exists()  # a stale lock file, naming the dead process
  orphan = workdir / ".original.png.k1ll3d00.png"  # what a SIGKILL inside atomic_path leaves
  orphan.write_bytes(b"\x89PNG half")
  proc = run_main(workdir, *flags)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Resuming" in proc.stderr and f"Removed {orphan}" in proc.stderr
  assert not orphan.exists() and not (workdir / rundir.LOCK_NAME).exists()


# ------------------------------------------------------------------------------------------ signals


@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, r"terminated \(SIGTERM\)"),
                                           (signal.SIGINT, 130, "interrupted")], ids=["TERM", "INT"])
def test_a_signal_mid_training_stops_cleanly_and_resumably(tmp_path, image_path, sig, code, word):
  workdir = tmp_path / "run"
  flags = tiny_flags(image_path, train__num_steps=200000, train__log_every=200,
                     train__checkpoint_every=200, train__learning_rate=1e-3)  # = tiny_config's
  proc = _popen(["-m", "siren_jax.main", CONFIG, f"--workdir={workdir}", *flags], tmp_path / "1.log")
  _wait_for(_logged(workdir / "metrics.jsonl", 3), proc)  # row 400 follows the step-200 checkpoint
  proc.send_signal(sig)
  assert proc.wait(timeout=120) == code
  log = (tmp_path / "1.log").read_text()
  errors = _error_lines(log)
  assert len(errors) == 1 and "Traceback" not in log, log[-3000:]
  match = re.fullmatch(rf"error: {word} at step \d+; the checkpoints at step (\d+) are kept, re-run the "
                       r"same command to resume", errors[0])
  assert match, errors
  kept = int(match.group(1))
  assert checkpoints.Checkpointer(str(workdir / "checkpoints"), 2).latest_step() == kept > 0
  assert not (workdir / rundir.LOCK_NAME).exists()
  if sig == signal.SIGTERM:  # resumes (to a nearer end than 200000 steps, which a resume may change)
    summary = train.train_and_evaluate(
        tiny_config(image_path, train__num_steps=kept + 100, train__log_every=200,
                    train__checkpoint_every=200), str(workdir))
    assert summary["steps"] == kept + 100
    steps = [r["step"] for r in outputs.read_jsonl(str(workdir / "metrics.jsonl"))]
    assert steps == list(range(0, kept + 1, 200)) + [kept + 100]


@pytest.mark.parametrize("name,code,message", [("SIGTERM", 143, "error: terminated (SIGTERM)"),
                                               ("SIGINT", 130, "error: interrupted")])
def test_signal_exit_codes_at_start_up(name, code, message):
  script = ("import os, signal, time\n"
            "from siren_jax import cli\n"
            "def main(argv):\n"
            f"  os.kill(os.getpid(), signal.{name})\n"
            "  time.sleep(60)\n"
            "cli.run(main)\n")
  proc = forkserver.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                        timeout=60)
  assert proc.returncode == code and proc.stderr.strip() == message, proc.stderr


# --------------------------------------------------------------- unusable paths on the command line


def _command(entry, tmp_path, image_path, target):
  if entry == "main":
    return ["-m", "siren_jax.main", CONFIG, f"--workdir={target}", *tiny_flags(image_path)]
  if entry == "sweep":
    return ["-m", "siren_jax.sweep", CONFIG, f"--workdir={target}", "--sweep=seed=0,1",
            *tiny_flags(image_path)]
  if entry == "report":
    return ["-m", "siren_jax.report", f"--workdir={target}"]
  return ["-m", "siren_jax.render", f"--workdir={tmp_path}/run", f"--out={target}"]


UNUSABLE = [
    ("main", "file", "cannot use {t} as a workdir: it is not a directory"),
    ("main", "under", "cannot use {t} as a workdir: {f} is not a directory"),
    ("sweep", "file", "cannot use {t} as a workdir: it is not a directory"),
    ("sweep", "under", "cannot use {t} as a workdir: {f} is not a directory"),
    ("report", "file", "workdir {t} is not a directory"),
    ("report", "under", "workdir not found: {t} ({f} is not a directory)"),
    ("render", "under", "--out={t}: cannot write there: {f} is not a directory"),
    ("render", "missing", "--out={t}: directory {d} does not exist"),
    ("render", "directory", "--out={t} is a directory"),
]


@pytest.mark.parametrize("entry,layout,message", UNUSABLE, ids=[f"{e}-{l}" for e, l, _ in UNUSABLE])
def test_unusable_paths_are_one_line_and_write_nothing(tmp_path, image_path, entry, layout, message):
  somefile = tmp_path / "somefile"
  somefile.write_text("x")
  (tmp_path / "dir.png").mkdir()
  target = {"file": somefile, "under": somefile / "x", "missing": tmp_path / "nope" / "x.png",
            "directory": tmp_path / "dir.png"}[layout]
  if entry == "render" and layout == "under":
    target = somefile / "x.png"
  before = _snapshot(tmp_path)
  proc = forkserver.run([sys.executable, *_command(entry, tmp_path, image_path, target)], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  expected = message.format(t=target, f=somefile, d=tmp_path / "nope")
  _assert_one_error(proc, 2, "^error: " + re.escape(expected) + "$")
  assert _snapshot(tmp_path) == before


def test_a_sigterm_while_exiting_is_one_line_not_an_ignored_traceback(tmp_path):
  """SIGTERM after the work is done (here from an atexit hook, as a scheduler's late signal lands in
  interpreter shutdown) exits 143 with one line, instead of a printed traceback and exit status 0."""
  script = ("import atexit, os, signal\n"
            "from siren_jax import cli\n"
            "atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))\n"
            "cli.run(lambda argv: None)\n")
  proc = forkserver.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                        timeout=60)
  assert proc.returncode == 143, proc.stderr
  assert proc.stderr.strip() == "error: terminated (SIGTERM) while exiting", proc.stderr


def test_tensorstore_resource_exhausted_without_an_errno_is_a_full_disk():
  """Seen on a full tmpfs: orbax raised tensorstore's RESOURCE_EXHAUSTED write error with no errno."""
  error = ValueError('RESOURCE_EXHAUSTED: Error writing "opt_state.0.count/0" in OCDBT database at '
                     'local file "/x/checkpoints/20.orbax-checkpoint-tmp/state/"')
  assert rundir.disk_full(error) is error
  assert rundir.disk_full_message(error, ["/x"]).startswith("disk full: cannot write /x")
  assert rundir.disk_full(ValueError("RESOURCE_EXHAUSTED: too many open files")) is None
  # The probe's full tmpfs, once: the failed write wrapped in the driver's open.
  wrapped = ValueError('RESOURCE_EXHAUSTED: Error opening "zarr" driver: Error writing "opt_state.0.nu/'
                       '.zarray" in OCDBT database at local file "/x/checkpoints/20.orbax-checkpoint-tmp/"')
  assert rundir.disk_full(wrapped) is wrapped


def test_a_worker_reporting_a_full_disk_after_the_run_said_so_is_dropped(monkeypatch):
  """orbax's abandoned save threads can raise their disk-full error after the failed block is left (as
  the process exits): the run has said it in one line, so that late report is dropped; any other
  thread's error still reaches the hook that was there before."""
  reported = []
  monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args.exc_value))
  monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored after the test
  full = ValueError('RESOURCE_EXHAUSTED: Error writing "opt_state/0" in OCDBT database')

  def thread_raising(exc):
    def target():
      raise exc
    worker = threading.Thread(target=target)
    worker.start()
    worker.join()

  with pytest.raises(ValueError):
    with rundir._quiet_storage_failures():  # pylint: disable=protected-access
      raise full
  thread_raising(full)
  other = RuntimeError("something else")
  thread_raising(other)
  assert reported == [other]
  # orbax's save threads also log the failure (absl's logging.exception), and asyncio its abandoned
  # write tasks ("Task exception was never retrieved"), possibly after the block.
  for name in ("absl", "asyncio"):
    logger = logging.getLogger(name)
    monkeypatch.setattr(logger, "filters", list(logger.filters))  # restored after the test
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
      for exc in (full, other):
        try:
          raise exc
        except Exception:  # pylint: disable=broad-except
          logger.exception("save failed")
    finally:
      logger.removeHandler(handler)
    assert [r.exc_info[1] for r in records] == [other], name
