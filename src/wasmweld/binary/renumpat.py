"""The byte patterns of the renumbering re-encoder: one compiled regular expression per set of
index spaces, built from the immediate kinds of the opcode table, that skips runs of instructions
carrying none of those indices and captures the next one that does::

    (call 3) (local.get 0) (i32.add)       10 03 20 00 6a   -> with {"func"}: captures the 03 after 10

Used by :class:`~wasmweld.binary.renumber.Renumberer` and :class:`~wasmweld.binary.scan.Scanner`.
"""

from __future__ import annotations

import itertools
import re

from .opcodes import OPCODES, PREFIXES
from .scanpat import POSSESSIVE, byte_class, opcode_pattern


# --------------------------------------------------------------------------- the scanner regex

_LEB = rf"[\x80-\xff]*{POSSESSIVE}[\x00-\x7f]"
_S33POS = rf"[\x80-\xff]*{POSSESSIVE}[\x00-\x3f]"   # a non-negative s33: a type index
_ABS_HEAP = r"[\x69-\x74]"                            # abstract heap types (one byte)
_NUM_VT = r"[\x7b-\x7f]"                              # i32 i64 f32 f64 v128
_ANY = r"[\x00-\xff]"

NUMERIC_VALTYPES = frozenset(range(0x7B, 0x80))
ABSTRACT_HEAPS = frozenset(range(0x69, 0x75))
SIMPLE_VALTYPES = NUMERIC_VALTYPES | ABSTRACT_HEAPS
PREFIX_SET = frozenset(PREFIXES)

# A variant is (regex fragment, captures): ``captures`` lists (space, codec) for each
# capturing group of the fragment, in order. Codecs: "u" an unsigned LEB index, "s" a
# non-negative s33 (type index in a heap or block type), "a0" the flags of a memarg whose
# memory 0 is implicit (rewritten to flags|0x40 plus the new memory index). A kind's
# variants are disjoint.
Variant = tuple[str, tuple[tuple[str, str], ...]]


def _heap_variants(type_active: bool) -> list[Variant]:
    if type_active:
        return [(_ABS_HEAP, ()), (f"({_S33POS})", (("type", "s"),))]
    return [(f"(?:{_ABS_HEAP}|{_S33POS})", ())]


def _prefixed(prefix: str, variants: list[Variant]) -> list[Variant]:
    return [(prefix + frag, caps) for frag, caps in variants]


def _reftype_variants(type_active: bool) -> list[Variant]:
    return [(_ABS_HEAP, ())] + _prefixed(r"[\x63\x64]", _heap_variants(type_active))


def _valtype_variants(type_active: bool) -> list[Variant]:
    return [(_NUM_VT, ())] + _reftype_variants(type_active)


def _kind_variants(kind: str, active: frozenset[str], mem0_moves: bool,
                   skip_memories: frozenset[int] = frozenset()) -> list[Variant] | None:
    """The regex variants of one immediate kind, or None when only the generic path can read it.

    ``skip_memories`` (indices below 128, for :class:`Scanner`): memargs naming one of these
    memories explicitly (in one byte) match without a capture.
    """
    t = "type" in active
    if kind in ("u32", "i32", "i64", "label", "local", "field"):
        return [(_LEB, ())]
    if kind in ("func", "type", "table", "memory", "global", "tag", "elem", "data"):
        return [(f"({_LEB})", ((kind, "u"),))] if kind in active else [(_LEB, ())]
    if kind == "f32":
        return [(_ANY + "{4}", ())]
    if kind == "f64":
        return [(_ANY + "{8}", ())]
    if kind in ("v128", "lanes16"):
        return [(_ANY + "{16}", ())]
    if kind == "lane":
        return [(_ANY, ())]
    if kind == "zero":
        return [(r"\x00", ())]
    if kind == "castflags":
        return [(r"[\x00-\x03]", ())]
    if kind == "heaptype":
        return _heap_variants(t)
    if kind == "blocktype":
        idx: list[Variant] = [(f"({_S33POS})", (("type", "s"),))] if t else [(_S33POS, ())]
        return [(r"\x40", ())] + _valtype_variants(t) + idx
    if kind == "valtypes":          # select t*: the one-type form; anything else goes the slow way
        return _prefixed(r"\x01", _valtype_variants(t))
    if kind == "memarg":            # flags (bit 6: a memory index follows), [memory], offset
        if "memory" not in active:
            return [(rf"(?:[\x00-\x3f]{_LEB}|[\x40-\x7f]{_LEB}{_LEB})", ())]
        explicit: Variant = (rf"[\x40-\x7f]({_LEB}){_LEB}", (("memory", "u"),))
        # (a skipped memory also matches ``explicit``: the fast loop tries the skipping variant first)
        skip: list[Variant] = [(rf"[\x40-\x7f]{byte_class(skip_memories)}{_LEB}", ())] if skip_memories else []
        if mem0_moves:
            a0: Variant = (rf"([\x00-\x3f]){_LEB}", (("memory", "a0"),))
            return [a0, explicit] + skip
        return [(rf"[\x00-\x3f]{_LEB}", ()), explicit] + skip
    if kind in ("labels", "catches"):
        return None
    raise AssertionError(f"reencode does not know immediate kind {kind!r}")


class Pattern:
    """The compiled body pattern for one set of active spaces.

    ``opgroup``: each capturing alternative also captures its opcode bytes (first
    group of the alternative), for :meth:`Scanner.sites`.
    """

    __slots__ = ("pattern", "captures", "opgroups")

    def __init__(self, active: frozenset[str], mem0_moves: bool, opgroup: bool = False,
                 skip_memories: frozenset[int] = frozenset()):
        fast: dict[tuple, list[int]] = {}       # (prefix, fragment) -> opcodes
        slow_caps: dict[tuple, list[int]] = {}  # (prefix, fragment, captures) -> opcodes
        order: dict[tuple, int] = {}
        for info in OPCODES:
            per_kind = []
            for kind in info.imm:
                v = _kind_variants(kind, active, mem0_moves, skip_memories)
                if v is None:
                    break
                per_kind.append(v)
            else:
                for combo in itertools.product(*per_kind):
                    frag = "".join(f for f, _ in combo)
                    caps = tuple(c for _, cs in combo for c in cs)
                    key = (info.prefix, frag, caps)
                    (slow_caps if caps else fast).setdefault(key, []).append(info.code)
                    order.setdefault(key, len(order))
        # Most frequent shapes first: one-byte opcodes by how many share the shape (no-immediate
        # ops, then LEB immediates, memargs, ...), prefixed ones after.
        def rank(item):
            (prefix, frag, caps), codes = item
            return (prefix is not None, -len(codes), order[(prefix, frag, caps)])

        fast_alts = [opcode_pattern(p, codes) + frag for (p, frag, _), codes in sorted(fast.items(), key=rank)]
        cap_alts = []
        self.captures: dict[int, tuple[tuple[int, str, str], ...]] = {}
        self.opgroups: dict[int, int] = {}      # lastindex -> the group of the opcode (opgroup only)
        group = 0
        for (p, frag, caps), codes in sorted(slow_caps.items(), key=rank):
            op = opcode_pattern(p, codes)
            if opgroup:
                group += 1
                opg = group
                op = f"({op})"
            cap_alts.append(op + frag)
            groups = tuple((group + 1 + i, space, codec) for i, (space, codec) in enumerate(caps))
            group += len(caps)
            self.captures[group] = groups      # lastindex of this alternative -> its groups
            if opgroup:
                self.opgroups[group] = opg
        src = "(?:" + "|".join(fast_alts) + ")*" + POSSESSIVE
        if cap_alts:
            src += "(?:" + "|".join(cap_alts) + ")?"
        self.pattern: re.Pattern[bytes] = re.compile(src.encode("ascii"))


_PATTERNS: dict[tuple, Pattern] = {}


def build_pattern(active: frozenset[str], mem0_moves: bool, opgroup: bool = False,
             skip_memories: frozenset[int] = frozenset()) -> Pattern:
    """The (cached) :class:`Pattern` of one set of active spaces."""
    key = (active, mem0_moves, opgroup, skip_memories)
    sc = _PATTERNS.get(key)
    if sc is None:
        sc = Pattern(*key)
        if not skip_memories or len(_PATTERNS) < 64:   # Scanner states: a few per set of spaces
            _PATTERNS[key] = sc
    return sc


