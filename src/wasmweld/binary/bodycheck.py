"""Well-formedness of function bodies without decoding them: the quick path of ``check_wellformed``.

:func:`body_wellformed` answers "would :func:`~wasmweld.binary.instr.decode_body`
accept these bytes?" without building a single :class:`~wasmweld.binary.instr.Instr`.
One compiled ``bytes`` pattern, built from the opcode table, matches runs of
instructions with exact immediates (LEB128s exactly as the decoder accepts them)
and whole blocks nested up to a few levels deep, so the nesting of ``block`` /
``loop`` / ``if`` / ``try`` ... ``end`` is checked by the pattern itself::

    (func (local i32) (block (br_if 0 (local.get 0))) (call 3))
    01 01 7f  02 40 20 00 0d 00 0b  10 03  0b
              \\------ one matched block --/  \\call/ final end (checked in Python)

Everything the pattern does not cover (``br_table``, ``try_table``, blocks nested
deeper, multi-byte memarg flags, ``select`` with several types...) is read one
instruction at a time by the decoder's own readers. The answer is conservative:
``True`` only for a body the decoder accepts; ``False`` means "decode it to find out
(and to get the error with its offset)", which :func:`check_body` does.
"""

from __future__ import annotations

import re
from typing import Callable, cast

from ..errors import DecodeError
from .instr import IMM_READERS, decode_body, decode_locals, read_opcode
from .opcodes import BLOCK_OPS, BY_NAME, END, OPCODES
from .scanpat import POSSESSIVE, opcode_pattern

__all__ = ["body_wellformed", "check_body", "NEST_LEVELS"]

_P = POSSESSIVE
# Immediates exactly as the decoder's readers accept them (a subset is enough: the rest goes slowly).
_U32 = rf"(?:[\x80-\xff]{{0,3}}{_P}[\x00-\x7f]|[\x80-\xff]{{4}}[\x00-\x0f])"
_S32 = rf"(?:[\x80-\xff]{{0,3}}{_P}[\x00-\x7f]|[\x80-\xff]{{4}}[\x00-\x07\x78-\x7f])"
_S64 = rf"(?:[\x80-\xff]{{0,8}}{_P}[\x00-\x7f]|[\x80-\xff]{{9}}[\x00\x7f])"
_U64 = rf"(?:[\x80-\xff]{{0,8}}{_P}[\x00-\x7f]|[\x80-\xff]{{9}}[\x00\x01])"
_TYPEIDX = rf"(?:[\x80-\xff]{{0,3}}{_P}[\x00-\x3f]|[\x80-\xff]{{4}}[\x00-\x0f])"   # non-negative s33
_ABS_HEAP = r"[\x69-\x74]"              # the twelve abstract heap types (one byte)
_ONE_BYTE_VT = r"[\x69-\x74\x7b-\x7f]"  # numeric/vector types and abstract reference shorthands
_ANY = r"[\x00-\xff]"

_FRAGMENTS: dict[str, str] = {
    "u32": _U32, "label": _U32, "local": _U32, "field": _U32, "func": _U32, "type": _U32,
    "table": _U32, "memory": _U32, "global": _U32, "tag": _U32, "elem": _U32, "data": _U32,
    "i32": _S32, "i64": _S64,
    "f32": _ANY + "{4}", "f64": _ANY + "{8}", "v128": _ANY + "{16}", "lanes16": _ANY + "{16}", "lane": _ANY,
    "zero": r"\x00", "castflags": r"[\x00-\x03]",
    "heaptype": f"(?:{_ABS_HEAP}|{_TYPEIDX})",
    "blocktype": rf"(?:\x40|{_ONE_BYTE_VT}|{_TYPEIDX})",
    "valtypes": rf"\x01{_ONE_BYTE_VT}",                        # select with one one-byte type
    "memarg": rf"(?:[\x00-\x3f]{_U64}|[\x40-\x7f]{_U32}{_U64})",  # one-byte flags
}
# Vectors (br_table's labels, try_table's catch clauses) with a one-byte count below these bounds
# are spelled out one alternative per count; longer ones are read one instruction at a time.
_MAX_LABELS = 16
_MAX_CATCHES = 4
_CATCH = rf"(?:[\x00\x01]{_U32}{_U32}|[\x02\x03]{_U32})"
_FRAGMENTS["labels"] = "(?:" + "|".join(f"\\x{n:02x}(?:{_U32}){{{n}}}" for n in range(_MAX_LABELS)) + ")"
_FRAGMENTS["catches"] = "(?:" + "|".join(f"\\x{n:02x}{_CATCH}{{{n}}}" for n in range(_MAX_CATCHES)) + ")"

_DELEGATE = BY_NAME["delegate"]
_CLOSERS = (END, _DELEGATE)

#: how many levels of blocks the pattern matches whole (deeper ones are tracked in Python)
NEST_LEVELS = 4


def _alternatives(ops) -> list[str]:
    """Regex alternatives for ``ops`` (grouped by prefix and immediate fragment), or fewer when a
    kind has no fragment (those ops are left out)."""
    groups: dict[tuple, list[int]] = {}
    order: dict[tuple, int] = {}
    for op in ops:
        frags = [_FRAGMENTS.get(k) for k in op.imm]
        if None in frags:
            continue
        key = (op.prefix, "".join(cast("list[str]", frags)))
        groups.setdefault(key, []).append(op.code)
        order.setdefault(key, len(order))
    ranked = sorted(groups.items(), key=lambda kv: (kv[0][0] is not None, -len(kv[1]), order[kv[0]]))
    return [opcode_pattern(prefix, codes) + frag for (prefix, frag), codes in ranked]


def _build() -> re.Pattern[bytes]:
    plain = [op for op in OPCODES if op not in BLOCK_OPS and op not in _CLOSERS]
    flat = "|".join(_alternatives(plain))
    opener = "(?:" + "|".join(_alternatives(BLOCK_OPS)) + ")"
    closer = "(?:" + "|".join(_alternatives(_CLOSERS)) + ")"
    inner = flat
    for _ in range(NEST_LEVELS):
        block = f"{opener}(?:{inner})*{_P}{closer}"
        inner = f"{flat}|{block}"
    return re.compile(f"(?:{inner})*{_P}".encode("ascii"))


_RUN: list[re.Pattern[bytes]] = []     # compiled on first use (tens of milliseconds): most commands never need it
_READERS = {op: tuple(IMM_READERS[k] for k in op.imm) for op in OPCODES}
_OPENERS = frozenset(BLOCK_OPS)
_END_BYTE = END.opcode[0]


def body_wellformed(raw: bytes, base: int = 0) -> bool:
    """True if ``decode_body(raw, base)`` would succeed (locals, instructions, nesting, final ``end``
    as the last byte); False if it might not (it then decides)."""
    end = len(raw)
    try:
        p = decode_locals(raw, 0, end, base)[1]
    except DecodeError:
        return False
    if not _RUN:
        _RUN.append(_build())
    # the pattern ends in a star: it always matches (possibly empty), never returns None
    match = cast("Callable[[bytes, int, int], re.Match[bytes]]", _RUN[0].match)
    depth = 0
    while True:
        p = match(raw, p, end).end()
        if p >= end:
            return False                    # no final end
        if raw[p] == _END_BYTE:
            if depth == 0:
                return p + 1 == end         # the end of the function must be its last byte
            depth -= 1
            p += 1
            continue
        try:
            op, p = read_opcode(raw, p, end, base)
            for read in _READERS[op]:
                p = read(raw, p, end, base)[1]
        except DecodeError:
            return False
        if op in _OPENERS:
            depth += 1
        elif op is _DELEGATE:
            if depth == 0:
                return False
            depth -= 1


def check_body(raw: bytes, base: int = 0) -> None:
    """Raise :class:`~wasmweld.errors.DecodeError` (absolute offset) if the body is malformed,
    decoding it only when the quick check cannot vouch for it."""
    if not body_wellformed(raw, base):
        decode_body(raw, base)
