"""TOML documents (edit plans, world manifests): :mod:`tomllib`, or ``tomli`` on Python 3.10.

One loader for every TOML file wasmweld reads; the caller picks the error class
and the wording, so each file kind keeps its own messages::

    loads('gc = true', "edits.toml", EditError)          # -> {'gc': True}
    loads('[[module]', "w.toml", ManifestError, "not valid TOML")
    # ManifestError: w.toml: not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 9)
"""

from __future__ import annotations

import sys
from typing import Any

from wasmweld.errors import WasmError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (pyproject: tomli; python_version<"3.11")
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

__all__ = ["loads"]


def loads(text: str, origin: str, error: type[WasmError], invalid: str = "invalid TOML") -> dict[str, Any]:
    """Parse TOML ``text``; a syntax error is ``error(f"{origin}: {invalid}: {reason}")``."""
    if tomllib is None:  # pragma: no cover - Python 3.10 without its declared dependency
        raise error(f"{origin}: reading TOML on Python 3.10 needs tomli (pip install tomli)")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{origin}: {invalid}: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise error(f"{origin}: {invalid}: arrays or inline tables nested too deeply") from None
