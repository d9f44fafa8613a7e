"""``wasmweld graph``: draw how named modules import each other (the merge's fusions).

::

    $ wasmweld graph logger.wasm=logger ledger.wasm=ledger bank.wasm=bank -o world.svg
    $ wasmweld graph logger.wasm=logger ledger.wasm=ledger bank.wasm=bank --format dot | dot -Tpng > world.png

Inputs are boxes; each fusion (an import bound to another input's export) is
an arrow from the importer to the exporter labelled with the import names;
imports no input provides point at a dashed "host" box. The format follows
``--format``, else the output's extension (.dot/.gv: DOT), else SVG. The SVG is
laid out by Graphviz ``dot`` when it is installed, else by wasmweld itself
(``--layout dot|builtin`` chooses).
"""

from __future__ import annotations

from typing import Any

import sys
from argparse import ArgumentParser, Namespace

NAME = "graph"


def register(subparsers: Any) -> ArgumentParser:
    from wasmweld.cli.io import add_output_options
    from wasmweld.cli.merge import add_input_arguments

    p = subparsers.add_parser(
        NAME,
        help="draw which module imports what from which (SVG or DOT)",
        description="Draw named modules as boxes and each import of another input's export as an arrow "
        "labelled with the import names; unresolved imports point at a 'host' box.",
        epilog="Example: wasmweld graph ledger.wasm=ledger bank.wasm=bank -o world.svg",
    )
    add_input_arguments(p)
    add_output_options(p, in_place=False)
    p.add_argument("--format", choices=("svg", "dot"), help="output format (default: from -o's extension, else svg)")
    p.add_argument("--layout", choices=("auto", "dot", "builtin"), default="auto",
                   help="SVG layout: Graphviz dot, wasmweld's own (no overlaps, no Graphviz needed), or auto "
                   "(dot when installed; the default)")
    return p


def run(args: Namespace) -> int:
    from wasmweld.cli.io import check_output, write_output
    from wasmweld.cli.merge import blame_inputs, load_inputs, parse_inputs
    from wasmweld.link import merge_plan
    from wasmweld.link.graph import input_stats, to_dot, to_svg

    out = args.output or "-"
    fmt = args.format
    if fmt is None:
        fmt = "dot" if out.endswith((".dot", ".gv")) else "svg"
    files = [p for p, _n in parse_inputs(args.inputs)]
    check_output(out, inputs=files, force=args.force, binary=False)
    inputs = load_inputs(args.inputs, command="graph")
    from wasmweld.link.merge import check_inputs

    with blame_inputs(args.inputs):
        check_inputs(inputs)  # the graph reads imports and exports only: refuse a broken module all the same
        mp = merge_plan(inputs, allow_unresolved=True, export_conflicts="rename")
        stats = {name: input_stats(module) for name, module in inputs}
    for problem in mp.problems:
        print(f"warning: {problem}", file=sys.stderr)
    text = to_dot(mp, stats) if fmt == "dot" else to_svg(mp, stats, engine=args.layout)
    write_output(out, text, inputs=files, force=args.force)
    return 0
