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

__all__ = ["validate", "check_wellformed"]


def validate(module_or_bytes) -> None:
    """Raise ValidationError unless the module (or binary) is valid Wasm with wasmweld's feature set."""
    from wasmweld.runtime.engine import validate_bytes

    data = module_or_bytes
    if not isinstance(data, (bytes, bytearray, memoryview)):
        if isinstance(data, str) or not hasattr(data, "encode"):
            raise TypeError(f"validate() takes a Module or bytes, not {type(data).__name__}")
        data = data.encode()
    validate_bytes(data)


def check_wellformed(data) -> None:
    """Raise :class:`~wasmweld.errors.DecodeError` (with the offset) if ``data`` is malformed.

    For commands that copy sections they do not read (strip, metadata, edit): a malformed
    section must not pass through silently. When wasmtime is installed and accepts the
    module, it is well-formed (valid implies well-formed) and nothing more is decoded;
    otherwise wasmweld's own decoder reads every section and body (``parse(lazy=False)``).
    A module that decodes but that wasmtime rejects is well-formed and passes (for example
    one using legacy exception handling, which wasmtime does not validate).
    """
    from wasmweld.errors import ValidationError, WasmError
    from wasmweld.module import parse

    try:
        from wasmweld.runtime.engine import validate_bytes

        validate_bytes(data)
        return
    except ValidationError:
        pass
    except (ImportError, WasmError):  # no wasmtime: the decoder alone decides
        pass
    parse(data, lazy=False)
