"""The :class:`Component` model: a component binary, lazily decoded, written back byte for byte.

A component is the preamble ``00 61 73 6d 0d 00 01 00`` (version 0x0d, layer 1)
followed by sections ``id:u8 size:u32 payload``; unlike a core module, sections
may repeat and come in any order, and two of them hold whole binaries (id 1 a
core module, id 4 a nested component)::

    (component
      (core module $m (func (export "f") (result i32) i32.const 7))   ;; section 1
      (core instance $i (instantiate $m))                              ;; section 2
      (func (export "f") (result s32) (canon lift (core func $i "f")))) ;; 6 (alias), 7 (type), 8, 11

``parse`` cuts the input into sections (nested components too) and decodes items
on first access; ``encode()`` copies every section that was not changed, and
re-encodes only changed items of changed sections. ``c.modules`` are
:class:`~wasmweld.module.Module` objects (lazy too); ``c.replace_module(i, m)``
puts a new core module in place, everything else staying byte-identical.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..binary.leb import read_u32, write_u
from ..binary.reader import COMPONENT_PREAMBLE, COMPONENT_VERSION, Reader, Section, decode_name, is_component
from ..errors import DecodeError
from ..module import CustomSection, Module
from ..module import parse as parse_module
from . import codec
from .types import Alias, Canon, CoreInstance, CoreType, Export, Import, Instance, Start, TypeDef

__all__ = ["COMPONENT_VERSION", "COMPONENT_PREAMBLE", "MAX_NESTING", "ComponentSection", "Component",
           "parse_component", "is_component", "component_type_sections"]

#: deepest nesting of components inside components accepted
MAX_NESTING = 100


class ComponentSection(Section):
    """One section of the input: ``id``, absolute ``offset`` (id byte), ``payload_offset``, ``end``;
    ``name`` and ``data_offset`` for custom sections. ``raw`` / ``payload`` are memoryviews."""

    __slots__ = ()

    @property
    def kind(self) -> str:
        return codec.SECTION_NAMES.get(self.id, f"unknown({self.id})")

    def __repr__(self) -> str:
        extra = f" {self.name!r}" if self.id == 0 else ""
        return f"<ComponentSection {self.kind}{extra} at 0x{self.offset:x}, {self.size} bytes>"


def _shift(e: DecodeError, base: int, what: str) -> DecodeError:
    """The error of a nested binary with its offset made absolute."""
    off = None if e.offset is None else e.offset + base
    ctx = e.context if e.context else what
    return DecodeError(e.message, off, ctx if e.context is None else f"{ctx} in {what}")


class _Entry:
    """One section of a component: the input section (None for a new one) and what was decoded."""

    __slots__ = ("sec", "id", "items", "orig", "spans", "value", "orig_value")

    def __init__(self, sec: ComponentSection | None, sid: int):
        self.sec = sec
        self.id = sid
        self.items: list | None = None      # vector sections
        self.orig: tuple = ()
        self.spans: dict[int, tuple[int, int]] = {}
        self.value: Any = None              # Module, Component, Start or CustomSection
        self.orig_value: Any = None


class Component:
    """A WebAssembly component. ``Component()`` is empty; :func:`parse_component` reads one."""

    def __init__(self) -> None:
        self._buf: bytes = COMPONENT_PREAMBLE
        self._start = 0
        self._end = 8
        self._depth = 0
        self._entries: list[_Entry] = []
        self._n_input = 0

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, *, lazy: bool = True) -> Component:
        """Read a component binary (:func:`parse_component`)."""
        return parse_component(data, lazy=lazy)

    def _load(self, buf: bytes, start: int, end: int, depth: int) -> None:
        self._buf, self._start, self._end, self._depth = buf, start, end, depth
        if end - start < 8 or bytes(buf[start:start + 4]) != b"\x00asm":
            if end - start < 4:
                raise DecodeError("unexpected end", end, "component preamble")
            raise DecodeError("magic header not detected", start)
        if end - start < 8:
            raise DecodeError("unexpected end", end, "component preamble")
        if bytes(buf[start + 4:start + 8]) != COMPONENT_VERSION:
            raise DecodeError("unknown binary version", start + 4)
        pos = start + 8
        while pos < end:
            offset = pos
            sid = buf[pos]
            pos += 1
            if sid not in codec.SECTION_NAMES:
                raise DecodeError(f"unknown section id 0x{sid:x}", offset, "component section header")
            size, pos = read_u32(buf, pos, end)
            send = pos + size
            if send > end:
                raise DecodeError("length out of bounds", pos,
                                  f"{codec.SECTION_NAMES[sid]} section size ({size} bytes, {end - pos} left)")
            if sid == 0:
                try:
                    name, data_offset = decode_name(buf, pos, send)
                except DecodeError as e:
                    raise e.with_context("custom section name") from None
                sec = ComponentSection(0, offset, pos, send, buf, name, data_offset)
            else:
                sec = ComponentSection(sid, offset, pos, send, buf)
            self._entries.append(_Entry(sec, sid))
            pos = send
        self._n_input = len(self._entries)

    # -- lazy decoding ----------------------------------------------------------------------------

    def _items(self, e: _Entry) -> list:
        if e.items is None:
            sec = e.sec
            assert sec is not None, "an entry without items comes from the input"
            r = Reader(self._buf, sec.payload_offset, sec.end)
            read_one = codec.ITEM_READERS[e.id]
            items = []
            spans = {}
            what = codec.SECTION_NAMES[e.id]
            n = r.count(1)
            for i in range(n):
                at = r.pos
                try:
                    item = read_one(r)
                except DecodeError as err:
                    raise err.with_context(f"{what} section item {i}") from None
                items.append(item)
                spans[id(item)] = (at, r.pos)
            if not r.at_end():
                raise DecodeError("unexpected data at the end of the section", r.offset, f"{what} section")
            e.items, e.orig, e.spans = items, tuple(items), spans
        return e.items

    def _value(self, e: _Entry) -> Any:
        if e.value is None and e.sec is not None:
            sec = e.sec
            if e.id == 1:
                try:
                    e.value = parse_module(bytes(sec.payload))
                except DecodeError as err:
                    raise _shift(err, sec.payload_offset, "core module section") from None
            elif e.id == 4:
                if self._depth + 1 > MAX_NESTING:
                    raise DecodeError("component nesting too deep", sec.offset)
                c = Component()
                c._load(self._buf, sec.payload_offset, sec.end, self._depth + 1)
                e.value = c
            elif e.id == 9:
                r = Reader(self._buf, sec.payload_offset, sec.end)
                try:
                    e.value = codec.read_start(r)
                except DecodeError as err:
                    raise err.with_context("component start section") from None
                if not r.at_end():
                    raise DecodeError("unexpected content in the component start section", r.offset)
            elif e.id == 0:
                assert sec.name is not None, "custom sections are named"
                e.value = CustomSection(sec.name, bytes(self._buf[sec.data_offset:sec.end]))
            e.orig_value = e.value
        return e.value

    def decode_all(self, modules: bool = True) -> None:
        """Decode every section and nested component, and with ``modules`` every core module in full
        (what ``parse(lazy=False)`` does); problems raise DecodeError with absolute offsets."""
        stack: list[Component] = [self]
        while stack:
            c = stack.pop()
            for e in c._entries:
                if e.id in codec.ITEM_READERS:
                    c._items(e)
                else:
                    v = c._value(e)
                    if e.id == 1 and e.sec is not None and modules:
                        try:
                            v.decode_all()
                        except DecodeError as err:
                            raise _shift(err, e.sec.payload_offset, "core module section") from None
                    elif e.id == 4:
                        stack.append(v)

    # -- views ------------------------------------------------------------------------------------

    @property
    def sections(self) -> list[ComponentSection]:
        """The sections of the input, in file order (nested binaries not opened)."""
        return [e.sec for e in self._entries if e.sec is not None]

    @property
    def data(self) -> bytes:
        """The input bytes of this component."""
        return bytes(self._buf[self._start:self._end])

    @property
    def offset(self) -> int:
        """Absolute offset of this component's preamble in the outermost input."""
        return self._start

    def _all(self, sid: int) -> tuple[Any, ...]:
        out: list[Any] = []
        for e in self._entries:
            if e.id == sid:
                out.extend(self._items(e))
        return tuple(out)

    def _values(self, sid: int) -> tuple[Any, ...]:
        return tuple(self._value(e) for e in self._entries if e.id == sid)

    @property
    def core_instances(self) -> tuple[CoreInstance, ...]:
        """The core instances (CoreInstantiate | CoreInstanceExports), in file order."""
        return self._all(2)

    @property
    def core_types(self) -> tuple[CoreType, ...]:
        """The core types (CoreRecGroup | CoreModuleType), in file order."""
        return self._all(3)

    @property
    def instances(self) -> tuple[Instance, ...]:
        """The component instances (ComponentInstantiate | InstanceExports), in file order."""
        return self._all(5)

    @property
    def aliases(self) -> tuple[Alias, ...]:
        """The aliases (InstanceExportAlias | OuterAlias), in file order."""
        return self._all(6)

    @property
    def types(self) -> tuple[TypeDef, ...]:
        """The type definitions (component types.py), in file order."""
        return self._all(7)

    @property
    def canons(self) -> tuple[Canon, ...]:
        """The canonical function definitions, in file order."""
        return self._all(8)

    @property
    def imports(self) -> tuple[Import, ...]:
        """The imports, in file order."""
        return self._all(10)

    @property
    def exports(self) -> tuple[Export, ...]:
        """The exports, in file order."""
        return self._all(11)

    @property
    def modules(self) -> tuple[Module, ...]:
        """The core modules, in file order."""
        return self._values(1)

    @property
    def components(self) -> tuple[Component, ...]:
        """The nested components, in file order."""
        return self._values(4)

    @property
    def starts(self) -> tuple[Start, ...]:
        """The start functions, in file order."""
        return self._values(9)

    @property
    def customs(self) -> tuple[CustomSection, ...]:
        """The custom sections, in file order."""
        return self._values(0)

    def items(self) -> Iterator[tuple[int, Any]]:
        """Every item in file order as ``(section id, item)`` (modules and components as one item each)."""
        for e in self._entries:
            if e.id in codec.ITEM_READERS:
                for it in self._items(e):
                    yield e.id, it
            else:
                yield e.id, self._value(e)

    def section_items(self, index: int) -> list[Any]:
        """The mutable item list of the ``index``-th section (vector sections only)."""
        e = self._entries[index]
        if e.id not in codec.ITEM_READERS:
            raise ValueError(f"section {index} ({codec.SECTION_NAMES[e.id]}) has no item list")
        return self._items(e)

    def extern_types(self) -> dict[str, tuple[str, object]]:
        """``{name: (direction, Ent)}`` for every import and export, with the type resolved through the
        index spaces (:mod:`wasmweld.component.typeval`: ``Ent.sort``, ``Ent.ty`` a FuncT/InstT/... )."""
        from .typeval import evaluate

        return {e.name.name: (d, e) for d, e in evaluate(self).externs}

    def wit(self) -> str:
        """The component's WIT world as text (:func:`wasmweld.component.wit.component_wit`)."""
        from .wit import component_wit

        return component_wit(self)

    def section_spans(self, index: int) -> list[tuple[object, int, int]]:
        """``(item, start, end)`` absolute byte spans of the items of input section ``index`` as read
        (vector sections; for dumps). Decodes the section if needed."""
        e = self._entries[index]
        if e.sec is None or e.id not in codec.ITEM_READERS:
            raise ValueError(f"section {index} has no items read from the input")
        self._items(e)
        return [(it, *e.spans[id(it)]) for it in e.orig]

    def section_value(self, index: int) -> Any:
        """The Module (core module section), Component (component section), Start or CustomSection of
        section ``index``."""
        e = self._entries[index]
        if e.id in codec.ITEM_READERS:
            raise ValueError(f"section {index} is a vector section: use section_items")
        return self._value(e)

    def module_data(self, i: int) -> bytes:
        """The bytes of the ``i``-th core module exactly as embedded (or as it encodes now)."""
        e = [x for x in self._entries if x.id == 1][i]
        if e.value is None and e.sec is not None:
            return bytes(e.sec.payload)
        return e.value.encode()

    def replace_module(self, i: int, module: Module | bytes) -> None:
        """Put ``module`` (a Module or core module bytes) in place of the ``i``-th core module."""
        entries = [x for x in self._entries if x.id == 1]
        if not 0 <= i < len(entries):
            raise IndexError(f"no core module {i} (the component has {len(entries)})")
        if not isinstance(module, Module):
            module = parse_module(module)
        entries[i].value = module

    def add_custom(self, name: str, data: bytes) -> None:
        """Append a custom section."""
        e = _Entry(None, 0)
        e.value = CustomSection(name, bytes(data))
        self._entries.append(e)

    def add_section(self, sid: int, items: list[Any]) -> int:
        """Append a new vector section (``sid`` 2, 3, 5-8, 10, 11) holding ``items``; returns its index."""
        if sid not in codec.ITEM_READERS:
            raise ValueError(f"section id {sid} is not a vector section")
        e = _Entry(None, sid)
        e.items = list(items)
        self._entries.append(e)
        return len(self._entries) - 1

    # -- encoding ---------------------------------------------------------------------------------

    def _encode_items(self, e: _Entry) -> bytes:
        buf = self._buf
        items = e.items
        assert items is not None, "only vector sections are encoded item by item"
        out = [write_u(len(items))]
        writer = codec.ITEM_WRITERS[e.id]
        for it in items:
            span = e.spans.get(id(it))
            if span is not None and any(o is it for o in e.orig):
                out.append(buf[span[0]:span[1]])
            else:
                out.append(writer(it))
        return b"".join(out)

    def _unchanged(self, e: _Entry) -> bool:
        """True if entry ``e`` would encode as its input section."""
        if e.sec is None:
            return False
        if e.id in codec.ITEM_READERS:
            return e.items is None or (len(e.items) == len(e.orig) and all(a is b for a, b in zip(e.items, e.orig)))
        if e.value is None:
            return True
        if e.value is not e.orig_value:
            return False
        if e.id == 1:
            return e.value.encode() is e.value.data     # an untouched Module encodes to its input object
        if e.id == 4:
            return all(e.value._unchanged(x) for x in e.value._entries) and \
                len(e.value._entries) == e.value._n_input
        return True

    def _encode_entry(self, e: _Entry):
        if self._unchanged(e):
            assert e.sec is not None, "an unchanged entry has its input section"
            return e.sec.raw                              # a memoryview: joined without a copy
        if e.id in codec.ITEM_READERS:
            payload = self._encode_items(e)
        elif e.id in (1, 4):
            payload = e.value.encode()
        elif e.id == 9:
            payload = codec.write_start(e.value)
        else:
            payload = codec.write_name(e.value.name) + e.value.data
        return bytes((e.id,)) + write_u(len(payload)) + payload

    def encode(self) -> bytes:
        """The component's bytes: identical to the input when nothing changed (the input object itself
        when this is the outermost component and nothing was changed)."""
        if len(self._entries) == self._n_input and all(self._unchanged(e) for e in self._entries):
            if self._start == 0 and self._end == len(self._buf):
                return self._buf
            return bytes(self._buf[self._start:self._end])
        return COMPONENT_PREAMBLE + b"".join(self._encode_entry(e) for e in self._entries)

    def to_wat(self, **options: Any) -> str:
        """The component as WebAssembly text, as ``wasm-tools print`` writes it (``wasmweld.text.to_wat``)."""
        from ..text import to_wat
        return to_wat(self, **options)

    def _repr_pretty_(self, p, cycle: bool) -> None:
        from ..text import repr_pretty
        repr_pretty(self, p, cycle)

    def _repr_html_(self) -> str:
        from ..text import repr_html
        return repr_html(self)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for e in self._entries:
            k = codec.SECTION_NAMES[e.id]
            counts[k] = counts.get(k, 0) + 1
        return f"<Component {len(self._entries)} sections {counts}>"


def parse_component(data: bytes | bytearray | memoryview, *, lazy: bool = True) -> Component:
    """Read a component binary. ``lazy=False`` decodes everything (nested binaries too) up front.

    Raises :class:`~wasmweld.errors.DecodeError` (absolute offsets) for malformed input.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError(f"parse_component() takes bytes, not {type(data).__name__}")
    c = Component()
    c._load(data, 0, len(data), 0)
    if not lazy:
        c.decode_all()
    return c


def component_type_sections(module: Module) -> list[tuple[str, Component]]:
    """The ``component-type:*`` custom sections of a core module (``wasm-tools component embed`` writes
    them: the world, encoded as a component), decoded: ``[(section name, Component)]``.
    A malformed one raises DecodeError naming the section."""
    out = []
    for cs in module.customs:
        if cs.name.startswith("component-type"):
            try:
                c = parse_component(cs.data)
                c.decode_all(modules=False)
            except DecodeError as e:
                raise DecodeError(f"custom section {cs.name!r}: {e.message}", e.offset, e.context) from None
            out.append((cs.name, c))
    return out
