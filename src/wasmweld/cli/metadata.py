"""``wasmweld metadata show|add``: the producers section and custom sections.

::

    $ wasmweld metadata show app.wasm
    producers:
      language: Rust
      processed-by: rustc 1.80.0
    custom sections:
      'name': 1520 bytes at 0x1f3a
    $ wasmweld metadata show app.wasm --json
    $ wasmweld metadata add app.wasm -o out.wasm --producer processed-by my-cdk 1.2.0 \
          --custom 'icp:public candid:service=@service.did'

``--custom NAME=@FILE`` takes the section's bytes from FILE, ``NAME=TEXT`` from
the text itself; ``--replace`` rewrites an existing section of that name in place
instead of refusing.
"""

from __future__ import annotations

from typing import Any

import json
import sys

from wasmweld.errors import WasmError
from argparse import ArgumentParser, Namespace

NAME = "metadata"


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(NAME, help="show or add producers fields and custom sections",
                              description="Show or add metadata: producers fields and custom sections.")
    sub = p.add_subparsers(dest="metadata_cmd", metavar="ACTION")
    show = sub.add_parser("show", help="print the producers section and the custom sections")
    show.add_argument("input", metavar="IN", help="input module (.wasm or .wat; '-' for stdin)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    add = sub.add_parser("add", help="add producers fields and/or custom sections")
    add.add_argument("input", metavar="IN")
    from wasmweld.cli.io import add_output_options
    add_output_options(add)
    add.add_argument("--producer", nargs="+", action="append", default=[], metavar="FIELD NAME [VERSION]",
                     help="add NAME (VERSION) under FIELD: language, processed-by or sdk (repeatable)")
    add.add_argument("--custom", action="append", default=[], metavar="NAME=@FILE|NAME=TEXT",
                     help="add a custom section (repeatable)")
    add.add_argument("--replace", action="store_true", help="rewrite existing custom sections of the same name")
    add.add_argument("-q", "--quiet", action="store_true")
    return p


def run(args: Namespace) -> int:
    from wasmweld.cli.io import blame, display_name, elapsed, output_target, read_input, write_output
    from wasmweld.module import parse
    from wasmweld.passes import metadata as md
    from wasmweld.validate import check_wellformed

    if args.metadata_cmd is None:
        raise WasmError("wasmweld metadata: say 'show' or 'add' (see wasmweld metadata --help)")
    data = read_input(args.input, core_only="metadata")
    with blame(args.input):
        check_wellformed(data)
        m = parse(data)
    if args.metadata_cmd == "show":
        info = md.show_metadata(m)
        if args.json:
            print(json.dumps(info, indent=2, ensure_ascii=False))
        else:
            sys.stdout.write(md.format_metadata(info))
        return 0
    if not args.producer and not args.custom:
        raise WasmError("metadata add: nothing to add (use --producer and/or --custom)")
    from wasmweld.cli.edit import custom_payload
    done = []
    for values in args.producer:
        if not 2 <= len(values) <= 3:
            raise WasmError("--producer takes FIELD NAME [VERSION]")
        md.add_producer(m, values[0], values[1], values[2] if len(values) == 3 else "")
        done.append(f"producer {values[0]}: {' '.join(values[1:])}")
    for spec in args.custom:
        name, payload = custom_payload(spec, "--custom")
        md.add_custom(m, name, payload, replace=args.replace)
        done.append(f"custom section {name!r} ({len(payload)} bytes)")
    out = m.encode()
    path, force = output_target(args, args.input)
    write_output(path, out, inputs=[args.input], force=force)
    if not args.quiet:
        for line in done:
            print(f"added {line}", file=sys.stderr)
        if path != "-":
            print(f"wrote {display_name(path)} ({len(out)} bytes) in {elapsed()}", file=sys.stderr)
    return 0
