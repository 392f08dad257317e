"""Every code block of the documentation runs as written (docs/*.md and the README).

- ```augury blocks compile with `augury.compile(text)`, or fail with the error their
  `<!-- error: TEXT -->` marker names (default tier: milliseconds each);
- ```python blocks run in a fresh Python, from a temporary folder where `examples/` is the
  repository's, the blocks of one page in order in one process as a reader would run them (the
  extended tier: they sample and compile for minutes; `CI_LEAVES_OUT` in tests/conftest.py); the
  default tier parses them;
- `augury ...` lines of ```bash and ```console blocks run through `augury.cli.main` in the test's
  process, from such a folder: `augury run` and `augury sbc` in the slow tier, the others (check,
  graph, --help) in the default tier.

A block marked `<!-- no-check: why -->` is not run (docs_blocks.py). Every other block must have a
language, so that nothing is left out by accident.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from docs_blocks import ROOT, Block, all_blocks, blocks, commands, pages

import augury
from augury.errors import AuguryError

BLOCKS = all_blocks()
RUNNABLE = {"augury", "python", "bash", "console", "sh", "shell"}
TEXT = {"text", "toml", "yaml", "json", "lark", "ini"}
PAGE_TIMEOUT = 600  # seconds for one page's Python blocks (each a few samplers, compiled cold)


def _by_lang(*langs: str) -> list[Block]:
    return [b for b in BLOCKS if b.lang in langs and b.marker != "no-check"]


def _workdir(tmp_path: Path) -> Path:
    """A folder where the docs' relative paths work: `examples/` is the repository's."""
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    return tmp_path


def _env() -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", AUGURY_PROGRESS="0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


# ---------------------------------------------------------------- the blocks themselves (default tier)

def test_the_docs_have_blocks_of_every_kind():
    langs = {b.lang for b in BLOCKS}
    assert {"augury", "python", "bash"} <= langs, langs
    assert len(_by_lang("augury")) >= 12


def test_every_docs_block_says_its_language():
    # an unlabelled block is neither highlighted nor run: docs pages say `text` for output
    bare = [b.id for p in pages() if p.name != "README.md" for b in blocks(p) if not b.lang]
    assert not bare, bare
    unknown = [f"{b.id} ({b.lang})" for b in BLOCKS if b.lang and b.lang not in RUNNABLE | TEXT]
    assert not unknown, unknown


def test_markers_are_used_where_they_mean_something():
    for b in BLOCKS:
        if b.marker == "error":
            assert b.note and b.lang in ("augury", "bash", "console"), b.id
        if b.marker == "no-check":
            assert b.note, f"{b.id}: say why the block is not run (<!-- no-check: why -->)"


@pytest.mark.parametrize("block", _by_lang("augury"), ids=lambda b: b.id)
def test_augury_block_compiles(block):
    if block.marker == "error":
        with pytest.raises(AuguryError) as err:
            augury.compile(block.text)
        assert block.note in str(err.value), str(err.value)
    else:
        augury.compile(block.text)


@pytest.mark.parametrize("block", _by_lang("python"), ids=lambda b: b.id)
def test_python_block_is_python(block):
    ast.parse(block.text, block.id)  # the extended tier runs it; a syntax error is found here at once


def _command_blocks(slow: bool) -> list[Block]:
    return [b for b in _by_lang("bash", "console", "sh", "shell") if commands(b)
            and any(c.split()[1:2] in (["run"], ["sbc"]) for c in commands(b)) == slow]


def _run_in_this_process(block: Block, tmp_path: Path, monkeypatch, capsys) -> None:
    """The block's `augury` lines through `augury.cli.main`, as the console script calls it (no
    Python start-up per line; a run's compiled programs are shared with the tests before it)."""
    from augury.cli import main
    monkeypatch.chdir(_workdir(tmp_path))
    monkeypatch.setenv("AUGURY_PROGRESS", "0")
    for line in commands(block):
        argv = shlex.split(line)[1:]
        if argv[:1] in (["run"], ["sbc"]) and "--no-progress" not in argv:
            argv.append("--no-progress")
        try:
            code = main(argv)
        except SystemExit as stop:  # --help, --version
            code = stop.code or 0
        err = capsys.readouterr().err
        if block.marker == "error":
            assert code == 1 and block.note in err, (line, code, err)
        else:
            assert code == 0, f"`{line}` exited {code}:\n{err[-3000:]}"


@pytest.mark.parametrize("block", _command_blocks(slow=False), ids=lambda b: b.id)
def test_command_block_runs(block, tmp_path, monkeypatch, capsys):
    _run_in_this_process(block, tmp_path, monkeypatch, capsys)


# ---------------------------------------------------------------- what samples (slow tier)

@pytest.mark.slow
@pytest.mark.parametrize("block", _command_blocks(slow=True), ids=lambda b: b.id)
def test_run_command_block_runs(block, tmp_path, monkeypatch, capsys):
    _run_in_this_process(block, tmp_path, monkeypatch, capsys)


def _python_pages() -> list[Path]:
    return sorted({b.page for b in _by_lang("python")})


def _script(page_blocks: list[Block]) -> tuple[str, list[tuple[int, Block]]]:
    """The page's Python blocks as one script, and the script line where each block starts."""
    lines, starts = [], []
    for b in page_blocks:
        lines.append(f"# ---- {b.id}")
        starts.append((len(lines) + 1, b))
        lines.extend(b.text.splitlines())
    return "\n".join(lines) + "\n", starts


def _where(stderr: str, starts: list[tuple[int, Block]]) -> str:
    """The docs line of the last traceback frame in the script."""
    hits = re.findall(r'File "[^"]*docs_script\.py", line (\d+)', stderr)
    if not hits:
        return "?"
    n = int(hits[-1])
    start, block = max((s for s in starts if s[0] <= n), key=lambda s: s[0])
    return f"{block.page.relative_to(ROOT)}:{block.line + 1 + n - start}"


@pytest.mark.slow
@pytest.mark.parametrize("page", _python_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_of_a_page_run_in_order(page, tmp_path):
    cwd = _workdir(tmp_path)
    script, starts = _script([b for b in _by_lang("python") if b.page == page])
    (cwd / "docs_script.py").write_text(script)
    out = subprocess.run([sys.executable, "docs_script.py"], cwd=cwd, env=_env(), capture_output=True, text=True,
                         timeout=PAGE_TIMEOUT)
    assert out.returncode == 0, f"failed at {_where(out.stderr, starts)}:\n{out.stderr[-4000:]}"
