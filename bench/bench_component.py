"""Component benchmarks (issue 11): reading/writing a 10 MB component, World start-up, cross-component calls.

Tasks:

``component parse+encode``   ``parse_component(data).encode()`` of StarlingMonkey (the JS engine inside
                             componentize-js) made a component with ``wasm-tools component new`` and the
                             preview-1 adapter from the corpus (10.5 MB); lazy, so this is the floor.
``component decode+encode``  every component-level item and nested component decoded, then encoded.
``component wit``            ``component_wit`` (decode the world, print WIT) next to ``wasm-tools component wit``
                             (a child process: start-up included).
``component world start``    a consumer and a provider component (tests/fixtures/component/values) added to a
                             ``ComponentWorld`` and linked by interface name, through the first call; next to
                             wasmtime-py's component API instantiating the static composition directly
                             (compilation excluded on both sides: ``compile_component`` keeps the last few).
``cross-component call``     one call passing a 1 KB string consumer -> provider -> back (per call, 200 calls).
``component first call``     instantiate + first call of tests/fixtures/component/snap (an init building a
                             20,000-entry table in 50 rounds runs lazily on the first call), snapshotted with
                             ``wasmweld snapshot`` vs not.
``js component first call``  instantiate + first call of tests/fixtures/component/js/init.js (its top-level
                             code builds a table: 2M updates) built three ways (tests/component_build.py):
                             un-initialised by componentize-js minus Wizer then ``wasmweld snapshot --init-func
                             componentize.wizer``; componentize-js's own Wizer build; the un-initialised build
                             running its init at instantiation. Compilation excluded (kept in memory); also
                             parse+encode of the componentize-js output (12.8 MB).

Run with ``python bench/run.py -k component``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

C = "test:values/consumer@0.1.0#echo-string"


def _sm_component(ctx) -> bytes | None:
    from component_build import WASM_TOOLS

    core = ctx.corpus("wasisdk-starlingmonkey")
    adapter = ctx.corpus("jco-p1-adapter-reactor")
    out = ctx.tmp / "sm.component.wasm"
    if not out.exists():
        p = subprocess.run([str(WASM_TOOLS), "component", "new", str(core), "--adapt",
                            f"wasi_snapshot_preview1={adapter}", "-o", str(out)], capture_output=True, check=False)
        if p.returncode != 0:
            ctx.log("component new failed:", p.stderr.decode(errors="replace")[:200])
            return None
    return out.read_bytes()


def _values(ctx):
    from component_build import COMPONENT_FIXTURES, build_component

    d = COMPONENT_FIXTURES / "values"
    prov = build_component((d / "provider.wat").read_text(), d, "provider-world")
    cons = build_component((d / "consumer.wat").read_text(), d, "consumer-world")
    return prov, cons


def _composition(prov: bytes, cons: bytes) -> bytes:
    from component_build import compose_pair

    return compose_pair(cons, prov, "test:values/provider@0.1.0", "test:values/consumer@0.1.0",
                        export_provided=True)


def _direct(composed: bytes):
    import wasmtime
    from wasmtime import component as wc

    from wasmweld.runtime.component import compile_component, component_engine

    store = wasmtime.Store(component_engine())
    inst = wc.Linker(store.engine).instantiate(store, compile_component(composed))
    iface, _, name = C.rpartition("#")
    f = inst.get_func(store, inst.get_export_index(store, name, inst.get_export_index(store, iface)))

    def call(s):
        out = f(store, s)
        f.post_return(store)
        return out
    return call


def _world(prov: bytes, cons: bytes):
    from wasmweld.runtime.component_world import ComponentWorld

    w = ComponentWorld()
    w.add("app", cons)
    w.add("lib", prov)
    return lambda s: w.invoke("app", C, s)


def run(ctx):
    from component_build import WASM_TOOLS

    from wasmweld.component import parse_component
    from wasmweld.component.wit import component_wit

    rows = []
    sm = _sm_component(ctx)
    if sm is not None:
        name = f"starlingmonkey.component ({len(sm) / 1e6:.1f} MB)"
        rows.append(ctx.row("component parse+encode", name, "wasmweld",
                            ctx.time(lambda: parse_component(sm).encode())))

        def full():
            c = parse_component(sm)
            c.decode_all(modules=False)
            return c.encode()
        rows.append(ctx.row("component decode+encode", name, "wasmweld", ctx.time(full)))
        rows.append(ctx.row("component wit", name, "wasmweld", ctx.time(lambda: component_wit(parse_component(sm)))))
        path = ctx.tmp / "sm.component.wasm"
        rows.append(ctx.row("component wit", name, "wasm-tools", ctx.time(
            lambda: subprocess.run([str(WASM_TOOLS), "component", "wit", str(path)], capture_output=True,
                                   check=True))))
    prov, cons = _values(ctx)
    composed = _composition(prov, cons)
    s = "x" * 1024
    rows.append(ctx.row("component world start", "provider+consumer", "wasmweld ComponentWorld",
                        ctx.time(lambda: _world(prov, cons)(s), warmup=1)))
    rows.append(ctx.row("component world start", "provider+consumer", "wasmtime-py direct",
                        ctx.time(lambda: _direct(composed)(s), warmup=1)))
    n = 50 if ctx.quick else 200
    for tool, make in (("wasmweld ComponentWorld", lambda: _world(prov, cons)),
                       ("wasmtime-py direct", lambda: _direct(composed))):
        call = make()
        assert call(s) == s

        def many(call=call):
            t0 = time.perf_counter()
            for _ in range(n):
                call(s)
            return time.perf_counter() - t0
        per = min(many() for _ in range(1 if ctx.quick else 3)) / n
        rows.append(ctx.row("cross-component call", "1 KB string", tool, per, calls=n))
    rows += _snapshot_rows(ctx)
    rows += _js_rows(ctx)
    return rows


def _snapshot_rows(ctx):
    from component_build import COMPONENT_FIXTURES, build_component

    from wasmweld.runtime.component_snapshot import snapshot_component
    from wasmweld.runtime.component_world import ComponentWorld

    d = COMPONENT_FIXTURES / "snap"
    plain = build_component((d / "snap.wat").read_text(), d, "snap")
    snapped = snapshot_component(plain)

    def first(data):
        w = ComponentWorld()
        w.add("x", data)
        return w.invoke("x", "test:snap/api@0.1.0#get", 7)

    assert first(plain) == first(snapped)
    return [ctx.row("component first call", "snap (init: 1M table updates)", "wasmweld snapshot",
                    ctx.time(lambda: first(snapped), warmup=1)),
            ctx.row("component first call", "snap (init: 1M table updates)", "no snapshot",
                    ctx.time(lambda: first(plain), warmup=1))]


def _js_rows(ctx):
    """componentize-js builds of tests/fixtures/component/js/init.js (``make jstools`` installs the tools)."""
    from component_build import COMPONENT_FIXTURES, build_js_component, build_js_uninit, init_at_instantiation

    from wasmweld.component import parse_component
    from wasmweld.runtime.component_snapshot import snapshot_component
    from wasmweld.runtime.component_world import ComponentWorld
    from wasmweld.runtime.wasi import WasiOptions

    d = COMPONENT_FIXTURES / "js"
    src, wit = (d / "init.js").read_text(), d / "init.wit"
    pre = build_js_component(src, wit, "jsinit")
    u = build_js_uninit(src, wit, "jsinit")
    grant = u.wasi(ctx.tmp / "js-files", stdout=None)
    snapped = snapshot_component(u.component, u.init_func, wasi=grant)
    lazy = init_at_instantiation(u.component, u.init_func)
    name = f"componentize-js init.js ({len(pre) / 1e6:.1f} MB)"
    rows = [ctx.row("component parse+encode", name, "wasmweld", ctx.time(lambda: parse_component(pre).encode()))]

    def first(data, wasi):
        w = ComponentWorld(wasi=wasi)
        w.add("js", data)
        return w.invoke("js", "test:jsinit/api@0.1.0#get", 7)

    quiet = WasiOptions(stdout=None)
    answers = {first(snapped, quiet), first(pre, quiet), first(lazy, grant)}     # compiles each once (kept)
    assert len(answers) == 1, answers
    task, inp = "js component first call", "init.js (2M-update table at top level; compiled)"
    return rows + [ctx.row(task, inp, "wasmweld snapshot", ctx.time(lambda: first(snapped, quiet), warmup=1)),
            ctx.row(task, inp, "componentize-js (Wizer)", ctx.time(lambda: first(pre, quiet), warmup=1)),
            ctx.row(task, inp, "no snapshot (init at instantiation)", ctx.time(lambda: first(lazy, grant), warmup=1))]
