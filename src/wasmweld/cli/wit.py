"""``wasmweld wit COMPONENT``: print the WIT world of a component.

::

    $ wasmweld wit app.component.wasm
    package root:component;

    world root {
      import wasi:cli/stdout@0.2.0;

      export run: func() -> string;
    }
    package wasi:cli@0.2.0 {
      interface stdout {
        get-stdout: func() -> u32;
      }
    }

The same text as ``wasm-tools component wit``: the world
``root`` of package ``root:component`` and the foreign packages it uses
(see :mod:`wasmweld.component.wit`). ``-o FILE`` writes it to a file.
"""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from typing import Any

NAME = "wit"


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(NAME, help="print the WIT world of a component",
                              description="Decode a component's imports and exports into WIT and print it.")
    p.add_argument("input", metavar="COMPONENT", help="component binary ('-' for stdin)")
    p.add_argument("-o", "--output", metavar="FILE", default="-", help="write the WIT here (default stdout)")
    return p


def run(args: Namespace) -> int:
    from wasmweld.cli.io import blame, read_input, write_output
    from wasmweld.component import is_component, parse_component
    from wasmweld.component.wit import component_wit
    from wasmweld.errors import WasmError

    data = read_input(args.input)
    with blame(args.input):
        if not is_component(data):
            raise WasmError("not a component (a core module has no WIT world)")
        text = component_wit(parse_component(data, lazy=False))
    write_output(args.output, text, inputs=[args.input])
    return 0
