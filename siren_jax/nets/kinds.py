"""Model kinds by ``model.kind``: the only map from a kind's name to the network it builds.

The built-in kinds are ``siren_jax.nets.models.KINDS`` (SIREN, its positional-encoding variant and the
paper's baselines); ``model.kind`` may also be the dotted path of any importable module that defines
``KIND`` (a ``siren_jax.nets.kind.Kind``), or the name of a kind given to ``register``. A run's
config.json names its kind either way, so ``render`` rebuilds the network from it.
"""

from typing import Dict, Tuple

from siren_jax.declared import Declared
from siren_jax.nets import models
from siren_jax.nets.kind import Kind

BUILTIN: Dict[str, Kind] = {k.name: k for k in models.KINDS}
_KINDS = Declared("model.kind", "KIND", Kind, BUILTIN)


def register(kind: Kind) -> Kind:
  """Makes ``kind`` known by its name in this process (a kind defined outside the package)."""
  return _KINDS.register(kind)


def names() -> Tuple[str, ...]:
  return _KINDS.names()


def get(name: str) -> Kind:
  """The kind called ``name``: a built-in, a registered one, or a module path defining KIND."""
  return _KINDS.get(name)


def build_model(model_config, out_features: int, grid_shape=(256, 256)):
  """The network ``model_config`` describes, for ``out_features`` outputs on a sample grid of
  ``grid_shape`` (which decides the fields a kind resolves from the data)."""
  return get(model_config.kind).build(model_config, out_features, grid_shape)


def resolved_fields(model_config, grid_shape) -> dict:
  """The model fields the data decided (``Kind.resolve``), {} for kinds without any."""
  resolve = get(model_config.kind).resolve
  return dict(resolve(model_config, grid_shape)) if resolve else {}
