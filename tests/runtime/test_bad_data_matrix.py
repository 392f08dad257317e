"""Bad data, every kind, through a model of every family: each is refused before any sampling
with an `AuguryDataError` that names the variable (an empty array: the check error its size
leads to, at its place in the file); through the CLI, exit 1 with the message and no traceback.

Families and the variable spoiled: nuts (eight_schools, `sigma`: positive[J]), the particle
filter (stochastic_volatility, `y`: real[T]), vi (iris, `X`: real[N, D]), ddrm (inpaint_digits,
`y`: real[8, 8]).  Kinds: NaN, infinity, a wrong shape, a wrong rank, strings, None, a value out
of its support (where the declaration has one), the variable missing, a masked array, an empty
array, a nested ragged list."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import augury
from augury.cli import main
from augury.errors import AuguryDataError, AuguryError

EX = Path(__file__).resolve().parents[2] / "examples"
FAMILIES = {  # example: (method, the variable spoiled, settings)
    "eight_schools": ("nuts", "sigma", dict(warmup=10, samples=10, chains=1)),
    "stochastic_volatility": ("particle_filter", "y", dict(particles=10, paths=2)),
    "iris": ("vi", "X", dict(iterations=5)),
    "inpaint_digits": ("ddrm", "y", dict(particles=2, steps=5)),
}


def _good(example: str) -> dict:
    return {k: np.asarray(v, dtype=float) for k, v in json.loads((EX / f"{example}.json").read_text()).items()}


def _spoil(kind: str, x: np.ndarray):
    """The spoiled value of x (None: the variable is left out)."""
    if kind == "nan":
        y = x.copy(); y.flat[1] = np.nan; return y  # noqa: E702
    if kind == "inf":
        y = x.copy(); y.flat[-1] = np.inf; return y  # noqa: E702
    if kind == "shape":
        return x[..., :-1] if x.ndim > 1 else x[:-1] if x.shape[0] > 8 else np.concatenate([x, x[:1]])
    if kind == "rank":
        return x[None]
    if kind == "strings":
        return np.array(["a"] * x.size, dtype=object).reshape(x.shape)
    if kind == "none":
        return np.array([None] * x.size, dtype=object).reshape(x.shape)
    if kind == "support":
        return -np.abs(x)
    if kind == "missing":
        return None
    if kind == "masked":
        return np.ma.masked_array(x, mask=np.arange(x.size).reshape(x.shape) == 0)
    if kind == "empty":
        return np.zeros((0,) + x.shape[1:])
    if kind == "ragged":
        return [list(x.flat[:3]), list(x.flat[:2])]
    raise ValueError(kind)


KINDS = ["nan", "inf", "shape", "rank", "strings", "none", "support", "missing", "masked", "empty", "ragged"]


def _cases():
    for example, (method, var, _) in FAMILIES.items():
        for kind in KINDS:
            if kind == "support" and var != "sigma":  # only eight_schools' sigma has a support to leave
                continue
            if kind == "shape" and example in ("stochastic_volatility", "iris"):  # real[T], real[N, D]: any size fits
                continue
            yield pytest.param(example, kind, id=f"{method}-{kind}")


@pytest.fixture
def no_sampling(monkeypatch):
    from augury.runtime.samplers import driver
    monkeypatch.setattr(driver, "sample", lambda *a, **k: pytest.fail("sampling started on bad data"))


@pytest.mark.parametrize("example,kind", list(_cases()))
def test_bad_data_is_refused_before_sampling_naming_the_variable(example, kind, no_sampling):
    method, var, settings = FAMILIES[example]
    data = _good(example)
    bad = _spoil(kind, data[var])
    if bad is None:
        del data[var]
    else:
        data[var] = bad
    model = augury.compile(EX / f"{example}.aug")
    if kind == "empty" and example == "stochastic_volatility":
        # T = 0 is a size the data may give; the model then indexes h[0] of an empty h: refused there
        with pytest.raises(AuguryError, match=r"stochastic_volatility.aug:\d+:\d+: error: index 0 is out of range"):
            model.sample(data, method=method, **settings)
        return
    with pytest.raises(AuguryError) as e:  # a data error, or a check error at the declaration (iris: no points)
        model.sample(data, method=method, **settings)
    assert isinstance(e.value, AuguryDataError) or kind == "empty", type(e.value)
    assert f"`{var}`" in str(e.value), str(e.value)


@pytest.mark.parametrize("kind", ["nan", "shape", "strings", "missing"])
def test_the_cli_exits_1_naming_the_variable(kind, tmp_path, capsys):
    data = {k: v.tolist() for k, v in _good("eight_schools").items()}
    if kind == "nan":
        data["sigma"][2] = float("nan")
    elif kind == "shape":
        data["sigma"] = data["sigma"][:-1]
    elif kind == "strings":
        data["sigma"] = ["a"] * len(data["sigma"])
    else:
        del data["sigma"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))  # NaN as JSON's common extension
    assert main(["run", str(EX / "eight_schools.aug"), "--data", str(path), "--no-progress", "--no-files"]) == 1
    err = capsys.readouterr().err
    assert "`sigma`" in err and "Traceback" not in err, err
