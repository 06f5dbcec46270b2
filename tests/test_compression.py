"""Compression (issue 5): the weight codecs round-trip within their error bounds and their sizes are the
real byte strings, JPEG/WebP/JPEG 2000/AVIF rates grow with quality, the published Kodak curves are the
released numbers, and the experiment's per-run step writes a compression.json the report can read, with
float16 scoring like float32."""

import json
import os
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from siren_jax.engine import metrics, train, trained as trained_runs
from siren_jax.errors import UserError
from siren_jax.io import outputs, page, plots, quantize
from siren_jax.nets import models
from siren_jax.signals.image import render as image_render
import floatbounds
import forkserver
from conftest import ROOT, smooth_image, tiny_config

from experiments import compression as experiment
from experiments import compression_references as references
from experiments import compression_tables as tables


def siren_params(width: int, depth: int = 2, seed: int = 0, scale: float = 1.0):
  """A parameter tree shaped like ``models.Siren``'s (built in numpy: Flax's init compiles for seconds),
  with SIREN-like ranges times ``scale`` (trained weights spread wider than the init)."""
  rng = np.random.default_rng(seed)
  u = lambda bound, *shape: (scale * rng.uniform(-bound, bound, shape)).astype(np.float32)
  tree = {"layer_0": {"dense": {"kernel": u(0.5, 2, width), "bias": u(0.7, width)}}}
  for i in range(1, depth + 1):
    tree[f"layer_{i}"] = {"dense": {"kernel": u((6 / width) ** 0.5 / 30, width, width),
                                    "bias": u(width ** -0.5, width)}}
  tree["output"] = {"kernel": u((6 / width) ** 0.5 / 30, width, 3), "bias": u(width ** -0.5, 3)}
  return {"params": tree}


HEADER = quantize.Header(width=16, depth=2, channels=3, height_px=32, width_px=24)
CODECS = [quantize.Codec("float32"), quantize.Codec("float16"), quantize.Codec("float16", entropy=True),
          quantize.Codec("uniform"), quantize.Codec("uniform", entropy=True),
          quantize.Codec("uniform", bits=6, entropy=True), quantize.Codec("uniform", per_channel=True),
          quantize.Codec("uniform", bits=5, bias="uniform", first="uniform")]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_codecs_roundtrip_within_their_error_bounds(codec):
  params = siren_params(16, scale=3.0)
  blob = quantize.encode(params, codec, HEADER)
  got_codec, header, decoded = quantize.decode(blob, params)
  assert got_codec == codec and header == HEADER
  tiny = np.finfo(np.float16).tiny
  for (name, x), (_, y), (_, r) in zip(quantize.leaves(params), quantize.leaves(decoded),
                                       quantize.leaves(quantize.roundtrip(params, codec))):
    np.testing.assert_array_equal(y, r)  # the byte string decodes to exactly what roundtrip() says
    err = np.abs(y - x)
    float16_leaf = codec.kind == "float16" or (codec.kind == "uniform" and quantize._keeps_float16(
        name, codec))  # pylint: disable=protected-access
    if codec.kind == "float32":
      assert err.max() == 0
    elif float16_leaf:  # round to nearest: half an ulp, i.e. eps/2 relative
      assert np.all(err <= np.finfo(np.float16).eps / 2 * np.abs(x) + tiny), name
      assert err.max() > 0
    else:
      lo, step = quantize.uniform_grid(x, codec.bits, codec.per_channel)
      # half a quantisation step, plus the float32 rounding of lo + q * step (eps of the leaf's scale)
      assert np.all(err <= step / 2 + 2 * floatbounds.EPS32 * np.abs(x).max()), name
      if x.size > 16:
        assert err.max() > step.min() / 10  # it really was quantised
      assert len(np.unique(y)) <= 2 ** codec.bits * np.size(lo)


def test_sizes_are_the_serialised_lengths_and_grow_with_parameters():
  sizes = {}
  for width in (8, 16, 32):
    params = siren_params(width)
    n = models.num_params(params)
    header = quantize.Header(width, 2, 3, 32, 24)
    for codec in CODECS:
      blob = quantize.encode(params, codec, header)
      assert isinstance(blob, bytes)
      sizes.setdefault(codec.name, []).append(len(blob))
    # the layout, counted independently: 14 header bytes and 4 or 2 bytes a value
    assert sizes["float32"][-1] == quantize.HEADER.size + 4 * n
    assert sizes["float16"][-1] == quantize.HEADER.size + 2 * n
    # 8-bit: a byte per value of the three quantised kernels (two hidden, output) and 8 bytes (lo,
    # step) per kernel; float16 for the biases (3 x width + 3) and the first layer's kernel (2 x width)
    quantised, halves = 2 * width * width + 3 * width, (3 * width + 3) + 2 * width
    assert quantised + halves == n
    assert sizes["8-bit"][-1] == quantize.HEADER.size + quantised + 8 * 3 + 2 * halves
  for name, values in sizes.items():
    assert values == sorted(values) and len(set(values)) == 3, name
  assert all(a < b for a, b in zip(sizes["8-bit"], sizes["float16"]))
  assert all(a <= b for a, b in zip(sizes["8-bit + entropy"], sizes["8-bit"]))  # stored if not smaller
  assert quantize.bits_per_pixel(1000, 32, 25) == 10.0


@pytest.mark.parametrize("codec", CODECS[::3], ids=lambda c: c.name)
def test_a_positional_encoding_costs_one_header_byte_and_roundtrips(codec):
  params = siren_params(16, scale=3.0)
  encoded = quantize.Header(16, 2, 3, 32, 24, pe_frequencies=7)
  blob, plain = quantize.encode(params, codec, encoded), quantize.encode(params, codec, HEADER)
  assert len(blob) == len(plain) + 1 and blob[quantize.HEADER.size] == 7
  assert blob[quantize.HEADER.size + 1:] == plain[quantize.HEADER.size:]  # the same payload after it
  got_codec, header, decoded = quantize.decode(blob, params)
  assert got_codec == codec and header == encoded
  for (_, y), (_, r) in zip(quantize.leaves(decoded), quantize.leaves(quantize.roundtrip(params, codec))):
    np.testing.assert_array_equal(y, r)
  assert quantize.decode(plain, params)[1].pe_frequencies == 0  # streams without one read as before
  with pytest.raises(UserError, match="gives no frequency count"):
    quantize.read_header(blob[:quantize.HEADER.size])


def test_entropy_coding_shrinks_redundant_weights():
  """A tree with repeated values must code far below its raw size (the coder is really applied)."""
  params = jax.tree_util.tree_map(lambda x: np.round(np.asarray(x) * 4) / 4, siren_params(32))
  for kind in ("float16", "uniform"):
    raw = len(quantize.encode(params, quantize.Codec(kind), HEADER))
    coded = quantize.encode(params, quantize.Codec(kind, entropy=True), HEADER)
    assert len(coded) < 0.5 * raw
    assert quantize.read_header(coded)[1] in ("lzma2", "deflate")
    for a, b in zip(jax.tree_util.tree_leaves(quantize.decode(coded, params)[2]),
                    jax.tree_util.tree_leaves(quantize.roundtrip(params, quantize.Codec(kind)))):
      np.testing.assert_array_equal(a, b)


def test_bad_streams_and_codecs_are_user_errors():
  params = siren_params(8)
  blob = quantize.encode(params, quantize.Codec("uniform"), HEADER)
  for bad in (blob[:-1], blob + b"\0", blob[:5]):
    with pytest.raises(UserError):
      quantize.decode(bad, params)
  with pytest.raises(UserError, match="leaf|left over"):
    quantize.decode(blob, siren_params(16))  # another architecture
  params = jax.tree_util.tree_map(lambda x: np.round(np.asarray(x) * 4) / 4, params)
  coded = quantize.encode(params, quantize.Codec("float16", entropy=True), HEADER)
  assert quantize.read_header(coded)[1] != "stored"
  with pytest.raises(UserError, match="corrupt"):
    quantize.decode(coded[:quantize.HEADER.size] + b"\xff" * 40, params)
  with pytest.raises(UserError):
    quantize.Codec("uniform", bits=9)
  with pytest.raises(UserError):
    quantize.Codec("int4")
  with pytest.raises(UserError, match="header field width"):
    quantize.encode(params, quantize.Codec(), quantize.Header(70000, 2, 3, 32, 32))
  with pytest.raises(UserError, match="WIDTHxDEPTH"):
    experiment.parse_sizes(["40x"])
  with pytest.raises(UserError, match="1..8"):
    experiment.parse_ints("bits", ["9"], 1, 8)


def test_fake_quantise_forward_is_the_decoded_grid_and_backward_is_identity():
  params = siren_params(16, scale=2.0)
  codec = quantize.Codec("uniform", bits=6)
  fq = jax.jit(lambda p: quantize.fake_quantise(p, codec))(params)
  for a, b in zip(jax.tree_util.tree_leaves(fq),
                  jax.tree_util.tree_leaves(quantize.roundtrip(params, codec))):
    # lo + q * step, decoded - x and x + (decoded - x): each rounds within eps of the leaf's largest
    # magnitude (lo and q * step reach it), and the two codes may round in different orders.
    bound = 4 * floatbounds.EPS32 * np.max(np.abs(b))
    floatbounds.assert_within(np.asarray(a), b, bound, "fake-quantised leaf")
  weights = jax.tree_util.tree_map(lambda x: np.arange(x.size, dtype=np.float32).reshape(x.shape),
                                   params)

  def loss(p):
    pairs = zip(jax.tree_util.tree_leaves(quantize.fake_quantise(p, codec)),
                jax.tree_util.tree_leaves(weights))
    return sum(jnp.sum(a * w) for a, w in pairs)

  grads = jax.jit(jax.grad(loss))(params)
  for g, w in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(weights)):
    np.testing.assert_array_equal(np.asarray(g), w)


def test_jpeg_and_webp_rate_grows_with_quality():
  rng = np.random.default_rng(0)
  img = np.clip(smooth_image(48, 64) + 0.05 * rng.standard_normal((48, 64, 3)), 0, 1).astype(np.float32)
  rows = tables.image_codec_rows(img, [10, 50, 90], [10, 50, 90])
  for family in ("JPEG", "WebP"):
    fam = [r for r in rows if r["family"] == family]
    assert [r["setting"] for r in fam] == ["q=10", "q=50", "q=90"]
    bpp, psnr = [r["bpp"] for r in fam], [r["psnr"] for r in fam]
    assert bpp[0] < bpp[1] < bpp[2] and psnr[0] < psnr[1] < psnr[2], (family, bpp, psnr)
    assert all(r["bpp"] == 8 * r["bytes"] / (48 * 64) for r in fam)
  size, decoded = tables.pil_codec(img, "JPEG", 90)
  assert decoded.shape == img.shape and metrics.psnr(decoded, img) > 20  # aligned, not shifted


@pytest.mark.parametrize("fmt", ["JPEG2000", "AVIF"])
def test_jpeg2000_and_avif_sizes_are_real_files_that_decode(fmt):
  """Each row's bytes are a file Pillow decodes to the input's shape, and more bytes buy more PSNR: a
  wrong size (e.g. the target rate instead of the file), a misaligned or undecodable file fails."""
  if not tables.codec_available(fmt):
    pytest.skip(f"this Pillow has no {fmt} encoder")
  rng = np.random.default_rng(1)
  img = np.clip(smooth_image(32, 32) + 0.02 * rng.standard_normal((32, 32, 3)), 0, 1).astype(np.float32)
  sweep = {"JPEG2000": {"jp2_ratios": [48, 12, 3]}, "AVIF": {"avif_qualities": [10, 50, 90]}}[fmt]
  rows = tables.image_codec_rows(img, [], [], **sweep)
  label = "JPEG 2000" if fmt == "JPEG2000" else "AVIF"
  assert [r["family"] for r in rows] == [label] * 3
  assert [r["setting"] for r in rows] == (["1:48", "1:12", "1:3"] if fmt == "JPEG2000"
                                          else ["q=10", "q=50", "q=90"])
  bpp, psnr = [r["bpp"] for r in rows], [r["psnr"] for r in rows]
  assert 0 < bpp[0] < bpp[1] < bpp[2] and psnr[0] < psnr[1] < psnr[2], (bpp, psnr)
  assert all(r["bpp"] == 8 * r["bytes"] / (32 * 32) for r in rows)
  for r, q in zip(rows, next(iter(sweep.values()))):
    size, decoded = tables.pil_codec(img, fmt, q)
    assert size == r["bytes"] and decoded.shape == img.shape and decoded.dtype == np.float32
    assert metrics.psnr(decoded, img) == r["psnr"]
  assert psnr[-1] > 30  # aligned: transposed it scores 11.5 dB, shifted by a row 20.5 dB
  gray = img[..., :1]
  size, decoded = tables.pil_codec(gray, fmt, next(iter(sweep.values()))[-1])
  assert size > 0 and decoded.shape == gray.shape and metrics.psnr(decoded, gray) > 25


def test_jpeg2000_rate_is_the_asked_ratio_on_a_kodak_sized_image():
  """--jp2_ratios are compression ratios to the raw 24-bit image: 24 / ratio bpp on 768x512 RGB."""
  if not tables.codec_available("JPEG2000"):
    pytest.skip("this Pillow has no JPEG 2000 encoder")
  rng = np.random.default_rng(2)  # noise: a plain smooth image could fit under the target losslessly
  img = np.clip(smooth_image(512, 768) + 0.05 * rng.standard_normal((512, 768, 3)), 0, 1).astype(np.float32)
  for ratio in (16, 240):
    size, _ = tables.pil_codec(img, "JPEG2000", ratio)
    assert quantize.bits_per_pixel(size, 512, 768) == pytest.approx(24 / ratio, rel=0.05)


def test_a_codec_pillow_lacks_is_skipped_with_a_note(monkeypatch, caplog):
  real = tables.features.check
  monkeypatch.setattr(tables.features, "check", lambda f: False if f in ("jpg_2000", "avif") else real(f))
  tables._note_missing.cache_clear()  # pylint: disable=protected-access
  img = smooth_image(16, 16)
  with caplog.at_level("WARNING"):
    rows = tables.image_codec_rows(img, [50], [], jp2_ratios=[8], avif_qualities=[50])
  assert [r["family"] for r in rows] == ["JPEG"]
  assert "JPEG 2000 skipped" in caplog.text and "AVIF skipped" in caplog.text
  assert tables.missing_codecs(JPEG=[50], JPEG2000=[8], AVIF=[]) == ["JPEG 2000"]
  tables._note_missing.cache_clear()  # pylint: disable=protected-access


def test_published_references_are_the_released_numbers():
  """The curves are sorted pairs with a repository, path and commit each; the project's former COIN
  points are the released ones rounded, and the 'vs' column keys stay what table.json has held."""
  names = [r.name for r in references.REFERENCES]
  assert names == ["COIN", "COIN++", "Strümpler et al. 2022 (basic)",
                   "Strümpler et al. 2022 (meta-learned)"]
  for ref in references.REFERENCES:
    assert list(ref.points) == sorted(ref.points) and len(ref.points) >= 4
    assert all(0 < b < 2 and 20 < p < 35 for b, p in ref.points)
    assert re.search(r"@[0-9a-f]{40}", ref.source) and "/" in ref.source
  assert references.by_name("COIN") is references.COIN and tables.COIN_POINTS == references.COIN.points
  released = {round(b, 3): round(p, 2) for b, p in references.COIN.points}
  assert all(released[b] == p for b, p in ((0.160, 24.64), (0.307, 26.41), (0.611, 28.41)))
  assert references.STRUMPLER_BASIC.points[0] == (0.09959665934244792, 25.63693747855067)
  assert tables.vs_key("COIN") == "vs_coin_db" and tables.vs_key("JPEG") == "vs_jpeg_db"
  assert tables.vs_key("Strümpler basic") == "vs_strumpler_basic_db"


def test_rate_distortion_helpers():
  assert tables.psnr_at(tables.COIN_POINTS, 0.3074) == pytest.approx(26.412125)
  assert 24.6410833 < tables.psnr_at(tables.COIN_POINTS, 0.2) < 26.412125
  assert np.isnan(tables.psnr_at(tables.COIN_POINTS, 1.3))  # beyond its last point, 1.209 bpp
  assert np.isnan(tables.psnr_at(tables.COIN_POINTS, 0.03))  # below its first, 0.0368 bpp
  rows = [{"image": i, "family": "JPEG", "setting": "q=5", "bytes": b, "bpp": b / 10, "psnr": p}
          for i, b, p in (("a", 10, 20.0), ("b", 30, 30.0))]
  rows.append({"image": "a", "family": "SIREN 8-bit", "setting": "8x2", "bytes": 3, "bpp": 0.3,
               "psnr": 25.0})  # only one of the two images: no mean
  (mean,) = tables.mean_rows(rows)
  assert (mean["family"], mean["bytes"], mean["bpp"], mean["psnr"]) == ("JPEG", 20.0, 2.0, 25.0)
  # The all-24-Kodak reference rows cover other images: they get their own mean and must not stop the
  # subset's rows from being averaged (they once did, leaving the mean table without SIRENs).
  rows.append({"image": "b", "family": "SIREN 8-bit", "setting": "8x2", "bytes": 5, "bpp": 0.5,
               "psnr": 27.0})
  rows += [{"image": i, "family": "JPEG (all 24 Kodak)", "setting": "q=5", "bytes": 40, "bpp": 4.0,
            "psnr": 31.0} for i in ("a", "b", "c")]
  means = {m["family"]: m for m in tables.mean_rows(rows)}
  assert means["SIREN 8-bit"]["psnr"] == 26.0 and means["SIREN 8-bit"]["images"] == 2
  assert means["JPEG"]["psnr"] == 25.0 and means["JPEG (all 24 Kodak)"]["images"] == 3


def _rd_means():
  """Mean rows like the experiment's: two SIREN sizes, and JPEG points reaching far past them."""
  rows = [{"image": "a", "family": "SIREN 8-bit", "setting": s, "bytes": b, "bpp": bpp, "psnr": p,
           "params": 100} for s, b, bpp, p in (("8x2", 10, 0.2, 25.0), ("16x2", 20, 0.5, 28.0))]
  rows += [{"image": "a", "family": "SIREN float32", "setting": "8x2", "bytes": 40, "bpp": 0.8,
            "psnr": 25.0, "params": 100}]
  rows += [{"image": "a", "family": "JPEG", "setting": f"q={q}", "bytes": b, "bpp": bpp, "psnr": p}
           for q, b, bpp, p in ((5, 8, 0.15, 22.0), (50, 30, 0.55, 27.0), (90, 200, 3.0, 38.0))]
  return tables.mean_rows(rows)


def test_coin_is_compared_only_for_kodak_images():
  """The published numbers are Kodak means: a cameraman (or any non-Kodak) table has no 'vs COIN' and
  no 'vs Strümpler basic', and lists the curves with their sources either way."""
  assert tables.kodak_images(["kodim01", "kodim23"])
  assert not tables.kodak_images(["camera"]) and not tables.kodak_images(["kodim01", "camera"])
  for kodak in (False, True):
    means = tables.add_comparisons(_rd_means(), kodak)
    siren = next(r for r in means if r["family"] == "SIREN 8-bit" and r["setting"] == "8x2")
    assert ("vs_coin_db" in siren) == kodak and ("vs_strumpler_basic_db" in siren) == kodak
    if kodak:  # the curves at 0.2 bpp, interpolated in log bpp between their points
      assert siren["vs_coin_db"] == pytest.approx(25.0 - tables.psnr_at(tables.COIN_POINTS, 0.2))
      assert siren["vs_strumpler_basic_db"] == pytest.approx(
          25.0 - tables.psnr_at(references.STRUMPLER_BASIC.points, 0.2))
    table = tables.markdown(means, [], [], "header", kodak)
    header = next(line for line in table.splitlines() if line.startswith("| method"))
    assert ("vs COIN" in header) == kodak and ("vs Strümpler basic" in header) == kodak
    assert "vs JPEG" in header and "vs COIN++" not in header
    for ref in references.REFERENCES:
      assert any(line.startswith(f"| {ref.name} |") and ref.source in line for line in table.splitlines())
    assert all(line.count("|") == header.count("|") for line in table.splitlines()
               if line.startswith("| SIREN"))
    assert ("not Kodak images" in table) != kodak


def test_rd_plot_labels_references_and_says_what_it_leaves_off(tmp_path):
  for kodak in (False, True):
    fig = tables.rd_figure(tables.add_comparisons(_rd_means(), kodak), "title", kodak)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    note = " ".join(t.get_text() for t in fig.texts)
    for ref in references.REFERENCES:
      assert (tables.reference_label(ref) in labels) == kodak and "Kodak mean" in tables.reference_label(ref)
    assert tables.COIN_LABEL == tables.reference_label(references.COIN)
    assert ("these images are not Kodak images" in note) != kodak  # said to be left off when it is
    # JPEG q=90 (3 bpp) lies beyond the x range (1.15 x the largest SIREN bpp): named, not silently
    # dropped, as are the published points beyond it; float32 is not drawn either, and says so.
    xmax = fig.axes[0].get_xlim()[1]
    assert xmax == pytest.approx(1.15 * 0.5)
    assert "JPEG q=90 (up to 3.00 bpp, beyond the x range" in note and "SIREN float32" in note
    assert ("COIN at 0.611, 1.209 bpp (beyond the x range" in note) == kodak
    assert "q=50" not in note
    plots.save_figure(fig, str(tmp_path / f"rd_kodak{kodak}.png"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  d = tmp_path_factory.mktemp("compression")
  path = d / "smooth.png"
  pixels = smooth_image(32, 24)
  Image.fromarray((pixels * 255).round().astype(np.uint8)).save(path)
  config = tiny_config(str(path), model__width=16, model__depth=2, train__num_steps=120,
                       train__learning_rate=3e-3, train__checkpoint_every=120)
  run_dir = str(d / "run")
  train.train_and_evaluate(config, run_dir)
  pixels01 = np.asarray(Image.open(path), np.float32) / 255.0
  return run_dir, pixels01, config


def test_compress_run_writes_a_report_table(trained):
  run_dir, pixels01, config = trained
  assert experiment.finished(config, run_dir)
  longer = config.copy_and_resolve_references()
  longer.train.num_steps = 121
  assert not experiment.finished(longer, run_dir)
  baseline = tables.image_codec_rows(pixels01, [50], [50])
  codecs = experiment.siren_codecs([8, 6])
  rows = experiment.compress_run(run_dir, pixels01, codecs, qat_steps=3, qat_bits=[6], qat_batch=256,
                                 extra_rows=baseline)
  with open(os.path.join(run_dir, "compression.json")) as f:
    saved = json.load(f)
  columns, table = page.compression_rows(saved)
  assert columns[:4] == ["method", "bytes", "bpp", "psnr"] and len(table) == len(rows) + 2
  by_family = {r["family"]: r for r in rows}
  assert set(by_family) >= {"SIREN float32", "SIREN float16", "SIREN 8-bit + entropy", "SIREN 6-bit",
                            "SIREN 6-bit +FT", "SIREN 6-bit QAT", "SIREN 6-bit QAT + entropy"}
  for r in rows:  # sizes are the files' lengths, and the files decode
    name = experiment._slug(r["family"][len("SIREN "):])  # pylint: disable=protected-access
    path = os.path.join(run_dir, "compressed", name + ".bin")
    assert os.path.getsize(path) == r["bytes"]
    assert r["bpp"] == 8 * r["bytes"] / (32 * 24)
  # the fine-tunes are runs of the project's loop, started from the trained weights
  with open(os.path.join(run_dir, "summary.json")) as f:
    parent_psnr = json.load(f)["psnr"]
  for name, bits in (("qat-6bit", 6), ("plain", 0)):
    ft_dir = os.path.join(run_dir, "finetune", "from-step-120", name)
    with open(os.path.join(ft_dir, "config.json")) as f:
      ft_config = json.load(f)
    assert (ft_config["train"]["qat_bits"], ft_config["train"]["init_from"]) == (bits, run_dir)
    ft_rows = outputs.read_jsonl(os.path.join(ft_dir, "metrics.jsonl"))
    # step 0 is the parent's final network, evaluated by the same program on the same grid
    assert ft_rows[0]["step"] == 0 and ft_rows[0]["psnr"] == parent_psnr
    assert ft_rows[-1]["step"] == 3
  run = trained_runs.load_run(run_dir)
  assert (jax.tree_util.tree_structure(run.params)
          == jax.tree_util.tree_structure(siren_params(16)))  # the trees the codec tests use
  with open(path, "rb") as f:
    _, header, _ = quantize.decode(f.read(), run.params)
  assert header == quantize.Header(width=16, depth=2, channels=3, height_px=32, width_px=24)
  # the float32 row scores the render of siren_jax.render, and float16 costs almost nothing
  ours = image_render.render_array(run, 32, 24).reshape(32, 24, -1)
  reference = metrics.psnr(ours / 255.0, pixels01)
  assert by_family["SIREN float32"]["psnr"] == reference
  assert reference > 25  # a real fit, not noise that any codec would match
  assert abs(by_family["SIREN float16"]["psnr"] - reference) < 0.1
  assert by_family["SIREN float16"]["bytes"] < 0.51 * by_family["SIREN float32"]["bytes"]
  assert by_family["SIREN 8-bit"]["psnr"] > reference - 1.0


def test_a_siren_with_positional_encoding_compresses_and_decodes(tmp_path):
  pixels01 = smooth_image(32, 24)
  path = tmp_path / "smooth.png"
  Image.fromarray((pixels01 * 255).round().astype(np.uint8)).save(path)
  pixels01 = np.asarray(Image.open(path), np.float32) / 255.0
  config = experiment.run_config(str(path), 16, 2, 120, 0, 3e-3, 30.0, 32 * 24, pe_frequencies=3)
  run_dir = str(tmp_path / "16x2-pe3")
  train.train_and_evaluate(config, run_dir)
  rows = experiment.compress_run(run_dir, pixels01, [quantize.Codec("float32"), quantize.Codec("uniform")])
  by_family = {r["family"]: r for r in rows}
  run = trained_runs.load_run(run_dir)
  assert run.model.pe_frequencies == 3
  assert run.params["params"]["layer_0"]["dense"]["kernel"].shape == (2 + 4 * 3, 16)
  with open(os.path.join(run_dir, "compressed", "float32.bin"), "rb") as f:
    blob = f.read()
  assert len(blob) == quantize.HEADER.size + 1 + 4 * models.num_params(run.params)
  _, header, decoded = quantize.decode(blob, run.params)
  assert header.pe_frequencies == 3 and by_family["SIREN float32"]["setting"] == "16x2 PE3"
  # the decoded weights, rebuilt from the header alone, render what was scored
  model = models.Siren(width=header.width, depth=header.depth, out_features=3,
                       pe_frequencies=header.pe_frequencies)
  coords = np.stack(np.meshgrid(np.linspace(-1, 1, 32), np.linspace(-1, 1, 24), indexing="ij"), -1)
  ours = np.asarray(model.apply(decoded, coords.reshape(-1, 2).astype(np.float32)))
  theirs = np.asarray(run.model.apply(run.params, coords.reshape(-1, 2).astype(np.float32)))
  np.testing.assert_array_equal(ours, theirs)
  assert by_family["SIREN float32"]["psnr"] > 25


def test_command_line_bad_input_is_one_line(tmp_path):
  proc = forkserver.run([sys.executable, "-m", "experiments.compression", f"--workdir={tmp_path}", "--sizes=40x5,big"],
                        capture_output=True, text=True, timeout=120, cwd=ROOT)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == ["error: --sizes: 'big' is not WIDTHxDEPTH (e.g. 40x5)"]
  assert not os.listdir(tmp_path)
