"""wasmweld fuse of compositions that still import WASI 0.2: the output is a component.

The fixture (tests/fuse_fixtures.py ``wasi_pair``) is a consumer and a provider that both print
through ``wasi:cli/stdout`` / ``wasi:io/streams``; the composition and its fusion run under
wasmtime's component runtime with WASI 0.2 (``Linker.add_wasip2``) and print the same bytes.
The fused component imports exactly what the composition imports (``wasm-tools component wit``
prints the same world) and each component's host calls still read and write its own memory.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("wasmtime")
import wasmtime  # noqa: E402
import wasmtime.component as C  # noqa: E402

import fuse_fixtures as F  # noqa: E402
import wasmweld  # noqa: E402
from wasmweld.fuse import fuse, fuse_plan  # noqa: E402

_cfg = wasmtime.Config()
_cfg.wasm_multi_memory = True
ENGINE = wasmtime.Engine(_cfg)

NAMES = ["world", "", "wörld 𝄞", "x" * 3000]


class WasiRunner:
    """One instance of a component under WASI 0.2 (``Linker.add_wasip2``), stdout captured in ``out``;
    ``call(name, *args)``: the result, or ``("trap", first line of the message)``."""

    def __init__(self, data: bytes, out, engine: wasmtime.Engine | None = None):
        engine = engine or ENGINE
        self.out = out
        self.store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.stdout_file = str(out)
        self.store.set_wasi(wasi)
        linker = C.Linker(engine)
        linker.add_wasip2()
        self.inst = linker.instantiate(self.store, C.Component(engine, data))
        self.funcs: dict = {}

    def call(self, name: str, *args):
        f = self.funcs.get(name)
        if f is None:
            f = self.funcs[name] = self.inst.get_func(self.store, self.inst.get_export_index(self.store, name))
        try:
            r = f(self.store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            return ("trap", str(e).splitlines()[0][:40])
        f.post_return(self.store)
        return r

    def stdout(self) -> bytes:
        return self.out.read_bytes()


def run_printing(data: bytes, names: list[str], tmp_path) -> bytes:
    """Call ``run(name)`` for each name in one instance; what the component printed to stdout."""
    r = WasiRunner(data, tmp_path / f"stdout{len(list(tmp_path.iterdir()))}")
    for n in names:
        assert r.call("run", n) is None
    return r.stdout()


@pytest.fixture(scope="module")
def wasi():
    comp = F.wasi_pair()
    return comp, fuse(comp)


def test_fused_component_prints_what_the_composition_prints(wasi, tmp_path):
    comp, fused = wasi
    assert isinstance(fused, wasmweld.component.Component)         # the default when imports remain
    data = fused.encode()
    expect = run_printing(comp, NAMES, tmp_path)
    assert expect.count(b"consumer: start\n") == len(NAMES) and b"provider: hello, w\xc3\xb6rld \xf0\x9d\x84\x9e!\n" in expect
    assert run_printing(data, NAMES, tmp_path) == expect


def test_fused_component_has_the_composition_imports_and_exports(wasi, tmp_path):
    comp, fused = wasi
    data = fused.encode()
    F.wasm_tools("validate", "-", input=data)
    (tmp_path / "a.wasm").write_bytes(comp)
    (tmp_path / "b.wasm").write_bytes(data)
    wit = F.wasm_tools("component", "wit", str(tmp_path / "b.wasm"))
    assert wit == F.wasm_tools("component", "wit", str(tmp_path / "a.wasm"))
    assert b"import wasi:cli/stdout@0.2.0;" in wit and b"export run: func(name: string);" in wit
    assert not fused.components
    main, shim, fixup = fused.modules          # the code, and the glue of lowerings needing a memory
    assert main.num_memories == 2 and shim.num_memories == fixup.num_memories == 0 and not fixup.code
    # both components call blocking-write-and-flush, each with its own memory: two core imports
    p = fuse_plan(comp)
    writes = [h for h in p.host if h.func.name == "[method]output-stream.blocking-write-and-flush"]
    assert len(writes) == 2 and writes[0].options.memory != writes[1].options.memory
    assert {h.core_name for h in writes} == {writes[0].func.name, writes[0].func.name + "$fuse1"}
    assert len(shim.code) == 2 and len(p.adapters) == 1
    drops = [h for h in p.host if h.func.resource is not None]
    assert [h.core_name for h in drops] == ["[resource-drop]output-stream"]


def test_emit_core_keeps_the_wasi_imports_canonical_lowered(wasi):
    comp, _ = wasi
    core = fuse(comp, emit="core")
    assert isinstance(core, wasmweld.Module)
    F.wasm_tools("validate", "-", input=core.encode())
    names = {(i.module, i.name): str(core.func_type(k)) for k, i in enumerate(core.imports)}
    assert names == {
        ("wasi:cli/stdout@0.2.0", "get-stdout"): "[] -> [i32]",
        ("wasi:io/streams@0.2.0", "[method]output-stream.blocking-write-and-flush"): "[i32 i32 i32 i32] -> []",
        ("wasi:io/streams@0.2.0", "[method]output-stream.blocking-write-and-flush$fuse1"): "[i32 i32 i32 i32] -> []",
        ("wasi:io/streams@0.2.0", "[resource-drop]output-stream"): "[i32] -> []",
    }
    assert not any(e.name.startswith("fuse:") for e in core.exports)


def test_cli_default_is_a_component_when_imports_remain(wasi, tmp_path):
    comp, fused = wasi
    src = tmp_path / "c.wasm"
    src.write_bytes(comp)
    out = tmp_path / "o.wasm"
    p = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", str(src), "-o", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "component" in p.stderr, p.stderr
    assert out.read_bytes() == fused.encode()
    p = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", str(src), "--plan"], capture_output=True, text=True)
    assert "imports: 4" in p.stdout and "wasi:io/streams@0.2.0#[resource-drop]output-stream" in p.stdout


def test_damaged_wasi_compositions_give_wasm_errors(wasi):
    """Bytes of the composition changed (its import sections often): fuse to a component succeeds
    or raises a WasmError, never anything else."""
    import random

    from wasmweld.errors import WasmError

    comp, _ = wasi
    rng = random.Random(5)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(60):
        data = bytearray(comp)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(8, min(len(data), 1200) if rng.random() < 0.5 else len(data))] = rng.randrange(256)
        try:
            fuse(bytes(data), emit="component").encode()
            outcomes["ok"] += 1
        except WasmError:
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and sum(outcomes.values()) == 60
