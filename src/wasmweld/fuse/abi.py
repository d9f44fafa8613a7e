"""The canonical ABI's layout rules for the value types ``fuse`` adapts: flattening, size, alignment.

A component function type such as ``(func (param "p" (record (field "x" u8) (field "s" string))))``
is first turned into a plain tree (:func:`normalize`)::

    ("record", ("u8", "string"))            # record and tuple
    ("variant", (None, "u32"))              # variant, enum (no payloads), option, result
    ("list", "u8"), ("flags", 3)            # everything else is a primitive name
    ("own",), ("borrow",)                   # resource handles (an i32 index in a handle table)

and then measured as CanonicalABI.md prescribes: ``flatten(t)`` gives the core value types
(``["i32", "i32", "i32"]`` for the record above), ``size``/``alignment`` the memory layout
(8 bytes at alignment 4: ``u8`` at 0, the string's pointer and length at 4 and 8 ... rounded).
Types the fuser does not adapt (resources, futures, streams, maps, fixed lists, error-context)
raise :class:`FuseError` naming the function.
"""

from __future__ import annotations

from typing import Any

from ..component.typeval import Alias, Def, FuncT, Res, peel
from ..errors import WasmError

__all__ = ["FuseError", "MAX_FLAT_PARAMS", "MAX_FLAT_RESULTS", "normalize", "func_types", "flatten", "size",
           "alignment", "disc_size", "payload_offset", "field_offsets", "join", "is_plain", "MAX_TYPE_DEPTH"]

MAX_FLAT_PARAMS = 16
MAX_FLAT_RESULTS = 1
#: deepest value type the fuser adapts (bounded recursion in the code generator)
MAX_TYPE_DEPTH = 64

_INT = {"bool": "i32", "s8": "i32", "u8": "i32", "s16": "i32", "u16": "i32", "s32": "i32", "u32": "i32",
        "char": "i32", "s64": "i64", "u64": "i64", "f32": "f32", "f64": "f64"}
_SIZE = {"bool": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "s32": 4, "u32": 4, "char": 4, "f32": 4,
         "s64": 8, "u64": 8, "f64": 8, "string": 8}


class FuseError(WasmError):
    """A composition ``fuse`` cannot turn into one module (unsupported feature, bad wiring)."""


def normalize(t: Any, where: str, depth: int = 0, *, handle: Any = None, budget: list[int] | None = None) -> Any:
    """The plain tree of the resolved value type ``t`` (from :mod:`wasmweld.component.typeval`).

    A handle is ``(kind,)``, or ``handle(kind, resource type)`` when given (the fused boundary's
    ``(kind, K)``, :func:`wasmweld.fuse.boundary.tree`); ``budget``: a one-element list of the nodes
    left, shared by the calls for one function (a type may use another many times)."""
    if budget is not None:
        budget[0] -= 1
        if depth > MAX_TYPE_DEPTH or budget[0] < 0:
            raise FuseError(f"{where}: value type nesting too deep or too large")
    if depth > MAX_TYPE_DEPTH:
        raise FuseError(f"{where}: value type nesting too deep")
    t = peel(t)
    if isinstance(t, str):
        if t not in _SIZE:
            raise FuseError(f"{where}: values of type {t} are not supported by fuse")
        return t
    if isinstance(t, Res):
        raise FuseError(f"{where}: a resource type is not a value type")
    if not isinstance(t, Def):
        raise FuseError(f"{where}: unexpected type {t!r}")
    k, d = t.kind, t.data
    n = lambda x: None if x is None else normalize(x, where, depth + 1, handle=handle, budget=budget)  # noqa: E731
    if k == "prim":
        return normalize(d, where, depth + 1)
    if k == "record":
        return ("record", tuple(n(x) for _, x in d))
    if k == "tuple":
        return ("record", tuple(n(x) for x in d))
    if k == "list":
        return ("list", n(d))
    if k == "variant":
        return ("variant", tuple(n(x) for _, x in d))
    if k == "enum":
        return ("variant", tuple(None for _ in d))
    if k == "option":
        return ("variant", (None, n(d)))
    if k == "result":
        return ("variant", (n(d[0]), n(d[1])))
    if k == "flags":
        return ("flags", len(d))
    if k in ("future", "stream"):
        raise FuseError(f"{where}: async values ({k}) are not supported by fuse")
    if k in ("own", "borrow"):
        return (k,) if handle is None else handle(k, d)
    raise FuseError(f"{where}: values of kind {k} are not supported by fuse")


def func_types(ft: Any, where: str) -> tuple[tuple[Any, ...], Any]:
    """``(param types, result type or None)`` of a resolved function type, normalised."""
    ft = peel(ft)
    if isinstance(ft, Alias) or not isinstance(ft, FuncT):
        raise FuseError(f"{where}: not a function type")
    if ft.is_async:
        raise FuseError(f"{where}: async functions are not supported by fuse")
    params = tuple(normalize(t, where) for _, t in ft.params)
    result = None if ft.result is None else normalize(ft.result, where)
    return params, result


def join(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


def flatten(t: Any) -> list[str]:
    """The core value types of ``t`` passed on the stack."""
    if isinstance(t, str):
        return ["i32", "i32"] if t == "string" else [_INT[t]]
    k = t[0]
    if k in ("own", "borrow"):
        return ["i32"]
    if k == "list":
        return ["i32", "i32"]
    if k == "record":
        return [v for f in t[1] for v in flatten(f)]
    if k == "flags":
        return ["i32"] * max(1, -(-t[1] // 32)) if t[1] else []
    flat: list[str] = []
    for c in t[1]:
        if c is None:
            continue
        for i, v in enumerate(flatten(c)):
            if i < len(flat):
                flat[i] = join(flat[i], v)
            else:
                flat.append(v)
    return ["i32"] + flat


def disc_size(n: int) -> int:
    return 1 if n <= 256 else 2 if n <= 65536 else 4


def _align_to(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def alignment(t: Any) -> int:
    if isinstance(t, str):
        return 4 if t == "string" else _SIZE[t]
    k = t[0]
    if k in ("list", "own", "borrow"):
        return 4
    if k == "record":
        return max([alignment(f) for f in t[1]] + [1])
    if k == "flags":
        return 1 if t[1] <= 8 else 2 if t[1] <= 16 else 4
    return max([disc_size(len(t[1]))] + [alignment(c) for c in t[1] if c is not None])


def size(t: Any) -> int:
    if isinstance(t, str):
        return _SIZE[t]
    k = t[0]
    if k in ("own", "borrow"):
        return 4
    if k == "list":
        return 8
    if k == "record":
        offs = field_offsets(t)
        end = offs[-1] + size(t[1][-1]) if t[1] else 0
        return _align_to(end, alignment(t))
    if k == "flags":
        n = t[1]
        return 0 if n == 0 else 1 if n <= 8 else 2 if n <= 16 else 4 * -(-n // 32)
    s = payload_offset(t) + max([size(c) for c in t[1] if c is not None] + [0])
    return _align_to(s, alignment(t))


def payload_offset(t: Any) -> int:
    """Where a variant's payload starts in memory."""
    return _align_to(disc_size(len(t[1])), max([alignment(c) for c in t[1] if c is not None] + [1]))


def field_offsets(t: Any) -> list[int]:
    offs, at = [], 0
    for f in t[1]:
        at = _align_to(at, alignment(f))
        offs.append(at)
        at += size(f)
    return offs


def is_plain(t: Any) -> bool:
    """True when a value of ``t`` is copied byte for byte (no pointers, nothing to check)."""
    if isinstance(t, str):
        return t not in ("string", "bool", "char")
    if t[0] == "record":
        return all(is_plain(f) for f in t[1]) and size(t) == sum(size(f) for f in t[1])
    return False
