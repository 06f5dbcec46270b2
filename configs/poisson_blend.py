"""Poisson image editing (paper Fig. 4): fit one SIREN to a composite gradient field: the source
image's gradients inside a mask, the background's outside. The result is a seamless blend.

    python -m siren_jax.main --config=configs/poisson_blend.py --workdir=runs/blend
    python -m siren_jax.main --config=configs/poisson_blend.py --workdir=runs/myblend \\
        --config.data.image=/path/background.jpg --config.data.blend_source=/path/source.jpg \\
        [--config.data.blend_mask=/path/mask.png] [--config.data.blend_mode=mixed]

Both images are resized to data.height x data.width. Writes blend.png (background, source with the mask
outline, copy-paste, blend) besides the usual outputs. psnr_outside_mask measures how well the
background is kept outside the mask.
"""

import os

from siren_jax.configuration import load_config


def get_config():
  config = load_config(os.path.join(os.path.dirname(__file__), "default.py"))
  config.data.image = "camera"  # background
  config.data.blend_source = "astronaut"  # pasted inside the mask
  config.data.blend_mask = "ellipse:-0.5,-0.05,0.3,0.22"  # the astronaut's face onto the cameraman's head
  config.train.supervision = "gradient"
  config.train.num_steps = 500
  config.train.batch_size = 16384
  config.train.learning_rate = 1e-3
  config.train.log_every = 100
  return config
