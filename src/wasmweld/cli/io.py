"""Input and output for subcommands: read modules (binary or text), write results safely.

Reading: ``read_input(path)`` returns binary module bytes. ``-`` is standard
input; WebAssembly text (a ``.wat``/``.wast`` file, or contents that start with
``(`` or ``;;``) is compiled first::

    data = read_input("examples/bank.wat")      # b"\\0asm..."

Writing: ``write_output(path, data, inputs=[...])`` writes a temporary file
in the destination's folder and renames it over the destination, so readers
see the old file or the whole new one, never half of one. It refuses to
replace one of ``inputs`` unless ``force`` is set, and refuses to send binary
to a terminal. Subcommands add the usual options with :func:`add_output_options`::

    add_output_options(parser)        # -o/--output FILE, --force, -i/--in-place
    ...
    path, force = output_target(args, args.input)
    write_output(path, data, inputs=[args.input], force=force)

Errors about an input name it: ``with blame(path): ...`` tags a
:class:`WasmError` raised inside with the input's display name, and the CLI
prints ``error: FILE: message``. When a command read exactly one input, a
:class:`~wasmweld.errors.DecodeError` or
:class:`~wasmweld.errors.ValidationError` that names no input is about that
input too (see :func:`input_of`). Standard input can be read once per run;
reading it again is an error rather than an empty module.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from wasmweld.errors import DecodeError, ValidationError, WasmError
from wasmweld.runtime.engine import load_bytes

__all__ = [
    "read_input", "write_output", "check_output", "display_name", "add_output_options", "output_target",
    "blame", "input_of", "begin_command", "one_line",
]

#: display names of the inputs :func:`read_input` read since :func:`begin_command`
_inputs_read: list[str] = []
#: the standard input stream once read (it cannot be read twice)
_stdin_consumed: object | None = None


def begin_command() -> None:
    """Forget the inputs read so far (``wasmweld.cli.main`` calls this before each command)."""
    _inputs_read.clear()


@contextmanager
def blame(path: str | os.PathLike) -> Iterator[None]:
    """Attribute a :class:`WasmError` raised inside to the input ``path`` (innermost wins).

    The error gets an ``input_name`` attribute (the display name); its message is
    left alone, the CLI prefixes it when printing (see :func:`input_of`)::

        with blame(args.input):
            module = parse(data)
    """
    try:
        yield
    except WasmError as exc:
        if getattr(exc, "input_name", None) is None:
            exc.input_name = display_name(path)
        raise


def _names(text: str, name: str) -> bool:
    return text.startswith(f"{name}:") or f"{name}: " in text or repr(name) in text


def input_of(exc: WasmError) -> str | None:
    """The display name to print before ``exc``'s message, or None.

    The input :func:`blame` attached, else -- for a DecodeError or ValidationError
    (a problem in a module's bytes) when the command read exactly one input --
    that input. None when the message names it already.
    """
    name = getattr(exc, "input_name", None)
    if name is None and isinstance(exc, (DecodeError, ValidationError)) and len(set(_inputs_read)) == 1:
        name = _inputs_read[0]
    if name is None or _names(str(exc), name):
        return None
    return name


def one_line(text: object) -> str:
    r"""``text`` (an error message) as one line: the CLI prints every error on one line.

    Lines are stripped of their indentation and joined with ``"; "``; a line
    ending in ``:`` introduces what follows it, so it is joined with a space::

        >>> one_line("trapped: integer divide by zero\nwasm backtrace:\n  #0 func 3 <div>\n  #1 func 4 <init>")
        'trapped: integer divide by zero; wasm backtrace: #0 func 3 <div>; #1 func 4 <init>'
    """
    out = ""
    for line in str(text).splitlines():
        line = line.strip()
        if not line:
            continue
        out = line if not out else out + (" " if out.endswith(":") else "; ") + line
    return out


def display_name(path: str | os.PathLike) -> str:
    """How messages name an input: ``<stdin>`` for ``-``, else the path as given."""
    path = os.fspath(path)
    return "<stdin>" if path == "-" else path


def read_input(path: str | os.PathLike) -> bytes:
    """The binary module in ``path`` (``-``: standard input), compiling WebAssembly text.

    A missing or unreadable file raises :class:`WasmError` naming it; a text
    syntax error raises :class:`~wasmweld.errors.DecodeError`.
    """
    global _stdin_consumed
    path = os.fspath(path)
    _inputs_read.append(display_name(path))
    with blame(path):
        if path != "-":
            return load_bytes(path)
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise WasmError("<stdin>: no standard input to read")
        if _stdin_consumed is sys.stdin:
            raise WasmError("<stdin>: standard input was read already; it can be given as an input only once")
        _stdin_consumed = sys.stdin
        return load_bytes(stream.read())


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(
    path: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    force: bool = False,
    binary: bool = True,
) -> None:
    """Raise :class:`WasmError` if :func:`write_output` would refuse ``path`` or could not write there.

    Commands call it before the work (and before writing anything) when they
    write more than one file, so that a bad second destination does not leave
    the first one written. It checks: binary to a terminal, replacing an input
    without ``force``, a directory in the way, a missing folder.
    """
    path = os.fspath(path)
    if path == "-":
        if binary and sys.stdout.isatty():
            raise WasmError("refusing to write binary to a terminal; use -o FILE")
        return
    if not force:
        for inp in inputs:
            inp = os.fspath(inp)
            if inp != "-" and _same_file(path, inp):
                raise WasmError(f"refusing to overwrite input {path}; use --force (or --in-place) to replace it")
    target = os.path.realpath(path)
    folder = os.path.dirname(target) or "."
    if os.path.isdir(target):
        raise WasmError(f"{path}: is a directory")
    if not os.path.isdir(folder):
        what = "not a directory" if os.path.exists(folder) else "no such directory"
        raise WasmError(f"{path}: cannot write: {what}: {folder}")


def write_output(
    path: str | os.PathLike,
    data: bytes | bytearray | memoryview | str,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    force: bool = False,
) -> None:
    """Write ``data`` to ``path`` atomically (``-``: standard output).

    * ``str`` data is written as UTF-8 text; bytes are binary, and binary is
      not written to a terminal.
    * ``path`` may not be one of ``inputs`` unless ``force``.
    * The file appears complete or not at all; on any failure the old file is
      left as it was and no temporary file remains. A symlink is written
      through; an existing file keeps its permission bits.
    """
    text = isinstance(data, str)
    payload = data.encode("utf-8") if text else bytes(data)
    path = os.fspath(path)
    check_output(path, inputs=inputs, force=force, binary=not text)

    if path == "-":
        stream = getattr(sys.stdout, "buffer", None)
        if stream is None:
            sys.stdout.write(payload.decode("utf-8", errors="replace"))
        else:
            sys.stdout.flush()
            stream.write(payload)
            stream.flush()
        return

    target = os.path.realpath(path)
    folder = os.path.dirname(target) or "."
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except FileNotFoundError:
        raise WasmError(f"{path}: cannot write: no such directory: {folder}") from None
    except OSError as exc:
        raise WasmError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise WasmError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise


def add_output_options(parser: argparse.ArgumentParser, *, in_place: bool = True) -> None:
    """Add ``-o/--output FILE`` (``-``: standard output), ``--force`` and, if asked, ``-i/--in-place``."""
    parser.add_argument("-o", "--output", metavar="FILE", help="where to write the result ('-': standard output)")
    parser.add_argument("--force", action="store_true", help="allow the output to replace an input file")
    if in_place:
        parser.add_argument("-i", "--in-place", action="store_true", help="replace the input file with the result")


def output_target(args: argparse.Namespace, input_path: str | None = None) -> tuple[str, bool]:
    """``(path, force)`` for :func:`write_output` from the options of :func:`add_output_options`."""
    in_place = getattr(args, "in_place", False)
    output = getattr(args, "output", None)
    if in_place:
        if output is not None:
            raise WasmError("use either -o/--output or -i/--in-place, not both")
        if input_path is None or input_path == "-":
            raise WasmError("--in-place needs an input file")
        return input_path, True
    if output is None:
        raise WasmError("no output given; use -o FILE (or -o - for standard output)")
    return output, bool(getattr(args, "force", False))
