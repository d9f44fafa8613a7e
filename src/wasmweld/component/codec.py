"""Decode and encode the items of component sections (the component-model binary grammar).

Each ``read_x(r)`` takes a :class:`~wasmweld.binary.reader.Reader` positioned on the item
(absolute offsets, so a :class:`~wasmweld.errors.DecodeError` names the place in the
input) and returns the item from :mod:`wasmweld.component.types`; each ``write_x(item)``
returns its bytes. For example the canonical definition
``(canon lift (core func 0) (memory 0) (realloc 1) (func (type 2)))`` is::

    00 00 00  02  03 00  04 01  02
    lift  f0  2 options: memory 0, realloc 1   type 2

Item decoders are selected by section id in :data:`ITEM_READERS` / :data:`ITEM_WRITERS`.
Nested instance/component types are bounded by :data:`MAX_TYPE_DEPTH`.
"""

from __future__ import annotations

from typing import Any, Callable

from ..binary import typecodec as tc
from ..binary.leb import read_s33, write_s, write_u
from ..binary.reader import Reader
from ..errors import DecodeError
from . import types as T

__all__ = [
    "MAX_TYPE_DEPTH", "SECTION_NAMES", "ITEM_READERS", "ITEM_WRITERS", "CANON_OPS",
    "read_valtype", "write_valtype", "read_name", "write_name", "read_extern_name", "write_extern_name",
    "read_sort", "write_sort", "read_extern_desc", "write_extern_desc", "read_typedef", "write_typedef",
    "read_core_type", "write_core_type", "read_canon", "write_canon", "read_alias", "write_alias",
]

#: deepest nesting of instance/component types accepted (wasmparser's limit too)
MAX_TYPE_DEPTH = 100

SECTION_NAMES: dict[int, str] = {
    0: "custom", 1: "core module", 2: "core instance", 3: "core type", 4: "component", 5: "instance",
    6: "alias", 7: "type", 8: "canon", 9: "start", 10: "import", 11: "export",
}

_CORE_SORT_CODES = {v: k for k, v in T.CORE_SORTS.items()}
_SORT_CODES = {v: k for k, v in T.COMPONENT_SORTS.items()}


def _bad(r: Reader, byte: int, what: str, at: int | None = None) -> DecodeError:
    return DecodeError(f"invalid leading byte (0x{byte:x}) for {what}", r.base + (r.pos - 1 if at is None else at))


def _vec(r: Reader, read_one, min_size: int = 1) -> tuple:
    n = r.count(min_size)
    return tuple(read_one(r) for _ in range(n))


def _write_vec(items, write_one) -> bytes:
    return write_u(len(items)) + b"".join(write_one(x) for x in items)


def read_name(r: Reader) -> str:
    return r.name()


def write_name(s: str) -> bytes:
    raw = s.encode("utf-8")
    return write_u(len(raw)) + raw


# ------------------------------------------------------------------ value types


def read_valtype(r: Reader) -> T.ValType:
    b = r.peek()
    if b is None:
        raise DecodeError("unexpected end", r.offset)
    prim = T.PRIMITIVES.get(b)
    if prim is not None:
        r.pos += 1
        return prim
    v, r.pos = read_s33(r.data, r.pos, r.end, r.base)
    return v


def write_valtype(t: T.ValType) -> bytes:
    if isinstance(t, str):
        return bytes((T.PRIMITIVE_CODES[t],))
    return write_s(t)


def _opt_valtype(r: Reader, what: str):
    b = r.byte()
    if b == 0:
        return None
    if b == 1:
        return read_valtype(r)
    raise _bad(r, b, what)


def _write_opt_valtype(t) -> bytes:
    return b"\x00" if t is None else b"\x01" + write_valtype(t)


def _read_resultlist(r: Reader):
    b = r.byte()
    if b == 0:
        return read_valtype(r)
    if b == 1:
        b2 = r.byte()
        if b2 != 0:
            raise _bad(r, b2, "number of results")
        return None
    raise _bad(r, b, "component function results")


def _write_resultlist(t) -> bytes:
    return b"\x01\x00" if t is None else b"\x00" + write_valtype(t)


# ------------------------------------------------------------------ names, sorts, extern descs


def read_extern_name(r: Reader) -> T.ExternName:
    prefix = r.byte()
    if prefix not in (0, 1, 2):
        raise _bad(r, prefix, "component name")
    name = r.name()
    options: tuple = ()
    if prefix == 2:
        opts: list[tuple[int, str]] = []
        for _ in range(r.count(2)):
            code = r.byte()
            if code > 2:
                raise _bad(r, code, "name option")
            if any(c == code for c, _ in opts):
                raise DecodeError("duplicate option in name", r.offset - 1)
            opts.append((code, r.name()))
        options = tuple(opts)
    return T.ExternName(name, prefix, options)


def write_extern_name(n: T.ExternName) -> bytes:
    out = bytes((n.prefix,)) + write_name(n.name)
    if n.prefix == 2:
        out += write_u(len(n.options)) + b"".join(bytes((c,)) + write_name(s) for c, s in n.options)
    return out


def read_sort(r: Reader) -> T.Sort:
    b = r.byte()
    if b == 0:
        b2 = r.byte()
        sort = T.CORE_SORTS.get(b2)
        if sort is None:
            raise _bad(r, b2, "core sort")
        return sort
    sort = T.COMPONENT_SORTS.get(b)
    if sort is None:
        raise _bad(r, b, "component external kind")
    return sort


def write_sort(sort: T.Sort) -> bytes:
    code = _CORE_SORT_CODES.get(sort)
    if code is not None:
        return bytes((0, code))
    return bytes((_SORT_CODES[sort],))


def read_extern_desc(r: Reader) -> T.ExternDesc:
    at = r.pos
    sort = read_sort(r)
    if sort == "core module":
        return T.ExternDesc(sort, r.u32())
    if sort.startswith("core"):
        raise DecodeError("invalid leading byte (0x0) for component external kind", r.base + at)
    if sort == "value":
        return T.ExternDesc(sort, read_valtype(r))
    if sort == "type":
        b = r.byte()
        if b == 0:
            return T.ExternDesc(sort, T.TypeBound(r.u32()))
        if b == 1:
            return T.ExternDesc(sort, T.TypeBound(None))
        raise _bad(r, b, "type bound")
    return T.ExternDesc(sort, r.u32())


def write_extern_desc(d: T.ExternDesc) -> bytes:
    head = write_sort(d.sort)
    ref: Any = d.ref        # a ValType (value), a TypeBound (type) or a type index
    if d.sort == "value":
        return head + write_valtype(ref)
    if d.sort == "type":
        return head + (b"\x01" if ref.index is None else b"\x00" + write_u(ref.index))
    return head + write_u(ref)


# ------------------------------------------------------------------ defined types


def _read_field(r: Reader):
    return (r.name(), read_valtype(r))


def _read_case(r: Reader) -> T.Case:
    name = r.name()
    ty = _opt_valtype(r, "optional component value type")
    b = r.byte()
    if b != 0:
        raise _bad(r, b, "zero byte required")
    return T.Case(name, ty, 0)


def _read_defined(r: Reader, b: int):
    if b == 0x72:
        return T.Record(_vec(r, _read_field, 2))
    if b == 0x71:
        return T.Variant(_vec(r, _read_case, 3))
    if b == 0x70:
        return T.List(read_valtype(r))
    if b == 0x67:
        return T.List(read_valtype(r), r.u32())
    if b == 0x63:
        return T.Map(read_valtype(r), read_valtype(r))
    if b == 0x6F:
        return T.Tuple(_vec(r, read_valtype))
    if b == 0x6E:
        return T.Flags(_vec(r, read_name))
    if b == 0x6D:
        return T.Enum(_vec(r, read_name))
    if b == 0x6B:
        return T.Option(read_valtype(r))
    if b == 0x6A:
        return T.Result(_opt_valtype(r, "optional component value type"),
                        _opt_valtype(r, "optional component value type"))
    if b == 0x69:
        return T.Own(r.u32())
    if b == 0x68:
        return T.Borrow(r.u32())
    if b == 0x66:
        return T.Stream(_opt_valtype(r, "optional component value type"))
    if b == 0x65:
        return T.Future(_opt_valtype(r, "optional component value type"))
    raise _bad(r, b, "component defined type")


def _write_defined(t) -> bytes:
    k = type(t)
    if k is T.Primitive:
        return bytes((T.PRIMITIVE_CODES[t.name],))
    if k is T.Record:
        return b"\x72" + _write_vec(t.fields, lambda f: write_name(f[0]) + write_valtype(f[1]))
    if k is T.Variant:
        return b"\x71" + _write_vec(
            t.cases, lambda c: write_name(c.name) + _write_opt_valtype(c.type) + bytes((c.refines,)))
    if k is T.List:
        if t.length is None:
            return b"\x70" + write_valtype(t.element)
        return b"\x67" + write_valtype(t.element) + write_u(t.length)
    if k is T.Map:
        return b"\x63" + write_valtype(t.key) + write_valtype(t.value)
    if k is T.Tuple:
        return b"\x6f" + _write_vec(t.types, write_valtype)
    if k is T.Flags:
        return b"\x6e" + _write_vec(t.names, write_name)
    if k is T.Enum:
        return b"\x6d" + _write_vec(t.names, write_name)
    if k is T.Option:
        return b"\x6b" + write_valtype(t.type)
    if k is T.Result:
        return b"\x6a" + _write_opt_valtype(t.ok) + _write_opt_valtype(t.err)
    if k is T.Own:
        return b"\x69" + write_u(t.resource)
    if k is T.Borrow:
        return b"\x68" + write_u(t.resource)
    if k is T.Stream:
        return b"\x66" + _write_opt_valtype(t.type)
    if k is T.Future:
        return b"\x65" + _write_opt_valtype(t.type)
    raise TypeError(f"not a component type: {t!r}")


def read_typedef(r: Reader, depth: int = 0) -> T.TypeDef:
    """One component type definition (type section item, or a ``type`` declaration)."""
    b = r.byte()
    if b == 0x3F:
        rep, r.pos = tc.decode_valtype(r.data, r.pos, r.end, r.base)
        d = r.byte()
        if d == 0:
            return T.ResourceType(rep, None)
        if d == 1:
            return T.ResourceType(rep, r.u32())
        raise _bad(r, d, "resource destructor")
    if b in (0x40, 0x43):
        params = _vec(r, _read_field, 2)
        return T.FuncType(params, _read_resultlist(r), b == 0x43)
    if b in (0x41, 0x42):
        if depth >= MAX_TYPE_DEPTH:
            raise DecodeError("type nesting too deep", r.base + r.pos - 1)
        if b == 0x41:
            return T.ComponentType(_vec(r, lambda rr: _read_decl(rr, depth + 1, True)))
        return T.InstanceType(_vec(r, lambda rr: _read_decl(rr, depth + 1, False)))
    prim = T.PRIMITIVES.get(b)
    if prim is not None:
        return T.Primitive(prim)
    return _read_defined(r, b)


def write_typedef(t: T.TypeDef) -> bytes:
    if isinstance(t, T.ResourceType):
        tail = b"\x00" if t.dtor is None else b"\x01" + write_u(t.dtor)
        return b"\x3f" + tc.encode_valtype(t.rep) + tail
    if isinstance(t, T.FuncType):
        return (b"\x43" if t.is_async else b"\x40") + _write_vec(
            t.params, lambda f: write_name(f[0]) + write_valtype(f[1])) + _write_resultlist(t.result)
    if isinstance(t, T.ComponentType):
        return b"\x41" + _write_vec(t.decls, _write_decl)
    if isinstance(t, T.InstanceType):
        return b"\x42" + _write_vec(t.decls, _write_decl)
    return _write_defined(t)


def _read_decl(r: Reader, depth: int, component: bool):
    b = r.byte()
    if b == 0x03 and component:
        return T.DeclImport(read_extern_name(r), read_extern_desc(r))
    if b == 0x00:
        return T.TypeDecl("core type", read_core_type(r, depth))
    if b == 0x01:
        return T.TypeDecl("type", read_typedef(r, depth))
    if b == 0x02:
        return T.TypeDecl("alias", read_alias(r))
    if b == 0x04:
        return T.DeclExport(read_extern_name(r), read_extern_desc(r))
    raise _bad(r, b, "component or instance type declaration")


def _write_decl(d) -> bytes:
    k = type(d)
    if k is T.DeclImport:
        return b"\x03" + write_extern_name(d.name) + write_extern_desc(d.desc)
    if k is T.DeclExport:
        return b"\x04" + write_extern_name(d.name) + write_extern_desc(d.desc)
    if d.kind == "core type":
        return b"\x00" + write_core_type(d.item)
    if d.kind == "type":
        return b"\x01" + write_typedef(d.item)
    return b"\x02" + write_alias(d.item)


# ------------------------------------------------------------------ core types


def _read_recgroup(r: Reader):
    g, r.pos = tc.decode_recgroup(r.data, r.pos, r.end, r.base)
    return g


def _read_core_import_desc(r: Reader, kind: int):
    d = r.data
    v: object
    if kind == 0:
        return r.u32()
    if kind == 1:
        v, r.pos = tc.decode_tabletype(d, r.pos, r.end, r.base)
    elif kind == 2:
        v, r.pos = tc.decode_memorytype(d, r.pos, r.end, r.base)
    elif kind == 3:
        v, r.pos = tc.decode_globaltype(d, r.pos, r.end, r.base)
    elif kind == 4:
        v, r.pos = tc.decode_tagtype(d, r.pos, r.end, r.base)
    else:
        raise _bad(r, kind, "external kind")
    return v


def _write_core_import_desc(kind: int, desc) -> bytes:
    if kind == 0:
        return write_u(desc)
    enc: dict[int, Callable[[Any], bytes]] = {
        1: tc.encode_tabletype, 2: tc.encode_memorytype, 3: tc.encode_globaltype, 4: tc.encode_tagtype}
    return enc[kind](desc)


def _read_module_decl(r: Reader):
    b = r.byte()
    if b == 0x00:
        module, name = r.name(), r.name()
        kind = r.byte()
        return T.CoreImport(module, name, kind, _read_core_import_desc(r, kind))
    if b == 0x01:
        return T.CoreTypeDecl(_read_recgroup(r))
    if b == 0x02:
        k = r.byte()
        if k != 0x10:
            raise _bad(r, k, "outer alias kind")
        t = r.byte()
        if t != 0x01:
            raise _bad(r, t, "outer alias target")
        return T.CoreOuterAlias(r.u32(), r.u32())
    if b == 0x03:
        name = r.name()
        kind = r.byte()
        return T.CoreExportDecl(name, kind, _read_core_import_desc(r, kind))
    raise _bad(r, b, "type definition")


def _write_module_decl(d) -> bytes:
    k = type(d)
    if k is T.CoreImport:
        return (b"\x00" + write_name(d.module) + write_name(d.name) + bytes((d.kind,))
                + _write_core_import_desc(d.kind, d.desc))
    if k is T.CoreTypeDecl:
        return b"\x01" + tc.encode_recgroup(d.group)
    if k is T.CoreOuterAlias:
        return b"\x02\x10\x01" + write_u(d.count) + write_u(d.index)
    return b"\x03" + write_name(d.name) + bytes((d.kind,)) + _write_core_import_desc(d.kind, d.desc)


def read_core_type(r: Reader, depth: int = 0) -> T.CoreType:
    b = r.peek()
    if b == 0x00:
        r.pos += 1
        x = r.peek()
        if x != 0x50:
            if x is None:
                raise DecodeError("unexpected end", r.offset)
            raise _bad(r, x, "non-final sub type", r.pos)
        return T.CoreRecGroup(_read_recgroup(r), True)
    if b == 0x50:
        r.pos += 1
        return T.CoreModuleType(_vec(r, _read_module_decl))
    return T.CoreRecGroup(_read_recgroup(r), False)


def write_core_type(t: T.CoreType) -> bytes:
    if isinstance(t, T.CoreModuleType):
        return b"\x50" + _write_vec(t.decls, _write_module_decl)
    return (b"\x00" if t.prefixed else b"") + tc.encode_recgroup(t.group)


# ------------------------------------------------------------------ instances and aliases


def _read_core_instance(r: Reader) -> T.CoreInstance:
    b = r.byte()
    if b == 0x00:
        module = r.u32()

        def arg(rr: Reader) -> T.CoreArg:
            name = rr.name()
            k = rr.byte()
            if k != 0x12:
                raise _bad(rr, k, "instantiation arg kind")
            return T.CoreArg(name, rr.u32())
        return T.CoreInstantiate(module, _vec(r, arg, 3))
    if b == 0x01:
        def exp(rr: Reader) -> T.CoreExport:
            name = rr.name()
            k = rr.byte()
            if k > 4:
                raise _bad(rr, k, "external kind")
            return T.CoreExport(name, k, rr.u32())
        return T.CoreInstanceExports(_vec(r, exp, 3))
    raise _bad(r, b, "core instance")


def _write_core_instance(i: T.CoreInstance) -> bytes:
    if isinstance(i, T.CoreInstantiate):
        return b"\x00" + write_u(i.module) + _write_vec(i.args, lambda a: write_name(a.name) + b"\x12" + write_u(a.index))
    return b"\x01" + _write_vec(i.exports, lambda e: write_name(e.name) + bytes((e.kind,)) + write_u(e.index))


def _read_instance(r: Reader) -> T.Instance:
    b = r.byte()
    if b == 0x00:
        comp = r.u32()
        return T.ComponentInstantiate(comp, _vec(r, lambda rr: T.InstantiateArg(rr.name(), read_sort(rr), rr.u32()), 3))
    if b == 0x01:
        return T.InstanceExports(_vec(r, lambda rr: T.Export(read_extern_name(rr), read_sort(rr), rr.u32()), 4))
    raise _bad(r, b, "instance")


def _write_instance(i: T.Instance) -> bytes:
    if isinstance(i, T.ComponentInstantiate):
        return b"\x00" + write_u(i.component) + _write_vec(
            i.args, lambda a: write_name(a.name) + write_sort(a.sort) + write_u(a.index))
    return b"\x01" + _write_vec(
        i.exports, lambda e: write_extern_name(e.name) + write_sort(e.sort) + write_u(e.index))


_OUTER_SORTS = ("core module", "core type", "type", "component")


def read_alias(r: Reader) -> T.Alias:
    at = r.pos
    sort = read_sort(r)
    t = r.byte()
    if t == 0x00:
        if sort.startswith("core") and sort != "core module":
            raise DecodeError("invalid leading byte (0x0) for component external kind", r.base + at)
        return T.InstanceExportAlias(sort, r.u32(), r.name())
    if t == 0x01:
        if not sort.startswith("core") or sort in ("core type", "core module", "core instance"):
            raise DecodeError("invalid leading byte for core instance export kind", r.base + at)
        return T.InstanceExportAlias(sort, r.u32(), r.name())
    if t == 0x02:
        if sort not in _OUTER_SORTS:
            raise DecodeError("invalid leading byte for component outer alias kind", r.base + at)
        return T.OuterAlias(sort, r.u32(), r.u32())
    raise _bad(r, t, "alias")


def write_alias(a: T.Alias) -> bytes:
    if isinstance(a, T.OuterAlias):
        return write_sort(a.sort) + b"\x02" + write_u(a.count) + write_u(a.index)
    target = b"\x01" if a.sort.startswith("core") and a.sort != "core module" else b"\x00"
    return write_sort(a.sort) + target + write_u(a.instance) + write_name(a.name)


# ------------------------------------------------------------------ canonical definitions

#: canonical option code -> (name, has an index)
CANON_OPTIONS: dict[int, tuple[str, bool]] = {
    0x00: ("utf8", False), 0x01: ("utf16", False), 0x02: ("latin1+utf16", False), 0x03: ("memory", True),
    0x04: ("realloc", True), 0x05: ("post-return", True), 0x06: ("async", False), 0x07: ("callback", True),
    0x08: ("core-type", True), 0x09: ("gc", False),
}
_OPTION_CODES = {name: code for code, (name, _) in CANON_OPTIONS.items()}

#: canonical opcode -> (name, immediates); immediates: u32, bool, opts, results (result list), valtype (core)
CANON_OPS: dict[int, tuple[str, tuple[str, ...]]] = {
    0x00: ("lift", ("u32", "opts", "u32")), 0x01: ("lower", ("u32", "opts")),
    0x02: ("resource.new", ("u32",)), 0x03: ("resource.drop", ("u32",)), 0x04: ("resource.rep", ("u32",)),
    0x05: ("task.cancel", ()), 0x06: ("subtask.cancel", ("bool",)), 0x09: ("task.return", ("results", "opts")),
    0x0A: ("context.get", ("valtype", "u32")), 0x0B: ("context.set", ("valtype", "u32")),
    0x0C: ("thread.yield", ("bool",)), 0x0D: ("subtask.drop", ()),
    0x0E: ("stream.new", ("u32",)), 0x0F: ("stream.read", ("u32", "opts")), 0x10: ("stream.write", ("u32", "opts")),
    0x11: ("stream.cancel-read", ("u32", "bool")), 0x12: ("stream.cancel-write", ("u32", "bool")),
    0x13: ("stream.drop-readable", ("u32",)), 0x14: ("stream.drop-writable", ("u32",)),
    0x15: ("future.new", ("u32",)), 0x16: ("future.read", ("u32", "opts")), 0x17: ("future.write", ("u32", "opts")),
    0x18: ("future.cancel-read", ("u32", "bool")), 0x19: ("future.cancel-write", ("u32", "bool")),
    0x1A: ("future.drop-readable", ("u32",)), 0x1B: ("future.drop-writable", ("u32",)),
    0x1C: ("error-context.new", ("opts",)), 0x1D: ("error-context.debug-message", ("opts",)),
    0x1E: ("error-context.drop", ()), 0x1F: ("waitable-set.new", ()),
    0x20: ("waitable-set.wait", ("bool", "u32")), 0x21: ("waitable-set.poll", ("bool", "u32")),
    0x22: ("waitable-set.drop", ()), 0x23: ("waitable.join", ()),
    0x24: ("backpressure.inc", ()), 0x25: ("backpressure.dec", ()), 0x26: ("thread.index", ()),
    0x27: ("thread.new-indirect", ("u32", "u32")), 0x28: ("thread.resume-later", ()),
    0x29: ("thread.suspend", ("bool",)), 0x2A: ("thread.suspend-then-resume", ("bool",)),
    0x2B: ("thread.yield-then-resume", ("bool",)), 0x2C: ("thread.suspend-then-promote", ("bool",)),
    0x2D: ("thread.yield-then-promote", ("bool",)),
    0x40: ("thread.spawn-ref", ("u32",)), 0x41: ("thread.spawn-indirect", ("u32", "u32")),
    0x42: ("thread.available-parallelism", ()),
}
_CANON_CODES = {name: code for code, (name, _) in CANON_OPS.items()}
MAX_CANON_OPTIONS = 10


def _read_option(r: Reader) -> T.CanonOption:
    b = r.byte()
    spec = CANON_OPTIONS.get(b)
    if spec is None:
        raise _bad(r, b, "canonical option")
    return T.CanonOption(spec[0], r.u32() if spec[1] else None)


def _write_option(o: T.CanonOption) -> bytes:
    code = bytes((_OPTION_CODES[o.name],))
    return code if o.index is None else code + write_u(o.index)


def read_canon(r: Reader) -> T.Canon:
    b = r.byte()
    spec = CANON_OPS.get(b)
    if spec is None:
        raise _bad(r, b, "canonical function")
    name, imms = spec
    if b in (0x00, 0x01):
        z = r.byte()
        if z != 0:
            raise _bad(r, z, f"canonical function {name}")
    args: list = []
    options = None
    for imm in imms:
        if imm == "u32":
            args.append(r.u32())
        elif imm == "bool":
            v = r.byte()
            if v > 1:
                raise DecodeError("invalid boolean value", r.offset - 1)
            args.append(bool(v))
        elif imm == "opts":
            at = r.pos
            n = r.u32()
            if n > MAX_CANON_OPTIONS or n > r.remaining():
                raise DecodeError("canonical options count is out of bounds", r.base + at)
            options = tuple(_read_option(r) for _ in range(n))
        elif imm == "results":
            args.append(_read_resultlist(r))
        else:
            vt, r.pos = tc.decode_valtype(r.data, r.pos, r.end, r.base)
            args.append(vt)
    return T.Canon(name, tuple(args), options)


def write_canon(c: T.Canon) -> bytes:
    code = _CANON_CODES[c.op]
    out = bytearray((code,))
    if code in (0x00, 0x01):
        out.append(0)
    imms = CANON_OPS[code][1]
    args = iter(c.args)
    for imm in imms:
        if imm == "opts":
            opts = c.options or ()
            out += write_u(len(opts)) + b"".join(_write_option(o) for o in opts)
        elif imm == "u32":
            out += write_u(next(args))
        elif imm == "bool":
            out.append(1 if next(args) else 0)
        elif imm == "results":
            out += _write_resultlist(next(args))
        else:
            out += tc.encode_valtype(next(args))
    return bytes(out)


# ------------------------------------------------------------------ start, import, export


def read_start(r: Reader) -> T.Start:
    func = r.u32()
    args = _vec(r, lambda rr: rr.u32())
    at = r.pos
    results = r.u32()
    if results > 1000:
        raise DecodeError("start function results size is out of bounds", r.base + at)
    return T.Start(func, args, results)


def write_start(s: T.Start) -> bytes:
    return write_u(s.func) + _write_vec(s.args, write_u) + write_u(s.results)


def read_import(r: Reader) -> T.Import:
    return T.Import(read_extern_name(r), read_extern_desc(r))


def write_import(i: T.Import) -> bytes:
    return write_extern_name(i.name) + write_extern_desc(i.desc)


def read_export(r: Reader) -> T.Export:
    name = read_extern_name(r)
    sort = read_sort(r)
    index = r.u32()
    b = r.byte()
    if b == 0:
        desc = None
    elif b == 1:
        desc = read_extern_desc(r)
    else:
        raise _bad(r, b, "optional component export type")
    return T.Export(name, sort, index, desc)


def write_export(e: T.Export) -> bytes:
    tail = b"\x00" if e.desc is None else b"\x01" + write_extern_desc(e.desc)
    return write_extern_name(e.name) + write_sort(e.sort) + write_u(e.index) + tail


#: section id -> reader of one item, for the vector sections
ITEM_READERS: dict[int, Callable[[Reader], Any]] = {
    2: _read_core_instance, 3: read_core_type, 5: _read_instance, 6: read_alias, 7: read_typedef,
    8: read_canon, 10: read_import, 11: read_export,
}
#: section id -> writer of one item
ITEM_WRITERS: dict[int, Callable[[Any], bytes]] = {
    2: _write_core_instance, 3: write_core_type, 5: _write_instance, 6: write_alias, 7: write_typedef,
    8: write_canon, 10: write_import, 11: write_export,
}
