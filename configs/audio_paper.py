"""Audio with the official code's recipe (experiment_scripts/train_audio.py and dataio.py of
vsitzmann/siren): coordinates np.linspace(-100, 100, N), omega_0 = 30 in every layer (so the first
layer's frequencies are those of omega_0 = 3000 on [-1, 1]), a 3x256 SIREN, Adam at a constant 1e-4,
the whole clip every step. The official script runs 9001 epochs (one step each); set num_steps to what
time allows.

    python -m siren_jax.main --config=configs/audio_paper.py --workdir=runs/bach_paper \
        --config.data.audio=bach --config.train.num_steps=9001
"""

import os

from siren_jax.configuration import load_config


def get_config():
  config = load_config(os.path.join(os.path.dirname(__file__), "audio.py"))
  config.data.coord_range = 100.0
  config.model.first_omega_0 = None  # every layer at omega_0
  config.model.omega_0 = 30.0
  config.model.width = 256
  config.model.depth = 3
  config.train.batch_size = 0
  config.train.learning_rate = 1e-4
  config.train.schedule = "constant"
  config.train.warmup_steps = 0
  return config
