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

# Imported eagerly (it is small and imports nothing else at import time) so that
# ``wasmweld.validate`` is the function, not the submodule; it imports wasmtime only when called.
from wasmweld.validate import check_wellformed, validate

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)

# Everything else is loaded on first use (PEP 562 module __getattr__), so that
# ``import wasmweld`` (and the CLI's start-up) costs only what is used.
_LAZY = {
    **dict.fromkeys(("MergePlan", "merge", "merge_plan"), "wasmweld.link"),
    **dict.fromkeys(
        ("ConstExpr", "CustomSection", "Data", "Elem", "Export", "FuncBody", "Global", "Import", "Module",
         "Section", "Table", "Tag"),
        "wasmweld.module",
    ),
    # parse: a Module, or a Component for component binaries
    **dict.fromkeys(("Component", "parse"), "wasmweld.component"),
    **dict.fromkeys(("SnapshotReport", "snapshot"), "wasmweld.preinit"),
    **dict.fromkeys(
        ("ABSTRACT_HEAP_CODES", "ABSTRACT_HEAP_NAMES", "EXNREF", "EXTERNREF", "F32", "F64", "FUNCREF", "I8",
         "I16", "I32", "I64", "V128", "ArrayType", "CompType", "ExternKind", "FieldType", "FuncType", "GlobalType",
         "HeapType", "Limits", "MemoryType", "NumType", "PackedType", "RecGroup", "RefType", "StorageType",
         "StructType", "SubType", "TableType", "TagType", "ValType"),
        "wasmweld.types",
    ),
    # World imports wasmtime
    "World": "wasmweld.runtime.world",
    "WasiOptions": "wasmweld.runtime.wasi",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from wasmweld.link.merge import MergePlan, merge, merge_plan
    from wasmweld.module import (
        ConstExpr, CustomSection, Data, Elem, Export, FuncBody, Global, Import, Module, Section, Table, Tag, parse,
    )
    from wasmweld.preinit import SnapshotReport, snapshot
    from wasmweld.runtime.wasi import WasiOptions
    from wasmweld.runtime.world import World
    from wasmweld.types import (
        ABSTRACT_HEAP_CODES, ABSTRACT_HEAP_NAMES, EXNREF, EXTERNREF, F32, F64, FUNCREF, I8, I16, I32, I64, V128,
        ArrayType, CompType, ExternKind, FieldType, FuncType, GlobalType, HeapType, Limits, MemoryType, NumType,
        PackedType, RecGroup, RefType, StorageType, StructType, SubType, TableType, TagType, ValType,
    )

    __version__: str


def _dist_version() -> str:
    """The installed distribution's version (the one source: ``version`` in pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wasmweld")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> object:
    """The lazily imported public names (PEP 562), and ``__version__``."""
    if name == "__version__":
        value = _dist_version()
    else:
        target = _LAZY.get(name)
        if target is None:
            raise AttributeError(f"module 'wasmweld' has no attribute {name!r}")
        import sys  # __import__ + sys.modules: importlib.import_module without importing importlib

        __import__(target)
        value = getattr(sys.modules[target], name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})


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
