"""The video section of a run's report.html (``siren_jax.report`` adds it when the run wrote one): the
clip as fitted and the reconstruction, both playing inline side by side (animated WebP ``data:`` URIs,
so the page stays one self-contained file), the frame grid and the per-frame metrics."""

import html


def _clip(uri: str, caption: str) -> str:
  style = "width: 100%; max-width: 480px; image-rendering: pixelated"  # small clips: big, sharp pixels
  return (f'<figure class="plain"><img src="{uri}" style="{style}" alt="{html.escape(caption)}">'
          f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def body(page, summary) -> str:
  """The section's HTML for ``page`` (``report._Page``), or "" when the run wrote no clips."""
  original, recon = page.image_uri("original.webp"), page.image_uri("reconstruction.webp")
  if not (original and recon):
    return ""
  summary = summary if isinstance(summary, dict) else {}
  stats = ""
  if all(isinstance(summary.get(k), (int, float)) for k in ("psnr_frame_mean", "psnr_frame_std")):
    stats = (f"{summary['psnr_frame_mean']:.2f} ± {summary['psnr_frame_std']:.2f} dB per-frame PSNR"
             + (f", SSIM {summary['ssim']:.3f}" if isinstance(summary.get("ssim"), float) else ""))
  shape = "&times;".join(html.escape(str(summary.get(k, "?"))) for k in ("frames", "height", "width"))
  fps = html.escape(str(summary.get("fps", "?")))
  parts = [f'<p class="note">{shape} (frames &times; H &times; W) at {fps} fps; {html.escape(stats)}. '
           "The zoom and split views below show the middle frame.</p>"
           if summary else "",
           '<div class="pair">', _clip(original, "original (as fitted)"),
           _clip(recon, "reconstruction"), "</div>"]
  for name, caption in (("frames.png", "original, fit and |error| of a few frames"),
                        ("frame_metrics.png", "PSNR and SSIM of every frame")):
    uri = page.image_uri(name)
    if uri:
      parts.append(f'<figure class="plain"><img src="{uri}" alt="{html.escape(caption)}">'
                   f"<figcaption>{html.escape(caption)}</figcaption></figure>")
  return "".join(parts)
