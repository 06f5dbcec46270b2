"""The wave equation: u(t, x, y) fitted from the equation and its initial conditions."""

from siren_jax.engine.registry import Headline, Signal

SIGNAL = Signal(
    name="wave", coord_dims=3, headline=Headline("rel_l2", "relative L2 error", True),
    task="siren_jax.signals.pde.wave.task", report="siren_jax.signals.pde.pages",
    render="siren_jax.signals.pde.pages", render_takes=None)
