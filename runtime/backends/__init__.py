"""The array backends the diffusion samplers are written against (docs/diffusion.md, "Backends").

A diffusion sampler is written once, as a step function over arrays of one framework: it
does arithmetic with Python operators and asks its `Backend` for the rest.  `JaxBackend`
runs the step under `jax.jit`; `TorchBackend` runs it eagerly in PyTorch on the network's own
device, so a PyTorch score network never sees a JAX array (no per-step copy between
frameworks).  The interface is deliberately small:

- `asarray(host_array)`, `to_numpy(array)`: in and out, once per run;
- `rng(jax_key)`, `normal(rng, shape) -> (rng, z)`: random numbers (a JAX key, or a seeded
  `torch.Generator` on the device);
- `per_particle_sum(x)`: Σ over every axis but the first (particles); `sqrt`, `full`, `where`,
  `pad` (zeros after the first columns);
- `value_and_vjp(f, x) -> (f(x), vjp)` with vjp(v) = (∂f/∂x)ᵀ v, for guidance through the
  network (DPS, ΠGDM, TDS), and `value_and_jvp(f, x, v)`, forward mode (the ensemble's
  Hutchinson traces);
- for the particle methods: `logsumexp`, `exp`, `log`, `arange`, `resample(rng, log_W, n,
  scheme, due)` (ancestor indices, the identity where not due) and `gather(tree, idx)`, so
  that weights and resampling stay on the network's device;
- `compile_steps(step)`: a block of steps as one `jax.lax.scan` under `jax.jit`, or a Python
  loop under `torch.no_grad` (which the VJP re-enables locally).
"""
