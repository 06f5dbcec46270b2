"""Video: a clip as a function of (t, y, x)."""

from siren_jax.engine.registry import Flag, Headline, Signal

SIGNAL = Signal(
    name="video", coord_dims=3, headline=Headline("psnr", "PSNR"), task="siren_jax.signals.video.task",
    report="siren_jax.signals.video.report", render="siren_jax.signals.video.render",
    render_flags=(
        Flag("frames", "integer", 0, "Video runs: frames to render over --time (0 = the clip's count)."),
        Flag("time", "string", "", "Video runs: time range t0,t1 in [-1, 1] (default -1,1: the clip)."),
        Flag("t", "float", None, "Video runs: render the single frame at this time in [-1, 1] (a PNG)."),
        Flag("fps", "float", 0.0, "Video runs: frame rate of the output (0 = the clip's)."),
    ),
    render_takes=("frames", "time", "t", "fps", "scale", "size", "window", "chunk_size"))
