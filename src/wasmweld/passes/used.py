"""The "used" analysis: which items of a module can be reached from its roots.

::

    (module
      (type $a (func))  (type $b (func (param i32)))
      (global $g i32 (i32.const 1))
      (func $f (export "f") (call $h))
      (func $h)
      (func $dead (param i32) (drop (global.get $g))))

    analyze(m).funcs == {0, 1}      ;; $f (exported) and $h (called by $f)
    analyze(m).types == {0}         ;; $b and $g are only used by $dead

Roots: every export, the start function, every active element and data
segment whose write at instantiation is observable (it targets an imported or
exported table or memory, or it could trap: a non-constant offset or one
beyond the initial size) -- it keeps what it names: its table or memory,
offset expression and functions --, plus any extra ``roots`` (``("func", 3)``,
``(ExternKind.GLOBAL, 0)`` or a function name). Any other active segment is
kept exactly when its table or memory is used (so a private function table
that no kept ``call_indirect`` reads goes, with the functions only it held). From the roots, a worklist follows references: a function uses its
type and everything its body names (calls, ``ref.func``, globals, tables,
memories, tags, types, element and data segments); a global its type and
initialiser; a table its type and initialiser; an element segment its table,
offset and (unless declarative) its functions; a data segment its memory and
offset; a type the other types of its recursion group and the types its
fields, parameters, results and supertypes name.

A declarative element segment only *declares* functions for ``ref.func``: it
keeps no function alive. :func:`collect_references` is the non-transitive
variant: everything referenced from anywhere in the module.

Code bodies are never decoded: :class:`wasmweld.binary.reencode.Scanner` finds
their references (one compiled regular expression skips the instructions that
carry no index), each body once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from wasmweld.binary.leb import read_uN
from wasmweld.binary.reencode import Scanner
from wasmweld.errors import EditError
from wasmweld.module import Module
from wasmweld.types import ArrayType, ExternKind, FuncType, RefType, StructType

__all__ = ["Used", "Refs", "analyze", "collect_references", "body_references", "SPACES"]

SPACES = ("type", "func", "table", "memory", "global", "tag", "elem", "data")
_KIND_SPACE = {ExternKind.FUNC: "func", ExternKind.TABLE: "table", ExternKind.MEMORY: "memory",
               ExternKind.GLOBAL: "global", ExternKind.TAG: "tag"}
_SPACE_ALIASES = {"global_": "global", "function": "func", "functions": "func"}


@dataclass
class Refs:
    """Sets of indices, one per index space."""

    types: set = field(default_factory=set)
    funcs: set = field(default_factory=set)
    tables: set = field(default_factory=set)
    memories: set = field(default_factory=set)
    globals: set = field(default_factory=set)
    tags: set = field(default_factory=set)
    elems: set = field(default_factory=set)
    datas: set = field(default_factory=set)

    _ATTR = {"type": "types", "func": "funcs", "table": "tables", "memory": "memories", "global": "globals",
             "tag": "tags", "elem": "elems", "data": "datas"}

    def space(self, name: str) -> set:
        return getattr(self, self._ATTR[name])

    def merge(self, refs: dict) -> None:
        for space, items in refs.items():
            self.space(space).update(items)


class Used(Refs):
    """The result of :func:`analyze`: the used indices of each space."""

    def counts(self, m: Module) -> dict[str, tuple[int, int]]:
        """space -> (used, total)."""
        totals = {"type": len(m.type_list()), "func": m.num_funcs, "table": m.num_tables,
                  "memory": m.num_memories, "global": m.num_globals, "tag": m.num_tags,
                  "elem": len(m.elems), "data": len(m.datas)}
        return {s: (len(self.space(s)), totals[s]) for s in SPACES}


# ----------------------------------------------------------------------------- body scanning

_SCANNERS: dict[str, Scanner] = {}


def _scanner(which: str = "all") -> Scanner:
    """The shared scanners: every space, or ``"tables"`` (type + table, for call_indirect sites)."""
    sc = _SCANNERS.get(which)
    if sc is None:
        sc = _SCANNERS[which] = Scanner(SPACES if which == "all" else ("type", "table"))
    return sc


def _body_refs(body) -> dict[str, set]:
    """What a :class:`FuncBody` refers to (error offsets absolute while it is the input's body)."""
    return _scanner().body(body.raw, 0 if body.modified else (body.offset or 0))


def _expr_refs(ce) -> dict[str, set]:
    """What a :class:`ConstExpr` (or None) refers to."""
    if ce is None:
        return {}
    return _scanner().const_expr(ce.raw)


def body_references(m: Module, defined_index: int) -> dict[str, set]:
    """Everything the body of defined function ``defined_index`` refers to, by space."""
    return _body_refs(m.code[defined_index])


# ----------------------------------------------------------------------------- types inside types

def _valtype_types(vt, out: set) -> None:
    if isinstance(vt, RefType) and isinstance(vt.heap, int):
        out.add(vt.heap)


def _storage_types(st, out: set) -> None:
    _valtype_types(st, out)


def _subtype_types(st, out: set) -> None:
    out.update(st.supers)
    comp = st.comp
    if isinstance(comp, FuncType):
        for vt in comp.params + comp.results:
            _valtype_types(vt, out)
    elif isinstance(comp, StructType):
        for f in comp.fields:
            _storage_types(f.storage, out)
    elif isinstance(comp, ArrayType):
        _storage_types(comp.field.storage, out)


# ----------------------------------------------------------------------------- the analysis

def _extern_types(kind: ExternKind, desc, out: set) -> None:
    if kind == ExternKind.FUNC:
        out.add(desc)
    elif kind == ExternKind.TAG:
        out.add(desc.type_idx)
    elif kind == ExternKind.GLOBAL:
        _valtype_types(desc.val, out)
    elif kind == ExternKind.TABLE:
        _valtype_types(desc.elem, out)


def _root_items(m: Module, roots) -> list[tuple[str, int]]:
    out = []
    if roots is None:
        return out
    from wasmweld.passes.common import FuncLookup
    lookup = None
    for r in roots:
        if isinstance(r, (str, int)) and not isinstance(r, bool):
            lookup = lookup or FuncLookup(m)
            out.append(("func", lookup.find(r, "function", "gc root")))
            continue
        try:
            space, idx = r
        except (TypeError, ValueError):
            raise EditError(f"gc root {r!r}: expected a function name or a (space, index) pair") from None
        if isinstance(space, ExternKind):
            space = _KIND_SPACE[space]
        space = _SPACE_ALIASES.get(space, space)
        if space not in SPACES:
            raise EditError(f"gc root {r!r}: unknown index space {space!r}")
        out.append((space, idx))
    return out


def _ref_func(ce) -> int | None:
    """N for the constant expression ``ref.func N``, else None."""
    raw = ce.raw
    if raw[:1] != b"\xd2" or raw[-1:] != b"\x0b":
        return None
    try:
        idx, p = read_uN(raw, 1, len(raw), 32)
    except Exception:
        return None
    return idx if p == len(raw) - 1 else None


def _table_min(m: Module, t: int) -> int:
    try:
        return m.table_type(t).limits.min
    except (IndexError, AttributeError):
        return -1


def _mem_min(m: Module, mem: int) -> int:
    try:
        return m.memory_type(mem).limits.min * 65536
    except (IndexError, AttributeError):
        return -1


def _table_accesses(body) -> list[tuple[int, int | None]]:
    """(table, type) for each call_indirect of ``body``; (table, None) for every other table access."""
    out = []
    base = 0 if body.modified else (body.offset or 0)
    for name, pairs in _scanner("tables").sites(body.raw, base):
        if name in ("call_indirect", "return_call_indirect"):
            (_t, ctype), (_s, table) = pairs
            out.append((table, ctype))
        else:
            for space, i in pairs:
                if space == "table":
                    out.append((i, None))
    return out


def analyze(m: Module, *, roots: Iterable | None = None, prune_tables: bool = True,
            body_refs: Callable[[int], dict] | None = None,
            table_accesses: Callable[[int], list] | None = None) -> Used:
    """The items reachable from the module's roots (see the module docstring), plus ``roots``.

    ``prune_tables``: a function that sits only in a private table (defined, not exported)
    is used only if a used ``call_indirect`` of a matching type can reach it, or if the
    table is read some other way (``table.get``, ``table.copy``, ...).

    ``body_refs`` and ``table_accesses`` (given together) answer for the code of defined
    function ``d`` instead of ``m.code[d]``: what its body refers to (``{space: set}``, every
    space) and its table accesses (``[(table, type or None), ...]``). Merge uses them to analyse
    the merged module before its bodies are renumbered (it reads each input's own body and maps
    the answer).
    """
    used = Used()
    work: list[tuple[str, int]] = []
    sets = {s: used.space(s) for s in SPACES}
    totals = {"type": len(m.type_list()), "func": m.num_funcs, "table": m.num_tables, "memory": m.num_memories,
              "global": m.num_globals, "tag": m.num_tags, "elem": len(m.elems), "data": len(m.datas)}

    def mark(space: str, idx: int, why: str = "") -> None:
        s = sets[space]
        if idx not in s:
            if not 0 <= idx < totals[space]:
                raise EditError(f"{why or 'the module'} refers to {space} {idx}, which does not exist "
                                f"({totals[space]} {space}s)")
            s.add(idx)
            work.append((space, idx))

    def mark_all(refs: dict, why: str) -> None:
        for space, items in refs.items():
            for i in items:
                mark(space, i, why)

    imports = {s: [] for s in ("func", "table", "memory", "global", "tag")}
    for imp in m.imports:
        imports[_KIND_SPACE[imp.kind]].append(imp)
    nimp = {s: len(v) for s, v in imports.items()}
    exported = {(_KIND_SPACE[e.kind], e.index) for e in m.exports}

    types = m.type_list()
    # private tables: which function types a used call_indirect can reach through them
    private = {t for t in range(nimp["table"], totals["table"]) if ("table", t) not in exported} \
        if prune_tables else set()
    any_access: set[int] = set()
    typed_access: dict[int, set[int]] = {}
    waiting: dict[int, list[int]] = {}      # private table -> functions of its kept active segments
    type_cache: dict[tuple[int, int], bool] = {}

    def matches(ftype: int, ctype: int) -> bool:
        key = (ftype, ctype)
        hit = type_cache.get(key)
        if hit is None:
            # the function's type or any declared supertype is the called type, or has the same
            # structure (an over-approximation of type equivalence: never drops a callable entry)
            hit = False
            seen = set()
            t = ftype
            while t < len(types) and ctype < len(types) and t not in seen:
                if t == ctype or types[t].comp == types[ctype].comp:
                    hit = True
                    break
                seen.add(t)
                if not types[t].supers:
                    break
                t = types[t].supers[0]
            type_cache[key] = hit
        return hit

    func_imports = imports["func"]
    n_func_imports = nimp["func"]
    func_types = m.funcs
    code = m.code

    def func_type_index(f: int) -> int:
        return func_imports[f].desc if f < n_func_imports else func_types[f - n_func_imports]

    def release(table: int) -> None:
        """Mark the waiting functions of ``table`` its accesses can now reach."""
        funcs = waiting.get(table)
        if not funcs:
            return
        if table in any_access:
            for f in funcs:
                mark("func", f, f"table {table}")
            waiting[table] = []
            return
        ctypes = typed_access.get(table, ())
        rest = []
        reached: dict[int, bool] = {}       # function type -> can a call_indirect of ``ctypes`` reach it
        for f in funcs:
            ft = func_type_index(f)
            hit = reached.get(ft)
            if hit is None:
                hit = reached[ft] = any(matches(ft, c) for c in ctypes)
            if hit:
                mark("func", f, f"table {table}")
            else:
                rest.append(f)
        waiting[table] = rest

    def access(table: int, ctype: int | None) -> None:
        if table not in private or table in any_access:
            return
        if ctype is None:
            any_access.add(table)
        else:
            known = typed_access.setdefault(table, set())
            if ctype in known:
                return
            known.add(ctype)
        release(table)

    for e in m.exports:
        mark(_KIND_SPACE[e.kind], e.index, f"export {e.name!r}")
    if m.start is not None:
        mark("func", m.start, "the start section")
    # Active segments write at instantiation. One that targets an imported or exported table or
    # memory, or that could trap (offset not constant, or beyond the initial size), is observable:
    # a root. Any other one only matters if its table or memory is used: it waits for that.
    pending: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for space, segs, target, limit in (("elem", m.elems, "table", _table_min), ("data", m.datas, "memory", _mem_min)):
        for i, seg in enumerate(segs):
            if seg.mode != "active":
                continue
            t = seg.table if space == "elem" else seg.memory
            off = seg.offset.int_value if seg.offset is not None else None
            size = len(seg.init)
            observable = (t < nimp[target] or (target, t) in exported or off is None or off < 0
                          or off + size > limit(m, t))
            if observable:
                mark(space, i, f"active {space} segment {i}")
            else:
                pending.setdefault((target, t), []).append((space, i))
    for space, idx in _root_items(m, roots):
        mark(space, idx, "a gc root")
    group_of: list[tuple[int, int]] = []      # type index -> (first index of its rec group, size)
    at = 0
    for rg in m.types:
        for _ in rg.types:
            group_of.append((at, len(rg.types)))
        at += len(rg.types)

    while work:
        space, idx = work.pop()
        tset: set = set()
        if space == "func":
            if idx < n_func_imports:
                tset.add(func_imports[idx].desc)
            else:
                d = idx - n_func_imports
                tset.add(func_types[d])
                if body_refs is None:
                    body = code[d]
                    refs = _body_refs(body)
                    mark_all(refs, f"function #{idx}")
                    if private and refs["table"] & private:
                        for table, ctype in _table_accesses(body):
                            access(table, ctype)
                else:
                    refs = body_refs(d)
                    mark_all(refs, f"function #{idx}")
                    if private and refs["table"] & private:
                        for table, ctype in table_accesses(d):
                            access(table, ctype)
        elif space in ("table", "memory", "global", "tag"):
            for seg_space, seg in pending.pop((space, idx), ()):
                mark(seg_space, seg, f"{space} {idx}")
            if idx < nimp[space]:
                imp = imports[space][idx]
                _extern_types(imp.kind, imp.desc, tset)
            else:
                d = idx - nimp[space]
                if space == "table":
                    t = m.tables[d]
                    _valtype_types(t.type.elem, tset)
                    mark_all(_expr_refs(t.init), f"table {idx}")
                elif space == "global":
                    g = m.globals[d]
                    _valtype_types(g.type.val, tset)
                    mark_all(_expr_refs(g.init), f"global {idx}")
                elif space == "tag":
                    tset.add(m.tags[d].type.type_idx)
        elif space == "elem":
            el = m.elems[idx]
            why = f"element segment {idx}"
            _valtype_types(el.elem_type, tset)
            if el.mode == "active":
                mark("table", el.table, why)
                mark_all(_expr_refs(el.offset), why)
            if el.mode == "active" and el.table in private:
                # its functions wait for a call_indirect that can reach them
                for item in el.init:
                    f = item if isinstance(item, int) else _ref_func(item)
                    if f is None:
                        mark_all(_expr_refs(item), why)
                    else:
                        if not 0 <= f < totals["func"]:
                            raise EditError(f"{why} refers to func {f}, which does not exist")
                        waiting.setdefault(el.table, []).append(f)
                release(el.table)
            elif el.mode != "declarative":
                for item in el.init:
                    if isinstance(item, int):
                        mark("func", item, why)
                    else:
                        mark_all(_expr_refs(item), why)
        elif space == "data":
            d = m.datas[idx]
            if d.mode == "active":
                mark("memory", d.memory, f"data segment {idx}")
                mark_all(_expr_refs(d.offset), f"data segment {idx}")
        elif space == "type":
            first, size = group_of[idx]
            for j in range(first, first + size):
                tset.add(j)
                _subtype_types(types[j], tset)
        for t in tset:
            mark("type", t, f"{space} {idx}")
    return used


def collect_references(m: Module) -> Refs:
    """Everything referenced from anywhere (every body, export, start, segment, global, table)."""
    refs = Refs()
    for b in m.code:
        refs.merge(_body_refs(b))
    for e in m.exports:
        refs.space(_KIND_SPACE[e.kind]).add(e.index)
    if m.start is not None:
        refs.funcs.add(m.start)
    for g in m.globals:
        refs.merge(_expr_refs(g.init))
    for t in m.tables:
        refs.merge(_expr_refs(t.init))
    for el in m.elems:
        if el.mode == "active":
            refs.merge(_expr_refs(el.offset))
        for item in el.init:
            if isinstance(item, int):
                refs.funcs.add(item)
            else:
                refs.merge(_expr_refs(item))
    for d in m.datas:
        if d.mode == "active":
            refs.merge(_expr_refs(d.offset))
    return refs
