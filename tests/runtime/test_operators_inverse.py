"""Operators inside inverse problems: the spectral methods on rank-deficient and composed
operators against the exact Gaussian posterior (augury.oracle), and operators that cannot take
the parameter's shape refused at their place.  Seeds move with AUGURY_TEST_SEED."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import convolve2d

import augury
from augury.errors import AuguryError
from augury.oracle import gmm_posterior
from augury.runtime import operators as ops

sys.path.insert(0, str(Path(__file__).resolve().parent / "samplers"))
from exact_networks import GAUSS  # noqa: E402  (the samplers' shared Gaussian-prior model)

SEED = int(os.environ.get("AUGURY_TEST_SEED", "0"))
P = 1000


def _rank_deficient(rng) -> np.ndarray:
    """A 3 × 6 matrix of rank 2 in exact arithmetic whose float32 rounding has a third singular
    value of ~1e-8 · max(s) (rounding noise, not a measurement)."""
    B = rng.normal(size=(2, 6))
    return np.vstack([B, B[0] + 0.1 * B[1]])


def test_the_rank_cutoff_is_at_the_operators_precision():
    """numpy.linalg.matrix_rank's rule, s > max(s) · max(m, n) · eps, with float32's eps for an
    operator held in float32: the rounding's spurious singular value is dropped, in `matrix`'s
    own SVD and in the dense SVD of a composition."""
    M = _rank_deficient(np.random.default_rng(SEED))
    M32 = M.astype(np.float32)
    assert np.linalg.svd(M32.astype(np.float64), compute_uv=False)[2] > 1e-12   # rounding made it rank 3
    assert np.linalg.matrix_rank(M32) == np.linalg.matrix_rank(M) == 2
    for op in (ops.matrix(M32), ops.compose(ops.mask(np.ones(3, np.float32)), ops.matrix(M32))):
        S = op.svd((6,))
        assert S.R == 2, (op.name, np.asarray(S.singular_values))
        np.testing.assert_allclose(np.asarray(S.singular_values), np.linalg.svd(M, compute_uv=False)[:2], rtol=1e-5)
    # float64 parameters keep float64's cutoff: a singular value of 1e-9 · max(s) is real there
    C = np.diag([1.0, 1e-9])
    assert ops.matrix(C).svd((2,)).R == 1   # jnp.asarray rounds C to float32: 1e-9 is below its cutoff
    assert ops._dense_svd(C, (2,), (2,)).R == 2




def _null_space(A: np.ndarray) -> np.ndarray:
    """Rows: an orthonormal basis of A's null space (numpy.linalg.matrix_rank's cutoff)."""
    _, s, vt = np.linalg.svd(A)
    return vt[int(np.sum(s > s[0] * max(A.shape) * np.finfo(np.float64).eps)):]


def _z(draws: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Standard errors between the draws' mean and `mean`."""
    return (draws.mean(0) - mean) / (sd / np.sqrt(len(draws)))


def _null_space_is_the_priors(x, A, m, var):
    """Under an isotropic Gaussian prior N(m, var I), the exact posterior of the null-space
    coordinates N x is the prior's, N(N m, var I), independent of y.  DDRM runs the prior's own
    steps there (in its SVD basis), so their mean is exact to Monte Carlo error whatever its
    approximation in the measured coordinates (it keeps Uᵀy/s there, without the prior's
    shrinkage), provided its basis is A's.  The mean within 5 standard errors of var (the draws'
    own sd is smaller: DDIM with eta < 1)."""
    N = _null_space(A)
    z = _z(x.reshape(len(x), -1) @ N.T, N @ m.reshape(-1), np.full(len(N), np.sqrt(var)))
    assert np.all(np.abs(z) < 5), z


def test_ddrm_on_a_rank_deficient_matrix_in_float32():
    """Before the relative cutoff, the float32 rounding's singular value of ~1e-8 (a direction
    of M's null space) was a 'measured' coordinate, with data Uᵀy/s of ~1e7 times the noise:
    ddrm's mean was dozens of standard errors off."""
    rng = np.random.default_rng(SEED)
    m, M = rng.normal(size=6), _rank_deficient(rng)
    y = M @ (m + np.sqrt(0.5) * rng.normal(size=6)) + 0.2 * rng.normal(size=3)
    post = augury.compile(GAUSS).sample({"y": y, "M": M, "m": m}, method="ddrm", particles=P, steps=20, seed=SEED)
    assert post.settings["precision"] == "float32"
    _null_space_is_the_priors(post.samples("x"), M, m, 0.5)


COMPOSED = """
model deblur_inpaint
data y : real[4, 4]
data keep : real[4, 4]
data m : real[4, 4]
param x : real[4, 4]
x ~ gaussian(m, 0.5)
op K = mask(keep)
op A = compose(K, blur(gaussian_kernel(3, 1)))
y ~ normal(A(x), 0.1)
"""


def _blur_matrix(k: np.ndarray, n: int) -> np.ndarray:
    """The (n², n²) matrix of a zero-padded 'same' convolution, one basis image at a time."""
    cols = [convolve2d(e.reshape(n, n), k, mode="same").reshape(-1) for e in np.eye(n * n)]
    return np.stack(cols, axis=1)


@pytest.fixture(scope="module")
def composed():
    """compose(mask, blur) on 4 × 4 (6 to 10 pixels kept): the model, its data, the explicit
    matrix A (built independently, with scipy) and the exact posterior."""
    rng = np.random.default_rng(SEED)
    keep = (rng.random((4, 4)) < 0.6).astype(float)
    m = rng.normal(size=(4, 4))
    A = np.diag(keep.reshape(-1)) @ _blur_matrix(np.asarray(ops.gaussian_kernel(3, 1), np.float64), 4)
    y = (A @ (m.reshape(-1) + np.sqrt(0.5) * rng.normal(size=16)) + 0.1 * rng.normal(size=16)).reshape(4, 4)
    exact = gmm_posterior(np.ones(1), m.reshape(1, 16), 0.5 * np.eye(16)[None], A, y.reshape(-1), 0.1)
    return augury.compile(COMPOSED), {"y": y, "keep": keep, "m": m}, A, exact


def test_the_spectral_methods_apply_to_a_composition(composed, tmp_path, capsys):
    """compose(mask, blur) is linear, so it has an SVD (its dense matrix's): the spectral methods
    apply, `augury check` says so, and ddrm works in A's own basis."""
    model, data, A, _ = composed
    assert all(model.methods()[m] is None for m in ("ddrm", "pigdm", "pc"))
    from augury.cli import main
    f = tmp_path / "c.aug"
    f.write_text(COMPOSED)
    assert main(["check", str(f)]) == 0
    assert "yes ddrm" in capsys.readouterr().out
    post = model.sample(data, method="ddrm", particles=P, steps=20, seed=SEED)
    _null_space_is_the_priors(post.samples("x"), A, data["m"], 0.5)


def test_pigdm_on_a_composition_is_exact_for_a_gaussian_prior(composed):
    """ΠGDM is exact for a Gaussian prior (docs/diffusion.md): through the composition's SVD its
    draws have the exact posterior's mean (5 standard errors) and sd (15%: the sd of 1000 draws
    has a standard error of 2.2%, and 200 steps measured 0.90–1.01 of the exact sd at seeds 0–3)."""
    model, data, _, exact = composed
    x = model.sample(data, method="pigdm", particles=P, steps=200, seed=SEED).samples("x").reshape(P, -1)
    sd = np.sqrt(np.diag(np.asarray(exact.cov())))
    assert np.all(np.abs(_z(x, np.asarray(exact.mean()), sd)) < 5)
    assert np.all(np.abs(x.std(0) / sd - 1) < 0.15), x.std(0) / sd


def test_a_nonlinear_part_leaves_compose_without_an_svd():
    src = COMPOSED.replace("op K = mask(keep)", "op K = python(\"numpy:tanh\")")
    assert "`A` is `compose(...)`, which is not linear" in augury.compile(src).methods()["ddrm"]


SHAPES = """
model shapes
data y : real[Y]
DATA
param x : real[8, 8]
x ~ gaussian(0, 1)
op A = OP
y ~ normal(A(x), 0.1)
"""


@pytest.mark.parametrize("op, ydims, data, where, message", [
    ("downsample(3)", "2, 2", "", "8:12", r"`downsample\(3\)` needs an image whose last two axes are multiples of 3 "
                                          r"\(e.g. \(6, 6\)\), got shape \(8, 8\)"),
    ("downsample(0)", "8, 8", "", "7:8", r"the downsampling factor must be a positive integer, got 0"),
    ("downsample(2.5)", "4, 4", "", "7:8", r"the downsampling factor must be a positive integer, got 2.5"),
    ("matrix(M)", "3", "data M : real[3, 60]", "8:12",
     r"`matrix` of shape \(3, 60\) takes inputs of 60 entries, got shape \(8, 8\) \(64 entries\)"),
])
@pytest.mark.parametrize("method", ["ddrm", "dps"])
def test_an_operator_that_cannot_take_the_shape_is_refused_at_its_place(op, ydims, data, where, message, method):
    src = SHAPES.replace("Y", ydims).replace("DATA", data or "# no matrix").replace("OP", op)
    values = {"y": np.ones(tuple(int(d) for d in ydims.split(",")))}
    if data:
        values["M"] = np.ones((3, 60))
    with pytest.raises(AuguryError, match=message) as e:
        augury.compile(src).sample(values, method=method, particles=4, steps=2)
    assert f"<string>:{where}:" in str(e.value)
    if where == "8:12":  # applied at `A(x)`: the note says where `A` is declared
        assert "`A` is declared at 7:1" in str(e.value)


def test_cli_exits_1_without_a_traceback_for_a_misfit_operator(tmp_path, capsys):
    from augury.cli import main
    f = tmp_path / "ds.aug"
    f.write_text(SHAPES.replace("Y", "2, 2").replace("DATA", "# no matrix").replace("OP", "downsample(3)"))
    d = tmp_path / "d.json"
    d.write_text('{"y": [[1, 2], [3, 4]]}')
    assert main(["run", str(f), "--data", str(d), "--method", "ddrm", "--no-progress", "--no-files"]) == 1
    err = capsys.readouterr().err
    assert f"{f}:8:12: error: cannot apply `A` to `x` of shape (8, 8)" in err and "Traceback" not in err
