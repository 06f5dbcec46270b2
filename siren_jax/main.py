"""Fit a signal with a SIREN: an image (or a set of images), or what the config's task names.

    python -m siren_jax.main --config=configs/default.py --workdir=runs/camera [--config.FIELD=VALUE ...]
    python -m siren_jax.main --config=configs/kodak.py --workdir=runs/kodak --config.data.image=kodak

Re-running the same command on the same workdir resumes from its last checkpoint.
"""

from absl import flags
from ml_collections import config_flags

from siren_jax import cli
from siren_jax.signals.image import sets as image_set
from siren_jax.engine import registry as tasks, train
from siren_jax.errors import UserError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for outputs and checkpoints (created if missing).")


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  config = FLAGS.config
  if tasks.name_of(config) == "image" and image_set.is_set(config.data.image):
    image_set.fit_set(config, FLAGS.workdir)
  else:
    train.train_and_evaluate(config, FLAGS.workdir)


if __name__ == "__main__":
  cli.run(main, required=("config", "workdir"))
