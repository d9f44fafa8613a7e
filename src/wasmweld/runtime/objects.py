"""Wrappers the World hands out: :class:`Function`, :class:`Memory`, :class:`Global`, :class:`Table`.

Each holds a wasmtime object and the store it lives in; errors are
:class:`~wasmweld.errors.ExecutionError` naming the item::

    f = world.get_fn("math", "add")      # a Function
    f(2, 3)                              # 5
    f.params                             # ['i32', 'i32'] (from the module's own type section)
    mem = world.memory("app")            # a Memory: mem.read(0, 4), mem.write(0, b"hi")
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from wasmweld.runtime.engine import require_wasmtime

from wasmweld.errors import ExecutionError
from wasmweld.runtime._linking import exec_error, first_line, fmt_type, vt_name
from wasmweld.runtime.typecheck import Unsupported

if TYPE_CHECKING:
    import wasmtime

if not TYPE_CHECKING:  # type checkers see the import above
    wasmtime = require_wasmtime()  # a WasmError with the install hint when it is missing

__all__ = ["Function", "Memory", "Global", "Table", "Handle", "INT_RANGES", "NO_LOCK"]

#: what wrappers made outside a World lock with (nothing)
NO_LOCK = contextlib.nullcontext()

INT_RANGES = {"i32": (-(1 << 31), 1 << 32), "i64": (-(1 << 63), 1 << 64)}


class Function:
    """A Wasm (or host) function bound to the World's store: call it like a Python function.

    Returns None, one value, or a tuple for several results. Traps raise
    :class:`ExecutionError` naming ``module.name``.
    """

    __slots__ = ("_func", "_store", "name", "_ty", "_ranges", "_sig", "_lock")

    def __init__(self, func: wasmtime.Func, store: wasmtime.Store, name: str, sig: Unsupported | None = None,
                 lock: Any = None) -> None:
        self._func = func
        self._store = store
        self.name: str = name
        self._ty: wasmtime.FuncType | None = None
        self._ranges: list[tuple[int, int] | None] | None = None
        self._sig = sig  # the module's own description when wasmtime-py cannot represent the type
        self._lock = lock if lock is not None else NO_LOCK

    def _check_ints(self, args) -> None:
        """wasmtime wraps an out-of-range int around silently: refuse it instead (i32 also takes 0..2**32-1)."""
        ranges = self._ranges
        if ranges is None:
            ranges = self._ranges = [INT_RANGES.get(p) for p in self.params]
        for i, (a, r) in enumerate(zip(args, ranges)):
            if r is not None and type(a) is int and not r[0] <= a < r[1]:
                raise ExecutionError(f"{self.name}: argument {i} ({a}) does not fit in {self.params[i]}")

    @property
    def type(self) -> wasmtime.FuncType:
        ty = self._ty
        if ty is None:
            ty = self._ty = self._func.type(self._store)
        return ty

    @property
    def params(self) -> list[str]:
        """Parameter types by WAT name (``externref``, ``v128``, ``(ref null 3)`` ...)."""
        if self._sig is not None:
            return list(self._sig.params)
        return [vt_name(t) for t in self.type.params]

    @property
    def results(self) -> list[str]:
        if self._sig is not None:
            return list(self._sig.results)
        return [vt_name(t) for t in self.type.results]

    @property
    def unsupported(self) -> str | None:
        """The first value type of the signature wasmtime-py cannot pass (then the function cannot be called)."""
        return self._sig.bad if self._sig is not None else None

    @property
    def raw(self) -> wasmtime.Func:
        """The underlying ``wasmtime.Func``."""
        return self._func

    def __call__(self, *args: Any) -> Any:
        if self._sig is not None:  # checked before calling: no side effect happens
            raise ExecutionError(f"{self.name} cannot be called from Python: its type {self._sig.desc} uses "
                                 f"{self._sig.bad}, which the wasmtime Python API cannot represent")
        self._check_ints(args)
        try:
            with self._lock:
                r = self._func(self._store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            if isinstance(e, wasmtime.WasmtimeError) and "parameters provided" in str(e):
                raise ExecutionError(f"{self.name} takes {len(self.type.params)} arguments "
                                     f"({', '.join(self.params)}), got {len(args)}") from None
            raise exec_error(e, self.name) from None
        except TypeError as e:
            raise ExecutionError(f"{self.name}: bad argument for ({', '.join(self.params)}): {e}") from None
        if isinstance(r, list):
            return tuple(r)
        return r

    def __repr__(self) -> str:
        return f"<Function {self.name} {fmt_type(self.type, self._sig)}>"


class Memory:
    """A linear memory: read and write bytes (bounds-checked; errors are ExecutionError)."""

    __slots__ = ("_mem", "_store", "name")

    PAGE = 65536

    def __init__(self, mem: wasmtime.Memory, store: wasmtime.Store, name: str) -> None:
        self._mem = mem
        self._store = store
        self.name: str = name

    @property
    def raw(self) -> wasmtime.Memory:
        return self._mem

    @property
    def size(self) -> int:
        """Current size in bytes."""
        return self._mem.data_len(self._store)

    def __len__(self) -> int:
        return self.size

    @property
    def pages(self) -> int:
        return self._mem.size(self._store)

    def grow(self, pages: int) -> int:
        """Grow by ``pages`` 64 KiB pages; return the old size in pages."""
        try:
            return self._mem.grow(self._store, pages)
        except wasmtime.WasmtimeError as e:
            raise ExecutionError(f"memory {self.name}: cannot grow by {pages} pages: {first_line(e)}") from None

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ExecutionError(f"memory {self.name}: access [{offset}, {offset + length}) is out of bounds "
                                 f"(size {self.size})")

    def read(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        if length == 0:
            return b""
        return bytes(self._mem.read(self._store, offset, offset + length))

    def write(self, offset: int, data: bytes) -> None:
        data = bytes(data)
        self._check(offset, len(data))
        if data:
            self._mem.write(self._store, bytearray(data), offset)

    def fill(self, offset: int, length: int, value: int = 0) -> None:
        self._check(offset, length)
        if length:
            import ctypes

            ctypes.memset(self._mem.get_buffer_ptr(self._store, length, offset), value, length)

    def read_cstr(self, offset: int, max_len: int = 1 << 20) -> str:
        """Read a NUL-terminated UTF-8 string."""
        end = min(self.size, offset + max_len)
        self._check(offset, 0)
        chunk = self.read(offset, end - offset)
        n = chunk.find(b"\0")
        if n < 0:
            raise ExecutionError(f"memory {self.name}: no NUL terminator within {max_len} bytes of {offset}")
        return chunk[:n].decode("utf-8", "replace")

    def read_u32(self, offset: int) -> int:
        return int.from_bytes(self.read(offset, 4), "little")

    def read_i32(self, offset: int) -> int:
        return int.from_bytes(self.read(offset, 4), "little", signed=True)

    def write_u32(self, offset: int, value: int) -> None:
        self.write(offset, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.size)
            if step != 1:
                raise ExecutionError("memory slices must be contiguous")
            return self.read(start, max(0, stop - start))
        return self.read(key, 1)[0]

    def __setitem__(self, key: int | slice, value: Any) -> None:
        if isinstance(key, slice):
            start = key.start or 0
            self.write(start, value)
        else:
            self.write(key, bytes([value]))

    def __repr__(self) -> str:
        return f"<Memory {self.name} {self.pages} pages>"


class Global:
    """A global: ``.value`` reads it, ``.set(v)`` writes a mutable one."""

    __slots__ = ("_g", "_store", "name", "_sig")

    def __init__(self, g: wasmtime.Global, store: wasmtime.Store, name: str, sig: Unsupported | None = None) -> None:
        self._g = g
        self._store = store
        self.name: str = name
        self._sig = sig

    def _check(self) -> None:
        if self._sig is not None:
            raise ExecutionError(f"global {self.name}: its type {self._sig.desc} uses {self._sig.bad}, which the "
                                 "wasmtime Python API cannot represent")

    @property
    def raw(self) -> wasmtime.Global:
        return self._g

    @property
    def value(self) -> Any:
        self._check()
        return self._g.value(self._store)

    @property
    def mutable(self) -> bool:
        return self._g.type(self._store).mutable

    def set(self, v: Any) -> None:
        self._check()
        try:
            self._g.set_value(self._store, v)
        except (wasmtime.WasmtimeError, TypeError) as e:
            raise ExecutionError(f"global {self.name}: cannot set {v!r}: {first_line(e)}") from None

    def __repr__(self) -> str:
        return f"<Global {self.name} = {self.value!r}>" if self._sig is None else f"<Global {self.name} {self._sig.desc}>"


class Table:
    """A table: ``len()``, ``[i]`` (a Function or None for funcref tables), ``grow``."""

    __slots__ = ("_t", "_store", "name", "_sig")

    def __init__(self, t: wasmtime.Table, store: wasmtime.Store, name: str, sig: Unsupported | None = None) -> None:
        self._t = t
        self._store = store
        self.name: str = name
        self._sig = sig

    def _check(self) -> None:
        if self._sig is not None:
            raise ExecutionError(f"table {self.name}: its type {self._sig.desc} uses {self._sig.bad}, which the "
                                 "wasmtime Python API cannot represent")

    @property
    def raw(self) -> wasmtime.Table:
        return self._t

    def __len__(self) -> int:
        return self._t.size(self._store)

    def __getitem__(self, i: int) -> Any:
        if not 0 <= i < len(self):
            raise ExecutionError(f"table {self.name}: index {i} out of bounds (size {len(self)})")
        self._check()
        v = self._t.get(self._store, i)
        if isinstance(v, wasmtime.Func):
            return Function(v, self._store, f"{self.name}[{i}]")
        if isinstance(v, wasmtime.Val):
            return None
        return v

    def grow(self, n: int, init: Any = None) -> int:
        self._check()
        try:
            return self._t.grow(self._store, n, init)
        except wasmtime.WasmtimeError as e:
            raise ExecutionError(f"table {self.name}: cannot grow by {n}: {first_line(e)}") from None


class Handle:
    """What :meth:`World.add` / :meth:`World.dlopen` return: a module of the World by name.

    ``sym(name)`` gives a callable :class:`Function` for a function export, or,
    for a side module, the absolute address of a data symbol (an ``int``).
    """

    def __init__(self, world: Any, name: str) -> None:
        self.world: Any = world   # the World (not imported here: world.py imports this module)
        self.name: str = name

    @property
    def ready(self) -> bool:
        e = self.world._entries.get(self.name)
        return bool(e and e.ready)

    def sym(self, name: str) -> Any:
        return self.world.get_fn(self.name, name)

    def exports(self) -> dict[str, Any]:
        return self.world.exports(self.name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}{'' if self.ready else ' (pending)'}>"
