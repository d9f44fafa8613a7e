"""Replace a function's body: with a constant, a call to another function, a trap, or instructions.

::

    replace_body(m, "feature_enabled", const=1)
    ;; (func $feature_enabled (result i32) (i32.const 1))
    replace_body(m, "log", call="log_to_buffer", args=["..."])
    ;; (func $log (param i32 i32) (call $log_to_buffer (local.get 0) (local.get 1)))
    replace_body(m, "debug_hook", trap=True)
    ;; (func $debug_hook (unreachable))

The function keeps its index and type, so nothing else moves. ``const`` gives
one value per result (a list for several results); ``call`` follows the rules
of :mod:`wasmweld.passes.entry` (constants, a final ``"..."`` passes the
function's own parameters through) and the callee's results must be the
function's results.
"""

from __future__ import annotations

from wasmweld.binary.instr import Instr
from wasmweld.errors import EditError
from typing import Any, Iterable

from wasmweld.module import FuncBody, Module
from wasmweld.passes.common import FuncRef
from wasmweld.passes.common import FuncLookup, const_instrs, set_body
from wasmweld.passes.entry import call_instrs
from wasmweld.passes.result import PassResult

__all__ = ["run_replace_body", "replace_body"]


def replace_body(m: Module, func: FuncRef, *, const: Any = None, call: FuncRef | None = None,
                 args: Iterable[Any] = (), trap: bool = False, locals: Iterable[Any] | None = None,
                 instrs: Iterable[Instr] | None = None) -> int:
    """Replace the body of ``func`` (exactly one of ``const``, ``call``, ``trap``, ``instrs``); returns its index."""
    chosen = [k for k, v in (("const", const), ("call", call), ("trap", trap or None), ("instrs", instrs))
              if v is not None]
    if len(chosen) != 1:
        raise EditError("replace_body: give exactly one of const=, call=, trap=True or instrs=")
    lookup = FuncLookup(m)
    idx = lookup.find(func)
    label = lookup.label(idx)
    ft = m.func_type(idx)
    if const is not None:
        values = list(const) if isinstance(const, (list, tuple)) else [const]
        if len(values) != len(ft.results):
            raise EditError(f"type mismatch: {label} returns {len(ft.results)} value(s) "
                            f"({', '.join(map(str, ft.results)) or 'none'}), got {len(values)} constant(s)")
        body = []
        for i, (vt, v) in enumerate(zip(ft.results, values)):
            body += const_instrs(vt, v, f"result {i} of {label}")
    elif call is not None:
        tidx = lookup.find(call, "called function")
        tlabel = lookup.label(tidx)
        args = list(args)
        if args and args[-1] == "...":
            # pass this function's own parameters through: the callee must take them
            body, tft, rest = call_instrs(m, tidx, tlabel, args)
            if tuple(rest) != ft.params:
                raise EditError(f"type mismatch: {label} has parameters ({', '.join(map(str, ft.params))}) but "
                                f"{tlabel} would take ({', '.join(map(str, rest))}) from it")
        else:
            body, tft, _rest = call_instrs(m, tidx, tlabel, args)
        if tft.results != ft.results:
            raise EditError(f"type mismatch: {label} returns ({', '.join(map(str, ft.results))}) but {tlabel} "
                            f"returns ({', '.join(map(str, tft.results))})")
    elif trap:
        body = [Instr.make("unreachable")]
    else:
        body = list(instrs or ())   # the one chosen: not None
    set_body(m, idx, FuncBody.from_instrs(list(locals or []), body), label)
    return idx


def run_replace_body(module: Module, *, func: FuncRef, const: Any = None, call: FuncRef | None = None,
                     args: Iterable[Any] = (), trap: bool = False) -> PassResult:
    """Pass ``replace-body``: :func:`replace_body` (exactly one of ``const``, ``call``, ``trap``)."""
    kw: dict = {}
    if const is not None:
        kw["const"] = const
    elif call is not None:
        kw.update(call=call, args=args)
    elif trap:
        kw["trap"] = True
    idx = replace_body(module, func, **kw)
    return PassResult(module, {"replaced": 1}, [f"replaced the body of {func!r} (function #{idx})"], value=idx)
