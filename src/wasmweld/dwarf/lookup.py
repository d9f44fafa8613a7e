"""Code address -> source frames (``addr2line``), as ``wasm-tools addr2line`` prints them.

An address inside an inlined call has several frames, innermost first: the inlined function at
the line the line table gives, then each caller at the call site its
``DW_TAG_inlined_subroutine`` records::

    0x30: fee_for /src/bank.c:12:70
    	transfer /src/bank.c:23:21

A row of line 0 prints the file alone; an address no function and no line row covers prints
``no dwarf frames found for this address``.
"""

from __future__ import annotations

from typing import Any, Iterable

from bisect import bisect_right
from ..record import record

from ..binary.reader import Reader
from ..errors import WasmError
from .info import AT, FORM, TAG, Unit, dies, units
from .line import LineHeader, line_header, rows
from .ranges import read_ranges
from ..binary.leb import ByteData

__all__ = ["Frame", "DebugInfo", "format_frames", "addr2line", "module_debug_info"]

_REF_FORMS = {FORM["ref1"], FORM["ref2"], FORM["ref4"], FORM["ref8"], FORM["ref_udata"]}
_STRX = {FORM["strx"], FORM["strx1"], FORM["strx2"], FORM["strx3"], FORM["strx4"], FORM["gnu_str_index"]}
_ADDRX = {FORM["addrx"], FORM["addrx1"], FORM["addrx2"], FORM["addrx3"], FORM["addrx4"], FORM["gnu_addr_index"]}
#: abstract_origin / specification chains followed at most this deep
_MAX_ORIGIN = 16
#: sequences (one per function for clang) an address is looked up in, nearest start first
_OVERLAP = 8


@record
class Frame:
    """One frame: function name (None: unknown) and source position (each part may be None)."""
    function: str | None
    file: str | None
    line: int | None
    column: int | None

    def text(self) -> str:
        """``function file:line:column`` as wasm-tools prints a frame."""
        out = self.function if self.function is not None else "<unnamed>"
        if self.file is None and self.line is None:
            return out
        out += " " + (self.file or "")
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        return out


def format_frames(addr: int | str, frames: list[Frame]) -> str:
    """The lines ``wasm-tools addr2line`` prints for ``addr`` (an int prints in hexadecimal, a
    string as written)."""
    label = f"{addr:#x}" if isinstance(addr, int) else addr
    if not frames:
        return f"{label}: no dwarf frames found for this address"
    return "\n".join((f"{label}: " if i == 0 else "\t") + f.text() for i, f in enumerate(frames))


def _join(path: str, part: str) -> str:
    if part.startswith("/") or not path:
        return part
    return path + part if path.endswith("/") else path + "/" + part


@record
class _Func:
    ranges: list[Any]
    die: int
    depth: int
    call: tuple[Any, ...] | None          # (file index, line, column) of an inlined call
    inlined: list               # _Func of inlined calls inside, any depth
    unit: int                   # offset of its unit


class DebugInfo:
    """The DWARF of one module, indexed for :meth:`frames` (``sections``: ``.debug_*`` payloads)."""

    def __init__(self, sections: dict[str, bytes]):
        self.s: dict[str, bytes] = sections
        self.seqs: list[tuple[int, int, list[Any], tuple[LineHeader, str]]] = []     # (start, end, rows, file namer)
        self.funcs: list[_Func] = []
        self.names: dict[int, tuple[Any, Any]] = {}
        self.unit_lines: dict[int, tuple[LineHeader, str]] = {}
        info = self.sec(".debug_info")
        for unit in units(info):
            self._unit(unit)
        self.seqs.sort(key=lambda s: s[0])
        self.seq_starts: list[int] = [s[0] for s in self.seqs]
        self.funcs.sort(key=lambda f: min((r[0] for r in f.ranges), default=0))

    def sec(self, name: str) -> bytes:
        """The payload of section ``name`` (empty when absent)."""
        return self.s.get(name, b"")

    # --- values ---------------------------------------------------------------------------------
    def _string(self, unit: Unit, a) -> str | None:
        info = self.sec(".debug_info")
        if a.form == FORM["string"]:
            return Reader(info, a.pos).cstr().decode("utf-8", "replace")
        if a.form in (FORM["strp"], FORM["line_strp"]):
            sec = self.sec(".debug_str" if a.form == FORM["strp"] else ".debug_line_str")
            if a.value >= len(sec):
                return None
            return Reader(sec, a.value).cstr().decode("utf-8", "replace")
        if a.form in _STRX:
            offs = self.sec(".debug_str_offsets")
            base = unit.extra.get(AT["str_offsets_base"], 8)
            p = base + 4 * a.value
            if p + 4 > len(offs):
                return None
            return self._string(unit, _Val(FORM["strp"], int.from_bytes(offs[p:p + 4], "little")))
        return None

    def _addr(self, unit: Unit, a) -> int | None:
        if a.form == FORM["addr"]:
            return a.value
        if a.form in _ADDRX:
            table = self.sec(".debug_addr")
            p = (unit.addr_base if unit.addr_base is not None else 8) + a.value * unit.addr_size
            return int.from_bytes(table[p:p + unit.addr_size], "little") if p + unit.addr_size <= len(table) else None
        return None

    def _ranges(self, unit: Unit, die) -> list[tuple[int, int]]:
        low = die.get(AT["low_pc"])
        high = die.get(AT["high_pc"])
        if low is not None and high is not None:
            lo = self._addr(unit, low)
            if lo is None:
                return []
            hi = self._addr(unit, high) if high.form in _ADDRX or high.form == FORM["addr"] else lo + (high.value or 0)
            return [(lo, hi)] if hi is not None and hi > lo else []
        rng = die.get(AT["ranges"])
        if rng is None or rng.value is None:
            return []
        return read_ranges(self, unit, rng)

    # --- indexing -------------------------------------------------------------------------------
    def _unit(self, unit: Unit) -> None:
        info, abbrev = self.sec(".debug_info"), self.sec(".debug_abbrev")
        stack: list[_Func] = []
        comp_dir, stmt = "", None
        for die in dies(info, abbrev, unit):
            if die.depth == 0:
                self._unit_die(unit, die)
                cd = die.get(AT["comp_dir"])
                comp_dir = (self._string(unit, cd) or "") if cd is not None else ""
                st = die.get(AT["stmt_list"])
                stmt = st.value if st is not None else None
                continue
            self._remember_names(unit, die)
            while stack and stack[-1].depth >= die.depth:
                stack.pop()
            if die.tag not in (TAG["subprogram"], TAG["inlined_subroutine"]):
                continue
            rngs = self._ranges(unit, die)
            call = None
            if die.tag == TAG["inlined_subroutine"]:
                vals = [die.get(AT[k]) for k in ("call_file", "call_line", "call_column")]
                call = tuple(v.value if v is not None else None for v in vals)
            f = _Func(rngs, die.offset, die.depth, call, [], unit.offset)
            root = next((s for s in reversed(stack) if s.call is None), None)
            if die.tag == TAG["subprogram"] or root is None:
                if rngs:
                    self.funcs.append(f)
            else:
                root.inlined.append(f)
            stack.append(f)
        if stmt is not None:
            self._lines(unit, stmt, comp_dir)

    def _unit_die(self, unit: Unit, die) -> None:
        for a in die.attrs:
            if a.at in (AT["addr_base"], AT["gnu_addr_base"]):
                unit.addr_base = a.value
            elif a.at in (AT["str_offsets_base"], AT["rnglists_base"], AT["loclists_base"]):
                unit.extra[a.at] = a.value
        low = die.get(AT["low_pc"])
        unit.base = (self._addr(unit, low) or 0) if low is not None else 0

    def _remember_names(self, unit: Unit, die) -> None:
        name = None
        for key in ("linkage_name", "mips_linkage_name", "name"):
            a = die.get(AT[key])
            if a is not None:
                name = self._string(unit, a)
                break
        origin = None
        for key in ("abstract_origin", "specification"):
            a = die.get(AT[key])
            if a is not None and a.value is not None:
                origin = a.value + (unit.offset if a.form in _REF_FORMS else 0)
                break
        if name is not None or origin is not None:
            self.names[die.offset] = (name, origin)

    def function_name(self, die: int) -> str | None:
        """The (linkage) name of the function DIE at ``die``, through abstract_origin/specification."""
        for _ in range(_MAX_ORIGIN):
            entry = self.names.get(die)
            if entry is None:
                return None
            name, origin = entry
            if name is not None:
                return name
            if origin is None:
                return None
            die = origin
        return None

    def _lines(self, unit: Unit, offset: int, comp_dir: str) -> None:
        data = self.sec(".debug_line")
        if offset >= len(data):
            return
        hdr = line_header(data, offset)
        self.unit_lines[unit.offset] = (hdr, comp_dir)
        cur: list[Any] = []
        for row in rows(data, hdr):
            if row.end_sequence:
                if cur and row.address > cur[0][0]:
                    self.seqs.append((cur[0][0], row.address, cur, (hdr, comp_dir)))
                cur = []
            elif cur and cur[-1][0] == row.address:
                cur[-1] = (row.address, row.file, row.line, row.column)
            else:
                cur.append((row.address, row.file, row.line, row.column))

    def file_name(self, hdr: LineHeader, comp_dir: str, index: int) -> str | None:
        """The path of file ``index`` of a line table, joined as gimli's addr2line joins it."""
        i = index if hdr.version >= 5 else index - 1
        if not 0 <= i < len(hdr.files):
            return None
        name, d = hdr.files[i]
        path = comp_dir
        if hdr.version >= 5 or d != 0:
            j = d if hdr.version >= 5 else d - 1
            if 0 <= j < len(hdr.dirs):
                path = _join(path, self._header_string(hdr.dirs[j]))
        return _join(path, self._header_string(name))

    def _header_string(self, v) -> str:
        if isinstance(v, tuple):
            sec = self.sec(".debug_line_str" if v[0] == "line_strp" else ".debug_str")
            return Reader(sec, v[1]).cstr().decode("utf-8", "replace") if v[1] < len(sec) else ""
        return bytes(v).decode("utf-8", "replace")

    # --- lookup ---------------------------------------------------------------------------------
    def location(self, addr: int) -> tuple[Any, ...] | None:
        """(file, line, column) of ``addr`` from the line table, or None."""
        i = bisect_right(self.seq_starts, addr) - 1
        for j in range(i, max(i - _OVERLAP, -1), -1):      # the nearest sequences starting at or before
            start, end, rws, (hdr, comp_dir) = self.seqs[j]
            if start <= addr < end:
                k = bisect_right([r[0] for r in rws], addr) - 1
                _a, file, line, col = rws[k]
                f = self.file_name(hdr, comp_dir, file)
                return (f, line or None, col if line else None)
        return None

    def frames(self, addr: int) -> list[Frame]:
        """The frames of ``addr``, innermost first."""
        loc = self.location(addr)
        func = next((f for f in self.funcs if any(lo <= addr < hi for lo, hi in f.ranges)), None)
        if func is None:
            return [Frame(None, *loc)] if loc is not None else []
        chain = [func] + sorted((f for f in func.inlined if any(lo <= addr < hi for lo, hi in f.ranges)),
                                key=lambda f: f.depth)
        out = []
        where = loc if loc is not None else (None, None, None)
        for f in reversed(chain):
            out.append(Frame(self.function_name(f.die), *where))
            if f.call is not None:
                where = self._call_site(f.unit, f.call)
        return out

    def _call_site(self, unit: int, call: tuple[Any, ...]) -> tuple[Any, ...]:
        hdr_dir = self.unit_lines.get(unit)
        fidx, line, col = call
        f = self.file_name(*hdr_dir, fidx) if hdr_dir is not None and fidx is not None else None
        return (f, line or None, (col or 0) if line else None)


@record
class _Val:
    form: int
    value: int


def module_debug_info(data: ByteData) -> tuple[DebugInfo, int]:
    """A module's :class:`DebugInfo` and the absolute offset of its code section's payload."""
    from ..module import parse  # noqa: PLC0415  (lookup is also imported by the runtime, lazily)
    from .addrmap import code_bodies  # noqa: PLC0415

    sections = {cs.name: bytes(cs.data) for cs in parse(data).customs if cs.name.startswith(".debug_")}
    return DebugInfo(sections), code_bodies(data)[0]


def addr2line(data: ByteData, addresses: Iterable[int | tuple[Any, int]], *, code_section_relative: bool = False) -> str:
    """What ``wasm-tools addr2line`` prints for ``addresses`` (module offsets, or code-section
    offsets with ``code_section_relative``; an address may be a (label, address) pair, printed
    with its label as written)::

        >>> addr2line(data, [0x1c4])                               # doctest: +SKIP
        '0x1c4: transfer /src/bank.c:26:16'
    """
    dbg, code = module_debug_info(data)
    out = []
    for item in addresses:
        label, addr = item if isinstance(item, tuple) else (item, item)
        if addr > len(data):
            raise WasmError(f"address {addr:#x}: no module contains this address")
        rel = addr
        if not code_section_relative:
            if code == 0:
                raise WasmError("no code section found in module")
            if addr < code:
                raise WasmError(f"address {addr:#x} is before the beginning of the code section")
            rel = addr - code
        out.append(format_frames(label, dbg.frames(rel)))
    return "\n".join(out) + ("\n" if out else "")
