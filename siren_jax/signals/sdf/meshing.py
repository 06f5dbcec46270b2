"""The zero level set of a signed distance field as a triangle mesh, and how close two surfaces are.

``extract_mesh`` runs marching cubes (scikit-image) over a grid of the [-1, 1]^3 cube, one slab of
z-planes at a time: each slab's field is evaluated (in fixed-size chunks by the caller's ``field``),
meshed and offset, and consecutive slabs share their boundary plane, so the whole grid never exists
and memory grows with resolution^2, not resolution^3. Vertices that two slabs both produce on their
shared plane come from the same field values, hence are identical and merged.

Metrics (``surface_metrics``) compare two oriented point samples of surfaces, A (the fitted mesh) and
B (the input), in the input's units:
* Chamfer L1: (mean_a d(a, B) + mean_b d(b, A)) / 2, d the Euclidean distance to the nearest point;
* Chamfer L2: the same with squared distances;
* normal consistency: the mean |n_a . n_nearest| over both directions (1 = aligned);
* F-score at tau: precision (share of A within tau of B), recall (share of B within tau of A), and
  their harmonic mean.
"""

from typing import Callable, Dict, Tuple

import numpy as np

from siren_jax.io.outputs import atomic_path


def grid_axis(resolution: int) -> np.ndarray:
  """The ``resolution`` sample positions along each axis: [-1, 1] inclusive."""
  return np.linspace(-1.0, 1.0, resolution, dtype=np.float64)


def slab_planes(resolution: int, max_points: int) -> int:
  """z-planes per slab so a slab holds at most ``max_points`` samples (at least 2: one cube layer)."""
  return max(2, min(resolution, max_points // (resolution * resolution)))


def extract_mesh(field: Callable[[np.ndarray], np.ndarray], resolution: int, level: float = 0.0,
                 max_points: int = 1 << 21,
                 progress: Callable[[int, int], None] = lambda done, total: None
                 ) -> Tuple[np.ndarray, np.ndarray]:
  """(vertices (V, 3), faces (F, 3)) of {field = level} on a ``resolution``^3 grid of [-1, 1]^3.

  ``field(points (n, 3)) -> (n,)`` is called one slab at a time (at most ``max_points`` points);
  ``progress(planes done, planes)`` after each slab. Axes are (x, y, z) = coordinates 0, 1, 2.
  Returns empty arrays if the level is never crossed."""
  from skimage import measure  # pylint: disable=g-import-not-at-top
  axis = grid_axis(resolution)
  h = 2.0 / (resolution - 1)
  planes = slab_planes(resolution, max_points)
  xx, yy = np.meshgrid(axis, axis, indexing="ij")
  verts, faces, count = [], [], 0
  for z0 in range(0, resolution - 1, planes - 1):
    zs = axis[z0:z0 + planes]
    pts = np.stack([np.repeat(xx[..., None], len(zs), -1), np.repeat(yy[..., None], len(zs), -1),
                    np.broadcast_to(zs, xx.shape + (len(zs),))], axis=-1).reshape(-1, 3)
    vol = np.asarray(field(pts.astype(np.float32)), np.float32).reshape(resolution, resolution, len(zs))
    progress(z0 + len(zs), resolution)
    if len(zs) < 2 or not (vol.min() <= level <= vol.max()):
      continue
    v, f, _, _ = measure.marching_cubes(vol, level=level)  # in grid-index units
    verts.append(v + np.array([0.0, 0.0, z0]))  # whole indices added exactly: shared planes agree
    faces.append(f + count)
    count += len(v)
  if not verts:
    return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
  vertices, faces = merge_vertices(np.concatenate(verts), np.concatenate(faces))
  return vertices * h - 1.0, faces


def merge_vertices(vertices: np.ndarray, faces: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """Identical vertices made one; faces that collapse to fewer than 3 distinct vertices dropped."""
  unique, inverse = np.unique(vertices, axis=0, return_inverse=True)
  faces = inverse.reshape(-1)[faces]
  keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
  return unique, faces[keep]


def write_ply(path: str, vertices: np.ndarray, faces: np.ndarray) -> None:
  """A binary little-endian PLY (float32 vertices, int32 triangles), written atomically."""
  header = (f"ply\nformat binary_little_endian 1.0\ncomment siren_jax zero level set\n"
            f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
            f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n")
  tri = np.zeros(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
  tri["n"], tri["v"] = 3, faces
  with atomic_path(path) as tmp, open(tmp, "wb") as f:
    f.write(header.encode("ascii"))
    f.write(np.asarray(vertices, "<f4").tobytes())
    f.write(tri.tobytes())


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """(unit normals, areas) of the triangles."""
  tri = vertices[faces]
  cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
  area = np.linalg.norm(cross, axis=1)
  return cross / np.maximum(area, 1e-30)[:, None], area / 2


def _nearest(a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  from scipy.spatial import cKDTree  # pylint: disable=g-import-not-at-top
  dist, idx = cKDTree(b).query(a, k=1)
  return dist, idx


def surface_metrics(points_a: np.ndarray, normals_a: np.ndarray, points_b: np.ndarray,
                    normals_b: np.ndarray, tau: float) -> Dict[str, float]:
  """Chamfer L1/L2, normal consistency and F-score at ``tau`` between samples A and B."""
  d_ab, i_ab = _nearest(points_a, points_b)
  d_ba, i_ba = _nearest(points_b, points_a)
  nc_ab = np.abs(np.sum(normals_a * normals_b[i_ab], axis=1))
  nc_ba = np.abs(np.sum(normals_b * normals_a[i_ba], axis=1))
  precision, recall = float(np.mean(d_ab < tau)), float(np.mean(d_ba < tau))
  fscore = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
  return {"chamfer_l1": float((d_ab.mean() + d_ba.mean()) / 2),
          "chamfer_l2": float((np.mean(d_ab ** 2) + np.mean(d_ba ** 2)) / 2),
          "normal_consistency": float((nc_ab.mean() + nc_ba.mean()) / 2),
          "precision": precision, "recall": recall, "fscore": float(fscore)}
