"""Pretrained diffusion priors shipped with Augury.

Each prior is a module `augury.priors.<name>` with

* `factory()`: the network (an Equinox module) with arbitrary initial weights, called on a batch
  as `model(x, t)` and returning its prediction;
* `WEIGHTS`: the path of the trained weights, a safetensors file whose tensor names are
  `jax.tree_util.keystr(path)` of the leaves of `eqx.filter(model, eqx.is_array)`;
* `METADATA`: the conventions (noise process, what is predicted, data range, shape, ...),
  identical to the file's metadata;
* `load()`: `factory()` with the trained weights.

Available: `digits` (scikit-learn's 8x8 digits, VP SDE, eps prediction).
"""
