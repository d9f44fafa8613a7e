"""Instruction decoding/encoding: every opcode, lossless re-encoding, malformed input, real modules."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers
from test_opcodes import sample
from wasmweld.binary.instr import (
    Catch, Instr, LocalList, MemArg, bits_f32, decode_body, decode_expr, encode_body, encode_instrs,
    encode_locals, f32_bits, f64_bits,
)
from wasmweld.binary.leb import read_u32
from wasmweld.binary.opcodes import BLOCK_OPS, BY_NAME, OPCODES
from wasmweld.errors import DecodeError, EncodeError, WasmError
from wasmweld.types import F64, FUNCREF, I32, I64, RefType


def code_bodies(module) -> list[tuple[int, bytes]]:
    """(absolute offset, bytes) of every function body, by a minimal section walk."""
    out = []
    pos = 8
    n = len(module)
    while pos < n:
        sid = module[pos]
        size, p = read_u32(module, pos + 1, n)
        if sid == 10:
            count, q = read_u32(module, p, p + size)
            for _ in range(count):
                sz, q = read_u32(module, q, p + size)
                out.append((q, bytes(module[q:q + sz])))
                q += sz
        pos = p + size
    return out


def roundtrip_expr(code: bytes, base: int = 0) -> list:
    instrs, pos = decode_expr(code, 0, len(code), base)
    assert pos == len(code)
    assert encode_instrs(instrs) == code
    return instrs


def wrap(ins: Instr) -> bytes:
    """A complete expression containing ``ins`` (closing the blocks it opens)."""
    if ins.op in BLOCK_OPS:
        return ins.raw + b"\x0b\x0b"
    if ins.name == "delegate":
        return b"\x06\x40" + ins.raw + b"\x0b"
    if ins.name == "end":
        return ins.raw
    return ins.raw + b"\x0b"


# ---------------------------------------------------------------- every opcode


@pytest.mark.parametrize("op", OPCODES, ids=lambda op: op.name)
def test_every_instruction_encodes_and_decodes(op):
    args, _ = sample(op)
    ins = Instr.make(op.name, *args)
    assert ins.op is op and ins.name == op.name and ins.args == args
    instrs = roundtrip_expr(wrap(ins))
    found = [i for i in instrs if i.op is op]
    assert found and found[0] == ins and found[0].args == args and found[0].raw == ins.raw


def test_large_and_extreme_immediates_roundtrip():
    cases = [
        Instr.make("call", 2**32 - 1), Instr.make("local.get", 128), Instr.make("i32.const", -(2**31)),
        Instr.make("i32.const", 2**31 - 1), Instr.make("i64.const", -(2**63)), Instr.make("i64.const", 2**63 - 1),
        Instr.make("i32.load", MemArg(2, 2**32 - 1)), Instr.make("i64.load", MemArg(3, 2**64 - 1, 7)),
        Instr.make("f32.const", 0x7FA00001), Instr.make("f64.const", 0xFFF0000000000001),
        Instr.make("block", 300), Instr.make("ref.null", 2**32 - 1),
        Instr.make("br_table", tuple(range(200)), 5), Instr.make("select_t", (RefType(False, 7), F64)),
        Instr.make("v128.const", -1), Instr.make("i16x8.relaxed_dot_i8x16_i7x16_s"),
    ]
    code = b"".join(c.raw for c in cases) + b"\x0b\x0b"
    instrs = roundtrip_expr(code)
    assert instrs[:len(cases)] == cases
    # signalling NaN payloads survive (kept as bit patterns)
    assert instrs[8].args == (0x7FA00001,)
    assert Instr.make("f32.const", 1.5).args == (f32_bits(1.5),) and bits_f32(f32_bits(1.5)) == 1.5
    assert Instr.make("f64.const", 0.1).raw == b"\x44" + struct.pack("<d", 0.1)
    assert Instr.make("f64.const", 0.1).args == (f64_bits(0.1),)
    assert Instr.make("i32.const", 0xFFFFFFFF).args == (-1,)
    assert Instr.make("v128.const", -1).args == (b"\xff" * 16,)


# ---------------------------------------------------------------- the Instr type


def test_instr_is_immutable_and_compares_by_meaning():
    a = Instr.make("call", 3)
    with pytest.raises(AttributeError):
        a.op = BY_NAME["nop"]  # type: ignore[misc]
    with pytest.raises(AttributeError):
        a.foo = 1  # type: ignore[attr-defined]
    padded = decode_expr(b"\x10\x83\x80\x80\x80\x00\x0b", 0, 7)[0][0]
    assert padded == a and hash(padded) == hash(a) and padded.raw != a.raw
    assert a != Instr.make("call", 4) and a != Instr.make("return_call", 3)
    assert Instr("call", (3,)) == a and Instr(BY_NAME["call"], [3]) == a
    assert repr(a) == "Instr(call 3)" and a.encode() == b"\x10\x03"
    import copy
    import pickle
    assert copy.copy(padded).raw == padded.raw
    assert pickle.loads(pickle.dumps(padded)).raw == padded.raw


@pytest.mark.parametrize("name,args", [
    ("call", ()), ("call", (1, 2)), ("call", (-1,)), ("call", (2**32,)), ("call", ("x",)), ("call", (True,)),
    ("i32.const", (2**32,)), ("i64.const", (2**64,)), ("nop", (1,)), ("frobnicate", ()),
    ("ref.null", ("nonsense",)), ("br_on_cast", (4, 0, "any", "eq")), ("i8x16.shuffle", (b"\x00" * 15,)),
    ("i32.load", (MemArg(64, 0),)), ("try_table", (None, (Catch("catch", None, 0),))),
    ("try_table", (None, (Catch("catch_all", 1, 0),))), ("try_table", (None, (Catch("oops", 1, 0),))),
    ("select_t", ((3,),)), ("i8x16.extract_lane_s", (256,)),
])
def test_make_rejects_bad_immediates(name, args):
    with pytest.raises(EncodeError):
        Instr.make(name, *args)


# ---------------------------------------------------------------- lossless re-encoding


@pytest.mark.parametrize("code,name,args", [
    (b"\x10\x83\x80\x80\x80\x00", "call", (3,)),                        # LLVM-padded function index
    (b"\x41\x80\x80\x80\x80\x00", "i32.const", (0,)),                   # padded signed zero
    (b"\x41\xff\xff\xff\xff\x7f", "i32.const", (-1,)),
    (b"\x42\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "i64.const", (-1,)),
    (b"\x28\x82\x80\x80\x80\x00\x88\x80\x80\x80\x00", "i32.load", (MemArg(2, 8, 0),)),
    (b"\x28\x42\x00\x08", "i32.load", (MemArg(2, 8, 0),)),             # explicit memory index 0
    (b"\x28\x42\x80\x00\x08", "i32.load", (MemArg(2, 8, 0),)),
    (b"\xfc\x8a\x80\x80\x80\x00\x00\x00", "memory.copy", (0, 0)),      # padded sub-opcode
    (b"\xfc\x0b\x80\x00", "memory.fill", (0,)),
    (b"\x11\x82\x80\x80\x80\x00\x80\x80\x80\x80\x00", "call_indirect", (2, 0)),
    (b"\x23\x80\x80\x80\x80\x00", "global.get", (0,)),                  # __stack_pointer style
    (b"\x0e\x82\x00\x00\x81\x00\x80\x80\x00", "br_table", ((0, 1), 0)),
    (b"\x02\xc0\x80\x80\x80\x00", "block", (64,)),                      # padded s33 type index
    (b"\xd0\x83\x80\x00", "ref.null", (3,)),
    (b"\xd0\x70", "ref.null", ("func",)),
])
def test_overlong_immediates_are_kept(code, name, args):
    instrs = roundtrip_expr(code + (b"\x0b" if name != "block" else b"\x0b\x0b"))
    assert instrs[0].name == name and instrs[0].args == args
    assert instrs[0].raw == code
    canonical = Instr(instrs[0].op, instrs[0].args)
    assert canonical == instrs[0]
    if code != canonical.raw:
        assert len(canonical.raw) < len(code)


def test_identical_instructions_share_one_object():
    code = b"\x20\x00\x20\x00\x10\x83\x80\x80\x80\x00\x10\x83\x80\x80\x80\x00\x0b"
    i = roundtrip_expr(code)
    assert i[0] is i[1] and i[2] is i[3]


def test_locals_keep_their_encoding():
    raw = b"\x02\x82\x80\x80\x80\x00\x7f\x01\x63\x70\x0b"  # padded count; (ref null func) long form
    locals_, instrs = decode_body(raw)
    assert isinstance(locals_, LocalList) and locals_ == [(2, I32), (1, FUNCREF)]
    assert encode_body(locals_, instrs) == raw
    locals_[0] = (3, I32)
    assert encode_locals(locals_) == b"\x02\x03\x7f\x01\x63\x70"
    assert encode_locals([(1, I64), (2, FUNCREF)]) == b"\x02\x01\x7e\x02\x70"
    with pytest.raises(EncodeError):
        encode_locals([(2**32 - 1, I32), (1, I32)])


# ---------------------------------------------------------------- nesting


def test_expression_ends_at_the_end_that_closes_it():
    # block / if-else / try_table / legacy try-catch / try-delegate, then trailing bytes not consumed
    code = bytes.fromhex(
        "0240" "0440" "05" "0b" "0b"             # block (if else end) end
        "1f40 01 02 00" "0b"                     # try_table (catch_all 0) end
        "0640" "0700" "1900" "0b"                # try catch 0 catch_all (unreachable) end
        "0640" "0640" "1800" "0b"                # try (try delegate 0) end
        "0b" "ffff")
    instrs, pos = decode_expr(code, 0, len(code), 0)
    assert pos == len(code) - 2
    assert [i.name for i in instrs][-1] == "end"
    assert [i.name for i in instrs].count("end") == 6
    assert encode_instrs(instrs) == code[:-2]


def test_decode_expr_reads_memoryview_and_bytearray_at_an_offset():
    module = b"\xaa\xbb" + b"\x41\x05\x0b" + b"\xcc"
    for data in (memoryview(module), bytearray(module), memoryview(bytearray(module))):
        instrs, pos = decode_expr(data, 2, len(module), 100)
        assert pos == 5 and [i.name for i in instrs] == ["i32.const", "end"] and instrs[0].args == (5,)
    padded = b"\x10\x83\x80\x80\x80\x00"
    code = b"\x00" + padded * 3 + b"\x28\x02\x88\x01" * 2 + b"\x0b"
    instrs, pos = decode_expr(memoryview(code), 1, len(code), 0)
    assert pos == len(code) and encode_instrs(instrs) == code[1:]
    assert instrs[0] is instrs[2] and instrs[3] is instrs[4] and instrs[3].args == (MemArg(2, 136),)


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize("body,message,offset", [
    (b"\x00\xff\x0b", "illegal opcode 0xff", 1),
    (b"\x00\x27\x0b", "illegal opcode 0x27", 1),
    (b"\x00\xfc\x7f\x0b", "illegal opcode 0xfc 0x7f", 1),
    (b"\x00\xfd\x9a\x01\x0b", "illegal opcode 0xfd 0x9a", 1),
    (b"\x00\xfb\x1f\x0b", "illegal opcode 0xfb", 1),
    (b"\x00\x41\x01\x1a", "END opcode expected", 4),
    (b"\x00\x02\x40\x0b", "END opcode expected", 4),
    (b"\x00\x10", "unexpected end", 2),
    (b"\x00\x10\x80", "unexpected end", 3),
    (b"\x00\x43\x00\x00", "unexpected end", 2),
    (b"\x00\xfd\x0c" + b"\x00" * 15, "unexpected end", 3),
    (b"\x00\x0e\x05\x00\x0b", "length out of bounds", 2),
    (b"\x00\x28\x80\x01\x00\x0b", "malformed memop flags", 2),
    (b"\x00\xfe\x03\x01\x0b", "zero byte expected", 3),
    (b"\x00\xfb\x18\x04\x00\x6e\x6d\x0b", "malformed cast flags", 3),
    (b"\x00\x1f\x40\x01\x04\x00\x0b\x0b", "malformed catch clause kind", 4),
    (b"\x00\x02\x50\x0b\x0b", "malformed block type", 2),
    (b"\x00\xd0\x50\x0b", "malformed heap type", 2),
    (b"\x00\x1c\x01\x50\x0b", "malformed value type", 3),
    (b"\x00\x10\x80\x80\x80\x80\x10\x0b", "integer too large", 6),
    (b"\x00\x10\x80\x80\x80\x80\x80\x00\x0b", "integer representation too long", 6),
    (b"\x00\x18\x00\x0b", "delegate outside of a try block", 1),
    (b"\x00\x0b\x00", "operators remaining after end", 2),
    (b"\x02\xff\xff\xff\xff\x0f\x7f\x01\x7e\x0b", "too many locals", 7),
    (b"\x80\x80\x80\x80\x08\x0b", "length out of bounds", 0),
    (b"\x01\x01\x40\x0b", "malformed value type", 2),
])
def test_malformed_bodies(body, message, offset):
    base = 0x1000
    with pytest.raises(DecodeError) as ei:
        decode_body(body, base)
    assert message in str(ei.value)
    assert ei.value.offset == base + offset


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64))
def test_random_bytes_only_raise_decode_errors(data):
    try:
        locals_, instrs = decode_body(data, 7)
    except WasmError as e:
        assert isinstance(e, DecodeError) and e.offset is not None and 7 <= e.offset <= 7 + len(data)
    else:
        assert encode_body(locals_, instrs) == data


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_real_bodies_only_raise_decode_errors(data):
    body = data.draw(st.sampled_from(mix_bodies()))
    i = data.draw(st.integers(0, len(body) - 1))
    mutated = bytearray(body)
    mutated[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(body)))
    for candidate in (bytes(mutated), body[:cut]):
        try:
            locals_, instrs = decode_body(candidate)
        except DecodeError:
            continue
        assert encode_body(locals_, instrs) == candidate


# ---------------------------------------------------------------- a WAT module with a broad instruction mix

MIX_WAT = r"""
(module
  (type $ft (func (param i32) (result i32)))
  (type $pt (struct (field $x (mut i32)) (field $y (mut i64))))
  (type $arr (array (mut i8)))
  (type $farr (array (mut funcref)))
  (rec (type $node (sub (struct (field (ref null $node))))) (type $leaf (sub final $node (struct (field (ref null $node)) (field i32)))))
  (import "env" "ext" (func $ext (param i32) (result i32)))
  (memory $m0 1 2)
  (memory $m1 i64 1)
  (memory $sh 1 1 shared)
  (table $t0 10 funcref)
  (table $t1 i64 4 externref)
  (global $g (mut i32) (i32.const 42))
  (global $gc i64 (i64.add (i64.const 1) (i64.const 2)))
  (tag $e (param i32))
  (data $d "hello world")
  (elem $el func $f $ext)
  (elem declare func $tail $f)
  (func $f (type $ft)
    (local i64 f32 f64 v128 (ref null $pt) anyref)
    (block $b (result i32)
      (loop $l
        (br_if $l (i32.eqz (local.get 0)))
        (br_table $b $b (i32.const 1) (local.get 0)))
      (unreachable))
    (drop)
    (if (result i32) (local.get 0)
      (then (i32.const 1)) (else (i32.const 0)))
    (drop)
    (local.set 1 (i64.extend_i32_s (local.get 0)))
    (local.set 2 (f32.const -nan:0x1234))
    (local.set 3 (f64.const 3.141592653589793))
    (local.set 4 (v128.const i32x4 1 2 3 4))
    (local.set 4 (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 31 (local.get 4) (local.get 4)))
    (local.set 4 (i32x4.replace_lane 2 (local.get 4) (i32x4.extract_lane 1 (local.get 4))))
    (local.set 4 (v128.load32_lane $m0 offset=4 align=4 1 (i32.const 0) (local.get 4)))
    (local.set 4 (f32x4.relaxed_madd (local.get 4) (local.get 4) (local.get 4)))
    (i32.store8 $m0 offset=3 (i32.const 0) (i32.load16_u $m0 offset=70000 (i32.const 8)))
    (i64.store $m1 offset=0x100000000 (i64.const 0) (i64.load $m1 (i64.const 16)))
    (drop (memory.grow $m1 (i64.const 1)))
    (drop (memory.size $m0))
    (memory.copy $m1 $m0 (i64.const 0) (i32.const 0) (i32.const 4))
    (memory.fill $m0 (i32.const 0) (i32.const 0) (i32.const 0))
    (memory.init $m0 $d (i32.const 0) (i32.const 0) (i32.const 1))
    (data.drop $d)
    (table.init $t0 $el (i32.const 0) (i32.const 0) (i32.const 1))
    (table.copy $t0 $t0 (i32.const 0) (i32.const 1) (i32.const 1))
    (elem.drop $el)
    (drop (table.grow $t1 (ref.null extern) (i64.const 1)))
    (drop (table.size $t0))
    (table.set $t0 (i32.const 0) (ref.func $f))
    (drop (call_indirect $t0 (type $ft) (i32.const 5) (i32.const 0)))
    (drop (call_ref $ft (i32.const 1) (ref.func $f)))
    (drop (i32.atomic.rmw8.cmpxchg_u $sh offset=4 (i32.const 0) (i32.const 1) (i32.const 2)))
    (drop (memory.atomic.notify $sh (i32.const 0) (i32.const 1)))
    (atomic.fence)
    (drop (i32.trunc_sat_f64_u (local.get 3)))
    (drop (i32.extend8_s (global.get $g)))
    (global.set $g (i32.const -123456789))
    (local.set 5 (struct.new $pt (i32.const 1) (i64.const 2)))
    (struct.set $pt $y (local.get 5) (i64.const 7))
    (drop (struct.get $pt $x (local.get 5)))
    (drop (array.len (array.new_data $arr $d (i32.const 0) (i32.const 3))))
    (drop (array.get_u $arr (array.new_fixed $arr 2 (i32.const 1) (i32.const 2)) (i32.const 0)))
    (local.set 6 (ref.i31 (i32.const 9)))
    (drop (i31.get_s (ref.cast (ref i31) (local.get 6))))
    (drop (ref.test (ref null $pt) (local.get 6)))
    (drop (block $c (result anyref)
      (drop (br_on_cast $c anyref (ref i31) (local.get 6)))
      (ref.null none)))
    (drop (any.convert_extern (extern.convert_any (local.get 6))))
    (drop (block $h (result i32)
      (try_table (catch $e $h)
        (throw $e (i32.const 3)))
      (i32.const 0)))
    (drop (block $h2 (result exnref)
      (try_table (catch_all_ref $h2) (call $tail (i32.const 1)) (drop))
      (ref.null exn)))
    (drop (ref.is_null (ref.as_non_null (ref.func $f))))
    (select (i32.const 1) (i32.const 2) (local.get 0))
    (drop (select (result i64) (i64.const 1) (i64.const 2) (i32.const 0)))
    (i32.add (call $ext (i32.const 3)))
  )
  (func $tail (param i32) (result i32)
    (return_call $f (local.get 0)))
)
"""

# The legacy exception instructions (try/catch/catch_all/delegate) that toolchains still emit.
# wasmtime (and so wasmtime-py) has no switch for them, so this module is checked against
# the assembler only (decode + re-encode of wasm-tools' bytes), not validated.
LEGACY_WAT = r"""
(module
  (tag $e (param i32))
  (func $legacy (param i32) (result i32)
    try (result i32)
      local.get 0
      throw $e
    catch $e
    catch_all
      i32.const 0
    end
    try $outer (result i32)
      try (result i32)
        local.get 0
      delegate $outer
    catch_all
      i32.const 1
      rethrow 0
    end
    i32.add)
)
"""


_MIX: list[bytes] = []


def mix_bytes() -> bytes:
    """MIX_WAT compiled (once) and validated by wasmtime (Wasm 3.0 + threads + legacy exceptions)."""
    if not _MIX:
        from wasmweld.runtime.engine import validate_bytes, wat2wasm

        data = wat2wasm(MIX_WAT)
        validate_bytes(data)
        _MIX.append(data)
    return _MIX[0]


def mix_bodies() -> list[bytes]:
    from wasmweld.runtime.engine import wat2wasm

    return [raw for _, raw in code_bodies(mix_bytes()) + code_bodies(wat2wasm(LEGACY_WAT))]


@pytest.fixture(scope="module")
def mix_module():
    return mix_bytes()


def test_mix_module_roundtrips_and_reencodes_canonically(mix_module, wat):
    bodies = code_bodies(mix_module) + code_bodies(wat(LEGACY_WAT))
    assert len(bodies) == 3
    seen = set()
    for off, raw in bodies:
        locals_, instrs = decode_body(raw, off)
        assert encode_body(locals_, instrs) == raw
        # wasm-tools writes minimal encodings, so rebuilding every instruction from its meaning
        # must give the same bytes
        rebuilt = [Instr(i.op, i.args) for i in instrs]
        assert encode_body(list(locals_), rebuilt) == raw
        seen.update(i.name for i in instrs)
    for name in ("br_table", "v128.load32_lane", "f32x4.relaxed_madd", "memory.copy", "table.init",
                 "i32.atomic.rmw8.cmpxchg_u", "atomic.fence", "br_on_cast", "try_table", "throw",
                 "return_call", "call_ref", "try", "catch", "catch_all", "delegate", "rethrow", "select_t",
                 "array.new_fixed", "ref.test_null", "ref.cast", "struct.set", "i8x16.shuffle"):
        assert name in seen, name


def test_mix_module_memory64_offset_and_memory_index(mix_module):
    off, raw = code_bodies(mix_module)[0]
    _, instrs = decode_body(raw, off)
    stores = [i for i in instrs if i.name == "i64.store"]
    assert stores[0].args == (MemArg(3, 0x100000000, 1),)
    loads = [i for i in instrs if i.name == "i32.load16_u"]
    assert loads[0].args == (MemArg(1, 70000, 0),)
    nan = [i for i in instrs if i.name == "f32.const"][0]
    assert nan.args == (0xFF801234,)


# ---------------------------------------------------------------- spec test suite and real modules


def _roundtrip_module_bodies(data: bytes) -> int:
    n = 0
    for off, raw in code_bodies(data):
        locals_, instrs = decode_body(raw, off)
        assert encode_body(locals_, instrs) == raw, f"body at 0x{off:x}"
        n += 1
    return n


def test_conformance_bodies_roundtrip(conformance_dir):
    """Every body of every valid and invalid (= well-formed) spec-suite module."""
    rows = helpers.conformance_rows("valid") + helpers.conformance_rows("invalid")
    assert len(rows) == 2513 + 2735
    bodies = sum(_roundtrip_module_bodies((conformance_dir / r["path"]).read_bytes()) for r in rows)
    assert bodies > 10000


def test_malformed_conformance_bodies_raise_only_decode_errors(conformance_dir):
    hits = 0
    for r in helpers.conformance_rows("malformed"):
        data = (conformance_dir / r["path"]).read_bytes()
        try:
            bodies = code_bodies(data)
        except WasmError:
            continue
        for off, raw in bodies:
            try:
                decode_body(raw, off)
            except DecodeError as e:
                assert off <= e.offset <= off + len(raw)
                hits += 1
    assert hits >= 20  # align, binary, binary-leb128 ... bodies that are malformed in themselves


@pytest.mark.slow
@pytest.mark.parametrize("cid", helpers.corpus_ids())
def test_corpus_bodies_roundtrip(cid, corpus_dir):
    data = helpers.corpus_path(cid).read_bytes()
    assert _roundtrip_module_bodies(data) > 0
