"""What a new user copies first: the README's opening commands, and the package's dependencies."""

import os
import re
import sys

import pytest

from conftest import ROOT

tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")


def _requirements(name):
  lines = open(os.path.join(ROOT, name)).read().splitlines()
  return [l.split("#")[0].strip() for l in lines if l.split("#")[0].strip() and not l.startswith("-r")]


def _first_block():
  text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
  block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
  return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_pyproject_installs_what_requirements_list_with_lower_bounds():
  """`pip install .` (the README's way to run from anywhere) gets every requirement (trimesh too),
  and both give lower bounds, never pins."""
  project = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))["project"]
  assert sorted(project["dependencies"]) == sorted(_requirements("requirements.txt"))
  assert sorted(project["optional-dependencies"]["test"]) == sorted(_requirements("requirements-test.txt"))
  for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
    assert re.fullmatch(r"[A-Za-z0-9_.-]+>=[0-9.]+", spec), spec


def test_readme_opens_with_a_venv_then_the_two_commands_ci_runs():
  lines = _first_block()
  assert len(lines) == 3
  assert lines[0].startswith("python3 -m venv .venv && . .venv/bin/activate")
  assert lines[1].startswith("pip install -r requirements.txt && python -m siren_jax.main --config=")
  assert lines[2] == "pip install -r requirements-test.txt && python -m pytest -q"
  ci = open(os.path.join(ROOT, ".ci", "run")).read()
  assert "pip install -q -r requirements-test.txt && python -m pytest -q" in ci
  assert "pinned" not in open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def test_the_venv_is_not_committed():
  assert ".venv/" in open(os.path.join(ROOT, ".gitignore")).read().split()
