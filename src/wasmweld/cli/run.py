"""``wasmweld run TARGET [OPTIONS] [--] [ARG...]``: run a module, a compiled artifact or a world.

TARGET is a ``.wasm``/``.wat`` module, a ``.cwasm`` artifact from ``wasmweld
compile``, or a ``.toml`` world manifest (see :mod:`wasmweld.manifest`)::

    $ wasmweld run hello.wasm a -V         # a WASI command: runs _start with argv [hello.wasm, a, -V]
    $ wasmweld run hello.wasm --fuel 9999 -- --fuel   # wasmweld's options first; after -- all is the guest's
    $ wasmweld run math.wasm --invoke add 2 3
    5
    $ wasmweld run world.toml --invoke bank.transfer 1 2 50      # the manifest as a swarm
    1
    $ wasmweld run world.toml --merged --invoke transfer 1 2 50  # the manifest as one merged module
    1

After TARGET, wasmweld's own options are read as long as they come first; the
first other argument (or everything after ``--``) starts the guest's
arguments, which all belong to the guest (``-V`` included).

Exit status: 0 when the guest ran (whatever its own exit status: a non-zero
one is named on stderr, ``wasmweld: hello.wasm: the guest exited with status
3``); 1 for an error (bad input, a trap, unsatisfied imports); 2 for a bug in
wasmweld. ``--propagate-exit`` makes the guest's status wasmweld's (as
``wasmtime run`` does). ``--json`` prints one JSON object on stdout:
``{"schema": 1, "target": ..., "invoke": FUNC or null, "results": [...],
"exit_status": N or null}``.

Arguments of ``--invoke`` are converted to the function's parameter types
(integers may be hex or negative; i32 also takes 0..2**32-1); results are
printed one per line. WASI is on for single modules (stdio inherited, no
files unless ``--dir``) and as the manifest says for worlds (``--wasi``
forces it on). A world manifest is as powerful as a script (it chooses the
files its guests read and write): it may only name paths inside its own
folder and cannot pass on the environment unless ``--trust-manifest``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from wasmweld.runtime.objects import Function

import argparse
import json
import os
import sys

from wasmweld.errors import ExecutionError, LinkError, WasmError
from argparse import ArgumentParser, Namespace

NAME = "run"

_EPILOG = """\
trust model (docs/security.md):
  .cwasm    native code: loaded only when made by this user's wasmweld (authenticated with the key in
            ~/.config/wasmweld), or with --trust-artifact
  --cache   must be a directory of this user that others cannot write (--user-cache: ~/.cache/wasmweld)
  --dlopen  NEEDED libraries only from the side module's folder and --dlopen-path
  .toml     a world manifest is as powerful as a script: only paths inside its folder, no inherited
            environment, unless --trust-manifest
exit status: 0 ran (the guest's non-zero exit status is named on stderr), 1 error, 2 wasmweld bug;
  --propagate-exit: the guest's exit status instead
"""


def register(subparsers: Any) -> ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="run a module, a compiled .cwasm or a world manifest",
        description="Run TARGET (.wasm/.wat module, .cwasm artifact, or .toml world manifest). Without --invoke, "
        "runs the WASI command's _start with ARGs as its arguments; with --invoke FUNC, calls FUNC with ARGs. "
        "After TARGET, wasmweld's options come first; the first other argument, or everything after --, "
        "belongs to the guest.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="TARGET", help="module, compiled artifact or world manifest ('-': a module on stdin)")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARG",
                   help="the guest's arguments (after wasmweld's options; `--` ends wasmweld's options)")
    p.add_argument("--invoke", nargs="+", metavar=("FUNC", "ARG"),
                   help="call FUNC (EXPORT or MODULE.EXPORT; worlds: also an entry point name) with ARGs")
    p.add_argument("--merged", action="store_true",
                   help="(world manifests) run the one merged module instead of the swarm")
    p.add_argument("--wasi", dest="wasi", action="store_true", default=None, help="enable WASI")
    p.add_argument("--no-wasi", dest="wasi", action="store_false", help="disable WASI")
    p.add_argument("--dir", action="append", default=[], metavar="HOST[::GUEST]",
                   help="preopen a host directory for WASI (repeatable)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment variable for WASI (repeatable)")
    p.add_argument("--fuel", type=int, metavar="N", help="stop after N units of fuel (about N instructions)")
    p.add_argument("--propagate-exit", action="store_true",
                   help="exit with the guest's exit status (default: 0 when the guest ran; its status on stderr)")
    p.add_argument("--json", action="store_true", help='print {"schema": 1, ...} with the results on stdout')
    p.add_argument("--trust-manifest", action="store_true",
                   help="let a world manifest name paths outside its folder and pass on the environment")
    p.add_argument("--cache", metavar="DIR", help="compiled-artifact cache directory (private to this user: "
                   "refused when another user owns it or others can write it)")
    p.add_argument("--user-cache", action="store_true",
                   help="use the per-user artifact cache (~/.cache/wasmweld/artifacts)")
    p.add_argument("--trust-artifact", action="store_true",
                   help="load .cwasm files not made with this user's key (their machine code runs unchecked)")
    p.add_argument("--stub", action="append", default=[], metavar="MODULE[.NAME]",
                   help="satisfy these imports with stubs that trap when called (repeatable)")
    p.add_argument("--stub-missing", action="store_true", help="stub every import nothing else provides")
    p.add_argument("--dlopen", action="append", default=[], metavar="SIDE",
                   help="load a side module (dylink.0) into the main module before running (repeatable)")
    p.add_argument("--dlopen-path", action="append", default=[], metavar="DIR",
                   help="another folder where NEEDED libraries of side modules may be found (besides the side "
                   "module's own folder; repeatable)")
    p.add_argument("--dlopen-anywhere", action="store_true",
                   help="let NEEDED entries name absolute paths or '..' (off: they stay in the search path)")
    p.set_defaults(run_parser=p)
    return p
def _wasi_options(args: Namespace, argv: list[str], base=None):
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


def _world_options(args: Namespace) -> dict:
    return {"trust_artifacts": args.trust_artifact, "dlopen_path": args.dlopen_path,
            "dlopen_anywhere": args.dlopen_anywhere}


def convert_args(fn: Function, raw: list[str]) -> list[Any]:
    """Convert command-line strings to the parameter types of ``fn`` (a World Function)."""
    params = fn.params
    if len(raw) != len(params):
        raise ExecutionError(f"{fn.name} takes {len(params)} argument(s) ({', '.join(params) or 'none'}), "
                             f"got {len(raw)}")
    out: list[object] = []
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


def _artifact_fuel_hint(path: str, fuel, trusted: bool) -> None:
    from wasmweld.runtime.cache import is_artifact, read_artifact_meta

    if fuel is None and is_artifact(path):
        meta = read_artifact_meta(path, trusted=trusted)
        settings = meta.get("settings")
        if isinstance(settings, dict) and settings.get("fuel"):
            raise ExecutionError(f"{path} was compiled with fuel metering (wasmweld compile --fuel): "
                                 "run it with --fuel N")


def split_guest_args(parser: argparse.ArgumentParser, rest: list[str]) -> tuple[list[str], list[str]]:
    """Split what follows TARGET into (wasmweld's options, the guest's arguments).

    wasmweld's options are read while they come first; the first other argument,
    or everything after ``--``, belongs to the guest.
    """
    actions = parser._option_string_actions  # argparse's own table of option strings
    opts: list[str] = []
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok == "--":
            return opts, rest[i + 1:]
        act = actions.get(tok.split("=", 1)[0] if tok.startswith("--") else tok)
        if act is None:
            break
        opts.append(tok)
        i += 1
        if tok.startswith("--") and "=" in tok:
            continue
        n = act.nargs
        if n in ("+", "*"):
            k = 0
            while i + k < len(rest) and rest[i + k] != "--" and rest[i + k] not in actions:
                k += 1
        else:
            k = 1 if n is None else (n if isinstance(n, int) else 0)
        opts.extend(rest[i:i + k])
        i += k
    return opts, rest[i:]


def run(args: Namespace) -> int:
    parser = getattr(args, "run_parser", None)
    rest = list(args.args or [])
    if parser is not None and rest:
        opts, guest = split_guest_args(parser, rest)
        if opts:
            try:
                parser.parse_args([*opts, "--", args.target], namespace=args)
            except SystemExit as exc:  # a usage error in the options after TARGET
                return exc.code if isinstance(exc.code, int) else 2
        args.args = guest
    from wasmweld.cli.component_cmds import run_component_cli
    from wasmweld.runtime.component_world import component_source
    if component_source(args.target):  # a component: wasi:cli/run, or --invoke 'f(WAVE args)'
        if isinstance(args.invoke, list):
            args.invoke = " ".join(args.invoke)
        return run_component_cli(args)
    if args.invoke is not None:
        args.invoke, args.args = args.invoke[0], list(args.invoke[1:]) + list(args.args)
    outcome = _run(args)
    if outcome.get("failed"):  # already reported on stderr
        return 1
    return _finish(args, outcome)


def _check_entries(world, man, target: str) -> None:
    """Every entry point of the manifest must name an export (the merged variant checks this too)."""
    for ent in man.entries.values():
        if ent.func not in world.exports(ent.module):
            raise LinkError(f"{target}: entry point {ent.name!r}: {ent.module}.{ent.func} is not an export of "
                            f"module {ent.module!r}")


_CLI_OPTION_NAMES = {"wasi": "--wasi", "stub_missing": "--stub-missing", "stub": "--stub MODULE[.NAME]"}


def _parse_stubs(args: Namespace) -> list[tuple[str, str | None]]:
    stubs = []
    for s in args.stub:
        mod, dot, nm = s.partition(".")
        if not mod or (dot and not nm):
            raise LinkError(f"--stub wants MODULE or MODULE.NAME, got {s!r}")
        stubs.append((mod, nm if dot else None))
    return stubs


def _call(fn, raw: list[str]) -> dict:
    from wasmweld.runtime.world import ProcExit

    try:
        result = fn(*convert_args(fn, raw))
    except ProcExit as exc:  # a WASI guest's proc_exit from an invoked function
        return {"invoke": fn.name, "results": None, "exit_status": exc.code}
    values = [] if result is None else list(result) if isinstance(result, tuple) else [result]
    return {"invoke": fn.name, "results": values, "exit_status": None}


def _finish(args: Namespace, outcome: dict) -> int:
    """Print the results (or the JSON object); the exit status (see the module docstring)."""
    status = outcome.get("exit_status")
    if args.json:
        results = outcome.get("results")
        doc = {"schema": 1, "target": args.target, "invoke": outcome.get("invoke"),
               "results": None if results is None else [v if isinstance(v, (int, float)) else repr(v) for v in results],
               "exit_status": status}
        sys.stdout.flush()
        print(json.dumps(doc))
    else:
        for v in outcome.get("results") or ():
            print(v)
    sys.stdout.flush()
    if status:
        if args.propagate_exit:
            return status
        print(f"wasmweld: {args.target}: the guest exited with status {status} (--propagate-exit makes it "
              "wasmweld's exit status)", file=sys.stderr)
    return 0


def _manifest_world(args: Namespace, man, target: str, stubs):
    """The World a manifest describes (its stubs and the --stub ones declared), no module added yet."""
    from wasmweld.runtime.world import World

    wasi = man.wasi
    if args.wasi is True or (wasi is not None and args.wasi is not False) or args.dir or args.env:
        wasi = _wasi_options(args, [man.name or os.path.basename(target)], wasi)
    elif args.wasi is False:
        wasi = None
    w = World(wasi=wasi or False, cache_dir=args.cache or (True if args.user_cache else man.cache_dir),
              fuel=args.fuel if args.fuel is not None else man.fuel,
              stub_missing=args.stub_missing or man.stub_missing, **_world_options(args))
    w.option_names.update(_CLI_OPTION_NAMES)
    for st in man.stubs:
        w.stub(st.module, st.name, action=st.action)
    for mod, nm in stubs:
        w.stub(mod, nm)
    return w


def _merged(man, target: str) -> bytes | None:
    from wasmweld.manifest import merge_world

    try:
        return merge_world(man)
    except WasmError as exc:  # about one module of the manifest: name its file
        spec = next((m for m in man.modules if m.name == getattr(exc, "merge_input", None)), None)
        if spec is not None and getattr(exc, "input_name", None) is None:
            exc.input_name = spec.path
        if isinstance(exc, LinkError) and len(exc.problems) > 1 and getattr(exc, "input_name", None) is None:
            from wasmweld.cli.merge import error_line  # one line, as `wasmweld merge` prints it

            print(f"error: {error_line(exc, f'wasmweld merge --world {target} --plan')}", file=sys.stderr)
            return None
        raise


def _merged_resolver(world, man, name: str, target: str):
    """``--merged --invoke``: an entry name or export of the merged module, or MODULE.EXPORT of the
    manifest (the name that export has in the merged module)."""
    from wasmweld.manifest import merged_export_name

    def resolve(text: str) -> tuple[str, str]:
        if text in man.entries or text in world.exports(name):
            return name, text
        mod, func = man.resolve_entry(text)       # ManifestError when it is neither
        out = merged_export_name(man, mod, func)
        if out is None:
            raise LinkError(f"{target}: {mod}.{func} is not exported by the merged module (is it an export of "
                            f"module {mod!r}?)")
        return name, out
    return resolve


def _with_loaded_modules(resolve, world):
    """``resolve`` (entry or MODULE.EXPORT of the manifest), also accepting MODULE.EXPORT of a module the
    manifest does not list: a side module loaded with --dlopen (``shout.shout_count``)."""
    from wasmweld.manifest import ManifestError

    def module_of(text: str) -> tuple[str, str]:
        try:
            return resolve(text)
        except ManifestError:
            for n in sorted(world.modules, key=len, reverse=True):
                if text.startswith(n + ".") and len(text) > len(n) + 1:
                    return n, text[len(n) + 1:]
            raise
    return module_of


def _run_manifest(args: Namespace, target: str, stubs) -> dict:
    from wasmweld.cli.io import blame
    from wasmweld.manifest import load_manifest

    man = load_manifest(target, confine=not args.trust_manifest)
    if args.merged:
        data = _merged(man, target)
        if data is None:
            return {"failed": True}
        world = _manifest_world(args, man, target, stubs)
        name = man.name or "world"
        with blame(target):
            world.add(name, data)
        module_of = _merged_resolver(world, man, name, target)
    else:
        world = _manifest_world(args, man, target, stubs)
        for spec in man.modules:
            with blame(spec.path):
                world.add(spec.name, spec.path)
        module_of = man.resolve_entry
    for side in args.dlopen:
        with blame(side):
            world.dlopen(side)
    if args.dlopen:
        module_of = _with_loaded_modules(module_of, world)
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
    return _call(world.get_fn(mod, func), args.args)


def _run_module(args: Namespace, target: str, stubs) -> dict:
    from wasmweld.cli.io import blame, display_name, read_input
    from wasmweld.runtime.world import World

    if args.merged:
        raise LinkError("--merged applies to world manifests (.toml) only")
    source: bytes | str
    if target == "-":
        source, base, name = read_input("-"), display_name("-"), "main"
    else:
        _artifact_fuel_hint(target, args.fuel, args.trust_artifact)
        source, base = target, os.path.basename(target)
        name = base.rsplit(".", 1)[0] or "main"
    wasi = False if args.wasi is False else _wasi_options(args, [base] + (args.args if args.invoke is None else []))
    world = World(wasi=wasi, cache_dir=args.cache or (True if args.user_cache else None), fuel=args.fuel,
                  stub_missing=args.stub_missing, **_world_options(args))
    world.option_names.update(_CLI_OPTION_NAMES)
    for mod, nm in stubs:
        world.stub(mod, nm)
    with blame(target):
        world.add(name, source)
    for side in args.dlopen:
        with blame(side):
            world.dlopen(side)
    world.link()
    if args.invoke is None:
        return {"invoke": None, "results": None, "exit_status": world.run_command(name)}
    mod, func = name, args.invoke
    if "." in args.invoke and args.invoke not in world.exports(name):
        m, _, f = args.invoke.partition(".")
        if m in world:
            mod, func = m, f
    return _call(world.get_fn(mod, func), args.args)


def _run(args: Namespace) -> dict:
    from wasmweld.manifest import is_manifest

    target = args.target
    if target != "-" and not os.path.exists(target):
        raise WasmError(f"{target}: no such file")
    stubs = _parse_stubs(args)
    if is_manifest(target):
        return _run_manifest(args, target, stubs)
    return _run_module(args, target, stubs)
