"""Merge errors (issue 3): type mismatches, missing exports, export conflicts.

Each is a LinkError whose message names the modules, the item and both types;
every problem of a merge is reported at once (``err.problems`` keeps each; ``str(err)``
lists them one a line); the CLI exits 1 with ONE line ``error: N link problems: p1; p2; ...``
(at most ten spelled out, ``--plan`` lists them all) and writes nothing.

The type checks of fusions are held against wasmtime's own: for each pair of modules
in ``LINK_CASES`` a ``wasmtime.Linker`` instantiating them separately gives the verdict
the merge must give, and when both accept, the merged module gives the same answer.
"""

from __future__ import annotations

import os

import pytest

import json

import wasmtime

from helpers import corpus_path
from wasmweld.cli.main import main
from wasmweld.errors import LinkError
from wasmweld.link import merge, merge_plan
from wasmweld.runtime.engine import engine, validate_bytes, wat2wasm

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
    assert err.startswith("error: 8 link problems:") and err.count("\n") == 1, err
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


# ------------------------------------------------------------------------------------------ one line, every problem

THREE_WRONG = wat2wasm("""
(module
  (import "p" "f" (func (param i64) (result i32)))
  (import "p" "nope" (func))
  (import "p" "tab" (table 2 externref)))
""")


def test_cli_error_is_one_line_for_three_problems(files, tmp_path, capsys):
    err = _problems(merge, [("p", PROVIDER), ("c", THREE_WRONG)])
    assert len(err.problems) == 3
    assert str(err).splitlines() == ["3 link problems:", *(f"  - {p}" for p in err.problems)]
    bad = tmp_path / "three.wasm"
    bad.write_bytes(THREE_WRONG)
    status = main(["merge", f"{files['p']}=p", f"{bad}=c", "-o", str(tmp_path / "out.wasm")])
    stderr = capsys.readouterr().err
    assert status == 1 and not (tmp_path / "out.wasm").exists()
    assert stderr == "error: 3 link problems: " + "; ".join(err.problems) + "\n"
    assert "type mismatch: c imports p.f" in stderr and "missing export: c imports p.nope" in stderr


@pytest.fixture(scope="module")
def two_emscripten(corpus_dir):
    """em-sqljs and em-quickjs: both minified by emscripten, so 55 of their export names clash."""
    return [("sqljs", corpus_path("em-sqljs")), ("quickjs", corpus_path("em-quickjs"))]


def test_more_than_ten_problems(two_emscripten, tmp_path, capsys):
    err = _problems(merge, [(n, p.read_bytes()) for n, p in two_emscripten])
    problems = err.problems
    assert len(problems) == 55 and all(p.startswith("export conflict: sqljs exports ") for p in problems)
    assert len(set(problems)) == 55
    assert str(err).splitlines() == ["55 link problems:", *(f"  - {p}" for p in problems)]   # the API keeps all

    argv = ["merge", *(f"{p}={n}" for n, p in two_emscripten)]
    out = tmp_path / "out.wasm"
    assert main([*argv, "-o", str(out)]) == 1
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and not out.exists()
    assert stderr == ("error: 55 link problems: " + "; ".join(problems[:10])
                      + "; and 45 more (wasmweld merge --plan lists them all)\n")
    assert problems[10] not in stderr

    # ... and --plan does list them all, as text and as JSON
    assert main([*argv, "--plan"]) == 1
    text = capsys.readouterr().out
    listed = text.split("problems (55): the merge would fail\n", 1)[1].splitlines()
    assert listed == [f"  - {p}" for p in problems]
    assert main([*argv, "--plan", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"] == problems
    assert list(tmp_path.iterdir()) == []


def test_world_merge_error_is_one_line(files, tmp_path, capsys, monkeypatch):
    """`merge --world` and `run --merged` print a merge's problems on one line too."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "world.toml").write_text(f'[[module]]\nname = "p"\npath = "{files["p"]}"\n'
                                         f'[[module]]\nname = "c"\npath = "{files["c"]}"\n')
    expected = merge_plan([("p", PROVIDER), ("c", CONSUMER)], export_conflicts="rename").problems
    assert len(expected) == 8
    assert main(["merge", "--world", "world.toml", "-o", "one.wasm"]) == 1
    stderr = capsys.readouterr().err
    assert stderr == "error: 8 link problems: " + "; ".join(expected) + "\n"
    assert main(["run", "world.toml", "--merged", "--invoke", "c.x"]) == 1
    assert capsys.readouterr().err == stderr
    assert not (tmp_path / "one.wasm").exists()


def test_single_memory_refusals_are_problems_of_the_plan_and_one_line(tmp_path, capsys):
    a = wat2wasm('(module (memory (export "ma") 1) (memory (export "mb") 1))')
    b = wat2wasm('(module (memory i64 1) (func (export "f")))')
    with pytest.raises(LinkError) as info:
        merge([("a", a), ("b", b)], single_memory=True)
    problems = info.value.problems
    assert len(problems) == 2 and "memory 2 (b) is a 64-bit memory" in problems[0] and "'mb'" in problems[1]
    # merge_plan finds the same, without building anything
    mp = merge_plan([("a", a), ("b", b)], single_memory=True)
    assert mp.problems == [f"--single-memory refused: {p}" for p in problems]
    paths = []
    for name, data in (("a", a), ("b", b)):
        paths.append(tmp_path / f"{name}.wasm")
        paths[-1].write_bytes(data)
    argv = ["merge", f"{paths[0]}=a", f"{paths[1]}=b", "--single-memory"]
    assert main([*argv, "-o", str(tmp_path / "out.wasm")]) == 1
    assert capsys.readouterr().err == "error: --single-memory refused: " + "; ".join(problems) + "\n"
    assert main([*argv, "--plan"]) == 1
    plan_text = capsys.readouterr().out
    assert all(p in plan_text for p in problems), plan_text


# ------------------------------------------------------------------------------------------ type checks vs wasmtime

_MEM_RUN = ('(func (export "run") (result i32) i32.const 8 i32.const 1234 i32.store i32.const 8 i32.load '
            'memory.size i32.add)')
_MEM64_RUN = ('(func (export "run") (result i32) i64.const 8 i32.const 1234 i32.store i64.const 8 i32.load '
              'memory.size i32.wrap_i64 i32.add)')


def _mem(imported: str, exported: str) -> tuple[str, str]:
    at = "i64" if "i64" in exported else "i32"
    run = _MEM64_RUN if "i64" in imported else _MEM_RUN
    return (f'(module (memory (export "m") {exported}) (data ({at}.const 8) "\\01"))',
            f'(module (import "p" "m" (memory {imported})) {run})')


def _table(imported: str, exported: str) -> tuple[str, str]:
    return (f'(module (table (export "t") {exported} funcref))',
            f'(module (import "p" "t" (table {imported} funcref)) (func (export "run") (result i32) table.size 0))')


_CALL_F = '(func (export "run") (result i32) call 0)'
_SUPER_SUB = '(type $S (sub (struct))) (type $T (sub $S (struct (field i32))))'

# (id, provider p, consumer c importing from p, what the spec says: does c link against p?)
LINK_CASES = [
    ("memory64-import-i32-export", *_mem("i64 1", "1"), False),
    ("i32-import-memory64-export", *_mem("1", "i64 1"), False),
    ("memory64-both", *_mem("i64 1", "i64 2"), True),
    ("shared-import-unshared-export", *_mem("1 2 shared", "1 2"), False),
    ("unshared-import-shared-export", *_mem("1 2", "1 2 shared"), False),
    ("shared-both", *_mem("1 2 shared", "1 2 shared"), True),
    ("memory-import-max-below-export-max", *_mem("1 2", "1 3"), False),
    ("memory-import-max-export-no-max", *_mem("1 2", "1"), False),
    ("memory-import-max-above-export-max", *_mem("1 4", "2 3"), True),
    ("memory-import-min-above-export-min", *_mem("2", "1"), False),
    ("table-import-min-above-export-min", *_table("5", "2"), False),
    ("table-import-max-below-export-max", *_table("1 3", "2 5"), False),
    ("table-import-max-export-no-max", *_table("1 3", "2"), False),
    ("table-import-no-max-export-max", *_table("1", "2 5"), True),
    ("table-import-max-above-export-max", *_table("2 8", "3 5"), True),
    ("func-declared-subtype",           # the export's type is (sub final $F ...) of the imported $F
     '(module (type $F (sub (func (result i32)))) (type $G (sub final $F (func (result i32))))'
     ' (func (export "f") (type $G) i32.const 42))',
     f'(module (type $F (sub (func (result i32)))) (import "p" "f" (func (type $F))) {_CALL_F})', True),
    ("func-supertype-for-subtype-import",
     '(module (type $F (sub (func (result i32)))) (func (export "f") (type $F) i32.const 42))',
     '(module (type $F (sub (func (result i32)))) (type $G (sub final $F (func (result i32))))'
     f' (import "p" "f" (func (type $G))) {_CALL_F})', False),
    ("func-same-shape-not-declared",    # final, no supertype: not a subtype of the open $F
     '(module (type $G (func (result i32))) (func (export "f") (type $G) i32.const 42))',
     f'(module (type $F (sub (func (result i32)))) (import "p" "f" (func (type $F))) {_CALL_F})', False),
    ("func-covariant-result-not-declared",  # results (ref $T) <: (ref $S), but the func types are unrelated
     f'(module {_SUPER_SUB} (func (export "f") (result (ref null $T)) ref.null $T))',
     '(module (type $S (sub (struct))) (import "p" "f" (func (result (ref null $S))))'
     ' (func (export "run") (result i32) call 0 ref.is_null))', False),
    ("global-declared-subtype-ref",
     f'(module {_SUPER_SUB} (global (export "g") (ref null $T) (struct.new $T (i32.const 3))))',
     '(module (type $S (sub (struct))) (import "p" "g" (global (ref null $S)))'
     ' (func (export "run") (result i32) global.get 0 ref.is_null))', True),
    ("global-mutable-subtype-ref",      # a mutable global's type must match exactly
     f'(module {_SUPER_SUB} (global (export "g") (mut (ref null $T)) (struct.new $T (i32.const 3))))',
     '(module (type $S (sub (struct))) (import "p" "g" (global (mut (ref null $S))))'
     ' (func (export "run") (result i32) global.get 0 ref.is_null))', False),
]


def _linked(p: bytes, c: bytes):
    """wasmtime's verdict: ("ok", run()) when c instantiates against p through a Linker, else ("refused", why)."""
    eng = engine()
    store = wasmtime.Store(eng)
    linker = wasmtime.Linker(eng)
    linker.define_instance(store, "p", linker.instantiate(store, wasmtime.Module(eng, p)))
    consumer = wasmtime.Module(eng, c)           # compiles on its own: a refusal below is about the link
    try:
        inst = linker.instantiate(store, consumer)
    except wasmtime.WasmtimeError as exc:
        return ("refused", str(exc))
    return ("ok", inst.exports(store)["run"](store))


def _run_merged(data: bytes):
    eng = engine()
    store = wasmtime.Store(eng)
    inst = wasmtime.Linker(eng).instantiate(store, wasmtime.Module(eng, data))
    return inst.exports(store)["run"](store)


@pytest.mark.parametrize("provider, consumer, links", [c[1:] for c in LINK_CASES], ids=[c[0] for c in LINK_CASES])
def test_fusion_type_check_agrees_with_wasmtime_linker(provider, consumer, links):
    p, c = wat2wasm(provider), wat2wasm(consumer)
    verdict = _linked(p, c)
    assert (verdict[0] == "ok") == links, verdict            # the oracle says what the spec says
    if verdict[0] == "refused":
        assert "incompatible import type" in verdict[1], verdict
    try:
        merged = merge([("p", p), ("c", c)])
    except LinkError as exc:
        assert verdict[0] == "refused", f"wasmtime links these, merge refused: {exc}"
        assert len(exc.problems) == 1 and exc.problems[0].startswith("type mismatch: c imports p.")
        return
    assert verdict[0] == "ok", "wasmtime refuses to link these, but merge fused them"
    data = merged.encode()
    validate_bytes(data)
    assert merged.imports == []
    assert _run_merged(data) == verdict[1]


def _malformed_unused_body_inputs():
    from wasmweld.module import FuncBody, parse as parse_module

    m = parse_module(wat2wasm('(module (func (export "f") (result i32) i32.const 1)'
                              ' (func $dead (result i32) i32.const 2))'))
    raw = bytearray(m.code[1].raw)
    assert raw[1] == 0x41  # i32.const
    raw[1] = 0xFF          # an illegal opcode in the body nothing reaches
    m.code[1] = FuncBody(bytes(raw))
    consumer = wat2wasm('(module (import "a" "f" (func (result i32))) (func (export "g") (result i32) call 0))')
    return m.encode(), consumer


def test_malformed_body_of_an_unused_function_is_an_error():
    """gc drops the function, but its malformed body is still input: an error naming the input, not silence."""
    from wasmweld.errors import DecodeError

    bad, consumer = _malformed_unused_body_inputs()
    with pytest.raises(DecodeError) as info:
        merge([("a", bad), ("b", consumer)])
    assert "input 'a'" in str(info.value) and "illegal opcode" in str(info.value)
    assert info.value.offset is not None


@pytest.mark.parametrize("extra", [[], ["--no-gc"]])
def test_cli_malformed_body_of_an_unused_function(extra, tmp_path, capsys):
    """With gc (the body dropped) and without (the body copied): exit 1 naming the input, nothing written."""
    bad, consumer = _malformed_unused_body_inputs()
    (tmp_path / "a.wasm").write_bytes(bad)
    (tmp_path / "b.wasm").write_bytes(consumer)
    out = tmp_path / "out.wasm"
    status = main(["merge", f"{tmp_path / 'a.wasm'}=a", f"{tmp_path / 'b.wasm'}=b", "-o", str(out), *extra])
    err = capsys.readouterr().err
    assert status == 1 and not out.exists()
    assert len(err.strip().splitlines()) == 1 and "a.wasm" in err and "illegal opcode" in err and "offset 0x" in err
