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

from ..errors import ValidationError
from .features import DEFAULT, FEATURES, GROUPS, FeatureError, parse_features

__all__ = ["validate_module", "parse_features", "FEATURES", "GROUPS", "DEFAULT", "FeatureError",
           "ValidationError"]


def validate_module(module_or_bytes, features=None) -> None:
    """Raise ValidationError (or DecodeError for malformed bytes) unless the module is valid.

    ``features``: None (the default set), a feature string (``"wasm3,+threads"``) or a set of names.
    """
    from ..module import Module, parse
    from .modcheck import validate_module as _check

    feats = parse_features(features)
    m = module_or_bytes
    if not isinstance(m, Module):
        if isinstance(m, (bytes, bytearray, memoryview)):
            m = parse(bytes(m))
        else:
            raise TypeError(f"validate() takes a Module or bytes, not {type(m).__name__}")
    _check(m, feats)
