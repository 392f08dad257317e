"""Networks named in model files: torch(...) and jax(...) with safetensors weights, the
permission they need, and the errors for missing or mismatched weights; data ranges."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import augury
from augury.errors import AuguryError

sys.path.insert(0, str(Path(__file__).resolve().parent / "samplers"))
from exact_networks import gaussian_posterior_moments  # noqa: E402

MEAN = np.linspace(-0.5, 0.5, 16).reshape(4, 4)

TORCH_MODULE = '''
import math, torch
from exact_networks import torch_gaussian_eps
def factory():
    return torch_gaussian_eps(__import__("numpy").zeros((4, 4)), 0.3)
'''

JAX_MODULE = '''
import jax.numpy as jnp
from exact_networks import vp_alpha_sigma
def apply(params, x, t):
    a, s = vp_alpha_sigma(t, jnp)
    a, s = a[:, None, None], s[:, None, None]
    return s * (x - a * params["mean"]) / (a * a * 0.3 + s * s)
def factory():
    return apply, {"mean": jnp.zeros((4, 4))}
def plain(x, t):
    return apply({"mean": jnp.zeros((4, 4))}, x, t)
'''

MODEL = """
model m
data y : real[4, 4]
param x : real[4, 4]
x ~ diffusion(net = NET, sde = vp(0.1, 20))
y ~ normal(x, 0.1)
"""


@pytest.fixture
def modules(tmp_path, monkeypatch):
    (tmp_path / "my_torch_net.py").write_text(textwrap.dedent(TORCH_MODULE))
    (tmp_path / "my_jax_net.py").write_text(textwrap.dedent(JAX_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent / "samplers"))
    return tmp_path


def _write(path: Path, tensors: dict, framework: str, metadata=None):
    if framework == "torch":
        import torch
        from safetensors.torch import save_file
        save_file({k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in tensors.items()}, str(path),
                  metadata=metadata)
    else:
        from safetensors.numpy import save_file
        save_file({k: np.asarray(v, np.float32) for k, v in tensors.items()}, str(path), metadata=metadata)


def _model(tmp_path: Path, net: str, extra: str = "", param: str = "real[4, 4]") -> Path:
    f = tmp_path / "m.aug"
    f.write_text(MODEL.replace("NET", net).replace("param x : real[4, 4]", f"param x : {param}") + extra)
    return f


def _tweedie_check(post, y, mean):
    pm, _ = gaussian_posterior_moments(mean, 0.3, np.ones((4, 4)), y, 0.1)
    np.testing.assert_allclose(post.samples("x")[0], pm, atol=2e-4)


def test_torch_factory_with_weights(modules):
    pytest.importorskip("torch")
    _write(modules / "w.safetensors", {"mean": MEAN, "var": 0.3}, "torch", {"predicts": "eps"})
    f = _model(modules, 'torch("my_torch_net:factory", weights = "w.safetensors")')
    y = np.ones((4, 4))
    post = augury.compile(f, allow_python=True).sample({"y": y}, method="tweedie")
    _tweedie_check(post, y, MEAN)


def test_jax_factory_with_weights_and_a_plain_function(modules):
    _write(modules / "w.safetensors", {"['mean']": MEAN}, "jax")
    y = np.ones((4, 4))
    f = _model(modules, 'jax("my_jax_net:factory", weights = "w.safetensors")')
    _tweedie_check(augury.compile(f, allow_python=True).sample({"y": y}, method="tweedie"), y, MEAN)
    f = _model(modules, 'jax("my_jax_net:plain")')
    _tweedie_check(augury.compile(f, allow_python=True).sample({"y": y}, method="tweedie"), y, np.zeros((4, 4)))


def test_python_paths_need_permission(modules):
    f = _model(modules, 'jax("my_jax_net:plain")')
    with pytest.raises(AuguryError, match="imports Python code `my_jax_net:plain`.*allow") as e:
        augury.compile(f).sample({"y": np.ones((4, 4))}, method="tweedie")
    assert "m.aug:5:" in str(e.value)


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_weights_errors_name_the_file_and_the_tensor(modules, framework):
    if framework == "torch":
        pytest.importorskip("torch")
        net, good = 'torch("my_torch_net:factory", weights = "W")', {"mean": MEAN, "var": 0.3}
        name = "mean"
    else:
        net, good = 'jax("my_jax_net:factory", weights = "W")', {"['mean']": MEAN}
        name = "['mean']"
    data = {"y": np.ones((4, 4))}

    def run(weights):
        f = _model(modules, net.replace("W", weights))
        return augury.compile(f, allow_python=True).sample(data, method="tweedie")

    with pytest.raises(AuguryError, match="weights file `missing.safetensors` does not exist") as e:
        run("missing.safetensors")
    assert "m.aug:5:" in str(e.value)
    bad = dict(good)
    bad[name] = np.zeros((3, 4))
    _write(modules / "shape.safetensors", bad, framework)
    with pytest.raises(AuguryError, match=r"`shape.safetensors`: tensor `.*mean.*` has shape \(3, 4\), the network "
                                          r"expects \(4, 4\)"):
        run("shape.safetensors")
    _write(modules / "extra.safetensors", {**good, "bias": np.zeros(2)}, framework)
    with pytest.raises(AuguryError, match="has a tensor `bias` that the network does not have"):
        run("extra.safetensors")
    _write(modules / "short.safetensors", {k: v for k, v in good.items() if k != name} or {"other": np.zeros(1)},
           framework)
    with pytest.raises(AuguryError, match="has no tensor `.*mean.*`, which the network needs"):
        run("short.safetensors")
    (modules / "pickle.pt").write_bytes(b"not a safetensors file")
    with pytest.raises(AuguryError, match="not a .safetensors file"):
        run("pickle.pt")


def test_metadata_must_not_be_contradicted(modules, monkeypatch):
    monkeypatch.chdir(modules)  # a model given as text finds its weights from the current folder
    _write(modules / "w.safetensors", {"['mean']": MEAN}, "jax", {"sde": "vp(0.1, 20)", "predicts": "eps"})
    f = _model(modules, 'jax("my_jax_net:factory", weights = "w.safetensors")').read_text()
    with pytest.raises(AuguryError, match="trained with `vp\\(0.1, 20\\)`, not the `sde` given here"):
        augury.compile(f.replace("vp(0.1, 20)", "vp(0.1, 10)"), allow_python=True).sample(
            {"y": np.ones((4, 4))}, method="tweedie")
    with pytest.raises(AuguryError, match="the network predicts \"eps\", not \"x0\""):
        augury.compile(f.replace("sde = vp(0.1, 20)", "predicts = \"x0\""), allow_python=True).sample(
            {"y": np.ones((4, 4))}, method="tweedie")


def test_declared_data_ranges_are_mapped(modules, monkeypatch):
    """The network lives on [-1, 1], the model on [0, 1]: x_net = 2 x − 1.  Denoising y in model
    units with noise 0.05 is denoising 2y − 1 with noise 0.1 in the network's, where the exact
    answer is known; the result comes back in model units."""
    monkeypatch.chdir(modules)
    _write(modules / "w.safetensors", {"['mean']": MEAN}, "jax", {"data_range": "[-1, 1]"})
    src = _model(modules, 'jax("my_jax_net:factory", weights = "w.safetensors")',
                 param="real(lower = 0, upper = 1)[4, 4]").read_text().replace("normal(x, 0.1)", "normal(x, 0.05)")
    y = np.full((4, 4), 0.7)
    post = augury.compile(src, allow_python=True).sample({"y": y}, method="tweedie")
    pm, _ = gaussian_posterior_moments(MEAN, 0.3, np.ones((4, 4)), 2 * y - 1, 0.1)
    np.testing.assert_allclose(post.samples("x")[0], (pm + 1) / 2, atol=2e-4)


def test_a_network_of_the_wrong_shape_is_refused():
    import jax.numpy as jnp
    src = MODEL.replace("NET", "unet")
    wrong = augury.compile(src, bind={"unet": lambda x, t: jnp.zeros((x.shape[0], 8, 8))})
    with pytest.raises(AuguryError, match=r"returns shape \(2, 8, 8\) for inputs of shape \(2, 4, 4\)") as e:
        wrong.sample({"y": np.ones((4, 4))}, method="tweedie")
    assert "<string>:5:" in str(e.value)
    broken = augury.compile(src, bind={"unet": lambda x: x})
    with pytest.raises(AuguryError, match="fails on a batch of inputs of shape .*TypeError"):
        broken.sample({"y": np.ones((4, 4))}, method="ddrm")


@pytest.mark.parametrize("key, value, message", [
    ("predicts", "epsilon", r"metadata `predicts` is 'epsilon', which is not one of \"eps\", \"x0\", \"score\", \"v\""),
    ("sde", "vp(0.1", r"metadata `sde` is 'vp\(0.1', which is not a valid noise process"),
    ("sde", "vp(a, b)", r"metadata `sde` is 'vp\(a, b\)', which is not a valid noise process"),
    ("data_range", "[0", r"metadata `data_range` is '\[0', not \"\[lo, hi\]\" with finite lo < hi"),
    ("data_range", "[1, 0]", r"metadata `data_range` is '\[1, 0\]', not \"\[lo, hi\]\" with finite lo < hi"),
    ("data_var", "-1", r"metadata `data_var` is '-1', not a positive finite number"),
])
def test_bad_metadata_names_the_file_and_the_key(modules, key, value, message):
    """A weights file's metadata is checked against each key's valid values: "epsilon" was read
    as "v" (any `predicts` not eps/x0/score fell through to v), a bad `sde` or `data_range` was a
    traceback."""
    _write(modules / "meta.safetensors", {"['mean']": MEAN}, "jax", {key: value})
    f = _model(modules, 'jax("my_jax_net:factory", weights = "meta.safetensors")')
    with pytest.raises(AuguryError, match=r"weights file `meta.safetensors`: " + message) as e:
        augury.compile(f, allow_python=True).sample({"y": np.ones((4, 4))}, method="tweedie")
    assert "m.aug:5:" in str(e.value)


def test_a_corrupt_weights_file_is_named(modules):
    (modules / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    f = _model(modules, 'jax("my_jax_net:factory", weights = "bad.safetensors")')
    with pytest.raises(AuguryError, match="cannot read weights file `bad.safetensors`") as e:
        augury.compile(f, allow_python=True).sample({"y": np.ones((4, 4))}, method="tweedie")
    assert "m.aug:5:" in str(e.value)


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_a_network_that_raises_while_sampling_is_reported_as_its_own(framework):
    """The network passes the shape check (its first call) and raises on a later one, as the
    sampler calls it: the error is the network's, at `net = ...`, not an internal error."""
    calls = []

    def net(x, t):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("the user's network broke")
        return x

    if framework == "torch":
        torch = pytest.importorskip("torch")

        class Net(torch.nn.Module):
            def forward(self, x, t):
                return net(x, t)
        bound, name = Net(), "the bound PyTorch network"
    else:
        bound, name = net, "the bound network"
    model = augury.compile(MODEL.replace("NET", "unet"), bind={"unet": bound})
    with pytest.raises(AuguryError, match=f"{name} fails when the sampler calls it on a batch of inputs of shape "
                                          r"\(4, 4, 4\): RuntimeError: the user's network broke") as e:
        model.sample({"y": np.ones((4, 4))}, method="ddrm", particles=4, steps=2)
    assert "<string>:5:21" in str(e.value)
