"""``typecheck.only_simple_types``: the byte-level check that lets a World skip decoding a module whose
imports and exports use only value types wasmtime-py represents (issue 16.3, the first ``World.add``).

Its one duty is never to clear a module the decoding report would flag: each case puts a type
wasmtime-py cannot represent in another place (parameter, result, imported or defined global, table,
GC reference, exception reference, initialised table) and checks that the quick check declines and the
full report finds it; modules using only representable types in every form the check reads (memory64,
shared and page-size limits, table/global/tag imports, each kind of constant initialiser) are cleared,
and for every WAT fixture of the test suite a cleared module has an empty full report.
"""

from __future__ import annotations

import pytest

from helpers import FIXTURES
from wasmweld.runtime.engine import wat2wasm
from wasmweld.runtime.typecheck import SIMPLE_VALTYPE_CODES, only_simple_types, type_report
from wasmweld.runtime.world import World

UNSUPPORTED = {
    "v128 param": '(module (func (export "f") (param v128)))',
    "v128 result of an import": '(module (import "m" "f" (func (result v128))))',
    "v128 global": '(module (global (export "g") v128 (v128.const i32x4 0 0 0 0)))',
    "imported v128 global": '(module (import "m" "g" (global v128)))',
    "imported anyref table": '(module (import "m" "t" (table 1 anyref)))',
    "anyref table": '(module (table (export "t") 1 anyref))',
    "struct reference": '(module (type $s (struct)) (func (export "f") (param (ref null $s))))',
    "exnref": '(module (func (export "f") (param exnref)))',
    "i31ref result": '(module (func (export "f") (result i31ref) (ref.i31 (i32.const 1))))',
    "non-null function table": '(module (func $f) (table (export "t") 1 (ref func) (ref.func $f)))',
    "non-null global": '(module (func $f) (global (export "g") (ref func) (ref.func $f)))',
}

SIMPLE = """(module
  (type $binop (func (param i32 i32) (result i32)))
  (import "env" "memory" (memory 1 2))
  (import "env" "table" (table 1 10 funcref))
  (import "env" "base" (global $base i32))
  (import "env" "counter" (global $counter (mut i64)))
  (import "env" "cb" (func $cb (param f32 f64) (result externref)))
  (import "env" "oops" (tag $oops (param i32)))
  (memory (export "big") i64 1 100)
  (memory (export "shared") 1 1 shared)
  (table (export "refs") 2 externref)
  (global (export "a") i32 (i32.const -1024))
  (global (export "b") i64 (i64.const 0x7fffffffffffffff))
  (global (export "c") f32 (f32.const 1.5))
  (global (export "d") f64 (f64.const -2.5))
  (global (export "e") i32 (global.get $base))
  (global (export "f") i32 (i32.add (global.get $base) (i32.const 16)))
  (global (export "g") (mut funcref) (ref.null func))
  (global (export "h") funcref (ref.func $add))
  (global (export "i") externref (ref.null extern))
  (func $add (export "add") (type $binop) (i32.add (local.get 0) (local.get 1)))
  (elem declare func $add))"""


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_a_type_wasmtime_py_cannot_represent_is_never_cleared(name):
    wasm = wat2wasm(UNSUPPORTED[name])
    assert not only_simple_types(wasm)
    full = type_report(wasm, quick=False)
    assert full.imports or full.exports, name
    assert type_report(wasm) == full  # the quick path declined: the World gets the decoded report


def test_representable_types_in_every_form_read_are_cleared():
    wasm = wat2wasm(SIMPLE)
    assert only_simple_types(wasm)
    assert type_report(wasm, quick=False) == type_report(wasm)  # both empty
    assert not type_report(wasm, quick=False).exports
    pages = wat2wasm('(module (import "e" "m" (memory 1 (pagesize 65536))) (memory (export "m") 1 2 (pagesize 1)))')
    assert only_simple_types(pages)


def test_unreadable_or_unusual_forms_are_left_to_the_decoder():
    assert not only_simple_types(b"\0asm\1\0\0\0\1\5\1\x60\1\x7f")  # a section cut short
    assert only_simple_types(b"\0asm\1\0\0\0")
    # an initialiser with a prefixed (GC) instruction: declined although the global is an externref
    wasm = wat2wasm('(module (global (export "g") externref (extern.convert_any (ref.i31 (i32.const 1)))))')
    assert not only_simple_types(wasm) and type_report(wasm) == type_report(wasm, quick=False)
    assert only_simple_types(wat2wasm('(module (global (export "g") externref (ref.null extern)))'))
    # a v128 used only inside the module, or a function type in a rec group, still makes the check decline
    # (it reads every type, and only the plain function form): the decoder then finds nothing to report
    for text in ("(module (func (param v128)))", '(module (rec (type $t (func))) (func (export "f") (type $t)))'):
        wasm = wat2wasm(text)
        assert not only_simple_types(wasm) and type_report(wasm) == type_report(wasm, quick=False)


def test_fixtures_cleared_have_empty_reports():
    cleared = 0
    for path in sorted(FIXTURES.rglob("*.wat")):
        try:
            wasm = wat2wasm(path.read_text())
        except Exception:  # noqa: BLE001 - component text and deliberately broken fixtures
            continue
        if wasm[4:8] != b"\1\0\0\0":
            continue
        if only_simple_types(wasm):
            cleared += 1
            full = type_report(wasm, quick=False)
            assert not full.imports and not full.exports, path
    assert cleared >= 5


def test_the_simple_codes_are_the_types_python_valtypes_names():
    from wasmweld.runtime.typecheck import PYTHON_VALTYPES
    from wasmweld.binary.typecodec import encode_valtype
    from wasmweld.types import EXTERNREF, F32, F64, FUNCREF, I32, I64

    encoded = [encode_valtype(t) for t in (I32, I64, F32, F64, FUNCREF, EXTERNREF)]
    assert all(len(e) == 1 for e in encoded)
    codes = {e[0] for e in encoded}
    assert codes == SIMPLE_VALTYPE_CODES and len(PYTHON_VALTYPES) == len(codes)


def test_a_world_uses_the_decoded_report_when_the_check_declines():
    w = World()
    w.add("v", UNSUPPORTED["v128 param"])
    assert w.get_fn("v", "f").params == ["v128"]  # from the decoded report, never asked of wasmtime-py
    w.add("s", '(module (global (export "g") i64 (i64.const 7)) (func (export "f") (param f32) (result i64) '
               '(i64.add (global.get 0) (i64.trunc_f32_s (local.get 0)))))')
    assert w.invoke("s", "f", 2.5) == 9 and w.get_fn("s", "f").params == ["f32"]
