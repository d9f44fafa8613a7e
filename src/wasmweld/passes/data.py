"""Inject data into a module: a passive segment with accessors, or active bytes placed safely.

Passive (the usual way: nothing in memory until the program asks)::

    add_passive_data(m, "js", bundle)             # new exports js_size, js_init
    ;; (data $js "...bundle...")                  passive segment, index N
    ;; (func (export "js_size") (result i32) (i32.const 1048576))
    ;; (global $js_copied (mut i32) (i32.const 0))   guard: the second call traps
    ;; (func (export "js_init") (param $dest i32) (result i32)
    ;;   (if (global.get $js_copied) (then unreachable))
    ;;   (global.set $js_copied (i32.const 1))
    ;;   (memory.init $js (local.get $dest) (i32.const 0) (i32.const 1048576))
    ;;   (data.drop $js)
    ;;   (local.get $dest))

``data.drop`` frees the segment, so the accessor copies once: a second call
traps through ``unreachable`` (the guard global; without it the engine would
report a bare out-of-bounds ``memory.init``). ``keep_data=True`` (``edit
--keep-data``) leaves the segment in place: no ``data.drop``, no guard, the
accessor can be called again, and Wizer accepts the module (Wizer refuses
``data.drop``)::

    add_passive_data(m, "js", bundle, keep_data=True)
    ;; (func (export "js_init") (param $dest i32) (result i32)
    ;;   (memory.init $js (local.get $dest) (i32.const 0) (i32.const 1048576))
    ;;   (local.get $dest))

or, with ``size_func=`` / ``init_func=``, the bodies of existing functions (an
export name, a ``name``-section name or ``#N``) are replaced by exactly those
instructions, so a prebuilt template that already calls
``js_passive_data_size()`` and ``init_js_passive_data(dest)`` picks the data up.

Active: :func:`add_active_data` writes the bytes into memory at instantiation,
at ``__data_end``, but only when the module's own layout guarantees that
nothing else will ever write there. It establishes, or refuses naming what it
could not establish:

* ``__data_end`` and ``__heap_base`` are known (exported, or named in the name
  section's global names) and every active segment ends by ``__data_end``;
* the stack lies below the static data (``__stack_pointer`` starts at or below
  the first data byte: wasm-ld ``--stack-first``, Rust's default);
* the heap takes fresh pages with ``memory.grow``: no code, global or data
  segment refers to ``__heap_base`` or ``__data_end`` (wasi-libc's and
  emscripten's malloc start at ``__heap_base`` and hand out the memory up to the
  end of the initial memory; Rust's dlmalloc and bump allocators over
  ``memory.grow`` do not).

It then moves ``__data_end``/``__heap_base`` past the bytes and raises the
memory's minimum so they fit, so ``memory.grow`` returns pages after them. The
same accessors are generated (``<name>_size``, ``<name>_init(dest)`` copying
with ``memory.copy``) plus ``<name>_addr``. The data count section, when there
is one (or when ``memory.init`` now needs one), is kept equal to the number of
data segments.
"""

from __future__ import annotations

import struct
from ..record import field, record
from typing import Any

from wasmweld.binary.instr import Instr
from wasmweld.binary.leb import write_s, write_u
from wasmweld.binary.opcodes import BY_NAME
from wasmweld.binary.reader import SECTION_IDS
from wasmweld.errors import EditError, WasmError
from wasmweld.module import ConstExpr, Data, Export, FuncBody, Global, Module
from wasmweld.passes.common import (
    FuncLookup, add_function, check_export_name, memory_addr_type, set_body,
)
from wasmweld.types import I32, I64, ExternKind, FuncType, GlobalType, Limits, MemoryType
from wasmweld.passes.result import PassResult

__all__ = ["run_add_data", "DataResult", "Layout", "add_passive_data", "add_active_data", "inject_data", "find_layout",
           "check_active_placement"]

PAGE = 65536


@record
class DataResult:
    """What an injection did. ``address`` is None for passive data."""

    module: Module
    name: str
    mode: str
    data_index: int
    size: int
    address: int | None = None
    rule: str | None = None
    functions: dict[str, int] = field(default_factory=dict)   # role (size/init/addr) -> function index
    exports: list[str] = field(default_factory=list)          # generated export names
    messages: list[str] = field(default_factory=list)


def inject_data(m: Module, name: str, data: bytes, *, mode: str = "passive", **kw: Any) -> DataResult:
    """:func:`add_passive_data` or :func:`add_active_data` by ``mode``."""
    if mode == "passive":
        kw.pop("addr_func", None)
        kw.pop("align", None)
        return add_passive_data(m, name, data, **kw)
    if mode == "active":
        if kw.pop("keep_data", False):
            raise EditError("keep_data is only for passive data (active data is copied with memory.copy, never dropped)")
        return add_active_data(m, name, data, **kw)
    raise EditError(f"data mode must be 'passive' or 'active', not {mode!r}")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise EditError(f"data name must be a non-empty string, not {name!r}")


def _set_datacount(m: Module, force: bool) -> None:
    if force or m.datacount is not None:
        m.datacount = len(m.datas)


def _roles(size_func, init_func, addr_func, accessors, roles: tuple[str, ...]) -> tuple[dict, list]:
    """Which roles replace existing functions, which are generated as exports.

    ``accessors=True``: every role not replaced is generated; ``False``: none. ``None``
    (default): size and init are generated unless either is replaced, and the address
    (active data) unless ``addr_func`` replaces a function.
    """
    given = {"size": size_func, "init": init_func, "addr": addr_func}
    replace = {r: given[r] for r in roles if given[r] is not None}
    if accessors is None:
        pair = not ("size" in replace or "init" in replace)
        generate = [r for r in roles if r not in replace and (r == "addr" or pair)]
    else:
        generate = [r for r in roles if r not in replace] if accessors else []
    return replace, generate


def _accessor_types(addr) -> dict[str, list[FuncType]]:
    """Allowed function types per role (the first is the one generated)."""
    return {
        "size": [FuncType((), (I32,)), FuncType((), (I64,))],
        "init": [FuncType((addr,), (addr,)), FuncType((addr,), ())],
        "addr": [FuncType((), (addr,)), FuncType((), (I64,)) if addr == I32 else FuncType((), (I32,))],
    }


def _const(vt, v: int) -> Instr:
    if vt == I64:
        v &= (1 << 64) - 1
        return Instr.make("i64.const", v - (1 << 64) if v >= 1 << 63 else v)
    v &= (1 << 32) - 1
    return Instr.make("i32.const", v - (1 << 32) if v >= 1 << 31 else v)


def _install(m: Module, result: DataResult, name: str, bodies, replace: dict, generate: list, addr) -> None:
    """Replace the bodies of the given functions and/or add exported accessors.

    ``bodies(role, ft)`` returns the instruction list for ``role`` with function type ``ft``.
    """
    allowed = _accessor_types(addr)
    lookup = FuncLookup(m)
    for role, ref in replace.items():
        idx = lookup.find(ref, f"{role} function")
        label = lookup.label(idx)
        ft = m.func_type(idx)
        if ft not in allowed[role]:
            want = " or ".join(map(str, allowed[role]))
            raise EditError(f"type mismatch: {role} function {label} has type {ft}, expected {want}")
        set_body(m, idx, FuncBody.from_instrs([], bodies(role, ft)), label)
        result.functions[role] = idx
        result.messages.append(f"replaced the body of {label} with the {name} {role} accessor")
    taken = {e.name for e in m.exports}
    new_names = {role: f"{name}_{role}" for role in generate}
    for export_name in new_names.values():
        check_export_name(m, export_name, taken)
    for role in generate:
        ft = allowed[role][0]
        idx = add_function(m, ft, FuncBody.from_instrs([], bodies(role, ft)))
        m.exports.append(Export(new_names[role], ExternKind.FUNC, idx))
        taken.add(new_names[role])
        result.functions[role] = idx
        result.exports.append(new_names[role])
    if generate:
        result.messages.append(f"exported {', '.join(new_names[r] for r in generate)}")


# ------------------------------------------------------------------------------------ passive

def add_passive_data(m: Module, name: str, data: bytes, *, size_func: str | None = None,
                     init_func: str | None = None, accessors: bool | None = None, memory: int = 0,
                     keep_data: bool = False) -> DataResult:
    """Add ``data`` as a passive segment and its accessors (see the module docstring).

    ``size_func``/``init_func``: replace those functions' bodies (types ``[] -> [i32]``
    and ``[i32] -> [i32]`` or ``[i32] -> []``; i64 addresses for memory64) instead of
    exporting new ``<name>_size``/``<name>_init``. ``accessors=False`` adds only the segment.
    ``keep_data``: the init accessor does not ``data.drop`` the segment (callable again,
    Wizer-compatible); by default it drops it and a second call traps (``unreachable``
    after a guard global).
    """
    _check_name(name)
    data = bytes(data)
    addr = memory_addr_type(m, memory)
    if len(data) >= 1 << 32:
        raise EditError(f"data {name!r} is {len(data)} bytes; memory.init copies at most 4 GiB - 1")
    replace, generate = _roles(size_func, init_func, None, accessors, ("size", "init"))
    seg = len(m.datas)
    size = len(data)
    guard: list[int] = []    # the guard global's index, made when an init accessor is installed

    def bodies(role: str, ft: FuncType) -> list[Instr]:
        if role == "size":
            return [_const(ft.results[0], size)]
        out = [Instr.make("local.get", 0), _const(I32, 0), _const(I32, size), Instr.make("memory.init", seg, memory)]
        if not keep_data:
            if not guard:
                m.globals.append(Global(GlobalType(I32, True), ConstExpr.i32(0)))
                guard.append(m.num_imported(ExternKind.GLOBAL) + len(m.globals) - 1)
            out = [Instr.make("global.get", guard[0]), Instr.make("if", None), Instr.make("unreachable"),
                   Instr.make("end"), _const(I32, 1), Instr.make("global.set", guard[0]),
                   *out, Instr.make("data.drop", seg)]
        if ft.results:
            out.append(Instr.make("local.get", 0))
        return out

    result = DataResult(m, name, "passive", seg, size)
    _install(m, result, name, bodies, replace, generate, addr)
    if guard:
        result.messages.append(f"the {name} init accessor drops the segment: a second call traps "
                               f"(guard global #{guard[0]}; keep_data / --keep-data keeps it)")
    m.datas.append(Data(mode="passive", memory=memory, offset=None, init=data))
    _set_datacount(m, force=True)
    result.messages.insert(0, f"added passive data segment {seg} {name!r} ({size} bytes)")
    return result


# ------------------------------------------------------------------------------------ active

@record
class _Sym:
    name: str
    global_index: int
    value: int
    found_by: str        # "export" | "name section" | "heuristic"


@record
class Layout:
    """What the module says about its linear memory 0 (wasm-ld conventions)."""

    memory: MemoryType | None
    memory_imported: bool
    data_end: _Sym | None
    heap_base: _Sym | None
    stack_pointer: _Sym | None
    static_start: int | None          # first byte of active data on memory 0
    static_end: int                    # end of the last active data segment on memory 0
    nonconst_segments: list[int]       # active segments whose offset is not a constant


def _global_by_name(m: Module, name: str, names) -> tuple[int, str] | None:
    for e in m.exports:
        if e.name == name and e.kind == ExternKind.GLOBAL:
            return e.index, "export"
    if names is not None:
        for idx, n in names.globals.items():
            if n == name:
                return idx, "name section"
    return None


def _global_value(m: Module, gidx: int) -> int | None:
    nimp = m.num_imported(ExternKind.GLOBAL)
    if gidx < nimp or gidx - nimp >= len(m.globals):
        return None
    g = m.globals[gidx - nimp]
    if g.type.val not in (I32, I64):
        return None
    return g.init.int_value


def find_layout(m: Module) -> Layout:
    """Read ``__data_end``, ``__heap_base``, ``__stack_pointer`` and the static data extent."""
    try:
        names = m.names
    except WasmError:
        names = None
    syms: dict[str, _Sym | None] = {}
    for sym in ("__data_end", "__heap_base", "__stack_pointer"):
        hit = _global_by_name(m, sym, names)
        if hit is None:
            syms[sym] = None
            continue
        gidx, how = hit
        value = _global_value(m, gidx)
        syms[sym] = _Sym(sym, gidx, value, how) if value is not None else _Sym(sym, gidx, -1, how)
    if syms["__stack_pointer"] is None:
        # wasm-ld's stack pointer is the first defined mutable i32 global
        nimp = m.num_imported(ExternKind.GLOBAL)
        for i, g in enumerate(m.globals):
            if g.type.mutable and g.type.val == I32:
                v = g.init.int_value
                if v is not None:
                    syms["__stack_pointer"] = _Sym("__stack_pointer", nimp + i, v, "heuristic")
                break
    start = None
    end = 0
    nonconst = []
    for i, d in enumerate(m.datas):
        if d.mode != "active" or d.memory != 0:
            continue
        off = d.offset.int_value if d.offset is not None else None
        if off is None:
            nonconst.append(i)
            continue
        off &= (1 << 32) - 1 if not (m.num_memories and m.memory_type(0).limits.is64) else (1 << 64) - 1
        if d.init:
            start = off if start is None else min(start, off)
            end = max(end, off + len(d.init))
    mem = m.memory_type(0) if m.num_memories else None
    return Layout(mem, m.num_imported(ExternKind.MEMORY) > 0, syms["__data_end"], syms["__heap_base"],
                  syms["__stack_pointer"], start, end, nonconst)


def _sleb(v: int) -> bytes:
    return write_s(v)


def _body_spans(m: Module):
    """(start, end, defined index) of each original body in the input, sorted by start."""
    spans = []
    for i, b in enumerate(m.code):
        if b.offset is not None and not b.modified:
            spans.append((b.offset, b.offset + len(b.raw), i))
    spans.sort()
    return spans


_I32_CONST, _I64_CONST, _GLOBAL_GET = (BY_NAME[n].opcode for n in ("i32.const", "i64.const", "global.get"))


def _code_refs(m: Module, values: dict[int, str], globals_: dict[int, str]) -> list[str]:
    """Functions whose code contains ``i32.const``/``i64.const`` of one of ``values`` or
    ``global.get`` of one of ``globals_``: ["'dlmalloc' (#12) uses __heap_base (0x1080)", ...]."""
    # every encoding width: toolchains pad relocated constants and indices (wasm-ld: 5 bytes)
    patterns: list[tuple[bytes, str]] = []
    for v, what in values.items():
        sv = v if v < 1 << 31 else v - (1 << 32)
        for w in range(len(_sleb(sv)), 6):
            patterns.append((_I32_CONST + write_s(sv, w), what))
        for w in range(len(_sleb(v)), 11):
            patterns.append((_I64_CONST + write_s(v, w), what))
    for g, what in globals_.items():
        for w in range(len(write_u(g)), 6):
            patterns.append((_GLOBAL_GET + write_u(g, w), what))
    nimp = m.num_imported(ExternKind.FUNC)
    candidates: dict[int, set[str]] = {}
    code = m.code
    buf = m.data
    sec = next((s for s in m.sections if s.id == SECTION_IDS["code"]), None)
    spans = _body_spans(m)
    starts = [s for s, _e, _i in spans]
    if sec is not None and spans:
        import bisect
        for pat, what in patterns:
            p = buf.find(pat, sec.payload_offset, sec.end)
            while p >= 0:
                k = bisect.bisect_right(starts, p) - 1
                if k >= 0 and p < spans[k][1]:
                    candidates.setdefault(spans[k][2], set()).add(what)
                p = buf.find(pat, p + 1, sec.end)
    original = {i for _s, _e, i in spans}
    for i, b in enumerate(code):
        if i in original:
            continue
        raw = b.raw
        for pat, what in patterns:
            if pat in raw:
                candidates.setdefault(i, set()).add(what)
    found = []
    lookup = FuncLookup(m)
    for i in sorted(candidates):
        hits = set()
        for ins in code[i].instrs:
            n = ins.name
            if n == "i32.const":
                v = ins.args[0] & 0xFFFFFFFF
                if v in values:
                    hits.add(values[v])
            elif n == "i64.const":
                v = ins.args[0]
                if v in values:
                    hits.add(values[v])
            elif n == "global.get" and ins.args[0] in globals_:
                hits.add(globals_[ins.args[0]])
        for what in sorted(hits):
            found.append(f"function {lookup.label(nimp + i)} uses {what}")
    return found


def _data_refs(m: Module, values: dict[int, str], skip: int) -> list[str]:
    found = []
    for i, d in enumerate(m.datas):
        if i >= skip:
            break
        for v, what in values.items():
            if v < 1 << 32 and struct.pack("<I", v) in d.init:
                found.append(f"data segment {i} stores the address {what}")
    return found


def check_active_placement(m: Module, *, layout: Layout | None = None) -> tuple[Layout, str]:
    """Establish that bytes placed at ``__data_end`` are never written by the module itself.

    Returns the layout and a sentence naming the rule; raises EditError naming what could
    not be established.
    """
    lay = layout or find_layout(m)
    pre = "active placement refused: "
    if lay.memory is None:
        raise EditError(pre + "the module has no memory")
    if lay.memory_imported:
        raise EditError(pre + "memory 0 is imported, so its layout is not the module's own")
    if lay.memory.limits.shared:
        raise EditError(pre + "memory 0 is shared: other threads' stacks and heaps are not described by the module")
    de, hb, sp = lay.data_end, lay.heap_base, lay.stack_pointer
    if de is None:
        raise EditError(pre + "cannot find __data_end (not exported, and the name section names no such global)")
    if de.value < 0:
        raise EditError(pre + f"__data_end (global {de.global_index}) is not a constant i32")
    if hb is None:
        raise EditError(pre + "cannot find __heap_base (not exported, and the name section names no such global), "
                        "so where the allocator starts cannot be established")
    if hb.value < 0:
        raise EditError(pre + f"__heap_base (global {hb.global_index}) is not a constant i32")
    if lay.nonconst_segments:
        raise EditError(pre + f"data segment {lay.nonconst_segments[0]} has a non-constant offset "
                        "(a relocatable/PIC module): the static data's extent is unknown")
    if lay.static_end > de.value:
        raise EditError(pre + f"static data ends at 0x{lay.static_end:x}, after __data_end 0x{de.value:x}")
    first = lay.static_start if lay.static_start is not None else de.value
    if sp is not None:
        if sp.value < 0:
            raise EditError(pre + f"the stack pointer (global {sp.global_index}) does not start at a constant")
        if sp.value > first:
            raise EditError(
                pre + f"the stack lies above the static data (__stack_pointer starts at 0x{sp.value:x}, data "
                f"0x{first:x}..0x{de.value:x}); wasm-ld's default layout puts the stack after the data, "
                "where placed bytes would be overwritten (link with --stack-first)")
        stack_rule = (f"the stack lies below the data (__stack_pointer starts at 0x{sp.value:x} <= "
                      f"first data byte 0x{first:x})")
    else:
        stack_rule = "there is no shadow stack (no mutable i32 global)"
    values = {hb.value & 0xFFFFFFFF: f"__heap_base (0x{hb.value:x})"}
    values.setdefault(de.value & 0xFFFFFFFF, f"__data_end (0x{de.value:x})")
    globals_ = {hb.global_index: "__heap_base", de.global_index: "__data_end"}
    problems = _code_refs(m, values, globals_)
    nimp = m.num_imported(ExternKind.GLOBAL)
    for i, g in enumerate(m.globals):
        gi = nimp + i
        if gi in (hb.global_index, de.global_index) or (sp is not None and gi == sp.global_index):
            continue
        v = g.init.int_value
        if v is not None and (v & 0xFFFFFFFF) in values:
            problems.append(f"global {gi} starts at {values[v & 0xFFFFFFFF]}")
    problems += _data_refs(m, values, len(m.datas))
    if problems:
        shown = "; ".join(problems[:4]) + ("; ..." if len(problems) > 4 else "")
        raise EditError(
            pre + f"cannot establish that the allocator takes fresh pages with memory.grow: {shown}. Its allocator "
            "hands out the memory between __heap_base and the end of the initial memory (as wasi-libc's and "
            "emscripten's malloc do), so no place after __data_end is guaranteed free; use passive data")
    heap_rule = ("the heap takes fresh pages with memory.grow (no code, global or data segment refers to "
                 f"__heap_base 0x{hb.value:x} or __data_end 0x{de.value:x})")
    return lay, f"{stack_rule}; {heap_rule}"


def add_active_data(m: Module, name: str, data: bytes, *, size_func: str | None = None, init_func: str | None = None,
                    addr_func: str | None = None, accessors: bool | None = None, align: int = 16) -> DataResult:
    """Place ``data`` in memory 0 at ``__data_end`` when the layout makes that safe (else EditError)."""
    _check_name(name)
    data = bytes(data)
    if align <= 0 or align & (align - 1):
        raise EditError(f"alignment must be a power of two, not {align}")
    lay, rule = check_active_placement(m)
    addr_t = memory_addr_type(m, 0)
    de, hb, mem = lay.data_end, lay.heap_base, lay.memory
    if de is None or hb is None or mem is None:  # pragma: no cover - check_active_placement established them
        raise EditError(f"data {name!r}: the memory layout is not known")
    size = len(data)
    address = (de.value + align - 1) & ~(align - 1)
    end = address + size
    new_heap = max(hb.value, (end + 15) & ~15)
    limit = 1 << (64 if addr_t == I64 else 32)
    if new_heap > limit:
        raise EditError(f"data {name!r} ({size} bytes) does not fit in memory 0 after __data_end 0x{de.value:x}")
    pages = -(-new_heap // PAGE)
    lim = mem.limits
    if lim.max is not None and pages > lim.max:
        raise EditError(f"data {name!r} needs {pages} pages of memory 0, but its maximum is {lim.max}")
    replace, generate = _roles(size_func, init_func, addr_func, accessors, ("size", "init", "addr"))

    def bodies(role: str, ft: FuncType) -> list[Instr]:
        if role == "size":
            return [_const(ft.results[0], size)]
        if role == "addr":
            return [_const(ft.results[0], address)]
        out = [Instr.make("local.get", 0), _const(addr_t, address), _const(addr_t, size),
               Instr.make("memory.copy", 0, 0)]
        if ft.results:
            out.append(Instr.make("local.get", 0))
        return out

    seg = len(m.datas)
    result = DataResult(m, name, "active", seg, size, address=address, rule=rule)
    _install(m, result, name, bodies, replace, generate, addr_t)
    m.datas.append(Data(mode="active", memory=0,
                        offset=ConstExpr.i64(address) if addr_t == I64 else ConstExpr.i32(address), init=data))
    _set_datacount(m, force=False)
    # move the layout symbols past the data, grow the initial memory to hold it
    nimp = m.num_imported(ExternKind.GLOBAL)
    for sym, value in ((de, end), (hb, new_heap)):
        g = m.globals[sym.global_index - nimp]
        init = ConstExpr.i64(value) if g.type.val == I64 else ConstExpr.i32(value)
        m.globals[sym.global_index - nimp] = Global(g.type, init)
    msg_mem = ""
    if pages > lim.min:
        mems = m.memories
        mems[0] = MemoryType(Limits(pages, lim.max, lim.shared, lim.is64, lim.flags))
        msg_mem = f"; memory 0 minimum {lim.min} -> {pages} pages"
    result.messages.insert(0, (
        f"placed {name!r} ({size} bytes) as active data segment {seg} at 0x{address:x} (__data_end); "
        f"__data_end 0x{de.value:x} -> 0x{end:x}, __heap_base 0x{hb.value:x} -> 0x{new_heap:x}{msg_mem}"))
    result.messages.insert(1, f"rule: {rule}")
    return result


def run_add_data(module: Module, *, name: str, data: bytes, mode: str = "passive", size_func: str | None = None,
                 init_func: str | None = None, addr_func: str | None = None, accessors: bool | None = None,
                 align: int | None = 16, keep_data: bool = False) -> PassResult:
    """Pass ``add-data``: :func:`inject_data` (``addr_func``/``align`` only for active data,
    ``keep_data`` only for passive data)."""
    kw: dict[str, Any] = dict(size_func=size_func, init_func=init_func, accessors=accessors)
    if mode == "active":
        if keep_data:
            raise EditError("keep_data is only for passive data (active data is copied with memory.copy, never dropped)")
        kw.update(addr_func=addr_func, align=align or 16)
    elif addr_func is not None:
        raise EditError("addr_func is only for active data (passive data has no address)")
    else:
        kw["keep_data"] = keep_data
    res = inject_data(module, name, data, mode=mode, **kw)
    return PassResult(res.module, {"bytes": len(data)}, list(res.messages), value=res)
