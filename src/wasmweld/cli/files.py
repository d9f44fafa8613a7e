"""The bounded file reader of the CLI: :mod:`wasmweld.files` (moved there so that the library's
runtime uses it without importing the CLI); these names are re-exported for existing callers::

    from wasmweld.cli.files import read_file       # the same function as wasmweld.files.read_file
"""

from __future__ import annotations

from wasmweld.files import (
    DEFAULT_MAX_INPUT, files_read, forget_files, max_input, note_read, read_file, read_stream,
)

__all__ = ["read_file", "read_stream", "max_input", "files_read", "forget_files", "note_read", "DEFAULT_MAX_INPUT"]
