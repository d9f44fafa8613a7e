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

from dataclasses import dataclass

from ..binary.leb import write_s, write_u
from ..errors import DecodeError, SnapshotError
from ..module import ConstExpr, Export, FuncBody, Global, Module, Table, parse
from ..types import (
    I32, I64, ExternKind, FuncType, GlobalType, Limits, NumType, RecGroup, RefType, SubType, TableType,
)
from .probes import CodeSpan, GlobalProbe, MemoryProbe, Probes, SegmentProbe, TableProbe

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


@dataclass
class Instrumented:
    """The instrumented module (bytes), the probes the runner reads, and the init function's export."""

    wasm: bytes
    probes: Probes
    init_export: Export


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


class _Types:
    """Appends function types to the instrumented module on demand (one rec group each)."""

    def __init__(self, module: Module):
        self.module = module
        self.count = len(module.type_list())
        self.cache: dict[tuple, int] = {}

    def index(self, params: tuple, results: tuple) -> int:
        key = (params, results)
        idx = self.cache.get(key)
        if idx is None:
            self.module.types.append(RecGroup((SubType(FuncType(params, results)),)))
            idx = self.cache[key] = self.count
            self.count += 1
        return idx


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


def _nonnull_counter_body(table: int, is64: bool) -> bytes:
    """``(func (result i32))``: how many elements of ``table`` are not null."""
    t = write_u(table)
    if is64:
        locals_, ge, one, add_i = b"\x02\x01\x7e\x01\x7f", b"\x5a", b"\x42\x01", b"\x7c"
    else:
        locals_, ge, one, add_i = b"\x01\x02\x7f", b"\x4f", b"\x41\x01", b"\x6a"
    return b"".join([
        locals_,
        b"\x02\x40\x03\x40",                      # block loop
        b"\x20\x00\xfc\x10", t, ge, b"\x0d\x01",  # i >= table.size: br_if 1
        b"\x20\x00\x25", t, b"\xd1\x45",          # !ref.is_null(table.get i)
        b"\x20\x01\x6a\x21\x01",                  # n += that
        b"\x20\x00", one, add_i, b"\x21\x00",      # i += 1
        b"\x0c\x00\x0b\x0b",                       # br 0; end; end
        b"\x20\x01\x0b",                            # n
    ])


def _guard_body(mem: int, is64: bool, max_pages: int, hit_global: int, delta_global: int) -> bytes:
    """``(func (param it) (result it) (local it) ...)``: memory.grow that traps when the cap, not the limits, refused."""
    m = write_u(mem)
    if is64:
        const, eq, sub, le_u, vt = b"\x42", b"\x51", b"\x7d", b"\x58", b"\x7e"
        extend = b""
    else:
        const, eq, sub, le_u, vt = b"\x41", b"\x46", b"\x6b", b"\x4d", b"\x7f"
        extend = b"\xad"  # i64.extend_i32_u
    max_enc = write_s(max_pages if is64 or max_pages < (1 << 31) else max_pages - (1 << 32))
    return b"".join([
        b"\x01\x01", vt,                                  # one local of the index type
        b"\x20\x00", b"\x40", m, b"\x22\x01",             # local.get 0; memory.grow m; local.tee 1
        const, b"\x7f", eq,                               # -1 ==
        b"\x04\x40",                                      # if
        b"\x20\x00", const, max_enc, b"\x3f", m, sub, le_u,  # delta <=u max - memory.size
        b"\x04\x40",                                      # if: the limits allow it, so the cap refused
        b"\x41", write_s(mem + 1), b"\x24", write_u(hit_global),
        b"\x20\x00", extend, b"\x24", write_u(delta_global),
        b"\x00",                                          # unreachable
        b"\x0b", b"\x0b",
        b"\x20\x01", b"\x0b",
    ])


def _replace_memory_grow(module: Module, guards: dict[int, int]) -> set[int]:
    """Replace ``memory.grow m`` by ``call guards[m]`` in every body; return the changed body indices."""
    from ..binary.instr import Instr

    changed = set()
    calls = {m: Instr.make("call", f) for m, f in guards.items()}
    for i, body in enumerate(module.code):
        raw = body.raw
        if b"\x40" not in raw:
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
    """Build the instrumented module for ``module`` (which is not changed) and the probes for the runner."""
    init_export = check(module, init_func)
    data = module.encode()
    m = parse(data)
    orig_code = module.code if module.data == data else parse(data).code
    taken = {e.name for e in m.exports}
    types = _Types(m)

    n_imp_funcs = m.num_imported(ExternKind.FUNC)
    num_funcs_in = m.num_funcs
    n_imp_globals = m.num_imported(ExternKind.GLOBAL)
    n_imp_tables = m.num_imported(ExternKind.TABLE)
    names = _names(m)
    func_names = {e.index: f"export {e.name!r}" for e in m.exports if e.kind == ExternKind.FUNC}
    if names is not None:
        func_names.update(names.funcs)
    gnames = names.globals if names is not None else {}
    tnames = names.tables if names is not None else {}
    mnames = names.memories if names is not None else {}
    exports_by = {(e.kind, e.index): e.name for e in m.exports}

    new_exports: list[Export] = []
    new_funcs: list[int] = []
    new_bodies: list[FuncBody] = []

    def add_func(type_idx: int, body: bytes, export: str | None) -> int:
        idx = num_funcs_in + len(new_funcs)
        new_funcs.append(type_idx)
        new_bodies.append(FuncBody(body))
        if export is not None:
            new_exports.append(Export(export, ExternKind.FUNC, idx))
        return idx

    # memories
    mem_probes = []
    for i, mt in enumerate(m.memories):
        name = _private_name(taken, "memory", i)
        new_exports.append(Export(name, ExternKind.MEMORY, i))
        mem_probes.append(MemoryProbe(i, name, mt.limits.is64, mt.limits.shared,
                                      _label("memory", i, mnames.get(i), exports_by.get((ExternKind.MEMORY, i)))))

    # mutable globals (immutable ones cannot change: nothing to read)
    glob_probes = []
    for k, g in enumerate(m.globals):
        gi = n_imp_globals + k
        if not g.type.mutable:
            continue
        vt = g.type.val
        label = _label("global", gi, gnames.get(gi), exports_by.get((ExternKind.GLOBAL, gi)))
        name = _private_name(taken, "global", gi)
        if isinstance(vt, RefType):
            new_exports.append(Export(name, ExternKind.GLOBAL, gi))
            void_i32 = types.index((), (I32,))
            null_name = _private_name(taken, "global-is-null", gi)
            add_func(void_i32, b"\x00\x23" + write_u(gi) + b"\xd1\x0b", null_name)
            glob_probes.append(GlobalProbe(gi, "ref", True, name, heap=_heap_name(vt), label=label,
                                           null_probe=null_name, funcref=_is_func_heap(m, vt)))
        elif vt.name in ("i32", "i64"):
            new_exports.append(Export(name, ExternKind.GLOBAL, gi))
            glob_probes.append(GlobalProbe(gi, vt.name, True, name, label=label))
        else:
            gg = b"\x23" + write_u(gi)
            if vt.name == "f32":
                body = b"\x00" + gg + b"\xbc\x0b"
                ti = types.index((), (I32,))
            elif vt.name == "f64":
                body = b"\x00" + gg + b"\xbd\x0b"
                ti = types.index((), (I64,))
            else:  # v128: (low, high) i64 lanes
                body = b"\x00" + gg + b"\xfd\x1d\x00" + gg + b"\xfd\x1d\x01\x0b"
                ti = types.index((), (I64, I64))
            add_func(ti, body, name)
            glob_probes.append(GlobalProbe(gi, vt.name, True, name, getter=True, label=label))

    # tables
    table_probes = []
    for k, table in enumerate(list(m.tables)):
        ti = n_imp_tables + k
        name = _private_name(taken, "table", ti)
        new_exports.append(Export(name, ExternKind.TABLE, ti))
        counter = None
        if not _is_func_heap(m, table.type.elem):
            counter = _private_name(taken, "table-nonnull", ti)
            add_func(types.index((), (I32,)), _nonnull_counter_body(ti, table.type.limits.is64), counter)
        table_probes.append(TableProbe(ti, name, _label("table", ti, tnames.get(ti),
                                                        exports_by.get((ExternKind.TABLE, ti))), counter))

    # start function: exported, called by the runner after it looked at the tables
    start_name = None
    if m.start is not None:
        start_name = _private_name(taken, "start", m.start)
        new_exports.append(Export(start_name, ExternKind.FUNC, m.start))
        m.start = None

    void = None

    # passive data segments: does the init function drop them?
    data_probes = []
    if m.num_memories:
        mem0_64 = m.memory_type(0).limits.is64
        for di, d in enumerate(m.datas):
            if d.mode != "passive" or not d.init:
                continue
            void = void if void is not None else types.index((), ())
            dest = b"\x42\x00" if mem0_64 else b"\x41\x00"
            body = b"\x00" + dest + b"\x41\x01\x41\x00\xfc\x08" + write_u(di) + b"\x00\x0b"
            name = _private_name(taken, "data", di)
            add_func(void, body, name)
            data_probes.append(SegmentProbe(di, name))
        if data_probes and m.datacount is None:
            m.datacount = len(m.datas)

    # passive elem segments: probed through a fresh empty table of their type
    elem_probes = []
    probe_tables: dict[object, int] = {}
    for ei, e in enumerate(m.elems):
        if e.mode != "passive" or not e.init:
            continue
        rt = e.elem_type
        key = (rt.heap,)
        if key not in probe_tables:
            probe_tables[key] = m.num_tables
            m.tables.append(Table(TableType(RefType(True, rt.heap), Limits(0))))
        void = void if void is not None else types.index((), ())
        body = b"\x00\x41\x00\x41\x01\x41\x00\xfc\x0c" + write_u(ei) + write_u(probe_tables[key]) + b"\x0b"
        name = _private_name(taken, "elem", ei)
        add_func(void, body, name)
        elem_probes.append(SegmentProbe(ei, name))

    # memory cap: guard every memory.grow
    grow_guard = grow_delta = None
    changed_bodies: set[int] = set()
    if guard_memory_growth and m.memories:
        hit_g = m.num_globals
        delta_g = hit_g + 1
        m.globals.append(Global(GlobalType(I32, True), ConstExpr.i32(0)))
        m.globals.append(Global(GlobalType(I64, True), ConstExpr.i64(0)))
        grow_guard = _private_name(taken, "grow-cap-hit", "memory")
        grow_delta = _private_name(taken, "grow-cap-hit", "delta")
        new_exports.append(Export(grow_guard, ExternKind.GLOBAL, hit_g))
        new_exports.append(Export(grow_delta, ExternKind.GLOBAL, delta_g))
        guards = {}
        for i, mt in enumerate(m.memories):
            lim = mt.limits
            vt: NumType = I64 if lim.is64 else I32
            max_pages = lim.max if lim.max is not None else (_MAX_PAGES_64 if lim.is64 else _MAX_PAGES_32)
            ti = types.index((vt,), (vt,))
            guards[i] = add_func(ti, _guard_body(i, lim.is64, max_pages, hit_g, delta_g), None)
        try:
            changed_bodies = _replace_memory_grow(m, guards)
        except DecodeError as e:
            raise SnapshotError(f"cannot instrument memory.grow for the memory cap: {e}") from None

    m.funcs.extend(new_funcs)
    m.code.extend(new_bodies)
    m.exports.extend(new_exports)
    wasm = m.encode()

    # where each body landed, for mapping backtrace offsets back to the input
    placed = parse(wasm).code
    spans = []
    for i, body in enumerate(placed):
        if body.offset is None:
            continue
        if i < len(orig_code):
            ob = orig_code[i]
            spans.append(CodeSpan(n_imp_funcs + i, body.offset, body.offset + len(body.raw), ob.offset,
                                  changed=i in changed_bodies))
        else:
            spans.append(CodeSpan(n_imp_funcs + i, body.offset, body.offset + len(body.raw), None))

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
        func_names=func_names,
        code_spans=tuple(spans),
        num_funcs=num_funcs_in,
    )
    return Instrumented(wasm, probes, init_export)
