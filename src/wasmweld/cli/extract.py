"""``wasmweld extract COMPONENT``: the core modules embedded in a component, byte for byte.

::

    $ wasmweld extract app.component.wasm --module 0 -o core.wasm
    $ wasmweld extract app.component.wasm --all -o modules/
    wrote modules/module0.wasm (2272 bytes)
    wrote modules/module1.wasm (97 bytes)
    ...
    $ wasmweld extract app.component.wasm --list
    0  main-module  2272 bytes at 0x2a
    ...

Modules are numbered in file order, nested components included (depth first:
a nested component's modules come where the nested component is). Each file is
exactly the bytes of the core module section's payload (``(core module ...)``).
``--replace N NEW.wasm -o OUT`` writes the component with module N replaced, every other
byte unchanged.
"""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from wasmweld.component import Component

import os
import sys

NAME = "extract"


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(NAME, help="extract (or replace) the core modules of a component",
                              description="Write the core modules embedded in a component, byte for byte.")
    p.add_argument("input", metavar="COMPONENT", help="component binary ('-' for stdin)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--module", type=int, metavar="N", help="the N-th core module (0-based, file order)")
    g.add_argument("--all", action="store_true", help="every core module, into the directory -o DIR")
    g.add_argument("--list", action="store_true", help="list the core modules")
    g.add_argument("--replace", nargs=2, metavar=("N", "MODULE"), help="replace module N by MODULE (-o OUT)")
    p.add_argument("-o", "--output", metavar="PATH", help="output file (--module, --replace) or directory (--all)")
    p.add_argument("-f", "--force", action="store_true", help="allow overwriting the input (--replace)")
    return p


def modules_in(comp: Component,
               path: tuple[int | str, ...] = ()) -> list[tuple[tuple[int | str, ...], Component, int]]:
    """``[(path, component, index in component)]`` of every core module, nested components depth first."""
    out = []
    mi = 0
    for sid, item in comp.items():
        if sid == 1:
            out.append((path + (mi,), comp, mi))
            mi += 1
        elif sid == 4:
            out.extend(modules_in(item, path + ("c",)))
    return out


def run(args: Namespace) -> int:
    from wasmweld.cli.io import blame, check_output, display_name, read_input, write_output
    from wasmweld.component import is_component, parse_component
    from wasmweld.errors import WasmError

    data = read_input(args.input)
    with blame(args.input):
        if not is_component(data):
            raise WasmError("not a component")
        comp = parse_component(data)
        mods = modules_in(comp)
    if args.list:
        for n, (_, c, i) in enumerate(mods):
            sec = [s for s in c.sections if s.id == 1][i]
            print(f"{n}  {sec.size} bytes at 0x{sec.payload_offset:x}")
        return 0
    if args.replace is not None:
        return _replace(args, comp, mods, data)
    if args.output is None:
        raise WasmError("-o is required")
    if args.all:
        os.makedirs(args.output, exist_ok=True)
        paths = [os.path.join(args.output, f"module{n}.wasm") for n in range(len(mods))]
        for p in paths:
            check_output(p, inputs=[args.input])
        for p, (_, c, i) in zip(paths, mods):
            blob = c.module_data(i)
            write_output(p, blob, inputs=[args.input])
            print(f"wrote {display_name(p)} ({len(blob)} bytes)", file=sys.stderr)
        return 0
    if not 0 <= args.module < len(mods):
        raise WasmError(f"no core module {args.module} (the component has {len(mods)})")
    _, c, i = mods[args.module]
    write_output(args.output, c.module_data(i), inputs=[args.input])
    return 0


def _replace(args, comp, mods, data: bytes) -> int:
    from wasmweld.cli.io import blame, read_input, write_output
    from wasmweld.errors import WasmError
    from wasmweld.module import parse

    n = int(args.replace[0]) if args.replace[0].isdigit() else -1
    if not 0 <= n < len(mods):
        raise WasmError(f"no core module {args.replace[0]} (the component has {len(mods)})")
    if args.output is None:
        raise WasmError("-o is required")
    new = read_input(args.replace[1])
    with blame(args.replace[1]):
        module = parse(new, lazy=False)
    _, c, i = mods[n]
    c.replace_module(i, module)     # a nested component encodes its new module inside its section
    write_output(args.output, comp.encode(), inputs=[args.input, args.replace[1]], force=args.force)
    return 0

