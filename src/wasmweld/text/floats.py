"""Float literals as ``wasm-tools print`` writes them: exact hex float plus the decimal value in a comment::

    f32.const 0x1.8p+0 (;=1.5;)
    f64.const -0x0p+0 (;=-0;)
    f32.const nan:0x200000 (;=NaN;)
    f64.const inf (;=inf;)

The comment is Rust's ``Display`` of the value: the shortest decimal that reads
back to the same float, written without an exponent.
"""

from __future__ import annotations

import struct
from decimal import ROUND_DOWN, ROUND_UP, Context, Decimal

__all__ = ["format_f32", "format_f64", "rust_display"]


def rust_display(digits: str) -> str:
    """A decimal string (``repr`` style, possibly with an exponent) written the way Rust's Display does."""
    return format(Decimal(digits).normalize(), "f")


def _shortest(x: float, fmt: str, first: int, last: int) -> str:
    """The shortest decimal that reads back as ``x`` in format ``fmt`` ("<f" or "<d"): among the
    shortest candidates the closest to the exact value, a tie going away from zero (as Rust does)."""
    exact = Decimal(x)
    want = struct.pack(fmt, x)
    for p in range(first, last + 1):
        found = []
        for rounding in (ROUND_DOWN, ROUND_UP):
            d = Context(prec=p, rounding=rounding).plus(exact)
            try:
                if struct.pack(fmt, float(d)) == want:
                    found.append(d)
            except OverflowError:
                continue
        if found:
            return str(min(reversed(found), key=lambda d: abs(d - exact)))
    return repr(x)  # pragma: no cover - 9 / 17 significant digits always round-trip


def _shortest_f32(bits: int) -> str:
    return _shortest(struct.unpack("<f", bits.to_bytes(4, "little"))[0], "<f", 1, 9)


def _shortest_f64(bits: int) -> str:
    x = struct.unpack("<d", bits.to_bytes(8, "little"))[0]
    if x == 0:
        return repr(x)
    digits = len(Decimal(repr(x)).normalize().as_tuple().digits)  # repr has the shortest length
    return _shortest(x, "<d", digits, 17)


def _format(bits: int, int_width: int, exp_width: int, decimal) -> str:
    mant = int_width - 1 - exp_width
    mask = (1 << int_width) - 1
    bias = (1 << (exp_width - 1)) - 1
    min_exp = -(1 << (exp_width - 1)) + 1
    sign = ""
    orig = bits
    if bits >> (int_width - 1):
        bits ^= 1 << (int_width - 1)
        sign = "-"
    exp_field = bits >> mant
    fraction = bits & ((1 << mant) - 1)
    if exp_field == (1 << exp_width) - 1:
        if fraction == 0:
            return f"{sign}inf (;={sign}inf;)"
        if fraction == 1 << (mant - 1):
            return f"{sign}nan (;=NaN;)"
        return f"{sign}nan:{fraction:#x} (;=NaN;)"
    exponent = exp_field - bias
    out = [sign, "0x"]
    if bits == 0:
        out.append("0p+0")
    else:
        out.append("1")
        if fraction > 0:
            fraction = (fraction << (int_width - mant)) & mask
            if exponent == min_exp:
                leading = int_width - fraction.bit_length()
                if leading < int_width - 1:
                    fraction = (fraction << (leading + 1)) & mask
                else:
                    fraction = 0
                exponent -= leading
            out.append(".")
            while fraction > 0:
                out.append("%x" % (fraction >> (int_width - 4)))
                fraction = (fraction << 4) & mask
        out.append(f"p{exponent:+d}")
    out.append(f" (;={decimal(orig)};)")
    return "".join(out)


def _dec32(bits: int) -> str:
    return rust_display(_shortest_f32(bits))


def _dec64(bits: int) -> str:
    return rust_display(_shortest_f64(bits))


def format_f32(bits: int) -> str:
    """``bits`` (the IEEE single pattern) as wasm-tools prints an f32 literal."""
    return _format(bits, 32, 8, _dec32)


def format_f64(bits: int) -> str:
    """``bits`` (the IEEE double pattern) as wasm-tools prints an f64 literal."""
    return _format(bits, 64, 11, _dec64)
