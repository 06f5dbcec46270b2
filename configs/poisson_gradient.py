"""Poisson reconstruction from gradients: fit cameraman 256x256 to its gradient only (paper Sec. 4.1).

    python -m siren_jax.main --config=configs/poisson_gradient.py --workdir=runs/grad

Two choices make it beat the paper's recipe at equal training time (benchmarks/RESULTS.md, "Recipes at
equal training time", has the figures, and the paper's):
  * full-batch steps: a gradient loss is dominated by slow, image-wide modes, which minibatch noise
    disturbs;
  * the central-difference target instead of the paper's Sobel: Sobel's [1, 2, 1] smoothing blurs what
    the network is asked to integrate (benchmarks/poisson_ceiling.py).
The paper's own recipe (Sobel, lr 1e-4 constant) is these overrides:
    --config.train.gradient_target=sobel --config.train.learning_rate=1e-4 --config.train.schedule=constant

Gradients fix the image up to a constant, so the headline PSNR is after the best constant offset
(summary.json: psnr_offset; psnr_affine and psnr_scale_offset beside it).
"""

import os

from siren_jax.configuration import load_config


def get_config():
  config = load_config(os.path.join(os.path.dirname(__file__), "default.py"))
  config.train.supervision = "gradient"
  config.train.gradient_target = "central"
  config.train.num_steps = 1500
  config.train.batch_size = 0
  config.train.learning_rate = 3e-4
  config.train.schedule = "cosine"
  config.train.log_every = 100
  return config
