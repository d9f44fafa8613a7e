"""wasmweld.runtime.engine: feature set, wat2wasm and validation errors, lazy wasmtime import."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import conformance_rows, CONFORMANCE_DIR

from wasmweld.errors import DecodeError, ValidationError, WasmError
from wasmweld.runtime import engine as eng
from wasmweld.validate import validate


def test_engine_is_cached_per_configuration():
    assert eng.engine() is eng.engine()
    assert eng.engine(fuel=True) is eng.engine(fuel=True)
    assert eng.engine(fuel=True) is not eng.engine()


def test_make_config_rejects_unknown_option():
    with pytest.raises(WasmError, match="no_such_option"):
        eng.make_config(no_such_option=True)


@pytest.mark.parametrize(
    "text",
    [
        # gc + function references
        "(module (type $s (struct (field (mut i32)))) (func (result (ref null $s)) (struct.new $s (i32.const 1))))",
        # exceptions
        "(module (tag $e (param i32)) (func (throw $e (i32.const 1))))",
        # tail calls
        "(module (func $f (result i32) (return_call $f)))",
        # memory64 + multi-memory
        "(module (memory i64 1) (memory 1) (func (result i32) (i32.load 1 (i32.const 0))))",
        # relaxed simd
        "(module (func (param v128 v128 v128) (result v128)"
        " (i32x4.relaxed_laneselect (local.get 0) (local.get 1) (local.get 2))))",
        # threads: shared memory and atomics
        "(module (memory 1 1 shared) (func (result i32) (i32.atomic.load (i32.const 0))))",
    ],
)
def test_wasm3_features_are_on(text):
    eng.validate_bytes(eng.wat2wasm(text))


def test_stack_switching_is_off_by_default():
    data = eng.wat2wasm("(module (type $f (func)) (type $c (cont $f)))")
    with pytest.raises(ValidationError):
        eng.validate_bytes(data)


def test_validation_error_has_offset_and_one_line_message():
    data = eng.wat2wasm("(module (func (result i32) i64.const 0))")
    with pytest.raises(ValidationError) as info:
        eng.validate_bytes(data)
    err = info.value
    assert err.message == "type mismatch: expected i32, found i64"
    assert err.offset == 0x1A
    assert str(err) == "type mismatch: expected i32, found i64 (at offset 0x1a)"


def test_truncated_binary_reports_offset():
    with pytest.raises(ValidationError) as info:
        eng.validate_bytes(memoryview(b"\0asm\x01\0\0\0\x01\x05"))
    assert info.value.offset == 10


def test_wat_syntax_error_is_decode_error_with_location():
    with pytest.raises(DecodeError) as info:
        eng.wat2wasm("(module\n  (func (result i32) frobnicate))")
    err = info.value
    assert err.offset is None and err.context == "WAT text"
    assert "\n" not in str(err)
    assert "(line 2, column 22)" in str(err)
    assert "frobnicate" in err.detail


def test_wat_not_utf8():
    with pytest.raises(DecodeError) as info:
        eng.wat2wasm(b"(module \xff)")
    assert info.value.offset == 8


def test_looks_like_wat():
    assert eng.looks_like_wat(b"  (module)")
    assert eng.looks_like_wat(b";; comment\n(module)")
    assert eng.looks_like_wat(b"\xef\xbb\xbf(module)")
    assert eng.looks_like_wat(b"module", "x.wat")
    assert not eng.looks_like_wat(b"\0asm\x01\0\0\0", "x.wat")
    assert not eng.looks_like_wat(b"garbage")


def test_load_bytes(tmp_path):
    (tmp_path / "m.wat").write_text("(module (func (export \"f\")))")
    data = eng.load_bytes(tmp_path / "m.wat")
    assert data[:4] == b"\0asm"
    assert eng.load_bytes(data) == data
    assert eng.load_bytes(b"(module)") == b"\0asm\x01\0\0\0"
    with pytest.raises(WasmError, match="no such file"):
        eng.load_bytes(tmp_path / "missing.wasm")
    with pytest.raises(WasmError, match="is a directory"):
        eng.load_bytes(tmp_path)


def test_validate_accepts_bytes_and_objects_with_encode():
    good = eng.wat2wasm("(module)")

    class FakeModule:
        def encode(self):
            return good

    validate(good)
    validate(FakeModule())
    with pytest.raises(TypeError):
        validate("(module)")


def test_engine_agrees_with_conformance_index():
    """Our feature set is the one the conformance index was made with: same accept/reject on all 5,959 files."""
    rows = conformance_rows()
    assert len(rows) > 5000
    disagree = []
    for row in rows:
        data = (CONFORMANCE_DIR / row["path"]).read_bytes()
        try:
            eng.validate_bytes(data)
            got = "accept"
        except ValidationError:
            got = "reject"
        if got != row["wasmtime"]:
            disagree.append((row["path"], row["wasmtime"], got))
    assert disagree == []


def test_import_wasmweld_does_not_import_wasmtime():
    code = (
        "import sys, wasmweld, wasmweld.validate, wasmweld.runtime.engine, wasmweld.cli.main, wasmweld.cli.io;"
        "assert 'wasmtime' not in sys.modules, 'wasmtime imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_require_wasmtime_message_when_missing():
    code = (
        "import sys; sys.modules['wasmtime'] = None\n"
        "from wasmweld.runtime import engine\n"
        "from wasmweld.errors import WasmError\n"
        "try:\n    engine.wat2wasm('(module)')\nexcept WasmError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install 'wasmweld[runtime]'" in out
