"""Lay several memories out in one (``wasmweld merge --single-memory``).

A merged module keeps one memory per input (multi-memory). Hosts that allow a
single memory (ICP canisters, engines without multi-memory) need one; this pass
gives each memory a region of the one memory, at its own base::

    (memory $a 1 2)  (memory $b 1)            (memory 3)          ;; a: pages 0-1 (its maximum), b: from page 2
    (i32.load $b offset=4 (local.get 0))  ->  (i32.load offset=131076 (local.get 0))
    (memory.size $a)                      ->  (global.get $a_pages)
    (memory.grow $b (local.get 0))        ->  (call $grow_b (local.get 0))  ;; memory.grow 0, minus b's base
    (memory.fill $b ...)                  ->  (call $fill_b ...)   ;; bounds-checked against b, then memory.fill 0
    (data (memory $b) (i32.const 8) "x")  ->  (data (i32.const 131080) "x")

Rules:

* Memories keep their index order; the last one sits at the top and grows with
  the real memory. Every other memory gets a fixed region: its declared maximum,
  or ``min + reserve`` pages when it has none (``reserve`` defaults to 256 pages,
  16 MiB; a warning says so). ``memory.grow`` on such a memory succeeds inside its
  region and returns -1 beyond it, which the spec allows any ``memory.grow`` to do.
* Loads, stores, atomics and SIMD lane accesses get the base folded into their
  static offset (no run-time cost). ``memory.fill``/``copy``/``init`` go through
  small helpers that trap, as before, when the range leaves the memory it names.
  Plain loads and stores of a lower memory are *not* bounds-checked against its
  region: an access past its current size reaches the region above instead of
  trapping (correct programs cannot tell; a warning says so).
* Active data segments are rebased (a ``global.get`` offset becomes an extended
  constant ``global.get + base``).

:func:`plan_layout` computes the regions (a :class:`MemoryRegion` per memory: base, room)
and the refusals without changing anything; ``merge_plan``/``--plan`` show them and
``MergePlan.memory_layout`` tells where each input's memory went.

Refused, with a :class:`~wasmweld.errors.LinkError` that names the construct (never
silently wrong code):

* a memory exported to the host that is not at base 0 (the host would read other
  addresses) -- unless ``drop_exports``, which removes those exports;
* a memory imported from the host next to other memories (its size is the host's);
* 64-bit (memory64) or shared (threads) memories;
* a layout larger than 4 GiB, or a static offset that no longer fits in 32 bits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from ..record import field, record

from ..binary.instr import Instr, MemArg
from ..errors import LinkError
from ..module import ConstExpr, Data, Export, FuncBody, Global, Import, Module
from ..passes.common import FuncTypes
from ..types import I32, ExternKind, FuncType, Limits, MemoryType

__all__ = ["lower_memories", "plan_layout", "MemoryLayout", "MemoryRegion", "DEFAULT_RESERVE"]

PAGE = 65536
MAX_PAGES = 65536
#: pages given to a memory without a maximum that is not the last one
DEFAULT_RESERVE = 256


@record(frozen=True)
class MemoryRegion:
    """Where memory ``memory`` of the multi-memory merge sits in the single memory.

    ``base``: byte offset of its address 0; ``pages``: its room (a lower memory: its
    maximum or ``min + reserve``; the top one: up to its maximum, or to 4 GiB);
    ``initial_pages``: its declared minimum; ``top``: the last region, which grows with
    the real memory. ``input``/``input_memory``: the merge input that defines it and the
    memory's index in that input's own index space (set by the merge; None otherwise).
    """

    memory: int
    base: int
    pages: int
    initial_pages: int
    top: bool
    owner: str = ""
    input: str | None = None
    input_memory: int | None = None

    @property
    def size(self) -> int:
        """Room in bytes."""
        return self.pages * PAGE


@record
class MemoryLayout:
    """The plan of :func:`lower_memories`: one region per memory, what refuses it, which exports go."""

    regions: list[MemoryRegion] = field(default_factory=list)
    #: reasons the memories cannot be laid out in one (empty: they can)
    problems: list[str] = field(default_factory=list)
    #: names of memory exports removed (``drop_exports``)
    dropped: list[str] = field(default_factory=list)


def plan_layout(mtypes: Sequence[MemoryType], exports: Iterable[Export] = (), *, imported: Sequence[Import] = (),
                owners: Iterable[str] | None = None, drop_exports: bool = False,
                reserve: int | None = None) -> MemoryLayout:
    """Lay out memories of types ``mtypes`` (imported ones first) in one; nothing is changed.

    ``exports``: items with ``name``, ``kind`` and ``index`` (only memory exports matter);
    ``imported``: the memory imports (for messages); ``owners``: a label per memory.
    """
    reserve = DEFAULT_RESERVE if reserve is None else int(reserve)
    n = len(mtypes)
    owners = list(owners) if owners is not None else [f"memory {j}" for j in range(n)]
    layout = MemoryLayout()
    if n == 0:
        return layout
    if n == 1:
        lim = mtypes[0].limits
        layout.regions.append(MemoryRegion(0, 0, MAX_PAGES if lim.max is None else lim.max, lim.min, True,
                                           owners[0]))
        return layout

    def who(j: int) -> str:
        return f"memory {j} ({owners[j]})" if owners[j] else f"memory {j}"

    problems = layout.problems
    if imported:
        problems.append(f"memory 0 is imported from the host ({imported[0].module}.{imported[0].name}); its size "
                        f"is the host's, so the other memories cannot be laid out in it")
    for j, mt in enumerate(mtypes):
        if mt.limits.is64:
            problems.append(f"{who(j)} is a 64-bit memory (memory64), which --single-memory does not lay out")
        if mt.limits.shared:
            problems.append(f"{who(j)} is shared (threads); --single-memory cannot combine shared memories")
    # regions
    regions = []
    for j, mt in enumerate(mtypes):
        lim = mt.limits
        if j == n - 1:
            regions.append(lim.min)
        else:
            room = lim.min + max(reserve, 0)
            regions.append(room if lim.max is None or lim.max > room else lim.max)
    bases = []
    acc = 0
    for r in regions:
        bases.append(acc)
        acc += r
    if acc > MAX_PAGES:
        problems.append(f"the memories need {acc} pages together, more than the 65536 pages (4 GiB) of one memory")
    for e in exports:
        if e.kind != ExternKind.MEMORY or (bases[e.index] == 0 and e.index == 0):
            continue
        if drop_exports:
            layout.dropped.append(e.name)
            continue
        problems.append(f"{who(e.index)} is exported to the host as {e.name!r} but would move to base "
                        f"0x{bases[e.index] * PAGE:x} of the single memory, so the host would read other "
                        f"addresses; drop the export (--drop-memory-exports, or --export-from) or merge without "
                        f"--single-memory")
    last = n - 1
    for j, mt in enumerate(mtypes):
        lim = mt.limits
        if j == last:
            room = (MAX_PAGES - bases[j]) if lim.max is None else min(lim.max, MAX_PAGES - bases[j])
        else:
            room = regions[j]
        layout.regions.append(MemoryRegion(j, bases[j] * PAGE, max(room, 0), lim.min, j == last, owners[j]))
    return layout


def lower_memories(module: Module, *, owners: Iterable[str] | None = None, drop_exports: bool = False,
                   reserve: int | None = None, warn: Callable[[str], None] | None = None,
                   layout: MemoryLayout | None = None) -> Module:
    """Rewrite ``module`` (in place) to use one memory; returns it. See the module docstring.

    ``layout``: the :func:`plan_layout` of this module with the same options, when the caller made it.
    Steps: plan (or take) the layout, keep the exports of memory 0 at base 0, add the size globals,
    rewrite the code (:meth:`_Lowering.rewrite_code`, adding helpers as needed), rebase the active
    data segments, then the one memory, its exports and names.
    """
    warn = warn or (lambda text: None)
    imported = module.imported(ExternKind.MEMORY)
    mtypes = [imp.desc for imp in imported] + list(module.memories)
    n = len(mtypes)
    if n <= 1:
        return module
    owners = list(owners) if owners is not None else [f"memory {j}" for j in range(n)]
    if layout is None:
        layout = plan_layout(mtypes, module.exports, imported=imported, owners=owners, drop_exports=drop_exports,
                             reserve=reserve)
    problems = layout.problems
    if problems:
        raise LinkError("--single-memory refused:\n" + "\n".join(f"  - {p}" for p in problems)
                        if len(problems) > 1 else f"--single-memory refused: {problems[0]}", problems=problems)
    low = _Lowering(module, mtypes, owners, layout)
    new_exports = low.memory_exports(warn)
    low.warn_room(warn)
    low.add_size_globals()
    low.rewrite_code()
    low.rebase_data()
    low.finish(new_exports)
    return module


class _Lowering:
    """The state of one :func:`lower_memories`: where each memory goes, the size globals of the lower
    memories and the helper functions (memory.grow/fill/copy/init of a lower memory) added on demand."""

    def __init__(self, module, mtypes, owners, layout: MemoryLayout):
        self.module = module
        self.mtypes = mtypes
        self.owners = owners
        self.bases = [r.base // PAGE for r in layout.regions]
        self.regions = [r.pages for r in layout.regions]
        self.base_bytes = [b * PAGE for b in self.bases]
        self.last = len(mtypes) - 1
        self.func_types = FuncTypes(module.types)
        self.size_global: dict[int, int] = {}
        self.helpers: dict[tuple, int] = {}
        self.n_funcs = module.num_funcs

    def who(self, j: int) -> str:
        return f"memory {j} ({self.owners[j]})" if self.owners[j] else f"memory {j}"

    # -- exports, warnings, globals ---------------------------------------------------------------

    def memory_exports(self, warn) -> list:
        """The exports, memory exports kept only for memory 0 at base 0 (others dropped, with a warning)."""
        new_exports, dropped = [], []
        for e in self.module.exports:
            if e.kind != ExternKind.MEMORY:
                new_exports.append(e)
            elif self.bases[e.index] == 0 and e.index == 0:
                new_exports.append(type(e)(e.name, e.kind, 0))
            else:
                dropped.append(e.name)
        if dropped:
            warn(f"--single-memory: dropped memory export{'s' if len(dropped) > 1 else ''} "
                 f"{', '.join(map(repr, dropped))} (not at base 0 of the single memory)")
        return new_exports

    def warn_room(self, warn) -> None:
        for j, mt in enumerate(self.mtypes[:-1]):
            lim = mt.limits
            if lim.max is None or self.regions[j] < lim.max:
                warn(f"--single-memory: {self.who(j)} has room for {self.regions[j]} pages at base "
                     f"0x{self.bases[j] * PAGE:x}; memory.grow on it fails beyond that (memory_reserve/"
                     f"--memory-reserve sets the room)")
        warn("--single-memory: loads and stores past the current size of a lower memory reach the region "
             "above it instead of trapping")

    def add_size_globals(self) -> None:
        """One mutable i32 global per lower memory: its current size in pages."""
        module = self.module
        n_globals = module.num_globals
        for j in range(self.last):
            self.size_global[j] = n_globals + j
            module.globals.append(Global(_gt(True), ConstExpr.i32(self.mtypes[j].limits.min)))

    # -- helper functions -------------------------------------------------------------------------

    def helper(self, key, params, results, locals_, instrs) -> int:
        idx = self.helpers.get(key)
        if idx is None:
            idx = self.helpers[key] = self.n_funcs + len(self.helpers)
            self.module.funcs.append(self.func_types.index(FuncType(tuple(params), tuple(results))))
            self.module.code.append(FuncBody.from_instrs(locals_, instrs))
        return idx

    def size_bytes_i64(self, j: int) -> list:
        """The current size of memory j in bytes, as an i64 on the stack."""
        if j == self.last:
            return [_mk("memory.size", 0), _mk("i32.const", self.bases[j]), _mk("i32.sub"), _mk("i64.extend_i32_u"),
                    _mk("i64.const", 16), _mk("i64.shl")]
        return [_mk("global.get", self.size_global[j]), _mk("i64.extend_i32_u"), _mk("i64.const", 16), _mk("i64.shl")]

    def check(self, addr_local: int, len_local: int, j: int) -> list:
        """Trap unless addr + len <= the size of memory j."""
        return [_mk("local.get", addr_local), _mk("i64.extend_i32_u"), _mk("local.get", len_local),
                _mk("i64.extend_i32_u"), _mk("i64.add"), *self.size_bytes_i64(j), _mk("i64.gt_u"), _mk("if", None),
                _mk("unreachable"), _mk("end")]

    def rebased(self, local: int, j: int) -> list:
        out = [_mk("local.get", local)]
        if self.base_bytes[j]:
            out += [_mk("i32.const", _s32(self.base_bytes[j])), _mk("i32.add")]
        return out

    def grow_helper(self, j: int) -> int:
        if j == self.last:
            return self.helper(("grow", j), [I32], [I32], [(1, I32)], [
                _mk("local.get", 0), _mk("memory.grow", 0), _mk("local.tee", 1), _mk("i32.const", -1), _mk("i32.eq"),
                _mk("if", I32), _mk("i32.const", -1), _mk("else"), _mk("local.get", 1), _mk("i32.const", self.bases[j]),
                _mk("i32.sub"), _mk("end")])
        g = self.size_global[j]
        return self.helper(("grow", j), [I32], [I32], [(1, I32)], [
            _mk("global.get", g), _mk("local.set", 1),
            _mk("local.get", 0), _mk("i32.const", self.regions[j]), _mk("global.get", g), _mk("i32.sub"),
            _mk("i32.gt_u"), _mk("if", I32), _mk("i32.const", -1),
            _mk("else"), _mk("global.get", g), _mk("local.get", 0), _mk("i32.add"), _mk("global.set", g),
            _mk("local.get", 1), _mk("end")])

    def fill_helper(self, j: int) -> int:
        return self.helper(("fill", j), [I32, I32, I32], [], [], [
            *self.check(0, 2, j), *self.rebased(0, j), _mk("local.get", 1), _mk("local.get", 2), _mk("memory.fill", 0)])

    def copy_helper(self, d: int, s: int) -> int:
        return self.helper(("copy", d, s), [I32, I32, I32], [], [], [
            *self.check(0, 2, d), *self.check(1, 2, s), *self.rebased(0, d), *self.rebased(1, s),
            _mk("local.get", 2), _mk("memory.copy", 0, 0)])

    def init_helper(self, seg: int, j: int) -> int:
        return self.helper(("init", seg, j), [I32, I32, I32], [], [], [
            *self.check(0, 2, j), *self.rebased(0, j), _mk("local.get", 1), _mk("local.get", 2),
            _mk("memory.init", seg, 0)])

    # -- code and data ----------------------------------------------------------------------------

    def rewrite_code(self) -> None:
        """Every memory access of the original bodies moved into the one memory."""
        code = self.module.code
        for bi in range(len(code)):
            body = code[bi]
            instrs = body.instrs
            new = None
            for k, ins in enumerate(instrs):
                rep = self.replacement(ins) if ins.op.imm else None
                if rep is not None:
                    if new is None:
                        new = list(instrs[:k])
                    new.extend(rep)
                elif new is not None:
                    new.append(ins)
            if new is not None:
                body.instrs = new

    def replacement(self, ins) -> list | None:
        """What replaces ``ins`` (None: it stays): memargs rebased, memory.* of a moved memory redirected."""
        op = ins.op
        imm = op.imm
        bases, base_bytes, last = self.bases, self.base_bytes, self.last
        if "memarg" in imm:
            mi = imm.index("memarg")
            ma = ins.args[mi]
            j = ma.memory
            if j == 0 and not base_bytes[j]:
                return None
            off = ma.offset + base_bytes[j]
            if off >= 1 << 32:
                raise LinkError(f"--single-memory refused: an access to {self.who(j)} at static offset "
                                f"{ma.offset} no longer fits in 32 bits at base 0x{base_bytes[j]:x}")
            args = list(ins.args)
            args[mi] = MemArg(ma.align, off, 0)
            return [Instr(op, args)]
        name = op.name
        if name == "memory.size":
            j = ins.args[0]
            if j != last:
                return [_mk("global.get", self.size_global[j])]
            rep = [_mk("memory.size", 0)] + ([_mk("i32.const", bases[j]), _mk("i32.sub")] if bases[j] else [])
            return None if rep == [ins] else rep
        if name == "memory.grow":
            j = ins.args[0]
            return None if (j == last and bases[j] == 0) else [_mk("call", self.grow_helper(j))]
        if name == "memory.fill":
            j = ins.args[0]
            return None if (j == last and bases[j] == 0) else [_mk("call", self.fill_helper(j))]
        if name == "memory.copy":
            d, s = ins.args
            return None if (d == s == last and bases[d] == 0) else [_mk("call", self.copy_helper(d, s))]
        if name == "memory.init":
            seg, j = ins.args
            return None if (j == last and bases[j] == 0) else [_mk("call", self.init_helper(seg, j))]
        return None

    def rebase_data(self) -> None:
        """Active data segments written at their memory's base in the one memory."""
        datas = self.module.datas
        for k, d in enumerate(datas):
            if d.mode != "active":
                continue
            j = d.memory
            base = self.base_bytes[j]
            if j == 0 and not base:
                continue
            offset = d.offset
            if base:
                v = offset.int_value
                if v is not None:
                    offset = ConstExpr.i32(v + base)
                else:
                    instrs = offset.instrs[:-1]
                    offset = ConstExpr.from_instrs([*instrs, _mk("i32.const", _s32(base)), _mk("i32.add")])
            datas[k] = Data("active", 0, offset, d.init, None)

    def finish(self, new_exports: list) -> None:
        """The one memory (the last one's limits above its base), the exports, the names."""
        module = self.module
        last = self.last
        last_lim = self.mtypes[last].limits
        mx = None if last_lim.max is None else min(MAX_PAGES, self.bases[last] + last_lim.max)
        module.memories = [MemoryType(Limits(self.bases[last] + last_lim.min, mx))]
        module.exports = new_exports
        ns = module.names
        if ns is not None:
            ns.memories = {0: ns.memories[0]} if 0 in ns.memories else {}
            for j, g in self.size_global.items():
                ns.globals[g] = f"{self.owners[j] or 'memory' + str(j)}:memory_pages"
            for key, idx in self.helpers.items():
                ns.funcs[idx] = "single_memory:" + "_".join(str(x) for x in key)
            module.names = ns


_mk = Instr.make


def _gt(mutable: bool):
    from ..types import GlobalType
    return GlobalType(I32, mutable)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v
