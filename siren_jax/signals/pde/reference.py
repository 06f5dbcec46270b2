"""Reference fields each PDE run is measured against, computed by the project: the closed-form Hankel
solution of a uniform medium, a finite-difference frequency-domain Helmholtz solve with the official PML
(any medium), and finite-difference time stepping of the wave equation.

Grids are n x n nodes over [-1, 1]^2 including the boundary, x = y = linspace(-1, 1, n) (the official
get_mgrid), arrays indexed [row = y, col = x]; ``grid(n)`` gives their (x, y) coordinates.
"""

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import scipy.special

from siren_jax.errors import UserError
from siren_jax.signals.pde import media, pml


def grid(n: int):
  """(coords, h): an (n, n, 2) array of the nodes' (x, y), indexed [row = y, col = x], and the spacing."""
  if n < 5:
    raise UserError(f"a reference grid needs at least 5 nodes a side, got {n}")
  g = np.linspace(-1.0, 1.0, n)
  x, y = np.meshgrid(g, g)
  return np.stack([x, y], axis=-1), 2.0 / (n - 1)


def hankel(coords, k=media.WAVENUMBER, source=(0.0, 0.0), amplitude=media.SOURCE_AMPLITUDE,
           variance=media.SOURCE_VARIANCE):
  """The field of the official Gaussian source in an unbounded uniform medium (m = 1), outside it.

  With the e^{+i w t} convention of the official code, (i/4) H0^(2)(k r) (Hankel function of the
  second kind: outgoing, and damped by the PML's sign) solves Laplacian u + k^2 u = delta. A radially
  symmetric source radiates, outside its support, as a point source of weight int f J0(k r') dA, which
  for the normalised Gaussian of variance s^2 is exp(-k^2 s^2 / 2) (= 0.980 at k = 20, s^2 = 1e-4), so

    u = (i/4) amplitude exp(-k^2 variance / 2) H0^(2)(k r),  r > ~5 sqrt(variance),

  the solution of the residual the network is trained on (pml.coefficients, source ``media.source``).
  The official SingleHelmholtzSource shows 0.25i H0^(2)(k r) amplitude hx hy with hx = hy = 2/230: the
  same wave scaled by the area of one of its grid cells (and without the Gaussian's factor), harmless
  there because it is only drawn with percentile colour limits; as a measure of error it would be off
  by 1 / (hx hy), so it is not reproduced. Inside the source disk the formula does not hold (and the
  argument is floored at 1e-6, as the official code offsets it, to stay finite at r = 0).
  """
  coords = np.asarray(coords, np.float64)
  r = np.hypot(coords[..., 0] - source[0], coords[..., 1] - source[1])
  weight = 0.25j * amplitude * np.exp(-0.5 * k * k * variance)
  return weight * scipy.special.hankel2(0, np.maximum(k * r, 1e-6))


def _cell_average(medium, coords, h, samples=4):
  """Squared slowness averaged over each node's h x h cell (``samples``^2 points): an interface
  between media then moves the coefficient smoothly with its position instead of by whole nodes."""
  offsets = (np.arange(samples) + 0.5) / samples - 0.5
  total = 0.0
  for dx in offsets:
    for dy in offsets:
      total = total + medium(coords + h * np.array([dx, dy]))
  return total / samples ** 2


def _medium(model):
  """A callable coords -> squared slowness from a velocity model's name or such a callable."""
  if callable(model):
    return model
  media.check_model(model)
  return lambda c: media.squared_slowness(c, model)


def helmholtz_operator(n, k=media.WAVENUMBER, model="uniform", width=pml.WIDTH, a0=pml.A0):
  """The sparse matrix of d/dx(A du/dx) + d/dy(B du/dy) + C m k^2 u on the interior nodes of
  ``grid(n)`` (row-major, y outer), u = 0 on the outer boundary (the PML has damped the wave there).

  Second-order conservative differences: A and B at the midpoints between nodes, C and the
  cell-averaged m at the nodes. ``model`` is a velocity model's name or a callable coords -> m.
  """
  coords, h = grid(n)
  inner = coords[1:-1, 1:-1]
  half = np.array([h / 2, 0.0])
  a_e, _, _ = pml.coefficients(inner + half, k, width, a0)
  a_w, _, _ = pml.coefficients(inner - half, k, width, a0)
  _, b_n, _ = pml.coefficients(inner + half[::-1], k, width, a0)
  _, b_s, _ = pml.coefficients(inner - half[::-1], k, width, a0)
  _, _, c = pml.coefficients(inner, k, width, a0)
  m = _cell_average(_medium(model), inner, h)
  size = (n - 2) ** 2
  index = np.arange(size).reshape(n - 2, n - 2)
  diag = c * m * k * k - (a_e + a_w + b_n + b_s) / h ** 2
  rows, cols, vals = [index.ravel()], [index.ravel()], [diag.ravel()]
  # (neighbour's index, coefficient) for east, west, north, south, dropping boundary neighbours.
  for sl_self, sl_other, coef in (
      ((slice(None), slice(None, -1)), (slice(None), slice(1, None)), a_e),
      ((slice(None), slice(1, None)), (slice(None), slice(None, -1)), a_w),
      ((slice(None, -1), slice(None)), (slice(1, None), slice(None)), b_n),
      ((slice(1, None), slice(None)), (slice(None, -1), slice(None)), b_s)):
    rows.append(index[sl_self].ravel())
    cols.append(index[sl_other].ravel())
    vals.append(coef[sl_self].ravel() / h ** 2)
  return scipy.sparse.csc_matrix(
      (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size))


def helmholtz_fd(n, k=media.WAVENUMBER, model="uniform", source=None, rhs=None, width=pml.WIDTH,
                 a0=pml.A0):
  """(u, coords): the complex field solving d/dx(A du/dx) + d/dy(B du/dy) + C m k^2 u = f on
  ``grid(n)`` (the official residual set to its source: R - f = 0), and the nodes' coordinates.

  f is ``rhs(coords)`` if given, else the official Gaussian source (media.source) at ``source``, by
  default the model's official position (media.source_position; (0, 0) for a callable model).
  Errors are O(h^2) (phase error ~ k r (k h)^2 / 24 over a distance r); tests check the order.
  """
  if n < 5:
    raise UserError(f"a reference grid needs at least 5 nodes a side, got {n}")
  coords, _ = grid(n)
  if rhs is None:
    center = source if source is not None else (
        (0.0, 0.0) if callable(model) else media.source_position(model))
    rhs = lambda c: media.source(c, center)
  f = np.asarray(rhs(coords[1:-1, 1:-1]), np.complex128)
  operator = helmholtz_operator(n, k, model, width, a0)
  u = np.zeros((n, n), np.complex128)
  # The pattern is symmetric, so a minimum-degree ordering of A^T + A keeps SuperLU's fill low.
  solution = scipy.sparse.linalg.spsolve(operator, f.ravel(), permc_spec="MMD_AT_PLUS_A")
  u[1:-1, 1:-1] = solution.reshape(n - 2, n - 2)
  return u, coords


# Forest-Ruth: three velocity-Verlet substeps of these fractions of a step make a symmetric
# fourth-order integrator (Forest & Ruth 1990; Yoshida 1990).
_FR = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
_SUBSTEPS = {2: (1.0,), 4: (_FR, 1.0 - 2.0 * _FR, _FR)}
# Largest stable c dt / h of each scheme's substep: leapfrog needs c dt sqrt(max eigenvalue of the
# discrete -Laplacian) <= 2, the eigenvalue being 8 / h^2 (five-point) or 2 * 64 / (12 h^2) (fourth
# order); the fourth-order scheme's largest substep is |1 - 2 FR| = 1.70 of a step.
_COURANT_LIMIT = {2: 2.0 / np.sqrt(8.0), 4: 2.0 / np.sqrt(128.0 / 12.0) / (2.0 * _FR - 1.0)}


class _Laplacian:
  """Laplacian of the interior nodes of an n x n field (boundary nodes 0) into one reused buffer:
  five-point (``order`` 2) or the fourth-order nine-point cross, whose outer arms reach one node past
  the boundary into the odd reflection u(-1 - h) = -u(-1 + h), exact for a Dirichlet boundary of a
  smooth field. Written with in-place slices: the time loop calls it thousands of times."""

  def __init__(self, n, h, order):
    self.order, self.scale = order, 1.0 / (h * h) if order == 2 else 1.0 / (12.0 * h * h)
    self.pad = np.zeros((n + 2, n + 2))
    self.out = np.zeros((n, n))

  def __call__(self, u):
    out, inner = self.out, self.out[1:-1, 1:-1]
    if self.order == 2:
      np.add(u[2:, 1:-1], u[:-2, 1:-1], out=inner)
      inner += u[1:-1, 2:]
      inner += u[1:-1, :-2]
      inner -= 4.0 * u[1:-1, 1:-1]
    else:
      p = self.pad
      p[1:-1, 1:-1] = u
      p[0, 1:-1], p[-1, 1:-1], p[1:-1, 0], p[1:-1, -1] = -u[1], -u[-2], -u[:, 1], -u[:, -2]
      c = p[2:-2, 2:-2]
      np.add(p[1:-3, 2:-2], p[3:-1, 2:-2], out=inner)
      inner += p[2:-2, 1:-3]
      inner += p[2:-2, 3:-1]
      inner *= 16.0
      inner -= 60.0 * c
      inner -= p[:-4, 2:-2]
      inner -= p[4:, 2:-2]
      inner -= p[2:-2, :-4]
      inner -= p[2:-2, 4:]
    inner *= self.scale
    return out


def wave_fd(n, times, model="uniform", initial=None, order=4, courant=None):
  """(frames, coords): u at each of ``times`` (ascending, >= 0) on ``grid(n)``, solving
  u_tt = (1/m) Laplacian u (the official wave_pml residual) from u(0) = ``initial(coords)`` (default
  the official Gaussian, media.wave_initial without its 1e-5 cutoff) and zero velocity.

  ``order`` 2: velocity Verlet (leapfrog) and the five-point Laplacian; ``order`` 4 (default): the
  Forest-Ruth composition of Verlet and the fourth-order Laplacian, so errors fall as h^4 where the
  medium is smooth (near the jumps of the square and circle models both are first order). The step is
  ``courant`` h / c_max (default 0.8 of the stability limit: the time error is then still a tenth of
  the space error), shortened per interval so every requested
  time is hit exactly. The boundary x, y = +-1 is held at u = 0; that is exact while the disturbance has
  not reached it: the official pulse (standard deviation 0.022) fills a disk of radius 0.1, so with
  c <= 2 this holds to t = 0.45, beyond the official 0.4 (later, reflections return from the edge).
  """
  times = np.asarray(times, np.float64)
  if times.ndim != 1 or times.size == 0 or times[0] < 0 or np.any(np.diff(times) < 0):
    raise UserError("wave reference times must be a non-empty ascending list of times >= 0")
  if order not in _SUBSTEPS:
    raise UserError(f"wave reference order must be 2 or 4, got {order}")
  coords, h = grid(n)
  c2 = 1.0 / _cell_average(_medium(model), coords, h)
  dt_max = (courant or 0.8 * _COURANT_LIMIT[order]) * h / np.sqrt(c2.max())
  init = initial if initial is not None else lambda c: media.wave_initial(c, cutoff=0.0)
  u = np.asarray(init(coords), np.float64).copy()
  u[0, :] = u[-1, :] = u[:, 0] = u[:, -1] = 0.0
  v = np.zeros_like(u)
  laplacian = _Laplacian(n, h, order)
  acc = c2 * laplacian(u)
  frames, now = [], 0.0
  for t in times:
    steps = int(np.ceil((t - now) / dt_max - 1e-9))
    for _ in range(steps):
      for fraction in _SUBSTEPS[order]:
        dt = fraction * (t - now) / steps
        v += (0.5 * dt) * acc
        u += dt * v
        np.multiply(c2, laplacian(u), out=acc)
        v += 0.5 * dt * acc
    frames.append(u.copy())
    now = t
  return np.stack(frames), coords


def wave_uniform(coords, t, center=(0.0, 0.0), variance=media.WAVE_VARIANCE, peak=media.WAVE_PEAK):
  """The exact wave of the official Gaussian pulse (zero initial velocity) in an unbounded uniform
  medium (c = 1) at time ``t``, at ``coords`` (x, y columns), as its Hankel transform:

    u(r, t) = peak s^2 int_0^inf exp(-q^2 s^2 / 2) cos(q t) J0(q r) q dq,   s^2 = variance,

  (the pulse's transform is peak s^2 exp(-q^2 s^2 / 2); each mode q oscillates as cos(q t)). The
  integral is taken by the trapezoid rule over q up to 12 / s (the rest weighs < e^-72) with 80 nodes
  per period of the integrand's fastest oscillation (r + t), plus the Euler-Maclaurin end correction
  dq^2 / 12 f'(0) = dq^2 / 12 peak s^2 (the integrand rises as q at 0; without it the rule errs by that
  much everywhere), on a table of radii then a cubic spline.
  """
  import scipy.integrate  # pylint: disable=import-outside-toplevel
  import scipy.interpolate  # pylint: disable=import-outside-toplevel
  coords = np.asarray(coords, np.float64)
  r = np.hypot(coords[..., 0] - center[0], coords[..., 1] - center[1])
  s = np.sqrt(variance)
  r_max = float(r.max()) + 4 * s
  q = np.linspace(0.0, 12.0 / s, int(80 * (12.0 / s) * (r_max + t) / (2 * np.pi)) + 2)
  radii = np.linspace(0.0, r_max, int(r_max / (s / 20)) + 2)
  weight = peak * variance * np.exp(-0.5 * (q * s) ** 2) * np.cos(q * t) * q
  end = (q[1] - q[0]) ** 2 / 12 * peak * variance
  table = np.array([scipy.integrate.trapezoid(weight * scipy.special.j0(q * rr), q) + end
                    for rr in radii])
  return scipy.interpolate.CubicSpline(radii, table)(r)
