"""DWARF for WebAssembly: kept true through merge, surgery and snapshot; addresses to source lines.

DWARF sits in custom sections named ``.debug_*``; its code addresses count from the start of
the code section's payload. When code moves (another input's code before it, a removed or
replaced function, a new import renumbering calls), every address is rewritten::

    (module $bank (func $transfer ...))       ;; .debug_line: transfer at 0x27
    merged after (module $ledger ...)         ;; transfer now at 0x1c4: its rows, ranges, low_pc follow

* :mod:`.addrmap` -- old code address -> new one (per input; removed code -> tombstone)
* :mod:`.info`, :mod:`.line`, :mod:`.lists` -- the readers/patchers of the sections
* :mod:`.rewrite` -- one input's sections for their place in the output
* :mod:`.merge` -- the merge step (:func:`merge_debug_info`) and :func:`combine`
* :mod:`.lookup` -- ``addr2line``: address -> function, file:line:column frames
"""

from __future__ import annotations

from .addrmap import REMOVED, AddressMap, code_bodies
from .merge import combine, debug_sections, merge_debug_info

__all__ = ["AddressMap", "REMOVED", "code_bodies", "combine", "debug_sections", "merge_debug_info"]
