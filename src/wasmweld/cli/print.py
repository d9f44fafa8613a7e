"""``wasmweld print FILE``: the module as WebAssembly text, byte for byte what ``wasm-tools print`` writes.

::

    $ wasmweld print app.wasm                     # to standard output
    $ wasmweld print app.wasm -o app.wat --fold   # folded instructions (--fold-instructions)
    $ wasmweld print app.wasm --offsets           # (;@1a2 ;) binary offset before each line
    $ wasmweld print app.wasm --func main --func 7   # only these functions
    $ wasmweld print app.wasm --skeleton          # no bodies or segment contents

Identifiers come from the name section (``$name``) unless ``--no-names``.
The text is written as it is produced; a file output appears complete or not at all.
"""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from typing import Any

import os
import sys
import tempfile

NAME = "print"


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="print a module as WebAssembly text (identical to wasm-tools print)",
        description="Print a module in the WebAssembly text format, exactly as `wasm-tools print` does.",
    )
    p.add_argument("input", metavar="FILE", help="input module (.wasm or .wat; '-' for stdin)")
    p.add_argument("-o", "--output", metavar="OUT", default="-", help="where to write the text (default: stdout)")
    p.add_argument("--force", action="store_true", help="allow the output to replace an input file")
    p.add_argument("--fold", action="store_true", help="folded instructions (wasm-tools --fold-instructions)")
    p.add_argument("--no-names", action="store_true", help="ignore the name section")
    p.add_argument("--offsets", action="store_true", help="binary offset of each line (wasm-tools --print-offsets)")
    p.add_argument("--func", action="append", default=[], metavar="NAME|INDEX",
                   help="print only this function (index, name-section name or export name; repeatable)")
    p.add_argument("--skeleton", action="store_true", help="leave out bodies and segment contents")
    return p


def resolve_funcs(m: Any, wanted: list[str]) -> set[int]:
    """Function indices of Module ``m`` for ``--func`` values: an index, a name-section name or an export name."""
    from wasmweld.errors import WasmError
    from wasmweld.types import ExternKind

    names: dict[str, int] = {}
    ns = m.names
    if ns is not None:
        for idx, name in ns.funcs.items():
            names.setdefault(name, idx)
    for e in m.exports:
        if e.kind == ExternKind.FUNC:
            names.setdefault(e.name, e.index)
    nimp = m.num_imported(ExternKind.FUNC)
    out = set()
    for w in wanted:
        if w.isdigit():
            idx = int(w)
        elif w in names:
            idx = names[w]
        else:
            raise WasmError(f"--func {w}: no function with that index or name")
        if not nimp <= idx < m.num_funcs:
            raise WasmError(f"--func {w}: function {idx} is not defined in the module"
                            f" (defined functions are {nimp}..{m.num_funcs - 1})")
        out.add(idx)
    return out


def run(args: Namespace) -> int:
    from wasmweld.cli.io import blame, check_output, is_component, read_input
    from wasmweld.text import print_module

    data = read_input(args.input)
    if is_component(data):      # a Component (printed by text/component.py); the component package is
        from wasmweld.component import parse   # loaded for components only (start-up)
    else:
        from wasmweld.module import parse
    with blame(args.input):
        m = parse(data)
        funcs = resolve_funcs(m, args.func) if args.func and hasattr(m, "num_funcs") else args.func or None
    opts = dict(fold=args.fold, names=not args.no_names, offsets=args.offsets, skeleton=args.skeleton, funcs=funcs)
    path = args.output
    check_output(path, inputs=[args.input], force=args.force, binary=False)
    if path == "-":
        with blame(args.input):
            print_module(m, sys.stdout, **opts)
        sys.stdout.flush()
        return 0
    target = os.path.realpath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target) or ".", prefix=f".{os.path.basename(target)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:     # (UTF-8 text; a second process's text is copied as it is)
            with blame(args.input):
                print_module(m, fh, **opts)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return 0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
