"""Issue 16: one scan of a body, then a patch (``Scanner.body_sites`` + ``Renumberer.patch``), and the
weighted halves of ``link.parallel.fork_map``.

The merge reads each body once: the scan answers gc's question (what does it refer to?) and records
where every index immediate is; the renumbering then rewrites only those spans. Checked here: for
random maps of every space (memories moving or not, implicit memory 0 made explicit, chained maps,
removed items), ``patch`` writes exactly the bytes ``body`` writes (or the same error), and the scan's
sets are exactly ``Scanner.body``'s; on the fixtures that use every index-carrying instruction and on
real corpus bodies.
"""

from __future__ import annotations

import os
import random
import sys

import pytest

import helpers
from helpers import both_ways, outcome
from wasmweld.binary.reencode import SPACES, IndexMaps, Renumberer, Scanner
from wasmweld.link.parallel import fork_map
from wasmweld.module import parse
from wasmweld.runtime.engine import wat2wasm

WAT_DIR = helpers.FIXTURES / "wat"
FIXTURES = sorted(p.name for p in WAT_DIR.glob("renumber_*.wat"))


def _maps(rng: random.Random, spaces, n: int = 400, removal: bool = False) -> IndexMaps:
    out = {}
    for s in spaces:
        shift = rng.choice([0, 1, 100, 127, 128, 16000])
        m = [i + shift for i in range(n)]
        if rng.random() < 0.5:
            rng.shuffle(m)
        if removal:
            m = [None if rng.random() < 0.2 else v for v in m]
        out["global_" if s == "global" else s] = m
    return IndexMaps(**out)


def _renumberers(rng: random.Random):
    """Renumberers of every kind: one space, all spaces, memories fixed, chained (gc after merge), removals."""
    out = [Renumberer(_maps(rng, (s,))) for s in SPACES]
    out.append(Renumberer(_maps(rng, SPACES)))
    no_mem = [s for s in SPACES if s != "memory"]
    out.append(Renumberer(_maps(rng, no_mem)))
    out.append(Renumberer(_maps(rng, no_mem), then=_maps(rng, no_mem, removal=True)))
    out.append(Renumberer(_maps(rng, SPACES), then=_maps(rng, SPACES)))
    out.append(Renumberer(IndexMaps(memory=[1, 0, 2]), then=IndexMaps(memory=[2, 0, 1])))
    out.append(Renumberer(IndexMaps(memory=[1, 0, 2])))
    return out


def _check_bodies(bodies, rng, base_of=lambda i: 0) -> int:
    scanner = Scanner()
    compared = 0
    for memory in (True, False):
        scanned = [scanner.body_sites(raw, base_of(i), memory=memory) for i, raw in enumerate(bodies)]
        for raw, (sets, _sites) in zip(bodies, scanned):
            assert sets == scanner.body(raw)
        for r in _renumberers(rng):
            if "memory" in r.active and not memory:
                with pytest.raises(ValueError):
                    r.patch(bodies[0], scanned[0][1], memory=False)
                continue
            for raw, (_sets, sites) in zip(bodies, scanned):
                want = outcome(lambda r=r, raw=raw: r.body(raw))
                got = outcome(lambda r=r, raw=raw, sites=sites, memory=memory: r.patch(raw, sites, memory=memory))
                assert got == want
                compared += 1
    return compared


@pytest.mark.parametrize("name", FIXTURES)
def test_patch_equals_body_on_fixtures(name):
    """The fixtures use every index-carrying instruction (and locals of reference types)."""
    m = parse(wat2wasm((WAT_DIR / name).read_text()))
    assert _check_bodies([b.raw for b in m.code], random.Random(name)) > 0


def test_patch_equals_body_on_memory_forms():
    """memargs naming memories explicitly, implicit memory 0 (one-byte and padded flags) moving or not."""
    wat = ('(module (memory 1) (memory 1) (memory 1) (func (param i32) (result i32) (i32.load (local.get 0)) '
           '(i32.load 1 (local.get 0)) i32.add (i32.store 2 (local.get 0) (i32.const 1)) '
           '(memory.size 1) drop (memory.grow (i32.const 0)) drop (v128.load8_lane 1 0 (local.get 0) '
           '(v128.const i64x2 0 0)) drop))')
    raw = parse(wat2wasm(wat)).code[0].raw
    # the same body with the flags of its first (implicit-memory) load padded to two bytes
    at = raw.index(bytes([0x28, 0x02]))
    padded = raw[:at + 1] + bytes([0x82, 0x00]) + raw[at + 2:]
    assert _check_bodies([raw, padded], random.Random(7)) > 0


@pytest.mark.parametrize("cid", ["em-quickjs", "rs-tiktoken"])
def test_patch_equals_body_on_corpus(cid, corpus_dir):
    m = parse((corpus_dir / f"{cid}.wasm").read_bytes())
    bodies = [b.raw for b in m.code[:150]]
    assert _check_bodies(bodies, random.Random(cid), lambda i: m.code[i].offset or 0) > 0


def _check_table_accesses(bodies) -> int:
    """scan.table_accesses (from the sites) == passes.used.body_table_accesses (a second walk)."""
    from wasmweld.binary.scan import table_accesses
    from wasmweld.module import FuncBody
    from wasmweld.passes.used import body_table_accesses

    scanner = Scanner()
    found = 0
    for raw in bodies:
        _sets, sites = scanner.body_sites(raw)
        want = body_table_accesses(FuncBody(raw))
        assert table_accesses(raw, sites) == want
        found += len(want)
    return found


def test_table_accesses_from_sites():
    """call_indirect / return_call_indirect (type then table), every other table instruction, indices
    of one and of several bytes, on the fixtures and a module made for it."""
    bodies = [b.raw for name in FIXTURES for b in parse(wat2wasm((WAT_DIR / name).read_text())).code]
    wat = ("(module (type $t (func)) " + "".join(f"(type $u{i} (func (param i32)))" for i in range(130)) +
           "(table $a 1 funcref) " + "".join(f"(table $x{i} 1 funcref)" for i in range(130)) +
           "(elem $e func) (func $f (call_indirect $x129 (type $u129) (i32.const 0) (i32.const 0)) "
           "(call_indirect $a (type $t) (i32.const 0)) (drop (table.get $x128 (i32.const 0))) "
           "(table.copy $x5 $x129 (i32.const 0) (i32.const 0) (i32.const 0)) "
           "(table.init $x7 $e (i32.const 0) (i32.const 0) (i32.const 0)) (drop (table.size $a)) "
           "(return_call_indirect $x3 (type $u2) (i32.const 1) (i32.const 0))))")
    made = parse(wat2wasm(wat)).code[0].raw
    assert _check_table_accesses([made]) == 8        # table.copy: two
    assert _check_table_accesses(bodies) > 0


def test_table_accesses_from_sites_on_corpus(corpus_dir):
    m = parse((corpus_dir / "em-quickjs.wasm").read_bytes())
    assert _check_table_accesses([b.raw for b in m.code]) > 100


def test_patch_with_identity_maps_returns_the_body():
    raw = bytes.fromhex("00 10 03 0b")
    sites = Scanner().body_sites(raw)[1]
    assert list(sites)[:2] == [2, 3]
    assert Renumberer(IndexMaps()).patch(raw, sites) is raw
    assert Renumberer(IndexMaps(func=[0, 1, 2, 3])).patch(raw, sites) is raw
    assert Renumberer(IndexMaps(func=[0, 1, 2, 200])).patch(raw, sites) == bytes.fromhex("00 10 c8 01 0b")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork_map forks on Linux only")
def test_fork_map_split_follows_the_progress(monkeypatch, tmp_path):
    """The split is found at run time: while the parent is held up on its second item, the child
    (which works from the back) goes on, far past the middle; the result is the map."""
    import time

    monkeypatch.setenv("WASMWELD_FORK", "1")
    parent = os.getpid()
    flag = tmp_path / "child-reached-150"
    items = list(range(2000))

    def fn(x):
        in_child = os.getpid() != parent
        if in_child and x == 150:
            flag.touch()
        if not in_child and x == 1:                 # wait (bounded) for the child to get that far
            deadline = time.monotonic() + 60
            while not flag.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
        return x + 1, in_child

    got = fork_map(fn, items)
    assert [v for v, _c in got] == [x + 1 for x in items]
    in_child = [x for x, (_v, c) in zip(items, got) if c]
    assert in_child == list(range(in_child[0], 2000)) and 1 <= in_child[0] <= 150


# ----------------------------------------------------------------------------- big modules, two processes

def _calls_module(n: int) -> bytes:
    """``n`` functions, each calling the next (the last calls 0), all exported but the dead one at the end."""
    funcs = "".join(f'(func $f{i} (export "f{i}") (result i32) (call $f{(i + 1) % n}) drop (i32.const {i}))'
                    for i in range(n))
    return wat2wasm(f"(module {funcs} (func $dead (result i32) (call $f0)))")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork_map forks on Linux only")
def test_renumber_of_a_big_code_section_forks_and_writes_the_same_bytes(monkeypatch, forced):
    from wasmweld.binary.reencode import renumber_bytes

    data = _calls_module(40)
    maps = IndexMaps(func=[40 - i for i in range(41)])
    with_child, without = both_ways(monkeypatch, lambda: renumber_bytes(data, maps))
    assert len(forced) == 1 and with_child == without != data
    # the same first error, from the half the child had
    removed = IndexMaps(func=[None] + list(range(1, 41)))
    with_child, without = both_ways(monkeypatch, lambda: renumber_bytes(data, removed))
    assert with_child == without and with_child[0] == "error" and "func index 0" in with_child[2]
    last = data.rindex(bytes.fromhex("10 00 0b"))     # the dead function's call: an illegal opcode
    bad = data[:last] + bytes.fromhex("27") + data[last + 1:]
    with_child, without = both_ways(monkeypatch, lambda: renumber_bytes(bad, maps))
    assert with_child == without and with_child[0] == "error" and "code body 40" in with_child[2]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork_map forks on Linux only")
def test_gc_of_a_big_module_forks_and_gives_the_same_module(monkeypatch, forced):
    from wasmweld.passes import gc

    data = _calls_module(40)
    with_child, without = both_ways(monkeypatch, lambda: gc(parse(data)).module.encode())
    assert len(forced) >= 1 and with_child == without and len(without) < len(data)   # the renumbering
    # a malformed body gc removes is no error, with or without the child
    last = data.rindex(bytes.fromhex("10 00 0b"))
    bad = data[:last] + bytes.fromhex("27") + data[last + 1:]
    with_child, without = both_ways(monkeypatch, lambda: gc(parse(bad)).module.encode())
    assert with_child == without and with_child[0] != "error"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork_map forks on Linux only")
def test_full_decode_of_a_big_module_forks_and_decodes_the_same(monkeypatch, forced):
    data = _calls_module(40)

    def decoded(data=data):
        m = parse(data, lazy=False)
        return [(list(b.locals), [(i.name, i.args, i.raw) for i in b.instrs]) for b in m.code], m.encode()

    from wasmweld.bodydecode import stop_helper

    stop_helper()       # (building the module may have forked a helper, under a light load: forks then start here)
    forced.clear()
    with_child, without = both_ways(monkeypatch, decoded)
    assert len(forced) == 1 and with_child == without and without[1] == data
    # unpickled instructions share the opcode table's rows
    monkeypatch.setenv("WASMWELD_FORK", "1")
    m = parse(data, lazy=False)
    from wasmweld.binary.opcodes import BY_NAME
    assert m.code[-1].instrs[0].op is BY_NAME["call"]
    # a malformed body in the child's half: the same error, reported in order
    last = data.rindex(bytes.fromhex("10 00 0b"))
    bad = data[:last] + bytes.fromhex("27") + data[last + 1:]
    with_child, without = both_ways(monkeypatch, lambda: parse(bad, lazy=False))
    assert with_child == without and with_child[0] == "error" and "code body 40" in with_child[2]
