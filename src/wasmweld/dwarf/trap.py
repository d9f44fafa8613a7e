"""Source frames for a trap: wasmtime's frames (module offsets) through the module's DWARF.

The runtime calls :func:`remember` for each module it loads and :func:`source_backtrace` when a
call traps; a module with DWARF then gives ``file:line:column`` frames, innermost first, an
inlined call as a frame of its own::

    refund: trapped: wasm `unreachable` instruction executed
    source backtrace:
      audit_check at /src/audit.c:25:9
      quote at /src/pricing.c:18:12
      order at /src/shop.c:19:15
      refund at /src/shop.c:37:12

A wasmtime frame names its function index and its offsets in the module and in the function; the
function's body start (their difference) finds the remembered module.
"""

from __future__ import annotations

from typing import Any

from collections import OrderedDict

from ..errors import WasmError
from .addrmap import code_bodies
from .lookup import DebugInfo
from ..binary.leb import ByteData

__all__ = ["remember", "source_backtrace", "MAX_MODULES"]

#: modules with DWARF remembered at once (the oldest is forgotten first)
MAX_MODULES = 8


class _Known:
    __slots__ = ("data", "_starts", "_code", "dbg", "_n_imp")

    def __init__(self, data: ByteData):
        self.data: ByteData = data
        self._starts: dict[int, int] | None = None
        self._code: int = 0
        self._n_imp: int | None = None
        self.dbg: DebugInfo | None = None

    def position(self, func_index: int | None) -> int | None:
        """The body position of function ``func_index`` (None for an import or unknown index)."""
        if func_index is None:
            return None
        if self._n_imp is None:
            from ..module import parse  # noqa: PLC0415
            from ..types import ExternKind  # noqa: PLC0415

            self._n_imp = sum(1 for imp in parse(self.data).imports if imp.kind == ExternKind.FUNC)
        return func_index - self._n_imp if func_index >= self._n_imp else None

    @property
    def starts(self) -> dict[int, int]:
        """Absolute offset of each body's start -> its position (computed on first use)."""
        if self._starts is None:
            self._code, bodies = code_bodies(self.data)
            self._starts = {self._code + s: i for i, (s, _e) in enumerate(bodies)}
        return self._starts

    def debug_info(self) -> DebugInfo | None:
        """The module's DWARF, indexed on first use (None without a line table)."""
        if self.dbg is None and b".debug_line" in self.data:
            from ..module import parse  # noqa: PLC0415  (only when a trap is reported)

            self.dbg = DebugInfo({cs.name: bytes(cs.data) for cs in parse(self.data).customs
                                  if cs.name.startswith(".debug_")})
        return self.dbg


_known: OrderedDict[int, _Known] = OrderedDict()


def remember(wasm: ByteData | None) -> None:
    """Note ``wasm`` (module bytes, kept by reference) as loaded when it has a line table: a trap's
    frames are looked up in the most recently loaded such module whose function (by index) starts
    where the frame says."""
    if not wasm or b".debug_line" not in wasm:
        return
    key = id(wasm)
    _known.pop(key, None)
    _known[key] = _Known(wasm)
    while len(_known) > MAX_MODULES:
        _known.popitem(last=False)


def _frame_lines(fr) -> list[str]:
    module_offset, func_offset = getattr(fr, "module_offset", None), getattr(fr, "func_offset", None)
    if module_offset is None or func_offset is None:
        return []
    start = module_offset - func_offset
    for known in reversed(_known.values()):
        try:
            if known.starts.get(start, -1) != known.position(getattr(fr, "func_index", None)) or \
                    module_offset > len(known.data):
                continue
            dbg = known.debug_info()
            frames = [] if dbg is None else dbg.frames(module_offset - known._code)
        except WasmError:
            return []
        return [f"{f.function or fr.func_name or '<unnamed>'} at {f.file}" +
                (f":{f.line}" if f.line is not None else "") +
                (f":{f.column}" if f.line is not None and f.column is not None else "")
                for f in frames if f.file is not None]
    return []


def source_backtrace(trap: Any) -> str:
    """``"\\nsource backtrace:\\n  f at file:line:col ..."`` for a wasmtime trap whose frames lie in a
    remembered module with DWARF; "" otherwise."""
    if not _known:
        return ""
    try:
        frames = trap.frames or []
    except Exception:  # noqa: BLE001  (a trap without frames: nothing to add)
        return ""
    lines = [ln for fr in frames for ln in _frame_lines(fr)]
    return "\nsource backtrace:\n" + "\n".join("  " + ln for ln in lines) if lines else ""
