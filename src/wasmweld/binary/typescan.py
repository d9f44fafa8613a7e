"""Which value types a module uses, read from its section bytes without decoding it.

:func:`only_simple_valtypes` answers one question cheaply: does every type in the
type section, and every imported or defined global and table, use only the six
one-byte value types ``i32 i64 f32 f64 funcref externref``
(:data:`SIMPLE_VALTYPE_CODES`, the ones wasmtime's Python API can represent)? It
walks the type, import, table and global sections with :class:`~wasmweld.binary.reader.Reader`
(constant initialisers are skipped through the opcode table) and says False as soon
as it meets anything else or anything it does not read: another type form (rec groups,
subtypes, structs, arrays), a longer value type (``v128``, ``(ref ...)``, ``anyref`` ...),
a table with an initialiser, a prefixed instruction in an initialiser, bytes it
cannot parse. So True is certain; False only means "decode to know"::

    only_simple_valtypes(wat2wasm('(module (import "env" "memory" (memory 1))'
                                  ' (global (export "g") i32 (i32.const 8)) (func (export "f") (param f64)))'))
    # True
    only_simple_valtypes(wat2wasm('(module (func (export "f") (param v128)))'))     # False
    only_simple_valtypes(wat2wasm('(module (rec (type (func))))'))                   # False (not read)

The run-time World uses it to skip building a type report (:mod:`wasmweld.runtime.typecheck`)
for the usual module, which would import and run the whole module model.
"""

from __future__ import annotations

from ..errors import WasmError
from .reader import Reader, iter_sections

__all__ = ["SIMPLE_VALTYPE_CODES", "only_simple_valtypes"]

#: the binary codes of i32 i64 f32 f64 funcref externref, each one byte (every other value type starts with
#: another byte: v128 0x7b, ``(ref ...)`` 0x63/0x64, anyref 0x6e ...)
SIMPLE_VALTYPE_CODES: frozenset[int] = frozenset((0x7F, 0x7E, 0x7D, 0x7C, 0x70, 0x6F))
_FUNC_FORM = 0x60  # a type section entry that is a plain (non-recursive, final) function type
_TYPE, _IMPORT, _TABLE, _GLOBAL = 1, 2, 4, 6  # the section ids read
_IMPORT_FUNC, _IMPORT_TABLE, _IMPORT_MEMORY, _IMPORT_GLOBAL, _IMPORT_TAG = range(5)
#: how constant-expression immediates are skipped (by the opcode table's immediate kind)
_CONST_IMMEDIATES = {"i32": "s32", "i64": "s64", "global": "u32", "func": "u32", "heaptype": "s33"}
_FLOAT_BYTES = {"f32": 4, "f64": 8}


class _Unsure(Exception):
    """Something this scan does not read: the caller decodes instead."""


def _limits(r: Reader) -> None:
    """Skip a limits field (flags, min, [max], [page size]), as ``typecodec.decode_limits`` reads it."""
    flags = r.byte()
    if flags & ~0x0F:
        raise _Unsure
    r.u64()
    if flags & 1:
        r.u64()
    if flags & 8:
        r.u32()


def _simple(r: Reader) -> None:
    if r.byte() not in SIMPLE_VALTYPE_CODES:
        raise _Unsure


def _const_expr(r: Reader) -> None:
    """Skip a constant expression made of one-byte instructions with plain immediates."""
    from .opcodes import END, SINGLE

    while True:
        op = SINGLE[r.byte()]
        if op is None:
            raise _Unsure
        if op is END:
            return
        for kind in op.imm:
            if kind in _FLOAT_BYTES:
                r.bytes(_FLOAT_BYTES[kind])
            elif kind in _CONST_IMMEDIATES:
                getattr(r, _CONST_IMMEDIATES[kind])()
            else:
                raise _Unsure


def _import(r: Reader) -> None:
    r.name()
    r.name()
    kind = r.byte()
    if kind == _IMPORT_FUNC:
        r.u32()
    elif kind == _IMPORT_TAG:  # attribute, type index
        r.byte()
        r.u32()
    elif kind == _IMPORT_TABLE:
        _simple(r)
        _limits(r)
    elif kind == _IMPORT_MEMORY:
        _limits(r)
    elif kind == _IMPORT_GLOBAL:
        _simple(r)
        r.byte()  # mutability
    else:
        raise _Unsure


def _section(sid: int, r: Reader) -> None:
    """Read section ``sid`` to its end; raise _Unsure at anything but the simple forms."""
    for _ in range(r.count()):
        if sid == _TYPE:
            if r.byte() != _FUNC_FORM:
                raise _Unsure
            for _ in range(2):  # params, results
                for _ in range(r.count()):
                    _simple(r)
        elif sid == _IMPORT:
            _import(r)
        elif sid == _TABLE:  # a reftype (a table with an initialiser starts with another byte), limits
            _simple(r)
            _limits(r)
        else:
            _simple(r)
            r.byte()  # mutability
            _const_expr(r)
    if not r.at_end():
        raise _Unsure


def only_simple_valtypes(wasm: bytes | bytearray) -> bool:
    """True when every type, imported or defined global and table of ``wasm`` uses only
    :data:`SIMPLE_VALTYPE_CODES` (see the module docstring); False when not or unsure."""
    try:
        for sec in iter_sections(wasm):
            if sec.id in (_TYPE, _IMPORT, _TABLE, _GLOBAL):
                _section(sec.id, Reader(wasm, sec.payload_offset, sec.end))
    except (_Unsure, WasmError, IndexError, ValueError):
        return False
    return True
