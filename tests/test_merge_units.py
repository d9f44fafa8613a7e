"""Merge internals (issue 3): types, imports, start, exports, gc, names, custom sections, plan, graph, refusals."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "fixtures" / "merge"))

import harness  # noqa: E402

import wasmweld  # noqa: E402
from wasmweld import parse  # noqa: E402
from wasmweld.custom.producers import Producers  # noqa: E402
from wasmweld.custom.target_features import TargetFeatures  # noqa: E402
from wasmweld.errors import LinkError  # noqa: E402
from wasmweld.link import merge, merge_plan  # noqa: E402
from wasmweld.link.graph import to_dot, to_svg  # noqa: E402
from wasmweld.link.plan import format_plan  # noqa: E402
from wasmweld.link.typecheck import TypeSpace  # noqa: E402
from wasmweld.runtime.engine import validate_bytes, wat2wasm  # noqa: E402
from wasmweld.types import FuncType, I32, I64, RecGroup, RefType, StructType, SubType, FieldType  # noqa: E402


def run(data: bytes, export: str, *args):
    from helpers import run_wasm
    return run_wasm(data, export, *args)


# ------------------------------------------------------------------------------------------ types

def test_types_deduplicated_and_rec_groups_kept_whole():
    a = wat2wasm("""(module
      (type (func (param i32)))
      (rec (type $n (struct (field (ref null $n)))) (type $m (struct (field (ref null $n)))))
      (func (export "fa") (param i32)))""")
    b = wat2wasm("""(module
      (rec (type $n (struct (field (ref null $n)))) (type $m (struct (field (ref null $n)))))
      (rec (type $n2 (struct (field (ref null $n2)))))
      (type (func (param i32)))
      (func (export "fb") (param i32)))""")
    m = merge([("a", a), ("b", b)], gc=False)
    groups = m.types
    assert [len(g.types) for g in groups] == [1, 2, 1]      # b's 2-type group == a's; its 1-type group is new
    validate_bytes(m.encode())


def test_typespace_subtyping_and_keys():
    space = TypeSpace()
    base = SubType(FuncType((), (RefType(True, "any"),)), (), final=False)
    sub = SubType(FuncType((), (RefType(False, "eq"),)), (0,), final=True)
    t = space.add_module("x", [RecGroup((base,)), RecGroup((sub,))])
    assert t == [0, 1]
    assert space.type_sub(1, 0) and not space.type_sub(0, 1)
    # a final and a non-final type are different types even if structurally equal
    t2 = space.add_module("y", [RecGroup((SubType(FuncType((), (RefType(True, "any"),)), (), final=True),))])
    assert t2 == [2]
    assert space.val_sub(RefType(False, 1), RefType(True, "func"))
    assert not space.val_sub(RefType(True, "i31"), RefType(False, "eq"))
    assert space.val_sub(RefType(True, "none"), RefType(True, "eq"))
    st = SubType(StructType((FieldType(I32, True),)))
    assert space.add_module("z", [RecGroup((st,)), RecGroup((st,))]) == [3, 3]


# ------------------------------------------------------------------------------------------ imports

def test_unresolved_imports_deduplicated_by_module_name_and_type():
    a = wat2wasm('(module (import "env" "now" (func $n (result i64))) (import "env" "log" (func (param i32)))'
                 ' (func (export "a") (result i64) call $n))')
    b = wat2wasm('(module (import "env" "now" (func $n (result i64))) (import "env" "log" (func (param i64)))'
                 ' (func (export "b") (result i64) call $n))')
    m = merge([("a", a), ("b", b)], gc=False)
    assert [(i.module, i.name, m.type_list()[i.desc].comp) for i in m.imports] == [
        ("env", "now", FuncType((), (I64,))),
        ("env", "log", FuncType((I32,), ())),
        ("env", "log", FuncType((I64,), ())),          # same name, another type: its own import
    ]
    mp = merge_plan([("a", a), ("b", b)])
    assert [u.importers for u in mp.unresolved] == [["a", "b"], ["a"], ["b"]]
    from helpers import run_wasm
    used = merge([("a", a), ("b", b)])             # gc: nobody calls log
    assert [(i.module, i.name) for i in used.imports] == [("env", "now")]
    assert run_wasm(used.encode(), "b", imports={"env": {"now": lambda: 41}}) == 41


def test_chain_records_every_link():
    c = wat2wasm('(module (func (export "f") (result i32) i32.const 3))')
    b = wat2wasm('(module (import "c" "f" (func (result i32))) (export "g" (func 0)))')
    a = wat2wasm('(module (import "b" "g" (func $g (result i32))) (func (export "h") (result i32) call $g))')
    mp = merge_plan([("a", a), ("b", b), ("c", c)])
    links = {(f.importer, f.module, f.name): (f.exporter, f.target[0]) for f in mp.fusions}
    assert links == {("a", "b", "g"): ("b", "c"), ("b", "c", "f"): ("c", "c")}
    m = merge([("a", a), ("b", b), ("c", c)])
    assert m.imports == [] and len(m.funcs) == 2      # h and c's f; b had no code of its own
    assert run(m.encode(), "h") == 3 and run(m.encode(), "g") == 3


# ------------------------------------------------------------------------------------------ start, exports, gc

def test_start_functions_chained_in_input_order():
    mk = lambda k: wat2wasm(f'(module (import "env" "note" (func $note (param i32))) '     # noqa: E731
                            f'(func $s i32.const {k} call $note) (start $s))')
    m = merge([("x", mk(1)), ("y", mk(2)), ("z", mk(3))])
    notes = []
    from helpers import run_wasm
    import wasmtime
    data = m.encode()
    mod = wasmtime.Module(harness.engine(), data)
    store = wasmtime.Store(harness.engine())
    linker = wasmtime.Linker(harness.engine())
    linker.define_func("env", "note", wasmtime.FuncType([wasmtime.ValType.i32()], []), notes.append)
    linker.instantiate(store, mod)
    assert notes == [1, 2, 3]
    assert m.start == len(m.funcs) + len(m.imports) - 1   # the new chaining function comes last
    del run_wasm


def test_export_from_and_gc():
    lib = wat2wasm("""(module
      (func $used (export "used") (result i32) i32.const 7)
      (func $other (export "other") (result i32) i32.const 8)
      (func $dead (result i32) i32.const 9))""")
    app = wat2wasm('(module (import "lib" "used" (func $u (result i32))) (func (export "main") (result i32) call $u))')
    m = merge([("app", app), ("lib", lib)], export_from=["app"])
    assert [e.name for e in m.exports] == ["main"]
    assert len(m.funcs) == 2                      # main and lib's used: other and dead are gone
    assert run(m.encode(), "main") == 7
    kept = merge([("app", app), ("lib", lib)], export_from="app", gc=False)
    assert len(kept.funcs) == 4
    full = merge([("app", app), ("lib", lib)])     # fused exports nobody drops are kept
    assert sorted(e.name for e in full.exports) == ["main", "other", "used"]
    assert len(full.funcs) == 3


def test_rename_scheme_is_stable():
    one = wat2wasm('(module (func (export "x")) (func (export "b:x")))')
    two = wat2wasm('(module (func (export "x")))')
    m = merge([("a", one), ("b", two)], export_conflicts="rename")
    assert [e.name for e in m.exports] == ["x", "b:x", "b:x#2"]
    mp = merge_plan([("a", one), ("b", two)], export_conflicts="rename")
    assert mp.export_name("b", "x") == "b:x#2"


# ------------------------------------------------------------------------------------------ renumbered immediates

def test_segment_indices_renumbered():
    prog = harness.load_wat_program(str(HERE / "fixtures" / "merge" / "wat" / "memory.wat"))
    m = merge(prog.modules, gc=False)
    user_funcs = m.code[len(parse(prog.modules[0][1]).code):]
    ops = [(i.name, i.args) for body in user_funcs for i in body.instrs if i.name in ("memory.init", "data.drop")]
    # heap has 1 data segment, so user's passive segment $p (its 1) is 2 now; user's own memory is memory 1
    assert ops == [("memory.init", (2, 0)), ("data.drop", (2,))]
    prog = harness.load_wat_program(str(HERE / "fixtures" / "merge" / "wat" / "tables.wat"))
    m = merge(prog.modules, gc=False)
    plugin = m.code[len(parse(prog.modules[0][1]).code):]
    ops = [(i.name, i.args) for body in plugin for i in body.instrs
           if i.name in ("table.init", "elem.drop", "ref.func", "table.set", "table.grow")]
    assert ("table.init", (2, 1)) in ops and ("elem.drop", (2,)) in ops and ("table.set", (0,)) in ops
    assert m.elems[1].table == 0 and m.elems[1].mode == "active"     # plugin's segment writes funcs' table


def test_fused_constant_global_is_inlined():
    prog = harness.load_wat_program(str(HERE / "fixtures" / "merge" / "wat" / "chain.wat"))
    m = merge(prog.modules, gc=False)
    kk = next(e for e in m.exports if e.name == "kk")
    g = m.globals[kk.index - m.num_imported(wasmweld.ExternKind.GLOBAL)]
    assert g.init.int_value == 7                 # was (global.get $k), $k fused to c's constant 7


def test_forward_global_reference_is_refused():
    a = wat2wasm('(module (import "b" "g" (global $g i32)) (global (export "h") i32 (global.get $g)))')
    b = wat2wasm('(module (import "env" "x" (global $x i32)) (global (export "g") i32 (global.get $x)))')
    with pytest.raises(LinkError, match="comes later after the merge"):
        merge([("a", a), ("b", b)])
    m = merge([("b", b), ("a", a)])            # exporter first: fine
    validate_bytes(m.encode())


# ------------------------------------------------------------------------------------------ custom sections

def _with_customs(wat: str, customs: dict[str, bytes]) -> bytes:
    m = parse(wat2wasm(wat))
    for name, data in customs.items():
        m.add_custom(name, data)
    return m.encode()


def test_names_merged_with_prefixes_on_clash():
    a = wat2wasm('(module $A (import "b" "f" (func $f)) (func $main (export "main") call $f) (func $helper))')
    b = wat2wasm('(module $B (func $f (export "f") call $helper) (func $helper))')
    m = merge([("a", a), ("b", b)], gc=False, module_name="world")
    ns = m.names
    assert ns.module == "world"
    assert sorted(ns.funcs.values()) == ["a:helper", "b:helper", "f", "main"]


def test_producers_and_target_features_united_other_customs_first_only():
    p1, p2 = Producers(), Producers()
    p1.add("language", "C11")
    p1.add("processed-by", "clang", "14")
    p2.add("language", "Rust")
    p2.add("processed-by", "clang", "14")
    a = _with_customs('(module (func (export "a")))', {
        "producers": p1.encode(), "target_features": TargetFeatures([("+", "mutable-globals")]).encode(),
        "sourceMappingURL": b"\x05a.map"})
    b = _with_customs('(module (func (export "b")))', {
        "producers": p2.encode(), "target_features": TargetFeatures([("+", "simd128")]).encode(),
        "sourceMappingURL": b"\x05b.map", "custom.b": b"xyz"})
    warnings = []
    m = merge([("a", a), ("b", b)], warn=warnings.append)
    prod = m.producers.fields
    assert prod["language"] == {"C11": "", "Rust": ""}
    assert "clang" in prod["processed-by"] and "wasmweld" in prod["processed-by"]
    assert m.target_features.used == {"mutable-globals", "simd128"}
    assert m.custom("sourceMappingURL").data == b"\x05a.map"
    assert m.custom("custom.b") is None
    assert any("'sourceMappingURL', 'custom.b' of b" in w for w in warnings), warnings


# ------------------------------------------------------------------------------------------ single memory refusals

def test_single_memory_refusals():
    host_mem = wat2wasm('(module (import "env" "memory" (memory 1)) (func (export "a")))')
    own = wat2wasm('(module (memory 1) (func (export "b") (result i32) memory.size))')
    with pytest.raises(LinkError, match=r"imported from the host \(env.memory\)"):
        merge([("a", host_mem), ("b", own)], single_memory=True)
    m64 = wat2wasm('(module (memory i64 1) (func (export "c")))')
    with pytest.raises(LinkError, match="64-bit memory"):
        merge([("b", own), ("c", m64)], single_memory=True)
    shared = wat2wasm('(module (memory 1 1 shared) (func (export "d")))')
    with pytest.raises(LinkError, match="shared"):
        merge([("b", own), ("d", shared)], single_memory=True)
    exported = wat2wasm('(module (memory (export "mem") 1) (func (export "e") (result i32) i32.const 0 i32.load))')
    with pytest.raises(LinkError) as info:
        merge([("b", own), ("e", exported)], single_memory=True)
    assert "memory 1 (e) is exported to the host as 'mem'" in str(info.value)
    warnings = []
    m = merge([("b", own), ("e", exported)], single_memory=True, drop_memory_exports=True, warn=warnings.append)
    assert m.num_memories == 1 and "mem" not in {e.name for e in m.exports}
    assert any("dropped memory export 'mem'" in w for w in warnings)
    # the first memory may stay exported (base 0)
    m = merge([("e", exported), ("b", own)], single_memory=True, warn=warnings.append)
    assert [e.name for e in m.exports if e.kind == wasmweld.ExternKind.MEMORY] == ["mem"]


def test_single_memory_grow_within_reserve():
    a = wat2wasm('(module (memory 1) (func (export "ga") (param i32) (result i32) local.get 0 memory.grow)'
                 ' (func (export "sa") (result i32) memory.size))')
    b = wat2wasm('(module (memory 2) (func (export "gb") (param i32) (result i32) local.get 0 memory.grow)'
                 ' (func (export "sb") (result i32) memory.size))')
    data = merge([("a", a), ("b", b)], single_memory=True, memory_reserve=3, warn=lambda t: None).encode()
    harness.validate(data, multi_memory=False)
    from helpers import run_wasm
    import wasmtime
    store = wasmtime.Store(harness.engine(False))
    inst = wasmtime.Instance(store, wasmtime.Module(harness.engine(False), data), [])
    ex = inst.exports(store)
    assert ex["ga"](store, 2) == 1 and ex["sa"](store) == 3
    assert ex["ga"](store, 2) == -1 and ex["sa"](store) == 3      # a has room for 1 + 3 pages
    assert ex["gb"](store, 5) == 2 and ex["sb"](store) == 7       # the top memory grows for real
    del run_wasm


# ------------------------------------------------------------------------------------------ plan and graph

def _bank_world():
    prog = harness.load_wat_program(str(HERE / "fixtures" / "merge" / "wat" / "cycle.wat"))
    return prog.modules


def test_plan_text_lists_fusions_and_unresolved():
    mp = merge_plan(_bank_world())
    text = format_plan(mp)
    assert "fusions (2)" in text and "unresolved imports (1)" in text
    assert "even      odd.is_odd    func  odd       is_odd   odd" in text
    assert "host.tick  func  [i32] -> [i32]  even, odd" in text


def test_graph_svg_and_dot():
    mp = merge_plan(_bank_world())
    svg = to_svg(mp, {"even": "1 func", "odd": "2 funcs"}, engine="builtin")
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"even", "odd", "host", "is_odd", "is_even", "host.tick"} <= set(texts)
    arrows = root.findall("s:path", ns)
    assert len(arrows) == 4        # even->odd, odd->even, even->host, odd->host
    dot = to_dot(mp)
    assert '"even" -> "odd" [label="is_odd"];' in dot
    assert '"odd" -> "host" [label="host.tick", style=dashed];' in dot


def test_graph_cli(tmp_path, capsys):
    from wasmweld.cli.main import main
    paths = []
    for name, data in _bank_world():
        p = tmp_path / f"{name}.wasm"
        p.write_bytes(data)
        paths.append(f"{p}={name}")
    assert main(["graph", *paths, "-o", str(tmp_path / "world.svg")]) == 0
    assert ET.parse(tmp_path / "world.svg").getroot().tag.endswith("svg")
    assert main(["graph", *paths, "-o", str(tmp_path / "world.dot")]) == 0
    assert (tmp_path / "world.dot").read_text().startswith("digraph world {")
    assert main(["graph", *paths, "--format", "dot"]) == 0
    assert '"even" -> "odd"' in capsys.readouterr().out


def test_api_accepts_modules_bytes_and_paths(tmp_path):
    a, b = _bank_world()
    p = tmp_path / "odd.wasm"
    p.write_bytes(b[1])
    m = wasmweld.merge([("even", parse(a[1])), ("odd", str(p))])
    assert [i.module for i in m.imports] == ["host"]
    m2 = wasmweld.merge({"even": a[1], "odd": b[1]})
    assert m2.encode() == m.encode()


def test_same_item_exported_twice_is_no_conflict():
    c = wat2wasm('(module (func (export "f") (result i32) i32.const 5))')
    b = wat2wasm('(module (import "c" "f" (func $f (result i32))) (export "f" (func $f)))')
    m = merge([("c", c), ("b", b)])                   # b re-exports c's own f: exported once
    assert [e.name for e in m.exports] == ["f"]
    mp = merge_plan([("c", c), ("b", b)])
    assert mp.export_name("b", "f") is None and "the same func as c's export 'f'" in mp.exports[1].reason
    other = wat2wasm('(module (func (export "f") (result i32) i32.const 6))')
    with pytest.raises(LinkError, match="export conflict"):
        merge([("c", c), ("o", other)])


def test_docstring_example():
    """The worked example at the top of wasmweld/link/merge.py does what it says."""
    logger = wat2wasm('(module (memory (export "memory") 1) (global $n (mut i32) (i32.const 0))'
                      ' (func (export "log") (param i32 i64) global.get $n i32.const 1 i32.add global.set $n))')
    ledger = wat2wasm('''(module
      (import "logger" "log" (func $log (param i32 i64)))
      (import "env" "now" (func $now (result i64)))
      (memory (export "memory") 1)
      (func (export "credit") (param i32 i64)
        local.get 0 local.get 1 call $now i64.add i64.store
        i32.const 1 local.get 1 call $log))''')
    bank = wat2wasm('''(module
      (import "ledger" "credit" (func $credit (param i32 i64)))
      (import "logger" "log" (func $log (param i32 i64)))
      (import "env" "now" (func $now (result i64)))
      (func (export "pay") (param i32 i64)
        local.get 0 local.get 1 call $now i64.add call $credit
        i32.const 2 local.get 1 call $log))''')
    m = merge([("logger", logger), ("ledger", ledger), ("bank", bank)], export_conflicts="rename")
    assert [(i.module, i.name) for i in m.imports] == [("env", "now")]
    funcs = {e.name: e.index for e in m.exports if e.kind == wasmweld.ExternKind.FUNC}
    assert funcs == {"log": 1, "credit": 2, "pay": 3}
    mems = {e.name: e.index for e in m.exports if e.kind == wasmweld.ExternKind.MEMORY}
    assert mems == {"memory": 0, "ledger:memory": 1}
    validate_bytes(m.encode())
