"""Printing a large code section with two processes: same text, about half the time on two cores.

The printer forks when it reaches a big code section; the child (a copy of the
printer with everything it has read so far: types, names, caches) prints the
second half of the bodies into a temporary file while the parent prints the
first half; the parent then copies the child's text after its own::

    parent:  (module ... (func 0) ... (func k-1)  | copy of child's file | (data ...) ...)
    child:                                        (func k) ... (func n-1)

The output is identical to a one-process run. A failure in the child (a
malformed body) comes back to the parent as the same exception. Used only
where ``os.fork`` exists, with at least two CPUs, for code sections of
:data:`MIN_BYTES` or more.
"""

from __future__ import annotations

import os
import pickle
import tempfile

from typing import TYPE_CHECKING, Sequence

from ..errors import WasmError

if TYPE_CHECKING:   # the printer imports this module
    from .printer import ModulePrinter
    from ..items import FuncBody

__all__ = ["MIN_BYTES", "worth_forking", "print_bodies_split"]

#: code sections smaller than this are printed in one process
MIN_BYTES = 2 << 20


def worth_forking(bodies: Sequence[FuncBody]) -> bool:
    """Whether printing these bodies in two processes pays off here."""
    if not hasattr(os, "fork") or (os.cpu_count() or 1) < 2 or len(bodies) < 64:
        return False
    return sum(len(b.raw) for b in bodies) >= MIN_BYTES


def _split_point(bodies) -> int:
    total = sum(len(b.raw) for b in bodies)
    acc = 0
    for i, b in enumerate(bodies):
        acc += len(b.raw)
        if acc * 2 >= total:
            return i + 1
    return len(bodies)


def _child(pr, bodies, start: int, nimp: int, path: str) -> None:
    """In the forked child: print ``bodies[start:]`` into ``path``; never returns."""
    status = 0
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            pr.write = fh.write
            pr.buf = []
            pr.w = pr.buf.append
            for i in range(start):  # the parent's functions: their branch hints are the parent's
                pr.skip_hints(nimp + i)
            pr.print_bodies(bodies, start, len(bodies), nimp)
            pr.flush()
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        status = 1
        try:
            with open(path + ".err", "wb") as fh:
                pickle.dump(exc if isinstance(exc, WasmError) else WasmError(f"{type(exc).__name__}: {exc}"), fh)
        except Exception:  # noqa: BLE001
            status = 2
    os._exit(status)


def print_bodies_split(pr: ModulePrinter, bodies: list[FuncBody], nimp: int) -> None:
    """Print all ``bodies`` through printer ``pr``, the second half in a forked child."""
    k = _split_point(bodies)
    fd, path = tempfile.mkstemp(prefix="wasmweld-print-", suffix=".wat")
    os.close(fd)
    pr.flush()
    pid = os.fork()
    if pid == 0:
        _child(pr, bodies, k, nimp, path)
    reaped = False
    try:
        pr.print_bodies(bodies, 0, k, nimp)
        pr.flush()
        _pid, status = os.waitpid(pid, 0)
        reaped = True
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            try:
                with open(path + ".err", "rb") as fh:
                    exc = pickle.load(fh)
            except Exception:  # noqa: BLE001
                exc = WasmError(f"printing process failed (status {code})")
            raise exc
        with open(path, encoding="utf-8", newline="") as fh:
            while True:
                block = fh.read(1 << 20)
                if not block:
                    break
                pr.write(block)
    finally:
        if not reaped:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass
        for p in (path, path + ".err"):
            try:
                os.unlink(p)
            except OSError:
                pass
