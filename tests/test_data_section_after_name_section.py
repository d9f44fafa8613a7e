"""Issue 15: a data section wasmweld adds to a module that had none goes before a trailing `name` section.

The bug: a module with no data section that ends with a `name` custom section got the new data section
*after* `name` (``edit --add-passive-data``, ``snapshot``): the custom section was anchored to the code
section it followed, and data is emitted after code. wasm-tools accepted the order, tools that expect
`name` last did not, and Wizer wrote an invalid module from it (a data count section and no data).
Custom sections after the last known section now stay last; those between known sections stay put.

The section order is read by ``wasm-tools objdump`` (not by wasmweld), and the outputs are checked by
``wasm-tools validate``, Wizer and wasmtime.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import wasmtime

from component_build import WASM_TOOLS
from fixtures.snapshot.snaputil import run_wizer
from wasmweld.cli.main import main
from wasmweld.module import parse

# no data section; `$init`/`$get` give wasm-tools a `name` section, written last
TEMPLATE = '''(module $m
  (memory (export "memory") 1)
  (func $init (export "init") (i32.store (i32.const 16) (i32.const 42)))
  (func $get (export "get") (result i32) (i32.load (i32.const 16))))'''

# a custom section between the type and function sections, and the name section at the end
WITH_INNER_CUSTOM = '''(module $m
  (@custom "inner" (after type) "between")
  (memory (export "memory") 1)
  (func $init (export "init") (i32.store (i32.const 16) (i32.const 42)))
  (func $get (export "get") (result i32) (i32.load (i32.const 16))))'''


def wasm_tools(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(WASM_TOOLS), *args], input=input, capture_output=True, timeout=120)


def section_order(wasm: bytes) -> list[str]:
    """The sections as ``wasm-tools objdump`` lists them: ``code``, ``data``, ``custom "name"``, ..."""
    proc = wasm_tools("objdump", "-", input=wasm)
    assert proc.returncode == 0, proc.stderr
    return [re.split(r"\s+\|", line)[0].strip() for line in proc.stdout.decode().splitlines() if "|" in line]


def assert_valid(wasm: bytes) -> None:
    proc = wasm_tools("validate", "--features", "all", "-", input=wasm)
    assert proc.returncode == 0, proc.stderr.decode()


def get_after(wasm: bytes, *calls: str) -> int:
    store = wasmtime.Store()
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm), [])
    for name in calls:
        inst.exports(store)[name](store)
    return inst.exports(store)["get"](store)


@pytest.fixture
def template(wat, tmp_path):
    src = tmp_path / "template.wasm"
    src.write_bytes(wat(TEMPLATE))
    assert section_order(src.read_bytes())[-2:] == ["code", 'custom "name"']
    assert "data" not in section_order(src.read_bytes())
    return src


def test_edit_added_data_section_goes_before_the_trailing_name_section(template, tmp_path):
    blob = tmp_path / "blob"
    blob.write_bytes(b"hello")
    out = tmp_path / "edited.wasm"
    assert main(["edit", str(template), "-o", str(out), "--add-passive-data", f"js={blob}", "--keep-data",
                 "-q"]) == 0
    edited = out.read_bytes()
    assert section_order(edited) == ["types", "functions", "memories", "exports", "data count", "code", "data",
                                     'custom "name"']
    assert_valid(edited)
    assert parse(edited).custom("name").data == parse(template.read_bytes()).custom("name").data
    # Wizer accepts the output and writes a valid module that starts initialised, the name section last
    wizered = run_wizer(edited, init_func="init")
    assert_valid(wizered)
    assert section_order(wizered)[-1] == 'custom "name"'
    assert get_after(wizered) == 42


def test_snapshot_data_section_goes_before_the_trailing_name_section(template, tmp_path):
    out = tmp_path / "snap.wasm"
    assert main(["snapshot", str(template), "-o", str(out), "--init-func", "init", "--keep-init-func",
                 "-q"]) == 0
    snap = out.read_bytes()
    assert section_order(snap) == ["types", "functions", "memories", "exports", "code", "data", 'custom "name"']
    assert_valid(snap)
    assert get_after(snap) == 42
    # Wizer takes wasmweld's snapshot as input (init runs again) and its output is valid
    again = run_wizer(snap, init_func="init")
    assert_valid(again)
    assert get_after(again) == 42 and section_order(again)[-1] == 'custom "name"'


def test_custom_sections_between_known_sections_stay_where_they_were(wat, tmp_path):
    src = tmp_path / "inner.wasm"
    src.write_bytes(wat(WITH_INNER_CUSTOM))
    before = section_order(src.read_bytes())
    assert before[:2] == ["types", 'custom "inner"'] and before[-1] == 'custom "name"'
    out = tmp_path / "snap.wasm"
    assert main(["snapshot", str(src), "-o", str(out), "--init-func", "init", "-q"]) == 0
    snap = out.read_bytes()
    assert section_order(snap) == ["types", 'custom "inner"', "functions", "memories", "exports", "code", "data",
                                   'custom "name"']
    assert_valid(snap)
    assert get_after(snap) == 42


def test_unchanged_modules_keep_their_bytes(template, wat):
    for data in (template.read_bytes(), wat(WITH_INNER_CUSTOM)):
        m = parse(data)
        assert m.encode() == data
        m.add_custom("late", b"x")  # added at the end: after the trailing name section, as documented
        assert section_order(m.encode())[-2:] == ['custom "name"', 'custom "late"']
