"""``wasmweld compile IN -o OUT.cwasm``: compile a module ahead of time for ``wasmweld run``.

The output is wasmtime's serialized machine code with a wasmweld trailer
(wasmtime version, engine settings, and a MAC made with this user's artifact
key; see :mod:`wasmweld.runtime.cache` and docs/security.md), the same format
as the World's artifact cache. ``wasmweld run OUT.cwasm`` maps it into memory
instead of compiling; an artifact made by another user (or patched by anyone
without the key) is refused unless ``run --trust-artifact``::

    $ wasmweld compile app.wasm -o app.cwasm
    app.wasm -> app.cwasm: 1,204,224 bytes of machine code (wasmtime 50.0.1)
    $ wasmweld run app.cwasm --invoke main

An artifact only loads with the same wasmtime version and engine settings;
``--fuel`` compiles with fuel metering (then run it with ``--fuel N``).
"""

from __future__ import annotations

from typing import Any

import sys
from argparse import ArgumentParser, Namespace

NAME = "compile"


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="compile a module to a .cwasm artifact for `wasmweld run`",
        description="Compile IN (.wasm or .wat) to machine code with wasmtime and write it, with a trailer "
        "authenticated by this user's artifact key (HMAC-SHA256, key in ~/.config/wasmweld), to OUT (.cwasm). "
        "`wasmweld run OUT.cwasm` loads it without compiling; other users' artifacts need --trust-artifact.",
    )
    p.add_argument("input", metavar="IN", help="module to compile (.wasm or .wat; '-' for stdin)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="artifact to write ('-': standard output)")
    p.add_argument("--force", action="store_true", help="allow OUT to replace IN")
    p.add_argument("--fuel", action="store_true", help="compile with fuel metering (run with --fuel N)")
    return p


def compile_bytes(data: bytes, *, fuel: bool = False, name: str | None = None) -> bytes:
    """The artifact bytes for module ``data`` (what ``wasmweld compile`` writes)."""
    from wasmweld.runtime.cache import compile_module, engine_settings, make_engine, serialize_artifact

    settings = engine_settings(fuel=fuel)
    engine = make_engine(settings)
    module = compile_module(engine, data, name)
    return serialize_artifact(module, settings, wasm=data, name=name)


def run(args: Namespace) -> int:
    from wasmweld.cli.io import blame, check_output, display_name, read_input, write_output
    from wasmweld.module import parse
    from wasmweld.runtime.cache import wasmtime_version

    check_output(args.output, inputs=[args.input], force=args.force)  # before compiling, not after
    data = read_input(args.input, core_only="compile")
    with blame(args.input):
        parse(data)  # the framing (magic, version, section sizes), with wasmweld's messages and offsets
        art = compile_bytes(data, fuel=args.fuel, name=display_name(args.input))
    write_output(args.output, art, inputs=[args.input], force=args.force)
    if args.output != "-":
        print(f"{display_name(args.input)} -> {args.output}: {len(art):,} bytes of machine code "
              f"(wasmtime {wasmtime_version()}{', fuel metering' if args.fuel else ''})", file=sys.stderr)
    return 0
