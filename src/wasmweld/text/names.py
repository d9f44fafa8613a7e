"""Identifiers for the text format, derived from the ``name`` section exactly as ``wasm-tools print`` does.

A function named ``f`` prints as ``$f``; a name with characters outside the
identifier set is quoted; an empty name, one starting with ``#`` or one used
twice in the same map gets a synthetic identifier that keeps it readable::

    (func $f (;0;) ...)                      name "f"
    (func $"a b" (;1;) ...)                  name "a b"
    (func $"#func2 f" (@name "f") (;2;) ...) a second "f"
    call $f / call $"a b" / call $"#func2 f"

:class:`Naming` holds both spellings: ``ident`` where the item is referred to
and ``defn`` where it is defined (with the ``(@name ...)`` annotation for
synthetic names). :func:`read_names` reads a name section the way wasmparser
does: a malformed part ends the reading, the names read before it stay.
"""

from __future__ import annotations

import re

from ..binary.leb import ByteData, Span
from ..binary.reader import decode_name
from ..custom import name as name_section
from ..errors import DecodeError

__all__ = ["Naming", "Names", "escape", "read_names", "read_name_map"]

_IDCHARS = re.compile(r"[0-9a-zA-Z!#$%&'*+\-./:<=>?@\\^_`|~]*")
_ESC = {c: f"\\u{{{c:x}}}" for c in list(range(32)) + [ord('"'), ord("\\"), 127]}


def escape(s: str) -> str:
    """The contents of a string literal: printable ASCII as is, everything else ``\\u{hex}``."""
    if s.isascii():
        return s.translate(_ESC)
    return "".join(c if 0x20 <= ord(c) < 0x7F and c != '"' and c != "\\" else f"\\u{{{ord(c):x}}}" for c in s)


class Naming:
    """One name: ``name`` (as in the section), ``ident`` (a reference) and ``defn`` (a definition)."""

    __slots__ = ("name", "ident", "defn")

    def __init__(self, name: str, index: int, group: str, used: set[str] | None) -> None:
        self.name: str = name
        self.ident: str
        self.defn: str
        synthetic = not name or name[0] == "#"
        if used is not None and not synthetic:
            if name in used:
                synthetic = True
            else:
                used.add(name)
        if synthetic:
            esc = escape(name)
            self.ident = f'$"#{group}{index} {esc}"'
            self.defn = f'{self.ident} (@name "{esc}")'
        elif _IDCHARS.fullmatch(name):
            self.ident = self.defn = "$" + name
        else:
            self.ident = self.defn = f'$"{escape(name)}"'


class Names:
    """Every name map of a module: ``func``, ``type``, ... (index -> Naming), ``local``/``label``/``field``
    ((outer, inner) -> Naming) and ``module`` (Naming or None)."""

    __slots__ = ("module", "func", "type", "table", "memory", "global_", "elem", "data", "tag",
                 "local", "label", "field", "local_funcs", "label_funcs")

    def __init__(self) -> None:
        self.module: Naming | None = None
        self.func: dict[int, Naming] = {}
        self.type: dict[int, Naming] = {}
        self.table: dict[int, Naming] = {}
        self.memory: dict[int, Naming] = {}
        self.global_: dict[int, Naming] = {}
        self.elem: dict[int, Naming] = {}
        self.data: dict[int, Naming] = {}
        self.tag: dict[int, Naming] = {}
        self.local: dict[tuple[int, int], Naming] = {}
        self.label: dict[tuple[int, int], Naming] = {}
        self.field: dict[tuple[int, int], Naming] = {}
        #: functions that have at least one local / label name
        self.local_funcs: set[int] = set()
        self.label_funcs: set[int] = set()


_MAPS = {1: ("func", "func"), 4: ("type", "type"), 5: ("table", "table"), 6: ("memory", "memory"),
         7: ("global_", "global"), 8: ("elem", "elem"), 9: ("data", "data"), 11: ("tag", "tag")}
_INDIRECT = {2: ("local", "local"), 3: ("label", "label"), 10: ("field", "field")}


def read_name_map(data: ByteData, pos: int, end: int, into: dict[int, Naming], group: str) -> None:
    """A name map (``vec(idx name)``) filling ``into`` with :class:`Naming` of ``group`` (modules and components).

    Read by :func:`wasmweld.custom.name.read_name_map` (the one reader of the layout); the entries
    read before a malformed one are kept, in order, before its DecodeError propagates. As in
    wasmparser, the indices must increase: the first that does not ends the reading the same way."""
    spans: list[Span] = []
    try:
        _, pos = name_section.read_name_map(data, pos, end, spans=spans, check_count=False)
    finally:
        _name_entries(spans, into, group)
    if pos != end:
        raise DecodeError("unexpected data at the end of the section", pos)


def _name_entries(spans: list[Span], into: dict[int, Naming], group: str) -> None:
    """The ``("entry", .., (index, name))`` spans of one name map into ``into``, up to the first
    index that does not increase (DecodeError there)."""
    used: set[str] = set()
    last = -1
    for part, start, _end, value in spans:
        if part == "entry":
            idx, name = value
            if idx <= last:
                raise DecodeError("name map indices must increase", start)
            last = idx
            into[idx] = Naming(name, idx, group, used)


def _indirect(data: ByteData, pos: int, end: int, names: Names, attr: str, group: str) -> None:
    into = getattr(names, attr)
    funcs = names.local_funcs if attr == "local" else names.label_funcs if attr == "label" else None
    spans: list[Span] = []
    try:
        _, pos = name_section.read_indirect_map(data, pos, end, spans=spans, check_count=False)
    finally:
        outer = last_outer = last = -1
        used: set[str] | None = None
        for part, start, _end, value in spans:
            if part == "outer":
                if value <= last_outer:
                    raise DecodeError("name map indices must increase", start)
                outer = last_outer = value
                last = -1
                used = None if group == "label" else set()
            elif part == "entry":
                idx, name = value
                if idx <= last:
                    raise DecodeError("name map indices must increase", start)
                last = idx
                into[(outer, idx)] = Naming(name, idx, group, used)
                if funcs is not None:
                    funcs.add(outer)
    if pos != end:
        raise DecodeError("unexpected data at the end of the section", pos)


def read_names(data: ByteData, names: Names | None = None) -> Names:
    """Add the names of one ``name`` custom section payload to ``names`` (a new Names if None)."""
    if names is None:
        names = Names()
    pos, end = 0, len(data)
    try:
        while pos < end:
            if data[pos] >= 0x80:
                return names
            sid, p, q = name_section.read_subsection(data, pos, end)   # DecodeError past the end
            if sid == 0:
                name, r = decode_name(data, p, q)
                if r != q:
                    return names
                names.module = Naming(name, 0, "module", None)
            elif sid in _MAPS:
                attr, group = _MAPS[sid]
                read_name_map(data, p, q, getattr(names, attr), group)
            elif sid in _INDIRECT:
                attr, group = _INDIRECT[sid]
                _indirect(data, p, q, names, attr, group)
            pos = q
    except DecodeError:
        pass
    return names
