"""Import rewiring: rename, resolve to a function of the same module, stub, list the uncalled.

::

    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (type $w)))   ;; func 3
    (func $capture (type $w) ...)                                              ;; func 7

    resolve_import(m, "wasi_snapshot_preview1", "fd_write", "capture")
    ;; the import is gone; every `call $fd_write` now calls $capture; functions
    ;; after it move down by one (the renumbering re-encoder rewrites every reference)

    stub_imports(m, "go")            ;; every import from module "go" becomes a defined
                                     ;; function of the same type whose body is `unreachable`
    stub_imports(m, "env", "abort", mode="default")   ;; ... or returns zeros / nulls

    rename_import(m, "env", "memory", new_module="js")
    list_uncalled_imports(m)         ;; imported functions no code, export, element or start refers to

Resolving checks that the two function types are equal. Stubbing works for
every kind: a function becomes a body, a global a defined global with the
default value (same mutability), a memory, table or tag a defined one of the
same type. Stubbed items are placed first among the defined items of their
space, so defined items keep their indices and only the imports after a
stubbed one move. ``name``-section names follow their items.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from wasmweld.binary.instr import Instr
from wasmweld.binary.reencode import IndexMaps, renumber
from wasmweld.errors import EditError, WasmError
from wasmweld.module import ConstExpr, FuncBody, Global, Import, Module, Table, Tag
from wasmweld.passes.common import FuncLookup, FuncRef, default_instrs
from wasmweld.types import ExternKind
from wasmweld.passes.result import PassResult

__all__ = ["run_rename_import", "run_resolve_import", "run_stub_imports", "run_list_uncalled_imports", "rename_import", "resolve_import", "resolve_imports", "stub_imports", "list_uncalled_imports"]

_SPACE = {ExternKind.FUNC: "func", ExternKind.TABLE: "table", ExternKind.MEMORY: "memory",
          ExternKind.GLOBAL: "global", ExternKind.TAG: "tag"}


def _find_import(m: Module, module: str, name: str) -> tuple[int, Import, int]:
    """(position in the import list, the Import, its index in its own space)."""
    counts = {k: 0 for k in ExternKind}
    for pos, imp in enumerate(m.imports):
        if imp.module == module and imp.name == name:
            return pos, imp, counts[imp.kind]
        counts[imp.kind] += 1
    raise EditError(f"unknown import {module!r} {name!r}")


def rename_import(m: Module, module: str, name: str, *, new_module: str | None = None,
                  new_name: str | None = None) -> Import:
    """Give import ``module name`` a new module and/or name; returns the new Import."""
    if new_module is None and new_name is None:
        raise EditError(f"rename of import {module!r} {name!r}: give a new module or a new name")
    pos, imp, _ = _find_import(m, module, name)
    nm = imp.module if new_module is None else new_module
    nn = imp.name if new_name is None else new_name
    if (nm, nn) == (imp.module, imp.name):
        return imp
    for other in m.imports:
        if other.module == nm and other.name == nn:
            raise EditError(f"import name clash: {nm!r} {nn!r} is already imported")
    new = Import(nm, nn, imp.kind, imp.desc)
    m.imports[pos] = new
    return new


def _drop_func_names(m: Module, indices) -> None:
    """Remove name-section entries (function, local and label names) of functions ``indices``."""
    try:
        ns = m.names
    except WasmError:
        return
    if ns is None:
        return
    changed = False
    for attr in ("funcs", "locals", "labels"):
        d = getattr(ns, attr)
        for i in indices:
            if i in d:
                del d[i]
                changed = True
    if changed:
        m.names = ns


def resolve_imports(m: Module, targets: dict[tuple[str, str], FuncRef]) -> Module:
    """Resolve each function import ``(module, name) -> target function`` (one renumbering for all).

    Returns the renumbered module (the input is not usable afterwards).
    """
    lookup = FuncLookup(m)
    removed: dict[int, int] = {}        # import func index -> target old index
    positions = []
    for (module, name), target in targets.items():
        pos, imp, fidx = _find_import(m, module, name)
        if imp.kind != ExternKind.FUNC:
            raise EditError(f"import {module!r} {name!r} is a {imp.kind}: only function imports can be resolved")
        tidx = lookup.find(target, "function", f"target of import {module!r} {name!r}")
        if tidx == fidx:
            raise EditError(f"import {module!r} {name!r} cannot be resolved to itself")
        a, b = m.func_type(fidx), m.func_type(tidx)
        if a != b:
            raise EditError(f"type mismatch: import {module!r} {name!r} has type {a}, but {lookup.label(tidx)} "
                            f"has type {b}")
        removed[fidx] = tidx
        positions.append(pos)
    # chains (an import resolved to another resolved import) end at a kept function
    final: dict[int, int] = {}
    for f, t in removed.items():
        seen = {f}
        while t in removed:
            if t in seen:
                raise EditError("import resolution forms a cycle")
            seen.add(t)
            t = removed[t]
        final[f] = t
    n = m.num_funcs
    shift = []
    gone = 0
    for i in range(n):
        shift.append(i - gone)
        if i in final:
            gone += 1
    fmap = [shift[final[i]] if i in final else shift[i] for i in range(n)]
    _drop_func_names(m, final)
    for pos in sorted(positions, reverse=True):
        del m.imports[pos]
    return renumber(m, IndexMaps(func=fmap))


def resolve_import(m: Module, module: str, name: str, target: FuncRef) -> Module:
    """Resolve one function import to ``target`` (see :func:`resolve_imports`)."""
    return resolve_imports(m, {(module, name): target})


def _stub_func_body(m: Module, imp: Import, fidx: int, mode: str) -> FuncBody:
    ft = m.func_type(fidx)
    if mode == "trap":
        return FuncBody.from_instrs([], [Instr.make("unreachable")])
    body = []
    for i, vt in enumerate(ft.results):
        body += default_instrs(vt, f"result {i} of import {imp.module!r} {imp.name!r}")
    return FuncBody.from_instrs([], body)


def stub_imports(m: Module, module: str, name: str | None = None, *, mode: str = "trap") -> Module:
    """Replace imports from ``module`` (all, or those whose name matches the glob ``name``) by
    definitions: functions that trap (``mode="trap"``) or return default values (``"default"``),
    globals with default values, and memories/tables/tags of the same type.

    Returns the renumbered module.
    """
    if mode not in ("trap", "default"):
        raise EditError(f"stub mode must be 'trap' or 'default', not {mode!r}")
    chosen: list[tuple[int, Import, int]] = []
    counts = {k: 0 for k in ExternKind}
    for pos, imp in enumerate(m.imports):
        if imp.module == module and (name is None or fnmatchcase(imp.name, name)):
            chosen.append((pos, imp, counts[imp.kind]))
        counts[imp.kind] += 1
    if not chosen:
        what = f"module {module!r}" if name is None else f"{module!r} {name!r}"
        raise EditError(f"no import matches {what}")
    new_defs: dict[ExternKind, list] = {k: [] for k in ExternKind}
    for _pos, imp, idx in chosen:
        kind = imp.kind
        where = f"import {imp.module!r} {imp.name!r}"
        if kind == ExternKind.FUNC:
            new_defs[kind].append((imp.desc, _stub_func_body(m, imp, idx, mode)))
        elif kind == ExternKind.GLOBAL:
            init = ConstExpr.from_instrs(default_instrs(imp.desc.val, where))
            new_defs[kind].append(Global(imp.desc, init))
        elif kind == ExternKind.MEMORY:
            new_defs[kind].append(imp.desc)
        elif kind == ExternKind.TABLE:
            if not imp.desc.elem.nullable:
                raise EditError(f"{where} is a table of non-nullable {imp.desc.elem}: it has no default to fill it")
            new_defs[kind].append(Table(imp.desc))
        else:
            new_defs[kind].append(Tag(imp.desc))
    maps = {}
    stubbed = {(imp.kind, idx) for _pos, imp, idx in chosen}
    defined = {ExternKind.FUNC: len(m.funcs), ExternKind.TABLE: len(m.tables), ExternKind.MEMORY: len(m.memories),
               ExternKind.GLOBAL: len(m.globals), ExternKind.TAG: len(m.tags)}
    for kind in ExternKind:
        total_imp = counts[kind]
        if not new_defs[kind]:
            continue
        kept = [i for i in range(total_imp) if (kind, i) not in stubbed]
        moved = [i for i in range(total_imp) if (kind, i) in stubbed]
        space_map = list(range(total_imp + defined[kind]))
        for new, old in enumerate(kept + moved):
            space_map[old] = new
        maps[_SPACE[kind]] = space_map
    for pos in sorted((p for p, _i, _x in chosen), reverse=True):
        del m.imports[pos]
    if new_defs[ExternKind.FUNC]:
        m.funcs[0:0] = [t for t, _b in new_defs[ExternKind.FUNC]]
        m.code[0:0] = [b for _t, b in new_defs[ExternKind.FUNC]]
    if new_defs[ExternKind.GLOBAL]:
        m.globals[0:0] = new_defs[ExternKind.GLOBAL]
    if new_defs[ExternKind.MEMORY]:
        m.memories[0:0] = new_defs[ExternKind.MEMORY]
    if new_defs[ExternKind.TABLE]:
        m.tables[0:0] = new_defs[ExternKind.TABLE]
    if new_defs[ExternKind.TAG]:
        m.tags[0:0] = new_defs[ExternKind.TAG]
    return renumber(m, IndexMaps(func=maps.get("func"), table=maps.get("table"), memory=maps.get("memory"),
                                 global_=maps.get("global"), tag=maps.get("tag")))


def list_uncalled_imports(m: Module) -> list[Import]:
    """Imported functions that nothing refers to (no call, ``ref.func``, export, element, start, global)."""
    from wasmweld.passes.used import collect_references
    refs = collect_references(m)
    out = []
    fidx = 0
    for imp in m.imports:
        if imp.kind == ExternKind.FUNC:
            if fidx not in refs.funcs:
                out.append(imp)
            fidx += 1
    return out


def run_rename_import(m: Module, /, *, module: str, name: str, new_module: str | None = None,
                      new_name: str | None = None) -> PassResult:
    """Pass ``rename-import``: :func:`rename_import` (``module``: the import's module name)."""
    new = rename_import(m, module, name, new_module=new_module, new_name=new_name)
    return PassResult(m, {"renamed": 1}, [f"renamed import {module!r} {name!r} to {new.module!r} {new.name!r}"],
                      value=new)


def run_resolve_import(m: Module, /, *, module: str, name: str, target: FuncRef) -> PassResult:
    """Pass ``resolve-import``: :func:`resolve_import` (a new module)."""
    out = resolve_import(m, module, name, target)
    return PassResult(out, {"resolved": 1}, [f"resolved import {module!r} {name!r} to {target!r}"])


def run_stub_imports(m: Module, /, *, module: str, name: str | None = None, mode: str = "trap") -> PassResult:
    """Pass ``stub-imports``: :func:`stub_imports` (a new module)."""
    before = len(m.imports)
    out = stub_imports(m, module, name, mode=mode)
    n = before - len(out.imports)
    what = f"{module!r}" + (f" {name!r}" if name else "")
    how = "trapping" if mode == "trap" else "default-returning"
    return PassResult(out, {"stubbed": n}, [f"stubbed {n} import(s) of {what} with {how} definitions"])


def run_list_uncalled_imports(m: Module, /) -> PassResult:
    """Pass ``list-uncalled-imports`` (a query: ``listing``, the module unchanged)."""
    found = list_uncalled_imports(m)
    listing = [f"uncalled imports: {len(found)}"] + [f"  {imp.module} {imp.name}" for imp in found]
    return PassResult(m, {"uncalled": len(found)}, listing=listing, value=found)
