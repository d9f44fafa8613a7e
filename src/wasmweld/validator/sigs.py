"""Stack signatures of the fixed-type instructions, derived from the opcode table's names.

The validator has no table of byte codes of its own: every row of
:data:`wasmweld.binary.opcodes.OPCODES` whose operand types follow from its
name gets a signature here, e.g.::

    i32.add            [i32 i32] -> [i32]
    i64.trunc_f32_s    [f32] -> [i64]
    f32x4.splat        [f32] -> [v128]
    i32.load8_u        [addr] -> [i32]          natural alignment 2**0
    i64.atomic.rmw.cmpxchg  [addr i64 i64] -> [i64]   (alignment must be exactly 2**3)

``ADDR`` stands for the address type of the memory the instruction names
(i32, or i64 for a 64-bit memory); it is resolved when the instruction is
first checked.
"""

from __future__ import annotations

from typing import Any

from ..binary.opcodes import OPCODES, OpInfo
from ..types import F32, F64, I32, I64, V128

__all__ = ["ADDR", "SIGNATURES", "NATURAL_ALIGN", "LANES", "FEATURE_OF", "signature"]


class _Addr:
    __slots__ = ()

    def __str__(self) -> str:
        return "addr"


#: placeholder for the address type of the instruction's memory
ADDR = _Addr()

_SCALAR = {"i32": I32, "i64": I64, "f32": F32, "f64": F64}
_LANE_SCALAR = {"i8x16": I32, "i16x8": I32, "i32x4": I32, "i64x2": I64, "f32x4": F32, "f64x2": F64}
_LANE_COUNT = {"i8x16": 16, "i16x8": 8, "i32x4": 4, "i64x2": 2, "f32x4": 4, "f64x2": 2}
_UNARY = {"clz", "ctz", "popcnt", "abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt",
          "extend8_s", "extend16_s", "extend32_s", "not"}
_CMP = {"eq", "ne", "lt", "gt", "le", "ge", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"}
_WIDTH_BYTES = {"8": 0, "16": 1, "32": 2, "64": 3}


def _conv_source(rest: str):
    """``trunc_f32_s`` -> F32: the operand type named inside a conversion."""
    for part in rest.split("_"):
        if part in _SCALAR:
            return _SCALAR[part]
    return None


def _scalar_sig(t, rest: str):
    if rest == "const":
        return (), (t,)
    if rest == "eqz":
        return (t,), (I32,)
    if rest in _CMP:
        return (t, t), (I32,)
    if rest in _UNARY:
        return (t,), (t,)
    if rest in ("add128", "sub128"):
        return (t, t, t, t), (t, t)
    if rest in ("mul_wide_s", "mul_wide_u"):
        return (t, t), (t, t)
    src = _conv_source(rest)
    if src is not None and "_" in rest:
        return (src,), (t,)
    return (t, t), (t,)


def _mem_sig(t, rest: str):
    """Scalar loads/stores and atomics: (pops, pushes, natural alignment, exact)."""
    atomic = rest.startswith("atomic.")
    r = rest[7:] if atomic else rest
    width = None
    for w in ("8", "16", "32"):
        if r.startswith(("load" + w, "store" + w, "rmw" + w)):
            width = w
    nat = _WIDTH_BYTES[width] if width else (2 if t in (I32, F32) else 3)
    if r.startswith("load"):
        return (ADDR,), (t,), nat, atomic
    if r.startswith("store"):
        return (ADDR, t), (), nat, atomic
    if "cmpxchg" in r:
        return (ADDR, t, t), (t,), nat, atomic
    return (ADDR, t), (t,), nat, atomic


def _simd_mem(rest: str):
    if rest in ("load", "store"):
        nat = 4
    elif rest.startswith(("load8x8", "load16x4", "load32x2")):
        nat = 3
    else:
        w = rest[4:].split("_")[0] if rest.startswith("load") else rest[5:].split("_")[0]
        nat = _WIDTH_BYTES[w]
    if rest.endswith("_lane"):
        lanes = 16 >> nat
        if rest.startswith("store"):
            return (ADDR, V128), (), nat, lanes
        return (ADDR, V128), (V128,), nat, lanes
    if rest == "store":
        return (ADDR, V128), (), nat, None
    return (ADDR,), (V128,), nat, None


def _simd_sig(shape: str, rest: str):
    """(pops, pushes, lanes) of a SIMD instruction without a memory operand."""
    if rest == "const":
        return (), (V128,), None
    if rest == "shuffle":
        return (V128, V128), (V128,), 32
    if rest == "splat":
        return (_LANE_SCALAR[shape],), (V128,), None
    if rest.startswith("extract_lane"):
        return (V128,), (_LANE_SCALAR[shape],), _LANE_COUNT[shape]
    if rest == "replace_lane":
        return (V128, _LANE_SCALAR[shape]), (V128,), _LANE_COUNT[shape]
    if rest in ("all_true", "bitmask", "any_true"):
        return (V128,), (I32,), None
    if rest in ("shl", "shr_s", "shr_u"):
        return (V128, I32), (V128,), None
    if rest in ("bitselect", "relaxed_madd", "relaxed_nmadd", "relaxed_laneselect",
                "relaxed_dot_i8x16_i7x16_add_s"):
        return (V128, V128, V128), (V128,), None
    if rest in _UNARY or rest.startswith(("extend_", "extadd_", "convert_", "trunc_sat_", "demote_",
                                          "promote_", "relaxed_trunc")):
        return (V128,), (V128,), None
    return (V128, V128), (V128,), None


def _feature(op: OpInfo) -> str | None:
    n = op.name
    if op.prefix == 0xFD:
        return "relaxed-simd" if "relaxed" in n else "simd"
    if op.prefix == 0xFE:
        return "threads"
    if op.prefix == 0xFB:
        return "gc"
    if op.prefix == 0xFC:
        if "trunc_sat" in n:
            return "saturating-float-to-int"
        if n in ("i64.add128", "i64.sub128", "i64.mul_wide_s", "i64.mul_wide_u"):
            return "wide-arithmetic"
        if n in ("table.grow", "table.size", "table.fill"):
            return "reference-types"
        return "bulk-memory"
    if "extend8_s" in n or "extend16_s" in n or "extend32_s" in n:
        return "sign-extension"
    if n in ("try", "catch", "catch_all", "rethrow", "delegate"):
        return "legacy-exceptions"
    if n in ("throw", "throw_ref", "try_table"):
        return "exceptions"
    if n.startswith("return_call"):
        return "tail-call"
    if n in ("call_ref", "ref.as_non_null", "br_on_null", "br_on_non_null"):
        return "function-references"
    if n in ("ref.null", "ref.is_null", "ref.func", "select_t", "table.get", "table.set"):
        return "reference-types"
    if n == "ref.eq":
        return "gc"
    return None


def signature(op: OpInfo) -> tuple[Any, ...] | None:
    """``(pops, pushes, natural_align, exact_align, lanes)`` for a fixed-type instruction, else None.

    ``natural_align`` is None for instructions without a memory operand; ``lanes`` is the bound
    of the lane immediate(s), None when there is none.
    """
    name = op.name
    head, _, rest = name.partition(".")
    if op.prefix == 0xFE:
        if name == "memory.atomic.notify":
            return (ADDR, I32), (I32,), 2, True, None
        if name == "memory.atomic.wait32":
            return (ADDR, I32, I64), (I32,), 2, True, None
        if name == "memory.atomic.wait64":
            return (ADDR, I64, I64), (I32,), 3, True, None
        if name == "atomic.fence":
            return (), (), None, False, None
        pops, pushes, nat, exact = _mem_sig(_SCALAR[head], rest)
        return pops, pushes, nat, exact, None
    if head in _SCALAR and op.imm in ((), ("i32",), ("i64",), ("f32",), ("f64",)):
        pops, pushes = _scalar_sig(_SCALAR[head], rest)
        return pops, pushes, None, False, None
    if head in _SCALAR and op.imm == ("memarg",):
        pops, pushes, nat, exact = _mem_sig(_SCALAR[head], rest)
        return pops, pushes, nat, exact, None
    if head == "v128" and "memarg" in op.imm:
        pops, pushes, nat, lanes = _simd_mem(rest)
        return pops, pushes, nat, False, lanes
    if op.prefix == 0xFD:
        pops, pushes, lanes = _simd_sig(head, rest)
        return pops, pushes, None, False, lanes
    return None


#: OpInfo name -> signature tuple (see :func:`signature`) for every fixed-type row of the table
SIGNATURES: dict[str, tuple[Any, ...]] = {}
#: OpInfo name -> the feature it needs (None: MVP)
FEATURE_OF: dict[str, str | None] = {}
for _op in OPCODES:
    FEATURE_OF[_op.name] = _feature(_op)
    _s = signature(_op)
    if _s is not None:
        SIGNATURES[_op.name] = _s
del _op, _s

#: name -> natural alignment (log2) of memory instructions
NATURAL_ALIGN: dict[str, int] = {n: s[2] for n, s in SIGNATURES.items() if s[2] is not None}
#: name -> bound of the lane immediate
LANES: dict[str, int] = {n: s[4] for n, s in SIGNATURES.items() if s[4] is not None}
