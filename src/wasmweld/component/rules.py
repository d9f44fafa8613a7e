"""wasmweld's own component checks beyond the canonical options: core instantiation, GC lowering, values.

wasmtime validates components only under the proposals it implements; for the others
(``cm-gc``, ``cm-values``, ``cm64``, ``cm-error-context``, ...) wasmweld checks the
component itself. :func:`rule_problems` walks every component (nested ones too) in
file order, keeping its core index spaces (core types, functions with their
signatures, memories, instances, modules), and reports with wasm-tools' wording::

    (component
      (core module $m (import "" "" (func (result i32))))
      (core func $f (canon context.get i64 0))
      (core instance (instantiate $m (with "" (instance (export "" (func $f)))))))
    ;; type mismatch for export `` of module instantiation argument ``
    ;; expected: (func (result i32))
    ;; found:    (func (result i64))

Checked: core instantiation arguments (every import of the module found, of the
right kind and type: function signatures, memory index type and page size),
``canon`` definitions with the ``gc`` option against their ``core-type``
(:mod:`wasmweld.component.gclower`), the context slot types of ``context.get`` /
``context.set``, resource destructor signatures, ``realloc`` on a 64-bit memory,
fixed-length list sizes, and the value index space (every value used exactly
once; start-function arguments). What cannot be known (an outer alias, a
signature that depends on a type this pass does not evaluate) is not checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..errors import ValidationError
from ..types import I32, I64, FuncType, MemoryType, NumType
from . import typeval as tv
from . import types as T
from .gclower import core_type_str, gc_problems

if TYPE_CHECKING:
    from .model import Component

__all__ = ["rule_problems", "check_rules", "func_str", "type_mismatch", "MAX_FIXED_LIST"]

#: wasmparser's MAX_WASM_FIXED_LENGTH_LIST_ELEMENTS
MAX_FIXED_LIST = 1 << 30

_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
_SORT_KINDS = {"core func": 0, "core table": 1, "core memory": 2, "core global": 3, "core tag": 4}

# the core signatures of the canon built-ins whose signature does not depend on options
_FIXED: dict[str, FuncType] = {
    "resource.drop": FuncType((I32,), ()), "backpressure.inc": FuncType(), "backpressure.dec": FuncType(),
    "task.cancel": FuncType(), "subtask.drop": FuncType((I32,), ()), "subtask.cancel": FuncType((I32,), (I32,)),
    "stream.new": FuncType((), (I64,)), "future.new": FuncType((), (I64,)),
    "stream.cancel-read": FuncType((I32,), (I32,)), "stream.cancel-write": FuncType((I32,), (I32,)),
    "future.cancel-read": FuncType((I32,), (I32,)), "future.cancel-write": FuncType((I32,), (I32,)),
    "stream.drop-readable": FuncType((I32,), ()), "stream.drop-writable": FuncType((I32,), ()),
    "future.drop-readable": FuncType((I32,), ()), "future.drop-writable": FuncType((I32,), ()),
    "error-context.drop": FuncType((I32,), ()), "waitable-set.new": FuncType((), (I32,)),
    "waitable-set.drop": FuncType((I32,), ()), "waitable.join": FuncType((I32, I32), ()),
    "thread.index": FuncType((), (I32,)), "thread.yield": FuncType((), (I32,)),
    "thread.resume-later": FuncType((I32,), ()), "thread.suspend": FuncType((), (I32,)),
    "thread.available-parallelism": FuncType((), (I32,)),
}
# built-ins whose signature is fixed unless a `core-type` option declares it
_UNLESS_CORE_TYPE: dict[str, FuncType] = {
    "stream.read": FuncType((I32,) * 3, (I32,)), "stream.write": FuncType((I32,) * 3, (I32,)),
    "future.read": FuncType((I32,) * 2, (I32,)), "future.write": FuncType((I32,) * 2, (I32,)),
}
# built-ins taking pointers into the `memory` option: (params, results) with "p" for a pointer
_POINTER: dict[str, tuple[str, str]] = {
    "error-context.new": ("pp", "i"), "error-context.debug-message": ("ip", ""),
}


def func_str(t: FuncType) -> str:
    """``(func (param i32) (result i64))``, as wasmparser prints a core function type."""
    out = "(func"
    if t.params:
        out += " (param " + " ".join(core_type_str(p) for p in t.params) + ")"
    if t.results:
        out += " (result " + " ".join(core_type_str(r) for r in t.results) + ")"
    return out + ")"


def _plain(t: FuncType | None) -> bool:
    """True if ``t`` is known and has no type-index references, so it compares across modules: function types
    are final, so a core instantiation argument matches only the same type (wasm-tools: ``eqref`` results
    do not match an import of ``anyref`` ones)."""
    if t is None:
        return False
    return all(isinstance(v, NumType) or isinstance(getattr(v, "heap", None), str) for v in (*t.params, *t.results))


class _Core:
    """The core index spaces of one component (None where a type is unknown)."""

    def __init__(self) -> None:
        self.types: list[Any] = []          # SubType, or None (module types, aliases)
        self.funcs: list[FuncType | None] = []
        self.memories: list[MemoryType | None] = []
        self.instances: list[dict[str, tuple[int, Any]] | None] = []
        self.modules: list[Any] = []        # Module or None
        self.context: Any = None


class _Walk:
    """One component's checks, in file order (nested components walked as they come)."""

    def __init__(self, problems: list[str], depth: int = 0, scope: Any = None,
                 canon_hook: Callable[[int, Any], list[str]] | None = None):
        if depth > 100:
            raise ValidationError("component nesting too deep")
        self.problems = problems
        self.depth = depth
        self.core = _Core()
        self.values: list[bool] = []        # used?
        self.value_types: list[Any] = []
        self.funcs: list[Any] = []          # component funcs: T.FuncType or None
        self.types: list[Any] = []          # component types: the T item or None
        self.instances: list[Any] = []      # dict name -> (sort, type) or None
        self.scope = scope                  # typeval's index spaces (outermost component only)
        self.canon_hook = canon_hook        # more checks of each canon (outermost component only)
        self.canons = 0

    def add(self, msg: str) -> None:
        self.problems.append(msg)

    # -- walk -----------------------------------------------------------------------------------

    def run(self, comp) -> None:
        for sid, item in comp.items():
            handler = _HANDLERS.get(sid)
            if handler is not None:
                handler(self, item)
        for i, used in enumerate(self.values):
            if not used:
                self.add(f"value index {i} was not used as part of an instantiation, start function, or export")

    def on_module(self, m) -> None:
        self.core.modules.append(m)

    def on_component(self, c) -> None:
        _Walk(self.problems, self.depth + 1).run(c)
        self.types.append(None)

    def on_core_type(self, item) -> None:
        if isinstance(item, T.CoreRecGroup):
            self.core.types.extend(item.group.types)
        else:
            self.core.types.append(None)

    def on_type(self, item) -> None:
        self.types.append(item)
        if isinstance(item, T.List) and item.length is not None:
            if item.length < 1:
                self.add("Fixed-length lists must have more than zero elements")
            elif item.length > MAX_FIXED_LIST:
                self.add(f"fixed-length list element count exceeds limit of {MAX_FIXED_LIST}")
        if isinstance(item, T.ResourceType) and item.dtor is not None:
            rep = I64 if getattr(item.rep, "name", "i32") == "i64" else I32
            t = self.core.funcs[item.dtor] if 0 <= item.dtor < len(self.core.funcs) else None
            if t is not None and _plain(t) and (tuple(t.params), tuple(t.results)) != ((rep,), ()):
                self.add(f"core function {item.dtor} has wrong signature for a destructor")

    def on_import(self, item) -> None:
        self._extern(item.desc.sort, item.desc)

    def _extern(self, sort: str, desc) -> None:
        if sort == "value":
            self.values.append(False)
            self.value_types.append(desc.ref if desc is not None else None)
        elif sort == "func":
            t = self._type(desc.ref) if desc is not None else None
            self.funcs.append(t if isinstance(t, T.FuncType) else None)
        elif sort == "type":
            self.types.append(None)
        elif sort == "instance":
            self.instances.append(None)
        elif sort == "core module":
            self.core.modules.append(None)

    def _type(self, i) -> Any:
        return self.types[i] if isinstance(i, int) and 0 <= i < len(self.types) else None

    def on_export(self, item) -> None:
        if item.sort == "value":
            self.use_value(item.index)
        self._extern(item.sort, item.desc)
        if item.sort == "value":
            self.values[-1] = True
            self.value_types[-1] = self.value_types[item.index] if 0 <= item.index < len(self.value_types) else None

    def use_value(self, i: int) -> None:
        if not 0 <= i < len(self.values):
            self.add(f"unknown value {i}: value index out of bounds")
        elif self.values[i]:
            self.add(f"value {i} cannot be used more than once")
        else:
            self.values[i] = True

    def on_alias(self, a) -> None:
        if isinstance(a, T.OuterAlias):
            if a.sort == "core type":
                self.core.types.append(None)
            elif a.sort == "core module":
                self.core.modules.append(None)
            elif a.sort == "type":
                self.types.append(None)
            return
        if a.sort.startswith("core"):
            kind = _SORT_KINDS.get(a.sort)
            inst = self.core.instances[a.instance] if 0 <= a.instance < len(self.core.instances) else None
            found = inst.get(a.name) if inst is not None else None
            if inst is not None and found is None:
                self.add(f"core instance {a.instance} has no export named `{a.name}`")
            t = found[1] if found is not None and found[0] == kind else None
            if kind == 0:
                self.core.funcs.append(t)
            elif kind == 2:
                self.core.memories.append(t)
            return
        self._extern(a.sort, None)

    def on_core_instance(self, item) -> None:
        if isinstance(item, T.CoreInstanceExports):
            exports: dict[str, tuple[int, Any]] = {}
            for e in item.exports:
                space = self.core.funcs if e.kind == 0 else self.core.memories if e.kind == 2 else []
                exports[e.name] = (e.kind, space[e.index] if 0 <= e.index < len(space) else None)
            self.core.instances.append(exports)
            return
        m = self.core.modules[item.module] if 0 <= item.module < len(self.core.modules) else None
        if m is None:
            self.core.instances.append(None)
            return
        try:
            self._instantiate(m, item)
            self.core.instances.append(_module_exports(m))
        except ValidationError:
            raise
        except Exception:  # noqa: BLE001 - an undecodable module: its own validation reports it
            self.core.instances.append(None)

    def _instantiate(self, m, item) -> None:
        args = {a.name: a.index for a in item.args}
        types = m.type_list()
        for imp in m.imports:
            if imp.module not in args:
                self.add(f"missing module instantiation argument named `{imp.module}`")
                continue
            ai = args[imp.module]
            inst = self.core.instances[ai] if 0 <= ai < len(self.core.instances) else None
            if inst is None:
                continue
            got = inst.get(imp.name)
            where = f"export `{imp.name}` of module instantiation argument `{imp.module}`"
            if got is None:
                self.add(f"module instantiation argument `{imp.module}` does not export an item named "
                         f"`{imp.name}`")
                continue
            kind = int(imp.kind)
            if got[0] != kind:
                self.add(f"type mismatch for {where}: expected {_KINDS.get(kind)}, found {_KINDS.get(got[0])}")
            elif kind == 0 and 0 <= imp.desc < len(types):
                want = types[imp.desc].comp
                if isinstance(want, FuncType) and _plain(want) and _plain(got[1]) and want != got[1]:
                    self.add(f"type mismatch for {where}\nexpected: {func_str(want)}\nfound:    {func_str(got[1])}")
            elif kind == 2 and isinstance(got[1], MemoryType):
                a, b = got[1].limits, imp.desc.limits
                if a.shared != b.shared:
                    self.add(f"type mismatch for {where}: mismatch in the shared flag for memories")
                elif a.is64 != b.is64:
                    self.add(f"type mismatch for {where}: mismatch in index type used for memories")
                elif _page_log2(a) != _page_log2(b):
                    self.add(f"type mismatch for {where}: mismatch in page size for memories")

    def on_instance(self, item) -> None:
        if isinstance(item, T.ComponentInstantiate):
            for a in item.args:
                if a.sort == "value":
                    self.use_value(a.index)
                elif a.sort == "type" and self.scope is not None:
                    self._type_arg(item.component, a)
        else:
            for e in item.exports:
                if e.sort == "value":
                    self.use_value(e.index)
        self.instances.append(None)

    def _type_arg(self, comp_index: int, a) -> None:
        comps, types = self.scope.components, self.scope.types
        if not (0 <= comp_index < len(comps) and 0 <= a.index < len(types)):
            return
        imp = comps[comp_index].imports.get(a.name)
        if imp is not None and imp.sort == "type" and isinstance(imp.ty, tv.Alias):
            why = type_mismatch(types[a.index], imp.ty)
            if why is not None:
                self.add(f"type mismatch for import `{a.name}`\n{why}")

    def on_start(self, s) -> None:
        f = self.funcs[s.func] if 0 <= s.func < len(self.funcs) else None
        if isinstance(f, T.FuncType) and len(f.params) != len(s.args):
            self.add(f"component start function requires {len(f.params)} arguments but was given {len(s.args)}")
        for i in s.args:
            self.use_value(i)
        if isinstance(f, T.FuncType):
            if len(f.params) == len(s.args):
                for n, ((_, want), i) in enumerate(zip(f.params, s.args)):
                    got = self.value_types[i] if 0 <= i < len(self.value_types) else None
                    if isinstance(want, str) and isinstance(got, str) and want != got:
                        self.add(f"value type mismatch for component start function argument {n}")
        for _ in range(min(s.results, 1 << 16)):
            self.values.append(False)
            self.value_types.append(f.result if isinstance(f, T.FuncType) else None)

    def on_canon(self, c) -> None:
        op = c.op
        if self.canon_hook is not None:
            self.problems.extend(self.canon_hook(self.canons, c))
        self.canons += 1
        if op == "lift":
            t = self._type(c.args[1])
            self.funcs.append(t if isinstance(t, T.FuncType) else None)
        if c.option("gc") is not None:
            self.problems.extend(gc_problems(c, self._resolved_func(c), self.core.types))
        realloc = c.option_index("realloc")
        mem = c.option_index("memory")
        if realloc is not None and mem is not None and 0 <= mem < len(self.core.memories):
            mt = self.core.memories[mem]
            rt = self.core.funcs[realloc] if 0 <= realloc < len(self.core.funcs) else None
            if isinstance(mt, MemoryType) and rt is not None and _plain(rt):
                p = I64 if mt.limits.is64 else I32
                if (tuple(rt.params), tuple(rt.results)) != ((p,) * 4, (p,)):
                    self.add("canonical option `realloc` uses a core function with an incorrect signature")
        if op == "lift":
            return
        self.core.funcs.append(self._core_sig(c))
        if op in ("context.get", "context.set"):
            vt = c.args[0]
            if self.core.context is None:
                self.core.context = vt
            elif self.core.context != vt:
                self.add(f"`{op}` type must match previous context type")

    def _resolved_func(self, c) -> Any:
        if c.op != "lower" or self.scope is None:
            return None
        funcs = self.scope.funcs
        return funcs[c.args[0]] if 0 <= c.args[0] < len(funcs) else None

    def _core_sig(self, c) -> FuncType | None:
        op = c.op
        if op in _FIXED:
            return _FIXED[op]
        if op in ("resource.new", "resource.rep"):
            rt = self._type(c.args[0])
            if not (isinstance(rt, T.ResourceType) and rt.rep in (I32, I64)):
                return None
            return FuncType((rt.rep,), (I32,)) if op == "resource.new" else FuncType((I32,), (rt.rep,))
        if op == "context.get":
            return FuncType((), (c.args[0],)) if c.args[0] in (I32, I64) else None
        if op == "context.set":
            return FuncType((c.args[0],), ()) if c.args[0] in (I32, I64) else None
        if c.option("core-type") is not None:      # the declared type (checked by wasmtime / gclower)
            return None
        if op in _UNLESS_CORE_TYPE:
            return _UNLESS_CORE_TYPE[op]
        if op in ("waitable-set.wait", "waitable-set.poll"):
            mi = c.args[1]
            mt = self.core.memories[mi] if isinstance(mi, int) and 0 <= mi < len(self.core.memories) else None
            if not isinstance(mt, MemoryType):
                return None
            return FuncType((I32, I64 if mt.limits.is64 else I32), (I32,))
        if op in _POINTER:
            mem = c.option_index("memory")
            mt = self.core.memories[mem] if mem is not None and 0 <= mem < len(self.core.memories) else None
            if not isinstance(mt, MemoryType) or mt.limits.is64:
                return None
            params, results = _POINTER[op]
            return FuncType(tuple(I32 for _ in params), tuple(I32 for _ in results))
        return None


def type_mismatch(found: Any, expected: Any, depth: int = 0) -> str | None:
    """Why value type ``found`` is not ``expected`` (wasm-tools' words), or None: the same, or not decided
    here (resources, records, ... are left to wasmtime)."""
    if depth > 100:
        return None
    a, b = tv.peel(found), tv.peel(expected)
    if a is b:
        return None
    if isinstance(a, tv.Def) and a.kind == "prim":
        a = a.data
    if isinstance(b, tv.Def) and b.kind == "prim":
        b = b.data
    if isinstance(a, str) and isinstance(b, str):
        return None if a == b else f"expected primitive `{b}` found primitive `{a}`"
    if isinstance(b, str) and isinstance(a, tv.Def):
        return f"expected primitive, found {_kind_name(a)}"
    if isinstance(a, str) and isinstance(b, tv.Def):
        return f"expected {_kind_name(b)}, found {a}"
    if not (isinstance(a, tv.Def) and isinstance(b, tv.Def)):
        return None
    if a.kind != b.kind:
        return f"expected {_kind_name(b)}, found {_kind_name(a)}"
    if a.kind == "list":
        return type_mismatch(a.data, b.data, depth + 1)
    if a.kind == "fixed-list":
        if a.data[1] != b.data[1]:
            return f"expected fixed-length list of {b.data[1]} elements, found {a.data[1]}"
        return type_mismatch(a.data[0], b.data[0], depth + 1)
    return None


def _kind_name(t: tv.Def) -> str:
    return {"fixed-list": "fixed-length list"}.get(t.kind, t.kind)


def _page_log2(limits) -> int:
    return 16 if limits.page_size_log2 is None else limits.page_size_log2


def _module_exports(m) -> dict[str, tuple[int, Any]]:
    out: dict[str, tuple[int, Any]] = {}
    for e in m.exports:
        k = int(e.kind)
        t: Any = None
        if k == 0:
            t = m.func_type(e.index)
        elif k == 2:
            t = m.memory_type(e.index)
        out[e.name] = (k, t)
    return out


_HANDLERS = {
    1: _Walk.on_module, 2: _Walk.on_core_instance, 3: _Walk.on_core_type, 4: _Walk.on_component,
    5: _Walk.on_instance, 6: _Walk.on_alias, 7: _Walk.on_type, 8: _Walk.on_canon, 9: _Walk.on_start,
    10: _Walk.on_import, 11: _Walk.on_export,
}


def rule_problems(comp: Component, canon_hook: Callable[[int, Any], list[str]] | None = None) -> list[str]:
    """Every problem the checks of this module find in ``comp`` (and its nested components), in file order;
    ``canon_hook(i, canon)`` adds the problems of the outermost component's ``i``-th canon where it comes."""
    problems: list[str] = []
    try:
        scope = tv.evaluate(comp)
    except ValidationError as e:
        return [str(e)]
    _Walk(problems, scope=scope, canon_hook=canon_hook).run(comp)
    return problems


def check_rules(comp: Component) -> None:
    """Raise :class:`ValidationError` with the first problem :func:`rule_problems` finds."""
    problems = rule_problems(comp)
    if problems:
        raise ValidationError(problems[0])

