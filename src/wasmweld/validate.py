"""Validation: does a module type-check? wasmweld's own validator decides (wasmtime on request).

``validate`` takes a :class:`~wasmweld.module.Module` or the bytes of a binary
module and returns None or raises :class:`~wasmweld.errors.ValidationError`
naming the function, instruction, byte offset and types (a malformed binary raises
:class:`~wasmweld.validator.MalformedError`: a DecodeError that is also a ValidationError)::

    (module (func $f (result i32) (i32.add (i32.const 1) (f64.const 2))))
    >>> validate(data)
    Traceback (most recent call last):
    wasmweld.errors.ValidationError: func 0 <f> at 0x2a: type mismatch: i32.add expects [i32 i32] but the stack has [i32 f64]

``features`` names the proposals allowed, like ``wasm-tools validate --features``
(``"wasm3"``, ``"all,-threads"``, ``"wasm2,+legacy-exceptions"``); the default
accepts what current toolchains emit, legacy exception handling included.
``engine="wasmtime"`` asks wasmtime instead (``"both"``: both must accept; ``"auto"``: wasmtime's
acceptance when it accepts, which is fast, else wasmweld's verdict).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time: see wasmweld/__init__.py)
if TYPE_CHECKING:  # pragma: no cover - for type checkers and the API docs only
    from typing import Any, Iterable

    from wasmweld.module import Module

__all__ = ["validate", "validate_output", "check_wellformed", "ENGINES"]

#: the engines ``validate`` can ask (``auto``: wasmtime's acceptance when it is installed and accepts,
#: which is fast, else wasmweld's verdict)
ENGINES = ("wasmweld", "wasmtime", "both", "auto")


def _as_bytes(module_or_bytes):
    data = module_or_bytes
    if not isinstance(data, (bytes, bytearray, memoryview)):
        if isinstance(data, str) or not hasattr(data, "encode"):
            raise TypeError(f"validate() takes a Module or bytes, not {type(data).__name__}")
        data = data.encode()
    return data


def validate(module_or_bytes: Module | bytes | bytearray | memoryview, *,
             features: str | frozenset[str] | set[str] | None = None, engine: str = "wasmweld") -> None:
    """Raise ValidationError unless the module (or binary) is valid with ``features``.

    ``engine``: ``"wasmweld"`` (the pure-Python validator, the default), ``"wasmtime"``
    (wasmtime's verdict, its own feature set), ``"both"`` (wasmweld first, then wasmtime) or
    ``"auto"`` (accepted at once if wasmtime accepts it, else wasmweld decides: fast and complete).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown validation engine {engine!r} (one of {', '.join(ENGINES)})")
    if engine == "auto":
        engine = "wasmweld"
        if features is None and _wasmtime_accepts(module_or_bytes):
            return
    if engine in ("wasmweld", "both"):
        from wasmweld.validator import validate_module

        m = module_or_bytes
        if not isinstance(m, (bytes, bytearray, memoryview)):
            from wasmweld.module import Module

            if not isinstance(m, Module):
                m = _as_bytes(m)
        validate_module(m, features)
    if engine in ("wasmtime", "both"):
        from wasmweld.runtime.engine import validate_bytes

        validate_bytes(_as_bytes(module_or_bytes))


def _wasmtime_accepts(module_or_bytes) -> bool:
    """True when wasmtime is installed and accepts the module (its features are a subset of the default)."""
    from wasmweld.errors import WasmError

    try:
        from wasmweld.runtime.engine import validate_bytes

        validate_bytes(_as_bytes(module_or_bytes))
        return True
    except (ImportError, WasmError):
        return False


def validate_output(output: Module | bytes, *, inputs: Iterable[tuple[str, Any]] = (), what: str = "the output",
                    features: str | frozenset[str] | set[str] | None = None, hint: str = "") -> None:
    """Validate a command's ``output``; on failure say whether the ``inputs`` already failed it.

    ``inputs`` are ``(name, bytes_or_module)`` pairs (or bare bytes). The error reads
    ``"the output does not validate: <reason> (the input 'a.wasm' already fails validation: ...)"``,
    or ``"... (every input validates: a wasmweld bug)"``, so a bad input is not mistaken for a bug;
    ``hint`` is appended (e.g. ``"--no-validate writes it anyway"``). Uses ``engine="auto"``: fast when
    wasmtime accepts the output, wasmweld's validator otherwise (legacy exceptions included).
    """
    from wasmweld.errors import DecodeError, ValidationError

    try:
        validate(output, features=features, engine="auto")
        return
    except (ValidationError, DecodeError) as exc:
        reason = str(exc)
    notes = []
    for item in inputs:
        name, data = item if isinstance(item, tuple) else ("the input", item)
        try:
            validate(data, features=features, engine="auto")
        except (ValidationError, DecodeError) as exc:
            notes.append(f"input {name!r} already fails validation: {exc}")
    note = "; ".join(notes) if notes else ("every input validates: a wasmweld bug" if inputs else "")
    err = ValidationError(f"{what} does not validate: {reason}" + (f" ({note})" if note else "")
                          + (f"; {hint}" if hint else ""))
    err.input_failed = bool(notes)
    raise err


def check_wellformed(data: bytes | bytearray | memoryview) -> None:
    """Raise :class:`~wasmweld.errors.DecodeError` (with the offset) if ``data`` is malformed.

    For commands that copy sections they do not read (strip, metadata, edit): a malformed
    section must not pass through silently. When wasmtime is installed and accepts the
    module, it is well-formed (valid implies well-formed) and nothing more is decoded;
    otherwise wasmweld's own decoder reads every section, and every function body is checked
    without being decoded (``parse(lazy=False, bodies=False)``: the pattern scanner of
    :mod:`wasmweld.binary.bodycheck`; a body it cannot vouch for is decoded, for the error and
    its offset). So the check costs about the same on any module. A module that is well-formed
    but that wasmtime rejects passes (for example one using legacy exception handling, which
    wasmtime does not validate).
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
    parse(data, lazy=False, bodies=False)
