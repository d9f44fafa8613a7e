"""Steps 11-12 of a merge: remove what nothing uses (gc), then check the first input's DWARF.

With gc (the default) the merged code is not renumbered twice: gc analyses the merged module
reading each input's own bodies through a :class:`~wasmweld.passes.used.CodeView`, then each body
it keeps is rewritten once by the merge's maps followed by gc's::

    (module $a (func (export "f") (call $g)) (func $g) (func $dead))
    -> $dead is never copied; call $g is renumbered once into the merged numbering
"""

from __future__ import annotations

from ..binary.leb import read_u32
from ..binary.reader import SECTION_IDS, split_sections
from ..binary.reencode import IndexMaps, Renumberer, renumber_bytes
from ..module import FuncBody, parse
from ..passes.gc import gc, gc_plan
from ..passes.used import CodeView, body_refs as refs_of, body_table_accesses
from ..types import ExternKind
from .merge_inputs import blame_input
from .parallel import fork_map

__all__ = ["gc_two_pass", "gc_fused", "check_dwarf"]

def _gc_roots(b, dwarf: bool):
    if not dwarf:
        return None
    # the first input's code must stay where its DWARF says it is
    base = b.base[(0, ExternKind.FUNC)]
    return [("func", base + k) for k in range(b.ins[0].n_defined(ExternKind.FUNC))]


def gc_two_pass(b, out, dwarf: bool):
    return gc(out, roots=_gc_roots(b, dwarf)).module


def gc_fused(b, out, dwarf: bool, extra_bodies: dict) -> bytes:
    """Steps 6 (code) and 11 in one: ``out.code`` holds placeholders (defined function ``d`` of
    the merged module); gc analyses the merged module reading each input's own body (its
    references mapped into the merged spaces), then every body it keeps is renumbered once,
    by the merge maps followed by gc's (:class:`Renumberer` ``then``), which writes the same
    bytes as the two passes would. The other sections are renumbered by gc's maps as
    :func:`~wasmweld.passes.gc.gc` does. Returns the encoded module."""
    src: list = []                  # merged defined function -> (input, its defined index)
    for inp in b.ins:
        src.extend((inp, k) for k in range(len(inp.module.funcs)))
        _ = inp.module.code         # decoded here, before a forked child could decode its own copy

    def input_refs(d: int) -> dict:
        inp, k = src[d]
        with blame_input(inp.name):
            refs = refs_of(inp.module.code[k])
            maps, tmap = inp.maps, inp.tmap
            return {space: ({tmap[i] for i in items} if space == "type" else
                            {maps[space][i] for i in items}) if items else items
                    for space, items in refs.items()}

    # Every body is read (a malformed one is an error even when gc drops its function), by two
    # processes when the code is big; the analysis then looks the answers up.
    scanned = fork_map(input_refs, range(len(src)))

    def body_refs(d: int) -> dict:
        return scanned[d] if d < len(src) else refs_of(extra_bodies[d])

    def table_accesses(d: int) -> list:
        if d >= len(src):
            return body_table_accesses(extra_bodies[d])
        inp, k = src[d]
        with blame_input(inp.name):
            tabmap, tmap = inp.maps["table"], inp.tmap
            return [(tabmap[t], None if c is None else tmap[c])
                    for t, c in body_table_accesses(inp.module.code[k])]

    _result, gmaps = gc_plan(out, roots=_gc_roots(b, dwarf), code=CodeView(body_refs, table_accesses))
    renumberers: dict[int, Renumberer] = {}
    for inp in b.ins:
        m = inp.maps
        renumberers[inp.pos] = Renumberer(IndexMaps(
            type=inp.tmap, func=m["func"], table=m["table"], memory=m["memory"], global_=m["global"],
            tag=m["tag"], elem=m["elem"], data=m["data"]), then=gmaps)
    extra_r = Renumberer(gmaps) if gmaps is not None else None

    def renumbered(d) -> FuncBody | bytes:
        """The merged body ``d`` (a placeholder) renumbered once: its bytes."""
        if isinstance(d, FuncBody):     # made by gc itself (its shared trap function): nothing to renumber
            return d
        if d >= len(src):
            body = extra_bodies[d]
            return body if extra_r is None else extra_r.body(body.raw)
        inp, k = src[d]
        with blame_input(inp.name):
            return renumberers[inp.pos].body(inp.module.code[k].raw)

    out.code = [x if isinstance(x, FuncBody) else FuncBody(x) for x in fork_map(renumbered, out.code)]
    data = out.encode()
    return data if gmaps is None else renumber_bytes(data, gmaps, skip=(10,))


def check_dwarf(b, data: bytes) -> bytes:
    """Keep the first input's DWARF only if its code still sits at the same code-section offsets."""
    first = b.ins[0].module
    orig = _code_layout(first.data)
    new = _code_layout(data)
    ok = orig is not None and new is not None and len(new[1]) >= len(orig[1]) and \
        new[0] == orig[0] and new[1][:len(orig[1])] == orig[1]
    if ok:
        # the bodies themselves must keep their lengths (their instructions keep their offsets)
        return data
    m = parse(data)
    for cs in m.customs:
        if cs.name.startswith(".debug_"):
            m.remove_custom(cs)
    b.warn(f"dropped the DWARF of {b.ins[0].name}: its code does not keep its offsets in the "
              f"merged module (code was rewritten or removed)")
    return m.encode()


def _code_layout(data: bytes):
    """(count width, [(offset in payload, size) per body]) of a module's code section, or None."""

    for sec in split_sections(data):
        if sec.id == SECTION_IDS["code"]:
            p = sec.payload_offset
            n, q = read_u32(data, p, sec.end)
            width = q - p
            out = []
            for _ in range(n):
                size, r = read_u32(data, q, sec.end)
                out.append((q - p, r - q, size))
                q = r + size
            return width, out
    return None
