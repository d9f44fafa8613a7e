"""Folded instructions, as ``wasm-tools print --fold-instructions`` writes them::

    (func (;0;) (type 0) (param i32) (result i32)
      (if (result i32) ;; label = @1
        (local.get 0)
        (then
          (i32.const 1))
        (else
          (i32.const 2)))
    )

Each instruction takes as operands the folded instructions before it whose
result counts add up exactly to its parameter count (:mod:`.arity`); ``if``
takes the one before it as its condition. Legacy exception blocks (``try``)
cannot be folded, as in wasm-tools.
"""

from __future__ import annotations

from bisect import bisect_right

from typing import TYPE_CHECKING, Any

from ..errors import WasmError
from .arity import arity
from .code import BodyState
from ..binary.instr import Instr

if TYPE_CHECKING:   # the printer imports this module
    from .printer import ModulePrinter

__all__ = ["fold_body", "fold_const_expr"]

_UNFOLDABLE = 1 << 32  # wasmparser's u32::MAX: an instruction whose results cannot be split
_KIND = {"block": "block", "loop": "loop", "try_table": "try_table"}


class _Inst:
    __slots__ = ("plain", "folded", "results", "offset", "hint")

    def __init__(self, plain, folded, results, offset: int, hint=None):
        self.plain = plain
        self.folded = folded
        self.results = results
        self.offset: int = offset
        #: a branch hint annotation printed on its own line before the instruction
        self.hint = hint


class _Seq:
    """The folded instructions of a block, with ``before[i]``: the results of ``items[:i]`` added up,
    so that finding an instruction's operands is a binary search, not a walk back (no quadratic time
    on long runs of instructions without results)."""

    __slots__ = ("items", "before")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.before: list[Any] = []

    def total(self) -> int:
        return self.before[-1] + self.items[-1].results if self.items else 0

    def append(self, inst: _Inst) -> None:
        self.before.append(self.total())
        self.items.append(inst)

    def pop(self) -> _Inst:
        self.before.pop()
        return self.items.pop()

    def take_from(self, first: int) -> list[Any]:
        out = self.items[first:]
        del self.items[first:]
        del self.before[first:]
        return out


class _Block:
    __slots__ = ("ty", "kind", "plain", "folded", "predicate", "consequent", "offset", "hint")

    def __init__(self, ty, kind, plain, offset: int, predicate=None, hint=None):
        self.hint = hint
        self.ty = ty
        self.kind = kind
        self.plain = plain
        self.folded = _Seq()
        self.predicate = predicate
        self.consequent: tuple[list, int] | None = None
        self.offset: int = offset


def _plain(control: list[Any], plain: str, params: int, results: int, offset: int, hint=None) -> None:
    """wasmprinter's handle_plain: the operands are the latest folded instructions whose results add up
    to ``params`` exactly (walking back from the end, the first point where they reach it); when they
    overshoot, the instruction's results cannot be used as operands later."""
    seq = control[-1].folded
    first = len(seq.items)
    if params > 0 and seq.items:
        total = seq.total()
        if total >= params:
            pos = bisect_right(seq.before, total - params) - 1  # the last pos whose suffix reaches params
            if total - seq.before[pos] == params:
                first = pos
            else:
                results = _UNFOLDABLE
    seq.append(_Inst(plain, seq.take_from(first), results, offset, hint))


def _end(control: list[Any], results: int) -> None:
    b = control.pop()
    if b.kind == "if":
        then = _Inst("then", b.folded.items, results, b.offset)
        inst = _Inst(b.plain, b.predicate + [then], results, b.offset, b.hint)
    elif b.kind == "else":
        folded_then, if_offset = b.consequent
        then = _Inst("then", folded_then, results, if_offset)
        els = _Inst("else", b.folded.items, results, b.offset)
        inst = _Inst(b.plain, b.predicate + [then, els], results, if_offset, b.hint)
    else:
        inst = _Inst(b.plain, b.folded.items, results, b.offset)
    if not control:
        raise WasmError("end without outer block")
    control[-1].folded.append(inst)


def _fold(pr, func: int, instrs: list[Instr], control: list[Any], nest0: int, offset: int | None, hints: list[Any] | None = None,
          body_start: int = 0) -> None:
    """Run the folding state machine over ``instrs`` (final ``end`` excluded); ``hints`` as for
    ``BodyPrinter.flat``: a hint goes to the next plain instruction or ``if`` (elsewhere it is an error,
    as in wasm-tools)."""
    bp = pr.bp
    st = BodyState(nest0)
    cache = bp.cache if func not in pr.names.local_funcs else {}
    types, ftypes, ttypes = pr.types, pr.func_types, pr.tag_types
    pos = offset or 0
    hints = hints or []
    h = 0
    hint = None
    for ins in instrs:
        raw = ins[2]
        name = ins[0].name
        if h < len(hints) and hints[h][1] == pos - body_start:
            hint = f'@metadata.code.branch_hint "\\0{1 if hints[h][2] else 0}"'
            h += 1
        if hint is not None and name != "if" and (name in _KIND or name in ("else", "end")):
            raise WasmError("branch hints are only supported on an `if` or a plain instructions")
        depth_ok = len(control) == st.nesting - nest0 + 1
        ar = arity(ins, types, ftypes, ttypes, control, depth_ok)
        params, results = ar if ar is not None else (0, 0)
        t = cache.get(raw)
        if t is None:
            _sep, t = bp.step(ins, func, st, cache)
        if name in _KIND:
            control.append(_Block(ins[1][0], _KIND[name], t, pos))
        elif name == "if":
            pred = [control[-1].folded.pop()] if control[-1].folded.items else []
            control.append(_Block(ins[1][0], "if", t, pos, pred, hint))
            hint = None
        elif name == "else":
            b = control.pop()
            if b.kind != "if":
                raise WasmError("no enclosing if block")
            nb = _Block(b.ty, "else", b.plain, pos, b.predicate, b.hint)
            nb.consequent = (b.folded.items, b.offset)
            control.append(nb)
        elif name == "end":
            _end(control, results)
        elif name in ("try", "catch", "catch_all", "delegate"):
            raise WasmError("legacy-exceptions not supported")
        else:
            _plain(control, t, params, results, pos, hint)
            hint = None
        pos += len(raw)
    if len(control) != 1:
        raise WasmError("instruction sequence not closed")


def _print(pr, inst: _Inst, space: list[Any] | None) -> None:
    """Write one folded instruction and its operands (``space``: const-expr separator state).

    Iterative (an explicit stack), so deeply nested code cannot exhaust Python's recursion limit.
    """
    w = pr.w
    stack = [(inst, 0)]
    while stack:
        node, state = stack.pop()
        if state == 1:  # all operands written: close it
            pr.nesting -= 1
            w(")")
            continue
        for text in ((node.hint, node.plain) if node.hint is not None else (node.plain,)):
            if space is None:
                pr.newline(node.offset)
            elif space[0]:
                w(" ")
            else:
                space[0] = True
            if text is node.hint:
                w("(" + text + ")")
        w("(" + node.plain)
        if not node.folded and ";;" in node.plain:
            pr.newline(node.offset)
        pr.nesting += 1
        stack.append((node, 1))
        stack.extend((fi, 0) for fi in reversed(node.folded))


def fold_body(pr: Any, func: int, instrs: list[Instr], offset: int, hints: list[Any] | None = None, body_start: int = 0) -> None:
    """Print a function body folded; ``offset``: absolute offset of its first instruction."""
    control = [_Block(pr.func_types[func], "block", "", offset)]
    _fold(pr, func, instrs, control, pr.nesting, offset, hints, body_start)
    for inst in control[0].folded.items:
        _print(pr, inst, None)


def fold_const_expr(pr: ModulePrinter, instrs: list[Instr]) -> None:
    """Print a constant expression folded, space separated on one line."""
    control = [_Block(None, "block", "", 0)]
    _fold(pr, -1, instrs, control, pr.nesting, 0)
    space = [False]
    for inst in control[0].folded.items:
        _print(pr, inst, space)
