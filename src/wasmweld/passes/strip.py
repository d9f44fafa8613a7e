"""Strip custom sections: all of them, by name, by regular expression, debug info, producers.

::

    ;; sections: type func code data  custom "name"  custom ".debug_info"  custom "producers"
    strip_custom(m, debug=True)       -> removes "name" and ".debug_info"
    strip_custom(m, producers=True)   -> removes "producers"
    strip_custom(m, all=True)         -> removes every custom section but those that change behaviour
    strip_custom(m, everything=True)  -> removes every custom section, dylink.0 and target_features too
    strip_custom(m, all=True, keep=["producers"])  -> ... but keeps "producers" (like ``wasm-strip -k``)

``debug`` means DWARF (every ``.debug_*`` section), the ``name`` section, and
the pointers to external debug info (``sourceMappingURL``,
``external_debug_info``). Known sections are never touched, and custom
sections that are kept stay byte for byte where they were. ``regex`` patterns
use :func:`re.fullmatch`.

Sections that change what the module means to a loader or linker
(:data:`BEHAVIOUR_SECTIONS`: ``dylink.0``/``dylink`` of a side module,
``target_features``, ``component-type*``) are kept by ``all`` (the CLI's
default); ``everything=True`` removes them too, and naming one (``names``,
``regex``) removes it. ``keep`` names sections never removed.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from wasmweld.errors import EditError
from wasmweld.module import Module
from wasmweld.passes.result import PassResult

__all__ = ["run_strip", "strip_custom", "is_debug_section", "DEBUG_SECTIONS"]

#: debug-info sections besides the ``.debug_*`` DWARF family
DEBUG_SECTIONS = frozenset({"name", "sourceMappingURL", "external_debug_info"})


#: custom sections that change behaviour (dynamic linking, features, components): ``all`` keeps them
BEHAVIOUR_SECTIONS = frozenset({"dylink.0", "dylink", "target_features"})


def is_debug_section(name: str) -> bool:
    """DWARF (``.debug_*``) or one of :data:`DEBUG_SECTIONS`."""
    return name.startswith(".debug_") or name in DEBUG_SECTIONS


def is_behaviour_section(name: str) -> bool:
    """One of :data:`BEHAVIOUR_SECTIONS` or a ``component-type*`` section."""
    return name in BEHAVIOUR_SECTIONS or name.startswith("component-type")


def strip_custom(m: Module, *, all: bool = False, names: Iterable[str] = (), regex: Iterable[str] | str = (),
                 debug: bool = False, producers: bool = False, everything: bool = False,
                 keep: Iterable[str] = ()) -> list[str]:
    """Remove the selected custom sections; returns the removed section names in file order.

    ``all``: every custom section except those that change behaviour; ``everything``: every one;
    ``keep``: names never removed.
    """
    names = [names] if isinstance(names, str) else list(names)
    kept = {keep} if isinstance(keep, str) else set(keep)
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
        if name in kept:
            return False
        return (everything or (all and not is_behaviour_section(name)) or name in wanted
                or (debug and is_debug_section(name)) or any(c.fullmatch(name) for c in compiled))

    removed = []
    for cs in m.customs:
        if selected(cs.name):
            removed.append(cs.name)
    m.remove_custom(set(removed))
    return removed


def run_strip(module: Module, **options: Any) -> PassResult:
    """Pass ``strip``: :func:`strip_custom` with the same options."""
    gone = strip_custom(module, **options)
    listed = f": {', '.join(dict.fromkeys(gone))}" if gone else ""
    return PassResult(module, {"removed": len(gone)}, [f"stripped {len(gone)} custom section(s){listed}"],
                      value=gone)
