"""``wasmweld fuse COMPOSED.wasm -o OUT``: a composition of components becomes one core module.

::

    $ wasm-tools compose consumer.wasm -d provider.wasm -o composed.wasm
    $ wasmweld fuse composed.wasm --plan                       # components, instances, adapters, exports
    $ wasmweld fuse composed.wasm --graph plan.svg             # the same as a picture (or .dot)
    $ wasmweld fuse composed.wasm -o fused.wasm                # no imports left: one core module
    $ wasmweld fuse wasi-app.wasm -o fused.wasm                # imports WASI 0.2: a component
    $ wasmweld fuse composed.wasm --emit component -o f.wasm   # a component with one core module
    $ wasmweld fuse provider.wasm consumer.wasm -o fused.wasm  # wired by interface name
    $ wasmweld fuse wasi-prov.wasm consumer.wasm -o f.wasm     # imports remain: the world compose gives
    $ wasmweld fuse a.wasm b.wasm --plug wasi:kv/store=my:kv/store -o fused.wasm
    $ wasmweld fuse a.wasm a2.wasm b.wasm --plug my:kv/store=a2.wasm#my:kv/store   # two providers: pick one
    $ wasmweld fuse world.toml -o fused.wasm                   # a world manifest: [[module]] + [fuse]

A world manifest (:mod:`wasmweld.manifest`, as for ``merge --world``) lists the components as
``[[module]]`` tables (wired by interface name; the exports of the one no other imports from are the world's) and may set
the fuse options in a ``[fuse]`` table (``plugs = { "a:b/c" = "x:y/z" }``, ``emit``,
``single_memory``, ``memory_reserve``, ``gc``); options on the command line override it.

Every cross-component call goes through an adapter written in Wasm (lift from the caller's
memory, lower into the callee's); each component keeps its own memory (multi-memory). The output
exports use wit-component's core names (``iface#func``, ``cabi_post_...``, ``memory``,
``cabi_realloc``); remaining imports are canonical-lowered core imports.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser, Namespace
from typing import Any

NAME = "fuse"


def register(subparsers: Any) -> ArgumentParser:
    """Add ``wasmweld fuse`` to the CLI's subparsers."""
    p = subparsers.add_parser(
        NAME, help="fuse a composition of components into one core module (adapters compiled ahead of time)",
        description="Fuse a composition (a component of components, several components wired by "
                    "interface name -- the exports of the one no other imports from are the world's -- "
                    "or a world manifest world.toml) into one core module, or a component around it when imports remain.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="a composed component, several components, or a world manifest (.toml)")
    from wasmweld.cli.io import add_output_options
    add_output_options(p, in_place=False)
    p.add_argument("--plan", action="store_true", help="print the plan (components, adapters, exports) only")
    p.add_argument("--graph", metavar="FILE",
                   help="draw the plan instead of fusing: components as boxes, adapters as arrows, remaining "
                        "imports to a 'host' box (DOT for .dot/.gv or '-', else SVG)")
    p.add_argument("--emit", choices=["auto", "core", "component"], default="auto",
                   help="a core module, or a component around the one fused core module with the input's "
                        "imports and exports (auto, the default: a component when imports remain)")
    p.add_argument("--plug", action="append", default=[], metavar="IMPORT=EXPORT",
                   help="satisfy the import IMPORT by the export EXPORT of another input, or LABEL#EXPORT for the "
                        "input named LABEL (its file name) (repeatable)")
    p.add_argument("--single-memory", action="store_true",
                   help="lay every component's memory out in one memory (merge's single-memory pass)")
    p.add_argument("--memory-reserve", type=int, metavar="PAGES",
                   help="with --single-memory: pages reserved for each memory without a maximum (default 256)")
    p.add_argument("--no-gc", action="store_true", help="keep what nothing uses")
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def run(args: Namespace) -> int:
    """``wasmweld fuse``: write the fused module (or the plan); returns the exit status."""
    from wasmweld.cli.io import blame, display_name, output_target, read_input, write_output
    from wasmweld.errors import WasmError
    from wasmweld.fuse import describe, fuse, fuse_plan
    from wasmweld.manifest import is_manifest
    from wasmweld.module import Module

    plugs = {}
    for spec in args.plug:
        imp, sep, exp = spec.partition("=")
        if not sep or not imp or not exp:
            raise WasmError(f"--plug wants IMPORT=EXPORT, got {spec!r}")
        plugs[imp] = exp
    plugs_arg = plugs or None                      # none given: a manifest's [fuse] plugs apply
    written_from = list(args.inputs)
    if len(args.inputs) == 1 and is_manifest(args.inputs[0]):      # a world manifest ([[module]], [fuse])
        from wasmweld.fuse.pipeline import manifest_inputs

        inputs: Any = args.inputs[0]
        written_from += [path for _name, path in manifest_inputs(inputs)[0]]
    else:
        datas = [(label, read_input(path)) for label, path in zip(_labels(args.inputs), args.inputs)]
        inputs = datas[0][1] if len(datas) == 1 else datas
    with blame(args.inputs[0]) if len(args.inputs) == 1 else _nothing():
        if args.plan:
            print(describe(fuse_plan(inputs, plugs=plugs_arg)))
            return 0
        if args.graph:
            return _graph(args, fuse_plan(inputs, plugs=plugs_arg))
        m = fuse(inputs, plugs=plugs_arg, gc=not args.no_gc, emit=args.emit, single_memory=args.single_memory,
                 memory_reserve=args.memory_reserve)
    out = m.encode()
    path, force = output_target(args)
    write_output(path, out, inputs=written_from, force=force)
    if not args.quiet:
        kind = "core module" if isinstance(m, Module) else "component"
        print(f"fused {len(args.inputs)} input(s) into one {kind} ({len(out)} bytes)"
              + (f", wrote {display_name(path)}" if path != "-" else ""), file=sys.stderr)
    return 0


def _labels(paths: list[str]) -> list[str]:
    """The inputs' names in the plan, messages and ``--plug LABEL#EXPORT``: their file names, or the
    paths as given when two file names are the same (``~2``, ``~3`` added to the same path given again)."""
    import os

    from wasmweld.cli.io import display_name

    base = [os.path.basename(p) or display_name(p) for p in paths]
    if len(set(base)) < len(base) and len(set(zip(base, paths))) > len(set(base)):   # a/x.wasm, b/x.wasm
        base = [display_name(p) for p in paths]
    seen: dict[str, int] = {}
    out = []
    for b in base:                                  # the same file twice: cons.wasm, cons.wasm~2
        seen[b] = seen.get(b, 0) + 1
        out.append(b if seen[b] == 1 else f"{b}~{seen[b]}")
    return out


def _graph(args, plan) -> int:
    from wasmweld.cli.io import write_output
    from wasmweld.fuse.record import merge_plan_of
    from wasmweld.link.graph import to_dot, to_svg

    mp = merge_plan_of(plan)
    dot = args.graph == "-" or args.graph.endswith((".dot", ".gv"))
    write_output(args.graph, to_dot(mp) if dot else to_svg(mp), inputs=list(args.inputs), force=args.force)
    return 0


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
