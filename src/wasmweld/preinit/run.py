"""The default :class:`~wasmweld.preinit.probes.Runner`: wasmtime, through :mod:`wasmweld.runtime.preinit_runner`.

Stage 2 of ``wasmweld snapshot`` seen from this package: :class:`EngineRunner`
hands the instrumented module to the engine-side
:class:`~wasmweld.runtime.preinit_runner.WasmtimeRunner` with the bounds and a
``ranges`` function (which memory ranges to capture: stage 3's
:func:`~wasmweld.preinit.snapshot.capture_ranges`), and wraps the plain state
it returns into a :class:`~wasmweld.preinit.snapshot.Snapshot`. The
dependency goes one way: this package imports the runtime, never the reverse.

:func:`tables_may_change` tells the runner whether reading the tables back is
needed at all: a module whose code has no ``table.set``, ``table.grow``,
``table.fill``, ``table.copy`` or ``table.init`` cannot change a table after
instantiation (the host cannot either: imports other than WASI trap), so a
``(table 2000000 funcref)`` with an empty init costs nothing::

    (module (table 2000000 funcref) (func (export "wizer-initialize")))
    >>> tables_may_change(wasmweld.parse(wasm))
    False
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from ..binary.opcodes import BY_NAME
from ..errors import SnapshotError
from .probes import Bounds, Probes
from .snapshot import GlobalValue, MemorySnapshot, Snapshot, capture_ranges

if TYPE_CHECKING:
    from ..module import Module
    from ..runtime.preinit_runner import WasmtimeRunner
    from ..runtime.wasi import WasiOptions

__all__ = ["EngineRunner", "TABLE_CHANGING_OPS", "tables_may_change"]

#: the instructions that can change a table's size or contents
TABLE_CHANGING_OPS = ("table.set", "table.grow", "table.fill", "table.copy", "table.init")

_TABLE_OPS_RE = re.compile(b"|".join(re.escape(BY_NAME[name].opcode) for name in TABLE_CHANGING_OPS))


def tables_may_change(module: Module) -> bool:
    """False when no code body can hold a table-changing instruction (a byte-level over-approximation).

    A body whose bytes contain none of the opcodes of :data:`TABLE_CHANGING_OPS`
    anywhere (immediates included) has none of those instructions; a body that
    does might, and then the runner compares the tables.
    """
    if module.num_tables == 0:
        return False
    search = _TABLE_OPS_RE.search
    return any(search(body.raw) is not None for body in module.code)


class EngineRunner:
    """Runs the init function in wasmtime (see the module docstring); implements ``Runner``.

    ``wasi``: None or the grants; ``bounds``: fuel, deadline, memory cap,
    segment cap; ``tables_may_change``: see :func:`tables_may_change`;
    ``isolate``: run in a worker thread abandoned at the deadline (default); ``cache_dir``: keep the
    compiled instrumented module in wasmweld's artifact cache (a directory, or True: the per-user one);
    ``compiler``: ``"winch"`` or ``"cranelift"`` (default: Winch, wasmtime's fast-compiling baseline
    compiler, unless there is a cache or an ``opt_level``); ``opt_level``: Cranelift's optimisation level
    (default: chosen by the module's code size); see
    :class:`~wasmweld.runtime.preinit_runner.WasmtimeRunner`.
    """

    def __init__(self, wasi: WasiOptions | None = None, bounds: Bounds | None = None, *,
                 tables_may_change: bool = True, isolate: bool | None = None,
                 cache_dir: str | os.PathLike[str] | bool | None = None,
                 opt_level: str | None = None, compiler: str | None = None):
        from ..runtime.preinit_runner import WasmtimeRunner

        self.bounds: Bounds = bounds if bounds is not None else Bounds()
        b = self.bounds
        self.engine: WasmtimeRunner = WasmtimeRunner(wasi, fuel=b.fuel, timeout=b.timeout, max_memory=b.max_memory,
                                     isolate=isolate, tables_may_change=tables_may_change, cache_dir=cache_dir,
                                     opt_level=opt_level, compiler=compiler)

    def run_init(self, wasm: bytes, init_func: str, export_names: Probes) -> Snapshot:
        """Run ``init_func`` of the instrumented ``wasm`` and return the state it left."""
        max_segments = self.bounds.max_segments

        def ranges(buffers):
            try:
                return capture_ranges(buffers, max_segments)
            except ValueError as e:
                raise SnapshotError(f"cannot write the snapshot in {max_segments} data segments: {e}") from None

        state = self.engine.run(wasm, init_func, export_names, ranges)
        return Snapshot(
            [GlobalValue(*g) for g in state.globals],
            [MemorySnapshot(size, segs) for size, segs in state.memories],
            state.dropped_datas,
            state.dropped_elems,
            state.stats,
        )
