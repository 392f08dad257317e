"""Post-run diagnostics: each CmdStan-style check fires on the failure it exists for, names the
element or chain, says what to try, and stays silent on healthy draws."""

import logging

import numpy as np
import pytest

from augury.runtime.diagnostics import (ess_of_weights, format_mcmc_warnings, mcmc_checks, mcmc_warnings,
                                        particle_checks, particle_warnings)
from augury.runtime.posterior import _import_arviz


def iid(seed, chains=4, n=1000):
    """Healthy draws of several kinds: scalar, vector, matrix, discrete, bool, constant."""
    rng = np.random.default_rng(seed)
    return {"mu": rng.normal(1.0, 2.0, size=(chains, n)),
            "theta": rng.normal(size=(chains, n, 5)),
            "w": rng.normal(size=(chains, n, 2, 3)).astype(np.float32),
            "k": rng.poisson(3.0, size=(chains, n)).astype(np.int32),
            "flag": rng.random((chains, n)) < 0.5,
            "fixed": np.full((chains, n, 2), 3.0)}


def ar1(seed, phi, chains=4, n=1000, shape=()):
    """Stationary AR(1) chains with unit marginal variance."""
    rng = np.random.default_rng(seed)
    eps = rng.normal(size=(chains, n) + shape) * np.sqrt(1 - phi ** 2)
    x = np.empty_like(eps)
    x[:, 0] = rng.normal(size=(chains,) + shape)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + eps[:, t]
    return x


@pytest.fixture
def arviz_log():
    """Records what ArviZ logs (its own Logger, which also dedups messages: cleared here)."""
    az = _import_arviz()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    saved = az._log.cache
    az._log.cache = []
    az._log.addHandler(handler)
    yield records
    az._log.removeHandler(handler)
    az._log.cache = saved


# ------------------------------------------------------------------ healthy draws

@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_iid_draws_pass_every_check(seed):
    rng = np.random.default_rng(100 + seed)
    out = mcmc_warnings(iid(seed), diverging=np.zeros((4, 1000), bool), energy=rng.normal(size=(4, 1000)),
                        tree_depth=rng.integers(1, 6, size=(4, 1000)), max_tree_depth=10)
    assert out == []


def test_checks_hold_the_numbers_per_variable():
    c = mcmc_checks(iid(0), diverging=np.zeros((4, 1000), bool), energy=np.random.default_rng(5).normal(size=(4, 1000)))
    assert c["chains"] == 4 and c["draws"] == 1000 and c["ess_threshold"] == 400
    assert set(c["max_rhat"]) == {"mu", "theta", "w", "k", "fixed"}  # bool `flag` skipped
    assert 1.0 - 0.01 < c["max_rhat"]["theta"] < 1.01
    assert c["min_ess_bulk"]["mu"] > 2000 and c["min_ess_tail"]["w"] > 2000
    assert np.isnan(c["max_rhat"]["fixed"]) and "fixed[0]" in c["skipped"] and "flag" in c["skipped"]
    assert c["rhat_high"] is None and c["ess_bulk_low"] is None and c["divergences"] == 0
    assert len(c["ebfmi"]) == 4 and all(1.5 < v < 2.5 for v in c["ebfmi"])  # iid energies: about 2


# ------------------------------------------------------------------ R-hat

def test_rhat_names_the_shifted_element():
    draws = iid(1)
    draws["w"] = draws["w"].astype(np.float64)
    draws["w"][2, :, 1, 2] += 1.0  # one chain of one element sits elsewhere
    out = mcmc_warnings(draws)
    assert out[0].startswith("R-hat") and all("w[1,2]" in w for w in out)  # the ESS checks see it too
    head, tip = out[0].split("\n")
    assert head.startswith("R-hat ") and "w[1,2]" in head and "1 of" in head and "chains disagree" in head
    assert tip.startswith("try: ") and "warmup" in tip and not out[0].endswith("\n")
    c = mcmc_checks(draws)
    assert c["rhat_high"]["element"] == "w[1,2]" and c["rhat_high"]["value"] > 1.05
    assert c["max_rhat"]["w"] == pytest.approx(c["rhat_high"]["value"])


def test_rhat_counts_every_failing_element_and_names_the_worst():
    rng = np.random.default_rng(3)
    theta = rng.normal(size=(4, 1000, 6))
    theta[0, :, 1] += 0.5
    theta[0, :, 4] += 2.0
    c = mcmc_checks({"theta": theta})
    assert c["rhat_high"]["element"] == "theta[4]" and c["rhat_high"]["count"] == 2
    assert c["rhat_high"]["checked"] == 6


def test_chains_stuck_at_different_values_fail_rhat_quietly(recwarn):
    k = np.repeat(np.arange(4)[:, None], 500, axis=1)  # each chain constant, chains differ
    out = mcmc_warnings({"k": k})
    assert any(w.startswith("R-hat") and " k " in w for w in out)
    assert not recwarn.list


# ------------------------------------------------------------------ ESS

def test_autocorrelated_chain_fails_bulk_ess():
    draws = {"a": np.random.default_rng(4).normal(size=(4, 1000)),
             "x": np.stack([np.random.default_rng(9).normal(size=(4, 1000)), ar1(5, 0.99)], axis=-1)}
    c = mcmc_checks(draws)
    assert c["ess_bulk_low"]["element"] == "x[1]" and c["ess_bulk_low"]["value"] < 100
    out = [w for w in mcmc_warnings(draws) if w.startswith("bulk ESS")]
    assert len(out) == 1 and "x[1]" in out[0] and "below 400" in out[0]
    assert "thinning does not help" in out[0] and "dense_mass=true" in out[0]


def test_mildly_autocorrelated_chain_passes_ess():
    assert not [w for w in mcmc_warnings({"x": ar1(6, 0.5)}) if "ESS" in w]


# ------------------------------------------------------------------ divergences

def test_divergences_count_and_share():
    div = np.zeros((4, 1000), bool)
    div.flat[np.random.default_rng(7).choice(4000, 12, replace=False)] = True
    out = mcmc_warnings(iid(2), diverging=div)
    assert len(out) == 1
    assert "12 of 4000 transitions (0.3%) ended with a divergence" in out[0]
    assert "target_accept=0.95" in out[0] and "non-centered" in out[0] and "float64" in out[0]


def test_a_single_divergence_keeps_a_nonzero_share():
    div = np.zeros((4, 1000), bool)
    div[1, 5] = True
    assert "1 of 4000 transitions (0.025%)" in mcmc_warnings(iid(2), diverging=div)[0]


# ------------------------------------------------------------------ E-BFMI

def test_ebfmi_names_the_slow_energy_chain():
    rng = np.random.default_rng(8)
    energy = rng.normal(size=(4, 1000))
    energy[1] = np.cumsum(rng.normal(size=1000))  # slowly varying: tiny jumps against a wide spread
    c = mcmc_checks(iid(3), energy=energy)
    assert c["ebfmi"][1] < 0.05 and min(c["ebfmi"][0], c["ebfmi"][2], c["ebfmi"][3]) > 1.0
    out = mcmc_warnings(iid(3), energy=energy)
    assert len(out) == 1 and "E-BFMI below 0.3 in chain(s) 1 (" in out[0]
    assert "chain(s) 1 (0.0" in out[0] and ", 0 (" not in out[0] and "reparameterize" in out[0]


def test_ebfmi_of_a_constant_energy_is_undefined_not_low():
    c = mcmc_checks(iid(3), energy=np.ones((4, 1000)))
    assert all(np.isnan(v) for v in c["ebfmi"]) and format_mcmc_warnings(c) == []


# ------------------------------------------------------------------ tree depth

def test_tree_depth_saturation_share():
    depth = np.full((4, 1000), 4)
    depth[0, :40] = 10
    out = mcmc_warnings(iid(0), tree_depth=depth, max_tree_depth=10)
    assert len(out) == 1 and "40 of 4000 transitions (1.0%) hit the maximum tree depth of 10" in out[0]
    assert "max_tree_depth" in out[0].split("\n")[1]
    assert mcmc_checks(iid(0), tree_depth=depth, max_tree_depth=10)["tree_depth_saturation"] == 0.01


def test_tree_depth_is_not_checked_for_static_hmc_or_below_the_limit():
    depth = np.full((4, 1000), 10)
    assert mcmc_warnings(iid(0), tree_depth=depth, max_tree_depth=10, method="hmc") == []
    assert mcmc_warnings(iid(0), tree_depth=depth, max_tree_depth=12) == []
    assert mcmc_warnings(iid(0), tree_depth=depth - 1) == []  # default limit 10


# ------------------------------------------------------------------ one chain, short runs, odd input

def test_one_chain_is_quiet(recwarn, capfd, arviz_log):
    rng = np.random.default_rng(10)
    draws = {"mu": rng.normal(size=(1, 1000)), "v": rng.normal(size=(1, 1000, 3)),
             "k": rng.integers(0, 3, size=(1, 1000)), "c": np.zeros((1, 1000))}
    out = mcmc_warnings(draws, diverging=np.zeros((1, 1000), bool), energy=rng.normal(size=(1, 1000)))
    assert out == []
    c = mcmc_checks(draws)
    assert np.isfinite(c["max_rhat"]["mu"]) and c["ess_threshold"] == 100
    mcmc_warnings({"mu": rng.normal(size=(1, 3)), "c": np.ones((1, 3))}, energy=np.ones((1, 3)))  # too short
    mcmc_warnings({"mu": rng.normal(size=(4, 2))}, energy=rng.normal(size=(4, 1)))
    assert not recwarn.list and not arviz_log
    assert capfd.readouterr().err == ""


def test_the_quiet_probe_sees_arviz_complain(capfd, arviz_log):
    # the probe above can fail: ArviZ itself logs on a one-chain rank R-hat
    assert np.isnan(_import_arviz().rhat(np.random.default_rng(0).normal(size=(1, 997)), method="rank"))
    assert any("Shape validation failed" in r.getMessage() for r in arviz_log)


def test_one_chain_rhat_compares_the_halves():
    x = np.random.default_rng(11).normal(size=(1, 1000))
    x[0, 500:] += 1.0  # drifts halfway
    out = mcmc_warnings({"x": x})
    assert out and out[0].startswith("R-hat") and "halves of the chain disagree" in out[0]


def test_nonfinite_draws_are_named_and_quiet(recwarn, arviz_log):
    draws = iid(0)
    draws["theta"][1, 7, 2] = np.nan
    out = mcmc_warnings(draws)
    assert len(out) == 1 and "theta[2]" in out[0] and "NaN or inf" in out[0]
    assert not recwarn.list and not arviz_log


def test_mismatched_chain_shapes_are_an_error():
    with pytest.raises(ValueError, match="chains, draws"):
        mcmc_checks({"a": np.zeros((4, 10)), "b": np.zeros((2, 10))})
    with pytest.raises(ValueError, match="shaped"):
        mcmc_checks({"a": np.zeros(10)})


# ------------------------------------------------------------------ weighted runs

def test_ess_of_weights_is_stable_and_exact():
    assert ess_of_weights(np.zeros(500)) == pytest.approx(500)
    assert ess_of_weights(np.array([1e4, 1e4 + np.log(3.0)])) == pytest.approx(16 / 10)
    assert ess_of_weights(np.array([-1e4, -1e4])) == pytest.approx(2)
    assert ess_of_weights(np.array([0.0, -np.inf, -np.inf])) == pytest.approx(1)
    assert ess_of_weights(np.full(3, -np.inf)) == 0.0
    assert np.isnan(ess_of_weights(np.array([0.0, np.nan])))


def test_healthy_weights_pass():
    rng = np.random.default_rng(12)
    assert particle_warnings(rng.normal(0, 0.3, 1000), ess_per_step=rng.uniform(200, 900, 20),
                             resampled=rng.random(20) < 0.5) == []


def test_collapsed_weights_warn():
    lw = np.full(1000, -40.0)
    lw[17] = 0.0
    out = particle_warnings(lw)
    assert len(out) == 1 and "ESS 1.00 of 1000 particles" in out[0] and "more particles" in out[0]
    assert particle_checks(lw)["ess_threshold"] == 10


def test_one_percent_of_a_large_population_is_a_collapse():
    lw = np.full(10000, -np.inf)
    lw[:50] = 0.0  # ESS 50 of 10000: above 1.5, below 1%
    assert particle_warnings(lw) and not particle_warnings(lw[:1000])


def test_a_step_collapse_names_the_step():
    ess = np.array([900.0, 600.0, 300.0, 1.02, 400.0, 1.3])
    out = particle_warnings(np.zeros(1000), ess_per_step=ess, resampled=[0, 0, 0, 1, 0, 0])
    # counted from 1, as the samplers' errors count steps: entry 3 is step 4 of 6
    assert len(out) == 1 and "collapsed at step 4 of 6: ESS 1.02" in out[0] and "resampled" in out[0]
    assert "2 of 6 steps" in out[0] and "step 6 of 6)" in out[0] and "MCMC moves per temperature" in out[0]
    labelled = particle_warnings(ess_per_step=ess, step_label=lambda i: f"t = {i}")
    assert "collapsed at t = 3: ESS 1.02" in labelled[0] and "t = 3, t = 5)" in labelled[0], labelled
    assert particle_warnings(ess_per_step=ess[:3], particles=1000) == []


def test_nan_weights_warn(recwarn):
    lw = np.random.default_rng(13).normal(size=200)
    lw[[4, 9]] = [np.nan, np.inf]
    out = particle_warnings(lw, ess_per_step=[150.0, np.nan])
    assert any("2 of 200 log weights are NaN or +inf" in w for w in out)
    assert any("step 2 of 2: ESS nan" in w for w in out)
    assert not recwarn.list
