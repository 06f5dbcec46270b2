"""How accurate and how fast are the PDE references (siren_jax.signals.pde.reference, issue 23)?

    python -m benchmarks.pde_reference [--helmholtz_sizes=129,257,513] [--wave_sizes=129,257,513]

Helmholtz: the finite-difference solve (official PML, uniform medium, source at the centre) against
the closed-form Hankel solution, relative L2 error over the physical region (|x|, |y| <= 0.5) outside
the source disk of radius 0.05 (where the official code samples its source points; the Gaussian has
fallen to e^-12.5 of its peak there, so the Hankel formula is exact outside it), with the solve time;
and the square and circle media, which have no closed form, against the finest grid (self-convergence).
Wave: the fourth-order time stepping (official pulse, uniform medium) against the exact Hankel-transform
solution at t = 0.1, 0.2, 0.4, with times; the second-order scheme beside it. Prints JSON lines.
"""

import json
import time

import numpy as np
from absl import app, flags

from siren_jax.signals.pde import media, pml, reference

_H_SIZES = flags.DEFINE_list("helmholtz_sizes", ["129", "257", "513"], "FD Helmholtz grid sizes.")
_W_SIZES = flags.DEFINE_list("wave_sizes", ["129", "257", "513"], "FD wave grid sizes.")
_TIMES = (0.1, 0.2, 0.4)


def _region(coords, center):
  r = np.hypot(coords[..., 0] - center[0], coords[..., 1] - center[1])
  return ~pml.in_pml(coords) & (r > media.SOURCE_SAMPLE_RADIUS)


def _rel(a, b, mask=Ellipsis):
  return float(np.linalg.norm((a - b)[mask]) / np.linalg.norm(b[mask]))


def helmholtz(sizes):
  for model in media.VELOCITY_MODELS:
    for n in sizes:
      start = time.perf_counter()
      u, coords = reference.helmholtz_fd(n, model=model)
      seconds = time.perf_counter() - start
      row = {"equation": "helmholtz", "model": model, "n": n, "seconds": round(seconds, 2)}
      mask = _region(coords, media.source_position(model))
      if model == "uniform":
        row["rel_l2_vs_hankel"] = _rel(u, reference.hankel(coords), mask)
      yield row, (model, n, u)


def wave(sizes, order):
  for n in sizes:
    start = time.perf_counter()
    frames, coords = reference.wave_fd(n, _TIMES, order=order)
    seconds = time.perf_counter() - start
    errors = [_rel(f, reference.wave_uniform(coords, t)) for f, t in zip(frames, _TIMES)]
    yield {"equation": "wave", "order": order, "n": n, "seconds": round(seconds, 2),
           "rel_l2_vs_exact": dict(zip(map(str, _TIMES), errors))}


def main(argv):
  del argv
  h_sizes = sorted(int(s) for s in _H_SIZES.value)
  fields = {}
  for row, (model, n, u) in helmholtz(h_sizes):
    fields[model, n] = u
    print(json.dumps(row), flush=True)
  # Square and circle: each grid against the finest (sizes 2^j + 1 share nodes).
  top = h_sizes[-1]
  for model in ("square", "circle"):
    for n in h_sizes[:-1]:
      step = (top - 1) // (n - 1)
      coarse, fine = fields[model, n], fields[model, top][::step, ::step]
      coords, _ = reference.grid(n)
      mask = _region(coords, media.source_position(model))
      print(json.dumps({"equation": "helmholtz", "model": model, "n": n, "against_n": top,
                        "rel_l2_vs_finest": _rel(coarse, fine, mask)}), flush=True)
  for order in (4, 2):
    for row in wave(sorted(int(s) for s in _W_SIZES.value), order):
      print(json.dumps(row), flush=True)


if __name__ == "__main__":
  app.run(main)
