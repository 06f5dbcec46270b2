"""A video run's report page (the video signal's ``report`` hook): first the
clip as fitted and the reconstruction in ``<video>`` elements with the browser's controls (play, pause,
scrub), played and stepped frame by frame together by a small control bar (both are embedded WebM
``data:`` URIs, so the page stays one self-contained file), then the frame grid and the per-frame
metrics, then the middle frame in the image viewers (``image_report.standard_page``)."""

import html

from siren_jax.io import page as p
from siren_jax.signals.image import report as image_report

CLIPS = (("original.webm", "original (as fitted)"), ("reconstruction.webm", "reconstruction"))

# One bar for both clips: play/pause together, step a frame back or forward, and keep the
# reconstruction on the original's time whenever either is scrubbed.
SYNC_JS = """
document.querySelectorAll('.clips').forEach(function (box) {
  var videos = box.querySelectorAll('video'), fps = +box.dataset.fps || 25;
  var label = box.querySelector('.time');
  function frame() { return Math.floor(videos[0].currentTime * fps + 1e-6); }  // frame k: [k, k+1)/fps
  function show() { label.textContent = 'frame ' + (frame() + 1); }
  function seek(t) {
    var end = videos[0].duration || 0;
    t = Math.min(Math.max(t, 0), Math.max(end - 0.5 / fps, 0));
    videos.forEach(function (v) { v.pause(); v.currentTime = t; });
  }
  box.querySelector('.play').addEventListener('click', function () {
    var paused = videos[0].paused;
    videos.forEach(function (v) {
      v.currentTime = videos[0].currentTime;
      if (paused) v.play(); else v.pause();
    });
  });
  box.querySelector('.prev').addEventListener('click', function () { seek((frame() - 1 + 0.5) / fps); });
  box.querySelector('.next').addEventListener('click', function () { seek((frame() + 1 + 0.5) / fps); });
  videos[0].addEventListener('seeked', function () {
    show();
    var lag = Math.abs(videos[1].currentTime - videos[0].currentTime);
    if (lag > 0.5 / fps) videos[1].currentTime = videos[0].currentTime;
  });
  videos.forEach(function (v) { v.addEventListener('timeupdate', show); });
  show();
});
"""


def _clip(uri: str, caption: str) -> str:
  style = "width: 100%; max-width: 480px; image-rendering: pixelated"  # small clips: big, sharp pixels
  return (f'<figure class="plain"><video src="{uri}" style="{style}" controls loop muted playsinline '
          f'preload="auto" aria-label="{html.escape(caption)}"></video>'
          f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def body(page, summary) -> str:
  """The section's HTML for ``page`` (``siren_jax.io.page.Page``), or "" when the run wrote no clips."""
  uris = [page.image_uri(name) for name, _ in CLIPS]  # any file as a data: URI, typed by its extension
  if not all(uris):
    return ""
  summary = summary if isinstance(summary, dict) else {}
  stats = ""
  if all(isinstance(summary.get(k), (int, float)) for k in ("psnr_frame_mean", "psnr_frame_std")):
    stats = (f"{summary['psnr_frame_mean']:.2f} ± {summary['psnr_frame_std']:.2f} dB per-frame PSNR"
             + (f", SSIM {summary['ssim']:.3f}" if isinstance(summary.get("ssim"), float) else ""))
  shape = "&times;".join(html.escape(str(summary.get(k, "?"))) for k in ("frames", "height", "width"))
  fps = summary.get("fps") if isinstance(summary.get("fps"), (int, float)) else 25
  parts = [f'<p class="note">{shape} (frames &times; H &times; W) at {html.escape(str(fps))} fps; '
           f"{html.escape(stats)}. The zoom and split views below show the middle frame.</p>"
           if summary else "",
           f'<div class="clips" data-fps="{float(fps):g}"><div class="pair">']
  parts += [_clip(uri, caption) for uri, (_, caption) in zip(uris, CLIPS)]
  parts.append('</div><p><button type="button" class="play">play / pause both</button> '
               '<button type="button" class="prev">&larr; frame</button> '
               '<button type="button" class="next">frame &rarr;</button> <span class="time"></span></p>'
               f"</div><script>{SYNC_JS}</script>")
  for name, caption in (("frames.png", "original, fit and |error| of a few frames"),
                        ("frame_metrics.png", "PSNR and SSIM of every frame")):
    uri = page.image_uri(name)
    if uri:
      parts.append(f'<figure class="plain"><img src="{uri}" alt="{html.escape(caption)}">'
                   f"<figcaption>{html.escape(caption)}</figcaption></figure>")
  return "".join(parts)


def run_page(page, config, summary) -> str:
  side_by_side, compare = image_report.viewer_sections(page)
  return image_report.standard_page(page, config, summary, [
      ("video", "Video", p.section("video", "Video: original and reconstruction", body(page, summary))),
      ("images", "Zoom", side_by_side), ("compare", "Compare", compare)])
