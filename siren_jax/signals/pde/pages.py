"""The report page and the render command of the PDE runs (the ``report`` and ``render`` hooks of
Helmholtz, the wave and the inversion).

    python -m siren_jax.render --workdir=runs/helmholtz --size=1024x1024 --out=field.npz   (or .png)
    python -m siren_jax.render --workdir=runs/wave --size=256x256 --frames=60 --out=wave.mp4  (.npz, .png)
    python -m siren_jax.render --workdir=runs/fwi --size=512x512 --out=inversion.npz  (or .png)

A fitted field is a continuous function, so ``render`` samples it on any grid of pixel centres over
``--window`` (x and y alike in [-1, 1]) and, for the wave, at any times (``--frames`` equal steps over
``--time``, default the run's [0, t_max], or one ``--t``). ``.npz`` holds the field (complex for
Helmholtz, (T, H, W) for the wave, (S, H, W) and the velocity for an inversion) and its coordinates;
``.png`` the panels; ``.mp4`` an animation.
Like ``report`` the page only reads files and formats text (no JAX).
"""

import os

from siren_jax.engine import registry
from siren_jax.io import page as p

KEY = "rel_l2"
HEADLINE = (("rel_l2", "relative L2 error"), ("mean_abs_residual", "mean |residual|"),
            ("steps", "steps"), ("train_seconds", "training time (s)"), ("num_params", "parameters"))
INVERSE_HEADLINE = (("velocity_error", "velocity: relative L2 error"),
                    ("initial_velocity_error", "starting medium's velocity error"),
                    ("best_constant_velocity_error", "best constant velocity's error"),
                    ("pretrained_velocity_error", "velocity error after the pretrain phase"),
                    ("data_misfit", "relative misfit at the receivers"), ("steps", "steps"),
                    ("pretrain_steps", "of them pretrain"), ("train_seconds", "training time (s)"),
                    ("num_params", "parameters"))
FIGURES = {
    "helmholtz": (("field.png", "Field", "real part, imaginary part and magnitude of the fitted field "
                   "(left), the reference (middle) and their difference (right); dashed: the inner "
                   "edge of the PML, circle: the source disk; neither is scored"),),
    "wave": (("frames.png", "Frames", "the fitted wave, the finite-difference reference and their "
              "difference at evenly spaced times"),
             ("errors.png", "Error over time", "relative L2 error of each evaluated time")),
    "helmholtz_inverse": (
        ("velocity.png", "Velocity", "true, starting and recovered velocity, the recovered one's "
         "error and its change from the starting medium; triangles: sources, green dots: receivers, dashed: the PML's inner edge (the error is "
         "scored inside it), dotted: the edge beyond which the medium is held known"),
        ("fields.png", "Wavefields", "real part and magnitude of each source's fitted field"))}


def _subtitle(page, summary, what: str, key: str = KEY) -> str:
  where = p.esc(os.path.abspath(page.workdir))
  if summary and summary.get("status") == "done" and key in summary:
    against = (f"against the {p.esc(summary.get('reference', '?'))}" if key == KEY else
               f"(starting medium {p.fmt(summary.get('initial_velocity_error'))})")
    return (f"{what}: {key} {p.fmt(summary[key])} {against} "
            f"after {p.esc(summary.get('steps', '?'))} steps, "
            f"{p.esc(p.fmt(summary.get('train_seconds')))} s of training &middot; {where}")
  if summary and summary.get("status") == "diverged":
    return f"{what}: diverged at step {p.esc(summary.get('steps', '?'))} &middot; {where}"
  state = p.progress_line(page, key, lambda v: f"{key} {p.fmt(v)}")
  return f"{what}: {state} &middot; {where}"


def _video_section(page) -> str:
  """wave.mp4 in a <video> element (embedded, so the page stays self-contained)."""
  path = page.path("wave.mp4")
  if not os.path.exists(path):
    return ""
  import base64  # pylint: disable=g-import-not-at-top
  with open(path, "rb") as f:
    payload = base64.b64encode(f.read()).decode("ascii")
  return p.section("animation", "Animation", (
      f'<video controls loop muted style="max-width:100%" src="data:video/mp4;base64,{payload}">'
      "</video><p class=\"note\">fit, reference and |fit − reference| over time (wave.mp4)</p>"))


def run_page(page, config, summary) -> str:
  """The HTML of a Helmholtz or wave run's report."""
  task = registry.name_of(config or {})
  key, label = registry.headline(config or {})
  what = {"helmholtz": "Helmholtz", "wave": "wave equation",
          "helmholtz_inverse": "full-waveform inversion"}.get(task, task)
  if isinstance(summary, dict) and summary.get("velocity"):
    what += f", {summary['velocity']} medium"
  sections = [(name.split(".")[0], label, p.section(name.split(".")[0], label, p.figure(
      page.image_uri(name), caption, label) or '<p class="note">written when the run finishes</p>'))
              for name, label, caption in FIGURES.get(task, ())]
  sections += [("animation", "Animation", _video_section(page)),
               ("curves", "Curves", p.curves_section(
                   page, key, label, key, log_y=True, loss_label=(
                       "loss (weighted mean of its terms)" if task == "helmholtz_inverse"
                       else "loss (mean L1 residual)"))),
               ("summary", "Summary", p.summary_section(
                   page, summary, INVERSE_HEADLINE if task == "helmholtz_inverse" else HEADLINE)),
               ("config", "Config", p.config_section(config))]
  return p.assemble(f"siren_jax report: {what}", _subtitle(page, summary, what, key), sections,
                    page.warnings)


def command(f) -> None:
  """``siren_jax.render`` for a PDE run (``siren_jax.signals.pde.renders``, which needs JAX: imported here,
  so that the page needs none)."""
  from siren_jax.engine import trained  # pylint: disable=g-import-not-at-top
  from siren_jax.signals.pde import renders  # pylint: disable=g-import-not-at-top
  renders.command(f, trained.load_run)
