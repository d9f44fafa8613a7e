"""The component binary model: round trips, item codecs, malformed input, hostile input."""

from __future__ import annotations

import pytest
from component_build import COMPONENT_FIXTURES, build_dummy, wasm_tools
from helpers import SHARED_DIR, read_tsv

import wasmweld
from wasmweld.binary.leb import write_u
from wasmweld.component import Component, codec, parse_component
from wasmweld.component import types as T
from wasmweld.errors import DecodeError

CC_DIR = SHARED_DIR / "conformance-components"


def _rows(kind: str | None = None) -> list[dict[str, str]]:
    index = CC_DIR / "index.tsv"
    if not index.is_file():
        return []
    return [r for r in read_tsv(index) if r["layer"] == "component" and (kind is None or r["kind"] == kind)]


def _fresh_items(c: Component) -> None:
    """Every vector section of ``c`` (and nested components) re-encoded item by item equals the input."""
    stack = [c]
    while stack:
        cc = stack.pop()
        for i, sec in enumerate(cc.sections):
            if sec.id in codec.ITEM_WRITERS:
                items = cc.section_items(i)
                writer = codec.ITEM_WRITERS[sec.id]
                assert write_u(len(items)) + b"".join(writer(x) for x in items) == bytes(sec.payload), sec
        stack.extend(cc.components)


def test_conformance_index_present():
    assert len(_rows()) == 835


@pytest.mark.parametrize("kind", ["valid", "invalid"])
def test_conformance_round_trip(kind):
    rows = _rows(kind)
    assert rows
    for row in rows:
        data = (CC_DIR / row["path"]).read_bytes()
        c = wasmweld.parse(data)
        assert isinstance(c, Component), row["path"]
        assert c.encode() == data, row["path"]
        c.decode_all(modules=False)      # every component-level item and nested component decodes
        assert c.encode() == data, row["path"]
        _fresh_items(c)                  # the encoders write what the decoders read
        for i, m in enumerate(c.modules):
            assert m.encode() == c.module_data(i)


def test_conformance_malformed():
    rows = _rows("malformed")
    assert len(rows) == 6
    for row in rows:
        data = (CC_DIR / row["path"]).read_bytes()
        with pytest.raises(DecodeError) as info:
            parse_component(data, lazy=False)
        assert row["expected_message"] in str(info.value), (row["path"], str(info.value))
        assert info.value.offset is not None and 8 <= info.value.offset <= len(data)


def test_types_component_model():
    data = build_dummy(COMPONENT_FIXTURES / "types", "provider")
    c = wasmweld.parse(data)
    assert isinstance(c, Component) and c.encode() == data
    assert [str(i.name) for i in c.imports] == ["wasi:cli/stdout@0.2.0"]
    assert [(str(e.name), e.sort) for e in c.exports] == [("run", "func"), ("test:types/values@0.1.0", "instance")]
    assert c.imports[0].desc.sort == "instance"
    kinds = {type(t).__name__ for t in c.types}
    inner = set()
    for t in c.types:
        if isinstance(t, T.InstanceType):
            inner |= {type(d.item).__name__ for d in t.decls if isinstance(d, T.TypeDecl)}
    assert {"Record", "Variant", "Enum", "Flags", "ResourceType", "List", "Tuple", "Option", "Result",
            "Own", "Borrow", "FuncType"} <= kinds | inner
    # the core modules are wasmweld Modules, byte for byte as embedded
    assert len(c.modules) >= 1
    main = c.modules[0]
    assert any("test:types/values@0.1" in e.name and "counter.incr" in e.name for e in main.exports)
    wasmweld.validate(c.module_data(0))
    lifts = [x for x in c.canons if x.op == "lift"]
    assert any(x.option("realloc") for x in lifts) and any(x.option("memory") for x in lifts)


def test_replace_module_keeps_the_rest():
    data = build_dummy(COMPONENT_FIXTURES / "types", "provider")
    c = parse_component(data)
    m = c.modules[0]
    m.add_custom("wasmweld-test", b"hello")
    c.replace_module(0, m)
    out = c.encode()
    assert out != data
    c2 = parse_component(out)
    assert c2.modules[0].custom("wasmweld-test").data == b"hello"
    # every section but the replaced module is byte-identical, in the same order
    a = [bytes(s.raw) for s in parse_component(data).sections]
    b = [bytes(s.raw) for s in c2.sections]
    first = next(i for i, s in enumerate(parse_component(data).sections) if s.id == 1)
    assert len(a) == len(b) and [x for i, x in enumerate(a) if i != first] == [x for i, x in enumerate(b) if i != first]
    assert c2.module_data(0) == m.encode()
    wasm_tools("validate", "-", input=out)   # still a valid component


def test_edit_items_reencodes_only_changed():
    data = build_dummy(COMPONENT_FIXTURES / "types", "provider")
    c = parse_component(data)
    idx = next(i for i, s in enumerate(c.sections) if s.id == 11)
    items = c.section_items(idx)
    run = next(x for x in items if str(x.name) == "run")
    items[items.index(run)] = T.Export(T.ExternName("run2"), run.sort, run.index, run.desc)
    out = c.encode()
    text = wasm_tools("component", "wit", input=out).decode()
    assert "export run2: func() -> string;" in text
    assert parse_component(out).encode() == out


def test_wasmweld_parse_still_reads_modules():
    m = wasmweld.parse(b"\0asm\x01\0\0\0")
    assert isinstance(m, wasmweld.Module)


# ------------------------------------------------------------------ hostile input


def _section(sid: int, payload: bytes) -> bytes:
    return bytes((sid,)) + write_u(len(payload)) + payload


def test_truncations_are_decode_errors():
    data = build_dummy(COMPONENT_FIXTURES / "types", "provider")
    for n in list(range(0, 200)) + list(range(200, len(data), 97)):
        try:
            parse_component(data[:n], lazy=False)
        except DecodeError as e:
            assert e.offset is None or e.offset <= n
    for pos in range(8, len(data), 53):         # single-byte corruption: a result or a DecodeError
        bad = bytearray(data)
        bad[pos] ^= 0xFF
        try:
            parse_component(bytes(bad), lazy=False).encode()
        except DecodeError:
            pass


def test_deep_nesting_bounded():
    inner = b"\0asm\x0d\0\x01\0"
    for _ in range(300):
        inner = b"\0asm\x0d\0\x01\0" + _section(4, inner)
    c = parse_component(inner)
    assert c.encode() == inner
    with pytest.raises(DecodeError, match="nesting too deep"):
        c.decode_all()
    # instance types nested 300 deep: (type (instance (type (instance ...))))
    t = b"\x42\x00"
    for _ in range(300):
        t = b"\x42\x01\x01" + t
    data = b"\0asm\x0d\0\x01\0" + _section(7, b"\x01" + t)
    with pytest.raises(DecodeError, match="nesting too deep"):
        parse_component(data, lazy=False)


def test_huge_counts_rejected_without_allocating():
    for sid in (2, 3, 5, 6, 7, 8, 10, 11):
        data = b"\0asm\x0d\0\x01\0" + _section(sid, write_u(0xFFFFFFFF))
        with pytest.raises(DecodeError, match="out of bounds"):
            parse_component(data, lazy=False)
    rec = b"\x01\x72" + write_u(0xFFFFFFF) + b"\x01a\x7f"
    with pytest.raises(DecodeError, match="out of bounds"):
        parse_component(b"\0asm\x0d\0\x01\0" + _section(7, rec), lazy=False)


def test_bad_preamble_and_sections():
    with pytest.raises(DecodeError, match="unknown section id"):
        parse_component(b"\0asm\x0d\0\x01\0\x0c\x00")
    with pytest.raises(DecodeError, match="length out of bounds"):
        parse_component(b"\0asm\x0d\0\x01\0\x07\x05\x00")
    with pytest.raises(DecodeError, match="unknown binary version"):
        parse_component(b"\0asm\x0c\0\x01\0")
    # a malformed core module inside: the offset is absolute
    core = b"\0asm\x01\0\0\0\x01\x05\x01\x60\x00"
    data = b"\0asm\x0d\0\x01\0" + _section(1, core)
    with pytest.raises(DecodeError) as info:
        parse_component(data, lazy=False)
    assert info.value.offset is not None and info.value.offset >= 10


def test_new_component_encodes():
    c = Component()
    c.add_section(7, [T.FuncType((("x", "string"),), "u32")])
    c.add_section(10, [T.Import(T.ExternName("f"), T.ExternDesc("func", 0))])
    c.add_custom("note", b"x")
    out = c.encode()
    wasm_tools("validate", "-", input=out)
    assert "import f: func(x: string) -> u32;" in wasm_tools("component", "wit", input=out).decode()


def test_mutated_components_never_crash():
    """Random byte changes: every command path answers or raises a WasmError (more: WASMWELD_FUZZ_EXAMPLES)."""
    import os
    import random

    from wasmweld.component.check import canon_problems
    from wasmweld.component.inspect import collect, dump_lines
    from wasmweld.component.wit import component_wit
    from wasmweld.errors import WasmError

    seeds = [build_dummy(COMPONENT_FIXTURES / "types", "provider")]
    seeds += [d for d in ((CC_DIR / r["path"]).read_bytes() for r in _rows("valid")[::10]) if len(d) > 8]
    rnd = random.Random(11)
    n = int(os.environ.get("WASMWELD_FUZZ_EXAMPLES", "300"))
    for _ in range(n):
        d = bytearray(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 3)):
            d[rnd.randrange(8, len(d))] = rnd.randrange(256)
        d = bytes(d)
        for step in (lambda c: component_wit(c), canon_problems, collect, lambda c: list(dump_lines(c.data))):
            try:
                c = parse_component(d)
                c.decode_all(modules=False)
                step(c)
            except WasmError:
                pass


def test_component_type_custom_sections():
    """``wasm-tools component embed`` puts the world in a core module as a component-type custom section."""
    from wasmweld.component import component_type_sections

    core = wasm_tools("component", "embed", "--dummy", str(COMPONENT_FIXTURES / "types"), "-w", "provider")
    m = wasmweld.parse(core)
    [(name, c)] = component_type_sections(m)
    assert name.startswith("component-type")
    assert c.encode() == m.custom(name).data
    # the encoded world: component type "provider" declaring test:types/provider@0.1.0, a component type
    # whose declarations import wasi:cli/stdout and export run and the interface
    [exp] = c.exports
    assert (str(exp.name), exp.sort) == ("provider", "type")
    seen = []

    def walk(t):
        for d in getattr(t, "decls", ()):
            if isinstance(d, (T.DeclImport, T.DeclExport)):
                seen.append((type(d).__name__, str(d.name), d.desc.sort))
            elif d.kind == "type":
                walk(d.item)
    for t in c.types:
        walk(t)
    assert ("DeclImport", "wasi:cli/stdout@0.2.0", "instance") in seen
    assert ("DeclExport", "test:types/values@0.1.0", "instance") in seen
    assert ("DeclExport", "[method]counter.incr", "func") in seen
    assert ("DeclExport", "test:types/provider@0.1.0", "component") in seen
    bad = bytearray(core)
    pos = core.index(b"component-type") + 40
    bad[pos:pos + 4] = b"\xff\xff\xff\xff"
    try:
        component_type_sections(wasmweld.parse(bytes(bad)))
    except DecodeError as e:
        assert "component-type" in str(e)


def test_deeply_nested_value_types_bounded():
    """list<list<...5000 deep...>>: a WasmError from wit, the checks and validate, never a RecursionError."""
    from wasmweld.component.check import canon_problems
    from wasmweld.component.wit import component_wit
    from wasmweld.errors import ValidationError, WasmError
    from wasmweld.runtime.component import validate_component

    n = 5000
    types = [T.List("u8")] + [T.List(i) for i in range(n)] + [T.FuncType((("x", n),), None)]

    def sec(sid, items):
        return _section(sid, write_u(len(items)) + b"".join(codec.ITEM_WRITERS[sid](x) for x in items))
    data = (b"\0asm\x0d\0\x01\0" + sec(7, types)
            + sec(10, [T.Import(T.ExternName("f"), T.ExternDesc("func", n + 1))])
            + sec(8, [T.Canon("lower", (0,), (T.CanonOption("memory", 0),))]))
    c = parse_component(data, lazy=False)
    assert c.encode() == data
    with pytest.raises(WasmError, match="too deep"):
        component_wit(c)
    assert canon_problems(c) == ["canon 0 (lower): memory index out of bounds: 0 (the component has 0)"]
    with pytest.raises(ValidationError):
        validate_component(data)
    # the same types through an instance type: evaluated, printed, both bounded
    inst = T.InstanceType(tuple(T.TypeDecl("type", t) for t in types)
                          + (T.DeclExport(T.ExternName("f"), T.ExternDesc("func", n + 1)),))
    data2 = b"\0asm\x0d\0\x01\0" + sec(7, [inst]) + sec(10, [T.Import(T.ExternName("i"), T.ExternDesc("instance", 0))])
    with pytest.raises(WasmError, match="too deep"):
        component_wit(parse_component(data2))


def test_imports_exports_with_their_types():
    from wasmweld.component import typeval as tv

    c = parse_component(build_dummy(COMPONENT_FIXTURES / "types", "provider"))
    ext = c.extern_types()
    assert set(ext) == {"wasi:cli/stdout@0.2.0", "run", "test:types/values@0.1.0"}
    d, stdout = ext["wasi:cli/stdout@0.2.0"]
    assert d == "import" and stdout.sort == "instance"
    assert isinstance(stdout.ty.exports["get-stdout"].ty, tv.FuncT)
    d, run = ext["run"]
    assert d == "export" and run.ty.params == () and run.ty.result == "string"
    values = ext["test:types/values@0.1.0"][1].ty.exports
    point = tv.peel(values["point"].ty)
    assert point.kind == "record" and [n for n, _ in point.data] == ["x", "y", "label"]
    assert isinstance(tv.peel(values["counter"].ty), tv.Res)
    assert c.wit().startswith("package root:component;")


def test_shared_heap_types_round_trip():
    """shared-everything-threads: ``0x65 ht`` (shorthand) and ``0x63/0x64 0x65 ht`` decode and encode back."""
    from wasmweld.binary.typecodec import decode_valtype, encode_valtype

    for raw, nullable, heap in ((b"\x65\x70", True, "shared func"), (b"\x63\x65\x6e", True, "shared any"),
                                (b"\x64\x65\x6f", False, "shared extern")):
        t, end = decode_valtype(raw, 0, len(raw))
        assert end == len(raw) and (t.nullable, t.heap) == (nullable, heap)
        assert encode_valtype(t) == raw
    for bad in (b"\x65", b"\x65\x00", b"\x63\x65\x7f"):
        with pytest.raises(DecodeError):
            decode_valtype(bad, 0, len(bad))
    data = (CC_DIR / "valid/component-model/shared-everything-threads/not-accepted.1.wasm").read_bytes()
    c = parse_component(data)
    c.decode_all()
    assert "(table (;0;) shared 1 2 (ref null (shared func)))" in c.to_wat()
    assert c.to_wat() == wasm_tools("print", "-", input=data).decode()


def test_conformance_core_modules_decode_fully_and_round_trip():
    """Every core module of every valid and invalid component (nested ones too) decodes completely, shared
    reference types and custom page sizes included, and encodes back byte for byte."""
    from wasmweld.cli.extract import modules_in
    from wasmweld.module import parse as parse_module

    n = 0
    for row in _rows("valid") + _rows("invalid"):
        data = (CC_DIR / row["path"]).read_bytes()
        c = parse_component(data, lazy=False)
        assert c.encode() == data, row["path"]
        for _path, comp, i in modules_in(c):
            raw = comp.module_data(i)
            assert parse_module(raw, lazy=False).encode() == raw, (row["path"], i)
            n += 1
    assert n == 250
