"""Points sharded over devices: where there is more than one JAX device, the mixture methods put
the data's point axis across all of them; every per-point computation then runs where its
points live and the sufficient statistics (sums over points) are reduced across devices by
XLA (GSPMD).  With one device nothing moves.  Random draws do not depend on the sharding
(JAX's partitionable threefry), so one and four devices give the same answer up to the order
of floating-point sums."""

from __future__ import annotations

import jax
import numpy as np


def point_sharding(n: int):
    """The sharding of an array whose leading axis is the N points, or None on one device (or
    when N does not divide evenly, where the points stay on one device)."""
    devices = jax.devices()
    if len(devices) < 2 or n % len(devices):
        return None
    mesh = jax.sharding.Mesh(np.asarray(devices), ("points",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("points"))


def shard_points(*arrays):
    """Each array (leading axis the points) placed across the devices; unchanged on one device."""
    out = []
    for a in arrays:
        sh = point_sharding(int(np.shape(a)[0]))
        out.append(jax.device_put(a, sh) if sh is not None else jax.numpy.asarray(a))
    return out[0] if len(out) == 1 else tuple(out)
