"""wasmweld fuse of compositions built from C (clang --target=wasm32-wasi, wasi-libc, the WASI
preview-1 adapter) and from JS (componentize-js): real toolchains' components, many core modules
each (main module, preview-1 adapter, shims), WASI 0.2 imports kept.

Each composition and its fusion (a component: ``emit="auto"``) run under wasmtime's component
runtime with WASI 0.2 next to each other: same results, same stdout, same world
(``wasm-tools component wit``).
"""

from __future__ import annotations

import pytest

pytest.importorskip("wasmtime")
import wasmtime.component as C  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fuse_fixtures as F  # noqa: E402
from test_fuse_wasi import WasiRunner  # noqa: E402
from wasmweld.component import Component  # noqa: E402
from wasmweld.fuse import fuse, fuse_plan  # noqa: E402

def pair(a, s):
    r = C.Record()
    r.a, r.s = a, s
    return r


def point(x, y, label):
    r = C.Record()
    r.x, r.y, r.label = x, y, label
    return r


def same_world(a: bytes, b: bytes, tmp_path) -> bytes:
    (tmp_path / "a.wasm").write_bytes(a)
    (tmp_path / "b.wasm").write_bytes(b)
    wit = F.wasm_tools("component", "wit", str(tmp_path / "a.wasm"))
    assert wit == F.wasm_tools("component", "wit", str(tmp_path / "b.wasm"))
    return wit


# -- C -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def c_built():
    comp = F.c_pair()
    return comp, fuse(comp)


def test_c_pair_fused_component(c_built, tmp_path):
    comp, fused = c_built
    assert isinstance(fused, Component) and not fused.components
    data = fused.encode()
    F.wasm_tools("validate", "-", input=data)
    wit = same_world(comp, data, tmp_path)
    assert b"import wasi:cli/stdout@0.2" in wit and b"export tally: func(xs: list<pair>) -> u64;" in wit
    p = fuse_plan(comp)
    # each C component is its main module + the preview-1 adapter + wit-component's shim/fixup
    assert len(p.instances) >= 6 and len(p.adapters) == 2
    main = fused.modules[0]
    assert main.num_memories >= 2 and all(m.num_memories == 0 for m in fused.modules[1:])
    a, b = WasiRunner(comp, tmp_path / "a.txt"), WasiRunner(data, tmp_path / "b.txt")
    for s in ["hello", "", "wörld" * 100, "x" * 70000]:
        ra = a.call("run", s)
        assert ra == "<" + "".join(c.upper() if "a" <= c <= "z" else c for c in s) + ">"   # ASCII only
        assert b.call("run", s) == ra
    for xs in [[], [pair(1, "ab")], [pair(2**31, "x" * 50), pair(7, "")] * 30]:
        ra = a.call("tally", xs)
        assert ra == 2 * sum(x.a + len(x.s) for x in xs) + 1 and b.call("tally", xs) == ra
    assert a.stdout() == b.stdout() and b"provider: count(60 pairs)" in a.stdout()


def test_c_pair_generated_values(c_built, tmp_path):
    comp, fused = c_built
    a, b = WasiRunner(comp, tmp_path / "a.txt"), WasiRunner(fused.encode(), tmp_path / "b.txt")
    seen = []

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.text(max_size=200), st.lists(st.tuples(st.integers(0, 2**32 - 1), st.text(max_size=20)), max_size=20))
    def check(s, xs):
        assert b.call("run", s) == a.call("run", s)
        xs = [pair(n, t) for n, t in xs]
        assert b.call("tally", xs) == a.call("tally", xs)
        seen.append(1)

    check()
    assert len(seen) == 300 and a.stdout() == b.stdout() and a.stdout().count(b"consumer: run(") == 300
