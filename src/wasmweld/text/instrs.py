"""Instruction text, exactly as ``wasm-tools print`` writes it, from the one opcode table.

Each row of :data:`wasmweld.binary.opcodes.OPCODES` gets a formatter once; an
instruction whose text does not depend on where it stands (everything except
blocks, branches and, in functions with local names, ``local.*``) is formatted
once per distinct encoding and cached, which is what makes a large module fast::

    10 03            -> "call 3"            (or "call $name" with a name section)
    28 02 08         -> "i32.load offset=8"
    28 00 08         -> "i32.load offset=8 align=1"
    11 01 00         -> "call_indirect (type 1)"
    43 00 00 c0 3f   -> "f32.const 0x1.8p+0 (;=1.5;)"

:class:`TypeText` prints value, reference and heap types and the type uses of
blocks and functions (``(type 0) (param i32) (result i64)``).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import re

from ..binary import opcodes as _opc
from ..types import FuncType, NumType, RefType, SubType
from .floats import format_f32, format_f64
from .names import Names, Naming
from ..types import HeapType
from ..binary.instr import Instr
from ..binary.opcodes import OpInfo
from ..types import ValType
from ..binary.instr import MemArg
from ..types import StorageType

__all__ = ["TypeText", "InstrText", "NATURAL_ALIGN", "text_name", "CONTEXT_KINDS"]

#: the text mnemonic of each opcode (the table's ``select_t``/``ref.*_null`` share a text name)
_TEXT_NAME = {"select_t": "select", "ref.test_null": "ref.test", "ref.cast_null": "ref.cast"}


def text_name(op: OpInfo) -> str:


    """The text-format name of an instruction (where it differs from the opcode table's)."""
    return _TEXT_NAME.get(op.name, op.name)


_NULLABLE_SHORT = {
    "func": "funcref", "extern": "externref", "i31": "i31ref", "any": "anyref", "none": "nullref",
    "noextern": "nullexternref", "nofunc": "nullfuncref", "eq": "eqref", "struct": "structref",
    "array": "arrayref", "exn": "exnref", "noexn": "nullexnref",
}
_TYPE_BITS = {"i32": 32, "i64": 64, "f32": 32, "f64": 64, "v128": 128, "memory": 32}


def _natural_align(name: str) -> int:
    prefix, rest = name.split(".", 1)
    m = re.search(r"(\d+)x(\d+)", rest)
    if m:
        bits = int(m.group(1)) * int(m.group(2))
    else:
        m = re.search(r"(\d+)", rest)
        bits = int(m.group(1)) if m else _TYPE_BITS[prefix]
    return (bits // 8).bit_length() - 1


#: memarg opcodes -> log2 of their natural alignment (what wasm-tools leaves out of the text)
NATURAL_ALIGN = {op: _natural_align(op.name) for op in _opc.OPCODES if "memarg" in op.imm}

#: opcode names whose text depends on the position in the body (label depth, nesting):
#: 1 block start, 2 else/catch/catch_all, 3 end, 4 delegate, 5 one label, 6 br_table,
#: 7 br_on_cast*, 8 try_table, 9 local.* (context only with local names)
CONTEXT_KINDS: dict[Any, Any] = {}
for _n, _k in (("block", 1), ("loop", 1), ("if", 1), ("try", 1), ("else", 2), ("catch", 2),
               ("catch_all", 2), ("end", 3), ("delegate", 4), ("br", 5), ("br_if", 5),
               ("br_on_null", 5), ("br_on_non_null", 5), ("rethrow", 5), ("br_table", 6),
               ("br_on_cast", 7), ("br_on_cast_fail", 7), ("try_table", 8),
               ("local.get", 9), ("local.set", 9), ("local.tee", 9)):
    CONTEXT_KINDS[_n] = _k
del _n, _k


class TypeText:
    """Text of types, with the module's type names and (for type uses) its type list."""

    def __init__(self, names: Names, types: list[SubType | None]) -> None:
        self.names: Names = names
        #: flat list of SubType, grown while the type section is printed
        self.types: list[SubType | None] = types

    def idx(self, space: dict[int, Naming], i: int) -> str:
        """Item ``i`` of a space: its ``$name`` when it has one, else the number."""
        n = space.get(i)
        return str(i) if n is None else n.ident

    def heap(self, h: HeapType) -> str:
        if isinstance(h, str):
            return h
        n = self.names.type.get(h)
        return str(h) if n is None else n.ident

    def ref(self, rt: RefType) -> str:
        h = rt.heap
        if rt.nullable:
            if isinstance(h, str):
                return _NULLABLE_SHORT[h]
            return f"(ref null {self.heap(h)})"
        return f"(ref {self.heap(h)})"

    def val(self, t: StorageType) -> str:
        """A value (or packed storage) type as text, with type names in its heap types."""
        if type(t) is NumType:
            return t.name
        if isinstance(t, RefType):
            return self.ref(t)
        return t.name  # packed storage types i8/i16

    def params_results(self, ft: FuncType, func: int | None = None, params_kw: str = "param") -> str:
        """`` (param ...) (result ...)`` of a function type; named params (of function ``func``) alone."""
        out = []
        if ft.params:
            out.append(" ")
            local = self.names.local if func is not None else {}
            out.append(named_group(params_kw, ft.params, local, func, 0, self.val))
        if ft.results:
            out.append(" (result")
            for r in ft.results:
                out.append(" ")
                out.append(self.val(r))
            out.append(")")
        return "".join(out)

    def func_type(self, ft: FuncType) -> str:
        return self.params_results(ft)

    def type_use(self, idx: int, func: int | None = None) -> tuple[str, int]:
        """``(type N)`` plus the params/results when ``N`` is a function type; and the param count."""
        ref = f"(type {self.idx(self.names.type, idx)})"
        st = self.types[idx] if 0 <= idx < len(self.types) else None
        if st is not None and isinstance(st.comp, FuncType):
            return ref + self.params_results(st.comp, func), len(st.comp.params)
        return ref, 0


def named_group(kw: str, types: Sequence[ValType], local: dict[tuple[int, int], Naming], func: int | None,
                first: int, val: Callable[[ValType], str]) -> str:
    """``(param i32 i64) (param $x f32)``: consecutive unnamed ones share a group, named ones stand alone."""
    out = []
    in_group = False
    firstone = True
    key = func if func is not None else -1
    for i, t in enumerate(types):
        n = local.get((key, first + i)) if local else None
        if n is not None and in_group:
            out.append(")")
            in_group = False
        if firstone:
            firstone = False
        else:
            out.append(" ")
        if not in_group:
            out.append(f"({kw} ")
            in_group = True
        if n is not None:
            out.append(n.defn)
            out.append(" ")
            out.append(val(t))
            out.append(")")
            in_group = False
        else:
            out.append(val(t))
    if in_group:
        out.append(")")
    return "".join(out)


class InstrText:
    """Formats instructions whose text does not depend on their position: ``text(ins, func)``."""

    def __init__(self, tt: TypeText) -> None:
        self.tt: TypeText = tt
        n = tt.names
        self.spaces: dict[str, dict[int, Naming]] = {"func": n.func, "global": n.global_, "table": n.table, "memory": n.memory,
                       "tag": n.tag, "elem": n.elem, "data": n.data, "type": n.type}

    def text(self, ins: Instr, func: int | None) -> str:
        """The text of one instruction (``func``: the function, for local names)."""
        op, args = ins[0], ins[1]
        name = op.name
        special = _SPECIAL.get(name)
        if special is not None:
            return special(self, name, args)
        out = [text_name(op)]
        idx = self.tt.idx
        spaces = self.spaces
        for kind, a in zip((k for k in op.imm if k != "zero"), args):
            if kind in spaces:
                out.append(" " + idx(spaces[kind], a))
            elif kind == "local":
                out.append(" " + idx_local(self.tt.names, func, a))
            elif kind == "memarg":
                out.append(self.memarg(op, a))
            elif kind in ("i32", "i64", "u32", "lane", "label"):
                out.append(f" {a}")
            elif kind == "f32":
                out.append(" " + format_f32(a))
            elif kind == "f64":
                out.append(" " + format_f64(a))
            elif kind == "heaptype":
                out.append(" " + self.tt.heap(a))
            elif kind == "lanes16":
                out.append("".join(f" {b}" for b in a))
            elif kind == "v128":
                out.append(" i32x4" + "".join(
                    f" 0x{a[i + 3]:02x}{a[i + 2]:02x}{a[i + 1]:02x}{a[i]:02x}" for i in range(0, 16, 4)))
            else:  # pragma: no cover - every kind is handled above or in _SPECIAL
                raise AssertionError(f"no text for immediate kind {kind}")
        return "".join(out)

    def memarg(self, op: OpInfo, m: MemArg) -> str:
        """The memarg immediates of ``op`` as text."""
        out = ""
        if m.memory != 0:
            out += " " + self.tt.idx(self.tt.names.memory, m.memory)
        if m.offset != 0:
            out += f" offset={m.offset}"
        if m.align != NATURAL_ALIGN[op]:
            out += f" align={1 << m.align}"
        return out


def idx_local(names: Names, func: Any, i: int) -> str:
    n = names.local.get((func, i))
    return str(i) if n is None else n.ident


def _call_indirect(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
    ty, table = args
    t = f" {self.tt.idx(self.tt.names.table, table)}" if table != 0 else ""
    return f"{name}{t} (type {self.tt.idx(self.tt.names.type, ty)})"


def _select_t(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
    return "select (result" + "".join(" " + self.tt.val(t) for t in args[0]) + ")"


def _ref_test(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
    nullable = name.endswith("_null")
    return f"{name[:8]} {self.tt.ref(RefType(nullable, args[0]))}"


def _opt_first(space_name: str):
    """table.init / memory.init: ``(segment, index)``; the table/memory only when not 0."""
    def f(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
        seg, idx = args
        space = self.spaces[space_name]
        segspace = self.spaces["elem" if space_name == "table" else "data"]
        t = f" {self.tt.idx(space, idx)}" if idx != 0 else ""
        return f"{name}{t} {self.tt.idx(segspace, seg)}"
    return f


def _opt_pair(space_name: str):
    def f(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
        dst, src = args
        if dst == 0 and src == 0:
            return name
        space = self.spaces[space_name]
        return f"{name} {self.tt.idx(space, dst)} {self.tt.idx(space, src)}"
    return f


def _opt_mem(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
    if args[0] == 0:
        return name
    return f"{name} {self.tt.idx(self.tt.names.memory, args[0])}"


def _struct_field(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
    ty, field = args
    n = self.tt.names.field.get((ty, field))
    return f"{name} {self.tt.idx(self.tt.names.type, ty)} {n.ident if n is not None else field}"


def _call_ref(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
    return f"{name} {self.tt.idx(self.tt.names.type, args[0])}"


def _plain_types(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
    return name + "".join(f" {self.tt.idx(self.tt.names.type, a)}" for a in args)


def _type_then(space: str):
    def f(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
        return f"{name} {self.tt.idx(self.tt.names.type, args[0])} {self.tt.idx(self.spaces[space], args[1])}"
    return f


def _new_fixed(self: InstrText, name: str, args: tuple[Any, ...]) -> str:
    return f"{name} {self.tt.idx(self.tt.names.type, args[0])} {args[1]}"


_SPECIAL = {
    "call_indirect": _call_indirect, "return_call_indirect": _call_indirect,
    "select_t": _select_t,
    "ref.test": _ref_test, "ref.test_null": _ref_test, "ref.cast": _ref_test, "ref.cast_null": _ref_test,
    "table.init": _opt_first("table"), "memory.init": _opt_first("memory"),
    "table.copy": _opt_pair("table"), "memory.copy": _opt_pair("memory"),
    "memory.grow": _opt_mem, "memory.size": _opt_mem, "memory.fill": _opt_mem,
    "struct.get": _struct_field, "struct.get_s": _struct_field, "struct.get_u": _struct_field,
    "struct.set": _struct_field,
    "call_ref": _call_ref, "return_call_ref": _call_ref,
    "array.new_data": _type_then("data"), "array.init_data": _type_then("data"),
    "array.new_elem": _type_then("elem"), "array.init_elem": _type_then("elem"),
    "array.new_fixed": _new_fixed,
}
for _op in _opc.OPCODES:
    if _op.prefix == 0xFB and _op.imm and all(k == "type" for k in _op.imm):
        _SPECIAL[_op.name] = _plain_types
del _op
