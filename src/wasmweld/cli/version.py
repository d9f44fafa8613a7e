"""Installed distributions' versions, read quickly (``wasmweld --version``).

The version is written once, in ``pyproject.toml``; installing writes it into the
distribution's metadata, which :func:`importlib.metadata.version` reads. That module
costs ~40 ms to import (it brings in :mod:`email`), more than the rest of
``wasmweld --version``, so :func:`distribution_version` first looks for the
``NAME-VERSION.dist-info`` folder on ``sys.path`` itself (the same metadata) and
falls back to :mod:`importlib.metadata`::

    >>> distribution_version("wasmweld")
    '0.1.0'
    >>> distribution_version("surely-not-installed") is None
    True
"""

from __future__ import annotations

import os
import re
import sys

__all__ = ["distribution_version"]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _from_dist_info(name: str) -> str | None:
    want = _normal(name)
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            if not folder.endswith(".dist-info"):
                continue
            dist, _, version = folder[: -len(".dist-info")].partition("-")
            if _normal(dist) == want and version:
                return version
    return None


def distribution_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None if it is not installed."""
    found = _from_dist_info(name)
    if found is not None:
        return found
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        return version(name)
    except PackageNotFoundError:
        return None
