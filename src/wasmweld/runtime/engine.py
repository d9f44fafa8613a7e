"""The wasmtime engine wasmweld validates, compiles and runs with.

This module (with the rest of :mod:`wasmweld.runtime`) is the only place that
imports :mod:`wasmtime`, and it does so inside functions, so ``import
wasmweld`` works without wasmtime installed; only the calls below need it::

    >>> from wasmweld.runtime import engine
    >>> data = engine.wat2wasm('(module (func (export "f") (result i32) i32.const 7))')
    >>> engine.validate_bytes(data)          # None: valid
    >>> engine.validate_bytes(engine.wat2wasm("(module (func (result i32) i64.const 0))"))
    Traceback (most recent call last):
    wasmweld.errors.ValidationError: type mismatch: expected i32, found i64 (at offset 0x1a)

Every feature of Wasm 3.0 that wasmtime implements is switched on (multi-value,
bulk memory, reference types, SIMD and relaxed SIMD, tail calls, typed function
references, GC, exception handling, memory64, multi-memory), plus threads
(shared memories and atomics), which real toolchains emit. Proposals that are
not part of Wasm 3.0 (stack switching, wide arithmetic, custom page sizes) stay
off unless asked for through ``make_config(**overrides)``.
"""

from __future__ import annotations

import _thread
import atexit
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, Union

from wasmweld.errors import DecodeError, ValidationError, WasmError

if TYPE_CHECKING:  # pragma: no cover
    import wasmtime

__all__ = [
    "FEATURES",
    "require_wasmtime",
    "make_config",
    "engine",
    "wat2wasm",
    "validate_bytes",
    "looks_like_wat",
    "load_bytes",
    "engine_settings",
    "make_engine",
    "compile_module",
    "instantiate",
    "WINCH_UNSUPPORTED",
    "make_winch_engine",
    "module_from_bytes",
    "WASI_MODULES",
]

#: wasmtime.Config switches turned on by :func:`make_config` (those wasmtime knows).
FEATURES: tuple[str, ...] = (
    "wasm_multi_value",
    "wasm_bulk_memory",
    "wasm_reference_types",
    "wasm_simd",
    "wasm_relaxed_simd",
    "wasm_tail_call",
    "wasm_function_references",
    "wasm_gc",
    "wasm_exceptions",
    "wasm_memory64",
    "wasm_multi_memory",
    "wasm_threads",
    # lets modules with shared memories (threads-enabled toolchains emit them) be instantiated
    "shared_memory",
)

BytesLike = Union[bytes, bytearray, memoryview]

#: import module names served by WASI preview 1 (here, not in :mod:`wasmweld.runtime.wasi`, which re-exports
#: it, so that a World without WASI need not import that module and :mod:`dataclasses`)
WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")

# patterns, compiled on first use by re's own cache (not at import: World() start-up)
_OFFSET_PAT = r"\s*\(at offset (0x[0-9a-fA-F]+|\d+)\)"
_WAT_LOCATION_PAT = r"-->\s*\S*?:(\d+):(\d+)"

_engines: dict[tuple, Any] = {}
_engines_lock = _thread.allocate_lock()  # threading.Lock() without importing threading
# Drop the engines while wasmtime's module globals still exist: at interpreter teardown its
# finalizers would otherwise run against half-cleared modules and print ignored exceptions.
atexit.register(_engines.clear)


def require_wasmtime() -> Any:
    """Return the :mod:`wasmtime` module, or raise a :class:`WasmError` saying how to get it."""
    try:
        import wasmtime
    except ImportError as exc:
        raise WasmError(
            "this needs wasmtime, which is not installed: pip install 'wasmweld[runtime]'"
        ) from exc
    return wasmtime


def make_config(*, fuel: bool = False, epoch: bool = False, **overrides: Any) -> wasmtime.Config:
    """A fresh ``wasmtime.Config`` with every supported Wasm 3.0 feature on.

    ``fuel`` turns on fuel metering (``Store.set_fuel``), ``epoch`` epoch
    interruption (``Engine.increment_epoch``). ``overrides`` are further
    ``wasmtime.Config`` properties, e.g. ``wasm_threads=False`` or
    ``cranelift_opt_level="none"``; an unknown name raises :class:`WasmError`.
    A Config can build one Engine only, hence a fresh one per call.
    """
    wasmtime = require_wasmtime()
    cfg = wasmtime.Config()
    cls = type(cfg)
    for name in FEATURES:
        if isinstance(getattr(cls, name, None), property):
            setattr(cfg, name, True)
    cfg.consume_fuel = bool(fuel)
    cfg.epoch_interruption = bool(epoch)
    for name, value in overrides.items():
        if not isinstance(getattr(cls, name, None), property):
            raise WasmError(f"unknown wasmtime configuration option {name!r}")
        setattr(cfg, name, value)
    return cfg


#: features Winch, wasmtime's baseline compiler, does not implement: its engines have them off (wasmtime
#: refuses a Winch engine with one of them on), so a module using one does not compile there
WINCH_UNSUPPORTED: tuple[str, ...] = ("wasm_relaxed_simd", "wasm_function_references", "wasm_gc", "wasm_exceptions")

_WINCH_STRATEGY = 2  # wasmtime_strategy_t: AUTO, CRANELIFT, WINCH (the Python property knows the first two)
_WINCH_MACHINES = ("x86_64", "amd64")  # the one architecture Winch fully supports (tier 1)


def make_winch_engine(*, fuel: bool = False, epoch: bool = False, **overrides: Any) -> wasmtime.Engine | None:
    """A fresh engine compiling with Winch, wasmtime's single-pass baseline compiler, or None where there is none.

    Winch compiles several times faster than Cranelift (QuickJS's 0.8 MB of code: ~0.1 s of CPU instead of
    ~0.8 s) and its code runs slower (~1.3-1.5x on QuickJS booting): the right trade for code that runs once.
    :data:`WINCH_UNSUPPORTED` features are off. None on a machine Winch does not target or with a
    wasmtime built without it (the engine is refused: the null engine is released without being freed).
    ``make_config(fuel=, epoch=, **overrides)`` gives the rest::

        >>> eng = make_winch_engine(epoch=True)
        >>> eng is None or wasmtime.Module(eng, wasm) is not None
        True
    """
    import platform

    wasmtime = require_wasmtime()
    if platform.machine().lower() not in _WINCH_MACHINES:
        return None
    try:
        from wasmtime import _ffi
        set_strategy = _ffi.wasmtime_config_strategy_set
    except (ImportError, AttributeError):  # pragma: no cover - a wasmtime without the C function
        return None
    options: dict[str, Any] = {name: False for name in WINCH_UNSUPPORTED}
    options.update(overrides)
    cfg = make_config(fuel=fuel, epoch=epoch, **options)
    set_strategy(cfg.ptr(), _WINCH_STRATEGY)
    eng = wasmtime.Engine(cfg)
    if not eng.ptr():  # refused: never hand wasmtime its null pointer back (freeing it would crash)
        eng._consume()
        return None
    return eng


def engine(**kw: Any) -> wasmtime.Engine:
    """The shared ``wasmtime.Engine`` for a configuration (``make_config(**kw)``), built once.

    ``engine()`` is the default engine everything in wasmweld validates and
    compiles with. Keyword values must be hashable.
    """
    key = tuple(sorted(kw.items()))
    eng = _engines.get(key)
    if eng is None:
        with _engines_lock:
            eng = _engines.get(key)
            if eng is None:
                wasmtime = require_wasmtime()
                eng = wasmtime.Engine(make_config(**kw))
                _engines[key] = eng
    return eng


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def wat2wasm(text: str | BytesLike) -> bytes:
    """Compile WebAssembly text (a single module) to binary.

    Syntax errors raise :class:`DecodeError` (``offset`` None, context
    ``"WAT text"``) whose one-line message carries wasmtime's line and column.
    """
    wasmtime = require_wasmtime()
    if not isinstance(text, str):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"text is not UTF-8 ({exc.reason})", exc.start, "WAT text") from None
    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as exc:
        raw = str(exc)
        lines = [ln for ln in raw.strip().splitlines() if ln.strip()]
        message = lines[0].strip() if lines else "invalid WebAssembly text"
        loc = re.search(_WAT_LOCATION_PAT, raw)
        if loc:
            message += f" (line {loc.group(1)}, column {loc.group(2)})"
        err = DecodeError(message, None, "WAT text")
        err.detail = raw  # wasmtime's full report, with the source line and a caret
        raise err from None


def validate_bytes(data: BytesLike) -> None:
    """Validate a binary module with :func:`engine`; raise :class:`ValidationError` if invalid.

    The error's ``offset`` is the byte offset wasmtime reported (``None`` if it
    gave none) and its message is wasmtime's, on one line, without the offset.
    """
    wasmtime = require_wasmtime()
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    try:
        _validate(wasmtime, engine(), data)
    except wasmtime.WasmtimeError as exc:
        text = _one_line(str(exc))
        offset = None
        match = re.search(_OFFSET_PAT, text)
        if match:
            offset = int(match.group(1), 0)
            text = (text[: match.start()] + text[match.end():]).strip()
        elif text.startswith("magic header not detected"):
            offset = 0  # wasmtime gives no offset for the magic
        raise ValidationError(text or "invalid module", offset) from None


def _wasm_pointer(data: bytes | bytearray):
    """``(pointer, length)`` of ``data``'s own bytes for wasmtime's C API, without a copy.

    wasmtime-py's ``Module(...)`` and ``Module.validate`` copy the module into a fresh ctypes array
    first (4-8 ms for a 6 MB snapshot output); the C functions only read the bytes during the call.
    """
    import ctypes

    u8p = ctypes.POINTER(ctypes.c_uint8)
    if isinstance(data, bytes):
        return ctypes.cast(ctypes.c_char_p(data), u8p), len(data)
    return ctypes.cast((ctypes.c_uint8 * len(data)).from_buffer(data), u8p), len(data)


def _validate(wasmtime: Any, eng: wasmtime.Engine, data: bytes | bytearray) -> None:
    """``wasmtime.Module.validate(eng, data)`` without its copy of ``data``."""
    try:
        from wasmtime import _ffi as ffi
        validate = ffi.wasmtime_module_validate
    except (ImportError, AttributeError):  # pragma: no cover - another wasmtime-py layout
        return wasmtime.Module.validate(eng, data)
    ptr, n = _wasm_pointer(data)
    error = validate(eng.ptr(), ptr, n)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
    return None


def module_from_bytes(eng: wasmtime.Engine, wasm: bytes | bytearray) -> wasmtime.Module:
    """``wasmtime.Module(eng, wasm)`` for a binary module, without wasmtime-py's copy of ``wasm``.

    Raises ``wasmtime.WasmtimeError`` as that constructor does.
    """
    import ctypes

    wasmtime = require_wasmtime()
    try:
        from wasmtime import _ffi as ffi
        new = ffi.wasmtime_module_new
        from_ptr = wasmtime.Module._from_ptr
    except (ImportError, AttributeError):  # pragma: no cover - another wasmtime-py layout
        return wasmtime.Module(eng, wasm)
    ptr, n = _wasm_pointer(wasm)
    out = ctypes.POINTER(ffi.wasmtime_module_t)()
    error = new(eng.ptr(), ptr, n, ctypes.byref(out))
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
    return from_ptr(out)


def looks_like_wat(data: BytesLike, name: str | os.PathLike[str] | None = None) -> bool:
    """True if ``data`` is WebAssembly text rather than a binary module.

    Binary modules start with ``\\0asm``; anything else is text when ``name``
    ends in ``.wat``/``.wast`` or its first non-blank bytes open an
    s-expression (``(``) or a comment (``;;``).
    """
    head = bytes(data[:4096])
    if head.startswith(b"\0asm"):
        return False
    if name is not None and str(name).endswith((".wat", ".wast")):
        return True
    stripped = head.lstrip(b"\xef\xbb\xbf").lstrip()
    return stripped.startswith((b"(", b";;"))


def load_bytes(source: str | os.PathLike[str] | BytesLike) -> bytes:
    """Binary module bytes from a path or from bytes; WebAssembly text is compiled first.

    A ``str`` or path-like is a file name; bytes-like values are the contents.
    Unreadable, non-regular or oversized files raise :class:`WasmError` naming the file.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), None
    else:
        from wasmweld.files import read_file  # the one bounded reader: regular files only, size-capped

        name = os.fspath(source)
        data = read_file(name)
    if looks_like_wat(data, name):
        return wat2wasm(data)
    return data


# ----------------------------------------------------------------------------------------
# engines as the World and the artifact cache describe them


def engine_settings(*, fuel: bool = False, opt_level: str = "speed", epoch: bool = False,
                    **features: bool) -> dict[str, Any]:
    """The canonical description of an engine configuration (JSON-serialisable).

    Every feature of :data:`wasmweld.runtime.engine.FEATURES` is on (the engine
    everything else in wasmweld validates with); ``features`` switch some off
    (e.g. ``wasm_gc=False``). ``fuel`` turns on fuel metering, which changes the
    generated code and therefore the artifact; so does ``epoch`` (epoch interruption, which the
    snapshot runner's deadline uses), recorded only when on so that other settings keep their
    fingerprints.
    """
    feats = {name: True for name in FEATURES}
    for k, v in features.items():
        if k not in feats:
            raise ValueError(f"unknown wasm feature setting {k!r}")
        feats[k] = bool(v)
    out = {"fuel": bool(fuel), "opt_level": opt_level, "features": dict(sorted(feats.items()))}
    if epoch:
        out["epoch"] = True
    return out


def make_engine(settings: dict[str, Any]) -> wasmtime.Engine:
    """Create a ``wasmtime.Engine`` for ``settings`` (see :func:`engine_settings`)."""
    wasmtime = require_wasmtime()
    cfg = make_config(fuel=bool(settings["fuel"]), epoch=bool(settings.get("epoch", False)),
                      cranelift_opt_level=settings.get("opt_level", "speed"), **settings["features"])
    return wasmtime.Engine(cfg)


def compile_module(engine: wasmtime.Engine, wasm: bytes, name: str | None = None) -> wasmtime.Module:
    """Compile ``wasm`` (binary, or WAT text) to a ``wasmtime.Module``; errors -> ValidationError."""
    wasmtime = require_wasmtime()
    what = f"module {name!r}" if name else "module"
    if bytes(wasm[:4]) != b"\0asm" and not looks_like_wat(wasm):
        # wasmtime would read any other bytes as WAT text and complain about a missing '('
        raise DecodeError(f"{what} does not compile: not a WebAssembly module (magic header not detected)", 0)
    try:
        return wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as e:
        lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        if "Caused by:" in lines:  # "failed to parse WebAssembly module: <the cause>"
            i = lines.index("Caused by:")
            causes = "; ".join(re.sub(r"^\d+:\s*", "", line) for line in lines[i + 1:])
            lines = [": ".join(x for x in ("; ".join(lines[:i]), causes) if x)]
        detail = "; ".join(lines)
        offset = None
        m = re.search(r"at offset (\d+)|\(at offset 0x([0-9a-f]+)\)", detail)
        if m:
            offset = int(m.group(1)) if m.group(1) else int(m.group(2), 16)
        raise ValidationError(f"{what} does not compile: {detail}", offset) from None


_T = TypeVar("_T")

#: wasmtime's message when the kernel refuses, with EBUSY, to seal the memfd of a new memory image (a page
#: of it briefly pinned, e.g. by a forked child still tearing down or by page migration): transient
MEMFD_BUSY = "cannot add seals to the memfd"


def instantiate(make: Callable[[], _T], attempts: int = 4) -> _T:
    """``make()``, the instantiation of a module or component, tried again (up to ``attempts`` times, 10 to
    80 ms apart) only when wasmtime failed to seal the memfd of the memory image: EBUSY from the kernel, which
    passes; it happens before any start function runs, so nothing runs twice. Any other error propagates."""
    import time

    for attempt in range(attempts):
        try:
            return make()
        except Exception as e:  # noqa: BLE001 - only the transient memfd error is retried
            if MEMFD_BUSY not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (2 ** attempt))
    raise AssertionError("unreachable")
