"""Compiled-artifact cache: wasmtime machine code stored on disk, loaded with mmap.

Compiling a 10 MB module takes seconds; loading its compiled form takes
milliseconds. A *compiled artifact* (``.cwasm``) is what wasmtime's
``Module.serialize`` writes (an ELF image), followed by a wasmweld trailer::

    +-----------------------------+
    | wasmtime serialized module  |   <- Module.deserialize_file mmaps the file;
    | (ELF)                       |      wasmtime ignores what follows the ELF
    +-----------------------------+
    | meta: JSON                  |   wasmtime version, engine settings, fingerprint,
    |                             |   sha256 + size of the source .wasm
    +-----------------------------+
    | u32 LE  len(meta)           |
    | sha256 of all bytes above   |   32 bytes: detects truncation / bit rot
    | magic  b"WWCWASM\\x01"       |   8 bytes
    +-----------------------------+

The same format serves ``wasmweld compile IN -o OUT.cwasm`` / ``wasmweld run
OUT.cwasm`` and the cache directory of :class:`ArtifactCache`, whose entries
are named ``<sha256 of the wasm>-<engine fingerprint>.cwasm``. The
fingerprint hashes the wasmtime version and the engine settings (features,
fuel, optimisation level), so an entry from another wasmtime or another
configuration is never even looked at; a damaged, truncated or mismatched entry
is detected before wasmtime sees it, deleted and recompiled (with a
:class:`CacheWarning` naming the module and the reason, and a record in
``cache.stats.events``).

Example::

    engine = make_engine(engine_settings())
    cache = ArtifactCache("/tmp/cc", engine, engine_settings())
    module = cache.load_or_compile(wasm_bytes, name="app")   # compiles and stores
    module = cache.load_or_compile(wasm_bytes, name="app")   # mmaps the stored code
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any

from wasmweld.errors import CacheError, DecodeError, ValidationError

__all__ = [
    "ArtifactCache",
    "CacheStats",
    "CacheWarning",
    "engine_settings",
    "make_engine",
    "fingerprint",
    "wasmtime_version",
    "compile_module",
    "serialize_artifact",
    "write_artifact",
    "read_artifact_meta",
    "load_artifact",
    "is_artifact",
    "MAGIC",
]

MAGIC = b"WWCWASM\x01"
FORMAT = "wasmweld-cwasm/1"
_TRAILER = struct.Struct("<I32s8s")  # meta length, sha256, magic
_MAX_META = 1 << 20

def wasmtime_version() -> str:
    """The installed wasmtime-py version (the artifact format is tied to it)."""
    try:
        from importlib.metadata import version

        return version("wasmtime")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        import wasmtime

        return getattr(wasmtime, "__version__", None) or "unknown"


def engine_settings(*, fuel: bool = False, opt_level: str = "speed", **features: bool) -> dict[str, Any]:
    """The canonical description of an engine configuration (JSON-serialisable).

    Every feature of :data:`wasmweld.runtime.engine.FEATURES` is on (the engine
    everything else in wasmweld validates with); ``features`` switch some off
    (e.g. ``wasm_gc=False``). ``fuel`` turns on fuel metering, which changes the
    generated code and therefore the artifact.
    """
    from wasmweld.runtime.engine import FEATURES

    feats = {name: True for name in FEATURES}
    for k, v in features.items():
        if k not in feats:
            raise ValueError(f"unknown wasm feature setting {k!r}")
        feats[k] = bool(v)
    return {"fuel": bool(fuel), "opt_level": opt_level, "features": dict(sorted(feats.items()))}


def fingerprint(settings: dict[str, Any]) -> str:
    """Hex digest identifying (wasmtime version, engine settings): 16 hex chars."""
    blob = json.dumps({"wasmtime": wasmtime_version(), "settings": settings}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def make_engine(settings: dict[str, Any]):
    """Create a ``wasmtime.Engine`` for ``settings`` (see :func:`engine_settings`)."""
    import wasmtime

    from wasmweld.runtime.engine import make_config

    cfg = make_config(fuel=bool(settings["fuel"]), cranelift_opt_level=settings.get("opt_level", "speed"),
                      **settings["features"])
    return wasmtime.Engine(cfg)


def compile_module(engine, wasm: bytes, name: str | None = None):
    """Compile ``wasm`` (binary, or WAT text) to a ``wasmtime.Module``; errors -> ValidationError."""
    import wasmtime

    from wasmweld.runtime.engine import looks_like_wat

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


def _meta(settings: dict[str, Any], wasm_sha256: str | None, wasm_size: int | None, name: str | None) -> dict:
    return {
        "format": FORMAT,
        "wasmtime": wasmtime_version(),
        "fingerprint": fingerprint(settings),
        "settings": settings,
        "wasm_sha256": wasm_sha256,
        "wasm_size": wasm_size,
        "name": name,
    }


def serialize_artifact(module, settings: dict[str, Any], *, wasm: bytes | None = None,
                       name: str | None = None) -> bytes:
    """The bytes of a compiled artifact for an already compiled ``wasmtime.Module``."""
    elf = bytes(module.serialize())
    meta = json.dumps(_meta(settings, hashlib.sha256(wasm).hexdigest() if wasm is not None else None,
                            len(wasm) if wasm is not None else None, name), sort_keys=True).encode()
    body = elf + meta + struct.pack("<I", len(meta))
    return body + hashlib.sha256(body).digest() + MAGIC


def _atomic_write(path: str, data: bytes) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".cwasm", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_artifact(path: str, data: bytes) -> None:
    """Write artifact bytes atomically (temp file in the same directory + rename)."""
    _atomic_write(path, data)


def is_artifact(data_or_path: bytes | str) -> bool:
    """True when the bytes (or file) end with the wasmweld artifact magic."""
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        return bytes(data_or_path[-8:]) == MAGIC
    try:
        with open(data_or_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < _TRAILER.size:
                return False
            f.seek(-8, os.SEEK_END)
            return f.read(8) == MAGIC
    except OSError:
        return False


def read_artifact_meta(path: str, *, verify: bool = True) -> dict[str, Any]:
    """Read and check an artifact's trailer; return its meta dict.

    With ``verify`` the sha256 over the whole file is checked. Raises CacheError
    naming the file and what is wrong.
    """
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if size < _TRAILER.size + 16:
                raise CacheError(f"compiled artifact {path}: truncated ({size} bytes)")
            f.seek(size - _TRAILER.size)
            meta_len, digest, magic = _TRAILER.unpack(f.read(_TRAILER.size))
            if magic != MAGIC:
                raise CacheError(f"compiled artifact {path}: not a wasmweld .cwasm file (no trailer magic)")
            if meta_len > min(_MAX_META, size - _TRAILER.size):
                raise CacheError(f"compiled artifact {path}: corrupt trailer (meta length {meta_len})")
            body_len = size - 40  # everything before digest + magic
            if verify:
                h = hashlib.sha256()
                f.seek(0)
                left = body_len
                while left:
                    chunk = f.read(min(left, 1 << 22))
                    if not chunk:
                        raise CacheError(f"compiled artifact {path}: truncated while reading")
                    h.update(chunk)
                    left -= len(chunk)
                if h.digest() != digest:
                    raise CacheError(f"compiled artifact {path}: checksum mismatch (file is corrupt)")
            f.seek(body_len - 4 - meta_len)
            raw_meta = f.read(meta_len)
    except OSError as e:
        raise CacheError(f"compiled artifact {path}: cannot read: {e.strerror or e}") from None
    try:
        meta = json.loads(raw_meta.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CacheError(f"compiled artifact {path}: corrupt metadata") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CacheError(f"compiled artifact {path}: unknown format {meta.get('format') if isinstance(meta, dict) else meta!r}")
    return meta


def load_artifact(path: str, engine, settings: dict[str, Any], *, verify: bool = True):
    """Load a compiled artifact written by :func:`serialize_artifact` (mmap).

    Raises CacheError if the file is damaged, or was made by another wasmtime or
    for another engine configuration.
    """
    import wasmtime

    meta = read_artifact_meta(path, verify=verify)
    if meta.get("wasmtime") != wasmtime_version():
        raise CacheError(f"compiled artifact {path}: made by wasmtime {meta.get('wasmtime')}, "
                         f"this is wasmtime {wasmtime_version()}")
    if meta.get("fingerprint") != fingerprint(settings):
        theirs = meta.get("settings")
        diff = ""
        if isinstance(theirs, dict):
            diffs = [k for k in sorted(set(theirs) | set(settings)) if theirs.get(k) != settings.get(k)]
            diff = f" (differs in: {', '.join(diffs)})" if diffs else ""
        raise CacheError(f"compiled artifact {path}: compiled for another engine configuration{diff}")
    try:
        return wasmtime.Module.deserialize_file(engine, os.fspath(path))
    except wasmtime.WasmtimeError as e:
        first = " ".join(str(e).split())
        raise CacheError(f"compiled artifact {path}: wasmtime refused it: {first}") from None


class CacheWarning(UserWarning):
    """A cache entry was unusable (damaged, truncated, from another wasmtime/configuration) and was replaced."""


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    discarded: int = 0
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (event, name, detail)


class ArtifactCache:
    """A directory of compiled artifacts keyed by wasm content + wasmtime + engine settings."""

    def __init__(self, cache_dir: str, engine, settings: dict[str, Any], *, verify: bool = True):
        self.dir = os.path.abspath(os.fspath(cache_dir))
        self.engine = engine
        self.settings = settings
        self.fingerprint = fingerprint(settings)
        self.verify = verify
        self.stats = CacheStats()
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as e:
            raise CacheError(f"cannot create cache directory {self.dir}: {e.strerror or e}") from None

    def path_for(self, wasm: bytes) -> str:
        return os.path.join(self.dir, f"{hashlib.sha256(wasm).hexdigest()}-{self.fingerprint}.cwasm")

    def _discard(self, path: str, name: str, reason: str) -> None:
        self.stats.discarded += 1
        self.stats.events.append(("discard", name, reason))
        try:
            os.unlink(path)
        except OSError:
            pass
        warnings.warn(f"compiled-artifact cache: discarded the entry of module {name!r} and recompiled it: {reason}",
                      CacheWarning, stacklevel=4)

    def load_or_compile(self, wasm: bytes, name: str | None = None):
        """Return a ``wasmtime.Module`` for ``wasm``: from the cache when possible."""
        label = name or "<module>"
        path = self.path_for(wasm)
        if os.path.exists(path):
            try:
                meta = read_artifact_meta(path, verify=self.verify)
                if meta.get("wasm_sha256") != hashlib.sha256(wasm).hexdigest():
                    raise CacheError(f"cache entry {path}: belongs to other wasm content")
                module = load_artifact(path, self.engine, self.settings, verify=False)
            except CacheError as e:
                self._discard(path, label, str(e))
            else:
                self.stats.hits += 1
                self.stats.events.append(("hit", label, path))
                return module
        self.stats.misses += 1
        module = compile_module(self.engine, wasm, name)
        try:
            data = serialize_artifact(module, self.settings, wasm=wasm, name=name)
            _atomic_write(path, data)
            self.stats.events.append(("store", label, path))
        except Exception as e:  # a read-only or full cache dir must not break loading (OSError, wasmtime)
            self.stats.events.append(("store-failed", label, str(e)))
        return module

    def clear(self) -> int:
        """Delete every artifact in the directory; return how many were removed."""
        n = 0
        for entry in os.listdir(self.dir):
            if entry.endswith(".cwasm"):
                try:
                    os.unlink(os.path.join(self.dir, entry))
                    n += 1
                except OSError:
                    pass
        return n
