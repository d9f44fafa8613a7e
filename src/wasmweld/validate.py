"""Validation: does a module type-check? wasmtime decides.

``validate`` takes a :class:`~wasmweld.module.Module` (anything with
``.encode()``) or the bytes of a binary module, and returns None or raises
:class:`~wasmweld.errors.ValidationError` with wasmtime's message and offset::

    >>> import wasmweld
    >>> from wasmweld.runtime.engine import wat2wasm
    >>> validate(wat2wasm("(module (func (result i32) i32.const 1))"))
    >>> validate(wat2wasm("(module (func (result i32) i64.const 1))"))
    Traceback (most recent call last):
    wasmweld.errors.ValidationError: type mismatch: expected i32, found i64 (at offset 0x1a)
"""

from __future__ import annotations

__all__ = ["validate"]


def validate(module_or_bytes) -> None:
    """Raise ValidationError unless the module (or binary) is valid Wasm with wasmweld's feature set."""
    from wasmweld.runtime.engine import validate_bytes

    data = module_or_bytes
    if not isinstance(data, (bytes, bytearray, memoryview)):
        if isinstance(data, str) or not hasattr(data, "encode"):
            raise TypeError(f"validate() takes a Module or bytes, not {type(data).__name__}")
        data = data.encode()
    validate_bytes(data)
