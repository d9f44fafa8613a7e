"""Constant expressions on bytes: build, recognise and evaluate them from the opcode table.

A constant expression is a short instruction sequence closed by ``end``::

    (global i32 (i32.const 5))          41 05 0b
    (global i32 (global.get 0))         23 00 0b
    (global i32 (i32.add (global.get 0) (i32.const 16)))   23 00 41 10 6a 0b   (extended-const)

:class:`wasmweld.items.ConstExpr` keeps these bytes and asks this module what
they mean: :func:`single` recognises an expression of one instruction
(``("i32.const", 5)``), :func:`evaluate` folds integer arithmetic over
``global.get`` values, :func:`encode_single` writes one. The opcodes come from
:mod:`wasmweld.binary.opcodes`; no other place outside ``binary/`` needs to know
the bytes of a constant expression.
"""

from __future__ import annotations

import struct
from typing import Any, Callable

from ..errors import DecodeError, EncodeError
from ..types import ABSTRACT_HEAP_CODES
from .leb import read_s32, read_s64, read_sN, read_u32, write_s, write_u
from .opcodes import BY_NAME, END
from .leb import ByteData

__all__ = ["single", "evaluate", "encode_single", "CONSTANT_OPS", "NUMERIC_CONST_CODES", "fast_end"]

_END = END.code
_I32 = BY_NAME["i32.const"].code
_I64 = BY_NAME["i64.const"].code
_F32 = BY_NAME["f32.const"].code
_F64 = BY_NAME["f64.const"].code
_GLOBAL_GET = BY_NAME["global.get"].code
_REF_NULL = BY_NAME["ref.null"].code
_REF_FUNC = BY_NAME["ref.func"].code

#: first bytes of the one-instruction expressions that refer to no index (i32/i64/f32/f64.const)
NUMERIC_CONST_CODES = frozenset({_I32, _I64, _F32, _F64})

#: the instructions that make a constant by themselves (no global.get, no arithmetic)
CONSTANT_OPS = frozenset({"i32.const", "i64.const", "f32.const", "f64.const", "v128.const", "ref.null", "ref.func"})

_ARITH: dict[str, tuple[Callable[[int, int], int], int]] = {
    "i32.add": (lambda a, b: a + b, 32), "i32.sub": (lambda a, b: a - b, 32), "i32.mul": (lambda a, b: a * b, 32),
    "i64.add": (lambda a, b: a + b, 64), "i64.sub": (lambda a, b: a - b, 64), "i64.mul": (lambda a, b: a * b, 64),
}


def fast_end(data: ByteData, pos: int, end: int, base: int = 0) -> int:
    """Where a one-instruction ``i32/i64/f32/f64.const``, ``global.get`` or ``ref.func`` expression
    starting at ``pos`` ends (one past its ``end``), or -1 when it is anything else (decode it fully)."""
    if pos >= end:
        return -1
    op = data[pos]
    p = -1
    if op == _I32:
        p = read_s32(data, pos + 1, end, base)[1]
    elif op == _GLOBAL_GET or op == _REF_FUNC:
        p = read_u32(data, pos + 1, end, base)[1]
    elif op == _I64:
        p = read_s64(data, pos + 1, end, base)[1]
    elif op == _F64:
        p = pos + 9
    elif op == _F32:
        p = pos + 5
    if 0 <= p < end and data[p] == _END:
        return p + 1
    return -1


def single(raw: bytes, instrs: Callable[[], list] | None = None) -> tuple[str, Any] | None:
    """``(name, immediate)`` when ``raw`` is one instruction then ``end``, else None.

    i32/i64 constants are signed ints, f32/f64 Python floats, ``global.get`` /
    ``ref.func`` indices; other instructions (``ref.null``, ``v128.const``)
    are decoded through ``instrs()`` when given.
    """
    n = len(raw)
    if n < 2 or raw[-1] != _END:
        return None
    op = raw[0]
    try:
        if op == _I32 or op == _I64:
            v, p = read_sN(raw, 1, n, 32 if op == _I32 else 64)
            return ("i32.const" if op == _I32 else "i64.const", v) if p == n - 1 else None
        if op == _GLOBAL_GET or op == _REF_FUNC:
            v, p = read_u32(raw, 1, n)
            return ("global.get" if op == _GLOBAL_GET else "ref.func", v) if p == n - 1 else None
        if op == _F32:
            return ("f32.const", struct.unpack("<f", raw[1:5])[0]) if n == 6 else None
        if op == _F64:
            return ("f64.const", struct.unpack("<d", raw[1:9])[0]) if n == 10 else None
    except DecodeError:
        return None
    if instrs is None:
        return None
    try:
        got = instrs()
    except DecodeError:
        return None
    if len(got) != 2:
        return None
    ins = got[0]
    return ins.name, (ins.args[0] if ins.args else None)


def evaluate(instrs: list[Any], global_value: Callable[[int], int | None] | None = None) -> int | None:
    """The integer an i32/i64 expression computes (two's complement, unsigned), or None.

    Folds ``i32/i64.const``, ``global.get`` (through ``global_value(index)``,
    None when unknown) and the extended-const ``add``/``sub``/``mul``.
    """
    stack: list[Any] = []
    for ins in instrs:
        name = ins.name
        if name == "end":
            break
        if name == "i32.const":
            stack.append(ins.args[0] & 0xFFFFFFFF)
        elif name == "i64.const":
            stack.append(ins.args[0] & 0xFFFFFFFFFFFFFFFF)
        elif name == "global.get":
            stack.append(global_value(ins.args[0]) if global_value is not None else None)
        elif name in _ARITH:
            if len(stack) < 2:
                return None
            b, a = stack.pop(), stack.pop()
            fn, bits = _ARITH[name]
            stack.append(None if a is None or b is None else fn(a, b) & ((1 << bits) - 1))
        else:
            return None
    if len(stack) != 1:
        return None
    return stack[0]


def encode_single(name: str, value: Any) -> bytes:
    """The bytes of the constant expression ``(name value) end`` for the one-instruction forms."""
    if name == "i32.const":
        value &= 0xFFFFFFFF
        if value >= 1 << 31:
            value -= 1 << 32
        return bytes((_I32,)) + write_s(value) + bytes((_END,))
    if name == "i64.const":
        value &= 0xFFFFFFFFFFFFFFFF
        if value >= 1 << 63:
            value -= 1 << 64
        return bytes((_I64,)) + write_s(value) + bytes((_END,))
    if name == "f32.const":
        return bytes((_F32,)) + struct.pack("<f", value) + bytes((_END,))
    if name == "f64.const":
        return bytes((_F64,)) + struct.pack("<d", value) + bytes((_END,))
    if name == "global.get":
        return bytes((_GLOBAL_GET,)) + write_u(value) + bytes((_END,))
    if name == "ref.func":
        return bytes((_REF_FUNC,)) + write_u(value) + bytes((_END,))
    if name == "ref.null":
        if isinstance(value, str):
            if value not in ABSTRACT_HEAP_CODES:
                raise EncodeError(f"unknown heap type {value!r}")
            ht = bytes((ABSTRACT_HEAP_CODES[value],))
        else:
            ht = write_s(value)
        return bytes((_REF_NULL,)) + ht + bytes((_END,))
    raise EncodeError(f"no one-instruction constant expression {name!r}")
