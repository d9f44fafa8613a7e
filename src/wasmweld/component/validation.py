"""Validating a component: wasmweld's own checks, wasmtime's validation, and features wasmtime lacks.

``validate_component(data, features)`` decodes the whole component (DecodeError),
runs wasmweld's own checks (:mod:`~wasmweld.component.check`: canonical options;
:mod:`~wasmweld.component.rules`: core instantiation, GC lowering, values, ...),
then asks wasmtime. wasmtime-py cannot enable every component-model proposal; when
it refuses a component only because of a proposal that ``features`` enables
(``cm-gc``, ``cm-values``, ``cm64``, ``cm-error-context``, ...), wasmweld's verdict
stands, and the core modules are validated by wasmweld's own core validator::

    $ wasmweld validate --features gc,cm-gc app.wasm
    (component
      (import "f" (func $f (param "x" bool)))
      (core type $ty (func (param anyref)))
      (core func (canon lower (func $f) gc (core-type $ty))))
    app.wasm: expected to lower component `bool` type to core `i32` type, found `anyref`

``features`` is spelled like ``wasm-tools validate --features``: core proposal names
(see :mod:`wasmweld.validator.features`) mixed with the component-model ones in
:data:`CM_FEATURES`; the default enables ``component-model`` only among the latter.
"""

from __future__ import annotations

import re

from ..errors import ValidationError
from . import types as T
from . import typeval as tv
from .check import CoreSpaces, canon_item_problems
from .rules import rule_problems

__all__ = ["CM_FEATURES", "CM_DEFAULT", "split_features", "validate_component", "own_problems"]

#: the component-model proposal names (wasm-tools' spelling) ``features`` may name
CM_FEATURES: frozenset[str] = frozenset({
    "component-model", "cm-async", "cm-async-builtins", "cm-more-async-builtins", "cm-async-stackful",
    "cm-threading", "cm64", "cm-gc", "cm-error-context", "cm-fixed-length-lists", "cm-values",
    "cm-nested-names", "cm-map", "cm-implements", "cm-canon-names",
})
#: component-model proposals on by default (as in wasm-tools)
CM_DEFAULT: frozenset[str] = frozenset({"component-model"})

# wasmtime's refusal of a proposal it cannot enable -> the proposal (None: a limit of wasmtime's, not a proposal)
_GATES: tuple[tuple[re.Pattern[str], str | None], ...] = tuple((re.compile(p), f) for p, f in (
    (r"`cm-gc` feature", "cm-gc"),
    (r"custom page sizes proposal must be enabled", "custom-page-sizes"),
    (r"component model `value`s is not enabled", "cm-values"),
    (r"`cm64` feature|component model 64-bit feature", "cm64"),
    (r"fixed-length lists feature", "cm-fixed-length-lists"),
    (r"error-context feature", "cm-error-context"),
    (r"more async builtins feature", "cm-more-async-builtins"),
    (r"component model threading feature", "cm-threading"),
    (r"shared-everything-threads proposal", "shared-everything-threads"),
    (r"component model async feature", "cm-async"),
    (r"expected `/` after package name", "cm-nested-names"),    # `a:b:c:d/e`: nested package names
    (r"root-level component imports are not supported", None),
))


def split_features(spec) -> tuple[frozenset[str], frozenset[str]]:
    """``(core features, component-model features)`` named by ``spec`` (None: the defaults)."""
    from ..validator.features import DEFAULT, FEATURES, parse_features

    if spec is None:
        return DEFAULT, CM_DEFAULT
    items = sorted(spec) if isinstance(spec, (set, frozenset)) else str(spec).replace(" ", "").split(",")
    cm = set(CM_DEFAULT)
    core_items = []
    for item in items:
        if not item:
            continue
        sign = item[0] if item[0] in "+-" else ""
        name = (item[1:] if sign else item).replace("_", "-")
        if name in CM_FEATURES:
            (cm.discard if sign == "-" else cm.add)(name)
        else:
            core_items.append(item)
            if name == "all":
                cm = set() if sign == "-" else set(CM_FEATURES)
    core = parse_features(",".join(core_items)) if core_items else DEFAULT
    return core & FEATURES, frozenset(cm)


def own_problems(comp) -> list[str]:
    """Every problem wasmweld's own checks find in the decoded Component ``comp``, in file order."""
    core = CoreSpaces(comp)
    try:
        scope = tv.evaluate(comp)
    except ValidationError as e:
        return [str(e)]
    return rule_problems(comp, lambda i, c: canon_item_problems(i, c, core, scope))


def _feature_problems(comp, core: frozenset[str], depth: int = 0) -> list[str]:
    """Component-level uses of core proposals that ``core`` leaves out (core tags need ``exceptions``)."""
    if "exceptions" in core or depth > 100:
        return []
    for sid, item in comp.items():
        if sid == 6 and getattr(item, "sort", None) == "core tag" or \
                sid == 2 and isinstance(item, T.CoreInstanceExports) and any(e.kind == 4 for e in item.exports):
            return ["exceptions proposal not enabled"]
        if sid == 4:
            found = _feature_problems(item, core, depth + 1)
            if found:
                return found
    return []


def _gate(message: str) -> tuple[bool, str | None]:
    for pattern, feature in _GATES:
        if pattern.search(message):
            return True, feature
    return False, None


def _validate_modules(comp, core: frozenset[str], depth: int = 0) -> None:
    from ..validator import validate_module

    for i in range(len(comp.modules)):
        try:
            validate_module(comp.module_data(i), core)
        except ValidationError as e:
            raise ValidationError(f"core module {i}: {e}") from None
    if depth < 100:
        for c in comp.components:
            _validate_modules(c, core, depth + 1)


def validate_component(data, features=None) -> None:
    """Raise DecodeError / ValidationError unless the component binary ``data`` is valid with ``features``.

    When ``features`` leaves out core proposals of the default set (``wasm2``, ``-exceptions``, ...),
    the core modules are validated by wasmweld's core validator with them first (wasmtime's own
    feature set is fixed).
    """
    from ..runtime.component import validate_component_bytes
    from ..validator.features import DEFAULT
    from .model import parse_component

    core, cm = split_features(features)
    comp = parse_component(bytes(data))
    comp.decode_all(modules=False)
    problems = _feature_problems(comp, core) or own_problems(comp)
    if problems:
        raise ValidationError(problems[0])
    restricted = not DEFAULT <= core
    if restricted:
        _validate_modules(comp, core)
    try:
        validate_component_bytes(bytes(data))
        return
    except ValidationError as e:
        gated, feature = _gate(str(e))
        if not gated or (feature is not None and feature not in cm and feature not in core):
            raise
    if not restricted:
        _validate_modules(comp, core)
