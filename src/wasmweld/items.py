"""The items of a module's sections: frozen records (and FuncBody), the leaf both the
:class:`~wasmweld.module.Module` and the section decoders build on.

::

    (module
      (import "env" "log" (func (param i32)))      Import("env", "log", ExternKind.FUNC, 0)
      (global i32 (i32.const 5))                   Global(GlobalType(i32, False), ConstExpr.i32(5))
      (export "run" (func 1))                      Export("run", ExternKind.FUNC, 1)
      (data (i32.const 8) "hi"))                   Data("active", 0, ConstExpr.i32(8), b"hi", 0)

Nothing here imports :mod:`wasmweld.module` or the section decoders, so
``module -> binary.sections -> items`` has no cycle; ``from wasmweld.module
import Export`` keeps working (module re-exports these names).
"""

from __future__ import annotations

import operator
import threading
from .record import field, record
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, Union

from .binary import constexpr as _ce
from .binary.instr import Instr, decode_body, decode_expr, encode_body, encode_instrs
from .binary.leb import write_u
from .errors import DecodeError, EncodeError
from .types import FUNCREF, ExternKind, GlobalType, RefType, TableType, TagType, ValType

if TYPE_CHECKING:  # the Module a body belongs to (module.py imports this file)
    from .module import Module

__all__ = [
    "DECODE_LOCK", "Import", "Export", "Global", "Table", "Elem", "Data", "Tag", "FuncBody", "ConstExpr", "CustomSection",
    "with_final_end", "same_items",
]

#: taken (re-entrantly) by every lazy first decode of a Module section, custom view or FuncBody, so threads
#: that touch a fresh module at once see one decoded list (an append by one is never lost to another's
#: decode). Reads of what is already decoded take no lock.
DECODE_LOCK = threading.RLock()

#: one local declaration of a body: ``(count, ValType)``
Local = tuple[int, ValType]


@record(frozen=True, slots=True)
class ConstExpr:
    """A constant expression: its encoding *including* the final ``end`` (0x0B).

    ::

        (global i32 (i32.const 5))        ConstExpr.i32(5):  41 05 0b
        (global i32 (global.get 0))       ConstExpr.global_get(0)

    >>> ConstExpr.i32(5).raw
    b'A\\x05\\x0b'
    >>> ConstExpr.i32(-1).value, ConstExpr.global_get(3).global_index, ConstExpr.ref_func(2).func_index
    (-1, 3, 2)
    """

    raw: bytes
    _cache: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes):
            object.__setattr__(self, "raw", bytes(self.raw))

    @property
    def instrs(self) -> list[Instr]:
        """The instructions, final ``end`` included (decoded on first access)."""
        cached = self._cache
        if cached is None:
            instrs, pos = decode_expr(self.raw, 0, len(self.raw), 0)
            if pos != len(self.raw):
                raise DecodeError("unexpected content after constant expression end", pos)
            cached = tuple(instrs)
            object.__setattr__(self, "_cache", cached)
        return list(cached)

    @classmethod
    def from_instrs(cls, instrs: Iterable[Instr]) -> "ConstExpr":
        """Encode ``instrs``; the final ``end`` is added when missing."""
        instrs = list(instrs)
        if not instrs or instrs[-1].name != "end":
            instrs.append(Instr.make("end"))
        return cls(encode_instrs(instrs))

    @classmethod
    def i32(cls, value: int) -> "ConstExpr":
        """``(i32.const value)``; ``value`` wraps to 32 bits."""
        return cls(_ce.encode_single("i32.const", value))

    @classmethod
    def i64(cls, value: int) -> "ConstExpr":
        """``(i64.const value)``; ``value`` wraps to 64 bits."""
        return cls(_ce.encode_single("i64.const", value))

    @classmethod
    def f32(cls, value: float) -> "ConstExpr":
        return cls(_ce.encode_single("f32.const", value))

    @classmethod
    def f64(cls, value: float) -> "ConstExpr":
        return cls(_ce.encode_single("f64.const", value))

    @classmethod
    def global_get(cls, index: int) -> "ConstExpr":
        return cls(_ce.encode_single("global.get", index))

    @classmethod
    def ref_func(cls, index: int) -> "ConstExpr":
        return cls(_ce.encode_single("ref.func", index))

    @classmethod
    def ref_null(cls, heap: Union[str, int] = "func") -> "ConstExpr":
        """``(ref.null heap)``: an abstract heap type name (``"func"``, ``"extern"``, ...) or a type index."""
        return cls(_ce.encode_single("ref.null", heap))

    # -- predicates ------------------------------------------------------------------------------

    @property
    def single(self) -> tuple[str, Any] | None:
        """``(instruction name, immediate)`` when the expression is one instruction (then ``end``), else None.

        >>> ConstExpr.i64(7).single
        ('i64.const', 7)
        """
        return _ce.single(self.raw, lambda: self.instrs)

    @property
    def op(self) -> str | None:
        """The name of the one instruction of a one-instruction expression, else None."""
        s = self.single
        return None if s is None else s[0]

    @property
    def is_constant(self) -> bool:
        """True for one constant instruction: ``i32/i64/f32/f64/v128.const``, ``ref.null`` or ``ref.func``
        (no ``global.get``, no extended-const arithmetic)."""
        s = self.single
        return s is not None and s[0] in _ce.CONSTANT_OPS

    @property
    def value(self) -> Any:
        """The value of a lone numeric constant: int (i32/i64, signed), float (f32/f64), bytes (v128); else None."""
        s = self.single
        if s is None or s[0] not in ("i32.const", "i64.const", "f32.const", "f64.const", "v128.const"):
            return None
        return s[1]

    @property
    def int_value(self) -> int | None:
        """The value of a lone ``i32.const``/``i64.const`` (signed), else None."""
        s = _ce.single(self.raw)
        return s[1] if s is not None and (s[0] == "i32.const" or s[0] == "i64.const") else None

    @property
    def global_index(self) -> int | None:
        """The index of a lone ``global.get``, else None."""
        s = _ce.single(self.raw)
        return s[1] if s is not None and s[0] == "global.get" else None

    @property
    def func_index(self) -> int | None:
        """The index of a lone ``ref.func``, else None."""
        s = _ce.single(self.raw)
        return s[1] if s is not None and s[0] == "ref.func" else None

    def evaluate(self, global_value: Callable[[int], int | None] | None = None) -> int | None:
        """The integer an i32/i64 expression computes (unsigned two's complement), or None when unknown.

        ``global_value(index)`` gives a ``global.get``'s value (None: unknown);
        extended-const ``add``/``sub``/``mul`` are folded.

        >>> ConstExpr.from_instrs([Instr.make("global.get", 0), Instr.make("i32.const", 16),
        ...                        Instr.make("i32.add")]).evaluate(lambda i: 1024)
        1040
        """
        try:
            instrs = self.instrs
        except DecodeError:
            return None
        return _ce.evaluate(instrs, global_value)

    def __repr__(self) -> str:
        return f"ConstExpr({self.raw.hex(' ')})"


@record(frozen=True, slots=True)
class Import:
    """``(import "module" "name" desc)``; ``desc`` is a type index (func) or a TableType/MemoryType/GlobalType/TagType."""

    module: str
    name: str
    kind: ExternKind
    desc: Any


@record(frozen=True, slots=True)
class Export:
    name: str
    kind: ExternKind
    index: int


@record(frozen=True, slots=True)
class Global:
    type: GlobalType
    init: ConstExpr


@record(frozen=True, slots=True)
class Table:
    """A defined table; ``init`` is the explicit init expression (the ``0x40 0x00`` form) or None."""

    type: TableType
    init: ConstExpr | None = None


@record(frozen=True, slots=True)
class Tag:
    type: TagType


@record(frozen=True, slots=True)
class Elem:
    """An element segment.

    ``mode``: ``"active"`` (``table``, ``offset`` set), ``"passive"`` or ``"declarative"``.
    ``init``: func indices (flags 0-3) or ConstExprs (flags 4-7). ``flags`` is the encoding
    as written (0..7), None to pick the shortest; an encoding that cannot express the item
    falls back to the shortest one that can.
    """

    mode: str
    table: int = 0
    offset: ConstExpr | None = None
    elem_type: RefType = FUNCREF
    init: tuple[Any, ...] = ()         # ints (flags 0-3) or ConstExprs (flags 4-7)
    flags: int | None = None


@record(frozen=True, slots=True)
class Data:
    """A data segment: ``mode`` ``"active"`` (``memory``, ``offset``) or ``"passive"``; ``flags`` 0..2 or None."""

    mode: str
    memory: int = 0
    offset: ConstExpr | None = None
    init: bytes = b""
    flags: int | None = None

    def __repr__(self) -> str:
        init = self.init if len(self.init) <= 32 else self.init[:32] + b"..."
        return (f"Data(mode={self.mode!r}, memory={self.memory}, offset={self.offset!r}, "
                f"init={init!r} ({len(self.init)} bytes), flags={self.flags})")


@record(frozen=True, slots=True)
class CustomSection:
    """A custom section: ``name`` and its ``data`` (the bytes after the name)."""

    name: str
    data: bytes

    def __repr__(self) -> str:
        return f"CustomSection({self.name!r}, {len(self.data)} bytes)"


def same_items(cur: Sequence[object], orig: Sequence[object]) -> bool:
    """True when ``cur`` holds the very objects of ``orig`` (identity, not equality), in order."""
    return len(cur) == len(orig) and all(map(operator.is_, cur, orig))


class FuncBody:
    """A function body: locals and instructions, decoded on first access.

    ``raw`` is the body without its size prefix (locals vector + expression);
    ``offset`` the absolute offset of ``raw`` in the input (None for new bodies).
    ``locals`` is a list of ``(count, ValType)``; ``instrs`` a list of ``Instr``
    ending with ``end``. A body whose ``locals``/``instrs`` were never decoded,
    or are element-wise identical to what was decoded, encodes as ``raw``.

    >>> body = FuncBody.from_instrs([], [Instr.make("i32.const", 1), Instr.make("drop")])
    >>> body.raw.hex()
    '0041011a0b'
    """

    __slots__ = ("_raw", "offset", "_locals", "_instrs", "_orig_locals", "_orig_instrs")

    def __init__(self, raw: bytes | None = None, offset: int | None = None):
        self._raw: bytes | None = None if raw is None else bytes(raw)
        self.offset: int | None = offset
        self._locals: list[Local] | None = None
        self._instrs: list[Instr] | None = None
        # what was decoded: the decoded list itself until handed out, then a tuple of its items
        self._orig_locals: Sequence[Any] | None = None
        self._orig_instrs: Sequence[Any] | None = None

    @classmethod
    def from_instrs(cls, locals: Iterable[Local], instrs: Iterable[Instr]) -> "FuncBody":
        """A new body; the final function-level ``end`` is added when missing."""
        body = cls()
        body._locals = list(locals)
        body._instrs = with_final_end(list(instrs))
        return body

    def _decode(self) -> None:
        if self._raw is None:
            raise EncodeError("FuncBody has neither raw bytes nor instructions")
        with DECODE_LOCK:   # two threads asking at once: one decode, one list
            if self._orig_instrs is None:
                self._set_decoded(*decode_body(self._raw, self.offset or 0))

    def _set_decoded(self, locals_: list[Local], instrs: list[Instr]) -> None:
        # The decoded lists are their own originals until they are first handed out (_keep_originals
        # copies them then): a body nobody looked at is unmodified without comparing millions of items.
        self._orig_locals = locals_
        self._orig_instrs = instrs
        if self._locals is None:
            self._locals = locals_   # instr.LocalList: remembers its bytes
        if self._instrs is None:
            self._instrs = instrs

    def _keep_originals(self) -> None:
        """Before a decoded list is first handed out (and may change): keep its items as they were."""
        with DECODE_LOCK:   # a second thread must not copy a list the first one already changes
            if type(self._orig_instrs) is not tuple and self._orig_instrs is not None:
                self._orig_instrs = tuple(self._orig_instrs)
            if type(self._orig_locals) is not tuple and self._orig_locals is not None:
                self._orig_locals = tuple(self._orig_locals)

    @property
    def decoded(self) -> bool:
        """True once locals/instrs were decoded (or given)."""
        return self._instrs is not None

    @property
    def locals(self) -> list[Local]:
        """The local declarations, ``(count, ValType)`` each (decoded on first access)."""
        if self._locals is None:
            self._decode()
        if self._locals is self._orig_locals:
            self._keep_originals()
        locals_ = self._locals
        assert locals_ is not None
        return locals_

    @locals.setter
    def locals(self, value: Iterable[Local]) -> None:
        self._locals = value if isinstance(value, list) else list(value)

    @property
    def instrs(self) -> list[Instr]:
        """The instructions, final ``end`` included (decoded on first access)."""
        if self._instrs is None:
            self._decode()
        if self._instrs is self._orig_instrs:
            self._keep_originals()
        instrs = self._instrs
        assert instrs is not None
        return instrs

    @instrs.setter
    def instrs(self, value: Iterable[Instr]) -> None:
        self._instrs = value if isinstance(value, list) else list(value)

    @property
    def modified(self) -> bool:
        """True when encoding would not reproduce ``raw`` verbatim."""
        if self._raw is None:
            return True
        instrs, orig = self._instrs, self._orig_instrs
        if instrs is not None and instrs is not orig and (orig is None or not same_items(instrs, orig)):
            return True
        locals_, orig = self._locals, self._orig_locals
        if locals_ is not None and locals_ is not orig and (orig is None or not same_items(locals_, orig)):
            return True
        return False

    @property
    def raw(self) -> bytes:
        """The encoded body (without size prefix): the input bytes when unchanged."""
        raw = self._raw
        if raw is not None and not self.modified:
            return raw
        if self._orig_instrs is None and self._raw is not None:
            self._decode()  # fill whichever of locals/instrs the caller did not set
        if self._locals is None or self._instrs is None:    # a new body given only one of the two
            raise EncodeError("FuncBody needs both locals and instrs (or raw bytes)")
        return encode_body(self._locals, self._instrs)

    def encode(self) -> bytes:
        """``size:u32`` + body, as in the code section."""
        raw = self.raw
        return write_u(len(raw)) + raw

    def __repr__(self) -> str:
        where = f" at 0x{self.offset:x}" if self.offset is not None else ""
        size = f"{len(self._raw)} bytes" if self._raw is not None else "new"
        state = ", modified" if self._raw is not None and self.modified else ""
        return f"<FuncBody {size}{where}{state}>"

    def to_wat(self, module: "Module | None" = None, index: int | None = None, **options: Any) -> str:
        """This body as WebAssembly text (``wasmweld.text.body.func_to_wat``; ``module`` gives types and names)."""
        from .text.body import func_to_wat
        return func_to_wat(self, module, index, **options)


_OPENERS = frozenset({"block", "loop", "if", "try", "try_table"})


def with_final_end(instrs: list[Instr]) -> list[Instr]:
    """``instrs`` with the function-level ``end`` appended when the blocks do not already close it."""
    depth = 0
    for ins in instrs:
        name = ins.name
        if name in _OPENERS:
            depth += 1
        elif name == "end" or name == "delegate":
            depth -= 1
    if depth >= 0:
        instrs.append(Instr.make("end"))
    return instrs


