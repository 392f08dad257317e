"""The sampler registry and the shared driver: dispatch, NaN stops, interrupts, seeds, precision."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import augury
from augury.dsl.signatures import METHODS
from augury.runtime.samplers import SAMPLERS, SamplerEntry, driver
from augury.runtime.samplers.protocol import Draws, Problem

NORMAL = "data y : real[N]\nparam mu : real\nmu ~ normal(0, 10)\ny ~ normal(mu, 2)\n"


def test_the_registry_drives_the_method_table():
    assert set(SAMPLERS) <= set(METHODS)
    table = augury.compile(NORMAL).methods()
    for m, reason in table.items():
        if m not in SAMPLERS:
            assert reason is not None  # not implemented (or does not apply)
    assert table["nuts"] is None and table["hmc"] is None and table["prior"] is None and table["smc"] is None
    assert all(reason is not None for m, reason in table.items() if m not in SAMPLERS)


class CountingSampler:
    """A BlackJAX-style module: the state counts; `info` holds x = 1 / (3 - step)."""

    nan_at = 3
    interrupt_at = None

    @staticmethod
    def build(problem, settings):
        def init(key):
            return jnp.zeros((), jnp.float32)

        def step(state, key):
            x = jnp.where(state + 1 == CountingSampler.nan_at, jnp.nan, state)
            return state + 1, {"x": x}
        return init, step

    @staticmethod
    def num_steps(settings):
        return settings["steps"]

    @staticmethod
    def finalize(problem, state, infos, settings):
        xs = np.array([float(i["x"]) for i in infos])
        return Draws({"x": xs}, chains=None, settings=dict(settings))


@pytest.fixture
def counting(monkeypatch):
    import sys
    import types
    mod = types.ModuleType("augury_test_counting")
    for k in ("build", "num_steps", "finalize"):
        setattr(mod, k, getattr(CountingSampler, k))
    monkeypatch.setitem(sys.modules, "augury_test_counting", mod)
    monkeypatch.setitem(SAMPLERS, "counting", SamplerEntry("counting", "augury_test_counting"))
    return mod


def test_the_driver_stops_on_nan_naming_the_step_and_the_quantity(counting):
    with pytest.raises(augury.AuguryInferenceError, match=r"`counting` produced NaN or infinity in `x` at step 3"):
        driver.sample("counting", Problem(), {"steps": 5}, seed=0)
    CountingSampler.nan_at = 99
    try:
        post = driver.sample("counting", Problem(), {"steps": 5}, seed=0)
    finally:
        CountingSampler.nan_at = 3
    np.testing.assert_array_equal(post.samples("x"), np.arange(5))
    assert post.settings["seed"] == 0 and post.method == "counting"


def _raise_keyboard_interrupt():
    raise KeyboardInterrupt


def _on_third_step(monkeypatch, action):
    """The driver's compiled step calls `action()` when it is called the third time."""
    calls = []
    real_jit = jax.jit

    def jit(f):
        g = real_jit(f)

        def step(*a):
            calls.append(1)
            if len(calls) == 3:
                action()
            return g(*a)
        return step
    monkeypatch.setattr(driver.jax, "jit", jit)


def test_an_interrupt_keeps_the_steps_done(counting, monkeypatch):
    CountingSampler.nan_at = 99
    _on_third_step(monkeypatch, _raise_keyboard_interrupt)
    try:
        post = driver.sample("counting", Problem(), {"steps": 10}, seed=1)
    finally:
        CountingSampler.nan_at = 3
    assert post.samples("x").shape == (2,)
    assert any("interrupted after 2 of 10 steps" in w for w in post.warnings)


def test_ctrl_c_waits_for_the_point_between_steps_and_the_posterior_says_partial(counting, monkeypatch, tmp_path):
    """A real SIGINT during a step (here: while a compiled step is being called) only sets a flag:
    the step finishes and is kept, the run stops at the check after it, and the Posterior says it
    is partial (header, file).  Python's own handler would raise inside the call and lose it."""
    import os
    import signal

    from augury.runtime.posterior import load_posterior
    CountingSampler.nan_at = 99
    _on_third_step(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGINT))  # Ctrl-C during the third step
    real_finalize = CountingSampler.finalize

    def finalize(problem, state, infos, settings):  # a sampler that reports a log evidence
        out = real_finalize(problem, state, infos, settings)
        out.log_evidence = 1.5
        return out
    import sys
    monkeypatch.setattr(sys.modules["augury_test_counting"], "finalize", finalize)
    try:
        post = driver.sample("counting", Problem(), {"steps": 10}, seed=1)
    finally:
        CountingSampler.nan_at = 3
    assert post.samples("x").shape == (3,) and post.interrupted
    assert any("interrupted after 3 of 10 steps" in w for w in post.warnings), post.warnings
    assert post.log_evidence is None  # of part of the run: not the model's
    assert "INTERRUPTED (partial)" in str(post).splitlines()[0]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back after the run
    for name in ("p.npz", "p.nc"):
        post.save(tmp_path / name)
        again = load_posterior(tmp_path / name)
        assert again.interrupted and again.samples("x").shape == (3,)


def test_a_second_ctrl_c_raises_at_once_and_nothing_made_is_an_interrupt():
    import os
    import signal

    from augury.runtime import interrupts
    with interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupts.requested()  # no KeyboardInterrupt here: the flag only
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(100):  # the handler runs between bytecodes, after the signal
                pass
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    assert not interrupts.requested()


def test_an_interrupt_before_any_draw_is_a_keyboard_interrupt(counting, monkeypatch):
    """A run stopped before it made a draw (pmmh in its warmup) has nothing to keep: the driver
    raises KeyboardInterrupt (the CLI exits 130) rather than return an empty posterior."""
    import sys
    monkeypatch.setattr(sys.modules["augury_test_counting"], "finalize",
                        lambda problem, state, infos, settings: Draws({}, chains=2, settings=dict(settings)))
    monkeypatch.setattr(driver.interrupts, "check", lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    CountingSampler.nan_at = 99
    try:
        with pytest.raises(KeyboardInterrupt):
            driver.sample("counting", Problem(), {"steps": 10}, seed=1)
    finally:
        CountingSampler.nan_at = 3


@pytest.mark.parametrize("seed", [0, 2 ** 40 + 3, 2 ** 64 - 1])
def test_large_seeds_give_distinct_keys(seed):
    k = driver.seed_key(seed)
    assert k.shape == (2,)
    if seed:
        assert not np.array_equal(np.asarray(k), np.asarray(driver.seed_key(seed - 1)))


@pytest.mark.parametrize("seed", [-1, 2 ** 64, "abc", 1.5, True, None])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(augury.AuguryInferenceError, match="the seed must be an integer"):
        driver.seed_key(seed)


@pytest.mark.slow
def test_auto_precision_is_float64_for_nuts_and_leaves_the_callers_jax_alone():
    before = jnp.ones(2).dtype
    model = augury.compile(NORMAL)
    y = np.random.default_rng(0).normal(1, 2, size=10)
    post = model.sample(data={"y": y}, chains=1, warmup=100, samples=100, seed=1)
    assert post.settings["precision"] == "float64" and post.samples("mu").dtype == np.float64
    assert jnp.ones(2).dtype == before == jnp.float32 and not jax.config.jax_enable_x64
    post32 = model.sample(data={"y": y}, chains=1, warmup=100, samples=100, seed=1, precision="float32")
    assert post32.samples("mu").dtype == np.float32 and post32.settings["precision"] == "float32"
    with pytest.raises(augury.AuguryInferenceError, match="unknown precision"):
        model.sample(data={"y": y}, precision="float16")


def test_settings_are_checked_from_the_method_table():
    model = augury.compile(NORMAL)
    y = np.zeros(3)
    for kw, msg in [({"samples": "abc"}, "`samples` must be a positive integer, not 'abc'"),
                    ({"warmup": None}, "`warmup` must be a non-negative integer, not None"),
                    ({"samples": [1, 2]}, "`samples` must be a positive integer"),
                    ({"target_accept": "high"}, "`target_accept` must be a number in \\(0, 1\\)"),
                    ({"max_tree_depth": 0}, "`max_tree_depth` must be a positive integer, not 0"),
                    ({"chain_method": "fast"}, "`chain_method` must be one of")]:
        with pytest.raises(augury.AuguryInferenceError, match=msg):
            model.sample(data={"y": y}, **kw)
    with pytest.raises(augury.AuguryInferenceError, match="unknown inference method"):
        model.sample(data={"y": y}, method="")
    with pytest.raises(augury.AuguryInferenceError, match="`ddrm` does not apply"):
        model.sample(data={"y": y}, method="ddrm")
    with pytest.raises(augury.AuguryInferenceError, match="`smc` has no setting `warmup`"):
        model.sample(data={"y": y}, method="smc", warmup=1)


def test_infer_line_settings_read_consts_and_errors_point_at_the_value():
    src = NORMAL + "const S = 50\ninfer by nuts(samples = S, warmup = 50, chains = 1)\n"
    post = augury.compile(src).sample(data={"y": np.zeros(3)})
    assert post.samples("mu").shape == (50,)
    with pytest.raises(augury.AuguryCheckError) as e:
        augury.compile(NORMAL + "infer by nuts(warmup = -1)\n")
    assert "<string>:5:24: error: bad setting of `nuts`: `warmup` must be a non-negative integer, not -1" in str(e.value)


@pytest.mark.parametrize("line, where, message", [
    ("smc(particles = 1001, waste_free = true)", "5:26", "must be a multiple of 5 and at least 10, not 1001"),
    ("smc(mcmc_steps = 7, waste_free = true)", "5:27", "must be a multiple of 7 and at least 14, not 1000"),
    ("smc(mcmc_steps = 10, max_mcmc_steps = 5)", "5:48", "`max_mcmc_steps` (5) must be at least `mcmc_steps` (10)"),
    ("smc(particles = 1)", "5:26", "`particles` must be at least 2 for `smc`, not 1"),
    ("hmc(num_steps = 10, trajectory_length = 3.0)", "5:50", "`num_steps` and `trajectory_length` both set"),
])
def test_settings_that_do_not_go_together_in_the_infer_line_are_errors_there(line, where, message):
    """Settings valid alone but not together (checked by the samplers at run time, with no
    place) are errors at the `infer` line's value, at compile time, as a bad value alone is."""
    with pytest.raises(augury.AuguryCheckError) as e:
        augury.compile(NORMAL + f"infer by {line}\n")
    assert f"<string>:{where}: error: bad settings of `{line[:3]}`: " in str(e.value) and message in str(e.value)


def test_an_override_that_clashes_with_the_infer_line_points_at_the_line():
    model = augury.compile(NORMAL + "infer by smc(mcmc_steps = 10)\n")
    with pytest.raises(augury.AuguryCheckError, match="<string>:5:27: error: bad settings of `smc`: `max_mcmc_steps` "
                                                      r"\(5\) must be at least `mcmc_steps` \(10\)"):
        model.sample(data={"y": np.zeros(3)}, max_mcmc_steps=5)
    with pytest.raises(augury.AuguryInferenceError, match=r"`max_mcmc_steps` \(2\) must be at least") as e:
        model.sample(data={"y": np.zeros(3)}, mcmc_steps=3, max_mcmc_steps=2)  # the line is not involved
    assert not isinstance(e.value, augury.AuguryCheckError)


@pytest.mark.parametrize("source, msg", [(None, "not NoneType"), (42, "not int"),
                                         (b"param mu : real\nmu ~ normal(0, \xff)\n", "not UTF-8")])
def test_compile_refuses_what_is_not_model_text(source, msg):
    with pytest.raises(augury.AuguryError, match=msg):
        augury.compile(source)
    assert augury.compile(b"param mu : real\nmu ~ normal(0, 1)\n").methods()["nuts"] is None


def test_sample_refuses_data_of_the_wrong_kind():
    with pytest.raises(augury.AuguryError, match="`data` must be a dict"):
        augury.compile(NORMAL).sample(data=42)


def test_python_imports_need_permission(tmp_path):
    src = "data y : real[3]\nparam mu : real\nop A = python(\"os:getcwd\")\nmu ~ normal(0, 1)\n" \
          "y ~ normal(A(mu * ones(3)), 1)\n"
    model = augury.compile(src)
    assert 'python("os:getcwd")' in model.check_report()
    with pytest.raises(augury.AuguryCheckError, match="imports Python code `os:getcwd`.*allow it"):
        model.sample(data={"y": np.zeros(3)})
    # allowed: it resolves (and fails only because os.getcwd takes no array)
    with pytest.raises(augury.AuguryError, match="cannot apply `A`"):
        augury.compile(src, allow_python=True).sample(data={"y": np.zeros(3)})


def test_the_current_folder_is_not_on_the_import_path(tmp_path, monkeypatch):
    (tmp_path / "augury_evil_mod.py").write_text("def f(x):\n    return x\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend("")
    from augury.runtime.operators import import_path
    with pytest.raises(ImportError):
        import_path("augury_evil_mod:f")


def test_a_variable_over_the_memory_budget_is_refused_before_allocating():
    model = augury.compile("param x : real[100000, 100000]\nx ~ normal(0, 1)\n")
    with pytest.raises(augury.AuguryCheckError, match=r"`x` would have shape \(100000, 100000\).*memory budget"):
        model.sample()


def test_names_bound_from_python_work_wherever_a_value_may_appear():
    src = "data y : real[3]\nparam mu : real\nlet f = scale_fn(mu * ones(3)) + offsets\n" \
          "mu ~ normal(0, 1)\ny ~ normal(f, 1)\n"
    offsets = np.array([0.0, 1.0, 2.0])
    model = augury.compile(src, bind={"scale_fn": lambda x: 2 * x, "offsets": offsets})
    post = model.sample(data={"y": np.array([1.0, 2.0, 3.0])}, chains=2, warmup=300, samples=1000, seed=0)
    # y - offsets = 2 mu + noise, mu ~ N(0, 1): precision 1 + 3 * 4 = 13, mean 2 * 3 / 13
    m, s = 6 / 13, 13 ** -0.5
    ess = float(post.diagnostics["ess_bulk"]["mu"])
    assert abs(post.mean("mu") - m) < 4 * s / np.sqrt(ess)
    np.testing.assert_allclose(post.samples("f"), 2 * post.samples("mu")[:, None] + offsets, rtol=1e-6)
    with pytest.raises(augury.AuguryCheckError, match="unknown function `scale_fn`"):
        augury.compile(src)


def test_a_diffusion_prior_is_refused_with_the_reason_not_a_keyerror():
    src = "param x : real[4, 4]\nx ~ diffusion(net = unet)\n"
    model = augury.compile(src, bind={"unet": lambda x, t: x})
    with pytest.raises(augury.AuguryInferenceError, match="no inference method applies(.|\n)*`x` has a diffusion prior"):
        model.sample()
    with pytest.raises(augury.AuguryError, match="has no density"):
        model.bind()


def test_numpy_scalars_are_settings_too():
    post = augury.compile(NORMAL).sample(data={"y": np.zeros(3)}, samples=np.int64(30), warmup=np.int32(30),
                                         chains=1, target_accept=np.float32(0.9))
    assert post.samples("mu").shape == (30,) and post.settings["target_accept"] == pytest.approx(0.9)


@pytest.mark.parametrize("call, msg", [
    (lambda: augury.compile("param mu : real\nmu ~ normal(0, 1)\nlet y = arange(0, 10, 0)\n").sample(),
     "cannot evaluate `arange"),
    (lambda: augury.compile("param mu : real\nmu ~ normal(0, 1)\n", consts=[1]), "`consts` must be a dict"),
    (lambda: augury.compile("param x : simplex(0)\nx ~ dirichlet(ones(0))\n").sample(), "needs at least one component"),
    (lambda: augury.compile("param x : real[2, 2]\nx ~ normal(0, 1)\nlet y = x.T\n"), "only the adjoint of an operator"),
])
def test_more_user_mistakes_are_augury_errors(call, msg):
    with pytest.raises(augury.AuguryError, match=msg):
        call()


def test_the_bar_counts_iterations_and_names_the_phase(counting, monkeypatch, capsys):
    """A step that is a block of iterations (pmmh) moves the bar by its iterations, up to the
    module's count, and the label follows the module's phase; the bar is up before `init`."""
    CountingSampler.nan_at = 99
    counting.ITERATIONS_PER_STEP = 25
    counting.num_iterations = lambda s: 110
    counting.phase = lambda i, s: "counting warmup" if i * 25 < 50 else "counting sampling"
    monkeypatch.setenv("AUGURY_PROGRESS", "1")
    try:
        driver.sample("counting", Problem(), {"steps": 5}, seed=0, progress=True)
    finally:
        CountingSampler.nan_at = 3
    err = capsys.readouterr().err
    assert "counting: starting:   0%" in err and "counting warmup:  23%" in err and "| 25/110" in err
    assert "counting sampling: 100%" in err and "| 110/110" in err and "125/110" not in err
