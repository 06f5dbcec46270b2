"""The probe's bad inputs: the BAD table of bad invocations of main, sweep, render and report, the
tampering applied to an existing run first, and the runner that checks each is refused cleanly and
changes nothing. Part of benchmarks/probe.py."""

import dataclasses
import json
import os
import shutil
from typing import Callable, Dict, Tuple, Union

from benchmarks.probe_files import describe_diff, snapshot, write_bytes
from benchmarks.probe_runner import RENDER_OUT, Env, command, copy_ref, fill, launch, one_line_problems


@dataclasses.dataclass(frozen=True)
class Bad:
  """One bad invocation. ``args`` are templates: {W} the workdir of the target, {OUT} a PNG path in an
  empty directory, {HOME} the case's directory (holding fresh/somefile and out/{somefile,dir.png}),
  and the files of ``write_inputs`` ({IMG}, {TRUNC}, ...)."""
  prog: str  # main | sweep | render | report
  name: str
  args: Tuple[str, ...] = ()
  expect: Union[str, Dict[str, str]] = ""  # words of the error line; per target if a dict
  targets: Tuple[str, ...] = ("fresh", "existing")
  tamper: str = ""  # a TAMPER function applied to the existing copy first
  drop: Tuple[str, ...] = ()  # base flags left out
  base: bool = True  # start from the tiny base flags
  note: str = ""  # why the case's expectation or targets differ from the usual ones
  task: str = "image"  # whose tiny base flags and reference run (probe_runner.TASK_BASES)


def _o(overrides: str, expect: str, name: str = "", **kw) -> Bad:
  """A siren_jax.main case that sets config fields ("a.b=v c.d=w")."""
  return Bad("main", name or overrides, tuple(f"--config.{o}" for o in overrides.split()), expect, **kw)


def _t(task: str, overrides: str, expect: str, name: str = "", **kw) -> Bad:
  """``_o`` for another task's run: its name says the task, its base flags and reference are the
  task's."""
  return _o(overrides, expect, f"{task}: {name or overrides}", task=task, **kw)


def _r(task: str, args: str, expect: str, name: str = "") -> Bad:
  """A render of a finished run of ``task`` (the existing target only: a missing workdir is an image
  to the render command, which reads the task from the run's config.json)."""
  return Bad("render", f"{task}: {name or args}", tuple(args.split()), expect, targets=("existing",),
             task=task, note=RUN_TASK)


def _edit_config(run: str, edit: Callable[[dict], None]) -> None:
  path = os.path.join(run, "config.json")
  with open(path) as f:
    config = json.load(f)
  edit(config)
  write_bytes(path, json.dumps(config).encode())


TAMPER = {
    "config_width": lambda run: _edit_config(run, lambda c: c["model"].update(width=64)),
    "config_invalid": lambda run: write_bytes(os.path.join(run, "config.json"), b'{"model": {"width": 3'),
    "config_list": lambda run: write_bytes(os.path.join(run, "config.json"), b"[1, 2]\n"),
    "config_missing": lambda run: os.remove(os.path.join(run, "config.json")),
    "no_checkpoints": lambda run: shutil.rmtree(os.path.join(run, "checkpoints")),
}

NO_WORKDIR = "no workdir is given, so there is only the fresh target (nothing may appear beside it)"
FRESH_ONLY = "the workdir is the bad input itself, so there is no existing-run variant"
EXISTING_ONLY = "valid on a fresh workdir: only an existing run makes it bad"
SCALE = {"fresh": "workdir not found", "existing": "--scale must be a positive number"}
SCALE_NOTE = "the scale is checked against the run's size, so a missing workdir is reported first"
RUN_TASK = "the render's task is the run's: only an existing run of that task makes the case"

BAD = [
    # siren_jax.main: the command line and the config file
    Bad("main", "unknown flag", ("--bogus=1",), "bogus"),
    Bad("main", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("main", "missing --workdir", (), "--workdir is required", targets=("fresh",), drop=("--workdir",),
        note=NO_WORKDIR),
    Bad("main", "missing --config", ("--workdir={W}",), "--config is required", base=False),
    Bad("main", "config file missing", ("--config=configs/nope.py",), "config file not found"),
    Bad("main", "config file with a syntax error", ("--config={CFG_SYNTAX}",), "is not valid Python"),
    Bad("main", "config file that is not Python", ("--config={CFG_BINARY}",), "config file"),
    Bad("main", "config file without get_config", ("--config={CFG_NOGET}",), "defines no get_config()"),
    Bad("main", "config whose get_config returns 3", ("--config={CFG_RETURNS3}",), "ConfigDict"),
    Bad("main", "config importing a missing module", ("--config={CFG_IMPORT}",), "ModuleNotFoundError"),
    Bad("main", "config file that is a directory", ("--config={DIRIMG}",), "is not a file"),
    _o("model.colour=3", "unknown config field 'colour'", "unknown config key"),
    _o("model.omega=60", "did you mean 'omega_0'?", "misspelled config key"),
    _o("model.width=wide", "--config.model.width=wide", "wrong type"),
    # siren_jax.main: images
    _o("data.image=/nonexistent/x.png", "not found", "missing image file"),
    _o("data.image={NOTIMAGE}", "not an image", "not an image"),
    _o("data.image={EMPTY}", "not an image", "empty image file"),
    _o("data.image={TRUNC}", "truncated or corrupt", "truncated PNG"),
    _o("data.image={ONE}", "at least 2x2", "1x1 image"),
    _o("data.max_pixels=100", "max_pixels", "image over data.max_pixels"),
    _o("data.image={DIRIMG}", "is a directory", "image that is a directory"),
    _o("data.image={FIFO}", "not a regular file", "image that is a FIFO"),
    _o("data.image={LOOP}", "symbolic link loop", "image in a symlink loop"),
    _o("data.image={NAN_TIF}", "non-finite", "float TIFF with NaN"),
    _o("data.image={I32_TIF}", "32-bit integer image", "signed int32 TIFF"),
    _o("data.image=nosuchbuiltin", "unknown image 'nosuchbuiltin'", "unknown built-in image"),
    # siren_jax.main: config values
    _o("model.omega_0=0", "omega_0 must be > 0"),
    _o("model.omega_0=1e30", "float32 sine arguments"),
    _o("model.width=0", "model.width must be >= 1"),
    _o("model.depth=0", "model.depth must be >= 1"),
    _o("model.width=100000", "needs about"),
    _o("model.kind=garbage", "model.kind must be one of"),
    _o("model.rff_features=-1", "model.rff_features must be >= 1"),
    _o("model.rff_scale=nan", "model.rff_scale must be a finite number"),
    _o("model.pe_frequencies=-3", "model.pe_frequencies must be >= 0"),
    _o("train.num_steps=-5", "num_steps must be >= 0"),
    _o("train.learning_rate=0", "learning_rate must be > 0"),
    _o("train.learning_rate=nan", "learning_rate must be > 0"),
    _o("train.schedule=garbage", "train.schedule must be one of"),
    _o("train.batch_size=-1", "train.batch_size must be >= 0"),
    _o("train.log_every=0", "train.log_every must be >= 1"),
    _o("train.supervision=edges", "unknown term 'edges'"),
    _o("train.supervision=values:inf", "must be a finite number"),
    _o("train.gradient_method=garbage", "train.gradient_method must be one of"),
    _o("train.laplacian_method=garbage", "train.laplacian_method must be one of"),
    _o("model.kind=relu train.supervision=gradient train.gradient_method=propagate",
       "needs model.kind=siren", "propagate without a SIREN"),
    _o("data.blend_source=camera", "needs train.supervision=gradient", "blend without gradient supervision"),
    _o("data.blend_mode=garbage", "data.blend_mode must be"),
    _o("data.resize=stretch", "data.resize must be one of"),
    _o("seed=99999999999999999999", "seed must be an integer in [0, 2^32)"),
    _o("eval.crop_border=100", "leaves nothing"),
    # siren_jax.main: sets of images (data.image naming several)
    _o("data.image={IMG},{IMG}", "names", "set naming one image twice"),
    _o("data.image={IMG},/nonexistent/x.png", "not found", "set with a missing member"),
    _o("data.image={IMG},{TRUNC}", "truncated or corrupt", "set with a truncated member"),
    _o("data.image={IMG},{FIFO}", "not a regular file", "set with a FIFO member"),
    _o("data.image={IMG},", "has an empty entry", "set with an empty entry"),
    _o("data.image=/nonexistent/*.png", "matches no file", "glob matching nothing"),
    _o("data.image=kodak data.kodak_dir=/nonexistent", "kodak", "Kodak set without its images"),
    # siren_jax.main: audio (a 2000-sample WAV)
    _t("audio", "data.audio={WAV_NODATA}", "no data chunk", "WAV with no data chunk"),
    _t("audio", "data.audio={WAV_ZEROCH}", "0 channel", "WAV whose fmt chunk says 0 channels"),
    _t("audio", "data.audio={WAV_SHORT}", "truncated", "WAV declaring 16000 data bytes, holding 100"),
    _t("audio", "data.audio={WAV_HOURS}", "truncated", "WAV declaring ten hours"),
    _t("audio", "data.audio={WAV_CUT}", "truncated", "WAV cut in the middle of its data"),
    _t("audio", "data.audio={WAV_SILENT}", "silent", "silent WAV"),
    _t("audio", "data.audio={WAV_NOTWAV}", "cannot read", "not a WAV"),
    _t("audio", "data.audio={EMPTY}", "empty", "empty file"),
    _t("audio", "data.audio={WAV_FIFO}", "not a regular file", "WAV that is a FIFO"),
    _t("audio", "data.audio={WAV_DIR}", "not a regular file", "WAV that is a directory"),
    _t("audio", "data.audio=/nonexistent/x.wav", "not found", "missing WAV"),
    _t("audio", "data.max_samples=100", "over data.max_samples", "clip over data.max_samples"),
    _t("audio", "data.start=5.0", "past the end", "start past the end"),
    _t("audio", "data.seconds=-1.0", "data.seconds must be >= 0"),
    _t("audio", "data.coord_range=0.0", "data.coord_range must be in"),
    _t("audio", "data.max_samples=1", "data.max_samples must be >= 2"),
    _t("audio", "train.supervision=gradient", "values only"),
    # siren_jax.main: video (four 16x16 frames)
    _t("video", "data.video={VID_FIFO}", "not a regular file", "video that is a FIFO"),
    _t("video", "data.video={GIF_CUT}", "truncated or corrupt", "truncated animated GIF"),
    _t("video", "data.video={APNG_CUT}", "truncated or corrupt", "truncated APNG"),
    _t("video", "data.video={BOMBDIR}", "refused by Pillow as too large",
       "frame over Pillow's decompression-bomb limit"),
    _t("video", "data.video={BIGDIR}", "over data.max_pixels", "frame over data.max_pixels"),
    _t("video", "data.video={DAMAGEDDIR}", "cannot decode frame", "frame directory with a damaged frame"),
    _t("video", "data.video={MIXEDDIR}", "all frames must have one size", "frames of two sizes"),
    _t("video", "data.video={NOFRAMESDIR}", "holds no image files", "directory without frames"),
    _t("video", "data.video={MP4_GARBAGE}", "cannot", "garbage .mp4"),
    _t("video", "data.video=/nonexistent/x.mp4", "not found", "missing video"),
    _t("video", "data.video={ONE}", "at least 2", "a single frame"),
    _t("video", "data.frame_step=0", "data.frame_step must be >= 1"),
    _t("video", "data.fps=1e-9", "data.fps must be 0"),
    _t("video", "data.max_pixels=100", "over data.max_pixels", "frames over data.max_pixels"),
    _t("video", "train.supervision=gradient", "values only"),
    _t("video", "model.kind=relu model.time_omega_0=30.0", "SIREN setting", "time_omega_0 without a SIREN"),
    # siren_jax.main: SDF (an analytic sphere)
    _t("sdf", "data.shape={XYZ_DIR}", "is a directory", "directory named *.xyz"),
    _t("sdf", "data.shape={XYZ_FIFO}", "not a regular file", "FIFO named *.xyz"),
    _t("sdf", "data.shape={STL_HALF}", "truncated or unreadable binary STL", "binary STL cut in half"),
    _t("sdf", "data.shape={XYZ_NAN}", "not all finite", "point cloud with NaN"),
    _t("sdf", "data.shape={XYZ_COLS}", "expected 6 columns", "point cloud of 3 columns"),
    _t("sdf", "data.shape={XYZ_EMPTY}", "empty", "empty point cloud"),
    _t("sdf", "data.shape={XYZ_ZERO}", "zero length", "zero-length normal"),
    _t("sdf", "data.shape={OBJ_NOFACES}", "no faces", "mesh without faces"),
    _t("sdf", "data.shape=/nonexistent/x.xyz", "not found", "missing shape file"),
    _t("sdf", "data.shape=cube", "one of", "unknown shape"),
    _t("sdf", "sdf.slice_size=0", "sdf.slice_size must be in"),
    _t("sdf", "sdf.slice_size=-3", "sdf.slice_size must be in"),
    _t("sdf", "sdf.mesh_resolution=1", "sdf.mesh_resolution must be in"),
    _t("sdf", "sdf.render_size=4", "sdf.render_size must be in"),
    _t("sdf", "sdf.trace_steps=0", "sdf.trace_steps must be in"),
    _t("sdf", "sdf.fscore_tau=inf", "sdf.fscore_tau must be"),
    _t("sdf", "sdf.metric_points=0", "sdf.metric_points must be in"),
    _t("sdf", "sdf.alpha=0.0", "sdf.alpha must be > 0"),
    _t("sdf", "sdf.weights=sdf:1", "must give every term"),
    _t("sdf", "data.extent=2.0", "data.extent must be in"),
    # siren_jax.main: workdirs
    Bad("main", "workdir that is a file", ("--workdir={HOME}/fresh/somefile",), "it is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("main", "workdir under a file", ("--workdir={HOME}/fresh/somefile/run",), "is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    _o("model.omega_0=60", "different config", "resume with a different config", targets=("existing",),
       note=EXISTING_ONLY),
    _o("model.width=64", "does not fit the model", "config.json edited to another width",
       targets=("existing",), tamper="config_width",
       note="config.json and the command agree on width 64; the checkpoints hold width 32"),
    Bad("main", "config.json that is not JSON", (), "config.json", targets=("existing",),
        tamper="config_invalid", note="a tampered run directory"),
    Bad("main", "config.json holding a list", (), "holds a JSON list", targets=("existing",),
        tamper="config_list", note="a tampered run directory"),
    Bad("main", "config.json missing beside checkpoints", (), "no config.json", targets=("existing",),
        tamper="config_missing", note="a tampered run directory"),
    # siren_jax.sweep (the existing target is a finished sweep)
    Bad("sweep", "spec without '='", ("--sweep=model.omega_0",), "expected FIELD=V1,V2"),
    Bad("sweep", "repeated values", ("--sweep=seed=0,0",), "repeated values"),
    Bad("sweep", "unknown field", ("--sweep=model.colour=1,2",), "no such config field"),
    Bad("sweep", "value of the wrong type", ("--sweep=model.depth=two,3",), "is not a valid int"),
    Bad("sweep", "field given twice", ("--sweep=seed=0,1", "--sweep=seed=2,3"), "given twice"),
    Bad("sweep", "no --sweep", (), "give at least one --sweep", drop=("--sweep",)),
    Bad("sweep", "bad gradient_method value", ("--sweep=train.gradient_method=bogus,reverse",),
        "train.gradient_method must be one of"),
    Bad("sweep", "omega_0 of 0 in one point", ("--sweep=model.omega_0=0,30",), "omega_0 must be > 0"),
    Bad("sweep", "nonexistent image in one point", ("--sweep=data.image={IMG},/nonexistent/x.png",),
        "not found"),
    Bad("sweep", "nonexistent base image", ("--config.data.image=/nonexistent/x.png",),
        {"fresh": "image file not found", "existing": "different config"},
        note="over the finished sweep, its points' config.json no longer match: found first"),
    Bad("sweep", "unknown config key", ("--config.model.colour=3",), "unknown config field 'colour'"),
    Bad("sweep", "one point too large for memory", ("--sweep=model.width=32,100000",), "needs about"),
    Bad("sweep", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("sweep", "unknown flag", ("--bogus=1",), "bogus"),
    Bad("sweep", "workdir that is a file", ("--workdir={HOME}/fresh/somefile",), "it is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("sweep", "changed base config over a finished sweep", ("--config.train.learning_rate=0.01",),
        "different config", targets=("existing",), note=EXISTING_ONLY),
    # siren_jax.render (its fresh target is a --workdir that does not exist)
    Bad("render", "window not numbers", ("--window=a,b,c,d",), "--window must be four numbers"),
    Bad("render", "window reversed", ("--window=0.5,-0.5,-1,1",), "must satisfy"),
    Bad("render", "size not HxW", ("--size=abc",), "--size must be HxW"),
    Bad("render", "size 0x16", ("--size=0x16",), "must be between 1 and"),
    Bad("render", "size too large", ("--size=100000x100000",), "must be between 1 and"),
    Bad("render", "scale 0", ("--scale=0",), SCALE, note=SCALE_NOTE),
    Bad("render", "scale nan", ("--scale=nan",), SCALE, note=SCALE_NOTE),
    Bad("render", "both --scale and --size", ("--scale=2", "--size=8x8"), "give either --scale or --size"),
    Bad("render", "out not a PNG", ("--out={HOME}/out/x.jpg",), "--out must be a .png path"),
    Bad("render", "out under a file", ("--out={HOME}/out/somefile/x.png",), "is not a directory"),
    Bad("render", "out in a missing directory", ("--out={HOME}/out/nope/x.png",), "does not exist"),
    Bad("render", "out that is a directory", ("--out={HOME}/out/dir.png",), "is a directory"),
    Bad("render", "negative chunk size", ("--chunk_size=-1",), "--chunk_size must be >= 0"),
    Bad("render", "missing workdir", (), "workdir not found", targets=("fresh",),
        note="the fresh target is the case"),
    Bad("render", "not a run directory", ("--workdir={HOME}/fresh",), "has no config.json",
        targets=("fresh",), note="a directory holding only a file"),
    Bad("render", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("render", "missing --out", (), "--out is required", drop=("--out",)),
    Bad("render", "config.json that is not JSON", (), "config.json", targets=("existing",),
        tamper="config_invalid", note="a tampered run directory"),
    Bad("render", "config.json edited to another width", (), "does not fit the model",
        targets=("existing",), tamper="config_width", note="a tampered run directory"),
    # siren_jax.render of the other tasks' runs: another task's flags, and each task's own bounds
    _r("audio", "--resolution=64", "--resolution: not a flag for audio runs"),
    _r("audio", "--scale=2", "--scale: not a flag for audio runs"),
    _r("audio", "--frames=4", "--frames: not a flag for audio runs"),
    _r("audio", "--rate=-1", "--rate must be in"),
    _r("audio", "--out={HOME}/out/x.png", "--out must be a .wav path"),
    _r("video", "--rate=8000", "--rate: not a flag for video runs"),
    _r("video", "--resolution=64", "--resolution: not a flag for video runs"),
    _r("video", "--t=2", "--t must be in [-1, 1]"),
    _r("video", "--fps=1e-9", "--fps must be 0"),
    _r("video", "--frames=-1", "--frames must be in"),
    _r("video", "--chunk_size=-1", "--chunk_size must be >= 0"),
    _r("video", "--out={HOME}/out/x.txt", "must end in one of"),
    _r("sdf", "--resolution=1", "--resolution (grid points per axis of a mesh) must be",
       "--resolution=1 (a one-point grid)"),
    _r("sdf", "--resolution=5000", "--resolution (grid points per axis of a mesh) must be"),
    _r("sdf", "--scale=2", "--scale: not a flag for sdf runs"),
    _r("sdf", "--rate=8000", "--rate: not a flag for sdf runs"),
    _r("sdf", "--out={HOME}/out/x.wav", "--out must be a .ply (mesh) or .png"),
    # siren_jax.report
    Bad("report", "missing directory", (), "workdir not found", targets=("fresh",),
        note="the fresh target is the case"),
    Bad("report", "workdir that is a file", ("--workdir={HOME}/fresh/somefile",), "is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("report", "workdir under a file", ("--workdir={HOME}/fresh/somefile/run",), "is not a directory",
        targets=("fresh",), note=FRESH_ONLY),
    Bad("report", "neither a run nor a sweep", ("--workdir={HOME}/fresh",), "is neither a run",
        targets=("fresh",), note="a directory holding only a file"),
    Bad("report", "extra positional argument", ("extra",), "unexpected arguments: extra"),
    Bad("report", "unknown flag", ("--bogus=1",), "bogus"),
    Bad("report", "missing --workdir", (), "--workdir is required", targets=("fresh",),
        drop=("--workdir",), note=NO_WORKDIR),
]


def _case_dirs(home: str) -> Tuple[str, str]:
  """HOME/fresh (holding a file, somefile) and HOME/out (somefile and a directory, dir.png)."""
  fresh, out = os.path.join(home, "fresh"), os.path.join(home, "out")
  for d in (fresh, out):
    os.makedirs(d)
    write_bytes(os.path.join(d, "somefile"), b"x\n")
  os.mkdir(os.path.join(out, "dir.png"))
  return fresh, out


def _without_empty_run(snap: Dict[str, str]) -> Dict[str, str]:
  """A fresh workdir left empty counts as not created."""
  if snap.get("run") == "dir" and not any(k.startswith("run" + os.sep) for k in snap):
    snap = {k: v for k, v in snap.items() if k != "run"}
  return snap


def bad_target(case: Bad, target: str, env: Env) -> dict:
  """Runs ``case`` against one target; returns its record with ``problems`` and ``lost``."""
  home = env.home(f"bad {case.prog} {case.name} {target}")
  fresh, out = _case_dirs(home)
  if target == "existing":
    workdir = copy_ref(env, os.path.join(home), sweep=case.prog == "sweep", task=case.task)
  else:
    workdir = os.path.join(fresh, "run")
  if case.tamper:
    TAMPER[case.tamper](workdir)
  watched = [fresh, out] + ([workdir] if target == "existing" else [])
  before = [snapshot(d) for d in watched]
  ext = RENDER_OUT[case.task]
  args = fill(command(case.prog, case.args, case.drop, case.base, case.task),
              dict(env.files, W=workdir, OUT=os.path.join(out, f"x.{ext}"), HOME=home))
  result = launch(args, os.path.join(home, "command"))
  expect = case.expect.get(target, "") if isinstance(case.expect, dict) else case.expect
  problems, lost = one_line_problems(result, expect), []
  for directory, snap in zip(watched, before):
    after = _without_empty_run(snapshot(directory)) if directory == fresh else snapshot(directory)
    if after != snap:
      what = f"{os.path.relpath(directory, home)} changed: {describe_diff(snap, after)}"
      problems.append(what)
      if directory == workdir:
        lost.append(what)
  return {"target": target, "command": env.short(" ".join(["python", *args])), "rc": result.rc,
          "stderr": env.short(result.err[-2000:]), "seconds": round(result.seconds, 1),
          "problems": problems, "lost": lost}


def run_bad(case: Bad, env: Env) -> dict:
  checks = [bad_target(case, target, env) for target in case.targets]
  problems = [f"{c['target']}: {p}" for c in checks for p in c["problems"]]
  lost = [f"{case.prog}: {case.name} ({c['target']}): {what}" for c in checks for what in c["lost"]]
  return {"kind": "bad", "name": f"{case.prog}: {case.name}", "status": "FAIL" if problems else "PASS",
          "problems": problems, "lost": lost, "note": case.note, "targets": checks}
