"""Helmholtz: a point source's wavefield solved from the PDE residual alone (SIREN paper Sec. 4.3).

    python -m siren_jax.main --config=configs/helmholtz.py --workdir=runs/helmholtz

Uniform medium by default (scored against the Hankel solution); --config.pde.velocity=square or
circle puts a faster region (c = 2) in the way and moves the source to (-0.35, 0), as the official
code (scored against a finite-difference solve with the same PML). The residual and its sampling are
the official ``loss_functions.helmholtz_pml``'s (``siren_jax.signals.pde.helmholtz.task``), penalised by its
squared modulus (pde.norm=l2; the official l1 stalls at this size). The sizes below are reduced to
run in about 2 minutes on a 2-core CPU, chosen by error after a given time (benchmarks/pde_recipes.py,
RESULTS.md; the issue's rel_l2 <= 0.1 is not reached at this size). Paper size (hours to days):

    --config.model.width=256 --config.train.batch_size=52900 --config.train.learning_rate=2e-5
    --config.train.num_steps=50000 --config.train.schedule=constant --config.pde.norm=l1

Baselines (the paper's figure): --config.model.kind=tanh, --config.model.kind=relu_pe, and the
official PINN: --config.model.kind=tanh --config.model.width=20 --config.model.depth=7.
Outputs: field.png (real, imaginary and magnitude beside the reference and the error, the PML
outlined), field.npz, curves.png, summary.json (rel_l2, mean |residual|) and report.html.
"""

import os

import ml_collections

from siren_jax.configuration import load_config


def get_config() -> ml_collections.ConfigDict:
  config = load_config(os.path.join(os.path.dirname(__file__), "_base.py"))
  config.task = "helmholtz"
  config.data = ml_collections.ConfigDict()  # nothing is loaded: the problem is config.pde

  config.model.width = 128  # official 256; 128 takes ~4x the steps in the same time (RESULTS.md)
  config.model.depth = 3
  config.model.pe_frequencies = 10  # relu_pe baseline: the official code's frequencies for 2-D PDEs.

  config.train.num_steps = 6000
  config.train.batch_size = 1024  # Fresh points per step; the official 52,900 (230^2).
  config.train.learning_rate = 1e-4
  config.train.schedule = "cosine"
  config.train.final_lr_fraction = 0.05
  config.train.supervision = "values"  # Unused by the PDE loss; sizes the memory estimate.
  config.train.log_every = 500
  config.train.checkpoint_every = 2000

  config.pde = ml_collections.ConfigDict()
  config.pde.velocity = "uniform"  # uniform | square | circle (siren_jax.signals.pde.media).
  config.pde.wavenumber = 20.0  # k (official 20).
  config.pde.pml_width = 0.5  # PML from |x| or |y| = 1 - width to 1 (official 0.5).
  config.pde.pml_a0 = 5.0  # PML strength a0 (official 5).
  config.pde.source_points = 100  # Points per step drawn in the source disk (official 100).
  config.pde.source_radius = 0.05  # Radius of that disk, and of the disk left out of rel_l2.
  # Per-point penalty of the residual: l1 (official |Re r| + |Im r|) | l2 (|r|^2). In this short run
  # the official l1 stalls near rel_l2 0.93 where l2 keeps falling (benchmarks/pde_recipes.py).
  config.pde.norm = "l2"
  config.pde.source_weight = 0.0  # Weight of a source point's residual; 0 = official batch_size / 1000.
  config.pde.eval_size = 256  # Evaluation grid per side for rel_l2 and the figures.
  config.eval.chunk_size = 65536
  return config
