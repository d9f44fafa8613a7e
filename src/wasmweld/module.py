"""The Module: typed, lazy, lossless access to every section of a binary module.

::

    (module
      (import "env" "log" (func $log (param i32)))
      (memory 1)
      (func (export "run") i32.const 42 call $log))

    >>> wasm = bytes.fromhex(
    ...     "0061736d01000000" "01080260017f00600000" "020b0103656e76036c6f670000"
    ...     "03020101" "0503010001" "0707010372756e0001" "0a08010600412a10000b")
    >>> m = parse(wasm)                        # lazy: sections split, nothing decoded yet
    >>> m.imports                              # decodes the import section on first access
    [Import(module='env', name='log', kind=<ExternKind.FUNC: 0>, desc=0)]
    >>> m.exports[0]
    Export(name='run', kind=<ExternKind.FUNC: 0>, index=1)
    >>> m.code[0].instrs                       # bodies decode only when asked
    [Instr(i32.const 42), Instr(call 0), Instr(end)]
    >>> m.encode() == wasm                     # byte for byte
    True
    >>> m.exports.append(Export("log", ExternKind.FUNC, 0))
    >>> parse(m.encode()).exports[1].name      # only the export section was re-encoded
    'log'

Section item lists are plain lists of frozen dataclasses (``Import``,
``Export``, ``Global``, ``Table``, ``Elem``, ``Data``, ``Tag``; ``RecGroup``
for types, ``MemoryType`` for memories, ``int`` type indices for funcs) and
``FuncBody`` objects for code. Edit them in place or assign new lists.

Lossless rule: each decoded section remembers the item objects it produced
and their byte spans. On :meth:`Module.encode`, a section whose list is
element-wise identical (``is``) to what was decoded is copied raw, header
included; otherwise the count is re-encoded and every item identical to an
original one is copied from its span, the others are encoded fresh. A section
never accessed is copied raw. Custom sections stay after the known section
they followed; new known sections go to their canonical place (type, import,
func, table, memory, tag, global, export, start, elem, datacount, code, data).

``parse(data, lazy=False)`` decodes every section, every function body and
the known custom sections, and runs every structural check of the binary
format (the spec's "malformed" cases), raising :class:`DecodeError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from .binary.bodycheck import body_wellformed
from .binary.instr import DATA_INDEX_PREFIX, data_index_op, decode_body, may_use_data_index
from .binary import sections as grammar
from .binary.leb import read_u32, write_u
from .binary.reader import (
    CANONICAL_ORDER, PREAMBLE, SECTION_IDS, SECTION_NAMES, Section, split_sections, split_sections_partial,
)
from .custom import KNOWN_CUSTOM, decode_custom
from .custom.dylink import Dylink
from .custom.name import NameSection
from .custom.producers import Producers
from .custom.target_features import TargetFeatures
from .errors import DecodeError, EditError, EncodeError
from .gcscope import DecodingGC
from .items import (
    DECODE_LOCK, ConstExpr, CustomSection, Data, Elem, Export, FuncBody, Global, Import, Table, Tag, same_items,
)
from .types import (
    FuncType, GlobalType, MemoryType, RecGroup, SubType,
    TableType, TagType, ExternKind,
)

__all__ = [
    "Module", "parse", "Section",
    "Import", "Export", "Global", "Table", "Elem", "Data", "Tag", "FuncBody", "ConstExpr", "CustomSection",
]



def _span(out: list[Any], start: int, end: int) -> None:
    """Append the input span [start, end) to ``out``, merging it with a span it continues."""
    last = out[-1]
    if type(last) is list and last[1] == start:
        last[1] = end
    else:
        out.append([start, end])


# ---------------------------------------------------------------------------------------------
# module
# ---------------------------------------------------------------------------------------------

class _CustomRec:
    __slots__ = ("cs", "anchor", "section", "orig")

    def __init__(self, cs: CustomSection | None, anchor: int, section: Section | None):
        self.cs: CustomSection | None = cs            # None until materialised (lazy)
        self.anchor: int = anchor    # 0: before every known section; else the id of the known section it follows
                                     # (trailing ones: the last id, so sections added later go before them)
        self.section: Section | None = section  # original Section, or None for added ones
        self.orig: CustomSection | None = cs

    def current_name(self) -> str:
        """The name as it stands: the (maybe edited) section's once materialised, else the header's."""
        if self.cs is not None:
            return self.cs.name
        sec = self.section
        assert sec is not None and sec.name is not None     # not materialised: an original custom section
        return sec.name


_LIST_IDS = (1, 2, 3, 4, 5, 13, 6, 7, 9, 10, 11)
_MALFORMED = object()  # stands for an original value that could not be decoded
_SCALAR_IDS = (8, 12)


def _list_property(sid: int, doc: str) -> property:
    def get(self: "Module") -> list[Any]:
        items = self._items.get(sid)
        if items is None:
            with DECODE_LOCK:
                items = self._items.get(sid)
                if items is None:
                    items = self._decode_section(sid)
        return items

    def set_(self: "Module", value: Iterable) -> None:
        self._items[sid] = value if isinstance(value, list) else list(value)

    return property(get, set_, doc=doc)


class Module:
    """A WebAssembly module. ``Module()`` is empty; :func:`parse` reads one. See the module docstring."""

    if TYPE_CHECKING:   # what the properties below hold, for type checkers (assigning any iterable works)
        types: list[RecGroup]
        imports: list[Import]
        funcs: list[int]
        tables: list[Table]
        memories: list[MemoryType]
        tags: list[Tag]
        globals: list[Global]
        exports: list[Export]
        elems: list[Elem]
        code: list[FuncBody]
        datas: list[Data]
    else:
        types = _list_property(1, "list[RecGroup]: the type section (recursion groups)")
        imports = _list_property(2, "list[Import]")
        funcs = _list_property(3, "list[int]: the type index of each defined function")
        tables = _list_property(4, "list[Table]: defined tables")
        memories = _list_property(5, "list[MemoryType]: defined memories")
        tags = _list_property(13, "list[Tag]: defined tags")
        globals = _list_property(6, "list[Global]: defined globals")
        exports = _list_property(7, "list[Export]")
        elems = _list_property(9, "list[Elem]: element segments")
        code = _list_property(10, "list[FuncBody]: function bodies")
        datas = _list_property(11, "list[Data]: data segments")

    def __init__(self) -> None:
        self._buf: bytes = b""
        self._sections: list[Section] = []
        self._known: dict[int, Section] = {}
        self._items: dict[int, list] = {}
        self._orig: dict[int, tuple] = {}
        self._starts: dict[int, list[int]] = {}
        self._scalars: dict[int, int | None] = {}
        self._orig_scalars: dict[int, object] = {}     # int, None or _MALFORMED
        self._customs: list[_CustomRec] = []
        self._views: dict[int, Any] = {}
        #: problems found in custom sections that do not make the module malformed
        self.warnings: list[str] = []

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, *, lazy: bool = True) -> "Module":
        """The module in ``data``: the same as :func:`wasmweld.parse` for a core module."""
        return parse(data, lazy=lazy)

    def _load(self, buf: bytes, sections: list[Section] | None = None) -> None:
        self._buf = buf
        if sections is None:
            sections = split_sections(buf)
        self._sections = sections
        anchor = 0
        for sec in sections:
            if sec.id == 0:
                self._customs.append(_CustomRec(None, anchor, sec))
            else:
                self._known[sec.id] = sec
                anchor = sec.id
        if anchor:  # custom sections after the last known one (`name`, debug info) stay last when sections are added
            for r in reversed(self._customs):
                if r.anchor != anchor:
                    break
                r.anchor = CANONICAL_ORDER[-1]

    # -- lazy decoding ------------------------------------------------------------------------

    def _wrap(self, e: DecodeError, what: str, section_end: int | None = None) -> DecodeError:
        """Word running out of bytes inside a section as the spec does, and add the context."""
        if e.offset is not None:
            if e.message == "unexpected end" or (e.message == "END opcode expected" and e.offset == section_end):
                e.message = "unexpected end of section or function"
                e.args = (e._format(),)
        return e.with_context(what)

    def _decode_section(self, sid: int) -> list[Any]:
        sec = self._known.get(sid)
        if sec is None:
            items: list[Any] = []
            self._items[sid] = items
            self._orig[sid] = ()
            return items
        decoder = grammar.DECODERS[sid]
        try:
            items, starts = decoder(self._buf, sec.payload_offset, sec.end)
        except DecodeError as e:
            if e.message == "unexpected end" and e.offset == sec.end < len(self._buf):
                # an integer running over the section end: the spec reports the integer's problem
                try:
                    decoder(self._buf, sec.payload_offset, len(self._buf))
                except DecodeError as e2:
                    if e2.offset is not None and e2.offset >= sec.end and e2.message != "unexpected end":
                        e = e2
                except Exception:
                    pass
            raise self._wrap(e, f"{SECTION_NAMES[sid]} section", sec.end) from None
        self._orig[sid] = tuple(items)
        self._starts[sid] = starts
        self._items[sid] = items
        return items

    def _get_scalar(self, sid: int) -> int | None:
        if sid in self._scalars:
            return self._scalars[sid]
        with DECODE_LOCK:
            if sid in self._scalars:
                return self._scalars[sid]
            return self._decode_scalar(sid)

    def _decode_scalar(self, sid: int) -> int | None:
        sec = self._known.get(sid)
        value = None
        if sec is not None:
            try:
                value = grammar.decode_index_section(self._buf, sec.payload_offset, sec.end)
            except DecodeError as e:
                raise self._wrap(e, f"{SECTION_NAMES[sid]} section", sec.end) from None
        self._scalars[sid] = value
        self._orig_scalars[sid] = value
        return value

    @property
    def start(self) -> int | None:
        """The start function index, or None."""
        return self._get_scalar(8)

    @start.setter
    def start(self, value: int | None) -> None:
        self._set_scalar(8, value)

    def _set_scalar(self, sid: int, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= 0xFFFFFFFF):
            raise EditError(f"{SECTION_NAMES[sid]} must be an int from 0 to 2**32-1 or None, not {value!r}")
        try:
            self._get_scalar(sid)
        except DecodeError:  # the original is malformed: anything set now replaces it
            self._orig_scalars[sid] = _MALFORMED
        self._scalars[sid] = value

    @property
    def datacount(self) -> int | None:
        """The data count section's value, or None when absent."""
        return self._get_scalar(12)

    @datacount.setter
    def datacount(self, value: int | None) -> None:
        self._set_scalar(12, value)

    # -- custom sections ----------------------------------------------------------------------

    def _materialise(self, rec: _CustomRec) -> CustomSection:
        if rec.cs is None:
            with DECODE_LOCK:
                if rec.cs is None:
                    sec = rec.section
                    assert sec is not None and sec.name is not None     # cs is None: an original section
                    rec.orig = CustomSection(sec.name, self._buf[sec.data_offset:sec.end])
                    rec.cs = rec.orig
        return rec.cs

    @property
    def customs(self) -> list[CustomSection]:
        """Custom sections in file order (a copy: use add_custom / remove_custom / set_custom to change)."""
        return [self._materialise(r) for r in self._customs]

    def custom(self, name: str) -> CustomSection | None:
        """The first custom section called ``name``, or None."""
        for r in self._customs:
            if r.current_name() == name:
                return self._materialise(r)
        return None

    def add_custom(self, name: str | CustomSection, data: bytes = b"", *, after: int | str | None = None) -> CustomSection:
        """Append a custom section; ``after`` is a known section id or name it should follow
        (0: before every known section; None: at the end of the module)."""
        if not isinstance(name, CustomSection):
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise EditError(f"custom section data must be bytes, not {type(data).__name__}")
            name = CustomSection(name, bytes(data))
        cs = name
        if not isinstance(cs.name, str):
            raise EditError(f"a custom section name must be a str, not {type(cs.name).__name__}")
        if not isinstance(cs.data, (bytes, bytearray, memoryview)):
            raise EditError(f"custom section {cs.name!r}: data must be bytes, not {type(cs.data).__name__}")
        if after is None:
            anchor = CANONICAL_ORDER[-1]
        elif isinstance(after, str):
            if after not in SECTION_IDS or after == "custom":
                raise EditError(f"unknown section name {after!r}")
            anchor = SECTION_IDS[after]
        else:
            if after != 0 and after not in SECTION_NAMES:
                raise EditError(f"unknown section id {after}")
            anchor = after
        self._customs.append(_CustomRec(cs, anchor, None))
        return cs

    def remove_custom(self, which: "str | CustomSection | Iterable[str | CustomSection]") -> int:
        """Remove custom sections by name (all of them), one by identity, or many at once (an iterable of
        names and/or sections); returns how many. One pass over the sections whatever the number removed.
        """
        if isinstance(which, (str, CustomSection)):
            which = (which,)
        names = set()
        ids = set()
        for w in which:
            if isinstance(w, CustomSection):
                ids.add(id(w))
            else:
                names.add(w)
        before = len(self._customs)
        keep = [r for r in self._customs
                if not (r.current_name() in names
                        or (r.cs is not None and id(r.cs) in ids))]
        self._customs = keep
        if self._views:
            alive = {id(r) for r in keep}
            for key in [k for k in self._views if k not in alive]:
                del self._views[key]
        return before - len(keep)

    def set_custom(self, name: str, data: bytes) -> CustomSection:
        """Replace the data of the first custom section ``name`` in place, or add it at the end."""
        cs = CustomSection(name, bytes(data))
        for r in self._customs:
            if r.current_name() == name:
                self._materialise(r)
                r.cs = cs
                self._views.pop(id(r), None)
                return cs
        return self.add_custom(cs)

    def _custom_view(self, name: str):
        with DECODE_LOCK:
            return self._custom_view_locked(name)

    def _custom_view_locked(self, name: str):
        for r in self._customs:
            if r.current_name() == name:
                key = id(r)
                if key in self._views:
                    return self._views[key]
                cs = self._materialise(r)
                base = r.section.data_offset if (r.section is not None and cs is r.orig) else 0
                view = decode_custom(name, cs.data, base)
                self._views[key] = view
                return view
        return None

    @property
    def names(self) -> NameSection | None:
        """The decoded ``name`` section (:class:`wasmweld.custom.name.NameSection`) or None.

        The object is decoded once and kept: changes made to it are written back by
        :meth:`encode` (as for ``producers``, ``target_features`` and ``dylink``);
        assigning ``m.names = ns`` replaces it (None removes the section).
        """
        return self._custom_view("name")

    @names.setter
    def names(self, ns: NameSection | None) -> None:
        if ns is None:
            self.remove_custom("name")
        else:
            self.set_custom("name", ns.encode())

    @property
    def producers(self) -> Producers | None:
        """The decoded ``producers`` section or None."""
        return self._custom_view("producers")

    @property
    def target_features(self) -> TargetFeatures | None:
        """The decoded ``target_features`` section or None."""
        return self._custom_view("target_features")

    @property
    def dylink(self) -> Dylink | None:
        """The decoded ``dylink.0`` section (or the legacy ``dylink``) as a
        :class:`wasmweld.custom.dylink.Dylink`, or None."""
        view = self._custom_view("dylink.0")
        return view if view is not None else self._custom_view("dylink")

    # -- file layout --------------------------------------------------------------------------

    def is_decoded(self, sid: int) -> bool:
        """Whether the item list of known section ``sid`` was decoded (or assigned) since parsing; when
        not, its items are the input's, untouched (``m.sections`` says where)."""
        return sid in self._items

    @property
    def sections(self) -> list[Section]:
        """The sections of the *input* in file order (id, name, offset, size, raw)."""
        return list(self._sections)

    @property
    def data(self) -> bytes:
        """The input bytes this module was parsed from (b"" for a new module)."""
        return self._buf

    @property
    def compact_import_groups(self) -> list[tuple[int, int, int]]:
        """``(first import index, count, form)`` of each compact-imports group in the import section as read
        (form 0x7F: names with their own types, 0x7E: one type for all names); empty for the plain encoding.

        ``m.imports`` is always the flat list; ``encode()`` writes a group whose imports are unchanged back
        as it was, and the others in the plain form.
        """
        self.imports  # noqa: B018  (decodes the section)
        entries = getattr(self._starts.get(2), "entries", None) or ()
        return [(first, count, form) for i, (first, count, _s, _e, form) in enumerate(entries)
                if form and first == i]

    # -- index spaces -------------------------------------------------------------------------

    def num_imported(self, kind: ExternKind | int) -> int:
        kind = ExternKind(kind)
        return sum(1 for imp in self.imports if imp.kind == kind)

    def imported(self, kind: ExternKind | int) -> list[Import]:
        kind = ExternKind(kind)
        return [imp for imp in self.imports if imp.kind == kind]

    @property
    def num_funcs(self) -> int:
        """Imported + defined functions."""
        return self.num_imported(ExternKind.FUNC) + len(self.funcs)

    @property
    def num_tables(self) -> int:
        return self.num_imported(ExternKind.TABLE) + len(self.tables)

    @property
    def num_memories(self) -> int:
        return self.num_imported(ExternKind.MEMORY) + len(self.memories)

    @property
    def num_globals(self) -> int:
        return self.num_imported(ExternKind.GLOBAL) + len(self.globals)

    @property
    def num_tags(self) -> int:
        return self.num_imported(ExternKind.TAG) + len(self.tags)

    def type_list(self) -> list[SubType]:
        """The type index space: every SubType of every rec group, flattened."""
        return [st for rg in self.types for st in rg.types]

    def func_type_index(self, funcidx: int) -> int:
        """The type index of function ``funcidx`` (imports first, then defined functions)."""
        if funcidx < 0:
            raise IndexError(f"function index {funcidx} out of range")
        for imp in self.imports:
            if imp.kind == ExternKind.FUNC:
                if funcidx == 0:
                    return imp.desc
                funcidx -= 1
        funcs = self.funcs
        if funcidx >= len(funcs):
            raise IndexError(f"function index out of range ({self.num_funcs} functions)")
        return funcs[funcidx]

    def func_type(self, funcidx: int) -> FuncType:
        """The FuncType of function ``funcidx``."""
        tidx = self.func_type_index(funcidx)
        types = self.type_list()
        if tidx >= len(types):
            raise IndexError(f"type index {tidx} out of range ({len(types)} types)")
        comp = types[tidx].comp
        if not isinstance(comp, FuncType):
            raise TypeError(f"type {tidx} is not a function type")
        return comp

    def global_type(self, globalidx: int) -> GlobalType:
        imported = self.imported(ExternKind.GLOBAL)
        if globalidx < len(imported):
            return imported[globalidx].desc
        return self.globals[globalidx - len(imported)].type

    def table_type(self, tableidx: int) -> TableType:
        imported = self.imported(ExternKind.TABLE)
        if tableidx < len(imported):
            return imported[tableidx].desc
        return self.tables[tableidx - len(imported)].type

    def memory_type(self, memidx: int) -> MemoryType:
        imported = self.imported(ExternKind.MEMORY)
        if memidx < len(imported):
            return imported[memidx].desc
        return self.memories[memidx - len(imported)]

    def tag_type(self, tagidx: int) -> TagType:
        imported = self.imported(ExternKind.TAG)
        if tagidx < len(imported):
            return imported[tagidx].desc
        return self.tags[tagidx - len(imported)].type

    def export(self, name: str) -> Export | None:
        for e in self.exports:
            if e.name == name:
                return e
        return None

    # -- full decode ---------------------------------------------------------------------------

    def decode_all(self, _complete: bool = True, *, bodies: bool = True) -> "Module":
        """Decode every section, body and known custom section and run the cross-section checks.

        Problems are reported in file order, like a streaming decoder would. ``bodies=False``:
        function bodies are only checked (:func:`~wasmweld.binary.bodycheck.body_wellformed`),
        not decoded, unless the quick check cannot vouch for one (same errors, a fraction of the time).
        """
        with DecodingGC():
            with DECODE_LOCK:
                return self._decode_all(_complete, bodies)

    def _decode_all(self, _complete: bool, bodies: bool = True) -> "Module":
        for sec in self._sections:
            sid = sec.id
            if sid == 0:
                continue
            if sid in _SCALAR_IDS:
                self._get_scalar(sid)
                continue
            if sid not in self._items:
                self._decode_section(sid)
            if sid == 10:
                self._decode_bodies(check_only=not bodies)
        if not _complete:
            return self
        self._check_func_code()
        self._check_datacount()
        for rec in self._customs:
            name = rec.section.name if rec.section is not None else rec.current_name()
            if name in KNOWN_CUSTOM and id(rec) not in self._views:
                cs = self._materialise(rec)
                base = rec.section.data_offset if rec.section is not None else 0
                try:
                    self._views[id(rec)] = decode_custom(name, cs.data, base)
                except DecodeError as e:
                    self.warnings.append(f"custom section {name!r} kept raw: {e}")
        return self

    def _header_count(self, sid: int) -> int | None:
        """The item count a section starts with (0 when absent; None when it does not decode)."""
        sec = self._known.get(sid)
        if sec is None:
            return 0
        try:
            return read_u32(self._buf, sec.payload_offset, sec.end)[0]
        except DecodeError:
            return None  # reported, with its context, when the section is decoded

    def _check_header_counts(self) -> None:
        """Lazy parse: the cross-section count checks that need only the counts at the section starts.

        A function section without as many bodies (or a data count that does not match
        the data section) would otherwise surface as an index error in whatever reads
        the module later.
        """
        nfunc, ncode = self._header_count(3), self._header_count(10)
        if nfunc is not None and ncode is not None and nfunc != ncode:
            sec = self._known.get(10) or self._known.get(3)
            raise DecodeError("function and code section have inconsistent lengths",
                              sec.offset if sec else len(self._buf), f"{nfunc} functions, {ncode} bodies")
        if 12 in self._known:
            ndata = self._header_count(11)
            try:
                dc = self.datacount
            except DecodeError:
                dc = None
            if dc is not None and ndata is not None and dc != ndata:
                sec = self._known.get(11) or self._known.get(12)
                raise DecodeError("data count and data section have inconsistent lengths",
                                  sec.offset if sec else len(self._buf), f"data count {dc}, {ndata} data segments")

    def _check_func_code(self) -> None:
        nfunc = len(self.funcs)
        ncode = len(self.code)
        if nfunc != ncode:
            sec = self._known.get(10) or self._known.get(3)
            raise DecodeError("function and code section have inconsistent lengths",
                              sec.offset if sec else len(self._buf),
                              f"{nfunc} functions, {ncode} bodies")

    def _check_datacount(self) -> None:
        dc = self.datacount
        if dc is not None and dc != len(self.datas):
            sec = self._known.get(11) or self._known.get(12)
            raise DecodeError("data count and data section have inconsistent lengths",
                              sec.offset if sec else len(self._buf), f"data count {dc}, {len(self.datas)} data segments")

    def _decode_bodies(self, check_only: bool = False) -> None:
        buf = self._buf
        sec = self._known[10]
        need_datacount = self.datacount is None and buf.find(DATA_INDEX_PREFIX, sec.payload_offset, sec.end) >= 0
        ready = {} if check_only else _two_process_decode(self.code, sec.end - sec.payload_offset, need_datacount,
                                                             self._decode_after_code)
        for i, body in enumerate(self.code):
            if body._orig_instrs is not None or body._raw is None or body.offset is None:
                continue            # (every original body has raw bytes and an offset)
            if check_only and not (need_datacount and may_use_data_index(body._raw)) \
                    and body_wellformed(body._raw, body.offset):
                continue
            done = ready.get(i)
            if done is None:
                try:
                    locals_, instrs = decode_body(body._raw, body.offset)
                except DecodeError as e:
                    raise self._wrap(self._overrun(e, body, decode_body), f"code body {i}", sec.end) from None
                except RecursionError:
                    raise DecodeError("nesting too deep", body.offset, f"code body {i}") from None
                bad = data_index_op(body._raw, instrs) if need_datacount else None
            else:
                locals_, instrs, bad = done
            body._set_decoded(locals_, instrs)
            if bad is not None:
                raise DecodeError("data count section required", body.offset, f"code body {i} ({bad})")

    def _decode_after_code(self) -> None:
        """Decode the known sections after the code section (the data section) as far as they decode: the
        parent's work while a second process decodes bodies. A problem stays for the ordered pass to report."""
        after = False
        for sec in self._sections:
            if sec.id == 10:
                after = True
            elif after and sec.id not in _SCALAR_IDS and sec.id != 0 and sec.id not in self._items:
                try:
                    self._decode_section(sec.id)
                except DecodeError:
                    return

    def _overrun(self, e: DecodeError, body: "FuncBody", decode_body) -> DecodeError:
        """An integer that runs over the end of a body: report the integer's problem, as the spec does."""
        assert body.offset is not None and body._raw is not None      # an original body
        end = body.offset + len(body._raw)
        if e.offset is not None and e.offset >= end - 1 and end < len(self._buf) \
                and e.message in ("unexpected end", "END opcode expected"):
            try:
                decode_body(self._buf[body.offset:], body.offset)
            except DecodeError as e2:
                if e2.message.startswith("integer") and e2.offset is not None and e2.offset >= end:
                    return e2
            except Exception:
                pass
        return e

    # -- encoding ------------------------------------------------------------------------------

    def _section_parts(self, sid: int, out: list[Any]) -> None:
        sec = self._known.get(sid)
        if sid in _SCALAR_IDS:
            if sid not in self._scalars or self._scalars[sid] == self._orig_scalars.get(sid):
                if sec is not None:
                    _span(out, sec.offset, sec.end)
                return
            value = self._scalars[sid]
            if value is not None:
                payload = write_u(value)
                out.append(bytes((sid,)) + write_u(len(payload)) + payload)
            return
        items = self._items.get(sid)
        orig = self._orig.get(sid)
        if items is None or (orig is not None and same_items(items, orig)
                             and (sid != 10 or not any(b.modified for b in items))):
            if sec is not None:
                _span(out, sec.offset, sec.end)
            return
        if not items:
            return
        payload = grammar.encode_items(sid, items, orig or (), self._starts.get(sid), self._buf)
        out.append(bytes((sid,)))
        out.append(write_u(len(payload)))
        out.append(payload)

    def _changed(self, sid: int) -> bool:
        if sid in _SCALAR_IDS:
            return sid in self._scalars and self._scalars[sid] != self._orig_scalars.get(sid)
        items = self._items.get(sid)
        if items is None:
            return False
        orig = self._orig.get(sid)
        return orig is None or not same_items(items, orig)

    def _check_counts(self) -> None:
        """Refuse to write a module whose edits broke the function/code or data count pairing."""
        if self._changed(3) or self._changed(10):
            if len(self.funcs) != len(self.code):
                raise EncodeError(f"{len(self.funcs)} functions but {len(self.code)} bodies")
        if self._changed(11) or self._changed(12):
            dc = self.datacount
            if dc is not None and dc != len(self.datas):
                raise EncodeError(f"data count {dc} but {len(self.datas)} data segments")

    def _write_back_views(self) -> None:
        """Typed custom views (names, producers, ...) that were edited replace their section's data."""
        for r in self._customs:
            view = self._views.get(id(r))
            if view is None or not hasattr(view, "encode"):
                continue
            data = view.encode()
            cs = self._materialise(r)
            if data != cs.data:
                r.cs = CustomSection(cs.name, data)

    def encode(self) -> bytes:
        """The module as bytes; unchanged sections, items and bodies are copied from the input."""
        self._check_counts()
        if self._views:
            self._write_back_views()
        out: list[Any] = [PREAMBLE]
        by_anchor: dict[int, list[_CustomRec]] = {}
        for r in self._customs:
            by_anchor.setdefault(r.anchor, []).append(r)
        self._custom_parts(by_anchor.get(0, ()), out)
        for sid in CANONICAL_ORDER:
            self._section_parts(sid, out)
            recs = by_anchor.get(sid)
            if recs:
                self._custom_parts(recs, out)
        buf = self._buf
        if len(out) == 2 and out[1] == [8, len(buf)]:
            return buf  # nothing changed: the input itself (bytes are immutable)
        mv = memoryview(buf)
        return b"".join([mv[p[0]:p[1]] if type(p) is list else p for p in out])

    def _custom_parts(self, recs, out: list[Any]) -> None:
        for r in recs:
            if r.section is not None and (r.cs is None or r.cs is r.orig):
                _span(out, r.section.offset, r.section.end)
            else:
                data = r.cs.data
                if not isinstance(r.cs.name, str) or not isinstance(data, (bytes, bytearray, memoryview)):
                    raise EncodeError(f"cannot encode custom section {r.cs.name!r}: the name must be a str "
                                      f"and the data bytes, not {type(data).__name__}")
                try:
                    nb = r.cs.name.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise EncodeError(f"cannot encode custom section {r.cs.name!r}: {e}") from None
                payload_len = len(write_u(len(nb))) + len(nb) + len(data)
                out.append(b"\x00" + write_u(payload_len) + write_u(len(nb)) + nb)
                out.append(data)

    def __repr__(self) -> str:
        parts = []
        for sec in self._sections:
            parts.append(sec.kind if sec.id else f"custom:{sec.name}")
        return f"<Module {len(self._buf)} bytes: {', '.join(parts) or 'empty'}>"

    def to_wat(self, **options: Any) -> str:
        """The module as WebAssembly text, as ``wasm-tools print`` writes it (``wasmweld.text.to_wat``)."""
        from .text import to_wat
        return to_wat(self, **options)

    def _repr_pretty_(self, p: int, cycle: bool) -> None:
        from .text import repr_pretty
        repr_pretty(self, p, cycle)

    def _repr_html_(self) -> str:
        from .text import repr_html
        return repr_html(self)


def _two_process_decode(code: list, size: int, need_datacount: bool, after: Callable[[], None]) -> dict[int, tuple]:
    """:func:`wasmweld.bodydecode.decode_in_two` (loaded on first use: a lazy parse needs none of it)."""
    from .bodydecode import decode_in_two

    return decode_in_two(code, size, need_datacount, after)


def parse(data: bytes | bytearray | memoryview, *, lazy: bool = True, bodies: bool = True) -> Module:
    """Read a binary module. ``lazy=False`` decodes and checks everything up front
    (``bodies=False``: function bodies checked as well, but left undecoded, see :meth:`Module.decode_all`).

    ``data``: bytes, bytearray or memoryview (copied once unless bytes).
    Raises :class:`~wasmweld.errors.DecodeError` for malformed input.
    """
    if isinstance(data, bytes):
        buf = data
    elif isinstance(data, (bytearray, memoryview)):
        buf = bytes(data)
    else:
        raise TypeError(f"parse() takes bytes, bytearray or memoryview, not {type(data).__name__}")
    m = Module()
    if lazy:
        m._load(buf)
        m._check_header_counts()
        return m
    sections, error = split_sections_partial(buf)
    m._load(buf, sections)
    # problems are reported in file order: a bad section before a broken header wins
    m.decode_all(_complete=error is None, bodies=bodies)
    if error is not None:
        raise error
    return m
