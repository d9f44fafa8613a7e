"""CLI start-up (issue 16, target 2): ``wasmweld --version`` and ``wasmweld info`` on small modules, as processes.

Each row is the wall time of a whole ``wasmweld`` process, as a user sees it
(interpreter start-up included): the console script ``.venv/bin/wasmweld``, with
bytecode caches in use (as after ``pip install``), one untimed warm-up run; the
``cpu_s`` note is the process's user + system time, which a busy machine inflates
far less than the wall time. The
targets are <= 80 ms for ``--version`` and for ``info`` on a small module. For
scale, a bare ``python -c pass`` (the floor any Python CLI pays) and the native
``wasm-tools`` CLI doing the same job (``--version``; ``objdump``, its closest
to ``info``) when it is installed beside Python. Inputs: a module built from
examples/bank.wat, and the corpus's as-rabin (5 KB) and jco-p1-adapter-reactor
(about 60 KB) modules. One more row, without a target: ``wasmweld run M --invoke f`` on a
one-function module (importing wasmtime, a World, one add and one call: what the World's own
start-up, issue 16.3, is part of).
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path


# as users run it, bytecode caches written and used: bench/run.py compiles them once and drops
# PYTHONDONTWRITEBYTECODE for every child (pip compiles them when it installs a wheel)


def _proc(argv, cpu: list[float] | None = None):
    def go():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if cpu is not None:
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

    return go


def _measure(ctx, task, input, tool, argv, **extra):
    """A process row; ``cpu_s`` (user + system, median) is what a loaded machine cannot inflate much."""
    cpu: list[float] = []
    row = ctx.measure(task, input, tool, _proc(argv, cpu), warmup=1, **extra)
    if cpu:
        row.extra["cpu_s"] = f"{statistics.median(cpu[1:] or cpu):.3f}"
    return row


def run(ctx):
    from wasmweld.runtime.engine import wat2wasm

    bindir = Path(sys.executable).parent
    exe = str(bindir / "wasmweld")
    bank = ctx.tmp / "bank.wasm"
    bank.write_bytes(wat2wasm((ctx.repo / "examples" / "bank.wat").read_text()))
    inputs = [("bank.wasm", bank)]
    for cid in (["as-rabin"] if ctx.quick else ["as-rabin", "jco-p1-adapter-reactor"]):
        try:
            inputs.append((cid, ctx.corpus(cid)))
        except FileNotFoundError as exc:
            ctx.log(f"bench_cli: {exc}")
    wasm_tools = shutil.which("wasm-tools", path=str(bindir))
    rows = [_measure(ctx, "start-up: python -c pass", "-", "python", [sys.executable, "-c", "pass"])]
    rows.append(_measure(ctx, "--version", "-", "wasmweld", [exe, "--version"], target="<= 0.080 s"))
    if wasm_tools:
        rows.append(_measure(ctx, "--version", "-", "wasm-tools", [wasm_tools, "--version"]))
    for name, path in inputs:
        size = f"{path.stat().st_size / 1e3:.1f} KB"
        rows.append(_measure(ctx, "info", name, "wasmweld", [exe, "info", str(path)], size=size,
                             target="<= 0.080 s"))
        rows.append(_measure(ctx, "info", name, "wasmweld --json", [exe, "info", "--json", str(path)], size=size))
        if wasm_tools:
            rows.append(_measure(ctx, "info", name, "wasm-tools objdump", [wasm_tools, "objdump", str(path)],
                                 size=size))
    # what a World costs a CLI process (issue 16.3): import wasmtime, one World, one module, one call
    answer = ctx.tmp / "answer.wasm"
    answer.write_bytes(wat2wasm('(module (func (export "answer") (result i32) i32.const 42))'))
    rows.append(_measure(ctx, "run --invoke", "answer.wasm (one function)", "wasmweld",
                         [exe, "run", str(answer), "--invoke", "answer"]))
    return rows
