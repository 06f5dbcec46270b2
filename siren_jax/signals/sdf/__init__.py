"""Shapes: a signed distance function fitted to a surface's points and normals."""

from siren_jax.engine.registry import Flag, Headline, Signal

SIGNAL = Signal(
    name="sdf", coord_dims=3, headline=Headline("surface_error", "mean |f| on the surface", True),
    task="siren_jax.signals.sdf.task", report="siren_jax.signals.sdf.report",
    render="siren_jax.signals.sdf.render",
    render_flags=(Flag("resolution", "integer", 0,
                       "SDF runs: marching-cubes grid per axis (--out=*.ply) or pixels per side of each "
                       "view (--out=*.png); 0 = the run's sdf.mesh_resolution / render_size."),),
    render_takes=("resolution", "chunk_size"))
