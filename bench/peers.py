"""Run the peer tools wasmweld is measured against, as child processes.

Each function runs one tool once and raises :class:`PeerError` (with the
tool's stderr) if it fails; time them with ``ctx.time(lambda: peers.wasm_opt(a, b))``.
The tools come from ``../shared/peers/setup.sh``, installed under
``~/.cache/wasmweld-peers`` (``$PEERS`` or ``$WASM_PEERS`` to move it)::

    wasm-opt / wasm-merge     binaryen 132 (emscripten build, runs under node)
    wasm-validate             wabt 1.0.39
    wizer                     Wizer 11 (native)
    walrus                    walrus through @napi-rs/wasm-tools (native, called from node)
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

PEERS_DIR = Path(os.environ.get("PEERS") or os.environ.get("WASM_PEERS") or Path.home() / ".cache" / "wasmweld-peers")
BIN = PEERS_DIR / "node_modules" / ".bin"
#: binaryen flags for comparable output: every feature, and no compact-import encoding older readers reject
BINARYEN_FLAGS = ("-all", "--disable-compact-imports")


#: GNU time, a small process around a measured child, for its peak resident memory: a child's own
#: ru_maxrss starts at that of the process that forked it (Linux copies the high-water mark at fork)
GNU_TIME = "/usr/bin/time"


def with_peak(argv: Sequence[str | Path], peak_file: Path) -> list[str]:
    """``argv`` run under GNU time, which writes the child's peak RSS (KB) to ``peak_file`` (``argv`` as
    it is where GNU time is missing); :func:`read_peak` reads it."""
    peak_file.unlink(missing_ok=True)
    head = [GNU_TIME, "-f", "%M", "-o", str(peak_file)] if os.access(GNU_TIME, os.X_OK) else []
    return head + [str(a) for a in argv]


def read_peak(peak_file: Path) -> int | None:
    """The peak RSS in KB that :func:`with_peak`'s GNU time wrote (the file removed), or None."""
    if not peak_file.exists():
        return None
    kb = int(peak_file.read_text().split()[-1])
    peak_file.unlink()
    return kb


class PeerError(RuntimeError):
    """A peer tool is missing or failed."""


def tool(name: str) -> str:
    """Path of a peer executable (``wasm-opt``, ``wasm-merge``, ``wizer``, ...)."""
    path = BIN / name
    if not path.exists():
        raise PeerError(f"{name} not found in {BIN}: run `bash ../shared/peers/setup.sh`")
    return str(path)


def available(name: str) -> bool:
    return (BIN / name).exists()


def version(name: str) -> str:
    """The version string of an npm-installed peer package (``binaryen``, ``wabt``, ...)."""
    try:
        return json.loads((PEERS_DIR / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def _run(argv: Sequence[str], *, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(list(map(str, argv)), capture_output=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerError(f"{Path(str(argv[0])).name}: {exc}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PeerError(f"{Path(str(argv[0])).name} exited {proc.returncode}: {' | '.join(err[-5:])}")
    return proc


def wasm_opt(inp: str | Path, out: str | Path, *flags: str) -> None:
    """binaryen ``wasm-opt IN -o OUT`` (parse + write, plus any passes in ``flags``)."""
    _run([tool("wasm-opt"), *BINARYEN_FLAGS, *flags, inp, "-o", out])


def wasm_merge(inputs: Sequence[tuple[str | Path, str]], out: str | Path, *flags: str) -> None:
    """binaryen ``wasm-merge A.wasm a B.wasm b ... -o OUT``: ``inputs`` are (file, module name) pairs."""
    argv = [tool("wasm-merge"), *BINARYEN_FLAGS]
    for path, name in inputs:
        argv += [path, name]
    _run([*argv, *flags, "-o", out])


def wasm_validate(inp: str | Path, *flags: str) -> None:
    """wabt ``wasm-validate IN`` (all features it knows)."""
    _run([tool("wasm-validate"), "--enable-all", *flags, inp])


def wizer(
    inp: str | Path,
    out: str | Path,
    *,
    init_func: str = "wizer-initialize",
    allow_wasi: bool = False,
    flags: Sequence[str] = (),
) -> None:
    """Wizer: run ``init_func`` and snapshot the instance into ``out``."""
    argv = [tool("wizer"), str(inp), "-o", str(out), "--init-func", init_func]
    if allow_wasi:
        argv.append("--allow-wasi")
    _run([*argv, *flags])


_WALRUS_JS = r"""
const fs = require("fs");
const { WasmModule } = require(process.env.WALRUS_PKG);
const bytes = fs.readFileSync(process.argv[1]);
let t = process.hrtime.bigint();
const m = WasmModule.fromBuffer(bytes);
const parse = Number(process.hrtime.bigint() - t) / 1e9;
t = process.hrtime.bigint();
const out = m.emitWasm(false);
const emit = Number(process.hrtime.bigint() - t) / 1e9;
fs.writeFileSync(process.argv[2], out);
console.log(JSON.stringify({ parse_s: parse, emit_s: emit, bytes: out.length }));
"""


def walrus_roundtrip(inp: str | Path, out: str | Path) -> dict:
    """walrus parse + emit under node; returns ``{"parse_s", "emit_s", "bytes"}`` as walrus itself timed them."""
    pkg = PEERS_DIR / "node_modules" / "@napi-rs" / "wasm-tools"
    if not pkg.is_dir():
        raise PeerError(f"{pkg} missing: run `bash ../shared/peers/setup.sh`")
    env = dict(os.environ, WALRUS_PKG=str(pkg))
    proc = _run(["node", "-e", _WALRUS_JS, str(inp), str(out)], env=env)
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])
