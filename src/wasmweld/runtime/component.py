"""wasmtime's component model, for wasmweld: validation and compiled components.

::

    >>> from wasmweld.runtime.component import validate_component_bytes
    >>> validate_component_bytes(open("app.component.wasm", "rb").read())   # None: valid
    >>> validate_component_bytes(bad)
    Traceback (most recent call last):
    wasmweld.errors.ValidationError: canonical encoding option `utf8` conflicts with option `utf16` (at offset 0x1a)

A component such as ``(component (core module ...) (func (export "f") (canon lift ...)))``
is compiled by ``wasmtime.component.Component`` with :func:`component_engine`: every core
feature of :func:`wasmweld.runtime.engine.make_config` plus the component model (and its
``map`` and ``implements`` extensions where wasmtime has them). Like the rest of
:mod:`wasmweld.runtime`, wasmtime is imported inside functions only.

Compiling a large component takes seconds (StarlingMonkey, the JS engine of componentize-js:
10 MB of code), and validating one means compiling it, so the last few compiled components are
kept in memory by content hash: ``snapshot_component`` validates its output and a World running
it right after reuses that compilation.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from typing import Any

from wasmweld.errors import ValidationError
from wasmweld.runtime.engine import engine, require_wasmtime

__all__ = ["COMPONENT_FEATURES", "component_engine", "compile_component", "validate_component_bytes",
           "validate_component"]

#: wasmtime.Config switches turned on for components (those this wasmtime knows)
COMPONENT_FEATURES: tuple[str, ...] = ("wasm_component_model", "wasm_component_model_map",
                                       "wasm_component_model_implements")
_OFFSET_RE = re.compile(r"\s*\(at offset (0x[0-9a-fA-F]+|\d+)\)")
#: how many compiled components :func:`compile_component` keeps (by sha256 of the bytes)
COMPILED_KEPT = 4
_compiled: OrderedDict[bytes, Any] = OrderedDict()
_compiled_lock = threading.Lock()


def component_engine() -> Any:
    """The shared engine for components."""
    wasmtime = require_wasmtime()
    cls = wasmtime.Config
    kw = {name: True for name in COMPONENT_FEATURES if isinstance(getattr(cls, name, None), property)}
    return engine(**kw)


def _error(exc: Exception) -> ValidationError:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    # wasmtime says "failed to parse WebAssembly module / Caused by: <reason>": keep the reason
    reason = lines[-1] if lines else "invalid component"
    offset = None
    m = _OFFSET_RE.search(reason)
    if m:
        offset = int(m.group(1), 0)
        reason = (reason[:m.start()] + reason[m.end():]).strip()
    return ValidationError(reason, offset)


def compile_component(data: bytes) -> Any:
    """``wasmtime.component.Component`` for ``data`` (one of the last :data:`COMPILED_KEPT` compiled when
    the same bytes were); ValidationError if wasmtime rejects it."""
    wasmtime = require_wasmtime()
    from wasmtime import component as wc

    data = bytes(data)
    key = hashlib.sha256(data).digest()
    with _compiled_lock:
        hit = _compiled.get(key)
        if hit is not None:
            _compiled.move_to_end(key)
            return hit
    try:
        out = wc.Component(component_engine(), data)
    except wasmtime.WasmtimeError as exc:
        raise _error(exc) from None
    with _compiled_lock:
        _compiled[key] = out
        while len(_compiled) > COMPILED_KEPT:
            _compiled.popitem(last=False)
    return out


def validate_component_bytes(data: bytes) -> None:
    """wasmtime's verdict on a component binary (ValidationError if invalid)."""
    compile_component(data)


def validate_component(data: bytes) -> None:
    """Decode ``data`` completely (DecodeError), check the canonical options (wasmweld's own
    checks, ValidationError), then validate with wasmtime (ValidationError)."""
    from wasmweld.component import parse_component
    from wasmweld.component.check import check_canon_options

    comp = parse_component(data)
    comp.decode_all(modules=False)
    check_canon_options(comp)
    validate_component_bytes(data)
