"""Audio: fit a clip as a function of time with a 3x256 SIREN (the paper's Sec. 4.1 network).

    python -m siren_jax.main --config=configs/audio.py --workdir=runs/audio
    python -m siren_jax.main --config=configs/audio.py --workdir=runs/bach --config.data.audio=bach

data.audio is "synth" (a one-second clip the project synthesises, so it runs anywhere), "bach" or
"counting" (the paper's clips: data.audio_dir, else $SIREN_JAX_AUDIO_DIR, else ../shared/data/audio
beside the checkout) or the path of any PCM or float WAV. Each channel is one network output.
Coordinates are np.linspace(-R, R, N) (R = data.coord_range) as in the official code; this recipe puts
time on [-1, 1] with a first-layer omega_0 of 3000, the paper's first-layer frequencies
(siren_jax/signals/audio/task.py explains the equivalence); configs/audio_paper.py is the official recipe
itself. The headline metric is SNR (dB); the summary also has the paper's MSE on [-1, 1]. Outputs:
reconstruction.wav, original.wav, waveform.png, spectrogram.png, curves.png, report.html.
Time on a 2-core CPU: benchmarks/RESULTS.md.
"""

import os

import ml_collections

from siren_jax.configuration import load_config


def get_config():
  config = load_config(os.path.join(os.path.dirname(__file__), "_base.py"))
  config.task = "audio"
  config.data = ml_collections.ConfigDict()
  config.data.audio = "synth"  # synth | bach | counting | a WAV path.
  config.data.audio_dir = ""  # Where gt_bach.wav and gt_counting.wav live ("" = the default places).
  config.data.start = 0.0  # Seconds cut from the start of the clip.
  config.data.seconds = 0.0  # Seconds kept after data.start (0 = to the end).
  config.data.mono = False  # Mix every channel down to one (else one network output per channel).
  config.data.coord_range = 1.0  # Time coordinates span [-coord_range, coord_range].
  config.data.max_samples = 1 << 24  # Refuse longer clips (samples x channels; memory guard).
  config.model.first_omega_0 = 3000.0  # The paper's first-layer frequency for audio on [-1, 1].
  config.model.omega_0 = 30.0
  config.train.num_steps = 500
  config.train.batch_size = 0  # every sample every step (a short clip is small)
  # Best of 1e-4 (the paper's), 3e-4 and 1e-3 on the synth clip under the cosine schedule; the paper's
  # clips' tuning: benchmarks/RESULTS.md ("Audio").
  config.train.learning_rate = 3e-4
  config.train.log_every = 50
  config.train.checkpoint_every = 250
  return config
