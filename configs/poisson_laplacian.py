"""Poisson reconstruction from the Laplacian: fit cameraman 256x256 to its 5-point Laplacian only.

    python -m siren_jax.main --config=configs/poisson_laplacian.py --workdir=runs/lapl

A Laplacian fixes the image only up to a harmonic function. The headline PSNR is after the best affine
plane a + b y + c x (summary.json: psnr_affine). The paper reports 14.95 dB for SIREN from the Laplacian;
the harmonic part that an affine plane cannot remove is the main reason such numbers are low. Expected on
a 2-core CPU: see benchmarks/RESULTS.md.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.train.supervision = "laplacian"
  config.train.num_steps = 500
  config.train.batch_size = 16384
  config.train.learning_rate = 1e-3
  config.train.log_every = 100
  return config
