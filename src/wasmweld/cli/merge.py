"""``wasmweld merge``: many modules that import each other become one module.

Inputs are named, either ``FILE=NAME`` or (as in Binaryen's wasm-merge) ``FILE NAME``::

    $ wasmweld merge logger.wasm=logger ledger.wasm=ledger bank.wasm=bank -o world.wasm
    $ wasmweld merge logger.wasm logger ledger.wasm ledger bank.wasm bank -o world.wasm
    merged 3 inputs: 4 fusions, 0 imports left, 9 exports -> world.wasm (1234 bytes) in 0.021 s

An import ``(import "ledger" "credit" ...)`` of any input binds to the export
``credit`` of the input named ``ledger``. ``--plan`` prints the fusion table
and writes nothing. Errors (missing exports, type mismatches, export
conflicts: all of them at once) exit with status 1 and write nothing; the
error is one line, naming the first ten problems and counting the rest::

    error: 55 link problems: export conflict: ...; ...; and 45 more (wasmweld merge --plan lists them all)

Export conflicts are an error unless ``--rename-export-conflicts`` (a later
input's ``name`` becomes ``INPUT:name``, then ``INPUT:name#2``...) or
``--skip-export-conflicts`` (later ones are not exported).

``--world world.toml`` merges the modules of a world manifest (see
:mod:`wasmweld.manifest`) instead of named inputs: the one-world module that
``wasmweld run world.toml --merged`` runs, each entry point also exported
under its entry name. Merge options given here override the manifest's
``[merge]`` table::

    $ wasmweld merge --world world.toml -o one.wasm
    $ wasmweld run one.wasm --invoke transfer 1 2 50     # same answer as:
    $ wasmweld run world.toml --invoke bank.transfer 1 2 50
"""

from __future__ import annotations

from typing import Any

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from wasmweld.errors import LinkError, WasmError
from argparse import ArgumentParser, Namespace

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    from wasmweld.link.merge import MergePlan
    from wasmweld.module import Module

NAME = "merge"


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="merge modules that import each other into one module",
        description="Merge named modules into one: imports of another input's exports become direct "
        "references (every kind: func, table, memory, global, tag; re-export chains followed), "
        "all index spaces are renumbered, start functions chained.",
        epilog="Inputs: FILE=NAME ... or FILE NAME ... (wasm-merge's order). Example: "
        "wasmweld merge ledger.wasm=ledger bank.wasm=bank -o world.wasm",
    )
    add_input_arguments(p, nargs="*")  # none with --world
    p.add_argument("--world", metavar="TOML",
                   help="merge the modules of this world manifest (instead of INPUTs); its entry points are "
                   "also exported under their entry names")
    from wasmweld.cli.io import add_output_options

    add_output_options(p, in_place=False)
    p.add_argument("--plan", action="store_true",
                   help="print every fusion and unresolved import; write nothing")
    p.add_argument("--json", action="store_true",
                   help="print the result (or, with --plan, the plan) as one JSON object with \"schema\": 1 "
                   "(fields: docs/cli.md)")
    conflicts = p.add_mutually_exclusive_group()
    conflicts.add_argument("--rename-export-conflicts", "-rec", action="store_true",
                           help="rename a later input's conflicting export NAME to INPUT:NAME (INPUT:NAME#2 ... "
                           "if taken) instead of failing")
    conflicts.add_argument("--skip-export-conflicts", "-sec", action="store_true",
                           help="do not export later inputs' conflicting exports instead of failing")
    p.add_argument("--export-from", metavar="A,B", help="export only the exports of these inputs")
    p.add_argument("--allow-unresolved", action="store_true",
                   help="an import of another input's missing export stays an import instead of an error")
    p.add_argument("--single-memory", action="store_true",
                   help="lay every memory out in one memory (for hosts without multi-memory)")
    p.add_argument("--drop-memory-exports", action="store_true",
                   help="with --single-memory: do not export memories that move away from base 0")
    p.add_argument("--memory-reserve", type=int, metavar="PAGES",
                   help="with --single-memory: room (in 64 KiB pages) added to a lower memory without a "
                   "maximum (default 256)")
    gc = p.add_mutually_exclusive_group()
    gc.add_argument("--gc", dest="gc", action="store_true", default=True,
                    help="after fusing, remove every item nothing uses (fused-away imports, functions "
                    "only dropped exports reached, unused types...; default, as wasm-merge does)")
    gc.add_argument("--no-gc", dest="gc", action="store_false", help="keep every item of every input")
    p.add_argument("--module-name", metavar="NAME", help="module name for the merged name section")
    p.add_argument("--no-names", action="store_true", help="drop the name sections instead of merging them")
    p.add_argument("--no-validate", action="store_true", help="do not validate the result")
    p.add_argument("-q", "--quiet", action="store_true", help="no warnings, no summary")
    return p


def add_input_arguments(p: argparse.ArgumentParser, nargs: str = "+") -> None:
    p.add_argument("inputs", nargs=nargs, metavar="INPUT",
                   help="FILE=NAME, or FILE NAME as with wasm-merge (.wasm or .wat; '-' is stdin)")


def parse_inputs(tokens: list[str]) -> list[tuple[str, str]]:
    """``(path, name)`` pairs from ``FILE=NAME`` tokens and ``FILE NAME`` pairs (mixable)."""
    out = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if "=" in tok and not os.path.exists(tok):
            path, name = tok.rsplit("=", 1)
            if not path or not name:
                raise WasmError(f"input {tok!r}: expected FILE=NAME")
            out.append((path, name))
            i += 1
            continue
        if i + 1 >= len(tokens):
            raise WasmError(f"input {tok!r} has no name: write {tok}=NAME (or FILE NAME pairs, as wasm-merge)")
        name = tokens[i + 1]
        if name.endswith((".wasm", ".wat", ".wast")) or (os.path.sep in name and os.path.exists(name)):
            raise WasmError(f"input {tok!r} has no name ({name!r} looks like a file): write {tok}=NAME")
        out.append((tok, name))
        i += 2
    return out


def load_inputs(tokens: list[str], command: str = "merge") -> list[tuple[str, Module]]:
    """``(name, Module)`` for each input, read and split into sections (a malformed one names its file)."""
    from wasmweld.cli.io import blame, read_input
    from wasmweld.module import parse

    out = []
    for path, name in parse_inputs(tokens):
        data = read_input(path, core_only=command)
        with blame(path):
            out.append((name, parse(data)))
    return out


@contextmanager
def blame_inputs(tokens: list[str]) -> Iterator[None]:
    """An error the merge raises about input NAME (``merge_input``) names that input's file."""
    from wasmweld.cli.io import display_name

    files = {name: path for path, name in parse_inputs(tokens)}
    try:
        yield
    except WasmError as exc:
        name = getattr(exc, "merge_input", None)
        if name in files and getattr(exc, "input_name", None) is None:
            exc.input_name = display_name(files[name])
        raise


def _know_version() -> None:
    """Set ``wasmweld.__version__`` (the merge writes it in the ``producers`` section) the way
    ``wasmweld --version`` reads it, from the dist-info folder: the package's own lookup imports
    :mod:`importlib.metadata` (tens of ms of the command)."""
    import wasmweld
    from wasmweld.cli.version import distribution_version

    if "__version__" not in vars(wasmweld):
        found = distribution_version("wasmweld")
        if found is not None:
            wasmweld.__version__ = found


def _options(args: Namespace) -> dict:
    policy = "rename" if args.rename_export_conflicts else "skip" if args.skip_export_conflicts else "error"
    opts = dict(
        allow_unresolved=args.allow_unresolved,
        export_conflicts=policy,
        export_from=args.export_from,
        single_memory=args.single_memory,
        drop_memory_exports=args.drop_memory_exports,
        memory_reserve=args.memory_reserve,
        gc=args.gc,
        module_name=args.module_name,
        names=not args.no_names,
    )
    if (args.drop_memory_exports or args.memory_reserve is not None) and not args.single_memory:
        raise WasmError("--drop-memory-exports and --memory-reserve need --single-memory")
    return opts


#: at most this many problems are spelled out on the one error line (``--plan`` lists them all)
MAX_SHOWN = 10


def error_line(exc: LinkError, plan: str = "wasmweld merge --plan") -> str:
    """A LinkError as one line: ``N link problems: p1; p2; ...`` (the first :data:`MAX_SHOWN`), then
    ``; and K more (wasmweld merge --plan lists them all)``. ``exc.problems`` keeps every one."""
    from wasmweld.cli.io import one_line

    problems = [one_line(p) for p in getattr(exc, "problems", None) or []]
    if len(problems) <= 1:
        return one_line(exc)
    head = str(exc).strip().splitlines()[0].strip()     # "N link problems:", "--single-memory refused:"
    if not head.endswith(":"):
        head = f"{len(problems)} link problems:"
    text = f"{head} " + "; ".join(problems[:MAX_SHOWN])
    if len(problems) > MAX_SHOWN:
        text += f"; and {len(problems) - MAX_SHOWN} more ({plan} lists them all)"
    return text


def plan_text(mp: MergePlan, as_json: bool) -> str:
    """``--plan`` output: the plan's table, or its JSON document with ``"schema": 1`` first (docs/cli.md)."""
    import json

    from wasmweld.link.plan import format_plan

    if not as_json:
        return format_plan(mp, "text")
    return json.dumps({"schema": 1, **json.loads(format_plan(mp, "json"))}, indent=2) + "\n"


def print_result(inputs: list[tuple[str, str]], path: str, data: bytes, module: Module, plans: list[MergePlan], warnings: list[str],
                 validated: bool) -> None:
    """``merge --json`` (without --plan): what was written, as one JSON object (fields: docs/cli.md)."""
    import json

    from wasmweld.cli.io import display_name, elapsed_seconds

    print(json.dumps({
        "schema": 1,
        "inputs": [{"name": name, "file": display_name(file)} for name, file in inputs],
        "output": display_name(path),
        "bytes": len(data),
        "fusions": len(plans[0].fusions) if plans else 0,
        "imports": [{"module": i.module, "name": i.name, "kind": str(i.kind)} for i in module.imports],
        "exports": [e.name for e in module.exports],
        "warnings": warnings,
        "validated": validated,
        "seconds": elapsed_seconds(),
    }, indent=2, ensure_ascii=False))


def _print_error(exc: LinkError, plan: str = "wasmweld merge --plan") -> None:
    """The project's rule: a CLI error is exactly one line ``error: ...``."""
    from wasmweld.cli.io import progress_done

    progress_done()
    print(f"error: {error_line(exc, plan)}", file=sys.stderr)


def run(args: Namespace) -> int:
    if getattr(args, "world", None) is not None:
        return _run_world(args)
    if not args.inputs:
        raise WasmError("no inputs: give FILE=NAME ... (or --world world.toml)")
    from wasmweld.link import merge, merge_plan

    from wasmweld.cli.io import check_output, elapsed, output_target, plural, progress, progress_done, write_output

    opts = _options(args)
    pairs = parse_inputs(args.inputs)
    if args.plan:
        if args.output is not None:
            raise WasmError("--plan writes nothing; drop -o/--output")
        inputs = load_inputs(args.inputs)
        from wasmweld.link.merge import check_inputs

        with blame_inputs(args.inputs):
            check_inputs(inputs)  # the plan reads imports and exports only: refuse what cannot be merged
            mp = merge_plan(inputs, **opts)
        sys.stdout.write(plan_text(mp, args.json))
        return 1 if mp.problems else 0
    path, force = output_target(args)
    if args.json and path == "-":
        raise WasmError("--json prints on standard output: write the module with -o FILE")
    check_output(path, inputs=[p for p, _n in pairs], force=force)  # before the work, not after
    progress(f"reading {plural(len(pairs), 'input')}")
    inputs = load_inputs(args.inputs)
    warnings: list[str] = []

    def warn(text: str) -> None:
        warnings.append(text)
        if not args.quiet:
            progress_done()
            print(f"warning: {text}", file=sys.stderr)

    plans: list = []
    progress("merging")
    _know_version()
    try:
        with blame_inputs(args.inputs):
            module = merge(inputs, warn=warn, report=plans.append, validate_inputs=not args.no_validate, **opts)
    except LinkError as exc:
        if getattr(exc, "input_name", None) is not None:
            raise  # about one input: main prints it as FILE: message
        _print_error(exc)
        return 1
    progress("encoding")
    data = module.encode()
    def check() -> None:
        """Validate the result (in a second thread while the output is staged: nothing written if it fails)."""
        from wasmweld.cli.io import validate_result
        from wasmweld.errors import ValidationError

        try:
            validate_result(data, what="the merged module")
        except ValidationError as exc:
            from wasmweld.link.merge import check_inputs

            with blame_inputs(args.inputs):
                check_inputs(inputs)  # a malformed or invalid input is the input's fault, not the merge's
            raise WasmError(f"the merged module does not validate (a wasmweld bug; --no-validate writes it "
                            f"anyway): {exc}") from None

    validated = not args.no_validate
    if validated:
        progress("validating")
    write_output(path, data, inputs=[p for p, _n in pairs], force=force, check=check if validated else None)
    if args.json:
        print_result([(n, p) for p, n in pairs], path, data, module, plans, warnings, validated)
    elif not args.quiet:
        progress_done()
        n_exports = len(module.exports)
        print(f"merged {plural(len(inputs), 'input')}: {plural(len(plans[0].fusions), 'fusion')}, "
              f"{plural(len(module.imports), 'import')} left, {plural(n_exports, 'export')} -> "
              f"{path if path != '-' else '<stdout>'} ({plural(len(data), 'byte')}) in {elapsed()}",
              file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------- --world (issue 6)

def _world_options(args: Namespace) -> dict:
    """The merge options set on the command line; with --world the rest come from the manifest."""
    _options(args)  # the same checks as for named inputs
    opts: dict = {}
    if args.allow_unresolved:
        opts["allow_unresolved"] = True
    if args.rename_export_conflicts:
        opts["export_conflicts"] = "rename"
    if args.skip_export_conflicts:
        opts["export_conflicts"] = "skip"
    if args.export_from is not None:
        opts["export_from"] = args.export_from
    if args.single_memory:
        opts["single_memory"] = True
    if args.drop_memory_exports:
        opts["drop_memory_exports"] = True
    if args.memory_reserve is not None:
        opts["memory_reserve"] = args.memory_reserve
    if not args.gc:
        opts["gc"] = False
    if args.module_name is not None:
        opts["module_name"] = args.module_name
    if args.no_names:
        opts["names"] = False
    return opts


@contextmanager
def _blame_world(man) -> Iterator[None]:
    """An error about one module of the manifest names that module's file."""
    try:
        yield
    except WasmError as exc:
        spec = next((m for m in man.modules if m.name == getattr(exc, "merge_input", None)), None)
        if spec is not None and getattr(exc, "input_name", None) is None:
            exc.input_name = spec.path
        raise


def _run_world(args: Namespace) -> int:
    """``wasmweld merge --world world.toml -o one.wasm`` (:func:`wasmweld.manifest.merge_world`)."""
    from wasmweld.cli.io import check_output, elapsed, output_target, plural, progress, progress_done, write_output
    from wasmweld.manifest import load_manifest, merge_world
    from wasmweld.module import parse

    if args.inputs:
        raise WasmError("--world takes the modules from the manifest; drop the INPUT arguments")
    opts = _world_options(args)
    man = load_manifest(args.world)
    files = [args.world] + [m.path for m in man.modules]
    if args.plan:
        from wasmweld.link import merge_plan
        if args.output is not None:
            raise WasmError("--plan writes nothing; drop -o/--output")
        popts = {"export_conflicts": "rename", **man.merge_options, **opts}  # as merge_world does
        with _blame_world(man):
            mp = merge_plan([(m.name, m.path) for m in man.modules], **popts)
        sys.stdout.write(plan_text(mp, args.json))
        return 1 if mp.problems else 0
    path, force = output_target(args)
    if args.json and path == "-":
        raise WasmError("--json prints on standard output: write the module with -o FILE")
    check_output(path, inputs=files, force=force)

    warnings: list[str] = []

    def warn(text: str) -> None:
        warnings.append(text)
        if not args.quiet:
            progress_done()
            print(f"warning: {text}", file=sys.stderr)

    plans: list = []
    progress(f"merging {plural(len(man.modules), 'module')} of {args.world}")
    try:
        with _blame_world(man):
            data = merge_world(man, warn=warn, report=plans.append, **opts)
    except LinkError as exc:
        if getattr(exc, "input_name", None) is not None:
            raise
        _print_error(exc, f"wasmweld merge --world {args.world} --plan")
        return 1
    validated = False
    if not args.no_validate:
        from wasmweld.cli.io import validate_result
        from wasmweld.errors import ValidationError

        try:
            validated = validate_result(data, what="the merged module")
        except ValidationError as exc:
            from wasmweld.link.merge import check_inputs

            from wasmweld.cli.io import read_input

            with _blame_world(man):  # a malformed or invalid module is that module's fault, not the merge's
                check_inputs([(m.name, parse(read_input(m.path, core_only='merge'))) for m in man.modules])
            raise WasmError(f"the merged module does not validate (a wasmweld bug; --no-validate writes it "
                            f"anyway): {exc}") from None
    write_output(path, data, inputs=files, force=force)
    if args.json:
        print_result([(m.name, m.path) for m in man.modules], path, data, parse(data), plans, warnings, validated)
    elif not args.quiet:
        progress_done()
        module = parse(data)
        fusions = len(plans[0].fusions) if plans else 0
        print(f"merged {plural(len(man.modules), 'module')} of {args.world}: {plural(fusions, 'fusion')}, "
              f"{plural(len(module.imports), 'import')} left, {plural(len(module.exports), 'export')} -> "
              f"{path if path != '-' else '<stdout>'} ({plural(len(data), 'byte')}) in {elapsed()}",
              file=sys.stderr)
    return 0
