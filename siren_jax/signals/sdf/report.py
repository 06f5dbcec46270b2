"""An SDF run's report page (the sdf signal's ``report`` hook): the
sphere-traced renders, a turntable to turn the shape round, a link to mesh.ply, the SDF slices, the
surface metrics, training curves, summary and config.
Like ``report`` it only reads files and formats text (no JAX)."""

import os

from siren_jax.io import page as p

KEY = "surface_error"  # the signal's headline (siren_jax.signals.sdf.SIGNAL)

METRICS = (("chamfer_l1", "Chamfer L1"), ("chamfer_l2", "Chamfer L2"),
           ("normal_consistency", "normal consistency"), ("fscore", "F-score"),
           ("fscore_tau", "F-score τ (input units)"), ("mean_abs_error_near", "mean |f − sdf| near"),
           ("mean_abs_error_volume", "mean |f − sdf| volume"), ("eikonal_residual", "eikonal residual"),
           ("mesh_faces", "mesh triangles"), ("mesh_resolution", "marching-cubes grid"))
HEADLINE = (("chamfer_l1", "Chamfer L1"), ("normal_consistency", "normal consistency"),
            ("fscore", "F-score"), ("steps", "steps"), ("train_seconds", "training time (s)"),
            ("num_params", "parameters"))


def _subtitle(page, summary) -> str:
  where = p.esc(os.path.abspath(page.workdir))
  if summary and summary.get("status") == "done" and "chamfer_l1" in summary:
    return (f"Chamfer L1 {p.fmt(summary['chamfer_l1'])}, normal consistency "
            f"{p.fmt(summary.get('normal_consistency'))}, F-score {p.fmt(summary.get('fscore'))} "
            f"after {p.esc(summary.get('steps', '?'))} steps, {p.esc(p.fmt(summary.get('train_seconds')))}"
            f" s of training &middot; {where}")
  if summary and summary.get("status") == "diverged":
    return f"diverged at step {p.esc(summary.get('steps', '?'))} &middot; {where}"
  state = p.progress_line(page, KEY, lambda v: f"mean |f| on the surface {p.fmt(v)}")
  return f"{state} &middot; {where}"


def _metrics_section(summary) -> str:
  rows = [(label, summary[k]) for k, label in METRICS if k in (summary or {})]
  if not rows:
    return ""
  note = ('<p class="note">between area-uniform samples of the fitted mesh (mesh.ply) and of the input '
          "surface, in the input's units; F-score at τ; the |f − sdf| rows exist for analytic shapes."
          "</p>")
  return p.section("metrics", "Surface metrics", p.table(("metric", "value"), rows, cls="kv") + note)


TURNTABLE_JS = """
document.querySelectorAll('.turntable').forEach(function (box) {
  var n = +box.dataset.frames, view = box.querySelector('.frame'), slider = box.querySelector('input');
  var play = box.querySelector('button'), timer = null, drag = null;
  function show(i) {
    i = ((Math.round(i) % n) + n) % n; slider.value = i;
    view.style.backgroundPosition = (n > 1 ? 100 * i / (n - 1) : 0) + '% 0';
    box.querySelector('.angle').textContent = Math.round(360 * i / n) + '°';
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; play.textContent = 'play'; } }
  slider.addEventListener('input', function () { stop(); show(+slider.value); });
  play.addEventListener('click', function () {
    if (timer) { stop(); return; }
    play.textContent = 'pause';
    timer = setInterval(function () { show(+slider.value + 1); }, 120);
  });
  view.addEventListener('pointerdown', function (e) {
    stop(); drag = {x: e.clientX, i: +slider.value}; view.setPointerCapture(e.pointerId);
  });
  view.addEventListener('pointermove', function (e) {
    if (drag) show(drag.i - (e.clientX - drag.x) / (view.clientWidth / n));
  });
  view.addEventListener('pointerup', function () { drag = null; });
  box.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowLeft') show(+slider.value - 1);
    if (e.key === 'ArrowRight') show(+slider.value + 1);
  });
  show(0);
});
"""


def _turntable(page) -> str:
  """The turntable strip (``sdf_outputs.write_turntable``) as one view that a slider, a drag or the
  arrow keys turn, and a play button spins; the frames are one embedded PNG (no network)."""
  uri, size = page.image_uri("turntable.png"), p.png_size(page.path("turntable.png"))
  if not uri or not size or size[1] == 0 or size[0] % size[1]:
    return ""
  frames, side = size[0] // size[1], max(size[1], min(2 * size[1], 320))  # small frames shown twice as large
  return (f'<div class="turntable" data-frames="{frames}" tabindex="0">'
          f'<div class="frame" style="width:{side}px;height:{side}px;background-image:url({uri});'
          f'background-size:{frames * 100}% 100%;cursor:ew-resize;touch-action:none"></div>'
          f'<div><button type="button">play</button> <input type="range" min="0" max="{frames - 1}" '
          f'value="0" style="width:{side - 120}px"> <span class="angle">0°</span></div>'
          f'<p class="note">drag the shape, use the slider or the arrow keys to turn it: {frames} '
          f"sphere-traced views, {360 // frames}° apart</p></div><script>{TURNTABLE_JS}</script>")


def _mesh_link(page, summary) -> str:
  """A relative link to mesh.ply beside the report (the mesh is too large to embed)."""
  if not os.path.exists(page.path("mesh.ply")):
    return ""
  size = os.path.getsize(page.path("mesh.ply"))
  faces = (summary or {}).get("mesh_faces")
  what = f"{faces} triangles, " if faces is not None else ""
  return (f'<p><a href="mesh.ply" download>mesh.ply</a> ({what}{size / 1e6:.1f} MB, in the input\'s '
          "units): the zero level set by marching cubes; open it in MeshLab, Blender or any PLY "
          "viewer</p>")


def run_page(page, config, summary) -> str:
  """The HTML of an SDF run's report."""
  name = (summary or {}).get("shape") or ((config or {}).get("data") or {}).get("shape") or page.workdir
  name = os.path.basename(str(name)) or str(name)
  renders = (p.figure(page.image_uri("renders.png"), "the zero level set, sphere-traced from three "
                       "views (front, side, above); normals from the network's gradient", "renders")
             + _turntable(page) + _mesh_link(page, summary))
  slices = p.figure(page.image_uri("slices.png"), "f on three planes through the surface's centroid: "
                     "purple inside, orange outside, level lines every 0.05 (normalised units), zero "
                     "level black; dashed green: the exact zero level where known; colours clip at the "
                     "99th percentile of |f|", "SDF slices")
  sections = [
      ("renders", "Renders", p.section("renders", "Renders", renders or
                                        '<p class="note">written when the run finishes</p>')),
      ("slices", "Slices", p.section("slices", "SDF slices", slices)),
      ("metrics", "Metrics", _metrics_section(summary)),
      ("curves", "Curves", p.curves_section(page, KEY, "mean |f| on the surface", "input units",
                                           log_y=True, loss_label="loss (Eq. 6)")),
      ("summary", "Summary", p.summary_section(page, summary, HEADLINE)),
      ("config", "Config", p.config_section(config)),
  ]
  return p.assemble(f"siren_jax report: {name} (signed distance)", _subtitle(page, summary), sections,
                  page.warnings)
