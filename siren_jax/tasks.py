"""Which task a config fits, by ``config.task``: "image" (``image_task``) and the tasks added beside it.

A task module provides:
* ``validate_config(config)``: checks of its ``config.data`` fields that need no data (one-line
  UserError);
* ``prepare(config) -> Task``: loads and checks the data (``siren_jax.task.Task``);
* ``check_loaded(config, task, num_devices)``: checks that depend on the loaded data and the machine;
* ``IN_FEATURES``: the coordinates' dimension (what a saved run's model is rebuilt with).
A task too large for per-sample float arrays (video) gives a ``sampler`` (``step.Sampler``): its
``arrays`` are then compact and the step gathers each batch from them.
``train.preflight`` runs all three before anything is written; ``run.setup`` and ``render`` prepare the
task through ``prepare`` here, so a task is built in one place.
"""

import importlib

from siren_jax.errors import UserError

NAMES = ("image", "video")  # each name N is the module siren_jax.N_task


def name_of(config) -> str:
  """The config's task (runs written before tasks existed have none: they are images)."""
  return config.get("task", "image")


def module(config):
  name = name_of(config)
  if name not in NAMES:
    raise UserError(f"task must be one of {NAMES}, got {name!r}")
  return importlib.import_module(f"siren_jax.{name}_task")


def validate_config(config) -> None:
  module(config).validate_config(config)


def prepare(config):
  return module(config).prepare(config)


def check_loaded(config, task, num_devices: int) -> None:
  module(config).check_loaded(config, task, num_devices)


def in_features_of(config) -> int:
  """The coordinates' dimension of the config's task, known before any data is loaded."""
  return module(config).IN_FEATURES


def sampler(task):
  """The task's ``step.Sampler``, or None for a task of per-sample arrays."""
  return getattr(task, "sampler", None)


def num_samples(task) -> int:
  s = sampler(task)
  return s.num_samples if s is not None else task.arrays["coords"].shape[0]


def in_features(task) -> int:
  s = sampler(task)
  return s.in_features if s is not None else task.arrays["coords"].shape[-1]
