"""An audio run's report page (the audio signal's ``report`` hook): playable ``<audio>`` elements for the original and the fit,
embedded as 16-bit PCM WAV ``data:`` URIs (a third of a float WAV's size; the page stays
self-contained), beside waveform.png and spectrogram.png. Reads files only (no JAX), like the report.
"""

import base64
import io
import os

from scipy.io import wavfile

from siren_jax.errors import UserError
from siren_jax.io import page as p
from siren_jax.signals.audio import clips as audio
from siren_jax.signals.image import report as image_report

PLAYERS = (("original.wav", "original"), ("reconstruction.wav", "fit (reconstruction.wav)"))


def wav_data_uri(path: str) -> str:
  """The WAV at ``path`` as a 16-bit PCM WAV ``data:`` URI."""
  rate, samples = audio.read_wav(path)
  buffer = io.BytesIO()
  wavfile.write(buffer, rate, audio.pcm16(samples[:, 0] if samples.shape[1] == 1 else samples))
  return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _player(page, name: str, caption: str) -> str:
  path = page.path(name)
  if not os.path.exists(path):
    return ""
  try:
    uri = wav_data_uri(path)
  except UserError as e:
    page.warnings.append(f"could not embed {name}: {e}")
    return ""
  return (f'<figure class="player"><figcaption>{p.esc(caption)}</figcaption>'
          f'<audio controls preload="auto" src="{uri}"></audio></figure>')


def section(page) -> str:
  """The "Audio" section: the players, then the waveform panel and the spectrograms (as they exist)."""
  players = "".join(_player(page, name, caption) for name, caption in PLAYERS)
  if not players:
    return p.section("audio", "Audio", '<p class="note">original.wav and reconstruction.wav '
                     "are written when the run finishes; this report will play them then.</p>")
  figure = p.figure
  body = (f'<div class="players" style="display:flex;gap:24px;flex-wrap:wrap">{players}</div>'
          + figure(page.image_uri("waveform.png"), "original, fit and error (fit − original) against "
                   "time; each inset zooms on the shaded span around the loudest sample",
                   "waveform panel")
          + figure(page.image_uri("spectrogram.png"), "spectrograms of the original, the fit and the "
                   "error, on one colour scale", "spectrograms"))
  return p.section("audio", "Audio: original and fit", body)


def run_page(page, config, summary) -> str:
  """The players, then what every picture-like run's page has (``image_report.standard_page``)."""
  return image_report.standard_page(page, config, summary, [("audio", "Audio", section(page))])
