"""``wasmweld validate FILE...``: does each module decode, and does it type-check?

By default (``--engine auto``) a module wasmtime accepts is valid at once
(fast); any other is judged by wasmweld's own validator, which names the
function, instruction, byte offset and types. ``--engine wasmweld`` always
uses wasmweld's validator, ``--engine wasmtime`` only wasmtime, ``--engine
both`` runs both and reports each verdict. ``--features`` restricts the
proposals like ``wasm-tools validate --features`` (``wasm2``, ``all,-threads``,
``wasm3,+legacy-exceptions``). Problems are printed as ``FILE: message`` on
standard error; the exit status is 0 when every file is valid, 1 otherwise::

    $ wasmweld validate ok.wat bad.wat
    bad.wat: func 0 <f> at 0x1a: type mismatch: i32.add expects [i32 i32] but the stack has [i32 f64]
    $ wasmweld validate --json bad.wat
    {"schema": 1, "files": [{"file": "bad.wat", "valid": false, "error": {"kind": "invalid", ...}}]}
"""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from typing import Any

import json
import sys

from wasmweld.errors import DecodeError, ValidationError, WasmError

NAME = "validate"
ENGINE_CHOICES = ("auto", "wasmweld", "wasmtime", "both")


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="check that modules decode and validate",
        description="Validate each module: wasmweld's own validator (pure Python, all of Wasm 3.0 plus legacy "
        "exceptions, threads, custom page sizes, wide arithmetic), or wasmtime. Prints FILE: message for each "
        "invalid one; exit status 1 if any is invalid.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="binary (.wasm) or text (.wat) module; '-' for stdin")
    p.add_argument("--features", metavar="F", default=None,
                   help="proposals allowed, as in wasm-tools: all, wasm1, wasm2, wasm3, +name, -name "
                        "(comma-separated; default: everything toolchains emit); components also take the component-model "
                        "ones: cm-gc, cm-async, cm64, cm-values, cm-error-context, ...")
    p.add_argument("--engine", choices=ENGINE_CHOICES, default="auto",
                   help="who judges: auto (wasmtime if it accepts, else wasmweld; the default), wasmweld, "
                        "wasmtime, or both (report each verdict)")
    p.add_argument("--json", action="store_true", help="print one JSON report on standard output (schema 1)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print FILE: ok for valid modules")
    return p


def _error_record(exc: BaseException) -> dict:
    kind = "malformed" if isinstance(exc, DecodeError) else "invalid"
    rec = {"kind": kind, "message": str(exc), "offset": getattr(exc, "offset", None)}
    for k in ("func", "func_name", "instr", "reason"):
        v = getattr(exc, k, None)
        if v is not None:
            rec[k] = v
    for k in ("expected", "found"):
        v = getattr(exc, k, None)
        if v is not None:
            rec[k] = [str(t) for t in v]
    return rec


def _judge(data: bytes, engine: str, features) -> BaseException | None:
    """The error ``engine`` finds in ``data`` (None: valid)."""
    from wasmweld.validate import validate

    try:
        if data[:8] == b"\0asm\x0d\0\x01\0":  # a component: decode, wasmweld's checks, wasmtime
            from wasmweld.component.validation import validate_component

            validate_component(data, features)
        elif engine == "wasmtime":
            from wasmweld.runtime.engine import validate_bytes

            try:
                validate_bytes(data)
            except ValidationError:
                from wasmweld.module import parse

                parse(data, lazy=False)  # malformed: say where, in wasmweld's words
                raise
        else:
            validate(data, features=features, engine=engine)
    except (DecodeError, ValidationError) as exc:
        return exc
    return None


def _check_file(path: str, args) -> tuple[dict, list[str]]:
    from wasmweld.cli.io import display_name, one_line, read_input

    name = display_name(path)
    try:
        data = read_input(path)
    except DecodeError as exc:  # WebAssembly text that does not compile: the file is malformed
        return {"file": name, "valid": False, "error": _error_record(exc)}, [f"{name}: {one_line(exc)}"]
    engines = ("wasmweld", "wasmtime") if args.engine == "both" else (args.engine,)
    verdicts = {e: _judge(data, e, args.features) for e in engines}
    rec: dict = {"file": name, "valid": all(v is None for v in verdicts.values())}
    lines = []
    if args.engine == "both":
        rec["verdicts"] = {e: (None if v is None else _error_record(v)) for e, v in verdicts.items()}
        rec["agree"] = len({v is None for v in verdicts.values()}) == 1
        for e, v in verdicts.items():
            if v is not None:
                lines.append(f"{name}: {e}: {one_line(v)}")
        if not rec["agree"]:
            ok = [e for e, v in verdicts.items() if v is None]
            lines.append(f"{name}: the engines disagree ({', '.join(ok)} accepts it)")
    else:
        err = verdicts[args.engine]
        if err is not None:
            rec["error"] = _error_record(err)
            lines.append(f"{name}: {one_line(err)}")
    return rec, lines


def run(args: Namespace) -> int:
    from wasmweld.component.validation import split_features

    if args.features is not None:
        split_features(args.features)  # an unknown name is a usage error before any file is read
    status = 0
    report = {"schema": 1, "engine": args.engine, "features": args.features, "files": []}
    for path in args.files:
        try:
            rec, lines = _check_file(path, args)
        except WasmError as exc:  # the file cannot be read: the message names it already
            from wasmweld.cli.io import display_name, one_line

            status = 1
            report["files"].append({"file": display_name(path), "valid": False,
                                    "error": {"kind": "unreadable", "message": str(exc)}})
            if not args.json:
                print(one_line(exc), file=sys.stderr)
            continue
        report["files"].append(rec)
        if not rec["valid"]:
            status = 1
        if not args.json:
            for line in lines:
                print(line, file=sys.stderr)
            if rec["valid"] and args.verbose:
                print(f"{rec['file']}: ok")
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    return status
