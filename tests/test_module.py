"""Module API behaviour: laziness, the lossless rule, editing, canonical placement, item classes.

Edits are checked three ways: the bytes (what was copied, what was re-encoded),
the re-parsed module (the edit is there), and wasmtime (the output is valid and,
where it runs, computes what it should).
"""

from __future__ import annotations

import dataclasses
import doctest

import pytest

from helpers import run_wasm

import wasmweld
from wasmweld import (
    EXTERNREF, FUNCREF, I32, I64, ConstExpr, CustomSection, Data, DecodeError, Elem, EncodeError, Export,
    ExternKind, FuncBody, FuncType, Global, GlobalType, Import, Limits, MemoryType, Module, RecGroup,
    RefType, SubType, Table, TableType, Tag, TagType, parse,
)
from wasmweld.binary.instr import Instr
from wasmweld.binary.reader import CANONICAL_ORDER

RICH = """(module $mod
  (@custom "first" (before first) "AAA")
  (type $t (func (param i32) (result i32)))
  (type $v (func))
  (import "env" "f" (func $imp (type $t)))
  (tag $e (param i32))
  (table $tab 4 funcref)
  (memory $mem 1)
  (global $gg (mut i32) (i32.const 7))
  (export "add1" (func $add1))
  (export "twice" (func $twice))
  (export "mem" (memory $mem))
  (elem $el (i32.const 0) func $add1 $twice)
  (data $d (i32.const 16) "hello")
  (@custom "mid" (after global) "BBB")
  (func $add1 (type $t) (param $x i32) (result i32) (local $y i32)
    local.get $x i32.const 1 i32.add)
  (func $twice (type $t) (param $x i32) (result i32)
    local.get $x local.get $x i32.add)
  (@custom "last" (after last) "CCC")
)"""


@pytest.fixture(scope="module")
def rich(wat) -> bytes:
    return wat(RICH)


def run(wasm: bytes, export: str, *args):
    return run_wasm(wasm, export, *args, imports={"env": {"f": lambda x: x}})


def section_raws(data: bytes) -> list[tuple[int, str | None, bytes]]:
    return [(s.id, s.name, bytes(s.raw)) for s in parse(data).sections]


# ------------------------------------------------------------------ docstrings


@pytest.mark.parametrize("modname", ["wasmweld.module", "wasmweld.items", "wasmweld.binary.reader", "wasmweld.custom.name",
                                     "wasmweld.custom.producers", "wasmweld.custom.target_features"])
def test_docstring_examples(modname):
    import importlib
    mod = importlib.import_module(modname)
    result = doctest.testmod(mod, extraglobs={"Instr": Instr})
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------ laziness and round trips


def test_lazy_parse_decodes_nothing_until_asked(rich):
    m = parse(rich)
    assert m._items == {} and m._scalars == {}
    assert m.encode() == rich
    exports = m.exports
    assert set(m._items) == {7}
    assert [e.name for e in exports] == ["add1", "twice", "mem"]
    bodies = m.code
    assert not any(b.decoded for b in bodies)
    assert bodies[1].instrs[-1].name == "end"
    assert bodies[1].decoded and not bodies[0].decoded
    assert m.encode() == rich


def test_lazy_and_full_agree(rich):
    a, b = parse(rich), parse(rich, lazy=False)
    for attr in ("types", "imports", "funcs", "tables", "memories", "tags", "globals", "exports", "elems",
                 "datas", "customs"):
        assert getattr(a, attr) == getattr(b, attr), attr
    assert [x.instrs for x in a.code] == [x.instrs for x in b.code]
    assert all(x.decoded for x in b.code)
    assert b.names == a.names and b.names.funcs == {0: "imp", 1: "add1", 2: "twice"}


def test_accepts_bytearray_and_memoryview(rich):
    assert parse(bytearray(rich)).encode() == rich
    assert parse(memoryview(rich), lazy=False).encode() == rich
    with pytest.raises(TypeError):
        parse("not bytes")


def test_sections_view(rich):
    m = parse(rich)
    secs = m.sections
    assert [s.kind for s in secs] == ["custom", "type", "import", "func", "table", "memory", "tag", "global",
                                      "custom", "export", "elem", "code", "data", "custom", "custom"]
    assert [s.name for s in secs if s.id == 0] == ["first", "mid", "last", "name"]
    assert secs[0].offset == 8
    for a, b in zip(secs, secs[1:]):
        assert a.end == b.offset
    assert secs[-1].end == len(rich)
    for s in secs:
        assert bytes(s.raw)[0] == s.id and len(s.payload) == s.size


# ------------------------------------------------------------------ the lossless rule


def test_editing_one_export_reencodes_only_the_export_section(rich):
    m = parse(rich)
    m.exports[1] = dataclasses.replace(m.exports[1], name="double")
    out = m.encode()
    before, after = section_raws(rich), section_raws(out)
    assert [(i, n) for i, n, _ in before] == [(i, n) for i, n, _ in after]
    changed = [i for (i, _n, a), (_, _, b) in zip(before, after) if a != b]
    assert changed == [7]
    wasmweld.validate(out)
    assert run(out, "double", 21) == 42
    assert run(out, "add1", 1) == 2


def _padded_module() -> bytes:
    """(func) exported twice, the first export's index written as 5 padded bytes."""
    exports = b"\x02" + b"\x01a\x00\x80\x80\x80\x80\x00" + b"\x01b\x00\x00"
    return (b"\x00asm\x01\x00\x00\x00" + b"\x01\x04\x01\x60\x00\x00" + b"\x03\x02\x01\x00"
            + b"\x07" + bytes([len(exports)]) + exports + b"\x0a\x04\x01\x02\x00\x0b")


def test_unchanged_items_are_copied_from_their_spans():
    data = _padded_module()
    assert parse(data, lazy=False).encode() == data
    m = parse(data)
    assert m.exports == [Export("a", ExternKind.FUNC, 0), Export("b", ExternKind.FUNC, 0)]
    m.exports.append(Export("c", ExternKind.FUNC, 0))
    out = m.encode()
    assert b"\x01a\x00\x80\x80\x80\x80\x00" in out  # the untouched item kept its padding
    assert [e.name for e in parse(out).exports] == ["a", "b", "c"]
    # a replaced item is encoded fresh (minimal LEB128)
    m.exports[0] = Export("a", ExternKind.FUNC, 0)
    out = m.encode()
    assert b"\x80\x80\x80\x80\x00" not in out and b"\x01a\x00\x00" in out
    wasmweld.validate(out)


def test_reassigned_equal_list_is_still_raw(rich):
    m = parse(rich)
    m.globals = list(m.globals)  # same item objects
    m.types = m.types[:]
    assert m.encode() == rich
    m.exports = [dataclasses.replace(e) for e in m.exports]  # equal but new objects: re-encoded, same bytes
    assert m.encode() == rich


def test_body_edit_reencodes_only_that_body(rich):
    m = parse(rich)
    body = m.code[0]
    other_raw = m.code[1].raw
    body.instrs[1] = Instr.make("i32.const", 100)  # x + 100
    assert body.modified and not m.code[1].modified
    out = m.encode()
    m2 = parse(out)
    assert m2.code[1].raw == other_raw
    assert [i.name for i in m2.code[0].instrs] == ["local.get", "i32.const", "i32.add", "end"]
    assert run(out, "add1", 1) == 101
    # every other section is untouched
    changed = [i for (i, _n, a), (_, _, b) in zip(section_raws(rich), section_raws(out)) if a != b]
    assert changed == [10]


def test_new_body_from_instrs(rich):
    m = parse(rich)
    # (local i64) local.get 0 i64.extend_i32_u local.set 1 local.get 0 i32.const 3 i32.mul
    m.code[1] = FuncBody.from_instrs(
        [(1, I64)],
        [Instr.make("local.get", 0), Instr.make("i64.extend_i32_u"), Instr.make("local.set", 1),
         Instr.make("local.get", 0), Instr.make("i32.const", 3), Instr.make("i32.mul")],
    )
    assert m.code[1].instrs[-1].name == "end"  # the final end was added
    out = m.encode()
    wasmweld.validate(out)
    assert run(out, "twice", 5) == 15
    again = parse(out, lazy=False).code[1]
    assert again.locals == [(1, I64)]
    assert again.raw == m.code[1].raw


def test_body_locals_edit(rich):
    m = parse(rich)
    body = m.code[0]
    body.locals.append((2, I64))
    out = m.encode()
    assert parse(out, lazy=False).code[0].locals == [(1, I32), (2, I64)]
    wasmweld.validate(out)


def test_funcbody_raw_constructor():
    body = FuncBody(raw=b"\x00\x41\x01\x0b")
    assert not body.modified and body.raw == b"\x00\x41\x01\x0b"
    assert body.offset is None
    assert body.instrs == [Instr.make("i32.const", 1), Instr.make("end")]
    assert body.encode() == b"\x04\x00\x41\x01\x0b"


# ------------------------------------------------------------------ building and placement


def test_added_sections_go_to_canonical_positions(wat):
    data = wat("(module (func (result i32) i32.const 1))")
    m = parse(data)
    m.datas.append(Data("passive", init=b"xyz"))
    m.datacount = 1
    m.memories.append(MemoryType(Limits(1, 2)))
    m.exports.append(Export("f", ExternKind.FUNC, 0))
    m.globals.append(Global(GlobalType(I32, True), ConstExpr.i32(5)))
    m.tags.append(Tag(TagType(1)))
    m.types.append(RecGroup((SubType(FuncType((I32,), ())),)))
    m.tables.append(Table(TableType(FUNCREF, Limits(1))))
    m.elems.append(Elem("active", 0, ConstExpr.i32(0), FUNCREF, (0,)))
    m.imports.append(Import("env", "mem2", ExternKind.MEMORY, MemoryType(Limits(0))))
    m.add_custom("note", b"hi")
    out = m.encode()
    ids = [s.id for s in parse(out).sections]
    assert ids == [1, 2, 3, 4, 5, 13, 6, 7, 9, 12, 10, 11, 0]
    assert ids[:-1] == [i for i in CANONICAL_ORDER if i in ids]
    wasmweld.validate(out)
    m2 = parse(out, lazy=False)
    assert m2.datacount == 1 and m2.datas[0].init == b"xyz" and m2.datas[0].flags == 1
    assert m2.elems[0].flags == 0 and m2.elems[0].init == (0,)
    assert m2.custom("note").data == b"hi"


def test_module_from_scratch_runs():
    m = Module()
    m.types = [RecGroup((SubType(FuncType((I32, I32), (I32,))),))]
    m.funcs = [0]
    m.code = [FuncBody.from_instrs([], [Instr.make("local.get", 0), Instr.make("local.get", 1),
                                        Instr.make("i32.sub")])]
    m.exports = [Export("sub", ExternKind.FUNC, 0)]
    out = m.encode()
    assert out.startswith(b"\x00asm\x01\x00\x00\x00")
    assert run_wasm(out, "sub", 10, 4) == 6
    assert Module().encode() == b"\x00asm\x01\x00\x00\x00"


def test_custom_sections_keep_their_position(rich):
    m = parse(rich)
    assert [c.name for c in m.customs] == ["first", "mid", "last", "name"]
    # change sections around them: customs stay after the section they followed
    m.globals.append(Global(GlobalType(I64), ConstExpr.i64(-1)))
    m.exports.pop()
    out = m.encode()
    layout = [(s.kind, s.name) for s in parse(out).sections]
    assert layout.index(("custom", "first")) == 0
    assert layout[layout.index(("global", None)) + 1] == ("custom", "mid")
    assert layout[-2:] == [("custom", "last"), ("custom", "name")]
    assert parse(out).custom("mid").data == b"BBB"


def test_custom_section_editing(rich):
    m = parse(rich)
    assert m.custom("mid") == CustomSection("mid", b"BBB")
    m.set_custom("mid", b"new contents")
    m.add_custom("start-note", b"1", after=0)
    m.add_custom("after-types", b"2", after="type")
    assert m.remove_custom("last") == 1
    out = m.encode()
    names = [(s.kind, s.name) for s in parse(out).sections]
    assert names[0] == ("custom", "first") and names[1] == ("custom", "start-note")
    assert names[2] == ("type", None) and names[3] == ("custom", "after-types")
    assert names[names.index(("global", None)) + 1] == ("custom", "mid")
    assert ("custom", "last") not in names
    assert parse(out).custom("mid").data == b"new contents"
    wasmweld.validate(out)
    with pytest.raises(wasmweld.EditError):
        m.add_custom("x", b"", after="nonsense")


def test_edited_typed_views_are_written_back(rich):
    m = parse(rich)
    m.names.funcs[2] = "double"
    m.names.globals[0] = "counter"
    out = m.encode()
    assert parse(out).names.funcs[2] == "double" and parse(out).names.globals == {0: "counter"}
    changed = [i for (i, n, a), (_, _, b) in zip(section_raws(rich), section_raws(out)) if a != b]
    assert changed == [0]  # only the name section
    m2 = parse(rich, lazy=False)  # decoded but unchanged views change nothing
    assert m2.encode() == rich


def test_names_setter_writes_back(rich):
    m = parse(rich)
    ns = m.names
    ns.funcs[1] = "plus_one"
    m.names = ns
    out = m.encode()
    assert parse(out).names.funcs == {0: "imp", 1: "plus_one", 2: "twice"}
    assert parse(out).names.locals == ns.locals
    m.names = None
    assert parse(m.encode()).custom("name") is None


def test_start_and_datacount(wat):
    data = wat('(module (func $s) (start $s) (memory 1) (data "x") (func (drop (i32.const 0)) (data.drop 0)))')
    m = parse(data)
    assert m.start == 0 and m.datacount == 1
    assert m.encode() == data
    m.start = None
    out = m.encode()
    assert parse(out).start is None and 8 not in [s.id for s in parse(out).sections]
    m.start = 1
    assert parse(m.encode()).start == 1
    m.datacount = None
    with pytest.raises(DecodeError, match="data count section required"):
        parse(m.encode(), lazy=False)


# ------------------------------------------------------------------ items


def test_const_expr_helpers():
    assert ConstExpr.i32(-1).raw == b"\x41\x7f\x0b"
    assert ConstExpr.i32(0xFFFFFFFF) == ConstExpr.i32(-1)
    assert ConstExpr.i32(624485).raw == b"\x41\xe5\x8e\x26\x0b"
    assert ConstExpr.i64(1 << 40).int_value == 1 << 40
    assert ConstExpr.f32(1.5).raw == b"\x43\x00\x00\xc0\x3f\x0b"
    assert ConstExpr.f64(0.0).raw == b"\x44" + bytes(8) + b"\x0b"
    assert ConstExpr.global_get(3).global_index == 3
    assert ConstExpr.ref_func(200).raw == b"\xd2\xc8\x01\x0b"
    assert ConstExpr.ref_null("extern").raw == b"\xd0\x6f\x0b"
    assert ConstExpr.ref_null(5).raw == b"\xd0\x05\x0b"
    assert [i.name for i in ConstExpr.i32(5).instrs] == ["i32.const", "end"]
    e = ConstExpr.from_instrs([Instr.make("global.get", 0), Instr.make("i32.const", 4), Instr.make("i32.add")])
    assert e.raw == b"\x23\x00\x41\x04\x6a\x0b" and e.int_value is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.raw = b""


def test_elem_and_data_encodings_are_kept_and_chosen(wat):
    data = wat("""(module (table $t0 2 funcref) (table $t1 2 externref) (memory 1) (memory $m1 1)
      (func $f)
      (elem (i32.const 0) func $f)
      (elem func $f)
      (elem (table $t0) (i32.const 1) func $f)
      (elem declare func $f)
      (elem (i32.const 0) funcref (ref.func $f))
      (elem externref (ref.null extern))
      (elem (table $t1) (i32.const 0) externref (ref.null extern))
      (elem declare funcref (ref.func $f))
      (data (i32.const 0) "a") (data "b") (data (memory $m1) (i32.const 0) "c"))""")
    m = parse(data, lazy=False)
    assert [e.flags for e in m.elems] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert [e.mode for e in m.elems] == ["active", "passive", "active", "declarative",
                                         "active", "passive", "active", "declarative"]
    assert m.elems[6].table == 1 and m.elems[6].elem_type == EXTERNREF
    assert isinstance(m.elems[4].init[0], ConstExpr)
    assert [d.flags for d in m.datas] == [0, 1, 2] and m.datas[2].memory == 1
    # new items without flags get the shortest encoding that expresses them
    m.elems = [dataclasses.replace(e, flags=None) for e in m.elems]
    m.datas = [dataclasses.replace(d, flags=None) for d in m.datas]
    out = m.encode()
    m2 = parse(out, lazy=False)
    assert [e.flags for e in m2.elems] == [0, 1, 0, 3, 4, 5, 6, 7]
    assert [d.flags for d in m2.datas] == [0, 1, 2]
    wasmweld.validate(out)
    # flags that cannot express the item fall back instead of writing garbage
    m.elems[0] = dataclasses.replace(m.elems[0], flags=0, table=1, elem_type=FUNCREF)
    assert parse(m.encode()).elems[0].flags == 2


def test_table_with_init_expression(wat):
    data = wat("(module (type $ft (func)) (func $f) (elem declare func $f)"
               " (table 2 (ref null $ft) (ref.func $f)))")
    m = parse(data, lazy=False)
    t = m.tables[0]
    assert t.init is not None and t.init.raw == b"\xd2\x00\x0b"
    assert t.type.elem == RefType(True, 0)
    m.tables.append(Table(TableType(FUNCREF, Limits(1)), ConstExpr.ref_null("func")))
    out = m.encode()
    assert parse(out).tables[1].init == ConstExpr.ref_null("func")
    wasmweld.validate(out)


def test_index_space_helpers(rich, wat):
    m = parse(rich)
    assert m.num_imported(ExternKind.FUNC) == 1 and m.num_imported(ExternKind.GLOBAL) == 0
    assert m.num_funcs == 3 and m.num_globals == 1 and m.num_tables == 1
    assert m.num_memories == 1 and m.num_tags == 1
    assert len(m.type_list()) == 3  # $t, $v, the tag's (param i32) type
    assert m.func_type_index(0) == 0 and m.func_type_index(2) == 0
    assert m.func_type(1) == FuncType((I32,), (I32,))
    assert m.global_type(0) == GlobalType(I32, True)
    m2 = parse(wat('(module (import "a" "g" (global i64)) (import "a" "t" (table 1 funcref))'
                   ' (import "a" "m" (memory 1 2)) (import "a" "e" (tag (param i32)))'
                   ' (global f32 (f32.const 1)) (table 3 externref) (memory 5))'))
    assert m2.global_type(0) == GlobalType(I64) and m2.global_type(1).val.name == "f32"
    assert m2.table_type(0).elem == FUNCREF and m2.table_type(1).elem == EXTERNREF
    assert m2.memory_type(0).limits.max == 2 and m2.memory_type(1).limits.min == 5
    assert m2.tag_type(0) == TagType(0)
    assert [i.kind for i in m2.imports] == [ExternKind.GLOBAL, ExternKind.TABLE, ExternKind.MEMORY, ExternKind.TAG]
    assert m.export("mem").kind == ExternKind.MEMORY and m.export("nope") is None
    with pytest.raises(IndexError):
        m.func_type_index(3)


# ------------------------------------------------------------------ errors


def test_decode_errors_carry_offsets_and_context():
    with pytest.raises(DecodeError) as ei:
        parse(b"\x00asm\x01\x00\x00\x00\x01\x05")
    assert ei.value.offset == 10
    data = _padded_module()
    bad = data.replace(b"\x01a\x00", b"\x01\xff\x00")  # export name not UTF-8
    m = parse(bad)  # lazy: the export section is not decoded yet
    with pytest.raises(DecodeError, match="malformed UTF-8 encoding") as ei:
        _ = m.exports
    assert ei.value.context.startswith("export 0") and ei.value.offset == bad.index(b"\xff")
    with pytest.raises(DecodeError, match="malformed UTF-8"):
        parse(bad, lazy=False)


def test_count_beyond_input_is_refused_before_allocating():
    # a type section declaring 2**32-1 types in 5 bytes
    data = b"\x00asm\x01\x00\x00\x00" + b"\x01\x05\xff\xff\xff\xff\x0f"
    with pytest.raises(DecodeError, match="unexpected end") as ei:
        _ = parse(data).types
    assert ei.value.offset == 10


def test_encode_refuses_inconsistent_counts(rich):
    m = parse(rich)
    m.funcs.append(0)
    with pytest.raises(EncodeError, match="functions but"):
        m.encode()
    m.funcs.pop()
    m.datas.append(Data("passive", init=b""))
    m.datacount = 5
    with pytest.raises(EncodeError, match="data count"):
        m.encode()


def test_bad_items_raise_encode_error(rich):
    m = parse(rich)
    m.exports.append(Export("x", ExternKind.FUNC, -1))
    with pytest.raises(EncodeError):
        m.encode()


# ------------------------------------------------------------------ reader


def test_reader_cursor():
    from wasmweld.binary.reader import Reader

    r = Reader(b"\xff\x03abc\xe5\x8e\x26\x7f\x02\x00\x00", pos=1, base=0x100)
    assert r.name() == "abc" and r.u32() == 624485 and r.s32() == -1
    assert r.offset == 0x109
    n = r.count()
    assert n == 2 and r.bytes(2) == b"\x00\x00" and r.at_end()
    r.expect_end()
    with pytest.raises(DecodeError) as ei:
        r.byte()
    assert ei.value.offset == 0x10c
    r = Reader(b"\xff\xff\xff\xff\x0f\x00", base=10)
    with pytest.raises(DecodeError, match="length out of bounds") as ei:
        r.count()
    assert ei.value.offset == 10
    r = Reader(b"\x02\x01\x02\x03")
    sub = r.sub(2)
    assert sub.byte() == 2 and sub.byte() == 1 and sub.at_end() and r.remaining() == 2
    with pytest.raises(DecodeError, match="section size mismatch"):
        r.expect_end()
    with pytest.raises(DecodeError, match="malformed UTF-8"):
        Reader(b"\x02\xc0\xaf").name()


@pytest.mark.parametrize("data, message, offset", [
    (b"", "unexpected end", 0),
    (b"\x00as", "unexpected end", 3),
    (b"\x01asm\x01\x00\x00\x00", "magic header not detected", 0),
    (b"\x00asm\x02\x00\x00\x00", "unknown binary version", 4),
    (b"\x00asm\x01\x00\x00\x00\x0e\x00", "malformed section id", 8),
    (b"\x00asm\x01\x00\x00\x00\x01\x05\x00", "length out of bounds", 10),
    (b"\x00asm\x01\x00\x00\x00\x03\x01\x00\x01\x01\x00", "unexpected content after last section", 11),
    (b"\x00asm\x01\x00\x00\x00\x01\x01\x00\x01\x01\x00", "unexpected content after last section", 11),
    (b"\x00asm\x01\x00\x00\x00\x00\x02\x05a", "length out of bounds", 11),
])
def test_section_framing_errors(data, message, offset):
    for lazy in (True, False):
        with pytest.raises(DecodeError) as ei:
            parse(data, lazy=lazy)
        assert ei.value.message == message and ei.value.offset == offset
