"""wasmweld fuse --single-memory: every component's memory (and the handle tables) in one memory.

The fused outputs (made components by ``--emit component``) run under wasmtime's component runtime
next to the compositions: same results for the fixed values of every WIT value family and for
generated values, same traps, same destructor counts; the core module has exactly one memory.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("wasmtime")

import fuse_fixtures as F  # noqa: E402
from test_fuse import FIXED, Runner, WorldRunner, _key, same_for_generated  # noqa: E402
from wasmweld.fuse import FuseError, fuse  # noqa: E402


@pytest.fixture(scope="module")
def single():
    out = {}
    for name, make in (("pair", F.pair), ("chain", F.chain), ("utf16", lambda: F.pair("utf16"))):
        comp = make()
        core = fuse(comp, emit="core", single_memory=True)
        out[name] = (comp, core, fuse(comp, emit="component", single_memory=True).encode())
    return out


@pytest.mark.parametrize("which", ["pair", "chain", "utf16"])
def test_one_memory_same_results_and_traps(single, which):
    comp, core, fused = single[which]
    assert core.num_memories == 1 and fuse(comp, emit="core").num_memories >= 2
    F.wasm_tools("validate", "-", input=core.encode())
    a, b = Runner(comp), Runner(fused)
    for name, values in FIXED.items():
        for v in values:
            assert _key(b.call(name, v)) == _key(a.call(name, v)), (name, v)
    for bad in F.BAD:
        assert _key(Runner(fused).call(bad)) == _key(Runner(comp).call(bad)), bad


@pytest.mark.parametrize("name", ["echo-string", "echo-shapes", "echo-nested", "echo-list-string"])
def test_generated_values_single_memory(single, name):
    comp, _, fused = single["chain"]
    assert same_for_generated(comp, fused, name, 200) == 200


def test_resources_single_memory():
    comp = F.resources_pair()
    core = fuse(comp, emit="core", single_memory=True)
    assert core.num_memories == 1 and fuse(comp, emit="core").num_memories == 3
    a, b = WorldRunner(comp), WorldRunner(fuse(comp, emit="component", single_memory=True).encode())
    for n in (0, 4, 9):
        assert a.call("run", n) == b.call("run", n)
        assert a.call("dropped") == b.call("dropped")
    assert WorldRunner(fuse(comp, emit="component", single_memory=True).encode()).call("double-drop") == ("trap",)


def test_single_memory_refusals_and_cli(single, tmp_path):
    # a WASI import lowered into the provider's memory would make the host write at the wrong base
    with pytest.raises(FuseError, match="--single-memory.*fuse:memory"):
        fuse(F.wasi_pair(), single_memory=True)
    src = tmp_path / "pair.wasm"
    src.write_bytes(single["pair"][0])
    out = tmp_path / "o.wasm"
    p = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", str(src), "--single-memory", "--emit", "core",
                        "-o", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == single["pair"][1].encode()
