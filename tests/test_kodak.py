"""Getting the Kodak images: scripts/download_kodak.sh's command line (checked before it touches the
filesystem) and its verification, and the error for a missing Kodak image, which names every place
looked in and $SIREN_JAX_KODAK_DIR."""

import os
import shutil
import subprocess

import pytest

from siren_jax.errors import UserError
from siren_jax.signals.image import data
from conftest import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "download_kodak.sh")


def _script(tmp_path, *args):
  """Runs the script from an empty directory with an empty HOME and no $SIREN_JAX_KODAK_DIR; returns
  the process and the files anywhere under tmp_path afterwards."""
  home, cwd = tmp_path / "home", tmp_path / "cwd"
  home.mkdir(exist_ok=True)
  cwd.mkdir(exist_ok=True)
  env = {k: v for k, v in os.environ.items() if k != "SIREN_JAX_KODAK_DIR"}
  proc = subprocess.run(["bash", SCRIPT, *args], cwd=cwd, env=dict(env, HOME=str(home)),
                        capture_output=True, text=True, timeout=120)
  made = sorted(os.path.relpath(os.path.join(d, f), tmp_path)
                for d, dirs, files in os.walk(tmp_path) for f in files + dirs)
  return proc, made


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_touches_nothing(tmp_path, flag):
  proc, made = _script(tmp_path, flag)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.startswith("Usage: scripts/download_kodak.sh [--from DIR] [DEST]")
  assert "SIREN_JAX_KODAK_DIR" in proc.stdout and proc.stderr == ""
  assert made == ["cwd", "home"]


@pytest.mark.parametrize("args,message", [
    (["--bogus"], "unknown option --bogus"),
    (["--from"], "--from needs a directory"),
    (["--from", "/nonexistent/kodak"], "--from /nonexistent/kodak is not a directory"),
    (["a", "b"], "more than one DEST (a, b)"),
])
def test_bad_arguments_are_one_error_line_and_touch_nothing(tmp_path, args, message):
  proc, made = _script(tmp_path, *args)
  assert proc.returncode == 2
  assert proc.stderr.splitlines() == [f"error: {message} (see scripts/download_kodak.sh --help)"]
  assert made == ["cwd", "home"]


def test_copies_that_fail_verification_are_deleted(tmp_path):
  source = tmp_path / "source"
  source.mkdir()
  for i in range(1, 24):  # kodim24 missing, the rest not Kodak
    (source / f"kodim{i:02d}.png").write_bytes(b"not a Kodak image")
  proc, _ = _script(tmp_path, "--from", "../source", "dest")  # relative to the working directory
  assert proc.returncode == 1
  errors = proc.stderr.splitlines()
  assert sum("does not match its SHA256 sum; deleted" in e for e in errors) == 23
  assert any("kodim24.png: cannot copy" in e for e in errors)
  assert sorted(os.listdir(tmp_path / "cwd" / "dest")) == ["SHA256SUMS"]


@pytest.mark.skipif(data.resolve_kodak_dir() is None or shutil.which("sha256sum") is None,
                    reason="no Kodak directory to copy from (run scripts/download_kodak.sh)")
def test_copies_a_verified_set(tmp_path):
  proc, _ = _script(tmp_path, "--from", data.resolve_kodak_dir(), str(tmp_path / "dest"))
  assert proc.returncode == 0, proc.stderr
  assert len([f for f in os.listdir(tmp_path / "dest") if f.endswith(".png")]) == 24
  assert data.load_image("kodim07", kodak_dir=str(tmp_path / "dest")).shape[-1] == 3


def test_missing_kodak_error_names_the_places_and_the_variable(tmp_path, monkeypatch):
  empty = tmp_path / "empty"
  empty.mkdir()
  monkeypatch.setattr(data, "DEFAULT_KODAK_DIRS", (str(tmp_path / "nope1"), str(tmp_path / "nope2")))
  monkeypatch.delenv("SIREN_JAX_KODAK_DIR", raising=False)
  with pytest.raises(UserError) as e:
    data.load_image("kodim05")
  assert str(tmp_path / "nope1") in str(e.value) and str(tmp_path / "nope2") in str(e.value)
  assert "$SIREN_JAX_KODAK_DIR is not set" in str(e.value) and "download_kodak.sh" in str(e.value)
  monkeypatch.setenv("SIREN_JAX_KODAK_DIR", str(empty))
  with pytest.raises(UserError) as e:
    data.load_image("kodim05")
  assert f"no kodim05.png in {empty} (looked in $SIREN_JAX_KODAK_DIR={empty})" in str(e.value)
  with pytest.raises(UserError, match="looked in data.kodak_dir="):
    data.load_image("kodim05", kodak_dir=str(tmp_path / "nope1"))
