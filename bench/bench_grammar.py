"""Binary-layer bounds (issue 17): formerly quadratic or unbounded cases, each to stay under 5 s.

``dump 100k nested blocks``   ``format_lines(dump(data))`` consumed line by line over a valid 300 KB
                              module whose one body nests 100,000 blocks (indentation capped, output
                              streamed; it used to reach 20 GB).
``strip 200k custom sections`` ``strip_custom(parse(data), all=True)`` then ``encode()`` on a module of
                              200,000 small custom sections (one pass; it used to take minutes).

Run with ``python bench/run.py -k grammar``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from wasmweld.binary.dump import dump, format_lines
from wasmweld.module import parse
from wasmweld.passes.strip import strip_custom

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_binary_bounds import many_customs, nested_blocks  # noqa: E402  (the tests' input builders)


def _consume(data: bytes) -> int:
    n = 0
    for _ in format_lines(dump(data)):
        n += 1
    return n


def _strip(data: bytes) -> bytes:
    m = parse(data)
    strip_custom(m, all=True)
    return m.encode()


def run(ctx):
    deep = nested_blocks(100_000)
    customs = many_customs(200_000)
    return [
        ctx.measure("dump 100k nested blocks", f"{len(deep) // 1000} KB synthetic", "wasmweld",
                    lambda: _consume(deep), target="< 5 s"),
        ctx.measure("strip 200k custom sections", f"{len(customs) // 1000} KB synthetic", "wasmweld",
                    lambda: _strip(customs), target="< 5 s"),
    ]
