"""Mixed Worlds: core modules and components in one :class:`~wasmweld.runtime.world.World`.

::

    >>> from wasmweld import World
    >>> w = World()
    >>> w.add("test:mixed/math@0.1.0", '''(module
    ...   (func (export "add") (param i32 i32) (result i32) (i32.sub (local.get 0) (local.get 1))))''')
    >>> w.add("app", "calc.component.wasm")     # imports test:mixed/math@0.1.0 { add: func(a: s32, b: s32) -> s32 }
    >>> w.invoke("app", "test:mixed/calc@0.1.0#poly", 5)      # calc's core code calls math.add -> the core module
    23
    >>> w.add("lib", "math.component.wasm")     # exports test:mixed/other@0.1.0 { double: func(x: u32) -> u32 }
    >>> w.add("user", '''(module (import "test:mixed/other@0.1.0" "double" (func $d (param i32) (result i32)))
    ...   (func (export "quad") (param i32) (result i32) (call $d (call $d (local.get 0)))))''')
    >>> w.invoke("user", "quad", 3)
    12

Both kinds live in one World under one set of names and are called with :meth:`World.invoke`
(a component's functions as ``"f"`` or ``"pkg:ns/iface@version#f"``). Between them, *scalar*
functions link by interface name, in both directions:

- a component's import of an instance ``pkg:ns/iface[@version]`` that no other component exports
  and no host interface defines is provided by the core module of the World named exactly
  ``pkg:ns/iface@version`` (or ``pkg:ns/iface``): each function of the interface calls the core
  module's export of the same name;
- a core module's import ``(import "pkg:ns/iface@version" "f" (func ...))`` is provided by the
  first component added that exports that instance with a function ``f`` (``wasi:*`` interfaces
  excepted): a host function calling the component's export.

Scalar means ``bool``, ``s8`` ... ``u64``, ``f32``, ``f64`` and ``char``, at most one result: values
then cross as the canonical ABI flattens them (``i32``/``i64``/``f32``/``f64``), converted like a
``canon lower``/``lift`` pair does (``u8`` keeps the low 8 bits, ``bool`` is nonzero, a ``char``
must be a Unicode scalar value). Strings, lists, records and resources need a memory and an
allocator on both sides (the canonical ABI's job, not a core module's): an interface using them is
not linked to core modules, and the import stays missing (:class:`~wasmweld.errors.LinkError`).
Core modules and components keep their own stores (wasmtime's core and component APIs): a call
between them goes through Python, one host call each way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wasmweld.errors import ExecutionError, LinkError

__all__ = ["SCALAR_CORE_TYPES", "scalar_signature", "to_core", "from_core", "core_module_for",
           "core_interface", "provide_component_exports"]

#: component scalar type (wasmtime-py's class name) -> the core type it flattens to
SCALAR_CORE_TYPES: dict[str, str] = {
    "Bool": "i32", "S8": "i32", "U8": "i32", "S16": "i32", "U16": "i32", "S32": "i32", "U32": "i32",
    "Char": "i32", "S64": "i64", "U64": "i64", "F32": "f32", "F64": "f64",
}
_BITS = {"S8": 8, "U8": 8, "S16": 16, "U16": 16, "S32": 32, "U32": 32, "S64": 64, "U64": 64}


def scalar_signature(ft: Any) -> tuple[list[str], list[str], list[str], list[str]] | None:
    """``(param kinds, result kinds, core params, core results)`` of a wasmtime-py component ``FuncType``
    whose parameters and result are all scalars (None otherwise); kinds are wasmtime-py class names
    (``"U8"``, ``"Char"`` ...), core types WAT names."""
    params = [type(t).__name__ for _, t in ft.params]
    result = [] if ft.result is None else [type(ft.result).__name__]
    if not all(k in SCALAR_CORE_TYPES for k in params + result):
        return None
    return params, result, [SCALAR_CORE_TYPES[k] for k in params], [SCALAR_CORE_TYPES[k] for k in result]


def to_core(kind: str, value: Any) -> int | float:
    """A component scalar as the core value it flattens to (``canon lower``): integers signed as
    wasmtime's core API takes them."""
    if kind == "Bool":
        return 1 if value else 0
    if kind == "Char":
        return ord(value)
    if kind in ("F32", "F64"):
        return float(value)
    bits = 64 if kind in ("S64", "U64") else 32
    v = int(value) & ((1 << bits) - 1)
    return v - (1 << bits) if v >> (bits - 1) else v


def from_core(kind: str, value: Any) -> Any:
    """A core value as the component scalar ``kind`` (``canon lift``): integers keep their low bits
    (signed kinds sign-extended), ``bool`` is nonzero, a ``char`` must be a Unicode scalar value."""
    if kind == "Bool":
        return value != 0
    if kind in ("F32", "F64"):
        return float(value)
    if kind == "Char":
        v = int(value) & 0xFFFFFFFF
        if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
            raise ExecutionError(f"invalid char {v:#x} returned by a core function")
        return chr(v)
    bits = _BITS[kind]
    v = int(value) & ((1 << bits) - 1)
    if kind.startswith("S") and v >> (bits - 1):
        v -= 1 << bits
    return v


def core_module_for(world: Any, iface: str) -> str | None:
    """The core module of ``world`` providing interface ``iface`` to components: named ``iface``
    exactly, or ``iface`` without its ``@version``."""
    if world is None:
        return None
    for name in (iface, iface.partition("@")[0]):
        if name in world:
            return name
    return None


def core_interface(world: Any, module: str, iface: str, import_type: Any, engine: Any) -> dict[str, Callable[..., Any]]:
    """Host functions (for ``ComponentWorld.define_interface``) of interface ``iface``, whose import
    type is the wasmtime-py ``ComponentInstanceType`` ``import_type`` (or the ``ComponentExtern``
    holding it), calling core ``module``."""
    if hasattr(import_type, "ty"):
        import_type = import_type.ty
    funcs: dict[str, Callable] = {}
    exports = world.exports(module)
    for fname, ext in import_type.exports(engine).items():
        item = ext.ty
        if type(item).__name__ == "ResourceType":
            raise LinkError(f"interface {iface!r} has resource {fname!r}: core module {module!r} can only "
                            "provide functions of scalar types")
        if type(item).__name__ != "FuncType":
            continue                # a type definition (record, variant ...): nothing to provide
        sig = scalar_signature(item)
        if sig is None:
            raise LinkError(f"{iface}#{fname} passes strings, lists, records or resources: core module "
                            f"{module!r} can only provide functions of scalar types (bool, integers, floats, char)")
        if fname not in exports:
            raise LinkError(f"interface {iface!r} needs {fname!r}, but core module {module!r} has no such export")
        have = world.get_fn(module, fname)
        if (have.params, have.results) != (sig[2], sig[3]):
            raise LinkError(f"{iface}#{fname} flattens to ({' '.join(sig[2])}) -> ({' '.join(sig[3])}), but "
                            f"{module}.{fname} is ({' '.join(have.params)}) -> ({' '.join(have.results)})")
        funcs[fname] = _core_caller(world, module, fname, sig[0], sig[1])
    return funcs


def _core_caller(world: Any, module: str, fname: str, params: list[str], result: list[str]) -> Callable:
    def call(*args: Any) -> Any:
        out = world.invoke(module, fname, *(to_core(k, a) for k, a in zip(params, args)))
        return from_core(result[0], out) if result else None
    return call


def provide_component_exports(world: Any, cw: Any, name: str) -> None:
    """Define, in ``world``, a host function for each scalar function of each instance component
    ``name`` (of ``cw``, the World's ComponentWorld) exports (not ``wasi:*``; an interface some
    earlier component or a core module named after it already provides is left as it is): core
    modules importing them call the component."""
    handle = cw.components[name]
    engine = cw.engine
    for iface, ext in handle.compiled.type.exports(engine).items():
        item = ext.ty
        if type(item).__name__ != "ComponentInstanceType" or iface.startswith("wasi:") or iface in world:
            continue
        for fname, fext in item.exports(engine).items():
            fty = fext.ty
            sig = scalar_signature(fty) if type(fty).__name__ == "FuncType" else None
            if sig is None or world.has_host(iface, fname):
                continue
            try:
                world.define_host(iface, fname, _component_caller(cw, name, f"{iface}#{fname}", sig[0], sig[1]),
                                  (sig[2], sig[3]))
            except LinkError as e:        # a waiting core module imports it with another type
                cw.components.pop(name, None)
                raise LinkError(f"component {name!r} not added: {e}") from None


def _component_caller(cw: Any, name: str, func: str, params: list[str], result: list[str]) -> Callable:
    def call(*args: Any) -> Any:
        out = cw.invoke(name, func, *(from_core(k, a) for k, a in zip(params, args)))
        return to_core(result[0], out) if result else None
    return call
