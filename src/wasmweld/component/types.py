"""The component-model type system and section items as frozen records (:mod:`wasmweld.record`).

A component (layer 1, ``00 61 73 6d 0d 00 01 00``) describes its interface with
*component types*: value types (``string``, ``list<u8>``, records, variants...),
function types, resource types, and instance/component types made of
declarations. In the text format::

    (component
      (type $point (record (field "x" u32) (field "y" u32)))      ;; Record
      (type $f (func (param "p" $point) (result string)))         ;; FuncType
      (import "wasi:cli/stdout@0.2.0" (instance (export "get-stdout" (func))))
      (export "origin" (func 0)))

A *value type* (:data:`ValType`) is either a primitive name (``"u32"``,
``"string"``, ``"error-context"``) or an ``int``: an index in the component's
type index space. Every item keeps what is needed to write it back as it was
read; :mod:`wasmweld.component.codec` decodes and encodes them.
"""

from __future__ import annotations

from ..record import record
from typing import Any, Optional, Union

from ..types import RecGroup
from ..types import ValType as CoreValType

__all__ = [
    "PRIMITIVES", "PRIMITIVE_CODES", "ValType", "ExternName", "Sort", "CORE_SORTS", "COMPONENT_SORTS",
    "Record", "Variant", "Case", "List", "Map", "Tuple", "Flags", "Enum", "Option", "Result", "Own", "Borrow",
    "Future", "Stream", "Primitive", "FuncType", "ResourceType", "InstanceType", "ComponentType", "DefinedType",
    "TypeDef", "ExternDesc", "TypeBound", "CoreModuleType", "CoreTypeDecl", "CoreImport", "CoreExportDecl",
    "CoreOuterAlias", "CoreRecGroup", "CoreType", "CoreInstantiate", "CoreInstanceExports", "CoreInstance",
    "CoreExport", "CoreArg", "ComponentInstantiate", "InstanceExports", "Instance", "InstantiateArg",
    "InstanceExportAlias", "OuterAlias", "Alias", "CanonOption", "Canon", "Start", "Import", "Export",
    "TypeDecl", "DeclImport", "DeclExport",
]

#: primitive value type name -> its one-byte code
PRIMITIVE_CODES: dict[str, int] = {
    "bool": 0x7F, "s8": 0x7E, "u8": 0x7D, "s16": 0x7C, "u16": 0x7B, "s32": 0x7A, "u32": 0x79,
    "s64": 0x78, "u64": 0x77, "f32": 0x76, "f64": 0x75, "char": 0x74, "string": 0x73, "error-context": 0x64,
}
#: one-byte code -> primitive value type name
PRIMITIVES: dict[int, str] = {v: k for k, v in PRIMITIVE_CODES.items()}

#: a component value type: a primitive name or a type index (kept as read, may be negative if malformed)
ValType = Union[str, int]

#: a sort: ``"func"``, ``"value"``, ``"type"``, ``"component"``, ``"instance"`` or a core sort
#: ``"core func"``, ``"core table"``, ``"core memory"``, ``"core global"``, ``"core tag"``,
#: ``"core type"``, ``"core module"``, ``"core instance"``
Sort = str
CORE_SORTS: dict[int, str] = {
    0x00: "core func", 0x01: "core table", 0x02: "core memory", 0x03: "core global", 0x04: "core tag",
    0x10: "core type", 0x11: "core module", 0x12: "core instance",
}
COMPONENT_SORTS: dict[int, str] = {0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance"}


@record(frozen=True)
class ExternName:
    """An import/export name: ``prefix`` is the leading byte (0x00, 0x01, or 0x02 with ``options``).

    ``options`` are ``(code, text)`` pairs: 0 implements, 1 version suffix, 2 external id.
    """

    name: str
    prefix: int = 0
    options: tuple[tuple[int, str], ...] = ()

    def __str__(self) -> str:
        return self.name

    def option(self, code: int) -> Optional[str]:
        for c, text in self.options:
            if c == code:
                return text
        return None

    @property
    def implements(self) -> Optional[str]:
        return self.option(0)


# ------------------------------------------------------------------ value types


@record(frozen=True)
class Primitive:
    """A type definition that is just a primitive (``(type u32)``)."""

    name: str


@record(frozen=True)
class Record:
    fields: tuple[tuple[str, ValType], ...]


@record(frozen=True)
class Case:
    """A variant case; ``refines`` is the trailing byte (always 0 in valid input)."""

    name: str
    type: Optional[ValType]
    refines: int = 0


@record(frozen=True)
class Variant:
    cases: tuple[Case, ...]


@record(frozen=True)
class List:
    """``list<T>``, or ``list<T, N>`` (fixed length) when ``length`` is set."""

    element: ValType
    length: Optional[int] = None


@record(frozen=True)
class Map:
    key: ValType
    value: ValType


@record(frozen=True)
class Tuple:
    types: tuple[ValType, ...]


@record(frozen=True)
class Flags:
    names: tuple[str, ...]


@record(frozen=True)
class Enum:
    names: tuple[str, ...]


@record(frozen=True)
class Option:
    type: ValType


@record(frozen=True)
class Result:
    ok: Optional[ValType]
    err: Optional[ValType]


@record(frozen=True)
class Own:
    resource: int


@record(frozen=True)
class Borrow:
    resource: int


@record(frozen=True)
class Future:
    type: Optional[ValType]


@record(frozen=True)
class Stream:
    type: Optional[ValType]


DefinedType = Union[Primitive, Record, Variant, List, Map, Tuple, Flags, Enum, Option, Result, Own, Borrow,
                    Future, Stream]


# ------------------------------------------------------------------ function, resource, instance, component types


@record(frozen=True)
class FuncType:
    """``(func (param "a" u32) (result string))``; ``result`` None means no result."""

    params: tuple[tuple[str, ValType], ...]
    result: Optional[ValType]
    is_async: bool = False


@record(frozen=True)
class ResourceType:
    """``(resource (rep i32) (dtor (func N)))``: ``rep`` the core value type of the representation."""

    rep: CoreValType
    dtor: Optional[int]


@record(frozen=True)
class TypeBound:
    """``(eq N)`` (``index`` set) or ``(sub resource)`` (``index`` None)."""

    index: Optional[int]


@record(frozen=True)
class ExternDesc:
    """What an import/export is: ``sort`` (``"core module"``, ``"func"``, ``"value"``, ``"type"``,
    ``"component"``, ``"instance"``) and ``ref``: a type index, a :data:`ValType` (value) or a
    :class:`TypeBound` (type)."""

    sort: Sort
    ref: Any


@record(frozen=True)
class TypeDecl:
    """A declaration inside an instance/component type: a (core) type or an alias.

    ``kind`` is ``"core type"``, ``"type"`` or ``"alias"``; ``item`` the CoreType/TypeDef/Alias.
    """

    kind: str
    item: object


@record(frozen=True)
class DeclImport:
    name: ExternName
    desc: ExternDesc


@record(frozen=True)
class DeclExport:
    name: ExternName
    desc: ExternDesc


@record(frozen=True)
class InstanceType:
    """``(instance (export "f" (func ...)) ...)``: an instance type, its declarations in order."""

    decls: tuple[TypeDecl | DeclExport, ...]


@record(frozen=True)
class ComponentType:
    """``(component (import ...) (export ...))``: a component type, its declarations in order."""

    decls: tuple[TypeDecl | DeclImport | DeclExport, ...]


TypeDef = Union[DefinedType, FuncType, ResourceType, InstanceType, ComponentType]


# ------------------------------------------------------------------ core types (core type section)


@record(frozen=True)
class CoreRecGroup:
    """A core rec group; ``prefixed`` when written after a 0x00 byte (GC form)."""

    group: RecGroup
    prefixed: bool = False


@record(frozen=True)
class CoreImport:
    module: str
    name: str
    kind: int
    desc: object


@record(frozen=True)
class CoreExportDecl:
    name: str
    kind: int
    desc: object


@record(frozen=True)
class CoreOuterAlias:
    count: int
    index: int


@record(frozen=True)
class CoreTypeDecl:
    group: RecGroup


@record(frozen=True)
class CoreModuleType:
    """``(core module (import ...) (export ...))``: a core module type, its declarations in order."""

    decls: tuple[CoreImport | CoreTypeDecl | CoreOuterAlias | CoreExportDecl, ...]


CoreType = Union[CoreRecGroup, CoreModuleType]


# ------------------------------------------------------------------ instances, aliases, canon, start, imports, exports


@record(frozen=True)
class CoreArg:
    name: str
    index: int  # a core instance


@record(frozen=True)
class CoreExport:
    name: str
    kind: int  # core external kind byte (0 func .. 4 tag)
    index: int


@record(frozen=True)
class CoreInstantiate:
    module: int
    args: tuple[CoreArg, ...]


@record(frozen=True)
class CoreInstanceExports:
    exports: tuple[CoreExport, ...]


CoreInstance = Union[CoreInstantiate, CoreInstanceExports]


@record(frozen=True)
class InstantiateArg:
    name: str
    sort: Sort
    index: int


@record(frozen=True)
class ComponentInstantiate:
    component: int
    args: tuple[InstantiateArg, ...]


@record(frozen=True)
class InstanceExports:
    """``(instance (export "f" (func 0)) ...)``: an instance made of existing items."""

    exports: tuple[Export, ...]  # desc always None


Instance = Union[ComponentInstantiate, InstanceExports]


@record(frozen=True)
class InstanceExportAlias:
    """``(alias export $inst "name" (func))``; a core alias when ``sort`` starts with ``core``."""

    sort: Sort
    instance: int
    name: str


@record(frozen=True)
class OuterAlias:
    sort: Sort
    count: int
    index: int


Alias = Union[InstanceExportAlias, OuterAlias]


@record(frozen=True)
class CanonOption:
    """A canonical option: ``name`` (utf8, utf16, latin1+utf16, memory, realloc, post-return, async,
    callback, core-type, gc) and its index argument (None for flags)."""

    name: str
    index: Optional[int] = None


@record(frozen=True)
class Canon:
    """One canonical function definition: ``op`` (``"lift"``, ``"lower"``, ``"resource.new"``, ...),
    ``args`` its immediates in binary order (ints, bools, a result valtype, a core valtype), ``options``."""

    op: str
    args: tuple[Any, ...] = ()
    options: Optional[tuple[CanonOption, ...]] = None

    @property
    def defines_core_func(self) -> bool:
        """Every canonical definition but ``lift`` defines a core function."""
        return self.op != "lift"

    def option(self, name: str) -> Optional[CanonOption]:
        for o in self.options or ():
            if o.name == name:
                return o
        return None

    def option_index(self, name: str) -> Optional[int]:
        """The index argument of option ``name`` (``memory``, ``realloc``, ...), None when absent."""
        o = self.option(name)
        return None if o is None else o.index


@record(frozen=True)
class Start:
    func: int
    args: tuple[int, ...]
    results: int


@record(frozen=True)
class Import:
    name: ExternName
    desc: ExternDesc


@record(frozen=True)
class Export:
    """``(export "name" (func 3))``; ``desc`` is the optional type ascription."""

    name: ExternName
    sort: Sort
    index: int
    desc: Optional[ExternDesc] = None
