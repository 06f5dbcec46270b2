"""Shared bits for the benchmark scripts: machine description, step timing, JSON output and a SIREN's
layers for the PyTorch peers."""

import functools
import json
import os
import platform
import subprocess
import sys


def machine() -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  cpu = platform.processor() or ""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          cpu = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  dev = jax.devices()[0]
  return {"cpu": cpu, "cores": os.cpu_count(), "device": f"{len(jax.devices())} x {dev.device_kind}",
          "platform": dev.platform, "jax": jax.__version__, "python": sys.version.split()[0]}


@functools.lru_cache(maxsize=None)
def git_rev() -> str:
  """The commit checked out when this is first called. Benchmarks call it as they start, so that the
  commit they record is the code they ran even if a commit lands while they run."""
  try:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.abspath(__file__)), check=False).stdout.strip()
  except OSError:
    return ""


def time_step(step, state, *args, repeats: int = 5, warmups: int = 2):
  """Median seconds of ``state, metrics = step(state, *args)`` (state donated, so it is threaded
  through), after ``warmups`` calls: the first call after compiling runs ~2x slow on this CPU, and a
  median over few calls that includes it misleads. Returns (seconds, final state)."""
  import time  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  for _ in range(warmups):
    state, metrics = step(state, *args)
    jax.block_until_ready(metrics)
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    state, metrics = step(state, *args)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t0)
  return float(np.median(times)), state


def time_run(fit, repeats: int = 5, warmups: int = 2):
  """``time_step`` of a built fit's step (``siren_jax.engine.run.setup``) from its initial states (stacked
  when it has several points), with its hyperparameters, data and epoch-0 batch order: the step a run
  of those configs takes. Returns (seconds, final state)."""
  return time_step(fit.train_step, fit.place(fit.states), fit.place(fit.device_hypers()),
                   fit.dataset.arrays, fit.permutations(0), repeats=repeats, warmups=warmups)


def emit(result: dict) -> None:
  print(json.dumps(result, indent=2, sort_keys=True))


def time_to(rows, db: float):
  """Training seconds and step of the first logged row (after step 0) at or above ``db`` dB, else None."""
  for r in rows:
    if r["step"] > 0 and float(r["psnr"]) >= db:
      return {"train_seconds": r["train_seconds"], "step": r["step"]}
  return None


def at_time(rows, seconds: float) -> dict:
  """The last logged row with train_seconds <= seconds."""
  row = [r for r in rows if r["train_seconds"] <= seconds + 1e-9][-1]
  return {"step": row["step"], "train_seconds": row["train_seconds"], "psnr": round(row["psnr"], 2)}


def fit_rows(config):
  """(summary, metrics rows) of one fit of ``config`` in a throw-away run directory."""
  import os  # pylint: disable=g-import-not-at-top,reimported
  import tempfile  # pylint: disable=g-import-not-at-top
  from siren_jax.io import outputs
  from siren_jax.engine import train  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as workdir:
    summary = train.train_and_evaluate(config, workdir)
    return summary, outputs.read_jsonl(os.path.join(workdir, "metrics.jsonl"))


def torch_layers(torch, params, omega: float):
  """torch Linear layers holding siren_jax's parameters: [(layer, omega), ...], output last (the
  PyTorch peers of benchmarks/sdf_speed.py and pde_speed.py)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  p = params["params"]
  names = sorted((k for k in p if k.startswith("layer_")), key=lambda k: int(k.split("_")[1]))
  layers = []
  for kernel, bias in [(p[k]["dense"]["kernel"], p[k]["dense"]["bias"]) for k in names] + [
      (p["output"]["kernel"], p["output"]["bias"])]:
    lin = torch.nn.Linear(*np.shape(kernel))
    with torch.no_grad():
      lin.weight.copy_(torch.from_numpy(np.array(kernel).T))
      lin.bias.copy_(torch.from_numpy(np.array(bias)))
    layers.append((lin, omega))
  return layers
