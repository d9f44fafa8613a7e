"""A picture of a merge: inputs as boxes, fusions as arrows (``wasmweld graph``).

Each input is a box; each (importer, exporter) pair with at least one fusion
is an arrow from the importer to the exporter, labelled with the imported
names; imports that stay unresolved point at a dashed ``host`` box. For
``bank`` importing ``ledger.credit`` and ``logger.log``, and ``ledger``
importing ``logger.log`` and ``env.now``, the DOT form is::

    digraph world {
      rankdir=RL;
      "logger" [label="logger\\n1 func, 1 memory"];
      ...
      "bank" -> "ledger" [label="credit"];
      "bank" -> "logger" [label="log"];
      "ledger" -> "logger" [label="log"];
      "ledger" -> "host" [label="env.now"];
    }

:func:`to_svg` draws the graph with Graphviz's ``dot`` when it is installed, else
with its own layout (:func:`svg_layout`), in which no box, label or edge overlaps
another: boxes in a column, each edge in its own lane.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..module import Module

from .merge import MergePlan

__all__ = ["graph_edges", "to_dot", "to_svg", "svg_layout", "dot_available", "input_stats"]

HOST = "host"
MAX_LABEL_LINES = 4


def graph_edges(plan: MergePlan) -> dict[tuple[str, str], list[str]]:
    """(importer, exporter or "host") -> the import labels on that arrow, in order."""
    edges: dict[tuple[str, str], list[str]] = {}
    for f in plan.fusions:
        label = f.name if f.name == f.export else f"{f.name} (as {f.export})"
        edges.setdefault((f.importer, f.exporter), []).append(label)
    for u in plan.unresolved:
        for imp in u.importers:
            edges.setdefault((imp, HOST), []).append(f"{u.module}.{u.name}")
    return edges


def _label(items: list[str]) -> list[str]:
    if len(items) <= MAX_LABEL_LINES:
        return list(items)
    return items[: MAX_LABEL_LINES - 1] + [f"+{len(items) - MAX_LABEL_LINES + 1} more"]


def _dot_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(plan: MergePlan, stats: dict[str, str] | None = None) -> str:
    """The graph in Graphviz DOT."""
    stats = stats or {}
    edges = graph_edges(plan)
    lines = ["digraph world {", "  rankdir=RL;", "  nodesep=0.35; ranksep=0.6;",
             '  node [shape=box, style=rounded, fontname="sans-serif"];',
             '  edge [fontname="sans-serif", fontsize=10, penwidth=1.3, color="#333333"];']
    for name in plan.inputs:
        text = name + (f"\\n{stats[name]}" if name in stats else "")
        lines.append(f"  {_dot_str(name)} [label=\"{text.replace(chr(34), '')}\"];")
    if any(dst == HOST for _src, dst in edges):
        lines.append(f'  {_dot_str(HOST)} [shape=box, style=dashed, label="host"];')
    for (src, dst), items in edges.items():
        label = "\\n".join(s.replace("\\", "\\\\").replace('"', '\\"') for s in _label(items))
        style = ", style=dashed" if dst == HOST else ""
        lines.append(f"  {_dot_str(src)} -> {_dot_str(dst)} [label=\"{label}\"{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ SVG layout
#
# The built-in layout (used when Graphviz is not installed) is a "bus" drawing that cannot overlap:
#
#   +--------+  label of edge 1 (above its own wire)
#   | bank   |--------------------------------------+      lane 1
#   |        |  label of edge 2                      |  +   lane 2
#   |        |-----------------------------------------+  |
#   +--------+                                     |  |  |
#   +--------+                                     |  |  |
#   | ledger |<------------------------------------+  |  |
#   ...
#
# Boxes stand in one column. Every edge leaves its source's right side at its own slot, runs right to
# its own vertical lane (lanes lie right of every box and every label), along the lane, and back left
# into its target's right side at the target's own slot. A slot is a band of y that no other edge
# uses, so an edge's horizontal runs never meet another's; its label sits just above its first run,
# inside the source's slot, left of every lane: labels meet no box, no other label and no other edge.

BOX_W = 200          # box width
HEADER_H = 46        # title + stats lines at the top of a box
LINE_H = 13          # one label line
IN_SLOT_H = 16       # the band an incoming edge needs
PAD = 6
LANE_GAP = 14        # between two vertical lanes
MARGIN = 24
GAP_Y = 22           # between two boxes
CHAR_W = 6.6         # width of one character at font-size 11 (generous, so that labels never spill)


def _label_size(lines: list[str]) -> tuple[float, float]:
    return max(len(s) for s in lines) * CHAR_W + 2 * PAD, LINE_H * len(lines) + 4


def svg_layout(plan: MergePlan, stats: dict[str, str] | None = None) -> dict[str, Any]:
    """The built-in layout as numbers: ``{"width", "height", "boxes", "edges", "labels"}``.

    ``boxes``: name -> (x, y, w, h); ``edges``: list of ``{"src", "dst", "points", "items"}`` with
    the orthogonal polyline from the source's right side to the target's; ``labels``: list of
    ``(x, y, w, h, lines)``. :func:`to_svg` draws it; the tests check it has no overlaps.
    """
    stats = stats or {}
    edges = graph_edges(plan)
    has_host = any(dst == HOST for _s, dst in edges)
    names = list(plan.inputs) + ([HOST] if has_host else [])
    labels_of = {key: _label(items) for key, items in edges.items()}
    out_of: dict[str, list] = {n: [] for n in names}
    in_of: dict[str, list] = {n: [] for n in names}
    for key in edges:
        out_of[key[0]].append(key)
        in_of[key[1]].append(key)
    label_w = max((_label_size(lines)[0] for lines in labels_of.values()), default=0.0)
    left = MARGIN
    box_right = left + BOX_W
    # y of each slot, box by box: outgoing edges (label above the wire), then incoming ones
    boxes: dict[str, tuple[float, float, float, float]] = {}
    out_y: dict[tuple[str, str], float] = {}
    in_y: dict[tuple[str, str], float] = {}
    y = float(MARGIN)
    for n in names:
        cur = y + HEADER_H
        for key in out_of[n]:
            cur += _label_size(labels_of[key])[1] + PAD
            out_y[key] = cur
            cur += PAD
        for key in in_of[n]:
            cur += IN_SLOT_H / 2
            in_y[key] = cur
            cur += IN_SLOT_H / 2
        h = max(cur + PAD - y, 54.0)
        boxes[n] = (left, y, BOX_W, h)
        y += h + GAP_Y
    # lanes: shorter vertical runs nearer the boxes (fewer crossings)
    lane_x0 = box_right + PAD + label_w + 2 * LANE_GAP
    order = sorted(edges, key=lambda k: (abs(out_y[k] - in_y[k]), out_y[k]))
    lane = {key: lane_x0 + i * LANE_GAP for i, key in enumerate(order)}
    drawn = []
    labels = []
    for key, items in edges.items():
        y1, y2, x = out_y[key], in_y[key], lane[key]
        drawn.append({"src": key[0], "dst": key[1], "items": items,
                      "points": [(box_right, y1), (x, y1), (x, y2), (box_right, y2)]})
        w, h = _label_size(labels_of[key])
        labels.append((box_right + PAD, y1 - h - 2, w, h, labels_of[key]))
    width = (max(lane.values()) if lane else box_right) + MARGIN
    height = max(y - GAP_Y + MARGIN, 2 * MARGIN + 54)
    return {"width": width, "height": height, "boxes": boxes, "edges": drawn, "labels": labels,
            "host": HOST if has_host else None}


def _svg_builtin(plan: MergePlan, stats: dict[str, str]) -> str:
    lay = svg_layout(plan, stats)
    width, height = lay["width"], lay["height"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">',
        "<title>wasmweld merge: " + escape(", ".join(plan.inputs)) + "</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
    ]
    for n, (x, y, w, h) in lay["boxes"].items():
        host = n == lay["host"]
        fill, stroke = ("#f4f4f4", "#666") if host else ("#e8f0fe", "#3b6fd8")
        dash = ' stroke-dasharray="6 4"' if host else ""
        out.append(f'<rect class="node" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="8" '
                   f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}><title>{escape(n)}</title></rect>')
        out.append(f'<text x="{x + 12:.1f}" y="{y + 20:.1f}" font-size="15" font-weight="bold"'
                   f'{" fill=" + chr(34) + "#555" + chr(34) if host else ""}>{escape(n)}</text>')
        if n in stats:
            out.append(f'<text x="{x + 12:.1f}" y="{y + 37:.1f}" font-size="11" fill="#444">'
                       f'{escape(stats[n])}</text>')
    for e in lay["edges"]:
        d = "M " + " L ".join(f"{px:.1f} {py:.1f}" for px, py in e["points"])
        host = e["dst"] == HOST
        style = ' stroke="#555" stroke-width="1.6" stroke-dasharray="7 4"' if host else \
            ' stroke="#333" stroke-width="1.5"'
        out.append(f'<path class="edge" d="{d}" fill="none"{style} marker-end="url(#arrow)">'
                   f'<title>{escape(e["src"])} imports from {escape(e["dst"])}: '
                   f'{escape(", ".join(e["items"]))}</title></path>')
    for x, y, w, h, lines in lay["labels"]:
        out.append(f'<rect class="label" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="white"/>')
        for i, text in enumerate(lines):
            out.append(f'<text x="{x + PAD:.1f}" y="{y + LINE_H * (i + 1) - 1:.1f}" font-size="11" '
                       f'fill="#222">{escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def dot_available() -> str | None:
    """The path of Graphviz's ``dot``, or None."""
    import shutil

    return shutil.which("dot")


def to_svg(plan: MergePlan, stats: dict[str, str] | None = None, *, engine: str = "auto") -> str:
    """The graph as a standalone SVG document.

    ``engine``: ``"dot"`` lays it out with Graphviz (``dot -Tsvg`` on :func:`to_dot`'s text),
    ``"builtin"`` with wasmweld's own layout (no overlaps by construction; see
    :func:`svg_layout`), ``"auto"`` (default) Graphviz when ``dot`` is installed, else built-in.
    """
    stats = stats or {}
    if engine not in ("auto", "dot", "builtin"):
        raise ValueError(f"unknown graph layout engine {engine!r}")
    dot = dot_available() if engine != "builtin" else None
    if engine == "dot" and dot is None:
        from ..errors import WasmError

        raise WasmError("Graphviz 'dot' is not installed (Debian: apt-get install graphviz)")
    if dot is None:
        return _svg_builtin(plan, stats)
    import subprocess

    from ..errors import WasmError

    try:
        proc = subprocess.run([dot, "-Tsvg"], input=to_dot(plan, stats).encode("utf-8"), capture_output=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WasmError(f"Graphviz 'dot' failed: {exc}") from None
    if proc.returncode != 0:
        raise WasmError(f"Graphviz 'dot' failed: {proc.stderr.decode('utf-8', 'replace').strip()[:300]}")
    return proc.stdout.decode("utf-8")


def input_stats(module: Module) -> str:
    """A one-line summary of a module for its box: ``12 funcs, 1 memory, 3 imports``."""
    parts = []
    nf = len(module.funcs)
    parts.append(f"{nf} func{'s' if nf != 1 else ''}")
    nm = module.num_memories
    if nm:
        parts.append(f"{nm} memor{'ies' if nm != 1 else 'y'}")
    ni = len(module.imports)
    parts.append(f"{ni} import{'s' if ni != 1 else ''}")
    return ", ".join(parts)
