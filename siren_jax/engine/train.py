"""Training runs as the command lines start them: ``train_and_evaluate(config, workdir)`` and
``train_points`` (the points of a sweep). Everything that can fail on the user's input is checked
first (``preflight``, ``check_workdir``), then the process owns the run directories (``rundir``), writes
config.json and fits with the run builder (``run.setup`` and ``loop.fit``), refreshing report.html.
"""

import json
import os
from typing import Any, Dict, List, Sequence

import jax
from absl import logging

from siren_jax import configuration, report
from siren_jax.engine import loop, memory, registry, run, sampling, sharding, step, trained
from siren_jax.errors import UserError
from siren_jax.io import checkpoints, outputs, rundir
from siren_jax.nets import kinds


def refresh_report(workdir: str) -> None:
  """Writes workdir/report.html. The report is a convenience: a failure here must not stop a fit."""
  try:
    report.write_report(workdir)
  except Exception as e:  # pylint: disable=broad-except
    logging.warning("could not write %s/report.html: %s", workdir, e)


def train_and_evaluate(config, workdir: str) -> Dict[str, Any]:
  """Fits ``config.data.image`` under ``config.train.supervision`` and writes the run's outputs to
  ``workdir``; resumes from the workdir's last checkpoint if there is one.

  Returns the summary (also written to ``workdir/summary.json``).
  """
  return train_points([config], [workdir])[0]


def preflight(configs: Sequence[Any]):
  """Every check that can fail on the user's input, done before anything is written: each config's
  values, the task's data (loaded and turned into targets) and what depends on its size and the machine.
  Points of one group share the data of the first. Returns (fit data, device mesh)."""
  for config in configs:
    configuration.validate(config)
  fit = registry.prepare(configs[0])
  mesh = sharding.make_mesh()
  for config in configs:
    registry.check_loaded(config, fit, mesh.size)
    sampling.validate(config, configuration.effective_batch_size(config, registry.num_samples(fit)),
                      has_sampler=fit.sampler is not None,
                      has_task_loss=fit.loss is not None)
  compact = fit.sampler is not None  # its arrays are what is held, not per-sample floats
  memory.check_fits(configs[0], registry.num_samples(fit), fit.out_features, len(configs),
                    sharding.resolve_microbatch(configs[0].train.microbatch),
                    in_features=registry.in_features(fit),
                    data_bytes=sum(a.nbytes for a in fit.arrays.values()) if compact else None,
                    # a task's own loss (a shape's, a PDE's) is of input derivatives
                    input_derivatives=fit.loss is not None or set(fit.terms) != {"values"})
  return fit, mesh


def check_workdir(resolved: Dict[str, Any], workdir: str) -> None:
  """Refuses to resume ``workdir`` unless its config.json is readable and matches ``resolved`` (the
  config now); checkpoints without a config.json have nothing to be checked against, so are refused too."""
  config_path = os.path.join(workdir, "config.json")
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if not os.path.exists(config_path):
    if checkpoints.has_steps(ckpt_dir):
      raise UserError(f"{workdir} has checkpoints but no config.json to check them against, so they "
                      f"cannot be resumed safely; put the run's config.json back, or move {ckpt_dir} "
                      f"aside to start over, or use a new --workdir")
    return
  try:
    with open(config_path) as f:
      saved = json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f"cannot read {config_path} ({e}); it is what a resumed run is checked against: "
                    f"restore it, or use a new --workdir") from None
  if not isinstance(saved, dict):
    raise UserError(f"{config_path} holds a JSON {type(saved).__name__}, not a config; restore it, or "
                    f"use a new --workdir")
  configuration.check_resumable(saved, resolved)


def train_points(configs: Sequence[Any], workdirs: Sequence[str],
                 checked=None) -> List[Dict[str, Any]]:
  """Trains several points that differ only in VMAPPABLE_FIELDS as one vmapped program, each with its
  own workdir, checkpoints and outputs exactly as a single run would write them. One point is a plain
  run (no vmap). All points must resume from the same step. Returns their summaries.

  Everything is validated before anything is written; then this process owns the workdirs
  (``rundir.own``: a second process on one of them is refused in one line) until it returns.
  ``checked`` is what ``preflight(configs)`` returned, where the caller has run it already.
  """
  fit, mesh = checked or preflight(configs)
  for config, workdir in zip(configs, workdirs):
    check_workdir(configuration.to_dict(config), workdir)
  done = [_complete(cfg, wd, fit) for cfg, wd in zip(configs, workdirs)]
  if all(done):  # the same config, already trained to the end: nothing to do, nothing rewritten
    for wd in workdirs:
      logging.info("%s is already complete (%s steps); nothing to do; open %s", wd,
                   configs[0].train.num_steps, os.path.join(wd, "report.html"))
    return done
  with rundir.own(workdirs):
    return _train_owned(configs, workdirs, fit, mesh)


def _complete(config, workdir: str, task):
  """The summary of a run finished under this config whose final checkpoint is intact and fits the
  model, else None (then the run resumes, falling back past damage or refusing a mismatch)."""
  summary = outputs.finished_run(workdir, config.train.num_steps, allow_diverged=False)
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if summary is None or not os.path.isdir(ckpt_dir):
    return None
  model = kinds.build_model(config.model, task.out_features, task.grid_shape)
  like = jax.eval_shape(lambda: step.create_train_state(jax.random.PRNGKey(0), model, config,
                                                        in_features=registry.in_features(task)))
  ckpt = checkpoints.Checkpointer(ckpt_dir, 1, restore_only=True)
  try:
    return summary if ckpt.is_final(config.train.num_steps, like) else None
  finally:
    ckpt.close()


def _train_owned(configs, workdirs, task, mesh) -> List[Dict[str, Any]]:
  """``train_points`` once its inputs are validated and its workdirs owned."""
  fit = run.setup(configs, task, mesh)

  def start():
    """Once the checkpoints are restored (a checkpoint that does not fit the config is bad input,
    reported in one line and no more): config.json and the model fields the data resolved (a
    refused resume leaves the workdir as it was), and what the run is, in the log."""
    resolved = kinds.resolved_fields(fit.base.model, task.grid_shape)
    for config, workdir in zip(configs, workdirs):
      outputs.write_json(os.path.join(workdir, "config.json"), configuration.to_dict(config))
      if resolved:  # what the data decided of the model, so that a render rebuilds it from files alone
        outputs.write_json(os.path.join(workdir, trained.RESOLVED_NAME), {"model": resolved})
    _describe(fit, mesh)

  return loop.fit(fit, workdirs, on_outputs=refresh_report, before_training=start)


def _describe(fit, mesh) -> None:
  task, base, t = fit.task, fit.base, fit.base.train
  logging.info("JAX devices: %s", sharding.describe_devices())
  if fit.batch_size != t.batch_size:
    logging.info("train.batch_size=%d is more than the %d samples: every step uses all of them (full "
                 "batch)", t.batch_size, fit.num_samples)
  logging.info("%s; supervision %s; model %s width %d depth %d, %d parameters; %d device(s); batch "
               "%s%s%s", task.describe(), ",".join(f"{n}:{v:g}" for n, v in task.terms.items()),
               base.model.kind, base.model.width, base.model.depth, fit.num_params, mesh.size,
               fit.batch_size or f"full ({fit.num_samples} samples)",
               f" drawn by error (map refreshed every {fit.sampling_every} steps)"
               if fit.sampling_every else "",
               f"; {fit.k} points trained together in one program, {fit.vmap_width} vmapped at a "
               f"time" if fit.k > 1 else "")
