"""The fusion table of a merge, as text or JSON (``wasmweld merge --plan``).

For the bank example (``logger``, ``ledger``, ``bank``; ledger and bank import
``logger.log``, bank imports from ledger, both import ``env.now``)::

    merge plan: 3 inputs (logger, ledger, bank)

    fusions (4): each import bound to another input's export
      importer  import         kind  exporter  export  defined in
      ledger    logger.log     func  logger    log     logger
      bank      ledger.credit  func  ledger    credit  ledger
      ...

    unresolved imports (1): stay imports of the merged module
      import   kind  type        imported by
      env.now  func  [] -> [i64]  ledger, bank

    exports (9): 8 exported, 1 renamed, 0 not exported

With ``--single-memory`` the plan also shows where each memory goes in the one
memory. Nothing is written; every problem a merge would raise is listed last.
"""

from __future__ import annotations

import json

from .merge import MergePlan

__all__ = ["format_plan"]


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    out = []
    for row in [headers, *rows]:
        out.append(indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return out


def format_plan(plan: MergePlan, fmt: str = "text") -> str:
    """The plan as a table (``fmt="text"``) or a JSON document (``fmt="json"``)."""
    if fmt == "json":
        return json.dumps({
            "inputs": plan.inputs,
            "fusions": [{"importer": f.importer, "module": f.module, "name": f.name, "kind": str(f.kind),
                         "exporter": f.exporter, "export": f.export, "defined_in": f.target[0], "type": f.type}
                        for f in plan.fusions],
            "unresolved": [{"module": u.module, "name": u.name, "kind": str(u.kind), "type": u.type,
                            "importers": u.importers, "index": u.index, "missing_export": u.missing}
                           for u in plan.unresolved],
            "exports": [{"input": e.input, "name": e.name, "kind": str(e.kind), "out_name": e.out_name,
                         "note": e.reason} for e in plan.exports],
            "memory_layout": [{"memory": r.memory, "input": r.input, "input_memory": r.input_memory,
                               "owner": r.owner, "base": r.base, "pages": r.pages,
                               "initial_pages": r.initial_pages, "top": r.top} for r in plan.memory_layout],
            "problems": plan.problems,
        }, indent=2) + "\n"
    if fmt != "text":
        raise ValueError(f"unknown plan format {fmt!r}")
    lines = [f"merge plan: {len(plan.inputs)} inputs ({', '.join(plan.inputs)})", ""]
    lines.append(f"fusions ({len(plan.fusions)}): each import bound to another input's export")
    if plan.fusions:
        lines += _table(["importer", "import", "kind", "exporter", "export", "defined in"],
                        [[f.importer, f"{f.module}.{f.name}", str(f.kind), f.exporter, f.export, f.target[0]]
                         for f in plan.fusions])
    else:
        lines.append("  (none)")
    lines.append("")
    lines.append(f"unresolved imports ({len(plan.unresolved)}): stay imports of the merged module")
    if plan.unresolved:
        lines += _table(["import", "kind", "type", "imported by"],
                        [[f"{u.module}.{u.name}", str(u.kind), u.type.split(" ", 1)[-1] if u.type else "",
                          ", ".join(u.importers) + ("  (missing export, --allow-unresolved)" if u.missing else "")]
                         for u in plan.unresolved])
    else:
        lines.append("  (none)")
    lines.append("")
    kept = [e for e in plan.exports if e.out_name is not None]
    renamed = [e for e in kept if e.out_name != e.name]
    dropped = [e for e in plan.exports if e.out_name is None]
    lines.append(f"exports ({len(plan.exports)}): {len(kept)} exported, {len(renamed)} renamed, "
                 f"{len(dropped)} not exported")
    for e in renamed:
        lines.append(f"  {e.input}: {e.name!r} -> {e.out_name!r}")
    for e in dropped:
        lines.append(f"  {e.input}: {e.name!r} not exported ({e.reason})")
    if plan.memory_layout:
        lines.append("")
        lines.append(f"single memory layout ({len(plan.memory_layout)} regions): each memory at its own base")
        lines += _table(["memory", "owner", "base", "pages", "room"],
                        [[str(r.memory), r.owner + (f" memory {r.input_memory}" if r.input is not None else ""),
                          f"0x{r.base:x}", str(r.initial_pages),
                          f"{r.pages}{' (grows)' if r.top else ''}"] for r in plan.memory_layout])
    if plan.problems:
        lines.append("")
        lines.append(f"problems ({len(plan.problems)}): the merge would fail")
        lines += [f"  - {p}" for p in plan.problems]
    return "\n".join(lines) + "\n"
