"""The audio part of a run's report.html: playable ``<audio>`` elements for the original and the fit,
embedded as 16-bit PCM WAV ``data:`` URIs (a third of a float WAV's size; the page stays
self-contained), beside waveform.png and spectrogram.png. Reads files only (no JAX), like the report.
"""

import base64
import io
import os

from scipy.io import wavfile

from siren_jax.signals.audio import clips as audio
from siren_jax import report
from siren_jax.errors import UserError

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
  return (f'<figure class="player"><figcaption>{report._esc(caption)}</figcaption>'  # pylint: disable=protected-access
          f'<audio controls preload="auto" src="{uri}"></audio></figure>')


def section(page) -> str:
  """The "Audio" section: the players, then the waveform panel and the spectrograms (as they exist)."""
  players = "".join(_player(page, name, caption) for name, caption in PLAYERS)
  if not players:
    return report._section("audio", "Audio", '<p class="note">original.wav and reconstruction.wav '  # pylint: disable=protected-access
                           "are written when the run finishes; this report will play them then.</p>")
  figure = report._figure  # pylint: disable=protected-access
  body = (f'<div class="players" style="display:flex;gap:24px;flex-wrap:wrap">{players}</div>'
          + figure(page.image_uri("waveform.png"), "original, fit and error (fit − original) against "
                   "time; each inset zooms on the shaded span around the loudest sample",
                   "waveform panel")
          + figure(page.image_uri("spectrogram.png"), "spectrograms of the original, the fit and the "
                   "error, on one colour scale", "spectrograms"))
  return report._section("audio", "Audio: original and fit", body)  # pylint: disable=protected-access
