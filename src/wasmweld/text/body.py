"""One function body as text: ``FuncBody.to_wat()``::

    >>> body.to_wat(module)          # as in the module's text: its type, names and labels
    (func $square (;1;) (type 1) (param $x i32) (result i32)
      local.get $x
      local.get $x
      i32.mul
    )
    >>> body.to_wat()                # on its own: function 0 of type 0
    (func (;0;) (type 0)
      local.get 0
      local.get 0
      i32.mul
    )

This module needs neither the module printer nor the section decoders (a body
prints from its instructions; with a module, ``module.to_wat(funcs=[index])``
does the work), so the item classes can call it without an import cycle.
"""

from __future__ import annotations

from typing import Any

from ..errors import WasmError
from ..types import ExternKind
from .code import BodyPrinter
from .fold import fold_body
from .instrs import TypeText
from .names import Names

__all__ = ["func_to_wat", "MAX_LOCALS"]

#: wasmprinter's limit on the locals of one function it prints (a body may declare 2**32 - 1)
MAX_LOCALS = 50000


class _Lone:
    """The little of a module printer that a lone body needs (output, nesting, type context)."""

    def __init__(self) -> None:
        self.names = Names()
        self.types: list[Any] = []
        self.func_types = [0]
        self.tag_types: list[Any] = []
        self.bp = BodyPrinter(self.names, TypeText(self.names, self.types))
        self.buf: list[Any] = []
        self.w = self.buf.append
        self.nesting: int = 0
        self.line: int = 0

    def newline(self, offset: int | None) -> None:
        self.w("\n" + self.bp.indent(self.nesting))
        self.line += 1


def func_to_wat(body: Any, module: Any = None, index: int | None = None, **options: Any) -> str:
    """One function body as ``(func ...)`` text.

    With ``module`` (and the function ``index``, found by identity in ``module.code`` if not given) the
    text is the module's (``module.to_wat(funcs=[index], **options)``); without, the body is printed on
    its own as function 0 of type 0 (block types print as ``(type N)`` only; ``fold=True`` folds).
    """
    if module is not None:
        if index is None:
            nimp = module.num_imported(ExternKind.FUNC)
            index = next((nimp + i for i, b in enumerate(module.code) if b is body), None)
            if index is None:
                raise ValueError("this body is not in module.code; pass index=")
        return module.to_wat(funcs=[index], **options)
    locals_, instrs = body.locals, body.instrs
    if sum(c for c, _t in locals_) > MAX_LOCALS:
        raise WasmError(f"the function exceeds the maximum number of locals that can be printed ({MAX_LOCALS})")
    pr = _Lone()
    pr.w("(func (;0;) (type 0)")
    pr.nesting = 1
    if any(c for c, _t in locals_):
        pr.newline(None)
        pr.w(pr.bp.locals_text(0, 0, locals_))
    if options.get("fold"):
        fold_body(pr, 0, instrs[:-1], 0)
    else:
        if len(instrs) > 1:
            pr.line += 1
        pr.bp.flat(pr.w, instrs[:-1], 0, 1)
    pr.w("\n)\n" if pr.line else ")\n")
    return "".join(pr.buf)
