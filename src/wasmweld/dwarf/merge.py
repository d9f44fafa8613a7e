"""Step 12 of a merge: every input's DWARF, rebased onto the merged code.

Each input's ``.debug_*`` sections are rewritten (:class:`~.rewrite.InputDwarf`) for where its
bodies went: the merge's function map, then gc's; the output's sections are their concatenation::

    bank.wasm  (.debug_info: 1 CU, low_pc 0x27 ...)  +  ledger.wasm (1 CU, low_pc 0x2 ...)
    -> merged .debug_info: bank's CU (addresses + 0x0), ledger's CU (addresses + bank's code size ...)

An input whose DWARF cannot be rewritten faithfully (64-bit DWARF, a section this package does not
know) loses it, with a warning: nothing is kept stale.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..binary.leb import write_u
from ..errors import DecodeError
from ..module import parse
from ..types import ExternKind
from .addrmap import AddressMap
from .rewrite import SECTIONS, InputDwarf
from ..module import Module

__all__ = ["combine", "debug_sections", "merge_debug_info", "custom_section_bytes", "apply_index_map"]


def debug_sections(module: Module) -> dict[str, bytes]:
    """name -> payload of a module's ``.debug_*`` custom sections."""
    return {cs.name: bytes(cs.data) for cs in module.customs if cs.name.startswith(".debug_")}


def combine(inputs: Iterable[tuple[Any, ...]], warn: Callable[[str], None]) -> list[tuple[str, bytes]]:
    """The output's ``.debug_*`` sections from each input's (name, sections, address map[, the
    distance its memory 0 moved])."""
    parts: dict[str, list[bytes]] = {s: [] for s in SECTIONS}
    sizes = dict.fromkeys(SECTIONS, 0)
    for name, secs, amap, *shift in inputs:
        try:
            out = InputDwarf(name, secs, amap, shift[0] if shift else 0).rewrite(dict(sizes))
        except DecodeError as e:
            warn(f"dropped the DWARF of {name}: {e.message if hasattr(e, 'message') else e}")
            continue
        for s, b in out.items():
            parts[s].append(b)
            sizes[s] += len(b)
    return [(s, b"".join(parts[s])) for s in SECTIONS if sizes[s]]


def custom_section_bytes(name: str, payload: bytes) -> bytes:
    """A whole custom section: id 0, size, name, payload."""
    content = write_u(len(name.encode())) + name.encode() + payload
    return bytes((0,)) + write_u(len(content)) + content


def apply_index_map(m: Any, i: int) -> int | None:
    """``i`` through a normalised index map (None: identity; list, dict or callable)."""
    if m is None:
        return i
    if isinstance(m, (list, tuple)):
        return m[i] if 0 <= i < len(m) else None
    if isinstance(m, dict):
        return m.get(i)
    return m(i)


def merge_debug_info(b: Any, data: bytes) -> bytes:
    """The merged module ``data`` with every input's DWARF rebased (``b``: the merge's Builder, with
    ``ins`` and, when gc ran, ``gc_maps``)."""
    gc_func = getattr(b, "gc_maps", None)
    gc_func = None if gc_func is None else gc_func["func"]
    wanted = [(inp, debug_sections(inp.module)) for inp in b.ins]
    wanted = [(inp, secs) for inp, secs in wanted if secs]
    if not wanted:
        return data
    out_mod = parse(data)
    # single-memory: where each input's memory 0 now starts
    shifts = {r.input: r.base for r in (getattr(b.mp, "memory_layout", None) or ())
              if b.opts.single_memory and r.input is not None and r.input_memory == 0}
    n_imp = sum(1 for imp in out_mod.imports if imp.kind == ExternKind.FUNC)

    def inputs():
        for inp, secs in wanted:
            mems = inp.maps.get("memory") or []
            if not b.opts.single_memory and mems and mems[0] != 0:
                b.warn(f"the DWARF of {inp.name} places its variables in its memory, which is memory {mems[0]} "
                       f"of the merged module; debuggers read DWARF addresses in memory 0 (its code lines are "
                       f"right; --single-memory moves its variable addresses too)")
            first = inp.n_imp[ExternKind.FUNC]
            targets = []
            for d in range(len(inp.module.funcs)):
                j = apply_index_map(gc_func, inp.maps["func"][first + d])
                targets.append(None if j is None or j < n_imp else j - n_imp)
            try:
                amap = AddressMap(inp.module.data, data, targets)
            except DecodeError as e:
                b.warn(f"dropped the DWARF of {inp.name}: {e}")
                continue
            yield inp.name, secs, amap, shifts.get(inp.name, 0)

    sections = combine(inputs(), b.warn)
    return data + b"".join(custom_section_bytes(n, p) for n, p in sections)
