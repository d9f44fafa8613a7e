"""Build the fused core module: the adapter module, the renamed instances, one merge.

Every core module instance of the plan becomes a merge input named ``fuse:iN``; its imports are
renamed to what the plan bound them to (``fuse:iM`` exports, ``fuse:adapters`` ``adapterK``, or a
host import kept as ``(interface, function)`` with its canonical-lowered core signature). The
adapter module ``fuse:adapters`` imports the memories, reallocs, callees and post-return functions
it needs from the instances and re-exports the fused world's exports under wit-component's core
names: ``iface#func`` (or ``func``), ``cabi_post_iface#func``, ``memory``, ``cabi_realloc``::

    (module $fuse:adapters
      (import "fuse:i0" "memory" (memory 0))          ;; caller's memory: index 0
      (import "fuse:i3" "memory" (memory 0))          ;; callee's memory: index 1
      (import "fuse:i3" "test:fuse/api#echo" (func ...))
      (func (export "adapter0") ...))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from ..custom.name import NameSection
from ..module import Export, FuncBody, Import, Module
from ..types import ExternKind, FuncType, Limits, MemoryType, RecGroup, SubType
from . import abi
from .abi import FuseError
from .boundary import Boundary, lift_option_exports, out_imports
from .boundary import define as define_boundary
from .adapter import (CORE, Dir, Dst, Emitter, Src, check_area, check_leave, end_lends, has_borrow, leave_flag,
                      set_leave, translate)
from .handles import REGION, borrow_count, builtin, helpers, host_drop
from .plan import Adapter, Builtin, CoreRef, HostImport, Plan
from ..record import replace

__all__ = ["lower_sig", "lift_sig", "AdapterModule", "build_inputs"]


def _flat_params(params) -> list[str]:
    return [v for p in params for v in abi.flatten(p)]


def lower_sig(params: Sequence[Any], result: Any) -> tuple[list[str], list[str]]:
    """The core signature of a ``canon lower`` of a function of these (normalised) types."""
    fp = _flat_params(params)
    fp = fp if len(fp) <= abi.MAX_FLAT_PARAMS else ["i32"]
    fr = abi.flatten(result) if result is not None else []
    if len(fr) > abi.MAX_FLAT_RESULTS:
        return fp + ["i32"], []
    return fp, fr


def lift_sig(params: Sequence[Any], result: Any) -> tuple[list[str], list[str]]:
    """The core signature of the core function a ``canon lift`` lifts."""
    fp = _flat_params(params)
    fp = fp if len(fp) <= abi.MAX_FLAT_PARAMS else ["i32"]
    fr = abi.flatten(result) if result is not None else []
    return fp, (fr if len(fr) <= abi.MAX_FLAT_RESULTS else ["i32"])


def _ft(sig) -> FuncType:
    return FuncType(tuple(CORE[t] for t in sig[0]), tuple(CORE[t] for t in sig[1]))


class AdapterModule:
    """The ``fuse:adapters`` module being built."""

    def __init__(self) -> None:
        self.m: Module = Module()
        self.mems: dict[CoreRef, int] = {}
        self.funcs: dict[tuple[Any, ...], int] = {}   # (CoreRef, params, results) or a builtin key
        self.bodies: list[tuple[int, Emitter, str | None]] = []
        self.tmem: int | None = None
        self.fns: tuple[int, int, int] | None = None
        self.leave: dict[int, int] = {}          # component -> its may_leave global (adapter.leave_flag)
        self.host_drops: dict[int, int] = {}     # HostImport index -> imported resource.drop (handles.host_drop)
        #: (HostImport index, component) -> (its import here, core signature): the host imports of a
        #: component whose realloc/post-return an adapter runs go through a may_leave check
        self.host_checks: dict[tuple[int, int], tuple[int, tuple[list[str], list[str]]]] = {}

    def type_index(self, ft: FuncType) -> int:
        for i, g in enumerate(self.m.types):
            if g.types[0].comp == ft:
                return i
        self.m.types.append(RecGroup((SubType(ft),)))
        return len(self.m.types) - 1

    @overload
    def memory(self, ref: CoreRef) -> int: ...

    @overload
    def memory(self, ref: CoreRef | None) -> int | None: ...

    def memory(self, ref: CoreRef | None) -> int | None:
        """The adapter module's index of memory ``ref`` (imported on first use), None for None."""
        if ref is None:
            return None
        if ref not in self.mems:
            self.mems[ref] = len(self.mems)
            self.m.imports.append(Import(f"fuse:i{ref.instance}", ref.name, ExternKind.MEMORY,
                                         MemoryType(Limits(0))))
        return self.mems[ref]

    @overload
    def func(self, ref: CoreRef, sig: tuple[Sequence[str], Sequence[str]]) -> int: ...

    @overload
    def func(self, ref: CoreRef | None, sig: tuple[Sequence[str], Sequence[str]]) -> int | None: ...

    def func(self, ref: CoreRef | None, sig: tuple[Sequence[str], Sequence[str]]) -> int | None:
        """The adapter module's index of function ``ref`` with core signature ``sig`` (imported on
        first use, before any definition), None for None."""
        if ref is None:
            return None
        key = (ref, tuple(sig[0]), tuple(sig[1]))
        if key not in self.funcs:
            if self.bodies:
                raise FuseError("internal: function import after a definition")
            self.funcs[key] = len(self.funcs)
            self.m.imports.append(Import(f"fuse:i{ref.instance}", ref.name, ExternKind.FUNC,
                                         self.type_index(_ft(sig))))
        return self.funcs[key]

    def import_func(self, module: str, name: str, sig: tuple[list[str], list[str]]) -> int:
        """Import function ``module`` ``name`` of core signature ``sig`` (before any definition)."""
        key = ("import", module, name)
        if key not in self.funcs:
            if self.bodies:
                raise FuseError("internal: function import after a definition")
            self.funcs[key] = len(self.funcs)
            self.m.imports.append(Import(module, name, ExternKind.FUNC, self.type_index(_ft(sig))))
        return self.funcs[key]

    def define(self, params: list[str], results: list[str], em: Emitter, export: str | None) -> int:
        """Add a function of core signature ``(params, results)`` with ``em``'s body; its index."""
        self.bodies.append((self.type_index(_ft((params, results))), em, export))
        return len(self.funcs) + len(self.bodies) - 1

    def tables(self, p: Plan) -> None:
        """The handle-table memory and helpers (after every import, before other definitions)."""
        if not (p.builtins or p.resources or self.host_drops):
            return
        self.tmem = len(self.mems)
        self.m.memories.append(MemoryType(Limits(len(p.components) * REGION // 65536)))
        (p0, r0, e0), (p1, r1, e1), (p2, r2, e2) = helpers(self.tmem)
        self.fns = (self.define(p0, r0, e0, None), self.define(p1, r1, e1, None), self.define(p2, r2, e2, None))

    def finish(self) -> Module:
        """The module, its generated functions named ``fuse:adapterK``, ``fuse:builtinK`` and
        ``fuse:handles-K`` (helpers) in its ``name`` section."""
        base = len(self.funcs)
        names = NameSection()
        for k, (ti, em, export) in enumerate(self.bodies):
            self.m.funcs.append(ti)
            self.m.code.append(FuncBody.from_instrs(em.body_locals(), em.code))
            if export is not None:
                self.m.exports.append(Export(export, ExternKind.FUNC, base + k))
            names.funcs[base + k] = export.replace("$", ":") if export is not None else f"fuse:handles-{k}"
        self.m.names = names
        return self.m


_REALLOC = (["i32"] * 4, ["i32"])


def _imports_of(am: AdapterModule, a: Adapter) -> None:
    """Import everything an adapter calls, before any function is defined."""
    params, result = abi.func_types(a.callee.functype, a.name)
    callee = a.callee.options
    am.memory(a.caller.memory)
    am.memory(callee.memory)
    am.func(a.callee.core, lift_sig(params, result))
    am.func(callee.realloc, _REALLOC)
    am.func(a.caller.realloc, _REALLOC)
    if callee.post_return is not None:
        am.func(callee.post_return, (lift_sig(params, result)[1], []))


def _dirs(am: AdapterModule, a: Adapter, p: Plan) -> tuple[Dir, Dir]:
    c, e = a.caller, a.callee.options
    res_down = res_up = None
    if am.fns is not None:
        impl = lambda comp: tuple(r.index for r in p.resources if r.component == comp)  # noqa: E731
        res_down = (am.tmem, c.component, e.component, impl(e.component), am.fns)
        res_up = (am.tmem, e.component, c.component, impl(c.component), am.fns)
    down = Dir(am.memory(c.memory), am.memory(e.memory), am.func(e.realloc, _REALLOC), c.encoding, e.encoding,
               a.name, res_down, leave_flag(am.m, am.leave, e.component))
    up = Dir(am.memory(e.memory), am.memory(c.memory), am.func(c.realloc, _REALLOC), e.encoding, c.encoding,
             a.name, res_up, leave_flag(am.m, am.leave, c.component))
    return down, up


def _adapter_body(am: AdapterModule, a: Adapter, p: Plan) -> None:
    params, result = abi.func_types(a.callee.functype, a.name)
    low, lift = lower_sig(params, result), lift_sig(params, result)
    down, up = _dirs(am, a, p)
    e = Emitter(low[0])
    check_leave(e, leave_flag(am.m, am.leave, a.caller.component))
    held = None
    tmem = am.tmem
    if tmem is not None:                     # borrows the callee holds before the call
        held = e.new("i32")
        borrow_count(e, a.callee.options.component, tmem)
        e.set(held)
    tup = ("record", params)
    nflat = len(_flat_params(params))
    if nflat <= abi.MAX_FLAT_PARAMS:
        args: list[int] = []
        if params:
            translate(e, tup, Src(locals=tuple(range(nflat))), Dst(out=args), down)
    else:
        if down.realloc is None or down.src_mem is None or down.dst_mem is None:
            raise FuseError(f"{a.name}: many parameters need the memory and realloc options on both sides")
        q = e.new("i32")
        for v in (0, 0, abi.alignment(tup), abi.size(tup)):
            e.op("i32.const", v)
        set_leave(e, down.leave, 0)
        e.op("call", down.realloc)
        set_leave(e, down.leave, 1)
        e.set(q)
        check_area(e, 0, tup, down.src_mem)
        translate(e, tup, Src(base=0), Dst(base=q), down)
        args = [q]
    for x in args:
        e.get(x)
    e.op("call", am.func(a.callee.core, lift))
    rl = [e.new(t) for t in lift[1]]
    for x in reversed(rl):
        e.set(x)
    end_lends(e, am.tmem)
    e.after = []
    if held is not None and tmem is not None:   # the callee must have dropped the borrows it was given
        borrow_count(e, a.callee.options.component, tmem)
        e.get(held)
        e.op("i32.ne")
        e.trap_if()
    out: list[int] = []
    if result is not None:
        if len(abi.flatten(result)) <= abi.MAX_FLAT_RESULTS:
            translate(e, result, Src(locals=tuple(rl)), Dst(out=out), up)
        else:
            if up.src_mem is None or up.dst_mem is None:
                raise FuseError(f"{a.name}: results in memory need the memory option on both sides")
            check_area(e, rl[0], result, up.src_mem)
            check_area(e, len(low[0]) - 1, result, up.dst_mem)
            translate(e, result, Src(base=rl[0]), Dst(base=len(low[0]) - 1), up)
    post = a.callee.options.post_return
    if post is not None:
        for x in rl:
            e.get(x)
        set_leave(e, down.leave, 0)
        e.op("call", am.func(post, (lift[1], [])))
        set_leave(e, down.leave, 1)
    for x in out:
        e.get(x)
    am.define(low[0], low[1], e, f"fuse$adapter{a.index}")


def host_option_names(p: Plan) -> dict[CoreRef, str]:
    """The export names under which the fused module exports the memories and reallocs that the
    remaining imports are lowered with (``fuse:memoryK``, ``fuse:reallocK``), for ``--emit component``."""
    out: dict[CoreRef, str] = {}
    for hi in p.host:
        for ref, what in ((hi.options.memory, "memory"), (hi.options.realloc, "realloc")):
            if ref is not None and ref not in out:
                out[ref] = f"fuse:{what}{sum(1 for n in out.values() if n.startswith(f'fuse:{what}'))}"
    return out


def build_inputs(p: Plan, host_options: bool = False, bnd: Boundary | None = None) -> list[tuple[str, Module]]:
    """The merge inputs of a plan: the renamed instances and the adapter module (last).
    ``host_options``: also export what :func:`host_option_names` names; ``bnd``: the exported
    resources and the wrappers of the exports that move their handles (:mod:`.boundary`)."""
    am = AdapterModule()
    for a in p.adapters:
        _imports_of(am, a)
    exported: list[Export] = []
    sigs: dict[str, tuple[list[str], list[str]]] = {}
    for name, lifted in p.exports.items():
        params, result = abi.func_types(lifted.functype, name)
        sig = sigs[name] = lift_sig(params, result)
        exported.append(Export(name, ExternKind.FUNC, am.func(lifted.core, sig)))
        if lifted.options.post_return is not None:
            exported.append(Export(f"cabi_post_{name}", ExternKind.FUNC, am.func(lifted.options.post_return,
                                                                                   (sig[1], []))))
    for lifted in p.exports.values():
        if lifted.options.memory is not None and "memory" not in [e.name for e in exported]:
            exported.append(Export("memory", ExternKind.MEMORY, am.memory(lifted.options.memory)))
        if lifted.options.realloc is not None and "cabi_realloc" not in [e.name for e in exported]:
            exported.append(Export("cabi_realloc", ExternKind.FUNC, am.func(lifted.options.realloc, _REALLOC)))
    if host_options:                 # the exports of other components are lifted with their own memory
        exported += lift_option_exports(am, p)
    host_exports = []
    for ref, name in (host_option_names(p) if host_options else {}).items():
        if name.startswith("fuse:memory"):
            host_exports.append(Export(name, ExternKind.MEMORY, am.memory(ref)))
        else:
            host_exports.append(Export(name, ExternKind.FUNC, am.func(ref, _REALLOC)))
    for r in p.resources:
        if r.dtor is not None:
            am.func(r.dtor, (["i32"], []))
    if any(has_borrow(("record", abi.func_types(a.callee.functype, a.name)[0])) for a in p.adapters):
        # components lend each other borrows: their drops of imported resources are checked first
        am.host_drops = {hi.index: _import_host(am, hi) for hi in p.host if hi.func.resource is not None}
    outs = out_imports(am, bnd) if bnd is not None and bnd.resources else {}
    _import_checked_hosts(am, p)
    am.tables(p)
    for b in p.builtins:
        dtor = None if b.resource.dtor is None else am.func(b.resource.dtor, (["i32"], []))
        assert am.tmem is not None and am.fns is not None          # tables() made them (p.builtins)
        ps, rs, em = builtin(b.op, b.component, b.resource.index, dtor, am.tmem, am.fns)
        am.define(ps, rs, em, f"fuse$builtin{b.index}")
    for name, (comp, drop) in {_host_drop_name(am, b, inst): (inst.component, am.host_drops[b.index])
                               for inst in p.instances for b in inst.imports.values()
                               if _host_drop_name(am, b, inst)}.items():
        assert am.tmem is not None
        ps, rs, em = host_drop(comp, drop, am.tmem)
        am.define(ps, rs, em, name)
    for a in p.adapters:
        _adapter_body(am, a, p)
    for (hidx, comp), (f, sig) in am.host_checks.items():
        e = Emitter(sig[0])
        check_leave(e, leave_flag(am.m, am.leave, comp))
        for i in range(len(sig[0])):
            e.get(i)
        e.op("call", f)
        am.define(sig[0], sig[1], e, f"fuse$host{hidx}c{comp}")
    if outs:
        assert bnd is not None
        wrapped = define_boundary(am, p, bnd, outs, sigs)
        exported = [e for e in exported if e.name not in wrapped]       # am.finish exports the wrappers
    m = am.finish()
    m.exports.extend(exported)
    m.exports.extend(host_exports)
    inputs = [(f"fuse:i{inst.index}", _rename(inst, am)) for inst in p.instances]
    inputs.append(("fuse:adapters", m))
    return inputs


def _rename(inst, am: AdapterModule) -> Module:
    m = inst.module
    new = []
    for imp in m.imports:
        b = inst.imports[(imp.module, imp.name)]
        if isinstance(b, CoreRef):
            new.append(replace(imp, module=f"fuse:i{b.instance}", name=b.name))
        elif isinstance(b, Adapter):
            new.append(replace(imp, module="fuse:adapters", name=f"fuse$adapter{b.index}"))
        elif isinstance(b, Builtin):
            new.append(replace(imp, module="fuse:adapters", name=f"fuse$builtin{b.index}"))
        elif isinstance(b, HostImport) and (b.index, inst.component) in am.host_checks:
            new.append(replace(imp, module="fuse:adapters", name=f"fuse$host{b.index}c{inst.component}"))
        elif _host_drop_name(am, b, inst):
            new.append(replace(imp, module="fuse:adapters", name=_host_drop_name(am, b, inst)))
        else:
            assert isinstance(b, HostImport)
            new.append(replace(imp, module=b.module, name=b.core_name))
    m.imports[:] = new
    return m


def _import_checked_hosts(am: AdapterModule, p: Plan) -> None:
    """Import the host functions that components whose realloc or post-return an adapter runs
    call (``am.host_checks``): as the canonical ABI's ``may_leave`` says, such a call traps while
    that realloc/post-return runs (a trampoline checks the component's flag first)::

        (func $fuse$host0c1 (param i32) (if (i32.eqz (global.get $c1.may_leave)) (then unreachable))
          (call $log (local.get 0)))
    """
    comps = {a.callee.options.component for a in p.adapters
             if a.callee.options.realloc is not None or a.callee.options.post_return is not None}
    comps |= {a.caller.component for a in p.adapters if a.caller.realloc is not None}
    names: dict[object, str] = {v: k for k, v in CORE.items()}
    for inst in p.instances:
        if inst.component not in comps:
            continue
        for imp in inst.module.imports:
            b = inst.imports[(imp.module, imp.name)]
            if not isinstance(b, HostImport) or b.func.resource is not None or (b.index, inst.component) in am.host_checks:
                continue
            ft = inst.module.types[imp.desc].types[0].comp
            if not isinstance(ft, FuncType) or any(t not in names for t in ft.params + ft.results):
                continue
            sig = ([names[t] for t in ft.params], [names[t] for t in ft.results])
            am.host_checks[(b.index, inst.component)] = (am.import_func(b.module, b.core_name, sig), sig)


def _import_host(am: AdapterModule, hi: HostImport) -> int:
    """Import the host's ``resource.drop`` ``hi`` into the adapter module (handles.host_drop calls it)."""
    key = ("host", hi.module, hi.core_name)
    if key not in am.funcs:
        am.funcs[key] = len(am.funcs)
        am.m.imports.append(Import(hi.module, hi.core_name, ExternKind.FUNC, am.type_index(_ft((["i32"], [])))))
    return am.funcs[key]


def _host_drop_name(am: AdapterModule, b, inst) -> str:
    """The adapter-module function a component's ``resource.drop`` of an imported resource goes to
    (when components lend each other borrows; else "": it goes to the host)."""
    if isinstance(b, HostImport) and b.index in am.host_drops:
        return f"fuse$hostdrop{b.index}c{inst.component}"
    return ""
