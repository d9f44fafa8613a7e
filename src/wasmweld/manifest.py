"""World manifests: one TOML description of a set of modules, run as a swarm or merged into one.

A manifest names the modules of a world, what the host provides, and the entry
points. The same file drives ``wasmweld run world.toml`` (each module its own
instance in a :class:`~wasmweld.runtime.world.World`) and ``wasmweld merge
--world world.toml`` (one merged module); both must give the same answers::

    # world.toml
    [world]
    name = "bank"                 # optional, used for the merged module's name
    # fuel = 10_000_000           # optional instruction budget for the swarm
    # cache_dir = ".wasm-cache"   # optional compiled-artifact cache (relative to this file)

    [[module]]                    # in dependency order or not: the World sorts it out
    name = "logger"
    path = "logger.wasm"          # relative to this file; .wasm, .wat or .cwasm

    [[module]]
    name = "ledger"
    path = "ledger.wat"

    [[module]]
    name = "bank"
    path = "bank.wasm"

    [stubs]                       # host-provided imports to stub: "module.name" or a whole "module"
    "env.now" = "zero"            # returns zeros
    "debug" = "trap"              # every import from module "debug" traps when called

    [wasi]                        # present = WASI on (absent: off)
    args = ["bank"]
    env = { LANG = "C" }
    stdout = "inherit"            # "inherit", a file path, or omit to discard
    preopens = { "/data" = "data" }   # guest path = host directory (relative to this file)
    readonly = ["/data"]

    [entries]                     # entry points: name = "module.export"
    transfer = "bank.transfer"
    balance = "ledger.balance"

``wasmweld run world.toml --invoke transfer 1 2 50`` (or ``--invoke
bank.transfer 1 2 50``) calls ``bank.transfer``; the merged module
(:func:`merge_world`) keeps every module's exports (a clash is renamed
``module:name``) and also exports each entry point under its entry name.

Only the standard library is used (``tomllib``; ``tomli`` on Python 3.10, see :mod:`wasmweld._toml`).
"""

from __future__ import annotations

import os
import stat
from .record import field, record
from typing import Any

from wasmweld import _toml
from wasmweld.errors import LinkError, WasmError

__all__ = ["WorldManifest", "ModuleSpec", "StubSpec", "EntryPoint", "ManifestError", "load_manifest",
           "parse_manifest", "merge_world", "merged_export_name", "is_manifest"]


#: a manifest larger than this is refused (it describes a handful of modules)
MAX_MANIFEST_SIZE = 1 << 24


class ManifestError(WasmError):
    """A world manifest cannot be read or does not make sense (names the file and the key)."""


@record(frozen=True)
class ModuleSpec:
    name: str
    path: str  # absolute


@record(frozen=True)
class StubSpec:
    module: str
    name: str | None  # None: every import from ``module``
    action: str = "trap"  # "trap" | "zero"


@record(frozen=True)
class EntryPoint:
    name: str
    module: str
    func: str


@record
class WorldManifest:
    """A parsed manifest; paths are absolute."""

    path: str | None
    base_dir: str
    name: str | None = None
    modules: list[ModuleSpec] = field(default_factory=list)
    stubs: list[StubSpec] = field(default_factory=list)
    wasi: Any = None  # WasiOptions | None
    entries: dict[str, EntryPoint] = field(default_factory=dict)
    fuel: int | None = None
    cache_dir: str | None = None
    stub_missing: bool = False
    merge_options: dict[str, Any] = field(default_factory=dict)
    #: the ``[fuse]`` table (``wasmweld fuse world.toml``): plugs, emit, single_memory, memory_reserve, gc
    fuse_options: dict[str, Any] = field(default_factory=dict)

    def module(self, name: str) -> ModuleSpec:
        for m in self.modules:
            if m.name == name:
                return m
        raise ManifestError(f"{self._where()}: no module named {name!r}")

    def resolve_entry(self, text: str) -> tuple[str, str]:
        """``"transfer"`` (an entry name) or ``"bank.transfer"`` (module.export) -> (module, export)."""
        if text in self.entries:
            e = self.entries[text]
            return e.module, e.func
        names = sorted((m.name for m in self.modules), key=len, reverse=True)
        for n in names:
            if text.startswith(n + ".") and len(text) > len(n) + 1:
                return n, text[len(n) + 1:]
        known = ", ".join(sorted(self.entries)) or "none"
        raise ManifestError(f"{self._where()}: {text!r} is neither an entry point (entries: {known}) "
                            "nor MODULE.EXPORT of one of its modules")

    def _where(self) -> str:
        return self.path or "world manifest"


def is_manifest(path: str | os.PathLike[str]) -> bool:
    """True for a ``.toml`` file (what ``wasmweld run`` treats as a world manifest)."""
    return os.fspath(path).endswith(".toml")


def load_manifest(path: str | os.PathLike[str], *, confine: bool = True) -> WorldManifest:
    """Read and parse a manifest file (see :func:`parse_manifest` for ``confine``)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):  # a device or a pipe could be endless
                raise ManifestError(f"{path}: not a regular file")
            text = f.read(MAX_MANIFEST_SIZE + 1)
            if len(text) > MAX_MANIFEST_SIZE:
                raise ManifestError(f"{path}: larger than {MAX_MANIFEST_SIZE:,} characters; not a world manifest")
    except OSError as e:
        raise ManifestError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text") from None
    return parse_manifest(text, os.path.dirname(os.path.abspath(path)), path, confine=confine)


def _str(v: Any, where: str, key: str) -> str:
    if not isinstance(v, str) or not v:
        raise ManifestError(f"{where}: {key} must be a non-empty string, not {v!r}")
    return v


def parse_manifest(text: str, base_dir: str = ".", origin: str | None = None, *,
                   confine: bool = True) -> WorldManifest:
    """Parse manifest ``text``; relative paths are taken from ``base_dir``.

    A manifest is as powerful as a script: it picks the files its guests may read and
    write and what they see of the host. With ``confine`` (the default) every path that
    grants something (the cache, WASI stdin/stdout/stderr, preopened directories) must lie
    inside ``base_dir`` (symbolic links resolved; absolute paths and ``..`` only when
    they stay inside) and ``wasi.inherit_env`` is refused; ``confine=False``
    (``wasmweld run --trust-manifest``) lifts both.
    """
    where = origin or "world manifest"
    data = _toml.loads(text, where, ManifestError, "not valid TOML")
    base_dir = os.path.abspath(base_dir)
    base_real = os.path.realpath(base_dir)
    known = {"world", "module", "modules", "stubs", "wasi", "entries", "merge", "fuse"}
    extra = sorted(set(data) - known)
    if extra:
        raise ManifestError(f"{where}: unknown key(s) {', '.join(extra)} (known: {', '.join(sorted(known))})")
    man = WorldManifest(origin, base_dir)

    def abspath(p: str, key: str = "") -> str:
        full = p if os.path.isabs(p) else os.path.normpath(os.path.join(base_dir, p))
        if confine and key:
            real = os.path.realpath(full)
            if real != base_real and not real.startswith(base_real.rstrip(os.sep) + os.sep):
                raise ManifestError(f"{where}: {key} = {p!r} is outside the manifest's folder {base_dir}; a manifest "
                                    "may name only files inside its folder (wasmweld run --trust-manifest lifts this)")
        return full

    _parse_world(data.get("world", {}), man, where, abspath)

    mods = data.get("module", data.get("modules", []))
    if "module" in data and "modules" in data:
        raise ManifestError(f"{where}: use either [[module]] or modules = [...], not both")
    if not isinstance(mods, list) or not mods:
        raise ManifestError(f"{where}: no modules: add [[module]] tables with name and path")
    seen: set[str] = set()
    for i, m in enumerate(mods):
        if not isinstance(m, dict):
            raise ManifestError(f"{where}: module #{i + 1} must be a table with name and path")
        for k in m:
            if k not in ("name", "path"):
                raise ManifestError(f"{where}: unknown key {k!r} in module #{i + 1}")
        name = _str(m.get("name"), where, f"module #{i + 1}.name")
        path = _str(m.get("path"), where, f"module {name!r}.path")
        if name in seen:
            raise ManifestError(f"{where}: module name {name!r} appears twice")
        seen.add(name)
        man.modules.append(ModuleSpec(name, abspath(path)))  # code runs sandboxed: read from anywhere

    man.stubs = _parse_stubs(data.get("stubs", {}), where)

    if "wasi" in data:
        man.wasi = _wasi(data["wasi"], where, abspath, confine)

    entries = data.get("entries", {})
    if not isinstance(entries, dict):
        raise ManifestError(f"{where}: [entries] must be a table of name = \"module.export\"")
    for ename, target in entries.items():
        target = _str(target, where, f"entries.{ename}")
        mod = next((n for n in sorted(seen, key=len, reverse=True) if target.startswith(n + ".")), None)
        if mod is None or len(target) <= len(mod) + 1:
            raise ManifestError(f"{where}: entries.{ename} = {target!r} must be MODULE.EXPORT with MODULE one of "
                                f"{', '.join(sorted(seen))}")
        man.entries[ename] = EntryPoint(ename, mod, target[len(mod) + 1:])

    merge = data.get("merge", {})
    if not isinstance(merge, dict):
        raise ManifestError(f"{where}: [merge] must be a table of merge options")
    from wasmweld.link.merge import check_options  # stdlib-only, like the manifest

    try:
        check_options(merge)
    except LinkError as e:
        raise ManifestError(f"{where}: [merge]: {e}") from None
    man.merge_options = dict(merge)
    if "fuse" in data:      # components fused by `wasmweld fuse world.toml` (wasmweld.fuse.pipeline)
        from wasmweld.fuse.options import check_options as check_fuse_options

        try:
            man.fuse_options = check_fuse_options(data["fuse"])
        except WasmError as e:
            raise ManifestError(f"{where}: [fuse]: {e}") from None
    return man


def _parse_world(world: Any, man: WorldManifest, where: str, abspath) -> None:
    """The ``[world]`` table: name, fuel, cache_dir, stub_missing."""
    if not isinstance(world, dict):
        raise ManifestError(f"{where}: [world] must be a table")
    for k in world:
        if k not in ("name", "fuel", "cache_dir", "stub_missing"):
            raise ManifestError(f"{where}: unknown key world.{k}")
    if "name" in world:
        man.name = _str(world["name"], where, "world.name")
    if "fuel" in world:
        if not isinstance(world["fuel"], int) or isinstance(world["fuel"], bool) or \
                not 0 <= world["fuel"] < 1 << 64:
            raise ManifestError(f"{where}: world.fuel must be a whole number from 0 to {(1 << 64) - 1}")
        man.fuel = world["fuel"]
    if "cache_dir" in world:
        man.cache_dir = abspath(_str(world["cache_dir"], where, "world.cache_dir"), "world.cache_dir")
    if "stub_missing" in world:
        if not isinstance(world["stub_missing"], bool):
            raise ManifestError(f"{where}: world.stub_missing must be true or false")
        man.stub_missing = world["stub_missing"]


def _parse_stubs(stubs: Any, where: str) -> list[StubSpec]:
    """The ``[stubs]`` table: ``"module.name" = "trap" | "default"`` (``"zero"``: the old name of default)."""
    out = []
    if not isinstance(stubs, dict):
        raise ManifestError(f"{where}: [stubs] must be a table of \"module.name\" = \"trap\" | \"zero\"")
    for key, action in stubs.items():
        if action == "default":  # edit --stub-default's word for it
            action = "zero"
        if action not in ("trap", "zero"):
            raise ManifestError(f"{where}: stubs.{key!r} must be \"trap\" or \"zero\" (also spelled \"default\"), "
                                f"not {action!r}")
        mod, dot, nm = key.partition(".")
        if not mod:
            raise ManifestError(f"{where}: bad stub key {key!r}")
        out.append(StubSpec(mod, nm if dot else None, action))
    return out


def _wasi(w: Any, where: str, abspath, confine: bool = True):
    from wasmweld.runtime.wasi import Preopen, WasiOptions  # stdlib-only module (wasmtime imported lazily)

    if w is True:
        return WasiOptions(stdin="inherit")
    if w is False:
        return None
    if not isinstance(w, dict):
        raise ManifestError(f"{where}: [wasi] must be a table (or wasi = true)")
    allowed = {"args", "env", "inherit_env", "stdin", "stdout", "stderr", "preopens", "readonly"}
    for k in w:
        if k not in allowed:
            raise ManifestError(f"{where}: unknown key wasi.{k} (known: {', '.join(sorted(allowed))})")
    args = w.get("args")
    if args is not None and (not isinstance(args, list) or not all(isinstance(a, str) for a in args)):
        raise ManifestError(f"{where}: wasi.args must be a list of strings")
    env = w.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ManifestError(f"{where}: wasi.env must be a table of strings")
    if not isinstance(w.get("inherit_env", False), bool):
        raise ManifestError(f"{where}: wasi.inherit_env must be true or false")
    if w.get("inherit_env") and confine:
        raise ManifestError(f"{where}: wasi.inherit_env = true would give the guests this process's whole "
                            "environment; refused unless the manifest is trusted (wasmweld run --trust-manifest)")
    readonly = w.get("readonly", [])
    if not isinstance(readonly, list) or not all(isinstance(g, str) for g in readonly):
        raise ManifestError(f"{where}: wasi.readonly must be a list of guest paths (strings)")
    preopens = w.get("preopens") or {}
    if not isinstance(preopens, dict):
        raise ManifestError(f"{where}: wasi.preopens must be a table of \"guest path\" = \"host directory\"")
    unknown = sorted(set(readonly) - set(preopens))
    if unknown:
        raise ManifestError(f"{where}: wasi.readonly names {', '.join(map(repr, unknown))}, which wasi.preopens "
                            "does not open")
    pre = []
    for guest, host in preopens.items():
        pre.append(Preopen(abspath(_str(host, where, f"wasi.preopens.{guest}"), f"wasi.preopens.{guest!r}"), guest,
                           guest not in readonly))

    def stream(key: str, default):
        v = w.get(key, default)
        if v is None or v == "inherit":
            return v
        return abspath(_str(v, where, f"wasi.{key}"), f"wasi.{key}")

    return WasiOptions(argv=tuple(args) if args is not None else None, env=dict(env),
                       inherit_env=bool(w.get("inherit_env", False)), stdin=stream("stdin", None),
                       stdout=stream("stdout", "inherit"), stderr=stream("stderr", "inherit"), preopens=tuple(pre))


# ----------------------------------------------------------------------------------------
# the one-world variant


def merge_world(manifest: WorldManifest | str | os.PathLike[str], **options: Any) -> bytes:
    """Build the one merged module of a manifest (the bytes ``wasmweld merge --world`` writes).

    Imports :mod:`wasmweld.link.merge` lazily. Every module of the manifest is an
    input under its name; imports between them are fused; imports of anything
    else (stubs, host functions, WASI) stay imports of the merged module.
    ``options`` (and the manifest's ``[merge]`` table) go to ``merge()``.

    TODO(lead): the merge options/entry-point naming are wired to the merge API as
    it stands (``merge([(name, path)], export_conflicts=...)`` returning a Module);
    adjust here if it changes.
    """
    if not isinstance(manifest, WorldManifest):
        manifest = load_manifest(manifest)
    from wasmweld.link.merge import merge

    inputs, opts = _merge_inputs(manifest, options)
    module = merge(inputs, **opts)
    if manifest.entries:
        # the entry points are the world's interface: exported under their entry names, taking
        # precedence over a module export of the same name (other exports are kept)
        from wasmweld.module import Export

        mp = _merge_plan(inputs, opts)
        by_name = {e.name: e for e in module.exports}
        entry_exports = []
        for ent in manifest.entries.values():
            out = mp.export_name(ent.module, ent.func)
            if out is None or out not in by_name:
                raise LinkError(f"entry point {ent.name!r}: {ent.module}.{ent.func} is not an export of the "
                                "merged module")
            src = by_name[out]
            entry_exports.append(src if src.name == ent.name else Export(ent.name, src.kind, src.index))
        names = {e.name for e in entry_exports}
        module.exports[:] = [e for e in module.exports if e.name not in names] + entry_exports
    return module.encode()


def _merge_inputs(manifest: WorldManifest, options: dict[str, Any]) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The merge inputs and options of ``manifest`` (its ``[merge]`` table, then ``options``)."""
    opts: dict[str, Any] = {"export_conflicts": "rename"}
    opts.update(manifest.merge_options)
    opts.update(options)
    if manifest.name and "module_name" not in opts:
        opts["module_name"] = manifest.name
    return [(m.name, m.path) for m in manifest.modules], opts


def _merge_plan(inputs: list[tuple[str, str]], opts: dict[str, Any]) -> Any:
    from wasmweld.link.merge import merge_plan

    return merge_plan(inputs, **{k: v for k, v in opts.items() if k not in ("warn", "report")})


def merged_export_name(manifest: WorldManifest | str | os.PathLike[str], module: str, export: str,
                       **options: Any) -> str | None:
    """The name export ``export`` of ``module`` has in :func:`merge_world`'s output (None: not exported).

    An entry point that names it is preferred (the merged module exports entry points
    under their entry names); otherwise the name the merge gives it (``module.export``
    renamed on a conflict, or ``export`` itself)::

        merged_export_name("world.toml", "shop", "demo")   # -> "demo" or "shop.demo"
    """
    if not isinstance(manifest, WorldManifest):
        manifest = load_manifest(manifest)
    for ent in manifest.entries.values():
        if (ent.module, ent.func) == (module, export):
            return ent.name
    inputs, opts = _merge_inputs(manifest, options)
    out: str | None = _merge_plan(inputs, opts).export_name(module, export)
    return out
