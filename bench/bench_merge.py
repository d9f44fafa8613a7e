"""Merge time: wasmweld vs Binaryen's wasm-merge on the same inputs (issue 3).

(a) the three C services of the seed scenario (logger, ledger, bank; clang, bare
wasm32) and (b) pairs of large real modules from the corpus, each under its own
name: em-sqljs + em-quickjs, and wasisdk-starlingmonkey + rs-swc (28 MB
together; skipped by ``--quick``).

Both sides do the same job: read the inputs, fuse, renumber, rename conflicting
exports (``-rec`` / ``export_conflicts="rename"``), remove what is unused
(wasm-merge always runs remove-unused-module-elements; wasmweld's gc is on by
default) and write the result. Rows:

* ``wasmweld``: in this process, files in and out (``merge`` + ``encode`` + write);
* ``wasmweld CLI``: ``python -m wasmweld merge ... -rec -o OUT`` as a child process
  (interpreter start-up and wasmtime validation of the output included); for inputs over 4 MB
  also ``wasmweld CLI (one process)``, the same with ``WASMWELD_FORK=0`` (no second process for
  the scan and renumbering of the bodies; the default uses one when a core is idle);
* ``wasm-merge``: binaryen 132 under node, ``-all --disable-compact-imports -rec``
  (start-up included, as a user sees it; it validates its inputs and output).

The two child-process rows also carry ``cpu`` (user + system seconds, the child and
what it waited for, median); the CLI row also ``peak``, its largest resident set, taken
by GNU time when /usr/bin/time exists (the issue's bound: 400 MB for starlingmonkey + rs-swc). On a busy machine compare ``cpu``:
wall time there mostly measures the wait for a core.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import peers
from wasmweld.link import merge

SERVICES = ("logger", "ledger", "bank")
PAIRS_QUICK = [("em-sqljs", "em-quickjs")]
PAIRS_FULL = [("em-sqljs", "em-quickjs"), ("wasisdk-starlingmonkey", "rs-swc")]


def _clang_services(ctx) -> list[tuple[Path, str]]:
    src = ctx.repo / "tests" / "fixtures" / "merge" / "c" / "services"
    out = []
    for name in SERVICES:
        dest = ctx.tmp / f"{name}.wasm"
        subprocess.run(["clang", "--target=wasm32", "-O2", "-nostdlib", "-Wl,--no-entry", "-o", str(dest),
                        str(src / f"{name}.c")], check=True, capture_output=True)
        out.append((dest, name))
    return out


def _wasmweld_files(inputs: list[tuple[Path, str]], out: Path) -> None:
    pairs = [(name, path.read_bytes()) for path, name in inputs]
    data = merge(pairs, export_conflicts="rename", warn=lambda text: None).encode()
    out.write_bytes(data)


def _wasmweld_cli(inputs: list[tuple[Path, str]], out: Path, peaks: list | None = None,
                  fork: str | None = None) -> None:
    argv = [sys.executable, "-m", "wasmweld", "merge", *(f"{p}={n}" for p, n in inputs), "-rec", "-q",
            "--force", "-o", str(out)]
    env = dict(os.environ)
    if fork is not None:
        env["WASMWELD_FORK"] = fork
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent / "src"),
                                         env.get("PYTHONPATH", "")])
    peak_file = out.with_suffix(".peak")
    if peaks is not None:
        argv = peers.with_peak(argv, peak_file)
    proc = subprocess.run(argv, capture_output=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode(errors="replace")[-500:])
    if peaks is not None and (kb := peers.read_peak(peak_file)) is not None:
        peaks.append(kb)


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB"


def _with_cpu(ctx, task: str, label: str, tool: str, fn, peaks: list | None = None) -> object:
    """``ctx.measure`` of a child-process job, plus its median CPU time (user + system of the child and of
    everything it waited for: wasmweld's forked helper, wasmtime's threads) and, when ``fn`` records it
    in ``peaks``, the child's peak resident memory."""
    import resource

    cpus: list[float] = []

    def timed():
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        fn()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)

    row = ctx.measure(task, label, tool, timed)
    if cpus:
        row.extra["cpu"] = f"{sorted(cpus)[len(cpus) // 2]:.2f}s"
    if peaks:
        row.extra["peak"] = f"{max(peaks) // 1024} MB"
    return row


def _case(ctx, label: str, inputs: list[tuple[Path, str]]) -> list:
    size_in = sum(p.stat().st_size for p, _n in inputs)
    out_w = ctx.tmp / f"{label}.wasmweld.wasm"
    out_c = ctx.tmp / f"{label}.cli.wasm"
    out_b = ctx.tmp / f"{label}.binaryen.wasm"
    rows = [ctx.measure("merge", label, "wasmweld", lambda: _wasmweld_files(inputs, out_w),
                        size=f"{_size(size_in)} in")]
    if out_w.exists():
        rows[-1].extra["out"] = f"{_size(out_w.stat().st_size)} out"
    peaks: list[int] = []
    rows.append(_with_cpu(ctx, "merge", label, "wasmweld CLI", lambda: _wasmweld_cli(inputs, out_c, peaks), peaks))
    if size_in >= 4_000_000:        # the second process's share (issue 16): the same merge in one process
        one: list[int] = []
        rows.append(_with_cpu(ctx, "merge", label, "wasmweld CLI (one process)",
                              lambda: _wasmweld_cli(inputs, out_c, one, fork="0"), one))
    rows.append(_with_cpu(ctx, "merge", label, f"wasm-merge (binaryen {ctx.peers.version('binaryen')})",
                          lambda: ctx.peers.wasm_merge(inputs, out_b, "-rec")))
    if out_b.exists():
        rows[-1].extra["out"] = f"{_size(out_b.stat().st_size)} out"
    return rows


def _many_exports(n: int) -> bytes:
    """A module of ``n`` exported functions ``(func (export "eI") (result i32) (i32.const I))``."""
    from wasmweld.binary.instr import Instr
    from wasmweld.module import Export, FuncBody, parse
    from wasmweld.types import I32, ExternKind, FuncType, RecGroup, SubType

    m = parse(b"\0asm\x01\0\0\0")
    m.types.append(RecGroup((SubType(FuncType((), (I32,))),)))
    for i in range(n):
        m.funcs.append(0)
        m.code.append(FuncBody.from_instrs([], [Instr.make("i32.const", i)]))
        m.exports.append(Export(f"e{i}", ExternKind.FUNC, i))
    return m.encode()


def _exports_case(ctx, n: int) -> list:
    """Issue 17.7: merge used to find each kept export by a linear scan (40k exports: 20 s)."""
    from wasmweld import parse

    big = _many_exports(n)
    user = parse(b"\0asm\x01\0\0\0")
    pairs = [("big", big), ("user", user.encode())]

    def ours():
        return merge([(name, parse(data)) for name, data in pairs], warn=lambda text: None).encode()

    return [ctx.measure("merge", f"{n // 1000}k exports", "wasmweld", ours, size=f"{_size(len(big))} in")]


def run(ctx):
    rows = []
    rows += _exports_case(ctx, 40_000)
    rows += _case(ctx, "C services (3)", _clang_services(ctx))
    for a, b in PAIRS_QUICK if ctx.quick else PAIRS_FULL:
        inputs = [(ctx.corpus(a), a.replace("-", "_")), (ctx.corpus(b), b.replace("-", "_"))]
        rows += _case(ctx, f"{a} + {b}", inputs)
    return rows
