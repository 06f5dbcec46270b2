"""Model kinds by ``model.kind``: the only map from a kind's name to the network it builds.

The built-in kinds are ``siren_jax.nets.models.KINDS`` (SIREN, its positional-encoding variant and the
paper's baselines); ``model.kind`` may also be the dotted path of any importable module that defines
``KIND`` (a ``siren_jax.nets.kind.Kind``), or the name of a kind given to ``register``. A run's
config.json names its kind either way, so ``render`` rebuilds the network from it.
"""

import importlib
from typing import Dict, Tuple

from siren_jax.errors import UserError
from siren_jax.nets import models
from siren_jax.nets.kind import Kind

BUILTIN: Dict[str, Kind] = {k.name: k for k in models.KINDS}
_REGISTERED: Dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
  """Makes ``kind`` known by its name in this process (a kind defined outside the package)."""
  if kind.name in BUILTIN:
    raise ValueError(f"{kind.name!r} is a built-in kind's name")
  _REGISTERED[kind.name] = kind
  return kind


def names() -> Tuple[str, ...]:
  return tuple(BUILTIN) + tuple(_REGISTERED)


def get(name: str) -> Kind:
  """The kind called ``name``: a built-in, a registered one, or a module path defining KIND."""
  kind = BUILTIN.get(name) or _REGISTERED.get(name)
  if kind is not None:
    return kind
  if not (isinstance(name, str) and "." in name):
    raise UserError(f"model.kind must be one of {names()} or the module path of a kind, got {name!r}")
  try:
    module = importlib.import_module(name)
  except ImportError as e:
    raise UserError(f"model.kind {name!r}: cannot import it: {e}") from None
  kind = getattr(module, "KIND", None)
  if not isinstance(kind, Kind):
    raise UserError(f"model.kind {name!r}: the module defines no KIND (a siren_jax Kind)")
  return kind


def build_model(model_config, out_features: int, grid_shape=(256, 256)):
  """The network ``model_config`` describes, for ``out_features`` outputs on a sample grid of
  ``grid_shape`` (which decides the fields a kind resolves from the data)."""
  return get(model_config.kind).build(model_config, out_features, grid_shape)


def resolved_fields(model_config, grid_shape) -> dict:
  """The model fields the data decided (``Kind.resolve``), {} for kinds without any."""
  resolve = get(model_config.kind).resolve
  return dict(resolve(model_config, grid_shape)) if resolve else {}
