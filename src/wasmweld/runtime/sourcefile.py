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
import stat
import struct

from wasmweld.errors import LinkError

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
    """Read a module file (a regular file only: a device or pipe could be endless), with its identity."""
    def identity(st) -> str:
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"

    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):  # a device or a pipe could be endless
                raise LinkError(f"{what}: {path} is not a regular file")
            before = identity(st)
            data = FileBytes(f.read())
            after = identity(os.fstat(f.fileno()))
    except OSError as e:
        raise LinkError(f"{what}: cannot read {path}: {e.strerror or e}") from None
    if before == after:
        data.ident = f"{os.path.realpath(path)}\0{before}".encode("utf-8", "surrogateescape")
    return data


def is_artifact(data_or_path: bytes | str) -> bool:
    """True when the bytes (or file) end with a wasmweld artifact magic (this format or an older one)."""
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        return bytes(data_or_path[-8:]) in (MAGIC, OLD_MAGIC)
    try:
        with open(data_or_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < TRAILER.size:
                return False
            f.seek(-8, os.SEEK_END)
            return f.read(8) in (MAGIC, OLD_MAGIC)
    except OSError:
        return False
