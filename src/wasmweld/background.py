"""A function run in a daemon thread, what it raised handed back to the caller (standard library only).

wasmtime's validation runs in C with the GIL released, as do file writes and fsync: a second thread
doing them overlaps the calling thread's Python work. Three places do that (the snapshot's input
validation, the merge's input validation, the CLI's check of an output while it is staged)::

    job = Background(validate_bytes, data, name="wasmweld-validate")    # starts now
    ...                                  # the calling thread works meanwhile
    job.join()                           # waits; raises what validate_bytes raised, if anything
    job.wait()                           # (or only waits: when the caller has an error of its own)

A leaf module (``threading`` is imported when a job starts, not at import): every layer may use it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["Background"]


class Background:
    """``fn(*args)`` in a daemon thread, started at once; :meth:`join` waits and raises what it raised,
    :meth:`wait` only waits. A daemon thread: a process that exits without joining it does not hang."""

    def __init__(self, fn: Callable[..., object], *args: Any, name: str = "wasmweld-background") -> None:
        import threading

        self.error: BaseException | None = None
        self._fn, self._args = fn, args
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._fn(*self._args)
        except BaseException as exc:    # noqa: BLE001 - handed to the caller by join()
            self.error = exc

    def wait(self) -> None:
        """Wait for the function to return (or raise: kept for :meth:`join`)."""
        self.thread.join()

    def join(self) -> None:
        """Wait for the function and raise what it raised, if anything."""
        self.thread.join()
        if self.error is not None:
            raise self.error
