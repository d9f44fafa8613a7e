"""Helpers shared by the surgery passes: finding functions, adding types and functions, constants.

Functions are named the way a user knows them::

    (module
      (func $engine (export "run") ...)    ;; "run" (export name), "engine" (name section), "#0" (index)
      (func $helper ...))                  ;; "helper", "#1"

:func:`find_func` accepts an export name first, then a ``name``-section name,
then ``#N`` for a raw index, and raises :class:`~wasmweld.errors.EditError`
naming the function when none (or more than one) matches.
"""

from __future__ import annotations

import math
import struct
import weakref
from typing import Any

from wasmweld.binary.instr import Instr
from wasmweld.errors import EditError, WasmError
from wasmweld.module import FuncBody, Module
from wasmweld.types import (
    F32, F64, I32, I64, V128, ExternKind, FuncType, NumType, RecGroup, RefType, SubType,
)

#: a function of a module named for a pass: an index, ``"#N"``, an export name or a name-section name
FuncRef = int | str

__all__ = [
    "FuncRef",
    "FuncLookup", "FuncTypes", "check_indices", "find_func", "func_label", "ensure_func_type", "add_function", "check_export_name",
    "const_instrs", "default_instrs", "parse_constant", "memory_addr_type", "set_body",
]


class FuncLookup:
    """Resolves function references of one module; build once when resolving many names."""

    def __init__(self, m: Module) -> None:
        self.m = m
        self.exports: dict[str, tuple[ExternKind, int]] = {}
        for e in m.exports:
            self.exports.setdefault(e.name, (e.kind, e.index))
        self._names: dict[str, list[int]] | None = None
        self.num_funcs: int = m.num_funcs

    @property
    def names(self) -> dict[str, list[int]]:
        if self._names is None:
            rev: dict[str, list[int]] = {}
            try:
                ns = self.m.names
            except WasmError:  # an unreadable name section just means "no names"
                ns = None
            if ns is not None:
                for idx, name in ns.funcs.items():
                    rev.setdefault(name, []).append(idx)
            self._names = rev
        return self._names

    def find(self, ref: FuncRef, what: str = "function", context: str | None = None) -> int:
        """The index of function ``ref`` (int, ``#N``, export name or name-section name).

        Errors read ``unknown function 'x' (<context>): ...``.
        """
        ctx = f" ({context})" if context else ""
        if isinstance(ref, bool) or not isinstance(ref, (int, str)):
            raise EditError(f"{what}{ctx}: expected a function name or index, not {ref!r}")
        if isinstance(ref, int) or (ref.startswith("#") and ref[1:].isdigit()):
            idx = ref if isinstance(ref, int) else int(ref[1:])
            if not 0 <= idx < self.num_funcs:
                raise EditError(f"unknown {what} #{idx}{ctx}: the module has {self.num_funcs} functions")
            return idx
        hit = self.exports.get(ref)
        if hit is not None:
            kind, idx = hit
            if kind != ExternKind.FUNC:
                raise EditError(f"{what} {ref!r}{ctx}: the export {ref!r} is a {kind}, not a function")
            return idx
        found = self.names.get(ref)
        if not found:
            raise EditError(f"unknown {what} {ref!r}{ctx}: no function export and no function in the name "
                            "section has that name")
        if len(found) > 1:
            raise EditError(f"ambiguous {what} {ref!r}{ctx}: the name section gives it to functions "
                            f"{', '.join('#%d' % i for i in found)}; use #N")
        return found[0]

    def label(self, idx: int) -> str:
        """``'name' (#12)`` for messages."""
        try:
            ns = self.m.names
        except WasmError:
            ns = None
        name = ns.funcs.get(idx) if ns is not None else None
        if name is None:
            for e in self.m.exports:
                if e.kind == ExternKind.FUNC and e.index == idx:
                    name = e.name
                    break
        return f"{name!r} (#{idx})" if name is not None else f"#{idx}"


def find_func(m: Module, ref: FuncRef, what: str = "function", context: str | None = None) -> int:
    """The index of function ``ref`` of ``m`` (see :meth:`FuncLookup.find`)."""
    return FuncLookup(m).find(ref, what, context)


def func_label(m: Module, idx: int) -> str:
    """Function ``idx`` of ``m`` as messages name it: ``'name' (#12)``."""
    return FuncLookup(m).label(idx)


class FuncTypes:
    """Finds or appends plain function types in a list of recursion groups: the one way to add a type.

    A *plain* function type is a recursion group of one final function type without supertypes
    (``(type (func (param i32)))``). :meth:`index` returns the index of an existing plain type equal
    to ``ft``, or appends one. Groups appended to ``groups`` by others between calls are seen (the
    lookup scans new groups incrementally, stopping at the first match), so one instance can serve
    a whole edit::

        types = FuncTypes(m.types)
        t = types.index(FuncType((I32,), ()))     # found or appended to m.types
    """

    def __init__(self, groups: list[RecGroup]) -> None:
        self.groups = groups
        self._reset()

    def _reset(self) -> None:
        self._scanned = 0          # groups looked at so far
        self._count = 0            # type indices they hold
        self._plain: dict[FuncType, tuple[int, int]] = {}   # type -> (type index, group position)

    def _scan(self, want: FuncType) -> int | None:
        """Look at the groups not seen yet, stopping at the first plain type equal to ``want``."""
        groups = self.groups
        plain = self._plain
        while self._scanned < len(groups):
            pos = self._scanned
            rg = groups[pos]
            at = self._count
            self._count += len(rg.types)
            self._scanned += 1
            if len(rg.types) == 1:
                st = rg.types[0]
                comp = st.comp
                if isinstance(comp, FuncType) and not st.supers and st.final:
                    if comp == want:
                        return plain.setdefault(comp, (at, pos))[0]
                    plain.setdefault(comp, (at, pos))
        return None

    def index(self, ft: FuncType) -> int:
        """The type index of plain function type ``ft``, appended when the groups have none."""
        hit = self._plain.get(ft)
        if hit is not None:
            pos = hit[1]
            if pos < len(self.groups) and self.groups[pos].types[0].comp == ft:
                return hit[0]
            self._reset()               # the groups were changed other than by appending: look again
        idx = self._scan(ft)
        if idx is None:
            self.groups.append(RecGroup((SubType(ft),), explicit=False))
            idx = self._scan(ft)
        if idx is None:  # pragma: no cover - the group just appended holds it
            raise EditError(f"cannot add function type {ft}")
        return idx


_MODULE_TYPES: "weakref.WeakKeyDictionary[Module, FuncTypes]" = weakref.WeakKeyDictionary()


def ensure_func_type(m: Module, ft: FuncType) -> int:
    """The index of a plain (single, final, no supertype) function type ``ft``, added if missing
    (one :class:`FuncTypes` kept per module, so many additions scan the types once)."""
    groups = m.types
    types = _MODULE_TYPES.get(m)
    if types is None or types.groups is not groups or len(groups) < types._scanned:
        types = _MODULE_TYPES[m] = FuncTypes(groups)
    return types.index(ft)


def check_indices(m: Module) -> None:
    """EditError naming the first index outside its space in the module's item declarations.

    A well-formed but invalid module (``(func (type 5))`` with 2 types, an export of function 9 of
    3) would otherwise fail inside a pass. Bodies are not read here: the passes that read them
    report bad references themselves.
    """
    ntypes = sum(len(rg.types) for rg in m.types)

    def bad(what: str, idx: int, space: str, total: int) -> EditError:
        return EditError(f"invalid module: {what} refers to {space} {idx}, which does not exist ({total} {space}s)")

    counts = {k: 0 for k in ExternKind}
    for imp in m.imports:
        counts[imp.kind] += 1
        if imp.kind == ExternKind.FUNC and not 0 <= imp.desc < ntypes:
            raise bad(f"import {imp.module!r} {imp.name!r}", imp.desc, "type", ntypes)
        if imp.kind == ExternKind.TAG and not 0 <= imp.desc.type_idx < ntypes:
            raise bad(f"import {imp.module!r} {imp.name!r}", imp.desc.type_idx, "type", ntypes)
    for i, t in enumerate(m.funcs):
        if not 0 <= t < ntypes:
            raise bad(f"function #{counts[ExternKind.FUNC] + i}", t, "type", ntypes)
    for i, tag in enumerate(m.tags):
        if not 0 <= tag.type.type_idx < ntypes:
            raise bad(f"tag #{counts[ExternKind.TAG] + i}", tag.type.type_idx, "type", ntypes)
    totals = {ExternKind.FUNC: m.num_funcs, ExternKind.TABLE: m.num_tables, ExternKind.MEMORY: m.num_memories,
              ExternKind.GLOBAL: m.num_globals, ExternKind.TAG: m.num_tags}
    for e in m.exports:
        if not 0 <= e.index < totals[e.kind]:
            raise bad(f"export {e.name!r}", e.index, e.kind.space.value, totals[e.kind])
    if m.start is not None and not 0 <= m.start < totals[ExternKind.FUNC]:
        raise bad("the start section", m.start, "func", totals[ExternKind.FUNC])


def add_function(m: Module, ft: FuncType, body: FuncBody) -> int:
    """Append a defined function of type ``ft``; returns its function index (no index shifts)."""
    tidx = ensure_func_type(m, ft)
    nimp = m.num_imported(ExternKind.FUNC)
    m.funcs.append(tidx)
    m.code.append(body)
    return nimp + len(m.funcs) - 1


def set_body(m: Module, idx: int, body: FuncBody, label: str) -> None:
    """Replace the body of defined function ``idx``."""
    nimp = m.num_imported(ExternKind.FUNC)
    if idx < nimp:
        imp = m.imported(ExternKind.FUNC)[idx]
        raise EditError(f"function {label} is imported ({imp.module!r} {imp.name!r}): it has no body to replace")
    m.code[idx - nimp] = body


def check_export_name(m: Module, name: str, taken: set[str] | None = None) -> None:
    """EditError if ``name`` is already an export name (``taken``: a precomputed set)."""
    if not isinstance(name, str) or not name:
        raise EditError(f"export name must be a non-empty string, not {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise EditError(f"export name {name!r} is not valid UTF-8") from None
    if taken is None:
        taken = {e.name for e in m.exports}
    if name in taken:
        raise EditError(f"export name clash: the module already exports {name!r}")


def memory_addr_type(m: Module, mem: int = 0) -> NumType:
    """``i32`` or ``i64`` (memory64): the address type of memory ``mem``."""
    if mem >= m.num_memories:
        raise EditError(f"the module has no memory {mem} (it has {m.num_memories})")
    return I64 if m.memory_type(mem).limits.is64 else I32


# ------------------------------------------------------------------------------- constants

_INT_BITS = {I32: 32, I64: 64}


def parse_constant(text: str) -> Any:
    """A constant written on the command line: int (dec/hex/binary, ``_`` allowed), float, ``nan``, ``inf``, ``null``."""
    t = text.strip()
    if t == "null":
        return None
    low = t.lower().replace("_", "")
    try:
        return int(low, 0)
    except ValueError:
        pass
    try:
        return float(low)
    except ValueError:
        raise EditError(f"cannot read constant {text!r} (expected an integer, a float or null)") from None


def const_instrs(vt: Any, value: Any, where: str) -> list[Instr]:
    """Instructions pushing ``value`` as a ``vt``; EditError on a type mismatch."""
    if isinstance(value, str):
        value = parse_constant(value)
    if vt in _INT_BITS:
        bits = _INT_BITS[vt]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise EditError(f"type mismatch: {where} is {vt}, got {value!r}")
        if not -(1 << (bits - 1)) <= value < (1 << bits):
            raise EditError(f"type mismatch: {value} does not fit {where} ({vt})")
        if value >= 1 << (bits - 1):
            value -= 1 << bits
        return [Instr.make(f"{vt}.const", value)]
    if vt in (F32, F64):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EditError(f"type mismatch: {where} is {vt}, got {value!r}")
        x = float(value)
        if vt == F32:
            if math.isfinite(x) and abs(x) > 3.4028234663852886e38:
                raise EditError(f"type mismatch: {value} does not fit {where} (f32)")
            bits_ = struct.unpack("<I", struct.pack("<f", x))[0]
        else:
            bits_ = struct.unpack("<Q", struct.pack("<d", x))[0]
        return [Instr.make(f"{vt}.const", bits_)]
    if isinstance(vt, RefType):
        if value is not None:
            raise EditError(f"type mismatch: {where} is {vt}; the only constant for it is null")
        if not vt.nullable:
            raise EditError(f"type mismatch: {where} is the non-nullable {vt}; it has no constant")
        return [Instr.make("ref.null", vt.heap)]
    raise EditError(f"{where} has type {vt}, which has no constant form here")


def default_instrs(vt: Any, where: str) -> list[Instr]:
    """Instructions pushing the default (zero / null) value of ``vt``."""
    if vt == V128:
        return [Instr.make("v128.const", bytes(16))]
    if isinstance(vt, RefType):
        if not vt.nullable:
            raise EditError(f"{where} has the non-nullable type {vt}: it has no default value")
        return [Instr.make("ref.null", vt.heap)]
    return const_instrs(vt, 0, where)
