"""Merge errors (issue 3): type mismatches, missing exports, export conflicts.

Each is a LinkError whose message names the modules, the item and both types;
every problem of a merge is reported at once; the CLI exits 1 with the message
and writes nothing.
"""

from __future__ import annotations

import os

import pytest

from wasmweld.cli.main import main
from wasmweld.errors import LinkError
from wasmweld.link import merge, merge_plan
from wasmweld.runtime.engine import wat2wasm

PROVIDER = wat2wasm("""
(module
  (func (export "f") (param i32) (result i32) local.get 0)
  (global (export "g") (mut i32) (i32.const 1))
  (global (export "k") i64 (i64.const 1))
  (memory (export "mem") 1 2)
  (table (export "tab") 2 funcref)
  (tag (export "oops") (param i32)))
""")

# every import here is wrong in its own way
CONSUMER = wat2wasm("""
(module
  (import "p" "f" (func (param i64) (result i32)))
  (import "p" "g" (global i32))
  (import "p" "k" (global i32))
  (import "p" "mem" (memory 3))
  (import "p" "tab" (table 2 externref))
  (import "p" "oops" (tag (param f32)))
  (import "p" "nope" (func))
  (import "p" "mem" (func)))
""")


def _problems(fn, *args, **kw) -> LinkError:
    with pytest.raises(LinkError) as info:
        fn(*args, **kw)
    return info.value


def test_every_mismatch_reported_at_once():
    err = _problems(merge, [("p", PROVIDER), ("c", CONSUMER)])
    text = str(err)
    assert len(err.problems) == 8, err.problems
    # function signature: both types, both modules, the item
    assert "type mismatch: c imports p.f as func [i64] -> [i32], but p exports 'f' as func [i32] -> [i32]" in text
    assert "c imports p.g as global i32, but p exports 'g' as global mut i32 (mutability differs)" in text
    assert "c imports p.k as global i32, but p exports 'k' as global i64" in text
    assert "c imports p.mem as memory 3.. pages, but p exports 'mem' as memory 1..2 pages" in text
    assert "minimum 1 pages is below the imported minimum 3" in text
    assert "c imports p.tab as table 2.. externref, but p exports 'tab' as table 2.. funcref" in text
    assert "c imports p.oops as tag [f32] -> [], but p exports 'oops' as tag [i32] -> []" in text
    assert "missing export: c imports p.nope (func [] -> []), but p has no export named 'nope'" in text
    assert "kind mismatch: c imports p.mem as func [] -> [], but p exports 'mem' as memory 1..2 pages" in text


def test_type_mismatch_alone():
    bad = wat2wasm('(module (import "p" "f" (func (param i32) (result i64))))')
    err = _problems(merge, [("p", PROVIDER), ("c", bad)])
    assert str(err) == ("type mismatch: c imports p.f as func [i32] -> [i64], but p exports 'f' as "
                        "func [i32] -> [i32] (function type is not a subtype of the imported one)")


def test_missing_export_lists_what_exists():
    bad = wat2wasm('(module (import "p" "g2" (global (mut i32))))')
    err = _problems(merge, [("p", PROVIDER), ("c", bad)])
    msg = str(err)
    assert "c imports p.g2 (global mut i32), but p has no export named 'g2'" in msg
    assert "its global exports are 'g' (global mut i32), 'k' (global i64)" in msg
    # --allow-unresolved keeps it an import instead
    m = merge([("p", PROVIDER), ("c", bad)], allow_unresolved=True, gc=False)
    assert [(i.module, i.name) for i in m.imports] == [("p", "g2")]


def test_export_conflict_names_both_sides():
    a = wat2wasm('(module (func (export "run") (result i32) i32.const 1))')
    b = wat2wasm('(module (global (export "run") i32 (i32.const 2)))')
    err = _problems(merge, [("a", a), ("b", b)])
    assert str(err).startswith("export conflict: a exports 'run' (func [] -> [i32]) and b exports 'run' "
                               "(global i32)")
    assert "--rename-export-conflicts" in str(err)
    renamed = merge([("a", a), ("b", b)], export_conflicts="rename")
    assert sorted(e.name for e in renamed.exports) == ["b:run", "run"]
    skipped = merge([("a", a), ("b", b)], export_conflicts="skip")
    assert [(e.name, e.kind.name) for e in skipped.exports] == [("run", "FUNC")]


def test_import_cycle_without_definition():
    a = wat2wasm('(module (import "b" "x" (func)) (export "y" (func 0)))')
    b = wat2wasm('(module (import "a" "y" (func)) (export "x" (func 0)))')
    err = _problems(merge, [("a", a), ("b", b)])
    assert "import cycle with no definition" in str(err)


def test_bad_inputs():
    assert "two inputs are named 'p'" in str(_problems(merge, [("p", PROVIDER), ("p", PROVIDER)]))
    assert "nothing to merge" in str(_problems(merge, []))
    with pytest.raises(LinkError, match="export_conflicts must be one of"):
        merge([("p", PROVIDER)], export_conflicts="merge")
    with pytest.raises(LinkError, match="export_from names 'zz'"):
        merge([("p", PROVIDER)], export_from=["zz"])


def test_plan_collects_instead_of_raising():
    mp = merge_plan([("p", PROVIDER), ("c", CONSUMER)])
    assert len(mp.problems) == 8
    assert isinstance(mp.error(), LinkError)


# ------------------------------------------------------------------------------------------ CLI

@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, data in (("p", PROVIDER), ("c", CONSUMER)):
        path = tmp_path / f"{name}.wasm"
        path.write_bytes(data)
        paths[name] = str(path)
    return paths


def test_cli_type_mismatch_exits_1_and_writes_nothing(files, tmp_path, capsys):
    out = tmp_path / "out.wasm"
    status = main(["merge", f"{files['p']}=p", f"{files['c']}=c", "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 1
    assert not out.exists()
    assert err.startswith("error: 8 link problems:")
    assert "c imports p.f as func [i64] -> [i32], but p exports 'f' as func [i32] -> [i32]" in err
    assert "but p has no export named 'nope'" in err
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")], "a temporary file was left behind"


def test_cli_missing_export_keeps_existing_output(files, tmp_path, capsys):
    bad = tmp_path / "bad.wat"
    bad.write_text('(module (import "p" "absent" (func (param i32))))')
    out = tmp_path / "out.wasm"
    out.write_bytes(b"old contents")
    status = main(["merge", files["p"], "p", str(bad), "c", "-o", str(out)])     # wasm-merge order
    err = capsys.readouterr().err
    assert status == 1
    assert "missing export: c imports p.absent (func [i32] -> []), but p has no export named 'absent'" in err
    assert out.read_bytes() == b"old contents"


def test_cli_export_conflict(files, tmp_path, capsys):
    out = tmp_path / "out.wasm"
    status = main(["merge", f"{files['p']}=p", f"{files['p']}=q", "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 1 and not out.exists()
    assert "export conflict: p exports 'f' (func [i32] -> [i32]) and q exports 'f' (func [i32] -> [i32])" in err
    status = main(["merge", f"{files['p']}=p", f"{files['p']}=q", "--rename-export-conflicts", "-o", str(out)])
    assert status == 0 and out.exists()


def test_cli_input_syntax_errors(files, capsys):
    assert main(["merge", files["p"], "-o", "x.wasm"]) == 1
    assert "has no name" in capsys.readouterr().err
    assert main(["merge", files["p"], files["c"], "-o", "x.wasm"]) == 1
    assert "looks like a file" in capsys.readouterr().err


def test_malformed_and_invalid_inputs_are_named():
    from wasmweld import DecodeError, Export, ExternKind, parse
    good = wat2wasm('(module (import "a" "f" (func)))')
    with pytest.raises(DecodeError, match="input 'a': "):
        merge([("a", b"\0asm\x01\0\0\0\x01\x05\x01"), ("b", good)])
    bad = parse(wat2wasm('(module (func (export "f")))'))
    bad.exports[0] = Export("f", ExternKind.FUNC, 7)          # well-formed, but points nowhere
    with pytest.raises(LinkError, match="input 'a' is not a valid module: .*function index out of bounds"):
        merge([("a", bad.encode()), ("b", good)])
