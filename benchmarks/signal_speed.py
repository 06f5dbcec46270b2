"""One training step on audio (1-D time coordinates) and on video (3-D (t, y, x) coordinates) in JAX,
built by ``run.setup`` as every fit is, against the same network, batch, MSE loss and Adam in PyTorch
eager (the official SIREN code's way: ``nn.Linear`` layers and ``sin(omega_0 x)``) and, where it
works, ``torch.compile``; in one process, so the ratios compare like with like. Prints JSON.

    /tmp/torchvenv/bin/python -m benchmarks.signal_speed [--audio_samples=308207] [--audio_batch=32768]
        [--video_batch=8192] [--video_width=256] [--width=256] [--depth=3] [--repeats=5] [--no-compile]

PyTorch is no dependency of the project: make a throwaway environment that sees the project's packages,
    python -m venv --system-site-packages /tmp/torchvenv
    /tmp/torchvenv/bin/pip install /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
and run the benchmark with its interpreter. Without torch the script says so and exits 2.

Both steps draw a random batch from the same data each step (JAX: the epoch permutation inside the
jitted step; PyTorch: an index gather), evaluate the network, the mean squared error, its gradient and
one Adam update. The audio network is the paper's 3x256 SIREN with first-layer omega_0 3000 on [-1, 1]
(the same arithmetic as the official coordinates on [-100, 100] with omega_0 30); the video network
defaults to width 256 (the paper's 3x1024 is too large for a CPU benchmark; --video_width sets it).
The data are random: a step's cost does not depend on the values. Each side's step is also put
against the machine's fp32 ceiling for its matmul shapes (``benchmarks.matmuls``): a step at that
ceiling is as fast as its matmuls alone, so no implementation can be much faster than it.
"""

import dataclasses
import os
import time
from typing import Dict

import numpy as np
from absl import flags, logging

from benchmarks import common, matmuls
from siren_jax import cli, configuration
from siren_jax.engine import run, supervision
from siren_jax.errors import UserError

_AUDIO_SAMPLES = flags.DEFINE_integer("audio_samples", 308207, "Samples of the audio clip (Bach's).")
_AUDIO_BATCH = flags.DEFINE_integer("audio_batch", 32768, "Audio samples per step (0 = the whole clip).")
_VIDEO_SAMPLES = flags.DEFINE_integer("video_samples", 1 << 20, "(t, y, x) samples of the video.")
_VIDEO_BATCH = flags.DEFINE_integer("video_batch", 8192, "Video samples per step.")
_WIDTH = flags.DEFINE_integer("width", 256, "Audio network width (the paper's 256).")
_VIDEO_WIDTH = flags.DEFINE_integer("video_width", 256, "Video network width (the paper's is 1024).")
_DEPTH = flags.DEFINE_integer("depth", 3, "Hidden layers of both networks (the paper's 3).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed steps (the median is reported).")
_WARMUPS = flags.DEFINE_integer("warmups", 2, "Untimed steps first (>= 1: the first call compiles).")
_COMPILE = flags.DEFINE_boolean("compile", True, "Also time torch.compile (reported as failed if it is).")


@dataclasses.dataclass
class SignalTask:
  """The part of a task ``run.setup`` reads: random coordinates in [-1, 1] and random targets."""
  arrays: Dict[str, np.ndarray]
  terms: Dict[str, float]

  @property
  def out_features(self) -> int:
    return self.arrays["values"].shape[1]

  @property
  def grid_shape(self) -> tuple:
    return (self.arrays["coords"].shape[0],)


def make_task(samples: int, dims: int, channels: int, seed: int) -> SignalTask:
  rng = np.random.default_rng(seed)
  coords = rng.uniform(-1, 1, (samples, dims)).astype(np.float32)
  values = rng.uniform(-1, 1, (samples, channels)).astype(np.float32)
  return SignalTask({"coords": coords, "values": values}, supervision.parse("values"))


def jax_config(kind: str):
  """The JAX side's config: configs/audio.py's network, or a video SIREN (omega_0 30 everywhere)."""
  if kind == "audio":
    config = configuration.repo_config("audio")
    config.model.width, config.train.batch_size = _WIDTH.value, _AUDIO_BATCH.value
  else:
    config = configuration.repo_config("default")
    config.model.width, config.train.batch_size = _VIDEO_WIDTH.value, _VIDEO_BATCH.value
  config.model.depth = _DEPTH.value
  config.train.schedule = "constant"
  config.train.learning_rate = 1e-4
  return config


def torch_siren(torch, dims: int, width: int, depth: int, out: int, first_omega: float,
                hidden_omega: float):
  """The official code's SIREN: Linear layers, sin(omega_0 x), SIREN initialisation."""
  nn = torch.nn

  class Sine(nn.Module):
    def __init__(self, omega):
      super().__init__()
      self.omega = omega

    def forward(self, x):
      return torch.sin(self.omega * x)

  layers, fan_in = [], dims
  for i in range(depth + 1):
    linear = nn.Linear(fan_in, width)
    bound = 1.0 / fan_in if i == 0 else np.sqrt(6.0 / fan_in) / hidden_omega
    with torch.no_grad():
      linear.weight.uniform_(-bound, bound)
    layers += [linear, Sine(first_omega if i == 0 else hidden_omega)]
    fan_in = width
  final = nn.Linear(width, out)
  with torch.no_grad():
    final.weight.uniform_(-np.sqrt(6.0 / width) / hidden_omega, np.sqrt(6.0 / width) / hidden_omega)
  return nn.Sequential(*layers, final)


def time_torch(torch, model, task: SignalTask, batch: int, compiled: bool) -> float:
  """Median seconds of one step: gather a random batch, forward, MSE, backward, Adam."""
  coords = torch.from_numpy(task.arrays["coords"])
  values = torch.from_numpy(task.arrays["values"])
  n = coords.shape[0]
  opt = torch.optim.Adam(model.parameters(), lr=1e-4)
  forward = torch.compile(model) if compiled else model

  def step():
    idx = torch.randint(0, n, (batch,)) if batch else None
    x, y = (coords[idx], values[idx]) if batch else (coords, values)
    opt.zero_grad(set_to_none=True)
    loss = torch.mean((forward(x) - y) ** 2)
    loss.backward()
    opt.step()
    return loss.item()  # waits for the step

  for _ in range(_WARMUPS.value + (1 if compiled else 0)):  # compiling happens in the first call
    step()
  times = []
  for _ in range(_REPEATS.value):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
  return float(np.median(times))


def compare(torch, kind: str) -> dict:
  """JAX and PyTorch step times of ``kind`` ("audio" or "video") and their ratios."""
  dims, channels = (1, 1) if kind == "audio" else (3, 3)
  samples = _AUDIO_SAMPLES.value if kind == "audio" else _VIDEO_SAMPLES.value
  config = jax_config(kind)
  task = make_task(samples, dims, channels, seed=0)
  fit = run.setup([config], task)
  jax_s = common.time_run(fit, repeats=_REPEATS.value, warmups=_WARMUPS.value)[0]
  m = config.model
  first = m.first_omega_0 or m.omega_0
  hidden = m.hidden_omega_0 or m.omega_0
  torch.manual_seed(0)
  result = {"samples": samples, "batch": fit.batch_size or samples, "in_features": dims,
            "out_features": channels, "width": m.width, "depth": m.depth, "first_omega_0": first,
            "num_params": fit.num_params, "jax_microbatch": fit.microbatch,
            "jax_step_ms": round(jax_s * 1e3, 2)}
  shapes = matmuls.layer_shapes(dims, m.width, m.depth, channels)
  n = result["batch"]
  flops = matmuls.step_flops(n, shapes)
  ceiling = matmuls.ceiling_gflops(n, shapes, min(fit.microbatch or n, n), _REPEATS.value)
  result.update(gflop_per_step=round(flops / 1e9, 2), matmul_ceiling_gflops=round(ceiling, 1),
                jax_fraction_of_ceiling=round(flops / jax_s / 1e9 / ceiling, 2))
  model = torch_siren(torch, dims, m.width, m.depth, channels, first, hidden)
  eager_s = time_torch(torch, model, task, fit.batch_size, compiled=False)
  result.update(torch_eager_step_ms=round(eager_s * 1e3, 2), eager_over_jax=round(eager_s / jax_s, 2),
                torch_eager_fraction_of_ceiling=round(flops / eager_s / 1e9 / ceiling, 2))
  if _COMPILE.value:
    try:
      compiled_s = time_torch(torch, model, task, fit.batch_size, compiled=True)
      result.update(torch_compile_step_ms=round(compiled_s * 1e3, 2),
                    compile_over_jax=round(compiled_s / jax_s, 2))
    except Exception as e:  # pylint: disable=broad-except  (inductor needs a C++ toolchain, etc.)
      result["torch_compile_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
  return result


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise UserError("PyTorch is not installed in this interpreter; make a throwaway venv (see "
                    "benchmarks/signal_speed.py's docstring) and run this with its python") from None
  if min(_REPEATS.value, _WARMUPS.value, _WIDTH.value, _VIDEO_WIDTH.value, _DEPTH.value) < 1:
    raise UserError("--repeats, --warmups, --width, --video_width and --depth must be >= 1")
  if not (0 <= _AUDIO_BATCH.value <= _AUDIO_SAMPLES.value and 1 <= _VIDEO_BATCH.value <= _VIDEO_SAMPLES.value):
    raise UserError("batches must fit their samples (--audio_batch 0 = the whole clip)")
  logging.set_verbosity(logging.WARNING)
  rev = common.git_rev()
  result = {"benchmark": "signal_speed", "git": rev, "machine": common.machine(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count()}
  for kind in ("audio", "video"):
    result[kind] = compare(torch, kind)
  common.emit(result)


if __name__ == "__main__":
  cli.run(main)
