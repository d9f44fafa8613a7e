"""DWARF kept true through ``wasmweld edit``: the input's debug info rebased onto the edited code.

:class:`EditTracker` follows where each of the input's function bodies goes while the passes
run (they keep the order of defined functions and append new ones, except that ``stub-imports``
puts its stubs first, ``gc`` removes some and ``replace-body`` replaces one), then rewrites the
``.debug_*`` sections once at the end::

    (module (func $a ...) (func $dead ...) (func $b ...))   -- edit --gc -->   (module (func $a) (func $b))
    $b's rows, ranges and low_pc move back by $dead's size; $dead's become tombstones (-1, -2
    in range lists), its line sequences are dropped; a replaced body's likewise (its new code
    has no DWARF)

A module whose code did not move keeps its ``.debug_*`` sections byte for byte.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import DecodeError
from ..types import ExternKind
from .addrmap import AddressMap
from .merge import apply_index_map, combine, debug_sections
from ..module import Module

__all__ = ["EditTracker"]


def _func_imports(module) -> int:
    return sum(1 for imp in module.imports if imp.kind == ExternKind.FUNC)


class EditTracker:
    """Started on the module before the first pass (nothing to do without DWARF); :meth:`step`
    after each pass, :meth:`finish` on the result."""

    def __init__(self, module: Module) -> None:
        self.active: bool = any(cs.name.startswith(".debug_") for cs in module.customs)
        if not self.active:
            return
        self.before: bytes = module.encode()
        self.n_imp: int = _func_imports(module)
        self.n_def: int = len(module.funcs)
        self.pos: list[int | None] = list(range(len(module.funcs)))    # input body -> current position

    def step(self, name: str, result: Any) -> None:
        """Follow one pass (``name``: its registry name, ``result``: its PassResult)."""
        if not self.active:
            return
        module = result.module
        n_imp = _func_imports(module)
        maps = getattr(result.value, "maps", None)
        if maps is not None and maps["func"] is not None:
            fmap = maps["func"]
            self.pos = [None if p is None else _defined(apply_index_map(fmap, p + self.n_imp), n_imp)
                        for p in self.pos]
        elif name in ("replace-body", "replace_body") and isinstance(result.value, int):
            gone = result.value - n_imp
            self.pos = [None if p == gone else p for p in self.pos]
        elif isinstance(getattr(result.value, "functions", None), dict):
            accessors = {i - n_imp for i in result.value.functions.values()}     # add-data's accessors
            self.pos = [None if p in accessors else p for p in self.pos]
        elif name in ("stub-imports", "stub_imports"):
            added = len(module.funcs) - self.n_def        # stubbed functions become the first defined ones
            self.pos = [None if p is None else p + added for p in self.pos]
        self.n_imp, self.n_def = n_imp, len(module.funcs)

    def finish(self, module: Module, warn: Callable[[str], None]) -> None:
        """Rewrite ``module``'s DWARF (in place) for where its code now is."""
        if not self.active:
            return
        old = debug_sections(module)
        if not old:
            return                              # stripped on the way
        after = module.encode()
        try:
            amap = AddressMap(self.before, after, self.pos, check=True)
        except DecodeError as e:
            amap, why = None, str(e)
        if amap is not None and amap.identity:
            return                              # no code moved: the sections stay as they are
        sections = [] if amap is None else combine([("the input", old, amap)], warn)
        if amap is None:
            warn(f"dropped the DWARF of the input: {why}")
        for cs in list(module.customs):
            if cs.name.startswith(".debug_"):
                module.remove_custom(cs)
        for name, payload in sections:
            module.add_custom(name, payload)


def _defined(index: int | None, n_imp: int) -> int | None:
    return None if index is None or index < n_imp else index - n_imp
