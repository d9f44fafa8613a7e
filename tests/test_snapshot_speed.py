"""The snapshot's speed paths give the same results as the plain ones (issue 16).

* a large input is validated by wasmtime in a second thread while it is instrumented
  (``wasmweld.preinit.VALIDATE_MEANWHILE_BYTES``): an invalid one still fails with the
  input's ValidationError (offset into the input), whatever instrumenting it ran into;
  a valid one gives the same bytes either way;
* the CLI report counts the command's start-up apart from the stages;
* a module with much code and no artifact cache is compiled unoptimised (the init runs once), with
  the same result;
* without a cache the module is compiled by Winch, wasmtime's baseline compiler (x86-64), with the
  same output as Cranelift's; a module using what Winch lacks (GC, exceptions) goes to Cranelift;
  the bounds (fuel, deadline, memory cap with its guard) and backtraces hold under Winch too.
"""

from __future__ import annotations

import json

import pytest

import wasmweld.preinit as preinit
from wasmweld.cli.main import main
from wasmweld.errors import ValidationError
from wasmweld.module import parse
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
    fast = snapshot_bytes(src, report=reports.append, compiler="cranelift")
    assert (reports[-1].compiler, reports[-1].opt_level) == ("cranelift", "speed")
    monkeypatch.setattr(preinit_runner, "QUICK_COMPILE_CODE_BYTES", 16)
    assert WasmtimeRunner().opt_level_for(src) == "none"
    assert WasmtimeRunner(cache_dir=str(tmp_path)).opt_level_for(src) == "speed"  # a kept artifact: optimised
    assert WasmtimeRunner(opt_level="speed_and_size").opt_level_for(src) == "speed_and_size"
    quick = snapshot_bytes(src, report=reports.append, compiler="cranelift")
    assert (reports[-1].compiler, reports[-1].opt_level) == ("cranelift", "none")
    assert quick == fast and len(quick) > 4 * 20000  # the squares, written either way
    assert EngineRunner(opt_level="none").engine.opt_level == "none"
    with pytest.raises(SnapshotError, match="opt_level"):
        WasmtimeRunner(opt_level="fastest")


def _winch_here() -> bool:
    from wasmweld.runtime.engine import make_winch_engine

    return make_winch_engine() is not None


def test_winch_is_the_default_without_a_cache_and_gives_cranelifts_bytes(tmp_path):
    import platform

    from wasmweld.runtime.preinit_runner import WasmtimeRunner

    if platform.machine().lower() not in ("x86_64", "amd64"):
        assert not _winch_here()
        return
    assert _winch_here()  # the wasmtime wheel for x86-64 has Winch
    assert WasmtimeRunner().compiler_for() == "winch"
    assert WasmtimeRunner(cache_dir=str(tmp_path)).compiler_for() == "cranelift"
    assert WasmtimeRunner(opt_level="none").compiler_for() == "cranelift"
    src = wat2wasm(LOOP)
    reports: list = []
    winch = snapshot_bytes(src, report=reports.append)
    assert (reports[-1].compiler, reports[-1].opt_level) == ("winch", None)
    assert winch == snapshot_bytes(src, compiler="cranelift")
    # a feature Winch lacks: Cranelift compiles it, same result
    exc = wat2wasm('(module (memory 1) (tag $t (param i32))'
                   ' (func (export "wizer-initialize") (local $v i32)'
                   '  (local.set $v (block $h (result i32)'
                   '   (try_table (catch $t $h) (throw $t (i32.const 42))) (i32.const 0)))'
                   '  (i32.store (i32.const 8) (i32.add (local.get $v) (i32.const 1)))))')
    out = snapshot_bytes(exc, report=reports.append)
    assert reports[-1].compiler == "cranelift"
    assert [d.init for d in parse(out).datas] == [b"\x2b"]  # 42 + 1, stored at 8


def test_winch_keeps_the_bounds_and_the_backtrace():
    """(Where there is no Winch, compiler="winch" is Cranelift: the same must hold.)"""
    from wasmweld.preinit import InitError
    spin = wat2wasm('(module (func $spin (loop $l (br $l))) (func (export "wizer-initialize") (call $spin)))')
    for kw, reason in ((dict(fuel=10_000), "fuel"), (dict(timeout=0.3), "timeout")):
        with pytest.raises(InitError) as err:
            snapshot_bytes(spin, compiler="winch", **kw)
        assert err.value.reason == reason and "<spin>" in str(err.value), str(err.value)
    grow = wat2wasm('(module (memory 1) (func (export "wizer-initialize") (drop (memory.grow (i32.const 64)))))')
    with pytest.raises(InitError, match="past the memory cap"):
        snapshot_bytes(grow, compiler="winch", max_memory=1 << 20)
    trap = wat2wasm('(module (func $boom unreachable) (func (export "wizer-initialize") (call $boom)))')
    with pytest.raises(InitError, match=r"(?s)unreachable.*#0 func 0 <boom> at offset 0x2.*#1 func 1") as err:
        snapshot_bytes(trap, compiler="winch")
    with pytest.raises(InitError) as ref:
        snapshot_bytes(trap, compiler="cranelift")
    # the same frames; Winch may place a trap on the byte after the instruction (0x2e for 0x2d here)
    assert err.value.backtrace[1:] == ref.value.backtrace[1:] and len(err.value.backtrace) == 2
    assert err.value.backtrace[0].split(" at ")[0] == ref.value.backtrace[0].split(" at ")[0]


def test_winch_gets_a_stack_for_recursion_as_deep_as_cranelifts():
    """Winch keeps locals in its frames: it gets 4x wasmtime's default wasm stack, so an init recursing as
    deep as Cranelift (512 KiB) allows through functions with a few locals still finishes; past that the
    error suggests Cranelift."""
    from wasmweld.preinit import InitError

    def recursion(depth: int) -> bytes:
        return wat2wasm('(module (memory 1) (func $f (param i32) (local i64 f64 i32)'
                        ' (if (local.get 0) (then (call $f (i32.sub (local.get 0) (i32.const 1))))))'
                        f' (func (export "wizer-initialize") (call $f (i32.const {depth}))))')

    def depth_ok(depth: int, compiler: str) -> bool:
        try:
            snapshot_bytes(recursion(depth), compiler=compiler)
        except InitError as e:
            assert "call stack exhausted" in str(e)
            return False
        return True

    lo, hi = 1 << 10, 1 << 20  # the deepest recursion Cranelift takes
    while hi - lo > 256:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if depth_ok(mid, "cranelift") else (lo, mid)
    assert depth_ok(lo, "winch")
    if _winch_here():
        with pytest.raises(InitError, match="compiled by Winch.*--compiler cranelift"):
            snapshot_bytes(recursion(1 << 20), compiler="winch")


def test_code_spans_are_found_only_when_a_backtrace_needs_them(monkeypatch):
    """instrument() leaves the body offsets of the instrumented module to LazySpans: a successful run never
    finds them; a trap's backtrace does, and still names the input's offsets."""
    import sys

    from wasmweld.preinit import InitError
    from wasmweld.preinit.probes import LazySpans

    instrument_mod = sys.modules["wasmweld.preinit.instrument"]
    calls: list[int] = []
    real = instrument_mod._code_spans
    monkeypatch.setattr(instrument_mod, "_code_spans", lambda *a: calls.append(1) or real(*a))
    src = wat2wasm('(module (memory 1) (func $boom (param i32) (if (local.get 0) (then unreachable)))'
                   ' (func (export "wizer-initialize") (call $boom (i32.load (i32.const 0)))))')
    inst = instrument_mod.instrument(parse(src), None)
    assert isinstance(inst.probes.code_spans, LazySpans) and not calls
    assert inst.probes.code_spans == tuple(real(inst.wasm, parse(src).code, 0, set())) and calls == [1]
    calls.clear()
    snapshot_bytes(src)  # memory holds 0: no trap, no spans
    assert not calls
    bad = wat2wasm('(module (memory 1) (data (i32.const 0) "\\01") (func $boom (param i32) (if (local.get 0)'
                   ' (then unreachable))) (func (export "wizer-initialize") (call $boom (i32.load (i32.const 0)))))')
    with pytest.raises(InitError) as err:
        snapshot_bytes(bad, compiler="cranelift")
    assert calls == [1] and err.value.backtrace[0].startswith("#0 func 0 <boom> at offset 0x")


def test_small_memories_are_copied_once_large_ones_read_through_a_view(monkeypatch):
    """A memory up to COPY_MEMORY_BYTES is copied once (scanned, and its segments sliced from the copy); a
    larger one is read through a view of the live memory: the same output, segments and globals either way,
    over two memories and both segment encoders (memory 0: the one-call header; memory 1: the general one)."""
    from wasmweld.runtime import preinit_runner

    src = wat2wasm(
        '(module (memory 20) (memory $b 1) (global $n (mut i32) (i32.const 0))'
        ' (func (export "wizer-initialize") (local $i i32)'
        '  (loop $l (i32.store (i32.add (i32.const 0x100000) (i32.mul (local.get $i) (i32.const 300)))'
        '                      (i32.add (local.get $i) (i32.const 1)))'
        '   (i32.store8 $b (local.get $i) (i32.const 7))'
        '   (local.set $i (i32.add (local.get $i) (i32.const 1)))'
        '   (br_if $l (i32.lt_u (local.get $i) (i32.const 500))))'
        '  (i32.store (i32.const 16) (i32.const 0x01020304)) (global.set $n (local.get $i))))')
    kinds: list = []
    materialise = preinit_runner._materialise

    def spy(live):
        kinds.append([type(b).__name__ for b in live.buffers])
        return materialise(live)

    monkeypatch.setattr(preinit_runner, "_materialise", spy)
    reports: list = []
    copied = snapshot_bytes(src, report=reports.append)
    monkeypatch.setattr(preinit_runner, "COPY_MEMORY_BYTES", 0)
    viewed = snapshot_bytes(src, report=reports.append, max_segments=10_000)
    assert kinds == [["bytes", "bytes"], ["memoryview", "memoryview"]]
    assert copied == viewed
    assert reports[0].segments == reports[1].segments == 502  # 500 words, 16, and memory 1's one run
    m = parse(copied)
    mem0 = {d.offset.value: bytes(d.init) for d in m.datas if d.memory == 0}
    assert mem0[16] == b"\x04\x03\x02\x01" and mem0[0x100000 + 300 * 499] == (500).to_bytes(2, "little")
    assert [bytes(d.init) for d in m.datas if d.memory == 1] == [b"\x07" * 500]


def test_validation_and_compiling_without_wasmtime_pys_copy_behave_as_wasmtime_py():
    """validate_bytes and module_from_bytes hand wasmtime the caller's bytes (no ctypes copy): the same
    verdicts, messages and compiled modules as wasmtime-py's Module.validate / Module(...)."""
    import wasmtime

    from wasmweld.runtime.engine import engine, module_from_bytes

    good = wat2wasm('(module (memory 1) (func (export "f") (param i32) (result i32) local.get 0))')
    bad = wat2wasm("(module (func (result i32) i64.const 0))")
    eng = engine()
    for data in (good, bytearray(good), memoryview(good)):
        assert validate_bytes(data) is None
    wasmtime.Module.validate(eng, good)
    with pytest.raises(wasmtime.WasmtimeError) as ref:
        wasmtime.Module.validate(eng, bad)
    for data in (bad, bytearray(bad)):
        with pytest.raises(ValidationError) as exc:
            validate_bytes(data)
        assert "type mismatch" in str(exc.value) and exc.value.offset is not None
        assert str(exc.value).split(" (at offset")[0] in " ".join(str(ref.value).split())
    for data in (good, bytearray(good)):
        m = module_from_bytes(eng, data)
        def sig(mod):
            return [(e.name, [str(t) for t in e.type.params], [str(t) for t in e.type.results]) for e in mod.exports]

        assert sig(m) == sig(wasmtime.Module(eng, good)) == [("f", ["i32"], ["i32"])]
        store = wasmtime.Store(eng)
        assert wasmtime.Instance(store, m, []).exports(store)["f"](store, 41) == 41
    with pytest.raises(wasmtime.WasmtimeError, match="type mismatch"):
        module_from_bytes(eng, bad)
