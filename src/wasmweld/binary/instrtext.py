"""One instruction and the types around it, as text: what ``dump`` and ``features`` print.

::

    (i32.load offset=8 (local.get 0))   28 02 08  ->  read_instr -> (i32.load, (MemArg(2, 8, 0, False),), 3)
                                                   instr_text  -> "i32.load offset=8"
    (ref null $t)                                  valtype_text -> "(ref null 3)"

:func:`read_instr` reads one instruction with full checks (``(OpInfo, args,
end)``; the library's :func:`~wasmweld.binary.instr.read_opcode` and
:data:`~wasmweld.binary.instr.IMM_READERS`, keeping each memarg's ``explicit``
bit and a None for each ``zero`` byte).
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any, Callable, NamedTuple

from ..errors import DecodeError
from ..types import ArrayType, FuncType, StructType
from .instr import IMM_READERS, Catch, read_opcode
from .leb import read_u32, read_u64
from .opcodes import SINGLE, OpInfo
from .leb import ByteData
from ..types import FieldType
from ..types import HeapType
from ..items import Import
from ..types import Limits
from ..types import SubType
from ..types import ValType

__all__ = [
    "MemArg", "read_memarg", "DUMP_IMM_READERS", "read_instr", "heap_text", "valtype_text", "ref_text",
    "f32_text", "f64_text", "natural_align", "memarg_text", "blocktype_text", "catch_text", "instr_text",
    "quoted", "limits_text", "import_desc_text", "subtype_text", "field_text", "ascii_text",
]

_KINDS = ("func", "table", "memory", "global", "tag")


# ====================================================================== one instruction

class MemArg(NamedTuple):
    align: int
    offset: int
    memory: int
    explicit: bool   # bit 6 of the flags was set (the memory index was written)


def read_memarg(d: ByteData, p: int, end: int, base: int) -> tuple[MemArg, int]:
    """A memarg, as :data:`~wasmweld.binary.instr.IMM_READERS` reads it plus the ``explicit`` bit."""
    flags, q = read_u32(d, p, end, base)
    if flags >= 0x80:
        raise DecodeError(f"malformed memop flags 0x{flags:x}", base + p)
    mem = 0
    explicit = bool(flags & 0x40)
    if explicit:
        flags &= ~0x40
        mem, q = read_u32(d, q, end, base)
    off, q = read_u64(d, q, end, base)
    return MemArg(flags, off, mem, explicit), q


#: the library's immediate readers (``zero`` kept as None), memargs with their ``explicit`` bit
DUMP_IMM_READERS: dict[str, Callable[[ByteData, int, int, int], tuple[Any, int]]] = {**IMM_READERS, "memarg": read_memarg}
_OP_READERS: dict[Any, Any] = {}


def read_instr(data: ByteData, pos: int, end: int) -> tuple[OpInfo, tuple[Any, ...], int]:
    """Read the instruction at ``data[pos]`` (absolute positions, bounded by ``end``).

    Returns ``(op, args, new_pos)``; ``args`` has one value per immediate kind
    of ``op.imm`` (``None`` for ``zero``), memargs as :class:`MemArg` with an
    ``explicit`` flag. Raises DecodeError for an illegal opcode or a bad immediate.
    """
    op = SINGLE[data[pos]] if pos < end else None
    if op is None:      # a prefixed, illegal or missing opcode
        op, p = read_opcode(data, pos, end)
    else:
        p = pos + 1
    readers = _OP_READERS.get(op)
    if readers is None:
        readers = _OP_READERS[op] = tuple(DUMP_IMM_READERS[k] for k in op.imm)
    if not readers:
        return op, (), p
    args = []
    for r in readers:
        v, p = r(data, p, end, 0)
        args.append(v)
    return op, tuple(args), p


# ====================================================================== text forms

def heap_text(heap: HeapType) -> str:

    """A heap type as text: its name, or the type index."""
    return heap if isinstance(heap, str) else str(heap)


def valtype_text(t: ValType) -> str:
    """``i32``, ``funcref``, ``(ref null 3)``, ``(ref any)`` ..."""
    return str(t)


def ref_text(nullable: bool, heap: HeapType) -> str:


    """``(ref null? heap)``."""
    return f"(ref {'null ' if nullable else ''}{heap_text(heap)})"


def f32_text(bits: int) -> str:


    """An f32 bit pattern as text (hex float form, with nan:0x payloads)."""
    sign = "-" if bits >> 31 else ""
    exp = (bits >> 23) & 0xFF
    frac = bits & 0x7FFFFF
    if exp == 0xFF:
        if frac == 0:
            return sign + "inf"
        return sign + ("nan" if frac == 0x400000 else f"nan:0x{frac:x}")
    v = struct.unpack("<f", struct.pack("<I", bits))[0]
    for prec in range(1, 10):
        s = f"{v:.{prec}g}"
        try:
            if struct.unpack("<I", struct.pack("<f", float(s)))[0] == bits:
                return s
        except OverflowError:  # rounded past the largest finite f32
            continue
    return repr(v)  # pragma: no cover


def f64_text(bits: int) -> str:


    """An f64 bit pattern as text (hex float form, with nan:0x payloads)."""
    sign = "-" if bits >> 63 else ""
    exp = (bits >> 52) & 0x7FF
    frac = bits & ((1 << 52) - 1)
    if exp == 0x7FF:
        if frac == 0:
            return sign + "inf"
        return sign + ("nan" if frac == 1 << 51 else f"nan:0x{frac:x}")
    return repr(struct.unpack("<d", struct.pack("<Q", bits))[0])


def natural_align(name: str) -> int:
    """log2 of the natural alignment of a memory instruction, from its name."""
    if re.search(r"\d+x\d+", name):  # v128.load8x8_s and friends read 64 bits
        return 3
    m = re.search(r"(?:load|store|rmw|wait)(\d+)", name)
    if m:
        return {8: 0, 16: 1, 32: 2, 64: 3}[int(m.group(1))]
    if name.endswith("notify"):
        return 2
    ty = name.split(".", 1)[0]
    return {"i32": 2, "f32": 2, "i64": 3, "f64": 3, "v128": 4}.get(ty, 0)


_ALIGN_CACHE: dict[str, int] = {}


def memarg_text(name: str, m: MemArg) -> str:


    """The memarg immediates of instruction ``name`` as text (memory, offset=, align=)."""
    parts = []
    if m.memory or m.explicit:
        parts.append(str(m.memory))
    if m.offset:
        parts.append(f"offset={m.offset}")
    nat = _ALIGN_CACHE.get(name)
    if nat is None:
        nat = _ALIGN_CACHE[name] = natural_align(name)
    if m.align != nat:
        parts.append(f"align={1 << m.align}")
    return " ".join(parts)


def blocktype_text(bt: ValType | int | None) -> str:


    """A block type as text (empty for none)."""
    if bt is None:
        return ""
    if isinstance(bt, int):
        return f"(type {bt})"
    return f"(result {valtype_text(bt)})"


def catch_text(c: Catch) -> str:


    """One try_table catch clause as text."""
    if c.tag is None:
        return f"({c.kind} {c.label})"
    return f"({c.kind} {c.tag} {c.label})"


def instr_text(op: OpInfo, args: tuple[Any, ...]) -> str:
    """The text form of an instruction read by :func:`read_instr` (``i32.load offset=8``, ``block (result i32)``)."""
    name = op.name
    if not args:
        return name
    imm = op.imm
    if name in ("ref.test", "ref.cast", "ref.test_null", "ref.cast_null"):
        return f"{name[:8]} {ref_text(name.endswith('_null'), args[0])}"
    if name in ("br_on_cast", "br_on_cast_fail"):
        flags, label, h1, h2 = args
        return f"{name} {label} {ref_text(bool(flags & 1), h1)} {ref_text(bool(flags & 2), h2)}"
    if name == "select_t":
        return "select " + " ".join(f"(result {valtype_text(t)})" for t in args[0]) if args[0] else "select (result)"
    if name in ("call_indirect", "return_call_indirect"):
        t, table = args
        return f"{name} {table} (type {t})" if table else f"{name} (type {t})"
    parts = [name]
    for kind, v in zip(imm, args):
        if kind == "zero":
            continue
        if kind == "memarg":
            s = memarg_text(name, v)
            if s:
                parts.append(s)
        elif kind == "blocktype":
            s = blocktype_text(v)
            if s:
                parts.append(s)
        elif kind == "labels":
            parts.extend(map(str, v))
        elif kind == "f32":
            parts.append(f32_text(v))
        elif kind == "f64":
            parts.append(f64_text(v))
        elif kind == "v128":
            lanes = struct.unpack("<4I", v)
            parts.append("i32x4 " + " ".join(f"0x{x:08x}" for x in lanes))
        elif kind == "lanes16":
            parts.append(" ".join(map(str, v)))
        elif kind == "heaptype":
            parts.append(heap_text(v))
        elif kind == "valtypes":
            parts.append(" ".join(map(valtype_text, v)))
        elif kind == "catches":
            parts.extend(map(catch_text, v))
        else:
            parts.append(str(v))
    return " ".join(parts)


# ====================================================================== small text helpers

def quoted(s: str) -> str:
    """A name as a quoted string with escapes (ASCII only, stable)."""
    return json.dumps(s, ensure_ascii=True)


def limits_text(lim: Limits) -> str:


    """Limits as text: index type, min, max, shared."""
    parts = ["i64" if lim.is64 else "i32", f"min {lim.min}"]
    if lim.max is not None:
        parts.append(f"max {lim.max}")
    if lim.shared:
        parts.append("shared")
    if lim.page_size_log2 is not None:
        parts.append(f"pagesize {1 << lim.page_size_log2}")
    return " ".join(parts)


def import_desc_text(imp: Import) -> str:
    """An import's type as dump shows it (``type 3``, ``funcref i32 min 1``, ``(mut i32)``)."""
    d = imp.desc
    k = int(imp.kind)
    if k == 0:
        return f"type {d}"
    if k == 1:
        return f"{valtype_text(d.elem)} {limits_text(d.limits)}"
    if k == 2:
        return limits_text(d.limits)
    if k == 3:
        return f"(mut {valtype_text(d.val)})" if d.mutable else valtype_text(d.val)
    return f"type {d.type_idx}"


def subtype_text(st: SubType) -> str:


    """A sub type as text."""
    comp = st.comp
    if isinstance(comp, FuncType):
        body = f"func {comp}"
    elif isinstance(comp, StructType):
        fields = " ".join(f"(field {field_text(f)})" for f in comp.fields)
        body = f"struct {fields}".rstrip()
    elif isinstance(comp, ArrayType):
        body = f"array {field_text(comp.field)}"
    else:  # pragma: no cover
        body = repr(comp)
    if st.form in ("sub", "sub_final"):
        head = "sub final" if st.final else "sub"
        supers = "".join(f" {s}" for s in st.supers)
        return f"{head}{supers} ({body})"
    return body


def field_text(f: FieldType) -> str:


    """A struct/array field type as text."""
    t = str(f.storage)
    return f"(mut {t})" if f.mutable else t


def ascii_text(b: bytes) -> str:


    """Printable ASCII of ``b``, other bytes as dots."""
    return "".join(chr(c) if 0x20 <= c < 0x7F else "." for c in b)


