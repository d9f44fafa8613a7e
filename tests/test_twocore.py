"""Issue 16.4: full decoding and gc of a big module with a second process give what one process gives.

Decoding: a forked child decodes part of the code section and sends it back packed
(``binary.bodypack``: each distinct instruction once, as its bytes); the parent's bodies are then
the very lists, of the same shared ``Instr`` objects, that one process decodes, and a bad body gives
the same first error wherever it sits. gc: a forked child scans bodies ahead and streams their
references (``passes.used._ScanAhead``); the analysis, its result and its first error are those of
one process. ``FuncBody`` keeps a decoded list as its own original until it is handed out, so an
untouched body encodes raw without comparing its items, and a changed one is still re-encoded.
Every case runs with the second process forced on (``WASMWELD_FORK=1``, any size counts as big)
and off, and the outcomes are compared.
"""

from __future__ import annotations

import os
import pickle
import sys
import time

import pytest

import helpers
from helpers import both_ways
from wasmweld.binary.bodypack import pack_bodies, unpack_bodies
from wasmweld.binary.instr import Instr, decode_body, instr_of_bytes
from wasmweld.errors import DecodeError
from wasmweld.module import parse
from wasmweld.runtime.engine import wat2wasm

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the second process forks (Linux)")
WAT_DIR = helpers.FIXTURES / "wat"


def _rich_module(copies: int = 6) -> bytes:
    """The renumbering fixtures' functions (every index-carrying instruction, reference-typed locals,
    blocks, br_table, SIMD, exceptions) repeated, so both processes get a varied share."""
    m = parse(wat2wasm((WAT_DIR / "renumber_core.wat").read_text()))
    m.decode_all()
    for _ in range(copies - 1):
        for f, body in zip(list(m.funcs[:len(m.code)]), list(m.code)):
            m.funcs.append(f)
            m.code.append(type(body)(raw=body.raw))
    return m.encode()


_SMALL_IMMEDIATE = {"local.get", "local.set", "local.tee", "global.get", "i32.const", "call", "br", "br_if",
                    "block", "loop", "if"}


def _table_held(ins) -> bool:
    """Instructions the decoder keeps in tables rather than its (bounded, sometimes cleared) cache."""
    return len(ins.raw) == 1 or (len(ins.raw) == 2 and ins.name in _SMALL_IMMEDIATE)


def _decoded(data: bytes):
    m = parse(data, lazy=False)
    return [(list(b.locals), [(i.name, i.args, i.raw) for i in b.instrs]) for b in m.code], m.encode()


# ----------------------------------------------------------------------------- packing

def test_pack_unpack_gives_the_shared_objects_decode_gives():
    data = _rich_module(2)
    bodies = [decode_body(b.raw, b.offset) for b in parse(data).code]
    payload = pack_bodies([*bodies, None])
    got = unpack_bodies(payload)
    assert got[-1] is None and len(got) == len(bodies) + 1
    for (locals_, instrs), (l2, i2) in zip(bodies, got[:-1]):
        assert [(i.op, i.args, i.raw) for i in i2] == [(i.op, i.args, i.raw) for i in instrs]
        # the shared objects (always for the table-held ones; the others while the cache keeps them)
        assert all(a is b for a, b in zip(instrs, i2) if _table_held(a))
        assert l2 == locals_ and l2 is not locals_ and l2._raw == locals_._raw
    # a payload is a pickle that may name only the two constructors
    evil = pickle.dumps([os.getcwd])
    with pytest.raises(pickle.UnpicklingError):
        unpack_bodies(evil)


def test_parts_read_as_they_arrive_share_one_memo(tmp_path):
    import mmap

    from wasmweld.binary.bodypack import BodyPacker, BodyReader

    bodies = [decode_body(b.raw, b.offset) for b in parse(_rich_module(2)).code]
    # the writer's and the reader's views of one shared area (two processes' views, here two maps)
    path = tmp_path / "area"
    path.write_bytes(bytes(1 << 20))
    with open(path, "r+b") as f:
        wmap, rmap = mmap.mmap(f.fileno(), 0), mmap.mmap(f.fileno(), 0)
    packer, reader = BodyPacker(wmap), BodyReader(rmap)
    got = []
    sizes = []
    for k in range(0, len(bodies), 3):
        at = wmap.tell()
        packer.add((k, bodies[k:k + 3]))
        sizes.append(wmap.tell() - at)
        got.extend(reader.parts_to(wmap.tell()))
    assert [k for k, _ in got] == list(range(0, len(bodies), 3))
    flat = [b for _, part in got for b in part]
    assert len(flat) == len(bodies)
    for (l1, i1), (l2, i2) in zip(bodies, flat):
        assert l1 == l2 and [(i.op, i.args, i.raw) for i in i1] == [(i.op, i.args, i.raw) for i in i2]
    # the later parts refer back to instructions the first ones wrote
    fresh = BodyPacker()
    fresh.add((3, bodies[3:6]))
    assert sizes[1] < len(fresh.getvalue())
    wmap.close()
    rmap.close()


def test_instr_of_bytes():
    padded = bytes.fromhex("10 83 80 80 80 00")
    ins = instr_of_bytes(padded)
    assert ins == Instr.make("call", 3) and ins.raw == padded
    assert instr_of_bytes(b"\x0b").name == "end" and instr_of_bytes(b"\x1a").name == "drop"
    assert instr_of_bytes(b"\x41\x05") is decode_body(b"\x00\x41\x05\x0b")[1][0]
    for bad in (b"\x10", b"\x41\x05\x1a", b"\xff"):
        with pytest.raises(DecodeError):
            instr_of_bytes(bad)


# ----------------------------------------------------------------------------- full decode, two processes

@linux_only
def test_full_decode_with_a_second_process_is_identical(monkeypatch, forced):
    from wasmweld.bodydecode import stop_helper

    data = _rich_module()
    stop_helper()       # (building the module may have forked a helper, under a light load: forks then start here)
    forced.clear()
    with_child, without = both_ways(monkeypatch, lambda: _decoded(data))
    assert len(forced) == 1 and with_child == without and without[1] == data
    import wasmweld.bodydecode as bodydecode
    import wasmweld.module as module

    here: list[int] = []
    parent = os.getpid()

    def counted(raw, base=0):
        if os.getpid() == parent:           # (the parent slowed down: the child gets parts however busy the machine)
            here.append(1)
            time.sleep(0.002)
        return decode_body(raw, base)

    monkeypatch.setattr(module, "decode_body", counted)
    monkeypatch.setattr(bodydecode, "decode_body", counted)
    monkeypatch.setenv("WASMWELD_FORK", "1")
    m = parse(data, lazy=False)
    assert 0 < len(here) < len(m.code)          # the rest came back from the child
    last = m.code[-1]
    assert not last.modified and last.instrs[-1].name == "end"
    small = [i for b in m.code[len(m.code) // 2:] for i in b.instrs if _table_held(i)]
    assert small and all(instr_of_bytes(i.raw) is i for i in small)     # this process's shared objects


@linux_only
@pytest.mark.parametrize("where", ["first", "last"])
def test_same_first_error_from_either_process(monkeypatch, forced, where):
    data = _rich_module()
    m = parse(data)
    body = m.code[0] if where == "first" else m.code[-1]
    at = body.offset + len(body.raw) - 1                 # its final end: an illegal opcode instead
    bad = data[:at] + b"\xff" + data[at + 1:]
    with_child, without = both_ways(monkeypatch, lambda: parse(bad, lazy=False))
    assert with_child == without and with_child[0] == "error" and "illegal opcode" in with_child[2]
    # two bad bodies: the first one is reported
    last = m.code[-1]
    at2 = last.offset + len(last.raw) - 1
    worse = bad[:at2] + b"\xff" + bad[at2 + 1:] if where == "first" else bad
    with_child, without = both_ways(monkeypatch, lambda: parse(worse, lazy=False))
    assert with_child == without and with_child[0] == "error"


@linux_only
def test_data_count_error_and_data_section_after_the_bodies(monkeypatch, forced):
    """memory.init without a data count section, in the child's part; a bad data section comes
    after a bad body and is reported only when every body is fine."""
    funcs = "".join(f"(func (export \"f{i}\") (i32.const {i}) drop)" for i in range(30))
    wat = (f"(module (memory 1) {funcs} (func (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1)))"
           f" (data \"abc\"))")
    data = wat2wasm(wat)
    m = parse(data)
    assert m.datacount is not None
    # drop the data count section: the last body's memory.init then needs it
    sec = next(s for s in m.sections if s.id == 12)
    no_count = data[:sec.offset] + data[sec.end:]
    with_child, without = both_ways(monkeypatch, lambda: parse(no_count, lazy=False))
    assert with_child == without and with_child[0] == "error" and "data count section required" in with_child[2]
    # a data section whose segment runs past its end: that error, with and without the child
    dsec = next(s for s in m.sections if s.id == 11)
    bad_data = data[:dsec.end - 4] + b"\x7f" + data[dsec.end - 3:]
    with_child, without = both_ways(monkeypatch, lambda: parse(bad_data, lazy=False))
    assert with_child == without and with_child[0] == "error"


def test_parts_read_from_a_shared_area_up_to_the_end_the_writer_gave():
    import mmap

    from wasmweld.binary.bodypack import BodyPacker, BodyReader

    bodies = [decode_body(b.raw, b.offset) for b in parse(_rich_module(2)).code]
    area = mmap.mmap(-1, 1 << 20)
    packer, reader = BodyPacker(area), BodyReader(area)
    ends = []
    for k in range(0, len(bodies), 4):
        packer.add((k, bodies[k:k + 4]))
        ends.append(area.tell())
    area.seek(0)                # (one process here: the writer and the reader share the map's position)
    got = reader.parts_to(ends[1])                      # two parts so far
    assert [k for k, _ in got] == [0, 4] and area.tell() == ends[1]
    got += reader.parts_to(ends[-1])
    flat = [b for _, part in got for b in part]
    assert [(list(a), [i.raw for i in b]) for a, b in flat] == [(list(a), [i.raw for i in b]) for a, b in bodies]
    with pytest.raises(pickle.UnpicklingError):         # an end behind what was read
        reader.parts_to(ends[0])
    area.seek(0)
    with pytest.raises(pickle.UnpicklingError):         # an end inside a part
        BodyReader(area).parts_to(ends[0] - 1)
    # a part that does not fit: the writer fails, nothing past the last whole part is claimed
    small = mmap.mmap(-1, ends[0] + 10)
    full = BodyPacker(small)
    full.add((0, bodies[:4]))
    with pytest.raises(ValueError):
        full.add((4, bodies[4:8]))


@linux_only
def test_full_decode_when_the_childs_area_is_too_small(monkeypatch, forced):
    """The child's packed parts go into a shared memory map; a child that runs out of room there stops,
    and the parent decodes the rest itself: the same module. A map that cannot be made: one process."""
    import wasmweld.bodydecode as module

    data = _rich_module()
    want = _decoded(data)
    monkeypatch.setattr(module, "AREA_PER_BYTE", 0)
    for slack in (64, 4096):                            # nothing fits / the first parts fit
        monkeypatch.setattr(module, "AREA_SLACK", slack)
        module.stop_helper()                            # (a kept helper's bigger area would take the job)
        forced.clear()
        monkeypatch.setenv("WASMWELD_FORK", "1")
        assert _decoded(data) == want and len(forced) == 1
    monkeypatch.setattr(module, "AREA_PER_BYTE", 1 << 62)      # no such map: one process, no fork
    forced.clear()
    assert _decoded(data) == want and forced == []


# ----------------------------------------------------------------------------- untouched bodies encode raw

def test_decoded_bodies_stay_raw_until_changed():
    data = _rich_module(2)
    m = parse(data, lazy=False)
    assert not any(b.modified for b in m.code) and m.encode() == data
    body = m.code[1]
    instrs = body.instrs                     # handed out: its originals are kept from now on
    old = instrs[0]
    instrs[0] = Instr.make("nop")
    assert body.modified
    out = m.encode()
    assert out != data and parse(out, lazy=False).code[1].instrs[0].name == "nop"
    instrs[0] = old                          # the very object again: unmodified
    assert not body.modified and m.encode() == data
    body.locals.append((1, body.locals[0][1] if body.locals else parse(wat2wasm(
        "(module (func (local i32)))"), lazy=False).code[0].locals[0][1]))
    assert body.modified and m.encode() != data
    # a new list with the same objects is no change; an equal but different instruction is one
    m2 = parse(data, lazy=False)
    b2 = m2.code[2]
    b2.instrs = list(b2.instrs)
    assert not b2.modified
    body3 = next(b for b in m2.code if any(i.name == "call" for i in b.instrs))
    k = next(j for j, i in enumerate(body3.instrs) if i.name == "call")
    same = Instr(body3.instrs[k].op, body3.instrs[k].args)     # equal, but not the decoded object
    assert same == body3.instrs[k] and same is not body3.instrs[k]
    body3.instrs[k] = same
    assert body3.modified and parse(m2.encode(), lazy=False).code[m2.code.index(body3)].instrs[k] == same


# ----------------------------------------------------------------------------- gc, two processes

def _calls_module(n: int, extra: str = "") -> bytes:
    funcs = "".join(f'(func $f{i} (export "f{i}") (result i32) (call $f{(i + 1) % n}) drop (i32.const {i}))'
                    for i in range(n))
    return wat2wasm(f"(module (memory 1) {funcs} (func $dead (result i32) (call $f0)) {extra})")


def _analysis(data: bytes, wait: bool, monkeypatch):
    """analyze() of ``data``; ``wait``: let the child finish first, so every answer comes from it."""
    import wasmweld.passes.used as used

    scanned: list[int] = []
    real = used.body_refs
    monkeypatch.setattr(used, "body_refs", lambda b: scanned.append(1) or real(b))
    if wait:
        real_start = used._ScanAhead.start.__func__

        def start(cls, m):
            ahead = real_start(cls, m)
            if ahead is not None:
                ahead.POLL_EVERY = 0.0
                while not ahead.stream.done:
                    ahead._receive()
            return ahead

        monkeypatch.setattr(used._ScanAhead, "start", classmethod(start))
    u = used.analyze(parse(data))
    return {s: sorted(u.space(s)) for s in used.SPACES}, len(scanned)


@linux_only
@pytest.mark.parametrize("wait", [True, False])
def test_gc_analysis_with_a_second_process_is_identical(monkeypatch, forced, wait):
    data = _calls_module(60)
    monkeypatch.setenv("WASMWELD_FORK", "0")
    want, scanned_alone = _analysis(data, False, monkeypatch)
    monkeypatch.undo()
    import wasmweld.link.parallel as par
    monkeypatch.setattr(par, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setenv("WASMWELD_FORK", "1")
    got, scanned_here = _analysis(data, wait, monkeypatch)
    assert got == want and scanned_alone == 60       # not the dead function
    if wait:
        assert scanned_here == 0            # every body's references came from the child
    from wasmweld.passes import gc
    with_child, without = both_ways(monkeypatch, lambda: gc(parse(data)).module.encode())
    assert with_child == without and len(without) < len(data)


@linux_only
def test_gc_analysis_when_the_child_answers_nothing(monkeypatch, forced):
    """Every function waits for the child, which never answers: they are taken back latest-first and
    scanned here; the used sets are the same, and an error is the one-process first error."""
    import wasmweld.passes.used as used

    data = _calls_module(60, extra='(func (export "g") (call $f7) (call $f50))')
    monkeypatch.setenv("WASMWELD_FORK", "0")
    want = _analysis(data, False, monkeypatch)[0]
    monkeypatch.setattr(used._ScanAhead, "arrived", lambda self: 0)
    monkeypatch.setattr(used._ScanAhead, "_receive", lambda self: None)
    monkeypatch.setenv("WASMWELD_FORK", "1")
    got, scanned_here = _analysis(data, False, monkeypatch)
    assert got == want and scanned_here == 61       # every reached body, here (not the dead one)
    m = parse(data)
    worse = bytearray(data)
    for k in (5, 40):
        at = m.code[k].offset + len(m.code[k].raw) - 1
        worse[at] = 0xFF
    with_child, without = both_ways(monkeypatch, lambda: used.analyze(parse(bytes(worse))))
    assert with_child == without and with_child[0] == "error"


@linux_only
def test_gc_same_first_error_and_unreached_bad_body(monkeypatch, forced):
    from wasmweld.passes import gc

    data = _calls_module(40)
    # a malformed body gc removes is no error
    last = data.rindex(bytes.fromhex("10 00 0b"))
    bad = data[:last] + bytes.fromhex("ff") + data[last + 1:]
    with_child, without = both_ways(monkeypatch, lambda: gc(parse(bad)).module.encode())
    assert with_child == without and with_child[0] != "error"
    # reached malformed bodies: the analysis meets the same one first
    m = parse(data)
    worse = bytearray(data)
    for k in (3, 35):
        at = m.code[k].offset + len(m.code[k].raw) - 1
        worse[at] = 0xFF
    with_child, without = both_ways(monkeypatch, lambda: gc(parse(bytes(worse))).module.encode())
    assert with_child == without and with_child[0] == "error"


@pytest.mark.parametrize("cid", ["em-quickjs"])
@linux_only
def test_corpus_decode_and_gc_with_a_second_process(monkeypatch, forced, cid, corpus_dir):
    from wasmweld.passes import gc

    data = (corpus_dir / f"{cid}.wasm").read_bytes()
    with_child, without = both_ways(monkeypatch, lambda: _decoded(data))
    assert with_child == without and without[1] == data
    with_child, without = both_ways(monkeypatch, lambda: gc(parse(data)).module.encode())
    assert with_child == without


# ----------------------------------------------------------------------------- renumbering, two processes

def _renumbered(data: bytes):
    from wasmweld.binary.reencode import IndexMaps, renumber_bytes

    n = parse(data).num_funcs
    return renumber_bytes(data, IndexMaps(func=list(range(n - 1, -1, -1))))


@linux_only
def test_renumber_streams_the_childs_parts(monkeypatch, forced):
    """The child's parts arrive as it does them (it starts before the sections ahead of the code); the
    parent renumbers only its own share."""
    from wasmweld.binary.renumber import Renumberer

    data = _rich_module()
    monkeypatch.setenv("WASMWELD_FORK", "0")
    want = _renumbered(data)
    here: list[int] = []
    real = Renumberer._body_into
    parent = os.getpid()

    def body_into(self, *a):
        if os.getpid() == parent:       # the parent slowed down: the child surely gets parts, even on a busy machine
            here.append(1)
            time.sleep(0.005)
        return real(self, *a)

    monkeypatch.setattr(Renumberer, "_body_into", body_into)
    monkeypatch.setenv("WASMWELD_FORK", "1")
    forced.clear()
    assert _renumbered(data) == want != data
    assert len(forced) == 1 and len(here) < len(parse(data).code)     # (the child may even do them all)


@linux_only
@pytest.mark.parametrize("how", ["child fails", "damaged answer"])
def test_renumber_when_the_child_gives_nothing_usable(monkeypatch, forced, how):
    """A child that fails, or whose answer does not load: its parts are renumbered here, the same bytes."""
    import pickle as pickle_module
    from wasmweld.binary.renumber import Renumberer

    data = _rich_module()
    monkeypatch.setenv("WASMWELD_FORK", "0")
    want = _renumbered(data)
    if how == "child fails":
        parent = os.getpid()
        real = Renumberer._body_into

        def body_into(self, *a):
            if os.getpid() != parent:
                raise RuntimeError("the child fails")
            return real(self, *a)

        monkeypatch.setattr(Renumberer, "_body_into", body_into)
    else:
        monkeypatch.setattr(pickle_module, "loads", lambda *a, **k: (_ for _ in ()).throw(ValueError("damaged")))
    monkeypatch.setenv("WASMWELD_FORK", "1")
    forced.clear()
    assert _renumbered(data) == want and len(forced) == 1


@linux_only
def test_ended_children_are_reaped_later(monkeypatch, forced):
    """The parent does not wait for a child's exit (ForkStream.close); a later call reaps it: none piles up."""
    import wasmweld.link.parallel as par

    data = _rich_module(2)
    want = _renumbered(data)
    monkeypatch.setenv("WASMWELD_FORK", "1")
    forced.clear()
    for _ in range(4):                  # (renumbering forks a child per job)
        assert _renumbered(data) == want
    assert len(forced) == 4 and len(par._ENDING) <= 4
    stream = par.fork_stream(lambda send: None)
    stream.close()
    deadline = time.monotonic() + 30
    while par._ENDING and time.monotonic() < deadline:
        time.sleep(0.05)
        stream.close()                  # (a closed stream: only the reaping)
    assert par._ENDING == []


@linux_only
def test_renumber_error_before_the_code_section_with_the_child_started(monkeypatch, forced):
    """The child starts on the code before the sections ahead of it are rewritten: an error in one of
    them (a removed function that is exported) is the one-process error, and the child is ended."""
    from wasmweld.binary.reencode import IndexMaps, renumber_bytes
    import wasmweld.link.parallel as par

    data = _rich_module()
    m = parse(data)
    exported = next(e.index for e in m.exports if e.kind == 0)
    maps = IndexMaps(func=[None if i == exported else i for i in range(m.num_funcs)])
    forced.clear()
    with_child, without = both_ways(monkeypatch, lambda: renumber_bytes(data, maps))
    assert with_child == without and with_child[0] == "error" and len(forced) == 1
    assert len(par._ENDING) <= 1
