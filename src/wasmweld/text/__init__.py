"""The WebAssembly text format: print a module exactly as ``wasm-tools print`` does.

    >>> from wasmweld import parse
    >>> from wasmweld.runtime.engine import wat2wasm
    >>> m = parse(wat2wasm('(module (func (export "f") (result i32) i32.const 7))'))
    >>> print(to_wat(m), end="")
    (module
      (type (;0;) (func (result i32)))
      (export "f" (func 0))
      (func (;0;) (type 0) (result i32)
        i32.const 7
      )
    )

:func:`print_module` streams the text to a file object (``write`` is called
with blocks of text as they are produced); :func:`to_wat` returns a string;
:func:`func_to_wat` prints one function body. Options: ``fold`` (folded
instructions, as ``--fold-instructions``), ``names`` (use the name section),
``offsets`` (as ``--print-offsets``), ``skeleton`` (no bodies or segment
contents), ``funcs`` (print only these function indices). ``Module`` shows its
text in IPython/Jupyter (:func:`repr_pretty`, :func:`repr_html`, capped in size).
"""

from __future__ import annotations

import html
import io
from typing import Any, Callable, Iterable

from .body import func_to_wat
from .printer import ModulePrinter, Options, TextSink

__all__ = ["print_module", "to_wat", "func_to_wat", "preview", "repr_pretty", "repr_html", "Options",
           "TextSink", "REPR_LIMIT"]

#: characters of text the notebook reprs show before cutting off
REPR_LIMIT = 200_000


def _module(m):
    """The module as it is now: an unchanged one encodes to its input, a changed one is read back."""
    if isinstance(m, (bytes, bytearray, memoryview)) or not hasattr(m, "encode"):
        raise TypeError(f"expected a Module (wasmweld.parse(data)), got {type(m).__name__}")
    data = m.encode()
    return m if data is m.data else type(m).parse(data)


def print_module(module: Any, file: TextSink | io.BufferedIOBase, *, fold: bool = False, names: bool = True, offsets: bool = False,
                 skeleton: bool = False, funcs: Iterable[int] | None = None, jobs: int | None = None) -> None:
    """Write ``module`` (a :class:`~wasmweld.module.Module`, or a :class:`~wasmweld.component.Component`) as
    text to ``file``: anything with ``write(str)``, or a binary file (``open(path, "wb")``, any
    ``io.BufferedIOBase``), which gets the text as UTF-8.

    ``jobs=1`` keeps a big code section in this process (by default it is split with a forked child
    where a core is idle, see :mod:`wasmweld.text.parallel`).
    """
    opts = Options(fold=fold, names=names, offsets=offsets, skeleton=skeleton,
                   funcs=None if funcs is None else frozenset(funcs), jobs=jobs)
    binary: Any = None
    write: Callable[[str], object]
    if isinstance(file, io.BufferedIOBase):
        binary, write = file, _utf8_writer(file)
    else:
        write = file.write
    if hasattr(module, "components"):  # a Component (not imported: component.model reaches text lazily)
        from .component import ComponentPrinter     # (loaded for components only: start-up of `print`)
        return ComponentPrinter(module, write, opts).print()
    pr = ModulePrinter(_module(module), write, opts)
    pr.binary = binary
    pr.print_module()


def _utf8_writer(f: io.BufferedIOBase) -> Callable[[str], object]:
    def write(s: str) -> None:
        f.write(s.encode("utf-8"))
    return write


def to_wat(module: Any, **options: Any) -> str:
    """``module`` (a Module) as one string of text; options as for :func:`print_module`."""
    buf = io.StringIO()
    print_module(module, buf, **options)
    return buf.getvalue()


class _Enough(Exception):
    pass


class _Capped:
    def __init__(self, limit: int) -> None:
        self.parts: list[Any] = []
        self.size: int = 0
        self.limit: int = limit

    def write(self, s: str) -> None:
        self.parts.append(s)
        self.size += len(s)
        if self.size > self.limit:
            raise _Enough


def preview(module: Any, limit: int = REPR_LIMIT) -> tuple[str, bool]:
    """The first ``limit`` characters of the text (cut at a line end) and whether it was cut."""
    out = _Capped(limit)
    try:
        print_module(module, out, jobs=1)     # (the first characters only: no second process)
    except _Enough:
        text = "".join(out.parts)[:limit]
        return text[:text.rfind("\n") + 1], True
    return "".join(out.parts), False


def repr_pretty(module: Any, p: Any, cycle: bool) -> None:
    """IPython's pretty printer: the module's text (at most :data:`REPR_LIMIT` characters)."""
    if cycle:
        p.text(repr(module))
        return
    text, cut = preview(module)
    p.text(text + (f";; ... cut at {REPR_LIMIT} characters; module.to_wat() has it all\n" if cut else ""))


def repr_html(module: Any) -> str:
    """Jupyter's HTML view: the text in a ``<pre>`` block (at most :data:`REPR_LIMIT` characters)."""
    text, cut = preview(module)
    note = f"\n;; ... cut at {REPR_LIMIT} characters; module.to_wat() has it all" if cut else ""
    return f"<pre>{html.escape(text + note)}</pre>"
