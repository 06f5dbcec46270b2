"""Render a trained run: an image at any resolution or over any crop, a clip at any rate, a shape's
mesh or views, a wavefield on any grid. What a run renders to is its signal's (``render`` hook).

    python -m siren_jax.render --workdir=runs/camera --scale=4 --out=camera_x4.png
    python -m siren_jax.render --workdir=runs/camera --size=2048x2048 --window=-0.5,0,-0.5,0 --out=zoom.png
    python -m siren_jax.render --workdir=runs/audio --out=fit.wav [--rate=48000]  (audio runs)
    python -m siren_jax.render --workdir=runs/sdf_csg --resolution=512 --out=mesh512.ply  (SDF runs)
    python -m siren_jax.render --workdir=runs/video --frames=120 --out=slow.gif  (video runs)

Each signal's hook documents its outputs: ``siren_jax.signals.image.render`` (the grid convention,
windows and bounded memory), ``signals.audio.render``, ``signals.video.render``, ``signals.sdf.outputs``
and ``signals.pde.pages``. Every signal declares the flags it defines (``Signal.render_flags``) and
those it takes (``Signal.render_takes``); a flag given on the command line that the run's signal does
not take is refused in one line rather than silently ignored.
"""

from absl import flags

from siren_jax import cli
from siren_jax.engine import registry, trained
from siren_jax.errors import UserError

COMMON = ("workdir", "out", "chunk_size")
_DEFINE = {"integer": flags.DEFINE_integer, "float": flags.DEFINE_float, "string": flags.DEFINE_string}


def signal_flags() -> tuple:
  """The render flags every known signal defines, in the order of the signals."""
  out = []
  for name in registry.names():
    for flag in registry.get(name).render_flags:
      if flag.name not in COMMON and all(flag.name != f.name for f in out):
        out.append(flag)
  return tuple(out)


def check_flags(f, signal) -> None:
  """One UserError naming the render flags given on the command line that ``signal`` does not take."""
  allowed = signal.render_takes
  if allowed is None:  # the signal's command checks its flags itself
    return
  foreign = [f"--{x.name}" for x in signal_flags()
             if x.name in f and f[x.name].present and x.name not in allowed]
  if foreign:
    raise UserError(f"{', '.join(foreign)}: not a flag for {signal.name} runs, which take "
                    f"{', '.join('--' + n for n in allowed)} (and --workdir, --out)")


def main(argv):
  f = flags.FLAGS
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  signal = registry.get(trained.saved_task(f.workdir))
  hook = signal.hook("render")
  if hook is None:
    raise UserError(f"{signal.name} runs have no render command")
  check_flags(f, signal)
  hook.command(f)


def define_flags(flag_values=flags.FLAGS):
  """The render command's flags (on ``flag_values``: a test parses its own)."""
  fv = {"flag_values": flag_values}
  flags.DEFINE_string("workdir", None, "A run directory written by siren_jax.main.", **fv)
  flags.DEFINE_string("out", None, "Output path (written atomically); its extension picks the format.",
                      **fv)
  flags.DEFINE_integer("chunk_size", 0, "Pixels (samples, points) per forward pass (0 = the run's "
                       "eval.chunk_size).", **fv)
  for flag in signal_flags():
    _DEFINE[flag.kind](flag.name, flag.default, flag.help, **fv)


if __name__ == "__main__":
  define_flags()
  cli.run(main, required=("workdir", "out"))
