"""Reading ``.debug_info``: unit headers, abbreviation tables, DIEs with the position of every value.

A DWARF 4 compile unit for wasm32 (``clang -g``) starts::

    unit_length:u32  version:u16=4  debug_abbrev_offset:u32  address_size:u8=4

(DWARF 5: ``unit_length version:u16=5 unit_type:u8 address_size:u8 debug_abbrev_offset:u32``),
then DIEs: an abbreviation code (ULEB128) naming a tag and the (attribute, form) list, the values
in those forms, children until a 0 code. :func:`dies` yields each DIE with the absolute position
and width of each value, so a writer can patch fixed-width values in place.
"""

from __future__ import annotations

from ..record import field, record
from typing import Any, Iterator

from ..binary.reader import Reader
from ..errors import DecodeError
from ..binary.leb import ByteData

__all__ = ["Unit", "Attr", "Die", "units", "abbrev_table", "dies", "kept_dies", "plan", "AT", "FORM", "TAG"]

#: attribute codes used here
AT = dict(location=0x02, name=0x03, stmt_list=0x10, low_pc=0x11, high_pc=0x12, comp_dir=0x1B,
          string_length=0x19, return_addr=0x2A, segment=0x2E, data_member_location=0x38, frame_base=0x40,
          macro_info=0x43, static_link=0x48, use_location=0x4A, vtable_elem_location=0x4D, entry_pc=0x52,
          ranges=0x55, call_file=0x58, call_line=0x59, call_column=0x57, abstract_origin=0x31,
          specification=0x47, linkage_name=0x6E, str_offsets_base=0x72, addr_base=0x73,
          rnglists_base=0x74, macros=0x79, call_return_pc=0x7D, call_pc=0x81, loclists_base=0x8C,
          mips_linkage_name=0x2007, gnu_macros=0x2119, gnu_ranges_base=0x2132, gnu_addr_base=0x2133,
          gnu_locviews=0x2137)

#: form codes
FORM = dict(addr=0x01, block2=0x03, block4=0x04, data2=0x05, data4=0x06, data8=0x07, string=0x08,
            block=0x09, block1=0x0A, data1=0x0B, flag=0x0C, sdata=0x0D, strp=0x0E, udata=0x0F,
            ref_addr=0x10, ref1=0x11, ref2=0x12, ref4=0x13, ref8=0x14, ref_udata=0x15, indirect=0x16,
            sec_offset=0x17, exprloc=0x18, flag_present=0x19, strx=0x1A, addrx=0x1B, ref_sup4=0x1C,
            strp_sup=0x1D, data16=0x1E, line_strp=0x1F, ref_sig8=0x20, implicit_const=0x21,
            loclistx=0x22, rnglistx=0x23, ref_sup8=0x24, strx1=0x25, strx2=0x26, strx3=0x27, strx4=0x28,
            addrx1=0x29, addrx2=0x2A, addrx3=0x2B, addrx4=0x2C, gnu_addr_index=0x1F01,
            gnu_str_index=0x1F02, gnu_ref_alt=0x1F20, gnu_strp_alt=0x1F21)

#: tags used here
TAG = dict(compile_unit=0x11, partial_unit=0x3C, skeleton_unit=0x4A, subprogram=0x2E,
           inlined_subroutine=0x1D)

_FIXED = {FORM["data1"]: 1, FORM["ref1"]: 1, FORM["flag"]: 1, FORM["strx1"]: 1, FORM["addrx1"]: 1,
          FORM["data2"]: 2, FORM["ref2"]: 2, FORM["strx2"]: 2, FORM["addrx2"]: 2,
          FORM["strx3"]: 3, FORM["addrx3"]: 3, FORM["data4"]: 4, FORM["ref4"]: 4, FORM["strx4"]: 4,
          FORM["addrx4"]: 4, FORM["ref_sup4"]: 4, FORM["data8"]: 8, FORM["ref8"]: 8, FORM["ref_sig8"]: 8,
          FORM["ref_sup8"]: 8, FORM["data16"]: 16, FORM["flag_present"]: 0, FORM["implicit_const"]: 0}
_OFFSET = {FORM["strp"], FORM["sec_offset"], FORM["line_strp"], FORM["strp_sup"], FORM["gnu_ref_alt"],
           FORM["gnu_strp_alt"]}
_ULEB = {FORM["udata"], FORM["ref_udata"], FORM["strx"], FORM["addrx"], FORM["loclistx"], FORM["rnglistx"],
         FORM["gnu_addr_index"], FORM["gnu_str_index"]}
_BLOCK = {FORM["block1"]: 1, FORM["block2"]: 2, FORM["block4"]: 4}

#: most DIEs / abbreviations / attributes one unit may hold (hostile input stays bounded by its size)
MAX_DEPTH = 10_000


@record
class Unit:
    """One unit of ``.debug_info``: absolute offsets within the section and its header fields."""
    offset: int
    end: int
    version: int
    unit_type: int
    addr_size: int
    abbrev_offset: int
    abbrev_field: int           # position of the abbrev offset field
    dies_start: int
    base: int = 0               # the unit's base address (its DW_AT_low_pc), filled by the reader
    addr_base: int | None = None
    extra: dict[Any, Any] = field(default_factory=dict)


@record
class Attr:
    """One attribute value: attribute and form codes, the value's position and width, its value."""
    at: int
    form: int
    pos: int
    width: int
    value: int | None


@record
class Die:
    """One debugging information entry: its offset, tag, nesting depth and attributes."""
    offset: int
    tag: int
    depth: int
    attrs: list[Any]

    def get(self, at: int) -> Attr | None:
        """The attribute ``at`` of this DIE, or None."""
        for a in self.attrs:
            if a.at == at:
                return a
        return None


def units(info: ByteData) -> Iterator[Unit]:
    """The units of a ``.debug_info`` section (32-bit DWARF only)."""
    r = Reader(info)
    while not r.at_end():
        start = r.pos
        length = r.fixed(4)
        if length >= 0xFFFFFFF0:
            raise DecodeError("64-bit DWARF is not supported", start)
        end = r.pos + length
        if end > len(info):
            raise DecodeError("DWARF unit past the end of .debug_info", start)
        version = r.fixed(2)
        if version < 2 or version > 5:
            raise DecodeError(f"DWARF version {version} is not supported", start)
        unit_type = 1
        if version >= 5:
            unit_type = r.byte()
            addr_size = r.byte()
            field_pos = r.pos
            abbrev = r.fixed(4)
            if unit_type in (2, 6):
                r.fixed(8)
                r.fixed(4)
            elif unit_type in (4, 5):
                r.fixed(8)
        else:
            field_pos = r.pos
            abbrev = r.fixed(4)
            addr_size = r.byte()
        if addr_size not in (4, 8):
            raise DecodeError(f"address size {addr_size}", start)
        yield Unit(start, end, version, unit_type, addr_size, abbrev, field_pos, r.pos)
        r.pos = end


def abbrev_table(abbrev: ByteData, offset: int) -> dict[int, tuple[int, bool, list[Any]]]:
    """code -> (tag, has_children, [(attribute, form, implicit const)]) of the table at ``offset``."""
    r = Reader(abbrev, offset)
    table: dict[int, tuple[int, bool, list]] = {}
    while True:
        code = r.u64()
        if code == 0:
            return table
        tag = r.u64()
        children = r.byte() != 0
        specs = []
        while True:
            at, form = r.u64(), r.u64()
            if at == 0 and form == 0:
                break
            implicit = r.s64() if form == FORM["implicit_const"] else None
            specs.append((at, form, implicit))
        table[code] = (tag, children, specs)


def read_value(r: Reader, form: int, unit: Unit) -> tuple[int, int | None]:
    """Read one value of ``form``; returns (form actually read, integer value or None)."""
    while form == FORM["indirect"]:
        form = r.u64()
    if form in _FIXED:
        n = _FIXED[form]
        if n == 0 or n > 8:
            r.bytes(n)
            return form, None
        return form, r.fixed(n)
    if form in _OFFSET:
        return form, r.fixed(4)
    if form in _ULEB:
        return form, r.u64()
    if form == FORM["addr"]:
        return form, r.fixed(unit.addr_size)
    if form == FORM["ref_addr"]:
        return form, r.fixed(4 if unit.version >= 3 else unit.addr_size)
    if form == FORM["sdata"]:
        return form, r.s64()
    if form == FORM["string"]:
        r.cstr()
        return form, None
    if form in (FORM["exprloc"], FORM["block"]):
        r.bytes(r.u64())
        return form, None
    if form in _BLOCK:
        r.bytes(r.fixed(_BLOCK[form]))
        return form, None
    raise DecodeError(f"unknown DWARF form 0x{form:x}", r.pos)


def dies(info: ByteData, abbrev: ByteData, unit: Unit) -> Iterator[Die]:
    """Every DIE of ``unit``, in order, with its attributes' positions."""
    table = abbrev_table(abbrev, unit.abbrev_offset)
    r = Reader(info, unit.dies_start, unit.end)
    depth = 0
    while r.pos < unit.end:
        off = r.pos
        code = r.u64()
        if code == 0:
            depth -= 1
            if depth < 0:
                depth = 0
            continue
        if code not in table:
            raise DecodeError(f"DIE names abbreviation {code}, not in its table", off)
        tag, children, specs = table[code]
        attrs = []
        for at, form, implicit in specs:
            pos = r.pos
            real, value = read_value(r, form, unit)
            if real == FORM["implicit_const"]:
                value = implicit
            attrs.append(Attr(at, real, pos, r.pos - pos, value))
        yield Die(off, tag, depth, attrs)
        if children:
            depth += 1
            if depth > MAX_DEPTH:
                raise DecodeError("DIE tree too deep", off)


def _width(form: int, unit: Unit) -> int:
    """The fixed width of a value of ``form`` in ``unit`` (-1: variable, read with :func:`read_value`)."""
    if form in _FIXED:
        return _FIXED[form]
    if form in _OFFSET:
        return 4
    if form == FORM["addr"]:
        return unit.addr_size
    if form == FORM["ref_addr"]:
        return 4 if unit.version >= 3 else unit.addr_size
    return -1


def plan(table: dict[Any, Any], unit: Unit, keep_forms: frozenset[Any], keep_ats: frozenset[Any], whole_tags: frozenset[Any]) -> dict[Any, Any]:
    """Per abbreviation code: (tag, has_children, steps), each step (attribute, form, width,
    kept, implicit const), an attribute *kept* when its form is in ``keep_forms``, it is in
    ``keep_ats``, or the tag is one of ``whole_tags`` (every attribute kept)."""
    out = {}
    for code, (tag, children, specs) in table.items():
        steps = []
        for at, form, implicit in specs:
            keep = tag in whole_tags or form in keep_forms or at in keep_ats or form == FORM["indirect"]
            steps.append((at, form, _width(form, unit), keep, implicit))
        out[code] = (tag, children, tuple(steps))
    return out


def kept_dies(info: ByteData, abbrev: ByteData, unit: Unit, keep_forms: frozenset[Any], keep_ats: frozenset[Any],
              whole_tags: frozenset[Any]) -> Iterator[Die]:
    """:func:`dies`, each DIE with only its *kept* attributes (:func:`plan`): fixed-width values
    of the others are stepped over without being read. DIEs with none kept are not yielded."""
    table = plan(abbrev_table(abbrev, unit.abbrev_offset), unit, keep_forms, keep_ats, whole_tags)
    r = Reader(info, unit.dies_start, unit.end)
    end = unit.end
    implicit_form = FORM["implicit_const"]
    depth = 0
    while r.pos < end:
        off = r.pos
        code = r.u64()
        if code == 0:
            depth = max(depth - 1, 0)
            continue
        entry = table.get(code)
        if entry is None:
            raise DecodeError(f"DIE names abbreviation {code}, not in its table", off)
        tag, children, steps = entry
        attrs = []
        for at, form, width, keep, implicit in steps:
            pos = r.pos
            if width >= 0:
                if pos + width > end:
                    raise DecodeError("unexpected end", end)
                r.pos = pos + width
                if keep:
                    value = implicit if form == implicit_form else (
                        int.from_bytes(info[pos:pos + width], "little") if 0 < width <= 8 else None)
                    attrs.append(Attr(at, form, pos, width, value))
                continue
            real, value = read_value(r, form, unit)
            if keep:
                attrs.append(Attr(at, real, pos, r.pos - pos, implicit if real == implicit_form else value))
        if attrs:
            yield Die(off, tag, depth, attrs)
        if children:
            depth += 1
            if depth > MAX_DEPTH:
                raise DecodeError("DIE tree too deep", off)
