"""WebAssembly components (the component model, layer 1): read, inspect, write back byte for byte.

::

    >>> import wasmweld
    >>> c = wasmweld.parse(open("app.component.wasm", "rb").read())   # a Component
    >>> [str(i.name) for i in c.imports]
    ['wasi:cli/stdout@0.2.0', ...]
    >>> c.modules[0].exports[0].name        # core modules are wasmweld Modules
    'memory'
    >>> c.encode() == data
    True

The text form ``(component (core module ...) (core instance ...) (canon lift ...) (export ...))``
maps one to one onto the items in :mod:`wasmweld.component.types`.
"""

from __future__ import annotations

from ..module import Module
from ..module import parse as parse_module
from .model import (
    COMPONENT_PREAMBLE, Component, ComponentSection, component_type_sections, is_component, parse_component,
)

__all__ = ["Component", "ComponentSection", "COMPONENT_PREAMBLE", "is_component", "parse_component", "parse",
           "component_type_sections"]


def parse(data: bytes | bytearray | memoryview, *, lazy: bool = True) -> Module | Component:
    """Read a binary: a :class:`~wasmweld.component.Component` if ``data`` has the component preamble
    (version 0x0d, layer 1), else a core :class:`~wasmweld.module.Module` (``wasmweld.parse``)."""
    if isinstance(data, (bytes, bytearray, memoryview)) and is_component(data):
        return parse_component(data, lazy=lazy)
    return parse_module(data, lazy=lazy)
