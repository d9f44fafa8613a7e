"""wasmweld fuse --emit component: named types an exported interface shares with imports.

The most common shape of real WIT (wasi:http, ...): an interface ``types`` defines records,
variants, enums and flags that an imported and an exported interface both ``use``::

    interface types { record point {..} variant shape {..} enum color {..} flags perms {..} ... }
    interface api { use types.{shape, point, small, perms, color}; echo-point: func(x: point) -> point; ... }
    interface fwd { use types.{shape, point, small, perms, color}; ... }
    world provider { export api; }   world consumer { import api; export fwd; }

The composition imports ``test:fuse/types`` (a types-only instance) and exports ``test:fuse/fwd``;
the fused component must name fwd's types by alias of that import, as the composition does (same
``wasm-tools component wit``, valid), and behave as the composition under wasmtime. The ``use``
lists ``shape`` before ``point`` (which it uses): the order that made the output invalid.
When ``fwd`` uses the types of ``api`` that the composition satisfies internally (no import names
them; ``wasm-tools compose`` refuses it), the fused component exports them in ``fwd``. Whatever
the cause, ``fuse`` never writes an invalid component: its own check (``check_output``) agrees
with ``wasm-tools validate`` on hand-written components.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("wasmtime")
import wasmtime.component as C  # noqa: E402

import fuse_fixtures as F  # noqa: E402
from component_build import WASM_TOOLS  # noqa: E402
import wasmweld  # noqa: E402
from test_fuse import FIXED, Runner, WorldRunner, _key, same_for_generated  # noqa: E402
from wasmweld.fuse import FuseError, fuse  # noqa: E402
from wasmweld.fuse import component_out  # noqa: E402

#: the ``use`` order of the fixture: a type before one it uses
USE = "shape, point, small, perms, color"
#: fwd's own types, defined on the used ones (and the second on the first)
OWN = "  record extra { p: point, n: u32, s: list<shape> }\n  variant more { a(extra), b(color) }\n"


def _funcs() -> str:
    out = "".join(f"  {n}: func(x: {t}) -> {t};\n" for n, t in F.FUNCS.items())
    return out + "".join(f"  {n}: func() -> {t};\n" for n, (t, _) in F.BAD.items())


def types_wit(shared: bool) -> str:
    """``shared``: api and fwd use the interface ``types``; else fwd uses api's own types."""
    if shared:
        head = f"interface types {{\n{F.TYPES_WIT}\n}}\n\ninterface api {{\n  use types.{{{USE}}};\n{_funcs()}}}\n"
        src = "types"
    else:
        head = f"interface api {{\n{F.TYPES_WIT}\n{_funcs()}}}\n"
        src = "api"
    return (f"package test:fuse;\n\n{head}\ninterface fwd {{\n  use {src}.{{{USE}}};\n{OWN}{_funcs()}}}\n\n"
            "world provider { export api; }\nworld consumer { import api; export fwd; }\n")


def inputs(shared: bool) -> tuple[bytes, bytes]:
    wit = types_wit(shared)
    return (F.build_wit(wit, "provider", F.provider_wat()),
            F.build_wit(wit, "consumer", F.forwarder_wat("test:fuse/api", "test:fuse/fwd")))


@pytest.fixture(scope="module")
def shared():
    prov, cons = inputs(True)
    comp = F.compose(cons, prov)
    return comp, fuse(comp, emit="component").encode()


@pytest.fixture(scope="module")
def internal():
    prov, cons = inputs(False)
    return fuse([prov, cons], emit="component").encode()


def _wit(data: bytes, tmp_path, name: str) -> str:
    (tmp_path / name).write_bytes(data)
    return F.wasm_tools("component", "wit", str(tmp_path / name)).decode()


def test_imported_types_are_aliased_and_the_world_is_the_composition_s(shared, tmp_path):
    comp, fused = shared
    F.wasm_tools("validate", "-", input=fused)
    c = wasmweld.component.parse_component(fused)
    assert len(c.modules) == 1
    wit = _wit(fused, tmp_path, "f.wasm")
    assert wit == _wit(comp, tmp_path, "c.wasm")
    assert "import test:fuse/types;" in wit and f"use types.{{{USE}}};" in wit
    assert "record extra {" in wit and "a(extra)," in wit
    printed = F.wasm_tools("print", "-", input=fused).decode()
    assert 'alias export 0 "point" (type' in printed       # named by the import, not defined again
    assert "(enum" not in printed.split("(core module")[-1].split("(component")[0]


def test_shared_types_same_results_as_composition(shared):
    comp, fused = shared
    a, b = Runner(comp), Runner(fused)
    for name, values in FIXED.items():
        for v in values:
            ra, rb = a.call(name, v), b.call(name, v)
            assert _key(ra) == _key(v) or (name == "echo-f32" and ra == v), (name, v, ra)
            assert _key(rb) == _key(ra), (name, v, ra, rb)
    for bad in F.BAD:
        assert _key(Runner(comp).call(bad)) == _key(Runner(fused).call(bad)), bad


@pytest.mark.parametrize("name", ["echo-shapes", "echo-nested", "echo-perms", "echo-color"])
def test_shared_types_generated_values(shared, name):
    comp, fused = shared
    want = {"echo-color": 3, "echo-perms": 150}.get(name, 150)
    assert same_for_generated(comp, fused, name, 150) >= want


def test_types_of_an_internal_interface_are_exported_by_the_instance(shared, internal, tmp_path):
    F.wasm_tools("validate", "-", input=internal)
    wit = _wit(internal, tmp_path, "i.wasm")
    fwd = wit.split("interface fwd {")[1]
    assert "import" not in wit.split("package test:fuse")[0]
    for decl in ("record point {", "variant shape {", "enum color {", "flags perms {", "flags small {",
                 "record extra {", "variant more {"):
        assert decl in fwd, decl
    a, b = Runner(shared[0]), Runner(internal)      # the same code: the composition's results
    for name, values in FIXED.items():
        for v in values:
            assert _key(b.call(name, v)) == _key(a.call(name, v)), (name, v)


# -- the output check ----------------------------------------------------------------------------

_LIFT = """
  (core module $m (func (export "f") (param i32)))
  (core instance $i (instantiate $m))
"""
CASES = {
    # a function type using a record no import or export names
    "unnamed-func": (False, _LIFT + """
  (type $r (record (field "x" u32)))
  (type $ft (func (param "p" $r)))
  (func $f (type $ft) (canon lift (core func $i "f")))
  (export "f" (func $f))"""),
    "named-func": (True, _LIFT + """
  (type $r (record (field "x" u32)))
  (export $e "r" (type $r))
  (type $ft (func (param "p" $e)))
  (func $f (type $ft) (canon lift (core func $i "f")))
  (export "f" (func $f))"""),
    # an instance exporting a variant before the record it uses
    "late-type": (False, """
  (type $r (record (field "x" u32)))
  (type $v (variant (case "a" $r) (case "b")))
  (instance $x (export "v" (type $v)) (export "r" (type $r)))
  (export "i" (instance $x))"""),
    "types-first": (True, """
  (type $r (record (field "x" u32)))
  (type $v (variant (case "a" $r) (case "b")))
  (instance $x (export "r" (type $r)) (export "v" (type $v)))
  (export "i" (instance $x))"""),
    "imported": (True, """
  (type $it (instance (type (record (field "x" u32))) (export "r" (type (eq 0)))))
  (import "t" (instance $t (type $it)))
  (alias export $t "r" (type $r))
  (type $l (list $r))
  (instance $x (export "l" (type $l)))
  (export "i" (instance $x))"""),
    "redefined": (False, """
  (type $it (instance (type (record (field "x" u32))) (export "r" (type (eq 0)))))
  (import "t" (instance $t (type $it)))
  (type $r (record (field "x" u32)))
  (type $l (list $r))
  (instance $x (export "l" (type $l)))
  (export "i" (instance $x))"""),
    # a component's type exports are new types: one defined on the other's import, not on its export
    "nested-import": (False, """
  (type $r (record (field "x" u32)))
  (type $v (variant (case "a" $r)))
  (component $c
    (type $r0 (record (field "x" u32)))
    (import "import-type-r" (type $ir (eq $r0)))
    (type $v0 (variant (case "a" $ir)))
    (import "import-type-v" (type $iv (eq $v0)))
    (export "r" (type $ir))
    (export "v" (type $iv)))
  (instance $i (instantiate $c (with "import-type-r" (type $r)) (with "import-type-v" (type $v))))
  (export "i" (instance $i))"""),
    "nested-export": (True, """
  (type $r (record (field "x" u32)))
  (component $c
    (type $r0 (record (field "x" u32)))
    (import "import-type-r" (type $ir (eq $r0)))
    (export $er "r" (type $ir))
    (type $v0 (variant (case "a" $er)))
    (export "v" (type $v0)))
  (instance $i (instantiate $c (with "import-type-r" (type $r))))
  (export "i" (instance $i))"""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_check_agrees_with_wasm_tools(case):
    valid, body = CASES[case]
    data = F.wasm_tools("parse", "-", input=f"(component {body})".encode())
    p = subprocess.run([str(WASM_TOOLS), "validate", "-"], input=data, capture_output=True)
    assert (p.returncode == 0) == valid, p.stderr
    comp = wasmweld.component.parse_component(data)
    if valid:
        component_out.check_output(comp)
    else:
        with pytest.raises(FuseError, match="invalid component.*no import or earlier export names"):
            component_out.check_output(comp)


def _unsorted(exports):
    return list(exports.items())


def test_fuse_refuses_to_write_an_invalid_component(monkeypatch, tmp_path):
    """With the instance's type exports left in the interface's order (the bug this file is
    about), fuse raises a FuseError instead of returning the invalid component, and the CLI
    writes nothing."""
    prov, cons = inputs(False)
    monkeypatch.setattr(component_out, "_types_first", _unsorted)
    with pytest.raises(FuseError, match="internal error.*`test:fuse/fwd` `shape` uses a record"):
        fuse([prov, cons], emit="component")
    (tmp_path / "p.wasm").write_bytes(prov)
    (tmp_path / "c.wasm").write_bytes(cons)
    out = tmp_path / "o.wasm"
    code = ("import sys; from wasmweld.fuse import component_out as c; c._types_first = lambda e: list(e.items()); "
            "from wasmweld.cli.main import main; sys.exit(main(sys.argv[1:]))")
    p = subprocess.run([sys.executable, "-c", code, "fuse", str(tmp_path / "p.wasm"), str(tmp_path / "c.wasm"),
                        "--emit", "component", "-o", str(out)], capture_output=True, text=True, env=dict(os.environ))
    assert p.returncode == 1 and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, p.stderr
    assert "invalid component" in p.stderr and not out.exists()


# -- world-level exports using the shared types ------------------------------------------------------

WORLD_FUNCS = {"echo-point": "point", "echo-shapes": "list<shape>", "echo-color": "color"}


def world_consumer_wat() -> str:
    """World-level exports forwarding to the imported ``api`` (results spilled at 128)."""
    out = "(module\n"
    body = ""
    for name, wt in WORLD_FUNCS.items():
        fp = F.abi.flatten(F.NORM[wt])
        spill = len(fp) > 1
        lp = " ".join(fp + (["i32"] if spill else []))
        res = "" if spill else f"(result {' '.join(fp)})"
        out += f'  (import "test:fuse/api" "{name}" (func ${name} (param {lp}) {res}))\n'
        gets = " ".join(f"local.get {i}" for i in range(len(fp)))
        tail = " i32.const 128" if spill else ""
        body += (f'  (func (export "{name}") (param {" ".join(fp)}) (result {"i32" if spill else fp[0]})\n'
                 f"    {gets}{tail} call ${name}{tail})\n")
    return out + F.ALLOC + body + ")\n"


def test_world_level_exports_name_the_imported_types(shared, tmp_path):
    use = "point, shape, color"
    wit = types_wit(True).replace(
        "world consumer {", "world wcons {\n  import api;\n  use types.{" + use + "};\n"
        + "".join(f"  export {n}: func(x: {t}) -> {t};\n" for n, t in WORLD_FUNCS.items()) + "}\nworld consumer {")
    prov = F.build_wit(wit, "provider", F.provider_wat())
    cons = F.build_wit(wit, "wcons", world_consumer_wat())
    comp = F.compose(cons, prov)
    fused = fuse(comp, emit="component").encode()
    F.wasm_tools("validate", "-", input=fused)
    world = _wit(fused, tmp_path, "f.wasm")
    assert world == _wit(comp, tmp_path, "c.wasm") and f"use test:fuse/types.{{{use}}};" in world
    a, b = WorldRunner(comp), WorldRunner(fused)
    for name in WORLD_FUNCS:
        for v in FIXED[name]:
            ra, rb = a.call(name, v), b.call(name, v)
            assert _key(ra) == _key(v) and _key(rb) == _key(ra), (name, v, ra, rb)


# -- JS (componentize-js): the same shape, WASI imports remaining --------------------------------------

JS_WIT = """package test:x;
interface types {
  enum color { red, green, blue }
  flags perms { read, write, exec }
  record item { id: u64, name: string, tags: list<string>, score: f32, color: color, perms: perms }
  variant ev { none, click(tuple<s32, s32>), key(char), text(string), items(list<item>) }
}
interface shapes {
  use types.{color, perms, item, ev};
  mk: func(n: u32, name: string) -> list<item>;
  handle: func(e: ev) -> result<tuple<string, u32>, string>;
}
interface runner {
  use types.{item, ev, perms, color};
  run-mk: func(n: u32, name: string) -> list<item>;
  run-handle: func(e: ev) -> result<tuple<string, u32>, string>;
}
world prov { export shapes; }
world cons { import shapes; export runner; }
"""
JS_PROV = """
export const shapes = {
  mk(n, name) { const out = []; for (let i = 0; i < n; i++) out.push({id: BigInt(i) * 1000000007n, name: name + i,
    tags: Array.from({length: i % 4}, (_, j) => "t" + j), score: i / 2, color: ["red", "green", "blue"][i % 3],
    perms: {read: i % 2 == 0, write: i % 3 == 0, exec: false}}); return out; },
  handle(e) { if (e.tag === "none") throw "nothing"; if (e.tag === "click") return ["click", (e.val[0] + e.val[1]) >>> 0];
    if (e.tag === "key") return ["key:" + e.val, e.val.codePointAt(0)]; if (e.tag === "text") return [e.val.toUpperCase(), e.val.length];
    return ["items", e.val.reduce((s, x) => s + x.tags.length, 0)]; },
};
"""
JS_CONS = """
import { mk, handle } from 'test:x/shapes';
export const runner = { runMk(n, name) { return mk(n, name); }, runHandle(e) { return handle(e); } };
"""


def _item(**kw):
    r = C.Record()
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_js_components_sharing_a_types_interface(tmp_path):
    from component_build import build_js_component
    from test_fuse_c_js import cached_engine
    from test_fuse_wasi import WasiRunner

    cons, prov = (build_js_component(src, JS_WIT, w) for src, w in ((JS_CONS, "cons"), (JS_PROV, "prov")))
    comp = F.compose(cons, prov)
    data = fuse(comp).encode()                  # a component: WASI imports remain
    F.wasm_tools("validate", "-", input=data)
    assert _wit(data, tmp_path, "f.wasm") == _wit(comp, tmp_path, "c.wasm")
    engine = cached_engine()
    calls = [("run-mk", 0, "x"), ("run-mk", 7, "név"), ("run-handle", C.Variant("click", (3, 4))),
             ("run-handle", C.Variant("none")), ("run-handle", C.Variant("key", "ß")),
             ("run-handle", C.Variant("items", [_item(id=1, name="a", tags=["x", "y"], score=1.5, color="green",
                                                      perms={"read", "exec"})]))]
    a, b = (WasiRunner(x, tmp_path / f"{i}.txt", engine) for i, x in enumerate((comp, data)))
    idx = [r.inst.get_export_index(r.store, "test:x/runner") for r in (a, b)]
    results = []
    for name, *args in calls:
        for r, i in zip((a, b), idx):
            r.funcs[name] = r.inst.get_func(r.store, r.inst.get_export_index(r.store, name, i))
        ra, rb = a.call(name, *args), b.call(name, *args)
        assert _key(ra) == _key(rb), (name, args, ra, rb)
        results.append(_key(ra))
    assert results[3] == "nothing" and results[2] == ("click", 7) and len(results[1]) == 7
    assert results[1][4] == _key(_item(id=4 * 1000000007, name="név4", tags=[], score=2.0, color="green",
                                             perms={"read"}))


def test_types_of_an_exported_interface_used_by_another_export(tmp_path):
    """``world provider2 { export types; export api; }`` (api uses the exported types) and a
    composition that imports ``types`` and exports it too: the later export aliases the exported
    instance's types (as wit-component does), the world is the input's."""
    wit = types_wit(True) + ("world provider2 { export types; export api; }\n"
                             "world consumer2 { import api; export types; export fwd; }\n")
    prov = F.build_wit(wit, "provider2", F.provider_wat())
    cons = F.build_wit(wit, "consumer2", F.forwarder_wat("test:fuse/api", "test:fuse/fwd"))
    comp = F.compose(cons, F.build_wit(wit, "provider", F.provider_wat()))
    for src, iface in ((prov, "test:fuse/api"), (comp, "test:fuse/fwd")):
        fused = fuse(src, emit="component").encode()
        F.wasm_tools("validate", "-", input=fused)
        assert _wit(fused, tmp_path, "f.wasm") == _wit(src, tmp_path, "s.wasm")
        a, b = Runner(src, iface), Runner(fused, iface)
        for name in ("echo-point", "echo-shapes", "echo-nested", "echo-perms"):
            for v in FIXED[name]:
                assert _key(b.call(name, v)) == _key(a.call(name, v)) == _key(v), (iface, name, v)
