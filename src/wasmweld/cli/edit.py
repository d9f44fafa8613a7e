"""``wasmweld edit IN -o OUT [edits...]``: binary surgery, edits applied in the order given.

::

    $ wasmweld edit template.wasm -o canister.wasm \\
        --add-passive-data js=bundle.js --size-func js_passive_data_size --init-func init_js_passive_data \\
        --add-export 'canister_query greet=execute_method_js(0,1)' \\
        --stub-imports gojs --strip-debug --gc
    added passive data segment 2 'js' (1048576 bytes)
    replaced the body of 'js_passive_data_size' (#3) with the js size accessor
    ...
    wrote canister.wasm (1052553 bytes)

Options that qualify an edit (``--size-func``, ``--init-func``,
``--addr-func``, ``--no-accessors``, ``--align`` after ``--add-*-data``;
``--drop-results`` after ``--add-export``; ``--stub-default`` after
``--stub-import(s)``) apply to the edit just before them. ``--plan FILE``
runs an edit plan (docs/edit-plan.md) at its place in the order. The result
is validated before it is written (``--no-validate`` skips
that); on any error nothing is written.
"""

from __future__ import annotations

from typing import Any

import argparse
import sys

from wasmweld.errors import EditError, WasmError
from argparse import ArgumentParser, Namespace

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:  # pragma: no cover
    from wasmweld.passes.registry import Op

NAME = "edit"

_OPS = "edit_ops"


def _append(op_name: str, convert):
    class _Action(argparse.Action):
        def __call__(self, parser: ArgumentParser, namespace, values, option_string=None) -> None:
            ops = getattr(namespace, _OPS, None)
            if ops is None:
                ops = []
                setattr(namespace, _OPS, ops)
            ops.append((op_name, option_string, values, convert))
    return _Action


def _modifier(key: str, targets: tuple[str, ...], value=None):
    class _Action(argparse.Action):
        def __call__(self, parser: ArgumentParser, namespace, values, option_string=None) -> None:
            ops = getattr(namespace, _OPS, None) or []
            if not ops or ops[-1][0] not in targets:
                parser.error(f"{option_string} must follow {' or '.join('--' + t for t in _TARGET_OPTS[targets])}")
            mods = getattr(namespace, "edit_mods", None)
            if mods is None:
                mods = {}
                namespace.edit_mods = mods
            mods.setdefault(len(ops) - 1, {})[key] = values if value is None else value
    return _Action


_DATA = ("passive", "active")
_EXPORT = ("add-export",)
_STUB = ("stub-imports", "stub-import")
_TARGET_OPTS = {
    _DATA: ("add-passive-data", "add-active-data"),
    _EXPORT: ("add-export",),
    _STUB: ("stub-imports", "stub-import"),
}


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="binary surgery: inject data, add entry points, rewire imports, strip, gc",
        description="Apply edits to a module, in the order given, and write the result (validated; without wasmtime and without wasmweld's own validator, written with a note). "
                    "Functions are named by export name, name-section name, or #INDEX.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  wasmweld edit template.wasm -o out.wasm --add-passive-data js=bundle.js "
               "--size-func js_passive_data_size --init-func init_js_passive_data \\\n"
               "      --add-export 'canister_query greet=execute_method_js(0,1)' --strip-debug --gc\n"
               "see docs/edit-plan.md for --plan files",
    )
    p.add_argument("input", nargs="?", metavar="IN", help="input module (.wasm or .wat; '-' for stdin)")
    from wasmweld.cli.io import add_output_options
    add_output_options(p)
    g = p.add_argument_group("data")
    g.add_argument("--add-passive-data", metavar="NAME=FILE", action=_append("passive", None),
                   help="add FILE as a passive data segment; accessors NAME_size() and NAME_init(dest) are exported "
                        "unless --size-func/--init-func name existing functions whose bodies to replace")
    g.add_argument("--add-active-data", metavar="NAME=FILE", action=_append("active", None),
                   help="place FILE in memory at __data_end when the layout guarantees nothing else writes there "
                        "(else an error says why not); accessors as above plus NAME_addr()")
    g.add_argument("--size-func", metavar="FUNC", action=_modifier("size_func", _DATA),
                   help="(after --add-*-data) replace FUNC's body: return the data size")
    g.add_argument("--init-func", metavar="FUNC", action=_modifier("init_func", _DATA),
                   help="(after --add-*-data) replace FUNC's body: copy the data to its argument (memory.init + "
                        "data.drop for passive data, see --keep-data), return it")
    g.add_argument("--keep-data", nargs=0, action=_modifier("keep_data", _DATA, True),
                   help="(after --add-passive-data) the init accessor keeps the segment (no data.drop): callable "
                        "again, and Wizer accepts the module; without it a second call traps (unreachable)")
    g.add_argument("--addr-func", metavar="FUNC", action=_modifier("addr_func", _DATA),
                   help="(after --add-active-data) replace FUNC's body: return the data's address")
    g.add_argument("--no-accessors", nargs=0, action=_modifier("accessors", _DATA, False),
                   help="(after --add-*-data) export no generated accessors")
    g.add_argument("--align", metavar="N", type=int, action=_modifier("align", _DATA),
                   help="(after --add-active-data) alignment of the placed data (default 16)")
    g = p.add_argument_group("functions and exports")
    g.add_argument("--add-export", metavar="'NAME=FUNC(ARGS)'", action=_append("add-export", None),
                   help="export a new function NAME calling FUNC with constant ARGS (a final ... passes the new "
                        "function's parameters through); NAME=FUNC re-exports FUNC")
    g.add_argument("--drop-results", nargs=0, action=_modifier("drop_results", _EXPORT, True),
                   help="(after --add-export) the new function drops FUNC's results")
    g.add_argument("--replace-body", metavar="'FUNC=VALUE|FUNC=OTHER(ARGS)|FUNC=unreachable'",
                   action=_append("replace-body", None), help="replace FUNC's body")
    g.add_argument("--rename-export", nargs=2, metavar=("OLD", "NEW"), action=_append("rename-export", None))
    g.add_argument("--remove-exports", metavar="GLOB", action=_append("remove-exports", None),
                   help="remove exports matching GLOB")
    g.add_argument("--keep-exports", metavar="GLOB", action=_append("keep-exports", None),
                   help="keep only exports matching GLOB (repeat for several patterns)")
    g = p.add_argument_group("imports")
    g.add_argument("--rename-import", nargs=4, metavar=("MODULE", "NAME", "NEW_MODULE", "NEW_NAME"),
                   action=_append("rename-import", None))
    g.add_argument("--resolve-import", nargs=3, metavar=("MODULE", "NAME", "FUNC"), action=_append("resolve-import", None),
                   help="replace a function import by FUNC of this module (same type)")
    g.add_argument("--stub-imports", metavar="MODULE", action=_append("stub-imports", None),
                   help="replace every import from MODULE by a definition (functions trap)")
    g.add_argument("--stub-import", nargs=2, metavar=("MODULE", "NAME"), action=_append("stub-import", None),
                   help="replace the imports MODULE NAME (NAME may be a glob) by definitions")
    g.add_argument("--stub-default", nargs=0, action=_modifier("mode", _STUB, "default"),
                   help="(after --stub-import(s)) stub functions return zeros/nulls instead of trapping")
    g.add_argument("--list-uncalled-imports", nargs=0, action=_append("list-uncalled-imports", None),
                   help="print the imported functions nothing calls")
    g = p.add_argument_group("custom sections")
    g.add_argument("--strip-all", nargs=0, action=_append("strip-all", None), help="remove every custom section")
    g.add_argument("--strip-debug", nargs=0, action=_append("strip-debug", None),
                   help="remove DWARF (.debug_*), the name section and source-map links")
    g.add_argument("--strip-producers", nargs=0, action=_append("strip-producers", None))
    g.add_argument("--strip-custom", metavar="NAME", action=_append("strip-custom", None))
    g.add_argument("--strip-regex", metavar="REGEX", action=_append("strip-regex", None))
    g.add_argument("--add-custom", metavar="NAME=@FILE|NAME=TEXT", action=_append("add-custom", None))
    g.add_argument("--replace-custom", metavar="NAME=@FILE|NAME=TEXT", action=_append("replace-custom", None))
    g.add_argument("--add-producer", nargs="+", metavar="FIELD NAME [VERSION]", action=_append("add-producer", None))
    g = p.add_argument_group("whole module")
    g.add_argument("--gc", nargs=0, action=_append("gc", None), help="remove everything nothing uses")
    g.add_argument("--plan", metavar="FILE", action=_append("plan", None), help="apply an edit plan (TOML)")
    g.add_argument("--no-validate", action="store_true", help="do not validate the result")
    g.add_argument("--list-passes", action="store_true", help="list the passes and exit")
    g.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    g.add_argument("--json", action="store_true",
                   help="print the result as one JSON object with \"schema\": 1 (fields: docs/cli.md)")
    return p


def read_option_file(path: str, what: str) -> bytes:
    """The bytes of the file an option names (``what``: the option), bounded and only a regular file.

    The file is remembered as read, so the command's output may not replace it
    (see :mod:`wasmweld.cli.files`).
    """
    import os

    from wasmweld.cli.files import read_file

    if not os.path.lexists(path):
        raise EditError(f"{what}: no such file {path!r}")
    try:
        return read_file(path, f"{what} {path!r}")
    except WasmError as exc:
        raise EditError(str(exc)) from None


def load_plan_file(path: str) -> list[Op]:
    """The operations of the edit plan in ``path`` (read like every other input: see :func:`read_option_file`)."""
    from pathlib import Path

    import os

    from wasmweld.passes.plan import parse_plan

    if not os.path.lexists(path):
        raise EditError(f"{path}: no such plan file")
    if os.path.isdir(path):
        raise EditError(f"{path}: is a directory, not a plan file")
    data = read_option_file(path, "--plan")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EditError(f"{path}: cannot read plan: {exc}") from None
    return parse_plan(text, base_dir=Path(path).parent, origin=str(path))


def _split_eq(text: str, option: str, what: str) -> tuple[str, str]:
    if "=" not in text:
        raise EditError(f"{option} {text!r}: expected {what}")
    a, b = text.split("=", 1)
    if not a:
        raise EditError(f"{option} {text!r}: empty name before '='")
    return a, b


def custom_payload(value: str, option: str) -> tuple[str, bytes]:
    name, rhs = _split_eq(value, option, "NAME=@FILE or NAME=TEXT")
    if rhs.startswith("@"):
        return name, read_option_file(rhs[1:], option)
    return name, rhs.encode("utf-8")


def _replace_body_params(text: str, option: str) -> dict:
    from wasmweld.passes.common import parse_constant
    func, rhs = _split_eq(text, option, "FUNC=VALUE, FUNC=OTHER(ARGS) or FUNC=unreachable")
    rhs = rhs.strip()
    if rhs in ("unreachable", "trap"):
        return {"func": func, "trap": True}
    if rhs.endswith(")") and "(" in rhs:
        from wasmweld.passes.entry import parse_entry_spec
        spec = parse_entry_spec(f"x={rhs}")
        if not spec.reexport:
            return {"func": func, "call": spec.target, "args": list(spec.args)}
    values = [parse_constant(v) for v in rhs.split(",")] if rhs else []
    return {"func": func, "const": values}


def build_ops(args: Namespace) -> list[Op]:
    """The :class:`~wasmweld.passes.registry.Op` list for the parsed options."""
    from wasmweld.passes.entry import parse_entry_spec
    from wasmweld.passes.registry import Op

    raw = getattr(args, _OPS, None) or []
    mods = getattr(args, "edit_mods", None) or {}
    ops: list = []
    for i, (kind, option, value, _conv) in enumerate(raw):
        mod = mods.get(i, {})
        where = option
        if kind in ("passive", "active"):
            name, path = _split_eq(value, option, "NAME=FILE")
            params = {"name": name, "data": read_option_file(path, option), "mode": kind}
            for key in ("size_func", "init_func", "addr_func", "accessors", "align", "keep_data"):
                if key in mod:
                    params[key] = mod[key]
            if kind == "passive" and "addr_func" in mod:
                raise EditError("--addr-func is only for --add-active-data")
            if kind == "active" and "keep_data" in mod:
                raise EditError("--keep-data is only for --add-passive-data (active data is never dropped)")
            ops.append(Op("add-data", params, where))
        elif kind == "add-export":
            spec = parse_entry_spec(value)
            if spec.reexport:
                if mod.get("drop_results"):
                    raise EditError(f"--drop-results: {value!r} re-exports a function; it has no call to drop")
                params = {"name": spec.name, "func": spec.target}
                if spec.call_error:
                    params["call_error"] = spec.call_error
                ops.append(Op("add-export", params, where))
            else:
                ops.append(Op("add-export", {"name": spec.name, "call": spec.target, "args": list(spec.args),
                                             "drop_results": bool(mod.get("drop_results"))}, where))
        elif kind == "replace-body":
            ops.append(Op("replace-body", _replace_body_params(value, option), where))
        elif kind == "rename-export":
            ops.append(Op("rename-export", {"old": value[0], "new": value[1]}, where))
        elif kind == "remove-exports":
            ops.append(Op("remove-exports", {"patterns": [value]}, where))
        elif kind == "keep-exports":
            if ops and ops[-1].name == "keep-exports" and ops[-1].origin == where:
                ops[-1].params["patterns"].append(value)
            else:
                ops.append(Op("keep-exports", {"patterns": [value]}, where))
        elif kind == "rename-import":
            mod_, name, nm, nn = value
            ops.append(Op("rename-import", {"module": mod_, "name": name, "new_module": nm, "new_name": nn}, where))
        elif kind == "resolve-import":
            ops.append(Op("resolve-import", {"module": value[0], "name": value[1], "target": value[2]}, where))
        elif kind in ("stub-imports", "stub-import"):
            module, name = (value, None) if kind == "stub-imports" else tuple(value)
            ops.append(Op("stub-imports", {"module": module, "name": name, "mode": mod.get("mode", "trap")}, where))
        elif kind == "list-uncalled-imports":
            ops.append(Op("list-uncalled-imports", {}, where))
        elif kind.startswith("strip-"):
            params = {"all": kind == "strip-all", "debug": kind == "strip-debug",
                      "producers": kind == "strip-producers",
                      "names": [value] if kind == "strip-custom" else [],
                      "regex": [value] if kind == "strip-regex" else []}
            ops.append(Op("strip", params, where))
        elif kind in ("add-custom", "replace-custom"):
            name, data = custom_payload(value, option)
            ops.append(Op("add-custom", {"name": name, "data": data, "replace": kind == "replace-custom"}, where))
        elif kind == "add-producer":
            if not 2 <= len(value) <= 3:
                raise EditError("--add-producer takes FIELD NAME [VERSION]")
            ops.append(Op("add-producer", {"field": value[0], "name": value[1],
                                           "version": value[2] if len(value) == 3 else ""}, where))
        elif kind == "gc":
            ops.append(Op("gc", {}, where))
        elif kind == "plan":
            ops.extend(load_plan_file(value))
        else:  # pragma: no cover
            raise AssertionError(kind)
    return ops


def _print_passes() -> None:
    from wasmweld.passes.registry import describe
    width = max(len(n) for n, _ in describe())
    for name, desc in describe():
        print(f"{name:<{width}}  {desc}")


def _print_json(input_path: str, path: str, data: bytes, out: bytes, ctx, validated: bool) -> None:
    """``edit --json``: what was written, as one JSON object (fields: docs/cli.md)."""
    import json

    from wasmweld.cli.io import display_name, elapsed_seconds

    print(json.dumps({
        "schema": 1, "input": display_name(input_path), "output": display_name(path),
        "bytes_in": len(data), "bytes_out": len(out), "messages": list(ctx.messages),
        "warnings": list(ctx.warnings), "listings": list(ctx.listings), "validated": validated,
        "seconds": elapsed_seconds(),
    }, indent=2, ensure_ascii=False))


def run(args: Namespace) -> int:
    if args.list_passes:
        _print_passes()
        return 0
    if args.input is None:
        raise WasmError("no input module given (wasmweld edit IN -o OUT [edits...])")
    from wasmweld.cli.io import (
        blame, check_output, display_name, elapsed, output_target, progress, progress_done, read_input,
        write_output,
    )
    from wasmweld.module import parse
    from wasmweld.passes.registry import apply_ops
    from wasmweld.validate import check_wellformed

    ops = build_ops(args)
    if not ops:
        raise EditError("no edits given (see wasmweld edit --help)")
    query_only = all(op.name == "list-uncalled-imports" for op in ops)
    if not query_only or args.output is not None or getattr(args, "in_place", False):
        # before the work: the output may not replace a file the edits read (data, @FILE, plan)
        early_path, early_force = output_target(args, args.input)
        check_output(early_path, inputs=[args.input], force=early_force)
    progress(f"reading {display_name(args.input)}")
    data = read_input(args.input, core_only="edit")
    with blame(args.input):
        check_wellformed(data)
        module = parse(data)
        progress("editing")
        module, ctx = apply_ops(module, ops)
    log = sys.stderr
    progress_done()
    for line in ctx.listings if not args.json else ():
        print(line)
    if query_only and args.output is None and not getattr(args, "in_place", False):
        return 0
    path, force = output_target(args, args.input)
    if args.json and path == "-":
        raise WasmError("--json prints on standard output: write the module with -o FILE")
    progress("encoding")
    out = module.encode()
    validated = False
    if not args.no_validate:
        from wasmweld.cli.io import validate_result

        progress("validating")
        validated = validate_result(out, inputs=[(args.input, data)], what="the edited module")
    write_output(path, out, inputs=[args.input], force=force)
    if args.json:
        _print_json(args.input, path, data, out, ctx, validated)
    elif not args.quiet:
        progress_done()
        for line in ctx.messages:
            print(line, file=log)
        for line in ctx.warnings:
            print(f"warning: {line}", file=log)
        if path != "-":
            print(f"wrote {display_name(path)} ({len(out)} bytes, was {len(data)}) in {elapsed()}", file=log)
    return 0
