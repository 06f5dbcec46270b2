"""Video (SIREN paper Sec. 4.1): fit a clip as a function of (t, y, x) with a 3x256 SIREN.

    python -m siren_jax.main --config=configs/video.py --workdir=runs/video

The embedded default is astronaut_pan, a 48-frame colour pan and zoom over scikit-image's astronaut made
deterministically, fitted at 64x64. Any clip works: --config.data.video= a directory of frames (sorted by
name), an animated GIF/PNG/WebP, or a video file (mp4, mkv, webm, ...; PyAV decodes it), cut down with
data.frames, data.frame_step, data.height and data.width. Its time on a 2-core CPU is in
benchmarks/RESULTS.md; ours against ReLU is experiments/video_baselines.py. The paper's recipe (a 3x1024
SIREN, 0.38 % of the pixels per step, 100k steps) is a GPU job.

Renders at any size, frame count (slow motion) or time: python -m siren_jax.render --workdir=runs/video
--out=slow.gif --frames=192.
"""

import os

import ml_collections
from ml_collections import config_dict

from siren_jax.configuration import load_config


def get_config() -> ml_collections.ConfigDict:
  config = load_config(os.path.join(os.path.dirname(__file__), "_base.py"))
  config.task = "video"
  config.data = ml_collections.ConfigDict()
  # Built-in clip, a directory of frames (sorted by name), an animated image or a video file.
  config.data.video = "astronaut_pan"
  config.data.frames = 0  # Keep at most this many frames after frame_step (0 = all).
  config.data.frame_step = 1  # Keep every n-th frame of the source.
  config.data.height = 64  # Frames are resized like images (data.resize, "fit": never enlarged).
  config.data.width = 64
  config.data.resize = "fit"  # fit (keep the aspect ratio, never enlarge) | exact, as for images.
  config.data.max_pixels = 4096 * 4096  # Refuse larger frames (memory guard); raise it deliberately.
  config.data.fps = 0.0  # Frame rate of the animated outputs (0 = the clip's, divided by frame_step).
  config.model.time_omega_0 = config_dict.placeholder(float)  # SIREN: first-layer ω₀ of t (None = ω₀).
  config.train.num_steps = 300
  config.train.batch_size = 16384  # Random (t, y, x) samples per step (8 % of this 196k-sample clip).
  config.train.learning_rate = 1e-3
  config.train.log_every = 50
  config.train.checkpoint_every = 100
  return config
