"""Issue 17: the fuzz test extended to what the runtime reads: artifacts, side modules, manifests.

Each property feeds mutated inputs to the real entry points and accepts exactly two
outcomes: it works, or a :class:`~wasmweld.errors.WasmError` subclass (what the CLI prints
as one ``error:`` line). Anything else (IndexError, RecursionError, a wasmtime error
escaping, a crash) fails. ``WASMWELD_FUZZ_EXAMPLES`` raises the number of examples.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmweld.custom.dylink import Dylink
from wasmweld.errors import WasmError
from wasmweld.manifest import parse_manifest
from wasmweld.module import parse
from wasmweld.runtime.cache import compile_module, engine_settings, make_engine, serialize_artifact
from wasmweld.runtime.engine import wat2wasm
from wasmweld.runtime.world import World

N = int(os.environ.get("WASMWELD_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])

CONST = wat2wasm('(module (func (export "f") (result i32) i32.const 77))')


@pytest.fixture(scope="module")
def artifact() -> bytes:
    s = engine_settings()
    return serialize_artifact(compile_module(make_engine(s), CONST), s, wasm=CONST)


def _mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        if out:
            out[pos % len(out)] = value
    return bytes(out)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.integers(0, 64), where=st.sampled_from(["anywhere", "trailer"]), trusted=st.booleans())
def test_mutated_artifacts(artifact, edits, cut, where, trusted):
    if where == "trailer":  # aim at the metadata and the trailer
        edits = [(len(artifact) - 1 - (p % 400), v) for p, v in edits]
    data = _mutate(artifact, edits)
    if cut:
        data = data[:-cut]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.cwasm"
        path.write_bytes(data)
        try:
            w = World(trust_artifacts=trusted)
            w.add("m", str(path))
        except WasmError:
            return
        # it loaded: only possible when the machine code is intact
        assert w.invoke("m", "f") == 77


def _side(fields: dict) -> bytes:
    wasm = wat2wasm('''(module (import "env" "memory" (memory 0))
      (import "env" "__indirect_function_table" (table 0 funcref))
      (func (export "f") (result i32) i32.const 5))''')
    d = Dylink()
    for k, v in fields.items():
        setattr(d, k, v)
    m = parse(wasm)
    m.add_custom("dylink.0", d.encode(), after=0)
    return m.encode()


@FUZZ
@given(mem_size=st.integers(0, 0xFFFFFFFF), mem_align=st.integers(0, 40), table_size=st.integers(0, 0xFFFFFFFF),
       table_align=st.integers(0, 40), needed=st.lists(st.sampled_from(["../x.wasm", "/etc/passwd", "a.cwasm", "", "y",
                                                                        "./z.wasm", "sub/../../q"]), max_size=2),
       main=st.booleans())
def test_side_modules_with_hostile_dylink(mem_size, mem_align, table_size, table_align, needed, main):
    side = _side({"mem_size": mem_size, "mem_align": mem_align, "table_size": table_size,
                  "table_align": table_align, "needed": needed})
    w = World()
    if main:
        w.add("main", wat2wasm('''(module (memory (export "memory") 1)
          (table (export "__indirect_function_table") 1 funcref))'''))
    try:
        w.dlopen(side, name="side")
    except WasmError:
        assert "side" not in w
        return
    assert w.get_fn("side", "f")() == 5


@FUZZ
@given(raw=st.binary(max_size=64), edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6))
def test_side_modules_with_garbage_dylink(raw, edits):
    from wasmweld.binary.leb import read_u32, write_u

    good = _side({"mem_size": 16, "needed": ["lib.so"], "runtime_path": ["$ORIGIN/x"]})
    size, pos = read_u32(good, 9, len(good))
    end = pos + size
    name_end = pos + 1 + len(b"dylink.0")
    payload = _mutate(good[name_end:end], edits) + raw
    body = b"\x08dylink.0" + payload
    data = good[:8] + b"\x00" + write_u(len(body)) + body + good[end:]
    w = World()
    try:
        w.dlopen(data, name="side")
    except WasmError:
        assert "side" not in w
        return
    assert w.get_fn("side", "f")() == 5


_KEYS = ["[world]", "[[module]]", "[wasi]", "[stubs]", "[entries]", "[merge]", "name = \"a\"", "path = \"a.wasm\"",
         "fuel = 5", "fuel = -1", "cache_dir = \"c\"", "cache_dir = \"/tmp\"", "stdout = \"../x\"",
         "preopens = { \"/\" = \"/\" }", "inherit_env = true", "args = [1, 2]", "\"env.f\" = \"default\"",
         "x = [[[[[[[[[[]]]]]]]]]]", "stub_missing = 3", "readonly = [\"/d\"]", "env = { A = 1 }", "main = \"a.f\"",
         "=", "[", "\"", "\x00", "modules = 5"]


@FUZZ
@given(lines=st.lists(st.sampled_from(_KEYS), max_size=12), deep=st.integers(0, 3000))
def test_mutated_manifests(tmp_path, lines, deep):
    text = "\n".join(lines)
    if deep:
        text += "\ny = " + "[" * deep + "]" * deep + "\n"
    try:
        parse_manifest(text, str(tmp_path), "fuzz.toml")
    except WasmError:
        pass


def test_garbage_dylink_helper_builds_modules():
    """The garbage-dylink property really puts a dylink.0 section first (else it would test nothing)."""
    good = _side({"mem_size": 16})
    assert good[8] == 0 and good[10:19] == b"\x08dylink.0"
    assert struct.unpack("<I", good[4:8]) == (1,)
