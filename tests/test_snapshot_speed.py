"""The snapshot's speed paths give the same results as the plain ones (issue 16).

* a large input is validated by wasmtime in a second thread while it is instrumented
  (``wasmweld.preinit.VALIDATE_MEANWHILE_BYTES``): an invalid one still fails with the
  input's ValidationError (offset into the input), whatever instrumenting it ran into;
  a valid one gives the same bytes either way;
* the CLI report counts the command's start-up apart from the stages;
* a module with much code and no artifact cache is compiled unoptimised (the init runs once), with
  the same result.
"""

from __future__ import annotations

import json

import pytest

import wasmweld.preinit as preinit
from wasmweld.cli.main import main
from wasmweld.errors import ValidationError
from wasmweld.preinit import snapshot_bytes
from wasmweld.runtime.engine import validate_bytes, wat2wasm

BLOB = "x" * (300 << 10)  # the module is over the threshold (256 KiB)


def _module(body: str) -> bytes:
    return wat2wasm(f'(module (memory 8) (global $g (mut i32) (i32.const 0)) (data (i32.const 64) "{BLOB}")'
                    f' (func (export "wizer-initialize") {body}))')


def test_a_large_invalid_input_fails_validation_in_the_input(monkeypatch):
    bad = _module("(i32.store (i32.const 0) (i64.const 1))")
    assert len(bad) >= preinit.VALIDATE_MEANWHILE_BYTES
    with pytest.raises(ValidationError) as ref:
        validate_bytes(bad)
    with pytest.raises(ValidationError) as exc:
        snapshot_bytes(bad)
    assert (str(exc.value), exc.value.offset) == (str(ref.value), ref.value.offset)
    assert exc.value.offset is not None and "type mismatch" in str(exc.value)
    # the same error when instrumenting it fails too: the input's invalidity is what is reported
    def broken(*args, **kwargs):
        raise IndexError("instrumenting an invalid module went wrong")

    monkeypatch.setattr(preinit, "instrument", broken)
    with pytest.raises(ValidationError):
        snapshot_bytes(bad)


def test_a_large_valid_input_gives_the_same_bytes_either_way(monkeypatch):
    good = _module("(i32.store (i32.const 8) (i32.const 0x01020304)) (global.set $g (i32.const 7))")
    threaded = snapshot_bytes(good)
    monkeypatch.setattr(preinit, "VALIDATE_MEANWHILE_BYTES", 1 << 40)
    inline = snapshot_bytes(good)
    assert threaded == inline
    assert b"\x04\x03\x02\x01" in threaded and len(threaded) > len(BLOB)


def test_cli_report_counts_startup_apart(tmp_path, capsys):
    src = tmp_path / "m.wat"
    src.write_text('(module (memory 1) (func (export "wizer-initialize") (i32.store (i32.const 8) (i32.const 5))))')
    rep = tmp_path / "r.json"
    assert main(["snapshot", str(src), "-o", str(tmp_path / "o.wasm"), "--report", str(rep)]) == 0
    doc = json.loads(rep.read_text())
    assert list(doc["times"]) == ["startup", "compile", "instrument", "init", "capture", "rewrite", "write"]
    assert all(v >= 0 for v in doc["times"].values())
    assert doc["total_seconds"] >= sum(v for k, v in doc["times"].items() if k != "write")
    err = capsys.readouterr().err
    assert "(startup " in err and ", write " in err


def test_the_rewrite_edits_the_input_parse_only_when_it_encodes_as_the_input():
    """instrument() says whether its input still encodes to its bytes; snapshot_bytes then rewrites that
    parse (its decoded data segments reused) and writes what a fresh parse gives."""
    import sys

    from wasmweld.module import FuncBody, parse

    instrument_mod = sys.modules["wasmweld.preinit.instrument"]
    src = wat2wasm('(module (memory 1) (global $g (mut f32) (f32.const 0)) (data (i32.const 16) "abc") (data $p "xyz")'
                   ' (func (export "wizer-initialize") (f32.store (i32.const 0) (f32.const 2)) (data.drop $p)))')
    module = parse(src)
    assert instrument_mod.instrument(module, None).input_unchanged
    module.funcs.append(0)
    module.code.append(FuncBody.from_instrs([], []))
    assert not instrument_mod.instrument(module, None).input_unchanged
    out = snapshot_bytes(src)
    assert out == snapshot_bytes(parse(src))  # a Module input is encoded, then parsed afresh
    m = parse(out)
    assert [d.init for d in m.datas][:2] == [b"", b""]  # the active one emptied, the dropped passive one too
    assert [d.init for d in m.datas[2:]] == [b"@", b"abc"]  # 2.0f stored at 0 (its one non-zero byte), "abc"


LOOP = ('(module (memory 2) (global $n (mut i32) (i32.const 0))'
        ' (func (export "wizer-initialize") (local $i i32)'
        '  (loop $l (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.mul (local.get $i) (local.get $i)))'
        '   (local.set $i (i32.add (local.get $i) (i32.const 1)))'
        '   (br_if $l (i32.lt_u (local.get $i) (i32.const 20000))))'
        '  (global.set $n (local.get $i))))')


def test_large_code_without_a_cache_compiles_unoptimised_with_the_same_result(monkeypatch, tmp_path):
    from wasmweld.errors import SnapshotError
    from wasmweld.preinit import EngineRunner
    from wasmweld.runtime import preinit_runner
    from wasmweld.runtime.preinit_runner import WasmtimeRunner

    src = wat2wasm(LOOP)
    assert WasmtimeRunner().opt_level_for(src) == "speed"  # a few bytes of code
    reports: list = []
    fast = snapshot_bytes(src, report=reports.append)
    assert reports[-1].opt_level == "speed"
    monkeypatch.setattr(preinit_runner, "QUICK_COMPILE_CODE_BYTES", 16)
    assert WasmtimeRunner().opt_level_for(src) == "none"
    assert WasmtimeRunner(cache_dir=str(tmp_path)).opt_level_for(src) == "speed"  # a kept artifact: optimised
    assert WasmtimeRunner(opt_level="speed_and_size").opt_level_for(src) == "speed_and_size"
    quick = snapshot_bytes(src, report=reports.append)
    assert reports[-1].opt_level == "none"
    assert quick == fast and len(quick) > 4 * 20000  # the squares, written either way
    assert EngineRunner(opt_level="none").engine.opt_level == "none"
    with pytest.raises(SnapshotError, match="opt_level"):
        WasmtimeRunner(opt_level="fastest")
