"""The module printer: a binary module as the text format, byte for byte what ``wasm-tools print`` writes.

Sections are printed in file order, each item on its own line, custom sections
as ``(@custom "name" (after code) "bytes")`` where they stand::

    (module $m
      (type (;0;) (func (param i32) (result i32)))
      (import "env" "f" (func $f (;0;) (type 0)))
      (func (;1;) (type 0) (param i32) (result i32)
        local.get 0
      )
      (export "g" (func 1))
    )

Text goes to a ``write`` callable in blocks of about 1 MB, so printing a large
module needs memory for one function's text, not for the whole output.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO, Callable, Iterable, Protocol

from ..binary import sections as _sections
from ..binary.instr import decode_expr, decode_locals
from ..binary.leb import read_u32
from ..binary.typecodec import decode_valtype
from ..errors import DecodeError, WasmError
from ..binary.reader import Section
from ..items import ConstExpr, FuncBody, Import
from ..types import (
    CompType, ExternKind, FieldType, GlobalType, Limits, MemoryType, SubType, TableType, TagType,
)
from .parallel import print_split, splits
from .body import MAX_LOCALS
from .custom import dylink0_lines, producers_lines, read_branch_hints
from .code import BodyPrinter
from .instrs import TypeText
from .names import Names, Naming, escape, read_names
from ..binary.leb import ByteData

__all__ = ["Options", "ModulePrinter", "TextSink", "bytes_literal"]

_FLUSH_AT = 1 << 14  # list items between writes



def _byte_text(b: int) -> str:
    if 0x20 <= b < 0x7F and b != 0x22 and b != 0x5C:
        return chr(b)
    return f"\\{b:02x}"


_BYTE_TEXT = [_byte_text(b) for b in range(256)]


def bytes_literal(data: ByteData) -> str:
    """``"..."`` with printable ASCII as is and every other byte as ``\\hh``."""
    return '"' + "".join([_BYTE_TEXT[b] for b in bytes(data)]) + '"'


def write_bytes_literal(pr: "ModulePrinter", data: ByteData) -> None:
    """Like :func:`bytes_literal`, written in blocks so that a large segment never becomes one string."""
    pr.w('"')
    step = 1 << 16
    for i in range(0, len(data), step):
        pr.w(_escape_chunk(bytes(data[i:i + step])))
        if len(pr.buf) > 64:
            pr.flush()
    pr.w('"')


_PRINTABLE = bytes(b for b in range(256) if len(_BYTE_TEXT[b]) == 1)
_RUN = re.compile(rb"[\x20\x21\x23-\x5b\x5d-\x7e]+")


def _escape_chunk(chunk: bytes) -> str:
    t = _BYTE_TEXT
    if len(chunk.translate(None, _PRINTABLE)) * 8 > len(chunk):  # mostly binary: byte by byte
        return "".join([t[b] for b in chunk])
    out: list[str] = []
    a = out.append
    p = 0
    for m in _RUN.finditer(chunk):
        s, e = m.span()
        if s > p:
            a("".join([t[b] for b in chunk[p:s]]))
        a(chunk[s:e].decode("ascii"))
        p = e
    a("".join([t[b] for b in chunk[p:]]))
    return "".join(out)


class TextSink(Protocol):
    """Where the printers stream their text: anything with ``write(str)`` (a text file,
    ``sys.stdout``, ``io.StringIO``)."""

    def write(self, s: str, /) -> object:
        """Take the next block of text."""


class Options:
    """What to print: ``fold`` (folded instructions), ``names`` (use the name section), ``offsets``
    (``(;@off;)`` before each line), ``skeleton`` (no bodies/segment contents), ``funcs`` (only these),
    ``jobs`` (1: never fork a second printing process)."""

    def __init__(self, fold: bool = False, names: bool = True, offsets: bool = False,
                 skeleton: bool = False, funcs: Iterable[int] | None = None,
                 jobs: int | None = None) -> None:
        self.fold: bool = fold
        #: processes for a big code section: 1 (one), None (two when it pays off)
        self.jobs: int | None = jobs
        self.names: bool = names
        self.offsets: bool = offsets
        self.skeleton: bool = skeleton
        self.funcs: Iterable[int] | None = funcs


class ModulePrinter:
    """Prints one module through ``write``; ``print_module()`` does the work."""

    def __init__(self, module: Any, write: Callable[[str], object], options: Options | None = None) -> None:
        self.m: Any = module
        self.data: bytes = module.data
        self.opts: Options = options or Options()
        self.write: Callable[[str], object] = write
        #: the binary file under ``write``, where ``write(s)`` is ``binary.write(s.encode())`` (see
        #: :func:`~wasmweld.text.print_module`): a second printing process's text is copied there as it is
        self.binary: BinaryIO | None = None
        self.buf: list[str] = []
        self.w: Callable[[str], object] = self.buf.append
        self.nesting: int = 0
        self.line: int = 0
        self.group_lines: list[int] = []
        self.names: Names = Names()
        self.types: list[SubType | None] = []     # None: a component type index that is not a core type
        self.tt: TypeText = TypeText(self.names, self.types)
        self.bp: BodyPrinter = BodyPrinter(self.names, self.tt)
        self.func_types: list[int] = []
        self.tag_types: list[Any] = []
        #: branch hints still to print (a stack, see custom.read_branch_hints)
        self.hints: list[Any] = []
        #: function index -> its branch hints, where the bodies are printed out of order (text/parallel.py)
        self.hint_map: dict[int, list[Any]] | None = None
        self._uses: dict[Any, Any] = {}  # type index -> (type use text, param count), functions without local names
        self._locals: dict[Any, Any] = {}  # local declaration bytes -> text, functions without local names
        self.counts: dict[ExternKind, int] = {k: 0 for k in ExternKind}
        self.place: str = "before first"
        #: what opens the module: ``core module $m (;0;)`` for one nested in a component (text/component.py)
        self.head: str = "module"

    # ------------------------------------------------------------------ output primitives
    def flush(self) -> None:
        if self.buf:
            self.write("".join(self.buf))
            self.buf.clear()

    def newline(self, offset: int | None) -> None:
        w = self.w
        if self.opts.offsets:
            w("\n(;@" + format(offset, "<6x") + ";)" if offset is not None else "\n           ")
        else:
            w("\n")
        self.line += 1
        w(self.bp.indent(self.nesting))

    def start_group(self, name: str) -> None:
        self.w("(" + name)
        self.nesting += 1
        self.group_lines.append(self.line)

    def end_group(self) -> None:
        self.nesting -= 1
        if self.group_lines and self.group_lines.pop() != self.line:
            self.newline(None)
        self.w(")")

    def end_group_at(self, offset: int) -> None:
        self.nesting -= 1
        start = self.group_lines.pop() if self.group_lines else None
        if self.opts.offsets or (start is not None and start != self.line):
            self.newline(offset)
        self.w(")")

    def name_def(self, space: dict[int, Naming], idx: int) -> str:
        n = space.get(idx)
        return f"(;{idx};)" if n is None else f"{n.defn} (;{idx};)"

    # ------------------------------------------------------------------ driver
    def print_module(self) -> None:
        m = self.m
        for s in m.sections:
            if s.id == 0 and s.name == "name" and self.opts.names:
                read_names(s.data, self.names)
            elif s.id == 0 and s.name == "metadata.code.branch_hint":
                self.hints = read_branch_hints(s.data, s.data_offset)
        only = self.opts.funcs is not None
        if only:  # only some functions: everything else is read for its state, not printed
            self.w = _discard
        self.start_group(self.head)
        if self.names.module is not None and self.head == "module":
            self.w(" " + self.names.module.defn)
        sections = list(m.sections)
        for k, s in enumerate(sections):
            if s.id == 10 and splits(self, s):  # a big code section: this and the rest with a second process
                bodies, _starts = _sections.DECODERS[10](self.data, s.payload_offset, s.end)
                print_split(self, bodies, self.counts[ExternKind.FUNC], sections[k + 1:])
                return
            self.section(s)
        self.finish()

    def section(self, s: Section) -> None:
        """Print one section (the name and branch-hint sections were read by :meth:`print_module`)."""
        if s.id == 0:
            self.custom(s)
        elif s.id == 8:
            self.newline(s.payload_offset)
            self.start_group("start ")
            func = _sections.decode_index_section(self.data, s.payload_offset, s.end)
            self.w(self.tt.idx(self.names.func, func))
            self.end_group()
            self.place = "after start"
        elif s.id != 12:
            items, starts = _sections.DECODERS[s.id](self.data, s.payload_offset, s.end)
            handlers = {1: self.types_section, 2: self.imports, 3: self.funcs_section, 4: self.tables,
                        5: self.memories, 13: self.tags, 6: self.globals_, 7: self.exports, 9: self.elems,
                        10: self.code, 11: self.datas}
            handlers[s.id](items, starts)
            if len(self.buf) > _FLUSH_AT:
                self.flush()

    def finish(self) -> None:
        """Close the module (after its last section) and write out what is left."""
        self.end_group_at(len(self.data))
        self.w("\n" if self.head == "module" else "")
        self.flush()

    def only_func(self, fidx: int, body: FuncBody) -> None:
        """``--func``: one function at the top level, on lines of its own."""
        self.w = self.buf.append
        saved, self.nesting = self.nesting, 0
        self.func(fidx, body, first=True)
        self.w("\n")
        self.nesting = saved
        self.w = _discard

    def after(self, items: list[Any], place: str) -> None:
        if items:
            self.place = place

    # ------------------------------------------------------------------ custom sections
    def custom(self, s: Section) -> None:
        if s.name == "name" or s.name == "metadata.code.branch_hint":
            return
        if s.name in ("producers", "dylink.0"):
            fn = producers_lines if s.name == "producers" else dylink0_lines
            lines = fn(s.data, s.data_offset)
            if lines is not None:
                self.newline(s.payload_offset)
                self.start_group("@" + s.name)
                for off, text in lines:
                    self.newline(off)
                    self.w(text)
                self.end_group()
                return
        self.newline(s.payload_offset)
        self.start_group('@custom "' + escape(s.name or "") + '"')
        self.w(f" ({self.place}) ")
        if self.opts.skeleton:
            self.w("...")
        else:
            write_bytes_literal(self, s.data)
        self.end_group()

    # ------------------------------------------------------------------ types
    def types_section(self, items: list[Any], starts: list[int]) -> None:
        for rg, off in zip(items, starts):
            self.newline(off)
            if rg.explicit:
                self.start_group("rec")
                for st in rg.types:
                    self.newline(off + 2)
                    self.type_def(st)
                self.end_group()
            else:
                self.type_def(rg.types[0])
        self.after(items, "after type")

    def type_def(self, st: SubType) -> None:
        idx = len(self.types)
        self.w("(type " + self.name_def(self.names.type, idx) + " ")
        self.types.append(st)
        self.w(self.sub_type(st, idx))
        self.w(")")

    def sub_type(self, st: SubType, idx: int) -> str:
        comp = self.comp_type(st.comp, idx)
        if st.final and not st.supers:
            return comp
        sup = "".join(self.tt.idx(self.names.type, s) + " " for s in st.supers)
        return f"(sub {'final ' if st.final else ''}{sup}{comp})"

    def comp_type(self, c: CompType, idx: int) -> str:
        from ..types import ArrayType, FuncType
        if isinstance(c, FuncType):
            return "(func" + self.tt.func_type(c) + ")"
        if isinstance(c, ArrayType):
            return "(array " + self.field_type(c.field) + ")"
        out = ["(struct"]
        for i, f in enumerate(c.fields):
            n = self.names.field.get((idx, i))
            out.append(" (field " + (n.ident + " " if n is not None else "") + self.field_type(f) + ")")
        out.append(")")
        return "".join(out)

    def field_type(self, f: FieldType) -> str:
        t = self.tt.val(f.storage)
        return f"(mut {t})" if f.mutable else t

    # ------------------------------------------------------------------ imports and definitions
    def imports(self, items: list[Any], starts: list[int]) -> None:
        entries = getattr(starts, "entries", None)  # compact-import groups, where the decoder reads them
        i = 0
        while i < len(items):
            if entries and entries[i][4]:
                i += self.import_group(items, entries[i])
                continue
            imp = items[i]
            self.newline(starts[i])
            self.w(f'(import "{escape(imp.module)}" "{escape(imp.name)}" ')
            self.w(self.extern_def(imp.kind, imp.desc))
            self.w(")")
            self.imported(imp)
            i += 1
        self.after(items, "after import")

    def imported(self, imp: Import) -> None:
        self.counts[imp.kind] += 1
        if imp.kind == ExternKind.FUNC:
            self.func_types.append(imp.desc)
        elif imp.kind == ExternKind.TAG:
            self.tag_types.append(imp.desc.type_idx)

    def import_group(self, items: list[Any], entry: Any) -> int:
        """A compact-imports entry: ``(import "m" (item "a" (func ...)) ...)`` with a type per item, or
        ``(import "m" (item "a") (item "b") (func (type 0)))`` sharing one; returns its import count."""
        first, count, start, end, form = entry
        group = items[first:first + count]
        offsets: list[int | None] = [None] * count
        if self.opts.offsets:
            offsets = [at for _imp, at, _e in _sections.read_import_entry(self.data, start, end)[1]]
        shared = form == getattr(_sections, "COMPACT_BY_TYPE", None)
        self.newline(start)
        self.start_group(f'import "{escape(group[0].module)}"')
        for imp, off in zip(group, offsets):
            self.newline(off)
            self.start_group(f'item "{escape(imp.name)}"')
            if not shared:
                self.w(" " + self.extern_def(imp.kind, imp.desc))
            self.end_group()
            self.imported(imp)
        if shared:
            self.newline(start)
            self.w(self.extern_def(group[0].kind, group[0].desc, index=False))
        self.end_group()
        return count

    def extern_def(self, kind: ExternKind, desc: Any, index: bool = True) -> str:
        """``(func (;0;) (type 0))``, ``(table (;0;) 1 funcref)``, ... for an import (index = next one;
        ``index=False``: without the name and index, the shared type of a compact import group)."""
        i = self.counts[kind] if index else None
        n = self.names
        if kind == ExternKind.FUNC:
            if i is None:
                return f"(func {self.tt.type_use(desc)[0]})"
            return f"(func {self.name_def(n.func, i)} {self.tt.type_use(desc, i)[0]})"
        if kind == ExternKind.TABLE:
            return self.table_type(desc, i) + ")"
        if kind == ExternKind.MEMORY:
            return self.memory_type(desc, i) + ")"
        if kind == ExternKind.GLOBAL:
            return self.global_type(desc, i) + ")"
        return self.tag_type(desc, i) + ")"

    def _def(self, space: dict[int, Naming], i: int | None) -> str:
        """``$name (;i;) `` where an item is defined; nothing for ``i`` None."""
        return "" if i is None else self.name_def(space, i) + " "

    def limits(self, lim: Limits) -> str:
        return f"{lim.min}" if lim.max is None else f"{lim.min} {lim.max}"

    def table_type(self, tt: TableType, i: int | None) -> str:
        lim = tt.limits
        pre = ("shared " if lim.shared else "") + ("i64 " if lim.is64 else "")
        return f"(table {self._def(self.names.table, i)}{pre}{self.limits(lim)} {self.tt.ref(tt.elem)}"

    def memory_type(self, mt: MemoryType, i: int | None) -> str:
        lim = mt.limits
        page = getattr(lim, "page_size_log2", None)  # custom-page-sizes, where the decoder reads it
        return (f"(memory {self._def(self.names.memory, i)}{'i64 ' if lim.is64 else ''}{self.limits(lim)}"
                f"{' shared' if lim.shared else ''}{'' if page is None else f' (pagesize {1 << page:#x})'}")

    def global_type(self, gt: GlobalType, i: int | None) -> str:
        t = self.tt.val(gt.val)
        return f"(global {self._def(self.names.global_, i)}{'(mut ' + t + ')' if gt.mutable else t}"

    def tag_type(self, tt: TagType, i: int | None) -> str:
        return f"(tag {self._def(self.names.tag, i)}{self.tt.type_use(tt.type_idx)[0]}"

    def funcs_section(self, items: list[Any], starts: list[int]) -> None:
        self.func_types.extend(items)
        self.after(items, "after func")

    def tables(self, items: list[Any], starts: list[int]) -> None:
        for t, off in zip(items, starts):
            self.newline(off)
            self.w(self.table_type(t.type, self.counts[ExternKind.TABLE]))
            if t.init is not None:
                self.w(" ")
                self.const_expr(t.init, self.opts.fold)
            self.w(")")
            self.counts[ExternKind.TABLE] += 1
        self.after(items, "after table")

    def memories(self, items: list[Any], starts: list[int]) -> None:
        for mt, off in zip(items, starts):
            self.newline(off)
            self.w(self.memory_type(mt, self.counts[ExternKind.MEMORY]) + ")")
            self.counts[ExternKind.MEMORY] += 1
        self.after(items, "after memory")

    def tags(self, items: list[Any], starts: list[int]) -> None:
        for t, off in zip(items, starts):
            self.newline(off)
            self.w(self.tag_type(t.type, self.counts[ExternKind.TAG]) + ")")
            self.tag_types.append(t.type.type_idx)
            self.counts[ExternKind.TAG] += 1
        self.after(items, "after tag")

    def globals_(self, items: list[Any], starts: list[int]) -> None:
        for g, off in zip(items, starts):
            self.newline(off)
            self.w(self.global_type(g.type, self.counts[ExternKind.GLOBAL]) + " ")
            self.const_expr(g.init, self.opts.fold)
            self.w(")")
            self.counts[ExternKind.GLOBAL] += 1
        self.after(items, "after global")

    def exports(self, items: list[Any], starts: list[int]) -> None:
        n = self.names
        spaces = {ExternKind.FUNC: n.func, ExternKind.TABLE: n.table, ExternKind.MEMORY: n.memory,
                  ExternKind.GLOBAL: n.global_}
        for e, off in zip(items, starts):
            self.newline(off)
            space = spaces.get(e.kind)
            ref = str(e.index) if space is None else self.tt.idx(space, e.index)
            self.w(f'(export "{escape(e.name)}" ({e.kind} {ref}))')
        self.after(items, "after export")

    # ------------------------------------------------------------------ constant expressions
    def const_expr(self, ce: ConstExpr, fold: bool) -> None:
        instrs = ce.instrs[:-1]
        if fold:
            from .fold import fold_const_expr
            fold_const_expr(self, instrs)
        else:
            self.bp.flat(self.w, instrs, -1, self.nesting, sep_space=True)

    def const_sugar(self, ce: ConstExpr, explicit: str) -> None:
        self.start_group("")
        instrs = ce.instrs
        if len(instrs) > 2:
            self.w(explicit + " ")
            self.const_expr(ce, self.opts.fold)
        else:
            self.const_expr(ce, False)
        self.end_group()

    # ------------------------------------------------------------------ segments
    def elems(self, items: list[Any], starts: list[int]) -> None:
        n = self.names
        for i, (e, off) in enumerate(zip(items, starts)):
            self.newline(off)
            self.start_group("elem ")
            self.w(self.name_def(n.elem, i))
            if e.mode == "declarative":
                self.w(" declare")
            elif e.mode == "active":
                if e.flags is not None and e.flags & 2:
                    self.w(f" (table {self.tt.idx(n.table, e.table)})")
                self.w(" ")
                self.const_sugar(e.offset, "offset")
            self.w(" ")
            if self.opts.skeleton:
                self.w("...")
            elif e.flags is not None and e.flags & 4 == 0:
                self.w("func" + "".join(" " + self.tt.idx(n.func, f) for f in e.init))
            else:
                self.w(self.tt.ref(e.elem_type))
                for ce in e.init:
                    self.w(" ")
                    self.const_sugar(ce, "item")
            self.end_group()
        self.after(items, "after elem")

    def datas(self, items: list[Any], starts: list[int]) -> None:
        n = self.names
        for i, (d, off) in enumerate(zip(items, starts)):
            self.newline(off)
            self.start_group("data ")
            self.w(self.name_def(n.data, i) + " ")
            if d.mode == "active":
                if d.memory != 0:
                    self.w(f"(memory {self.tt.idx(n.memory, d.memory)}) ")
                self.const_sugar(d.offset, "offset")
                self.w(" ")
            if self.opts.skeleton:
                self.w("...")
            else:
                write_bytes_literal(self, d.init)
            self.end_group()
        self.after(items, "after data")

    # ------------------------------------------------------------------ code
    def code(self, bodies: list[FuncBody], starts: list[int]) -> None:
        self.print_bodies(bodies, 0, len(bodies), self.counts[ExternKind.FUNC])
        if bodies:
            self.place = "after code"

    def print_bodies(self, bodies: list[FuncBody], start: int, stop: int, nimp: int) -> None:
        """Print ``bodies[start:stop]`` (function indices from ``nimp + start``)."""
        wanted = self.opts.funcs
        for i in range(start, stop):
            fidx = nimp + i
            if wanted is None:
                self.func(fidx, bodies[i])
            elif fidx in wanted:
                self.only_func(fidx, bodies[i])
            else:
                self.skip_hints(fidx)
            if len(self.buf) > _FLUSH_AT:
                self.flush()

    def skip_hints(self, fidx: int) -> None:
        """A function not printed: its branch hints go, as if it had been printed."""
        self.take_hints(fidx)

    def take_hints(self, fidx: int) -> list[Any] | None:
        """The branch hints printed in function ``fidx`` (functions are taken in order, or looked up
        in :attr:`hint_map` when the bodies are printed in parts)."""
        if self.hint_map is not None:
            return self.hint_map.get(fidx)
        if self.hints and self.hints[-1][0] == fidx:
            return self.hints.pop()[1]
        return None

    def func(self, fidx: int, body: FuncBody, first: bool = False) -> None:
        if fidx >= len(self.func_types):
            raise WasmError(f"function {fidx} has no type")
        if not first:
            self.newline(body.offset)
        self.start_group("func ")
        plain = fidx not in self.names.local_funcs  # no parameter/local names: texts can be shared
        tyidx = self.func_types[fidx]
        use = self._uses.get(tyidx) if plain else None
        if use is None:
            use = self.tt.type_use(tyidx, fidx)
            if plain:
                self._uses[tyidx] = use
        self.w(self.name_def(self.names.func, fidx) + " " + use[0])
        if self.opts.skeleton:
            self.skip_hints(fidx)
            self.w(" ...")
            self.end_group()
            return
        raw = body.raw
        base = body.offset or 0
        if body.decoded:
            locals_, instrs = body.locals, body.instrs
            locals_end = _locals_len(raw, instrs)
        else:  # decode without keeping the instructions on the body: memory stays bounded
            locals_, locals_end = decode_locals(raw, 0, len(raw), base)
            instrs, q = decode_expr(raw, locals_end, len(raw), base)
            if q != len(raw):
                raise DecodeError("operators remaining after end of function body", base + q)
        if sum(c for c, _t in locals_) > MAX_LOCALS:
            raise WasmError(f"function {fidx} exceeds the maximum number of locals that can be printed"
                            f" ({MAX_LOCALS}, as in wasm-tools)")
        if locals_ and any(c for c, _t in locals_):
            self.newline(base + _first_local_offset(raw) if self.opts.offsets else None)
            key = raw[:locals_end] if plain else None
            text = self._locals.get(key) if plain else None
            if text is None:
                text = self.bp.locals_text(fidx, use[1], locals_)
                if plain:
                    self._locals[key] = text
            self.w(text)
        hints = self.take_hints(fidx)
        if self.opts.fold:
            from .fold import fold_body
            fold_body(self, fidx, instrs[:-1], base + locals_end, hints, base)
        else:
            if len(instrs) > 1:
                self.line += 1
            self.bp.flat(self.w, instrs[:-1], fidx, self.nesting, base + locals_end if self.opts.offsets else None,
                         hints=hints, start=base + locals_end, body_start=base)
        self.end_group_at(base + len(raw) - 1)


def _discard(_text: str) -> None:
    pass


def _locals_len(raw: bytes, instrs: list[Any]) -> int:
    """Bytes taken by the local declarations (the body minus its instructions)."""
    return len(raw) - sum(len(i[2]) for i in instrs)


def _first_local_offset(raw: bytes) -> int:
    """Offset in ``raw`` of the first local declaration with a non-zero count (wasm-tools' line offset)."""
    n, p = read_u32(raw, 0, len(raw))
    for _ in range(n):
        at = p
        count, p = read_u32(raw, p, len(raw))
        if count:
            return at
        _t, p = decode_valtype(raw, p, len(raw))
    return p


