"""What a model kind declares (``Kind``); the registry of kinds is ``siren_jax.nets.kinds``."""

import dataclasses
from typing import Callable, Optional, Tuple


def _same_features(model_config, in_features: int) -> int:
  del model_config
  return in_features


@dataclasses.dataclass(frozen=True)
class Kind:
  """A family of networks that ``model.kind`` names.

  build: ``(model_config, out_features, grid_shape) -> flax Module`` mapping (..., D) coordinates to
    (..., out_features) values; ``grid_shape`` is the sample grid's shape, for fields whose 0 means
    "from the data" (``resolve``).
  fields: the ``model.*`` fields it reads besides ``kind``, ``width`` and ``depth`` (documentation, and
    what a sweep of another kind may leave alone).
  sine: a sine network that takes the ω₀ fields (``hyper``); its module names them ``first_omega_0``
    and ``hidden_omega_0``, so that ``hyper.bind`` gives each sweep point its own and points differing
    only in them train as one program.
  plain_sine: a sine network whose first layer sees the coordinates themselves, so derivatives
    propagate in closed form (``train.*_method=propagate``) and a per-coordinate ω₀ applies.
  input_features: ``(model_config, D) -> features`` its first dense layer sees (an encoding's width),
    for the memory estimate.
  resolve: ``(model_config, grid_shape) -> {field: value}``, the fields the data decides (a
    positional encoding's frequency count from the grid's Nyquist rate), saved with the run so that a
    trained run is rebuilt from its config alone.
  """
  name: str
  build: Callable
  fields: Tuple[str, ...] = ()
  sine: bool = False
  plain_sine: bool = False
  input_features: Callable = _same_features
  resolve: Optional[Callable] = None
