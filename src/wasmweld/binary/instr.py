"""Instructions: decoding and encoding of expressions and function bodies.

An :class:`Instr` is an immutable ``(op, args, raw)`` triple: ``op`` is the
:class:`~wasmweld.binary.opcodes.OpInfo` row, ``args`` the immediates in binary
order (see the kinds table in :mod:`wasmweld.binary.opcodes`) and ``raw`` the
instruction's bytes. A decoded instruction keeps the bytes it was read from, so
an unchanged instruction re-encodes exactly, LLVM's 5-byte padded indices
included; a new one (``Instr.make``) gets the shortest encoding::

    (func (local i32) (call 3) (i32.load offset=8 (local.get 0)) drop)
    body bytes: 01 01 7f | 10 03 | 20 00 | 28 02 08 | 1a | 0b
    decode_body(body) -> ([(1, I32)],
                          [call 3, local.get 0, i32.load MemArg(2, 8, 0), drop, end])
    Instr.make("call", 3).raw == b"\\x10\\x03"
    decode_body(b"\\x00\\x10\\x83\\x80\\x80\\x80\\x00\\x0b")[1][0]   # call 3, padded
        -> args (3,), raw b"\\x10\\x83\\x80\\x80\\x80\\x00"

Equality of instructions compares ``op`` and ``args`` only (a padded and a
minimal ``call 3`` are equal). Decoding shares one ``Instr`` object between
identical byte sequences, which keeps the 7.5 million instructions of a large
module cheap; since instructions are immutable this is invisible.
"""

from __future__ import annotations

import struct
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple, Sequence

from ..errors import DecodeError, EncodeError
from ..types import ABSTRACT_HEAP_CODES as _ABSTRACT
from ..types import NumType, RefType, ValType
from . import opcodes as _opc
from .leb import read_s32, read_s64, read_u32, read_u64, write_s, write_u
from .opcodes import BY_NAME, PREFIXED, SINGLE, OpInfo
from .typecodec import (
    decode_blocktype, decode_heaptype, decode_valtype, decode_valtypes,
    encode_blocktype, encode_heaptype, encode_valtype, encode_valtypes,
)
from .leb import ByteData

__all__ = [
    "Instr", "MemArg", "Catch", "CATCH_KINDS", "LocalList", "IMM_READERS", "read_opcode",
    "decode_expr", "decode_body", "decode_locals", "encode_instrs", "encode_expr",
    "encode_body", "encode_locals", "f32_bits", "f64_bits", "bits_f32", "bits_f64", "may_use_data_index", "data_index_op", "DATA_INDEX_PREFIX",
    "instr_of_bytes",
]

MAX_LOCALS = 2 ** 32 - 1


class MemArg(NamedTuple):
    """A memory access immediate: ``align`` (log2 exponent), ``offset``, ``memory`` index."""

    align: int
    offset: int = 0
    memory: int = 0


#: catch clause kinds of ``try_table`` in code order 0..3
CATCH_KINDS = ("catch", "catch_ref", "catch_all", "catch_all_ref")
_CATCH_CODES = {k: i for i, k in enumerate(CATCH_KINDS)}


class Catch(NamedTuple):
    """One ``try_table`` catch clause: ``kind`` (see CATCH_KINDS), ``tag`` (None for catch_all*), ``label``."""

    kind: str
    tag: int | None
    label: int


_tuple_new = tuple.__new__


class Instr(tuple[Any, ...]):
    """One instruction: ``op`` (OpInfo), ``args`` (tuple of immediates), ``raw`` (its bytes).

    Build one with ``Instr.make("call", 3)`` or ``Instr(op_or_name, args)``.
    ``name`` is ``op.name``. Instances are immutable; ``==`` ignores ``raw``.
    """

    __slots__ = ()

    def __new__(cls, op: OpInfo | str, args: Iterable[Any] = (), raw: bytes | None = None) -> "Instr":
        if isinstance(op, str):
            info = BY_NAME.get(op)
            if info is None:
                raise EncodeError(f"unknown instruction {op!r}")
            op = info
        args = _normalize(op, tuple(args))
        if raw is None:
            raw = _encode_one(op, args)
        return _tuple_new(cls, (op, args, bytes(raw)))

    @classmethod
    def make(cls, name: str, *args: Any) -> "Instr":
        """``Instr.make("i32.const", 7)``, ``Instr.make("i32.load", MemArg(2, 8))``, ``Instr.make("br_table", (0, 1), 2)``."""
        return cls(name, args)

    if TYPE_CHECKING:   # the properties below, typed
        @property
        def op(self) -> OpInfo:
            """the OpInfo of this instruction"""

        @property
        def args(self) -> tuple[Any, ...]:
            """tuple of immediates in binary order"""

        @property
        def raw(self) -> bytes:
            """the encoded bytes of this instruction"""
    else:
        op = property(itemgetter(0), doc="the OpInfo of this instruction")
        args = property(itemgetter(1), doc="tuple of immediates in binary order")
        raw = property(itemgetter(2), doc="the encoded bytes of this instruction")

    @property
    def name(self) -> str:
        return self[0].name

    def encode(self) -> bytes:
        return self[2]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Instr):
            return self[0] == other[0] and self[1] == other[1]
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Instr):
            return not (self[0] == other[0] and self[1] == other[1])
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self[0].name, self[1]))

    def __getnewargs__(self) -> tuple[OpInfo, tuple[Any, ...], bytes]:
        return (self[0], self[1], self[2])

    def __repr__(self) -> str:
        if not self[1]:
            return f"Instr({self[0].name})"
        return f"Instr({self[0].name} {' '.join(map(repr, self[1]))})"

    __str__ = __repr__


# ====================================================================== float helpers

def f32_bits(x: float) -> int:
    """The IEEE-754 single precision bit pattern of ``x`` (what f32.const stores in args)."""
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64_bits(x: float) -> int:


    """The IEEE-754 double precision bit pattern of ``x`` (what f64.const stores in args)."""
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def bits_f32(bits: int) -> float:


    """The float whose single precision bit pattern is ``bits``."""
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def bits_f64(bits: int) -> float:


    """The float whose double precision bit pattern is ``bits``."""
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


# ====================================================================== immediate readers
# Each reader: (data, pos, end, base) -> (value, new_pos), raising DecodeError on bad input.

def _r_byte(data: ByteData, pos: int, end: int, base: int):
    if pos >= end:
        raise DecodeError("unexpected end", base + pos)
    return data[pos], pos + 1


def _r_zero(data: ByteData, pos: int, end: int, base: int):
    if pos >= end:
        raise DecodeError("unexpected end", base + pos)
    if data[pos] != 0:
        raise DecodeError("zero byte expected", base + pos)
    return None, pos + 1


def _r_f32(data: ByteData, pos: int, end: int, base: int):
    if pos + 4 > end:
        raise DecodeError("unexpected end", base + min(pos, end))
    return int.from_bytes(data[pos:pos + 4], "little"), pos + 4


def _r_f64(data: ByteData, pos: int, end: int, base: int):
    if pos + 8 > end:
        raise DecodeError("unexpected end", base + min(pos, end))
    return int.from_bytes(data[pos:pos + 8], "little"), pos + 8


def _r_16(data: ByteData, pos: int, end: int, base: int):
    if pos + 16 > end:
        raise DecodeError("unexpected end", base + min(pos, end))
    return bytes(data[pos:pos + 16]), pos + 16


def _r_labels(data: ByteData, pos: int, end: int, base: int):
    n, p = read_u32(data, pos, end, base)
    if n > end - p:
        raise DecodeError(f"length out of bounds: br_table with {n} labels in {end - p} bytes", base + pos)
    out: list[int] = []
    append = out.append
    for _ in range(n):
        if p < end and data[p] < 0x80:
            append(data[p])
            p += 1
        else:
            v, p = read_u32(data, p, end, base)
            append(v)
    return tuple(out), p


def _r_memarg(data: ByteData, pos: int, end: int, base: int):
    flags, p = read_u32(data, pos, end, base)
    if flags >= 0x80:
        raise DecodeError(f"malformed memop flags 0x{flags:x}", base + pos)
    mem = 0
    if flags & 0x40:
        flags &= ~0x40
        mem, p = read_u32(data, p, end, base)
    offset, p = read_u64(data, p, end, base)
    return MemArg(flags, offset, mem), p


def _r_castflags(data: ByteData, pos: int, end: int, base: int):
    if pos >= end:
        raise DecodeError("unexpected end", base + pos)
    f = data[pos]
    if f > 3:
        raise DecodeError(f"malformed cast flags 0x{f:02x}", base + pos)
    return f, pos + 1


def _r_catches(data: ByteData, pos: int, end: int, base: int):
    n, p = read_u32(data, pos, end, base)
    if 2 * n > end - p:
        raise DecodeError(f"length out of bounds: {n} catch clauses in {end - p} bytes", base + pos)
    out = []
    for _ in range(n):
        if p >= end:
            raise DecodeError("unexpected end", base + p)
        k = data[p]
        if k > 3:
            raise DecodeError(f"malformed catch clause kind 0x{k:02x}", base + p)
        p += 1
        tag = None
        if k < 2:
            tag, p = read_u32(data, p, end, base)
        label, p = read_u32(data, p, end, base)
        out.append(Catch(CATCH_KINDS[k], tag, label))
    return tuple(out), p


#: immediate kind -> its reader ``(data, pos, end, base) -> (value, new_pos)`` (full checks; a
#: DecodeError's offset is ``base + pos``); the values are what :attr:`Instr.args` holds
IMM_READERS: dict[str, Callable[[ByteData, int, int, int], tuple[Any, int]]] = {
    "u32": read_u32, "i32": read_s32, "i64": read_s64, "f32": _r_f32, "f64": _r_f64,
    "v128": _r_16, "lanes16": _r_16, "lane": _r_byte, "blocktype": decode_blocktype,
    "label": read_u32, "labels": _r_labels, "memarg": _r_memarg, "heaptype": decode_heaptype,
    "valtypes": decode_valtypes, "castflags": _r_castflags, "catches": _r_catches, "zero": _r_zero,
}
for _k in ("func", "type", "table", "memory", "global", "tag", "elem", "data", "local", "field"):
    IMM_READERS[_k] = read_u32
del _k
assert set(IMM_READERS) == _opc.IMM_KINDS

# ====================================================================== immediate writers + normalisation

_U32_KINDS = frozenset({"u32", "label", "func", "type", "table", "memory", "global", "tag",
                        "elem", "data", "local", "field"})


def _norm_u(v, bits, what):
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << bits:
        raise EncodeError(f"{what}: expected an unsigned {bits}-bit integer, got {v!r}")
    return v


def _norm_s(v, bits, what):
    if isinstance(v, bool) or not isinstance(v, int) or not -(1 << (bits - 1)) <= v < 1 << bits:
        raise EncodeError(f"{what}: expected a {bits}-bit integer, got {v!r}")
    if v >= 1 << (bits - 1):
        v -= 1 << bits
    return v


def _norm_float(v, bits, what):
    if isinstance(v, float):
        return f32_bits(v) if bits == 32 else f64_bits(v)
    return _norm_u(v, bits, what + " bit pattern")


def _norm_16(v, what):
    if isinstance(v, int) and not isinstance(v, bool):
        if not -(1 << 127) <= v < 1 << 128:
            raise EncodeError(f"{what}: value out of range for 128 bits")
        return (v & ((1 << 128) - 1)).to_bytes(16, "little")
    try:
        b = bytes(v)
    except (TypeError, ValueError):
        raise EncodeError(f"{what}: expected 16 bytes, got {v!r}") from None
    if len(b) != 16:
        raise EncodeError(f"{what}: expected 16 bytes, got {len(b)}")
    return b


def _norm_arg(kind: str, v, what: str):
    if kind in _U32_KINDS:
        return _norm_u(v, 32, what)
    if kind == "i32":
        return _norm_s(v, 32, what)
    if kind == "i64":
        return _norm_s(v, 64, what)
    if kind == "f32":
        return _norm_float(v, 32, what)
    if kind == "f64":
        return _norm_float(v, 64, what)
    if kind in ("v128", "lanes16"):
        return _norm_16(v, what)
    if kind == "lane":
        return _norm_u(v, 8, what)
    if kind == "castflags":
        if v not in (0, 1, 2, 3):
            raise EncodeError(f"{what}: cast flags must be 0..3, got {v!r}")
        return int(v)
    if kind == "labels":
        return tuple(_norm_u(x, 32, what) for x in v)
    if kind == "memarg":
        if not isinstance(v, MemArg):
            v = MemArg(*v)
        _norm_u(v.align, 6, what + " align")
        _norm_u(v.offset, 64, what + " offset")
        _norm_u(v.memory, 32, what + " memory")
        return v
    if kind == "blocktype":
        if v is None or isinstance(v, (NumType, RefType)):
            return v
        return _norm_u(v, 32, what)
    if kind == "heaptype":
        if isinstance(v, str):
            if v not in _ABSTRACT:
                raise EncodeError(f"{what}: unknown heap type {v!r}")
            return v
        return _norm_u(v, 32, what)
    if kind == "valtypes":
        v = tuple(v)
        for t in v:
            if not isinstance(t, (NumType, RefType)):
                raise EncodeError(f"{what}: not a value type: {t!r}")
        return v
    if kind == "catches":
        out = []
        for c in v:
            c = c if isinstance(c, Catch) else Catch(*c)
            if c.kind not in _CATCH_CODES:
                raise EncodeError(f"{what}: unknown catch kind {c.kind!r}")
            if (c.tag is None) != (c.kind in ("catch_all", "catch_all_ref")):
                raise EncodeError(f"{what}: {c.kind} {'needs' if c.tag is None else 'takes no'} tag")
            if c.tag is not None:
                _norm_u(c.tag, 32, what)
            _norm_u(c.label, 32, what)
            out.append(c)
        return tuple(out)
    raise EncodeError(f"{what}: unknown immediate kind {kind}")  # pragma: no cover


def _value_kinds(op: OpInfo) -> tuple[str, ...]:
    return tuple(k for k in op.imm if k not in _opc.VALUELESS_KINDS)


def _normalize(op: OpInfo, args: tuple[Any, ...]) -> tuple[Any, ...]:
    kinds = _VKINDS.get(op)
    if kinds is None:
        if not isinstance(op, OpInfo):
            raise EncodeError(f"not an instruction: {op!r}")
        kinds = _value_kinds(op)
    if len(args) != len(kinds):
        raise EncodeError(f"{op.name} takes {len(kinds)} immediate(s) ({', '.join(kinds) or 'none'}), got {len(args)}")
    return tuple(_norm_arg(k, a, f"{op.name} immediate {i}") for i, (k, a) in enumerate(zip(kinds, args)))


def _w_memarg(m: MemArg) -> bytes:
    if m.memory:
        return write_u(m.align | 0x40) + write_u(m.memory) + write_u(m.offset)
    return write_u(m.align) + write_u(m.offset)


def _w_catches(cs) -> bytes:
    out = bytearray(write_u(len(cs)))
    for c in cs:
        out.append(_CATCH_CODES[c.kind])
        if c.tag is not None:
            out += write_u(c.tag)
        out += write_u(c.label)
    return bytes(out)


def _w_labels(ls) -> bytes:
    return write_u(len(ls)) + b"".join(write_u(x) for x in ls)


def _w_blocktype(bt) -> bytes:
    try:
        return encode_blocktype(bt)
    except (ValueError, KeyError) as e:
        raise EncodeError(f"bad block type {bt!r}: {e}") from None


def _w_heaptype(ht) -> bytes:
    try:
        return encode_heaptype(ht)
    except ValueError as e:
        raise EncodeError(str(e)) from None


def _w_valtypes(ts) -> bytes:
    try:
        return encode_valtypes(ts)
    except (ValueError, KeyError) as e:
        raise EncodeError(f"bad value types {ts!r}: {e}") from None


_WRITERS: dict[str, Callable[[Any], bytes]] = {
    "i32": write_s, "i64": write_s,
    "f32": lambda v: v.to_bytes(4, "little"), "f64": lambda v: v.to_bytes(8, "little"),
    "v128": bytes, "lanes16": bytes, "lane": lambda v: bytes((v,)), "castflags": lambda v: bytes((v,)),
    "blocktype": _w_blocktype, "labels": _w_labels, "memarg": _w_memarg, "heaptype": _w_heaptype,
    "valtypes": _w_valtypes, "catches": _w_catches,
}
for _k in _U32_KINDS:
    _WRITERS[_k] = write_u
del _k


def _encode_one(op: OpInfo, args: tuple[Any, ...]) -> bytes:
    parts = [op.opcode]
    i = 0
    for kind in op.imm:
        if kind == "zero":
            parts.append(b"\x00")
            continue
        parts.append(_WRITERS[kind](args[i]))
        i += 1
    return b"".join(parts)


# ====================================================================== decoding tables

#: OpInfo -> value-carrying kinds
_VKINDS: dict[OpInfo, tuple[str, ...]] = {op: _value_kinds(op) for op in _opc.OPCODES}
#: OpInfo -> tuple of (reader, keeps_value)
_OP_READERS: dict[OpInfo, tuple] = {
    op: tuple((IMM_READERS[k], k not in _opc.VALUELESS_KINDS) for k in op.imm) for op in _opc.OPCODES
}

# Every distinct instruction byte string decoded so far -> its Instr (shared, immutable).
_CACHE: dict[Any, Any] = {}
_CACHE_LIMIT = 1 << 18

#: one shared Instr per no-immediate one-byte opcode (``end`` excluded: it closes blocks)
_SIMPLE: list[Any] = [None] * 256
#: 1 for one-byte opcodes with a single LEB128 immediate, 2 for plain memory loads/stores,
#: 3 for block/loop/if/try (a block type only)
_SHAPE: list[Any] = [0] * 256
#: per one-LEB opcode: Instr for each one-byte immediate value (filled lazily)
_SMALL: list[Any] = [None] * 256
#: nesting change of a one-byte opcode handled by the slow path
_DELTA: list[Any] = [0] * 256

for _op in _opc.OPCODES:
    if _op.prefix is not None:
        continue
    _c = _op.code
    if not _op.imm and _op.name != "end":
        _SIMPLE[_c] = _tuple_new(Instr, (_op, (), _op.opcode))
    elif len(_op.imm) == 1 and _op.imm[0] in _U32_KINDS | {"i32", "i64"} and _op.name != "delegate":
        _SHAPE[_c] = 1
        _SMALL[_c] = [None] * 128
    elif _op.imm == ("memarg",):
        _SHAPE[_c] = 2
    elif _op.imm == ("blocktype",):
        _SHAPE[_c] = 3
        _SMALL[_c] = [None] * 256
    if _op in _opc.BLOCK_OPS:
        _DELTA[_c] = 1
    elif _op.name == "delegate":
        _DELTA[_c] = -1
del _op, _c

#: prefixed opcodes (0xFB..0xFE): ``_PSHAPE[prefix][subop]`` is the layout of the immediates,
#: enough to find the instruction's extent and look its bytes up in the cache (a miss, or
#: an unknown/odd layout, takes the fully checked path): 0 none, 1 one byte, 2 16 bytes,
#: 3 memarg, 4 memarg + lane byte, 5 one LEB128, 6 two LEB128s
_PSHAPE: list[Any] = [None] * 256
_PSHAPE_OF = {(): 0, ("lane",): 1, ("v128",): 2, ("lanes16",): 2, ("memarg",): 3, ("memarg", "lane"): 4}
for _op in _opc.OPCODES:
    if _op.prefix is None:
        continue
    if _PSHAPE[_op.prefix] is None:
        _PSHAPE[_op.prefix] = {}
        _SHAPE[_op.prefix] = 4
    _shape = _PSHAPE_OF.get(_op.imm)
    if _shape is None and all(k in _U32_KINDS for k in _op.imm) and len(_op.imm) <= 2:
        _shape = 4 + len(_op.imm)
    if _shape is not None:
        _PSHAPE[_op.prefix][_op.code] = _shape
del _op, _shape

_END_INSTR = _tuple_new(Instr, (_opc.END, (), b"\x0b"))
_PREFIX_BYTES = frozenset(_opc.PREFIXES)


def read_opcode(data: ByteData, pos: int, end: int, base: int = 0) -> tuple[OpInfo, int]:
    """The opcode at ``data[pos]`` (one byte, or a prefix byte and its LEB128 sub-opcode): ``(op, new_pos)``.

    ``new_pos`` is where the immediates start; read them with :data:`IMM_READERS` (one per kind of
    ``op.imm``). Raises DecodeError (offset ``base + pos``) for a truncated or illegal opcode.
    """
    if pos >= end:
        raise DecodeError("unexpected end", base + pos)
    b = data[pos]
    if b in _PREFIX_BYTES:
        code, p = read_u32(data, pos + 1, end, base)
        op = PREFIXED[b].get(code)
        if op is None:
            raise DecodeError(f"illegal opcode 0x{b:02x} 0x{code:x}", base + pos)
        return op, p
    op = SINGLE[b]
    if op is None:
        raise DecodeError(f"illegal opcode 0x{b:02x}", base + pos)
    return op, pos + 1


def _decode_one(data: ByteData, pos: int, end: int, base: int):
    """Decode the instruction at ``pos`` (any opcode, full checks); returns (Instr, new_pos)."""
    start = pos
    op, p = read_opcode(data, pos, end, base)
    args = []
    for reader, keep in _OP_READERS[op]:
        v, p = reader(data, p, end, base)
        if keep:
            args.append(v)
    key = bytes(data[start:p])
    ins = _CACHE.get(key)
    if ins is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        ins = _CACHE[key] = _tuple_new(Instr, (op, tuple(args), key))
    return ins, p


def instr_of_bytes(raw: bytes) -> Instr:
    """The decoded :class:`Instr` of one whole instruction's bytes, the shared object :func:`decode_expr`
    gives for them (the cache, the one-byte singletons, ``end``); how instructions decoded elsewhere (a
    second process) become this process's own objects::

        instr_of_bytes(b"\\x10\\x03") == Instr.make("call", 3)

    Raises DecodeError unless ``raw`` is exactly one instruction."""
    n = len(raw)
    if n <= 2:      # the tables decode_expr reads first (they outlive a clearing of the cache)
        b = raw[0] if n else -1
        if n == 1:
            ins = _SIMPLE[b]
            if ins is not None:
                return ins
            if b == 0x0B:
                return _END_INSTR
        elif n == 2 and (_SHAPE[b] == 1 and raw[1] < 0x80 or _SHAPE[b] == 3):
            ins = _SMALL[b][raw[1]]
            if ins is None:
                ins = _SMALL[b][raw[1]] = _decode_one(raw, 0, n, 0)[0]
            return ins
    ins = _CACHE.get(raw)
    if ins is not None:
        return ins
    ins, p = _decode_one(raw, 0, len(raw), 0)
    if p != len(raw):
        raise DecodeError("not one instruction", p)
    return ins


def decode_expr(data: ByteData, pos: int, end: int, base: int = 0) -> tuple[list[Instr], int]:
    """Decode instructions from ``pos`` up to and including the ``end`` that closes the expression.

    Returns ``(instrs, new_pos)``; ``instrs`` ends with the closing ``end``.
    Nesting is tracked through block/loop/if/try_table and legacy try (closed
    by ``end`` or ``delegate``). Raises DecodeError (absolute offsets) for an
    illegal opcode, truncated immediates, or a missing final ``end``.
    """
    if isinstance(data, bytearray) or (isinstance(data, memoryview) and not data.readonly):
        # writable buffers cannot key the instruction cache: decode a private copy
        instrs, p = decode_expr(bytes(data[pos:end]), 0, end - pos, base + pos)
        return instrs, p + pos
    out: list[Any] = []
    append = out.append
    simple = _SIMPLE
    shape = _SHAPE
    small = _SMALL
    pshape = _PSHAPE
    cache_get = _CACHE.get
    depth = 0
    last = end - 1
    # Main loop: at least one byte follows the opcode, so one-byte immediates can be read unchecked.
    while pos < last:
        b = data[pos]
        ins = simple[b]
        if ins is not None:
            append(ins)
            pos += 1
            continue
        s = shape[b]
        if s == 1:
            v = data[pos + 1]
            if v < 0x80:
                sm = small[b]
                ins = sm[v]
                if ins is None:
                    ins = sm[v] = _decode_one(data, pos, end, base)[0]
                append(ins)
                pos += 2
                continue
            p = pos + 2
            while p < end and data[p] >= 0x80:
                p += 1
            p += 1
            if p <= end:
                ins = cache_get(data[pos:p])
                if ins is not None:
                    append(ins)
                    pos = p
                    continue
            ins, pos = _decode_one(data, pos, end, base)
            append(ins)
            continue
        if s == 2:
            if data[pos + 1] < 0x40:
                p = pos + 2
                while p < end and data[p] >= 0x80:
                    p += 1
                p += 1
                if p <= end:
                    ins = cache_get(data[pos:p])
                    if ins is not None:
                        append(ins)
                        pos = p
                        continue
            ins, pos = _decode_one(data, pos, end, base)
            append(ins)
            continue
        if s == 3:
            # block/loop/if/try: one-byte block types (empty or a value type) are cached by that byte
            sm = small[b]
            ins = sm[data[pos + 1]]
            if ins is None:
                ins, p = _decode_one(data, pos, end, base)
                if p == pos + 2:
                    sm[data[pos + 1]] = ins
                pos = p
            else:
                pos += 2
            append(ins)
            depth += 1
            continue
        if s == 4:
            # prefixed opcode: find the extent from the sub-opcode's layout, then the cache
            c = data[pos + 1]
            if c < 0x80:
                p = pos + 2
                k = pshape[b].get(c)
            elif pos + 2 < end and data[pos + 2] < 0x80:
                p = pos + 3
                k = pshape[b].get((c & 0x7F) | (data[pos + 2] << 7))
            else:
                k = None
            if k is not None:
                if k == 0:
                    q = p
                elif k == 1:
                    q = p + 1
                elif k == 2:
                    q = p + 16
                elif k <= 4:
                    q = -1
                    if p < end and data[p] < 0x40:
                        q = p + 1
                        while q < end and data[q] >= 0x80:
                            q += 1
                        q += k - 2
                else:
                    q = p
                    while q < end and data[q] >= 0x80:
                        q += 1
                    q += 1
                    if k == 6:
                        while q < end and data[q] >= 0x80:
                            q += 1
                        q += 1
                if 0 < q <= end:
                    ins = cache_get(data[pos:q])
                    if ins is not None:
                        append(ins)
                        pos = q
                        continue
            ins, pos = _decode_one(data, pos, end, base)
            append(ins)
            continue
        if b == 0x0B:
            append(_END_INSTR)
            pos += 1
            if depth == 0:
                return out, pos
            depth -= 1
            continue
        ins, pos = _decode_one(data, pos, end, base)
        append(ins)
        d = _DELTA[b]
        if d:
            depth += d
            if depth < 0:
                raise DecodeError("delegate outside of a try block", base + pos - len(ins[2]))
    # Tail: the last byte(s), with every read checked.
    while pos < end:
        b = data[pos]
        ins = simple[b]
        if ins is not None:
            append(ins)
            pos += 1
            continue
        if b == 0x0B:
            append(_END_INSTR)
            pos += 1
            if depth == 0:
                return out, pos
            depth -= 1
            continue
        ins, pos = _decode_one(data, pos, end, base)
        append(ins)
        d = _DELTA[b]
        if d:
            depth += d
            if depth < 0:
                raise DecodeError("delegate outside of a try block", base + pos - len(ins[2]))
    raise DecodeError("END opcode expected", base + end)


def encode_instrs(instrs: Iterable[Instr]) -> bytes:
    """Concatenate the encodings of ``instrs`` (each Instr carries its bytes)."""
    try:
        return b"".join([i[2] for i in instrs])
    except (TypeError, IndexError):
        for n, i in enumerate(instrs):
            if not isinstance(i, Instr):
                raise EncodeError(f"instruction {n} is not an Instr: {i!r}") from None
        raise


encode_expr = encode_instrs


# ====================================================================== function bodies

class LocalList(list[tuple[int, ValType]]):
    """The locals of a decoded body: a list of ``(count, ValType)`` that remembers its bytes.

    While its items are unchanged, ``encode_locals`` writes the original bytes
    (counts may have been written padded).
    """

    __slots__ = ("_raw", "_orig")

    def __init__(self, items: Iterable[tuple[int, ValType]] = (), raw: bytes | None = None):
        super().__init__(items)
        self._raw: bytes | None = raw
        self._orig = tuple(self) if raw is not None else None


def decode_locals(data: ByteData, pos: int, end: int, base: int = 0) -> tuple[LocalList, int]:
    """The local declarations ``vec(count valtype)`` at the start of a body."""
    start = pos
    n, pos = read_u32(data, pos, end, base)
    if 2 * n > end - pos:
        raise DecodeError(f"length out of bounds: {n} local declarations in {end - pos} bytes", base + start)
    items = []
    total = 0
    for _ in range(n):
        at = pos
        c, pos = read_u32(data, pos, end, base)
        total += c
        if total > MAX_LOCALS:
            raise DecodeError("too many locals", base + at)
        t, pos = decode_valtype(data, pos, end, base)
        items.append((c, t))
    return LocalList(items, bytes(data[start:pos])), pos


def encode_locals(locals_: Sequence[tuple[int, ValType]]) -> bytes:
    """The local declarations ``vec(count valtype)``: a :class:`LocalList`'s own bytes while it is unchanged."""
    if isinstance(locals_, LocalList) and locals_._raw is not None and tuple(locals_) == locals_._orig:
        # equal items; also require identical encodings of reference types
        if all(a[1] is b[1] or _same_encoding(a[1], b[1]) for a, b in zip(locals_, locals_._orig)):
            return locals_._raw
    total = 0
    parts = [write_u(len(locals_))]
    for item in locals_:
        try:
            c, t = item
            total += c
            parts.append(write_u(c) + encode_valtype(t))
        except (TypeError, ValueError, KeyError) as e:
            raise EncodeError(f"bad local declaration {item!r}: {e}") from None
    if total > MAX_LOCALS:
        raise EncodeError("too many locals")
    return b"".join(parts)


def _same_encoding(a, b) -> bool:
    try:
        return encode_valtype(a) == encode_valtype(b)
    except (ValueError, KeyError):
        return False


def decode_body(raw: ByteData, base: int = 0) -> tuple[LocalList, list[Instr]]:
    """Decode a function body (without its size prefix) into ``(locals, instrs)``.

    ``locals`` is a list of ``(count, ValType)``; ``instrs`` ends with the final ``end``.
    ``base`` is the absolute offset of ``raw[0]`` for error messages.
    """
    end = len(raw)
    locals_, pos = decode_locals(raw, 0, end, base)
    instrs, pos = decode_expr(raw, pos, end, base)
    if pos != end:
        raise DecodeError("operators remaining after end of function body", base + pos)
    return locals_, instrs


def encode_body(locals_: Sequence[tuple[int, ValType]], instrs: Iterable[Instr]) -> bytes:
    """Encode locals + instructions (no size prefix); inverse of :func:`decode_body`."""
    return encode_locals(locals_) + encode_instrs(instrs)


def _data_index_patterns() -> tuple[bytes, ...]:
    """The opcode bytes of memory.init and data.drop, plain and with a two-byte (padded) sub-opcode."""
    out = []
    for name in ("memory.init", "data.drop"):
        op = BY_NAME[name]
        assert op.prefix is not None
        out.append(bytes((op.prefix,)) + write_u(op.code))
        out.append(bytes((op.prefix, op.code | 0x80)))
    return tuple(out)


_DATA_INDEX_PATTERNS = _data_index_patterns()

#: the prefix byte of memory.init / data.drop (a body without it uses no data index)
DATA_INDEX_PREFIX = _data_index_patterns()[0][:1]


def may_use_data_index(raw: bytes) -> bool:
    """Cheap pre-check: could this body contain ``memory.init`` or ``data.drop`` (which need a data count)?"""
    return any(p in raw for p in _DATA_INDEX_PATTERNS)


def data_index_op(raw: bytes, instrs: list[Instr]) -> str | None:
    """The name of the first ``memory.init`` / ``data.drop`` in a decoded body (they need a data count
    section), or None; ``raw`` (the body's bytes) spares the walk of most bodies."""
    if may_use_data_index(raw):
        for ins in instrs:
            op = ins.op
            if op.prefix == 0xFC and (op.code == 8 or op.code == 9):
                return op.name
    return None
