"""Kodak: fit one Kodak image (default kodim23, 512x768 (HxW) RGB) at full resolution with a 3x512 SIREN.

    python -m siren_jax.main --config=configs/kodak.py --workdir=runs/kodim23 --config.data.image=kodim23

Images are read from data.kodak_dir, else $SIREN_JAX_KODAK_DIR, ../shared/data/kodak beside the checkout,
or ~/.cache/siren_jax/kodak (where scripts/download_kodak.sh puts them).
PSNR is on the whole image (eval.crop_border=0), including the 1-pixel grey/black border some Kodak
images carry; --config.eval.crop_border=1 leaves it out.
A long job on a CPU (benchmarks/RESULTS.md has a measured 150-step run), minutes on a GPU. Metrics
rows come every 100 steps; a progress line with the ETA comes after 10 s of training and then every
30 s. The recipe follows the tuned cameraman recipe with a lower learning rate for the wider network; it
has not been tuned on Kodak itself.
"""

import os

from siren_jax.configuration import load_config


def get_config():
  config = load_config(os.path.join(os.path.dirname(__file__), "default.py"))
  config.data.image = "kodim23"
  config.data.height = 0  # full resolution
  config.data.width = 0
  config.model.width = 512  # a 512x768 colour photograph needs more capacity than cameraman at 256^2
  config.model.depth = 3
  config.train.num_steps = 3000
  config.train.batch_size = 32768
  config.train.learning_rate = 5e-4
  config.train.log_every = 100
  config.train.checkpoint_every = 500
  return config
