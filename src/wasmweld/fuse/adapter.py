"""Adapters in Wasm: lift a value from the caller's memory, lower it into the callee's.

One adapter per cross-component call, generated as wasmtime's FACT compiler does (at
instantiation time there, ahead of time here). For ``echo: func(s: string) -> string``
lowered by component A (memory 0) and lifted by component B (memory 1) the adapter is::

    (func $adapter0 (param $p i32) (param $n i32) (param $ret i32)
      (if (i32.eqz (global.get $A.may_leave)) (then unreachable))
      ;; bounds-check [p, p+n) in memory 0, validate its UTF-8 (fastcopy.validate_utf8),
      ;; q = B.cabi_realloc(0, 0, 1, n) with B.may_leave cleared, check [q, q+n) in memory 1
      (memory.copy 1 0 (local.get $q) (local.get $p) (local.get $n))  ;; (inline below 64 bytes)
      (call $B.echo (local.get $q) (local.get $n))    ;; -> pointer r into memory 1
      ;; load (ptr, len) at r, copy the bytes back into memory 0 (A.cabi_realloc),
      ;; store the new (ptr, len) at $ret in memory 0
      (call $B.cabi_post_echo (local.get $r)))

:func:`translate` copies one value from a :class:`Src` (core locals, or an address in a memory) to a
:class:`Dst` (new locals, or an address): integers are masked or sign-extended, ``bool`` normalised,
``char`` checked (trap on surrogates and > 0x10FFFF), strings and lists bounds- and
alignment-checked then copied (:mod:`.fastcopy`; lists element by element when they hold
pointers or values to check, a record element's plain fields copied for the whole list at once
first, see :func:`_elements`), variants dispatched with ``br_table`` (trap on an invalid
discriminant), flags masked, ``own``/``borrow`` handles moved or lent between the components' handle tables (:mod:`.handles`;
a handle of a resource the fused world imports goes through as the host's index). Each component
has a ``may_leave`` global (:func:`leave_flag`): cleared while an adapter runs its realloc or
post-return, checked by every adapter it calls, as the canonical ABI traps there.
"""

from __future__ import annotations

from ..record import record, replace
from typing import Any

from ..binary.instr import MemArg
from ..module import ConstExpr, Global, Module
from ..types import I32, GlobalType
from . import abi
from .abi import FuseError
from .emit import CORE, Dir, Emitter, alloc, check_range
from .fastcopy import copy_bytes, validate_utf8, validate_utf16
from .handles import TAG, host_lend
from .transcode import asm, transcode

__all__ = ["Src", "Dst", "Dir", "Emitter", "translate", "CORE", "end_lends", "OWN", "BORROW", "leave_flag",
           "check_leave", "set_leave", "check_area", "has_borrow"]
_LOAD = {"bool": ("i32.load8_u", 0), "u8": ("i32.load8_u", 0), "s8": ("i32.load8_s", 0),
         "u16": ("i32.load16_u", 1), "s16": ("i32.load16_s", 1), "u32": ("i32.load", 2), "s32": ("i32.load", 2),
         "char": ("i32.load", 2), "u64": ("i64.load", 3), "s64": ("i64.load", 3), "f32": ("f32.load", 2),
         "f64": ("f64.load", 3)}
_STORE = {"bool": ("i32.store8", 0), "u8": ("i32.store8", 0), "s8": ("i32.store8", 0), "u16": ("i32.store16", 1),
          "s16": ("i32.store16", 1), "u32": ("i32.store", 2), "s32": ("i32.store", 2), "char": ("i32.store", 2),
          "u64": ("i64.store", 3), "s64": ("i64.store", 3), "f32": ("f32.store", 2), "f64": ("f64.store", 3)}
_BY_SIZE = {1: "u8", 2: "u16", 4: "u32"}
_TO = {("i32", "f32"): ["f32.reinterpret_i32"], ("i64", "i32"): ["i32.wrap_i64"],
       ("i64", "f32"): ["i32.wrap_i64", "f32.reinterpret_i32"], ("i64", "f64"): ["f64.reinterpret_i64"]}
_FROM = {("f32", "i32"): ["i32.reinterpret_f32"], ("i32", "i64"): ["i64.extend_i32_u"],
         ("f32", "i64"): ["i32.reinterpret_f32", "i64.extend_i32_u"], ("f64", "i64"): ["i64.reinterpret_f64"]}


@record(frozen=True)
class Src:
    """Where a value is read: ``locals`` (stack form) or ``base`` local + ``offset`` in ``mem``.
    ``limit``: a local holding the source memory's size in bytes (i64), read once before a list's
    elements are lifted (the canonical ABI lifts every value before it lowers any, so that size
    is the one its bounds checks see), or None (read where needed)."""

    locals: tuple[int, ...] = ()
    base: int | None = None
    offset: int = 0
    limit: int | None = None


@record
class Dst:
    """Where a value goes: ``out`` (new locals appended) or ``base`` local + ``offset``.
    ``kept``: the place already holds the source's bytes of the value (a list's elements copied
    in bulk), so a length that does not change is not stored again."""

    out: list[int] | None = None
    base: int | None = None
    offset: int = 0
    kept: bool = False

    @property
    def outs(self) -> list[int]:
        """``out`` (the stack form), which the caller gave when ``base`` is None."""
        assert self.out is not None, "Dst without out nor base"
        return self.out


def translate(e: Emitter, t: Any, src: Src, dst: Dst, d: Dir, depth: int = 0) -> None:
    """Emit code copying one value of (normalised) type ``t`` from ``src`` to ``dst``."""
    if depth > abi.MAX_TYPE_DEPTH:
        raise FuseError(f"{d.where}: value type nesting too deep")
    if isinstance(t, str):
        if t == "string":
            _string(e, src, dst, d)
        else:
            _prim(e, t, src, dst, d)
        return
    k = t[0]
    if k in ("own", "borrow"):
        _handle(e, k, src, dst, d)
    elif k == "list":
        _list(e, t[1], src, dst, d, depth)
    elif k == "record":
        _record(e, t, src, dst, d, depth)
    elif k == "flags":
        _flags(e, t[1], src, dst, d)
    else:
        _variant(e, t, src, dst, d, depth)


def check_area(e: Emitter, base: int, t: Any, mem: int) -> None:
    """Trap unless local ``base`` is an aligned, in-bounds place for a value of type ``t`` in
    memory ``mem`` (a parameter area, a results area, the caller's results pointer)."""
    n = e.new("i32")
    e.op("i32.const", abi.size(t))
    e.set(n)
    check_range(e, base, n, abi.alignment(t), mem)


def _load(e: Emitter, t: str, src: Src, d: Dir) -> None:
    """Push the lifted value of primitive ``t`` (its flat core type)."""
    if src.base is not None:
        name, align = _LOAD[t]
        e.get(src.base)
        e.op(name, MemArg(align, src.offset, d.smem))
    else:
        e.get(src.locals[0])
    if t == "bool":
        e.op("i32.const", 0)
        e.op("i32.ne")
    elif src.base is None and t in ("u8", "u16"):
        e.op("i32.const", 0xFF if t == "u8" else 0xFFFF)
        e.op("i32.and")
    elif src.base is None and t in ("s8", "s16"):
        e.op("i32.extend8_s" if t == "s8" else "i32.extend16_s")
    elif t == "char":
        c = e.new("i32")
        e.set(c)
        e.get(c)
        e.op("i32.const", 0x110000)
        e.op("i32.ge_u")
        e.get(c)
        e.op("i32.const", 0xD800)
        e.op("i32.sub")
        e.op("i32.const", 0x800)
        e.op("i32.lt_u")
        e.op("i32.or")
        e.trap_if()
        e.get(c)


def _prim(e: Emitter, t: str, src: Src, dst: Dst, d: Dir) -> None:
    if dst.base is not None:
        e.get(dst.base)
        _load(e, t, src, d)
        name, align = _STORE[t]
        e.op(name, MemArg(align, dst.offset, d.dmem))
    else:
        _load(e, t, src, d)
        x = e.new(abi.flatten(t)[0])
        e.set(x)
        dst.outs.append(x)


def _pair(e: Emitter, src: Src, d: Dir) -> tuple[int, int]:
    """Read a (pointer, length) pair into two new locals."""
    p, n = e.new("i32"), e.new("i32")
    if src.base is not None:
        for loc, off in ((p, 0), (n, 4)):
            e.get(src.base)
            e.op("i32.load", MemArg(2, src.offset + off, d.smem))
            e.set(loc)
    else:
        e.get(src.locals[0])
        e.set(p)
        e.get(src.locals[1])
        e.set(n)
    return p, n


def _put_pair(e: Emitter, p: int, n: int, dst: Dst, d: Dir, same_n: bool = True) -> None:
    """Store (or append) the pointer ``p`` and length ``n`` (``same_n``: the source's length)."""
    if dst.base is not None:
        for loc, off in ((p, 0),) if dst.kept and same_n else ((p, 0), (n, 4)):
            e.get(dst.base)
            e.get(loc)
            e.op("i32.store", MemArg(2, dst.offset + off, d.dmem))
    else:
        dst.outs.extend((p, n))


def _string(e: Emitter, src: Src, dst: Dst, d: Dir) -> None:
    p, n = _pair(e, src, d)
    if d.src_enc != d.dst_enc:
        q, m = transcode(e, p, n, d)
        _put_pair(e, q, m, dst, d, same_n=False)
        return
    b = e.new("i32")
    align = 1 if d.src_enc == "utf8" else 2
    if d.src_enc == "utf8":
        e.get(n)
    elif d.src_enc == "utf16":
        e.get(n)
        e.op("i32.const", 0x80000000)
        e.op("i32.ge_u")
        e.trap_if()
        e.get(n)
        e.op("i32.const", 1)
        e.op("i32.shl")
    else:   # latin1+utf16: the high bit tags UTF-16
        e.get(n)
        e.op("i32.const", 0x7FFFFFFF)
        e.op("i32.and")
        e.get(n)
        e.op("i32.const", 31)
        e.op("i32.shr_u")
        e.op("i32.shl")
    e.set(b)
    _check_src(e, p, b, align, _limit(e, src, d))
    if d.src_enc == "utf8":
        validate_utf8(e, p, b, d.smem)
    elif d.src_enc == "utf16":
        validate_utf16(e, p, n, d.smem)
    else:                                   # latin1 needs no check, tagged UTF-16 does
        units = e.new("i32")
        e.get(n)
        e.op("i32.const", 0x7FFFFFFF)
        e.op("i32.and")
        e.set(units)
        e.get(n)
        e.op("i32.const", 31)
        e.op("i32.shr_u")
        e.op("if", None)
        validate_utf16(e, p, units, d.smem)
        e.op("end")
    q = alloc(e, b, align, d)
    copy_bytes(e, q, p, b, d.dmem, d.smem)
    _put_pair(e, q, n, dst, d)


def _list(e: Emitter, elem: Any, src: Src, dst: Dst, d: Dir, depth: int) -> None:
    """A list: the element bytes checked in the source memory, the destination allocated, then a
    plain list copied in one go; others element by element in a loop (see :func:`_elements`)."""
    size, align = abi.size(elem), abi.alignment(elem)
    p, n = _pair(e, src, d)
    b = e.new("i32")
    e.get(n)
    e.op("i64.extend_i32_u")
    e.op("i64.const", size)
    e.op("i64.mul")
    e.op("i64.const", 0xFFFFFFFF)
    e.op("i64.gt_u")
    e.trap_if()
    e.get(n)
    e.op("i32.const", size)
    e.op("i32.mul")
    e.set(b)
    lim = _limit(e, src, d)
    _check_src(e, p, b, align, lim)
    q = alloc(e, b, align, d)
    if abi.is_plain(elem):
        copy_bytes(e, q, p, b, d.dmem, d.smem)
    else:
        _elements(e, elem, (p, n, b, q), lim, d, depth)
    _put_pair(e, q, n, dst, d)


def _elements(e: Emitter, elem: Any, pnbq: tuple[int, int, int, int], lim: int, d: Dir, depth: int) -> None:
    """The loop over a list's elements (``n`` of them from ``p``, ``b`` bytes, to ``q``). The
    source memory's size is read once (``lim``); the destination's ``may_leave`` is cleared once
    around the loop rather than around each realloc in it (nothing but that realloc runs in the
    destination component meanwhile); a record's plain fields (no pointer, nothing to check) are
    copied for every element at once with the list's bytes, then only the other fields element
    by element. In WAT, for ``list<record {x: u32, s: string}>``::

      (memory.copy 1 0 (local.get $q) (local.get $p) (local.get $b))   ;; x (and s, overwritten)
      (if (local.get $n) (then (loop $next
          ;; s: translated from [$sp + 4] to [$dp + 4]
          (local.set $sp (i32.add (local.get $sp) (i32.const 12))) ...
          (br_if $next (i32.ne (local.get $sp) (local.get $end))))))
    """
    p, n, b, q = pnbq
    size = abi.size(elem)
    rest = _per_element(elem)
    kept = rest is not None
    if rest is None:
        rest = [(elem, 0)]
    else:
        copy_bytes(e, q, p, b, d.dmem, d.smem)
    sp, dp, end = e.new("i32"), e.new("i32"), e.new("i32")
    for a, v in ((sp, p), (dp, q)):
        e.get(v)
        e.set(a)
    e.get(p)
    e.get(b)
    e.op("i32.add")
    e.set(end)
    inner = replace(d, leave=None)
    set_leave(e, d.leave, 0)
    e.get(n)
    e.op("if", None)
    e.op("loop", None)
    saved, e.after = e.after, _NoLend()
    for f, off in rest:
        translate(e, f, Src(base=sp, offset=off, limit=lim), Dst(base=dp, offset=off, kept=kept), inner, depth + 1)
    e.after = saved
    for a in (sp, dp):
        e.get(a)
        e.op("i32.const", size)
        e.op("i32.add")
        e.set(a)
    e.get(sp)
    e.get(end)
    e.op("i32.ne")
    e.op("br_if", 0)
    e.op("end")
    e.op("end")
    set_leave(e, d.leave, 1)


def _per_element(elem: Any) -> list[tuple[Any, int]] | None:
    """The fields (type, offset) of a record element to translate one element at a time when its
    plain fields are copied in bulk; None when there is nothing to copy in bulk."""
    if isinstance(elem, str) or elem[0] != "record":
        return None
    rest = [(f, off) for f, off in zip(elem[1], abi.field_offsets(elem)) if not abi.is_plain(f)]
    return rest if len(rest) < len(elem[1]) else None


def _limit(e: Emitter, src: Src, d: Dir) -> int:
    """The local holding the source memory's size in bytes (i64): ``src.limit``, or read now."""
    if src.limit is not None:
        return src.limit
    lim = e.new("i64")
    e.op("memory.size", d.smem)
    e.op("i64.extend_i32_u")
    e.op("i64.const", 16)
    e.op("i64.shl")
    e.set(lim)
    return lim


def _check_src(e: Emitter, p: int, nbytes: int, align: int, lim: int) -> None:
    """Trap unless ``p`` is aligned and ``[p, p + nbytes)`` lies below ``lim`` (the source's size):
    :func:`.emit.check_range` with the memory's size read beforehand."""
    if align > 1:
        asm(e, f"local.get p i32.const {align - 1} i32.and if unreachable end", p=p)
    asm(e, "local.get p i64.extend_i32_u local.get n i64.extend_i32_u i64.add local.get lim i64.gt_u "
           "if unreachable end", p=p, n=nbytes, lim=lim)


def _record(e: Emitter, t: Any, src: Src, dst: Dst, d: Dir, depth: int) -> None:
    offs = abi.field_offsets(t)
    at = 0
    for f, off in zip(t[1], offs):
        if src.base is not None:
            s = Src(base=src.base, offset=src.offset + off, limit=src.limit)
        else:
            w = len(abi.flatten(f))
            s = Src(locals=src.locals[at:at + w])
            at += w
        o = Dst(out=dst.out) if dst.base is None else Dst(base=dst.base, offset=dst.offset + off, kept=dst.kept)
        translate(e, f, s, o, d, depth + 1)


def _flags(e: Emitter, n: int, src: Src, dst: Dst, d: Dir) -> None:
    words = -(-n // 32)
    for w in range(words):
        bits = min(32, n - 32 * w)
        mask = (1 << bits) - 1
        width = abi.size(("flags", n)) if n <= 16 else 4
        t = _BY_SIZE[width]
        if dst.base is not None:
            e.get(dst.base)
        if src.base is not None:
            name, align = _LOAD[t]
            e.get(src.base)
            e.op(name, MemArg(align, src.offset + 4 * w, d.smem))
        else:
            e.get(src.locals[w])
        e.op("i32.const", mask - (1 << 32) if mask >= 1 << 31 else mask)
        e.op("i32.and")
        if dst.base is not None:
            name, align = _STORE[t]
            e.op(name, MemArg(align, dst.offset + 4 * w, d.dmem))
        else:
            x = e.new("i32")
            e.set(x)
            dst.outs.append(x)


def _variant(e: Emitter, t: Any, src: Src, dst: Dst, d: Dir, depth: int) -> None:
    cases = t[1]
    ncase = len(cases)
    dsz = abi.disc_size(ncase)
    poff = abi.payload_offset(t)
    joined = abi.flatten(t)[1:]
    disc = e.new("i32")
    if src.base is not None:
        name, align = _LOAD[_BY_SIZE[dsz]]
        e.get(src.base)
        e.op(name, MemArg(align, src.offset, d.smem))
    else:
        e.get(src.locals[0])
    e.set(disc)
    jl: list[int] = []
    if dst.base is not None:
        name, align = _STORE[_BY_SIZE[dsz]]
        e.get(dst.base)
        e.get(disc)
        e.op(name, MemArg(align, dst.offset, d.dmem))
    else:
        dst.outs.append(disc)
        jl = [e.new(j) for j in joined]
        dst.outs.extend(jl)
    e.op("block", None)                     # end of the variant
    for _ in cases:
        e.op("block", None)
    e.op("block", None)                     # invalid discriminant
    e.get(disc)
    e.op("br_table", tuple(range(1, ncase + 1)), 0)
    e.op("end")
    e.op("unreachable")
    for k, c in enumerate(cases):
        e.op("end")
        if c is not None:
            _payload(e, c, joined, src, dst, jl, poff, d, depth)
        e.op("br", ncase - 1 - k)
    e.op("end")


def _payload(e: Emitter, c, joined, src: Src, dst: Dst, jl, poff: int, d: Dir, depth: int) -> None:
    flat = abi.flatten(c)
    if src.base is not None:
        s = Src(base=src.base, offset=src.offset + poff, limit=src.limit)
    else:
        locs = []
        for want, have, loc in zip(flat, joined, src.locals[1:]):
            e.get(loc)
            for name in _TO.get((have, want), ()):
                e.op(name)
            x = e.new(want)
            e.set(x)
            locs.append(x)
        s = Src(locals=tuple(locs))
    if dst.base is not None:
        translate(e, c, s, Dst(base=dst.base, offset=dst.offset + poff, kept=dst.kept), d, depth + 1)
        return
    out: list[int] = []
    translate(e, c, s, Dst(out=out), d, depth + 1)
    for have, want, x, j in zip(flat, joined, out, jl):
        e.get(x)
        for name in _FROM.get((have, want), ()):
            e.op(name)
        e.set(j)


def has_borrow(t: Any) -> bool:
    """True when a value of (normalised) type ``t`` may hold a ``borrow`` handle."""
    if isinstance(t, str) or t is None:
        return False
    if t[0] == "borrow":
        return True
    if t[0] == "list":
        return has_borrow(t[1])
    if t[0] in ("record", "variant"):
        return any(has_borrow(x) for x in t[1])
    return False


class _NoLend(list):
    """``Emitter.after`` while a list's elements are translated: borrows lent there are not counted."""


#: a handle-table entry: rep @0, resource number + 1 @4 (0: free), flags @8 (1 own, 2 borrow), lends @12
OWN, BORROW = 1, 2


def _handle(e: Emitter, kind: str, src: Src, dst: Dst, d: Dir) -> None:
    """Move an ``own`` handle from the source component's table to the destination's, or lend a
    ``borrow`` (the implementing component gets the representation itself)."""
    if d.res is None:                        # no tables: only the host's handles, passed through
        _prim(e, "u32", src, dst, d)
        return
    tmem, src_c, dst_c, impl, (h_entry, h_add, h_free) = d.res
    h, a, rep, ty, new = (e.new("i32") for _ in range(5))
    if src.base is not None:
        e.get(src.base)
        e.op("i32.load", MemArg(2, src.offset, d.smem))
    else:
        e.get(src.locals[0])
    e.set(h)
    # a handle of a resource the fused world imports (the host's index) goes through unchanged;
    # a borrow of one is counted for the callee, whose resource.drop gives it back
    e.get(h)
    e.op("i32.const", TAG)
    e.op("i32.and")
    e.op("i32.eqz")
    e.op("if", None)
    if kind == "borrow":
        host_lend(e, dst_c, h, tmem)
    e.get(h)
    e.set(new)
    e.op("i32.const", 0)
    e.set(a)
    e.op("else")
    e.op("i32.const", src_c)
    e.get(h)
    e.op("call", h_entry)
    e.set(a)
    for loc, off in ((rep, 0), (ty, 4)):
        e.get(a)
        e.op("i32.load", MemArg(2, off, tmem))
        e.set(loc)
    e.get(a)
    e.op("i32.load", MemArg(2, 8, tmem))
    e.op("i32.const", OWN)
    e.op("i32.and")
    if kind == "own":
        e.op("i32.eqz")
        e.trap_if()                                     # lifting an own from a borrow handle
        e.get(a)
        e.op("i32.load", MemArg(2, 12, tmem))
        e.trap_if()                                     # still lent out
        e.op("i32.const", src_c)
        e.get(h)
        e.op("call", h_free)
        _add(e, dst_c, rep, ty, OWN, h_add, new)
    else:
        if isinstance(e.after, _NoLend):                # in a list: one local cannot give back each
            e.op("drop")                                # element's lend, so none is counted
        else:
            e.op("if", None)                            # an own handle lent for the call
            _lends(e, a, tmem, 1)
            e.op("end")
            e.after.append(a)
        e.op("i32.const", 0)
        for r in impl:
            e.get(ty)
            e.op("i32.const", r + 1)
            e.op("i32.eq")
            e.op("i32.or")
        e.op("if", None)
        e.get(rep)
        e.set(new)
        e.op("else")
        _add(e, dst_c, rep, ty, BORROW, h_add, new)
        e.op("end")
    e.op("end")
    if dst.base is not None:
        e.get(dst.base)
        e.get(new)
        e.op("i32.store", MemArg(2, dst.offset, d.dmem))
    else:
        dst.outs.append(new)


def _add(e: Emitter, comp: int, rep: int, ty: int, flags: int, h_add: int, out: int) -> None:
    e.op("i32.const", comp)
    e.get(rep)
    e.get(ty)
    e.op("i32.const", flags)
    e.op("call", h_add)
    e.set(out)


def end_lends(e: Emitter, tmem: int | None) -> None:
    """After the call: give back what was lent (``lends`` - 1 for each borrowed own handle)."""
    if tmem is None:        # no handle tables: nothing was lent
        return
    for a in e.after:                        # (0: nothing was lent, a host handle)
        e.get(a)
        e.op("if", None)
        _lends(e, a, tmem, -1)
        e.op("end")


def _lends(e: Emitter, a: int, tmem: int, delta: int) -> None:
    """Add ``delta`` to the ``lends`` of the table entry at (local) ``a``."""
    e.get(a)
    e.get(a)
    e.op("i32.load", MemArg(2, 12, tmem))
    e.op("i32.const", delta)
    e.op("i32.add")
    e.op("i32.store", MemArg(2, 12, tmem))


# -- may_leave: a component may not call out (through an adapter) while its realloc or
# post-return runs for an adapter, as the canonical ABI's ``may_leave`` flag says ("cannot leave
# component instance" in wasmtime). One mutable i32 global per component, 1 while it may leave.


def leave_flag(m: Module, flags: dict[int, int], comp: int) -> int:
    """The index of component ``comp``'s ``may_leave`` global in module ``m`` (added on first use;
    ``flags`` maps components to the globals made so far)."""
    if comp not in flags:
        flags[comp] = len(m.globals)
        m.globals.append(Global(GlobalType(I32, True), ConstExpr.i32(1)))
    return flags[comp]


def check_leave(e: Emitter, flag: int) -> None:
    """Trap unless the calling component may leave (the first thing an adapter does)."""
    e.op("global.get", flag)
    e.op("i32.eqz")
    e.trap_if()


def set_leave(e: Emitter, flag: int | None, value: int) -> None:
    """Clear (0) or set (1) a component's ``may_leave`` flag (around its realloc or post-return)."""
    if flag is not None:
        e.op("i32.const", value)
        e.op("global.set", flag)
