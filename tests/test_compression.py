"""Compression (issue 5): the weight codecs round-trip within their error bounds and their sizes are the
real byte strings, JPEG/WebP rates grow with quality, and the experiment's per-run step writes a
compression.json the report can read, with float16 scoring like float32."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from siren_jax import figures, metrics, models, outputs, quantize, render, report, train
from siren_jax.errors import UserError
import floatbounds
from conftest import ROOT, smooth_image, tiny_config

from experiments import compression as experiment
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


def test_rate_distortion_helpers():
  assert tables.psnr_at(tables.COIN_POINTS, 0.307) == pytest.approx(26.41)
  assert 24.64 < tables.psnr_at(tables.COIN_POINTS, 0.2) < 26.41
  assert np.isnan(tables.psnr_at(tables.COIN_POINTS, 0.7))
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
  """COIN's published numbers are Kodak means: a cameraman (or any non-Kodak) table has no 'vs COIN'."""
  assert tables.kodak_images(["kodim01", "kodim23"])
  assert not tables.kodak_images(["camera"]) and not tables.kodak_images(["kodim01", "camera"])
  for kodak in (False, True):
    means = tables.add_comparisons(_rd_means(), kodak)
    siren = next(r for r in means if r["family"] == "SIREN 8-bit" and r["setting"] == "8x2")
    assert ("vs_coin_db" in siren) == kodak
    if kodak:  # COIN at 0.2 bpp, interpolated in log bpp between its first two points
      assert siren["vs_coin_db"] == pytest.approx(25.0 - tables.psnr_at(tables.COIN_POINTS, 0.2))
    table = tables.markdown(means, [], [], "header", kodak)
    header = next(line for line in table.splitlines() if line.startswith("| method"))
    assert ("vs COIN" in header) == kodak and "vs JPEG" in header
    assert all(line.count("|") == header.count("|") for line in table.splitlines()
               if line.startswith("| SIREN"))
    assert ("not Kodak images" in table) != kodak


def test_rd_plot_labels_references_and_says_what_it_leaves_off(tmp_path):
  for kodak in (False, True):
    fig = tables.rd_figure(tables.add_comparisons(_rd_means(), kodak), "title", kodak)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    note = " ".join(t.get_text() for t in fig.texts)
    assert (tables.COIN_LABEL in labels) == kodak and "Kodak mean" in tables.COIN_LABEL
    assert ("COIN" in note) != kodak  # said to be left off when it is
    # JPEG q=90 (3 bpp) lies beyond the x range (1.15 x the largest SIREN or COIN bpp): named, not
    # silently dropped; float32 is not drawn either, and says so.
    xmax = fig.axes[0].get_xlim()[1]
    assert xmax == pytest.approx(1.15 * (0.611 if kodak else 0.5))
    assert "JPEG q=90 (up to 3.00 bpp, beyond the x range" in note and "SIREN float32" in note
    assert "q=50" not in note
    figures.save_figure(fig, str(tmp_path / f"rd_kodak{kodak}.png"))


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
  columns, table = report.compression_rows(saved)
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
  run = render.load_run(run_dir)
  assert (jax.tree_util.tree_structure(run.params)
          == jax.tree_util.tree_structure(siren_params(16)))  # the trees the codec tests use
  with open(path, "rb") as f:
    _, header, _ = quantize.decode(f.read(), run.params)
  assert header == quantize.Header(width=16, depth=2, channels=3, height_px=32, width_px=24)
  # the float32 row scores the render of siren_jax.render, and float16 costs almost nothing
  ours = render.render_array(run, 32, 24).reshape(32, 24, -1)
  reference = metrics.psnr(ours / 255.0, pixels01)
  assert by_family["SIREN float32"]["psnr"] == reference
  assert reference > 25  # a real fit, not noise that any codec would match
  assert abs(by_family["SIREN float16"]["psnr"] - reference) < 0.1
  assert by_family["SIREN float16"]["bytes"] < 0.51 * by_family["SIREN float32"]["bytes"]
  assert by_family["SIREN 8-bit"]["psnr"] > reference - 1.0


def test_command_line_bad_input_is_one_line(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "experiments.compression", f"--workdir={tmp_path}", "--sizes=40x5,big"],
                        capture_output=True, text=True, timeout=120, cwd=ROOT)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == ["error: --sizes: 'big' is not WIDTHxDEPTH (e.g. 40x5)"]
  assert not os.listdir(tmp_path)
