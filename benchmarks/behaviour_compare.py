"""Compare mode of benchmarks/behaviour.py (``--compare A.json B.json``): two behaviour snapshots
compared run by run (parameter digests, |ΔPSNR| over every logged row and summary, relative loss
differences, compression table sizes), ending in IDENTICAL or DIFFERENT."""

import json
import math


def _float(s) -> float:
  return float(s) if s is not None else math.nan


def psnr_diff(a, b) -> float:
  """|a - b| in dB of two exact reprs; 0 when the strings are equal (nan == nan), inf when one is
  missing or only one is NaN."""
  if a == b:
    return 0.0
  d = abs(_float(a) - _float(b))
  return math.inf if math.isnan(d) else d


def rel_diff(a, b) -> float:
  if a == b:
    return 0.0
  x, y = _float(a), _float(b)
  d = abs(x - y) / max(abs(x), abs(y), 1e-300)
  return math.inf if math.isnan(d) else d


def compare_training(a: dict, b: dict) -> tuple:
  """(text, max |ΔPSNR|, identical) for two training records."""
  rows_a = {r["step"]: r for r in a["metrics"]}
  rows_b = {r["step"]: r for r in b["metrics"]}
  problems = []
  if sorted(rows_a) != sorted(rows_b):
    problems.append(f"logged steps differ ({sorted(rows_a)} vs {sorted(rows_b)})")
  dpsnr, dloss, exact_rows = 0.0, 0.0, True
  for step in sorted(set(rows_a) & set(rows_b)):
    ra, rb = rows_a[step], rows_b[step]
    dpsnr = max(dpsnr, psnr_diff(ra["psnr"], rb["psnr"]))
    if ("loss" in ra) != ("loss" in rb):
      problems.append(f"step {step}: loss logged on one side only")
    elif "loss" in ra:
      dloss = max(dloss, rel_diff(ra["loss"], rb["loss"]))
    exact_rows = exact_rows and ra == rb
  sa, sb = a["summary"], b["summary"]
  dpsnr = max(dpsnr, psnr_diff(sa["psnr"], sb["psnr"]))
  if sa["steps"] != sb["steps"] or a["checkpoint_step"] != b["checkpoint_step"]:
    problems.append(f"steps {sa['steps']}/{a['checkpoint_step']} vs {sb['steps']}/{b['checkpoint_step']}"
                    " (summary/checkpoint)")
  same_params = a["params_sha256"] == b["params_sha256"]
  same_state = a["state_sha256"] == b["state_sha256"]
  identical = same_params and exact_rows and sa == sb and not problems
  text = (f"params {'identical' if same_params else 'DIFFER'}"
          f" (full state incl. optimiser {'identical' if same_state else 'differs'}); "
          f"{len(rows_b)} rows + summary: max |ΔPSNR| {dpsnr:.3g} dB, max relative Δloss {dloss:.3g}")
  return "; ".join([text, *problems]), dpsnr, identical


def compare_table(a: dict, b: dict) -> tuple:
  """(text, max |ΔPSNR|, identical) for two compression tables."""
  rows_a = {(r["image"], r["method"]): r for r in a["table"]}
  rows_b = {(r["image"], r["method"]): r for r in b["table"]}
  problems = []
  only = set(rows_a) ^ set(rows_b)
  if only:
    problems.append(f"rows on one side only: {sorted(' '.join(k) for k in only)}")
  dpsnr, size_diffs, dbytes = 0.0, 0, 0
  for key in sorted(set(rows_a) & set(rows_b)):
    ra, rb = rows_a[key], rows_b[key]
    dpsnr = max(dpsnr, psnr_diff(ra["psnr"], rb["psnr"]))
    if ra["bytes"] != rb["bytes"] or ra["bpp"] != rb["bpp"]:
      size_diffs += 1
      dbytes = max(dbytes, abs(ra["bytes"] - rb["bytes"]))
    if ra["family"] != rb["family"]:
      problems.append(f"{' '.join(key)}: family {ra['family']!r} vs {rb['family']!r}")
  identical = not problems and all(rows_a[k] == rows_b[k] for k in rows_a if k in rows_b)
  sizes = "sizes identical" if not size_diffs else f"{size_diffs} rows differ in size (max {dbytes} bytes)"
  text = f"{len(rows_b)} table rows: {sizes}, max |ΔPSNR| {dpsnr:.3g} dB"
  return "; ".join([text, *problems]), dpsnr, identical


def compare(a: dict, b: dict) -> tuple:
  """(lines, identical, max |ΔPSNR| in dB) comparing snapshot ``a`` with ``b``."""
  lines = []
  for side, s in (("A", a), ("B", b)):
    m = s.get("machine", {})
    lines.append(f"{side}: {s.get('git', {}).get('commit', '?')[:12]}"
                 f"{' (dirty)' if s.get('git', {}).get('dirty') else ''}, {s.get('date', '?')}, "
                 f"{m.get('cpu', '?')} x{m.get('cores', '?')}, jax {s.get('jax', '?')}")
  for key, what in (("machine", "machine or package versions"), ("env", "environment"),
                    ("commands", "commands")):
    if a.get(key) != b.get(key):
      lines.append(f"warning: A and B differ in {what}")
  identical, worst = True, 0.0
  for name in sorted(set(a["runs"]) | set(b["runs"])):
    ra, rb = a["runs"].get(name), b["runs"].get(name)
    if ra is None or rb is None:
      lines.append(f"{name}: only in {'B' if ra is None else 'A'}")
      identical = False
      continue
    text, dpsnr, same = (compare_table if "table" in ra else compare_training)(ra, rb)
    lines.append(f"{name}: {text}")
    identical, worst = identical and same, max(worst, dpsnr)
  lines.append("IDENTICAL" if identical else f"DIFFERENT (max |ΔPSNR| = {worst:.3g} dB)")
  return lines, identical, worst


def compare_mode(paths) -> int:
  if len(paths) != 2:
    raise SystemExit("behaviour.py: --compare needs two snapshot files: --compare A.json B.json")
  snapshots = []
  for path in paths:
    with open(path) as f:
      snapshots.append(json.load(f))
  lines, identical, _ = compare(*snapshots)
  print("\n".join(lines))
  return 0 if identical else 1
