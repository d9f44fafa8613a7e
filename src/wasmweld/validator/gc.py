"""GC struct and array instructions: their stack effects from the type they name.

::

    (type $p (struct (field $x (mut i32)) (field $y i8)))
    (struct.new $p)          ;; [i32 i32] -> [(ref $p)]
    (struct.get_s $p $y)     ;; [(ref null $p)] -> [i32]
    (struct.set $p $y)       ;; invalid: immutable field
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import DecodeError, ValidationError
from ..types import I8, I16, I32, NumType

__all__ = ["GC_BUILDERS"]


def _inv(msg: str) -> ValidationError:
    return ValidationError(msg)


def _unpack(t):
    return I32 if t is I8 or t is I16 else t


def _packed(t) -> bool:
    return t is I8 or t is I16


def _struct(mc, x: int):
    return mc.tc.struct_type(x)


def _ref(mc, x: int, nullable: bool):
    return mc.tc.mkref(nullable, mc.tc.canon[x])


def _field(mc, x: int, f: int):
    st = _struct(mc, x)
    if f >= len(st.fields):
        raise _inv(f"unknown field {f} of type {x}")
    return st.fields[f]


def _struct_new(mc, ins):
    x = ins[1][0]
    st = _struct(mc, x)
    return tuple(_unpack(f.storage) for f in st.fields), (_ref(mc, x, False),)


def _struct_new_default(mc, ins):
    x = ins[1][0]
    st = _struct(mc, x)
    for f in st.fields:
        if not mc.tc.defaultable(f.storage):
            raise _inv(f"type mismatch: struct.new_default of type {x} with a non-defaultable field")
    return (), (_ref(mc, x, False),)


def _struct_get(mc, ins):
    x, f = ins[1]
    fld = _field(mc, x, f)
    packed = _packed(fld.storage)
    if packed == (ins[0].name == "struct.get"):
        raise _inv("type mismatch: " + ("struct.get of a packed field (use struct.get_s/_u)" if packed
                                        else f"{ins[0].name} of a field that is not packed"))
    return (_ref(mc, x, True),), (_unpack(fld.storage),)


def _struct_set(mc, ins):
    x, f = ins[1]
    fld = _field(mc, x, f)
    if not fld.mutable:
        raise _inv(f"immutable field {f} of type {x}")
    return (_ref(mc, x, True), _unpack(fld.storage)), ()


def _array(mc, x: int):
    return mc.tc.array_type(x).field


def _array_new(mc, ins):
    x = ins[1][0]
    fld = _array(mc, x)
    return (_unpack(fld.storage), I32), (_ref(mc, x, False),)


def _array_new_default(mc, ins):
    x = ins[1][0]
    fld = _array(mc, x)
    if not mc.tc.defaultable(fld.storage):
        raise _inv(f"type mismatch: array.new_default of type {x} with a non-defaultable element")
    return (I32,), (_ref(mc, x, False),)


def _array_new_fixed(mc, ins):
    x, n = ins[1]
    fld = _array(mc, x)
    if n > 10000:
        raise _inv(f"array.new_fixed of {n} elements: too many")
    return (_unpack(fld.storage),) * n, (_ref(mc, x, False),)


def _numeric(mc, fld, x: int) -> None:
    if not (isinstance(fld.storage, NumType) or _packed(fld.storage)):
        raise _inv(f"array type is not numeric or vector (type {x})")


def _data_index(mc, d: int) -> None:
    if mc.ndata is None:
        raise DecodeError("data count section required")
    if d >= mc.ndata:
        raise _inv(f"unknown data segment {d}")


def _elem_sub(mc, fld, e: int, x: int) -> None:
    if e >= len(mc.elems):
        raise _inv(f"unknown elem segment {e}")
    if not mc.tc.sub(mc.elems[e], fld.storage):
        raise _inv(f"type mismatch: elem segment {e} does not fit the elements of array type {x}")


def _array_new_data(mc, ins):
    x, d = ins[1]
    fld = _array(mc, x)
    _numeric(mc, fld, x)
    _data_index(mc, d)
    return (I32, I32), (_ref(mc, x, False),)


def _array_new_elem(mc, ins):
    x, e = ins[1]
    fld = _array(mc, x)
    _elem_sub(mc, fld, e, x)
    return (I32, I32), (_ref(mc, x, False),)


def _array_get(mc, ins):
    x = ins[1][0]
    fld = _array(mc, x)
    packed = _packed(fld.storage)
    if packed == (ins[0].name == "array.get"):
        raise _inv("type mismatch: " + ("array.get of a packed array (use array.get_s/_u)" if packed
                                        else f"{ins[0].name} of an array that is not packed"))
    return (_ref(mc, x, True), I32), (_unpack(fld.storage),)


def _mutable(fld, x: int) -> None:
    if not fld.mutable:
        raise _inv(f"immutable array (type {x})")


def _array_set(mc, ins):
    x = ins[1][0]
    fld = _array(mc, x)
    _mutable(fld, x)
    return (_ref(mc, x, True), I32, _unpack(fld.storage)), ()


def _array_len(mc, ins):
    return (mc.tc.mkref(True, "array"),), (I32,)


def _array_fill(mc, ins):
    x = ins[1][0]
    fld = _array(mc, x)
    _mutable(fld, x)
    return (_ref(mc, x, True), I32, _unpack(fld.storage), I32), ()


def _array_copy(mc, ins):
    x, y = ins[1]
    dst, src = _array(mc, x), _array(mc, y)
    _mutable(dst, x)
    ds, ss = dst.storage, src.storage
    ok = ds is ss if (_packed(ds) or _packed(ss)) else mc.tc.sub(ss, ds)
    if not ok:
        raise _inv(f"array types do not match: array.copy from type {y} into type {x}")
    return (_ref(mc, x, True), I32, _ref(mc, y, True), I32, I32), ()


def _array_init_data(mc, ins):
    x, d = ins[1]
    fld = _array(mc, x)
    _mutable(fld, x)
    _numeric(mc, fld, x)
    _data_index(mc, d)
    return (_ref(mc, x, True), I32, I32, I32), ()


def _array_init_elem(mc, ins):
    x, e = ins[1]
    fld = _array(mc, x)
    _mutable(fld, x)
    _elem_sub(mc, fld, e, x)
    return (_ref(mc, x, True), I32, I32, I32), ()


#: instruction name -> builder ``(mc, ins) -> (pops, pushes)``
GC_BUILDERS: dict[str, Callable[..., Any]] = {
    "struct.new": _struct_new, "struct.new_default": _struct_new_default,
    "struct.get": _struct_get, "struct.get_s": _struct_get, "struct.get_u": _struct_get,
    "struct.set": _struct_set, "array.new": _array_new, "array.new_default": _array_new_default,
    "array.new_fixed": _array_new_fixed, "array.new_data": _array_new_data, "array.new_elem": _array_new_elem,
    "array.get": _array_get, "array.get_s": _array_get, "array.get_u": _array_get, "array.set": _array_set,
    "array.len": _array_len, "array.fill": _array_fill, "array.copy": _array_copy,
    "array.init_data": _array_init_data, "array.init_elem": _array_init_elem,
}
