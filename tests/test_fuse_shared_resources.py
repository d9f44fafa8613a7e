"""``--emit component`` of compositions exporting functions of two components (each lifted with its
own memory and realloc) and borrows of a resource one component implements taken by another.

The provider implements ``test:two/res`` (resource ``counter``, rep = its value, destructor
counted; ``label`` echoes a string in its memory); the consumer implements ``test:two/api``
(``use res.{counter}``): it takes ``borrow<counter>`` at the top level and in a list (the borrows
are handles in its table: it reads them through the provider and drops them), ``option<counter>``
(own: dropping it runs the provider's destructor), returns a counter it made inside a tuple with a
string, and echoes strings in its own memory. The composition exports both interfaces. Under
wasmtime's component runtime the fused component has the same world, the same results, the same
destructor counts and traps where the composition traps (a borrow kept past the call).

The echo pair of the fuse tests (every value family) exported from both of its components, each
lifted with its own memory, gives the same results as the composition too.
"""

from __future__ import annotations

import pytest

pytest.importorskip("wasmtime")
import wasmtime  # noqa: E402
from test_fuse_export_resources import Api  # noqa: E402

TWO_WIT = """package test:two;

interface res {
  resource counter { constructor(v: u32); get: func() -> u32; }
  label: func(s: string) -> string;
  dropped: func() -> u32;
}
interface api {
  use res.{counter};
  peek: func(c: borrow<counter>) -> u32;
  peek-list: func(cs: list<borrow<counter>>) -> u32;
  keep: func(c: borrow<counter>) -> u32;
  make-pair: func(v: u32) -> tuple<counter, string>;
  take-opt: func(c: option<counter>) -> u32;
  echo: func(s: string) -> string;
}
world prov { export res; }
world cons { import res; export api; }
"""

_REALLOC = """
  (global $bump (mut i32) (i32.const 4096))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $r i32)
    (local.set $r (i32.and (i32.add (global.get $bump) (i32.const 7)) (i32.const -8)))
    (global.set $bump (i32.add (local.get $r) (local.get 3))) (local.get $r))
  (func $echo (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 64) (local.get $p)) (i32.store (i32.const 68) (local.get $n)) (i32.const 64))
"""

TWO_PROVIDER = """(module
  (import "[export]test:two/res" "[resource-new]counter" (func $new (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $dropped (mut i32) (i32.const 0))""" + _REALLOC + """
  (func (export "test:two/res#[constructor]counter") (param i32) (result i32) (call $new (local.get 0)))
  (func (export "test:two/res#[method]counter.get") (param i32) (result i32) (local.get 0))
  (func (export "test:two/res#label") (param i32 i32) (result i32) (call $echo (local.get 0) (local.get 1)))
  (func (export "test:two/res#dropped") (result i32) (global.get $dropped))
  (func (export "test:two/res#[dtor]counter") (param i32)
    (global.set $dropped (i32.add (global.get $dropped) (i32.const 1)))))
"""

TWO_CONSUMER = """(module
  (import "test:two/res" "[constructor]counter" (func $ctor (param i32) (result i32)))
  (import "test:two/res" "[method]counter.get" (func $get (param i32) (result i32)))
  (import "test:two/res" "[resource-drop]counter" (func $drop (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "pair")""" + _REALLOC + """
  ;; a borrow handle: read through the provider, then dropped (the canonical ABI requires it)
  (func $peek (param $h i32) (result i32) (local $r i32)
    (local.set $r (call $get (local.get $h))) (call $drop (local.get $h)) (local.get $r))
  (func (export "test:two/api#peek") (param i32) (result i32) (call $peek (local.get 0)))
  (func (export "test:two/api#peek-list") (param $p i32) (param $n i32) (result i32) (local $s i32)
    (block (loop (br_if 1 (i32.eqz (local.get $n)))
      (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 3)) (call $peek (i32.load (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br 0)))
    (local.get $s))
  (func (export "test:two/api#keep") (param i32) (result i32) (call $get (local.get 0)))
  (func (export "test:two/api#make-pair") (param $v i32) (result i32)
    (i32.store (i32.const 80) (call $ctor (local.get $v)))
    (i32.store (i32.const 84) (i32.const 200)) (i32.store (i32.const 88) (i32.const 4)) (i32.const 80))
  (func (export "test:two/api#take-opt") (param $d i32) (param $h i32) (result i32)
    (if (result i32) (local.get $d) (then (call $peek (local.get $h))) (else (i32.const 99999))))
  (func (export "test:two/api#echo") (param i32 i32) (result i32) (call $echo (local.get 0) (local.get 1))))
"""


def two_composition() -> bytes:
    import fuse_fixtures as F
    from component_build import compose_pair

    cons, prov = F.build_wit(TWO_WIT, "cons", TWO_CONSUMER), F.build_wit(TWO_WIT, "prov", TWO_PROVIDER)
    return compose_pair(cons, prov, "test:two/res", "test:two/api", export_provided=True)


def _apis(data: bytes) -> tuple[Api, Api]:
    """``test:two/api`` and ``test:two/res`` of one fresh instance of ``data``."""
    api = Api(data, "test:two/api")
    res = Api.__new__(Api)
    res.store, res.inst = api.store, api.inst
    res.iface = api.inst.get_export_index(api.store, "test:two/res")
    return api, res


def _script(data: bytes) -> list:
    api, res = _apis(data)
    out: list = []
    c1, c2, c3 = (res.call("[constructor]counter", v) for v in (1, 2, 3))
    out.append(("peek", api.call("peek", c1), api.call("peek", c2)))
    out.append(("peek-list", api.call("peek-list", [c1, c2, c3, c1]), api.call("peek-list", [])))
    out.append(("strings", res.call("label", "héllo"), api.call("echo", "wörld 🌍"), api.call("echo", "x" * 3000)))
    h, s = api.call("make-pair", 7)
    out.append(("make-pair", res.call("[method]counter.get", h), s))
    out.append(("take-opt", api.call("take-opt", None), api.call("take-opt", h), res.call("dropped")))
    out.append(("take-opt", api.call("take-opt", c3), res.call("dropped"), res.call("[method]counter.get", c1)))
    c1.drop(api.store)
    out.append(("dropped", res.call("dropped")))
    return out


def test_borrows_of_a_resource_another_component_implements(tmp_path):
    import fuse_fixtures as F

    from wasmweld.fuse import fuse

    comp = two_composition()
    fused = fuse(comp, emit="component").encode()
    F.wasm_tools("validate", "-", input=fused)
    (tmp_path / "c.wasm").write_bytes(comp)
    (tmp_path / "f.wasm").write_bytes(fused)
    wit = F.wasm_tools("component", "wit", str(tmp_path / "c.wasm"))
    assert b"peek-list: func(cs: list<borrow<counter>>) -> u32;" in wit
    assert F.wasm_tools("component", "wit", str(tmp_path / "f.wasm")) == wit
    expect = _script(comp)
    assert expect == [("peek", 1, 2), ("peek-list", ((1 * 3 + 2) * 3 + 3) * 3 + 1, 0),
                      ("strings", "héllo", "wörld 🌍", "x" * 3000), ("make-pair", 7, "pair"),
                      ("take-opt", 99999, 7, 1), ("take-opt", 3, 2, 1), ("dropped", 3)]
    assert _script(fused) == expect


def test_a_borrow_kept_past_the_call_traps_like_the_composition():
    from wasmweld.fuse import fuse

    comp = two_composition()
    fused = fuse(comp, emit="component").encode()
    for data, message in ((comp, "borrow handles still remain"), (fused, "unreachable")):
        api, res = _apis(data)
        c = res.call("[constructor]counter", 4)
        with pytest.raises((wasmtime.Trap, wasmtime.WasmtimeError), match=message):
            api.call("keep", c)
        api, res = _apis(data)                            # a fresh instance works
        assert api.call("take-opt", api.call("make-pair", 5)[0]) == 5


def test_every_value_family_exported_from_both_components():
    """The echo pair of the fuse tests with the provider's interface exported too: the consumer's
    ``test:fuse/fwd`` and the provider's ``test:fuse/api`` (lifted with the provider's memory and
    realloc) give the composition's results for the fixed values of every family."""
    import fuse_fixtures as F
    from component_build import compose_pair
    from test_fuse import FIXED, Runner, _key

    from wasmweld.fuse import fuse

    prov = F.build("provider", F.provider_wat())
    cons = F.build("consumer", F.forwarder_wat("test:fuse/api", "test:fuse/fwd"))
    comp = compose_pair(cons, prov, "test:fuse/api", "test:fuse/fwd", export_provided=True)
    fused = fuse(comp, emit="component").encode()
    F.wasm_tools("validate", "-", input=fused)
    for iface in ("test:fuse/fwd", "test:fuse/api"):
        a, b = Runner(comp, iface), Runner(fused, iface)
        for name, values in FIXED.items():
            for v in values:
                ra, rb = a.call(name, v), b.call(name, v)
                assert _key(ra) == _key(v) or (name == "echo-f32" and ra == v), (iface, name, v, ra)
                assert _key(rb) == _key(ra), (iface, name, v, ra, rb)


def test_generated_borrow_lists_and_strings_same_as_the_composition():
    """Property-generated: counters of random values lent to the consumer in random lists (repeats
    allowed), some moved into it through ``take-opt``, unicode strings echoed by each component in
    its own memory; the same results and destructor counts from the composition and the fused
    component, step by step."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from wasmweld.fuse import fuse

    comp = two_composition()
    pairs = [_apis(comp), _apis(fuse(comp, emit="component").encode())]
    seen = []

    @st.composite
    def plans(draw):
        values = draw(st.lists(st.integers(0, 1 << 16), min_size=1, max_size=10))
        lent = draw(st.lists(st.integers(0, len(values) - 1), max_size=16))
        moved = draw(st.sets(st.integers(0, len(values) - 1)))
        return values, lent, moved, draw(st.text(max_size=40)), draw(st.text(max_size=40))

    def run(apis: tuple[Api, Api], plan) -> tuple:
        api, res = apis
        values, lent, moved, s1, s2 = plan
        cs = [res.call("[constructor]counter", v) for v in values]
        peeked = api.call("peek-list", [cs[i] for i in lent])
        taken = [api.call("take-opt", cs[i]) for i in sorted(moved)]
        for i in set(range(len(cs))) - moved:
            cs[i].drop(api.store)
        return peeked, taken, res.call("label", s1), api.call("echo", s2), res.call("dropped")

    @settings(max_examples=100, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(plans())
    def check(plan):
        a, b = (run(apis, plan) for apis in pairs)
        assert a == b and a[2:4] == plan[3:5], (plan, a, b)
        seen.append(a[-1])

    check()
    assert len(seen) == 100 and len(set(seen)) == 100          # every plan dropped its counters
