"""Fuse a composition of components into one core module, adapters compiled ahead of time.

::

    >>> import wasmweld
    >>> core = wasmweld.fuse.fuse(open("composed.wasm", "rb").read())   # a core Module
    >>> [e.name for e in core.exports]
    ['run', 'memory', 'cabi_realloc']

The composition ``(component (component $a ...) (component $b ...) (instance ...) (export ...))``
is instantiated statically (:mod:`.plan`), every cross-component call gets an adapter written in Wasm
(:mod:`.adapter`, :mod:`.transcode` for strings, :mod:`.handles` for resources, :mod:`.build`) and
everything is merged with :func:`wasmweld.link.merge`, each component keeping its own memory.
``fuse(..., emit="component")`` wraps the one core module in a component with the composition's
exports (:mod:`.component_out`). See :func:`fuse`.
"""

from __future__ import annotations

from .abi import FuseError
from .pipeline import describe, fuse, fuse_plan

__all__ = ["FuseError", "fuse", "fuse_plan", "describe"]
