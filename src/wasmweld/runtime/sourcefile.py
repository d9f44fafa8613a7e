"""Reading a module file for the World, and telling a compiled artifact from a module, cheaply.

What :meth:`World.add <wasmweld.runtime.world.World.add>` needs before it knows whether the
artifact cache is involved: the file's bytes with the identity of the version read (so the
cache can skip hashing a file it has seen), and whether bytes or a file end with the trailer
magic of a compiled artifact (:mod:`wasmweld.runtime.cache`, which re-exports these names).
Kept apart from the cache so that adding a plain module imports no hashing or JSON code::

    data = read_module_file("app.wasm", "module 'app'")    # a FileBytes (bytes + .ident)
    is_artifact(data)                  # False: "\\0asm..." (a .wat file's text is no artifact either)
    is_artifact("app.cwasm")           # True when the file ends with b"WWCWASM\\x02" (or the old magic)
"""

from __future__ import annotations

import os
import struct

from wasmweld.errors import LinkError, WasmError
from wasmweld.files import peek_regular_file, read_file_stat

__all__ = ["FileBytes", "read_module_file", "is_artifact", "MAGIC", "OLD_MAGIC", "TRAILER"]

MAGIC = b"WWCWASM\x02"
OLD_MAGIC = b"WWCWASM\x01"  # format 1: a plain sha256 anyone could recompute; refused
#: an artifact's trailer after the meta JSON: meta length, HMAC-SHA256, magic
TRAILER: struct.Struct = struct.Struct("<I32s8s")


class FileBytes(bytes):
    """The bytes of a module file, with the identity of the file version they were read from.

    ``ident`` (path, device, inode, size, mtime, ctime; None if the file changed while being
    read) lets the artifact cache skip hashing a file it has seen before
    (:meth:`~wasmweld.runtime.cache.ArtifactCache.digest`).
    """

    ident: bytes | None = None


def read_module_file(path: str, what: str) -> FileBytes:
    """Read a module file with :func:`wasmweld.files.read_file_stat` (a regular file only, bounded by
    ``WASMWELD_MAX_INPUT``; a FIFO is refused, not waited on), with its identity; LinkError otherwise."""
    def identity(st: os.stat_result) -> str:
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"

    try:
        raw, before, after = read_file_stat(path, f"{what}: {path}")
    except WasmError as e:
        raise LinkError(str(e)) from None
    data = FileBytes(raw)
    if identity(before) == identity(after):
        data.ident = f"{os.path.realpath(path)}\0{identity(before)}".encode("utf-8", "surrogateescape")
    return data


def is_artifact(data_or_path: bytes | str) -> bool:
    """True when the bytes (or a regular file) end with a wasmweld artifact magic (this format or an older one)."""
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        return bytes(data_or_path[-8:]) in (MAGIC, OLD_MAGIC)
    tail = peek_regular_file(data_or_path, TRAILER.size, end=True)
    return tail is not None and tail[-8:] in (MAGIC, OLD_MAGIC)
