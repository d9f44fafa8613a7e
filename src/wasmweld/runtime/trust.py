"""Who may hand wasmweld native code: the per-user artifact key and safe directories.

A compiled artifact (``.cwasm``) is machine code that wasmtime maps and runs
without checking it (``Module.deserialize`` trusts its input). wasmweld
therefore loads only artifacts that carry a MAC made with a key only this
user can read: HMAC-SHA256 over everything before the trailer, keyed with 32
random bytes kept in ``$WASMWELD_CONFIG_DIR/artifact.key`` (default
``$XDG_CONFIG_HOME/wasmweld`` or ``~/.config/wasmweld``), created once,
atomically, with mode 0600 in a 0700 directory::

    key = user_key()                         # created on first use
    tag = mac(key, body)                     # what `wasmweld compile` writes
    check_private_dir("/home/me/.cache/wasmweld/artifacts", "cache directory")

Anyone who can write a ``.cwasm`` (or a cache entry) but cannot read the key
cannot make one that loads; an artifact from elsewhere is loaded only when the
caller says it trusts it (``--trust-artifact`` / ``trusted=True``). Directories
whose files feed native code (the artifact cache) must belong to this user and
not be writable by group or others (:func:`check_private_dir`). See
docs/security.md for the whole trust model.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat

from wasmweld.errors import CacheError

__all__ = ["config_dir", "default_cache_dir", "user_key", "mac", "check_private_dir", "KEY_NAME"]

KEY_NAME = "artifact.key"
_KEY_SIZE = 32
_keys: dict[str, bytes] = {}


def _home_sub(env: str, fallback: str) -> str:
    base = os.environ.get(env)
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), fallback)
    return os.path.join(base, "wasmweld")


def config_dir() -> str:
    """Where the artifact key lives: ``$WASMWELD_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/wasmweld`` (``~/.config``)."""
    override = os.environ.get("WASMWELD_CONFIG_DIR")
    if override:
        return os.path.abspath(override)
    return _home_sub("XDG_CONFIG_HOME", ".config")


def default_cache_dir() -> str:
    """The per-user artifact cache: ``$XDG_CACHE_HOME/wasmweld/artifacts`` (default ``~/.cache``)."""
    return os.path.join(_home_sub("XDG_CACHE_HOME", ".cache"), "artifacts")


def check_private_dir(path: str, what: str, *, create: bool = True) -> str:
    """Make sure ``path`` is a directory of this user that group/others cannot write; return its real path.

    Created (mode 0700) when missing and ``create``. Raises CacheError naming
    the directory and the problem otherwise.
    """
    path = os.path.abspath(os.fspath(path))
    if create:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as e:
            raise CacheError(f"cannot create {what} {path}: {e.strerror or e}") from None
    try:
        st = os.stat(path)
    except OSError as e:
        raise CacheError(f"{what} {path}: {e.strerror or e}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise CacheError(f"cannot create {what} {path}: it exists and is not a directory")
    if st.st_uid != os.geteuid():
        raise CacheError(f"refusing {what} {path}: it belongs to uid {st.st_uid}, not to this user "
                         f"(uid {os.geteuid()}); anyone who owns it could plant native code")
    if st.st_mode & 0o022:
        raise CacheError(f"refusing {what} {path}: it is writable by {'others' if st.st_mode & 0o002 else 'its group'} "
                         f"(mode {stat.S_IMODE(st.st_mode):04o}); use a private directory (chmod 700) or the default")
    real = os.path.realpath(path)
    _check_ancestors(real, what)
    return real


def _check_ancestors(real: str, what: str) -> None:
    """Whoever may rename entries of a parent folder could swap the directory itself: only this user or root,
    or a sticky folder such as /tmp (where others cannot rename what is ours)."""
    me = os.geteuid()
    parent = os.path.dirname(real)
    while True:
        try:
            st = os.stat(parent)
        except OSError:
            return
        if st.st_uid not in (me, 0) or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
            raise CacheError(f"refusing {what} {real}: its parent folder {parent} can be changed by others "
                             f"(uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}), who could swap the directory")
        up = os.path.dirname(parent)
        if up == parent:
            return
        parent = up


def _read_key(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise CacheError(f"artifact key {path}: cannot read: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise CacheError(f"artifact key {path}: refusing it: it must be a regular file of this user with mode "
                             f"0600 (it has uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o})")
        data = os.read(fd, _KEY_SIZE + 1)
    finally:
        os.close(fd)
    if len(data) != _KEY_SIZE:
        raise CacheError(f"artifact key {path}: damaged ({len(data)} bytes, expected {_KEY_SIZE}); delete it to "
                         "make a new one (artifacts made with the old key are then recompiled)")
    return data


def user_key() -> bytes:
    """This user's artifact key (32 bytes), created on first use (0600, atomically: temp file + link)."""
    d = config_dir()
    path = os.path.join(d, KEY_NAME)
    key = _keys.get(path)
    if key is not None:
        return key
    key = _read_key(path)
    if key is None:
        check_private_dir(d, "configuration directory")
        import tempfile  # imported when first needed: it costs start-up time

        fd, tmp = tempfile.mkstemp(prefix=".tmp-key-", dir=d)  # mkstemp: mode 0600
        try:
            os.write(fd, os.urandom(_KEY_SIZE))
            os.fsync(fd)
            os.close(fd)
            try:
                os.link(tmp, path)  # never replaces a key another process made meanwhile
            except FileExistsError:
                pass
        except OSError as e:
            raise CacheError(f"cannot create the artifact key {path}: {e.strerror or e}") from None
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        key = _read_key(path)
        if key is None:  # pragma: no cover - deleted between link and read
            raise CacheError(f"cannot create the artifact key {path}")
    _keys[path] = key
    return key


def mac(key: bytes, *chunks: bytes | memoryview) -> bytes:
    """HMAC-SHA256 of the concatenated ``chunks``."""
    h = hmac.new(key, digestmod=hashlib.sha256)
    for c in chunks:
        h.update(c)
    return h.digest()
