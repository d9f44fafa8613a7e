"""Per-component resource handle tables in Wasm, and ``canon resource.new|rep|drop``.

The adapter module owns one memory of handle tables: component ``c`` has the 64 KiB at
``c * 65536``; entry ``i`` (1 <= i < 2048) at ``c * 65536 + 16 * i``: ``rep``, resource number + 1
(0: free), flags (1 own, 2 borrow), lends. Entry 0 holds the free-list head, the next unused
index and the number of borrow handles the component holds (a call must give back those it got).
A handle is ``i | TAG`` (bit 30), so that a handle of a resource the fused world imports (an index
in the host's table, handed through unchanged: below ``TAG``) is told apart at run time. The upper
32 KiB of a component's region count the borrows of host handles lent to it (4 bytes per host
handle, ``HOSTMARK + 4 * h``): its ``resource.drop`` of such a borrow only gives it back.
Three helpers (``h_entry`` traps on an invalid handle, ``h_add``, ``h_free``) serve the adapters
and the built-ins; ``resource.drop`` of an own handle calls the resource's destructor::

    (func $resource.drop (param $h i32)
      (local.set $a (call $h_entry (i32.const 1) (local.get $h)))
      ;; wrong resource type, or an own handle still lent out -> unreachable
      (call $h_free (i32.const 1) (local.get $h))
      (call $dtor (local.get $rep)))
"""

from __future__ import annotations

from .emit import Emitter
from .transcode import asm

__all__ = ["CAPACITY", "REGION", "TAG", "HOSTMARK", "HOST_CAPACITY", "helpers", "builtin", "borrow_count",
           "host_drop", "host_lend"]

#: handles per component (index 0 is never a handle)
CAPACITY = 2048
#: bytes of handle table and host-borrow counts per component
REGION = 65536
#: the bit that marks a handle of the fused world's own tables
TAG = 1 << 30
#: where a component's host-borrow counts start in its region, and how many host handles they cover
HOSTMARK = 16 * CAPACITY
HOST_CAPACITY = (REGION - HOSTMARK) // 4


def helpers(tmem: int) -> list[tuple[list[str], list[str], Emitter]]:
    """``h_entry(comp, h) -> addr``, ``h_add(comp, rep, type, flags) -> h``, ``h_free(comp, h)``."""
    entry = Emitter(["i32", "i32"])
    a = entry.new("i32")
    asm(entry, f"local.get 1 i32.const {TAG} i32.and i32.eqz if unreachable end "
               f"local.get 1 i32.const {TAG} i32.xor local.set 1 "
               f"local.get 1 i32.eqz local.get 1 i32.const {CAPACITY} i32.ge_u i32.or if unreachable end "
               f"local.get 0 i32.const {REGION} i32.mul local.get 1 i32.const 4 i32.shl i32.add local.tee a "
               "i32.load @4 i32.eqz if unreachable end local.get a", tmem, a=a)
    add = Emitter(["i32", "i32", "i32", "i32"])
    base, h, at = add.new("i32"), add.new("i32"), add.new("i32")
    asm(add, f"local.get 0 i32.const {REGION} i32.mul local.set base "
             "local.get base i32.load @0 local.tee h if "
             "  local.get base local.get base local.get h i32.const 4 i32.shl i32.add i32.load @0 i32.store @0 "
             "else "
             "  local.get base i32.load @4 local.tee h i32.eqz if i32.const 1 local.set h end "
             f"  local.get h i32.const {CAPACITY} i32.ge_u if unreachable end "
             "  local.get base local.get h i32.const 1 i32.add i32.store @4 end "
             "local.get base local.get h i32.const 4 i32.shl i32.add local.set at "
             "local.get at local.get 1 i32.store @0 local.get at local.get 2 i32.store @4 "
             "local.get at local.get 3 i32.store @8 local.get at i32.const 0 i32.store @12 "
             "local.get 3 i32.const 2 i32.eq if local.get base local.get base i32.load @8 i32.const 1 i32.add "
             f"i32.store @8 end local.get h i32.const {TAG} i32.or",
        tmem, base=base, h=h, at=at)
    free = Emitter(["i32", "i32"])
    base2, at2 = free.new("i32"), free.new("i32")
    asm(free, f"local.get 1 i32.const {TAG - 1} i32.and local.set 1 local.get 0 i32.const {REGION} i32.mul local.set base "
              "local.get base local.get 1 i32.const 4 i32.shl i32.add local.set at "
              "local.get at i32.const 0 i32.store @4 local.get at local.get base i32.load @0 i32.store @0 "
              "local.get base local.get 1 i32.store @0", tmem, base=base2, at=at2)
    return [(["i32", "i32"], ["i32"], entry), (["i32"] * 4, ["i32"], add), (["i32", "i32"], [], free)]


def builtin(op: str, comp: int, resource: int, dtor: int | None, tmem: int, fns: tuple[int, int, int]) -> tuple[list[str], list[str], Emitter]:
    """``(params, results, Emitter)`` of ``canon resource.new|rep|drop`` of ``resource`` in ``comp``."""
    h_entry, h_add, h_free = fns
    e = Emitter(["i32"])
    ty = resource + 1
    if op == "resource.new":
        asm(e, f"i32.const {comp} local.get 0 i32.const {ty} i32.const 1 call {h_add}")
        return ["i32"], ["i32"], e
    a, rep = e.new("i32"), e.new("i32")
    asm(e, f"i32.const {comp} local.get 0 call {h_entry} local.tee a i32.load @4 i32.const {ty} i32.ne "
           "if unreachable end local.get a i32.load @0 local.set rep", tmem, a=a, rep=rep)
    if op == "resource.rep":
        asm(e, "local.get rep", rep=rep)
        return ["i32"], ["i32"], e
    asm(e, "local.get a i32.load @8 i32.const 1 i32.and if "
           "  local.get a i32.load @12 if unreachable end", tmem, a=a)
    asm(e, f"  i32.const {comp} local.get 0 call {h_free}")
    if dtor is not None:
        asm(e, f"  local.get rep call {dtor}", rep=rep)
    asm(e, f"else i32.const {comp} local.get 0 call {h_free} "
           f"i32.const {comp * REGION} i32.const {comp * REGION} i32.load @8 i32.const 1 i32.sub i32.store @8 end",
        tmem)
    return ["i32"], [], e



def borrow_count(e: Emitter, comp: int, tmem: int) -> None:
    """Push the number of borrow handles component ``comp`` holds."""
    asm(e, f"i32.const {comp * REGION} i32.load @8", tmem)


def host_lend(e: Emitter, comp: int, h: int, tmem: int) -> None:
    """Count a borrow of host handle ``h`` (a local) lent to component ``comp`` for a call."""
    asm(e, f"local.get h i32.const {HOST_CAPACITY} i32.ge_u if unreachable end "
           f"local.get h i32.const 2 i32.shl local.get h i32.const 2 i32.shl i32.load @{comp * REGION + HOSTMARK} "
           f"i32.const 1 i32.add i32.store @{comp * REGION + HOSTMARK} "
           f"i32.const {comp * REGION} i32.const {comp * REGION} i32.load @8 i32.const 1 i32.add i32.store @8",
        tmem, h=h)


def host_drop(comp: int, drop: int, tmem: int) -> tuple[list[str], list[str], Emitter]:
    """``(params, results, Emitter)`` of component ``comp``'s ``resource.drop`` of a resource the
    fused world imports: a borrow lent to ``comp`` is given back; an own handle goes to the host's
    ``drop`` (function index); one of the fused world's own handles traps."""
    e = Emitter(["i32"])
    asm(e, f"local.get 0 i32.const {TAG} i32.and if unreachable end "
           f"local.get 0 i32.const {HOST_CAPACITY} i32.lt_u if "
           f"  local.get 0 i32.const 2 i32.shl i32.load @{comp * REGION + HOSTMARK} if "
           f"    local.get 0 i32.const 2 i32.shl local.get 0 i32.const 2 i32.shl i32.load @{comp * REGION + HOSTMARK} "
           f"    i32.const 1 i32.sub i32.store @{comp * REGION + HOSTMARK} "
           f"    i32.const {comp * REGION} i32.const {comp * REGION} i32.load @8 i32.const 1 i32.sub i32.store @8 "
           f"    return end end local.get 0 call {drop}", tmem)
    return ["i32"], [], e
