"""``wasmweld strip IN -o OUT``: remove custom sections.

::

    $ wasmweld strip app.wasm -o small.wasm               # every custom section but those that change behaviour
    $ wasmweld strip app.wasm -o small.wasm --all         # every custom section, dylink.0 and target_features too
    $ wasmweld strip app.wasm -o small.wasm --keep name   # ... but keep the name section (like wasm-strip -k)
    $ wasmweld strip app.wasm -o small.wasm --debug       # DWARF, name section, source-map links
    $ wasmweld strip app.wasm -i --name producers --regex 'icp:private .*'
    $ wasmweld strip app.wasm -o small.wasm --json        # what was removed, as JSON (schema below)

With no selection, every custom section goes except the ones that change what
the module means to a loader or linker (:data:`wasmweld.passes.strip.BEHAVIOUR_SECTIONS`:
``dylink.0``/``dylink`` of a side module, ``target_features``,
``component-type*``): removing those silently breaks side modules. ``--all``
removes them too; naming one (``--name``, ``--regex``) removes it; ``--keep
NAME`` (repeatable) keeps a section whatever else is selected. Known sections
and the custom sections that stay are copied byte for byte. A shortcut for
``wasmweld edit --strip-*``.

``--json`` prints one object on stdout::

    {"schema": 1, "input": "app.wasm", "output": "small.wasm",
     "removed": ["name", "producers"],      # custom sections removed, in file order
     "kept": ["dylink.0"],                  # custom sections left, in file order
     "bytes_in": 1234, "bytes_out": 1001, "seconds": 0.004}
"""

from __future__ import annotations

from typing import Any

import json
import re
import sys
from argparse import ArgumentParser, Namespace

NAME = "strip"

def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="remove custom sections (all but behaviour sections, debug info, producers, by name or regex)",
        description="Remove custom sections. With no selection, every custom section goes except those that "
        "change behaviour (dylink.0/dylink, target_features, component-type*); --all removes those too.",
    )
    p.add_argument("input", metavar="IN", help="input module (.wasm or .wat; '-' for stdin)")
    from wasmweld.cli.io import add_output_options
    add_output_options(p)
    p.add_argument("--all", action="store_true",
                   help="every custom section, including dylink.0/dylink, target_features and component-type*")
    p.add_argument("--keep", "-k", action="append", default=[], metavar="NAME",
                   help="never remove the custom section NAME (repeatable; like wasm-strip -k)")
    p.add_argument("--debug", action="store_true", help="DWARF (.debug_*), the name section, source-map links")
    p.add_argument("--producers", action="store_true", help="the producers section")
    p.add_argument("--name", action="append", default=[], metavar="NAME", help="the custom section NAME (repeatable)")
    p.add_argument("--regex", action="append", default=[], metavar="REGEX",
                   help="custom sections whose whole name matches REGEX (repeatable)")
    p.add_argument("--json", action="store_true", help="print what was removed and kept as JSON (schema 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    return p


def selection(customs: list[str], args: Namespace) -> list[str]:
    """The names (in file order, repeated as they occur) of the custom sections ``args`` selects."""
    from wasmweld.errors import EditError
    from wasmweld.passes.strip import is_behaviour_section, is_debug_section

    compiled = []
    for r in args.regex:
        try:
            compiled.append(re.compile(r))
        except re.error as exc:
            raise EditError(f"bad section-name regex {r!r}: {exc}") from None
    chosen = bool(args.debug or args.producers or args.name or args.regex)
    named = set(args.name) | ({"producers"} if args.producers else set())
    keep = set(args.keep)

    def selected(name: str) -> bool:
        if name in keep:
            return False
        if args.all:
            return True
        if not chosen:
            return not is_behaviour_section(name)
        return (name in named or (args.debug and is_debug_section(name))
                or any(c.fullmatch(name) for c in compiled))

    return [n for n in customs if selected(n)]


def run(args: Namespace) -> int:
    from wasmweld.cli.io import (
        blame, display_name, elapsed, elapsed_seconds, output_target, progress, progress_done, read_input,
        write_output,
    )
    from wasmweld.errors import WasmError
    from wasmweld.module import parse
    from wasmweld.passes.strip import is_behaviour_section, strip_custom
    from wasmweld.validate import check_wellformed

    path, force = output_target(args, args.input)
    if args.json and path == "-":
        raise WasmError("--json prints on standard output: write the module with -o FILE")
    data = read_input(args.input, core_only="strip")
    with blame(args.input):
        progress("checking the input")
        check_wellformed(data)  # sections strip copies unread must not carry a malformation through
        m = parse(data)
    names = [cs.name for cs in m.customs]
    removed = selection(names, args)
    if removed:  # explicit names: the same result whichever options wasmweld.passes.strip has
        strip_custom(m, names=list(dict.fromkeys(removed)))
    out = m.encode()
    write_output(path, out, inputs=[args.input], force=force)
    kept = [cs.name for cs in m.customs]
    if args.json:
        print(json.dumps({"schema": 1, "input": display_name(args.input), "output": display_name(path),
                          "removed": removed, "kept": kept, "bytes_in": len(data), "bytes_out": len(out),
                          "seconds": elapsed_seconds()}, indent=2))
    elif not args.quiet:
        progress_done()
        what = ", ".join(dict.fromkeys(removed)) or "nothing"
        left = [n for n in kept if is_behaviour_section(n)]
        print(f"stripped {len(removed)} custom section(s) ({what}); {len(data)} -> {len(out)} bytes"
              + (f", wrote {display_name(path)}" if path != "-" else "")
              + (f"; kept {', '.join(dict.fromkeys(left))} (--all removes {'them' if len(set(left)) > 1 else 'it'})"
                 if left else "")
              + f" in {elapsed()}", file=sys.stderr)
    return 0
