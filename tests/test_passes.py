"""Issue 4, binary surgery: each pass on a small WAT module.

Every test checks three things where they apply: the result (re-parsed, and
run in wasmtime), that every section the pass has no business touching is
byte-identical, and that bad requests raise an EditError naming the item.
"""

from __future__ import annotations


import pytest
import wasmtime

from fixtures.surgery.check import assert_only_changed, instantiate, read_u32s
from wasmweld import EditError, ExternKind, parse
from wasmweld import passes
from wasmweld import _toml
from wasmweld.manifest import ManifestError
from wasmweld.runtime.engine import validate_bytes

SURGERY = r"""(module $surgery
  (type $ii_v (func (param i32 i32)))
  (type $v_i (func (result i32)))
  (type $i_i (func (param i32) (result i32)))
  (type $i_v (func (param i32)))
  (type $v_v (func))
  (import "env" "log" (func $log (type $i_v)))
  (import "env" "never_called" (func $never (param i32 i32) (result i32)))
  (import "go" "runtime.wasmExit" (func $go_exit (type $i_v)))
  (import "go" "runtime.nanotime1" (func $go_nano (result i64)))
  (import "go" "debug" (global $go_debug i32))
  (memory $mem (export "memory") 1)
  (table $tab 4 funcref)
  (global $count (mut i32) (i32.const 0))
  (global $unused_g i64 (i64.const 99))
  (export "run" (func $run))
  (export "helper" (func $helper))
  (export "size_stub" (func $size_stub))
  (export "init_stub" (func $init_stub))
  (export "count" (global $count))
  (export "pass_user" (func $pass_user))
  (elem (i32.const 0) $engine $helper)
  (data (i32.const 1024) "static")
  (data $pass "passive bytes")
  (func $engine (type $ii_v) (param $idx i32) (param $arg i32)
    (i32.store (i32.add (i32.const 2048) (i32.mul (global.get $count) (i32.const 8))) (local.get $idx))
    (i32.store (i32.add (i32.const 2052) (i32.mul (global.get $count) (i32.const 8))) (local.get $arg))
    (global.set $count (i32.add (global.get $count) (i32.const 1))))
  (func $helper (type $v_i) (i32.const 5))
  (func $size_stub (type $v_i) (i32.const 0))
  (func $init_stub (type $i_i) (local.get 0))
  (func $run (type $i_i) (call $log (local.get 0)) (i32.add (call $helper) (local.get 0)))
  (func $go_user (export "go_user") (result i64) (call $go_exit (global.get $go_debug)) (call $go_nano))
  (func $capture (type $i_v) (global.set $count (local.get 0)))
  (func $dead (param f64) (result f64) (drop (global.get $unused_g)) (local.get 0))
  (func $pass_user (param i32) (memory.init $pass (local.get 0) (i32.const 0) (i32.const 4)))
  (func $two (param i32 i64 f32 f64) (result i64) (local.get 1))
)"""

HOST = {"env": {"log": lambda x: None, "never_called": lambda a, b: 0},
        "go": {"runtime.wasmExit": lambda x: None, "runtime.nanotime1": lambda: 7}}


@pytest.fixture(scope="module")
def base(wat) -> bytes:
    m = parse(wat(SURGERY))
    passes.add_producer(m, "language", "WAT")
    m.add_custom(".debug_info", b"\x01\x02\x03")
    m.add_custom("icp:public candid:service", b"service : {}")
    data = m.encode()
    validate_bytes(data)
    return data


def run_module(data: bytes):
    """(store, exports) with the env/go host functions and the go.debug global provided."""
    return instantiate(data, {"env": HOST["env"], "go": {**HOST["go"], "debug": 3}})


def names_of(body) -> list[str]:
    return [i.name for i in body.instrs]


# ----------------------------------------------------------------------------------- data

def test_passive_data_generated_accessors(base):
    m = parse(base)
    payload = bytes(range(256)) * 40 + b"tail"
    res = passes.add_passive_data(m, "js", payload)
    out = m.encode()
    validate_bytes(out)
    assert res.exports == ["js_size", "js_init"] and res.mode == "passive" and res.address is None
    after = parse(out)
    assert after.datacount == len(after.datas) == 3
    assert after.datas[2].mode == "passive" and after.datas[2].init == payload
    # the guard global is the only other change (the second call traps through it)
    assert_only_changed(base, out, {"func", "export", "code", "data", "datacount", "global"})
    assert len(after.globals) == len(parse(base).globals) + 1 and after.globals[-1].type.mutable
    store, ex = run_module(out)
    assert ex["js_size"](store) == len(payload)
    assert ex["js_init"](store, 4096) == 4096
    assert bytes(ex["memory"].read(store, 4096, 4096 + len(payload))) == payload
    before = bytes(ex["memory"].read(store, 0, 64))
    # data.drop: the segment is gone after the first copy; the guard traps through unreachable,
    # not a bare out-of-bounds memory.init
    with pytest.raises(wasmtime.Trap, match="unreachable"):
        ex["js_init"](store, 0)
    assert bytes(ex["memory"].read(store, 0, 64)) == before


def test_passive_data_keep_data_callable_again(base):
    """Issue 15: keep_data: no data.drop and no guard; every call copies the data again."""
    m = parse(base)
    payload = b"keep me " * 100
    res = passes.add_passive_data(m, "js", payload, keep_data=True)
    out = m.encode()
    validate_bytes(out)
    assert_only_changed(base, out, {"func", "export", "code", "data", "datacount"})
    after = parse(out)
    init_body = after.code[after.export("js_init").index - after.num_imported(ExternKind.FUNC)]
    assert names_of(init_body) == ["local.get", "i32.const", "i32.const", "memory.init", "local.get", "end"]
    assert not any("second call traps" in msg for msg in res.messages)
    store, ex = run_module(out)
    for dest in (4096, 8192, 4096):
        assert ex["js_init"](store, dest) == dest
        assert bytes(ex["memory"].read(store, dest, dest + len(payload))) == payload


def test_passive_data_replaces_existing_bodies_exactly(base):
    m = parse(base)
    res = passes.add_passive_data(m, "js", b"0123456789", size_func="size_stub", init_func="init_stub")
    out = m.encode()
    validate_bytes(out)
    assert res.exports == [] and set(res.functions) == {"size", "init"}
    # only the bodies, the data and the guard global changed: no new functions, types or exports
    assert_only_changed(base, out, {"code", "data", "datacount", "global"})
    after = parse(out)
    nimp = after.num_imported(ExternKind.FUNC)
    guard = after.num_imported(ExternKind.GLOBAL) + len(after.globals) - 1
    size_body = after.code[after.export("size_stub").index - nimp]
    init_body = after.code[after.export("init_stub").index - nimp]
    assert names_of(size_body) == ["i32.const", "end"] and size_body.instrs[0].args == (10,)
    assert names_of(init_body) == ["global.get", "if", "unreachable", "end", "i32.const", "global.set",
                                   "local.get", "i32.const", "i32.const", "memory.init", "data.drop",
                                   "local.get", "end"]
    assert init_body.instrs[0].args == (guard,) and init_body.instrs[5].args == (guard,)
    assert init_body.instrs[9].args == (2, 0) and init_body.instrs[10].args == (2,)
    store, ex = run_module(out)
    assert ex["size_stub"](store) == 10
    assert ex["init_stub"](store, 300) == 300
    assert bytes(ex["memory"].read(store, 300, 310)) == b"0123456789"
    with pytest.raises(wasmtime.Trap, match="unreachable"):
        ex["init_stub"](store, 300)
    # keep_data: exactly the bodies and the data, no global
    m = parse(base)
    passes.add_passive_data(m, "js", b"0123456789", size_func="size_stub", init_func="init_stub", keep_data=True)
    out = m.encode()
    assert_only_changed(base, out, {"code", "data", "datacount"})
    after = parse(out)
    init_body = after.code[after.export("init_stub").index - nimp]
    assert names_of(init_body) == ["local.get", "i32.const", "i32.const", "memory.init", "local.get", "end"]
    store, ex = run_module(out)
    assert ex["init_stub"](store, 300) == 300 and ex["init_stub"](store, 400) == 400
    assert bytes(ex["memory"].read(store, 400, 410)) == b"0123456789"


def test_passive_data_functions_found_by_name_section(base):
    m = parse(base)
    passes.add_passive_data(m, "blob", b"xyz", size_func="helper", init_func="run")  # export names
    m2 = parse(base)
    # $capture is not exported: only the name section knows it; its type [i32] -> [] is a valid init type
    res = passes.add_passive_data(m2, "blob", b"xyz", init_func="capture", accessors=False)
    out = m2.encode()
    validate_bytes(out)
    assert res.functions["init"] == 10 and res.exports == []


@pytest.mark.parametrize("kwargs, message", [
    ({"size_func": "nope"}, "unknown size function 'nope'"),
    ({"init_func": "helper"}, "type mismatch: init function 'helper' (#5) has type [] -> [i32]"),
    ({"size_func": "run"}, "type mismatch: size function 'run' (#8) has type [i32] -> [i32]"),
    ({"size_func": "#3"}, "is imported ('go' 'runtime.nanotime1')"),
    ({"size_func": "count"}, "the export 'count' is a global, not a function"),
])
def test_passive_data_bad_requests(base, kwargs, message):
    m = parse(base)
    with pytest.raises(EditError) as exc:
        passes.add_passive_data(m, "js", b"abc", **kwargs)
    assert message in str(exc.value)
    assert m.encode() == base          # nothing half-done


def test_passive_data_accessor_name_clash(base):
    m = parse(base)
    passes.add_entry_point(m, "js_init", "helper", [])
    with pytest.raises(EditError, match="export name clash: the module already exports 'js_init'"):
        passes.add_passive_data(m, "js", b"abc")


def test_passive_data_needs_a_memory(wat):
    m = parse(wat("(module (func (export \"f\")))"))
    with pytest.raises(EditError, match="no memory 0"):
        passes.add_passive_data(m, "js", b"abc")


def test_datacount_added_when_absent(wat):
    data = wat('(module (memory (export "memory") 1) (data (i32.const 0) "a") (func (export "f")))')
    assert parse(data).datacount is None
    m = parse(data)
    passes.add_passive_data(m, "js", b"hello")
    out = m.encode()
    validate_bytes(out)
    assert parse(out).datacount == 2


def test_active_data_refused_without_layout_symbols(base):
    with pytest.raises(EditError, match="cannot find __data_end"):
        passes.add_active_data(parse(base), "js", b"abc")


LAYOUT = r"""(module
  (memory (export "memory") 2 %s)
  (global $sp (mut i32) (i32.const 65536))
  (global $data_end (export "__data_end") i32 (i32.const 65552))
  (global $heap_base (export "__heap_base") i32 (i32.const 65552))
  (global $brk (mut i32) (i32.const 0))
  (data (i32.const 65536) "0123456789abcdef")
  (func (export "alloc") (param $n i32) (result i32) (local $pages i32) (local $old i32)
    (local.set $pages (i32.shr_u (i32.add (local.get $n) (i32.const 65535)) (i32.const 16)))
    (local.set $old (memory.grow (local.get $pages)))
    (i32.shl (local.get $old) (i32.const 16)))
  %s)"""


def test_active_data_layout_rule_and_accessors(wat):
    data = wat(LAYOUT % ("", ""))
    m = parse(data)
    payload = b"A" * 70000
    res = passes.add_active_data(m, "js", payload)
    out = m.encode()
    validate_bytes(out)
    assert res.address == 65552 and res.size == 70000
    assert "stack lies below the data" in res.rule and "memory.grow" in res.rule
    after = parse(out)
    assert after.memories[0].limits.min == 3            # (65552 + 70000) / 65536 rounded up
    assert after.globals[1].init.int_value == 65552 + 70000
    assert after.globals[2].init.int_value == (65552 + 70000 + 15) & ~15
    assert_only_changed(data, out, {"type", "func", "memory", "global", "export", "code", "data"})
    store, ex = instantiate(out)
    assert ex["js_addr"](store) == 65552 and ex["js_size"](store) == 70000
    assert bytes(ex["memory"].read(store, 65552, 65552 + 70000)) == payload
    assert ex["js_init"](store, 10) == 10 and bytes(ex["memory"].read(store, 10, 20)) == b"A" * 10
    p = ex["alloc"](store, 100)
    assert p >= 65552 + 70000


@pytest.mark.parametrize("extra, message", [
    ("(func (export \"bad\") (result i32) (i32.const 65552))", "uses __heap_base (0x10010)"),
    ("(func (export \"bad\") (result i32) (global.get $heap_base))", "uses __heap_base"),
    ("(data (i32.const 65540) \"\\10\\00\\01\\00\")", "data segment 1 stores the address __heap_base"),
])
def test_active_data_refused_when_heap_starts_at_heap_base(wat, extra, message):
    m = parse(wat(LAYOUT % ("", extra)))
    with pytest.raises(EditError) as exc:
        passes.add_active_data(m, "js", b"x")
    assert "active placement refused" in str(exc.value) and message in str(exc.value)


def test_active_data_refused_when_memory_max_too_small(wat):
    m = parse(wat(LAYOUT % ("2", "")))
    with pytest.raises(EditError, match="needs 3 pages of memory 0, but its maximum is 2"):
        passes.add_active_data(m, "js", b"x" * 70000)


# ----------------------------------------------------------------------------------- entry points

def test_entry_points_call_engine_with_constants(base):
    m = parse(base)
    entries = [passes.EntryPoint(f"canister_{'query' if i < 5 else 'update'} m{i}", "engine", (i, i * 3))
               for i in range(10)]
    idxs = passes.add_entry_points(m, entries)
    out = m.encode()
    validate_bytes(out)
    assert len(set(idxs)) == 10
    assert_only_changed(base, out, {"func", "export", "code"})   # type [] -> [] exists already
    store, ex = run_module(out)
    for i in reversed(range(10)):
        ex[f"canister_{'query' if i < 5 else 'update'} m{i}"](store)
    log = read_u32s(ex["memory"], store, 2048, 20)
    assert log == tuple(v for i in reversed(range(10)) for v in (i, i * 3))


def test_entry_point_passthrough_drop_and_reexport(base):
    m = parse(base)
    passes.add_entry_point(m, "run7", "run", ["..."])
    passes.add_entry_point(m, "two", "two", [-1, "..."])
    passes.add_entry_point(m, "helper dropped", "helper", [], drop_results=True)
    passes.reexport(m, "helper again", "helper")
    out = m.encode()
    validate_bytes(out)
    store, ex = run_module(out)
    assert ex["run7"](store, 7) == 12
    assert ex["two"](store, 2**40, 1.5, 2.5) == 2**40
    assert ex["helper dropped"](store) is None
    assert ex["helper again"](store) == 5
    after = parse(out)
    assert after.export("helper again").index == after.export("helper").index


@pytest.mark.parametrize("target, args, message", [
    ("missing", [0, 1], "unknown function 'missing' (for export 'x')"),
    ("engine", [0], "type mismatch: 'engine' (#4) takes 2 argument(s) (i32, i32), got 1"),
    ("engine", [0, 1, 2], "takes 2 argument(s)"),
    ("engine", [0, 1.5], "argument 1 of 'engine' (#4) is i32, got 1.5"),
    ("engine", [0, 2**32], "does not fit argument 1"),
    ("engine", ["...", 1], "'...' may only be the last argument"),
    ("#99", [], "unknown function #99"),
])
def test_entry_point_bad_requests(base, target, args, message):
    m = parse(base)
    with pytest.raises(EditError) as exc:
        passes.add_entry_point(m, "x", target, args)
    assert message in str(exc.value)
    assert m.encode() == base


def test_entry_point_name_clash_checked_before_anything_is_added(base):
    m = parse(base)
    with pytest.raises(EditError, match="export name clash: the module already exports 'run'"):
        passes.add_entry_points(m, [passes.EntryPoint("new one", "helper"), passes.EntryPoint("run", "helper")])
    with pytest.raises(EditError, match="already exports 'dup'"):
        passes.add_entry_points(m, [passes.EntryPoint("dup", "helper"), passes.EntryPoint("dup", "helper")])
    assert m.encode() == base


def test_parse_entry_spec():
    e = passes.parse_entry_spec("canister_query greet=execute_method_js(0,1)")
    assert (e.name, e.target, e.args, e.reexport) == ("canister_query greet", "execute_method_js", (0, 1), False)
    e = passes.parse_entry_spec("a b=f(0x10, -2, 1.5, ...)")
    assert e.args == (16, -2, 1.5, "...")
    assert passes.parse_entry_spec("alias=f").reexport
    e = passes.parse_entry_spec("x=foo(int)")            # a demangled C++ name, not a call
    assert e.reexport and e.target == "foo(int)"
    with pytest.raises(EditError):
        passes.parse_entry_spec("no equals sign")


# ----------------------------------------------------------------------------------- bodies

def test_replace_body_const_call_trap(base):
    m = parse(base)
    passes.replace_body(m, "helper", const=42)
    passes.replace_body(m, "size_stub", call="helper")
    passes.replace_body(m, "two", const=[-5])
    passes.replace_body(m, "init_stub", trap=True)
    out = m.encode()
    validate_bytes(out)
    assert_only_changed(base, out, {"code"})
    store, ex = run_module(out)
    assert ex["helper"](store) == 42
    assert ex["size_stub"](store) == 42
    assert ex["run"](store, 1) == 43
    with pytest.raises(wasmtime.Trap):
        ex["init_stub"](store, 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"func": "helper", "const": 1.5}, "result 0 of 'helper' (#5) is i32, got 1.5"),
    ({"func": "helper", "const": [1, 2]}, "returns 1 value(s) (i32), got 2 constant(s)"),
    ({"func": "helper", "call": "go_user"}, "'helper' (#5) returns (i32) but 'go_user' (#9) returns (i64)"),
    ({"func": "capture", "call": "engine", "args": ["..."]},
     "'capture' (#10) has parameters (i32) but 'engine' (#4) would take (i32, i32)"),
    ({"func": "nothing_here", "const": 1}, "unknown function 'nothing_here'"),
    ({"func": "#0", "trap": True}, "is imported ('env' 'log')"),
])
def test_replace_body_bad_requests(base, kwargs, message):
    m = parse(base)
    func = kwargs.pop("func")
    with pytest.raises(EditError) as exc:
        passes.replace_body(m, func, **kwargs)
    assert message in str(exc.value)


# ----------------------------------------------------------------------------------- imports

def test_rename_import(base):
    m = parse(base)
    passes.rename_import(m, "env", "log", new_module="host", new_name="print")
    out = m.encode()
    assert_only_changed(base, out, {"import"})
    assert ("host", "print") in [(i.module, i.name) for i in parse(out).imports]
    with pytest.raises(EditError, match="import name clash: 'env' 'never_called' is already imported"):
        passes.rename_import(parse(base), "env", "log", new_name="never_called")
    with pytest.raises(EditError, match="unknown import 'env' 'nope'"):
        passes.rename_import(parse(base), "env", "nope", new_name="x")


def test_resolve_import_to_local_function(base):
    m = passes.resolve_import(parse(base), "env", "log", "capture")
    out = m.encode()
    validate_bytes(out)
    assert ("env", "log") not in [(i.module, i.name) for i in m.imports]
    # run(9) now calls $capture(9), which stores 9 in the exported global
    store, ex = run_module(out)
    assert ex["run"](store, 9) == 14
    assert ex["count"].value(store) == 9
    # the name section followed the renumbering: $capture keeps its name at its new index (one down)
    assert [k for k, v in m.names.funcs.items() if v == "capture"] == [9]
    assert "log" not in m.names.funcs.values()
    # untouched: memory, table, global, data and custom sections other than name
    assert_only_changed(base, out, {"import", "export", "elem", "code", "custom:name"})


def test_resolve_import_bad_requests(base):
    with pytest.raises(EditError, match="type mismatch: import 'env' 'log' has type \\[i32\\] -> \\[\\], but "
                                        "'helper' \\(#5\\) has type \\[\\] -> \\[i32\\]"):
        passes.resolve_import(parse(base), "env", "log", "helper")
    with pytest.raises(EditError, match="unknown function 'ghost' \\(target of import 'env' 'log'\\)"):
        passes.resolve_import(parse(base), "env", "log", "ghost")
    with pytest.raises(EditError, match="'go' 'debug' is a global: only function imports"):
        passes.resolve_import(parse(base), "go", "debug", "helper")


def test_stub_whole_import_module(base):
    m = passes.stub_imports(parse(base), "go")
    out = m.encode()
    validate_bytes(out)
    assert {i.module for i in m.imports} == {"env"}
    # the stubs are the first defined items: defined functions and globals keep their indices, so
    # only the import/func/global/code sections (and the names of the moved imports) change
    assert_only_changed(base, out, {"import", "func", "global", "code", "custom:name"})
    store, ex = run_module(out)
    with pytest.raises(wasmtime.Trap):
        ex["go_user"](store)                 # the stubbed runtime.wasmExit traps
    assert ex["run"](store, 1) == 6          # everything else still works
    m2 = passes.stub_imports(parse(base), "go", mode="default")
    store, ex = run_module(m2.encode())
    assert ex["go_user"](store) == 0         # stubs return zeros; go.debug became a global holding 0
    m3 = passes.stub_imports(parse(base), "env", "never_*", mode="default")
    assert [i.name for i in m3.imports if i.module == "env"] == ["log"]
    with pytest.raises(EditError, match="no import matches module 'gojs'"):
        passes.stub_imports(parse(base), "gojs")


def test_list_uncalled_imports(base):
    found = passes.list_uncalled_imports(parse(base))
    assert [(i.module, i.name) for i in found] == [("env", "never_called")]


# ----------------------------------------------------------------------------------- exports

def test_export_rename_remove_keep(base):
    m = parse(base)
    passes.rename_export(m, "run", "run it")
    gone = passes.remove_exports(m, ["*_stub"])
    out = m.encode()
    assert gone == ["size_stub", "init_stub"]
    assert_only_changed(base, out, {"export"})
    names = [e.name for e in parse(out).exports]
    assert names == ["memory", "run it", "helper", "count", "pass_user", "go_user"]
    m2 = parse(base)
    removed = passes.keep_exports(m2, ["memory", "r?n"])
    assert [e.name for e in m2.exports] == ["memory", "run"] and len(removed) == 6
    with pytest.raises(EditError, match="unknown export 'nope'"):
        passes.rename_export(parse(base), "nope", "x")
    with pytest.raises(EditError, match="export name clash: the module already exports 'helper'"):
        passes.rename_export(parse(base), "run", "helper")
    with pytest.raises(EditError, match="no export matches 'zzz\\*'"):
        passes.remove_exports(parse(base), ["run", "zzz*"])


# ----------------------------------------------------------------------------------- strip / metadata

@pytest.mark.parametrize("kwargs, gone", [
    ({"debug": True}, {"name", ".debug_info"}),
    ({"producers": True}, {"producers"}),
    ({"names": ["icp:public candid:service"]}, {"icp:public candid:service"}),
    ({"regex": [r"icp:.*"]}, {"icp:public candid:service"}),
    ({"all": True}, {"name", ".debug_info", "producers", "icp:public candid:service"}),
])
def test_strip(base, kwargs, gone):
    m = parse(base)
    removed = passes.strip_custom(m, **kwargs)
    out = m.encode()
    assert set(removed) == gone
    assert {c.name for c in parse(out).customs} == {c.name for c in parse(base).customs} - gone
    # the kept custom sections and every known section are byte-identical
    assert_only_changed(base, out, {f"custom:{n}" for n in gone})
    validate_bytes(out)


def test_metadata_add_and_show(base):
    m = parse(base)
    passes.add_producer(m, "processed-by", "wasmweld", "0.1.0")
    passes.add_custom(m, "icp:public candid:args", b"(text)")
    out = m.encode()
    assert_only_changed(base, out, {"custom:producers", "custom:icp:public candid:args"})
    info = passes.show_metadata(parse(out))
    assert info["producers"] == {"language": {"WAT": ""}, "processed-by": {"wasmweld": "0.1.0"}}
    entry = [s for s in info["custom_sections"] if s["name"] == "icp:public candid:args"][0]
    assert entry["size"] == 6 and entry["text"] == "(text)"
    assert "processed-by: wasmweld 0.1.0" in passes.format_metadata(info)
    with pytest.raises(EditError, match="custom section name clash.*'icp:public candid:service'"):
        passes.add_custom(parse(base), "icp:public candid:service", b"x")
    passes.add_custom(m, "icp:public candid:service", b"service : { greet : () -> () }", replace=True)
    assert parse(m.encode()).custom("icp:public candid:service").data.startswith(b"service : { greet")
    with pytest.raises(EditError, match="unknown producers field 'tools'"):
        passes.add_producer(parse(base), "tools", "x")
    with pytest.raises(EditError, match="does not decode"):
        passes.add_custom(parse(b"\0asm\x01\0\0\0"), "producers", b"\xff\xff")


# ----------------------------------------------------------------------------------- plans and the registry

PLAN = r"""
gc = true

[[data]]
name = "js"
text = "console.log('hi')"
size_func = "size_stub"
init_func = "init_stub"

[[body]]
func = "helper"
const = 9

[[import]]
module = "go"
stub = "trap"

[[import]]
module = "env"
name = "log"
resolve = "capture"

[[export]]
name = "canister_query m0"
call = "engine"
args = [0, 1]

[[export]]
rename = "run"
to = "run2"

[[export]]
remove = ["pass_*"]

[[custom]]
name = "icp:public candid:service"
text = "service : {}"
replace = true

[[producers]]
field = "processed-by"
name = "plan"
version = "1"

[[strip]]
debug = true
"""


def test_plan_applies_in_documented_order(base):
    ops = passes.parse_plan(PLAN)
    assert [op.name for op in ops] == ["add-data", "replace-body", "stub-imports", "resolve-import", "add-export",
                                       "rename-export", "remove-exports", "add-custom", "add-producer", "strip",
                                       "gc"]
    m, ctx = passes.apply_ops(parse(base), ops)
    out = m.encode()
    validate_bytes(out)
    assert any("gc removed" in line for line in ctx.messages)
    after = parse(out)
    assert {c.name for c in after.customs} == {"producers", "icp:public candid:service"}
    assert after.imports == []            # go stubbed, env.log resolved, env.never_called removed by gc
    store, ex = instantiate(out)
    assert ex["size_stub"](store) == len("console.log('hi')")
    assert ex["helper"](store) == 9
    ex["canister_query m0"](store)
    assert read_u32s(ex["memory"], store, 2048, 2) == (0, 1)


@pytest.mark.parametrize("text, message", [
    ("[[exports]]\nname='x'", "unknown plan entry 'exports'"),
    ("[[export]]\nname='x'\ncall='f'\nargz=[1]", "[[export]] #1: unknown key(s) 'argz'"),
    ("[[export]]\ncall='f'", "[[export]] #1: missing key 'name'"),
    ("[[data]]\nname='js'", "give exactly one of 'file' or 'text'"),
    ("[[data]]\nname='js'\nfile='does-not-exist.js'", "data file"),
    ("[[data]]\nname=3\ntext='x'", "'name' must be str, not int"),
    ("[[import]]\nmodule='go'", "give exactly one action"),
    ("[[strip]]\nall=false", "says nothing to strip"),
    ("gc = 'yes'", "'gc' must be true/false or a [gc] table"),
    ("[[export]\nname='x'", "invalid TOML"),
])
def test_plan_errors_name_the_entry(text, message):
    with pytest.raises(EditError) as exc:
        passes.parse_plan(text, origin="p.toml")
    assert message in str(exc.value) and "p.toml" in str(exc.value)


def test_plan_errors_from_passes_name_the_entry(base):
    ops = passes.parse_plan("[[export]]\nname = 'x'\ncall = 'engine'\nargs = [1]\n", origin="p.toml")
    with pytest.raises(EditError, match=r"p.toml: \[\[export\]\] #1: type mismatch"):
        passes.apply_ops(parse(base), ops)


TOML_SAMPLE = r"""
top = true
[[export]]
name = "quoted \"name\" with \\ and \u00e9"
call = 'literal\path'
args = [0x10, -2, 1_000, 1.5e3, "...", true, false]
[[export]]
name = "second"
[gc2]
"key with spaces" = [
  1,
  2,  # comment
]
"""

TOML_EXPECTED = {
    "top": True,
    "export": [
        {"name": "quoted \"name\" with \\ and \u00e9", "call": "literal\\path",
         "args": [16, -2, 1000, 1500.0, "...", True, False]},
        {"name": "second"},
    ],
    "gc2": {"key with spaces": [1, 2]},
}


def test_toml_loader():
    # one loader (tomllib, or tomli on 3.10) for plans and manifests; the caller picks error class and wording
    assert _toml.loads(TOML_SAMPLE, "t", EditError) == TOML_EXPECTED
    assert _toml.loads("a = 1\nb = {x = 1}\n", "t", EditError) == {"a": 1, "b": {"x": 1}}
    with pytest.raises(EditError, match="^t: invalid TOML: .*line 2"):
        _toml.loads("a = 1\nb = {x = \n", "t", EditError)
    with pytest.raises(ManifestError, match="^w.toml: not valid TOML: "):
        _toml.loads("[[module]\n", "w.toml", ManifestError, "not valid TOML")


def test_registry_describes_every_pass():
    described = dict(passes.describe())
    assert set(described) == set(passes.PASSES)
    assert all(desc and "\n" not in desc for desc in described.values())
    with pytest.raises(EditError, match="unknown pass 'frobnicate'"):
        passes.apply_ops(parse(b"\0asm\x01\0\0\0"), [passes.Op("frobnicate", {})])


def test_strip_all_keeps_behaviour_sections_everything_removes_them():
    """strip's default (all) keeps dylink.0, target_features and component-type*; everything removes them;
    keep protects a name."""
    from wasmweld.module import CustomSection
    from wasmweld.passes.strip import strip_custom
    names = ["dylink.0", "producers", "target_features", "component-type:x", "name", "foo"]

    def fresh():
        m = parse(b"\0asm\x01\0\0\0")
        for n in names:
            m.add_custom(CustomSection(n, b"\x00"))
        return parse(m.encode())

    m = fresh()
    gone = strip_custom(m, all=True)
    assert gone == ["producers", "name", "foo"]
    assert [cs.name for cs in parse(m.encode()).customs] == ["dylink.0", "target_features", "component-type:x"]
    m = fresh()
    assert strip_custom(m, everything=True, keep=["foo"]) == [n for n in names if n != "foo"]
    assert [cs.name for cs in parse(m.encode()).customs] == ["foo"]
    m = fresh()
    assert strip_custom(m, names=["dylink.0"]) == ["dylink.0"]    # named: removed


def test_plan_files_stay_in_the_plan_folder(tmp_path):
    """Issue 17.18: a plan's files are confined to its folder (an absolute path embedded /etc/hostname);
    allow_outside lifts that; a non-regular file is refused."""
    from wasmweld.passes.plan import load_plan
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "in.txt").write_bytes(b"inside")
    (tmp_path / "secret.txt").write_bytes(b"outside")
    (tmp_path / "plans" / "link.txt").symlink_to(tmp_path / "secret.txt")
    plan = tmp_path / "plans" / "p.toml"

    def load(file, **kw):
        plan.write_text(f'[[custom]]\nname = "x"\nfile = "{file}"\n')
        return load_plan(plan, **kw)

    assert load("in.txt")[0].params["data"] == b"inside"
    for bad, why in ((str(tmp_path / "secret.txt"), "absolute path"), ("../secret.txt", "outside the plan"),
                     ("link.txt", "outside the plan")):
        with pytest.raises(EditError, match=why):
            load(bad)
    assert load("../secret.txt", allow_outside=True)[0].params["data"] == b"outside"
    assert load(str(tmp_path / "secret.txt"), allow_outside=True)[0].params["data"] == b"outside"
    with pytest.raises(EditError, match="not a regular file"):
        load("/dev/zero", allow_outside=True)


def test_func_types_one_helper_finds_appends_and_notices_changes():
    """Issue 9: FuncTypes is the one way to add a function type; it reuses a plain type, appends a missing
    one once, sees groups others appended, and does not trust a cached index after an in-place change."""
    from wasmweld.passes.common import FuncTypes, ensure_func_type
    from wasmweld.types import I32, I64, FuncType, RecGroup, SubType
    m = parse(wasmtime.wat2wasm('(module (type (func (param i32))) (rec (type (func)) (type (func))))'))
    ft_i32, ft_none, ft_i64 = FuncType((I32,), ()), FuncType((), ()), FuncType((I64,), ())
    assert ensure_func_type(m, ft_i32) == 0
    assert ensure_func_type(m, ft_none) == 3 and len(m.types) == 3     # a rec group of 2 is not plain: appended
    assert ensure_func_type(m, ft_none) == 3 and len(m.types) == 3     # once
    m.types.append(RecGroup((SubType(ft_i64),)))                        # appended by someone else: seen
    assert ensure_func_type(m, ft_i64) == 4 and len(m.types) == 4
    m.types[0] = RecGroup((SubType(ft_i64),))                           # changed in place: looked up again
    assert ensure_func_type(m, ft_i32) == 5 and m.type_list()[5].comp == ft_i32
    groups = []
    types = FuncTypes(groups)
    assert [types.index(ft_i32), types.index(ft_i64), types.index(ft_i32)] == [0, 1, 0] and len(groups) == 2
