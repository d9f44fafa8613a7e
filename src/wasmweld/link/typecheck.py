"""One type space for many modules: canonical rec groups, subtyping, and the fusion checks.

Two modules that each write ``(type $f (func (param i32)))`` mean the same
type; under GC's iso-recursive rules two *recursion groups* are the same when
they are structurally identical, with references inside the group counted by
position and references outside it by identity. :class:`TypeSpace` folds the
type sections of all inputs into one list of groups, keeping each distinct
group once (whole, never split), and gives every input a map from its type
indices to the combined ones::

    ;; input a                                  ;; input b
    (type (func (param i32)))        ;; 0       (rec (type $n (struct (field (ref null $n)))))  ;; 0
    (rec (type $n (struct (field (ref null $n)))))   ;; 1   (type (func (param i32)))            ;; 1

    space.map["a"] == [0, 1]    space.map["b"] == [1, 0]    len(space.groups) == 2

Once types live in one space, comparing an import with the export it binds to
is comparing indices plus the declared subtype chains: :meth:`TypeSpace.check`
says what (if anything) is wrong with one fusion, in words fit for a
:class:`~wasmweld.errors.LinkError`.
"""

from __future__ import annotations

from ..record import replace
from typing import Any

from ..types import (
    ArrayType, ExternKind, FieldType, FuncType, GlobalType, HeapType, Limits, MemoryType, NumType, PackedType, RecGroup,
    RefType, StructType, SubType, TableType, TagType,
)

__all__ = ["TypeSpace", "heap_subtype", "describe"]

# abstract heap type -> its parent in the hierarchy (None at the top)
_ABSTRACT_PARENT = {
    "any": None, "eq": "any", "i31": "eq", "struct": "eq", "array": "eq", "none": None,
    "func": None, "nofunc": None,
    "extern": None, "noextern": None,
    "exn": None, "noexn": None,
}
_BOTTOM_OF = {"none": "any", "nofunc": "func", "noextern": "extern", "noexn": "exn"}


def _abstract_sub(a: str, b: str) -> bool:
    if a == b:
        return True
    if a in _BOTTOM_OF:
        top = _BOTTOM_OF[a]
        return _top_of_abstract(b) == top
    p = _ABSTRACT_PARENT.get(a)
    while p is not None:
        if p == b:
            return True
        p = _ABSTRACT_PARENT.get(p)
    return False


def _top_of_abstract(h: str) -> str:
    if h in _BOTTOM_OF:
        return _BOTTOM_OF[h]
    parent = _ABSTRACT_PARENT.get(h)
    while parent is not None:
        h, parent = parent, _ABSTRACT_PARENT.get(parent)
    return h


class TypeSpace:
    """The combined type section of a merge.

    ``groups``: the output rec groups (their type indices already in the
    combined space). ``map[name]``: list, input type index -> combined index.
    ``types``: the flat list of combined :class:`SubType` s.
    """

    def __init__(self) -> None:
        self.groups: list[RecGroup] = []
        self.types: list[SubType] = []
        self.map: dict[str, list[int]] = {}
        self._canon: dict[tuple, int] = {}      # group key -> first combined index of the group
        self._func_types: Any = None            # a passes.common.FuncTypes, made on first use

    # -- building -------------------------------------------------------------------------------

    def add_module(self, name: str, groups: list[RecGroup]) -> list[int]:
        """Fold one input's type section in; returns (and records) its index map."""
        tmap: list[int] = []
        self.map[name] = tmap
        start = 0
        for rg in groups:
            n = len(rg.types)
            key = _group_key(rg, start, tmap)
            base = self._canon.get(key)
            if base is None:
                base = len(self.types)
                self._canon[key] = base
                for k in range(n):
                    tmap.append(base + k)
                new = _rebase_group(rg, lambda i, tmap=tmap: tmap[i])
                self.groups.append(new)
                self.types.extend(new.types)
            else:
                for k in range(n):
                    tmap.append(base + k)
            start += n
        return tmap

    def add_func_type(self, ft: FuncType) -> int:
        """The combined index of a plain (final, non-recursive) function type, adding it if new
        (through :class:`wasmweld.passes.common.FuncTypes`, the one way to add a type)."""
        if self._func_types is None:
            from ..passes.common import FuncTypes   # loaded on first use: importing the linker stays light
            self._func_types = FuncTypes(self.groups)
        n = len(self.groups)
        idx = self._func_types.index(ft)
        if len(self.groups) != n:  # appended: keep the flat list and the canonical keys in step
            rg = self.groups[-1]
            self.types.append(rg.types[0])
            self._canon.setdefault(_group_key(rg, 0, []), idx)
        return idx

    # -- subtyping (combined space) -------------------------------------------------------------

    def type_sub(self, a: int, b: int) -> bool:
        """Is combined type ``a`` a declared subtype of ``b`` (reflexive, transitive)?"""
        seen = set()
        while a not in seen:
            if a == b:
                return True
            seen.add(a)
            supers = self.types[a].supers if a < len(self.types) else ()
            if not supers:
                return False
            a = supers[0]
        return False

    def heap_sub(self, a: HeapType, b: HeapType) -> bool:
        """``a <: b`` for heap types (combined type indices)."""
        return heap_subtype(a, b, self)

    def val_sub(self, a: Any, b: Any) -> bool:
        """``a <: b`` for value (or storage) types."""
        if isinstance(a, RefType) and isinstance(b, RefType):
            if a.nullable and not b.nullable:
                return False
            return self.heap_sub(a.heap, b.heap)
        return a == b

    def _top(self, h) -> str:
        if isinstance(h, str):
            return _top_of_abstract(h)
        comp = self.types[h].comp
        if isinstance(comp, FuncType):
            return "func"
        return "any"

    # -- fusion checks ----------------------------------------------------------------------------

    def check(self, kind: ExternKind, imported: Any, exported: Any) -> str | None:
        """Why an export of type ``exported`` cannot satisfy an import of type ``imported``, or None.

        Both are already in the combined space: a type index (func), TableType,
        MemoryType, GlobalType or TagType.
        """
        if kind == ExternKind.FUNC:
            if imported == exported or self.type_sub(exported, imported):
                return None
            return "function type is not a subtype of the imported one"
        if kind == ExternKind.GLOBAL:
            if imported.mutable != exported.mutable:
                return "mutability differs"
            if imported.mutable:
                return None if imported.val == exported.val else "value type differs (a mutable global must match exactly)"
            return None if self.val_sub(exported.val, imported.val) else "value type is not a subtype of the imported one"
        if kind == ExternKind.TABLE:
            problems = []
            if imported.elem != exported.elem:
                problems.append("element type differs")
            if imported.limits.is64 != exported.limits.is64:
                problems.append("index type differs (i32 vs i64)")
            problems += _limits_problems(imported.limits, exported.limits, "elements")
            return "; ".join(problems) or None
        if kind == ExternKind.MEMORY:
            problems = []
            if imported.limits.is64 != exported.limits.is64:
                problems.append("index type differs (i32 vs i64)")
            if imported.limits.shared != exported.limits.shared:
                problems.append("sharedness differs")
            problems += _limits_problems(imported.limits, exported.limits, "pages")
            return "; ".join(problems) or None
        if kind == ExternKind.TAG:
            if imported.type_idx == exported.type_idx and imported.attribute == exported.attribute:
                return None
            return "tag signature differs"
        return "unknown kind"


def heap_subtype(a: HeapType, b: HeapType, space: TypeSpace) -> bool:
    """Heap subtyping over abstract names and combined type indices."""
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        return _abstract_sub(a, b)
    if isinstance(a, str):          # abstract <: concrete only for bottoms of the right hierarchy
        if a in _BOTTOM_OF:
            return _BOTTOM_OF[a] == space._top(b)
        return False
    if isinstance(b, str):          # concrete <: abstract
        comp = space.types[a].comp
        if b in _BOTTOM_OF:
            return False
        if isinstance(comp, FuncType):
            return b == "func"
        if isinstance(comp, StructType):
            return b in ("struct", "eq", "any")
        if isinstance(comp, ArrayType):
            return b in ("array", "eq", "any")
        return False
    return space.type_sub(a, b)


def _limits_problems(imp: Limits, exp: Limits, unit: str) -> list[str]:
    out = []
    if exp.min < imp.min:
        out.append(f"minimum {exp.min} {unit} is below the imported minimum {imp.min}")
    if imp.max is not None:
        if exp.max is None:
            out.append(f"no maximum, but the import requires at most {imp.max} {unit}")
        elif exp.max > imp.max:
            out.append(f"maximum {exp.max} {unit} exceeds the imported maximum {imp.max}")
    return out


# --------------------------------------------------------------------------------- keys & rebasing

def _rebase_group(rg: RecGroup, f) -> RecGroup:
    return replace(rg, types=tuple(_map_sub(st, f) for st in rg.types))


def _map_heap(h, f):
    return f(h) if isinstance(h, int) else h


def _map_val(v, f):
    if isinstance(v, RefType) and isinstance(v.heap, int):
        return replace(v, heap=f(v.heap))
    return v


def _map_field(ft: FieldType, f) -> FieldType:
    st = ft.storage
    if isinstance(st, RefType):
        return replace(ft, storage=_map_val(st, f))
    return ft


def _map_comp(c, f):
    if isinstance(c, FuncType):
        return FuncType(tuple(_map_val(v, f) for v in c.params), tuple(_map_val(v, f) for v in c.results))
    if isinstance(c, StructType):
        return StructType(tuple(_map_field(x, f) for x in c.fields))
    if isinstance(c, ArrayType):
        return ArrayType(_map_field(c.field, f))
    raise TypeError(f"not a composite type: {c!r}")


def _map_sub(st: SubType, f) -> SubType:
    return replace(st, comp=_map_comp(st.comp, f), supers=tuple(f(s) for s in st.supers))


def _key_val(v):
    if isinstance(v, RefType):
        return ("ref", v.nullable, v.heap)
    if isinstance(v, (NumType, PackedType)):
        return v.name
    return v


def _key_comp(c):
    if isinstance(c, FuncType):
        return ("func", tuple(_key_val(v) for v in c.params), tuple(_key_val(v) for v in c.results))
    if isinstance(c, StructType):
        return ("struct", tuple((_key_val(x.storage), x.mutable) for x in c.fields))
    return ("array", _key_val(c.field.storage), c.field.mutable)


def _group_key(rg: RecGroup, start: int, tmap: list[int]) -> tuple:
    """A hashable key equal for iso-recursively equal groups (inner refs by position, outer by combined index)."""
    end = start + len(rg.types)

    def f(i):
        if start <= i < end:
            return ("rec", i - start)
        if i >= len(tmap):
            raise IndexError(i)
        return tmap[i]

    return tuple((_key_comp(_map_comp(st.comp, f)), tuple(f(s) for s in st.supers), st.final) for st in rg.types)


# --------------------------------------------------------------------------------- words

def describe(kind: ExternKind, desc: Any, types: list[SubType] | None = None) -> str:
    """A short text for an import/export type, e.g. ``func [i32 i64] -> [i32]`` or ``memory 1..4 pages``.

    ``desc`` is in the index space of ``types`` (a module's own type list), so
    concrete references print as ``(ref $3)`` meaning that module's type 3.
    """
    kind = ExternKind(kind)
    if kind == ExternKind.FUNC:
        if types is not None and isinstance(desc, int) and desc < len(types):
            st = types[desc]
            if isinstance(st.comp, FuncType):
                return f"func {_fmt_func(st.comp)}"
            return f"func (type {desc}, not a function type)"
        return f"func (type {desc})"
    if kind == ExternKind.TAG:
        tt: TagType = desc
        comp = types[tt.type_idx].comp if types is not None and tt.type_idx < len(types) else None
        if isinstance(comp, FuncType):
            return f"tag {_fmt_func(comp)}"
        return f"tag (type {tt.type_idx})"
    if kind == ExternKind.GLOBAL:
        gt: GlobalType = desc
        return f"global {'mut ' if gt.mutable else ''}{_fmt_val(gt.val)}"
    if kind == ExternKind.TABLE:
        tt2: TableType = desc
        return f"table {_fmt_limits(tt2.limits, '')} {_fmt_val(tt2.elem)}"
    mt: MemoryType = desc
    return f"memory {_fmt_limits(mt.limits, ' pages')}"


def _fmt_val(v) -> str:
    if isinstance(v, RefType):
        if isinstance(v.heap, int):
            return f"(ref {'null ' if v.nullable else ''}${v.heap})"
        return str(v)
    return str(v)


def _fmt_func(ft: FuncType) -> str:
    return f"[{' '.join(map(_fmt_val, ft.params))}] -> [{' '.join(map(_fmt_val, ft.results))}]"


def _fmt_limits(lim: Limits, unit: str) -> str:
    text = f"{lim.min}..{lim.max}" if lim.max is not None else f"{lim.min}.."
    if lim.is64:
        text = "i64 " + text
    text += unit
    if lim.shared:
        text += " shared"
    return text
