"""``wasmweld addr2line FILE ADDR...``: code addresses to source frames from the module's DWARF.

Prints what ``wasm-tools addr2line`` prints: per address its frames, innermost first (inlined
calls give several), as ``function file:line:column``::

    $ wasmweld addr2line merged.wasm 0x2f1 @300
    0x2f1: fee_for /src/bank.c:12:70
    	transfer /src/bank.c:23:21
    0x12c: order /src/shop.c:19:15

Addresses are ``0x``/``@`` hexadecimal or decimal, offsets in the module unless
``--code-section-relative`` (offsets in the code section's contents, as DWARF counts).
"""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from typing import Any

import sys

NAME = "addr2line"


def register(subparsers: Any) -> ArgumentParser:
    """Add the ``addr2line`` subcommand."""
    p = subparsers.add_parser(NAME, help="code addresses to source file:line (DWARF), as wasm-tools addr2line",
                              description="Translate code addresses to function, file, line and column "
                                          "frames using the module's DWARF.")
    p.add_argument("input", metavar="FILE", help="module (.wasm or .wat; '-' for stdin)")
    p.add_argument("addresses", metavar="ADDR", nargs="*", help="0x.. or @.. hexadecimal, or decimal")
    p.add_argument("--code-section-relative", action="store_true",
                   help="addresses count from the start of the code section's contents")
    return p


def parse_address(text: str) -> int:
    """``0x1f``, ``@1f`` (hexadecimal) or ``31``."""
    from wasmweld.errors import WasmError

    hexa = text[2:] if text.lower().startswith("0x") else text[1:] if text.startswith("@") else None
    try:
        value = int(hexa, 16) if hexa is not None else int(text, 10)
    except ValueError:
        raise WasmError(f"not an address: {text!r}") from None
    if value < 0:
        raise WasmError(f"not an address: {text!r}")
    return value


def run(args: Namespace) -> int:
    """Print the frames of each address; 0, or a WasmError (one ``error:`` line, exit 1)."""
    from wasmweld.cli.io import blame, read_input
    from wasmweld.dwarf.lookup import addr2line

    addrs = [(a, parse_address(a)) for a in args.addresses]
    data = read_input(args.input, core_only="addr2line")
    with blame(args.input):
        text = addr2line(data, addrs, code_section_relative=args.code_section_relative)
    sys.stdout.write(text)
    return 0
