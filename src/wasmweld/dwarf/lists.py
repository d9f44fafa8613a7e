"""Address lists outside ``.debug_info``, patched in place for new code addresses.

DWARF 4 ``.debug_ranges``/``.debug_loc`` entries are (begin, end) pairs relative to the unit's
base address, ``(0, 0)`` ending a list and ``(-1, base)`` selecting a new base::

    27 00 00 00  bc 00 00 00     ;; [0x27, 0xbc)   (the unit's base is 0 for clang's wasm32 output)
    00 00 00 00  00 00 00 00     ;; end of list

DWARF 5 ``.debug_rnglists``/``.debug_loclists`` use tagged entries (``DW_RLE_offset_pair``, ...),
``.debug_addr`` a table of addresses. Removed code's entries get the tombstones wasm-ld writes:
-2 in ranges and location lists (where -1 and 0 mean something), -1 elsewhere. Every value keeps
its width (a ULEB128 offset is re-encoded in its old number of bytes), so no offset moves.
"""

from __future__ import annotations

from typing import Any, Callable

from ..binary.leb import encode_u_width
from ..binary.reader import Reader
from ..errors import DecodeError
from .addrmap import REMOVED, AddressMap

__all__ = ["put_uleb", "patch_v4_list", "patch_v5_list", "patch_addr_table", "Mapper", "TOMBSTONE", "LIST_TOMBSTONE"]

TOMBSTONE = 0xFFFFFFFF
LIST_TOMBSTONE = 0xFFFFFFFE


class Mapper:
    """Address rewriting for one input: ``start``/``end`` map a begin / one-past-end address."""

    def __init__(self, amap: AddressMap):
        self.amap: AddressMap = amap

    def point(self, addr: int) -> int:
        """New address of ``addr``; :data:`TOMBSTONE` inside removed code; ``addr`` outside code."""
        new = self.amap.map(addr)
        if new is None:
            return addr
        return TOMBSTONE if new == REMOVED else new

    def span(self, begin: int, end: int) -> tuple[int, int] | None:
        """New [begin, end) of a range, or None when its code was removed. A range outside all code
        (a linker's tombstone already, an empty range) stays as it is."""
        nb, ne = self.amap.map(begin), self.amap.map(end)
        if nb == REMOVED or ne == REMOVED:
            return None
        if nb is None:
            return begin, end
        if ne is None:
            ne = self.amap.line_map(end)            # clang's ranges may end on the next body's size field
        if ne is None or ne == REMOVED:
            ne = self.amap.clamp_end(end)           # ... or run past its code
        if ne is None or ne < nb:
            raise DecodeError(f"address range [0x{begin:x}, 0x{end:x}) is not inside one function's code", 0)
        return nb, ne

    def foreign(self, base: int) -> bool:
        """A base address outside all code other than 0 (a linker's tombstone): lists relative to
        it describe no code of this module and are left alone."""
        return base != 0 and self.amap.map(base) is None

    def base(self, addr: int) -> int:
        """New value of a base address (unchanged outside code or in removed code)."""
        new = self.amap.map(addr)
        return addr if new is None or new == REMOVED else new


def _put(buf: bytearray, pos: int, value: int, width: int) -> None:
    buf[pos:pos + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")


def put_uleb(buf: bytearray, r_start: int, r_end: int, value: int, grow: list[tuple[int, int, int]] | None = None) -> None:
    """Write ``value`` as the ULEB128 at ``buf[r_start:r_end]``, keeping its width (DecodeError if it
    cannot, unless ``grow`` is given: then ``(r_start, r_end, value)`` is added to it, for
    :func:`~.grow.splice`)."""
    if value < 0:
        raise DecodeError(f"a DWARF offset became negative ({value}): its list does not fit its code", r_start)
    enc = encode_u_width(value, r_end - r_start)
    if len(enc) != r_end - r_start and grow is not None:
        grow.append((r_start, r_end, value))
        return
    if len(enc) != r_end - r_start:
        raise DecodeError(f"a DWARF offset {value} no longer fits its {r_end - r_start} bytes", r_start)
    buf[r_start:r_end] = enc


def patch_v4_list(buf: bytearray, offset: int, base: int, size: int, m: Mapper, loc: bool) -> None:
    """Patch the ``.debug_ranges`` (``loc`` False) or ``.debug_loc`` list at ``offset``."""
    maxv = (1 << (8 * size)) - 1
    n = len(buf)
    p = offset
    foreign, nbase = m.foreign(base), m.base(base)
    for _ in range(n):
        if p + 2 * size > n:
            raise DecodeError("unexpected end", n)
        b = int.from_bytes(buf[p:p + size], "little")
        e = int.from_bytes(buf[p + size:p + 2 * size], "little")
        q = p + 2 * size
        if b == 0 and e == 0:
            return
        if b == maxv:
            _put(buf, p + size, m.base(e), size)
            base = e
            foreign, nbase = m.foreign(base), m.base(base)
            p = q
            continue
        if loc:
            if q + 2 > n:
                raise DecodeError("unexpected end", n)
            q += 2 + int.from_bytes(buf[q:q + 2], "little")
            if q > n:
                raise DecodeError("unexpected end", n)
        if not foreign:                 # else relative to a tombstoned base: code a linker removed
            sp = m.span((base + b) & maxv, (base + e) & maxv)
            if sp is None:
                _put(buf, p, LIST_TOMBSTONE, size)
                _put(buf, p + size, LIST_TOMBSTONE, size)
            else:
                _put(buf, p, sp[0] - nbase, size)
                _put(buf, p + size, sp[1] - nbase, size)
        p = q
    raise DecodeError("unterminated DWARF list", offset)


def _v5_pair(buf, r, m: Mapper, base: int, nbase: int, grow: list[Any] | None) -> None:
    p0 = r.pos
    a = r.u64()
    p1 = r.pos
    b = r.u64()
    sp = m.span(base + a, base + b)
    if sp is None:
        sp = (nbase, nbase)
    put_uleb(buf, p0, p1, sp[0] - nbase, grow)
    put_uleb(buf, p1, r.pos, sp[1] - nbase, grow)


def patch_v5_list(buf: bytearray, offset: int, base: int, size: int, m: Mapper, loc: bool,
                  addr_of: Callable[..., int], grow: list[tuple[int, int, int]] | None = None) -> None:
    """Patch the ``.debug_rnglists`` (``loc`` False) or ``.debug_loclists`` list at ``offset``;
    ``addr_of(index)`` reads an old ``.debug_addr`` entry (patched separately); ``grow``: where
    ULEB128 values that no longer fit their bytes go (:func:`put_uleb`)."""
    r = Reader(buf, offset)
    kinds = ({1: "basex", 2: "startx_endx", 3: "startx_len", 4: "pair", 5: "default", 6: "base", 7: "start_end",
              8: "start_len"} if loc else
             {1: "basex", 2: "startx_endx", 3: "startx_len", 4: "pair", 5: "base", 6: "start_end", 7: "start_len"})
    for _ in range(len(buf)):
        k = r.byte()
        if k == 0:
            return
        kind = kinds.get(k)
        if kind is None:
            raise DecodeError(f"unknown DWARF list entry kind {k}", r.pos - 1)
        if kind == "basex":
            base = addr_of(r.u64())
            continue
        if kind == "base":
            p = r.pos
            base = r.fixed(size)
            _put(buf, p, m.point(base), size)
            continue
        if kind == "startx_endx":
            r.u64()
            r.u64()
        elif kind == "startx_len":
            start = addr_of(r.u64())
            p = r.pos
            n = r.u64()
            sp = m.span(start, start + n)
            put_uleb(buf, p, r.pos, 0 if sp is None else sp[1] - sp[0], grow)
        elif kind == "pair":
            if m.foreign(base):
                r.u64()
                r.u64()
            else:
                _v5_pair(buf, r, m, base, m.base(base), grow)
        elif kind == "start_end":
            p = r.pos
            a, b = r.fixed(size), r.fixed(size)
            sp = m.span(a, b) or (LIST_TOMBSTONE, LIST_TOMBSTONE)
            _put(buf, p, sp[0], size)
            _put(buf, p + size, sp[1], size)
        elif kind == "start_len":
            p = r.pos
            a = r.fixed(size)
            q = r.pos
            n = r.u64()
            sp = m.span(a, a + n)
            _put(buf, p, LIST_TOMBSTONE if sp is None else sp[0], size)
            put_uleb(buf, q, r.pos, 0 if sp is None else sp[1] - sp[0], grow)
        if loc and kind != "base":
            r.bytes(r.u64())
    raise DecodeError("unterminated DWARF list", offset)


def patch_addr_table(buf: bytearray, size: int, code: set[int], data: set[int], m: Mapper, data_shift: int) -> None:
    """The ``.debug_addr`` entries at positions ``code`` (named as code addresses) mapped, those at
    ``data`` (named by ``DW_OP_addrx``: memory addresses) moved by ``data_shift``; others kept."""
    for p in sorted(code | data):
        if p + size > len(buf):
            raise DecodeError(f".debug_addr entry at 0x{p:x} past its end", p)
        v = int.from_bytes(buf[p:p + size], "little")
        _put(buf, p, m.point(v) if p in code else v + data_shift, size)
