"""wasmweld: read, write, merge, edit, pre-initialise and link WebAssembly core modules.

::

    >>> import wasmweld
    >>> m = wasmweld.parse(open("app.wasm", "rb").read())     # lazy, lossless
    >>> [e.name for e in m.exports]
    ['memory', '_start']
    >>> m.exports.append(wasmweld.Export("main", wasmweld.ExternKind.FUNC, 3))
    >>> out = m.encode()              # only the export section is re-encoded
    >>> wasmweld.validate(out)        # wasmtime's verdict, ValidationError if invalid

What is here:

- the binary core: :func:`parse`, :class:`Module` and its items, the types, the errors;
- :func:`merge` / :func:`merge_plan` (``wasmweld.link``): many modules into one;
- :func:`snapshot` (``wasmweld.preinit``): pre-initialise a module, like Wizer;
- :class:`World` (``wasmweld.runtime.world``): link and run modules in wasmtime;
- binary surgery passes in :mod:`wasmweld.passes`, renumbering in :mod:`wasmweld.binary.reencode`.

The core needs only the standard library. ``validate``, ``snapshot`` and ``World``
import wasmtime when they are used, never at ``import wasmweld``.
"""

from __future__ import annotations

from wasmweld.errors import (
    CacheError, DecodeError, EditError, EncodeError, ExecutionError, InitError, LinkError, SnapshotError,
    ValidationError, WasmError,
)
from wasmweld.link import MergePlan, merge, merge_plan
from wasmweld.module import (
    ConstExpr, CustomSection, Data, Elem, Export, FuncBody, Global, Import, Module, Section, Table, Tag,
)
from wasmweld.component import Component, parse  # parse: a Module, or a Component for component binaries
from wasmweld.preinit import SnapshotReport, snapshot
from wasmweld.types import (
    ABSTRACT_HEAP_CODES, ABSTRACT_HEAP_NAMES, EXNREF, EXTERNREF, F32, F64, FUNCREF, I8, I16, I32, I64, V128,
    ArrayType, CompType, ExternKind, FieldType, FuncType, GlobalType, HeapType, Limits, MemoryType, NumType,
    PackedType, RecGroup, RefType, StorageType, StructType, SubType, TableType, TagType, ValType,
)

# Imported eagerly so that wasmweld.validate is the function, not the submodule;
# it imports wasmtime only when called.
from wasmweld.validate import check_wellformed, validate

__version__ = "0.1.0"

# World imports wasmtime, so it is loaded on first use (PEP 562 module __getattr__).
_LAZY = {
    "World": "wasmweld.runtime.world",
    "WasiOptions": "wasmweld.runtime.wasi",
}


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'wasmweld' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target), name)
    globals()[name] = value
    return value


__all__ = [
    "__version__",
    # binary core
    "parse", "Module", "Section", "Import", "Export", "Global", "Table", "Elem", "Data", "Tag", "FuncBody",
    "ConstExpr", "CustomSection", "validate", "check_wellformed", "Component",
    # types
    "NumType", "I32", "I64", "F32", "F64", "V128", "PackedType", "I8", "I16", "RefType", "FUNCREF", "EXTERNREF",
    "EXNREF", "HeapType", "ValType", "StorageType", "ABSTRACT_HEAP_CODES", "ABSTRACT_HEAP_NAMES", "FieldType",
    "FuncType", "StructType", "ArrayType", "CompType", "SubType", "RecGroup", "Limits", "TableType", "MemoryType",
    "GlobalType", "TagType", "ExternKind",
    # errors
    "WasmError", "DecodeError", "EncodeError", "ValidationError", "LinkError", "EditError", "SnapshotError",
    "ExecutionError", "CacheError", "InitError",
    # merge, snapshot, World
    "merge", "merge_plan", "MergePlan", "snapshot", "SnapshotReport", "World", "WasiOptions",
]
