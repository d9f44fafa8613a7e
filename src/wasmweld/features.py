"""Which WebAssembly proposals a module uses, found from the instructions and types present.

::

    (module
      (memory 1 1 shared)                          ;; threads (shared memory)
      (func (param i32) (result i32)
        local.get 0  i32.extend8_s))               ;; sign-extension

    >>> detect_features(wasmweld.parse(wasm))
    {'sign-extension': 'i32.extend8_s at 0x21 (func 0)', 'threads': 'memory 0 is shared'}

:func:`detect_features` returns ``{feature: evidence}`` for each feature in
:data:`FEATURES` the module uses, where the evidence names the first place
(in section order) that needs it. The names are the proposals'
(``simd``, ``relaxed-simd``, ``threads``, ``bulk-memory``, ``reference-types``,
``multi-value``, ``tail-call``, ``gc``, ``function-references``,
``exceptions``, ``legacy-exceptions`` (try/catch/rethrow/delegate),
``memory64``, ``multi-memory``, ``sign-extension``, ``nontrapping-fptoint``,
``extended-const``, ``mutable-globals``, ``custom-page-sizes``, ``compact-imports`` (the group
encodings of the import section).

What counts: instructions (the mapping below, keyed by opcode prefix ranges and
names of :data:`wasmweld.binary.opcodes.OPCODES`), immediates (a type-index
block type is multi-value, an explicit memory index in a memarg multi-memory,
a non-zero or over-long table index of ``call_indirect`` reference-types),
value types anywhere (``v128`` simd, ``externref``/``funcref`` outside table
types reference-types, typed references function-references, ``anyref`` &c.
gc, ``exnref`` exceptions), composite types (struct/array, subtyping, rec
groups: gc; several results: multi-value), limits (shared: threads, 64-bit:
memory64), counts (two tables: reference-types, two memories: multi-memory),
mutable imported/exported globals, tags, passive data and element segments,
the data count section, table initializers and extended constant expressions.

Speed: code bodies are walked with one compiled regular expression that
consumes runs of instructions needing no feature not already found and stops
at the first one that might need a new one; only there does Python decode an
instruction (:func:`wasmweld.binary.dump.read_instr`). Each time a feature is
found the pattern is rebuilt (cached) with that feature's instructions added
to the runs, so a SIMD-heavy body costs one Python step per *new* feature,
not per SIMD instruction. ``br_table`` with fewer than 128 targets and a
body's locals take small per-count patterns; ``try_table`` and rarer forms
(over-long opcodes, multi-byte memarg flags) take the Python path. The
integer patterns accept exactly the LEB128s the decoder does, so the scan also
rejects malformed bodies (see :func:`detect_features`).

Measured (2 shared cores, ``parse`` + ``detect_features``): rs-swc (18 MB)
0.33-0.6 s, em-ffmpeg (32 MB) 0.7-1.4 s, against 3 s / 4.9 s for decoding
every body with ``Module.code[i].instrs``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, cast

from .binary.instrtext import MemArg, read_instr
from .binary.leb import read_u32
from .binary.opcodes import BY_NAME, OPCODES, OpInfo
from .binary.scanpat import POSSESSIVE, opcode_pattern
from .binary.typecodec import decode_valtype
from .errors import DecodeError
from .types import (
    ArrayType, ExternKind, FuncType, HeapType, NumType, RefType, StorageType, StructType, SubType,
)
from .module import Module

__all__ = [
    "FEATURES", "detect_features", "module_features", "op_features", "instr_features",
    "valtype_features", "heap_features",
]

#: every feature name, in the order reports list them
FEATURES: tuple[str, ...] = (
    "mutable-globals", "sign-extension", "nontrapping-fptoint", "multi-value", "bulk-memory",
    "reference-types", "simd", "relaxed-simd", "threads", "tail-call", "extended-const",
    "function-references", "gc", "exceptions", "legacy-exceptions", "memory64", "multi-memory",
    "custom-page-sizes", "compact-imports",
)
_ORDER = {f: i for i, f in enumerate(FEATURES)}
_EMPTY: frozenset[str] = frozenset()

# ---------------------------------------------------------------------------------------------
# instruction -> feature mapping (from the opcode table: prefix ranges, then names)
# ---------------------------------------------------------------------------------------------

#: (prefix, first code, last code, features)
_PREFIX_RANGES: tuple[tuple[int, int, int, tuple[str, ...]], ...] = (
    (0xFB, 0x00, 0xFF, ("gc",)),
    (0xFC, 0, 7, ("nontrapping-fptoint",)),
    (0xFC, 8, 14, ("bulk-memory",)),            # memory.init data.drop memory.copy memory.fill table.init elem.drop table.copy
    (0xFC, 15, 17, ("reference-types",)),       # table.grow table.size table.fill
    (0xFD, 0x000, 0x0FF, ("simd",)),
    (0xFD, 0x100, 0x1FF, ("relaxed-simd", "simd")),
    (0xFE, 0x00, 0xFF, ("threads",)),
)
#: one-byte opcodes: names (or inclusive name ranges in opcode order) -> features
_NAMED: dict[str, tuple[str, ...]] = {
    "i32.extend8_s": ("sign-extension",), "i32.extend16_s": ("sign-extension",),
    "i64.extend8_s": ("sign-extension",), "i64.extend16_s": ("sign-extension",),
    "i64.extend32_s": ("sign-extension",),
    "return_call": ("tail-call",), "return_call_indirect": ("tail-call",),
    "call_ref": ("function-references",), "return_call_ref": ("tail-call", "function-references"),
    "ref.as_non_null": ("function-references",), "br_on_null": ("function-references",),
    "br_on_non_null": ("function-references",),
    "ref.null": ("reference-types",), "ref.is_null": ("reference-types",), "ref.func": ("reference-types",),
    "table.get": ("reference-types",), "table.set": ("reference-types",), "select_t": ("reference-types",),
    "ref.eq": ("gc",),
    "throw": ("exceptions",), "throw_ref": ("exceptions",), "try_table": ("exceptions",),
    "try": ("legacy-exceptions",), "catch": ("legacy-exceptions",), "catch_all": ("legacy-exceptions",),
    "rethrow": ("legacy-exceptions",), "delegate": ("legacy-exceptions",),
}
#: instructions whose heap type immediates are read as reference types
_CASTS = frozenset({"ref.test", "ref.test_null", "ref.cast", "ref.cast_null", "br_on_cast", "br_on_cast_fail"})
#: instructions allowed in constant expressions by the extended-const proposal
_EXTENDED_CONST = frozenset({"i32.add", "i32.sub", "i32.mul", "i64.add", "i64.sub", "i64.mul"})


def _build_op_features() -> dict[OpInfo, frozenset[str]]:
    out: dict[OpInfo, frozenset[str]] = {}
    for name in _NAMED:
        if name not in BY_NAME:  # the mapping must follow the table
            raise AssertionError(f"features: unknown instruction {name!r}")
    for op in OPCODES:
        feats: set[str] = set(_NAMED.get(op.name, ()))
        if op.prefix is not None:
            for prefix, lo, hi, fs in _PREFIX_RANGES:
                if op.prefix == prefix and lo <= op.code <= hi:
                    feats.update(fs)
        out[op] = frozenset(feats)
    return out


_OP_FEATURES = _build_op_features()


def op_features(op: OpInfo | str) -> frozenset[str]:
    """The features an instruction needs by its opcode alone (``"i32.extend8_s"`` -> sign-extension)."""
    if isinstance(op, str):
        op = BY_NAME[op]
    return _OP_FEATURES[op]


# ---------------------------------------------------------------------------------------------
# types
# ---------------------------------------------------------------------------------------------

_GC_HEAPS = frozenset({"any", "eq", "i31", "struct", "array", "none", "nofunc", "noextern"})
_EXN_HEAPS = frozenset({"exn", "noexn"})


def heap_features(heap: HeapType) -> frozenset[str]:
    """Features a heap type needs beyond reference-types (``any``: gc, a type index: function-references)."""
    if isinstance(heap, int):
        return frozenset({"function-references"})
    if heap in _GC_HEAPS:
        return frozenset({"gc"})
    if heap in _EXN_HEAPS:
        return frozenset({"exceptions"})
    return _EMPTY


def valtype_features(t: StorageType) -> frozenset[str]:
    """Features a value type needs where it is used as a value (param, result, local, global, block type)."""
    if isinstance(t, NumType):
        return frozenset({"simd"}) if t.name == "v128" else _EMPTY
    if isinstance(t, RefType):
        feats = {"reference-types"} | heap_features(t.heap)
        if not t.nullable:
            feats.add("function-references")
        return frozenset(feats)
    return _EMPTY


def _table_elem_features(rt: RefType) -> frozenset[str]:
    if rt.nullable and rt.heap == "func":
        return _EMPTY  # funcref tables are MVP
    return valtype_features(rt)


def _type_indices(comp) -> Iterable[int]:
    """The type indices a composite type refers to (through reference types)."""
    ts: tuple[Any, ...]
    if isinstance(comp, FuncType):
        ts = comp.params + comp.results
    elif isinstance(comp, StructType):
        ts = tuple(f.storage for f in comp.fields)
    elif isinstance(comp, ArrayType):
        ts = (comp.field.storage,)
    else:  # pragma: no cover
        ts = ()
    return [t.heap for t in ts if isinstance(t, RefType) and isinstance(t.heap, int)]


def _type_desc(st: SubType, explicit_group: bool) -> str:
    comp = st.comp
    desc = f"func {comp}" if isinstance(comp, FuncType) else "struct" if isinstance(comp, StructType) else "array"
    if st.form in ("sub", "sub_final") or st.supers or not st.final:
        desc = f"sub{' final' if st.final else ''} {desc}"
    if explicit_group:
        desc += " in a rec group"
    return desc


def _subtype_features(st: SubType, explicit_group: bool, index: int) -> frozenset[str]:
    feats: set[str] = set()
    if explicit_group or st.form in ("sub", "sub_final") or st.supers or not st.final:
        feats.add("gc")
    comp = st.comp
    if any(i >= index for i in _type_indices(comp)):
        feats.add("gc")  # a type referring to itself or a later one: recursive types are GC's
    if isinstance(comp, FuncType):
        if len(comp.results) > 1:
            feats.add("multi-value")
        for t in comp.params + comp.results:
            feats |= valtype_features(t)
    else:
        feats.add("gc")
        fields = comp.fields if isinstance(comp, StructType) else (comp.field,) if isinstance(comp, ArrayType) else ()
        for f in fields:
            if not hasattr(f.storage, "name") or f.storage.name not in ("i8", "i16"):
                feats |= valtype_features(f.storage)
    return frozenset(feats)


# ---------------------------------------------------------------------------------------------
# one decoded instruction
# ---------------------------------------------------------------------------------------------

def _overlong_zero_tail(raw: bytes) -> bool:
    """Is the last LEB128 of ``raw`` a zero written in more than one byte?"""
    return len(raw) >= 2 and raw[-1] == 0 and raw[-2] >= 0x80


def instr_features(op: OpInfo, args: tuple[Any, ...], raw: bytes = b"") -> frozenset[str]:
    """Features of one instruction as read by :func:`~wasmweld.binary.dump.read_instr` (``raw``: its bytes)."""
    feats = _OP_FEATURES[op]
    extra: set[str] = set()
    name = op.name
    if name in _CASTS:
        # the target of a cast is a reference type: (ref ht) needs function-references
        if name.startswith("br_on_cast"):
            flags, _label, h1, h2 = args
            return feats | valtype_features(RefType(bool(flags & 1), h1)) | valtype_features(RefType(bool(flags & 2), h2))
        return feats | valtype_features(RefType(name.endswith("_null"), args[0]))
    for kind, v in zip(op.imm, args):
        if kind == "blocktype":
            if isinstance(v, int):
                extra.add("multi-value")
            elif v is not None:
                extra |= valtype_features(v)
        elif kind == "heaptype":
            extra |= heap_features(v)
        elif kind == "valtypes":
            for t in v:
                extra |= valtype_features(t)
        elif kind == "memarg":
            if v.explicit or v.memory:
                extra.add("multi-memory")
        elif kind == "table" and op.name in ("call_indirect", "return_call_indirect"):
            if v or _overlong_zero_tail(raw):
                extra.add("reference-types")
        elif kind == "memory":
            if v or (op.name in ("memory.size", "memory.grow") and _overlong_zero_tail(raw)):
                extra.add("multi-memory")
    return feats | extra if extra else feats


# ---------------------------------------------------------------------------------------------
# the code scanner
# ---------------------------------------------------------------------------------------------

# LEB128s exactly as the decoder accepts them (at most 5 or 10 bytes, unused bits of the last
# byte clear or sign copies), so a malformed integer never passes the fast path.
_LEB = rf"(?:[\x80-\xff]{{0,3}}{POSSESSIVE}[\x00-\x7f]|[\x80-\xff]{{4}}[\x00-\x0f])"          # u32
_S32 = rf"(?:[\x80-\xff]{{0,3}}{POSSESSIVE}[\x00-\x7f]|[\x80-\xff]{{4}}[\x00-\x07\x78-\x7f])"
_S64 = rf"(?:[\x80-\xff]{{0,8}}{POSSESSIVE}[\x00-\x7f]|[\x80-\xff]{{9}}[\x00\x7f])"
_U64 = rf"(?:[\x80-\xff]{{0,8}}{POSSESSIVE}[\x00-\x7f]|[\x80-\xff]{{9}}[\x00\x01])"
_NONZERO_U32 = rf"(?:[\x01-\x7f]|[\x80-\xff]{{1,3}}{POSSESSIVE}[\x00-\x7f]|[\x80-\xff]{{4}}[\x00-\x0f])"
_S33POS = rf"(?:[\x80-\xff]{{0,3}}{POSSESSIVE}[\x00-\x3f]|[\x80-\xff]{{4}}[\x00-\x0f])"  # a type index
_ANY = r"[\x00-\xff]"
_GC_HEAP_CLASS = r"[\x6a-\x6e\x71-\x73]"
_V = tuple[str, frozenset]          # (regex fragment, features)

_F = frozenset
_KIND_VARIANTS: dict[str, list[_V] | None] = {
    "u32": [(_LEB, _EMPTY)], "i32": [(_S32, _EMPTY)], "i64": [(_S64, _EMPTY)],
    "label": [(_LEB, _EMPTY)], "local": [(_LEB, _EMPTY)], "field": [(_LEB, _EMPTY)],
    "func": [(_LEB, _EMPTY)], "type": [(_LEB, _EMPTY)], "global": [(_LEB, _EMPTY)], "tag": [(_LEB, _EMPTY)],
    "elem": [(_LEB, _EMPTY)], "data": [(_LEB, _EMPTY)],
    "table": [(r"\x00", _EMPTY), (_NONZERO_U32, _F({"reference-types"}))],
    "memory": [(r"\x00", _EMPTY), (_NONZERO_U32, _F({"multi-memory"}))],
    "f32": [(_ANY + "{4}", _EMPTY)], "f64": [(_ANY + "{8}", _EMPTY)],
    "v128": [(_ANY + "{16}", _EMPTY)], "lanes16": [(_ANY + "{16}", _EMPTY)], "lane": [(_ANY, _EMPTY)],
    "zero": [(r"\x00", _EMPTY)], "castflags": [(r"[\x00-\x03]", _EMPTY)],
    "memarg": [(rf"[\x00-\x3f]{_U64}", _EMPTY), (rf"[\x40-\x7f]{_LEB}{_U64}", _F({"multi-memory"}))],
    "blocktype": [
        (r"\x40", _EMPTY), (r"[\x7c-\x7f]", _EMPTY), (r"\x7b", _F({"simd"})),
        (r"[\x6f\x70]", _F({"reference-types"})), (r"[\x69\x74]", _F({"reference-types", "exceptions"})),
        (_GC_HEAP_CLASS, _F({"reference-types", "gc"})), (_S33POS, _F({"multi-value"})),
    ],
    "heaptype": [
        (r"[\x6f\x70]", _EMPTY), (r"[\x69\x74]", _F({"exceptions"})), (_GC_HEAP_CLASS, _F({"gc"})),
        (_S33POS, _F({"function-references"})),
    ],
    "valtypes": [
        (r"\x01[\x7c-\x7f]", _EMPTY), (r"\x01\x7b", _F({"simd"})), (r"\x01[\x6f\x70]", _F({"reference-types"})),
    ],
    "labels": None, "catches": None,
}
# the ops whose "table"/"memory" immediates are the MVP's reserved byte (only these get variants)
_INDEX_VARIANT_OPS = {"table": ("call_indirect", "return_call_indirect"),
                      "memory": ("memory.size", "memory.grow", "memory.copy", "memory.fill", "memory.init")}


def _variants(op: OpInfo, kind: str) -> list[_V] | None:
    if kind in _INDEX_VARIANT_OPS and op.name not in _INDEX_VARIANT_OPS[kind]:
        return [(_LEB, _EMPTY)]
    if kind == "heaptype" and op.name in _CASTS:  # (ref ht) may be non-null: an upper bound
        return [(frag, feats | {"reference-types", "function-references"}) for frag, feats in _KIND_VARIANTS[kind] or ()]
    return _KIND_VARIANTS[kind]


# Shapes: (prefix, fragment, code, features) of every regex-readable instruction form; built once.
_SHAPES: list[tuple[int | None, str, int, frozenset]] = []


# memory.init / data.drop are only scanned past when the module has a data count section
# (without one they are malformed: the scanner stops at them and reports it)
_DATA_INDEX = frozenset({"~data-index"})


def _build_shapes() -> None:
    for op in OPCODES:
        per_kind: list[list[_V]] = []
        ok = True
        for kind in op.imm:
            v = _variants(op, kind)
            if v is None:
                ok = False
                break
            per_kind.append(v)
        if not ok:
            continue
        hidden = _DATA_INDEX if op.prefix == 0xFC and op.code in (8, 9) else _EMPTY
        for combo in itertools.product(*per_kind):
            frag = "".join(f for f, _ in combo)
            feats = _OP_FEATURES[op].union(hidden, *(fs for _, fs in combo))
            _SHAPES.append((op.prefix, frag, op.code, feats))


_build_shapes()
_PATTERNS: dict[frozenset, re.Pattern[bytes]] = {}


def _run_matcher(found: frozenset[Any]) -> Callable[[bytes, int, int], re.Match[bytes]]:
    """``_pattern(found).match``: the pattern ends in a star, so it always matches (maybe empty)."""
    return cast("Callable[[bytes, int, int], re.Match[bytes]]", _pattern(found).match)


def _pattern(found: frozenset[Any]) -> re.Pattern[bytes]:
    """The run-matching pattern: instructions whose features are all in ``found``."""
    pat = _PATTERNS.get(found)
    if pat is not None:
        return pat
    groups: dict[tuple, list[int]] = {}
    for prefix, frag, code, feats in _SHAPES:
        if feats <= found:
            groups.setdefault((prefix, frag), []).append(code)

    def rank(item):
        (prefix, frag), codes = item
        return (prefix is not None, frag != "", -len(codes))

    alts = [opcode_pattern(p, codes) + frag for (p, frag), codes in sorted(groups.items(), key=rank)]
    src = "(?:" + "|".join(alts) + ")*" + POSSESSIVE
    pat = _PATTERNS[found] = re.compile(src.encode("ascii"))
    return pat


_MAX_LOCALS = 2 ** 32 - 1
_BR_TABLES: dict[int, re.Pattern] = {}


def _br_table(n: int) -> re.Pattern:
    pat = _BR_TABLES.get(n)
    if pat is None:
        pat = _BR_TABLES[n] = re.compile(f"(?:{_LEB}){{{n + 1}}}".encode("ascii"))
    return pat


_LOCALS: dict[int, re.Pattern] = {}


def _plain_locals(n: int) -> re.Pattern:
    """``n`` local declarations of number types (count LEB128 + one of 0x7c..0x7f)."""
    pat = _LOCALS.get(n)
    if pat is None:
        # counts of at most two bytes (< 16384): n < 128 of them cannot reach the 2**32 - 1 limit
        pat = _LOCALS[n] = re.compile(f"(?:[\\x80-\\xff]?[\\x00-\\x7f][\\x7c-\\x7f]){{{n}}}".encode("ascii"))
    return pat


class _Scan:
    """Accumulates features with evidence, in the order they are found."""

    def __init__(self, exhaustive: bool = False, datacount: bool = True):
        self.found: dict[str, str] = {}
        self.fset: frozenset[Any] = _EMPTY
        self.exhaustive: bool = exhaustive
        self.datacount: bool = datacount
        self.hidden = _DATA_INDEX if datacount else _EMPTY

    def check(self, op: OpInfo, at: int, where: str) -> None:
        if not self.datacount and op.prefix == 0xFC and op.code in (8, 9):
            raise DecodeError("data count section required", at, f"{where} ({op.name})")

    def add(self, feats: Iterable[str], evidence: str) -> None:
        new = [f for f in feats if f not in self.found]
        if not new:
            return
        for f in new:
            self.found[f] = evidence
        self.fset = frozenset(self.found)

    # -- code -----------------------------------------------------------------------------------
    def body(self, raw: bytes, base: int, where: str) -> None:
        if self.exhaustive:
            return self.body_exhaustive(raw, base, where)
        size = len(raw)
        n = raw[0] if size else 0x80
        m = _plain_locals(n).match(raw, 1, size) if n < 0x80 else None
        if m is not None:  # n declarations of i32/i64/f32/f64: nothing to learn
            p = m.end()
        else:
            p = self.locals(raw, base, where)
        # Every instruction but the final `end` lies before the last byte: scan up to it, then check it.
        end = size - 1
        if end < p or raw[end] != 0x0B:
            raise DecodeError("END opcode expected", base + size, where)
        match = _run_matcher(self.fset | self.hidden)
        while True:
            p = match(raw, p, end).end()
            if p >= end:
                return
            if raw[p] == 0x0E and p + 1 < end and raw[p + 1] < 0x80:
                # br_table with < 128 targets: its labels are n + 1 LEB128s
                m = _br_table(raw[p + 1]).match(raw, p + 2, end)
                if m is not None:
                    p = m.end()
                    continue
            p, new = self.instr(raw, p, end, base, where)
            if new:
                match = _run_matcher(self.fset | self.hidden)

    def body_exhaustive(self, raw: bytes, base: int, where: str) -> None:
        """The reference walk: every instruction decoded in Python (what the fast path must agree with)."""
        size = len(raw)
        p = self.locals(raw, base, where)
        end = size - 1
        if end < p or raw[end] != 0x0B:
            raise DecodeError("END opcode expected", base + size, where)
        while p < end:
            p = self.instr(raw, p, end, base, where)[0]

    def instr(self, raw: bytes, p: int, end: int, base: int, where: str) -> tuple[int, bool]:
        """Decode the instruction at ``p`` with full checks and record its features:
        (the position after it, whether it added a feature)."""
        try:
            op, args, q = read_instr(raw, p, end)
        except DecodeError as e:
            raise DecodeError(e.message, base + (e.offset or 0), where) from None
        self.check(op, base + p, where)
        f = instr_features(op, args, raw[p:q])
        if f <= self.fset:
            return q, False
        self.add(f, f"{op.name} at 0x{base + p:x} ({where})")
        return q, True

    def locals(self, raw: bytes, base: int, where: str) -> int:
        end = len(raw)
        n, p = read_u32(raw, 0, end, base)
        if 2 * n > end - p:
            raise DecodeError(f"length out of bounds: {n} local declarations in {end - p} bytes", base, where)
        total = 0
        for _ in range(n):
            at = p
            c, p = read_u32(raw, p, end, base)
            total += c
            if total > _MAX_LOCALS:
                raise DecodeError("too many locals", base + at, where)
            b = raw[p] if p < end else 0
            if 0x7C <= b <= 0x7F:
                p += 1
                continue
            t, q = decode_valtype(raw, p, end, base)
            f = valtype_features(t)
            if f:
                self.add(f, f"local of type {t} in {where}")
            p = q
        return p

    def const_expr(self, ce, where: str, defined_globals_from: int) -> None:
        if ce.int_value is not None:
            return  # a lone i32.const / i64.const
        g = ce.global_index
        if g is not None and g < defined_globals_from:
            return  # a lone global.get of an imported global (MVP)
        for ins in ce.instrs:
            op = ins.op
            f = set(instr_features(op, _with_explicit(op, ins.args), ins.raw))
            if op.name in _EXTENDED_CONST:
                f.add("extended-const")
            elif op.name == "global.get" and ins.args[0] >= defined_globals_from:
                f.add("gc")  # Wasm 3.0: constant expressions may read defined immutable globals
            if f and not f <= self.fset:
                self.add(f, f"{op.name} in {where}")


def _with_explicit(op: OpInfo, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Instr args (library MemArg) -> the shape instr_features reads (dump MemArg with ``explicit``)."""
    if "memarg" not in op.imm:
        return args
    out: list[Any] = []
    i = 0
    for kind in op.imm:
        if kind == "zero":
            out.append(None)
            continue
        v = args[i]
        i += 1
        if kind == "memarg":
            v = MemArg(v.align, v.offset, v.memory, bool(v.memory))
        out.append(v)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# the module
# ---------------------------------------------------------------------------------------------

def detect_features(module: Module, *, exhaustive: bool = False) -> dict[str, str]:
    """``{feature: evidence}`` for every feature ``module`` (a :class:`wasmweld.Module`) uses.

    Ordered as :data:`FEATURES`. Reads every section and walks every code
    body; a malformed body raises :class:`~wasmweld.errors.DecodeError` (an
    illegal opcode or immediate, a body not ending in ``end``, ``memory.init`` /
    ``data.drop`` without a data count section; block nesting is not checked).
    ``exhaustive=True`` decodes every instruction in Python instead of using
    the pattern scanner (slow; the reference the scanner is tested against).
    """
    s = _Scan(exhaustive, module.datacount is not None)
    m = module
    _types(s, m)
    ntab, nmem, nglob = _imports(s, m)
    global_types = _definitions(s, m, ntab, nmem, nglob)
    _exports(s, m, global_types)
    _elems(s, m, nglob)
    _code_and_data(s, m, nglob)
    return {f: s.found[f] for f in sorted(s.found, key=_ORDER.__getitem__)}


def _types(s: "_Scan", m) -> None:
    tidx = 0
    for rg in m.types:
        for st in rg.types:
            f = _subtype_features(st, rg.explicit, tidx)
            if f:
                s.add(f, f"type {tidx} ({_type_desc(st, rg.explicit)})")
            tidx += 1


def _imports(s: "_Scan", m) -> tuple[int, int, int]:
    """Imports; returns how many tables, memories and globals are imported."""
    for first, count, form in m.compact_import_groups:
        imp = m.imports[first]
        s.add(("compact-imports",), f"import {first} ({imp.module}): a group of {count} in the compact form "
                                    f"0x{form:02x}")
        break
    ntab = nmem = nglob = 0
    for imp in m.imports:
        where = f"import {imp.module}.{imp.name}"
        k = imp.kind
        if k == ExternKind.TABLE:
            ntab += 1
            s.add(_table_elem_features(imp.desc.elem), f"table {where} of {imp.desc.elem}")
            if imp.desc.limits.is64:
                s.add(("memory64",), f"64-bit table {where}")
        elif k == ExternKind.MEMORY:
            nmem += 1
            lim = imp.desc.limits
            if lim.shared:
                s.add(("threads",), f"shared memory {where}")
            if lim.is64:
                s.add(("memory64",), f"64-bit memory {where}")
            if lim.page_size_log2 is not None:
                s.add(("custom-page-sizes",), f"memory {where} has {1 << lim.page_size_log2}-byte pages")
        elif k == ExternKind.GLOBAL:
            nglob += 1
            gt = imp.desc
            if gt.mutable:
                s.add(("mutable-globals",), f"mutable global {where}")
            s.add(valtype_features(gt.val), f"global {where} of type {gt.val}")
        elif k == ExternKind.TAG:
            s.add(("exceptions",), f"tag {where}")
    return ntab, nmem, nglob


def _definitions(s: "_Scan", m, ntab: int, nmem: int, nglob: int) -> list[Any]:
    """Tables, memories, tags and globals; returns the global types (imported first)."""
    for i, t in enumerate(m.tables):
        idx = ntab + i
        s.add(_table_elem_features(t.type.elem), f"table {idx} of {t.type.elem}")
        if t.type.limits.is64:
            s.add(("memory64",), f"table {idx} is 64-bit")
        if t.init is not None:
            s.add(("function-references",), f"table {idx} initializer")
            s.const_expr(t.init, f"table {idx} initializer", nglob)
    if ntab + len(m.tables) > 1:
        s.add(("reference-types",), f"{ntab + len(m.tables)} tables")
    # memories
    for i, mt in enumerate(m.memories):
        idx = nmem + i
        if mt.limits.shared:
            s.add(("threads",), f"memory {idx} is shared")
        if mt.limits.is64:
            s.add(("memory64",), f"memory {idx} is 64-bit")
        if mt.limits.page_size_log2 is not None:
            s.add(("custom-page-sizes",), f"memory {idx} has {1 << mt.limits.page_size_log2}-byte pages")
    if nmem + len(m.memories) > 1:
        s.add(("multi-memory",), f"{nmem + len(m.memories)} memories")
    # tags
    if m.tags:
        s.add(("exceptions",), "tag section")
    # globals
    global_types = [imp.desc for imp in m.imports if imp.kind == ExternKind.GLOBAL]
    for i, g in enumerate(m.globals):
        idx = nglob + i
        global_types.append(g.type)
        f = valtype_features(g.type.val)
        if f:
            s.add(f, f"global {idx} of type {g.type.val}")
        s.const_expr(g.init, f"global {idx} initializer", nglob)
    return global_types


def _exports(s: "_Scan", m, global_types: list[Any]) -> None:
    for e in m.exports:
        if e.kind == ExternKind.GLOBAL and e.index < len(global_types) and global_types[e.index].mutable:
            s.add(("mutable-globals",), f"export {json.dumps(e.name)} of a mutable global")
        elif e.kind == ExternKind.TAG:
            s.add(("exceptions",), f"export {json.dumps(e.name)} of a tag")


def _elems(s: "_Scan", m, nglob: int) -> None:
    for i, el in enumerate(m.elems):
        where = f"elem segment {i}"
        flags = el.flags if el.flags is not None else 0
        if el.mode == "passive":
            s.add(("bulk-memory",), f"{where} is passive")
        elif el.mode == "declarative":
            s.add(("bulk-memory",), f"{where} is declarative")
        if el.mode == "active" and el.table != 0:
            s.add(("reference-types",), f"{where} targets table {el.table}")
        if flags & 4:
            s.add(("reference-types",), f"{where} uses element expressions")
        s.add(_table_elem_features(el.elem_type), f"{where} of {el.elem_type}")
        if el.offset is not None:
            s.const_expr(el.offset, f"{where} offset", nglob)
        for item in el.init:
            if not isinstance(item, int):
                s.const_expr(item, f"{where} item", nglob)


def _code_and_data(s: "_Scan", m, nglob: int) -> None:
    if m.datacount is not None:
        s.add(("bulk-memory",), "data count section")
    nfimp = m.num_imported(ExternKind.FUNC)
    for i, body in enumerate(m.code):
        s.body(body.raw, body.offset or 0, f"func {nfimp + i}")
    for i, d in enumerate(m.datas):
        where = f"data segment {i}"
        if d.mode == "passive":
            s.add(("bulk-memory",), f"{where} is passive")
        elif d.memory != 0:
            s.add(("multi-memory",), f"{where} targets memory {d.memory}")
        if d.offset is not None:
            s.const_expr(d.offset, f"{where} offset", nglob)


def module_features(module: Module) -> list[str]:
    """The names of the features ``module`` uses, in :data:`FEATURES` order."""
    return list(detect_features(module))
