"""The ``target_features`` custom section: the features a toolchain used or forbade.

Layout (tool-conventions/Linking.md): a vector of ``(prefix:u8, name)`` where
the prefix is ``+`` (used), ``-`` (disallowed) or ``=`` (required)::

    02                           2 entries
    2b 07 "atomics"              +atomics
    2b 08 "sign-ext"             +sign-ext

decodes to ``TargetFeatures([("+", "atomics"), ("+", "sign-ext")])``. An
unchanged decoded section encodes to its input bytes.

>>> tf = TargetFeatures.decode(b"\\x01\\x2b\\x07atomics")
>>> tf.features, tf.used
([('+', 'atomics')], {'atomics'})
"""

from __future__ import annotations

from typing import Any

from ..record import field, record

from ..binary.leb import Span, read_u32, write_u
from ..binary.reader import decode_name
from ..errors import DecodeError
from ..binary.leb import ByteData

__all__ = ["TargetFeatures", "PREFIXES"]

PREFIXES = {0x2B: "+", 0x2D: "-", 0x3D: "="}
_PREFIX_BYTES = {v: k for k, v in PREFIXES.items()}


@record
class TargetFeatures:
    """``features`` is the list of ``(prefix, name)`` pairs in file order."""

    features: list[tuple[str, str]] = field(default_factory=list)
    _raw: bytes | None = field(default=None, repr=False, compare=False)
    _snap: list[Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def decode(cls, data: ByteData, offset: int = 0, spans: list[Span] | None = None) -> "TargetFeatures":
        """Decode the section content (after the name); ``offset`` is its absolute offset.

        ``spans``, when given, receives ``("count", start, end, n)`` and ``("feature", start, end,
        (prefix, name))`` with absolute offsets as they are read (what ``dump`` shows)."""
        data = bytes(data)
        end = len(data)
        out: list[tuple[str, str]] = []
        try:
            n, pos = read_u32(data, 0, end, offset)
            if n * 2 > end - pos:
                raise DecodeError("length out of bounds", offset + pos, f"{n} target features")
            if spans is not None:
                spans.append(("count", offset, offset + pos, n))
            for _ in range(n):
                if pos >= end:
                    raise DecodeError("unexpected end", offset + pos)
                prefix = PREFIXES.get(data[pos])
                if prefix is None:
                    raise DecodeError(f"malformed target feature prefix 0x{data[pos]:02x}", offset + pos)
                at = pos
                name, pos = decode_name(data, pos + 1, end, offset)
                out.append((prefix, name))
                if spans is not None:
                    spans.append(("feature", offset + at, offset + pos, (prefix, name)))
            if pos != end:
                raise DecodeError("section size mismatch", offset + pos)
        except DecodeError as e:
            raise e.with_context("target_features section") from None
        return cls(out, data, list(out))

    @property
    def used(self) -> set[str]:
        """Names with prefix ``+`` or ``=``."""
        return {name for p, name in self.features if p in "+="}

    def encode(self) -> bytes:
        """The section content (without the custom section header and name)."""
        if self._raw is not None and self.features == self._snap:
            return self._raw
        parts = [write_u(len(self.features))]
        for prefix, name in self.features:
            if prefix not in _PREFIX_BYTES:
                from ..errors import EncodeError
                raise EncodeError(f"target feature prefix must be '+', '-' or '=', not {prefix!r}")
            b = name.encode("utf-8")
            parts.append(bytes((_PREFIX_BYTES[prefix],)) + write_u(len(b)) + b)
        return b"".join(parts)
