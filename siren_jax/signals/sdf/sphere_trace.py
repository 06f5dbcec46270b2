"""Pictures of a fitted signed distance function, made in JAX with no OpenGL or display:

* ``trace``: shaded views of its zero level set by sphere tracing. Each ray starts where it enters
  the [-1, 1]^3 cube and advances by ``relax`` * f(p) (f is a distance bound if the fit is a true
  SDF; ``relax`` < 1 guards against a fit that overestimates) until |f| < ``HIT_EPS``, it leaves the
  cube, or ``steps`` iterations; the normal at a hit is the network's normalised input gradient
  (``siren_jax.nets.derivatives``), shaded by Lambert's law with an ambient term. Rays are evaluated in
  fixed-size chunks by ``evaluate.make_renderer`` (bounded memory), each chunk tracing until all its
  rays have stopped.
* ``slices``: f on three axis-aligned planes through the origin, drawn with level lines as in the
  paper's figures (``write_slices``).

Coordinates are (x, y, z) with y up.
"""

from typing import Callable, Dict, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax.engine import evaluate
from siren_jax.io import plots
from siren_jax.nets import derivatives

VIEWS = (("front", 0.0, 15.0), ("side", 90.0, 15.0), ("above", 35.0, 55.0))  # name, azimuth, elevation
HIT_EPS = 1e-3
BASE_COLOUR = np.array([0.78, 0.68, 0.55])
BACKGROUND = 1.0


def camera_rays(azimuth_deg: float, elevation_deg: float, size: int, distance: float = 3.2,
                fov_deg: float = 50.0) -> np.ndarray:
  """(size*size, 6) rays (origin, unit direction) of a pinhole camera looking at the origin, row-major
  from the top-left pixel. The default view holds a ball of radius 1.35 about the origin: a shape
  scaled to data.extent 0.9 fits whole (40 degrees cut off the bunny's ears)."""
  az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
  eye = distance * np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
  forward = -eye / np.linalg.norm(eye)
  right = np.cross(forward, [0.0, 1.0, 0.0])
  right /= np.linalg.norm(right)
  up = np.cross(right, forward)
  half = np.tan(np.radians(fov_deg) / 2)
  s = (np.arange(size) + 0.5) / size * 2 - 1
  v, u = np.meshgrid(-s * half, s * half, indexing="ij")
  dirs = forward + u[..., None] * right + v[..., None] * up
  dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
  return np.concatenate([np.broadcast_to(eye, dirs.shape), dirs], axis=-1).reshape(-1, 6).astype(
      np.float32)


def _cube_interval(o, d):
  """Entry and exit distances of rays through [-1, 1]^3 (entry > exit where a ray misses)."""
  inv = 1.0 / jnp.where(jnp.abs(d) < 1e-9, 1e-9, d)
  t0, t1 = (-1.0 - o) * inv, (1.0 - o) * inv
  return jnp.max(jnp.minimum(t0, t1), axis=-1), jnp.min(jnp.maximum(t0, t1), axis=-1)


def trace_fn(model, steps: int, relax: float = 0.9, light=(0.4, 0.7, 0.6)) -> Callable:
  """``fn(params, rays (n, 6)) -> (rgb (n, 3), hit (n,))``: sphere-traced, Lambert-shaded."""
  light = np.asarray(light) / np.linalg.norm(light)

  def fn(params, rays):
    o, d = rays[:, :3], rays[:, 3:]
    near, far = _cube_interval(o, d)
    f_at = lambda t: model.apply(params, o + t[:, None] * d)[:, 0]

    def cond(carry):
      i, t, f = carry
      return (i < steps) & jnp.any((jnp.abs(f) >= HIT_EPS) & (t <= far))

    def body(carry):
      i, t, f = carry
      active = (jnp.abs(f) >= HIT_EPS) & (t <= far)
      t = jnp.where(active, t + relax * f, t)
      return i + 1, t, f_at(t)

    t0 = jnp.maximum(near, 0.0)
    _, t, f = jax.lax.while_loop(cond, body, (0, t0, f_at(t0)))
    hit = (near <= far) & (jnp.abs(f) < 10 * HIT_EPS) & (t <= far) & (t >= 0)
    _, grads = derivatives.gradient(model, params, o + t[:, None] * d, "reverse")
    g = grads[:, 0, :]
    n = g / jnp.maximum(jnp.linalg.norm(g, axis=-1, keepdims=True), 1e-12)
    n = jnp.where(jnp.sum(n * d, axis=-1, keepdims=True) > 0, -n, n)  # face the camera
    lambert = jnp.clip(n @ jnp.asarray(light, jnp.float32), 0.0, 1.0)
    shade = (0.25 + 0.75 * lambert)[:, None] * jnp.asarray(BASE_COLOUR, jnp.float32)
    return jnp.where(hit[:, None], shade, BACKGROUND), hit

  return fn


def make_tracer(model, steps: int, mesh, chunk_size: int, microbatch: int) -> Callable:
  """``render(params, rays) -> (rgb, hit)``: one sphere tracer, compiled once for ``chunk_size`` rays,
  for any number of views of any size (compiling it costs more than tracing a few views)."""
  return evaluate.make_renderer(trace_fn(model, steps), mesh, chunk_size, microbatch)


def trace_views(model, params, size: int, steps: int, mesh, chunk_size: int, microbatch: int,
                views: Sequence[Tuple[str, float, float]] = VIEWS,
                tracer: Optional[Callable] = None) -> Dict[str, np.ndarray]:
  """{view name: (size, size, 3) image in [0, 1]} of the network's zero level set, traced by
  ``tracer`` (``make_tracer``; by default one made for these views)."""
  render = tracer or make_tracer(model, steps, mesh, min(chunk_size, size * size), microbatch)
  out = {}
  for name, az, el in views:
    rgb, _ = render(params, camera_rays(az, el, size))
    out[name] = rgb.reshape(size, size, 3)
  return out


def slice_planes(size: int, through=(0.0, 0.0, 0.0)) -> Dict[str, Tuple[np.ndarray, Tuple[str, str]]]:
  """{plane name: ((size*size, 3) points, (vertical axis, horizontal axis))}: the three axis-aligned
  planes through the point ``through``, rows from +1 down."""
  s = np.linspace(-1.0, 1.0, size)
  v, u = np.meshgrid(s[::-1], s, indexing="ij")
  cx, cy, cz = (np.full_like(u, c) for c in through)
  at = [f"{round(float(c), 2) + 0.0:.2f}" for c in through]  # + 0.0: no "-0.00"
  planes = {f"z = {at[2]}": (np.stack([u, v, cz], -1), ("y", "x")),
            f"x = {at[0]}": (np.stack([cx, v, u], -1), ("y", "z")),
            f"y = {at[1]}": (np.stack([u, cy, v], -1), ("z", "x"))}
  return {k: (p.reshape(-1, 3).astype(np.float32), axes) for k, (p, axes) in planes.items()}


def write_slices(path: str, fields: Dict[str, np.ndarray], axes: Dict[str, Tuple[str, str]],
                 exact: Optional[Dict[str, np.ndarray]] = None, title: str = "") -> None:
  """The SDF on each plane: purple inside, orange outside on one colour scale (its bar labelled),
  level lines every 0.05 (normalised units), the zero level black and, where known, the exact zero
  level dashed green."""
  plt = plots.pyplot()  # pylint: disable=protected-access
  fig, axs = plt.subplots(1, len(fields), figsize=(4.2 * len(fields) + 1.0, 4.4))
  lim = max(max(float(np.percentile(np.abs(f), 99)) for f in fields.values()), 1e-6)
  for ax, (name, f) in zip(np.atleast_1d(axs), fields.items()):
    im = ax.imshow(f, cmap="PuOr_r", vmin=-lim, vmax=lim, extent=(-1, 1, -1, 1))
    levels = np.arange(-2.0, 2.0 + 1e-9, 0.05)
    ax.contour(f, levels=levels, colors="k", linewidths=0.3, alpha=0.5, extent=(-1, 1, -1, 1),
               origin="upper")
    ax.contour(f, levels=[0.0], colors="k", linewidths=1.5, extent=(-1, 1, -1, 1), origin="upper")
    if exact is not None:
      ax.contour(exact[name], levels=[0.0], colors="lime", linewidths=1.0, linestyles="--",
                 extent=(-1, 1, -1, 1), origin="upper")
    ax.set_title(f"f on {name}", fontsize=10)
    ax.set_ylabel(axes[name][0])
    ax.set_xlabel(axes[name][1])
  fig.subplots_adjust(wspace=0.3)
  bar = fig.colorbar(im, ax=axs, fraction=0.02, pad=0.02)
  bar.set_label("f (normalised units, < 0 inside)", fontsize=9)
  if title:
    fig.suptitle(title, fontsize=10)
  plots.save_figure(fig, path)
