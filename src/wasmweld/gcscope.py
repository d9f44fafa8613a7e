"""Python's cyclic garbage collector around work that makes millions of objects but no cycles.

A full decode (``parse(data, lazy=False)``) of a large module makes a list per function body holding
millions of shared :class:`~wasmweld.binary.instr.Instr` references, a few objects per body, and no
reference cycles::

    (module (func (result i32) i32.const 1 i32.const 2 i32.add))
    ;; decoded: one FuncBody, its locals, and the list [i32.const 1, i32.const 2, i32.add, end]

Left to itself, the collector would walk every such list while the decode runs and again at its first
young collection afterwards (0.07 s for rs-swc's 7.5 million instructions, 0.14 s for em-ffmpeg's 11.6
million). :class:`DecodingGC` pauses it meanwhile and, when it can do so without changing the caller's
collector state, leaves what was made in the oldest generation.
"""

from __future__ import annotations

import gc
from typing import Any

__all__ = ["DecodingGC"]


class DecodingGC:
    """A context manager: the cyclic collector paused meanwhile and re-enabled as it was found; what was
    made meanwhile ends in the oldest generation when the block succeeds.

    When the collector was enabled and nothing is frozen (``gc.get_freeze_count() == 0``), the young
    generations are collected first (``gc.collect(1)``: the caller's young objects, a collection the next
    allocations would have made anyway, so their cycles are freed now, not promoted) and, once the block
    has succeeded, what it made goes straight to the oldest generation (``gc.freeze()`` then
    ``gc.unfreeze()``: list moves, nothing walked; the permanent generation ends empty, as found). Those
    objects are then walked only by full collections; a cycle among them would be freed by the next one,
    not leaked. After a failure, or with the collector disabled or objects frozen by the caller, only the
    pause applies (no collection runs, nothing moves)::

        with DecodingGC():
            bodies = [decode_body(raw) for raw in raws]
        # gc.isenabled() and gc.get_freeze_count() as before; the bodies' lists in generation 2
    """

    __slots__ = ("enabled", "promote")

    def __init__(self) -> None:
        self.enabled = self.promote = False

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        self.promote = self.enabled and hasattr(gc, "freeze") and gc.get_freeze_count() == 0
        if self.enabled:
            gc.disable()
            if self.promote:
                gc.collect(1)

    def __exit__(self, kind: type | None, *_: Any) -> None:
        if self.promote and kind is None and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if self.enabled:
            gc.enable()
