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
:data:`CM_FEATURES`; among the latter the default (:data:`CM_DEFAULT`) has ``component-model`` and
``cm-async`` (wasm-tools' defaults) and ``cm-map`` / ``cm-implements`` (wasmtime's). A use of a proposal
left out is reported in wasm-tools' words (``--features=-cm-async``: "`stream.new` requires the
component model async feature").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from . import types as T
from .check import canon_item_problems, comp_spaces
from .rules import rule_problems

if TYPE_CHECKING:
    from .model import Component

__all__ = ["CM_FEATURES", "CM_DEFAULT", "split_features", "validate_component", "own_problems"]

#: the component-model proposal names (wasm-tools' spelling) ``features`` may name
CM_FEATURES: frozenset[str] = frozenset({
    "component-model", "cm-async", "cm-async-builtins", "cm-more-async-builtins", "cm-async-stackful",
    "cm-threading", "cm64", "cm-gc", "cm-error-context", "cm-fixed-length-lists", "cm-values",
    "cm-nested-names", "cm-map", "cm-implements", "cm-canon-names",
})
#: component-model proposals on by default: wasm-tools' (``component-model``, ``cm-async``) and those
#: wasmtime enables for components (``cm-map``, ``cm-implements``)
CM_DEFAULT: frozenset[str] = frozenset({"component-model", "cm-async", "cm-map", "cm-implements"})

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


def split_features(spec: str | None | frozenset[Any] | set[Any]) -> tuple[frozenset[str], frozenset[str]]:
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


def own_problems(comp: Component) -> list[str]:
    """Every problem wasmweld's own checks find in the decoded Component ``comp``, in file order."""
    spaces = comp_spaces(comp)
    if isinstance(spaces, str):
        return [spaces]
    core, scope = spaces
    return rule_problems(comp, lambda i, c: canon_item_problems(i, c, core, scope))


_ASYNC_OPS = ("task.", "subtask.", "stream.", "future.", "waitable", "backpressure.", "context.")
_ASYNC = "requires the component model async feature"


def _node_uses(x, cm: frozenset[str]) -> str | None:
    """The component-model proposal use of the item or type ``x`` that ``cm`` leaves out (wasm-tools' words)."""
    if isinstance(x, T.Canon):
        if x.op.startswith(_ASYNC_OPS) or x.op == "thread.yield":
            return None if "cm-async" in cm else f"`{x.op}` {_ASYNC}"
        if x.op.startswith("error-context.") and "cm-error-context" not in cm:
            return f"`{x.op}` requires the component model error-context feature"
        if x.option("async") is not None and "cm-async" not in cm:
            return f"canonical option `async` {_ASYNC}"
        if x.option("gc") is not None and "cm-gc" not in cm:
            return "canonical option `gc` requires the `cm-gc` feature"
    elif isinstance(x, T.FuncType) and x.is_async and "cm-async" not in cm:
        return f"async component functions {_ASYNC}"
    elif isinstance(x, (T.Future, T.Stream)) and "cm-async" not in cm:
        return f"`{'future' if isinstance(x, T.Future) else 'stream'}` {_ASYNC}"
    elif isinstance(x, T.ExternName) and x.prefix == 2 and "cm-implements" not in cm:   # name options
        return "the `cm-implements` feature is not active"
    elif isinstance(x, T.Map) and "cm-map" not in cm:
        return "Maps require the component model map feature"
    elif isinstance(x, T.List) and x.length is not None and "cm-fixed-length-lists" not in cm:
        return "Fixed-length lists require the component model fixed-length lists feature"
    elif (isinstance(x, (T.ExternDesc, T.Export)) and x.sort == "value" or isinstance(x, T.Start) and
          (x.args or x.results)) and "cm-values" not in cm:
        return "support for component model `value`s is not enabled"
    return None


def _walk_uses(x, cm: frozenset[str], depth: int = 0) -> str | None:
    """The first use in ``x`` (an item, nested through type declarations) of a proposal ``cm`` leaves out."""
    if depth > 200:
        return None
    found = _node_uses(x, cm)
    if found is not None:
        return found
    children: Iterable
    fields = getattr(type(x), "__record_fields__", None)
    if fields is not None:
        children = (getattr(x, f.name) for f in fields)
    elif isinstance(x, tuple):
        children = x
    else:
        return None
    for child in children:
        if isinstance(child, (tuple, T.Canon, T.FuncType, T.Future, T.Stream, T.Map, T.List, T.ExternDesc,
                              T.Export, T.InstanceType, T.ComponentType, T.TypeDecl, T.DeclImport, T.DeclExport,
                              T.Record, T.Variant, T.Case, T.Tuple, T.Option, T.Result, T.Import,
                              T.ExternName, T.InstanceExports)):
            found = _walk_uses(child, cm, depth + 1)
            if found is not None:
                return found
    return None


def _feature_problems(comp, core: frozenset[str], cm: frozenset[str], depth: int = 0) -> list[str]:
    """Uses of proposals that the features leave out: component-model ones (``cm``) and, at the component
    level, core tags (``exceptions``)."""
    if depth > 100:
        return []
    for sid, item in comp.items():
        if "exceptions" not in core and (sid == 6 and getattr(item, "sort", None) == "core tag" or sid == 2 and
                                         isinstance(item, T.CoreInstanceExports) and
                                         any(e.kind == 4 for e in item.exports)):
            return ["exceptions proposal not enabled"]
        if sid == 4:
            found = _feature_problems(item, core, cm, depth + 1)
            if found:
                return found
        elif sid in (5, 6, 7, 8, 9, 10, 11):
            use = _walk_uses(item, cm)
            if use is not None:
                return [use]
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


def validate_component(data: bytes | bytearray | memoryview,
                       features: str | None | frozenset[Any] | set[Any] = None) -> None:
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
    problems = _feature_problems(comp, core, cm) or own_problems(comp)
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
