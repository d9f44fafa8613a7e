"""The ``producers`` custom section: which languages, tools and SDKs made the module.

Layout (tool-conventions/ProducersSection.md): a vector of fields, each a
field name (``language``, ``processed-by`` or ``sdk``) and a vector of
``(name, version)`` pairs, all as UTF-8 names::

    01                           1 field
    0c "processed-by"            field name
    01 05 "rustc" 06 "1.80.0"    1 value: rustc 1.80.0

decodes to ``Producers({"processed-by": {"rustc": "1.80.0"}})``. Decoding and
encoding an unchanged section is byte-identical (the input bytes are reused
while the decoded value is unchanged).

>>> p = Producers()
>>> p.add("language", "C11")
>>> Producers.decode(p.encode()).fields
{'language': {'C11': ''}}
"""

from __future__ import annotations

from typing import Any

import copy
from ..record import field, record

from ..binary.leb import Span, read_u32, write_u
from ..binary.reader import decode_name
from ..errors import DecodeError
from ..binary.leb import ByteData

__all__ = ["Producers"]


def _enc_name(s: str) -> bytes:
    b = s.encode("utf-8")
    return write_u(len(b)) + b


@record
class Producers:
    """``fields`` maps a field name to ``{tool name: version}``, both in file order."""

    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    _raw: bytes | None = field(default=None, repr=False, compare=False)
    _snap: dict[Any, Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def decode(cls, data: ByteData, offset: int = 0, spans: list[Span] | None = None) -> "Producers":
        """Decode the section content (after the name ``"producers"``); ``offset`` is its absolute offset.

        ``spans``, when given, receives ``(field, start, end, value)`` with absolute offsets as each part
        is read: ``("count", .., n)``, ``("field", .., (name, number of values))``, ``("value", ..,
        (name, version))`` (what ``dump`` shows)."""
        data = bytes(data)
        end = len(data)
        fields: dict[str, dict[str, str]] = {}
        try:
            n, pos = read_u32(data, 0, end, offset)
            if n * 2 > end - pos:
                raise DecodeError("length out of bounds", offset + pos, f"{n} producer fields")
            if spans is not None:
                spans.append(("count", offset, offset + pos, n))
            for _ in range(n):
                at = pos
                fname, pos = decode_name(data, pos, end, offset)
                if fname in fields:
                    raise DecodeError(f"duplicate producers field {fname!r}", offset + at)
                m, pos = read_u32(data, pos, end, offset)
                if m * 2 > end - pos:
                    raise DecodeError("length out of bounds", offset + pos, f"{m} producer values")
                if spans is not None:
                    spans.append(("field", offset + at, offset + pos, (fname, m)))
                values: dict[str, str] = {}
                for _ in range(m):
                    at = pos
                    name, pos = decode_name(data, pos, end, offset)
                    version, pos = decode_name(data, pos, end, offset)
                    if name in values:
                        raise DecodeError(f"duplicate producers value {name!r} in field {fname!r}", offset + at)
                    values[name] = version
                    if spans is not None:
                        spans.append(("value", offset + at, offset + pos, (name, version)))
                fields[fname] = values
            if pos != end:
                raise DecodeError("section size mismatch", offset + pos)
        except DecodeError as e:
            raise e.with_context("producers section") from None
        return cls(fields, data, copy.deepcopy(fields))

    def add(self, field_name: str, name: str, version: str = "") -> None:
        """Record ``name version`` under ``field_name`` (replacing an earlier version of ``name``)."""
        self.fields.setdefault(field_name, {})[name] = version

    def encode(self) -> bytes:
        """The section content (without the custom section header and name)."""
        if self._raw is not None and self.fields == self._snap \
                and list(self.fields) == list(self._snap):
            return self._raw
        parts = [write_u(len(self.fields))]
        for fname, values in self.fields.items():
            parts.append(_enc_name(fname))
            parts.append(write_u(len(values)))
            for name, version in values.items():
                parts.append(_enc_name(name))
                parts.append(_enc_name(version))
        return b"".join(parts)
