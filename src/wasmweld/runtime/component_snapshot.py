"""Running the init function of a component's state module in wasmtime (``wasmweld snapshot COMPONENT``).

::

    >>> from wasmweld.runtime.component_snapshot import snapshot_component
    >>> out = snapshot_component(open("app.wasm", "rb").read(), wasi=WasiOptions(preopens={"/data": "in"}))

The probe component of :func:`wasmweld.component.snapshot.probe_component` is instantiated
with WASI 0.2 when granted (else every import traps when called), then its start probe,
its init probe, the global and table probes and the memory dumps are called through
wasmtime's component API; the result goes back into the original component with
:func:`wasmweld.component.snapshot.put_back`.
"""

from __future__ import annotations

import struct
import time
from typing import Any

from wasmweld.errors import InitError, SnapshotError, WasmError
from wasmweld.runtime.engine import instantiate

__all__ = ["snapshot_component"]


_CHUNK = 16 << 20      # bytes of memory per probe call (wasmtime bounds what one host call may copy)


def _call(store, inst, name: str, what: str, *args: int):
    import wasmtime

    f = inst.get_func(store, inst.get_export_index(store, name))
    try:
        out = f(store, *args)
        f.post_return(store)
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise InitError(f"{what} failed: {'; '.join(lines[:3])}", "trap") from None
    return out


def _run(data: bytes, plan, wasi: Any):
    import wasmtime
    from wasmtime import component as wc

    from wasmweld.preinit.snapshot import GlobalValue, MemorySnapshot, Snapshot, limit_memories, segment_ranges
    from wasmweld.runtime.component import compile_component, component_engine
    from wasmweld.runtime.wasi import make_wasi_config

    engine = component_engine()
    store = wasmtime.Store(engine)
    linker = wc.Linker(engine)
    compiled = compile_component(data)
    opts = _world_wasi(wasi)
    if opts is not None:
        store.set_wasi(make_wasi_config(opts))
        linker.add_wasip2()
    else:   # nothing granted: every import traps when called (wasmtime's own would shadow WASI if added)
        linker.define_unknown_imports_as_traps(compiled)
    try:
        inst = instantiate(lambda: linker.instantiate(store, compiled))
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        raise InitError(f"instantiating the component failed: {str(e).splitlines()[0]}", "instantiate") from None
    if plan.start:
        _call(store, inst, plan.start, "the start function")
    tables_before = [(ti, name, _call(store, inst, name, "a table probe")) for ti, name, _ in plan.tables]
    t0 = time.perf_counter()
    _call(store, inst, plan.init, f"the init function {plan.instrumented.init_export.name!r}")
    init_seconds = time.perf_counter() - t0
    for ti, name, before in tables_before:
        after = _call(store, inst, name, "a table probe")
        if after != before:
            raise SnapshotError(f"the init function grew table {ti} ({before} -> {after} elements): "
                                "not supported for components")
    globals_out = []
    for gi, vt, name in plan.globals:
        v = _call(store, inst, name, "a global probe")
        if vt == "f32":
            v = struct.unpack("<I", struct.pack("<i", v))[0]
        elif vt == "f64":
            v = struct.unpack("<Q", struct.pack("<q", v))[0]
        globals_out.append(GlobalValue(gi, vt, v))
    dumps = []
    for _mi, grow, chunk in plan.memories:
        size = _call(store, inst, grow, "a memory probe") * 65536
        dumps.append(b"".join(_call(store, inst, chunk, "a memory probe", s, min(_CHUNK, size - s)).encode("latin-1")
                              for s in range(0, size, _CHUNK)))
    ranges = limit_memories([segment_ranges(d) for d in dumps])
    memories = [MemorySnapshot(len(d) // 65536, [(s, d[s:e]) for s, e in rs]) for d, rs in zip(dumps, ranges)]
    return Snapshot(globals_out, memories, [], [], {"init_seconds": init_seconds,
                                                    "memory_bytes": sum(len(d) for d in dumps)})


def snapshot_component(data: bytes, init_func: str | None = None, *, wasi: Any = None,
                       keep_init_func: bool | None = None) -> bytes:
    """Pre-initialise the component ``data``: the snapshotted component (bytes)."""
    from wasmweld.component import parse_component
    from wasmweld.component.snapshot import probe_component, put_back
    from wasmweld.runtime.component import validate_component_bytes

    comp = parse_component(data)
    try:
        probe, plan = probe_component(comp, init_func)
    except Exception as e:
        validate_component_bytes(data)     # an invalid input is blamed as such, before any refusal
        if isinstance(e, WasmError):
            raise
        raise SnapshotError(f"internal error: building the probe component failed: {e!r}") from None
    try:      # the probe holds all of the input: compiling it validates the input too (one compile less)
        validate_component_bytes(probe)
    except Exception as e:
        validate_component_bytes(data)     # an invalid input: wasmtime's message about the input itself
        raise SnapshotError(f"internal error: the probe component does not validate: {e}") from None
    snap = _run(probe, plan, wasi)
    out = put_back(comp, plan, snap, keep_init_func=keep_init_func)
    try:
        validate_component_bytes(out)
    except Exception as e:
        raise SnapshotError(f"internal error: the snapshot output does not validate: {e}") from None
    return out


def _world_wasi(wasi: Any):
    """The WasiOptions for a grant given as WasiOptions or True/False/None (True: the World's meaning)."""
    from wasmweld.runtime.wasi import WasiOptions

    return WasiOptions.coerce(wasi)
