"""wasmweld's own WebAssembly validator (pure Python, no wasmtime).

``validate_module(module_or_bytes, features=None)`` checks a module against
the Wasm 3.0 validation rules (GC types with rec groups and subtyping, typed
function references, tail calls, exceptions with exnref, memory64,
multi-memory, SIMD and relaxed SIMD, extended const, bulk memory, reference
types, non-defaultable locals) and the proposals toolchains use (legacy
exceptions, threads, custom page sizes, wide arithmetic). A failure is a
:class:`~wasmweld.errors.ValidationError` naming the function, instruction,
byte offset and types::

    (module (func $parse_header (result i32) (i32.add (i32.const 1) (f64.const 2))))
    -> func 0 <parse_header> at 0x2c: type mismatch: i32.add expects [i32 i32] but the stack has [i32 f64]

Features are named as in ``wasm-tools validate --features`` (see :mod:`.features`).
"""

from __future__ import annotations

from typing import Any

from ..errors import DecodeError, ValidationError
from .features import DEFAULT, FEATURES, GROUPS, FeatureError, parse_features

__all__ = ["validate_module", "parse_features", "FEATURES", "GROUPS", "DEFAULT", "FeatureError",
           "ValidationError", "MalformedError"]


class MalformedError(DecodeError, ValidationError):
    """A module that fails validation because its bytes are malformed.

    Both a :class:`~wasmweld.errors.DecodeError` (``offset``, ``context``: what the decoder
    says) and a :class:`~wasmweld.errors.ValidationError` (what ``validate`` callers catch).
    """

    def __init__(self, message: str, offset: int | None = None, context: str | None = None):
        self.message: str = message
        self.offset: int | None = offset
        self.context: str | None = context
        Exception.__init__(self, self._format())


def validate_module(module_or_bytes: Any, features: str | frozenset[str] | set[str] | None = None) -> None:
    """Raise ValidationError unless the module is valid (:class:`MalformedError`, also a DecodeError, if malformed).

    ``features``: None (the default set), a feature string (``"wasm3,+threads"``) or a set of names.
    """
    from ..module import Module, parse
    from .modcheck import validate_module as _check

    feats = parse_features(features)
    m = module_or_bytes
    if not isinstance(m, Module) and not isinstance(m, (bytes, bytearray, memoryview)):
        raise TypeError(f"validate() takes a Module or bytes, not {type(m).__name__}")
    try:
        if not isinstance(m, Module):
            m = parse(bytes(m))
        _check(m, feats)
    except MalformedError:
        raise
    except DecodeError as e:
        if not isinstance(module_or_bytes, Module):
            e = _full_decode_error(bytes(module_or_bytes), e)
        raise MalformedError(e.message, e.offset, e.context) from None


def _full_decode_error(data: bytes, found: DecodeError) -> DecodeError:
    """The error the full decoder (``parse(lazy=False)``) reports, so that every tool names one offset."""
    from ..module import parse

    try:
        parse(data, lazy=False)
    except DecodeError as e:
        return e
    return found
