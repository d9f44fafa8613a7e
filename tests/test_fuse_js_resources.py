"""``--emit component`` of a componentize-js component exporting a resource whose handles are
nested in results (``list<acc>``, ``option<acc>``) and parameters (``list<borrow<acc>>``): a real
toolchain's component (StarlingMonkey, its bindings glue, WASI 0.2 imports). Under wasmtime's
component runtime the fused component has the same world, the same results and the same
destructor runs (``Symbol.dispose``, counted by the JS) as the input.

(Not compared here: an ``own<acc>`` handed back to the JS. The glue of this componentize-js takes
it by what looks like the handle's index used as a rep: in the input, taking a handle whose index
equals the rep of another live acc loses that acc's later ``dispose``; the fused component's
handles are tagged (handles.TAG), never equal a rep, and dispose it. tests/test_fuse_nested_resources.py
covers own parameters with a WAT component.)
"""

from __future__ import annotations

import pytest

pytest.importorskip("wasmtime")
import wasmtime  # noqa: E402
import wasmtime.component as C  # noqa: E402

JSR_WIT = """package test:jsn;
interface api {
  resource acc { constructor(v: u32); get: func() -> u32; }
  many: func(n: u32) -> list<acc>;
  peek-all: func(xs: list<borrow<acc>>) -> u32;
  maybe: func(v: u32) -> option<acc>;
  dropped: func() -> u32;
}
world w { export api; }
"""

JSR_SOURCE = """
let dropped = 0;
class Acc {
  constructor(v) { this.v = v; }
  get() { return this.v; }
  [Symbol.dispose]() { dropped += 1; }
}
export const api = {
  Acc,
  many(n) { const out = []; for (let i = 0; i < n; i++) out.push(new Acc(100 + i)); return out; },
  peekAll(xs) { let s = 0; for (const x of xs) { s = s * 3 + x.get(); } return s; },
  maybe(v) { return v ? new Acc(v) : undefined; },
  dropped() { return dropped; },
};
"""


def _script(data: bytes, eng: wasmtime.Engine) -> list:
    store = wasmtime.Store(eng)
    store.set_wasi(wasmtime.WasiConfig())
    linker = C.Linker(eng)
    linker.add_wasip2()
    inst = linker.instantiate(store, C.Component(eng, data))
    iface = inst.get_export_index(store, "test:jsn/api")

    def call(name: str, *args):
        f = inst.get_func(store, inst.get_export_index(store, name, iface))
        r = f(store, *args)
        f.post_return(store)
        return r

    out: list = []
    xs = call("many", 5)
    a = call("[constructor]acc", 7)
    out.append([call("[method]acc.get", x) for x in xs + [a]])
    out.append(call("peek-all", [a, xs[0], a, xs[4]]))
    m = call("maybe", 9)
    out.append((call("maybe", 0), call("[method]acc.get", m), call("dropped")))
    for x in (xs[1], xs[3], m):
        x.drop(store)
        out.append(call("dropped"))
    out.append(call("peek-all", [xs[2], xs[0]]))
    for x in (xs[0], xs[2], xs[4], a):
        x.drop(store)
    out.append(call("dropped"))
    return out


def test_js_component_with_nested_handles_same_as_the_input(tmp_path):
    import fuse_fixtures as F
    from component_build import build_js_component

    from wasmweld.fuse import fuse

    comp = build_js_component(JSR_SOURCE, JSR_WIT, "w")
    fused = fuse(comp, emit="component").encode()
    F.wasm_tools("validate", "-", input=fused)
    (tmp_path / "c.wasm").write_bytes(comp)
    (tmp_path / "f.wasm").write_bytes(fused)
    wit = F.wasm_tools("component", "wit", str(tmp_path / "c.wasm"))
    assert b"peek-all: func(xs: list<borrow<acc>>) -> u32;" in wit
    assert F.wasm_tools("component", "wit", str(tmp_path / "f.wasm")) == wit
    from test_fuse_c_js import cached_engine

    eng = cached_engine()                # StarlingMonkey's compiled code cached between runs
    expect = _script(comp, eng)
    assert expect == [[100, 101, 102, 103, 104, 7], ((7 * 3 + 100) * 3 + 7) * 3 + 104, (None, 9, 0), 1, 2, 3,
                      102 * 3 + 100, 7]
    assert _script(fused, eng) == expect
