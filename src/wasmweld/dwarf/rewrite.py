"""One input's DWARF rewritten for its place in a combined module.

Each ``.debug_*`` section of the output is the concatenation of the inputs' sections, in input
order; an input's offsets into a section grow by the bytes earlier inputs put there (its *base*),
and its code addresses go through its :class:`~.addrmap.AddressMap`::

    input 2's compile unit: DW_AT_name (strp 0x10), DW_AT_stmt_list 0x0, DW_AT_low_pc 0x27
    -> DW_AT_name (strp 0x10 + input 1's .debug_str size), DW_AT_stmt_list (where its line
       program now starts), DW_AT_low_pc 0x27 + the distance its function moved

Everything is patched in place in fixed width, except ``.debug_line``, which
:func:`~.line.rebase_unit` re-encodes where a body changed inside.
"""

from __future__ import annotations

from typing import Any

from ..binary.reader import Reader
from ..errors import DecodeError
from .addrmap import REMOVED, AddressMap
from .info import AT, FORM, TAG, Unit, kept_dies, units
from .line import line_header, rebase_unit
from .grow import fix_tables, splice
from .lists import TOMBSTONE, Mapper, patch_addr_table, patch_v4_list, patch_v5_list, put_uleb

__all__ = ["InputDwarf", "SECTIONS", "UnsupportedDwarf"]

#: the DWARF sections this package rewrites, in the order they are written
SECTIONS = (".debug_abbrev", ".debug_info", ".debug_str", ".debug_line_str", ".debug_line", ".debug_ranges",
            ".debug_loc", ".debug_rnglists", ".debug_loclists", ".debug_addr", ".debug_str_offsets",
            ".debug_frame", ".debug_aranges", ".debug_pubnames", ".debug_pubtypes", ".debug_gnu_pubnames",
            ".debug_gnu_pubtypes", ".debug_macinfo")

_LOC_ATTRS = {AT[k] for k in ("location", "string_length", "return_addr", "segment", "data_member_location",
                              "frame_base", "static_link", "use_location", "vtable_elem_location",
                              "gnu_locviews")}
_ADDR_FORMS = {FORM["addrx"], FORM["addrx1"], FORM["addrx2"], FORM["addrx3"], FORM["addrx4"],
               FORM["gnu_addr_index"]}
_DATA_FORMS = {FORM["data1"]: 1, FORM["data2"]: 2, FORM["data4"]: 4, FORM["data8"]: 8}
#: what :meth:`InputDwarf._die` reads: these forms, these attributes, every attribute of a unit's DIE
_KEEP_FORMS = frozenset({FORM[k] for k in ("addr", "strp", "line_strp", "ref_addr", "sec_offset", "rnglistx",
                                           "loclistx", "strp_sup", "gnu_strp_alt", "gnu_ref_alt", "ref_sup4",
                                           "ref_sup8")} | _ADDR_FORMS)
_KEEP_ATS = frozenset({AT["low_pc"], AT["high_pc"], AT["location"]})
_F_STRP, _F_ADDR, _F_EXPRLOC, _F_UDATA = FORM["strp"], FORM["addr"], FORM["exprloc"], FORM["udata"]
_F_LINE_STRP, _F_REF_ADDR, _F_SEC_OFFSET = FORM["line_strp"], FORM["ref_addr"], FORM["sec_offset"]
_F_RNGLISTX, _F_LOCLISTX = FORM["rnglistx"], FORM["loclistx"]
_SUP_FORMS = frozenset(FORM[k] for k in ("strp_sup", "gnu_strp_alt", "gnu_ref_alt", "ref_sup4", "ref_sup8"))
_AT_LOW_PC, _AT_HIGH_PC, _AT_LOCATION = AT["low_pc"], AT["high_pc"], AT["location"]
#: attributes holding an offset into a DWARF 5 list section, and that section
_V5_LIST_REFS = {**{at: ".debug_loclists" for at in _LOC_ATTRS}, AT["ranges"]: ".debug_rnglists",
                 AT["rnglists_base"]: ".debug_rnglists", AT["loclists_base"]: ".debug_loclists"}
_UNIT_TAGS = frozenset({TAG["compile_unit"], TAG["partial_unit"], TAG["skeleton_unit"]})


#: DWARF expression opcodes naming a memory address
OP_ADDR, OP_ADDRX, OP_GNU_ADDR_INDEX = 0x03, 0xA1, 0xFB


class UnsupportedDwarf(DecodeError):
    """DWARF this package cannot rewrite faithfully (the caller drops it, saying so)."""


def _put(buf: bytearray, pos: int, value: int, width: int) -> None:
    buf[pos:pos + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")


class InputDwarf:
    """The ``.debug_*`` sections of one input and their rewrite (:meth:`rewrite`)."""

    def __init__(self, name: str, sections: dict[str, bytes], amap: AddressMap, data_shift: int = 0):
        unknown = [n for n in sections if n not in SECTIONS]
        if unknown:
            raise UnsupportedDwarf(f"cannot rewrite {', '.join(unknown)}", 0)
        self.name: str = name
        self.src: dict[str, bytes] = sections
        self.m: Mapper = Mapper(amap)
        self.amap: AddressMap = amap
        self.data_shift: int = data_shift         # where its memory 0 moved (a single-memory merge)
        self.code_slots: set[int] = set()    # .debug_addr positions named as code addresses
        self.data_slots: set[int] = set()    # ... named by DW_OP_addrx (memory addresses)
        self.addr_size: int = 4
        self.out: dict[str, bytes] = {}
        self.v5_refs: list[tuple[int, str, int]] = []   # .debug_info positions of offsets into v5 lists
        self.moved: dict[Any, Any] = {}                # v5 list section -> old position -> new (lists that grew)

    def sec(self, name: str) -> bytes:
        """The input's section ``name`` (empty when absent)."""
        return self.src.get(name, b"")

    # --- .debug_line ----------------------------------------------------------------------------
    def _lines(self, bases: dict[str, int]) -> dict[int, int]:
        data = self.sec(".debug_line")
        out, offsets, p = [], {}, 0
        size = 0

        def patch_str(kind: str, off: int) -> int:
            return off + bases[".debug_str" if kind == "strp" else ".debug_line_str"]

        while p < len(data):
            hdr = line_header(data, p)
            offsets[p] = size
            unit = rebase_unit(data, hdr, self.amap, patch_str)
            out.append(unit)
            size += len(unit)
            p = hdr.end
        self.out[".debug_line"] = b"".join(out)
        return offsets

    # --- .debug_info ----------------------------------------------------------------------------
    def _old_addr(self, unit: Unit, index: int, slots: set[Any] | None = None) -> int:
        """Entry ``index`` of the unit's ``.debug_addr`` table, its position noted as a code
        address (or in ``slots``)."""
        table = self.sec(".debug_addr")
        base = unit.addr_base if unit.addr_base is not None else 8
        p = base + index * unit.addr_size
        if p + unit.addr_size > len(table):
            raise UnsupportedDwarf(f"address index {index} past .debug_addr", 0)
        (self.code_slots if slots is None else slots).add(p)
        self.addr_size = unit.addr_size
        return int.from_bytes(table[p:p + unit.addr_size], "little")

    def _list_offset(self, unit: Unit, section: str, base: int | None, index: int) -> int:
        """The offset of list ``index`` through the offsets table at ``base`` (rnglistx/loclistx)."""
        table = self.sec(section)
        b = 12 if base is None else base
        p = b + 4 * index
        if p + 4 > len(table):
            raise UnsupportedDwarf(f"list index {index} past {section}", 0)
        return b + int.from_bytes(table[p:p + 4], "little")

    def _die(self, buf, unit: Unit, die, bases, line_offsets, lists) -> None:
        """Patch one DIE's values."""
        low = die.get(_AT_LOW_PC)
        old_low = None
        if low is not None and low.value is not None:
            old_low = self._old_addr(unit, low.value) if low.form in _ADDR_FORMS else low.value
        if die.tag in _UNIT_TAGS:
            unit.base = old_low or 0
            for a in die.attrs:
                if a.at in (AT["addr_base"], AT["gnu_addr_base"]):
                    unit.addr_base = a.value
                elif a.at in (AT["rnglists_base"], AT["loclists_base"]):
                    unit.extra[a.at] = a.value
        for a in die.attrs:
            f, v = a.form, a.value
            if f == _F_STRP:
                _put(buf, a.pos, v + bases[".debug_str"], 4)
            elif f == _F_ADDR:
                _put(buf, a.pos, self.m.point(v), a.width)
            elif f in _ADDR_FORMS:
                self._old_addr(unit, v)
            elif f == _F_EXPRLOC and a.at == _AT_LOCATION:
                self._data_location(buf, unit, a)
            elif a.at == _AT_HIGH_PC and (f in _DATA_FORMS or f == _F_UDATA) and old_low is not None:
                self._high_pc(buf, a, old_low)
            elif f == _F_LINE_STRP:
                _put(buf, a.pos, v + bases[".debug_line_str"], 4)
            elif f == _F_REF_ADDR:
                _put(buf, a.pos, v + bases[".debug_info"], a.width)
            elif f == _F_SEC_OFFSET:
                _put(buf, a.pos, self._sec_offset(unit, a.at, v, bases, line_offsets, lists), 4)
                if unit.version >= 5 and a.at in _V5_LIST_REFS:
                    self.v5_refs.append((a.pos, _V5_LIST_REFS[a.at], v))
            elif f == _F_RNGLISTX:
                lists.append((".debug_rnglists", self._list_offset(unit, ".debug_rnglists",
                                                                  unit.extra.get(AT["rnglists_base"]), v), unit))
            elif f == _F_LOCLISTX:
                lists.append((".debug_loclists", self._list_offset(unit, ".debug_loclists",
                                                                  unit.extra.get(AT["loclists_base"]), v), unit))
            elif f in _SUP_FORMS:
                raise UnsupportedDwarf("supplementary-file DWARF", a.pos)

    def _data_location(self, buf, unit: Unit, a) -> None:
        """A variable's location ``DW_OP_addr X`` / ``DW_OP_addrx i`` names memory: moved with the
        input's memory (single-memory merge)."""
        r = Reader(buf, a.pos, a.pos + a.width)
        if r.u64() == 0 or r.at_end():
            return
        op = r.byte()
        if op == OP_ADDR and self.data_shift:
            p = r.pos
            _put(buf, p, r.fixed(unit.addr_size) + self.data_shift, unit.addr_size)
        elif op in (OP_ADDRX, OP_GNU_ADDR_INDEX):
            self._old_addr(unit, r.u64(), self.data_slots)

    def _high_pc(self, buf, a, old_low: int) -> None:
        nlow, nend = self.amap.map(old_low), self.amap.map(old_low + a.value)
        if nlow in (None, REMOVED) or nend in (None, REMOVED):
            return
        new = nend - nlow
        if a.form == FORM["udata"]:
            put_uleb(buf, a.pos, a.pos + a.width, new)
        else:
            _put(buf, a.pos, new, a.width)

    def _sec_offset(self, unit: Unit, at: int, v: int, bases, line_offsets, lists) -> int:
        v5 = unit.version >= 5
        if at == AT["stmt_list"]:
            if v not in line_offsets:
                raise UnsupportedDwarf(f"DW_AT_stmt_list 0x{v:x} names no line program", 0)
            return line_offsets[v] + bases[".debug_line"]
        if at == AT["ranges"]:
            sec = ".debug_rnglists" if v5 else ".debug_ranges"
            lists.append((sec, v, unit))
            return v + bases[sec]
        if at in _LOC_ATTRS:
            sec = ".debug_loclists" if v5 else ".debug_loc"
            lists.append((sec, v, unit))
            return v + bases[sec]
        named = {AT["str_offsets_base"]: ".debug_str_offsets", AT["addr_base"]: ".debug_addr",
                 AT["gnu_addr_base"]: ".debug_addr", AT["rnglists_base"]: ".debug_rnglists",
                 AT["loclists_base"]: ".debug_loclists", AT["macro_info"]: ".debug_macinfo"}
        if at in named:
            return v + bases[named[at]]
        raise UnsupportedDwarf(f"DW_FORM_sec_offset for attribute 0x{at:x}", 0)

    def _info(self, bases, line_offsets) -> list[Any]:
        info, abbrev = self.sec(".debug_info"), self.sec(".debug_abbrev")
        buf = bytearray(info)
        lists: list[Any] = []
        for unit in units(info):
            _put(buf, unit.abbrev_field, unit.abbrev_offset + bases[".debug_abbrev"], 4)
            for die in kept_dies(info, abbrev, unit, _KEEP_FORMS, _KEEP_ATS, _UNIT_TAGS):
                self._die(buf, unit, die, bases, line_offsets, lists)
        self.info_buf = buf
        return lists

    # --- the other sections -----------------------------------------------------------------------
    def _lists(self, lists) -> None:
        bufs = {s: bytearray(self.sec(s)) for s in (".debug_ranges", ".debug_loc", ".debug_rnglists",
                                                     ".debug_loclists")}
        done = set()
        grow: dict[str, list] = {".debug_rnglists": [], ".debug_loclists": []}
        for sec, off, unit in lists:
            if (sec, off) in done:
                continue
            done.add((sec, off))
            if off >= len(bufs[sec]):
                raise UnsupportedDwarf(f"{sec} offset 0x{off:x} past its end", 0)
            if sec in (".debug_ranges", ".debug_loc"):
                patch_v4_list(bufs[sec], off, unit.base, unit.addr_size, self.m, sec == ".debug_loc")
            else:
                patch_v5_list(bufs[sec], off, unit.base, unit.addr_size, self.m, sec == ".debug_loclists",
                              lambda i, u=unit: self._old_addr(u, i), grow[sec])
        for sec, fields in grow.items():
            if fields:                       # offsets that outgrew their bytes: the section is re-laid out
                bufs[sec], self.moved[sec] = splice(bufs[sec], fields)
                fix_tables(bufs[sec], self.sec(sec), self.moved[sec])
        for s, b in bufs.items():
            self.out[s] = bytes(b)

    def _move_v5_refs(self, bases) -> None:
        """``.debug_info``'s offsets into DWARF 5 list sections that :meth:`_lists` re-laid out."""
        for pos, sec, v in self.v5_refs:
            if sec in self.moved:
                _put(self.info_buf, pos, self.moved[sec](v) + bases[sec], 4)
        self.out[".debug_info"] = bytes(self.info_buf)

    def _str_offsets(self, bases) -> None:
        buf = bytearray(self.sec(".debug_str_offsets"))
        r = Reader(buf)
        while not r.at_end():
            length = r.fixed(4)
            end = r.pos + length
            if length >= 0xFFFFFFF0 or end > len(buf):
                raise UnsupportedDwarf("bad .debug_str_offsets unit", r.pos)
            r.fixed(4)
            while r.pos + 4 <= end:
                p = r.pos
                _put(buf, p, r.fixed(4) + bases[".debug_str"], 4)
            r.pos = end
        self.out[".debug_str_offsets"] = bytes(buf)

    def _headers(self, bases) -> None:
        """``.debug_aranges`` and the ``pub*`` sections: their .debug_info offsets, aranges' spans."""
        for name in (".debug_aranges", ".debug_pubnames", ".debug_pubtypes", ".debug_gnu_pubnames",
                     ".debug_gnu_pubtypes"):
            buf = bytearray(self.sec(name))
            r = Reader(buf)
            while not r.at_end():
                start = r.pos
                length = r.fixed(4)
                end = r.pos + length
                if length >= 0xFFFFFFF0 or end > len(buf):
                    raise UnsupportedDwarf(f"bad {name} unit", start)
                r.fixed(2)
                p = r.pos
                _put(buf, p, r.fixed(4) + bases[".debug_info"], 4)
                if name == ".debug_aranges":
                    self._aranges(buf, r, start, end)
                r.pos = end
            self.out[name] = bytes(buf)

    def _aranges(self, buf, r: Reader, start: int, end: int) -> None:
        size = r.byte()
        r.byte()
        r.pos += (-(r.pos - start)) % (2 * size)
        while r.pos + 2 * size <= end:
            p = r.pos
            a, n = r.fixed(size), r.fixed(size)
            if a == 0 and n == 0:
                break
            sp = self.m.span(a, a + n)
            _put(buf, p, TOMBSTONE if sp is None else sp[0], size)
            _put(buf, p + size, 0 if sp is None else sp[1] - sp[0], size)

    def _frame(self, bases) -> None:
        buf = bytearray(self.sec(".debug_frame"))
        r = Reader(buf)
        while not r.at_end():
            start = r.pos
            length = r.fixed(4)
            end = r.pos + length
            if length >= 0xFFFFFFF0 or end > len(buf):
                raise UnsupportedDwarf("bad .debug_frame entry", start)
            p = r.pos
            cie = r.fixed(4)
            if cie != 0xFFFFFFFF and end - r.pos >= 8:
                _put(buf, p, cie + bases[".debug_frame"], 4)
                q = r.pos
                a, n = r.fixed(4), r.fixed(4)
                if self.amap.shift_of(a) is None and self.amap.map(a) != REMOVED:
                    raise UnsupportedDwarf(".debug_frame of a body whose layout changed", q)
                sp = self.m.span(a, a + n)
                _put(buf, q, TOMBSTONE if sp is None else sp[0], 4)
                _put(buf, q + 4, 0 if sp is None else sp[1] - sp[0], 4)
            r.pos = end
        self.out[".debug_frame"] = bytes(buf)

    def rewrite(self, bases: dict[str, int]) -> dict[str, bytes]:
        """The rewritten sections (every name of :data:`SECTIONS`, empty when absent), given the
        bases (bytes already in each output section)."""
        if self.amap.identity and not self.data_shift and not any(bases.values()):
            # nothing moves (the first input, no code removed): every value stays as it is
            return {name: self.sec(name) for name in SECTIONS}
        line_offsets = self._lines(bases)
        lists = self._info(bases, line_offsets)
        self._lists(lists)
        self._move_v5_refs(bases)
        addr = bytearray(self.sec(".debug_addr"))
        patch_addr_table(addr, self.addr_size, self.code_slots, self.data_slots - self.code_slots, self.m,
                         self.data_shift)
        self.out[".debug_addr"] = bytes(addr)
        self._str_offsets(bases)
        self._headers(bases)
        self._frame(bases)
        for name in (".debug_abbrev", ".debug_str", ".debug_line_str", ".debug_macinfo"):
            self.out[name] = self.sec(name)
        return self.out
