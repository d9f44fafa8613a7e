"""Issue 16.5: the merge's child streams the refs of its bodies (``TwoPhaseMap(stream=...)``) so gc's
analysis starts while it still scans, taking any body it needs that has not arrived; the results, the
bytes and the first error stay those of one process.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from helpers import both_ways, corpus_path
from wasmweld.errors import WasmError
from wasmweld.link import merge
from wasmweld.link.parallel import TwoPhaseMap
from wasmweld.module import FuncBody, parse

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the second process forks on Linux only")

N = 3000


def _job(fail=None, stream=16):
    """A streaming TwoPhaseMap: first(i) = (i*i, pid, private part); second(k, r) = (k, r's parts, arg, pid).
    ``fail(i, in_child)``: first(i) raises there."""
    parent = os.getpid()

    def first(i):
        here = "parent" if os.getpid() == parent else "child"
        if fail is not None and fail(i, here == "child"):
            raise WasmError(f"bad first {i} in {here}")
        return (i * i, os.getpid(), [i] * 2)

    def make_second(arg):
        return lambda k, r: (k, None if r is None else (r[0], r[2]), arg, os.getpid())

    return TwoPhaseMap(N, first, make_second, send=lambda r: (r[0], r[1], None), stream=stream)


def test_streamed_first_phase_is_the_map_and_taken_items_stay_here(monkeypatch):
    monkeypatch.setenv("WASMWELD_FORK", "1")
    parent = os.getpid()
    job = _job()
    assert job.forks
    with job:
        own = job.first_own()
        theirs = sorted(job.rank, key=job.rank.get)
        assert 1000 < len(theirs) < 2000 and all(own[i][1] == parent for i in range(N) if i not in job.rank)
        last = theirs[-1]
        got = job.get(last)                 # (the child does it last: almost surely taken here)
        assert got[0] == last * last
        firsts = job.finish_first()
        assert [r[0] for r in firsts] == [i * i for i in range(N)]
        from_child = {i for i in theirs if firsts[i][1] != parent}
        assert from_child and all(firsts[i][2] is None for i in from_child)        # only send(...) came
        assert job.taken == len(set(theirs) - from_child)
        out = job.second(list(range(N)), "arg")
    assert [o[:3] for o in out] == [(k, (k * k, [k] * 2), "arg") for k in range(N)]
    # each item's second phase runs where its first did
    assert {o[0] for o in out if o[3] != parent} == from_child
    assert job.pid is None


def test_analysis_order_items_arrive_or_are_taken(monkeypatch):
    """get() in any order gives every first result (taken here when not arrived)."""
    monkeypatch.setenv("WASMWELD_FORK", "1")
    job = _job(stream=1)
    with job:
        job.first_own()
        assert [job.get(i)[0] for i in range(N - 1, -1, -1)] == [i * i for i in range(N - 1, -1, -1)]
        assert 0 <= job.arrived() <= len(job.rank)
        job.finish_first()
        out = job.second([N - 1, "x"], 7, index=lambda k: k if isinstance(k, int) else None)
    assert out[0][:3] == (N - 1, ((N - 1) ** 2, [N - 1] * 2), 7) and out[1][:3] == ("x", None, 7)


@pytest.mark.parametrize("take", [False, True])
def test_the_first_error_of_the_childs_share_is_raised_by_the_parent(monkeypatch, take):
    """Bad items in the child's share: whoever meets one (the child, or the parent taking one), the
    error raised is the first in the child's order, by the parent; get() and finish_first() raise it."""
    monkeypatch.setenv("WASMWELD_FORK", "1")
    probe = _job()
    theirs = sorted(probe.rank, key=probe.rank.get)
    bad = {theirs[len(theirs) // 3], theirs[-2]}
    first_bad = min(bad, key=probe.rank.get)
    job = _job(lambda i, child: i in bad)
    job.first_own()
    if take:
        with pytest.raises(WasmError, match=f"bad first {first_bad} in parent"):
            job.get(theirs[-2])             # taken here (it fails): the first in order is raised
    with pytest.raises(WasmError, match=f"bad first {first_bad} in parent"):
        job.finish_first()
    with pytest.raises(WasmError, match=f"bad first {first_bad} in parent"):
        job.get(0)
    assert job.pid is None


def test_a_child_that_fails_has_its_items_redone_here(monkeypatch):
    """first(i) fails only in the child: the parent does the rest of the child's items; no error."""
    monkeypatch.setenv("WASMWELD_FORK", "1")
    probe = _job()
    theirs = sorted(probe.rank, key=probe.rank.get)
    bad, share, slow = theirs[len(theirs) // 2], set(theirs), [60]

    def fail(i, child):
        if not child and i in share and slow[0]:    # (the parent's first takings of the child's items are slow:
            slow[0] -= 1                            # the child, however late it starts on a loaded machine,
            time.sleep(0.005)                       # reaches its bad item before the parent does)
        return child and i == bad

    job = _job(fail)
    job.first_own()
    firsts = job.finish_first()
    assert [r[0] for r in firsts] == [i * i for i in range(N)] and job.pid is None
    assert all(firsts[i][2] == [i] * 2 for i in theirs[len(theirs) // 2:])      # whole: done here
    out = job.second(list(range(N)), 1)
    assert [o[:3] for o in out] == [(k, (k * k, [k] * 2), 1) for k in range(N)]
    assert all(o[3] == os.getpid() for o in out)


def test_the_parents_own_error_comes_first(monkeypatch):
    monkeypatch.setenv("WASMWELD_FORK", "1")
    job = _job(lambda i, child: i in (0, N - 1))
    with pytest.raises(WasmError, match="bad first 0 in parent"):
        job.first_own()
    assert job.pid is None


def test_one_process_stream_job_is_the_map(monkeypatch):
    monkeypatch.setenv("WASMWELD_FORK", "0")
    job = _job()
    assert not job.forks and job.rank == {}
    assert [r[0] for r in job.first_own()] == [i * i for i in range(N)]
    assert job.get(5)[2] == [5, 5] and job.finish_first()[7][0] == 49
    assert job.second([3], 0)[0][:3] == (3, (9, [3, 3]), 0)


def _pair_with_bad_body(at: int):
    """em-sqljs + em-quickjs with one body of quickjs malformed (``at`` counts from its last body)."""
    a = corpus_path("em-sqljs").read_bytes()
    m = parse(corpus_path("em-quickjs").read_bytes())
    k = len(m.code) - 1 - at
    raw = bytearray(m.code[k].raw)
    assert raw[-1] == 0x0B
    raw[-1] = 0xFF                          # an illegal opcode where its `end` was
    m.code[k] = FuncBody(bytes(raw))
    return [("em_sqljs", a), ("em_quickjs", m.encode())]


@pytest.mark.parametrize("at", [0, 1])
def test_merge_bad_body_gives_the_same_error_either_way(monkeypatch, corpus_dir, forced, at):
    pairs = _pair_with_bad_body(at)
    two, one = both_ways(monkeypatch, lambda: merge(pairs, export_conflicts="rename", warn=lambda t: None).encode())
    assert forced and two == one and one[0] == "error" and "illegal opcode" in one[2] and "em_quickjs" in one[2]


def test_merge_with_the_child_slowed_down_gives_the_same_bytes(monkeypatch, corpus_dir):
    """A child that scans slowly: the parent's analysis takes most of its bodies; the bytes stay the same."""
    import time

    import wasmweld.link.merge_gc as merge_gc

    pairs = [(n.replace("-", "_"), corpus_path(n).read_bytes()) for n in ("em-sqljs", "em-quickjs")]
    monkeypatch.setenv("WASMWELD_FORK", "0")
    one = merge(pairs, export_conflicts="rename", warn=lambda t: None).encode()
    monkeypatch.setenv("WASMWELD_FORK", "1")
    parent = os.getpid()
    real = merge_gc.TwoPhaseMap
    seen: list = []

    def slow_job(n, first, *args, **kw):
        def slow_first(i):
            if os.getpid() != parent:
                time.sleep(0.0005)
            return first(i)
        job = real(n, slow_first, *args, **kw)
        seen.append(job)
        return job

    monkeypatch.setattr(merge_gc, "TwoPhaseMap", slow_job)
    two = merge(pairs, export_conflicts="rename", warn=lambda t: None).encode()
    assert two == one and seen[0].forks and seen[0].taken > len(seen[0].rank) // 4


def test_big_sent_results_cross_the_pipe_while_the_parent_works(monkeypatch):
    """The child's runs (megabytes: more than a pipe holds) are read while the parent does its own
    share, so the child is not stopped by a full pipe: it does its whole share."""
    import time

    monkeypatch.setenv("WASMWELD_FORK", "1")
    parent = os.getpid()
    own = [True]

    def first(i):
        if os.getpid() != parent:
            time.sleep(0.0002)
        elif own[0]:
            time.sleep(0.0008)              # the parent's own share is the slow one (what it takes is quick)
        return (i, bytes([i % 251]) * 4096)

    job = TwoPhaseMap(N, first, lambda arg: (lambda k, r: (k, len(r[1]) if r[1] else None)), stream=16)
    with job:
        job.first_own()
        own[0] = False
        firsts = job.finish_first()
        assert [r[0] for r in firsts] == list(range(N))
        assert all(r[1] == bytes([i % 251]) * 4096 for i, r in enumerate(firsts))
        assert job.taken < len(job.rank) // 4


def test_invalid_input_is_the_same_error_either_way(monkeypatch, corpus_dir, forced):
    """An input that is well-formed but invalid (a body leaves a value behind): the inputs' validation,
    which now starts after the patch phase when a child takes part, names it as in one process."""
    from wasmweld.types import FuncType

    m = parse(corpus_path("em-quickjs").read_bytes())
    types = m.type_list()
    k = next(k for k in range(len(m.code) - 1, -1, -1)
             if isinstance(types[m.funcs[k]].comp, FuncType) and not types[m.funcs[k]].comp.results)
    m.code[k] = FuncBody(b"\x00\x41\x00\x0b")      # (i32.const 0) in a function that returns nothing
    pairs = [("em_sqljs", corpus_path("em-sqljs").read_bytes()), ("em_quickjs", m.encode())]
    two, one = both_ways(monkeypatch, lambda: merge(pairs, export_conflicts="rename", validate_inputs=True,
                                                    warn=lambda t: None).encode())
    assert forced and two == one and one[0] == "error" and "em_quickjs" in one[2]
