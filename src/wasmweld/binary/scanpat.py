"""Regex building blocks for the byte-level code scanners (:mod:`.reencode`, :mod:`wasmweld.features`).

Both scanners walk code bodies with one compiled ``bytes`` pattern whose
alternatives are "these opcodes, then these immediates". The helpers here spell
the opcode part::

    byte_class([0x20, 0x21, 0x22, 0x24])   ->  '[\\x20-\\x22\\x24]'
    opcode_pattern(0xFC, [0, 1, 17])       ->  '\\xfc[\\x00\\x01\\x11]'           (sub-opcodes in minimal LEB128)
    opcode_pattern(0xFD, [12, 130, 131])   ->  '\\xfd(?:\\x0c|[\\x82\\x83]\\x01)'      (grouped by LEB128 tail)

Opcode encodings are prefix-free, so the alternatives never compete: the
pattern matches the same bytes whatever their order.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable

from .leb import write_u

__all__ = ["POSSESSIVE", "byte_class", "opcode_pattern"]

#: possessive quantifier suffix (``*+``) where :mod:`re` has it (3.11+); plain greedy before
POSSESSIVE = "+" if sys.version_info >= (3, 11) else ""


def byte_class(codes: Iterable[int]) -> str:
    """Regex for one byte out of ``codes`` (a single escape, or a class with ranges for runs of 3+)."""
    codes = sorted(set(codes))
    if len(codes) == 1:
        return f"\\x{codes[0]:02x}"
    parts = []
    for _, grp in itertools.groupby(enumerate(codes), lambda ic: ic[1] - ic[0]):
        run = [c for _, c in grp]
        if len(run) >= 3:
            parts.append(f"\\x{run[0]:02x}-\\x{run[-1]:02x}")
        else:
            parts.extend(f"\\x{c:02x}" for c in run)
    return "[" + "".join(parts) + "]"


def opcode_pattern(prefix: int | None, codes: list[int]) -> str:
    """Regex for a set of opcodes sharing ``prefix`` (sub-opcodes in their minimal LEB form)."""
    if prefix is None:
        return byte_class(codes)
    groups: dict[bytes, list[int]] = {}     # LEB128 tail -> first bytes
    for c in codes:
        enc = write_u(c)
        groups.setdefault(enc[1:], []).append(enc[0])
    alts = [byte_class(firsts) + "".join(f"\\x{b:02x}" for b in tail) for tail, firsts in groups.items()]
    inner = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
    return f"\\x{prefix:02x}{inner}"
