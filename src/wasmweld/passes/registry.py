"""The pass registry: every surgery operation by name, with a one-line description.

The CLI (``wasmweld edit``) and edit plans (:mod:`wasmweld.passes.plan`) both
produce a list of :class:`Op` — a pass name and its parameters — and
:func:`apply_ops` runs them in order::

    ops = [Op("add-data", {"name": "js", "data": bundle, "size_func": "js_passive_data_size",
                           "init_func": "init_js_passive_data"}),
           Op("add-export", {"name": "canister_query greet", "call": "execute_method_js", "args": [0, 1]}),
           Op("strip", {"debug": True}),
           Op("gc", {})]
    m, ctx = apply_ops(m, ops)
    print("\\n".join(ctx.messages))

An error from a pass is re-raised as :class:`~wasmweld.errors.EditError`
prefixed with where the operation came from (``--add-export`` or
``edits.toml: [[export]] #3``).
"""

from __future__ import annotations

import functools
import inspect
from ..record import field, record
from typing import Any, Callable, Iterable

from wasmweld.errors import EditError, WasmError
from wasmweld.passes.body import run_replace_body
from wasmweld.passes.data import run_add_data
from wasmweld.passes.entry import run_add_export
from wasmweld.passes.exports import run_keep_exports, run_remove_exports, run_rename_export
from wasmweld.passes.gc import run_gc
from wasmweld.passes.imports import run_list_uncalled_imports, run_rename_import, run_resolve_import, run_stub_imports
from wasmweld.passes.metadata import run_add_custom, run_add_producer
from wasmweld.passes.strip import run_strip
from wasmweld.passes.common import check_indices
from wasmweld.passes.result import PassResult
from wasmweld.dwarf.edits import EditTracker
from wasmweld.module import Module

__all__ = ["Op", "PassInfo", "EditContext", "PassResult", "PASSES", "apply_ops", "run_checked", "describe"]


@record
class Op:
    """One operation: registered pass ``name``, its ``params``, and ``origin`` for messages."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    origin: str = ""


@record
class EditContext:
    """What the operations reported: ``messages`` (what was done), ``listings`` (query output),
    ``warnings``, and each operation's :class:`PassResult` in ``results``."""

    messages: list[str] = field(default_factory=list)
    listings: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    results: list[PassResult] = field(default_factory=list)


@record(frozen=True)
class PassInfo:
    """A registered pass: its ``name``, a one-line ``description`` and ``run(module, **options) -> PassResult``."""

    name: str
    description: str
    run: Callable[..., PassResult]


PASSES: dict[str, PassInfo] = {p.name: p for p in (
    PassInfo("add-data", "inject data: a passive segment with size/init accessors, or active bytes at __data_end "
             "when the memory layout makes that safe", run_add_data),
    PassInfo("add-export", "export a new function calling an existing one with constant arguments, or re-export "
             "a function under a new name", run_add_export),
    PassInfo("replace-body", "replace a function's body with a constant, a call to another function or a trap",
             run_replace_body),
    PassInfo("rename-import", "change the module and/or name of an import", run_rename_import),
    PassInfo("resolve-import", "turn a function import into a call of a function of the same module (types "
             "checked)", run_resolve_import),
    PassInfo("stub-imports", "replace imports (a whole import module, or names matching a glob) by trapping or "
             "default-returning definitions", run_stub_imports),
    PassInfo("list-uncalled-imports", "list imported functions that nothing calls or refers to",
             run_list_uncalled_imports),
    PassInfo("rename-export", "rename an export", run_rename_export),
    PassInfo("remove-exports", "remove the exports matching glob patterns", run_remove_exports),
    PassInfo("keep-exports", "remove every export not matching the glob patterns", run_keep_exports),
    PassInfo("strip", "remove custom sections: by default all but those that change behaviour (dylink.0, "
             "target_features, component-type*); everything, by name, by regex, debug info, producers",
             run_strip),
    PassInfo("add-producer", "add a field value to the producers section", run_add_producer),
    PassInfo("add-custom", "add (or replace) a custom section", run_add_custom),
    PassInfo("gc", "remove functions, globals, tables, memories, tags, types and segments nothing uses", run_gc),
)}


@functools.lru_cache(maxsize=None)
def _option_names(run: Callable) -> tuple[frozenset, frozenset, bool]:
    """(every option ``run`` takes, the required ones, whether it takes any keyword)."""
    params = list(inspect.signature(run).parameters.values())[1:]
    names = frozenset(p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
    required = frozenset(p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty)
    return names, required, any(p.kind == p.VAR_KEYWORD for p in params)


def _bind(info: PassInfo, params: dict) -> None:
    """EditError unless ``params`` are options ``info.run`` takes (names and required ones)."""
    names, required, any_keyword = _option_names(info.run)
    unknown = [k for k in params if k not in names] if not any_keyword else []
    missing = [k for k in required if k not in params]
    if unknown or missing:
        what = [f"unknown option(s) {', '.join(map(repr, unknown))}"] if unknown else []
        what += [f"missing option(s) {', '.join(map(repr, sorted(missing)))}"] if missing else []
        raise EditError(f"pass {info.name!r}: {'; '.join(what)}")


def _fold(messages: list[str], new: list[str], key: str | None, last_key: str | None) -> None:
    """Append ``new``; a message of the same fold key as the last one becomes ``(+N more)`` on it."""
    if key is None or key != last_key or not messages or len(new) != 1:
        messages.extend(new)
        return
    last = messages[-1]
    if " more)" in last:
        head, n = last.rsplit(" (+", 1)
        messages[-1] = f"{head} (+{int(n.split()[0]) + 1} more)"
    else:
        messages[-1] = f"{last} (+1 more)"


def describe() -> list[tuple[str, str]]:
    """(name, one-line description) of every pass, in registry order."""
    return [(p.name, p.description) for p in PASSES.values()]


def apply_ops(module: Module, ops: Iterable[Op], ctx: EditContext | None = None) -> tuple[Module, EditContext]:
    """Apply ``ops`` in order; returns ``(module, ctx)``.

    Any bad input a pass meets (an index out of range in an invalid module included) comes out as
    :class:`~wasmweld.errors.EditError` naming the operation.
    """
    ctx = ctx or EditContext()
    last_fold = None
    if ops:
        check_indices(module)
    debug = EditTracker(module) if ops else None       # DWARF follows the code (wasmweld.dwarf.edits)
    for op in ops:
        info = PASSES.get(op.name)
        if info is None:
            raise EditError(f"{op.origin + ': ' if op.origin else ''}unknown pass {op.name!r}")
        try:
            _bind(info, op.params)
            result = run_checked(info.run, module, **op.params)
        except WasmError as exc:
            if op.origin and not isinstance(exc, EditError):
                raise
            if op.origin:
                raise EditError(f"{op.origin}: {exc}") from exc
            raise
        module = result.module
        _fold(ctx.messages, result.messages, result.fold, last_fold)
        last_fold = result.fold
        ctx.listings.extend(result.listing)
        ctx.warnings.extend(result.warnings)
        ctx.results.append(result)
        if debug is not None:
            debug.step(op.name, result)
    if debug is not None:
        debug.finish(module, ctx.warnings.append)
    return module, ctx


def run_checked(run: Callable[..., PassResult], m: Module, /, **options: Any) -> PassResult:
    """``run(module, **options)``; a lookup error no check caught (an index of an invalid module the
    pass met first) comes out as EditError, never as an IndexError/KeyError."""
    try:
        return run(m, **options)
    except (IndexError, KeyError) as exc:
        raise EditError(f"cannot apply the pass: {exc} (is the module valid? `wasmweld validate` says where "
                        "it is not)") from None
