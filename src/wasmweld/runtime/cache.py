"""Compiled-artifact cache: wasmtime machine code stored on disk, loaded with mmap.

Compiling a 10 MB module takes seconds; loading its compiled form takes
milliseconds. A *compiled artifact* (``.cwasm``) is what wasmtime's
``Module.serialize`` writes (an ELF image), followed by a wasmweld trailer::

    +-----------------------------+
    | wasmtime serialized module  |   <- mapped from the descriptor that was checked;
    | (ELF)                       |      wasmtime ignores what follows the ELF
    +-----------------------------+
    | meta: JSON                  |   wasmtime version, engine settings, fingerprint,
    |                             |   sha256 + size of the source .wasm, sha256 of the ELF
    +-----------------------------+
    | u32 LE  len(meta)           |
    | HMAC-SHA256 of all above    |   32 bytes, keyed with this user's artifact key
    | magic  b"WWCWASM\\x02"       |   8 bytes
    +-----------------------------+

wasmtime runs whatever machine code it is given, so an artifact loads only if
its MAC was made with this user's key (:mod:`wasmweld.runtime.trust`): patched
code with a recomputed checksum is refused. An artifact made elsewhere loads
only when the caller trusts it (``trusted=True``, ``run --trust-artifact``);
then the plain ``elf_sha256`` still catches damage.

The same format serves ``wasmweld compile IN -o OUT.cwasm`` / ``wasmweld run
OUT.cwasm`` and the cache directory of :class:`ArtifactCache`, whose entries
are named ``<sha256 of the wasm>-<engine fingerprint>.cwasm``. The
fingerprint hashes the wasmtime version and the engine settings (features,
fuel, optimisation level), so an entry from another wasmtime or another
configuration is never even looked at; a damaged, truncated, unauthenticated
or mismatched entry is detected before wasmtime sees it, deleted and
recompiled (with a :class:`CacheWarning` naming the module and the reason, and
a record in ``cache.stats.events``). The cache directory must be private to
the user (see :class:`ArtifactCache`).

Example::

    engine = make_engine(engine_settings())
    cache = ArtifactCache(None, engine, engine_settings())     # ~/.cache/wasmweld/artifacts
    module = cache.load_or_compile(wasm_bytes, name="app")   # compiles and stores
    module = cache.load_or_compile(wasm_bytes, name="app")   # maps the stored code
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mmap
import os
import stat
import struct
import time
import warnings
from ..record import field, record
from typing import TYPE_CHECKING, Any

from wasmweld.errors import CacheError
# the file reading and artifact test World.add needs without the cache (re-exported: part of this API)
from wasmweld.runtime.sourcefile import MAGIC, OLD_MAGIC, TRAILER, FileBytes, is_artifact, read_module_file
from wasmweld.runtime.engine import compile_module, engine_settings, make_engine, require_wasmtime  # noqa: F401
from wasmweld.runtime.typecheck import TypeReport, type_report
from wasmweld.runtime.trust import check_private_dir, default_cache_dir, mac, user_key

if TYPE_CHECKING:
    import wasmtime

__all__ = [
    "FileBytes",
    "read_module_file",
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

FORMAT = "wasmweld-cwasm/2"
_MAX_META = 1 << 20

_VERSION: list[str] = []


def wasmtime_version() -> str:
    """The installed wasmtime-py version (the artifact format is tied to it); looked up once per process."""
    if not _VERSION:
        _VERSION.append(_lookup_version())
    return _VERSION[0]


def _lookup_version() -> str:
    fast = _dist_info_version()
    if fast is not None:
        return fast
    try:
        from importlib.metadata import version

        return version("wasmtime")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        wasmtime = require_wasmtime()

        return getattr(wasmtime, "__version__", None) or "unknown"


def _dist_info_version() -> str | None:
    """The ``Version:`` of the one ``wasmtime-*.dist-info`` next to the imported package, else None.

    What ``importlib.metadata.version`` reads, without scanning every path entry and importing
    the e-mail parser (tens of milliseconds of every warm start).
    """
    site = os.path.dirname(os.path.dirname(require_wasmtime().__file__))
    try:
        found = [n for n in os.listdir(site) if n.startswith("wasmtime-") and n.endswith(".dist-info")]
        if len(found) != 1:
            return None
        with open(os.path.join(site, found[0], "METADATA"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip() or None
                if not line.strip():  # the end of the headers
                    return None
    except OSError:
        return None
    return None


_FINGERPRINTS: dict[str, str] = {}


def fingerprint(settings: dict[str, Any]) -> str:
    """Hex digest identifying (wasmtime version, engine settings): 16 hex chars."""
    blob = json.dumps({"wasmtime": wasmtime_version(), "settings": settings}, sort_keys=True)
    fp = _FINGERPRINTS.get(blob)
    if fp is None:
        fp = _FINGERPRINTS[blob] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return fp


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


def serialize_artifact(module: wasmtime.Module, settings: dict[str, Any], *, wasm: bytes | None = None,
                       name: str | None = None, key: bytes | None = None, types: TypeReport | None = None,
                       digest: str | None = None) -> bytes:
    """The bytes of a compiled artifact for an already compiled ``wasmtime.Module``.

    The trailer's MAC is made with ``key`` (default: this user's key, :func:`wasmweld.runtime.trust.user_key`).
    The metadata keeps the module's type report (imports/exports wasmtime-py cannot
    represent, :mod:`wasmweld.runtime.typecheck`), computed from ``wasm`` unless given.
    """
    elf = bytes(module.serialize())
    if digest is None and wasm is not None:
        digest = hashlib.sha256(wasm).hexdigest()
    meta_d = _meta(settings, digest, len(wasm) if wasm is not None else None, name)
    meta_d["elf_sha256"] = hashlib.sha256(elf).hexdigest()
    if types is None and wasm is not None:
        types = type_report(wasm)
    if types is not None:
        meta_d["types"] = types.to_json()
    meta = json.dumps(meta_d, sort_keys=True).encode()
    body = elf + meta + struct.pack("<I", len(meta))
    return body + mac(key if key is not None else user_key(), body) + MAGIC


def _atomic_write(path: str, data: bytes) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    import tempfile  # imported when first needed: it costs start-up time

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


def _parse_meta(raw: bytes, path: str) -> dict[str, Any]:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CacheError(f"compiled artifact {path}: corrupt metadata") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        fmt = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CacheError(f"compiled artifact {path}: unknown format {str(fmt)[:60]!r}")
    return meta


class _Opened:
    """An artifact file opened once: its descriptor, identity, trailer; everything checked is what gets mapped."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.data: bytes | None = None
        try:
            # O_NONBLOCK: a FIFO put in the file's place is refused below, not waited on
            self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            raise CacheError(f"compiled artifact {path}: cannot read: {e.strerror or e}") from None
        try:
            self.st = os.fstat(self.fd)
            if not stat.S_ISREG(self.st.st_mode):
                raise CacheError(f"compiled artifact {path}: not a regular file")
            size = self.size = self.st.st_size
            if size < TRAILER.size + 16:
                raise CacheError(f"compiled artifact {path}: truncated ({size} bytes)")
            meta_len, self.tag, magic = TRAILER.unpack(os.pread(self.fd, TRAILER.size, size - TRAILER.size))
            if magic == OLD_MAGIC:
                raise CacheError(f"compiled artifact {path}: made by an older wasmweld without an authenticated "
                                 "trailer; compile it again with wasmweld compile")
            if magic != MAGIC:
                raise CacheError(f"compiled artifact {path}: not a wasmweld .cwasm file (no trailer magic)")
            if meta_len > min(_MAX_META, size - TRAILER.size):
                raise CacheError(f"compiled artifact {path}: corrupt trailer (meta length {meta_len})")
            self.body_len = size - 40  # everything before the MAC and the magic
            self.meta_len = meta_len
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "_Opened":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def identity(self) -> bytes:
        """What identifies this very file version (ctime cannot be set by users)."""
        st = self.st
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_ctime_ns}:{st.st_mtime_ns}".encode()

    @property
    def private(self) -> bool:
        """Only this user can change the file: mapping it after the check maps what was checked."""
        return self.st.st_uid == os.geteuid() and not self.st.st_mode & 0o022

    def _digests(self, elf: bool) -> tuple[bytes, str | None]:
        """(MAC of the body, sha256 of the ELF part when asked) over the file's bytes."""
        elf_len = self.body_len - 4 - self.meta_len
        if self.data is None and not self.private:
            # someone else may write this file: take one copy, check it and load that copy
            self.data = _pread_all(self.fd, self.size, self.path)
        if self.data is not None:
            view = memoryview(self.data)
            tag = mac(user_key(), view[: self.body_len])
            return tag, hashlib.sha256(view[:elf_len]).hexdigest() if elf else None
        with mmap.mmap(self.fd, self.size, prot=mmap.PROT_READ) as mm:
            view = memoryview(mm)
            try:
                tag = mac(user_key(), view[: self.body_len])
                sha = hashlib.sha256(view[:elf_len]).hexdigest() if elf else None
            finally:
                view.release()
        return tag, sha

    def verify(self, trusted: bool) -> dict[str, Any]:
        """Check the MAC over the whole body, or with ``trusted`` (another key) the plain checksum of the code."""
        tag, sha = self._digests(elf=trusted)
        if hmac.compare_digest(tag, self.tag):
            return self.meta()
        if not trusted:
            raise CacheError(f"compiled artifact {self.path}: checksum mismatch: the file is corrupt, or it was not "
                             "made by this user's wasmweld (its code is not authenticated); pass --trust-artifact "
                             "(trusted=True) to load an artifact from elsewhere")
        meta = self.meta()
        if meta.get("elf_sha256") != sha:
            raise CacheError(f"compiled artifact {self.path}: checksum mismatch (file is corrupt)")
        return meta

    def meta(self) -> dict[str, Any]:
        start = self.body_len - 4 - self.meta_len
        raw = self.data[start: start + self.meta_len] if self.data is not None else \
            os.pread(self.fd, self.meta_len, start)
        return _parse_meta(bytes(raw), self.path)

    def deserialize(self, engine):
        """Load what was checked: the copy, or the checked descriptor (``/proc/self/fd/N``), never the path again."""
        wasmtime = require_wasmtime()

        proc = f"/proc/self/fd/{self.fd}"
        try:
            if self.data is not None:
                return wasmtime.Module.deserialize(engine, self.data[: self.body_len])
            if os.path.exists(proc):
                return wasmtime.Module.deserialize_file(engine, proc)
            return wasmtime.Module.deserialize(engine, _pread_all(self.fd, self.body_len, self.path))  # pragma: no cover
        except wasmtime.WasmtimeError as e:
            first = " ".join(str(e).split())
            raise CacheError(f"compiled artifact {self.path}: wasmtime refused it: {first}") from None


def _pread_all(fd: int, size: int, path: str) -> bytes:
    chunks, pos = [], 0
    while pos < size:
        chunk = os.pread(fd, min(size - pos, 1 << 24), pos)
        if not chunk:
            raise CacheError(f"compiled artifact {path}: truncated while reading")
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def read_artifact_meta(path: str, *, verify: bool = True, trusted: bool = False) -> dict[str, Any]:
    """Read and check an artifact's trailer; return its meta dict.

    With ``verify`` the MAC over the whole file is checked (``trusted``: a file
    not made with this user's key passes if its plain checksum matches). Raises
    CacheError naming the file and what is wrong.
    """
    with _Opened(os.fspath(path)) as art:
        return art.verify(trusted) if verify else art.meta()


def _check_meta(meta: dict[str, Any], path: str, settings: dict[str, Any]) -> None:
    if meta.get("wasmtime") != wasmtime_version():
        raise CacheError(f"compiled artifact {path}: made by wasmtime {str(meta.get('wasmtime'))[:40]}, "
                         f"this is wasmtime {wasmtime_version()}")
    if meta.get("fingerprint") != fingerprint(settings):
        theirs = meta.get("settings")
        diff = ""
        if isinstance(theirs, dict):
            diffs = [k for k in sorted(set(theirs) | set(settings)) if theirs.get(k) != settings.get(k)]
            diff = f" (differs in: {', '.join(diffs)})" if diffs else ""
        raise CacheError(f"compiled artifact {path}: compiled for another engine configuration{diff}")


def load_artifact(path: str, engine: wasmtime.Engine, settings: dict[str, Any], *, verify: bool = True,
                  trusted: bool = False, with_types: bool = False) -> Any:
    """Load a compiled artifact written by :func:`serialize_artifact` (mmap of the checked descriptor).

    The artifact must carry this user's MAC unless ``trusted``. Raises
    CacheError if the file is damaged, not authenticated, or was made by another
    wasmtime or for another engine configuration. ``with_types``: return
    ``(module, TypeReport or None)``.
    """
    path = os.fspath(path)
    with _Opened(path) as art:
        meta = art.verify(trusted) if verify or not trusted else art.meta()
        _check_meta(meta, path, settings)
        module = art.deserialize(engine)
    if with_types:
        return module, TypeReport.from_json(meta.get("types"))
    return module


class CacheWarning(UserWarning):
    """A cache entry was unusable (damaged, truncated, from another wasmtime/configuration) and was replaced."""


@record
class CacheStats:
    hits: int = 0
    misses: int = 0
    discarded: int = 0
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (event, name, detail)


class ArtifactCache:
    """A directory of compiled artifacts keyed by wasm content + wasmtime + engine settings.

    The directory must belong to this user and not be writable by group or
    others (:func:`~wasmweld.runtime.trust.check_private_dir`); ``cache_dir=None``
    is the per-user default (:func:`~wasmweld.runtime.trust.default_cache_dir`).
    Every entry carries this user's MAC; the full MAC is computed once per file
    version and remembered in a ``.ok`` stamp next to the entry (itself a MAC of
    the file's identity: device, inode, size, ctime, mtime), so a warm start
    maps the code without reading it all. Entries that fail any check are
    discarded with a :class:`CacheWarning`; temp files left by a killed writer
    are removed when the next cache is opened (``STALE_SECONDS``: 0; a writer still at work
    then only misses storing its entry: its rename fails and is recorded as ``store-failed``).
    """

    STALE_SECONDS = 0.0

    def __init__(self, cache_dir: str | None, engine: wasmtime.Engine, settings: dict[str, Any], *,
                 verify: bool = True) -> None:
        self.dir: str = check_private_dir(default_cache_dir() if cache_dir is None else os.fspath(cache_dir),
                                     "cache directory")
        self.engine: wasmtime.Engine = engine
        self.settings: dict[str, Any] = settings
        self.fingerprint: str = fingerprint(settings)
        self.verify: bool = verify
        self.stats: CacheStats = CacheStats()
        self._clean_stale()

    def _clean_stale(self) -> None:
        """Remove temp files of our own naming that a killed writer left behind."""
        now = time.time()
        try:
            names = [n for n in os.listdir(self.dir) if n.startswith(".tmp-")]
        except OSError:
            return
        for n in names:
            p = os.path.join(self.dir, n)
            try:
                if now - os.lstat(p).st_mtime >= self.STALE_SECONDS:
                    os.unlink(p)
                    self.stats.events.append(("stale-removed", n, p))
            except OSError:
                pass

    def path_for(self, wasm: bytes, digest: str | None = None) -> str:
        return os.path.join(self.dir, f"{digest or hashlib.sha256(wasm).hexdigest()}-{self.fingerprint}.cwasm")

    def _discard(self, path: str, name: str, reason: str) -> None:
        self.stats.discarded += 1
        self.stats.events.append(("discard", name, reason))
        for p in (path, path + ".ok"):
            try:
                os.unlink(p)
            except OSError:
                pass
        warnings.warn(f"compiled-artifact cache: discarded the entry of module {name!r} and recompiled it: {reason}",
                      CacheWarning, stacklevel=4)

    def _stamp(self, art: _Opened) -> bytes:
        return mac(user_key(), b"wasmweld-cache-stamp\0", os.path.basename(art.path).encode(), b"\0",
                   art.identity())

    def _load(self, path: str, digest: str):
        with _Opened(path) as art:
            st = art.st
            if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                raise CacheError(f"cache entry {path}: not a private file of this user "
                                 f"(uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o})")
            stamp = self._stamp(art)
            known = False
            try:
                with open(path + ".ok", "rb") as f:
                    known = hmac.compare_digest(f.read(64), stamp)
            except OSError:
                pass
            if known:
                meta = art.meta()
            elif self.verify:
                meta = art.verify(trusted=False)
                try:
                    _atomic_write(path + ".ok", stamp)
                except OSError:
                    pass
            else:
                meta = art.meta()
            if meta.get("wasm_sha256") != digest:
                raise CacheError(f"cache entry {path}: belongs to other wasm content")
            _check_meta(meta, path, self.settings)
            types = TypeReport.from_json(meta.get("types"))
            if types is None:
                raise CacheError(f"cache entry {path}: no type report")
            return art.deserialize(self.engine), types

    def load_or_compile(self, wasm: bytes, name: str | None = None) -> wasmtime.Module:
        """Return a ``wasmtime.Module`` for ``wasm``: from the cache when possible."""
        return self.load_or_compile_typed(wasm, name)[0]

    def digest(self, wasm: bytes) -> str:
        """sha256 of ``wasm``, remembered per file version when ``wasm`` carries one (``FileBytes.ident``).

        The memo (``paths/<hash of the identity>``) holds the digest and a MAC of identity +
        digest with this user's key; a file changed in place has a new ctime, hence a new identity.
        """
        ident = getattr(wasm, "ident", None)
        if not ident:
            return hashlib.sha256(wasm).hexdigest()
        memo = os.path.join(self.dir, "paths", hashlib.sha256(ident).hexdigest()[:40])
        try:
            with open(memo, "rb") as f:
                raw = f.read(65)
            if len(raw) == 64 and hmac.compare_digest(raw[32:], mac(user_key(), b"wasm-digest\0", ident, raw[:32])):
                return raw[:32].hex()
        except OSError:
            pass
        digest = hashlib.sha256(wasm).digest()
        try:
            os.makedirs(os.path.dirname(memo), mode=0o700, exist_ok=True)
            _atomic_write(memo, digest + mac(user_key(), b"wasm-digest\0", ident, digest))
        except OSError:
            pass
        return digest.hex()

    def load_or_compile_typed(self, wasm: bytes, name: str | None = None) -> tuple[Any, TypeReport]:
        """``(wasmtime.Module, TypeReport)`` for ``wasm``: from the cache when possible."""
        label = name or "<module>"
        digest = self.digest(wasm)
        path = self.path_for(wasm, digest)
        if os.path.lexists(path):
            try:
                module, types = self._load(path, digest)
            except CacheError as e:
                self._discard(path, label, str(e))
            else:
                self.stats.hits += 1
                self.stats.events.append(("hit", label, path))
                return module, types
        self.stats.misses += 1
        module = compile_module(self.engine, wasm, name)
        types = type_report(wasm)
        try:
            data = serialize_artifact(module, self.settings, wasm=wasm, name=name, types=types, digest=digest)
            _atomic_write(path, data)
            self.stats.events.append(("store", label, path))
        except Exception as e:  # a read-only or full cache dir must not break loading (OSError, wasmtime)
            self.stats.events.append(("store-failed", label, str(e)))
        return module, types

    def clear(self) -> int:
        """Delete every artifact (and every remembered digest) in the directory; return how many artifacts went."""
        import shutil

        shutil.rmtree(os.path.join(self.dir, "paths"), ignore_errors=True)
        n = 0
        for entry in os.listdir(self.dir):
            if entry.endswith((".cwasm", ".cwasm.ok")):
                try:
                    os.unlink(os.path.join(self.dir, entry))
                    n += entry.endswith(".cwasm")
                except OSError:
                    pass
        return n
