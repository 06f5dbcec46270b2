"""Poisson reconstruction from gradients: fit cameraman 256x256 to its Sobel gradient only (paper Sec. 4.1).

    python -m siren_jax.main --config=configs/poisson_gradient.py --workdir=runs/grad

Gradients fix the image up to a constant, so the headline PSNR is after the best constant offset
(summary.json: psnr_offset; psnr_affine and psnr_scale_offset beside it). Expected on a 2-core CPU: see
benchmarks/RESULTS.md (Poisson table).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.train.supervision = "gradient"
  config.train.num_steps = 1000
  config.train.batch_size = 16384
  config.train.learning_rate = 1e-3
  config.train.log_every = 100
  return config
