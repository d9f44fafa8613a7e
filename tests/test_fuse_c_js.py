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
import wasmtime  # noqa: E402
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


# -- JS ------------------------------------------------------------------------------------------------


def cached_engine() -> wasmtime.Engine:
    """A multi-memory engine whose compiled code is cached in the build cache (the StarlingMonkey
    modules take a while to compile; a second run of the tests loads them)."""
    from helpers import build_cache_dir

    d = build_cache_dir() / "wasmtime"
    d.mkdir(exist_ok=True)
    conf = d / "cache.toml"
    text = f'[cache]\ndirectory = "{d.as_posix()}"\n'
    if not conf.is_file() or conf.read_text() != text:
        conf.write_text(text)
    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = True
    cfg.cache = str(conf)
    return wasmtime.Engine(cfg)


@pytest.fixture(scope="module")
def js_runners(tmp_path_factory):
    comp = F.js_pair()
    fused = fuse(comp)
    d = tmp_path_factory.mktemp("js")
    engine = cached_engine()
    data = fused.encode()
    return comp, fused, data, WasiRunner(comp, d / "a.txt", engine), WasiRunner(data, d / "b.txt", engine)


def test_js_pair_fused_component(js_runners, tmp_path):
    comp, fused, data, a, b = js_runners
    assert isinstance(fused, Component) and not fused.components and len(comp) > 20 << 20
    F.wasm_tools("validate", "-", input=data)
    wit = same_world(comp, data, tmp_path)
    assert b"export mirror: func(p: point) -> point;" in wit
    p = fuse_plan(comp)
    assert sorted(x.callee.core.name for x in p.adapters) == [f"test:js/api#{f}" for f in ("flip", "greet", "pick", "sum")]
    assert fused.modules[0].num_memories >= 2
    for s in ["x", "", "wörld 𝄞", "y" * 5000]:
        assert a.call("run", s) == b.call("run", s) == f"[hello, {s}!]"
    assert a.call("total", [1, 2, 2**32 - 1]) == b.call("total", [1, 2, 2**32 - 1]) == 2**32 + 3
    ra, rb = a.call("mirror", point(1, -2, "abc")), b.call("mirror", point(1, -2, "abc"))
    assert vars(ra) == vars(rb) == {"x": -1, "y": 1, "label": "cba."}
    assert a.call("choose", "ab") == b.call("choose", "ab") == "abab"
    assert a.call("choose", None) == b.call("choose", None) == 7          # result<_, u32> err (7 thrown)


def test_js_pair_generated_values(js_runners):
    _, _, _, a, b = js_runners
    seen = []
    i32 = st.integers(-2**31, 2**31 - 1)

    @settings(max_examples=500, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.text(max_size=100), st.lists(st.integers(0, 2**32 - 1), max_size=50),
           st.tuples(i32, st.integers(-2**31, 2**31 - 2), st.text(max_size=30)),
           st.one_of(st.none(), st.text(max_size=30)))
    def check(s, xs, p, o):
        assert b.call("run", s) == a.call("run", s)
        assert b.call("total", xs) == a.call("total", xs)
        ra, rb = a.call("mirror", point(*p)), b.call("mirror", point(*p))    # a reversed surrogate pair traps
        assert (vars(rb) if isinstance(rb, C.Record) else rb) == (vars(ra) if isinstance(ra, C.Record) else ra)
        assert b.call("choose", o) == a.call("choose", o)
        seen.append(1)

    check()
    assert len(seen) == 500
