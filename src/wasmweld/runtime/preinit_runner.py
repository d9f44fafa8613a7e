"""Run a module's init function in wasmtime and read back its state: the engine side of ``wasmweld snapshot``.

Stage 2 of ``wasmweld snapshot`` (instrument -> **run** -> snapshot -> rewrite).
Given the instrumented module (every memory, table and mutable global exported
under a private name) and its probes, :class:`WasmtimeRunner`

1. compiles it (in this process, with a private engine whose epoch only this
   run ticks), with fuel if asked for. Without an artifact cache the code runs
   once, so it is compiled for compiling fast: with Winch, wasmtime's baseline
   compiler, where there is one (x86-64; :func:`~wasmweld.runtime.engine.make_winch_engine`):
   StarlingMonkey's 9 MB of code takes ~1.8 s of CPU instead of ~8.5 s,
   QuickJS's 0.8 MB ~0.1 s instead of ~0.6 s, while their init runs ~1.3-1.5x
   slower. A module Winch cannot compile (GC, exceptions, typed function
   references, relaxed SIMD) falls back to Cranelift, which also serves
   without Winch: a module with at least :data:`QUICK_COMPILE_CODE_BYTES` of
   code is then compiled without Cranelift's optimisations
   (``cranelift_opt_level="none"``). For their larger frames Winch gets 4x
   wasmtime's default wasm stack (:data:`WINCH_WASM_STACK`), unoptimised
   Cranelift twice (:data:`QUICK_COMPILE_WASM_STACK`); the worker thread has
   a native stack of :data:`WORKER_THREAD_STACK`. With a cache the module is compiled by Cranelift, optimised,
   once;
2. runs the rest in a worker thread the caller stops waiting for at the
   deadline, so the whole run is bounded: wasm code is stopped by epoch
   interruption (keeping its backtrace), reading a table back looks at the
   clock, and a worker blocked outside wasm code (a WASI sleep in
   ``poll_oneoff``) is abandoned a second later (it traps as soon as it is
   back in wasm code); a forked child process would be killable, but
   wasmtime's WASI runs on thread pools that do not survive a fork;
3. in the worker: links WASI preview 1 only if a
   :class:`~wasmweld.runtime.wasi.WasiOptions` was given (only its grants;
   :class:`OutputTail` streams keep only the last 4 KiB of the output); every
   other function import traps when called; instantiates under the memory
   cap (``Store.set_limits``: bytes per memory, ``max_memory // 8`` elements
   per table), records the tables (only when the code can change them) and
   the reference globals, calls the start function, ``_initialize`` and the
   init function;
4. refuses what cannot be snapshotted (a changed table, a reference global
   holding a new non-null value), reads every mutable global and the dropped
   passive segments, and sends back the non-zero memory ranges chosen by the
   caller's ``ranges`` function, written straight from the live memory into
   the pipe.

It returns an :class:`InitState` (plain data); :mod:`wasmweld.preinit` turns
it into a ``Snapshot``. Nothing here imports :mod:`wasmweld.preinit`.
Example (the probes come from the instrumenter)::

    runner = WasmtimeRunner(None, timeout=10, max_memory=64 << 20)
    state = runner.run(instrumented_bytes, "wizer-initialize", probes, ranges=my_ranges)
    state.memories   # [(pages, [(offset, b"..."), ...])]
"""

from __future__ import annotations

import ctypes
import os
import re
import tempfile
import threading
import time
from bisect import bisect_right
from itertools import starmap
from operator import itemgetter
from collections.abc import Callable, Sequence
from ..record import field, record, replace
from typing import Any, NamedTuple

from ..binary.reader import SECTION_IDS, split_sections
from ..errors import DecodeError, InitError, SnapshotError, ValidationError, WasmError
from .engine import (engine_settings, instantiate, make_config, make_engine, make_winch_engine, module_from_bytes,
                     require_wasmtime)
from .wasi import OUTPUT_TAIL_BYTES, WASI_MODULES, OutputTail, WasiOptions, make_wasi_config

__all__ = ["WasmtimeRunner", "InitState", "OutputTail", "WASI_MODULES", "Ranges", "TABLE_ELEMENT_BYTES",
           "QUICK_COMPILE_CODE_BYTES", "QUICK_COMPILE_WASM_STACK", "OPT_LEVELS", "COMPILERS",
           "WINCH_WASM_STACK", "WORKER_THREAD_STACK", "COPY_MEMORY_BYTES"]

#: ``ranges(buffers)``: per memory (a copy of its bytes, or a view of a large one), the ``(start, end)`` ranges
#: to capture
Ranges = Callable[[list[bytes | memoryview]], list[list[tuple[int, int]]]]

#: bytes one table element counts for against ``max_memory``
TABLE_ELEMENT_BYTES = 8

#: code sections at least this large are compiled unoptimised when no artifact cache keeps the result
QUICK_COMPILE_CODE_BYTES = 512 << 10

#: the wasm stack of an unoptimised compile (wasmtime's default is 512 KiB; its frames are larger)
QUICK_COMPILE_WASM_STACK = 1 << 20

#: the wasm stack under Winch: its frames keep every local in memory (2-4x Cranelift's for a few locals), so
#: 4x the default lets such a recursion that fits Cranelift's 512 KiB fit here too (wasmtime refuses more
#: than 2 MiB, its async stack)
WINCH_WASM_STACK = 2 << 20

#: memories up to this size are copied once when read back (larger ones are read through a view, in windows)
COPY_MEMORY_BYTES = 16 << 20

#: the native stack of the worker thread the init runs in (well above any wasm stack used here)
WORKER_THREAD_STACK = 16 << 20

#: what ``opt_level`` may be: wasmtime's Cranelift levels, or None for the choice described above
OPT_LEVELS = ("none", "speed", "speed_and_size")

#: what ``compiler`` may be: wasmtime's baseline compiler or its optimising one (None: the choice above)
COMPILERS = ("winch", "cranelift")

_UNKNOWN_IMPORT_RE = re.compile(r"unknown import: `([^`]*)::([^`]*)` has not been defined")
_BT_LINE_RE = re.compile(r"^\s*(\d+):\s+(0x[0-9a-fA-F]+)\s+-\s+(.*)$")
_UNLIMITED_FUEL = 1 << 62
_MAX_FUEL = (1 << 64) - 1  # wasmtime's fuel is a u64
_MAX_LIMIT = (1 << 63) - 1  # Store.set_limits takes an i64
_FAR_EPOCH = 1 << 62
_TABLE_CHUNK = 1 << 16  # table elements read between two looks at the deadline
_CODE_ID = SECTION_IDS["code"]
_KILL_GRACE = 1.0  # seconds past the deadline before a worker blocked outside wasm code is abandoned


class _OutputFiles:
    """Temporary files standing in for the :class:`OutputTail` streams during a run.

    WASI writes the output there (nothing of it in memory); :meth:`collect`
    reads only the last ``limit`` bytes of each file into its OutputTail.
    """

    def __init__(self, tails: dict[str, OutputTail]):
        self.tails = tails
        self.dir = tempfile.TemporaryDirectory(prefix="wasmweld-snapshot-") if tails else None
        self.paths: dict[str, Any] = {which: os.path.join(self.dir.name, which) for which in tails} if self.dir else {}
        self._collected = False

    def collect(self) -> None:
        if self._collected:
            return
        self._collected = True
        for which, tail in self.tails.items():
            try:
                with open(self.paths[which], "rb") as fh:
                    size = fh.seek(0, os.SEEK_END)
                    fh.seek(max(size - tail.limit, 0))
                    tail.replace(fh.read(tail.limit), size)
            except OSError:
                continue

    def close(self) -> None:
        self.collect()
        if self.dir is not None:
            self.dir.cleanup()
            self.dir = None


@record
class InitState:
    """The state the init run left, as plain data.

    ``globals``: ``(index, valtype, value, unchanged)`` per mutable global of
    the probes (value as in ``wasmweld.preinit.GlobalValue``); ``memories``:
    ``(size in pages, [(offset, bytes)])`` per probed memory; dropped passive
    segments; ``stats`` (``compile_seconds``, ``instantiate_seconds``,
    ``init_seconds``, ``capture_seconds``, ``fuel_used``, ``memory_bytes``,
    ``stdout`` / ``stderr`` tails).
    """

    globals: list[tuple[int, str, Any, bool]] = field(default_factory=list)
    memories: list[tuple[int, list[tuple[int, bytes]]]] = field(default_factory=list)
    dropped_datas: list[int] = field(default_factory=list)
    dropped_elems: list[int] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


class _Live(NamedTuple):
    """A finished run inside the process that ran it: the state, and the live memories to copy from."""

    state: InitState
    sizes: list[int]
    buffers: list[bytes | memoryview]  # a copy of each small memory, a view of each large one
    ranges: list[list[tuple[int, int]]]
    store: Any


def _ref_identity(value: Any) -> Any:
    """A comparable identity for a reference read from wasmtime (None for null)."""
    wasmtime = require_wasmtime()
    if value is None:
        return None
    if isinstance(value, wasmtime.Val):
        value = value.value
        if value is None:
            return None
    if isinstance(value, wasmtime.Func):
        return ("func", bytes(value._func))
    return ("object", id(value), type(value).__name__)


def _func_table_ids(store, table, n: int, deadline: float | None) -> list[int]:
    """The identity of each element of a table of functions (the VMFuncRef pointer; 0 for null).

    Straight through wasmtime's C API with one reused value slot: about ten
    times faster than ``Table.get``, which wraps every element in Python objects.
    Past ``deadline`` (``time.monotonic()``) it raises a timeout :class:`InitError`.
    """
    from wasmtime import _ffi as ffi

    get = ffi.wasmtime_table_get
    ctx = store._context()
    tref = ctypes.byref(table._table)
    raw = ffi.wasmtime_val_t()
    rref = ctypes.byref(raw)
    func = raw.of.funcref
    field_name = ffi.wasmtime_func_t._fields_[1][0]
    out: list[int] = []
    append = out.append
    for base in range(0, n, _TABLE_CHUNK):
        if deadline is not None and time.monotonic() > deadline:
            raise InitError(f"reading back a table of {n} elements did not finish within the deadline "
                            "(raise --timeout)", "timeout")
        for i in range(base, min(base + _TABLE_CHUNK, n)):
            get(ctx, tref, i, rref)
            append(getattr(func, field_name) or 0)
    return out


def _wasi_streams(wasi: WasiOptions) -> dict[str, Any]:
    return {"stdout": wasi.stdout, "stderr": wasi.stderr}


class WasmtimeRunner:
    """Runs an instrumented module's init function; see the module docstring.

    ``wasi``: None (no WASI: every import traps) or the grants. ``fuel``,
    ``timeout`` (seconds for the whole run), ``max_memory`` (bytes per memory,
    ``// 8`` elements per table): None lifts a bound. ``isolate``: run in a
    worker thread abandoned at the deadline (default); without it a blocking
    WASI call keeps the caller waiting. ``tables_may_change``: False when the code
    has no instruction that can change a table (then they are not read back).
    ``cache_dir``: keep the compiled instrumented module in wasmweld's compiled-artifact
    cache (:class:`~wasmweld.runtime.cache.ArtifactCache`: a private directory, entries
    authenticated with this user's key; ``True``: the per-user default), so that snapshotting
    the same module again skips compiling it (Wizer uses wasmtime's cache the same way).
    ``compiler`` (:data:`COMPILERS`): None for Winch when there is no cache and no ``opt_level``,
    else Cranelift; ``"winch"`` falls back to Cranelift where Winch is missing or cannot compile the
    module, and with a cache (whose artifacts are optimised Cranelift code). ``opt_level``: Cranelift's optimisation level (:data:`OPT_LEVELS`); None: ``"none"``
    for a module with :data:`QUICK_COMPILE_CODE_BYTES` of code or more and no cache, else ``"speed"``.
    The run's ``stats`` say which were used (``compiler``, ``opt_level``: None for Winch).
    """

    def __init__(self, wasi: WasiOptions | None = None, *, fuel: int | None = None, timeout: float | None = None,
                 max_memory: int | None = None, isolate: bool | None = None, tables_may_change: bool = True,
                 cache_dir: str | os.PathLike[str] | bool | None = None, opt_level: str | None = None,
                 compiler: str | None = None):
        if fuel is not None and (isinstance(fuel, bool) or not isinstance(fuel, int) or not 0 < fuel <= _MAX_FUEL):
            raise SnapshotError(f"fuel must be a whole number of units from 1 to {_MAX_FUEL}, not {fuel!r}")
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
                raise SnapshotError(f"the timeout must be a positive number of seconds, not {timeout!r}")
            if not timeout <= threading.TIMEOUT_MAX:  # also inf and nan: the timer thread cannot wait that long
                raise SnapshotError(f"the timeout must be at most {threading.TIMEOUT_MAX:g} seconds, not {timeout!r}")
        if max_memory is not None and (isinstance(max_memory, bool) or not isinstance(max_memory, int)
                                       or max_memory < 0):
            raise SnapshotError(f"max_memory must be a whole number of bytes (0 or more), not {max_memory!r}")
        if wasi is not None and not isinstance(wasi, WasiOptions):
            raise SnapshotError(f"wasi must be None, True, False or WasiOptions, not {wasi!r}")
        if opt_level is not None and opt_level not in OPT_LEVELS:
            raise SnapshotError(f"opt_level must be None or one of {', '.join(OPT_LEVELS)}, not {opt_level!r}")
        if compiler is not None and compiler not in COMPILERS:
            raise SnapshotError(f"compiler must be None or one of {', '.join(COMPILERS)}, not {compiler!r}")
        self.opt_level = opt_level
        self.compiler = compiler
        self.wasi = wasi
        self.fuel: int | None = fuel
        self.timeout: float | None = timeout
        self.max_memory: int | None = max_memory
        self.isolate: bool = True if isolate is None else bool(isolate)
        self.tables_may_change = tables_may_change
        self.cache_dir = cache_dir
        self._deadline: float | None = None
        self._compiler: str | None = None  # what compiled the module of the current run

    # ------------------------------------------------------------------ the run

    def run(self, wasm: bytes, init_func: str, probes: Any, ranges: Ranges) -> InitState:
        """Compile ``wasm``, run it (start, ``_initialize``, ``init_func``) and return its state."""
        try:
            return self._run(wasm, init_func, probes, ranges)
        except WasmError as exc:
            # drop the frames (also those of the wasmtime error it replaced) that hold the store and
            # engine, so they are freed now rather than at interpreter exit
            exc.__context__ = None
            raise exc.with_traceback(None) from None

    def _run(self, wasm: bytes, init_func: str, probes: Any, ranges: Ranges) -> InitState:
        wasmtime = require_wasmtime()
        started = time.monotonic()
        self._deadline = None if self.timeout is None else started + self.timeout
        t0 = time.perf_counter()
        # a private engine: its epoch is ticked by this run's timer only
        wasm = bytes(wasm)
        eng, module, compiler, level = self._compile(wasmtime, wasm)
        self._compiler = compiler
        compile_seconds = time.perf_counter() - t0
        if self.isolate:
            state = self._run_bounded(eng, module, init_func, probes, ranges, started)
        else:
            state = _materialise(self._execute(eng, module, init_func, probes, ranges, started))
        state.stats["compile_seconds"] = compile_seconds
        state.stats["opt_level"] = level
        state.stats["compiler"] = compiler
        return state

    def compiler_for(self) -> str:
        """The compiler asked for (see the class docstring): ``"winch"`` unless a cache or a level says otherwise."""
        if self.compiler is not None:
            return self.compiler
        return "cranelift" if self.cache_dir or self.opt_level is not None else "winch"

    def opt_level_for(self, wasm: bytes) -> str:
        """The Cranelift level ``wasm`` is compiled with (see the class docstring)."""
        if self.opt_level is not None:
            return self.opt_level
        if self.cache_dir:
            return "speed"  # the artifact is kept and run again
        code = sum(sec.end - sec.payload_offset for sec in split_sections(wasm) if sec.id == _CODE_ID)
        return "none" if code >= QUICK_COMPILE_CODE_BYTES else "speed"

    def _compile(self, wasmtime, wasm: bytes):
        """A fresh engine (fuel, epoch as the bounds need), ``wasm`` compiled with it (or from the cache), the
        compiler and Cranelift's level (None for Winch)."""
        if self.compiler_for() == "winch" and not self.cache_dir:
            compiled = self._compile_winch(wasmtime, wasm)
            if compiled is not None:
                return (*compiled, "winch", None)
        level = self.opt_level_for(wasm)
        return (*self._compile_cranelift(wasmtime, wasm, level), "cranelift", level)

    def _compile_winch(self, wasmtime, wasm: bytes):
        """``(engine, module)`` compiled by Winch, or None: no Winch here, or it cannot compile ``wasm`` (a
        feature it lacks; an invalid module is then refused by Cranelift with its own message)."""
        eng = make_winch_engine(fuel=self.fuel is not None, epoch=self.timeout is not None,
                                max_wasm_stack=WINCH_WASM_STACK)
        if eng is None:
            return None
        try:
            return eng, module_from_bytes(eng, wasm)
        except wasmtime.WasmtimeError:
            return None

    def _compile_cranelift(self, wasmtime, wasm: bytes, level: str):
        if not self.cache_dir:
            extra: dict[str, Any] = {"cranelift_opt_level": level}
            if level == "none":
                extra["max_wasm_stack"] = QUICK_COMPILE_WASM_STACK
            eng = wasmtime.Engine(make_config(fuel=self.fuel is not None, epoch=self.timeout is not None, **extra))
            try:
                return eng, module_from_bytes(eng, wasm)
            except wasmtime.WasmtimeError as exc:
                raise SnapshotError(f"the instrumented module does not compile: {_one_line(str(exc))}") from None
        from .cache import ArtifactCache

        settings = engine_settings(fuel=self.fuel is not None, epoch=self.timeout is not None, opt_level=level)
        eng = make_engine(settings)
        cache = ArtifactCache(None if self.cache_dir is True else os.fspath(self.cache_dir), eng, settings)
        try:
            return eng, cache.load_or_compile(wasm, name="instrumented module")
        except (ValidationError, DecodeError) as exc:
            raise SnapshotError(f"the instrumented module does not compile: {exc}") from None

    def _execute(self, eng, module, init_func: str, probes: Any, ranges: Ranges, started: float) -> _Live:
        """Instantiate, run and read back, in the thread that calls it."""
        wasmtime = require_wasmtime()
        timer = None
        expired = threading.Event()
        if self.timeout is not None:  # the deadline counts from the start of the run (compiling included)
            def tick() -> None:
                expired.set()
                eng.increment_epoch()

            timer = threading.Timer(max(started + self.timeout - time.monotonic(), 0.0), tick)
            timer.daemon = True
            timer.start()
        files = _OutputFiles(self._stream_tails())
        try:
            store = self._store(eng, files)
            linker = self._linker(eng, store, module)
            t0 = time.perf_counter()
            try:
                instance = instantiate(lambda: linker.instantiate(store, module))
            except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                raise self._instantiate_error(exc, probes, store, files) from None
            instantiate_seconds = time.perf_counter() - t0
            exports = instance.exports(store)
            func = self._init_export(exports, init_func)
            before = (self._table_state(store, exports, probes), self._ref_globals(store, exports, probes),
                      self._numeric_globals(store, exports, probes))
            t0 = time.perf_counter()
            fuel_used = self._call_init(store, exports, instance, func, init_func, probes, files, expired)
            init_seconds = time.perf_counter() - t0
        finally:
            if timer is not None:
                timer.cancel()
            files.close()
        if self.timeout is not None:
            store.set_epoch_deadline(_FAR_EPOCH)  # the probes below must not be stopped by the rest of the bound
        t0 = time.perf_counter()
        live = self._read_back(store, exports, probes, init_func, before, ranges)
        live.state.stats.update({
            "instantiate_seconds": instantiate_seconds,
            "init_seconds": init_seconds,
            "capture_seconds": time.perf_counter() - t0,
            "fuel_used": fuel_used,
        })
        for which, tail in files.tails.items():
            live.state.stats[which] = tail.data
        return live

    def _read_back(self, store, exports, probes: Any, init_func: str, before, ranges: Ranges) -> _Live:
        """Check the tables, read the globals, the dropped segments and the memories' chosen ranges."""
        tables_before, refs_before, numeric_before = before
        self._check_tables(init_func, probes, tables_before, self._table_state(store, exports, probes))
        globals_out = self._globals_after(store, exports, probes, init_func, refs_before, numeric_before)
        dropped_datas = [sp.index for sp in probes.passive_datas if self._dropped(exports, store, sp.export)]
        dropped_elems = [sp.index for sp in probes.passive_elems if self._dropped(exports, store, sp.export)]
        sizes: list[int] = []
        buffers: list[bytes | memoryview] = []
        for mp in probes.memories:
            mem = exports[mp.export]
            sizes.append(mem.size(store))
            n = mem.data_len(store)
            live = memoryview(mem.get_buffer_ptr(store, n)).cast("B") if n else memoryview(b"")
            if n <= COPY_MEMORY_BYTES:
                # one copy, which the scan reads and the segments are sliced from (cheaper than
                # slicing the live memory segment by segment)
                copy = live.tobytes()
                live.release()
                buffers.append(copy)
                continue
            # else a view of the live memory, not a copy: the scan copies one window at a time
            buffers.append(live)
        chosen = ranges(buffers)
        stats = {"memory_bytes": sum(len(b) for b in buffers)}
        state = InitState(globals_out, [], dropped_datas, dropped_elems, stats)
        return _Live(state, sizes, buffers, chosen, store)

    def _init_export(self, exports, init_func: str):
        wasmtime = require_wasmtime()
        try:
            func = exports[init_func]
        except KeyError:
            raise SnapshotError(f"the module has no export named {init_func!r}") from None
        if not isinstance(func, wasmtime.Func):
            raise SnapshotError(f"export {init_func!r} is not a function")
        return func

    def _call_init(self, store, exports, instance, func, init_func: str, probes: Any, files,
                   expired: threading.Event) -> int | None:
        """Run start, ``_initialize`` and the init function under the bounds; return the fuel used."""
        wasmtime = require_wasmtime()
        # the bounds apply to the module's own code from here on, not to the probes
        if self.fuel is not None:
            store.set_fuel(self.fuel)
        if self.timeout is not None:
            store.set_epoch_deadline(1)  # one tick from now: the timer's tick must come after this
            if expired.is_set():  # it came before (a slow instantiation): no module code runs at all
                raise InitError(f"the deadline of {self.timeout:g} s passed before the init code could start "
                                "(raise --timeout)", "timeout")
        steps = []
        if probes.start is not None:
            steps.append((exports[probes.start], "the start function"))
        if probes.reactor_init is not None:
            steps.append((exports[probes.reactor_init], f"the reactor initialiser {probes.reactor_init!r}"))
        steps.append((func, f"init function {init_func!r}"))
        for fn, what in steps:
            try:
                fn(store)
            except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                raise self._translate(exc, what, probes, store, instance, files) from None
        if self.fuel is None:
            return None
        used = self.fuel - store.get_fuel()
        store.set_fuel(_UNLIMITED_FUEL)
        return used

    # ------------------------------------------------------------------ the bounded run

    def _run_bounded(self, eng, module, init_func: str, probes: Any, ranges: Ranges, started: float) -> InitState:
        """Run :meth:`_execute` in a worker thread and stop waiting for it at the deadline.

        Wasm code is stopped at the deadline by the epoch; Python work (reading tables) checks the
        deadline itself; a thread still busy a moment later is blocked outside both (a WASI call such
        as a sleep in ``poll_oneoff``): it is abandoned, and traps as soon as it is back in wasm code.
        """
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                live = self._execute(eng, module, init_func, probes, ranges, started)
                result["state"] = _materialise(live)
            except BaseException as e:  # handed to the caller's thread
                result["error"] = e

        worker = threading.Thread(target=work, name="wasmweld-snapshot-init", daemon=True)
        try:
            previous: int | None = threading.stack_size(WORKER_THREAD_STACK)  # threads started from now: this one
        except (ValueError, RuntimeError):  # pragma: no cover - a platform that cannot set it: its default
            previous = None
        try:
            worker.start()
        finally:
            if previous is not None:
                threading.stack_size(previous)
        limit = None if self.timeout is None else max(started + self.timeout + _KILL_GRACE - time.monotonic(), 0.0)
        worker.join(limit)
        if worker.is_alive():
            eng.increment_epoch()  # in case it is back in wasm code by now
            raise InitError(f"the init run did not finish within the {self.timeout:g} s deadline; it was "
                            "stopped while outside wasm code (e.g. blocked in a WASI call such as a sleep) "
                            "and abandoned; raise --timeout, or check it for an endless wait", "timeout")
        if "error" in result:
            raise result["error"]
        return result["state"]

    # ------------------------------------------------------------------ store, linker

    def _stream_tails(self) -> dict[str, OutputTail]:
        """The tail buffers for output streams that are callables (the only output read back)."""
        if self.wasi is None:
            return {}
        return {which: target for which, target in _wasi_streams(self.wasi).items() if isinstance(target, OutputTail)}

    def _store(self, eng, files: _OutputFiles):
        wasmtime = require_wasmtime()
        store = wasmtime.Store(eng)
        if self.fuel is not None:
            store.set_fuel(_UNLIMITED_FUEL)  # the init budget is set just before the module's code runs
        if self.timeout is not None:
            store.set_epoch_deadline(_FAR_EPOCH)
        if self.max_memory is not None:
            # wasmtime takes an i64: a larger cap is no cap (and must not wrap around to a small one)
            store.set_limits(memory_size=min(self.max_memory, _MAX_LIMIT),
                             table_elements=min(self.max_memory // TABLE_ELEMENT_BYTES, _MAX_LIMIT))
        if self.wasi is not None:
            # captured streams go to temporary files, of which only the tail is ever read
            opts = replace(self.wasi, **files.paths) if files.paths else self.wasi
            try:
                store.set_wasi(make_wasi_config(opts))
            except WasmError as e:
                raise SnapshotError(str(e)) from None
        return store

    def _linker(self, eng, store, module):
        wasmtime = require_wasmtime()
        linker = wasmtime.Linker(eng)
        if self.wasi is not None:
            linker.define_wasi()
        tag_type = getattr(wasmtime, "TagType", None)
        defined: set[tuple[str, str]] = set()
        for imp in module.imports:
            ty = imp.type
            if isinstance(ty, wasmtime.FuncType):
                continue
            if tag_type is not None and isinstance(ty, tag_type):
                # a fresh tag: exceptions thrown and caught inside init work the same; a tag imported
                # twice under one name is one tag (as a host linking it would give)
                if (imp.module, imp.name) not in defined:
                    linker.define(store, imp.module, imp.name, wasmtime.Tag(store, ty))
                    defined.add((imp.module, imp.name))
                continue
            raise SnapshotError(
                f"cannot snapshot a module that imports {imp.module}.{imp.name} ({type(ty).__name__}): "
                "its state lives outside the module"
            )
        # any function import still undefined traps when called ("unknown import")
        linker.define_unknown_imports_as_traps(module)
        return linker

    # ------------------------------------------------------------------ errors

    def _backtrace_from_frames(self, frames, probes: Any) -> list[str]:
        lines = []
        for i, fr in enumerate(frames or ()):
            try:
                idx = fr.func_index
                off = fr.module_offset
            except Exception:  # pragma: no cover - defensive: frame data unavailable
                continue
            lines.append(_frame_line(i, idx, off, probes))
        return lines

    def _translate(self, exc: BaseException, what: str, probes: Any, store, instance, files) -> InitError:
        """Turn a wasmtime failure while running ``what`` into an :class:`InitError`."""
        wasmtime = require_wasmtime()
        files.collect()
        tail = _tail_text(files.tails)
        if isinstance(exc, wasmtime.ExitTrap):
            return InitError(f"{what} called WASI proc_exit({exc.code}); a snapshot needs it to return", "exit",
                             output=tail)
        if isinstance(exc, wasmtime.Trap):
            code = exc.trap_code
            frames = self._backtrace_from_frames(exc.frames, probes)
            if code == wasmtime.TrapCode.OUT_OF_FUEL:
                return InitError(f"{what} ran out of fuel after {self.fuel} units "
                                 "(raise --fuel, or check it for an endless loop)", "fuel", frames, tail)
            if code == wasmtime.TrapCode.INTERRUPT:
                return InitError(f"{what} did not finish within the {self.timeout:g} s deadline "
                                 "(raise --timeout, or check it for an endless loop)", "timeout", frames, tail)
            hit = self._grow_guard_hit(store, instance, probes)
            if hit is not None:
                mem, delta, size = hit
                return InitError(
                    f"{what} tried to grow memory {mem} by {delta} pages (from {size} pages, "
                    f"{size * 65536} bytes) past the memory cap of {self.max_memory} bytes (--max-memory)",
                    "memory", frames, tail)
            message = exc.message.strip() if hasattr(exc, "message") else str(exc)
            hint = ""
            if code == wasmtime.TrapCode.STACK_OVERFLOW and self._compiler == "winch":
                hint = (f" (compiled by Winch, {WINCH_WASM_STACK >> 20} MiB of wasm stack; its frames are larger "
                        "than Cranelift's: --compiler cranelift may get further)")
            return InitError(f"{what} trapped: {_trap_reason(message)}{hint}", "trap", frames, tail)
        text = str(exc)
        offsets = [int(m.group(2), 16) for m in map(_BT_LINE_RE.match, text.splitlines()) if m]
        bt = [_frame_line(i, None, off, probes) for i, off in enumerate(offsets)]
        m = _UNKNOWN_IMPORT_RE.search(text)
        if m:
            mod, name = m.group(1), m.group(2)
            if mod in WASI_MODULES and self.wasi is None:
                hint = "WASI is off: pass wasi=WasiOptions(...) / --allow-wasi to allow it"
            else:
                hint = "only WASI imports can be provided during init"
            return InitError(f"{what} called the imported function {mod}.{name}, which is not available "
                             f"during snapshot ({hint})", "import", bt, tail)
        return InitError(f"{what} failed: {_trap_reason(text)}", "trap", bt, tail)

    def _grow_guard_hit(self, store, instance, probes: Any):
        if instance is None or probes.grow_guard is None:
            return None
        try:
            exports = instance.exports(store)
            mem = exports[probes.grow_guard].value(store)
            if not mem:
                return None
            delta = exports[probes.grow_guard_delta].value(store) if probes.grow_guard_delta else 0
            mp = next((p for p in probes.memories if p.index == mem - 1), None)
            size = exports[mp.export].size(store) if mp is not None else 0
            return mem - 1, delta & 0xFFFFFFFFFFFFFFFF, size
        except Exception:  # pragma: no cover - best effort
            return None

    def _instantiate_error(self, exc, probes: Any, store, files) -> WasmError:
        text = _one_line(str(exc))
        if self.max_memory is not None and ("limit" in text or "exceed" in text):
            if "table" in text:
                return InitError(f"instantiation needs a table of more than {self.max_memory // TABLE_ELEMENT_BYTES} "
                                 f"elements, the cap for --max-memory {self.max_memory} (8 bytes per element; "
                                 f"--no-limits lifts it): {text}", "memory")
            if "memory" in text:
                return InitError(f"instantiation needs more memory than the cap of {self.max_memory} bytes "
                                 f"(--max-memory): {text}", "memory")
        return self._translate(exc, "instantiation", probes, store, None, files)

    # ------------------------------------------------------------------ reading state

    def _table_state(self, store, exports, probes: Any) -> list[tuple[int, object]]:
        """Per table: its size and its contents (function identities, or the count of non-null elements).

        When no instruction of the module can change a table, only the sizes are read.
        """
        states: list[tuple[int, object]] = []
        for tp in probes.tables:
            table = exports[tp.export]
            n = table.size(store)
            if not self.tables_may_change:
                states.append((n, None))
            elif tp.nonnull_counter is not None:
                states.append((n, exports[tp.nonnull_counter](store)))
            else:
                states.append((n, _func_table_ids(store, table, n, self._deadline)))
        return states

    @staticmethod
    def _check_tables(init_func: str, probes: Any, before, after) -> None:
        """Tables must be exactly as instantiation left them."""
        for tp, (n0, c0), (n1, c1) in zip(probes.tables, before, after):
            label = tp.label or f"table {tp.index}"
            if n0 != n1:
                raise SnapshotError(f"init function {init_func!r} changed {label}: its size went from {n0} to {n1}; "
                                    "tables cannot be snapshotted")
            if tp.nonnull_counter is not None:
                if c0 or c1:
                    raise SnapshotError(
                        f"cannot snapshot {label}: it holds {c1} non-null references after init function "
                        f"{init_func!r} (before: {c0}); only tables of functions can be compared")
                continue
            if c0 != c1:
                i = next(i for i, (a, b) in enumerate(zip(c0, c1)) if a != b)
                raise SnapshotError(f"init function {init_func!r} changed {label} at element {i}; "
                                    "tables cannot be snapshotted")

    def _ref_globals(self, store, exports, probes: Any) -> dict[int, Any]:
        """Per reference global: None if null, else its identity (functions) or ``"non-null"``."""
        out: dict[int, Any] = {}
        for gp in probes.globals:
            if gp.valtype != "ref":
                continue
            if exports[gp.null_probe](store):
                out[gp.index] = None
            elif gp.funcref:
                out[gp.index] = _ref_identity(exports[gp.export].value(store)) or "non-null"
            else:
                out[gp.index] = "non-null"
        return out

    def _numeric_globals(self, store, exports, probes: Any) -> dict[int, Any]:
        out = {}
        for gp in probes.globals:
            if gp.valtype == "ref":
                continue
            item = exports[gp.export]
            if gp.getter:
                bits = item(store)
                if gp.valtype == "f32":
                    out[gp.index] = bits & 0xFFFFFFFF
                elif gp.valtype == "f64":
                    out[gp.index] = bits & 0xFFFFFFFFFFFFFFFF
                else:  # v128 as (low, high) i64
                    lo, hi = bits
                    out[gp.index] = (lo & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") + (
                        hi & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")
            else:
                out[gp.index] = int(item.value(store))
        return out

    def _globals_after(self, store, exports, probes: Any, init_func: str, refs_before, numeric_before):
        out = []
        numeric_after = self._numeric_globals(store, exports, probes)
        refs_after = self._ref_globals(store, exports, probes)
        for gp in probes.globals:
            if gp.valtype != "ref":
                value = numeric_after[gp.index]
                out.append((gp.index, gp.valtype, value, value == numeric_before[gp.index]))
                continue
            before, after = refs_before[gp.index], refs_after[gp.index]
            if after == before and (after is None or after != "non-null"):
                out.append((gp.index, "ref", None, True))
            elif after is None:
                out.append((gp.index, "ref", None, False))
            else:
                label = gp.label or f"global {gp.index}"
                what = "a new non-null function reference" if gp.funcref else \
                    f"a non-null {gp.heap or 'reference'} reference"
                raise SnapshotError(
                    f"cannot snapshot {label}: this mutable global holds {what} after init function "
                    f"{init_func!r}; only null references and unchanged function references can be snapshotted")
        return out

    def _dropped(self, exports, store, name: str) -> bool:
        wasmtime = require_wasmtime()
        try:
            exports[name](store)
        except (wasmtime.Trap, wasmtime.WasmtimeError):
            return True
        return False


# ---------------------------------------------------------------------- helpers


def _materialise(live: _Live) -> InitState:
    """Copy the chosen ranges out of the live memories into the state."""
    state = live.state
    memories = []
    for size, buf, rs in zip(live.sizes, live.buffers, live.ranges):
        if isinstance(buf, bytes):  # the copy of a small memory: its slices are bytes already
            memories.append((size, list(zip(map(itemgetter(0), rs), map(buf.__getitem__, starmap(slice, rs))))))
        else:
            memories.append((size, [(s, bytes(buf[s:e])) for s, e in rs]))
    state.memories = memories
    for buf in live.buffers:
        if isinstance(buf, memoryview):
            buf.release()
    return state


def _tail_text(tails: dict[str, OutputTail]) -> str:
    parts = []
    for which in ("stdout", "stderr"):
        tail = tails.get(which)
        if tail is not None and tail.total:
            parts.append(f"[{which}] " + tail.text()[-OUTPUT_TAIL_BYTES:])
    return "\n".join(parts)


def _span(offset: int | None, probes: Any):
    spans: Sequence = probes.code_spans
    if offset is None or not spans:
        return None
    k = bisect_right([s.start for s in spans], offset) - 1
    if k < 0 or offset >= spans[k].end:
        return None
    return spans[k]


def _frame_line(i: int, func: int | None, offset: int | None, probes: Any) -> str:
    span = _span(offset, probes)
    if func is None and span is not None:
        func = span.func
    input_off, approx = None, False
    if span is not None and span.input_start is not None:
        input_off, approx = span.input_start + (offset - span.start), span.changed
    elif not probes.code_spans:
        input_off = offset
    name = None
    if func is not None:
        if probes.num_funcs and func >= probes.num_funcs:
            name = "wasmweld memory.grow guard"
        else:
            name = probes.func_names.get(func)
    head = f"#{i} func {func}" if func is not None else f"#{i}"
    if name:
        head += f" <{name}>"
    if input_off is not None:
        head += f" at offset {'~' if approx else ''}0x{input_off:x}"
    return head


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _trap_reason(text: str) -> str:
    """The 'Caused by' part of a wasmtime error (the backtrace is shown separately)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if "Caused by:" in lines:
        rest = lines[lines.index("Caused by:") + 1:]
        return "; ".join(r.removeprefix("wasm trap: ") for r in rest) or text
    lines = [ln for ln in lines if not _BT_LINE_RE.match(ln) and not ln.startswith("error while executing")]
    return "; ".join(lines) or text.strip()
