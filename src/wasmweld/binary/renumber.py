"""The renumbering re-encoder's engine: :class:`Renumberer` rewrites every index of a code body,
a constant expression or a section in one pass over its bytes (see :mod:`wasmweld.binary.reencode`
for the whole picture)::

    r = Renumberer(IndexMaps(func=[1, 0]))
    r.body(raw)            (call 0) -> (call 1)         10 00 -> 10 01
    r.section(7, payload)  (export "f" (func 0)) -> (export "f" (func 1))
"""

from __future__ import annotations

import re
from ..record import replace
from collections.abc import Iterable
from typing import Any, Callable, Protocol, cast

from ..errors import DecodeError, EditError
from ..types import (
    ArrayType, CompType, FieldType, FuncType, GlobalType, HeapType, RecGroup, RefType, StructType, SubType,
    TableType, TagType,
)
from .leb import ByteData, encode_u_width, read_s33, read_u32, read_u64, read_uN, read_sN, write_s, write_u
from .opcodes import OPCODES, PREFIXES
from .reader import decode_name
from ..custom.name import (
    SUBSECTION_SPACES, SUBSECTIONS, read_indirect_map, read_name_map, read_subsection,
)

from .indexmaps import SPACES, IndexMaps, compose_maps, recode, target_or_none
from .sections import (
    read_data, read_elem, read_export, read_global, read_import_entry, read_recgroup, read_table, read_tag,
)
from .renumpat import ABSTRACT_HEAPS, NUMERIC_VALTYPES, PREFIX_SET, SIMPLE_VALTYPES, build_pattern

#: the kinds of index site (:meth:`Renumberer.patch`; :mod:`.scan` imports this module, so they live here):
#: (space, codec), codec "u" an unsigned LEB index, "s" a non-negative s33 type index, "a0" the flags of
#: a memarg of implicit memory 0
SITE_KINDS: tuple[tuple[str, str], ...] = tuple((s, c) for s in SPACES for c in ("u", "s")) + (("memory", "a0"),)
_A0 = len(SITE_KINDS) - 1

# --------------------------------------------------------------------------- the re-encoder

#: the compiled scanner pattern's ``match``: it ends in a star, so it always matches (maybe empty)
MatchFn = Callable[[Any, int, int], "re.Match[bytes]"]

class IndexRecorder(Protocol):
    """What :class:`~wasmweld.binary.scan.Scanner` passes where the re-encoder passes an :class:`Edits`:
    the generic instruction path calls ``site(space, index, start, end, codec)`` for each index it reads."""

    def add(self, space: str, index: int) -> None:
        """Record that the code refers to ``index`` of ``space``."""

    def site(self, space: str, index: int, start: int, end: int, codec: str) -> None:
        """Record that the code refers to ``index`` of ``space``, encoded at ``start:end`` (``codec``:
        see :data:`SITE_KINDS`)."""


class Edits:
    """Collects replacements of ``buf`` spans, in increasing order."""

    __slots__ = ("buf", "last", "parts")

    def __init__(self, buf: ByteData, start: int):
        self.buf: ByteData = buf
        self.last: int = start
        self.parts: list[ByteData] = []

    def replace(self, start: int, end: int, new: bytes) -> None:
        self.parts.append(self.buf[self.last:start])
        self.parts.append(new)
        self.last = end

    def extend(self, start: int, end: int, pieces: list[ByteData]) -> None:
        """Replace ``buf[start:end]`` by the concatenation of ``pieces``."""
        self.parts.append(self.buf[self.last:start])
        self.parts.extend(pieces)
        self.last = end

    def result(self, end: int) -> list[ByteData] | None:
        """The pieces of the rewritten ``buf[start:end]``, or None if nothing changed."""
        if not self.parts:
            return None
        self.parts.append(self.buf[self.last:end])
        return self.parts


def join_pieces(pieces: Iterable[ByteData]) -> bytes:
    """The pieces (of :meth:`Edits.result`) joined into one bytes object."""
    return b"".join(pieces)


class Renumberer:
    """Rewrites bytes according to an :class:`IndexMaps`; build one and reuse it.

    >>> r = Renumberer(IndexMaps(func=[1, 0]))
    >>> r.body(bytes.fromhex("00 10 00 0b")).hex(" ")     # (call 0) -> (call 1)
    '00 10 01 0b'

    Byte-level entry points take ``base``, the absolute offset of the data in
    the input, so errors can name the place.
    """

    def __init__(self, maps: IndexMaps, *, then: IndexMaps | None = None, _fast: bool = True):
        if not isinstance(maps, IndexMaps) or not (then is None or isinstance(then, IndexMaps)):
            raise TypeError("Renumberer needs an IndexMaps")
        # ``then``: renumber by ``maps``, then by ``then``, in one pass. Code and constant
        # expressions come out byte for byte as the two passes would write them (an index keeps
        # the width the first pass gave it), so a caller can fold a second renumbering (gc's) into
        # the first (merge's) without changing its output.
        self._first = self._then = None
        if then is not None and not then.is_identity():
            self._first, self._then = maps, then
            maps = compose_maps(maps, then)
        self.maps: IndexMaps = maps
        self.active: frozenset[str] = maps.active
        self._mem0_moves = "memory" in self.active and (
            self._map_or_none("memory", 0) != 0
            or (self._first is not None and target_or_none(self._first, "memory", 0) != 0))
        self._table0_moves = "table" in self.active and self._map_or_none("table", 0) != 0
        self._caches: dict[tuple[str, str], dict[bytes, Any]] = {
            (s, codec): {} for s in SPACES for codec in ("u", "s")}
        self._caches[("memory", "a0")] = {}
        self._fills = {key: self._make_fill(*key) for key in self._caches}
        if _fast and self.active:
            sc = build_pattern(self.active, self._mem0_moves)
            self._match = cast(MatchFn, sc.pattern.match)
            self._groups = {li: tuple((g, self._caches[(s, c)], self._fills[(s, c)]) for g, s, c in groups)
                            for li, groups in sc.captures.items()}
        else:
            # matches nothing: every instruction goes the slow way
            self._match = cast(MatchFn, re.compile(b"").match)
            self._groups = {}
        self._single, self._prefixed = self._build_handlers()
        self._site_plan: list | None = None
        self._ahead: _ForkedCode | None = None       # a code section's second process, started early

    # ------------------------------------------------------------------ single indices

    def _map_or_none(self, space: str, old: int):
        try:
            return self.maps.target(space, old)
        except EditError:
            return None

    def index(self, space: str, old: int) -> int:
        """The new index of ``old`` in ``space`` (``"global"`` for globals)."""
        return self.maps.lookup(space, old)

    def _make_fill(self, space: str, codec: str):
        if self._first is not None:
            return self._make_chained_fill(space, codec)
        cache = self._caches[(space, codec)]
        lookup = self.maps.lookup
        signed = codec == "s"

        def fill(key: bytes, offset: int):
            """Compute (and remember) the replacement of the encoded index ``key``: bytes, or False."""
            rep: bytes | bool
            n = len(key)
            if codec == "a0":            # memarg flags, memory 0 implicit (only built when 0 moves)
                rep = cache[key] = bytes((key[0] | 0x40,)) + write_u(lookup("memory", 0, offset))
                return rep
            if signed:
                old, _ = read_sN(key, 0, n, 33, offset)
            else:
                old, _ = read_uN(key, 0, n, 32, offset)
            new = lookup(space, old, offset)
            if new == old:
                rep = False
            elif signed:
                try:
                    rep = write_s(new, n) if n > 1 else write_s(new)
                except ValueError:
                    rep = write_s(new)
            else:
                rep = encode_u_width(new, n)
            cache[key] = rep
            return rep

        return fill

    def _make_chained_fill(self, space: str, codec: str):
        """The fill of a ``then`` renumberer: the first map's rewrite of the bytes, then the second's."""
        cache = self._caches[(space, codec)]
        assert self._first is not None and self._then is not None       # only called when chained
        first, then = self._first.lookup, self._then.lookup
        if codec == "a0":
            m1 = target_or_none(self._first, "memory", 0)

            def fill_a0(key: bytes, offset: int) -> bytes:
                flags = encode_u_width(read_uN(key, 0, len(key), 32, offset)[0] | 0x40, len(key))
                if m1 != 0:         # the first pass names the memory; the second renumbers that index
                    idx = write_u(first("memory", 0, offset))
                    rep = flags + (recode(then, "memory", False, idx, offset) or idx)
                else:               # the first pass leaves memory 0 implicit; the second moves it
                    rep = flags + write_u(then("memory", 0, offset))
                cache[key] = rep
                return rep
            return fill_a0
        signed = codec == "s"

        def fill(key: bytes, offset: int):
            mid = recode(first, space, signed, key, offset) or key
            rep = recode(then, space, signed, mid, offset) or mid
            if rep == key:
                rep = False
            cache[key] = rep
            return rep

        return fill

    def _leb_index(self, space: str, signed: bool, buf, p: int, end: int, base: int, edits: Edits) -> int:
        """Read one encoded index at ``p``; rewrite it through ``edits`` if it changes. Returns the end."""
        codec = "s" if signed else "u"
        if signed:
            _, np = read_s33(buf, p, end, base)
        else:
            _, np = read_u32(buf, p, end, base)
        if space in self.active:
            key = bytes(buf[p:np])
            rep = self._caches[(space, codec)].get(key)
            if rep is None:
                rep = self._fills[(space, codec)](key, base + p)
            if rep:
                edits.replace(p, np, rep)
        return np

    def _span_index(self, space: str, buf, p: int, np: int, base: int, edits: Edits) -> None:
        """:meth:`_leb_index` of an unsigned index whose encoding the section reader already found at
        ``buf[p:np]`` (an element segment's function index, a supertype)."""
        if space in self.active:
            key = bytes(buf[p:np])
            rep = self._caches[(space, "u")].get(key)
            if rep is None:
                rep = self._fills[(space, "u")](key, base + p)
            if rep:
                edits.replace(p, np, rep)

    # ------------------------------------------------------------------ the generic instruction path

    def _build_handlers(self):
        """Per opcode, the tuple of immediate readers of the generic path."""
        cache: dict[tuple, tuple] = {}
        single: list = [None] * 256
        prefixed: dict[int, dict[int, tuple]] = {p: {} for p in PREFIXES}
        for info in OPCODES:
            hs = cache.get(info.imm)
            if hs is None:
                hs = cache[info.imm] = tuple(self._imm_handler(k) for k in info.imm)
            if info.prefix is None:
                single[info.code] = hs
            else:
                prefixed[info.prefix][info.code] = hs
        return single, prefixed

    def _imm_handler(self, kind: str):
        """A function ``(buf, p, end, base, edits) -> new p`` reading (and maybe rewriting) one immediate."""
        if kind in ("u32", "label", "local", "field"):
            return lambda buf, p, end, base, edits: read_u32(buf, p, end, base)[1]
        if kind == "i32":
            return lambda buf, p, end, base, edits: read_sN(buf, p, end, 32, base)[1]
        if kind == "i64":
            return lambda buf, p, end, base, edits: read_sN(buf, p, end, 64, base)[1]
        if kind in ("func", "type", "table", "memory", "global", "tag", "elem", "data"):
            return lambda buf, p, end, base, edits: self._leb_index(kind, False, buf, p, end, base, edits)
        size = {"f32": 4, "f64": 8, "v128": 16, "lanes16": 16, "lane": 1, "castflags": 1}.get(kind)
        if size is not None:
            def fixed(buf, p, end, base, edits, size=size):
                if end - p < size:
                    raise DecodeError("unexpected end", base + end)
                return p + size
            return fixed
        if kind == "zero":
            def zero(buf, p, end, base, edits):
                if p >= end:
                    raise DecodeError("unexpected end", base + end)
                if buf[p] != 0:
                    raise DecodeError("zero byte expected", base + p)
                return p + 1
            return zero
        if kind == "heaptype":
            return self._heaptype
        if kind == "blocktype":
            return self._blocktype
        if kind == "valtypes":
            return self._valtypes
        if kind == "memarg":
            return self._memarg
        if kind == "labels":
            def labels(buf, p, end, base, edits):
                n, p = read_u32(buf, p, end, base)
                if n > end - p:
                    raise DecodeError("length out of bounds", base + p, "br_table")
                for _ in range(n):
                    p = read_u32(buf, p, end, base)[1]
                return p
            return labels
        if kind == "catches":
            return self._catches
        raise AssertionError(f"reencode does not know immediate kind {kind!r}")

    def _heaptype(self, buf, p, end, base, edits):
        if p >= end:
            raise DecodeError("unexpected end", base + end)
        if buf[p] in ABSTRACT_HEAPS:
            return p + 1
        v, np = read_s33(buf, p, end, base)
        if v < 0:
            raise DecodeError("malformed heap type", base + p)
        return self._leb_index("type", True, buf, p, end, base, edits)

    def _valtype(self, buf, p, end, base, edits):
        if p >= end:
            raise DecodeError("unexpected end", base + end)
        b = buf[p]
        if b in SIMPLE_VALTYPES:
            return p + 1
        if b == 0x63 or b == 0x64:
            return self._heaptype(buf, p + 1, end, base, edits)
        raise DecodeError("malformed value type", base + p)

    def _reftype(self, buf, p, end, base, edits):
        if p < end and buf[p] in NUMERIC_VALTYPES:
            raise DecodeError("malformed reference type", base + p)
        return self._valtype(buf, p, end, base, edits)

    def _blocktype(self, buf, p, end, base, edits):
        if p >= end:
            raise DecodeError("unexpected end", base + end)
        b = buf[p]
        if b == 0x40:
            return p + 1
        if b in SIMPLE_VALTYPES or b == 0x63 or b == 0x64:
            return self._valtype(buf, p, end, base, edits)
        v, np = read_s33(buf, p, end, base)
        if v < 0:
            raise DecodeError("malformed block type", base + p)
        return self._leb_index("type", True, buf, p, end, base, edits)

    def _valtypes(self, buf, p, end, base, edits):
        n, p = read_u32(buf, p, end, base)
        if n > end - p:
            raise DecodeError("length out of bounds", base + p, "select types")
        for _ in range(n):
            p = self._valtype(buf, p, end, base, edits)
        return p

    def _memarg(self, buf, p, end, base, edits):
        align, np = read_u32(buf, p, end, base)
        if align & 0x40:
            mp = np
            np = self._leb_index("memory", False, buf, mp, end, base, edits)
        elif self._mem0_moves:
            # memory 0 is implicit here: write the flags with bit 6 and the new memory index
            if self._first is not None:
                key = bytes(buf[p:np])
                rep = self._caches[("memory", "a0")].get(key)
                if rep is None:
                    rep = self._fills[("memory", "a0")](key, base + p)
                edits.replace(p, np, rep)
                return read_u64(buf, np, end, base)[1]
            new = self.maps.lookup("memory", 0, base + p)
            edits.replace(p, np, encode_u_width(align | 0x40, np - p) + write_u(new))
        return read_u64(buf, np, end, base)[1]

    def _catches(self, buf, p, end, base, edits):
        n, p = read_u32(buf, p, end, base)
        if n > end - p:
            raise DecodeError("length out of bounds", base + p, "try_table catches")
        for _ in range(n):
            if p >= end:
                raise DecodeError("unexpected end", base + end)
            kind = buf[p]
            p += 1
            if kind in (0, 1):          # catch / catch_ref: tag, label
                p = self._leb_index("tag", False, buf, p, end, base, edits)
            elif kind not in (2, 3):    # catch_all / catch_all_ref: label
                raise DecodeError("malformed catch clause", base + p - 1)
            p = read_u32(buf, p, end, base)[1]
        return p

    def _slow(self, buf, pos: int, end: int, base: int, edits: Edits | IndexRecorder) -> int:
        """Read (and rewrite) the one instruction at ``pos`` the generic way; returns its end."""
        op = buf[pos]
        if op in PREFIX_SET:
            sub, p = read_u32(buf, pos + 1, end, base)
            hs = self._prefixed[op].get(sub)
            if hs is None:
                raise DecodeError(f"illegal opcode 0x{op:02x} {sub}", base + pos)
        else:
            hs = self._single[op]
            p = pos + 1
            if hs is None:
                raise DecodeError(f"illegal opcode 0x{op:02x}", base + pos)
        for h in hs:
            p = h(buf, p, end, base, edits)
        return p

    # ------------------------------------------------------------------ expressions and bodies

    def _expr(self, buf, pos: int, end: int, base: int, edits: Edits) -> None:
        """Rewrite the instruction sequence ``buf[pos:end]`` through ``edits``."""
        match = self._match
        groups = self._groups
        parts = edits.parts
        last = edits.last
        while True:
            m = match(buf, pos, end)
            li = m.lastindex
            pos = m.end()
            if li is None:
                if pos >= end:
                    break
                edits.last = last
                pos = self._slow(buf, pos, end, base, edits)
                last = edits.last
                continue
            for g, cache, fill in groups[li]:
                s, e = m.span(g)
                key = buf[s:e]
                rep = cache.get(key)
                if rep is None:
                    rep = fill(key, base + s)
                if rep:
                    parts.append(buf[last:s])
                    parts.append(rep)
                    last = e
        edits.last = last

    def _locals(self, buf, p: int, end: int, base: int, edits: Edits | IndexRecorder) -> int:
        n, p = read_u32(buf, p, end, base)
        if n > end - p:
            raise DecodeError("length out of bounds", base + p, "locals")
        for _ in range(n):
            p = read_u32(buf, p, end, base)[1]
            if p < end and buf[p] in SIMPLE_VALTYPES:
                p += 1
            else:                   # (ref null? ht): may name a type
                p = self._valtype(buf, p, end, base, edits)
        return p

    def _body_into(self, buf, pos: int, end: int, base: int, edits: Edits) -> None:
        self._expr(buf, self._locals(buf, pos, end, base, edits), end, base, edits)

    def body(self, raw: bytes, base: int = 0) -> bytes:
        """Rewrite one function body (locals + expression, without its size prefix)."""
        return self._rewrite(raw, base, self._body_into)

    def patch(self, raw: bytes, sites: Any, base: int = 0, *, memory: bool = True) -> bytes:
        """:meth:`body` given where the body's indices are, without reading the code again: ``sites``
        from :meth:`Scanner.body_sites <wasmweld.binary.scan.Scanner.body_sites>` (of every space;
        ``memory``: its memory sites were recorded). The same bytes as :meth:`body`; a renumberer
        that moves memories needs the memory sites (ValueError without)::

            sites = Scanner().body_sites(raw, memory=True)[1]
            r.patch(raw, sites) == r.body(raw)
        """
        if not self.active:
            return raw
        if not memory and "memory" in self.active:
            raise ValueError("this renumberer moves memories: patch needs the memory sites")
        plan = self._site_plan
        if plan is None:
            plan = self._site_plan = self._make_site_plan()
        raw = bytes(raw)
        parts: list = []
        last = 0
        it = iter(sites)
        for s, e, kind in zip(it, it, it):
            how = plan[kind]
            if how is None:
                continue
            cache, fill = how
            key = raw[s:e]
            rep = cache.get(key)
            if rep is None:
                rep = fill(key, base + s) if e - s == 1 or kind != _A0 else self._a0_wide(key, base + s)
            if rep:
                parts.append(raw[last:s])
                parts.append(rep)
                last = e
        if not parts:
            return raw
        parts.append(raw[last:])
        return join_pieces(parts)

    def _make_site_plan(self) -> list:
        """Per site kind (:data:`~wasmweld.binary.scan.SITE_KINDS`): its (cache, fill), None if it never changes."""
        plan: list = []
        for space, codec in SITE_KINDS:
            if space not in self.active or (codec == "a0" and not self._mem0_moves):
                plan.append(None)
            else:
                plan.append((self._caches[(space, codec)], self._fills[(space, codec)]))
        return plan

    def _a0_wide(self, key: bytes, offset: int) -> bytes:
        """The rewrite of a memarg's flags of more than one byte (implicit memory 0), as :meth:`_memarg` writes it."""
        if self._first is not None:
            return self._fills[("memory", "a0")](key, offset)
        align = read_uN(key, 0, len(key), 32, offset)[0]
        return encode_u_width(align | 0x40, len(key)) + write_u(self.maps.lookup("memory", 0, offset))

    def const_expr(self, raw: bytes, base: int = 0) -> bytes:
        """Rewrite a constant expression (or any instruction sequence), final ``end`` included."""
        return self._rewrite(raw, base, self._expr)

    def _rewrite(self, raw, base: int, walk) -> bytes:
        """``raw`` with ``walk(buf, 0, len, base, edits)``'s edits applied (``raw`` itself when none)."""
        if not self.active:
            return raw
        raw = bytes(raw)
        edits = Edits(raw, 0)
        walk(raw, 0, len(raw), base, edits)
        out = edits.result(len(raw))
        return raw if out is None else join_pieces(out)

    expr = const_expr

    def _const_expr_at(self, buf, p: int, end: int, base: int, edits: Edits) -> int:
        """Rewrite the constant expression starting at ``p``; returns the position after its ``end``."""
        # constant expressions are short: walk them instruction by instruction
        while True:
            if p >= end:
                raise DecodeError("unexpected end", base + end, "constant expression")
            if buf[p] == 0x0B:
                return p + 1
            p = self._slow(buf, p, end, base, edits)

    def _const_expr_copy(self, buf, p: int, end: int, base: int) -> tuple[bytes, int]:
        """The rewritten constant expression at ``p`` as bytes, and the position after it."""
        sub = Edits(buf, p)
        q = self._const_expr_at(buf, p, end, base, sub)
        out = sub.result(q)
        return (bytes(buf[p:q]) if out is None else join_pieces(out)), q

    # ------------------------------------------------------------------ typed values (types.py)

    def heaptype(self, heap: HeapType) -> HeapType:
        """A heap type with its type index renumbered."""
        return self.maps.lookup("type", heap) if isinstance(heap, int) else heap

    def reftype(self, rt: RefType) -> RefType:
        if isinstance(rt.heap, int) and "type" in self.active:
            new = self.maps.lookup("type", rt.heap)
            if new != rt.heap:
                return replace(rt, heap=new)
        return rt

    def valtype(self, vt: Any) -> Any:
        """A value (or storage) type with its type index renumbered."""
        return self.reftype(vt) if isinstance(vt, RefType) else vt

    def field_type(self, ft: FieldType) -> FieldType:
        st = self.valtype(ft.storage)
        return ft if st is ft.storage else replace(ft, storage=st)

    def _tuple(self, fn, items: tuple) -> tuple:
        new = tuple(fn(x) for x in items)
        return items if all(a is b for a, b in zip(new, items)) else new

    def comp_type(self, ct: CompType) -> CompType:
        """A composite type (func, struct, array) with its type indices renumbered."""
        if isinstance(ct, FuncType):
            ps, rs = self._tuple(self.valtype, ct.params), self._tuple(self.valtype, ct.results)
            return ct if ps is ct.params and rs is ct.results else FuncType(ps, rs)
        if isinstance(ct, StructType):
            fs = self._tuple(self.field_type, ct.fields)
            return ct if fs is ct.fields else StructType(fs)
        if isinstance(ct, ArrayType):
            f = self.field_type(ct.field)
            return ct if f is ct.field else ArrayType(f)
        raise TypeError(f"not a composite type: {ct!r}")

    def sub_type(self, st: SubType) -> SubType:
        if "type" not in self.active:
            return st
        comp = self.comp_type(st.comp)
        supers = tuple(self.maps.lookup("type", s) for s in st.supers)
        if comp is st.comp and supers == st.supers:
            return st
        return replace(st, comp=comp, supers=supers)

    def rec_group(self, rg: RecGroup) -> RecGroup:
        types = self._tuple(self.sub_type, rg.types)
        return rg if types is rg.types else replace(rg, types=types)

    def table_type(self, tt: TableType) -> TableType:
        rt = self.reftype(tt.elem)
        return tt if rt is tt.elem else replace(tt, elem=rt)

    def global_type(self, gt: GlobalType) -> GlobalType:
        vt = self.valtype(gt.val)
        return gt if vt is gt.val else replace(gt, val=vt)

    def tag_type(self, tt: TagType) -> TagType:
        new = self.maps.lookup("type", tt.type_idx)
        return tt if new == tt.type_idx else replace(tt, type_idx=new)

    # ------------------------------------------------------------------ sections (byte level)

    def section(self, sid: int, payload: ByteData, base: int = 0) -> bytes:
        """Rewrite one section's payload (a custom section's payload starts with its name).

        Returns ``payload`` itself (as bytes) when nothing changes; of the custom
        sections only ``name`` is rewritten.
        """
        payload = bytes(payload)
        if not self.active:
            return payload
        out = self._section_pieces(sid, payload, 0, len(payload), base)
        return payload if out is None else join_pieces(out)

    def _section_pieces(self, sid: int, buf, pos: int, end: int, base: int) -> list | None:
        handler: Callable[..., Any] | None
        if sid == 0:
            if not self.active & _NAME_SPACES:
                return None
            name, data_at = decode_name(buf, pos, end, base)
            if name != "name":
                return None
            handler, what = Renumberer._name_section, "name"
        else:
            handler = _SECTION_HANDLERS.get(sid)
            if handler is None:
                return None
            what, data_at = _SECTION_WHAT[sid], pos
        edits = Edits(buf, pos)
        try:
            handler(self, buf, data_at, end, base, edits)
        except DecodeError as e:
            raise e.with_context(f"{what} section") from None
        return edits.result(end)

    def _vec(self, buf, p: int, end: int, base: int, item, min_size: int = 1) -> int:
        n, p = read_u32(buf, p, end, base)
        if n * min_size > end - p:
            raise DecodeError("length out of bounds", base + p, f"vector of {n} items")
        for _ in range(n):
            p = item(p)
        return p

    def _type_sec(self, buf, p, end, base, edits):
        if "type" in self.active:
            self._by_grammar(read_recgroup, buf, p, end, base, edits)

    def _spans(self, read, buf, p, end, base) -> list:
        """The part spans of every item of a section, read by the decoder's item reader ``read``."""
        n, p = read_u32(buf, p, end, base)
        if n > end - p:
            raise DecodeError("length out of bounds", base + p, f"vector of {n} items")
        spans: list = []
        try:
            for _ in range(n):
                p = read(buf, p, end, spans)[-1]
        except DecodeError as e:
            raise DecodeError(e.message, None if e.offset is None else e.offset + base, e.context) from None
        return spans

    def _by_grammar(self, read, buf, p, end, base, edits) -> None:
        """Walk a section with the decoder's own item reader (``sections.read_*``), then rewrite the
        index-carrying parts it reports: the section's grammar is written once, in ``sections.py``."""
        spans = self._spans(read, buf, p, end, base)
        for part, q, e, kind in spans:
            if part == "type" or part == "super":
                if e is None:               # (the import reader gives no end)
                    self._leb_index("type", False, buf, q, end, base, edits)
                else:
                    self._span_index("type", buf, q, e, base, edits)
            elif part == "heap":
                self._leb_index("type", True, buf, q, end, base, edits)
            elif part == "reftype" or part == "valtype":
                self._valtype(buf, q, end, base, edits)
            elif part == "expr":
                self._const_expr_at(buf, q, end, base, edits)
            elif part == "index":
                self._leb_index(_EXTERN_SPACES[kind], False, buf, q, end, base, edits)

    def _import_sec(self, buf, p, end, base, edits):
        if "type" in self.active:
            self._by_grammar(read_import_entry, buf, p, end, base, edits)

    def _func_sec(self, buf, p, end, base, edits):
        if "type" in self.active:
            self._vec(buf, p, end, base, lambda q: self._leb_index("type", False, buf, q, end, base, edits))

    def _table_sec(self, buf, p, end, base, edits):
        if self.active & {"type", "func", "global"}:
            self._by_grammar(read_table, buf, p, end, base, edits)

    def _tag_sec(self, buf, p, end, base, edits):
        if "type" in self.active:
            self._by_grammar(read_tag, buf, p, end, base, edits)

    def _global_sec(self, buf, p, end, base, edits):
        self._by_grammar(read_global, buf, p, end, base, edits)

    def _export_sec(self, buf, p, end, base, edits):
        self._by_grammar(read_export, buf, p, end, base, edits)

    def _start_sec(self, buf, p, end, base, edits):
        self._leb_index("func", False, buf, p, end, base, edits)

    def _elem_sec(self, buf, p, end, base, edits):
        if not (self.active & _ELEM_SPACES or self._table0_moves):
            return
        flags = start = 0
        for part, q, e, v in self._spans(read_elem, buf, p, end, base):
            if part == "func":
                self._span_index("func", buf, q, e, base, edits)
            elif part == "expr":
                self._const_expr_at(buf, q, end, base, edits)
            elif part == "flags":
                flags, start = v, q
            elif part == "table":
                self._leb_index("table", False, buf, q, end, base, edits)
            elif part == "offset":
                if flags & 2 == 0 and self._table0_moves:    # implicit table 0 moves: use the explicit form
                    new = self.maps.lookup("table", 0, base + start)
                    offset, q = self._const_expr_copy(buf, q, end, base)
                    kind = b"\x00" if flags == 0 else b"\x70"   # elemkind funcref / reftype funcref
                    edits.extend(start, q, [write_u(flags | 2), write_u(new), offset, kind])
                else:
                    self._const_expr_at(buf, q, end, base, edits)
            elif part == "reftype":
                self._reftype(buf, q, end, base, edits)

    def start_code(self, buf, p: int, end: int) -> None:
        """Start the second process of a big code section ``buf[p:end]`` now (:class:`_ForkedCode`), so
        it renumbers bodies while this process rewrites the sections before the code; the code section's
        turn then only finishes the job. Nothing happens for a small section or when no core is idle; the
        caller ends an unfinished job with :meth:`end_code`."""
        from ..link.parallel import forks_for     # (stdlib only; loaded on first use)

        if self._ahead is None and forks_for(end - p):
            spans = _body_spans(buf, p, end)
            if spans is not None and len(spans) >= 2:
                self._ahead = _ForkedCode(self, buf, spans, 0, (p, end))

    def end_code(self) -> None:
        """End a second process :meth:`start_code` started and no code section finished (an earlier error)."""
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None

    def _code_sec(self, buf, p, end, base, edits):
        from ..link.parallel import forks_for     # (stdlib only; loaded on first use)

        job, self._ahead = self._ahead, None
        if job is not None and job.where == (p, end) and job.buf is buf and base == 0:
            job.finish(edits)
            return
        if job is not None:
            job.close()
        if forks_for(end - p):
            spans = _body_spans(buf, p, end)
            if spans is not None and len(spans) >= 2:
                _ForkedCode(self, buf, spans, base, (p, end)).finish(edits)
                return
        n, p = read_u32(buf, p, end, base)
        if n > end - p:
            raise DecodeError("length out of bounds", base + p, f"vector of {n} code bodies")
        body_into = self._body_into
        for i in range(n):
            size_at = p
            size, p = read_u32(buf, p, end, base)
            bend = p + size
            if bend > end:
                raise DecodeError("length out of bounds", base + p, f"code body {i}")
            sub = Edits(buf, p)
            try:
                body_into(buf, p, bend, base, sub)
            except DecodeError as e:
                raise e.with_context(f"code body {i}") from None
            out = sub.result(bend)
            if out is not None:
                new_size = sum(map(len, out))
                if new_size != size:
                    edits.extend(size_at, bend, [encode_u_width(new_size, p - size_at)] + out)
                else:
                    edits.extend(p, bend, out)
            p = bend

    def _data_sec(self, buf, p, end, base, edits):
        if not (self.active & _DATA_SPACES or self._mem0_moves):
            return
        flags = start = 0
        for part, q, _e, v in self._spans(read_data, buf, p, end, base):
            if part == "flags":
                flags, start = v, q
            elif part == "memory":
                self._leb_index("memory", False, buf, q, end, base, edits)
            elif part == "offset":
                if flags == 0 and self._mem0_moves:         # implicit memory 0 moves: use the explicit form
                    new = self.maps.lookup("memory", 0, base + start)
                    offset, q = self._const_expr_copy(buf, q, end, base)
                    edits.extend(start, q, [b"\x02", write_u(new), offset])
                elif v != "plain":                          # a lone i32.const refers to nothing
                    self._const_expr_at(buf, q, end, base, edits)

    # ------------------------------------------------------------------ the name section

    def _name_section(self, buf, p, end, base, edits):
        """Re-key the name maps of the spaces that change, read by ``custom.name``'s own readers."""
        while p < end:
            sid, q, send = read_subsection(buf, p, end, base)
            space = SUBSECTION_SPACES.get(sid)
            if space is not None and space in self.active:
                try:
                    new = self._name_map(buf, q, send, base, space, SUBSECTIONS[sid][1] == "indirect")
                except DecodeError as e:
                    raise e.with_context(f"name subsection {sid}") from None
                if new is not None:
                    edits.replace(p, send, bytes((sid,)) + write_u(len(new)) + new)
            p = send

    def _name_map(self, buf, p: int, end: int, base: int, space: str, indirect: bool) -> bytes | None:
        """Re-key a (indirect) name map: entries move with their index, removed ones vanish, re-sorted.

        The map's reader reports each entry's outer index (``keys``); an entry's rest (its name, or its
        inner map) runs to the next entry and is copied as it is."""
        keys: list = []
        _, q = (read_indirect_map if indirect else read_name_map)(buf, p, end, base, None, keys)
        if q != end:
            raise DecodeError("section size mismatch", base + q, "name map")
        target = self.maps.target
        entries = []
        changed = False
        stops = [at for _, at, _ in keys]
        stops.append(end)
        for i, (old, _at, body_at) in enumerate(keys):
            try:
                new = target(space, old)
            except EditError:       # a name for an index the map does not cover: drop it
                new = None
            if new != old:
                changed = True
            if new is not None:
                entries.append((new, buf[body_at:stops[i + 1]]))
        if not changed:
            return None
        entries.sort(key=lambda e: e[0])
        out = [write_u(len(entries))]
        for new, rest in entries:
            out.append(write_u(new))
            out.append(rest)
        return join_pieces(out)


class _ForkedCode:
    """A big, well-framed code section renumbered by two processes: the same bytes, and the same first
    error. The bodies are cut into parts (:data:`FORK_PARTS`, of about equal size); a forked child takes
    parts from the end and sends each part's new bodies as soon as it is done
    (:func:`~wasmweld.link.parallel.fork_stream`); the parent (:meth:`finish`) takes them from the start,
    each claiming a part in a shared page first, until they meet; then it waits only for the parts the
    child claimed. A part the child did not send (it failed) is done here, in order."""

    def __init__(self, r: Renumberer, buf, spans: list, base: int, where: tuple[int, int]):
        import pickle
        from ..link.parallel import fork_stream, note, shared_words

        self.r, self.buf, self.spans, self.base, self.where = r, buf, spans, base, where
        step = max((spans[-1][2] - spans[0][0]) // FORK_PARTS, 1)
        cuts, at = [0], spans[0][0]
        for i, (size_at, _p, _bend) in enumerate(spans):
            if size_at - at >= step:
                cuts.append(i)
                at = size_at
        cuts.append(len(spans))
        self.cuts, self.nparts = cuts, len(cuts) - 1
        self.marks = marks = shared_words(0, self.nparts)       # the parent's next part, the child's lowest started

        def child(send: Callable[[bytes], None]) -> None:
            for k in range(self.nparts - 1, -1, -1):
                if k < marks[0]:
                    break
                marks[1] = k
                send(pickle.dumps((k, self.part(k)), pickle.HIGHEST_PROTOCOL))

        note("renumber: fork")
        self.stream = fork_stream(child)

    def one(self, i: int) -> bytes | None:
        """Body ``i`` renumbered (None when nothing changes)."""
        buf = self.buf
        _size_at, p, bend = self.spans[i]
        sub = Edits(buf, p)
        try:
            self.r._body_into(buf, p, bend, self.base, sub)
        except DecodeError as e:
            raise e.with_context(f"code body {i}") from None
        out = sub.result(bend)
        return None if out is None else join_pieces(out)

    def part(self, k: int) -> list:
        return [self.one(i) for i in range(self.cuts[k], self.cuts[k + 1])]

    def close(self) -> None:
        self.stream.close()

    def finish(self, edits: Edits) -> None:
        """The parent's share, then every part's bodies into ``edits`` in order."""
        import pickle
        from ..link.parallel import note, wait_readable

        stream, marks, nparts, cuts = self.stream, self.marks, self.nparts, self.cuts
        news: list[list | None] = [None] * nparts

        def receive() -> None:
            try:
                for message in stream.poll():
                    k, got = pickle.loads(message)
                    if news[k] is None and len(got) == cuts[k + 1] - cuts[k]:
                        news[k] = got
            except Exception:       # noqa: BLE001 - a damaged answer: the missing parts are done here
                self.close()

        try:
            k = 0
            while k < nparts and k < marks[1]:
                marks[0] = k + 1
                news[k] = self.part(k)
                receive()
                k += 1
            while not stream.done and any(x is None for x in news[k:]):
                wait_readable(stream)
                receive()
            note(f"renumber: child's parts in ({k} of {nparts} here)")
        finally:
            self.close()
        for k in range(nparts):
            got = news[k]
            if got is None:
                got = self.part(k)
            for (size_at, p, bend), new in zip(self.spans[cuts[k]:cuts[k + 1]], got):
                if new is not None:
                    if len(new) != bend - p:
                        edits.extend(size_at, bend, [encode_u_width(len(new), p - size_at), new])
                    else:
                        edits.extend(p, bend, [new])


#: a big code section is renumbered by two processes in about this many parts (:class:`_ForkedCode`)
FORK_PARTS = 200


def _body_spans(buf, p: int, end: int) -> list | None:
    """``(size_at, start, end)`` of every body of the code section ``buf[p:end]``; None if its framing
    is broken (the one-process walk then reports the first problem where it meets it)."""
    try:
        n, p = read_u32(buf, p, end)
        if n > end - p:
            return None
        spans = []
        for _ in range(n):
            size, q = read_u32(buf, p, end)
            if q + size > end:
                return None
            spans.append((p, q, q + size))
            p = q + size
    except DecodeError:
        return None
    return spans


_EXTERN_SPACES = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
_NAME_SPACES = frozenset(SUBSECTION_SPACES.values())
#: the spaces an element segment can refer to (const exprs: global.get, ref.func, ref.null of a type)
_ELEM_SPACES = frozenset({"func", "table", "global", "type"})
#: ... and a data segment (its offset is an i32/i64 constant expression: only global.get refers to anything)
_DATA_SPACES = frozenset({"memory", "global"})

_SECTION_HANDLERS = {
    1: Renumberer._type_sec, 2: Renumberer._import_sec, 3: Renumberer._func_sec, 4: Renumberer._table_sec,
    13: Renumberer._tag_sec, 6: Renumberer._global_sec, 7: Renumberer._export_sec, 8: Renumberer._start_sec,
    9: Renumberer._elem_sec, 10: Renumberer._code_sec, 11: Renumberer._data_sec,
}
_SECTION_WHAT = {1: "type", 2: "import", 3: "func", 4: "table", 5: "memory", 6: "global", 7: "export",
                 8: "start", 9: "elem", 10: "code", 11: "data", 12: "datacount", 13: "tag"}


