"""Merge: many modules that import each other's exports become one module ("one world").

A worked example (it is ``test_docstring_example`` in tests/test_merge_units.py).
Three inputs, named ``logger``, ``ledger`` and ``bank``::

    (module  ;; logger
      (memory (export "memory") 1)
      (func (export "log") (param i32 i64) ...))

    (module  ;; ledger
      (import "logger" "log" (func $log (param i32 i64)))
      (import "env" "now" (func $now (result i64)))
      (memory (export "memory") 1)
      (func (export "credit") (param i32 i64) ... (call $now) ... (call $log ...)))

    (module  ;; bank
      (import "ledger" "credit" (func $credit (param i32 i64)))
      (import "logger" "log" (func $log (param i32 i64)))
      (import "env" "now" (func $now (result i64)))
      (func (export "pay") (param i32 i64) ... (call $now) ... (call $credit ...) (call $log ...)))

``merge([("logger", a), ("ledger", b), ("bank", c)], export_conflicts="rename")``
runs these steps, in order:

1. **load** -- each input is parsed (lazily) and given its name.
2. **types** -- the type sections are folded into one (:class:`~.typecheck.TypeSpace`):
   each distinct recursion group once, whole; every input gets a type map.
3. **resolve** -- every import whose module name is an input's name is bound to that
   input's export of that name, following re-exports of imports (chains) to the
   item that really defines it: ``ledger``'s ``logger.log`` and ``bank``'s
   ``logger.log`` both become logger's function ``log``; ``bank``'s
   ``ledger.credit`` becomes ledger's ``credit``. Imports from other modules
   (``env.now``) stay imports, once per identical (module, name, type).
4. **typecheck** -- every fusion is checked (function subtyping, global type and
   mutability, table element type and limits, memory limits, index type and
   sharedness, tag signature); *all* mismatches and missing exports are reported in
   one :class:`~wasmweld.errors.LinkError`.
5. **plan** -- the combined index spaces: imports first (``env.now`` is func 0,
   once for both importers), then each input's definitions in input order
   (logger's ``log`` is func 1, ledger's ``credit`` func 2, bank's ``pay`` func 3);
   memories: logger's is 0, ledger's 1 (multi-memory, unless an input imports
   another's); element and data segments likewise concatenated.
6. **copy** -- each input's items and code are copied through the re-encoder
   (:class:`~wasmweld.binary.reencode.Renumberer`) with its maps: ``call $log``
   in ledger becomes ``call 1``, its loads and stores name memory 1, and so on
   through constant expressions, element segments, ``memory.init``/``data.drop``/
   ``table.init``/``elem.drop`` and ``ref.func``. A constant expression that read a
   fused immutable global now reads a defined one, so a constant initialiser is
   inlined instead (the result stays valid for engines without GC's rules).
7. **start** -- one start function; several are chained by a new function that
   calls each input's start in input order.
8. **exports** -- every input's exports (or those of ``export_from``), conflicts
   being an error unless renamed (here ledger's ``memory`` becomes ``ledger:memory``)
   or skipped; the same item exported twice under one name is exported once.
9. **custom sections** -- ``name`` merged and renumbered (clashing names prefixed
   ``input:``), ``producers`` and ``target_features`` united, other sections kept
   from the first input and dropped with a warning from later ones (DWARF: step 12).
10. **single memory** (``single_memory=True``) -- all memories laid out in one
    (:mod:`wasmweld.link.single_memory`).
11. **gc** (default on) -- what nothing uses after fusion is removed
    (:func:`wasmweld.passes.gc.gc`; roots: the exports and the start function): functions
    that only dropped exports reached, imports nobody calls, unused types...
12. **DWARF** -- every input's ``.debug_*`` sections rebased onto the merged code
    (:func:`wasmweld.dwarf.merge_debug_info`: sections concatenated, offsets and code
    addresses rewritten, removed code tombstoned); DWARF it cannot rewrite is dropped
    with a warning, never kept stale.

:func:`merge_plan` runs steps 1-5 (and the export policy) without building anything; the
CLI's ``--plan`` prints it and ``wasmweld graph`` draws it.

The pipeline, one file per group of steps (the shape of binaryen's wasm-merge.cpp)::

    merge(inputs, **options)
      ins   = merge_inputs.load_inputs(inputs)             # 1 load
      space = merge_inputs.fold_types(ins)                 # 2 types
      res   = merge_resolve.resolve(ins, space, opts)      # 3 resolve, 4 typecheck
      plan  = merge_resolve.export_policy(...)             #   export names
      merge_build.Builder(...).build()                     # 5 plan spaces, 6 copy, 7 start, 8 exports
        -> merge_custom.custom_sections(...)               # 9 custom sections
        -> single_memory.lower_memories(...)               # 10 single memory
        -> merge_gc.gc_fused(...) / gc_two_pass(...)       # 11 gc
        -> wasmweld.dwarf.merge_debug_info(...)             # 12 DWARF rebased

The records (:class:`MergePlan`, options) live in :mod:`wasmweld.link.merge_model`.
"""


from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Union

from ..errors import DecodeError, WasmError
from .merge_inputs import check_inputs, diagnose, fold_types, input_bytes, load_inputs, validate_in_background
from .merge_model import (
    EXPORT_POLICIES, MERGE_OPTIONS, ExportEntry, Fusion, MergeOptions, MergePlan, MergeWarning, Unresolved,
    check_options, link_error, parse_options,
)
from .merge_resolve import export_policy, resolve

if TYPE_CHECKING:
    from ..module import Module

#: one input of a merge: a parsed Module, the bytes of a module, or a path (.wasm or .wat)
MergeSource = Union["Module", bytes, bytearray, memoryview, str, "os.PathLike[str]"]
#: the inputs of a merge: ``(name, source)`` pairs in order, or a dict name -> source
MergeInputs = Union[Sequence[tuple[str, MergeSource]], Mapping[str, MergeSource]]

__all__ = [
    "merge", "merge_plan", "MergeSource", "MergeInputs", "check_inputs", "check_options", "MergePlan", "Fusion", "Unresolved", "ExportEntry",
    "MergeWarning", "MergeOptions", "EXPORT_POLICIES", "MERGE_OPTIONS",
]

# --------------------------------------------------------------------------------------------- public: plan

def _prepare(inputs, opts: MergeOptions):
    """Steps 1-4 and the export policy: the inputs, the type space, the resolution and the plan."""
    ins = load_inputs(inputs)
    try:
        space = fold_types(ins)
        res = resolve(ins, space, opts)
        problems = list(res.problems)
        exports = export_policy(ins, opts, res, problems)
    except (IndexError, KeyError, TypeError, DecodeError) as exc:
        raise diagnose(ins, exc) from None
    mp = MergePlan([inp.name for inp in ins], res.fusions, res.hosts, exports, [], problems)
    return ins, space, res, mp


def merge_plan(
    inputs: MergeInputs,
    *,
    allow_unresolved: bool = False,
    export_conflicts: str = "error",
    export_from: Sequence[str] | str | None = None,
    single_memory: bool = False,
    drop_memory_exports: bool = False,
    memory_reserve: int | None = None,
    gc: bool = True,
    module_name: str | None = None,
    names: bool = True,
    validate_inputs: bool = False,
) -> MergePlan:
    """Resolve, type-check and lay out a merge without building it (``wasmweld merge --plan``).

    Problems are collected in ``plan.problems`` instead of raised. With ``single_memory``
    (and no other problem) ``plan.memory_layout`` says where each input's memory goes, and
    what refuses the layout is a problem too.

    The parameters are :func:`merge`'s (see there), without its callbacks:

    * ``inputs``: ``(name, source)`` pairs or a dict; a source is a Module, bytes or a path.
    * ``allow_unresolved``: an import no input provides stays an import (else a problem).
    * ``export_conflicts``: ``"error"``, ``"rename"`` or ``"skip"``.
    * ``export_from``: the inputs whose exports are kept (None: all).
    * ``single_memory``, ``drop_memory_exports``, ``memory_reserve``: the one-memory layout.
    * ``gc``, ``module_name``, ``names``: accepted as for :func:`merge` (they do not change the plan).
    * ``validate_inputs``: accepted as for :func:`merge`; a plan builds nothing and validates nothing.
    """
    options = dict(allow_unresolved=allow_unresolved, export_conflicts=export_conflicts, export_from=export_from,
                   single_memory=single_memory, drop_memory_exports=drop_memory_exports,
                   memory_reserve=memory_reserve, gc=gc, module_name=module_name, names=names,
                   validate_inputs=validate_inputs)
    opts = parse_options(options)
    ins, space, res, mp = _prepare(inputs, opts)
    if opts.single_memory and not mp.problems:
        from .merge_build import Builder   # the build machinery loads on first use: `import wasmweld` stays light
        try:
            layout = Builder(ins, space, res, mp, opts, lambda text: None).plan_memory_layout()
        except (IndexError, KeyError, TypeError, DecodeError) as exc:
            raise diagnose(ins, exc) from None
        mp.problems.extend(f"--single-memory refused: {p}" for p in layout.problems)
    return mp


# --------------------------------------------------------------------------------------------- public: merge

def merge(
    inputs: MergeInputs,
    *,
    allow_unresolved: bool = False,
    export_conflicts: str = "error",
    export_from: Sequence[str] | str | None = None,
    single_memory: bool = False,
    drop_memory_exports: bool = False,
    memory_reserve: int | None = None,
    gc: bool = True,
    module_name: str | None = None,
    names: bool = True,
    validate_inputs: bool = False,
    warn: Callable[[str], None] | None = None,
    report: Callable[[MergePlan], None] | None = None,
) -> Module:
    """Merge named modules into one :class:`~wasmweld.module.Module`.

    ``inputs``: a sequence of ``(name, module)`` pairs (or a dict), where module
    is a :class:`~wasmweld.module.Module`, bytes, or a path (.wasm or .wat).
    The keyword parameters:

    ``allow_unresolved`` (False)
        an import of an input that lacks the export stays an import instead of an error.
    ``export_conflicts`` ("error")
        ``"rename"``: a later input's conflicting export ``name`` becomes
        ``"input:name"`` (``"input:name#2"``... if that is taken too);
        ``"skip"``: later conflicting exports are dropped.
    ``export_from`` (None)
        names of the inputs whose exports are kept (others are not exported).
    ``single_memory`` (False), ``drop_memory_exports`` (False), ``memory_reserve`` (None)
        lay every memory out in one; see :mod:`wasmweld.link.single_memory`.
    ``gc`` (True)
        remove what nothing uses after fusion (like wasm-merge's remove-unused-module-elements).
    ``module_name`` (None)
        the module name written in the merged ``name`` section.
    ``names`` (True)
        merge the ``name`` sections (False: drop them).
    ``validate_inputs`` (False)
        validate every input with wasmtime (in a second thread, while the merge runs) and raise
        the first input's problem: without it, an invalid part of an input that gc removes goes
        unnoticed (the output validates).
    ``warn``
        a callable receiving each warning text (default: :func:`warnings.warn`
        with :class:`MergeWarning`).
    ``report``
        a callable receiving the :class:`MergePlan` (fusions, unresolved imports,
        export names, warnings) once the merge is done.

    Raises :class:`~wasmweld.errors.LinkError` listing every problem.
    """
    opts = parse_options(dict(
        allow_unresolved=allow_unresolved, export_conflicts=export_conflicts, export_from=export_from,
        single_memory=single_memory, drop_memory_exports=drop_memory_exports, memory_reserve=memory_reserve,
        gc=gc, module_name=module_name, names=names, validate_inputs=validate_inputs, warn=warn, report=report))
    warn_list: list[str] = []

    def warn_once(text: str) -> None:
        warn_list.append(text)
        if opts.warn is not None:
            opts.warn(text)
        else:
            warnings.warn(text, MergeWarning, stacklevel=3)

    from .parallel import note, pause_cyclic_gc
    note("merge: starts")
    ins, space, res, mp = _prepare(inputs, opts)
    note("merge: resolved")
    if mp.problems:
        raise link_error(mp.problems)
    checks: list = []
    blobs = input_bytes(ins) if opts.validate_inputs else None   # (now, while the inputs are undecoded)

    def start_checks() -> None:
        if opts.validate_inputs and not checks:
            checks.append(validate_in_background(ins, blobs))

    from .merge_build import Builder       # the build machinery loads on first use: `import wasmweld` stays light
    builder = Builder(ins, space, res, mp, opts, warn_once)
    if not (opts.gc and not opts.single_memory):
        start_checks()                      # (with gc the build starts them when a core is idle)
    builder.start_checks = start_checks
    try:
        with pause_cyclic_gc():
            module = builder.build()
    except (IndexError, KeyError, TypeError, WasmError) as exc:
        # lazily decoded parts of the inputs are read here: a malformed or invalid input is named
        # (with its own offsets) rather than reported as a problem of the merged module
        raise diagnose(ins, exc) from None
    start_checks()
    if checks:
        problem = checks[0]()
        if problem is not None:
            raise problem
    note("merge: built (and the inputs validated)")
    mp.warnings.extend(warn_list)
    if opts.report is not None:
        opts.report(mp)
    return module
