"""Imported before any test module: `import augury` first, so that its XLA CPU workaround (see
augury/__init__.py) is in force before a test module starts JAX.

Under CI (`CI=true`, as `.ci/run` sets) a skipped test is reported as a failure: CI installs every
extra the tests need (PyTorch, mpmath, hypothesis) and has `../shared/posteriordb`, so a skip there
means something is missing, not optional."""

import os
import signal
import tempfile

import pytest

# XLA compilation is most of the suite's time (a test file run twice takes a third as long the
# second time), and many tests and CLI subprocesses compile the same programs: share them through
# JAX's persistent cache (keyed by program, JAX version, flags and device; results unchanged).
# Set before JAX starts, in this process and the children that inherit the environment.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), f"augury-tests-xla-cache-{getattr(os, 'getuid', lambda: 0)()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2 << 30))  # least recently used go first

import augury  # noqa: F401,E402

# A suite started as a background job of a non-interactive shell inherits SIGINT ignored, and so
# would its subprocesses; the Ctrl-C tests need Python's own handler (a handler, unlike SIG_IGN,
# is reset to the default in a child, whose Python then installs its own again).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# The slow tests CI leaves out (they become `extended`, beside those marked so in their files), to
# keep `.ci/run` within 15 minutes on 2 cores: a cold slow tier took 914 s of the 15 minutes' 900
# (1744 s of test time; these are 1060 s of it).  Each repeats, at a larger size or for another
# method, what a default-tier or CI slow test checks; `pytest -m extended` runs them.  A prefix of
# a test id: every slow test it starts names.
CI_LEAVES_OUT = (
    # mixtures: the default tier has gibbs's and vi's exact tests, CI's slow tier split_merge's (niw)
    "tests/runtime/samplers/test_split_merge.py::test_vmf_fixed_concentration",
    "tests/runtime/samplers/test_split_merge.py::test_known_covariance_gaussian",
    "tests/runtime/samplers/test_split_merge.py::test_observed_labels_on_two_points",
    "tests/runtime/samplers/test_em_vi.py::",
    "tests/runtime/samplers/test_gibbs.py::",
    "tests/runtime/samplers/test_mixture_models.py::",
    "tests/runtime/mixtures/test_conjugate.py::test_weights_dirichlet_and_stick_breaking",
    "tests/runtime/mixtures/test_conjugate.py::test_prototype_weights_factorize",
    "tests/runtime/test_sbc.py::",  # real methods under SBC; the default tier tests SBC itself
    # the ensemble: its exact tests are in the default tier
    "tests/runtime/samplers/test_ensemble.py::test_the_weighted_ensemble_converges_at_the_monte_carlo_rate",
    "tests/runtime/samplers/test_ensemble.py::test_more_probes_and_other_noise_processes",
    "tests/runtime/samplers/test_ensemble.py::test_teleport_stays_exact_on_a_gaussian_prior[ode]",
    "tests/runtime/samplers/test_ensemble.py::test_best_returns_the_highest_weight_particle",
    "tests/runtime/samplers/test_ensemble.py::test_networks_in_jax_and_torch",
    "tests/runtime/samplers/test_mcgdiff.py::test_networks_in_jax_and_torch",  # tds's runs in CI
    # options beside the defaults the tiers test: mcgdiff's paper potentials, tds's Tweedie variance
    "tests/runtime/samplers/test_mcgdiff.py::test_the_papers_potentials_on_two_modes",
    "tests/runtime/samplers/test_tds.py::test_the_tweedie_twist_variance_is_the_priors_on_a_gaussian_prior",
    "tests/runtime/samplers/test_tds.py::test_the_tweedie_twist_variance_on_two_modes[null_space]",  # measured: in CI
    "tests/runtime/samplers/test_tds.py::test_networks_in_jax_and_torch[jax-tweedie",
    "tests/runtime/samplers/test_tds.py::test_networks_in_jax_and_torch[torch-tweedie",
    "tests/runtime/samplers/test_ensemble.py::test_the_rescaled_likelihood_is_exact_on_a_gaussian_prior",  # two modes in CI
    "tests/runtime/samplers/test_ensemble.py::test_when_the_modes_lie_apart_along_measured_directions[ode]",  # sde's in CI
    # the CLI's SIGKILL-and-resume (53 s on 2 cores): the default tier resumes from a checkpoint
    # (test_checkpoints.py), and CI sends Ctrl-C to nuts and the particle filter
    "tests/cli/test_resume_cli.py::test_sigint_and_sigkill_then_resume_give_the_uninterrupted_draws",
    "tests/runtime/samplers/test_diffusion.py::test_each_method_beats_the_prior[p",  # ddrm's runs in CI
    "tests/runtime/samplers/test_diffusion.py::test_each_method_beats_the_prior[dps",
    # Ctrl-C per family: the default tier sends it to nuts and the particle filter's smoothing
    "tests/cli/test_ctrl_c.py::test_every_method_family_stops_on_ctrl_c",
    "tests/runtime/test_particle_reverse.py::test_an_interrupt_keeps_the_weighted_particles_and_withholds_the_evidence[tds]",
    "tests/runtime/test_checkpoints.py::test_the_particle_filter_resumes_to_the_same_paths",
    "tests/runtime/test_fault_matrix.py::test_a_likelihood_of_zero_at_one_time_is_named_with_the_time_by_pmmh_and_smc2[smc2",
    "tests/runtime/test_fault_matrix.py::test_weight_collapse_at_an_outlier_is_said_by_pmmh_and_smc2_with_the_time[pmmh",
    # posteriordb: three in the default tier, arK and low_dim_gauss_mix in CI's slow tier
    "tests/conformance/test_posteriordb.py::test_posteriordb[hmm_example",
    "tests/conformance/test_posteriordb.py::test_posteriordb_slow",
    "tests/conformance/test_posteriordb.py::test_posteriordb_smc",
    "tests/runtime/samplers/test_smc_models.py::test_a_laplace_reference",
    "tests/runtime/samplers/test_smc_models.py::test_an_improper_flat_prior",
    "tests/runtime/samplers/test_smc_models.py::test_nuts_and_smc_target_the_truncated_prior",
    "tests/runtime/samplers/test_smc.py::test_same_results_on_one_and_four_devices",  # the filter's runs in CI
    "tests/runtime/samplers/test_nuts.py::test_vectorized_chains_give_the_sequential_draws",
    "tests/runtime/samplers/test_particle_filter.py::test_sample_through_the_driver",
    "tests/runtime/samplers/test_particle_filter.py::test_single_run_log_evidence_sd",
    "tests/cli/test_cli.py::test_particle_diffusion_methods_run_from_the_cli",
    "tests/runtime/test_posterior_predictive.py::test_loaded_posterior_and_weighted_posterior",
    "tests/runtime/test_posterior_predictive.py::test_missing_elements_are_left_out_of_the_terms",
    "tests/runtime/samplers/test_particle_filter.py::test_2d_bootstrap_and_optimal_match_kalman",
    "tests/runtime/test_schedules.py::test_forward_sde_matches_marginals[ve]",  # vp's runs in CI
    "tests/runtime/test_schedules.py::test_forward_sde_matches_marginals[edm]",
    # the docs pages' Python blocks (270 s of a cold run's test time, mostly compiling): CI runs the
    # pages' `augury` commands (in process), compiles every ```augury block and parses every ```python one
    "tests/docs/test_docs_code.py::test_python_blocks_of_a_page_run_in_order",
)


# Default-tier tests that took 5 s or more each in a cold `.ci/run` (2026-12-06): `slow`, so that the
# README's test command stays near 5 minutes on 2 cores; CI's slow tier runs them.
SLOW_BY_MEASURE = (
    "tests/cli/test_ctrl_c.py::test_nuts_keeps_the_draws_made",
    "tests/runtime/samplers/test_nuts.py::test_nuts_matches_the_conjugate_normal_posterior",
    "tests/cli/test_cli.py::test_particle_diffusion_methods_run_from_the_cli[ensemble]",
    "tests/runtime/samplers/test_gibbs.py::test_collapsed_dp_known_covariance_matches_the_enumerated_posterior",
    "tests/compiler/test_dims.py::test_to_arviz_has_observed_data_and_the_models_dims",
    "tests/runtime/samplers/test_diffusion.py::test_pigdm_is_exact_for_a_gaussian_prior",
    "tests/runtime/samplers/test_particle_filter.py::test_ar1_log_evidence_filtering_and_smoothing_match_kalman",
    "tests/cli/test_cli.py::test_the_main_job_writes_the_figure_and_the_posterior",
    "tests/runtime/samplers/test_diffusion.py::test_pc_matches_the_exact_gaussian_posterior[100]",
    "tests/runtime/samplers/test_smc.py::test_beta_binomial_with_logit_jacobian_through_sample",
    "tests/cli/test_cli.py::test_run_with_settings_and_save",
    "tests/cli/test_cli.py::test_warnings_come_last",
    "tests/cli/test_ctrl_c.py::test_nuts_stopped_while_compiling_exits_130_at_once",
    "tests/conformance/test_posteriordb.py::test_posteriordb[eight_schools-eight_schools_noncentered]",
    "tests/runtime/mixtures/test_conjugate.py::test_vmf_posterior_draws_have_the_mean_resultant_of_their_concentration",
    "tests/runtime/samplers/test_prior.py::test_the_truncation_normalizer_makes_the_log_prior_the_density_prior_draws_come_from",
    "tests/runtime/samplers/test_particle_filter.py::test_ffbs_runs_in_blocks_and_ctrl_c_during_smoothing_keeps_the_filter",
    "tests/runtime/samplers/test_mcgdiff.py::test_noiseless_evidence_on_a_gaussian_prior",
    "tests/compiler/test_index_check.py::test_exactly_the_models_with_an_out_of_range_index_are_refused",
    "tests/runtime/samplers/test_em_vi.py::test_vi_known_covariance_single_component_is_the_exact_posterior",
    "tests/compiler/test_state_space.py::test_a_nonlinear_transition_mean_still_takes_the_optimal_proposal",
    "tests/runtime/samplers/test_smc.py::test_linear_regression_evidence",
    "tests/runtime/test_oracle.py::test_mixture_against_grid_quadrature",
    "tests/runtime/test_analytic_scores.py::test_tweedie_mean_is_the_oracle_posterior_mean[full]",
    "tests/runtime/samplers/test_driver.py::test_names_bound_from_python_work_wherever_a_value_may_appear",
    "tests/runtime/samplers/test_diffusion_checks.py::test_draws_are_the_unbounded_draws_projected_onto_the_bounds[ddrm]",
    "tests/runtime/samplers/test_smc.py::test_normal_normal_evidence_and_moments",
    "tests/runtime/samplers/test_prior.py::test_bounds_that_read_another_parameter_truncate_exactly",
)

# Default-tier tests of 5 s or more that repeat what CI's tiers check (another seed, size or
# variant of a tested case): `extended`, to keep CI within 15 minutes.
EXTENDED_BY_MEASURE = (
    "tests/conformance/test_posteriordb.py::test_posteriordb[kidiq-kidscore_momiq]",
    "tests/conformance/test_posteriordb.py::test_posteriordb[sblri-blr]",
    "tests/runtime/test_particle_reverse.py::test_an_interrupt_keeps_the_weighted_particles_and_withholds_the_evidence[ensemble]",
    "tests/runtime/samplers/test_ensemble.py::test_teleport_stays_exact_on_a_gaussian_prior[sde]",
    "tests/runtime/samplers/test_smc.py::test_a_log_likelihood_beyond_float_resolution_is_refused[1e+20-True]",
    "tests/runtime/samplers/test_smc.py::test_a_log_likelihood_beyond_float_resolution_is_refused[100000000.0-False]",
    "tests/runtime/samplers/test_prior.py::test_flat_on_a_finite_discrete_support_is_uniform_there",
    "tests/runtime/samplers/test_prior.py::test_discrete_unknowns_and_flat_on_a_compact_support",
    "tests/runtime/test_draws.py::test_parameters_broadcast_against_the_batch_shape",
    "tests/runtime/test_draws.py::test_mixture_draw_moments",
    "tests/runtime/samplers/test_diffusion.py::test_teleport_starts_from_the_gaussian_posterior",
    "tests/dsl/test_fuzz.py::test_generated_models_compile_or_say_where",
    "tests/runtime/samplers/test_smc.py::test_cauchy_prior_asymmetric_likelihood_issue_914",
)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config, items):
    """A test in SLOW_BY_MEASURE is `slow`; a slow test CI leaves out (CI_LEAVES_OUT) and a test
    in EXTENDED_BY_MEASURE are `extended`; an `extended` test is also `slow`, so that the default
    tier never runs it."""
    for item in items:
        if item.get_closest_marker("slow") is not None and item.nodeid.startswith(CI_LEAVES_OUT):
            item.add_marker(pytest.mark.extended)
        elif item.nodeid in SLOW_BY_MEASURE:  # (after: CI runs these, whatever their file's table entry)
            item.add_marker(pytest.mark.slow)
        elif item.nodeid in EXTENDED_BY_MEASURE:
            item.add_marker(pytest.mark.extended)
        if item.get_closest_marker("extended") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a skip in CI hides a missing install or file): {reason}"
