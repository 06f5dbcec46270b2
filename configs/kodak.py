"""Kodak: fit one Kodak image (default kodim23, 768x512 RGB) at full resolution.

    python -m siren_jax.main --config=configs/kodak.py --workdir=runs/kodim23 --config.data.image=kodim23

Images are read from data.kodak_dir, else $SIREN_JAX_KODAK_DIR, ../shared/data/kodak beside the checkout,
or ~/.cache/siren_jax/kodak (where scripts/download_kodak.sh puts them).
PSNR is on the whole image (eval.crop_border=0), including the 1-pixel grey/black border some Kodak
images carry; set --config.eval.crop_border=1 to leave it out. Expected on a 2-core CPU: see
benchmarks/RESULTS.md (the full 4000 steps take about TODO).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.data.image = "kodim23"
  config.data.height = 0  # full resolution
  config.data.width = 0
  config.model.width = 512  # a natural 768x512 colour image needs more capacity than cameraman at 256^2
  config.model.depth = 3
  config.train.num_steps = 4000
  config.train.batch_size = 32768
  config.train.learning_rate = 5e-4
  config.train.log_every = 250
  config.train.checkpoint_every = 1000
  return config
