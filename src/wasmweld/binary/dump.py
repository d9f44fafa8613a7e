"""Annotated hex dump of a binary module: every byte, once, in order, with what it means.

The engine behind ``wasmweld dump`` (the wasm-tools ``dump`` style). For::

    (module (func (export "inc") (param i32) (result i32)
      local.get 0  i32.const 1  i32.add))

:func:`dump` yields one :class:`DumpLine` ``(offset, bytes, meaning)`` per field;
:func:`format_lines` renders them::

    0x00 | 00 61 73 6d          | magic
    0x04 | 01 00 00 00          | version 1
    0x08 | 01 06                | type section, size 6
    0x0a | 01                   | 1 count
    0x0b | 60 01 7f 01 7f       | [type 0] func [i32] -> [i32]
    ...
    0x17 | 03 69 6e 63 00 00    | export "inc": func 0
    0x1d | 0a 09                | code section, size 9
    0x1f | 01                   | 1 count
         |                      | == func 0 ==
    0x20 | 07                   | size of function 7
    0x21 | 00                   | 0 local declarations
    0x22 | 20 00                | local.get 0
    0x24 | 41 01                | i32.const 1
    0x26 | 6a                   | i32.add
    0x27 | 0b                   | end

(the bytes column is 16 bytes wide in real output.)

Every section header, count and item is a line; code bodies give one line per
instruction in its text form (indented by block depth); the ``name``,
``producers``, ``target_features`` and ``dylink.0`` custom sections are
decoded entry by entry; data segment contents and other custom sections are
hex rows of 16 bytes. A few lines carry no bytes (a ``== func 3 ==``
heading before each body). The ``bytes`` of all lines, concatenated, are the
input exactly; :func:`format_lines` renders lines as text.

Malformed input: the lines decoded before the problem are yielded, then the
:class:`~wasmweld.errors.DecodeError` (with its offset) is raised. The walker
checks what :func:`wasmweld.parse` with ``lazy=False`` checks; if it finishes,
``parse(data, lazy=False)`` runs as a final check, so the dump and the library
never disagree on whether a module is well-formed. A malformed known custom
section is not an error (the library keeps it raw too): its undecodable rest
is shown as hex rows after a note.

:func:`read_instr` reads one instruction with full checks (``(OpInfo, args,
end)``; the library's :func:`~wasmweld.binary.instr.read_opcode` and
:data:`~wasmweld.binary.instr.IMM_READERS`, keeping each memarg's ``explicit``
bit and a None for each ``zero`` byte) and :func:`instr_text` prints it; both
are shared with :mod:`wasmweld.features`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Iterable, NamedTuple

from ..custom.dylink import Dylink
from ..custom.name import NameSection
from ..custom.producers import Producers
from ..custom.target_features import TargetFeatures
from ..errors import DecodeError
from . import typecodec as tc
from .leb import Span, read_u32
from .opcodes import BLOCK_OPS, BY_NAME
from .sections import ITEM_READERS, read_data, read_elem, read_import_entry
from .instrtext import (
    ascii_text, import_desc_text, instr_text, limits_text, quoted, read_instr, subtype_text,
    valtype_text, heap_text,
)
from .reader import MAGIC, SECTION_NAMES, VERSION, decode_name, iter_sections, split_sections_partial

__all__ = [
    "DumpLine", "dump", "format_lines", "read_instr", "instr_text", "valtype_text", "heap_text",
    "ROW", "MAX_LOCALS",
]

#: bytes per hex row (data contents, raw custom sections, wrapped fields)
ROW = 16
MAX_LOCALS = 2 ** 32 - 1

_KINDS = ("func", "table", "memory", "global", "tag")


class DumpLine(NamedTuple):
    """One line of the dump: absolute ``offset``, the ``bytes`` it covers, and their ``meaning``.

    Headings (``== func 3 ==``) have empty ``bytes``.
    """

    offset: int
    bytes: bytes
    meaning: str


_NAME_SUBSECTIONS = {0: "module", 1: "function", 2: "local", 3: "label", 4: "type", 5: "table", 6: "memory",
                     7: "global", 8: "elem", 9: "data", 10: "field", 11: "tag"}

#: indentation stops growing at this block depth (a 100,000-deep nest must not make 100,000-space lines)
MAX_INDENT = 32
#: the walker hands its lines on at least every this many lines
FLUSH_LINES = 4096
_INDENTS = ["  " * i for i in range(MAX_INDENT + 1)]


def _indent(depth: int) -> str:
    """Two spaces per block level, capped at MAX_INDENT levels (deeper: ``[depth N] `` after the cap)."""
    if depth <= MAX_INDENT:
        return _INDENTS[depth]
    return f"{_INDENTS[MAX_INDENT]}[depth {depth}] "


_FUNC_REF_OPS = frozenset(BY_NAME[n] for n in ("call", "return_call", "ref.func"))


def _function_names(data: bytes) -> dict[int, str]:
    """The function names of the first ``name`` custom section ({} when absent or undecodable)."""
    try:
        sections, _error = split_sections_partial(data)
    except DecodeError:        # a bad preamble: the walk reports it
        return {}
    for sec in sections:
        if sec.id == 0 and sec.name == "name":
            try:
                return dict(NameSection.decode(data[sec.data_offset:sec.end], sec.data_offset).funcs)
            except DecodeError:
                return {}
    return {}


def _printable(name: str) -> str:
    """A name as one line of text: control characters as ``\\xNN``."""
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name)


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


# ====================================================================== the walker

class _Walker:
    """Walks ``data`` field by field, appending DumpLines to ``out`` (flushed by the caller)."""

    def __init__(self, data: bytes, elide: int | None):
        self.d: bytes = data
        self.elide: int | None = elide
        self.out: list[DumpLine] = []
        # index space counters
        self.imported = dict.fromkeys(_KINDS, 0)
        self.nfuncs_declared: int | None = None
        self.ntypes: int = 0
        self.ntables: int = 0
        self.nmemories: int = 0
        self.nglobals: int = 0
        self.ntags: int = 0
        self.datacount: int | None = None
        self.saw_code: bool = False
        self.saw_data: bool = False
        #: function names from the name section (read ahead: it follows the code), for ``<name>`` labels
        self.func_names: dict[int, str] = _function_names(data)

    def func_label(self, index: int) -> str:
        """`` <name>`` of function ``index`` (wasm-objdump style), or "" when it has no name."""
        name = self.func_names.get(index)
        return "" if name is None else f" <{_printable(name)}>"

    # -- emitting ---------------------------------------------------------------------------
    def line(self, start: int, end: int, meaning: str) -> None:
        self.out.append(DumpLine(start, self.d[start:end], meaning))

    def heading(self, at: int, text: str) -> None:
        self.out.append(DumpLine(at, b"", text))

    def rows(self, start: int, end: int):
        """Generator: hex rows of ROW bytes for ``data[start:end]``, the middle elided when asked."""
        d = self.d
        nrows = (end - start + ROW - 1) // ROW
        head = nrows
        tail = 0
        if self.elide is not None and nrows > self.elide + 2:  # hide at least 3 rows
            tail = 2 if self.elide >= 4 else 1
            head = max(self.elide - tail, 1)
        pos = start
        for r in range(head):
            q = min(pos + ROW, end)
            self.out.append(DumpLine(pos, d[pos:q], ascii_text(d[pos:q])))
            pos = q
            if r % 4096 == 4095:
                yield
        if tail:
            skip_end = start + (nrows - tail) * ROW
            self.out.append(DumpLine(pos, d[pos:skip_end], f"... {skip_end - pos} bytes not shown"))
            pos = skip_end
            while pos < end:
                q = min(pos + ROW, end)
                self.out.append(DumpLine(pos, d[pos:q], ascii_text(d[pos:q])))
                pos = q

    @staticmethod
    def drain(gen) -> None:
        for _ in gen:
            pass

    # -- primitives ---------------------------------------------------------------------------
    def u32(self, p: int, end: int) -> tuple[int, int]:
        return read_u32(self.d, p, end)

    def count(self, p: int, end: int, what: str, min_size: int = 1) -> tuple[int, int]:
        n, q = read_u32(self.d, p, end)
        if n * min_size > end - q:
            raise DecodeError("unexpected end of section or function", p, f"{what} count {n} ({end - q} bytes left)")
        self.line(p, q, f"{n} count")
        return n, q

    def name(self, p: int, end: int) -> tuple[str, int]:
        return decode_name(self.d, p, end)

    # -- expressions ----------------------------------------------------------------------------
    def expr(self, p: int, end: int, indent: int, where: str | None = None) -> int:
        """Instruction lines up to the ``end`` that closes the expression; returns the position after it."""
        gen = self.expr_lines(p, end, indent, where)
        try:
            while True:
                next(gen)
        except StopIteration as stop:
            return stop.value

    def expr_lines(self, p: int, end: int, indent: int, where: str | None = None):
        """Generator form of :meth:`expr` (``p = yield from ...``): pauses every ``FLUSH_LINES`` lines
        so :func:`dump` hands them on and a huge body never sits in memory as a whole.
        Indentation stops growing at ``MAX_INDENT`` levels; deeper lines show their depth."""
        d = self.d
        out = self.out
        depth = 0
        pad = "  " * indent
        datacount_needed = self.datacount is None and where is not None
        fnames = self.func_names
        while True:
            if p >= end:
                raise DecodeError("END opcode expected", end)
            op, args, q = read_instr(d, p, end)
            name = op.name
            if name == "end" or name == "delegate":
                if depth == 0:
                    if name == "delegate":
                        raise DecodeError("delegate outside of a try block", p)
                    out.append(DumpLine(p, d[p:q], pad + "end"))
                    return q
                depth -= 1
                out.append(DumpLine(p, d[p:q], pad + _indent(depth) + instr_text(op, args)))
            elif name in ("else", "catch", "catch_all"):
                out.append(DumpLine(p, d[p:q], pad + _indent(max(depth - 1, 0)) + instr_text(op, args)))
            else:
                if datacount_needed and op.prefix == 0xFC and op.code in (8, 9):
                    raise DecodeError("data count section required", p, f"{where} ({name})")
                text = instr_text(op, args)
                if op in _FUNC_REF_OPS and fnames:
                    text += self.func_label(args[0])
                out.append(DumpLine(p, d[p:q], pad + _indent(depth) + text))
                if op in BLOCK_OPS:
                    depth += 1
            if len(out) >= FLUSH_LINES:
                yield
            p = q

    def const_expr(self, p: int, end: int) -> int:
        return self.expr(p, end, 1)

    # -- module ---------------------------------------------------------------------------------
    def run(self) -> Iterator[None]:
        d = self.d
        total = len(d)
        if total < 4:
            raise DecodeError("unexpected end", total, "module preamble")
        if d[:4] != MAGIC:
            raise DecodeError("magic header not detected", 0)
        self.line(0, 4, "magic")
        if total < 8:
            raise DecodeError("unexpected end", total, "module preamble")
        if d[4:8] != VERSION:
            raise DecodeError("unknown binary version", 4)
        self.line(4, 8, "version 1")
        sections = iter_sections(d, 8, names=False)
        while True:
            yield
            sec = next(sections, None)      # the one section-header reader (binary/reader.py)
            if sec is None:
                break
            sid, start, p, end = sec.id, sec.offset, sec.payload_offset, sec.end
            kind = SECTION_NAMES[sid]
            if sid == 0:
                self.line(start, p, f"custom section, size {end - p}")
                r = self.custom(p, end)
            else:
                self.precheck(sid, start, p, end)
                self.line(start, p, f"{kind} section, size {end - p}")
                r = getattr(self, f"sec_{kind}")(p, end)
            if r is not None:
                yield from r
        # cross-section checks the streaming walk could not make yet
        if not self.saw_code and self.nfuncs_declared:
            raise DecodeError("function and code section have inconsistent lengths", total,
                              f"{self.nfuncs_declared} functions, 0 bodies")
        if not self.saw_data and self.datacount:
            raise DecodeError("data count and data section have inconsistent lengths", total,
                              f"data count {self.datacount}, 0 data segments")

    @staticmethod
    def finish(p: int, end: int, what: str) -> None:
        if p != end:
            raise DecodeError("section size mismatch", p, f"{what} section ({end - p} bytes left over)")

    # -- known sections -------------------------------------------------------------------------
    def sec_type(self, p: int, end: int) -> None:
        d = self.d
        n, p = self.count(p, end, "type")
        for i in range(n):
            try:
                if p < end and d[p] == 0x4E:
                    k, q = read_u32(d, p + 1, end)
                    if k > end - q:
                        raise DecodeError(f"length out of bounds: vector of {k} items in {end - q} bytes", p + 1)
                    self.line(p, q, f"rec group {i}: {_plural(k, 'type')}")
                    p = q
                    for _ in range(k):
                        st, q = tc.decode_subtype(d, p, end, 0)
                        self.line(p, q, f"  [type {self.ntypes}] {subtype_text(st)}")
                        self.ntypes += 1
                        p = q
                else:
                    st, q = tc.decode_subtype(d, p, end, 0)
                    self.line(p, q, f"[type {self.ntypes}] {subtype_text(st)}")
                    self.ntypes += 1
                    p = q
            except DecodeError as e:
                raise e.with_context(f"type {i}") from None
        self.finish(p, end, "type")

    def sec_import(self, p: int, end: int) -> None:
        n, p = self.count(p, end, "import")
        for i in range(n):
            start = p
            try:
                form, got, p = read_import_entry(self.d, p, end)
            except DecodeError as e:
                raise e.with_context(f"import {i}") from None
            if form:
                first = got[0][1] if got else p
                self.line(start, first, f"{quoted(got[0][0].module) if got else 'empty'} group of "
                                        f"{_plural(len(got), 'import')} (compact form 0x{form:02x})")
            for imp, s, stop in got:
                kind = _KINDS[int(imp.kind)]
                idx = self.imported[kind]
                self.imported[kind] = idx + 1
                line = f"import [{kind} {idx}] {quoted(imp.module)} {quoted(imp.name)}: {kind} {import_desc_text(imp)}"
                self.line(s if form else start, stop, ("  " + line) if form else line)
        self.ntables = self.imported["table"]
        self.nmemories = self.imported["memory"]
        self.nglobals = self.imported["global"]
        self.ntags = self.imported["tag"]
        self.finish(p, end, "import")

    def sec_func(self, p: int, end: int) -> None:
        n, p = self.count(p, end, "func")
        base = self.imported["func"]
        for i in range(n):
            t, q = self.u32(p, end)
            self.line(p, q, f"[func {base + i}] type {t}")
            p = q
        self.nfuncs_declared = n
        self.finish(p, end, "func")

    def items(self, p: int, end: int, sid: int, what: str, label: str, show) -> None:
        """A section of one item after another, each read by ``sections.ITEM_READERS[sid]`` (the decoder's
        own grammar) and shown by ``show(start, item, item_end)``."""
        read = ITEM_READERS[sid]
        n, p = self.count(p, end, what)
        for i in range(n):
            try:
                item, q = read(self.d, p, end)
                show(p, item, q)
            except DecodeError as e:
                raise e.with_context(f"{label} {i}") from None
            p = q
        self.finish(p, end, what)

    def with_init(self, start: int, init, q: int, text: str) -> None:
        """An item ending in a constant expression: its head line, then the expression's instructions."""
        at = q - len(init.raw)
        self.line(start, at, text)
        self.const_expr(at, q)

    def sec_table(self, p: int, end: int) -> None:
        def show(start: int, t, q):
            idx = self.ntables
            self.ntables += 1
            text = f"[table {idx}] {valtype_text(t.type.elem)} {limits_text(t.type.limits)}"
            if t.init is None:
                self.line(start, q, text)
            else:
                self.with_init(start, t.init, q, text + ", init:")
        self.items(p, end, 4, "table", "table", show)

    def sec_memory(self, p: int, end: int) -> None:
        def show(start: int, mt, q):
            self.line(start, q, f"[memory {self.nmemories}] {limits_text(mt.limits)}")
            self.nmemories += 1
        self.items(p, end, 5, "memory", "memory", show)

    def sec_tag(self, p: int, end: int) -> None:
        def show(start: int, tag, q):
            self.line(start, q, f"[tag {self.ntags}] type {tag.type.type_idx}")
            self.ntags += 1
        self.items(p, end, 13, "tag", "tag", show)

    def sec_global(self, p: int, end: int) -> None:
        def show(start: int, g, q):
            gt = g.type
            t = f"(mut {valtype_text(gt.val)})" if gt.mutable else valtype_text(gt.val)
            self.with_init(start, g.init, q, f"[global {self.nglobals}] {t}")
            self.nglobals += 1
        self.items(p, end, 6, "global", "global", show)

    def sec_export(self, p: int, end: int) -> None:
        def show(start: int, e, q):
            self.line(start, q, f"export {quoted(e.name)}: {_KINDS[int(e.kind)]} {e.index}")
        self.items(p, end, 7, "export", "export", show)

    def sec_start(self, p: int, end: int) -> None:
        v, q = self.u32(p, end)
        self.line(p, q, f"start func {v}")
        self.finish(q, end, "start")

    def sec_datacount(self, p: int, end: int) -> None:
        v, q = self.u32(p, end)
        self.line(p, q, f"data count {v}")
        self.datacount = v
        self.finish(q, end, "datacount")

    def segments(self, p: int, end: int, what: str, label: str, read, show):
        """Element or data segments, each read by the decoder's own ``read_elem`` / ``read_data`` with its
        field spans, then shown by ``show(i, spans)`` (a generator); what was read before a problem is
        shown before the error."""
        n, p = self.count(p, end, what)
        for i in range(n):
            yield
            spans: list[Span] = []
            try:
                _item, p = read(self.d, p, end, spans)
            except DecodeError as e:
                yield from show(i, spans)
                raise e.with_context(f"{label} {i}") from None
            yield from show(i, spans)
        self.finish(p, end, what)

    def sec_elem(self, p: int, end: int):
        return self.segments(p, end, "elem", "elem segment", read_elem, self.show_elem)

    def show_elem(self, i: int, spans: list[Span]):
        j = 0
        for field, s, e, v in spans:
            if field == "flags":
                mode = "active" if v & 1 == 0 else ("declarative" if v & 2 else "passive")
                form = "expressions" if v & 4 else "func indices"
                self.line(s, e, f"[elem {i}] flags {v}: {mode}, {form}")
            elif field == "table":
                self.line(s, e, f"table {v}")
            elif field == "offset":
                self.const_expr(s, e)
            elif field == "elemkind":
                self.line(s, e, "elemkind funcref")
            elif field == "reftype":
                self.line(s, e, f"element type {valtype_text(v)}")
            elif field == "count":
                self.line(s, e, f"{v} count")
            elif field == "func":
                self.line(s, e, f"  [{j}] func {v}")
                j += 1
            else:  # expr
                self.heading(s, f"  [{j}]")
                self.const_expr(s, e)
                j += 1
        yield

    def sec_data(self, p: int, end: int):
        return self.segments(p, end, "data", "data segment", read_data, self.show_data)

    def show_data(self, i: int, spans: list[Span]):
        for field, s, e, v in spans:
            if field == "flags":
                kind = {0: "active, memory 0", 1: "passive", 2: "active"}[v]
                self.line(s, e, f"[data {i}] flags {v}: {kind}")
            elif field == "memory":
                self.line(s, e, f"memory {v}")
            elif field == "offset":
                self.const_expr(s, e)
            elif field == "size":
                self.line(s, e, f"{v} bytes of data")
            else:  # init
                yield from self.rows(s, e)
        yield

    def precheck(self, sid: int, start: int, p: int, end: int) -> None:
        """Count checks against earlier sections, reported at the section (as the library does)."""
        if sid == 10:
            self.saw_code = True
            n, _after = read_u32(self.d, p, end)
            nf = self.nfuncs_declared or 0
            if n != nf:
                raise DecodeError("function and code section have inconsistent lengths", start,
                                  f"{nf} functions, {n} bodies")
        elif sid == 11:
            self.saw_data = True
            n, _after = read_u32(self.d, p, end)
            if self.datacount is not None and n != self.datacount:
                raise DecodeError("data count and data section have inconsistent lengths", start,
                                  f"data count {self.datacount}, {n} data segments")

    def sec_code(self, p: int, end: int) -> Iterator[None]:
        d = self.d
        n, p = self.count(p, end, "code")
        base = self.imported["func"]
        for i in range(n):
            yield
            try:
                size, q = read_u32(d, p, end)
            except DecodeError as e:
                raise e.with_context(f"code body {i} size") from None
            bend = q + size
            if bend > end:
                raise DecodeError("unexpected end of section or function", end,
                                  f"code body {i} ({size} bytes declared, {end - q} left)")
            self.heading(p, f"== func {base + i}{self.func_label(base + i)} ==")
            self.line(p, q, f"size of function {size}")
            where = f"code body {i}"
            try:
                p = self.locals(q, bend)
                p = yield from self.expr_lines(p, bend, 0, where)
                if p != bend:
                    raise DecodeError("operators remaining after end of function body", p)
            except DecodeError as e:
                raise e.with_context(where) from None
            p = bend
        self.finish(p, end, "code")

    def locals(self, p: int, end: int) -> int:
        d = self.d
        start = p
        n, q = read_u32(d, p, end)
        if 2 * n > end - q:
            raise DecodeError(f"length out of bounds: {n} local declarations in {end - q} bytes", start)
        self.line(p, q, _plural(n, "local declaration"))
        p = q
        total = 0
        for _ in range(n):
            c, q = read_u32(d, p, end)
            total += c
            if total > MAX_LOCALS:
                raise DecodeError("too many locals", p)
            t, q = tc.decode_valtype(d, q, end, 0)
            self.line(p, q, f"{_plural(c, 'local')} of type {valtype_text(t)}")
            p = q
        return p

    # -- custom sections ------------------------------------------------------------------------
    def custom(self, p: int, end: int) -> Iterator[None]:
        try:
            name, q = self.name(p, end)
        except DecodeError as e:
            raise e.with_context("custom section name") from None
        self.line(p, q, f"name: {quoted(name)}")
        decoder = _CUSTOM_DECODERS.get(name)
        if decoder is None:
            yield from self.rows(q, end)
            return
        mark = len(self.out)
        try:
            decoder(self, q, end)
        except DecodeError as e:
            # the library keeps a malformed known custom section raw: show the rest as bytes
            done = self.out[mark:]
            resume = q
            for ln in done:
                if ln.bytes:
                    resume = ln.offset + len(ln.bytes)
            self.heading(resume, f"(malformed {name} section, kept raw: {e})")
            yield from self.rows(resume, end)

    def decoded(self, decode, p: int, end: int, show) -> None:
        """A typed custom section read by its own decoder (``custom/``) with field spans, shown by
        ``show(spans)``; what was read before a problem is shown before the error."""
        spans: list[Span] = []
        try:
            decode(self.d[p:end], p, spans=spans)
        finally:
            show(spans)

    def custom_name(self, p: int, end: int) -> None:
        self.decoded(NameSection.decode, p, end, self.show_names)

    def show_names(self, spans: list[Span]) -> None:
        what = outer = None
        pending = None
        for part, s, e, v in spans:
            if part == "sub":
                sid, size = v
                what = _NAME_SUBSECTIONS.get(sid)
                outer = {2: "func", 3: "func", 10: "type"}.get(sid)
                self.line(s, e, f"{what or 'unknown'} names subsection (id {sid}), size {size}")
            elif part == "raw":
                self.drain(self.rows(s, e))
            elif part == "module":
                self.line(s, e, f"module name {quoted(v)}")
            elif part == "outer":
                pending = (s, v)
            elif part == "count":
                if pending is not None:
                    self.line(pending[0], e, f"{outer} {pending[1]}: {_plural(v, (what or 'unknown') + ' name')}")
                    pending = None
                else:
                    self.line(s, e, f"{v} count")
            else:  # entry
                idx, name = v
                if outer is not None:
                    self.line(s, e, f"  {what} {idx} {quoted(name)}")
                else:
                    self.line(s, e, f"{what} {idx} {quoted(name)}")

    def formatted(self, decode, p: int, end: int, formats: dict[Any, Any]) -> None:
        """A custom section whose parts each make one line ``formats[part](value)`` (None: hex rows)."""
        def show(spans):
            for part, s, e, v in spans:
                fmt = formats[part]
                if fmt is None:
                    self.drain(self.rows(s, e))
                else:
                    self.line(s, e, fmt(v))
        self.decoded(decode, p, end, show)

    def custom_producers(self, p: int, end: int) -> None:
        self.formatted(Producers.decode, p, end, {
            "count": _count_text,
            "field": lambda v: f"field {quoted(v[0])}: {_plural(v[1], 'value')}",
            "value": lambda v: f"  {quoted(v[0])} version {quoted(v[1])}",
        })

    def custom_target_features(self, p: int, end: int) -> None:
        self.formatted(TargetFeatures.decode, p, end, {"count": _count_text, "feature": lambda v: f"{v[0]}{v[1]}"})

    def custom_dylink(self, p: int, end: int) -> None:
        names = {1: "mem info", 2: "needed", 3: "export info", 4: "import info", 5: "runtime path"}
        self.formatted(Dylink.decode, p, end, {
            "sub": lambda v: f"{names.get(v[0], 'unknown')} subsection (id {v[0]}), size {v[1]}",
            "field": lambda v: f"{v[0]} {v[1]}",
            "count": _count_text,
            "name": quoted,
            "export": lambda v: f"{quoted(v[0])} flags 0x{v[1]:x}",
            "import": lambda v: f"{quoted(v[0])} {quoted(v[1])} flags 0x{v[2]:x}",
            "raw": None,
        })


def _count_text(n: int) -> str:
    return f"{n} count"


_CUSTOM_DECODERS = {
    "name": _Walker.custom_name,
    "producers": _Walker.custom_producers,
    "target_features": _Walker.custom_target_features,
    "dylink.0": _Walker.custom_dylink,
}


def dump(data: bytes, *, elide: int | None = None) -> Iterator[DumpLine]:
    """Yield the :class:`DumpLine` s of the module ``data`` (bytes, bytearray or memoryview), in file order.

    ``elide``: show about this many 16-byte rows of a raw run (data segment
    contents, unknown custom sections); the middle of a run of more than
    ``elide + 2`` rows becomes one line ``... N bytes not shown`` (whose
    ``bytes`` still hold them). None shows all.
    Raises DecodeError after the lines decoded before a malformation.
    """
    data = bytes(data)
    w = _Walker(data, elide)
    out = w.out                      # one list for the whole walk: handed on and cleared in place

    def take() -> list[Any]:
        batch = out[:]
        out.clear()
        return batch

    try:
        for _ in w.run():
            if out:
                yield from take()
    except DecodeError:
        yield from take()
        raise
    yield from take()
    # everything the walk checks passed: let the library have the last word
    from ..module import parse
    parse(data, lazy=False)


# ====================================================================== rendering

def format_lines(lines: Iterable[DumpLine], *, offset_width: int | None = None, max_rows: int | None = 4) -> Iterator[str]:
    """Render DumpLines as text: ``offset | bytes | meaning``, 16 bytes per row.

    A field longer than 16 bytes wraps onto continuation rows (offset column
    blank); with ``max_rows`` set, a field of more rows shows its first rows
    and ``...``. Elided runs (``... N bytes not shown``) show no bytes.
    ``offset_width``: hex digits of the offset column (default: 2, growing as needed).
    """
    width = offset_width or 2
    col = ROW * 3 - 1
    blank_off = " " * (width + 2)
    for off, b, meaning in lines:
        if not b:
            yield f"{blank_off} | {' ' * col} | {meaning}".rstrip()
            continue
        offs = f"0x{off:0{width}x}"
        if len(offs) > width + 2:
            width = len(offs) - 2
            blank_off = " " * (width + 2)
        n = len(b)
        if n > ROW and meaning.startswith("... ") and meaning.endswith(" bytes not shown"):
            yield f"{offs} | {'...':<{col}} | {meaning}"
            continue
        if n <= ROW:
            yield f"{offs} | {b.hex(' '):<{col}} | {meaning}"
            continue
        nrows = (n + ROW - 1) // ROW
        shown = nrows if max_rows is None or nrows <= max_rows else max(max_rows - 1, 1)
        yield f"{offs} | {b[:ROW].hex(' '):<{col}} | {meaning}"
        for r in range(1, shown):
            yield f"{blank_off} | {b[r * ROW:(r + 1) * ROW].hex(' '):<{col}} |"
        if shown < nrows:
            rest = n - shown * ROW
            yield f"{blank_off} | {'...':<{col}} | ({rest} more bytes)"
