"""String transcoding between the canonical ABI's encodings, in Wasm: utf8, utf16, latin1+utf16.

A string goes from the caller's encoding to the callee's (and results back) as the canonical ABI
prescribes: the source is decoded (trap on ill-formed UTF-8 or a lone UTF-16 surrogate), the
destination allocated with its ``cabi_realloc`` (worst case: 3 bytes per UTF-16 unit, 2 per latin1
byte, 2 per UTF-8 byte as UTF-16) and encoded. Towards latin1+utf16 a first pass decides: latin1
when every code point is below 256, else UTF-16 with the length's high bit set. The decoding loop
for UTF-16 is, in WAT::

    (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $u (i32.load16_u (local.get $i)))
      ;; a high surrogate must be followed by a low one; a lone low surrogate traps
      ... (local.set $cp ...) ... encode $cp ... (br $next))

:func:`transcode` emits this for one string and returns its new (pointer, length) locals.
"""

from __future__ import annotations

from typing import Any

from ..binary.instr import MemArg
from .abi import FuseError
from .emit import Dir, Emitter, alloc, check_range, check_utf8

__all__ = ["transcode", "asm"]

_ALIGN = {"i32.load8_u": 0, "i32.load16_u": 1, "i32.store8": 0, "i32.store16": 1, "i32.load": 2, "i32.store": 2}


def asm(e: Emitter, text: str, mem: int | None = None, **names: int) -> None:
    """Emit instructions written as text: ``"local.get x i32.const 6 i32.shr_u i32.store8 @1"``.
    A name stands for the local of that keyword; ``@N`` is a memory argument (offset N) in ``mem``."""
    toks = text.split()
    args: list[Any]
    k = 0
    while k < len(toks):
        name = toks[k]
        k += 1
        args = []
        while k < len(toks) and (toks[k][0] in "-@0123456789" or toks[k] in names):
            t = toks[k]
            k += 1
            if t.startswith("@"):
                if mem is None:
                    raise FuseError(f"asm: `{t}` needs a memory")
                args.append(MemArg(_ALIGN[name], int(t[1:]), mem))
            elif t in names:
                args.append(names[t])
            else:
                args.append(int(t, 0))
        if name in ("block", "loop", "if"):
            args = [None]
        e.op(name, *args)


def _decode_loop(e: Emitter, kind: str, p: int, nbytes: int, mem: int, body) -> None:
    """Loop over the code points of ``nbytes`` bytes at ``p`` (``kind`` utf8 (already validated),
    utf16 or latin1), calling ``body(cp)`` to emit the code for each."""
    i, end, cp, u = e.new("i32"), e.new("i32"), e.new("i32"), e.new("i32")
    asm(e, "local.get p local.set i local.get p local.get b i32.add local.set stop "
           "block loop local.get i local.get stop i32.ge_u br_if 1", mem, p=p, b=nbytes, i=i, stop=end)
    if kind == "latin1":
        asm(e, "local.get i i32.load8_u @0 local.set cp local.get i i32.const 1 i32.add local.set i",
            mem, i=i, cp=cp)
    elif kind == "utf16":
        asm(e, "local.get i i32.load16_u @0 local.set u local.get i i32.const 2 i32.add local.set i "
               "local.get u i32.const 0xFC00 i32.and i32.const 0xDC00 i32.eq if unreachable end "
               "local.get u local.set cp "
               "local.get u i32.const 0xFC00 i32.and i32.const 0xD800 i32.eq if "
               "  local.get i local.get stop i32.ge_u if unreachable end "
               "  local.get i i32.load16_u @0 local.set cp "
               "  local.get cp i32.const 0xFC00 i32.and i32.const 0xDC00 i32.ne if unreachable end "
               "  local.get u i32.const 0x3FF i32.and i32.const 10 i32.shl local.get cp i32.const 0x3FF i32.and "
               "  i32.or i32.const 0x10000 i32.add local.set cp "
               "  local.get i i32.const 2 i32.add local.set i end", mem, i=i, u=u, cp=cp, stop=end)
    else:
        # lead byte -> (mask, continuation count); well-formedness was checked before
        asm(e, "local.get i i32.load8_u @0 local.set u local.get u local.set cp "
               "local.get i i32.const 1 i32.add local.set i "
               "local.get u i32.const 0x80 i32.ge_u if "
               "  local.get u i32.const 0x1F i32.and local.set cp "
               "  local.get u i32.const 0xF0 i32.ge_u if local.get u i32.const 7 i32.and local.set cp "
               "    call_cont call_cont call_cont "
               "  else local.get u i32.const 0xE0 i32.ge_u if local.get u i32.const 15 i32.and local.set cp "
               "    call_cont call_cont else call_cont end end end"
            .replace("call_cont", "local.get cp i32.const 6 i32.shl local.get i i32.load8_u @0 i32.const 0x3F "
                                  "i32.and i32.or local.set cp local.get i i32.const 1 i32.add local.set i"),
            mem, i=i, u=u, cp=cp)
    body(cp)
    asm(e, "br 0 end end")


def _encoder(e: Emitter, enc: str, o: int, mem: int):
    """``body(cp)`` writing a code point at ``o`` (advanced) in ``enc`` (utf8, utf16, latin1)."""
    def utf8(cp: int) -> None:
        asm(e, "local.get cp i32.const 0x80 i32.lt_u if local.get o local.get cp i32.store8 @0 "
               "local.get o i32.const 1 i32.add local.set o else "
               "local.get cp i32.const 0x800 i32.lt_u if "
               "  local.get o local.get cp i32.const 6 i32.shr_u i32.const 0xC0 i32.or i32.store8 @0 "
               "  local.get o local.get cp i32.const 0x3F i32.and i32.const 0x80 i32.or i32.store8 @1 "
               "  local.get o i32.const 2 i32.add local.set o else "
               "local.get cp i32.const 0x10000 i32.lt_u if "
               "  local.get o local.get cp i32.const 12 i32.shr_u i32.const 0xE0 i32.or i32.store8 @0 "
               "  local.get o local.get cp i32.const 6 i32.shr_u i32.const 0x3F i32.and i32.const 0x80 i32.or "
               "  i32.store8 @1 "
               "  local.get o local.get cp i32.const 0x3F i32.and i32.const 0x80 i32.or i32.store8 @2 "
               "  local.get o i32.const 3 i32.add local.set o else "
               "  local.get o local.get cp i32.const 18 i32.shr_u i32.const 0xF0 i32.or i32.store8 @0 "
               "  local.get o local.get cp i32.const 12 i32.shr_u i32.const 0x3F i32.and i32.const 0x80 i32.or "
               "  i32.store8 @1 "
               "  local.get o local.get cp i32.const 6 i32.shr_u i32.const 0x3F i32.and i32.const 0x80 i32.or "
               "  i32.store8 @2 "
               "  local.get o local.get cp i32.const 0x3F i32.and i32.const 0x80 i32.or i32.store8 @3 "
               "  local.get o i32.const 4 i32.add local.set o end end end", mem, cp=cp, o=o)

    def utf16(cp: int) -> None:
        asm(e, "local.get cp i32.const 0x10000 i32.ge_u if "
               "  local.get o local.get cp i32.const 0x10000 i32.sub i32.const 10 i32.shr_u i32.const 0xD800 "
               "  i32.or i32.store16 @0 "
               "  local.get o local.get cp i32.const 0x3FF i32.and i32.const 0xDC00 i32.or i32.store16 @2 "
               "  local.get o i32.const 4 i32.add local.set o else "
               "  local.get o local.get cp i32.store16 @0 local.get o i32.const 2 i32.add local.set o end",
            mem, cp=cp, o=o)

    def latin1(cp: int) -> None:
        asm(e, "local.get o local.get cp i32.store8 @0 local.get o i32.const 1 i32.add local.set o", mem, cp=cp, o=o)
    return {"utf8": utf8, "utf16": utf16, "latin1": latin1}[enc]


def _sized(e: Emitter, count: int, factor: int) -> int:
    """A new local ``count * factor`` (trap when it does not fit in 32 bits)."""
    b = e.new("i32")
    asm(e, "local.get n i64.extend_i32_u i64.const f i64.mul i64.const 0xFFFFFFFF i64.gt_u if unreachable end "
           "local.get n i32.const f i32.mul local.set b".replace(" f ", f" {factor} "), n=count, b=b)
    return b


def _from(e: Emitter, kind: str, p: int, count: int, d: Dir, q: int, m: int) -> None:
    """Transcode ``count`` units of ``kind`` at ``p`` into ``d.dst_enc``; set ``q``, ``m``."""
    nbytes = _sized(e, count, 2 if kind == "utf16" else 1)
    check_range(e, p, nbytes, 2 if kind == "utf16" else 1, d.smem)
    if kind == "utf8":
        check_utf8(e, p, nbytes, d.smem)
    o = e.new("i32")
    if d.dst_enc != "latin1+utf16":
        worst = _sized(e, count, 3 if kind == "utf16" and d.dst_enc == "utf8" else 2)
        align = 2 if d.dst_enc == "utf16" else 1
        asm(e, "local.get a local.set q", a=alloc(e, worst, align, d), q=q)
        asm(e, "local.get q local.set o", o=o, q=q)
        _decode_loop(e, kind, p, nbytes, d.smem, _encoder(e, d.dst_enc, o, d.dmem))
        asm(e, "local.get o local.get q i32.sub" + (" i32.const 1 i32.shr_u" if align == 2 else "") + " local.set m",
            o=o, q=q, m=m)
        return
    wide, k = e.new("i32"), e.new("i32")

    def scan(cp: int) -> None:
        asm(e, "local.get w local.get cp i32.const 0xFF i32.gt_u i32.or local.set w "
               "local.get k i32.const 1 i32.add local.set k", w=wide, cp=cp, k=k)
    asm(e, "i32.const 0 local.set w i32.const 0 local.set k", w=wide, k=k)
    _decode_loop(e, kind, p, nbytes, d.smem, scan)
    asm(e, "local.get w i32.eqz if", w=wide)
    asm(e, "local.get a local.set q local.get q local.set o", a=alloc(e, k, 2, d), q=q, o=o)
    _decode_loop(e, kind, p, nbytes, d.smem, _encoder(e, "latin1", o, d.dmem))
    asm(e, "local.get k local.set m else", k=k, m=m)
    worst = _sized(e, count, 2)
    asm(e, "local.get a local.set q local.get q local.set o", a=alloc(e, worst, 2, d), q=q, o=o)
    _decode_loop(e, kind, p, nbytes, d.smem, _encoder(e, "utf16", o, d.dmem))
    asm(e, "local.get o local.get q i32.sub i32.const 1 i32.shr_u i32.const 0x80000000 i32.or local.set m end",
        o=o, q=q, m=m)


def transcode(e: Emitter, p: int, n: int, d: Dir) -> tuple[int, int]:
    """Emit the transcoding of the string (``p``, ``n``) from ``d.src_enc`` to ``d.dst_enc``; the
    locals holding the destination pointer and length."""
    q, m = e.new("i32"), e.new("i32")
    if d.src_enc != "latin1+utf16":
        _from(e, d.src_enc, p, n, d, q, m)
        return q, m
    units = e.new("i32")
    # latin1+utf16 strings are 2-aligned whichever form they take (CanonicalABI.md load_string)
    asm(e, "local.get p i32.const 1 i32.and if unreachable end "
           "local.get n i32.const 0x7FFFFFFF i32.and local.set u local.get n i32.const 31 i32.shr_u if",
        n=n, u=units, p=p)
    _from(e, "utf16", p, units, d, q, m)
    asm(e, "else")
    _from(e, "latin1", p, units, d, q, m)
    asm(e, "end")
    return q, m
