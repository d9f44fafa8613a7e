"""Test helpers: locations of shared material, fixture builders (clang, Go) and a runner (wasmtime).

Usable at collection time (for ``parametrize``) as well as inside tests::

    from helpers import CORPUS_DIR, corpus_ids, conformance_rows, compile_c, run_wasm

    @pytest.mark.parametrize("cid", corpus_ids())
    def test_roundtrip(cid, corpus_dir): ...

    wasm = compile_c(FIXTURES / "c" / "harness_add.c", target="wasm32")
    assert run_wasm(wasm, "add", 2, 3) == 5

Built fixtures are cached by content hash in ``~/.cache/wasmweld-test-build``
(``$WASMWELD_TEST_BUILD`` to move it; a temporary folder if neither is writable),
so reruns and parallel workers share them.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
FIXTURES = TESTS / "fixtures"
SHARED_DIR = Path(os.environ.get("WASMWELD_SHARED", REPO.parent / "shared"))
CONFORMANCE_DIR = SHARED_DIR / "conformance"
CORPUS_MANIFEST = SHARED_DIR / "corpus" / "manifest.tsv"
CORPUS_FETCH = SHARED_DIR / "corpus" / "fetch.sh"
CORPUS_DIR = Path(os.environ.get("CORPUS", Path.home() / ".cache" / "wasmweld-corpus"))
PEERS_DIR = Path(os.environ.get("PEERS", Path.home() / ".cache" / "wasmweld-peers"))
PEERS_BIN = PEERS_DIR / "node_modules" / ".bin"
GO_CANDIDATES = ("/usr/bin/go", "/usr/lib/go-1.19/bin/go")


# ------------------------------------------------------------------ shared material


_TSV_ESCAPES = {"\\": "\\", "t": "\t", "n": "\n"}


def _unescape(value: str | None) -> str:
    if not value or "\\" not in value:
        return value or ""
    return re.sub(r"\\(.)", lambda m: _TSV_ESCAPES.get(m.group(1), m.group(0)), value)


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a shared/ TSV file (header first; ``#`` lines skipped; ``\\t`` ``\\n`` ``\\\\`` unescaped)."""
    with open(path, newline="", encoding="utf-8") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.startswith("#")]
    reader = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    return [{k: _unescape(v) for k, v in row.items()} for row in reader]


def corpus_ids() -> list[str]:
    """Ids of the real-world corpus modules, in manifest order (empty if ../shared is missing)."""
    if not CORPUS_MANIFEST.is_file():
        return []
    return [row["id"] for row in read_tsv(CORPUS_MANIFEST) if row.get("id")]


def corpus_path(cid: str) -> Path:
    return CORPUS_DIR / f"{cid}.wasm"


def conformance_rows(kind: str | None = None) -> list[dict[str, str]]:
    """Rows of ``conformance/index.tsv`` (optionally only ``valid``/``malformed``/``invalid``).

    Each row is a dict with the index's columns (path, kind, expected_message,
    wasmtime, features, ...); ``CONFORMANCE_DIR / row["path"]`` is the file.
    """
    index = CONFORMANCE_DIR / "index.tsv"
    if not index.is_file():
        return []
    rows = read_tsv(index)
    return [r for r in rows if kind is None or r["kind"] == kind]


# ------------------------------------------------------------------ build cache


def build_cache_dir() -> Path:
    """Where built fixtures are cached (created on first use)."""
    for cand in (os.environ.get("WASMWELD_TEST_BUILD"), Path.home() / ".cache" / "wasmweld-test-build"):
        if not cand:
            continue
        try:
            Path(cand).mkdir(parents=True, exist_ok=True)
            if os.access(cand, os.W_OK):
                return Path(cand)
        except OSError:
            continue
    path = Path(tempfile.gettempdir()) / f"wasmweld-test-build-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _put_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def cached_build(name: str, build: Callable[[], bytes]) -> bytes:
    """``build()``, kept in the build cache as ``name`` (a key that names everything the result depends on)."""
    path = build_cache_dir() / name
    if path.exists():
        return path.read_bytes()
    data = build()
    _put_atomic(path, data)
    return data


def _tool_version(argv: Sequence[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


class BuildError(AssertionError):
    """A fixture failed to build (carries the compiler's output)."""


def clang_env() -> dict[str, str]:
    """The environment to run clang in: PATH without the folders that hold ``wasm-opt``.

    clang's wasm driver runs ``wasm-opt`` on its output whenever one is on PATH (which
    strips names and drops functions), so a developer who sourced the peer tools would
    otherwise build other fixtures than CI does.
    """
    parts = os.environ.get("PATH", "").split(os.pathsep)
    path = os.pathsep.join(p for p in parts if p and not os.path.exists(os.path.join(p, "wasm-opt")))
    return dict(os.environ, PATH=path)


def _find_clang() -> str:
    for name in ("clang", "clang-14"):
        found = shutil.which(name)
        if found:
            return found
    raise BuildError("clang not found: run `bash ../shared/peers/setup.sh` (or `make test`, which does)")


def compile_c(
    sources: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    target: str = "wasm32-wasi",
    flags: Sequence[str] = (),
    out: str | os.PathLike | None = None,
) -> bytes:
    """Compile C ``sources`` with clang into a Wasm module and return its bytes.

    ``target="wasm32-wasi"``: a WASI command linked against wasi-libc (``_start``).
    ``target="wasm32"``: bare, ``-nostdlib -Wl,--no-entry`` (export functions with
    ``__attribute__((export_name("f")))`` or pass ``-Wl,--export-dynamic``).
    ``-O2`` comes first, so ``flags`` can override it. Results are cached by the
    hash of the sources, headers beside them, target, flags and clang version (and, for -g builds,
    the sources' paths, which the debug info records).
    ``out``: also write the module there.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    srcs = [Path(s).resolve() for s in sources]
    if target not in ("wasm32-wasi", "wasm32"):
        raise ValueError(f"target must be 'wasm32-wasi' or 'wasm32', not {target!r}")
    clang = _find_clang()
    argv = [clang, f"--target={target}", "-O2"]
    if target == "wasm32":
        argv += ["-nostdlib", "-Wl,--no-entry"]
    argv += list(flags)

    h = hashlib.sha256()
    h.update(_tool_version([clang, "--version"]).encode())
    h.update(repr(argv[1:]).encode())
    headers = sorted({hdr for s in srcs for hdr in s.parent.glob("*.h")})
    debug = any(f.startswith("-g") for f in flags)
    for f in [*srcs, *headers]:
        # debug info records where the sources are: a -g build is only reused from the same place
        h.update((str(f) if debug else f.name).encode() + b"\0" + f.read_bytes() + b"\0")
    cached = build_cache_dir() / f"c-{h.hexdigest()[:24]}.wasm"
    if not cached.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "out.wasm"
            proc = subprocess.run([*argv, *map(str, srcs), "-o", str(dest)], capture_output=True, text=True,
                                  env=clang_env())
            if proc.returncode != 0:
                raise BuildError(f"clang failed ({' '.join(argv)} ...):\n{proc.stderr}")
            _put_atomic(cached, dest.read_bytes())
    data = cached.read_bytes()
    if out is not None:
        Path(out).write_bytes(data)
    return data


def compile_c_text(code: str, *, name: str = "source.c", **kw) -> bytes:
    """:func:`compile_c` for C source given as a string."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    folder = build_cache_dir() / f"src-{digest}"
    folder.mkdir(exist_ok=True)
    src = folder / name
    if not src.is_file() or src.read_text() != code:
        _put_atomic(src, code.encode())
    return compile_c(src, **kw)


def find_go() -> str:
    """The Go toolchain from peers/setup.sh (Debian's golang-go)."""
    for cand in (shutil.which("go"), *GO_CANDIDATES):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise BuildError("go not found: run `bash ../shared/peers/setup.sh` (or `make test`, which does)")


def go_build_js(src_dir: str | os.PathLike) -> bytes:
    """Build the Go main package in ``src_dir`` for ``GOOS=js GOARCH=wasm``; return the module bytes.

    A folder with a go.mod builds in module mode (no network: ``GOPROXY=off``),
    one without in GOPATH mode. Cached by the hash of the folder's files.
    """
    src = Path(src_dir).resolve()
    go = find_go()
    files = sorted(p for p in src.rglob("*") if p.is_file())
    h = hashlib.sha256(_tool_version([go, "version"]).encode())
    for f in files:
        h.update(str(f.relative_to(src)).encode() + b"\0" + f.read_bytes() + b"\0")
    cache = build_cache_dir()
    cached = cache / f"go-{h.hexdigest()[:24]}.wasm"
    if not cached.is_file():
        env = dict(os.environ)
        env.update(
            GOOS="js",
            GOARCH="wasm",
            GOCACHE=str(cache / "gocache"),
            GOPATH=str(cache / "gopath"),
            GOPROXY="off",
            GOFLAGS="-mod=mod" if (src / "go.mod").is_file() else "",
            GO111MODULE="on" if (src / "go.mod").is_file() else "off",
            CGO_ENABLED="0",
        )
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "out.wasm"
            proc = subprocess.run([go, "build", "-o", str(dest), "."], cwd=src, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise BuildError(f"go build failed in {src}:\n{proc.stderr}")
            _put_atomic(cached, dest.read_bytes())
    return cached.read_bytes()


def run_go_js(wasm: bytes, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a GOOS=js module under node with the peers' go_wasm_run.cjs; returns the finished process."""
    runner = PEERS_DIR / "go_wasm_run.cjs"
    if not runner.is_file():
        raise BuildError(f"{runner} missing: run `bash ../shared/peers/setup.sh`")
    with tempfile.TemporaryDirectory() as tmp:
        mod = Path(tmp) / "m.wasm"
        mod.write_bytes(wasm)
        return subprocess.run(["node", str(runner), str(mod), *args], capture_output=True, timeout=timeout)


# ------------------------------------------------------------------ the services world (bank, ledger, logger)

SERVICES = FIXTURES / "merge" / "c" / "services"
SERVICE_NAMES = ("bank", "ledger", "logger")   # bank imports ledger and logger, ledger imports logger


def build_services(d: Path) -> dict[str, Path]:
    """The three C services of ``fixtures/merge/c/services`` built for bare wasm32 into ``d``: name -> path."""
    out = {}
    for name in SERVICE_NAMES:
        path = d / f"{name}.wasm"
        path.write_bytes(compile_c(SERVICES / f"{name}.c", target="wasm32"))
        out[name] = path
    return out


def services_world(d: Path, entries: dict[str, str]) -> Path:
    """:func:`build_services` into ``d`` plus ``d/world.toml``: world "bank", the modules listed in
    reverse dependency order (on purpose: the manifest must not depend on it), ``entries`` as
    ``[entries]`` (entry name -> ``"MODULE.EXPORT"``). Returns the manifest's path."""
    build_services(d)
    lines = ["[world]", 'name = "bank"', ""]
    for name in SERVICE_NAMES:
        lines += ["[[module]]", f'name = "{name}"', f'path = "{name}.wasm"', ""]
    lines += ["[entries]", *(f'{k} = "{v}"' for k, v in entries.items())]
    path = d / "world.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------ running


@dataclass
class RunResult:
    """What a WASI run produced: the export's return value, its output and exit code."""

    value: object
    stdout: bytes
    stderr: bytes
    exit_code: int | None  # set when the program called proc_exit


def host_linker(wasm: bytes, imports: dict | None = None, *, fuel: int | None = None, strict: bool = False):
    """``(store, linker, module)`` for ``wasm`` on wasmweld's engine, ``imports`` defined in the linker.

    ``imports``: ``{"module": {"name": item}}``; a plain callable for a function import is wrapped
    with the import's type (it gets and returns Python values), a number for a global import becomes
    a global of the import's type holding it, anything else (a ``wasmtime.Func``, ``Memory``, ...)
    is defined as given. ``strict``: an import without an item is an AssertionError
    (otherwise it is left to the caller, e.g. WASI). ``fuel`` bounds the work done.
    """
    import wasmtime

    from wasmweld.runtime.engine import engine

    eng = engine(fuel=True) if fuel is not None else engine()
    store = wasmtime.Store(eng)
    if fuel is not None:
        store.set_fuel(fuel)
    module = wasmtime.Module(eng, wasm)
    linker = wasmtime.Linker(eng)
    for imp in module.imports:
        fn = (imports or {}).get(imp.module, {}).get(imp.name)
        if fn is None:
            if strict:
                raise AssertionError(f"no host function for import {imp.module} {imp.name}")
            continue
        if callable(fn) and not isinstance(fn, wasmtime.Func) and isinstance(imp.type, wasmtime.FuncType):
            fn = wasmtime.Func(store, imp.type, fn)
        elif isinstance(fn, (int, float)) and isinstance(imp.type, wasmtime.GlobalType):
            fn = wasmtime.Global(store, imp.type, fn)
        linker.define(store, imp.module, imp.name, fn)
    return store, linker, module


def run_wasm(
    wasm: bytes,
    export: str,
    *args,
    wasi: bool = False,
    argv: Sequence[str] = ("main",),
    stdin: bytes = b"",
    fuel: int | None = None,
    imports: dict | None = None,
):
    """Instantiate ``wasm`` with wasmweld's engine and call ``export(*args)``.

    ``imports`` provides host functions as ``{"module": {"name": callable}}``
    (the callable gets and returns Python values; its type is the import's).
    Without ``wasi`` the export's result is returned (None, a value, or a list
    for multiple results). With ``wasi``
    the WASI preview-1 imports are provided (``argv``, ``stdin``; output
    captured) and a :class:`RunResult` is returned; a ``proc_exit`` ends the
    call with ``exit_code`` set. ``fuel`` bounds the work done. Traps raise
    ``wasmtime.Trap``.
    """
    import wasmtime

    store, linker, module = host_linker(wasm, imports, fuel=fuel)
    if not wasi:
        instance = linker.instantiate(store, module)
        return instance.exports(store)[export](store, *args)

    with tempfile.TemporaryDirectory() as tmp:
        out, err, inp = Path(tmp) / "out", Path(tmp) / "err", Path(tmp) / "in"
        inp.write_bytes(stdin)
        cfg = wasmtime.WasiConfig()
        cfg.argv = list(argv)
        cfg.stdin_file = str(inp)
        cfg.stdout_file = str(out)
        cfg.stderr_file = str(err)
        store.set_wasi(cfg)
        linker.define_wasi()
        instance = linker.instantiate(store, module)
        value, code = None, None
        try:
            value = instance.exports(store)[export](store, *args)
        except wasmtime.ExitTrap as exc:
            code = exc.code
        return RunResult(value, out.read_bytes(), err.read_bytes(), code)


# ------------------------------------------------------------------ reference oracles


def _vt_type(vt):
    from wasmweld.types import RefType

    return vt.heap if isinstance(vt, RefType) and isinstance(vt.heap, int) else None


def decoded_sites(instrs, spaces: Iterable[str] | None = None) -> list:
    """The oracle of ``reencode.Scanner.sites``: every decoded instruction's index immediates, in order
    (``spaces``: the index spaces to keep, default all)."""
    from wasmweld.binary.opcodes import INDEX_KINDS
    from wasmweld.binary.reencode import SPACES

    spaces = SPACES if spaces is None else spaces
    out = []
    for ins in instrs:
        pairs = []
        for kind, a in zip([k for k in ins.op.imm if k != "zero"], ins.args):
            if kind in INDEX_KINDS:
                pairs.append((kind, a))
            elif kind == "memarg":
                pairs.append(("memory", a.memory))
            elif kind in ("heaptype", "blocktype"):
                t = a if isinstance(a, int) else _vt_type(a)
                if t is not None:
                    pairs.append(("type", t))
            elif kind == "valtypes":
                pairs.extend(("type", t) for t in map(_vt_type, a) if t is not None)
            elif kind == "catches":
                pairs.extend(("tag", c.tag) for c in a if c.tag is not None)
        pairs = tuple(p for p in pairs if p[0] in spaces)
        if pairs:
            out.append((ins.op.name, pairs))
    return out


def decoded_refs(locals_, instrs, spaces: Iterable[str] | None = None) -> dict:
    """The oracle of ``reencode.Scanner.body`` / ``const_expr`` (and ``references``): decode everything,
    collect every index by space (``{space: set}``, one entry per space of ``spaces``, default all)."""
    from wasmweld.binary.reencode import SPACES

    spaces = SPACES if spaces is None else spaces
    out = {s: set() for s in SPACES if s in spaces}
    if "type" in spaces:
        out["type"].update(t for _n, vt in locals_ for t in [_vt_type(vt)] if t is not None)
    for _name, pairs in decoded_sites(instrs, spaces):
        for s, i in pairs:
            out[s].add(i)
    return out


def outcome(fn: Callable[[], object]) -> object:
    """``fn()``, or ``("error", class name, message)`` for the WasmError it raises (to compare runs)."""
    from wasmweld.errors import WasmError

    try:
        return fn()
    except WasmError as exc:
        return ("error", type(exc).__name__, str(exc))


def both_ways(monkeypatch, fn: Callable[[], object]) -> list:
    """:func:`outcome` of ``fn`` with the second process forced on, then off (``WASMWELD_FORK``)."""
    outs = []
    for on in ("1", "0"):
        monkeypatch.setenv("WASMWELD_FORK", on)
        outs.append(outcome(fn))
    return outs
