"""benchmarks/behaviour.py's comparison (benchmarks/behaviour_compare.py), on synthetic snapshots (no
training)."""

import json
import sys

from benchmarks import behaviour_compare
import forkserver
from conftest import ROOT


def _training(psnr_end="44.061865111590286", params="ab" * 32):
  return {"metrics": [{"step": 0, "psnr": "11.08277413131214", "loss": "nan"},
                      {"step": 10, "psnr": psnr_end, "loss": "0.17914927005767822"}],
          "summary": {"psnr": psnr_end, "steps": 10}, "checkpoint_step": 10,
          "params_sha256": params, "state_sha256": "cd" * 32, "num_params": 3}


def _snapshot():
  table = [{"image": "tiny", "method": "JPEG q=50", "family": "JPEG", "bytes": 1080, "bpp": "2.109375",
            "psnr": "26.68470424636098"}]
  return {"git": {"commit": "0" * 40}, "machine": {"cpu": "x", "cores": 2}, "jax": "0.10.2",
          "runs": {"default": _training(), "sweep/omega_0=10": _training(),
                   "compression": {"table": table}}}


def test_identical_snapshots_compare_identical():
  lines, identical, worst = behaviour_compare.compare(_snapshot(), _snapshot())
  assert identical and worst == 0.0 and lines[-1] == "IDENTICAL"


def test_psnr_params_size_and_missing_run_differences_are_reported():
  a, b = _snapshot(), _snapshot()
  b["runs"]["default"] = _training(psnr_end=repr(44.061865111590286 + 3e-7))
  lines, identical, worst = behaviour_compare.compare(a, b)
  assert not identical and 2e-7 < worst < 4e-7 and lines[-1].startswith("DIFFERENT (max |ΔPSNR| = 3")
  assert any(line.startswith("default: params identical") for line in lines)

  b = _snapshot()
  b["runs"]["sweep/omega_0=10"]["params_sha256"] = "ef" * 32
  lines, identical, worst = behaviour_compare.compare(a, b)
  assert not identical and worst == 0.0 and "sweep/omega_0=10: params DIFFER" in "\n".join(lines)

  b = _snapshot()
  b["runs"]["compression"]["table"][0]["bytes"] = 1081
  lines, identical, _ = behaviour_compare.compare(a, b)
  assert not identical and "1 rows differ in size (max 1 bytes)" in "\n".join(lines)

  b = _snapshot()
  del b["runs"]["sweep/omega_0=10"]
  lines, identical, _ = behaviour_compare.compare(a, b)
  assert not identical and "sweep/omega_0=10: only in A" in lines


def test_nan_only_on_one_side_is_a_difference():
  a, b = _snapshot(), _snapshot()
  b["runs"]["default"]["metrics"][1]["loss"] = "nan"
  lines, identical, _ = behaviour_compare.compare(a, b)
  assert not identical and "relative Δloss inf" in "\n".join(lines)


def test_compare_command_exit_codes(tmp_path):
  a, b = tmp_path / "a.json", tmp_path / "b.json"
  a.write_text(json.dumps(_snapshot()))
  b.write_text(json.dumps(_snapshot()))
  cmd = [sys.executable, "-m", "benchmarks.behaviour", "--compare", str(a), str(b)]
  proc = forkserver.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert proc.returncode == 0 and proc.stdout.strip().endswith("IDENTICAL"), proc.stdout + proc.stderr
  other = _snapshot()
  other["runs"]["default"]["summary"]["psnr"] = "44.0"
  b.write_text(json.dumps(other))
  proc = forkserver.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert proc.returncode == 1 and "DIFFERENT (max |ΔPSNR|" in proc.stdout, proc.stdout + proc.stderr
