"""``wasmweld snapshot COMPONENT``: the state module pre-initialised in place, everything else unchanged."""

from __future__ import annotations

import contextlib
import io

import pytest
from component_build import COMPONENT_FIXTURES, build_component, build_dummy

from wasmweld.cli.main import main
from wasmweld.component import parse_component
from wasmweld.errors import InitError, SnapshotError, WasmError
from wasmweld.runtime.component_snapshot import snapshot_component
from wasmweld.runtime.component_world import ComponentWorld
from wasmweld.runtime.wasi import Preopen, WasiOptions

SNAP = COMPONENT_FIXTURES / "snap"
A = "test:snap/api@0.1.0#"
F = "test:snap/file-api@0.1.0#"


def _answers(data: bytes, api: str, wasi=False) -> list:
    w = ComponentWorld(wasi=wasi)
    w.add("x", data)
    return [w.invoke("x", api + "get", i) for i in (0, 1, 7, 12345, 19999)] + [w.invoke("x", api + "init-runs")]


def _only_module_changed(before: bytes, after: bytes) -> None:
    a, b = parse_component(before), parse_component(after)
    assert len(a.sections) == len(b.sections)
    changed = [i for i, (x, y) in enumerate(zip(a.sections, b.sections)) if bytes(x.raw) != bytes(y.raw)]
    assert len(changed) == 1 and a.sections[changed[0]].id == 1


def test_snapshot_component_same_answers_init_not_rerun(tmp_path):
    data = build_component((SNAP / "snap.wat").read_text(), SNAP, "snap")
    out = snapshot_component(data)
    _only_module_changed(data, out)
    plain, snapped = _answers(data, A), _answers(out, A)
    assert plain[:-1] == snapped[:-1] and plain[-1] == 1
    assert snapped[-1] == 1            # the captured count: init ran once, at snapshot time, never again
    assert all(v != 0 for v in snapped[:-1])
    # the CLI gives the same bytes
    src, dst = tmp_path / "in.wasm", tmp_path / "out.wasm"
    src.write_bytes(data)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["snapshot", str(src), "-o", str(dst)]) == 0
    assert dst.read_bytes() == out and "one core module rewritten" in err.getvalue()


def test_snapshot_component_reading_a_file_through_wasi(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "input.txt").write_text("seed file \u2713\n")
    data = build_component((SNAP / "snap_wasi.wat").read_text(), SNAP, "snap-wasi")
    grant = WasiOptions(preopens=(Preopen(str(tmp_path / "data"), "/data"),))
    out = snapshot_component(data, wasi=grant)
    _only_module_changed(data, out)
    expect = _answers(data, F, wasi=grant)
    # after the snapshot nothing is granted: init could not read the file, so it cannot have run
    w = ComponentWorld(wasi=True)
    w.add("x", out)
    assert w.invoke("x", F + "contents") == "seed file \u2713\n"
    assert _answers(out, F, wasi=True) == expect
    w = ComponentWorld(wasi=True)                 # the input without the directory: its lazy init fails
    w.add("x", data)
    with pytest.raises(WasmError):
        w.invoke("x", F + "get", 1)
    with pytest.raises(InitError, match="init function"):
        snapshot_component(data)                  # WASI not granted: the init's import call traps


def test_snapshot_component_refusals(tmp_path):
    dummy = build_dummy(COMPONENT_FIXTURES / "types", "provider")
    with pytest.raises(SnapshotError, match="no core module"):
        snapshot_component(dummy)
    data = build_component((SNAP / "snap.wat").read_text(), SNAP, "snap")
    with pytest.raises(SnapshotError, match="no core module"):
        snapshot_component(data, "nope")
    src = tmp_path / "in.wasm"
    src.write_bytes(data)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["snapshot", str(src), "--fuel", "10", "-o", str(tmp_path / "o.wasm")]) == 1
    assert "--fuel: not supported for components" in err.getvalue() and not (tmp_path / "o.wasm").exists()


def test_snapshot_c_component_reading_a_file(tmp_path):
    """A C component (wasi-libc + the preview-1 adapter, WASI 0.2 underneath): fopen in init."""
    from component_build import build_c_component
    from helpers import corpus_path

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "input.txt").write_text("seed file \u2713\n")
    data = build_c_component(COMPONENT_FIXTURES / "snap_c" / "snap.c", COMPONENT_FIXTURES / "snap_c", "snap-c",
                             corpus_path("jco-p1-adapter-reactor"))
    grant = WasiOptions(preopens=(Preopen(str(tmp_path / "data"), "/data"),))
    expect = _answers(data, F, wasi=grant)
    out = snapshot_component(data, wasi=grant)
    _only_module_changed(data, out)
    assert _answers(out, F, wasi=True) == expect and expect[-1] == 1
    w = ComponentWorld(wasi=True)
    w.add("x", out)
    assert w.invoke("x", F + "contents") == "seed file \u2713\n"
