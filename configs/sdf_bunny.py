"""SDF of the Stanford Bunny (Stanford Computer Graphics Laboratory, Stanford 3D Scanning Repository):
the official network (3x256 SIREN) on 100k area-uniform samples of the zipper mesh.

    python -m siren_jax.main --config=configs/sdf_bunny.py --workdir=runs/sdf_bunny

The mesh is read from ../shared/data/shapes/stanford-bunny/bun_zipper.ply beside the checkout (never
committed); --config.data.shape=PATH reads another copy. A long job on a 2-core CPU: shorten it with
--config.train.num_steps and --config.sdf.mesh_resolution for a first look.
"""

import os

from siren_jax.configuration import load_config

HERE = os.path.dirname(os.path.abspath(__file__))
BUNNY = os.path.join(HERE, "..", "..", "shared", "data", "shapes", "stanford-bunny", "bun_zipper.ply")


def get_config():
  config = load_config(os.path.join(HERE, "sdf.py"))
  config.data.shape = os.path.normpath(BUNNY)
  config.data.num_points = 100000
  config.model.width = 256  # official SingleBVPNet: 3 hidden layers of 256
  config.model.omega_0 = 30.0  # the official recipe throughout (configs/sdf.py departs from it)
  config.train.num_steps = 5000
  config.train.learning_rate = 1e-4  # the official train_sdf.py rate
  config.train.schedule = "constant"
  config.sdf.alpha = 100.0
  config.train.log_every = 500
  config.train.checkpoint_every = 1000
  config.sdf.mesh_resolution = 256
  config.sdf.render_size = 256
  config.sdf.metric_points = 100000
  return config
