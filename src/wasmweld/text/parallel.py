"""Printing a large module with two processes: the same text, in about half the time on two cores.

When the printer reaches a big code section it forks. The child (a copy of the printer with
everything read so far: types, names, caches) first prints what follows the code section (the
data section, the custom sections after it, the module's closing parenthesis) into a temporary
file, then takes the bodies in chunks from the back, while the parent prints chunks from the
front straight to the output; each notes in a shared page the chunk it is about to do, so they
meet where the work actually halves (whatever the cost of a chunk or the load of the cores). The
parent then copies the child's text after its own (into a plain file by the kernel, ``os.sendfile``)::

    (module (type ...) ... (func 0) ... (func k-1)  (func k) ... (func n-1)  (data ...) ... )
    parent: -------- printed to the output ------>  <----- child: chunks from the back --
                                                       child, first:          -----------

``wasmweld print big.wasm -o big.wat`` does it when the code section has :data:`MIN_BYTES` or
more, ``os.fork`` exists and a core is idle (``WASMWELD_FORK=0``/``1`` decides instead, as for
the other two-process work; ``Options(jobs=1)`` never forks). The text is identical to a
one-process run. Whatever the child cannot finish (an error in a body or in the data section, a
crash) the parent prints itself, in order: the error raised is the one a single process raises.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from typing import TYPE_CHECKING, Any, BinaryIO, Sequence

if TYPE_CHECKING:   # the printer imports this module
    from ..binary.reader import Section
    from ..items import FuncBody
    from .printer import ModulePrinter

__all__ = ["MIN_BYTES", "CHUNKS", "splits", "print_split"]

#: code sections smaller than this are printed in one process
MIN_BYTES = 4 << 20

#: about how many chunks the bodies are cut into (the parent and the child meet at a chunk boundary)
CHUNKS = 256


def splits(pr: ModulePrinter, code: Section) -> bool:
    """Whether printer ``pr`` prints this code section (and what follows it) with a second process."""
    o = pr.opts
    if o.jobs == 1 or o.funcs is not None or o.skeleton or code.end - code.payload_offset < MIN_BYTES:
        return False
    if not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        return False
    import threading

    from ..link.parallel import can_fork      # (stdlib only; loaded when a section is this big)

    return threading.active_count() == 1 and can_fork()


def chunk_bounds(bodies: Sequence[FuncBody], chunks: int = CHUNKS) -> list[tuple[int, int]]:
    """``bodies`` cut into about ``chunks`` runs of similar size in bytes: ``[(start, stop), ...]``."""
    total = sum(len(b.raw) for b in bodies)
    step = max(total // max(chunks, 1), 1)
    out, start, acc = [], 0, 0
    for i, b in enumerate(bodies):
        acc += len(b.raw)
        if acc >= step:
            out.append((start, i + 1))
            start, acc = i + 1, 0
    if start < len(bodies):
        out.append((start, len(bodies)))
    return out


def hint_map(pr: ModulePrinter, nimp: int, n: int) -> dict[int, list[Any]]:
    """The branch hints each function would take, printed in order (what ``pr.take_hints`` pops)."""
    out = {}
    for fidx in range(nimp, nimp + n):
        got = pr.take_hints(fidx)
        if got is not None:
            out[fidx] = got
    return out


class _Counting:
    """A text sink writing UTF-8 to a binary file, keeping the size of each block written."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.pos = f, 0
        self.blocks: list[int] = []

    def write(self, s: str) -> None:
        b = s.encode("utf-8")
        self.f.write(b)
        self.pos += len(b)
        self.blocks.append(len(b))

    def part(self) -> list[int]:
        """The sizes of the blocks written since the last call."""
        out, self.blocks = self.blocks, []
        return out


def print_split(pr: ModulePrinter, bodies: list[FuncBody], nimp: int, rest: Sequence[Section]) -> None:
    """Print the code section ``bodies`` and the sections after it (``rest``), then close the module,
    with a forked child doing the tail and the last bodies (see the module docstring)."""
    from ..link.parallel import note, pause_cyclic_gc, shared_words

    note("print: fork")
    chunks = chunk_bounds(bodies)
    n = len(chunks)
    pr.hint_map = hint_map(pr, nimp, len(bodies))
    pr.flush()
    fd, path = tempfile.mkstemp(prefix="wasmweld-print-", suffix=".wat")
    os.close(fd)
    marks = shared_words(0, n)      # the parent's next chunk, the child's last started
    with warnings.catch_warnings():     # 3.12+ warns about fork in a process with threads: there is none
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        _child(pr, bodies, nimp, rest, chunks, marks, path)
    reaped = False
    try:
        with pause_cyclic_gc():     # (its collections would copy the pages the child shares)
            i = 0
            while i < n and i < marks[1]:
                marks[0] = i + 1
                pr.print_bodies(bodies, *chunks[i], nimp)
                i += 1
        note(f"print: parent's chunks done ({i} of {n})")
        _pid, status = os.waitpid(pid, 0)
        reaped = True
        index = _index(path, n) if os.waitstatus_to_exitcode(status) == 0 else None
        if index is not None and index["first"] > i:  # (only if a mark was read while it changed)
            for j in range(i, index["first"]):
                pr.print_bodies(bodies, *chunks[j], nimp)
            i = index["first"]
        if index is None:           # the child failed: the rest is printed here, errors raised in order
            for j in range(i, n):
                pr.print_bodies(bodies, *chunks[j], nimp)
            pr.place = "after code" if bodies else pr.place
            for s in rest:
                pr.section(s)
            pr.finish()
            return
        pr.flush()
        with open(path, "rb") as fh:
            offsets, pos = [], sum(index["tail"])
            for sizes in reversed(index["chunks"]):     # the file: the tail, then the chunks from the last
                offsets.append(pos)
                pos += sum(sizes)
            parts = list(zip(reversed(offsets), index["chunks"]))
            _copy(pr, fh.fileno(), parts[i - index["first"]:] + [(0, index["tail"])])
        note("print: child's text copied")
    finally:
        if not reaped:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass
        for p in (path, path + ".idx"):
            try:
                os.unlink(p)
            except OSError:
                pass


def _child(pr: ModulePrinter, bodies: list[FuncBody], nimp: int, rest: Sequence[Section],
           chunks: list[tuple[int, int]], marks: memoryview, path: str) -> None:
    """In the forked child: the tail, then chunks from the back until the parent's mark; never returns.

    On success ``path + ".idx"`` says where each part is in ``path`` (exit status 0); on any failure
    the child stops taking chunks from the parent (``marks[1]`` past the end) and exits with 1."""
    import gc

    from ..link.parallel import note

    status = 1
    try:
        gc.disable()            # (a collection would touch, and so copy, every shared page)
        n = len(chunks)
        with open(path, "wb") as f:
            out = _Counting(f)
            pr.write, pr.buf = out.write, []
            pr.w = pr.buf.append
            nesting, groups, line = pr.nesting, list(pr.group_lines), pr.line
            pr.line += len(bodies)          # (as after printing the bodies: each starts a line)
            pr.place = "after code" if bodies else pr.place
            for s in rest:
                pr.section(s)
            pr.finish()
            tail = out.part()
            note("print: child's tail done")
            pr.nesting, pr.group_lines, pr.line = nesting, groups, line
            done: list[list[int]] = []
            j = n - 1
            while j >= marks[0]:
                marks[1] = j
                pr.print_bodies(bodies, *chunks[j], nimp)
                pr.flush()
                done.append(out.part())
                j -= 1
        note(f"print: child's chunks done ({n - j - 1})")
        done.reverse()
        with open(path + ".idx", "w", encoding="utf-8") as f:
            json.dump({"first": j + 1, "chunks": done, "tail": tail}, f)
        status = 0
    except BaseException:   # noqa: BLE001 - the parent prints the rest itself and raises the error
        status = 1
    finally:
        if status:
            marks[1] = len(chunks) + 1
        os._exit(status)


def _index(path: str, n: int) -> dict[str, Any] | None:
    """What the child wrote in ``path + ".idx"``: the first chunk it printed, the block sizes of each
    of its chunks and of the tail; None if missing or not that."""
    try:
        with open(path + ".idx", encoding="utf-8") as f:
            index = json.load(f)
        if 0 <= index["first"] <= n and len(index["chunks"]) == n - index["first"]:
            return index
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _copy(pr: ModulePrinter, fd: int, parts: list[tuple[int, list[int]]]) -> None:
    """Parts of the child's text (UTF-8 in file ``fd``: ``(offset, [block size, ...])`` each) to the
    printer's output: to ``pr.binary`` as they are when there is one, else block by block through
    ``pr.write`` (the child's own blocks: a ``(;@off;)`` is never cut in two)."""
    raw = pr.binary
    if raw is not None:
        raw.flush()
        if _send(fd, raw, parts):
            return
    for at, sizes in parts:
        for size in sizes:
            block = os.pread(fd, size, at)
            if len(block) != size:
                raise OSError("printing: the second process's text is cut short")
            at += size
            if raw is not None:
                raw.write(block)
            else:
                pr.write(block.decode("utf-8"))


#: binary outputs whose ``fileno()`` is where their bytes go (not, say, a GzipFile's underlying file)
_PLAIN = (io.BufferedWriter, io.BufferedRandom)


def _send(fd: int, raw: Any, parts: list[tuple[int, list[int]]]) -> bool:
    """Parts of the child's text copied by the kernel to ``raw``, a plain binary file (``os.sendfile``: a
    part at once, not through this process's memory; a third of the time of reading and writing it
    on 190 MB of rs-swc text); False, with nothing written, where that cannot be done (the caller
    copies the blocks itself)."""
    if not isinstance(raw, _PLAIN) or not hasattr(os, "sendfile"):
        return False
    try:
        out = raw.fileno()
    except (OSError, ValueError):
        return False
    sent = 0
    for at, sizes in parts:
        size = sum(sizes)
        while size:
            try:
                n = os.sendfile(out, fd, at, size)
            except OSError:
                if sent:
                    raise
                return False    # (an output sendfile cannot write to)
            if n == 0:
                raise OSError("printing: the second process's text is cut short")
            sent, at, size = sent + n, at + n, size - n
    return True
