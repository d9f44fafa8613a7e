"""Components in a World: run-time composition by interface name, on wasmtime's component API.

::

    >>> from wasmweld.runtime.component_world import ComponentWorld
    >>> w = ComponentWorld(wasi=True)
    >>> w.add("app", "consumer.wasm")          # imports test:values/provider@0.1.0
    >>> w.add("lib", "provider.wasm")          # exports it; the order of add() does not matter
    >>> w.invoke("app", "test:values/consumer@0.1.0#echo-string", "héllo")
    'héllo'

A component's import of an instance named ``pkg:ns/iface[@version]`` is satisfied,
in this order, by Python host functions given with :meth:`define_interface`, by
another added component exporting an instance of that name (its functions are
forwarded: the call copies values out of one component's memory and into the
other's, as the component model prescribes), or by WASI 0.2 (``wasi:*``) when the
World was granted WASI (:class:`~wasmweld.runtime.wasi.WasiOptions`, off unless
granted). Components are instantiated on first use, providers first (a cycle or a
missing interface is a :class:`~wasmweld.errors.LinkError` naming it).

Values are wasmtime-py's: ``wasmtime.component.Record`` (plain dicts are accepted
on the way in), ``Variant``, sets for flags, tuples, ``None`` for an empty option,
``ResourceAny`` handles. Resources crossing between two components are passed as
host resources of the consumer and mapped back to the provider's handles; dropping
the consumer's handle runs the provider's destructor.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable
from typing import Any

from wasmweld.errors import ExecutionError, LinkError
from wasmweld.runtime.engine import instantiate

__all__ = ["ComponentWorld", "ComponentHandle", "split_func_name", "component_source", "components_of"]

_ids = itertools.count(1 << 20)


def split_func_name(name: str) -> tuple[str | None, str]:
    """``"pkg:ns/iface@1.0#f"`` -> ``("pkg:ns/iface@1.0", "f")``; ``"f"`` -> ``(None, "f")``."""
    if "#" in name:
        iface, _, func = name.rpartition("#")
        return iface, func
    return None, name


def component_source(source: Any) -> bool:
    """True if ``source`` (bytes, a path, a wasmweld Component) is a component binary."""
    import sys

    from wasmweld.binary.reader import is_component  # (not the component model: ~30 ms to import)

    model = sys.modules.get("wasmweld.component")  # a Component exists only once its module was imported
    if model is not None and isinstance(source, model.Component):
        return True
    if isinstance(source, (bytes, bytearray, memoryview)):
        return is_component(source)
    if isinstance(source, (str, os.PathLike)) and not (isinstance(source, str) and source.lstrip().startswith("(")):
        from wasmweld.files import peek_regular_file

        head = peek_regular_file(source, 8)     # (a FIFO or device: not a component, and not waited on)
        return head is not None and is_component(head)
    return False


def components_of(world: Any) -> "ComponentWorld":
    """The ComponentWorld holding the components of a :class:`~wasmweld.runtime.world.World`
    (created on first use, with the World's WASI grant; its own store). Components and core
    modules of one World import scalar functions from each other by interface name
    (:mod:`wasmweld.runtime.component_mixed`)."""
    cw = getattr(world, "_components", None)
    if cw is None:
        cw = ComponentWorld(wasi=getattr(world, "wasi_options", None) or False)
        cw.core_world = world       # its core modules provide interfaces (runtime.component_mixed)
        world._components = cw
    return cw


_SORTS = {"ComponentInstanceType": "instance", "FuncType": "func", "ComponentType": "component",
          "ModuleType": "module"}


def _is_type_only(ty: Any, engine: Any) -> bool:
    """An instance type whose exports are all types and none a resource: an interface imported only for
    its types (as a world exporting ``checkout`` that uses ``prices.{line}`` has); it needs no provider,
    an empty instance does."""
    for y in ty.exports(engine).values():
        kind = type(y.ty).__name__
        if kind == "ResourceType" or kind in _SORTS:
            return False
    return True


def _imports_exports(compiled: Any, engine: Any) -> tuple[dict[str, str], dict[str, tuple[str, dict[str, str]]], set[str]]:
    """``({import name: sort}, {export name: (sort, {member: sort})}, {type-only instance imports})`` from
    the compiled component's types (wasmtime's view of them: no second decoding of the binary)."""
    imports: dict[str, str] = {}
    type_only: set[str] = set()
    for n, x in compiled.type.imports(engine).items():
        imports[n] = sort = _SORTS.get(type(x.ty).__name__, "type")
        if sort == "instance" and _is_type_only(x.ty, engine):
            type_only.add(n)
    exports: dict[str, tuple[str, dict[str, str]]] = {}
    for n, x in compiled.type.exports(engine).items():
        ty = x.ty
        sort = _SORTS.get(type(ty).__name__, "type")
        members: dict[str, str] = {}
        if sort == "instance":
            for m, y in ty.exports(engine).items():
                kind = type(y.ty).__name__
                members[m] = "resource" if kind == "ResourceType" else _SORTS.get(kind, "type")
        exports[n] = (sort, members)
    return imports, exports, type_only


class ComponentHandle:
    """A component added to a :class:`ComponentWorld`: ``name``, ``imports``, ``exports``."""

    def __init__(self, name: str, data: bytes, compiled: Any, engine: Any = None):
        from wasmweld.runtime.component import component_engine

        self.name = name
        self.data = data
        self.compiled = compiled
        self.imports: dict[str, str]
        self.exports: dict[str, tuple[str, dict[str, str]]]
        self.type_only: set[str]
        self.imports, self.exports, self.type_only = _imports_exports(compiled, engine or component_engine())
        self.instance: Any = None

    def __repr__(self) -> str:
        state = "instantiated" if self.instance is not None else "not instantiated"
        return f"<component {self.name!r}, {len(self.imports)} imports, {len(self.exports)} exports, {state}>"


class _Resources:
    """Guest resources of a provider seen as host resources by its consumers."""

    def __init__(self):
        self.table: dict[int, Any] = {}
        self.next_rep = itertools.count(1)
        self.types: dict[tuple[str, str], int] = {}

    def type_id(self, iface: str, name: str) -> int:
        key = (iface, name)
        if key not in self.types:
            self.types[key] = next(_ids)
        return self.types[key]

    def to_host(self, store, any_, host_type: int):
        from wasmtime.component import ResourceHost

        rep = next(self.next_rep)
        self.table[rep] = any_
        return ResourceHost.own(rep, host_type) if any_.owned else ResourceHost.borrow(rep, host_type)

    def to_guest(self, store, value, own: bool):
        from wasmtime.component import ResourceAny, ResourceHost

        if isinstance(value, ResourceAny):
            value = value.to_host(store)
        if not isinstance(value, ResourceHost):
            return value
        rep = value.rep
        any_ = self.table.pop(rep, None) if own else self.table.get(rep)
        if any_ is None:
            raise ExecutionError(f"unknown resource handle (rep {rep})")
        return any_

    def drop(self, store, rep: int) -> None:
        any_ = self.table.pop(rep, None)
        if any_ is not None and any_.owned:
            any_.drop(store)


def _walk(ty, value, fn):
    """``value`` of wasmtime component type ``ty`` with every resource replaced by ``fn(kind, resource type, v)``."""
    from wasmtime import component as wc

    if value is None:
        return None
    if isinstance(ty, (wc.OwnType, wc.BorrowType)):
        return fn("own" if isinstance(ty, wc.OwnType) else "borrow", ty.ty, value)
    if isinstance(ty, wc.ListType):
        return [_walk(ty.element, v, fn) for v in value] if not isinstance(value, (bytes, str)) else value
    if isinstance(ty, wc.RecordType):
        out = wc.Record()
        for n, t in ty.fields:
            setattr(out, n, _walk(t, value[n] if isinstance(value, dict) else getattr(value, n), fn))
        return out
    if isinstance(ty, wc.TupleType):
        return tuple(_walk(t, v, fn) for t, v in zip(ty.elements, value))
    if isinstance(ty, (wc.VariantType, wc.OptionType, wc.ResultType)):
        if isinstance(value, wc.Variant):
            for n, case in ty._cases():
                if n == value.tag and case is not None:
                    return wc.Variant(value.tag, _walk(case, value.payload, fn))
            return value
        if isinstance(ty, wc.OptionType):
            return _walk(ty.payload, value, fn)
    return value


def _has_resource(ty, depth: int = 0) -> bool:
    from wasmtime import component as wc

    if ty is None or depth > 50:
        return False
    if isinstance(ty, (wc.OwnType, wc.BorrowType)):
        return True
    if isinstance(ty, wc.ListType):
        return _has_resource(ty.element, depth + 1)
    if isinstance(ty, wc.RecordType):
        return any(_has_resource(t, depth + 1) for _, t in ty.fields)
    if isinstance(ty, wc.TupleType):
        return any(_has_resource(t, depth + 1) for t in ty.elements)
    if isinstance(ty, (wc.VariantType, wc.OptionType, wc.ResultType)):
        return any(_has_resource(t, depth + 1) for _, t in ty._cases())
    return False


def _has_record(ty, depth: int = 0) -> bool:
    """True if values of ``ty`` may hold records (where plain dicts are accepted)."""
    from wasmtime import component as wc

    if ty is None or depth > 50:
        return False
    if isinstance(ty, wc.RecordType):
        return True
    if isinstance(ty, wc.ListType):
        return _has_record(ty.element, depth + 1)
    if isinstance(ty, wc.TupleType):
        return any(_has_record(t, depth + 1) for t in ty.elements)
    if isinstance(ty, (wc.VariantType, wc.OptionType, wc.ResultType)):
        return any(_has_record(t, depth + 1) for _, t in ty._cases())
    return False


def _records_in(ty, value):
    """Plain dicts accepted for records: turn them into ``wasmtime.component.Record``."""
    return _walk(ty, value, lambda kind, rty, v: v)


class ComponentWorld:
    """Components (and Python host interfaces) linked by interface name in one store."""

    def __init__(self, *, wasi: Any = False, store: Any = None, engine: Any = None):
        import wasmtime

        from wasmweld.runtime.component import component_engine

        self.engine: Any = engine or component_engine()
        self.store: Any = store or wasmtime.Store(self.engine)
        self.wasi = wasi
        self._wasi_ready = False
        self.components: dict[str, ComponentHandle] = {}
        self.hosts: dict[str, dict[str, Callable[..., Any]]] = {}
        self.resources: _Resources = _Resources()
        self._linker: Any = None
        self._defined: set[str] = set()
        self._learnt: dict[tuple[str, str], Any] = {}
        self._funcs: dict[tuple[str, str], tuple] = {}
        #: the World whose core modules may provide interfaces (set by :func:`components_of`)
        self.core_world: Any = None

    # -- adding ------------------------------------------------------------------------------------

    def add(self, name: str, source: Any) -> ComponentHandle:
        """Add a component (bytes, a path, or a ``wasmweld.Component``) under ``name``."""
        from wasmweld.runtime.component import compile_component

        if name in self.components:
            raise LinkError(f"a component named {name!r} is already in the world")
        if hasattr(source, "encode") and not isinstance(source, (str, bytes)):
            data = source.encode()
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            from wasmweld.files import read_file

            data = read_file(source, f"component {name!r}: {os.fspath(source)}")  # bounded, regular files only
        from wasmweld.component import parse_component
        from wasmweld.errors import ValidationError

        try:
            compiled = compile_component(data)
        except ValidationError:
            parse_component(data).decode_all(modules=False)     # malformed: wasmweld's DecodeError with its offset
            raise
        handle = ComponentHandle(name, data, compiled, self.engine)
        self.components[name] = handle
        return handle

    def define_interface(self, interface: str, funcs: dict[str, Callable[..., Any]]) -> None:
        """Provide ``interface`` from Python: ``funcs`` maps function names to callables taking the
        component values (no store argument) and returning the result value (or None)."""
        if self._linker is not None and interface in self._defined:
            raise LinkError(f"interface {interface!r} is already defined")
        self.hosts[interface] = dict(funcs)

    # -- linking -----------------------------------------------------------------------------------

    def _provider_of(self, iface: str) -> ComponentHandle | None:
        found = [c for c in self.components.values() if self._exports_iface(c, iface)]
        if len(found) > 1:
            raise LinkError(f"interface {iface!r} is exported by more than one component: "
                            + ", ".join(repr(c.name) for c in found))
        return found[0] if found else None

    @staticmethod
    def _exports_iface(c: ComponentHandle, iface: str) -> bool:
        e = c.exports.get(iface)
        return e is not None and e[0] == "instance"

    def _linker_ready(self):
        from wasmtime import component as wc

        if self._linker is None:
            self._linker = wc.Linker(self.engine)
            self._linker.allow_shadowing = True
        if self.wasi and not self._wasi_ready:
            from wasmweld.runtime.wasi import WasiOptions, make_wasi_config

            opts = WasiOptions.coerce(self.wasi)
            assert opts is not None     # self.wasi is granted here
            self.store.set_wasi(make_wasi_config(opts))
            self._linker.add_wasip2()
            self._wasi_ready = True
        return self._linker

    def _order(self, target: ComponentHandle) -> list[ComponentHandle]:
        order: list[ComponentHandle] = []
        state: dict[str, int] = {}

        def visit(c: ComponentHandle, path: list[str]) -> None:
            if state.get(c.name) == 2 or c.instance is not None:
                return
            if state.get(c.name) == 1:
                raise LinkError("import cycle between components: " + " -> ".join(path + [c.name]))
            state[c.name] = 1
            for imp, sort in c.imports.items():
                if sort != "instance" or imp in self.hosts:
                    continue
                p = self._provider_of(imp)
                if p is not None and p is not c:
                    visit(p, path + [c.name])
                elif (p is None and imp not in c.type_only and self._core_provider(imp) is None
                      and not (self.wasi and imp.startswith("wasi:"))):
                    raise LinkError(f"component {c.name!r} imports {imp!r}: no component exports it"
                                    + ("" if self.wasi or not imp.startswith("wasi:") else
                                       " (WASI is not granted to this World)"))
            state[c.name] = 2
            order.append(c)

        visit(target, [])
        return order

    def _define_imports(self, c: ComponentHandle) -> None:
        linker = self._linker_ready()
        for imp, sort in c.imports.items():
            if imp in self._defined:
                continue
            if sort == "func" and imp in self.hosts.get("", {}):
                with linker.root() as root:
                    root.add_func(imp, self._host_func(self.hosts[""][imp]))
                self._defined.add(imp)
                continue
            if sort != "instance":
                continue
            if imp in self.hosts:
                with linker.root() as root, root.add_instance(imp) as li:
                    for fname, fn in self.hosts[imp].items():
                        li.add_func(fname, self._host_func(fn))
                self._defined.add(imp)
                continue
            p = self._provider_of(imp)
            if p is not None and p is not c:
                self._forward(imp, p)
                self._defined.add(imp)
            elif p is None and self._core_provider(imp) is not None:
                self._from_core(c, imp)
            elif imp in c.type_only:
                with linker.root() as root, root.add_instance(imp):
                    pass
                self._defined.add(imp)

    def _core_provider(self, iface: str) -> str | None:
        from wasmweld.runtime.component_mixed import core_module_for

        return core_module_for(self.core_world, iface)

    def _from_core(self, c: ComponentHandle, iface: str) -> None:
        """Define ``iface`` from the core module of the World named after it (scalar functions)."""
        from wasmweld.runtime.component_mixed import core_interface

        module = self._core_provider(iface)
        assert module is not None   # called only when a core module provides iface
        item = c.compiled.type.imports(self.engine)[iface]
        funcs = core_interface(self.core_world, module, iface, item, self.engine)
        with self._linker_ready().root() as root, root.add_instance(iface) as li:
            for fname, fn in funcs.items():
                li.add_func(fname, self._host_func(fn))
        self._defined.add(iface)

    @staticmethod
    def _host_func(fn: Callable) -> Callable:
        def call(store, *args):
            return fn(*args)
        return call

    def _forward(self, iface: str, p: ComponentHandle) -> None:
        from wasmtime import component as wc

        store = self.store
        inst = p.instance
        idx = inst.get_export_index(store, iface)
        members = p.exports[iface][1]
        res = self.resources
        with self._linker.root() as root, root.add_instance(iface) as li:
            for rname, sort in members.items():
                if sort == "resource":
                    tid = res.type_id(iface, rname)
                    li.add_resource(rname, wc.ResourceType.host(tid), lambda st, rep: res.drop(st, rep))
            for fname, sort in members.items():
                if sort == "func":
                    f = inst.get_func(store, inst.get_export_index(store, fname, idx))
                    li.add_func(fname, self._forwarder(iface, fname, f,
                                                      [n for n, s in members.items() if s == "resource"]))

    def _forwarder(self, iface: str, fname: str, f, resources: list[str]) -> Callable:
        ft = f.type(self.store)
        params = [t for _, t in ft.params]
        result = ft.result
        res = self.resources
        convert = any(_has_resource(t) for t in params) or _has_resource(result)

        def to_guest(kind, rty, v):
            return res.to_guest(self.store, v, own=(kind == "own"))

        def to_host(kind, rty, v):
            from wasmtime.component import ResourceAny

            if not isinstance(v, ResourceAny):
                return v
            return res.to_host(self.store, v, res.type_id(iface, self._resource_name(iface, fname, v, resources)))

        def call(store, *args):
            if convert:
                args = tuple(_walk(t, a, to_guest) for t, a in zip(params, args))
            out = f(store, *args)
            f.post_return(store)
            return _walk(result, out, to_host) if convert else out
        return call

    def _resource_name(self, iface: str, fname: str, value, resources: list[str]) -> str:
        """Which resource of ``iface`` a guest handle is (wasmtime-py gives no names: learnt from
        constructors, or the only resource of the interface)."""
        rtype = value.type
        for (i, n), t in self._learnt.items():
            if i == iface and t == rtype:
                return n
        name = None
        if len(resources) == 1:
            name = resources[0]
        elif fname.startswith("[constructor]"):
            name = fname[len("[constructor]"):]
        if name is None:
            raise ExecutionError(f"{iface}#{fname}: cannot tell which resource a returned handle is")
        self._learnt[(iface, name)] = rtype
        return name

    def instantiate(self, name: str) -> Any:
        """Instantiate ``name`` (and the components it needs, providers first); the wasmtime instance."""
        c = self._get(name)
        for comp in self._order(c):
            self._define_imports(comp)
            linker = self._linker_ready()
            compiled = comp.compiled
            try:
                comp.instance = instantiate(functools.partial(linker.instantiate, self.store, compiled))
            except Exception as e:  # wasmtime: a missing import, a type mismatch, a trap in start
                raise LinkError(f"component {comp.name!r}: {_first_line(e)}") from None
        return c.instance

    def _get(self, name: str) -> ComponentHandle:
        c = self.components.get(name)
        if c is None:
            raise LinkError(f"no component named {name!r} in the world")
        return c

    # -- calling -----------------------------------------------------------------------------------

    def func(self, name: str, func: str) -> Any:
        """The wasmtime ``component.Func`` for ``func`` (``"f"`` or ``"pkg:ns/iface@v#f"``) of ``name``."""
        inst = self.instantiate(name)
        iface, fname = split_func_name(func)
        parent = None
        if iface is not None:
            parent = inst.get_export_index(self.store, iface)
            if parent is None:
                raise LinkError(f"component {name!r} does not export {iface!r}")
        idx = inst.get_export_index(self.store, fname, parent)
        f = inst.get_func(self.store, idx) if idx is not None else None
        if f is None:
            raise LinkError(f"component {name!r} does not export a function {func!r}" + self._did_you_mean(name, fname))
        return f

    def _did_you_mean(self, name: str, fname: str) -> str:
        """``; did you mean 'pkg:ns/iface@v#f'?``: the exported interfaces that have a function ``fname``."""
        found = [f"{iface}#{fname}" for iface, (sort, members) in self._get(name).exports.items()
                 if sort == "instance" and members.get(fname) == "func"]
        return f"; did you mean {' or '.join(map(repr, found))}?" if found else ""

    def invoke(self, name: str, func: str, *values: Any) -> Any:
        """Call ``func`` of component ``name`` with ``values`` (wasmtime-py's component values;
        dicts for records); returns the result value (None for no result)."""
        import wasmtime

        cached = self._funcs.get((name, func))
        if cached is None:
            f = self.func(name, func)
            params = [t for _, t in f.type(self.store).params]
            records = any(_has_record(t) for t in params)
            cached = self._funcs[(name, func)] = (f, params, records)
        f, params, records = cached
        if len(values) != len(params):
            raise ExecutionError(f"{func}: {len(params)} argument(s) expected, {len(values)} given")
        args = tuple(_records_in(t, v) for t, v in zip(params, values)) if records else values
        try:
            out = f(self.store, *args)
            f.post_return(self.store)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            raise ExecutionError(f"{name}: {func}: {_first_line(e)}") from None
        except (TypeError, ValueError, AttributeError, KeyError) as e:
            raise ExecutionError(f"{name}: {func}: bad argument: {e}") from None
        return out


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return "; ".join(lines[:3]) if lines else type(e).__name__

