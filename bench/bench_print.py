"""Printing modules as text (issue 13): ``wasmweld print IN -o OUT`` next to the peers.

Tasks, per corpus module:

``print``   the whole module as WebAssembly text to a file: ``wasmweld print`` (a child process,
            start-up included, like the peers), ``wasm-tools print`` (native, the format's
            reference: wasmweld's output is identical to it byte for byte) and wabt's ``wasm2wat``
            (``--enable-all``). Notes: the input size, the text size, MB of text per second and the
            child's peak memory (``peak_MB``, taken by GNU time). The output file is removed
            before each run, untimed.

For rs-swc and em-ffmpeg (full run only) ``wasmweld (one process)`` and ``wasmweld (two processes)``
time the same ``wasmweld print IN -o OUT`` with ``WASMWELD_FORK=0`` / ``1`` (issue 16.4: the second
process prints the data section and the last bodies, see text/parallel.py), interleaved (:data:`PAIRS`); the
two-process row notes the speed-up, whether the two texts are identical, and ``cpu_s``: the
process tree's CPU time (user + system; the best run of each).

The full run prints rs-swc (18 MB in, about 380 MB of text out); ``--quick`` prints em-sqljs.
Run with ``python bench/run.py -k print``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import peers

QUICK = ["em-sqljs"]
FULL = ["em-sqljs", "rs-swc"]
#: one process vs two (full run only), in this many interleaved pairs
TWO = ["rs-swc", "em-ffmpeg"]
PAIRS = 7


def _wasm_tools() -> str | None:
    return shutil.which("wasm-tools", path=str(Path(sys.executable).parent)) or shutil.which("wasm-tools")


def _child(argv: list[str], out: Path, env: dict[str, str] | None = None) -> tuple[float, float | None, float]:
    """Run ``argv``, which writes ``out``; (wall seconds, peak RSS in MB or None, CPU seconds of it and
    its children). ``out`` is removed first, untimed: freeing the last run's 380 MB of text is the
    file system's work, not printing's (0.2 s in a ``rename`` over it). Raises RuntimeError if it fails."""
    out.unlink(missing_ok=True)
    peak_file = out.with_suffix(".peak")
    name = Path(str(argv[0])).name
    argv = peers.with_peak(argv, peak_file)
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode("utf-8", "replace").strip()
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{name} exited {proc.returncode}: {err[-300:]}")
    kb = peers.read_peak(peak_file)
    return elapsed, None if kb is None else kb / 1024, usage.ru_utime + usage.ru_stime


def _measure(ctx, cid: str, tool: str, argv: list[str], out: Path, size_mb: float):
    times, peaks = [], []
    try:
        for _ in range(ctx.repeats):
            t, peak, _cpu = _child(argv, out)
            times.append(t)
            peaks.append(peak)
    except Exception as exc:  # a peer that cannot do the job is a result, not a crash
        return ctx.row("print", cid, tool, None, error=f"{type(exc).__name__}: {exc}"[:200])
    times.sort()
    median = times[len(times) // 2]
    text_mb = out.stat().st_size / 1e6
    return ctx.row("print", cid, tool, median, size=f"{size_mb:.2f} MB", text=f"{text_mb:.0f} MB",
                   text_MB_s=round(text_mb / median, 1), runs=len(times),
                   **({"peak_MB": round(max(peaks))} if None not in peaks else {}))


def run(ctx):
    rows = []
    for cid in QUICK if ctx.quick else FULL:
        path = ctx.corpus(cid)
        size_mb = path.stat().st_size / 1e6
        ours = ctx.tmp / f"{cid}.wasmweld.wat"
        rows.append(_measure(ctx, cid, "wasmweld", [sys.executable, "-m", "wasmweld", "print", path, "-o", ours],
                             ours, size_mb))
        wt = _wasm_tools()
        if wt:
            ref = ctx.tmp / f"{cid}.wasm-tools.wat"
            row = _measure(ctx, cid, "wasm-tools print (native)", [wt, "print", path, "-o", ref], ref, size_mb)
            if row.median_s is not None:
                row.extra["identical"] = _same_file(ours, ref)
            rows.append(row)
        if ctx.peers.available("wasm2wat"):
            w2w = ctx.tmp / f"{cid}.wasm2wat.wat"
            rows.append(_measure(ctx, cid, f"wasm2wat (wabt {ctx.peers.version('wabt')})",
                                 [ctx.peers.tool("wasm2wat"), "--enable-all", path, "-o", w2w], w2w, size_mb))
        for f in ctx.tmp.glob(f"{cid}.*.wat"):
            f.unlink()
    if not ctx.quick:
        for cid in TWO:
            rows += _one_vs_two(ctx, cid)
    return rows


def _one_vs_two(ctx, cid: str) -> list:
    """Issue 16.4: ``wasmweld print`` with ``WASMWELD_FORK=0`` and ``=1``, interleaved (median wall time)."""
    path = ctx.corpus(cid)
    size = f"{path.stat().st_size / 1e6:.2f} MB"
    runs: dict[str, list[tuple[float, float, float]]] = {"0": [], "1": []}
    outs = {fork: ctx.tmp / f"{cid}.fork{fork}.wat" for fork in runs}
    try:
        for _ in range(max(ctx.repeats, PAIRS)):
            for fork in runs:
                argv = [sys.executable, "-m", "wasmweld", "print", path, "-o", outs[fork]]
                runs[fork].append(_child(argv, outs[fork], env=dict(os.environ, WASMWELD_FORK=fork)))
    except Exception as exc:  # noqa: BLE001 - a failure is a result
        return [ctx.row("print", cid, "wasmweld (two processes)", None, error=f"{type(exc).__name__}: {exc}"[:200])]
    same = _same_file(outs["0"], outs["1"])
    for f in outs.values():
        f.unlink()
    one, two = (statistics.median(r[0] for r in runs[k]) for k in ("0", "1"))
    cpu = {k: round(min(r[2] for r in runs[k]), 2) for k in runs}
    return [ctx.row("print", cid, "wasmweld (one process)", one, size=size, cpu_s=cpu["0"], runs=len(runs["0"])),
            ctx.row("print", cid, "wasmweld (two processes)", two, size=size, cpu_s=cpu["1"], runs=len(runs["1"]),
                    speedup=f"{one / two:.2f}x", identical=same)]


def _same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True
