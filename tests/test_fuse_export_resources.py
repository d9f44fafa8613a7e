"""``--emit component`` of a composition that exports a resource.

The consumer exports ``test:xr/api`` with its own resource ``acc`` (constructor, methods, a static
function taking ``own<acc>``, a function returning ``own<acc>`` with a post-return); each ``acc`` holds a ``counter`` of
the provider (``own<counter>`` kept as the rep; its destructor drops it, so the provider's
destructor runs too). Under wasmtime's component runtime the fused component has the same world
(``wasm-tools component wit``), gives the same results and the same destructor counts as the
composition, and traps where it traps.
"""

from __future__ import annotations

import pytest

pytest.importorskip("wasmtime")
import wasmtime  # noqa: E402
from wasmtime import component as wc  # noqa: E402

XR_WIT = """package test:xr;

interface res {
  resource counter { constructor(v: u32); get: func() -> u32; }
  dropped: func() -> u32;
}
interface api {
  resource acc {
    constructor(v: u32);
    get: func() -> u32;
    add: func(by: u32);
    merge: static func(a: acc, b: borrow<acc>) -> acc;
  }
  make: func(v: u32) -> acc;
  take: func(a: acc) -> u32;
  stale: func() -> acc;
  dropped: func() -> u32;
}
world prov { export res; }
world cons { import res; export api; }
"""

XR_PROVIDER = """(module
  (import "[export]test:xr/res" "[resource-new]counter" (func $new (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $dropped (mut i32) (i32.const 0))
  (func (export "test:xr/res#[constructor]counter") (param i32) (result i32) (call $new (local.get 0)))
  (func (export "test:xr/res#[method]counter.get") (param i32) (result i32) (local.get 0))
  (func (export "test:xr/res#dropped") (result i32) (global.get $dropped))
  (func (export "test:xr/res#[dtor]counter") (param i32)
    (global.set $dropped (i32.add (global.get $dropped) (i32.const 1)))))
"""

# an acc's rep points at 8 bytes: the provider counter's handle, the amount added
XR_CONSUMER = """(module
  (import "test:xr/res" "[constructor]counter" (func $ctor (param i32) (result i32)))
  (import "test:xr/res" "[method]counter.get" (func $cget (param i32) (result i32)))
  (import "test:xr/res" "dropped" (func $pdropped (result i32)))
  (import "test:xr/res" "[resource-drop]counter" (func $cdrop (param i32)))
  (import "[export]test:xr/api" "[resource-new]acc" (func $new (param i32) (result i32)))
  (import "[export]test:xr/api" "[resource-rep]acc" (func $rep (param i32) (result i32)))
  (import "[export]test:xr/api" "[resource-drop]acc" (func $drop (param i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (global $dropped (mut i32) (i32.const 0))
  (func $alloc (param $v i32) (result i32) (local $r i32)
    (local.set $r (global.get $bump)) (global.set $bump (i32.add (local.get $r) (i32.const 8)))
    (i32.store (local.get $r) (call $ctor (local.get $v))) (local.get $r))
  (func $value (param $r i32) (result i32)
    (i32.add (call $cget (i32.load (local.get $r))) (i32.load offset=4 (local.get $r))))
  (func (export "test:xr/api#[constructor]acc") (param i32) (result i32) (call $new (call $alloc (local.get 0))))
  (func (export "test:xr/api#[method]acc.get") (param i32) (result i32) (call $value (local.get 0)))
  (func (export "test:xr/api#[method]acc.add") (param $r i32) (param $by i32)
    (i32.store offset=4 (local.get $r) (i32.add (i32.load offset=4 (local.get $r)) (local.get $by))))
  (func (export "test:xr/api#[static]acc.merge") (param $a i32) (param $b i32) (result i32) (local $v i32)
    (local.set $v (i32.add (call $value (call $rep (local.get $a))) (call $value (local.get $b))))
    (call $drop (local.get $a))
    (call $new (call $alloc (local.get $v))))
  (global $made (mut i32) (i32.const 0))
  (func (export "test:xr/api#make") (param i32) (result i32)
    (global.set $made (call $new (call $alloc (i32.mul (local.get 0) (i32.const 10))))) (global.get $made))
  ;; the post-return gets the handle make returned (in this component's table)
  (func (export "cabi_post_test:xr/api#make") (param i32)
    (if (i32.ne (local.get 0) (global.get $made)) (then unreachable)))
  (func (export "test:xr/api#take") (param $h i32) (result i32) (local $v i32)
    (local.set $v (call $value (call $rep (local.get $h))))
    (call $drop (local.get $h)) (local.get $v))
  ;; returns a handle it has dropped: lifting it traps
  (func (export "test:xr/api#stale") (result i32) (local $h i32)
    (local.set $h (call $new (call $alloc (i32.const 1)))) (call $drop (local.get $h)) (local.get $h))
  (func (export "test:xr/api#dropped") (result i32)
    (i32.add (i32.mul (global.get $dropped) (i32.const 1000)) (call $pdropped)))
  (func (export "test:xr/api#[dtor]acc") (param $r i32)
    (global.set $dropped (i32.add (global.get $dropped) (i32.const 1)))
    (call $cdrop (i32.load (local.get $r)))))
"""


def _composition() -> bytes:
    import fuse_fixtures as F
    from test_fuse_perf import build_component

    return F.compose(build_component(XR_WIT, "cons", XR_CONSUMER), build_component(XR_WIT, "prov", XR_PROVIDER))


class Api:
    """A fresh instance of component ``data``; ``call(name, *args)`` calls ``test:xr/api``'s ``name``."""

    def __init__(self, data: bytes, iface: str = "test:xr/api"):
        cfg = wasmtime.Config()
        cfg.wasm_multi_memory = True
        eng = wasmtime.Engine(cfg)
        self.store = wasmtime.Store(eng)
        self.inst = wc.Linker(eng).instantiate(self.store, wc.Component(eng, data))
        self.iface = self.inst.get_export_index(self.store, iface)

    def call(self, name: str, *args):
        f = self.inst.get_func(self.store, self.inst.get_export_index(self.store, name, self.iface))
        r = f(self.store, *args)
        f.post_return(self.store)
        return r

    def drop(self, res) -> None:
        res.drop(self.store)


def _script(api: Api) -> list:
    out = []
    a = api.call("[constructor]acc", 5)
    api.call("[method]acc.add", a, 3)
    out.append(api.call("[method]acc.get", a))                  # 8
    b = api.call("make", 4)
    out.append(api.call("[method]acc.get", b))                  # 40
    c = api.call("[static]acc.merge", a, b)                     # a moved in and dropped; b lent
    out.append(api.call("[method]acc.get", c))                  # 48
    out.append(api.call("dropped"))                             # 1 acc, 1 counter
    out.append(api.call("take", b))                             # 40, b dropped inside
    out.append(api.call("dropped"))
    api.drop(c)                                                 # the host drops: destructor runs
    out.append(api.call("dropped"))
    return out


def test_exported_resource_same_world_results_and_destructors(tmp_path):
    import fuse_fixtures as F

    from wasmweld.fuse import fuse

    comp = _composition()
    fused = fuse(comp, emit="component").encode()
    F.wasm_tools("validate", "-", input=fused)
    (tmp_path / "c.wasm").write_bytes(comp)
    (tmp_path / "f.wasm").write_bytes(fused)
    wit = F.wasm_tools("component", "wit", str(tmp_path / "c.wasm"))
    assert b"resource acc" in wit and b"make: func(v: u32) -> acc;" in wit
    assert F.wasm_tools("component", "wit", str(tmp_path / "f.wasm")) == wit
    expect = [8, 40, 48, 1001, 40, 2002, 3003]
    assert _script(Api(comp)) == expect
    assert _script(Api(fused)) == expect
    assert _script(Api(fuse(comp, emit="component", single_memory=True).encode())) == expect


def test_returning_a_dropped_handle_traps_like_the_composition():
    from wasmweld.fuse import fuse

    comp = _composition()
    fused = fuse(comp, emit="component").encode()
    for data in (comp, fused):
        api = Api(data)
        with pytest.raises((wasmtime.Trap, wasmtime.WasmtimeError)) as e:
            api.call("stale")
        assert "wasm trap" in str(e.value) or "unknown handle" in str(e.value)
        api = Api(data)
        assert api.call("take", api.call("make", 1)) == 10
        assert api.call("dropped") == 1001


def test_damaged_compositions_with_exported_resources_give_wasm_errors():
    """Bytes of the composition changed at many places: ``emit="component"`` succeeds or raises a
    WasmError (never another exception)."""
    import random

    from wasmweld.errors import WasmError
    from wasmweld.fuse import fuse

    comp = _composition()
    rng = random.Random(5)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(60):
        data = bytearray(comp)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(8, len(data))] = rng.randrange(256)
        try:
            fuse(bytes(data), emit="component")
            outcomes["ok"] += 1
        except WasmError:
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and sum(outcomes.values()) == 60


NESTED_WIT = """package test:nr;

interface api {
  resource acc { constructor(v: u32); }
  pair: func() -> tuple<acc, u32>;
}
world w { export api; }
"""

NESTED_CORE = """(module
  (import "[export]test:nr/api" "[resource-new]acc" (func $new (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "test:nr/api#[constructor]acc") (param i32) (result i32) (call $new (local.get 0)))
  (func (export "test:nr/api#pair") (result i32)
    (i32.store (i32.const 16) (call $new (i32.const 1))) (i32.store (i32.const 20) (i32.const 2)) (i32.const 16)))
"""


def test_handles_of_an_exported_resource_inside_a_tuple_result():
    """(Refused before: now the wrapper moves the nested handle into the host's table.) The
    handle inside the returned tuple is the host's: the constructor's and ``pair``'s accs differ."""
    import fuse_fixtures as F
    from test_fuse_perf import build_component

    from wasmweld.fuse import fuse

    comp = build_component(NESTED_WIT, "w", NESTED_CORE)
    fused = fuse(comp, emit="component").encode()
    F.wasm_tools("validate", "-", input=fused)
    for data in (comp, fused):
        api = Api(data, "test:nr/api")
        a = api.call("[constructor]acc", 5)
        h, n = api.call("pair")
        assert n == 2 and h.owned and a.owned
        api.drop(h)
        api.drop(a)
