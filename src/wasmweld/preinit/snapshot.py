"""The snapshot: plain data describing an instance's state after its init function ran.

Stage 3 of ``wasmweld snapshot`` (instrument -> run -> **snapshot** -> rewrite).
A :class:`Snapshot` holds, for one instance,

* every defined global's value (:class:`GlobalValue`, index order),
* every defined memory's size in pages and its non-zero contents as
  ``(offset, bytes)`` segments (:class:`MemorySnapshot`),
* which passive data / elem segments the init function dropped.

No wasmtime here: the runner (``wasmweld.runtime.preinit_runner``) reads the
instance and calls :func:`capture_segments` on each memory's bytes; the
rewriter turns the snapshot into initialisers and data segments. For::

    (module
      (memory 1)
      (global $n (mut i32) (i32.const 0))
      (func (export "wizer-initialize")
        (i32.store (i32.const 16) (i32.const 0x01020304))
        (global.set $n (i32.const 7))))

the snapshot is ``Snapshot(globals=[GlobalValue(0, "i32", 7)],
memories=[MemorySnapshot(1, [(16, b"\\x04\\x03\\x02\\x01")])])``.

Segments follow Wizer's rule exactly, so that both tools write the same
segments: runs of non-zero bytes separated by at most :data:`MERGE_GAP` (4)
zero bytes are merged into one segment (Wizer's "minimum overhead of a new
active segment": memory index, ``i32.const``, offset, length, one byte each).
If more than ``max_segments`` (default :data:`MAX_SEGMENTS` = 10,000, Wizer's
limit; engines accept 100,000) remain, the segments with the smallest gaps
between them are merged until the count fits (among equal gaps the earliest
first; Wizer's unstable sort picks some of them, so equal-gap choices, not
sizes, may differ). Zero bytes never need a segment: memory starts zeroed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from ..record import field, record
from itertools import chain, compress, count, islice
from operator import itemgetter, sub
from typing import Any, NamedTuple

__all__ = [
    "MERGE_GAP",
    "MAX_SEGMENTS",
    "GlobalValue",
    "MemorySnapshot",
    "Snapshot",
    "capture_segments",
    "segment_ranges",
    "split_ranges",
    "capture_ranges",
    "COARSE_GAPS",
    "limit_split",
    "limit_ranges",
    "limit_memories",
]

#: runs of non-zero bytes at most this many zero bytes apart share one segment (Wizer's rule)
MERGE_GAP = 4

#: default cap on the number of data segments written for all memories together
MAX_SEGMENTS = 10_000


class GlobalValue(NamedTuple):
    """The value of defined global ``index`` after init.

    ``valtype`` is ``"i32"``, ``"i64"``, ``"f32"``, ``"f64"``, ``"v128"`` or
    ``"ref"``. ``value``: a Python int for i32/i64 (signed), the IEEE bit
    pattern as an unsigned int for f32/f64 (NaN payloads survive), 16
    little-endian bytes for v128, and ``None`` for a null reference.
    ``unchanged`` is True when the value is known to equal the global's initial
    value (immutable globals; references that still hold what they held after
    instantiation): the rewriter then keeps the original initialiser.
    """

    index: int  # type: ignore[assignment]  # the field, read as such (it shadows tuple.index)
    valtype: str
    value: int | bytes | None
    unchanged: bool = False


@record(frozen=True, slots=True)
class MemorySnapshot:
    """One defined memory: its size in pages and its non-zero ``(offset, bytes)`` segments, ascending."""

    size_pages: int
    segments: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def captured_bytes(self) -> int:
        """Bytes of memory the segments carry (zeros inside merged gaps included)."""
        return sum(map(len, map(itemgetter(1), self.segments)))


@record(slots=True)
class Snapshot:
    """The state the rewriter writes into the module (see the module docstring).

    ``globals`` and ``memories`` are in index order over the *defined* items
    (``GlobalValue.index`` is the module-wide global index).
    ``dropped_datas`` / ``dropped_elems``: indices of passive segments the
    init function dropped (``data.drop`` / ``elem.drop``). ``stats`` carries
    run facts for the report (``init_seconds``, ``fuel_used``, ``stdout``,
    ``stderr``, ...).
    """

    globals: list[GlobalValue] = field(default_factory=list)
    memories: list[MemorySnapshot] = field(default_factory=list)
    dropped_datas: list[int] = field(default_factory=list)
    dropped_elems: list[int] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def captured_bytes(self) -> int:
        return sum(m.captured_bytes for m in self.memories)

    @property
    def segment_count(self) -> int:
        return sum(len(m.segments) for m in self.memories)


_NONZERO = bytes([0]) + b"\x01" * 255


#: memories are scanned in windows of this many bytes (bounds the scratch copies for huge memories)
SCAN_CHUNK = 16 << 20


def _flags(data) -> bytes | bytearray:
    """``data`` with every non-zero byte made 1 (one C-level ``translate``)."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    return data.translate(_NONZERO)


def _ranges_in(flags: bytes | bytearray, base: int, gap: bytes, starts: list[int], ends: list[int]) -> None:
    """Append the ranges of the window ``flags`` (0/1 bytes, at ``base``), joined to the last one within ``gap``."""
    find = flags.find
    merge_gap = len(gap) - 1
    pos = find(b"\x01")
    if pos >= 0 and ends and base + pos - ends[-1] <= merge_gap:  # continues a range of the previous window
        end = find(gap, pos)
        end = end if end >= 0 else flags.rfind(b"\x01") + 1
        ends[-1] = base + end
        pos = find(b"\x01", end)
    add_start, add_end = starts.append, ends.append
    # the loop runs once per range (tens of thousands for a real heap): kept to two finds and two appends
    while pos >= 0:
        # the first run of merge_gap+1 zeros after pos starts right after a non-zero byte
        end = find(gap, pos)
        if end < 0:
            end = flags.rfind(b"\x01") + 1
        add_start(base + pos)
        add_end(base + end)
        pos = find(b"\x01", end)


def split_ranges(data: bytes | bytearray | memoryview, merge_gap: int = MERGE_GAP) -> tuple[list[int], list[int]]:
    """:func:`segment_ranges` as two lists, ``(starts, ends)`` (no tuple per range: the fast form)."""
    return _split(data, merge_gap, None)


def _split(data, merge_gap: int, flags: bytes | bytearray | None) -> tuple[list[int], list[int]]:
    """:func:`split_ranges`; ``flags``: ``_flags(data)`` when already made (one window's worth at most)."""
    if merge_gap < 0:
        raise ValueError("merge_gap must be >= 0")
    gap = bytes(merge_gap + 1)
    starts: list[int] = []
    ends: list[int] = []
    n = len(data)
    if n <= SCAN_CHUNK:
        _ranges_in(flags if flags is not None else _flags(data), 0, gap, starts, ends)
        return starts, ends
    view = memoryview(data)
    for base in range(0, n, SCAN_CHUNK):
        _ranges_in(_flags(view[base:base + SCAN_CHUNK]), base, gap, starts, ends)
    return starts, ends


#: coarser merge gaps tried first by :func:`capture_ranges`, largest first (each at least 4x the next)
COARSE_GAPS = (1024, 256, 64, 16)


def capture_ranges(buffers: list[bytes | bytearray | memoryview], max_segments: int = MAX_SEGMENTS,
                   merge_gap: int = MERGE_GAP) -> list[list[tuple[int, int]]]:
    """The ranges to capture per memory: ``limit_split([split_ranges(b, merge_gap) for b in buffers],
    max_segments)``, the same ranges, found with fewer steps when the cap merges many of them.

    A heap often holds far more runs than the cap (primes: 92,759 for 10,000 segments). If the
    ranges found with a coarser gap ``g`` (runs fewer than ``g`` zero bytes apart joined) already
    number ``max_segments`` or more, they give the same result: every gap of the fine ranges
    smaller than ``g`` is smaller than every one the coarse ranges keep, so the cap closes all of
    them first, and the coarse gaps are exactly the fine gaps of ``g`` bytes or more, in the same
    order (ties close earliest first in both). So :data:`COARSE_GAPS` are tried, largest first,
    while the memories are big enough to hold that many ranges that far apart; a level that finds
    fewer costs at most ``max_segments`` steps. Raises ValueError as :func:`limit_split`.
    """
    if merge_gap < 0:
        raise ValueError("merge_gap must be >= 0")
    size = sum(len(b) for b in buffers)
    # the flags of each memory that fits one scan window, made once for every level
    flags = [_flags(b) if len(b) <= SCAN_CHUNK else None for b in buffers]
    if size >= max_segments * (merge_gap + 2):  # room for more fine ranges than the cap
        for gap in COARSE_GAPS:
            if gap <= merge_gap + 1 or size < max_segments * (gap + 1):
                continue
            found = [_split(b, gap - 1, f) for b, f in zip(buffers, flags)]
            if sum(len(starts) for starts, _ in found) >= max_segments:
                return limit_split(found, max_segments)
    return limit_split([_split(b, merge_gap, f) for b, f in zip(buffers, flags)], max_segments)


def segment_ranges(data: bytes | bytearray | memoryview, merge_gap: int = MERGE_GAP) -> list[tuple[int, int]]:
    """``(start, end)`` ranges covering every non-zero byte of ``data``.

    Ranges are separated by more than ``merge_gap`` zero bytes and start and
    end on a non-zero byte. The scan runs at C speed: each window of
    :data:`SCAN_CHUNK` bytes is mapped to 0/1 bytes with one ``translate``,
    then ``find`` jumps from each range to the next run of ``merge_gap + 1``
    zeros and from there to the next 1. ``data`` may be a memoryview of the
    live memory: only one window is copied at a time.
    """
    return list(zip(*split_ranges(data, merge_gap)))


def _gaps(starts: list[int], ends: list[int]) -> list[int]:
    """The zero bytes between range i and range i + 1, for each i (C-level loops only)."""
    return list(map(sub, islice(starts, 1, None), ends))


def _kept_cuts(gaps: list[int], excess: int) -> list[int]:
    """The gaps that stay open (ascending indices) when the ``excess`` smallest close, earliest first on ties.

    Gap sizes repeat a lot (a heap has few distinct distances), so the threshold comes from a count
    per distinct size rather than a sort of every gap; the rest is C-level ``map``/``compress``.
    """
    if excess <= 0:
        return list(range(len(gaps)))
    counts = Counter(gaps)
    below = 0  # gaps smaller than the threshold: all close
    for threshold in sorted(counts):
        if below + counts[threshold] >= excess:
            break
        below += counts[threshold]
    ties = excess - below  # how many gaps equal to the threshold close: the first ones
    # past the last tie that closes, a gap equal to the threshold stays open
    cut = next(islice(compress(count(), map(threshold.__eq__, gaps)), ties - 1, None)) + 1
    keep = chain(map(threshold.__lt__, islice(gaps, cut)), map(threshold.__le__, islice(gaps, cut, None)))
    return list(compress(count(), keep))


def _merged(starts: list[int], ends: list[int], cuts: list[int]) -> list[tuple[int, int]]:
    """The ranges left when only the gaps after the ranges in ``cuts`` stay open."""
    if not starts:
        return []
    new_starts = [starts[0], *map(starts.__getitem__, map((1).__add__, cuts))]
    new_ends = [*map(ends.__getitem__, cuts), ends[-1]]
    return list(zip(new_starts, new_ends))


def limit_ranges(ranges: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Merge the ranges with the smallest gaps between them until at most ``limit`` remain."""
    if limit < 1:
        raise ValueError("the segment limit must be at least 1")
    excess = len(ranges) - limit
    if excess <= 0:
        return ranges
    starts, ends = [r[0] for r in ranges], [r[1] for r in ranges]
    return _merged(starts, ends, _kept_cuts(_gaps(starts, ends), excess))


def capture_segments(
    data: bytes | bytearray | memoryview,
    *,
    merge_gap: int = MERGE_GAP,
    max_segments: int = MAX_SEGMENTS,
) -> list[tuple[int, bytes]]:
    """The non-zero contents of one memory as ``(offset, bytes)`` segments (see the module docstring)."""
    ranges = limit_ranges(segment_ranges(data, merge_gap), max_segments)
    view = memoryview(data)
    return [(s, bytes(view[s:e])) for s, e in ranges]


def limit_memories(
    memories: list[list[tuple[int, int]]], max_segments: int = MAX_SEGMENTS
) -> list[list[tuple[int, int]]]:
    """Apply one segment cap across several memories' ranges (smallest gaps merged first, within a memory).

    Each memory keeps at least one segment if it has any data.
    """
    if sum(len(r) for r in memories) <= max_segments:
        return memories
    return limit_split([([r[0] for r in rs], [r[1] for r in rs]) for rs in memories], max_segments)


def limit_split(memories: list[tuple[list[int], list[int]]],
                max_segments: int = MAX_SEGMENTS) -> list[list[tuple[int, int]]]:
    """:func:`limit_memories` on :func:`split_ranges` results (``(starts, ends)`` per memory)."""
    total = sum(len(starts) for starts, _ in memories)
    if total <= max_segments:
        return [list(zip(starts, ends)) for starts, ends in memories]
    needed = sum(1 for starts, _ in memories if starts)
    if max_segments < needed:
        raise ValueError(f"{needed} memories hold data, more than {max_segments} segments")
    gaps: list[int] = []
    for starts, ends in memories:
        gaps.extend(_gaps(starts, ends))
    cuts = _kept_cuts(gaps, total - max_segments)
    out = []
    k = 0  # the first gap of this memory in `gaps`
    lo = 0  # the first of `cuts` at or past k
    for starts, ends in memories:
        n = max(len(starts) - 1, 0)
        hi = bisect_left(cuts, k + n, lo)
        out.append(_merged(starts, ends, [c - k for c in cuts[lo:hi]]))
        k, lo = k + n, hi
    return out
