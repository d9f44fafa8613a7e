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
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from wasmweld.cli.files import files_read, forget_files, read_file, read_stream
from wasmweld.errors import DecodeError, ValidationError, WasmError

__all__ = [
    "read_input", "write_output", "write_outputs", "StagedOutput", "OutputData", "check_output", "display_name", "add_output_options", "output_target",
    "blame", "input_of", "begin_command", "one_line", "validate_result",
    "elapsed", "elapsed_seconds", "plural", "progress", "progress_done", "say", "set_quiet", "missing_runtime",
    "clean_stale_temporaries", "refuse_component",
    "is_component", "COMPONENT_VERSION",
]

#: the version field (bytes 4..8) of a component-model binary: version 0x0d, layer 1
COMPONENT_VERSION = b"\x0d\x00\x01\x00"

#: the note printed when a result cannot be validated (no wasmtime, no own validator)
#: display names of the inputs :func:`read_input` read since :func:`begin_command`
_inputs_read: list[str] = []
#: the standard input stream once read (it cannot be read twice)
_stdin_consumed: object | None = None


#: when the current command started (``time.perf_counter``), for :func:`elapsed`
_started: list[float] = [0.0]
#: progress lines are not printed (``--quiet``)
_quiet: list[bool] = [False]
#: a progress line is showing on stderr (it is cleared before anything else is printed)
_progress_shown: list[bool] = [False]
#: progress lines appear only once a command has run this long (seconds): quick commands never flicker
PROGRESS_AFTER = 0.5


def begin_command() -> None:
    """Forget the inputs read so far and start the clock (``wasmweld.cli.main`` calls this before each command)."""
    _inputs_read.clear()
    forget_files()
    _started[0] = time.perf_counter()
    _quiet[0] = False
    _progress_shown[0] = False


def elapsed_seconds() -> float:
    """Seconds since the command started (for ``--json`` results), rounded to milliseconds."""
    return round(time.perf_counter() - _started[0], 3)


def elapsed() -> str:
    """The time since the command started, for summary lines: ``0.042 s``, ``1.35 s``, ``12.1 s``."""
    t = time.perf_counter() - _started[0]
    return f"{t:.3f} s" if t < 1 else f"{t:.2f} s" if t < 10 else f"{t:.1f} s"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 input``, ``3 inputs`` (``many``: the plural when it is not ``word + "s"``)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress lines for the rest of the command."""
    _quiet[0] = bool(quiet)


def progress(text: str) -> None:
    """Show ``text`` as the current step on stderr, when stderr is a terminal and not ``--quiet``.

    The line is rewritten in place (carriage return, erase to end of line) and
    cleared by :func:`progress_done`, so nothing of it stays in a log. Steps
    reached before :data:`PROGRESS_AFTER` seconds are not shown.
    """
    if _quiet[0] or time.perf_counter() - _started[0] < PROGRESS_AFTER:
        return
    stream = sys.stderr
    try:
        if not stream.isatty():
            return
    except (AttributeError, ValueError):
        return
    stream.write(f"\r{text} ({elapsed()})\x1b[K")
    stream.flush()
    _progress_shown[0] = True


def say(text: str) -> None:
    """Print ``text`` (a summary or warning line) on stderr, erasing a progress line first."""
    progress_done()
    print(text, file=sys.stderr)


def progress_done() -> None:
    """Erase the progress line, if one is showing."""
    if _progress_shown[0]:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
        _progress_shown[0] = False


@contextmanager
def blame(path: str | os.PathLike[str]) -> Iterator[None]:
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
            exc.input_name = display_name(path)  # read back by input_of()
        raise


def _names(text: str, name: str) -> bool:
    return text.startswith(f"{name}:") or f"{name}: " in text or repr(name) in text


def input_of(exc: WasmError) -> str | None:
    """The display name to print before ``exc``'s message, or None.

    The input :func:`blame` attached, else -- for a DecodeError or ValidationError
    (a problem in a module's bytes) when the command read exactly one input --
    that input. None when the message names it already.
    """
    if getattr(exc, "about_output", False):  # the command's result, not an input (validate_result)
        return None
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


def display_name(path: str | os.PathLike[str]) -> str:
    """How messages name an input: ``<stdin>`` for ``-``, else the path as given."""
    path = os.fspath(path)
    return "<stdin>" if path == "-" else path


def read_input(path: str | os.PathLike[str], *, core_only: str | None = None) -> bytes:
    """The binary module in ``path`` (``-``: standard input), compiling WebAssembly text.

    A missing or unreadable file raises :class:`WasmError` naming it; a text
    syntax error raises :class:`~wasmweld.errors.DecodeError`. ``core_only``
    (the command's name): a component is refused with a message saying it is one.
    """
    global _stdin_consumed
    path = os.fspath(path)
    _inputs_read.append(display_name(path))
    with blame(path):
        if path != "-":
            data = read_file(path)
        else:
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:
                raise WasmError("<stdin>: no standard input to read")
            if _stdin_consumed is sys.stdin:
                raise WasmError("<stdin>: standard input was read already; it can be given as an input only once")
            _stdin_consumed = sys.stdin
            data = read_stream(stream)
        if not data.startswith(b"\0asm"):  # text (or garbage): the engine module decides, and compiles text
            from wasmweld.runtime.engine import looks_like_wat, wat2wasm

            if looks_like_wat(data, None if path == "-" else path):
                data = wat2wasm(data)
        if core_only is not None:
            refuse_component(data, core_only)
        return data


def is_component(data: bytes | bytearray | memoryview) -> bool:
    """True if ``data`` is a component-model binary (``\\0asm`` then version 0x0d, layer 1), not a core module."""
    return bytes(data[:4]) == b"\0asm" and bytes(data[4:8]) == COMPONENT_VERSION


def refuse_component(data: bytes | bytearray | memoryview, command: str) -> None:
    """Raise :class:`WasmError` if ``data`` is a component: ``command`` works on core modules only."""
    if is_component(data):
        raise WasmError(f"this is a WebAssembly component (binary version 0x0d, layer 1, at offset 0x4), "
                        f"not a core module: wasmweld {command} works on core modules")


def missing_runtime(exc: BaseException | None) -> bool:
    """True if ``exc`` (or an exception that caused it) is the failed import of wasmtime."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == "wasmtime":
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def validate_result(data: bytes, *, inputs: Iterable[tuple[str, bytes]] = (), what: str = "the output") -> bool:
    """Validate a command's result before it is written (True when it was validated).

    :func:`wasmweld.validate.validate_output` decides: wasmweld's own validator
    (wasmtime first where it is installed, since it is quicker on what it accepts),
    so this works on a plain ``pip install wasmweld`` too. An invalid result raises
    :class:`~wasmweld.errors.ValidationError` naming ``what``, saying whether one of
    ``inputs`` (``(name, bytes)`` pairs) already fails, and that nothing was written.
    """
    from wasmweld.validate import validate_output

    progress_done()
    try:
        validate_output(data, inputs=inputs, what=what, hint="nothing written; --no-validate writes it anyway")
    except ValidationError as exc:
        exc.about_output = True  # type: ignore[attr-defined]  # read back by input_of(): no input named first
        raise
    return True


def _read_only(target: str) -> bool:
    """True if ``target`` exists and its permission bits let nobody (or not us) write it.

    The mode bits decide, not :func:`os.access`: for root, ``access`` says every
    file is writable, yet a ``chmod a-w`` file is one its owner meant to keep.
    """
    try:
        st = os.stat(target)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    if st.st_mode & 0o222 == 0:
        return True
    return hasattr(os, "geteuid") and os.geteuid() != 0 and not os.access(target, os.W_OK)


#: temporary files of :func:`write_output`: ``.NAME.PID.XXXXXXXX.tmp`` beside the target
def _temp_prefix(base: str) -> str:
    return f".{base}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: alive
    return True


#: a temporary file of a dead process is removed once it is this old (seconds): a run on another
#: machine sharing the folder (network file system) has a pid that means nothing here
STALE_AFTER = 60.0


#: temporary files of versions before 0.2 (``.NAME.XXXXXXXX.tmp``, no pid) are removed once this old (seconds)
STALE_OLD_NAMING_AFTER = 3600.0


def clean_stale_temporaries(folder: str, base: str) -> list[str]:
    """Remove ``.BASE.PID.XXXXXXXX.tmp`` files in ``folder`` left by a killed run; returns their names.

    A file qualifies when its process is gone and it is older than :data:`STALE_AFTER`
    seconds; a run still writing keeps its file. Files of the older naming without a pid
    (``.BASE.XXXXXXXX.tmp``) go once older than :data:`STALE_OLD_NAMING_AFTER`. Only our
    own naming is touched.
    """
    pattern = re.compile(rf"\.{re.escape(base)}\.(?:(\d+)\.)?[A-Za-z0-9_]{{8}}\.tmp")
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        m = pattern.fullmatch(name)
        if not m:
            continue
        full = os.path.join(folder, name)
        try:
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                continue
            if m.group(1) is None:  # the old naming: no pid to ask, so only by age
                if now - st.st_mtime < STALE_OLD_NAMING_AFTER:
                    continue
            elif now - st.st_mtime < STALE_AFTER or _pid_alive(int(m.group(1))):
                continue
            os.unlink(full)
            removed.append(name)
        except OSError:
            continue
    return removed


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
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
        for inp in [*inputs, *files_read()]:
            inp = os.fspath(inp)
            if inp != "-" and _same_file(path, inp):
                raise WasmError(f"refusing to overwrite input {path}; use --force (or --in-place) to replace it")
    target = os.path.realpath(path)
    folder = os.path.dirname(target) or "."
    if os.path.isdir(target):
        raise WasmError(f"{path}: is a directory")
    if not force and _read_only(target):
        raise WasmError(f"{path}: is read-only; refusing to replace it (--force replaces it)")
    if not os.path.isdir(folder):
        what = "not a directory" if os.path.exists(folder) else "no such directory"
        raise WasmError(f"{path}: cannot write: {what}: {folder}")


def write_output(
    path: str | os.PathLike[str],
    data: bytes | bytearray | memoryview | str,
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    force: bool = False,
    check: Callable[[], object] | None = None,
) -> None:
    """Write ``data`` to ``path`` atomically (``-``: standard output).

    * ``str`` data is written as UTF-8 text; bytes are binary, and binary is
      not written to a terminal.
    * ``path`` may not be one of ``inputs`` unless ``force``.
    * The file appears complete or not at all; on any failure the old file is
      left as it was and no temporary file remains. A symlink is written
      through; an existing file keeps its permission bits. A path that is not a
      regular file (a device, a pipe) is written to, never replaced.

    One output of :func:`write_outputs` (``check``: as there).
    """
    write_outputs([(path, data)], inputs=inputs, force=force, check=check)


#: what an output may be: bytes (binary) or str (UTF-8 text)
OutputData = bytes | bytearray | memoryview | str


class StagedOutput:
    """One output of :func:`write_outputs`: a temporary file beside its target, renamed by :meth:`commit`.

    ``-`` and paths that are not regular files (a device such as /dev/full, a pipe) get no
    temporary file (renaming onto them would replace them): :meth:`commit` writes them.
    """

    def __init__(self, path: str | os.PathLike[str], payload: bytes) -> None:
        self.path: str = os.fspath(path)
        self.payload: bytes = payload
        self.tmp: str | None = None
        self.target: str = os.path.realpath(self.path) if self.path != "-" else "-"
        self.direct: bool
        try:
            self.direct = self.path == "-" or not stat.S_ISREG(os.stat(self.target).st_mode)
        except FileNotFoundError:
            self.direct = False
        except OSError as exc:
            raise WasmError(f"{self.path}: cannot write: {exc.strerror or exc}") from None

    def _fail(self, exc: OSError) -> WasmError:
        return WasmError(f"{self.path}: cannot write: {exc.strerror or exc}")

    def stage(self) -> None:
        """Write the temporary file (nothing for a direct output)."""
        if self.direct:
            return
        folder = os.path.dirname(self.target) or "."
        base = os.path.basename(self.target)
        clean_stale_temporaries(folder, base)
        import tempfile  # here, not at the top: most commands start without writing (start-up time)

        try:
            fd, self.tmp = tempfile.mkstemp(dir=folder, prefix=_temp_prefix(base), suffix=".tmp")
        except FileNotFoundError:
            raise WasmError(f"{self.path}: cannot write: no such directory: {folder}") from None
        except OSError as exc:
            raise self._fail(exc) from None
        try:
            try:
                mode = stat.S_IMODE(os.stat(self.target).st_mode)
            except FileNotFoundError:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(self.tmp, mode)
        except BaseException as exc:
            self.discard()
            if isinstance(exc, OSError):
                raise self._fail(exc) from None
            raise

    def write_direct(self) -> None:
        """Write a direct output (standard output, a device, a pipe) in place."""
        if self.path == "-":
            stream = getattr(sys.stdout, "buffer", None)
            if stream is None:
                sys.stdout.write(self.payload.decode("utf-8", errors="replace"))
            else:
                sys.stdout.flush()
                stream.write(self.payload)
                stream.flush()
            return
        try:
            with open(self.target, "wb") as fh:
                fh.write(self.payload)
        except OSError as exc:
            raise self._fail(exc) from None

    def commit(self) -> None:
        """Rename the temporary file onto the target."""
        if self.tmp is None:
            return
        try:
            os.replace(self.tmp, self.target)
        except OSError as exc:
            self.discard()
            raise self._fail(exc) from None
        self.tmp = None

    def discard(self) -> None:
        """Remove the temporary file, if any (the target is left as it was)."""
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None


def write_outputs(
    outputs: Iterable[tuple[str | os.PathLike[str], OutputData]],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    force: bool = False,
    check: Callable[[], object] | None = None,
) -> None:
    """Write every ``(path, data)`` of ``outputs`` or none (as :func:`write_output` writes one).

    Every destination is checked (:func:`check_output`), then every regular file is
    staged in a temporary file beside its target, then the direct outputs (``-``,
    devices, pipes) are written, and only then are the temporary files renamed into
    place: a failure before the renames (a full disk, an unwritable report, /dev/full)
    leaves every target as it was and no temporary file behind. ``check`` (say, a
    validation of the result) runs in a second thread while the files are staged; what
    it raises is raised before anything is written directly or renamed (nothing written).
    """
    inputs = list(inputs)
    items: list[tuple[str, bytes, bool]] = []
    for path, data in outputs:
        text = isinstance(data, str)
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        items.append((os.fspath(path), payload, text))
    for path, _payload, text in items:
        check_output(path, inputs=inputs, force=force, binary=not text)
    staged = [StagedOutput(path, payload) for path, payload, _text in items]
    from wasmweld.background import Background

    checking = Background(check, name="wasmweld-check-output") if check is not None else None
    try:
        for out in staged:
            out.stage()
        if checking is not None:
            checking.join()             # raises what the check raised
        for out in staged:
            if out.direct:
                out.write_direct()
    except BaseException:
        if checking is not None:
            checking.wait()
        for out in staged:
            out.discard()
        raise
    for out in staged:
        out.commit()


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
