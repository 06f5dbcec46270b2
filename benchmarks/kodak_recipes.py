"""Kodak recipes at full resolution: training seconds to 30, 35 and 40 dB, in seconds and in units of
T, the machine's own default cameraman run (configs/default.py: its training seconds for 500 steps).

    python -m benchmarks.kodak_recipes --images=kodim23 --recipes=before,w512_lr1e-3 \
        --out=benchmarks/results/kodak_recipes.jsonl [--t_seconds=110 | --measure_t]

Each recipe is configs/kodak.py with BEFORE's values (the config before tuning) and then the recipe's
overrides from RECIPES, trained on each image in a temporary run
directory; PSNR is on the whole image, evaluated every ``log_every`` steps (a crossing is read at the
first evaluation after it; evaluation time is not training time). One JSON line per (image, recipe) is
appended to --out as soon as it finishes, so a long sweep that is stopped keeps what it measured.
"""

import json
import os
from typing import Any, Dict

from absl import app, flags

from benchmarks import common
from siren_jax import configuration
from siren_jax.io import outputs

KODAK_CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "kodak.py")
DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "default.py")
TARGETS_DB = (30.0, 35.0, 40.0)

# configs/kodak.py as it was before tuning: every recipe starts from these values, whatever
# configs/kodak.py holds now, so that a row's overrides say exactly what it ran.
BEFORE: Dict[str, Any] = {"model.width": 512, "model.depth": 3, "train.batch_size": 32768,
                          "train.learning_rate": 5e-4, "train.sampling": "uniform",
                          "train.sampling_every": 50, "train.log_every": 100}
# name -> config overrides (dotted field: value) on top of BEFORE.
RECIPES: Dict[str, Dict[str, Any]] = {
    "before": {"model.width": 512, "model.depth": 3, "train.batch_size": 32768,
               "train.learning_rate": 5e-4, "train.num_steps": 240, "train.log_every": 20},
    "w512_lr1e-3": {"model.width": 512, "model.depth": 3, "train.batch_size": 32768,
                    "train.learning_rate": 1e-3, "train.num_steps": 240, "train.log_every": 20},
    "w512_b16k_lr1e-3": {"model.width": 512, "model.depth": 3, "train.batch_size": 16384,
                         "train.learning_rate": 1e-3, "train.num_steps": 480, "train.log_every": 40},
    "w384_lr1e-3": {"model.width": 384, "model.depth": 3, "train.batch_size": 32768,
                    "train.learning_rate": 1e-3, "train.num_steps": 420, "train.log_every": 35},
    "w256_lr2e-3": {"model.width": 256, "model.depth": 3, "train.batch_size": 32768,
                    "train.learning_rate": 2e-3, "train.num_steps": 900, "train.log_every": 75},
    "w512_lr2e-3": {"model.width": 512, "model.depth": 3, "train.batch_size": 32768,
                    "train.learning_rate": 2e-3, "train.num_steps": 240, "train.log_every": 20},
}
# The screening's best, given 2.5 T on this CPU, and the same for 12 T (the 40 dB goal).
RECIPES["w512_b16k_640"] = dict(RECIPES["w512_b16k_lr1e-3"], **{"train.num_steps": 640})
RECIPES["w512_b16k_3000"] = dict(RECIPES["w512_b16k_lr1e-3"], **{"train.num_steps": 3000,
                                                                 "train.log_every": 100})
# Each step's pixels drawn in proportion to their error (train.sampling=error), the map refreshed
# every 40 steps, against the same recipe's uniform batches.
RECIPES["w512_b16k_640_error"] = dict(RECIPES["w512_b16k_640"], **{
    "train.sampling": "error", "train.sampling_every": 40})
# Error sampling's steps cost more (the map refreshes): this many take the uniform 640 steps' time.
RECIPES["w512_b16k_440_error"] = dict(RECIPES["w512_b16k_640_error"], **{"train.num_steps": 440})
RECIPES["w512_b16k_2200_error"] = dict(RECIPES["w512_b16k_640_error"], **{"train.num_steps": 2200,
                                                                          "train.log_every": 100})

_IMAGES = flags.DEFINE_list("images", ["kodim23"], "Kodak images (or any image specs).")
_RECIPES = flags.DEFINE_list("recipes", list(RECIPES), "Recipe names from RECIPES.")
_STEPS = flags.DEFINE_integer("num_steps", 0, "Override every recipe's num_steps (0 = the recipe's).")
_LOG_EVERY = flags.DEFINE_integer("log_every", 0, "Override every recipe's log_every (0 = the recipe's).")
_T = flags.DEFINE_float("t_seconds", 0.0, "T: the default cameraman run's training seconds.")
_MEASURE_T = flags.DEFINE_bool("measure_t", False, "Measure T first (one default run, ~2 min).")
_OUT = flags.DEFINE_string("out", None, "JSONL file the rows are appended to.")
_TABLE = flags.DEFINE_bool("table", False, "Train nothing: print --out's rows as RESULTS' markdown table "
                           "(the last row of each image and recipe; T from --t_seconds if given).")


def recipe_config(name: str, image: str):
  config = configuration.load_config(KODAK_CONFIG)
  config.data.image = image
  for field, value in {**BEFORE, **RECIPES[name]}.items():
    section, key = field.split(".")
    config[section][key] = value
  if _STEPS.value:
    config.train.num_steps = _STEPS.value
  if _LOG_EVERY.value:
    config.train.log_every = _LOG_EVERY.value
  config.train.checkpoint_every = config.train.num_steps  # checkpoints are not what is measured
  return config


def measure_t() -> float:
  config = configuration.load_config(DEFAULT_CONFIG)
  config.train.log_every = config.train.num_steps
  return common.fit_rows(config)[0]["train_seconds"]


def _cell(reached, t_seconds: float) -> str:
  if reached is None:
    return "not reached"
  seconds = reached["train_seconds"]
  return f"{seconds:.0f} s = {seconds / t_seconds:.2f} T (step {reached['step']})"


def describe(overrides: Dict[str, Any]) -> str:
  """'3x512, 16384 px, Adam 0.001, error sampling every 40' for a recipe's overrides (BEFORE for what
  they leave out)."""
  get = {**BEFORE, **overrides}.get
  text = (f"{get('model.depth')}x{get('model.width')}, {get('train.batch_size')} px, "
          f"Adam {get('train.learning_rate'):g}")
  if get("train.sampling") == "error":
    text += f", error sampling every {get('train.sampling_every')}"
  return text


def table(path: str, t_seconds: float = 0.0) -> str:
  """Markdown: per image and recipe (its latest row), steps, time to each target (in T: ``t_seconds``,
  else each row's own), final PSNR."""
  rows, equal = {}, []
  for row in outputs.read_jsonl(path):
    if "recipe" in row:
      rows[(row["image"], row["recipe"])] = row
    else:
      equal.append(row)
  lines = ["| image | recipe | what | steps | " + " | ".join(f"to {db:g} dB" for db in TARGETS_DB)
           + " | final PSNR (dB) | training s |", "|---" * (6 + len(TARGETS_DB)) + "|"]
  for (image, recipe), r in sorted(rows.items()):
    t = t_seconds or r["t_seconds"]
    lines.append(f"| {image} | {recipe} | {describe(r['overrides'])} | {r['num_steps']} | "
                 + " | ".join(_cell(r[f"to_{db:g}db"], t) for db in TARGETS_DB)
                 + f" | {r['final_psnr']:.2f} | {r['train_seconds']:.0f} |")
  lines += ["", "Mid-run readings at equal training time (each invocation's recipes when its shortest run "
            "finished; a run whose schedule has not decayed yet reads low):", ""]
  for e in equal:
    lines.append(f"* {e['image']}, {e['equal_time_seconds']:.0f} s: " + "; ".join(
        f"{n} {a['psnr']:.2f} dB (step {a['step']})" for n, a in e["at_equal_time"].items()))
  return "\n".join(lines)


def main(argv):
  del argv
  if _TABLE.value:
    print(table(_OUT.value, _T.value))
    return
  unknown = [r for r in _RECIPES.value if r not in RECIPES]
  if unknown:
    raise app.UsageError(f"unknown recipes {unknown}; known: {sorted(RECIPES)}")
  common.git_rev()
  t_seconds = measure_t() if _MEASURE_T.value else _T.value
  for image in _IMAGES.value:
    curves = {}
    for name in _RECIPES.value:
      config = recipe_config(name, image)
      summary, rows = common.fit_rows(config)
      curves[name] = rows
      reached = {f"to_{db:g}db": common.time_to(rows, db) for db in TARGETS_DB}
      if t_seconds:
        for v in reached.values():
          if v is not None:
            v["in_t"] = round(v["train_seconds"] / t_seconds, 3)
      row = {"benchmark": "kodak_recipes", "image": image, "recipe": name,
             "overrides": {**BEFORE, **RECIPES[name]},
             "num_steps": config.train.num_steps, "t_seconds": t_seconds, **reached,
             "final_psnr": summary["psnr"], "train_seconds": summary["train_seconds"],
             "num_params": summary["num_params"],
             "curve": [(r["step"], r["train_seconds"], round(float(r["psnr"]), 3)) for r in rows],
             "machine": common.machine(), "git": common.git_rev()}
      _write(row)
    if len(curves) > 1:  # the recipes at equal training time: when the shortest one finished
      seconds = min(rows[-1]["train_seconds"] for rows in curves.values())
      _write({"benchmark": "kodak_recipes", "image": image, "equal_time_seconds": seconds,
              "at_equal_time": {n: common.at_time(rows, seconds) for n, rows in curves.items()},
              "git": common.git_rev()})


def _write(row) -> None:
  common.emit(row)
  if _OUT.value:
    with open(_OUT.value, "a") as f:
      f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
  app.run(main)
