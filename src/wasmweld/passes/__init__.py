"""Binary surgery passes over the lossless core: one file per pass, one registry.

Each pass takes a :class:`~wasmweld.module.Module` and changes only what it
must; every section it does not touch is written back byte for byte. Passes
that only add or replace items edit the module in place (and return it);
passes that remove or move items (import resolution and stubbing, ``gc``)
renumber every index with :mod:`wasmweld.binary.reencode` and return a *new*
module — always continue with the returned one::

    import wasmweld
    from wasmweld import passes

    m = wasmweld.parse(open("template.wasm", "rb").read())
    passes.add_passive_data(m, "js", bundle, size_func="js_passive_data_size",
                            init_func="init_js_passive_data")
    passes.add_entry_point(m, "canister_query greet", "execute_method_js", [0, 1])
    m = passes.stub_imports(m, "gojs")
    passes.strip_custom(m, debug=True)
    m = passes.remove_unused(m)
    open("out.wasm", "wb").write(m.encode())

Every pass also has one contract function for the registry and for callers that
want a uniform answer, ``run_<name>(module, **options) -> PassResult`` (the changed
module, counts, messages, warnings): ``passes.PASSES["gc"].run(m)``.

Bad requests (unknown function or import, type mismatch, name clash, an
unsafe active placement) raise :class:`~wasmweld.errors.EditError` naming the
item. The registry (:mod:`wasmweld.passes.registry`) names every pass for the
CLI and for edit plans (:mod:`wasmweld.passes.plan`, docs/edit-plan.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# ``gc`` is both a submodule and a function: the function is bound here, before anything imports the
# submodule by its path (which would otherwise leave the module under that name)
from wasmweld.passes.gc import GcResult, gc, remove_unused

if TYPE_CHECKING:
    from wasmweld.passes.body import replace_body
    from wasmweld.passes.data import (
        DataResult, add_active_data, add_passive_data, check_active_placement, find_layout, inject_data,
    )
    from wasmweld.passes.entry import EntryPoint, add_entry_point, add_entry_points, parse_entry_spec, reexport
    from wasmweld.passes.exports import keep_exports, remove_exports, rename_export
    from wasmweld.passes.imports import (
        list_uncalled_imports, rename_import, resolve_import, resolve_imports, stub_imports,
    )
    from wasmweld.passes.metadata import add_custom, add_producer, format_metadata, show_metadata
    from wasmweld.passes.plan import load_plan, parse_plan
    from wasmweld.passes.registry import PASSES, EditContext, Op, apply_ops, describe
    from wasmweld.passes.result import PassResult
    from wasmweld.passes.strip import strip_custom
    from wasmweld.passes.used import Used, analyze, collect_references

__all__ = [
    "add_passive_data", "add_active_data", "inject_data", "find_layout", "check_active_placement", "DataResult",
    "add_entry_point", "add_entry_points", "reexport", "parse_entry_spec", "EntryPoint",
    "replace_body",
    "rename_import", "resolve_import", "resolve_imports", "stub_imports", "list_uncalled_imports",
    "rename_export", "remove_exports", "keep_exports",
    "strip_custom", "add_producer", "add_custom", "show_metadata", "format_metadata",
    "analyze", "collect_references", "Used", "remove_unused", "gc", "GcResult",
    "load_plan", "parse_plan", "apply_ops", "Op", "EditContext", "PASSES", "describe", "PassResult",
]

#: where each public name lives (imported on first use: ``import wasmweld.passes`` stays light)
_HOME = {
    "replace_body": "body", "DataResult": "data", "add_active_data": "data", "add_passive_data": "data",
    "check_active_placement": "data", "find_layout": "data", "inject_data": "data",
    "EntryPoint": "entry", "add_entry_point": "entry", "add_entry_points": "entry", "parse_entry_spec": "entry",
    "reexport": "entry", "keep_exports": "exports", "remove_exports": "exports", "rename_export": "exports",
    "list_uncalled_imports": "imports", "rename_import": "imports", "resolve_import": "imports",
    "resolve_imports": "imports", "stub_imports": "imports", "add_custom": "metadata", "add_producer": "metadata",
    "format_metadata": "metadata", "show_metadata": "metadata", "load_plan": "plan", "parse_plan": "plan",
    "PASSES": "registry", "EditContext": "registry", "Op": "registry", "apply_ops": "registry",
    "describe": "registry", "PassResult": "result", "strip_custom": "strip", "Used": "used", "analyze": "used",
    "collect_references": "used",
}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
