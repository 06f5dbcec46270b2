"""The engine's fields, which every signal's config starts from: seed, model, training and evaluation.

A signal's config (configs/default.py for images, configs/audio.py, ...) loads this file, sets
``config.task`` and adds the signal's own fields (``config.data`` and any others); no signal's field
lives here. Not a config to run by itself (the leading underscore: --help lists none such).
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0  # Seeds initialisation and batch order: same config + seed = same result.

  config.model = ml_collections.ConfigDict()
  # siren | relu | tanh | relu_pe (NeRF encoding) | rff (Fourier features) | siren_pe (NeRF encoding in
  # front of a SIREN, as in Strümpler et al. 2022's codec).
  config.model.kind = "siren"
  config.model.width = 256  # Units per hidden layer.
  config.model.depth = 3  # Hidden sine layers after the first one (the official code's hidden_layers).
  config.model.omega_0 = 30.0  # Frequency scale of every sine layer unless overridden below.
  config.model.first_omega_0 = config_dict.placeholder(float)  # First layer's omega_0 (None = omega_0).
  config.model.hidden_omega_0 = config_dict.placeholder(float)  # Later layers' omega_0 (None = omega_0).
  config.model.sine = "fast"  # fast: fused sin/cos, ~2x faster steps on CPU; xla: jnp.sin (reference).
  config.model.pe_frequencies = 0  # relu_pe, siren_pe: encoding frequencies L (0 = Nyquist rule of the size).
  config.model.rff_features = 256  # rff: number of Gaussian Fourier features (x2 for cos and sin).
  config.model.rff_scale = 10.0  # rff: standard deviation sigma of the Fourier matrix B.

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 500  # Optimiser steps.
  config.train.supervision = "values"  # values | gradient | laplacian | a mix like "values:1,gradient:0.01".
  config.train.gradient_method = "auto"  # Input-gradient route: auto | reverse | forward | propagate.
  config.train.laplacian_method = "auto"  # Laplacian route: auto | forward | propagate.
  config.train.batch_size = 24576  # Random samples per step (0 = every sample every step).
  # Where each step's samples come from (siren_jax/engine/sampling.py): uniform (without replacement within an
  # epoch) | error (in proportion to each sample's squared error, importance-weighted so the loss stays
  # unbiased; images and audio fitted to values). Measured against uniform: benchmarks/RESULTS.md.
  config.train.sampling = "uniform"
  config.train.sampling_mix = 0.5  # error: share of the error-proportional part (the rest is uniform).
  config.train.sampling_every = 50  # error: steps between re-evaluations of the error map.
  config.train.microbatch = -1  # Pixels per gradient-accumulation chunk; -1 = auto (2048 on CPU, where
  #                               cache-sized chunks are ~1.4x faster; whole batch on accelerators), 0 = off.
  config.train.vmap_width = -1  # Sweep points one vmapped step batches (the rest loop inside the same
  #                               program); -1 = auto (1 on CPU, where one run fills the cores; all
  #                               points on accelerators), 0 = all points. Changes speed, not results.
  config.train.learning_rate = 1.5e-3  # Peak Adam learning rate (tuned: benchmarks/RESULTS.md).
  config.train.schedule = "cosine"  # constant | cosine | exponential (after warm-up).
  config.train.warmup_steps = 0  # Linear warm-up from lr/warmup_steps to the peak.
  config.train.final_lr_fraction = 0.01  # The schedule ends at this fraction of the peak.
  config.train.init_from = ""  # A run directory whose final parameters start this fit (fine-tuning:
  #                              fresh optimiser and schedule); "" = the usual initialisation.
  config.train.qat_bits = 0  # Quantisation-aware training: the loss sees the weights on the B-bit grid of
  #                            siren_jax.io.quantize (straight-through gradients); 0 = off.
  config.train.log_every = 50  # Steps between metrics rows (full-image PSNR evaluations); slow runs also
  #                              log a progress line with an ETA every ~30 s between rows.
  config.train.checkpoint_every = 250  # Steps between checkpoints (and always at the end).
  config.train.max_checkpoints = 2  # Checkpoints kept on disk.

  config.eval = ml_collections.ConfigDict()
  config.eval.chunk_size = 65536  # Pixels per forward pass when rendering (bounds memory).
  return config
