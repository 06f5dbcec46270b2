"""Run-directory helpers: which runs count as finished (sweeps and experiments skip those), JSON lines
that survive damage, and atomic writes that are durable and leave no litter."""

import importlib
import json
import os
import signal
import stat
import threading
import time

import numpy as np
import pytest

from siren_jax.io import outputs


@pytest.mark.parametrize("summary,allow_diverged,finished", [
    (None, True, False),                                   # no run yet
    ("{\"status\": \"do", True, False),                    # torn summary.json
    ({"status": "done", "steps": 100}, True, True),
    ({"steps": 100}, True, True),                          # summaries from before "status" existed
    ({"status": "done", "steps": 50}, True, False),        # a shorter run: train on to 100
    ({"status": "diverged", "steps": 30}, True, True),     # more steps would not help
    ({"status": "diverged", "steps": 30}, False, False),
])
def test_finished_run(tmp_path, summary, allow_diverged, finished):
  if summary is not None:
    text = summary if isinstance(summary, str) else json.dumps(summary)
    (tmp_path / "summary.json").write_text(text)
  result = outputs.finished_run(str(tmp_path), 100, allow_diverged=allow_diverged)
  assert (result is not None) == finished
  if finished:
    assert result == summary


def test_a_bad_line_in_the_middle_keeps_the_rows_after_it(tmp_path, caplog):
  path = tmp_path / "metrics.jsonl"
  path.write_text('{"step": 0}\n{"step": 10, "lo\n\n{"step": 20}\n[1, 2]\n{"step": 30}\n{"step": 4')
  with caplog.at_level("WARNING"):
    rows = outputs.read_jsonl(str(path))
  assert [r["step"] for r in rows] == [0, 20, 30]
  warnings = [r for r in caplog.records if "unreadable" in r.getMessage()]
  assert len(warnings) == 1 and "3 unreadable line(s) (line 2 and later)" in warnings[0].getMessage()


def _fd_path(fd):
  return os.readlink(f"/proc/self/fd/{fd}")


def test_atomic_writes_fsync_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
  target = tmp_path / "config.json"
  events = []
  real_fsync, real_replace = os.fsync, os.replace
  monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", _fd_path(fd))) or real_fsync(fd))
  monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", str(b))) or real_replace(a, b))
  outputs.write_json(str(target), {"a": 1})
  assert json.loads(target.read_text()) == {"a": 1}
  (_, synced), (_, replaced), (_, synced_dir) = events
  assert outputs.is_temp_name(os.path.basename(synced)) and os.path.dirname(synced) == str(tmp_path)
  assert replaced == str(target) and synced_dir == str(tmp_path)


def test_atomic_writes_leave_the_umask_alone_and_respect_it(tmp_path, monkeypatch):
  umask = os.umask(0o027)
  try:
    calls = []
    monkeypatch.setattr(os, "umask", lambda *a: calls.append(a))
    importlib.reload(outputs)  # importing the module must not touch the process umask either
    outputs.write_json(str(tmp_path / "a.json"), {})
    outputs.write_png(str(tmp_path / "a.png"), np.zeros((2, 2, 1)))
  finally:
    monkeypatch.undo()
    os.umask(umask)
  assert calls == []
  for name in ("a.json", "a.png"):
    assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640


def test_stale_temp_files_are_removed_and_live_ones_kept(tmp_path):
  for name in (".original.png.abcd1234.png", ".config.json.x_y12345.json"):
    (tmp_path / name).write_bytes(b"half")
  keep = [".lock", "original.png", ".notes.txt", ".report.html.short.html"]
  for name in keep:
    (tmp_path / name).write_bytes(b"x")
  with outputs.atomic_path(str(tmp_path / "summary.json")) as live:  # its writer is still writing
    removed = outputs.remove_stale_temps(str(tmp_path))
    assert os.path.exists(live)
  assert sorted(os.path.basename(p) for p in removed) == [".config.json.x_y12345.json",
                                                           ".original.png.abcd1234.png"]
  assert sorted(os.listdir(tmp_path)) == sorted(keep + ["summary.json"])  # the live one, renamed


@pytest.mark.parametrize("other_thread", [False, True])
def test_an_interrupt_as_the_temp_file_is_created_leaves_no_temp_file(tmp_path, monkeypatch,
                                                                      other_thread):
  """A signal landing just after the temp file exists (a loaded machine can pause a writer right
  there) must raise inside atomic_path's cleanup, not before it: no temp file may be left. With
  another thread alive (as JAX's are in a run) the kernel may hand the signal to that thread."""
  real = outputs._create_temp  # pylint: disable=protected-access

  def create_then_interrupt(*args):
    made = real(*args)
    os.kill(os.getpid(), signal.SIGINT)  # Python raises KeyboardInterrupt at its next chance
    time.sleep(0.1)  # time for another thread to take the signal, if the kernel hands it to one
    return made

  monkeypatch.setattr(outputs, "_create_temp", create_then_interrupt)
  stop = threading.Event()
  waiter = threading.Thread(target=stop.wait, daemon=True)
  if other_thread:
    waiter.start()
  try:
    with pytest.raises(KeyboardInterrupt):
      outputs.write_json(str(tmp_path / "x.json"), {"a": 1})
  finally:
    stop.set()
  assert os.listdir(tmp_path) == []
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
