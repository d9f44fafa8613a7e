"""Decoded function bodies as compact bytes, for a second process that decodes half of a code section.

A forked child decodes some bodies with :func:`~wasmweld.binary.instr.decode_body`; the parent
needs the same ``(locals, instrs)`` as its own objects. :func:`pack_bodies` writes them as a pickle
in which every distinct instruction appears once, as its bytes, and every other occurrence is a
back-reference (two to five bytes): the 3.7 million instructions of half of a large module fit in
about 12 MB and load at C speed. :func:`unpack_bodies` turns each distinct instruction's bytes into
this process's shared :class:`~wasmweld.binary.instr.Instr` (:func:`~wasmweld.binary.instr.instr_of_bytes`,
the object ``decode_body`` would give) and each locals vector into a
:class:`~wasmweld.binary.instr.LocalList` read again from its bytes::

    (func (local i32) (call 3) (call 3) drop drop)     01 01 7f | 10 03 | 10 03 | 1a | 1a | 0b
    child:  pack_bodies([decode_body(raw)])  ->  locals b"\\x01\\x01\\x7f"; call 3 as b"\\x10\\x03",
            then a reference to it; drop as b"\\x1a", then a reference; end as b"\\x0b"
    parent: unpack_bodies(payload) == [decode_body(raw)]    (equal lists of the same shared objects)

A body the child could not decode is ``None`` (the parent decodes it again and reports its error
in order). Only the two constructors above may appear in a payload (:class:`_Loader` refuses any
other global), and a payload comes only from this process's own child.
"""

from __future__ import annotations

import io
import pickle
from typing import TYPE_CHECKING, Any, BinaryIO, Sequence

if TYPE_CHECKING:
    from mmap import mmap

from .instr import Instr, LocalList, decode_locals, encode_locals, instr_of_bytes

__all__ = ["BodyPacker", "BodyReader", "pack_bodies", "unpack_bodies", "unpack_parts", "locals_of_bytes"]

#: locals bytes -> their items (bodies share a handful of local declarations)
_LOCALS: dict[bytes, tuple] = {}


def locals_of_bytes(raw: bytes) -> LocalList:
    """A new :class:`LocalList` of the local declarations ``raw`` (the whole ``vec(count valtype)``)."""
    items = _LOCALS.get(raw)
    if items is None:
        lst, end = decode_locals(raw, 0, len(raw))
        if end != len(raw):
            raise pickle.UnpicklingError("locals with trailing bytes")
        if len(_LOCALS) > 4096:
            _LOCALS.clear()
        items = _LOCALS[raw] = tuple(lst)
    return LocalList(items, raw)


class _Packer(pickle.Pickler):
    """A pickler writing an Instr as its bytes and a LocalList as its bytes (each distinct object once:
    the pickler's memo turns every later occurrence into a back-reference)."""

    def reducer_override(self, obj: Any) -> Any:
        t = type(obj)
        if t is Instr:
            return instr_of_bytes, (obj[2],)
        if t is LocalList:
            return locals_of_bytes, (encode_locals(obj),)
        return NotImplemented


_ALLOWED = {(__name__, "locals_of_bytes"): locals_of_bytes,
            (instr_of_bytes.__module__, "instr_of_bytes"): instr_of_bytes}


class _Loader(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a body payload") from None


class BodyPacker:
    """Packs decoded bodies in parts, as they are decoded: each :meth:`add` is one pickle, and all share
    one memo (an instruction already written by an earlier part is a back-reference in a later one);
    :func:`unpack_parts` reads them back in order. ``file``: the pickles are written there as they are
    made (the memory map a :class:`BodyReader` in the other process reads) instead of kept for
    :meth:`getvalue`."""

    def __init__(self, file: BinaryIO | mmap | None = None) -> None:
        self._out: Any = io.BytesIO() if file is None else file
        self._pickler = _Packer(self._out, protocol=pickle.HIGHEST_PROTOCOL)

    def add(self, part: Any) -> None:
        """Append one part: any structure of tuples, lists, ints, None, Instr and LocalList."""
        self._pickler.dump(part)

    def getvalue(self) -> bytes:
        """Every part added so far, as bytes for :func:`unpack_parts`."""
        return self._out.getvalue()


class BodyReader:
    """Reads the parts a :class:`BodyPacker` writes into ``file`` (a memory map both processes share:
    the child's pickles need neither a pipe nor a copy of their own) as the writer reaches them:
    :meth:`parts_to` gives the parts that end by an offset the writer said it has reached (one memo
    across them; ``file`` starts at 0), read by the unpickler at C speed."""

    def __init__(self, file: BinaryIO | mmap) -> None:
        self._file: Any = file
        self._end = 0                       # where the writer's parts end, as far as told
        self._loader = _Loader(self._file)

    def parts(self) -> list[Any]:
        """The parts up to the end last given to :meth:`parts_to` and not yet returned."""
        out = []
        f = self._file
        while f.tell() < self._end:
            out.append(self._loader.load())
        return out

    def parts_to(self, end: int) -> list[Any]:
        """The parts in the shared ``file`` up to offset ``end`` (where the writer's last complete part
        ended) and not yet returned. Raises :class:`pickle.UnpicklingError` for an ``end`` behind what
        was read or a part that runs past it."""
        if end < self._end:
            raise pickle.UnpicklingError("a part's end before the last one")
        self._end = end
        out = self.parts()
        if self._file.tell() != end:
            raise pickle.UnpicklingError("a part running past its end")
        return out


def pack_bodies(decoded: Sequence[tuple[LocalList, list[Instr]] | None]) -> bytes:
    """``decoded`` (``(locals, instrs)`` pairs as :func:`~wasmweld.binary.instr.decode_body` returns
    them, or None) as bytes for :func:`unpack_bodies`."""
    packer = BodyPacker()
    packer.add(list(decoded))
    return packer.getvalue()


def unpack_parts(payload: bytes) -> list[Any]:
    """The parts a :class:`BodyPacker` packed, in order, made of this process's own instruction objects."""
    loader = _Loader(io.BytesIO(payload))
    parts = []
    while True:
        try:
            parts.append(loader.load())
        except EOFError:
            return parts


def unpack_bodies(payload: bytes) -> list[tuple[LocalList, list[Instr]] | None]:
    """What :func:`pack_bodies` packed, made of this process's own instruction objects."""
    parts = unpack_parts(payload)
    if len(parts) != 1 or not isinstance(parts[0], list):
        raise pickle.UnpicklingError("not a list of bodies")
    return parts[0]
