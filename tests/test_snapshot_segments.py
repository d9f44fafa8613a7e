"""The snapshot's memory capture: non-zero regions as data segments, merged and capped (issue 5).

Properties (hypothesis): writing the segments into zeroed memory gives the
memory back exactly; segments are sorted, disjoint, start and end on non-zero
bytes; without a cap, neighbours are more than MERGE_GAP zero bytes apart;
with a cap, there are at most that many and the merged gaps are the smallest.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wasmweld.preinit.snapshot import (
    MERGE_GAP, capture_segments, limit_memories, limit_ranges, segment_ranges,
)


def rebuild(size: int, segments) -> bytes:
    buf = bytearray(size)
    for off, data in segments:
        buf[off:off + len(data)] = data
    return bytes(buf)


# memories made of runs: zero runs of many lengths around the merge gap, and non-zero runs
runs = st.lists(
    st.tuples(st.integers(0, 3 * MERGE_GAP), st.binary(min_size=0, max_size=12)), max_size=40)


def memory_from(parts) -> bytes:
    out = bytearray()
    for zeros, data in parts:
        out += bytes(zeros) + data
    return bytes(out)


@settings(max_examples=300, deadline=None)
@given(runs)
def test_capture_rebuilds_memory_exactly(parts):
    mem = memory_from(parts)
    segs = capture_segments(mem)
    assert rebuild(len(mem), segs) == mem
    prev_end = None
    for off, data in segs:
        assert data and data[0] != 0 and data[-1] != 0
        if prev_end is not None:
            gap = off - prev_end
            assert gap > MERGE_GAP
            assert not any(mem[prev_end:off])
        prev_end = off + len(data)


@settings(max_examples=200, deadline=None)
@given(runs, st.integers(1, 6))
def test_cap_merges_the_smallest_gaps(parts, cap):
    mem = memory_from(parts)
    ranges = segment_ranges(mem)
    capped = limit_ranges(ranges, cap)
    assert len(capped) == min(len(ranges), cap)
    assert rebuild(len(mem), [(s, mem[s:e]) for s, e in capped]) == mem
    if len(ranges) > cap:
        gaps = sorted(ranges[i + 1][0] - ranges[i][1] for i in range(len(ranges) - 1))
        kept = sorted(capped[i + 1][0] - capped[i][1] for i in range(len(capped) - 1))
        # the gaps that survive are the largest ones
        assert kept == gaps[len(gaps) - len(kept):]


def test_gap_merging_boundary():
    gap_ok = b"\x01" + bytes(MERGE_GAP) + b"\x02"
    gap_split = b"\x01" + bytes(MERGE_GAP + 1) + b"\x02"
    assert capture_segments(bytes(5) + gap_ok) == [(5, gap_ok)]
    assert capture_segments(gap_split) == [(0, b"\x01"), (MERGE_GAP + 2, b"\x02")]
    assert capture_segments(bytes(100)) == []
    assert capture_segments(b"") == []


def test_cap_across_memories_keeps_each_memory_separate():
    a = [(0, 1), (10, 11), (20, 21), (1000, 1001)]
    b = [(0, 1), (5000, 5001)]
    out = limit_memories([a, b], 4)
    assert out == [[(0, 21), (1000, 1001)], b]  # a's two small gaps go first
    out = limit_memories([a, b], 3)
    assert out == [[(0, 1001)], b]  # then a's 979-byte gap, still smaller than b's
    assert limit_memories([a, b], 2) == [[(0, 1001)], [(0, 5001)]]


def test_large_sparse_memory_is_fast_enough_to_scan():
    """64 MiB with a byte every 4 KiB: 16,384 regions capped to 10,000 (a functional check, no timing)."""
    mem = bytearray(64 << 20)
    mem[::4096] = b"\x07" * len(range(0, len(mem), 4096))
    segs = capture_segments(mem)
    assert len(segs) == 10_000
    assert rebuild(len(mem), segs) == mem


def test_windowed_scan_joins_ranges_across_windows(monkeypatch):
    """Memories bigger than one scan window give the same ranges as a single scan."""
    import random
    import sys

    snapmod = sys.modules["wasmweld.preinit.snapshot"]  # (the package's `snapshot` attribute is the function)

    rng = random.Random(3)
    mem = bytearray(5000)
    for _ in range(300):
        mem[rng.randrange(5000)] = rng.randrange(1, 256)
    mem[1020:1030] = b"\x05" * 10  # a run across the 1024-byte window edge
    mem[2040] = mem[2050] = 9      # a short gap across the 2048 edge
    whole = segment_ranges(bytes(mem))
    monkeypatch.setattr(snapmod, "SCAN_CHUNK", 1024)
    assert len(whole) > 10
    assert segment_ranges(memoryview(mem)) == whole
    assert rebuild(len(mem), [(s, mem[s:e]) for s, e in whole]) == bytes(mem)
