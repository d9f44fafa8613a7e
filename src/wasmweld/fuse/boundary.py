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
component gets; another component gets a borrow handle in its table, and the wrapper traps
unless the call dropped every borrow it got (as the canonical ABI does when a call returns).
Handles nested in records, tuples, variants, options, results and lists are converted in place
where the canonical ABI lays them out (:class:`_Walk`): in the flat parameters (a variant's
joined i64 slot wrapped and extended again), in the parameter area in memory, in the returned
area, a list element by element. A post-return of a result in memory sees the area with the
host's handles in it (a flat result: the component's handle, as above).
"""

from __future__ import annotations

from ..record import field, record
from typing import Any

from ..binary.instr import MemArg
from ..component.typeval import FuncT, InstT, Res, peel
from ..items import ConstExpr, Export, Global
from ..types import I32, ExternKind, GlobalType
from . import abi
from .abi import MAX_TYPE_DEPTH, FuseError, flatten, normalize
from .adapter import BORROW, OWN
from .emit import Emitter, check_range
from .handles import borrow_count
from .plan import CoreRef, Plan, ResId
from .transcode import asm

__all__ = ["Boundary", "boundary", "OUT_MODULE", "out_imports", "define", "lift_option_names", "lift_option_exports"]

#: the core import module of the output component's ``canon resource.new|rep|drop``
OUT_MODULE = "fuse:out"


@record
class Boundary:
    """The exported resources (``resources[K]``, output type K, with their ``Res`` in the
    composition's type) and, per exported core function that moves their handles, the trees of its
    parameters and result (:func:`tree`: ``abi.normalize``'s, each handle ``(kind, K)``, K None for
    a resource the output imports)."""

    resources: list[ResId] = field(default_factory=list)
    types: list[Any] = field(default_factory=list)
    funcs: dict[str, tuple[tuple[Any, ...], Any]] = field(default_factory=dict)
    #: the evaluated composition (``Res`` identities are those of this evaluation)
    top: Any = None
    #: the memories the wrappers read (imported into the adapter module before its handle tables)
    mems: list[CoreRef] = field(default_factory=list)


#: most nodes :func:`tree` expands one function's types into (a type may use another many times)
MAX_TREE_NODES = 100_000


def tree(t: Any, index: dict[int, int], where: str, depth: int = 0, budget: list[int] | None = None) -> Any:
    """``abi.normalize(t)`` with each handle ``(kind, K)``: K the output's number of its resource
    (``index``: ``id(Res)`` -> K), None for one the output imports. ``budget``: nodes left (a
    one-element list shared by the calls for one function; :data:`MAX_TREE_NODES` by default)."""
    def handle(kind: str, res: Any) -> tuple[str, int | None]:
        return (kind, index.get(id(peel(res))))

    return normalize(t, where, depth, handle=handle, budget=[MAX_TREE_NODES] if budget is None else budget)


def _exported(t: Any) -> bool:
    """True when tree ``t`` holds a handle of a resource the output exports."""
    if t is None or isinstance(t, str) or t[0] == "flags":
        return False
    if t[0] in ("own", "borrow"):
        return t[1] is not None
    return _exported(t[1]) if t[0] == "list" else any(_exported(x) for x in t[1])


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
            if id(peel(x.referenced)) not in index:      # (an interface may `use` another's)
                index[id(peel(x.referenced))] = len(b.resources)
                b.resources.append(p.export_resources[key])
                b.types.append(peel(x.referenced))
        elif x.sort == "func" and isinstance(x.ty, FuncT):
            funcs.append((key, x.ty))
    if not index:
        return b
    for name, ft in funcs:
        budget = [MAX_TREE_NODES]
        params = tuple(tree(t, index, name, 0, budget) for _, t in ft.params)
        result = None if ft.result is None else tree(ft.result, index, name, 0, budget)
        if any(_exported(t) for t in params) or _exported(result):
            b.funcs[name] = (params, result)
            lifted = p.exports.get(name)
            if lifted is not None and lifted.options.memory is not None and lifted.options.memory not in b.mems:
                b.mems.append(lifted.options.memory)
    return b


def lift_option_names(p: Plan) -> dict[tuple[str, CoreRef], str]:
    """The core export names of the memories and reallocs the exports are lifted with,
    ``{("memory"|"realloc", ref): name}``: the first export's are ``memory`` and ``cabi_realloc``
    (wit-component's names), those of exports of other components ``fuse:lift-memoryK`` and
    ``fuse:lift-reallocK`` (K from 1): each component's exports are lifted with its own memory."""
    out: dict[tuple[str, CoreRef], str] = {}
    for lifted in p.exports.values():
        for kind, ref, first in (("memory", lifted.options.memory, "memory"),
                                 ("realloc", lifted.options.realloc, "cabi_realloc")):
            if ref is not None and (kind, ref) not in out:
                k = sum(1 for x in out if x[0] == kind)
                out[(kind, ref)] = first if k == 0 else f"fuse:lift-{kind}{k}"
    return out


def lift_option_exports(am: Any, p: Plan) -> list[Export]:
    """The adapter module's exports of the memories and reallocs :func:`lift_option_names` names
    ``fuse:lift-...`` (for ``--emit component``; ``memory`` and ``cabi_realloc`` are exported anyway)."""
    out = []
    for (kind, ref), name in lift_option_names(p).items():
        if name.startswith("fuse:lift-"):
            idx = am.memory(ref) if kind == "memory" else am.func(ref, (["i32"] * 4, ["i32"]))
            out.append(Export(name, ExternKind.MEMORY if kind == "memory" else ExternKind.FUNC, idx))
    return out


def out_imports(am: Any, b: Boundary) -> dict[tuple[str, int], int]:
    """Import ``resource.new|rep|drop`` of each exported resource into the adapter module ``am``
    (and the memories the wrappers walk)."""
    for ref in b.mems:
        am.memory(ref)
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
        if result is not None and len(flatten(result)) == 1 and lifted.options.post_return is not None:
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
    """The wrapper of export ``name``: its parameters' handles converted from the output's table
    into the callee's, the call, its result's handles converted back (:class:`_Walk`)."""
    lifted = p.exports[name]
    comp = lifted.options.component
    params, result = spec
    taking, saved = flags
    e = Emitter(sig[0])
    mem = am.memory(lifted.options.memory) if lifted.options.memory is not None else None
    tup = ("record", params)
    w = _Walk(e, am, b, outs, comp, mem, taking, name)
    held = None
    if w.lends(tup):                 # borrows given to a component that does not implement them
        held = e.new("i32")
        borrow_count(e, comp, am.tmem)
        e.set(held)
    nflat = len(flatten(tup))
    if nflat == len(sig[0]):
        w.walk(tup, _Flat(tuple(zip(range(nflat), sig[0]))))
    elif sig[0] == ["i32"]:
        w.walk(tup, _Mem(0, 0))
    else:
        raise FuseError(f"--emit component: `{name}`: unexpected parameters")
    for i in range(len(sig[0])):
        e.get(i)
    e.op("call", am.func(lifted.core, sig))
    if len(sig[1]) > 1 or (result is None) != (not sig[1]):
        raise FuseError(f"--emit component: `{name}`: unexpected result")
    r = e.new(sig[1][0]) if sig[1] else None
    if r is not None:
        e.set(r)
    if held is not None:             # the callee must have dropped the borrows it was given
        borrow_count(e, comp, am.tmem)
        e.get(held)
        e.op("i32.ne")
        e.trap_if()
    if r is not None and result is not None:
        if saved is not None:
            e.get(r)
            e.op("global.set", saved)
        w.inward = False
        if len(flatten(result)) == 1:
            w.walk(result, _Flat(((r, sig[1][0]),)))
        else:
            w.area(result, r)
            w.walk(result, _Mem(r, 0))
        e.get(r)
    return am.define(sig[0], sig[1], e, name)


@record(frozen=True)
class _Flat:
    """A value in core locals: ``(local, core type)`` per flat value (a handle's slot may be an
    i64 joined by a variant)."""

    slots: tuple[tuple[int, str], ...]


@record(frozen=True)
class _Mem:
    """A value in the callee's memory at local ``base`` + ``offset``."""

    base: int
    offset: int


class _Walk:
    """Emit the in-place conversion of the handles of exported resources in a value laid out as
    the canonical ABI says (flat locals or memory; lists loop over their elements)::

        ;; list<acc> parameter at (p, n): each element host handle -> the callee's handle
        (loop (local.set $h (i32.load (local.get $q)))
              (i32.store (local.get $q) (call $to_callee (local.get $h))) ...)

    ``inward``: parameters (from the output's table into the callee's) or a result (back)."""

    def __init__(self, e: Emitter, am: Any, b: Boundary, outs: dict[tuple[str, int], int], comp: int,
                 mem: int | None, taking: int, where: str) -> None:
        self.e, self.am, self.b, self.outs, self.comp = e, am, b, outs, comp
        self.mem, self.taking, self.where = mem, taking, where
        self.inward = True

    def _mem(self) -> int:
        if self.mem is None:
            raise FuseError(f"--emit component: `{self.where}`: values in memory need the memory option")
        return self.mem

    def moves(self, t: Any) -> bool:
        """True when a value of tree ``t`` holds a handle this walk converts."""
        if t is None or isinstance(t, str) or t[0] == "flags":
            return False
        if t[0] in ("own", "borrow"):
            k = t[1]
            return k is not None and not (t[0] == "borrow" and self.b.resources[k].component == self.comp)
        if t[0] == "list":
            return self.moves(t[1])
        return any(self.moves(x) for x in t[1])

    def lends(self, t: Any) -> bool:
        """True when ``t`` holds a borrow the callee gets as a handle of its own table."""
        if t is None or isinstance(t, str) or t[0] == "flags":
            return False
        if t[0] in ("own", "borrow"):
            return t[0] == "borrow" and self.moves(t)
        return self.lends(t[1]) if t[0] == "list" else any(self.lends(x) for x in t[1])

    def area(self, t: Any, base: int) -> None:
        """Trap unless local ``base`` is an aligned, in-bounds place for a ``t`` (a result area)."""
        n = self.e.new("i32")
        self.e.op("i32.const", abi.size(t))
        self.e.set(n)
        check_range(self.e, base, n, abi.alignment(t), self._mem())

    def walk(self, t: Any, at: Any, depth: int = 0) -> None:
        """Convert the handles of the value of tree ``t`` at ``at`` (a :class:`_Flat` or :class:`_Mem`)."""
        if depth > MAX_TYPE_DEPTH:
            raise FuseError("--emit component: value type nesting too deep")
        if not self.moves(t):
            return
        k = t[0]
        if k in ("own", "borrow"):
            h = self.read(at, 0)
            self.write(at, 0, self.convert(k, t[1], h))
        elif k == "record":
            if isinstance(at, _Flat):
                pos = 0
                for f in t[1]:
                    n = len(flatten(f))
                    self.walk(f, _Flat(at.slots[pos:pos + n]), depth + 1)
                    pos += n
            else:
                for f, off in zip(t[1], abi.field_offsets(t)):
                    self.walk(f, _Mem(at.base, at.offset + off), depth + 1)
        elif k == "variant":
            self.variant(t, at, depth)
        else:
            self.list(t[1], at, depth)

    def read(self, at: Any, index: int, width: int = 4) -> int:
        """A new local holding the i32 at flat position ``index`` (or at byte ``index`` in memory)."""
        e, x = self.e, self.e.new("i32")
        if isinstance(at, _Flat):
            loc, ty = at.slots[index]
            e.get(loc)
            if ty == "i64":
                e.op("i32.wrap_i64")
        else:
            e.get(at.base)
            op = {1: "i32.load8_u", 2: "i32.load16_u", 4: "i32.load"}[width]
            e.op(op, MemArg(width.bit_length() - 1, at.offset + index, self._mem()))
        e.set(x)
        return x

    def write(self, at: Any, index: int, x: int) -> None:
        e = self.e
        if isinstance(at, _Flat):
            loc, ty = at.slots[index]
            e.get(x)
            if ty == "i64":
                e.op("i64.extend_i32_u")
            e.set(loc)
        else:
            e.get(at.base)
            e.get(x)
            e.op("i32.store", MemArg(2, at.offset + index, self._mem()))

    def variant(self, t: Any, at: Any, depth: int) -> None:
        cases = t[1]
        disc = self.read(at, 0, 1) if isinstance(at, _Flat) else self.read(at, 0, abi.disc_size(len(cases)))
        for i, c in enumerate(cases):
            if c is None or not self.moves(c):
                continue
            self.e.get(disc)
            self.e.op("i32.const", i)
            self.e.op("i32.eq")
            self.e.op("if", None)
            if isinstance(at, _Flat):
                self.walk(c, _Flat(at.slots[1:1 + len(flatten(c))]), depth + 1)
            else:
                self.walk(c, _Mem(at.base, at.offset + abi.payload_offset(t)), depth + 1)
            self.e.op("end")

    def list(self, elem: Any, at: Any, depth: int) -> None:
        e, mem = self.e, self._mem()
        size = abi.size(elem)
        if isinstance(at, _Flat):
            p, n = self.read(at, 0), self.read(at, 1)
        else:
            p, n = self.read(at, 0), self.read(at, 4)
        nbytes, q, left = e.new("i32"), e.new("i32"), e.new("i32")
        asm(e, f"local.get n i64.extend_i32_u i64.const {size} i64.mul i64.const 0xFFFFFFFF i64.gt_u "
               f"if unreachable end local.get n i32.const {size} i32.mul local.set b", n=n, b=nbytes)
        check_range(e, p, nbytes, abi.alignment(elem), mem)
        asm(e, "local.get p local.set q local.get n local.set k block loop local.get k i32.eqz br_if 1",
            p=p, q=q, n=n, k=left)
        self.walk(elem, _Mem(q, 0), depth + 1)
        asm(e, f"local.get q i32.const {size} i32.add local.set q local.get k i32.const 1 i32.sub local.set k "
               "br 0 end end", q=q, k=left)

    def convert(self, kind: str, k: int, h: int) -> int:
        """A new local: handle ``h`` (local) of exported resource ``k`` converted."""
        e, am, outs, comp = self.e, self.am, self.outs, self.comp
        h_entry, h_add, h_free = am.fns
        r = self.b.resources[k]
        new = e.new("i32")
        if self.inward and kind == "own":       # out of the host's table, into the callee's
            rep = e.new("i32")
            asm(e, f"local.get h call {outs[('rep', k)]} local.set rep "
                   f"i32.const 1 global.set {self.taking} local.get h call {outs[('drop', k)]} "
                   f"i32.const 0 global.set {self.taking} "
                   f"i32.const {comp} local.get rep i32.const {r.index + 1} i32.const {OWN} call {h_add} "
                   "local.set new", h=h, rep=rep, new=new)
        elif self.inward:                       # a borrow: the rep arrives, the callee gets a handle
            asm(e, f"i32.const {comp} local.get h i32.const {r.index + 1} i32.const {BORROW} call {h_add} "
                   "local.set new", h=h, new=new)
        elif kind == "own":                     # out of the callee's table, into the host's
            a, rep = e.new("i32"), e.new("i32")
            asm(e, f"i32.const {comp} local.get h call {h_entry} local.tee a i32.load @4 "
                   f"i32.const {r.index + 1} i32.ne if unreachable end "
                   f"local.get a i32.load @8 i32.const {OWN} i32.and i32.eqz if unreachable end "
                   "local.get a i32.load @12 if unreachable end local.get a i32.load @0 local.set rep "
                   f"i32.const {comp} local.get h call {h_free} "
                   f"local.get rep call {outs[('new', k)]} local.set new", am.tmem, h=h, a=a, rep=rep, new=new)
        else:
            raise FuseError(f"--emit component: `{self.where}` returns a borrow")
        return new
