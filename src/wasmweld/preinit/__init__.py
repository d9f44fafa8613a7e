"""Pre-initialisation (``wasmweld snapshot``): run a module's init function once, ship the result.

A module whose start-up work is the same every time (building tables, parsing
a config, booting an interpreter) can do it at build time. :func:`snapshot`
instantiates the module in wasmtime, calls its init function
(``wizer-initialize``, or ``wizer.initialize`` when that is absent, as Wizer;
a WASI reactor's ``_initialize`` export runs first and is not exported
afterwards, also as Wizer),
records every global and every memory, and returns a module that starts in that
state: the init work is gone from the start-up path::

    (module
      (memory 1)
      (global $ready (mut i32) (i32.const 0))
      (func (export "wizer-initialize")
        (i32.store (i32.const 64) (i32.const 42))
        (global.set $ready (i32.const 1)))
      (func (export "answer") (result i32) (i32.load (i32.const 64))))

    >>> out = wasmweld.preinit.snapshot(wasm)
    >>> # out: $ready starts at 1, (data (i32.const 64) "\\2a"), no "wizer-initialize" export

Four stages with plain data between them, the engine behind a small interface:

1. :mod:`~wasmweld.preinit.instrument` checks the module (no imported
   memories/globals/tables, no shared memories) and exports every memory and
   mutable global under private names;
2. a :class:`~wasmweld.preinit.probes.Runner` (default:
   :class:`~wasmweld.preinit.run.EngineRunner`, which drives
   :class:`wasmweld.runtime.preinit_runner.WasmtimeRunner`) runs the start
   and init functions, bounded (by default) by a wall-clock deadline for the
   whole run and a memory cap, optionally by fuel, with WASI only if asked for, and refuses a changed table or a
   reference global holding a new non-null value;
3. :mod:`~wasmweld.preinit.snapshot` holds the result: globals, memory sizes,
   non-zero memory regions as data segments (merged across gaps of up to 4
   zero bytes, at most 10,000 segments by default: Wizer's rule);
4. :mod:`~wasmweld.preinit.rewrite` writes it into the input module.

The returned module has been validated by wasmtime. Pass ``report`` (a
callable) to receive a :class:`SnapshotReport`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from ..record import field, record
from typing import TYPE_CHECKING

from ..errors import SnapshotError, WasmError
from .instrument import DEFAULT_INIT_FUNCS, instrument
from .rewrite import rewrite_bytes
from ..runtime.wasi import OutputTail, Preopen, WasiOptions
from .probes import DEFAULT_MAX_MEMORY, DEFAULT_TIMEOUT, Bounds, InitError, Runner
from .run import EngineRunner, tables_may_change
from .snapshot import MAX_SEGMENTS, MERGE_GAP, GlobalValue, MemorySnapshot, Snapshot

if TYPE_CHECKING:
    from ..module import Module

__all__ = [
    "snapshot",
    "snapshot_bytes",
    "SnapshotReport",
    "WasiOptions",
    "Preopen",
    "OutputTail",
    "Bounds",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_MEMORY",
    "InitError",
    "Runner",
    "EngineRunner",
    "Snapshot",
    "MemorySnapshot",
    "GlobalValue",
    "MAX_SEGMENTS",
    "MERGE_GAP",
    "DEFAULT_INIT_FUNCS",
]


@record
class SnapshotReport:
    """What a snapshot did; ``str(report)`` is the text the CLI prints."""

    init_func: str
    input_size: int
    output_size: int
    captured_bytes: int
    segments: int
    globals_set: int
    mutable_globals: int
    memory_pages: list[tuple[int, int]] = field(default_factory=list)  # (before, after) minimum per memory
    dropped_datas: int = 0
    dropped_elems: int = 0
    init_seconds: float = 0.0
    total_seconds: float = 0.0
    fuel_used: int | None = None
    memory_bytes: int = 0
    ran_first: list[str] = field(default_factory=list)  # "start function", "'_initialize'": ran before init
    #: seconds per stage: ``compile``, ``instrument`` (parse, validate, instrument), ``init`` (instantiate,
    #: start, init), ``capture`` (read the state back), ``rewrite`` (rewrite, encode), ``write`` (validate
    #: the output; the CLI adds writing the files)
    times: dict[str, float] = field(default_factory=dict)
    timeout: float | None = None  # the bounds the run had (None: lifted)
    max_memory: int | None = None
    #: Cranelift's optimisation level the instrumented module was compiled with (None: Winch, or another runner)
    opt_level: str | None = None
    #: the compiler of the instrumented module: ``"winch"`` or ``"cranelift"`` (None: another runner)
    compiler: str | None = None

    def lines(self) -> list[str]:
        ratio = self.output_size / self.input_size if self.input_size else 0.0
        first = f" (after {' and '.join(self.ran_first)})" if self.ran_first else ""
        out = [
            f"init function: {self.init_func!r}{first} ran in {self.init_seconds * 1000:.1f} ms"
            + (f", {self.fuel_used} fuel" if self.fuel_used is not None else ""),
            f"memory captured: {self.captured_bytes} bytes of {self.memory_bytes} in {self.segments} data segments",
            f"globals set: {self.globals_set} of {self.mutable_globals} mutable",
        ]
        for i, (before, after) in enumerate(self.memory_pages):
            if before != after:
                out.append(f"memory {i}: minimum {before} -> {after} pages")
        if self.dropped_datas or self.dropped_elems:
            out.append(f"segments dropped by init: {self.dropped_datas} data, {self.dropped_elems} elem")
        out.append(f"size: {self.input_size} -> {self.output_size} bytes ({ratio:.2f}x)")
        parts = ", ".join(f"{k} {v * 1000:.1f}" for k, v in self.times.items())
        out.append(f"total time: {self.total_seconds * 1000:.1f} ms" + (f" ({parts} ms)" if parts else ""))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _as_bytes(module_or_bytes) -> bytes:
    from ..module import Module

    if isinstance(module_or_bytes, Module):
        return module_or_bytes.encode()
    if isinstance(module_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(module_or_bytes)
        from ..runtime.engine import looks_like_wat, wat2wasm

        return wat2wasm(data) if looks_like_wat(data) else data
    if isinstance(module_or_bytes, (str, os.PathLike)):
        from ..runtime.engine import load_bytes

        return load_bytes(module_or_bytes)
    raise TypeError(f"snapshot() takes a Module, bytes or a path, not {type(module_or_bytes).__name__}")


def _check_options(max_segments, rename_funcs, init_func) -> None:
    if isinstance(max_segments, bool) or not isinstance(max_segments, int) or max_segments < 1:
        raise SnapshotError(f"max_segments must be a whole number, at least 1, not {max_segments!r}")
    if rename_funcs is not None and (not isinstance(rename_funcs, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in rename_funcs.items())):
        raise SnapshotError(f"rename_funcs must map new export names to existing ones (str -> str), "
                            f"not {rename_funcs!r}")
    if init_func is not None and not isinstance(init_func, str):
        raise SnapshotError(f"init_func must be an export name (a str), not {init_func!r}")


#: inputs at least this large are validated in a second thread while they are instrumented
VALIDATE_MEANWHILE_BYTES = 256 << 10


def _validate_meanwhile(data: bytes) -> Callable[[], None]:
    """Start validating ``data`` with wasmtime; the returned function waits and raises its ValidationError.

    wasmtime's validator runs in C with the GIL released (ctypes), so for a large module it runs
    on the second core while this thread instruments; a small one is validated here and now.
    """
    from ..runtime.engine import validate_bytes

    if len(data) < VALIDATE_MEANWHILE_BYTES:
        validate_bytes(data)
        return lambda: None
    from ..background import Background

    return Background(validate_bytes, data, name="wasmweld-validate").join


def _wasi_options(wasi) -> WasiOptions | None:
    """``True``: WASI with nothing granted and the output captured (its tail shown if init fails)."""
    if wasi is True:
        return WasiOptions(stdin=None, stdout=OutputTail(), stderr=OutputTail())
    if wasi is False or wasi is None:
        return None
    return wasi  # anything else is checked by the runner


def _make_report(init_name, data, out, snap, memories, inst, times, t0) -> SnapshotReport:
    return SnapshotReport(
        init_func=init_name,
        input_size=len(data),
        output_size=len(out),
        captured_bytes=snap.captured_bytes,
        segments=snap.segment_count,
        globals_set=sum(1 for g in snap.globals if not g.unchanged),
        mutable_globals=len(snap.globals),
        memory_pages=[(mt.limits.min, ms.size_pages) for mt, ms in zip(memories, snap.memories)],
        dropped_datas=len(snap.dropped_datas),
        dropped_elems=len(snap.dropped_elems),
        init_seconds=snap.stats.get("init_seconds", 0.0),
        total_seconds=time.perf_counter() - t0,
        fuel_used=snap.stats.get("fuel_used"),
        memory_bytes=snap.stats.get("memory_bytes", 0),
        ran_first=(["the start function"] if inst.probes.start else [])
        + ([repr(inst.probes.reactor_init)] if inst.probes.reactor_init else []),
        times=times,
        opt_level=snap.stats.get("opt_level"),
        compiler=snap.stats.get("compiler"),
    )


def snapshot_bytes(
    module_or_bytes: Module | bytes | bytearray | memoryview | str | os.PathLike[str],
    init_func: str | None = None,
    *,
    keep_init_func: bool = False,
    rename_funcs: Mapping[str, str] | None = None,
    wasi: WasiOptions | bool | None = None,
    fuel: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    max_segments: int = MAX_SEGMENTS,
    report: Callable[[SnapshotReport], object] | None = None,
    runner: Runner | None = None,
    cache_dir: str | os.PathLike[str] | bool | None = None,
    compiler: str | None = None,
) -> bytes:
    """:func:`snapshot`, returning the encoded output module."""
    from ..module import parse
    from ..runtime.engine import validate_bytes

    t0 = time.perf_counter()
    data = _as_bytes(module_or_bytes)
    module = parse(data)  # malformed input: wasmweld's DecodeError with its offset
    # validated (errors point into the input, not into our instrumented copy) while it is instrumented
    validated = _validate_meanwhile(data)
    try:
        _check_options(max_segments, rename_funcs, init_func)
        wasi = _wasi_options(wasi)
        # the memory.grow guard (which names the cap when it stops init) costs decoding every body that may
        # hold memory.grow: only for a cap asked for; past the default cap a memory.grow just fails (-1)
        inst = instrument(module, init_func, guard_memory_growth=max_memory not in (None, DEFAULT_MAX_MEMORY))
    except BaseException:
        validated()  # an invalid input is reported as such, whatever instrumenting it ran into
        raise
    validated()
    init_name = inst.init_export.name
    if runner is None:
        runner = EngineRunner(wasi, Bounds(fuel, timeout, max_memory, max_segments),
                              tables_may_change=tables_may_change(module), cache_dir=cache_dir,
                              compiler=compiler)
    t1 = time.perf_counter()
    snap = runner.run_init(inst.wasm, init_name, inst.probes)
    t2 = time.perf_counter()
    ran = (inst.probes.reactor_init,) if inst.probes.reactor_init else ()
    memories = list(module.memories)  # as in the input, for the report
    # the rewrite edits our own parse of the input when it still encodes as the input: what was
    # decoded already (code, data segments, ...) is not decoded again
    out = rewrite_bytes(module if inst.input_unchanged else parse(data), snap, init_export_name=init_name, keep_init_func=keep_init_func,
                        rename_funcs=rename_funcs, ran_exports=ran)
    t3 = time.perf_counter()
    try:
        validate_bytes(out)
    except WasmError as e:  # a bug in the rewriter: say so plainly
        raise SnapshotError(f"internal error: the snapshot output does not validate: {e}") from None
    if report is not None:
        st = snap.stats
        compile_s = st.get("compile_seconds", 0.0)
        init_s = st.get("instantiate_seconds", 0.0) + st.get("init_seconds", 0.0)
        times = {"compile": compile_s, "instrument": t1 - t0, "init": init_s,
                 "capture": max(t2 - t1 - compile_s - init_s, 0.0), "rewrite": t3 - t2,
                 "write": time.perf_counter() - t3}
        rep = _make_report(init_name, data, out, snap, memories, inst, times, t0)
        rep.timeout, rep.max_memory = timeout, max_memory
        report(rep)
    return out


def snapshot(
    module_or_bytes: Module | bytes | bytearray | memoryview | str | os.PathLike[str],
    init_func: str | None = None,
    *,
    keep_init_func: bool = False,
    rename_funcs: Mapping[str, str] | None = None,
    wasi: WasiOptions | bool | None = None,
    fuel: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
    max_segments: int = MAX_SEGMENTS,
    report: Callable[[SnapshotReport], object] | bool | None = None,
    runner: Runner | None = None,
    cache_dir: str | os.PathLike[str] | bool | None = None,
    compiler: str | None = None,
) -> Module:
    """Pre-initialise a module: run its init function and return a Module that starts in the resulting state.

    ``module_or_bytes``: a :class:`~wasmweld.module.Module`, binary or text
    bytes, or a path. ``init_func``: the export to run (default
    ``"wizer-initialize"``, falling back to ``"wizer.initialize"``); it must
    be ``[] -> []``. ``keep_init_func``: keep its export in the output.
    ``rename_funcs``: ``{dst: src}`` export renames applied afterwards.
    ``wasi``: None (off: any import call traps), True (WASI with nothing
    granted, output captured) or :class:`WasiOptions` (the World's class:
    preopens, env, streams, used as given; directories are read-only only
    with ``Preopen(..., writable=False)``; an ``OutputTail`` stream keeps the
    last 4 KiB, shown when init fails). ``fuel`` (units), ``timeout``
    (seconds of wall clock for the whole run, default
    :data:`DEFAULT_TIMEOUT`), ``max_memory`` (bytes per memory, and
    ``max_memory // 8`` elements per table, default
    :data:`DEFAULT_MAX_MEMORY`) bound the run; ``None`` lifts a bound.
    ``max_segments`` caps the data segments written.
    ``report``: a callable receiving the :class:`SnapshotReport`, or True to
    print it to stderr. ``runner``: another :class:`Runner` implementation.
    ``cache_dir``: keep the compiled (instrumented) module in wasmweld's
    compiled-artifact cache, a private directory (``True``: the per-user
    ``~/.cache/wasmweld/artifacts``), so that snapshotting the same module
    again does not compile it again; off by default. ``compiler``: ``"winch"`` (the default without a
    cache: wasmtime's baseline compiler compiles several times faster, the init code runs once; a module
    it cannot compile goes to Cranelift) or ``"cranelift"`` (optimised code: for an init that computes
    for long).

    Raises :class:`~wasmweld.errors.SnapshotError` for what cannot be
    snapshotted (naming the memory/global/table/import) and
    :class:`InitError` (a SnapshotError and an ExecutionError) when the init
    function traps, exits, or exceeds a bound.
    """
    from ..module import parse

    if report is True:
        def report(r: SnapshotReport) -> None:
            print(str(r), file=sys.stderr)
    elif report is False:
        report = None
    out = snapshot_bytes(module_or_bytes, init_func, keep_init_func=keep_init_func, rename_funcs=rename_funcs,
                         wasi=wasi, fuel=fuel, timeout=timeout, max_memory=max_memory,
                         max_segments=max_segments, report=report, runner=runner, cache_dir=cache_dir,
                         compiler=compiler)
    return parse(out)
