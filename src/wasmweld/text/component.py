"""The component printer: a component binary as text, byte for byte what ``wasm-tools print`` writes.

Items are printed in file order, one per line; nested core modules go through the
module printer (:class:`~wasmweld.text.printer.ModulePrinter`) one level deeper;
identifiers come from the ``component-name`` custom section::

    (component $app
      (core module $m (;0;)
        (func (;0;) (result i32)
          i32.const 7
        )
        (export "f" (func 0))
      )
      (core instance $i (;0;) (instantiate $m))
      (type (;0;) (func (result s32)))
      (alias core export $i "f" (core func (;0;)))
      (func (;0;) (type 0) (canon lift (core func 0)))
      (export (;1;) "f" (func 0))
    )

:func:`print_component` streams the text to a file object; :func:`component_to_wat`
returns it as a string (``Component.to_wat()``). Options as for modules: ``fold``,
``offsets`` (absolute offsets, nested modules' too), ``skeleton``, ``names``
(``funcs`` is for modules only).
"""

from __future__ import annotations

import io
import re
from types import SimpleNamespace
from typing import Any, Callable

from ..binary.leb import read_u32
from ..binary.reader import decode_name
from ..component import codec
from ..component import types as T
from ..errors import DecodeError, WasmError
from .code import MAX_NESTING_TO_PRINT
from .custom import dylink0_lines, producers_lines
from .names import Naming, escape, read_name_map, read_names
from .printer import ModulePrinter, Options, TextSink, bytes_literal
from ..binary.leb import ByteData

__all__ = ["print_component", "component_to_wat", "ComponentPrinter"]

_FLUSH_AT = 1 << 12
_NO_MODULE = SimpleNamespace(data=b"")
_INDENT = ["  " * n for n in range(MAX_NESTING_TO_PRINT + 1)]
#: core sort -> (names attribute of the core Names / the state, counter)
_CORE_SPACES = {"core func": "func", "core table": "table", "core memory": "memory", "core global": "global_",
                "core tag": "tag"}
_CORE_KINDS = ("func", "table", "memory", "global", "tag")
_COMPONENT_SPACES = ("func", "value", "type", "component", "instance")
#: component-name section: sort byte(s) -> (space, synthetic name group)
_NAME_SORTS = {
    (0, 0x00): ("core func", "core-func"), (0, 0x01): ("core table", "core-table"),
    (0, 0x02): ("core memory", "core-memory"), (0, 0x03): ("core global", "core-global"),
    (0, 0x04): ("core tag", "core-tag"), (0, 0x10): ("core type", "core-type"),
    (0, 0x11): ("core module", "core-module"), (0, 0x12): ("core instance", "core-instance"),
    (1,): ("func", "func"), (2,): ("value", "value"), (3,): ("type", "type"), (4,): ("component", "component"),
    (5,): ("instance", "instance"),
}
_BOOL_WORD = {"subtask.cancel": " async", "stream.cancel-read": " async", "stream.cancel-write": " async",
              "future.cancel-read": " async", "future.cancel-write": " async"}
_TYPE_ARG = {"resource.new", "resource.drop", "resource.rep", "stream.new", "stream.read", "stream.write",
             "stream.cancel-read", "stream.cancel-write", "stream.drop-readable", "stream.drop-writable",
             "future.new", "future.read", "future.write", "future.cancel-read", "future.cancel-write",
             "future.drop-readable", "future.drop-writable"}
_OP_TEXT = {"thread.available-parallelism": "thread.available_parallelism"}
#: custom sections that are read for names (or ignored) rather than printed
_HIDDEN = ("component-name", "name", "metadata.code.branch_hint")
_LINE_OFFSET = re.compile(r"\n\(;@([0-9a-f]+) *;\)")


class State:
    """One index-space scope: a component, or a component/instance/module type being declared.

    ``core`` is a module printer used for the core spaces (its ``names``, ``types`` and type texts);
    ``names[space]`` / ``counts[space]`` hold the rest (``"func"``, ``"core module"``, ...)."""

    def __init__(self, opts: Options) -> None:
        self.core: ModulePrinter = ModulePrinter(_NO_MODULE, _discard, opts)
        cn = self.core.names
        self.names: dict[str, dict[Any, Naming]] = {"core func": cn.func, "core table": cn.table, "core memory": cn.memory,
                                       "core global": cn.global_, "core tag": cn.tag, "core type": cn.type,
                                       "core module": {}, "core instance": {}}
        for s in _COMPONENT_SPACES:
            self.names[s] = {}
        self.counts: dict[str, int] = {s: 0 for s in self.names if s != "core type"}
        #: the component's own name (used by outer aliases)
        self.name: Naming | None = None

    def ntypes(self) -> int:
        """The number of core types defined so far."""
        return len(self.core.types)


def read_component_names(data: ByteData, state: State) -> None:
    """Add the names of a ``component-name`` payload to ``state``, as wasmparser reads them: a malformed
    part ends the reading and the names read before it stay."""
    pos, end = 0, len(data)
    try:
        while pos < end:
            sid = data[pos]
            size, p = read_u32(data, pos + 1, end)
            if size > end - p:
                return
            q = p + size
            if sid == 0:
                name, r = decode_name(data, p, q)
                if r != q:
                    return
                state.name = Naming(name, 0, "component", None)
            elif sid == 1 and p < q:
                key = (data[p],) if data[p] != 0 else (0, data[p + 1] if p + 1 < q else -1)
                spec = _NAME_SORTS.get(key)
                if spec is not None:
                    read_name_map(data, p + len(key), q, state.names[spec[0]], spec[1])
            pos = q
    except DecodeError:
        pass


def _discard(_text: str) -> None:
    pass


def _plain_module(m: Any):
    """The module as it is now: an unchanged one as is, a changed one read back from its encoding."""
    data = m.encode()
    return m if data is m.data else type(m).parse(data)


class ComponentPrinter:
    """Prints one component through ``write``; ``print()`` does the work."""

    def __init__(self, component: Any, write: Callable[[str], object], options: Options | None = None) -> None:
        self.c: Any = component
        self.write: Callable[[str], object] = write
        self.opts: Options = options or Options()
        if self.opts.funcs is not None:
            raise WasmError("--func is not supported for components")
        self.buf: list[str] = []
        self.w: Callable[[str], object] = self.buf.append
        self.nesting: int = 0
        self.line: int = 0
        self.group_lines: list[int] = []
        self.states: list[State] = []
        #: offset of the item being printed (its continuation lines show it too, with --offsets)
        self.at: int | None = None
        self.at_data: int = 0  # where the data of the custom section being printed starts

    # ------------------------------------------------------------------ output primitives
    def flush(self) -> None:
        if self.buf:
            self.write("".join(self.buf))
            self.buf.clear()

    def newline(self, offset: int | None = None) -> None:
        if self.opts.offsets:
            self.w("\n(;@" + format(offset, "<6x") + ";)" if offset is not None else "\n           ")
        else:
            self.w("\n")
        self.w(_INDENT[min(self.nesting, MAX_NESTING_TO_PRINT)])
        self.line += 1

    def start_group(self, name: str) -> None:
        self.w("(" + name)
        self.nesting += 1
        self.group_lines.append(self.line)

    def end_group(self) -> None:
        self.nesting -= 1
        if self.group_lines and self.group_lines.pop() != self.line:
            self.newline()
        self.w(")")

    def name_def(self, st: State, space: str, idx: int | None = None) -> str:
        """``$name (;i;)`` for the next item of ``space`` (or item ``idx``)."""
        if idx is None:
            idx = st.ntypes() if space == "core type" else st.counts[space]
        n = st.names[space].get(idx)
        return f"(;{idx};)" if n is None else f"{n.defn} (;{idx};)"

    def define(self, st: State, space: str) -> str:
        """:meth:`name_def` of the next item of ``space``, counted."""
        text = self.name_def(st, space)
        if space == "core type":
            st.core.types.append(None)
        else:
            st.counts[space] += 1
        return text

    @staticmethod
    def idx(st: State, space: str, i: int) -> str:
        n = st.names[space].get(i)
        return str(i) if n is None else n.ident

    # ------------------------------------------------------------------ driver
    def print(self) -> None:
        c = self.c
        if self.opts.offsets:  # offsets of the component as it encodes now
            c = type(c).parse(c.encode())
        self.component(c, None)
        self.w("\n")
        self.flush()

    def component(self, c: Any, parent: State | None) -> None:
        st = State(self.opts)
        if self.opts.names:
            for cs in c.customs:
                if cs.name == "component-name":
                    read_component_names(cs.data, st)
                elif cs.name == "name":
                    read_names(cs.data, st.core.names)
        if parent is None:
            self.start_group("component")
            if st.name is not None:
                self.w(" " + st.name.defn)
        else:
            self.start_group("component " + self.define(parent, "component"))
        self.states.append(st)
        handlers: dict[int, Callable[[State, Any], None]] = {0: self.custom, 1: self.module, 2: self.core_instance, 3: self.core_type_item,
                    4: self.nested, 5: self.instance, 6: self.alias_item, 7: self.type_item, 8: self.canon,
                    9: self.start, 10: self.import_, 11: self.export}
        for sid, item, at, at_data in _entries(c, self.opts.offsets):
            if sid == 0 and item.name in _HIDDEN:  # read above, not printed
                continue
            self.at, self.at_data = at, at_data
            self.newline(at)
            handlers[sid](st, item)
            if len(self.buf) > _FLUSH_AT:
                self.flush()
        self.states.pop()
        self.nesting -= 1
        if self.group_lines.pop() != self.line or self.opts.offsets:
            secs = c.sections if self.opts.offsets else ()
            self.newline(secs[-1].end if secs else c.offset + 8)
        self.w(")")

    def nested(self, st: State, c: Any) -> None:
        self.component(c, st)

    def module(self, st: State, m: Any) -> None:
        self.flush()
        write = self.write
        if self.opts.offsets:  # the module printer's offsets are the module's own: made absolute
            base = self.at
            assert base is not None         # set for every item when offsets are printed
            sub = _LINE_OFFSET.sub

            def write(text: str) -> None:
                self.write(sub(lambda g: f"\n(;@{int(g.group(1), 16) + base:<6x};)", text))
        pr = ModulePrinter(_plain_module(m), write, self.opts)
        pr.head = "core module " + self.define(st, "core module")
        pr.nesting = self.nesting
        pr.print_module()

    def custom(self, st: State, cs: Any) -> None:
        if cs.name in ("producers", "dylink.0"):
            fn = producers_lines if cs.name == "producers" else dylink0_lines
            lines = fn(cs.data, self.at_data)
            if lines is not None:
                self.start_group("@" + cs.name)
                for off, text in lines:
                    self.newline(off if self.opts.offsets else None)
                    self.w(text)
                self.end_group()
                return
        self.start_group('@custom "' + escape(cs.name) + '" ')
        self.w("..." if self.opts.skeleton else bytes_literal(cs.data))
        self.end_group()

    # ------------------------------------------------------------------ core instances and types
    def core_instance(self, st: State, inst: Any) -> None:
        self.start_group("core instance " + self.define(st, "core instance"))
        if isinstance(inst, T.CoreInstantiate):
            self.w(" ")
            self.start_group("instantiate " + self.idx(st, "core module", inst.module))
            for a in inst.args:
                self.newline(self.at)
                self.w(f'(with "{escape(a.name)}" (instance {self.idx(st, "core instance", a.index)}))')
            self.end_group()
        else:
            for e in inst.exports:
                self.newline(self.at)
                kind = _CORE_KINDS[e.kind]
                ref = str(e.index) if kind == "tag" else self.idx(st, "core " + kind, e.index)
                self.w(f'(export "{escape(e.name)}" ({kind} {ref}))')
        self.end_group()

    def core_type_item(self, st: State, ct: Any) -> None:
        if isinstance(ct, T.CoreRecGroup):
            self.rec(st, ct.group, True)
            return
        self.start_group("core type " + self.name_def(st, "core type"))
        self.module_type(ct)
        self.end_group()
        st.core.types.append(None)

    def rec(self, st: State, group: Any, in_component: bool) -> None:
        if group.explicit:
            self.start_group("core rec" if in_component else "rec")
            for sub in group.types:
                self.newline()
                self.core_typedef(st, sub, "type ")
            self.end_group()
        else:
            self.core_typedef(st, group.types[0], "core type " if in_component else "type ")

    def core_typedef(self, st: State, sub: Any, head: str) -> None:
        i = st.ntypes()
        self.w("(" + head + self.name_def(st, "core type", i) + " " + st.core.sub_type(sub, i) + ")")
        st.core.types.append(sub)

    def module_type(self, mt: Any) -> None:
        st = State(self.opts)
        self.states.append(st)
        self.newline()
        self.start_group("module")
        for d in mt.decls:
            self.newline()
            if isinstance(d, T.CoreTypeDecl):
                self.rec(st, d.group, False)
            elif isinstance(d, T.CoreOuterAlias):
                self.outer_alias_prefix(d.count)
                outer = self.outer(d.count)
                self.w(f"{self.idx(outer, 'core type', d.index)} (type {self.name_def(st, 'core type')}))")
                st.core.types.append(None)
            elif isinstance(d, T.CoreImport):
                self.w(f'(import "{escape(d.module)}" "{escape(d.name)}" {self.core_import_ty(st, d.kind, d.desc)})')
            else:
                self.w(f'(export "{escape(d.name)}" {self.core_import_ty(st, d.kind, d.desc)})')
        self.end_group()
        self.states.pop()

    @staticmethod
    def core_import_ty(st: State, kind: int, desc: Any) -> str:
        core = st.core
        if kind == 0:
            return f"(func {core.tt.type_use(desc)[0]})"
        if kind == 1:
            return core.table_type(desc, None) + ")"
        if kind == 2:
            return core.memory_type(desc, None) + ")"
        if kind == 3:
            return core.global_type(desc, None) + ")"
        return core.tag_type(desc, None) + ")"

    # ------------------------------------------------------------------ outer aliases
    def outer(self, count: int) -> State:
        if count >= len(self.states):
            return State(self.opts)
        return self.states[-count - 1]

    def outer_alias_prefix(self, count: int) -> None:
        if count >= len(self.states):
            self.w(f"(; invalid outer alias count {count} ;) ")
        outer = self.outer(count)
        self.w("(alias outer " + (outer.name.defn if outer.name is not None else str(count)) + " ")

    # ------------------------------------------------------------------ component instances and aliases
    def instance(self, st: State, inst: Any) -> None:
        self.start_group("instance " + self.define(st, "instance"))
        if isinstance(inst, T.ComponentInstantiate):
            self.w(" ")
            self.start_group("instantiate " + self.idx(st, "component", inst.component))
            for a in inst.args:
                self.newline(self.at)
                self.w(f'(with "{escape(a.name)}" {self.sort_ref(st, a.sort, a.index)})')
            self.end_group()
        else:
            for e in inst.exports:
                self.newline(self.at)
                self.export(st, e, named=False)
        self.end_group()

    def sort_ref(self, st: State, sort: str, index: int) -> str:
        return f"({sort} {self.idx(st, sort, index)})"

    def alias_item(self, st: State, a: Any) -> None:
        self.alias(a)

    def alias(self, a: Any) -> None:
        st = self.states[-1]
        if isinstance(a, T.InstanceExportAlias):
            if a.sort.startswith("core") and a.sort != "core module":
                head = f'(alias core export {self.idx(st, "core instance", a.instance)} "{escape(a.name)}" '
            else:
                head = f'(alias export {self.idx(st, "instance", a.instance)} "{escape(a.name)}" '
            self.w(f"{head}({a.sort} {self.define(st, a.sort)}))")
            return
        self.outer_alias_prefix(a.count)
        outer = self.outer(a.count)
        self.w(f"{self.idx(outer, a.sort, a.index)} ({a.sort} {self.define(st, a.sort)}))")

    # ------------------------------------------------------------------ component types
    def type_item(self, st: State, t: Any) -> None:
        self.typedef(t)

    def typedef(self, t: Any) -> None:
        st = self.states[-1]
        self.start_group("type " + self.name_def(st, "type"))
        if isinstance(t, (T.ComponentType, T.InstanceType)):
            self.decl_type(t)
        elif isinstance(t, T.FuncType):
            self.w(" " + self.func_type(st, t))
        elif isinstance(t, T.ResourceType):
            rep: Any = t.rep            # a core value type (i32)
            self.w(f" (resource (rep {st.core.tt.val(rep)})")
            if t.dtor is not None:
                self.w(f" (dtor {self.idx(st, 'core func', t.dtor)})")
            self.w(")")
        else:
            self.w(" " + self.defined(st, t))
        self.end_group()
        st.counts["type"] += 1

    def decl_type(self, t: Any) -> None:
        st = State(self.opts)
        self.states.append(st)
        self.newline()
        self.start_group("component" if isinstance(t, T.ComponentType) else "instance")
        for d in t.decls:
            self.newline()
            if isinstance(d, T.TypeDecl):
                if d.kind == "core type":
                    self.core_type_item(st, d.item)
                elif d.kind == "type":
                    self.typedef(d.item)
                else:
                    self.alias(d.item)
            elif isinstance(d, T.DeclImport):
                self.w(f"(import {self.extern_name(d.name)} {self.import_ty(st, d.desc, True)})")
            else:
                kind = self.define(st, d.desc.sort)
                self.w(f"(export {kind} {self.extern_name(d.name)} {self.import_ty(st, d.desc, False)})")
        self.end_group()
        self.states.pop()

    def val(self, st: State, t: Any) -> str:
        return t if isinstance(t, str) else self.idx(st, "type", t)

    def func_type(self, st: State, f: T.FuncType) -> str:
        out = ["(func async" if f.is_async else "(func"]
        for name, t in f.params:
            out.append(f' (param "{escape(name)}" {self.val(st, t)})')
        if f.result is not None:
            out.append(f" (result {self.val(st, f.result)})")
        return "".join(out) + ")"

    def defined(self, st: State, t: Any) -> str:
        v = self.val
        k = type(t)
        if k is T.Primitive:
            return t.name
        if k is T.Record:
            return "(record" + "".join(f' (field "{escape(n)}" {v(st, ft)})' for n, ft in t.fields) + ")"
        if k is T.Variant:
            return "(variant" + "".join(
                f' (case "{escape(c.name)}"' + ("" if c.type is None else " " + v(st, c.type)) + ")"
                for c in t.cases) + ")"
        if k is T.List:
            return f"(list {v(st, t.element)}" + ("" if t.length is None else f" {t.length}") + ")"
        if k is T.Map:
            return f"(map {v(st, t.key)} {v(st, t.value)})"
        if k is T.Tuple:
            return "(tuple" + "".join(" " + v(st, x) for x in t.types) + ")"
        if k is T.Flags or k is T.Enum:
            return f"({'flags' if k is T.Flags else 'enum'}" + "".join(f' "{escape(n)}"' for n in t.names) + ")"
        if k is T.Option:
            return f"(option {v(st, t.type)})"
        if k is T.Result:
            return ("(result" + ("" if t.ok is None else " " + v(st, t.ok))
                    + ("" if t.err is None else f" (error {v(st, t.err)})") + ")")
        if k is T.Own or k is T.Borrow:
            return f"({'own' if k is T.Own else 'borrow'} {self.idx(st, 'type', t.resource)})"
        word = "future" if k is T.Future else "stream"
        return f"({word}" + ("" if t.type is None else " " + v(st, t.type)) + ")"

    # ------------------------------------------------------------------ imports, exports, names
    @staticmethod
    def extern_name(n: T.ExternName) -> str:
        out = [f'"{escape(n.name)}"']
        for code, word in ((0, "implements"), (1, "versionsuffix"), (2, "external-id")):
            text = n.option(code)
            if text is not None:
                out.append(f' ({word} "{escape(text)}")')
        return "".join(out)

    def import_ty(self, st: State, d: T.ExternDesc, index: bool) -> str:
        sort = d.sort
        ref: Any = d.ref        # a type index, a ValType (value) or a TypeBound (type)
        name = self.define(st, sort) + " " if index else ""
        if sort == "core module":
            return f"(core module {name}(type {self.idx(st, 'core type', ref)}))"
        if sort == "value":
            return f"(value {name}{ref if isinstance(ref, str) else '(type ' + self.val(st, ref) + ')'})"
        if sort == "type":
            b = ref
            bound = "(sub resource)" if b.index is None else f"(eq {self.idx(st, 'type', b.index)})"
            return f"(type {name}{bound})"
        return f"({sort} {name}(type {self.idx(st, 'type', ref)}))"

    def import_(self, st: State, imp: T.Import) -> None:
        self.w(f"(import {self.extern_name(imp.name)} {self.import_ty(st, imp.desc, True)})")

    def export(self, st: State, e: T.Export, named: bool = True) -> None:
        self.w("(export ")
        if named:
            self.w(self.define(st, e.sort) + " ")
        self.w(self.extern_name(e.name) + " " + self.sort_ref(st, e.sort, e.index))
        if e.desc is not None:
            self.w(" " + self.import_ty(st, e.desc, False))
        self.w(")")

    def start(self, st: State, s: T.Start) -> None:
        self.w("(start " + self.idx(st, "func", s.func))
        for a in s.args:
            self.w(f" (value {self.idx(st, 'value', a)})")
        for _ in range(s.results):
            self.w(f" (result (value {self.define(st, 'value')}))")
        self.w(")")

    # ------------------------------------------------------------------ canonical definitions
    def options(self, st: State, opts: Any) -> str:
        out = []
        for o in opts or ():
            n = o.name
            if n in ("utf8", "utf16", "latin1+utf16"):
                out.append(" string-encoding=" + n)
            elif n == "memory":
                out.append(f" (memory {self.idx(st, 'core memory', o.index)})")
            elif n in ("realloc", "post-return", "callback"):
                out.append(f" ({n} {self.idx(st, 'core func', o.index)})")
            elif n == "core-type":
                out.append(f" (core-type {self.idx(st, 'core type', o.index)})")
            else:
                out.append(" " + n)
        return "".join(out)

    def canon(self, st: State, c: T.Canon) -> None:
        op, args = c.op, c.args
        if op == "lift":
            self.w(f"(func {self.define(st, 'func')} (type {self.idx(st, 'type', args[1])}) (canon lift "
                   f"(core func {self.idx(st, 'core func', args[0])}){self.options(st, c.options)}))")
            return
        self.w(f"(core func {self.name_def(st, 'core func')} (canon {_OP_TEXT.get(op, op)}"
               f"{self.canon_body(st, c)}))")
        st.counts["core func"] += 1

    def canon_body(self, st: State, c: T.Canon) -> str:
        op, args = c.op, c.args
        opts = self.options(st, c.options)
        if op == "lower":
            return f" (func {self.idx(st, 'func', args[0])}){opts}"
        if op in _TYPE_ARG:
            text = " " + self.idx(st, "type", args[0])
            if len(args) > 1 and args[1]:
                text += _BOOL_WORD[op]
            return text + opts
        if op == "task.return":
            return ("" if args[0] is None else f" (result {self.val(st, args[0])})") + opts
        if op in ("context.get", "context.set"):
            return f" {st.core.tt.val(args[0])} {args[1]}"
        if op in ("waitable-set.wait", "waitable-set.poll"):
            return " " + ("cancellable " if args[0] else "") + f"(memory {self.idx(st, 'core memory', args[1])})"
        if op in ("thread.spawn-ref",):
            return " " + self.idx(st, "core type", args[0])
        if op in ("thread.spawn-indirect", "thread.new-indirect"):
            return f" {self.idx(st, 'core type', args[0])} {self.idx(st, 'core table', args[1])}"
        if op == "subtask.cancel":
            return " async" if args[0] else ""
        if args and args[0] is True:  # thread.yield, thread.suspend...: cancellable
            return " cancellable"
        return opts


def _entries(c: Any, offsets: bool):
    """``(section id, item, offset, custom data offset)`` for every item of ``c`` in file order (offsets with ``offsets``:
    where each item starts; a module's, component's, start's or custom section's payload)."""
    if not offsets:
        for sid, item in c.items():
            yield sid, item, None, 0
        return
    for i, sec in enumerate(c.sections):
        if sec.id in codec.ITEM_READERS:
            for item, start, _end in c.section_spans(i):
                yield sec.id, item, start, 0
        else:
            yield sec.id, c.section_value(i), sec.payload_offset, sec.data_offset


def print_component(component: Any, file: TextSink, *, fold: bool = False, names: bool = True, offsets: bool = False,
                    skeleton: bool = False, jobs: int | None = None) -> None:
    """Write ``component`` (a :class:`~wasmweld.component.Component`) as text to ``file`` (anything with
    ``write(str)``); nested core modules as the module printer prints them (``fold``, ``offsets``,
    ``skeleton``)."""
    opts = Options(fold=fold, names=names, offsets=offsets, skeleton=skeleton, jobs=jobs)
    ComponentPrinter(component, file.write, opts).print()


def component_to_wat(component: Any, **options: Any) -> str:
    """``component`` as one string of text; options as for :func:`print_component`."""
    buf = io.StringIO()
    print_component(component, buf, **options)
    return buf.getvalue()
