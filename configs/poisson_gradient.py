"""Poisson reconstruction from gradients: fit cameraman 256x256 to its Sobel gradient only (paper Sec. 4.1).

    python -m siren_jax.main --config=configs/poisson_gradient.py --workdir=runs/grad

The paper's recipe (full batch, Adam at a constant lr 1e-4), cut from its 10,000 steps to 300 so that it
runs in about 8 minutes on a 2-core CPU: 28.98 dB there (benchmarks/RESULTS.md, Poisson table; raise
--config.train.num_steps on a GPU). Our earlier recipe, the image-fitting one (batches of 16384 pixels,
lr 1e-3, cosine), lost to it by 1.9 dB at equal training time: a gradient loss is dominated by slow,
image-wide modes, which want exact full-batch gradients and a gentler rate.

Gradients fix the image up to a constant, so the headline PSNR is after the best constant offset
(summary.json: psnr_offset; psnr_affine and psnr_scale_offset beside it).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.train.supervision = "gradient"
  config.train.num_steps = 300
  config.train.batch_size = 0
  config.train.learning_rate = 1e-4
  config.train.schedule = "constant"
  config.train.log_every = 25
  return config
