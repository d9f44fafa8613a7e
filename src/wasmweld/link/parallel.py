"""A second process for big work: :func:`fork_map` runs half of a map in a forked child.

The merge of two large modules scans and renumbers tens of thousands of function bodies, pure
Python work that one process does on one core. ``fork_map(fn, items)`` gives the second half of
``items`` to a child made with ``fork`` (it shares the parent's memory, copy on write, so nothing
is sent to it) while the parent does the first half, then reads the child's results back through
a pipe (pickled)::

    refs = fork_map(lambda d: scan(bodies[d]), range(len(bodies)))   # == [scan(b) for b in bodies]

The result is always exactly ``[fn(x) for x in items]``: the child only saves time. If it fails
for any reason (an exception in ``fn``, a crash, no ``fork`` on this platform), the parent
computes that half itself, so an error is raised in the parent, with its context, as without
the child. Small maps (``min_items``) stay in one process, and so does everything when no core
is idle (see :func:`can_fork`; ``WASMWELD_FORK=0``/``1`` decides instead).
"""

from __future__ import annotations

import gc
import os
import pickle
from contextlib import contextmanager
import signal
import sys
import warnings
from typing import Callable, Iterable, Iterator, TypeVar

__all__ = ["fork_map", "can_fork", "forks_for", "pause_cyclic_gc", "MIN_PARALLEL_BYTES"]

#: code sections smaller than this are renumbered and scanned for gc in one process
MIN_PARALLEL_BYTES = 4_000_000

T = TypeVar("T")
R = TypeVar("R")


def can_fork() -> bool:
    """Whether :func:`fork_map` uses a child: on Linux, when a core is idle (the 1-minute load average,
    which counts this process too once it has run a while, is below the number of cores), or always /
    never with ``WASMWELD_FORK=1`` / ``WASMWELD_FORK=0``. On a machine whose cores are all busy a second
    process only adds copying: the work stays in one."""
    if not (sys.platform.startswith("linux") and hasattr(os, "fork")):
        return False
    forced = os.environ.get("WASMWELD_FORK")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1)
    except OSError:
        return False


def forks_for(code_bytes: int) -> bool:
    """Whether work on a code section of ``code_bytes`` (renumbering, gc's scan) takes a second
    process: a big section (:data:`MIN_PARALLEL_BYTES`), :func:`can_fork`, and no other thread
    (a lock another thread holds at the fork would stay held in the child)."""
    import threading

    return code_bytes >= MIN_PARALLEL_BYTES and threading.active_count() == 1 and can_fork()


def fork_map(fn: Callable[[T], R], items: Iterable[T], *, min_items: int = 2000,
             weight: Callable[[T], float] | None = None, share: float = 0.5) -> list[R]:
    """``[fn(x) for x in items]``, the second half computed by a forked child when worth it.

    ``weight``: the cost of each item (say, the size of a body); the halves are then halves of
    the total cost rather than of the count. ``share``: the part of it the parent keeps (a
    little more than half when the child's results are big: it spends the time pickling them)."""
    items = list(items)
    if len(items) < min_items or not can_fork():
        return [fn(x) for x in items]
    mid = len(items) // 2 if weight is None else _halfway([weight(x) for x in items], share)
    first = [fn(items[0])]              # anything lazily set up by fn (caches, compiled patterns) is shared
    r, w = os.pipe()
    with warnings.catch_warnings():     # 3.12+ warns about fork in a process with threads: the child uses none
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:                        # the child: compute, send, exit without running any cleanup
        try:
            os.close(r)
            try:
                payload = pickle.dumps([fn(x) for x in items[mid:]], protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:       # noqa: BLE001 - the parent redoes the half and raises the error
                payload = b""
            with os.fdopen(w, "wb") as f:
                f.write(payload)
        finally:
            os._exit(0)
    os.close(w)
    try:
        first.extend(fn(x) for x in items[1:mid])
    except BaseException:
        os.close(r)
        _reap(pid, kill=True)
        raise
    try:
        with os.fdopen(r, "rb") as f:
            payload = f.read()
    finally:
        _reap(pid)
    if payload:
        try:
            return first + pickle.loads(payload)
        except Exception:               # noqa: BLE001 - a damaged answer: compute it here
            pass
    return first + [fn(x) for x in items[mid:]]


def _halfway(weights: list[float], share: float = 0.5) -> int:
    """The split ``k`` (1 <= k < len) where the running total of ``weights`` first reaches ``share``
    of the total."""
    half = sum(weights) * share
    acc = 0.0
    for k, w in enumerate(weights):
        acc += w
        if acc >= half:
            return min(max(k + 1, 1), len(weights) - 1)
    return len(weights) // 2


@contextmanager
def pause_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector meanwhile (re-enabled as it was found).

    Merging allocates hundreds of thousands of sets, dicts and byte strings but makes no reference
    cycles: the collector would only re-walk them (and, with a forked child alive, touch every page
    the child shares, copying them).
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _reap(pid: int, kill: bool = False) -> None:
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


class ForkStream:
    """A forked child that sends messages (bytes) while this process works: :meth:`poll` returns those
    that have arrived (never waits), :meth:`close` ends the child. Made by :func:`fork_stream`."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.buf = bytearray()
        self.done = False       # the child has finished (or failed): nothing more will come

    def poll(self, wait: bool = False) -> list[bytes]:
        """The complete messages received since the last call (possibly none); ``wait``: all the
        messages still to come, once the child has finished."""
        if wait and not self.done:
            os.set_blocking(self.fd, True)
        while not self.done:
            try:
                got = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                break
            except OSError:
                got = b""
            if not got:
                self.done = True
            self.buf += got
        out = []
        buf, at = self.buf, 0
        while len(buf) - at >= 4:
            size = int.from_bytes(buf[at:at + 4], "little")
            if len(buf) - at - 4 < size:
                break
            out.append(bytes(buf[at + 4:at + 4 + size]))
            at += 4 + size
        del buf[:at]
        return out

    def close(self) -> None:
        """End the child (whatever it still had to do) and free the pipe."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.done = True
            _reap(self.pid, kill=True)


def fork_stream(produce: Callable[[Callable[[bytes], None]], None]) -> ForkStream:
    """Run ``produce(send)`` in a forked child; each ``send(message)`` reaches the parent's
    :meth:`ForkStream.poll` in order. A failure in the child only ends its messages early (the
    parent does the rest itself); the parent must :meth:`~ForkStream.close` the stream::

        stream = fork_stream(lambda send: [send(scan(b)) for b in bodies[::-1]])
        try:
            ... use stream.poll() where it helps ...
        finally:
            stream.close()
    """
    r, w = os.pipe()
    _big_pipe(w)
    with warnings.catch_warnings():     # 3.12+ warns about fork in a process with threads: the child uses none
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:                        # the child: produce, exit without running any cleanup
        try:
            os.close(r)

            def send(message: bytes) -> None:
                data = memoryview(len(message).to_bytes(4, "little") + message)
                while data:
                    data = data[os.write(w, data):]

            try:
                produce(send)
            except BaseException:       # noqa: BLE001 - the parent does the rest itself
                pass
        finally:
            os._exit(0)
    os.close(w)
    os.set_blocking(r, False)
    return ForkStream(pid, r)


def _big_pipe(fd: int) -> None:
    """A 1 MB pipe buffer where Linux allows it: fewer round trips, a writer that blocks less."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass
