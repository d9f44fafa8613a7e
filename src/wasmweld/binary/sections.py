"""Decode and encode the items of each known section.

Every decoder takes the whole input ``data`` (bytes) and the absolute payload
bounds ``pos``/``end`` and returns ``(items, starts)``: the item objects and
the absolute offset where each item starts, plus a final entry for the end of
the last item, so item ``i`` is ``data[starts[i]:starts[i+1]]``. That span is
what :class:`~wasmweld.module.Module` copies back for an unchanged item.

The export section of ``(module (func) (export "f" (func 0)))`` is::

    07 05                        section id 7, 5 bytes
    01                           1 export
    01 66 00 00                  "f", func, index 0

and ``decode_exports(data, pos, end)`` gives ``([Export("f", FUNC, 0)], [pos+1, pos+5])``.

Element segments keep their encoding (``flags`` 0..7), data segments theirs
(0..2), tables the ``0x40 0x00`` form with an init expression. Counts are
checked against the remaining bytes before anything is allocated.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from ..errors import DecodeError, EncodeError
from ..types import FUNCREF, ExternKind, MemoryType, RecGroup, RefType
from . import typecodec as tc
from .constexpr import NUMERIC_CONST_CODES, fast_end
from .instr import decode_expr
from .leb import ByteData, Span, read_u32, write_u
from .reader import COMPACT_BY_NAME, COMPACT_BY_TYPE, SECTION_NAMES, decode_name

from ..items import ConstExpr, Data, Elem, Export, FuncBody, Global, Import, Table, Tag

__all__ = [
    "DECODERS", "ENCODERS", "ITEM_READERS", "ImportLayout", "read_recgroup", "read_table", "read_memory",
    "read_tag", "read_global", "read_export", "read_elem", "read_data", "read_import_entry", "encode_import_items",
    "COMPACT_BY_NAME", "COMPACT_BY_TYPE", "decode_const_expr", "decode_index_section",
    "decode_types", "decode_imports", "decode_funcs", "decode_tables", "decode_memories", "decode_tags",
    "decode_globals", "decode_exports", "decode_elems", "decode_code", "decode_datas",
    "encode_type", "encode_import", "encode_func", "encode_table", "encode_memory", "encode_tag",
    "encode_global", "encode_export", "encode_elem", "encode_code", "encode_data", "encode_items",
]

_KINDS = (ExternKind.FUNC, ExternKind.TABLE, ExternKind.MEMORY, ExternKind.GLOBAL, ExternKind.TAG)


def _count(data: bytes, pos: int, end: int, min_size: int, what: str) -> tuple[int, int]:
    n, p = read_u32(data, pos, end)
    if n * min_size > end - p:
        raise DecodeError("unexpected end of section or function", pos,
                          f"{what} count {n} ({end - p} bytes left)")
    return n, p


def _finish(pos: int, end: int, what: str) -> None:
    if pos != end:
        raise DecodeError("section size mismatch", pos, f"{what} section ({end - pos} bytes left over)")


# ---------------------------------------------------------------------------------------------
# constant expressions
# ---------------------------------------------------------------------------------------------

def decode_const_expr(data: bytes, pos: int, end: int, base: int = 0) -> tuple[ConstExpr, int]:
    """Read a constant expression up to and including its ``end``; positions absolute + ``base``."""
    p = fast_end(data, pos, end, base)
    if p >= 0:
        return ConstExpr(data[pos:p]), p
    instrs, p = decode_expr(data, pos, end, base)
    ce = ConstExpr(data[pos:p])
    object.__setattr__(ce, "_cache", tuple(instrs))
    return ce, p


# ---------------------------------------------------------------------------------------------
# decoders
# ---------------------------------------------------------------------------------------------

def _decode_items(data: bytes, pos: int, end: int, what: str, label: str,
                  read_one: Callable[[bytes, int, int], tuple[Any, int]]) -> tuple[list[Any], list[int]]:
    """The loop every section with one item after another shares: ``read_one(data, pos, end) -> (item, pos)``.

    A decode error gets the context ``"{label} {i}"``; ``what`` names the section in count/size errors.
    """
    n, pos = _count(data, pos, end, 1, what)
    items: list[Any] = []
    starts: list[int] = []
    append = items.append
    sappend = starts.append
    for i in range(n):
        sappend(pos)
        try:
            item, pos = read_one(data, pos, end)
        except DecodeError as e:
            raise e.with_context(f"{label} {i}") from None
        append(item)
    sappend(pos)
    _finish(pos, end, what)
    return items, starts


def read_recgroup(data: bytes, pos: int, end: int, spans: list[Span] | None = None) -> tuple[RecGroup, int]:
    """One recursion group of the type section."""
    """One rec group of the type section; ``spans`` gets its type indices (``typecodec`` docstring)."""
    return tc.decode_recgroup(data, pos, end, 0, spans)


def decode_types(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The type section's payload: (recursion groups, their start offsets + the end)."""
    return _decode_items(data, pos, end, "type", "type", read_recgroup)


def _import_desc(data: bytes, kind: int, pos: int, end: int, spans: list[Span] | None = None):
    if spans is not None:       # where the parts that hold type indices start (for the renumberer)
        spans.append(_DESC_PARTS[kind](pos))
    if kind == 0:
        return read_u32(data, pos, end)
    if kind == 1:
        return tc.decode_tabletype(data, pos, end, 0)
    if kind == 2:
        return tc.decode_memorytype(data, pos, end, 0)
    if kind == 3:
        return tc.decode_globaltype(data, pos, end, 0)
    return tc.decode_tagtype(data, pos, end, 0)


#: extern kind -> the span of its index-carrying part: ``(part, start, None, None)``; a memory has none
_DESC_PARTS = (
    lambda p: ("type", p, None, None),          # func: type index
    lambda p: ("reftype", p, None, None),       # table: element reftype
    lambda p: ("none", p, None, None),          # memory: limits only
    lambda p: ("valtype", p, None, None),       # global: value type
    lambda p: ("type", p + 1, None, None),      # tag: attribute byte, then type index
)


def _bad_kind(data: bytes, pos: int, end: int, what: str) -> DecodeError:
    """The error for a missing or out-of-range (> 4) import/export kind byte at ``pos``."""
    if pos >= end:
        return DecodeError("unexpected end", pos)
    return DecodeError(f"malformed {what} kind", pos, f"kind byte 0x{data[pos]:02x}")


def _read_import(data: bytes, pos: int, end: int):
    module, pos = decode_name(data, pos, end)
    name, pos = decode_name(data, pos, end)
    kind = data[pos] if pos < end else 5
    if kind > 4:
        raise _bad_kind(data, pos, end, "import")
    desc, pos = _import_desc(data, kind, pos + 1, end)
    return Import(module, name, _KINDS[kind], desc), pos


def _read_desc(data: bytes, pos: int, end: int, spans: list[Span] | None = None):
    kind = data[pos] if pos < end else 5
    if kind > 4:
        raise _bad_kind(data, pos, end, "import")
    desc, pos = _import_desc(data, kind, pos + 1, end, spans)
    return _KINDS[kind], desc, pos


def read_import_entry(data: bytes, pos: int, end: int,
                      spans: list[Span] | None = None) -> tuple[int, list[tuple[Import, int, int]], int]:
    """One entry of the import section: ``(form, [(import, start, end), ...], pos)``.

    ``form`` is 0 for a plain ``module name externtype`` entry (one import, its
    span the whole entry), :data:`COMPACT_BY_NAME` for ``module "" 0x7F
    vec(name externtype)`` and :data:`COMPACT_BY_TYPE` for ``module "" 0x7E
    externtype vec(name)`` (the compact-imports proposal: ``wasm-opt -all``
    writes them). The spans of grouped imports cover their own bytes only
    (name + type, or just the name); the entry is the unit that can be copied.
    The one description of the import section's grammar: the decoder, ``dump``,
    ``features`` and the renumberer read it through here (``spans``, when given,
    receives where each type-carrying part starts: ``("type" | "reftype" |
    "valtype" | "none", start, None, None)``).
    """
    start = pos
    module, pos = decode_name(data, pos, end)
    name, pos = decode_name(data, pos, end)
    form = data[pos] if pos < end and name == "" else 0
    if form != COMPACT_BY_NAME and form != COMPACT_BY_TYPE:
        kind, desc, pos = _read_desc(data, pos, end, spans)
        return 0, [(Import(module, name, kind, desc), start, pos)], pos
    pos += 1
    out = []
    if form == COMPACT_BY_NAME:
        n, pos = _count(data, pos, end, 2, "compact import")
        for _ in range(n):
            at = pos
            name, pos = decode_name(data, pos, end)
            kind, desc, pos = _read_desc(data, pos, end, spans)
            out.append((Import(module, name, kind, desc), at, pos))
    else:
        kind, desc, pos = _read_desc(data, pos, end, spans)
        n, pos = _count(data, pos, end, 1, "compact import")
        for _ in range(n):
            at = pos
            name, pos = decode_name(data, pos, end)
            out.append((Import(module, name, kind, desc), at, pos))
    return form, out, pos


class ImportLayout(list[int]):
    """The item starts of an import section that uses the compact-imports group forms.

    A list like the other sections' ``starts`` (``self[i]`` is where the entry
    holding import ``i`` starts; a final entry for the section end) plus
    ``entries``: for each import, ``(first, count, start, end, form)`` of the entry
    that holds it (``count`` 1 and ``form`` 0 for a plain entry). An entry is copied back only whole:
    all its imports present as the same objects in the same order.
    """

    __slots__ = ("entries",)

    def __init__(self, starts: Iterable[int] = (), entries: Iterable[Any] = ()) -> None:
        super().__init__(starts)
        self.entries: list[tuple[int, int, int, int, int]] = list(entries)


def decode_imports(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The import section's payload: (imports, starts: a plain list, or an :class:`ImportLayout` with compact groups)."""
    n, pos = _count(data, pos, end, 1, "import")
    items: list[Any] = []
    starts: list[Any] = []
    entries: list[Any] = []
    compact = False
    for i in range(n):
        at = pos
        try:
            form, got, pos = read_import_entry(data, pos, end)
        except DecodeError as e:
            raise e.with_context(f"import {i}") from None
        if form:
            compact = True
        entry = (len(items), len(got), at, pos, form)
        for imp, _s, _e in got:
            starts.append(at)
            entries.append(entry)
            items.append(imp)
    starts.append(pos)
    _finish(pos, end, "import")
    if compact:
        return items, ImportLayout(starts, entries)
    return items, starts


def encode_import_items(items: list[Import], orig: Sequence[Import], layout: "ImportLayout", buf: ByteData) -> bytes:
    """An import section payload for a section read with compact groups: unchanged entries
    (the same import objects in the same order) are copied whole, the rest encoded plain."""
    index = {id(it): j for j, it in enumerate(orig)}
    entries = layout.entries
    mv = memoryview(buf)
    parts: list[bytes | memoryview] = []
    i = 0
    n = len(items)
    while i < n:
        it = items[i]
        j = index.get(id(it))
        if j is not None and orig[j] is it:
            first, cnt, s, e, _form = entries[j]
            if first == j and i + cnt <= n and all(items[i + k] is orig[j + k] for k in range(cnt)):
                parts.append(mv[s:e])
                i += cnt
                continue
        parts.append(_encode_one(encode_import, 2, i, it))
        i += 1
    return write_u(len(parts)) + b"".join(parts)


def decode_funcs(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The function section's payload: (type indices, start offsets)."""
    n, pos = _count(data, pos, end, 1, "func")
    items: list[Any] = []
    starts: list[int] = []
    append = items.append
    sappend = starts.append
    for _ in range(n):
        sappend(pos)
        if pos < end:
            b = data[pos]
            if b < 0x80:
                append(b)
                pos += 1
                continue
        v, pos = read_u32(data, pos, end)
        append(v)
    sappend(pos)
    _finish(pos, end, "func")
    return items, starts


def read_table(data: bytes, pos: int, end: int, spans: list[Span] | None = None) -> tuple[Table, int]:
    """One table: its type, and the init expression of the ``0x40 0x00`` form."""
    """One defined table; ``spans`` (for the renumberer) gets ``("reftype", start, ..)`` and, for the
    ``0x40 0x00`` form, ``("expr", start, ..)``."""
    if pos < end and data[pos] == 0x40:
        if pos + 1 >= end:
            raise DecodeError("unexpected end", pos + 1)
        if data[pos + 1] != 0x00:
            raise DecodeError("malformed table", pos + 1, "reserved byte after 0x40")
        if spans is not None:
            spans.append(("reftype", pos + 2, None, None))
        tt, pos = tc.decode_tabletype(data, pos + 2, end, 0)
        if spans is not None:
            spans.append(("expr", pos, None, None))
        init, pos = decode_const_expr(data, pos, end)
        return Table(tt, init), pos
    if spans is not None:
        spans.append(("reftype", pos, None, None))
    tt, pos = tc.decode_tabletype(data, pos, end, 0)
    return Table(tt), pos


def decode_tables(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The table section's payload."""
    return _decode_items(data, pos, end, "table", "table", read_table)


def read_memory(data: bytes, pos: int, end: int) -> tuple[MemoryType, int]:
    """One memory type."""
    return tc.decode_memorytype(data, pos, end, 0)


def decode_memories(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The memory section's payload."""
    return _decode_items(data, pos, end, "memory", "memory", read_memory)


def read_tag(data: bytes, pos: int, end: int, spans: list[Span] | None = None) -> tuple[Tag, int]:
    """One tag."""
    if spans is not None:
        spans.append(("type", pos + 1, None, None))
    tt, pos = tc.decode_tagtype(data, pos, end, 0)
    return Tag(tt), pos


def decode_tags(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The tag section's payload."""
    return _decode_items(data, pos, end, "tag", "tag", read_tag)


def read_global(data: bytes, pos: int, end: int, spans: list[Span] | None = None) -> tuple[Global, int]:
    """One global: its type and init expression."""
    if spans is not None:
        spans.append(("valtype", pos, None, None))
    gt, pos = tc.decode_globaltype(data, pos, end, 0)
    if spans is not None:
        spans.append(("expr", pos, None, None))
    init, pos = decode_const_expr(data, pos, end)
    return Global(gt, init), pos


def decode_globals(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The global section's payload."""
    return _decode_items(data, pos, end, "global", "global", read_global)


def read_export(data: bytes, pos: int, end: int, spans: list[Span] | None = None) -> tuple[Export, int]:
    """One export: name, kind, index."""
    name, pos = decode_name(data, pos, end)
    kind = data[pos] if pos < end else 5
    if kind > 4:
        raise _bad_kind(data, pos, end, "export")
    if spans is not None:
        spans.append(("index", pos + 1, None, kind))
    index, pos = read_u32(data, pos + 1, end)
    return Export(name, _KINDS[kind], index), pos


def decode_exports(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The export section's payload."""
    return _decode_items(data, pos, end, "export", "export", read_export)


def _func_indices(data: bytes, pos: int, end: int, spans: list[Span] | None) -> tuple[tuple[int, ...], int]:
    at = pos
    n, pos = _count(data, pos, end, 1, "element function index")
    out: list[int] = []
    append = out.append
    if spans is not None:
        spans.append(("count", at, pos, n))
        for _ in range(n):
            q = pos
            v, pos = read_u32(data, pos, end)
            append(v)
            spans.append(("func", q, pos, v))
        return tuple(out), pos
    for _ in range(n):
        if pos < end:
            b = data[pos]
            if b < 0x80:
                append(b)
                pos += 1
                continue
        v, pos = read_u32(data, pos, end)
        append(v)
    return tuple(out), pos


def _exprs(data: bytes, pos: int, end: int, spans: list[Span] | None) -> tuple[tuple[ConstExpr, ...], int]:
    at = pos
    n, pos = _count(data, pos, end, 1, "element expression")
    if spans is not None:
        spans.append(("count", at, pos, n))
    out = []
    for _ in range(n):
        q = pos
        ce, pos = decode_const_expr(data, pos, end)
        out.append(ce)
        if spans is not None:
            spans.append(("expr", q, pos, ce))
    return tuple(out), pos


def read_elem(data: bytes, pos: int, end: int, spans: list[Span] | None = None) -> tuple[Elem, int]:
    """One element segment. ``spans``, when given, receives ``(field, start, end, value)`` for each field
    as it is read (``flags``, ``table``, ``offset``, ``elemkind``, ``reftype``, ``count``, ``func``,
    ``expr``): what ``dump`` shows, read by this one grammar."""
    at = pos
    flags, pos = read_u32(data, pos, end)
    if flags > 7:
        raise DecodeError("malformed elements segment kind", at, f"flags {flags}")
    if spans is not None:
        spans.append(("flags", at, pos, flags))
    table = 0
    offset = None
    init: tuple[int, ...] | tuple[ConstExpr, ...]
    if flags & 1 == 0:
        mode = "active"
        if flags & 2:
            q = pos
            table, pos = read_u32(data, pos, end)
            if spans is not None:
                spans.append(("table", q, pos, table))
        q = pos
        offset, pos = decode_const_expr(data, pos, end)
        if spans is not None:
            spans.append(("offset", q, pos, offset))
    else:
        mode = "declarative" if flags & 2 else "passive"
    if flags & 4 == 0:
        if flags & 3:
            if pos >= end:
                raise DecodeError("unexpected end", pos)
            if data[pos] != 0x00:
                raise DecodeError("malformed elements segment kind", pos, f"elemkind 0x{data[pos]:02x}")
            if spans is not None:
                spans.append(("elemkind", pos, pos + 1, 0))
            pos += 1
        init, pos = _func_indices(data, pos, end, spans)
        et = FUNCREF
    else:
        if flags & 3:
            q = pos
            et, pos = tc.decode_reftype(data, pos, end, 0)
            if spans is not None:
                spans.append(("reftype", q, pos, et))
        else:
            et = FUNCREF
        init, pos = _exprs(data, pos, end, spans)
    return Elem(mode, table, offset, et, init, flags), pos


def decode_elems(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The element section's payload."""
    return _decode_items(data, pos, end, "elem", "elem segment", read_elem)


def decode_code(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The code section's payload: undecoded :class:`FuncBody` records and their start offsets."""
    n, pos = _count(data, pos, end, 1, "code")
    items: list[Any] = []
    starts: list[int] = []
    append = items.append
    sappend = starts.append
    for i in range(n):
        sappend(pos)
        if pos < end and data[pos] < 0x80:
            size = data[pos]
            p = pos + 1
        elif pos + 1 < end and data[pos + 1] < 0x80:     # (two bytes: any such u32 is well formed)
            size = (data[pos] & 0x7F) | data[pos + 1] << 7
            p = pos + 2
        else:
            try:
                size, p = read_u32(data, pos, end)
            except DecodeError as e:
                raise e.with_context(f"code body {i} size") from None
        q = p + size
        if q > end:
            raise DecodeError("unexpected end of section or function", end,
                              f"code body {i} ({size} bytes declared, {end - p} left)")
        append(FuncBody(data[p:q], p))
        pos = q
    sappend(pos)
    _finish(pos, end, "code")
    return items, starts


def read_data(data: bytes, pos: int, end: int, spans: list[Span] | None = None) -> tuple[Data | None, int]:
    """One data segment; ``spans`` as for :func:`read_elem` (``flags``, ``memory``, ``offset`` (value
    ``"plain"`` for a lone numeric constant, which refers to nothing), ``size``, ``init``; with ``spans``
    the item itself is not built: None)."""
    at = pos
    flags, pos = read_u32(data, pos, end)
    if flags > 2:
        raise DecodeError("malformed data segment kind", at, f"flags {flags}")
    if spans is not None:
        spans.append(("flags", at, pos, flags))
    memory = 0
    offset = None
    if flags == 1:
        mode = "passive"
    else:
        mode = "active"
        if flags == 2:
            q = pos
            memory, pos = read_u32(data, pos, end)
            if spans is not None:
                spans.append(("memory", q, pos, memory))
        q = pos
        if spans is not None:           # only its place is wanted: a lone constant needs no ConstExpr
            pos = fast_end(data, pos, end)
            plain = pos >= 0 and data[q] in NUMERIC_CONST_CODES
            if pos < 0:
                offset, pos = decode_const_expr(data, q, end)
            spans.append(("offset", q, pos, "plain" if plain else None))
        else:
            offset, pos = decode_const_expr(data, pos, end)
    q = pos
    size, pos = read_u32(data, pos, end)
    if size > end - pos:
        raise DecodeError("unexpected end of section or function", pos,
                          f"{size} data bytes declared, {end - pos} left")
    if spans is not None:     # a walk for the parts' places (dump, renumber): no item, no copy of the bytes
        spans.append(("size", q, pos, size))
        spans.append(("init", pos, pos + size, None))
        return None, pos + size
    return Data(mode, memory, offset, data[pos:pos + size], flags), pos + size


def decode_datas(data: bytes, pos: int, end: int) -> tuple[list[Any], list[int]]:
    """The data section's payload."""
    return _decode_items(data, pos, end, "data", "data segment", read_data)


def decode_index_section(data: bytes, pos: int, end: int) -> int:
    """The start and data count sections: a single u32."""
    v, p = read_u32(data, pos, end)
    _finish(p, end, "start/datacount")
    return v


#: section id -> the reader of one item ``(data, pos, end) -> (item, pos)`` (imports: read_import_entry)
ITEM_READERS: dict[int, Callable[..., tuple[Any, int]]] = {
    1: read_recgroup, 4: read_table, 5: read_memory, 13: read_tag, 6: read_global, 7: read_export,
    9: read_elem, 11: read_data,
}

DECODERS: dict[int, Callable[[bytes, int, int], tuple[list[Any], list[int]]]] = {
    1: decode_types, 2: decode_imports, 3: decode_funcs, 4: decode_tables, 5: decode_memories,
    13: decode_tags, 6: decode_globals, 7: decode_exports, 9: decode_elems, 10: decode_code,
    11: decode_datas,
}


# ---------------------------------------------------------------------------------------------
# encoders (one item -> bytes)
# ---------------------------------------------------------------------------------------------

def _name(s: str) -> bytes:
    if not isinstance(s, str):
        raise EncodeError(f"a name must be a str, not {type(s).__name__}")
    b = s.encode("utf-8")
    return write_u(len(b)) + b


def _u32(v: int) -> bytes:
    """An index or count: a u32 (a bigger int would be a malformed over-long LEB128)."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise EncodeError(f"an index must be an int, not {type(v).__name__} {v!r}")
    if not 0 <= v <= 0xFFFFFFFF:
        raise EncodeError(f"index {v} does not fit in 32 bits")
    return write_u(v)


def _expr(ce) -> bytes:
    if not isinstance(ce, ConstExpr):
        raise EncodeError(f"expected a ConstExpr, got {type(ce).__name__}")
    if not ce.raw.endswith(b"\x0b"):
        raise EncodeError(f"a constant expression must end with end (0x0b): {ce.raw.hex() or 'empty'}")
    return ce.raw


def encode_type(rg: RecGroup) -> bytes:
    """One recursion group."""
    return tc.encode_recgroup(rg)


def encode_import(imp: Import) -> bytes:
    """One import (plain form)."""
    kind = ExternKind(imp.kind)
    head = _name(imp.module) + _name(imp.name) + bytes((int(kind),))
    d = imp.desc
    if kind == ExternKind.FUNC:
        if not isinstance(d, int):
            raise EncodeError(f"func import {imp.module}.{imp.name}: desc must be a type index")
        return head + _u32(d)
    if kind == ExternKind.TABLE:
        return head + tc.encode_tabletype(d)
    if kind == ExternKind.MEMORY:
        return head + tc.encode_memorytype(d)
    if kind == ExternKind.GLOBAL:
        return head + tc.encode_globaltype(d)
    return head + tc.encode_tagtype(d)


def encode_func(typeidx: int) -> bytes:
    """One function section entry: its type index."""
    return _u32(typeidx)


def encode_table(t: Table) -> bytes:
    """One table."""
    if t.init is None:
        return tc.encode_tabletype(t.type)
    return b"\x40\x00" + tc.encode_tabletype(t.type) + _expr(t.init)


def encode_memory(mt: MemoryType) -> bytes:
    """One memory type."""
    return tc.encode_memorytype(mt)


def encode_tag(t: Tag) -> bytes:
    """One tag."""
    return tc.encode_tagtype(t.type)


def encode_global(g: Global) -> bytes:
    """One global."""
    return tc.encode_globaltype(g.type) + _expr(g.init)


def encode_export(e: Export) -> bytes:
    """One export."""
    return _name(e.name) + bytes((int(ExternKind(e.kind)),)) + _u32(e.index)


def _is_funcref(rt) -> bool:
    return isinstance(rt, RefType) and rt.heap == "func"


def _elem_flags(e: Elem) -> int:
    """The encoding to use: ``e.flags`` when it can express ``e``, else the shortest that can."""
    if e.mode not in ("active", "passive", "declarative"):
        raise EncodeError(f"elem mode must be active, passive or declarative, not {e.mode!r}")
    all_ints = all(isinstance(x, int) for x in e.init)
    # func-index forms (0-3) mean funcref elements (the spec's `ref func` for 3.0)
    index_ok = all_ints and _is_funcref(e.elem_type)
    mode_bits = {"active": 0, "passive": 1, "declarative": 3}[e.mode]
    if e.mode == "active":
        explicit_needed = e.table != 0 or not (e.elem_type == FUNCREF or index_ok)
    else:
        explicit_needed = True
    f = e.flags
    if f is not None and 0 <= f <= 7:
        fm = f & 3
        ok_mode = (fm in (0, 2) and e.mode == "active") or (fm == 1 and e.mode == "passive") or \
                  (fm == 3 and e.mode == "declarative")
        ok_table = not (e.mode == "active" and fm == 0 and e.table != 0)
        ok_kind = index_ok if f < 4 else True
        ok_type = not (f in (0, 4) and e.elem_type != FUNCREF and not (f == 0 and index_ok))
        if ok_mode and ok_table and ok_kind and ok_type:
            return f
    if e.mode == "active":
        base = 2 if explicit_needed else 0
    else:
        base = mode_bits
    return base if index_ok else base | 4


def encode_elem(e: Elem) -> bytes:
    """One element segment, in its original form (``flags``) when it still fits."""
    f = _elem_flags(e)
    parts = [write_u(f)]
    if f & 1 == 0:
        if f & 2:
            parts.append(_u32(e.table))
        if e.offset is None:
            raise EncodeError("active elem segment without an offset expression")
        parts.append(_expr(e.offset))
    if f & 4 == 0:
        if f & 3:
            parts.append(b"\x00")
        parts.append(write_u(len(e.init)))
        parts.extend(_u32(x) for x in e.init)
    else:
        if f & 3:
            parts.append(tc.encode_reftype(e.elem_type))
        parts.append(write_u(len(e.init)))
        for x in e.init:
            parts.append(ConstExpr.ref_func(x).raw if isinstance(x, int) else _expr(x))
    return b"".join(parts)


def encode_code(body: FuncBody) -> bytes:
    """One code section entry: size + body."""
    return body.encode()


def encode_data(d: Data) -> bytes:
    """One data segment."""
    f = d.flags
    if d.mode == "passive":
        f = 1
    elif d.mode == "active":
        if f not in (0, 2) or (f == 0 and d.memory != 0):
            f = 0 if d.memory == 0 else 2
    else:
        raise EncodeError(f"data mode must be active or passive, not {d.mode!r}")
    parts = [write_u(f)]
    if f == 2:
        parts.append(_u32(d.memory))
    if f != 1:
        if d.offset is None:
            raise EncodeError("active data segment without an offset expression")
        parts.append(_expr(d.offset))
    init = bytes(d.init)
    parts.append(write_u(len(init)))
    parts.append(init)
    return b"".join(parts)


ENCODERS: dict[int, Callable[[Any], bytes]] = {
    1: encode_type, 2: encode_import, 3: encode_func, 4: encode_table, 5: encode_memory,
    13: encode_tag, 6: encode_global, 7: encode_export, 9: encode_elem, 10: encode_code,
    11: encode_data,
}


def _body_bytes(body: FuncBody) -> bytes:
    """A code entry's body without its size (:func:`encode_code` is size + this)."""
    return body.raw


def _encode_one(enc, sid: int, i: int, it) -> bytes:
    try:
        return enc(it)
    except EncodeError as e:
        raise EncodeError(f"cannot encode {type(it).__name__} #{i} of the {SECTION_NAMES.get(sid, sid)} section: "
                          f"{e}") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as e:
        raise EncodeError(f"cannot encode {type(it).__name__} #{i} of the {SECTION_NAMES.get(sid, sid)} section: "
                          f"{e}") from None


def encode_items(sid: int, items: list[Any], orig: Sequence[Any], starts: Any, buf: ByteData) -> bytes:
    """A section payload: count + items; items identical to ``orig[j]`` are copied from ``buf[starts[j]:starts[j+1]]``."""
    if sid == 2 and isinstance(starts, ImportLayout):
        return encode_import_items(items, orig, starts, buf)
    enc = ENCODERS[sid]
    parts: list[bytes | memoryview] = [write_u(len(items))]
    append = parts.append
    is_code = sid == 10
    if not orig or starts is None:
        if is_code:                 # size and body as two parts: each body is copied once, by the join
            for i, it in enumerate(items):
                raw = _encode_one(_body_bytes, sid, i, it)
                append(write_u(len(raw)))
                append(raw)
        else:
            for i, it in enumerate(items):
                append(_encode_one(enc, sid, i, it))
        return b"".join(parts)
    mv = memoryview(buf)
    norig = len(orig)
    index: dict[int, int] | None = None
    j: int | None
    for i, it in enumerate(items):
        if i < norig and orig[i] is it:
            j = i
        else:
            if index is None:
                index = {}
                for k in range(norig - 1, -1, -1):
                    index[id(orig[k])] = k
            j = index.get(id(it))
            if j is not None and orig[j] is not it:
                j = None
        if j is not None and not (is_code and it.modified):
            append(mv[starts[j]:starts[j + 1]])
        elif is_code:
            raw = _encode_one(_body_bytes, sid, i, it)
            append(write_u(len(raw)))
            append(raw)
        else:
            append(_encode_one(enc, sid, i, it))
    return b"".join(parts)
