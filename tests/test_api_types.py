"""Issue 15, types and API docs: explicit keyword parameters for merge/merge_plan, every public name
and every public module of the typed areas documented, World() without wasmtime gives the install hint."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

import wasmweld
from wasmweld.errors import LinkError

MERGE_PARAMS = ["allow_unresolved", "export_conflicts", "export_from", "single_memory", "drop_memory_exports",
                "memory_reserve", "gc", "module_name", "names", "validate_inputs"]


@pytest.mark.parametrize("func, extra", [(wasmweld.merge, ["warn", "report"]), (wasmweld.merge_plan, [])],
                         ids=["merge", "merge_plan"])
def test_merge_entry_points_have_explicit_keyword_parameters(func, extra):
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    assert params[0].name == "inputs" and params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert [p.name for p in params[1:]] == MERGE_PARAMS + extra
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.annotation is not inspect.Parameter.empty
               for p in params[1:])
    assert sig.return_annotation is not inspect.Signature.empty
    for p in params:   # each parameter is named in the docstring
        assert f"``{p.name}``" in func.__doc__, p.name


def test_merge_rejects_unknown_and_bad_options():
    with pytest.raises(TypeError, match="unexpected keyword argument 'exports_conflict'"):
        wasmweld.merge([], exports_conflict="rename")
    with pytest.raises(LinkError, match="export_conflicts must be one of"):
        wasmweld.merge_plan([("a", b"\0asm\x01\0\0\0")], export_conflicts="merge")


def test_every_public_name_is_documented():
    """Classes and functions (type aliases such as ValType are typing unions: no docstring of their own)."""
    missing = []
    for name in wasmweld.__all__:
        obj = getattr(wasmweld, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            if not (inspect.getdoc(obj) or "").strip():
                missing.append(name)
    assert missing == []


TYPED_PACKAGES = ["wasmweld.runtime", "wasmweld.preinit", "wasmweld.passes", "wasmweld.link", "wasmweld.cli"]
NOT_OURS = {"wasmweld.cli.validate", "wasmweld.cli.print", "wasmweld.cli.parse", "wasmweld.cli.wit",
            "wasmweld.cli.extract", "wasmweld.cli.fuse", "wasmweld.cli.addr2line"}


def _public_modules():
    names = ["wasmweld", "wasmweld.errors", "wasmweld.manifest"]
    for pkg in TYPED_PACKAGES:
        names.append(pkg)
        mod = importlib.import_module(pkg)
        for info in pkgutil.iter_modules(mod.__path__, pkg + "."):
            if not info.name.rsplit(".", 1)[1].startswith("_") and info.name not in NOT_OURS:
                names.append(info.name)
    return names


def test_every_public_module_of_the_typed_areas_has_a_docstring():
    names = _public_modules()
    assert len(names) > 50
    undocumented = [n for n in names if len((importlib.import_module(n).__doc__ or "").strip()) < 20]
    assert undocumented == []


def test_world_without_wasmtime_gives_the_install_hint():
    code = ("import sys; sys.modules['wasmtime'] = None\n"
            "import wasmweld\n"
            "try:\n    wasmweld.World()\n"
            "except wasmweld.WasmError as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60).stdout
    assert out.startswith("WasmError this needs wasmtime") and "pip install 'wasmweld[runtime]'" in out
