"""The records of a merge: the plan (fusions, unresolved imports, exports), options, warnings.

A leaf module (standard library and wasmweld's types only): :mod:`wasmweld.manifest` checks a world
manifest's merge options with :func:`check_options` without loading the merge itself. For::

    (module $app (import "lib" "f" (func)))      ;; input "app"
    (module $lib (func (export "f")))            ;; input "lib"

the plan holds one :class:`Fusion` (``app`` imports ``lib.f``, ``lib`` exports ``f``), no
:class:`Unresolved` import, and one :class:`ExportEntry` (``lib``'s ``f`` exported as ``f``).
"""

from __future__ import annotations

from ..record import field, record
from typing import Any, Callable

from ..errors import LinkError
from ..types import ExternKind
from .single_memory import MemoryRegion

__all__ = [
    "MergePlan", "Fusion", "Unresolved", "ExportEntry", "MergeWarning", "MergeOptions", "EXPORT_POLICIES",
    "MERGE_OPTIONS", "KINDS", "WASI_MODULES", "check_options", "parse_options", "link_error",
]

KINDS = (ExternKind.FUNC, ExternKind.TABLE, ExternKind.MEMORY, ExternKind.GLOBAL, ExternKind.TAG)
EXPORT_POLICIES = ("error", "rename", "skip")
#: import modules of WASI (its host reads pointers through the exported "memory")
WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")


class MergeWarning(UserWarning):
    """Something the merge did that you should know about (dropped sections, WASI memory, ...)."""


# --------------------------------------------------------------------------------------------- plan records

@record(frozen=True)
class Fusion:
    """One import bound to another input's export (one link of a chain)."""

    importer: str
    module: str
    name: str
    kind: ExternKind
    exporter: str
    export: str
    #: where the chain ends: (input name, "defined" index within that input)
    target: tuple[str, int]
    type: str = ""


@record
class Unresolved:
    """An import that stays an import of the merged module (once per module, name and type)."""

    module: str
    name: str
    kind: ExternKind
    type: str
    importers: list[str] = field(default_factory=list)
    index: int = 0              # its index in the merged module's space of its kind
    missing: bool = False       # the module is an input but has no such export (allow_unresolved)


@record(frozen=True)
class ExportEntry:
    input: str
    name: str
    kind: ExternKind
    #: the name in the merged module, or None when skipped / not exported
    out_name: str | None
    reason: str = ""


@record
class MergePlan:
    """What a merge will do: fusions, unresolved imports, exports, warnings, problems."""

    inputs: list[str]
    fusions: list[Fusion] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    exports: list[ExportEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: LinkError lines (empty when the merge can proceed)
    problems: list[str] = field(default_factory=list)
    #: with ``single_memory``: where each memory sits in the one memory
    #: (:class:`~wasmweld.link.single_memory.MemoryRegion`, with ``input`` and ``input_memory`` set)
    memory_layout: list[MemoryRegion] = field(default_factory=list)

    def memory_base(self, input: str, memory: int = 0) -> int | None:
        """With ``single_memory``: the byte offset where ``input``'s memory ``memory`` (its own index) starts."""
        for r in self.memory_layout:
            if r.input == input and r.input_memory == memory:
                return r.base
        return None

    def export_name(self, input: str, name: str) -> str | None:
        """The merged export name of ``input``'s export ``name`` (None: not exported)."""
        for e in self.exports:
            if e.input == input and e.name == name:
                return e.out_name
        return None

    def error(self) -> LinkError | None:
        if not self.problems:
            return None
        return link_error(self.problems)


def link_error(problems: list[str]) -> LinkError:
    """One LinkError for all ``problems``: ``err.problems`` keeps each, ``str(err)`` lists them one a line."""
    if len(problems) == 1:
        return LinkError(problems[0], problems=problems)
    return LinkError(f"{len(problems)} link problems:\n" + "\n".join(f"  - {p}" for p in problems),
                     problems=problems)


# --------------------------------------------------------------------------------------------- options

@record
class MergeOptions:
    """The options of :func:`~wasmweld.link.merge.merge` (see there), checked by :func:`parse_options`."""

    allow_unresolved: bool = False
    export_conflicts: str = "error"
    export_from: tuple[str, ...] | None = None
    single_memory: bool = False
    drop_memory_exports: bool = False
    memory_reserve: int | None = None
    gc: bool = True
    module_name: str | None = None
    names: bool = True
    validate_inputs: bool = False
    warn: Callable[[str], None] | None = None
    report: Callable[["MergePlan"], None] | None = None


_BOOL_OPTIONS = ("allow_unresolved", "single_memory", "drop_memory_exports", "gc", "names", "validate_inputs")

#: the options :func:`merge` takes besides the callbacks ``warn`` and ``report``
MERGE_OPTIONS: tuple[str, ...] = (
    "allow_unresolved", "export_conflicts", "export_from", "single_memory", "drop_memory_exports",
    "memory_reserve", "gc", "module_name", "names", "validate_inputs",
)


def parse_options(kw: dict[str, Any]) -> MergeOptions:
    """The checked options; TypeError for an unknown one, LinkError for a bad value."""
    opts = MergeOptions()
    for key, value in kw.items():
        if not hasattr(opts, key):
            raise TypeError(f"merge() got an unexpected option {key!r}")
        setattr(opts, key, value)
    for key in _BOOL_OPTIONS:
        if not isinstance(getattr(opts, key), bool):
            raise LinkError(f"{key} must be true or false, not {getattr(opts, key)!r}")
    if not isinstance(opts.export_conflicts, str) or opts.export_conflicts not in EXPORT_POLICIES:
        raise LinkError(f"export_conflicts must be one of {', '.join(EXPORT_POLICIES)}, "
                        f"not {opts.export_conflicts!r}")
    r = opts.memory_reserve
    if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 0):
        raise LinkError(f"memory_reserve must be a number of 64 KiB pages (0 or more), not {r!r}")
    if opts.module_name is not None and not isinstance(opts.module_name, str):
        raise LinkError(f"module_name must be a string, not {opts.module_name!r}")
    for key in ("warn", "report"):
        if getattr(opts, key) is not None and not callable(getattr(opts, key)):
            raise LinkError(f"{key} must be a callable, not {getattr(opts, key)!r}")
    if opts.export_from is not None:
        ef = opts.export_from
        names = ef.split(",") if isinstance(ef, str) else list(ef) if isinstance(ef, (list, tuple, set)) else None
        if names is None or not all(isinstance(x, str) for x in names):
            raise LinkError(f"export_from must be input names (a list, or one string separated by commas), "
                            f"not {ef!r}")
        names = [x.strip() for x in names]
        if not names or not all(names):
            raise LinkError(f"export_from has an empty input name: {ef!r}")
        opts.export_from = tuple(names)
    return opts


def check_options(options: dict[str, Any]) -> None:
    """Raise :class:`LinkError` if ``options`` are not valid :func:`merge` options (e.g. from a manifest)."""
    unknown = sorted(k for k in options if k not in MERGE_OPTIONS)
    if unknown:
        raise LinkError(f"unknown merge option(s) {', '.join(unknown)} (known: {', '.join(MERGE_OPTIONS)})")
    parse_options(dict(options))
