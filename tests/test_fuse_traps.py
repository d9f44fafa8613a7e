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
from wasmweld.fuse.fastcopy import SMALL_COPY, copy_bytes, validate_utf8, validate_utf16  # noqa: E402
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
    c16 = Emitter(["i32", "i32"])
    validate_utf16(c16, 0, 1, 0)
    data = _module([("check", ["i32"] * 4, chk), ("copy", ["i32"] * 3, cp), ("check16", ["i32"] * 2, c16)], 2)
    store = wasmtime.Store(ENGINE)
    inst = wasmtime.Instance(store, wasmtime.Module(ENGINE, data), [])
    ex = inst.exports(store)
    return store, ex["check"], ex["copy"], ex["mem0"], ex["mem1"], ex["check16"]


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


def _decodes(b: bytes, codec: str) -> bool:
    """Whether Python's strict decoder (the canonical ABI's reference lifting) accepts ``b``."""
    try:
        b.decode(codec)
        return True
    except UnicodeDecodeError:
        return False


def test_utf8_validator_traps_exactly_where_python_decoding_fails(machine):
    store, check, _, mem0, _, _ = machine
    rng = random.Random(12)
    seen = {True: 0, False: 0}
    for s in _samples(rng):
        ok = _decodes(s, "utf-8")
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
        if 0 < len(s) < 40:                   # at the very end of the memory (no 16-byte read past it)
            end = 65536 - len(s)
            mem0.write(store, s, end)
            try:
                check(store, 40, len(prefix), end, len(s))
                got = True
            except wasmtime.Trap:
                got = False
            assert got == ok, (s, ok, "at the end")
    assert seen[True] > 200 and seen[False] > 1000


def test_utf16_validator_traps_exactly_on_lone_surrogates(machine):
    store, _, _, mem0, _, check16 = machine
    rng = random.Random(16)
    units = [0x41, 0xE9, 0xD7FF, 0xE000, 0xFFFF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF]
    seen = {True: 0, False: 0}
    for _ in range(3000):
        n = rng.choice([0, 1, 2, 7, 8, 9, 15, 16, 17, 40, 100])
        weights = [20, 5, 5, 5, 5] + [1 if rng.random() < 0.5 else 0] * 4
        us = rng.choices(units, weights, k=n)
        if rng.random() < 0.5 and n >= 2:                 # a valid pair somewhere
            k = rng.randrange(n - 1)
            us[k:k + 2] = [0xD83D, 0xDCA1]
        b = b"".join(u.to_bytes(2, "little") for u in us)
        ok = _decodes(b, "utf-16-le")
        seen[ok] += 1
        mem0.write(store, b, 200)
        try:
            check16(store, 200, n)
            got = True
        except wasmtime.Trap:
            got = False
        assert got == ok, (us, ok)
    assert seen[True] > 300 and seen[False] > 300


def test_inline_copy_every_length_and_offset(machine):
    store, _, copy, mem0, mem1, _ = machine
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
    wrapped = F.wrap_core(fuse(comp, emit="core").encode(), "fused", REENTER_WIT)
    fused = fuse(comp, emit="component").encode()
    for inner, want in (("hello", 1042), ("ping2", 1007)):
        assert _run_reentering(comp, inner) == _run_reentering(fused, inner) == _run_reentering(wrapped, inner) == want


# -- invalid values of every family, returned by a provider (lifted from its memory or flat
# results) and passed by a consumer (flat parameters): the fused module traps, or not, and returns
# what the composition does

_M = "i32.const 64"                            # the provider's results area


def _st(at: int, v: int, op: str = "i32.store") -> str:
    return f"i32.const {at} i32.const {v} {op} "


#: name -> (WIT result type, provider body); bodies with memory results write at 64 and return 64
INVALID = {
    "bool-2": ("bool", "i32.const 2"), "u8-300": ("u8", "i32.const 300"), "s8-200": ("s8", "i32.const 200"),
    "u16-big": ("u16", "i32.const 70000"), "s16-big": ("s16", "i32.const 40000"),
    "char-big": ("char", "i32.const 0x110000"), "char-surrogate": ("char", "i32.const 0xDFFF"),
    "char-ok": ("char", "i32.const 0x10FFFF"), "flags-extra": ("small", "i32.const 0xFF"),
    "flags32": ("wide", "i32.const -1"), "enum-3": ("color", "i32.const 3"),
    "f32-nan": ("f32", "i32.const 0x7FA00001 f32.reinterpret_i32"),
    "string-oob": ("string", _st(64, -256) + _st(68, 300) + _M),
    "string-len": ("string", _st(64, 0) + _st(68, -0x80000000) + _M),
    "string-bad": ("string", _st(64, 300) + _st(68, 2) + _st(300, 0x28C3, "i32.store16") + _M),
    "string-ok": ("string", _st(64, 300) + _st(68, 2) + _st(300, 0xA9C3, "i32.store16") + _M),
    "ret-oob": ("string", "i32.const -16"), "ret-align": ("string", "i32.const 66"),
    "option-disc": ("option<u32>", _st(64, 2, "i32.store8") + _M),
    "result-disc": ("result<u32, string>", _st(64, 2, "i32.store8") + _M),
    "option-bool": ("option<bool>", _st(64, 1, "i32.store8") + _st(65, 2, "i32.store8") + _M),
    "tuple-char": ("tuple<char, u8>", _st(64, 0xD800) + _M),
    "list-string-bad": ("list<string>", _st(64, 200) + _st(68, 1) + _st(200, 300) + _st(204, 2)
                        + _st(300, 0x28C3, "i32.store16") + _M),
    "list-char": ("list<char>", _st(64, 200) + _st(68, 1) + _st(200, 0x110000) + _M),
    "list-len": ("list<u64>", _st(64, 8) + _st(68, 0x20000001) + _M),
    "list-align": ("list<u32>", _st(64, 201) + _st(68, 1) + _M),
    "option-flags": ("option<perms>", _st(64, 1, "i32.store8") + _st(66, 0xFFFF, "i32.store16") + _M),
    "nested-disc": ("option<option<u8>>", _st(64, 1, "i32.store8") + _st(65, 3, "i32.store8") + _M),
    "variant-disc": ("shape", _st(64, 3, "i32.store8") + _M),
    "variant-payload": ("shape", _st(64, 1, "i32.store8") + _st(72, 0x110000) + _M),
}

#: the same for a provider whose strings are UTF-16 or latin1+UTF-16 (transcoded to the consumer's UTF-8)
INVALID16 = {
    "u16-surrogate": ("string", _st(64, 300) + _st(68, 1) + _st(300, 0xDC00, "i32.store16") + _M),
    "u16-align": ("string", _st(64, 301) + _st(68, 1) + _M),
    "u16-len": ("string", _st(64, 0) + _st(68, -0x80000000) + _M),
    "u16-tagged": ("string", _st(64, 300) + _st(68, -0x7FFFFFFF) + _st(300, 0xE9, "i32.store16") + _M),
    "u16-tagged-oob": ("string", _st(64, 300) + _st(68, -1) + _M),
    "u16-ok": ("string", _st(64, 300) + _st(68, 1) + _st(300, 0xE9, "i32.store16") + _M),
    "u16-tagged-surrogate": ("string", _st(64, 300) + _st(68, -0x7FFFFFFF) + _st(300, 0xD800, "i32.store16") + _M),
}

INVALID_TYPES = """
  enum color { red, green, blue }
  flags small { r, w, x }
  flags perms { a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11 }
  flags wide { w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15, w16, w17, w18, w19,
               w20, w21, w22, w23, w24, w25, w26, w27, w28, w29, w30, w31 }
  variant shape { empty, letter(char), num(u64) }
"""


def _invalid_wit(cases: dict) -> str:
    funcs = "".join(f"  {n}: func() -> {t};\n" for n, (t, _) in cases.items())
    funcs += "  take: func(s: string) -> u32;\n"
    return (f"package test:bad;\n\ninterface api {{\n{INVALID_TYPES}{funcs}}}\n"
            f"interface fwd {{\n{INVALID_TYPES}{funcs}}}\n"
            "world prov { export api; }\n"
            "world cons { import api; export fwd; export take-bad: func(which: u32) -> u32; }\n")


def _flat_result(wit_type: str) -> str | None:
    """The one flat core result of the functions above, or None for results in memory."""
    return {"bool": "i32", "u8": "i32", "s8": "i32", "u16": "i32", "s16": "i32", "char": "i32", "small": "i32",
            "color": "i32", "f32": "f32"}.get(wit_type)


def _invalid_pair(cases: dict, encoding: str, consumer_encoding: str = "utf8") -> bytes:
    import fuse_fixtures as F
    from test_fuse_perf import build_component

    prov = "(module\n" + F.ALLOC
    cons = "(module\n"
    defs = ""
    for n, (t, body) in cases.items():
        flat = _flat_result(t) or ("i32" if t != "wide" else "i32")
        in_mem = _flat_result(t) is None and t != "wide"
        prov += f'  (func (export "test:bad/api#{n}") (result {flat}) {body})\n'
        if in_mem:
            cons += f'  (import "test:bad/api" "{n}" (func ${n} (param i32)))\n'
            defs += f'  (func (export "test:bad/fwd#{n}") (result i32) (call ${n} (i32.const 128)) (i32.const 128))\n'
        else:
            cons += f'  (import "test:bad/api" "{n}" (func ${n} (result {flat})))\n'
            defs += f'  (func (export "test:bad/fwd#{n}") (result {flat}) (call ${n}))\n'
    prov += '  (func (export "test:bad/api#take") (param i32 i32) (result i32) (local.get 1))\n'
    # take-bad(which): 0 valid, 1 ill-formed UTF-8, 2 out of bounds, 3 length past 4 GiB
    cons += ('  (import "test:bad/api" "take" (func $take (param i32 i32) (result i32)))\n' + F.ALLOC + defs
             + '  (data (i32.const 300) "ok\\c3\\28")\n'
             '  (func (export "test:bad/fwd#take") (param i32 i32) (result i32) (call $take (local.get 0) (local.get 1)))\n'
             '  (func (export "take-bad") (param i32) (result i32)\n'
             '    (if (i32.eqz (local.get 0)) (then (return (call $take (i32.const 300) (i32.const 2)))))\n'
             '    (if (i32.eq (local.get 0) (i32.const 1)) (then (return (call $take (i32.const 300) (i32.const 4)))))\n'
             '    (if (i32.eq (local.get 0) (i32.const 2)) (then (return (call $take (i32.const 65530) (i32.const 9)))))\n'
             '    (call $take (i32.const 300) (i32.const -1)))\n)\n')
    wit = _invalid_wit(cases)
    return F.compose(build_component(wit, "cons", cons, consumer_encoding),
                     build_component(wit, "prov", prov + ")\n", encoding))


def _outcome(call, *args):
    try:
        return call(*args)
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        assert "wasm trap" in str(e) or "wasm backtrace" in str(e), e
        return "trap"


@pytest.mark.parametrize("encoding,consumer", [("utf8", "utf8"), ("utf16", "utf8"), ("compact-utf16", "utf8"),
                                               ("utf16", "utf16"), ("compact-utf16", "compact-utf16")])
def test_invalid_values_of_every_family_like_the_composition(encoding, consumer):
    """Every case gives the same outcome fused and composed (compared as plain values); the cases
    that must trap, trap."""
    from test_fuse import _key
    from test_fuse_perf import runner

    from wasmweld.fuse import fuse

    cases = dict(INVALID) if encoding == "utf8" else dict(INVALID16)
    comp = _invalid_pair(cases, encoding, consumer)
    fused = fuse(comp, emit="component").encode()
    got = {}
    for n in cases:
        a = _outcome(runner(comp, n, "test:bad/fwd"))
        b = _outcome(runner(fused, n, "test:bad/fwd"))
        assert _key(a) == _key(b), (n, a, b)
        got[n] = a
    for which in range(4):
        a = _outcome(runner(comp, "take-bad"), which)
        b = _outcome(runner(fused, "take-bad"), which)
        assert a == b, (which, a, b)
        got[f"take-{which}"] = a
    traps = {n for n, v in got.items() if v == "trap"}
    must = {"u16-align", "u16-tagged-oob", "u16-tagged-surrogate", "take-2", "take-3"}
    if consumer == "utf8":
        must.add("take-1")
    if encoding == "utf16":             # (as latin1+utf16, these are a latin1 "\0" and a tagged "")
        must |= {"u16-surrogate", "u16-len"}
    if encoding == "utf8":
        must = {"char-big", "char-surrogate", "enum-3", "string-oob", "string-len", "string-bad", "ret-oob",
                "ret-align", "option-disc", "result-disc", "tuple-char", "list-string-bad", "list-char", "list-len",
                "list-align", "nested-disc", "variant-disc", "variant-payload", "take-1", "take-2", "take-3"}
    assert must <= traps, must - traps
