"""Fit a signal with a SIREN (or another model kind): an image (or a set of images), or whichever
signal the config's task names.

    python -m siren_jax.main --config=configs/default.py --workdir=runs/camera [--config.FIELD=VALUE ...]
    python -m siren_jax.main --config=configs/kodak.py --workdir=runs/kodak --config.data.image=kodak

Re-running the same command on the same workdir resumes from its last checkpoint.
"""

from absl import flags
from ml_collections import config_flags

from siren_jax import cli
from siren_jax.engine import registry, train
from siren_jax.errors import UserError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for outputs and checkpoints (created if missing).")


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  config = FLAGS.config
  fit = registry.of(config).hook("fit")  # a signal's own job (an image set), else one run
  if fit is not None:
    fit.fit(config, FLAGS.workdir)
  else:
    train.train_and_evaluate(config, FLAGS.workdir)


if __name__ == "__main__":
  cli.run(main, required=("config", "workdir"))
