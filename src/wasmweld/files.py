"""Reading input files boundedly, and remembering which ones were read (standard library only).

Every file wasmweld reads by path (the CLI's modules, data files, ``@FILE`` section contents and
plans; :func:`wasmweld.runtime.engine.load_bytes` for the library) goes through :func:`read_file`,
which

* refuses what is not a regular file where a file is expected (a character device
  such as ``/dev/zero``, a FIFO, a socket, a directory) instead of reading forever;
* refuses a file larger than :func:`max_input` bytes (``WASMWELD_MAX_INPUT``,
  default 1 GiB) with a clear error instead of a ``MemoryError``;
* records the file, so that :func:`wasmweld.cli.io.write_output` never replaces
  a file the command read (unless ``--force``).

A leaf module: the CLI (``wasmweld.cli.files`` re-exports these names) and the runtime both use it,
and neither imports the other for it.

:func:`read_stream` reads standard input in chunks up to the same cap::

    data = read_file("examples/motd.txt", "--add-passive-data")   # b"Welcome ..."
    read_file("/dev/zero")         # WasmError: /dev/zero: not a regular file (a character device)
"""

from __future__ import annotations

import os
import stat

from wasmweld.errors import WasmError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    from typing import BinaryIO

__all__ = ["read_file", "read_file_stat", "peek_regular_file", "read_stream", "max_input", "files_read", "forget_files", "note_read", "DEFAULT_MAX_INPUT"]

#: the default cap on one input's size: 1 GiB (the largest real modules are tens of MB)
DEFAULT_MAX_INPUT = 1 << 30

_CHUNK = 1 << 20

#: real paths of the files read since :func:`forget_files`
_read: list[str] = []

_KINDS = (
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def max_input() -> int:
    """The cap on an input's size in bytes: ``$WASMWELD_MAX_INPUT`` (bytes, or with a K/M/G suffix)."""
    text = os.environ.get("WASMWELD_MAX_INPUT", "").strip()
    if not text:
        return DEFAULT_MAX_INPUT
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1].lower(), 1)
    digits = text[:-1] if scale != 1 else text
    try:
        value = int(digits) * scale
    except ValueError:
        raise WasmError(f"WASMWELD_MAX_INPUT={text!r}: expected a number of bytes (e.g. 512M)") from None
    if value <= 0:
        raise WasmError(f"WASMWELD_MAX_INPUT={text!r}: must be positive")
    return value


def forget_files() -> None:
    """Start a new command: forget the files read so far."""
    _read.clear()


def files_read() -> list[str]:
    """Real paths of the files read since :func:`forget_files`, in reading order."""
    return list(_read)


def note_read(path: str | os.PathLike[str]) -> None:
    """Record ``path`` as read by the command (for files read some other way)."""
    _read.append(os.path.realpath(os.fspath(path)))


def _too_large(label: str, size: int | str, limit: int) -> WasmError:
    return WasmError(f"{label}: too large ({size} bytes; the limit is {limit} bytes, "
                     f"WASMWELD_MAX_INPUT raises it)")


def read_file(path: str | os.PathLike[str], label: str | None = None, *, limit: int | None = None) -> bytes:
    """The contents of the regular file ``path``; messages start with ``label`` (default: the path).

    Raises :class:`WasmError`: no such file, a directory, not a regular file,
    permission denied, too large, or another read error.
    """
    return read_file_stat(path, label, limit=limit)[0]


def read_file_stat(path: str | os.PathLike[str], label: str | None = None, *,
                   limit: int | None = None) -> tuple[bytes, os.stat_result, os.stat_result]:
    """:func:`read_file`, with the open file's status before and after reading: when the two agree
    (device, inode, size, times), the bytes are one version of the file (the artifact cache keys on it)."""
    name = os.fspath(path)
    label = name if label is None else label
    limit = max_input() if limit is None else limit
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after)
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise WasmError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise WasmError(f"{label}: is a directory") from None
    except PermissionError:
        raise WasmError(f"{label}: permission denied") from None
    except OSError as exc:
        raise WasmError(f"{label}: cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise WasmError(f"{label}: is a directory")
        if not stat.S_ISREG(st.st_mode):
            kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a file")
            raise WasmError(f"{label}: not a regular file ({kind}); give a file")
        if st.st_size > limit:
            raise _too_large(label, st.st_size, limit)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = _read_capped(fh, label, limit)
        after = os.fstat(fd)
    except OSError as exc:
        raise WasmError(f"{label}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    note_read(name)
    return data, st, after


def peek_regular_file(path: str | os.PathLike[str], n: int, *, end: bool = False) -> bytes | None:
    """The first (``end``: last) ``n`` bytes of ``path`` when it is a regular file of at least ``n``
    bytes, else None: a FIFO or device is neither waited on nor read; a missing or unreadable file
    is None too. For telling kinds of file apart by their bytes (a component's preamble, an
    artifact's trailer) before reading them with :func:`read_file`."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size < n:
            return None
        return os.pread(fd, n, st.st_size - n if end else 0)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_capped(stream: BinaryIO, label: str, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            chunk = stream.read(min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise _too_large(label, f"more than {limit}", limit)
        return b"".join(chunks)
    except MemoryError:
        chunks.clear()
        raise WasmError(f"{label}: out of memory after reading {total} bytes") from None


def read_stream(stream: BinaryIO, label: str = "<stdin>", *, limit: int | None = None) -> bytes:
    """All of ``stream`` (standard input), in chunks, refusing more than :func:`max_input` bytes."""
    limit = max_input() if limit is None else limit
    try:
        return _read_capped(stream, label, limit)
    except OSError as exc:
        raise WasmError(f"{label}: cannot read: {exc.strerror or exc}") from None
