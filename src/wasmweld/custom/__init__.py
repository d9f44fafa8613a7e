"""Typed custom sections: one registry from section name to decoder.

::

    (module (@custom "producers" "...") ...)   ->  decode_custom("producers", data, base) -> Producers

``CUSTOM_DECODERS[name](data, base)`` decodes the bytes after the section name
(``base``: their absolute offset, for error offsets) into the typed view:
``name`` -> :class:`~wasmweld.custom.name.NameSection`, ``producers`` ->
:class:`~wasmweld.custom.producers.Producers`, ``target_features`` ->
:class:`~wasmweld.custom.target_features.TargetFeatures`, ``dylink.0`` / ``dylink``
-> :class:`~wasmweld.custom.dylink.Dylink`. ``Module`` (its typed views and
``decode_all``), ``dump`` and the metadata pass all dispatch through here.
"""

from __future__ import annotations

from typing import Any, Callable

from ..binary.leb import ByteData
from ..errors import DecodeError
from .dylink import Dylink
from .name import NameSection
from .producers import Producers
from .target_features import TargetFeatures

__all__ = ["CUSTOM_DECODERS", "KNOWN_CUSTOM", "decode_custom"]


def _dylink(legacy: bool) -> Callable[[Any, int], Dylink]:
    section = "dylink" if legacy else "dylink.0"

    def decode(data, base: int = 0) -> Dylink:
        try:
            return Dylink.decode(data, base, legacy=legacy)
        except DecodeError:
            raise
        except Exception as e:  # a gap in the dylink decoder must not escape as a non-WasmError
            raise DecodeError(f"malformed {section} section ({type(e).__name__}: {e})", base) from None
    return decode


#: custom section name -> ``decoder(data, base)`` returning its typed view
CUSTOM_DECODERS: dict[str, Callable[[Any, int], Any]] = {
    "name": NameSection.decode,
    "producers": Producers.decode,
    "target_features": TargetFeatures.decode,
    "dylink.0": _dylink(False),
    "dylink": _dylink(True),
}

#: the names with a typed view
KNOWN_CUSTOM: tuple[str, ...] = tuple(CUSTOM_DECODERS)


def decode_custom(name: str, data: ByteData, base: int = 0) -> Any:
    """The typed view of custom section ``name`` (None for a name without one); DecodeError when malformed."""
    decoder = CUSTOM_DECODERS.get(name)
    return None if decoder is None else decoder(data, base)
