"""bench_fuse: a composition vs its fusion on wasmtime's component runtime (per call), and fuse time.

Two kinds of per-call rows, both comparing ``wasmweld fused`` (``fuse --emit component``: one core
module, wasmweld's adapters in Wasm) with ``wasmtime composition`` (the composed components,
wasmtime's FACT adapters), on the same runtime:

- ``cross-component call (in Wasm)``: tests/test_fuse_perf.py's pair, whose consumer export
  ``bench-string(n)`` / ``bench-points(n)`` makes n consumer -> provider calls passing a 1 KB
  UTF-8 string (mostly ASCII with some 2- and 3-byte characters) or a 100-element ``list<point>``
  (point: u8, s32, f64, string) and getting it back; called once from Python with a large n, the
  time divided by n. This is the cross-component call itself (two copies, two validations of each
  string, two reallocs per string).
- ``cross-component call (host-driven)``: tests/fuse_fixtures.py's pair called from Python for each
  value (the consumer forwards to the provider); wasmtime-py's marshalling of the Python values
  dominates both sides, so these rows say little about the adapters.

The runs of the two tools are interleaved and each row is the best of several rounds of this
process's CPU time (``time.process_time``: the machine may be shared, and time spent descheduled
is not the call's); the ``vs wasmweld`` column is the ratio.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def _points(n: int):
    from wasmtime import component as wc

    out = []
    for i in range(n):
        r = wc.Record()
        r.tag, r.x, r.y, r.name = i % 256, -i, i / 3, f"point-{i}"
        out.append(r)
    return out


def _interleaved(calls: dict, rounds: int) -> dict:
    """Per-call seconds of each ``tool -> (call, n)``: the best of ``rounds`` interleaved rounds."""
    best = {tool: float("inf") for tool in calls}
    for _ in range(rounds):
        for tool, (call, n) in calls.items():
            t = time.process_time()
            call(n)
            best[tool] = min(best[tool], (time.process_time() - t) / n)
    return best


def _in_wasm(ctx, fused: bytes, composed: bytes) -> list:
    import test_fuse_perf as P

    rows = []
    n = 2000 if ctx.quick else 50000
    for func, label in (("bench-string", "1 KB string"), ("bench-points", "100-element list<record>")):
        calls = {}
        for tool, data in (("wasmweld fused", fused), ("wasmtime composition", composed)):
            call = P.runner(data, func)
            if call(3) != P.expected(func, 3):                      # warm up, and check it runs right
                raise AssertionError(f"{tool} {func}: wrong result")
            calls[tool] = (call, n)
        for tool, per in _interleaved(calls, 2 if ctx.quick else 7).items():
            rows.append(ctx.row("cross-component call (in Wasm)", label, tool, per, calls=n))
    return rows


def _host_driven(ctx, fused: bytes, composed: bytes) -> list:
    import test_fuse_perf as P

    rows = []
    n = 200 if ctx.quick else 2000
    for func, label, value in (("echo-string", "1 KB string", "é" * 512),
                               ("echo-points", "100-element list<record>", _points(100))):
        calls = {}
        for tool, data in (("wasmweld fused", fused), ("wasmtime composition", composed)):
            call = P.runner(data, func, "test:fuse/fwd")
            call(value)                                              # warm up (and check it runs)

            def many(k, call=call, value=value):
                for _ in range(k):
                    call(value)
            calls[tool] = (many, n)
        for tool, per in _interleaved(calls, 1 if ctx.quick else 3).items():
            rows.append(ctx.row("cross-component call (host-driven)", label, tool, per, calls=n))
    return rows


def _js_fuse(ctx) -> list:
    """(fusea) Fuse time of the componentize-js pair (tests/fuse_fixtures.py ``js_pair``: two
    StarlingMonkey components, 12 MB each, composed) vs ``merge`` of their two main core modules
    (unresolved imports kept, clashing exports renamed): what the adapters, the plan and the
    component output add to the merge both do."""
    import fuse_fixtures as F

    from wasmweld.component import parse_component
    from wasmweld.fuse import fuse
    from wasmweld.link import merge

    composed = F.js_pair()
    inner = parse_component(composed).components
    mains = [(f"c{i}", max(c.modules, key=lambda m: len(m.encode())).encode()) for i, c in enumerate(inner)]
    label = f"componentize-js pair ({len(composed) >> 20} MB composed)"
    return [ctx.row("fuse JS components", label, "wasmweld", ctx.time(lambda: fuse(composed).encode())),
            ctx.row("fuse JS components", label, "wasmweld merge (main core modules only)",
                    ctx.time(lambda: merge(mains, allow_unresolved=True, export_conflicts="rename",
                                           warn=lambda _m: None).encode()))]


def run(ctx):
    import fuse_fixtures as F
    import test_fuse_perf as P

    from wasmweld.fuse import fuse

    composed = F.pair()
    rows = [ctx.row("fuse", "provider+consumer pair", "wasmweld", ctx.time(lambda: fuse(composed).encode()))]
    bench = P.bench_pair()
    rows += _in_wasm(ctx, fuse(bench, emit="component").encode(), bench)
    rows += _host_driven(ctx, fuse(composed, emit="component").encode(), composed)
    rows += _js_fuse(ctx)
    return rows
