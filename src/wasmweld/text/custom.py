"""The custom sections ``wasm-tools print`` writes in its own syntax: ``producers`` and ``dylink.0``::

    (@producers
      (language "C11" "")
      (processed-by "clang" "17.0.0")
    )
    (@dylink.0
      (mem-info (memory 16 2))
      (needed "libc.so")
      (export-info "f" binding-weak)
    )

Each function returns the lines as ``(offset, text)`` pairs (the opening
keyword first), or None when the payload does not parse; the caller then
prints the section raw.
"""

from __future__ import annotations

from typing import Any

from ..binary.leb import read_u32
from ..binary.reader import decode_name
from ..errors import DecodeError
from .names import escape
from ..binary.leb import ByteData

__all__ = ["producers_lines", "dylink0_lines", "read_branch_hints"]

_PRODUCER_FIELDS = ("language", "processed-by", "sdk")
_FLAGS = ((0x1, "binding-weak"), (0x2, "binding-local"), (0x4, "visibility-hidden"), (0x10, "undefined"),
          (0x20, "exported"), (0x40, "explicit-name"), (0x80, "no-strip"), (0x100, "tls"), (0x200, "absolute"))


def _s(text: str) -> str:
    return '"' + escape(text) + '"'


def producers_lines(data: ByteData, base: int) -> list[Any] | None:
    """``[(offset, "(language \\"C\\" \\"\\")"), ...]`` for a producers payload at absolute ``base``."""
    end = len(data)
    out = []
    try:
        n, pos = read_u32(data, 0, end)
        for _ in range(n):
            field, pos = decode_name(data, pos, end)
            if field not in _PRODUCER_FIELDS:
                return None
            m, pos = read_u32(data, pos, end)
            for _ in range(m):
                at = pos
                name, pos = decode_name(data, pos, end)
                version, pos = decode_name(data, pos, end)
                out.append((base + at, f"({field} {_s(name)} {_s(version)})"))
        if pos != end:
            return None
    except DecodeError:
        return None
    return out


def _flags(flags: int) -> str:
    out = []
    for bit, name in _FLAGS:
        if flags & bit:
            flags &= ~bit
            out.append(" " + name)
    if flags:
        out.append(f" {flags:#x}")
    return "".join(out)


def _strings(data: ByteData, pos: int, end: int) -> tuple[list, int]:
    n, pos = read_u32(data, pos, end)
    out = []
    for _ in range(n):
        s, pos = decode_name(data, pos, end)
        out.append(s)
    return out, pos


def _subsection(sid: int, data: ByteData, p: int, q: int, at: int, out: list[Any]) -> None:
    if sid == 1:
        vals = []
        for _ in range(4):
            v, p = read_u32(data, p, q)
            vals.append(v)
        text = "(mem-info"
        if vals[0] > 0 or vals[1] > 0:
            text += f" (memory {vals[0]} {vals[1]})"
        if vals[2] > 0 or vals[3] > 0:
            text += f" (table {vals[2]} {vals[3]})"
        out.append((at, text + ")"))
    elif sid in (2, 5):
        items, p = _strings(data, p, q)
        kw = "needed" if sid == 2 else "runtime-path"
        out.append((at, "(" + kw + "".join(" " + _s(s) for s in items) + ")"))
    elif sid == 3:
        n, p = read_u32(data, p, q)
        for _ in range(n):
            name, p = decode_name(data, p, q)
            flags, p = read_u32(data, p, q)
            out.append((at, f"(export-info {_s(name)}{_flags(flags)})"))
    else:
        n, p = read_u32(data, p, q)
        for _ in range(n):
            module, p = decode_name(data, p, q)
            field, p = decode_name(data, p, q)
            flags, p = read_u32(data, p, q)
            out.append((at, f"(import-info {_s(module)} {_s(field)}{_flags(flags)})"))
    if p != q:
        raise DecodeError("unexpected data at the end of the subsection", p)


def dylink0_lines(data: ByteData, base: int) -> list[Any] | None:
    """The lines of a ``dylink.0`` payload at absolute ``base`` (None: print it raw)."""
    end = len(data)
    pos = 0
    out: list[Any] = []
    try:
        while pos < end:
            at = pos
            sid = data[pos]
            size, p = read_u32(data, pos + 1, end)
            q = p + size
            if q > end or sid not in (1, 2, 3, 4, 5):
                return None
            _subsection(sid, data, p, q, base + at, out)
            pos = q
    except DecodeError:
        return None
    return out


def read_branch_hints(data: ByteData, base: int) -> list[Any]:
    """The ``metadata.code.branch_hint`` section as wasmprinter keeps it: a stack (last = first function)
    of ``(func, [(absolute offset of the hint, offset in the body, taken)])``.

    As in wasmprinter, a malformed entry ends the reading and what was read stays (in file order).
    """
    out: list[Any] = []
    end = len(data)
    try:
        n, pos = read_u32(data, 0, end)
        for _ in range(n):
            func, pos = read_u32(data, pos, end)
            m, pos = read_u32(data, pos, end)
            hints = []
            for _ in range(m):
                at = pos
                off, pos = read_u32(data, pos, end)
                if pos + 2 > end or data[pos] != 1 or data[pos + 1] > 1:
                    return out
                hints.append((base + at, off, data[pos + 1] == 1))
                pos += 2
            out.append((func, hints))
        if pos != end:
            return out
    except DecodeError:
        return out
    out.reverse()
    return out
