"""DWARF 5 range and location lists whose offsets outgrew their ULEB128 bytes, re-laid out.

A ``DW_RLE_offset_pair`` (``DW_LLE_offset_pair``) holds its begin and end as ULEB128s counted from
a base; when the code before them grew (a merge adds a memory index to every load), an offset
may need a byte more than it has::

    04 f4 7f 8a 80 01      ;; offset_pair 0x3ff4, 0x400a   (2 and 3 bytes)
    -> 04 ff 87 01 95 88 01 ;; offset_pair 0x43ff, 0x4415  (3 and 3 bytes: the list is one byte longer)

:func:`splice` writes those values at their new widths and returns where every old position of
the section went; :func:`fix_tables` then rewrites each list table's ``unit_length`` and offsets
array, and the caller moves every ``.debug_info`` reference into the section (``DW_AT_ranges``,
``DW_AT_location``, ``DW_AT_rnglists_base``, ``DW_AT_loclists_base``) the same way.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Callable

from ..binary.leb import write_u
from ..errors import DecodeError

__all__ = ["splice", "fix_tables"]


def splice(buf: bytes | bytearray, grow: list[tuple[int, int, int]]) -> tuple[bytearray, Callable[[int], int]]:
    """``buf`` with each ``(start, end, value)`` ULEB128 field re-encoded at its natural width, and
    old position -> new position (positions inside a re-encoded field are not asked for)."""
    grow = sorted(set(grow))
    out = bytearray()
    ends, deltas = [], []
    cursor, delta = 0, 0
    for start, end, value in grow:
        if start < cursor:
            raise DecodeError("overlapping DWARF list fields", start)
        out += buf[cursor:start]
        enc = write_u(value)
        out += enc
        delta += len(enc) - (end - start)
        ends.append(end)
        deltas.append(delta)
        cursor = end
    out += buf[cursor:]

    def new_pos(old: int) -> int:
        k = bisect_right(ends, old)
        return old + (deltas[k - 1] if k else 0)

    return out, new_pos


def fix_tables(new: bytearray, old: bytes, new_pos: Callable[[int], int]) -> None:
    """Each list table header of ``new`` (laid out from ``old`` by ``new_pos``): its unit_length
    and its offsets array (offsets counted from the end of the header)."""
    p = 0
    while p + 12 <= len(old):
        length = int.from_bytes(old[p:p + 4], "little")
        end = p + 4 + length
        if length >= 0xFFFFFFF0 or end > len(old):
            raise DecodeError("bad DWARF 5 list table", p)
        q = new_pos(p)
        new[q:q + 4] = (new_pos(end) - q - 4).to_bytes(4, "little")
        count = int.from_bytes(old[p + 8:p + 12], "little")
        base = p + 12
        if base + 4 * count > end:
            raise DecodeError("DWARF 5 list offsets past their table", p)
        nbase = new_pos(base)
        for i in range(count):
            e = base + 4 * i
            v = int.from_bytes(old[e:e + 4], "little")
            ne = new_pos(e)
            new[ne:ne + 4] = (new_pos(base + v) - nbase).to_bytes(4, "little")
        p = end
