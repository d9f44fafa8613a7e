"""A second process for big work: :func:`fork_map` shares a map with a forked child, :class:`TwoPhaseMap`
two maps (the merge's scan, then its patch).

The merge of two large modules scans and renumbers tens of thousands of function bodies, pure
Python work that one process does on one core. ``fork_map(fn, items)`` forks a child (it shares
the parent's memory, copy on write, so nothing is sent to it); the parent works through ``items``
from the front, the child from the back, until they meet, and the child's results come back
through a pipe (pickled)::

    refs = fork_map(lambda d: scan(bodies[d]), range(len(bodies)))   # == [scan(b) for b in bodies]

The result is always exactly ``[fn(x) for x in items]``: the child only saves time. If it fails
for any reason (an exception in ``fn``, a crash, no ``fork`` on this platform), the parent
computes its items itself, so an error is raised in the parent, with its context, as without
the child. Small maps (``min_items``) stay in one process, and so does everything when no core
is idle (see :func:`can_fork`; ``WASMWELD_FORK=0``/``1`` decides instead).
"""

from __future__ import annotations

import gc
import mmap
import os
import pickle
from contextlib import contextmanager
import signal
import struct
import sys
import time
import warnings
from typing import Any, BinaryIO, Callable, Iterable, Iterator, TypeVar

__all__ = ["fork_map", "TwoPhaseMap", "can_fork", "forks_for", "pause_cyclic_gc", "note", "MIN_PARALLEL_BYTES", "shared_words",
           "fork_stream", "ForkStream", "wait_readable", "wait_readable_fd", "read_ready", "big_pipe",
           "reap_later", "write_message", "read_message"]

#: code sections smaller than this are renumbered and scanned for gc in one process
MIN_PARALLEL_BYTES = 4_000_000

#: ``WASMWELD_TIMING=1``: :func:`note` writes where the time of a big job goes on stderr
_TIMING = os.environ.get("WASMWELD_TIMING") == "1"
_T0 = time.perf_counter()

T = TypeVar("T")
R = TypeVar("R")


def note(step: str) -> None:
    """With ``WASMWELD_TIMING=1`` in the environment, one line on stderr: ``timing <pid> <wall> <cpu>
    <thread cpu> step`` (seconds: wall since this module was loaded, CPU of this process and its threads,
    CPU of the calling thread; a forked child's CPU counts from the fork). A merge notes its steps,
    and its child each phase::

        WASMWELD_TIMING=1 wasmweld merge a.wasm=a b.wasm=b -o ab.wasm
        timing 4242 0.412 0.409 0.409 merge: scan
    """
    if _TIMING:
        print(f"timing {os.getpid()} {time.perf_counter() - _T0:.3f} {time.process_time():.3f} "
              f"{time.thread_time():.3f} {step}", file=sys.stderr, flush=True)


#: where Linux says how many tasks are runnable now (the 4th field: runnable/total)
_LOADAVG = "/proc/loadavg"


def can_fork() -> bool:
    """Whether :func:`fork_map` uses a child: on Linux, when a core is idle, or always / never with
    ``WASMWELD_FORK=1`` / ``WASMWELD_FORK=0``. A core counts as idle when the 1-minute load average
    is below the number of cores, or when fewer tasks than cores are runnable right now besides this
    one (``/proc/loadavg``: the average still remembers the last minute's work, this process's
    own included, when a run follows another on an idle machine). On a machine whose cores are all
    busy a second process only adds copying: the work stays in one."""
    if not (sys.platform.startswith("linux") and hasattr(os, "fork")):
        return False
    forced = os.environ.get("WASMWELD_FORK")
    if forced in ("0", "1"):
        return forced == "1"
    cores = os.cpu_count() or 1
    try:
        if os.getloadavg()[0] < cores:
            return True
        with open(_LOADAVG, "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])     # runnable now, this process included
        return running - 1 < cores - 1          # (others runnable) + this process + the child <= cores
    except (OSError, ValueError, IndexError):
        return False


def forks_for(code_bytes: int) -> bool:
    """Whether work on a code section of ``code_bytes`` (renumbering, gc's scan) takes a second
    process: a big section (:data:`MIN_PARALLEL_BYTES`), :func:`can_fork`, and no other thread
    (a lock another thread holds at the fork would stay held in the child)."""
    import threading

    return code_bytes >= MIN_PARALLEL_BYTES and threading.active_count() == 1 and can_fork()


def fork_map(fn: Callable[[T], R], items: Iterable[T], *, min_items: int = 2000,
             weight: Callable[[T], float] | None = None, share: float = 0.5) -> list[R]:
    """``[fn(x) for x in items]``, the work shared with a forked child when worth it.

    The parent takes the items from the front, the child from the back, until they meet: each
    notes in a shared page the item it is about to do, and stops at the other's mark, so the
    split follows the actual cost of the items and the load of the cores (an item at the meeting
    point may be computed by both; the results are the same). ``weight`` and ``share`` are no
    longer needed for that and are accepted for callers that still give them."""
    del weight, share
    items = list(items)
    n = len(items)
    if n < max(min_items, 2) or not can_fork():
        return [fn(x) for x in items]
    first = [fn(items[0])]              # anything lazily set up by fn (caches, compiled patterns) is shared
    marks = shared_words(1, n)          # the parent's next item, the child's last started
    r, w = os.pipe()
    with warnings.catch_warnings():     # 3.12+ warns about fork in a process with threads: the child uses none
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:                        # the child: compute, send, exit without running any cleanup
        try:
            gc.disable()                # (a collection would touch, and so copy, every shared page)
            os.close(r)
            try:
                payload = pickle.dumps(_from_the_back(fn, items, marks), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:       # noqa: BLE001 - the parent redoes the items and raises the error
                marks[1] = n + 1                         # (the parent need not stop for it any more)
                payload = b""
            with os.fdopen(w, "wb") as f:
                f.write(payload)
        finally:
            os._exit(0)
    os.close(w)
    with pause_cyclic_gc():             # (its collections would copy the pages the child shares)
        try:
            i = 1
            while i < n and i < marks[1]:
                marks[0] = i + 1
                first.append(fn(items[i]))
                i += 1
        except BaseException:
            os.close(r)
            _reap(pid, kill=True)
            raise
        try:
            with os.fdopen(r, "rb") as f:
                payload = f.read()
        finally:
            _reap(pid)
    got = None
    if payload:
        try:
            start, got = pickle.loads(payload)
            if not (start <= i and start + len(got) == n):
                got = None
        except Exception:               # noqa: BLE001 - a damaged answer: compute it here
            got = None
    if got is None:
        return first + [fn(x) for x in items[i:]]
    return first + got[i - start:]


def shared_words(*values: int) -> memoryview:
    """Signed 64-bit words in a page shared with the children forked after (``words[k]``), set to
    ``values``. Each is read and written whole (``struct.pack_into`` zeroes its bytes before writing
    them: another process could read a 0 meanwhile; fork_map's parent then stopped at once)."""
    words = memoryview(mmap.mmap(-1, 8 * max(len(values), 1))).cast("q")
    for k, v in enumerate(values):
        words[k] = v
    return words


def _from_the_back(fn: Callable[[T], R], items: list[T], marks: memoryview) -> tuple[int, list[R]]:
    """The child's part of :func:`fork_map`: ``(k, [fn(x) for x in items[k:]])``, ``k`` where it met the parent."""
    out: list[R] = []
    j = len(items) - 1
    while j >= marks[0]:
        marks[1] = j
        out.append(fn(items[j]))
        j -= 1
    out.reverse()
    return j + 1, out


class TwoPhaseMap:
    """Two maps over ``range(n)`` whose second needs the first's results, one forked child doing its
    share of both and keeping its own first results in between (nothing big sent back and forth)::

        job = TwoPhaseMap(n, scan, make_patch, send=lambda r: r[0], weight=cost)
        refs = job.first()              # [scan(i) ...]; the child's entries are send(scan(i))
        ...                             # the parent works alone (say, an analysis of every refs)
        out = job.second(keys, maps)    # [make_patch(maps)(k, scan(k)) for k in keys]
        job.close()                     # (also done by second; a context manager too)

    ``second``'s ``keys`` are items of ``range(n)`` (done by whichever process did their first
    phase) or anything else (``index(k)`` None: done by the parent, with None as the first result);
    ``make_patch`` is called in each process with ``arg`` (pickled for the child). The items are
    dealt out alternately by ``weight`` (the parent keeps ``share`` of it), so both phases split
    evenly. The results are always those of the plain maps: a child that fails in either phase has
    its items redone by the parent (errors are raised there). One process when :func:`can_fork`
    says no or ``n < min_items``.

    ``stream=k``: the child sends its first results in runs of ``k`` as it goes, and the parent can
    use them before the child is done::

        job.first_own()                 # the parent's share (the child's runs are read meanwhile)
        job.get(i)                      # any item's first result: arrived, or taken (done here now)
        job.finish_first()              # the rest: awaited, or taken from the child's end
        out = job.second(keys, maps)

    (``rank`` and ``arrived()`` say which have come, in the child's order.)
    """

    def __init__(self, n: int, first: Callable[[int], Any], make_second: Callable[[Any], Callable[[Any, Any], Any]],
                 *, send: Callable[[Any], Any] = lambda r: r, weight: Callable[[int], float] | None = None,
                 share: float = 0.5, min_items: int = 2000, stream: int = 0):
        self.n, self._first, self._make_second, self._send = n, first, make_second, send
        self._stream = stream                   # > 0: the child sends its first results in runs of that many
        self._flags: memoryview | None = None   # (stream) shared page: flags[i] = 1 once the parent took item i
        self._rank: dict[int, int] = {}         # (stream) the child's item -> its place in the child's order
        self._settled = 0                       # (stream) the child's first places all received or taken
        self._taken: set[int] = set()           # (stream) the child's items whose first phase the parent did
        self._error: BaseException | None = None    # (stream) the first error of the first phase, once known
        self._inbox = bytearray()
        self._child_failed = False
        self._tail = 0                          # (stream) the child's places from here on are all taken
        self._received = 0                      # (stream) the child's first places whose results came
        self.results: list[Any] = [None] * n
        self._theirs: list[int] = []            # the child's items (their results are send(first(i)))
        self._partial = False                   # self.results holds send(...) for the child's items
        self._theirs_set: set[int] = set()
        self.pid: int | None = None
        self._started = False
        self._ours: list[int] = []
        self._warm = 0                          # 1: the parent's first item was done by start()
        if n >= max(min_items, 2) and can_fork():
            self._theirs = _deal([1.0] * n if weight is None else [weight(i) for i in range(n)], share)
            if stream > 0:
                self._rank = {i: k for k, i in enumerate(self._theirs)}
                self._tail = len(self._theirs)

    @property
    def forks(self) -> bool:
        """Whether a child takes part (decided when the job is made)."""
        return bool(self._theirs)

    def start(self) -> None:
        """Start the child's first phase now (``first`` does it otherwise): the parent can do other
        work before its own share (and should keep a smaller ``share`` of the weight for it)."""
        if self._theirs and not self._started:
            self._started = True
            self._ours = _complement(self._theirs, self.n)
            i = self._ours[0]
            try:                                # what fn sets up lazily (patterns, caches) is shared
                self.results[i] = self._first(i)
                self._warm = 1
            except Exception:                   # noqa: BLE001 - raised again in order by first()
                self._warm = 0
            if self._stream > 0:
                self._flags = memoryview(mmap.mmap(-1, max(self.n, 1)))
            self._fork(self._theirs)

    def first(self) -> list[Any]:
        """The first map: ``results[i] = first(i)`` (``send(first(i))`` for the child's items)."""
        res, first = self.results, self._first
        theirs = self._theirs
        self.first_own()
        if not theirs:
            return res
        if self._stream > 0:
            return self.finish_first()
        got = self._receive()
        if got is not None and len(got) == len(theirs):
            for i, r in zip(theirs, got):
                res[i] = r
            self._partial = True
            self._theirs_set = set(theirs)
        else:                                   # a failed child: its items are done here
            self.close(kill=True)
            for i in theirs:
                res[i] = first(i)
        return res

    def second(self, keys: list, arg: Any, index: Callable[[Any], int | None] = lambda k: k, *,
               meanwhile: Callable[[], object] | None = None) -> list[Any]:
        """``[make_second(arg)(k, first(index(k)) or None) for k in keys]``; then closes the job.

        ``meanwhile``: called once the parent's own items are done, while the child may still work on
        its share (say, starting a thread that needs a core); the parent's first results are dropped
        then (no longer needed: only the child's are redone if it fails)."""
        fn = self._make_second(arg)
        theirs = self._theirs_set if self._stream > 0 else set(self._theirs)
        alive = self.pid is not None
        idx = [index(k) for k in keys]
        child_keys = [j for j, i in enumerate(idx) if i in theirs] if alive else []
        mine = [j for j, i in enumerate(idx) if not (alive and i in theirs)]
        out: list[Any] = [None] * len(keys)
        sent = False
        if child_keys:
            try:
                _write_msg(self._to_child, pickle.dumps(([idx[j] for j in child_keys], arg),
                                                        protocol=pickle.HIGHEST_PROTOCOL))
                sent = True
            except Exception:               # noqa: BLE001 - (say, an unpicklable arg) done here
                pass
        try:
            for j in mine:
                out[j] = fn(keys[j], self._full(idx[j]))
        except BaseException:
            self.close(kill=True)
            raise
        if sent:
            res = self.results
            for j in mine:
                i = idx[j]
                if i is not None:
                    res[i] = None
        if meanwhile is not None:
            meanwhile()
        got = self._receive() if sent else None
        self.close(kill=not sent)
        if got is not None and len(got) == len(child_keys):
            for j, r in zip(child_keys, got):
                out[j] = r
        else:
            for j in child_keys:                # their first results are partial here: redo them
                out[j] = fn(keys[j], self._full(idx[j]))
        return out

    def _full(self, i: int | None) -> Any:
        """The whole first result of item ``i`` (None for None), computed again if only its sent part is here."""
        if i is None:
            return None
        if self._partial and i in self._theirs_set:
            return self._first(i)
        return self.results[i]

    def _fork(self, theirs: list[int]) -> None:
        c2p_r, c2p_w = os.pipe()
        p2c_r, p2c_w = os.pipe()
        if self._stream > 0:
            big_pipe(c2p_w)
        with warnings.catch_warnings():     # 3.12+ warns about fork in a process with threads: the child uses none
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:                        # the child: both phases of its items, then exit without cleanup
            try:
                gc.disable()            # (a collection would touch, and so copy, every shared page)
                os.close(c2p_r)
                os.close(p2c_w)
                with os.fdopen(c2p_w, "wb") as out, os.fdopen(p2c_r, "rb") as inp:
                    self._child(theirs, out, inp)
            finally:
                os._exit(0)
        os.close(c2p_w)
        os.close(p2c_r)
        self.pid = pid
        if self._stream > 0:
            os.set_blocking(c2p_r, False)       # (read by _pump as the runs come; blocking again after)
        self._from_child = os.fdopen(c2p_r, "rb")
        self._to_child = os.fdopen(p2c_w, "wb")

    def _child(self, theirs: list[int], out: BinaryIO, inp: BinaryIO) -> None:
        if self._stream > 0:
            got = self._child_stream(theirs, out)
            if got is None:
                return
            kept, where = got
        else:
            try:
                kept = [self._first(i) for i in theirs]
                note("child: first phase")
                payload = pickle.dumps([self._send(r) for r in kept], protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:               # noqa: BLE001 - the parent redoes the items and raises the error
                payload = b""
            _write_msg(out, payload)
            note("child: first results sent")
            if not payload:
                return
            where = {i: j for j, i in enumerate(theirs)}
        msg = _read_msg(inp)
        note("child: second phase asked")
        if not msg:                         # the parent needs no second phase
            return
        try:
            keys, arg = pickle.loads(msg)
            fn = self._make_second(arg)
            payload = pickle.dumps([fn(i, kept[where[i]]) for i in keys], protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:               # noqa: BLE001
            payload = b""
        _write_msg(out, payload)
        note("child: second results sent")

    def _child_stream(self, theirs: list[int], out: BinaryIO) -> tuple[list, dict[int, int]] | None:
        """The child's first phase in stream mode: runs of ``(first place, [send(first(i)) or None])`` in
        its order, an item the parent took skipped (None); an empty message if one fails. Returns what
        the second phase needs (the kept results and where each item's is), None after a failure."""
        flags, step = self._flags, self._stream
        kept: list = []
        where: dict[int, int] = {}
        try:
            for at in range(0, len(theirs), step):
                sent: list = []
                for i in theirs[at:at + step]:
                    if flags is not None and flags[i]:
                        sent.append(None)
                        continue
                    r = self._first(i)
                    where[i] = len(kept)
                    kept.append(r)
                    sent.append(self._send(r))
                _write_msg(out, pickle.dumps((at, sent), protocol=pickle.HIGHEST_PROTOCOL))
            note("child: first phase streamed")
            return kept, where
        except BaseException:               # noqa: BLE001 - the parent redoes the items and raises the error
            _write_msg(out, b"")
            return None

    # -- stream mode: the parent reads the child's first results as they come -----------------------

    @property
    def rank(self) -> dict[int, int]:
        """(stream) The child's items -> their place in the order the child does them (others: absent)."""
        return self._rank

    @property
    def taken(self) -> int:
        """(stream) How many of the child's items this process did (taken, or redone after a failure)."""
        return len(self._taken)

    def first_own(self) -> list[Any]:
        """The parent's share of the first map (:meth:`first` then waits for the child's). In stream mode
        the child's results arrive meanwhile (see :meth:`get`, :meth:`arrived`, :meth:`finish_first`).
        Without a child: the whole first map."""
        res, first = self.results, self._first
        if not self._theirs:
            for i in range(self.n):
                res[i] = first(i)
            return res
        try:
            self.start()
            ours = self._ours[self._warm:]
            if self._stream > 0:
                # the child's runs are read as they come (a full pipe would stop the child)
                for at in range(0, len(ours), 128):
                    for i in ours[at:at + 128]:
                        res[i] = first(i)
                    self.arrived()
            else:
                for i in ours:
                    res[i] = first(i)
        except BaseException:
            self.close(kill=True)
            raise
        return res

    def arrived(self) -> int:
        """(stream) How many of the child's items, in its order, are settled (received or taken here)."""
        if self.pid is not None and not self._child_failed and self._settled < len(self._theirs):
            self._pump()
        return self._settled

    def get(self, i: int) -> Any:
        """(stream) The first result of item ``i`` (the sent part for the child's items), taken here if
        it has not arrived: computed by this process, the child told to skip it. The first phase's
        first error (in the order of one process's share, then the child's) is raised, always the same."""
        if self._error is not None:
            raise self._error
        k = self._rank.get(i)
        if k is None or k < self._settled or i in self._taken:
            return self.results[i]
        self.arrived()
        if k < self._settled:
            return self.results[i]
        if self._child_failed:
            self._redo_unsettled()
            return self.results[i]
        self._take(i)
        return self.results[i]

    def finish_first(self) -> list[Any]:
        """(stream) Wait for the rest of the child's first results (taking its last items here when none
        arrive), or redo them if it failed: then ``results`` is complete, as :meth:`first` leaves it."""
        theirs = self._theirs
        if self._error is not None:
            raise self._error
        while self.pid is not None and self._settled < len(theirs):
            before = self._settled
            self._pump()
            if self._child_failed:
                break
            if self._settled == before:          # nothing came: the item the child would do last, here
                tail = self._tail
                while tail > self._settled and theirs[tail - 1] in self._taken:
                    tail -= 1
                self._tail = tail
                if tail <= self._settled:
                    break
                self._take(theirs[tail - 1])
        while self.pid is not None and not self._child_failed and self._received < len(theirs):
            self._pump(wait=True)               # (the child's last runs: the pipe is clear for the second phase)
        self._redo_unsettled()
        if self.pid is not None:
            os.set_blocking(self._from_child.fileno(), True)
        self._partial = True
        # the items whose results here are only sent parts (the child does their second phase, or after
        # a failure the parent computes them again)
        self._theirs_set = {i for i in theirs[:self._settled] if i not in self._taken}
        if self._child_failed:
            self.close(kill=True)
        return self.results

    def _take(self, i: int) -> None:
        flags = self._flags
        if flags is not None:
            flags[i] = 1
        try:
            self.results[i] = self._first(i)
        except Exception:
            self._redo_unsettled(failed=True)
            raise
        self._taken.add(i)
        while self._settled < len(self._theirs) and self._theirs[self._settled] in self._taken:
            self._settled += 1

    def _redo_unsettled(self, failed: bool = False) -> None:
        """The child's items neither received nor taken, done here in order (the first error raised
        and kept: :meth:`get` and :meth:`finish_first` raise it again)."""
        if not (failed or self._child_failed or self.pid is None):
            return
        self._child_failed = True
        self.close(kill=True)
        try:
            for i in self._theirs[self._settled:]:
                if i not in self._taken:
                    self.results[i] = self._first(i)
                    self._taken.add(i)
        except BaseException as exc:
            self._error = exc
            raise
        self._settled = len(self._theirs)

    def _pump(self, wait: bool = False) -> None:
        """Read what the child has sent (``wait``: at least something); record each run of first results."""
        fd = self._from_child.fileno()
        if wait:
            wait_readable_fd(fd)
        got, ended = read_ready(fd)
        self._inbox += got
        if ended:
            self._child_failed = True           # the child ended before sending everything
        buf, at = self._inbox, 0
        head = _LEN.size
        while len(buf) - at >= head:
            size = _LEN.unpack_from(buf, at)[0]
            if len(buf) - at - head < size:
                break
            payload = bytes(buf[at + head:at + head + size])
            at += head + size
            if not payload:
                self._child_failed = True
                break
            first, sent = pickle.loads(payload)
            theirs, res, taken = self._theirs, self.results, self._taken
            for k, r in enumerate(sent, first):
                i = theirs[k]
                if i not in taken:
                    res[i] = r
            self._received = first + len(sent)
            self._settled = max(self._settled, self._received)
        del buf[:at]
        if self._received >= len(self._theirs):
            self._child_failed = False          # (everything arrived: the end of the pipe is no failure)

    def _receive(self) -> list | None:
        try:
            payload = _read_msg(self._from_child)
            return pickle.loads(payload) if payload else None
        except Exception:                   # noqa: BLE001 - a damaged answer: computed here instead
            return None

    def close(self, kill: bool = False) -> None:
        """End the child (if any): it exits when told there is no second phase (or is killed)."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        for f in (self._to_child, self._from_child):
            try:
                f.close()
            except OSError:
                pass
        reap_later(pid, kill=kill)

    def __enter__(self) -> "TwoPhaseMap":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(kill=exc[0] is not None)


def _deal(weights: list[float], share: float) -> list[int]:
    """The child's items: dealt out alternately so that the parent keeps ``share`` of the weight
    (and of each stretch of it: both phases of a two-input merge split evenly)."""
    theirs = []
    mine_w = their_w = 0.0
    keep = share / max(1.0 - share, 1e-9)
    for i, w in enumerate(weights):
        if mine_w <= their_w * keep:
            mine_w += w
        else:
            their_w += w
            theirs.append(i)
    return theirs


def _complement(theirs: list[int], n: int) -> list[int]:
    flags = bytearray(n)
    for i in theirs:
        flags[i] = 1
    return [i for i in range(n) if not flags[i]]


_LEN = struct.Struct("<Q")


def _write_msg(f: BinaryIO, payload: bytes) -> None:
    f.write(_LEN.pack(len(payload)))
    f.write(payload)
    f.flush()


def _read_msg(f: BinaryIO) -> bytes:
    head = f.read(_LEN.size)
    if len(head) != _LEN.size:
        return b""
    n = _LEN.unpack(head)[0]
    payload = f.read(n)
    return payload if len(payload) == n else b""


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
        if not self.done:
            got, self.done = read_ready(self.fd)
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
        """End the child (whatever it still had to do) and free the pipe, without waiting for the
        child's exit to finish: a child that shares a big parent's memory takes milliseconds to unmap
        it, time the parent need not spend. The child is killed now and reaped by this call or a later
        one (the zombie holds no memory); closing a closed stream only reaps."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.done = True
            reap_later(self.pid, kill=True)
        else:
            reap_later(None)


def read_ready(fd: int) -> tuple[bytes, bool]:
    """What the pipe ``fd`` holds now (non-blocking; a blocking one: everything until its end), and whether
    its writer is gone (the end reached, or the pipe failed)."""
    chunks: list[bytes] = []
    while True:
        try:
            got = os.read(fd, 1 << 20)
        except BlockingIOError:
            return b"".join(chunks), False
        except OSError:
            got = b""
        if not got:
            return b"".join(chunks), True
        chunks.append(got)


def write_message(fd: int, message: bytes) -> None:
    """Write ``message`` whole to the blocking pipe ``fd``, framed as :meth:`ForkStream.poll` and
    :func:`read_message` read it: its length (4 bytes, little-endian), then its bytes."""
    data = memoryview(len(message).to_bytes(4, "little") + message)
    while data:
        data = data[os.write(fd, data):]


def read_message(fd: int) -> bytes | None:
    """The next message :func:`write_message` wrote to the pipe ``fd`` (blocking), or None at its end."""
    size = _read_exactly(fd, 4)
    return None if size is None else _read_exactly(fd, int.from_bytes(size, "little"))


def _read_exactly(fd: int, n: int) -> bytes | None:
    """``n`` bytes from the pipe ``fd`` (blocking), or None at its end."""
    chunks, left = [], n
    while left:
        got = os.read(fd, min(left, 1 << 20))
        if not got:
            return None
        chunks.append(got)
        left -= len(got)
    return b"".join(chunks)


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
    big_pipe(w)
    with warnings.catch_warnings():     # 3.12+ warns about fork in a process with threads: the child uses none
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:                        # the child: produce, exit without running any cleanup
        try:
            os.close(r)

            def send(message: bytes) -> None:
                write_message(w, message)

            try:
                produce(send)
            except BaseException:       # noqa: BLE001 - the parent does the rest itself
                pass
        finally:
            os._exit(0)
    os.close(w)
    os.set_blocking(r, False)
    return ForkStream(pid, r)


def big_pipe(fd: int) -> None:
    """A 1 MB pipe buffer where Linux allows it: fewer round trips, a writer that blocks less."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


#: children ended by :meth:`ForkStream.close` or :meth:`TwoPhaseMap.close` whose exit is still under way
#: (reaped by a later call)
_ENDING: list[int] = []


def reap_later(pid: int | None, kill: bool = False) -> None:
    """End child ``pid`` without waiting for its exit to finish (a child that shares a big parent's
    memory takes milliseconds to unmap it): killed now with ``kill``; reaped by this call or a later
    one (the zombie holds no memory). None: only reap those that have ended."""
    if pid is not None:
        if kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _ENDING.append(pid)
    still = []
    for p in _ENDING:
        try:
            if os.waitpid(p, os.WNOHANG)[0] == 0:
                still.append(p)
        except ChildProcessError:
            pass
    _ENDING[:] = still


def wait_readable(stream: ForkStream, timeout: float | None = None) -> None:
    """Block until the child of ``stream`` has sent more or ended (``stream.poll()`` then has news),
    or ``timeout`` seconds have passed; for a parent whose own work is done."""
    if stream.fd >= 0:
        wait_readable_fd(stream.fd, timeout)


def wait_readable_fd(fd: int, timeout: float | None = None) -> None:
    """Block until ``fd`` can be read (or its writer is gone) or ``timeout`` seconds have passed:
    ``poll``, not ``select``, which refuses descriptor numbers above 1023."""
    import select

    waiter = select.poll()
    waiter.register(fd, select.POLLIN)
    waiter.poll(None if timeout is None else max(0, round(timeout * 1000)))
