"""Validation of real modules: wasmweld's own pure-Python validator vs wasmtime vs ``wasm-tools validate``.

Task ``validate`` (in-process where possible): ``wasmweld`` is ``wasmweld.validate(data)`` (the pure-Python
validator, big code sections in two processes), ``wasmweld (1 process)`` the same with
``WASMWELD_VALIDATE_JOBS=1`` (these two timed in :data:`PAIRS` interleaved pairs; ``speedup``: one process's
median over two's), ``wasmtime`` is wasmtime-py's ``Module.validate`` in-process (it refuses
em-pyodide's legacy exception handling: an error row), ``wasm-tools validate`` the native CLI as a child
process (start-up included). Task ``validate (CLI)``: the whole ``wasmweld validate FILE`` command
(``--engine auto``: wasmtime's acceptance when it accepts, else wasmweld's validator) against a Python
process that only imports wasmtime and validates, so both include interpreter start-up.

Task ``quick paths (CLI)`` (issue 10's quick paths): ``wasmweld strip --debug``, ``metadata show`` and
``info`` on em-pyodide (legacy exceptions: wasmtime rejects it, so the well-formedness check is wasmweld's
own, bodies checked by the pattern scanner of ``wasmweld.binary.bodycheck``, never decoded) against
modules of similar size that wasmtime accepts (wasisdk-starlingmonkey, em-binaryen-wasm-opt); each row
also records the child's CPU seconds (``cpu_s``: the machine may be loaded). Task ``well-formedness``
(in-process): ``parse(lazy=False, bodies=False)`` (the quick path) vs ``parse(lazy=False)`` (every body
decoded into Instr objects, what ``check_wellformed`` did before).

Targets (issue 10): rs-swc (18 MB) fully validated in pure Python in <= 3 s (aim 2 s); ``wasmweld
validate`` end to end within 1.5x of wasmtime's own time plus process start-up.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from wasmweld.module import parse
from wasmweld.validate import validate

QUICK = ["as-rabin", "em-sqljs"]
FULL = ["rs-swc", "wasisdk-starlingmonkey", "em-ffmpeg", "em-pyodide"]
QUICK_PATHS_QUICK = ["em-sqljs"]
QUICK_PATHS_FULL = ["em-pyodide", "wasisdk-starlingmonkey", "em-binaryen-wasm-opt"]

_WASMTIME_ONLY = ("import sys, wasmtime; wasmtime.Module.validate(wasmtime.Engine(), "
                  "open(sys.argv[1], 'rb').read())")


#: wasmweld's validator in two processes and in one, this many interleaved pairs
PAIRS = 7


def _one_vs_two(ctx, cid: str, data: bytes, size: str) -> list:
    """``wasmweld`` (a second process for a big code section) and ``wasmweld (1 process)``, interleaved (issue
    16.4: the one-process row notes the speed-up of the two-process one)."""
    try:
        times = ctx.paired({"two": lambda: validate(data),
                            "one": lambda: ctx.call_with_env(lambda: validate(data), WASMWELD_VALIDATE_JOBS="1")}, PAIRS)
    except Exception as exc:  # noqa: BLE001 - a module the validator refuses is a result
        return [ctx.row("validate", cid, "wasmweld", None, size=size, error=f"{type(exc).__name__}: {exc}"[:200])]
    two, one = statistics.median(times["two"]), statistics.median(times["one"])
    return [ctx.row("validate", cid, "wasmweld", two, size=size, runs=len(times["two"])),
            ctx.row("validate", cid, "wasmweld (1 process)", one, runs=len(times["one"]), speedup=f"{one / two:.2f}x")]


def _run(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError((r.stderr or r.stdout).strip().splitlines()[-1][:160])


def run(ctx):
    validate(b"\0asm\x01\0\0\0", engine="wasmtime")  # build wasmtime's engine outside the timings
    wasm_tools = ctx.repo / ".venv" / "bin" / "wasm-tools"
    cli = [sys.executable, "-m", "wasmweld", "validate"]
    rows = []
    for cid in QUICK if ctx.quick else FULL:
        path = ctx.corpus(cid)
        data = path.read_bytes()
        size = f"{len(data) / 1e6:.2f} MB"
        rows += _one_vs_two(ctx, cid, data, size)
        rows.append(ctx.measure("validate", cid, "wasmtime (in-process)",
                                lambda data=data: validate(data, engine="wasmtime")))
        if wasm_tools.is_file():
            rows.append(ctx.measure("validate", cid, "wasm-tools validate",
                                    lambda path=path: _run([str(wasm_tools), "validate", "--features", "all",
                                                            str(path)])))
        rows.append(ctx.measure("validate (CLI)", cid, "wasmweld validate",
                                lambda path=path: _run([*cli, str(path)])))
        rows.append(ctx.measure("validate (CLI)", cid, "wasmweld validate --engine wasmweld",
                                lambda path=path: _run([*cli, "--engine", "wasmweld", str(path)])))
        rows.append(ctx.measure("validate (CLI)", cid, "python + wasmtime only",
                                lambda path=path: _run([sys.executable, "-c", _WASMTIME_ONLY, str(path)])))
    rows += quick_paths(ctx, cli[:-1])
    return rows


def _cli_row(ctx, task, cid, tool, argv):
    """``ctx.measure`` of a child process, with the child's median CPU seconds in ``cpu_s``."""
    cpu = []

    def fn():
        before = os.times()
        _run(argv)
        after = os.times()
        cpu.append(after.children_user - before.children_user + after.children_system - before.children_system)

    row = ctx.measure(task, cid, tool, fn)
    if cpu:
        row.extra["cpu_s"] = round(statistics.median(cpu), 3)
    return row


def quick_paths(ctx, wasmweld):
    """strip/metadata/info end to end, and the well-formedness check in-process, quick path vs full decode."""
    rows = []
    out = ctx.tmp / "quick-strip.wasm"
    for cid in QUICK_PATHS_QUICK if ctx.quick else QUICK_PATHS_FULL:
        path = ctx.corpus(cid)
        data = path.read_bytes()
        size = f"{len(data) / 1e6:.2f} MB"
        for tool, argv in (("wasmweld strip --debug", ["strip", "--debug", str(path), "-o", str(out), "--force", "-q"]),
                           ("wasmweld metadata show", ["metadata", "show", str(path)]),
                           ("wasmweld info", ["info", str(path)])):
            rows.append(_cli_row(ctx, "quick paths (CLI)", cid, tool, [*wasmweld, *argv]))
        rows.append(ctx.measure("well-formedness", cid, "wasmweld (bodies checked, not decoded)",
                                lambda data=data: parse(data, lazy=False, bodies=False), size=size))
        rows.append(ctx.measure("well-formedness", cid, "wasmweld (every body decoded)",
                                lambda data=data: parse(data, lazy=False)))
    return rows
