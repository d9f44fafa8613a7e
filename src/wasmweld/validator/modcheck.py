"""Module-level validation: every section's items, constant expressions, then the code.

``validate_module(m, features)`` checks a parsed :class:`~wasmweld.module.Module`
against the Wasm 3.0 rules plus the enabled proposals, raising
:class:`~wasmweld.errors.ValidationError` (or DecodeError for bytes that turn
out malformed while reading them)::

    (module (memory 2 1))                 ;; size minimum must not be greater than maximum
    (module (func) (export "f" (func 0)) (export "f" (func 0)))   ;; duplicate export name
    (module (global i32 (i32.const 0)) (func (global.set 0 (i32.const 1))))  ;; immutable global
"""

from __future__ import annotations

from typing import Any

import gc

from ..binary.instr import decode_body
from ..errors import DecodeError, ValidationError
from ..types import I32, I64, ExternKind, FuncType
from .code import BodyChecker, Invalid
from .parallel import jobs_for, run_chunks
from .typectx import TypeContext
from ..items import FuncBody
from ..binary.instr import Instr
from ..module import Module

__all__ = ["ModuleContext", "validate_module", "CONST_OPS"]

#: instructions allowed in constant expressions (extended-const and GC included)
CONST_OPS = frozenset({
    "i32.const", "i64.const", "f32.const", "f64.const", "v128.const", "ref.null", "ref.func", "global.get",
    "i32.add", "i32.sub", "i32.mul", "i64.add", "i64.sub", "i64.mul", "struct.new", "struct.new_default",
    "array.new", "array.new_default", "array.new_fixed", "ref.i31", "any.convert_extern", "extern.convert_any",
    "end",
})
_EXTENDED = frozenset({"i32.add", "i32.sub", "i32.mul", "i64.add", "i64.sub", "i64.mul"})


def _inv(msg: str) -> ValidationError:
    return ValidationError(msg)


class ModuleContext:
    """What instructions may refer to: the module's index spaces with their (interned) types."""

    def __init__(self, m: Module, features: frozenset[str]) -> None:
        self.m = m
        self.features: frozenset[str] = features
        self.tc: TypeContext = TypeContext(m.types, features)
        self.funcs: list[FuncType] = []
        self.func_type_idx: list[int] = []
        self.globals: list[Any] = []          # (type, mutable)
        self.tables: list[Any] = []           # (elem type, address type)
        self.mems: list[bool] = []       # is64
        self.tags: list[FuncType] = []
        self.elems: list[Any] = []            # elem types
        self.ndata: int | None = None
        self.refs: set[int] = set()
        self.nimported_globals: int = 0


def _has(mc: ModuleContext, feature: str) -> bool:
    return feature in mc.features


def _limits(mc: ModuleContext, lim, what: str, is_memory: bool) -> None:
    if lim.max is not None and lim.min > lim.max:
        raise _inv(f"{what}: size minimum must not be greater than maximum")
    if lim.is64 and not _has(mc, "memory64"):
        raise _inv(f"{what}: 64-bit {('memory' if is_memory else 'table')} requires the memory64 feature")
    log2 = getattr(lim, "page_size_log2", None)
    if is_memory:
        if log2 is not None and log2 not in (0, 16):
            raise _inv(f"{what}: invalid custom page size 2**{log2}")
        if log2 is not None and not _has(mc, "custom-page-sizes"):
            raise _inv(f"{what}: custom page sizes require the custom-page-sizes feature")
        page = 1 << (16 if log2 is None else log2)
        cap = (1 << 64) // page if lim.is64 else (1 << 32) // page
        if lim.is64 and log2 is None:
            cap = 1 << 48
        if lim.min > cap or (lim.max is not None and lim.max > cap):
            raise _inv(f"{what}: memory size must be at most {cap} pages")
        if lim.shared:
            if lim.max is None:
                raise _inv(f"{what}: shared memory must have maximum size")
            if not _has(mc, "threads"):
                raise _inv(f"{what}: shared memories require the threads feature")
    else:
        cap = (1 << 64) - 1 if lim.is64 else (1 << 32) - 1
        if lim.min > cap or (lim.max is not None and lim.max > cap):
            raise _inv(f"{what}: table size must be at most {cap}")
        if lim.shared:
            raise _inv(f"{what}: tables cannot be shared")


def _table_type(mc: ModuleContext, tt, what: str):
    elem = mc.tc.val(tt.elem, mvp_funcref=True)
    _limits(mc, tt.limits, what, False)
    mc.tables.append((elem, I64 if tt.limits.is64 else I32))
    return elem


def _memory_type(mc: ModuleContext, mt, what: str) -> None:
    _limits(mc, mt.limits, what, True)
    mc.mems.append(bool(mt.limits.is64))


def _tag_type(mc: ModuleContext, tt, what: str) -> None:
    ft = mc.tc.func_type(tt.type_idx, what)
    if ft.results:
        raise _inv(f"{what}: non-empty tag result type {ft}")
    mc.tags.append(ft)


def _imports(mc: ModuleContext) -> None:
    for i, imp in enumerate(mc.m.imports):
        what = f"import {i} {imp.module!r} {imp.name!r}"
        k = imp.kind
        if k == ExternKind.FUNC:
            mc.funcs.append(mc.tc.func_type(imp.desc, what))
            mc.func_type_idx.append(imp.desc)
        elif k == ExternKind.TABLE:
            _table_type(mc, imp.desc, what)
        elif k == ExternKind.MEMORY:
            _memory_type(mc, imp.desc, what)
        elif k == ExternKind.GLOBAL:
            if imp.desc.mutable and not _has(mc, "mutable-global"):
                raise _inv(f"{what}: mutable global imports require the mutable-global feature")
            mc.globals.append((mc.tc.val(imp.desc.val), imp.desc.mutable))
        else:
            if not _has(mc, "exceptions") and not _has(mc, "legacy-exceptions"):
                raise _inv(f"{what}: tags require the exceptions feature")
            _tag_type(mc, imp.desc, what)
    mc.nimported_globals = len(mc.globals)


def _collect_refs(mc: ModuleContext) -> None:
    """C.refs: functions referenced outside function bodies (ref.func there needs them declared)."""
    m = mc.m
    refs = mc.refs
    exprs = [g.init for g in m.globals] + [t.init for t in m.tables if t.init is not None]
    for e in m.elems:
        if e.offset is not None:
            exprs.append(e.offset)
        for x in e.init:
            if isinstance(x, int):
                refs.add(x)
            else:
                exprs.append(x)
    exprs += [d.offset for d in m.datas if d.offset is not None]
    for ce in exprs:
        for ins in ce.instrs:
            if ins[0].name == "ref.func":
                refs.add(ins[1][0])
    for ex in m.exports:
        if ex.kind == ExternKind.FUNC:
            refs.add(ex.index)


def const_expr(mc: ModuleContext, checker: BodyChecker, ce: Any, expected: Any, nglobals: int, what: str) -> None:
    """A constant expression producing ``expected``, reading only the first ``nglobals`` globals."""
    instrs = ce.instrs
    for ins in instrs:
        name = ins[0].name
        if name not in CONST_OPS:
            raise _inv(f"{what}: constant expression required, found {name}")
        if name in _EXTENDED and not _has(mc, "extended-const"):
            raise _inv(f"{what}: constant expression required ({name} needs the extended-const feature)")
        if name == "global.get":
            g = ins[1][0]
            if g >= nglobals:
                raise _inv(f"{what}: unknown global {g}")
            if mc.globals[g][1]:
                raise _inv(f"{what}: constant expression required (global.get of mutable global {g})")
            if g >= mc.nimported_globals and not _has(mc, "gc"):
                raise _inv(f"{what}: unknown global {g}: constant expressions may only read imported globals")
    try:
        checker.check(-1, FuncType((), (expected,)), (), instrs)
    except Invalid as e:
        raise _inv(f"{what}: {e.message}") from None
    except ValidationError as e:
        raise _inv(f"{what}: {e.message}") from None


def _definitions(mc: ModuleContext, checker: BodyChecker) -> None:
    m = mc.m
    tc = mc.tc
    for t in m.funcs:
        mc.funcs.append(tc.func_type(t, f"func {len(mc.funcs)}"))
        mc.func_type_idx.append(t)
    nimp_tables = len(mc.tables)
    for i, tab in enumerate(m.tables):
        what = f"table {nimp_tables + i}"
        elem = _table_type(mc, tab.type, what)
        if tab.init is not None and not (_has(mc, "function-references") or _has(mc, "gc")):
            raise _inv(f"{what}: tables with expression initializers require the function-references proposal")
        if tab.init is None:
            if not tc.defaultable(elem):
                raise _inv(f"{what}: type mismatch: a table of non-nullable {elem} needs an initializer")
        else:
            const_expr(mc, checker, tab.init, elem, mc.nimported_globals, what)
    if len(mc.tables) > 1 and not _has(mc, "reference-types"):
        raise _inv("multiple tables require the reference-types feature")
    for mt in m.memories:
        _memory_type(mc, mt, f"memory {len(mc.mems)}")
    if len(mc.mems) > 1 and not _has(mc, "multi-memory"):
        raise _inv("multiple memories require the multi-memory feature")
    for tag in m.tags:
        if not _has(mc, "exceptions") and not _has(mc, "legacy-exceptions"):
            raise _inv("tags require the exceptions feature")
        _tag_type(mc, tag.type, f"tag {len(mc.tags)}")
    for g in m.globals:
        gi = len(mc.globals)
        t = tc.val(g.type.val)
        const_expr(mc, checker, g.init, t, gi, f"global {gi}")
        mc.globals.append((t, g.type.mutable))


_SPACES = {ExternKind.FUNC: ("funcs", "function"), ExternKind.TABLE: ("tables", "table"),
           ExternKind.MEMORY: ("mems", "memory"), ExternKind.GLOBAL: ("globals", "global"),
           ExternKind.TAG: ("tags", "tag")}


def _exports_start(mc: ModuleContext) -> None:
    seen: set[str] = set()
    for ex in mc.m.exports:
        if ex.name in seen:
            raise _inv(f"duplicate export name {ex.name!r}")
        seen.add(ex.name)
        attr, word = _SPACES[ex.kind]
        if ex.index >= len(getattr(mc, attr)):
            raise _inv(f"export {ex.name!r}: unknown {word} {ex.index}")
        if ex.kind == ExternKind.GLOBAL and mc.globals[ex.index][1] and not _has(mc, "mutable-global"):
            raise _inv(f"export {ex.name!r}: mutable globals cannot be exported without mutable-global")
    start = mc.m.start
    if start is not None:
        if start >= len(mc.funcs):
            raise _inv(f"unknown function {start} (start function)")
        ft = mc.funcs[start]
        if ft.params or ft.results:
            raise _inv(f"start function {start} must have type [] -> [] but has {ft}")


def _bulk(mc: ModuleContext, seg, what: str) -> None:
    """Segment encodings beyond the MVP's (passive, declarative, explicit index, expressions) need bulk memory."""
    flags = seg.flags if seg.flags is not None else (0 if seg.mode == "active" else 1)
    if flags and not _has(mc, "bulk-memory"):
        raise _inv(f"{what}: bulk memory must be enabled for segment encoding {flags}")


def _elems(mc: ModuleContext, checker: BodyChecker) -> None:
    tc = mc.tc
    nglobals = len(mc.globals)
    for i, e in enumerate(mc.m.elems):
        what = f"elem {i}"
        _bulk(mc, e, what)
        if e.flags is not None and e.flags & 4 and not _has(mc, "reference-types"):
            raise _inv(f"{what}: reference types support is not enabled (segment encoding {e.flags})")
        et = tc.val(e.elem_type, mvp_funcref=True)
        if (e.flags is not None and e.flags < 4) or (e.flags is None and e.init and isinstance(e.init[0], int)):
            et = tc.mkref(False, "func")   # a vector of function indices: (ref func)
        for x in e.init:
            if isinstance(x, int):
                if x >= len(mc.funcs):
                    raise _inv(f"{what}: unknown function {x}")
            else:
                const_expr(mc, checker, x, et, nglobals, what)
        if e.mode == "active":
            if e.table >= len(mc.tables):
                raise _inv(f"{what}: unknown table {e.table}")
            telem, at = mc.tables[e.table]
            if not tc.sub(et, telem):
                raise _inv(f"{what}: type mismatch: elements of type {et} into table {e.table} of {telem}")
            const_expr(mc, checker, e.offset, at, nglobals, what)
        mc.elems.append(et)


def _datas(mc: ModuleContext, checker: BodyChecker) -> None:
    nglobals = len(mc.globals)
    for i, d in enumerate(mc.m.datas):
        _bulk(mc, d, f"data {i}")
        if d.mode == "active":
            what = f"data {i}"
            if d.memory >= len(mc.mems):
                raise _inv(f"{what}: unknown memory {d.memory}")
            const_expr(mc, checker, d.offset, I64 if mc.mems[d.memory] else I32, nglobals, what)


def _read_all(m: Module) -> None:
    """Decode every known section in file order (so malformed bytes are a DecodeError first)."""
    for attr in ("types", "imports", "funcs", "tables", "memories", "tags", "globals", "exports",
                 "elems", "code", "datas"):
        getattr(m, attr)
    _ = m.start
    dc = m.datacount
    if len(m.funcs) != len(m.code):
        raise DecodeError("function and code section have inconsistent lengths", None,
                          f"{len(m.funcs)} functions, {len(m.code)} bodies")
    if dc is not None and dc != len(m.datas):
        raise DecodeError("data count and data section have inconsistent lengths", None,
                          f"data count {dc}, {len(m.datas)} data segments")


def validate_module(m: Module, features: frozenset[str], *, bodies: Any = None) -> None:
    """Validate ``m`` (a parsed Module) with ``features``; ``bodies`` limits the code check to those indices."""
    _read_all(m)
    if "compact-imports" not in features:
        groups = getattr(m, "compact_import_groups", None)
        if groups:
            form = groups[0][2]
            raise DecodeError(f"invalid leading byte 0x{form:02X} with compact imports proposal disabled",
                              None, f"import {groups[0][0]}")
    if m.datacount is not None and "bulk-memory" not in features:
        raise ValidationError("data count section requires the bulk-memory proposal")
    mc = ModuleContext(m, features)
    mc.tc.build()
    mc.ndata = m.datacount
    _imports(mc)
    _collect_refs(mc)
    checker = BodyChecker(mc)
    _definitions(mc, checker)
    _exports_start(mc)
    _elems(mc, checker)
    _datas(mc, checker)
    check_code(mc, checker, bodies)


def _decode(body: FuncBody):
    if body.decoded:
        return body.locals, body.instrs, body.offset if not body.modified else None
    locals_, instrs = decode_body(body.raw, body.offset or 0)
    return locals_, instrs, body.offset


def check_code(mc: ModuleContext, checker: BodyChecker, which: Any = None) -> None:
    """Check the function bodies (all, or the indices in ``which``); big sections in parallel."""
    code = mc.m.code
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        if which is None:
            sizes = [len(b.raw) if not b.decoded else 0 for b in code]
            jobs = jobs_for(sum(sizes))
            if jobs > 1:
                run_chunks(lambda chunk: _check_bodies(mc, checker, chunk), sizes, jobs)
                return
            which = range(len(code))
        _check_bodies(mc, checker, which)
    finally:
        if paused:
            gc.enable()


def _check_bodies(mc: ModuleContext, checker: BodyChecker, which: Any) -> None:
    m = mc.m
    code = m.code
    nimp = len(mc.funcs) - len(code)
    for i in which:
        body = code[i]
        locals_, instrs, offset = _decode(body)
        fidx = nimp + i
        try:
            checker.check(fidx, mc.funcs[fidx], locals_, instrs)
        except DecodeError:
            raise
        except (Invalid, ValidationError) as e:
            _later_malformed(m, i + 1)
            raise body_error(mc, fidx, body, instrs, offset, checker.pos, e) from None


def _later_malformed(m: Module, start: int) -> None:
    """A malformed body after an invalid one makes the module malformed (decoding comes first)."""
    for body in m.code[start:]:
        if not body.decoded:
            decode_body(body.raw, body.offset or 0)


def func_name(m: Module, fidx: int) -> str | None:
    try:
        ns = m.names
    except Exception:  # a broken name section only costs the name
        return None
    return None if ns is None else ns.funcs.get(fidx)


def body_error(mc: ModuleContext, fidx: int, body: FuncBody, instrs: list[Instr], offset: int, pos: int, e: Any) -> ValidationError:
    """The ValidationError for a failure at instruction ``pos`` of function ``fidx``."""
    at = None
    ins = instrs[pos] if 0 <= pos < len(instrs) else None
    if offset is not None:
        raw = body.raw
        at = offset + len(raw) - sum(len(x[2]) for x in instrs) + sum(len(x[2]) for x in instrs[:pos])
    name = func_name(mc.m, fidx)
    where = f"func {fidx}" + (f" <{name}>" if name else "") + (f" at 0x{at:x}" if at is not None else "")
    msg = e.message
    err = ValidationError(f"{where}: {msg}", at)
    err.func = fidx
    err.func_name = name
    err.instr = ins[0].name if ins is not None else None
    err.expected = getattr(e, "expected", None)
    err.found = getattr(e, "found", None)
    err.reason = msg
    return err
