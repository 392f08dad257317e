"""The particle axis across devices: one mesh axis, `particles`, over every device JAX sees.

Particle methods keep their particles as arrays whose leading axis is the particle index.
Inside their jitted steps they call `constrain(tree, mesh)`, which asks XLA to keep that axis
split across the mesh (`jax.sharding.NamedSharding(mesh, P("particles"))`); everything
element-wise then runs where the particles live, and what crosses particles (normalizing
weights, resampling's gather, covariances) is compiled into the collectives it needs.  Nothing
else changes: with one device the mesh is None and `constrain` does nothing.

Several hosts: call `jax.distributed.initialize()` in each process before the run; `jax.devices()`
then lists every host's devices, the mesh spans them, and `to_host` gathers a sharded result
(`multihost_utils.process_allgather`) when this process cannot address all of it.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "particles"


def particle_mesh(n: int, devices: Optional[list] = None) -> Optional[Mesh]:
    """A one-axis mesh over the most devices (of `devices`, default all) that divide `n`
    particles evenly; None when that is one device (nothing to shard)."""
    devices = list(jax.devices() if devices is None else devices)
    k = len(devices)
    while k > 1 and n % k:
        k -= 1
    if k <= 1:
        return None
    return Mesh(np.array(devices[:k]), (AXIS,))


def constrain(tree: Any, mesh: Optional[Mesh]) -> Any:
    """Inside a jitted function: every array of `tree` split over `mesh` along its leading
    (particle) axis; unchanged when `mesh` is None."""
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, sharding) if np.ndim(a) else a, tree)


def replicate(tree: Any, mesh: Optional[Mesh]) -> Any:
    """Inside a jitted function: every array of `tree` copied whole on every device."""
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, sharding), tree)


def to_host(x: Any) -> np.ndarray:
    """A (possibly sharded, possibly multi-host) array as one NumPy array on this host."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def describe(mesh: Optional[Mesh]) -> str:
    """"1 device" or "4 devices (cpu)", for the run's settings."""
    if mesh is None:
        return "1 device"
    devs = mesh.devices.ravel()
    return f"{len(devs)} devices ({devs[0].platform})"
