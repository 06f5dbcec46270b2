"""Per-point hyperparameters: the config values that a compiled step takes as inputs rather than as
constants, so that the points of a sweep that differ only in them train as one program.

Each value is resolved from a config here and nowhere else: ``resolve(config)`` gives the step's
inputs, ``omegas(model_config)`` the rule that the per-layer ω₀s default to ``model.omega_0``, and
``VMAPPABLE_FIELDS`` (what a sweep may vary inside one program) is derived from the same table.
"""

import dataclasses
from typing import Dict, Sequence, Tuple

# Step input -> the config fields it is read from, the first one set winning.
POINT_VALUES: Dict[str, Sequence[str]] = {
    "lr": ("train.learning_rate",),
    "first_omega": ("model.first_omega_0", "model.omega_0"),
    "hidden_omega": ("model.hidden_omega_0", "model.omega_0"),
}
# The seed changes no shape either: it enters as each point's own initialisation and batch order.
VMAPPABLE_FIELDS: Tuple[str, ...] = ("seed",) + tuple(
    dict.fromkeys(field for fields in POINT_VALUES.values() for field in fields))


def _first_set(config, fields: Sequence[str]) -> float:
  for field in fields:
    node = config
    for part in field.split("."):
      node = node.get(part) if node is not None else None
    if node is not None:
      return float(node)
  raise KeyError(f"none of {fields} is set")


def resolve(config) -> Dict[str, float]:
  """The step's per-point inputs (learning rate, first and hidden ω₀) for ``config``."""
  return {name: _first_set(config, fields) for name, fields in POINT_VALUES.items()}


def omegas(model_config) -> Tuple[float, float]:
  """(first-layer ω₀, hidden-layer ω₀) of a model config: each defaults to ``omega_0``."""
  values = resolve({"model": model_config, "train": {"learning_rate": 0.0}})
  return values["first_omega"], values["hidden_omega"]


def bind(model, values):
  """``model`` with the ω₀s of ``values`` (Python floats or traced scalars) where it has ω₀ fields
  (``first_omega_0`` and ``hidden_omega_0``: a SIREN, or any sine kind that names them so); other
  families as they are."""
  fields = {f.name for f in dataclasses.fields(model)} if dataclasses.is_dataclass(model) else set()
  if {"first_omega_0", "hidden_omega_0"} <= fields:
    return model.clone(first_omega_0=values["first_omega"], hidden_omega_0=values["hidden_omega"])
  return model
