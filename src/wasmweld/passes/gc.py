"""Remove unused items: functions, globals, tables, memories, tags, types, element and data segments.

::

    (module
      (import "env" "dead_import" (func))      ;; removed: nothing calls it
      (func $f (export "f") (call $h))
      (func $h)
      (func $dead))                            ;; removed
    ->
    (module (func $f (export "f") (call $h)) (func $h))

What is used comes from :func:`wasmweld.passes.used.analyze` (roots: exports,
start, active segments, plus ``roots``). Everything else goes, imports
included (``keep_imports=True`` keeps every import); then every index space is
renumbered in one pass of the re-encoder (references to a removed item would
raise :class:`~wasmweld.errors.EditError` rather than produce a broken module).
Declarative element segments keep only the functions that are still used
(and disappear when none are, unless ``elem.drop`` names them).

Private tables (defined, not exported) are pruned by type (``prune_tables``,
on by default, as binaryen does): a function that only such a table holds is
kept only if a kept ``call_indirect`` of a matching type reads that table (or
something reads it otherwise: ``table.get``, ``table.copy``...); its entries
become ``ref.null func``. A ``call_indirect`` of another type traps on that
entry either way (a null entry instead of a signature mismatch). The name
section follows (names of removed items are dropped); the data count follows
the data segments. Sections gc does not change are copied byte for byte.

Relocatable object files (a ``linking`` section) are refused: their symbol
tables name function indices that gc would invalidate. DWARF (``.debug_*``)
describes code offsets: ``GcResult.maps`` says where each index went, and the
edit pipeline (:func:`~wasmweld.passes.registry.apply_ops`) rebases the DWARF
with them (:mod:`wasmweld.dwarf.edits`).
"""

from __future__ import annotations

from ..record import field, record
from typing import Any, Iterable

from wasmweld.binary.reencode import IndexMaps, renumber
from wasmweld.binary.instr import Instr
from wasmweld.errors import EditError, WasmError
from wasmweld.module import ConstExpr, Elem, FuncBody, Module
from wasmweld.passes.used import SPACES, CodeView, Used, analyze, ref_func_index, subtype_types
from wasmweld.types import ExternKind
from wasmweld.passes.result import PassResult

__all__ = ["run_gc", "remove_unused", "gc", "GcResult"]

_EXTERN_SPACES = tuple(k.space.value for k in ExternKind)


@record
class GcResult:
    module: Module
    removed: dict[str, int] = field(default_factory=dict)   # space -> how many removed
    kept: dict[str, int] = field(default_factory=dict)      # space -> how many remain
    warnings: list[str] = field(default_factory=list)
    maps: IndexMaps | None = None       # how the indices moved (None: nothing removed)

    def summary(self) -> str:
        parts = [f"{n} {space}{'s' if n != 1 else ''}" for space, n in self.removed.items() if n]
        return "gc removed " + (", ".join(parts) if parts else "nothing")


def remove_unused(module: Module, *, roots: Iterable[Any] | None = None, keep_imports: bool = False,
                  prune_tables: bool = True) -> Module:
    """The module without the items nothing uses (see the module docstring)."""
    return gc(module, roots=roots, keep_imports=keep_imports, prune_tables=prune_tables).module


def _index_map(keep: list[bool]) -> list[int | None]:
    out: list[int | None] = []
    n = 0
    for k in keep:
        if k:
            out.append(n)
            n += 1
        else:
            out.append(None)
    return out


def gc(module: Module, *, roots: Iterable[Any] | None = None, keep_imports: bool = False,
       prune_tables: bool = True) -> GcResult:
    """Like :func:`remove_unused`, with what was removed."""
    result, maps = gc_plan(module, roots=roots, keep_imports=keep_imports, prune_tables=prune_tables)
    if maps is not None:
        result.module = renumber(result.module, maps)
        result.maps = maps
    return result


def gc_plan(module: Module, *, roots: Iterable[Any] | None = None, keep_imports: bool = False,
            prune_tables: bool = True, code: CodeView | None = None) -> tuple[GcResult, IndexMaps | None]:
    """:func:`gc` up to the renumbering: the unused items are removed from ``module`` (in place,
    ``result.module``), and the maps that renumber what remains are returned (None: nothing was
    removed). The caller renumbers (merge folds these maps into its own renumbering of the code).
    ``code``: how to read the code (:class:`~wasmweld.passes.used.CodeView`, the module's own by default).

    Steps: analyse (:func:`~wasmweld.passes.used.analyze`), pick the shared trap function
    (:func:`_trap_function`), decide what stays (imports, defined items, segments, whole
    recursion groups), then move the kept items (:func:`_move_items`)."""
    m = module
    if m.custom("linking") is not None:
        raise EditError("gc refuses relocatable object files (the module has a 'linking' section)")
    used: Used = analyze(m, roots=roots, prune_tables=prune_tables, code=code)
    trap = _trap_function(m, used, m.num_imported(ExternKind.FUNC))
    imp_keep, nimp = _kept_imports(m, used, keep_imports)
    defined_lists: dict[str, list[Any]] = {"func": m.funcs, "table": m.tables, "memory": m.memories, "global": m.globals, "tag": m.tags}
    keep_flags: dict[str, list[bool]] = {}
    for space, items in defined_lists.items():
        keep_flags[space] = _keep(used.space(space), nimp[space] + len(items))
    new_elems, keep_flags["elem"], elems_changed = _plan_elems(m, used, trap)
    keep_flags["data"] = _keep(used.datas, len(m.datas))
    keep_flags["type"], new_groups = _plan_types(m, used)

    result = GcResult(m)
    for space in SPACES:
        flags = keep_flags[space]
        result.removed[space] = flags.count(False)
        result.kept[space] = flags.count(True)
    if not any(result.removed.values()):
        return result, None
    maps = {space: _index_map(flags) for space, flags in keep_flags.items()}
    _move_items(m, keep_flags, imp_keep, nimp, defined_lists)
    if result.removed["elem"] or elems_changed:
        m.elems = new_elems
    if result.removed["type"]:
        m.types = new_groups
    return result, IndexMaps(type=maps["type"], func=maps["func"], table=maps["table"], memory=maps["memory"],
                             global_=maps["global"], tag=maps["tag"], elem=maps["elem"], data=maps["data"])


def _keep(used: set[int], n: int) -> list[bool]:
    """Whether each of ``range(n)`` is in ``used`` (a subset of that range)."""
    if len(used) == n and (not used or (min(used) >= 0 and max(used) < n)):
        return [True] * n
    return [i in used for i in range(n)]


def _kept_imports(m: Module, used: Used, keep_imports: bool) -> tuple[list[bool], dict[str, int]]:
    """Which imports stay (all with ``keep_imports``: then they and their types count as used), and the
    number of imports per space."""
    imp_keep: list[bool] = []
    counters = {s: 0 for s in _EXTERN_SPACES}
    for imp in m.imports:
        space = imp.kind.space.value
        idx = counters[space]
        counters[space] += 1
        if keep_imports:
            used.space(space).add(idx)
            if imp.kind == ExternKind.FUNC:
                used.types.add(imp.desc)
            elif imp.kind == ExternKind.TAG:
                used.types.add(imp.desc.type_idx)
        imp_keep.append(keep_imports or idx in used.space(space))
    if keep_imports:
        _close_types(m, used)
    return imp_keep, counters


def _plan_elems(m: Module, used: Used, trap: int | None) -> tuple[list, list[bool], bool]:
    """(the new element segments, keep flag per old segment, whether a kept one changed).

    Declarative segments shrink to the functions still used; an unused segment that names used
    functions becomes declarative (it declares them for ``ref.func``); the entries of a kept active
    segment that no used ``call_indirect`` can reach become the shared trap function (index-encoded
    segments: their encoding is kept) or ``ref.null`` (expression-encoded ones)."""
    new_elems: list = []
    elem_keep: list[bool] = []
    changed = False
    for i, el in enumerate(m.elems):
        if el.mode == "declarative":
            init = tuple(x for x in el.init if _elem_item_used(x, used))
            keep = bool(init) or i in used.elems
            if keep and len(init) != len(el.init):
                el = Elem(el.mode, el.table, el.offset, el.elem_type, init, el.flags)
                changed = True
        elif i not in used.elems:
            declared = _still_declared(el, used)
            keep = bool(declared)
            if keep:
                el = Elem("declarative", 0, None, el.elem_type, declared, None)
                changed = True
        else:
            keep = True
            if el.mode == "active" and not (used.funcs.issuperset(el.init)     # (index-encoded, all used)
                                            or all(_elem_item_used(x, used) for x in el.init)):
                if isinstance(el.init[0], int):
                    init = tuple(x if x in used.funcs else trap for x in el.init)
                else:
                    init = tuple(x if _elem_item_used(x, used) else _NULL_FUNC for x in el.init)
                el = Elem("active", el.table, el.offset, el.elem_type, init, el.flags)
                changed = True
        if keep:
            used.elems.add(i)
            new_elems.append(el)
        elem_keep.append(keep)
    return new_elems, elem_keep, changed


def _plan_types(m: Module, used: Used) -> tuple[list[bool], list]:
    """Keep flags per type index and the kept recursion groups (a group stays whole)."""
    type_keep: list[bool] = []
    new_groups = []
    at = 0
    for rg in m.types:
        keep = any(j in used.types for j in range(at, at + len(rg.types)))
        type_keep.extend([keep] * len(rg.types))
        if keep:
            new_groups.append(rg)
        at += len(rg.types)
    return type_keep, new_groups


def _move_items(m: Module, keep_flags: dict, imp_keep: list[bool], nimp: dict[str, int], defined_lists: dict) -> None:
    """Drop the unkept imports, defined items (with their bodies) and data segments from ``m``."""
    imports = m.imports
    new_imports = [imp for imp, k in zip(imports, imp_keep) if k]
    if len(new_imports) != len(imports):
        m.imports = new_imports
    for space, items in defined_lists.items():
        flags = keep_flags[space][nimp[space]:]
        if all(flags):
            continue
        kept = [it for it, k in zip(items, flags) if k]
        if space == "func":
            m.funcs = kept
            m.code = [b for b, k in zip(m.code, flags) if k]
        else:
            setattr(m, {"table": "tables", "memory": "memories", "global": "globals", "tag": "tags"}[space], kept)
    if not all(keep_flags["data"]):
        m.datas = [d for d, k in zip(m.datas, keep_flags["data"]) if k]
        if m.datacount is not None:
            m.datacount = len(m.datas)


_NULL_FUNC = ConstExpr.ref_null("func")


def _trap_function(m: Module, used: Used, nimp_funcs: int) -> int | None:
    """The function that stands for the unreachable entries of kept index-encoded active segments.

    Such an entry cannot become ``ref.null`` without re-encoding its whole segment as expressions
    (which grows it), so the entry points to one shared function whose body is ``unreachable``
    (a ``call_indirect`` there traps, as on a null entry). It is the unused defined function of
    smallest index among those entries (so no entry's index gets longer), its body replaced and
    its name dropped; its type is kept. Unused imported functions in such entries are kept as
    they are when no defined function can serve. None when there are no such entries.
    """
    candidates = [f for i in used.elems for el in (m.elems[i],)
                  if el.mode == "active" and el.init and isinstance(el.init[0], int)
                  for f in el.init if f not in used.funcs]
    if not candidates:
        return None
    defined = [f for f in candidates if f >= nimp_funcs]
    if not defined:
        for f in candidates:           # imports only: keep them (nothing to replace a body of)
            used.funcs.add(f)
            used.types.add(m.imported(ExternKind.FUNC)[f].desc)
        _close_types(m, used)
        return None
    trap = min(defined)
    used.funcs.add(trap)
    used.types.add(m.funcs[trap - nimp_funcs])
    _close_types(m, used)
    for f in candidates:
        if f < nimp_funcs:             # an import stays in its slot (an entry may not use the trap's index)
            used.funcs.add(f)
            used.types.add(m.imported(ExternKind.FUNC)[f].desc)
    _close_types(m, used)
    m.code[trap - nimp_funcs] = FuncBody.from_instrs([], [Instr.make("unreachable")])
    try:
        names = m.names
    except WasmError:
        names = None
    if names is not None and (trap in names.funcs or trap in names.locals):
        names.funcs.pop(trap, None)
        names.locals.pop(trap, None)
    return trap


def _elem_item_used(item, used: Used) -> bool:
    if isinstance(item, int):
        return item in used.funcs
    # a ConstExpr: ref.func N or ref.null ...; keep unless it is a ref.func of a removed function
    f = ref_func_index(item)
    return f is None or f in used.funcs


def _still_declared(el: Elem, used: Used) -> tuple:
    """The used functions an unused passive or active segment names (it declares them for ``ref.func``)."""
    if not el.init or not isinstance(el.init[0], int):
        found = []
        for item in el.init:
            f = item if isinstance(item, int) else ref_func_index(item)
            if f is not None and f in used.funcs:
                found.append(ConstExpr.ref_func(f) if not isinstance(item, int) else f)
        return tuple(found)
    return tuple(f for f in el.init if f in used.funcs)


def _close_types(m: Module, used: Used) -> None:
    """Add the types reachable from ``used.types`` (recursion groups, fields, supertypes)."""
    types = m.type_list()
    group_of = []
    at = 0
    for rg in m.types:
        for _ in rg.types:
            group_of.append((at, len(rg.types)))
        at += len(rg.types)
    work = list(used.types)
    while work:
        t = work.pop()
        first, size = group_of[t]
        more: set = set()
        for j in range(first, first + size):
            more.add(j)
            subtype_types(types[j], more)
        for j in more:
            if j not in used.types:
                used.types.add(j)
                work.append(j)


def run_gc(module: Module, *, roots: Iterable[Any] | None = None, keep_imports: bool = False,
           prune_tables: bool = True) -> PassResult:
    """Pass ``gc``: :func:`gc`; ``counts`` are the removed items per index space."""
    res = gc(module, roots=roots, keep_imports=bool(keep_imports), prune_tables=prune_tables)
    return PassResult(res.module, dict(res.removed), [res.summary()], list(res.warnings), value=res)
