"""Metadata: show and add ``producers`` fields and arbitrary custom sections.

::

    add_producer(m, "processed-by", "my-cdk", "1.2.0")
    ;; custom "producers": {"processed-by": {..., "my-cdk": "1.2.0"}}
    add_custom(m, "icp:public candid:service", b"service : { greet : (text) -> (text) query }")
    ;; custom "icp:public candid:service" appended at the end of the module
    show_metadata(m)
    ;; {"producers": {...}, "custom_sections": [{"name": ..., "size": ...}, ...]}

``add_producer`` rewrites the ``producers`` section where it is (or appends
one); field names are ``language``, ``processed-by`` and ``sdk`` (others are
refused unless ``any_field=True``). ``add_custom`` refuses to add a second
section with an existing name unless ``replace=True`` (which rewrites the
first one in place).
"""

from __future__ import annotations

from wasmweld.custom import CUSTOM_DECODERS
from typing import Any

from wasmweld.errors import EditError
from wasmweld.module import Module
from wasmweld.passes.result import PassResult

__all__ = ["run_add_producer", "run_add_custom", "PRODUCER_FIELDS", "add_producer", "add_custom", "show_metadata", "format_metadata"]

PRODUCER_FIELDS = ("language", "processed-by", "sdk")


def _producers(m: Module):
    from wasmweld.custom.producers import Producers
    try:
        p = m.producers
    except Exception as exc:
        raise EditError(f"the producers section cannot be read: {exc}") from None
    return p if p is not None else Producers()


def add_producer(m: Module, field: str, name: str, version: str = "", *, any_field: bool = False) -> None:
    """Record ``name version`` under ``field`` in the producers section."""
    if not any_field and field not in PRODUCER_FIELDS:
        raise EditError(f"unknown producers field {field!r} (known: {', '.join(PRODUCER_FIELDS)})")
    if not name:
        raise EditError("producer name must not be empty")
    p = _producers(m)
    p.add(field, name, version)
    m.set_custom("producers", p.encode())


def add_custom(m: Module, name: str, data: bytes, *, replace: bool = False) -> None:
    """Add custom section ``name`` with ``data`` (at the end), or rewrite it in place with ``replace``."""
    if not isinstance(name, str):
        raise EditError(f"custom section name must be a string, not {name!r}")
    decoder = CUSTOM_DECODERS.get(name)
    if decoder is not None:
        # typed sections: refuse bytes that the next reader would reject
        try:
            decoder(bytes(data), 0)
        except Exception as exc:
            raise EditError(f"the data given for the {name!r} section does not decode: {exc}") from None
    if m.custom(name) is not None:
        if not replace:
            raise EditError(f"custom section name clash: the module already has a {name!r} section "
                            "(use replace)")
        m.set_custom(name, bytes(data))
        return
    m.add_custom(name, bytes(data))


def show_metadata(m: Module) -> dict[str, Any]:
    """``{"producers": {field: {name: version}}, "custom_sections": [{"name", "size", "offset"}]}``."""
    try:
        p = m.producers
    except Exception as exc:
        p = None
        prod_error: str | None = str(exc)
    else:
        prod_error = None
    out: dict = {"producers": dict(p.fields) if p is not None else {}}
    if prod_error:
        out["producers_error"] = prod_error
    sections = []
    customs = m.customs
    originals = [s for s in m.sections if s.id == 0]
    same = len(originals) == len(customs) and all(o.name == c.name for o, c in zip(originals, customs))
    for i, cs in enumerate(customs):
        entry = {"name": cs.name, "size": len(cs.data)}
        if same and bytes(originals[i].data) == cs.data:
            entry["offset"] = originals[i].offset
        if _printable(cs.data):
            entry["text"] = cs.data.decode("utf-8")
        sections.append(entry)
    out["custom_sections"] = sections
    return out


def _printable(data: bytes) -> bool:
    if not data or len(data) > 4096:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\n\t\r" for c in text)


def format_metadata(info: dict[str, Any]) -> str:
    """Human-readable form of :func:`show_metadata`."""
    lines = []
    prods = info["producers"]
    if prods:
        lines.append("producers:")
        for fname, values in prods.items():
            for name, version in values.items():
                lines.append(f"  {fname}: {name}{' ' + version if version else ''}")
    else:
        lines.append("producers: (none)")
    if "producers_error" in info:
        lines.append(f"  (unreadable: {info['producers_error']})")
    if info["custom_sections"]:
        lines.append("custom sections:")
        for s in info["custom_sections"]:
            where = f" at 0x{s['offset']:x}" if "offset" in s else ""
            lines.append(f"  {s['name']!r}: {s['size']} bytes{where}")
            if "text" in s:
                text = s["text"]
                if len(text) > 200:
                    text = text[:200] + "..."
                lines.append("    " + text.replace("\n", "\n    "))
    else:
        lines.append("custom sections: (none)")
    return "\n".join(lines) + "\n"


def run_add_producer(module: Module, *, field: str, name: str, version: str = "") -> PassResult:
    """Pass ``add-producer``: :func:`add_producer`."""
    add_producer(module, field, name, version or "")
    return PassResult(module, {"added": 1}, [f"added producer {field}: {name} {version or ''}".rstrip()])


def run_add_custom(module: Module, *, name: str, data: bytes, replace: bool = False) -> PassResult:
    """Pass ``add-custom``: :func:`add_custom`."""
    add_custom(module, name, data, replace=bool(replace))
    return PassResult(module, {"added": 1}, [f"added custom section {name!r} ({len(data)} bytes)"])
