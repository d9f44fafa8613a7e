"""Checking the code section of a big module in two (or more) processes.

The bodies are split into contiguous chunks of about equal size; each forked
child decodes and checks one chunk and sends back ``None`` or the error it
found; the parent checks the first chunk meanwhile. The report is what a
single process would give: a malformed body anywhere wins (decoding comes
first), else the invalid function with the lowest index::

    WASMWELD_VALIDATE_JOBS=1 wasmweld validate big.wasm     # one process
    WASMWELD_VALIDATE_JOBS=2 wasmweld validate big.wasm     # parent + one child (default on 2+ cores)
"""

from __future__ import annotations

from typing import Any, Callable

import os
import pickle
import threading

from ..errors import DecodeError, ValidationError

__all__ = ["jobs_for", "run_chunks", "MIN_PARALLEL_BYTES"]

#: code sections smaller than this are checked in one process (forking costs ~10 ms)
MIN_PARALLEL_BYTES = 2_000_000


def jobs_for(code_bytes: int) -> int:
    """How many processes to use for a code section of ``code_bytes``."""
    env = os.environ.get("WASMWELD_VALIDATE_JOBS")
    if env is not None:
        try:
            jobs = max(1, int(env))
        except ValueError:
            jobs = 1
    else:
        jobs = min(2, os.cpu_count() or 1)
    if jobs < 2 or code_bytes < MIN_PARALLEL_BYTES or not hasattr(os, "fork") \
            or threading.active_count() > 1:
        return 1
    return jobs


def _chunks(sizes: list[int], jobs: int) -> list[range]:
    total = sum(sizes)
    out: list[range] = []
    start = 0
    acc = 0
    for i, s in enumerate(sizes):
        acc += s
        if acc >= total * (len(out) + 1) / jobs and len(out) < jobs - 1:
            out.append(range(start, i + 1))
            start = i + 1
    out.append(range(start, len(sizes)))
    return out


def _pack(exc: BaseException):
    if isinstance(exc, DecodeError):
        return ("decode", exc.message, exc.offset, exc.context)
    if isinstance(exc, ValidationError):
        attrs = {k: getattr(exc, k, None) for k in ("func", "func_name", "instr", "expected", "found", "reason")}
        return ("invalid", exc.message, exc.offset, attrs)
    return ("crash", repr(exc))


def _unpack(res):
    if res[0] == "decode":
        return DecodeError(res[1], res[2], res[3])
    err = ValidationError(res[1], res[2])
    for k, v in res[3].items():
        setattr(err, k, v)
    return err


def _child(run: Callable[..., Any], chunk, w: int) -> None:
    try:
        try:
            run(chunk)
            res = None
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            res = _pack(exc)
        data = pickle.dumps(res)
        view = memoryview(data)
        while view:
            n = os.write(w, view)
            view = view[n:]
    finally:
        os._exit(0)


def run_chunks(run: Callable[..., Any], sizes: list[int], jobs: int) -> None:
    """Call ``run(range_of_body_indices)`` for every chunk, chunks 1.. in forked children."""
    chunks = _chunks(sizes, jobs)
    kids = []
    for chunk in chunks[1:]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _child(run, chunk, w)
        os.close(w)
        kids.append((pid, r, chunk))
    errors: list[Any] = []
    try:
        run(chunks[0])
    except (DecodeError, ValidationError) as exc:
        errors.append(exc)
    for pid, r, chunk in kids:
        parts = []
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            parts.append(b)
        os.close(r)
        os.waitpid(pid, 0)
        try:
            res = pickle.loads(b"".join(parts))
        except Exception:  # noqa: BLE001 - the child died: check its chunk here
            res = ("crash", "no result")
        if res is None:
            continue
        if res[0] == "crash":
            try:
                run(chunk)
            except (DecodeError, ValidationError) as exc:
                errors.append(exc)
            continue
        errors.append(_unpack(res))
    for e in errors:
        if isinstance(e, DecodeError):
            raise e
    if errors:
        raise errors[0]
