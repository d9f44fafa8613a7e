"""The README's picture of `wasmweld graph` (issue 15): made here, by headless Chromium from Debian.

The test draws the bundled examples' graph with the CLI (Graphviz layout), loads the SVG in headless
Chromium, takes a screenshot and checks the picture: a PNG of the SVG's size, mostly white, with the
boxes' and arrows' dark pixels present. ``BLESS=1`` (or a missing file) writes it to
docs/images/world-graph.png, the file the README shows; otherwise the committed picture must have the
size this run produced (the same layout).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from wasmweld.cli.main import main
from wasmweld.link.graph import dot_available

REPO = Path(__file__).resolve().parent.parent
PICTURE = REPO / "docs" / "images" / "world-graph.png"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--hide-scrollbars"]


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for r in range(height):
        f, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line[j] for j in range(stride) if j % bpp < 3))
        prev = line
    return width, height, rows


def write_png(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG of ``rows`` (unfiltered)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = b"".join(b"\0" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def test_readme_graph_picture(tmp_path, wat, monkeypatch):
    chromium = shutil.which("chromium")
    if chromium is None or dot_available() is None:
        pytest.fail("needs Debian's chromium and graphviz: `make test` installs them (make sysdeps)", pytrace=False)
    for name in ("logger", "ledger", "bank"):
        (tmp_path / f"{name}.wasm").write_bytes(wat((REPO / "examples" / f"{name}.wat").read_text()))
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "logger.wasm=logger", "ledger.wasm=ledger", "bank.wasm=bank", "-o", "world.svg"]) == 0
    svg = (tmp_path / "world.svg").read_text()
    width_pt = float(svg.split('width="', 1)[1].split("pt", 1)[0])
    height_pt = float(svg.split('height="', 1)[1].split("pt", 1)[0])
    w, h = round(width_pt * 4 / 3), round(height_pt * 4 / 3)  # CSS px
    shot = tmp_path / "shot.png"
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           f"--screenshot={shot}", f"--window-size={w},{h + 300}", "--virtual-time-budget=3000",
                           (tmp_path / "world.svg").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    # the window is taller than the picture (headless Chromium's viewport is shorter than its window):
    # the picture is the top w x h of the screenshot, and everything below it must be blank
    sw, sh, rows = read_png(shot.read_bytes())
    assert sw == w and sh >= h
    assert all(min(row) > 240 for row in rows[h:]), "the drawing extends below the SVG's height"
    rows = rows[:h]
    data = write_png(w, h, rows)
    pw, ph, rows = read_png(data)
    assert (pw, ph) == (w, h)
    pixels = [row[i:i + 3] for row in rows for i in range(0, len(row), 3)]
    white = sum(1 for p in pixels if min(p) > 240)
    dark = sum(1 for p in pixels if max(p) < 100)
    assert white > 0.6 * len(pixels) and dark > 0.005 * len(pixels), (white, dark, len(pixels))
    if os.environ.get("BLESS") or not PICTURE.exists():
        PICTURE.parent.mkdir(parents=True, exist_ok=True)
        PICTURE.write_bytes(data)
    committed = read_png(PICTURE.read_bytes())
    assert committed[:2] == (pw, ph), "docs/images/world-graph.png is out of date: BLESS=1 remakes it"
    assert "docs/images/world-graph.png" in (REPO / "README.md").read_text()
