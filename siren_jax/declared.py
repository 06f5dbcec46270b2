"""Things named in a config and declared in code, looked up one way: a signal (``config.task``,
``engine.registry``) and a model kind (``model.kind``, ``nets.kinds``).

A name is a built-in one, one given to ``register`` in this process, or the dotted path of an
importable module that declares the thing as a module attribute (``SIGNAL``, ``KIND``): a run's
config.json names it either way, so the commands find it again from the run directory.
"""

import importlib
from typing import Any, Callable, Dict, Tuple

from siren_jax.errors import UserError


class Declared:
  """The ``what`` (e.g. "task") of type ``cls`` declared as ``attr`` (e.g. "SIGNAL"). ``builtin``
  maps each built-in name to the thing or to the path of the module that declares it (imported on
  first use)."""

  def __init__(self, what: str, attr: str, cls: type, builtin: Dict[str, Any],
               name_of: Callable[[Any], str] = lambda item: item.name):
    self.what, self.attr, self.cls, self.builtin, self._name_of = what, attr, cls, builtin, name_of
    self._registered: Dict[str, Any] = {}

  def register(self, item):
    """Makes ``item`` known by its name in this process (one defined outside the package)."""
    name = self._name_of(item)
    if name in self.builtin:
      raise ValueError(f"{name!r} is a built-in {self.what}'s name")
    self._registered[name] = item
    return item

  def names(self) -> Tuple[str, ...]:
    return tuple(self.builtin) + tuple(self._registered)

  def get(self, name: str):
    if name in self._registered:
      return self._registered[name]
    found = self.builtin.get(name) if isinstance(name, str) else None
    if found is not None and not isinstance(found, str):
      return found
    path = found or (name if isinstance(name, str) and "." in name else None)
    if path is None:
      raise UserError(f"{self.what} must be one of {self.names()} or a module path, got {name!r}")
    try:
      module = importlib.import_module(path)
    except ImportError as e:
      raise UserError(f"{self.what} {name!r}: cannot import {path}: {e}") from None
    item = getattr(module, self.attr, None)
    if not isinstance(item, self.cls):
      raise UserError(f"{self.what} {name!r}: module {path} defines no {self.attr} "
                      f"(a siren_jax {self.cls.__name__})")
    return item
