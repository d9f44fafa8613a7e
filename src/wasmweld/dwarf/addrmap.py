"""Where each code address of an input went: old code-section offset -> new one (or removed).

DWARF for WebAssembly counts code addresses from the start of the code section's payload; a
function's ``DW_AT_low_pc`` is the first byte of its body after the size (its locals)::

    0a 0e 02  05 00 41 01 0b  ...        ;; code section: 2 bodies, the first 5 bytes long
              ^ 0x2 = low_pc of function 0, 0x7 = its high_pc (one past the end)

An :class:`AddressMap` is built from the input's and the output's code sections and, per input
body, the output body it became (None: removed). A body whose bytes keep their length keeps its
inner layout (the re-encoder keeps LEB widths), so only its start moves; a body whose length
changed (an index or a memory offset that grew) is aligned instruction by instruction; one whose
instructions are others (gc's shared trap, ``--replace-body``) counts as removed.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import Any, Sequence

from ..binary.instr import decode_body
from ..binary.leb import read_u32
from ..binary.reader import SECTION_IDS, split_sections
from ..errors import DecodeError
from ..binary.leb import ByteData

__all__ = ["AddressMap", "code_bodies", "REMOVED"]

#: what :meth:`AddressMap.map` returns for an address inside removed code
REMOVED = -1


def code_bodies(data: ByteData) -> tuple[int, list[tuple[int, int]]]:
    """(absolute offset of the code payload, [(start, end) of each body, payload-relative])."""
    for sec in split_sections(data):
        if sec.id == SECTION_IDS["code"]:
            base = sec.payload_offset
            n, q = read_u32(data, base, sec.end)
            out = []
            for _ in range(n):
                size, r = read_u32(data, q, sec.end)
                out.append((r - base, r - base + size))
                q = r + size
            return base, out
    return 0, []


def _instructions(raw) -> tuple[list[int], list[str]]:
    """Offsets (relative to the body) of the body's start, every instruction and its end; the names."""
    _locals, instrs = decode_body(raw)
    lens = [len(i.raw) for i in instrs]
    return [0, *accumulate(lens, initial=len(raw) - sum(lens))], [i.name for i in instrs]


def _same_instruction(old: str, new: str) -> bool:
    """``new`` is ``old`` or what single-memory lowering writes for it (memory.size -> global.get, ...)."""
    return old == new or (old.startswith("memory.") and new in ("call", "global.get"))


def _align(old_raw, new_raw) -> tuple[list[int], list[int]] | None:
    """Matching instruction offsets of two versions of one body (the same instructions in order,
    some re-encoded or lowered one for one); None when the new body is other code (replaced)."""
    try:
        (a, an), (b, bn) = _instructions(old_raw), _instructions(new_raw)
    except DecodeError:
        return None
    if an != bn and (len(an) != len(bn) or not all(map(_same_instruction, an, bn))):
        return None
    return a, b


class AddressMap:
    """Old code address -> new code address of one input.

    ``targets[i]`` is the output body index input body ``i`` became, or None when it was removed.
    """

    def __init__(self, old_data: ByteData, new_data: ByteData, targets: Sequence[int | None], *,
                 check: bool = False) -> None:
        """``check``: a body whose bytes changed but not its length is decoded too, and counts as
        replaced unless it holds the same instructions (the edit path, where a pass may have
        rewritten a body to other code of the same size)."""
        self.old: list[tuple[int, int]]
        obase, self.old = code_bodies(old_data)
        nb, new = code_bodies(new_data)
        self.starts: list[int] = [s for s, _e in self.old]
        self._memo: dict[int, int | None] = {}
        #: per old body: None (gone), one shift (layout kept) or aligned position lists (old, new)
        self.moves: list[Any] = []
        for i, (s, e) in enumerate(self.old):
            t = targets[i] if i < len(targets) else None
            if t is None or t >= len(new):
                self.moves.append(None)
                continue
            ns, ne = new[t]
            if ne - ns == e - s and (not check or old_data[obase + s:obase + e] == new_data[nb + ns:nb + ne] or
                                     _align(old_data[obase + s:obase + e], new_data[nb + ns:nb + ne])):
                self.moves.append(ns - s)             # the layout is kept: one shift for the body
                continue
            pair = _align(old_data[obase + s:obase + e], new_data[nb + ns:nb + ne])
            if pair is None:
                self.moves.append(None)             # the body was replaced: its old code is gone
                continue
            self.moves.append(([s + x for x in pair[0]], [ns + x for x in pair[1]]))

    def body_of(self, addr: int) -> int | None:
        """The input body containing ``addr`` (its end included), or None."""
        i = bisect_right(self.starts, addr) - 1
        if i < 0 or addr > self.old[i][1]:
            return None
        return i

    def map(self, addr: int) -> int | None:
        """The new address of ``addr``; :data:`REMOVED` inside removed code, None outside all code."""
        new: Any = self._memo.get(addr, self)     # self: not memoised yet
        if new is self:
            new = self._memo[addr] = self._map(addr)
        return new

    def _map(self, addr: int) -> int | None:
        i = bisect_right(self.starts, addr) - 1
        if i < 0 or addr > self.old[i][1]:
            return None
        mv = self.moves[i]
        if mv is None:
            return REMOVED
        if mv.__class__ is int:
            return addr + mv
        olds, news = mv
        k = bisect_right(olds, addr) - 1
        if olds[k] == addr:
            return news[k]
        return min(news[k] + addr - olds[k], news[min(k + 1, len(news) - 1)])

    def shift_of(self, addr: int) -> int | None:
        """The constant shift of the body containing ``addr`` when its layout was kept, else None."""
        i = self.body_of(addr)
        mv = None if i is None else self.moves[i]
        return mv if isinstance(mv, int) else None

    def _gap_next(self, addr: int) -> int | None:
        """The body whose size field holds ``addr`` (an address between two bodies), or None."""
        i = bisect_right(self.starts, addr)
        if 0 < i < len(self.starts) and self.old[i - 1][1] < addr < self.starts[i]:
            return i
        return None

    def line_map(self, addr: int) -> int | None:
        """:meth:`map`, where an address between two bodies (clang's line tables sometimes put a
        row on the next body's size field) moves with the next body (REMOVED with it)."""
        new = self.map(addr)
        if new is None and (i := self._gap_next(addr)) is not None:
            start = self.map(self.starts[i])
            assert start is not None                    # a body's start is inside code
            return REMOVED if start == REMOVED else start - (self.starts[i] - addr)
        return new

    def line_point(self, addr: int) -> tuple[int | None, int | None]:
        """(:meth:`line_map`, :meth:`line_shift`) of ``addr`` in one lookup."""
        i = bisect_right(self.starts, addr) - 1
        if i >= 0 and addr <= self.old[i][1]:
            mv = self.moves[i]
            if mv is None:
                return REMOVED, None
            if mv.__class__ is int:
                return addr + mv, mv
            return self.map(addr), None
        return self.line_map(addr), self.line_shift(addr)

    def clamp_end(self, addr: int) -> int | None:
        """The new end of the last kept body starting before ``addr`` (a range end past its code,
        which wasm-ld leaves for code it did not keep), or None."""
        i = bisect_right(self.starts, addr) - 1
        while i >= 0:
            new = self.map(self.old[i][1])
            if new not in (None, REMOVED):
                return new
            i -= 1
        return None

    def line_shift(self, addr: int) -> int | None:
        """:meth:`shift_of`, an address between two bodies taking the next body's."""
        shift = self.shift_of(addr)
        if shift is None and self.body_of(addr) is None and (i := self._gap_next(addr)) is not None:
            return self.shift_of(self.starts[i])
        return shift

    @property
    def identity(self) -> bool:
        """True when no address moves."""
        return all(m == 0 for m in self.moves)
