"""Issue 17.23: merge of an input whose invalid part gc removes is refused, not silently accepted;
issue 17.7: kept exports are found by name in linear time."""

from __future__ import annotations

import subprocess
import sys

import pytest
import wasmtime

from wasmweld.errors import LinkError, WasmError
from wasmweld.link import merge
from wasmweld.runtime.engine import validate_bytes

BAD = """(module
  (func (export "f") (result i32) (i32.const 1))
  (func $dead (result i32) (i64.const 0)))"""   # invalid (i64 where i32 is due), and unused
GOOD = """(module (import "a" "f" (func (result i32))) (func (export "g") (result i32) (call 0)))"""


def test_invalid_input_removed_by_gc_is_reported():
    bad = wasmtime.wat2wasm(BAD)
    with pytest.raises(WasmError):
        validate_bytes(bad)
    out = merge([("a", bad), ("b", wasmtime.wat2wasm(GOOD))]).encode()
    validate_bytes(out)                                   # gc removed the invalid part: the output is valid
    with pytest.raises(LinkError, match="input 'a' is not a valid module"):
        merge([("a", bad), ("b", wasmtime.wat2wasm(GOOD))], validate_inputs=True)
    merge([("b2", wasmtime.wat2wasm(GOOD)), ("a", wasmtime.wat2wasm(BAD.replace("i64", "i32")))],
          validate_inputs=True, allow_unresolved=True)   # valid inputs pass


def test_cli_merge_refuses_an_invalid_input(tmp_path):
    (tmp_path / "a.wasm").write_bytes(wasmtime.wat2wasm(BAD))
    (tmp_path / "b.wasm").write_bytes(wasmtime.wat2wasm(GOOD))
    out = tmp_path / "out.wasm"
    proc = subprocess.run([sys.executable, "-m", "wasmweld", "merge", f"{tmp_path / 'a.wasm'}=a",
                           f"{tmp_path / 'b.wasm'}=b", "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "a.wasm" in lines[0], proc.stderr
    assert not out.exists()
    proc = subprocess.run([sys.executable, "-m", "wasmweld", "merge", f"{tmp_path / 'a.wasm'}=a",
                           f"{tmp_path / 'b.wasm'}=b", "-o", str(out), "--no-validate"], capture_output=True)
    assert proc.returncode == 0 and out.exists()          # --no-validate: what it says


def test_merge_finds_many_kept_exports_by_name():
    """Many kept exports are found by name and keep their functions (bench_merge times 40k: formerly quadratic)."""
    n = 2_000
    funcs = "".join(f'(func (export "e{i}") (result i32) (i32.const {i}))' for i in range(n))
    big = wasmtime.wat2wasm(f"(module {funcs})")
    m = merge([("big", big), ("b", wasmtime.wat2wasm('(module (func (export "zz")))'))])
    assert len(m.exports) == n + 1
    names = {e.name: e.index for e in m.exports}
    assert names["e0"] != names["e1999"] and "zz" in names
