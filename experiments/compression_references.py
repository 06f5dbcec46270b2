"""Published Kodak rate–distortion points of INR codecs, as released by their authors, with sources.

Every point is (bpp, PSNR dB) copied digit for digit from the authors' released results file (named in
``source`` with the repository commit it was read at); nothing here is read off a figure or estimated.
Each is a mean over the 24 Kodak images (768x512 RGB), with bpp over the whole image, 8 * bytes /
(H * W) as in ``siren_jax.io.quantize.bits_per_pixel`` (per pixel, not per channel value), and PSNR of the
decoded RGB image on [0, 1], as each paper reports. The released code differs in one detail, noted per
reference: COIN rounds its output to 8 bits before the PSNR, as a decoder writing an 8-bit image would
(and as experiments/compression.py does); COIN++ and Strümpler et al. score the network's float output
(Strümpler et al. clipped to [0, 1]). At these PSNRs that is immaterial: rounding adds about 1/12 of
a squared 8-bit step to the MSE, 0.009 dB at 32 dB and less below.

Not included: Strümpler et al.'s repository also has a ``results/KODAK/coin.json``, but its values
(e.g. 29.866 dB at 0.995 bpp) are not COIN's released ones (30.644 dB at 1.209 bpp): they look read off
COIN's plot, so COIN's points come from COIN's own repository. The codec curves those repositories
release (BPG, JPEG, JPEG 2000, CompressAI models) are not copied: experiments/compression_tables.py
measures its own codec baselines on the same images as the SIRENs.
"""

import dataclasses
from typing import Tuple


@dataclasses.dataclass(frozen=True)
class Reference:
  """One published curve: ``points`` are (bpp, PSNR dB) sorted by bpp; ``short`` names its 'vs'
  column in table.md; ``source`` is repository/path@commit; ``note`` says how it was measured."""
  name: str
  short: str
  points: Tuple[Tuple[float, float], ...]
  source: str
  note: str


def _points(bpp, psnr) -> Tuple[Tuple[float, float], ...]:
  """The released files hold two parallel lists; the pairs, sorted by bpp, are what gets plotted."""
  assert len(bpp) == len(psnr)
  return tuple(sorted(zip(bpp, psnr)))


COIN = Reference(
    name="COIN",
    short="COIN",
    points=_points([0.0368, 0.07361, 0.1604, 0.3074, 0.6109, 1.209],
                   [22.408, 23.205, 24.6410833, 26.412125, 28.408, 30.644]),
    source=("EmilienDupont/coin results.json@5a8d310136d86160afc1e94f7eae27ca5e5aeaeb (the same values: "
            "EmilienDupont/coinpp results/kodak/coin.json@f90a98479b315fc20e91bee0463d8643dbd9581a)"),
    note=("Dupont et al. 2021, 'COIN: COmpression with Implicit Neural representations': one SIREN per "
          "image (omega_0 30), float16 weights, no entropy coding; PSNR of the output clamped and rounded "
          "to 8 bits (util.get_clamped_psnr), bpp = weight bits / (H * W) (util.bpp)."))

COIN_PP = Reference(
    name="COIN++",
    short="COIN++",
    points=_points([0.06656413525342941, 0.1324574202299118, 0.2659042477607727, 0.3982515782117843,
                    0.5365909337997437],
                   [23.68178367614746, 24.926698684692383, 26.142541885375977, 27.031984329223633,
                    27.798105239868164]),
    source="EmilienDupont/coinpp results/kodak/coinpp.json@f90a98479b315fc20e91bee0463d8643dbd9581a",
    note=("Dupont et al. 2022, 'COIN++: Neural Compression Across Modalities': a meta-learned base "
          "network with per-patch modulations, quantised to 5 bits (the file's description: 3 inner "
          "steps for the first three points, 10 for the last two); PSNR of the float output "
          "(evaluate.py)."))

STRUMPLER_BASIC = Reference(
    name="Strümpler et al. 2022 (basic)",
    short="Strümpler basic",
    points=_points([0.09959665934244792, 0.1879238552517361, 0.29943254258897567, 0.9462916056315104],
                   [25.63693747855067, 27.14703528333572, 28.413966574854975, 32.26747447201426]),
    source=("YannickStruempler/inr_based_compression results/KODAK/kodak_basic_8_bit.json"
            "@eeba4e9d6bc5ab6c612e01c7c49bd01b7d6d682d"),
    note=("Strümpler et al. 2022, 'Implicit Neural Representations for Image Compression' (ECCV), basic "
          "method (file 'basic_8_bit'; recipe in examples/run_basic_kodak.sh): SIREN with positional "
          "encoding fitted from a random initialisation, 8-bit weights after AdaRound and "
          "quantisation-aware retraining, arithmetic coding; PSNR of the float output clipped to [0, 1] "
          "(image_compression/utils.py), bpp = 8 * bytes / (H * W) "
          "(image_compression/quantize_and_test.py)."))

STRUMPLER_META = Reference(
    name="Strümpler et al. 2022 (meta-learned)",
    short="Strümpler meta",
    points=_points([0.08315870496961805, 0.1546198527018229, 0.24893612331814235, 0.7844628228081597],
                   [25.56004644305473, 27.019205940785646, 28.28015802285809, 32.13873826006784]),
    source=("YannickStruempler/inr_based_compression results/KODAK/kodak_meta_learned_7_bit.json"
            "@eeba4e9d6bc5ab6c612e01c7c49bd01b7d6d682d"),
    note=("Strümpler et al. 2022, meta-learned method (file 'meta_learned_7_bit'; recipe in "
          "examples/run_maml_kodak.sh): the same network fitted from a MAML initialisation learned on "
          "DIV2K, its 7-bit quantised differences to that initialisation stored, otherwise as the basic "
          "method."))

REFERENCES: Tuple[Reference, ...] = (COIN, COIN_PP, STRUMPLER_BASIC, STRUMPLER_META)


def by_name(name: str) -> Reference:
  for ref in REFERENCES:
    if ref.name == name:
      return ref
  raise KeyError(f"no published reference named {name!r}; known: {', '.join(r.name for r in REFERENCES)}")
