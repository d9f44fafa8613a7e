"""The opcode table: complete, consistent, and in agreement with wasm-tools' assembler.

Every row is checked against ``wasmtime.wat2wasm`` (the wasm-tools ``wat``
crate): the instruction written in text with sample immediates must assemble to
exactly the bytes wasmweld encodes for it. That pins down the opcode number, the
immediate kinds and their binary order (``table.init`` is written ``table elem``
in text but encoded ``elem table``; ``call_indirect`` encodes the type first).
"""

from __future__ import annotations

import dataclasses

import pytest

from wasmweld.binary import opcodes
from wasmweld.binary.instr import Catch, Instr, MemArg, f32_bits, f64_bits
from wasmweld.binary.leb import read_u32
from wasmweld.binary.opcodes import BY_NAME, OPCODES, PREFIXED, SINGLE, OpInfo, lookup
from wasmweld.types import FUNCREF, I32, I64

# ---------------------------------------------------------------- sample immediates + their text

_INDEX_LIKE = {"u32", "label", "func", "type", "table", "memory", "global", "tag", "elem", "data", "local", "field"}

_SPECIAL: dict[str, tuple[tuple, str]] = {
    "block": ((I32,), "block (result i32) end"),
    "loop": ((None,), "loop end"),
    "if": ((I64,), "if (result i64) end"),
    "try": ((FUNCREF,), "try (result funcref) end"),
    "try_table": (
        (None, (Catch("catch", 1, 0), Catch("catch_ref", 2, 1), Catch("catch_all", None, 0),
                Catch("catch_all_ref", None, 1))),
        "try_table (catch 1 0) (catch_ref 2 1) (catch_all 0) (catch_all_ref 1) end",
    ),
    "else": ((), "if else end"),
    "end": ((), "block end"),
    "catch": ((3,), "try catch 3 end"),
    "catch_all": ((), "try catch_all end"),
    "delegate": ((2,), "try delegate 2"),
    "br_table": (((1, 2, 3), 0), "br_table 1 2 3 0"),
    "select_t": (((I32,),), "select (result i32)"),
    "call_indirect": ((2, 1), "call_indirect 1 (type 2)"),
    "return_call_indirect": ((2, 1), "return_call_indirect 1 (type 2)"),
    "memory.init": ((2, 1), "memory.init 1 2"),
    "table.init": ((2, 1), "table.init 1 2"),
    "ref.null": (("extern",), "ref.null extern"),
    "ref.test": (("eq",), "ref.test (ref eq)"),
    "ref.test_null": (("i31",), "ref.test (ref null i31)"),
    "ref.cast": ((3,), "ref.cast (ref 3)"),
    "ref.cast_null": ((200,), "ref.cast (ref null 200)"),
    "br_on_cast": ((1, 2, "any", "eq"), "br_on_cast 2 anyref (ref eq)"),
    "br_on_cast_fail": ((3, 0, "any", 5), "br_on_cast_fail 0 anyref (ref null 5)"),
    "v128.const": ((bytes(range(16)),), "v128.const i8x16 " + " ".join(map(str, range(16)))),
    "i8x16.shuffle": ((bytes([0, 17, 2, 19, 4, 21, 6, 23, 8, 25, 10, 27, 12, 29, 14, 31]),),
                      "i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31"),
    "f32.const": ((f32_bits(1.5),), "f32.const 1.5"),
    "f64.const": ((f64_bits(-2.25),), "f64.const -2.25"),
    "i32.const": ((-7,), "i32.const -7"),
    "i64.const": ((-1234567890123,), "i64.const -1234567890123"),
}
# instructions that wat only accepts inside a larger construct: compare by containment
_CONTAINED = {"else", "end", "catch", "catch_all", "delegate"}


def sample(op: OpInfo) -> tuple[tuple, str]:
    """Distinctive immediates for ``op`` and the same instruction in WebAssembly text."""
    if op.name in _SPECIAL:
        return _SPECIAL[op.name]
    args: list = []
    text = [op.name]
    n = 1
    for kind in op.imm:
        if kind in _INDEX_LIKE:
            args.append(n)
            text.append(str(n))
            n += 1
        elif kind == "memarg":
            # memory 1 exercises the multi-memory form (flags bit 6 + memory index)
            args.append(MemArg(0, 8 + n, 1))
            text.append(f"1 offset={8 + n} align=1")
        elif kind == "lane":
            args.append(1)
            text.append("1")
        elif kind == "zero":
            pass
        else:  # pragma: no cover - every other kind is in _SPECIAL
            raise AssertionError(f"no sample for {op.name} ({kind})")
    return tuple(args), " ".join(text)


def first_body(module: bytes) -> bytes:
    """The first function body (after its size prefix) of a binary module."""
    pos = 8
    while pos < len(module):
        sid = module[pos]
        size, p = read_u32(module, pos + 1, len(module))
        if sid == 10:
            _, q = read_u32(module, p, p + size)
            n, q = read_u32(module, q, p + size)
            return module[q:q + n]
        pos = p + size
    raise AssertionError("no code section")


# ---------------------------------------------------------------- the table itself


def test_names_and_codes_are_unique_and_indexed():
    assert len({op.name for op in OPCODES}) == len(OPCODES)
    assert len({(op.prefix, op.code) for op in OPCODES}) == len(OPCODES)
    for op in OPCODES:
        assert BY_NAME[op.name] is op
        assert lookup(op.prefix, op.code) is op
        if op.prefix is None:
            assert SINGLE[op.code] is op
        else:
            assert PREFIXED[op.prefix][op.code] is op
        assert set(op.imm) <= opcodes.IMM_KINDS
    assert lookup(None, 0xFF) is None and lookup(0xFC, 9999) is None and lookup(0x42, 0) is None
    # prefixes are not instructions themselves
    assert all(SINGLE[p] is None for p in opcodes.PREFIXES)


def test_proposal_sizes():
    """Each opcode space has exactly the instructions the specifications define."""
    by_prefix: dict = {}
    for op in OPCODES:
        by_prefix.setdefault(op.prefix, []).append(op.code)
    simd = sorted(by_prefix[0xFD])
    assert len([c for c in simd if c < 0x100]) == 236          # SIMD (20 reserved codes)
    assert [c for c in simd if c >= 0x100] == list(range(0x100, 0x114))  # relaxed SIMD
    assert sorted(by_prefix[0xFB]) == list(range(31))          # GC
    assert sorted(by_prefix[0xFC]) == list(range(18)) + list(range(19, 23))  # sat. trunc., bulk memory, tables;
    # wide arithmetic (i64.add128 i64.sub128 i64.mul_wide_s i64.mul_wide_u)
    assert len(by_prefix[0xFE]) == 4 + 14 + 49                 # threads: wait/notify/fence, ld/st, rmw
    assert sorted(by_prefix[0xFE])[4:] == list(range(0x10, 0x4F))


def test_opinfo_is_frozen_and_encodes_its_opcode():
    op = BY_NAME["memory.copy"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.code = 3  # type: ignore[misc]
    assert op.opcode == b"\xfc\x0a"
    assert BY_NAME["i16x8.relaxed_dot_i8x16_i7x16_s"].opcode == b"\xfd\x92\x02"
    assert BY_NAME["i32.add"].opcode == b"\x6a"
    with pytest.raises(ValueError):
        OpInfo("bogus", None, 0xFF, ("nonsense",))


@pytest.mark.parametrize("name", [
    "memory.copy", "memory.init", "table.init", "table.copy", "call_indirect", "struct.get",
    "array.copy", "array.new_data", "v128.load8_lane", "br_on_cast", "try_table", "atomic.fence",
])
def test_immediate_order_of_tricky_instructions(name):
    expected = {
        "memory.copy": ("memory", "memory"), "memory.init": ("data", "memory"),
        "table.init": ("elem", "table"), "table.copy": ("table", "table"),
        "call_indirect": ("type", "table"), "struct.get": ("type", "field"),
        "array.copy": ("type", "type"), "array.new_data": ("type", "data"),
        "v128.load8_lane": ("memarg", "lane"), "br_on_cast": ("castflags", "label", "heaptype", "heaptype"),
        "try_table": ("blocktype", "catches"), "atomic.fence": ("zero",),
    }
    assert BY_NAME[name].imm == expected[name]


# ---------------------------------------------------------------- agreement with wasm-tools


def test_every_instruction_assembles_like_wasm_tools(wat):
    """All rows at once in one module per instruction (text -> bytes must equal our encoding)."""
    mismatches = []
    for op in OPCODES:
        args, text = sample(op)
        ours = Instr(op, args).raw
        body = first_body(wat(f"(module (func {text}))"))
        assert body[0] == 0  # no locals
        code = body[1:]
        ok = ours in code if op.name in _CONTAINED else code.startswith(ours)
        if not ok:
            mismatches.append(f"{op.name}: ours {ours.hex()} wasm-tools {code.hex()}")
    assert not mismatches, "\n".join(mismatches)
    assert len(OPCODES) == 575
