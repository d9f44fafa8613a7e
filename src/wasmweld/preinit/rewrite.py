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

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import SnapshotError
from ..module import ConstExpr, Data, Global, Module
from ..types import ExternKind, RefType
from .snapshot import GlobalValue, Snapshot

__all__ = ["rewrite", "global_init", "apply_exports"]


def global_init(gv: GlobalValue, vt) -> ConstExpr:
    """The constant expression for snapshotted value ``gv`` of a global of value type ``vt``."""
    kind = gv.valtype
    v: Any = gv.value
    if kind == "i32":
        return ConstExpr.i32(int(v))
    if kind == "i64":
        return ConstExpr.i64(int(v))
    if kind == "f32":
        return ConstExpr(b"\x43" + (int(v) & 0xFFFFFFFF).to_bytes(4, "little") + b"\x0b")
    if kind == "f64":
        return ConstExpr(b"\x44" + (int(v) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") + b"\x0b")
    if kind == "v128":
        raw = bytes(v)
        if len(raw) != 16:
            raise SnapshotError(f"v128 value of global {gv.index} is {len(raw)} bytes, not 16")
        return ConstExpr(b"\xfd\x0c" + raw + b"\x0b")
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
            out.append(dataclasses.replace(e, name=by_src[e.name]))
        elif e.name in renames:
            continue  # overwritten by a rename
        else:
            out.append(e)
    if len(out) != len(module.exports) or any(a is not b for a, b in zip(out, module.exports)):
        module.exports = out


def rewrite(module: Module, snap: Snapshot, *, init_export_name: str, keep_init_func: bool = False,
            rename_funcs: Mapping[str, str] | None = None, ran_exports: tuple[str, ...] = ()) -> Module:
    """Write ``snap`` into ``module`` (edited in place and returned); see the module docstring."""
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
            mems[i] = dataclasses.replace(mt, limits=dataclasses.replace(lim, min=ms.size_pages))
            changed = True
    if changed:
        module.memories = mems

    # data: old active (and dropped passive) segments emptied in place, snapshot appended
    dropped = set(snap.dropped_datas)
    datas = []
    for i, d in enumerate(module.datas):
        if d.mode == "active" or (i in dropped and d.init):
            datas.append(Data("passive", 0, None, b"", None))
        else:
            datas.append(d)
    for mi, ms in enumerate(snap.memories):
        is64 = mems[mi].limits.is64
        for offset, chunk in ms.segments:
            off = ConstExpr.i64(offset) if is64 else ConstExpr.i32(offset)
            datas.append(Data("active", mi, off, bytes(chunk), None))
    if datas or module.datas:
        module.datas = datas
    if module.datacount is not None:
        module.datacount = len(datas)

    # elems dropped by init become empty
    if snap.dropped_elems:
        elems = list(module.elems)
        for i in snap.dropped_elems:
            elems[i] = dataclasses.replace(elems[i], init=())
        module.elems = elems

    module.start = None
    apply_exports(module, init_export_name, keep_init_func, rename_funcs, ran_exports)
    return module
