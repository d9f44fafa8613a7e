"""The ``name`` custom section: debug names for the module and its index spaces.

For ``(module $m (func $f (param $x i32) (local $y i64)))`` a toolchain writes
a custom section named ``name`` with subsections ``id:u8 size:u32 content``::

    00 02 01 6d                  module name:    "m"
    01 04 01 00 01 66            function names: {0: "f"}
    02 08 01 00 02 00 01 78 01 01 79    local names: {0: {0: "x", 1: "y"}}

Subsection ids (the extended-name-section proposal included): 0 module,
1 function, 2 local, 3 label, 4 type, 5 table, 6 memory, 7 global, 8 elem,
9 data, 10 field, 11 tag. A name map is a ``dict[int, str]``; an indirect
name map (locals, labels, fields) is a ``dict[int, dict[int, str]]``.
Subsections with other ids are kept raw in ``unknown``.

Decoding then encoding is byte-identical: every subsection whose content
did not change is copied from the input (including non-minimal LEB128s,
duplicate entries or an unusual order), only changed ones are re-encoded, and
new subsections go in ascending id order.

>>> ns = NameSection.decode(bytes.fromhex("0104010001 66".replace(" ", "")))
>>> ns.funcs
{0: 'f'}
"""

from __future__ import annotations

from typing import Any

import copy
from ..record import field, record

from ..binary.leb import Span, read_u32, write_u
from ..binary.reader import decode_name
from ..errors import DecodeError
from ..binary.leb import ByteData

__all__ = ["NameSection", "SUBSECTIONS", "SUBSECTION_SPACES", "read_subsection", "read_name_map",
           "read_indirect_map"]

#: subsection id -> (attribute name, kind) where kind is "name", "map" or "indirect"
SUBSECTIONS: dict[int, tuple[str, str]] = {
    0: ("module", "name"),
    1: ("funcs", "map"),
    2: ("locals", "indirect"),
    3: ("labels", "indirect"),
    4: ("types", "map"),
    5: ("tables", "map"),
    6: ("memories", "map"),
    7: ("globals", "map"),
    8: ("elems", "map"),
    9: ("datas", "map"),
    10: ("fields", "indirect"),
    11: ("tags", "map"),
}
_ATTR_IDS = {attr: sid for sid, (attr, _k) in SUBSECTIONS.items()}
#: subsection id -> the index space its (outer) indices name (what the renumberer re-keys)
SUBSECTION_SPACES: dict[int, str] = {1: "func", 2: "func", 3: "func", 4: "type", 5: "table", 6: "memory",
                                     7: "global", 8: "elem", 9: "data", 10: "type", 11: "tag"}


def read_subsection(data: ByteData, pos: int, end: int, base: int = 0) -> tuple[int, int, int]:
    """The subsection header at ``pos``: ``id:u8 size:u32`` -> (id, content start, content end)."""
    sid = data[pos]
    size, p = read_u32(data, pos + 1, end, base)
    sub_end = p + size
    if sub_end > end:
        raise DecodeError("length out of bounds", base + p, f"name subsection {sid} size")
    return sid, p, sub_end


def read_name_map(data: ByteData, pos: int, end: int, base: int = 0, spans: list[Span] | None = None,
                  keys: list[tuple[int, int, int]] | None = None, *,
                  check_count: bool = True) -> tuple[dict[int, str], int]:
    """A name map ``vec(idx:u32 name)``; ``spans`` (absolute offsets) gets ``("count", ..)`` and one
    ``("entry", start, end, (index, name))`` per entry; ``keys`` gets ``(index, start, index end)`` per
    entry, positions in ``data`` (where the renumberer re-keys the entry; its rest runs to the next one).
    With ``keys`` the names are only skipped, not decoded (the renumberer copies their bytes; UTF-8 is
    the decoder's check): the dict comes back empty.

    ``check_count=False``: a count larger than the bytes left is not refused up front; the entries
    are read until one fails (the text printer keeps the ``spans`` entries read before, as
    ``wasm-tools print`` keeps the names it read)."""
    at = pos
    n, pos = read_u32(data, pos, end, base)
    if check_count and n * 2 > end - pos:
        raise DecodeError("length out of bounds", base + pos, f"name map of {n} entries")
    out: dict[int, str] = {}
    if spans is not None:
        spans.append(("count", base + at, base + pos, n))
        for _ in range(n):
            at = pos
            idx, pos = read_u32(data, pos, end, base)
            out[idx], pos = decode_name(data, pos, end, base)
            spans.append(("entry", base + at, base + pos, (idx, out[idx])))
        return out, pos
    if keys is not None:
        for _ in range(n):
            at = pos
            idx, pos = read_u32(data, pos, end, base)
            keys.append((idx, at, pos))
            k, pos = read_u32(data, pos, end, base)        # name: u32 length, then its bytes
            if k > end - pos:
                raise DecodeError("length out of bounds", base + pos)
            pos += k
        return out, pos
    for _ in range(n):
        idx, pos = read_u32(data, pos, end, base)
        out[idx], pos = decode_name(data, pos, end, base)
    return out, pos


def read_indirect_map(data: ByteData, pos: int, end: int, base: int = 0, spans: list[Span] | None = None,
                      keys: list[tuple[int, int, int]] | None = None, *,
                      check_count: bool = True) -> tuple[dict[int, dict[int, str]], int]:
    """An indirect name map ``vec(idx:u32 namemap)``; ``spans`` gets ``("count", ..)`` and per entry
    ``("outer", start, end, index)`` (the index's own span), then its inner map's spans; ``keys`` gets
    ``(index, start, index end)`` per outer entry, as in :func:`read_name_map` (``check_count`` too)."""
    at = pos
    n, pos = read_u32(data, pos, end, base)
    if check_count and n * 2 > end - pos:
        raise DecodeError("length out of bounds", base + pos, f"indirect name map of {n} entries")
    if spans is not None:
        spans.append(("count", base + at, base + pos, n))
    out: dict[int, dict[int, str]] = {}
    for _ in range(n):
        at = pos
        idx, pos = read_u32(data, pos, end, base)
        if spans is not None:
            spans.append(("outer", base + at, base + pos, idx))
        if keys is not None:
            keys.append((idx, at, pos))
        out[idx], pos = read_name_map(data, pos, end, base, spans, None if keys is None else [],
                                      check_count=check_count)
    return out, pos


def _enc_name(s: str) -> bytes:
    b = s.encode("utf-8")
    return write_u(len(b)) + b


def _enc_map(m: dict[int, str]) -> bytes:
    parts = [write_u(len(m))]
    for idx, name in m.items():
        parts.append(write_u(idx))
        parts.append(_enc_name(name))
    return b"".join(parts)


def _enc_indirect(m: dict[int, dict[int, str]]) -> bytes:
    parts = [write_u(len(m))]
    for idx, inner in m.items():
        parts.append(write_u(idx))
        parts.append(_enc_map(inner))
    return b"".join(parts)


@record
class NameSection:
    """Decoded ``name`` section. Empty maps / ``module=None`` mean "subsection absent"."""

    module: str | None = None
    funcs: dict[int, str] = field(default_factory=dict)
    locals: dict[int, dict[int, str]] = field(default_factory=dict)
    labels: dict[int, dict[int, str]] = field(default_factory=dict)
    types: dict[int, str] = field(default_factory=dict)
    tables: dict[int, str] = field(default_factory=dict)
    memories: dict[int, str] = field(default_factory=dict)
    globals: dict[int, str] = field(default_factory=dict)
    elems: dict[int, str] = field(default_factory=dict)
    datas: dict[int, str] = field(default_factory=dict)
    fields: dict[int, dict[int, str]] = field(default_factory=dict)
    tags: dict[int, str] = field(default_factory=dict)
    #: subsections with ids this decoder does not know: (id, raw content)
    unknown: list[tuple[int, bytes]] = field(default_factory=list)
    # original subsections in order: (id, raw bytes incl. header, decoded snapshot)
    _orig: list[Any] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def decode(cls, data: ByteData, offset: int = 0, spans: list[Span] | None = None) -> "NameSection":
        """Decode the section's content (the bytes after the name ``"name"``); ``offset`` is its absolute offset.

        ``spans``, when given, receives ``(part, start, end, value)`` with absolute offsets as each part is
        read: ``("sub", .., (id, size))`` per subsection header, ``("raw", ..)`` for an unknown one's
        content, ``("module", .., name)``, ``("count", .., n)``, ``("outer", .., index)`` (indirect maps)
        and ``("entry", .., (index, name))`` (what ``dump`` shows)."""
        data = bytes(data)
        ns = cls()
        pos, end = 0, len(data)
        seen: set[int] = set()
        value: object
        try:
            while pos < end:
                start = pos
                sid, pos, sub_end = read_subsection(data, pos, end, offset)
                size = sub_end - pos
                if spans is not None:
                    spans.append(("sub", offset + start, offset + pos, (sid, size)))
                spec = SUBSECTIONS.get(sid)
                if spec is None:
                    if spans is not None:
                        spans.append(("raw", offset + pos, offset + sub_end, None))
                    value = bytes(data[pos:sub_end])
                    ns.unknown.append((sid, value))
                    ns._orig.append((sid, data[start:sub_end], value))
                    pos = sub_end
                    continue
                attr, kind = spec
                if sid in seen:
                    raise DecodeError(f"duplicate name subsection {sid} ({attr})", offset + start)
                seen.add(sid)
                if kind == "name":
                    value, p = decode_name(data, pos, sub_end, offset)
                    if spans is not None:
                        spans.append(("module", offset + pos, offset + p, value))
                elif kind == "map":
                    value, p = read_name_map(data, pos, sub_end, offset, spans)
                else:
                    value, p = read_indirect_map(data, pos, sub_end, offset, spans)
                if p != sub_end:
                    raise DecodeError("section size mismatch", offset + p, f"name subsection {sid} ({attr})")
                setattr(ns, attr, value)
                ns._orig.append((sid, data[start:sub_end], copy.deepcopy(value)))
                pos = sub_end
        except DecodeError as e:
            raise e.with_context("name section") from None
        return ns

    def _current(self, sid: int):
        attr, kind = SUBSECTIONS[sid]
        return getattr(self, attr)

    def _encode_sub(self, sid: int, value) -> bytes:
        kind = SUBSECTIONS[sid][1]
        if kind == "name":
            content = _enc_name(value)
        elif kind == "map":
            content = _enc_map(value)
        else:
            content = _enc_indirect(value)
        return bytes((sid,)) + write_u(len(content)) + content

    def encode(self) -> bytes:
        """The section content (without the custom section header and name)."""
        out: list[tuple[int, bytes]] = []
        emitted: set[int] = set()
        unknown_left = list(self.unknown)
        for sid, raw, snap in self._orig:
            if sid not in SUBSECTIONS:
                # unknown subsection: kept if still listed (first match by value)
                for i, (uid, ucontent) in enumerate(unknown_left):
                    if uid == sid and ucontent == snap:
                        out.append((sid, raw))
                        del unknown_left[i]
                        break
                continue
            emitted.add(sid)
            cur = self._current(sid)
            if cur is None or (not cur and SUBSECTIONS[sid][1] != "name"):
                continue  # removed
            if cur == snap:
                out.append((sid, raw))
            else:
                out.append((sid, self._encode_sub(sid, cur)))
        # new known subsections, in ascending id order, before the first original with a higher id
        for sid in sorted(SUBSECTIONS):
            if sid in emitted:
                continue
            cur = self._current(sid)
            if cur is None or (not cur and SUBSECTIONS[sid][1] != "name"):
                continue
            enc = self._encode_sub(sid, cur)
            at = len(out)
            for i, (osid, _raw) in enumerate(out):
                if osid > sid:
                    at = i
                    break
            out.insert(at, (sid, enc))
        for sid, content in unknown_left:
            out.append((sid, bytes((sid,)) + write_u(len(content)) + content))
        return b"".join(raw for _sid, raw in out)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameSection):
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a, _k in SUBSECTIONS.values()) and \
            self.unknown == other.unknown
