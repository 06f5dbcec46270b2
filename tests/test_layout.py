"""The package's layout rules, read from the source (nothing is imported or run):

* no import cycles between siren_jax's modules, function-local imports included;
* no reach into another module's private names (``module._name``, ``from module import _name``);
* no comparison against a signal's name outside the signals' own packages (the engine, the commands
  and the nets ask the registry instead);
* modules of at most 400 lines and functions of at most 60.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "siren_jax")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
SIGNAL_NAMES = ("image", "audio", "video", "sdf", "helmholtz", "wave", "helmholtz_inverse")


def _modules() -> dict:
  """dotted name -> (path, parsed tree) of every module of the package."""
  out = {}
  for root, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
        dotted = rel[:-len(".__init__")] if rel.endswith(".__init__") else rel
        with open(path, encoding="utf-8") as f:
          out[dotted] = (path, ast.parse(f.read(), path))
  return out


MODULES = _modules()


def _imported(module: str, tree) -> dict:
  """Every siren_jax module ``module`` imports (anywhere in it) -> the local names it binds."""
  out = {}
  package = module if os.path.basename(MODULES[module][0]) == "__init__.py" else module.rpartition(".")[0]
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for a in node.names:
        if a.name in MODULES:
          out.setdefault(a.name, set()).add(a.asname or a.name)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
      for a in node.names:
        target = f"{base}.{a.name}"
        if target in MODULES:  # "from package import module"
          out.setdefault(target, set()).add(a.asname or a.name)
        elif base in MODULES:  # "from module import name"
          out.setdefault(base, set())
  return out


GRAPH = {m: _imported(m, tree) for m, (_, tree) in MODULES.items()}


def _cycle_from(start: str):
  """A cycle through ``start`` as a list of modules, or None (a parent package's __init__ does not
  count as importing its submodules, since it imports none of them here)."""
  stack, seen = [(start, [start])], set()
  while stack:
    node, path = stack.pop()
    for nxt in GRAPH[node]:
      if nxt == start:
        return path + [start]
      if nxt not in seen:
        seen.add(nxt)
        stack.append((nxt, path + [nxt]))
  return None


def test_no_import_cycles():
  cycles = {tuple(sorted(set(c))) for c in (_cycle_from(m) for m in MODULES) if c}
  assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in sorted(cycles))


def test_no_reach_into_another_module_s_private_names():
  reaches = []
  for module, (path, tree) in MODULES.items():
    aliases = {alias: target for target, names in GRAPH[module].items() for alias in names}
    for node in ast.walk(tree):
      if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
          and node.value.id in aliases and node.attr.startswith("_") and not node.attr.startswith("__")):
        reaches.append(f"{path}:{node.lineno} {node.value.id}.{node.attr}")
      if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("siren_jax"):
        reaches += [f"{path}:{node.lineno} from {node.module} import {a.name}" for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")]
  assert not reaches, "\n".join(reaches)


def _compared_strings(tree):
  for node in ast.walk(tree):
    if isinstance(node, ast.Compare):
      for operand in [node.left, *node.comparators]:
        items = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
        for item in items:
          if isinstance(item, ast.Constant) and isinstance(item.value, str):
            yield node.lineno, item.value


def test_no_signal_name_compared_outside_the_signals():
  outside = [(m, path, tree) for m, (path, tree) in MODULES.items()
             if not m.startswith("siren_jax.signals.")]
  found = [f"{path}:{line} compares with {value!r}" for _, path, tree in outside
           for line, value in _compared_strings(tree) if value in SIGNAL_NAMES]
  assert not found, "\n".join(found)


def test_the_names_checked_are_the_built_in_signals():
  from siren_jax.engine import registry  # pylint: disable=g-import-not-at-top
  assert set(registry.BUILTIN) == set(SIGNAL_NAMES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_and_function_sizes(module):
  path, tree = MODULES[module]
  with open(path, encoding="utf-8") as f:
    lines = f.read().count("\n")
  assert lines <= MAX_MODULE_LINES, f"{path}: {lines} lines"
  long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(tree)
          if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
          and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
  assert not long, f"{path}: " + ", ".join(long)


def test_the_checks_see_what_they_check():
  """The checks would fail on what they forbid: a cycle, a private reach and a signal-name
  comparison in a module made up here."""
  tree = ast.parse("from siren_jax.io import page as p\nx = p._private\nif task == 'audio': pass\n")
  assert list(_compared_strings(tree)) == [(3, "audio")]
  assert any(isinstance(n, ast.Attribute) and n.attr == "_private" for n in ast.walk(tree))
  saved = dict(GRAPH)
  try:
    GRAPH["siren_jax.io.page"] = {**GRAPH["siren_jax.io.page"], "siren_jax.report": {"report"}}
    assert _cycle_from("siren_jax.io.page") is not None
  finally:
    GRAPH.clear()
    GRAPH.update(saved)


def test_defaults_beside_the_checkout_are_found_from_any_module_depth():
  """The default data directories are ../shared/data beside the checkout, wherever the module that
  names them sits in the package (a module moved one folder deeper once pointed inside siren_jax/)."""
  from siren_jax import configuration, paths  # pylint: disable=g-import-not-at-top
  from siren_jax.signals.audio import clips  # pylint: disable=g-import-not-at-top
  from siren_jax.signals.image import data  # pylint: disable=g-import-not-at-top
  shared = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
  assert os.path.normpath(paths.CHECKOUT) == ROOT
  assert os.path.normpath(data.DEFAULT_KODAK_DIRS[0]) == os.path.join(shared, "kodak")
  assert os.path.normpath(clips.DEFAULT_AUDIO_DIR) == os.path.join(shared, "audio")
  assert configuration.repo_config("default").task == "image"
