"""Binary codec of value, reference, composite, sub, rec, limits, table/memory/global/tag and block types."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import helpers
from wasmweld.binary import typecodec as tc
from wasmweld.binary.instr import decode_expr
from wasmweld.binary.leb import read_u32
from wasmweld.errors import DecodeError
from wasmweld.types import (
    ABSTRACT_HEAP_CODES, EXNREF, EXTERNREF, F32, F64, FUNCREF, I8, I16, I32, I64, V128,
    ArrayType, FieldType, FuncType, GlobalType, Limits, MemoryType, RecGroup, RefType, StructType,
    SubType, TableType, TagType,
)


def dec(name: str, data: bytes, base: int = 0):
    value, pos = getattr(tc, f"decode_{name}")(data, 0, len(data), base)
    assert pos == len(data), f"decode_{name} stopped at {pos} of {len(data)}"
    return value


CASES = [
    # value types
    ("valtype", "7f", I32), ("valtype", "7e", I64), ("valtype", "7d", F32), ("valtype", "7c", F64),
    ("valtype", "7b", V128), ("valtype", "70", FUNCREF), ("valtype", "6f", EXTERNREF), ("valtype", "69", EXNREF),
    ("valtype", "6e", RefType(True, "any")), ("valtype", "71", RefType(True, "none")),
    ("valtype", "74", RefType(True, "noexn")),
    ("valtype", "6370", RefType(True, "func", False)),
    ("valtype", "6470", RefType(False, "func")),
    ("valtype", "6400", RefType(False, 0)),
    ("valtype", "63e500", RefType(True, 101)),
    ("valtype", "64ffffffff0f", RefType(False, 2**32 - 1)),
    ("reftype", "6c", RefType(True, "i31")), ("reftype", "646b", RefType(False, "struct")),
    ("heaptype", "6a", "array"), ("heaptype", "2a", 42), ("heaptype", "8001", 128),
    ("valtypes", "037f7e70", (I32, I64, FUNCREF)), ("valtypes", "00", ()),
    # storage / field / composite types
    ("storagetype", "78", I8), ("storagetype", "77", I16), ("storagetype", "7c", F64),
    ("fieldtype", "7801", FieldType(I8, True)), ("fieldtype", "637000", FieldType(FUNCREF, False)),
    ("comptype", "60017f017e", FuncType((I32,), (I64,))), ("comptype", "600000", FuncType()),
    ("comptype", "5f027f017700", StructType((FieldType(I32, True), FieldType(I16, False)))),
    ("comptype", "5e630101", ArrayType(FieldType(RefType(True, 1), True))),
    # sub types and rec groups
    ("subtype", "600000", SubType(FuncType(), (), True, "plain")),
    ("subtype", "5000600000", SubType(FuncType(), (), False, "sub")),
    ("subtype", "4f0103600000", SubType(FuncType(), (3,), True, "sub_final")),
    ("subtype", "4f00600000", SubType(FuncType(), (), True, "sub_final")),   # explicit but final: kept
    ("subtype", "50020001600000", SubType(FuncType(), (0, 1), False, "sub")),
    ("recgroup", "600000", RecGroup((SubType(FuncType()),), False)),
    ("recgroup", "4e01600000", RecGroup((SubType(FuncType()),), True)),
    ("recgroup", "4e00", RecGroup((), True)),
    # limits and the types built on them
    ("limits", "0001", Limits(1)), ("limits", "010002", Limits(0, 2)), ("limits", "030110", Limits(1, 16, True)),
    ("limits", "0480808080808001", Limits(2**42, None, False, True)),
    ("limits", "05ffffffffffffffffff0101", Limits(2**64 - 1, 1, False, True)),
    ("limits", "070102", Limits(1, 2, True, True)),
    ("limits", "008080808010", Limits(2**32)),   # u64 even for 32-bit: too big is invalid, not malformed
    ("tabletype", "700001", TableType(FUNCREF, Limits(1))),
    ("tabletype", "64000401", TableType(RefType(False, 0), Limits(1, is64=True))),
    ("memorytype", "0102ffff03", MemoryType(Limits(2, 65535))),
    ("globaltype", "7f01", GlobalType(I32, True)), ("globaltype", "637100", GlobalType(RefType(True, "none"))),
    ("tagtype", "0005", TagType(5)),
    # block types
    ("blocktype", "40", None), ("blocktype", "7f", I32), ("blocktype", "70", FUNCREF),
    ("blocktype", "6405", RefType(False, 5)), ("blocktype", "05", 5), ("blocktype", "8002", 256),
]


@pytest.mark.parametrize("name,hexbytes,value", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_decode_and_encode(name, hexbytes, value):
    data = bytes.fromhex(hexbytes)
    got = dec(name, data)
    assert got == value
    assert getattr(tc, f"encode_{name}")(got) == data


def test_rec_group_with_sub_types():
    data = bytes.fromhex("4e02" "50005f01630000" "4f01005f02630000" "7f01")
    rg = dec("recgroup", data)
    assert rg.explicit and len(rg.types) == 2
    node, leaf = rg.types
    assert node == SubType(StructType((FieldType(RefType(True, 0)),)), (), False)
    assert leaf.supers == (0,) and leaf.final and leaf.form == "sub_final"
    assert leaf.comp.fields[1] == FieldType(I32, True)
    assert tc.encode_recgroup(rg) == data


def test_encoding_choices_do_not_affect_equality_but_are_kept():
    short = dec("valtype", b"\x70")
    long = dec("valtype", b"\x63\x70")
    assert short == long == FUNCREF and short.shorthand is True and long.shorthand is False
    assert tc.encode_valtype(short) == b"\x70" and tc.encode_valtype(long) == b"\x63\x70"
    # None = shortest; a shorthand request that cannot be honoured falls back to the prefixed form
    assert tc.encode_reftype(RefType(True, "func")) == b"\x70"
    assert tc.encode_reftype(RefType(True, 3, True)) == b"\x63\x03"
    assert tc.encode_reftype(RefType(False, "eq", True)) == b"\x64\x6d"
    # sub type forms
    plain = SubType(FuncType())
    assert tc.encode_subtype(plain) == b"\x60\x00\x00"
    assert tc.encode_subtype(SubType(FuncType(), (), True, "sub_final")) == b"\x4f\x00\x60\x00\x00"
    assert tc.encode_subtype(SubType(FuncType(), (1,), True)) == b"\x4f\x01\x01\x60\x00\x00"
    assert tc.encode_subtype(SubType(FuncType(), (), False)) == b"\x50\x00\x60\x00\x00"
    assert tc.encode_subtype(SubType(FuncType(), (), False, "plain")) == b"\x50\x00\x60\x00\x00"
    assert tc.encode_subtype(SubType(FuncType(), (), False, "sub_final")) == b"\x50\x00\x60\x00\x00"
    assert dec("subtype", b"\x4f\x00\x60\x00\x00") == plain  # form is not part of equality
    # rec groups: a single type written with the rec prefix stays so
    assert tc.encode_recgroup(RecGroup((plain,), True)) == b"\x4e\x01\x60\x00\x00"
    assert tc.encode_recgroup(RecGroup((plain, plain))) == b"\x4e\x02\x60\x00\x00\x60\x00\x00"
    # limits flags: kept while consistent with the fields, derived otherwise
    assert tc.encode_limits(Limits(1, 2)) == b"\x01\x01\x02"
    assert tc.encode_limits(Limits(1, None, flags=1)) == b"\x00\x01"
    assert tc.encode_limits(Limits(1, 2, True, True)) == b"\x07\x01\x02"
    assert dec("limits", b"\x01\x00\x02").flags == 1


@pytest.mark.parametrize("name,hexbytes,message,offset", [
    ("valtype", "", "unexpected end", 0),
    ("valtype", "40", "malformed value type", 0),
    ("valtype", "78", "malformed value type", 0),          # packed types only in fields
    ("valtype", "63", "unexpected end", 1),
    ("valtype", "637f", "malformed heap type", 1),
    ("valtype", "6380808080", "unexpected end", 5),
    ("valtype", "6380808080808000", "integer representation too long", 5),
    ("reftype", "7f", "malformed reference type", 0),
    ("heaptype", "40", "malformed heap type", 0),
    ("fieldtype", "7802", "malformed mutability", 1),
    ("globaltype", "7f02", "malformed mutability", 1),
    ("comptype", "61", "malformed composite type", 0),
    ("comptype", "60ffffffff0f", "length out of bounds", 1),
    ("comptype", "5fffffffff0f", "length out of bounds", 1),
    ("subtype", "50ffffffff0f", "length out of bounds", 1),
    ("recgroup", "4effffffff0f", "length out of bounds", 1),
    ("recgroup", "4e01", "length out of bounds", 1),
    ("limits", "08", "malformed limits flags", 0),
    ("limits", "81", "malformed limits flags", 0),
    ("limits", "0080808080808080808002", "integer too large", 10),
    ("limits", "008080808080808080808000", "integer representation too long", 10),   # u32 min in a 32-bit memory
    ("limits", "01", "unexpected end", 1),
    ("tabletype", "7f0001", "malformed reference type", 0),
    ("tagtype", "0100", "malformed tag attribute", 0),
    ("blocktype", "50", "malformed block type", 0),
    ("blocktype", "", "unexpected end", 0),
])
def test_malformed(name, hexbytes, message, offset):
    data = bytes.fromhex(hexbytes)
    with pytest.raises(DecodeError) as ei:
        getattr(tc, f"decode_{name}")(data, 0, len(data), 0x200)
    assert message in str(ei.value)
    assert ei.value.offset == 0x200 + offset


def test_decoders_respect_end_and_base():
    data = b"\xff\x7f\x7e\xff"
    assert tc.decode_valtype(data, 1, 3, 0) == (I32, 2)
    assert tc.decode_valtype(memoryview(data), 2, 3, 0) == (I64, 3)
    with pytest.raises(DecodeError) as ei:
        tc.decode_globaltype(data, 1, 2, 1000)   # mutability byte lies beyond end
    assert ei.value.offset == 1002


# ---------------------------------------------------------------- generated types round-trip

heap = st.one_of(st.sampled_from(sorted(ABSTRACT_HEAP_CODES)), st.integers(0, 2**32 - 1))
reftypes = st.builds(RefType, st.booleans(), heap, st.sampled_from([None, True, False]))
valtypes = st.one_of(st.sampled_from([I32, I64, F32, F64, V128]), reftypes)
storage = st.one_of(valtypes, st.sampled_from([I8, I16]))
fields = st.builds(FieldType, storage, st.booleans())
comps = st.one_of(
    st.builds(FuncType, st.lists(valtypes, max_size=4).map(tuple), st.lists(valtypes, max_size=3).map(tuple)),
    st.builds(StructType, st.lists(fields, max_size=4).map(tuple)),
    st.builds(ArrayType, fields),
)
subtypes = st.builds(SubType, comps, st.lists(st.integers(0, 2**32 - 1), max_size=2).map(tuple),
                     st.booleans(), st.sampled_from([None, "plain", "sub", "sub_final"]))
recgroups = st.builds(RecGroup, st.lists(subtypes, max_size=3).map(tuple), st.booleans()).map(
    lambda rg: rg if len(rg.types) == 1 else RecGroup(rg.types, True))
limits = st.builds(Limits, st.integers(0, 2**32 - 1), st.one_of(st.none(), st.integers(0, 2**32 - 1)),
                   st.booleans(), st.booleans(), st.sampled_from([None, 0, 1, 5]))


@settings(max_examples=300, deadline=None)
@given(recgroups)
def test_generated_rec_groups_roundtrip(rg):
    data = tc.encode_recgroup(rg)
    back = dec("recgroup", data)
    assert back == rg
    assert tc.encode_recgroup(back) == data


@settings(max_examples=200, deadline=None)
@given(limits, reftypes)
def test_generated_limits_and_tables_roundtrip(lim, rt):
    data = tc.encode_tabletype(TableType(rt, lim))
    back = dec("tabletype", data)
    assert back == TableType(rt, lim)
    assert tc.encode_tabletype(back) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=24), st.sampled_from(["recgroup", "tabletype", "globaltype", "blocktype", "limits"]))
def test_random_bytes_only_raise_decode_errors(data, name):
    try:
        getattr(tc, f"decode_{name}")(data, 0, len(data), 5)
    except DecodeError as e:
        assert 5 <= e.offset <= 5 + len(data)


# ---------------------------------------------------------------- every type in the spec suite and corpus


def _sections(module: bytes):
    pos = 8
    while pos < len(module):
        sid = module[pos]
        size, p = read_u32(module, pos + 1, len(module))
        yield sid, p, p + size
        pos = p + size


def _roundtrip_items(module: bytes, pos: int, end: int, name: str) -> int:
    """Decode ``count`` items of type ``name`` from pos; each re-encodes to its bytes
    (or, where the original pads an LEB128, to a shorter encoding of the same value)."""
    decode = getattr(tc, f"decode_{name}")
    encode = getattr(tc, f"encode_{name}")
    n, pos = read_u32(module, pos, end)
    for _ in range(n):
        value, p = decode(module, pos, end, 0)
        orig = module[pos:p]
        enc = encode(value)
        if enc != orig:
            assert len(enc) < len(orig) and dec(name, enc) == value, (name, orig.hex(), enc.hex())
        pos = p
    return n


def roundtrip_module_types(module: bytes) -> int:
    items = 0
    for sid, p, end in _sections(module):
        if sid == 1:
            items += _roundtrip_items(module, p, end, "recgroup")
        elif sid == 5:
            items += _roundtrip_items(module, p, end, "memorytype")
        elif sid == 13:
            items += _roundtrip_items(module, p, end, "tagtype")
        elif sid == 6:   # globaltype + constant expression
            n, q = read_u32(module, p, end)
            for _ in range(n):
                start = q
                gt, q = tc.decode_globaltype(module, q, end, 0)
                enc = tc.encode_globaltype(gt)
                assert enc == module[start:q] or len(enc) < q - start
                _, q = decode_expr(module, q, end, 0)
                items += 1
        elif sid == 4:   # tabletype, or 0x40 0x00 tabletype expr
            n, q = read_u32(module, p, end)
            for _ in range(n):
                has_init = module[q] == 0x40
                start = q + 2 if has_init else q
                tt, q = tc.decode_tabletype(module, start, end, 0)
                enc = tc.encode_tabletype(tt)
                assert enc == module[start:q] or len(enc) < q - start
                if has_init:
                    _, q = decode_expr(module, q, end, 0)
                items += 1
    return items


def test_conformance_types_roundtrip(conformance_dir):
    rows = helpers.conformance_rows("valid") + helpers.conformance_rows("invalid")
    total = sum(roundtrip_module_types((conformance_dir / r["path"]).read_bytes()) for r in rows)
    assert total > 3000


@pytest.mark.slow
def test_corpus_types_roundtrip(corpus_modules):
    total = sum(roundtrip_module_types(p.read_bytes()) for p in corpus_modules)
    assert total > 100
