"""The media and sources of the official PDE experiments (vsitzmann/siren, dataio.SingleHelmholtzSource,
WaveSource and InverseHelmholtz), written once for numpy and jax.numpy (pass ``xp``).

A medium is described by its squared slowness m = 1 / c^2 (what the equations multiply k^2 by);
``velocity`` gives c itself for figures. Coordinates are the columns (x, y) in [-1, 1].
"""

import numpy as np

from siren_jax.errors import UserError

VELOCITY_MODELS = ("uniform", "square", "circle")
CONTRAST = 2.0  # velocity inside the official square and circle (1 outside)
SQUARE_HALF_WIDTH = 0.3  # official "square": |x|, |y| < 0.3
CIRCLE_RADIUS = 0.1  # official "circle": r < 0.1

# Official Helmholtz source: (1 + 1i) times a normalised Gaussian of variance 1e-4 per axis (standard
# deviation 0.01), values below 1e-5 set to zero; 100 points a step drawn uniformly in the disk of
# radius 5e2 * variance = 0.05 around it.
WAVENUMBER = 20.0
SOURCE_AMPLITUDE = 1.0 + 1.0j
SOURCE_VARIANCE = 1e-4
SOURCE_CUTOFF = 1e-5
SOURCE_SAMPLE_RADIUS = 5e2 * SOURCE_VARIANCE

# Official wave equation initial displacement: a Gaussian of variance 5e-4 per axis scaled to peak
# 1/50 = 0.02 (values below 1e-5 set to zero), zero initial velocity; 1,000 points a step in the disk
# of radius 5e2 * variance = 0.25.
WAVE_VARIANCE = 5e-4
WAVE_PEAK = 0.02
WAVE_SAMPLE_RADIUS = 5e2 * WAVE_VARIANCE


def check_model(model: str) -> str:
  """``model`` if it names a velocity model, else a UserError listing the names."""
  if model not in VELOCITY_MODELS:
    raise UserError(f"unknown velocity model {model!r}; choose one of {', '.join(VELOCITY_MODELS)}")
  return model


def velocity(coords, model="uniform", xp=np):
  """Wave speed c of the named model at ``coords``: 1, or ``CONTRAST`` inside the square or circle."""
  check_model(model)
  x, y = coords[..., 0], coords[..., 1]
  if model == "square":
    inside = (xp.abs(x) < SQUARE_HALF_WIDTH) & (xp.abs(y) < SQUARE_HALF_WIDTH)
  elif model == "circle":
    inside = xp.sqrt(x ** 2 + y ** 2) < CIRCLE_RADIUS
  else:
    inside = xp.zeros(x.shape, bool)
  return xp.where(inside, CONTRAST, 1.0)


def squared_slowness(coords, model="uniform", xp=np):
  """m = 1 / c^2 of the named model (1 outside the inclusion, 1 / CONTRAST^2 = 0.25 inside)."""
  return 1.0 / velocity(coords, model, xp) ** 2


def source_position(model="uniform"):
  """Where the official experiment puts the source: the centre for a uniform medium, (-0.35, 0) beside
  the inclusion otherwise (train_helmholtz.py)."""
  return (0.0, 0.0) if check_model(model) == "uniform" else (-0.35, 0.0)


def gaussian(coords, center, variance, xp=np):
  """The normalised 2-D Gaussian density of ``variance`` per axis centred at ``center`` (integral 1)."""
  r2 = (coords[..., 0] - center[0]) ** 2 + (coords[..., 1] - center[1]) ** 2
  return xp.exp(-0.5 * r2 / variance) / (2.0 * np.pi * variance)


def source(coords, center, amplitude=SOURCE_AMPLITUDE, variance=SOURCE_VARIANCE,
           cutoff=SOURCE_CUTOFF, xp=np):
  """The Helmholtz source term f (complex): ``amplitude`` times the normalised Gaussian, zero where the
  Gaussian is below ``cutoff`` (the official truncation; it removes a mass of ~1e-8 of 1)."""
  g = gaussian(coords, center, variance, xp)
  return amplitude * xp.where(g < cutoff, 0.0, g)


def wave_initial(coords, center=(0.0, 0.0), variance=WAVE_VARIANCE, peak=WAVE_PEAK, cutoff=SOURCE_CUTOFF,
                 xp=np):
  """The wave equation's initial displacement u(0, x, y): a Gaussian of ``variance`` per axis scaled to
  ``peak``, zero where below ``cutoff`` (official). ``coords`` holds (x, y) columns; pass
  ``cutoff=0`` for the smooth field the finite-difference reference starts from."""
  r2 = (coords[..., 0] - center[0]) ** 2 + (coords[..., 1] - center[1]) ** 2
  u = peak * xp.exp(-0.5 * r2 / variance)
  return xp.where(u < cutoff, 0.0, u)


# Full-waveform inversion (official train_inverse_helmholtz.py with fwi/data_cylinder_5.mat): 5 sources
# on the line y = -177/510 (x from -177/510 to 177/510), 30 receivers in a U around the cylinder: 10 on
# y = 205/510 (x from -177/510 to 177/510) and 10 on each of x = -+205/510 (y from -129/510 to
# 205/510). The file's coordinates are these fractions to 1e-8. It does not record the medium; of the
# cylinders we tried against its receiver values (a grid search of centre, radius and velocity with
# fwi_data), the official "circle" fits best, to within our FD error: radius 0.1 about the centre,
# c = 2, the defaults below.
FWI_SOURCE_OFFSET = 177 / 510
FWI_RECEIVER_OFFSET = 205 / 510
FWI_RECEIVER_LOW = -129 / 510
FWI_FIXED_BEYOND = 0.75  # the inversion holds m = 1 where |x| or |y| > 0.75 (official loss)


def fwi_sources(count=5, offset=FWI_SOURCE_OFFSET):
  """(count, 2) source positions on the line y = -offset, x evenly from -offset to offset."""
  x = np.linspace(-offset, offset, count)
  return np.stack([x, np.full_like(x, -offset)], axis=-1)


def fwi_receivers(per_side=10, offset=FWI_RECEIVER_OFFSET, low=FWI_RECEIVER_LOW,
                  top_half_width=FWI_SOURCE_OFFSET):
  """(3 per_side, 2) receiver positions: a line on top (y = offset), then the left and right sides
  (x = -+offset, y from ``low`` to offset), in the official file's order."""
  top = np.linspace(-top_half_width, top_half_width, per_side)
  side = np.linspace(low, offset, per_side)
  return np.concatenate([np.stack([top, np.full_like(top, offset)], -1),
                         np.stack([np.full_like(side, -offset), side], -1),
                         np.stack([np.full_like(side, offset), side], -1)])


def cylinder_velocity(coords, center=(0.0, 0.0), radius=CIRCLE_RADIUS, velocity=CONTRAST,
                      background=1.0, xp=np):
  """The inversion's true medium: wave speed ``velocity`` inside the disk (a cylinder in 3-D) of
  ``radius`` about ``center``, ``background`` outside."""
  r2 = (coords[..., 0] - center[0]) ** 2 + (coords[..., 1] - center[1]) ** 2
  return xp.where(r2 < radius * radius, velocity, background)


def cylinder_slowness(coords, center=(0.0, 0.0), radius=CIRCLE_RADIUS, velocity=CONTRAST,
                      background=1.0, xp=np):
  """m = 1 / c^2 of ``cylinder_velocity``."""
  return 1.0 / cylinder_velocity(coords, center, radius, velocity, background, xp) ** 2
