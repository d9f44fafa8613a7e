"""Export edits: rename one, remove by glob pattern, keep only those matching.

::

    (export "main" (func 3)) (export "__heap_base" (global 1)) (export "_debug_dump" (func 9))
    rename_export(m, "main", "start_here")          -> (export "start_here" (func 3)) ...
    remove_exports(m, ["_debug_*"])                 -> "_debug_dump" gone
    keep_exports(m, ["memory", "canister_*"])       -> every other export gone

Only the export section changes (items stay where they are); the functions
stay in the module until a ``gc`` removes what nothing uses any more. Patterns
are shell globs (``*``, ``?``, ``[...]``), matched case-sensitively. A
pattern of :func:`remove_exports` that matches nothing is an error (a typo
should not pass silently); :func:`keep_exports` patterns may match nothing.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Iterable

from wasmweld.errors import EditError
from wasmweld.module import Export, Module
from wasmweld.passes.common import check_export_name
from wasmweld.passes.result import PassResult

__all__ = ["run_rename_export", "run_remove_exports", "run_keep_exports", "rename_export", "remove_exports", "keep_exports"]


def rename_export(m: Module, old: str, new: str) -> Export:
    """Rename export ``old`` to ``new``; returns the new Export."""
    for i, e in enumerate(m.exports):
        if e.name == old:
            if new != old:
                check_export_name(m, new)
            ne = Export(new, e.kind, e.index)
            if new != old:
                m.exports[i] = ne
            return ne
    raise EditError(f"unknown export {old!r}")


def _patterns(patterns) -> list[str]:
    if isinstance(patterns, str):
        patterns = [patterns]
    patterns = list(patterns)
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise EditError(f"export patterns must be non-empty strings, not {patterns!r}")
    return patterns


def remove_exports(m: Module, patterns: Iterable[str] | str) -> list[str]:
    """Remove every export matching one of ``patterns``; returns the removed names."""
    pats = _patterns(patterns)
    hit = {p: False for p in pats}
    keep: list[Export] = []
    removed: list[Export] = []
    for e in m.exports:
        matched = [p for p in pats if fnmatchcase(e.name, p)]
        for p in matched:
            hit[p] = True
        (removed if matched else keep).append(e)
    missing = [p for p, h in hit.items() if not h]
    if missing:
        raise EditError(f"no export matches {', '.join(map(repr, missing))}")
    if removed:
        m.exports = keep
    return [e.name for e in removed]


def keep_exports(m: Module, patterns: Iterable[str] | str) -> list[str]:
    """Remove every export matching none of ``patterns``; returns the removed names."""
    pats = _patterns(patterns)
    keep = [e for e in m.exports if any(fnmatchcase(e.name, p) for p in pats)]
    removed = [e.name for e in m.exports if not any(fnmatchcase(e.name, p) for p in pats)]
    if removed:
        m.exports = keep
    return removed


def run_rename_export(module: Module, *, old: str, new: str) -> PassResult:
    """Pass ``rename-export``: :func:`rename_export`."""
    export = rename_export(module, old, new)
    return PassResult(module, {"renamed": 1}, [f"renamed export {old!r} to {new!r}"], value=export)


def run_remove_exports(module: Module, *, patterns: Iterable[str] | str) -> PassResult:
    """Pass ``remove-exports``: :func:`remove_exports`."""
    gone = remove_exports(module, patterns)
    more = " ..." if len(gone) > 8 else ""
    return PassResult(module, {"removed": len(gone)},
                      [f"removed {len(gone)} export(s): {', '.join(map(repr, gone[:8]))}{more}"], value=gone)


def run_keep_exports(module: Module, *, patterns: Iterable[str] | str) -> PassResult:
    """Pass ``keep-exports``: :func:`keep_exports`."""
    gone = keep_exports(module, patterns)
    pats = [patterns] if isinstance(patterns, str) else list(patterns)
    return PassResult(module, {"removed": len(gone)},
                      [f"kept exports matching {', '.join(map(repr, pats))}; removed {len(gone)}"], value=gone)
