"""Loading shared-everything side modules (``dylink.0``) into a World: a small ``ld.so``.

A side module made by ``clang -fPIC`` + ``wasm-ld --experimental-pic -shared``
(or emscripten ``SIDE_MODULE``) has no memory or table of its own. It imports
them, together with where its own part of them starts, and reaches symbols of
other modules through imported "GOT" globals::

    (module
      (@custom "dylink.0" mem_size=12 table_size=1)
      (import "env" "memory" (memory 1))
      (import "env" "__indirect_function_table" (table 1 funcref))
      (import "env" "__memory_base" (global i32))     ;; where its 12 bytes of data go
      (import "env" "__table_base" (global i32))      ;; where its 1 table slot goes
      (import "env" "__stack_pointer" (global (mut i32)))
      (import "env" "main_twice" (func (param i32) (result i32)))   ;; direct call
      (import "GOT.mem" "main_counter" (global (mut i32)))          ;; address of data
      (import "GOT.func" "main_twice" (global (mut i32)))           ;; table index of a function
      ...)

:class:`DynamicLinker` plays the part of the dynamic loader for one World:

1. The *main* module owns memory and table: either an ordinary module added
   to the World that exports ``memory`` and ``__indirect_function_table``
   (and optionally ``__stack_pointer`` and ``malloc``), or, when there is none,
   the first side module loaded (an emscripten ``MAIN_MODULE`` or ``-pie``
   executable), for which the linker creates memory, table and stack itself
   (data at 1024, then the stack, then the heap; table slot 0 stays null).
2. For each loaded library it reserves ``mem_size`` bytes (the main's
   ``malloc`` when it exports one, else fresh pages) and ``table_size`` slots
   (the table grows), zero-filled and aligned as the section asks.
3. Imports are bound: ``env.memory``/``env.__indirect_function_table``/
   ``env.__stack_pointer``/``env.__memory_base``/``env.__table_base`` as above;
   ``env.f`` to a function of the main module or an earlier library (else a
   host function, a stub, or a small emscripten runtime shim);
   ``GOT.mem.x`` to a mutable i32 global holding the address of data symbol
   ``x``; ``GOT.func.f`` to one holding a table slot that contains ``f``.
   Other import modules (``wasi_snapshot_preview1``, World modules, host
   namespaces) are resolved as for any World module.
4. After instantiation it runs ``__wasm_apply_data_relocs`` and
   ``__wasm_call_ctors`` (or ``_initialize``), then publishes the library's
   exports: functions by name and data symbols as ``__memory_base + value``.

With ``allow_undefined=True`` a function that no loaded module defines yet is
bound through a trampoline slot (see :mod:`wasmweld.runtime.trampoline`) that a
later load fills (lazy binding); otherwise it is a LinkError naming the library
and the symbol.

This module also holds :func:`scan_module`: the exports, counts and constant
global values the World needs before (or without) instantiating a module, read
through the lazy :class:`wasmweld.Module`.
"""

from __future__ import annotations

import math
import os
import time
from ..record import field, record
from typing import TYPE_CHECKING, Any

from wasmweld.runtime.engine import require_wasmtime

from wasmweld.custom.dylink import Dylink, SYMBOL_BINDING_WEAK
from wasmweld.errors import DecodeError, EditError, ExecutionError, LinkError, WasmError
from wasmweld.runtime._linking import (
    DEP, OK, Entry, ImportSlot, exec_error, first_line, fmt_type, kind_of, type_mismatch, vt_name,
)
from wasmweld.runtime.objects import Function, Global, Memory

if TYPE_CHECKING:
    import wasmtime

if not TYPE_CHECKING:  # type checkers see the import above
    wasmtime = require_wasmtime()  # a WasmError with the install hint when it is missing

__all__ = ["DynamicLinker", "DlLimits", "LibHandle", "ModuleScan", "ScanExport", "scan_module", "export_all_funcs",
           "EMSCRIPTEN_SHIMS"]

PAGE = 65536


@record(frozen=True)
class DlLimits:
    """What one side module's ``dylink.0`` may ask of the shared memory and table (``World(dl_limits=...)``).

    A 90-byte side module can claim ``table_align=31`` or ``mem_size=3 GiB``; these bounds
    refuse such requests with a LinkError before anything grows. (Defined here, not in the
    World's own modules: a World loads this module only when it needs it.)
    """

    max_mem_size: int = 1 << 30  # bytes of data + bss
    max_table_size: int = 1 << 20  # table slots
    max_mem_align: int = 16  # log2: 64 KiB
    max_table_align: int = 12  # log2: 4096 slots


# ----------------------------------------------------------------------------------------
# minimal binary scan


@record(frozen=True)
class ScanExport:
    name: str
    kind: int  # 0 func, 1 table, 2 memory, 3 global, 4 tag
    index: int


@record
class ModuleScan:
    """What :func:`scan_module` reads: exports, counts and simple global initial values."""

    exports: list[ScanExport] = field(default_factory=list)
    imported: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0, 3: 0, 4: 0})
    num_defined_funcs: int = 0
    # defined globals: (valtype name, mutable, constant value or None)
    globals: list[tuple[str, bool, Any]] = field(default_factory=list)
    has_start: bool = False

    def global_value(self, index: int) -> int | None:
        """Initial value of global ``index`` (global index space) when it is a constant, else None."""
        i = index - self.imported[3]
        if 0 <= i < len(self.globals):
            return self.globals[i][2]
        return None

    def global_info(self, index: int) -> tuple[str, bool, Any] | None:
        """``(valtype name, mutable, constant value or None)`` of defined global ``index``, else None."""
        i = index - self.imported[3]
        if 0 <= i < len(self.globals):
            return self.globals[i]
        return None


_MASK = {"i32": 0xFFFFFFFF, "i64": 0xFFFFFFFFFFFFFFFF}
_ARITH = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b}


def _const_value(expr, imported_globals: int, known: list) -> Any:
    """The value of a constant expression built from integer constants, ``global.get`` of an
    earlier defined global and extended-const arithmetic; None when it is anything else.

    Reads ``ConstExpr.instrs`` (the one decoder and opcode table), e.g.
    ``(global.get $__memory_base) (i32.const 16) (i32.add)`` -> None (an import: unknown),
    ``(i32.const 16)`` -> 16.
    """
    if expr.int_value is not None:
        return expr.int_value & _MASK[expr.instrs[0].name[:3]]
    g = expr.global_index
    if g is not None:
        j = g - imported_globals
        return known[j] if 0 <= j < len(known) else None
    stack: list = []
    for ins in expr.instrs:
        name = ins.name
        if name == "end":
            break
        if name in ("i32.const", "i64.const"):
            stack.append(ins.args[0] & _MASK[name[:3]])
        elif name == "global.get":
            j = ins.args[0] - imported_globals
            stack.append(known[j] if 0 <= j < len(known) else None)
        elif name[:4] in ("i32.", "i64.") and name[4:] in _ARITH and len(stack) >= 2:
            b, a = stack.pop(), stack.pop()
            stack.append(None if a is None or b is None else _ARITH[name[4:]](a, b) & _MASK[name[:3]])
        else:
            return None
    return stack[0] if len(stack) == 1 else None


def scan_module(wasm: bytes, imported: dict[int, int] | None = None) -> ModuleScan:
    """Read exports, function/global counts and constant global initialisers of a module.

    Decodes through the lazy :class:`wasmweld.Module` (only the import, function, global,
    export and start sections). ``imported`` (kind -> count) may be supplied (e.g. from
    wasmtime's import list); otherwise the import section is read.
    """
    from wasmweld.module import parse

    m = parse(wasm)
    scan = ModuleScan()
    if imported is not None:
        scan.imported.update(imported)
    else:
        for imp in m.imports:
            scan.imported[int(imp.kind)] += 1
    scan.num_defined_funcs = len(m.funcs)
    known: list = []
    for g in m.globals:
        val = _const_value(g.init, scan.imported[3], known)
        known.append(val)
        vt = str(g.type.val)
        scan.globals.append((vt if vt in ("i32", "i64", "f32", "f64", "v128") else "ref", g.type.mutable, val))
    scan.exports = [ScanExport(e.name, int(e.kind), e.index) for e in m.exports]
    scan.has_start = m.start is not None
    return scan


def export_all_funcs(wasm: bytes, prefix: str = "__wasmweld_func_") -> bytes:
    """Return ``wasm`` with every defined function exported (as ``<prefix><index>``) if not exported yet.

    Every section except the export section is copied byte for byte (the lazy Module re-encodes
    only what changed).
    """
    from wasmweld.module import Export, parse
    from wasmweld.types import ExternKind

    try:
        m = parse(wasm)
        exports = m.exports
        have = {e.index for e in exports if e.kind == ExternKind.FUNC}
        names = {e.name for e in exports}
        nimp = m.num_imported(ExternKind.FUNC)
        extra = []
        for idx in range(nimp, nimp + len(m.funcs)):
            if idx not in have:
                nm = f"{prefix}{idx}"
                while nm in names:
                    nm += "_"
                extra.append(Export(nm, ExternKind.FUNC, idx))
        if not extra:
            return wasm
        m.exports = list(exports) + extra
        return m.encode()
    except DecodeError as e:
        raise EditError(f"cannot export all functions: {e}") from None


# ----------------------------------------------------------------------------------------
# the loader


@record
class _Sym:
    kind: str  # "func" | "data" | "global"
    value: Any  # wasmtime.Func | int address | wasmtime.Global
    provider: str
    type: Any = None
    bad: Any = None  # typecheck.Unsupported: a type wasmtime-py cannot represent


class LibHandle:
    """A library loaded by :meth:`World.dlopen`: ``sym(name)`` like ``dlsym``.

    Functions come back as callable :class:`~wasmweld.runtime.world.Function`;
    data symbols as their absolute address in the shared memory (an ``int``).
    """

    def __init__(self, world: Any, name: str, memory_base: int, table_base: int, dylink: Dylink) -> None:
        self.world: Any = world   # the World
        self.name = name
        self.memory_base = memory_base
        self.table_base = table_base
        self.dylink = dylink
        self.path: str | None = None  # the file it was loaded from (symbolic links resolved)

    @property
    def ready(self) -> bool:
        return True

    def sym(self, name: str) -> Any:
        e = self.world.entry(self.name)
        ext = e.exports.get(name)
        bad = e.bad_exports.get(name)
        if isinstance(ext, wasmtime.Func):
            return Function(ext, self.world.store, f"{self.name}.{name}", bad, self.world.lock)
        if isinstance(ext, wasmtime.Global) and bad is None:
            t = ext.type(self.world.store)
            if not t.mutable and str(t.content) in ("i32", "i64"):
                return self.memory_base + ext.value(self.world.store)
        raise LinkError(f"library {self.name!r} has no symbol {name!r}")

    def exports(self) -> dict[str, Any]:
        return self.world.exports(self.name)

    def close(self) -> None:
        """``dlclose``: unload this library (``World.remove(name)``; LinkError while another library may use it)."""
        self.world.remove(self.name)

    @property
    def memory(self) -> Memory:
        return self.world.dynamic_linker.memory_view

    def __repr__(self) -> str:
        return f"<LibHandle {self.name} memory_base={self.memory_base} table_base={self.table_base}>"


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _refuse_waiting_main(world: Any) -> None:
    """A module that would be the main but still waits for imports: say so (else the first side module
    would become a standalone main and fail on the main's symbols, a misleading error)."""
    for n in world._order:
        e = world._entries[n]
        types = e.export_types
        if not e.ready and e.kind == "module" and isinstance(types.get("__indirect_function_table"), wasmtime.TableType) \
                and any(isinstance(t, wasmtime.MemoryType) for t in types.values()):
            missing = world.pending.get(n) or ["(waiting for a module in an unresolved cycle)"]
            raise LinkError(f"module {n!r} would be the main module of dynamic linking, but it is not instantiated: "
                            f"unresolved imports: {'; '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
                            + "; define them (World.define_host) or stub them: wasmweld run --stub MODULE.NAME or --stub-missing")


class DynamicLinker:
    """The dynamic-linking state of a World: shared memory/table/stack and the global symbol table."""

    def __init__(self, world: Any) -> None:
        self.world: Any = world   # the World
        self.store: wasmtime.Store = world.store
        self.memory: wasmtime.Memory | None = None
        self.table: wasmtime.Table | None = None
        self.stack_pointer: wasmtime.Global | None = None
        self.main_name: str | None = None
        self.standalone = False
        self.symbols: dict[str, _Sym] = {}
        self.specials: dict[str, int] = {}
        self.func_slots: dict[str, int] = {}
        self._got_mem: dict[tuple[str, bool], wasmtime.Global] = {}
        self._got_func: dict[tuple[str, bool], wasmtime.Global] = {}
        self._unresolved_mem: dict[str, list[wasmtime.Global]] = {}
        self._empty_slots: dict[str, list[int]] = {}
        self._lazy: dict[str, list[tuple[Any, int, Any]]] = {}  # name -> (trampoline, slot, functype)
        self.libs: dict[str, LibHandle] = {}
        self.emscripten_shims = True
        self._loading: bytes | None = None  # the side module being bound (for Wasm-level stubs)

    @property
    def _mem(self) -> wasmtime.Memory:
        """The shared memory (a LinkError before there is one)."""
        if self.memory is None:
            raise LinkError("dynamic linking has no shared memory yet")
        return self.memory

    @property
    def _tab(self) -> wasmtime.Table:
        """The shared function table (a LinkError before there is one)."""
        if self.table is None:
            raise LinkError("dynamic linking has no shared function table yet")
        return self.table

    # -- set-up ---------------------------------------------------------------------------
    @classmethod
    def create(cls, world: Any, main: str | None = None) -> "DynamicLinker":
        self = cls(world)
        if main is None:
            cands = []
            for n in world._order:
                e = world._entries[n]
                if e.ready and e.kind == "module" and isinstance(e.exports.get("__indirect_function_table"), wasmtime.Table) \
                        and any(isinstance(x, wasmtime.Memory) for x in e.exports.values()):
                    cands.append(n)
            if len(cands) > 1:
                raise LinkError("several modules could be the main module of dynamic linking ("
                                + ", ".join(map(repr, cands)) + "); pass dlopen(..., main=NAME)")
            main = cands[0] if cands else None
            if main is None:
                _refuse_waiting_main(world)
        if main is not None:
            self._attach_main(main)
        else:
            self.standalone = True
        return self

    def _attach_main(self, main: str) -> None:
        e = self.world._ready_entry(main)
        mem = e.exports.get("memory")
        if not isinstance(mem, wasmtime.Memory):
            mem = next((x for x in e.exports.values() if isinstance(x, wasmtime.Memory)), None)
        if mem is None:
            raise LinkError(f"module {main!r} cannot be the main module of dynamic linking: it exports no memory")
        tab = e.exports.get("__indirect_function_table")
        if not isinstance(tab, wasmtime.Table):
            tabs = [x for x in e.exports.values() if isinstance(x, wasmtime.Table)]
            tab = tabs[0] if len(tabs) == 1 else None
        if tab is None:
            raise LinkError(f"module {main!r} cannot be the main module of dynamic linking: it exports no table "
                            "(link it with -Wl,--export-table -Wl,--growable-table)")
        self.memory, self.table, self.main_name = mem, tab, main
        sp = e.exports.get("__stack_pointer")
        if isinstance(sp, wasmtime.Global) and sp.type(self.store).mutable:
            self.stack_pointer = sp
        for n, x in e.exports.items():
            self._define(n, x, main, memory_base=0, relocatable=False, bad=e.bad_exports.get(n))

    @property
    def memory_view(self) -> Memory:

        return Memory(self._mem, self.store, "dynamic-linking memory")

    def _define(self, name: str, ext, provider: str, memory_base: int, relocatable: bool, bad=None) -> None:
        """Publish one export as a symbol (first definition wins, as in ELF)."""
        if bad is not None and not isinstance(ext, wasmtime.Func):
            return  # a v128 / GC-typed global or table is no symbol the linker can handle
        if name.startswith("__wasm_") or name in ("__memory_base", "__table_base", "__indirect_function_table",
                                                   "memory", "__stack_pointer", "__dso_handle"):
            if name == "__stack_pointer" and isinstance(ext, wasmtime.Global) and name not in self.symbols:
                self.symbols[name] = _Sym("global", ext, provider)
            return
        if name in self.symbols:
            return
        if isinstance(ext, wasmtime.Func):
            sym = _Sym("func", ext, provider, ext.type(self.store), bad)
        elif isinstance(ext, wasmtime.Global):
            t = ext.type(self.store)
            if t.mutable:
                sym = _Sym("global", ext, provider)
            elif str(t.content) in ("i32", "i64"):
                sym = _Sym("data", (memory_base if relocatable else 0) + ext.value(self.store), provider)
            else:
                return
        else:
            return
        self.symbols[name] = sym
        self._resolve_waiting(name, sym)

    def _resolve_waiting(self, name: str, sym: _Sym) -> None:
        if sym.kind == "data":
            for g in self._unresolved_mem.pop(name, ()):
                g.set_value(self.store, sym.value)
        if sym.kind == "func":
            slots = self._empty_slots.pop(name, ())
            for idx in slots:
                self._tab.set(self.store, idx, sym.value)
            for tramp, slot, ft in self._lazy.pop(name, ()):

                if type_mismatch(ft, sym.type, None, sym.bad):
                    raise LinkError(f"{sym.provider} defines {name} as {fmt_type(sym.type, sym.bad)}, but an earlier "
                                    f"library imported it (lazily) as {fmt_type(ft)}")
                tramp.fill(slot, sym.value)

    # -- memory / table ---------------------------------------------------------------------
    def _grow_memory_to(self, nbytes: int, who: str) -> None:
        have = self._mem.data_len(self.store)
        if nbytes > have:
            try:
                self._mem.grow(self.store, math.ceil((nbytes - have) / PAGE))
            except wasmtime.WasmtimeError as e:
                raise LinkError(f"{who}: cannot grow the shared memory to {nbytes} bytes: "
                                f"{str(e).splitlines()[0]}") from None

    def _zero(self, addr: int, size: int) -> None:
        import ctypes

        if size:
            ctypes.memset(self._mem.get_buffer_ptr(self.store, size, addr), 0, size)

    def _alloc_memory(self, size: int, align: int, who: str) -> int:
        malloc = self.symbols.get("malloc")
        if malloc is not None and malloc.kind == "func" and malloc.bad is None \
                and [str(t) for t in malloc.type.params] == ["i32"]:
            try:
                p = malloc.value(self.store, size + align)
            except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
                raise LinkError(f"{who}: malloc({size + align}) in {malloc.provider} failed: "
                                f"{str(e).splitlines()[0]}") from None
            if not p:
                raise LinkError(f"{who}: malloc({size + align}) in {malloc.provider} returned NULL")
            addr = _align(p, align)
            fresh = False
        else:
            old = self._mem.data_len(self.store)
            addr = _align(old, align)
            self._grow_memory_to(addr + size, who)
            fresh = True  # pages wasmtime just added are zero already
        if addr + size > self._mem.data_len(self.store):
            raise LinkError(f"{who}: allocated region [{addr}, {addr + size}) lies outside the memory")
        if not fresh:  # malloc may hand out memory it used before
            self._zero(addr, size)
        return addr

    def _new_slot(self, func, who: str) -> int:
        try:
            return self._tab.grow(self.store, 1, func)
        except wasmtime.WasmtimeError as e:
            raise LinkError(f"{who}: cannot grow the shared function table: {str(e).splitlines()[0]} "
                            "(link the main module with -Wl,--growable-table)") from None

    def _alloc_table(self, size: int, align: int, who: str) -> int:
        cur = self._tab.size(self.store)
        base = _align(cur, align)
        if base + size > cur:
            try:
                self._tab.grow(self.store, base + size - cur, None)
            except wasmtime.WasmtimeError as e:
                raise LinkError(f"{who}: cannot reserve {size} table slots: {str(e).splitlines()[0]} "
                                "(link the main module with -Wl,--growable-table)") from None
        return base

    def _create_environment(self, name: str, imports, dl: Dylink) -> tuple[int, int]:
        """First library of a standalone domain: create memory, table and stack; return its bases."""
        mem_imp = next((i for i in imports if i.module == "env" and i.name == "memory"
                        and isinstance(i.type, wasmtime.MemoryType)), None)
        if mem_imp is None:
            raise LinkError(f"cannot load {name!r} as the main module of dynamic linking: it does not import "
                            "env.memory, and no module of the World exports memory and __indirect_function_table")
        mt = mem_imp.type
        if mt.is_shared or mt.is_64:
            raise LinkError(f"{name!r}: shared or 64-bit memories are not supported for dynamic linking")
        align = dl.mem_alignment
        memory_base = _align(1024, align)
        data_end = memory_base + dl.mem_size
        stack_low = _align(data_end, 16)
        stack_high = stack_low + _align(self.world.dl_stack_size, 16)
        heap_base = _align(stack_high, 16)
        pages = max(mt.limits.min, math.ceil(heap_base / PAGE) + 1)
        if mt.limits.max is not None and pages > mt.limits.max:
            raise LinkError(f"{name!r}: needs {pages} memory pages but its import allows at most {mt.limits.max}")
        try:
            self.memory = wasmtime.Memory(self.store, wasmtime.MemoryType(wasmtime.Limits(pages, mt.limits.max)))
        except wasmtime.WasmtimeError as e:
            raise LinkError(f"{name!r}: cannot create a memory of {pages:,} pages for its {dl.mem_size:,} bytes of "
                            f"data and the stack: {str(e).splitlines()[0]}") from None
        tab_imp = next((i for i in imports if i.module == "env" and i.name in ("__indirect_function_table", "table")
                        and isinstance(i.type, wasmtime.TableType)), None)
        table_base = 1
        tmin = max(tab_imp.type.limits.min if tab_imp else 0, table_base + dl.table_size)
        tmax = tab_imp.type.limits.max if tab_imp else None
        if tmax is not None and tmin > tmax:
            raise LinkError(f"{name!r}: needs {tmin} table slots but its import allows at most {tmax}")
        try:
            self.table = wasmtime.Table(self.store, wasmtime.TableType(wasmtime.ValType.funcref(),
                                                                       wasmtime.Limits(tmin, tmax)), None)
        except wasmtime.WasmtimeError as e:
            self.memory = None
            raise LinkError(f"{name!r}: cannot create a table of {tmin:,} slots: {str(e).splitlines()[0]}") from None
        self.stack_pointer = wasmtime.Global(self.store, wasmtime.GlobalType(wasmtime.ValType.i32(), True), stack_high)
        self.specials = {"__heap_base": heap_base, "__stack_low": stack_low, "__stack_high": stack_high,
                         "__data_end": data_end, "__global_base": memory_base}
        self.main_name = name  # a fresh memory is zero: nothing to clear
        return memory_base, table_base

    def _private_stack(self, who: str) -> wasmtime.Global:
        size = max(64 * 1024, _align(self.world.dl_stack_size, 16))
        base = self._alloc_memory(size, 16, who)
        self.stack_pointer = wasmtime.Global(self.store, wasmtime.GlobalType(wasmtime.ValType.i32(), True), base + size)
        return self.stack_pointer

    # -- GOT ----------------------------------------------------------------------------------
    def _got_global(self, cache: dict, name: str, value: int, ty) -> wasmtime.Global:
        key = (name, ty.mutable)
        g = cache.get(key)
        if g is None:
            g = wasmtime.Global(self.store, wasmtime.GlobalType(wasmtime.ValType.i32(), ty.mutable), value)
            cache[key] = g
        return g

    def data_address(self, name: str) -> int | None:
        sym = self.symbols.get(name)
        if sym is not None and sym.kind == "data":
            return sym.value
        return self.specials.get(name)

    def symbol(self, name: str) -> Function | Global | int:
        """Look a symbol up in the global symbol table (``dlsym(RTLD_DEFAULT, name)``)."""

        sym = self.symbols.get(name)
        if sym is None:
            raise LinkError(f"no loaded module defines symbol {name!r}")
        if sym.kind == "func":
            return Function(sym.value, self.store, f"{sym.provider}.{name}", sym.bad, self.world.lock)
        if sym.kind == "data":
            return sym.value

        return Global(sym.value, self.store, f"{sym.provider}.{name}")

    def loaded_from(self, path: str) -> "LibHandle | None":
        """The library already loaded from file ``path`` (symbolic links resolved), or None: ``dlopen`` of the
        same file again returns that handle instead of loading a second copy, as ``dlopen`` does."""
        real = os.path.realpath(path)
        return next((h for h in self.libs.values() if getattr(h, "path", None) == real), None)

    def unload(self, name: str) -> None:
        """``dlclose``: forget library ``name`` (the most recent one, nothing bound to it); raise LinkError otherwise."""
        if name == self.main_name:
            raise LinkError(f"module {name!r} is the main module of dynamic linking; it cannot be removed")
        if name not in self.libs:
            if any(s.provider == name for s in self.symbols.values()):
                raise LinkError(f"module {name!r} cannot be removed: loaded side modules may use its symbols")
            return
        if list(self.libs)[-1] != name:
            later = list(self.libs)[list(self.libs).index(name) + 1:]
            raise LinkError(f"side module {name!r} cannot be removed: {', '.join(map(repr, later))} were loaded after "
                            "it and may use its symbols (remove those first)")
        if any(getattr(h, "soname", None) for h in self.libs.values() if h.name == name) \
                and self.world.modules[-1] != name:
            raise LinkError(f"side module {name!r} cannot be removed: another module needs it")
        gone = {n for n, s in self.symbols.items() if s.provider == name}
        self.symbols = {n: s for n, s in self.symbols.items() if n not in gone}
        for n in gone:  # its table slots keep the functions (nothing else may call through them)
            self.func_slots.pop(n, None)
        del self.libs[name]

    # -- loading --------------------------------------------------------------------------
    def _search_roots(self, path: str | None) -> list[str]:
        """Folders NEEDED libraries may come from: the side module's own folder, then ``dlopen_path``."""
        roots = [os.path.realpath(os.path.dirname(os.path.abspath(path)))] if path else []
        roots += [os.path.realpath(os.fspath(d)) for d in self.world.dlopen_path]
        return roots

    def _load_needed(self, lib: str, path: str | None, dl: Dylink, who: str) -> None:
        stem = os.path.basename(lib)
        for ext in (".so", ".wasm"):
            if stem.endswith(ext):
                stem = stem[: -len(ext)]
        if lib in self.libs or stem in self.libs or any(getattr(h, "soname", None) == lib for h in self.libs.values()):
            return
        outside = self.world.dlopen_anywhere
        parts = lib.replace("\\", "/").split("/")
        if not lib or "\0" in lib or ((os.path.isabs(lib) or ".." in parts) and not outside):
            raise LinkError(f"side module {who!r} needs library {lib!r}: refused, a NEEDED name must stay inside "
                            "the search path (no absolute paths, no '..'); see docs/security.md")
        if lib.endswith(".cwasm") and not self.world.trust_artifacts:
            raise LinkError(f"side module {who!r} needs library {lib!r}: refused, NEEDED never loads compiled "
                            "artifacts (.cwasm) unless artifacts are trusted (--trust-artifact)")
        roots = self._search_roots(path)
        origin = roots[0] if path else None
        dirs = []
        for rp in dl.runtime_path:
            if ("$ORIGIN" in rp and origin is None) or "\0" in rp:
                continue
            d = os.path.realpath(rp.replace("$ORIGIN", origin or ""))
            if outside or any(d == r or d.startswith(r + os.sep) for r in roots):
                dirs.append(d)
        dirs += roots
        for d in dict.fromkeys(dirs):
            cand = os.path.join(d, lib)
            if not os.path.isfile(cand):
                continue
            real = os.path.realpath(cand)
            if not outside and not any(real.startswith(r + os.sep) for r in roots):
                raise LinkError(f"side module {who!r} needs library {lib!r}: refused, {cand} leads outside the "
                                "search path (a symbolic link?)")
            h = self.world.dlopen(real, name=stem if stem not in self.world._entries else None)
            h.soname = lib
            return
        raise LinkError(f"side module {who!r} needs library {lib!r}, which is not loaded and was not found"
                        + (f" in {', '.join(dict.fromkeys(dirs))}" if dirs else " (load it first with dlopen)"))

    def _check_limits(self, dl: Dylink, who: str) -> None:
        lim = self.world.dl_limits
        if dl.mem_size > lim.max_mem_size:
            raise LinkError(f"{who} asks for {dl.mem_size:,} bytes of memory (dylink.0 mem_size); the limit is "
                            f"{lim.max_mem_size:,} (World(dl_limits=DlLimits(max_mem_size=...)))")
        if dl.table_size > lim.max_table_size:
            raise LinkError(f"{who} asks for {dl.table_size:,} table slots (dylink.0 table_size); the limit is "
                            f"{lim.max_table_size:,}")
        if dl.mem_align > lim.max_mem_align:
            raise LinkError(f"{who} asks for a memory alignment of 2**{dl.mem_align}; the limit is "
                            f"2**{lim.max_mem_align}")
        if dl.table_align > lim.max_table_align:
            raise LinkError(f"{who} asks for a table alignment of 2**{dl.table_align} slots; the limit is "
                            f"2**{lim.max_table_align}")

    def load(self, name: str, wasm: bytes, dl: Dylink, path: str | None, *, allow_undefined: bool = False) -> LibHandle:

        world = self.world
        self._check_limits(dl, f"side module {name!r}")
        for lib in dl.needed:
            self._load_needed(lib, path, dl, name)
        module, types = world._compile_bytes(wasm, name)
        imports = [ImportSlot(i.module, i.name or "", i.type, types.imports.get(k), k)
                   for k, i in enumerate(module.imports)]
        self._loading = wasm
        counts = {0: 0, 1: 0, 2: 0, 3: 0, 4: 0}
        for imp in imports:
            counts[{"func": 0, "table": 1, "memory": 2, "global": 3}.get(kind_of(imp.type), 4)] += 1
        try:
            scan = scan_module(wasm, imported=counts)
        except DecodeError as e:
            raise DecodeError(f"side module {name!r}: {e.message}", e.offset, e.context) from None
        who = f"side module {name!r}"
        first = self.memory is None
        if first:
            memory_base, table_base = self._create_environment(name, imports, dl)
        else:
            memory_base = self._alloc_memory(dl.mem_size, dl.mem_alignment, who) if dl.mem_size else 0
            table_base = self._alloc_table(dl.table_size, dl.table_alignment, who) if dl.table_size else \
                self._tab.size(self.store)
        own_data: dict[str, int] = {}
        own_funcs: set[str] = set()
        for ex in scan.exports:
            if ex.kind == 0:
                own_funcs.add(ex.name)
            elif ex.kind == 3:
                info = scan.global_info(ex.index)
                if info and not info[1] and info[0] in ("i32", "i64") and info[2] is not None:
                    own_data[ex.name] = memory_base + info[2]
        late_slots: list[tuple[str, int]] = []
        undo: list = []
        try:
            externs = [self._bind(name, imp, dl, memory_base, table_base, own_data, own_funcs, allow_undefined,
                                  late_slots, undo) for imp in imports]
            try:
                inst = wasmtime.Instance(self.store, module, externs)
            except wasmtime.Trap as e:
                raise exec_error(e, f"instantiating {who} (start function)") from None
            except wasmtime.WasmtimeError as e:
                raise LinkError(f"cannot instantiate {who}: {first_line(e)}") from None
        except WasmError:
            for fn in reversed(undo):
                fn()
            if first:  # the World keeps no half-made environment
                self.memory = self.table = self.stack_pointer = None
                self.main_name = None
                self.specials = {}
                self.func_slots.clear()
                self._got_mem.clear()
                self._got_func.clear()
            raise
        exports = dict(inst.exports(self.store))
        for sym, idx in late_slots:
            self._tab.set(self.store, idx, exports[sym])
        entry = Entry(name, module, wasm, imports, {e.name: e.type for e in module.exports}, kind="side",
                      bad_exports=types.exports)
        entry.instance, entry.bound, entry.exports, entry.scan = inst, externs, exports, scan
        entry.meta = {"memory_base": memory_base, "table_base": table_base, "dylink": dl}
        # publish symbols before running constructors (they may call back into other libraries)
        for n, x in exports.items():
            self._define(n, x, name, memory_base, relocatable=True, bad=types.exports.get(n))
        world._register_loaded(entry)
        handle = LibHandle(world, name, memory_base, table_base, dl)
        handle.path = os.path.realpath(path) if path else None
        self.libs[name] = handle
        for init in ("__wasm_apply_data_relocs", "__wasm_call_ctors", "__post_instantiate"):
            f = exports.get(init)
            if isinstance(f, wasmtime.Func):
                try:
                    f(self.store)
                except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
                    raise exec_error(e, f"{name}.{init}") from None
        init_fn = exports.get("_initialize")
        if "__wasm_call_ctors" not in exports and isinstance(init_fn, wasmtime.Func):
            try:
                init_fn(self.store)
            except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
                raise exec_error(e, f"{name}._initialize") from None
        return handle

    def _bind(self, lib: str, imp, dl: Dylink, memory_base: int, table_base: int, own_data: dict, own_funcs: set,
              allow_undefined: bool, late_slots: list, undo: list):

        world = self.world
        k = kind_of(imp.type)
        who = f"side module {lib!r}"
        weak = bool(dl.import_flags(imp.module, imp.name) & SYMBOL_BINDING_WEAK)
        if imp.module == "env":
            nm = imp.name
            lim = world.dl_limits
            if k == "memory" and nm == "memory":
                grow = imp.type.limits.min * PAGE - self._mem.data_len(self.store)
                if grow > lim.max_mem_size:
                    raise LinkError(f"{who} imports env.memory with at least {imp.type.limits.min:,} pages: that "
                                    f"would grow the shared memory by {grow:,} bytes; the limit is {lim.max_mem_size:,}")
                self._grow_memory_to(imp.type.limits.min * PAGE, who)
                return self.memory
            if k == "table" and nm in ("__indirect_function_table", "table"):
                need = imp.type.limits.min
                cur = self._tab.size(self.store)
                if need - cur > lim.max_table_size:
                    raise LinkError(f"{who} imports a table of at least {need:,} slots: that would add {need - cur:,}; "
                                    f"the limit is {lim.max_table_size:,}")
                if need > cur:
                    self._alloc_table(need - cur, 1, who)
                return self.table
            if k == "global" and nm == "__stack_pointer":
                sp = self.stack_pointer or self._private_stack(who)
                return sp
            if k == "global" and nm in ("__memory_base", "__table_base"):
                v = memory_base if nm == "__memory_base" else table_base
                return wasmtime.Global(self.store, imp.type, v)
            if k == "func":
                sym = self.symbols.get(nm)
                if sym is not None and sym.kind == "func":
                    why = type_mismatch(imp.type, sym.type, imp.bad, sym.bad)
                    if why:
                        raise LinkError(f"{who} imports env.{nm} as {fmt_type(imp.type, imp.bad)}, but {sym.provider} "
                                        f"defines it as {fmt_type(sym.type, sym.bad)}")
                    return sym.value
                host = world._hosts.get(("env", nm))
                if host is not None:
                    if type_mismatch(imp.type, host.type, imp.bad):
                        raise LinkError(f"{who} imports env.{nm} as {fmt_type(imp.type, imp.bad)}, but the host function "
                                        f"has type {fmt_type(host.type)}")
                    return host.func
                if self.emscripten_shims and nm in EMSCRIPTEN_SHIMS:
                    shim = EMSCRIPTEN_SHIMS[nm](self, imp.type) if imp.bad is None else None
                    if shim is not None:
                        return shim
                act = world._stub_action(imp)
                if act is not None:
                    return world._make_stub(lib, imp, act, self._loading)
                if allow_undefined or weak:
                    return self._lazy_func(lib, imp, undo)
                raise LinkError(f"{who} needs function {nm} (import env.{nm}), which neither the main module nor "
                                "a loaded side module defines and no host function provides")
            if k == "global":
                sym = self.symbols.get(nm)
                if sym is not None and sym.kind == "global":
                    return sym.value
                addr = self.data_address(nm)
                if addr is not None and not imp.type.mutable:
                    return wasmtime.Global(self.store, imp.type, addr)
                act = world._stub_action(imp)
                if act is not None:
                    return world._make_stub(lib, imp, act, self._loading)
                raise LinkError(f"{who} imports global env.{nm}, which no loaded module provides")
        if imp.module == "GOT.mem" and k == "global":
            return self._bind_got_mem(imp, who, own_data, weak or allow_undefined, undo)
        if imp.module == "GOT.func" and k == "global":
            return self._bind_got_func(imp, who, own_funcs, weak or allow_undefined, late_slots)
        # anything else: the World's ordinary resolution (WASI, World modules, host namespaces, stubs)

        fake = Entry(lib, None, None, [], {})
        kind, v = world._lookup(fake, imp)
        if kind == OK:
            return v
        if kind == DEP:
            raise LinkError(f"{who} imports {imp.label} from module {v.name!r}, which is not instantiated yet")
        raise LinkError(f"{who}: unresolved import {v}")

    def _bind_got_mem(self, imp, who: str, own_data: dict, lenient: bool, undo: list):
        """``GOT.mem.x``: a global holding the address of data symbol ``x`` (0 until defined, when ``lenient``)."""
        nm = imp.name
        addr = self.data_address(nm)
        if addr is None:
            addr = own_data.get(nm)
        if addr is None:
            sym = self.symbols.get(nm)
            if sym is not None and sym.kind == "func":
                raise LinkError(f"{who} uses {nm} as data (GOT.mem.{nm}), but {sym.provider} defines a function")
            if not lenient:
                raise LinkError(f"{who} needs data symbol {nm} (import GOT.mem.{nm}), which no loaded module "
                                "defines")
            g = wasmtime.Global(self.store, imp.type, 0)
            lst = self._unresolved_mem.setdefault(nm, [])
            lst.append(g)
            undo.append(lambda: lst.remove(g) if g in lst else None)
            return g
        return self._got_global(self._got_mem, nm, addr, imp.type)

    def _bind_got_func(self, imp, who: str, own_funcs: set, lenient: bool, late_slots: list):
        """``GOT.func.f``: a global holding the table slot of function ``f``."""
        nm = imp.name
        idx = self.func_slots.get(nm)
        if idx is None:
            sym = self.symbols.get(nm)
            if sym is not None and sym.kind == "func":
                idx = self._new_slot(sym.value, who)
            elif nm in own_funcs:
                idx = self._new_slot(None, who)
                late_slots.append((nm, idx))
            elif lenient:
                idx = self._new_slot(None, who)
                self._empty_slots.setdefault(nm, []).append(idx)
            else:
                raise LinkError(f"{who} needs the address of function {nm} (import GOT.func.{nm}), which no "
                                "loaded module defines")
            self.func_slots[nm] = idx
        return self._got_global(self._got_func, nm, idx, imp.type)

    def _lazy_func(self, lib: str, imp, undo: list):
        if imp.bad is not None:
            raise LinkError(f"side module {lib!r} imports env.{imp.name} ({imp.bad.desc}), which no loaded module "
                            f"defines; it cannot be bound lazily: {imp.bad.bad} is not supported by the wasmtime "
                            "Python API")
        from wasmweld.runtime.trampoline import Trampoline, TrampolineSpec

        spec = TrampolineSpec()
        spec.add([vt_name(t) for t in imp.type.params], [vt_name(t) for t in imp.type.results],
                 f"{lib} -> env.{imp.name}")
        tramp = Trampoline(self.world, spec)
        lst = self._lazy.setdefault(imp.name, [])
        item = (tramp, 0, imp.type)
        lst.append(item)
        undo.append(lambda: lst.remove(item) if item in lst else None)
        return tramp.func(0)


# ----------------------------------------------------------------------------------------
# emscripten runtime shims: the few JS-side functions emscripten-built main/side modules
# import from "env" that have an obvious meaning without a browser.


def _shim(params: list[str], results: list[str]):
    def deco(fn):
        def make(linker: DynamicLinker, ty: wasmtime.FuncType):
            if [str(t) for t in ty.params] != params or [str(t) for t in ty.results] != results:
                return None
            return wasmtime.Func(linker.store, ty, lambda *a: fn(linker, *a))
        return make
    return deco


@_shim(["i32"], ["i32"])
def _resize_heap(linker: DynamicLinker, requested: int) -> int:
    requested &= 0xFFFFFFFF
    have = linker._mem.data_len(linker.store)
    if requested <= have:
        return 1
    try:
        linker._mem.grow(linker.store, math.ceil((requested - have) / PAGE))
        return 1
    except wasmtime.WasmtimeError:
        return 0


@_shim([], [])
def _abort(linker: DynamicLinker) -> None:
    raise ExecutionError("the module called abort()")


@_shim(["i32", "i32", "i32", "i32"], [])
def _assert_fail(linker: DynamicLinker, cond: int, file: int, line: int, func: int) -> None:
    mem = linker.memory_view

    def s(p):
        try:
            return mem.read_cstr(p, 4096) if p else "?"
        except WasmError:
            return "?"
    raise ExecutionError(f"assertion failed: {s(cond)} at {s(file)}:{line} in {s(func)}")


@_shim(["i32"], [])
def _notify_growth(linker: DynamicLinker, _idx: int) -> None:
    return None


@_shim([], ["f64"])
def _now(linker: DynamicLinker) -> float:
    return time.monotonic() * 1000.0


@_shim(["i32", "i32", "i32"], [])
def _memcpy_js(linker: DynamicLinker, dest: int, src: int, n: int) -> None:
    mem = linker.memory_view
    mem.write(dest, mem.read(src, n))


EMSCRIPTEN_SHIMS = {
    "emscripten_resize_heap": _resize_heap,
    "_abort_js": _abort,
    "abort": _abort,
    "__assert_fail": _assert_fail,
    "emscripten_notify_memory_growth": _notify_growth,
    "emscripten_get_now": _now,
    "_emscripten_memcpy_js": _memcpy_js,
    "emscripten_memcpy_js": _memcpy_js,
    "emscripten_memcpy_big": _memcpy_js,
}
