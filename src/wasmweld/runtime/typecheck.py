"""Which imports and exports wasmtime-py cannot describe, found from the module's own bytes.

wasmtime's Python API knows five value types: ``i32 i64 f32 f64`` and the
nullable ``funcref``/``externref``. Asking it about any other one (``v128``,
``anyref``, ``(ref $t)``, ``exnref`` ...) aborts the whole process (a Rust
panic inside the C API, SIGABRT, no message). So the World never asks: it
reads the types from the module's type section with wasmweld's own decoder
and keeps, for each import and export that uses such a type, a
:class:`Unsupported` record with the WAT-style signature and the first type
it cannot handle::

    ;; (module (func (export "dot") (param v128 v128) (result i32) ...))
    report = type_report(wasm)
    report.exports["dot"]       # Unsupported(kind='func', desc='func (v128, v128) -> (i32)', bad='v128',
                                #             params=('v128', 'v128'), results=('i32',))

Modules without such types (the usual case) give an empty report. The
report is JSON-serialisable (:meth:`TypeReport.to_json`) so compiled artifacts
carry it and a warm start need not decode anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wasmweld.errors import WasmError
from wasmweld.record import field, record
if TYPE_CHECKING:  # wasmweld.module is imported when a type report is made: World() stays cheap
    from wasmweld.module import Module

__all__ = ["Unsupported", "TypeReport", "type_report", "unsupported_valtype", "trap_stub", "PYTHON_VALTYPES"]

#: value types wasmtime-py can represent (its names; ``externref`` it calls ``anyref``)
PYTHON_VALTYPES = ("i32", "i64", "f32", "f64", "funcref", "externref")


@record(frozen=True, slots=True)
class Unsupported:
    """An import or export whose type uses a value type wasmtime-py cannot represent (immutable, compared
    and hashed by value)."""

    kind: str  # func | global | table | tag
    desc: str  # WAT-style, e.g. "func (i32, v128) -> ()"
    bad: str  # the first unsupported value type, e.g. "v128"
    params: tuple[str, ...] = ()
    results: tuple[str, ...] = ()

    def to_json(self) -> list[Any]:
        """``[kind, desc, bad, params, results]`` (for the artifact cache)."""
        return [self.kind, self.desc, self.bad, list(self.params), list(self.results)]

    @classmethod
    def from_json(cls, v: Any) -> "Unsupported":
        kind, desc, bad, params, results = v
        return cls(str(kind), str(desc), str(bad), tuple(map(str, params)), tuple(map(str, results)))


@record(slots=True)
class TypeReport:
    """Unsupported imports (by position in the import list) and exports (by name); compared by value."""

    imports: dict[int, Unsupported] = field(default_factory=dict)
    exports: dict[str, Unsupported] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (for the artifact cache)."""
        return {"imports": {str(i): u.to_json() for i, u in self.imports.items()},
                "exports": {n: u.to_json() for n, u in self.exports.items()}}

    @classmethod
    def from_json(cls, v: Any) -> "TypeReport | None":
        """The report stored in an artifact's metadata; None when absent or damaged."""
        try:
            return cls({int(i): Unsupported.from_json(u) for i, u in v["imports"].items()},
                       {str(n): Unsupported.from_json(u) for n, u in v["exports"].items()})
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def unsupported_valtype(vt: Any) -> str | None:
    """The WAT name of ``vt`` (a :mod:`wasmweld.types` value type) if wasmtime-py cannot represent it."""
    from wasmweld.types import NumType, RefType

    if isinstance(vt, NumType):
        return None if vt.name != "v128" else "v128"
    if isinstance(vt, RefType) and vt.nullable and vt.heap in ("func", "extern"):
        return None
    return str(vt)


def _func(ft, kind: str = "func") -> Unsupported | None:
    params = tuple(str(t) for t in ft.params)
    results = tuple(str(t) for t in ft.results)
    bad = next((b for b in map(unsupported_valtype, (*ft.params, *ft.results)) if b), None)
    if bad is None:
        return None
    return Unsupported(kind, f"{kind} ({', '.join(params)}) -> ({', '.join(results)})", bad, params, results)


def _describe(m: Module, kind, desc_or_index: Any, *, imported: bool) -> Unsupported | None:
    from wasmweld.types import ExternKind, FuncType

    if kind == ExternKind.FUNC:
        ft = m.type_list()[desc_or_index].comp if imported else m.func_type(desc_or_index)
        return _func(ft) if isinstance(ft, FuncType) else None
    if kind == ExternKind.GLOBAL:
        gt = desc_or_index if imported else m.global_type(desc_or_index)
        bad = unsupported_valtype(gt.val)
        return Unsupported("global", f"global {'(mut ' + str(gt.val) + ')' if gt.mutable else gt.val}", bad) \
            if bad else None
    if kind == ExternKind.TABLE:
        tt = desc_or_index if imported else m.table_type(desc_or_index)
        bad = unsupported_valtype(tt.elem)
        return Unsupported("table", f"table {tt.elem}", bad) if bad else None
    return None


def type_report(wasm: bytes) -> TypeReport:
    """Decode the type, import, function, global, table and export sections of ``wasm`` and report.

    A module wasmweld cannot decode gives an empty report (wasmtime compiled it,
    so its types are whatever wasmtime says; nothing better is known).
    """
    from wasmweld.module import parse

    report = TypeReport()
    try:
        m = parse(wasm)
        if not m.types:  # no types: nothing can be unsupported except a global or table type
            if not any(imp.kind in (3, 1) for imp in m.imports) and not m.globals and not m.tables:
                return report
        for i, imp in enumerate(m.imports):
            u = _describe(m, imp.kind, imp.desc, imported=True)
            if u is not None:
                report.imports[i] = u
        for ex in m.exports:
            u = _describe(m, ex.kind, ex.index, imported=False)
            if u is not None:
                report.exports[ex.name] = u
    except (WasmError, IndexError, TypeError, RecursionError):
        return TypeReport()
    return report


def trap_stub(wasm: bytes, import_index: int) -> bytes:
    """A module exporting ``stub``: what import ``import_index`` of ``wasm`` asks for, for a type wasmtime-py
    cannot represent (a host-made stub would need it to).

    Functions trap (``unreachable``); globals hold their type's default (``ref.null``,
    ``v128.const 0``, or for a non-nullable function reference a trapping function);
    tables are filled the same way. The stub module copies the importer's whole type
    section so that concrete reference types keep their meaning::

        (module (type ...the importer's types...) (func (export "stub") (type $t) unreachable))

    Raises LinkError when no such value exists (a non-nullable non-function reference).
    """
    from wasmweld.binary.instr import Instr
    from wasmweld.errors import LinkError
    from wasmweld.module import ConstExpr, Export, FuncBody, Global, Module, Table, parse
    from wasmweld.types import ExternKind, FuncType, RecGroup, SubType

    src = parse(wasm)
    imp = src.imports[import_index]
    m = Module()
    m.types = list(src.types)
    types = src.type_list()

    def trap_func(tidx: int | None) -> int:
        """Index of a new function that traps, of type ``tidx`` (None: a new ``(func)`` type)."""
        if tidx is None:
            tidx = len(types) + len(m.types) - len(src.types)
            m.types = list(m.types) + [RecGroup((SubType(FuncType()),))]
        m.funcs = list(m.funcs) + [tidx]
        m.code = list(m.code) + [FuncBody.from_instrs([], [Instr.make("unreachable")])]
        return len(m.funcs) - 1

    def default(vt) -> ConstExpr:
        if getattr(vt, "name", None) == "v128":
            return ConstExpr.from_instrs([Instr.make("v128.const", bytes(16))])
        if getattr(vt, "nullable", False):
            return ConstExpr.ref_null(vt.heap)
        heap = getattr(vt, "heap", None)
        if heap == "func" or (isinstance(heap, int) and heap < len(types) and isinstance(types[heap].comp, FuncType)):
            return ConstExpr.from_instrs([Instr.make("ref.func", trap_func(heap if isinstance(heap, int) else None))])
        raise LinkError(f"cannot stub {imp.module}.{imp.name}: no default value of type {vt} exists")

    if imp.kind == ExternKind.FUNC:
        trap_func(imp.desc)
        m.exports = [Export("stub", ExternKind.FUNC, 0)]
    elif imp.kind == ExternKind.GLOBAL:
        m.globals = [Global(imp.desc, default(imp.desc.val))]
        m.exports = [Export("stub", ExternKind.GLOBAL, 0)]
    elif imp.kind == ExternKind.TABLE:
        elem = imp.desc.elem
        m.tables = [Table(imp.desc, None if elem.nullable else default(elem))]
        m.exports = [Export("stub", ExternKind.TABLE, 0)]
    else:
        raise LinkError(f"cannot stub {imp.module}.{imp.name} (a {imp.kind})")
    return m.encode()
