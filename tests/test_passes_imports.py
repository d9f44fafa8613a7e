"""Issue 4, import rewiring on real toolchain output.

* A WASI C program (tests/fixtures/surgery/capture.c) whose
  ``wasi_snapshot_preview1.fd_write`` import is resolved to its own
  ``capture_fd_write``: it validates, runs under wasmtime's WASI, writes
  nothing to stdout, and the captured text is what printf/puts produced.
* A Go ``GOOS=js`` program whose glue imports (module ``go``; ``gojs`` from
  Go 1.21) are stubbed: it validates and instantiates with no imports at all.
"""

from __future__ import annotations

import pytest
import wasmtime

from fixtures.surgery import build
from helpers import FIXTURES, build_cache_dir, go_build_js, run_go_js, run_wasm
from wasmweld import EditError, parse
from wasmweld import passes
from wasmweld.cli.main import main
from wasmweld.runtime.engine import engine, validate_bytes

WASI = "wasi_snapshot_preview1"
EXPECTED = b"hello 42\ncaptured, not printed\n"


@pytest.fixture(scope="module")
def capture_wasm() -> bytes:
    return build.compile_fixture("capture", build_cache_dir() / "surgery").read_bytes()


@pytest.fixture(scope="module")
def go_wasm() -> bytes:
    return go_build_js(FIXTURES / "surgery" / "gojs")


def run_captured(data: bytes, tmp_path):
    """Run _start with wasmtime's WASI; return (stdout, captured bytes)."""
    eng = engine()
    store = wasmtime.Store(eng)
    module = wasmtime.Module(eng, data)
    linker = wasmtime.Linker(eng)
    cfg = wasmtime.WasiConfig()
    stdout = tmp_path / "stdout"
    cfg.stdout_file = str(stdout)
    store.set_wasi(cfg)
    linker.define_wasi()
    ex = linker.instantiate(store, module).exports(store)
    try:
        ex["_start"](store)
    except wasmtime.ExitTrap as exc:
        assert exc.code == 0
    ptr, n = ex["captured_ptr"](store), ex["captured_len"](store)
    return stdout.read_bytes(), bytes(ex["memory"].read(store, ptr, ptr + n))


def test_fd_write_resolved_to_local_capture(capture_wasm, tmp_path):
    # before: the program prints through the host
    assert run_wasm(capture_wasm, "_start", wasi=True).stdout == EXPECTED
    m = passes.resolve_import(parse(capture_wasm), WASI, "fd_write", "capture_fd_write")
    out = m.encode()
    validate_bytes(out)
    assert "fd_write" not in [i.name for i in m.imports]
    stdout, captured = run_captured(out, tmp_path)
    assert stdout == b""
    assert captured == EXPECTED


def test_fd_write_resolved_through_the_cli(capture_wasm, tmp_path, capsys):
    src = tmp_path / "capture.wasm"
    src.write_bytes(capture_wasm)
    out = tmp_path / "out.wasm"
    assert main(["edit", str(src), "-o", str(out), "--resolve-import", WASI, "fd_write", "capture_fd_write"]) == 0
    assert "resolved import" in capsys.readouterr().err
    stdout, captured = run_captured(out.read_bytes(), tmp_path)
    assert (stdout, captured) == (b"", EXPECTED)


def test_resolve_rejects_a_function_of_another_type(capture_wasm):
    with pytest.raises(EditError, match=r"type mismatch: import 'wasi_snapshot_preview1' 'fd_write' has type "
                                        r"\[i32 i32 i32 i32\] -> \[i32\], but 'captured_ptr"):
        passes.resolve_import(parse(capture_wasm), WASI, "fd_write", "captured_ptr")


def test_uncalled_imports_of_the_wasi_program(capture_wasm):
    # every WASI import of this program is reachable from some code path
    assert passes.list_uncalled_imports(parse(capture_wasm)) == []


def go_glue_module(data: bytes) -> str:
    mods = {i.module for i in parse(data).imports}
    assert mods in ({"go"}, {"gojs"}), mods
    return mods.pop()


def test_go_glue_imports_stubbed(go_wasm, tmp_path, capsys):
    glue = go_glue_module(go_wasm)
    src = tmp_path / "go.wasm"
    src.write_bytes(go_wasm)
    out = tmp_path / "go-stubbed.wasm"
    assert main(["edit", str(src), "-o", str(out), "--stub-imports", glue]) == 0
    assert "stubbed" in capsys.readouterr().err
    data = out.read_bytes()
    validate_bytes(data)
    m = parse(data)
    assert m.imports == []
    assert [e.name for e in m.exports] == [e.name for e in parse(go_wasm).exports]
    # instantiable with no imports at all; running it reaches a stub, which traps
    eng = engine()
    store = wasmtime.Store(eng)
    inst = wasmtime.Instance(store, wasmtime.Module(eng, data), [])
    ex = inst.exports(store)
    with pytest.raises(wasmtime.Trap) as trap:
        ex["run"](store, 0, 0)
    assert "unreachable" in str(trap.value)


def test_go_original_runs_under_node(go_wasm):
    """The fixture is a real Go program (its glue is what the stubs replace)."""
    proc = run_go_js(go_wasm)
    assert proc.returncode == 0 and b"hello from go" in proc.stdout
