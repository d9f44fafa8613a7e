"""Reading an address-range list (``DW_AT_ranges``) for lookups: DWARF 4 ``.debug_ranges``
pairs and DWARF 5 ``.debug_rnglists`` entries, as absolute [begin, end) pairs::

    DW_AT_ranges 0x20  ->  .debug_ranges+0x20: (0x27, 0xbc) (0xcc, 0x102) (0, 0)  ->  [(0x27, 0xbc), (0xcc, 0x102)]
"""

from __future__ import annotations

from typing import Any

from ..binary.reader import Reader
from ..errors import DecodeError
from .info import AT, FORM
from ..binary.leb import ByteData

__all__ = ["read_ranges"]

#: list entries read at most (a hostile list stays bounded)
MAX_ENTRIES = 1 << 20


def _v4(data: ByteData, off: int, base: int, size: int) -> list[tuple[int, int]]:
    r = Reader(data, off)
    maxv = (1 << (8 * size)) - 1
    out = []
    for _ in range(MAX_ENTRIES):
        b, e = r.fixed(size), r.fixed(size)
        if b == 0 and e == 0:
            break
        if b == maxv:
            base = e
            continue
        if e > b:
            out.append((base + b, base + e))
    return out


def _v5(data: ByteData, off: int, base: int, size: int, addr_of) -> list[tuple[int, int]]:
    r = Reader(data, off)
    out = []
    for _ in range(MAX_ENTRIES):
        k = r.byte()
        if k == 0:
            break
        if k == 1:
            base = addr_of(r.u64())
        elif k == 2:
            out.append((addr_of(r.u64()), addr_of(r.u64())))
        elif k == 3:
            a = addr_of(r.u64())
            out.append((a, a + r.u64()))
        elif k == 4:
            a, b = r.u64(), r.u64()
            out.append((base + a, base + b))
        elif k == 5:
            base = r.fixed(size)
        elif k == 6:
            out.append((r.fixed(size), r.fixed(size)))
        elif k == 7:
            a = r.fixed(size)
            out.append((a, a + r.u64()))
        else:
            raise DecodeError(f"unknown range list entry {k}", r.pos - 1)
    return [(a, b) for a, b in out if b > a]


def read_ranges(dbg: Any, unit: Any, attr: Any) -> list[tuple[int, int]]:
    """The ranges ``attr`` (a ``DW_AT_ranges`` value of ``unit``) names; ``dbg``: a DebugInfo."""
    try:
        if unit.version < 5:
            return _v4(dbg.sec(".debug_ranges"), attr.value, unit.base, unit.addr_size)
        data = dbg.sec(".debug_rnglists")
        off = attr.value
        if attr.form == FORM["rnglistx"]:
            base = unit.extra.get(AT["rnglists_base"], 12)
            p = base + 4 * attr.value
            off = base + int.from_bytes(data[p:p + 4], "little")

        def addr_of(i: int) -> int:
            table = dbg.sec(".debug_addr")
            p = (unit.addr_base if unit.addr_base is not None else 8) + i * unit.addr_size
            return int.from_bytes(table[p:p + unit.addr_size], "little")

        return _v5(data, off, unit.base, unit.addr_size, addr_of)
    except DecodeError:
        return []
