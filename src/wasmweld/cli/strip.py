"""``wasmweld strip IN -o OUT``: remove custom sections (all of them unless told which).

::

    $ wasmweld strip app.wasm -o small.wasm               # every custom section
    $ wasmweld strip app.wasm -o small.wasm --debug       # DWARF, name section, source-map links
    $ wasmweld strip app.wasm -i --name producers --regex 'icp:private .*'

Known sections and the custom sections that stay are copied byte for byte.
A shortcut for ``wasmweld edit --strip-*``.
"""

from __future__ import annotations

import sys

NAME = "strip"


def register(subparsers):
    p = subparsers.add_parser(
        NAME, help="remove custom sections (all, debug info, producers, by name or regex)",
        description="Remove custom sections. With no selection, every custom section goes (like wabt's wasm-strip).",
    )
    p.add_argument("input", metavar="IN", help="input module (.wasm or .wat; '-' for stdin)")
    from wasmweld.cli.io import add_output_options
    add_output_options(p)
    p.add_argument("--all", action="store_true", help="every custom section (the default)")
    p.add_argument("--debug", action="store_true", help="DWARF (.debug_*), the name section, source-map links")
    p.add_argument("--producers", action="store_true", help="the producers section")
    p.add_argument("--name", action="append", default=[], metavar="NAME", help="the custom section NAME (repeatable)")
    p.add_argument("--regex", action="append", default=[], metavar="REGEX",
                   help="custom sections whose whole name matches REGEX (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def run(args) -> int:
    from wasmweld.cli.io import blame, display_name, output_target, read_input, write_output
    from wasmweld.module import parse
    from wasmweld.passes.strip import strip_custom
    from wasmweld.validate import check_wellformed

    everything = args.all or not (args.debug or args.producers or args.name or args.regex)
    data = read_input(args.input)
    with blame(args.input):
        check_wellformed(data)  # sections strip copies unread must not carry a malformation through
        m = parse(data)
    removed = strip_custom(m, all=everything, names=args.name, regex=args.regex, debug=args.debug,
                           producers=args.producers)
    out = m.encode()
    path, force = output_target(args, args.input)
    write_output(path, out, inputs=[args.input], force=force)
    if not args.quiet:
        what = ", ".join(dict.fromkeys(removed)) or "nothing"
        print(f"stripped {len(removed)} custom section(s) ({what}); {len(data)} -> {len(out)} bytes"
              + (f", wrote {display_name(path)}" if path != "-" else ""), file=sys.stderr)
    return 0
