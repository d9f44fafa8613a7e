"""Binary decode/encode of the types in :mod:`wasmweld.types`.

Every decoder has the signature ``decode_x(data, pos, end, base=0) -> (value, new_pos)``
(``data`` bytes or memoryview, ``end`` the bound of what may be read, ``base``
the absolute offset of ``data[0]`` for error messages); every encoder is
``encode_x(value) -> bytes``. Choices the spec leaves to the encoder are
remembered so decode -> encode gives back the same bytes::

    (type (func (param i32) (result funcref)))   60 01 7f 01 70
      -> RecGroup((SubType(FuncType((I32,), (FUNCREF,)), form="plain"),), explicit=False)
    (param (ref null func)) written 63 70       -> RefType(True, "func", shorthand=False)
    (memory 1 2) written with flags 01          -> Limits(1, 2, flags=1)

Malformed input raises :class:`~wasmweld.errors.DecodeError` with the absolute
offset ("malformed value type", "malformed reference type", "unexpected end" ...).

The type decoders (heap, reference, value, storage, field, composite, sub types and rec groups)
also take ``spans``: a list that receives ``(part, start, end, index)`` for every type index they
read, ``start``/``end`` positions in ``data`` (not offset by ``base``): ``"heap"`` for a heap type's
s33 index, ``"super"`` for a supertype's u32 index. The renumberer rewrites those spans, so the
type section's layout is written only here::

    (type (sub 0 (struct (field (ref null 1)))))    50 01 00 5f 01 63 01 00
      spans -> [("super", 2, 3, 0), ("heap", 6, 7, 1)]
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import DecodeError
from ..types import (
    ABSTRACT_HEAP_CODES, ABSTRACT_HEAP_NAMES, F32, F64, I8, I16, I32, I64, V128,
    ArrayType, CompType, FieldType, FuncType, GlobalType, HeapType, Limits, MemoryType, NumType, PackedType,
    RecGroup, RefType, StorageType, StructType, SubType, TableType, TagType, ValType,
)
from .leb import ByteData, Span, read_s33, read_u32, read_u64, write_s, write_u

__all__ = [
    "NUM_CODES", "NUM_TYPES", "VALTYPE_FIRST_BYTES",
    "decode_heaptype", "encode_heaptype", "decode_reftype", "encode_reftype",
    "decode_valtype", "encode_valtype", "decode_valtypes", "encode_valtypes",
    "decode_storagetype", "encode_storagetype", "decode_fieldtype", "encode_fieldtype",
    "decode_comptype", "encode_comptype", "decode_subtype", "encode_subtype",
    "decode_recgroup", "encode_recgroup", "decode_limits", "encode_limits",
    "decode_tabletype", "encode_tabletype", "decode_memorytype", "encode_memorytype",
    "decode_globaltype", "encode_globaltype", "decode_tagtype", "encode_tagtype",
    "decode_blocktype", "encode_blocktype",
]

#: number/vector type -> its one-byte code
NUM_CODES: dict[NumType, int] = {I32: 0x7F, I64: 0x7E, F32: 0x7D, F64: 0x7C, V128: 0x7B}
#: one-byte code -> number/vector type
NUM_TYPES: dict[int, NumType] = {v: k for k, v in NUM_CODES.items()}
PACKED_CODES: dict[PackedType, int] = {I8: 0x78, I16: 0x77}
PACKED_TYPES: dict[int, PackedType] = {v: k for k, v in PACKED_CODES.items()}

REF_NULL = 0x63   # (ref null ht)
REF = 0x64        # (ref ht)
SUB = 0x50
SUB_FINAL = 0x4F
REC = 0x4E
FUNC = 0x60
STRUCT = 0x5F
ARRAY = 0x5E
EMPTY_BLOCK = 0x40

# shared instances for the one-byte shorthand reference types (nullable abstract heap types)
_SHORT_REFS: dict[int, RefType] = {
    code: RefType(True, name, True) for code, name in ABSTRACT_HEAP_NAMES.items()
}
# byte -> value type, for every value type written as one byte
_ONE_BYTE_VALTYPES: dict[int, ValType] = {**NUM_TYPES, **_SHORT_REFS}
#: first bytes that start a value type (one-byte forms plus the 0x63/0x64 prefixes)
VALTYPE_FIRST_BYTES = frozenset(_ONE_BYTE_VALTYPES) | {REF_NULL, REF}


def _byte(data: ByteData, pos: int, end: int, base: int) -> int:
    if pos >= end:
        raise DecodeError("unexpected end", base + pos)
    return data[pos]


def _count(data: ByteData, pos: int, end: int, base: int, min_size: int = 1) -> tuple[int, int]:
    """Read a vector length and check it against the bytes that remain."""
    n, p = read_u32(data, pos, end, base)
    if n * min_size > end - p:
        raise DecodeError(f"length out of bounds: vector of {n} items in {end - p} bytes", base + pos)
    return n, p


# ---------------------------------------------------------------- heap / reference / value types

def decode_heaptype(data: ByteData, pos: int, end: int, base: int = 0,
                    spans: list[Span] | None = None) -> tuple[HeapType, int]:
    """``absheaptype`` (one byte) -> its name, or a non-negative s33 type index -> int."""
    b = _byte(data, pos, end, base)
    name = ABSTRACT_HEAP_NAMES.get(b)
    if name is not None:
        return name, pos + 1
    v, p = read_s33(data, pos, end, base)
    if v < 0:
        raise DecodeError(f"malformed heap type 0x{b:02x}", base + pos)
    if spans is not None:
        spans.append(("heap", pos, p, v))
    return v, p


def encode_heaptype(heap: HeapType) -> bytes:
    """An abstract heap type's byte, or a type index as an s33."""
    if isinstance(heap, str):
        code = ABSTRACT_HEAP_CODES.get(heap)
        if code is None:
            raise ValueError(f"unknown abstract heap type {heap!r}")
        return bytes((code,))
    if isinstance(heap, int) and not isinstance(heap, bool) and 0 <= heap < 1 << 32:
        return write_s(heap)
    raise ValueError(f"bad heap type {heap!r}")


def decode_reftype(data: ByteData, pos: int, end: int, base: int = 0,
                   spans: list[Span] | None = None) -> tuple[RefType, int]:
    """A reference type: a shorthand byte or ``0x63``/``0x64`` + heap type."""
    b = _byte(data, pos, end, base)
    r = _SHORT_REFS.get(b)
    if r is not None:
        return r, pos + 1
    if b == REF_NULL or b == REF:
        heap, p = decode_heaptype(data, pos + 1, end, base, spans)
        return RefType(b == REF_NULL, heap, False), p
    raise DecodeError(f"malformed reference type 0x{b:02x}", base + pos)


def encode_reftype(rt: RefType) -> bytes:
    """The shorthand byte (``funcref``...) unless ``rt.shorthand`` is False, else ``0x63``/``0x64`` + heap type."""
    if rt.nullable and isinstance(rt.heap, str) and rt.shorthand is not False:
        return encode_heaptype(rt.heap)
    return bytes((REF_NULL if rt.nullable else REF,)) + encode_heaptype(rt.heap)


def decode_valtype(data: ByteData, pos: int, end: int, base: int = 0,
                   spans: list[Span] | None = None) -> tuple[ValType, int]:
    """A value type: a number/vector type byte or a reference type."""
    b = _byte(data, pos, end, base)
    t = _ONE_BYTE_VALTYPES.get(b)
    if t is not None:
        return t, pos + 1
    if b == REF_NULL or b == REF:
        heap, p = decode_heaptype(data, pos + 1, end, base, spans)
        return RefType(b == REF_NULL, heap, False), p
    raise DecodeError(f"malformed value type 0x{b:02x}", base + pos)


def encode_valtype(t: ValType) -> bytes:
    """The encoding of a value type (ValueError for anything else)."""
    if isinstance(t, NumType):
        return bytes((NUM_CODES[t],))
    if isinstance(t, RefType):
        return encode_reftype(t)
    raise ValueError(f"not a value type: {t!r}")


def decode_valtypes(data: ByteData, pos: int, end: int, base: int = 0, spans: list[Span] | None = None) -> tuple[tuple[ValType, ...], int]:
    """``vec(valtype)``."""
    n, pos = _count(data, pos, end, base)
    out: list[ValType] = []
    for _ in range(n):
        t, pos = decode_valtype(data, pos, end, base, spans)
        out.append(t)
    return tuple(out), pos


def encode_valtypes(ts: Sequence[ValType]) -> bytes:
    """``vec(valtype)``."""
    return write_u(len(ts)) + b"".join(encode_valtype(t) for t in ts)


# ---------------------------------------------------------------- composite types

def decode_storagetype(data: ByteData, pos: int, end: int, base: int = 0,
                       spans: list[Span] | None = None) -> tuple[StorageType, int]:
    """A field's storage type: a packed type (i8, i16) or a value type."""
    b = _byte(data, pos, end, base)
    p = PACKED_TYPES.get(b)
    if p is not None:
        return p, pos + 1
    return decode_valtype(data, pos, end, base, spans)


def encode_storagetype(t: StorageType) -> bytes:
    """A packed type's byte or a value type."""
    if isinstance(t, PackedType):
        return bytes((PACKED_CODES[t],))
    return encode_valtype(t)


def _mut(data: ByteData, pos: int, end: int, base: int) -> bool:
    m = _byte(data, pos, end, base)
    if m > 1:
        raise DecodeError(f"malformed mutability 0x{m:02x}", base + pos)
    return m == 1


def decode_fieldtype(data: ByteData, pos: int, end: int, base: int = 0,
                     spans: list[Span] | None = None) -> tuple[FieldType, int]:


    """A field type: storage type + mutability."""
    st, pos = decode_storagetype(data, pos, end, base, spans)
    return FieldType(st, _mut(data, pos, end, base)), pos + 1


def encode_fieldtype(ft: FieldType) -> bytes:
    """Storage type + mutability byte."""
    return encode_storagetype(ft.storage) + (b"\x01" if ft.mutable else b"\x00")


def decode_comptype(data: ByteData, pos: int, end: int, base: int = 0,
                    spans: list[Span] | None = None) -> tuple[CompType, int]:
    """A composite type: ``func``, ``struct`` or ``array``."""
    b = _byte(data, pos, end, base)
    if b == FUNC:
        params, p = decode_valtypes(data, pos + 1, end, base, spans)
        results, p = decode_valtypes(data, p, end, base, spans)
        return FuncType(params, results), p
    if b == STRUCT:
        n, p = _count(data, pos + 1, end, base, 2)
        fields = []
        for _ in range(n):
            f, p = decode_fieldtype(data, p, end, base, spans)
            fields.append(f)
        return StructType(tuple(fields)), p
    if b == ARRAY:
        f, p = decode_fieldtype(data, pos + 1, end, base, spans)
        return ArrayType(f), p
    raise DecodeError(f"malformed composite type 0x{b:02x}", base + pos)


def encode_comptype(ct: CompType) -> bytes:
    """The encoding of a func, struct or array type."""
    if isinstance(ct, FuncType):
        return bytes((FUNC,)) + encode_valtypes(ct.params) + encode_valtypes(ct.results)
    if isinstance(ct, StructType):
        return bytes((STRUCT,)) + write_u(len(ct.fields)) + b"".join(encode_fieldtype(f) for f in ct.fields)
    if isinstance(ct, ArrayType):
        return bytes((ARRAY,)) + encode_fieldtype(ct.field)
    raise ValueError(f"not a composite type: {ct!r}")


def decode_subtype(data: ByteData, pos: int, end: int, base: int = 0,
                   spans: list[Span] | None = None) -> tuple[SubType, int]:


    """A sub type: ``sub``/``sub final`` with supertypes, or a bare composite type."""
    b = _byte(data, pos, end, base)
    if b == SUB or b == SUB_FINAL:
        n, p = _count(data, pos + 1, end, base)
        supers = []
        for _ in range(n):
            at = p
            x, p = read_u32(data, p, end, base)
            supers.append(x)
            if spans is not None:
                spans.append(("super", at, p, x))
        comp, p = decode_comptype(data, p, end, base, spans)
        if b == SUB:
            return SubType(comp, tuple(supers), False, "sub"), p
        return SubType(comp, tuple(supers), True, "sub_final"), p
    comp, p = decode_comptype(data, pos, end, base, spans)
    return SubType(comp, (), True, "plain"), p


def encode_subtype(st: SubType) -> bytes:


    """A sub type, in the form it was read in (``st.form``) when it still fits."""
    form = st.form
    if form == "plain" and (st.supers or not st.final):
        form = None
    if form is None:
        form = "plain" if st.final and not st.supers else ("sub_final" if st.final else "sub")
    elif form == "sub" and st.final:
        form = "sub_final"
    elif form == "sub_final" and not st.final:
        form = "sub"
    comp = encode_comptype(st.comp)
    if form == "plain":
        return comp
    head = bytes((SUB if form == "sub" else SUB_FINAL,)) + write_u(len(st.supers))
    return head + b"".join(write_u(x) for x in st.supers) + comp


def decode_recgroup(data: ByteData, pos: int, end: int, base: int = 0,
                    spans: list[Span] | None = None) -> tuple[RecGroup, int]:
    """One ``rectype``: ``0x4E vec(subtype)`` or a lone subtype; ``spans`` as in the module docstring."""
    b = _byte(data, pos, end, base)
    if b == REC:
        n, p = _count(data, pos + 1, end, base)
        types = []
        for _ in range(n):
            st, p = decode_subtype(data, p, end, base, spans)
            types.append(st)
        return RecGroup(tuple(types), True), p
    st, p = decode_subtype(data, pos, end, base, spans)
    return RecGroup((st,), False), p


def encode_recgroup(rg: RecGroup) -> bytes:


    """A recursion group: one sub type, or ``rec`` + vec(subtype)."""
    if len(rg.types) == 1 and not rg.explicit:
        return encode_subtype(rg.types[0])
    return bytes((REC,)) + write_u(len(rg.types)) + b"".join(encode_subtype(t) for t in rg.types)


# ---------------------------------------------------------------- limits, tables, memories, globals, tags

def decode_limits(data: ByteData, pos: int, end: int, base: int = 0, memory: bool = False) -> tuple[Limits, int]:
    """Limits flags byte (bit 0 max present, bit 1 shared, bit 2 64-bit, bit 3 page size), then min and max.

    Wasm 3.0 reads min and max as u64 for 32-bit memories and tables too (a
    32-bit memory of 2**32 pages is invalid, not malformed). A memory's flags
    may have bit 3: a custom page size follows, as ``log2(size):u32`` (the
    custom-page-sizes proposal; sizes beyond 2**63 are malformed).
    """
    flags = _byte(data, pos, end, base)
    if flags & ~(0x0F if memory else 0x07):
        raise DecodeError(f"malformed limits flags 0x{flags:02x}", base + pos)
    mn, p = read_u64(data, pos + 1, end, base)
    mx = None
    if flags & 1:
        mx, p = read_u64(data, p, end, base)
    if flags & 8:
        at = p
        log2, p = read_u32(data, p, end, base)
        if log2 >= 64:
            raise DecodeError("invalid custom page size", base + at)
        return Limits(mn, mx, bool(flags & 2), bool(flags & 4), flags, log2), p
    return Limits(mn, mx, bool(flags & 2), bool(flags & 4), flags), p


def limits_flags(lim: Limits) -> int:
    """The flags byte ``lim`` encodes with (the remembered one when it still matches the fields)."""
    flags = (1 if lim.max is not None else 0) | (2 if lim.shared else 0) | (4 if lim.is64 else 0) | \
        (8 if lim.page_size_log2 is not None else 0)
    if lim.flags is not None and lim.flags == flags:
        return lim.flags
    return flags


def encode_limits(lim: Limits) -> bytes:


    """Limits: flags, min, [max]."""
    flags = limits_flags(lim)
    out = bytes((flags,)) + write_u(lim.min)
    if lim.max is not None:
        out += write_u(lim.max)
    if lim.page_size_log2 is not None:
        out += write_u(lim.page_size_log2)
    return out


def decode_tabletype(data: ByteData, pos: int, end: int, base: int = 0) -> tuple[TableType, int]:


    """A table type: reference type + limits."""
    rt, p = decode_reftype(data, pos, end, base)
    lim, p = decode_limits(data, p, end, base)
    return TableType(rt, lim), p


def encode_tabletype(tt: TableType) -> bytes:


    """A table type: reference type + limits."""
    return encode_reftype(tt.elem) + encode_limits(tt.limits)


def decode_memorytype(data: ByteData, pos: int, end: int, base: int = 0) -> tuple[MemoryType, int]:


    """A memory type (its limits, with memory64, shared, custom page size)."""
    lim, p = decode_limits(data, pos, end, base, True)
    return MemoryType(lim), p


def encode_memorytype(mt: MemoryType) -> bytes:


    """A memory type (its limits)."""
    return encode_limits(mt.limits)


def decode_globaltype(data: ByteData, pos: int, end: int, base: int = 0) -> tuple[GlobalType, int]:


    """A global type: value type + mutability."""
    vt, p = decode_valtype(data, pos, end, base)
    return GlobalType(vt, _mut(data, p, end, base)), p + 1


def encode_globaltype(gt: GlobalType) -> bytes:


    """A global type: value type + mutability."""
    return encode_valtype(gt.val) + (b"\x01" if gt.mutable else b"\x00")


def decode_tagtype(data: ByteData, pos: int, end: int, base: int = 0) -> tuple[TagType, int]:


    """A tag type: attribute 0 + type index."""
    attr = _byte(data, pos, end, base)
    if attr != 0:
        raise DecodeError(f"malformed tag attribute 0x{attr:02x}", base + pos)
    x, p = read_u32(data, pos + 1, end, base)
    return TagType(x, attr), p


def encode_tagtype(tt: TagType) -> bytes:


    """A tag type: attribute + type index."""
    return bytes((tt.attribute,)) + write_u(tt.type_idx)


# ---------------------------------------------------------------- block types

def decode_blocktype(data: ByteData, pos: int, end: int, base: int = 0) -> tuple[ValType | int | None, int]:
    """``0x40`` -> None, a value type -> ValType, else a non-negative s33 type index -> int."""
    b = _byte(data, pos, end, base)
    if b == EMPTY_BLOCK:
        return None, pos + 1
    t = _ONE_BYTE_VALTYPES.get(b)
    if t is not None:
        return t, pos + 1
    if b == REF_NULL or b == REF:
        heap, p = decode_heaptype(data, pos + 1, end, base)
        return RefType(b == REF_NULL, heap, False), p
    v, p = read_s33(data, pos, end, base)
    if v < 0:
        raise DecodeError(f"malformed block type 0x{b:02x}", base + pos)
    return v, p


def encode_blocktype(bt: ValType | int | None) -> bytes:
    """``0x40`` for None, a value type, or a type index as an s33."""
    if bt is None:
        return b"\x40"
    if isinstance(bt, int) and not isinstance(bt, bool):
        if not 0 <= bt < 1 << 32:
            raise ValueError(f"block type index out of range: {bt}")
        return write_s(bt)
    return encode_valtype(bt)  # type: ignore[arg-type]  # (a bool is refused there)
