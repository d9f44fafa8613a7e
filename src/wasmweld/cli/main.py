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
internal errors (bugs: rerun with ``--traceback`` for the traceback); 130
interrupted; 141 output pipe closed. A missing optional dependency (wasmtime)
is not a bug: it prints the install hint and exits 1.

Start-up is kept short: only the subcommand named on the command line is
imported (``wasmweld --version`` imports none; ``--help`` all of them).
``--traceback`` (before or after the subcommand; ``--debug`` before it, the
old name, or ``WASMWELD_DEBUG=1``) prints tracebacks; ``strip --debug`` is
strip's own option (debug sections).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from collections.abc import Sequence

from wasmweld.errors import WasmError
from argparse import ArgumentParser, Namespace

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: subcommand modules, in the order ``wasmweld --help`` lists them
SUBCOMMANDS: list[str] = [
    "info", "dump", "validate", "merge", "graph", "edit", "strip", "metadata", "snapshot", "run", "compile",
    "print", "parse", "addr2line", "wit", "extract", "fuse",
]

_RUN = "_wasmweld_run"


#: the install hint printed when an optional dependency is missing
RUNTIME_HINT = "pip install 'wasmweld[runtime]'"

#: global options that take no value (skipped when looking for the subcommand's name)
_GLOBAL_FLAGS = frozenset({"--traceback", "--debug"})


def version_text() -> str:
    """``wasmweld X.Y.Z (wasmtime A.B.C)``, or ``(wasmtime not installed)``: what ``--version`` prints."""
    from wasmweld.cli.version import distribution_version

    ours = distribution_version("wasmweld") or "0+unknown"
    runtime = distribution_version("wasmtime")
    return f"wasmweld {ours} ({'wasmtime ' + runtime if runtime else 'wasmtime not installed'})"


def terminal_columns() -> int:
    """The terminal's width as :func:`shutil.get_terminal_size` finds it (``COLUMNS``, then standard output's
    terminal, else 80), without importing :mod:`shutil` (with bz2, lzma, zlib, fnmatch: ~3 ms of start-up)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        stdout = sys.__stdout__
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout is not None else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Formatter(argparse.HelpFormatter):
    """argparse's help layout, with the width found by :func:`terminal_columns` (argparse builds one of
    these for every argument added, and its own would import shutil)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         terminal_columns() - 2 if width is None else width)


class Parser(argparse.ArgumentParser):
    """argparse, except that ``-=NAME`` (standard input named NAME: merge, graph) is an argument, not an option;
    help laid out by :class:`Formatter` unless a subcommand asks for another."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def _parse_optional(self, arg_string):
        if arg_string.startswith("-="):
            return None
        return super()._parse_optional(arg_string)


class _VersionAction(argparse.Action):
    """``--version``: the text is computed when asked for, not each time the parser is built."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None) -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: ArgumentParser, namespace, values, option_string=None) -> None:
        print(version_text())
        parser.exit()


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not a global option), or None."""
    for tok in argv:
        if tok in _GLOBAL_FLAGS:
            continue
        return tok if tok in SUBCOMMANDS else None
    return None


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
    def run(args: Namespace) -> int:
        raise RuntimeError(f"subcommand {name!r} failed to load: {type(exc).__name__}: {exc}") from exc

    return run


def _broken(sub, name: str, exc: BaseException) -> None:
    if name in sub.choices:  # register() failed half-way: keep its parser, refuse to run
        sub.choices[name].set_defaults(**{_RUN: _failing_run(name, exc)})
        return
    parser = sub.add_parser(name, help=f"(unavailable: {type(exc).__name__})", add_help=False)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(**{_RUN: _failing_run(name, exc)})


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``argv``, only the subcommand it names is imported (all if it names none)."""
    parser = Parser(
        prog="wasmweld",
        description="Read, write, merge, edit, pre-initialise and link WebAssembly core modules.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the versions of wasmweld and wasmtime")
    parser.add_argument(
        "--traceback", action="store_true", default=False, help="show tracebacks (also: WASMWELD_DEBUG=1)"
    )
    parser.add_argument("--debug", dest="traceback", action="store_true", help=argparse.SUPPRESS)  # the old name
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    wanted = command_of(argv) if argv is not None else None
    if argv is not None and wanted is None and "--version" in argv and not ({"-h", "--help"} & set(argv)):
        return parser  # `wasmweld --version`: no subcommand needed
    for name in SUBCOMMANDS if wanted is None else [wanted]:
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
            # --traceback is accepted after the subcommand too; so is --debug unless the subcommand has its own
            for flag, shown in (("--traceback", "show tracebacks"), ("--debug", argparse.SUPPRESS)):
                try:
                    p.add_argument(flag, dest="traceback", action="store_true", default=argparse.SUPPRESS,
                                   help=shown)
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
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, usage errors
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        debug = debug or getattr(args, "traceback", False)
        run = getattr(args, _RUN, None)
        if run is None:
            parser.print_help(sys.stderr)
            return 2
        cli_io.set_quiet(bool(getattr(args, "quiet", False)))
        try:
            status = run(args)
        finally:
            cli_io.progress_done()  # a progress line on a terminal never mixes with what follows
        sys.stdout.flush()
        return int(status or 0)
    except WasmError as exc:
        if debug:
            __import__("traceback").print_exc()
        name = cli_io.input_of(exc)
        print(f"error: {name + ': ' if name else ''}{one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `wasmweld dump x.wasm | head`): stop quietly
        _drop_stdout()
        return 141
    except OSError as exc:
        if exc.errno not in _FULL:
            return _internal_error(exc, debug)
        # standard output (or a file written without -o's staging) on a full or failing device
        _drop_stdout()
        print(f"error: cannot write: {exc.strerror}", file=sys.stderr)
        return 1
    except Exception as exc:
        return _internal_error(exc, debug)


#: errno values of a device that cannot take the output (not a bug: an ``error:`` line, exit 1)
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _internal_error(exc: Exception, debug: bool) -> int:
    """What an unexpected exception prints (a bug, exit 2), or the install hint when wasmtime is missing (exit 1)."""
    from wasmweld.cli import io as cli_io
    from wasmweld.cli.io import one_line

    if debug:
        __import__("traceback").print_exc()
    if cli_io.missing_runtime(exc):
        print(f"error: this needs wasmtime, which is not installed: {RUNTIME_HINT}", file=sys.stderr)
        return 1
    print(f"internal error: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
    if not debug:
        print("this is a bug in wasmweld; rerun with --traceback for a traceback", file=sys.stderr)
    return 2


def console() -> None:
    """The ``wasmweld`` command (and ``python -m wasmweld``): :func:`main`, then the process ends without
    the interpreter's teardown, which frees every object one by one (40 ms after a merge of two big
    modules). The output streams are flushed and the ``atexit`` handlers run first; if a flush fails,
    the ordinary exit reports it."""
    status = main()
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as exc:        # (main flushed what it wrote: this is what came after)
        _drop_stdout()
        if status == 0:
            print(f"error: cannot write to standard output: {getattr(exc, 'strerror', None) or exc}",
                  file=sys.stderr)
            status = 1
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    import atexit

    atexit._run_exitfuncs()
    os._exit(status)


def _drop_stdout() -> None:
    """Point standard output at /dev/null (its reader went away, or its device is full): what is still
    buffered goes nowhere instead of failing again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    console()
