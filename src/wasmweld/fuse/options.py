"""The options a world manifest's ``[fuse]`` table may set (checked by :mod:`wasmweld.manifest`).

::

    [fuse]
    plugs = { "test:fuse/api" = "my:api/store" }   # import name = export name that satisfies it
    emit = "auto"                                  # auto | core | component
    single_memory = true
    memory_reserve = 64                            # pages, with single_memory
    gc = true

A leaf module (the manifest parser imports it; :mod:`.pipeline` reads manifests).
"""

from __future__ import annotations

from typing import Any

from .abi import FuseError

__all__ = ["OPTIONS", "check_options"]

#: the options of :func:`fuse` a manifest's ``[fuse]`` table may set, with their types
OPTIONS: dict[str, type] = {"plugs": dict, "emit": str, "single_memory": bool, "memory_reserve": int, "gc": bool}


def check_options(opts: Any) -> dict[str, Any]:
    """The ``[fuse]`` table of a world manifest checked: a dict of :func:`fuse` keyword arguments."""
    if not isinstance(opts, dict):
        raise FuseError("must be a table of fuse options")
    for k, v in opts.items():
        t = OPTIONS.get(k)
        if t is None:
            raise FuseError(f"unknown option {k!r} (known: {', '.join(OPTIONS)})")
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            raise FuseError(f"{k} must be a {t.__name__}, not {v!r}")
    plugs = opts.get("plugs", {})
    if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in plugs.items()):
        raise FuseError("plugs must map import names to export names (strings)")
    if opts.get("emit", "auto") not in ("auto", "core", "component"):
        raise FuseError(f"emit must be auto, core or component, not {opts['emit']!r}")
    if not 0 <= opts.get("memory_reserve", 0) <= 65536:
        raise FuseError("memory_reserve must be a number of pages from 0 to 65536")
    return dict(opts)
