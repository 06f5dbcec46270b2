"""Full-waveform inversion: a cylinder's velocity recovered from receiver data (SIREN paper Sec. 4.3).

    python -m siren_jax.main --config=configs/helmholtz_inverse.py --workdir=runs/fwi

The official experiment (train_inverse_helmholtz.py): 5 sources on a line below a cylinder of c = 2
(radius 0.1 at the centre, the background c = 1), 30 receivers in a U around it, k = 20; the receiver
data are made by the project's finite-difference solver (``siren_jax.signals.pde.inverse.measurements``). One network
outputs every source's complex field and the squared slowness (``siren_jax.signals.pde.inverse.task``); a
pretrain phase fits the fields of the known uniform medium, then the inversion fits the data with
the Helmholtz PML residual. Unlike the official recipe the pretrain also fits the FD fields of the
known medium (pde.field_weight). The sizes below are reduced to run in about 5 minutes on a 2-core CPU
(RESULTS.md, "Full-waveform inversion"). Paper size (the official run was a pretrain and an
inversion of their own; days on a CPU):

    --config.model.width=256 --config.train.batch_size=13225 --config.train.learning_rate=2e-5
    --config.train.num_steps=80000 --config.train.schedule=constant --config.pde.norm=l1
    --config.pde.source_points=100 --config.pde.data_weight=30 --config.pde.slowness_weight=2645
    --config.pde.field_weight=0

(batch 115^2 as the official InverseHelmholtz; data and slowness weights the official sums'
equivalents for the mean loss here: the number of receivers and batch / sources.)
Outputs: velocity.png (true, starting and recovered velocity and the error, sources, receivers and
the PML marked), fields.png (each source's field), inversion.npz, curves.png, summary.json
(velocity_error, initial_velocity_error, data_misfit) and report.html.
"""

import os

import ml_collections

from siren_jax.configuration import load_config


def get_config() -> ml_collections.ConfigDict:
  config = load_config(os.path.join(os.path.dirname(__file__), "_base.py"))
  config.task = "helmholtz_inverse"
  config.data = ml_collections.ConfigDict()  # nothing is loaded: the problem is config.pde

  config.model.width = 128
  config.model.depth = 3
  config.model.pe_frequencies = 10  # relu_pe baseline: the official code's frequencies for 2-D PDEs.

  config.train.num_steps = 4000
  config.train.batch_size = 1024  # Fresh points per step, receivers and source disks included.
  config.train.learning_rate = 1e-4
  config.train.schedule = "cosine"
  config.train.final_lr_fraction = 0.05
  config.train.supervision = "values"  # Unused by the PDE loss; sizes the memory estimate.
  config.train.log_every = 500
  config.train.checkpoint_every = 2000

  config.pde = ml_collections.ConfigDict()
  config.pde.velocity = "uniform"  # The known starting medium of the pretrain phase (official uniform).
  config.pde.wavenumber = 20.0  # k (official 20).
  config.pde.pml_width = 0.5  # PML from |x| or |y| = 1 - width to 1 (official 0.5).
  config.pde.pml_a0 = 5.0  # PML strength a0 (official 5).
  config.pde.num_sources = 5  # On the line y = -177/510 (official 5).
  config.pde.receivers_per_side = 10  # Receivers on each side of the U (official 10, 30 in all).
  config.pde.cylinder_center = (0.0, 0.0)  # The true medium the data are made in:
  config.pde.cylinder_radius = 0.1  # a disk of this radius and velocity in c = 1 (the official
  config.pde.cylinder_velocity = 2.0  # data file's best fit, siren_jax.signals.pde.media).
  config.pde.fd_size = 257  # FD nodes a side for the measurements (siren_jax.signals.pde.inverse.measurements).
  config.pde.fixed_beyond = 0.75  # m = 1 where |x| or |y| > this (official 0.75).
  config.pde.pretrain_steps = 2000  # Steps in the known medium before the inversion.
  # Points per step in each source's disk (official 100 of 13,225; 100 of 1,024 each starve the rest).
  config.pde.source_points = 20
  config.pde.source_radius = 0.05  # Radius of those disks.
  config.pde.norm = "l2"  # l1 (official |Re| + |Im|) | l2 (|r|^2, as configs/helmholtz.py).
  config.pde.source_weight = 0.0  # Weight of a source point's residual; 0 = official batch / 1000.
  # Weight of the mean receiver misfit: |u - d|^2 ~ 1e-3 against a mean |R|^2 ~ 10 (RESULTS.md).
  config.pde.data_weight = 1e4
  config.pde.slowness_weight = 100.0  # Weight of the pretrain pin of m to the starting medium.
  # Weight of the pretrain's fit to the starting medium's FD fields (0 = official: residual only, which
  # at this size learns a blob at each source, not a wave; RESULTS.md).
  config.pde.field_weight = 1e5
  config.pde.eval_size = 256  # Evaluation grid per side for velocity_error and the figures.
  config.eval.chunk_size = 65536
  return config
