"""Reading a binary module: a bounds-checked cursor and the section splitter.

A module is the 8-byte preamble ``00 61 73 6d 01 00 00 00`` followed by
sections, each ``id:u8 size:u32 payload[size]``. The module
``(module (func))`` is::

    00 61 73 6d 01 00 00 00      magic, version 1
    01 04 01 60 00 00            type section: 1 type, (func)
    03 02 01 00                  func section: 1 func of type 0
    0a 04 01 02 00 0b            code section: 1 body, 2 bytes: 0 locals, end

:func:`split_sections` checks the preamble and cuts the input into
:class:`Section` records (id, absolute offsets, a memoryview of the bytes)
without decoding any payload, and checks what can be checked without
decoding: unknown ids, the order of the known sections, duplicates, sizes
beyond the input, custom section names (length and UTF-8). Every problem is a
:class:`~wasmweld.errors.DecodeError` with the absolute offset.

:class:`Reader` is a small cursor (``u32()``, ``name()``, ``count()``, ...)
for code that walks a payload field by field (``dump``, custom sections);
the hot section decoders in :mod:`wasmweld.binary.sections` use the
``leb`` functions directly on absolute positions.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator

from ..errors import DecodeError
from .leb import read_s32, read_s33, read_s64, read_u32, read_u64
from .leb import ByteData

__all__ = [
    "MAGIC", "VERSION", "COMPONENT_VERSION", "COMPONENT_PREAMBLE", "is_component", "COMPACT_BY_NAME", "COMPACT_BY_TYPE", "PREAMBLE", "SECTION_NAMES", "SECTION_IDS", "CANONICAL_ORDER", "ORDER_RANK",
    "Section", "Reader", "check_preamble", "split_sections", "iter_sections", "split_sections_partial", "decode_name", "end_message",
]

MAGIC = b"\x00asm"
VERSION = b"\x01\x00\x00\x00"
PREAMBLE = MAGIC + VERSION
#: a component's version and layer fields (0x0d, layer 1) after the same magic
COMPONENT_VERSION = b"\x0d\x00\x01\x00"
COMPONENT_PREAMBLE = MAGIC + COMPONENT_VERSION


def is_component(data: bytes | bytearray | memoryview) -> bool:
    """True if ``data`` starts with the component preamble (magic, version 0x0d, layer 1)."""
    return bytes(data[:8]) == COMPONENT_PREAMBLE


#: section id -> spec name
SECTION_NAMES: dict[int, str] = {
    0: "custom", 1: "type", 2: "import", 3: "func", 4: "table", 5: "memory", 6: "global",
    7: "export", 8: "start", 9: "elem", 10: "code", 11: "data", 12: "datacount", 13: "tag",
}
SECTION_IDS: dict[str, int] = {v: k for k, v in SECTION_NAMES.items()}

#: the order known sections must appear in (custom sections may appear anywhere)
CANONICAL_ORDER: tuple[int, ...] = (1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11)
ORDER_RANK: dict[int, int] = {sid: rank for rank, sid in enumerate(CANONICAL_ORDER)}

#: the compact-imports proposal's group forms, the byte after a module name and an empty field name
COMPACT_BY_NAME = 0x7F   #: ``vec(name externtype)``: several imports from one module
COMPACT_BY_TYPE = 0x7E   #: ``externtype vec(name)``: several imports of one type from one module


def end_message(offset: int, total: int) -> str:
    """The spec's wording for running out of bytes at ``offset`` in an input of ``total`` bytes."""
    return "unexpected end" if offset >= total else "unexpected end of section or function"


def decode_name(data: ByteData, pos: int, end: int, base: int = 0) -> tuple[str, int]:
    """Read a ``name`` (u32 length + UTF-8 bytes) from ``data[pos:end]``."""
    n, p = read_u32(data, pos, end, base)
    if n > end - p:
        raise DecodeError("length out of bounds", base + p)
    raw = data[p:p + n]
    try:
        text = str(raw, "utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError("malformed UTF-8 encoding", base + p + e.start) from None
    return text, p + n


class Section:
    """One section of the input, as found by :func:`split_sections`.

    ``offset`` is the absolute offset of the id byte, ``payload_offset`` of
    the first payload byte, ``end`` one past the last; ``raw`` is the whole
    section (header included) and ``payload`` its content, both memoryviews
    into the input. For a custom section ``name`` is its name and
    ``data_offset`` where its data (after the name) starts.
    """

    __slots__ = ("id", "offset", "payload_offset", "end", "name", "data_offset", "_buf")

    def __init__(self, id: int, offset: int, payload_offset: int, end: int, buf: ByteData,
                 name: str | None = None, data_offset: int | None = None):
        self.id: int = id
        self.offset: int = offset
        self.payload_offset: int = payload_offset
        self.end: int = end
        self._buf = buf
        self.name: str | None = name
        self.data_offset: int = payload_offset if data_offset is None else data_offset

    @property
    def size(self) -> int:
        """Payload size in bytes (the value of the size field)."""
        return self.end - self.payload_offset

    @property
    def raw(self) -> memoryview:
        """The whole section, id and size field included."""
        return memoryview(self._buf)[self.offset:self.end]

    @property
    def payload(self) -> memoryview:
        return memoryview(self._buf)[self.payload_offset:self.end]

    @property
    def data(self) -> memoryview:
        """Custom sections: the bytes after the name; known sections: the payload."""
        return memoryview(self._buf)[self.data_offset:self.end]

    @property
    def kind(self) -> str:
        """The spec name of the section id (``"custom"``, ``"type"``, ...)."""
        return SECTION_NAMES.get(self.id, f"unknown({self.id})")

    def __repr__(self) -> str:
        extra = f" {self.name!r}" if self.id == 0 else ""
        return f"<Section {self.kind}{extra} at 0x{self.offset:x}, {self.size} bytes>"


def check_preamble(data: ByteData) -> None:
    """Raise DecodeError unless ``data`` starts with the magic number and version 1."""
    n = len(data)
    if n < 4:
        raise DecodeError("unexpected end", n, "module preamble")
    head = bytes(data[:8])
    if head[:4] != MAGIC:
        raise DecodeError("magic header not detected", 0)
    if n < 8:
        raise DecodeError("unexpected end", n, "module preamble")
    if head[4:8] != VERSION:
        raise DecodeError("unknown binary version", 4)


def split_sections(data: ByteData, start: int = 8) -> list[Section]:
    """Cut ``data`` (a whole module) into sections; checks the preamble first.

    ``data`` should be ``bytes`` (fastest) or a memoryview; positions are absolute.
    """
    sections, error = split_sections_partial(data, start)
    if error is not None:
        raise error
    return sections


def split_sections_partial(data: ByteData, start: int = 8) -> tuple[list[Section], DecodeError | None]:
    """Like :func:`split_sections`, but return the sections before the first problem and the problem.

    A full decoder uses this to report problems in file order: a section that is
    malformed inside comes before a broken header further on.
    """
    check_preamble(data)
    sections: list[Section] = []
    try:
        sections.extend(iter_sections(data, start))
    except DecodeError as e:
        return sections, e
    return sections, None


def iter_sections(data: ByteData, start: int = 8, *, order: bool = True, names: bool = True) -> Iterator[Section]:
    """The sections of ``data`` from ``start`` one at a time (the preamble is not checked here).

    THE reader of section headers: ``split_sections``, ``dump`` and the dylink
    scanners all walk a module through it, so the first problem is found at the
    same place by all of them. ``order``: refuse duplicate or out-of-order known
    sections; ``names``: decode each custom section's name (else ``name`` is None
    and ``data_offset`` the payload start, for a caller that shows a bad name itself).
    """
    total = len(data)
    pos = start
    last_rank = -1
    seen: set[int] = set()
    while pos < total:
        offset = pos
        sid = data[pos]
        pos += 1
        if sid not in SECTION_NAMES:
            raise DecodeError("malformed section id", offset, f"section header (id {sid})")
        try:
            size, pos = read_u32(data, pos, total)
        except DecodeError as e:
            raise e.with_context(f"{SECTION_NAMES[sid]} section size") from None
        end = pos + size
        if end > total:
            raise DecodeError("length out of bounds", pos,
                              f"{SECTION_NAMES[sid]} section size ({size} bytes, {total - pos} left)")
        if sid == 0:
            if names:
                try:
                    name, data_offset = decode_name(data, pos, end)
                except DecodeError as e:
                    raise e.with_context("custom section name") from None
                yield Section(0, offset, pos, end, data, name, data_offset)
            else:
                yield Section(0, offset, pos, end, data, None, pos)
        else:
            if order:
                rank = ORDER_RANK[sid]
                if sid in seen:
                    raise DecodeError("unexpected content after last section", offset,
                                      f"{SECTION_NAMES[sid]} section (duplicate)")
                if rank < last_rank:
                    raise DecodeError("unexpected content after last section", offset,
                                      f"{SECTION_NAMES[sid]} section (out of order)")
                seen.add(sid)
                last_rank = rank
            yield Section(sid, offset, pos, end, data)
        pos = end


class Reader:
    """A bounds-checked cursor over ``data[pos:end]``; ``base`` is the absolute offset of ``data[0]``.

    >>> r = Reader(b"\\x03abc\\x05")
    >>> r.name(), r.u32(), r.at_end()
    ('abc', 5, True)
    """

    __slots__ = ("data", "pos", "end", "base")

    def __init__(self, data: ByteData, pos: int = 0, end: int | None = None, base: int = 0):
        self.data: ByteData = data
        self.pos: int = pos
        self.end: int = len(data) if end is None else end
        self.base: int = base

    @property
    def offset(self) -> int:
        """Absolute offset of the cursor."""
        return self.base + self.pos

    def remaining(self) -> int:
        return self.end - self.pos

    def at_end(self) -> bool:
        return self.pos >= self.end

    def error(self, message: str, offset: int | None = None, context: str | None = None) -> DecodeError:
        return DecodeError(message, self.base + self.pos if offset is None else offset, context)

    def _need(self, n: int) -> None:
        if n > self.end - self.pos:
            raise DecodeError("unexpected end", self.base + self.end)

    def byte(self) -> int:
        if self.pos >= self.end:
            raise DecodeError("unexpected end", self.base + self.pos)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < self.end else None

    def u32(self) -> int:
        v, self.pos = read_u32(self.data, self.pos, self.end, self.base)
        return v

    def u64(self) -> int:
        v, self.pos = read_u64(self.data, self.pos, self.end, self.base)
        return v

    def s32(self) -> int:
        v, self.pos = read_s32(self.data, self.pos, self.end, self.base)
        return v

    def s33(self) -> int:
        v, self.pos = read_s33(self.data, self.pos, self.end, self.base)
        return v

    def s64(self) -> int:
        v, self.pos = read_s64(self.data, self.pos, self.end, self.base)
        return v

    def fixed(self, n: int) -> int:
        """An ``n``-byte little-endian unsigned integer (DWARF's fixed-width fields)."""
        if n > self.end - self.pos:
            raise DecodeError("unexpected end", self.base + self.end)
        v = int.from_bytes(self.data[self.pos:self.pos + n], "little")
        self.pos += n
        return v

    def cstr(self) -> bytes:
        """A NUL-terminated byte string (without its NUL); the cursor moves past the NUL."""
        stop = bytes(self.data[self.pos:self.end]).find(0) if not isinstance(self.data, bytes) \
            else self.data.find(0, self.pos, self.end)
        if stop < 0:
            raise DecodeError("unterminated string", self.base + self.pos)
        if not isinstance(self.data, bytes):
            stop += self.pos
        out = bytes(self.data[self.pos:stop])
        self.pos = stop + 1
        return out

    def bytes(self, n: int) -> bytes:
        """The next ``n`` bytes (a copy), refusing a length past the end."""
        if n > self.end - self.pos:
            raise DecodeError("length out of bounds", self.base + self.pos)
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out

    def byte_vec(self) -> builtins.bytes:
        """A ``vec(byte)``: u32 length + bytes."""
        return self.bytes(self.u32())

    def name(self) -> str:
        text, self.pos = decode_name(self.data, self.pos, self.end, self.base)
        return text

    def count(self, min_item_size: int = 1) -> int:
        """Read a vector length, refusing one that cannot fit in the remaining bytes."""
        at = self.pos
        n = self.u32()
        if n * min_item_size > self.end - self.pos:
            raise DecodeError("length out of bounds", self.base + at,
                              f"vector of {n} items ({self.end - self.pos} bytes left)")
        return n

    def expect_end(self, what: str = "section") -> None:
        if self.pos != self.end:
            raise DecodeError("section size mismatch", self.base + self.pos, what)

    def sub(self, size: int) -> "Reader":
        """A reader over the next ``size`` bytes; advances this one past them."""
        if size > self.end - self.pos:
            raise DecodeError("length out of bounds", self.base + self.pos)
        r = Reader(self.data, self.pos, self.pos + size, self.base)
        self.pos += size
        return r
