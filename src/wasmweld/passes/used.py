"""The "used" analysis: which items of a module can be reached from its roots.

::

    (module
      (type $a (func))  (type $b (func (param i32)))
      (global $g i32 (i32.const 1))
      (func $f (export "f") (call $h))
      (func $h)
      (func $dead (param i32) (drop (global.get $g))))

    analyze(m).funcs == {0, 1}      ;; $f (exported) and $h (called by $f)
    analyze(m).types == {0}         ;; $b and $g are only used by $dead

Roots: every export, the start function, every active element and data
segment whose write at instantiation is observable (it targets an imported or
exported table or memory, or it could trap: a non-constant offset or one
beyond the initial size) -- it keeps what it names: its table or memory,
offset expression and functions --, plus any extra ``roots`` (``("func", 3)``,
``(ExternKind.GLOBAL, 0)`` or a function name). Any other active segment is
kept exactly when its table or memory is used (so a private function table
that no kept ``call_indirect`` reads goes, with the functions only it held). From the roots, a worklist follows references: a function uses its
type and everything its body names (calls, ``ref.func``, globals, tables,
memories, tags, types, element and data segments); a global its type and
initialiser; a table its type and initialiser; an element segment its table,
offset and (unless declarative) its functions; a data segment its memory and
offset; a type the other types of its recursion group and the types its
fields, parameters, results and supertypes name.

A declarative element segment only *declares* functions for ``ref.func``: it
keeps no function alive. :func:`collect_references` is the non-transitive
variant: everything referenced from anywhere in the module.

Code bodies are never decoded: :class:`wasmweld.binary.reencode.Scanner` finds
their references (one compiled regular expression skips the instructions that
carry no index), each body once.
"""

from __future__ import annotations

import heapq
import marshal
import mmap
import time
from array import array
from ..record import field, record
from typing import Any, Callable, Iterable, Mapping

from wasmweld.binary.constexpr import single
from wasmweld.binary.leb import read_u32
from wasmweld.binary.opcodes import BY_NAME
from wasmweld.binary.reencode import Scanner
from wasmweld.errors import DecodeError, EditError, WasmError
from wasmweld.module import ConstExpr, FuncBody, Module
from wasmweld.passes.common import FuncLookup
from wasmweld.types import ArrayType, ExternKind, FuncType, IndexSpace, RefType, StructType, SubType

__all__ = ["Used", "Refs", "CodeView", "analyze", "collect_references", "body_references", "body_refs",
           "body_table_accesses", "ref_func_index", "subtype_types", "SPACES"]

#: the index spaces, as the strings :class:`~wasmweld.types.IndexSpace` members equal
SPACES = tuple(s.value for s in IndexSpace)
_SPACE_ALIASES = {"global_": "global", "function": "func", "functions": "func"}


@record
class Refs:
    """Sets of indices, one per index space."""

    types: set[int] = field(default_factory=set)
    funcs: set[int] = field(default_factory=set)
    tables: set[int] = field(default_factory=set)
    memories: set[int] = field(default_factory=set)
    globals: set[int] = field(default_factory=set)
    tags: set[int] = field(default_factory=set)
    elems: set[int] = field(default_factory=set)
    datas: set[int] = field(default_factory=set)

    _ATTR = {"type": "types", "func": "funcs", "table": "tables", "memory": "memories", "global": "globals",
             "tag": "tags", "elem": "elems", "data": "datas"}

    def space(self, name: str) -> set[int]:
        return getattr(self, self._ATTR[name])

    def merge(self, refs: Mapping[str, Iterable[int]]) -> None:
        for space, items in refs.items():
            self.space(space).update(items)


class Used(Refs):
    """The result of :func:`analyze`: the used indices of each space."""

    def counts(self, m: Module) -> dict[str, tuple[int, int]]:
        """space -> (used, total)."""
        totals = {"type": len(m.type_list()), "func": m.num_funcs, "table": m.num_tables,
                  "memory": m.num_memories, "global": m.num_globals, "tag": m.num_tags,
                  "elem": len(m.elems), "data": len(m.datas)}
        return {s: (len(self.space(s)), totals[s]) for s in SPACES}


# ----------------------------------------------------------------------------- body scanning

_SCANNERS: dict[str, Scanner] = {}


def _scanner(which: str = "all") -> Scanner:
    """The shared scanners: every space, or ``"tables"`` (type + table, for call_indirect sites)."""
    sc = _SCANNERS.get(which)
    if sc is None:
        sc = _SCANNERS[which] = Scanner(SPACES if which == "all" else ("type", "table"))
    return sc


def body_refs(body: FuncBody) -> dict[str, set[int]]:
    """What a :class:`FuncBody` refers to, ``{space: set}`` for every space (error offsets absolute while it
    is the input's body)."""
    return _scanner().body(body.raw, 0 if body.modified else (body.offset or 0))


def _expr_refs(ce) -> dict[str, set]:
    """What a :class:`ConstExpr` (or None) refers to."""
    if ce is None:
        return {}
    one = single(ce.raw)            # a lone numeric constant (most segment offsets) refers to nothing
    if one is not None and one[0] in _NUMERIC_CONSTS:
        return {}
    return _scanner().const_expr(ce.raw)


_NUMERIC_CONSTS = frozenset({"i32.const", "i64.const", "f32.const", "f64.const"})


def body_references(m: Module, defined_index: int) -> dict[str, set[int]]:
    """Everything the body of defined function ``defined_index`` refers to, by space."""
    return body_refs(m.code[defined_index])


# ----------------------------------------------------------------------------- types inside types

def _valtype_types(vt, out: set) -> None:
    if isinstance(vt, RefType) and isinstance(vt.heap, int):
        out.add(vt.heap)


def _storage_types(st, out: set) -> None:
    _valtype_types(st, out)


def subtype_types(st: SubType, out: set[int]) -> None:
    """Add the type indices subtype ``st`` names (supertypes, parameter/result/field reference types)."""
    out.update(st.supers)
    comp = st.comp
    if isinstance(comp, FuncType):
        for vt in comp.params + comp.results:
            _valtype_types(vt, out)
    elif isinstance(comp, StructType):
        for f in comp.fields:
            _storage_types(f.storage, out)
    elif isinstance(comp, ArrayType):
        _storage_types(comp.field.storage, out)


# ----------------------------------------------------------------------------- the analysis

def _extern_types(kind: ExternKind, desc, out: set) -> None:
    if kind == ExternKind.FUNC:
        out.add(desc)
    elif kind == ExternKind.TAG:
        out.add(desc.type_idx)
    elif kind == ExternKind.GLOBAL:
        _valtype_types(desc.val, out)
    elif kind == ExternKind.TABLE:
        _valtype_types(desc.elem, out)


def _root_items(m: Module, roots) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    if roots is None:
        return out
    lookup = None
    for r in roots:
        if isinstance(r, (str, int)) and not isinstance(r, bool):
            lookup = lookup or FuncLookup(m)
            out.append(("func", lookup.find(r, "function", "gc root")))
            continue
        try:
            space, idx = r
        except (TypeError, ValueError):
            raise EditError(f"gc root {r!r}: expected a function name or a (space, index) pair") from None
        if isinstance(space, ExternKind):
            space = space.space.value
        space = _SPACE_ALIASES.get(space, space)
        if space not in SPACES:
            raise EditError(f"gc root {r!r}: unknown index space {space!r}")
        out.append((space, idx))
    return out


_REF_FUNC = BY_NAME["ref.func"].opcode


def ref_func_index(ce: ConstExpr) -> int | None:
    """N for the constant expression ``ref.func N``, else None (also for an undecodable one)."""
    if not ce.raw.startswith(_REF_FUNC):      # quick filter before decoding
        return None
    try:
        instrs = ce.instrs
    except WasmError:
        return None
    if len(instrs) == 2 and instrs[0].name == "ref.func":
        return instrs[0].args[0]
    return None


def _table_min(m: Module, t: int) -> int:
    try:
        return m.table_type(t).limits.min
    except (IndexError, AttributeError):
        return -1


def _mem_min(m: Module, mem: int) -> int:
    try:
        return m.memory_type(mem).limits.min * 65536
    except (IndexError, AttributeError):
        return -1


def _limit(cache: dict, limit: Callable[[Module, int], int], m: Module, target: str, t: int) -> int:
    """``limit(m, t)``, once per table or memory."""
    got = cache.get((target, t))
    if got is None:
        got = cache[(target, t)] = limit(m, t)
    return got


def body_table_accesses(body: FuncBody) -> list[tuple[int, int | None]]:
    """(table, type) for each call_indirect of ``body``; (table, None) for every other table access."""
    out: list[tuple[int, int | None]] = []
    base = 0 if body.modified else (body.offset or 0)
    for name, pairs in _scanner("tables").sites(body.raw, base):
        if name in ("call_indirect", "return_call_indirect"):
            (_t, ctype), (_s, table) = pairs
            out.append((table, ctype))
        else:
            for space, i in pairs:
                if space == "table":
                    out.append((i, None))
    return out


@record
class CodeView:
    """How :func:`analyze` reads the code of defined function ``d``: the public hook for callers that
    analyse a module whose bodies live elsewhere (merge reads each input's own body and maps the
    answer into the merged spaces).

    ``refs(d)``: what the body refers to, ``{space: set of indices}`` for every space;
    ``table_accesses(d)``: ``[(table, type index or None), ...]`` (see :func:`body_table_accesses`).
    """

    refs: Callable[[int], dict]
    table_accesses: Callable[[int], list]
    #: optional: another process answers ``refs`` as it goes; ``ahead.rank[d]`` (its order, -1: here now),
    #: ``ahead.arrived()`` (how many have arrived), ``ahead.close()`` (see :class:`_ScanAhead`)
    ahead: Any = None

    @classmethod
    def of(cls, m: Module) -> "CodeView":
        """The module's own bodies."""
        code = m.code
        return cls(lambda d: body_refs(code[d]), lambda d: body_table_accesses(code[d]))


def analyze(m: Module, *, roots: Iterable[Any] | None = None, prune_tables: bool = True,
            code: CodeView | None = None, body_refs: Callable[[int], dict[str, set[int]]] | None = None,
            table_accesses: Callable[[int], list[tuple[int, int | None]]] | None = None) -> Used:
    """The items reachable from the module's roots (see the module docstring), plus ``roots``.

    ``prune_tables``: a function that sits only in a private table (defined, not exported)
    is used only if a used ``call_indirect`` of a matching type can reach it, or if the
    table is read some other way (``table.get``, ``table.copy``, ...).

    ``code`` (a :class:`CodeView`) answers for the code of defined function ``d`` instead of
    ``m.code[d]``; ``body_refs`` and ``table_accesses`` (given together) are the same hook as two
    functions.
    """
    ahead = None
    if code is None:
        if body_refs is None or table_accesses is None:
            ahead = _ScanAhead.start(m)
            code = CodeView.of(m) if ahead is None else CodeView(ahead.refs, ahead.table_accesses)
        else:
            code = CodeView(body_refs, table_accesses)
    else:
        ahead = code.ahead
    try:
        try:
            return _Reach(m, code, prune_tables).run(roots, ahead)
        except (WasmError, RecursionError):
            if ahead is None:
                raise
        return _Reach(m, code, prune_tables).run(roots)     # in order: one process's first error
    finally:
        if ahead is not None:
            ahead.close()


class _ScanAhead:
    """``CodeView.refs`` of a big module (:func:`~wasmweld.link.parallel.forks_for`) with a second process:
    a forked child scans the bodies from the middle of the code section on (then the first half) and
    streams their references (:mod:`marshal`: per body a tuple of ``(space number, indices)`` pairs, the
    non-empty spaces only, each set in the order it iterates); the analysis takes a body's references
    from the child when they have arrived. A function whose references have not arrived waits; with
    nothing else left the analysis scans the one the child would reach last itself, after claiming it
    in a shared page (the child skips a claimed body), or, when the child has reached that one already,
    waits for its answer (the child then sends each body at once): no body is scanned twice (but for a
    race at the meeting point, which gives the same answer). The bodies are the input's spans while
    ``m.code`` was never decoded (:func:`_input_bodies`). The used sets and the first error are those of
    one process (:func:`analyze` reruns in order on an error; a body the child could not scan is
    scanned here). The child is ended when the analysis is over."""

    CHUNK = 128             # bodies per message
    POLL_EVERY = 0.004      # seconds between two looks at the pipe
    PATIENCE = 0.5          # seconds without an answer after which the analysis stops waiting for the child

    def __init__(self, body: Callable[[int], FuncBody], order: list[int], stream: Any, words: Any,
                 claimed: Any) -> None:
        self.body = body                    # defined function -> its FuncBody
        self.words = words                  # shared: the rank the child is at; 1 while the analysis waits
        self.claimed = claimed              # shared: per rank, 1 when scanned here (the child skips it)
        self.stalled = False                # the child did not answer for PATIENCE: every body is scanned here
        self.rank = [0] * len(order)        # defined function -> its place in the child's order
        for k, d in enumerate(order):
            self.rank[d] = k
        self.stream = stream
        self.got: list[Any] = []          # per rank: the pairs, or None (scan it here)
        self.next_poll = 0.0

    @classmethod
    def start(cls, m: Module) -> "_ScanAhead | None":
        from ..link.parallel import fork_stream, forks_for, shared_words   # (stdlib only; loaded on first use)

        sec = next((s for s in m.sections if s.id == 10), None)
        if sec is None or not forks_for(sec.end - sec.payload_offset):
            return None
        try:
            body, n = _input_bodies(m, sec)
        except WasmError:
            return None         # (one process meets the error in its order)
        mid = n // 2
        order = list(range(mid, n)) + list(range(mid))
        codes = {s: k for k, s in enumerate(SPACES)}

        words = shared_words(-1, 0)
        claimed = mmap.mmap(-1, max(n, 1))     # per rank: 1 when the parent scans that body itself

        def produce(send: Callable[[bytes], None]) -> None:
            out: list[Any] = []
            for k, d in enumerate(order):
                words[0] = k
                if claimed[k]:                  # the parent has taken it
                    out.append(None)
                    continue
                try:
                    refs = body_refs(body(d))
                except (WasmError, RecursionError):
                    out.append(None)
                else:
                    out.append(tuple([(codes[space], tuple(items)) for space, items in refs.items() if items]))
                if len(out) >= cls.CHUNK or words[1]:       # (the parent waits: at once)
                    send(marshal.dumps(out))
                    out = []
            if out:
                send(marshal.dumps(out))

        return cls(body, order, fork_stream(produce), words, claimed)

    def _receive(self) -> None:
        now = time.perf_counter()
        if now < self.next_poll:
            return
        self.next_poll = now + self.POLL_EVERY
        for msg in self.stream.poll():
            self.got.extend(marshal.loads(msg))

    def arrived(self) -> int:
        """How many bodies (in the child's order) have arrived; looks at the pipe now and then."""
        if not self.stream.done:
            self._receive()
        return len(self.got)

    def refs(self, d: int) -> dict:
        k = self.rank[d]
        if k >= len(self.got) and not self.stream.done:
            self._receive()
        pairs = self.got[k] if k < len(self.got) else None
        if pairs is None:
            return body_refs(self.body(d))
        return {SPACES[s]: items for s, items in pairs}

    def claim(self, k: int) -> bool:
        """Whether the body of rank ``k`` is to be scanned here: the child has not reached it (it then
        skips it), has ended, or has not answered for a while."""
        if self.stalled or self.stream.done:
            return True
        if k <= self.words[0]:
            return False
        self.claimed[k] = 1
        return True

    def wait(self) -> None:
        """Until more of the child's answers have arrived (the child sends each at once meanwhile), it
        has ended, or PATIENCE has run out (then :attr:`stalled`)."""
        from ..link.parallel import wait_readable

        words, stream = self.words, self.stream
        before = len(self.got)
        give_up = time.perf_counter() + self.PATIENCE
        words[1] = 1
        try:
            while len(self.got) == before and not stream.done:
                if time.perf_counter() > give_up:
                    self.stalled = True
                    return
                wait_readable(stream, 0.01)
                self.next_poll = 0.0
                self._receive()
        finally:
            words[1] = 0

    def table_accesses(self, d: int) -> list:
        return body_table_accesses(self.body(d))

    def close(self) -> None:
        self.stream.close()


def _input_bodies(m: Module, sec: Any) -> tuple[Callable[[int], FuncBody], int]:
    """(defined function -> its body, how many bodies). While ``m.code`` was never decoded the bodies are read from the
    input where they are (only those asked for are made; gc keeping everything never decodes the code
    section, whose encoding stays the input's); a code section whose framing does not hold up is
    decoded, for the error, as in one process."""
    if not m.is_decoded(10):
        data, end = m.data, sec.end
        try:
            n = len(m.funcs)
        except WasmError:
            n = -1
        spans = array("I")          # start and end of each body
        try:
            count, p = read_u32(data, sec.payload_offset, end)
            for _ in range(count if count == n else 0):
                size, q = read_u32(data, p, end)
                p = q + size
                spans.append(q)
                spans.append(p)
        except DecodeError:
            count = -1
        if count == n and p == end:
            return (lambda d: FuncBody(data[spans[2 * d]:spans[2 * d + 1]], spans[2 * d])), n
    code = m.code
    return code.__getitem__, len(code)


_TOTALS = {"type": lambda m: len(m.type_list()), "func": lambda m: m.num_funcs, "table": lambda m: m.num_tables,
           "memory": lambda m: m.num_memories, "global": lambda m: m.num_globals, "tag": lambda m: m.num_tags,
           "elem": lambda m: len(m.elems), "data": lambda m: len(m.datas)}


class _Reach:
    """One run of :func:`analyze`: a worklist over ``(space, index)`` from the roots.

    Steps: :meth:`mark_roots` (exports, start, observable active segments, ``roots``), then
    :meth:`run` pops the worklist and follows each item's references (:meth:`visit_func`,
    :meth:`visit_extern`, :meth:`visit_elem`, :meth:`visit_data`, :meth:`visit_type`). Functions
    held only by a private table wait in ``waiting`` until a ``call_indirect`` that can reach them
    is used (:meth:`access`, :meth:`release`).
    """

    def __init__(self, m: Module, code: CodeView, prune_tables: bool) -> None:
        self.m = m
        self.code = code
        self.used = used = Used()
        self.work: list[tuple[str, int]] = []
        self.sets = {s: used.space(s) for s in SPACES}
        self.totals = {s: f(m) for s, f in _TOTALS.items()}
        imports: dict[str, list] = {s: [] for s in ("func", "table", "memory", "global", "tag")}
        for imp in m.imports:
            imports[imp.kind.space].append(imp)
        self.imports = imports
        self.nimp = {s: len(v) for s, v in imports.items()}
        self.exported = {(e.kind.space.value, e.index) for e in m.exports}
        self.types = m.type_list()
        self.private = {t for t in range(self.nimp["table"], self.totals["table"])
                        if ("table", t) not in self.exported} if prune_tables else set()
        self.any_access: set[int] = set()
        self.typed_access: dict[int, set[int]] = {}
        self.waiting: dict[int, list[int]] = {}      # private table -> functions of its kept active segments
        self.type_cache: dict[tuple[int, int], bool] = {}
        self.pending: dict[tuple[str, int], list[tuple[str, int]]] = {}
        self.plain: set[tuple[str, int]] = set()      # active segments whose offset is a lone integer constant
        self.group_of: list[tuple[int, int]] = []      # type index -> (first index of its rec group, size)
        at = 0
        for rg in m.types:
            for _ in rg.types:
                self.group_of.append((at, len(rg.types)))
            at += len(rg.types)

    # -- marking ----------------------------------------------------------------------------------

    def mark(self, space: str, idx: int, why: str = "") -> None:
        s = self.sets[space]
        if idx not in s:
            total = self.totals[space]
            if not 0 <= idx < total:
                raise EditError(f"{why or 'the module'} refers to {space} {idx}, which does not exist "
                                f"({total} {space}s)")
            s.add(idx)
            self.work.append((space, idx))

    def mark_all(self, refs: dict, why: str) -> None:
        mark = self.mark
        sets = self.sets
        for space, items in refs.items():
            if items and not sets[space].issuperset(items):     # (most references are marked already)
                for i in items:
                    mark(space, i, why)

    def mark_roots(self, roots) -> None:
        m = self.m
        for e in m.exports:
            self.mark(e.kind.space.value, e.index, f"export {e.name!r}")
        if m.start is not None:
            self.mark("func", m.start, "the start section")
        self.mark_active_segments()
        for space, idx in _root_items(m, roots):
            self.mark(space, idx, "a gc root")

    def mark_active_segments(self) -> None:
        """Active segments write at instantiation. One that targets an imported or exported table or
        memory, or that could trap (offset not constant, or beyond the initial size), is observable:
        a root. Any other one only matters if its table or memory is used: it waits in ``pending``."""
        m = self.m
        segments: tuple[tuple[str, list[Any], str, Any], ...] = (("elem", m.elems, "table", _table_min),
                                                                 ("data", m.datas, "memory", _mem_min))
        limits: dict[tuple[str, int], int] = {}
        for space, segs, target, limit in segments:
            for i, seg in enumerate(segs):
                if seg.mode != "active":
                    continue
                t = seg.table if space == "elem" else seg.memory
                off = seg.offset.int_value if seg.offset is not None else None
                if off is not None:
                    self.plain.add((space, i))      # a lone i32/i64.const: its offset refers to nothing
                size = len(seg.init)
                observable = (t < self.nimp[target] or (target, t) in self.exported or off is None or off < 0
                              or off + size > _limit(limits, limit, m, target, t))
                if observable:
                    self.mark(space, i, f"active {space} segment {i}")
                else:
                    self.pending.setdefault((target, t), []).append((space, i))

    # -- private tables ---------------------------------------------------------------------------

    def matches(self, ftype: int, ctype: int) -> bool:
        """Can a call_indirect of type ``ctype`` reach a function of type ``ftype``? The function's type
        or a declared supertype is ``ctype`` or has the same structure (an over-approximation of type
        equivalence: never drops a callable entry)."""
        key = (ftype, ctype)
        hit = self.type_cache.get(key)
        if hit is None:
            types = self.types
            hit = False
            seen = set()
            t = ftype
            while t < len(types) and ctype < len(types) and t not in seen:
                if t == ctype or types[t].comp == types[ctype].comp:
                    hit = True
                    break
                seen.add(t)
                if not types[t].supers:
                    break
                t = types[t].supers[0]
            self.type_cache[key] = hit
        return hit

    def func_type_index(self, f: int) -> int:
        n = self.nimp["func"]
        return self.imports["func"][f].desc if f < n else self.m.funcs[f - n]

    def release(self, table: int) -> None:
        """Mark the waiting functions of ``table`` its accesses can now reach."""
        funcs = self.waiting.get(table)
        if not funcs:
            return
        if table in self.any_access:
            for f in funcs:
                self.mark("func", f, f"table {table}")
            self.waiting[table] = []
            return
        ctypes = self.typed_access.get(table, ())
        rest = []
        reached: dict[int, bool] = {}       # function type -> can a call_indirect of ``ctypes`` reach it
        for f in funcs:
            ft = self.func_type_index(f)
            hit = reached.get(ft)
            if hit is None:
                hit = reached[ft] = any(self.matches(ft, c) for c in ctypes)
            if hit:
                self.mark("func", f, f"table {table}")
            else:
                rest.append(f)
        self.waiting[table] = rest

    def access(self, table: int, ctype: int | None) -> None:
        if table not in self.private or table in self.any_access:
            return
        if ctype is None:
            self.any_access.add(table)
        else:
            known = self.typed_access.setdefault(table, set())
            if ctype in known:
                return
            known.add(ctype)
        self.release(table)

    # -- the worklist -----------------------------------------------------------------------------

    def run(self, roots, ahead: "_ScanAhead | None" = None) -> Used:
        """The worklist from the roots. ``ahead``: a second process scans bodies; a function whose
        references have not arrived waits (the used sets are a fixpoint: the order does not change
        them), and when nothing else is left the one the child would reach last is scanned here. The
        order then differs from one process's, so :func:`analyze` reruns in order on an error."""
        self.mark_roots(roots)
        work = self.work
        visit = {"func": self.visit_func, "table": self.visit_extern, "memory": self.visit_extern,
                 "global": self.visit_extern, "tag": self.visit_extern, "elem": self.visit_elem,
                 "data": self.visit_data, "type": self.visit_type}
        mark = self.mark
        nimp = self.nimp["func"]
        low: list[tuple[int, int]] = []        # waiting functions, by the child's order
        high: list[tuple[int, int]] = []       # the same, latest in the child's order first
        taken: set[int] = set()
        while True:
            while work:
                space, idx = work.pop()
                if ahead is not None and space == "func" and idx >= nimp:
                    r = ahead.rank[idx - nimp]
                    if r >= len(ahead.got) and r >= ahead.arrived():
                        heapq.heappush(low, (r, idx))
                        heapq.heappush(high, (-r, idx))
                        continue
                tset: set = set()
                visit[space](space, idx, tset)
                for t in tset:
                    mark("type", t, f"{space} {idx}")
            if ahead is None or not high:
                return self.used
            n = ahead.arrived()
            ready = []
            while low and low[0][0] < n:
                idx = heapq.heappop(low)[1]
                if idx not in taken:
                    ready.append(idx)
            while high and not ready:          # nothing arrived: the one the child reaches last, here
                r, idx = high[0]
                if idx in taken:
                    heapq.heappop(high)
                elif ahead.claim(-r):
                    heapq.heappop(high)
                    ready.append(idx)
                else:                           # the child is at it already: its answer comes soon
                    ahead.wait()
                    break
            for idx in ready:
                if idx not in taken:
                    taken.add(idx)
                    tset = set()
                    visit["func"]("func", idx, tset)
                    for t in tset:
                        mark("type", t, f"func {idx}")

    def visit_func(self, space: str, idx: int, tset: set) -> None:
        n = self.nimp["func"]
        if idx < n:
            tset.add(self.imports["func"][idx].desc)
            return
        d = idx - n
        tset.add(self.m.funcs[d])
        refs = self.code.refs(d)
        self.mark_all(refs, f"function #{idx}")
        private = self.private
        if private and not private.isdisjoint(refs.get("table", ())):
            for table, ctype in self.code.table_accesses(d):
                self.access(table, ctype)

    def visit_extern(self, space: str, idx: int, tset: set) -> None:
        for seg_space, seg in self.pending.pop((space, idx), ()):
            self.mark(seg_space, seg, f"{space} {idx}")
        n = self.nimp[space]
        if idx < n:
            imp = self.imports[space][idx]
            _extern_types(imp.kind, imp.desc, tset)
            return
        d = idx - n
        if space == "table":
            t = self.m.tables[d]
            _valtype_types(t.type.elem, tset)
            self.mark_all(_expr_refs(t.init), f"table {idx}")
        elif space == "global":
            g = self.m.globals[d]
            _valtype_types(g.type.val, tset)
            self.mark_all(_expr_refs(g.init), f"global {idx}")
        elif space == "tag":
            tset.add(self.m.tags[d].type.type_idx)

    def visit_elem(self, space: str, idx: int, tset: set) -> None:
        el = self.m.elems[idx]
        why = f"element segment {idx}"
        _valtype_types(el.elem_type, tset)
        if el.mode == "active":
            self.mark("table", el.table, why)
            if ("elem", idx) not in self.plain:
                self.mark_all(_expr_refs(el.offset), why)
        if el.mode == "active" and el.table in self.private:
            # its functions wait for a call_indirect that can reach them
            for item in el.init:
                f = item if isinstance(item, int) else ref_func_index(item)
                if f is None:
                    self.mark_all(_expr_refs(item), why)
                else:
                    if not 0 <= f < self.totals["func"]:
                        raise EditError(f"{why} refers to func {f}, which does not exist")
                    self.waiting.setdefault(el.table, []).append(f)
            self.release(el.table)
        elif el.mode != "declarative":
            for item in el.init:
                if isinstance(item, int):
                    self.mark("func", item, why)
                else:
                    self.mark_all(_expr_refs(item), why)

    def visit_data(self, space: str, idx: int, tset: set) -> None:
        d = self.m.datas[idx]
        if d.mode == "active":
            self.mark("memory", d.memory, f"data segment {idx}")
            if ("data", idx) not in self.plain:
                self.mark_all(_expr_refs(d.offset), f"data segment {idx}")

    def visit_type(self, space: str, idx: int, tset: set) -> None:
        first, size = self.group_of[idx]
        types = self.types
        for j in range(first, first + size):
            tset.add(j)
            subtype_types(types[j], tset)


def collect_references(m: Module) -> Refs:
    """Everything referenced from anywhere (every body, export, start, segment, global, table)."""
    refs = Refs()
    for b in m.code:
        refs.merge(body_refs(b))
    for e in m.exports:
        refs.space(e.kind.space.value).add(e.index)
    if m.start is not None:
        refs.funcs.add(m.start)
    for g in m.globals:
        refs.merge(_expr_refs(g.init))
    for t in m.tables:
        refs.merge(_expr_refs(t.init))
    for el in m.elems:
        if el.mode == "active":
            refs.merge(_expr_refs(el.offset))
        for item in el.init:
            if isinstance(item, int):
                refs.funcs.add(item)
            else:
                refs.merge(_expr_refs(item))
    for d in m.datas:
        if d.mode == "active":
            refs.merge(_expr_refs(d.offset))
    return refs
