"""``wasmweld validate FILE...``: does each module decode, and does it type-check?

Each file is first decoded completely by wasmweld's own reader (so malformed
bytes are reported with their offset), then validated by wasmtime with every
Wasm 3.0 feature on. Problems are printed as ``FILE: message`` on standard
error; the exit status is 0 when every file is valid, 1 otherwise::

    $ wasmweld validate ok.wat bad.wat
    bad.wat: type mismatch: expected i32, found i64 (at offset 0x1a)
    $ echo $?
    1
"""

from __future__ import annotations

import sys

from wasmweld.errors import DecodeError, ValidationError, WasmError

NAME = "validate"


def register(subparsers):
    p = subparsers.add_parser(
        NAME,
        help="check that modules decode and validate",
        description="Decode each module with wasmweld, then validate it with wasmtime (all Wasm 3.0 features). "
        "Prints FILE: message for each invalid one; exit status 1 if any is invalid.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="binary (.wasm) or text (.wat) module; '-' for stdin")
    p.add_argument("-v", "--verbose", action="store_true", help="also print FILE: ok for valid modules")
    return p


def _parse_fn():
    import wasmweld

    parse = getattr(wasmweld, "parse", None)
    if parse is None:
        from wasmweld.module import parse
    return parse


def run(args) -> int:
    from wasmweld.cli.io import display_name, one_line, read_input
    from wasmweld.runtime.engine import validate_bytes

    parse = _parse_fn()
    status = 0
    for path in args.files:
        name = display_name(path)
        try:
            data = read_input(path)
            if data[:8] == b"\0asm\x0d\0\x01\0":  # a component: decode, canonical options, wasmtime
                from wasmweld.runtime.component import validate_component
                validate_component(data)
            else:
                parse(data, lazy=False)
                validate_bytes(data)
        except (DecodeError, ValidationError) as exc:
            status = 1
            print(f"{name}: {one_line(exc)}", file=sys.stderr)
            continue
        except WasmError as exc:  # the file cannot be read: the message names it already
            status = 1
            print(one_line(exc), file=sys.stderr)
            continue
        if args.verbose:
            print(f"{name}: ok")
    return status
