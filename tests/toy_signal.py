"""A signal and a model kind defined outside siren_jax, to prove the seam (tests/test_seam.py).

The signal is a 1-D function, f(x) = sin(3 pi x) exp(-x^2) sampled at ``data.points`` points of
[-1, 1], fitted to its values and scored by its RMS error (a lower-is-better headline); its render
hook writes the fit at any number of points as CSV; it has no report hook (the generic page shows
it). The kind is a cosine MLP. This file is also their config: a run names the signal and the kind by
this module's dotted path, ``tests.toy_signal``, so the commands find them again from config.json.

    python -m siren_jax.main --config=tests/toy_signal.py --workdir=runs/toy
"""

import dataclasses
import os
from typing import Any, Callable, Dict, Sequence

import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import linen as nn

from siren_jax import configuration
from siren_jax.engine import evaluate, sharding
from siren_jax.engine.registry import Headline, Signal
from siren_jax.engine.task import Capabilities
from siren_jax.engine.trained import load_run
from siren_jax.errors import UserError
from siren_jax.io import outputs, rundir
from siren_jax.nets.kind import Kind

NAME = "tests.toy_signal"  # its module path from the checkout: how a run names the signal and the kind

SIGNAL = Signal(name=NAME, coord_dims=1, headline=Headline("rmse", "RMS error", lower_is_better=True),
                task=NAME, render=NAME, render_takes=("chunk_size",))


class CosNet(nn.Module):
  """Dense layers with cosine activations (the first with wide weights, so its features span several
  periods over [-1, 1]), a linear output."""
  width: int
  depth: int
  out_features: int

  @nn.compact
  def __call__(self, x):
    for i in range(self.depth + 1):
      init = nn.initializers.normal(5.0) if i == 0 else nn.initializers.lecun_normal()
      x = jnp.cos(nn.Dense(self.width, kernel_init=init, name=f"layer_{i}")(x))
    return nn.Dense(self.out_features, name="output")(x)


KIND = Kind(NAME, lambda m, out_features, grid_shape: CosNet(m.width, m.depth, out_features))


def function(x: np.ndarray) -> np.ndarray:
  return np.sin(3 * np.pi * x) * np.exp(-x ** 2)


def get_config() -> ml_collections.ConfigDict:
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  config = configuration.load_config(os.path.join(root, "configs", "_base.py"))
  config.task = NAME
  config.data = ml_collections.ConfigDict({"points": 64})
  config.model.kind = NAME
  config.model.width = 32
  config.model.depth = 1
  config.train.num_steps = 200
  config.train.batch_size = 0
  config.train.learning_rate = 1e-2
  config.train.log_every = 50
  config.train.checkpoint_every = 100
  return config


@dataclasses.dataclass
class ToyTask(Capabilities):
  reference: np.ndarray  # (N, 1)
  arrays: Dict[str, np.ndarray]
  terms: Dict[str, float]
  name: str = "toy"

  out_features = 1

  @property
  def grid_shape(self) -> tuple:
    return (self.reference.shape[0],)

  @property
  def headline_name(self) -> str:
    return "rmse"

  def describe(self) -> str:
    return f"toy function at {self.reference.shape[0]} points"

  def prediction(self, values: np.ndarray) -> np.ndarray:
    return np.asarray(values, np.float32).reshape(self.reference.shape)

  def headline(self, prediction: np.ndarray) -> float:
    return float(np.sqrt(np.mean((prediction - self.reference) ** 2)))

  def summary_fields(self) -> Dict[str, Any]:
    return {"points": int(self.reference.shape[0])}

  def finish(self, workdir: str, prediction: np.ndarray, rows: Sequence[dict],
             summary: Dict[str, Any], render_derivatives: Callable) -> Dict[str, Any]:
    del rows, render_derivatives
    summary["rmse"] = self.headline(prediction)
    outputs.write_json(os.path.join(workdir, "fit.json"), {"fit": prediction[:, 0].tolist()})
    return summary


def validate_config(config) -> None:
  if not (isinstance(config.data.get("points"), int) and config.data.points >= 2):
    raise UserError(f"data.points must be an integer >= 2, got {config.data.get('points')!r}")


def prepare(config) -> ToyTask:
  x = np.linspace(-1.0, 1.0, config.data.points, dtype=np.float32)[:, None]
  y = function(x).astype(np.float32)
  return ToyTask(reference=y, arrays={"coords": x, "values": y}, terms={"values": 1.0})


def check_loaded(config, task: ToyTask, num_devices: int) -> None:
  configuration.check_batch(config, task.reference.shape[0], num_devices)


def command(f) -> None:
  """The render hook: the fit at 4x the training points, as CSV lines "x,f(x)"."""
  if not f.out.endswith(".csv"):
    raise UserError(f"--out must be a .csv path for a toy run, got {f.out!r}")
  rundir.check_output_file(f.out, "--out")
  run = load_run(f.workdir)
  x = np.linspace(-1.0, 1.0, 4 * int(run.config.data.points), dtype=np.float32)[:, None]
  values = evaluate.make_renderer(run.model.apply, sharding.make_mesh(),
                                  f.chunk_size or int(run.config.eval.chunk_size), 0)(run.params, x)
  with outputs.atomic_path(f.out) as tmp, open(tmp, "w") as out:
    out.writelines(f"{a:.6f},{b:.6f}\n" for a, b in zip(x[:, 0], np.asarray(values)[:, 0]))
