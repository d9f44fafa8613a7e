"""``wasmweld info FILE [--json]``: what is in a module, at a glance.

For ``(module (import "env" "log" (func (param i32))) (memory 1)
(func (export "run") i32.const 42 call 0))``::

    $ wasmweld info run.wat
    file      run.wat, 63 bytes
    sections  id  kind    offset  size
              1   type    0x08       8
              ...
    counts    imported  defined  total
      funcs          1        1      2
    ...

Sections with offsets and sizes (custom sections by name), the counts of every
index space (imported + defined), imports, exports, memories and tables with
their limits, the start function, the features the module uses (with the first
place that needs each, see :mod:`wasmweld.features`), the ``producers`` and
``target_features`` custom sections, and the size of code and data.
``--summary`` leaves out the per-item lists (imports, exports).

``--json`` prints one JSON object with these keys (stable; new keys may be added):

``schema``
    ``1``: the version of this layout (a change that breaks readers increments it)
``size``
    file size in bytes
``sections``
    list of ``{"id", "kind", "name", "offset", "payload_offset", "size"}`` in file
    order; ``kind`` is the spec name (``"custom"`` for id 0), ``name`` the custom
    section's name (null for known sections), ``offset`` the absolute offset of
    the id byte, ``size`` the payload size
``counts``
    ``{space: {"imported", "defined", "total"}}`` for ``types``, ``funcs``,
    ``tables``, ``memories``, ``globals``, ``tags``, ``elems``, ``datas``
``imports``
    list of ``{"module", "name", "kind", "index"}`` plus, by kind: func ``type``;
    table ``element``, ``min``, ``max``, ``table64``; memory ``min``, ``max``,
    ``shared``, ``memory64``; global ``type``, ``mutable``; tag ``type``
``exports``
    list of ``{"name", "kind", "index"}``
``memories`` / ``tables``
    every memory / table of the index space: ``{"index", "imported", "min", "max",
    "shared", "memory64"}`` / ``{"index", "imported", "element", "min", "max", "table64"}``
``start``
    the start function index or null
``features`` / ``feature_evidence``
    the feature names in :data:`wasmweld.features.FEATURES` order / ``{feature: where}``
``producers``
    ``{field: {name: version}}`` or null
``target_features``
    list of ``"+name"`` / ``"-name"`` / ``"=name"`` or null
``dylink``
    the ``dylink.0`` (or legacy ``dylink``) section of a side module, or null: ``{"section", "mem_size",
    "mem_align", "table_size", "table_align", "needed", "export_info": [[name, flags]], "import_info":
    [[module, field, flags]]}`` (alignments in bytes / slots)
``code``
    ``{"bodies", "body_bytes", "section_bytes"}`` (body bytes exclude the size prefixes)
``data``
    ``{"segments", "bytes", "section_bytes"}`` (bytes: segment contents)
``warnings``
    list of strings (e.g. a malformed producers section, kept raw)
"""

from __future__ import annotations

from typing import Any

import json
import sys

from wasmweld.errors import DecodeError
from wasmweld.types import ExternKind, FuncType
from argparse import ArgumentParser, Namespace
from wasmweld.module import Module

NAME = "info"
_KIND_NAMES = {ExternKind.FUNC: "func", ExternKind.TABLE: "table", ExternKind.MEMORY: "memory",
               ExternKind.GLOBAL: "global", ExternKind.TAG: "tag"}


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="summarise a module: sections, counts, imports, exports, features",
        description="Print the sections, index space counts, imports, exports, memories, tables, start "
        "function, features used, producers and code/data sizes of a module.",
    )
    p.add_argument("file", metavar="FILE", help="binary (.wasm) or text (.wat) module; '-' for stdin")
    p.add_argument("--json", action="store_true", help="print one JSON object (keys: see the module docs)")
    p.add_argument("--summary", action="store_true", help="leave out the lists of imports and exports")
    return p


# ---------------------------------------------------------------------------------------------
# collecting
# ---------------------------------------------------------------------------------------------

def _limits(lim, is_table: bool) -> dict:
    d = {"min": lim.min, "max": lim.max}
    if is_table:
        d["table64"] = lim.is64
    else:
        d["shared"] = lim.shared
        d["memory64"] = lim.is64
    return d


def collect(data: bytes) -> dict[str, Any]:
    """The ``--json`` object for the module ``data`` (binary)."""
    return _collect(data)[0]


def _collect(data: bytes):
    from wasmweld.features import detect_features
    from wasmweld.module import parse

    m = parse(data)
    warnings: list[str] = []
    sections = [
        {"id": s.id, "kind": s.kind, "name": s.name if s.id == 0 else None,
         "offset": s.offset, "payload_offset": s.payload_offset, "size": s.size}
        for s in m.sections
    ]
    imports = []
    next_index = dict.fromkeys(_KIND_NAMES.values(), 0)
    memories = []
    tables = []
    for imp in m.imports:
        kind = _KIND_NAMES[imp.kind]
        idx = next_index[kind]
        next_index[kind] += 1
        item = {"module": imp.module, "name": imp.name, "kind": kind, "index": idx}
        d = imp.desc
        if kind == "func":
            item["type"] = d
        elif kind == "table":
            item["element"] = str(d.elem)
            item.update(_limits(d.limits, True))
            tables.append({"index": idx, "imported": True, "element": str(d.elem), **_limits(d.limits, True)})
        elif kind == "memory":
            item.update(_limits(d.limits, False))
            memories.append({"index": idx, "imported": True, **_limits(d.limits, False)})
        elif kind == "global":
            item["type"] = str(d.val)
            item["mutable"] = d.mutable
        else:
            item["type"] = d.type_idx
        imports.append(item)
    for t in m.tables:
        tables.append({"index": len(tables), "imported": False, "element": str(t.type.elem),
                       **_limits(t.type.limits, True)})
    for mt in m.memories:
        memories.append({"index": len(memories), "imported": False, **_limits(mt.limits, False)})
    ntypes = sum(len(rg.types) for rg in m.types)

    def space(imported: int, defined: int) -> dict:
        return {"imported": imported, "defined": defined, "total": imported + defined}

    counts = {
        "types": space(0, ntypes),
        "funcs": space(next_index["func"], len(m.funcs)),
        "tables": space(next_index["table"], len(m.tables)),
        "memories": space(next_index["memory"], len(m.memories)),
        "globals": space(next_index["global"], len(m.globals)),
        "tags": space(next_index["tag"], len(m.tags)),
        "elems": space(0, len(m.elems)),
        "datas": space(0, len(m.datas)),
    }
    exports = [{"name": e.name, "kind": _KIND_NAMES[e.kind], "index": e.index} for e in m.exports]

    producers = target_features = None
    try:
        p = m.producers
        if p is not None:
            producers = {k: dict(v) for k, v in p.fields.items()}
    except DecodeError as e:
        warnings.append(f"producers section kept raw: {e}")
    try:
        tf = m.target_features
        if tf is not None:
            target_features = [prefix + name for prefix, name in tf.features]
    except DecodeError as e:
        warnings.append(f"target_features section kept raw: {e}")
    dylink = _dylink(m, warnings)

    _cheap_checks(m)
    code_sec = next((s for s in m.sections if s.id == 10), None)
    data_sec = next((s for s in m.sections if s.id == 11), None)
    code = {"bodies": len(m.code), "body_bytes": sum(len(b.raw) for b in m.code),
            "section_bytes": code_sec.size if code_sec else 0}
    data_info = {"segments": len(m.datas), "bytes": sum(len(d.init) for d in m.datas),
                 "section_bytes": data_sec.size if data_sec else 0}
    evidence = detect_features(m)
    return {
        "size": len(data),
        "sections": sections,
        "counts": counts,
        "imports": imports,
        "exports": exports,
        "memories": memories,
        "tables": tables,
        "start": m.start,
        "features": list(evidence),
        "feature_evidence": evidence,
        "producers": producers,
        "target_features": target_features,
        "dylink": dylink,
        "code": code,
        "data": data_info,
        "warnings": warnings,
    }, m


def _dylink(m: Module, warnings: list[str]) -> dict | None:
    """The ``dylink`` key: a side module's ``dylink.0`` (or legacy ``dylink``) section, or None."""
    try:
        dl = m.dylink
    except DecodeError as e:
        warnings.append(f"dylink section kept raw: {e}")
        return None
    if dl is None:
        return None
    return {"section": dl.section_name, "mem_size": dl.mem_size, "mem_align": dl.mem_alignment,
            "table_size": dl.table_size, "table_align": dl.table_alignment, "needed": list(dl.needed),
            "export_info": [[x.name, x.flags] for x in dl.export_info],
            "import_info": [[x.module, x.field, x.flags] for x in dl.import_info]}


def _cheap_checks(m: Module) -> None:
    """The cross-section checks of the full decoder that cost nothing here.

    Bodies are not decoded, but the feature scan tokenizes every instruction (illegal opcodes,
    bad integers, truncation, a missing final ``end``, memory.init without a data count section);
    only the nesting of blocks goes unchecked (``wasmweld validate`` checks everything).
    """
    secs = {s.id: s for s in m.sections}
    if len(m.funcs) != len(m.code):
        sec = secs.get(10) or secs.get(3)
        raise DecodeError("function and code section have inconsistent lengths", sec.offset if sec else len(m.data),
                          f"{len(m.funcs)} functions, {len(m.code)} bodies")
    dc = m.datacount
    if dc is not None and dc != len(m.datas):
        sec = secs.get(11) or secs.get(12)
        raise DecodeError("data count and data section have inconsistent lengths", sec.offset if sec else len(m.data),
                          f"data count {dc}, {len(m.datas)} data segments")


# ---------------------------------------------------------------------------------------------
# human output
# ---------------------------------------------------------------------------------------------

def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _table(rows: list[list[str]], indent: str = "  ", right: tuple[int, ...] = ()) -> list[str]:
    """Rows of cells as aligned columns (columns in ``right`` right-aligned)."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    out = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _n(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _limits_text(d: dict) -> str:
    parts = ["i64" if d.get("memory64") or d.get("table64") else "i32", f"min {d['min']}"]
    if d["max"] is not None:
        parts.append(f"max {d['max']}")
    if d.get("shared"):
        parts.append("shared")
    return "  ".join(parts)


def _signature(m: Module, type_index: int) -> str:
    try:
        comp = m.type_list()[type_index].comp
    except IndexError:
        return f"type {type_index} (out of range)"
    if isinstance(comp, FuncType):
        return f"type {type_index} {comp}"
    return f"type {type_index}"


def _func_name(m, index: int) -> str:
    """``<name>`` of function ``index`` from the name section (as wasm-objdump shows it), else ``""``."""
    try:
        ns = m.names
    except DecodeError:
        return ""
    name = ns.funcs.get(index) if ns is not None else None
    return "" if name is None else f"<{name}>"


def _names_column(rows: list[list[str]]) -> list[list[str]]:
    """Drop the function-name column (index 2) when no row has a name."""
    return rows if any(r[2] for r in rows) else [r[:2] + r[3:] for r in rows]


def render(info: dict[str, Any], m: Module, name: str, summary: bool = False) -> str:
    """The human-readable report of :func:`collect`'s ``info`` about module ``m``."""
    lines = [f"file: {name}, {info['size']} bytes", ""]
    width = max(4, len(f"{info['size']:x}"))
    rows = [["id", "section", "offset", "size"]]
    for s in info["sections"]:
        label = f"custom {_q(s['name'])}" if s["id"] == 0 else s["kind"]
        rows.append([str(s["id"]), label, f"0x{s['offset']:0{width}x}", str(s["size"])])
    lines.append(f"sections ({len(info['sections'])}):")
    lines += _table(rows, right=(0, 3))
    lines.append("")
    rows = [["index space", "imported", "defined", "total"]]
    for sp, c in info["counts"].items():
        rows.append([sp, str(c["imported"]), str(c["defined"]), str(c["total"])])
    lines += _table(rows, indent="", right=(1, 2, 3))
    if not summary:
        lines.append("")
        lines.append(f"imports ({len(info['imports'])}):")
        rows = []
        for imp in info["imports"]:
            k = imp["kind"]
            if k == "func":
                desc = _signature(m, imp["type"])
            elif k == "table":
                desc = f"{imp['element']}  {_limits_text(imp)}"
            elif k == "memory":
                desc = _limits_text(imp)
            elif k == "global":
                desc = f"(mut {imp['type']})" if imp["mutable"] else imp["type"]
            else:
                desc = f"type {imp['type']}"
            rows.append([k, str(imp["index"]), _func_name(m, imp["index"]) if k == "func" else "",
                         _q(imp["module"]), _q(imp["name"]), desc])
        lines += _table(_names_column(rows), right=(1,))
        lines.append(f"exports ({len(info['exports'])}):")
        lines += _table(_names_column([[e["kind"], str(e["index"]),
                                        _func_name(m, e["index"]) if e["kind"] == "func" else "",
                                        _q(e["name"])] for e in info["exports"]]), right=(1,))
    lines.append("")
    lines.append(f"memories ({len(info['memories'])}):")
    lines += _table([["memory", str(x["index"]), "imported" if x["imported"] else "defined", _limits_text(x)]
                     for x in info["memories"]], right=(1,))
    lines.append(f"tables ({len(info['tables'])}):")
    lines += _table([["table", str(x["index"]), "imported" if x["imported"] else "defined", x["element"],
                      _limits_text(x)] for x in info["tables"]], right=(1,))
    start = info["start"]
    lines.append("start: " + ("none" if start is None else f"func {start} {_func_name(m, start)}".rstrip()))
    lines.append("")
    feats = info["feature_evidence"]
    lines.append(f"features ({len(feats)}):" + ("" if feats else " none beyond MVP"))
    lines += _table([[f, ev] for f, ev in feats.items()])
    if info["producers"] is not None:
        lines.append("producers:")
        rows = []
        for field, values in info["producers"].items():
            for tool, version in values.items():
                rows.append([field, f"{tool} {version}".rstrip()])
        lines += _table(rows)
    if info["target_features"] is not None:
        lines.append("target_features: " + (" ".join(info["target_features"]) or "(empty)"))
    dl = info["dylink"]
    if dl is not None:  # a side module / dynamic main: what the loader reserves for it
        lines.append(f"{dl['section']}: memory {_n(dl['mem_size'], 'byte')} (align {dl['mem_align']}), "
                     f"table {_n(dl['table_size'], 'slot')} (align {dl['table_align']}), "
                     f"needed: {', '.join(dl['needed']) or 'none'}")
    c, d = info["code"], info["data"]
    lines.append("")
    lines.append(f"code: {_n(c['bodies'], 'body', 'bodies')}, {_n(c['body_bytes'], 'byte')} "
                 f"(section {_n(c['section_bytes'], 'byte')})")
    lines.append(f"data: {_n(d['segments'], 'segment')}, {_n(d['bytes'], 'byte')} "
                 f"(section {_n(d['section_bytes'], 'byte')})")
    for w in info["warnings"]:
        lines.append(f"warning: {w}")
    return "\n".join(lines) + "\n"


def run(args: Namespace) -> int:
    from wasmweld.cli.io import display_name, read_input

    data = read_input(args.file)
    if data[:8] == b"\0asm\x0d\0\x01\0":  # a component: wasmweld.component.inspect
        from wasmweld.component.inspect import run_info
        rc = run_info(args, data, display_name(args.file))
        if not args.json:
            sys.stdout.write(_fuse_adapters(data))
        return rc
    info, m = _collect(data)
    if args.json:
        adapters = _fuse_adapters(m, as_text=False)
        sys.stdout.write(json.dumps({"schema": 1, **info, **({"fuse_adapters": adapters} if adapters else {})},
                                    indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(info, m, display_name(args.file), args.summary) + _fuse_adapters(m))
    return 0


def _fuse_adapters(x: Module | bytes, as_text: bool = True) -> Any:
    """The adapters a ``wasmweld fuse`` output records (:mod:`wasmweld.fuse.record`): text, or the
    list for ``--json``; for a component, those of its first core module."""
    if isinstance(x, Module):
        m = x
    else:
        from wasmweld.component import parse_component
        from wasmweld.errors import WasmError

        try:
            mods = parse_component(x).modules
            if not mods or mods[0].custom("wasmweld:fuse") is None:
                return ""
        except WasmError:              # what the component report said is enough
            return ""
        m = mods[0]
    if m.custom("wasmweld:fuse") is None:
        return "" if as_text else []
    from wasmweld.fuse.record import adapters, render as render_adapters

    return render_adapters(m) if as_text else adapters(m)
