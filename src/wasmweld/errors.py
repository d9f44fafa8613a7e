"""The exception tree of wasmweld, drawn in one place.

Every failure wasmweld reports for bad input is one of these classes, so a
caller can catch :class:`WasmError` and know nothing else escapes::

    WasmError                 root: anything wasmweld rejects
    ├── DecodeError           the bytes are not a well-formed module (carries .offset)
    ├── EncodeError           a Module cannot be written (e.g. an index too large)
    ├── ValidationError       well-formed but does not type-check (wasmtime's verdict)
    ├── LinkError             merge / World: an import cannot be bound (names both sides)
    ├── EditError             a binary-surgery request cannot be done as asked
    ├── SnapshotError         pre-initialisation refused or failed
    ├── ExecutionError        running Wasm trapped, ran out of fuel/time/memory
    │   └── InitError         (also a SnapshotError) the init function of a snapshot did not complete
    └── CacheError            a compiled-artifact cache entry is unusable

Example::

    >>> import wasmweld
    >>> try:
    ...     wasmweld.parse(b"\\0asm\\x01\\0\\0\\0\\x01\\x05")
    ... except wasmweld.DecodeError as e:
    ...     print(e.offset)
    10
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "WasmError",
    "DecodeError",
    "EncodeError",
    "ValidationError",
    "LinkError",
    "EditError",
    "SnapshotError",
    "ExecutionError",
    "CacheError",
    "InitError",
]


class WasmError(Exception):
    """Root of every error wasmweld raises for bad input or a refused request.

    ``input_name``: the file the error is about, when a command knows it (the CLI
    prefixes it); ``merge_input``: the name of the merge input the error is about.
    Both are None unless set.
    """

    input_name: str | None = None
    merge_input: str | None = None


class DecodeError(WasmError):
    """The bytes are not a well-formed WebAssembly module.

    ``offset`` is the absolute byte offset in the input where the problem was
    found; ``context`` says what was being read (e.g. ``"code body 17"``).
    ``str(err)`` reads like
    ``"unexpected end of section while reading code body 17 at offset 0x1f3a"``.
    """

    #: a longer report (e.g. wasmtime's WAT error with the source line and a caret), or None
    detail: str | None = None

    def __init__(self, message: str, offset: int | None = None, context: str | None = None) -> None:
        self.message: str = message
        self.offset: int | None = offset
        self.context: str | None = context
        super().__init__(self._format())

    def _format(self) -> str:
        text = self.message
        if self.context:
            text += f" while reading {self.context}"
        if self.offset is not None:
            text += f" at offset 0x{self.offset:x}"
        return text

    def with_context(self, context: str) -> "DecodeError":
        """Return this error with ``context`` set if it has none yet (innermost wins)."""
        if self.context is None:
            self.context = context
            Exception.__init__(self, self._format())   # str(err) follows
        return self


class EncodeError(WasmError):
    """A Module (or a piece of one) cannot be encoded as asked."""


class ValidationError(WasmError):
    """The module is well-formed but invalid (it does not type-check).

    ``offset`` is the byte offset wasmtime reported, when it reported one.

    wasmweld's own validator (:mod:`wasmweld.validator`) also sets ``func``, ``func_name``,
    ``instr``, ``expected``, ``found`` and ``reason`` on a failure inside a function body;
    a check of a merge's or a pass's output sets ``input_failed``.
    """

    # set on some errors only (see above): declared here for type checkers
    func: int
    """The failing function's index (own validator, code failures)."""
    func_name: str | None
    """Its name from the name section, if any."""
    instr: str | None
    """The failing instruction's opcode name."""
    expected: Sequence[object] | None
    """The operand types the instruction expected, when the failure is a type mismatch."""
    found: Sequence[object] | None
    """The operand types the stack had."""
    reason: str
    """The message without the function/offset prefix."""
    input_failed: bool
    """(Output checks) True when an input already failed validation: not a wasmweld bug."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.message: str = message
        self.offset: int | None = offset
        text = message if offset is None or f"0x{offset:x}" in message else f"{message} (at offset 0x{offset:x})"
        super().__init__(text)


class LinkError(WasmError):
    """An import cannot be bound to an export (missing, type mismatch, conflict, cycle).

    ``problems`` lists every problem found, one text each: a merge checks all
    its fusions and reports them in one error (``str(err)`` lists them all, one
    a line); an error about one thing has that one problem::

        >>> LinkError("3 link problems:\\n  - a\\n  - b\\n  - c", problems=["a", "b", "c"]).problems
        ['a', 'b', 'c']
        >>> LinkError("no module named 'x'").problems
        ["no module named 'x'"]
    """

    def __init__(self, *args: object, problems: Sequence[str] | None = None) -> None:
        super().__init__(*args)
        if problems is None:
            problems = [str(args[0])] if args else []
        self.problems: list[str] = list(problems)


class EditError(WasmError):
    """A binary-surgery request cannot be carried out (unknown item, clash, type mismatch)."""


class SnapshotError(WasmError):
    """Pre-initialisation was refused (unsound to snapshot) or the init function failed."""


class ExecutionError(WasmError):
    """Running Wasm failed: a trap, fuel or deadline exhausted, a memory cap exceeded."""


class CacheError(WasmError):
    """A compiled-artifact cache entry is unusable (normally handled by recompiling)."""


class InitError(SnapshotError, ExecutionError):
    """The init function (or the start function before it) did not complete.

    ``reason``: ``"trap"``, ``"fuel"``, ``"timeout"``, ``"memory"``,
    ``"exit"`` (WASI ``proc_exit``), ``"import"`` (called an import that is not
    provided) or ``"instantiate"``. ``backtrace``: lines ``"#0 func 12 <name> @ 0x1a2b"``
    (offsets in the *input* module), innermost first. ``output``: what the init
    wrote to stdout/stderr when they were captured (the last 4 KiB of each).
    """

    def __init__(self, message: str, reason: str, backtrace: Sequence[str] = (), output: str = "") -> None:
        self.reason: str = reason
        self.backtrace: list[str] = list(backtrace)
        self.output: str = output
        text = message
        if self.backtrace:
            text += "\nwasm backtrace:\n" + "\n".join("  " + line for line in self.backtrace)
        if output:
            text += "\ninit output (tail):\n" + "\n".join("  " + line for line in output.rstrip("\n").splitlines())
        super().__init__(text)
        self.message: str = message
