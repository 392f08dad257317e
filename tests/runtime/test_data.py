"""Data loading and validation against `data` declarations."""

import json
import math

import numpy as np
import pytest

from augury.dsl.ast import Span
from augury.errors import AuguryDataError
from augury.runtime.data import DataSpec, load_data, validate_data

SRC = """data y : real[N]
data sigma : positive[N]
data z : category(K)[N] missing -1
data w : simplex(3)[M]
"""


def sp(line: int, name: str) -> Span:
    return Span("m.aug", line, 6, line, 6 + len(name))


Y = DataSpec("y", "real", ("N",), (), span=sp(1, "y"))
SIGMA = DataSpec("sigma", "positive", ("N",), (), span=sp(2, "sigma"))
Z = DataSpec("z", "category", ("N",), (), n_categories="K", missing=-1, has_missing=True, span=sp(3, "z"))
W = DataSpec("w", "simplex", ("M",), (3,), span=sp(4, "w"))


def err(specs, data, **kw) -> str:
    with pytest.raises(AuguryDataError) as e:
        validate_data(specs, data, source=SRC, **kw)
    return str(e.value)


# ------------------------------------------------------------- happy path

def test_bind_sizes_and_convert():
    data = {"y": [1, 2, 3], "sigma": np.array([1.0, 2.0, 3.0]), "z": [0, -1, 2.0], "K": 3,
            "w": [[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], "N": 3}
    arrays, sizes, warnings = validate_data([Y, SIGMA, Z, W], data, source=SRC)
    assert sizes == {"N": 3, "K": 3, "M": 2}
    assert warnings == []
    assert set(arrays) == {"y", "sigma", "z", "w"}  # size entries N, K dropped
    assert arrays["y"].dtype == np.float32 and arrays["w"].dtype == np.float32
    assert arrays["z"].dtype == np.int32 and arrays["z"].tolist() == [0, -1, 2]
    arrays, _, _ = validate_data([Y], {"y": [1, 2]}, precision="float64")
    assert arrays["y"].dtype == np.float64


def test_scalars_ints_bools_and_given_sizes():
    specs = [DataSpec("n", "int", (), ()), DataSpec("flag", "bool", ("N",), ()), DataSpec("x", "real", ("N", 2), ())]
    arrays, sizes, _ = validate_data(specs, {"n": 5, "flag": [True, False, 1], "x": [[1, 2]] * 3}, sizes={"T": 4})
    assert arrays["n"].dtype == np.int32 and arrays["n"].shape == ()
    assert arrays["flag"].dtype == np.bool_ and arrays["flag"].tolist() == [True, False, True]
    assert sizes == {"T": 4, "N": 3}


def test_int_data_used_as_size():
    specs = [DataSpec("N", "int", (), ()), DataSpec("y", "real", ("N",), ())]
    arrays, sizes, _ = validate_data(specs, {"N": 3, "y": [1.0, 2.0, 3.0]})
    assert sizes["N"] == 3 and int(arrays["N"]) == 3
    assert "`y` is declared real[N] = real[4]" in err(specs, {"N": 4, "y": [1.0, 2.0, 3.0]})


def test_size_only_in_parameter_shapes_is_bound_from_data():
    _, sizes, warnings = validate_data([Y], {"y": [1.0], "J": 7}, declared_sizes=["J"])
    assert sizes == {"N": 1, "J": 7} and warnings == []


def test_undeclared_entry_warns():
    _, _, warnings = validate_data([Y], {"y": [1.0], "foo": [1, 2]})
    assert warnings == ["data entry `foo` is not declared in the model; ignored"]


def test_missing_markers():
    spec = DataSpec("y", "positive", ("N",), (), missing=None, has_missing=True, span=sp(1, "y"))
    arrays, _, _ = validate_data([spec], {"y": [1.0, float("nan"), 2.0]})
    assert math.isnan(arrays["y"][1])
    spec = DataSpec("y", "real", ("N",), (), missing=-999.0, has_missing=True, lower=0.0, span=sp(1, "y"))
    arrays, _, _ = validate_data([spec], {"y": [1.0, -999.0]})
    assert arrays["y"].tolist() == [1.0, -999.0]


def test_optional_may_be_omitted():
    opt = DataSpec("x", "real", ("N",), (), optional=True)
    arrays, sizes, _ = validate_data([Y, opt], {"y": [1.0, 2.0]})
    assert set(arrays) == {"y"}


# ----------------------------------------------------------------- errors

def test_missing_entry():
    msg = err([Y, SIGMA], {"y": [1.0], "Sigma": [1.0]})
    assert "m.aug:2:6: error: no data for `sigma`, declared positive[N]" in msg
    assert "data sigma : positive[N]" in msg and "^~~~~" in msg
    assert "did you mean `Sigma`?" in msg


def test_wrong_rank_and_shape():
    msg = err([Y], {"y": [[1.0, 2.0]]})
    assert "`y` is declared real[N] but the data has shape (1, 2)" in msg
    assert "m.aug:1:6" in msg
    msg = err([Y], {"y": np.zeros(7), "N": 8})
    assert "`y` is declared real[N] = real[8] but the data has shape (7,)" in msg
    msg = err([DataSpec("x", "real", (2, 3), ())], {"x": np.zeros((2, 4))})
    assert "`x` is declared real[2, 3] but the data has shape (2, 4)" in msg
    msg = err([W], {"w": np.full((2, 4), 0.25)})
    assert "`w` is declared simplex(3)[M] = simplex(3)[2] but the data has shape (2, 4)" in msg


def test_size_disagreement_names_both_arrays():
    msg = err([Y, SIGMA], {"y": np.zeros(8), "sigma": np.ones(7)})
    assert "size `N` is 8 from `y` (axis 0) but 7 from `sigma` (axis 0)" in msg
    assert "m.aug:2:6" in msg
    msg = err([Y], {"y": np.zeros(8)}, sizes={"N": 7})
    assert "`y` is declared real[N] = real[7] but the data has shape (8,)" in msg


def test_non_numeric():
    assert "`y` is declared real[N] but the data is not numeric (found text)" in err([Y], {"y": ["a", "b"]})
    assert "not numeric" in err([Y], {"y": [{"a": 1}]})
    assert "not a regular array" in err([DataSpec("m", "real", ("N", "M"), ())], {"m": [[1.0, 2.0], [3.0]]})


def test_non_whole_ints():
    msg = err([DataSpec("n", "int", ("N",), ())], {"n": [1.0, 2.5, 3.5]})
    assert "`n` is declared int[N] but has 2 non-whole values (first: n[1] = 2.5)" in msg
    assert "non-whole" in err([Y, SIGMA, Z], {"y": [1.0], "sigma": [1.0], "z": [0.5], "K": 2})


def test_nan_and_inf():
    msg = err([Y], {"y": [1.0, np.nan, 2.0, np.nan]})
    assert "`y` has 2 NaN values (first at y[1])" in msg and "missing" in msg
    msg = err([DataSpec("x", "real", (2, 2), ())], {"x": [[1.0, 2.0], [np.inf, -np.inf]]})
    assert "`x` has 2 infinite values (first at x[1, 0])" in msg
    # a missing marker other than NaN does not allow NaN
    msg = err([DataSpec("y", "real", ("N",), (), missing=-1.0, has_missing=True)], {"y": [np.nan]})
    assert "1 NaN value" in msg
    # JSON null reads as NaN
    assert "NaN value" in err([Y], {"y": np.array([1.0, None], dtype=object)})


def test_supports():
    assert "`sigma` must be positive (> 0) but has 2 entries outside (first: sigma[1] = 0.0)" in \
        err([SIGMA], {"sigma": [1.0, 0.0, -1.0]})
    assert "must be in (0, 1)" in err([DataSpec("p", "unit", (), ())], {"p": 1.0})
    b = DataSpec("b", "real", ("N",), (), lower=0.0, upper=10.0)
    assert "`b` must be in [0, 10] but has 1 entry outside (first: b[2] = 11.0)" in err([b], {"b": [0.0, 10.0, 11.0]})
    msg = err([Z], {"z": [0, 3, -1], "K": 3})
    assert "`z` must be a category in 0 … 2 but has 1 entry outside (first: z[1] = 3)" in msg
    assert "number of categories `K`" in err([Z], {"z": [0]})
    assert "0 or 1" in err([DataSpec("f", "bool", ("N",), ())], {"f": [0, 2]})
    msg = err([W], {"w": [[0.2, 0.3, 0.5], [0.5, 0.5, 0.5]]})
    assert "`w` must be a simplex (non-negative, summing to 1) but has 1 row outside (first: w[1])" in msg
    assert "simplex" in err([W], {"w": [[1.5, -0.5, 0.0]]})
    o = DataSpec("c", "ordered", (), (3,))
    assert "strictly increasing" in err([o], {"c": [1.0, 1.0, 2.0]})
    validate_data([o], {"c": [-1.0, 0.0, 2.0]})
    po = DataSpec("c", "positive_ordered", (), (3,))
    assert "positive and strictly increasing" in err([po], {"c": [-1.0, 0.0, 2.0]})
    s = DataSpec("u", "sphere", ("N",), (2,))
    validate_data([s], {"u": [[0.6, 0.8], [1.0, 0.0]]})
    assert "unit vector" in err([s], {"u": [[0.6, 0.8], [1.0, 1.0]]})


def test_matrix_supports():
    spd = DataSpec("S", "spd", ("N",), (2, 2))
    validate_data([spd], {"S": [np.eye(2), [[2.0, 0.5], [0.5, 1.0]]]})
    assert "`S` must be symmetric but has 1 row outside (first: S[1])" in \
        err([spd], {"S": [np.eye(2), [[1.0, 0.5], [0.0, 1.0]]]})
    assert "positive definite" in err([spd], {"S": [[[1.0, 2.0], [2.0, 1.0]]]})
    L = DataSpec("L", "cholesky_corr", (), (2, 2))
    validate_data([L], {"L": [[1.0, 0.0], [0.6, 0.8]]})
    assert "Cholesky factor" in err([L], {"L": [[1.0, 0.0], [0.6, 0.5]]})
    assert "Cholesky factor" in err([L], {"L": [[1.0, 0.2], [0.6, 0.8]]})


def test_size_entry_checked_against_arrays():
    msg = err([Y], {"N": 2.5, "y": [1.0]})
    assert "data entry `N` names a size but is not a non-negative whole number" in msg
    _, sizes, _ = validate_data([Y], {"N": [2], "y": [1.0, 2.0]})  # R-style length-1 vector
    assert sizes == {"N": 2}


# ---------------------------------------------------------------- loading

def test_load_sources(tmp_path):
    np.savez(tmp_path / "a.npz", y=np.arange(3.0), N=np.array(3))
    (tmp_path / "b.json").write_text(json.dumps({"N": 4, "sigma": [1, 2, 3, 4], "m": [[1, 2], [3, 4]]}))
    np.save(tmp_path / "y.npy", np.arange(4, dtype=np.float32))
    data = load_data([str(tmp_path / "a.npz"), str(tmp_path / "b.json"), f"y={tmp_path / 'y.npy'}"],
                     {"extra": [1, 2]})
    assert set(data) == {"y", "N", "sigma", "m", "extra"}
    assert int(data["N"]) == 4  # later overrides earlier
    assert data["y"].dtype == np.float32 and data["y"].tolist() == [0, 1, 2, 3]
    assert data["m"].shape == (2, 2)
    arrays, sizes, warnings = validate_data([Y, SIGMA], data)
    assert sizes == {"N": 4} and warnings == ["data entry `m` is not declared in the model; ignored",
                                              "data entry `extra` is not declared in the model; ignored"]
    assert load_data(None, {"q": 1.5})["q"] == 1.5


def test_load_errors(tmp_path):
    with pytest.raises(AuguryDataError, match=r"cannot read data file `.*absent\.json`: no such file"):
        load_data([str(tmp_path / "absent.json")])
    (tmp_path / "d.csv").write_text("1,2")
    with pytest.raises(AuguryDataError, match=r"`.*d\.csv`: unknown file type `\.csv`"):
        load_data([str(tmp_path / "d.csv")])
    np.save(tmp_path / "y.npy", np.zeros(2))
    with pytest.raises(AuguryDataError, match="needs a name"):
        load_data([str(tmp_path / "y.npy")])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AuguryDataError, match=r"cannot read data file `.*bad\.json`"):
        load_data([str(tmp_path / "bad.json")])
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(AuguryDataError, match="expected a JSON object"):
        load_data([str(tmp_path / "list.json")])
    (tmp_path / "ragged.json").write_text('{"r": [[1, 2], [3]]}')
    with pytest.raises(AuguryDataError, match="`r` in `.*ragged.json` is not a regular array"):
        load_data([str(tmp_path / "ragged.json")])
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(AuguryDataError, match=r"cannot read data file `.*obj\.npy`"):
        load_data([f"o={tmp_path / 'obj.npy'}"])


# ------------------------------------------- data that the run would change

def test_values_too_large_for_float32_are_refused():
    msg = err([Y], {"y": [1.0, 1e300, -1e39]})
    assert "`y` has 2 values too large for float32 (first: y[1] = 1e+300), which would become infinite" in msg
    assert 'precision="float64"' in msg and "--precision float64" in msg
    arrays, _, warnings = validate_data([Y], {"y": [1.0, 3e38]})  # the largest float32 is about 3.4e38
    assert np.isfinite(arrays["y"]).all()
    arrays, _, _ = validate_data([Y], {"y": [1.0, 1e300]}, precision="float64")
    assert arrays["y"][1] == 1e300
    # a missing marker is not data
    spec = DataSpec("y", "real", ("N",), (), missing=-1e300, has_missing=True)
    assert validate_data([spec], {"y": [1.0, -1e300]})[2] == []


def test_values_that_rounding_moves_out_of_the_support_are_refused():
    p = DataSpec("p", "unit", ("N",), ())
    msg = err([p], {"p": [0.5, 1 - 1e-9]})
    assert "`p` must be in (0, 1) but has 1 entry outside (first: p[1] = 1.0) once rounded to float32" in msg
    assert "inside before rounding" in msg and 'precision="float64"' in msg
    assert "positive (> 0)" in err([SIGMA], {"sigma": [1.0, 1e-50]})
    assert validate_data([p], {"p": [0.5, 1 - 1e-9]}, precision="float64")[0]["p"][1] < 1


def test_very_large_values_warn():
    _, _, warnings = validate_data([Y], {"y": [1.0, 1e30, -2e25]})
    assert len(warnings) == 1
    assert "`y` has 2 values above 1.8e+19 in magnitude (first: y[1] = 1e+30)" in warnings[0]
    assert 'precision="float64"' in warnings[0]
    assert validate_data([Y], {"y": [1.0, 1e18]})[2] == []
    assert validate_data([Y], {"y": [1.0, 1e30]}, precision="float64")[2] == []
    assert "rescale" in validate_data([Y], {"y": [1e200]}, precision="float64")[2][0]


def test_masked_arrays_are_missing_entries_or_refused():
    masked = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    msg = err([Y], {"y": masked})
    assert "`y` is a masked array with 1 masked entry (first at y[1]), but `y` is not declared `missing`" in msg
    assert "data y : real[N] missing" in msg
    ym = DataSpec("y", "real", ("N",), (), has_missing=True)
    arrays, _, _ = validate_data([ym], {"y": masked})
    assert np.isnan(arrays["y"][1]) and arrays["y"][[0, 2]].tolist() == [1.0, 3.0]
    # an int array with a NaN marker becomes real; a category takes its own marker
    arrays, _, _ = validate_data([ym], {"y": np.ma.masked_array([1, 2, 3], mask=[0, 0, 1])})
    assert np.isnan(arrays["y"][2])
    arrays, _, _ = validate_data([Z], {"z": np.ma.masked_array([1, 5, 0], mask=[0, 1, 0]), "K": 3})
    assert arrays["z"].tolist() == [1, -1, 0]  # the hidden 5 is never checked or used
    # nothing masked: the plain values
    assert validate_data([Y], {"y": np.ma.masked_array([1.0, 2.0])})[0]["y"].tolist() == [1.0, 2.0]
    # load_data keeps the mask
    assert np.ma.isMaskedArray(load_data(None, {"y": masked})["y"])


def test_masked_entries_become_unknowns_when_bound():
    import augury
    src = "data y : real[N] missing\nparam mu : real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n"
    masked = np.ma.masked_array([0.5, 9.0, 1.0, 9.0], mask=[0, 1, 0, 1])
    lowered, _ = augury.compile(src).bind({"y": masked})
    assert [u.shape for u in lowered.unknowns if u.kind == "missing"] == [(2,)]
    with pytest.raises(AuguryDataError, match="masked array"):
        augury.compile(src.replace(" missing", "")).bind({"y": masked})


def test_bool_data_for_reals_and_ints_reads_as_zero_one():
    arrays, _, _ = validate_data([Y, DataSpec("n", "int", ("N",), ())],
                                 {"y": np.array([True, False]), "n": np.array([False, True])})
    assert arrays["y"].dtype == np.float32 and arrays["y"].tolist() == [1.0, 0.0]
    assert arrays["n"].dtype == np.int32 and arrays["n"].tolist() == [0, 1]
    assert "must be positive" in err([SIGMA], {"sigma": np.array([True, False])})
