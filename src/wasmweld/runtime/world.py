"""The run-time World: many modules, one process, imports resolved by name.

A :class:`World` owns one wasmtime engine and store. Each module added to it
becomes its own instance (a "swarm" of shared-nothing instances); an import
``(import "bank" "transfer" ...)`` is satisfied by the export ``transfer`` of
the module added under the name ``bank``, by a host function, or by WASI::

    ;; ledger.wat                              ;; bank.wat
    (module                                    (module
      (func (export "credit")                    (import "ledger" "credit"
        (param i32 i32) (result i32) ...))         (func $credit (param i32 i32) (result i32)))
                                                 (func (export "transfer") ...))

    world = World()
    world.add("bank", "bank.wat")        # waits: nothing named "ledger" yet
    world.add("ledger", "ledger.wat")    # ledger is instantiated, then bank
    world.invoke("bank", "transfer", 1, 2, 50)

Modules may be added in any order; a module is instantiated as soon as every
import can be satisfied. Modules that import each other in a cycle are all
instantiated by routing the cyclic calls through a generated funcref-table
trampoline (:mod:`wasmweld.runtime.trampoline`): calls stay Wasm-to-Wasm.

``world.dlopen(path)`` loads a shared-everything side module (``dylink.0``)
into the memory and table of a main module (:mod:`wasmweld.runtime.dylink_loader`);
a module without ``dylink.0`` is simply added. With ``cache_dir`` compiled
code is kept on disk (:mod:`wasmweld.runtime.cache`).

Every failure is a :class:`wasmweld.errors.WasmError` naming the module and the
import or export involved; a failed ``add`` leaves the World as it was.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import wasmtime

from wasmweld.errors import CacheError, DecodeError, ExecutionError, LinkError, WasmError
from wasmweld.runtime.cache import ArtifactCache, compile_module, engine_settings, is_artifact, load_artifact, make_engine
from wasmweld.runtime.engine import looks_like_wat, wat2wasm
from wasmweld.runtime.wasi import WASI_MODULES, WasiOptions, make_wasi_config

__all__ = ["World", "WasiOptions", "Function", "Memory", "Global", "Table", "Handle", "ProcExit", "parse_functype"]


class ProcExit(ExecutionError):
    """A WASI guest called ``proc_exit(code)``; ``code`` is its exit status."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------------------
# types


_VALTYPES = {
    "i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64, "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64, "funcref": wasmtime.ValType.funcref, "externref": wasmtime.ValType.externref,
}


def _valtype(t: Any) -> wasmtime.ValType:
    if isinstance(t, wasmtime.ValType):
        return t
    name = str(t).strip()
    ctor = _VALTYPES.get(name)
    if ctor is None:
        raise LinkError(f"unsupported value type {name!r} for a host function (use i32, i64, f32, f64, funcref, externref)")
    return ctor()


def parse_functype(ty: Any) -> wasmtime.FuncType:
    """Accept a function type in any of the forms the World's API takes.

    - ``wasmweld.types.FuncType((I32, I32), (I64,))``
    - ``(["i32", "i32"], ["i64"])`` (two sequences of names or types)
    - ``"i32 i32 -> i64"``, ``"(i32, i32) -> (i64)"``, ``"[i32 i32] -> [i64]"``, ``"-> i32"``
    - a ``wasmtime.FuncType``
    """
    if isinstance(ty, wasmtime.FuncType):
        return ty
    if hasattr(ty, "params") and hasattr(ty, "results"):
        params, results = ty.params, ty.results
    elif isinstance(ty, str):
        if "->" not in ty:
            raise LinkError(f"function type {ty!r} needs '->' between params and results")
        left, right = ty.split("->", 1)
        params = re.findall(r"[a-z0-9]+", left)
        results = re.findall(r"[a-z0-9]+", right)
    elif isinstance(ty, (tuple, list)) and len(ty) == 2:
        params, results = ty
    else:
        raise LinkError(f"cannot read a function type from {ty!r}")
    return wasmtime.FuncType([_valtype(p) for p in params], [_valtype(r) for r in results])


def _kind(t) -> str:
    if isinstance(t, wasmtime.FuncType):
        return "func"
    if isinstance(t, wasmtime.GlobalType):
        return "global"
    if isinstance(t, wasmtime.MemoryType):
        return "memory"
    if isinstance(t, wasmtime.TableType):
        return "table"
    return "tag"


def _fmt_type(t) -> str:
    k = _kind(t)
    if k == "func":
        return f"func ({', '.join(map(str, t.params))}) -> ({', '.join(map(str, t.results))})"
    if k == "global":
        return f"global {'(mut ' + str(t.content) + ')' if t.mutable else str(t.content)}"
    if k == "memory":
        lim = t.limits
        return f"memory {lim.min}{'' if lim.max is None else '..' + str(lim.max)}{' i64' if t.is_64 else ''}"
    if k == "table":
        lim = t.limits
        return f"table {t.element} {lim.min}{'' if lim.max is None else '..' + str(lim.max)}"
    return "tag"


def _extern_type(store, ext):
    if isinstance(ext, (wasmtime.Func, wasmtime.Global, wasmtime.Memory, wasmtime.Table)):
        return ext.type(store)
    return None


def _simple(ts) -> bool:
    return all(str(t) in _VALTYPES or str(t) == "v128" for t in ts)


def _type_mismatch(imp_ty, exp_ty) -> str | None:
    """Why an export of type ``exp_ty`` cannot satisfy an import of ``imp_ty`` (None: fine or for wasmtime to judge)."""
    if exp_ty is None:
        return None
    ki, ke = _kind(imp_ty), _kind(exp_ty)
    if ki != ke:
        return f"it is a {ke}, the import wants a {ki}"
    if ki == "func":
        ip, ir = [str(x) for x in imp_ty.params], [str(x) for x in imp_ty.results]
        ep, er = [str(x) for x in exp_ty.params], [str(x) for x in exp_ty.results]
        if (ip, ir) != (ep, er) and _simple(imp_ty.params) and _simple(imp_ty.results) \
                and _simple(exp_ty.params) and _simple(exp_ty.results):
            return f"it has type {_fmt_type(exp_ty)}, the import wants {_fmt_type(imp_ty)}"
        return None
    if ki == "global":
        if imp_ty.mutable != exp_ty.mutable:
            return f"it is {_fmt_type(exp_ty)}, the import wants {_fmt_type(imp_ty)}"
        if str(imp_ty.content) != str(exp_ty.content) and (imp_ty.mutable or _simple([imp_ty.content])):
            return f"it is {_fmt_type(exp_ty)}, the import wants {_fmt_type(imp_ty)}"
        return None
    return None


_MAX_FUEL = (1 << 64) - 1  # wasmtime's fuel is a u64 (a larger int would wrap around)


def _check_fuel(fuel: Any) -> int:
    if isinstance(fuel, bool) or not isinstance(fuel, int) or not 0 <= fuel <= _MAX_FUEL:
        raise ExecutionError(f"fuel must be a whole number from 0 to {_MAX_FUEL}, not {fuel!r}")
    return fuel


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(e).__name__
    # wasmtime puts the cause after "Caused by:"; keep the most specific bits
    if "Caused by:" in lines:
        i = lines.index("Caused by:")
        cause = "; ".join(re.sub(r"^\d+:\s*", "", ln) for ln in lines[i + 1:])
        return f"{lines[0]}: {cause}" if cause else lines[0]
    return lines[0]


def _trap_text(message: str) -> str:
    """The reason of a wasmtime trap message, on one line (the backtrace is dropped)."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    if "Caused by:" in lines:
        causes = [re.sub(r"^\d+:\s*", "", ln) for ln in lines[lines.index("Caused by:") + 1:]]
        if causes:
            main = re.sub(r"^wasm trap:\s*", "", causes[-1])
            return main + (f" ({'; '.join(causes[:-1])})" if len(causes) > 1 else "")
    if lines and lines[0].startswith("error while executing"):
        rest = [ln for ln in lines[1:] if not re.match(r"^\d+:\s+0x", ln)]
        return "; ".join(rest) or "trap"
    return lines[0] if lines else "trap"


def _exec_error(e: BaseException, what: str) -> ExecutionError:
    if isinstance(e, wasmtime.ExitTrap):
        return ProcExit(f"{what}: exited with status {e.code}", e.code)
    if isinstance(e, wasmtime.Trap):
        msg = _trap_text(e.message or "")
        code = getattr(e, "trap_code", None)
        if code is not None and getattr(code, "name", "") == "OUT_OF_FUEL":
            return ExecutionError(f"{what}: ran out of fuel")
        if "uninitialized element" in msg or (code is not None and getattr(code, "name", "") == "INDIRECT_CALL_TO_NULL"):
            msg += " (a call through an unfilled trampoline slot or table entry: the callee is not loaded yet)"
        return ExecutionError(f"{what}: trapped: {msg}")
    return ExecutionError(f"{what}: {_first_line(e)}")


# ----------------------------------------------------------------------------------------
# wrappers handed to users


_INT_RANGES = {"i32": (-(1 << 31), 1 << 32), "i64": (-(1 << 63), 1 << 64)}


class Function:
    """A Wasm (or host) function bound to the World's store: call it like a Python function.

    Returns None, one value, or a tuple for several results. Traps raise
    :class:`ExecutionError` naming ``module.name``.
    """

    __slots__ = ("_func", "_store", "name", "_ty", "_ranges")

    def __init__(self, func: wasmtime.Func, store, name: str):
        self._func = func
        self._store = store
        self.name = name
        self._ty = None
        self._ranges = None

    def _check_ints(self, args) -> None:
        """wasmtime wraps an out-of-range int around silently: refuse it instead (i32 also takes 0..2**32-1)."""
        ranges = self._ranges
        if ranges is None:
            ranges = self._ranges = [_INT_RANGES.get(p) for p in self.params]
        for i, (a, r) in enumerate(zip(args, ranges)):
            if r is not None and type(a) is int and not r[0] <= a < r[1]:
                raise ExecutionError(f"{self.name}: argument {i} ({a}) does not fit in {self.params[i]}")

    @property
    def type(self) -> wasmtime.FuncType:
        if self._ty is None:
            self._ty = self._func.type(self._store)
        return self._ty

    @property
    def params(self) -> list[str]:
        return [str(t) for t in self.type.params]

    @property
    def results(self) -> list[str]:
        return [str(t) for t in self.type.results]

    @property
    def raw(self) -> wasmtime.Func:
        """The underlying ``wasmtime.Func``."""
        return self._func

    def __call__(self, *args):
        self._check_ints(args)
        try:
            r = self._func(self._store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            if isinstance(e, wasmtime.WasmtimeError) and "parameters provided" in str(e):
                raise ExecutionError(f"{self.name} takes {len(self.type.params)} arguments "
                                     f"({', '.join(self.params)}), got {len(args)}") from None
            raise _exec_error(e, self.name) from None
        except TypeError as e:
            raise ExecutionError(f"{self.name}: bad argument for ({', '.join(self.params)}): {e}") from None
        if isinstance(r, list):
            return tuple(r)
        return r

    def __repr__(self) -> str:
        return f"<Function {self.name} {_fmt_type(self.type)}>"


class Memory:
    """A linear memory: read and write bytes (bounds-checked; errors are ExecutionError)."""

    __slots__ = ("_mem", "_store", "name")

    PAGE = 65536

    def __init__(self, mem: wasmtime.Memory, store, name: str):
        self._mem = mem
        self._store = store
        self.name = name

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
            raise ExecutionError(f"memory {self.name}: cannot grow by {pages} pages: {_first_line(e)}") from None

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

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.size)
            if step != 1:
                raise ExecutionError("memory slices must be contiguous")
            return self.read(start, max(0, stop - start))
        return self.read(key, 1)[0]

    def __setitem__(self, key, value) -> None:
        if isinstance(key, slice):
            start = key.start or 0
            self.write(start, value)
        else:
            self.write(key, bytes([value]))

    def __repr__(self) -> str:
        return f"<Memory {self.name} {self.pages} pages>"


class Global:
    """A global: ``.value`` reads it, ``.set(v)`` writes a mutable one."""

    __slots__ = ("_g", "_store", "name")

    def __init__(self, g: wasmtime.Global, store, name: str):
        self._g = g
        self._store = store
        self.name = name

    @property
    def raw(self) -> wasmtime.Global:
        return self._g

    @property
    def value(self):
        return self._g.value(self._store)

    @property
    def mutable(self) -> bool:
        return self._g.type(self._store).mutable

    def set(self, v) -> None:
        try:
            self._g.set_value(self._store, v)
        except (wasmtime.WasmtimeError, TypeError) as e:
            raise ExecutionError(f"global {self.name}: cannot set {v!r}: {_first_line(e)}") from None

    def __repr__(self) -> str:
        return f"<Global {self.name} = {self.value!r}>"


class Table:
    """A table: ``len()``, ``[i]`` (a Function or None for funcref tables), ``grow``."""

    __slots__ = ("_t", "_store", "name")

    def __init__(self, t: wasmtime.Table, store, name: str):
        self._t = t
        self._store = store
        self.name = name

    @property
    def raw(self) -> wasmtime.Table:
        return self._t

    def __len__(self) -> int:
        return self._t.size(self._store)

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise ExecutionError(f"table {self.name}: index {i} out of bounds (size {len(self)})")
        v = self._t.get(self._store, i)
        if isinstance(v, wasmtime.Func):
            return Function(v, self._store, f"{self.name}[{i}]")
        if isinstance(v, wasmtime.Val):
            return None
        return v

    def grow(self, n: int, init=None) -> int:
        try:
            return self._t.grow(self._store, n, init)
        except wasmtime.WasmtimeError as e:
            raise ExecutionError(f"table {self.name}: cannot grow by {n}: {_first_line(e)}") from None


# ----------------------------------------------------------------------------------------
# world entries


@dataclass(eq=False)
class _Import:
    module: str
    name: str
    type: Any

    @property
    def label(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class _Entry:
    name: str
    module: wasmtime.Module
    wasm: bytes | None
    imports: list[_Import]
    export_types: dict[str, Any]
    index: int = -1
    instance: wasmtime.Instance | None = None
    exports: dict[str, Any] | None = None  # name -> extern, once instantiated
    bound: list[Any] | None = None  # externs the imports were bound to
    kind: str = "module"  # "module" | "side" (dylink) | "trampoline"
    export_all: bool = False
    scan: Any = None
    meta: dict = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.instance is not None


class Handle:
    """What :meth:`World.add` / :meth:`World.dlopen` return: a module of the World by name.

    ``sym(name)`` gives a callable :class:`Function` for a function export, or,
    for a side module, the absolute address of a data symbol (an ``int``).
    """

    def __init__(self, world: "World", name: str):
        self.world = world
        self.name = name

    @property
    def ready(self) -> bool:
        e = self.world._entries.get(self.name)
        return bool(e and e.ready)

    def sym(self, name: str):
        return self.world.get_fn(self.name, name)

    def exports(self) -> dict[str, Any]:
        return self.world.exports(self.name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}{'' if self.ready else ' (pending)'}>"


@dataclass
class _Host:
    module: str
    name: str
    func: wasmtime.Func
    type: wasmtime.FuncType


_WAIT = "wait"
_DEP = "dep"
_OK = "ok"


class World:
    """Many Wasm modules in one store, linked by name. See the module docstring.

    ``wasi``: False, True (inherit stdio, nothing else) or :class:`WasiOptions`.
    ``cache_dir``: directory of compiled artifacts (None: compile every time).
    ``fuel``: instructions budget for everything run in this World (None: unlimited).
    ``stub_missing``: satisfy imports nothing else provides with stubs that trap when called.
    """

    def __init__(self, *, wasi: bool | WasiOptions = False, cache_dir: str | os.PathLike | None = None,
                 fuel: int | None = None, stub_missing: bool = False, features: dict[str, bool] | None = None,
                 dl_stack_size: int = 1 << 20):
        self.settings = engine_settings(fuel=fuel is not None, **(features or {}))
        self.engine = make_engine(self.settings)
        self.store = wasmtime.Store(self.engine)
        if fuel is not None:
            self.store.set_fuel(_check_fuel(fuel))
        self.cache = ArtifactCache(os.fspath(cache_dir), self.engine, self.settings) if cache_dir is not None else None
        self.wasi_options = WasiOptions.coerce(wasi)
        self._linker: wasmtime.Linker | None = None
        if self.wasi_options is not None:
            self._linker = wasmtime.Linker(self.engine)
            self._linker.define_wasi()
            self.store.set_wasi(make_wasi_config(self.wasi_options, ["main"]))
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self._hosts: dict[tuple[str, str], _Host] = {}
        self._stubs: dict[tuple[str, str | None], str] = {}
        self._stub_cache: dict[tuple, Any] = {}
        self.stub_missing = stub_missing
        self._wasi_cache: dict[str, Any] = {}
        self._dl = None  # DynamicLinker, created by the first dlopen of a side module
        self.dl_stack_size = dl_stack_size
        self._trampolines: list = []
        self._late_fills: dict[str, list] = {}
        self._wat_cache: dict[str, wasmtime.Module] = {}
        self._anon = 0

    # -- construction helpers ---------------------------------------------------------------
    @classmethod
    def from_manifest(cls, manifest, **overrides) -> "World":
        """Build a World from a :class:`wasmweld.manifest.WorldManifest` (or a path to one) and add its modules."""
        from wasmweld.manifest import WorldManifest, load_manifest

        if not isinstance(manifest, WorldManifest):
            manifest = load_manifest(manifest)
        kw = dict(wasi=manifest.wasi if manifest.wasi is not None else False,
                  cache_dir=manifest.cache_dir, fuel=manifest.fuel, stub_missing=manifest.stub_missing)
        kw.update(overrides)
        world = cls(**kw)
        for stub in manifest.stubs:
            world.stub(stub.module, stub.name, action=stub.action)
        for spec in manifest.modules:
            world.add(spec.name, spec.path)
        return world

    # -- sources ----------------------------------------------------------------------------
    def _compile_wat(self, text: str, name: str) -> wasmtime.Module:
        mod = self._wat_cache.get(text)
        if mod is None:
            mod = self._compile_bytes(wat2wasm(text), name)
            self._wat_cache[text] = mod
        return mod

    def _compile_bytes(self, wasm: bytes, name: str) -> wasmtime.Module:
        if self.cache is not None:
            return self.cache.load_or_compile(wasm, name)
        return compile_module(self.engine, wasm, name)

    def _read_source(self, source: Any, name: str) -> tuple[bytes | None, wasmtime.Module | None, str | None]:
        """-> (wasm bytes or None, precompiled module or None, path or None)."""
        if isinstance(source, wasmtime.Module):
            return None, source, None
        if hasattr(source, "encode") and not isinstance(source, str):
            try:
                data = source.encode()
            except WasmError:
                raise
            except Exception as e:  # a foreign object whose encode failed
                raise LinkError(f"module {name!r}: cannot encode the given module object: {e}") from None
            return self._bytes_or_text(bytes(data), name), None, None
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if is_artifact(data):
                raise LinkError(f"module {name!r}: compiled artifacts (.cwasm) must be given as a file path")
            return self._bytes_or_text(data, name), None, None
        if isinstance(source, str) and looks_like_wat(source[:4096].encode("utf-8", "replace")):
            return self._bytes_or_text(source.encode("utf-8"), name), None, None
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if is_artifact(path):
                return None, load_artifact(path, self.engine, self.settings), path
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise LinkError(f"module {name!r}: cannot read {path}: {e.strerror or e}") from None
            if data[:4] == b"\x7fELF":  # wasmtime's serialized code without the trailer is_artifact looks for
                raise CacheError(f"compiled artifact {path}: truncated or damaged (machine code without the "
                                 "wasmweld trailer); compile it again with wasmweld compile")
            return self._bytes_or_text(data, name), None, path
        raise LinkError(f"module {name!r}: unsupported source type {type(source).__name__} "
                        "(give a path, bytes, WAT text or a Module)")

    def _bytes_or_text(self, data: bytes, name: str) -> bytes:
        if data[:4] == b"\0asm":
            return data
        if not looks_like_wat(data):
            raise DecodeError(f"module {name!r}: neither a WebAssembly binary (no \\0asm magic) nor WAT text", 0)
        try:
            return wat2wasm(data)
        except DecodeError as e:
            raise DecodeError(f"module {name!r}: {e.message}", e.offset, e.context) from None

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise LinkError(f"module name must be a non-empty string, not {name!r}")
        if name in self._entries:
            raise LinkError(f"a module named {name!r} is already in the World")
        if any(m == name for (m, _n) in self._hosts):
            raise LinkError(f"{name!r} is already a host namespace (define_host); pick another module name")

    # -- public API -----------------------------------------------------------------------
    @property
    def modules(self) -> list[str]:
        """Names of the World's modules, in the order they were added."""
        return list(self._order)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def add(self, name: str, source: Any, *, export_all: bool = False) -> Handle:
        """Add a module under ``name``; instantiate it (and whatever waited for it) when possible.

        ``source``: a path (``.wasm``, ``.wat`` or a compiled ``.cwasm``), bytes, WAT text, or
        an object with ``.encode()`` (a ``wasmweld.Module``). ``export_all`` additionally
        exports every function so that :meth:`get_fn_idx` reaches non-exported ones.
        A module with a ``dylink.0`` section is loaded like :meth:`dlopen` does.
        A component is hosted by :mod:`wasmweld.runtime.component_world` (returns its handle).
        """
        from wasmweld.runtime.component_world import component_source, components_of
        if component_source(source):
            return components_of(self).add(name, source)
        self._check_name(name)
        wasm, module, path = self._read_source(source, name)
        if wasm is not None:
            from wasmweld.custom.dylink import find_dylink

            try:
                dl = find_dylink(wasm)
            except DecodeError as e:
                raise DecodeError(f"module {name!r}: {e.message}", e.offset, e.context) from None
            if dl is not None:
                return self._dl_load(name, wasm, dl, path)
            if export_all:
                from wasmweld.runtime.dylink_loader import export_all_funcs

                wasm = export_all_funcs(wasm)
        if module is None:
            module = self._compile_bytes(wasm, name)
        entry = _Entry(name, module, wasm, [_Import(i.module, i.name or "", i.type) for i in module.imports],
                       {e.name: e.type for e in module.exports}, export_all=export_all)
        self._admit(entry)
        return Handle(self, name)

    def _admit(self, entry: _Entry) -> None:
        # 1. the new module's own imports must not be wrong (a missing provider is fine: it waits)
        for imp in entry.imports:
            self._lookup(entry, imp)
        # 2. modules already waiting for this name must find what they import, and so must the
        #    trampoline slots of a cycle whose member of this name failed earlier
        for _tramp, _i, export, ty in self._late_fills.get(entry.name, ()):
            ety = entry.export_types.get(export)
            why = "it has no such export" if ety is None else _type_mismatch(ty, ety)
            if why:
                raise LinkError(f"module {entry.name!r} cannot take the place of the earlier {entry.name!r} in an "
                                f"import cycle: {entry.name}.{export} is called through a trampoline, but {why}")
        for other in self._entries.values():
            if other.ready:
                continue
            for imp in other.imports:
                if imp.module == entry.name:
                    self._check_against_entry(other, imp, entry, adding=True)
        entry.index = len(self._order)
        self._entries[entry.name] = entry
        self._order.append(entry.name)
        try:
            self._settle(new=entry.name)
        except WasmError:
            # the new module (and only it) goes if linking it failed before it got an instance
            if entry.name in self._entries and not self._entries[entry.name].ready:
                self._drop(entry.name)
            raise

    def _drop(self, name: str) -> None:
        self._entries.pop(name, None)
        if name in self._order:
            self._order.remove(name)
        for i, n in enumerate(self._order):
            self._entries[n].index = i

    def remove(self, name: str) -> None:
        """Forget a module that is still waiting for imports (instantiated ones stay)."""
        e = self._entries.get(name)
        if e is None:
            raise LinkError(f"no module named {name!r} in the World")
        if e.ready:
            raise LinkError(f"module {name!r} is instantiated; instances cannot be removed")
        self._drop(name)

    def define_host(self, module: str, name: str, fn: Callable, type: Any, *, access_caller: bool = False) -> None:
        """Provide ``module.name`` as a host function ``fn`` of type ``type``.

        ``type``: ``"i32 i32 -> i32"``, ``(["i32"], [])``, a ``wasmweld.types.FuncType`` or a
        ``wasmtime.FuncType``. Modules importing it with another type are refused with
        a LinkError. Waiting modules are instantiated if this was what they missed.
        """
        if module in self._entries:
            raise LinkError(f"cannot define host function {module}.{name}: a module named {module!r} is in the World")
        if (module, name) in self._hosts:
            raise LinkError(f"host function {module}.{name} is already defined")
        if not callable(fn):
            raise LinkError(f"host function {module}.{name}: {fn!r} is not callable")
        ft = parse_functype(type)
        label = f"{module}.{name}"
        results = [str(t) for t in ft.results]
        wrapped = _wrap_host(fn, label, results)
        func = wasmtime.Func(self.store, ft, wrapped, access_caller=access_caller)
        host = _Host(module, name, func, ft)
        # modules waiting for it must agree on the type
        for e in self._entries.values():
            if e.ready:
                continue
            for imp in e.imports:
                if imp.module == module and imp.name == name:
                    why = _type_mismatch(imp.type, ft)
                    if why:
                        raise LinkError(f"module {e.name!r} imports {label} as {_fmt_type(imp.type)}, "
                                        f"but the host function {label} has type {_fmt_type(ft)}")
        self._hosts[(module, name)] = host
        self._settle()

    def stub(self, module: str, name: str | None = None, *, action: str = "trap") -> None:
        """Satisfy ``module.name`` (all of ``module`` when name is None) with a stub.

        Functions: ``action="trap"`` traps with a message naming the import when called,
        ``"zero"`` returns zeros. Globals get 0, memories and tables are created empty.
        """
        if action not in ("trap", "zero"):
            raise LinkError(f"stub action must be 'trap' or 'zero', not {action!r}")
        self._stubs[(module, name)] = action
        self._settle()

    # -- resolution ----------------------------------------------------------------------
    def _check_against_entry(self, importer: _Entry, imp: _Import, target: _Entry, adding: bool = False):
        ety = target.export_types.get(imp.name)
        if ety is None:
            have = sorted(n for n, t in target.export_types.items() if _kind(t) == _kind(imp.type))
            hint = f"; its {_kind(imp.type)} exports: {', '.join(have[:8])}{' ...' if len(have) > 8 else ''}" if have else ""
            raise LinkError(f"module {importer.name!r} imports {imp.label} ({_fmt_type(imp.type)}), "
                            f"but module {target.name!r} has no export {imp.name!r}{hint}")
        why = _type_mismatch(imp.type, ety)
        if why:
            raise LinkError(f"module {importer.name!r} imports {imp.label}, but {target.name}.{imp.name} "
                            f"does not fit: {why}")
        return ety

    def _wasi_extern(self, name: str):
        ext = self._wasi_cache.get(name)
        if ext is None:
            try:
                ext = self._linker.get(self.store, "wasi_snapshot_preview1", name)
            except wasmtime.WasmtimeError:
                return None
            self._wasi_cache[name] = ext
        return ext

    def _stub_action(self, imp: _Import) -> str | None:
        act = self._stubs.get((imp.module, imp.name)) or self._stubs.get((imp.module, None))
        if act is None and self.stub_missing:
            act = "trap"
        return act

    def _make_stub(self, importer: str, imp: _Import, action: str):
        key = (importer, imp.module, imp.name, _fmt_type(imp.type), action)
        ext = self._stub_cache.get(key)
        if ext is None:
            ext = self._stub_cache[key] = self._new_stub(importer, imp, action)
        return ext

    def _new_stub(self, importer: str, imp: _Import, action: str):
        k = _kind(imp.type)
        if k == "func":
            label = imp.label
            nres = len(imp.type.results)
            zeros = [0.0 if str(t) in ("f32", "f64") else (None if "ref" in str(t) else 0) for t in imp.type.results]

            if action == "trap":
                def stub_fn(*_args):
                    raise ExecutionError(f"stubbed import {label} (of module {importer!r}) was called")
            else:
                def stub_fn(*_args):
                    return None if nres == 0 else (zeros[0] if nres == 1 else list(zeros))
            return wasmtime.Func(self.store, imp.type, stub_fn)
        if k == "global":
            t = str(imp.type.content)
            v = 0.0 if t in ("f32", "f64") else (None if "ref" in t else 0)
            return wasmtime.Global(self.store, imp.type, v)
        if k == "memory":
            return wasmtime.Memory(self.store, imp.type)
        if k == "table":
            return wasmtime.Table(self.store, imp.type, None)
        raise LinkError(f"module {importer!r}: cannot stub {imp.label} (a tag)")

    def _lookup(self, entry: _Entry, imp: _Import):
        """-> (_OK, extern) | (_DEP, entry) | (_WAIT, reason). Raises LinkError when it can never work."""
        target = self._entries.get(imp.module)
        if target is not None:
            self._check_against_entry(entry, imp, target)
            if target.ready:
                return _OK, target.exports[imp.name]
            return _DEP, target
        host = self._hosts.get((imp.module, imp.name))
        if host is not None:
            why = _type_mismatch(imp.type, host.type)
            if why:
                raise LinkError(f"module {entry.name!r} imports {imp.label} as {_fmt_type(imp.type)}, "
                                f"but the host function {imp.label} has type {_fmt_type(host.type)}")
            return _OK, host.func
        if imp.module in WASI_MODULES and self._linker is not None:
            ext = self._wasi_extern(imp.name)
            if ext is None:
                raise LinkError(f"module {entry.name!r} imports {imp.label}, which WASI preview 1 does not provide")
            why = _type_mismatch(imp.type, _extern_type(self.store, ext))
            if why:
                raise LinkError(f"module {entry.name!r} imports {imp.label}, but WASI's {imp.name} does not fit: {why}")
            return _OK, ext
        action = self._stub_action(imp)
        if action is not None:
            return _OK, self._make_stub(entry.name, imp, action)
        return _WAIT, self._why_missing(imp)

    def _why_missing(self, imp: _Import) -> str:
        if imp.module in WASI_MODULES:
            return (f"{imp.label}: WASI is not enabled (World(wasi=True)) and no module named "
                    f"{imp.module!r} was added")
        if any(m == imp.module for (m, _n) in self._hosts):
            return f"{imp.label}: host namespace {imp.module!r} has no function {imp.name!r}"
        return f"{imp.label}: no module named {imp.module!r} has been added and no host function {imp.label} is defined"

    def _instantiate(self, entry: _Entry, externs: list) -> None:
        try:
            inst = wasmtime.Instance(self.store, entry.module, externs)
        except wasmtime.Trap as e:
            raise _exec_error(e, f"instantiating module {entry.name!r} (start function)") from None
        except wasmtime.WasmtimeError as e:
            if isinstance(e, wasmtime.ExitTrap):
                raise _exec_error(e, f"instantiating module {entry.name!r}") from None
            raise LinkError(f"cannot instantiate module {entry.name!r}: {_first_line(e)}") from None
        entry.instance = inst
        entry.bound = list(externs)
        entry.exports = dict(inst.exports(self.store))
        for tramp, i, export, _ty in self._late_fills.pop(entry.name, ()):
            tramp.fill(i, entry.exports[export])

    def _settle(self, new: str | None = None) -> None:
        while True:
            progressed = False
            for name in list(self._order):
                e = self._entries.get(name)
                if e is None or e.ready or e.kind != "module":
                    continue
                res = [self._lookup(e, imp) for imp in e.imports]
                if all(r[0] == _OK for r in res):
                    try:
                        self._instantiate(e, [r[1] for r in res])
                    except WasmError:
                        self._drop(e.name)
                        raise
                    progressed = True
            if progressed:
                continue
            if not self._break_one_cycle():
                return

    # -- cycles ---------------------------------------------------------------------------
    def _break_one_cycle(self) -> bool:
        pending = [self._entries[n] for n in self._order if not self._entries[n].ready
                   and self._entries[n].kind == "module"]
        if not pending:
            return False
        deps: dict[str, set[str]] = {}
        blocked: set[str] = set()
        for e in pending:
            d = set()
            for imp in e.imports:
                kind, v = self._lookup(e, imp)
                if kind == _DEP:
                    d.add(v.name)
                elif kind == _WAIT:
                    blocked.add(e.name)
            deps[e.name] = d
        cand = {e.name for e in pending if e.name not in blocked}
        changed = True
        while changed:
            changed = False
            for n in list(cand):
                if any(d not in cand for d in deps[n]):
                    cand.discard(n)
                    changed = True
        if not cand:
            return False
        order = [n for n in self._order if n in cand]
        for scc in _tarjan(order, {n: deps[n] & cand for n in order}):
            if len(scc) > 1 or scc[0] in deps[scc[0]]:
                self._instantiate_cycle(scc)
                return True
        return False

    def _instantiate_cycle(self, scc: list[str]) -> None:
        from wasmweld.runtime.trampoline import Trampoline, TrampolineSpec

        members = [self._entries[n] for n in self._order if n in scc]
        names = {e.name for e in members}
        # order: providers of non-function imports first
        hard: dict[str, set[str]] = {e.name: set() for e in members}
        for e in members:
            for imp in e.imports:
                if imp.module in names and _kind(imp.type) != "func":
                    hard[e.name].add(imp.module)
        order: list[_Entry] = []
        placed: set[str] = set()
        while len(order) < len(members):
            nxt = next((e for e in members if e.name not in placed and hard[e.name] <= placed), None)
            if nxt is None:
                rest = [e.name for e in members if e.name not in placed]
                raise LinkError("modules " + ", ".join(repr(n) for n in rest) + " import memories, tables, globals "
                                "or tags from each other in a cycle; only function imports can be routed "
                                "through a trampoline")
            if nxt.name in hard[nxt.name]:
                raise LinkError(f"module {nxt.name!r} imports a non-function item from itself")
            order.append(nxt)
            placed.add(nxt.name)
        pos = {e.name: i for i, e in enumerate(order)}
        spec = TrampolineSpec()
        slot_of: dict[tuple[str, int], int] = {}
        fills: dict[str, list[tuple[int, str]]] = {}
        for e in order:
            for k, imp in enumerate(e.imports):
                if imp.module in names and pos[imp.module] >= pos[e.name]:
                    ft = imp.type
                    i = spec.add([str(t) for t in ft.params], [str(t) for t in ft.results],
                                 f"{e.name} -> {imp.label}")
                    slot_of[(e.name, k)] = i
                    fills.setdefault(imp.module, []).append((i, imp.name))
        tramp = Trampoline(self, spec)
        self._trampolines.append(tramp)
        for e in order:
            externs = []
            for k, imp in enumerate(e.imports):
                if (e.name, k) in slot_of:
                    externs.append(tramp.func(slot_of[(e.name, k)]))
                else:
                    kind, v = self._lookup(e, imp)
                    if kind != _OK:  # provider earlier in the order is ready by now
                        raise LinkError(f"internal: {e.name} import {imp.label} unresolved in cycle")
                    externs.append(v)
            try:
                self._instantiate(e, externs)
            except WasmError:
                self._drop(e.name)
                # modules of the cycle already instantiated call the rest through slots that stay
                # empty until a module of that name is instantiated (a re-added one fills them)
                for later in order[order.index(e):]:
                    for i, export in fills.get(later.name, ()):
                        self._late_fills.setdefault(later.name, []).append(
                            (tramp, i, export, later.export_types[export]))
                raise
            for i, export in fills.get(e.name, ()):
                tramp.fill(i, e.exports[export])

    # -- access -----------------------------------------------------------------------------
    def _ready_entry(self, module: str | int) -> _Entry:
        if isinstance(module, int) and not isinstance(module, bool):
            if not 0 <= module < len(self._order):
                raise LinkError(f"no module with index {module} (the World has {len(self._order)})")
            module = self._order[module]
        e = self._entries.get(module)
        if e is None:
            known = ", ".join(repr(n) for n in self._order) or "none"
            raise LinkError(f"no module named {module!r} in the World (modules: {known})")
        if not e.ready:
            missing = self.pending.get(e.name) or ["(waiting for a module in an unresolved cycle)"]
            more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
            raise LinkError(f"module {e.name!r} is not instantiated: unresolved imports: "
                            + "; ".join(missing[:5]) + more)
        return e

    @property
    def pending(self) -> dict[str, list[str]]:
        """Modules still waiting, each with the reasons (one per unresolved import)."""
        out: dict[str, list[str]] = {}
        for n in self._order:
            e = self._entries[n]
            if e.ready:
                continue
            reasons = []
            for imp in e.imports:
                try:
                    kind, v = self._lookup(e, imp)
                except LinkError as err:
                    reasons.append(str(err))
                    continue
                if kind == _WAIT:
                    reasons.append(v)
                elif kind == _DEP:
                    reasons.append(f"{imp.label}: module {v.name!r} is itself waiting")
            out[n] = reasons
        return out

    def link(self) -> None:
        """Raise LinkError if any module is still waiting for imports (naming each and what it lacks)."""
        pend = self.pending
        if pend:
            parts = [f"module {n!r}: " + "; ".join(r[:3]) for n, r in pend.items()]
            raise LinkError("unsatisfied imports: " + " | ".join(parts))

    def _wrap(self, ext, label: str):
        if isinstance(ext, wasmtime.Func):
            return Function(ext, self.store, label)
        if isinstance(ext, wasmtime.Memory):
            return Memory(ext, self.store, label)
        if isinstance(ext, wasmtime.Global):
            return Global(ext, self.store, label)
        if isinstance(ext, wasmtime.Table):
            return Table(ext, self.store, label)
        return ext

    def get_fn(self, module: str | int, name: str) -> Function:
        """The exported function ``module.name`` as a callable."""
        e = self._ready_entry(module)
        ext = e.exports.get(name)
        if ext is None:
            funcs = sorted(n for n, x in e.exports.items() if isinstance(x, wasmtime.Func))
            hint = f" (its functions: {', '.join(funcs[:10])}{' ...' if len(funcs) > 10 else ''})" if funcs else ""
            raise LinkError(f"module {e.name!r} has no export {name!r}{hint}")
        if not isinstance(ext, wasmtime.Func):
            raise LinkError(f"{e.name}.{name} is a {type(ext).__name__.lower()}, not a function")
        return Function(ext, self.store, f"{e.name}.{name}")

    def invoke(self, module: str | int, name: str, *args):
        """Call ``module.name(*args)`` (a component: ``name`` is ``"f"`` or ``"pkg:ns/iface@v#f"``)."""
        components = getattr(self, "_components", None)
        if components is not None and module in components.components:
            return components.invoke(module, name, *args)
        return self.get_fn(module, name)(*args)

    def get_fn_idx(self, module_idx: int | str, func_idx: int) -> Function:
        """Function number ``func_idx`` (in the module's function index space) of module ``module_idx``.

        ``module_idx`` is the position in add order (or a name). Imported functions
        give what the import was bound to; defined functions must be exported
        (add the module with ``export_all=True`` to reach all of them).
        """
        e = self._ready_entry(module_idx)
        nimp = sum(1 for imp in e.imports if _kind(imp.type) == "func")
        if func_idx < 0:
            raise LinkError(f"module {e.name!r}: function index {func_idx} is negative")
        if func_idx < nimp:
            k = [i for i, imp in enumerate(e.imports) if _kind(imp.type) == "func"][func_idx]
            return Function(e.bound[k], self.store, f"{e.name}.func[{func_idx}] (import {e.imports[k].label})")
        if e.wasm is None:
            raise LinkError(f"module {e.name!r} was loaded precompiled; function indices are not available")
        if e.scan is None:
            from wasmweld.runtime.dylink_loader import scan_module

            e.scan = scan_module(e.wasm)
        total = nimp + e.scan.num_defined_funcs
        if func_idx >= total:
            raise LinkError(f"module {e.name!r} has {total} functions; index {func_idx} is out of range")
        for ex in e.scan.exports:
            if ex.kind == 0 and ex.index == func_idx:
                return Function(e.exports[ex.name], self.store, f"{e.name}.func[{func_idx}] ({ex.name})")
        raise LinkError(f"function {func_idx} of module {e.name!r} is not exported; "
                        f"add the module with export_all=True to call it by index")

    def exports(self, module: str | int) -> dict[str, Any]:
        """All exports of a module: Function, Memory, Global or Table wrappers by export name."""
        e = self._ready_entry(module)
        return {n: self._wrap(x, f"{e.name}.{n}") for n, x in e.exports.items()}

    def memory(self, module: str | int, name: str | None = None) -> Memory:
        """The memory of a module (its first exported memory, else the one it imports)."""
        e = self._ready_entry(module)
        if name is not None:
            ext = e.exports.get(name)
            if not isinstance(ext, wasmtime.Memory):
                raise LinkError(f"module {e.name!r} has no exported memory {name!r}")
            return Memory(ext, self.store, f"{e.name}.{name}")
        for n, x in e.exports.items():
            if isinstance(x, wasmtime.Memory):
                return Memory(x, self.store, f"{e.name}.{n}")
        for imp, x in zip(e.imports, e.bound or ()):
            if isinstance(x, wasmtime.Memory):
                return Memory(x, self.store, f"{e.name} (imported {imp.label})")
        raise LinkError(f"module {e.name!r} has no memory (neither exported nor imported)")

    def instance(self, module: str | int) -> wasmtime.Instance:
        """The underlying ``wasmtime.Instance`` (for uses the wrappers do not cover)."""
        return self._ready_entry(module).instance

    # -- fuel / WASI ----------------------------------------------------------------------
    @property
    def fuel(self) -> int | None:
        """Fuel left (None when the World was made without ``fuel``)."""
        if not self.settings["fuel"]:
            return None
        return self.store.get_fuel()

    def set_fuel(self, fuel: int) -> None:
        if not self.settings["fuel"]:
            raise ExecutionError("this World was created without fuel metering (World(fuel=...))")
        self.store.set_fuel(_check_fuel(fuel))

    def run_command(self, module: str | int, argv: Iterable[str] | None = None) -> int:
        """Run a WASI command module (its ``_start``); return the exit status."""
        e = self._ready_entry(module)
        if argv is not None:
            if self.wasi_options is None:
                raise LinkError("run_command(argv=...) needs a World with WASI enabled")
            self.store.set_wasi(make_wasi_config(self.wasi_options.with_argv(argv)))
        start = e.exports.get("_start")
        if not isinstance(start, wasmtime.Func):
            raise LinkError(f"module {e.name!r} is not a WASI command: it has no _start function export")
        try:
            start(self.store)
        except wasmtime.ExitTrap as x:
            return x.code
        except (wasmtime.Trap, wasmtime.WasmtimeError) as x:
            raise _exec_error(x, f"{e.name}._start") from None
        return 0

    # -- dynamic linking ------------------------------------------------------------------
    def dlopen(self, source: Any, name: str | None = None, *, main: str | None = None,
               allow_undefined: bool = False) -> Handle:
        """Load a module at run time and return a handle with ``.sym(name)``.

        A side module (``dylink.0``) is placed into the main module's memory and
        table and linked against the main module and earlier side modules (see
        :mod:`wasmweld.runtime.dylink_loader`). ``main`` names the module that owns
        the memory/table (default: the one module exporting both ``memory`` and
        ``__indirect_function_table``; if there is none, the World provides them
        and the first loaded module is the main). ``allow_undefined`` lets function
        symbols no loaded module defines yet be bound lazily (a call before a later
        ``dlopen`` defines them traps). A module without ``dylink.0`` is added as an
        ordinary shared-nothing instance.
        """
        if name is None:
            name = self._derive_name(source)
        self._check_name(name)
        wasm, module, path = self._read_source(source, name)
        dl = None
        if wasm is not None:
            from wasmweld.custom.dylink import find_dylink

            try:
                dl = find_dylink(wasm)
            except DecodeError as e:
                raise DecodeError(f"side module {name!r}: {e.message}", e.offset, e.context) from None
        if dl is None:
            entry_source = module if module is not None else wasm
            return self.add(name, entry_source)
        return self._dl_load(name, wasm, dl, path, main=main, allow_undefined=allow_undefined)

    def _derive_name(self, source: Any) -> str:
        if isinstance(source, (str, os.PathLike)) and not str(source).lstrip().startswith("("):
            base = os.path.basename(os.fspath(source))
            for ext in (".cwasm", ".wasm", ".wat", ".so"):
                if base.endswith(ext):
                    base = base[: -len(ext)]
            name = base or "lib"
        else:
            self._anon += 1
            name = f"lib{self._anon}"
        while name in self._entries:
            self._anon += 1
            name = f"{name}.{self._anon}"
        return name

    def _dl_load(self, name: str, wasm: bytes, dl, path: str | None, *, main: str | None = None,
                 allow_undefined: bool = False):
        from wasmweld.runtime.dylink_loader import DynamicLinker

        if self._dl is None:
            self._dl = DynamicLinker.create(self, main=main)
        elif main is not None and self._dl.main_name not in (None, main):
            raise LinkError(f"dynamic linking already uses {self._dl.main_name!r} as its main module")
        return self._dl.load(name, wasm, dl, path, allow_undefined=allow_undefined)

    @property
    def dynamic_linker(self):
        """The :class:`~wasmweld.runtime.dylink_loader.DynamicLinker` (None before the first side module)."""
        return self._dl

    def _register_loaded(self, entry: _Entry) -> None:
        entry.index = len(self._order)
        self._entries[entry.name] = entry
        self._order.append(entry.name)
        self._settle()


def _wrap_host(fn: Callable, label: str, results: list[str]):
    n = len(results)
    if n == 0:
        def host(*args):
            r = fn(*args)
            if r is not None:
                raise ExecutionError(f"host function {label} returned {r!r}, but its type has no results")
            return None
    elif n == 1:
        t = results[0]
        if t in ("i32", "i64"):
            def host(*args):
                r = fn(*args)
                if isinstance(r, bool) or not isinstance(r, int):
                    raise ExecutionError(f"host function {label} returned {r!r}, but its type says {t}")
                return r
        else:
            host = fn
    else:
        def host(*args):
            r = fn(*args)
            if not isinstance(r, (tuple, list)) or len(r) != n:
                raise ExecutionError(f"host function {label} must return {n} values ({', '.join(results)}), got {r!r}")
            return list(r)
    return host


def _tarjan(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components, dependencies first (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()), key=nodes.index)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ()), key=nodes.index))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp, key=nodes.index))
    return out
