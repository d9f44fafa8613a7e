"""Steps 3-4 of a merge and the export policy: bind imports to exports, type-check every fusion.

::

    (module $ledger (import "logger" "log" (func $log (param i32 i64))) ...)
    (module $bank   (import "logger" "log" (func (param i32 i64))) (import "env" "now" (func (result i64))))

Both ``logger.log`` imports are bound to logger's definition (chains of re-exports are followed to
the item that defines it); ``env.now`` is no input's: it stays one import of the merged module.
Missing exports, kind and type mismatches and import cycles are collected as problems, all of
them, for one :class:`~wasmweld.errors.LinkError`.
"""

from __future__ import annotations

from ..record import field, record
from typing import Any

from ..errors import LinkError
from ..types import ExternKind
from .merge_inputs import MergeInput, out_desc
from .merge_model import KINDS, ExportEntry, Fusion, MergeOptions, Unresolved
from .typecheck import TypeSpace, describe

__all__ = ["Resolution", "resolve", "export_policy"]

# --------------------------------------------------------------------------------------------- step 3/4: resolve, typecheck

@record
class Resolution:
    """Where every import of every input goes, the host imports that stay, the fusions and problems."""

    #: (input pos, kind) -> per import: ("def", input pos, defined index) | ("host", host index)
    targets: dict[tuple[int, ExternKind], list[tuple[Any, ...]]] = field(default_factory=dict)
    hosts: list[Unresolved] = field(default_factory=list)
    host_keys: list[tuple[Any, ...]] = field(default_factory=list)
    host_first: list[tuple[int, Any]] = field(default_factory=list)   # (input pos, Import) first importer
    fusions: list[Fusion] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def resolve(ins: list[MergeInput], space: TypeSpace, opts: MergeOptions) -> Resolution:
    """Steps 3-4: every import bound to an export of another input or left to the host."""
    by_name = {inp.name: inp for inp in ins}
    res = Resolution()
    host_index: dict[tuple, int] = {}
    host_count = {k: 0 for k in KINDS}
    edges = []            # (importer, kind, j, imp, exporter, export) for the type check

    def host(inp: MergeInput, kind: ExternKind, imp, missing: bool) -> tuple:
        key = (imp.module, imp.name, kind, out_desc(inp, kind, imp.desc, space))
        h = host_index.get(key)
        if h is None:
            h = host_index[key] = len(res.hosts)
            res.hosts.append(Unresolved(imp.module, imp.name, kind,
                                        describe(kind, imp.desc, inp.type_list()),
                                        [], host_count[kind], missing))
            host_count[kind] += 1
            res.host_keys.append(key)
            res.host_first.append((inp.pos, imp))
        if inp.name not in res.hosts[h].importers:
            res.hosts[h].importers.append(inp.name)
        return ("host", h)

    memo: dict[tuple[int, ExternKind, int], tuple] = {}
    for inp in ins:
        for kind in KINDS:
            out = []
            for j, imp in enumerate(inp.imports[kind]):
                key0 = (inp.pos, kind, j)
                if key0 in memo:
                    out.append(memo[key0])
                    continue
                chain: list[Any] = []
                cur_inp, cur_j, cur_imp = inp, j, imp
                result = None
                while True:
                    key = (cur_inp.pos, kind, cur_j)
                    if key in memo:
                        result = memo[key]
                        break
                    if key in chain:
                        names = " -> ".join(f"{ins[p].name}: import {ins[p].imports[k][jj].module}."
                                            f"{ins[p].imports[k][jj].name}" for p, k, jj in chain)
                        res.problems.append(f"import cycle with no definition: {names} -> back to the start")
                        result = ("error",)
                        break
                    chain.append(key)
                    target = by_name.get(cur_imp.module)
                    if target is None:
                        result = host(cur_inp, kind, cur_imp, False)
                        break
                    exp = target.exports.get(cur_imp.name)
                    imp_text = describe(kind, cur_imp.desc, cur_inp.type_list())
                    if exp is None or exp.kind != kind:
                        if exp is None and opts.allow_unresolved:
                            result = host(cur_inp, kind, cur_imp, True)
                            break
                        if exp is None:
                            res.problems.append(_missing_message(cur_inp, cur_imp, kind, imp_text, target))
                        else:
                            got = describe(exp.kind, target.item_desc(exp.kind, exp.index), target.type_list())
                            res.problems.append(
                                f"kind mismatch: {cur_inp.name} imports {cur_imp.module}.{cur_imp.name} as "
                                f"{imp_text}, but {target.name} exports {cur_imp.name!r} as {got}")
                        result = ("error",)
                        break
                    edges.append((cur_inp, kind, cur_j, cur_imp, target, exp))
                    nimp = target.n_imp[kind]
                    if exp.index < nimp:
                        cur_inp, cur_j, cur_imp = target, exp.index, target.imports[kind][exp.index]
                        continue
                    result = ("def", target.pos, exp.index - nimp)
                    break
                for key in chain:
                    memo[key] = result
                out.append(result)
            res.targets[(inp.pos, kind)] = out

    _check_fusions(ins, space, res, edges, memo)
    return res


def _check_fusions(ins: list[MergeInput], space: TypeSpace, res: Resolution, edges: list, memo: dict) -> None:
    """Step 4: record and type-check every fusion edge (each link of a chain on its own)."""
    seen_edges = set()
    for imp_inp, kind, j, imp, target, exp in edges:
        ek = (imp_inp.pos, kind, j)
        if ek in seen_edges:
            continue
        seen_edges.add(ek)
        final = memo.get(ek)
        tgt_name = ins[final[1]].name if final and final[0] == "def" else target.name
        tgt_idx = final[2] if final and final[0] == "def" else -1
        exp_desc = target.item_desc(kind, exp.index)
        imp_text = describe(kind, imp.desc, imp_inp.type_list())
        res.fusions.append(Fusion(imp_inp.name, imp.module, imp.name, kind, target.name, exp.name,
                                  (tgt_name, tgt_idx), imp_text))
        try:
            a = out_desc(imp_inp, kind, imp.desc, space)
            b = out_desc(target, kind, exp_desc, space)
            why = space.check(kind, a, b)
        except (IndexError, LinkError) as e:
            why = f"type out of range ({e})"
        if why:
            got = describe(kind, exp_desc, target.type_list())
            res.problems.append(
                f"type mismatch: {imp_inp.name} imports {imp.module}.{imp.name} as {imp_text}, "
                f"but {target.name} exports {exp.name!r} as {got} ({why})")


def _missing_message(inp: MergeInput, imp, kind: ExternKind, imp_text: str, target: MergeInput) -> str:
    same_kind = [e for e in target.module.exports if e.kind == kind]
    hint = ""
    if same_kind:
        shown = ", ".join(f"{e.name!r} ({describe(kind, target.item_desc(kind, e.index), target.type_list())})"
                          for e in same_kind[:4])
        more = f" and {len(same_kind) - 4} more" if len(same_kind) > 4 else ""
        hint = f"; its {kind} exports are {shown}{more}"
    else:
        hint = f"; it exports no {kind} at all"
    return (f"missing export: {inp.name} imports {imp.module}.{imp.name} ({imp_text}), "
            f"but {target.name} has no export named {imp.name!r}{hint} (use --allow-unresolved to keep it an import)")


# --------------------------------------------------------------------------------------------- exports policy

def export_policy(ins: list[MergeInput], opts: MergeOptions, res: Resolution, problems: list[str]) -> list[ExportEntry]:
    """Which export of which input gets which name in the merged module (see ``export_conflicts``).

    Two inputs exporting the same name for the *same* item (say bank re-exports the
    ``balance`` it imports from ledger) is no conflict: the item is exported once.
    """
    names = {inp.name for inp in ins}
    if opts.export_from is not None:
        unknown = [n for n in opts.export_from if n not in names]
        if unknown:
            problems.append(f"export_from names {', '.join(map(repr, unknown))}, which "
                            f"{'is not an input' if len(unknown) == 1 else 'are not inputs'} "
                            f"(inputs: {', '.join(inp.name for inp in ins)})")
    keep = set(opts.export_from) if opts.export_from is not None else names

    def ident(inp: MergeInput, e) -> tuple:
        nimp = inp.n_imp.get(e.kind, 0)
        if e.index < nimp:
            target = res.targets.get((inp.pos, e.kind), [])
            t = target[e.index] if e.index < len(target) else ("error",)
            if t[0] != "error":
                return (e.kind, *t)
            return ("unique", inp.pos, e.name)
        return (e.kind, "def", inp.pos, e.index - nimp)

    taken: dict[str, tuple[MergeInput, Any]] = {}
    out: list[ExportEntry] = []
    for inp in ins:
        for e in inp.module.exports:
            if inp.name not in keep:
                out.append(ExportEntry(inp.name, e.name, e.kind, None, "not in export_from"))
                continue
            if e.name not in taken:
                taken[e.name] = (inp, e)
                out.append(ExportEntry(inp.name, e.name, e.kind, e.name))
                continue
            first_inp, first = taken[e.name]
            if ident(first_inp, first) == ident(inp, e):
                out.append(ExportEntry(inp.name, e.name, e.kind, None,
                                       f"the same {e.kind} as {first_inp.name}'s export {e.name!r}"))
                continue
            if opts.export_conflicts == "skip":
                out.append(ExportEntry(inp.name, e.name, e.kind, None, f"conflicts with {first_inp.name}'s"))
                continue
            if opts.export_conflicts == "rename":
                new = f"{inp.name}:{e.name}"
                k = 2
                while new in taken:
                    new = f"{inp.name}:{e.name}#{k}"
                    k += 1
                taken[new] = (inp, e)
                out.append(ExportEntry(inp.name, e.name, e.kind, new, f"renamed: {first_inp.name} exports {e.name!r} too"))
                continue
            a = describe(first.kind, first_inp.item_desc(first.kind, first.index), first_inp.type_list())
            b = describe(e.kind, inp.item_desc(e.kind, e.index), inp.type_list())
            problems.append(f"export conflict: {first_inp.name} exports {e.name!r} ({a}) and {inp.name} "
                            f"exports {e.name!r} ({b}); use --rename-export-conflicts (later ones become "
                            f"'{inp.name}:{e.name}'), --skip-export-conflicts or --export-from")
            out.append(ExportEntry(inp.name, e.name, e.kind, None, "conflict"))
    return out
