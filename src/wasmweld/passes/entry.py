"""Add exported entry points: new functions that call an existing one with constant arguments.

A CDK template has one engine function; each user method becomes an export
that calls it with the method's index::

    add_entry_point(m, "canister_query greet", "execute_method_js", [0, 1])
    ;; (func (export "canister_query greet")
    ;;   (call $execute_method_js (i32.const 0) (i32.const 1)))

Export names may contain any characters (spaces included). The target is an
export name, a ``name``-section name or ``#N``. Arguments are constants of the
target's parameter types (ints, floats, ``None``/``"null"`` for nullable
references); a final ``"..."`` makes the new function take the remaining
parameters itself and pass them through::

    add_entry_point(m, "run_with", "engine", [7, "..."])   ;; (param i32) -> engine(7, $0)

The new function returns what the target returns, unless ``drop_results``.
:func:`reexport` exports an existing function under another name instead.
"""

from __future__ import annotations

from ..record import record
from typing import Any, Iterable

from wasmweld.binary.instr import Instr
from wasmweld.errors import EditError
from wasmweld.module import Export, FuncBody, Module
from wasmweld.passes.common import FuncRef, FuncLookup, add_function, check_export_name, const_instrs, parse_constant
from wasmweld.types import ExternKind, FuncType
from wasmweld.passes.result import PassResult

__all__ = ["run_add_export", "EntryPoint", "add_entry_point", "add_entry_points", "reexport", "parse_entry_spec", "call_instrs"]

PASS = "..."


@record(frozen=True)
class EntryPoint:
    """One export to add: ``call`` a function with ``args``, or re-export ``func``."""

    name: str
    target: str | int
    args: tuple[Any, ...] = ()
    drop_results: bool = False
    reexport: bool = False
    #: for ``F(x)`` read as a re-export of a function named ``F(x)`` because ``x`` is no constant:
    #: why the call reading failed, said if no such function exists either
    call_error: str | None = None


def parse_entry_spec(text: str) -> EntryPoint:
    """``'NAME=FUNC(1, 2)'`` (new entry point), ``'NAME=FUNC(1, ...)'`` or ``'NAME=FUNC'`` (re-export)."""
    if "=" not in text:
        raise EditError(f"export spec {text!r}: expected NAME=FUNC(args) or NAME=FUNC")
    name, rhs = text.split("=", 1)
    rhs = rhs.strip()
    if not name:
        raise EditError(f"export spec {text!r}: empty export name")
    if not rhs:
        raise EditError(f"export spec {text!r}: no function after '='")
    if rhs.endswith(")") and "(" in rhs:
        cut = rhs.rfind("(")
        func, inner = rhs[:cut].strip(), rhs[cut + 1:-1].strip()
        args = [a.strip() for a in inner.split(",")] if inner else []
        if any(a == "" for a in args):
            raise EditError(f"export spec {text!r}: empty argument")
        try:
            values = tuple(a if a == PASS else parse_constant(a) for a in args)
        except EditError as exc:
            # not a call: a function whose name ends in (...) (a demangled C++ name), re-exported
            return EntryPoint(name, rhs, reexport=True, call_error=str(exc))
        if not func:
            raise EditError(f"export spec {text!r}: no function name before '('")
        return EntryPoint(name, func, values)
    return EntryPoint(name, rhs, reexport=True)


def call_instrs(m: Module, target_idx: int, target_label: str, args: Iterable[Any]) -> tuple[list[Instr], FuncType, list[Any]]:
    """Instructions calling ``target_idx`` with ``args`` (constants, final ``...`` = pass-through).

    Returns ``(instrs, target type, parameter types the caller must take)``.
    """
    ft = m.func_type(target_idx)
    args = list(args)
    passthrough = bool(args) and args[-1] == PASS
    if passthrough:
        args.pop()
    if PASS in args:
        raise EditError(f"call of {target_label}: '...' may only be the last argument")
    params = ft.params
    if len(args) > len(params) or (not passthrough and len(args) != len(params)):
        sig = ", ".join(map(str, params)) or "no arguments"
        raise EditError(f"type mismatch: {target_label} takes {len(params)} argument(s) ({sig}), "
                        f"got {len(args)}{' (+ ...)' if passthrough else ''}")
    out: list = []
    for i, (vt, value) in enumerate(zip(params, args)):
        out += const_instrs(vt, value, f"argument {i} of {target_label}")
    rest = list(params[len(args):])
    for j in range(len(rest)):
        out.append(Instr.make("local.get", j))
    out.append(Instr.make("call", target_idx))
    return out, ft, rest


def add_entry_points(m: Module, entries: Iterable[EntryPoint]) -> list[int]:
    """Add every entry (checked first, so a bad one adds nothing); returns the exported function indices."""
    entries = list(entries)
    lookup = FuncLookup(m)
    taken = {e.name for e in m.exports}
    plans: list[tuple[EntryPoint, int, Any]] = []
    for e in entries:
        check_export_name(m, e.name, taken)
        taken.add(e.name)
        try:
            idx = lookup.find(e.target, "function", f"for export {e.name!r}")
        except EditError as exc:
            if e.call_error is None:
                raise
            raise EditError(f"{exc}; read as a call, its arguments are bad: {e.call_error}") from None
        if e.reexport:
            plans.append((e, idx, None))
            continue
        label = lookup.label(idx)
        instrs, ft, params = call_instrs(m, idx, label, e.args)
        results = ft.results
        if e.drop_results:
            instrs += [Instr.make("drop")] * len(results)
            results = ()
        plans.append((e, idx, (FuncType(tuple(params), tuple(results)), instrs)))
    out = []
    for e, idx, made in plans:
        if made is not None:
            ft, instrs = made
            idx = add_function(m, ft, FuncBody.from_instrs([], instrs))
        m.exports.append(Export(e.name, ExternKind.FUNC, idx))
        out.append(idx)
    return out


def add_entry_point(m: Module, name: str, target: FuncRef, args: Iterable[Any] = (), *,
                    drop_results: bool = False) -> int:
    """Export a new function ``name`` calling ``target(*args)``; returns its function index."""
    return add_entry_points(m, [EntryPoint(name, target, tuple(args), drop_results)])[0]


def reexport(m: Module, name: str, func: FuncRef) -> int:
    """Export existing function ``func`` under ``name`` as well; returns its index."""
    return add_entry_points(m, [EntryPoint(name, func, reexport=True)])[0]


def run_add_export(module: Module, *, name: str, call: FuncRef | None = None, func: FuncRef | None = None,
                   args: Iterable[Any] = (), drop_results: bool = False, call_error: str | None = None) -> PassResult:
    """Pass ``add-export``: a new entry point calling ``call(*args)``, or ``func`` re-exported under ``name``."""
    if func is not None:
        e = EntryPoint(name, func, reexport=True, call_error=call_error)
        verb = "re-exported"
    else:
        if call is None:
            raise EditError(f"export {name!r}: give 'call' (a new entry point) or 'func' (a re-export)")
        e = EntryPoint(name, call, tuple(args), bool(drop_results))
        verb = "added entry point"
    idx = add_entry_points(module, [e])[0]
    return PassResult(module, {"added": 1}, [f"{verb} {e.name!r} (function #{idx})"], value=idx, fold=verb)
