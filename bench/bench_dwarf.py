"""Merge time with DWARF rebasing vs without (issue 14).

Inputs built with clang ``-g`` (wasm-opt kept off PATH, so the DWARF is clang's): (a) the three
services of tests/fixtures/dwarf (shop, pricing, audit; bare wasm32); (b) the WASI reactor pair
of tests/fixtures/merge/c/wasi (app, textlib), whose wasi-libc brings some 60 compile units of
DWARF. Rows, same inputs, same merge (``export_conflicts="rename"``, gc on):

* ``wasmweld (DWARF rebased)``: the inputs as built; every input's ``.debug_*`` sections are
  rewritten onto the merged code (:mod:`wasmweld.dwarf`);
* ``wasmweld (no DWARF)``: the same inputs with their ``.debug_*`` sections stripped beforehand.

(c) the large input: QuickJS (its five C files and the QuickJS tutorial's shim, ``-O2 -g``
wasm32-wasi reactor, ~2.8 MB of ``.debug_*``, 114 compile units) merged behind the ``audit``
service, so every address of QuickJS moves and its calls are renumbered (tests/test_dwarf_large.py
builds it, cached).

One untimed run first (module imports). The corpus holds no module with DWARF, so both cases
are built here.

``--quick`` runs (a) and (c).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from wasmweld import parse
from wasmweld.link import merge

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def _clang_env() -> dict:
    parts = os.environ.get("PATH", "").split(os.pathsep)
    return dict(os.environ, PATH=os.pathsep.join(p for p in parts if p and not Path(p, "wasm-opt").exists()))


def _build(ctx, src: Path, name: str, target: str, flags: list[str]) -> bytes:
    clang = shutil.which("clang") or shutil.which("clang-14")
    if clang is None:
        raise RuntimeError("clang not found (source ~/.cache/wasmweld-peers/env.sh)")
    dest = ctx.tmp / f"dwarf-{name}.wasm"
    argv = [clang, f"--target={target}", "-O2", "-g", *flags, "-o", str(dest), str(src)]
    if target == "wasm32":
        argv[3:3] = ["-nostdlib", "-Wl,--no-entry"]
    subprocess.run(argv, check=True, capture_output=True, env=_clang_env())
    return dest.read_bytes()


def _stripped(data: bytes) -> bytes:
    m = parse(data)
    for cs in list(m.customs):
        if cs.name.startswith(".debug_"):
            m.remove_custom(cs)
    return m.encode()


def _debug_size(data: bytes) -> int:
    return sum(len(cs.data) for cs in parse(data).customs if cs.name.startswith(".debug_"))


def _case(ctx, label: str, inputs: list[tuple[str, bytes]]) -> list:
    plain = [(n, _stripped(d)) for n, d in inputs]

    def run(ins):
        return lambda: merge(ins, export_conflicts="rename", warn=lambda text: None).encode()

    dwarf_kb = sum(_debug_size(d) for _n, d in inputs) / 1e3
    rows = [ctx.measure("merge", label, "wasmweld (DWARF rebased)", run(inputs), warmup=1,
                        dwarf=f"{dwarf_kb:.0f} KB .debug_*"),
            ctx.measure("merge", label, "wasmweld (no DWARF)", run(plain), warmup=1)]
    return rows


def run(ctx) -> list:
    fx = ctx.repo / "tests" / "fixtures"
    services = [(n, _build(ctx, fx / "dwarf" / f"{n}.c", n, "wasm32", [])) for n in ("shop", "pricing", "audit")]
    rows = _case(ctx, "3 C services -g", services)
    if not ctx.quick:
        wasi = [(n, _build(ctx, fx / "merge" / "c" / "wasi" / f"{n}.c", n, "wasm32-wasi", ["-mexec-model=reactor"]))
                for n in ("app", "textlib")]
        rows += _case(ctx, "wasi app+textlib -g (wasi-libc DWARF)", wasi)
    from test_dwarf_large import build_quickjs

    rows += _case(ctx, "audit + QuickJS -g (large)", [services[2], ("qjs", build_quickjs(4))])
    return rows
