"""Feature sets for validation, spelled like ``wasm-tools validate --features``.

A feature set is a frozenset of proposal names. ``parse_features`` reads the
comma-separated form: a group name (``mvp``, ``wasm1``, ``wasm2``, ``wasm3``,
``all``) replaces the set, a bare or ``+`` name adds a proposal, ``-name``
removes one::

    parse_features("wasm3,+legacy-exceptions,-threads")
    parse_features("all,-simd")          # everything but SIMD
    parse_features(None) == DEFAULT       # what real toolchains emit

For a module such as ``(module (func (drop (i64.extend32_s (i64.const 1)))))``
the ``sign-extension`` feature must be on, and a module with two memories needs
``multi-memory``.
"""

from __future__ import annotations

from typing import Any

from ..errors import WasmError

__all__ = ["FEATURES", "GROUPS", "DEFAULT", "parse_features", "FeatureError"]

#: every proposal name the validator knows
FEATURES: frozenset[str] = frozenset({
    "mutable-global", "saturating-float-to-int", "sign-extension", "reference-types", "multi-value",
    "bulk-memory", "simd", "relaxed-simd", "threads", "tail-call", "floats", "multi-memory",
    "exceptions", "memory64", "extended-const", "function-references", "gc", "custom-page-sizes",
    "legacy-exceptions", "wide-arithmetic", "compact-imports", "branch-hinting",
})

_WASM1 = frozenset({"mutable-global", "floats"})
_WASM2 = _WASM1 | {"saturating-float-to-int", "sign-extension", "reference-types", "multi-value",
                   "bulk-memory", "simd"}
_WASM3 = _WASM2 | {"relaxed-simd", "tail-call", "multi-memory", "exceptions", "memory64",
                   "extended-const", "function-references", "gc", "threads"}   # wasm-tools' wasm3 has threads

#: named groups (``all``: every feature)
GROUPS: dict[str, frozenset[str]] = {
    "mvp": _WASM1, "wasm1": _WASM1, "wasm2": _WASM2, "wasm3": _WASM3, "all": FEATURES,
}

#: the default: everything current toolchains and engines emit or accept (legacy exceptions included)
DEFAULT: frozenset[str] = FEATURES


class FeatureError(WasmError, ValueError):
    """An unknown feature or group name."""


def parse_features(spec: str | None | frozenset[Any] | set[Any]) -> frozenset[str]:
    """The feature set ``spec`` names (see the module docstring); None gives :data:`DEFAULT`."""
    if spec is None:
        return DEFAULT
    if isinstance(spec, (set, frozenset)):
        unknown = set(spec) - FEATURES
        if unknown:
            raise FeatureError(f"unknown feature(s): {', '.join(sorted(unknown))}")
        return frozenset(spec)
    cur = set(DEFAULT)
    for item in str(spec).replace(" ", "").split(","):
        if not item:
            continue
        sign = item[0] if item[0] in "+-" else ""
        name = item[1:] if sign else item
        name = name.replace("_", "-")
        if name in GROUPS:
            group = GROUPS[name]
            if sign == "-":
                cur -= group
            elif sign == "+":
                cur |= group
            else:
                cur = set(group)
        elif name in FEATURES:
            if sign == "-":
                cur.discard(name)
            else:
                cur.add(name)
        else:
            known = ", ".join(sorted(GROUPS)) + "; " + ", ".join(sorted(FEATURES))
            raise FeatureError(f"unknown feature {name!r} (known: {known})")
    return frozenset(cur)
