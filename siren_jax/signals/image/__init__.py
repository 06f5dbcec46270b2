"""Images: one image, a set of them, or an image's gradient or Laplacian (Poisson problems)."""

from siren_jax.engine.registry import Flag, Headline, Signal

SIGNAL = Signal(
    name="image", coord_dims=2, headline=Headline("psnr", "PSNR"),
    task="siren_jax.signals.image.task", fit="siren_jax.signals.image.sets",
    report="siren_jax.signals.image.report", render="siren_jax.signals.image.render",
    render_flags=(
        Flag("scale", "float", None, "Multiple of the training height and width (default 1)."),
        Flag("size", "string", "", "Output size HxW in pixels (instead of --scale)."),
        Flag("window", "string", "", "Region y0,y1,x0,x1 in [-1, 1] coordinates (default -1,1,-1,1)."),
    ),
    render_takes=("scale", "size", "window", "chunk_size"))
