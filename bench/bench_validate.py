"""Validation of real modules: wasmweld's own pure-Python validator vs wasmtime vs ``wasm-tools validate``.

Task ``validate`` (in-process where possible): ``wasmweld`` is ``wasmweld.validate(data)`` (the pure-Python
validator, big code sections in two processes), ``wasmweld (1 process)`` the same with
``WASMWELD_VALIDATE_JOBS=1``, ``wasmtime`` is wasmtime-py's ``Module.validate`` in-process (it refuses
em-pyodide's legacy exception handling: an error row), ``wasm-tools validate`` the native CLI as a child
process (start-up included). Task ``validate (CLI)``: the whole ``wasmweld validate FILE`` command
(``--engine auto``: wasmtime's acceptance when it accepts, else wasmweld's validator) against a Python
process that only imports wasmtime and validates, so both include interpreter start-up.

Targets (issue 10): rs-swc (18 MB) fully validated in pure Python in <= 3 s (aim 2 s); ``wasmweld
validate`` end to end within 1.5x of wasmtime's own time plus process start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys

from wasmweld.validate import validate

QUICK = ["as-rabin", "em-sqljs"]
FULL = ["rs-swc", "wasisdk-starlingmonkey", "em-ffmpeg", "em-pyodide"]

_WASMTIME_ONLY = ("import sys, wasmtime; wasmtime.Module.validate(wasmtime.Engine(), "
                  "open(sys.argv[1], 'rb').read())")


def _one_process(data):
    old = os.environ.get("WASMWELD_VALIDATE_JOBS")
    os.environ["WASMWELD_VALIDATE_JOBS"] = "1"
    try:
        validate(data)
    finally:
        if old is None:
            del os.environ["WASMWELD_VALIDATE_JOBS"]
        else:
            os.environ["WASMWELD_VALIDATE_JOBS"] = old


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
        rows.append(ctx.measure("validate", cid, "wasmweld", lambda data=data: validate(data), size=size))
        rows.append(ctx.measure("validate", cid, "wasmweld (1 process)", lambda data=data: _one_process(data)))
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
    return rows
