"""Where each old index goes: :class:`IndexMaps`, one map per index space.

::

    (module (func $a) (func $b))     IndexMaps(func=[1, 0])        $a <-> $b
                                     IndexMaps(func={0: None})     $a removed (a reference to it is an error)
                                     IndexMaps(global_=lambda i: i + 2)

The renumbering re-encoder (:mod:`wasmweld.binary.renumber`), the scanner and
``reindex`` read them; merge and the passes build them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

from ..errors import EditError
from .leb import encode_u_width, read_uN, read_sN, write_s

__all__ = ["SPACES", "MapLike", "IndexMaps", "target_or_none", "compose_maps", "recode", "normalize_map"]

#: the index spaces, in the spec's order; ``IndexMaps`` spells ``global`` as ``global_``
SPACES: tuple[str, ...] = ("type", "func", "table", "memory", "global", "tag", "elem", "data")

MapLike = Union[Sequence[Any], Mapping[int, Any], Callable[[int], Any], None]


# --------------------------------------------------------------------------- maps

class IndexMaps:
    """Where each index of each space goes: ``IndexMaps(func=[2, 0, 1], global_=lambda i: i + 3)``.

    Each map is a sequence (``old -> new``), a mapping, a callable, or None
    (identity). A value of None means the item was removed. A sequence or
    mapping that maps every index to itself counts as identity.
    """

    __slots__ = ("_maps",)

    def __init__(self, type: MapLike = None, func: MapLike = None, table: MapLike = None,
                 memory: MapLike = None, global_: MapLike = None, tag: MapLike = None,
                 elem: MapLike = None, data: MapLike = None):
        given = dict(type=type, func=func, table=table, memory=memory, global_=global_, tag=tag,
                     elem=elem, data=data)
        self._maps: dict[str, Any] = {}
        for key, m in given.items():
            space = "global" if key == "global_" else key
            m = normalize_map(m)
            if m is not None:
                self._maps[space] = m

    def __getitem__(self, space: str) -> Any:
        """The normalised map of ``space`` (a list, dict or callable), or None for identity."""
        if space not in SPACES:
            raise KeyError(space)
        return self._maps.get(space)

    @property
    def active(self) -> frozenset[str]:
        """The spaces whose map is not identity."""
        return frozenset(self._maps)

    def is_identity(self) -> bool:
        return not self._maps

    def target(self, space: str, old: int, offset: int | None = None) -> int | None:
        """``old``'s new index in ``space``, None if the item was removed; EditError if the map has no entry."""
        m = self._maps.get(space)
        if m is None:
            return old
        try:
            new = m(old) if callable(m) else m[old]
        except (IndexError, KeyError):
            where = "" if offset is None else f" (at offset 0x{offset:x})"
            raise EditError(f"{space} index {old} has no entry in the {space} map{where}") from None
        if new is not None and (not isinstance(new, int) or new < 0):
            raise EditError(f"the {space} map sends {old} to {new!r}, not an index")
        return new

    def lookup(self, space: str, old: int, offset: int | None = None) -> int:
        """``old``'s new index in ``space``; EditError if it was removed or has no entry."""
        new = self.target(space, old, offset)
        if new is None:
            where = "" if offset is None else f" (at offset 0x{offset:x})"
            raise EditError(f"{space} index {old} is referenced but was removed{where}")
        return new

    def __repr__(self) -> str:
        inner = ", ".join(f"{'global_' if k == 'global' else k}={'<callable>' if callable(v) else v!r}"
                          for k, v in self._maps.items())
        return f"IndexMaps({inner})"


def target_or_none(maps: IndexMaps, space: str, old: int) -> int | None:
    """``maps.target(space, old)``, None for a removed item or an index out of the map."""
    try:
        return maps.target(space, old)
    except EditError:
        return None


def compose_maps(first: IndexMaps, then: IndexMaps) -> IndexMaps:
    """``first`` followed by ``then`` (None, a removed item, stays None)."""
    out = IndexMaps()
    for space in first.active | then.active:
        def both(old, space=space):
            mid = first.target(space, old)
            return None if mid is None else then.target(space, mid)
        out._maps[space] = both
    return out


def recode(lookup: Callable[[str, int, int], int], space: str, signed: bool, key: bytes,
           offset: int) -> Any:
    """The encoded index ``key`` rewritten by ``lookup`` keeping its width when it fits; False if unchanged."""
    n = len(key)
    if signed:
        old, _ = read_sN(key, 0, n, 33, offset)
    else:
        old, _ = read_uN(key, 0, n, 32, offset)
    new = lookup(space, old, offset)
    if new == old:
        return False
    if not signed:
        return encode_u_width(new, n)
    try:
        return write_s(new, n) if n > 1 else write_s(new)
    except ValueError:
        return write_s(new)


def normalize_map(m: MapLike) -> Any:
    """``m`` as IndexMaps stores it: None for an identity map, else a list, dict or callable."""
    if m is None:
        return None
    if callable(m) and not isinstance(m, (Sequence, Mapping)):
        return m
    if isinstance(m, Mapping):
        m = dict(m)
        return None if all(k == v for k, v in m.items()) else m
    if isinstance(m, (Sequence, range)) and not isinstance(m, (str, bytes, bytearray)):
        m = list(m)
        return None if m == list(range(len(m))) else m
    raise TypeError(f"an index map must be a sequence, a mapping, a callable or None, not {type(m).__name__}")


