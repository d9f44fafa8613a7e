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

__all__ = ["loads", "MAX_NESTING"]

#: the deepest nesting of arrays and inline tables read; tomllib recurses once per level, so a hostile
#: document would otherwise hit the recursion limit (or, with a raised limit, the C stack)
MAX_NESTING = 64


def loads(text: str, origin: str, error: type[WasmError], invalid: str = "invalid TOML") -> dict[str, Any]:
    """Parse TOML ``text``; a syntax error is ``error(f"{origin}: {invalid}: {reason}")``."""
    if tomllib is None:  # pragma: no cover - Python 3.10 without its declared dependency
        raise error(f"{origin}: reading TOML on Python 3.10 needs tomli (pip install tomli)")
    depth = _nesting(text)
    if depth > MAX_NESTING:
        raise error(f"{origin}: {invalid}: arrays or inline tables nested too deeply ({depth} levels, "
                    f"at most {MAX_NESTING})")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{origin}: {invalid}: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise error(f"{origin}: {invalid}: arrays or inline tables nested too deeply") from None


def _nesting(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in value position, skipping strings and comments (an upper bound:
    table headers like ``[[a]]`` count too, which is harmless at these depths)."""
    depth = deepest = i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(depth - 1, 0)
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in "\"'":
            i = _skip_string(text, i)
            continue
        i += 1
    return deepest


def _skip_string(text: str, i: int) -> int:
    """The index just past the string starting at ``i`` (basic, literal, or their multi-line forms)."""
    q = text[i]
    if text.startswith(q * 3, i):
        j = text.find(q * 3, i + 3)
        return len(text) if j < 0 else j + 3
    j = i + 1
    while j < len(text) and text[j] != q and text[j] != "\n":
        j += 2 if q == '"' and text[j] == "\\" else 1
    return j + 1
