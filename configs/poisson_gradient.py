"""Poisson reconstruction from gradients: fit cameraman 256x256 to its gradient only (paper Sec. 4.1).

    python -m siren_jax.main --config=configs/poisson_gradient.py --workdir=runs/grad

Measured on the project's 2-core CPU (benchmarks/RESULTS.md, "Recipes at equal training time"): 33.8 dB
after 600 steps (15 min of training), 35.5 dB by step 1000, 35.56 dB after all 1500 (36 min). The paper
reports 32.91 dB after 10,000 steps. Two choices make the difference:
  * full-batch steps: a gradient loss is dominated by slow, image-wide modes, and minibatch noise on
    them cost 1.9 dB at equal time against full batches;
  * the central-difference target instead of the paper's Sobel: Sobel's [1, 2, 1] smoothing blurs what
    the network is asked to integrate (the exact Sobel solution scores 32.86 dB, benchmarks/
    poisson_ceiling.py).
The paper's own recipe (Sobel, lr 1e-4 constant) is these overrides:
    --config.train.gradient_target=sobel --config.train.learning_rate=1e-4 --config.train.schedule=constant
(28.98 dB after 300 steps, 8 min here).

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
