"""Decoding a big code section in two processes: this one and a helper process kept between jobs.

``parse(data, lazy=False)`` of a module whose code section is big (:func:`~wasmweld.link.parallel.forks_for`)
decodes the function bodies with a second process::

    this process                                   the helper (forked at the first big job, then kept)
    parts from the start, one by one         |     parts from the end, one by one, each packed into a
    between two, the helper's parts loaded   |     shared area (binary.bodypack) and its end sent by a pipe
    stops where the helper has begun         |     stops where this process has been

The bodies are cut into parts (:func:`cut_parts`). Each process claims a part in a shared page before
decoding it and stops where the other has been, so they meet where their speeds put them (a part both
claim at once is done twice: the first copy counts); this process then waits only for the parts the
helper claimed. The helper's bodies arrive as this process's own shared instruction objects: the very
lists one process decodes. A body nobody decoded (the helper failed or ran out of room) or that does not
decode is left as it was: the caller decodes it and reports its error in order.

Why a helper kept between jobs, not a child forked for each: a forked child shares every page of its
parent, and whatever either process then writes there is first copied, page by page (about 2.6 us a page
on a 2-core cloud machine). In a process that has decoded a big module before, most of what both write is
memory freed by that module and handed out again: for rs-swc some 36,000 pages, 0.09 s of CPU per job.
A kept helper copies a page at most once; for a later job this process copies the code section into a
shared map (a memcpy) and neither faults. The first job is given to the helper at its fork (it reads the
bodies it inherited), as a one-shot CLI process would do anyway.

The helper ends when this process does (its command pipe closes), after :data:`IDLE_SECONDS` without a
job, or at the first thing that goes wrong in it; a new one is forked for the next big job. Until then
it and the two shared maps (the code section, about one byte per code byte; the packed parts, about one
more) stay in memory.
"""

from __future__ import annotations

import os
import struct
from typing import Any, Callable

from .binary.instr import data_index_op, decode_body
from .errors import DecodeError

__all__ = ["decode_in_two", "cut_parts", "stop_helper"]

#: the helper writes its packed parts into a shared memory map of this many bytes per byte of the
#: code section (it needs about one; reserved, not taken: pages are used as written)
AREA_PER_BYTE = 4
#: ... plus this many
AREA_SLACK = 1 << 20

#: a big code section is decoded in about this many parts of equal size (the two processes take parts from
#: either end); the middle fifth, where they meet, in parts a quarter that size (less waiting at the end)
PARTS = 160

#: the helper exits after this many seconds without a job
IDLE_SECONDS = 10.0

#: how long this process waits for the helper to finish a job it left (then it forks a new one)
SETTLE_SECONDS = 2.0

#: an answer from the helper: the job's number and where its parts written so far end in the area, or DONE
_ANSWER = struct.Struct("<IQ")
DONE = (1 << 64) - 1


def cut_parts(code: list, todo: list[int], size: int) -> list[list[int]]:
    """The bodies ``todo`` in consecutive parts (:data:`PARTS`; smaller in the middle of the section)."""
    parts: list[list[int]] = [[]]
    step = max(size // PARTS, 1)
    lo, hi = size * 2 // 5, size * 3 // 5
    acc = at = 0
    for i in todo:
        if acc >= (step if at < lo or at > hi else step // 4):
            parts.append([])
            acc = 0
        parts[-1].append(i)
        n = len(code[i]._raw)
        acc += n
        at += n
    return parts


def _decode_one(raw: bytes, base: int, need_datacount: bool) -> tuple:
    locals_, instrs = decode_body(raw, base)
    return locals_, instrs, data_index_op(raw, instrs) if need_datacount else None


def decode_in_two(code: list, size: int, need_datacount: bool, after: Callable[[], None] | None = None
                  ) -> dict[int, tuple]:
    """Decode the bodies ``code`` of a code section of ``size`` bytes with the helper, each body set
    decoded as it is done, when the section is big (else nothing is done: {}); the bodies that use a data
    index are returned (``{index: (locals, instrs, data_index_op)}``: the caller reports them in order).
    ``after`` is this process's first work once the helper has its job (the sections after the code)."""
    from .link.parallel import forks_for      # (stdlib only; loaded on first use)

    if not forks_for(size):
        return {}
    todo = [i for i, body in enumerate(code)
            if body._orig_instrs is None and body._raw is not None and body.offset is not None]
    if len(todo) < 2:
        return {}
    job = _Job(code, cut_parts(code, todo, size), need_datacount)
    try:
        helper = _Helper.take(job, size)
    except (OSError, ValueError, OverflowError):    # no room for the shared maps, no fork: one process
        return {}
    return job.run(helper, after)


class _Job:
    """One code section's bodies in parts, as this process sees the job (:meth:`run`)."""

    def __init__(self, code: list, parts: list[list[int]], need_datacount: bool):
        self.code, self.parts, self.need_datacount = code, parts, need_datacount
        self.number = 0                     # given by the helper that takes it
        self.bad: dict[int, tuple] = {}
        self.have = bytearray(len(parts))   # 1: the part is done (here or by the helper)
        self.over = False                   # the helper has finished (or dropped) this job
        self.reader: Any = None

    def raws(self, k: int) -> list[bytes]:
        return [self.code[i]._raw for i in self.parts[k]]

    def put(self, k: int, out: list) -> None:
        """Part ``k`` done: its bodies set decoded (those using a data index kept for the ordered check)."""
        self.have[k] = 1
        for i, d in zip(self.parts[k], out):
            if d is not None:
                if d[2] is None:
                    self.code[i]._set_decoded(d[0], d[1])
                else:
                    self.bad[i] = d

    def receive(self, helper: "_Helper") -> None:
        """Load the parts the helper has finished since the last call."""
        end = None
        for number, value in helper.answers():
            if number == self.number:
                if value == DONE:
                    self.over = True
                else:
                    end = value
        if helper.dead:
            self.over = True
        if end is None:
            return
        try:
            for k, out in self.reader.parts_to(end):
                if not self.have[k]:
                    self.put(k, out)
        except Exception:   # noqa: BLE001 - a damaged answer: no more of it (the caller decodes what is missing)
            self.over = True
            helper.close()

    def run(self, helper: "_Helper", after: Callable[[], None] | None) -> dict[int, tuple]:
        from .binary.bodypack import BodyReader
        from .link.parallel import note

        parts, claims, have, code = self.parts, helper.claims, self.have, self.code
        helper.area.seek(0)
        self.reader = BodyReader(helper.area)
        try:
            if after is not None:
                after()
            k = 0
            while k < len(parts) and k < int.from_bytes(claims[4:8], "little"):
                claims[0:4] = (k + 1).to_bytes(4, "little")
                out = []
                for i in parts[k]:
                    try:
                        out.append(_decode_one(code[i]._raw, code[i].offset, self.need_datacount))
                    except (DecodeError, RecursionError):
                        if not have[k]:
                            self.put(k, out)
                        return self.bad
                if not have[k]:
                    self.put(k, out)
                self.receive(helper)
                k += 1
            note(f"decode: parent's parts done ({k} of {len(parts)})")
            while not (self.over or all(have[k:])):       # the helper's parts still to come
                helper.wait()
                self.receive(helper)
            note("decode: helper's parts in")
        finally:
            claims[0:4] = len(parts).to_bytes(4, "little")  # (a helper still at work stops after its part)
        return self.bad


#: the helper of this process, if any (never one inherited through a fork)
_HELPER: "_Helper | None" = None


class _Helper:
    """The helper process and what it shares with this one: the claims page (two u32: this process's next
    part, the helper's lowest), the code section of a later job (``source``), the packed parts (``area``),
    a command pipe (jobs) and an answer pipe (:data:`_ANSWER` records)."""

    def __init__(self, size: int):
        import mmap

        self.claims = mmap.mmap(-1, 8)
        self.source = mmap.mmap(-1, max(size, 1))
        self.area = mmap.mmap(-1, AREA_PER_BYTE * size + AREA_SLACK)
        self.pid = self.cmd = self.fd = -1
        self.number = 0                     # the last job given
        self.finished = 0                   # the last job the helper said it finished
        self.dead = False
        self.buf = bytearray()

    @classmethod
    def take(cls, job: _Job, size: int) -> "_Helper":
        """The helper, given ``job`` (``size`` code bytes): the kept one when it is alive, idle and big
        enough, else a new one."""
        global _HELPER
        helper = _HELPER
        if helper is not None and not helper.dead and helper.fits(size) and helper.settle():
            try:
                helper.give(job)
                return helper
            except OSError:
                pass
        if helper is not None:
            helper.close()
        _HELPER = None
        helper = cls(max(size, 1))
        helper.fork(job)
        _HELPER = helper
        return helper

    def fits(self, size: int) -> bool:
        """Whether the shared maps take a job of ``size`` code bytes."""
        return len(self.source) >= size and len(self.area) >= AREA_PER_BYTE * size + AREA_SLACK

    def _begin(self, job: _Job) -> None:
        self.number += 1
        job.number = self.number
        self.claims[0:8] = (0).to_bytes(4, "little") + len(job.parts).to_bytes(4, "little")

    def fork(self, job: _Job) -> None:
        """Start the helper with ``job`` (it reads the job's bodies from what it inherits)."""
        import warnings

        from .link.parallel import big_pipe

        self._begin(job)
        cmd_r, cmd_w = os.pipe()
        ans_r, ans_w = os.pipe()
        big_pipe(cmd_w)
        try:
            with warnings.catch_warnings():     # 3.12+ warns about fork in a process with threads: the helper uses none
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:                         # (no fork: one process, no pipe left open)
            for fd in (cmd_r, cmd_w, ans_r, ans_w):
                os.close(fd)
            raise
        if pid == 0:
            try:
                os.close(cmd_w)
                os.close(ans_r)
                _serve(self, job, cmd_r, ans_w)
            finally:
                os._exit(0)
        os.close(cmd_r)
        os.close(ans_w)
        os.set_blocking(ans_r, False)
        self.pid, self.cmd, self.fd = pid, cmd_w, ans_r

    def give(self, job: _Job) -> None:
        """Send ``job``: its bodies copied one after the other into the shared source map (what the helper
        decodes is what this process has, wherever a body came from), where each part starts and its
        bodies' sizes by the pipe."""
        import marshal

        from .link.parallel import write_message

        source = self.source
        source.seek(0)
        write = source.write
        starts, sizes = [], []
        for k in range(len(job.parts)):
            starts.append(source.tell())
            sizes.append([write(raw) for raw in job.raws(k)])
        self._begin(job)
        write_message(self.cmd, marshal.dumps((job.number, job.need_datacount, starts, sizes)))

    def answers(self) -> list[tuple[int, int]]:
        """The answers received since the last call (never waits); the helper's exit makes it :attr:`dead`."""
        from .link.parallel import read_ready

        if not self.dead:
            got, ended = read_ready(self.fd)
            self.buf += got
            if ended:
                self.close()
        n = len(self.buf) // _ANSWER.size * _ANSWER.size
        out = list(_ANSWER.iter_unpack(self.buf[:n]))
        del self.buf[:n]
        for number, value in out:
            if value == DONE:
                self.finished = max(self.finished, number)
        return out

    def wait(self, timeout: float | None = None) -> None:
        """Block until the helper has answered or ended, or ``timeout`` seconds have passed."""
        from .link.parallel import wait_readable_fd

        if not self.dead:
            wait_readable_fd(self.fd, timeout)

    def settle(self) -> bool:
        """Whether the helper has finished its last job (waiting for it at most :data:`SETTLE_SECONDS`: a job
        this process left early still has the helper finish the part it was at)."""
        import time

        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            self.answers()
            if self.dead or self.finished == self.number:
                return not self.dead
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.wait(left)

    def drop_pipes(self) -> None:
        """Close this process's ends of the helper's pipes; the helper counts as gone here."""
        self.dead = True
        for fd in (self.cmd, self.fd):
            if fd >= 0:
                os.close(fd)
        self.cmd = self.fd = -1

    def close(self) -> None:
        """End the helper (if it is still there) and free the pipes; the shared maps go with the object."""
        from .link.parallel import reap_later

        self.drop_pipes()
        if self.pid > 0:
            reap_later(self.pid, kill=True)
            self.pid = -1


def stop_helper() -> None:
    """End this process's helper, if any (a new one is forked for the next big job)."""
    global _HELPER
    if _HELPER is not None:
        _HELPER.close()
        _HELPER = None


def _forget_in_child() -> None:
    """In a forked child: the helper is the parent's, its pipes closed here (the helper sees the parent's
    exit as the end of its command pipe, which a child must not keep open)."""
    global _HELPER
    helper, _HELPER = _HELPER, None
    if helper is not None:
        helper.drop_pipes()
        helper.pid = -1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


# ----------------------------------------------------------------------------- the helper's side

def _serve(helper: _Helper, first: _Job, cmd: int, ans: int) -> None:
    """The helper: ``first`` from the bodies it inherited, then each job the command pipe brings (its
    bodies in the shared source map), until the pipe ends, :data:`IDLE_SECONDS` pass without a job, or
    anything fails (this process then does the rest of its job itself)."""
    import gc
    import marshal
    import select

    from .link.parallel import read_message

    gc.disable()                # (a collection would walk, and so copy, every shared page)
    _drop_inherited_files(cmd, ans)

    def answer(number: int, value: int) -> None:
        os.write(ans, _ANSWER.pack(number, value))     # (12 bytes: one atomic write)

    _pack_from_end(first.raws, len(first.parts), first.need_datacount, helper, first.number, answer)
    answer(first.number, DONE)
    del first
    waiter = select.poll()
    waiter.register(cmd, select.POLLIN)
    while waiter.poll(round(IDLE_SECONDS * 1000)):
        message = read_message(cmd)
        if message is None:
            return
        number, need_datacount, starts, sizes = marshal.loads(message)
        _pack_from_end(_Sliced(helper.source, starts, sizes), len(starts), need_datacount, helper, number, answer)
        answer(number, DONE)


def _drop_inherited_files(*keep: int) -> None:
    """The helper outlives the job it was forked for: it must not hold the files, pipes and sockets its owner
    had open then (whoever reads one would wait for an end of file until the helper ends). All but ``keep``
    are closed; standard input and output become /dev/null, and so does standard error unless
    ``WASMWELD_TIMING=1`` (:func:`~wasmweld.link.parallel.note` writes there)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1) if os.environ.get("WASMWELD_TIMING") == "1" else (0, 1, 2):
        os.dup2(null, fd)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:         # (the listing's own descriptor, closed by now)
                pass


class _Sliced:
    """A job's bodies as the helper reads them: part ``k`` starts at ``starts[k]`` in ``source``, its
    bodies one after the other, of ``sizes[k]`` bytes."""

    def __init__(self, source: Any, starts: list[int], sizes: list[list[int]]):
        self.source, self.starts, self.sizes = source, starts, sizes

    def __call__(self, k: int) -> list[bytes]:
        source, at, out = self.source, self.starts[k], []
        for n in self.sizes[k]:
            out.append(source[at:at + n])
            at += n
        return out


def _pack_from_end(raws: Callable[[int], list[bytes]], nparts: int, need_datacount: bool, helper: _Helper,
                   number: int, answer: Callable[[int, int], None]) -> None:
    """Decode parts from the end while this process has not reached them, each packed into the area and
    its end answered. A part that does not fit in the area ends the job here (this process does the rest)."""
    from .binary.bodypack import BodyPacker
    from .link.parallel import note

    claims, area = helper.claims, helper.area
    area.seek(0)
    packer = BodyPacker(area)
    out: list[tuple | None] = []
    for k in range(nparts - 1, -1, -1):
        if k < int.from_bytes(claims[0:4], "little"):
            break
        claims[4:8] = k.to_bytes(4, "little")
        for d in out:                   # the last part's lists, sent: their slots are reused (the
            if d is not None:           # packer's memo keeps the list objects)
                d[1].clear()
        out = []
        for raw in raws(k):
            try:
                out.append(_decode_one(raw, 0, need_datacount))
            except (DecodeError, RecursionError):
                out.append(None)
        try:
            packer.add((k, out))
        except ValueError:              # the area is full
            break
        answer(number, area.tell())
    note("decode: helper's job done")
