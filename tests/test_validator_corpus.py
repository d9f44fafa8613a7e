"""wasmweld's validator on the real-world corpus (~/.cache/wasmweld-corpus), and the commands that validate
their outputs with it: every corpus module is accepted (em-pyodide's legacy exception handling
included), and ``edit --gc``, ``merge`` and ``strip`` work on em-pyodide without ``--no-validate``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import REPO, corpus_ids, corpus_path

from wasmweld.cli.main import main
from wasmweld.errors import ValidationError
from wasmweld.module import parse
from wasmweld.validator import validate_module

WASM_TOOLS = REPO / ".venv" / "bin" / "wasm-tools"
PYODIDE = "em-pyodide"


@pytest.fixture(autouse=True)
def _one_process(monkeypatch):
    monkeypatch.setenv("WASMWELD_VALIDATE_JOBS", "1")  # pytest-xdist already uses both cores


@pytest.mark.slow
@pytest.mark.parametrize("cid", corpus_ids())
def test_corpus_module_accepted(cid):
    path = corpus_path(cid)
    if not path.is_file():
        pytest.fail(f"corpus module {cid} missing: run ../shared/corpus/fetch.sh")
    validate_module(path.read_bytes())


def test_pyodide_uses_legacy_exceptions():
    """The point of the em-pyodide checks: it needs the legacy-exceptions feature (wasmtime refuses it)."""
    data = corpus_path(PYODIDE).read_bytes()
    with pytest.raises(ValidationError, match="legacy-exceptions"):
        validate_module(data, "all,-legacy-exceptions")


def _wasm_tools_accepts(path: Path) -> None:
    r = subprocess.run([str(WASM_TOOLS), "validate", "--features", "all", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_pyodide_edit_gc_strip_merge_without_no_validate(tmp_path, capsys):
    src = corpus_path(PYODIDE)
    gc_out, strip_out, merged = tmp_path / "gc.wasm", tmp_path / "strip.wasm", tmp_path / "merged.wasm"
    assert main(["edit", str(src), "-o", str(gc_out), "--gc", "-q"]) == 0, capsys.readouterr().err
    assert main(["strip", str(src), "-o", str(strip_out), "--debug", "-q"]) == 0, capsys.readouterr().err
    helper = tmp_path / "helper.wat"
    helper.write_text('(module (func (export "wasmweld_helper") (result i32) i32.const 7))')
    assert main(["merge", f"{src}=main", f"{helper}=helper", "-o", str(merged), "-q"]) == 0, capsys.readouterr().err
    for out in (gc_out, strip_out, merged):
        _wasm_tools_accepts(out)
    assert parse(merged.read_bytes()).export("wasmweld_helper") is not None
