"""Plan a fusion: instantiate a composition statically, down to its core module instances.

For the composition ``wasm-tools compose`` writes::

    (component
      (component $consumer ...)                   ;; imports test:fuse/api, exports run
      (component $provider ...)                   ;; exports test:fuse/api
      (instance $p (instantiate $provider))
      (instance $c (instantiate $consumer (with "test:fuse/api" (instance $p-api))))
      (export "run" (func $c-run)))

:func:`plan` walks the items in order as a component runtime would, but keeps symbols instead of
values: each ``(core instance (instantiate $m ...))`` becomes a :class:`ModuleInstance` (in
instantiation order), each import of a core module is bound to an export of an earlier instance, to
a host import, or -- for a ``canon lower`` of a function another component lifted -- to an
:class:`Adapter` (caller and callee options, the function type). The result is a :class:`Plan`.
"""

from __future__ import annotations

from ..record import field, record
from typing import Any

from ..component import Component
from ..component import types as T
from ..component.typeval import Def, FuncT, Res, evaluate, peel
from ..errors import ValidationError
from ..module import Module
from ..module import parse as parse_module
from .abi import FuseError

__all__ = ["Plan", "ModuleInstance", "Adapter", "Lifted", "HostFunc", "HostRes", "HostImport", "CoreRef", "Options",
           "ResId", "Builtin", "plan", "wiring", "check_wire", "shape", "show", "MAX_INSTANCES", "MAX_COMPONENT_INSTANCES"]

#: most core module instances one fusion makes (hostile compositions instantiate exponentially)
MAX_INSTANCES = 4096
#: most component instantiations one fusion walks
MAX_COMPONENT_INSTANCES = 4096
_CORE_KIND = {0: "core func", 1: "core table", 2: "core memory", 3: "core global", 4: "core tag"}


@record(frozen=True)
class CoreRef:
    """A core item exported by module instance ``instance`` under ``name``."""

    instance: int
    name: str


@record(frozen=True)
class Options:
    """Canonical options resolved to core items (``None`` when absent)."""

    memory: CoreRef | None
    realloc: CoreRef | None
    post_return: CoreRef | None
    encoding: str
    component: int
    is_async: bool = False


@record(eq=False)
class Lifted:
    """A component function made by ``canon lift`` of ``core`` (a CoreRef) with ``options``."""

    core: CoreRef
    functype: Any
    options: Options
    where: str


@record(eq=False)
class HostFunc:
    """A function the fused world still imports: ``module`` (interface or ``""``) and ``name``;
    for the ``canon resource.drop`` of an imported resource, ``resource`` is that :class:`HostRes`
    and ``name`` is ``[resource-drop]NAME`` (wit-component's core name)."""

    module: str
    name: str
    functype: Any
    resource: HostRes | None = None


@record(eq=False)
class HostRes:
    """A resource type the fused world imports: type export ``name`` of the imported instance
    ``module`` (``""``: a type imported at the world level)."""

    module: str
    name: str


@record(eq=False)
class HostImport:
    """One core import of the fused module that stays an import: ``func`` lowered with ``options``,
    imported as ``(module, core_name)``; ``module`` is the interface (``$root`` for world-level
    functions), ``core_name`` the function's name, or ``NAME$fuseK`` when components lower the same
    function with different memories/reallocs/encodings (K counts from 1)."""

    index: int
    func: HostFunc
    options: Options
    module: str
    core_name: str


@record(eq=False)
class Lowered:
    func: Any
    options: Options


@record(eq=False)
class ResId:
    """A resource type defined by component ``component`` (``index``: its number in the plan);
    ``dtor`` the CoreRef of its destructor or None."""

    index: int
    component: int
    dtor: CoreRef | None


@record(eq=False)
class Builtin:
    """A ``canon resource.new|rep|drop`` of ``resource`` used by component ``component``."""

    index: int
    op: str
    resource: ResId
    component: int


@record(eq=False)
class Adapter:
    """One adapter: the caller lowered ``callee`` (a Lifted) with ``caller`` options."""

    index: int
    callee: Lifted
    caller: Options
    name: str


@record(eq=False)
class ModuleInstance:
    """One instantiation of a core module: ``imports[(module, name)]`` is a CoreRef, an Adapter,
    a ``(HostFunc, Options)`` pair."""

    index: int
    module: Module
    component: int
    label: str
    imports: dict[tuple[str, str], Any] = field(default_factory=dict)


@record
class Plan:
    instances: list[ModuleInstance] = field(default_factory=list)
    adapters: list[Adapter] = field(default_factory=list)
    resources: list[ResId] = field(default_factory=list)
    builtins: list[Builtin] = field(default_factory=list)
    exports: dict[str, Lifted] = field(default_factory=dict)
    host: list[HostImport] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    #: resource types the fused world exports: ``iface#name`` (or ``name``) -> ResId
    export_resources: dict[str, ResId] = field(default_factory=dict)


class _Inst(dict):
    """A component instance: export name -> entity."""


class _CoreInline(dict):
    """A core instance made of exports: name -> core entity."""


class _Walker:
    def __init__(self) -> None:
        self.plan = Plan()
        self.adapters: dict[tuple, Adapter] = {}
        self.scopes: dict[int, Any] = {}
        self.hosts: dict[tuple, HostImport] = {}

    def component(self, comp: Component, args: dict | None, label: str, depth: int = 0,
                  top: bool = False) -> _Inst:
        if depth > 50:
            raise FuseError("components nested too deeply")
        if len(self.plan.components) >= MAX_COMPONENT_INSTANCES:
            raise FuseError("too many component instances")
        scope = self.scopes.get(id(comp))
        if scope is None:
            try:
                scope = self.scopes[id(comp)] = evaluate(comp)
            except ValidationError as e:
                raise FuseError(f"component {label}: {e}") from None
        cid = len(self.plan.components)
        self.plan.components.append(label)
        sp: dict[str, list] = {k: [] for k in ("core func", "core table", "core memory", "core global",
                                                "core tag", "core module", "core instance", "func",
                                                "instance", "component", "value", "type")}
        exports = _Inst()
        mod_i = 0
        for sid, item in comp.items():
            if sid == 1:
                sp["core module"].append((comp, mod_i))
                mod_i += 1
            elif sid == 2:
                sp["core instance"].append(self.core_instance(item, sp, cid, label))
            elif sid == 4:
                sp["component"].append(item)
            elif sid == 5:
                sp["instance"].append(self.instance(item, sp, label, depth))
            elif sid == 6:
                self.alias(item, sp)
            elif sid == 7:
                sp["type"].append(self.typedef(item, sp, cid))
            elif sid == 8:
                self.canon(item, sp, scope, cid, label)
            elif sid == 9:
                raise FuseError(f"component {label}: component start functions are not supported by fuse")
            elif sid == 10:
                self.import_(item, sp, scope, args or {}, top)
            elif sid == 11:
                ent = _get(sp, item.sort, item.index)
                exports[item.name.name] = ent
                sp[item.sort].append(ent)
        return exports

    def core_instance(self, item, sp, cid: int, label: str):
        if isinstance(item, T.CoreInstanceExports):
            return _CoreInline({e.name: _get(sp, _CORE_KIND.get(e.kind, "?"), e.index) for e in item.exports})
        comp, mi = _get(sp, "core module", item.module)
        args = {a.name: _get(sp, "core instance", a.index) for a in item.args}
        if len(self.plan.instances) >= MAX_INSTANCES:
            raise FuseError("too many core module instances")
        module = parse_module(comp.module_data(mi))
        inst = ModuleInstance(len(self.plan.instances), module, cid, f"{label}/m{mi}")
        for imp in module.imports:
            src = args.get(imp.module)
            if src is None:
                raise FuseError(f"{inst.label}: import module `{imp.module}` is not supplied")
            if isinstance(src, int):
                ent: Any = CoreRef(src, imp.name)
            else:
                ent = src.get(imp.name)
                if ent is None:
                    raise FuseError(f"{inst.label}: import `{imp.module}` `{imp.name}` is not supplied")
            inst.imports[(imp.module, imp.name)] = self.bind(ent, f"{inst.label}: import `{imp.module}` `{imp.name}`")
        self.plan.instances.append(inst)
        return inst.index

    def typedef(self, item, sp, cid: int):
        if not isinstance(item, T.ResourceType):
            return None
        dtor = None if item.dtor is None else _get(sp, "core func", item.dtor)
        if dtor is not None and not isinstance(dtor, CoreRef):
            raise FuseError("a resource destructor must be a core module export")
        r = ResId(len(self.plan.resources), cid, dtor)
        self.plan.resources.append(r)
        return r

    def bind(self, ent, where: str):
        if isinstance(ent, (CoreRef, Builtin)):
            return ent
        if isinstance(ent, Lowered):
            f = ent.func
            if ent.options.is_async or (isinstance(f, Lifted) and f.options.is_async):
                raise FuseError(f"{where}: async functions (async lift/lower) are not supported by fuse")
            if isinstance(f, Lifted):
                key = (id(f), ent.options)
                if key not in self.adapters:
                    a = Adapter(len(self.plan.adapters), f, ent.options, f.where)
                    self.adapters[key] = a
                    self.plan.adapters.append(a)
                return self.adapters[key]
            if isinstance(f, HostFunc):
                return self.host(f, ent.options)
        if isinstance(ent, str):
            raise FuseError(f"{where}: `canon {ent}` is not supported by fuse yet")
        raise FuseError(f"{where}: cannot bind an import to {type(ent).__name__}")

    def host(self, f: HostFunc, o: Options) -> HostImport:
        """The core import of host function ``f`` lowered with options ``o`` (one per distinct lowering)."""
        key = (f.module, f.name, o.memory, o.realloc, o.encoding)
        hi = self.hosts.get(key)
        if hi is None:
            k = sum(1 for h in self.plan.host if (h.func.module, h.func.name) == (f.module, f.name))
            hi = HostImport(len(self.plan.host), f, o, f.module or "$root", f.name + (f"$fuse{k}" if k else ""))
            self.hosts[key] = hi
            self.plan.host.append(hi)
        return hi

    def instance(self, item, sp, label: str, depth: int) -> _Inst:
        if isinstance(item, T.InstanceExports):
            return _Inst({e.name.name: _get(sp, e.sort, e.index) for e in item.exports})
        child = _get(sp, "component", item.component)
        args = {a.name: _get(sp, a.sort, a.index) for a in item.args}
        return self.component(child, args, f"{label}/c{item.component}", depth + 1)

    def alias(self, a, sp) -> None:
        if isinstance(a, T.OuterAlias):
            if a.sort in ("type", "core type"):
                sp.setdefault(a.sort, []).append(None)
                return
            raise FuseError(f"outer aliases of {a.sort} are not supported by fuse")
        if a.sort == "core type":
            sp.setdefault(a.sort, []).append(None)
            return
        if a.sort == "type":
            inst = _get(sp, "instance", a.instance)
            sp["type"].append(inst.get(a.name) if isinstance(inst, dict) else None)
            return
        if a.sort.startswith("core"):
            inst = _get(sp, "core instance", a.instance)
            ent = CoreRef(inst, a.name) if isinstance(inst, int) else inst.get(a.name)
            if ent is None:
                raise FuseError(f"core instance {a.instance} has no export `{a.name}`")
        else:
            inst = _get(sp, "instance", a.instance)
            ent = inst.get(a.name) if isinstance(inst, dict) else None
            if ent is None:
                raise FuseError(f"instance {a.instance} has no export `{a.name}`")
        sp[a.sort].append(ent)

    def canon(self, c: T.Canon, sp, scope, cid: int, label: str) -> None:
        opts = self.options(c, sp, cid)
        if c.op == "lift":
            core = _get(sp, "core func", c.args[0])
            if not isinstance(core, CoreRef):
                raise FuseError(f"component {label}: lifting a {type(core).__name__} is not supported")
            ft = _get({"type": scope.types}, "type", c.args[1])
            sp["func"].append(Lifted(core, ft, opts, f"{label} func {len(sp['func'])}"))
        elif c.op == "lower":
            sp["core func"].append(Lowered(_get(sp, "func", c.args[0]), opts))
        elif c.op in ("resource.new", "resource.rep", "resource.drop"):
            r = _get(sp, "type", c.args[0])
            if isinstance(r, HostRes) and c.op == "resource.drop":
                sp["core func"].append(Lowered(HostFunc(r.module, f"[resource-drop]{r.name}", None, r), opts))
                return
            if not isinstance(r, ResId):
                raise FuseError(f"component {label}: canon {c.op} of a resource fuse cannot follow "
                                "(imported from the host?)")
            b = Builtin(len(self.plan.builtins), c.op, r, cid)
            self.plan.builtins.append(b)
            sp["core func"].append(b)
        else:
            sp["core func"].append(c.op)

    def options(self, c: T.Canon, sp, cid: int) -> Options:
        enc, mem, realloc, post, is_async = "utf8", None, None, None, False
        for o in c.options or ():
            if o.name in ("utf8", "utf16", "latin1+utf16"):
                enc = o.name
            elif o.name == "memory":
                mem = _get(sp, "core memory", o.index)
            elif o.name == "realloc":
                realloc = _get(sp, "core func", o.index)
            elif o.name == "post-return":
                post = _get(sp, "core func", o.index)
            elif o.name in ("async", "callback"):
                is_async = True
        for x in (mem, realloc, post):
            if x is not None and not isinstance(x, CoreRef):
                raise FuseError(f"canon {c.op}: options must be core module exports")
        return Options(mem, realloc, post, enc, cid, is_async)

    def import_(self, item: T.Import, sp, scope, args: dict, top: bool) -> None:
        name, sort = item.name.name, item.desc.sort
        if name in args:
            ent = args[name]
        elif not top:
            raise FuseError(f"import `{name}` is not supplied")
        elif sort == "func":
            ent = HostFunc("", name, scope.imports[name].ty)
        elif sort == "instance":
            it = scope.imports[name].ty
            ent = _Inst({n: HostFunc(name, n, e.ty) for n, e in it.exports.items() if e.sort == "func"})
            ent.update({n: HostRes(name, n) for n, e in it.exports.items()
                        if e.sort == "type" and isinstance(e.referenced, Res)})
        elif sort == "type":
            e = scope.imports[name]
            ent = HostRes("", name) if isinstance(e.referenced, Res) else None
        else:
            raise FuseError(f"imports of a {sort} are not supported by fuse")
        sp[sort].append(ent)


def _get(sp: dict, sort: str, i: int | None) -> Any:
    space = sp.get(sort)
    if space is None or not isinstance(i, int) or not 0 <= i < len(space):
        raise FuseError(f"unknown {sort} {i}")
    return space[i]


def plan(comps: Component | list[tuple[str, Component]], plugs: dict[str, str] | None = None) -> Plan:
    """Instantiate statically a composition (one Component), or several components wired by
    interface name (a list of ``(label, Component)``: an import is satisfied by the export of the same
    name of another input, or of the name ``plugs[import]``; exports of the :func:`root` input are
    the world's); the :class:`Plan` of their fusion."""
    w = _Walker()
    if isinstance(comps, Component):
        exports = w.component(comps, None, "root", top=True)
    else:
        exports = _wire(w, list(comps), plugs or {})
    for name, ent in exports.items():
        if isinstance(ent, ResId):
            w.plan.export_resources[name] = ent
        elif isinstance(ent, dict):
            w.plan.export_resources.update({f"{name}#{n}": e for n, e in ent.items() if isinstance(e, ResId)})
        funcs = [(name, ent)] if isinstance(ent, Lifted) else \
            [(f"{name}#{n}", e) for n, e in ent.items() if isinstance(e, Lifted)] if isinstance(ent, dict) else []
        for n, e in funcs:
            if e.options.is_async:
                raise FuseError(f"export `{n}`: async functions (async lift) are not supported by fuse")
            w.plan.exports[n] = e
    return w.plan


def wiring(comps: list[tuple[str, Component]], plugs: dict[str, str]) -> list[dict[str, tuple[int, str]]]:
    """For several inputs: per input, ``{import name: (providing input, export name)}`` for each
    import another input satisfies (by name, or by ``plugs[import]``: an export name, or
    ``LABEL#EXPORT`` for input LABEL's). A :class:`FuseError` for a plug no input can follow and
    for an import two inputs export (name one with a plug)."""
    exporters: dict[str, list[int]] = {}
    for i, (_, c) in enumerate(comps):
        for e in c.exports:
            exporters.setdefault(e.name.name, []).append(i)
    labels = {label: i for i, (label, _) in enumerate(comps)}
    imported = {im.name.name for _, c in comps for im in c.imports}
    for k, v in plugs.items():
        if k not in imported:
            raise FuseError(f"--plug {k}={v}: no input imports `{k}`")
    out: list[dict[str, tuple[int, str]]] = []
    for i, (label, c) in enumerate(comps):
        got: dict[str, tuple[int, str]] = {}
        for im in c.imports:
            name = im.name.name
            target = plugs.get(name, name)
            head, sep, tail = target.partition("#")
            if sep and head in labels:
                j = labels[head]
                if j == i or j not in exporters.get(tail, ()):
                    raise FuseError(f"--plug {name}={target}: {head} does not export `{tail}` to {label}")
                got[name] = (j, tail)
                continue
            who = [j for j in exporters.get(target, ()) if j != i]
            if not who and name in plugs:
                raise FuseError(f"--plug {name}={target}: no other input exports `{target}`")
            if len(who) > 1:
                raise FuseError(f"`{target}` (imported by {label}) is exported by {comps[who[0]][0]} and "
                                f"{comps[who[1]][0]}: choose one with --plug {name}={comps[who[0]][0]}#{target}")
            if who:
                got[name] = (who[0], target)
        out.append(got)
    return out


def root(wires: list[dict[str, tuple[int, str]]]) -> int:
    """The input whose exports are the fused world's (``wires`` from :func:`wiring`): the one input
    no other input imports from, whatever the order on the command line; the last input when none
    or several are (``wasm-tools compose LAST -d ...``)."""
    used = {j for w in wires for j, _ in w.values()}
    free = [i for i in range(len(wires)) if i not in used]
    return free[0] if len(free) == 1 else len(wires) - 1


def _wire(w: _Walker, comps: list, plugs: dict[str, str]) -> _Inst:
    """Instantiate the inputs in dependency order; the exports of the :func:`root` one."""
    wires = wiring(comps, plugs)
    done: dict[int, _Inst] = {}
    for _ in range(len(comps)):
        for i, (label, c) in enumerate(comps):
            if i in done or not all(j in done for j, _ in wires[i].values()):
                continue
            args = {}
            scope = None
            for name, (j, src) in wires[i].items():
                ent = done[j].get(src)
                if ent is None:
                    raise FuseError(f"{comps[j][0]} does not export `{src}`")
                if scope is None:
                    try:
                        scope = w.scopes.get(id(c)) or w.scopes.setdefault(id(c), evaluate(c))
                    except ValidationError as e:
                        raise FuseError(f"component {label}: {e}") from None
                check_wire(name, scope.imports[name], ent, label, comps[j][0])
                args[name] = ent
            done[i] = w.component(c, args, label, top=True)
            break
        else:
            raise FuseError("the inputs import each other in a cycle")
    return done[root(wires)]


def check_wire(name: str, want: Any, ent: Any, label: str, provider: str) -> None:
    """A :class:`FuseError` unless the export ``ent`` of ``provider`` has the functions import
    ``name`` of ``label`` (an evaluated ``Ent``) expects, with the same types."""
    if want.sort == "func":
        pairs = [(name, want.ty, ent)]
    elif want.sort == "instance" and isinstance(ent, dict):
        pairs = [(f"{name}#{n}", e.ty, ent.get(n)) for n, e in want.ty.exports.items() if e.sort == "func"]
    else:
        return
    for where, ft, got in pairs:
        if not isinstance(got, Lifted):
            raise FuseError(f"`{where}`: {label} imports it but {provider} does not export it as a function")
        a, b = shape(ft), shape(got.functype)
        if a != b:
            raise FuseError(f"`{where}`: {label} imports it as {show(a)} but {provider} exports {show(b)}")


def shape(t: Any, depth: int = 0) -> Any:
    """A structural key of an evaluated function or value type (names of fields and cases kept;
    resources only as own/borrow)."""
    if depth > 100:
        raise FuseError("value type nesting too deep")
    if isinstance(t, FuncT):
        return ("func", tuple((n, shape(x, depth + 1)) for n, x in t.params),
                None if t.result is None else shape(t.result, depth + 1))
    t = peel(t)
    if t is None or isinstance(t, str):
        return t
    if not isinstance(t, Def):
        return ("resource",)
    k, d = t.kind, t.data
    if k == "prim":
        return d
    if k in ("record", "variant"):
        return (k, tuple((n, None if x is None else shape(x, depth + 1)) for n, x in d))
    if k in ("tuple", "result"):
        return (k, tuple(None if x is None else shape(x, depth + 1) for x in d))
    if k in ("list", "option"):
        return (k, shape(d, depth + 1))
    if k in ("own", "borrow"):
        return (k,)
    return (k, tuple(d) if isinstance(d, (list, tuple)) else repr(d))


def show(s: Any) -> str:
    """A :func:`shape` as WIT-like text: ``func(x: u32) -> string``."""
    if s is None or isinstance(s, str):
        return str(s or "_")
    k = s[0]
    if k == "func":
        res = "" if s[2] is None else f" -> {show(s[2])}"
        return "func(" + ", ".join(f"{n}: {show(x)}" for n, x in s[1]) + ")" + res
    if k in ("record", "variant"):
        return f"{k} {{" + ", ".join(n if x is None else f"{n}: {show(x)}" for n, x in s[1]) + "}"
    if k in ("tuple", "result"):
        return f"{k}<" + ", ".join(show(x) for x in s[1]) + ">"
    if k in ("list", "option"):
        return f"{k}<{show(s[1])}>"
    if len(s) > 1 and isinstance(s[1], tuple):
        return f"{k} {{" + ", ".join(map(str, s[1])) + "}"
    return k
