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


def test_a_model_without_a_data_file_next_to_it_says_how_to_give_one(tmp_path, capsys):
    model = tmp_path / "flat.aug"
    model.write_text((ROOT / "examples" / "regression_evidence_flat.aug").read_text())
    assert main(["run", str(model), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "flat.aug:4:1: error: no data for `x`" in err and "Traceback" not in err
    assert "there is no flat.json or flat.npz next to the model: give one with `--data FILE.json`" in err
    # with a data file, a missing entry is the file's fault: no such note
    (tmp_path / "d.json").write_text(json.dumps({"y": [1.0, 2.0]}))
    assert main(["run", str(model), "--data", str(tmp_path / "d.json"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "no data for `x`" in err and "next to the model" not in err


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
    lines = text.splitlines()
    assert lines[0].startswith("Posterior: nuts, 1 chain × 200 draws, ")
    assert lines[1].split() == ["mean", "sd", "5%", "50%", "95%", "ess_bulk", "r_hat"]
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[2:]}
    assert {"mu", "tau", "theta[0]", "theta[7]", "theta_trans[0]"} <= set(rows)
    assert all(len(v) == 7 for v in rows.values())
    # the mean printed is the posterior's own (to the three digits shown)
    import augury
    post = augury.load_posterior(out)
    assert post.samples("theta").shape == (200, 8)
    assert np.isfinite(post.mean("mu"))
    assert float(rows["mu"][0]) == pytest.approx(float(f"{post.mean('mu'):.3g}"))


def test_internal_errors_exit_3_with_a_report_request(monkeypatch, capsys):
    import augury.model
    monkeypatch.setattr(augury.model.Model, "check_report", lambda self: 1 / 0)
    assert main(["check", EIGHT]) == 3
    err = capsys.readouterr().err
    assert "internal error in Augury" in err and "ZeroDivisionError" in err and "please report it" in err
    assert "Traceback" not in err
    assert main(["--debug", "check", EIGHT]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_the_argument_is_always_a_path(capsys):
    assert main(["check", "mymodel.txt"]) == 1
    assert "no model file `mymodel.txt`" in capsys.readouterr().err


def test_a_method_that_does_not_apply_is_said_before_its_settings(capsys):
    assert main(["run", EIGHT, "--method", "ddrm", "--set", "warmup=1", "--no-progress"]) == 1
    assert "`ddrm` does not apply to this model" in capsys.readouterr().err
    assert main(["run", EIGHT, "--set", "samples=abc", "--no-progress"]) == 1
    assert "`samples` must be a positive integer, not 'abc'" in capsys.readouterr().err


def test_out_is_checked_before_sampling(tmp_path, capsys):
    assert main(["run", EIGHT, "--out", str(tmp_path / "no" / "post.nc"), "--no-progress"]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("option, path, message", [
    ("--plot", "no/fig.png", "cannot save a figure to `{tmp}/no/fig.png`: the folder `{tmp}/no` does not exist"),
    ("--plot", "fig.foo", "cannot save a figure to `{tmp}/fig.foo`: unknown file type `.foo`"),
    ("--plot", "fig", "unknown file type ``"),
    ("--plot", "d.json/fig.png", "the folder `{tmp}/d.json` does not exist (it is a file)"),
    ("--out", "/proc/post.nc", "cannot save a posterior to `/proc/post.nc`: "),  # a folder no file can be made in
    ("--out", "d.json/post.nc", "the folder `{tmp}/d.json` does not exist (it is a file)"),
])
def test_unwritable_outputs_are_user_errors_before_sampling(tmp_path, capsys, monkeypatch, option, path, message):
    """`--plot` into a missing folder or with a suffix matplotlib cannot write, `--out` where no
    file can be created: exit 1 with the reason, before any sampling (no traceback, no exit 3)."""
    from augury.model import Model
    (tmp_path / "d.json").write_text("{}")
    target = path if path.startswith("/") else str(tmp_path / path)
    monkeypatch.setattr(Model, "sample", lambda *a, **k: pytest.fail("sampled before checking the outputs"))
    assert main(["run", EIGHT, option, target, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and "Traceback" not in err and "internal error" not in err, err


def test_warnings_come_last(tmp_path, capsys):
    # four chains of 20 draws: R-hat and ESS cannot pass
    rc = main(["run", EIGHT, "--set", "warmup=20", "--set", "samples=20", "--no-progress"])
    assert rc == 0
    out, err = capsys.readouterr()
    assert out.startswith("Posterior: nuts, 4 chains × 20 draws")
    assert "warning: bulk ESS" in err and "try:" in err


def test_a_huge_graph_is_refused_as_a_picture_and_written_as_dot(tmp_path, capsys):
    src = "".join(f"param p{i} : real\np{i} ~ normal(0, 1)\n" for i in range(2001))
    model_file = tmp_path / "big.aug"
    model_file.write_text(src)
    assert main(["graph", str(model_file), "-o", str(tmp_path / "g.svg")]) == 1
    assert "too many to draw" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.svg")) and not list(tmp_path.glob(".*tmp"))  # nothing half-written
    assert main(["graph", str(model_file), "-o", str(tmp_path / "g.dot")]) == 0
    assert (tmp_path / "g.dot").read_text().count("->") == 0 and '"p2000"' in (tmp_path / "g.dot").read_text()


def test_the_main_job_writes_the_figure_and_the_posterior(tmp_path, capsys, monkeypatch):
    """`augury run examples/inpaint_digits.aug` (fewer steps here) writes a PNG grid and the
    posterior file in the current folder; `--no-files` writes neither."""
    from augury.runtime.posterior import load_posterior
    model = Path(__file__).resolve().parents[2] / "examples" / "inpaint_digits.aug"
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(model), "--set", "particles=4", "--set", "steps=5", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "wrote inpaint_digits.png" in err and "saved posterior to inpaint_digits_posterior.npz" in err
    assert (tmp_path / "inpaint_digits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    post = load_posterior(tmp_path / "inpaint_digits_posterior.npz")
    assert post.samples("x").shape == (4, 8, 8) and post.method == "ddrm"
    (tmp_path / "inpaint_digits.png").unlink()
    assert main(["run", str(model), "--set", "particles=2", "--set", "steps=3", "--no-progress", "--no-files"]) == 0
    assert not (tmp_path / "inpaint_digits.png").exists()


def test_a_closed_pipe_is_not_an_internal_error(monkeypatch, capsys):
    """`augury check FILE | head -1`: a reader that leaves early (writes raise BrokenPipeError)
    ends the command quietly with 0, not as an internal error."""
    import io
    import os

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):  # the handler points the real descriptor at devnull
            return os.open(os.devnull, os.O_WRONLY)

    model = Path(__file__).resolve().parents[2] / "examples" / "inpaint_digits.aug"
    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert main(["check", str(model)]) == 0
    assert "internal error" not in capsys.readouterr().err


def test_a_non_positive_definite_mixture_prior_exits_1_at_its_place(tmp_path, capsys):
    """`mu[k] ~ mvnormal(m0, -1 * Sigma[k])`: a user error at the factor (exit 1), not a traceback."""
    model = tmp_path / "mix.aug"
    model.write_text("const K = 3\ndata X : real[N, D]\nparam w : simplex(K)\nparam mu : real[K, D]\n"
                     "param Sigma : spd(D)[K]\nparam z : category(K)[N]\nw ~ dirichlet(ones(K))\n"
                     "Sigma ~ inv_wishart(D + 2, eye(D))\n"
                     "for k in range(K) { mu[k] ~ mvnormal(zeros(D), -1 * Sigma[k]) }\n"
                     "for n in range(N) {\n  z[n] ~ categorical(w)\n  X[n] ~ mvnormal(mu[z[n]], Sigma[z[n]])\n}\n"
                     "infer by gibbs(sweeps = 20, warmup = 10, chains = 1)\n")
    data = tmp_path / "d.json"
    data.write_text(json.dumps({"X": np.random.default_rng(0).normal(size=(10, 2)).tolist()}))
    assert main(["run", str(model), "--data", str(data), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{model}:9:48: error: the factor `-1` of the prior covariance") and "Traceback" not in err


def test_an_int_const_set_to_a_fraction_is_an_error_naming_it(tmp_path, capsys):
    """`--set K=2.5` for a const declared int was truncated to 2 at binding: it is an error naming
    K, as `augury check --set`, `augury.compile(consts=...)` and `sample(consts=...)` say too; an
    integral value works, and the `infer` line reads the consts set."""
    import augury
    model = tmp_path / "k.aug"
    model.write_text("const K : int = 3\nconst S = 40\ndata y : real[N]\nparam mu : real[K]\nmu ~ normal(0, 1)\n"
                     "y ~ normal(sum(mu), 1)\ninfer by prior(samples = S)\n")
    (tmp_path / "k.json").write_text('{"y": [1.0, 2.0]}')
    message = "const `K` is declared int, but its override 2.5 is not an integer"
    for command in ("run", "check"):
        assert main([command, str(model), "--set", "K=2.5", "--no-progress"][:4 + (command == "run")]) == 1
        err = capsys.readouterr().err
        assert message in err and f"`K` is declared at {model}:1:7" in err and "Traceback" not in err, err
    with pytest.raises(augury.AuguryCheckError, match=message):
        augury.compile(model, consts={"K": 2.5})
    with pytest.raises(augury.AuguryCheckError, match=message):
        augury.compile(model).sample(data={"y": [1.0, 2.0]}, consts={"K": 2.5})
    assert main(["run", str(model), "--set", "K=2", "--set", "S=25", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Posterior: prior, 25 draws")
    rows = {ln.split()[0] for ln in lines[2:]}
    assert {"mu[0]", "mu[1]"} <= rows and "mu[2]" not in rows


def test_set_overrides_a_const_whose_default_clashes_in_the_infer_line(tmp_path, capsys):
    """`--set S=30` overrides a const the `infer` line reads even where its default value clashes
    there (`prior(samples = S)` with S = 0): the model is compiled once, with the consts set."""
    model = tmp_path / "s.aug"
    model.write_text("const S = 0\nparam mu : real\nmu ~ normal(0, 1)\ninfer by prior(samples = S)\n")
    assert main(["run", str(model), "--no-progress"]) == 1  # the default clashes: an error at its place
    assert f"{model}:4:" in capsys.readouterr().err
    assert main(["run", str(model), "--set", "S=30", "--no-progress"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.splitlines()[0].startswith("Posterior: prior, 30 draws")


@pytest.mark.parametrize("method", ["ensemble", pytest.param("tds", marks=pytest.mark.slow),
                                    pytest.param("mcgdiff", marks=pytest.mark.slow)])
def test_particle_diffusion_methods_run_from_the_cli(method, tmp_path, capsys, monkeypatch):
    """`augury run examples/deblur_digits.aug --method M` (few particles and steps here): the
    weighted posterior with its log evidence, saved with its weights."""
    from augury.runtime.posterior import load_posterior
    model = ROOT / "examples" / "deblur_digits.aug"
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(model), "--method", method, "--set", "particles=8", "--set", "steps=6",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"Posterior: {method}, 8 particles (weighted), log evidence" in out
    post = load_posterior(tmp_path / "deblur_digits_posterior.npz")
    assert post.samples("x").shape == (8, 8, 8) and post.method == method and post.is_weighted
    assert np.isclose(post.weights.sum(), 1.0) and np.isfinite(post.log_evidence)


def test_version(capsys):
    import augury
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith(f"augury {augury.__version__} (Python ")


WIDE = """
param x : real[40]
param s : positive
let t = 2 * s
x ~ normal(0, 1)
s ~ lognormal(0, 1)
"""


def test_vars_and_all_choose_the_summary(tmp_path, capsys):
    spec = tmp_path / "wide.aug"
    spec.write_text(WIDE)
    base = ["run", str(spec), "--method", "prior", "--set", "samples=200", "--no-progress"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "x[29]" in out and "x[30]" not in out and "… 12 more rows" in out and "--all" in out
    assert main(base + ["--all"]) == 0
    out = capsys.readouterr().out
    assert "x[39]" in out and "s " in out and "more rows" not in out
    assert main(base + ["--vars", "s,t"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows == ["s", "t"]


def test_an_unknown_summary_variable_is_refused_before_sampling(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "wide.aug"
    spec.write_text(WIDE)
    import augury.model
    monkeypatch.setattr(augury.model.Model, "sample", lambda *a, **k: pytest.fail("sampled"))
    assert main(["run", str(spec), "--method", "prior", "--vars", "x,ss", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "--vars: `ss` is not a param or let of the model" in err and "did you mean `s`?" in err
