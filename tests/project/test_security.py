"""What a model file may make Python do (issue 18, item 8): it reaches Python only through a
`module:attr` its author wrote and the user allowed, nothing is imported before that check, a
path is dotted names and nothing else, and weights load through safetensors only.  (Nothing
opens a socket at run time: tests/project/test_no_network.py.)"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import augury
from augury.cli import main
from augury.errors import AuguryError
from augury.runtime.operators import import_path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = [ROOT / d for d in ("augury", "compiler", "dsl", "runtime")]

# a model's every way to name Python (compiler/structure.py `python_imports`), each on line 5
WAYS = {
    "python": 'x ~ normal(0, 1)\nop A = python("PATH")\ny ~ normal(A(x), 0.1)',
    "jax": 'x ~ diffusion(net = jax("PATH"), sde = vp(0.1, 20), predicts = "eps")\ny ~ normal(x, 0.1)',
    "torch": 'x ~ diffusion(net = torch("PATH", weights = "w.safetensors"), sde = vp(0.1, 20), predicts = "eps")'
             '\ny ~ normal(x, 0.1)',
}
COLUMN = {"python": 8, "jax": 21, "torch": 21}  # where the call starts on line 5


def _model(way: str, path: str) -> str:
    head = "model m\ndata y : real[4]\nparam x : real[4]\n"
    return head + ("" if way == "python" else "\n") + WAYS[way].replace("PATH", path) + "\n"


def _run(model, way: str):
    if way == "python":
        return model.sample({"y": np.ones(4)}, method="nuts", warmup=5, samples=5, chains=1)
    return model.sample({"y": np.ones(4)}, method="dps", particles=2, steps=2)


SENTINEL = "import os\nos.environ['AUGURY_SENTINEL_IMPORTED'] = '1'\n\ndef fn(x):\n    return x\n"


@pytest.fixture
def sentinel(tmp_path, monkeypatch):
    """A module whose import has a side effect, importable from tmp_path."""
    (tmp_path / "augury_sentinel.py").write_text(SENTINEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("AUGURY_SENTINEL_IMPORTED", raising=False)
    yield "augury_sentinel"
    sys.modules.pop("augury_sentinel", None)


@pytest.mark.parametrize("way", list(WAYS))
def test_python_is_refused_without_permission_naming_the_path_and_place_and_nothing_is_imported(way, sentinel):
    model = augury.compile(_model(way, f"{sentinel}:fn"))
    with pytest.raises(AuguryError) as e:
        _run(model, way)
    msg = str(e.value)
    assert f"`{sentinel}:fn`" in msg and "--allow-python" in msg, msg
    assert (e.value.span.line, e.value.span.col) == (5, COLUMN[way]) and f"<string>:5:{COLUMN[way]}:" in msg, msg
    assert sentinel not in sys.modules and "AUGURY_SENTINEL_IMPORTED" not in os.environ


def test_the_cli_refuses_python_without_allow_python_and_imports_nothing(sentinel, tmp_path, capsys):
    model = tmp_path / "m.aug"
    model.write_text(_model("python", f"{sentinel}:fn"))
    data = tmp_path / "d.json"
    data.write_text(json.dumps({"y": [1, 1, 1, 1]}))
    code = main(["run", str(model), "--data", str(data), "--no-progress", "--no-files", "--set", "warmup=2",
                 "--set", "samples=2", "--set", "chains=1"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and f"`{sentinel}:fn`" in err and "m.aug:5:8:" in err, err
    assert sentinel not in sys.modules and "AUGURY_SENTINEL_IMPORTED" not in os.environ


def test_with_permission_only_the_named_attribute_is_resolved(sentinel):
    """The import runs the module (that is what allowing it means); the attribute is looked up by
    name, never evaluated: "os:system" is the function os.system, not a call."""
    post = _run(augury.compile(_model("python", f"{sentinel}:fn"), allow_python=True), "python")
    assert post.samples("x").shape == (5, 4) and os.environ.get("AUGURY_SENTINEL_IMPORTED") == "1"
    assert import_path("os:system") is os.system and import_path("os.path:join") is os.path.join


@pytest.mark.parametrize("path", ["os..path:join", "os: system", "os:system; import sys", "__import__('os'):system",
                                  "os:", ":system", "os", ".os:system", "os:path..join", "os:sys tem",
                                  "os:system()", "os/path:join", "lambda: 0"])
def test_malformed_paths_are_refused_before_any_import(path, monkeypatch):
    import importlib
    monkeypatch.setattr(importlib, "import_module", lambda *a: pytest.fail(f"imported for {path!r}"))
    with pytest.raises(ValueError, match="is not of the form"):
        import_path(path)


def test_a_malformed_path_in_a_model_is_an_error_at_its_line():
    model = augury.compile(_model("python", "os..path:join"), allow_python=True)
    with pytest.raises(AuguryError) as e:
        _run(model, "python")
    assert "is not of the form" in str(e.value) and e.value.span.line == 5, str(e.value)


# ---------------------------------------------------------------- weights and files: no pickles, no code

# (pattern, what it is) for source that could run code or unpickle; each allowed use is listed below
FORBIDDEN = [
    (r"\bimport pickle|\bfrom pickle\b|\bcPickle\b|\bdill\b|\bjoblib\b|\bcloudpickle\b", "a pickle module"),
    (r"torch\.load\((?![^)]*weights_only\s*=\s*True)", "torch.load without weights_only=True"),
    (r"(?<![.\w])eval\(", "eval"),
    (r"(?<![.\w])exec\(", "exec"),
    (r"__import__", "__import__"),
    (r"importlib\.import_module\(", "a dynamic import"),
    (r"allow_pickle\s*=\s*True", "np.load with pickles"),
    (r"\.load\(.*mmap_mode|np\.lib\.format\.read_array\(.*allow_pickle", "a raw array reader with pickles"),
    (r"(?<![.\w])(yaml\.load|marshal\.loads?|shelve\.open)\(", "a loader that runs code"),
]
ALLOWED = {
    # the one way a model file reaches Python: `module:attr`, checked and allowed by the user first
    ("runtime/operators.py", "importlib.import_module("),
    # the sampler registry imports its own modules, by names fixed in the package
    ("runtime/samplers/__init__.py", "importlib.import_module("),
    # `augury.oracle`, imported lazily by name (a fixed string in the package)
    ("augury/__init__.py", "importlib.import_module("),
}


def _sources():
    for d in PACKAGE:
        for p in sorted(d.rglob("*.py")):
            yield p.relative_to(ROOT).as_posix(), p.read_text()


def test_the_package_has_no_pickle_eval_exec_or_unchecked_import():
    found = []
    for rel, text in _sources():
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # comments may name them
        code = re.sub(r'"""[\s\S]*?"""', "", code)  # so may docstrings
        for pattern, what in FORBIDDEN:
            for m in re.finditer(pattern, code):
                hit = code[m.start():m.end()]
                if not any(rel == f and hit.startswith(h) for f, h in ALLOWED):
                    found.append(f"{rel}: {what}: {code[max(0, m.start() - 30):m.end() + 30]!r}")
    assert not found, "\n".join(found)
    assert len(list(_sources())) > 50  # the grep saw the package


def test_every_np_load_refuses_pickles():
    """numpy's default is allow_pickle=False (since 1.16.3); every call says it anyway, so that a
    reader never depends on the default."""
    import inspect
    assert inspect.signature(np.load).parameters["allow_pickle"].default is False
    calls = [(rel, m.group(0)) for rel, text in _sources() for m in re.finditer(r"np\.load\([^)]*\)", text)]
    assert calls and all("allow_pickle=False" in c for _, c in calls), calls


def test_a_pickle_given_as_weights_is_refused(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    (tmp_path / "tinynet.py").write_text(
        "import torch\n\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.w = torch.nn.Parameter(torch.zeros(4))\n\n    def forward(self, x, t):\n        return x * self.w\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.save({"w": torch.zeros(4)}, tmp_path / "w.pt")  # a pickle
    model_path = tmp_path / "m.aug"
    model_path.write_text(_model("torch", "tinynet:Net").replace("w.safetensors", "w.pt"))
    model = augury.compile(model_path, allow_python=True)
    with pytest.raises(AuguryError) as e:
        _run(model, "torch")
    msg = str(e.value)
    assert "weights file `w.pt` is not a .safetensors file" in msg and "never pickles" in msg, msg
    sys.modules.pop("tinynet", None)


def test_a_pickle_renamed_to_safetensors_is_refused_without_unpickling(tmp_path):
    """safetensors reads a JSON header and raw bytes; a pickle under that name is a corrupt file."""
    torch = pytest.importorskip("torch")
    from augury.runtime.networks import _metadata
    path = tmp_path / "w.safetensors"
    torch.save({"w": torch.zeros(4)}, path)
    with pytest.raises(ValueError, match="cannot read weights file `w.safetensors`"):
        _metadata(path)
