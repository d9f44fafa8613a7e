"""JS components built in the tests with componentize-js (npm, ``make jstools``), and pre-initialised.

tests/fixtures/component/js/init.js builds a 50,000-entry table in 40 rounds in its top-level code
(the expensive init of issue 11, must-show 4b). Three builds of it:

- componentize-js's own (``build_js_component``): the top-level code ran at build time (Wizer);
- the un-initialised build (``build_js_uninit``: the same splice, no Wizer) pre-initialised by
  ``wasmweld snapshot COMP --init-func componentize.wizer`` with the files and environment
  componentize-js hands to Wizer;
- that un-initialised build with the init run from ``_initialize`` at every instantiation (the
  un-snapshotted reference: its top-level code prints a line each time it runs).

Each gives the answers of a Python model of the same table; the snapshot never runs the top-level
code again (no line printed, and it runs with no files and no environment, which the init needs).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from component_build import (
    COMPONENT_FIXTURES,
    build_js_component,
    build_js_uninit,
    init_at_instantiation,
    wasm_tools,
)

from wasmweld.cli.main import main
from wasmweld.component import parse_component
from wasmweld.component.wit import component_wit
from wasmweld.errors import WasmError
from wasmweld.runtime.component_world import ComponentWorld
from wasmweld.runtime.wasi import WasiOptions

JS = COMPONENT_FIXTURES / "js"
API = "test:jsinit/api@0.1.0"
INIT_LINE = "jsinit: top-level code running"
NAMES = ("", "héllo wörld ✓", "a" * 37)
INDICES = (0, 1, 7, 12345, 49999, 50000 + 5, 2**32 - 1)
SUM_ARGS = ([], [1, 2, 3], list(range(0, 100000, 997)))


def _model() -> list[int]:
    """init.js's table, computed in Python."""
    n, p = 50000, 1000003
    table = [(i * 7919 + 13) % p for i in range(n)]
    for rnd in range(40):
        prev = table[0]
        for i in range(1, n):
            prev = table[i] = (table[i] * 31 + prev + rnd) % p
    return table


def _expected() -> list:
    t = _model()
    return ([t[i % len(t)] for i in INDICES]
            + [f"{s}: {t[len(s.encode('utf-16-le')) // 2]} {t[-1]}" for s in NAMES]
            + [sum(t[x % len(t)] for x in xs) % 2**32 for xs in SUM_ARGS] + [1])


def _calls(call) -> list:
    return ([call("get", i) for i in INDICES] + [call("describe", s) for s in NAMES]
            + [call("sum", xs) for xs in SUM_ARGS] + [call("init-runs")])


def _world_answers(data: bytes, wasi) -> list:
    w = ComponentWorld(wasi=wasi)
    w.add("js", data)
    return _calls(lambda f, *a: w.invoke("js", f"{API}#{f}", *a))


def _direct_answers(data: bytes) -> list:
    """wasmtime-py's component API used directly (WASI 0.2, nothing granted; the compiled component is
    shared with the World's: 10 MB of JS engine take seconds to compile)."""
    import wasmtime
    from wasmtime import component as wc

    from wasmweld.runtime.component import compile_component, component_engine

    engine = component_engine()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    linker = wc.Linker(engine)
    linker.add_wasip2()
    inst = linker.instantiate(store, compile_component(data))    # the wc.Component the World compiled
    iface = inst.get_export_index(store, API)

    def call(name, *args):
        f = inst.get_func(store, inst.get_export_index(store, name, iface))
        out = f(store, *args)
        f.post_return(store)
        return out
    return _calls(call)


@pytest.fixture(scope="module")
def expected() -> list:
    return _expected()


def test_componentize_js_component(tmp_path, expected):
    """componentize-js's own build: read and written byte for byte, its WIT as wasm-tools prints it,
    and the same answers through a ComponentWorld as through wasmtime-py directly."""
    data = build_js_component((JS / "init.js").read_text(), JS / "init.wit", "jsinit")
    comp = parse_component(data)
    assert comp.encode() == data
    comp.decode_all(modules=False)
    assert comp.encode() == data
    assert [len(m.encode()) for m in comp.modules] and max(len(m.encode()) for m in comp.modules) > 5_000_000
    ours = component_wit(parse_component(data))
    (tmp_path / "c.wasm").write_bytes(data)
    theirs = wasm_tools("component", "wit", str(tmp_path / "c.wasm")).decode()
    assert ours.split() == theirs.split()
    assert f"export {API};" in ours
    out: list[bytes] = []
    assert _world_answers(data, WasiOptions(stdout=out.append)) == expected
    assert INIT_LINE.encode() not in b"".join(out)      # it ran at build time, inside Wizer
    assert _direct_answers(data) == expected


def test_snapshot_js_component(tmp_path, expected):
    """Must-show 4b: ``wasmweld snapshot`` pre-initialises the un-initialised componentize-js build."""
    u = build_js_uninit((JS / "init.js").read_text(), JS / "init.wit", "jsinit")
    comp = parse_component(u.component)
    assert comp.encode() == u.component
    src, dst = tmp_path / "uninit.wasm", tmp_path / "snap.wasm"
    src.write_bytes(u.component)
    files = u.write_files(tmp_path / "files")
    argv = ["snapshot", str(src), "-o", str(dst), "--init-func", u.init_func, "--allow-wasi",
            "--dir", f"{files}::/"]
    for k, v in u.cli_env().items():
        argv += ["--env", f"{k}={v}"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(argv) == 0, err.getvalue()
    snapped = dst.read_bytes()
    a, b = parse_component(u.component), parse_component(snapped)
    changed = [i for i, (x, y) in enumerate(zip(a.sections, b.sections)) if bytes(x.raw) != bytes(y.raw)]
    assert len(a.sections) == len(b.sections) and [a.sections[i].id for i in changed] == [1]

    # same answers as the model; the top-level code never runs again: nothing printed, in two
    # instances, with no files and no environment granted (the init could not even find source.js)
    for _ in range(2):
        out: list[bytes] = []
        assert _world_answers(snapped, WasiOptions(stdout=out.append)) == expected
        assert INIT_LINE.encode() not in b"".join(out)

    # the un-snapshotted reference: the init runs at instantiation, printing its line (once: the JS
    # had never run before)
    lazy = init_at_instantiation(u.component, u.init_func)
    out = []
    assert _world_answers(lazy, u.wasi(tmp_path / "files2", stdout=out.append)) == expected
    assert b"".join(out).decode().count(INIT_LINE) == 1
    w = ComponentWorld(wasi=WasiOptions(stdout=out.append))        # no files: the init fails
    w.add("js", lazy)
    with pytest.raises(WasmError):
        w.invoke("js", f"{API}#get", 1)


def test_js_component_helpers_refuse_missing_tools(monkeypatch, tmp_path):
    """No componentize-js installed: the builder says how to install it (no skip)."""
    import component_build
    from helpers import BuildError

    monkeypatch.setattr(component_build, "JSTOOLS", Path(tmp_path))
    with pytest.raises(BuildError, match="make jstools"):
        component_build.build_js_component("export function f() {}", "package a:b; world w {}", "w")
