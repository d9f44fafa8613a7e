"""The ``dylink.0`` custom section (and its predecessor ``dylink``) as a typed value.

A WebAssembly *side module* (a shared library: ``clang -fPIC`` + ``wasm-ld
--experimental-pic -shared``, or emscripten ``SIDE_MODULE``) starts with a
custom section that tells a dynamic loader how much of the shared memory and
table to reserve for it and which symbols it needs::

    (module
      (@custom "dylink.0" ...)                ;; mem_size=12 mem_align=2 table_size=1
      (import "env" "memory" (memory 0))
      (import "env" "__memory_base" (global i32))
      (import "env" "__table_base" (global i32))
      (import "GOT.mem" "counter" (global (mut i32)))
      ...)

``dylink.0`` is a sequence of subsections ``(id: u8, size: u32, payload)``:

====  ===============  ==========================================================
 id   name             payload
====  ===============  ==========================================================
 1    MEM_INFO         mem_size, mem_align (log2), table_size, table_align (log2)
 2    NEEDED           vec(name)
 3    EXPORT_INFO      vec(name, flags)
 4    IMPORT_INFO      vec(module, field, flags)
 5    RUNTIME_PATH     vec(path)
====  ===============  ==========================================================

The legacy ``dylink`` section (LLVM < 13, older emscripten) has no
subsections: mem_size, mem_align, table_size, table_align, vec(needed).
:class:`Dylink` reads both; ``legacy`` says which one it came from and
:meth:`Dylink.encode` writes the same form back.

Unknown subsections are kept raw (``unknown``) and re-emitted in place.
Decoding then encoding an unchanged value gives back the exact input bytes,
even when the input used over-long LEB128 encodings. Malformed input raises
:class:`wasmweld.errors.DecodeError` with the absolute byte offset.

Only the standard library is used.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..record import field, record

from wasmweld.binary.leb import ByteData, Span, read_u32, write_u
from wasmweld.binary.reader import PREAMBLE, Reader, decode_name
from wasmweld.binary.reader import iter_sections as _iter_section_records
from wasmweld.errors import DecodeError, EncodeError

__all__ = [
    "Dylink",
    "DylinkReader",
    "encode_u32",
    "encode_name",
    "ExportInfo",
    "ImportInfo",
    "find_dylink",
    "iter_sections",
    "SECTION_NAME",
    "LEGACY_SECTION_NAME",
    "MEM_INFO",
    "NEEDED",
    "EXPORT_INFO",
    "IMPORT_INFO",
    "RUNTIME_PATH",
    "SYMBOL_BINDING_WEAK",
    "SYMBOL_BINDING_LOCAL",
    "SYMBOL_VISIBILITY_HIDDEN",
    "SYMBOL_TLS",
]

SECTION_NAME = "dylink.0"
LEGACY_SECTION_NAME = "dylink"

MEM_INFO = 1
NEEDED = 2
EXPORT_INFO = 3
IMPORT_INFO = 4
RUNTIME_PATH = 5

# symbol flags (tool-conventions Linking.md), used by EXPORT_INFO / IMPORT_INFO
SYMBOL_BINDING_WEAK = 0x1
SYMBOL_BINDING_LOCAL = 0x2
SYMBOL_VISIBILITY_HIDDEN = 0x4
SYMBOL_UNDEFINED = 0x10
SYMBOL_EXPORTED = 0x20
SYMBOL_EXPLICIT_NAME = 0x40
SYMBOL_NO_STRIP = 0x80
SYMBOL_TLS = 0x100
SYMBOL_ABSOLUTE = 0x200

_U32_MAX = 0xFFFFFFFF


@record(frozen=True, slots=True)
class ExportInfo:
    """Extra information about one exported symbol (``flags``: SYMBOL_* bits)."""

    name: str
    flags: int = 0


@record(frozen=True, slots=True)
class ImportInfo:
    """Extra information about one imported symbol (e.g. ``SYMBOL_BINDING_WEAK``)."""

    module: str
    field: str
    flags: int = 0


class DylinkReader(Reader):
    """The binary layer's :class:`~wasmweld.binary.reader.Reader` with the dylink readers' wording:
    each read names what it reads (``u32("export index")``), errors carry absolute offsets."""

    __slots__ = ()
    pos: int

    def abs(self, pos: int | None = None) -> int:
        return self.base + (self.pos if pos is None else pos)

    def u8(self, what: str) -> int:
        if self.pos >= self.end:
            raise DecodeError(f"unexpected end of data reading {what}", self.abs())
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u32(self, what: str = "u32") -> int:
        start = self.pos
        try:
            v, self.pos = read_u32(self.data, self.pos, self.end, self.base)
        except DecodeError as e:
            if e.message.startswith("unexpected end"):
                raise DecodeError(f"unexpected end of data in LEB128 {what}", self.abs(start)) from None
            raise DecodeError(f"LEB128 {what} does not fit in u32 ({e.message})", self.abs(start)) from None
        return v

    def name(self, what: str = "name") -> str:
        start = self.pos
        n = self.u32(f"length of {what}")
        if n > self.end - self.pos:
            raise DecodeError(f"{what} of length {n} runs past the end of its subsection", self.abs(start))
        try:
            text, self.pos = decode_name(self.data, start, self.end, self.base)
        except DecodeError as e:
            raise DecodeError(f"{what} is not valid UTF-8", e.offset) from None
        return text

    def vec_count(self, what: str, min_item_size: int = 1) -> int:
        """A vector length, refused when ``min_item_size`` bytes per item cannot fit in what is left."""
        start = self.pos
        n = self.u32(f"count of {what}")
        if n * min_item_size > self.end - self.pos:
            raise DecodeError(f"count {n} of {what} exceeds the remaining {self.end - self.pos} bytes",
                              self.abs(start))
        return n


#: the former private name, kept until runtime/dylink_loader.py uses DylinkReader
_Cursor = DylinkReader


def encode_u32(v: int) -> bytes:
    """A u32 LEB128; EncodeError when ``v`` does not fit."""
    if not 0 <= v <= _U32_MAX:
        raise EncodeError(f"value {v} does not fit in u32")
    return write_u(v)


def encode_name(s: str) -> bytes:
    """A ``name``: u32 byte length + UTF-8."""
    raw = s.encode("utf-8")
    return encode_u32(len(raw)) + raw


#: former private names, kept until runtime/dylink_loader.py uses encode_u32 / encode_name
_leb_u32 = encode_u32
_name = encode_name


@record(eq=False)
class Dylink:
    """The decoded ``dylink.0`` (or legacy ``dylink``) custom section.

    ``mem_align`` and ``table_align`` are log2 values, as in the section.
    ``unknown`` holds ``(id, payload)`` of subsections this reader does not know.
    Two values compare equal when their typed contents are equal (the remembered
    original encoding takes no part).
    """

    mem_size: int = 0
    mem_align: int = 0
    table_size: int = 0
    table_align: int = 0
    needed: list[str] = field(default_factory=list)
    export_info: list[ExportInfo] = field(default_factory=list)
    import_info: list[ImportInfo] = field(default_factory=list)
    runtime_path: list[str] = field(default_factory=list)
    unknown: list[tuple[int, bytes]] = field(default_factory=list)
    legacy: bool = False
    # original encoding: list of (kind, snapshot, raw bytes) in file order
    _orig: list[Any] | None = field(default=None, repr=False, compare=False)
    _orig_raw: ByteData | None = field(default=None, repr=False, compare=False)

    # -- convenience -------------------------------------------------------------------
    @property
    def section_name(self) -> str:
        """``"dylink"`` for the legacy form, ``"dylink.0"`` otherwise."""
        return LEGACY_SECTION_NAME if self.legacy else SECTION_NAME

    @property
    def mem_alignment(self) -> int:
        """Required alignment of the memory area in bytes."""
        return 1 << min(self.mem_align, 31)

    @property
    def table_alignment(self) -> int:
        """Required alignment of the table area in elements."""
        return 1 << min(self.table_align, 31)

    def import_flags(self, module: str, field_: str) -> int:
        for info in self.import_info:
            if info.module == module and info.field == field_:
                return info.flags
        return 0

    def export_flags(self, name: str) -> int:
        for info in self.export_info:
            if info.name == name:
                return info.flags
        return 0

    def _typed(self) -> tuple[Any, ...]:
        return (self.mem_size, self.mem_align, self.table_size, self.table_align, tuple(self.needed),
                tuple(self.export_info), tuple(self.import_info), tuple(self.runtime_path),
                tuple(self.unknown), self.legacy)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dylink):
            return NotImplemented
        return self._typed() == other._typed()

    # -- decoding ----------------------------------------------------------------------
    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview, offset: int = 0, *, legacy: bool = False,
               spans: list[Span] | None = None) -> "Dylink":
        """Decode a section payload (the bytes after the custom section's name).

        ``offset`` is the absolute position of ``data`` in the module, used in
        error messages. ``legacy=True`` reads the old ``dylink`` layout.
        ``spans`` (``dylink.0``), when given, receives ``(part, start, end, value)`` with absolute offsets as
        each part is read: ``("sub", .., (id, size))``, ``("field", .., (label, value))`` (mem info),
        ``("count", .., n)``, ``("name", .., text)``, ``("export", .., (name, flags))``, ``("import", ..,
        (module, field, flags))``, ``("raw", ..)`` (what ``dump`` shows).
        """
        data = bytes(data)
        cur = DylinkReader(data, 0, len(data), offset)
        if legacy:
            return cls._decode_legacy(cur)
        self = cls()
        orig: list[Any] = []
        seen: set[int] = set()
        while cur.pos < cur.end:
            sub_start = cur.pos
            sid = cur.u8("subsection id")
            size = cur.u32("subsection size")
            if size > cur.end - cur.pos:
                raise DecodeError(f"dylink.0 subsection {sid} of size {size} runs past the end of the section "
                                  f"({cur.end - cur.pos} bytes left)", cur.abs(sub_start))
            if spans is not None:
                spans.append(("sub", offset + sub_start, cur.abs(), (sid, size)))
            body = DylinkReader(data, cur.pos, cur.pos + size, offset)
            cur.pos += size
            raw = data[sub_start:cur.pos]
            if sid in seen and sid in (MEM_INFO, NEEDED, EXPORT_INFO, IMPORT_INFO, RUNTIME_PATH):
                raise DecodeError(f"duplicate dylink.0 subsection {sid}", offset + sub_start)
            seen.add(sid)
            snap = self._decode_sub(sid, body, data, spans)
            if body.pos != body.end:
                raise DecodeError(f"dylink.0 subsection {sid} has {body.end - body.pos} unread bytes",
                                  body.abs())
            orig.append((sid, snap, raw))
        self._orig = orig
        self._orig_raw = data
        return self

    def _decode_sub(self, sid: int, body: DylinkReader, data: bytes, spans: list[Span] | None):
        """One dylink.0 subsection's content into ``self``; returns its snapshot (to tell changes)."""
        def mark(part: str, start: int, value) -> None:
            if spans is not None:
                spans.append((part, body.abs(start), body.abs(), value))

        def count(what: str, min_size: int) -> int:
            at = body.pos
            n = body.vec_count(what, min_size)
            mark("count", at, n)
            return n

        def name(what: str) -> str:
            at = body.pos
            text = body.name(what)
            mark("name", at, text)
            return text

        if sid == MEM_INFO:
            values = []
            for label, what in (("memory size", "mem_size"), ("memory alignment (log2)", "mem_align"),
                                ("table size", "table_size"), ("table alignment (log2)", "table_align")):
                at = body.pos
                values.append(body.u32(what))
                mark("field", at, (label, values[-1]))
            self.mem_size, self.mem_align, self.table_size, self.table_align = values
            return tuple(values)
        if sid == NEEDED:
            n = count("needed libraries", 1)
            self.needed = [name("needed library name") for _ in range(n)]
            return tuple(self.needed)
        if sid == EXPORT_INFO:
            n = count("export infos", 2)
            infos = []
            for _ in range(n):
                at = body.pos
                infos.append(ExportInfo(body.name("export name"), body.u32("export flags")))
                mark("export", at, (infos[-1].name, infos[-1].flags))
            self.export_info = infos
            return tuple(infos)
        if sid == IMPORT_INFO:
            n = count("import infos", 3)
            imports: list[ImportInfo] = []
            for _ in range(n):
                at = body.pos
                mod = body.name("import module")
                fld = body.name("import field")
                imports.append(ImportInfo(mod, fld, body.u32("import flags")))
                mark("import", at, (mod, fld, imports[-1].flags))
            self.import_info = imports
            return tuple(imports)
        if sid == RUNTIME_PATH:
            n = count("runtime paths", 1)
            self.runtime_path = [name("runtime path") for _ in range(n)]
            return tuple(self.runtime_path)
        at = body.pos
        payload = data[body.pos:body.end]
        self.unknown.append((sid, payload))
        body.pos = body.end
        mark("raw", at, None)
        return (sid, payload)

    @classmethod
    def _decode_legacy(cls, cur: DylinkReader) -> "Dylink":
        self = cls(legacy=True)
        self.mem_size = cur.u32("mem_size")
        self.mem_align = cur.u32("mem_align")
        self.table_size = cur.u32("table_size")
        self.table_align = cur.u32("table_align")
        n = cur.vec_count("needed libraries", 1)
        self.needed = [cur.name("needed library name") for _ in range(n)]
        if cur.pos != cur.end:
            raise DecodeError(f"dylink section has {cur.end - cur.pos} trailing bytes", cur.abs())
        self._orig_raw = cur.data
        self._orig = [("legacy", self._typed(), cur.data)]
        return self

    # -- encoding ----------------------------------------------------------------------
    def _snapshot(self, sid: int):
        if sid == MEM_INFO:
            return (self.mem_size, self.mem_align, self.table_size, self.table_align)
        if sid == NEEDED:
            return tuple(self.needed)
        if sid == EXPORT_INFO:
            return tuple(self.export_info)
        if sid == IMPORT_INFO:
            return tuple(self.import_info)
        if sid == RUNTIME_PATH:
            return tuple(self.runtime_path)
        raise AssertionError(sid)

    def _payload(self, sid: int) -> bytes:
        if sid == MEM_INFO:
            return b"".join(encode_u32(v) for v in (self.mem_size, self.mem_align, self.table_size, self.table_align))
        if sid == NEEDED:
            return encode_u32(len(self.needed)) + b"".join(encode_name(s) for s in self.needed)
        if sid == EXPORT_INFO:
            return encode_u32(len(self.export_info)) + b"".join(
                encode_name(e.name) + encode_u32(e.flags) for e in self.export_info)
        if sid == IMPORT_INFO:
            return encode_u32(len(self.import_info)) + b"".join(
                encode_name(i.module) + encode_name(i.field) + encode_u32(i.flags) for i in self.import_info)
        if sid == RUNTIME_PATH:
            return encode_u32(len(self.runtime_path)) + b"".join(encode_name(s) for s in self.runtime_path)
        raise AssertionError(sid)

    @staticmethod
    def _sub(sid: int, payload: bytes) -> bytes:
        return bytes([sid]) + encode_u32(len(payload)) + payload

    def _present(self, sid: int) -> bool:
        if sid == MEM_INFO:  # a fresh value always says its sizes; a decoded one only if it had them or they changed
            return self._orig is None or any(self._snapshot(MEM_INFO))
        return bool(self._snapshot(sid))

    def encode(self) -> bytes:
        """Encode the section payload (without the custom section's name)."""
        if self.legacy:
            if self._orig and self._orig[0][1] == self._typed():
                return bytes(self._orig[0][2])
            if self.export_info or self.import_info or self.runtime_path or self.unknown:
                raise EncodeError("the legacy dylink section cannot hold export_info, import_info, "
                                  "runtime_path or unknown subsections")
            return (b"".join(encode_u32(v) for v in (self.mem_size, self.mem_align, self.table_size, self.table_align))
                    + encode_u32(len(self.needed)) + b"".join(encode_name(s) for s in self.needed))
        out = bytearray()
        done: set[int] = set()
        unknown_left = list(self.unknown)
        for sid, snap, raw in self._orig or ():
            if sid in (MEM_INFO, NEEDED, EXPORT_INFO, IMPORT_INFO, RUNTIME_PATH):
                done.add(sid)
                cur = self._snapshot(sid)
                if cur == snap:
                    out += raw
                elif sid == MEM_INFO or cur:
                    out += self._sub(sid, self._payload(sid))
            else:
                if snap in unknown_left:
                    unknown_left.remove(snap)
                    out += raw
        for sid in (MEM_INFO, NEEDED, EXPORT_INFO, IMPORT_INFO, RUNTIME_PATH):
            if sid not in done and self._present(sid):
                out += self._sub(sid, self._payload(sid))
        for sid, payload in unknown_left:
            out += self._sub(sid, bytes(payload))
        return bytes(out)


# ----------------------------------------------------------------------------------------
# locating the section in a module (stdlib only; does not need wasmweld.parse)


def iter_sections(wasm: bytes | bytearray | memoryview) -> Iterator[tuple[int, int, int, str | None]]:
    """``(id, payload start, end, custom name or None)`` of each section of ``wasm``."""
    """Yield ``(id, payload_start, payload_end, custom_name)`` for each section.

    ``custom_name`` is the decoded name for custom sections (payload_start then
    points after the name), else None. Raises DecodeError on a bad header or a
    section running past the end.
    """
    data = wasm if isinstance(wasm, (bytes, bytearray)) else bytes(wasm)
    if len(data) < 8 or data[:4] != PREAMBLE[:4]:
        raise DecodeError("not a WebAssembly binary (bad magic)", 0)
    if data[4:8] != PREAMBLE[4:]:
        raise DecodeError("unsupported WebAssembly binary version (components are not modules)", 4)
    for sec in _iter_section_records(data, 8, order=False):
        if sec.id == 0:
            yield 0, sec.data_offset, sec.end, sec.name
        else:
            yield sec.id, sec.payload_offset, sec.end, None


def find_dylink(wasm: bytes | bytearray | memoryview) -> Dylink | None:
    """Return the decoded ``dylink.0`` / ``dylink`` section of a module, or None.

    Only custom sections before the first non-custom section are considered (the
    convention puts the section first, so that a loader can tell a side module
    without scanning the whole file).
    """
    data = wasm if isinstance(wasm, (bytes, bytearray)) else bytes(wasm)
    for sid, start, end, name in iter_sections(data):
        if sid != 0:
            return None
        if name == SECTION_NAME:
            try:
                return Dylink.decode(data[start:end], start)
            except DecodeError as e:
                raise e.with_context("dylink.0 section") from None
        if name == LEGACY_SECTION_NAME:
            try:
                return Dylink.decode(data[start:end], start, legacy=True)
            except DecodeError as e:
                raise e.with_context("dylink section") from None
    return None
