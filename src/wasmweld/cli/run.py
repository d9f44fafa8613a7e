"""``wasmweld run TARGET [--invoke FUNC ARGS...]``: run a module, a compiled artifact or a world.

TARGET is a ``.wasm``/``.wat`` module, a ``.cwasm`` artifact from ``wasmweld
compile``, or a ``.toml`` world manifest (see :mod:`wasmweld.manifest`)::

    $ wasmweld run hello.wasm a b          # a WASI command: runs _start, exits with its status
    $ wasmweld run math.wasm --invoke add 2 3
    5
    $ wasmweld run world.toml --invoke bank.transfer 1 2 50      # the manifest as a swarm
    1
    $ wasmweld run world.toml --merged --invoke transfer 1 2 50  # the manifest as one merged module
    1

Arguments of ``--invoke`` are converted to the function's parameter types
(integers may be hex or negative; i32 also takes 0..2**32-1); results are
printed one per line. A trap is reported as ``error: ...`` with status 1.
WASI is on for single modules (stdio inherited, no files unless ``--dir``) and
as the manifest says for worlds (``--wasi`` forces it on).
"""

from __future__ import annotations

import os
import sys

from wasmweld.errors import ExecutionError, LinkError, WasmError

NAME = "run"


def register(subparsers):
    p = subparsers.add_parser(
        NAME,
        help="run a module, a compiled .cwasm or a world manifest",
        description="Run TARGET (.wasm/.wat module, .cwasm artifact, or .toml world manifest). Without --invoke, "
        "runs the WASI command's _start with ARGS as its arguments; with --invoke FUNC, calls FUNC with ARGS.",
    )
    p.add_argument("target", metavar="TARGET", help="module, compiled artifact or world manifest ('-': a module on stdin)")
    p.add_argument("--invoke", nargs="+", metavar=("FUNC", "ARG"),
                   help="call FUNC (EXPORT or MODULE.EXPORT; worlds: also an entry point name) with ARGs")
    p.add_argument("args", nargs="*", metavar="ARG",
                   help="arguments of the WASI command (right after TARGET; options go before TARGET or after them)")
    p.add_argument("--merged", action="store_true",
                   help="(world manifests) run the one merged module instead of the swarm")
    p.add_argument("--wasi", dest="wasi", action="store_true", default=None, help="enable WASI")
    p.add_argument("--no-wasi", dest="wasi", action="store_false", help="disable WASI")
    p.add_argument("--dir", action="append", default=[], metavar="HOST[::GUEST]",
                   help="preopen a host directory for WASI (repeatable)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment variable for WASI (repeatable)")
    p.add_argument("--fuel", type=int, metavar="N", help="stop after N units of fuel (about N instructions)")
    p.add_argument("--cache", metavar="DIR", help="compiled-artifact cache directory")
    p.add_argument("--stub", action="append", default=[], metavar="MODULE[.NAME]",
                   help="satisfy these imports with stubs that trap when called (repeatable)")
    p.add_argument("--stub-missing", action="store_true", help="stub every import nothing else provides")
    p.add_argument("--dlopen", action="append", default=[], metavar="SIDE",
                   help="load a side module (dylink.0) into the main module before running (repeatable)")
    return p


def _wasi_options(args, argv: list[str], base=None):
    from dataclasses import replace

    from wasmweld.runtime.wasi import Preopen, WasiOptions

    env = {}
    for item in args.env:
        k, eq, v = item.partition("=")
        if not eq or not k:
            raise LinkError(f"--env wants NAME=VALUE, got {item!r}")
        env[k] = v
    pre = []
    for d in args.dir:
        host, sep, guest = d.partition("::")
        pre.append(Preopen(host, guest if sep else host))
    if base is None:
        base = WasiOptions(stdin="inherit")
    return replace(base, argv=tuple(argv) if base.argv is None else base.argv,
                   env={**dict(base.env), **env}, preopens=tuple(base.preopens) + tuple(pre))


def convert_args(fn, raw: list[str]) -> list:
    """Convert command-line strings to the parameter types of ``fn`` (a World Function)."""
    params = fn.params
    if len(raw) != len(params):
        raise ExecutionError(f"{fn.name} takes {len(params)} argument(s) ({', '.join(params) or 'none'}), "
                             f"got {len(raw)}")
    out = []
    for text, t in zip(raw, params):
        try:
            if t in ("i32", "i64"):
                v = int(text, 0)
                bits = 32 if t == "i32" else 64
                if not -(1 << (bits - 1)) <= v < (1 << bits):
                    raise ValueError
                if v >= 1 << (bits - 1):
                    v -= 1 << bits
                out.append(v)
            elif t in ("f32", "f64"):
                out.append(float(text))
            else:
                raise ExecutionError(f"{fn.name}: parameters of type {t} cannot be given on the command line")
        except ValueError:
            raise ExecutionError(f"{fn.name}: {text!r} is not a valid {t}") from None
    return out


def _print_results(result) -> None:
    if result is None:
        return
    values = result if isinstance(result, tuple) else (result,)
    for v in values:
        print(v)


def _artifact_fuel_hint(path: str, fuel) -> None:
    from wasmweld.runtime.cache import is_artifact, read_artifact_meta

    if fuel is None and is_artifact(path):
        meta = read_artifact_meta(path, verify=False)
        settings = meta.get("settings")
        if isinstance(settings, dict) and settings.get("fuel"):
            raise ExecutionError(f"{path} was compiled with fuel metering (wasmweld compile --fuel): "
                                 "run it with --fuel N")


def run(args) -> int:
    from wasmweld.cli.component_cmds import run_component_cli
    from wasmweld.runtime.component_world import component_source
    if component_source(args.target):  # a component: wasi:cli/run, or --invoke 'f(WAVE args)'
        if isinstance(args.invoke, list):
            args.invoke = " ".join(args.invoke)
        return run_component_cli(args)
    if args.invoke is not None:
        if args.args:
            raise ExecutionError("give the function's arguments after --invoke FUNC")
        args.invoke, args.args = args.invoke[0], list(args.invoke[1:])
    return _run(args)


def _check_entries(world, man, target: str) -> None:
    """Every entry point of the manifest must name an export (the merged variant checks this too)."""
    for ent in man.entries.values():
        if ent.func not in world.exports(ent.module):
            raise LinkError(f"{target}: entry point {ent.name!r}: {ent.module}.{ent.func} is not an export of "
                            f"module {ent.module!r}")


def _run(args) -> int:
    from wasmweld.cli.io import blame, display_name, read_input
    from wasmweld.manifest import is_manifest, load_manifest, merge_world
    from wasmweld.runtime.world import World

    target = args.target
    if target != "-" and not os.path.exists(target):
        raise WasmError(f"{target}: no such file")
    stubs = []
    for s in args.stub:
        mod, dot, nm = s.partition(".")
        if not mod or (dot and not nm):
            raise LinkError(f"--stub wants MODULE or MODULE.NAME, got {s!r}")
        stubs.append((mod, nm if dot else None))

    if is_manifest(target):
        man = load_manifest(target)
        wasi = man.wasi
        if args.wasi is True or (wasi is not None and args.wasi is not False) or args.dir or args.env:
            wasi = _wasi_options(args, [man.name or os.path.basename(target)], wasi)
        elif args.wasi is False:
            wasi = None
        fuel = args.fuel if args.fuel is not None else man.fuel
        cache = args.cache or man.cache_dir

        def manifest_world() -> World:
            """The World the manifest describes, its stubs and the --stub ones declared, no module added."""
            w = World(wasi=wasi or False, cache_dir=cache, fuel=fuel,
                      stub_missing=args.stub_missing or man.stub_missing)
            for st in man.stubs:
                w.stub(st.module, st.name, action=st.action)
            for mod, nm in stubs:
                w.stub(mod, nm)
            return w

        if args.merged:
            try:
                data = merge_world(man)
            except WasmError as exc:  # about one module of the manifest: name its file
                spec = next((m for m in man.modules if m.name == getattr(exc, "merge_input", None)), None)
                if spec is not None and getattr(exc, "input_name", None) is None:
                    exc.input_name = spec.path
                if isinstance(exc, LinkError) and len(exc.problems) > 1 and getattr(exc, "input_name", None) is None:
                    from wasmweld.cli.merge import error_line  # one line, as `wasmweld merge` prints it

                    print(f"error: {error_line(exc, f'wasmweld merge --world {target} --plan')}", file=sys.stderr)
                    return 1
                raise
            world = manifest_world()
            name = man.name or "world"
            with blame(target):
                world.add(name, data)
            module_of = lambda text: (name, text)  # noqa: E731 - merged: every entry is an export
        else:
            world = manifest_world()
            for spec in man.modules:
                with blame(spec.path):
                    world.add(spec.name, spec.path)
            module_of = man.resolve_entry
        for side in args.dlopen:
            with blame(side):
                world.dlopen(side)
        world.link()
        if not args.merged:
            _check_entries(world, man, target)
        if args.invoke is None:
            entry = next((e for e in ("main", "_start") if e in man.entries), None)
            if entry is None:
                raise ExecutionError(f"{target}: nothing to run: give --invoke ENTRY (entries: "
                                     f"{', '.join(sorted(man.entries)) or 'none'})")
            args.invoke = entry
        mod, func = module_of(args.invoke)
        fn = world.get_fn(mod, func)
        _print_results(fn(*convert_args(fn, args.args)))
        return 0

    if args.merged:
        raise LinkError("--merged applies to world manifests (.toml) only")
    if target == "-":
        source, base, name = read_input("-"), display_name("-"), "main"
    else:
        _artifact_fuel_hint(target, args.fuel)
        source, base = target, os.path.basename(target)
        name = base.rsplit(".", 1)[0] or "main"
    wasi = False if args.wasi is False else _wasi_options(args, [base] + (args.args if args.invoke is None else []))
    world = World(wasi=wasi, cache_dir=args.cache, fuel=args.fuel, stub_missing=args.stub_missing)
    for mod, nm in stubs:
        world.stub(mod, nm)
    with blame(target):
        world.add(name, source)
    for side in args.dlopen:
        with blame(side):
            world.dlopen(side)
    world.link()
    if args.invoke is None:
        status = world.run_command(name)
        sys.stdout.flush()
        return status
    mod, func = name, args.invoke
    if "." in args.invoke and args.invoke not in world.exports(name):
        m, _, f = args.invoke.partition(".")
        if m in world:
            mod, func = m, f
    fn = world.get_fn(mod, func)
    _print_results(fn(*convert_args(fn, args.args)))
    return 0
