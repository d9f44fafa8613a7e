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
   from the first input (its DWARF stays valid: its code comes first and keeps its
   offsets) and dropped with a warning from later ones.
10. **single memory** (``single_memory=True``) -- all memories laid out in one
    (:mod:`wasmweld.link.single_memory`).
11. **gc** (default on) -- what nothing uses after fusion is removed
    (:func:`wasmweld.passes.gc.gc`; roots: the exports and the start function): functions
    that only dropped exports reached, imports nobody calls, unused types... With
    DWARF the first input's functions are all kept (its code must not move).
12. **check** -- if the first input had DWARF, its code must sit at the same code
    offsets in the output; otherwise the DWARF is dropped with a warning.

:func:`merge_plan` runs steps 1-5 (and the export policy) without building anything; the
CLI's ``--plan`` prints it and ``wasmweld graph`` draws it.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import DecodeError, EditError, LinkError, ValidationError, WasmError
from ..types import ExternKind, FuncType, GlobalType, TableType, TagType
from .typecheck import TypeSpace, describe

__all__ = [
    "merge", "merge_plan", "MergePlan", "Fusion", "Unresolved", "ExportEntry", "MergeWarning", "EXPORT_POLICIES",
]

KINDS = (ExternKind.FUNC, ExternKind.TABLE, ExternKind.MEMORY, ExternKind.GLOBAL, ExternKind.TAG)
EXPORT_POLICIES = ("error", "rename", "skip")
_KIND_SPACE = {ExternKind.FUNC: "func", ExternKind.TABLE: "table", ExternKind.MEMORY: "memory",
               ExternKind.GLOBAL: "global", ExternKind.TAG: "tag"}
_WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")


class MergeWarning(UserWarning):
    """Something the merge did that you should know about (dropped sections, WASI memory, ...)."""


# --------------------------------------------------------------------------------------------- plan records

@dataclass(frozen=True)
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


@dataclass
class Unresolved:
    """An import that stays an import of the merged module (once per module, name and type)."""

    module: str
    name: str
    kind: ExternKind
    type: str
    importers: list[str] = field(default_factory=list)
    index: int = 0              # its index in the merged module's space of its kind
    missing: bool = False       # the module is an input but has no such export (allow_unresolved)


@dataclass(frozen=True)
class ExportEntry:
    input: str
    name: str
    kind: ExternKind
    #: the name in the merged module, or None when skipped / not exported
    out_name: str | None
    reason: str = ""


@dataclass
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
    memory_layout: list = field(default_factory=list)

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
        return _link_error(self.problems)


def _link_error(problems: list[str]) -> LinkError:
    """One LinkError for all ``problems``: ``err.problems`` keeps each, ``str(err)`` lists them one a line."""
    if len(problems) == 1:
        return LinkError(problems[0], problems=problems)
    return LinkError(f"{len(problems)} link problems:\n" + "\n".join(f"  - {p}" for p in problems),
                     problems=problems)


# --------------------------------------------------------------------------------------------- options

@dataclass
class _Options:
    allow_unresolved: bool = False
    export_conflicts: str = "error"
    export_from: tuple[str, ...] | None = None
    single_memory: bool = False
    drop_memory_exports: bool = False
    memory_reserve: int | None = None
    gc: bool = True
    module_name: str | None = None
    names: bool = True
    warn: Callable[[str], None] | None = None
    report: Callable[["MergePlan"], None] | None = None


_BOOL_OPTIONS = ("allow_unresolved", "single_memory", "drop_memory_exports", "gc", "names")

#: the options :func:`merge` takes besides the callbacks ``warn`` and ``report``
MERGE_OPTIONS: tuple[str, ...] = (
    "allow_unresolved", "export_conflicts", "export_from", "single_memory", "drop_memory_exports",
    "memory_reserve", "gc", "module_name", "names",
)


def _options(kw: dict) -> _Options:
    opts = _Options()
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


def check_options(options: dict) -> None:
    """Raise :class:`LinkError` if ``options`` are not valid :func:`merge` options (e.g. from a manifest)."""
    unknown = sorted(k for k in options if k not in MERGE_OPTIONS)
    if unknown:
        raise LinkError(f"unknown merge option(s) {', '.join(unknown)} (known: {', '.join(MERGE_OPTIONS)})")
    _options(dict(options))


# --------------------------------------------------------------------------------------------- step 1: load

class _Input:
    __slots__ = ("name", "module", "pos", "imports", "n_imp", "exports", "tmap", "types", "maps")

    def __init__(self, name: str, module, pos: int):
        self.name = name
        self.module = module
        self.pos = pos
        self.imports: dict[ExternKind, list] = {k: [] for k in KINDS}
        for imp in module.imports:
            self.imports[imp.kind].append(imp)
        self.n_imp = {k: len(v) for k, v in self.imports.items()}
        self.exports: dict[str, Any] = {}
        for e in module.exports:
            self.exports.setdefault(e.name, e)
        self.tmap: list[int] = []
        self.types = None
        self.maps: dict[str, list[int]] = {}

    def n_defined(self, kind: ExternKind) -> int:
        m = self.module
        if kind == ExternKind.FUNC:
            return len(m.funcs)
        if kind == ExternKind.TABLE:
            return len(m.tables)
        if kind == ExternKind.MEMORY:
            return len(m.memories)
        if kind == ExternKind.GLOBAL:
            return len(m.globals)
        return len(m.tags)

    def item_desc(self, kind: ExternKind, index: int):
        """The type of item ``index`` of ``kind`` in this input's own index space (import desc form)."""
        n = self.n_imp[kind]
        if index < n:
            return self.imports[kind][index].desc
        d = index - n
        m = self.module
        if kind == ExternKind.FUNC:
            return m.funcs[d]
        if kind == ExternKind.TABLE:
            return m.tables[d].type
        if kind == ExternKind.MEMORY:
            return m.memories[d]
        if kind == ExternKind.GLOBAL:
            return m.globals[d].type
        return m.tags[d].type

    def type_list(self):
        if self.types is None:
            self.types = self.module.type_list()
        return self.types


@contextmanager
def _blame(name: str):
    """Name the input in errors raised while reading it (inputs decode lazily, so this can be anywhere).

    A malformed input stays a DecodeError; an index that points nowhere (an invalid input)
    becomes a LinkError instead of an IndexError.
    """
    try:
        yield
    except DecodeError as e:
        if not e.message.startswith("input "):
            e.message = f"input {name!r}: {e.message}"
            e.args = (e._format(),)
        e.merge_input = name  # lets the CLI name the file this input came from
        raise
    except (EditError, IndexError, KeyError, TypeError) as e:
        detail = str(e) if isinstance(e, EditError) else f"an index out of range ({type(e).__name__}: {e})"
        raise _input_error(name, f"input {name!r} is not a valid module: {detail}; check it with wasmweld "
                                 "validate") from None


def _load(inputs) -> list[_Input]:
    from ..module import Module, parse

    if isinstance(inputs, dict):
        inputs = list(inputs.items())
    out: list[_Input] = []
    seen: set[str] = set()
    for pos, item in enumerate(inputs):
        try:
            name, src = item
        except (TypeError, ValueError):
            raise LinkError(f"input {pos}: expected a (name, module) pair, got {type(item).__name__}") from None
        if not isinstance(name, str) or not name:
            raise LinkError(f"input {pos}: the name must be a non-empty string, not {name!r}")
        if name in seen:
            raise LinkError(f"two inputs are named {name!r}; every input needs its own name")
        seen.add(name)
        with _blame(name):
            if isinstance(src, Module):
                module = src
            elif isinstance(src, (bytes, bytearray, memoryview)):
                module = parse(bytes(src))
            elif isinstance(src, (str, os.PathLike)):
                from ..runtime.engine import load_bytes
                module = parse(load_bytes(src))
            else:
                raise LinkError(f"input {name!r}: expected a Module, bytes or a path, not {type(src).__name__}")
            if module.custom("linking") is not None:
                raise LinkError(f"input {name!r} is a relocatable object file (it has a 'linking' section): "
                                f"link it into a module (wasm-ld) before merging")
            out.append(_Input(name, module, pos))
    if not out:
        raise LinkError("nothing to merge: no inputs")
    return out


# --------------------------------------------------------------------------------------------- step 2: types

def _fold_types(ins: list[_Input]) -> TypeSpace:
    space = TypeSpace()
    for inp in ins:
        try:
            inp.tmap = space.add_module(inp.name, inp.module.types)
        except IndexError as e:
            raise _input_error(inp.name, f"input {inp.name!r}: type index {e} out of range in its type section") \
                from None
    return space


def _out_desc(inp: _Input, kind: ExternKind, desc, space: TypeSpace):
    """An import/export type moved into the combined type space."""
    t = inp.tmap
    try:
        if kind == ExternKind.FUNC:
            return t[desc]
        if kind == ExternKind.TAG:
            return TagType(t[desc.type_idx], desc.attribute)
        if kind == ExternKind.GLOBAL:
            return GlobalType(_out_val(desc.val, t), desc.mutable)
        if kind == ExternKind.TABLE:
            return TableType(_out_val(desc.elem, t), desc.limits)
        return desc
    except IndexError:
        raise _input_error(inp.name, f"input {inp.name!r}: a {kind} type refers to a type index out of range") \
            from None


def _out_val(v, t):
    from ..types import RefType
    if isinstance(v, RefType) and isinstance(v.heap, int):
        return RefType(v.nullable, t[v.heap], v.shorthand)
    return v


# --------------------------------------------------------------------------------------------- step 3/4: resolve, typecheck

@dataclass
class _Resolution:
    #: (input pos, kind) -> per import: ("def", input pos, defined index) | ("host", host index)
    targets: dict[tuple[int, ExternKind], list[tuple]] = field(default_factory=dict)
    hosts: list[Unresolved] = field(default_factory=list)
    host_keys: list[tuple] = field(default_factory=list)
    host_first: list[tuple[int, Any]] = field(default_factory=list)   # (input pos, Import) first importer
    fusions: list[Fusion] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _resolve(ins: list[_Input], space: TypeSpace, opts: _Options) -> _Resolution:
    by_name = {inp.name: inp for inp in ins}
    res = _Resolution()
    host_index: dict[tuple, int] = {}
    host_count = {k: 0 for k in KINDS}
    edges = []            # (importer, kind, j, imp, exporter, export) for the type check

    def host(inp: _Input, kind: ExternKind, imp, missing: bool) -> tuple:
        key = (imp.module, imp.name, kind, _out_desc(inp, kind, imp.desc, space))
        h = host_index.get(key)
        if h is None:
            h = host_index[key] = len(res.hosts)
            res.hosts.append(Unresolved(imp.module, imp.name, kind,
                                        describe(kind, imp.desc, inp.type_list()),
                                        [], host_count[kind], missing))
            host_count[kind] += 1
            res.host_keys.append(key)
            res.host_first.append((inp.pos, imp))
        if inp.name not in res.hosts[h].importers:
            res.hosts[h].importers.append(inp.name)
        return ("host", h)

    memo: dict[tuple[int, ExternKind, int], tuple] = {}
    for inp in ins:
        for kind in KINDS:
            out = []
            for j, imp in enumerate(inp.imports[kind]):
                key0 = (inp.pos, kind, j)
                if key0 in memo:
                    out.append(memo[key0])
                    continue
                chain = []
                cur_inp, cur_j, cur_imp = inp, j, imp
                result = None
                while True:
                    key = (cur_inp.pos, kind, cur_j)
                    if key in memo:
                        result = memo[key]
                        break
                    if key in chain:
                        names = " -> ".join(f"{ins[p].name}: import {ins[p].imports[k][jj].module}."
                                            f"{ins[p].imports[k][jj].name}" for p, k, jj in chain)
                        res.problems.append(f"import cycle with no definition: {names} -> back to the start")
                        result = ("error",)
                        break
                    chain.append(key)
                    target = by_name.get(cur_imp.module)
                    if target is None:
                        result = host(cur_inp, kind, cur_imp, False)
                        break
                    exp = target.exports.get(cur_imp.name)
                    imp_text = describe(kind, cur_imp.desc, cur_inp.type_list())
                    if exp is None or exp.kind != kind:
                        if exp is None and opts.allow_unresolved:
                            result = host(cur_inp, kind, cur_imp, True)
                            break
                        if exp is None:
                            res.problems.append(_missing_message(cur_inp, cur_imp, kind, imp_text, target))
                        else:
                            got = describe(exp.kind, target.item_desc(exp.kind, exp.index), target.type_list())
                            res.problems.append(
                                f"kind mismatch: {cur_inp.name} imports {cur_imp.module}.{cur_imp.name} as "
                                f"{imp_text}, but {target.name} exports {cur_imp.name!r} as {got}")
                        result = ("error",)
                        break
                    edges.append((cur_inp, kind, cur_j, cur_imp, target, exp))
                    nimp = target.n_imp[kind]
                    if exp.index < nimp:
                        cur_inp, cur_j, cur_imp = target, exp.index, target.imports[kind][exp.index]
                        continue
                    result = ("def", target.pos, exp.index - nimp)
                    break
                for key in chain:
                    memo[key] = result
                out.append(result)
            res.targets[(inp.pos, kind)] = out

    # the type check of every fusion edge (each link of a chain on its own)
    seen_edges = set()
    for imp_inp, kind, j, imp, target, exp in edges:
        ek = (imp_inp.pos, kind, j)
        if ek in seen_edges:
            continue
        seen_edges.add(ek)
        final = memo.get(ek)
        tgt_name = ins[final[1]].name if final and final[0] == "def" else target.name
        tgt_idx = final[2] if final and final[0] == "def" else -1
        exp_desc = target.item_desc(kind, exp.index)
        imp_text = describe(kind, imp.desc, imp_inp.type_list())
        res.fusions.append(Fusion(imp_inp.name, imp.module, imp.name, kind, target.name, exp.name,
                                  (tgt_name, tgt_idx), imp_text))
        try:
            a = _out_desc(imp_inp, kind, imp.desc, space)
            b = _out_desc(target, kind, exp_desc, space)
            why = space.check(kind, a, b)
        except (IndexError, LinkError) as e:
            why = f"type out of range ({e})"
        if why:
            got = describe(kind, exp_desc, target.type_list())
            res.problems.append(
                f"type mismatch: {imp_inp.name} imports {imp.module}.{imp.name} as {imp_text}, "
                f"but {target.name} exports {exp.name!r} as {got} ({why})")
    return res


def _missing_message(inp: _Input, imp, kind: ExternKind, imp_text: str, target: _Input) -> str:
    same_kind = [e for e in target.module.exports if e.kind == kind]
    hint = ""
    if same_kind:
        shown = ", ".join(f"{e.name!r} ({describe(kind, target.item_desc(kind, e.index), target.type_list())})"
                          for e in same_kind[:4])
        more = f" and {len(same_kind) - 4} more" if len(same_kind) > 4 else ""
        hint = f"; its {kind} exports are {shown}{more}"
    else:
        hint = f"; it exports no {kind} at all"
    return (f"missing export: {inp.name} imports {imp.module}.{imp.name} ({imp_text}), "
            f"but {target.name} has no export named {imp.name!r}{hint} (use --allow-unresolved to keep it an import)")


# --------------------------------------------------------------------------------------------- exports policy

def _export_policy(ins: list[_Input], opts: _Options, res: _Resolution, problems: list[str]) -> list[ExportEntry]:
    """Which export of which input gets which name in the merged module (see ``export_conflicts``).

    Two inputs exporting the same name for the *same* item (say bank re-exports the
    ``balance`` it imports from ledger) is no conflict: the item is exported once.
    """
    names = {inp.name for inp in ins}
    if opts.export_from is not None:
        unknown = [n for n in opts.export_from if n not in names]
        if unknown:
            problems.append(f"export_from names {', '.join(map(repr, unknown))}, which "
                            f"{'is not an input' if len(unknown) == 1 else 'are not inputs'} "
                            f"(inputs: {', '.join(inp.name for inp in ins)})")
    keep = set(opts.export_from) if opts.export_from is not None else names

    def ident(inp: _Input, e) -> tuple:
        nimp = inp.n_imp.get(e.kind, 0)
        if e.index < nimp:
            target = res.targets.get((inp.pos, e.kind), [])
            t = target[e.index] if e.index < len(target) else ("error",)
            if t[0] != "error":
                return (e.kind, *t)
            return ("unique", inp.pos, e.name)
        return (e.kind, "def", inp.pos, e.index - nimp)

    taken: dict[str, tuple[_Input, Any]] = {}
    out: list[ExportEntry] = []
    for inp in ins:
        for e in inp.module.exports:
            if inp.name not in keep:
                out.append(ExportEntry(inp.name, e.name, e.kind, None, "not in export_from"))
                continue
            if e.name not in taken:
                taken[e.name] = (inp, e)
                out.append(ExportEntry(inp.name, e.name, e.kind, e.name))
                continue
            first_inp, first = taken[e.name]
            if ident(first_inp, first) == ident(inp, e):
                out.append(ExportEntry(inp.name, e.name, e.kind, None,
                                       f"the same {e.kind} as {first_inp.name}'s export {e.name!r}"))
                continue
            if opts.export_conflicts == "skip":
                out.append(ExportEntry(inp.name, e.name, e.kind, None, f"conflicts with {first_inp.name}'s"))
                continue
            if opts.export_conflicts == "rename":
                new = f"{inp.name}:{e.name}"
                k = 2
                while new in taken:
                    new = f"{inp.name}:{e.name}#{k}"
                    k += 1
                taken[new] = (inp, e)
                out.append(ExportEntry(inp.name, e.name, e.kind, new, f"renamed: {first_inp.name} exports {e.name!r} too"))
                continue
            a = describe(first.kind, first_inp.item_desc(first.kind, first.index), first_inp.type_list())
            b = describe(e.kind, inp.item_desc(e.kind, e.index), inp.type_list())
            problems.append(f"export conflict: {first_inp.name} exports {e.name!r} ({a}) and {inp.name} "
                            f"exports {e.name!r} ({b}); use --rename-export-conflicts (later ones become "
                            f"'{inp.name}:{e.name}'), --skip-export-conflicts or --export-from")
            out.append(ExportEntry(inp.name, e.name, e.kind, None, "conflict"))
    return out


# --------------------------------------------------------------------------------------------- public: plan

def _prepare(inputs, opts: _Options):
    ins = _load(inputs)
    try:
        space = _fold_types(ins)
        res = _resolve(ins, space, opts)
        problems = list(res.problems)
        exports = _export_policy(ins, opts, res, problems)
    except (IndexError, KeyError, TypeError, DecodeError) as exc:
        raise _diagnose(ins, exc) from None
    mp = MergePlan([inp.name for inp in ins], res.fusions, res.hosts, exports, [], problems)
    return ins, space, res, mp


def _input_error(name: str, text: str) -> LinkError:
    """A LinkError about one input (``merge_input`` lets the CLI name the file it came from)."""
    err = LinkError(text)
    err.merge_input = name
    return err


def _input_problem(name: str, module) -> WasmError | None:
    """What is wrong with one input, at its own offsets, or None when wasmtime finds it valid.

    An input wasmtime refuses is decoded in full: where it is malformed (wasmweld's
    DecodeError with the offset), else wasmtime's verdict. Without wasmtime the decoder alone decides.
    """
    from ..module import parse

    try:
        data = module.encode()
    except WasmError:
        return None
    verdict = None
    try:
        from ..runtime.engine import validate_bytes

        validate_bytes(data)
        return None
    except ValidationError as e:
        verdict = e
    except (ImportError, WasmError):  # no wasmtime
        pass
    try:
        parse(data, lazy=False)
    except DecodeError as e:
        e.message = f"input {name!r}: {e.message}"
        e.args = (e._format(),)
        e.merge_input = name
        return e
    if verdict is not None:
        from ..validate import validate

        try:
            validate(data)  # wasmweld's validator: what wasmtime lacks a feature for (legacy exceptions) passes
        except ValidationError:
            return _input_error(name, f"input {name!r} is not a valid module: {verdict}")
    return None


def _diagnose(ins: list[_Input], exc: BaseException) -> BaseException:
    """Merging failed on something an input should not contain: blame the malformed or invalid input
    (in its own offsets and wasmtime's words), else ``exc`` stands (a refusal, or a bug)."""
    for inp in ins:
        problem = _input_problem(inp.name, inp.module)
        if problem is not None:
            return problem
    return exc


def check_inputs(inputs) -> None:
    """Raise the problem of the first malformed or invalid input of ``(name, Module)`` pairs, if any.

    Each input is validated by wasmtime (fast); one that fails is decoded in full to say
    where it is malformed, in its own offsets, or else what wasmtime found invalid.
    ``wasmweld merge`` calls it when the merged module fails validation (to tell a bad
    input from a merge bug); ``merge --plan`` and ``graph``, which read only the imports
    and exports, call it so that they do not draw a module that cannot be merged.
    """
    for name, module in inputs:
        problem = _input_problem(name, module)
        if problem is not None:
            raise problem


def merge_plan(inputs, **options) -> MergePlan:
    """Resolve, type-check and lay out a merge without building it (``wasmweld merge --plan``).

    Problems are collected in ``plan.problems`` instead of raised. With ``single_memory``
    (and no other problem) ``plan.memory_layout`` says where each input's memory goes, and
    what refuses the layout is a problem too.
    """
    opts = _options(options)
    ins, space, res, mp = _prepare(inputs, opts)
    if opts.single_memory and not mp.problems:
        try:
            layout = _Builder(ins, space, res, mp, opts, lambda text: None).plan_memory_layout()
        except (IndexError, KeyError, TypeError, DecodeError) as exc:
            raise _diagnose(ins, exc) from None
        mp.problems.extend(f"--single-memory refused: {p}" for p in layout.problems)
    return mp


# --------------------------------------------------------------------------------------------- public: merge

def merge(inputs, **options):
    """Merge named modules into one :class:`~wasmweld.module.Module`.

    ``inputs``: a sequence of ``(name, module)`` pairs (or a dict), where module
    is a :class:`~wasmweld.module.Module`, bytes, or a path (.wasm or .wat).
    Options:

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
    ``warn``
        a callable receiving each warning text (default: :func:`warnings.warn`
        with :class:`MergeWarning`).
    ``report``
        a callable receiving the :class:`MergePlan` (fusions, unresolved imports,
        export names, warnings) once the merge is done.

    Raises :class:`~wasmweld.errors.LinkError` listing every problem.
    """
    opts = _options(options)
    warn_list: list[str] = []

    def warn(text: str) -> None:
        warn_list.append(text)
        if opts.warn is not None:
            opts.warn(text)
        else:
            warnings.warn(text, MergeWarning, stacklevel=3)

    ins, space, res, mp = _prepare(inputs, opts)
    if mp.problems:
        raise _link_error(mp.problems)
    builder = _Builder(ins, space, res, mp, opts, warn)
    try:
        module = builder.build()
    except (IndexError, KeyError, TypeError, WasmError) as exc:
        # lazily decoded parts of the inputs are read here: a malformed or invalid input is named
        # (with its own offsets) rather than reported as a problem of the merged module
        raise _diagnose(ins, exc) from None
    mp.warnings.extend(warn_list)
    if opts.report is not None:
        opts.report(mp)
    return module


# --------------------------------------------------------------------------------------------- steps 5-12

class _Builder:
    def __init__(self, ins, space: TypeSpace, res: _Resolution, mp: MergePlan, opts: _Options, warn):
        self.ins = ins
        self.space = space
        self.res = res
        self.mp = mp
        self.opts = opts
        self.warn = warn
        self.extra_func_names: dict[int, str] = {}

    # step 5: plan the index spaces ------------------------------------------------------------
    def _plan_spaces(self) -> None:
        ins, res = self.ins, self.res
        self.n_host = {k: 0 for k in KINDS}
        for h in res.hosts:
            self.n_host[h.kind] += 1
        self.base: dict[tuple[int, ExternKind], int] = {}
        self.total = {}
        for kind in KINDS:
            b = self.n_host[kind]
            for inp in ins:
                self.base[(inp.pos, kind)] = b
                b += inp.n_defined(kind)
            self.total[kind] = b
        host_out = [h.index for h in res.hosts]
        for inp in ins:
            for kind in KINDS:
                m = []
                for t in res.targets[(inp.pos, kind)]:
                    if t[0] == "host":
                        m.append(host_out[t[1]])
                    else:
                        m.append(self.base[(t[1], kind)] + t[2])
                b = self.base[(inp.pos, kind)]
                m.extend(range(b, b + inp.n_defined(kind)))
                inp.maps[_KIND_SPACE[kind]] = m
        eb = db = 0
        for inp in ins:
            ne, nd = len(inp.module.elems), len(inp.module.datas)
            inp.maps["elem"] = list(range(eb, eb + ne))
            inp.maps["data"] = list(range(db, db + nd))
            eb += ne
            db += nd
        # which input owns each combined memory (for messages and single-memory), and its index there
        self.memory_owner: list[str] = [""] * self.total[ExternKind.MEMORY]
        self.memory_source: list[tuple[str, int] | None] = [None] * self.total[ExternKind.MEMORY]
        for h in res.hosts:
            if h.kind == ExternKind.MEMORY:
                self.memory_owner[h.index] = f"host import {h.module}.{h.name}"
        for inp in ins:
            b = self.base[(inp.pos, ExternKind.MEMORY)]
            for d in range(inp.n_defined(ExternKind.MEMORY)):
                self.memory_owner[b + d] = inp.name
                self.memory_source[b + d] = (inp.name, inp.n_imp[ExternKind.MEMORY] + d)

    def memory_layout(self, mtypes, exports, imported):
        """Step 10's plan (:func:`~.single_memory.plan_layout`) for the combined memories, regions
        attributed to their inputs; also recorded as ``plan.memory_layout``."""
        from dataclasses import replace

        from .single_memory import plan_layout

        opts = self.opts
        layout = plan_layout(mtypes, exports, imported=imported, owners=self.memory_owner,
                             drop_exports=opts.drop_memory_exports, reserve=opts.memory_reserve)
        regions = []
        for r in layout.regions:
            src = self.memory_source[r.memory]
            regions.append(r if src is None else replace(r, input=src[0], input_memory=src[1]))
        layout.regions = regions
        self.mp.memory_layout = regions
        return layout

    def plan_memory_layout(self):
        """The single-memory layout from the plan alone (``merge_plan``): nothing is built."""
        from ..module import Export

        self._plan_spaces()
        imported = [imp for _pos, imp in self.res.host_first if imp.kind == ExternKind.MEMORY]
        mtypes = [imp.desc for imp in imported]
        for inp in self.ins:
            mtypes.extend(inp.module.memories)
        exports = []
        for entry in self.mp.exports:
            if entry.out_name is None or entry.kind != ExternKind.MEMORY:
                continue
            inp = next(i for i in self.ins if i.name == entry.input)
            orig = _find_export(inp, entry.name)
            exports.append(Export(entry.out_name, orig.kind, inp.maps["memory"][orig.index]))
        return self.memory_layout(mtypes, exports, imported)

    # steps 6-9 ------------------------------------------------------------------------------------
    def build(self):
        from ..binary.reencode import IndexMaps, Renumberer
        from ..module import Data, Export, FuncBody, Import, Module, Table, parse

        self._plan_spaces()
        ins, space, res = self.ins, self.space, self.res
        out = Module()
        renumberers = {}
        for inp in ins:
            maps = inp.maps
            renumberers[inp.pos] = Renumberer(IndexMaps(
                type=inp.tmap, func=maps["func"], table=maps["table"], memory=maps["memory"],
                global_=maps["global"], tag=maps["tag"], elem=maps["elem"], data=maps["data"]))

        # imports (unresolved ones, deduplicated), in order of first appearance
        imports = []
        for pos, imp in res.host_first:
            r = renumberers[pos]
            imports.append(Import(imp.module, imp.name, imp.kind, self._import_desc(r, imp)))

        # With gc (and no single-memory lowering, which rewrites code itself), the bodies are not
        # copied here: gc's analysis reads the inputs' own bodies, and each body it keeps is then
        # renumbered once, by this merge's maps and gc's together (see _gc_fused).
        fused = self.opts.gc and not self.opts.single_memory
        extra_bodies: dict[int, Any] = {}       # with ``fused``: bodies made here (merged numbering)
        funcs, tables, memories, tags, globals_, elems, datas, code = [], [], [], [], [], [], [], []
        for inp in ins:
            with _blame(inp.name):
                self._copy(inp, renumberers[inp.pos], funcs, tables, memories, tags, globals_, elems, datas,
                           None if fused else code)
        if fused:
            code = list(range(len(funcs)))      # placeholders: the defined function each body is

        # constant expressions that now read a defined (fused) global
        n_gimp = self.n_host[ExternKind.GLOBAL]
        globals_ = _fix_global_refs(globals_, n_gimp)
        tables = [t if t.init is None else Table(t.type, _inline(t.init, globals_, n_gimp)) for t in tables]
        elems = [_fix_elem(e, globals_, n_gimp) for e in elems]
        datas = [d if d.offset is None else Data(d.mode, d.memory, _inline(d.offset, globals_, n_gimp), d.init, d.flags)
                 for d in datas]

        # step 7: start functions
        starts = [inp.maps["func"][inp.module.start] for inp in ins if inp.module.start is not None]
        start = None
        if len(starts) == 1:
            start = starts[0]
        elif len(starts) > 1:
            from ..binary.leb import write_u
            t = space.add_func_type(FuncType((), ()))
            start = self.total[ExternKind.FUNC]          # appended after every input's functions
            self.extra_func_names[start] = "wasmweld:start"
            funcs.append(t)
            body = FuncBody(b"\x00" + b"".join(b"\x10" + write_u(s) for s in starts) + b"\x0b")
            if fused:
                extra_bodies[len(code)] = body
                code.append(len(code))
            else:
                code.append(body)

        # step 8: exports
        exports = []
        for entry in self.mp.exports:
            if entry.out_name is None:
                continue
            inp = next(i for i in ins if i.name == entry.input)
            orig = _find_export(inp, entry.name)
            exports.append(Export(entry.out_name, orig.kind, inp.maps[_KIND_SPACE[orig.kind]][orig.index]))

        datacount = None
        if any(inp.module.datacount is not None for inp in ins):
            datacount = len(datas)

        out.types = list(space.groups)
        out.imports = imports
        out.funcs = funcs
        out.tables = tables
        out.memories = memories
        out.tags = tags
        out.globals = globals_
        out.exports = exports
        out.start = start
        out.elems = elems
        out.datacount = datacount
        out.code = code
        out.datas = datas

        self._wasi_memory_check(exports)
        dwarf = self._custom_sections(out)

        if self.opts.single_memory:
            from .single_memory import lower_memories
            imported = out.imported(ExternKind.MEMORY)
            layout = self.memory_layout([imp.desc for imp in imported] + list(out.memories), out.exports, imported)
            out = lower_memories(out, owners=self.memory_owner, drop_exports=self.opts.drop_memory_exports,
                                 reserve=self.opts.memory_reserve, warn=self.warn, layout=layout)

        if fused:
            data = self._gc_fused(out, dwarf, extra_bodies)
        else:
            if self.opts.gc:
                out = self._gc(out, dwarf)
            data = out.encode()
        if dwarf:
            data = self._check_dwarf(data)
        return parse(data)

    def _copy(self, inp, r, funcs, tables, memories, tags, globals_, elems, datas, code) -> None:
        """Step 6 for one input: its items and code, renumbered into the combined spaces."""
        from ..module import Data, Elem, FuncBody, Global, Table, Tag

        m = inp.module
        tmap = inp.tmap
        funcs.extend(tmap[t] for t in m.funcs)
        for t in m.tables:
            tables.append(Table(r.table_type(t.type), None if t.init is None else _ce(r.const_expr(t.init.raw))))
        memories.extend(m.memories)
        for t in m.tags:
            tags.append(Tag(r.tag_type(t.type)))
        for g in m.globals:
            globals_.append(Global(r.global_type(g.type), _ce(r.const_expr(g.init.raw))))
        fmap, tabmap, memmap = inp.maps["func"], inp.maps["table"], inp.maps["memory"]
        for e in m.elems:
            if e.init and isinstance(e.init[0], int):
                init = tuple(fmap[x] for x in e.init)
            else:
                init = tuple(_ce(r.const_expr(x.raw)) for x in e.init)
            elems.append(Elem(e.mode, tabmap[e.table] if e.mode == "active" else 0,
                              None if e.offset is None else _ce(r.const_expr(e.offset.raw)),
                              r.reftype(e.elem_type), init, e.flags))
        for d in m.datas:
            datas.append(Data(d.mode, memmap[d.memory] if d.mode == "active" else 0,
                              None if d.offset is None else _ce(r.const_expr(d.offset.raw)), d.init, d.flags))
        body = r.body
        if code is not None:
            code.extend(FuncBody(body(b.raw)) for b in m.code)

    def _import_desc(self, r, imp):
        kind = imp.kind
        if kind == ExternKind.FUNC:
            return r.maps.lookup("type", imp.desc)
        if kind == ExternKind.TABLE:
            return r.table_type(imp.desc)
        if kind == ExternKind.GLOBAL:
            return r.global_type(imp.desc)
        if kind == ExternKind.TAG:
            return r.tag_type(imp.desc)
        return imp.desc

    # WASI reads the caller's memory through the export "memory" ----------------------------------
    def _wasi_memory_check(self, exports) -> None:
        mem_export = next((e.index for e in exports if e.name == "memory" and e.kind == ExternKind.MEMORY), None)
        for inp in self.ins:
            wasi = [imp for imp in inp.module.imports if imp.module in _WASI_MODULES]
            if not wasi:
                continue
            mems = set(inp.maps["memory"])
            if not mems:
                continue
            if mem_export is None or mem_export not in mems:
                where = "no memory is exported as 'memory'" if mem_export is None else \
                    f"the export 'memory' is memory {mem_export} ({self.memory_owner[mem_export]}'s)"
                self.warn(f"{inp.name} imports WASI functions ({', '.join(sorted({i.name for i in wasi})[:4])}"
                          f"{'...' if len({i.name for i in wasi}) > 4 else ''}) and has its own memory, but "
                          f"{where}: a WASI host reads pointers from the exported 'memory', so those calls "
                          f"would see the wrong memory (put {inp.name} first, or do not let it call WASI)")

    # step 9: custom sections ---------------------------------------------------------------------------
    def _custom_sections(self, out) -> bool:
        """Add the merged custom sections; returns True when the first input's DWARF is kept."""
        from ..module import CustomSection
        from ..binary.reader import SECTION_NAMES

        first = self.ins[0]
        dwarf = False
        # anchors of the first input's custom sections: the known section each follows
        anchor = 0
        placed = []
        for sec in first.module.sections:
            if sec.id != 0:
                anchor = sec.id
                continue
            placed.append((sec.name, anchor))
        customs = first.module.customs
        for (name, anc), cs in zip(placed, customs):
            if name in ("name", "producers", "target_features"):
                continue
            if name.startswith(".debug_"):
                dwarf = True
            if name == "dylink.0" and len(self.ins) > 1:
                self.warn(f"kept the dylink.0 section of {first.name}: it describes only {first.name}'s memory "
                          f"and table needs, not the merged module's")
            out.add_custom(CustomSection(cs.name, cs.data), after=anc if anc in SECTION_NAMES else None)
        for inp in self.ins[1:]:
            dropped = [cs.name for cs in inp.module.customs
                       if cs.name not in ("name", "producers", "target_features")]
            if dropped:
                debug = [n for n in dropped if n.startswith(".debug_")]
                other = [n for n in dropped if not n.startswith(".debug_")]
                if debug:
                    self.warn(f"dropped the DWARF of {inp.name} ({len(debug)} .debug_* sections): only the "
                              f"first input's debug info stays valid in the merged module")
                if other:
                    self.warn(f"dropped custom section{'s' if len(other) > 1 else ''} "
                              f"{', '.join(map(repr, other))} of {inp.name} (kept from the first input only)")
        if self.opts.names:
            ns = self._merge_names()
            if ns is not None:
                out.add_custom(CustomSection("name", ns.encode()))
        prod = self._merge_producers()
        if prod is not None:
            out.add_custom(CustomSection("producers", prod.encode()))
        tf = self._merge_target_features()
        if tf is not None:
            out.add_custom(CustomSection("target_features", tf.encode()))
        return dwarf

    def _typed_custom(self, inp, attr: str, section: str):
        """``inp.module.<attr>``: the decoded ``section`` custom section, or None when absent or
        malformed (a malformed one is dropped with a warning)."""
        try:
            return getattr(inp.module, attr)
        except DecodeError as e:
            self.warn(f"the {section} section of {inp.name} is malformed and was dropped ({e})")
            return None

    def _merge_names(self):
        from ..custom.name import NameSection

        sections = [self._typed_custom(inp, "names", "name") for inp in self.ins]
        if all(ns is None for ns in sections) and self.opts.module_name is None:
            return None
        out = NameSection(module=self.opts.module_name)
        # per space: the out index -> [(input, name)] candidates; imports fused away are skipped
        simple = [("funcs", "func"), ("tables", "table"), ("memories", "memory"), ("globals", "global"),
                  ("tags", "tag"), ("elems", "elem"), ("datas", "data")]
        for attr, space in simple:
            kind = {"func": ExternKind.FUNC, "table": ExternKind.TABLE, "memory": ExternKind.MEMORY,
                    "global": ExternKind.GLOBAL, "tag": ExternKind.TAG}.get(space)
            cands: dict[int, tuple[str, str]] = {}
            for inp, ns in zip(self.ins, sections):
                if ns is None:
                    continue
                m = inp.maps[space]
                nimp = inp.n_imp[kind] if kind is not None else 0
                for old, text in getattr(ns, attr).items():
                    if old >= len(m):
                        continue
                    if kind is not None and old < nimp:
                        t = self.res.targets[(inp.pos, kind)][old]
                        if t[0] != "host":
                            continue        # a fused import: the definition names it
                    new = m[old]
                    if new not in cands:
                        cands[new] = (inp.name, text)
            if attr == "funcs":
                for idx, text in self.extra_func_names.items():
                    cands[idx] = ("wasmweld", text)
            counts: dict[str, int] = {}
            for _in, text in cands.values():
                counts[text] = counts.get(text, 0) + 1
            setattr(out, attr, {new: (text if counts[text] == 1 else f"{src}:{text}")
                                for new, (src, text) in sorted(cands.items())})
        for attr in ("locals", "labels"):
            merged = {}
            for inp, ns in zip(self.ins, sections):
                if ns is None:
                    continue
                m = inp.maps["func"]
                nimp = inp.n_imp[ExternKind.FUNC]
                for old, sub in getattr(ns, attr).items():
                    if nimp <= old < len(m):
                        merged[m[old]] = dict(sub)
            setattr(out, attr, dict(sorted(merged.items())))
        for attr in ("types", "fields"):
            merged = {}
            for inp, ns in zip(self.ins, sections):
                if ns is None:
                    continue
                for old, v in getattr(ns, attr).items():
                    if old < len(inp.tmap) and inp.tmap[old] not in merged:
                        merged[inp.tmap[old]] = v if isinstance(v, str) else dict(v)
            setattr(out, attr, dict(sorted(merged.items())))
        return out

    def _merge_producers(self):
        from ..custom.producers import Producers

        out = None
        for inp in self.ins:
            p = self._typed_custom(inp, "producers", "producers")
            if p is None:
                continue
            if out is None:
                out = Producers()
            for fname, values in p.fields.items():
                dst = out.fields.setdefault(fname, {})
                for tool, version in values.items():
                    dst.setdefault(tool, version)
        if out is not None:
            out.add("processed-by", "wasmweld", _version())
        return out

    def _merge_target_features(self):
        from ..custom.target_features import TargetFeatures

        merged: dict[str, str] = {}
        any_tf = False
        for inp in self.ins:
            tf = self._typed_custom(inp, "target_features", "target_features")
            if tf is None:
                continue
            any_tf = True
            for prefix, name in tf.features:
                old = merged.get(name)
                if old is None:
                    merged[name] = prefix
                elif old != prefix:
                    if "-" in (old, prefix):
                        self.warn(f"target feature {name!r}: {inp.name} says {prefix!r}, an earlier input "
                                  f"{old!r}; the merged module uses it")
                    merged[name] = "=" if "=" in (old, prefix) else "+"
        if not any_tf:
            return None
        return TargetFeatures([(p, n) for n, p in merged.items()])

    # step 11: gc ------------------------------------------------------------------------------------------
    def _gc_roots(self, dwarf: bool):
        if not dwarf:
            return None
        # the first input's code must stay where its DWARF says it is
        base = self.base[(0, ExternKind.FUNC)]
        return [("func", base + k) for k in range(self.ins[0].n_defined(ExternKind.FUNC))]

    def _gc(self, out, dwarf: bool):
        from ..passes.gc import gc
        return gc(out, roots=self._gc_roots(dwarf)).module

    def _gc_fused(self, out, dwarf: bool, extra_bodies: dict) -> bytes:
        """Steps 6 (code) and 11 in one: ``out.code`` holds placeholders (defined function ``d`` of
        the merged module); gc analyses the merged module reading each input's own body (its
        references mapped into the merged spaces), then every body it keeps is renumbered once,
        by the merge maps followed by gc's (:class:`Renumberer` ``then``), which writes the same
        bytes as the two passes would. The other sections are renumbered by gc's maps as
        :func:`~wasmweld.passes.gc.gc` does. Returns the encoded module."""
        from ..binary.reencode import IndexMaps, Renumberer, renumber_bytes
        from ..module import FuncBody
        from ..passes.gc import gc_plan
        from ..passes.used import _body_refs, _table_accesses

        src: list = []                  # merged defined function -> (input, its defined index)
        for inp in self.ins:
            src.extend((inp, k) for k in range(len(inp.module.funcs)))

        def body_refs(d: int) -> dict:
            if d >= len(src):
                return _body_refs(extra_bodies[d])
            inp, k = src[d]
            with _blame(inp.name):
                refs = _body_refs(inp.module.code[k])
                maps, tmap = inp.maps, inp.tmap
                return {space: ({tmap[i] for i in items} if space == "type" else
                                {maps[space][i] for i in items}) if items else items
                        for space, items in refs.items()}

        def table_accesses(d: int) -> list:
            if d >= len(src):
                return _table_accesses(extra_bodies[d])
            inp, k = src[d]
            with _blame(inp.name):
                tabmap, tmap = inp.maps["table"], inp.tmap
                return [(tabmap[t], None if c is None else tmap[c])
                        for t, c in _table_accesses(inp.module.code[k])]

        _result, gmaps = gc_plan(out, roots=self._gc_roots(dwarf), body_refs=body_refs,
                                 table_accesses=table_accesses)
        # A body gc drops is never rewritten, but it is still read: a malformed input must be an
        # error (as in the two-pass path), not silently dropped with the function holding it.
        kept = set(out.code)
        for d, (inp, k) in enumerate(src):
            if d not in kept:
                with _blame(inp.name):
                    _body_refs(inp.module.code[k])
        renumberers: dict[int, Renumberer] = {}
        extra_r = Renumberer(gmaps) if gmaps is not None else None
        code = []
        for d in out.code:
            if d >= len(src):
                body = extra_bodies[d]
                code.append(body if extra_r is None else FuncBody(extra_r.body(body.raw)))
                continue
            inp, k = src[d]
            r = renumberers.get(inp.pos)
            if r is None:
                m = inp.maps
                r = renumberers[inp.pos] = Renumberer(IndexMaps(
                    type=inp.tmap, func=m["func"], table=m["table"], memory=m["memory"], global_=m["global"],
                    tag=m["tag"], elem=m["elem"], data=m["data"]), then=gmaps)
            with _blame(inp.name):
                code.append(FuncBody(r.body(inp.module.code[k].raw)))
        out.code = code
        data = out.encode()
        return data if gmaps is None else renumber_bytes(data, gmaps, skip=(10,))

    # step 12: DWARF check ---------------------------------------------------------------------------------
    def _check_dwarf(self, data: bytes) -> bytes:
        """Keep the first input's DWARF only if its code still sits at the same code-section offsets."""
        first = self.ins[0].module
        orig = _code_layout(first.data)
        new = _code_layout(data)
        ok = orig is not None and new is not None and len(new[1]) >= len(orig[1]) and \
            new[0] == orig[0] and new[1][:len(orig[1])] == orig[1]
        if ok:
            # the bodies themselves must keep their lengths (their instructions keep their offsets)
            return data
        from ..module import parse
        m = parse(data)
        for cs in m.customs:
            if cs.name.startswith(".debug_"):
                m.remove_custom(cs)
        self.warn(f"dropped the DWARF of {self.ins[0].name}: its code does not keep its offsets in the "
                  f"merged module (code was rewritten or removed)")
        return m.encode()


def _code_layout(data: bytes):
    """(count width, [(offset in payload, size) per body]) of a module's code section, or None."""
    from ..binary.reader import split_sections
    from ..binary.leb import read_u32

    for sec in split_sections(data):
        if sec.id == 10:
            p = sec.payload_offset
            n, q = read_u32(data, p, sec.end)
            width = q - p
            out = []
            for _ in range(n):
                size, r = read_u32(data, q, sec.end)
                out.append((q - p, r - q, size))
                q = r + size
            return width, out
    return None


def _find_export(inp: _Input, name: str):
    for e in inp.module.exports:
        if e.name == name:
            return e
    raise LinkError(f"{inp.name} has no export {name!r}")


def _version() -> str:
    from .. import __version__
    return __version__


def _ce(raw: bytes):
    from ..module import ConstExpr
    return ConstExpr(raw)


# --------------------------------------------------------------------------------------------- const exprs

_SIMPLE_CONST_OPS = (0x41, 0x42, 0x43, 0x44, 0xD0, 0xD2)


def _is_simple_const(ce) -> bool:
    """A single constant instruction (no global.get): i32/i64/f32/f64.const, ref.null, ref.func, v128.const."""
    raw = ce.raw
    if not raw:
        return False
    if raw[0] in _SIMPLE_CONST_OPS:
        if ce.int_value is not None:
            return True
        op = raw[0]
        if op == 0x43:
            return len(raw) == 6
        if op == 0x44:
            return len(raw) == 10
        if op in (0xD0, 0xD2):
            try:
                instrs = ce.instrs
            except (DecodeError, ImportError):
                return False
            return len(instrs) == 2
        return False
    if raw[:2] == b"\xfd\x0c" and len(raw) == 19:
        return True
    return False


def _inline(ce, globals_, n_gimp: int):
    """A lone ``global.get`` of a defined immutable global with a simple constant initialiser -> that constant."""
    seen = 0
    while True:
        g = ce.global_index
        if g is None or g < n_gimp or g - n_gimp >= len(globals_) or seen > len(globals_):
            return ce
        target = globals_[g - n_gimp]
        if target.type.mutable or not _is_simple_const(target.init):
            return ce
        ce = target.init
        seen += 1


def _fix_elem(e, globals_, n_gimp):
    from ..module import Elem
    offset = e.offset if e.offset is None else _inline(e.offset, globals_, n_gimp)
    init = e.init
    if init and not isinstance(init[0], int):
        init = tuple(_inline(x, globals_, n_gimp) for x in init)
    if offset is e.offset and init is e.init:
        return e
    return Elem(e.mode, e.table, offset, e.elem_type, init, e.flags)


def _global_refs(ce) -> list[int]:
    g = ce.global_index
    if g is not None:
        return [g]
    if 0x23 not in ce.raw:
        return []
    try:
        return [ins.args[0] for ins in ce.instrs if ins.name == "global.get"]
    except (DecodeError, ImportError):
        return []


def _fix_global_refs(globals_: list, n_gimp: int) -> list:
    """Inline fused constant globals into global initialisers; check the remaining references point backwards.

    Raises LinkError for a forward reference that inlining cannot remove.
    """
    from ..module import Global
    out = list(globals_)
    for k, g in enumerate(out):
        new = _inline(g.init, out, n_gimp)
        if new is not g.init:
            out[k] = Global(g.type, new)
    for k, g in enumerate(out):
        for ref in _global_refs(g.init):
            if ref >= n_gimp + k:
                raise LinkError(
                    f"global {n_gimp + k} of the merged module is initialised from global {ref}, which comes "
                    f"later after the merge and is not a constant; reorder the inputs so that the exporter "
                    f"comes first")
    return out
