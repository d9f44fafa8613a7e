"""Step 11 of a merge: remove what nothing uses (gc); step 12 (DWARF) is :mod:`wasmweld.dwarf.merge`.

With gc (the default) the merged code is not renumbered twice, nor read twice: one scan of each
input's own bodies (:meth:`~wasmweld.binary.scan.Scanner.body_sites`, by two processes for big
inputs) tells gc's analysis what each refers to (through a :class:`~wasmweld.passes.used.CodeView`)
and records where its indices are; each body gc keeps is then patched there once, by the merge's
maps followed by gc's (:meth:`~wasmweld.binary.renumber.Renumberer.patch`)::

    (module $a (func (export "f") (call $g)) (func $g) (func $dead))
    -> $dead is never copied; call $g is renumbered once into the merged numbering
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..binary.leb import write_u
from ..binary.reader import split_sections
from ..binary.reencode import IndexMaps, Renumberer, Scanner, renumber, renumber_bytes
from ..binary.scan import table_accesses
from ..module import FuncBody, Module
from ..passes.gc import gc_plan
from ..passes.used import CodeView, body_refs as refs_of, body_table_accesses
from ..types import ExternKind
from .merge_inputs import blame_input
from .parallel import TwoPhaseMap, note

if TYPE_CHECKING:
    from .merge_build import Builder

__all__ = ["gc_two_pass", "gc_fused", "start_scan", "FusedScan"]

def _gc_roots(b, dwarf: bool):
    if not dwarf:
        return None
    # the first input's code must stay where its DWARF says it is
    base = b.base[(0, ExternKind.FUNC)]
    return [("func", base + k) for k in range(b.ins[0].n_defined(ExternKind.FUNC))]


def gc_two_pass(b: Builder, out: Module, dwarf: bool) -> Module:
    """Step 11 as a second pass: collect the merged module ``out`` and renumber what is kept."""
    result, b.gc_maps = gc_plan(out, roots=_gc_roots(b, dwarf))     # gc_maps: for the DWARF step
    return result.module if b.gc_maps is None else renumber(result.module, b.gc_maps)


class FusedScan:
    """The scan of every input body for :func:`gc_fused`, started by :func:`start_scan` as soon as
    the merge's maps are known: with a second process, the child scans while the parent copies the
    other sections (the parent keeps a little less than half of the bodies for that)."""

    def __init__(self, b: Builder, extra_bodies: dict[int, Any]):
        self.src: list = []             # merged defined function -> (input, its defined index)
        # an input whose memories move has its memargs' sites recorded too (most of its sites)
        memory_sites = {inp.pos: "memory" in IndexMaps(memory=inp.maps["memory"]).active for inp in b.ins}
        src = self.src
        for inp in b.ins:
            src.extend((inp, k) for k in range(len(inp.module.funcs)))
            _ = inp.module.code         # decoded here, before a forked child could decode its own copy
        scanner = Scanner()

        def input_refs(d: int) -> tuple:
            """What body ``d`` refers to (in the merged spaces), and where its indices are."""
            inp, k = src[d]
            with blame_input(inp.name):
                body = inp.module.code[k]
                refs, sites = scanner.body_sites(body.raw, 0 if body.modified else (body.offset or 0),
                                                 memory=memory_sites[inp.pos])
                maps, tmap = inp.maps, inp.tmap
                # the table accesses (for the analysis' call_indirect targets) read off the sites too
                tables = table_accesses(body.raw, sites) if refs["table"] else []
                tabmap = maps["table"]
                return ({space: set(map((tmap if space == "type" else maps[space]).__getitem__, items))
                         if items else items for space, items in refs.items()}, sites,
                        [(tabmap[t], None if c is None else tmap[c]) for t, c in tables])

        def scan_cost(d: int) -> int:
            inp, k = src[d]
            return len(inp.module.code[k].raw) * (3 if memory_sites[inp.pos] else 2)

        # Every body is read once (a malformed one is an error even when gc drops its function), by
        # two processes when the code is big; the analysis then looks the answers up, and the
        # renumbering patches the sites found instead of reading the code again. A forked child
        # keeps the sites of its bodies and patches those itself (only the refs travel to the parent).
        # The child streams the refs of its bodies, so gc's analysis starts when this process is done
        # with its own share (smaller for that) and takes any body it needs that has not arrived.
        self.job = TwoPhaseMap(len(src), input_refs, _patcher(b, src, memory_sites, extra_bodies),
                               send=lambda r: (r[0], None, r[2]), weight=scan_cost, share=SHARE, stream=64)

    def close(self) -> None:
        """Stop the child, if any (a merge that fails before :func:`gc_fused`)."""
        self.job.close(kill=True)


def start_scan(b: Builder, extra_bodies: dict[int, Any]) -> FusedScan:
    """Step 6's scan of the code, its second process started now (see :class:`FusedScan`)."""
    scan = FusedScan(b, extra_bodies)
    if scan.job.forks:
        note("merge: scan starts (child)")
        scan.job.start()
    return scan


def gc_fused(b: Builder, out: Module, dwarf: bool, extra_bodies: dict[int, Any], scan: FusedScan) -> bytes:
    """Steps 6 (code) and 11 in one: ``out.code`` holds placeholders (defined function ``d`` of
    the merged module); gc analyses the merged module reading each input's own body (its
    references mapped into the merged spaces), then every body it keeps is renumbered once,
    by the merge maps followed by gc's (:class:`Renumberer` ``then``), which writes the same
    bytes as the two passes would. The other sections are renumbered by gc's maps as
    :func:`~wasmweld.passes.gc.gc` does, while the child patches its bodies (:class:`_Shell`).
    Returns the encoded module."""
    job, src = scan.job, scan.src
    if not job.forks:
        b.start_checks()            # (the inputs' validation, in a thread: overlaps everything)
    shell = _Shell(b, out)
    with job:
        note("merge: scan starts")
        scanned = job.first_own()   # (the child's share arrives during the analysis)
        note("merge: scanned (this process's share)")
        bodies = _analyse_and_patch(b, out, dwarf, src, scanned, extra_bodies, job, shell)
    b.start_checks()                # (if not started yet: no second phase, or it failed)
    scanned.clear()                     # the sites (tens of MB for big inputs) are no longer needed
    note("merge: patched")
    data = shell.splice(bodies)
    note("merge: code spliced in")
    return data


class _Shell:
    """The merged module without its code, renumbered by gc's maps: made while the forked child patches
    its share of the bodies (the parent's core is idle then), the code section spliced in when they
    arrive. The bytes are those of encoding ``out`` with its code and renumbering all but the code::

        shell.make()            # encode(out with empty bodies) -> renumber_bytes(.., gc maps, skip=(10,))
        shell.splice(bodies)    # the code section of ``bodies`` (bytes or FuncBody) in place of the empty one
    """

    def __init__(self, b: Builder, out: Module):
        self.b, self.out = b, out
        self.data: bytes | None = None
        self.span: tuple[int, int] | None = None    # the empty code section's place in ``data``

    def make(self) -> None:
        """Encode and renumber everything but the code (``out.code`` as gc left it: one entry per body)."""
        if self.data is not None:
            return
        out, gmaps = self.out, self.b.gc_maps
        kept = out.code
        out.code = [_EMPTY_BODY] * len(kept)       # the function/code pairing holds; no body is copied
        try:
            data = out.encode()
        finally:
            out.code = kept
        if gmaps is not None:
            data = renumber_bytes(data, gmaps, skip=(10,))
        code = next((sec for sec in split_sections(data) if sec.id == 10), None)
        self.data, self.span = data, None if code is None else (code.offset, code.end)
        note("merge: the other sections encoded and renumbered")

    def splice(self, bodies: list) -> bytes:
        """The module with ``bodies`` (in code order: patched bytes, or FuncBody) as its code section."""
        self.make()
        data, span = self.data, self.span
        self.data = None
        assert data is not None
        if span is None:                # no function at all: no code section
            return data
        parts: list[Any] = [write_u(len(bodies))]
        append = parts.append
        for x in bodies:
            raw = x.raw if isinstance(x, FuncBody) else x
            append(write_u(len(raw)))
            append(raw)
        size = sum(map(len, parts))
        mv = memoryview(data)
        return b"".join([mv[:span[0]], _CODE_ID, write_u(size), *parts, mv[span[1]:]])


_EMPTY_BODY = FuncBody(b"")
_CODE_ID = bytes((10,))


def _analyse_and_patch(b: Builder, out: Module, dwarf: bool, src: list, scanned: list,
                       extra_bodies: dict[int, Any], job: TwoPhaseMap, shell: _Shell) -> list:
    """gc's analysis of the merged module from the scanned refs (the child's as they arrive), then
    each kept body patched once (bytes, or a FuncBody gc made); the shell made while the child patches."""
    n = len(src)
    get = job.get

    def body_refs(d: int) -> dict:
        return get(d)[0] if d < n else refs_of(extra_bodies[d])

    def table_accesses(d: int) -> list:
        return get(d)[2] if d < n else body_table_accesses(extra_bodies[d])

    view = CodeView(body_refs, table_accesses, _Arrivals(job) if job.forks else None)
    try:
        _result, gmaps = gc_plan(out, roots=_gc_roots(b, dwarf), code=view)
    except Exception:
        job.finish_first()          # a malformed body is the error, as when every body is read before
        raise
    job.finish_first()              # (every body is read: one that gc drops is still checked)
    note(f"merge: analysed (and every body scanned; {job.taken} of the child's here)")
    b.gc_maps = gmaps                   # for the DWARF step
    # when this process has patched its share, a core is idle while the child finishes: the inputs'
    # validation starts (a thread) and the other sections are encoded and renumbered meanwhile

    def meanwhile() -> None:
        b.start_checks()
        shell.make()
    return job.second(out.code, gmaps, index=lambda d: d if isinstance(d, int) and d < n else None,
                      meanwhile=meanwhile)


#: the parent's share of the scan's weight: it also copies the other sections meanwhile, then analyses
SHARE = 0.44


class _Arrivals:
    """:class:`~wasmweld.passes.used.CodeView`'s ``ahead`` for the merge: the child's bodies, in the order
    it scans them, and how many have arrived (the analysis visits those first, and scans a missing one
    itself only when nothing else is left)."""

    class _Ranks(dict):
        def __missing__(self, d: int) -> int:     # this process's bodies (and gc's own): always here
            return -1

    class _Count:
        def __init__(self, job: TwoPhaseMap):
            self.job = job

        def __len__(self) -> int:
            return self.job.arrived()

    def __init__(self, job: TwoPhaseMap):
        self.rank = self._Ranks(job.rank)
        self.arrived = job.arrived
        self.got = self._Count(job)             # ``len(got)``: as ``arrived()``

    def claim(self, rank: int) -> bool:
        """Whether the analysis may take the body of this rank now: always (the child skips it)."""
        return True

    def wait(self) -> None:
        """(never needed: :meth:`claim` always says yes)"""

    def close(self) -> None:
        """(the job goes on: :func:`gc_fused` ends it)"""


def _patcher(b: Builder, src: list, memory_sites: dict[int, bool], extra_bodies: dict[int, Any]):
    """``make(gmaps) -> renumbered(d, scanned)``: the merged body ``d`` (a placeholder of the
    merged code, or a FuncBody gc made) renumbered once, by the merge's maps and gc's; ``scanned``
    is the scan of input body ``d`` (its sites: see :func:`gc_fused`)."""
    def make(gmaps: IndexMaps | None):
        renumberers: dict[int, Renumberer] = {}
        for inp in b.ins:
            m = inp.maps
            renumberers[inp.pos] = Renumberer(IndexMaps(
                type=inp.tmap, func=m["func"], table=m["table"], memory=m["memory"], global_=m["global"],
                tag=m["tag"], elem=m["elem"], data=m["data"]), then=gmaps)
        extra_r = Renumberer(gmaps) if gmaps is not None else None

        def renumbered(d, scanned) -> FuncBody | bytes:
            if isinstance(d, FuncBody):     # made by gc itself (its shared trap function): nothing to renumber
                return d
            if d >= len(src):
                body = extra_bodies[d]
                return body if extra_r is None else extra_r.body(body.raw)
            inp, k = src[d]
            with blame_input(inp.name):
                r = renumberers[inp.pos]
                if memory_sites[inp.pos] or "memory" not in r.active:
                    return r.patch(inp.module.code[k].raw, scanned[1], memory=memory_sites[inp.pos])
                return r.body(inp.module.code[k].raw)     # gc moved memories the merge did not: read it again
        return renumbered
    return make
