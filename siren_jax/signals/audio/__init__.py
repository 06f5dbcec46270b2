"""Audio: a clip as a function of time."""

from siren_jax.engine.registry import Flag, Headline, Signal

SIGNAL = Signal(
    name="audio", coord_dims=1, headline=Headline("snr", "SNR"), task="siren_jax.signals.audio.task",
    report="siren_jax.signals.audio.report", render="siren_jax.signals.audio.render",
    render_flags=(Flag("rate", "integer", 0, "Audio runs: output sample rate in Hz (0 = the clip's own)."),),
    render_takes=("rate", "chunk_size"))
