"""Record classes made at import in a fraction of :func:`dataclasses.dataclass`'s time (issue 16.2, start-up).

The item types every command loads (``types``, ``items``, the opcode table, the custom sections) and the
package's other record classes were dataclasses: :mod:`dataclasses` with :mod:`inspect`, :mod:`ast`,
:mod:`dis` and :mod:`tokenize` takes 8-11 ms to import and each class about 0.8 ms to make (its methods
generated and compiled one by one), 15-20 ms of ``wasmweld info``'s start-up. :func:`record` makes the same
class, from the same declaration, in about 0.04 ms: each generated method is compiled at its first call
(a stand-in calls the compiler, puts the real method on the class and calls it), so a class that is never
printed, compared or made costs no compile at all (compiling every method at import, ~0.2 ms a class, was
a third of ``wasmweld snapshot``'s imports: 7.5 of 30 ms)::

    @record(frozen=True, slots=True)
    class Limits:
        min: int
        max: int | None = None
        flags: int | None = field(default=None, compare=False)

    Limits(1) == Limits(1, flags=0)         # True: flags is not compared (nor hashed)
    Limits(1)                               # Limits(min=1, max=None, flags=None)

What it writes is what ``@dataclass`` writes for these options: ``__init__`` (defaults, ``default_factory``,
``init=False``, then ``__post_init__``), ``__repr__`` (``repr=False`` fields left out), ``__eq__`` (a tuple
of the compared fields, same class only), ``__hash__`` (frozen: of that tuple; ``eq`` and not frozen:
unhashable), ``__match_args__``, ``__slots__`` (a new class, as dataclasses makes), and for a frozen class a
``__setattr__``/``__delattr__`` raising :class:`dataclasses.FrozenInstanceError` and the pickling
state of a frozen slotted class. A method the class body defines itself is kept. Fields come from the
class's own annotations, after those of a record base class. No ``order``, ``kw_only`` or ``InitVar``.

:func:`replace` copies a record with changes. :func:`dataclasses.fields`, :func:`~dataclasses.replace`,
:func:`~dataclasses.asdict` and :func:`~dataclasses.is_dataclass` work on a record too: ``__dataclass_fields__``
is made on first use from an equivalent dataclass (:mod:`dataclasses` is loaded then, not at start-up).
Type checkers see :func:`record` through ``dataclass_transform``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_options: Any) -> Any:     # (read by type checkers; nothing to do at run time)
        return lambda f: f

__all__ = ["record", "field", "Field", "replace"]

T = TypeVar("T")

#: no default given
_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING"})()


class Field:
    """One field of a record, as :func:`field` declares it (``name`` and ``type`` are filled in by :func:`record`)."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "compare")

    def __init__(self, default: Any = _MISSING, default_factory: Any = _MISSING, init: bool = True,
                 repr: bool = True, compare: bool = True) -> None:
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name, self.type = "", ""
        self.default, self.default_factory = default, default_factory
        self.init, self.repr, self.compare = init, repr, compare


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | Any = _MISSING, init: bool = True,
          repr: bool = True, compare: bool = True) -> Any:
    """A field with options, as :func:`dataclasses.field` (the subset records use)."""
    return Field(default, default_factory, init, repr, compare)


@dataclass_transform(field_specifiers=(field, Field))
def record(cls: Any = None, /, *, frozen: bool = False, slots: bool = False, eq: bool = True) -> Any:
    """The class with its record methods (see the module docstring); ``@record`` or ``@record(...)``."""
    def wrap(c: type[T]) -> type[T]:
        return _make(c, frozen, slots, eq)
    return wrap if cls is None else wrap(cls)


def _fields(cls: type) -> list[Field]:
    """The record fields of ``cls``: a record base's, then its own annotations in order."""
    out: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get("__record_fields__", ()):
            out[f.name] = f
    for name, ann in cls.__dict__.get("__annotations__", {}).items():
        if isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, _MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name, f.type = name, ann
        out[name] = f
    return list(out.values())


def _source(cls: type, fields: list[Field], frozen: bool, eq: bool, ns: dict[str, Any]) -> dict[str, str]:
    """Each method's source, by name (defaults and factories go into ``ns`` as ``_rec_d<i>``/``_rec_f<i>``)."""
    params, body = [], []
    for i, f in enumerate(fields):
        value = f.name
        if f.default is not _MISSING:
            ns[f"_rec_d{i}"] = f.default
            default = f"_rec_d{i}"
        elif f.default_factory is not _MISSING:
            ns[f"_rec_f{i}"] = f.default_factory
            default, value = "_rec_missing", f"_rec_f{i}() if {f.name} is _rec_missing else {f.name}"
        else:
            default = ""
        if not f.init:
            if not default:
                continue                    # (set by __post_init__)
            value = f"_rec_f{i}()" if default == "_rec_missing" else default
        else:
            params.append(f"{f.name}={default}" if default else f.name)
        body.append(f"_rec_set(self, {f.name!r}, {value})" if frozen else f"self.{f.name} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    shown = ", ".join(f"{f.name}={{self.{f.name}!r}}" for f in fields if f.repr)
    mine = "".join(f"self.{f.name}," for f in fields if f.compare)
    theirs = "".join(f"other.{f.name}," for f in fields if f.compare)
    src = {"__init__": f"def __init__(self, {', '.join(params)}):\n    " + ("\n    ".join(body) or "pass"),
           "__repr__": f"def __repr__(self):\n    return f'{{self.__class__.__qualname__}}({shown})'"}
    if eq:
        src["__eq__"] = (f"def __eq__(self, other):\n    if other.__class__ is self.__class__:\n"
                         f"        return ({mine}) == ({theirs})\n    return NotImplemented")
    if eq and frozen:
        src["__hash__"] = f"def __hash__(self):\n    return hash(({mine}))"
    return src


def _compiled(cls: type, name: str, source: str, ns: dict[str, Any]) -> Callable[..., Any]:
    """Method ``name`` of ``cls`` compiled from ``source`` and put on the class (in place of its stub)."""
    exec(source, ns)     # noqa: S102 - our own generated method
    method = ns[name]
    method.__qualname__ = f"{cls.__qualname__}.{name}"
    type.__setattr__(cls, name, method)
    return method


def _stub(cls: type, name: str, source: str, ns: dict[str, Any]) -> Callable[..., Any]:
    """A stand-in for method ``name`` of ``cls`` that compiles the real one at its first call (most record
    classes a command loads never print or compare an instance, some are never made: compiling every method
    of every class at import was about a third of a command's import time)."""
    def stub(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _compiled(cls, name, source, ns)(self, *args, **kwargs)
    stub.__name__ = name
    return stub


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise _frozen(name)


def _frozen_delattr(self: Any, name: str) -> None:
    raise _frozen(name)


def _make(cls: type[T], frozen: bool, slots: bool, eq: bool) -> type[T]:
    fields = _fields(cls)
    ns: dict[str, Any] = {"_rec_set": object.__setattr__, "_rec_missing": _MISSING}
    sources = _source(cls, fields, frozen, eq, ns)
    methods: dict[str, Any] = {}
    if frozen:
        methods["__setattr__"], methods["__delattr__"] = _frozen_setattr, _frozen_delattr
    if slots:
        own = [f.name for f in fields if f.name in cls.__dict__.get("__annotations__", {})]
        body = {k: v for k, v in cls.__dict__.items() if k not in own and k not in ("__dict__", "__weakref__")}
        body["__slots__"] = tuple(own)
        qualname = cls.__qualname__
        meta: Any = type(cls)
        cls = meta(cls.__name__, cls.__bases__, body)
        cls.__qualname__ = qualname
        if frozen:
            methods["__getstate__"], methods["__setstate__"] = _getstate, _setstate
    methods.update((name, _stub(cls, name, source, ns)) for name, source in sources.items())
    methods["__match_args__"] = tuple(f.name for f in fields if f.init)
    own_hash = cls.__dict__.get("__hash__", _MISSING)
    if own_hash is None and "__eq__" in cls.__dict__:
        own_hash = _MISSING                 # (Python's implicit None beside a written __eq__)
    for name, value in methods.items():
        if name not in cls.__dict__ or name == "__hash__" and own_hash is _MISSING:
            setattr(cls, name, value)
    if eq and not frozen and own_hash is _MISSING:
        cls.__hash__ = None      # type: ignore[assignment]  # (as dataclasses: equal by value, mutable: unhashable)
    for f in fields:                        # (non-slot classes keep plain defaults as class attributes)
        if not slots and isinstance(cls.__dict__.get(f.name), Field):
            if f.default is _MISSING:
                delattr(cls, f.name)
            else:
                setattr(cls, f.name, f.default)
    if cls.__doc__ is None:                 # (as dataclasses: the signature)
        cls.__doc__ = f"{cls.__name__}({', '.join(_signature(f) for f in fields if f.init)})"
    cls.__record_fields__ = tuple(fields)   # type: ignore[attr-defined]
    cls.__dataclass_fields__ = _DataclassView()     # type: ignore[attr-defined]
    return cls


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of record ``obj`` with ``changes`` (:func:`dataclasses.replace`, without loading :mod:`dataclasses`
    for a record; any other dataclass goes to it)::

        replace(Limits(1, 2), min=3)        # Limits(min=3, max=2, shared=False, ...)
    """
    fields = getattr(type(obj), "__record_fields__", None)
    if fields is None:
        import dataclasses

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    for f in fields:
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be specified with replace()")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return type(obj)(**changes)


def _signature(f: Field) -> str:
    """``name: type = default`` of an ``__init__`` parameter."""
    if f.default is not _MISSING:
        return f"{f.name}: {f.type} = {f.default!r}"
    return f"{f.name}: {f.type} = <factory>" if f.default_factory is not _MISSING else f"{f.name}: {f.type}"


def _frozen(name: str) -> Exception:
    from dataclasses import FrozenInstanceError

    return FrozenInstanceError(f"cannot assign to field {name!r}")


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in self.__record_fields__]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(self.__record_fields__, state):
        object.__setattr__(self, f.name, value)


class _DataclassView:
    """A record's ``__dataclass_fields__``, made on first use from an equivalent dataclass (then kept)."""

    def __get__(self, obj: Any, owner: type) -> dict[str, Any]:
        import dataclasses

        specs = []
        for f in owner.__record_fields__:   # type: ignore[attr-defined]
            opts: dict[str, Any] = dict(init=f.init, repr=f.repr, compare=f.compare)
            if f.default is not _MISSING:
                opts["default"] = f.default
            elif f.default_factory is not _MISSING:
                opts["default_factory"] = f.default_factory
            specs.append((f.name, f.type, dataclasses.field(**opts)))
        shadow = dataclasses.make_dataclass(owner.__name__, specs)
        view: dict[str, Any] = shadow.__dataclass_fields__     # type: ignore[attr-defined]
        type.__setattr__(owner, "__dataclass_fields__", view)
        return view
