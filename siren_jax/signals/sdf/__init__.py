"""Shapes: a signed distance function fitted to a surface's points and normals."""
