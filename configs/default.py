"""Default: fit scikit-image's cameraman (the paper's image) at 256x256 with a 3x256 SIREN.

    python -m siren_jax.main --config=configs/default.py --workdir=runs/camera

Its time to quality on a 2-core CPU is in benchmarks/RESULTS.md ("The default, measured alone").
Any field can be overridden, e.g. --config.model.omega_0=60 --config.data.image=/path/to/my.jpg.
"""

import os

import ml_collections

from siren_jax.configuration import load_config


def get_config() -> ml_collections.ConfigDict:
  config = load_config(os.path.join(os.path.dirname(__file__), "_base.py"))
  config.task = "image"  # What is fitted (siren_jax.engine.registry): image here; configs/audio.py etc. others.

  config.data = ml_collections.ConfigDict()
  config.data.image = "camera"  # Built-in name (camera, astronaut, ...), kodim01..kodim24, or a path.
  config.data.kodak_dir = ""  # Where kodimNN.png live; "" = $SIREN_JAX_KODAK_DIR or the default dirs.
  config.data.height = 256  # Rows to resize to (0 = no limit); how: data.resize.
  config.data.width = 256  # Columns to resize to (0 = no limit).
  # fit: shrink to fit within height x width keeping the aspect ratio, never enlarge (a 300x451 photo
  # becomes 170x256; square built-ins become 256x256). exact: exactly height x width (0 on one side
  # keeps the aspect ratio).
  config.data.resize = "fit"
  config.data.max_pixels = 4096 * 4096  # Refuse larger images (memory guard); raise it deliberately.
  config.data.blend_source = ""  # Poisson blending: image whose gradients are pasted inside the mask.
  config.data.blend_mask = "ellipse"  # Blend region: ellipse (centred), ellipse:cy,cx,ry,rx, or a mask path.
  config.data.blend_mode = "replace"  # replace: source gradients inside; mixed: the stronger of the two.

  config.train.gradient_target = "sobel"  # Image gradient to fit: sobel (paper) | central | spectral.
  config.train.laplacian_target = "5point"  # Image Laplacian to fit: 5point | spectral.
  config.eval.crop_border = 0  # Pixels dropped on every side before PSNR (0 = the whole image).
  return config
