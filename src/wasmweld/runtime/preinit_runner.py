"""Run a module's init function in wasmtime and read back its state: the snapshot runner.

Implements :class:`wasmweld.preinit.runner.Runner` for stage 2 of
``wasmweld snapshot``. Given the instrumented module (every memory and mutable
global exported under a private name, see :mod:`wasmweld.preinit.instrument`)
it

1. compiles it with wasmweld's engine (a private engine when a wall-clock
   deadline is asked for, so the epoch ticks of one run never interrupt
   another), sets the fuel, the epoch deadline and the per-memory size cap
   (``Store.set_limits(memory_size=...)``);
2. links imports: WASI preview 1 only if :class:`WasiOptions` were given, with
   only the granted directories, environment and stdio; every other function
   import traps when called ("init called env.f, which is not available");
3. instantiates, records each table's contents and each mutable reference
   global, calls the exported start function (if any) and the init function;
4. refuses what cannot be snapshotted (a table changed, a reference global
   holding a new non-null value), reads every mutable global, finds which
   passive segments were dropped, and captures each memory's non-zero
   regions (:func:`wasmweld.preinit.snapshot.segment_ranges`).

Example (the probes come from the instrumenter)::

    runner = WasmtimeRunner(wasi=None, limits=Limits(fuel=10**9))
    snap = runner.run_init(instrumented_bytes, "wizer-initialize", probes)
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from bisect import bisect_right
from typing import Any

from ..errors import SnapshotError, WasmError
from ..preinit.runner import InitError, Limits, Probes, WasiOptions
from ..preinit.snapshot import GlobalValue, MemorySnapshot, Snapshot, limit_memories, segment_ranges
from .engine import engine as shared_engine
from .engine import make_config, require_wasmtime

__all__ = ["WasmtimeRunner", "WASI_MODULES"]

#: import modules served by wasmtime's WASI preview 1 implementation
WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")

_UNKNOWN_IMPORT_RE = re.compile(r"unknown import: `([^`]*)::([^`]*)` has not been defined")
_BT_LINE_RE = re.compile(r"^\s*(\d+):\s+(0x[0-9a-fA-F]+)\s+-\s+(.*)$")
_OUTPUT_TAIL = 4096
_UNLIMITED_FUEL = 1 << 62
_MAX_FUEL = (1 << 64) - 1  # wasmtime's fuel is a u64
_MAX_MEMORY_LIMIT = (1 << 63) - 1  # Store.set_limits takes an i64
_FAR_EPOCH = 1 << 62


class _Output:
    """Captured stdout/stderr of the init function (when stdio is not inherited)."""

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="wasmweld-snapshot-")
        self.stdout = os.path.join(self.dir.name, "stdout")
        self.stderr = os.path.join(self.dir.name, "stderr")
        self.stdin = os.path.join(self.dir.name, "stdin")
        open(self.stdin, "wb").close()

    def read(self, which: str) -> bytes:
        try:
            with open(getattr(self, which), "rb") as fh:
                return fh.read()
        except OSError:
            return b""

    def tail(self) -> str:
        parts = []
        for which in ("stdout", "stderr"):
            data = self.read(which)
            if data:
                text = data[-_OUTPUT_TAIL:].decode("utf-8", errors="replace")
                parts.append(f"[{which}] " + text)
        return "\n".join(parts)

    def close(self) -> None:
        self.dir.cleanup()


def _ref_identity(value: Any) -> Any:
    """A comparable identity for a reference read from wasmtime (None for null).

    A ``Func``'s identity is its raw ``wasmtime_func_t`` (store id + the
    pointer to the function's VMFuncRef), equal for the same function of the
    same instance however it was reached.
    """
    wasmtime = require_wasmtime()
    if value is None:
        return None
    if isinstance(value, wasmtime.Val):
        inner = value.value
        if inner is None:
            return None
        value = inner
    if isinstance(value, wasmtime.Func):
        return ("func", bytes(value._func))
    return ("object", id(value), type(value).__name__)


class WasmtimeRunner:
    """The wasmtime implementation of :class:`~wasmweld.preinit.runner.Runner`."""

    def __init__(self, wasi: WasiOptions | None = None, limits: Limits | None = None):
        self.wasi = wasi
        self.limits = limits or Limits()
        fuel, timeout, max_memory = self.limits.fuel, self.limits.timeout, self.limits.max_memory
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
        if isinstance(self.wasi, WasiOptions):
            self._dirs = self.wasi.dir_pairs()  # fail early on a missing directory
        elif self.wasi is not None:
            from .wasi import WasiOptions as WorldWasiOptions

            if not isinstance(self.wasi, WorldWasiOptions):
                raise SnapshotError(f"wasi must be None, True, False or WasiOptions, not {self.wasi!r}")

    # ------------------------------------------------------------------ engine, store, linker

    def _engine(self):
        wasmtime = require_wasmtime()
        fuel = self.limits.fuel is not None
        if self.limits.timeout is not None:
            # a private engine: its epoch is ticked by this run's timer only
            return wasmtime.Engine(make_config(fuel=fuel, epoch=True))
        return shared_engine(fuel=True) if fuel else shared_engine()

    def _store(self, eng, output: _Output | None):
        wasmtime = require_wasmtime()
        store = wasmtime.Store(eng)
        if self.limits.fuel is not None:
            store.set_fuel(_UNLIMITED_FUEL)  # the init budget is set just before the module's code runs
        if self.limits.timeout is not None:
            store.set_epoch_deadline(_FAR_EPOCH)
        if self.limits.max_memory is not None:
            # wasmtime takes an i64: a larger cap is no cap (and must not wrap around to a small one)
            store.set_limits(memory_size=min(self.limits.max_memory, _MAX_MEMORY_LIMIT))
        if self.wasi is not None and not isinstance(self.wasi, WasiOptions):
            # the World's WasiOptions (wasmweld.WasiOptions): its grants, as it states them
            from .wasi import make_wasi_config

            try:
                store.set_wasi(make_wasi_config(self.wasi))
            except WasmError as e:
                raise SnapshotError(str(e)) from None
        elif self.wasi is not None:
            cfg = wasmtime.WasiConfig()
            cfg.argv = list(self.wasi.args)
            if self.wasi.env:
                cfg.env = [(str(k), str(v)) for k, v in self.wasi.env.items()]
            for host, guest in self._dirs:
                cfg.preopen_dir(host, guest)
            if self.wasi.inherit_stdio:
                cfg.inherit_stdin()
                cfg.inherit_stdout()
                cfg.inherit_stderr()
            else:
                assert output is not None
                cfg.stdin_file = output.stdin
                cfg.stdout_file = output.stdout
                cfg.stderr_file = output.stderr
            store.set_wasi(cfg)
        return store

    def _linker(self, eng, store, module):
        wasmtime = require_wasmtime()
        linker = wasmtime.Linker(eng)
        if self.wasi is not None:
            linker.define_wasi()
        for imp in module.imports:
            ty = imp.type
            if isinstance(ty, wasmtime.FuncType):
                continue
            tag_type = getattr(wasmtime, "TagType", None)
            if tag_type is not None and isinstance(ty, tag_type):
                # a fresh tag: exceptions thrown and caught inside init work the same
                linker.define(store, imp.module, imp.name, wasmtime.Tag(store, ty))
                continue
            raise SnapshotError(
                f"cannot snapshot a module that imports {imp.module}.{imp.name} ({type(ty).__name__}): "
                "its state lives outside the module"
            )
        # any function import still undefined traps when called ("unknown import")
        linker.define_unknown_imports_as_traps(module)
        return linker

    # ------------------------------------------------------------------ errors

    def _backtrace_from_frames(self, frames, probes: Probes) -> list[str]:
        lines = []
        for i, fr in enumerate(frames):
            try:
                idx = fr.func_index
                off = fr.module_offset
            except Exception:  # pragma: no cover - defensive: frame data unavailable
                continue
            lines.append(self._frame_line(i, idx, off, probes))
        return lines

    def _frame_line(self, i: int, func: int | None, offset: int | None, probes: Probes) -> str:
        span = self._span(offset, probes)
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

    @staticmethod
    def _span(offset: int | None, probes: Probes):
        if offset is None or not probes.code_spans:
            return None
        spans = probes.code_spans
        k = bisect_right([s.start for s in spans], offset) - 1
        if k < 0 or offset >= spans[k].end:
            return None
        return spans[k]

    def _translate(self, exc: BaseException, what: str, probes: Probes, store, instance, output) -> InitError:
        """Turn a wasmtime failure while running ``what`` into an :class:`InitError`."""
        wasmtime = require_wasmtime()
        tail = output.tail() if output is not None else ""
        if isinstance(exc, wasmtime.ExitTrap):
            return InitError(f"{what} called WASI proc_exit({exc.code}); a snapshot needs it to return", "exit",
                             output=tail)
        if isinstance(exc, wasmtime.Trap):
            code = exc.trap_code
            frames = self._backtrace_from_frames(exc.frames, probes)
            if code == wasmtime.TrapCode.OUT_OF_FUEL:
                return InitError(f"{what} ran out of fuel after {self.limits.fuel} units "
                                 "(raise --fuel, or check it for an endless loop)", "fuel", frames, tail)
            if code == wasmtime.TrapCode.INTERRUPT:
                return InitError(f"{what} did not finish within the {self.limits.timeout:g} s deadline "
                                 "(raise --timeout, or check it for an endless loop)", "timeout", frames, tail)
            hit = self._grow_guard_hit(store, instance, probes)
            if hit is not None:
                mem, delta, size = hit
                return InitError(
                    f"{what} tried to grow memory {mem} by {delta} pages (from {size} pages, "
                    f"{size * 65536} bytes) past the memory cap of {self.limits.max_memory} bytes (--max-memory)",
                    "memory", frames, tail)
            message = exc.message.strip() if hasattr(exc, "message") else str(exc)
            message = _trap_reason(message)
            return InitError(f"{what} trapped: {message}", "trap", frames, tail)
        text = str(exc)
        frames = []
        for line in text.splitlines():
            m = _BT_LINE_RE.match(line)
            if m:
                frames.append(int(m.group(2), 16))
        bt = [self._frame_line(i, None, off, probes) for i, off in enumerate(frames)]
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

    def _grow_guard_hit(self, store, instance, probes: Probes):
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

    # ------------------------------------------------------------------ reading state

    def _table_state(self, store, exports, probes: Probes) -> list[tuple[int, object]]:
        """Per table: its size and its contents (function identities, or the count of non-null elements)."""
        states = []
        for tp in probes.tables:
            table = exports[tp.export]
            n = table.size(store)
            if tp.nonnull_counter is not None:
                states.append((n, exports[tp.nonnull_counter](store)))
            else:
                states.append((n, [_ref_identity(table.get(store, i)) for i in range(n)]))
        return states

    def _ref_globals(self, store, exports, probes: Probes) -> dict[int, Any]:
        """Per reference global: None if null, else its identity (functions) or ``"non-null"``."""
        out = {}
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

    def _numeric_globals(self, store, exports, probes: Probes) -> dict[int, Any]:
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

    # ------------------------------------------------------------------ the run

    def run_init(self, wasm: bytes, init_func: str, export_names: Probes) -> Snapshot:
        try:
            return self._run_init(wasm, init_func, export_names)
        except WasmError as exc:
            # drop the frames (also those of the wasmtime error it replaced) that hold the store and
            # engine, so they are freed now rather than at interpreter exit
            exc.__context__ = None
            raise exc.with_traceback(None) from None

    def _run_init(self, wasm: bytes, init_func: str, probes: Probes) -> Snapshot:
        wasmtime = require_wasmtime()
        eng = self._engine()
        try:
            module = wasmtime.Module(eng, bytes(wasm))
        except wasmtime.WasmtimeError as exc:
            raise SnapshotError(f"the instrumented module does not compile: {_one_line(str(exc))}") from None
        output = _Output() if (isinstance(self.wasi, WasiOptions) and not self.wasi.inherit_stdio) else None
        try:
            return self._run(wasmtime, eng, module, init_func, probes, output)
        finally:
            if output is not None:
                output.close()

    def _run(self, wasmtime, eng, module, init_func: str, probes: Probes, output: _Output | None) -> Snapshot:
        store = self._store(eng, output)
        linker = self._linker(eng, store, module)
        timer = None
        instance = None
        t0 = time.perf_counter()
        try:
            try:
                instance = linker.instantiate(store, module)
            except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                raise self._instantiate_error(exc, probes, store, output) from None
            exports = instance.exports(store)
            try:
                func = exports[init_func]
            except KeyError:
                raise SnapshotError(f"the module has no export named {init_func!r}") from None
            if not isinstance(func, wasmtime.Func):
                raise SnapshotError(f"export {init_func!r} is not a function")
            tables_before = self._table_state(store, exports, probes)
            refs_before = self._ref_globals(store, exports, probes)
            numeric_before = self._numeric_globals(store, exports, probes)
            # the bounds apply to the module's own code from here on (start, _initialize, init), not to probes
            if self.limits.fuel is not None:
                store.set_fuel(self.limits.fuel)
            fuel_before = self.limits.fuel
            if self.limits.timeout is not None:
                store.set_epoch_deadline(1)
                timer = threading.Timer(self.limits.timeout, eng.increment_epoch)
                timer.daemon = True
                timer.start()
            t0 = time.perf_counter()
            if probes.start is not None:
                try:
                    exports[probes.start](store)
                except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                    raise self._translate(exc, "the start function", probes, store, instance, output) from None
            if probes.reactor_init is not None:
                try:
                    exports[probes.reactor_init](store)
                except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                    raise self._translate(exc, f"the reactor initialiser {probes.reactor_init!r}", probes, store,
                                          instance, output) from None
            try:
                func(store)
            except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
                raise self._translate(exc, f"init function {init_func!r}", probes, store, instance, output) from None
        finally:
            if timer is not None:
                timer.cancel()
        init_seconds = time.perf_counter() - t0
        fuel_used = (fuel_before - store.get_fuel()) if fuel_before is not None else None
        # the probes below must not be stopped by what is left of the bounds
        if self.limits.fuel is not None:
            store.set_fuel(_UNLIMITED_FUEL)
        if self.limits.timeout is not None:
            store.set_epoch_deadline(_FAR_EPOCH)

        # tables must be exactly as instantiation left them
        tables_after = self._table_state(store, exports, probes)
        for tp, (n0, before), (n1, after) in zip(probes.tables, tables_before, tables_after):
            label = tp.label or f"table {tp.index}"
            if n0 != n1:
                raise SnapshotError(f"init function {init_func!r} changed {label}: its size went from {n0} to {n1}; "
                                    "tables cannot be snapshotted")
            if tp.nonnull_counter is not None:
                if before or after:
                    raise SnapshotError(
                        f"cannot snapshot {label}: it holds {after} non-null references after init function "
                        f"{init_func!r} (before: {before}); only tables of functions can be compared")
                continue
            for i, (a, b) in enumerate(zip(before, after)):
                if a != b:
                    raise SnapshotError(f"init function {init_func!r} changed {label} at element {i}; "
                                        "tables cannot be snapshotted")

        globals_out: list[GlobalValue] = []
        numeric_after = self._numeric_globals(store, exports, probes)
        refs_after = self._ref_globals(store, exports, probes)
        for gp in probes.globals:
            if gp.valtype == "ref":
                before, after = refs_before[gp.index], refs_after[gp.index]
                if after == before and (after is None or after != "non-null"):
                    globals_out.append(GlobalValue(gp.index, "ref", None, unchanged=True))
                elif after is None:
                    globals_out.append(GlobalValue(gp.index, "ref", None))
                else:
                    label = gp.label or f"global {gp.index}"
                    what = "a new non-null function reference" if gp.funcref else \
                        f"a non-null {gp.heap or 'reference'} reference"
                    raise SnapshotError(
                        f"cannot snapshot {label}: this mutable global holds {what} after init function "
                        f"{init_func!r}; only null references and unchanged function references can be snapshotted")
            else:
                value = numeric_after[gp.index]
                globals_out.append(GlobalValue(gp.index, gp.valtype, value,
                                               unchanged=value == numeric_before[gp.index]))

        dropped_datas = [sp.index for sp in probes.passive_datas if self._dropped(exports, store, sp.export)]
        dropped_elems = [sp.index for sp in probes.passive_elems if self._dropped(exports, store, sp.export)]

        # memories: sizes and non-zero regions
        t1 = time.perf_counter()
        sizes, buffers = [], []
        for mp in probes.memories:
            mem = exports[mp.export]
            sizes.append(mem.size(store))
            n = mem.data_len(store)
            # a view of the live memory, not a copy: the scan copies one window at a time
            buffers.append(memoryview(mem.get_buffer_ptr(store, n)).cast("B") if n else memoryview(b""))
        ranges = [segment_ranges(buf) for buf in buffers]
        try:
            ranges = limit_memories(ranges, self.limits.max_segments)
        except ValueError as e:
            raise SnapshotError(f"cannot write the snapshot in {self.limits.max_segments} data segments: {e}") from None
        memories = []
        for size, buf, rs in zip(sizes, buffers, ranges):
            view = memoryview(buf)
            memories.append(MemorySnapshot(size, [(s, bytes(view[s:e])) for s, e in rs]))
        scan_seconds = time.perf_counter() - t1
        stats = {
            "init_seconds": init_seconds,
            "scan_seconds": scan_seconds,
            "fuel_used": fuel_used,
            "memory_bytes": sum(len(b) for b in buffers),
        }
        for buf in buffers:
            buf.release()
        if output is not None:
            stats["stdout"] = output.read("stdout")
            stats["stderr"] = output.read("stderr")
        return Snapshot(globals_out, memories, dropped_datas, dropped_elems, stats)

    def _dropped(self, exports, store, name: str) -> bool:
        wasmtime = require_wasmtime()
        try:
            exports[name](store)
        except (wasmtime.Trap, wasmtime.WasmtimeError):
            return True
        return False

    def _instantiate_error(self, exc, probes: Probes, store, output) -> WasmError:
        text = _one_line(str(exc))
        if self.limits.max_memory is not None and ("memory" in text and ("limit" in text or "exceed" in text)):
            return InitError(f"instantiation needs more memory than the cap of {self.limits.max_memory} bytes "
                             f"(--max-memory): {text}", "memory")
        return self._translate(exc, "instantiation", probes, store, None, output)


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
