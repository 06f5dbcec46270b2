"""The signals the engine can fit, by ``config.task``: the only map from a task's name to its code.

A signal is a package that declares itself with a ``SIGNAL`` (``Signal`` below) in its
``__init__.py``: its name, the coordinate dimension its networks take, its headline metric, and the
modules of its hooks, imported only when used (so ``report`` and ``sweep`` read a headline without
importing a task's data code). The built-in ones are ``BUILTIN``; ``config.task`` may also be the
dotted path of any importable module that defines ``SIGNAL`` (a signal kept outside this package: a
run's config.json then names it, so ``render`` and ``report`` find it again), or the name of a
signal given to ``register``.

Hooks (each a module path; ``task`` is required, the others optional):
* ``task``: ``validate_config(config)`` (checks of the signal's config fields that need no data, one
  line each), ``prepare(config) -> Task`` (loads the data; ``siren_jax.engine.task.Task``) and
  ``check_loaded(config, task, num_devices)`` (checks that depend on the data and the machine).
  ``train.preflight`` runs all three before anything is written.
* ``fit``: ``fit(config, workdir)``, the main command's job for this signal in place of one
  ``train.train_and_evaluate`` (an image set fits every image of the set).
* ``report``: ``run_page(page, config, summary) -> str``, the run's HTML page
  (``siren_jax.io.page``); without it a run gets the generic page (curves, summary, config).
* ``render``: ``command(flags)``, ``siren_jax.render`` for a run of the signal (its flags:
  ``Signal.render_flags`` and ``render_takes``).
"""

import dataclasses
import importlib
from typing import Any, Optional, Tuple

from siren_jax.declared import Declared

BUILTIN = {"image": "siren_jax.signals.image", "audio": "siren_jax.signals.audio",
           "video": "siren_jax.signals.video", "sdf": "siren_jax.signals.sdf",
           "helmholtz": "siren_jax.signals.pde.helmholtz", "wave": "siren_jax.signals.pde.wave",
           "helmholtz_inverse": "siren_jax.signals.pde.inverse"}
DEFAULT = "image"  # runs written before tasks existed have no config.task: they are images


@dataclasses.dataclass(frozen=True)
class Headline:
  """The metric a signal logs every ``log_every`` steps and puts first in summary.json and sweeps."""
  key: str  # its key in metrics rows, summary.json and sweep results
  label: str  # its name on pages and plots
  lower_is_better: bool = False  # an error in the data's units; otherwise a quality in dB

  @property
  def unit(self) -> str:
    return "" if self.lower_is_better else "dB"

  def format(self, value: float) -> str:
    """As log lines show it: dB to 2 decimals, or an error to 3 significant digits."""
    return f"{value:.3g}" if self.lower_is_better else f"{value:.2f} dB"


@dataclasses.dataclass(frozen=True)
class Flag:
  """A flag of ``siren_jax.render`` that a signal defines (``kind``: integer, float or string)."""
  name: str
  kind: str
  default: Any
  help: str


@dataclasses.dataclass(frozen=True)
class Signal:
  """What the engine and the commands know of a signal (the module docstring lists the hooks).

  ``render_flags`` are the render flags the signal defines; ``render_takes`` names those its render
  accepts (its own and other signals', e.g. an image's --size), or None where its ``command`` checks
  the flags itself.
  """
  name: str
  coord_dims: int
  headline: Headline
  task: str
  fit: Optional[str] = None
  report: Optional[str] = None
  render: Optional[str] = None
  render_flags: Tuple[Flag, ...] = ()
  render_takes: Optional[Tuple[str, ...]] = ()

  def hook(self, name: str):
    """The module of hook ``name``, imported now; None where the signal has none."""
    path = getattr(self, name)
    return importlib.import_module(path) if path else None


_SIGNALS = Declared("task", "SIGNAL", Signal, BUILTIN)


def register(signal: Signal) -> Signal:
  """Makes ``signal`` known by its name in this process (a signal defined outside the package)."""
  return _SIGNALS.register(signal)


def names() -> Tuple[str, ...]:
  return _SIGNALS.names()


def get(name: str) -> Signal:
  """The signal called ``name``: a built-in, a registered one, or a module path defining SIGNAL."""
  return _SIGNALS.get(name)


def builtin_signals() -> Tuple[Signal, ...]:
  return tuple(get(name) for name in BUILTIN)


def name_of(config) -> str:
  """The config's task (a ConfigDict or config.json's dict)."""
  return config.get("task", DEFAULT) if config is not None else DEFAULT


def of(config) -> Signal:
  return get(name_of(config))


def headline(config) -> tuple:
  """(metric key, label) of the headline a run of ``config`` logs."""
  h = of(config).headline
  return h.key, h.label


def lower_is_better(config) -> bool:
  return of(config).headline.lower_is_better


def format_headline(config, value: float) -> str:
  return of(config).headline.format(value)


def coord_dims(config) -> int:
  return of(config).coord_dims


def module(config):
  """The task module of ``config``'s signal."""
  return of(config).hook("task")


def validate_config(config) -> None:
  module(config).validate_config(config)


def prepare(config):
  return module(config).prepare(config)


def check_loaded(config, task, num_devices: int) -> None:
  module(config).check_loaded(config, task, num_devices)


def num_samples(task) -> int:
  s = task.sampler
  return s.num_samples if s is not None else task.arrays["coords"].shape[0]


def in_features(task) -> int:
  s = task.sampler
  return s.in_features if s is not None else task.arrays["coords"].shape[-1]
