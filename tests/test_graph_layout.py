"""`wasmweld graph` pictures without overlaps (issue 15), checked geometrically on the SVG.

On a 3-module cycle an edge used to run under a box, a straight edge hid behind a box and 400 px
of the canvas were empty; on a large pair, labels covered titles and arrowheads. The built-in layout
and (when installed) Graphviz's are both checked: node boxes, label boxes and edge paths are read
back from the SVG; boxes may not overlap boxes, labels may not overlap boxes or each other, and no
edge may pass through a box (or, in the built-in layout, through a label or along another edge).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from wasmweld.link import merge_plan
from wasmweld.link.graph import dot_available, to_dot, to_svg

SVG = "{http://www.w3.org/2000/svg}"


def cycle(wat):
    """a -> b -> c -> a, each also importing from the host."""
    def mod(me, other):
        return wat(f'''(module (import "{other}" "f_{other}" (func (result i32)))
          (import "env" "clock_{me}" (func (result i32)))
          (func (export "f_{me}") (result i32) (i32.add (call 0) (call 1))))''')

    return [("a", mod("a", "b")), ("b", mod("b", "c")), ("c", mod("c", "a"))]


def large_pair(wat):
    """Two modules importing dozens of long-named functions from each other and from the host."""
    def mod(me, other, n=30):
        imps = "".join(f'(import "{other}" "{other}_exported_function_number_{i}" (func (result i32)))'
                       for i in range(n))
        host = "".join(f'(import "wasi_snapshot_preview1" "host_call_{me}_{i}" (func))' for i in range(5))
        exps = "".join(f'(func (export "{me}_exported_function_number_{i}") (result i32) (i32.const {i}))'
                       for i in range(n))
        return wat(f"(module {imps}{host}{exps})")

    return [("first_module_with_a_long_name", mod("first_module_with_a_long_name", "second")),
            ("second", mod("second", "first_module_with_a_long_name"))]


# ------------------------------------------------------------------------------ geometry

def overlap(a, b, slack=0.0):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax + slack < bx + bw and bx + slack < ax + aw and ay + slack < by + bh and by + slack < ay + ah


def seg_hits_rect(p, q, r, inset=0.5):
    """Does the segment p-q pass through the interior of rect r (shrunk by ``inset``)?"""
    x, y, w, h = r[0] + inset, r[1] + inset, r[2] - 2 * inset, r[3] - 2 * inset
    for i in range(101):  # sampled: segments are short next to the boxes
        t = i / 100
        px, py = p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t
        if x < px < x + w and y < py < y + h:
            return True
    return False


def builtin_shapes(svg):
    root = ET.fromstring(svg)
    nodes = [tuple(float(e.get(k)) for k in ("x", "y", "width", "height"))
             for e in root.iter(SVG + "rect") if e.get("class") == "node"]
    labels = [tuple(float(e.get(k)) for k in ("x", "y", "width", "height"))
              for e in root.iter(SVG + "rect") if e.get("class") == "label"]
    edges = []
    for e in root.iter(SVG + "path"):
        if e.get("class") == "edge":
            nums = [float(v) for v in re.findall(r"-?\d+\.?\d*", e.get("d"))]
            edges.append(list(zip(nums[0::2], nums[1::2])))
    return root, nodes, labels, edges


def check_builtin(svg, n_nodes, n_edges):
    root, nodes, labels, edges = builtin_shapes(svg)
    assert len(nodes) == n_nodes and len(edges) == n_edges and len(labels) == n_edges
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            assert not overlap(a, b), (a, b)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            assert not overlap(a, b), ("label vs label", a, b)
        for b in nodes:
            assert not overlap(a, b), ("label vs box", a, b)
    segments = [(k, p, q) for k, pts in enumerate(edges) for p, q in zip(pts, pts[1:])]
    for _k, p, q in segments:
        assert p[0] == q[0] or p[1] == q[1], "edges are orthogonal polylines"
        for r in nodes:
            assert not seg_hits_rect(p, q, r), ("edge through a box", p, q, r)
        for r in labels:
            assert not seg_hits_rect(p, q, r, inset=-0.5), ("edge through a label", p, q, r)
    # no two edges share a stretch (one would look like the other)
    for k1, p1, q1 in segments:
        for k2, p2, q2 in segments:
            if k1 >= k2:
                continue
            if p1[0] == q1[0] == p2[0] == q2[0]:      # both vertical on one x
                lo, hi = max(min(p1[1], q1[1]), min(p2[1], q2[1])), min(max(p1[1], q1[1]), max(p2[1], q2[1]))
                assert hi <= lo, ("shared vertical stretch", p1, q1, p2, q2)
            if p1[1] == q1[1] == p2[1] == q2[1]:      # both horizontal on one y
                lo, hi = max(min(p1[0], q1[0]), min(p2[0], q2[0])), min(max(p1[0], q1[0]), max(p2[0], q2[0]))
                assert hi <= lo, ("shared horizontal stretch", p1, q1, p2, q2)
    # every edge starts and ends on a box's right side
    for pts in edges:
        for end in (pts[0], pts[-1]):
            assert any(abs(end[0] - (r[0] + r[2])) < 0.01 and r[1] < end[1] < r[1] + r[3] for r in nodes)
    # the canvas fits the drawing: no empty band wider than the margins
    width, height = float(root.get("width")), float(root.get("height"))
    right = max([r[0] + r[2] for r in nodes + labels] + [x for pts in edges for x, _y in pts])
    bottom = max(r[1] + r[3] for r in nodes + labels)
    assert width - right <= 30 and height - bottom <= 30, (width, right, height, bottom)


def test_builtin_layout_of_a_three_module_cycle(wat):
    mp = merge_plan(cycle(wat), allow_unresolved=True)
    svg = to_svg(mp, {"a": "1 func", "b": "1 func", "c": "1 func"}, engine="builtin")
    check_builtin(svg, n_nodes=4, n_edges=6)   # a, b, c, host; 3 fusions + 3 host edges


def test_builtin_layout_of_a_large_pair(wat):
    mp = merge_plan(large_pair(wat), allow_unresolved=True)
    svg = to_svg(mp, engine="builtin")
    check_builtin(svg, n_nodes=3, n_edges=4)
    texts = [t.text for t in ET.fromstring(svg).iter(SVG + "text")]
    assert "+27 more" in texts and "first_module_with_a_long_name" in texts


# ------------------------------------------------------------------------------ Graphviz

def cubic(p0, p1, p2, p3, steps=24):
    for i in range(steps + 1):
        t = i / steps
        u = 1 - t
        yield (u ** 3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t ** 3 * p3[0],
               u ** 3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t ** 3 * p3[1])


def dot_shapes(dot_text):
    """Node boxes, edge sample points and label boxes as Graphviz laid them out (``dot -Tjson``: its own
    text widths, one coordinate frame, y up). The SVG that ``to_svg`` returns is drawn from the same layout."""
    import json
    import subprocess

    proc = subprocess.run([dot_available(), "-Tjson"], input=dot_text.encode(), capture_output=True, check=True)
    doc = json.loads(proc.stdout)
    nodes, edges, labels = {}, [], []
    for obj in doc.get("objects", []):
        x, y = map(float, obj["pos"].split(","))
        w, h = float(obj["width"]) * 72, float(obj["height"]) * 72
        nodes[obj["name"]] = (x - w / 2, y - h / 2, w, h)
    names = {i: o["name"] for i, o in enumerate(doc.get("objects", []))}
    for e in doc.get("edges", []):
        pts = [tuple(map(float, p.split(","))) for p in e["pos"].split() if not p.startswith(("e,", "s,"))]
        tip = [tuple(map(float, p[2:].split(","))) for p in e["pos"].split() if p.startswith("e,")]
        samples = []
        for i in range(0, len(pts) - 3, 3):
            samples += list(cubic(*pts[i:i + 4]))
        edges.append((f"{names[e['tail']]}->{names[e['head']]}", samples + tip))
        size, lines = 14.0, []
        for op in e.get("_ldraw_", []):
            if op["op"] == "F":
                size = float(op["size"])
            elif op["op"] == "T":
                lines.append((op["pt"], float(op["width"]), size))
        for (x, y), w, sz in lines:  # align "c": pt is the baseline centre
            labels.append((x - w / 2, y - 0.25 * sz, w, sz))
    return nodes, edges, labels


@pytest.mark.parametrize("world", [cycle, large_pair])
def test_graphviz_layout_has_no_overlaps(wat, world):
    if dot_available() is None:
        pytest.fail("Graphviz 'dot' is not installed: `make test` installs it (make sysdeps)", pytrace=False)
    mp = merge_plan(world(wat), allow_unresolved=True)
    svg = to_svg(mp, engine="dot")
    assert ET.fromstring(svg).tag == SVG + "svg" and svg.count('class="edge"') == to_dot(mp).count("->")
    nodes, edges, labels = dot_shapes(to_dot(mp))
    assert set(nodes) == set(mp.inputs) | {"host"}
    boxes = list(nodes.values())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not overlap(a, b)
    for i, a in enumerate(labels):
        for b in boxes:
            assert not overlap(a, b, slack=1), ("label vs box", a, b)
        for b in labels[i + 1:]:
            assert not overlap(a, b, slack=1), ("label vs label", a, b)
    for title, samples in edges:
        for name, r in nodes.items():
            inner = (r[0] + 3, r[1] + 3, r[2] - 6, r[3] - 6)
            assert not any(inner[0] < x < inner[0] + inner[2] and inner[1] < y < inner[1] + inner[3]
                           for x, y in samples), (title, "passes through", name)
    assert to_dot(mp).count("->") == len(edges)
    # labels are not glued to boxes' titles: no label closer than 2 pt to a box
    for a in labels:
        for b in boxes:
            assert not overlap((a[0] - 2, a[1] - 2, a[2] + 4, a[3] + 4), b)


def test_cli_layout_option(tmp_path, wat, monkeypatch, capsys):
    from wasmweld.cli.main import main

    monkeypatch.chdir(tmp_path)
    args = []
    for name, data in cycle(wat):
        (tmp_path / f"{name}.wasm").write_bytes(data)
        args.append(f"{name}.wasm={name}")
    assert main(["graph", *args, "--layout", "builtin", "-o", "b.svg"]) == 0
    check_builtin((tmp_path / "b.svg").read_text(), n_nodes=4, n_edges=6)
    if dot_available():
        assert main(["graph", *args, "--layout", "dot", "-o", "d.svg"]) == 0
        assert 'class="graph"' in (tmp_path / "d.svg").read_text()  # Graphviz's own markup
    else:
        assert main(["graph", *args, "--layout", "dot", "-o", "d.svg"]) == 1
        assert "Graphviz 'dot' is not installed" in capsys.readouterr().err
