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

:func:`to_svg` lays the same graph out by itself (no Graphviz needed):
exporters to the left of their importers, the host box leftmost.
"""

from __future__ import annotations

from html import escape

from .merge import MergePlan

__all__ = ["graph_edges", "to_dot", "to_svg"]

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
    lines = ["digraph world {", "  rankdir=RL;", '  node [shape=box, style=rounded, fontname="sans-serif"];',
             '  edge [fontname="sans-serif", fontsize=10];']
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


def _levels(plan: MergePlan, edges) -> dict[str, int]:
    """Column of each input: 0 for inputs that import from no other input, else 1 + the deepest exporter."""
    level = {n: 0 for n in plan.inputs}
    deps = {n: set() for n in plan.inputs}
    for (src, dst) in edges:
        if dst != HOST and src != dst:
            deps[src].add(dst)
    for _ in range(len(plan.inputs)):       # longest path, bounded (cycles stop growing)
        changed = False
        for n in plan.inputs:
            want = max((level[d] + 1 for d in deps[n]), default=0)
            if want > level[n] and want < len(plan.inputs):
                level[n] = want
                changed = True
        if not changed:
            break
    return level


def to_svg(plan: MergePlan, stats: dict[str, str] | None = None) -> str:
    """The graph as a standalone SVG document."""
    stats = stats or {}
    edges = graph_edges(plan)
    has_host = any(dst == HOST for _s, dst in edges)
    level = _levels(plan, edges)
    col_of = {n: level[n] + (1 if has_host else 0) for n in plan.inputs}
    if has_host:
        col_of[HOST] = 0
    columns: dict[int, list[str]] = {}
    for n in ([HOST] if has_host else []) + plan.inputs:
        columns.setdefault(col_of[n], []).append(n)
    box_w, box_h, gap_x, gap_y, margin = 190, 54, 200, 70, 30
    ncols = max(columns) + 1 if columns else 1
    nrows = max(len(v) for v in columns.values()) if columns else 1
    width = margin * 2 + ncols * box_w + (ncols - 1) * gap_x
    band = 90                                  # room above and below the boxes for arrows that bow around
    height = margin * 2 + band * 2 + nrows * box_h + (nrows - 1) * gap_y
    pos: dict[str, tuple[float, float]] = {}
    for c, names in columns.items():
        total = len(names) * box_h + (len(names) - 1) * gap_y
        y0 = (height - total) / 2
        for r, n in enumerate(names):
            pos[n] = (margin + c * (box_w + gap_x), y0 + r * (box_h + gap_y))
    top = min(y for _x, y in pos.values()) if pos else margin
    bottom = max(y for _x, y in pos.values()) + box_h if pos else height - margin
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">',
        "<title>wasmweld merge: " + escape(", ".join(plan.inputs)) + "</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#444"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
    ]
    # where each arrow leaves its source and reaches its target: spread along the box edges
    outgoing: dict[str, list] = {}
    incoming: dict[str, list] = {}
    for key in edges:
        outgoing.setdefault(key[0], []).append(key)
        incoming.setdefault(key[1], []).append(key)
    for lst in list(outgoing.values()) + list(incoming.values()):
        lst.sort(key=lambda k: (pos[k[1]][1], pos[k[0]][1]))

    def spread(lst, key):
        i = lst.index(key)
        return box_h * (i + 1) / (len(lst) + 1)

    labels = []
    n_bowed = 0
    for (src, dst), items in edges.items():
        sx, sy = pos[src]
        dx, dy = pos[dst]
        span = col_of[src] - col_of[dst]
        if src == dst:      # an input importing its own export
            x1, y1 = sx + box_w * 0.7, sy
            path = f"M {x1:.1f} {y1:.1f} C {x1 + 40:.1f} {y1 - 60:.1f}, {x1 - 80:.1f} {y1 - 60:.1f}, " \
                   f"{sx + box_w * 0.3:.1f} {y1:.1f}"
            lx, ly = sx + box_w / 2, sy - 48
        elif span == 1:       # to the next column on the left: a straight arrow
            x1, y1 = sx, sy + spread(outgoing[src], (src, dst))
            x2, y2 = dx + box_w, dy + spread(incoming[dst], (src, dst))
            path = f"M {x1:.1f} {y1:.1f} L {x2:.1f} {y2:.1f}"
            lx, ly = (x1 + x2) / 2, (y1 + y2) / 2
        else:                   # further away, the same column or backwards: bow around the boxes
            up = n_bowed % 2 == 0
            n_bowed += 1
            yb = (top - band * 0.8) if up else (bottom + band * 0.8)
            x1, y1 = sx + box_w / 2, (sy if up else sy + box_h)
            x2, y2 = dx + box_w / 2, (dy if up else dy + box_h)
            path = f"M {x1:.1f} {y1:.1f} C {x1:.1f} {yb:.1f}, {x2:.1f} {yb:.1f}, {x2:.1f} {y2:.1f}"
            lx, ly = (x1 + x2) / 2, 0.125 * y1 + 0.75 * yb + 0.125 * y2
        dash = ' stroke-dasharray="6 4"' if dst == HOST else ""
        out.append(f'<path d="{path}" fill="none" stroke="#444" stroke-width="1.4"{dash} '
                   f'marker-end="url(#arrow)"><title>{escape(src)} imports from {escape(dst)}: '
                   f'{escape(", ".join(items))}</title></path>')
        labels.append((lx, ly, _label(items)))
    for n in ([HOST] if has_host else []) + plan.inputs:
        x, y = pos[n]
        if n == HOST:
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="8" fill="#f4f4f4" '
                       f'stroke="#888" stroke-dasharray="6 4"/>')
            out.append(f'<text x="{x + box_w / 2:.1f}" y="{y + box_h / 2 + 5:.1f}" text-anchor="middle" '
                       f'font-size="15" fill="#555">host</text>')
            continue
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="8" fill="#e8f0fe" '
                   f'stroke="#3b6fd8" stroke-width="1.5"/>')
        out.append(f'<text x="{x + box_w / 2:.1f}" y="{y + 22:.1f}" text-anchor="middle" font-size="15" '
                   f'font-weight="bold">{escape(n)}</text>')
        if n in stats:
            out.append(f'<text x="{x + box_w / 2:.1f}" y="{y + 40:.1f}" text-anchor="middle" font-size="11" '
                       f'fill="#444">{escape(stats[n])}</text>')
    for lx, ly, lines in labels:
        h = 13 * len(lines) + 4
        w = max(len(s) for s in lines) * 6.2 + 8
        out.append(f'<rect x="{lx - w / 2:.1f}" y="{ly - h / 2:.1f}" width="{w:.1f}" height="{h}" fill="white" '
                   f'fill-opacity="0.85"/>')
        for i, s in enumerate(lines):
            out.append(f'<text x="{lx:.1f}" y="{ly - h / 2 + 13 * (i + 1):.1f}" text-anchor="middle" '
                       f'font-size="11" fill="#222">{escape(s)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def input_stats(module) -> str:
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
