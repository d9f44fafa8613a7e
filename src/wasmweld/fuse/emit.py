"""The code buffer of a generated function, and the checks every adapter shares.

:class:`Emitter` collects instructions and locals (``e.op("i32.const", 7)``, ``x = e.new("i32")``);
:func:`check_range` traps unless ``[p, p+n)`` is an aligned range of a memory; :func:`alloc` calls the
destination's ``cabi_realloc(0, 0, align, n)`` and checks what it returned; :func:`check_utf8`
traps on ill-formed UTF-8. In WAT, ``check_range`` is::

    (if (i32.and (local.get $p) (i32.const 3)) (then unreachable))
    (if (i64.gt_u (i64.add (i64.extend_i32_u (local.get $p)) (i64.extend_i32_u (local.get $n)))
                  (i64.shl (i64.extend_i32_u (memory.size 1)) (i64.const 16))) (then unreachable))
"""

from __future__ import annotations

from ..record import record
from typing import Any

from ..binary.instr import Instr, MemArg
from ..types import F32, F64, I32, I64, V128, ValType
from .abi import FuseError

__all__ = ["CORE", "Dir", "Emitter", "check_range", "alloc", "check_utf8"]

CORE = {"i32": I32, "i64": I64, "f32": F32, "f64": F64, "v128": V128}


@record(frozen=True)
class Dir:
    """One direction of a call: source and destination memory, the destination's realloc, encodings."""

    src_mem: int | None
    dst_mem: int | None
    realloc: int | None
    src_enc: str
    dst_enc: str
    where: str
    #: resource handles: (handle-table memory, src component, dst component, resource numbers the
    #: destination implements, (h_entry, h_add, h_free) function indices), or None without resources
    res: tuple[Any, ...] | None = None
    #: the global holding the destination component's ``may_leave`` flag (cleared around its realloc)
    leave: int | None = None

    @property
    def smem(self) -> int:
        """The source memory (a FuseError naming the function when the call has none)."""
        if self.src_mem is None:
            raise FuseError(f"{self.where}: strings, lists and values in memory need the memory option")
        return self.src_mem

    @property
    def dmem(self) -> int:
        """The destination memory (a FuseError naming the function when the call has none)."""
        if self.dst_mem is None:
            raise FuseError(f"{self.where}: strings, lists and values in memory need the memory option")
        return self.dst_mem


class Emitter:
    """The instructions and locals of one function being generated."""

    def __init__(self, params: list[str]):
        self.params: list[str] = list(params)
        self.locals: list[str] = []
        self.code: list[Instr] = []
        #: locals holding table entries lent for the call (``lends`` decremented after it)
        self.after: list[int] = []

    def new(self, ty: str) -> int:
        self.locals.append(ty)
        return len(self.params) + len(self.locals) - 1

    def type_of(self, local: int) -> str:
        n = len(self.params)
        return self.params[local] if local < n else self.locals[local - n]

    def op(self, name: str, *args: Any) -> None:
        """Append instruction ``name`` with immediates ``args``."""
        self.code.append(Instr.make(name, *args))

    def get(self, local: int) -> None:
        self.op("local.get", local)

    def set(self, local: int) -> None:
        self.op("local.set", local)

    def trap_if(self) -> None:
        """Trap when the i32 on the stack is non-zero."""
        self.op("if", None)
        self.op("unreachable")
        self.op("end")

    def body_locals(self) -> list[tuple[int, ValType]]:
        """The declared locals as ``(count, type)`` runs (FuncBody form)."""
        return [(1, CORE[t]) for t in self.locals]


def check_range(e: Emitter, p: int, nbytes: int, align: int, mem: int) -> None:
    """Trap unless ``p`` is aligned and ``[p, p + nbytes)`` lies in memory ``mem``."""
    if align > 1:
        e.get(p)
        e.op("i32.const", align - 1)
        e.op("i32.and")
        e.trap_if()
    e.get(p)
    e.op("i64.extend_i32_u")
    e.get(nbytes)
    e.op("i64.extend_i32_u")
    e.op("i64.add")
    e.op("memory.size", mem)
    e.op("i64.extend_i32_u")
    e.op("i64.const", 16)
    e.op("i64.shl")
    e.op("i64.gt_u")
    e.trap_if()


def alloc(e: Emitter, nbytes: int, align: int, d: Dir) -> int:
    """Call the destination's realloc for ``nbytes`` (aligned ``align``); the new local holding the pointer."""
    if d.realloc is None or d.dst_mem is None or d.src_mem is None:
        raise FuseError(f"{d.where}: strings and lists need the memory and realloc options on both sides")
    q = e.new("i32")
    e.op("i32.const", 0)
    e.op("i32.const", 0)
    e.op("i32.const", align)
    e.get(nbytes)
    if d.leave is not None:
        e.op("i32.const", 0)
        e.op("global.set", d.leave)
    e.op("call", d.realloc)
    e.set(q)
    if d.leave is not None:
        e.op("i32.const", 1)
        e.op("global.set", d.leave)
    check_range(e, q, nbytes, align, d.dst_mem)
    return q


def check_utf8(e: Emitter, p: int, b: int, mem: int) -> None:
    """Trap unless the ``b`` bytes at ``p`` are well-formed UTF-8 (a small DFA-free checker)."""
    i, end, c, need, lo, hi = (e.new("i32") for _ in range(6))
    e.get(p)
    e.set(i)
    e.get(p)
    e.get(b)
    e.op("i32.add")
    e.set(end)
    e.op("block", None)
    e.op("loop", None)
    e.get(i)
    e.get(end)
    e.op("i32.ge_u")
    e.op("br_if", 1)
    e.get(i)
    e.op("i32.load8_u", MemArg(0, 0, mem))
    e.set(c)
    e.get(i)
    e.op("i32.const", 1)
    e.op("i32.add")
    e.set(i)
    e.get(c)
    e.op("i32.const", 0x80)
    e.op("i32.lt_u")
    e.op("br_if", 0)                         # ASCII
    # lead byte: need = continuation count, [lo, hi] = range of the first continuation byte
    e.op("i32.const", 0x80)
    e.set(lo)
    e.op("i32.const", 0xBF)
    e.set(hi)
    for first, last, cnt, lo_v, hi_v in ((0xC2, 0xDF, 1, 0x80, 0xBF), (0xE0, 0xE0, 2, 0xA0, 0xBF),
                                         (0xE1, 0xEC, 2, 0x80, 0xBF), (0xED, 0xED, 2, 0x80, 0x9F),
                                         (0xEE, 0xEF, 2, 0x80, 0xBF), (0xF0, 0xF0, 3, 0x90, 0xBF),
                                         (0xF1, 0xF3, 3, 0x80, 0xBF), (0xF4, 0xF4, 3, 0x80, 0x8F)):
        e.get(c)
        e.op("i32.const", first)
        e.op("i32.sub")
        e.op("i32.const", last - first + 1)
        e.op("i32.lt_u")
        e.op("if", None)
        for v, loc in ((cnt, need), (lo_v, lo), (hi_v, hi)):
            e.op("i32.const", v)
            e.set(loc)
        e.op("end")
    e.get(need)
    e.op("i32.eqz")
    e.trap_if()                               # not a valid lead byte
    e.op("loop", None)                        # continuation bytes
    e.get(i)
    e.get(end)
    e.op("i32.ge_u")
    e.trap_if()                               # truncated sequence
    e.get(i)
    e.op("i32.load8_u", MemArg(0, 0, mem))
    e.set(c)
    e.get(c)
    e.get(lo)
    e.op("i32.lt_u")
    e.get(c)
    e.get(hi)
    e.op("i32.gt_u")
    e.op("i32.or")
    e.trap_if()
    e.op("i32.const", 0x80)
    e.set(lo)
    e.op("i32.const", 0xBF)
    e.set(hi)
    e.get(i)
    e.op("i32.const", 1)
    e.op("i32.add")
    e.set(i)
    e.get(need)
    e.op("i32.const", 1)
    e.op("i32.sub")
    e.op("local.tee", need)
    e.op("br_if", 0)
    e.op("end")
    e.op("br", 0)
    e.op("end")
    e.op("end")
