"""The renumbering re-encoder: rewrite every index of a module in one pass over its bytes.

Merge, surgery and snapshot all move items around in the index spaces
(``type``, ``func``, ``table``, ``memory``, ``global``, ``tag``, ``elem``,
``data``) and then need every reference to follow. :class:`IndexMaps` says
where each old index goes; :class:`Renumberer` rewrites bytes accordingly::

    (module                                  maps = IndexMaps(func=[1, 0])
      (func $a (call $b))                    ->  body of $a now reads  10 00  (call 0)
      (func $b (call $a)))                       body of $b now reads  10 01  (call 1)

Only references are rewritten: code bodies (locals' ref types, block types,
every index-carrying immediate, memargs of multi-memory), constant
expressions, imports, the function section, GC types, tables, tags, globals,
exports, start, element and data segments, and the ``name`` section (whose
entries are re-keyed and re-sorted). The items themselves stay where they
are; a caller that permutes or deletes items moves them itself (see
:func:`reindex`, which does both for a permutation).

Unchanged spans are copied as slices. A rewritten index keeps its encoded
width when the new value fits (LLVM pads relocatable indices to 5 bytes;
code offsets, and so DWARF, stay valid); otherwise it is written minimally.
A space whose map is identity is not looked at; all-identity maps return the
input unchanged.

Speed: a code body is walked by one compiled regular expression, built from
the immediate kinds of :data:`~wasmweld.binary.opcodes.OPCODES` for the set of
spaces being renumbered, that matches a run of instructions carrying none of
those indices followed (optionally) by one instruction whose index it
captures. Python code runs only at captured indices (memoised per encoded
value) and at the few instructions no alternative covers (``br_table``,
``try_table`` catches, over-long opcodes...), which take the generic,
table-driven path. A map value of ``None`` marks a removed item: references
to it raise :class:`~wasmweld.errors.EditError`; its names are dropped.

Scanning: :class:`Scanner` answers the read-only question -- which indices
does this code refer to? -- with the same pattern and the same generic path,
recording instead of rewriting (:func:`references` for one-off calls)::

    Scanner({"func", "global"}).body(raw)   ->  {"func": {3, 7}, "global": {0}}
    Scanner({"type", "table"}).sites(raw)   ->  [("call_indirect", (("type", 2), ("table", 0))), ...]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Union

from ..errors import DecodeError, EditError
from ..types import (
    ArrayType, FieldType, FuncType, GlobalType, RecGroup, RefType, StructType, SubType, TableType,
    TagType,
)
from .leb import encode_u_width, read_s33, read_u32, read_u64, read_uN, read_sN, write_s, write_u
from .opcodes import OPCODES, PREFIXES
from .reader import COMPACT_BY_NAME, COMPACT_BY_TYPE, decode_name, split_sections
from .scanpat import POSSESSIVE, byte_class, opcode_pattern

__all__ = ["SPACES", "IndexMaps", "Renumberer", "renumber", "renumber_bytes", "reindex", "Scanner",
           "references"]

#: the index spaces, in the spec's order; ``IndexMaps`` spells ``global`` as ``global_``
SPACES: tuple[str, ...] = ("type", "func", "table", "memory", "global", "tag", "elem", "data")

MapLike = Union[Sequence, Mapping, Callable[[int], Any], None]


# --------------------------------------------------------------------------- maps

class IndexMaps:
    """Where each index of each space goes: ``IndexMaps(func=[2, 0, 1], global_=lambda i: i + 3)``.

    Each map is a sequence (``old -> new``), a mapping, a callable, or None
    (identity). A value of None means the item was removed. A sequence or
    mapping that maps every index to itself counts as identity.
    """

    __slots__ = ("_maps",)

    def __init__(self, type: MapLike = None, func: MapLike = None, table: MapLike = None,
                 memory: MapLike = None, global_: MapLike = None, tag: MapLike = None,
                 elem: MapLike = None, data: MapLike = None):
        given = dict(type=type, func=func, table=table, memory=memory, global_=global_, tag=tag,
                     elem=elem, data=data)
        self._maps: dict[str, Any] = {}
        for key, m in given.items():
            space = "global" if key == "global_" else key
            m = _normalize(m)
            if m is not None:
                self._maps[space] = m

    def __getitem__(self, space: str):
        """The normalised map of ``space`` (a list, dict or callable), or None for identity."""
        if space not in SPACES:
            raise KeyError(space)
        return self._maps.get(space)

    @property
    def active(self) -> frozenset[str]:
        """The spaces whose map is not identity."""
        return frozenset(self._maps)

    def is_identity(self) -> bool:
        return not self._maps

    def target(self, space: str, old: int, offset: int | None = None) -> int | None:
        """``old``'s new index in ``space``, None if the item was removed; EditError if the map has no entry."""
        m = self._maps.get(space)
        if m is None:
            return old
        try:
            new = m(old) if callable(m) else m[old]
        except (IndexError, KeyError):
            where = "" if offset is None else f" (at offset 0x{offset:x})"
            raise EditError(f"{space} index {old} has no entry in the {space} map{where}") from None
        if new is not None and (not isinstance(new, int) or new < 0):
            raise EditError(f"the {space} map sends {old} to {new!r}, not an index")
        return new

    def lookup(self, space: str, old: int, offset: int | None = None) -> int:
        """``old``'s new index in ``space``; EditError if it was removed or has no entry."""
        new = self.target(space, old, offset)
        if new is None:
            where = "" if offset is None else f" (at offset 0x{offset:x})"
            raise EditError(f"{space} index {old} is referenced but was removed{where}")
        return new

    def __repr__(self) -> str:
        inner = ", ".join(f"{'global_' if k == 'global' else k}={'<callable>' if callable(v) else v!r}"
                          for k, v in self._maps.items())
        return f"IndexMaps({inner})"


def _target_or_none(maps: IndexMaps, space: str, old: int):
    try:
        return maps.target(space, old)
    except EditError:
        return None


def _compose(first: IndexMaps, then: IndexMaps) -> IndexMaps:
    """``first`` followed by ``then`` (None, a removed item, stays None)."""
    out = IndexMaps()
    for space in first.active | then.active:
        def both(old, space=space):
            mid = first.target(space, old)
            return None if mid is None else then.target(space, mid)
        out._maps[space] = both
    return out


def _recode(lookup, space: str, signed: bool, key: bytes, offset: int):
    """The encoded index ``key`` rewritten by ``lookup`` keeping its width when it fits; False if unchanged."""
    n = len(key)
    if signed:
        old, _ = read_sN(key, 0, n, 33, offset)
    else:
        old, _ = read_uN(key, 0, n, 32, offset)
    new = lookup(space, old, offset)
    if new == old:
        return False
    if not signed:
        return encode_u_width(new, n)
    try:
        return write_s(new, n) if n > 1 else write_s(new)
    except ValueError:
        return write_s(new)


def _normalize(m):
    if m is None:
        return None
    if callable(m) and not isinstance(m, (Sequence, Mapping)):
        return m
    if isinstance(m, Mapping):
        m = dict(m)
        return None if all(k == v for k, v in m.items()) else m
    if isinstance(m, (Sequence, range)) and not isinstance(m, (str, bytes, bytearray)):
        m = list(m)
        return None if m == list(range(len(m))) else m
    raise TypeError(f"an index map must be a sequence, a mapping, a callable or None, not {type(m).__name__}")


# --------------------------------------------------------------------------- the scanner regex

_LEB = rf"[\x80-\xff]*{POSSESSIVE}[\x00-\x7f]"
_S33POS = rf"[\x80-\xff]*{POSSESSIVE}[\x00-\x3f]"   # a non-negative s33: a type index
_ABS_HEAP = r"[\x69-\x74]"                            # abstract heap types (one byte)
_NUM_VT = r"[\x7b-\x7f]"                              # i32 i64 f32 f64 v128
_ANY = r"[\x00-\xff]"

_NUMERIC_VALTYPES = frozenset(range(0x7B, 0x80))
_ABSTRACT_HEAPS = frozenset(range(0x69, 0x75))
_SIMPLE_VALTYPES = _NUMERIC_VALTYPES | _ABSTRACT_HEAPS
_PREFIX_SET = frozenset(PREFIXES)

# A variant is (regex fragment, captures): ``captures`` lists (space, codec) for each
# capturing group of the fragment, in order. Codecs: "u" an unsigned LEB index, "s" a
# non-negative s33 (type index in a heap or block type), "a0" the flags of a memarg whose
# memory 0 is implicit (rewritten to flags|0x40 plus the new memory index). A kind's
# variants are disjoint.
Variant = tuple[str, tuple[tuple[str, str], ...]]


def _heap_variants(type_active: bool) -> list[Variant]:
    if type_active:
        return [(_ABS_HEAP, ()), (f"({_S33POS})", (("type", "s"),))]
    return [(f"(?:{_ABS_HEAP}|{_S33POS})", ())]


def _prefixed(prefix: str, variants: list[Variant]) -> list[Variant]:
    return [(prefix + frag, caps) for frag, caps in variants]


def _reftype_variants(type_active: bool) -> list[Variant]:
    return [(_ABS_HEAP, ())] + _prefixed(r"[\x63\x64]", _heap_variants(type_active))


def _valtype_variants(type_active: bool) -> list[Variant]:
    return [(_NUM_VT, ())] + _reftype_variants(type_active)


def _kind_variants(kind: str, active: frozenset[str], mem0_moves: bool,
                   skip_memories: frozenset[int] = frozenset()) -> list[Variant] | None:
    """The regex variants of one immediate kind, or None when only the generic path can read it.

    ``skip_memories`` (indices below 128, for :class:`Scanner`): memargs naming one of these
    memories explicitly (in one byte) match without a capture.
    """
    t = "type" in active
    if kind in ("u32", "i32", "i64", "label", "local", "field"):
        return [(_LEB, ())]
    if kind in ("func", "type", "table", "memory", "global", "tag", "elem", "data"):
        return [(f"({_LEB})", ((kind, "u"),))] if kind in active else [(_LEB, ())]
    if kind == "f32":
        return [(_ANY + "{4}", ())]
    if kind == "f64":
        return [(_ANY + "{8}", ())]
    if kind in ("v128", "lanes16"):
        return [(_ANY + "{16}", ())]
    if kind == "lane":
        return [(_ANY, ())]
    if kind == "zero":
        return [(r"\x00", ())]
    if kind == "castflags":
        return [(r"[\x00-\x03]", ())]
    if kind == "heaptype":
        return _heap_variants(t)
    if kind == "blocktype":
        idx = [(f"({_S33POS})", (("type", "s"),))] if t else [(_S33POS, ())]
        return [(r"\x40", ())] + _valtype_variants(t) + idx
    if kind == "valtypes":          # select t*: the one-type form; anything else goes the slow way
        return _prefixed(r"\x01", _valtype_variants(t))
    if kind == "memarg":            # flags (bit 6: a memory index follows), [memory], offset
        if "memory" not in active:
            return [(rf"(?:[\x00-\x3f]{_LEB}|[\x40-\x7f]{_LEB}{_LEB})", ())]
        explicit = (rf"[\x40-\x7f]({_LEB}){_LEB}", (("memory", "u"),))
        # (a skipped memory also matches ``explicit``: the fast loop tries the skipping variant first)
        skip = [(rf"[\x40-\x7f]{byte_class(skip_memories)}{_LEB}", ())] if skip_memories else []
        if mem0_moves:
            return [(rf"([\x00-\x3f]){_LEB}", (("memory", "a0"),)), explicit] + skip
        return [(rf"[\x00-\x3f]{_LEB}", ()), explicit] + skip
    if kind in ("labels", "catches"):
        return None
    raise AssertionError(f"reencode does not know immediate kind {kind!r}")


class _Pattern:
    """The compiled body pattern for one set of active spaces.

    ``opgroup``: each capturing alternative also captures its opcode bytes (first
    group of the alternative), for :meth:`Scanner.sites`.
    """

    __slots__ = ("pattern", "captures", "opgroups")

    def __init__(self, active: frozenset[str], mem0_moves: bool, opgroup: bool = False,
                 skip_memories: frozenset[int] = frozenset()):
        fast: dict[tuple, list[int]] = {}       # (prefix, fragment) -> opcodes
        slow_caps: dict[tuple, list[int]] = {}  # (prefix, fragment, captures) -> opcodes
        order: dict[tuple, int] = {}
        for info in OPCODES:
            per_kind = []
            for kind in info.imm:
                v = _kind_variants(kind, active, mem0_moves, skip_memories)
                if v is None:
                    break
                per_kind.append(v)
            else:
                for combo in itertools.product(*per_kind):
                    frag = "".join(f for f, _ in combo)
                    caps = tuple(c for _, cs in combo for c in cs)
                    key = (info.prefix, frag, caps)
                    (slow_caps if caps else fast).setdefault(key, []).append(info.code)
                    order.setdefault(key, len(order))
        # Most frequent shapes first: one-byte opcodes by how many share the shape (no-immediate
        # ops, then LEB immediates, memargs, ...), prefixed ones after.
        def rank(item):
            (prefix, frag, caps), codes = item
            return (prefix is not None, -len(codes), order[(prefix, frag, caps)])

        fast_alts = [opcode_pattern(p, codes) + frag for (p, frag, _), codes in sorted(fast.items(), key=rank)]
        cap_alts = []
        self.captures: dict[int, tuple[tuple[int, str, str], ...]] = {}
        self.opgroups: dict[int, int] = {}      # lastindex -> the group of the opcode (opgroup only)
        group = 0
        for (p, frag, caps), codes in sorted(slow_caps.items(), key=rank):
            op = opcode_pattern(p, codes)
            if opgroup:
                group += 1
                opg = group
                op = f"({op})"
            cap_alts.append(op + frag)
            groups = tuple((group + 1 + i, space, codec) for i, (space, codec) in enumerate(caps))
            group += len(caps)
            self.captures[group] = groups      # lastindex of this alternative -> its groups
            if opgroup:
                self.opgroups[group] = opg
        src = "(?:" + "|".join(fast_alts) + ")*" + POSSESSIVE
        if cap_alts:
            src += "(?:" + "|".join(cap_alts) + ")?"
        self.pattern = re.compile(src.encode("ascii"))


_PATTERNS: dict[tuple, _Pattern] = {}


def _pattern(active: frozenset[str], mem0_moves: bool, opgroup: bool = False,
             skip_memories: frozenset[int] = frozenset()) -> _Pattern:
    key = (active, mem0_moves, opgroup, skip_memories)
    sc = _PATTERNS.get(key)
    if sc is None:
        sc = _Pattern(*key)
        if not skip_memories or len(_PATTERNS) < 64:   # Scanner states: a few per set of spaces
            _PATTERNS[key] = sc
    return sc


# --------------------------------------------------------------------------- the re-encoder

class _Edits:
    """Collects replacements of ``buf`` spans, in increasing order."""

    __slots__ = ("buf", "last", "parts")

    def __init__(self, buf, start: int):
        self.buf = buf
        self.last = start
        self.parts: list = []

    def replace(self, start: int, end: int, new: bytes) -> None:
        self.parts.append(self.buf[self.last:start])
        self.parts.append(new)
        self.last = end

    def extend(self, start: int, end: int, pieces: list) -> None:
        """Replace ``buf[start:end]`` by the concatenation of ``pieces``."""
        self.parts.append(self.buf[self.last:start])
        self.parts.extend(pieces)
        self.last = end

    def result(self, end: int) -> list | None:
        """The pieces of the rewritten ``buf[start:end]``, or None if nothing changed."""
        if not self.parts:
            return None
        self.parts.append(self.buf[self.last:end])
        return self.parts


def _join(pieces) -> bytes:
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
            maps = _compose(maps, then)
        self.maps = maps
        self.active = maps.active
        self._mem0_moves = "memory" in self.active and (
            self._map_or_none("memory", 0) != 0
            or (self._first is not None and _target_or_none(self._first, "memory", 0) != 0))
        self._table0_moves = "table" in self.active and self._map_or_none("table", 0) != 0
        self._caches: dict[tuple[str, str], dict[bytes, Any]] = {
            (s, codec): {} for s in SPACES for codec in ("u", "s")}
        self._caches[("memory", "a0")] = {}
        self._fills = {key: self._make_fill(*key) for key in self._caches}
        if _fast and self.active:
            sc = _pattern(self.active, self._mem0_moves)
            self._match = sc.pattern.match
            self._groups = {li: tuple((g, self._caches[(s, c)], self._fills[(s, c)]) for g, s, c in groups)
                            for li, groups in sc.captures.items()}
        else:
            self._match = re.compile(b"").match      # matches nothing: every instruction goes the slow way
            self._groups = {}
        self._single, self._prefixed = self._build_handlers()

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
        first, then = self._first.lookup, self._then.lookup
        if codec == "a0":
            m1 = _target_or_none(self._first, "memory", 0)

            def fill(key: bytes, offset: int):
                flags = encode_u_width(read_uN(key, 0, len(key), 32, offset)[0] | 0x40, len(key))
                if m1 != 0:         # the first pass names the memory; the second renumbers that index
                    idx = write_u(first("memory", 0, offset))
                    rep = flags + (_recode(then, "memory", False, idx, offset) or idx)
                else:               # the first pass leaves memory 0 implicit; the second moves it
                    rep = flags + write_u(then("memory", 0, offset))
                cache[key] = rep
                return rep
            return fill
        signed = codec == "s"

        def fill(key: bytes, offset: int):
            mid = _recode(first, space, signed, key, offset) or key
            rep = _recode(then, space, signed, mid, offset) or mid
            if rep == key:
                rep = False
            cache[key] = rep
            return rep

        return fill

    def _leb_index(self, space: str, signed: bool, buf, p: int, end: int, base: int, edits: _Edits | None):
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
        if buf[p] in _ABSTRACT_HEAPS:
            return p + 1
        v, np = read_s33(buf, p, end, base)
        if v < 0:
            raise DecodeError("malformed heap type", base + p)
        return self._leb_index("type", True, buf, p, end, base, edits)

    def _valtype(self, buf, p, end, base, edits):
        if p >= end:
            raise DecodeError("unexpected end", base + end)
        b = buf[p]
        if b in _SIMPLE_VALTYPES:
            return p + 1
        if b == 0x63 or b == 0x64:
            return self._heaptype(buf, p + 1, end, base, edits)
        raise DecodeError("malformed value type", base + p)

    def _reftype(self, buf, p, end, base, edits):
        if p < end and buf[p] in _NUMERIC_VALTYPES:
            raise DecodeError("malformed reference type", base + p)
        return self._valtype(buf, p, end, base, edits)

    def _storagetype(self, buf, p, end, base, edits):
        if p < end and buf[p] in (0x77, 0x78):    # i16, i8
            return p + 1
        return self._valtype(buf, p, end, base, edits)

    def _blocktype(self, buf, p, end, base, edits):
        if p >= end:
            raise DecodeError("unexpected end", base + end)
        b = buf[p]
        if b == 0x40:
            return p + 1
        if b in _SIMPLE_VALTYPES or b == 0x63 or b == 0x64:
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

    def _slow(self, buf, pos: int, end: int, base: int, edits: _Edits) -> int:
        """Read (and rewrite) the one instruction at ``pos`` the generic way; returns its end."""
        op = buf[pos]
        if op in _PREFIX_SET:
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

    def _expr(self, buf, pos: int, end: int, base: int, edits: _Edits) -> None:
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

    def _locals(self, buf, p: int, end: int, base: int, edits: _Edits) -> int:
        n, p = read_u32(buf, p, end, base)
        if n > end - p:
            raise DecodeError("length out of bounds", base + p, "locals")
        for _ in range(n):
            p = read_u32(buf, p, end, base)[1]
            if p < end and buf[p] in _SIMPLE_VALTYPES:
                p += 1
            else:                   # (ref null? ht): may name a type
                p = self._valtype(buf, p, end, base, edits)
        return p

    def _body_into(self, buf, pos: int, end: int, base: int, edits: _Edits) -> None:
        self._expr(buf, self._locals(buf, pos, end, base, edits), end, base, edits)

    def body(self, raw: bytes, base: int = 0) -> bytes:
        """Rewrite one function body (locals + expression, without its size prefix)."""
        return self._rewrite(raw, base, self._body_into)

    def const_expr(self, raw: bytes, base: int = 0) -> bytes:
        """Rewrite a constant expression (or any instruction sequence), final ``end`` included."""
        return self._rewrite(raw, base, self._expr)

    def _rewrite(self, raw, base: int, walk) -> bytes:
        """``raw`` with ``walk(buf, 0, len, base, edits)``'s edits applied (``raw`` itself when none)."""
        if not self.active:
            return raw
        raw = bytes(raw)
        edits = _Edits(raw, 0)
        walk(raw, 0, len(raw), base, edits)
        out = edits.result(len(raw))
        return raw if out is None else _join(out)

    expr = const_expr

    def _const_expr_at(self, buf, p: int, end: int, base: int, edits: _Edits) -> int:
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
        sub = _Edits(buf, p)
        q = self._const_expr_at(buf, p, end, base, sub)
        out = sub.result(q)
        return (bytes(buf[p:q]) if out is None else _join(out)), q

    # ------------------------------------------------------------------ typed values (types.py)

    def heaptype(self, heap):
        return self.maps.lookup("type", heap) if isinstance(heap, int) else heap

    def reftype(self, rt: RefType) -> RefType:
        if isinstance(rt.heap, int) and "type" in self.active:
            new = self.maps.lookup("type", rt.heap)
            if new != rt.heap:
                return replace(rt, heap=new)
        return rt

    def valtype(self, vt):
        return self.reftype(vt) if isinstance(vt, RefType) else vt

    def field_type(self, ft: FieldType) -> FieldType:
        st = self.valtype(ft.storage)
        return ft if st is ft.storage else replace(ft, storage=st)

    def _tuple(self, fn, items: tuple) -> tuple:
        new = tuple(fn(x) for x in items)
        return items if all(a is b for a, b in zip(new, items)) else new

    def comp_type(self, ct):
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

    def section(self, sid: int, payload, base: int = 0) -> bytes:
        """Rewrite one section's payload (a custom section's payload starts with its name).

        Returns ``payload`` itself (as bytes) when nothing changes; of the custom
        sections only ``name`` is rewritten.
        """
        payload = bytes(payload)
        if not self.active:
            return payload
        out = self._section_pieces(sid, payload, 0, len(payload), base)
        return payload if out is None else _join(out)

    def _section_pieces(self, sid: int, buf, pos: int, end: int, base: int) -> list | None:
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
        edits = _Edits(buf, pos)
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

    def _limits(self, buf, p: int, end: int, base: int) -> int:
        if p >= end:
            raise DecodeError("unexpected end", base + end, "limits")
        flags = buf[p]
        p += 1
        p = read_u64(buf, p, end, base)[1]
        if flags & 1:
            p = read_u64(buf, p, end, base)[1]
        if flags & 8:                               # custom page size (memories)
            p = read_u32(buf, p, end, base)[1]
        return p

    def _type_sec(self, buf, p, end, base, edits):
        if "type" not in self.active:
            return
        idx = lambda q: self._leb_index("type", False, buf, q, end, base, edits)   # noqa: E731
        vt = lambda q: self._valtype(buf, q, end, base, edits)                     # noqa: E731

        def field(q):
            q = self._storagetype(buf, q, end, base, edits)
            if q >= end:
                raise DecodeError("unexpected end", base + end)
            return q + 1

        def sub(q):
            if q >= end:
                raise DecodeError("unexpected end", base + end)
            b = buf[q]
            if b in (0x50, 0x4F):
                q = self._vec(buf, q + 1, end, base, idx)
                if q >= end:
                    raise DecodeError("unexpected end", base + end)
                b = buf[q]
            q += 1
            if b == 0x60:
                q = self._vec(buf, q, end, base, vt)
                return self._vec(buf, q, end, base, vt)
            if b == 0x5F:
                return self._vec(buf, q, end, base, field)
            if b == 0x5E:
                return field(q)
            raise DecodeError(f"malformed composite type 0x{b:02x}", base + q - 1)

        def group(q):
            if q < end and buf[q] == 0x4E:
                return self._vec(buf, q + 1, end, base, sub)
            return sub(q)

        self._vec(buf, p, end, base, group)

    def _import_sec(self, buf, p, end, base, edits):
        def desc(q):
            if q >= end:
                raise DecodeError("unexpected end", base + end, "import")
            kind = buf[q]
            q += 1
            if kind == 0:
                return self._leb_index("type", False, buf, q, end, base, edits)
            if kind == 1:
                q = self._reftype(buf, q, end, base, edits)
                return self._limits(buf, q, end, base)
            if kind == 2:
                return self._limits(buf, q, end, base)
            if kind == 3:
                q = self._valtype(buf, q, end, base, edits)
                return q + 1
            if kind == 4:
                return self._leb_index("type", False, buf, q + 1, end, base, edits)
            raise DecodeError(f"malformed import kind 0x{kind:02x}", base + q - 1)

        def name(q):
            n, q = read_u32(buf, q, end, base)
            return q + n

        def named(q):
            return desc(name(q))

        def item(q):
            q = name(q)
            empty = q < end and buf[q] == 0
            q = name(q)
            if empty and q < end and buf[q] == COMPACT_BY_NAME:      # module "" 0x7F vec(name desc)
                return self._vec(buf, q + 1, end, base, named, 2)
            if empty and q < end and buf[q] == COMPACT_BY_TYPE:      # module "" 0x7E desc vec(name)
                return self._vec(buf, desc(q + 1), end, base, name)
            return desc(q)
        self._vec(buf, p, end, base, item)

    def _func_sec(self, buf, p, end, base, edits):
        if "type" in self.active:
            self._vec(buf, p, end, base, lambda q: self._leb_index("type", False, buf, q, end, base, edits))

    def _table_sec(self, buf, p, end, base, edits):
        if not self.active & {"type", "func", "global"}:
            return

        def item(q):
            if q < end and buf[q] == 0x40:
                if q + 1 >= end or buf[q + 1] != 0:
                    raise DecodeError("malformed table", base + q)
                q = self._reftype(buf, q + 2, end, base, edits)
                q = self._limits(buf, q, end, base)
                return self._const_expr_at(buf, q, end, base, edits)
            q = self._reftype(buf, q, end, base, edits)
            return self._limits(buf, q, end, base)
        self._vec(buf, p, end, base, item)

    def _tag_sec(self, buf, p, end, base, edits):
        if "type" in self.active:
            self._vec(buf, p, end, base, lambda q: self._leb_index("type", False, buf, q + 1, end, base, edits))

    def _global_sec(self, buf, p, end, base, edits):
        def item(q):
            q = self._valtype(buf, q, end, base, edits) + 1
            return self._const_expr_at(buf, q, end, base, edits)
        self._vec(buf, p, end, base, item)

    def _export_sec(self, buf, p, end, base, edits):
        def item(q):
            n, q = read_u32(buf, q, end, base)
            q += n
            if q >= end:
                raise DecodeError("unexpected end", base + end, "export")
            kind = buf[q]
            space = _EXTERN_SPACES.get(kind)
            if space is None:
                raise DecodeError(f"malformed export kind 0x{kind:02x}", base + q)
            return self._leb_index(space, False, buf, q + 1, end, base, edits)
        self._vec(buf, p, end, base, item)

    def _start_sec(self, buf, p, end, base, edits):
        self._leb_index("func", False, buf, p, end, base, edits)

    def _elem_sec(self, buf, p, end, base, edits):
        def funcidx(q):
            return self._leb_index("func", False, buf, q, end, base, edits)

        def expr(q):
            return self._const_expr_at(buf, q, end, base, edits)

        def item(q):
            start = q
            flags, q = read_u32(buf, q, end, base)
            if flags > 7:
                raise DecodeError(f"malformed elements segment kind {flags}", base + start)
            if flags & 1 == 0:                          # active
                if flags & 2:
                    q = self._leb_index("table", False, buf, q, end, base, edits)
                    q = expr(q)
                elif self._table0_moves:                # implicit table 0 moves: use the explicit form
                    new = self.maps.lookup("table", 0, base + start)
                    offset, q = self._const_expr_copy(buf, q, end, base)
                    kind = b"\x00" if flags == 0 else b"\x70"   # elemkind funcref / reftype funcref
                    edits.extend(start, q, [write_u(flags | 2), write_u(new), offset, kind])
                else:
                    q = expr(q)
            if flags & 3:                               # elemkind or reftype, unless implicit
                if flags & 4:
                    q = self._reftype(buf, q, end, base, edits)
                else:
                    if q >= end or buf[q] != 0:
                        raise DecodeError("malformed elements segment kind", base + q)
                    q += 1
            return self._vec(buf, q, end, base, expr if flags & 4 else funcidx)
        self._vec(buf, p, end, base, item)

    def _code_sec(self, buf, p, end, base, edits):
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
            sub = _Edits(buf, p)
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
        def item(q):
            start = q
            flags, q = read_u32(buf, q, end, base)
            if flags == 0:
                if self._mem0_moves:                    # implicit memory 0 moves: use the explicit form
                    new = self.maps.lookup("memory", 0, base + start)
                    offset, q = self._const_expr_copy(buf, q, end, base)
                    edits.extend(start, q, [b"\x02", write_u(new), offset])
                else:
                    q = self._const_expr_at(buf, q, end, base, edits)
            elif flags == 2:
                q = self._leb_index("memory", False, buf, q, end, base, edits)
                q = self._const_expr_at(buf, q, end, base, edits)
            elif flags != 1:
                raise DecodeError(f"malformed data segment kind {flags}", base + start)
            n, q = read_u32(buf, q, end, base)
            if n > end - q:
                raise DecodeError("length out of bounds", base + q, "data segment")
            return q + n
        self._vec(buf, p, end, base, item)

    # ------------------------------------------------------------------ the name section

    def _name_section(self, buf, p, end, base, edits):
        while p < end:
            sub_at = p
            sub_id = buf[p]
            size, q = read_u32(buf, p + 1, end, base)
            send = q + size
            if send > end:
                raise DecodeError("length out of bounds", base + q, "name subsection")
            spaces = _NAME_SUBSECTIONS.get(sub_id)
            if spaces is not None and spaces[0] in self.active:
                try:
                    new = self._name_map(buf, q, send, base, spaces[0], spaces[1])
                except DecodeError as e:
                    raise e.with_context(f"name subsection {sub_id}") from None
                if new is not None:
                    edits.replace(sub_at, send, bytes((sub_id,)) + write_u(len(new)) + new)
            p = send

    def _name_map(self, buf, p: int, end: int, base: int, space: str, indirect: bool) -> bytes | None:
        """Re-key a (indirect) name map: entries move with their index, removed ones vanish, re-sorted."""
        n, p = read_u32(buf, p, end, base)
        if n * 2 > end - p:
            raise DecodeError("length out of bounds", base + p, "name map")
        entries = []
        changed = False
        for _ in range(n):
            old, p = read_u32(buf, p, end, base)
            body_at = p
            if indirect:
                m, p = read_u32(buf, p, end, base)
                for _ in range(m):
                    p = read_u32(buf, p, end, base)[1]
                    k, p = read_u32(buf, p, end, base)
                    p += k
            else:
                k, p = read_u32(buf, p, end, base)
                p += k
            if p > end:
                raise DecodeError("length out of bounds", base + end, "name map")
            try:
                new = self.maps.target(space, old)
            except EditError:       # a name for an index the map does not cover: drop it
                new = None
            if new != old:
                changed = True
            if new is not None:
                entries.append((new, buf[body_at:p]))
        if p != end:
            raise DecodeError("section size mismatch", base + p, "name map")
        if not changed:
            return None
        entries.sort(key=lambda e: e[0])
        out = [write_u(len(entries))]
        for new, rest in entries:
            out.append(write_u(new))
            out.append(rest)
        return _join(out)


_EXTERN_SPACES = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
#: name subsection id -> (space of the outer index, indirect?)
_NAME_SUBSECTIONS = {1: ("func", False), 2: ("func", True), 3: ("func", True), 4: ("type", False),
                     5: ("table", False), 6: ("memory", False), 7: ("global", False), 8: ("elem", False),
                     9: ("data", False), 10: ("type", True), 11: ("tag", False)}
_NAME_SPACES = frozenset(s for s, _ in _NAME_SUBSECTIONS.values())
_SECTION_HANDLERS = {
    1: Renumberer._type_sec, 2: Renumberer._import_sec, 3: Renumberer._func_sec, 4: Renumberer._table_sec,
    13: Renumberer._tag_sec, 6: Renumberer._global_sec, 7: Renumberer._export_sec, 8: Renumberer._start_sec,
    9: Renumberer._elem_sec, 10: Renumberer._code_sec, 11: Renumberer._data_sec,
}
_SECTION_WHAT = {1: "type", 2: "import", 3: "func", 4: "table", 5: "memory", 6: "global", 7: "export",
                 8: "start", 9: "elem", 10: "code", 11: "data", 12: "datacount", 13: "tag"}


# --------------------------------------------------------------------------- reference scanning

class _Found:
    """Where the generic path of :meth:`Scanner.body` records: one set per space."""

    __slots__ = ("sets",)

    def __init__(self, sets: dict):
        self.sets = sets

    def add(self, space: str, index: int) -> None:
        self.sets[space].add(index)


class _Pairs:
    """Where the generic path of :meth:`Scanner.sites` records one instruction's indices."""

    __slots__ = ("pairs",)

    def __init__(self):
        self.pairs: list = []

    def add(self, space: str, index: int) -> None:
        self.pairs.append((space, index))


def _op_names() -> dict:
    """prefix (None for one-byte opcodes) -> code -> opcode name."""
    names: dict = {None: {}}
    for info in OPCODES:
        names.setdefault(info.prefix, {})[info.code] = info.name
    return names


class _RefWalker(Renumberer):
    """The re-encoder's generic, table-driven instruction reader, recording indices instead of rewriting them.

    Same readers, same checks, same errors; its ``edits`` argument is a recorder
    with ``add(space, index)`` (:class:`_Found`, :class:`_Pairs`).
    """

    _names = _op_names()

    def __init__(self, spaces: frozenset[str]):        # no maps, caches or pattern: the generic path only
        self.maps = IndexMaps()
        self.active = spaces
        self._mem0_moves = self._table0_moves = False
        self._memory = "memory" in spaces
        self._single, self._prefixed = self._build_handlers()

    def _leb_index(self, space, signed, buf, p, end, base, rec):
        if signed:
            v, np = read_s33(buf, p, end, base)
        else:
            v, np = read_u32(buf, p, end, base)
        if space in self.active:
            rec.add(space, v)
        return np

    def _memarg(self, buf, p, end, base, rec):
        align, np = read_u32(buf, p, end, base)
        if align & 0x40:
            np = self._leb_index("memory", False, buf, np, end, base, rec)
        elif self._memory:
            rec.add("memory", 0)
        return read_u64(buf, np, end, base)[1]

    def op_name(self, buf, pos: int, end: int, base: int) -> str:
        op = buf[pos]
        if op in _PREFIX_SET:
            sub, _ = read_u32(buf, pos + 1, end, base)
            return self._names[op][sub]
        return self._names[None][op]


#: encoded opcode (prefix + minimal sub-opcode) -> name, for the fast path of Scanner.sites
_OPCODE_NAMES = {(bytes((i.code,)) if i.prefix is None else bytes((i.prefix,)) + write_u(i.code)): i.name
                 for i in OPCODES}


def _space_set(spaces) -> frozenset[str]:
    if isinstance(spaces, str):
        spaces = (spaces,)
    out = frozenset("global" if s == "global_" else s for s in spaces)
    unknown = out - set(SPACES)
    if unknown:
        raise ValueError(f"unknown index space(s) {sorted(unknown)}; the spaces are {', '.join(SPACES)}")
    return out


class Scanner:
    """Finds the indices that code refers to, without decoding it: the re-encoder's pattern, recording.

    ``Scanner(spaces)`` is built once (patterns are compiled once per set of
    spaces and shared) and reused for any number of bodies::

        (func (local (ref null $t)) (call $f) (i32.load (i32.const 0)) (global.get $g) ...)

        s = Scanner({"func", "memory", "global", "type"})
        s.body(raw)  -> {"func": {f}, "memory": {0}, "global": {g}, "type": {t}}

    What counts as a reference of each space: ``func`` (calls, ``ref.func``...),
    ``type`` (type immediates, type indices in block types, heap types,
    ``select`` types and locals' reference types), ``table``, ``global``, ``tag``
    (``throw``, ``catch``, ``try_table`` catch clauses), ``elem``, ``data``,
    and ``memory``: memory immediates and every memarg, whose memory is 0 unless
    it says otherwise. This is what decoding every instruction
    (:func:`~wasmweld.binary.instr.decode_body`) and collecting its index
    immediates gives, at a fraction of the cost: one compiled regular expression
    skips every run of instructions carrying no index of the requested spaces
    (and memargs of the memories already found in the code being scanned).

    Malformed code raises :class:`~wasmweld.errors.DecodeError` where the
    re-encoder would (``base``: the absolute offset of ``raw`` in its module,
    for error messages); the scanner does not validate (an index beyond its
    space is reported as found).
    """

    def __init__(self, spaces: Iterable[str] = SPACES):
        self.spaces: frozenset[str] = _space_set(spaces)
        self._walker = _RefWalker(self.spaces)
        self._memo: dict[str, dict[bytes, int]] = {"u": {}, "s": {}}
        self._mem = "memory" in self.spaces
        # One pattern per set of memories already found in the code being scanned: memargs of
        # those no longer stop the pattern (memargs are the most frequent index-carrying immediates).
        self._states: dict[frozenset[int], tuple] = {}
        self._start = self._state(frozenset(), None)
        self._sites_pat = None

    def __repr__(self) -> str:
        return f"Scanner({sorted(self.spaces)!r})"

    _MAX_STATES = 16

    def _state(self, memories, current):
        """(match, groups) of the pattern that skips memargs of ``memories`` (those below 128)."""
        key = frozenset(i for i in memories if i < 128) if self._mem else frozenset()
        st = self._states.get(key)
        if st is None:
            if len(self._states) >= self._MAX_STATES and current is not None:
                return current
            pat = _pattern(self.spaces, self._mem and 0 not in key, False, key)
            st = self._states[key] = (pat.pattern.match, self._groups(pat))
        return st

    def _groups(self, pat: _Pattern) -> dict:
        """lastindex -> (((group, space, signed, memo or None for implicit memory 0), ...),
        names a memory?, the opcode group or None)."""
        out = {}
        for li, groups in pat.captures.items():
            entries = []
            for g, space, codec in groups:
                entries.append((g, space, codec == "s", None if codec == "a0" else self._memo[codec]))
            out[li] = (tuple(entries), any(space == "memory" for _, space, _ in groups), pat.opgroups.get(li))
        return out

    @staticmethod
    def _decode(key: bytes, signed: bool, offset: int, memo: dict) -> int:
        if signed:
            v = read_sN(key, 0, len(key), 33, offset)[0]
        else:
            v = read_uN(key, 0, len(key), 32, offset)[0]
        memo[key] = v
        return v

    def _fresh(self) -> dict[str, set]:
        return {s: set() for s in SPACES if s in self.spaces}

    def _expr_into(self, buf: bytes, pos: int, end: int, base: int, sets: dict, found: _Found) -> None:
        mems = sets.get("memory")
        match, groups = self._state(mems, None) if mems else self._start
        slow = self._walker._slow
        decode = self._decode
        while True:
            m = match(buf, pos, end)
            li = m.lastindex
            pos = m.end()
            if li is None:
                if pos >= end:
                    break
                pos = slow(buf, pos, end, base, found)
                continue
            entries, switch, _ = groups[li]
            for g, space, signed, memo in entries:
                if memo is None:            # a memarg of memory 0 (implicit)
                    v = 0
                else:
                    key = m[g]
                    v = memo.get(key)
                    if v is None:
                        v = decode(key, signed, base + m.start(g), memo)
                sets[space].add(v)
            if switch:
                # one more memory is known: the rest of the code no longer stops at its memargs
                match, groups = self._state(mems, (match, groups))

    def body(self, raw, base: int = 0) -> dict[str, set[int]]:
        """Every index of the requested spaces that a function body (locals + expression, no size
        prefix) refers to: ``{space: set of indices}``, one entry per requested space (in the spec's order)."""
        sets = self._fresh()
        if not self.spaces:
            return sets
        buf = raw if type(raw) is bytes else bytes(raw)
        found = _Found(sets)
        end = len(buf)
        pos = self._walker._locals(buf, 0, end, base, found)
        self._expr_into(buf, pos, end, base, sets, found)
        return sets

    def const_expr(self, raw, base: int = 0) -> dict[str, set[int]]:
        """Like :meth:`body`, for a constant expression (or any instruction sequence), final ``end`` included."""
        sets = self._fresh()
        if not self.spaces:
            return sets
        buf = raw if type(raw) is bytes else bytes(raw)
        self._expr_into(buf, 0, len(buf), base, sets, _Found(sets))
        return sets

    expr = const_expr

    def sites(self, raw, base: int = 0, *, body: bool = True) -> list[tuple[str, tuple[tuple[str, int], ...]]]:
        """Each instruction that carries an index of the requested spaces, in order, as
        ``(opcode name, ((space, index), ...))`` with the indices in immediate order::

            Scanner({"type", "table"}).sites(raw) -> [("call_indirect", (("type", 3), ("table", 0))), ...]

        Every memarg is a site when ``memory`` is requested (``("memory", 0)`` when
        implicit). ``body=False``: ``raw`` is an instruction sequence (a constant
        expression) rather than a function body; locals are not instructions, so
        their types never appear here (:meth:`body` has them).
        """
        out: list = []
        if not self.spaces:
            return out
        if self._sites_pat is None:
            pat = _pattern(self.spaces, self._mem, True)
            self._sites_pat = (pat.pattern.match, self._groups(pat))
        match, groups = self._sites_pat
        buf = raw if type(raw) is bytes else bytes(raw)
        end = len(buf)
        walker = self._walker
        pos = walker._locals(buf, 0, end, base, _Pairs()) if body else 0
        decode = self._decode
        names = _OPCODE_NAMES
        while True:
            m = match(buf, pos, end)
            li = m.lastindex
            pos = m.end()
            if li is None:
                if pos >= end:
                    break
                rec = _Pairs()
                start = pos
                pos = walker._slow(buf, pos, end, base, rec)
                if rec.pairs:
                    out.append((walker.op_name(buf, start, end, base), tuple(rec.pairs)))
                continue
            entries, _, opg = groups[li]
            pairs = []
            for g, space, signed, memo in entries:
                if memo is None:            # a memarg of memory 0 (implicit)
                    v = 0
                else:
                    key = m[g]
                    v = memo.get(key)
                    if v is None:
                        v = decode(key, signed, base + m.start(g), memo)
                pairs.append((space, v))
            out.append((names[m[opg]], tuple(pairs)))
        return out


_REF_SCANNERS: dict[frozenset, Scanner] = {}


def references(raw_body, spaces: Iterable[str] = SPACES, base: int = 0) -> dict[str, set[int]]:
    """``Scanner(spaces).body(raw_body)`` with the scanner built once per set of spaces (see :class:`Scanner`)::

        references(bytes.fromhex("00 10 05 23 02 1a 0b"), {"func", "global"}) == {"func": {5}, "global": {2}}
    """
    key = _space_set(spaces)
    sc = _REF_SCANNERS.get(key)
    if sc is None:
        sc = _REF_SCANNERS[key] = Scanner(key)
    return sc.body(raw_body, base)


# --------------------------------------------------------------------------- whole modules

def renumber_bytes(data, maps: IndexMaps, *, skip: Iterable[int] = ()) -> bytes:
    """Rewrite every index of the binary module ``data`` by ``maps``; one pass, unchanged spans copied.

    Sections whose id is in ``skip`` are copied as they are (say, a code section already renumbered).
    """
    data = bytes(data)
    r = maps if isinstance(maps, Renumberer) else Renumberer(maps)
    if not r.active:
        return data
    skip = frozenset(skip)
    edits = _Edits(data, 0)
    for sec in split_sections(data):
        if sec.id in skip:
            continue
        try:
            out = r._section_pieces(sec.id, data, sec.payload_offset, sec.end, 0)
        except DecodeError:
            if sec.id != 0:
                raise
            # a malformed name section does not make the module malformed; like binaryen, drop it
            # rather than keep names that would now be wrong
            edits.extend(sec.offset, sec.end, [])
            continue
        if out is None:
            continue
        size = sum(map(len, out))
        width = sec.payload_offset - sec.offset - 1
        edits.extend(sec.offset, sec.end, [bytes((sec.id,)), encode_u_width(size, width)] + out)
    out = edits.result(len(data))
    return data if out is None else _join(out)


def renumber(module, maps: IndexMaps):
    """A new Module whose every reference is renumbered by ``maps`` (the input is not changed).

    Items stay in place: see :func:`reindex` to move them as well. All-identity
    maps return ``module`` itself.
    """
    if maps.is_identity():
        return module
    from ..module import parse
    return parse(renumber_bytes(module.encode(), maps))


def reindex(module, maps: IndexMaps):
    """Move items to their new indices *and* rewrite every reference: a new Module.

    Each map must send the imported part of its space onto the first indices
    and the defined part onto the rest, one item per index (imports stay
    before definitions); a ``None`` entry deletes the item (and its name).
    Types move a whole recursion group at a time: a group's types must map
    to consecutive indices, in order. The maps are checked before anything
    is rewritten (EditError). With function 0 imported::

        reindex(m, IndexMaps(func=[0, 2, 1]))      # swap the two defined functions
        reindex(m, IndexMaps(func=[0, None, 1]))   # delete defined function 1 (it must be unused)
    """
    from ..types import ExternKind

    if maps.is_identity():
        return module
    plan = {}
    for space in maps.active:
        if space == "type":
            plan[space] = _group_order(module.types, maps)
        elif space in ("elem", "data"):
            plan[space] = _order(len(module.elems if space == "elem" else module.datas), maps, space, 0, 0)
        else:
            n_imp = module.num_imported(ExternKind[space.upper()])
            imp_order = _order(n_imp, maps, space, 0, 0)
            n_def = len(getattr(module, _DEFINED[space]))
            plan[space] = (imp_order, _order(n_def, maps, space, n_imp, len(imp_order)))
    new = renumber(module, maps)
    for space, order in plan.items():
        if space == "type":
            new.types = [new.types[i] for i in order]
        elif space == "elem":
            new.elems = [new.elems[i] for i in order]
        elif space == "data":
            new.datas = [new.datas[i] for i in order]
            if new.datacount is not None:
                new.datacount = len(order)
        else:
            imp_order, def_order = order
            kind = ExternKind[space.upper()]
            imported = [imp for imp in new.imports if imp.kind == kind]
            moved = iter([imported[i] for i in imp_order])
            new.imports = [x for x in (next(moved, None) if imp.kind == kind else imp for imp in new.imports)
                           if x is not None]
            attr = _DEFINED[space]
            setattr(new, attr, [getattr(new, attr)[i] for i in def_order])
            if space == "func":
                new.code = [new.code[i] for i in def_order]
    return new


_DEFINED = {"func": "funcs", "table": "tables", "memory": "memories", "global": "globals", "tag": "tags"}


def _order(n: int, maps: IndexMaps, space: str, offset: int, first: int) -> list[int]:
    """Positions ``0..n-1`` (indices ``offset + i``) in their new order, removed ones left out;
    their new indices must be ``first, first + 1, ...``."""
    keyed = []
    for i in range(n):
        new = maps.target(space, offset + i)
        if new is not None:
            keyed.append((new, i))
    keyed.sort()
    for want, (new, i) in enumerate(keyed, first):
        if new != want:
            raise EditError(f"the {space} map is not a permutation of its range: {space} {offset + i} goes to "
                            f"{new}, expected {want} (imports must stay before definitions)")
    return [i for _, i in keyed]


def _group_order(groups: list, maps: IndexMaps) -> list[int]:
    """Recursion groups in their new order (removed ones left out); a group moves as a whole."""
    keyed = []
    start = 0
    for gi, rg in enumerate(groups):
        targets = [maps.target("type", start + j) for j in range(len(rg.types))]
        if any(t is not None for t in targets):
            if None in targets or any(t != targets[0] + j for j, t in enumerate(targets)):
                raise EditError(f"the type map splits the recursion group at type {start}: {targets}")
            keyed.append((targets[0], gi, start))
        start += len(rg.types)
    keyed.sort()
    want = 0
    for new, gi, old in keyed:
        if new != want:
            raise EditError(f"the type map is not a permutation: type {old} goes to {new}, expected {want}")
        want += len(groups[gi].types)
    return [gi for _, gi, _ in keyed]
