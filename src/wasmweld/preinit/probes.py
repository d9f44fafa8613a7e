"""The probes and the small interface between ``wasmweld snapshot`` and the engine that runs the init function.

Stage 2 of ``wasmweld snapshot`` (instrument -> **run** -> snapshot -> rewrite).
The instrumenter hands the runner an instrumented module (bytes) and a
:class:`Probes` record naming, by private export names, everything the runner
must read back; the runner instantiates the module, calls the start function
(exported by the instrumenter, since the output has none) and then the init
function, and returns a :class:`~wasmweld.preinit.snapshot.Snapshot`. Nothing
here imports wasmtime; :class:`wasmweld.preinit.run.EngineRunner` (over
:class:`wasmweld.runtime.preinit_runner.WasmtimeRunner`) is the implementation.
:class:`Bounds` holds the bounds on a run (defaults: a 120 s deadline, 2 GiB
per memory)::

    class Runner(Protocol):
        def run_init(self, wasm: bytes, init_func: str, export_names: Probes) -> Snapshot: ...

For ``(module (memory 1) (global (mut i32) (i32.const 0)) ...)`` the probes
are ``Probes(memories=(MemoryProbe(0, "__wasmweld_snapshot:memory:0", ...),),
globals=(GlobalProbe(0, "i32", True, "__wasmweld_snapshot:global:0"),))``.

Failure while running the init function (a trap, fuel or deadline exhausted,
the memory cap reached, ``proc_exit``) raises :class:`InitError`, which is both
a :class:`~wasmweld.errors.SnapshotError` and an
:class:`~wasmweld.errors.ExecutionError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from ..record import field, record
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..errors import InitError
from .snapshot import MAX_SEGMENTS, Snapshot

__all__ = [
    "Runner",
    "Probes",
    "MemoryProbe",
    "GlobalProbe",
    "TableProbe",
    "SegmentProbe",
    "CodeSpan",
    "LazySpans",
    "Bounds",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_MEMORY",
    "InitError",
]


class MemoryProbe(NamedTuple):
    """Defined memory ``index``, exported as ``export``; ``label`` names it in messages."""

    index: int  # type: ignore[assignment]  # the field, read as such (it shadows tuple.index)
    export: str
    is64: bool = False
    shared: bool = False
    label: str = ""


class GlobalProbe(NamedTuple):
    """Mutable defined global ``index`` of type ``valtype`` (``"i32"``... ``"v128"``, ``"ref"``).

    ``export`` is an exported global (i32/i64/ref) or, when ``getter`` is True,
    an exported function with no parameters returning the bits: ``i32`` for
    f32, ``i64`` for f64, two ``i64`` (low, high) for v128. For a reference
    global, ``null_probe`` is an exported function returning
    ``ref.is_null`` of it, ``funcref`` says whether it holds functions (whose
    identity the host can compare), and ``heap`` names its heap type
    (``"func"``, ``"extern"``, ...; ``"concrete"`` for a type index).
    """

    index: int  # type: ignore[assignment]  # the field, read as such (it shadows tuple.index)
    valtype: str
    mutable: bool
    export: str
    getter: bool = False
    heap: str = ""
    label: str = ""
    null_probe: str | None = None
    funcref: bool = False


class TableProbe(NamedTuple):
    """Defined table ``index`` exported as ``export`` (compared before and after init).

    Tables of functions are compared element by element (function identity);
    for other tables ``nonnull_counter`` is an exported function returning
    how many elements are not null (their identity cannot be compared, so they
    must stay all null).
    """

    index: int  # type: ignore[assignment]  # the field, read as such (it shadows tuple.index)
    export: str
    label: str = ""
    nonnull_counter: str | None = None


class SegmentProbe(NamedTuple):
    """A passive data/elem segment and an exported function that traps iff the segment was dropped."""

    index: int  # type: ignore[assignment]  # the field, read as such (it shadows tuple.index)
    export: str


class CodeSpan(NamedTuple):
    """Where a function body sits in the instrumented module and in the input (for backtraces)."""

    func: int
    start: int  # offset of the body in the instrumented module
    end: int
    input_start: int | None  # offset of the same body in the input (None: added by the instrumenter)
    changed: bool = False  # the instrumenter rewrote instructions in it (offsets inside are approximate)


class LazySpans(Sequence[CodeSpan]):
    """The code spans, computed on first use: only a backtrace needs them, and finding every body of the
    instrumented module again costs (~45 ms for StarlingMonkey's 12,500 functions). A read-only sequence
    equal to the tuple of its spans."""

    __slots__ = ("_make", "_spans")

    def __init__(self, make: Callable[[], Iterable[CodeSpan]]):
        self._make: Callable[[], Iterable[CodeSpan]] | None = make
        self._spans: tuple[CodeSpan, ...] | None = None

    def _all(self) -> tuple[CodeSpan, ...]:
        if self._spans is None:
            make, self._make = self._make, None
            self._spans = tuple(make()) if make is not None else ()
        return self._spans

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[CodeSpan]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self._all() == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazySpans({self._all()!r})"


@record(frozen=True, slots=True)
class Probes:
    """Everything the runner reads back, by export name in the instrumented module."""

    memories: tuple[MemoryProbe, ...] = ()
    globals: tuple[GlobalProbe, ...] = ()
    tables: tuple[TableProbe, ...] = ()
    passive_datas: tuple[SegmentProbe, ...] = ()
    passive_elems: tuple[SegmentProbe, ...] = ()
    start: str | None = None  # the start function, exported: call it before init
    reactor_init: str | None = None  # the WASI reactor's `_initialize` export: called after start, before init
    grow_guard: str | None = None  # exported i32 global: 1 + the memory whose growth hit the cap
    grow_guard_delta: str | None = None  # exported i64 global: pages the failed memory.grow asked for
    func_names: Mapping[int, str] = field(default_factory=dict)
    code_spans: Sequence[CodeSpan] = ()  # a tuple, or LazySpans
    num_funcs: int = 0  # functions of the input; indices >= are the instrumenter's helpers


#: default wall-clock deadline for the whole init run (instantiation, init, reading the state back), seconds
DEFAULT_TIMEOUT = 120.0

#: default cap on each memory, in bytes (a table may hold at most this many bytes / 8 elements)
DEFAULT_MAX_MEMORY = 2 << 30


class Bounds(NamedTuple):
    """Bounds on the init run; ``None`` lifts one.

    ``fuel``: units of wasmtime fuel for the module's own code. ``timeout``:
    seconds of wall clock for the whole run: instantiation, the start and init
    functions (blocking WASI calls included) and reading the state back.
    ``max_memory``: bytes per memory; a table may hold at most
    ``max_memory // 8`` elements (a reference is 8 bytes). ``max_segments``:
    data segments written.
    """

    fuel: int | None = None
    timeout: float | None = DEFAULT_TIMEOUT
    max_memory: int | None = DEFAULT_MAX_MEMORY
    max_segments: int = MAX_SEGMENTS


@runtime_checkable
class Runner(Protocol):
    """Instantiate ``wasm``, call its start export (if any) and ``init_func``, return the state."""

    def run_init(self, wasm: bytes, init_func: str, export_names: Probes) -> Snapshot: ...
