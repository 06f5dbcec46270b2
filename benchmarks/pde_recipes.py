"""PDE recipes: training seconds to a given rel_l2 (and rel_l2 at the end) of configs/helmholtz.py and
configs/wave.py under different sizes, learning rates and models, to choose their defaults and to
measure the baselines.

    python -m benchmarks.pde_recipes --recipes=h_w256_b1k_lr1e-3,h_w128_b1k_lr1e-3 \
        --out=benchmarks/results/pde_recipes.jsonl

Each recipe is a config (``CONFIGS``) with the recipe's overrides (``RECIPES``), trained in a temporary
run directory; rel_l2 is against the task's reference, evaluated every ``log_every`` steps (a
crossing is read at the first evaluation after it; evaluation time is not training time). One JSON
line per recipe is appended to --out as soon as it finishes, so a long sweep that is stopped keeps
what it measured.
"""

import json
from typing import Any, Dict

from absl import app, flags

from benchmarks import common
from siren_jax import configuration
from siren_jax.io import outputs

TARGETS = (0.5, 0.2, 0.1)
PINN = {"model.kind": "tanh", "model.width": 20, "model.depth": 7}  # the official PINN: tanh, 8 x 20

# name -> (config, overrides).
RECIPES: Dict[str, tuple] = {
    "h_w256_b1k_lr1e-3": ("helmholtz", {"train.batch_size": 1024, "train.learning_rate": 1e-3,
                                        "train.num_steps": 1200, "train.log_every": 100}),
    "h_w256_b1k_lr3e-4": ("helmholtz", {"train.batch_size": 1024, "train.learning_rate": 3e-4,
                                        "train.num_steps": 1200, "train.log_every": 100}),
    "h_w128_b1k_lr1e-3": ("helmholtz", {"train.batch_size": 1024, "train.learning_rate": 1e-3,
                                        "model.width": 128, "train.num_steps": 1200,
                                        "train.log_every": 100}),
}
W128 = {"model.width": 128, "train.batch_size": 1024}
RECIPES.update({
    "h_w128_b1k_lr1e-4_6k": ("helmholtz", dict(W128, **{"train.learning_rate": 1e-4,
                                                        "train.num_steps": 6000,
                                                        "train.log_every": 500})),
    "h_w128_b1k_lr3e-4_6k": ("helmholtz", dict(W128, **{"train.learning_rate": 3e-4,
                                                        "train.num_steps": 6000,
                                                        "train.log_every": 500})),
    "h_w128_b1k_l2_lr1e-4_6k": ("helmholtz", dict(W128, **{"pde.norm": "l2",
                                                           "train.learning_rate": 1e-4,
                                                           "train.num_steps": 6000,
                                                           "train.log_every": 500})),
    "h_w128_b1k_l2_lr3e-4_10k": ("helmholtz", dict(W128, **{"pde.norm": "l2",
                                                            "train.learning_rate": 3e-4,
                                                            "train.num_steps": 10000,
                                                            "train.log_every": 500})),
    "h_w128_b1k_l2_lr1e-3_6k": ("helmholtz", dict(W128, **{"pde.norm": "l2",
                                                           "train.learning_rate": 1e-3,
                                                           "train.num_steps": 6000,
                                                           "train.log_every": 500})),
})
# Second round (l2 penalty, 4x128): learning rate, the source's weight, and fewer, larger batches.
L2 = dict(W128, **{"pde.norm": "l2", "train.log_every": 500})
RECIPES.update({
    "h_l2_lr3e-4_6k": ("helmholtz", dict(L2, **{"train.learning_rate": 3e-4, "train.num_steps": 6000})),
    "h_l2_sw10_6k": ("helmholtz", dict(L2, **{"pde.source_weight": 10.0, "train.learning_rate": 1e-4,
                                              "train.num_steps": 6000})),
    "h_l2_sw0.1_6k": ("helmholtz", dict(L2, **{"pde.source_weight": 0.1, "train.learning_rate": 1e-4,
                                               "train.num_steps": 6000})),
    "h_l2_b4k_lr3e-4_2k": ("helmholtz", dict(L2, **{"train.batch_size": 4096, "train.learning_rate": 3e-4,
                                                    "train.num_steps": 2000, "train.log_every": 250})),
    # A first layer of higher frequency: the source is a Gaussian of standard deviation 0.01.
    "h_l2_first60_6k": ("helmholtz", dict(L2, **{"model.first_omega_0": 60.0,
                                                  "train.learning_rate": 1e-4, "train.num_steps": 6000})),
    # The official per-point weights: its losses are sums with the source (Helmholtz) or initial
    # (wave) terms weighted by its batch / 1000 (/ 10, / 100), so at its batch of 52,900 (115,600) a
    # source point weighs 52.9 residual points, an initial point 11,560; batch / 1000 at a batch of
    # 1024 would weigh it 1.
    "h_l1_sw52.9_6k": ("helmholtz", dict(W128, **{"pde.norm": "l1", "pde.source_weight": 52.9,
                                                   "train.learning_rate": 1e-4, "train.num_steps": 6000,
                                                   "train.log_every": 500})),
    "h_l2_sw52.9_6k": ("helmholtz", dict(L2, **{"pde.source_weight": 52.9, "train.learning_rate": 1e-4,
                                                 "train.num_steps": 6000})),
    "wave_official_weights": ("wave", {"pde.initial_weight": 11560.0, "pde.velocity_weight": 1156.0}),
    # The wave without the official pretraining phase (the default has 500 steps of it).
    "wave_no_pretrain": ("wave", {"pde.pretrain_steps": 0}),
})
# The defaults as configs/helmholtz.py and configs/wave.py hold them, for each medium, and the
# baselines (the same loss and budget) on the uniform medium.
RECIPES.update({f"helmholtz_{v}": ("helmholtz", {"pde.velocity": v}) for v in ("uniform", "square",
                                                                               "circle")})
RECIPES.update({"helmholtz_tanh": ("helmholtz", {"model.kind": "tanh"}),
                "helmholtz_relu_pe": ("helmholtz", {"model.kind": "relu_pe"}),
                "helmholtz_pinn": ("helmholtz", dict(PINN)),
                "wave_uniform": ("wave", {}),
                "wave_tanh": ("wave", {"model.kind": "tanh"}),
                "wave_relu_pe": ("wave", {"model.kind": "relu_pe"}),
                "wave_pinn": ("wave", dict(PINN))})

_RECIPES = flags.DEFINE_list("recipes", ["helmholtz_uniform"], f"Recipes to run: {sorted(RECIPES)}.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/pde_recipes.jsonl", "JSON lines appended here.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of every fit.")
_SET = flags.DEFINE_list("set", [], "Extra overrides field=value applied to every recipe.")


def recipe_config(name: str):
  task, overrides = RECIPES[name]
  config = configuration.repo_config(task)
  config.seed = _SEED.value
  extra = dict(item.split("=", 1) for item in _SET.value)
  for field, value in list(overrides.items()) + list(extra.items()):
    section, key = field.split(".")
    old = config[section][key]
    config[section][key] = type(old)(value) if old is not None and isinstance(value, str) else value
  return config, dict(overrides, **extra)


def time_to(rows, target: float):
  """Training seconds and step of the first logged row (after step 0) at or below ``target``."""
  for r in rows:
    if r["step"] > 0 and float(r["rel_l2"]) <= target:
      return {"train_seconds": r["train_seconds"], "step": r["step"]}
  return None


def main(argv):
  del argv
  for name in _RECIPES.value:
    config, overrides = recipe_config(name)
    summary, rows = common.fit_rows(config)
    result: Dict[str, Any] = {
        "recipe": name, "task": config.task, "overrides": overrides, "machine": common.machine(),
        "git": common.git_rev(), "seed": _SEED.value, "rel_l2": summary["rel_l2"],
        "steps": summary["steps"], "train_seconds": summary["train_seconds"],
        "time_to": {str(t): time_to(rows, t) for t in TARGETS},
        "curve": [(r["step"], r["train_seconds"], round(float(r["rel_l2"]), 4)) for r in rows]}
    for key in ("mean_abs_residual", "rel_l2_per_time", "velocity", "model"):
      if key in summary:
        result[key] = summary[key]
    outputs.append_jsonl(_OUT.value, result)
    print(json.dumps({k: result[k] for k in ("recipe", "rel_l2", "train_seconds", "time_to")}),
          flush=True)


if __name__ == "__main__":
  app.run(main)
