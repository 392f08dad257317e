"""Posterior: statistics, diagnostics, summary, I/O round-trips; and the progress reporter."""

import io
import json

import numpy as np
import pytest

from augury.errors import AuguryError
from augury.runtime.posterior import Posterior, load_posterior
from augury.runtime.progress import progress_bar, progress_enabled


@pytest.fixture(scope="module")
def mcmc():
    rng = np.random.default_rng(0)
    return Posterior(
        {"mu": rng.normal(1.0, 2.0, size=(4, 1000)).astype(np.float32),
         "theta": rng.normal(size=(4, 1000, 3)),
         "z": rng.integers(0, 3, size=(4, 1000, 2)).astype(np.int32)},
        chains=4, method="nuts", settings={"warmup": 500, "target_accept": 0.8},
        sample_stats={"diverging": np.arange(4000).reshape(4, 1000) % 1000 == 0, "step_size": np.full(4, 0.3)},
        timing={"sample": 1.5}, warnings=["a warning"], kinds={"mu": "param", "theta": "param", "z": "latent"})


@pytest.fixture(scope="module")
def weighted():
    rng = np.random.default_rng(1)
    return Posterior({"x": rng.normal(size=200), "img": rng.random((200, 1, 8, 8)).astype(np.float32)},
                     log_weights=rng.normal(size=200), log_evidence=-12.5, method="smc",
                     settings={"particles": 200}, sample_stats={"ess_per_step": np.array([200.0, 150.0, 90.0]),
                                                                "resampled": np.array([False, True, True])})


# ------------------------------------------------------------ statistics

def test_samples_mean_sd_match_numpy(mcmc):
    x = mcmc.samples("theta")
    assert x.shape == (4000, 3)
    assert np.array_equal(x, mcmc.draws["theta"].reshape(4000, 3))
    assert mcmc.names == ["mu", "theta", "z"]
    np.testing.assert_allclose(mcmc.mean("theta"), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(mcmc.sd("theta"), x.std(0), rtol=1e-12)
    np.testing.assert_allclose(mcmc.mean("mu"), mcmc.samples("mu").astype(np.float64).mean(), rtol=1e-10)
    np.testing.assert_allclose(mcmc.weights, np.full(4000, 1 / 4000))
    np.testing.assert_allclose(mcmc.quantile("theta", [0.05, 0.5]), np.quantile(x, [0.05, 0.5], axis=0))
    assert mcmc.quantile("mu", 0.5).shape == ()


def test_weighted_mean_sd_closed_form():
    x = np.array([0.0, 1.0, 2.0, 10.0])
    w = np.array([0.1, 0.2, 0.3, 0.4])
    p = Posterior({"x": x}, log_weights=np.log(w) + 3.0)
    np.testing.assert_allclose(p.weights, w)
    m = float(np.sum(w * x))
    np.testing.assert_allclose(p.mean("x"), m)
    np.testing.assert_allclose(p.sd("x"), np.sqrt(np.sum(w * (x - m) ** 2)))
    np.testing.assert_allclose(p.diagnostics["ess"], 1 / np.sum(w ** 2))


def test_weighted_quantiles():
    rng = np.random.default_rng(2)
    # weights tilting a uniform sample into a triangular density 2x on (0, 1): quantile q = sqrt(q)
    x = rng.random(20000)
    p = Posterior({"x": x, "v": np.stack([x, 1 - x], axis=1)}, log_weights=np.log(x))
    np.testing.assert_allclose(p.quantile("x", [0.25, 0.5, 0.81]), np.sqrt([0.25, 0.5, 0.81]), atol=0.01)
    assert p.quantile("v", [0.1, 0.9]).shape == (2, 2)
    # a point mass on one particle
    q = Posterior({"x": np.array([1.0, 5.0, 9.0])}, log_weights=np.array([-np.inf, 0.0, -np.inf]))
    assert q.quantile("x", 0.5) == pytest.approx(5.0)
    assert q.mean("x") == pytest.approx(5.0)


def test_unknown_variable(mcmc):
    with pytest.raises(AuguryError) as e:
        mcmc.samples("thta")
    msg = str(e.value)
    assert "no variable `thta` in this posterior" in msg
    assert "mu, theta, z" in msg and "did you mean `theta`?" in msg


# ------------------------------------------------------------ diagnostics

def test_diagnostics_iid(mcmc):
    d = mcmc.diagnostics
    assert d is mcmc.diagnostics  # cached
    assert set(d["rhat"]) == {"mu", "theta", "z"}
    assert d["rhat"]["theta"].shape == (3,) and d["ess_bulk"]["z"].shape == (2,) and d["ess_tail"]["mu"].shape == ()
    assert abs(d["max_rhat"] - 1) < 0.01
    assert np.all(d["ess_bulk"]["theta"] > 2000)
    assert d["divergences"] == 4


def test_diagnostics_bad_mixing():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 500)) + np.array([0.0, 0.0, 3.0, -3.0])[:, None]
    p = Posterior({"x": x}, chains=4)
    assert p.diagnostics["rhat"]["x"] > 1.1
    assert p.diagnostics["max_rhat"] > 1.1
    assert p.diagnostics["divergences"] == 0


def test_weighted_diagnostics(weighted):
    d = weighted.diagnostics
    assert 0 < d["ess"] < 200
    np.testing.assert_array_equal(d["ess_per_step"], [200.0, 150.0, 90.0])


# ---------------------------------------------------------------- summary

def test_summary_and_repr(mcmc, weighted):
    s = mcmc.summary()
    head = s.splitlines()[0].split()
    assert head == ["mean", "sd", "5%", "50%", "95%", "ess_bulk", "r_hat"]
    rows = {line.split()[0]: line.split()[1:] for line in s.splitlines()[1:]}
    assert set(rows) == {"mu", "theta[0]", "theta[1]", "theta[2]", "z[0]", "z[1]"}
    assert float(rows["mu"][0]) == pytest.approx(float(mcmc.mean("mu")), abs=1e-2)
    assert float(rows["theta[1]"][1]) == pytest.approx(float(mcmc.sd("theta")[1]), rel=1e-2)
    assert mcmc.summary(["mu"]).count("\n") == 1
    r = repr(mcmc)
    assert r.startswith("Posterior: nuts, 4 chains × 1000 draws") and "4 divergences" in r
    w = str(weighted)
    assert "smc" in w and "200 particles" in w and "log evidence -12.5" in w
    assert "ess_bulk" not in w
    assert "… 35 more" in w  # 1 + 64 rows, 30 shown


# -------------------------------------------------------------------- I/O

def _assert_same(a: Posterior, b: Posterior):
    assert a.names == b.names and a.chains == b.chains
    for n in a.names:
        assert a.draws[n].dtype == b.draws[n].dtype and np.array_equal(a.draws[n], b.draws[n]), n
    assert (a.log_weights is None) == (b.log_weights is None)
    if a.log_weights is not None:
        assert np.array_equal(a.log_weights, b.log_weights)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.log_evidence == b.log_evidence and a.method == b.method
    assert a.settings == b.settings and a.kinds == b.kinds and a.timing == b.timing
    assert set(a.sample_stats) == set(b.sample_stats)
    for k, v in a.sample_stats.items():
        assert v.dtype == b.sample_stats[k].dtype and np.array_equal(v, b.sample_stats[k]), k


@pytest.mark.parametrize("suffix", [".nc", ".npz"])
def test_round_trip(mcmc, weighted, tmp_path, suffix):
    for i, p in enumerate([mcmc, weighted, Posterior({"a": np.arange(6.0)})]):
        path = tmp_path / f"p{i}{suffix}"
        p.save(path)
        q = load_posterior(str(path))
        _assert_same(p, q)
    assert load_posterior(tmp_path / f"p0{suffix}").diagnostics["divergences"] == 4


def test_npz_has_no_pickles(mcmc, tmp_path):
    mcmc.save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as f:
        assert "draw/mu" in f.files
        meta = json.loads(str(f["__augury_meta__"]))
    assert meta["method"] == "nuts" and meta["chains"] == 4


def test_to_arviz(mcmc, weighted):
    idata = mcmc.to_arviz()
    assert dict(idata.posterior.sizes)["chain"] == 4 and dict(idata.posterior.sizes)["draw"] == 1000
    assert idata.posterior.attrs["method"] == "nuts"
    assert json.loads(idata.posterior.attrs["settings"]) == {"warmup": 500, "target_accept": 0.8}
    assert "diverging" in idata.sample_stats
    w = weighted.to_arviz()
    assert w.posterior["img"].shape == (1, 200, 1, 8, 8)
    np.testing.assert_array_equal(w.sample_stats["log_weight"].values[0], weighted.log_weights)
    assert w.posterior.attrs["log_evidence"] == -12.5


def test_save_load_errors(mcmc, tmp_path):
    with pytest.raises(AuguryError, match="unknown file type `.csv`"):
        mcmc.save(tmp_path / "p.csv")
    with pytest.raises(AuguryError, match="unknown file type"):
        load_posterior(tmp_path / "p.txt")
    with pytest.raises(AuguryError, match="no such file"):
        load_posterior(tmp_path / "absent.nc")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(AuguryError, match="not an Augury posterior"):
        load_posterior(tmp_path / "foreign.npz")
    (tmp_path / "bad.nc").write_bytes(b"not netcdf")
    with pytest.raises(AuguryError, match="cannot load a posterior"):
        load_posterior(tmp_path / "bad.nc")


def test_plot_draws_what_it_says(mcmc, weighted, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = mcmc.plot(["mu", "theta"])
    trace, dens = fig.axes[0], fig.axes[1]
    assert trace.get_title() == "mu trace" and dens.get_title() == "mu density"
    # one trace line per chain, holding that chain's draws
    assert len(trace.lines) == 4
    np.testing.assert_allclose(trace.lines[2].get_ydata(), mcmc.draws["mu"][2])
    # theta: 4 chains x 3 elements of traces, one histogram per element, with a legend
    assert len(fig.axes[2].lines) == 12 and len(fig.axes[3].patches) == 3
    plt.close(fig)
    fig = weighted.plot(["img"], path=tmp_path / "w.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[-2:] == ["img mean", "img sd"] and sum(t.startswith("img sample") for t in titles) == 4
    mean_img = next(ax for ax in fig.axes if ax.get_title() == "img mean").images[0].get_array()
    np.testing.assert_allclose(np.asarray(mean_img), weighted.mean("img")[0], rtol=1e-5)
    from PIL import Image
    assert Image.open(tmp_path / "w.png").size[0] > 100


def test_plot_without_matplotlib(mcmc, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib.pyplot", None)
    with pytest.raises(AuguryError, match=r"pip install augury\[plot\]"):
        mcmc.plot()


# --------------------------------------------------------------- progress

def test_progress(monkeypatch, capsys):
    monkeypatch.setenv("AUGURY_PROGRESS", "1")
    assert progress_enabled(True) and not progress_enabled(False)
    with progress_bar(10, "sampling", enabled=True) as bar:
        bar.update(4)
        bar.set_postfix(step_size=0.1)
        bar.update(6)
    assert bar.n == 10
    assert "sampling" in capsys.readouterr().err
    monkeypatch.setenv("AUGURY_PROGRESS", "0")
    with progress_bar(10, "quiet", enabled=True) as bar:
        bar.update(3)
        bar.set_postfix(a=1)
    assert not bar.enabled and "quiet" not in capsys.readouterr().err
    monkeypatch.delenv("AUGURY_PROGRESS")
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a TTY
    assert not progress_enabled(True)


# ------------------------------------------------------- per-step stats, atomic save, quiet

def test_per_step_statistics_are_in_the_arviz_sample_stats_group(weighted, tmp_path):
    idata = weighted.to_arviz()
    assert "ess_per_step" in idata.sample_stats and "log_weight" in idata.sample_stats
    np.testing.assert_array_equal(idata.sample_stats["ess_per_step"].values, [200.0, 150.0, 90.0])
    weighted.save(tmp_path / "w.nc")
    back = load_posterior(tmp_path / "w.nc")
    np.testing.assert_array_equal(back.sample_stats["ess_per_step"], [200.0, 150.0, 90.0])
    np.testing.assert_array_equal(back.sample_stats["resampled"], [False, True, True])
    np.testing.assert_allclose(back.log_weights, weighted.log_weights)


@pytest.mark.parametrize("suffix", [".nc", ".npz"])
def test_a_save_that_fails_midway_keeps_the_previous_file(mcmc, tmp_path, monkeypatch, suffix):
    path = tmp_path / f"post{suffix}"
    mcmc.save(path)
    before = path.read_bytes()

    def broken(self, p, s):
        with open(p, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")
    monkeypatch.setattr(Posterior, "_write", broken)
    with pytest.raises(OSError, match="disk full"):
        mcmc.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left behind
    monkeypatch.undo()
    np.testing.assert_array_equal(load_posterior(path).samples("mu"), mcmc.samples("mu"))


def test_one_chain_and_non_finite_draws_are_quiet(capfd):
    import warnings
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 200, 2))
    x[0, 5, 1] = np.nan
    post = Posterior({"x": x, "c": np.ones((1, 200))}, chains=1, method="nuts")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy RuntimeWarning would fail here
        text = str(post)
        post.diagnostics
    out, err = capfd.readouterr()
    assert "Shape validation failed" not in out + err and "x[1]" in text


def test_one_chain_r_hat_compares_its_halves():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 1000, 2))
    x[0, 500:, 0] += 2.0  # the chain moved halfway: its halves disagree
    rhat = Posterior({"x": x}, chains=1).diagnostics["rhat"]["x"]
    assert rhat[0] > 1.1 and abs(rhat[1] - 1) < 0.01


def test_particle_stats_are_per_step_even_when_as_many_as_particles():
    # three particles, three tempering steps: the temperatures are per step, not per particle
    post = Posterior({"x": np.arange(3.0)}, log_weights=np.zeros(3),
                     sample_stats={"temperature": np.array([0.2, 0.6, 1.0])})
    idata = post.to_arviz()
    assert idata.sample_stats["temperature"].dims == ("temperature_dim_0",)


def test_the_summary_lists_params_before_lets():
    post = Posterior({"rate": np.ones((50, 40)), "s": np.arange(50), "early": np.zeros(50)},
                     kinds={"rate": "let", "s": "param", "early": "param"})
    rows = [line.split()[0] for line in str(post).splitlines()[2:4]]
    assert rows == ["s", "early"]  # a change point is not hidden behind a long let


def test_the_header_says_how_many_components():
    k = np.array([[3] * 80 + [4] * 20])  # (chains, draws)
    post = Posterior({"mu": np.zeros((1, 100))}, chains=1, sample_stats={"num_components": k})
    assert "3 components (posterior probability 0.80; 3–4 in 90%)" in str(post).splitlines()[0]
    r = np.zeros((10, 5))
    r[:6, 0], r[6:, 2], r[0, 4] = 1.0, 1.0, 0.0
    post = Posterior({"mu": np.zeros(20)}, sample_stats={"responsibilities": r})
    assert "2 components occupied" in str(post).splitlines()[0]


def test_a_notebook_shows_the_summary_as_a_table():
    post = Posterior({"mu": np.arange(100.0), "x": np.ones((100, 40))}, kinds={"mu": "param", "x": "param"})
    page = post._repr_html_()
    assert page.startswith("<p><b>Posterior: unknown method, 100 draws</b></p><table>")
    assert "<th>mu</th><td>49.5</td>" in page and "<th>x[28]</th>" in page and "<th>x[29]</th>" not in page
    assert "11 more rows" in page and page.count("<tr>") == 31  # the header and 30 rows


def test_a_notebook_kernel_gets_a_bar(monkeypatch):
    import sys
    import types

    from augury.runtime import progress

    class ZMQInteractiveShell:  # what a Jupyter kernel's get_ipython() returns
        pass

    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: ZMQInteractiveShell()
    monkeypatch.delenv("AUGURY_PROGRESS", raising=False)
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert progress.in_notebook() and progress_enabled(True) and not progress_enabled(False)
    fake.get_ipython = lambda: None  # IPython imported, no kernel
    assert not progress.in_notebook()
