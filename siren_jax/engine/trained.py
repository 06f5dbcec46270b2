"""A trained run read back from its directory: the model rebuilt from ``config.json`` and the newest
intact checkpoint's parameters (``load_run``), for the render command, the experiments and anything
that evaluates a finished (or still training) run.

The model is rebuilt from the config's fields and the fields the training data resolved
(``RESOLVED_NAME``, e.g. a positional encoding's frequency count that ``pe_frequencies=0`` left to the
grid's size); a run written before that file existed has its count read off the checkpoint's
first-layer fan-in.
"""

import dataclasses
import json
import os
from typing import Any

import jax
import ml_collections

from siren_jax.engine import registry, step
from siren_jax.errors import UserError
from siren_jax.io import checkpoints
from siren_jax.nets import kinds

RESOLVED_NAME = "resolved.json"  # {"model": {field: value}}: what the data decided of the model

@dataclasses.dataclass(frozen=True)
class TrainedRun:
  """A workdir's model and restored parameters, ready to evaluate."""
  workdir: str
  config: Any  # ml_collections.ConfigDict rebuilt from config.json
  model: Any  # flax module
  params: Any
  step: int
  height: int  # training resolution (0 when the run has not written summary.json yet)
  width: int
  channels: int


def _read_json(path: str) -> dict:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f"cannot read {path}: {e}") from None


def _saved_channels(saved_shapes: dict) -> int:
  """Output channels from a checkpoint's parameter shapes (for a run with no summary.json yet)."""
  shape = saved_shapes.get("params.params.output.bias")
  if not shape:
    raise UserError("cannot tell the run's output channels: it has no summary.json yet and its "
                    "checkpoint has no params.params.output.bias")
  return int(shape[0])


def _model_config(config, saved_shapes: dict, resolved: dict, dims: int = 2):
  """``config.model`` with the fields the data resolved (``resolved``: RESOLVED_NAME's, written since
  runs save it), else, for older runs, the positional encoding's frequency count read off the
  checkpoint where the config leaves it to the image size (``pe_frequencies=0``, the Nyquist rule of
  the training image): the first layer's fan-in is D + 2 D L for D = ``dims`` coordinates."""
  m = config.model
  if resolved:
    m = ml_collections.ConfigDict(m.to_dict())
    m.update(resolved)
    return m
  if kinds.get(m.get("kind")).resolve is None or m.get("pe_frequencies"):
    return m
  fan_ins = {int(shape[0]) for key, shape in saved_shapes.items()
             if key.endswith("kernel") and len(shape) == 2 and int(shape[0]) != int(m.width)}
  frequencies = sorted((f - dims) // (2 * dims) for f in fan_ins
                       if f > dims and (f - dims) % (2 * dims) == 0)
  if not frequencies:
    raise UserError("cannot tell the positional encoding's frequencies from the checkpoint")
  m = ml_collections.ConfigDict(m.to_dict())
  m.pe_frequencies = frequencies[0]
  return m


def load_run(workdir: str) -> TrainedRun:
  """Rebuilds the model from ``workdir/config.json`` and restores the newest intact checkpoint's
  parameters (falling back past damaged ones, with a warning, as ``checkpoints`` describes)."""
  if not os.path.isdir(workdir):
    raise UserError(f"workdir not found: {workdir}")
  config_path = os.path.join(workdir, "config.json")
  if not os.path.exists(config_path):
    raise UserError(f"{workdir} has no config.json: not a siren_jax run directory")
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(ckpt_dir):
    raise UserError(f"{workdir} has no checkpoints/ directory (has the run saved a checkpoint yet?)")

  saved_config = _read_json(config_path)
  if not isinstance(saved_config, dict):
    raise UserError(f"{config_path} holds a JSON {type(saved_config).__name__}, not a config")
  config = ml_collections.ConfigDict(saved_config)
  summary_path = os.path.join(workdir, "summary.json")
  summary = _read_json(summary_path) if os.path.exists(summary_path) else {}
  if not isinstance(summary, dict):
    raise UserError(f"{summary_path} holds a JSON {type(summary).__name__}, not a run summary")
  resolved_path = os.path.join(workdir, RESOLVED_NAME)
  resolved = _read_json(resolved_path).get("model", {}) if os.path.exists(resolved_path) else {}
  built = {}

  def like(saved_shapes):
    """The train state to restore into, built for the step about to be restored."""
    channels = int(summary.get("channels") or _saved_channels(saved_shapes))
    try:
      dims = registry.coord_dims(config)  # 2 for images, 1 for audio, 3 for video
      built["model"] = kinds.build_model(_model_config(config, saved_shapes, resolved, dims),
                                          out_features=channels)
      built["channels"] = channels
      return step.create_train_state(jax.random.PRNGKey(0), built["model"], config, in_features=dims)
    except (ValueError, AttributeError, KeyError, TypeError, UserError) as e:
      raise UserError(f"{config_path}: cannot build the model: {e}") from None

  try:
    max_to_keep = max(int(config.get("train", {}).get("max_checkpoints", 2)), 1)
  except (TypeError, ValueError, AttributeError) as e:
    raise UserError(f"{config_path}: bad train.max_checkpoints: {e}") from None
  ckpt = checkpoints.Checkpointer(ckpt_dir, max_to_keep,
                                 restore_only=True)  # the run may be training: leave its files alone
  restored = ckpt.restore_latest(like)
  ckpt.close()
  if restored is None:
    raise UserError(f"no checkpoint in {ckpt_dir} yet")
  state = restored[0]
  return TrainedRun(workdir=workdir, config=config, model=built["model"], params=state.params,
                    step=int(state.step), height=int(summary.get("height", 0)),
                    width=int(summary.get("width", 0)), channels=built["channels"])


def saved_task(workdir: str) -> str:
  """The task of the run in ``workdir`` (the default signal's when its config.json cannot tell:
  ``load_run`` reports what is wrong with it)."""
  try:
    with open(os.path.join(workdir, "config.json")) as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return registry.DEFAULT
  return registry.name_of(saved) if isinstance(saved, dict) else registry.DEFAULT
