"""``.debug_line``: line-program headers, rows, and rebasing each sequence to new code addresses.

A line program (DWARF 2-5) is a header (file and directory tables) and a byte-coded state machine
whose rows map addresses to (file, line, column)::

    DW_LNE_set_address 0x27        ;; a sequence starts: one function's code (clang, wasm32)
    special opcode                 ;; address += 3, line += 2, emit a row
    DW_LNS_advance_pc 19 ; DW_LNE_end_sequence

:func:`rebase_unit` rewrites one program for an :class:`~.addrmap.AddressMap`: a sequence whose
code only moved gets its ``set_address`` patched; one whose body changed inside has every address
step re-encoded (``advance_pc`` by the new distance; a special opcode becomes ``advance_pc``,
``advance_line``, ``copy``, which makes the same row); one of removed code is dropped.
"""

from __future__ import annotations

from ..record import field, record
from typing import Any, Callable, Iterator

from ..binary.leb import read_s64, read_u64, write_s, write_u
from ..binary.reader import Reader
from ..errors import DecodeError
from .addrmap import REMOVED, AddressMap
from ..binary.leb import ByteData

__all__ = ["LineHeader", "line_header", "ops", "rows", "rebase_unit", "Row"]

_STRING_FORMS = {0x08: "string", 0x1F: "line_strp", 0x0E: "strp"}


@record
class LineHeader:
    """One line program's header (offsets absolute within ``.debug_line``)."""
    offset: int
    end: int
    version: int
    addr_size: int
    min_inst: int
    default_is_stmt: bool
    line_base: int
    line_range: int
    opcode_base: int
    std_lens: list[int]
    program: int
    dirs: list[Any] = field(default_factory=list)       # bytes, or (form name, offset)
    files: list[tuple[Any, Any]] = field(default_factory=list)      # (name, dir index)
    str_fields: list[tuple[int, str]] = field(default_factory=list)  # (position, "strp" | "line_strp") of string offsets


def _v5_entries(r: Reader, hdr: LineHeader) -> list[tuple]:
    formats = [(r.u64(), r.u64()) for _ in range(r.byte())]
    out = []
    for _ in range(r.count()):
        name: object = b""
        dir_index: object = 0
        value: object
        for ct, form in formats:
            pos = r.pos
            if form == 0x08:
                value = r.cstr()
            elif form in (0x1F, 0x0E):
                value = (_STRING_FORMS[form], r.fixed(4))
                hdr.str_fields.append((pos, _STRING_FORMS[form]))
            elif form == 0x0F:
                value = r.u64()
            elif form in (0x0B, 0x05, 0x06, 0x07, 0x1E):
                value = r.fixed({0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x1E: 16}[form])
            elif form == 0x09:
                value = r.bytes(r.u64())
            else:
                raise DecodeError(f"line table entry form 0x{form:x}", pos)
            if ct == 1:
                name = value
            elif ct == 2:
                dir_index = value
        out.append((name, dir_index))
    return out


def line_header(data: ByteData, offset: int) -> LineHeader:
    """The header of the line program at ``offset`` of ``.debug_line``."""
    r = Reader(data, offset)
    length = r.fixed(4)
    if length >= 0xFFFFFFF0:
        raise DecodeError("64-bit DWARF is not supported", offset)
    end = r.pos + length
    if end > len(data):
        raise DecodeError("line program past the end of .debug_line", offset)
    version = r.fixed(2)
    if not 2 <= version <= 5:
        raise DecodeError(f"line table version {version}", offset)
    addr_size = 4
    if version >= 5:
        addr_size = r.byte()
        r.byte()
    hlen = r.fixed(4)
    program = r.pos + hlen
    min_inst = r.byte()
    if version >= 4:
        r.byte()
    is_stmt, line_base, line_range, opcode_base = r.byte(), r.byte(), r.byte(), r.byte()
    if line_range == 0:
        raise DecodeError("line_range 0", offset)
    hdr = LineHeader(offset, end, version, addr_size, min_inst, bool(is_stmt), line_base - 256 * (line_base > 127),
                     line_range, opcode_base, [r.byte() for _ in range(max(opcode_base - 1, 0))], program)
    if version >= 5:
        hdr.dirs = [n for n, _d in _v5_entries(r, hdr)]
        hdr.files = _v5_entries(r, hdr)
    else:
        while (d := r.cstr()) != b"":
            hdr.dirs.append(d)
        while r.peek() not in (0, None):
            name = r.cstr()
            dir_index = r.u64()
            r.u64()
            r.u64()
            hdr.files.append((name, dir_index))
    return hdr


def ops(data: ByteData, hdr: LineHeader) -> Iterator[tuple[int, int, str, int]]:
    """(start, end, kind, value) of each opcode: kind ``special`` (value: the adjusted opcode),
    ``advance_pc`` (bytes), ``set_address`` (address), ``end_sequence``, ``advance_line``, ``copy``,
    ``set_file``, ``set_column``, ``negate_stmt``, or ``other``."""
    p, end = hdr.program, hdr.end
    opcode_base, min_inst, std_lens = hdr.opcode_base, hdr.min_inst, hdr.std_lens
    const_add = ((255 - opcode_base) // hdr.line_range) * min_inst
    names = {1: "copy", 6: "negate_stmt"}
    while p < end:
        start = p
        op = data[p]
        p += 1
        if op >= opcode_base:
            yield start, p, "special", op - opcode_base
        elif op == 0:
            n, p = read_u64(data, p, end)
            if n > end - p:
                raise DecodeError("unexpected end", end)
            q = p + n
            sub = data[p] if n else 0
            if sub == 1:
                yield start, q, "end_sequence", 0
            elif sub == 2:
                yield start, q, "set_address", int.from_bytes(data[p + 1:q], "little")
            else:
                yield start, q, "other", 0
            p = q
        elif op == 2:
            v, p = read_u64(data, p, end)
            yield start, p, "advance_pc", v * min_inst
        elif op == 3:
            v, p = read_s64(data, p, end)
            yield start, p, "advance_line", v
        elif op == 8:
            yield start, p, "advance_pc", const_add
        elif op == 9:
            if p + 2 > end:
                raise DecodeError("unexpected end", end)
            p += 2
            yield start, p, "advance_pc", data[p - 2] | data[p - 1] << 8
        elif op in (4, 5):
            v, p = read_u64(data, p, end)
            yield start, p, "set_file" if op == 4 else "set_column", v
        elif op in names:
            yield start, p, names[op], 0
        else:
            for _ in range(std_lens[op - 1] if op - 1 < len(std_lens) else 0):
                _v, p = read_u64(data, p, end)
            yield start, p, "other", 0


@record
class Row:
    """One row of a line table (``end_sequence``: the address one past the sequence)."""
    address: int
    file: int
    line: int
    column: int
    end_sequence: bool


def rows(data: ByteData, hdr: LineHeader) -> Iterator[Row]:
    """The rows of one line program."""
    addr, file, line, col = 0, 1, 1, 0
    for _s, _e, kind, v in ops(data, hdr):
        if kind == "special":
            addr += (v // hdr.line_range) * hdr.min_inst
            line += hdr.line_base + v % hdr.line_range
            yield Row(addr, file, line, col, False)
        elif kind == "advance_pc":
            addr += v
        elif kind == "advance_line":
            line += v
        elif kind == "set_address":
            addr = v
        elif kind == "set_file":
            file = v
        elif kind == "set_column":
            col = v
        elif kind == "copy":
            yield Row(addr, file, line, col, False)
        elif kind == "end_sequence":
            yield Row(addr, file, line, col, True)
            addr, file, line, col = 0, 1, 1, 0


def _sequences(data: ByteData, hdr: LineHeader) -> list[list[tuple]]:
    """The opcodes grouped by sequence, each opcode with the address before and after it."""
    seqs, cur, addr = [], [], 0
    for s, e, kind, v in ops(data, hdr):
        before = addr
        if kind == "special":
            addr += (v // hdr.line_range) * hdr.min_inst
        elif kind == "advance_pc":
            addr += v
        elif kind == "set_address":
            addr = v
        cur.append((s, e, kind, v, before, addr))
        if kind == "end_sequence":
            seqs.append(cur)
            cur, addr = [], 0
    if cur:
        seqs.append(cur)
    return seqs


#: standard and extended line opcodes written here
LNS_COPY, LNS_ADVANCE_PC, LNS_ADVANCE_LINE = 1, 2, 3
LNE_SET_ADDRESS = 2


def _set_address(addr: int, size: int) -> bytes:
    return bytes((0,)) + write_u(1 + size) + bytes((LNE_SET_ADDRESS,)) + addr.to_bytes(size, "little")


def _rebase_sequence(data: ByteData, hdr: LineHeader, seq: list[Any], amap: AddressMap) -> bytes:
    """One sequence for the new addresses (b"" when its code was removed)."""
    addrs = [op[5] for op in seq if op[2] in ("special", "set_address", "advance_pc", "copy", "end_sequence")]
    anchor = next((op[4 if op[2] != "set_address" else 5] for op in seq if op[2] == "set_address"), None)
    if anchor is None:
        return b""                                  # no address: nothing to place (never emitted by clang)
    if amap.line_map(anchor) in (None, REMOVED) and all(amap.line_map(a) in (None, REMOVED) for a in addrs):
        return b""                                  # removed code, or a linker's tombstone already
    shift = amap.line_shift(anchor)
    if shift is not None and all(amap.line_shift(a) == shift for a in addrs):
        return b"".join(_set_address(v + shift, hdr.addr_size) if kind == "set_address" else bytes(data[s:e])
                        for s, e, kind, v, _b, _a in seq)
    if hdr.min_inst != 1:
        raise DecodeError("a line program with minimum_instruction_length != 1", hdr.offset)
    return _reencode_sequence(data, hdr, seq, amap)


def _reencode_sequence(data: ByteData, hdr: LineHeader, seq: list[Any], amap: AddressMap) -> bytes:
    """A sequence whose addresses do not all move by one shift, every address step re-encoded.
    Rows in removed code or outside all code (a sequence spanning several functions, gc removing
    one; a linker's leftovers past the code) are dropped; the sequence then runs to the end of the
    last live body before them, and a ``set_address`` resumes it."""
    out = bytearray()
    new_now = None
    live_old = None                                 # the last old address that was kept
    shift_now = None                                # the shift of the body it is in (None: its layout changed)
    for s, e, kind, v, before, after in seq:
        if kind in ("special", "advance_pc", "set_address"):
            new, shift = amap.line_point(after)
            if shift is not None and shift == shift_now and kind != "set_address" and live_old is not None \
                    and new_now == before + shift:
                out += data[s:e]                    # a step inside code that moved as one: kept as written
                new_now, live_old = new, after
                continue
            shift_now = shift
            if new is None or new == REMOVED:
                if live_old is not None:
                    end = _live_end(amap, live_old)
                    if end is not None and new_now is not None and end > new_now:
                        out += bytes((LNS_ADVANCE_PC,)) + write_u(end - new_now)
                        new_now = end
                    live_old = None
                if kind == "special":
                    dline = hdr.line_base + v % hdr.line_range
                    if dline:
                        out += bytes((LNS_ADVANCE_LINE,)) + write_s(dline)
                continue
            if kind == "set_address" or new_now is None or new < new_now or live_old is None:
                out += _set_address(new, hdr.addr_size)
            elif new != new_now:
                out += bytes((LNS_ADVANCE_PC,)) + write_u(new - new_now)
            if kind == "special":
                dline = hdr.line_base + v % hdr.line_range
                if dline:
                    out += bytes((LNS_ADVANCE_LINE,)) + write_s(dline)
                out += bytes((LNS_COPY,))
            new_now, live_old = new, after
        elif kind == "copy" and live_old is None:
            continue                                # a row in dropped code
        else:
            out += data[s:e]
    return bytes(out)


def _live_end(amap: AddressMap, old: int) -> int | None:
    """The new end of the body holding old address ``old``."""
    i = amap.body_of(old)
    return None if i is None else amap.line_map(amap.old[i][1])


def rebase_unit(data: ByteData, hdr: LineHeader, amap: AddressMap, patch_str: Callable[[str, int], int]) -> bytes:
    """The line program ``hdr`` rewritten for ``amap``; ``patch_str(kind, offset)`` gives the new
    offset of a header string (``strp``/``line_strp``)."""
    head = bytearray(data[hdr.offset:hdr.program])
    for pos, kind in hdr.str_fields:
        p = pos - hdr.offset
        head[p:p + 4] = patch_str(kind, int.from_bytes(head[p:p + 4], "little")).to_bytes(4, "little")
    body = b"".join(_rebase_sequence(data, hdr, seq, amap) for seq in _sequences(data, hdr))
    head[0:4] = (len(head) - 4 + len(body)).to_bytes(4, "little")
    return bytes(head) + body
