"""The seam between the engine and the signals and kinds: a signal and a model kind defined in
tests/toy_signal.py, which siren_jax never names, run through every command (main, sweep, render,
report) as a user would, and registered in-process."""

import csv
import dataclasses
import json
import os
import sys

import numpy as np
import pytest

from siren_jax.engine import registry
from siren_jax.errors import UserError
from siren_jax.nets import kinds
from tests import toy_signal
import forkserver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join("tests", "toy_signal.py")


def _command(module, *args):
  return forkserver.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                        text=True, timeout=300)


def _signal_rms() -> float:
  x = np.linspace(-1, 1, 1001)
  return float(np.sqrt(np.mean(toy_signal.function(x) ** 2)))


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("toy") / "run")
  proc = _command("siren_jax.main", f"--config={CONFIG}", f"--workdir={workdir}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


def test_main_fits_a_signal_and_a_kind_from_outside_the_package(toy_run):
  with open(os.path.join(toy_run, "config.json")) as f:
    config = json.load(f)
  assert config["task"] == config["model"]["kind"] == "tests.toy_signal"
  with open(os.path.join(toy_run, "summary.json")) as f:
    summary = json.load(f)
  assert summary["status"] == "done" and summary["points"] == 64
  # The cosine network learned the function: its error is a small part of the function's size.
  assert summary["rmse"] < 0.25 * _signal_rms()
  with open(os.path.join(toy_run, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  assert [r["step"] for r in rows] == [0, 50, 100, 150, 200] and all("rmse" in r for r in rows)
  assert os.path.exists(os.path.join(toy_run, "fit.json"))  # the signal's own output


def test_render_uses_the_signal_s_hook_and_flags(toy_run, tmp_path):
  out = str(tmp_path / "fit.csv")
  proc = _command("siren_jax.render", f"--workdir={toy_run}", f"--out={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out) as f:
    xy = np.array([[float(v) for v in row] for row in csv.reader(f)])
  assert xy.shape == (256, 2)  # four times the training points
  assert np.sqrt(np.mean((xy[:, 1] - toy_signal.function(xy[:, 0])) ** 2)) < 0.25 * _signal_rms()
  refused = _command("siren_jax.render", f"--workdir={toy_run}", f"--out={out}", "--scale=2")
  assert refused.returncode != 0
  assert refused.stderr.strip().splitlines()[-1] == (
      "error: --scale: not a flag for tests.toy_signal runs, which take --chunk_size (and "
      "--workdir, --out)")


def test_report_gives_a_signal_without_a_page_the_generic_one(toy_run):
  proc = _command("siren_jax.report", f"--workdir={toy_run}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(toy_run, "report.html"), encoding="utf-8") as f:
    page = f.read()
  assert "siren_jax report: tests.toy_signal" in page and "RMS error" in page
  assert 'id="curves"' in page and 'id="summary"' in page and 'id="config"' in page


def test_sweep_trains_the_points_together_and_ranks_by_the_signal_s_headline(tmp_path):
  workdir = str(tmp_path / "sweep")
  proc = _command("siren_jax.sweep", f"--config={CONFIG}", f"--workdir={workdir}",
                  "--sweep=train.learning_rate=1e-3,1e-2")
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(workdir, "results.csv")) as f:
    rows = list(csv.DictReader(f))
  assert [r["train.learning_rate"] for r in rows] == ["0.001", "0.01"]
  assert all(r["trained_together"] == "2" and r["status"] == "done" for r in rows)
  best = min(rows, key=lambda r: float(r["rmse"]))  # an error: lower is better
  assert f"Best point: {best['point']}" in proc.stderr
  assert os.path.exists(os.path.join(workdir, "report.html"))


def test_in_process_registration():
  signal = dataclasses.replace(toy_signal.SIGNAL, name="toy_registered")
  assert registry.register(signal) is signal
  assert registry.get("toy_registered") is signal and "toy_registered" in registry.names()
  assert registry.of({"task": "toy_registered"}).headline.lower_is_better
  kind = dataclasses.replace(toy_signal.KIND, name="cos_registered")
  assert kinds.register(kind) is kind and kinds.get("cos_registered") is kind
  with pytest.raises(ValueError):
    registry.register(dataclasses.replace(signal, name="image"))
  with pytest.raises(ValueError):
    kinds.register(dataclasses.replace(kind, name="siren"))
  with pytest.raises(UserError, match="defines no SIGNAL"):
    registry.get("tests.floatbounds")  # importable, but not a signal
  with pytest.raises(UserError, match="^model.kind must be one of"):
    kinds.get("no_such_kind")


def test_the_package_never_names_the_toy():
  hits = []
  for root, _, files in os.walk(os.path.join(ROOT, "siren_jax")):
    for name in files:
      if name.endswith(".py"):
        with open(os.path.join(root, name), encoding="utf-8") as f:
          if "toy" in f.read():
            hits.append(name)
  assert not hits
