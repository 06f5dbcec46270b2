"""Which task a config fits, by ``config.task``: "image" (``image_task``) and the tasks added beside it
(``MODULES``: a task's name and the module that builds it).

A task module provides:
* ``validate_config(config)``: checks of its ``config.data`` fields that need no data (one-line
  UserError);
* ``prepare(config) -> Task``: loads and checks the data (``siren_jax.engine.task.Task``);
* ``check_loaded(config, task, num_devices)``: checks that depend on the loaded data and the machine;
A task too large for per-sample float arrays (video) gives a ``sampler`` (``step.Sampler``): its
``arrays`` are then compact and the step gathers each batch from them.
``train.preflight`` runs all three before anything is written; ``run.setup`` and ``render`` prepare the
task through ``prepare`` here, so a task is built in one place.
"""

import importlib

from siren_jax.errors import UserError

MODULES = {"image": "siren_jax.signals.image.task", "audio": "siren_jax.signals.audio.task",
           "video": "siren_jax.signals.video.task", "sdf": "siren_jax.signals.sdf.task",
           "helmholtz": "siren_jax.signals.pde.helmholtz.task", "wave": "siren_jax.signals.pde.wave.task",
           "helmholtz_inverse": "siren_jax.signals.pde.inverse.task"}
NAMES = tuple(MODULES)
# What each task logs as its headline (metrics rows, summary.json, sweep results; higher is better
# unless the task is in ERROR_HEADLINES) and its label, and the coordinate dimension its networks take.
# Static tables, so that the report and the render command read them without importing a task module.
# Images keep "psnr".
HEADLINES = {"image": ("psnr", "PSNR"), "audio": ("snr", "SNR"), "video": ("psnr", "PSNR"),
             "sdf": ("surface_error", "mean |f| on the surface"),
             "helmholtz": ("rel_l2", "relative L2 error"), "wave": ("rel_l2", "relative L2 error"),
             "helmholtz_inverse": ("velocity_error", "velocity error (relative L2)")}
COORD_DIMS = {"image": 2, "audio": 1, "video": 3, "sdf": 3, "helmholtz": 2, "wave": 3,
              "helmholtz_inverse": 2}
# lower is better, in the data's units (not dB)
ERROR_HEADLINES = ("sdf", "helmholtz", "wave", "helmholtz_inverse")
# Tasks whose report page and render command live in their own module (``run_page(page, config,
# summary)`` and ``render_command(flags)``), so that report.py and render.py name no such task.
PAGES = {"helmholtz": "siren_jax.signals.pde.pages", "wave": "siren_jax.signals.pde.pages",
         "helmholtz_inverse": "siren_jax.signals.pde.pages"}


def name_of(config) -> str:
  """The config's task (runs written before tasks existed have none: they are images)."""
  return config.get("task", "image")


def headline(config) -> tuple:
  """(metric key, label) of the headline a run of ``config`` (a ConfigDict or config.json's dict) logs."""
  return HEADLINES.get(name_of(config), HEADLINES["image"])


def lower_is_better(config) -> bool:
  return name_of(config) in ERROR_HEADLINES


def format_headline(config, value: float) -> str:
  """The headline as log lines show it: dB to 2 decimals, or an error to 3 significant digits."""
  return f"{value:.3g}" if lower_is_better(config) else f"{value:.2f} dB"


def coord_dims(config) -> int:
  return COORD_DIMS.get(name_of(config), 2)


def module(config):
  name = name_of(config)
  if name not in NAMES:
    raise UserError(f"task must be one of {NAMES}, got {name!r}")
  return importlib.import_module(MODULES[name])


def pages(config):
  """The module of the task's own report page and render command, or None (``PAGES``)."""
  name = PAGES.get(name_of(config))
  return importlib.import_module(name) if name else None


def validate_config(config) -> None:
  module(config).validate_config(config)


def prepare(config):
  return module(config).prepare(config)


def check_loaded(config, task, num_devices: int) -> None:
  module(config).check_loaded(config, task, num_devices)


def sampler(task):
  """The task's ``step.Sampler``, or None for a task of per-sample arrays."""
  return getattr(task, "sampler", None)


def num_samples(task) -> int:
  s = sampler(task)
  return s.num_samples if s is not None else task.arrays["coords"].shape[0]


def in_features(task) -> int:
  s = sampler(task)
  return s.in_features if s is not None else task.arrays["coords"].shape[-1]
