"""The GC lowering of the canonical ABI (``cm-gc``): a component function type against its ``core-type``.

With the ``gc`` canonical option a lifted or lowered function passes values as GC
references instead of through linear memory; ``core-type`` names the core function
type it has, and every component type must lower to the matching core type::

    (core type $s (array i8))
    (core type $t (func (param (ref $s))))
    (func (type $f) (canon lift (core func $run) gc (core-type $t)))   ;; $f: (func (param "s" string))

:func:`gc_problems` reports, with wasm-tools' wording: ``gc`` without ``core-type``,
``core-type`` on a lift, a parameter/result count that differs, and each component
type whose core counterpart is wrong (``bool``/``u8``/... to ``i32`` or a packed
``i8``/``i16`` field, strings to an ``i8``/``i16`` array, records and tuples to
structs with as many fields, variants/options/results to an empty struct, lists to
arrays, flags/enums to ``i32``, resources, futures, streams and error contexts to
``externref``).
"""

from __future__ import annotations

from typing import Any

from ..types import I8, I16, I32, I64, F32, F64, ArrayType, FuncType, RefType, StructType
from . import typeval as tv
from . import types as T

__all__ = ["gc_problems", "core_type_str"]

_NUM = {"s32": I32, "u32": I32, "char": I32, "s64": I64, "u64": I64, "f32": F32, "f64": F64}
_SMALL = {"bool": I8, "s8": I8, "u8": I8, "s16": I16, "u16": I16}


class _Mismatch(Exception):
    pass


def core_type_str(t: Any) -> str:
    """A core value or storage type as wasm-tools prints it in messages (``i32``, ``anyref``, ``(ref null 3)``)."""
    if isinstance(t, RefType):
        if isinstance(t.heap, str):
            return f"{t.heap}ref" if t.nullable else f"(ref {t.heap})"
        return f"(ref {'null ' if t.nullable else ''}{t.heap})"
    return str(t)


class _Lower:
    def __init__(self, core_types: list, encoding: str):
        self.core_types = core_types
        self.encoding = encoding
        self.depth = 0

    def concrete(self, core: Any) -> Any:
        if isinstance(core, RefType) and isinstance(core.heap, int) and 0 <= core.heap < len(self.core_types):
            st = self.core_types[core.heap]
            return None if st is None else st.comp
        return None

    def check(self, vt: Any, core: Any, field: bool) -> None:
        """Raise _Mismatch (the message) unless component type ``vt`` lowers to ``core``."""
        self.depth += 1
        try:
            if self.depth > 100:
                raise _Mismatch("type nesting is too deep")
            t = tv.peel(vt)
            if isinstance(t, str):
                self.prim(t, core, field)
            elif isinstance(t, tv.Def):
                if t.kind == "prim":
                    self.prim(t.data, core, field)
                else:
                    self.defined(t, core)
        finally:
            self.depth -= 1

    def prim(self, name: str, core: Any, field: bool) -> None:
        s = core_type_str(core)
        if name in _SMALL:
            if field and core != _SMALL[name]:
                raise _Mismatch(f"expected to lower component `{name}` type to core `{_SMALL[name]}` type, found `{s}`")
            if not field and core != I32:
                raise _Mismatch(f"expected to lower component `{name}` type to core `i32` type, found `{s}`")
        elif name in _NUM:
            if core != _NUM[name]:
                raise _Mismatch(f"expected to lower component `{name}` type to core `{_NUM[name]}` type, found `{s}`")
        elif name == "string":
            elem = I16 if self.encoding == "utf16" else I8
            arr = self.concrete(core)
            if not (isinstance(arr, ArrayType) and arr.field.storage == elem):
                raise _Mismatch(f"expected to lower component `string` type to core `(ref null? (array (mut? "
                                f"{elem})))` type, found `{s}`")
        elif name == "error-context":
            self.extern(core, "error-context")

    def extern(self, core: Any, what: str) -> None:
        if not (isinstance(core, RefType) and core.heap == "extern"):
            raise _Mismatch(f"expected to lower component `{what}` type into core `(ref null? extern)` type, but "
                            f"found `{core_type_str(core)}`")

    def defined(self, t: tv.Def, core: Any) -> None:
        s = core_type_str(core)
        k, x = t.kind, t.data
        if k in ("record", "tuple"):
            fields = [f for _, f in x] if k == "record" else list(x)
            st = self.concrete(core)
            if not isinstance(st, StructType):
                raise _Mismatch(f"expected to lower component `{k}` type to core `(ref null? (struct ...))`, "
                                f"but found `{s}`")
            if len(st.fields) != len(fields):
                raise _Mismatch(f"core `struct` has {len(st.fields)} fields, but component `{k}` has "
                                f"{len(fields)} fields")
            for cf, f in zip(st.fields, fields):
                self.check(f, cf.storage, True)
        elif k in ("variant", "option", "result"):
            st = self.concrete(core)
            if not (isinstance(st, StructType) and not st.fields):
                raise _Mismatch(f"expected to lower component `{k}` type to core `(ref null? (struct))`, "
                                f"but found `{s}`")
        elif k in ("list", "fixed-list"):
            arr = self.concrete(core)
            if not isinstance(arr, ArrayType):
                raise _Mismatch(f"expected to lower component `list` type into `(ref null? (array ...))`, but "
                                f"found `{s}`")
            self.check(x if k == "list" else x[0], arr.field.storage, True)
        elif k in ("flags", "enum"):
            if core != I32:
                raise _Mismatch(f"expected to lower component `{k}` type into core `i32` type, but found `{s}`")
        elif k in ("own", "borrow", "future", "stream"):
            self.extern(core, k)


def gc_problems(c: T.Canon, ftype: Any, core_types: list[Any]) -> list[str]:
    """Problems of the ``gc`` canon ``c`` whose component function type is ``ftype`` (a
    :class:`~wasmweld.component.types.FuncType`, or None when unknown); ``core_types`` is the
    component's core type space (SubType or None), ``resolve`` maps a component type index to its item."""
    ct = c.option_index("core-type")
    if ct is None:
        return ["cannot specify `gc` without also specifying a `core-type` for lowerings"] if c.op == "lower" else []
    if c.op == "lift":
        return ["canonical option `core-type` is not allowed in `canon lift`"]
    if c.op != "lower" or not isinstance(ftype, tv.FuncT) or not 0 <= ct < len(core_types):
        return []
    st = core_types[ct]
    core = None if st is None else st.comp
    if not isinstance(core, FuncType):
        return []
    results = [] if ftype.result is None else [ftype.result]
    if len(core.params) != len(ftype.params):
        return [f"declared `core-type` has {len(core.params)} parameters, but component function has "
                f"{len(ftype.params)} parameters"]
    if len(core.results) != len(results):
        return [f"declared `core-type` has {len(core.results)} results, but component function has "
                f"{len(results)} results"]
    enc = "utf16" if c.option("utf16") is not None else "utf8"
    low = _Lower(core_types, enc)
    try:
        for (_, vt), cp in zip(ftype.params, core.params):
            low.check(vt, cp, False)
        for vt, cr in zip(results, core.results):
            low.check(vt, cr, False)
    except _Mismatch as e:
        return [str(e)]
    return []


