"""The pass contract: every pass is ``run(module, **options) -> PassResult``.

Each registered pass (:mod:`wasmweld.passes.registry`) is a plain function
taking the module and keyword options and returning a :class:`PassResult`:
the changed module (edited in place or a new one: always continue with
``result.module``), counts of what it did, what it has to say, and a value for
callers that want the detail::

    from wasmweld.passes.exports import run_remove_exports

    r = run_remove_exports(m, patterns=["_debug_*"])
    r.counts        # {"removed": 2}
    r.messages      # ["removed 2 export(s): '_debug_dump', '_debug_stats'"]
    m = r.module

``listing`` holds the output of query passes (printed on stdout by ``wasmweld
edit``), ``messages`` what was done (stderr), ``warnings`` what the user should
know about the output. ``fold`` names messages that a run of the same pass may
fold into one line (``added entry point 'a' (function #7) (+3 more)``).
"""

from __future__ import annotations

from ..record import field, record
from typing import Any

from wasmweld.module import Module

__all__ = ["PassResult"]


@record
class PassResult:
    """What one pass did: ``module`` (continue with it), ``counts``, ``messages``, ``warnings``, ``listing``,
    ``value`` (the pass's own detail: an index, a removed-name list, a :class:`~wasmweld.passes.data.DataResult`)."""

    module: Module
    counts: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    listing: list[str] = field(default_factory=list)
    value: Any = None
    fold: str | None = None
