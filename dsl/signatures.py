"""Signature tables: every distribution, function, operator, type and method a
model file may name.  The grammar has no keywords for these; the checker,
the compiler and the runtime all read these tables, so a name is added in
one place.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Sig:
    """A callable's parameters: positional order, how many are required, and
    groups of which exactly one must be given (mvnormal's cov | scale_tril |
    precision).  `support` is the set of values a distribution puts mass on;
    `event_rank` its number of event dimensions (0 for scalars)."""

    name: str
    params: tuple[str, ...]
    required: int
    one_of: tuple[str, ...] = ()
    support: str = ""
    event_rank: int = 0
    discrete: bool = False
    family: str = ""
    variadic: bool = False
    doc: str = ""

    def describe(self) -> str:
        req = list(self.params[: self.required])
        opt = [f"{p}=…" for p in self.params[self.required:]]
        if self.one_of:
            opt = [p for p in opt if p[:-2] not in self.one_of] + [" | ".join(f"{p}=…" for p in self.one_of)]
        return f"{self.name}({', '.join(req + opt)})"


def _d(name, params, required=None, support="real", event_rank=0, discrete=False, family="continuous",
       one_of=(), doc=""):
    params = tuple(params)
    return Sig(name, params, len(params) if required is None else required, tuple(one_of), support,
               event_rank, discrete, family, False, doc)


# Supports: real, positive, unit, interval (uniform), nonneg_int, category, binary, simplex,
# spd, cholesky_corr, sphere, any (takes the declared type's support).
DISTRIBUTIONS: dict[str, Sig] = {s.name: s for s in [
    _d("normal", ["loc", "scale"]),
    _d("lognormal", ["loc", "scale"], support="positive"),
    _d("half_normal", ["scale"], support="positive"),
    _d("cauchy", ["loc", "scale"]),
    _d("half_cauchy", ["scale"], support="positive"),
    _d("student_t", ["df", "loc", "scale"], required=1),
    _d("laplace", ["loc", "scale"]),
    _d("exponential", ["rate"], support="positive"),
    _d("gamma", ["concentration", "rate"], support="positive"),
    _d("inv_gamma", ["concentration", "rate"], support="positive"),
    _d("beta", ["a", "b"], support="unit"),
    _d("uniform", ["low", "high"], support="interval"),
    _d("mvnormal", ["loc", "cov", "scale_tril", "precision"], required=1, event_rank=1,
       family="multivariate", one_of=("cov", "scale_tril", "precision")),
    _d("dirichlet", ["concentration"], support="simplex", event_rank=1, family="multivariate"),
    _d("von_mises_fisher", ["mu", "kappa"], support="sphere", event_rank=1, family="multivariate"),
    _d("lkj_cholesky", ["D", "eta"], support="cholesky_corr", event_rank=2, family="multivariate"),
    _d("wishart", ["df", "scale"], support="spd", event_rank=2, family="multivariate"),
    _d("inv_wishart", ["df", "scale"], support="spd", event_rank=2, family="multivariate"),
    _d("categorical", ["probs", "logits"], required=0, support="category", discrete=True, family="discrete",
       one_of=("probs", "logits")),
    _d("bernoulli", ["probs", "logits"], required=0, support="binary", discrete=True, family="discrete",
       one_of=("probs", "logits")),
    _d("binomial", ["n", "probs"], support="nonneg_int", discrete=True, family="discrete"),
    _d("poisson", ["rate"], support="nonneg_int", discrete=True, family="discrete"),
    _d("negative_binomial", ["mean", "concentration"], support="nonneg_int", discrete=True, family="discrete"),
    _d("mixture", ["weights", "component"], support="any", family="mixture"),
    _d("dirichlet_process", ["alpha"], support="simplex", event_rank=1, family="mixture"),
    _d("stick_breaking", ["alpha"], support="simplex", event_rank=1, family="mixture"),
    _d("gaussian", ["mean", "cov"], support="real", event_rank=-1, family="analytic"),
    _d("gmm", ["weights", "means", "covs", "sde"], required=3, support="real", event_rank=-1, family="analytic"),
    _d("flat", [], support="any", family="improper"),
    _d("diffusion", ["net", "sde", "predicts"], required=1, support="real", event_rank=-1, family="learned"),
]}
"""event_rank -1: the distribution covers the whole left-hand array (images)."""

# Functions: (min positional args, max positional args or None for variadic, keyword names).
@dataclass(frozen=True)
class FuncSig:
    name: str
    min_args: int
    max_args: Optional[int]
    kwargs: tuple[str, ...] = ()
    doc: str = ""


def _f(name, lo, hi=None, kwargs=(), doc=""):
    return FuncSig(name, lo, lo if hi == "same" else hi, tuple(kwargs), doc)


FUNCTIONS: dict[str, FuncSig] = {s.name: s for s in [
    *[_f(n, 1, 1) for n in ("exp", "log", "log1p", "expm1", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid",
                            "logit", "square", "transpose", "diag", "cholesky", "logdet", "inv", "normalize",
                            "eye")],
    *[_f(n, 1, 1, ("axis",)) for n in ("softmax", "log_softmax", "sum", "mean", "prod", "logsumexp", "norm")],
    _f("min", 1, 2, ("axis",)), _f("max", 1, 2, ("axis",)),
    _f("dot", 2, 2), _f("matmul", 2, 2), _f("solve", 2, 2),
    _f("reshape", 2, None), _f("concat", 1, 1, ("axis",)), _f("stack", 1, 1, ("axis",)),
    _f("ones", 1, None), _f("zeros", 1, None), _f("full", 2, None),
    _f("arange", 1, 3), _f("linspace", 3, 3),
    _f("clip", 3, 3), _f("where", 3, 3),
    _f("exp_quad_cov", 3, 3),
    # helpers used inside distributions, operators and types
    _f("vp", 0, 2, ("beta_min", "beta_max")), _f("ve", 0, 2, ("sigma_min", "sigma_max")),
    _f("edm", 0, 3, ("sigma_min", "sigma_max", "rho")),
    _f("gaussian_kernel", 0, 2, ("size", "std")), _f("uniform_kernel", 0, 1, ("size",)),
    _f("random_mask", 0, 2, ("p", "seed")), _f("box_mask", 0, 4, ("top", "left", "height", "width")),
    _f("torch", 1, 1, ("weights",)), _f("jax", 1, 1, ("weights",)),
]}

# Forward operators (LANGUAGE.md §6): parameter names, whether linear, whether an SVD is known.
@dataclass(frozen=True)
class OpSig:
    name: str
    params: tuple[str, ...]
    linear: bool
    svd: bool


OPERATORS: dict[str, OpSig] = {s.name: s for s in [
    OpSig("identity", (), True, True),
    OpSig("mask", ("m",), True, True),
    OpSig("blur", ("kernel",), True, True),
    OpSig("downsample", ("factor",), True, True),
    OpSig("matrix", ("M",), True, True),
    OpSig("fft_mask", ("m",), True, True),
    OpSig("grayscale", (), True, True),
    OpSig("compose", ("A", "B"), True, False),
    OpSig("python", ("path",), False, False),
]}


# Types (LANGUAGE.md §3): number of size arguments, allowed keywords, support, event rank.
@dataclass(frozen=True)
class TypeSig:
    name: str
    n_args: int
    kwargs: tuple[str, ...]
    support: str
    event_rank: int
    discrete: bool = False


TYPES: dict[str, TypeSig] = {s.name: s for s in [
    TypeSig("real", 0, ("lower", "upper"), "real", 0),
    TypeSig("int", 0, ("lower", "upper"), "int", 0, True),
    TypeSig("bool", 0, (), "binary", 0, True),
    TypeSig("positive", 0, (), "positive", 0),
    TypeSig("unit", 0, (), "unit", 0),
    TypeSig("category", 1, (), "category", 0, True),
    TypeSig("simplex", 1, (), "simplex", 1),
    TypeSig("ordered", 1, (), "ordered", 1),
    TypeSig("positive_ordered", 1, (), "positive_ordered", 1),
    TypeSig("spd", 1, (), "spd", 2),
    TypeSig("cholesky_corr", 1, (), "cholesky_corr", 2),
    TypeSig("sphere", 1, (), "sphere", 1),
]}


# Inference methods (LANGUAGE.md §8): settings with defaults and the rule each value must meet.
# The one table that the checker, `augury check`, the defaults and `Model.sample` all read.
SETTING_RULES = {
    "count": "a positive integer", "count0": "a non-negative integer", "prob": "a number in (0, 1)",
    "fraction": "a number in [0, 1)", "unit": "a number in [0, 1]", "positive": "a positive number", "bool": "true or false",
    "optional_count": "a positive integer, or omitted",
}


@dataclass(frozen=True)
class MethodSig:
    name: str
    family: str
    defaults: tuple[tuple[str, object], ...]
    rules: tuple[tuple[str, object], ...] = ()  # setting -> rule name, or a tuple of allowed strings
    precision: str = "float64"  # what precision="auto" means for this method

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.defaults)

    def rule(self, name: str):
        return dict(self.rules).get(name)


def _m(name, family, settings, precision="float64"):
    """settings: (name, default, rule) triples."""
    return MethodSig(name, family, tuple((k, d) for k, d, _ in settings), tuple((k, r) for k, _, r in settings),
                     precision)


def check_setting(method: str, name: str, value):
    """The value of setting `name` of `method`, checked against its rule; raises ValueError
    with a message in the user's terms ("`samples` must be a positive integer, not 'abc'")."""
    sig = METHODS[method]
    rule = sig.rule(name)
    bad = ValueError(f"`{name}` must be {SETTING_RULES.get(rule, 'one of ' + ', '.join(map(repr, rule or ())))}, "
                     f"not {value!r}")
    is_bool = isinstance(value, bool) or type(value).__name__ == "bool_"
    number = isinstance(value, numbers.Real) and not is_bool  # NumPy scalars too
    if rule in ("count", "count0", "optional_count"):
        if value is None and rule == "optional_count":
            return None
        if not number or value != value or value in (float("inf"), -float("inf")) \
                or int(value) != value or value < (0 if rule == "count0" else 1) or value >= 2 ** 31:
            raise bad
        return int(value)
    if rule in ("prob", "fraction", "unit", "positive"):
        if not number or not (value == value) or abs(value) == float("inf"):
            raise bad
        v = float(value)
        if (rule == "prob" and not 0 < v < 1) or (rule == "fraction" and not 0 <= v < 1) or (rule == "unit" and not 0 <= v <= 1) or (rule == "positive" and v <= 0):
            raise bad
        return v
    if rule == "bool":
        if not is_bool:
            raise bad
        return bool(value)
    if isinstance(rule, tuple):
        if not isinstance(value, str) or value not in rule:
            raise bad
        return value
    return value


_DIFF = (("teleport", 0.0, "fraction"),)
_RESAMPLE = ("resample", "systematic", ("systematic", "multinomial", "stratified", "residual"))
# evidence methods resample multinomially by default: the single-run sd of log Z (Lee & Whiteley)
# is calibrated for it, and runs low for the lower-variance schemes
_RESAMPLE_EVIDENCE = ("resample", "multinomial", _RESAMPLE[2])
_CHAINS = ("chain_method", "auto", ("auto", "sequential", "vectorized"))
METHODS: dict[str, MethodSig] = {s.name: s for s in [
    _m("nuts", "general", (("warmup", 1000, "count0"), ("samples", 1000, "count"), ("chains", 4, "count"),
                           ("target_accept", 0.8, "prob"), ("max_tree_depth", 10, "count"),
                           ("dense_mass", False, "bool"), ("thinning", 1, "count"), _CHAINS)),
    _m("hmc", "general", (("warmup", 1000, "count0"), ("samples", 1000, "count"), ("chains", 4, "count"),
                          ("target_accept", 0.8, "prob"), ("num_steps", None, "optional_count"),
                          ("trajectory_length", 6.283185307179586, "positive"), ("dense_mass", False, "bool"),
                          ("thinning", 1, "count"), _CHAINS)),
    _m("prior", "general", (("samples", 1000, "count"),)),
    _m("smc", "general", (("particles", 1000, "count"), ("target_ess", 0.5, "prob"), ("ess_threshold", 0.5, "prob"),
                          ("mcmc_steps", 5, "count"), ("max_mcmc_steps", 100, "count"),
                          ("kernel", "rw", ("rw", "hmc", "nuts")), ("waste_free", False, "bool"), _RESAMPLE_EVIDENCE,
                          ("max_temperatures", 1000, "count"), ("reference", "auto", ("auto", "prior", "laplace")))),
    _m("particle_filter", "chains", (("particles", 1000, "count"), _RESAMPLE, ("ess_threshold", 0.5, "prob"),
                                     ("proposal", "auto", ("auto", "bootstrap", "optimal")),
                                     ("smoothing", "genealogy", ("genealogy", "ffbs", "none")),
                                     ("paths", None, "optional_count"))),
    _m("pmmh", "chains", (("particles", 200, "count"), ("warmup", 1000, "count0"), ("samples", 2000, "count"),
                          ("chains", 4, "count"), _RESAMPLE, ("proposal", "auto", ("auto", "bootstrap", "optimal")),
                          ("target_accept", 0.15, "prob"))),
    _m("smc2", "chains", (("particles", 500, "count"), ("state_particles", 100, "count"),
                          ("ess_threshold", 0.5, "prob"), ("mcmc_steps", 3, "count"), _RESAMPLE_EVIDENCE,
                          ("proposal", "auto", ("auto", "bootstrap", "optimal")))),
    _m("dps", "diffusion", (("particles", 16, "count"), ("steps", 1000, "count"), ("zeta", 1.0, "positive"))
       + _DIFF, "float32"),
    _m("pigdm", "diffusion", (("particles", 16, "count"), ("steps", 100, "count")) + _DIFF, "float32"),
    _m("ddrm", "diffusion", (("particles", 16, "count"), ("steps", 20, "count"), ("eta", 0.85, "unit"))
       + _DIFF, "float32"),
    _m("pc", "diffusion", (("particles", 16, "count"), ("steps", 1000, "count"), ("snr", 0.16, "positive"))
       + _DIFF, "float32"),
    _m("tds", "diffusion", (("particles", 64, "count"), ("steps", 100, "count"), _RESAMPLE,
                            ("ess_threshold", 0.5, "prob"), ("twist_variance", "prior", ("prior", "tweedie")))
       + _DIFF, "float32"),
    _m("mcgdiff", "diffusion", (("particles", 64, "count"), ("steps", 100, "count"), _RESAMPLE,
                                ("potentials", "gaussian", ("gaussian", "paper"))) + _DIFF, "float32"),
    _m("ensemble", "diffusion", (("particles", 64, "count"), ("steps", 200, "count"), ("variant", "sde", ("sde", "ode")),
                                 _RESAMPLE, ("ess_threshold", 0.5, "prob"), ("tempering", "none", ("none", "linear")),
                                 ("likelihood_at", "noised", ("noised", "rescaled")), ("probes", 1, "count"),
                                 ("snr", 0.16, "positive"), ("best", False, "bool"))
       + _DIFF, "float32"),
    _m("tweedie", "diffusion", _DIFF, "float32"),
    _m("em", "mixture", (("iterations", 200, "count"), ("tol", 1e-6, "positive"), ("restarts", 1, "count"))),
    _m("vi", "mixture", (("iterations", 500, "count"), ("tol", 1e-6, "positive"), ("samples", 200, "count"))),
    _m("gibbs", "mixture", (("sweeps", 1000, "count"), ("warmup", 200, "count0"), ("chains", 4, "count"),
                            ("collapsed", True, "bool"))),
    _m("split_merge", "mixture", (("sweeps", 200, "count"), ("warmup", 50, "count0"), ("chains", 4, "count"),
                                  ("point_moves", None, "optional_count"))),
]}


def all_callable_names() -> set[str]:
    """Every name a call may use, for did-you-mean suggestions."""
    return set(DISTRIBUTIONS) | set(FUNCTIONS) | set(OPERATORS) | set(METHODS)


# `range(N)` / `range(A, B)` as an expression: the integers A … B-1 (like `arange`); the checker
# accepts size names in it (added for the checker; the lowering treats it as `arange`).
FUNCTIONS.setdefault("range", FuncSig("range", 1, 2, (), "the integers start … stop-1"))
