"""Step 9 of a merge: the custom sections of the merged module.

``name`` sections are merged and renumbered (a name two inputs use is prefixed ``input:``),
``producers`` and ``target_features`` united, other sections kept from the first input and
dropped with a warning from later ones (``.debug_*``: every input's, rebased in step 12)::

    (module $a (func $init))  (module $b (func $init))
    -> (module (func $a:init) (func $b:init))      ;; in the merged name section
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..binary.reader import SECTION_NAMES
from ..custom.name import NameSection
from ..custom.producers import Producers
from ..custom.target_features import TargetFeatures
from ..errors import DecodeError
from ..module import CustomSection
from ..types import ExternKind

if TYPE_CHECKING:
    from ..module import Module
    from .merge_build import Builder

__all__ = ["custom_sections", "wasmweld_version"]

def custom_sections(b: Builder, out: Module) -> bool:
    """Add the merged custom sections; returns True when the first input's DWARF is kept."""

    first = b.ins[0]
    dwarf = False
    # anchors of the first input's custom sections: the known section each follows
    anchor = 0
    placed: list[tuple[Any, int]] = []     # (custom section name, the id it follows)
    for sec in first.module.sections:
        if sec.id != 0:
            anchor = sec.id
            continue
        placed.append((sec.name, anchor))
    customs = first.module.customs
    for (name, anc), cs in zip(placed, customs):
        if name in ("name", "producers", "target_features") or name.startswith(".debug_"):
            continue        # .debug_*: every input's, rebased, in step 12 (wasmweld.dwarf)
        if name == "dylink.0" and len(b.ins) > 1:
            b.warn(f"kept the dylink.0 section of {first.name}: it describes only {first.name}'s memory "
                      f"and table needs, not the merged module's")
        out.add_custom(CustomSection(cs.name, cs.data), after=anc if anc in SECTION_NAMES else None)
    for inp in b.ins[1:]:
        dropped = [cs.name for cs in inp.module.customs
                   if cs.name not in ("name", "producers", "target_features") and not cs.name.startswith(".debug_")]
        if dropped:
            debug = [n for n in dropped if n.startswith(".debug_")]
            other = [n for n in dropped if not n.startswith(".debug_")]
            if debug:
                b.warn(f"dropped the DWARF of {inp.name} ({len(debug)} .debug_* sections): only the "
                          f"first input's debug info stays valid in the merged module")
            if other:
                b.warn(f"dropped custom section{'s' if len(other) > 1 else ''} "
                          f"{', '.join(map(repr, other))} of {inp.name} (kept from the first input only)")
    if b.opts.names:
        ns = _merge_names(b)
        if ns is not None:
            out.add_custom(CustomSection("name", ns.encode()))
    prod = _merge_producers(b)
    if prod is not None:
        out.add_custom(CustomSection("producers", prod.encode()))
    tf = _merge_target_features(b)
    if tf is not None:
        out.add_custom(CustomSection("target_features", tf.encode()))
    return dwarf

def _typed_custom(b, inp, attr: str, section: str):
    """``inp.module.<attr>``: the decoded ``section`` custom section, or None when absent or
    malformed (a malformed one is dropped with a warning)."""
    try:
        return getattr(inp.module, attr)
    except DecodeError as e:
        b.warn(f"the {section} section of {inp.name} is malformed and was dropped ({e})")
        return None

def _merge_names(b):

    sections = [_typed_custom(b, inp, "names", "name") for inp in b.ins]
    if all(ns is None for ns in sections) and b.opts.module_name is None:
        return None
    out = NameSection(module=b.opts.module_name)
    # per space: the out index -> [(input, name)] candidates; imports fused away are skipped
    simple = [("funcs", "func"), ("tables", "table"), ("memories", "memory"), ("globals", "global"),
              ("tags", "tag"), ("elems", "elem"), ("datas", "data")]
    for attr, space in simple:
        kind = {"func": ExternKind.FUNC, "table": ExternKind.TABLE, "memory": ExternKind.MEMORY,
                "global": ExternKind.GLOBAL, "tag": ExternKind.TAG}.get(space)
        cands: dict[int, tuple[str, str]] = {}
        for inp, ns in zip(b.ins, sections):
            if ns is None:
                continue
            m = inp.maps[space]
            nimp = inp.n_imp[kind] if kind is not None else 0
            for old, text in getattr(ns, attr).items():
                if old >= len(m):
                    continue
                if kind is not None and old < nimp:
                    t = b.res.targets[(inp.pos, kind)][old]
                    if t[0] != "host":
                        continue        # a fused import: the definition names it
                new = m[old]
                if new not in cands:
                    cands[new] = (inp.name, text)
        if attr == "funcs":
            for idx, text in b.extra_func_names.items():
                cands[idx] = ("wasmweld", text)
        counts: dict[str, int] = {}
        for _in, text in cands.values():
            counts[text] = counts.get(text, 0) + 1
        setattr(out, attr, {new: (text if counts[text] == 1 else f"{src}:{text}")
                            for new, (src, text) in sorted(cands.items())})
    for attr in ("locals", "labels"):
        merged: dict[int, Any] = {}
        for inp, ns in zip(b.ins, sections):
            if ns is None:
                continue
            m = inp.maps["func"]
            nimp = inp.n_imp[ExternKind.FUNC]
            for old, sub in getattr(ns, attr).items():
                if nimp <= old < len(m):
                    merged[m[old]] = dict(sub)
        setattr(out, attr, dict(sorted(merged.items())))
    for attr in ("types", "fields"):
        merged = {}
        for inp, ns in zip(b.ins, sections):
            if ns is None:
                continue
            for old, v in getattr(ns, attr).items():
                if old < len(inp.tmap) and inp.tmap[old] not in merged:
                    merged[inp.tmap[old]] = v if isinstance(v, str) else dict(v)
        setattr(out, attr, dict(sorted(merged.items())))
    return out

def _merge_producers(b):

    out = None
    for inp in b.ins:
        p = _typed_custom(b, inp, "producers", "producers")
        if p is None:
            continue
        if out is None:
            out = Producers()
        for fname, values in p.fields.items():
            dst = out.fields.setdefault(fname, {})
            for tool, version in values.items():
                dst.setdefault(tool, version)
    if out is not None:
        out.add("processed-by", "wasmweld", wasmweld_version())
    return out

def _merge_target_features(b):

    merged: dict[str, str] = {}
    any_tf = False
    for inp in b.ins:
        tf = _typed_custom(b, inp, "target_features", "target_features")
        if tf is None:
            continue
        any_tf = True
        for prefix, name in tf.features:
            old = merged.get(name)
            if old is None:
                merged[name] = prefix
            elif old != prefix:
                if "-" in (old, prefix):
                    b.warn(f"target feature {name!r}: {inp.name} says {prefix!r}, an earlier input "
                              f"{old!r}; the merged module uses it")
                merged[name] = "=" if "=" in (old, prefix) else "+"
    if not any_tf:
        return None
    return TargetFeatures([(p, n) for n, p in merged.items()])

def wasmweld_version() -> str:
    """wasmweld's version. The package is always loaded before its submodules, so it is read from
    ``sys.modules`` rather than imported (an import would make a wasmweld <-> link.merge cycle)."""
    return getattr(sys.modules.get("wasmweld"), "__version__", "0+unknown")
