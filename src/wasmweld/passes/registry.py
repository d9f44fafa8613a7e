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

from dataclasses import dataclass, field
from typing import Callable

from wasmweld.errors import EditError, WasmError

__all__ = ["Op", "PassInfo", "EditContext", "PASSES", "apply_ops", "describe"]


@dataclass
class Op:
    """One operation: registered pass ``name``, its ``params``, and ``origin`` for messages."""

    name: str
    params: dict = field(default_factory=dict)
    origin: str = ""


@dataclass
class EditContext:
    """What the operations reported: ``messages`` (what was done), ``listings`` (query output)."""

    messages: list[str] = field(default_factory=list)
    listings: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    results: list = field(default_factory=list)


@dataclass(frozen=True)
class PassInfo:
    name: str
    description: str
    run: Callable  # (module, params: dict, ctx: EditContext) -> module


def _p(params: dict, key: str, default=None):
    return params.get(key, default)


# ------------------------------------------------------------------------------ adapters

def _add_data(m, p, ctx):
    from wasmweld.passes.data import inject_data
    kw = dict(size_func=_p(p, "size_func"), init_func=_p(p, "init_func"), accessors=_p(p, "accessors"))
    if _p(p, "mode", "passive") == "active":
        kw.update(addr_func=_p(p, "addr_func"), align=_p(p, "align", 16) or 16)
    elif _p(p, "addr_func") is not None:
        raise EditError("addr_func is only for active data (passive data has no address)")
    res = inject_data(m, p["name"], p["data"], mode=_p(p, "mode", "passive"), **kw)
    ctx.messages.extend(res.messages)
    ctx.results.append(res)
    return res.module


def _add_export(m, p, ctx):
    from wasmweld.passes.entry import EntryPoint, add_entry_points
    if _p(p, "func") is not None:
        e = EntryPoint(p["name"], p["func"], reexport=True, call_error=_p(p, "call_error"))
        verb = "re-exported"
    else:
        e = EntryPoint(p["name"], p["call"], tuple(_p(p, "args", ())), bool(_p(p, "drop_results", False)))
        verb = "added entry point"
    idx = add_entry_points(m, [e])[0]
    if not ctx.messages or not ctx.messages[-1].startswith(verb):
        ctx.messages.append(f"{verb} {e.name!r} (function #{idx})")
    else:  # fold long runs of exports into one line
        last = ctx.messages[-1]
        if " more)" in last:
            head, n = last.rsplit(" (+", 1)
            ctx.messages[-1] = f"{head} (+{int(n.split()[0]) + 1} more)"
        else:
            ctx.messages[-1] = f"{last} (+1 more)"
    return m


def _replace_body(m, p, ctx):
    from wasmweld.passes.body import replace_body
    kw = {}
    if _p(p, "const") is not None:
        kw["const"] = p["const"]
    elif _p(p, "call") is not None:
        kw["call"] = p["call"]
        kw["args"] = _p(p, "args", ())
    elif _p(p, "trap"):
        kw["trap"] = True
    idx = replace_body(m, p["func"], **kw)
    ctx.messages.append(f"replaced the body of {p['func']!r} (function #{idx})")
    return m


def _rename_import(m, p, ctx):
    from wasmweld.passes.imports import rename_import
    new = rename_import(m, p["module"], p["name"], new_module=_p(p, "new_module"), new_name=_p(p, "new_name"))
    ctx.messages.append(f"renamed import {p['module']!r} {p['name']!r} to {new.module!r} {new.name!r}")
    return m


def _resolve_import(m, p, ctx):
    from wasmweld.passes.imports import resolve_import
    out = resolve_import(m, p["module"], p["name"], p["target"])
    ctx.messages.append(f"resolved import {p['module']!r} {p['name']!r} to {p['target']!r}")
    return out


def _stub_imports(m, p, ctx):
    from wasmweld.passes.imports import stub_imports
    before = len(m.imports)
    out = stub_imports(m, p["module"], _p(p, "name"), mode=_p(p, "mode", "trap"))
    what = f"{p['module']!r}" + (f" {p['name']!r}" if _p(p, "name") else "")
    how = "trapping" if _p(p, "mode", "trap") == "trap" else "default-returning"
    ctx.messages.append(f"stubbed {before - len(out.imports)} import(s) of {what} with {how} definitions")
    return out


def _list_uncalled(m, p, ctx):
    from wasmweld.passes.imports import list_uncalled_imports
    found = list_uncalled_imports(m)
    ctx.listings.append(f"uncalled imports: {len(found)}")
    ctx.listings.extend(f"  {imp.module} {imp.name}" for imp in found)
    return m


def _rename_export(m, p, ctx):
    from wasmweld.passes.exports import rename_export
    rename_export(m, p["old"], p["new"])
    ctx.messages.append(f"renamed export {p['old']!r} to {p['new']!r}")
    return m


def _remove_exports(m, p, ctx):
    from wasmweld.passes.exports import remove_exports
    gone = remove_exports(m, p["patterns"])
    ctx.messages.append(f"removed {len(gone)} export(s): {', '.join(map(repr, gone[:8]))}{' ...' if len(gone) > 8 else ''}")
    return m


def _keep_exports(m, p, ctx):
    from wasmweld.passes.exports import keep_exports
    gone = keep_exports(m, p["patterns"])
    ctx.messages.append(f"kept exports matching {', '.join(map(repr, p['patterns']))}; removed {len(gone)}")
    return m


def _strip(m, p, ctx):
    from wasmweld.passes.strip import strip_custom
    gone = strip_custom(m, all=bool(_p(p, "all")), names=_p(p, "names", ()), regex=_p(p, "regex", ()),
                        debug=bool(_p(p, "debug")), producers=bool(_p(p, "producers")))
    ctx.messages.append(f"stripped {len(gone)} custom section(s)"
                        + (f": {', '.join(dict.fromkeys(gone))}" if gone else ""))
    return m


def _add_producer(m, p, ctx):
    from wasmweld.passes.metadata import add_producer
    add_producer(m, p["field"], p["name"], _p(p, "version", "") or "")
    ctx.messages.append(f"added producer {p['field']}: {p['name']} {_p(p, 'version', '')}".rstrip())
    return m


def _add_custom(m, p, ctx):
    from wasmweld.passes.metadata import add_custom
    add_custom(m, p["name"], p["data"], replace=bool(_p(p, "replace")))
    ctx.messages.append(f"added custom section {p['name']!r} ({len(p['data'])} bytes)")
    return m


def _gc(m, p, ctx):
    from wasmweld.passes.gc import gc
    res = gc(m, roots=_p(p, "roots"), keep_imports=bool(_p(p, "keep_imports")))
    ctx.messages.append(res.summary())
    ctx.warnings.extend(res.warnings)
    return res.module


PASSES: dict[str, PassInfo] = {p.name: p for p in (
    PassInfo("add-data", "inject data: a passive segment with size/init accessors, or active bytes at __data_end "
             "when the memory layout makes that safe", _add_data),
    PassInfo("add-export", "export a new function calling an existing one with constant arguments, or re-export "
             "a function under a new name", _add_export),
    PassInfo("replace-body", "replace a function's body with a constant, a call to another function or a trap",
             _replace_body),
    PassInfo("rename-import", "change the module and/or name of an import", _rename_import),
    PassInfo("resolve-import", "turn a function import into a call of a function of the same module (types "
             "checked)", _resolve_import),
    PassInfo("stub-imports", "replace imports (a whole import module, or names matching a glob) by trapping or "
             "default-returning definitions", _stub_imports),
    PassInfo("list-uncalled-imports", "list imported functions that nothing calls or refers to", _list_uncalled),
    PassInfo("rename-export", "rename an export", _rename_export),
    PassInfo("remove-exports", "remove the exports matching glob patterns", _remove_exports),
    PassInfo("keep-exports", "remove every export not matching the glob patterns", _keep_exports),
    PassInfo("strip", "remove custom sections: all, by name, by regex, debug info (DWARF, name), producers",
             _strip),
    PassInfo("add-producer", "add a field value to the producers section", _add_producer),
    PassInfo("add-custom", "add (or replace) a custom section", _add_custom),
    PassInfo("gc", "remove functions, globals, tables, memories, tags, types and segments nothing uses", _gc),
)}


def describe() -> list[tuple[str, str]]:
    """(name, one-line description) of every pass, in registry order."""
    return [(p.name, p.description) for p in PASSES.values()]


def apply_ops(module, ops, ctx: EditContext | None = None):
    """Apply ``ops`` in order; returns ``(module, ctx)``."""
    ctx = ctx or EditContext()
    for op in ops:
        info = PASSES.get(op.name)
        if info is None:
            raise EditError(f"{op.origin + ': ' if op.origin else ''}unknown pass {op.name!r}")
        try:
            module = info.run(module, op.params, ctx)
        except WasmError as exc:
            if op.origin and not isinstance(exc, EditError):
                raise
            if op.origin:
                raise EditError(f"{op.origin}: {exc}") from exc
            raise
    return module, ctx
