"""wasmweld.record (issue 16.2, start-up): a record behaves as the dataclass of the same declaration.

Each case declares one class twice, with ``@record`` and with ``@dataclass``, and compares what users
see: construction (positional, keyword, defaults, factories, ``init=False``, ``__post_init__``), repr,
equality and hashing with uncompared fields, frozen assignment, slots, pickling and copying, and the
:mod:`dataclasses` functions (``fields``, ``replace``, ``asdict``, ``is_dataclass``) on a record. Then
the library's own item types: each is a record, and equal to a dataclass twin field for field.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

from wasmweld import items, types
from wasmweld.binary.opcodes import OpInfo
from wasmweld.custom.name import NameSection
from wasmweld.record import field, record, replace


def _twins(frozen: bool, slots: bool) -> tuple[type, type]:
    @record(frozen=frozen, slots=slots)
    class R:
        a: int
        b: Any = None
        c: list = field(default_factory=list)
        d: int | None = field(default=None, compare=False)
        e: str = field(default="x", repr=False)
        f: int = field(default=7, init=False)

    @dataclasses.dataclass(frozen=frozen, slots=slots)
    class D:
        a: int
        b: Any = None
        c: list = dataclasses.field(default_factory=list)
        d: int | None = dataclasses.field(default=None, compare=False)
        e: str = dataclasses.field(default="x", repr=False)
        f: int = dataclasses.field(default=7, init=False)

    return R, D


@pytest.mark.parametrize("frozen", [True, False])
@pytest.mark.parametrize("slots", [True, False])
def test_a_record_behaves_as_its_dataclass_twin(frozen, slots):
    R, D = _twins(frozen, slots)
    for args, kw in [((1,), {}), ((1, "b", [2]), {"d": 4}), ((), {"a": 3, "e": "y"})]:
        r, d = R(*args, **kw), D(*args, **kw)
        assert repr(r).replace("R(", "D(", 1) == repr(d)
        assert (r.a, r.b, r.c, r.d, r.e, r.f) == (d.a, d.b, d.c, d.d, d.e, d.f)
    assert (R(1, d=1) == R(1, d=2)) and R(1) != R(2) and R(1) != D(1)
    assert R.__match_args__ == D.__match_args__
    assert R.__doc__ == "R(a: int, b: Any = None, c: list = <factory>, d: int | None = None, e: str = 'x')"
    assert R(1).c is not R(1).c                           # a new list each time
    assert hasattr(R(1), "__dict__") == hasattr(D(1), "__dict__")
    if frozen:
        assert hash(R(1, c=(), d=1)) == hash(R(1, c=(), d=2)) == hash(D(1, c=(), d=3))
        with pytest.raises(dataclasses.FrozenInstanceError):
            R(1).a = 2
        with pytest.raises(dataclasses.FrozenInstanceError):
            del R(1).a
    else:
        assert R.__hash__ is None and D.__hash__ is None  # equal by value and mutable: unhashable
        r = R(1)
        r.a = 5
        assert r.a == 5
    with pytest.raises(TypeError):
        R(1, f=3)                                         # init=False
    with pytest.raises(TypeError):
        R()                                               # a is required


def test_dataclasses_functions_work_on_records():
    R, D = _twins(True, True)
    r = R(1, "b", [2], d=4)
    assert dataclasses.is_dataclass(r) and dataclasses.is_dataclass(R)
    assert [f.name for f in dataclasses.fields(R)] == [f.name for f in dataclasses.fields(D)]
    assert dataclasses.asdict(r) == dataclasses.asdict(D(1, "b", [2], d=4))
    s = dataclasses.replace(r, a=9)
    assert type(s) is R and (s.a, s.b, s.c, s.d) == (9, "b", [2], 4)
    with pytest.raises(ValueError):
        dataclasses.replace(r, f=1)                       # init=False, as dataclasses says


@pytest.mark.parametrize("frozen", [True, False])
def test_records_pickle_and_copy(frozen):
    r = types.Limits(1, 5, flags=1) if frozen else NameSection(module="m", funcs={1: "f"})
    for other in (pickle.loads(pickle.dumps(r)), copy.copy(r), copy.deepcopy(r)):
        assert other == r and type(other) is type(r)


def test_post_init_runs_and_a_written_method_is_kept():
    e = items.ConstExpr(bytearray(b"\x41\x05\x0b"))          # __post_init__ makes bytes of it
    assert type(e.raw) is bytes and e.value == 5
    d = items.Data(mode="passive", init=b"x" * 100)
    assert "(100 bytes)" in repr(d)                          # Data's own __repr__
    op = OpInfo("memory.copy", 0xFC, 10, ("memory", "memory"))
    assert op.opcode == b"\xfc\x0a" and "opcode" not in repr(op)


ITEM_TYPES = [c for mod in (types, items) for c in vars(mod).values()
              if isinstance(c, type) and c.__module__ == mod.__name__ and "__record_fields__" in vars(c)]


def test_the_item_types_are_records():
    names = {c.__name__ for c in ITEM_TYPES}
    assert {"FuncType", "RefType", "Limits", "Import", "Export", "Elem", "Data", "ConstExpr"} <= names
    for c in ITEM_TYPES:
        assert c.__slots__ and "__dict__" not in vars(c), c      # frozen, slotted, like the dataclasses they were
        with pytest.raises(dataclasses.FrozenInstanceError):
            object.__new__(c).__setattr__(dataclasses.fields(c)[0].name, 1)


def test_replace_copies_a_record_with_changes():
    R, D = _twins(True, True)
    r = R(1, "b", [2], d=4)
    s = replace(r, a=9, d=5)
    assert type(s) is R and (s.a, s.b, s.c, s.d, s.f) == (9, "b", [2], 5, 7) and r.a == 1
    with pytest.raises(ValueError):
        replace(r, f=1)                                   # init=False, as dataclasses says
    with pytest.raises(TypeError):
        replace(r, nosuch=1)
    assert replace(D(1), a=2) == D(2)                     # any other dataclass: dataclasses.replace
    lim = types.Limits(1, 4, flags=1)
    assert replace(lim, min=2) == types.Limits(2, 4) and replace(lim, min=2).flags == 1


def test_methods_are_compiled_at_their_first_call_then_kept():
    """Start-up (issue 16.2): making a record compiles nothing; each method is compiled once, when first called."""
    R, _ = _twins(True, True)
    names = ("__init__", "__repr__", "__eq__", "__hash__")

    def stand_in(name: str) -> bool:
        return R.__dict__[name].__code__.co_name == "stub"

    assert all(map(stand_in, names))
    r = R(1)
    assert not stand_in("__init__") and R.__dict__["__init__"].__code__.co_name == "__init__"
    assert stand_in("__repr__")                                # not called yet: still the stand-in
    assert repr(r).endswith("R(a=1, b=None, c=[], d=None, f=7)") and R.__dict__["__repr__"].__qualname__.endswith("R.__repr__")
    assert r == R(1) and hash(R(1, c=())) == hash(R(1, c=()))
    assert not any(map(stand_in, names))


def test_a_plain_subclass_calls_its_record_base_methods():
    @record
    class Base:
        a: int
        b: int = 2

    class Plain(Base):
        def __init__(self, a):
            super().__init__(a, b=a + 1)

    p = Plain(4)
    assert (p.a, p.b) == (4, 5) and Base(1) == Base(1, 2) and repr(Base(3)).endswith(".Base(a=3, b=2)")
