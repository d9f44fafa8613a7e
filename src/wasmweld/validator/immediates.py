"""Instructions whose stack effect depends only on their immediates and the module.

For each, a builder checks the immediates against the module context and
returns ``(pops, pushes)``; the body checker caches the result under the
instruction's bytes, so ``call 7`` or ``i32.load offset=8`` is checked once per
module however often it occurs::

    (call $f)            ;; $f : [i32 i64] -> [f32]     => pops [i32 i64], pushes [f32]
    (i64.load (memory 1) offset=4)  ;; memory 1 is 64-bit => pops [i64], pushes [i64]
    (struct.get $s 2)    ;; field 2 : (mut f64)          => pops [(ref null $s)], pushes [f64]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..errors import DecodeError, ValidationError
from ..types import I8, I16, I32, I64
from .gc import GC_BUILDERS
from .sigs import ADDR, SIGNATURES
from ..binary.instr import Instr
from ..binary.opcodes import OpInfo

if TYPE_CHECKING:   # modcheck imports this module
    from .modcheck import ModuleContext

__all__ = ["make_entry", "fixed_sig", "BUILDERS", "build_sig", "unpack"]


def fixed_sig(op: OpInfo) -> tuple[int, list[Any], tuple[Any, ...]] | None:
    """``(n, pops list, pushes tuple)`` for an instruction whose effect needs no context, else None."""
    s = SIGNATURES.get(op.name)
    if s is None or s[2] is not None or s[4] is not None:
        return None
    return make_entry(s[0], s[1])


def make_entry(pops: Sequence[Any], pushes: Sequence[Any]) -> tuple[Any, ...]:
    """The hot loop's cached form of a stack effect: ``(shape, pops list, pushes tuple, top, second, push)``.

    ``shape`` is 1 for ``[] -> [t]``, 2 for ``[a] -> [r]``, 3 for ``[a] -> []``, 4 for ``[a b] -> [r]``,
    5 for ``[a b] -> []``, 0 for anything else.
    """
    n, m = len(pops), len(pushes)
    top = pops[-1] if n else None
    second = pops[-2] if n > 1 else None
    push = pushes[0] if m == 1 else None
    shape = {(0, 1): 1, (1, 1): 2, (1, 0): 3, (2, 1): 4, (2, 0): 5}.get((n, m), 0)
    return (shape, list(pops), tuple(pushes), top, second, push)


def _inv(msg: str) -> ValidationError:
    return ValidationError(msg)


def unpack(t: Any) -> Any:
    """The value type of a storage type (packed i8/i16 read as i32)."""
    return I32 if t is I8 or t is I16 else t


def _mem(mc: ModuleContext, idx: int):
    if idx >= len(mc.mems):
        raise _inv(f"unknown memory {idx}")
    return I64 if mc.mems[idx] else I32


def _table(mc: ModuleContext, idx: int):
    if idx >= len(mc.tables):
        raise _inv(f"unknown table {idx}")
    return mc.tables[idx]


def _memarg(mc: ModuleContext, ins: Instr, sig):
    """Loads, stores, atomics, SIMD memory access: memory, alignment, offset, lane."""
    pops, pushes, nat, exact, lanes = sig
    m = ins[1][0]
    at = _mem(mc, m.memory)
    if m.memory and "multi-memory" not in mc.features:
        raise _inv(f"unknown memory {m.memory}: multi-memory is not enabled")
    if exact and m.align != nat:
        raise _inv("alignment must be exactly natural" if m.align < nat
                   else "alignment must not be larger than natural")
    if m.align > nat:
        raise _inv("alignment must not be larger than natural")
    if at is I32 and m.offset >= 1 << 32:
        raise _inv("offset out of range: offset must fit in 32 bits for a 32-bit memory")
    if lanes is not None and ins[1][1] >= lanes:
        raise _inv(f"invalid lane index {ins[1][1]}")
    return tuple(at if t is ADDR else t for t in pops), pushes


def _lane(mc: ModuleContext, ins: Instr, sig):
    pops, pushes, _nat, _exact, lanes = sig
    arg = ins[1][0]
    if isinstance(arg, (bytes, bytearray)):
        if any(x >= lanes for x in arg):
            raise _inv("invalid lane index")
    elif arg >= lanes:
        raise _inv(f"invalid lane index {arg}")
    return pops, pushes


def _call(mc: ModuleContext, ins: Instr):
    f = ins[1][0]
    if f >= len(mc.funcs):
        raise _inv(f"unknown function {f}")
    ft = mc.funcs[f]
    return ft.params, ft.results


def _call_indirect(mc: ModuleContext, ins: Instr):
    t, tab = ins[1]
    elem, at = _table(mc, tab)
    ft = mc.tc.func_type(t)
    if not mc.tc.sub(elem, mc.tc.mkref(True, "func")):
        raise _inv(f"type mismatch: call_indirect on table {tab} of {elem}, which is not a funcref table")
    return ft.params + (at,), ft.results


def _call_ref(mc: ModuleContext, ins: Instr):
    t = ins[1][0]
    ft = mc.tc.func_type(t)
    return ft.params + (mc.tc.mkref(True, mc.tc.canon[t]),), ft.results


def _global_get(mc: ModuleContext, ins: Instr):
    g = ins[1][0]
    if g >= len(mc.globals):
        raise _inv(f"unknown global {g}")
    return (), (mc.globals[g][0],)


def _global_set(mc: ModuleContext, ins: Instr):
    g = ins[1][0]
    if g >= len(mc.globals):
        raise _inv(f"unknown global {g}")
    t, mut = mc.globals[g]
    if not mut:
        raise _inv(f"immutable global {g}: global.set of a constant global")
    return (t,), ()


def _table_get(mc: ModuleContext, ins: Instr):
    elem, at = _table(mc, ins[1][0])
    return (at,), (elem,)


def _table_set(mc: ModuleContext, ins: Instr):
    elem, at = _table(mc, ins[1][0])
    return (at, elem), ()


def _table_size(mc: ModuleContext, ins: Instr):
    return (), (_table(mc, ins[1][0])[1],)


def _table_grow(mc: ModuleContext, ins: Instr):
    elem, at = _table(mc, ins[1][0])
    return (elem, at), (at,)


def _table_fill(mc: ModuleContext, ins: Instr):
    elem, at = _table(mc, ins[1][0])
    return (at, elem, at), ()


def _table_copy(mc: ModuleContext, ins: Instr):
    dst, src = ins[1]
    de, da = _table(mc, dst)
    se, sa = _table(mc, src)
    if not mc.tc.sub(se, de):
        raise _inv(f"type mismatch: table.copy from table {src} of {se} into table {dst} of {de}")
    n = I64 if da is I64 and sa is I64 else I32
    return (da, sa, n), ()


def _elem(mc: ModuleContext, x: int):
    if x >= len(mc.elems):
        raise _inv(f"unknown elem segment {x}")
    return mc.elems[x]


def _table_init(mc: ModuleContext, ins: Instr):
    x, tab = ins[1]
    de, da = _table(mc, tab)
    et = _elem(mc, x)
    if not mc.tc.sub(et, de):
        raise _inv(f"type mismatch: table.init of elem segment {x} ({et}) into table {tab} of {de}")
    return (da, I32, I32), ()


def _elem_drop(mc: ModuleContext, ins: Instr):
    _elem(mc, ins[1][0])
    return (), ()


def _data(mc: ModuleContext, x: int) -> None:
    if mc.ndata is None:
        raise DecodeError("data count section required")
    if x >= mc.ndata:
        raise _inv(f"unknown data segment {x}")


def _memory_init(mc: ModuleContext, ins: Instr):
    x, m = ins[1]
    at = _mem(mc, m)
    _data(mc, x)
    return (at, I32, I32), ()


def _data_drop(mc: ModuleContext, ins: Instr):
    _data(mc, ins[1][0])
    return (), ()


def _memory_copy(mc: ModuleContext, ins: Instr):
    d, s = ins[1]
    da, sa = _mem(mc, d), _mem(mc, s)
    n = I64 if da is I64 and sa is I64 else I32
    return (da, sa, n), ()


def _memory_fill(mc: ModuleContext, ins: Instr):
    at = _mem(mc, ins[1][0])
    return (at, I32, at), ()


def _memory_size(mc: ModuleContext, ins: Instr):
    return (), (_mem(mc, ins[1][0]),)


def _memory_grow(mc: ModuleContext, ins: Instr):
    at = _mem(mc, ins[1][0])
    return (at,), (at,)


def _ref_null(mc: ModuleContext, ins: Instr):
    return (), (mc.tc.mkref(True, mc.tc.heap(ins[1][0])),)


def _ref_func(mc: ModuleContext, ins: Instr):
    f = ins[1][0]
    if f >= len(mc.funcs):
        raise _inv(f"unknown function {f}")
    if f not in mc.refs:
        raise _inv(f"undeclared function reference {f}")
    return (), (mc.tc.mkref(False, mc.tc.canon[mc.func_type_idx[f]]),)


def _select_t(mc: ModuleContext, ins: Instr):
    ts = ins[1][0]
    if len(ts) != 1:
        raise _inv("invalid result arity: select takes exactly one type")
    t = mc.tc.val(ts[0])
    return (t, t, I32), (t,)


def _ref_eq(mc: ModuleContext, ins: Instr):
    eq = mc.tc.mkref(True, "eq")
    return (eq, eq), (I32,)


def _ref_i31(mc: ModuleContext, ins: Instr):
    return (I32,), (mc.tc.mkref(False, "i31"),)


def _i31_get(mc: ModuleContext, ins: Instr):
    return (mc.tc.mkref(True, "i31"),), (I32,)


BUILDERS = {
    "call": _call, "call_indirect": _call_indirect, "call_ref": _call_ref,
    "global.get": _global_get, "global.set": _global_set,
    "table.get": _table_get, "table.set": _table_set, "table.size": _table_size, "table.grow": _table_grow,
    "table.fill": _table_fill, "table.copy": _table_copy, "table.init": _table_init, "elem.drop": _elem_drop,
    "memory.init": _memory_init, "data.drop": _data_drop, "memory.copy": _memory_copy,
    "memory.fill": _memory_fill, "memory.size": _memory_size, "memory.grow": _memory_grow,
    "ref.null": _ref_null, "ref.func": _ref_func, "select_t": _select_t, "ref.eq": _ref_eq,
    "ref.i31": _ref_i31, "i31.get_s": _i31_get, "i31.get_u": _i31_get,
}


def build_sig(mc: ModuleContext, ins: Instr) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """``(pops, pushes)`` of a context-dependent fixed-effect instruction, or None if it is not one."""
    name = ins[0].name
    b = BUILDERS.get(name)
    if b is not None:
        return b(mc, ins)
    s = SIGNATURES.get(name)
    if s is not None:
        if s[2] is not None:
            return _memarg(mc, ins, s)
        if s[4] is not None:
            return _lane(mc, ins, s)
        return s[0], s[1]
    g = GC_BUILDERS.get(name)
    if g is not None:
        return g(mc, ins)
    return None

