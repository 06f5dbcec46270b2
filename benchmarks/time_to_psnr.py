"""How fast does a config reach 30 and 40 dB? Trains it and reports training seconds to reach 30 and
40 dB (full-image PSNR, evaluated every --log_every steps; evaluation time is not training time).

    python -m benchmarks.time_to_psnr [--config=configs/kodak.py] [--config.train.num_steps=300 ...]

Prints JSON. Targets (issue 2): >= 30 dB within 20 s and >= 40 dB within 150 s on a 2-core CPU.
"""

import os


from absl import app, flags
from ml_collections import config_flags

from benchmarks import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(__file__), "..", "configs", "default.py"), "Config.")
_LOG_EVERY = flags.DEFINE_integer("log_every", 20, "Steps between PSNR evaluations.")


def main(_):
  common.git_rev()  # the commit this run starts from
  config = _CONFIG.value
  config.train.log_every = _LOG_EVERY.value
  summary, rows = common.fit_rows(config)
  t = config.train
  common.emit({
      "benchmark": "time_to_psnr", "config_image": config.data.image, "machine": common.machine(), "git": common.git_rev(),
      "recipe": {"batch_size": t.batch_size, "learning_rate": t.learning_rate, "schedule": t.schedule,
                 "num_steps": t.num_steps, "final_lr_fraction": t.final_lr_fraction,
                 "warmup_steps": t.warmup_steps, "omega_0": config.model.omega_0},
      "to_30db": common.time_to(rows, 30.0), "to_40db": common.time_to(rows, 40.0),
      "final_psnr": summary["psnr"], "train_seconds": summary["train_seconds"],
      "steps": summary["steps"]})


if __name__ == "__main__":
  app.run(main)
