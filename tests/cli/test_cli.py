"""The command line: exit codes, messages, outputs."""

import json
from pathlib import Path

import numpy as np
import pytest

from augury.cli import main

ROOT = Path(__file__).resolve().parents[2]
EIGHT = str(ROOT / "examples" / "eight_schools.aug")


def test_check_lists_methods(capsys):
    assert main(["check", EIGHT]) == 0
    out = capsys.readouterr().out
    assert "well formed" in out and "yes nuts (default)" in out
    assert "no  particle_filter: there is no chain" in out


def test_check_error_is_formatted_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.aug"
    bad.write_text("data y : real[N]\nparam mu : real\nmu ~ normal(0, 1)\ny ~ normal(muu, 1)\n")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:4:12: error: unknown name `muu`")
    assert "did you mean `mu`?" in err and "Traceback" not in err


def test_missing_file_and_bad_usage(capsys):
    assert main(["run", "nope.aug"]) == 1
    assert "no model file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_graph_writes_dot(tmp_path):
    out = tmp_path / "g.dot"
    assert main(["graph", EIGHT, "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith('digraph "eight_schools"')
    assert '"theta_trans" -> "theta"' in text and '"theta" -> "y"' in text


def test_bad_data_exits_1_with_the_variable_named(tmp_path, capsys):
    data = tmp_path / "d.json"
    data.write_text(json.dumps({"y": [1, 2, 3], "sigma": [1, -2, 3]}))
    assert main(["run", EIGHT, "--data", str(data), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "`sigma` must be positive" in err


def test_run_with_settings_and_save(tmp_path, capsys):
    out = tmp_path / "post.npz"
    rc = main(["run", EIGHT, "--set", "chains=1", "--set", "warmup=200", "--set", "samples=200",
               "--seed", "2", "--out", str(out), "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Posterior: nuts, 1 chains × 200 draws" in text or "1 chain" in text
    import augury
    post = augury.load_posterior(out)
    assert post.samples("theta").shape == (200, 8)
    assert np.isfinite(post.mean("mu"))
