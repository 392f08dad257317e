"""Checkpoints and resuming (runtime/checkpoints.py): a run stopped midway by Ctrl-C (here: the
n-th `interrupts.check()` raises KeyboardInterrupt, where a real SIGINT is taken) writes its
checkpoint, and `resume=` continues it to draws *identical* to an uninterrupted run with the same
seed, for each loop: the driver's (prior; smc, slow), NUTS's blocks (in warmup and in sampling),
the diffusion blocks (ensemble; dps, slow), the particle filter, gibbs, em, split_merge and vi
(slow).  A resume of another run (seed,
settings, data, model, method) is refused naming what differs; a missing or damaged file is a
clear error; methods without checkpoints say so.  tests/cli/test_resume_cli.py kills `augury run`
for real (SIGINT, SIGKILL)."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import augury
from augury.errors import AuguryError
from augury.runtime import checkpoints, interrupts
from mixture_models import gaussian_mixture

sys.path.insert(0, str(Path(__file__).resolve().parent / "samplers"))
from two_modes import DATA as TWO_MODES_DATA, SOURCE as TWO_MODES  # noqa: E402

NORMAL = ("data y : real[N]\nparam mu : real\nparam s : positive\n"
          "mu ~ normal(0, 10)\ns ~ lognormal(0, 1)\ny ~ normal(mu, s)\n")
DATA = {"y": np.array([1.0, 2.0, 0.5, 1.5])}
MIXTURE = gaussian_mixture(3)
DP_MIXTURE = gaussian_mixture(10, dirichlet_process=True)
CHAIN = ("data y : real[T]\nparam x : real[T]\nx[0] ~ normal(0, 1)\n"
         "for t in range(1, T) { x[t] ~ normal(0.9 * x[t - 1], 0.5) }\nfor t in range(T) { y[t] ~ normal(x[t], 1.0) }\n")
NUTS = dict(warmup=60, samples=60, chains=2)  # blocks of 6 iterations: 20 checks


def _mixture_data():
    rng = np.random.default_rng(0)
    return {"X": np.concatenate([rng.normal(size=(10, 2)) + c for c in [[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]]])}


def stop_at(monkeypatch, n: int) -> None:
    """Ctrl-C taken at the n-th check between blocks (as a real SIGINT is: runtime/interrupts.py)."""
    calls = []

    def check():
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
    monkeypatch.setattr(interrupts, "check", check)


def stopped_then_resumed(model, data, method, path, monkeypatch, n, **settings):
    """(the interrupted posterior or None when nothing was kept, the resumed posterior)."""
    stop_at(monkeypatch, n)
    try:
        part = model.sample(data, method=method, seed=3, checkpoint=path, **settings)
    except KeyboardInterrupt:  # stopped before a draw was kept (NUTS in warmup): the checkpoint has it
        part = None
    monkeypatch.undo()
    assert path.is_file()
    return part, model.sample(data, method=method, seed=3, resume=path, **settings)


def assert_same(a, b) -> None:
    assert sorted(a.names) == sorted(b.names)
    for v in a.names:
        np.testing.assert_array_equal(a.samples(v), b.samples(v), err_msg=v)
    for k, v in a.sample_stats.items():
        np.testing.assert_array_equal(v, b.sample_stats[k], err_msg=k)
    if a.log_weights is not None:
        np.testing.assert_array_equal(a.log_weights, b.log_weights)
    assert a.log_evidence == b.log_evidence
    assert not b.interrupted


@pytest.fixture(scope="module")
def normal():
    return augury.compile(NORMAL)


@pytest.fixture(scope="module")
def nuts_full(normal):
    return normal.sample(DATA, method="nuts", seed=3, **NUTS)


# --------------------------------------------------------------------------- each loop


def test_the_driver_loop_resumes_to_the_same_draws(normal, tmp_path, monkeypatch):
    full = normal.sample(DATA, method="prior", seed=3, samples=3000)  # 3 steps of 1000 draws
    part, resumed = stopped_then_resumed(normal, DATA, "prior", tmp_path / "p.npz", monkeypatch, 2, samples=3000)
    assert part.interrupted and part.samples("mu").shape == (2000,)
    assert any("resume with" in w for w in part.warnings)
    assert resumed.timing["resumed_at_step"] == 2
    assert_same(full, resumed)


@pytest.mark.slow  # NUTS compiles for 6 s; the default tier resumes the driver loop and prior
@pytest.mark.parametrize("n", [4, 15])  # in warmup (nothing kept yet), in sampling
def test_nuts_resumes_to_the_same_draws_from_warmup_or_sampling(normal, nuts_full, tmp_path, monkeypatch, n):
    part, resumed = stopped_then_resumed(normal, DATA, "nuts", tmp_path / "n.npz", monkeypatch, n, **NUTS)
    header, _ = checkpoints.read(tmp_path / "n.npz")
    assert header["step"] == 6 * n and header["interrupted"] and header["kind"] == "nuts"
    assert (part is None) == (6 * n <= NUTS["warmup"])
    assert_same(nuts_full, resumed)


def test_periodic_checkpoints_and_a_run_resumed_from_one(normal, nuts_full, tmp_path):
    """`checkpoint_every` writes at the first block boundary past each multiple (a run killed
    there resumes from it); writing changes nothing in the draws."""
    path = tmp_path / "every.npz"
    seen = []
    real_save = checkpoints.Checkpoint.save

    def save(self, step, *a, **k):
        seen.append(step)
        real_save(self, step, *a, **k)
    checkpoints.Checkpoint.save = save
    try:
        post = normal.sample(DATA, method="nuts", seed=3, checkpoint=path, checkpoint_every=25, **NUTS)
    finally:
        checkpoints.Checkpoint.save = real_save
    assert seen == [30, 54, 78, 102]  # blocks of 6 iterations; the last boundary past 100
    assert_same(nuts_full, post)
    assert_same(nuts_full, normal.sample(DATA, method="nuts", seed=3, resume=path, **NUTS))  # from 102


@pytest.mark.extended
def test_the_diffusion_blocks_resume_to_the_same_weighted_particles(tmp_path, monkeypatch):
    model = augury.compile(TWO_MODES)
    full = model.sample(TWO_MODES_DATA, method="ensemble", seed=3, particles=100, steps=40)
    part, resumed = stopped_then_resumed(model, TWO_MODES_DATA, "ensemble", tmp_path / "e.npz", monkeypatch, 3,
                                         particles=100, steps=40)
    assert part.interrupted and part.log_evidence is None
    assert_same(full, resumed)
    assert np.isfinite(resumed.log_evidence)


@pytest.mark.slow  # 8 s each
@pytest.mark.parametrize("method", ["dps", "tds"])
def test_a_pytorch_network_run_resumes_to_the_same_draws(method, tmp_path, monkeypatch):
    """The PyTorch backend's carry (tensors, restored onto their device) and its torch.Generator
    (saved as its state) go into the checkpoint: the resumed run equals the uninterrupted one.
    (It refused checkpoints before.)"""
    pytest.importorskip("torch")
    from exact_networks import masked_model, torch_gaussian_eps
    rng = np.random.default_rng(0)
    mean = 0.5 * rng.normal(size=(4, 4))
    keep = (np.arange(16).reshape(4, 4) % 2).astype(float)
    data = {"y": keep * (mean + 0.5 * rng.normal(size=(4, 4))), "keep": keep}
    model = augury.compile(masked_model(0.1), bind={"unet": torch_gaussian_eps(mean, 0.3)})
    settings = dict(particles=16, steps=30)
    full = model.sample(data, method=method, seed=3, **settings)
    assert full.settings.get("backend", "torch") == "torch"
    part, resumed = stopped_then_resumed(model, data, method, tmp_path / "t.npz", monkeypatch, 2, **settings)
    assert part.interrupted
    assert_same(full, resumed)


@pytest.mark.extended
@pytest.mark.parametrize("method,settings,n", [
    ("smc", dict(particles=200), 3),
    ("dps", dict(particles=50, steps=40), 3),
])
def test_smc_and_dps_resume_to_the_same_draws(method, settings, n, normal, tmp_path, monkeypatch):
    model, data = (normal, DATA) if method == "smc" else (augury.compile(TWO_MODES), TWO_MODES_DATA)
    full = model.sample(data, method=method, seed=3, **settings)
    part, resumed = stopped_then_resumed(model, data, method, tmp_path / "c.npz", monkeypatch, n, **settings)
    assert part.interrupted
    assert_same(full, resumed)


@pytest.mark.extended
@pytest.mark.parametrize("method,settings,n", [
    ("gibbs", dict(sweeps=40, warmup=20, chains=2), 4),
    ("em", dict(restarts=3, iterations=50, tol=1e-12), 3),  # in the second restart
])
def test_the_mixture_loops_resume_to_the_same_draws(method, settings, n, tmp_path, monkeypatch):
    model, data = augury.compile(MIXTURE), _mixture_data()
    full = model.sample(data, method=method, seed=3, **settings)
    part, resumed = stopped_then_resumed(model, data, method, tmp_path / "m.npz", monkeypatch, n, **settings)
    assert part.interrupted
    assert_same(full, resumed)


@pytest.mark.extended
@pytest.mark.parametrize("method,settings,n", [
    ("split_merge", dict(sweeps=20, warmup=10, chains=2), 4),  # segments of 3 iterations: 2 draws kept
    ("vi", dict(iterations=200), 14),  # in the delete moves: the third component tried, after two accepted
])
def test_split_merge_and_vi_resume_to_the_same_draws(method, settings, n, tmp_path, monkeypatch):
    model, data = augury.compile(DP_MIXTURE), _mixture_data()
    full = model.sample(data, method=method, seed=3, **settings)
    part, resumed = stopped_then_resumed(model, data, method, tmp_path / "m.npz", monkeypatch, n, **settings)
    assert part.interrupted
    header, arrays = checkpoints.read(tmp_path / "m.npz")
    if method == "vi":  # stopped in a delete move with two deletions accepted: the resume goes on from there
        assert int(arrays["extra_stage"]) == 1 and arrays["extra_deletions"].shape == (2, 3)
    assert_same(full, resumed)


@pytest.mark.slow
def test_the_particle_filter_resumes_to_the_same_paths(tmp_path, monkeypatch):
    model, data = augury.compile(CHAIN), {"y": np.sin(np.arange(120) / 10.0)}
    settings = dict(particles=200)
    full = model.sample(data, method="particle_filter", seed=3, **settings)
    part, resumed = stopped_then_resumed(model, data, "particle_filter", tmp_path / "f.npz", monkeypatch, 2,
                                         **settings)
    assert part.interrupted and part.log_evidence is None
    assert checkpoints.read(tmp_path / "f.npz")[0]["step"] == 101  # blocks of 50 steps after x[0]
    assert_same(full, resumed)
    assert np.isfinite(resumed.log_evidence)


# --------------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def saved(normal, tmp_path_factory):
    """A checkpoint of prior sampling (seed 3, 3000 draws), stopped after its first step."""
    path = tmp_path_factory.mktemp("ck") / "prior.npz"
    real = interrupts.check

    def check():
        raise KeyboardInterrupt
    interrupts.check = check
    try:
        normal.sample(DATA, method="prior", seed=3, samples=3000, checkpoint=path)
    finally:
        interrupts.check = real
    return path


@pytest.mark.parametrize("change,said", [
    (dict(seed=4), "the seed differs (3 in the checkpoint, 4 now)"),
    (dict(samples=4000), "the settings differ: `samples` (3000 in the checkpoint, 4000 now)"),
    (dict(data={"y": np.array([1.0, 2.0, 0.5, 1.6])}), "the data differ"),
    (dict(method="smc"), "the method differs ('prior' in the checkpoint, 'smc' now)"),
    (dict(precision="float32"), "the precision differs ('float64' in the checkpoint, 'float32' now)"),
])
def test_a_resume_of_another_run_is_refused_naming_what_differs(normal, saved, change, said):
    args = dict(data=DATA, method="prior", seed=3, samples=3000, resume=saved)
    if change.get("method") == "smc":
        args.pop("samples")
    args.update(change)
    with pytest.raises(AuguryError) as e:
        normal.sample(**args)
    assert f"cannot resume from `{saved}`: it is a checkpoint of another run: {said}" in str(e.value)


def test_another_model_is_refused(saved):
    other = augury.compile(NORMAL.replace("normal(0, 10)", "normal(0, 5)"))
    with pytest.raises(AuguryError, match="the model \\(file text or consts\\) differs"):
        other.sample(DATA, method="prior", seed=3, samples=3000, resume=saved)


def test_missing_and_damaged_checkpoints_are_clear_errors(normal, saved, tmp_path):
    def resume(path):
        with pytest.raises(AuguryError) as e:
            normal.sample(DATA, method="prior", seed=3, samples=3000, resume=path)
        return str(e.value)
    assert f"no checkpoint `{tmp_path / 'none.npz'}` to resume" in resume(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(saved.read_bytes()[:200])  # cut short, as a full disk would
    assert f"the checkpoint `{bad}` cannot be read: it is damaged or not an Augury checkpoint" in resume(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    assert "cannot be read" in resume(foreign) and "no Augury checkpoint header" in resume(foreign)
    pickled = tmp_path / "pickled.npz"  # an object array would need a pickle: never loaded
    with zipfile.ZipFile(saved) as z, zipfile.ZipFile(pickled, "w") as out:
        for name in z.namelist():
            if name != "state_0.npy":
                out.writestr(name, z.read(name))
        buf = __import__("io").BytesIO()
        np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        out.writestr("state_0.npy", buf.getvalue())
    assert "cannot be read" in resume(pickled)
    assert "folder" in resume(tmp_path)


def test_bad_requests_are_refused_before_binding(normal, tmp_path):
    with pytest.raises(AuguryError, match="`tweedie` has no checkpoints yet"):  # (the one method without)
        checkpoints.request(tmp_path / "v.npz", None, None, {"method": "tweedie"})
    with pytest.raises(AuguryError, match="`checkpoint_every` needs `checkpoint`"):
        normal.sample(DATA, method="prior", checkpoint_every=5)
    with pytest.raises(AuguryError, match="`checkpoint_every` must be a positive integer"):
        normal.sample(DATA, method="prior", checkpoint=tmp_path / "c.npz", checkpoint_every=0)
    with pytest.raises(AuguryError, match="`resume=True` resumes from `checkpoint`"):
        normal.sample(DATA, method="prior", resume=True)
    with pytest.raises(AuguryError, match="no folder"):
        normal.sample(DATA, method="prior", checkpoint=tmp_path / "nope" / "c.npz")


# --------------------------------------------------------------------------- the file


def test_the_file_round_trips_keys_weak_types_and_bfloat16_without_pickles(tmp_path):
    state = {"key": jax.random.key(7), "raw": jax.random.PRNGKey(1), "bf": jnp.arange(3, dtype=jnp.bfloat16),
             "weak": jnp.asarray(2.5) * 1, "n": jnp.int32(4)}
    assert state["weak"].weak_type
    ident = {"augury": "x", "format": 1, "method": "m", "model": "a", "data": "b", "settings": {}, "seed": 0,
             "precision": "float32"}
    ck = checkpoints.Checkpoint(path=tmp_path / "s.npz", every=None, identity=ident)
    ck.start("test")
    ck.save(5, state, [{"a": np.ones(2), "b": {}}, {"a": np.zeros(2), "b": {}}], extra={"r": np.int64(1)})
    header, arrays = checkpoints.read(tmp_path / "s.npz")
    json.dumps(header)
    back = checkpoints.Resumed(header["step"], header, arrays, tmp_path / "s.npz")
    got = back.state(jax.tree.map(lambda x: x, state))
    assert jnp.issubdtype(got["key"].dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(jax.random.key_data(got["key"]), jax.random.key_data(state["key"]))
    assert got["bf"].dtype == jnp.bfloat16 and got["weak"].weak_type and not got["n"].weak_type
    np.testing.assert_array_equal(np.asarray(got["bf"], np.float32), [0, 1, 2])
    assert back.infos()[1]["a"].tolist() == [0, 0] and back.infos()[0]["b"] == {} and back.extra["r"] == 1
    with pytest.raises(AuguryError, match="does not fit this run: state array"):
        back.state({**state, "n": jnp.zeros(2, jnp.int32)})
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed over the checkpoint
