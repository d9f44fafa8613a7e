"""Issue 16.5: the merge's second process (link/parallel.fork_map) changes nothing but the time.

fork_map must give exactly ``[fn(x) for x in items]``, redo the child's half in the parent when the
child fails (so errors are raised as without it), and a merge with the child forced gives the same
bytes as one without.
"""

from __future__ import annotations

import os
import sys

import pytest

from helpers import corpus_path
from wasmweld.errors import WasmError
from wasmweld.link import merge
from wasmweld.link.parallel import TwoPhaseMap, can_fork, fork_map

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork_map forks on Linux only")


def test_fork_map_is_map(monkeypatch, tmp_path):
    """The parent takes items from the front, the child from the back, until they meet."""
    import time

    monkeypatch.setenv("WASMWELD_FORK", "1")
    assert can_fork()
    items = list(range(3000))
    parent = os.getpid()
    flag = tmp_path / "child-started"

    def fn(x):
        if os.getpid() != parent:
            if x == 2999:                           # (the child's first item)
                flag.touch()
        elif x == 1:                                # the parent waits (bounded) until the child works
            deadline = time.monotonic() + 60
            while not flag.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
        return x * x, os.getpid() != parent

    got = fork_map(fn, items)
    assert [v for v, _child in got] == [x * x for x in items]
    in_child = [x for x, (_v, c) in zip(items, got) if c]
    assert in_child and in_child == list(range(in_child[0], 3000)) and in_child[0] >= 1


def test_fork_map_error_comes_from_the_parent(monkeypatch):
    monkeypatch.setenv("WASMWELD_FORK", "1")
    parent = os.getpid()

    def fn(x):
        if x == 4000:
            raise WasmError(f"bad item {x} in {'parent' if os.getpid() == parent else 'child'}")
        return x

    with pytest.raises(WasmError, match="bad item 4000 in parent"):
        fork_map(fn, range(5000))
    monkeypatch.setenv("WASMWELD_FORK", "0")
    assert not can_fork()
    assert fork_map(lambda x: os.getpid(), range(3000)) == [parent] * 3000


def test_merge_with_and_without_the_child_agree(monkeypatch, corpus_dir):
    pairs = [(n.replace("-", "_"), corpus_path(n).read_bytes()) for n in ("em-sqljs", "em-quickjs")]
    forks = []
    real_fork = os.fork

    def counting_fork():
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", counting_fork)
    outs = []
    for forced in ("1", "0"):
        monkeypatch.setenv("WASMWELD_FORK", forced)
        outs.append(merge(pairs, export_conflicts="rename", warn=lambda text: None).encode())
        if forced == "1":
            assert len(forks) == 1          # bodies scanned and renumbered by one child (TwoPhaseMap)
    assert len(forks) == 1 and outs[0] == outs[1]


# ----------------------------------------------------------------------------- TwoPhaseMap

def _two_phase(n: int, fail_first=None, fail_second=None, pickle_arg=True):
    """A TwoPhaseMap whose first result is (x*x, pid, a big private part) and second (k, first, arg, pid)."""
    parent = os.getpid()

    def first(i):
        if fail_first is not None and fail_first(i, os.getpid() != parent):
            raise WasmError(f"bad first {i} in {'parent' if os.getpid() == parent else 'child'}")
        return (i * i, os.getpid(), [i] * 3)

    def make_second(arg):
        def second(k, r):
            if fail_second is not None and fail_second(k, os.getpid() != parent):
                raise WasmError(f"bad second {k} in {'parent' if os.getpid() == parent else 'child'}")
            return (k, None if r is None else (r[0], r[2]), arg if pickle_arg else arg(), os.getpid())
        return second

    return TwoPhaseMap(n, first, make_second, send=lambda r: (r[0], r[1], None))


def test_two_phase_map_is_two_maps(monkeypatch):
    monkeypatch.setenv("WASMWELD_FORK", "1")
    parent = os.getpid()
    n = 3000
    job = _two_phase(n)
    assert job.forks
    with job:
        firsts = job.first()
        assert [r[0] for r in firsts] == [i * i for i in range(n)]
        child_items = [i for i, r in enumerate(firsts) if r[1] != parent]
        assert 1000 < len(child_items) < 2000 and 0 not in child_items
        assert all(firsts[i][2] is None for i in child_items)      # only send(...) came back
        keys = [5, "extra", *range(n - 1, 0, -3)]
        out = job.second(keys, 42, index=lambda k: k if isinstance(k, int) else None)
    assert [o[:3] for o in out] == [(k, None if not isinstance(k, int) else (k * k, [k] * 3), 42) for k in keys]
    # each item's second phase ran where its first did (the child kept its private part)
    assert {k for k, _r, _a, pid in out if pid != parent} == set(child_items) & set(keys)
    assert job.pid is None


def test_two_phase_map_child_failures_are_redone_in_the_parent(monkeypatch):
    monkeypatch.setenv("WASMWELD_FORK", "1")
    n = 3000
    with pytest.raises(WasmError, match="bad first 2999 in parent"):
        _two_phase(n, fail_first=lambda i, child: i == n - 1).first()
    job = _two_phase(n, fail_second=lambda k, child: child)          # the child fails its second phase
    firsts = job.first()
    out = job.second(list(range(n)), "arg")
    assert [o[:3] for o in out] == [(k, (k * k, [k] * 3), "arg") for k in range(n)]
    assert all(o[3] == os.getpid() for o in out) and firsts[-1][2] is None
    job = _two_phase(n, pickle_arg=False)                               # an arg the child cannot get
    job.first()
    out = job.second(list(range(n)), lambda: "local")
    assert [o[2] for o in out] == ["local"] * n and all(o[3] == os.getpid() for o in out)
    with pytest.raises(WasmError, match="bad second 2998 in parent"):
        job = _two_phase(n, fail_second=lambda k, child: k == n - 2)
        job.first()
        job.second(list(range(n)), 0)


def test_two_phase_map_in_one_process(monkeypatch):
    monkeypatch.setenv("WASMWELD_FORK", "0")
    job = _two_phase(3000)
    assert not job.forks
    firsts = job.first()
    assert all(r[1] == os.getpid() and r[2] is not None for r in firsts)
    assert job.second([1, 2], "a") == [(1, (1, [1] * 3), "a", os.getpid()), (2, (4, [2] * 3), "a", os.getpid())]


def test_two_phase_map_started_early(monkeypatch):
    """start() forks before the parent's own share; an error in the item it warms up with is raised by
    first(), in order, as without it."""
    monkeypatch.setenv("WASMWELD_FORK", "1")
    job = _two_phase(3000)
    job.start()
    assert job.pid is not None
    assert [r[0] for r in job.first()] == [i * i for i in range(3000)]
    job.close()
    job = _two_phase(3000, fail_first=lambda i, child: i == 0)
    job.start()                                     # item 0 fails here: nothing raised yet
    with pytest.raises(WasmError, match="bad first 0 in parent"):
        job.first()
    assert job.pid is None


def test_can_fork_when_a_core_is_idle(monkeypatch, tmp_path):
    """Without WASMWELD_FORK: a child when the load average is below the cores, or when nothing else is
    runnable right now (the average remembers this process's own last runs); not on a busy machine."""
    import wasmweld.link.parallel as par

    monkeypatch.delenv("WASMWELD_FORK", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    proc = tmp_path / "loadavg"
    monkeypatch.setattr(par, "_LOADAVG", str(proc))
    cases = [(0.5, "1/300", True), (2.4, "1/300", True), (2.4, "3/300", False), (5.0, "2/300", False)]
    for avg, running, expected in cases:
        monkeypatch.setattr(os, "getloadavg", lambda avg=avg: (avg, avg, avg))
        proc.write_text(f"{avg} {avg} {avg} {running} 4242\n")
        assert can_fork() is expected, (avg, running)
    proc.unlink()                       # unreadable: no child
    assert not can_fork()
