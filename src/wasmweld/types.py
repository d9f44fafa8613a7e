"""WebAssembly types as frozen records (:mod:`wasmweld.record`): value, reference, composite and extern types.

The model follows the spec's names. A module's type section is a list of
:class:`RecGroup`; each holds :class:`SubType`s whose ``comp`` is a
:class:`FuncType`, :class:`StructType` or :class:`ArrayType`::

    (type $f (func (param i32) (result i64)))
      == RecGroup((SubType(FuncType((I32,), (I64,))),), explicit=False)
    (rec (type $s (sub (struct (field (mut i32))))))
      == RecGroup((SubType(StructType((FieldType(I32, True),)), final=False, form="sub"),), explicit=True)

Encoding choices that the spec leaves open are remembered so that a decoded
value re-encodes to the same bytes, but they never take part in equality:
``funcref`` written as the one-byte shorthand ``0x70`` and ``(ref null func)``
written as ``0x63 0x70`` compare equal, and ``RefType.shorthand`` says which
form was read (``None``: pick the shortest when encoding).

Heap types are either an abstract name (``"func"``, ``"extern"``, ``"any"``,
``"eq"``, ``"i31"``, ``"struct"``, ``"array"``, ``"exn"``, ``"none"``,
``"nofunc"``, ``"noextern"``, ``"noexn"``) or an ``int``: a type index, the
thing index renumbering rewrites.
"""

from __future__ import annotations

import enum
from .record import field, record
from typing import Union

__all__ = [
    "NumType", "I32", "I64", "F32", "F64", "V128", "PackedType", "I8", "I16",
    "RefType", "FUNCREF", "EXTERNREF", "EXNREF", "HeapType", "ValType", "StorageType",
    "ABSTRACT_HEAP_CODES", "ABSTRACT_HEAP_NAMES",
    "FieldType", "FuncType", "StructType", "ArrayType", "CompType", "SubType", "RecGroup",
    "Limits", "TableType", "MemoryType", "GlobalType", "TagType", "ExternKind", "IndexSpace",
]


@record(frozen=True, slots=True)
class NumType:
    """A number or vector type: ``i32``, ``i64``, ``f32``, ``f64`` or ``v128``."""

    name: str

    def __str__(self) -> str:
        return self.name


I32 = NumType("i32")
I64 = NumType("i64")
F32 = NumType("f32")
F64 = NumType("f64")
V128 = NumType("v128")


@record(frozen=True, slots=True)
class PackedType:
    """A packed storage type of a struct/array field: ``i8`` or ``i16``."""

    name: str

    def __str__(self) -> str:
        return self.name


I8 = PackedType("i8")
I16 = PackedType("i16")

#: abstract heap type name -> its one-byte code (which is also the shorthand ref type code)
ABSTRACT_HEAP_CODES: dict[str, int] = {
    "noexn": 0x74, "nofunc": 0x73, "noextern": 0x72, "none": 0x71,
    "func": 0x70, "extern": 0x6F, "any": 0x6E, "eq": 0x6D, "i31": 0x6C,
    "struct": 0x6B, "array": 0x6A, "exn": 0x69,
}
ABSTRACT_HEAP_NAMES: dict[int, str] = {v: k for k, v in ABSTRACT_HEAP_CODES.items()}

HeapType = Union[str, int]


@record(frozen=True, slots=True)
class RefType:
    """A reference type ``(ref null? heap)``.

    ``shorthand`` records the encoding read (``True``: one byte such as 0x70,
    ``False``: 0x63/0x64 prefix); ``None`` means "shortest"; it is ignored by ``==``.
    """

    nullable: bool
    heap: HeapType
    shorthand: bool | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if self.nullable and isinstance(self.heap, str):
            return f"{self.heap}ref"
        h = self.heap if isinstance(self.heap, str) else str(self.heap)
        return f"(ref {'null ' if self.nullable else ''}{h})"


FUNCREF = RefType(True, "func")
EXTERNREF = RefType(True, "extern")
EXNREF = RefType(True, "exn")

ValType = Union[NumType, RefType]
StorageType = Union[NumType, RefType, PackedType]


@record(frozen=True, slots=True)
class FieldType:
    """A struct field or array element type with its mutability."""

    storage: StorageType
    mutable: bool = False


@record(frozen=True, slots=True)
class FuncType:
    params: tuple[ValType, ...] = ()
    results: tuple[ValType, ...] = ()

    def __str__(self) -> str:
        return f"[{' '.join(map(str, self.params))}] -> [{' '.join(map(str, self.results))}]"


@record(frozen=True, slots=True)
class StructType:
    fields: tuple[FieldType, ...] = ()


@record(frozen=True, slots=True)
class ArrayType:
    field: FieldType


CompType = Union[FuncType, StructType, ArrayType]


@record(frozen=True, slots=True)
class SubType:
    """A (possibly sub-typed) composite type.

    ``form`` is how it was written: ``"plain"`` (no prefix; final, no supertypes),
    ``"sub"`` (0x50) or ``"sub_final"`` (0x4F); ``None`` picks the shortest.
    """

    comp: CompType
    supers: tuple[int, ...] = ()
    final: bool = True
    form: str | None = field(default=None, compare=False)


@record(frozen=True, slots=True)
class RecGroup:
    """One entry of the type section: a recursion group.

    ``explicit`` is True when written with the 0x4E ``rec`` prefix (always the
    case for groups of size != 1).
    """

    types: tuple[SubType, ...]
    explicit: bool = False


@record(frozen=True, slots=True)
class Limits:
    """Limits of a memory or table.

    ``flags`` is the limits byte as read (bit 0: has max, bit 1: shared,
    bit 2: 64-bit index, bit 3: custom page size); ``None`` derives it from the
    other fields. ``page_size_log2`` is a memory's custom page size (the
    custom-page-sizes proposal: ``(memory 1 (pagesize 1))`` has 0), None for
    the default 64 KiB pages.
    """

    min: int
    max: int | None = None
    shared: bool = False
    is64: bool = False
    flags: int | None = field(default=None, compare=False)
    page_size_log2: int | None = None


@record(frozen=True, slots=True)
class TableType:
    elem: RefType
    limits: Limits


@record(frozen=True, slots=True)
class MemoryType:
    limits: Limits


@record(frozen=True, slots=True)
class GlobalType:
    val: ValType
    mutable: bool = False


@record(frozen=True, slots=True)
class TagType:
    """An exception tag: ``attribute`` 0 (exception) and the index of its function type."""

    type_idx: int
    attribute: int = 0


class ExternKind(enum.IntEnum):
    """Import/export kinds, with their binary codes."""

    FUNC = 0
    TABLE = 1
    MEMORY = 2
    GLOBAL = 3
    TAG = 4

    def __str__(self) -> str:
        return self.name.lower()

    @property
    def space(self) -> "IndexSpace":
        """The index space items of this kind are numbered in (``ExternKind.GLOBAL.space is IndexSpace.GLOBAL``)."""
        return IndexSpace(self.name.lower())


class IndexSpace(str, enum.Enum):
    """The module's index spaces, the one name for them everywhere (re-encoder maps, used analysis, merge).

    A ``str`` enum: ``IndexSpace.FUNC == "func"``, so code and data that spell spaces as strings keep working.
    """

    TYPE = "type"
    FUNC = "func"
    TABLE = "table"
    MEMORY = "memory"
    GLOBAL = "global"
    TAG = "tag"
    ELEM = "elem"
    DATA = "data"

    def __str__(self) -> str:
        return self.value

    @property
    def kind(self) -> "ExternKind | None":
        """The import/export kind of this space, None for type, elem and data."""
        return _SPACE_KIND.get(self)


_SPACE_KIND = {IndexSpace.FUNC: ExternKind.FUNC, IndexSpace.TABLE: ExternKind.TABLE,
               IndexSpace.MEMORY: ExternKind.MEMORY, IndexSpace.GLOBAL: ExternKind.GLOBAL, IndexSpace.TAG: ExternKind.TAG}
