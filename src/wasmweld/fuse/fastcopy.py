"""The per-call hot paths of an adapter: copying bytes between memories and validating UTF-8.

What an adapter does for each string or plain list is bounded by two costs: the copy and, for
UTF-8, the well-formedness check the canonical ABI requires (lifting decodes the string and traps
on ill-formed UTF-8). Both are emitted inline:

- :func:`copy_bytes`: a ``memory.copy`` for large ranges (one engine call), an inline loop of
  8-byte loads/stores for small ones (an engine call costs more than copying a short name);
- :func:`validate_utf8`: below 16 bytes (names, keys, most strings in records), two overlapping
  scalar loads or-ed and tested against ``0x80...`` (all ASCII: one branch, no SIMD set-up, no
  ``memory.size``), else the bytes one at a time by :func:`.emit.check_utf8`; from 16 bytes on,
  16 bytes at a time with Wasm SIMD (the lookup algorithm of Keiser and
  Lemire, "Validating UTF-8 In Less Than One Instruction Per Byte", as simdjson and simdutf run it;
  an all-ASCII block costs one test), then the bytes from the last character boundary before the
  end of the last whole block checked one at a time by :func:`.emit.check_utf8`. In WAT, per block::

    (local.set $in (v128.load (local.get $i)))
    (if (v128.any_true (v128.and (local.get $in) (v128.const i8x16 0x80 ...)))
      (then
        (local.set $prev1 (i8x16.shuffle 15 16 ... 30 (local.get $prev) (local.get $in)))
        (local.set $err (v128.or (local.get $err) (v128.xor
          (v128.and (v128.or (i8x16.sub_sat_u $prev2 0x60...) (i8x16.sub_sat_u $prev3 0x70...)) 0x80...)
          (v128.and (v128.and (i8x16.swizzle $T1 (i8x16.shr_u $prev1 4))
                              (i8x16.swizzle $T2 (v128.and $prev1 0x0F...)))
                    (i8x16.swizzle $T3 (i8x16.shr_u $in 4))))))
        (local.set $inc (i8x16.sub_sat_u (local.get $in) $MAX)))
      (else (local.set $err (v128.or (local.get $err) (local.get $inc)))
            (local.set $inc (v128.const i64x2 0 0))))
"""

from __future__ import annotations

from ..binary.instr import MemArg
from .emit import Emitter, check_utf8
from .transcode import asm

__all__ = ["copy_bytes", "validate_utf8", "validate_utf16", "SMALL_COPY"]

#: ranges up to this many bytes are copied inline, longer ones with ``memory.copy``
SMALL_COPY = 64

# error bits of the lookup algorithm (which two-byte pattern each table entry can be part of)
_SHORT, _LONG, _OVL3, _LARGE, _SURR, _OVL2, _L1000, _CONTS = (1 << k for k in range(8))
_OVL4 = _L1000
_CARRY = _SHORT | _LONG | _CONTS
#: by the high nibble of the previous byte
_T1 = bytes([_LONG] * 8 + [_CONTS] * 4 + [_SHORT | _OVL2, _SHORT, _SHORT | _OVL3 | _SURR,
                                          _SHORT | _LARGE | _L1000 | _OVL4])
#: by the low nibble of the previous byte
_T2 = bytes([_CARRY | _OVL3 | _OVL2 | _OVL4, _CARRY | _OVL2, _CARRY, _CARRY, _CARRY | _LARGE]
            + [_CARRY | _LARGE | _L1000] * 8 + [_CARRY | _LARGE | _L1000 | _SURR] + [_CARRY | _LARGE | _L1000] * 2)
#: by the high nibble of the current byte
_T3 = bytes([_SHORT] * 8 + [_LONG | _OVL2 | _CONTS | _OVL3 | _L1000 | _OVL4, _LONG | _OVL2 | _CONTS | _OVL3 | _LARGE,
                            _LONG | _OVL2 | _CONTS | _SURR | _LARGE, _LONG | _OVL2 | _CONTS | _SURR | _LARGE]
            + [_SHORT] * 4)
#: a block ending in a lead byte whose continuation bytes are still to come is incomplete
_MAX = bytes([255] * 13 + [0xF0 - 1, 0xE0 - 1, 0xC0 - 1])


def _splat(b: int) -> bytes:
    return bytes([b]) * 16


def _shifted(e: Emitter, prev: int, cur: int, k: int) -> None:
    """Push the block ``cur`` moved ``k`` bytes later, its first bytes from ``prev``'s end."""
    e.get(prev)
    e.get(cur)
    e.op("i8x16.shuffle", bytes(range(16 - k, 32 - k)))


def _lookup(e: Emitter, table: bytes, v: int, high: bool) -> None:
    e.op("v128.const", table)
    e.get(v)
    if high:
        e.op("i32.const", 4)
        e.op("i8x16.shr_u")
    else:
        e.op("v128.const", _splat(0x0F))
        e.op("v128.and")
    e.op("i8x16.swizzle")


def _block(e: Emitter, cur: int, prev: int, err: int, inc: int, p1: int) -> None:
    """The error bits of one 16-byte block that holds a non-ASCII byte, or-ed into ``err``."""
    _shifted(e, prev, cur, 1)
    e.set(p1)
    e.get(err)
    _lookup(e, _T1, p1, True)
    _lookup(e, _T2, p1, False)
    e.op("v128.and")
    _lookup(e, _T3, cur, True)
    e.op("v128.and")
    _shifted(e, prev, cur, 2)
    e.op("v128.const", _splat(0xE0 - 0x80))
    e.op("i8x16.sub_sat_u")
    _shifted(e, prev, cur, 3)
    e.op("v128.const", _splat(0xF0 - 0x80))
    e.op("i8x16.sub_sat_u")
    e.op("v128.or")
    e.op("v128.const", _splat(0x80))
    e.op("v128.and")
    e.op("v128.xor")
    e.op("v128.or")
    e.set(err)
    e.get(cur)
    e.op("v128.const", _MAX)
    e.op("i8x16.sub_sat_u")
    e.set(inc)


def validate_utf8(e: Emitter, p: int, nbytes: int, mem: int) -> None:
    """Trap unless the ``nbytes`` bytes at ``p`` (a range already checked) are well-formed UTF-8:
    a string shorter than 16 bytes by :func:`_short_ascii` (then, unless all ASCII, one byte at a
    time), a longer one 16 bytes at a time (SIMD)."""
    asm(e, "local.get b i32.const 16 i32.lt_u if block", b=nbytes)
    _short_ascii(e, p, nbytes, mem)
    check_utf8(e, p, nbytes, mem)
    e.op("end")
    e.op("else")
    _validate_long(e, p, nbytes, mem)
    e.op("end")


def _short_ascii(e: Emitter, p: int, nbytes: int, mem: int) -> None:
    """Branch out of the enclosing block (``br 1`` from here) when the ``nbytes`` (< 16) bytes at
    ``p`` are all ASCII, else fall through, reading only those bytes: two overlapping 8- or 4-byte
    loads (the first and the last; the first, middle and last byte for 1 to 3 bytes) or-ed
    together, no SIMD and no ``memory.size``; each test ends in its own ``br_if`` (no boolean
    merged from the three cases). In WAT, for 8 to 15 bytes::

      (br_if $ascii (i64.eqz (i64.and (i64.or (i64.load (local.get $p))
                                              (i64.load (i32.sub (i32.add (local.get $p) (local.get $n))
                                                                 (i32.const 8))))
                                      (i64.const 0x8080808080808080))))
    """
    e.op("block", None)
    e.get(nbytes)
    e.op("i32.const", 8)
    e.op("i32.ge_u")
    e.op("if", None)
    e.get(p)
    e.op("i64.load", MemArg(0, 0, mem))
    asm(e, "local.get p local.get b i32.add i32.const 8 i32.sub", p=p, b=nbytes)
    e.op("i64.load", MemArg(0, 0, mem))
    e.op("i64.or")
    e.op("i64.const", -0x7F7F7F7F7F7F7F80)        # 0x8080808080808080 as a signed i64
    e.op("i64.and")
    asm(e, "i64.eqz br_if 2 br 1 end local.get b i32.const 4 i32.ge_u if", b=nbytes)
    asm(e, "local.get p i32.load @0 local.get p local.get b i32.add i32.const 4 i32.sub i32.load @0 i32.or "
           "i32.const -0x7F7F7F80 i32.and i32.eqz br_if 2 br 1 end", mem, p=p, b=nbytes)
    asm(e, "local.get b i32.eqz br_if 1 "                 # 0 to 3 bytes: the first, the middle and the last
           "local.get p i32.load8_u @0 local.get p local.get b i32.const 1 i32.shr_u i32.add i32.load8_u @0 "
           "i32.or local.get p local.get b i32.add i32.const 1 i32.sub i32.load8_u @0 i32.or "
           "i32.const 0x80 i32.and i32.eqz br_if 1 end", mem, p=p, b=nbytes)


def _validate_long(e: Emitter, p: int, nbytes: int, mem: int) -> None:
    """:func:`validate_utf8` for 16 bytes or more: SIMD blocks, then the tail."""
    i, end, k, s = (e.new("i32") for _ in range(4))
    cur, prev, err, inc, p1 = (e.new("v128") for _ in range(5))
    for v in (prev, err, inc):                  # (the code may run in a loop: reset every time)
        e.op("v128.const", bytes(16))
        e.set(v)
    asm(e, "local.get p local.set i local.get p local.get b i32.add local.set stop "
           "block loop local.get stop local.get i i32.sub i32.const 16 i32.lt_u br_if 1",
        p=p, b=nbytes, i=i, stop=end)
    e.get(i)
    e.op("v128.load", MemArg(0, 0, mem))
    e.set(cur)
    e.get(cur)
    e.op("v128.const", _splat(0x80))
    e.op("v128.and")
    e.op("v128.any_true")
    e.op("if", None)
    _block(e, cur, prev, err, inc, p1)
    e.op("else")
    e.get(err)
    e.get(inc)
    e.op("v128.or")
    e.set(err)
    e.op("v128.const", bytes(16))
    e.set(inc)
    e.op("end")
    e.get(cur)
    e.set(prev)
    asm(e, "local.get i i32.const 16 i32.add local.set i br 0 end end", i=i)
    fast = _tail(e, p, i, end, err, inc, mem)
    e.get(err)
    e.op("v128.any_true")
    e.trap_if()
    # else the rest from the start of the last character that began in the blocks (<= 3 bytes back)
    asm(e, "local.get fast i32.eqz if local.get i local.set s local.get i local.set k "
           "block loop local.get k local.get p i32.le_u br_if 1 "
           "local.get i local.get k i32.sub i32.const 4 i32.ge_u br_if 1 "
           "local.get k i32.const 1 i32.sub local.tee k i32.load8_u @0 i32.const 0xC0 i32.and i32.const 0x80 i32.ne "
           "if local.get k local.set s br 2 end br 0 end end "
           "local.get stop local.get s i32.sub local.set stop", mem, i=i, s=s, k=k, p=p, stop=end, fast=fast)
    check_utf8(e, s, end, mem)
    e.op("end")


def _or_inc(e: Emitter, err: int, inc: int) -> None:
    e.get(err)
    e.get(inc)
    e.op("v128.or")
    e.set(err)


def _ascii(e: Emitter) -> None:
    """Replace the v128 on the stack by 1 when all its bytes are ASCII, else 0."""
    e.op("v128.const", _splat(0x80))
    e.op("v128.and")
    e.op("v128.any_true")
    e.op("i32.eqz")


def _tail(e: Emitter, p: int, i: int, end: int, err: int, inc: int, mem: int) -> int:
    """The bytes after the whole blocks when they are ASCII, in one test: the last 16 bytes of the
    string (a string of 16 bytes or more), or the string's bytes of the 16 at ``p`` (a shorter one,
    when those 16 bytes are in the memory). A local: 1 when that settled it."""
    fast = e.new("i32")
    asm(e, "i32.const 0 local.set fast block local.get stop local.get i i32.eq if", fast=fast, stop=end, i=i)
    _or_inc(e, err, inc)
    asm(e, "i32.const 1 local.set fast br 1 end local.get stop local.get p i32.sub i32.const 16 i32.ge_u if "
           "local.get stop i32.const 16 i32.sub", fast=fast, stop=end, p=p)
    e.op("v128.load", MemArg(0, 0, mem))
    _ascii(e)
    e.op("if", None)
    _or_inc(e, err, inc)
    asm(e, "i32.const 1 local.set fast end br 1 end "
           "local.get p i64.extend_i32_u i64.const 16 i64.add", fast=fast, p=p)
    e.op("memory.size", mem)
    asm(e, "i64.extend_i32_u i64.const 16 i64.shl i64.le_u if local.get p", p=p)
    e.op("v128.load", MemArg(0, 0, mem))
    asm(e, "local.get stop local.get p i32.sub i8x16.splat", stop=end, p=p)
    e.op("v128.const", bytes(range(16)))
    e.op("i8x16.gt_u")
    e.op("v128.and")
    _ascii(e)
    asm(e, "local.set fast end end", fast=fast)
    return fast


def validate_utf16(e: Emitter, p: int, units: int, mem: int) -> None:
    """Trap on a lone surrogate in the ``units`` UTF-16 code units at ``p`` (a range already
    checked): 8 units at a time while none is a surrogate, then one at a time from that block on."""
    i, stop, u = e.new("i32"), e.new("i32"), e.new("i32")
    asm(e, "local.get p local.set i local.get p local.get n i32.const 1 i32.shl i32.add local.set stop "
           "block loop local.get stop local.get i i32.sub i32.const 16 i32.lt_u br_if 1 local.get i",
        p=p, n=units, i=i, stop=stop)
    e.op("v128.load", MemArg(0, 0, mem))
    e.op("v128.const", bytes([0x00, 0xF8]) * 8)
    e.op("v128.and")
    e.op("v128.const", bytes([0x00, 0xD8]) * 8)
    e.op("i16x8.eq")
    e.op("v128.any_true")
    asm(e, "br_if 1 local.get i i32.const 16 i32.add local.set i br 0 end end "
           "block loop local.get i local.get stop i32.ge_u br_if 1 "
           "local.get i i32.load16_u @0 local.set u local.get i i32.const 2 i32.add local.set i "
           "local.get u i32.const 0xF800 i32.and i32.const 0xD800 i32.eq if "
           "  local.get u i32.const 0xFC00 i32.and i32.const 0xDC00 i32.eq if unreachable end "
           "  local.get i local.get stop i32.ge_u if unreachable end "
           "  local.get i i32.load16_u @0 i32.const 0xFC00 i32.and i32.const 0xDC00 i32.ne if unreachable end "
           "  local.get i i32.const 2 i32.add local.set i end br 0 end end", mem, i=i, stop=stop, u=u)


def copy_bytes(e: Emitter, dst: int, src: int, nbytes: int, dst_mem: int, src_mem: int) -> None:
    """Copy ``nbytes`` bytes from ``src`` in ``src_mem`` to ``dst`` in ``dst_mem`` (ranges checked,
    not overlapping): ``memory.copy`` above :data:`SMALL_COPY` bytes, else inline 16-byte moves
    and, for the last bytes, two overlapping moves of 16, 8 or 4 bytes (as a C ``memcpy`` does),
    or the first, middle and last byte. The short cases are tested first (two branches for a
    name of 8 to 15 bytes)."""
    a, b, r, x, y = e.new("i32"), e.new("i32"), e.new("i32"), e.new("i64"), e.new("i64")
    v, w = e.new("v128"), e.new("v128")
    asm(e, "local.get n i32.const 16 i32.lt_u if local.get n i32.const 8 i32.ge_u if", n=nbytes)
    _two(e, (dst, src, nbytes), ("i64.load", "i64.store", 8), (dst_mem, src_mem), x, y)
    asm(e, "else local.get n i32.const 4 i32.ge_u if", n=nbytes)
    _two(e, (dst, src, nbytes), ("i32.load", "i32.store", 4), (dst_mem, src_mem), a, b)
    asm(e, "else local.get n if "
           "local.get s i32.load8_u @0 local.set a "
           "local.get s local.get n i32.const 1 i32.shr_u i32.add i32.load8_u @0 local.set b "
           "local.get s local.get n i32.add i32.const 1 i32.sub i32.load8_u @0 local.set r", src_mem,
        n=nbytes, s=src, a=a, b=b, r=r)
    asm(e, "local.get d local.get a i32.store8 @0 "
           "local.get d local.get n i32.const 1 i32.shr_u i32.add local.get b i32.store8 @0 "
           "local.get d local.get n i32.add i32.const 1 i32.sub local.get r i32.store8 @0 end end end", dst_mem,
        n=nbytes, d=dst, a=a, b=b, r=r)
    asm(e, f"else local.get n i32.const {SMALL_COPY} i32.gt_u if local.get d local.get s local.get n",
        n=nbytes, d=dst, s=src)
    e.op("memory.copy", dst_mem, src_mem)
    asm(e, "else local.get d local.set a local.get s local.set b "
           "local.get n local.set r block loop local.get r i32.const 16 i32.le_u br_if 1",
        n=nbytes, d=dst, s=src, a=a, b=b, r=r)
    asm(e, "local.get a local.get b", a=a, b=b)
    e.op("v128.load", MemArg(0, 0, src_mem))
    e.op("v128.store", MemArg(0, 0, dst_mem))
    asm(e, "local.get a i32.const 16 i32.add local.set a local.get b i32.const 16 i32.add local.set b "
           "local.get r i32.const 16 i32.sub local.set r br 0 end end", a=a, b=b, r=r)
    # the last 16 bytes (overlapping what the loop copied)
    _two(e, (dst, src, nbytes), ("v128.load", "v128.store", 16), (dst_mem, src_mem), v, w, last_only=True)
    asm(e, "end end")


def _two(e: Emitter, at: tuple[int, int, int], ops: tuple[str, str, int], mems: tuple[int, int], x: int, y: int,
         last_only: bool = False) -> None:
    """Move the first and the last ``width`` of the ``n`` bytes (``width <= n <= 2 * width``; the
    two may overlap, so both are loaded before either is stored)."""
    dst, src, n = at
    load, store, width = ops
    dst_mem, src_mem = mems
    if not last_only:
        e.get(src)
        e.op(load, MemArg(0, 0, src_mem))
        e.set(x)
    asm(e, f"local.get s local.get n i32.add i32.const {width} i32.sub", s=src, n=n)
    e.op(load, MemArg(0, 0, src_mem))
    e.set(y)
    if not last_only:
        e.get(dst)
        e.get(x)
        e.op(store, MemArg(0, 0, dst_mem))
    asm(e, f"local.get d local.get n i32.add i32.const {width} i32.sub local.get y", d=dst, n=n, y=y)
    e.op(store, MemArg(0, 0, dst_mem))
