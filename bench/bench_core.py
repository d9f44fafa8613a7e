"""Core benchmarks (issue 2): reading and writing whole modules, and renumbering them.

Tasks, per corpus module (MB/s in the notes is the input size over the median time):

``lazy parse+encode``    ``parse(data).encode()``: sections split, nothing decoded; an untouched
                         module encodes to its input object, so this is the floor, not a rate.
``lazy edit+encode``     ``parse(data)``, append one export, ``encode()``: the export section is
                         decoded and re-encoded, every other section copied as raw bytes into a
                         new output (the lazy path's real throughput).
``decode+encode``        ``parse(data, lazy=False).encode()``: every section, body and known custom
                         section decoded into objects, then written; next to binaryen
                         ``wasm-opt -all --disable-compact-imports IN -o OUT`` (no passes) and walrus
                         parse + emit (native, through @napi-rs/wasm-tools under node).
``renumber all funcs``   ``renumber(parse(data), IndexMaps(func=reversal)).encode()``: every defined
                         function index reversed, so every call, ref.func, export, element and name
                         entry changes. The peers have no renumber-only mode; their rows repeat
                         their parse+write time (the least a renumbering through them costs).

For the modules over 4 MB, ``decode+encode``, ``renumber all funcs`` and ``gc`` (``gc(parse(data)).module.encode()``) are
also timed in one process and in two (``WASMWELD_FORK=0`` / ``1``, interleaved; issue 16.4), the
two-process row noting the speed-up: medians of :data:`PAIRS` interleaved pairs (``--repeats`` more if
asked), since the machine's speed drifts by 10-15% between runs.

Peers run as child processes; their times include process start-up (walrus's own
parse/emit timings are in its notes). Run with ``make bench`` or ``python bench/run.py -k core``.
"""

from __future__ import annotations

import statistics

from wasmweld.binary.reencode import IndexMaps, renumber
from wasmweld.module import Export, parse
from wasmweld.link.parallel import MIN_PARALLEL_BYTES
from wasmweld.passes import gc
from wasmweld.types import ExternKind

QUICK = ["as-rabin", "em-sqljs"]
FULL = ["em-sqljs", "rs-tiktoken", "wasisdk-starlingmonkey", "rs-swc", "em-ffmpeg"]


def _edit_one_export(data: bytes) -> bytes:
    m = parse(data)
    m.exports.append(Export("wasmweld-bench", ExternKind.FUNC, 0))
    out = m.encode()
    assert len(out) > len(data)
    return out


def _reversal(data: bytes) -> IndexMaps:
    m = parse(data)
    n_imp = m.num_imported(ExternKind.FUNC)
    n = n_imp + len(m.funcs)
    return IndexMaps(func=list(range(n_imp)) + list(range(n - 1, n_imp - 1, -1)))


def run(ctx):
    rows = []
    for cid in QUICK if ctx.quick else FULL:
        rows.extend(_bench_module(ctx, cid))
    return rows


def _bench_module(ctx, cid: str) -> list:
    path = ctx.corpus(cid)
    data = path.read_bytes()
    mb = len(data) / 1e6
    size = f"{mb:.2f} MB"
    # slow peers on big inputs: fewer runs (still a median)
    peer_repeats = min(ctx.repeats, 3) if mb > 5 else ctx.repeats

    def rate(row):
        if row.median_s:
            row.extra["MB/s"] = mb / row.median_s
        return row

    rows = [
        rate(ctx.measure("lazy parse+encode", cid, "wasmweld", lambda: parse(data).encode(), warmup=1, size=size)),
        rate(ctx.measure("lazy edit+encode", cid, "wasmweld", lambda: _edit_one_export(data), warmup=1, size=size)),
        rate(ctx.measure("decode+encode", cid, "wasmweld", lambda: parse(data, lazy=False).encode(),
                         warmup=1, size=size)),
    ]
    maps = _reversal(data)
    rows.append(rate(ctx.measure("renumber all funcs", cid, "wasmweld",
                                 lambda: renumber(parse(data), maps).encode(), warmup=1, size=size)))

    if len(data) >= MIN_PARALLEL_BYTES:
        rows.extend(_one_vs_two(ctx, cid, data, maps, size))

    opt_out = ctx.tmp / f"{cid}.opt.wasm"
    wasm_opt = _measure(ctx, "decode+encode", cid, f"wasm-opt (binaryen {ctx.peers.version('binaryen')})",
                        lambda: ctx.peers.wasm_opt(path, opt_out), peer_repeats)
    walrus_info: dict = {}

    def walrus():
        walrus_info.update(ctx.peers.walrus_roundtrip(path, ctx.tmp / f"{cid}.walrus.wasm"))

    walrus_row = _measure(ctx, "decode+encode", cid, "walrus (napi, parse+emit)", walrus, peer_repeats)
    if walrus_info:
        walrus_row.extra["walrus_own_s"] = round(walrus_info["parse_s"] + walrus_info["emit_s"], 3)
    for row in (wasm_opt, walrus_row):
        rows.append(rate(row))
        rows.append(ctx.row("renumber all funcs", cid, row.tool, row.median_s, **dict(row.extra, work="parse+write")))
    return rows


#: one-process / two-process pairs timed (interleaved) for each speed-up row
PAIRS = 7


def _one_vs_two(ctx, cid: str, data: bytes, maps: IndexMaps, size: str) -> list:
    """Issue 16.4: full decoding, renumbering and gc of a big module in one process and in two (decoding: a forked
    child takes parts of the bodies from the end and streams them packed, the parent takes them from the start;
    gc: a child scans bodies ahead and streams their references); the two-process row notes its speed-up.
    Interleaved runs."""
    jobs = {"decode+encode": lambda: parse(data, lazy=False).encode(),
            "renumber all funcs": lambda: renumber(parse(data), maps).encode(),
            "gc": lambda: gc(parse(data)).module.encode()}
    rows = []
    for task, fn in jobs.items():
        times = ctx.paired({forced: lambda forced=forced, fn=fn: ctx.call_with_env(fn, WASMWELD_FORK=forced)
                            for forced in ("0", "1")}, PAIRS)
        one, two = statistics.median(times["0"]), statistics.median(times["1"])
        rows.append(ctx.row(task, cid, "wasmweld (one process)", one, size=size, runs=len(times["0"])))
        rows.append(ctx.row(task, cid, "wasmweld (two processes)", two, size=size, runs=len(times["1"]),
                            speedup=f"{one / two:.2f}x"))
    return rows


def _measure(ctx, task, cid, tool, fn, repeats):
    """``ctx.measure`` with its own number of runs (Context.measure has no ``repeats``)."""
    try:
        ts = ctx.times(fn, repeats=repeats)
    except Exception as exc:  # a peer that cannot do the job is a result, not a crash
        return ctx.row(task, cid, tool, None, error=f"{type(exc).__name__}: {exc}"[:200])
    return ctx.row(task, cid, tool, statistics.median(ts), runs=len(ts))
