"""What a finished SDF run writes and measures (``sdf_task.SdfTask.finish``, ``render``, experiments):

* ``mesh.ply``: the zero level set by marching cubes (``meshing.extract_mesh``) at
  ``sdf.mesh_resolution``, in the input's units;
* ``renders.png``: three labelled sphere-traced views (``sphere_trace``); ``turntable.png``: a strip
  of views all round the shape, which the report turns with a slider or a drag; ``slices.png``: f on
  three planes through the surface sample's centroid, with a colour bar;
* ``curves.png``: loss and the headline against steps;
* summary metrics (``surface_metrics``): Chamfer L1/L2, normal consistency and F-score at
  tau = ``sdf.fscore_tau`` (normalised units, reported in input units too) between ``sdf.metric_points``
  area-uniform samples of the fitted mesh and of the input surface, in the input's units; for analytic
  shapes also ``analytic_errors``.
"""

import os
from typing import Any, Dict, Sequence

import numpy as np

from siren_jax.engine import evaluate
from siren_jax.io import outputs, plots, progress
from siren_jax.nets import derivatives
from siren_jax.signals.sdf import meshing, shapes, sphere_trace

RENDER_PANEL_PIXELS = 320  # renders.png shows each view at least this large (smaller ones upsampled)
TURNTABLE_FRAMES = 16  # views all round the shape, 22.5 degrees apart
TURNTABLE_ELEVATION = 20.0
TURNTABLE_SIZE = 128  # pixels a side of each turntable view (at most sdf.render_size)
NEAR_BAND = 0.05  # "near the surface": within this distance (normalised units) along the normal
# Bounds of the output settings (config.sdf and the render command alike): marching cubes needs 2
# planes an axis; views and slices under 8 pixels show nothing.
MESH_RESOLUTIONS = (2, 2048)
VIEW_SIZES = (8, 4096)


def field_fn(model, params, mesh, chunk_size: int, microbatch: int):
  """``field(points (n, 3)) -> (n,)``: the network's f, evaluated in chunks."""
  render = evaluate.make_renderer(lambda p, x: model.apply(p, x)[:, 0], mesh, chunk_size, microbatch)
  return lambda points: render(params, np.asarray(points, np.float32))


def gradient_fn(model, params, mesh, chunk_size: int, microbatch: int):
  """``grad(points) -> (f (n,), grad f (n, 3))``, evaluated in chunks."""
  def fn(p, x):
    values, grads = derivatives.gradient(model, p, x, "reverse")
    return values[:, 0], grads[:, 0, :]
  render = evaluate.make_renderer(fn, mesh, chunk_size, microbatch)
  return lambda points: render(params, np.asarray(points, np.float32))


def reference_sample(surface: shapes.Surface, n: int, seed: int):
  """(points, normals) of the input surface in normalised units: a fresh area-uniform sample of an
  analytic shape or mesh, else (a point cloud) up to n of its points."""
  if surface.sdf is not None:
    return shapes.sample_analytic(surface.name, n, seed)
  if surface.faces is not None:
    p, nrm = shapes.sample_mesh(surface.vertices, surface.faces, n, seed)
    return p, nrm
  rng = np.random.default_rng(seed)
  idx = rng.choice(len(surface.points), size=min(n, len(surface.points)), replace=False)
  return surface.points[idx].astype(np.float64), surface.normals[idx].astype(np.float64)


def surface_metrics(vertices, faces, surface: shapes.Surface, n: int, tau: float, seed: int):
  """Mesh-versus-input metrics in the input's units (``meshing.surface_metrics``); an empty mesh
  scores infinite distances and zero F-score."""
  tau_input = tau * surface.scale
  if len(faces) == 0:
    return {"chamfer_l1": float("inf"), "chamfer_l2": float("inf"), "normal_consistency": 0.0,
            "precision": 0.0, "recall": 0.0, "fscore": 0.0, "fscore_tau": tau_input}
  pa, na = shapes.sample_mesh(vertices, faces, n, seed)
  pb, nb = reference_sample(surface, n, seed + 1)
  scores = meshing.surface_metrics(pa * surface.scale, na, pb * surface.scale, nb, tau_input)
  return dict(scores, fscore_tau=tau_input, fscore_tau_normalised=tau)


def analytic_errors(surface: shapes.Surface, grad, n: int, seed: int) -> Dict[str, float]:
  """Mean |f - sdf| near the surface (within ``NEAR_BAND`` along the normal) and in the volume
  (uniform in the cube), and the mean eikonal residual | |grad f| - 1 | in the volume."""
  rng = np.random.default_rng(seed)
  p, nrm = shapes.sample_analytic(surface.name, n, seed + 2)
  near = p + nrm * rng.uniform(-NEAR_BAND, NEAR_BAND, size=(n, 1))
  volume = rng.uniform(-1.0, 1.0, size=(n, 3))
  f_near, _ = grad(near)
  f_vol, g_vol = grad(volume)
  return {"mean_abs_error_near": float(np.mean(np.abs(f_near - surface.sdf(near)))),
          "mean_abs_error_volume": float(np.mean(np.abs(f_vol - surface.sdf(volume)))),
          "eikonal_residual": float(np.mean(np.abs(np.linalg.norm(g_vol, axis=-1) - 1.0)))}


def write_mesh(workdir: str, field, surface: shapes.Surface, resolution: int, chunk_size: int,
               name: str = "mesh.ply"):
  """The zero level set into ``workdir/name`` in the input's units; returns it normalised."""
  what = f"meshing the zero level set on a {resolution}^3 grid"
  with progress.phase(what):
    vertices, faces = meshing.extract_mesh(field, resolution,
                                           max_points=max(chunk_size, 4 * resolution ** 2),
                                           progress=progress.counter(what, "planes"))
    meshing.write_ply(os.path.join(workdir, name), vertices * surface.scale + surface.center, faces)
  return vertices, faces


def view_label(name: str, azimuth: float, elevation: float) -> str:
  return f"{name}\nazimuth {azimuth:g}°, elevation {elevation:g}°"


def write_views(path: str, views: Dict[str, np.ndarray], title: str = "") -> None:
  """The sphere-traced views side by side, each labelled with its camera, at about their own size."""
  plt = plots.pyplot()  # pylint: disable=protected-access
  angles = {name: (az, el) for name, az, el in sphere_trace.VIEWS}
  size = next(iter(views.values())).shape[0]
  side = max(size, RENDER_PANEL_PIXELS) / 100  # inches at save_figure's 100 dpi
  fig, axes = plt.subplots(1, len(views), figsize=(len(views) * side, side + 0.6))
  for ax, (name, image) in zip(np.atleast_1d(axes), views.items()):
    ax.imshow(image, interpolation="lanczos")
    ax.set_title(view_label(name, *angles[name]) if name in angles else name, fontsize=9)
    ax.set_axis_off()
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  plots.save_figure(fig, path)


def write_turntable(path: str, network, settings: Dict[str, Any], tracer, chunk: int) -> None:
  """``TURNTABLE_FRAMES`` views all round the shape (azimuth in equal steps, elevation
  ``TURNTABLE_ELEVATION``, ``TURNTABLE_SIZE`` pixels or ``sdf.render_size`` if smaller) side by side
  in one PNG strip: the report turns the shape with them. ``tracer`` takes ``chunk`` rays a call, so
  as many whole views as fill one go together (a view alone would leave the rest of its chunk idle)."""
  _, params, _, _ = network
  size = min(int(settings["render_size"]), TURNTABLE_SIZE)
  per_call = max(1, chunk // (size * size))
  report = progress.counter("turntable", "views")
  frames = []
  for start in range(0, TURNTABLE_FRAMES, per_call):
    group = range(start, min(TURNTABLE_FRAMES, start + per_call))
    rays = np.concatenate([sphere_trace.camera_rays(360.0 * i / TURNTABLE_FRAMES, TURNTABLE_ELEVATION, size)
                           for i in group])
    rgb, _ = tracer(params, rays)
    frames += list(rgb.reshape(len(group), size, size, 3))
    report(len(frames), TURNTABLE_FRAMES)
  outputs.write_png(path, np.concatenate(frames, axis=1))


def write_pictures(workdir: str, network, surface: shapes.Surface, settings: Dict[str, Any],
                   chunk_size: int, title: str) -> None:
  """renders.png (three labelled sphere-traced views), turntable.png and slices.png."""
  model, params, mesh, microbatch = network
  size = settings["render_size"]
  chunk = min(chunk_size, size * size)
  tracer = sphere_trace.make_tracer(model, settings["trace_steps"], mesh, chunk, microbatch)
  with progress.phase(f"sphere-tracing three {size}^2 views (compiling the tracer first)"):
    views = sphere_trace.trace_views(model, params, size, settings["trace_steps"], mesh, chunk_size,
                                     microbatch, tracer=tracer)
    write_views(os.path.join(workdir, "renders.png"), views)
  with progress.phase(f"sphere-tracing {TURNTABLE_FRAMES} turntable views"):
    write_turntable(os.path.join(workdir, "turntable.png"), network, settings, tracer, chunk)
  with progress.phase("slicing the field on three planes"):
    planes = sphere_trace.slice_planes(settings["slice_size"], surface.points.mean(axis=0))
    field = field_fn(model, params, mesh, chunk_size, microbatch)
    size = settings["slice_size"]
    fields = {k: field(p).reshape(size, size) for k, (p, _) in planes.items()}
    exact = ({k: surface.sdf(p.astype(np.float64)).reshape(size, size) for k, (p, _) in planes.items()}
             if surface.sdf is not None else None)
    sphere_trace.write_slices(os.path.join(workdir, "slices.png"), fields,
                              {k: axes for k, (_, axes) in planes.items()}, exact, title)


def write_all(workdir: str, task, network, rows: Sequence[dict], summary: Dict[str, Any]):
  """Every SDF output of a finished run into ``workdir`` and its metrics into ``summary``."""
  model, params, mesh, microbatch = network
  s, surface = task.settings, task.surface
  chunk = int(s.get("chunk_size", 32768))
  field = field_fn(model, params, mesh, chunk, microbatch)
  vertices, faces = write_mesh(workdir, field, surface, s["mesh_resolution"], chunk)
  summary.update(mesh_vertices=len(vertices), mesh_faces=len(faces),
                 mesh_resolution=s["mesh_resolution"])
  with progress.phase(f"surface metrics ({len(faces)} triangles against the input, "
                      f"{s['metric_points']} points each)"):
    summary.update(surface_metrics(vertices, faces, surface, s["metric_points"], s["fscore_tau"], 0))
    if surface.sdf is not None:
      summary.update(analytic_errors(surface, gradient_fn(model, params, mesh, chunk, microbatch),
                                     s["metric_points"], 0))
  title = (f"{surface.name}: Chamfer L1 {summary['chamfer_l1']:.3g}, normal consistency "
           f"{summary['normal_consistency']:.3f}, F-score {summary['fscore']:.3f} after "
           f"{summary['steps']} steps")
  write_pictures(workdir, network, surface, s, chunk, title)
  plots.write_curves(os.path.join(workdir, "curves.png"), rows, title=title,
                       loss_label="training loss (Eq. 6)", metric=task.headline_name,
                       metric_label="mean |f| on the surface (input units)")
  return summary
