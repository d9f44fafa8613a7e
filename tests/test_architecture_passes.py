"""Code shape of the passes, the linker and the snapshot instrumenter (issue 9), checked by reading the source.

In ``src/wasmweld/passes``, ``src/wasmweld/link`` and ``preinit/instrument.py``: no raw opcode byte
literals and no LEB128 loops of their own (code is made through ``Instr.make`` and the opcode
table), no private names imported from another module, no file of 1,000 lines or more, no
function over 100 lines; every registered pass is a ``run(module, **options) -> PassResult``
function of its own pass module (no adapters in the registry).
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "wasmweld"
FILES = sorted([*SRC.joinpath("passes").glob("*.py"), *SRC.joinpath("link").glob("*.py"),
                SRC / "preinit" / "instrument.py"])
FILES.remove(SRC / "link" / "graph.py")        # the CLI's (drawing), not the linker's
#: private modules of other areas that a file here may still use (owned elsewhere; see the lead's notes)
ALLOWED_PRIVATE = {("passes/plan.py", "wasmweld._toml")}

RAW_OPCODE = re.compile(r"""b["']\\x[0-9a-fA-F]{2}|\b0x[0-9a-fA-F]{2}\b(?!\s*[:,]?\s*#)""")
LEB_LOOP = re.compile(r"&\s*0x7[fF]|\|\s*0x80|>>=\s*7")


def _rel(path: Path) -> str:
    return str(path.relative_to(SRC))


def _code_lines(path: Path):
    """(line number, text) of the lines outside docstrings and comments."""
    tree = ast.parse(path.read_text())
    doc_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                doc_lines.update(range(first.lineno, first.end_lineno + 1))
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if i not in doc_lines:
            yield i, line.split("#", 1)[0]


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_no_raw_opcodes_or_leb_loops(path):
    bad = [(i, t.strip()) for i, t in _code_lines(path) if RAW_OPCODE.search(t) or LEB_LOOP.search(t)]
    assert not bad, f"{_rel(path)}: raw opcode bytes or a LEB128 loop: {bad}"


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_no_private_imports_across_modules(path):
    tree = ast.parse(path.read_text())
    package = ".".join(["wasmweld", *path.relative_to(SRC).parent.parts])
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            parts = package.split(".")
            module = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
        else:
            module = node.module
        private = [f"{module}.{a.name}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
        if any(part.startswith("_") and part != "__future__" for part in module.split(".")):
            private.append(module)
        bad += [(node.lineno, what) for what in private if (_rel(path), what) not in ALLOWED_PRIVATE]
    assert not bad, f"{_rel(path)} imports private names of other modules: {bad}"


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_file_and_function_sizes(path):
    text = path.read_text()
    assert text.count("\n") < 1000, f"{_rel(path)} has {text.count(chr(10))} lines"
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 100]
    assert not long, f"{_rel(path)}: functions over 100 lines: {long}"


def test_every_pass_is_a_run_function_of_its_own_module():
    from wasmweld.passes.registry import PASSES
    from wasmweld.passes.result import PassResult

    for name, info in PASSES.items():
        run = info.run
        assert run.__module__ != "wasmweld.passes.registry", f"{name}: an adapter in the registry"
        assert run.__name__.startswith("run_"), name
        hints = inspect.get_annotations(run, eval_str=True)
        assert hints.get("return") is PassResult, f"{name}: run must return PassResult"
        params = list(inspect.signature(run).parameters.values())
        assert params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD), name
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params[1:]), f"{name}: options are keywords"
