"""The imports of several separate components as one import prefix (``wasmweld fuse A B --emit component``).

``wasm-tools compose`` gives a composition the union of the imports its components leave
unsatisfied: an interface two components import is imported once, its instance type the union of
the two (exports of the same name must have the same type). :func:`union_prefix` does the same
on the components' leading type/import/alias sections, as wit-component writes them::

    ;; input 1 (imports wasi:cli/stderr)        ;; input 2 (imports wasi:cli/stdout)
    (type (instance ...))                        (type (instance ...))
    (import "wasi:io/streams@0.2.0" (instance (type 0)))  (import "wasi:io/streams@0.2.0" ...)
    (alias export 0 "output-stream" (type))      (alias export 0 "output-stream" (type))
    (type (instance (alias outer 1 1 (type)) ...))        (type (instance (alias outer 1 1 (type)) ...))
    (import "wasi:cli/stderr@0.2.0" (instance (type 2)))  (import "wasi:cli/stdout@0.2.0" ...)

    ;; the union: streams once (its instance type extended with input 2's other functions),
    ;; stderr and stdout, input 2's items renumbered into the output's index spaces
    (type (instance ...)) (import "wasi:io/streams@0.2.0" (instance (type 0)))
    (alias export 0 "output-stream" (type)) (type (instance ...)) (import "wasi:cli/stderr@0.2.0" ...)
    (type (instance ...)) (import "wasi:cli/stdout@0.2.0" ...)

The result is a component of these sections only; :func:`.component_out.wrap` copies them as it
copies a composition's. Only items a kept import needs are copied (an import another input
satisfies is left out, with the types only it needed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..component import Component, parse_component
from ..component import types as T
from ..component.typeval import Def, evaluate, peel
from ..errors import ValidationError
from .abi import MAX_TYPE_DEPTH, FuseError

__all__ = ["union_prefix", "merge_instance_types", "remap_type", "MAX_PREFIX_ITEMS"]

#: most type/import/alias items one input's import prefix may hold
MAX_PREFIX_ITEMS = 100_000
#: the sections an import prefix may hold: custom, alias, type, import
_PREFIX = (0, 6, 7, 10)

_Map = Callable[[int], int]


def _vt(v: Any, f: _Map) -> Any:
    return f(v) if isinstance(v, int) else v


def _opt(v: Any, f: _Map) -> Any:
    return None if v is None else _vt(v, f)


def remap_type(t: Any, f: _Map) -> Any:
    """Type definition ``t`` with each type index ``i`` it refers to replaced by ``f(i)`` (instance
    and component types: their outer aliases to the enclosing scope)."""
    if isinstance(t, (T.Primitive, T.Flags, T.Enum)):
        return t
    if isinstance(t, T.Record):
        return T.Record(tuple((n, _vt(x, f)) for n, x in t.fields))
    if isinstance(t, T.Variant):
        return T.Variant(tuple(T.Case(c.name, _opt(c.type, f), c.refines) for c in t.cases))
    if isinstance(t, T.List):
        return T.List(_vt(t.element, f), t.length)
    if isinstance(t, T.Map):
        return T.Map(_vt(t.key, f), _vt(t.value, f))
    if isinstance(t, T.Tuple):
        return T.Tuple(tuple(_vt(x, f) for x in t.types))
    if isinstance(t, T.Option):
        return T.Option(_vt(t.type, f))
    if isinstance(t, T.Result):
        return T.Result(_opt(t.ok, f), _opt(t.err, f))
    if isinstance(t, (T.Own, T.Borrow)):
        return type(t)(f(t.resource))
    if isinstance(t, (T.Future, T.Stream)):
        return type(t)(_opt(t.type, f))
    if isinstance(t, T.FuncType):
        return T.FuncType(tuple((n, _vt(x, f)) for n, x in t.params), _opt(t.result, f), t.is_async)
    if isinstance(t, T.InstanceType):
        return T.InstanceType(_outer(t.decls, f, 1))
    raise FuseError(f"--emit component: cannot copy the imported type {type(t).__name__}")


def _outer(decls: tuple, f: _Map, level: int) -> tuple:
    """``decls`` with the outer aliases that leave ``level`` scopes (to the component) remapped."""
    out = []
    for d in decls:
        if isinstance(d, T.TypeDecl) and d.kind == "alias" and isinstance(d.item, T.OuterAlias):
            a = d.item
            if a.count == level:
                d = T.TypeDecl("alias", T.OuterAlias(a.sort, a.count, f(a.index)))
        elif isinstance(d, T.TypeDecl) and d.kind == "type" and isinstance(d.item, T.InstanceType):
            d = T.TypeDecl("type", T.InstanceType(_outer(d.item.decls, f, level + 1)))
        elif isinstance(d, T.TypeDecl) and d.kind != "type":
            raise FuseError("--emit component: core types in imported instance types are not supported")
        out.append(d)
    return tuple(out)


def _refs(sid: int, it: Any) -> list[tuple[str, int]]:
    """The component-level ``(sort, index)`` items that prefix item ``it`` refers to."""
    if sid == 6:
        return [("instance", it.instance)]
    if sid == 10:
        ref = it.desc.ref
        if it.desc.sort == "type":
            return [] if ref.index is None else [("type", ref.index)]
        return [("type", ref)] if isinstance(ref, int) else []
    seen: list[tuple[str, int]] = []

    def note(i: int) -> int:
        seen.append(("type", i))
        return i
    remap_type(it, note)
    return seen


def _defines(sid: int, it: Any) -> str:
    return "type" if sid == 7 else it.sort if sid == 6 else it.desc.sort


def _prefix_items(c: Component, label: str) -> list[tuple[int, Any, str, int]]:
    """``(section id, item, sort defined, index)`` of each item of ``c``'s leading import sections."""
    items: list[tuple[int, Any, str, int]] = []
    counts: dict[str, int] = {}
    for i, sec in enumerate(c.sections):
        if sec.id not in _PREFIX:
            break
        if sec.id == 0:
            continue
        its = c.section_items(i)
        if sec.id == 6 and not all(isinstance(a, T.InstanceExportAlias) and a.sort == "type" for a in its):
            break
        for it in its:
            sort = _defines(sec.id, it)
            items.append((sec.id, it, sort, counts.get(sort, 0)))
            counts[sort] = counts.get(sort, 0) + 1
        if len(items) > MAX_PREFIX_ITEMS:
            raise FuseError(f"{label}: too many import items")
    return items


class _Out:
    """The union being built: items in order, index-space counts, imports by name."""

    def __init__(self) -> None:
        self.items: list[list[Any]] = []          # [section id, item]
        self.n: dict[str, int] = {}
        self.type_item: dict[int, int] = {}       # output type index -> position in items
        self.imports: dict[str, tuple[str, int, str]] = {}   # name -> (sort, index, label)
        self.aliases: dict[tuple[int, str], int] = {}

    def add(self, sid: int, it: Any) -> int:
        sort = _defines(sid, it)
        idx = self.n.get(sort, 0)
        self.n[sort] = idx + 1
        if sort == "type" and sid == 7:
            self.type_item[idx] = len(self.items)
        self.items.append([sid, it])
        return idx


def union_prefix(inputs: list[tuple[str, Component, set[str]]]) -> Component:
    """A component of the import sections of ``inputs`` (``(label, component, names of the imports
    to keep)``, in the order their imports come in the output): each kept import once, the instance
    types of an interface several inputs import merged (a :class:`FuseError` naming both inputs when
    an export of the same name has different types)."""
    out = _Out()
    for label, comp, keep in inputs:
        _one(out, label, comp, keep)
    result = Component()
    run: list[Any] = []
    for k, (sid, it) in enumerate(out.items):
        run.append(it)
        if k + 1 == len(out.items) or out.items[k + 1][0] != sid:
            result.add_section(sid, run)
            run = []
    return parse_component(result.encode())


def _needed(items: list[tuple[int, Any, str, int]], keep: set[str]) -> list[bool]:
    """Which prefix items the kept imports need (walked backwards: definitions precede uses)."""
    want: set[tuple[str, int]] = set()
    need = [False] * len(items)
    for k in range(len(items) - 1, -1, -1):
        sid, it, sort, idx = items[k]
        if (sid == 10 and it.name.name in keep) or (sort, idx) in want:
            need[k] = True
            want.update(_refs(sid, it))
    return need


def _one(out: _Out, label: str, comp: Component, keep: set[str]) -> None:
    items = _prefix_items(comp, label)
    missing = keep - {it.name.name for sid, it, _, _ in items if sid == 10}
    if missing:
        raise FuseError(f"{label}: the import `{sorted(missing)[0]}` is not in its leading import sections "
                        "(use --emit core)")
    maps: dict[str, dict[int, int]] = {}
    defined = {(sort, idx) for _, _, sort, idx in items}
    pending: dict[int, Any] = {}              # this input's instance/func types, written when used

    def get(sort: str, i: int) -> int:
        j = maps.get(sort, {}).get(i)
        if j is None and (sort, i) not in defined:
            raise FuseError(f"{label}: an import refers to the unknown {sort} {i}")
        if j is None:
            raise FuseError(f"{label}: an import it keeps uses the {sort} {i}, which comes from an import "
                            "another input satisfies (compose first, or use --emit core)")
        return j

    def tyref(i: int) -> int:
        if i in pending:                      # used by something other than an import: write it now
            maps.setdefault("type", {})[i] = out.add(7, pending.pop(i))
        return get("type", i)

    satisfied: dict[int, str] = {}            # instance index -> name of an import another input satisfies
    scope: list[Any] = []

    def provided_type(inst: int, name: str) -> int:
        """A type of an import another input satisfies, written out by structure (as compose does)."""
        if not scope:
            try:
                scope.append(evaluate(comp))
            except ValidationError as e:
                raise FuseError(f"{label}: {e}") from None
        ent = scope[0].imports[satisfied[inst]].ty.exports.get(name)
        if ent is None or ent.sort != "type":
            raise FuseError(f"{label}: `{satisfied[inst]}` has no type `{name}`")
        return _write_value_type(out, ent.referenced, label, {})

    for (sid, it, sort, idx), need in zip(items, _needed(items, keep)):
        if not need:
            continue
        if sid == 10 and it.name.name not in keep:
            if sort == "instance":
                satisfied[idx] = it.name.name
            continue
        if sid == 6 and it.instance in satisfied:
            new = provided_type(it.instance, it.name)
            if not isinstance(new, int):      # a primitive: (type u32)
                new = out.add(7, T.Primitive(new))
        elif sid == 7:
            if isinstance(it, (T.InstanceType, T.FuncType)):
                pending[idx] = remap_type(it, tyref)
                continue
            new = out.add(7, remap_type(it, tyref))
        elif sid == 6:
            key = (get("instance", it.instance), it.name)
            new = out.aliases.get(key, -1)
            if new < 0:
                new = out.aliases[key] = out.add(6, T.InstanceExportAlias("type", key[0], it.name))
        else:
            new = _import(out, label, it, pending, tyref)
        maps.setdefault(sort, {})[idx] = new


def _write_value_type(out: _Out, t: Any, label: str, memo: dict[int, Any], depth: int = 0) -> Any:
    """Evaluated value type ``t`` written as type definitions of the output (a primitive stays its
    name); resources cannot be written so (they belong to the providing input)."""
    if depth > MAX_TYPE_DEPTH:
        raise FuseError(f"{label}: value type nesting too deep")
    t = peel(t)
    if isinstance(t, str):
        return t
    if id(t) in memo:
        return memo[id(t)]

    def v(x: Any) -> Any:
        return None if x is None else _write_value_type(out, x, label, memo, depth + 1)

    if not isinstance(t, Def) or t.kind in ("own", "borrow", "future", "stream", "map"):
        raise FuseError(f"{label}: a kept import uses a {getattr(t, 'kind', 'resource')} type of an import another "
                        "input satisfies (compose first, or use --emit core)")
    k, d = t.kind, t.data
    if k == "prim":
        return d
    item = (T.Record(tuple((n, v(x)) for n, x in d)) if k == "record" else
            T.Variant(tuple(T.Case(n, v(x)) for n, x in d)) if k == "variant" else
            T.List(v(d)) if k == "list" else T.List(v(d[0]), d[1]) if k == "fixed-list" else
            T.Tuple(tuple(v(x) for x in d)) if k == "tuple" else T.Option(v(d)) if k == "option" else
            T.Result(v(d[0]), v(d[1])) if k == "result" else T.Flags(tuple(d)) if k == "flags" else
            T.Enum(tuple(d)) if k == "enum" else None)
    if item is None:
        raise FuseError(f"{label}: values of kind {k} are not supported")
    memo[id(t)] = idx = out.add(7, item)
    return idx


def _import(out: _Out, label: str, it: T.Import, pending: dict[int, Any], tyref: _Map) -> int:
    """Add import ``it`` of input ``label`` (or merge it into the import of that name); its output index."""
    name, sort, ref = it.name.name, it.desc.sort, it.desc.ref
    if sort not in ("instance", "func", "type"):
        raise FuseError(f"{label}: imports of a {sort} (`{name}`) are not supported by fuse")
    new_ty = pending.get(ref) if sort != "type" else None     # a dup's type is not written
    old = out.imports.get(name)
    if old is None:
        if sort == "type":
            desc = T.ExternDesc("type", T.TypeBound(None if ref.index is None else tyref(ref.index)))
        else:
            desc = T.ExternDesc(sort, tyref(ref))      # writes it (just before the import)
        idx = out.add(10, T.Import(it.name, desc))
        out.imports[name] = (sort, idx, label)
        return idx
    osort, oidx, olabel = old
    oimp = _find_import(out, name)
    clash = f"`{name}` is imported by {olabel} and {label} with different types"
    if osort != sort:
        raise FuseError(clash)
    if sort == "type":
        a, b = oimp.desc.ref.index, ref.index
        b = None if b is None else tyref(b)
        if a is None or b is None:
            if a is not b:
                raise FuseError(clash)
        elif a != b and not _same_type(out, _item(out, a), _item(out, b)):
            raise FuseError(clash)
        return oidx
    new_ty = new_ty if new_ty is not None else _item(out, tyref(ref))
    pos = out.type_item.get(oimp.desc.ref)
    if pos is None or new_ty is None:
        raise FuseError(clash)
    if sort == "func":
        if not _same_type(out, out.items[pos][1], new_ty):
            raise FuseError(clash)
        return oidx
    merged = merge_instance_types(out.items[pos][1], new_ty, clash)
    limit = oimp.desc.ref
    for d in merged.decls:
        if isinstance(d, T.TypeDecl) and isinstance(d.item, T.OuterAlias) and d.item.count == 1 \
                and d.item.index >= limit:
            raise FuseError(f"`{name}`: the union of its types in {olabel} and {label} uses an import that "
                            "comes after it (compose first, or use --emit core)")
    out.items[pos][1] = merged
    return oidx


def _find_import(out: _Out, name: str) -> T.Import:
    return next(it for sid, it in out.items if sid == 10 and it.name.name == name)


def _skeleton(t: Any) -> tuple[Any, list[int]]:
    """Type definition ``t`` with every type index it refers to replaced by 0, and those indices."""
    refs: list[int] = []

    def note(i: int) -> int:
        refs.append(i)
        return 0
    return remap_type(t, note), refs


def _same_type(out: _Out, x: Any, y: Any, depth: int = 0) -> bool:
    """True when output type definitions ``x`` and ``y`` have the same structure (the types they
    refer to compared the same way; other type indices must be equal)."""
    if x == y:
        return True
    if x is None or y is None or type(x) is not type(y) or isinstance(x, T.InstanceType) or depth > MAX_TYPE_DEPTH:
        return False
    (sx, rx), (sy, ry) = _skeleton(x), _skeleton(y)
    if sx != sy or len(rx) != len(ry):
        return False
    return all(a == b or _same_type(out, _item(out, a), _item(out, b), depth + 1) for a, b in zip(rx, ry))


def _item(out: _Out, type_index: int) -> Any:
    pos = out.type_item.get(type_index)
    return None if pos is None else out.items[pos][1]


class _Scope:
    """The type index space of one instance type being merged into: canonical indices (a type
    definition stands for the first structurally equal one) and exports by name."""

    def __init__(self, decls: tuple) -> None:
        self.decls: list[Any] = []
        self.ntypes = 0
        self.canon: list[int] = []
        self.keys: dict[Any, int] = {}
        self.exports: dict[str, tuple[T.DeclExport, int]] = {}
        for d in decls:
            self.add(d, lambda i: i)

    def add(self, d: Any, f: _Map) -> int:
        """Append declaration ``d`` (its local type indices mapped by ``f``); the type index it
        defines, or -1."""
        if isinstance(d, T.DeclExport):
            desc = d.desc
            if desc.sort == "type":
                ref = desc.ref if desc.ref.index is None else T.TypeBound(f(desc.ref.index))
                desc = T.ExternDesc("type", ref)
            elif isinstance(desc.ref, int):
                desc = T.ExternDesc(desc.sort, f(desc.ref))
            d = T.DeclExport(d.name, desc)
            self.decls.append(d)
            if desc.sort != "type":
                self.exports[d.name.name] = (d, -1)
                return -1
            idx = self._new(None)
            self.exports[d.name.name] = (d, idx)
            return idx
        if d.kind == "alias":
            key: Any = ("alias", d.item)
        else:
            d = T.TypeDecl("type", remap_type(d.item, f) if not isinstance(d.item, T.InstanceType) else d.item)
            key = remap_type(d.item, lambda i: self.at(i)) if not isinstance(d.item, T.InstanceType) \
                else d.item
        self.decls.append(d)
        return self._new(key)

    def at(self, i: int) -> int:
        """The canonical index of local type ``i`` (a FuseError when there is no such type)."""
        if not isinstance(i, int) or not 0 <= i < len(self.canon):
            raise FuseError(f"an imported instance type refers to the unknown type {i}")
        return self.canon[i]

    def _new(self, key: Any) -> int:
        idx = self.ntypes
        self.ntypes += 1
        if key is not None and key in self.keys:
            self.canon.append(self.keys[key])
        else:
            self.canon.append(idx)
            if key is not None:
                self.keys[key] = idx
        return idx

    def key_of(self, d: Any, f: _Map) -> Any:
        if d.kind == "alias":
            return ("alias", d.item)
        if isinstance(d.item, T.InstanceType):
            return d.item
        return remap_type(d.item, lambda i: self.at(f(i)))


def merge_instance_types(old: T.InstanceType, new: T.InstanceType, clash: str) -> T.InstanceType:
    """The union of two instance types in one index space: ``old``'s declarations, then those of
    ``new`` it lacks (type definitions shared by structure, exports by name); a :class:`FuseError`
    ``clash`` when an export of both has different types."""
    s = _Scope(old.decls)
    lm: dict[int, int] = {}
    nlocal = 0
    for d in new.decls:
        if isinstance(d, T.DeclExport):
            prev = s.exports.get(d.name.name)
            if prev is None:
                r = s.add(d, lambda i: _get(lm, i))
            else:
                _same_export(s, prev[0], d, lm, clash)
                r = prev[1]
            if d.desc.sort == "type":
                lm[nlocal] = r
                nlocal += 1
            continue
        key = s.key_of(d, lambda i: _get(lm, i))
        lm[nlocal] = s.keys[key] if key in s.keys else s.add(d, lambda i: _get(lm, i))
        nlocal += 1
    return T.InstanceType(tuple(s.decls))


def _same_export(s: _Scope, old: T.DeclExport, new: T.DeclExport, lm: dict[int, int], clash: str) -> None:
    a, b = old.desc, new.desc
    if a.sort != b.sort:
        raise FuseError(clash)
    if a.sort == "type":
        x, y = a.ref.index, b.ref.index
        if (x is None) != (y is None) or (x is not None and s.at(x) != s.at(_get(lm, y))):
            raise FuseError(f"{clash} (`{new.name.name}`)")
    elif isinstance(a.ref, int) and isinstance(b.ref, int):
        if s.at(a.ref) != s.at(_get(lm, b.ref)):
            raise FuseError(f"{clash} (`{new.name.name}`)")
    elif a != b:
        raise FuseError(f"{clash} (`{new.name.name}`)")


def _get(lm: dict[int, int], i: int) -> int:
    j = lm.get(i)
    if j is None:
        raise FuseError(f"an imported instance type refers to the unknown type {i}")
    return j
