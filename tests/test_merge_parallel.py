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
from wasmweld.link.parallel import can_fork, fork_map

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork_map forks on Linux only")


def test_fork_map_is_map(monkeypatch):
    monkeypatch.setenv("WASMWELD_FORK", "1")
    assert can_fork()
    items = list(range(5000))
    parent = os.getpid()
    got = fork_map(lambda x: (x * x, os.getpid() != parent), items)
    assert [v for v, _child in got] == [x * x for x in items]
    assert any(child for _v, child in got[2500:]) and not any(child for _v, child in got[:2500])


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
            assert len(forks) == 2          # bodies scanned and renumbered by two processes
    assert len(forks) == 2 and outs[0] == outs[1]
