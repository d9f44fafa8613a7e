"""bench_fuse: a composition vs its fusion on wasmtime's component runtime (per call), and fuse time.

The composition is tests/fuse_fixtures.py's provider/consumer pair: the consumer forwards each call
to the provider, so every call crosses two components (wasmtime's adapter between them in the
composition, wasmweld's Wasm adapter in the fused module); the fused output is ``--emit component``
(one core module), so both run on the same runtime with the same entry lift/lower. Per-call times
include wasmtime-py's marshalling of the Python values, which dominates both. Rows: ``fuse`` time, then per-call time passing a 1 KB string and a
100-element ``list<record>`` (record: u8, s32, f64, string).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def _runner(data: bytes, name: str):
    import wasmtime
    from wasmtime import component as wc

    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = True
    eng = wasmtime.Engine(cfg)
    store = wasmtime.Store(eng)
    inst = wc.Linker(eng).instantiate(store, wc.Component(eng, data))
    idx = inst.get_export_index(store, "test:fuse/fwd")
    f = inst.get_func(store, inst.get_export_index(store, name, idx))

    def call(v):
        r = f(store, v)
        f.post_return(store)
        return r
    return call


def _points(n: int):
    from wasmtime import component as wc

    out = []
    for i in range(n):
        r = wc.Record()
        r.tag, r.x, r.y, r.name = i % 256, -i, i / 3, f"point-{i}"
        out.append(r)
    return out


def run(ctx):
    import fuse_fixtures as F

    from wasmweld.fuse import fuse

    composed = F.pair()
    rows = [ctx.row("fuse", "provider+consumer pair", "wasmweld", ctx.time(lambda: fuse(composed).encode()))]
    fused = fuse(composed, emit="component").encode()
    n = 200 if ctx.quick else 2000
    for func, label, value in (("echo-string", "1 KB string", "é" * 341 + "a"),
                               ("echo-points", "100-element list<record>", _points(100))):
        for tool, data in (("wasmweld fused", fused), ("wasmtime composition", composed)):
            call = _runner(data, func)
            call(value)                                   # warm up (and check it runs)

            def many(call=call, value=value):
                t = time.perf_counter()
                for _ in range(n):
                    call(value)
                return time.perf_counter() - t
            per = min(many() for _ in range(1 if ctx.quick else 3)) / n
            rows.append(ctx.row("cross-component call", label, tool, per, calls=n))
    return rows
