"""The Helmholtz equation: a complex wavefield fitted from its PDE residual."""

from siren_jax.engine.registry import Headline, Signal

SIGNAL = Signal(
    name="helmholtz", coord_dims=2, headline=Headline("rel_l2", "relative L2 error", True),
    task="siren_jax.signals.pde.helmholtz.task", report="siren_jax.signals.pde.pages",
    render="siren_jax.signals.pde.pages", render_takes=None)
