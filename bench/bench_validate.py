"""Validation of real modules: wasmweld.validate (wasmtime in-process) vs wabt's wasm-validate.

Proves the harness end to end: an in-process wasmweld row, a peer run as a
child process, and the ratio between them. Both sides are native validators
(wasmtime's, wabt's compiled to JS under node), so the ratio says little about
wasmweld's own code; the peer's time includes starting node.
"""

from __future__ import annotations

from wasmweld.validate import validate

QUICK = ["as-rabin", "em-sqljs"]
FULL = ["as-rabin", "em-sqljs", "rs-tiktoken", "rs-swc"]


def run(ctx):
    validate(b"\0asm\x01\0\0\0")  # build wasmtime's engine outside the timings
    rows = []
    for cid in QUICK if ctx.quick else FULL:
        path = ctx.corpus(cid)
        data = path.read_bytes()
        size = f"{len(data) / 1e6:.2f} MB"
        rows.append(ctx.measure("validate", cid, "wasmweld", lambda data=data: validate(data), size=size))
        rows.append(
            ctx.measure(
                "validate", cid, f"wasm-validate (wabt {ctx.peers.version('wabt')})",
                lambda path=path: ctx.peers.wasm_validate(path),
            )
        )
    return rows
