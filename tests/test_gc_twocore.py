"""Issue 16.4, gc with a second process: the bodies are read from the input where they are.

While ``m.code`` was never decoded, both processes of gc's analysis make each body they scan from
its span of the input (``passes.used._input_bodies``), so gc keeping everything leaves the code
section undecoded (``Module.is_decoded``) and writes it back raw. A code section whose framing
does not hold up (a count other than the function count, a body running past the section, bytes
left over) is decoded instead, for the error one process meets. Every case is compared with one
process (``WASMWELD_FORK=0``); the second process is forced on for any size (``forced``).
"""

from __future__ import annotations

import sys

import pytest

from helpers import both_ways
from wasmweld.module import parse
from wasmweld.passes import gc
from wasmweld.passes.used import analyze
from wasmweld.runtime.engine import wat2wasm

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the second process forks (Linux)")


def _module(n: int, dead: bool) -> bytes:
    funcs = "".join(f'(func $f{i} (export "f{i}") (result i32) (call $f{(i + 1) % n}) drop (i32.const {i}))'
                    for i in range(n))
    extra = "(func $dead (result i32) (call $f0))" if dead else ""
    return wat2wasm(f"(module (memory (export \"mem\") 1) {funcs} {extra})")


def _gc_outcome(data: bytes):
    """gc's output, whether the code section was decoded, and the used functions."""
    m = parse(data)
    res = gc(m)
    return res.module.encode(), m.is_decoded(10), sorted(analyze(parse(data)).funcs)


@linux_only
def test_gc_keeping_everything_never_decodes_the_code(monkeypatch, forced):
    data = _module(50, dead=False)
    with_child, without = both_ways(monkeypatch, lambda: _gc_outcome(data))
    assert with_child[0] == without[0] == data and with_child[2] == without[2] == list(range(50))
    assert with_child[1] is False and without[1] is True       # one process decodes it to scan it
    assert forked_some(forced)
    # gc removing a function: the same bytes either way, and smaller
    data = _module(50, dead=True)
    with_child, without = both_ways(monkeypatch, lambda: gc(parse(data)).module.encode())
    assert with_child == without and len(without) < len(data)


def forked_some(forks: list) -> bool:
    return len(forks) > 0


def test_is_decoded():
    m = parse(_module(3, dead=False))
    assert not m.is_decoded(10) and not m.is_decoded(3)
    assert len(m.code) == 3 and m.is_decoded(10)
    m.funcs = list(m.funcs)
    assert m.is_decoded(3)


def _code_payload(data: bytes) -> int:
    return next(s for s in parse(data).sections if s.id == 10).payload_offset


@linux_only
@pytest.mark.parametrize("damage", ["count+1", "count-1", "first size+1", "first size-1"])
def test_gc_broken_code_framing_same_error(monkeypatch, forced, damage):
    data = bytearray(_module(40, dead=True))
    at = _code_payload(bytes(data))
    assert data[at] == 41                   # one-byte count, then the first body's one-byte size
    if damage.startswith("count"):
        data[at] += 1 if damage.endswith("+1") else -1
    else:
        data[at + 1] += 1 if damage.endswith("+1") else -1
    bad = bytes(data)
    with_child, without = both_ways(monkeypatch, lambda: gc(parse(bad)).module.encode())
    assert with_child == without and without[0] == "error"
    with_child, without = both_ways(monkeypatch, lambda: sorted(analyze(parse(bad)).funcs))
    assert with_child == without and without[0] == "error"


@linux_only
def test_gc_of_edited_code_reads_the_edited_bodies(monkeypatch, forced):
    """Once ``m.code`` is decoded (here: edited) both processes scan its bodies, not the input's."""
    from wasmweld.binary.instr import Instr
    from wasmweld.module import FuncBody

    data = _module(40, dead=True)

    def edited() -> tuple:
        m = parse(data)
        dead = m.num_funcs - 1
        m.code[7] = FuncBody.from_instrs([], [Instr.make("call", dead), Instr.make("end")])
        return gc(m).module.encode(), m.num_funcs
    with_child, without = both_ways(monkeypatch, edited)
    assert with_child == without
    assert len(parse(without[0]).funcs) == 41          # $dead is called now: nothing removed


@linux_only
def test_no_body_is_scanned_by_both_processes(monkeypatch, forced):
    """The analysis claims the bodies it scans (the child skips them) and waits for those the child
    has reached: a body is scanned by one process (a race at the meeting point may give a few more)."""
    import wasmweld.passes.used as used

    n = 300

    def calls(i: int) -> str:
        return "".join(f"(drop (call $f{(i * 7 + k) % n}))" for k in range(60))
    funcs = "".join(f'(func $f{i} (export "f{i}") (result i32) {calls(i)} (i32.const {i}))' for i in range(n))
    data = wat2wasm(f"(module {funcs})")
    monkeypatch.setenv("WASMWELD_FORK", "1")
    seen: list = []
    real_start = used._ScanAhead.start.__func__
    monkeypatch.setattr(used._ScanAhead, "start", classmethod(lambda cls, m: seen.append(real_start(cls, m))
                                                             or seen[-1]))
    real_close = used._ScanAhead.close

    def drain_then_close(self) -> None:      # every answer the child would give, then end it
        self.POLL_EVERY = 0.0
        while not self.stream.done:
            self._receive()
        real_close(self)
    monkeypatch.setattr(used._ScanAhead, "close", drain_then_close)
    here: list[int] = []
    real_refs = used.body_refs
    monkeypatch.setattr(used, "body_refs", lambda b: here.append(b.offset) or real_refs(b))
    m = parse(data)
    got = used.analyze(m)
    assert sorted(got.funcs) == list(range(n))
    ahead = seen[0]
    offsets = [b.offset for b in parse(data).code]
    by_child = {offsets[d] for d in range(n) if ahead.rank[d] < len(ahead.got) and ahead.got[ahead.rank[d]]}
    assert len(here) == len(set(here))                      # nothing twice here
    assert len(by_child & set(here)) <= 3 and len(by_child | set(here)) == n
