"""Fit an image with a SIREN.

    python -m siren_jax.main --config=configs/default.py --workdir=runs/camera [--config.FIELD=VALUE ...]

Re-running the same command on the same workdir resumes from its last checkpoint.
"""

from absl import flags
from ml_collections import config_flags

from siren_jax import cli, train
from siren_jax.errors import UserError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for outputs and checkpoints (created if missing).")


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  cli.run(main, required=("config", "workdir"))
