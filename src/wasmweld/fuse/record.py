"""What a fused module records about its adapters, and the graph of a fuse plan.

A fused core module names each generated function in its ``name`` section (``fuse:adapterK``,
``fuse:builtinK`` for ``canon resource.new/rep/drop``, ``fuse:handles-*`` for the handle-table
helpers) and lists its adapters in the custom section ``wasmweld:fuse``: UTF-8 text, one line per
adapter, tab-separated fields::

    adapter<TAB>fuse:adapter0<TAB>root/c0<TAB>root/c1<TAB>test:fuse/api#echo-string<TAB>utf8 -> utf16<TAB>[i32 i32 i32] -> []
    kind         function name   caller   callee   callee's core export         string encodings   core signature (lowered)

The function is found by its name (the ``name`` section follows renumbering by later passes,
the custom section does not need to). ``wasmweld info`` prints the table (:func:`render`).
:func:`merge_plan_of` turns a :class:`~.plan.Plan` into a :class:`~wasmweld.link.merge.MergePlan`
(components as inputs, one fusion per adapter, remaining imports unresolved) so that
:mod:`wasmweld.link.graph` draws it (``wasmweld fuse --graph``).
"""

from __future__ import annotations

from typing import Any

from ..link.merge_model import Fusion, MergePlan, Unresolved
from ..module import Module
from ..types import ExternKind
from .plan import HostImport, Plan

__all__ = ["SECTION", "adapter_lines", "record", "adapters", "render", "merge_plan_of"]

#: the custom section listing the adapters
SECTION = "wasmweld:fuse"
#: most adapter lines read back from a (possibly hostile) section
MAX_LINES = 100_000


def adapter_lines(p: Plan, sigs: list[str]) -> list[str]:
    """One line per adapter of ``p`` (``sigs``: each adapter's lowered core signature as text)."""
    out = []
    for a, sig in zip(p.adapters, sigs):
        enc = f"{a.caller.encoding} -> {a.callee.options.encoding}"
        out.append("\t".join(("adapter", f"fuse:adapter{a.index}", p.components[a.caller.component],
                              p.components[a.callee.options.component], a.callee.core.name, enc, sig)))
    return out


def record(m: Module, lines: list[str]) -> None:
    """Write the ``wasmweld:fuse`` section of ``m`` (replacing one already there)."""
    m.remove_custom(SECTION)
    m.add_custom(SECTION, "\n".join(lines).encode() + b"\n")


def adapters(m: Module) -> list[dict[str, Any]]:
    """The adapters a fused module records: ``{"name", "func" (index or None), "caller", "callee",
    "target", "encodings", "signature"}``; ``[]`` when the module was not made by fuse."""
    cs = m.custom(SECTION)
    if cs is None:
        return []
    text = bytes(cs.data).decode("utf-8", errors="replace")
    names = m.names
    index = {n: i for i, n in names.funcs.items()} if names is not None else {}
    out = []
    for line in text.splitlines()[:MAX_LINES]:
        f = line.split("\t")
        if len(f) != 7 or f[0] != "adapter":
            continue
        out.append({"name": f[1], "func": index.get(f[1]), "caller": f[2], "callee": f[3], "target": f[4],
                    "encodings": f[5], "signature": f[6]})
    return out


def render(m: Module) -> str:
    """The adapters as text for ``wasmweld info`` ("" when there are none)."""
    found = adapters(m)
    if not found:
        return ""
    lines = [f"fuse adapters ({len(found)}):"]
    for a in found:
        func = "?" if a["func"] is None else str(a["func"])
        lines.append(f"  func {func} {a['name']}: {a['caller']} -> {a['callee']} {a['target']} "
                     f"({a['encodings']}) {a['signature']}")
    return "\n".join(lines) + "\n"


def merge_plan_of(p: Plan) -> MergePlan:
    """The plan as a MergePlan for :mod:`wasmweld.link.graph`: each component with a core module is
    an input, each adapter a fusion labelled ``func (adapterK)``, each remaining import unresolved."""
    used = sorted({i.component for i in p.instances})
    mp = MergePlan(inputs=[p.components[c] for c in used])
    for a in p.adapters:
        label = f"{a.callee.core.name} (adapter{a.index})"
        callee = p.components[a.callee.options.component]
        mp.fusions.append(Fusion(p.components[a.caller.component], "fuse:adapters", label, ExternKind.FUNC,
                                 callee, label, (callee, 0)))
    by_name: dict[tuple[str, str], Unresolved] = {}
    for inst in p.instances:
        for h in inst.imports.values():
            if isinstance(h, HostImport):
                u = by_name.setdefault((h.module, h.func.name),
                                       Unresolved(h.module, h.func.name, ExternKind.FUNC, ""))
                who = p.components[inst.component]
                if who not in u.importers:
                    u.importers.append(who)
    mp.unresolved = list(by_name.values())
    return mp
