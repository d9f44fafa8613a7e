"""The renumbering re-encoder: rewrite every index of a module in one pass over its bytes.

The pieces: :mod:`~wasmweld.binary.indexmaps` (``IndexMaps``), :mod:`~wasmweld.binary.renumpat`
(the byte patterns), :mod:`~wasmweld.binary.renumber` (``Renumberer``), :mod:`~wasmweld.binary.scan`
(``Scanner``, ``references``); this module has the whole-module functions and re-exports them all.

Merge, surgery and snapshot all move items around in the index spaces
(``type``, ``func``, ``table``, ``memory``, ``global``, ``tag``, ``elem``,
``data``) and then need every reference to follow. :class:`IndexMaps` says
where each old index goes; :class:`Renumberer` rewrites bytes accordingly::

    (module                                  maps = IndexMaps(func=[1, 0])
      (func $a (call $b))                    ->  body of $a now reads  10 00  (call 0)
      (func $b (call $a)))                       body of $b now reads  10 01  (call 1)

Only references are rewritten: code bodies (locals' ref types, block types,
every index-carrying immediate, memargs of multi-memory), constant
expressions, imports, the function section, GC types, tables, tags, globals,
exports, start, element and data segments, and the ``name`` section (whose
entries are re-keyed and re-sorted). The items themselves stay where they
are; a caller that permutes or deletes items moves them itself (see
:func:`reindex`, which does both for a permutation).

Unchanged spans are copied as slices. A rewritten index keeps its encoded
width when the new value fits (LLVM pads relocatable indices to 5 bytes;
code offsets, and so DWARF, stay valid); otherwise it is written minimally.
A space whose map is identity is not looked at; all-identity maps return the
input unchanged.

Speed: a code body is walked by one compiled regular expression, built from
the immediate kinds of :data:`~wasmweld.binary.opcodes.OPCODES` for the set of
spaces being renumbered, that matches a run of instructions carrying none of
those indices followed (optionally) by one instruction whose index it
captures. Python code runs only at captured indices (memoised per encoded
value) and at the few instructions no alternative covers (``br_table``,
``try_table`` catches, over-long opcodes...), which take the generic,
table-driven path. A map value of ``None`` marks a removed item: references
to it raise :class:`~wasmweld.errors.EditError`; its names are dropped.

Scanning: :class:`Scanner` answers the read-only question -- which indices
does this code refer to? -- with the same pattern and the same generic path,
recording instead of rewriting (:func:`references` for one-off calls)::

    Scanner({"func", "global"}).body(raw)   ->  {"func": {3, 7}, "global": {0}}
    Scanner({"type", "table"}).sites(raw)   ->  [("call_indirect", (("type", 2), ("table", 0))), ...]

One read for both: ``Scanner().body_sites(raw)`` also records where each index is, and
``Renumberer.patch(raw, sites)`` then writes what ``body(raw)`` writes without reading the code
again (merge scans every body for gc, then renumbers the ones gc keeps)::

    refs, sites = Scanner().body_sites(raw, memory=True)
    r.patch(raw, sites) == r.body(raw)

Big code sections (``link.parallel.forks_for``: 4 MB and more, a core idle) are renumbered by
two processes: a forked child rewrites the second half of the bodies, by size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..types import ExternKind
from ..errors import DecodeError, EditError
from .leb import ByteData, encode_u_width
from .reader import split_sections
from .indexmaps import SPACES, IndexMaps
from .renumber import Edits, Renumberer, join_pieces
from .scan import Scanner, references

if TYPE_CHECKING:
    from ..module import Module

__all__ = ["SPACES", "IndexMaps", "Renumberer", "renumber", "renumber_bytes", "reindex", "Scanner",
           "references"]


# --------------------------------------------------------------------------- whole modules

def renumber_bytes(data: ByteData, maps: IndexMaps, *, skip: Iterable[int] = ()) -> bytes:
    """Rewrite every index of the binary module ``data`` by ``maps``; one pass, unchanged spans copied.

    Sections whose id is in ``skip`` are copied as they are (say, a code section already renumbered).
    """
    data = bytes(data)
    r = maps if isinstance(maps, Renumberer) else Renumberer(maps)
    if not r.active:
        return data
    skip = frozenset(skip)
    edits = Edits(data, 0)
    sections = split_sections(data)
    code = next((sec for sec in sections if sec.id == 10), None)
    if code is not None and 10 not in skip:
        r.start_code(data, code.payload_offset, code.end)  # a second process starts on the code now
    try:
        for sec in sections:
            if sec.id in skip:
                continue
            try:
                out = r._section_pieces(sec.id, data, sec.payload_offset, sec.end, 0)
            except DecodeError:
                if sec.id != 0:
                    raise
                # a malformed name section does not make the module malformed; like binaryen, drop it
                # rather than keep names that would now be wrong
                edits.extend(sec.offset, sec.end, [])
                continue
            if out is None:
                continue
            size = sum(map(len, out))
            width = sec.payload_offset - sec.offset - 1
            edits.extend(sec.offset, sec.end, [bytes((sec.id,)), encode_u_width(size, width)] + out)
    finally:
        r.end_code()
    out = edits.result(len(data))
    return data if out is None else join_pieces(out)


def renumber(module: Module, maps: IndexMaps) -> Module:
    """A new Module whose every reference is renumbered by ``maps`` (the input is not changed).

    Items stay in place: see :func:`reindex` to move them as well. All-identity
    maps return ``module`` itself.
    """
    if maps.is_identity():
        return module
    from ..module import parse
    return parse(renumber_bytes(module.encode(), maps))


def reindex(module: Module, maps: IndexMaps) -> Module:
    """Move items to their new indices *and* rewrite every reference: a new Module.

    Each map must send the imported part of its space onto the first indices
    and the defined part onto the rest, one item per index (imports stay
    before definitions); a ``None`` entry deletes the item (and its name).
    Types move a whole recursion group at a time: a group's types must map
    to consecutive indices, in order. The maps are checked before anything
    is rewritten (EditError). With function 0 imported::

        reindex(m, IndexMaps(func=[0, 2, 1]))      # swap the two defined functions
        reindex(m, IndexMaps(func=[0, None, 1]))   # delete defined function 1 (it must be unused)
    """

    if maps.is_identity():
        return module
    plan: dict[str, Any] = {}
    for space in maps.active:
        if space == "type":
            plan[space] = _group_order(module.types, maps)
        elif space in ("elem", "data"):
            plan[space] = _order(len(module.elems if space == "elem" else module.datas), maps, space, 0, 0)
        else:
            n_imp = module.num_imported(ExternKind[space.upper()])
            imp_order = _order(n_imp, maps, space, 0, 0)
            n_def = len(getattr(module, _DEFINED[space]))
            plan[space] = (imp_order, _order(n_def, maps, space, n_imp, len(imp_order)))
    new = renumber(module, maps)
    for space, order in plan.items():
        if space == "type":
            new.types = [new.types[i] for i in order]
        elif space == "elem":
            new.elems = [new.elems[i] for i in order]
        elif space == "data":
            new.datas = [new.datas[i] for i in order]
            if new.datacount is not None:
                new.datacount = len(order)
        else:
            imp_order, def_order = order
            kind = ExternKind[space.upper()]
            imported = [imp for imp in new.imports if imp.kind == kind]
            moved = iter([imported[i] for i in imp_order])
            new.imports = [x for x in (next(moved, None) if imp.kind == kind else imp for imp in new.imports)
                           if x is not None]
            attr = _DEFINED[space]
            setattr(new, attr, [getattr(new, attr)[i] for i in def_order])
            if space == "func":
                new.code = [new.code[i] for i in def_order]
    return new


_DEFINED = {"func": "funcs", "table": "tables", "memory": "memories", "global": "globals", "tag": "tags"}


def _order(n: int, maps: IndexMaps, space: str, offset: int, first: int) -> list[int]:
    """Positions ``0..n-1`` (indices ``offset + i``) in their new order, removed ones left out;
    their new indices must be ``first, first + 1, ...``."""
    keyed = []
    for i in range(n):
        new = maps.target(space, offset + i)
        if new is not None:
            keyed.append((new, i))
    keyed.sort()
    for want, (new, i) in enumerate(keyed, first):
        if new != want:
            raise EditError(f"the {space} map is not a permutation of its range: {space} {offset + i} goes to "
                            f"{new}, expected {want} (imports must stay before definitions)")
    return [i for _, i in keyed]


def _group_order(groups: list, maps: IndexMaps) -> list[int]:
    """Recursion groups in their new order (removed ones left out); a group moves as a whole."""
    keyed = []
    start = 0
    for gi, rg in enumerate(groups):
        targets = [maps.target("type", start + j) for j in range(len(rg.types))]
        kept = [t for t in targets if t is not None]
        if kept:
            if len(kept) != len(targets) or any(t != kept[0] + j for j, t in enumerate(kept)):
                raise EditError(f"the type map splits the recursion group at type {start}: {targets}")
            keyed.append((kept[0], gi, start))
        start += len(rg.types)
    keyed.sort()
    want = 0
    for new, gi, old in keyed:
        if new != want:
            raise EditError(f"the type map is not a permutation: type {old} goes to {new}, expected {want}")
        want += len(groups[gi].types)
    return [gi for _, gi, _ in keyed]

