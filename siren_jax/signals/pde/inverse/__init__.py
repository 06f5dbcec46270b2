"""Full-waveform inversion: the medium recovered from receiver data with the Helmholtz residual."""

from siren_jax.engine.registry import Headline, Signal

SIGNAL = Signal(
    name="helmholtz_inverse", coord_dims=2,
    headline=Headline("velocity_error", "velocity error (relative L2)", True),
    task="siren_jax.signals.pde.inverse.task", report="siren_jax.signals.pde.pages",
    render="siren_jax.signals.pde.pages", render_takes=None)
