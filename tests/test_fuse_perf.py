"""The bench composition of bench/bench_fuse.py: a consumer that calls its provider n times in Wasm.

``bench_pair()`` is a consumer/provider composition whose consumer exports
``bench-string(n) -> u64`` and ``bench-points(n) -> u64``: each makes ``n`` cross-component calls
(a 1 KB UTF-8 string, a 100-element ``list<point>``) to the provider's echo functions and sums
what came back, so one call from the host measures ``n`` consumer -> provider calls with no host
marshalling on the path. The tests check the fixture itself (fused and composed give the same
sums, equal to the sums computed here from the inputs); the timings are in bench/bench_fuse.py only.

``lists_pair()`` exercises the fast paths of the adapters' list loops (fuse/adapter.py ``_elements``,
fuse/fastcopy.py): lists of records mixing plain fields (copied for all elements at once) with
fields checked one element at a time (bool, char, string, flags, a record with padding), crafted
valid and invalid lists lifted from the provider, and generated lists sent both ways, compared
with the composition. Only the padding bytes between fields may differ: the fused adapter copies
the caller's, the composition leaves the callee's (no value reads them).
"""

from __future__ import annotations

import pytest

import fuse_fixtures as F

BENCH_WIT = """package test:bench;

interface api {
  record point { tag: u8, x: s32, y: f64, name: string }
  echo-string: func(s: string) -> string;
  echo-points: func(p: list<point>) -> list<point>;
}

world bprov { export api; }
world bcons {
  import api;
  export bench-string: func(n: u32) -> u64;
  export bench-points: func(n: u32) -> u64;
}
"""

#: the 1 KB string: mostly ASCII text with a few two- and three-byte characters (valid UTF-8)
STRING = ("Grüße aus Köln, naïve café — " * 40).encode()[:1024]
while True:                      # cut on a character boundary, pad with ASCII to exactly 1024 bytes
    try:
        STRING.decode()
        break
    except UnicodeDecodeError:
        STRING = STRING[:-1]
STRING = STRING + b"." * (1024 - len(STRING))
NPOINTS = 100
NAME = b"point-name"

#: a bump allocator that the owner resets after each call (``$bump`` back to 4096)
_ALLOC = """
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 4096))
  (func $realloc (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $r i32)
    (local.set $r (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get 2))))
    (global.set $bump (i32.add (local.get $r) (local.get 3)))
    (if (i32.gt_u (global.get $bump) (i32.shl (memory.size) (i32.const 16))) (then unreachable))
    (local.get $r))
"""

PROVIDER = """(module""" + _ALLOC + """
  ;; echo: the argument was copied into our memory by the caller's adapter; hand it back
  (func (export "test:bench/api#echo-string") (param i32 i32) (result i32)
    (i32.store (i32.const 64) (local.get 0)) (i32.store (i32.const 68) (local.get 1)) (i32.const 64))
  (func (export "test:bench/api#echo-points") (param i32 i32) (result i32)
    (i32.store (i32.const 64) (local.get 0)) (i32.store (i32.const 68) (local.get 1)) (i32.const 64))
  (func $reset (param i32) (global.set $bump (i32.const 4096)))
  (export "cabi_post_test:bench/api#echo-string" (func $reset))
  (export "cabi_post_test:bench/api#echo-points" (func $reset))
)
"""


def _data(at: int, b: bytes) -> str:
    esc = "".join("\\%02x" % x for x in b)
    return f'  (data (i32.const {at}) "{esc}")\n'


def consumer_wat() -> str:
    """bench-string: sum of the returned lengths and first bytes; bench-points: sum of the
    returned tags, x and name lengths (the list built once at 8192: 24-byte records)."""
    pts = 8192
    return ("""(module
  (import "test:bench/api" "echo-string" (func $echo_s (param i32 i32 i32)))
  (import "test:bench/api" "echo-points" (func $echo_p (param i32 i32 i32)))""" + _ALLOC
            + _data(1024, STRING) + _data(2048, NAME) + f"""
  (func $init (local $i i32) (local $a i32)
    (block $b (loop $l (br_if $b (i32.ge_u (local.get $i) (i32.const {NPOINTS})))
      (local.set $a (i32.add (i32.const {pts}) (i32.mul (local.get $i) (i32.const 24))))
      (i32.store8 (local.get $a) (local.get $i))
      (i32.store offset=4 (local.get $a) (i32.sub (i32.const 0) (local.get $i)))
      (f64.store offset=8 (local.get $a) (f64.div (f64.convert_i32_u (local.get $i)) (f64.const 3)))
      (i32.store offset=16 (local.get $a) (i32.const 2048))
      (i32.store offset=20 (local.get $a) (i32.const {len(NAME)}))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l))))
  (start $init)
  (func (export "bench-string") (param $n i32) (result i64) (local $sum i64) (local $p i32)
    (block $b (loop $l (br_if $b (i32.eqz (local.get $n)))
      (call $echo_s (i32.const 1024) (i32.const {len(STRING)}) (i32.const 32))
      (local.set $p (i32.load (i32.const 32)))
      (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (i32.add (i32.load (i32.const 36))
        (i32.add (i32.load8_u (local.get $p)) (i32.load8_u offset={len(STRING) - 1} (local.get $p)))))))
      (global.set $bump (i32.const 4096))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))
    (local.get $sum))
  (func (export "bench-points") (param $n i32) (result i64) (local $sum i64) (local $p i32) (local $i i32)
    (block $b (loop $l (br_if $b (i32.eqz (local.get $n)))
      (call $echo_p (i32.const {pts}) (i32.const {NPOINTS}) (i32.const 32))
      (local.set $p (i32.load (i32.const 32)))
      (local.set $i (i32.load (i32.const 36)))
      (block $c (loop $m (br_if $c (i32.eqz (local.get $i)))
        (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (i32.add (i32.load8_u (local.get $p))
          (i32.add (i32.load offset=4 (local.get $p)) (i32.load offset=20 (local.get $p)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 24)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br $m)))
      (global.set $bump (i32.const 4096))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))
    (local.get $sum))
)
""")


def expected(func: str, n: int) -> int:
    """What ``func(n)`` returns when every value comes back intact."""
    if func == "bench-string":
        return n * (len(STRING) + STRING[0] + STRING[-1])
    one = sum(i + ((-i) & 0xFFFFFFFF) + len(NAME) for i in range(NPOINTS)) & 0xFFFFFFFF
    return n * one


#: a component of a world of a WIT text around a WAT core module (cached build)
build_component = F.build_wit


def bench_pair() -> bytes:
    """The composition (consumer + provider) the in-Wasm bench rows call."""
    return F.compose(build_component(BENCH_WIT, "bcons", consumer_wat()), build_component(BENCH_WIT, "bprov", PROVIDER))


def runner(data: bytes, name: str, iface: str | None = None):
    """``call(*args)`` of export ``name`` (of the root, or of the exported instance ``iface``) of a
    fresh instance of component ``data`` (post-return called after each call)."""
    import wasmtime
    from wasmtime import component as wc

    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = True
    eng = wasmtime.Engine(cfg)
    store = wasmtime.Store(eng)
    inst = wc.Linker(eng).instantiate(store, wc.Component(eng, data))
    idx = None if iface is None else inst.get_export_index(store, iface)
    f = inst.get_func(store, inst.get_export_index(store, name, idx))

    def call(*args):
        r = f(store, *args)
        f.post_return(store)
        return r
    return call


@pytest.mark.parametrize("func", ["bench-string", "bench-points"])
def test_bench_composition_fused_and_composed_agree(func):
    pytest.importorskip("wasmtime")
    from wasmweld.fuse import fuse

    comp = bench_pair()
    fused = fuse(comp, emit="component").encode()
    for n in (0, 1, 7):
        assert runner(comp, func)(n) == runner(fused, func)(n) == expected(func, n)


# -- lists of records: the element loop's fast paths (plain fields copied for all elements at once,
# the source memory's size read once per list, short strings checked with scalar loads) against
# the composition, for host-generated values and for crafted invalid lists

_LIST_TYPES = """
  flags fl { f0, f1, f2 }
  record inner { a: u8, b: u16 }
  record rec { f: bool, c: char, s: string, x: u64, fl: fl, inr: inner, t: u8, pt: tuple<u32, u32> }
"""
LISTS_WIT = """package test:lists;

interface api {""" + _LIST_TYPES + """
  get: func(which: u32) -> list<rec>;
  echo: func(l: list<rec>) -> list<rec>;
}

interface fwd {""" + _LIST_TYPES + """
  run: func(which: u32) -> list<rec>;
  raw: func(which: u32) -> list<u8>;
  roundtrip: func(l: list<rec>) -> list<rec>;
}

world lprov { export api; }
world lcons { import api; export fwd; }
"""

#: ``rec``'s layout (CanonicalABI.md): field offsets, size; the bytes no field covers are padding
REC = ("record", ("bool", "char", "string", "u64", ("flags", 3), ("record", ("u8", "u16")), "u8",
                  ("record", ("u32", "u32"))))
REC_OFFS, REC_SIZE = [0, 4, 8, 16, 24, 26, 30, 32], 40
PADDING = {1, 2, 3, 25, 27, 31}
#: where the provider keeps the crafted lists (its second page: its allocator stays in the first)
CASES_AT = 65536


def _rec_bytes(f: int, c: int, s: tuple[int, int], x: int, fl: int, inr: tuple[int, int], t: int,
               pt: tuple[int, int]) -> bytes:
    import struct

    out = bytearray(b"\xee" * REC_SIZE)            # padding the adapters must not rely on
    struct.pack_into("<B", out, 0, f)
    struct.pack_into("<I", out, 4, c)
    struct.pack_into("<II", out, 8, *s)
    struct.pack_into("<Q", out, 16, x)
    struct.pack_into("<B", out, 24, fl)
    struct.pack_into("<BxH", out, 26, *inr)
    struct.pack_into("<B", out, 30, t)
    struct.pack_into("<II", out, 32, *pt)
    return bytes(out)


#: which -> (elements as _rec_bytes arguments with strings as bytes, whether the list must trap);
#: a string given as an int pair is a raw (pointer, length)
LIST_CASES = {
    0: ([(1, ord("a"), b"", 0, 0, (0, 0), 0, (0, 0)),
         (0, 0x1F4A1, "naïve café ✓ 💡".encode(), 2**64 - 1, 5, (255, 65535), 7, (2**32 - 1, 1)),
         (1, 0x10FFFF, b"x" * 15, 1, 7, (1, 2), 255, (3, 4)), (0, 0xE000, b"y" * 16, 2, 1, (3, 4), 1, (5, 6)),
         (1, 0x7F, "é".encode() * 9, 3, 2, (5, 6), 2, (7, 8))], False),
    1: ([(0, 65, b"ok", 0, 0, (0, 0), 0, (0, 0)), (2, 66, b"normalised", 9, 0xFF, (1, 1), 1, (1, 1))], False),
    2: ([(0, 65, b"ok", 0, 0, (0, 0), 0, (0, 0))] * 2 + [(0, 0xD800, b"z", 0, 0, (0, 0), 0, (0, 0))], True),
    3: ([(0, 65, b"ok", 0, 0, (0, 0), 0, (0, 0))] * 2 + [(0, 65, b"ab\xc3\x28", 0, 0, (0, 0), 0, (0, 0))], True),
    4: ([(0, 65, b"ok", 0, 0, (0, 0), 0, (0, 0))] * 2 + [(0, 65, (0x1FFF0, 300), 0, 0, (0, 0), 0, (0, 0))], True),
    5: ([(0, 65, b"ok", 0, 0, (0, 0), 0, (0, 0))] * 2 + [(0, 65, b"valid-prefix-\xed\xa0\x80-tail", 0, 0, (0, 0), 0,
                                                         (0, 0))], True),
    6: ([], False),
    7: ([(0, 65, b"abc\xe2\x82", 0, 0, (0, 0), 0, (0, 0))], True),
}


def _case_data(which: int) -> tuple[int, int, bytes]:
    """(list address, element count, bytes at that address) of a crafted list."""
    base = CASES_AT + which * 2048
    elems, _ = LIST_CASES[which]
    strings, recs = bytearray(), bytearray()
    str_at = base + 1024
    for args in elems:
        s = args[2]
        if isinstance(s, tuple):
            ptr_len = s
        else:
            ptr_len = (str_at + len(strings), len(s))
            strings += s
        recs += _rec_bytes(*args[:2], ptr_len, *args[3:])
    return base, len(elems), bytes(recs) + bytes(1024 - len(recs)) + bytes(strings)


def lists_pair() -> bytes:
    """A consumer whose exports take a list<rec> from its provider (``run``, and ``raw``: the bytes
    of that list in the consumer's memory) or send one there and back (``roundtrip``)."""
    table = b"".join(_case_data(w)[0].to_bytes(4, "little") + _case_data(w)[1].to_bytes(4, "little")
                     for w in sorted(LIST_CASES))
    prov = "(module" + _ALLOC + _data(512, table) + "".join(_data(_case_data(w)[0], _case_data(w)[2])
                                                           for w in sorted(LIST_CASES)) + """
  (func (export "test:lists/api#get") (param i32) (result i32)
    (i64.store (i32.const 64) (i64.load (i32.add (i32.const 512) (i32.shl (local.get 0) (i32.const 3)))))
    (i32.const 64))
  (func (export "test:lists/api#echo") (param i32 i32) (result i32)
    (i32.store (i32.const 64) (local.get 0)) (i32.store (i32.const 68) (local.get 1)) (i32.const 64))
  (func $reset (param i32) (global.set $bump (i32.const 4096)))
  (export "cabi_post_test:lists/api#get" (func $reset))
  (export "cabi_post_test:lists/api#echo" (func $reset))
)
"""
    cons = """(module
  (import "test:lists/api" "get" (func $get (param i32 i32)))
  (import "test:lists/api" "echo" (func $echo (param i32 i32 i32)))""" + _ALLOC + f"""
  (func (export "test:lists/fwd#run") (param i32) (result i32) (call $get (local.get 0) (i32.const 32)) (i32.const 32))
  (func (export "test:lists/fwd#raw") (param i32) (result i32)
    (call $get (local.get 0) (i32.const 32))
    (i32.store (i32.const 48) (i32.load (i32.const 32)))
    (i32.store (i32.const 52) (i32.mul (i32.load (i32.const 36)) (i32.const {REC_SIZE})))
    (i32.const 48))
  (func (export "test:lists/fwd#roundtrip") (param i32 i32) (result i32)
    (call $echo (local.get 0) (local.get 1) (i32.const 32)) (i32.const 32))
  (func $reset (param i32) (global.set $bump (i32.const 4096)))
  (export "cabi_post_test:lists/fwd#run" (func $reset))
  (export "cabi_post_test:lists/fwd#raw" (func $reset))
  (export "cabi_post_test:lists/fwd#roundtrip" (func $reset))
)
"""
    return F.compose(build_component(LISTS_WIT, "lcons", cons), build_component(LISTS_WIT, "lprov", prov))


def _call(comp, name: str, *args, iface: str | None = "test:lists/fwd", logs: list | None = None):
    """``name(*args)`` (of the exported instance ``iface``, or of the root) on a fresh instance of
    the compiled component ``comp``: the result, or "trap"; ``logs``: the host's ``log`` appends there."""
    import wasmtime
    from wasmtime import component as wc

    eng, component = comp
    store = wasmtime.Store(eng)
    linker = wc.Linker(eng)
    if logs is not None:
        with linker.root() as root:
            root.add_func("log", lambda _s, x: logs.append(x))
    inst = linker.instantiate(store, component)
    idx = None if iface is None else inst.get_export_index(store, iface)
    f = inst.get_func(store, inst.get_export_index(store, name, idx))
    try:
        r = f(store, *args)
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        assert "wasm trap" in str(e) or "wasm backtrace" in str(e) or "cannot leave" in str(e), e
        return "trap"
    f.post_return(store)
    return r


def _compiled(*datas: bytes) -> list:
    """Each component compiled, as ``(engine, component)`` pairs for :func:`_call`."""
    import wasmtime
    from wasmtime import component as wc

    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = True
    eng = wasmtime.Engine(cfg)
    return [(eng, wc.Component(eng, data)) for data in datas]


@pytest.fixture(scope="module")
def lists():
    """(composed, fused): each an (engine, compiled component) pair."""
    pytest.importorskip("wasmtime")
    from wasmweld.fuse import fuse

    comp = lists_pair()
    return _compiled(comp, fuse(comp, emit="component").encode())


def test_crafted_lists_of_records_lift_like_the_composition(lists):
    """Each crafted list (valid; a bool 2 and flags with unused bits set; an invalid char, bad
    UTF-8 in a short and in a long string, a string out of bounds, in the last element; empty)
    gives the same values and the same bytes in the consumer's memory (padding aside; string
    pointers included, so the reallocs ran in the same order), or traps in both."""
    from test_fuse import _key

    composed, fused = lists
    for which, (elems, must_trap) in LIST_CASES.items():
        a, b = _call(composed, "run", which), _call(fused, "run", which)
        assert _key(a) == _key(b), (which, a, b)
        assert (a == "trap") == must_trap, which
        ra, rb = _call(composed, "raw", which), _call(fused, "raw", which)
        assert (ra == "trap") == (rb == "trap") == must_trap, which
        if must_trap:
            continue
        assert len(ra) == len(rb) == REC_SIZE * len(elems)
        mask = [k % REC_SIZE not in PADDING for k in range(len(ra))]
        assert [x for x, m in zip(ra, mask) if m] == [x for x, m in zip(rb, mask) if m], which
        if which == 1:                                  # normalised: bool 2 -> 1, flags 0xFF -> 0x07
            assert rb[REC_SIZE] == 1 and rb[REC_SIZE + 24] == 7


def _rec_value(rng):
    from wasmtime import component as wc

    chars = ["a", "Z", "\x00", "é", "€", "💡", "\U0010ffff", "\ue000", "~"]
    r = wc.Record()
    r.f, r.c = rng.random() < 0.5, rng.choice(chars)
    r.s = "".join(rng.choice(chars) for _ in range(rng.choice([0, 1, 3, 7, 8, 15, 16, 17, 40])))
    r.x, r.t = rng.randrange(2**64), rng.randrange(256)
    r.fl = {f"f{k}" for k in range(3) if rng.random() < 0.5}
    r.inr = wc.Record()
    r.inr.a, r.inr.b = rng.randrange(256), rng.randrange(65536)
    r.pt = (rng.randrange(2**32), rng.randrange(2**32))
    return r


def test_lists_of_records_round_trip_like_the_composition(lists):
    """200 generated lists (0 to 20 records with strings of every short length and unicode) sent
    consumer -> provider -> consumer come back equal, fused and composed."""
    import random

    from test_fuse import _key

    composed, fused = lists
    rng = random.Random(7)
    import wasmtime
    from wasmtime import component as wc

    insts = []
    for eng, component in (composed, fused):
        store = wasmtime.Store(eng)
        inst = wc.Linker(eng).instantiate(store, component)
        idx = inst.get_export_index(store, "test:lists/fwd")
        insts.append((store, inst.get_func(store, inst.get_export_index(store, "roundtrip", idx))))
    for _ in range(200):
        value = [_rec_value(rng) for _ in range(rng.choice([0, 1, 2, 5, 20]))]
        got = []
        for store, f in insts:
            got.append(f(store, value))
            f.post_return(store)
        assert _key(got[0]) == _key(got[1]) == _key(value)


# -- may_leave inside a list's element loop (the flag is cleared once around the loop): the
# provider's realloc calls the host at its k-th call (1: the list, 2-4: its strings); the
# composition traps there ("cannot leave component instance"), and so must the fused component

MLL_WIT = """package test:mll;

interface api {
  echo: func(l: list<string>) -> list<string>;
  arm: func(k: u32);
}
world prov { import log: func(x: u32); export api; }
world cons { import api; export run: func(k: u32) -> u32; }
"""

MLL_PROVIDER = """(module
  (import "$root" "log" (func $log (param i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (global $arm (mut i32) (i32.const 0))
  (global $count (mut i32) (i32.const 0))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $r i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (if (i32.eq (global.get $count) (global.get $arm)) (then (call $log (i32.const 999))))
    (local.set $r (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get 2))))
    (global.set $bump (i32.add (local.get $r) (local.get 3))) (local.get $r))
  (func (export "test:mll/api#arm") (param i32) (global.set $arm (local.get 0)) (global.set $count (i32.const 0)))
  (func (export "test:mll/api#echo") (param $p i32) (param $n i32) (result i32)
    (call $log (local.get $n))
    (i32.store (i32.const 16) (local.get $p)) (i32.store (i32.const 20) (local.get $n)) (i32.const 16)))
"""

MLL_CONSUMER = """(module
  (import "test:mll/api" "echo" (func $echo (param i32 i32 i32)))
  (import "test:mll/api" "arm" (func $arm (param i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (data (i32.const 32) "\\80\\00\\00\\00\\02\\00\\00\\00\\82\\00\\00\\00\\03\\00\\00\\00\\85\\00\\00\\00\\01\\00\\00\\00")
  (data (i32.const 128) "abcdef")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $r i32)
    (local.set $r (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get 2))))
    (global.set $bump (i32.add (local.get $r) (local.get 3))) (local.get $r))
  ;; run(k): the three strings there and back; their total length + 1000 * their count
  (func (export "run") (param i32) (result i32) (local $p i32)
    (call $arm (local.get 0))
    (call $echo (i32.const 32) (i32.const 3) (i32.const 64))
    (local.set $p (i32.load (i32.const 64)))
    (i32.add (i32.mul (i32.load (i32.const 68)) (i32.const 1000))
             (i32.add (i32.load offset=4 (local.get $p))
                      (i32.add (i32.load offset=12 (local.get $p)) (i32.load offset=20 (local.get $p)))))))
"""


def test_realloc_leaving_inside_a_list_loop_traps_like_the_composition():
    pytest.importorskip("wasmtime")
    from wasmweld.fuse import fuse

    comp = F.compose(build_component(MLL_WIT, "cons", MLL_CONSUMER), build_component(MLL_WIT, "prov", MLL_PROVIDER))
    compiled = _compiled(comp, fuse(comp, emit="component").encode())
    for k in range(6):          # 0 and 5: never reached; 1: the list's realloc; 2-4: its strings'
        expect = ("trap", []) if 1 <= k <= 4 else (3006, [3])
        for c in compiled:
            logs: list[int] = []
            assert (_call(c, "run", k, iface=None, logs=logs), logs) == expect, k
