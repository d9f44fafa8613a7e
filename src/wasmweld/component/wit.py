"""A component's WIT world: decoded from its imports and exports, printed as WIT text.

``wasmweld wit app.wasm`` prints what ``wasm-tools component wit app.wasm`` prints
(the same text, blank lines included): the component's world, named ``root`` in package
``root:component``, followed by each foreign package whose interfaces it uses::

    package root:component;

    world root {
      import wasi:cli/stdout@0.2.0;

      export run: func() -> string;
    }
    package wasi:cli@0.2.0 {
      interface stdout {
        get-stdout: func() -> u32;
      }
    }

The decoding follows wit-parser's ``decoding.rs`` (the same naming rules: a type
export gets a name, a re-export of an already named type is an alias printed as a
``use``, an unnamed record/variant/enum/flags is an error) and the printing
follows wit-component's ``printing.rs``. Problems are :class:`~wasmweld.errors.WasmError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import WasmError
from . import typeval as tv

if TYPE_CHECKING:
    from .model import Component

__all__ = ["WType", "WFunc", "WInterface", "WPackage", "WitWorld", "decode_world", "component_wit", "KEYWORDS",
           "MAX_NESTING"]

#: deepest nesting of anonymous value types decoded or printed (list<list<...>>)
MAX_NESTING = 100

KEYWORDS = frozenset("""use type func u8 u16 u32 u64 s8 s16 s32 s64 f32 f64 float32 float64 char resource record
flags variant enum bool string option result future stream list own borrow _ as from static interface tuple world
import export package with include constructor error-context async map""".split())


class WitError(WasmError):
    """The component cannot be described in WIT."""


class WType:
    """A WIT type: ``name`` (None when anonymous), ``kind`` (record, variant, ..., resource, handle-own,
    handle-borrow, type = an alias), ``data``, ``owner`` (WInterface, the world, or None)."""

    __slots__ = ("name", "kind", "data", "owner")

    def __init__(self, name: str | None, kind: str, data: Any, owner: Any):
        self.name: str | None = name
        self.kind: str = kind
        self.data: Any = data
        self.owner: Any = owner


class WFunc:
    """A WIT function: ``name`` as exported (``[method]r.f`` ...), ``kind`` (freestanding, constructor,
    method, static), the ``resource`` it belongs to, ``params`` ``((name, type), ...)``, ``result``."""

    __slots__ = ("name", "kind", "resource", "params", "result", "is_async")

    def __init__(self, name: str, kind: str, resource: WType | None, params: tuple[tuple[str, Any], ...],
                 result: Any, is_async: bool):
        self.name: str = name
        self.kind: str = kind
        self.resource: WType | None = resource
        self.params: tuple[tuple[str, Any], ...] = params
        self.result: Any = result
        self.is_async: bool = is_async

    @property
    def item_name(self) -> str:
        """The name printed in WIT (``f`` for ``[method]r.f``)."""
        if self.kind in ("method", "static"):
            return self.name.split("]", 1)[1].split(".", 1)[1]
        if self.kind == "constructor":
            return self.name.split("]", 1)[1]
        return self.name


class WInterface:
    """A WIT interface: ``name`` (None for an inline one), its ``package``, ``types`` and ``functions``."""

    def __init__(self, name: str | None, package: WPackage | None):
        self.name: str | None = name
        self.package: WPackage | None = package
        self.types: dict[str, WType] = {}
        self.functions: dict[str, WFunc] = {}


class WPackage:
    """A WIT package ``namespace:name@version`` and its ``interfaces``."""

    def __init__(self, namespace: str, name: str, version: str | None):
        self.namespace: str = namespace
        self.name: str = name
        self.version: str | None = version
        self.interfaces: dict[str, WInterface] = {}

    @property
    def id(self) -> str:
        """``namespace:name@version``."""
        return f"{self.namespace}:{self.name}" + (f"@{self.version}" if self.version else "")


class WitWorld:
    """The decoded world: ``imports`` / ``exports`` lists of ``(key, kind, item)``; ``packages`` the
    foreign packages in print order; ``main`` the ``root:component`` package."""

    def __init__(self) -> None:
        self.main: WPackage = WPackage("root", "component", None)
        self.imports: list[tuple[str, str, Any]] = []
        self.exports: list[tuple[str, str, Any]] = []
        self.packages: dict[str, WPackage] = {}


def _interface_name(name: str):
    """``(namespace, package, interface, version)`` for ``ns:pkg/iface@ver``, else None."""
    if ":" not in name or "/" not in name or name.startswith("["):
        return None
    base, _, version = name.partition("@")
    ns, _, rest = base.partition(":")
    pkg, _, iface = rest.partition("/")
    if not ns or not pkg or not iface:
        return None
    return ns, pkg, iface, (version or None)


class _Decoder:
    def __init__(self):
        self.w = WitWorld()
        self.type_map: dict[int, WType] = {}
        self.keep: list = []            # keeps keys of type_map alive (ids stay unique)
        self.resources: dict[int, dict[str, WType]] = {}
        self.depth = 0

    def _map(self, obj, wt: WType) -> None:
        self.keep.append(obj)
        self.type_map[id(obj)] = wt

    def find_alias(self, t):
        for _ in range(10_000):
            got = self.type_map.get(id(t))
            if got is not None:
                return got
            if not isinstance(t, tv.Alias):
                return None
            t = t.target
        return None

    # -- types ------------------------------------------------------------------------------------

    def valtype(self, t):
        if isinstance(t, str):
            return t
        got = self.type_map.get(id(t))
        if got is not None:
            return got
        d = tv.peel(t)
        if isinstance(d, tv.Def) and d.kind == "prim":
            kind, data = "type", d.data
        else:
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise WitError("type nesting is too deep")
            try:
                kind, data = self.defined(d)
            finally:
                self.depth -= 1
        if kind in ("resource", "record", "enum", "variant", "flags"):
            raise WitError(f"unexpected unnamed type of kind '{kind}'")
        wt = WType(None, kind, data, None)
        self._map(t, wt)
        return wt

    def _resource_of(self, r):
        got = self.type_map.get(id(r)) or self.find_alias(r)
        if got is None:
            raise WitError("a handle refers to a resource with no name")
        return got

    def defined(self, d):
        if isinstance(d, tv.Res):
            return "resource", None
        if not isinstance(d, tv.Def):
            raise WitError("a value type refers to a non-value type")
        k, x, v = d.kind, d.data, self.valtype
        if k == "prim":
            return "type", x
        if k in ("record", "variant"):
            return k, tuple((n, None if t is None else v(t)) for n, t in x)
        if k in ("list", "option"):
            return k, v(x)
        if k == "fixed-list":
            return k, (v(x[0]), x[1])
        if k == "map":
            return k, (v(x[0]), v(x[1]))
        if k == "tuple":
            return k, tuple(v(t) for t in x)
        if k in ("flags", "enum"):
            return k, x
        if k == "result":
            return k, tuple(None if t is None else v(t) for t in x)
        if k in ("own", "borrow"):
            return "handle-" + k, self._resource_of(x)
        if k in ("future", "stream"):
            return k, None if x is None else v(x)
        raise WitError(f"unknown type kind {k}")

    def type_export(self, name: str, ent: tv.Ent, owner) -> WType:
        prev = self.find_alias(ent.referenced)
        if prev is not None:
            wt = WType(name, "type", prev, owner)
        else:
            ref = tv.peel(ent.referenced)
            if isinstance(ref, tv.Def) and ref.kind == "prim":
                wt = WType(name, "type", ref.data, owner)
            else:
                kind, data = self.defined(ref)
                wt = WType(name, kind, data, owner)
        if wt.kind == "resource":
            self.resources.setdefault(id(owner), {})[name] = wt
        if id(ent.ty) in self.type_map:
            raise WitError(f"cannot represent this component in WIT: the type `{name}` appears more than once")
        self._map(ent.ty, wt)
        return wt

    def function(self, name: str, ent: tv.Ent, owner) -> WFunc:
        ft = ent.ty
        params = tuple((n, self.valtype(t)) for n, t in ft.params)
        result = None if ft.result is None else self.valtype(ft.result)
        kind, resource = "freestanding", None
        for prefix, k in (("[constructor]", "constructor"), ("[method]", "method"), ("[static]", "static")):
            if name.startswith(prefix):
                kind = k
                rname = name[len(prefix):].split(".", 1)[0]
                resource = self.resources.get(id(owner), {}).get(rname)
                if resource is None:
                    raise WitError(f"function `{name}` refers to an unknown resource `{rname}`")
        return WFunc(name, kind, resource, params, result, ft.is_async)

    # -- interfaces and the world -------------------------------------------------------------

    def dep_interface(self, name: str) -> WInterface:
        parts = _interface_name(name)
        if parts is None:
            raise WitError(f"package name is not a valid id: {name}")
        ns, pkg, iname, version = parts
        key = f"{ns}:{pkg}" + (f"@{version}" if version else "")
        package = self.w.packages.get(key)
        if package is None:
            package = self.w.packages[key] = WPackage(ns, pkg, version)
        iface = package.interfaces.get(iname)
        if iface is None:
            iface = package.interfaces[iname] = WInterface(iname, package)
        return iface

    def register_import(self, name: str, ent: tv.Ent) -> WInterface:
        if not isinstance(ent.ty, tv.InstT):
            raise WitError(f"import `{name}` is not an instance")
        iface = self.dep_interface(name)
        self.fill(iface, ent.ty, merge=True)
        return iface

    def fill(self, iface: WInterface, inst: tv.InstT, merge: bool) -> None:
        for n, e in inst.exports.items():
            if e.sort == "type":
                existing = iface.types.get(n)
                if existing is not None and merge:
                    if id(e.ty) not in self.type_map:
                        self._map(e.ty, existing)
                    continue
                iface.types[n] = self.type_export(n, e, iface)
            elif e.sort == "func":
                if n in iface.functions and merge:
                    continue
                iface.functions[n] = self.function(n, e, iface)
            else:
                raise WitError(f"instance type export `{n}` is not a type or function")

    def world_instance(self, name, ent: tv.Ent):
        implements = ent.name.implements if ent.name is not None else None
        if implements:
            return name, self.register_import(implements, ent)
        if _interface_name(name) is not None:
            return None, self.register_import(name, ent)
        iface = WInterface(None, self.w.main)
        self.fill(iface, ent.ty, merge=False)
        return name, iface

    def extern(self, direction: str, ent: tv.Ent) -> None:
        name = ent.name.name
        if "=" in name or "<" in name or (ent.sort != "instance" and _interface_name(name) is not None):
            raise WitError(f"cannot describe `{name}` in WIT")
        out = self.w.imports if direction == "import" else self.w.exports
        if ent.sort == "instance":
            key, iface = self.world_instance(name, ent)
            out.append((key, "interface", iface))
        elif ent.sort == "func":
            out.append((name, "func", self.function(name, ent, self.w)))
        elif ent.sort == "type" and direction == "import":
            out.append((name, "type", self.type_export(name, ent, self.w)))
        elif direction == "export":
            raise WitError(f"component export `{name}` was not a function or instance")


def decode_world(component: Component) -> WitWorld:
    """The WIT world of a :class:`~wasmweld.component.Component` (WitError if WIT cannot describe it)."""
    scope = tv.evaluate(component)
    if scope.externs and all(d == "export" and e.sort == "type" and isinstance(e.referenced, tv.CompT)
                             for d, e in scope.externs):
        raise WitError("WIT packages encoded as components are not supported by `wasmweld wit`")
    d = _Decoder()
    for direction, ent in scope.externs:
        d.extern(direction, ent)
    d.w.packages = _order_packages(d.w.packages)
    return d.w


def _deps(iface: WInterface) -> list[WInterface]:
    out = []
    for t in iface.types.values():
        if t.kind == "type" and isinstance(t.data, WType) and isinstance(t.data.owner, WInterface) \
                and t.data.owner is not iface:
            out.append(t.data.owner)
    return out


def _order_packages(packages: dict[str, WPackage]) -> dict[str, WPackage]:
    """Foreign packages in dependency order (a package after those it uses), else first-seen order."""
    order: dict[str, WPackage] = {}
    keys = list(packages)

    def visit(key: str, depth: int = 0) -> None:
        if key in order or depth > 1000:
            return
        pkg = packages[key]
        for iface in pkg.interfaces.values():
            for dep in _deps(iface):
                if dep.package is not None and dep.package is not pkg and dep.package.id in packages:
                    visit(dep.package.id, depth + 1)
        order[key] = pkg

    for k in keys:
        visit(k)
    return order


# ------------------------------------------------------------------ printing


def _esc(name: str) -> str:
    return f"%{name}" if name in KEYWORDS else name


class _Printer:
    def __init__(self, world: WitWorld):
        self.w = world
        self.lines: list[str] = []
        self.indent = 0
        self.any_items = False

    def new_item(self) -> None:
        """A blank line between items of a block (not before the first), as wit-component prints."""
        if self.any_items:
            self.line()
        self.any_items = True

    def line(self, text: str = "") -> None:
        self.lines.append(("  " * self.indent + text) if text else "")

    def tname(self, t, depth: int = 0) -> str:
        if isinstance(t, str):
            return t
        if t.name is not None:
            return _esc(t.name)
        if depth > MAX_NESTING:
            raise WitError("type nesting is too deep")
        return self._anon(t, depth + 1)

    def _anon(self, t, depth: int) -> str:
        k, x = t.kind, t.data
        def tname(u):
            return self.tname(u, depth)

        if k == "handle-own":
            return _esc(x.name)
        if k == "handle-borrow":
            return f"borrow<{_esc(x.name)}>"
        if k == "tuple":
            return "tuple<" + ", ".join(tname(a) for a in x) + ">"
        if k == "option":
            return f"option<{tname(x)}>"
        if k == "result":
            ok, err = x
            if ok is None and err is None:
                return "result"
            if ok is None:
                return f"result<_, {tname(err)}>"
            if err is None:
                return f"result<{tname(ok)}>"
            return f"result<{tname(ok)}, {tname(err)}>"
        if k == "list":
            return f"list<{tname(x)}>"
        if k == "fixed-list":
            return f"list<{tname(x[0])}, {x[1]}>"
        if k == "map":
            return f"map<{tname(x[0])}, {tname(x[1])}>"
        if k == "type":
            return tname(x)
        if k in ("future", "stream"):
            return k if x is None else f"{k}<{tname(x)}>"
        raise WitError(f"resolve has an unnamed {k} type")

    def func_sig(self, f: WFunc) -> str:
        head = ("async " if f.is_async else "") + ("constructor(" if f.kind == "constructor" else "func(")
        params = f.params[1:] if f.kind == "method" else f.params
        text = head + ", ".join(f"{_esc(n)}: {self.tname(t)}" for n, t in params) + ")"
        if f.kind == "constructor" and isinstance(f.result, WType) and f.result.name is None \
                and f.result.kind == "handle-own" and f.result.data is f.resource:
            return text
        if f.result is not None:
            text += f" -> {self.tname(f.result)}"
        return text

    def declare(self, t: WType) -> None:
        assert t.name is not None, "only named types are declared"
        k, x, n = t.kind, t.data, _esc(t.name)
        if k in ("record", "flags", "variant", "enum"):
            self.line(f"{k} {n} {{")
            self.indent += 1
            for item in x:
                if k == "record":
                    self.line(f"{_esc(item[0])}: {self.tname(item[1])},")
                elif k == "variant":
                    self.line(_esc(item[0]) + ("" if item[1] is None else f"({self.tname(item[1])})") + ",")
                else:
                    self.line(f"{_esc(item)},")
            self.indent -= 1
            self.line("}")
        elif k in ("handle-own", "handle-borrow"):
            self.line(f"type {n} = {'own' if k == 'handle-own' else 'borrow'}<{_esc(x.name)}>;")
        else:
            self.line(f"type {n} = {self.tname(WType(None, k, x, None))};")

    def resource(self, t: WType, funcs: list[WFunc]) -> None:
        assert t.name is not None, "resources are named"
        if not funcs:
            self.line(f"resource {_esc(t.name)};")
            return
        self.line(f"resource {_esc(t.name)} {{")
        self.indent += 1
        for f in funcs:
            if f.kind == "constructor":
                self.line(self.func_sig(f) + ";")
            elif f.kind == "method":
                self.line(f"{_esc(f.item_name)}: {self.func_sig(f)};")
            else:
                self.line(f"{_esc(f.item_name)}: static {self.func_sig(f)};")
        self.indent -= 1
        self.line("}")

    def path(self, iface: WInterface, cur: WPackage) -> str:
        if iface.name is None:
            raise WitError("cannot refer to an interface without a name")
        if iface.package is cur:
            return _esc(iface.name)
        p = iface.package
        assert p is not None, "a named interface outside the current package belongs to a package"
        return f"{p.namespace}:{p.name}/{iface.name}" + (f"@{p.version}" if p.version else "")

    def types(self, owner, types: list[tuple[str, WType]], resource_funcs: dict[int, list[WFunc]], pkg) -> None:
        uses: list[tuple[WInterface, list[tuple[str, str]]]] = []
        declare: list[WType] = []
        for name, t in types:
            other = t.data if t.kind == "type" else None
            if isinstance(other, WType) and other.owner is not None and other.owner is not owner:
                if not isinstance(other.owner, WInterface):
                    raise WitError("cannot import a type from a world")
                if other.name is None:
                    raise WitError("cannot import unnamed type")
                if uses and uses[-1][0] is other.owner:
                    uses[-1][1].append((name, other.name))
                else:
                    uses.append((other.owner, [(name, other.name)]))
                continue
            declare.append(t)
        for iface, names in uses:
            items = ", ".join(_esc(a) if a == b else f"{_esc(b)} as {_esc(a)}" for a, b in names)
            self.line(f"use {self.path(iface, pkg)}.{{{items}}};")
        if uses:
            self.any_items = True
        for t in declare:
            self.new_item()
            if t.kind == "resource":
                self.resource(t, resource_funcs.get(id(t), []))
            else:
                self.declare(t)

    def interface_body(self, iface: WInterface, pkg: WPackage) -> None:
        rf: dict[int, list[WFunc]] = {}
        free = []
        for f in iface.functions.values():
            if f.resource is not None:
                rf.setdefault(id(f.resource), []).append(f)
            else:
                free.append(f)
        prev, self.any_items = self.any_items, False
        self.types(iface, list(iface.types.items()), rf, pkg)
        for f in free:
            self.new_item()
            self.line(f"{_esc(f.item_name)}: {self.func_sig(f)};")
        self.any_items = prev

    def world_item(self, direction: str, key, kind: str, item) -> None:
        pkg = self.w.main
        if kind == "func":
            self.line(f"{direction} {_esc(key)}: {self.func_sig(item)};")
        elif key is None:
            self.line(f"{direction} {self.path(item, pkg)};")
        elif item.name is None:
            self.line(f"{direction} {_esc(key)}: interface {{")
            self.indent += 1
            self.interface_body(item, pkg)
            self.indent -= 1
            self.line("}")
        else:
            self.line(f"{direction} {_esc(key)}: {self.path(item, pkg)};")

    def world(self) -> None:
        w = self.w
        types: list = []
        rf: dict = {}
        funcs: list = []
        for key, kind, item in w.imports:
            if kind == "type":
                types.append((key, item))
            elif kind == "func" and item.resource is not None:
                rf.setdefault(id(item.resource), []).append(item)
            elif kind == "func":
                funcs.append((key, kind, item))
            else:
                self.world_item("import", key, kind, item)
                self.any_items = True
        self.types(w, types, rf, w.main)
        for key, kind, item in funcs:
            self.world_item("import", key, kind, item)
            self.any_items = True
        if w.exports:
            self.new_item()
        for key, kind, item in w.exports:
            self.world_item("export", key, kind, item)

    def run(self) -> str:
        self.line("package root:component;")
        self.line()
        self.line("world root {")
        self.indent += 1
        self.world()
        self.indent -= 1
        self.line("}")
        for i, pkg in enumerate(self.w.packages.values()):
            if i:
                self.line()
                self.line()
            self.line(f"package {pkg.id} {{")
            self.indent += 1
            for iface in pkg.interfaces.values():
                assert iface.name is not None, "a package's interfaces are named"
                self.line(f"interface {_esc(iface.name)} {{")
                self.indent += 1
                self.interface_body(iface, pkg)
                self.indent -= 1
                self.line("}")
            self.indent -= 1
            self.line("}")
        return "\n".join(self.lines).rstrip("\n") + "\n"


def component_wit(component: Component) -> str:
    """The WIT text of ``component``'s world (what ``wasm-tools component wit`` prints)."""
    return _Printer(decode_world(component)).run()
