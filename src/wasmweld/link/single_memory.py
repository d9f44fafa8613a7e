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

from dataclasses import dataclass, field

from ..errors import LinkError
from ..passes.common import FuncTypes
from ..types import I32, ExternKind, FuncType, Limits, MemoryType

__all__ = ["lower_memories", "plan_layout", "MemoryLayout", "MemoryRegion", "DEFAULT_RESERVE"]

PAGE = 65536
MAX_PAGES = 65536
#: pages given to a memory without a maximum that is not the last one
DEFAULT_RESERVE = 256


@dataclass(frozen=True)
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


@dataclass
class MemoryLayout:
    """The plan of :func:`lower_memories`: one region per memory, what refuses it, which exports go."""

    regions: list[MemoryRegion] = field(default_factory=list)
    #: reasons the memories cannot be laid out in one (empty: they can)
    problems: list[str] = field(default_factory=list)
    #: names of memory exports removed (``drop_exports``)
    dropped: list[str] = field(default_factory=list)


def plan_layout(mtypes, exports=(), *, imported=(), owners=None, drop_exports: bool = False,
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


def lower_memories(module, *, owners=None, drop_exports: bool = False, reserve: int | None = None, warn=None,
                   layout: MemoryLayout | None = None):
    """Rewrite ``module`` (in place) to use one memory; returns it. See the module docstring.

    ``layout``: the :func:`plan_layout` of this module with the same options, when the caller made it.
    """
    from ..binary.instr import Instr, MemArg
    from ..module import ConstExpr, Data, FuncBody, Global

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

    def who(j: int) -> str:
        return f"memory {j} ({owners[j]})" if owners[j] else f"memory {j}"

    problems = layout.problems
    if problems:
        raise LinkError("--single-memory refused:\n" + "\n".join(f"  - {p}" for p in problems)
                        if len(problems) > 1 else f"--single-memory refused: {problems[0]}", problems=problems)
    bases = [r.base // PAGE for r in layout.regions]
    regions = [r.pages for r in layout.regions]
    new_exports = []
    dropped = []
    for e in module.exports:
        if e.kind != ExternKind.MEMORY:
            new_exports.append(e)
        elif bases[e.index] == 0 and e.index == 0:
            new_exports.append(type(e)(e.name, e.kind, 0))
        else:
            dropped.append(e.name)
    if dropped:
        warn(f"--single-memory: dropped memory export{'s' if len(dropped) > 1 else ''} "
             f"{', '.join(map(repr, dropped))} (not at base 0 of the single memory)")
    for j, mt in enumerate(mtypes[:-1]):
        lim = mt.limits
        if lim.max is None or regions[j] < lim.max:
            warn(f"--single-memory: {who(j)} has room for {regions[j]} pages at base 0x{bases[j] * PAGE:x}; "
                 f"memory.grow on it fails beyond that (memory_reserve/--memory-reserve sets the room)")
    if n > 1:
        warn("--single-memory: loads and stores past the current size of a lower memory reach the region "
             "above it instead of trapping")

    last = n - 1
    base_bytes = [b * PAGE for b in bases]

    # -- new items: globals for the sizes of lower memories, types, helper functions ------------
    func_types = FuncTypes(module.types)

    def func_type(params, results) -> int:
        return func_types.index(FuncType(tuple(params), tuple(results)))

    n_globals = module.num_globals
    size_global = {}
    for j in range(n - 1):
        size_global[j] = n_globals + len(size_global)
        module.globals.append(Global(_gt(True), ConstExpr.i32(mtypes[j].limits.min)))

    funcs = module.funcs
    code = module.code
    n_funcs = module.num_funcs
    helpers: dict[tuple, int] = {}

    def helper(key, params, results, locals_, instrs) -> int:
        idx = helpers.get(key)
        if idx is None:
            idx = helpers[key] = n_funcs + len(helpers)
            funcs.append(func_type(params, results))
            code.append(FuncBody.from_instrs(locals_, instrs))
        return idx

    mk = Instr.make

    def size_bytes_i64(j):      # the current size of memory j in bytes, as an i64 on the stack
        if j == last:
            return [mk("memory.size", 0), mk("i32.const", bases[j]), mk("i32.sub"), mk("i64.extend_i32_u"),
                    mk("i64.const", 16), mk("i64.shl")]
        return [mk("global.get", size_global[j]), mk("i64.extend_i32_u"), mk("i64.const", 16), mk("i64.shl")]

    def check(addr_local, len_local, j):  # trap unless addr + len <= size of memory j
        return [mk("local.get", addr_local), mk("i64.extend_i32_u"), mk("local.get", len_local), mk("i64.extend_i32_u"),
                mk("i64.add"), *size_bytes_i64(j), mk("i64.gt_u"), mk("if", None), mk("unreachable"), mk("end")]

    def rebased(local, j):
        out = [mk("local.get", local)]
        if base_bytes[j]:
            out += [mk("i32.const", _s32(base_bytes[j])), mk("i32.add")]
        return out

    def grow_helper(j):
        if j == last:
            return helper(("grow", j), [I32], [I32], [(1, I32)], [
                mk("local.get", 0), mk("memory.grow", 0), mk("local.tee", 1), mk("i32.const", -1), mk("i32.eq"),
                mk("if", I32), mk("i32.const", -1), mk("else"), mk("local.get", 1), mk("i32.const", bases[j]),
                mk("i32.sub"), mk("end")])
        g = size_global[j]
        return helper(("grow", j), [I32], [I32], [(1, I32)], [
            mk("global.get", g), mk("local.set", 1),
            mk("local.get", 0), mk("i32.const", regions[j]), mk("global.get", g), mk("i32.sub"), mk("i32.gt_u"),
            mk("if", I32), mk("i32.const", -1),
            mk("else"), mk("global.get", g), mk("local.get", 0), mk("i32.add"), mk("global.set", g), mk("local.get", 1),
            mk("end")])

    def fill_helper(j):
        return helper(("fill", j), [I32, I32, I32], [], [], [
            *check(0, 2, j), *rebased(0, j), mk("local.get", 1), mk("local.get", 2), mk("memory.fill", 0)])

    def copy_helper(d, s):
        return helper(("copy", d, s), [I32, I32, I32], [], [], [
            *check(0, 2, d), *check(1, 2, s), *rebased(0, d), *rebased(1, s), mk("local.get", 2),
            mk("memory.copy", 0, 0)])

    def init_helper(seg, j):
        return helper(("init", seg, j), [I32, I32, I32], [], [], [
            *check(0, 2, j), *rebased(0, j), mk("local.get", 1), mk("local.get", 2), mk("memory.init", seg, 0)])

    # -- rewrite code -------------------------------------------------------------------------------
    n_orig = len(code)
    for bi in range(n_orig):
        body = code[bi]
        instrs = body.instrs
        new = None
        for k, ins in enumerate(instrs):
            op = ins.op
            imm = op.imm
            if not imm:
                if new is not None:
                    new.append(ins)
                continue
            rep = None
            if "memarg" in imm:
                mi = imm.index("memarg")
                ma = ins.args[mi]
                j = ma.memory
                if j != 0 or base_bytes[j]:
                    off = ma.offset + base_bytes[j]
                    if off >= 1 << 32:
                        raise LinkError(f"--single-memory refused: an access to {who(j)} at static offset "
                                        f"{ma.offset} no longer fits in 32 bits at base 0x{base_bytes[j]:x}")
                    args = list(ins.args)
                    args[mi] = MemArg(ma.align, off, 0)
                    rep = [Instr(op, args)]
            else:
                name = op.name
                if name == "memory.size":
                    j = ins.args[0]
                    if j == last:
                        rep = [mk("memory.size", 0)] + ([mk("i32.const", bases[j]), mk("i32.sub")] if bases[j] else [])
                        if rep == [ins]:
                            rep = None
                    else:
                        rep = [mk("global.get", size_global[j])]
                elif name == "memory.grow":
                    j = ins.args[0]
                    rep = None if (j == last and bases[j] == 0) else [mk("call", grow_helper(j))]
                elif name == "memory.fill":
                    j = ins.args[0]
                    rep = None if (j == last and bases[j] == 0) else [mk("call", fill_helper(j))]
                elif name == "memory.copy":
                    d, s = ins.args
                    rep = None if (d == s == last and bases[d] == 0) else [mk("call", copy_helper(d, s))]
                elif name == "memory.init":
                    seg, j = ins.args
                    rep = None if (j == last and bases[j] == 0) else [mk("call", init_helper(seg, j))]
            if rep is not None:
                if new is None:
                    new = list(instrs[:k])
                new.extend(rep)
            elif new is not None:
                new.append(ins)
        if new is not None:
            body.instrs = new

    # -- data segments ----------------------------------------------------------------------------------
    datas = module.datas
    for k, d in enumerate(datas):
        if d.mode != "active":
            continue
        j = d.memory
        if j == 0 and not base_bytes[j]:
            continue
        offset = d.offset
        if base_bytes[j]:
            v = offset.int_value
            if v is not None:
                offset = ConstExpr.i32(v + base_bytes[j])
            else:
                instrs = offset.instrs[:-1]
                offset = ConstExpr.from_instrs([*instrs, mk("i32.const", _s32(base_bytes[j])), mk("i32.add")])
        datas[k] = Data("active", 0, offset, d.init, None)

    # -- the memory itself, exports, names --------------------------------------------------------------
    last_lim = mtypes[last].limits
    mx = None if last_lim.max is None else min(MAX_PAGES, bases[last] + last_lim.max)
    module.memories = [MemoryType(Limits(bases[last] + last_lim.min, mx))]
    module.exports = new_exports
    ns = module.names
    if ns is not None:
        ns.memories = {0: ns.memories[0]} if 0 in ns.memories else {}
        for j, g in size_global.items():
            ns.globals[g] = f"{owners[j] or 'memory' + str(j)}:memory_pages"
        for key, idx in helpers.items():
            ns.funcs[idx] = "single_memory:" + "_".join(str(x) for x in key)
        module.names = ns
    return module


def _gt(mutable: bool):
    from ..types import GlobalType
    return GlobalType(I32, mutable)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v
