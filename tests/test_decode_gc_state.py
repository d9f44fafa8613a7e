"""A full decode and Python's cyclic collector (``gcscope.DecodingGC``, issue 16.4).

``parse(data, lazy=False)`` pauses the collector while it decodes; when the caller had it enabled
and nothing frozen, what the decode made ends in the oldest generation (so the next young collection
does not walk millions of list slots), the caller's young garbage cycles are collected first (not
promoted), and the collector is left as found: enabled, nothing frozen. With the collector disabled or
objects frozen by the caller, or after a failed decode, nothing is moved and no collection runs.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from wasmweld.errors import DecodeError
from wasmweld.module import parse
from wasmweld.runtime.engine import wat2wasm


def _module(n: int = 40) -> bytes:
    funcs = "".join(f"(func (result i32) (local i32) (i32.add (i32.const {i}) (local.get 0)))" for i in range(n))
    return wat2wasm(f"(module {funcs} (memory 1) (data (i32.const 0) \"abc\"))")


def _in_generation(objs: list, generation: int) -> int:
    ids = {id(o) for o in objs}
    return sum(id(o) in ids for o in gc.get_objects(generation=generation))


@pytest.fixture
def collector():
    """The collector enabled, nothing frozen, and restored after the test."""
    was = gc.isenabled()
    assert gc.get_freeze_count() == 0
    gc.enable()
    yield
    gc.unfreeze()
    (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("fork", ["0", "1"])
def test_full_decode_puts_its_objects_in_the_oldest_generation(monkeypatch, forced, collector, fork):
    monkeypatch.setenv("WASMWELD_FORK", fork)
    data = _module()
    m = parse(data, lazy=False)
    bodies = list(m.code)
    lists = [b.instrs for b in bodies]               # (the lists the decode made)
    assert all(type(x) is list and len(x) > 2 for x in lists)
    young = _in_generation(bodies + lists, 0) + _in_generation(bodies + lists, 1)
    old = _in_generation(bodies + lists, 2)
    assert young == 0 and old == len(bodies) + len(lists)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert m.encode() == data


def test_callers_young_cycles_are_collected_not_promoted(collector):
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a              # a cycle only the collector frees
    dead = weakref.ref(a)
    del a, b
    parse(_module(), lazy=False)
    assert dead() is None
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_disabled_collector_stays_disabled_and_runs_nowhere(collector):
    runs: list = []

    def count(phase, info):
        runs.append(phase)

    gc.disable()
    gc.callbacks.append(count)
    try:
        m = parse(_module(), lazy=False)
    finally:
        gc.callbacks.remove(count)
    assert not gc.isenabled() and runs == []
    assert _in_generation(list(m.code), 0) == len(m.code)        # left where they were made


def test_callers_frozen_objects_stay_frozen(collector):
    keep = [object() for _ in range(3)]
    gc.freeze()
    frozen = gc.get_freeze_count()
    m = parse(_module(), lazy=False)
    assert gc.get_freeze_count() == frozen and gc.isenabled()
    assert _in_generation(list(m.code), 2) < len(m.code)           # not moved by the decode
    del keep


def test_a_failed_decode_leaves_the_collector_as_found(collector):
    data = _module()
    m = parse(data)
    body = m.code[-1]
    at = body.offset + len(body.raw) - 1
    bad = data[:at] + b"\xff" + data[at + 1:]
    with pytest.raises(DecodeError):
        parse(bad, lazy=False)
    assert gc.isenabled() and gc.get_freeze_count() == 0
