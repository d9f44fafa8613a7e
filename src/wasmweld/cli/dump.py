"""``wasmweld dump FILE``: an annotated hex dump, one line per field (the wasm-tools ``dump`` style).

::

    $ wasmweld dump inc.wat
    0x00 | 00 61 73 6d          | magic
    0x04 | 01 00 00 00          | version 1
    0x08 | 01 06                | type section, size 6
    0x0a | 01                   | 1 count
    0x0b | 60 01 7f 01 7f       | [type 0] func [i32] -> [i32]
    ...
    0x22 | 20 00                | local.get 0

Every byte of the module appears exactly once, in order (see
:mod:`wasmweld.binary.dump`). Long raw runs (data segment contents, unknown
custom sections) show their first and last rows of 16 bytes and a
``... N bytes not shown`` line, and long fields wrap onto at most ``--rows``
rows; ``--full`` shows everything. On malformed input the lines decoded
before the problem are printed, then the error (exit status 1).
"""

from __future__ import annotations

from typing import Any

import sys
from argparse import ArgumentParser, Namespace

NAME = "dump"
_BATCH = 2000


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="annotated hex dump: offset | bytes | meaning, one line per field",
        description="Print every byte of a module with what it means: sections, counts, items, each "
        "instruction of each body, custom sections. Malformed input: what decodes, then the error.",
    )
    p.add_argument("file", metavar="FILE", help="binary (.wasm) or text (.wat) module; '-' for stdin")
    p.add_argument("--rows", type=int, default=8, metavar="N",
                   help="show at most N rows of 16 bytes of a long field or raw run (default 8)")
    p.add_argument("--full", action="store_true", help="show every byte (no eliding)")
    return p


def run(args: Namespace) -> int:
    from wasmweld.binary.dump import dump, format_lines
    from wasmweld.cli.io import read_input
    from wasmweld.errors import WasmError

    if args.rows < 3 and not args.full:
        raise WasmError("--rows must be at least 3")
    data = read_input(args.file)
    rows = None if args.full else args.rows
    width = max(2, len(f"{len(data):x}"))
    out = sys.stdout
    batch: list[str] = []
    try:
        if data[:8] == b"\0asm\x0d\0\x01\0":  # a component: wasmweld.component.inspect
            from wasmweld.component.inspect import dump_lines as dump
        for text in format_lines(dump(data, elide=rows), offset_width=width, max_rows=rows):
            batch.append(text)
            if len(batch) >= _BATCH:
                out.write("\n".join(batch) + "\n")
                batch.clear()
    finally:
        if batch:
            out.write("\n".join(batch) + "\n")
        out.flush()
    return 0
