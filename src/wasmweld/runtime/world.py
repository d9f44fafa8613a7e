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

Threads: a World is one wasmtime store; its methods and calls take the World's
re-entrant lock (:attr:`World.lock`), so calls from several threads run one at a
time. Trust: compiled artifacts load only when authenticated with this user's key,
cache directories must be private, side modules' NEEDED libraries stay in their
search path (docs/security.md).
"""

from __future__ import annotations

import _thread
import os
from typing import TYPE_CHECKING, Any, Callable, Iterable

from wasmweld.runtime.engine import instantiate, require_wasmtime

from wasmweld.errors import CacheError, DecodeError, ExecutionError, LinkError, WasmError
from wasmweld.runtime._linking import (
    DEP, OK, WAIT, Entry, Host, ImportSlot, ProcExit, check_fuel, exec_error, extern_type, first_line, fmt_type,
    kind_of, parse_functype, tarjan, type_mismatch, vt_name, wrap_host,
)
from wasmweld.runtime.engine import (
    WASI_MODULES, compile_module, engine_settings, looks_like_wat, make_engine, wat2wasm,
)
from wasmweld.runtime.objects import Function, Global, Handle, Memory, Table
from wasmweld.runtime.typecheck import TypeReport, trap_stub, type_report

if TYPE_CHECKING:
    import threading

    from wasmweld.runtime.dylink_loader import DlLimits
    from wasmweld.runtime.wasi import WasiOptions
    from wasmweld.runtime.component_world import ComponentHandle
    import wasmtime

if not TYPE_CHECKING:  # type checkers see the import above
    wasmtime = require_wasmtime()  # a WasmError with the install hint when it is missing

__all__ = ["World", "WasiOptions", "Function", "Memory", "Global", "Table", "Handle", "ProcExit", "parse_functype"]


def __getattr__(name: str) -> Any:
    """``WasiOptions``, imported on first use (PEP 562): a World without WASI never loads
    :mod:`wasmweld.runtime.wasi` (nor :mod:`dataclasses`, which costs 5 ms of start-up)."""
    if name == "WasiOptions":
        from wasmweld.runtime.wasi import WasiOptions

        globals()[name] = WasiOptions
        return WasiOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _locked(method: Callable) -> Callable:
    """Run a World method under the World's store lock (see :attr:`World.lock`)."""
    import functools

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return run


class World:
    """Many Wasm modules in one store, linked by name. See the module docstring.

    ``wasi``: False, True (inherit stdio, nothing else) or :class:`WasiOptions`.
    ``cache_dir``: directory of compiled artifacts (None: compile every time; True: the
    per-user default ``~/.cache/wasmweld/artifacts``). It must belong to this user and
    not be writable by others; its entries are authenticated (docs/security.md).
    ``dlopen_path``: folders (besides the side module's own) where ``dylink.0`` NEEDED
    libraries may be found; ``dlopen_anywhere`` lifts the containment (absolute and ``..``
    names); ``dl_limits``: :class:`~wasmweld.runtime.dylink_loader.DlLimits`.
    ``trust_artifacts``: load ``.cwasm`` files not made with this user's key (their machine
    code runs unchecked: only for artifacts from a source you trust).
    ``fuel``: instructions budget for everything run in this World (None: unlimited).
    ``stub_missing``: satisfy imports nothing else provides with stubs that trap when called.
    """

    def __init__(self, *, wasi: bool | WasiOptions = False, cache_dir: str | os.PathLike[str] | bool | None = None,
                 fuel: int | None = None, stub_missing: bool = False, features: dict[str, bool] | None = None,
                 dl_stack_size: int = 1 << 20, trust_artifacts: bool = False,
                 dlopen_path: Iterable[str | os.PathLike[str]] = (), dlopen_anywhere: bool = False,
                 dl_limits: DlLimits | None = None) -> None:
        feature_switches: dict[str, Any] = dict(features or {})
        self.settings: dict[str, Any] = engine_settings(fuel=fuel is not None, **feature_switches)
        self.engine: wasmtime.Engine = make_engine(self.settings)
        self.store: wasmtime.Store = wasmtime.Store(self.engine)
        #: held around every call into the store (one thread at a time; re-entrant for host callbacks)
        self._lock = _thread.RLock()  # what threading.RLock() makes, without importing threading
        if fuel is not None:
            self.store.set_fuel(check_fuel(fuel))
        self.trust_artifacts: bool = bool(trust_artifacts)
        self.dlopen_path: tuple[str, ...] = tuple(os.fspath(p) for p in dlopen_path)
        self.dlopen_anywhere: bool = bool(dlopen_anywhere)
        self._dl_limits: DlLimits | None = dl_limits  # the default made when first asked for (dl_limits)
        self.cache: Any = None     # an ArtifactCache when cache_dir is given
        if cache_dir is not None and cache_dir is not False:
            from wasmweld.runtime.cache import ArtifactCache  # imported when used: World() stays cheap

            self.cache = ArtifactCache(None if cache_dir is True else os.fspath(cache_dir), self.engine, self.settings)
        self.wasi_options: WasiOptions | None = None
        self._linker: wasmtime.Linker | None = None
        if wasi is not None and wasi is not False:  # WasiOptions.coerce's "no WASI", without importing it
            from wasmweld.runtime.wasi import WasiOptions

            self.wasi_options = WasiOptions.coerce(wasi)
        if self.wasi_options is not None:
            from wasmweld.runtime.wasi import make_wasi_config

            self._linker = wasmtime.Linker(self.engine)
            self._linker.define_wasi()
            self.store.set_wasi(make_wasi_config(self.wasi_options, ["main"]))
        self._entries: dict[str, Entry] = {}
        self._order: list[str] = []
        self._hosts: dict[tuple[str, str], Host] = {}
        self._stubs: dict[tuple[str, str | None], str] = {}
        self._stub_cache: dict[tuple, Any] = {}
        self.stub_missing: bool = stub_missing
        self._wasi_cache: dict[str, Any] = {}
        self._dl: Any = None  # DynamicLinker, created by the first dlopen of a side module
        self.dl_stack_size: int = dl_stack_size
        self._trampolines: list = []
        self._late_fills: dict[str, list] = {}
        self._wat_cache: dict[str, wasmtime.Module] = {}
        self._importers: dict[str, set[str]] = {}  # module name -> names of the entries importing from it
        self._anon = 0
        #: how errors name the options that would help (the CLI puts its own option names here)
        self.option_names: dict[str, str] = {"wasi": "World(wasi=True)", "stub_missing": "World(stub_missing=True)",
                             "stub": "World.stub(MODULE, NAME)"}

    # -- construction helpers ---------------------------------------------------------------
    @classmethod
    def from_manifest(cls, manifest: Any, *, trust: bool = False, **overrides: Any) -> "World":
        """Build a World from a :class:`wasmweld.manifest.WorldManifest` (or a path to one) and add its modules.

        A manifest read from a path is confined to its folder unless ``trust`` (docs/security.md).
        """
        from wasmweld.manifest import WorldManifest, load_manifest

        if not isinstance(manifest, WorldManifest):
            manifest = load_manifest(manifest, confine=not trust)
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
            mod = self._compile_bytes(wat2wasm(text), name)[0]
            self._wat_cache[text] = mod
        return mod

    def _compile_bytes(self, wasm: bytes, name: str) -> tuple[wasmtime.Module, TypeReport]:
        """The compiled module and its type report (what wasmtime-py cannot be asked about)."""
        if self.cache is not None:
            return self.cache.load_or_compile_typed(wasm, name)
        return compile_module(self.engine, wasm, name), type_report(wasm)

    def _read_source(self, source: Any, name: str) -> tuple[bytes | None, Any, str | None]:
        """-> (wasm bytes or None, (precompiled module, its type report or None) or None, path or None)."""
        from wasmweld.runtime.sourcefile import is_artifact, read_module_file  # not the cache: no hashing code

        if isinstance(source, wasmtime.Module):
            return None, (source, None), None
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
                from wasmweld.runtime.cache import load_artifact

                return None, load_artifact(path, self.engine, self.settings, trusted=self.trust_artifacts,
                                           with_types=True), path
            data = read_module_file(path, f"module {name!r}")
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
        components = getattr(self, "_components", None)
        if components is not None and name in components.components:
            raise LinkError(f"a component named {name!r} is already in the World")
        if any(m == name for (m, _n) in self._hosts):
            raise LinkError(f"{name!r} is already a host namespace (define_host); pick another module name")

    # -- public API -----------------------------------------------------------------------
    @property
    def modules(self) -> list[str]:
        """Names of the World's modules, in the order they were added."""
        return list(self._order)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    @_locked
    def add(self, name: str, source: Any, *, export_all: bool = False) -> Handle | ComponentHandle:
        """Add a module under ``name``; instantiate it (and whatever waited for it) when possible.

        ``source``: a path (``.wasm``, ``.wat`` or a compiled ``.cwasm``), bytes, WAT text, or
        an object with ``.encode()`` (a ``wasmweld.Module``). ``export_all`` additionally
        exports every function so that :meth:`get_fn_idx` reaches non-exported ones.
        A module with a ``dylink.0`` section is loaded like :meth:`dlopen` does.
        A component is hosted by :mod:`wasmweld.runtime.component_world` (returns its handle).
        """
        from wasmweld.runtime.component_world import component_source, components_of
        if component_source(source):
            if name in self._entries:
                raise LinkError(f"a module named {name!r} is already in the World")
            handle = components_of(self).add(name, source)
            from wasmweld.runtime.component_mixed import provide_component_exports
            provide_component_exports(self, components_of(self), name)   # core modules may import its functions
            return handle
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
        return self._add_compiled(name, wasm, module, export_all=export_all)

    def _add_compiled(self, name: str, wasm: bytes | None, compiled: tuple | None, *,
                      export_all: bool = False) -> Handle:
        if compiled is None:
            if wasm is None:
                raise LinkError(f"module {name!r}: neither bytes nor a compiled module")
            compiled = self._compile_bytes(wasm, name)
        module, types = compiled
        types = types or TypeReport()
        imports = [ImportSlot(i.module, i.name or "", i.type, types.imports.get(k), k)
                   for k, i in enumerate(module.imports)]
        entry = Entry(name, module, wasm, imports, {e.name: e.type for e in module.exports}, export_all=export_all,
                      bad_exports=types.exports)
        if wasm and b".debug_line" in wasm:  # what remember() keeps: others need not import dwarf (5-8 ms)
            from wasmweld.dwarf.trap import remember as remember_debug_info

            remember_debug_info(wasm)       # trap messages then show file:line frames (wasmweld.dwarf.trap)
        self._admit(entry)
        return Handle(self, name)

    def _admit(self, entry: Entry) -> None:
        # 1. the new module's own imports must not be wrong (a missing provider is fine: it waits)
        for imp in entry.imports:
            self._lookup(entry, imp)
        # 2. modules already waiting for this name must find what they import, and so must the
        #    trampoline slots of a cycle whose member of this name failed earlier
        for _tramp, _i, export, ty in self._late_fills.get(entry.name, ()):
            ety = entry.export_types.get(export)
            why = "it has no such export" if ety is None else type_mismatch(ty, ety, None,
                                                                             entry.bad_exports.get(export))
            if why:
                raise LinkError(f"module {entry.name!r} cannot take the place of the earlier {entry.name!r} in an "
                                f"import cycle: {entry.name}.{export} is called through a trampoline, but {why}")
        for other_name in self._importers.get(entry.name, ()):
            other = self._entries[other_name]
            if other.ready:
                continue
            for imp in other.imports:
                if imp.module == entry.name:
                    self._check_against_entry(other, imp, entry, adding=True)
        self._register(entry)
        try:
            self._settle(new=entry.name)
        except WasmError:
            # the new module (and only it) goes if linking it failed before it got an instance
            if entry.name in self._entries and not self._entries[entry.name].ready:
                self._drop(entry.name)
            raise

    def _register(self, entry: Entry) -> None:
        entry.index = len(self._order)
        self._entries[entry.name] = entry
        self._order.append(entry.name)
        for imp in entry.imports:
            self._importers.setdefault(imp.module, set()).add(entry.name)

    def _drop(self, name: str) -> None:
        e = self._entries.pop(name, None)
        if name in self._order:
            self._order.remove(name)
        for i, n in enumerate(self._order):
            self._entries[n].index = i
        for imp in e.imports if e is not None else ():
            users = self._importers.get(imp.module)
            if users is not None:
                users.discard(name)

    @_locked
    def remove(self, name: str) -> None:
        """Forget a module: a waiting one, or an instantiated one that nothing else imports.

        A side module is unloaded like ``dlclose``: its symbols leave the symbol table
        (only the most recently loaded library, and only when no other module bound to
        it); the memory and table slots it used are not reused. The wasmtime instance
        itself lives on in the store until the World is dropped.
        """
        e = self._entries.get(name)
        if e is None:
            raise LinkError(f"no module named {name!r} in the World")
        if e.ready:
            users = sorted(o.name for o in self._entries.values()
                           if o is not e and any(imp.module == name for imp in o.imports))
            if users:
                raise LinkError(f"module {name!r} cannot be removed: {', '.join(map(repr, users))} import"
                                f"{'s' if len(users) == 1 else ''} from it")
            if name in self._late_fills or any(name in (t.spec.slots[0].label if t.spec.slots else "")
                                               for t in self._trampolines):
                raise LinkError(f"module {name!r} cannot be removed: it is part of an import cycle")
            if self._dl is not None:
                self._dl.unload(name)
        self._drop(name)

    @_locked
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
        wrapped = wrap_host(fn, label, results)
        func = wasmtime.Func(self.store, ft, wrapped, access_caller=access_caller)
        host = Host(module, name, func, ft)
        # modules waiting for it must agree on the type
        for e in self._entries.values():
            if e.ready:
                continue
            for imp in e.imports:
                if imp.module == module and imp.name == name:
                    why = type_mismatch(imp.type, ft, imp.bad)
                    if why:
                        raise LinkError(f"module {e.name!r} imports {label} as {fmt_type(imp.type, imp.bad)}, "
                                        f"but the host function {label} has type {fmt_type(ft)}")
        self._hosts[(module, name)] = host
        self._settle()

    def has_host(self, module: str, name: str) -> bool:
        """True if host function ``module.name`` is defined (:meth:`define_host`)."""
        return (module, name) in self._hosts

    @_locked
    def stub(self, module: str, name: str | None = None, *, action: str = "trap") -> None:
        """Satisfy ``module.name`` (all of ``module`` when name is None) with a stub.

        Functions: ``action="trap"`` traps with a message naming the import when called,
        ``"default"`` (as ``edit --stub-default``; also spelled ``"zero"``) returns zeros/nulls.
        Globals get 0, memories and tables are created empty. A function whose type uses a
        value type wasmtime-py cannot represent (v128, GC references) is stubbed by a small
        generated Wasm function that traps (``unreachable``) whatever the action.
        """
        if action == "default":
            action = "zero"
        if action not in ("trap", "zero"):
            raise LinkError(f"stub action must be 'trap' or 'default' (or 'zero'), not {action!r}")
        self._stubs[(module, name)] = action
        self._settle()

    # -- resolution ----------------------------------------------------------------------
    def _check_against_entry(self, importer: Entry, imp: ImportSlot, target: Entry, adding: bool = False):
        ety = target.export_types.get(imp.name)
        if ety is None:
            have = sorted(n for n, t in target.export_types.items() if kind_of(t) == kind_of(imp.type))
            hint = f"; its {kind_of(imp.type)} exports: {', '.join(have[:8])}{' ...' if len(have) > 8 else ''}" if have else ""
            raise LinkError(f"module {importer.name!r} imports {imp.label} ({fmt_type(imp.type, imp.bad)}), "
                            f"but module {target.name!r} has no export {imp.name!r}{hint}")
        why = type_mismatch(imp.type, ety, imp.bad, target.bad_exports.get(imp.name))
        if why:
            raise LinkError(f"module {importer.name!r} imports {imp.label}, but {target.name}.{imp.name} "
                            f"does not fit: {why}")
        return ety

    def _wasi_extern(self, name: str):
        ext = self._wasi_cache.get(name)
        if ext is None:
            if self._linker is None:
                return None
            try:
                ext = self._linker.get(self.store, "wasi_snapshot_preview1", name)
            except wasmtime.WasmtimeError:
                return None
            self._wasi_cache[name] = ext
        return ext

    def _stub_action(self, imp: ImportSlot) -> str | None:
        act = self._stubs.get((imp.module, imp.name)) or self._stubs.get((imp.module, None))
        if act is None and self.stub_missing:
            act = "trap"
        return act

    def _make_stub(self, importer: str, imp: ImportSlot, action: str, wasm: bytes | None = None):
        key = (importer, imp.module, imp.name, fmt_type(imp.type, imp.bad), action)
        ext = self._stub_cache.get(key)
        if ext is None:
            ext = self._stub_cache[key] = self._new_stub(importer, imp, action, wasm)
        return ext

    def _wasm_stub(self, importer: str, imp: ImportSlot, wasm: bytes | None):
        """A stub for an import whose type wasmtime-py cannot represent, made in Wasm (see ``trap_stub``)."""
        if wasm is None or imp.index < 0 or kind_of(imp.type) not in ("func", "global", "table"):
            desc, what = (imp.bad.desc, imp.bad.bad) if imp.bad is not None else (str(imp.type), "a type")
            raise LinkError(f"module {importer!r}: cannot stub {imp.label}: its type {desc} uses "
                            f"{what}, which the wasmtime Python API cannot represent")
        module = compile_module(self.engine, trap_stub(wasm, imp.index), f"stub of {imp.label}")
        return wasmtime.Instance(self.store, module, []).exports(self.store)["stub"]

    def _new_stub(self, importer: str, imp: ImportSlot, action: str, wasm: bytes | None = None):
        if imp.bad is not None:
            return self._wasm_stub(importer, imp, wasm)
        k = kind_of(imp.type)
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

    def _lookup(self, entry: Entry, imp: ImportSlot):
        """-> (OK, extern) | (DEP, entry) | (WAIT, reason). Raises LinkError when it can never work."""
        target = self._entries.get(imp.module)
        if target is not None:
            self._check_against_entry(entry, imp, target)
            if target.ready:
                return OK, target.exports[imp.name]
            return DEP, target
        host = self._hosts.get((imp.module, imp.name))
        if host is not None:
            why = type_mismatch(imp.type, host.type, imp.bad)
            if why:
                raise LinkError(f"module {entry.name!r} imports {imp.label} as {fmt_type(imp.type, imp.bad)}, "
                                f"but the host function {imp.label} has type {fmt_type(host.type)}")
            return OK, host.func
        if imp.module in WASI_MODULES and self._linker is not None:
            ext = self._wasi_extern(imp.name)
            if ext is None:
                raise LinkError(f"module {entry.name!r} imports {imp.label}, which WASI preview 1 does not provide")
            why = type_mismatch(imp.type, extern_type(self.store, ext), imp.bad)
            if why:
                raise LinkError(f"module {entry.name!r} imports {imp.label}, but WASI's {imp.name} does not fit: {why}")
            return OK, ext
        action = self._stub_action(imp)
        if action is not None:
            return OK, self._make_stub(entry.name, imp, action, entry.wasm)
        return WAIT, self._why_missing(imp)

    def _why_missing(self, imp: ImportSlot) -> str:
        if imp.module in WASI_MODULES:
            return (f"{imp.label}: WASI is not enabled ({self.option_names['wasi']}) and no module named "
                    f"{imp.module!r} was added")
        if any(m == imp.module for (m, _n) in self._hosts):
            return f"{imp.label}: host namespace {imp.module!r} has no function {imp.name!r}"
        return f"{imp.label}: no module named {imp.module!r} has been added and no host function {imp.label} is defined"

    def _instantiate(self, entry: Entry, externs: list) -> None:
        try:
            if entry.module is None:
                raise LinkError(f"module {entry.name!r} has no compiled module to instantiate")
            module = entry.module
            inst = instantiate(lambda: wasmtime.Instance(self.store, module, externs))
        except wasmtime.Trap as e:
            raise exec_error(e, f"instantiating module {entry.name!r} (start function)") from None
        except wasmtime.WasmtimeError as e:
            if isinstance(e, wasmtime.ExitTrap):
                raise exec_error(e, f"instantiating module {entry.name!r}") from None
            raise LinkError(f"cannot instantiate module {entry.name!r}: {first_line(e)}") from None
        entry.instance = inst
        entry.bound = list(externs)
        entry.exports = dict(inst.exports(self.store))
        for tramp, i, export, _ty in self._late_fills.pop(entry.name, ()):
            tramp.fill(i, entry.exports[export])

    def _settle(self, new: str | None = None) -> None:
        """Instantiate what can be: ``new`` (a module just added) and whatever waited for it.

        Work is proportional to the modules it touches: an instantiation wakes only the
        modules importing from it, and cycles are looked for only among the pending modules
        reachable from those touched (``new=None``: after a host function or stub, all).
        """
        if new is None:
            work = [n for n in self._order if not self._entries[n].ready and self._entries[n].kind == "module"]
        elif self._entries[new].ready:
            work = sorted(self._importers.get(new, ()), key=lambda n: self._entries[n].index)
        else:
            work = [new]
        while work:
            touched = self._drain(work)
            scc = self._find_cycle(touched) if touched else None
            if scc is None:
                return
            self._instantiate_cycle(scc)
            work = [u for n in scc for u in sorted(self._importers.get(n, ()), key=lambda x: self._entries[x].index)]

    def _drain(self, work: list[str]) -> list[str]:
        """Instantiate the modules of ``work`` that can be, waking their importers; return those still waiting."""
        from collections import deque

        queue = deque(work)
        waiting: dict[str, None] = {}
        while queue:
            name = queue.popleft()
            e = self._entries.get(name)
            if e is None or e.ready or e.kind != "module":
                waiting.pop(name, None)
                continue
            res = [self._lookup(e, imp) for imp in e.imports]
            if not all(r[0] == OK for r in res):
                waiting[name] = None
                continue
            try:
                self._instantiate(e, [r[1] for r in res])
            except WasmError:
                self._drop(e.name)
                raise
            waiting.pop(name, None)
            queue.extend(sorted(self._importers.get(name, ()), key=lambda n: self._entries[n].index))
        return [n for n in waiting if n in self._entries and not self._entries[n].ready]

    # -- cycles ---------------------------------------------------------------------------
    def _find_cycle(self, touched: list[str]) -> list[str] | None:
        """An import cycle that can be instantiated now, among the pending modules reachable from ``touched``."""
        deps: dict[str, set[str]] = {}
        blocked: set[str] = set()
        stack = list(touched)
        while stack:
            n = stack.pop()
            if n in deps:
                continue
            e = self._entries[n]
            d: set[str] = set()
            for imp in e.imports:
                kind, v = self._lookup(e, imp)
                if kind == DEP:
                    d.add(v.name)
                    if v.name not in deps and v.kind == "module":
                        stack.append(v.name)
                elif kind == WAIT:
                    blocked.add(n)
            deps[n] = d
        cand = {n for n in deps if n not in blocked}
        changed = True
        while changed:
            changed = False
            for n in list(cand):
                if any(d not in cand for d in deps[n]):
                    cand.discard(n)
                    changed = True
        if not cand:
            return None
        order = sorted(cand, key=lambda n: self._entries[n].index)
        for scc in tarjan(order, {n: deps[n] & cand for n in order}):
            if len(scc) > 1 or scc[0] in deps[scc[0]]:
                return scc
        return None

    def _instantiate_cycle(self, scc: list[str]) -> None:
        from wasmweld.runtime.trampoline import Trampoline, TrampolineSpec

        members = [self._entries[n] for n in self._order if n in scc]
        names = {e.name for e in members}
        # order: providers of non-function imports first
        hard: dict[str, set[str]] = {e.name: set() for e in members}
        for e in members:
            for imp in e.imports:
                if imp.module in names and kind_of(imp.type) != "func":
                    hard[e.name].add(imp.module)
        order: list[Entry] = []
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
                    if imp.bad is not None:
                        raise LinkError(f"cannot route {e.name} -> {imp.label} through a trampoline (the modules import "
                                        f"each other in a cycle): its type {imp.bad.desc} uses {imp.bad.bad}, which "
                                        "the wasmtime Python API cannot represent")
                    i = spec.add([vt_name(t) for t in ft.params], [vt_name(t) for t in ft.results],
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
                    if kind != OK:  # provider earlier in the order is ready by now
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
    def _ready_entry(self, module: str | int) -> Entry:
        if isinstance(module, int) and not isinstance(module, bool):
            if not 0 <= module < len(self._order):
                raise LinkError(f"no module with index {module} (the World has {len(self._order)})")
            module = self._order[module]
        e = self._entries.get(module) if isinstance(module, str) else None
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
                if kind == WAIT:
                    reasons.append(v)
                elif kind == DEP:
                    reasons.append(f"{imp.label}: module {v.name!r} is itself waiting")
            out[n] = reasons
        return out

    def link(self) -> None:
        """Raise LinkError if any module is still waiting for imports (naming each and what it lacks)."""
        pend = self.pending
        if pend:
            parts = [f"module {n!r}: " + "; ".join(r[:3]) for n, r in pend.items()]
            hint = (f" (to run anyway, {self.option_names['stub_missing']} stubs every missing import with a "
                    f"function that traps when called, or {self.option_names['stub']} stubs one)")
            raise LinkError("unsatisfied imports: " + " | ".join(parts) + hint)

    def _wrap(self, ext, label: str, sig=None):
        if isinstance(ext, wasmtime.Func):
            return Function(ext, self.store, label, sig, self._lock)
        if isinstance(ext, wasmtime.Memory):
            return Memory(ext, self.store, label)
        if isinstance(ext, wasmtime.Global):
            return Global(ext, self.store, label, sig)
        if isinstance(ext, wasmtime.Table):
            return Table(ext, self.store, label, sig)
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
        return Function(ext, self.store, f"{e.name}.{name}", e.bad_exports.get(name), self._lock)

    def invoke(self, module: str | int, name: str, *args: Any) -> Any:
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
        nimp = sum(1 for imp in e.imports if kind_of(imp.type) == "func")
        if func_idx < 0:
            raise LinkError(f"module {e.name!r}: function index {func_idx} is negative")
        if func_idx < nimp:
            k = [i for i, imp in enumerate(e.imports) if kind_of(imp.type) == "func"][func_idx]
            return Function(e.bound[k], self.store, f"{e.name}.func[{func_idx}] (import {e.imports[k].label})",
                            e.imports[k].bad, self._lock)
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
                return Function(e.exports[ex.name], self.store, f"{e.name}.func[{func_idx}] ({ex.name})",
                                e.bad_exports.get(ex.name), self._lock)
        raise LinkError(f"function {func_idx} of module {e.name!r} is not exported; "
                        f"add the module with export_all=True to call it by index")

    def exports(self, module: str | int) -> dict[str, Any]:
        """All exports of a module: Function, Memory, Global or Table wrappers by export name."""
        e = self._ready_entry(module)
        return {n: self._wrap(x, f"{e.name}.{n}", e.bad_exports.get(n)) for n, x in e.exports.items()}

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

    @property
    def lock(self) -> threading.RLock:
        """The lock held around every call into this World's store (see docs/security.md, thread model)."""
        return self._lock

    def entry(self, module: str | int) -> Entry:
        """The World's record of an instantiated module (for the runtime package's own use)."""
        return self._ready_entry(module)

    def instance(self, module: str | int) -> wasmtime.Instance:
        """The underlying ``wasmtime.Instance`` (for uses the wrappers do not cover)."""
        inst = self._ready_entry(module).instance
        if inst is None:  # pragma: no cover - a ready entry is instantiated
            raise LinkError(f"module {module!r} is not instantiated")
        return inst

    # -- fuel / WASI ----------------------------------------------------------------------
    @property
    def fuel(self) -> int | None:
        """Fuel left (None when the World was made without ``fuel``)."""
        if not self.settings["fuel"]:
            return None
        return self.store.get_fuel()

    @_locked
    def set_fuel(self, fuel: int) -> None:
        if not self.settings["fuel"]:
            raise ExecutionError("this World was created without fuel metering (World(fuel=...))")
        self.store.set_fuel(check_fuel(fuel))

    @_locked
    def run_command(self, module: str | int, argv: Iterable[str] | None = None) -> int:
        """Run a WASI command module (its ``_start``); return the exit status."""
        e = self._ready_entry(module)
        if argv is not None:
            if self.wasi_options is None:
                raise LinkError("run_command(argv=...) needs a World with WASI enabled")
            from wasmweld.runtime.wasi import make_wasi_config

            self.store.set_wasi(make_wasi_config(self.wasi_options.with_argv(argv)))
        start = e.exports.get("_start")
        if not isinstance(start, wasmtime.Func):
            raise LinkError(f"module {e.name!r} is not a WASI command: it has no _start function export")
        try:
            start(self.store)
        except wasmtime.ExitTrap as x:
            return x.code
        except (wasmtime.Trap, wasmtime.WasmtimeError) as x:
            raise exec_error(x, f"{e.name}._start") from None
        return 0

    # -- dynamic linking ------------------------------------------------------------------
    @_locked
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
        ordinary shared-nothing instance. A file already loaded as a side module (by ``dlopen``, or as a
        NEEDED library) is not loaded again: its handle is returned, as ``dlopen`` does.
        """
        if name is None and self._dl is not None and isinstance(source, (str, os.PathLike)) \
                and not (isinstance(source, str) and source.lstrip().startswith("(")):
            loaded = self._dl.loaded_from(os.fspath(source))
            if loaded is not None:
                return loaded
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
        if dl is None or wasm is None:
            return self._add_compiled(name, wasm, module)
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
    def dl_limits(self) -> DlLimits:
        """The bounds on side modules' ``dylink.0`` requests (``World(dl_limits=...)``, else the defaults)."""
        lim = self._dl_limits
        if lim is None:  # made on first use: DlLimits lives with the dynamic linker (imported when needed)
            from wasmweld.runtime.dylink_loader import DlLimits

            lim = self._dl_limits = DlLimits()
        return lim

    @dl_limits.setter
    def dl_limits(self, value: DlLimits) -> None:
        self._dl_limits = value

    @property
    def dynamic_linker(self) -> Any:
        """The :class:`~wasmweld.runtime.dylink_loader.DynamicLinker` (None before the first side module)."""
        return self._dl

    def _register_loaded(self, entry: Entry) -> None:
        self._register(entry)
        self._settle(new=entry.name)
