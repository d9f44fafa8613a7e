"""Funcref-table trampolines: how a World breaks import cycles without Python on the call path.

When module ``a`` imports ``b.g`` and ``b`` imports ``a.f``, neither can be
instantiated first. The World instantiates a small generated module first, a
*trampoline*, whose functions forward each call through a table slot::

    (module
      (type $t0 (func (param i32) (result i32)))
      (table $slots (export "slots") 1 funcref)
      (func (export "f0") (type $t0) (param i32) (result i32)
        local.get 0
        i32.const 0                      ;; slot of b.g
        call_indirect $slots (type $t0)))

``a`` is instantiated with ``trampoline.f0`` in place of ``b.g``; then ``b``
with the real ``a.f``; then the World stores ``b.g`` into slot 0. From then
on ``a -> trampoline -> b`` is three Wasm frames: no host code, re-entrant,
and a call through a slot that is still empty traps ("uninitialized
element") instead of doing something undefined.

The same mechanism gives late binding to dynamically loaded side modules: an
import of a symbol that no loaded library defines yet can be routed through a
slot that a later ``dlopen`` fills.
"""

from __future__ import annotations

from ..record import field, record
from typing import Any, Sequence

from wasmweld.errors import LinkError
from wasmweld.runtime.engine import require_wasmtime

__all__ = ["TrampolineSpec", "Slot", "build_wat", "Trampoline"]

_SIMPLE = {"i32", "i64", "f32", "f64", "v128", "funcref", "externref", "anyref", "eqref", "i31ref",
           "structref", "arrayref", "exnref", "nullref", "nullfuncref", "nullexternref"}


@record(frozen=True)
class Slot:
    """One forwarding function: ``params -> results`` (WAT value type names), a label for errors."""

    params: tuple[str, ...]
    results: tuple[str, ...]
    label: str = ""


@record
class TrampolineSpec:
    """The forwarding functions of one trampoline module, one :class:`Slot` each."""

    slots: list[Slot] = field(default_factory=list)

    def add(self, params: Sequence[str], results: Sequence[str], label: str = "") -> int:
        for t in (*params, *results):
            if t not in _SIMPLE:
                raise LinkError(f"cannot route {label or 'a call'} through a trampoline: "
                                f"value type {t} is not supported there")
        self.slots.append(Slot(tuple(params), tuple(results), label))
        return len(self.slots) - 1


def build_wat(spec: TrampolineSpec) -> str:
    """The WAT text of the trampoline module for ``spec`` (one function per slot)."""
    types: dict[tuple, int] = {}
    lines = ["(module"]
    for s in spec.slots:
        key = (s.params, s.results)
        if key not in types:
            types[key] = len(types)
            p = "".join(f" (param {t})" for t in s.params)
            r = "".join(f" (result {t})" for t in s.results)
            lines.append(f"  (type $t{types[key]} (func{p}{r}))")
    n = len(spec.slots)
    lines.append(f"  (table $slots (export \"slots\") {n} funcref)")
    for i, s in enumerate(spec.slots):
        ti = types[(s.params, s.results)]
        body = " ".join(f"local.get {j}" for j in range(len(s.params)))
        lines.append(f"  (func (export \"f{i}\") (type $t{ti}) {body} i32.const {i} "
                     f"call_indirect $slots (type $t{ti}))")
    lines.append(")")
    return "\n".join(lines)


class Trampoline:
    """An instantiated trampoline: ``func(i)`` to import, ``fill(i, func)`` once the callee exists."""

    def __init__(self, world: Any, spec: TrampolineSpec) -> None:
        self.spec: TrampolineSpec = spec
        wat = build_wat(spec)
        self._world = world
        self.module: Any = world._compile_wat(wat, "<trampoline>")
        wasmtime = require_wasmtime()

        self.instance: Any = wasmtime.Instance(world.store, self.module, [])
        ex = self.instance.exports(world.store)
        self.table: Any = ex["slots"]
        self.funcs: list[Any] = [ex[f"f{i}"] for i in range(len(spec.slots))]
        self.filled: list[bool] = [False] * len(spec.slots)

    def func(self, i: int) -> Any:
        return self.funcs[i]

    def fill(self, i: int, func: Any) -> None:
        self.table.set(self._world.store, i, func)
        self.filled[i] = True
