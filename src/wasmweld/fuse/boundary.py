"""Resources the fused world exports (``--emit component``): handles converted at the exports.

Inside the fused module a component's handles are indices in its handle table (:mod:`.handles`);
the host holds handles of a resource type the output component defines itself, whose destructor
is the fused module's ``fuse:dtorK``. Each exported function whose parameters or result are
``own``/``borrow`` of such a resource gets a wrapper, exported under its core name (and, for an own
result, a post-return wrapper that hands the original post-return the handle the function returned)::

    (import "fuse:out" "resource.new0" (func $new (param i32) (result i32)))   ;; canon resource.new $acc
    (func (export "test:xr/api#make") (param i32) (result i32) (local $h i32) (local $a i32)
      (local.set $h (call $make (local.get 0)))          ;; a handle in the component's table
      ;; h_entry: the entry (traps on a bad handle, wrong type, a borrow, a lent handle)
      (call $h_free (i32.const 0) (local.get $h))         ;; moved out of the fused tables
      (call $new (i32.load (local.get $a))))              ;; into the host's
    (func (export "fuse:dtor0") (param i32)               ;; the output resource's destructor
      (if (global.get $taking) (then (return)))          ;; an own<acc> handed in: no destructor
      (call $dtor (local.get 0)))

An ``own`` parameter is taken from the host's table (``resource.rep``, then ``resource.drop``
with the destructor suppressed) and added to the callee's table; a ``borrow`` parameter arrives
as the rep (the output component implements the resource), which is what the implementing
component gets. Handles of these resources nested in records, lists, ... are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..component.typeval import Def, FuncT, InstT, Res, peel
from ..items import ConstExpr, Global
from ..types import I32, GlobalType
from .abi import FuseError, flatten, func_types
from .emit import Emitter
from .plan import Plan, ResId
from .transcode import asm

__all__ = ["Boundary", "boundary", "OUT_MODULE"]

#: the core import module of the output component's ``canon resource.new|rep|drop``
OUT_MODULE = "fuse:out"


@dataclass
class Boundary:
    """The exported resources (``resources[K]``, output type K, with their ``Res`` in the
    composition's type) and, per exported core function that moves their handles, one spec per
    parameter (``None`` or ``(kind, K)``) and the result's (``None`` or ``("own", K)``)."""

    resources: list[ResId] = field(default_factory=list)
    types: list[Any] = field(default_factory=list)
    funcs: dict[str, tuple[tuple[Any, ...], Any]] = field(default_factory=dict)
    #: the evaluated composition (``Res`` identities are those of this evaluation)
    top: Any = None


def _handle(t: Any, index: dict[int, int]) -> tuple[str, int] | None:
    t = peel(t)
    if isinstance(t, Def) and t.kind in ("own", "borrow"):
        r = peel(t.data)
        if id(r) in index:
            return t.kind, index[id(r)]
    return None


def _nested(t: Any, index: dict[int, int], depth: int = 0) -> bool:
    """True when value type ``t`` holds a handle of an exported resource below its top level."""
    if depth > 64:
        raise FuseError("--emit component: value type nesting too deep")
    t = peel(t)
    if not isinstance(t, Def) or t.kind == "prim":
        return False
    if t.kind in ("own", "borrow"):
        return depth > 0 and id(peel(t.data)) in index
    d = t.data
    parts = [x for _, x in d] if t.kind in ("record", "variant") else list(d) if t.kind in ("tuple", "result") \
        else [d] if t.kind in ("list", "option") else []
    return any(x is not None and not isinstance(x, str) and _nested(x, index, depth + 1) for x in parts)


def boundary(p: Plan, top: Any) -> Boundary:
    """The :class:`Boundary` of plan ``p`` whose composition evaluates to ``top``."""
    b = Boundary(top=top)
    index: dict[int, int] = {}
    funcs: list[tuple[str, FuncT]] = []
    entries = [(name, ent) for name, ent in top.exports.items() if ent.sort != "instance"]
    for name, ent in top.exports.items():
        if ent.sort == "instance" and isinstance(ent.ty, InstT):
            entries += [(f"{name}#{n}", x) for n, x in ent.ty.exports.items()]
    for key, x in entries:
        if x.sort == "type" and isinstance(peel(x.referenced), Res) and key in p.export_resources:
            index[id(peel(x.referenced))] = len(b.resources)
            b.resources.append(p.export_resources[key])
            b.types.append(peel(x.referenced))
        elif x.sort == "func" and isinstance(x.ty, FuncT):
            funcs.append((key, x.ty))
    if not index:
        return b
    for name, ft in funcs:
        params = tuple(_handle(t, index) for _, t in ft.params)
        result = None if ft.result is None else _handle(ft.result, index)
        if any(_nested(t, index) for _, t in ft.params) or (ft.result is not None and _nested(ft.result, index)):
            raise FuseError(f"--emit component: `{name}` passes handles of an exported resource inside "
                            "other values (not supported yet)")
        if any(params) or result:
            b.funcs[name] = (params, result)
    return b


def out_imports(am: Any, b: Boundary) -> dict[tuple[str, int], int]:
    """Import ``resource.new|rep|drop`` of each exported resource into the adapter module ``am``."""
    sigs = {"new": (["i32"], ["i32"]), "rep": (["i32"], ["i32"]), "drop": (["i32"], [])}
    return {(op, k): am.import_func(OUT_MODULE, f"resource.{op}{k}", sig)
            for k in range(len(b.resources)) for op, sig in sigs.items()}


def define(am: Any, p: Plan, b: Boundary, outs: dict[tuple[str, int], int], sigs: dict[str, tuple[list[str], list[str]]]) -> dict[str, int]:
    """Define (and export) the wrappers and destructors in ``am`` (after its handle tables);
    ``{export: func}``.
    ``sigs[name]`` is the lift signature of export ``name``."""
    taking = len(am.m.globals)
    am.m.globals.append(Global(GlobalType(I32, True), ConstExpr.i32(0)))
    out: dict[str, int] = {}
    for k, r in enumerate(b.resources):
        e = Emitter(["i32"])
        asm(e, f"global.get {taking} if return end")
        if r.dtor is not None:
            asm(e, f"local.get 0 call {am.func(r.dtor, (['i32'], []))}")
        out[f"fuse:dtor{k}"] = am.define(["i32"], [], e, f"fuse:dtor{k}")
    for name, (params, result) in b.funcs.items():
        lifted = p.exports.get(name)
        if lifted is None:
            continue
        saved = None
        if result is not None and lifted.options.post_return is not None:
            # the post-return gets the handle the function returned, not the host's
            saved = len(am.m.globals)
            am.m.globals.append(Global(GlobalType(I32, True), ConstExpr.i32(0)))
            e = Emitter(["i32"])
            asm(e, f"global.get {saved} call {am.func(lifted.options.post_return, (sigs[name][1], []))}")
            out[f"cabi_post_{name}"] = am.define(["i32"], [], e, f"cabi_post_{name}")
        out[name] = _wrapper(am, p, b, outs, name, (params, result), sigs[name], (taking, saved))
    return out


def _wrapper(am: Any, p: Plan, b: Boundary, outs: dict[tuple[str, int], int], name: str, spec: tuple[Any, Any],
             sig: tuple[list[str], list[str]], flags: tuple[int, int | None]) -> int:
    lifted = p.exports[name]
    comp = lifted.options.component
    h_entry, h_add, h_free = am.fns
    tmem = am.tmem
    params, result = spec
    tparams, _ = func_types(lifted.functype, name)
    taking, saved = flags
    e = Emitter(sig[0])
    at = 0
    for t, s in zip(tparams, params):
        if s is not None and len(flatten(t)) == 1:
            kind, k = s
            r = b.resources[k]
            if kind == "borrow" and r.component != comp:
                raise FuseError(f"--emit component: `{name}` takes a borrow of a resource another "
                                "component implements (not supported yet)")
            if kind == "own":
                rep = e.new("i32")
                asm(e, f"local.get {at} call {outs[('rep', k)]} local.set rep "
                       f"i32.const 1 global.set {taking} local.get {at} call {outs[('drop', k)]} "
                       f"i32.const 0 global.set {taking} "
                       f"i32.const {comp} local.get rep i32.const {r.index + 1} i32.const 1 call {h_add} "
                       f"local.set {at}", rep=rep)
        at += len(flatten(t))
    if at != len(sig[0]):
        raise FuseError(f"--emit component: `{name}`: too many parameters with exported resources")
    for i in range(at):
        e.get(i)
    e.op("call", am.func(lifted.core, sig))
    if result is not None:
        if len(sig[1]) != 1:
            raise FuseError(f"--emit component: `{name}`: unexpected result")
        r = b.resources[result[1]]
        h, a, rep = e.new("i32"), e.new("i32"), e.new("i32")
        if saved is not None:
            asm(e, f"local.tee h global.set {saved} local.get h", h=h)
        asm(e, f"local.set h i32.const {comp} local.get h call {h_entry} local.tee a i32.load @4 "
               f"i32.const {r.index + 1} i32.ne if unreachable end "
               "local.get a i32.load @8 i32.const 1 i32.and i32.eqz if unreachable end "
               "local.get a i32.load @12 if unreachable end local.get a i32.load @0 local.set rep "
               f"i32.const {comp} local.get h call {h_free} "
               f"local.get rep call {outs[('new', result[1])]}", tmem, h=h, a=a, rep=rep)
    return am.define(sig[0], sig[1], e, name)
