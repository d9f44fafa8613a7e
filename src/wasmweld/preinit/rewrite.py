"""Rewriting: turn a snapshot into a module that starts in the snapshotted state.

Stage 4 of ``wasmweld snapshot`` (instrument -> run -> snapshot -> **rewrite**).
Applied to the *input* module (not the instrumented one), so everything the
init function did not change is copied byte for byte:

* each mutable global whose value changed gets a constant initialiser with the
  value (f32/f64 written from their bit patterns, v128 as ``v128.const``,
  references as ``ref.null``); unchanged globals keep their initialiser;
* each memory's minimum becomes its size after init (its maximum is kept);
* every active data segment becomes an *empty passive* segment: after
  instantiation an active segment is dropped, and a dropped segment behaves
  exactly like an empty one (``memory.init`` of length 0 at offset 0 works,
  anything longer traps), so code using ``memory.init``/``data.drop`` sees
  the same thing and every data index (and the name section's data names)
  still refers to the same segment. Passive segments the init function dropped
  become empty too; the others are kept. The snapshot's segments are appended
  as active segments after them, and the data count (when present) updated;
* passive element segments the init function dropped become empty;
* the start section is removed (its work is in the snapshot);
* the init function's export is removed unless ``keep_init_func``, and so are
  ``ran_exports`` (a WASI reactor's ``_initialize``, which ran before init:
  running it again would redo its work, as Wizer); then
  ``rename_funcs`` ``{dst: src}`` renames function export ``src`` to ``dst``,
  replacing any existing ``dst`` export (Wizer's ``--rename-func dst=src``);
* custom sections (``name``, ``producers``, DWARF, ...) are kept as they were.

For::

    (module (memory 1) (global $n (mut i32) (i32.const 0))
      (data (i32.const 8) "ab")
      (func (export "wizer-initialize") (global.set $n (i32.const 7)) ...))

with a snapshot of ``$n = 7`` and memory ``[(8, b"ab"), (64, b"\\x2a")]`` the result is::

    (module (memory 1) (global $n (mut i32) (i32.const 7))
      (data "")                          ;; the old active segment, index 0 kept
      (data (i32.const 8) "ab") (data (i32.const 64) "\\2a"))
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import repeat
from operator import itemgetter
from typing import Any

from ..binary.instr import Instr
from ..binary.leb import read_u32, write_s32_u32_fast, write_u
from ..binary.opcodes import BY_NAME
from ..binary.reader import SECTION_IDS, split_sections
from ..binary.sections import encode_data
from ..errors import SnapshotError
from ..module import ConstExpr, Data, Global, Module
from ..record import replace
from ..types import ExternKind, RefType, ValType
from .snapshot import GlobalValue, Snapshot

__all__ = ["rewrite", "rewrite_bytes", "global_init", "apply_exports"]


def global_init(gv: GlobalValue, vt: ValType) -> ConstExpr:
    """The constant expression for snapshotted value ``gv`` of a global of value type ``vt``."""
    kind = gv.valtype
    v: Any = gv.value
    if kind == "i32":
        return ConstExpr.i32(int(v))
    if kind == "i64":
        return ConstExpr.i64(int(v))
    if kind == "f32":
        return ConstExpr.from_instrs([Instr.make("f32.const", int(v) & 0xFFFFFFFF)])  # the bits, NaN payloads kept
    if kind == "f64":
        return ConstExpr.from_instrs([Instr.make("f64.const", int(v) & 0xFFFFFFFFFFFFFFFF)])
    if kind == "v128":
        raw = bytes(v)
        if len(raw) != 16:
            raise SnapshotError(f"v128 value of global {gv.index} is {len(raw)} bytes, not 16")
        return ConstExpr.from_instrs([Instr.make("v128.const", raw)])
    if kind == "ref":
        if v is not None:
            raise SnapshotError(f"global {gv.index}: a non-null reference cannot be written as an initialiser")
        if not isinstance(vt, RefType):
            raise SnapshotError(f"global {gv.index} is not a reference global")
        if not vt.nullable:
            raise SnapshotError(f"global {gv.index} has non-nullable type {vt} but is null")
        return ConstExpr.ref_null(vt.heap)
    raise SnapshotError(f"global {gv.index}: unknown value type {kind!r}")


def apply_exports(module: Module, init_export_name: str, keep_init_func: bool,
                  rename_funcs: Mapping[str, str] | None, drop: tuple[str, ...] = ()) -> None:
    """Remove the init export (unless kept) and the exports in ``drop``, apply ``{dst: src}`` renames, in place."""
    renames = dict(rename_funcs or {})
    by_src: dict[str, str] = {}
    for dst, src in renames.items():
        if src in by_src:
            raise SnapshotError(f"function export {src!r} is renamed twice (to {by_src[src]!r} and {dst!r})")
        by_src[src] = dst
    exports = [e for e in module.exports
               if (keep_init_func or e.name != init_export_name) and (e.name == init_export_name or e.name not in drop)]
    present = {e.name: e for e in exports}
    for dst, src in renames.items():
        e = present.get(src)
        if e is None:
            hint = " (it is the init function, removed; add --keep-init-func)" if src == init_export_name else ""
            raise SnapshotError(f"cannot rename {src!r} to {dst!r}: no export named {src!r}{hint}")
        if e.kind != ExternKind.FUNC:
            raise SnapshotError(f"cannot rename {src!r} to {dst!r}: {src!r} is not a function export")
    out = []
    for e in exports:
        if e.name in by_src:
            out.append(replace(e, name=by_src[e.name]))
        elif e.name in renames:
            continue  # overwritten by a rename
        else:
            out.append(e)
    if len(out) != len(module.exports) or any(a is not b for a, b in zip(out, module.exports)):
        module.exports = out


def rewrite(module: Module, snap: Snapshot, *, init_export_name: str, keep_init_func: bool = False,
            rename_funcs: Mapping[str, str] | None = None, ran_exports: tuple[str, ...] = ()) -> Module:
    """Write ``snap`` into ``module`` (edited in place and returned); see the module docstring."""
    mems = _rewrite_state(module, snap)
    # data: old active (and dropped passive) segments emptied in place, snapshot appended
    datas = _emptied_datas(module, snap)
    for mi, ms in enumerate(snap.memories):
        is64 = mems[mi].limits.is64
        for offset, chunk in ms.segments:
            off = ConstExpr.i64(offset) if is64 else ConstExpr.i32(offset)
            datas.append(Data("active", mi, off, bytes(chunk), None))
    if datas or module.datas:
        module.datas = datas
    if module.datacount is not None:
        module.datacount = len(datas)
    _finish(module, snap, init_export_name, keep_init_func, rename_funcs, ran_exports)
    return module


def _emptied_datas(module: Module, snap: Snapshot) -> list[Data]:
    """The module's data segments with the active ones (and the passive ones init dropped) made empty."""
    dropped = set(snap.dropped_datas)
    datas = []
    for i, d in enumerate(module.datas):
        if d.mode == "active" or (i in dropped and d.init):
            datas.append(Data("passive", 0, None, b"", None))
        else:
            datas.append(d)
    return datas


def _finish(module: Module, snap: Snapshot, init_export_name: str, keep_init_func: bool,
            rename_funcs: Mapping[str, str] | None, ran_exports: tuple[str, ...]) -> None:
    # elems dropped by init become empty
    if snap.dropped_elems:
        elems = list(module.elems)
        for i in snap.dropped_elems:
            elems[i] = replace(elems[i], init=())
        module.elems = elems
    module.start = None
    apply_exports(module, init_export_name, keep_init_func, rename_funcs, ran_exports)


def _rewrite_state(module: Module, snap: Snapshot) -> list:
    """Globals and memory minimums from ``snap`` (in place); returns the memory types."""
    n_imp_globals = module.num_imported(ExternKind.GLOBAL)
    if module.num_imported(ExternKind.MEMORY):
        raise SnapshotError("cannot rewrite a module with imported memories")

    # globals
    if any(not gv.unchanged for gv in snap.globals):
        globals_ = list(module.globals)
        for gv in snap.globals:
            if gv.unchanged:
                continue
            k = gv.index - n_imp_globals
            if not 0 <= k < len(globals_):
                raise SnapshotError(f"snapshot names global {gv.index}, which the module does not define")
            g = globals_[k]
            if not g.type.mutable:
                raise SnapshotError(f"snapshot changes immutable global {gv.index}")
            init = global_init(gv, g.type.val)
            if init.raw != g.init.raw:
                globals_[k] = Global(g.type, init)
        module.globals = globals_

    # memories: minimum = size after init
    mems = list(module.memories)
    if len(snap.memories) != len(mems):
        raise SnapshotError(f"snapshot has {len(snap.memories)} memories, the module defines {len(mems)}")
    changed = False
    for i, (mt, ms) in enumerate(zip(mems, snap.memories)):
        lim = mt.limits
        if ms.size_pages < lim.min:
            raise SnapshotError(f"memory {i} shrank from {lim.min} to {ms.size_pages} pages")
        if lim.max is not None and ms.size_pages > lim.max:
            raise SnapshotError(f"memory {i} grew past its maximum ({ms.size_pages} > {lim.max} pages)")
        if ms.size_pages != lim.min:
            mems[i] = replace(mt, limits=replace(lim, min=ms.size_pages))
            changed = True
    if changed:
        module.memories = mems

    return mems


def rewrite_bytes(module: Module, snap: Snapshot, *, init_export_name: str, keep_init_func: bool = False,
                  rename_funcs: Mapping[str, str] | None = None, ran_exports: tuple[str, ...] = ()) -> bytes:
    """``rewrite(module, snap, ...).encode()``, the same bytes, without a ``Data`` object per segment.

    A snapshot of a real heap has thousands of segments: the module is encoded with one placeholder
    segment after the kept ones, and the placeholder is replaced by the segments' encodings, written
    in one pass (an ``i32.const`` offset in memory 0, the usual case; others through the encoder).
    """
    mems = _rewrite_state(module, snap)
    new = [(mi, mems[mi].limits.is64, ms.segments) for mi, ms in enumerate(snap.memories) if ms.segments]
    datas = _emptied_datas(module, snap)
    n_new = sum(len(segs) for _, _, segs in new)
    placeholder = Data("passive", 0, None, b"", None)
    if n_new:
        module.datas = [*datas, placeholder]
    elif datas or module.datas:
        module.datas = datas
    if module.datacount is not None:
        # with the placeholder while encoding (the encoder checks the count); the true count spliced in below
        module.datacount = len(datas) + (1 if n_new else 0)
    _finish(module, snap, init_export_name, keep_init_func, rename_funcs, ran_exports)
    if not n_new:
        return module.encode()
    out = module.encode()
    total = len(datas) + n_new
    sections = split_sections(out)
    sec = next(s for s in reversed(sections) if s.id == _DATA_ID)
    tail = encode_data(placeholder)
    _, items_at = read_u32(out, sec.payload_offset, sec.end)
    view = memoryview(out)
    parts: list[bytes | memoryview] = [write_u(total), view[items_at:sec.end - len(tail)]]
    for mi, is64, segs in new:
        _segment_parts(mi, is64, segs, parts)
    # the data section's parts go straight into the one join of the output (no payload copy of its own)
    size = sum(map(len, parts))
    replace: dict[int, tuple[int, list]] = {sec.offset: (sec.end, [bytes((_DATA_ID,)), write_u(size), *parts])}
    count_sec = next((s for s in sections if s.id == _DATACOUNT_ID), None)
    if count_sec is not None:
        replace[count_sec.offset] = (count_sec.end, [_section(_DATACOUNT_ID, write_u(total))])
    pos = 0
    pieces: list[bytes | memoryview] = []
    for start in sorted(replace):
        end, data = replace[start]
        pieces.append(view[pos:start])
        pieces += data
        pos = end
    pieces.append(view[pos:])
    return b"".join(pieces)


def _section(sid: int, payload: bytes) -> bytes:
    return b"".join((bytes((sid,)), write_u(len(payload)), payload))

_DATA_ID = SECTION_IDS["data"]
_DATACOUNT_ID = SECTION_IDS["datacount"]
_I32_CONST = BY_NAME["i32.const"].opcode
_END = BY_NAME["end"].opcode
_ACTIVE_MEMORY0 = write_u(0)  # the flags of an active segment of memory 0 with an offset


def _segment_parts(mi: int, is64: bool, segs, parts: list) -> None:
    """Append the encodings of active segments ``(offset, bytes)`` of memory ``mi`` to ``parts``."""
    if mi or is64:
        for offset, chunk in segs:
            off = ConstExpr.i64(offset) if is64 else ConstExpr.i32(offset)
            parts.append(encode_data(Data("active", mi, off, bytes(chunk), None)))
        return
    # per segment two parts, the header (flags, offset expression, length) and the bytes, made by C-level
    # maps and interleaved by slice assignment
    offsets = list(map(itemgetter(0), segs))
    if offsets and (max(offsets) >= 1 << 31 or min(offsets) < 0):  # as ConstExpr.i32: a signed 32-bit value
        offsets = [_signed32(o & 0xFFFFFFFF) for o in offsets]
    both: list[bytes] = [b""] * (2 * len(segs))
    sizes = map(len, map(itemgetter(1), segs))
    both[0::2] = map(write_s32_u32_fast, repeat(_HEAD_PAIR), offsets, repeat(_END[0]), sizes)
    both[1::2] = map(itemgetter(1), segs)
    parts += both


_HEAD = _ACTIVE_MEMORY0 + _I32_CONST  # an active segment of memory 0, offset ``i32.const ...``
_HEAD_PAIR = (_HEAD[0], _HEAD[1])


def _signed32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value
