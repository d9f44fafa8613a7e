"""Resources the fused world imports (from the host) handed between fused components.

The host (wasmtime-py) implements ``test:hr/store``'s ``blob`` (its destructor counted); a consumer
makes blobs and passes them to a provider as ``borrow<blob>`` (the provider reads it and drops
the borrow) and as ``own<blob>`` (the provider reads it and drops it: the host's destructor runs
once). The fused component and the composition give the same results and the same destructor
counts; a provider that keeps a borrow past the call traps in both.
"""

from __future__ import annotations

import pytest

pytest.importorskip("wasmtime")
import wasmtime  # noqa: E402
from wasmtime import component as wc  # noqa: E402

HR_WIT = """package test:hr;

interface store {
  resource blob { constructor(v: u32); get: func() -> u32; }
}
interface api {
  use store.{blob};
  peek: func(b: borrow<blob>) -> u32;
  take: func(b: blob) -> u32;
  give: func(v: u32) -> blob;
  keep: func(b: borrow<blob>) -> u32;
}
world prov { import store; export api; }
world cons { import store; import api; export run: func(v: u32) -> u32; export keep-borrow: func() -> u32; }
"""

_HR_IMPORTS = """
  (import "test:hr/store" "[constructor]blob" (func $new (param i32) (result i32)))
  (import "test:hr/store" "[method]blob.get" (func $get (param i32) (result i32)))
  (import "test:hr/store" "[resource-drop]blob" (func $drop (param i32)))
"""

#: the provider's functions by name (``keep`` reads the borrow and does not drop it: the canonical
#: ABI traps when the call returns)
HR_FUNCS = {
    "peek": """(func (export "test:hr/api#peek") (param i32) (result i32) (local $r i32)
    (local.set $r (call $get (local.get 0))) (call $drop (local.get 0)) (local.get $r))""",
    "take": """(func (export "test:hr/api#take") (param i32) (result i32) (local $r i32)
    (local.set $r (i32.add (call $get (local.get 0)) (i32.const 1000))) (call $drop (local.get 0)) (local.get $r))""",
    "give": """(func (export "test:hr/api#give") (param i32) (result i32) (call $new (i32.mul (local.get 0) (i32.const 3))))""",
    "keep": """(func (export "test:hr/api#keep") (param i32) (result i32) (call $get (local.get 0)))""",
}


def hr_provider(names) -> str:
    return "(module" + _HR_IMPORTS + "".join(f"  {HR_FUNCS[n]}\n" for n in names) + ")\n"


HR_PROVIDER = hr_provider(HR_FUNCS)

HR_CONSUMER = """(module
  (import "test:hr/store" "[constructor]blob" (func $new (param i32) (result i32)))
  (import "test:hr/store" "[method]blob.get" (func $get (param i32) (result i32)))
  (import "test:hr/store" "[resource-drop]blob" (func $drop (param i32)))
  (import "test:hr/api" "peek" (func $peek (param i32) (result i32)))
  (import "test:hr/api" "take" (func $take (param i32) (result i32)))
  (import "test:hr/api" "give" (func $give (param i32) (result i32)))
  (import "test:hr/api" "keep" (func $keep (param i32) (result i32)))
  (func (export "run") (param $v i32) (result i32) (local $h i32) (local $g i32) (local $s i32)
    (local.set $h (call $new (local.get $v)))
    (local.set $s (call $peek (local.get $h)))                          ;; lend it
    (local.set $s (i32.add (local.get $s) (call $peek (local.get $h)))) ;; twice
    (local.set $s (i32.add (local.get $s) (call $get (local.get $h))))  ;; still ours
    (local.set $s (i32.add (local.get $s) (call $take (local.get $h)))) ;; give it away
    (local.set $g (call $give (local.get $v)))                          ;; one made by the provider
    (local.set $s (i32.add (local.get $s) (call $get (local.get $g))))
    (call $drop (local.get $g))
    (local.get $s))
  (func (export "keep-borrow") (result i32) (local $h i32)
    (local.set $h (call $new (i32.const 5)))
    (call $keep (local.get $h))))
"""


def _composition() -> bytes:
    import fuse_fixtures as F
    from test_fuse_perf import build_component

    return F.compose(build_component(HR_WIT, "cons", HR_CONSUMER), build_component(HR_WIT, "prov", HR_PROVIDER))


class Host:
    """An instance of ``data`` with the host's ``store`` interface: blobs are reps into ``values``."""

    def __init__(self, data: bytes):
        cfg = wasmtime.Config()
        cfg.wasm_multi_memory = True
        self.engine = wasmtime.Engine(cfg)
        self.store = wasmtime.Store(self.engine)
        self.values: dict[int, int] = {}
        self.dropped: list[int] = []
        linker = wc.Linker(self.engine)
        ty = wc.ResourceType.host(7)
        with linker.root() as root, root.add_instance("test:hr/store") as st:
            st.add_resource("blob", ty, lambda _s, rep: self.dropped.append(rep))
            st.add_func("[constructor]blob", self._new)
            st.add_func("[method]blob.get", lambda _s, b: self.values[b.to_host(self.store).rep])
        self.inst = linker.instantiate(self.store, wc.Component(self.engine, data))

    def _new(self, _s, v):
        rep = len(self.values) + 1
        self.values[rep] = v
        return wc.ResourceHost.own(rep, 7)

    def call(self, name: str, *args):
        f = self.inst.get_func(self.store, self.inst.get_export_index(self.store, name))
        try:
            r = f(self.store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            assert "wasm backtrace" in str(e) or "wasm trap" in str(e) or "borrow" in str(e), e
            return "trap"
        f.post_return(self.store)
        return r


def test_host_resources_through_adapters_like_the_composition():
    from wasmweld.fuse import fuse

    comp = _composition()
    fused = fuse(comp, emit="component").encode()
    out = []
    for data in (comp, fused):
        h = Host(data)
        results = [h.call("run", v) for v in (4, 9)]
        out.append((results, sorted(h.dropped)))
    assert out[0] == out[1]
    results, dropped = out[0]
    assert results == [4 + 4 + 4 + 1004 + 12, 9 + 9 + 9 + 1009 + 27]
    assert dropped == [1, 2, 3, 4]                     # each blob's destructor exactly once


def test_a_borrow_kept_past_the_call_traps_like_the_composition():
    from wasmweld.fuse import fuse

    comp = _composition()
    fused = fuse(comp, emit="component").encode()
    assert Host(comp).call("keep-borrow") == Host(fused).call("keep-borrow") == "trap"


# -- a list of borrows of the provider's own resource: lent for the call, then dropped by the owner

LIST_WIT = """package test:lb;

interface res {
  resource counter { constructor(v: u32); }
  sum: func(cs: list<borrow<counter>>) -> u32;
  dropped: func() -> u32;
}
world prov { export res; }
world cons { import res; export run: func() -> u32; }
"""

LIST_PROVIDER = """(module
  (import "[export]test:lb/res" "[resource-new]counter" (func $new (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $dropped (mut i32) (i32.const 0))
  (global $bump (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $r i32)
    (local.set $r (global.get $bump)) (global.set $bump (i32.add (local.get $r) (local.get 3))) (local.get $r))
  (func (export "test:lb/res#[constructor]counter") (param i32) (result i32) (call $new (local.get 0)))
  ;; borrows of our own resource arrive as reps (here: the values themselves)
  (func (export "test:lb/res#sum") (param $p i32) (param $n i32) (result i32) (local $s i32)
    (block $b (loop $l (br_if $b (i32.eqz (local.get $n)))
      (local.set $s (i32.add (local.get $s) (i32.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))
    (local.get $s))
  (func (export "test:lb/res#dropped") (result i32) (global.get $dropped))
  (func (export "test:lb/res#[dtor]counter") (param i32)
    (global.set $dropped (i32.add (global.get $dropped) (i32.const 1)))))
"""

LIST_CONSUMER = """(module
  (import "test:lb/res" "[constructor]counter" (func $ctor (param i32) (result i32)))
  (import "test:lb/res" "sum" (func $sum (param i32 i32) (result i32)))
  (import "test:lb/res" "dropped" (func $dropped (result i32)))
  (import "test:lb/res" "[resource-drop]counter" (func $drop (param i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (local $s i32)
    (i32.store (i32.const 64) (call $ctor (i32.const 5)))
    (i32.store (i32.const 68) (call $ctor (i32.const 6)))
    (i32.store (i32.const 72) (call $ctor (i32.const 7)))
    (local.set $s (call $sum (i32.const 64) (i32.const 3)))
    (call $drop (i32.load (i32.const 64)))
    (call $drop (i32.load (i32.const 68)))
    (call $drop (i32.load (i32.const 72)))
    (i32.add (i32.mul (local.get $s) (i32.const 100)) (call $dropped))))
"""


def test_a_list_of_borrows_is_given_back_like_the_composition():
    """Three counters lent in one list<borrow<counter>>, then dropped: 18 summed, 3 destructors."""
    import fuse_fixtures as F
    from test_fuse_perf import build_component, runner

    from wasmweld.fuse import fuse

    comp = F.compose(build_component(LIST_WIT, "cons", LIST_CONSUMER), build_component(LIST_WIT, "prov", LIST_PROVIDER))
    fused = fuse(comp, emit="component").encode()
    assert runner(comp, "run")() == runner(fused, "run")() == 1803


def test_owned_host_handles_without_handle_tables():
    """Only own<blob> crosses (no borrow, no resource of the fused world's own): no handle tables,
    the host's handles go through unchanged; same results and destructors as the composition."""
    import fuse_fixtures as F
    from test_fuse_perf import build_component

    from wasmweld.fuse import fuse

    wit = HR_WIT.replace("  peek: func(b: borrow<blob>) -> u32;\n", "").replace(
        "  keep: func(b: borrow<blob>) -> u32;\n", "").replace("export keep-borrow: func() -> u32; ", "")
    prov = hr_provider(["take", "give"])
    cons = """(module
  (import "test:hr/store" "[constructor]blob" (func $new (param i32) (result i32)))
  (import "test:hr/store" "[method]blob.get" (func $get (param i32) (result i32)))
  (import "test:hr/store" "[resource-drop]blob" (func $drop (param i32)))
  (import "test:hr/api" "take" (func $take (param i32) (result i32)))
  (import "test:hr/api" "give" (func $give (param i32) (result i32)))
  (func (export "run") (param $v i32) (result i32) (local $g i32) (local $s i32)
    (local.set $s (call $take (call $new (local.get $v))))
    (local.set $g (call $give (local.get $v)))
    (local.set $s (i32.add (local.get $s) (call $get (local.get $g))))
    (call $drop (local.get $g))
    (local.get $s)))
"""
    comp = F.compose(build_component(wit, "cons", cons), build_component(wit, "prov", prov))
    fused = fuse(comp, emit="component")
    assert fused.modules[0].num_memories == 0                      # no handle tables
    out = []
    for data in (comp, fused.encode()):
        h = Host(data)
        out.append(([h.call("run", v) for v in (4, 9)], sorted(h.dropped)))
    assert out[0] == out[1] == ([1004 + 12, 1009 + 27], [1, 2, 3, 4])


# -- an exported interface whose functions take and return handles of the host's resource -----------

HX_WIT = HR_WIT.replace("world prov", """interface relay {
  use store.{blob};
  relay-peek: func(b: borrow<blob>) -> u32;
  relay-take: func(b: blob) -> u32;
  relay-give: func(v: u32) -> blob;
}
world relayer { import store; import api; export relay; }
world prov""")

HX_RELAYER = """(module
  (import "test:hr/store" "[resource-drop]blob" (func $drop (param i32)))
  (import "test:hr/api" "peek" (func $peek (param i32) (result i32)))
  (import "test:hr/api" "take" (func $take (param i32) (result i32)))
  (import "test:hr/api" "give" (func $give (param i32) (result i32)))
  (func (export "test:hr/relay#relay-peek") (param i32) (result i32) (local $r i32)
    (local.set $r (call $peek (local.get 0))) (call $drop (local.get 0)) (local.get $r))
  (func (export "test:hr/relay#relay-take") (param i32) (result i32) (call $take (local.get 0)))
  (func (export "test:hr/relay#relay-give") (param i32) (result i32) (call $give (local.get 0))))
"""


def test_exported_interface_using_the_host_s_resource_like_the_composition(tmp_path):
    """``interface relay { use store.{blob}; ... }`` exported, ``store`` imported from the host: the
    fused component imports the resource type and refers to it (it was refused: "cannot write the
    type Res"); same world, same results and destructor counts as the composition."""
    import fuse_fixtures as F
    from test_fuse_perf import build_component

    from wasmweld.fuse import fuse

    comp = F.compose(build_component(HX_WIT, "relayer", HX_RELAYER),
                     build_component(HX_WIT, "prov", HR_PROVIDER))
    fused = fuse(comp).encode()
    F.wasm_tools("validate", "-", input=fused)
    (tmp_path / "c.wasm").write_bytes(comp)
    (tmp_path / "f.wasm").write_bytes(fused)
    wit = F.wasm_tools("component", "wit", str(tmp_path / "c.wasm"))
    assert b"export test:hr/relay;" in wit and b"import test:hr/store;" in wit
    assert F.wasm_tools("component", "wit", str(tmp_path / "f.wasm")) == wit
    out = []
    for data in (comp, fused):
        h = Host(data)
        relay = h.inst.get_export_index(h.store, "test:hr/relay")

        def call(name, *args, h=h, relay=relay):
            f = h.inst.get_func(h.store, h.inst.get_export_index(h.store, name, relay))
            r = f(h.store, *args)
            f.post_return(h.store)
            return r

        blob = h._new(None, 7)
        got = [call("relay-peek", blob), call("relay-take", h._new(None, 8))]
        made = call("relay-give", 5)
        got.append(h.values[made.to_host(h.store).rep])
        out.append((got, sorted(h.dropped)))
    assert out[0] == out[1]
    assert out[0][0] == [7, 1008, 15]
