"""Reference scanning: which indices does this code refer to? The re-encoder's pattern and
generic path, recording instead of rewriting::

    Scanner({"func", "global"}).body(raw)   ->  {"func": {3, 7}, "global": {0}}
    references(raw, {"func"})               ->  {"func": {3, 7}}
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, MutableSequence
from typing import Any, cast

from .leb import ByteData, read_s33, read_u32, read_u64, read_uN, read_sN, write_u
from .opcodes import OPCODES

from .indexmaps import SPACES, IndexMaps
from .renumber import SITE_KINDS, MatchFn, Renumberer
from .renumpat import PREFIX_SET, Pattern, build_pattern

# --------------------------------------------------------------------------- reference scanning

class _Found:
    """Where the generic path of :meth:`Scanner.body` records: one set per space."""

    __slots__ = ("sets", "out", "memory")

    def __init__(self, sets: dict):
        self.sets = sets
        self.out: list | None = None        # (:class:`_Sites` records sites here)
        self.memory = False

    def add(self, space: str, index: int) -> None:
        self.sets[space].add(index)

    def site(self, space: str, index: int, start: int, end: int, codec: str) -> None:
        self.sets[space].add(index)


_SITE_CODE = {k: i for i, k in enumerate(SITE_KINDS)}


class _Sites(_Found):
    """Where the generic path of :meth:`Scanner.body_sites` records: the sets, and each site's
    ``start, end, kind`` (memory sites only with ``memory``)."""

    __slots__ = ("sites",)

    def __init__(self, sets: dict, out: list, memory: bool):
        self.sets = sets
        self.out = self.sites = out
        self.memory = memory

    def site(self, space: str, index: int, start: int, end: int, codec: str) -> None:
        self.sets[space].add(index)
        if self.memory or space != "memory":
            self.sites.extend((start, end, _SITE_CODE[(space, codec)]))


class _Pairs:
    """Where the generic path of :meth:`Scanner.sites` records one instruction's indices."""

    __slots__ = ("pairs",)

    def __init__(self):
        self.pairs: list = []

    def add(self, space: str, index: int) -> None:
        self.pairs.append((space, index))

    def site(self, space: str, index: int, start: int, end: int, codec: str) -> None:
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
            rec.site(space, v, p, np, "s" if signed else "u")
        return np

    def _memarg(self, buf, p, end, base, rec):
        align, np = read_u32(buf, p, end, base)
        if align & 0x40:
            np = self._leb_index("memory", False, buf, np, end, base, rec)
        elif self._memory:
            rec.site("memory", 0, p, np, "a0")
        return read_u64(buf, np, end, base)[1]

    def op_name(self, buf, pos: int, end: int, base: int) -> str:
        op = buf[pos]
        if op in PREFIX_SET:
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
        self._sites_pat: tuple[MatchFn, dict] | None = None
        self._a0_groups: dict[int, int] | None = None

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
            pat = build_pattern(self.spaces, self._mem and 0 not in key, False, key)
            st = self._states[key] = (pat.pattern.match, self._groups(pat))
        return st

    def _groups(self, pat: Pattern) -> dict:
        """lastindex -> (((group, space, signed, memo or None for implicit memory 0), ...),
        names a memory?, the opcode group or None)."""
        out = {}
        for li, groups in pat.captures.items():
            entries = []
            for g, space, codec in groups:
                entries.append((g, space, codec == "s", None if codec == "a0" else self._memo[codec],
                                _SITE_CODE[(space, codec)]))
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

    def _expr_into(self, buf: bytes, pos: int, end: int, base: int, rec: _Found) -> None:
        """Record the indices of the instructions ``buf[pos:end]`` in ``rec``'s sets; a :class:`_Sites`
        also gets each site (memory sites only with ``rec.memory``: then the pattern never skips a
        memarg)."""
        sets, memory = rec.sets, rec.memory
        out: Any = rec.out
        mems: Any = sets.get("memory")
        match, groups = self._state(mems, None) if mems and not memory else self._start
        # memargs of implicit memory 0 are most sites: their alternatives take a short cut
        a0_only = self._a0_only() if memory else {}
        a0 = _SITE_CODE[("memory", "a0")]
        slow = self._walker._slow
        decode = self._decode
        while True:
            m = match(buf, pos, end)
            li = m.lastindex
            pos = m.end()
            if li is None:
                if pos >= end:
                    break
                pos = slow(buf, pos, end, base, rec)
                continue
            g = a0_only.get(li)
            if g is not None:
                s = m.start(g)
                out += (s, s + 1, a0)
                mems.add(0)
                continue
            entries, switch, _ = groups[li]
            for g, space, signed, memo, kind in entries:
                if memo is None:            # a memarg of memory 0 (implicit)
                    v = 0
                else:
                    key = m[g]
                    v = memo.get(key)
                    if v is None:
                        v = decode(key, signed, base + m.start(g), memo)
                sets[space].add(v)
                if out is not None and (memory or space != "memory"):
                    s, e = m.span(g)
                    out += (s, e, kind)
            if switch and not memory:
                # one more memory is known: the rest of the code no longer stops at its memargs
                match, groups = self._state(mems, (match, groups))

    def _a0_only(self) -> dict[int, int]:
        """lastindex -> group, for the start pattern's alternatives whose one capture is a memarg's
        flags (implicit memory 0)."""
        if self._a0_groups is None:
            self._a0_groups = {li: entries[0][0] for li, (entries, _s, _o) in self._start[1].items()
                               if len(entries) == 1 and entries[0][3] is None}
        return self._a0_groups

    def body_sites(self, raw: ByteData, base: int = 0, *,
                   memory: bool = False) -> tuple[dict[str, set[int]], MutableSequence[int]]:
        """:meth:`body`, and where each index is: ``(sets, sites)``, ``sites`` a flat ``array`` of
        ``start, end, kind`` triples in increasing order (``kind`` indexes :data:`SITE_KINDS`), one per
        index immediate of the requested spaces, memargs included only with ``memory`` (every memarg:
        its memory index, or its flags when memory 0 is implicit). It is what
        :meth:`~wasmweld.binary.renumber.Renumberer.patch` rewrites without reading the code again::

            (call 3) (i32.load offset=4 (local.get 0))   00 10 03 20 00 28 02 04 0b
            -> ({"func": {3}, "memory": {0}, ...}, array('l', [2, 3, 2, 5, 6, 16]))   (memory=True)
        """
        sets = self._fresh()
        out: list = []
        if self.spaces:
            buf = raw if type(raw) is bytes else bytes(raw)
            rec = _Sites(sets, out, memory and self._mem)
            end = len(buf)
            pos = self._walker._locals(buf, 0, end, base, rec)
            self._expr_into(buf, pos, end, base, rec)
        return sets, array("I" if len(out) < 3 or out[-2] < 1 << 32 else "Q", out)

    def body(self, raw: ByteData, base: int = 0) -> dict[str, set[int]]:
        """Every index of the requested spaces that a function body (locals + expression, no size
        prefix) refers to: ``{space: set of indices}``, one entry per requested space (in the spec's order)."""
        sets = self._fresh()
        if not self.spaces:
            return sets
        buf = raw if type(raw) is bytes else bytes(raw)
        found = _Found(sets)
        end = len(buf)
        pos = self._walker._locals(buf, 0, end, base, found)
        self._expr_into(buf, pos, end, base, found)
        return sets

    def const_expr(self, raw: ByteData, base: int = 0) -> dict[str, set[int]]:
        """Like :meth:`body`, for a constant expression (or any instruction sequence), final ``end`` included."""
        sets = self._fresh()
        if not self.spaces:
            return sets
        buf = raw if type(raw) is bytes else bytes(raw)
        self._expr_into(buf, 0, len(buf), base, _Found(sets))
        return sets

    expr = const_expr

    def sites(self, raw: ByteData, base: int = 0, *,
              body: bool = True) -> list[tuple[str, tuple[tuple[str, int], ...]]]:
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
            pat = build_pattern(self.spaces, self._mem, True)
            self._sites_pat = (cast(MatchFn, pat.pattern.match), self._groups(pat))
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
            for g, space, signed, memo, _kind in entries:
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


_TYPE_U, _TABLE_U = _SITE_CODE[("type", "u")], _SITE_CODE[("table", "u")]


def table_accesses(raw: ByteData, sites: MutableSequence[int], base: int = 0) -> list[tuple[int, int | None]]:
    """What :func:`~wasmweld.passes.used.body_table_accesses` finds, from a body's sites
    (:meth:`Scanner.body_sites` of a scanner with ``type`` and ``table``) instead of reading the code
    again: ``(table, type)`` for each ``call_indirect`` / ``return_call_indirect`` (the only
    instructions whose type index is followed by a table index, with no opcode in between),
    ``(table, None)`` for every other table immediate, in code order::

        (call_indirect (type 2) (table 0)) (table.get 1)   11 02 00 25 01   -> [(0, 2), (1, None)]
    """
    out: list[tuple[int, int | None]] = []
    kinds = bytes(list(sites[2::3]))          # (an array would give its machine bytes)
    j = kinds.find(_TABLE_U)
    while j >= 0:
        s, e = sites[3 * j], sites[3 * j + 1]
        table = read_u32(raw, s, e, base)[0]
        ctype = None
        if j and kinds[j - 1] == _TYPE_U and sites[3 * j - 2] == s:
            ts = sites[3 * j - 3]
            ctype = read_u32(raw, ts, s, base)[0]
        out.append((table, ctype))
        j = kinds.find(_TABLE_U, j + 1)
    return out


_REF_SCANNERS: dict[frozenset, Scanner] = {}


def references(raw_body: ByteData, spaces: Iterable[str] = SPACES, base: int = 0) -> dict[str, set[int]]:
    """``Scanner(spaces).body(raw_body)`` with the scanner built once per set of spaces (see :class:`Scanner`)::

        references(bytes.fromhex("00 10 05 23 02 1a 0b"), {"func", "global"}) == {"func": {5}, "global": {2}}
    """
    key = _space_set(spaces)
    sc = _REF_SCANNERS.get(key)
    if sc is None:
        sc = _REF_SCANNERS[key] = Scanner(key)
    return sc.body(raw_body, base)


