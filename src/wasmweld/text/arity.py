"""Operand counts of instructions, for folding (``wasm-tools print --fold-instructions``).

The folded form nests an instruction's operands inside it::

    local.get 0            (i32.add
    local.get 1     ->       (local.get 0)
    i32.add                  (local.get 1))

which needs each instruction's arity ``(params, results)``: fixed for most
opcodes (this table, wasmparser's values, keyed by the opcode table's names;
``(2, 1)`` is the default), computed from the module's types for calls, blocks,
branches and a few others (:func:`arity`).
"""

from __future__ import annotations

from typing import Any

from ..types import FuncType, StructType
from ..binary.instr import Instr

__all__ = ["FIXED", "arity"]

_GROUPS = {
    (0, 0): """
    unreachable nop rethrow data.drop elem.drop atomic.fence""",
    (0, 1): """
    local.get global.get memory.size i32.const i64.const f32.const f64.const ref.null ref.func
    struct.new_default table.size v128.const""",
    (1, 0): """
    throw_ref drop local.set global.set""",
    (1, 1): """
    local.tee table.get i32.load i64.load f32.load f64.load i32.load8_s i32.load8_u i32.load16_s
    i32.load16_u i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s i64.load32_u
    memory.grow i32.eqz i64.eqz i32.clz i32.ctz i32.popcnt i64.clz i64.ctz i64.popcnt f32.abs
    f32.neg f32.ceil f32.floor f32.trunc f32.nearest f32.sqrt f64.abs f64.neg f64.ceil f64.floor
    f64.trunc f64.nearest f64.sqrt i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s
    i32.trunc_f64_u i64.extend_i32_s i64.extend_i32_u i64.trunc_f32_s i64.trunc_f32_u
    i64.trunc_f64_s i64.trunc_f64_u f32.convert_i32_s f32.convert_i32_u f32.convert_i64_s
    f32.convert_i64_u f32.demote_f64 f64.convert_i32_s f64.convert_i32_u f64.convert_i64_s
    f64.convert_i64_u f64.promote_f32 i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32
    f64.reinterpret_i64 i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s
    ref.is_null ref.as_non_null struct.get struct.get_s struct.get_u array.new_default array.len
    ref.test ref.test_null ref.cast ref.cast_null any.convert_extern extern.convert_any ref.i31
    i31.get_s i31.get_u i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s
    i32.trunc_sat_f64_u i64.trunc_sat_f32_s i64.trunc_sat_f32_u i64.trunc_sat_f64_s
    i64.trunc_sat_f64_u v128.load v128.load8x8_s v128.load8x8_u v128.load16x4_s v128.load16x4_u
    v128.load32x2_s v128.load32x2_u v128.load8_splat v128.load16_splat v128.load32_splat
    v128.load64_splat i8x16.splat i16x8.splat i32x4.splat i64x2.splat f32x4.splat f64x2.splat
    i8x16.extract_lane_s i8x16.extract_lane_u i16x8.extract_lane_s i16x8.extract_lane_u
    i32x4.extract_lane i64x2.extract_lane f32x4.extract_lane f64x2.extract_lane v128.not
    v128.any_true v128.load32_zero v128.load64_zero f32x4.demote_f64x2_zero f64x2.promote_low_f32x4
    i8x16.abs i8x16.neg i8x16.popcnt i8x16.all_true i8x16.bitmask f32x4.ceil f32x4.floor f32x4.trunc
    f32x4.nearest f64x2.ceil f64x2.floor f64x2.trunc i16x8.extadd_pairwise_i8x16_s
    i16x8.extadd_pairwise_i8x16_u i32x4.extadd_pairwise_i16x8_s i32x4.extadd_pairwise_i16x8_u
    i16x8.abs i16x8.neg i16x8.all_true i16x8.bitmask i16x8.extend_low_i8x16_s
    i16x8.extend_high_i8x16_s i16x8.extend_low_i8x16_u i16x8.extend_high_i8x16_u f64x2.nearest
    i32x4.abs i32x4.neg i32x4.all_true i32x4.bitmask i32x4.extend_low_i16x8_s
    i32x4.extend_high_i16x8_s i32x4.extend_low_i16x8_u i32x4.extend_high_i16x8_u i64x2.abs i64x2.neg
    i64x2.all_true i64x2.bitmask i64x2.extend_low_i32x4_s i64x2.extend_high_i32x4_s
    i64x2.extend_low_i32x4_u i64x2.extend_high_i32x4_u f32x4.abs f32x4.neg f32x4.sqrt f64x2.abs
    f64x2.neg f64x2.sqrt i32x4.trunc_sat_f32x4_s i32x4.trunc_sat_f32x4_u f32x4.convert_i32x4_s
    f32x4.convert_i32x4_u i32x4.trunc_sat_f64x2_s_zero i32x4.trunc_sat_f64x2_u_zero
    f64x2.convert_low_i32x4_s f64x2.convert_low_i32x4_u i32x4.relaxed_trunc_f32x4_s
    i32x4.relaxed_trunc_f32x4_u i32x4.relaxed_trunc_f64x2_s_zero i32x4.relaxed_trunc_f64x2_u_zero
    i32.atomic.load i64.atomic.load i32.atomic.load8_u i32.atomic.load16_u i64.atomic.load8_u
    i64.atomic.load16_u i64.atomic.load32_u""",
    (2, 0): """
    table.set i32.store i64.store f32.store f64.store i32.store8 i32.store16 i64.store8 i64.store16
    i64.store32 struct.set v128.store v128.store8_lane v128.store16_lane v128.store32_lane
    v128.store64_lane i32.atomic.store i64.atomic.store i32.atomic.store8 i32.atomic.store16
    i64.atomic.store8 i64.atomic.store16 i64.atomic.store32""",
    (3, 0): """
    array.set memory.init memory.copy memory.fill table.init table.copy table.fill""",
    (3, 1): """
    select select_t v128.bitselect f32x4.relaxed_madd f32x4.relaxed_nmadd f64x2.relaxed_madd
    f64x2.relaxed_nmadd i8x16.relaxed_laneselect i16x8.relaxed_laneselect i32x4.relaxed_laneselect
    i64x2.relaxed_laneselect i32x4.relaxed_dot_i8x16_i7x16_add_s memory.atomic.wait32
    memory.atomic.wait64 i32.atomic.rmw.cmpxchg i64.atomic.rmw.cmpxchg i32.atomic.rmw8.cmpxchg_u
    i32.atomic.rmw16.cmpxchg_u i64.atomic.rmw8.cmpxchg_u i64.atomic.rmw16.cmpxchg_u
    i64.atomic.rmw32.cmpxchg_u""",
    (4, 0): """
    array.fill array.init_data array.init_elem""",
    (5, 0): """
    array.copy""",
}

#: opcode name -> (params, results) for the opcodes whose arity does not depend on the module
FIXED: dict[Any, Any] = {name: a for a, names in _GROUPS.items() for name in names.split()}


def _sub_arity(st):
    if st is None:
        return None
    c = st.comp
    if isinstance(c, FuncType):
        return len(c.params), len(c.results)
    if isinstance(c, StructType):
        return len(c.fields), len(c.fields)
    return None


def block_arity(types: list[Any], bt: Any) -> tuple[int, int] | None:
    """(params, results) of a block type: None (empty), a value type, or a type index."""
    if bt is None:
        return 0, 0
    if isinstance(bt, int):
        return _sub_arity(types[bt]) if 0 <= bt < len(types) else None
    return 0, 1


def _type_arity(types: list[Any], idx: int):
    return _sub_arity(types[idx]) if 0 <= idx < len(types) else None


def arity(ins: Instr, types: list[Any], func_types: list[int], tag_types: list[Any], control: list[Any],
          depth_ok: bool) -> Any:
    """(params, results) of ``ins``, or None when wasmparser cannot tell (then it is not folded).

    ``control``: the folding stack, blocks with ``.ty`` and ``.kind`` (outermost first); ``depth_ok``: whether
    the printer's nesting agrees with it (wasmparser's ``label_block`` checks the same).
    """
    name = ins[0].name
    a = FIXED.get(name)
    if a is not None:
        return a
    args = ins[1]

    def label(depth):
        if not depth_ok:
            return None
        i = len(control) - 1 - depth
        return (control[i].ty, control[i].kind) if i >= 0 else None

    def br(depth):
        lb = label(depth)
        if lb is None:
            return None
        ba = block_arity(types, lb[0])
        if ba is None:
            return None
        return (ba[0] if lb[1] == "loop" else ba[1]), 0

    if name in ("block", "loop", "try", "try_table"):
        ba = block_arity(types, args[0])
        return None if ba is None else (ba[0], ba[0])
    if name == "if":
        ba = block_arity(types, args[0])
        return None if ba is None else (ba[0] + 1, ba[0])
    if name in ("else", "end", "catch_all", "catch", "delegate"):
        lb = label(0)
        ba = None if lb is None else block_arity(types, lb[0])
        if ba is None:
            return None
        if name == "else":
            return ba[1], ba[0]
        if name == "end" or name == "delegate":
            return ba[1], ba[1]
        if name == "catch_all":
            return ba[1], 0
        ta = _tag_arity(types, tag_types, args[0])
        return None if ta is None else (ba[1], ta[0])
    if name == "br":
        return br(args[0])
    if name == "br_if":
        b = br(args[0])
        return None if b is None else (b[0] + 1, b[0])
    if name == "br_table":
        b = br(args[1])
        return None if b is None else (b[0] + 1, b[1])
    if name == "br_on_null":
        b = br(args[0])
        return None if b is None else (b[0] + 1, b[0] + 1)
    if name == "br_on_non_null":
        b = br(args[0])
        return None if b is None or b[0] < 1 else (b[0], b[0] - 1)
    if name in ("br_on_cast", "br_on_cast_fail"):
        b = br(args[1])
        return None if b is None else (b[0], b[0])
    if name == "return":
        lb = (control[0].ty, control[0].kind) if depth_ok and control else None
        ba = None if lb is None else block_arity(types, lb[0])
        return None if ba is None else (ba[1], 0)
    if name in ("call", "return_call"):
        f = args[0]
        ta = _type_arity(types, func_types[f]) if 0 <= f < len(func_types) else None
        if ta is None:
            return None
        return ta if name == "call" else (ta[0], 0)
    if name in ("call_indirect", "return_call_indirect", "call_ref", "return_call_ref"):
        ta = _type_arity(types, args[0])
        if ta is None:
            return None
        return (ta[0] + 1, ta[1]) if name.startswith("call") else (ta[0] + 1, 0)
    if name == "struct.new":
        ta = _type_arity(types, args[0])
        return None if ta is None else (ta[0], 1)
    if name == "array.new_fixed":
        return args[1], 1
    if name == "throw":
        ta = _tag_arity(types, tag_types, args[0])
        return None if ta is None else (ta[0], 0)
    if name == "select_t":
        n = len(args[0])
        return 1 + 2 * n, n
    return 2, 1


def _tag_arity(types: list[Any], tag_types: list[Any], tag: int):
    if not 0 <= tag < len(tag_types):
        return None
    return _type_arity(types, tag_types[tag])
