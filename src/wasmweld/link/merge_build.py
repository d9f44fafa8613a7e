"""Steps 5-8 and 10 of a merge: plan the combined index spaces, copy every input, start, exports.

Imports that stay come first, then each input's definitions in input order; each input's items
and code are copied through the re-encoder with its maps (:class:`~wasmweld.binary.reencode.Renumberer`)::

    (module $logger (func $log (export "log") ...))
    (module $ledger (import "logger" "log" (func $log ...)) (func $credit (export "credit") (call $log ...)))
    -> func 0 = logger's log, func 1 = ledger's credit, whose (call $log) becomes (call 0)

Several start functions are chained by a new one; a constant expression reading a fused
immutable global gets the global's constant inlined; ``single_memory`` lays every memory out in
one (:mod:`wasmweld.link.single_memory`).
"""

from __future__ import annotations

from ..record import replace

import wasmweld.link.single_memory as single_memory
from typing import Any, Callable

from ..binary.instr import Instr
from ..binary.opcodes import BY_NAME
from ..binary.reencode import IndexMaps, Renumberer
from ..errors import DecodeError, LinkError, WasmError
from ..module import ConstExpr, Data, Elem, Export, FuncBody, Global, Import, Module, Table, Tag, parse
from ..types import ExternKind, FuncType, MemoryType
from .merge_custom import custom_sections
from ..dwarf.merge import merge_debug_info
from .merge_gc import FusedScan, gc_fused, gc_two_pass, start_scan
from .merge_inputs import MergeInput, blame_input, find_export
from .merge_model import KINDS, WASI_MODULES, MergeOptions, MergePlan
from .merge_resolve import Resolution
from .typecheck import TypeSpace

__all__ = ["Builder"]


class Builder:
    """Builds the merged module from the resolved plan (steps 5-12, :meth:`build`)."""

    #: gc's index maps when the merged module was collected (set by :mod:`.merge_gc`; the DWARF step)
    gc_maps: IndexMaps | None

    def __init__(self, ins: list[MergeInput], space: TypeSpace, res: Resolution, mp: MergePlan, opts: MergeOptions,
                 warn: Callable[[str], None]):
        self.ins: list[MergeInput] = ins
        self.space: TypeSpace = space
        self.res: Resolution = res
        self.mp: MergePlan = mp
        self.opts: MergeOptions = opts
        self.warn: Callable[[str], None] = warn
        self.extra_func_names: dict[int, str] = {}
        #: starts the inputs' validation in a thread (merge's ``validate_inputs``), when the build
        #: finds a core idle for it (:mod:`.merge_gc`); calling it again does nothing
        self.start_checks: Callable[[], None] = lambda: None

    # step 5: plan the index spaces ------------------------------------------------------------
    def _plan_spaces(self) -> None:
        ins, res = self.ins, self.res
        self.n_host: dict[ExternKind, int] = {k: 0 for k in KINDS}
        for h in res.hosts:
            self.n_host[h.kind] += 1
        self.base: dict[tuple[int, ExternKind], int] = {}
        self.total: dict[ExternKind, int] = {}
        for kind in KINDS:
            b = self.n_host[kind]
            for inp in ins:
                self.base[(inp.pos, kind)] = b
                b += inp.n_defined(kind)
            self.total[kind] = b
        host_out = [h.index for h in res.hosts]
        for inp in ins:
            for kind in KINDS:
                m = []
                for t in res.targets[(inp.pos, kind)]:
                    if t[0] == "host":
                        m.append(host_out[t[1]])
                    else:
                        m.append(self.base[(t[1], kind)] + t[2])
                b = self.base[(inp.pos, kind)]
                m.extend(range(b, b + inp.n_defined(kind)))
                inp.maps[kind.space.value] = m
        eb = db = 0
        for inp in ins:
            ne, nd = len(inp.module.elems), len(inp.module.datas)
            inp.maps["elem"] = list(range(eb, eb + ne))
            inp.maps["data"] = list(range(db, db + nd))
            eb += ne
            db += nd
        # which input owns each combined memory (for messages and single-memory), and its index there
        self.memory_owner: list[str] = [""] * self.total[ExternKind.MEMORY]
        self.memory_source: list[tuple[str, int] | None] = [None] * self.total[ExternKind.MEMORY]
        for h in res.hosts:
            if h.kind == ExternKind.MEMORY:
                self.memory_owner[h.index] = f"host import {h.module}.{h.name}"
        for inp in ins:
            b = self.base[(inp.pos, ExternKind.MEMORY)]
            for d in range(inp.n_defined(ExternKind.MEMORY)):
                self.memory_owner[b + d] = inp.name
                self.memory_source[b + d] = (inp.name, inp.n_imp[ExternKind.MEMORY] + d)

    def memory_layout(self, mtypes: list[MemoryType], exports: list[Export],
                      imported: list[Import]) -> single_memory.MemoryLayout:
        """Step 10's plan (:func:`~.single_memory.plan_layout`) for the combined memories, regions
        attributed to their inputs; also recorded as ``plan.memory_layout``."""


        opts = self.opts
        layout = single_memory.plan_layout(mtypes, exports, imported=imported, owners=self.memory_owner,
                             drop_exports=opts.drop_memory_exports, reserve=opts.memory_reserve)
        regions = []
        for r in layout.regions:
            src = self.memory_source[r.memory]
            regions.append(r if src is None else replace(r, input=src[0], input_memory=src[1]))
        layout.regions = regions
        self.mp.memory_layout = regions
        return layout

    def plan_memory_layout(self) -> single_memory.MemoryLayout:
        """The single-memory layout from the plan alone (``merge_plan``): nothing is built."""

        self._plan_spaces()
        imported = [imp for _pos, imp in self.res.host_first if imp.kind == ExternKind.MEMORY]
        mtypes = [imp.desc for imp in imported]
        for inp in self.ins:
            mtypes.extend(inp.module.memories)
        exports = []
        for entry in self.mp.exports:
            if entry.out_name is None or entry.kind != ExternKind.MEMORY:
                continue
            inp = next(i for i in self.ins if i.name == entry.input)
            orig = find_export(inp, entry.name)
            exports.append(Export(entry.out_name, orig.kind, inp.maps["memory"][orig.index]))
        return self.memory_layout(mtypes, exports, imported)

    # steps 6-9 ------------------------------------------------------------------------------------
    def build(self) -> Module:
        """Steps 5-12: the merged module."""
        self._plan_spaces()
        # With gc (and no single-memory lowering, which rewrites code itself), the bodies are not
        # copied here: gc's analysis reads the inputs' own bodies, and each body it keeps is then
        # renumbered once, by this merge's maps and gc's together (see merge_gc.gc_fused). Their
        # scan starts now: a second process reads them while this one copies the rest.
        fused = self.opts.gc and not self.opts.single_memory
        extra_bodies: dict[int, Any] = {}       # with ``fused``: bodies made here (merged numbering)
        scan = start_scan(self, extra_bodies) if fused else None
        try:
            return self._build(fused, extra_bodies, scan)
        except BaseException:
            if scan is not None:
                scan.close()
            raise

    def _build(self, fused: bool, extra_bodies: dict[int, Any], scan: FusedScan | None) -> Module:
        ins, space, res = self.ins, self.space, self.res
        out = Module()
        renumberers = {}
        for inp in ins:
            maps = inp.maps
            renumberers[inp.pos] = Renumberer(IndexMaps(
                type=inp.tmap, func=maps["func"], table=maps["table"], memory=maps["memory"],
                global_=maps["global"], tag=maps["tag"], elem=maps["elem"], data=maps["data"]))

        # imports (unresolved ones, deduplicated), in order of first appearance
        imports = []
        for pos, imp in res.host_first:
            r = renumberers[pos]
            imports.append(Import(imp.module, imp.name, imp.kind, self._import_desc(r, imp)))

        funcs, tables, memories, tags, globals_, elems, datas, code = [], [], [], [], [], [], [], []  # type: list[Any], list[Any], list[Any], list[Any], list[Any], list[Any], list[Any], list[Any]  # noqa: E501
        for inp in ins:
            with blame_input(inp.name):
                self._copy(inp, renumberers[inp.pos], funcs, tables, memories, tags, globals_, elems, datas,
                           None if fused else code)
        if fused:
            code = list(range(len(funcs)))      # placeholders: the defined function each body is

        # constant expressions that now read a defined (fused) global
        n_gimp = self.n_host[ExternKind.GLOBAL]
        globals_ = _fix_global_refs(globals_, n_gimp)
        tables = [t if t.init is None else Table(t.type, _inline(t.init, globals_, n_gimp)) for t in tables]
        elems = [_fix_elem(e, globals_, n_gimp) for e in elems]
        datas = [d if d.offset is None else Data(d.mode, d.memory, _inline(d.offset, globals_, n_gimp), d.init, d.flags)
                 for d in datas]

        # step 7: start functions
        starts = [inp.maps["func"][inp.module.start] for inp in ins if inp.module.start is not None]
        start = None
        if len(starts) == 1:
            start = starts[0]
        elif len(starts) > 1:
            t = space.add_func_type(FuncType((), ()))
            start = self.total[ExternKind.FUNC]          # appended after every input's functions
            self.extra_func_names[start] = "wasmweld:start"
            funcs.append(t)
            body = FuncBody.from_instrs([], [Instr.make("call", s) for s in starts])
            if fused:
                extra_bodies[len(code)] = body
                code.append(len(code))
            else:
                code.append(body)

        # step 8: exports
        exports = []
        for entry in self.mp.exports:
            if entry.out_name is None:
                continue
            inp = next(i for i in ins if i.name == entry.input)
            orig = find_export(inp, entry.name)
            exports.append(Export(entry.out_name, orig.kind, inp.maps[orig.kind.space.value][orig.index]))

        datacount = None
        if any(inp.module.datacount is not None for inp in ins):
            datacount = len(datas)

        out.types = list(space.groups)
        out.imports = imports
        out.funcs = funcs
        out.tables = tables
        out.memories = memories
        out.tags = tags
        out.globals = globals_
        out.exports = exports
        out.start = start
        out.elems = elems
        out.datacount = datacount
        out.code = code
        out.datas = datas

        self._wasi_memory_check(exports)
        dwarf = custom_sections(self, out)

        if self.opts.single_memory:
            imported = out.imported(ExternKind.MEMORY)
            layout = self.memory_layout([imp.desc for imp in imported] + list(out.memories), out.exports, imported)
            out = single_memory.lower_memories(out, owners=self.memory_owner, drop_exports=self.opts.drop_memory_exports,
                                 reserve=self.opts.memory_reserve, warn=self.warn, layout=layout)

        if scan is not None:
            data = gc_fused(self, out, dwarf, extra_bodies, scan)
        else:
            if self.opts.gc:
                out = gc_two_pass(self, out, dwarf)
            data = out.encode()
        data = merge_debug_info(self, data)     # step 12: every input's DWARF, rebased
        return parse(data)

    def _copy(self, inp, r, funcs, tables, memories, tags, globals_, elems, datas, code) -> None:
        """Step 6 for one input: its items and code, renumbered into the combined spaces."""

        m = inp.module
        tmap = inp.tmap
        funcs.extend(tmap[t] for t in m.funcs)
        for t in m.tables:
            tables.append(Table(r.table_type(t.type), None if t.init is None else _ce(r.const_expr(t.init.raw))))
        memories.extend(m.memories)
        for t in m.tags:
            tags.append(Tag(r.tag_type(t.type)))
        for g in m.globals:
            globals_.append(Global(r.global_type(g.type), _ce(r.const_expr(g.init.raw))))
        fmap, tabmap, memmap = inp.maps["func"], inp.maps["table"], inp.maps["memory"]
        for e in m.elems:
            if e.init and isinstance(e.init[0], int):
                init = tuple(fmap[x] for x in e.init)
            else:
                init = tuple(_ce(r.const_expr(x.raw)) for x in e.init)
            elems.append(Elem(e.mode, tabmap[e.table] if e.mode == "active" else 0,
                              None if e.offset is None else _ce(r.const_expr(e.offset.raw)),
                              r.reftype(e.elem_type), init, e.flags))
        for d in m.datas:
            datas.append(Data(d.mode, memmap[d.memory] if d.mode == "active" else 0,
                              None if d.offset is None else _ce(r.const_expr(d.offset.raw)), d.init, d.flags))
        body = r.body
        if code is not None:
            code.extend(FuncBody(body(b.raw)) for b in m.code)

    def _import_desc(self, r, imp):
        kind = imp.kind
        if kind == ExternKind.FUNC:
            return r.maps.lookup("type", imp.desc)
        if kind == ExternKind.TABLE:
            return r.table_type(imp.desc)
        if kind == ExternKind.GLOBAL:
            return r.global_type(imp.desc)
        if kind == ExternKind.TAG:
            return r.tag_type(imp.desc)
        return imp.desc

    # WASI reads the caller's memory through the export "memory" ----------------------------------
    def _wasi_memory_check(self, exports) -> None:
        mem_export = next((e.index for e in exports if e.name == "memory" and e.kind == ExternKind.MEMORY), None)
        for inp in self.ins:
            wasi = [imp for imp in inp.module.imports if imp.module in WASI_MODULES]
            if not wasi:
                continue
            mems = set(inp.maps["memory"])
            if not mems:
                continue
            if mem_export is None or mem_export not in mems:
                where = "no memory is exported as 'memory'" if mem_export is None else \
                    f"the export 'memory' is memory {mem_export} ({self.memory_owner[mem_export]}'s)"
                self.warn(f"{inp.name} imports WASI functions ({', '.join(sorted({i.name for i in wasi})[:4])}"
                          f"{'...' if len({i.name for i in wasi}) > 4 else ''}) and has its own memory, but "
                          f"{where}: a WASI host reads pointers from the exported 'memory', so those calls "
                          f"would see the wrong memory (put {inp.name} first, or do not let it call WASI)")


def _ce(raw: bytes):
    return ConstExpr(raw)


# --------------------------------------------------------------------------------------------- const exprs

_SIMPLE_CONST_NAMES = frozenset({"i32.const", "i64.const", "f32.const", "f64.const", "v128.const", "ref.null",
                                 "ref.func"})


def _is_simple_const(ce) -> bool:
    """A single constant instruction (no global.get): i32/i64/f32/f64.const, ref.null, ref.func, v128.const."""
    if ce.int_value is not None:
        return True
    try:
        instrs = ce.instrs
    except WasmError:
        return False
    return len(instrs) == 2 and instrs[0].name in _SIMPLE_CONST_NAMES


def _inline(ce, globals_, n_gimp: int):
    """A lone ``global.get`` of a defined immutable global with a simple constant initialiser -> that constant."""
    seen = 0
    while True:
        g = ce.global_index
        if g is None or g < n_gimp or g - n_gimp >= len(globals_) or seen > len(globals_):
            return ce
        target = globals_[g - n_gimp]
        if target.type.mutable or not _is_simple_const(target.init):
            return ce
        ce = target.init
        seen += 1


def _fix_elem(e, globals_, n_gimp):
    offset = e.offset if e.offset is None else _inline(e.offset, globals_, n_gimp)
    init = e.init
    if init and not isinstance(init[0], int):
        init = tuple(_inline(x, globals_, n_gimp) for x in init)
    if offset is e.offset and init is e.init:
        return e
    return Elem(e.mode, e.table, offset, e.elem_type, init, e.flags)


_GLOBAL_GET = BY_NAME["global.get"].opcode


def _global_refs(ce) -> list[int]:
    g = ce.global_index
    if g is not None:
        return [g]
    if _GLOBAL_GET not in ce.raw:      # quick filter before decoding
        return []
    try:
        return [ins.args[0] for ins in ce.instrs if ins.name == "global.get"]
    except (DecodeError, ImportError):
        return []


def _fix_global_refs(globals_: list, n_gimp: int) -> list:
    """Inline fused constant globals into global initialisers; check the remaining references point backwards.

    Raises LinkError for a forward reference that inlining cannot remove.
    """
    out = list(globals_)
    for k, g in enumerate(out):
        new = _inline(g.init, out, n_gimp)
        if new is not g.init:
            out[k] = Global(g.type, new)
    for k, g in enumerate(out):
        for ref in _global_refs(g.init):
            if ref >= n_gimp + k:
                raise LinkError(
                    f"global {n_gimp + k} of the merged module is initialised from global {ref}, which comes "
                    f"later after the merge and is not a constant; reorder the inputs so that the exporter "
                    f"comes first")
    return out
