"""Issue 15 (tutorial 5): components as a new user meets them, found walking the tutorial.

- A component that imports an interface only for its types: ``world w { export api; }`` where ``api``
  uses ``types.{pt}`` makes the component import ``test:typeonly/types`` with nothing but a type in it
  (wit-component does this whenever an exported interface uses another interface's types). The World
  refused it ("no component exports it"); an empty instance satisfies it, as ``wasmtime run`` does. An
  import with functions still needs a provider.
- ``run --invoke 'sum(...)'`` without the interface: the error says which qualified name was meant.
- CLI errors named the target component 'main'; now they use the file's name.
- ``info --json`` on a component had no ``"schema": 1`` key (every other --json output has one).
"""

from __future__ import annotations

import pytest
from component_build import build_component

import wasmweld
from wasmweld.cli.main import main
from wasmweld.errors import LinkError

WIT = """package test:typeonly@0.1.0;
interface types { record pt { x: u32, y: u32 } }
interface api {
  use types.{pt};
  sum: func(p: pt) -> u32;
}
interface more { more: func() -> u32; }
world w { export api; }
world needs-more { import more; use types.{pt}; export api; }
"""

CORE = """(module %s
  (memory (export "memory") 1)
  (func (export "test:typeonly/api@0.1.0#sum") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024)))"""


@pytest.fixture(scope="module")
def comps(tmp_path_factory):
    d = tmp_path_factory.mktemp("typeonly")
    (d / "wit").mkdir()
    (d / "wit" / "w.wit").write_text(WIT)
    return {"w": build_component(CORE % "", d / "wit", "w"),
            "needs-more": build_component(CORE % '(import "test:typeonly/more@0.1.0" "more" (func (result i32)))',
                                          d / "wit", "needs-more")}


def test_type_only_import_needs_no_provider(comps, tmp_path, capsys):
    w = wasmweld.World()
    w.add("c", comps["w"])
    assert w.invoke("c", "test:typeonly/api@0.1.0#sum", {"x": 2, "y": 40}) == 42
    path = tmp_path / "c.wasm"
    path.write_bytes(comps["w"])
    assert main(["run", str(path), "--invoke", "test:typeonly/api@0.1.0#sum({x: 2, y: 40})"]) == 0
    assert capsys.readouterr().out == "42\n"


def test_an_import_with_functions_still_needs_a_provider(comps):
    w = wasmweld.World()
    w.add("c", comps["needs-more"])
    with pytest.raises(LinkError, match="imports 'test:typeonly/more@0.1.0': no component exports it"):
        w.invoke("c", "test:typeonly/api@0.1.0#sum", {"x": 1, "y": 1})


def test_cli_names_the_component_and_suggests_the_qualified_function(comps, tmp_path, capsys):
    path = tmp_path / "adder.wasm"
    path.write_bytes(comps["w"])
    assert main(["run", str(path), "--invoke", "sum({x: 1, y: 2})"]) == 1
    assert capsys.readouterr().err == ("error: component 'adder' does not export a function 'sum'; "
                                       "did you mean 'test:typeonly/api@0.1.0#sum'?\n")
    assert main(["run", str(path), "--invoke", "nope()"]) == 1
    assert capsys.readouterr().err == "error: component 'adder' does not export a function 'nope'\n"
    more = tmp_path / "needs-more.wasm"
    more.write_bytes(comps["needs-more"])
    assert main(["run", str(more), "--invoke", "test:typeonly/api@0.1.0#sum({x: 1, y: 2})"]) == 1
    assert capsys.readouterr().err.startswith(
        "error: component 'needs-more' imports 'test:typeonly/more@0.1.0': no component exports it")


def test_component_info_json_has_the_schema_key(comps, tmp_path, capsys):
    import json

    path = tmp_path / "c.wasm"
    path.write_bytes(comps["w"])
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["schema"] == 1 and info["kind"] == "component"
    assert [e["name"] for e in info["exports"]] == ["test:typeonly/api@0.1.0"]
