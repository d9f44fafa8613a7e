"""``--emit component``: the fused core module wrapped in a component with the composition's
imports and exports.

For a composition importing ``wasi:cli/stdout`` (and ``wasi:io/streams``) and exporting the
interface ``test:fuse/fwd`` the output is::

    (component
      (type ...) (import "wasi:io/streams@0.2.0" (instance $streams (type ...)))   ;; the input's
      (type ...) (import "wasi:cli/stdout@0.2.0" (instance $stdout (type ...)))    ;; import sections
      (core module $fused ...)                          ;; the one fused core module
      (core module $shim ...)                           ;; a table + call_indirect trampolines
      (core module $fixup ...)                          ;; fills the table (an active elem segment)
      (core instance $s (instantiate $shim))
      (core func $get (canon lower (func $stdout "get-stdout")))
      (core func $drop (canon resource.drop (type $streams "output-stream")))
      (core instance $f (instantiate $fused
        (with "wasi:cli/stdout@0.2.0" (instance (export "get-stdout" (func $get))))
        (with "wasi:io/streams@0.2.0" (instance (export "[method]output-stream.blocking-write-and-flush"
                                                   (func $s "0")) ...))))
      (core func $w (canon lower (func $streams "[method]output-stream.blocking-write-and-flush")
                      (memory $f "fuse:memory0")))
      (core instance (instantiate $fixup (with "" (instance (export "$imports" (table $s "$imports"))
                                                            (export "0" (func $w))))))
      (type $point (record (field "x" u32) (field "name" string)))
      (type $ft (func (param "p" $point) (result u32)))
      (func $f (type $ft) (canon lift (core func $f "test:fuse/fwd#f") (memory $f "memory")
                          (realloc $f "cabi_realloc") string-encoding=utf8))
      (instance $i (export "point" (type $point)) (export "f" (func $f)))
      (export "test:fuse/fwd" (instance $i)))

The import sections are the input's leading type/import/alias sections copied byte for byte (so
``wasm-tools component wit`` prints the same world). A remaining import lowered with a memory or a
realloc needs the fused instance's memory, which exists only once the fused module is instantiated:
as wit-component does, the fused module gets a shim trampoline (``call_indirect`` through a table)
and a fixup module fills the table with the real lowerings afterwards. Each component's lowerings
write into that component's own memory (``fuse:memoryK`` / ``fuse:reallocK`` exports of the fused
module). The export value types are rebuilt from the composition's own export types (names of
records, variants, enums, flags and their fields/cases kept), every named type of an exported
interface exported by the instance under its name. A type the copied imports name is aliased, not
defined again (a copy would be another nominal type), and an interface using such types goes
through a shim component, as the composition's own does::

    (alias export $types "point" (type $point))   ;; test:fuse/types, imported
    (instance $i (instantiate $shim (with "import-type-point" (type $point))
                                    (with "import-func-0" (func $f))))
    (export "test:fuse/fwd" (instance $i))          ;; WIT: interface fwd { use types.{point}; ... }

:func:`check_output` checks every output before it is returned.
"""

from __future__ import annotations

from typing import Any

from ..binary.instr import Instr
from ..binary.leb import write_u
from ..component import COMPONENT_PREAMBLE, Component, parse_component
from ..component import types as T
from ..component.typeval import Alias, Def, FuncT, InstT, Res, evaluate, peel
from ..errors import ValidationError
from ..items import ConstExpr, Elem, Export, FuncBody, Import, Table
from ..module import Module
from ..types import FUNCREF, I32, ExternKind, FuncType, Limits, RecGroup, SubType, TableType
from .abi import MAX_TYPE_DEPTH, FuseError
from .boundary import OUT_MODULE, Boundary, lift_option_names
from .build import host_option_names
from .plan import HostImport, Plan

__all__ = ["wrap", "check_output"]


class _Out:
    """The items appended after the copied import sections, in order; ``n[sort]`` counts each index
    space (starting from what the copied sections define)."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.sections: list[tuple[int, list]] = []
        self.n: dict[str, int] = dict(counts)

    def add(self, sid: int, item: Any, sort: str | None) -> int:
        if self.sections and self.sections[-1][0] == sid:
            self.sections[-1][1].append(item)
        else:
            self.sections.append((sid, [item]))
        if sort is None:
            return -1
        idx = self.n.get(sort, 0)
        self.n[sort] = idx + 1
        return idx

    def alias(self, sort: str, instance: int, name: str) -> int:
        return self.add(6, T.InstanceExportAlias(sort, instance, name), sort)

    def canon(self, op: str, args: tuple, opts: tuple | None = None) -> int:
        return self.add(8, T.Canon(op, args, opts), "func" if op == "lift" else "core func")

    def core_instance(self, item: Any) -> int:
        return self.add(2, item, "core instance")


class _Types:
    """Value and function type definitions added to the output, memoised by object identity."""

    def __init__(self, out: _Out) -> None:
        self.out = out
        self.memo: dict[Any, Any] = {}
        #: ``id`` of a type the copied import sections name -> its type index, or ``(instance, export
        #: name)`` of an imported instance's type export (aliased when first used)
        self.imported: dict[int, int | tuple[int, str]] = {}
        #: ``(instance, type export name)`` -> the output's alias of it (made on first use)
        self.aliases: dict[tuple[int, str], int] = {}

    def add(self, item) -> int:
        return self.out.add(7, item, "type")

    def name_imports(self, top: Any, names: dict[str, tuple[str, int]]) -> None:
        """Register the types the copied imports name: a type import, or a type export of an
        imported instance; each use of one refers to it (``(alias export $types "point" (type))``),
        as the composition does, instead of defining the type again (a new nominal type)."""
        for n, (sort, idx) in names.items():
            ent = top.imports.get(n)
            if ent is None:
                continue
            if sort == "type":
                pairs: list[tuple[Any, int | tuple[int, str]]] = [(ent.ty, idx)]
            elif sort == "instance" and isinstance(ent.ty, InstT):
                pairs = [(x.ty, (idx, en)) for en, x in ent.ty.exports.items() if x.sort == "type"]
            else:
                continue
            for t, src in pairs:            # a world-level `(import "point" (type (eq ..)))` wins
                for obj in (t, peel(t)):
                    if sort == "type" or id(obj) not in self.imported:
                        self.imported[id(obj)] = src

    def name_exported(self, ty: InstT, inst: int) -> None:
        """Later exports refer to the type exports of the exported instance ``inst`` by alias (as
        the inputs do: ``interface api { use types.{point}; }`` with both exported)."""
        for n, x in ty.exports.items():
            if x.sort == "type":
                for obj in _chain(x.ty):
                    self.memo.pop(id(obj), None)
                    self.imported.setdefault(id(obj), (inst, n))

    def is_imported(self, t: Any) -> bool:
        """True when the type ``t`` (an alias chain) ends at a type the copied imports name."""
        return any(id(x) in self.imported for x in _chain(t))

    def val(self, t: Any, depth: int = 0) -> Any:
        if depth > MAX_TYPE_DEPTH:
            raise FuseError("--emit component: value type nesting too deep")
        if isinstance(t, str):
            return t
        key = id(t)
        if key in self.memo:
            return self.memo[key]
        src = self.imported.get(key)
        if isinstance(src, int):
            idx = src
        elif src is not None:
            if src not in self.aliases:
                self.aliases[src] = self.out.alias("type", *src)
            idx = self.aliases[src]
        elif isinstance(t, Alias):
            idx = self.val(t.target, depth + 1)
        elif isinstance(t, Def):
            idx = self.add(self._defined(t, depth))
        elif isinstance(t, Res):
            raise FuseError("--emit component: a resource the output does not export or import")
        else:
            raise FuseError(f"--emit component: cannot write the type {t!r}")
        self.memo[key] = idx
        return idx

    def _defined(self, t: Def, depth: int):
        def v(x: Any) -> Any:
            return None if x is None else self.val(x, depth + 1)

        k, d = t.kind, t.data
        if k == "prim":
            return T.Primitive(d)
        if k == "record":
            return T.Record(tuple((n, v(x)) for n, x in d))
        if k == "variant":
            return T.Variant(tuple(T.Case(n, v(x)) for n, x in d))
        if k == "list":
            return T.List(v(d))
        if k == "tuple":
            return T.Tuple(tuple(v(x) for x in d))
        if k == "flags":
            return T.Flags(tuple(d))
        if k == "enum":
            return T.Enum(tuple(d))
        if k == "option":
            return T.Option(v(d))
        if k == "result":
            return T.Result(v(d[0]), v(d[1]))
        if k in ("own", "borrow"):
            r = peel(d)
            if id(r) not in self.memo and id(r) not in self.imported:
                raise FuseError("--emit component: a handle of a resource the output does not export or import")
            return (T.Own if k == "own" else T.Borrow)(self.val(r, depth + 1))
        raise FuseError(f"--emit component: values of kind {k} are not supported")

    def func(self, ft: FuncT) -> int:
        return self.add(T.FuncType(tuple((n, self.val(x)) for n, x in ft.params),
                                   None if ft.result is None else self.val(ft.result)))


def _shim_component(ty: InstT, res_ids: set[int], types: _Types,
                    lifted: dict[str, int]) -> tuple[bytes, tuple[T.InstantiateArg, ...]]:
    """As wit-component does for an exported interface with resources: a component importing the
    interface's types and lifted functions and exporting them under their names (its function
    types refer to its exported types, which ``[constructor]acc`` and the like need)::

        (component
          (import "import-type-acc" (type (;0;) (sub resource)))
          (import "import-func-0" (func (;0;) (type ...own 0...)))
          (export (;1;) "acc" (type 0))
          (export "[constructor]acc" (func 0) (func (type ...own 1...))))

    Its bytes and the instantiation arguments (``types``: the outer component's type writer)."""
    inner = _Out({})
    it = _Types(inner)
    args: list[T.InstantiateArg] = []
    tnames = [(n, x) for n, x in _types_first(ty.exports) if x.sort == "type"]
    funcs = [(n, x) for n, x in ty.exports.items() if x.sort == "func"]
    imported: dict[str, int] = {}
    for n, x in tnames:
        r = peel(x.referenced)
        bound = T.TypeBound(None) if id(r) in res_ids or isinstance(r, Res) else T.TypeBound(it.val(x.ty))
        idx = inner.add(10, T.Import(T.ExternName(f"import-type-{n}"), T.ExternDesc("type", bound)), "type")
        it.memo[id(r)] = imported[n] = idx
        for obj in _chain(x.ty):            # later types refer to the import, not to its definition
            it.memo[id(obj)] = idx
        args.append(T.InstantiateArg(f"import-type-{n}", "type", types.val(x.ty)))
    ifuncs = []
    for k, (n, x) in enumerate(funcs):
        ft = it.func(x.ty)
        ifuncs.append(inner.add(10, T.Import(T.ExternName(f"import-func-{k}"), T.ExternDesc("func", ft)), "func"))
        args.append(T.InstantiateArg(f"import-func-{k}", "func", lifted[n]))
    et = _Types(inner)
    for n, x in ty.exports.items():         # the used types (and resources) in the interface's order
        if x.sort == "type" and (id(peel(x.referenced)) in res_ids or types.is_imported(x.ty)):
            idx = inner.add(11, T.Export(T.ExternName(n), "type", imported[n]), "type")
            et.memo[id(peel(x.referenced))] = et.memo[id(x.ty)] = idx
    for n, x in tnames:                     # its own types: defined on the exported ones, exported
        if id(peel(x.referenced)) not in et.memo:
            idx = inner.add(11, T.Export(T.ExternName(n), "type", et.val(peel(x.referenced))), "type")
            for obj in _chain(x.ty):
                et.memo[id(obj)] = idx
    for (n, x), f in zip(funcs, ifuncs):
        inner.add(11, T.Export(T.ExternName(n), "func", f, T.ExternDesc("func", et.func(x.ty))), "func")
    return _encode_sections(inner.sections), tuple(args)


def _encode_sections(sections: list[tuple[int, list]]) -> bytes:
    """A component (preamble included) of these sections; a section 4 item is a component's bytes."""
    body = b""
    run = Component()
    for sid, items in sections + [(-1, [])]:
        if sid in (4, -1):
            body += run.encode()[len(COMPONENT_PREAMBLE):]
            run = Component()
            body += b"".join(_section(4, x) for x in items)
        else:
            run.add_section(sid, items)
    return COMPONENT_PREAMBLE + body


def _section(sid: int, payload: bytes) -> bytes:
    return bytes((sid,)) + write_u(len(payload)) + payload


#: the sections an import prefix may hold: custom, alias, type, import
_PREFIX_SECTIONS = (0, 6, 7, 10)


def _import_prefix(source: Component) -> tuple[bytes, dict[str, int], dict[str, tuple[str, int]]]:
    """The input's leading type/import/alias sections (raw bytes), the index-space counts they
    define, and ``{import name: (sort, index)}``."""
    counts: dict[str, int] = {}
    names: dict[str, tuple[str, int]] = {}
    raw = b""
    for i, sec in enumerate(source.sections):
        if sec.id not in _PREFIX_SECTIONS:
            break
        if sec.id == 0:
            continue
        items = source.section_items(i)
        if sec.id == 6 and not all(a.sort == "type" for a in items):
            break
        for it in items:
            sort = "type" if sec.id == 7 else it.sort if sec.id == 6 else it.desc.sort
            if sec.id == 10:
                names[it.name.name] = (sort, counts.get(sort, 0))
            counts[sort] = counts.get(sort, 0) + 1
        raw += bytes(sec.raw)
    missing = [im.name.name for im in source.imports if im.name.name not in names]
    if missing:
        raise FuseError(f"--emit component: the import `{missing[0]}` is not in the leading import sections "
                        "of the input (use --emit core)")
    return raw, counts, names


def _shim_modules(slots: list[FuncType]) -> tuple[Module, Module]:
    """The shim (a table, one ``call_indirect`` trampoline per slot: a shimmed import of the fused
    module or a resource destructor, exported as ``"0"``, ``"1"``, ...) and the fixup (imports the
    table and the real functions, fills it)."""
    n = len(slots)
    shim, fix = Module(), Module()
    shim.tables.append(Table(TableType(FUNCREF, Limits(n, n))))
    fix.imports.append(Import("", "$imports", ExternKind.TABLE, TableType(FUNCREF, Limits(n, n))))
    for k, ft in enumerate(slots):
        shim.types.append(RecGroup((SubType(ft),)))
        fix.types.append(RecGroup((SubType(ft),)))
        code = [Instr.make("local.get", j) for j in range(len(ft.params))]
        code += [Instr.make("i32.const", k), Instr.make("call_indirect", k, 0)]
        shim.funcs.append(k)
        shim.code.append(FuncBody.from_instrs([], code))
        shim.exports.append(Export(str(k), ExternKind.FUNC, k))
        fix.imports.append(Import("", str(k), ExternKind.FUNC, k))
    shim.exports.append(Export("$imports", ExternKind.TABLE, 0))
    if n:
        fix.elems.append(Elem("active", 0, ConstExpr.i32(0), FUNCREF, tuple(range(n))))
    return shim, fix


def _lower_host(out: _Out, hi: HostImport, names: dict[str, tuple[str, int]], opts: tuple | None) -> int:
    """The core func of a remaining import: ``canon lower`` (or ``canon resource.drop``)."""
    f = hi.func
    if f.module:
        inst = names.get(f.module)
        if inst is None or inst[0] != "instance":
            raise FuseError(f"--emit component: no imported instance `{f.module}`")
        if f.resource is not None:
            return out.canon("resource.drop", (out.alias("type", inst[1], f.resource.name),))
        func = out.alias("func", inst[1], f.name)
    else:
        key = f.resource.name if f.resource is not None else f.name
        ent = names.get(key)
        if ent is None:
            raise FuseError(f"--emit component: no import `{key}`")
        if f.resource is not None:
            return out.canon("resource.drop", (ent[1],))
        func = ent[1]
    return out.canon("lower", (func,), opts)


def _host_imports(core: Module, p: Plan) -> list[tuple[int, HostImport]]:
    """``(import index, HostImport)`` for every import of the fused module."""
    hosts = {(h.module, h.core_name): h for h in p.host}
    out = []
    for i, imp in enumerate(core.imports):
        if imp.module == OUT_MODULE:
            continue
        hi = hosts.get((imp.module, imp.name))
        if hi is None or imp.kind != ExternKind.FUNC:
            raise FuseError(f"--emit component: the fused module imports `{imp.module}` `{imp.name}`")
        out.append((i, hi))
    return out


def _needs_memory(hi: HostImport) -> bool:
    return hi.options.memory is not None or hi.options.realloc is not None


def _resources(out: _Out, bnd: Boundary, shim_inst: int, first: int) -> tuple[list[int], list[T.CoreExport]]:
    """The output's resource types (destructor: shim slot ``first + K``) and the core exports of
    their ``canon resource.new|rep|drop`` (:mod:`.boundary`'s ``fuse:out`` imports)."""
    types, exps = [], []
    for k in range(len(bnd.resources)):
        dtor = out.alias("core func", shim_inst, str(first + k))
        types.append(out.add(7, T.ResourceType(I32, dtor), "type"))
    for k, ty in enumerate(types):
        for op in ("new", "rep", "drop"):
            exps.append(T.CoreExport(f"resource.{op}{k}", 0, out.canon(f"resource.{op}", (ty,))))
    return types, exps


def _imports(out: _Out, core: Module, p: Plan, names: dict[str, tuple[str, int]],
             bnd: Boundary) -> tuple[int, list[int]]:
    """Instantiate the fused module (index 0) with the remaining imports lowered; shim (1) and
    fixup (2) for the lowerings that need the fused instance's memory or realloc, and for the
    destructors of the exported resources. The fused instance and the resource types."""
    funcs = _host_imports(core, p)
    shimmed = [(i, hi) for i, hi in funcs if _needs_memory(hi)]
    nres = len(bnd.resources)
    shim_inst = out.core_instance(T.CoreInstantiate(1, ())) if shimmed or nres else -1
    slot = {i: k for k, (i, _) in enumerate(shimmed)}
    groups: dict[str, list[T.CoreExport]] = {}
    res_types: list[int] = []
    if nres:
        res_types, groups[OUT_MODULE] = _resources(out, bnd, shim_inst, len(shimmed))
    for i, hi in funcs:
        cf = out.alias("core func", shim_inst, str(slot[i])) if i in slot else _lower_host(out, hi, names, ())
        groups.setdefault(hi.module, []).append(T.CoreExport(hi.core_name, 0, cf))
    args = tuple(T.CoreArg(mod, out.core_instance(T.CoreInstanceExports(tuple(exps))))
                 for mod, exps in groups.items())
    fused = out.core_instance(T.CoreInstantiate(0, args))
    if not shimmed and not nres:
        return fused, res_types
    option_names = host_option_names(p)
    fixed = [T.CoreExport("$imports", 1, out.alias("core table", shim_inst, "$imports"))]
    for k, (_, hi) in enumerate(shimmed):
        opts = [T.CanonOption(hi.options.encoding)]
        if hi.options.memory is not None:
            opts.append(T.CanonOption("memory", out.alias("core memory", fused, option_names[hi.options.memory])))
        if hi.options.realloc is not None:
            opts.append(T.CanonOption("realloc", out.alias("core func", fused, option_names[hi.options.realloc])))
        fixed.append(T.CoreExport(str(k), 0, _lower_host(out, hi, names, tuple(opts))))
    for k in range(nres):
        fixed.append(T.CoreExport(str(len(shimmed) + k), 0, out.alias("core func", fused, f"fuse:dtor{k}")))
    out.core_instance(T.CoreInstantiate(2, (T.CoreArg("", out.core_instance(T.CoreInstanceExports(tuple(fixed)))),)))
    return fused, res_types


def wrap(core: Module, p: Plan, source: Component, bnd: Boundary | None = None) -> Component:
    """The component around ``core`` (the fused module of plan ``p`` of the composition ``source``;
    ``bnd``: its exported resources, as :func:`.build.build_inputs` was given them, and the
    evaluated component whose exports are the world's when it is not ``source``: several inputs,
    ``source`` the one whose imports are the world's)."""
    try:
        top = bnd.top if bnd is not None and bnd.top is not None else evaluate(source)
    except ValidationError as e:
        raise FuseError(str(e)) from None
    bnd = bnd or Boundary()
    prefix, counts, names = _import_prefix(source) if source.imports else (b"", {}, {})
    out = _Out(counts)
    modules = [core]
    slots = [core.func_type(i) for i, hi in _host_imports(core, p) if _needs_memory(hi)]
    slots += [FuncType((I32,), ())] * len(bnd.resources)
    if slots:
        modules += list(_shim_modules(slots))
    fused, res_types = _imports(out, core, p, names, bnd)
    types = _Types(out)
    for r, ty in zip(bnd.types, res_types):
        types.memo[id(r)] = ty
    types.name_imports(top, names)
    _name_types(out, types, top, names)
    _exports(out, core, p, top, fused, types, {id(r) for r in bnd.types})
    body = _encode_sections(out.sections)[len(COMPONENT_PREAMBLE):]
    mods = b"".join(_section(1, m.encode()) for m in modules)
    result = parse_component(COMPONENT_PREAMBLE + prefix + mods + body)
    check_output(result)
    return result


def check_output(comp: Component) -> None:
    """Raise FuseError unless the output component passes wasmweld's own component checks and
    every record, variant, enum, flags or resource its exports use is named first (imported, or
    exported before: the instance's own type exports), as a validator requires::

        (type $p (record (field "x" u32)))
        (instance $i (export "f" (func $f)))        ;; f takes $p, which no import or export names:
        (export "api" (instance $i))                ;; "instance not valid to be used as export"

    (an internal error of ``--emit component``: no invalid component is written)."""
    from ..component.validation import own_problems

    try:
        comp.decode_all(modules=False)
        problems = own_problems(comp)
        top = evaluate(comp)
    except ValidationError as e:
        problems = [str(e)]
    if not problems:
        named: set[int] = set()
        for ent in top.imports.values():
            tys = [x.ty for x in ent.ty.exports.values() if x.sort == "type"] if isinstance(ent.ty, InstT) \
                else [ent.ty] if ent.sort == "type" else []
            named.update(id(peel(t)) for t in tys)
        made = _instantiated(comp)
        problems = [p for name, ent in top.exports.items()
                    for p in _unnamed(name, ent, named, made.get(name, False))][:1]
    if problems:
        raise FuseError(f"--emit component wrote an invalid component (internal error): {problems[0]}")


def _instantiated(comp: Component) -> dict[str, bool]:
    """``{export name: True}`` for the instances exported that a component instantiation made (its
    type exports are new types; an instance of exports re-exports the types themselves)."""
    space: list[bool] = []
    out: dict[str, bool] = {}
    for sid, item in comp.items():
        if sid == 10 and item.desc.sort == "instance" or sid == 6 and item.sort == "instance":
            space.append(False)
        elif sid == 5:
            space.append(isinstance(item, T.ComponentInstantiate))
        elif sid == 11 and item.sort == "instance":
            out[item.name.name] = made = item.index < len(space) and space[item.index]
            space.append(made)
    return out


def _unnamed(where: str, ent: Any, named: set[int], fresh: bool = False) -> list[str]:
    """What the export ``ent`` uses before a name for it exists (``named``: ids of named types,
    extended by its type exports in order; ``fresh``: its type exports are new types)."""
    if ent.sort == "type":
        t = peel(ent.ty)
        bad = [] if _is_named(ent.ty, named) else _unnamed_in(_parts(t), named)
        named.add(id(ent.ty) if fresh else id(t))
        return [f"the type `{where}` uses {b}" for b in bad]
    if ent.sort == "func" and isinstance(ent.ty, FuncT):
        parts = [x for _, x in ent.ty.params] + ([ent.ty.result] if ent.ty.result is not None else [])
        return [f"the function `{where}` uses {b}" for b in _unnamed_in(parts, named)]
    if ent.sort == "instance" and isinstance(ent.ty, InstT):
        return [p for n, x in ent.ty.exports.items() for p in _unnamed(f"{where}` `{n}", x, named, fresh)]
    return []


def _is_named(t: Any, named: set[int]) -> bool:
    return any(id(x) in named for x in _chain(t))


def _unnamed_in(parts: list[Any], named: set[int]) -> list[str]:
    """The first named-kind type among ``parts`` (anonymous types looked into) not in ``named``."""
    todo = [(x, 0) for x in parts]
    while todo:
        x, depth = todo.pop()
        t = peel(x)
        if isinstance(t, str) or t is None or _is_named(x, named):
            continue
        if isinstance(t, Res) or (isinstance(t, Def) and t.kind in _NAMED_KINDS):
            what = "a resource" if isinstance(t, Res) else f"a {t.kind}"
            return [f"{what} that no import or earlier export names"]
        if depth < MAX_TYPE_DEPTH:
            todo += [(y, depth + 1) for y in _parts(t)]
    return []


def _name_types(out: _Out, types: _Types, top: Any, imported: dict[str, tuple[str, int]]) -> None:
    """Records, variants, enums and flags the world-level exported functions use must be named
    types; as wit-component names a world's own types, each is imported with an ``eq`` bound
    (nothing to supply; ``wasm-tools component wit`` prints it as the world's type)::

        (type $r (record (field "a" u32) (field "s" string)))
        (import "pair" (type $pair (eq $r)))            ;; used by the function types
    """
    names = _type_names(top)
    needed: list[Def] = []
    for ent in top.exports.values():
        if ent.sort == "func" and isinstance(ent.ty, FuncT):
            needed += [d for d in _named_defs(ent.ty, names) if d not in needed]
    for d in needed:                     # dependencies first: each refers to the imported ones
        tn = names[_skey(d)]
        if id(d) in types.imported:                     # an imported type (or instance's type export)
            continue
        if imported.get(tn, ("", 0))[0] == "type":      # the input imports it already (copied)
            types.memo[id(d)] = imported[tn][1]
            continue
        bound = T.TypeBound(types.val(d))
        types.memo[id(d)] = out.add(10, T.Import(T.ExternName(tn), T.ExternDesc("type", bound)), "type")


def _exports(out: _Out, core: Module, p: Plan, top: Any, fused: int, types: _Types, res_ids: set[int]) -> None:
    """The lifted exports of the composition (functions, or instances of functions and types);
    ``res_ids``: the ``id`` of each exported resource's ``Res``."""
    core_names = {e.name for e in core.exports}
    option_names = lift_option_names(p)        # each component's exports: its memory and realloc

    def core_item(sort: str, name: str) -> int:
        if name not in core_names:
            raise FuseError(f"--emit component: the fused module does not export `{name}`")
        return out.alias(sort, fused, name)

    def lift(core_name: str, ft: FuncT) -> int:
        lifted = p.exports[core_name]
        opts = [T.CanonOption(lifted.options.encoding)]
        if lifted.options.memory is not None:
            opts.append(T.CanonOption("memory", core_item("core memory", option_names[("memory", lifted.options.memory)])))
        if lifted.options.realloc is not None:
            opts.append(T.CanonOption("realloc", core_item("core func", option_names[("realloc", lifted.options.realloc)])))
        if lifted.options.post_return is not None:
            opts.append(T.CanonOption("post-return", core_item("core func", f"cabi_post_{core_name}")))
        func = core_item("core func", core_name)
        return out.canon("lift", (func, types.func(ft)), tuple(opts))

    for name, ent in top.exports.items():
        if ent.sort == "func" and isinstance(ent.ty, FuncT) and name in p.exports:
            out.add(11, T.Export(T.ExternName(name), "func", lift(name, ent.ty)), "func")
        elif ent.sort == "instance" and isinstance(ent.ty, InstT):
            items = []
            for n, x in _types_first(ent.ty.exports):
                if x.sort == "type":
                    items.append(T.Export(T.ExternName(n), "type", types.val(x.ty)))
                elif x.sort == "func" and f"{name}#{n}" in p.exports:
                    items.append(T.Export(T.ExternName(n), "func", lift(f"{name}#{n}", x.ty)))
                else:
                    raise FuseError(f"--emit component: cannot export `{name}` `{n}` ({x.sort})")
            if any(x.sort == "type" and (id(peel(x.referenced)) in res_ids or types.is_imported(x.ty))
                   for x in ent.ty.exports.values()):
                data, args = _shim_component(ent.ty, res_ids, types, {e.name.name: e.index for e in items
                                                                       if e.sort == "func"})
                shim = out.add(4, data, "component")
                inst = out.add(5, T.ComponentInstantiate(shim, args), "instance")
            else:
                inst = out.add(5, T.InstanceExports(tuple(items)), "instance")
            types.name_exported(ent.ty, out.add(11, T.Export(T.ExternName(name), "instance", inst), "instance"))
        else:
            raise FuseError(f"--emit component: cannot export `{name}` ({ent.sort})")


_NAMED_KINDS = ("record", "variant", "enum", "flags")


def _types_first(exports: dict[str, Any]) -> list[tuple[str, Any]]:
    """An exported instance's exports, each type export after the type exports its definition uses
    (a type must be named before a type or function refers to it: ``use types.{shape, point}``
    lists ``shape`` first), the other exports after them in their order."""
    tnames = {id(peel(x.ty)): n for n, x in exports.items() if x.sort == "type"}
    done: dict[str, Any] = {}

    def visit(n: str, x: Any, depth: int) -> None:
        if n in done or depth > MAX_TYPE_DEPTH:
            return
        done[n] = None                              # before the parts: a cycle cannot recurse
        todo = [(d, depth) for d in _parts(peel(x.ty))]
        while todo:
            d, k = todo.pop()
            m = tnames.get(id(peel(d)))
            if m is not None:
                visit(m, exports[m], depth + 1)
            elif k < MAX_TYPE_DEPTH:                 # an anonymous list<point>, option<shape>, ...
                todo += [(y, k + 1) for y in _parts(peel(d))]
        done.pop(n)
        done[n] = x

    for n, x in exports.items():
        if x.sort == "type":
            visit(n, x, 0)
    return list(done.items()) + [(n, x) for n, x in exports.items() if x.sort != "type"]


def _skey(t: Any, depth: int = 0) -> Any:
    """A structural key of a value type (instantiation copies types: identity does not survive)."""
    if depth > MAX_TYPE_DEPTH:
        raise FuseError("--emit component: value type nesting too deep")
    t = peel(t)
    if t is None or isinstance(t, str):
        return t
    if not isinstance(t, Def):
        return ("?", id(t))                       # resources: by identity
    d = t.data
    if t.kind in ("record", "variant"):
        return (t.kind, tuple((n, _skey(x, depth + 1)) for n, x in d))
    if t.kind in ("tuple", "result"):
        return (t.kind, tuple(_skey(x, depth + 1) for x in d))
    if t.kind in ("list", "option"):
        return (t.kind, _skey(d, depth + 1))
    if t.kind in ("flags", "enum", "prim"):
        return (t.kind, tuple(d) if isinstance(d, (list, tuple)) else d)
    return (t.kind, id(t))


def _type_names(top: Any) -> dict[Any, str]:
    """``{structural key: name}`` for the records, variants, enums and flags the composition's
    instances export by name (the names a function type of the output must export them under)."""
    names: dict[Any, str] = {}
    for n, e in top.imports.items():
        if e.sort == "type" and isinstance(e.referenced, Def) and e.referenced.kind in _NAMED_KINDS:
            names.setdefault(_skey(e.referenced), n)
    for inst in top.instances:
        for n, e in getattr(inst, "exports", {}).items():
            if e.sort == "type" and isinstance(e.referenced, Def) and e.referenced.kind in _NAMED_KINDS:
                names.setdefault(_skey(e.referenced), n)
    return names


def _chain(t: Any) -> list[Any]:
    """``t`` and the types its Alias chain names, to the end."""
    out = [t]
    while isinstance(t, Alias) and len(out) < MAX_TYPE_DEPTH:
        t = t.target
        out.append(t)
    return out


def _parts(t: Any) -> list[Any]:
    """The value types a Def's definition refers to directly (a handle: its resource)."""
    if not isinstance(t, Def) or t.kind == "prim":
        return []
    d = t.data
    if t.kind in ("record", "variant"):
        return [x for _, x in d if x is not None and not isinstance(x, str)]
    if t.kind in ("tuple", "result"):
        return [x for x in d if x is not None and not isinstance(x, str)]
    return [d] if t.kind in ("list", "option", "own", "borrow") and not isinstance(d, str) else []


def _named_defs(t: Any, names: dict[Any, str], depth: int = 0) -> list[Def]:
    """The named Defs ``t`` (a FuncT or value type) uses, each after those it uses itself."""
    if depth > MAX_TYPE_DEPTH:
        raise FuseError("--emit component: value type nesting too deep")
    if isinstance(t, FuncT):
        parts: list = [x for _, x in t.params] + [t.result]
    else:
        t = peel(t)
        if not isinstance(t, Def) or t.kind == "prim":
            return []
        d = t.data
        parts = [x for _, x in d] if t.kind in ("record", "variant") else \
            list(d) if t.kind in ("tuple", "result") else [d] if t.kind in ("list", "option") else []
    out: list[Def] = []
    for x in parts:
        if x is not None and not isinstance(x, str):
            out += [y for y in _named_defs(x, names, depth + 1) if y not in out]
    if isinstance(t, Def) and _skey(t) in names and t not in out:
        out.append(t)
    return out
