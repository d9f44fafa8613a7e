"""The types of a component's imports and exports, resolved through its index spaces.

A component refers to types by index, and its index spaces fill up as sections
are read: type definitions, imports, exports, aliases of instance exports and of
outer components, instantiations. For

::

    (component
      (type $p (record (field "x" u32)))                 ;; type 0
      (import "t" (type $t (eq $p)))                     ;; type 1: a new name for $p
      (import "f" (func (param "p" $t))))                ;; func 0

:func:`evaluate` walks the items in order and gives each import and export an
:class:`Ent` whose types are Python objects with identity: a :class:`Def` per
type definition, a :class:`Res` per resource, an :class:`Alias` per named
(re-)export of a type (``Alias.target`` is what it names), :class:`FuncT`,
:class:`InstT`, :class:`CompT`. Instantiating a component type substitutes its
imported resources by the arguments (memoised, so shared types stay shared).
This is what :mod:`wasmweld.component.wit` needs to name types in WIT; it is not
a validator (invalid components may evaluate, or raise :class:`~wasmweld.errors.ValidationError`).
"""

from __future__ import annotations

from ..record import field, record
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from . import types as T

if TYPE_CHECKING:
    from .model import Component

__all__ = ["Def", "Res", "Alias", "FuncT", "InstT", "CompT", "Ent", "Scope", "evaluate", "peel", "MAX_DEPTH"]

MAX_DEPTH = 100
#: most type nodes one evaluation may create by substitution (wasmparser's MAX_WASM_TYPE_SIZE)
MAX_TYPE_WORK = 1_000_000


class Def:
    """A defined value type: ``kind`` (record, variant, list, fixed-list, map, tuple, flags, enum, option,
    result, own, borrow, future, stream, prim) and resolved ``data``."""

    __slots__ = ("kind", "data", "size")

    def __init__(self, kind: str, data: Any):
        self.kind: str = kind
        self.data: Any = data
        #: wasmparser's effective type size: 1 + the sizes of the types it refers to (shared types
        #: counted at each use, so a chain of records of two copies doubles per link)
        self.size: int = 1 + sum(_size(x) for x in _children(kind, data))
        if self.size > MAX_TYPE_WORK:
            raise ValidationError(f"effective type size exceeds the limit of {MAX_TYPE_WORK}")

    def __repr__(self) -> str:
        return f"Def({self.kind}, {self.data!r})"


def _children(kind: str, data: Any) -> tuple:
    """The types a Def of ``kind`` with ``data`` refers to (names and lengths left out)."""
    if kind in ("record", "variant"):
        return tuple(x for _, x in data)
    if kind in ("tuple", "map", "result"):
        return tuple(data)
    if kind == "fixed-list":
        return (data[0],)
    if kind in ("list", "option", "future", "stream"):
        return (data,)
    return ()


def _size(t: Any) -> int:
    """The effective size of a type a Def refers to (a Def's own, an alias's target's, else 1)."""
    for _ in range(MAX_DEPTH + 1):
        if not isinstance(t, Alias):
            break
        t = t.target
    return t.size if isinstance(t, Def) else 1


class Res:
    """A resource type (each definition or abstract import is a distinct object)."""

    __slots__ = ("rep", "dtor")

    def __init__(self, rep: Any = None, dtor: int | None = None):
        self.rep: Any = rep
        self.dtor: int | None = dtor


class Alias:
    """A type named again (a type export or an ``eq`` import): ``target`` is the type named."""

    __slots__ = ("target",)

    def __init__(self, target: Any):
        self.target: Any = target


@record(eq=False)
class FuncT:
    """A function type: ``params`` ``((name, type), ...)``, ``result`` a type or None."""

    params: tuple[tuple[str, Any], ...]
    result: Any
    is_async: bool = False


@record(eq=False)
class InstT:
    """An instance type: ``exports`` ``{name: Ent}``."""

    exports: dict[str, Ent] = field(default_factory=dict)


@record(eq=False)
class CompT:
    """A component type: ``imports`` and ``exports`` ``{name: Ent}``."""

    imports: dict[str, Ent] = field(default_factory=dict)
    exports: dict[str, Ent] = field(default_factory=dict)


@record(eq=False)
class Ent:
    """An import/export: ``sort`` and its type; for types ``ty`` is the *created* object (the new
    name) and ``referenced`` what it refers to; ``name`` the extern name (ExternName)."""

    sort: str
    ty: Any
    referenced: Any = None
    name: Any = None


def peel(t: Any) -> Any:
    """The type an Alias chain ends at."""
    for _ in range(10_000):
        if not isinstance(t, Alias):
            return t
        t = t.target
    raise ValidationError("type alias chain too long")


class Scope:
    """The index spaces of one component, component type or instance type."""

    def __init__(self, parent: "Scope | None" = None, depth: int = 0):
        if depth > MAX_DEPTH:
            raise ValidationError("component nesting too deep")
        self.parent = parent
        self.depth = depth
        self.types: list[Any] = []
        self.funcs: list[Any] = []
        self.instances: list[Any] = []
        self.components: list[Any] = []
        self.values: list[Any] = []
        self.imports: dict[str, Ent] = {}
        self.exports: dict[str, Ent] = {}
        self.externs: list[tuple[str, Ent]] = []    # ("import" | "export", Ent) in order
        self.budget: _Budget = parent.budget if parent is not None else _Budget()

    def get(self, space: list[Any], i: int, what: str) -> Any:
        """``space[i]``, or ValidationError naming ``what`` when out of bounds."""
        if not isinstance(i, int) or not 0 <= i < len(space):
            name = "function" if what == "func" else what
            raise ValidationError(f"unknown {name} {i}: {name} index out of bounds")
        return space[i]

    def type(self, i: int) -> Any:
        """Type ``i`` of this scope (ValidationError when out of bounds)."""
        return self.get(self.types, i, "type")

    def outer(self, count: int) -> "Scope":
        s = self
        for _ in range(count):
            if s.parent is None:
                raise ValidationError(f"invalid outer alias count of {count}")
            s = s.parent
        return s

    # -- value and type definitions ------------------------------------------------------------

    def valtype(self, vt: T.ValType) -> Any:
        """A value type resolved: a primitive's name, or the type object index ``vt`` names."""
        if isinstance(vt, str):
            return vt
        return self.type(vt)

    def _opt(self, vt):
        return None if vt is None else self.valtype(vt)

    def defined(self, t: Any) -> Any:
        """The type object of type definition ``t`` (a Def, FuncT, Res, InstT or CompT)."""
        k = type(t)
        v = self.valtype
        if k is T.Primitive:
            return Def("prim", t.name)
        if k is T.Record:
            return Def("record", tuple((n, v(x)) for n, x in t.fields))
        if k is T.Variant:
            return Def("variant", tuple((c.name, self._opt(c.type)) for c in t.cases))
        if k is T.List:
            return Def("list", v(t.element)) if t.length is None else Def("fixed-list", (v(t.element), t.length))
        if k is T.Map:
            return Def("map", (v(t.key), v(t.value)))
        if k is T.Tuple:
            return Def("tuple", tuple(v(x) for x in t.types))
        if k is T.Flags:
            return Def("flags", t.names)
        if k is T.Enum:
            return Def("enum", t.names)
        if k is T.Option:
            return Def("option", v(t.type))
        if k is T.Result:
            return Def("result", (self._opt(t.ok), self._opt(t.err)))
        if k is T.Own:
            return Def("own", self.type(t.resource))
        if k is T.Borrow:
            return Def("borrow", self.type(t.resource))
        if k is T.Future:
            return Def("future", self._opt(t.type))
        if k is T.Stream:
            return Def("stream", self._opt(t.type))
        if k is T.FuncType:
            return FuncT(tuple((n, v(x)) for n, x in t.params), self._opt(t.result), t.is_async)
        if k is T.ResourceType:
            return Res(t.rep, t.dtor)
        if k is T.InstanceType:
            s = Scope(self, self.depth + 1)
            s.decls(t.decls)
            return InstT(s.exports)
        if k is T.ComponentType:
            s = Scope(self, self.depth + 1)
            s.decls(t.decls)
            return CompT(s.imports, s.exports)
        raise ValidationError(f"unknown type definition {t!r}")

    def decls(self, decls: tuple[Any, ...]) -> None:
        """Add the declarations of a component or instance type to this scope."""
        for d in decls:
            k = type(d)
            if k is T.DeclImport:
                self.add_import(d.name, d.desc)
            elif k is T.DeclExport:
                ent = self.desc_ent(d.desc)
                ent.name = d.name
                self.exports[d.name.name] = ent
                self.push(ent)
            elif d.kind == "type":
                self.types.append(self.defined(d.item))
            elif d.kind == "alias":
                self.alias(d.item)

    # -- entities ---------------------------------------------------------------------------------

    def desc_ent(self, desc: T.ExternDesc) -> Ent:
        sort = desc.sort
        if sort == "type":
            if desc.ref.index is None:
                r = Res()
                return Ent("type", r, r)
            target = self.type(desc.ref.index)
            return Ent("type", Alias(target), target)
        if sort == "value":
            return Ent("value", self.valtype(desc.ref))
        if sort == "core module":
            return Ent("core module", None)
        t: Any = self.type(desc.ref)
        want: Any = {"func": FuncT, "instance": InstT, "component": CompT}[sort]
        if not isinstance(t, want):
            article = "an" if sort == "instance" else "a"
            raise ValidationError(f"type index {desc.ref} is not {article} {sort if sort != 'func' else 'function'} type")
        if sort == "instance":      # each import of an instance type has resources of its own
            fresh = {id(e.ty): Res() for e in t.exports.values() if e.sort == "type" and isinstance(e.ty, Res)}
            if fresh:
                sub = _Subst(fresh, self.budget)
                t = InstT({n: sub.ent(e) for n, e in t.exports.items()})
        return Ent(sort, t)

    def push(self, ent: Ent) -> None:
        space = {"type": self.types, "func": self.funcs, "instance": self.instances,
                 "component": self.components}.get(ent.sort)
        if space is not None:
            space.append(ent.ty)

    def add_import(self, name: T.ExternName, desc: T.ExternDesc) -> None:
        ent = self.desc_ent(desc)
        ent.name = name
        self.imports[name.name] = ent
        self.externs.append(("import", ent))
        self.push(ent)

    def item_ent(self, sort: str, index: int) -> Ent:
        if sort == "type":
            t = self.type(index)
            return Ent("type", Alias(t), t)
        space = {"func": self.funcs, "instance": self.instances, "component": self.components}.get(sort)
        if space is None:       # values (start results, value imports) are not tracked
            return Ent(sort, None)
        return Ent(sort, self.get(space, index, sort))

    def alias(self, a: Any) -> None:
        """Add what alias ``a`` names to its index space."""
        if isinstance(a, T.OuterAlias):
            if a.sort in ("type", "component"):
                s = self.outer(a.count)
                space = s.types if a.sort == "type" else s.components
                (self.types if a.sort == "type" else self.components).append(self.get(space, a.index, a.sort))
            return
        if a.sort.startswith("core"):
            return
        inst = self.get(self.instances, a.instance, "instance")
        ent = inst.exports.get(a.name)
        if ent is None:
            raise ValidationError(f"instance {a.instance} has no export named `{a.name}`")
        if ent.sort != a.sort:
            raise ValidationError(f"export `{a.name}` is a {ent.sort}, not a {a.sort}")
        self.push(Ent(ent.sort, ent.ty))


class _Budget:
    """Work left for substitutions in one evaluation (hostile inputs nest instantiations exponentially)."""

    def __init__(self, work: int = MAX_TYPE_WORK):
        self.left: int = work

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise ValidationError("effective type size exceeds the limit")


_NO_BUDGET = _Budget(1 << 62)


class _Subst:
    """Memoised substitution of resources in types (instantiation)."""

    def __init__(self, mapping: dict[int, Any], budget: _Budget = _NO_BUDGET):
        self.map = mapping
        self.memo: dict[int, Any] = {}
        self.budget = budget
        self.depth = 0

    def __call__(self, t):
        if isinstance(t, str) or t is None:
            return t
        key = id(t)
        if key in self.memo:
            return self.memo[key]
        self.budget.spend()
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ValidationError("type nesting is too deep")
            out = self._subst(t, key)
        finally:
            self.depth -= 1
        self.memo[key] = out
        return out

    def _subst(self, t, key: int):
        if key in self.map:
            out = self.map[key]
        elif isinstance(t, Alias):
            tgt = self(t.target)
            out = t if tgt is t.target else Alias(tgt)
        elif isinstance(t, Def):
            out = self._def(t)
        elif isinstance(t, FuncT):
            params = tuple((n, self(x)) for n, x in t.params)
            res = self(t.result)
            same = res is t.result and all(a[1] is b[1] for a, b in zip(params, t.params))
            out = t if same else FuncT(params, res, t.is_async)
        elif isinstance(t, InstT):
            out = InstT({n: self.ent(e) for n, e in t.exports.items()})
        else:
            out = t
        return out

    def _def(self, t: Def):
        d = t.data
        k = t.kind
        new: tuple
        if k in ("record", "variant"):
            new = tuple((n, self(x)) for n, x in d)
            changed = any(a[1] is not b[1] for a, b in zip(new, d))
        elif k == "tuple":
            new = tuple(self(x) for x in d)
            changed = any(a is not b for a, b in zip(new, d))
        elif k in ("map", "result", "fixed-list"):
            new = tuple(self(x) if not isinstance(x, int) else x for x in d)
            changed = any(a is not b for a, b in zip(new, d))
        elif k in ("list", "option", "own", "borrow", "future", "stream"):
            new = self(d)
            changed = new is not d
        else:
            return t
        return Def(k, new) if changed else t

    def ent(self, e: Ent) -> Ent:
        return Ent(e.sort, self(e.ty), self(e.referenced), e.name)


def _instantiate(comp: CompT, args: dict[str, Ent], budget: _Budget) -> InstT:
    mapping: dict[int, Any] = {}
    for name, imp in comp.imports.items():
        arg = args.get(name)
        if arg is None:
            continue
        if imp.sort == "type" and arg.sort == "type":
            mapping[id(imp.ty)] = arg.ty            # the import's type stands for the argument's
        elif imp.sort == "instance" and isinstance(arg.ty, InstT):
            for n, e in imp.ty.exports.items():
                a = arg.ty.exports.get(n)
                if e.sort == "type" and a is not None and a.sort == "type":
                    mapping[id(e.ty)] = a.ty
    if not mapping:
        return InstT(comp.exports)      # nothing to substitute: share the types
    sub = _Subst(mapping, budget)
    return InstT({n: sub.ent(e) for n, e in comp.exports.items()})


def _component_items(scope: Scope, comp) -> None:
    """Fill ``scope`` from the items of the Component ``comp`` (nested components evaluated first)."""
    for sid, item in comp.items():
        if sid == 7:
            scope.types.append(scope.defined(item))
        elif sid == 10:
            scope.add_import(item.name, item.desc)
        elif sid == 11:
            if item.desc is not None and item.desc.sort != "type":
                ent = scope.desc_ent(item.desc)     # the ascribed type names the export's types
            else:
                ent = scope.item_ent(item.sort, item.index)
            ent.name = item.name
            scope.exports[item.name.name] = ent
            scope.externs.append(("export", ent))
            scope.push(ent)
        elif sid == 6:
            scope.alias(item)
        elif sid == 8 and item.op == "lift":
            t = scope.type(item.args[1])
            if not isinstance(t, FuncT):
                raise ValidationError("canon lift type is not a function type")
            scope.funcs.append(t)
        elif sid == 4:
            child = Scope(scope, scope.depth + 1)
            _component_items(child, item)
            scope.components.append(CompT(child.imports, child.exports))
        elif sid == 5:
            _instance(scope, item)


def _instance(scope: Scope, item) -> None:
    if isinstance(item, T.ComponentInstantiate):
        comp = scope.get(scope.components, item.component, "component")
        args = {a.name: scope.item_ent(a.sort, a.index) for a in item.args}
        scope.instances.append(_instantiate(comp, args, scope.budget))
    else:
        exports = {}
        for e in item.exports:
            ent = scope.item_ent(e.sort, e.index)
            ent.name = e.name
            exports[e.name.name] = ent
        scope.instances.append(InstT(exports))


def evaluate(comp: Component) -> Scope:
    """The index spaces and the imports/exports (``scope.externs``) of the Component ``comp``."""
    scope = Scope()
    _component_items(scope, comp)
    return scope
