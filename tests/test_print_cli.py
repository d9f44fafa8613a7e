"""``wasmweld print`` and ``wasmweld parse`` on the command line, against ``wasm-tools print``."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wasmweld.cli.main import main
from wasmweld.module import parse

WASM_TOOLS = shutil.which("wasm-tools", path=str(Path(sys.executable).parent)) or shutil.which("wasm-tools")

WAT = """(module $demo
  (import "env" "log" (func $log (param i32)))
  (memory (export "memory") 1)
  (func $square (export "square") (param $x i32) (result i32)
    local.get $x
    local.get $x
    i32.mul)
  (func $main (export "_start")
    block $out
      i32.const 7
      call $square
      call $log
      br $out
    end)
  (data (i32.const 8) "hello"))"""


def run_cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def wasm_tools_print(path: Path, *flags: str) -> str:
    return subprocess.run([WASM_TOOLS, "print", *flags, str(path)], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def demo(tmp_path, wat) -> Path:
    p = tmp_path / "demo.wasm"
    p.write_bytes(wat(WAT))
    return p


@pytest.mark.parametrize("flags,ours", [
    ((), ()), (("--fold-instructions",), ("--fold",)), (("--print-offsets",), ("--offsets",)),
    (("--skeleton",), ("--skeleton",)),
])
def test_print_matches_wasm_tools(demo, flags, ours):
    status, out, err = run_cli("print", demo, *ours)
    assert status == 0, err
    assert out == wasm_tools_print(demo, *flags)


def test_print_to_file_and_no_names(demo, tmp_path):
    out = tmp_path / "demo.wat"
    status, _out, err = run_cli("print", demo, "-o", out, "--no-names")
    assert status == 0, err
    text = out.read_text()
    assert "$" not in text and "(func (;2;) (type 2)" in text and "call 1" in text
    # the text compiles back to a module with the same code
    status, _o, err = run_cli("parse", out, "-o", tmp_path / "again.wasm")
    assert status == 0, err
    a, b = parse(demo.read_bytes()), parse((tmp_path / "again.wasm").read_bytes())
    assert [list(x.instrs) for x in a.code] == [list(x.instrs) for x in b.code]


def test_print_func_selection(demo):
    status, out, err = run_cli("print", demo, "--func", "square")
    assert status == 0, err
    assert out == "(func $square (;1;) (type 1) (param $x i32) (result i32)\n" \
                  "  local.get $x\n  local.get $x\n  i32.mul\n)\n"
    status, out2, _ = run_cli("print", demo, "--func", "1")
    assert out2 == out
    status, out3, _ = run_cli("print", demo, "--func", "_start", "--func", "square")
    assert out3.startswith(out) and "(func $main (;2;)" in out3
    status, _out, err = run_cli("print", demo, "--func", "nope")
    assert status == 1 and err.startswith("error:") and err.count("\n") == 1
    status, _out, err = run_cli("print", demo, "--func", "0")  # imported
    assert status == 1 and "not defined" in err


def test_print_bad_input_one_error_line_and_no_output(tmp_path):
    bad = tmp_path / "bad.wasm"
    good = parse(b"\0asm\1\0\0\0")
    bad.write_bytes(b"\0asm\1\0\0\0\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x05\x01\x03\x00\x41\x0b")
    out = tmp_path / "bad.wat"
    status, _o, err = run_cli("print", bad, "-o", out)
    assert status == 1, err
    assert err.startswith("error:") and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]
    assert good.to_wat() == "(module)\n"
    status, _o, err = run_cli("print", tmp_path / "missing.wasm")
    assert status == 1 and "no such file" in err


def test_parse_errors_have_line_and_column(tmp_path):
    src = tmp_path / "bad.wat"
    src.write_text("(module\n  (func (result i32)\n    i32.const)\n")
    status, _o, err = run_cli("parse", src, "-o", tmp_path / "x.wasm")
    assert status == 1
    assert err.startswith("error:") and "line 3, column" in err and err.count("\n") == 1
    assert not (tmp_path / "x.wasm").exists()


def test_info_shows_function_names(demo, tmp_path):
    status, out, err = run_cli("info", demo)
    assert status == 0, err
    assert '  func  0  <log>  "env"  "log"  type 0 [i32] -> []' in out
    assert '  func    1  <square>  "square"' in out and '  func    2  <main>    "_start"' in out
    assert '  memory  0            "memory"' in out
    stripped = tmp_path / "stripped.wasm"
    assert run_cli("strip", demo, "-o", stripped, "-q")[0] == 0
    status, out, _ = run_cli("info", stripped)
    assert status == 0 and "<" not in out and '  func    1  "square"' in out
