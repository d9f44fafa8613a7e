"""wasmweld fuse with the other tools: ``info`` shows a fused module's adapters, ``fuse --graph``
draws a fuse plan with link/graph.py, world manifests (TOML) drive ``fuse`` as they drive ``merge``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import fuse_fixtures as F
import wasmweld
from wasmweld.fuse import fuse, fuse_plan
from wasmweld.fuse.record import SECTION, adapters


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wasmweld", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    comp = F.pair("utf16")
    (d / "pair.wasm").write_bytes(comp)
    core = fuse(comp, emit="core")
    (d / "core.wasm").write_bytes(core.encode())
    (d / "comp.wasm").write_bytes(fuse(comp, emit="component").encode())
    return d, comp, core


def test_fused_module_records_its_adapters(pair):
    _, comp, core = pair
    p = fuse_plan(comp)
    found = adapters(wasmweld.parse(core.encode()))
    assert len(found) == len(p.adapters) == len(F.FUNCS) + len(F.BAD)
    for a, rec in zip(p.adapters, found):
        assert rec["name"] == f"fuse:adapter{a.index}" and rec["target"] == a.callee.core.name
        assert core.names.funcs[rec["func"]] == rec["name"]                 # found by its name
        assert str(core.func_type(rec["func"])) == rec["signature"]         # the real function's type
    strings = [r for r in found if r["target"] == "test:fuse/api#echo-string"]
    assert strings[0]["encodings"] == "utf8 -> utf16"
    assert wasmweld.parse(b"\0asm\1\0\0\0").custom(SECTION) is None and adapters(wasmweld.parse(b"\0asm\1\0\0\0")) == []


def test_info_shows_the_adapters_of_core_and_component_outputs(pair):
    d, _, core = pair
    n = len(F.FUNCS) + len(F.BAD)
    for name in ("core.wasm", "comp.wasm"):
        p = cli("info", str(d / name))
        assert p.returncode == 0, p.stderr
        assert f"fuse adapters ({n}):" in p.stdout
        line = next(x for x in p.stdout.splitlines() if "test:fuse/api#echo-string" in x)
        idx = next(i for i, v in core.names.funcs.items() if v == line.split()[2].rstrip(":"))
        assert line.split()[:2] == ["func", str(idx)] and "root/c0 -> root/c1" in line and "(utf8 -> utf16)" in line
    p = cli("info", "--json", str(d / "core.wasm"))
    assert len(json.loads(p.stdout)["fuse_adapters"]) == n
    p = cli("info", str(d / "pair.wasm"))                      # not fused: no adapters section
    assert p.returncode == 0 and "fuse adapters" not in p.stdout


def test_graph_of_a_fuse_plan(pair, tmp_path):
    d, _, _ = pair
    p = cli("fuse", str(d / "pair.wasm"), "--graph", "-")
    assert p.returncode == 0, p.stderr
    dot = p.stdout
    assert dot.startswith("digraph world {") and '"root/c0" -> "root/c1"' in dot
    assert "test:fuse/api#echo-u8 (adapter0)" in dot and f"+{len(F.FUNCS) + len(F.BAD) - 3} more" in dot
    assert '"host"' not in dot
    out = tmp_path / "g.svg"
    assert cli("fuse", str(d / "pair.wasm"), "--graph", str(out)).returncode == 0
    assert "<svg" in out.read_text() and "root/c1" in out.read_text()
    wasi = tmp_path / "wasi.wasm"
    wasi.write_bytes(F.wasi_pair())
    dot = cli("fuse", str(wasi), "--graph", "-").stdout
    for comp in ("root/c0", "root/c1"):            # both components print: both point at the host
        assert f'"{comp}" -> "host"' in dot
    assert "wasi:cli/stdout@0.2.0.get-stdout" in dot and "style=dashed" in dot


# -- world manifests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("world")
    prov = F.build("provider", F.provider_wat())
    cons = F.build("consumer", F.forwarder_wat("test:fuse/api", "test:fuse/fwd"))
    (d / "provider.wasm").write_bytes(prov)
    (d / "consumer.wasm").write_bytes(cons)
    mods = '[[module]]\nname = "provider"\npath = "provider.wasm"\n\n[[module]]\nname = "consumer"\npath = "consumer.wasm"\n'
    (d / "world.toml").write_text('[world]\nname = "app"\n\n' + mods + "\n[fuse]\nsingle_memory = true\n")
    (d / "plugged.toml").write_text(mods + '\n[fuse]\nplugs = { "test:fuse/api" = "provider#test:fuse/api" }\n'
                                    'emit = "core"\n')
    (d / "nope.toml").write_text(mods + '\n[fuse]\nplugs = { "test:fuse/api" = "nope" }\n')
    (d / "bad.toml").write_text(mods + "\n[fuse]\nsingle_memory = 3\n")
    return d, [("provider", prov), ("consumer", cons)]


def test_world_manifest_fuses_its_modules_with_its_options(world, tmp_path):
    d, inputs = world
    expect = fuse(inputs, single_memory=True)
    assert expect.num_memories == 1
    assert fuse(str(d / "world.toml")).encode() == expect.encode()
    out = tmp_path / "o.wasm"
    p = cli("fuse", str(d / "world.toml"), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == expect.encode()
    # the manifest's options, then the command line's: plugs from [fuse] (LABEL#EXPORT names the provider)
    plugged = fuse(str(d / "plugged.toml"))
    assert not plugged.imports and plugged.encode() == fuse(inputs, emit="core").encode()
    p = cli("fuse", str(d / "plugged.toml"), "--plan")
    assert p.returncode == 0 and "imports: 0" in p.stdout and f"adapters: {len(F.FUNCS) + len(F.BAD)}" in p.stdout
    # a plug no input can follow: one error line, exit 1, nothing written
    p = cli("fuse", str(d / "nope.toml"), "-o", str(tmp_path / "n.wasm"))
    assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith("error: ") and "no other input exports `nope`" in p.stderr
    assert not (tmp_path / "n.wasm").exists()


def test_world_manifest_errors(world, tmp_path):
    d, _ = world
    p = cli("fuse", str(d / "bad.toml"), "-o", str(tmp_path / "o.wasm"))
    assert p.returncode == 1 and p.stderr.startswith("error: ") and "[fuse]: single_memory must be a bool" in p.stderr
    assert p.stderr.count("\n") == 1 and not (tmp_path / "o.wasm").exists()
    (tmp_path / "x.toml").write_text('[[module]]\nname = "a"\npath = "a.wasm"\n[fuse]\nwhatever = 1\n')
    p = cli("fuse", str(tmp_path / "x.toml"), "-o", str(tmp_path / "o.wasm"))
    assert p.returncode == 1 and "unknown option 'whatever'" in p.stderr


def test_async_lower_and_futures_refused_naming_the_function():
    from wasmweld.fuse import FuseError

    fut = F.wasm_tools("parse", "-", input=b"""(component
      (core module $m (func (export "f") (param i32) (result i32) local.get 0))
      (core instance $i (instantiate $m))
      (type $fu (future u32))
      (type $ft (func (param "x" $fu) (result u32)))
      (func (export "take-future") (type $ft) (canon lift (core func $i "f"))))""")
    with pytest.raises(FuseError, match=r"take-future: async values \(future\)"):
        fuse(fut)
    low = F.wasm_tools("parse", "-", input=b"""(component
      (component $p
        (core module $m (func (export "f") (result i32) i32.const 0))
        (core instance $i (instantiate $m))
        (func (export "get") (result u32) (canon lift (core func $i "f"))))
      (instance $pi (instantiate $p))
      (alias export $pi "get" (func $get))
      (core func $lg (canon lower (func $get) async))
      (core module $c (import "a" "get" (func (result i32))) (func (export "run") (result i32) i32.const 1))
      (core instance $ai (export "get" (func $lg)))
      (core instance $ci (instantiate $c (with "a" (instance $ai))))
      (func (export "run") (result u32) (canon lift (core func $ci "run"))))""")
    with pytest.raises(FuseError, match="import `a` `get`: async functions"):
        fuse(low)
