"""The bench composition of bench/bench_fuse.py: a consumer that calls its provider n times in Wasm.

``bench_pair()`` is a consumer/provider composition whose consumer exports
``bench-string(n) -> u64`` and ``bench-points(n) -> u64``: each makes ``n`` cross-component calls
(a 1 KB UTF-8 string, a 100-element ``list<point>``) to the provider's echo functions and sums
what came back, so one call from the host measures ``n`` consumer -> provider calls with no host
marshalling on the path. The tests check the fixture itself (fused and composed give the same
sums, equal to the sums computed here from the inputs); the timings are in bench/bench_fuse.py only.
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
