"""The WebAssembly text format: print a module exactly as ``wasm-tools print`` does.

    >>> import wasmweld
    >>> m = wasmweld.parse(wasmweld.runtime.engine.wat2wasm('(module (func (export "f") (result i32) i32.const 7))'))
    >>> print(wasmweld.text.to_wat(m), end="")
    (module
      (type (;0;) (func (result i32)))
      (export "f" (func 0))
      (func (;0;) (type 0) (result i32)
        i32.const 7
      )
    )

:func:`print_module` streams the text to a file object (``write`` is called
with blocks of text as they are produced); :func:`to_wat` returns a string.
Options: ``fold`` (folded instructions, as ``--fold-instructions``), ``names``
(use the name section), ``offsets`` (as ``--print-offsets``), ``skeleton``
(no bodies or segment contents), ``funcs`` (print only these function indices).
"""

from __future__ import annotations

import io
from typing import IO, Iterable

from .printer import ModulePrinter, Options

__all__ = ["print_module", "to_wat", "Options"]


def _module(m):
    if isinstance(m, (bytes, bytearray, memoryview)):
        from ..module import parse
        return parse(bytes(m))
    return m


def print_module(module, file: IO[str], *, fold: bool = False, names: bool = True, offsets: bool = False,
                 skeleton: bool = False, funcs: Iterable[int] | None = None) -> None:
    """Write ``module`` (a Module or its bytes) as text to ``file`` (anything with ``write(str)``)."""
    opts = Options(fold=fold, names=names, offsets=offsets, skeleton=skeleton,
                   funcs=None if funcs is None else frozenset(funcs))
    ModulePrinter(_module(module), file.write, opts).print_module()


def to_wat(module, **options) -> str:
    """``module`` (a Module or its bytes) as one string of text; options as for :func:`print_module`."""
    buf = io.StringIO()
    print_module(module, buf, **options)
    return buf.getvalue()
