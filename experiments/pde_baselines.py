"""SIREN against the paper's PDE baselines (tanh, ReLU + positional encoding, and the official PINN: tanh,
8 layers of 20) on the Helmholtz or wave problem, with the same loss, steps, batch and learning rate:
a table of rel_l2 (and mean |residual| for Helmholtz) and seconds.

    python -m experiments.pde_baselines --task=helmholtz --workdir=runs/pde_baselines
        [--kinds=siren,tanh,relu_pe,pinn] [--steps=0] [--velocity=uniform]

Each family is a normal run (``train.train_and_evaluate``) of configs/helmholtz.py or configs/wave.py
in --workdir/KIND (so it resumes, and its report.html and figures are there); only the model differs
("pinn" is ``model.kind=tanh`` at width 20 and depth 7: 8 tanh layers). Writes table.md and table.json
to --workdir.
"""

import os
import sys

from absl import flags, logging

from siren_jax import cli, configuration
from siren_jax.engine import train
from siren_jax.errors import UserError
from siren_jax.io import outputs

_TASK = flags.DEFINE_enum("task", "helmholtz", ["helmholtz", "wave"], "The PDE (its configs/ file).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
_KINDS = flags.DEFINE_list("kinds", ["siren", "tanh", "relu_pe", "pinn"], "Model families.")
_STEPS = flags.DEFINE_integer("steps", 0, "Training steps for every family (0 = the config's).")
_VELOCITY = flags.DEFINE_string("velocity", "uniform", "pde.velocity of every family.")

FAMILIES = {"siren": {}, "tanh": {"kind": "tanh"}, "relu_pe": {"kind": "relu_pe"},
            "pinn": {"kind": "tanh", "width": 20, "depth": 7}}


def family_config(family: str):
  """The PDE's config for one family; only the model differs between families."""
  if family not in FAMILIES:
    raise UserError(f"--kinds: unknown family {family!r}; choose from {sorted(FAMILIES)}")
  config = configuration.repo_config(_TASK.value)
  for key, value in FAMILIES[family].items():
    config.model[key] = value
  config.pde.velocity = _VELOCITY.value
  if _STEPS.value:
    config.train.num_steps = _STEPS.value
    config.train.log_every = max(1, _STEPS.value // 10)
    config.train.checkpoint_every = _STEPS.value
  return config


def main(_):
  logging.set_verbosity(logging.WARNING)
  workdir = _WORKDIR.value
  configs = {family: family_config(family) for family in _KINDS.value}
  for config in configs.values():  # every family's config checked before any training
    train.preflight([config])
  table = []
  for family, config in configs.items():
    summary = train.train_and_evaluate(config, os.path.join(workdir, family))
    m = config.model
    table.append({"family": family, "model": f"{m.kind} {m.depth + 1}x{m.width}",
                  "rel_l2": summary["rel_l2"], "mean_abs_residual": summary.get("mean_abs_residual"),
                  "train_seconds": summary["train_seconds"], "num_params": summary["num_params"],
                  "steps": summary["steps"]})
    print(family, table[-1], file=sys.stderr, flush=True)
  base = next(iter(configs.values()))
  lines = [f"{_TASK.value}, {_VELOCITY.value} medium: {base.train.num_steps} steps of "
           f"{base.train.batch_size} points, lr {base.train.learning_rate:g} ({base.train.schedule}); "
           f"the same loss for every family.", "",
           "| family | model | rel_l2 | mean abs residual | training (s) | params |",
           "|---|---|---|---|---|---|"]
  for r in table:
    res = "–" if r["mean_abs_residual"] is None else f"{r['mean_abs_residual']:.4g}"
    lines.append(f"| {r['family']} | {r['model']} | {r['rel_l2']:.4g} | {res} | "
                 f"{r['train_seconds']:.1f} | {r['num_params']} |")
  with outputs.atomic_path(os.path.join(workdir, "table.md")) as tmp, open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  outputs.write_json(os.path.join(workdir, "table.json"),
                     {"task": _TASK.value, "velocity": _VELOCITY.value, "rows": table})
  print("\n".join(lines))


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  cli.run(main)
