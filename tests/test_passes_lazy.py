"""``wasmweld.passes`` loads its pass modules on first use (issue 16: the merge CLI imported every
pass, the edit-plan reader and the registry before any work): the names stay the same objects."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_importing_passes_loads_only_gc_and_what_it_needs():
    out = _run("import sys, wasmweld.passes; print(sorted(m for m in sys.modules if m.startswith('wasmweld.passes.')))")
    loaded = eval(out)
    assert "wasmweld.passes.gc" in loaded
    for lazy in ("wasmweld.passes.plan", "wasmweld.passes.registry", "wasmweld.passes.data", "wasmweld.passes.entry"):
        assert lazy not in loaded


def test_every_public_name_resolves_to_its_modules_object():
    import importlib

    import wasmweld.passes as passes

    for name in passes.__all__:
        obj = getattr(passes, name)
        home = passes._HOME.get(name, "gc")
        assert obj is getattr(importlib.import_module(f"wasmweld.passes.{home}"), name), name
    assert set(passes.__all__) <= set(dir(passes))


def test_gc_is_the_function_even_when_its_module_was_imported_first():
    out = _run("import wasmweld.passes.gc, wasmweld.passes.plan\n"
               "from wasmweld.passes import gc, load_plan\nprint(callable(gc) and type(gc).__name__, load_plan.__module__)")
    assert out == "function wasmweld.passes.plan"
