"""Images: one image, a set of them, or an image's gradient or Laplacian (Poisson problems)."""
