"""``wasmweld parse FILE.wat -o OUT.wasm``: WebAssembly text to binary (wasmtime's ``wat2wasm``).

::

    $ wasmweld parse app.wat -o app.wasm
    $ wasmweld print app.wasm | wasmweld parse - -o again.wasm

A syntax error is one line with wasmtime's message and its line and column::

    error: app.wat: expected `)` (line 3, column 7)
"""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from typing import Any

NAME = "parse"


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(NAME, help="compile WebAssembly text to a binary module",
                              description="Compile WebAssembly text (.wat) to a binary module (.wasm).")
    p.add_argument("input", metavar="FILE", help="WebAssembly text ('-' for stdin); a binary is copied as is")
    from wasmweld.cli.io import add_output_options
    add_output_options(p, in_place=False)
    return p


def run(args: Namespace) -> int:
    from wasmweld.cli.io import output_target, read_input, write_output

    data = read_input(args.input)
    path, force = output_target(args, args.input)
    write_output(path, data, inputs=[args.input], force=force)
    return 0
