"""Shapes for signed-distance fitting: oriented point clouds and meshes read from files, normalised
into [-1, 1]^3, and built-in analytic shapes with exact signed distance functions.

* ``.xyz``: text, one point a line: x y z nx ny nz (what the official SIREN code reads);
* ``.ply``: a mesh (with faces), or a point cloud whose vertices carry nx, ny, nz;
* ``.obj``, ``.stl`` (and ``.ply`` with faces): triangle meshes, read with trimesh. Surface points are
  sampled uniformly by area, each with its triangle's normal, the triangles wound consistently and
  turned outwards (positive enclosed volume).

Normalisation keeps the aspect ratio: the bounding box is centred on the origin and scaled so that its
longest side spans ``[-extent, extent]``. ``Surface.center`` and ``Surface.scale`` map back:
input = normalised * scale + center, so meshes and distances come back in the input's units.

Analytic shapes are defined directly in the normalised cube (center 0, scale 1). Their SDFs are exact:
sphere, torus and box in closed form, and ``csg`` the union (min) of the three placed apart, where the
minimum is exact (a point inside one part reaches any other part's boundary only through its own).
"""

import dataclasses
import os
import stat
import struct
import warnings
from typing import Callable, Optional, Tuple

import numpy as np

from siren_jax.errors import UserError

ANALYTIC = ("sphere", "torus", "box", "csg")
MESH_EXTENSIONS = (".ply", ".obj", ".stl")
# Points a cloud file may hold (and data.num_points may ask for): each is held in float64 with its normal
# while read and normalised (48 bytes), so this bounds that at about 3 GB. Checked before decoding.
MAX_POINTS = 1 << 26
EXTENSIONS = (".xyz",) + MESH_EXTENSIONS


@dataclasses.dataclass
class Surface:
  """An oriented surface sample in normalised coordinates. ``sdf`` is the exact SDF (analytic shapes
  only); ``vertices``/``faces`` the normalised input mesh (mesh inputs only)."""
  name: str
  source: str
  points: np.ndarray  # (N, 3) float32
  normals: np.ndarray  # (N, 3) float32, unit length, outwards
  center: np.ndarray  # (3,): input = normalised * scale + center
  scale: float
  sdf: Optional[Callable[[np.ndarray], np.ndarray]] = None
  vertices: Optional[np.ndarray] = None
  faces: Optional[np.ndarray] = None


# --- analytic shapes -----------------------------------------------------------------------------

SPHERE_RADIUS = 0.6
TORUS_RADII = (0.5, 0.2)  # major R (in the x-z plane), minor r
BOX_HALF = np.array([0.5, 0.35, 0.25])
# csg: the three parts scaled down and placed apart (they never touch, so their min is exact).
CSG_PARTS = (("sphere", (-0.5, 0.35, 0.0), 0.55), ("torus", (0.45, 0.4, 0.0), 0.7),
             ("box", (0.0, -0.5, 0.0), 0.8))


def sphere_sdf(p: np.ndarray, r: float = SPHERE_RADIUS) -> np.ndarray:
  return np.linalg.norm(p, axis=-1) - r


def torus_sdf(p: np.ndarray, radii=TORUS_RADII) -> np.ndarray:
  big, small = radii
  q = np.stack([np.hypot(p[..., 0], p[..., 2]) - big, p[..., 1]], axis=-1)
  return np.linalg.norm(q, axis=-1) - small


def box_sdf(p: np.ndarray, half=BOX_HALF) -> np.ndarray:
  q = np.abs(p) - half
  return np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(axis=-1), 0.0)


_PRIMITIVES = {"sphere": sphere_sdf, "torus": torus_sdf, "box": box_sdf}


def csg_sdf(p: np.ndarray) -> np.ndarray:
  """Union of scaled, translated primitives: sdf(p) = s * prim((p - t) / s), their minimum."""
  return np.min([s * _PRIMITIVES[k]((p - np.array(t)) / s) for k, t, s in CSG_PARTS], axis=0)


def analytic_sdf(name: str) -> Callable[[np.ndarray], np.ndarray]:
  return csg_sdf if name == "csg" else _PRIMITIVES[name]


def _primitive_area(name: str) -> float:
  if name == "sphere":
    return 4 * np.pi * SPHERE_RADIUS ** 2
  if name == "torus":
    return 4 * np.pi ** 2 * TORUS_RADII[0] * TORUS_RADII[1]
  a, b, c = 2 * BOX_HALF
  return 2 * (a * b + b * c + c * a)


def _sample_primitive(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
  """n points uniform by area on a primitive's surface."""
  if name == "sphere":
    v = rng.normal(size=(n, 3))
    return SPHERE_RADIUS * v / np.linalg.norm(v, axis=1, keepdims=True)
  if name == "torus":  # the area element is r (R + r cos v) du dv: rejection-sample v
    big, small = TORUS_RADII
    v = np.empty(0)
    while v.size < n:
      cand = rng.uniform(0, 2 * np.pi, 2 * n)
      keep = rng.uniform(0, big + small, 2 * n) < big + small * np.cos(cand)
      v = np.concatenate([v, cand[keep]])
    v, u = v[:n], rng.uniform(0, 2 * np.pi, n)
    ring = big + small * np.cos(v)
    return np.stack([ring * np.cos(u), small * np.sin(v), ring * np.sin(u)], axis=1)
  sides = 2 * BOX_HALF  # box: a face by its area, then a uniform point on it
  areas = np.array([sides[1] * sides[2], sides[0] * sides[2], sides[0] * sides[1]])
  axis = rng.choice(3, size=n, p=areas / areas.sum())
  p = rng.uniform(-BOX_HALF, BOX_HALF, size=(n, 3))
  p[np.arange(n), axis] = BOX_HALF[axis] * rng.choice([-1.0, 1.0], size=n)
  return p


def sdf_normals(sdf: Callable, points: np.ndarray, eps: float = 1e-5) -> np.ndarray:
  """Unit gradients of ``sdf`` by float64 central differences (error O(eps^2) on smooth parts)."""
  p = np.asarray(points, np.float64)
  g = np.stack([sdf(p + eps * e) - sdf(p - eps * e) for e in np.eye(3)], axis=-1)
  return g / np.linalg.norm(g, axis=-1, keepdims=True)


def sample_analytic(name: str, n: int, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
  """(points, outward normals), n points uniform by area on the analytic shape ``name``."""
  rng = np.random.default_rng(seed)
  if name == "csg":
    areas = np.array([_primitive_area(k) * s ** 2 for k, _, s in CSG_PARTS])
    counts = rng.multinomial(n, areas / areas.sum())
    points = np.concatenate([s * _sample_primitive(k, c, rng) + np.array(t)
                             for (k, t, s), c in zip(CSG_PARTS, counts)])
  else:
    points = _sample_primitive(name, n, rng)
  return points, sdf_normals(analytic_sdf(name), points)


def analytic_surface(name: str, n: int, seed: int = 0) -> Surface:
  points, normals = sample_analytic(name, n, seed)
  return Surface(name=name, source="analytic", points=points.astype(np.float32),
                 normals=normals.astype(np.float32), center=np.zeros(3), scale=1.0,
                 sdf=analytic_sdf(name))


# --- files ---------------------------------------------------------------------------------------


def normalisation(points: np.ndarray, extent: float) -> Tuple[np.ndarray, float]:
  """(center, scale) mapping the bounding box's longest side onto [-extent, extent], aspect kept."""
  lo, hi = points.min(axis=0), points.max(axis=0)
  half = float((hi - lo).max()) / 2
  if not half > 0:
    raise UserError("the shape has no extent (all its points coincide)")
  return (lo + hi) / 2, half / extent


def _check_oriented(path: str, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
  """Unit normals; one-line errors for an empty cloud, non-finite values or zero-length normals."""
  if points.shape[0] == 0:
    raise UserError(f"{path}: the point cloud is empty")
  if not (np.isfinite(points).all() and np.isfinite(normals).all()):
    raise UserError(f"{path}: coordinates or normals are not all finite (NaN or inf)")
  length = np.linalg.norm(normals, axis=1)
  if not (length > 1e-12).all():
    raise UserError(f"{path}: {int((length <= 1e-12).sum())} normal(s) have zero length")
  return normals / length[:, None]


def read_xyz(path: str) -> Tuple[np.ndarray, np.ndarray]:
  """(points, normals) of an .xyz file: rows of x y z nx ny nz."""
  _check_count(path, _count_lines(path), "lines")
  try:
    with warnings.catch_warnings():  # an empty file is reported below, in one line
      warnings.simplefilter("ignore", UserWarning)
      table = np.loadtxt(path, dtype=np.float64, ndmin=2)
  except (OSError, ValueError) as e:
    raise UserError(f"cannot read {path}: {e}") from None
  if table.size == 0:
    raise UserError(f"{path}: the point cloud is empty")
  if table.shape[1] != 6:
    raise UserError(f"{path}: expected 6 columns (x y z nx ny nz), got {table.shape[1]}")
  return table[:, :3], table[:, 3:]


def _count_lines(path: str) -> int:
  """Newlines in ``path``, counted in blocks (bounded memory, no parsing)."""
  n = 0
  try:
    with open(path, "rb") as f:
      for block in iter(lambda: f.read(1 << 24), b""):
        n += block.count(b"\n")
  except OSError as e:
    raise UserError(f"cannot read {path}: {e.strerror or e}") from None
  return n


def _check_count(path: str, count: int, what: str) -> None:
  if count > MAX_POINTS:
    raise UserError(f"{path} holds {count} {what}, over the {MAX_POINTS} points a cloud may have")


def _trimesh_load(path: str):
  import trimesh  # pylint: disable=g-import-not-at-top  (a heavy import, only for file shapes)
  try:
    return trimesh.load(path, process=False)
  except ImportError as e:  # trimesh reaches for optional modules only on files it cannot parse
    raise UserError(f"cannot read {path}: a truncated or unreadable mesh file (trimesh: {e})") from None
  except Exception as e:  # pylint: disable=broad-except  (any parse failure of the user's file)
    raise UserError(f"cannot read {path}: {type(e).__name__}: {e}") from None


def _check_stl(path: str) -> None:
  """A binary STL is an 80-byte header, a triangle count and 50 bytes a triangle: one whose size does
  not match its count is truncated (trimesh would try it as text and fail misleadingly). ASCII STL
  (text beginning with "solid") is left to trimesh."""
  size = os.path.getsize(path)
  with open(path, "rb") as f:
    head = f.read(1024)
  count = struct.unpack("<I", head[80:84])[0] if len(head) >= 84 else None
  if count is not None and size == 84 + 50 * count:
    return
  try:
    text = head.decode("ascii")
  except UnicodeDecodeError:
    text = ""
  if text.lstrip().lower().startswith("solid") and all(c.isprintable() or c in "\r\n\t" for c in text):
    return
  declared = "" if count is None else f"its header declares {count} triangles ({84 + 50 * count} bytes); "
  raise UserError(f"{path}: a truncated or unreadable binary STL ({declared}the file holds {size} bytes)")


def _check_shape_file(spec: str) -> None:
  """A readable regular file: a directory or FIFO named like a shape is not one (a FIFO would block)."""
  try:
    mode = os.stat(spec).st_mode
  except FileNotFoundError:
    raise UserError(f"data.shape: shape file not found: {spec}") from None
  except OSError as e:
    raise UserError(f"data.shape: cannot read {spec}: {e.strerror or e}") from None
  if stat.S_ISDIR(mode):
    raise UserError(f"data.shape: {spec} is a directory, not a shape file")
  if not stat.S_ISREG(mode):
    raise UserError(f"data.shape: {spec} is not a regular file (a pipe or device?)")


def read_ply_cloud(path: str, loaded) -> Tuple[np.ndarray, np.ndarray]:
  """(points, normals) of a PLY point cloud whose vertices carry nx, ny, nz."""
  raw = (loaded.metadata.get("_ply_raw") or {}).get("vertex", {}).get("data", {})
  if not all(k in raw for k in ("nx", "ny", "nz")):
    raise UserError(f"{path}: a PLY without faces needs vertex normals (nx, ny, nz)")
  normals = np.concatenate([np.asarray(raw[k], np.float64).reshape(-1, 1) for k in ("nx", "ny", "nz")],
                           axis=1)
  return np.asarray(loaded.vertices, np.float64).reshape(-1, 3), normals


def read_mesh(path: str):
  """(vertices, faces) of a triangle mesh, wound consistently with outward normals."""
  import trimesh  # pylint: disable=g-import-not-at-top
  loaded = _trimesh_load(path)
  if isinstance(loaded, trimesh.Scene):
    loaded = loaded.to_geometry() if len(loaded.geometry) else None
  if loaded is None or not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
    raise UserError(f"{path}: the mesh has no faces")
  if not np.isfinite(loaded.vertices).all():
    raise UserError(f"{path}: vertex coordinates are not all finite (NaN or inf)")
  mesh = trimesh.Trimesh(loaded.vertices, loaded.faces, process=True)  # merges duplicate vertices
  if mesh.area <= 0:
    raise UserError(f"{path}: the mesh's triangles have no area")
  trimesh.repair.fix_winding(mesh)
  if mesh.volume < 0:  # signed volume: negative means inward-facing triangles
    mesh.invert()
  return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def sample_mesh(vertices: np.ndarray, faces: np.ndarray, n: int, seed: int = 0):
  """(points, normals): n points uniform by area on the mesh, each with its triangle's normal."""
  tri = vertices[faces]
  cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
  area = np.linalg.norm(cross, axis=1)
  rng = np.random.default_rng(seed)
  face = rng.choice(len(faces), size=n, p=area / area.sum())
  u, v = rng.uniform(size=(2, n, 1))
  flip = (u + v) > 1
  u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
  t = tri[face]
  points = t[:, 0] + u * (t[:, 1] - t[:, 0]) + v * (t[:, 2] - t[:, 0])
  normals = cross[face] / np.maximum(area[face], 1e-300)[:, None]
  return points, normals


def load_surface(spec: str, num_points: int, extent: float, seed: int = 0) -> Surface:
  """The shape ``spec`` names (an analytic name or a file path), normalised, with ``num_points``
  surface samples for meshes and analytic shapes (a point cloud keeps all its points)."""
  if spec in ANALYTIC:
    return analytic_surface(spec, num_points, seed)
  ext = os.path.splitext(spec)[1].lower()
  if ext not in EXTENSIONS:
    raise UserError(f"data.shape {spec!r}: one of {ANALYTIC} or a file ending in {EXTENSIONS}")
  _check_shape_file(spec)
  if ext == ".stl":
    _check_stl(spec)
  vertices = faces = None
  if ext == ".xyz":
    points, normals = read_xyz(spec)
  elif ext == ".ply" and _ply_has_no_faces(spec):
    _check_count(spec, _ply_vertices(spec), "vertices")
    points, normals = read_ply_cloud(spec, _trimesh_load(spec))
  else:
    vertices, faces = read_mesh(spec)
    points, normals = sample_mesh(vertices, faces, num_points, seed)
  normals = _check_oriented(spec, points, normals)
  center, scale = normalisation(points if vertices is None else vertices, extent)
  if vertices is not None:
    vertices = (vertices - center) / scale
  return Surface(name=os.path.splitext(os.path.basename(spec))[0], source=os.path.abspath(spec),
                 points=((points - center) / scale).astype(np.float32),
                 normals=normals.astype(np.float32), center=center, scale=scale,
                 vertices=vertices, faces=faces)


def _ply_elements(path: str) -> dict:
  """{element name: declared count} from a PLY's header (-1 where the count is not a number)."""
  try:
    with open(path, "rb") as f:
      header = f.read(4096).split(b"end_header")[0].decode("ascii", "replace")
  except OSError as e:
    raise UserError(f"cannot read {path}: {e}") from None
  counts = {}
  for line in header.splitlines():
    parts = line.split()
    if len(parts) >= 2 and parts[0] == "element":
      counts[parts[1]] = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else -1
  return counts


def _ply_has_no_faces(path: str) -> bool:
  """Whether a PLY's header declares no faces (or zero of them): a point cloud."""
  return _ply_elements(path).get("face", 0) == 0


def _ply_vertices(path: str) -> int:
  return _ply_elements(path).get("vertex", 0)
