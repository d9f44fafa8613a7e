"""wasmweld: read, write, merge, edit, pre-initialise and link WebAssembly core modules.

::

    >>> import wasmweld
    >>> m = wasmweld.parse(open("app.wasm", "rb").read())     # lazy, lossless
    >>> [e.name for e in m.exports]
    ['memory', '_start']
    >>> m.exports.append(wasmweld.Export("main", wasmweld.ExternKind.FUNC, 3))
    >>> out = m.encode()              # only the export section is re-encoded
    >>> wasmweld.validate(out)        # wasmtime's verdict, ValidationError if invalid

The core (parse/encode, the item classes, the errors and types) needs only the
standard library; ``validate`` imports wasmtime when called.
"""

from __future__ import annotations

from wasmweld.errors import *  # noqa: F403
from wasmweld.errors import __all__ as _errors_all
from wasmweld.module import (
    ConstExpr, CustomSection, Data, Elem, Export, FuncBody, Global, Import, Module, Section, Table, Tag, parse,
)
from wasmweld.types import *  # noqa: F403
from wasmweld.types import __all__ as _types_all

# validate.py imports wasmtime only when called, so importing wasmweld never needs it.
# (Imported eagerly so the function, not the submodule, is wasmweld.validate.)
from wasmweld.validate import validate

__version__ = "0.1.0"



# --- merge (link/) exports: added by the merge engineer -------------------------------------
from wasmweld.link import MergePlan, merge, merge_plan  # noqa: E402

_merge_all: list[str] = ["merge", "merge_plan", "MergePlan"]

# --- snapshot (preinit/) exports: added by the snapshot engineer ----------------------------
# wasmweld.snapshot(module, init_func=..., ...) -> Module; preinit imports no wasmtime until it runs.
from wasmweld.preinit import InitError, SnapshotReport, snapshot  # noqa: E402, F401

_snapshot_all: list[str] = ["snapshot", "SnapshotReport", "InitError"]

# --- World (runtime/world.py) exports: added by the World engineer --------------------------
# World imports wasmtime, so it is loaded on first use (PEP 562 module __getattr__).
_LAZY = {
    "World": "wasmweld.runtime.world",
    "WasiOptions": "wasmweld.runtime.wasi",
}
_world_all: list[str] = ["World", "WasiOptions"]


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'wasmweld' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target), name)
    globals()[name] = value
    return value

__all__ = [
    "__version__", "parse", "validate", "Module", "Section",
    "Import", "Export", "Global", "Table", "Elem", "Data", "Tag", "FuncBody", "ConstExpr", "CustomSection",
]
__all__ += _errors_all + _types_all + _merge_all + _snapshot_all + _world_all
