"""What ``wasmweld info`` and ``wasmweld dump`` show for a component.

For a component made by ``wasm-tools component new``::

    $ wasmweld info app.component.wasm
    file        app.component.wasm, 7447 bytes, component (layer 1)
    sections    id  kind            offset   size
                1   core module       0x0a   1586
                ...
    counts      core modules 3, core instances 6, components 1, instances 2, types 27, canons 24, ...
    imports     wasi:cli/stdout@0.2.0   instance (type 0)
    exports     run                     func 2
                test:types/values@0.1.0 instance 2
    modules     0  1586 bytes at 0x0a: 2 imports, 36 exports, 31 funcs, 1 memories

:func:`collect` gives the same as one JSON object (``--json``); :func:`dump_lines`
the annotated hex dump: every byte once, component items one a line, core modules
through the core module dump (:func:`wasmweld.binary.dump.dump`), offsets absolute.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Iterator
from typing import Any

from ..binary.dump import DumpLine
from ..binary.dump import dump as dump_module
from ..binary.leb import read_u32
from ..errors import DecodeError
from . import codec
from . import types as T
from .model import Component

__all__ = ["collect", "render", "dump_lines", "item_text", "run_info"]

_LIST_NAMES = {2: "core instances", 3: "core types", 5: "instances", 6: "aliases", 7: "types", 8: "canons",
               10: "imports", 11: "exports"}


def _desc_text(d: T.ExternDesc | None) -> str:
    if d is None:
        return ""
    if d.sort == "type":
        return "type (sub resource)" if d.ref.index is None else f"type (eq {d.ref.index})"
    if d.sort == "value":
        return f"value {d.ref}"
    return f"{d.sort} (type {d.ref})"


def item_text(sid: int, item: Any) -> str:
    """One line about a component item (for dump)."""
    k = type(item)
    if k is T.Import:
        return f'import "{item.name}" ({_desc_text(item.desc)})'
    if k is T.Export:
        extra = f" ({_desc_text(item.desc)})" if item.desc is not None else ""
        return f'export "{item.name}" ({item.sort} {item.index}){extra}'
    if k is T.Canon:
        opts = " ".join(o.name if o.index is None else f"({o.name} {o.index})" for o in item.options or ())
        return f"canon {item.op} {' '.join(map(str, item.args))}" + (f" {opts}" if opts else "")
    if k is T.InstanceExportAlias:
        return f'alias export {item.instance} "{item.name}" ({item.sort})'
    if k is T.OuterAlias:
        return f"alias outer {item.count} {item.index} ({item.sort})"
    if k is T.CoreInstantiate:
        return f"core instance (instantiate module {item.module}" + "".join(
            f' (with "{a.name}" (instance {a.index}))' for a in item.args) + ")"
    if k is T.CoreInstanceExports:
        return f"core instance (exports: {len(item.exports)})"
    if k is T.ComponentInstantiate:
        return f"instance (instantiate component {item.component}" + "".join(
            f' (with "{a.name}" ({a.sort} {a.index}))' for a in item.args) + ")"
    if k is T.InstanceExports:
        return f"instance (exports: {len(item.exports)})"
    if sid == 3:
        return "core type (module)" if k is T.CoreModuleType else "core type (rec group)"
    if sid == 7:
        name = type(item).__name__.lower()
        if k is T.FuncType:
            params = ", ".join(f"{n}: {t}" for n, t in item.params)
            return f"type (func ({params})" + (f" -> {item.result}" if item.result is not None else "") + ")"
        if k is T.InstanceType or k is T.ComponentType:
            return f"type ({name}, {len(item.decls)} decls)"
        return f"type {item!r}"
    return repr(item)


def collect(comp: Component) -> dict[str, Any]:
    """The ``wasmweld info --json`` object of a component."""
    sections = [{"id": s.id, "kind": s.kind, "name": s.name if s.id == 0 else None, "offset": s.offset,
                 "payload_offset": s.payload_offset, "size": s.size} for s in comp.sections]
    counts = {"core modules": len(comp.modules), "components": len(comp.components)}
    for name in _LIST_NAMES.values():
        counts[name] = len(getattr(comp, name.replace(" ", "_")))
    modules = []
    mod_secs = [s for s in comp.sections if s.id == 1]
    for i, (m, sec) in enumerate(zip(comp.modules, mod_secs)):
        modules.append({"index": i, "offset": sec.payload_offset, "size": sec.size, "imports": len(m.imports),
                        "exports": len(m.exports), "funcs": m.num_funcs, "memories": m.num_memories})
    return {
        "size": len(comp.data), "kind": "component", "sections": sections, "counts": counts,
        "imports": [{"name": str(i.name), "sort": i.desc.sort, "type": _desc_text(i.desc)} for i in comp.imports],
        "exports": [{"name": str(e.name), "sort": e.sort, "index": e.index} for e in comp.exports],
        "modules": modules,
        "components": [{"index": i, "offset": c.offset, "size": len(c.data)} for i, c in enumerate(comp.components)],
        "canons": _canon_counts(comp),
        "customs": [{"name": c.name, "size": len(c.data)} for c in comp.customs],
    }


def _canon_counts(comp: Component) -> dict:
    out: dict[str, int] = {}
    for c in comp.canons:
        out[c.op] = out.get(c.op, 0) + 1
    return out


def render(info: dict[str, Any], name: str, summary: bool = False) -> str:
    """The text form of :func:`collect`'s object."""
    lines = [f"file        {name}, {info['size']} bytes, component (layer 1)",
             "sections    id  kind            offset       size"]
    for s in info["sections"]:
        kind = s["kind"] + (f" {s['name']!r}" if s["name"] is not None else "")
        lines.append(f"            {s['id']:<3} {kind:<15} {s['offset']:#8x} {s['size']:>10}")
    lines.append("counts      " + ", ".join(f"{k} {v}" for k, v in info["counts"].items()))
    if info["canons"]:
        lines.append("canon       " + ", ".join(f"{k} {v}" for k, v in info["canons"].items()))
    if not summary:
        width = max([len(i["name"]) for i in info["imports"] + info["exports"]] + [8])
        for title, rows in (("imports", info["imports"]), ("exports", info["exports"])):
            for j, r in enumerate(rows):
                what = r["type"] if title == "imports" else f"{r['sort']} {r['index']}"
                lines.append(f"{title if j == 0 else '':<12}{r['name']:<{width}}  {what}")
    for j, m in enumerate(info["modules"]):
        lines.append(f"{'modules' if j == 0 else '':<12}{m['index']}  {m['size']} bytes at {m['offset']:#x}: "
                     f"{m['imports']} imports, {m['exports']} exports, {m['funcs']} funcs, {m['memories']} memories")
    for j, c in enumerate(info["components"]):
        lines.append(f"{'components' if j == 0 else '':<12}{c['index']}  {c['size']} bytes at {c['offset']:#x}")
    for j, c in enumerate(info["customs"]):
        lines.append(f"{'custom' if j == 0 else '':<12}{c['name']!r}  {c['size']} bytes")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ dump


def _rows(data: bytes, start: int, end: int) -> Iterator[DumpLine]:
    for p in range(start, end, 16):
        yield DumpLine(p, data[p:min(end, p + 16)], "")


def dump_lines(data: bytes, *, elide: int | None = 8, _comp: Component | None = None,
               _depth: int = 0) -> Iterator[DumpLine]:
    """The annotated dump of the component ``data``; DecodeError after what decodes.
    ``elide``: as for :func:`wasmweld.binary.dump.dump` (core modules' long raw runs)."""
    from .model import parse_component

    data = bytes(data)
    if _depth > 100:
        raise DecodeError("component nesting too deep", _comp.offset if _comp is not None else 0)
    c = _comp if _comp is not None else parse_component(data)
    start = c.offset
    yield DumpLine(start, data[start:start + 4], "magic")
    yield DumpLine(start + 4, data[start + 4:start + 8], "component version 0x0d, layer 1")
    for k, sec in enumerate(c.sections):
        yield DumpLine(sec.offset, data[sec.offset:sec.payload_offset], f"{sec.kind} section, size {sec.size}")
        if sec.id in codec.ITEM_READERS:
            spans = c.section_spans(k)
            n, p = read_u32(data, sec.payload_offset, sec.end)
            yield DumpLine(sec.payload_offset, data[sec.payload_offset:p], f"{n} count")
            for it, a, b in spans:
                yield DumpLine(a, data[a:b], item_text(sec.id, it))
        elif sec.id == 1:
            base = sec.payload_offset
            for ln in dump_module(data[base:sec.end], elide=elide):
                yield DumpLine(ln.offset + base, ln.bytes, ln.meaning)
        elif sec.id == 4:
            yield from dump_lines(data, elide=elide, _comp=c.section_value(k), _depth=_depth + 1)
        elif sec.id == 9:
            yield DumpLine(sec.payload_offset, data[sec.payload_offset:sec.end], f"start {c.section_value(k)}")
        else:
            yield DumpLine(sec.payload_offset, data[sec.payload_offset:sec.data_offset], f"name {sec.name!r}")
            yield from _rows(data, sec.data_offset, sec.end)


def run_info(args: Namespace, data: bytes, name: str) -> int:
    """``wasmweld info`` on a component (``args.json``, ``args.summary``)."""
    import json
    import sys

    from .model import parse_component

    info = collect(parse_component(data, lazy=False))
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"schema": 1, **info}, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(info, name, getattr(args, "summary", False)))
    return 0
