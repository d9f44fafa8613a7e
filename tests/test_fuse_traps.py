"""Traps of fused adapters: the hot-path checks against Python's codecs, and compositions.

The inline UTF-8 validator of :mod:`wasmweld.fuse.fastcopy` (SIMD blocks + scalar tail) runs in a
small core module under wasmtime on thousands of byte strings (valid text of every width, then
the same with bytes cut, flipped, replaced by overlong forms, surrogates and code points past
U+10FFFF) and must trap exactly when ``bytes.decode("utf-8")`` (which is what the canonical ABI's
lift does) raises; the inline copy must copy every length and offset exactly.
"""

from __future__ import annotations

import random

import pytest

pytest.importorskip("wasmtime")
import wasmtime  # noqa: E402

from wasmweld.fuse.emit import CORE, Emitter  # noqa: E402
from wasmweld.fuse.fastcopy import SMALL_COPY, copy_bytes, validate_utf8  # noqa: E402
from wasmweld.module import Export, FuncBody, Module  # noqa: E402
from wasmweld.types import ExternKind, FuncType, Limits, MemoryType, RecGroup, SubType  # noqa: E402

_cfg = wasmtime.Config()
_cfg.wasm_multi_memory = True
ENGINE = wasmtime.Engine(_cfg)


def _module(funcs: list[tuple[str, list[str], Emitter]], memories: int) -> bytes:
    m = Module()
    for k in range(memories):
        m.memories.append(MemoryType(Limits(1)))
        m.exports.append(Export(f"mem{k}", ExternKind.MEMORY, k))
    for i, (name, params, e) in enumerate(funcs):
        m.types.append(RecGroup((SubType(FuncType(tuple(CORE[t] for t in params), ())),)))
        m.funcs.append(i)
        m.code.append(FuncBody.from_instrs(e.body_locals(), e.code))
        m.exports.append(Export(name, ExternKind.FUNC, i))
    return m.encode()


@pytest.fixture(scope="module")
def machine():
    """``check(p, n)`` (validate_utf8, twice in a loop to catch state kept between strings) and
    ``copy(dst, src, n)`` (memory 0 -> memory 1)."""
    chk = Emitter(["i32", "i32", "i32", "i32"])
    k = chk.new("i32")
    # validate (p, n) then (p2, n2) in the same function body run twice over: a loop as a list has
    chk.op("block", None)
    chk.op("loop", None)
    validate_utf8(chk, 0, 1, 0)
    validate_utf8(chk, 2, 3, 0)
    chk.get(k)
    chk.op("i32.const", 1)
    chk.op("i32.add")
    chk.op("local.tee", k)
    chk.op("i32.const", 2)
    chk.op("i32.lt_u")
    chk.op("br_if", 0)
    chk.op("end")
    chk.op("end")
    cp = Emitter(["i32", "i32", "i32"])
    copy_bytes(cp, 0, 1, 2, 1, 0)
    data = _module([("check", ["i32"] * 4, chk), ("copy", ["i32"] * 3, cp)], 2)
    store = wasmtime.Store(ENGINE)
    inst = wasmtime.Instance(store, wasmtime.Module(ENGINE, data), [])
    ex = inst.exports(store)
    return store, ex["check"], ex["copy"], ex["mem0"], ex["mem1"]


def _samples(rng: random.Random) -> list[bytes]:
    chars = ["a", "~", "\x00", "\x7f", "é", "ß", "\u07ff", "\u0800", "€", "\ud7ff", "\ue000", "\uffff",
             "\U00010000", "💡", "\U0010ffff"]
    valid = [b""]
    for n in list(range(1, 40)) + [63, 64, 65, 200, 1000]:
        valid.append("".join(rng.choice(chars) for _ in range(n)).encode()[:rng.randrange(1, 4 * n + 1)])
        valid.append("".join(rng.choice(chars) for _ in range(n)).encode())
        valid.append(("x" * n + rng.choice(chars)).encode())
    bad = [b"\x80", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
           b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\xfe",
           b"\xc3", b"\xe2\x82", b"\xf0\x9f\x92", b"\xc3\xa9\xa9", b"\xe2\x28\xa1"]
    out = list(valid)
    for _ in range(2500):
        s = bytearray(rng.choice(valid) or b"abc")
        op = rng.randrange(4)
        at = rng.randrange(len(s) + 1)
        if op == 0:
            s[at:at] = rng.choice(bad)
        elif op == 1 and s:
            s[rng.randrange(len(s))] = rng.randrange(256)
        elif op == 2:
            s = s[:at]
        else:
            s[at:at] = bytes([rng.randrange(0x80, 0x100)])
        out.append(bytes(s))
    return out


def test_utf8_validator_traps_exactly_where_python_decoding_fails(machine):
    store, check, _, mem0, _ = machine
    rng = random.Random(12)
    seen = {True: 0, False: 0}
    for s in _samples(rng):
        try:
            s.decode("utf-8")
            ok = True
        except UnicodeDecodeError:
            ok = False
        seen[ok] += 1
        # the string at an odd and an even address, after a valid string that leaves state behind
        prefix = "é".encode() * 9 + b"\xe2\x82"[:0]
        at = 100 + rng.randrange(3)
        mem0.write(store, prefix, 40)
        mem0.write(store, s, at)
        try:
            check(store, 40, len(prefix), at, len(s))
            got = True
        except wasmtime.Trap:
            got = False
        assert got == ok, (s, ok)
    assert seen[True] > 200 and seen[False] > 1000


def test_inline_copy_every_length_and_offset(machine):
    store, _, copy, mem0, mem1 = machine
    rng = random.Random(5)
    src = bytes(rng.randrange(256) for _ in range(4096))
    mem0.write(store, src, 0)
    for n in list(range(0, SMALL_COPY + 20)) + [200, 1000]:
        s, d = rng.randrange(0, 2000), rng.randrange(0, 2000)
        mem1.write(store, b"\xaa" * (n + 16), d)
        copy(store, d, s, n)
        assert mem1.read(store, d, d + n) == src[s:s + n]
        assert mem1.read(store, d + n, d + n + 16) == b"\xaa" * 16      # nothing past the end


# -- may_leave: a component's realloc or post-return must not call out while an adapter runs it

LEAVE_WIT = """package test:leave;

interface log { note: func(x: u32) -> u32; }
interface api {
  set-mode: func(m: u32);
  take: func(s: string) -> u32;
  give: func() -> string;
  plain: func() -> u32;
}
world q { export log; }
world prov { import log; export api; }
world cons { import log; import api; export run: func(mode: u32, which: u32) -> u32; }
"""

LEAVE_Q = """(module (func (export "test:leave/log#note") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))"""

#: mode 1: the realloc calls log.note; mode 2: the post-return of give does
LEAVE_PROVIDER = """(module
  (import "test:leave/log" "note" (func $note (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $mode (mut i32) (i32.const 0))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (if (i32.eq (global.get $mode) (i32.const 1)) (then (drop (call $note (i32.const 1))))) (i32.const 256))
  (func (export "test:leave/api#set-mode") (param i32) (global.set $mode (local.get 0)))
  (func (export "test:leave/api#take") (param i32 i32) (result i32) (local.get 1))
  (func (export "test:leave/api#give") (result i32)
    (i32.store (i32.const 16) (i32.const 32)) (i32.store (i32.const 20) (i32.const 2)) (i32.const 16))
  (func (export "cabi_post_test:leave/api#give") (param i32)
    (if (i32.eq (global.get $mode) (i32.const 2)) (then (drop (call $note (i32.const 2))))))
  (func (export "test:leave/api#plain") (result i32) (call $note (i32.const 40)))
  (data (i32.const 32) "hi"))
"""

#: mode 3: the consumer's own realloc (lowering give's result) calls log.note
LEAVE_CONSUMER = """(module
  (import "test:leave/log" "note" (func $note (param i32) (result i32)))
  (import "test:leave/api" "set-mode" (func $set (param i32)))
  (import "test:leave/api" "take" (func $take (param i32 i32) (result i32)))
  (import "test:leave/api" "give" (func $give (param i32)))
  (import "test:leave/api" "plain" (func $plain (result i32)))
  (memory (export "memory") 1)
  (global $mode (mut i32) (i32.const 0))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (if (i32.eq (global.get $mode) (i32.const 3)) (then (drop (call $note (i32.const 3))))) (i32.const 512))
  (func (export "run") (param $mode i32) (param $which i32) (result i32)
    (global.set $mode (local.get $mode))
    (call $set (local.get $mode))
    (if (i32.eqz (local.get $which)) (then (return (call $take (i32.const 100) (i32.const 3)))))
    (if (i32.eq (local.get $which) (i32.const 1))
      (then (call $give (i32.const 64)) (return (i32.load (i32.const 68)))))
    (call $plain))
  (data (i32.const 100) "abc"))
"""


def test_may_leave_traps_like_the_composition():
    """(mode, which): a realloc or post-return run by an adapter that calls another component
    traps in the composition ("cannot leave component instance") and in the fused module; the same
    call from a function body, or a realloc that is not called, does not."""
    import fuse_fixtures as F
    from test_fuse_perf import build_component, runner

    from wasmweld.fuse import fuse

    q = build_component(LEAVE_WIT, "q", LEAVE_Q)
    prov = F.compose(build_component(LEAVE_WIT, "prov", LEAVE_PROVIDER), q)
    comp = F.compose(build_component(LEAVE_WIT, "cons", LEAVE_CONSUMER), prov, q)
    fused = fuse(comp, emit="component").encode()
    outcome = {}
    for mode in range(4):
        for which in range(3):
            got = []
            for data in (comp, fused):
                try:
                    got.append(runner(data, "run")(mode, which))
                except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
                    assert "wasm trap" in str(e) or "cannot leave" in str(e), e
                    got.append("trap")
            assert got[0] == got[1], (mode, which, got)
            outcome[mode, which] = got[0]
    traps = {k for k, v in outcome.items() if v == "trap"}
    assert traps == {(1, 0), (2, 1), (3, 1)}
    assert outcome[0, 0] == 3 and outcome[0, 1] == 2 and outcome[0, 2] == 41


# -- reentrance: component instantiation is acyclic, so a component is re-entered only through the
# host; wasmtime (the reference) lets the host re-enter a component that is on the stack, and so
# must the fused module (no flag of ours may trap there)

REENTER_WIT = """package test:re;

interface api { call-cb: func() -> u32; ping: func() -> u32; }
world prov { import cb: func() -> u32; export api; }
world cons { import api; export run: func() -> u32; export hello: func() -> u32; export ping2: func() -> u32; }
world fused { import cb: func() -> u32; export run: func() -> u32; export hello: func() -> u32;
              export ping2: func() -> u32; }
"""

REENTER_PROVIDER = """(module
  (import "$root" "cb" (func $cb (result i32)))
  (func (export "test:re/api#call-cb") (result i32) (i32.add (call $cb) (i32.const 1000)))
  (func (export "test:re/api#ping") (result i32) (i32.const 7)))
"""

REENTER_CONSUMER = """(module
  (import "test:re/api" "call-cb" (func $cc (result i32)))
  (import "test:re/api" "ping" (func $ping (result i32)))
  (func (export "run") (result i32) (call $cc))
  (func (export "ping2") (result i32) (call $ping))
  (func (export "hello") (result i32) (i32.const 42)))
"""


def _run_reentering(data: bytes, inner: str):
    """``run()`` with the host's ``cb`` calling the export ``inner`` of the same instance."""
    from wasmtime import component as wc

    store = wasmtime.Store(ENGINE)
    linker = wc.Linker(ENGINE)
    box = {}

    def cb(_store):
        f = box["inst"].get_func(store, box["inst"].get_export_index(store, inner))
        r = f(store)
        f.post_return(store)
        return r
    linker.root().add_func("cb", cb)
    inst = box["inst"] = linker.instantiate(store, wc.Component(ENGINE, data))
    run = inst.get_func(store, inst.get_export_index(store, "run"))
    r = run(store)
    run.post_return(store)
    return r


def test_reentrance_through_the_host_like_the_composition():
    """The host re-enters the consumer (``hello``) and, through it, the provider (``ping2``) while
    both are on the stack: the composition returns, and the fused module returns the same."""
    import fuse_fixtures as F
    from test_fuse_perf import build_component

    from wasmweld.fuse import fuse

    comp = F.compose(build_component(REENTER_WIT, "cons", REENTER_CONSUMER),
                     build_component(REENTER_WIT, "prov", REENTER_PROVIDER))
    fused = F.wrap_core(fuse(comp, emit="core").encode(), "fused", REENTER_WIT)
    for inner, want in (("hello", 1042), ("ping2", 1007)):
        assert _run_reentering(comp, inner) == _run_reentering(fused, inner) == want
