"""Instrumentation: make every piece of a module's state readable from outside.

Stage 1 of ``wasmweld snapshot`` (**instrument** -> run -> snapshot -> rewrite).
:func:`check` refuses what cannot be snapshotted soundly, before anything
runs: imported memories, globals and tables (their state lives outside the
module), shared memories (other threads could be changing them), an init
function that is missing or not ``[] -> []``. :func:`instrument` then builds
the module the runner executes, a copy of the input with only additions:

* every defined memory, table and mutable global exported under a private
  name (``__wasmweld_snapshot:memory:0`` ...), internal ones included;
  f32/f64/v128 globals get a getter function returning their bits instead
  (so NaN payloads survive the trip through the host);
* the start section removed and the start function exported: the runner calls
  it after instantiation, so the runner can look at the tables as the
  element segments left them before any code ran; a WASI reactor's
  ``_initialize`` export is called next (as Wizer does), then the init function;
* for each non-empty passive data/elem segment, a probe function that traps
  iff the segment was dropped (``memory.init`` / ``table.init`` of length 0
  from source offset 1);
* with a memory cap, every ``memory.grow`` replaced by a call to a guard
  that traps (and records which memory and how many pages) when a growth the
  module's own limits allow fails: the cap was hit.

Function, global, table and type indices of the input are unchanged (new
items are appended), so backtraces map back to the input. For::

    (module (memory 1) (global $g (mut f32) (f32.const 0))
      (func (export "wizer-initialize") ...))

the instrumented module adds ``(export "__wasmweld_snapshot:memory:0" (memory 0))``
and ``(func (export "__wasmweld_snapshot:global:0") (result i32)
(i32.reinterpret_f32 (global.get $g)))``.
"""

from __future__ import annotations

from ..record import record
from functools import partial
from typing import Any

from ..errors import DecodeError, SnapshotError
from ..module import ConstExpr, Export, FuncBody, Global, Module, Table, parse
from ..types import (
    I32, I64, ExternKind, FuncType, GlobalType, Limits, NumType, RefType, TableType,
)
from .probes import CodeSpan, GlobalProbe, LazySpans, MemoryProbe, Probes, SegmentProbe, TableProbe

__all__ = ["PREFIX", "DEFAULT_INIT_FUNCS", "REACTOR_INIT", "reactor_init_export", "Instrumented", "check", "find_init_func", "instrument"]

#: prefix of every export the instrumenter adds
PREFIX = "__wasmweld_snapshot:"

#: init function names tried when none is given, in order (Wizer's default, then its C convention)
DEFAULT_INIT_FUNCS = ("wizer-initialize", "wizer.initialize")

#: a WASI reactor's initialiser: like Wizer, called before the init function and not exported afterwards
REACTOR_INIT = "_initialize"

_KIND_WORD = {
    ExternKind.FUNC: "function", ExternKind.TABLE: "table", ExternKind.MEMORY: "memory",
    ExternKind.GLOBAL: "global", ExternKind.TAG: "tag",
}

#: memory64 page limit (2^48 pages, as wasmtime)
_MAX_PAGES_64 = 1 << 48
_MAX_PAGES_32 = 1 << 16


@record
class Instrumented:
    """The instrumented module (bytes), the probes the runner reads, and the init function's export.

    ``input_unchanged``: the input Module still encodes to the bytes it was parsed from (so a
    rewrite may edit it directly, its decoded sections being copied as they were).
    """

    wasm: bytes
    probes: Probes
    init_export: Export
    input_unchanged: bool = False


def _names(module: Module):
    try:
        return module.names
    except (DecodeError, Exception):  # a broken name section only costs us labels
        return None


def _label(kind: str, index: int, name: str | None, export: str | None = None) -> str:
    text = f"{kind} {index}"
    if name:
        text += f" (${name})"
    elif export:
        text += f" (export {export!r})"
    return text


def find_init_func(module: Module, init_func: str | None) -> Export:
    """The export of the init function: ``init_func``, or the first of :data:`DEFAULT_INIT_FUNCS` present."""
    candidates = (init_func,) if init_func is not None else DEFAULT_INIT_FUNCS
    for name in candidates:
        exp = module.export(name)
        if exp is not None:
            break
    else:
        if init_func is not None:
            raise SnapshotError(f"the module has no export named {init_func!r} (the init function)")
        raise SnapshotError("the module exports no init function: expected 'wizer-initialize' or "
                            "'wizer.initialize' (or name one with init_func / --init-func)")
    if exp.kind != ExternKind.FUNC:
        raise SnapshotError(f"export {exp.name!r} is a {_KIND_WORD[exp.kind]}, not a function: it cannot be "
                            "the init function")
    try:
        ftype = module.func_type(exp.index)
    except (IndexError, TypeError) as e:
        raise SnapshotError(f"export {exp.name!r}: {e}") from None
    if ftype.params or ftype.results:
        raise SnapshotError(f"the init function {exp.name!r} has type {ftype}; it must take no parameters and "
                            "return nothing")
    return exp


def reactor_init_export(module: Module, init_name: str) -> Export | None:
    """The ``_initialize`` export of a WASI reactor (a ``[] -> []`` function other than the init function)."""
    exp = module.export(REACTOR_INIT)
    if exp is None or exp.kind != ExternKind.FUNC or exp.name == init_name:
        return None
    try:
        ftype = module.func_type(exp.index)
    except (IndexError, TypeError):
        return None
    return exp if not ftype.params and not ftype.results else None


def check(module: Module, init_func: str | None = None) -> Export:
    """Refuse modules whose state cannot be snapshotted; return the init function's export."""
    for imp in module.imports:
        if imp.kind in (ExternKind.MEMORY, ExternKind.GLOBAL, ExternKind.TABLE):
            raise SnapshotError(
                f"cannot snapshot: the module imports {_KIND_WORD[imp.kind]} {imp.module}.{imp.name}; "
                "imported state lives outside the module and cannot be captured")
    names = _names(module)
    mem_names = names.memories if names is not None else {}
    exports_by = {(e.kind, e.index): e.name for e in module.exports}
    for i, mt in enumerate(module.memories):
        if mt.limits.shared:
            label = _label("memory", i, mem_names.get(i), exports_by.get((ExternKind.MEMORY, i)))
            raise SnapshotError(f"cannot snapshot: {label} is shared; other threads could change it "
                                "while it is being read")
    return find_init_func(module, init_func)


def _private_name(taken: set[str], kind: str, index: int | str) -> str:
    name = f"{PREFIX}{kind}:{index}"
    k = 1
    while name in taken:
        name = f"{PREFIX}{kind}:{index}~{k}"
        k += 1
    taken.add(name)
    return name


def _heap_name(rt: RefType) -> str:
    return rt.heap if isinstance(rt.heap, str) else "concrete"


def _is_func_heap(module: Module, rt: RefType) -> bool:
    """True if references of type ``rt`` are functions (the host can compare their identity)."""
    heap = rt.heap
    if isinstance(heap, str):
        return heap in ("func", "nofunc")
    try:
        return isinstance(module.type_list()[heap].comp, FuncType)
    except IndexError:
        return False


def _nonnull_counter_body(table: int, is64: bool) -> FuncBody:
    """``(func (result i32))``: how many elements of ``table`` are not null::

        (local $i it) (local $n i32)
        block loop
          (br_if 1 (it.ge_u (local.get $i) (table.size $table)))
          (local.set $n (i32.add (local.get $n) (i32.eqz (ref.is_null (table.get $table (local.get $i))))))
          (local.set $i (it.add (local.get $i) (it.const 1)))
          br 0
        end end
        (local.get $n)
    """
    it = "i64" if is64 else "i32"
    mk = _make
    locals_ = [(1, I64), (1, I32)] if is64 else [(2, I32)]
    return FuncBody.from_instrs(locals_, [
        mk("block", None), mk("loop", None),
        mk("local.get", 0), mk("table.size", table), mk(f"{it}.ge_u"), mk("br_if", 1),
        mk("local.get", 0), mk("table.get", table), mk("ref.is_null"), mk("i32.eqz"),
        mk("local.get", 1), mk("i32.add"), mk("local.set", 1),
        mk("local.get", 0), mk(f"{it}.const", 1), mk(f"{it}.add"), mk("local.set", 0),
        mk("br", 0), mk("end"), mk("end"),
        mk("local.get", 1),
    ])


def _guard_body(mem: int, is64: bool, max_pages: int, hit_global: int, delta_global: int) -> FuncBody:
    """``(func (param $delta it) (result it) (local $r it))``: memory.grow that traps when the cap refused::

        (local.tee $r (memory.grow $mem (local.get $delta)))
        (if (it.eq (local.get $r) (it.const -1))
          (if (it.le_u (local.get $delta) (it.sub (it.const max_pages) (memory.size $mem)))
            ;; the limits allow it, so the cap refused
            (global.set $hit (i32.const mem+1)) (global.set $delta (i64.extend (local.get $delta)))
            unreachable))
        (local.get $r)
    """
    it = "i64" if is64 else "i32"
    vt = I64 if is64 else I32
    mk = _make
    max_enc = max_pages if is64 or max_pages < (1 << 31) else max_pages - (1 << 32)
    record_delta = [mk("local.get", 0)] + ([] if is64 else [mk("i64.extend_i32_u")])
    return FuncBody.from_instrs([(1, vt)], [
        mk("local.get", 0), mk("memory.grow", mem), mk("local.tee", 1),
        mk(f"{it}.const", -1), mk(f"{it}.eq"),
        mk("if", None),
        mk("local.get", 0), mk(f"{it}.const", max_enc), mk("memory.size", mem), mk(f"{it}.sub"), mk(f"{it}.le_u"),
        mk("if", None),
        mk("i32.const", mem + 1), mk("global.set", hit_global),
        *record_delta, mk("global.set", delta_global),
        mk("unreachable"),
        mk("end"), mk("end"),
        mk("local.get", 1),
    ])


def _global_getter_body(gi: int, vt) -> tuple[FuncBody, FuncType]:
    """A function returning the bits of non-integer global ``gi`` (f32/f64 as integers, v128 as two i64 lanes)."""
    mk = _make
    if isinstance(vt, RefType):
        return FuncBody.from_instrs([], [mk("global.get", gi), mk("ref.is_null")]), FuncType((), (I32,))
    if vt.name == "f32":
        return FuncBody.from_instrs([], [mk("global.get", gi), mk("i32.reinterpret_f32")]), FuncType((), (I32,))
    if vt.name == "f64":
        return FuncBody.from_instrs([], [mk("global.get", gi), mk("i64.reinterpret_f64")]), FuncType((), (I64,))
    return FuncBody.from_instrs([], [mk("global.get", gi), mk("i64x2.extract_lane", 0),
                                     mk("global.get", gi), mk("i64x2.extract_lane", 1)]), FuncType((), (I64, I64))


def _make(name: str, *args):
    """``Instr.make`` (the instruction module loads on first use: `import wasmweld` stays light)."""
    from ..binary.instr import Instr
    return Instr.make(name, *args)


def _replace_memory_grow(module: Module, guards: dict[int, int]) -> set[int]:
    """Replace ``memory.grow m`` by ``call guards[m]`` in every body; return the changed body indices."""
    from ..binary.opcodes import BY_NAME
    memory_grow = BY_NAME["memory.grow"].opcode
    changed = set()
    calls = {m: _make("call", f) for m, f in guards.items()}
    for i, body in enumerate(module.code):
        raw = body.raw
        if memory_grow not in raw:  # quick filter: no byte of that value, no memory.grow
            continue
        instrs = body.instrs
        new = None
        for k, ins in enumerate(instrs):
            if ins.name == "memory.grow":
                if new is None:
                    new = list(instrs)
                new[k] = calls[ins.args[0]]
        if new is not None:
            body.instrs = new
            changed.add(i)
    return changed


def instrument(module: Module, init_func: str | None = None, *, guard_memory_growth: bool = False) -> Instrumented:
    """Build the instrumented module for ``module`` (which is not changed) and the probes for the runner.

    Steps (:class:`_Instrumenter`): export every memory, table and mutable global (getters for the
    ones the host cannot read), the start function, probes for the passive segments, the
    ``memory.grow`` guards of the memory cap; then the code spans that map offsets back.
    """
    init_export = check(module, init_func)
    data = module.encode()
    m = parse(data)
    orig_code = module.code if module.data == data else parse(data).code
    ins = _Instrumenter(m, source=module)
    mem_probes = ins.memory_probes()
    glob_probes = ins.global_probes()
    table_probes = ins.table_probes()
    start_name = ins.export_start()
    data_probes = ins.data_probes()
    elem_probes = ins.elem_probes()
    grow_guard = grow_delta = None
    changed_bodies: set[int] = set()
    if guard_memory_growth and m.memories:
        grow_guard, grow_delta, changed_bodies = ins.grow_guards()
    m.funcs.extend(ins.new_funcs)
    m.code.extend(ins.new_bodies)
    m.exports.extend(ins.new_exports)
    wasm = m.encode()
    reactor = reactor_init_export(m, init_export.name)
    probes = Probes(
        memories=tuple(mem_probes),
        globals=tuple(glob_probes),
        tables=tuple(table_probes),
        passive_datas=tuple(data_probes),
        passive_elems=tuple(elem_probes),
        start=start_name,
        reactor_init=reactor.name if reactor is not None else None,
        grow_guard=grow_guard,
        grow_guard_delta=grow_delta,
        func_names=ins.func_names,
        code_spans=LazySpans(partial(_code_spans, wasm, orig_code, ins.n_imp_funcs, changed_bodies)),
        num_funcs=ins.num_funcs_in,
    )
    return Instrumented(wasm, probes, init_export, input_unchanged=module.data == data)


def _code_spans(wasm: bytes, orig_code: list, n_imp_funcs: int, changed_bodies: set[int]) -> list[CodeSpan]:
    """Where each body landed in ``wasm``, for mapping backtrace offsets back to the input."""
    spans = []
    for i, body in enumerate(parse(wasm).code):
        if body.offset is None:
            continue
        if i < len(orig_code):
            ob = orig_code[i]
            spans.append(CodeSpan(n_imp_funcs + i, body.offset, body.offset + len(body.raw), ob.offset,
                                  changed=i in changed_bodies))
        else:
            spans.append(CodeSpan(n_imp_funcs + i, body.offset, body.offset + len(body.raw), None))
    return spans


class _Instrumenter:
    """The additions to one module: new functions (appended after the module's own), new exports
    under private names, and the names used in messages."""

    def __init__(self, m: Module, source: Module | None = None):
        self.m = m
        #: the module ``m`` is a copy of (its decoded sections serve: ``m``'s stay undecoded, copied raw)
        self.source = m if source is None else source
        self.taken = {e.name for e in m.exports}
        self._types: Any = None  # a passes.common.FuncTypes once made
        self.n_imp_funcs = m.num_imported(ExternKind.FUNC)
        self.num_funcs_in = m.num_funcs
        names = _names(m)
        self.func_names = {e.index: f"export {e.name!r}" for e in m.exports if e.kind == ExternKind.FUNC}
        if names is not None:
            self.func_names.update(names.funcs)
        self.gnames = names.globals if names is not None else {}
        self.tnames = names.tables if names is not None else {}
        self.mnames = names.memories if names is not None else {}
        self.exports_by = {(e.kind, e.index): e.name for e in m.exports}
        self.new_exports: list[Export] = []
        self.new_funcs: list[int] = []
        self.new_bodies: list[FuncBody] = []
        self._void: int | None = None

    @property
    def types(self):
        """The module's function types (found or appended); made on first use: most modules need no new
        function, and the passes package it comes from costs ~20 ms to import."""
        if self._types is None:
            from ..passes.common import FuncTypes

            self._types = FuncTypes(self.m.types)
        return self._types

    def add_func(self, type_idx: int, body: FuncBody, export: str | None) -> int:
        idx = self.num_funcs_in + len(self.new_funcs)
        self.new_funcs.append(type_idx)
        self.new_bodies.append(body)
        if export is not None:
            self.new_exports.append(Export(export, ExternKind.FUNC, idx))
        return idx

    def void(self) -> int:
        if self._void is None:
            self._void = self.types.index(FuncType((), ()))
        return self._void

    def memory_probes(self) -> list[MemoryProbe]:
        out = []
        for i, mt in enumerate(self.m.memories):
            name = _private_name(self.taken, "memory", i)
            self.new_exports.append(Export(name, ExternKind.MEMORY, i))
            label = _label("memory", i, self.mnames.get(i), self.exports_by.get((ExternKind.MEMORY, i)))
            out.append(MemoryProbe(i, name, mt.limits.is64, mt.limits.shared, label))
        return out

    def global_probes(self) -> list[GlobalProbe]:
        """Mutable globals (immutable ones cannot change: nothing to read); getters for non-integer ones."""
        m = self.m
        n_imp_globals = m.num_imported(ExternKind.GLOBAL)
        out = []
        for k, g in enumerate(m.globals):
            gi = n_imp_globals + k
            if not g.type.mutable:
                continue
            vt = g.type.val
            label = _label("global", gi, self.gnames.get(gi), self.exports_by.get((ExternKind.GLOBAL, gi)))
            name = _private_name(self.taken, "global", gi)
            if isinstance(vt, RefType):
                self.new_exports.append(Export(name, ExternKind.GLOBAL, gi))
                null_name = _private_name(self.taken, "global-is-null", gi)
                body, ft = _global_getter_body(gi, vt)
                self.add_func(self.types.index(ft), body, null_name)
                out.append(GlobalProbe(gi, "ref", True, name, heap=_heap_name(vt), label=label,
                                       null_probe=null_name, funcref=_is_func_heap(m, vt)))
            elif vt.name in ("i32", "i64"):
                self.new_exports.append(Export(name, ExternKind.GLOBAL, gi))
                out.append(GlobalProbe(gi, vt.name, True, name, label=label))
            else:
                body, ft = _global_getter_body(gi, vt)
                self.add_func(self.types.index(ft), body, name)
                out.append(GlobalProbe(gi, vt.name, True, name, getter=True, label=label))
        return out

    def table_probes(self) -> list[TableProbe]:
        m = self.m
        n_imp_tables = m.num_imported(ExternKind.TABLE)
        out = []
        for k, table in enumerate(list(m.tables)):
            ti = n_imp_tables + k
            name = _private_name(self.taken, "table", ti)
            self.new_exports.append(Export(name, ExternKind.TABLE, ti))
            counter = None
            if not _is_func_heap(m, table.type.elem):
                counter = _private_name(self.taken, "table-nonnull", ti)
                self.add_func(self.types.index(FuncType((), (I32,))),
                              _nonnull_counter_body(ti, table.type.limits.is64), counter)
            label = _label("table", ti, self.tnames.get(ti), self.exports_by.get((ExternKind.TABLE, ti)))
            out.append(TableProbe(ti, name, label, counter))
        return out

    def export_start(self) -> str | None:
        """The start function, exported: the runner calls it after it looked at the tables."""
        m = self.m
        if m.start is None:
            return None
        name = _private_name(self.taken, "start", m.start)
        self.new_exports.append(Export(name, ExternKind.FUNC, m.start))
        m.start = None
        return name

    def data_probes(self) -> list[SegmentProbe]:
        """Passive data segments: does the init function drop them?"""
        m = self.m
        out: list[SegmentProbe] = []
        if not m.num_memories:
            return out
        mem0_64 = m.memory_type(0).limits.is64
        datas = self.source.datas
        for di, d in enumerate(datas):
            if d.mode != "passive" or not d.init:
                continue
            # (memory.init $di (it.const 0) (i32.const 1) (i32.const 0)): traps iff the init dropped it
            body = FuncBody.from_instrs([], [_make("i64.const" if mem0_64 else "i32.const", 0),
                                             _make("i32.const", 1), _make("i32.const", 0),
                                             _make("memory.init", di, 0)])
            name = _private_name(self.taken, "data", di)
            self.add_func(self.void(), body, name)
            out.append(SegmentProbe(di, name))
        if out and m.datacount is None:
            m.datacount = len(datas)
        return out

    def elem_probes(self) -> list[SegmentProbe]:
        """Passive element segments, probed through a fresh empty table of their type."""
        m = self.m
        out = []
        probe_tables: dict[object, int] = {}
        for ei, e in enumerate(m.elems):
            if e.mode != "passive" or not e.init:
                continue
            rt = e.elem_type
            key = (rt.heap,)
            if key not in probe_tables:
                probe_tables[key] = m.num_tables
                m.tables.append(Table(TableType(RefType(True, rt.heap), Limits(0))))
            # (table.init $probe $ei (i32.const 0) (i32.const 1) (i32.const 0)): traps iff the init dropped it
            body = FuncBody.from_instrs([], [_make("i32.const", 0), _make("i32.const", 1),
                                             _make("i32.const", 0),
                                             _make("table.init", ei, probe_tables[key])])
            name = _private_name(self.taken, "elem", ei)
            self.add_func(self.void(), body, name)
            out.append(SegmentProbe(ei, name))
        return out

    def grow_guards(self) -> tuple[str, str, set[int]]:
        """The memory cap: every memory.grow calls a guard; (hit export, delta export, changed bodies)."""
        m = self.m
        hit_g = m.num_globals
        delta_g = hit_g + 1
        m.globals.append(Global(GlobalType(I32, True), ConstExpr.i32(0)))
        m.globals.append(Global(GlobalType(I64, True), ConstExpr.i64(0)))
        grow_guard = _private_name(self.taken, "grow-cap-hit", "memory")
        grow_delta = _private_name(self.taken, "grow-cap-hit", "delta")
        self.new_exports.append(Export(grow_guard, ExternKind.GLOBAL, hit_g))
        self.new_exports.append(Export(grow_delta, ExternKind.GLOBAL, delta_g))
        guards = {}
        for i, mt in enumerate(m.memories):
            lim = mt.limits
            vt: NumType = I64 if lim.is64 else I32
            max_pages = lim.max if lim.max is not None else (_MAX_PAGES_64 if lim.is64 else _MAX_PAGES_32)
            ti = self.types.index(FuncType((vt,), (vt,)))
            guards[i] = self.add_func(ti, _guard_body(i, lim.is64, max_pages, hit_g, delta_g), None)
        try:
            changed = _replace_memory_grow(m, guards)
        except DecodeError as e:
            raise SnapshotError(f"cannot instrument memory.grow for the memory cap: {e}") from None
        return grow_guard, grow_delta, changed
