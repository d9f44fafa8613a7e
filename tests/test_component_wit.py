"""``wasmweld wit`` against ``wasm-tools component wit``; ``wasmweld extract``; module replacement."""

from __future__ import annotations

import hashlib
import os
import contextlib
import io
import subprocess

import pytest
from component_build import COMPONENT_FIXTURES, WASM_TOOLS, build_dummy, wasm_tools
from helpers import SHARED_DIR, build_cache_dir, read_tsv

from wasmweld.cli.main import main
from wasmweld.component import parse_component
from wasmweld.component.wit import WitError, component_wit
from wasmweld.errors import WasmError

CC_DIR = SHARED_DIR / "conformance-components"
WASI = COMPONENT_FIXTURES / "wasi-http"


def _reference_wit(data: bytes) -> str | None:
    """``wasm-tools component wit`` of ``data`` (None if it refuses); cached in the build cache."""
    key = hashlib.sha256(data + str(WASM_TOOLS.stat().st_size).encode()).hexdigest()[:32]
    cache = build_cache_dir() / f"wit-{key}.txt"
    if cache.exists():
        text = cache.read_text()
        return None if text == "\0refused" else text
    p = subprocess.run([str(WASM_TOOLS), "component", "wit"], input=data, capture_output=True, check=False)
    text = p.stdout.decode() if p.returncode == 0 else None
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text("\0refused" if text is None else text)
    tmp.replace(cache)
    return text


def _test_components() -> dict[str, bytes]:
    return {
        "types": build_dummy(COMPONENT_FIXTURES / "types", "provider"),
        "wasi-http-proxy": build_dummy(WASI, "wasi:http/proxy"),
        "wasi-cli-command": build_dummy(WASI, "wasi:cli/command"),
    }


def test_wit_equals_wasm_tools_on_conformance():
    rows = [r for r in read_tsv(CC_DIR / "index.tsv") if r["layer"] == "component" and r["kind"] == "valid"]
    assert len(rows) == 312
    same = refused = 0
    for row in rows:
        data = (CC_DIR / row["path"]).read_bytes()
        ref = _reference_wit(data)
        try:
            mine = component_wit(parse_component(data))
        except WasmError:
            mine = None
        if ref is None:
            refused += 1
            continue             # wasm-tools cannot print it either; we may print or refuse
        assert mine == ref, row["path"]          # byte for byte, blank lines included
        same += 1
    assert same == 278 and refused == 34


@pytest.mark.parametrize("name", ["types", "wasi-http-proxy", "wasi-cli-command"])
def test_wit_equals_wasm_tools_on_built_components(name):
    data = _test_components()[name]
    ref = _reference_wit(data)
    assert ref is not None
    mine = component_wit(parse_component(data))
    assert mine == ref
    if name != "types":
        assert "use wasi:io" in mine or "use " in mine     # interfaces using other interfaces' types


def test_wit_refusals():
    with pytest.raises(WitError, match="appears more than once|cannot"):
        # the same instance re-exported under two names cannot be WIT
        component_wit(parse_component(wasm_tools("parse", "-", input=b"""
            (component
              (type $i (instance (export "t" (type (sub resource)))))
              (import "a:b/c" (instance $x (type $i)))
              (export "d:e/f" (instance $x))
              (export "g:h/i" (instance $x)))""")))


def _wasmweld(*args: str) -> subprocess.CompletedProcess:
    """Run the CLI in-process (stdout/stderr captured as bytes)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return subprocess.CompletedProcess(args, rc, out.getvalue().encode(), err.getvalue().encode())


def test_cli_wit_and_extract(tmp_path):
    data = _test_components()["wasi-cli-command"]
    src = tmp_path / "c.wasm"
    src.write_bytes(data)
    p = _wasmweld("wit", str(src))
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == _reference_wit(data)
    out = tmp_path / "mods"
    p = _wasmweld("extract", str(src), "--all", "-o", str(out))
    assert p.returncode == 0, p.stderr
    files = sorted(out.iterdir(), key=lambda f: int(f.stem[6:]))
    comp = parse_component(data)
    sections = [s for s in comp.sections if s.id == 1]
    assert len(files) == len(sections) >= 2
    for f, sec in zip(files, sections):
        blob = f.read_bytes()
        assert blob == bytes(sec.payload)                 # byte for byte as embedded
        wasm_tools("validate", "--features", "all", "-", input=blob)
    p = _wasmweld("extract", str(src), "--module", "1", "-o", str(tmp_path / "one.wasm"))
    assert p.returncode == 0 and (tmp_path / "one.wasm").read_bytes() == files[1].read_bytes()
    # errors: one line, exit 1
    p = _wasmweld("extract", str(src), "--module", "99", "-o", str(tmp_path / "x.wasm"))
    assert p.returncode == 1 and p.stderr.decode().count("\n") == 1 and "no core module 99" in p.stderr.decode()
    p = _wasmweld("wit", str(files[0]))
    assert p.returncode == 1 and p.stderr.decode().startswith("error:")
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(data[:1000])
    for cmd in (["wit", str(bad)], ["extract", str(bad), "--list"]):
        p = _wasmweld(*cmd)
        assert p.returncode == 1 and p.stderr.decode().startswith("error:") and b"Traceback" not in p.stderr


def test_cli_replace_module(tmp_path):
    data = _test_components()["types"]
    src = tmp_path / "c.wasm"
    src.write_bytes(data)
    core = parse_component(data).module_data(0)
    m = wasm_tools("strip", "--all", "-", input=core)      # a different, equivalent module
    assert m != core
    (tmp_path / "m.wasm").write_bytes(m)
    p = _wasmweld("extract", str(src), "--replace", "0", str(tmp_path / "m.wasm"), "-o", str(tmp_path / "out.wasm"))
    assert p.returncode == 0, p.stderr
    out = (tmp_path / "out.wasm").read_bytes()
    a, b = parse_component(data), parse_component(out)
    assert b.module_data(0) == m
    first = next(i for i, s in enumerate(a.sections) if s.id == 1)
    assert [bytes(s.raw) for i, s in enumerate(a.sections) if i != first] == \
           [bytes(s.raw) for i, s in enumerate(b.sections) if i != first]
    wasm_tools("validate", "-", input=out)
    assert component_wit(b) == _reference_wit(data)


def test_wit_of_a_10mb_real_world_component(tmp_path):
    """StarlingMonkey (the engine of componentize-js) as a component: WASI 0.2.10 http, io, sockets..."""
    from helpers import corpus_path

    out = tmp_path / "sm.wasm"
    wasm_tools("component", "new", str(corpus_path("wasisdk-starlingmonkey")), "--adapt",
               f"wasi_snapshot_preview1={corpus_path('jco-p1-adapter-reactor')}", "-o", str(out))
    data = out.read_bytes()
    assert len(data) > 10_000_000
    comp = parse_component(data)
    assert comp.encode() is data
    mine = component_wit(comp)
    assert "wasi:http/types@0.2.10" in mine
    assert mine == _reference_wit(data)


def test_nested_components_wit_extract_replace(tmp_path):
    """A composition (provider and consumer nested in one component): wit, extract --all, replace a nested module."""
    from test_component_world import _compose

    from component_build import build_component

    d = COMPONENT_FIXTURES / "values"
    prov = build_component((d / "provider.wat").read_text(), d, "provider-world")
    cons = build_component((d / "consumer.wat").read_text(), d, "consumer-world")
    data = _compose(cons, prov)
    comp = parse_component(data)
    assert component_wit(comp) == _reference_wit(data)
    src = tmp_path / "c.wasm"
    src.write_bytes(data)
    p = _wasmweld("extract", str(src), "--all", "-o", str(tmp_path / "mods"))
    assert p.returncode == 0, p.stderr
    nested = [bytes(s.payload) for c in comp.components for s in c.sections if s.id == 1]
    files = sorted((tmp_path / "mods").iterdir(), key=lambda f: int(f.stem[6:]))
    assert [f.read_bytes() for f in files] == nested and len(nested) >= 4
    # replace the first module of the second nested component: only that component's section changes
    k = len([s for s in comp.components[0].sections if s.id == 1])
    new = wasm_tools("strip", "--all", "-", input=nested[k])
    (tmp_path / "m.wasm").write_bytes(new)
    p = _wasmweld("extract", str(src), "--replace", str(k), str(tmp_path / "m.wasm"), "-o", str(tmp_path / "o.wasm"))
    assert p.returncode == 0, p.stderr
    out = parse_component((tmp_path / "o.wasm").read_bytes())
    assert bytes(out.sections[0].raw) == bytes(comp.sections[0].raw)          # the provider, untouched
    assert out.components[1].module_data(0) == new
    assert [bytes(s.raw) for s in out.sections[2:]] == [bytes(s.raw) for s in comp.sections[2:]]
    wasm_tools("validate", "-", input=out.encode())
