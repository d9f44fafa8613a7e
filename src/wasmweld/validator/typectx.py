"""The type side of validation: canonical types, subtyping, and the type section's rules.

Every value type the validator handles is *interned*: the number types are the
singletons of :mod:`wasmweld.types` and each reference type is one shared
``RefType`` whose concrete heap type is the **canonical** type index, the first
index of an isorecursively equivalent type. Two equal types are then the same
object, so the operand stack compares types with ``is``::

    (rec (type $a (struct (field (ref null $a)))))
    (rec (type $b (struct (field (ref null $b)))))   ;; $b == $a: same rec group shape
    ctx.ref(RefType(True, 1)) is ctx.ref(RefType(True, 0))   -> True

Subtyping follows the Wasm 3.0 heap type lattice (any > eq > {i31, struct,
array} > none; func > nofunc; extern > noextern; exn > noexn; concrete types
under their declared supertypes and their abstract kind).
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import ValidationError
from ..types import F32, F64, I8, I16, I32, I64, V128, ArrayType, FuncType, NumType, PackedType, RefType, StructType
from ..types import HeapType
from ..types import RecGroup

__all__ = ["TypeContext", "BOT", "vt_str", "types_str"]


class _Bot:
    """The unknown type of values popped from a polymorphic (unreachable) stack."""

    __slots__ = ()

    def __str__(self) -> str:
        return "bot"

    __repr__ = __str__


#: the bottom value type (a subtype of every value type)
BOT = _Bot()

_NUMS = {"i32": I32, "i64": I64, "f32": F32, "f64": F64, "v128": V128}

#: abstract heap type -> the top of its hierarchy
_TOP = {"any": "any", "eq": "any", "i31": "any", "struct": "any", "array": "any", "none": "any",
        "func": "func", "nofunc": "func", "extern": "extern", "noextern": "extern",
        "exn": "exn", "noexn": "exn"}
#: top -> bottom
_BOTTOM = {"any": "none", "func": "nofunc", "extern": "noextern", "exn": "noexn"}
#: abstract heap type -> the abstract heap types it is a subtype of
_ABS_SUPERS = {
    "any": {"any"}, "eq": {"eq", "any"}, "i31": {"i31", "eq", "any"}, "struct": {"struct", "eq", "any"},
    "array": {"array", "eq", "any"}, "none": {"none", "i31", "struct", "array", "eq", "any"},
    "func": {"func"}, "nofunc": {"nofunc", "func"}, "extern": {"extern"}, "noextern": {"noextern", "extern"},
    "exn": {"exn"}, "noexn": {"noexn", "exn"},
}
_KIND_ABS = {FuncType: "func", StructType: "struct", ArrayType: "array"}


def vt_str(t: Any) -> str:
    """Text of an (interned) value type."""
    return str(t)


def types_str(ts: Sequence[Any]) -> str:
    """``[i32 f64]``."""
    return "[" + " ".join(map(str, ts)) + "]"


def _fail(msg: str) -> ValidationError:
    return ValidationError(msg)


class TypeContext:
    """The module's type index space, canonicalised; interning and subtyping of value types."""

    def __init__(self, recgroups: list[RecGroup], features: frozenset[str]) -> None:
        self.features: frozenset[str] = features
        self._refs: dict[Any, Any] = {}
        self._sub_cache: dict[Any, Any] = {}
        self.subtypes: list[Any] = []        # type index -> SubType as written
        self.canon: list[int] = []      # type index -> canonical index
        self.comp: list[Any] = []            # canonical comp per type index (interned value types)
        self.supers: list[Any] = []          # type index -> canonical super index or None
        self.final: list[bool] = []
        self.kind: list[str] = []       # "func" | "struct" | "array"
        for sub in (s for g in recgroups for s in g.types):
            self.subtypes.append(sub)
        self._groups = recgroups

    # ------------------------------------------------------------------ interning
    def ref(self, rt: RefType) -> RefType:
        """The interned RefType for ``rt`` (heap index canonicalised; the index must exist)."""
        heap = rt.heap
        if not isinstance(heap, str):
            if heap >= len(self.canon):
                raise _fail(f"unknown type {heap}")
            heap = self.canon[heap]
        key = (rt.nullable, heap)
        r = self._refs.get(key)
        if r is None:
            r = self._refs[key] = RefType(rt.nullable, heap)
        return r

    def mkref(self, nullable: bool, heap: HeapType) -> RefType:
        """The interned ``(ref null? heap)``; ``heap`` a name or an already canonical index."""
        key = (nullable, heap)
        r = self._refs.get(key)
        if r is None:
            r = self._refs[key] = RefType(nullable, heap)
        return r

    def heap(self, ht: HeapType) -> Any:
        """A heap type immediate checked and canonicalised."""
        if isinstance(ht, str):
            return ht
        if ht >= len(self.canon):
            raise _fail(f"unknown type {ht}")
        return self.canon[ht]

    def val(self, t: Any, mvp_funcref: bool = False) -> Any:
        """The interned value type of ``t`` (NumType or RefType); checks features and type indices.

        ``mvp_funcref``: a table's or segment's element type, where funcref needs no proposal.
        """
        if isinstance(t, NumType):
            if t is V128 or t.name == "v128":
                if "simd" not in self.features:
                    raise _fail("SIMD support is not enabled")
            return _NUMS[t.name]
        if isinstance(t, RefType):
            r = self.ref(t)
            self._ref_features(r, mvp_funcref)
            return r
        raise _fail(f"not a value type: {t!r}")

    def _ref_features(self, r: RefType, mvp_funcref: bool) -> None:
        feats = self.features
        h = r.heap
        if "reference-types" not in feats and not (mvp_funcref and h == "func" and r.nullable):
            raise _fail("reference types support is not enabled")
        typed = "function-references" in feats or "gc" in feats
        if isinstance(h, int) or not r.nullable:
            if not typed:
                raise _fail("function references required for non-nullable or typed references")
        if isinstance(h, int):
            return
        if h in ("exn", "noexn") and "exceptions" not in feats:
            raise _fail("exceptions support is not enabled for exnref")
        if h not in ("func", "extern", "exn") and "gc" not in feats:
            raise _fail("heap types not supported without the gc feature")

    def storage(self, t: Any) -> Any:
        if isinstance(t, PackedType):
            return I8 if t.name == "i8" else I16
        return self.val(t)

    # ------------------------------------------------------------------ subtyping
    def heap_sub(self, a: Any, b: Any) -> bool:
        """Is heap type ``a`` a subtype of ``b`` (both canonical)?"""
        if a == b and type(a) is type(b):
            return True
        if isinstance(b, str):
            if isinstance(a, str):
                return b in _ABS_SUPERS[a]
            k = self.kind[a]
            if k == "func":
                return b == "func"
            return b in ("any", "eq") or b == k
        if isinstance(a, str):
            return a == _BOTTOM[self.top_of(b)]
        sup = self.supers
        while a is not None:
            if a == b:
                return True
            a = sup[a]
        return False

    def top_of(self, h: Any) -> str:
        """The top of the hierarchy of heap type ``h`` (``any``, ``func``, ``extern`` or ``exn``)."""
        if isinstance(h, str):
            return _TOP[h]
        return "func" if self.kind[h] == "func" else "any"

    def sub(self, a: Any, b: Any) -> bool:
        """Is value type ``a`` a subtype of ``b``? (interned types; BOT is below everything)."""
        if a is b or a is BOT:
            return True
        if b is BOT:
            return False
        key = (id(a), id(b))
        r = self._sub_cache.get(key)
        if r is None:
            if isinstance(a, RefType) and isinstance(b, RefType):
                r = (b.nullable or not a.nullable) and self.heap_sub(a.heap, b.heap)
            else:
                r = False
            self._sub_cache[key] = r
        return r

    def defaultable(self, t: Any) -> bool:
        return not isinstance(t, RefType) or t.nullable

    # ------------------------------------------------------------------ the type section
    def build(self) -> None:
        """Canonicalise every rec group, then check each type and its declared supertypes."""
        seen: dict[Any, Any] = {}
        base = 0
        for g in self._groups:
            n = len(g.types)
            key = tuple(self._sub_key(s, base, n) for s in g.types)
            first = seen.setdefault(key, base)
            for k in range(n):
                self.canon.append(first + k)
            base += n
        # supers and kinds, from the canonical representative's own declaration
        for i, s in enumerate(self.subtypes):
            c = s.comp
            self.kind.append(_KIND_ABS[type(c)])
            self.final.append(s.final)
            if len(s.supers) > 1:
                raise _fail(f"type {i}: multiple supertypes")
            sup = None
            if s.supers:
                x = s.supers[0]
                if x >= i:
                    raise _fail(f"unknown type {x}: supertype of type {i} must be defined before it")
                sup = self.canon[x]
            self.supers.append(sup)
        if any(not s.final or s.supers or g.explicit for g in self._groups for s in g.types):
            if "gc" not in self.features:
                raise _fail("gc proposal must be enabled for rec groups and subtypes")
        for i, s in enumerate(self.subtypes):
            self.comp.append(self._comp(s.comp, i))
        for i, s in enumerate(self.subtypes):
            if s.supers:
                self._check_super(i, s.supers[0])

    def _sub_key(self, s, base: int, n: int):
        def hk(h: Any):
            if isinstance(h, str):
                return h
            if h >= base + n:
                raise _fail(f"unknown type {h}")
            return ("r", h - base) if h >= base else ("c", self.canon[h])

        def vk(t: Any):
            if isinstance(t, RefType):
                return (t.nullable, hk(t.heap))
            return t.name

        def fk(f):
            return (vk(f.storage), f.mutable)

        c = s.comp
        ck: tuple[Any, ...]
        if isinstance(c, FuncType):
            ck = ("func", tuple(map(vk, c.params)), tuple(map(vk, c.results)))
        elif isinstance(c, StructType):
            ck = ("struct", tuple(map(fk, c.fields)))
        else:
            ck = ("array", fk(c.field))
        return (s.final, tuple(hk(x) for x in s.supers), ck)

    def _comp(self, c, i: int):
        if isinstance(c, FuncType):
            if len(c.results) > 1 and "multi-value" not in self.features:
                raise _fail("invalid result arity: func type returns multiple values")
            return FuncType(tuple(map(self.val, c.params)), tuple(map(self.val, c.results)))
        if isinstance(c, StructType):
            if "gc" not in self.features:
                raise _fail("gc proposal must be enabled for struct types")
            return StructType(tuple(type(f)(self.storage(f.storage), f.mutable) for f in c.fields))
        if "gc" not in self.features:
            raise _fail("gc proposal must be enabled for array types")
        f = c.field
        return ArrayType(type(f)(self.storage(f.storage), f.mutable))

    def _field_sub(self, a: Any, b: Any) -> bool:
        if a.mutable != b.mutable:
            return False
        sa, sb = a.storage, b.storage
        if a.mutable:
            return sa is sb or (self.sub(sa, sb) and self.sub(sb, sa))
        return sa is sb or self.sub(sa, sb)

    def _check_super(self, i: int, x: int) -> None:
        if self.final[x]:
            raise _fail(f"sub type {i} of type {x}: the supertype is final")
        a, b = self.comp[i], self.comp[x]
        ok = type(a) is type(b)
        if ok and isinstance(a, FuncType):
            ok = len(a.params) == len(b.params) and len(a.results) == len(b.results) \
                and all(self.sub(q, p) for p, q in zip(a.params, b.params)) \
                and all(self.sub(p, q) for p, q in zip(a.results, b.results))
        elif ok and isinstance(a, StructType):
            ok = len(a.fields) >= len(b.fields) and all(self._field_sub(p, q) for p, q in zip(a.fields, b.fields))
        elif ok:
            ok = self._field_sub(a.field, b.field)
        if not ok:
            raise _fail(f"sub type {i} does not match its supertype {x}")

    # ------------------------------------------------------------------ lookups
    def _comp_at(self, idx: int, cls, word: str, what: str = ""):
        if idx >= len(self.comp):
            raise _fail(f"unknown type {idx}")
        c = self.comp[idx]
        if not isinstance(c, cls):
            raise _fail(f"type mismatch: type {idx} is not {word}" + (f" ({what})" if what else ""))
        return c

    def func_type(self, idx: int, what: str = "type") -> FuncType:
        """The (interned) FuncType at type index ``idx``; errors name ``what``."""
        return self._comp_at(idx, FuncType, "a function type", what)

    def struct_type(self, idx: int) -> StructType:
        return self._comp_at(idx, StructType, "a struct type")

    def array_type(self, idx: int) -> ArrayType:
        return self._comp_at(idx, ArrayType, "an array type")
