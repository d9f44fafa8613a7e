"""Strip custom sections: all of them, by name, by regular expression, debug info, producers.

::

    ;; sections: type func code data  custom "name"  custom ".debug_info"  custom "producers"
    strip_custom(m, debug=True)       -> removes "name" and ".debug_info"
    strip_custom(m, producers=True)   -> removes "producers"
    strip_custom(m, all=True)         -> removes every custom section

``debug`` means DWARF (every ``.debug_*`` section), the ``name`` section, and
the pointers to external debug info (``sourceMappingURL``,
``external_debug_info``). Known sections are never touched, and custom
sections that are kept stay byte for byte where they were. ``regex`` patterns
use :func:`re.fullmatch`.
"""

from __future__ import annotations

import re
from typing import Iterable

from wasmweld.errors import EditError
from wasmweld.module import Module

__all__ = ["strip_custom", "is_debug_section", "DEBUG_SECTIONS"]

#: debug-info sections besides the ``.debug_*`` DWARF family
DEBUG_SECTIONS = frozenset({"name", "sourceMappingURL", "external_debug_info"})


def is_debug_section(name: str) -> bool:
    return name.startswith(".debug_") or name in DEBUG_SECTIONS


def strip_custom(m: Module, *, all: bool = False, names: Iterable[str] = (), regex: Iterable[str] | str = (),
                 debug: bool = False, producers: bool = False) -> list[str]:
    """Remove the selected custom sections; returns the removed section names in file order."""
    names = [names] if isinstance(names, str) else list(names)
    regex = [regex] if isinstance(regex, str) else list(regex)
    compiled = []
    for r in regex:
        try:
            compiled.append(re.compile(r))
        except re.error as exc:
            raise EditError(f"bad section-name regex {r!r}: {exc}") from None
    wanted = set(names)
    if producers:
        wanted.add("producers")

    def selected(name: str) -> bool:
        return (all or name in wanted or (debug and is_debug_section(name))
                or any(c.fullmatch(name) for c in compiled))

    removed = []
    for cs in m.customs:
        if selected(cs.name):
            removed.append(cs.name)
    m.remove_custom(set(removed))
    return removed
