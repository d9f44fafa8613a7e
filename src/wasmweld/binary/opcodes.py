"""THE opcode table of wasmweld: one row per WebAssembly instruction.

Reader, encoder, printer and the renumbering re-encoder all work from this
table, so an instruction is described exactly once::

    (call 3)            -> OpInfo("call", None, 0x10, ("func",))       bytes 10 03
    (i32.load offset=8) -> OpInfo("i32.load", None, 0x28, ("memarg",)) bytes 28 02 08
    (memory.copy 1 0)   -> OpInfo("memory.copy", 0xFC, 10, ("memory", "memory"))
                                                                      bytes fc 0a 01 00

``prefix`` is ``None`` for one-byte opcodes, else 0xFB (GC), 0xFC (misc),
0xFD (SIMD) or 0xFE (atomics); a prefixed ``code`` is a u32 LEB128 in the
binary (toolchains may pad it). ``imm`` lists the immediates in binary order,
each one of the kinds below; each kind is one element of ``Instr.args``
except the valueless ``"zero"``:

=============  ==========================================  =====================
kind           binary                                      value in Instr.args
=============  ==========================================  =====================
``u32``        u32 LEB128 (array.new_fixed's size)         int
``i32``        s32 LEB128                                  int
``i64``        s64 LEB128                                  int
``f32``        4 bytes little endian                       int (IEEE bit pattern)
``f64``        8 bytes little endian                       int (IEEE bit pattern)
``v128``       16 bytes                                    bytes (16)
``lanes16``    16 lane bytes (i8x16.shuffle)               bytes (16)
``lane``       1 byte                                      int
``blocktype``  0x40 | valtype | s33 type index             None | ValType | int
``label``      u32 label depth                             int
``labels``     vec(u32) (br_table targets; default follows) tuple[int, ...]
``func`` ``type`` ``table`` ``memory`` ``global`` ``tag`` ``elem`` ``data`` ``local`` ``field``
               u32 index in that index space               int
``memarg``     u32 flags [u32 memory if flags bit 6] u64 offset
                                                           MemArg(align, offset, memory)
``heaptype``   s33: abstract heap code or type index       str | int
``valtypes``   vec(valtype) (select t*)                    tuple[ValType, ...]
``castflags``  1 byte: bit 0 src nullable, bit 1 dst nullable  int
``catches``    vec(catch clause) (try_table)               tuple[Catch, ...]
``zero``       1 reserved 0x00 byte (atomic.fence)         (no value)
=============  ==========================================  =====================

Names are the spec's text names, except where one text name covers two
opcodes: ``select_t`` (0x1C, ``select`` with types), ``ref.test_null`` /
``ref.cast_null`` (the ``(ref null ht)`` forms, 0xFB 21/23). The legacy
exception instructions keep their names (``try``, ``catch``, ``catch_all``,
``rethrow``, ``delegate``).
"""

from __future__ import annotations

from collections.abc import Callable
from ..record import field, record

from .leb import write_u

__all__ = [
    "OpInfo", "OPCODES", "BY_NAME", "lookup", "SINGLE", "PREFIXED",
    "IMM_KINDS", "INDEX_KINDS", "VALUELESS_KINDS", "PREFIXES",
    "BLOCK_OPS", "END", "ELSE",
]

#: every immediate kind the table uses
IMM_KINDS = frozenset({
    "u32", "i32", "i64", "f32", "f64", "v128", "lanes16", "lane", "blocktype", "label", "labels",
    "func", "type", "table", "memory", "global", "tag", "elem", "data", "local", "field",
    "memarg", "heaptype", "valtypes", "castflags", "catches", "zero",
})
#: kinds that are indices into a module-level index space (what renumbering rewrites).
#: ``memarg`` also carries a memory index; ``heaptype``/``blocktype``/``valtypes`` may carry type indices.
INDEX_KINDS = frozenset({"func", "type", "table", "memory", "global", "tag", "elem", "data"})
#: kinds that occupy bytes but have no element in ``Instr.args``
VALUELESS_KINDS = frozenset({"zero"})
PREFIXES = (0xFB, 0xFC, 0xFD, 0xFE)


@record(frozen=True, slots=True)
class OpInfo:
    """One instruction: text ``name``, ``prefix`` byte (or None), ``code``, immediate kinds ``imm``.

    ``opcode`` (derived) is the minimal encoding of the opcode itself, e.g.
    ``b"\\xfc\\x0a"`` for memory.copy.
    """

    name: str
    prefix: int | None
    code: int
    imm: tuple[str, ...] = ()
    opcode: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for kind in self.imm:
            if kind not in IMM_KINDS:
                raise ValueError(f"unknown immediate kind {kind!r} for {self.name}")
        enc = bytes((self.code,)) if self.prefix is None else bytes((self.prefix,)) + write_u(self.code)
        object.__setattr__(self, "opcode", enc)

    def __str__(self) -> str:
        return self.name

    def __reduce__(self) -> tuple[Callable[[str], OpInfo], tuple[str]]:
        # pickle by name, so unpickled instructions share the table's rows
        return (_by_name, (self.name,))


def _by_name(name: str) -> OpInfo:
    return BY_NAME[name]


OPCODES: list[OpInfo] = []


def _op(prefix: int | None, code: int, name: str, *imm: str) -> None:
    OPCODES.append(OpInfo(name, prefix, code, tuple(imm)))


def _plain(prefix: int | None, first: int, names: str) -> None:
    """Consecutive no-immediate opcodes starting at ``first``; ``-`` skips a reserved code."""
    for i, n in enumerate(names.split()):
        if n != "-":
            _op(prefix, first + i, n)


def _mem(prefix: int | None, first: int, names: str) -> None:
    """Consecutive memarg opcodes."""
    for i, n in enumerate(names.split()):
        if n != "-":
            _op(prefix, first + i, n, "memarg")


# ---------------------------------------------------------------- control (one byte)
_op(None, 0x00, "unreachable")
_op(None, 0x01, "nop")
_op(None, 0x02, "block", "blocktype")
_op(None, 0x03, "loop", "blocktype")
_op(None, 0x04, "if", "blocktype")
_op(None, 0x05, "else")
_op(None, 0x06, "try", "blocktype")          # legacy exceptions
_op(None, 0x07, "catch", "tag")              # legacy exceptions
_op(None, 0x08, "throw", "tag")
_op(None, 0x09, "rethrow", "label")          # legacy exceptions
_op(None, 0x0A, "throw_ref")
_op(None, 0x0B, "end")
_op(None, 0x0C, "br", "label")
_op(None, 0x0D, "br_if", "label")
_op(None, 0x0E, "br_table", "labels", "label")
_op(None, 0x0F, "return")
_op(None, 0x10, "call", "func")
_op(None, 0x11, "call_indirect", "type", "table")
_op(None, 0x12, "return_call", "func")
_op(None, 0x13, "return_call_indirect", "type", "table")
_op(None, 0x14, "call_ref", "type")
_op(None, 0x15, "return_call_ref", "type")
_op(None, 0x18, "delegate", "label")         # legacy exceptions
_op(None, 0x19, "catch_all")                 # legacy exceptions
_op(None, 0x1A, "drop")
_op(None, 0x1B, "select")
_op(None, 0x1C, "select_t", "valtypes")
_op(None, 0x1F, "try_table", "blocktype", "catches")

# ---------------------------------------------------------------- variables, tables
_op(None, 0x20, "local.get", "local")
_op(None, 0x21, "local.set", "local")
_op(None, 0x22, "local.tee", "local")
_op(None, 0x23, "global.get", "global")
_op(None, 0x24, "global.set", "global")
_op(None, 0x25, "table.get", "table")
_op(None, 0x26, "table.set", "table")

# ---------------------------------------------------------------- memory
_mem(None, 0x28, """i32.load i64.load f32.load f64.load
    i32.load8_s i32.load8_u i32.load16_s i32.load16_u
    i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s i64.load32_u
    i32.store i64.store f32.store f64.store
    i32.store8 i32.store16 i64.store8 i64.store16 i64.store32""")
_op(None, 0x3F, "memory.size", "memory")
_op(None, 0x40, "memory.grow", "memory")

# ---------------------------------------------------------------- numeric
_op(None, 0x41, "i32.const", "i32")
_op(None, 0x42, "i64.const", "i64")
_op(None, 0x43, "f32.const", "f32")
_op(None, 0x44, "f64.const", "f64")
_plain(None, 0x45, """i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u
    i32.ge_s i32.ge_u
    i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s i64.le_u i64.ge_s i64.ge_u
    f32.eq f32.ne f32.lt f32.gt f32.le f32.ge
    f64.eq f64.ne f64.lt f64.gt f64.le f64.ge
    i32.clz i32.ctz i32.popcnt i32.add i32.sub i32.mul i32.div_s i32.div_u i32.rem_s i32.rem_u
    i32.and i32.or i32.xor i32.shl i32.shr_s i32.shr_u i32.rotl i32.rotr
    i64.clz i64.ctz i64.popcnt i64.add i64.sub i64.mul i64.div_s i64.div_u i64.rem_s i64.rem_u
    i64.and i64.or i64.xor i64.shl i64.shr_s i64.shr_u i64.rotl i64.rotr
    f32.abs f32.neg f32.ceil f32.floor f32.trunc f32.nearest f32.sqrt
    f32.add f32.sub f32.mul f32.div f32.min f32.max f32.copysign
    f64.abs f64.neg f64.ceil f64.floor f64.trunc f64.nearest f64.sqrt
    f64.add f64.sub f64.mul f64.div f64.min f64.max f64.copysign
    i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u
    i64.extend_i32_s i64.extend_i32_u i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s i64.trunc_f64_u
    f32.convert_i32_s f32.convert_i32_u f32.convert_i64_s f32.convert_i64_u f32.demote_f64
    f64.convert_i32_s f64.convert_i32_u f64.convert_i64_s f64.convert_i64_u f64.promote_f32
    i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32 f64.reinterpret_i64
    i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s""")

# ---------------------------------------------------------------- references
_op(None, 0xD0, "ref.null", "heaptype")
_op(None, 0xD1, "ref.is_null")
_op(None, 0xD2, "ref.func", "func")
_op(None, 0xD3, "ref.eq")
_op(None, 0xD4, "ref.as_non_null")
_op(None, 0xD5, "br_on_null", "label")
_op(None, 0xD6, "br_on_non_null", "label")

# ---------------------------------------------------------------- 0xFB: GC
_FB = 0xFB
_op(_FB, 0, "struct.new", "type")
_op(_FB, 1, "struct.new_default", "type")
_op(_FB, 2, "struct.get", "type", "field")
_op(_FB, 3, "struct.get_s", "type", "field")
_op(_FB, 4, "struct.get_u", "type", "field")
_op(_FB, 5, "struct.set", "type", "field")
_op(_FB, 6, "array.new", "type")
_op(_FB, 7, "array.new_default", "type")
_op(_FB, 8, "array.new_fixed", "type", "u32")
_op(_FB, 9, "array.new_data", "type", "data")
_op(_FB, 10, "array.new_elem", "type", "elem")
_op(_FB, 11, "array.get", "type")
_op(_FB, 12, "array.get_s", "type")
_op(_FB, 13, "array.get_u", "type")
_op(_FB, 14, "array.set", "type")
_op(_FB, 15, "array.len")
_op(_FB, 16, "array.fill", "type")
_op(_FB, 17, "array.copy", "type", "type")
_op(_FB, 18, "array.init_data", "type", "data")
_op(_FB, 19, "array.init_elem", "type", "elem")
_op(_FB, 20, "ref.test", "heaptype")
_op(_FB, 21, "ref.test_null", "heaptype")
_op(_FB, 22, "ref.cast", "heaptype")
_op(_FB, 23, "ref.cast_null", "heaptype")
_op(_FB, 24, "br_on_cast", "castflags", "label", "heaptype", "heaptype")
_op(_FB, 25, "br_on_cast_fail", "castflags", "label", "heaptype", "heaptype")
_op(_FB, 26, "any.convert_extern")
_op(_FB, 27, "extern.convert_any")
_op(_FB, 28, "ref.i31")
_op(_FB, 29, "i31.get_s")
_op(_FB, 30, "i31.get_u")

# ---------------------------------------------------------------- 0xFC: misc
_FC = 0xFC
_plain(_FC, 0, """i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s i32.trunc_sat_f64_u
    i64.trunc_sat_f32_s i64.trunc_sat_f32_u i64.trunc_sat_f64_s i64.trunc_sat_f64_u""")
_op(_FC, 8, "memory.init", "data", "memory")
_op(_FC, 9, "data.drop", "data")
_op(_FC, 10, "memory.copy", "memory", "memory")
_op(_FC, 11, "memory.fill", "memory")
_op(_FC, 12, "table.init", "elem", "table")
_op(_FC, 13, "elem.drop", "elem")
_op(_FC, 14, "table.copy", "table", "table")
_op(_FC, 15, "table.grow", "table")
_op(_FC, 16, "table.size", "table")
_op(_FC, 17, "table.fill", "table")
# wide arithmetic
_plain(_FC, 19, "i64.add128 i64.sub128 i64.mul_wide_s i64.mul_wide_u")

# ---------------------------------------------------------------- 0xFD: SIMD
_FD = 0xFD
_mem(_FD, 0x00, """v128.load v128.load8x8_s v128.load8x8_u v128.load16x4_s v128.load16x4_u
    v128.load32x2_s v128.load32x2_u v128.load8_splat v128.load16_splat v128.load32_splat
    v128.load64_splat v128.store""")
_op(_FD, 0x0C, "v128.const", "v128")
_op(_FD, 0x0D, "i8x16.shuffle", "lanes16")
_plain(_FD, 0x0E, "i8x16.swizzle i8x16.splat i16x8.splat i32x4.splat i64x2.splat f32x4.splat f64x2.splat")
for _i, _n in enumerate("""i8x16.extract_lane_s i8x16.extract_lane_u i8x16.replace_lane
        i16x8.extract_lane_s i16x8.extract_lane_u i16x8.replace_lane
        i32x4.extract_lane i32x4.replace_lane i64x2.extract_lane i64x2.replace_lane
        f32x4.extract_lane f32x4.replace_lane f64x2.extract_lane f64x2.replace_lane""".split()):
    _op(_FD, 0x15 + _i, _n, "lane")
_plain(_FD, 0x23, """i8x16.eq i8x16.ne i8x16.lt_s i8x16.lt_u i8x16.gt_s i8x16.gt_u
    i8x16.le_s i8x16.le_u i8x16.ge_s i8x16.ge_u
    i16x8.eq i16x8.ne i16x8.lt_s i16x8.lt_u i16x8.gt_s i16x8.gt_u i16x8.le_s i16x8.le_u
    i16x8.ge_s i16x8.ge_u
    i32x4.eq i32x4.ne i32x4.lt_s i32x4.lt_u i32x4.gt_s i32x4.gt_u i32x4.le_s i32x4.le_u
    i32x4.ge_s i32x4.ge_u
    f32x4.eq f32x4.ne f32x4.lt f32x4.gt f32x4.le f32x4.ge
    f64x2.eq f64x2.ne f64x2.lt f64x2.gt f64x2.le f64x2.ge
    v128.not v128.and v128.andnot v128.or v128.xor v128.bitselect v128.any_true""")
for _i, _n in enumerate("""v128.load8_lane v128.load16_lane v128.load32_lane v128.load64_lane
        v128.store8_lane v128.store16_lane v128.store32_lane v128.store64_lane""".split()):
    _op(_FD, 0x54 + _i, _n, "memarg", "lane")
_mem(_FD, 0x5C, "v128.load32_zero v128.load64_zero")
_plain(_FD, 0x5E, """f32x4.demote_f64x2_zero f64x2.promote_low_f32x4
    i8x16.abs i8x16.neg i8x16.popcnt i8x16.all_true i8x16.bitmask
    i8x16.narrow_i16x8_s i8x16.narrow_i16x8_u
    f32x4.ceil f32x4.floor f32x4.trunc f32x4.nearest
    i8x16.shl i8x16.shr_s i8x16.shr_u i8x16.add i8x16.add_sat_s i8x16.add_sat_u
    i8x16.sub i8x16.sub_sat_s i8x16.sub_sat_u
    f64x2.ceil f64x2.floor
    i8x16.min_s i8x16.min_u i8x16.max_s i8x16.max_u
    f64x2.trunc i8x16.avgr_u
    i16x8.extadd_pairwise_i8x16_s i16x8.extadd_pairwise_i8x16_u
    i32x4.extadd_pairwise_i16x8_s i32x4.extadd_pairwise_i16x8_u""")
_plain(_FD, 0x80, """i16x8.abs i16x8.neg i16x8.q15mulr_sat_s i16x8.all_true i16x8.bitmask
    i16x8.narrow_i32x4_s i16x8.narrow_i32x4_u
    i16x8.extend_low_i8x16_s i16x8.extend_high_i8x16_s i16x8.extend_low_i8x16_u i16x8.extend_high_i8x16_u
    i16x8.shl i16x8.shr_s i16x8.shr_u i16x8.add i16x8.add_sat_s i16x8.add_sat_u
    i16x8.sub i16x8.sub_sat_s i16x8.sub_sat_u
    f64x2.nearest i16x8.mul i16x8.min_s i16x8.min_u i16x8.max_s i16x8.max_u
    - i16x8.avgr_u
    i16x8.extmul_low_i8x16_s i16x8.extmul_high_i8x16_s i16x8.extmul_low_i8x16_u i16x8.extmul_high_i8x16_u""")
_plain(_FD, 0xA0, """i32x4.abs i32x4.neg - i32x4.all_true i32x4.bitmask - -
    i32x4.extend_low_i16x8_s i32x4.extend_high_i16x8_s i32x4.extend_low_i16x8_u i32x4.extend_high_i16x8_u
    i32x4.shl i32x4.shr_s i32x4.shr_u i32x4.add - - i32x4.sub - - - i32x4.mul
    i32x4.min_s i32x4.min_u i32x4.max_s i32x4.max_u i32x4.dot_i16x8_s -
    i32x4.extmul_low_i16x8_s i32x4.extmul_high_i16x8_s i32x4.extmul_low_i16x8_u i32x4.extmul_high_i16x8_u""")
_plain(_FD, 0xC0, """i64x2.abs i64x2.neg - i64x2.all_true i64x2.bitmask - -
    i64x2.extend_low_i32x4_s i64x2.extend_high_i32x4_s i64x2.extend_low_i32x4_u i64x2.extend_high_i32x4_u
    i64x2.shl i64x2.shr_s i64x2.shr_u i64x2.add - - i64x2.sub - - - i64x2.mul
    i64x2.eq i64x2.ne i64x2.lt_s i64x2.gt_s i64x2.le_s i64x2.ge_s
    i64x2.extmul_low_i32x4_s i64x2.extmul_high_i32x4_s i64x2.extmul_low_i32x4_u i64x2.extmul_high_i32x4_u""")
_plain(_FD, 0xE0, """f32x4.abs f32x4.neg - f32x4.sqrt f32x4.add f32x4.sub f32x4.mul f32x4.div
    f32x4.min f32x4.max f32x4.pmin f32x4.pmax
    f64x2.abs f64x2.neg - f64x2.sqrt f64x2.add f64x2.sub f64x2.mul f64x2.div
    f64x2.min f64x2.max f64x2.pmin f64x2.pmax
    i32x4.trunc_sat_f32x4_s i32x4.trunc_sat_f32x4_u f32x4.convert_i32x4_s f32x4.convert_i32x4_u
    i32x4.trunc_sat_f64x2_s_zero i32x4.trunc_sat_f64x2_u_zero
    f64x2.convert_low_i32x4_s f64x2.convert_low_i32x4_u""")
# relaxed SIMD
_plain(_FD, 0x100, """i8x16.relaxed_swizzle
    i32x4.relaxed_trunc_f32x4_s i32x4.relaxed_trunc_f32x4_u
    i32x4.relaxed_trunc_f64x2_s_zero i32x4.relaxed_trunc_f64x2_u_zero
    f32x4.relaxed_madd f32x4.relaxed_nmadd f64x2.relaxed_madd f64x2.relaxed_nmadd
    i8x16.relaxed_laneselect i16x8.relaxed_laneselect i32x4.relaxed_laneselect i64x2.relaxed_laneselect
    f32x4.relaxed_min f32x4.relaxed_max f64x2.relaxed_min f64x2.relaxed_max
    i16x8.relaxed_q15mulr_s i16x8.relaxed_dot_i8x16_i7x16_s i32x4.relaxed_dot_i8x16_i7x16_add_s""")

# ---------------------------------------------------------------- 0xFE: atomics (threads)
_FE = 0xFE
_mem(_FE, 0x00, "memory.atomic.notify memory.atomic.wait32 memory.atomic.wait64")
_op(_FE, 0x03, "atomic.fence", "zero")
_mem(_FE, 0x10, """i32.atomic.load i64.atomic.load i32.atomic.load8_u i32.atomic.load16_u
    i64.atomic.load8_u i64.atomic.load16_u i64.atomic.load32_u
    i32.atomic.store i64.atomic.store i32.atomic.store8 i32.atomic.store16
    i64.atomic.store8 i64.atomic.store16 i64.atomic.store32""")
for _i, _rmw in enumerate(("add", "sub", "and", "or", "xor", "xchg", "cmpxchg")):
    _mem(_FE, 0x1E + 7 * _i, " ".join(f"{t}.atomic.rmw{w}.{_rmw}{'_u' if w else ''}" for t, w in (
        ("i32", ""), ("i64", ""), ("i32", "8"), ("i32", "16"), ("i64", "8"), ("i64", "16"), ("i64", "32"))))

del _i, _n, _rmw

# ---------------------------------------------------------------- lookup structures
#: name -> OpInfo
BY_NAME: dict[str, OpInfo] = {}
#: one-byte opcodes: 256 entries, None where the byte is a prefix or unassigned
SINGLE: list[OpInfo | None] = [None] * 256
#: prefix byte -> {sub-opcode: OpInfo}
PREFIXED: dict[int, dict[int, OpInfo]] = {p: {} for p in PREFIXES}

for _info in OPCODES:
    if _info.name in BY_NAME:
        raise AssertionError(f"duplicate opcode name {_info.name}")
    BY_NAME[_info.name] = _info
    if _info.prefix is None:
        if SINGLE[_info.code] is not None:
            raise AssertionError(f"duplicate opcode 0x{_info.code:02x}")
        SINGLE[_info.code] = _info
    else:
        _table = PREFIXED[_info.prefix]
        if _info.code in _table:
            raise AssertionError(f"duplicate opcode 0x{_info.prefix:02x} {_info.code}")
        _table[_info.code] = _info
        del _table
del _info

END: OpInfo = BY_NAME["end"]
ELSE: OpInfo = BY_NAME["else"]
#: instructions that open a nesting level closed by ``end`` (``try`` may be closed by ``delegate``)
BLOCK_OPS = frozenset(BY_NAME[n] for n in ("block", "loop", "if", "try", "try_table"))


def lookup(prefix: int | None, code: int) -> OpInfo | None:
    """The OpInfo for ``prefix``/``code`` (prefix None for one-byte opcodes), or None if unassigned."""
    if prefix is None:
        return SINGLE[code] if 0 <= code < 256 else None
    table = PREFIXED.get(prefix)
    return None if table is None else table.get(code)
