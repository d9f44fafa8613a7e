"""The ``wasmweld`` command: one argparse front end, one module per subcommand.

Each subcommand lives in ``wasmweld/cli/<name>.py`` and provides two functions::

    def register(subparsers) -> argparse.ArgumentParser:   # add_parser(...) + arguments
    def run(args) -> int:                                   # the exit status

``SUBCOMMANDS`` lists the names in help order; a name whose module does not
exist (yet) is left out, so adding a subcommand is creating its file. A module
that exists but fails to import still shows up and reports the failure as an
internal error when it is used, without breaking the other subcommands.

Exit status: 0 success; 1 a :class:`~wasmweld.errors.WasmError` (bad input or
refused request, printed as one ``error: ...`` line, ``error: FILE: ...`` when
it is about an input: see :func:`wasmweld.cli.io.input_of`); 2 usage errors and
internal errors (bugs: rerun with ``--debug`` for the traceback); 130
interrupted; 141 output pipe closed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from wasmweld.errors import WasmError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: subcommand modules, in the order ``wasmweld --help`` lists them
SUBCOMMANDS: list[str] = [
    "info", "dump", "validate", "merge", "graph", "edit", "strip", "metadata", "snapshot", "run", "compile",
]
SUBCOMMANDS += ["wit", "extract"]  # components (wasmweld.component)
SUBCOMMANDS += ["fuse"]  # compositions -> one core module (wasmweld.fuse)

_RUN = "_wasmweld_run"


def _version() -> str:
    from wasmweld import __version__

    return __version__


def _load(name: str):
    """The subcommand module ``wasmweld.cli.<name>``, None if it does not exist, or the import error."""
    modname = f"{__package__}.{name}"
    try:
        return importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name == modname:
            return None
        return exc
    except Exception as exc:  # a broken subcommand must not take the others down
        return exc


def _failing_run(name: str, exc: BaseException):
    def run(args) -> int:
        raise RuntimeError(f"subcommand {name!r} failed to load: {type(exc).__name__}: {exc}") from exc

    return run


def _broken(sub, name: str, exc: BaseException) -> None:
    if name in sub.choices:  # register() failed half-way: keep its parser, refuse to run
        sub.choices[name].set_defaults(**{_RUN: _failing_run(name, exc)})
        return
    parser = sub.add_parser(name, help=f"(unavailable: {type(exc).__name__})", add_help=False)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(**{_RUN: _failing_run(name, exc)})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wasmweld",
        description="Read, write, merge, edit, pre-initialise and link WebAssembly core modules.",
    )
    parser.add_argument("--version", action="version", version=f"wasmweld {_version()}")
    parser.add_argument(
        "--debug", action="store_true", default=False, help="show tracebacks (also: WASMWELD_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in SUBCOMMANDS:
        mod = _load(name)
        if mod is None:
            continue
        if isinstance(mod, BaseException):
            _broken(sub, name, mod)
            continue
        before = set(sub.choices)
        try:
            mod.register(sub)
        except Exception as exc:
            _broken(sub, name, exc)
            continue
        for added in set(sub.choices) - before:
            p = sub.choices[added]
            if p.get_default(_RUN) is None:
                p.set_defaults(**{_RUN: mod.run})
            # --debug is accepted after the subcommand too (unless the subcommand took the name)
            try:
                p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
            except argparse.ArgumentError:
                pass
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    from wasmweld.cli import io as cli_io
    from wasmweld.cli.io import one_line

    debug = bool(os.environ.get("WASMWELD_DEBUG"))
    cli_io.begin_command()
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, usage errors
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        debug = debug or args.debug
        run = getattr(args, _RUN, None)
        if run is None:
            parser.print_help(sys.stderr)
            return 2
        status = run(args)
        sys.stdout.flush()
        return int(status or 0)
    except WasmError as exc:
        if debug:
            traceback.print_exc()
        name = cli_io.input_of(exc)
        print(f"error: {name + ': ' if name else ''}{one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `wasmweld dump x.wasm | head`): stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        if not debug:
            print("this is a bug in wasmweld; rerun with --debug for a traceback", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
