"""Pre-initialisation (issue 5): start-up time saved by ``wasmweld snapshot``, next to Wizer's.

Inputs are the C fixtures of tests/fixtures/snapshot, built with clang for
wasm32-wasi (reactors):

* ``primes`` -- init sieves the primes below 2,000,000 and builds a hash map;
  the first answer is ``nth_prime(100000)``.
* ``calc`` -- init reads a script through a WASI preopen and parses it; the
  first answer is ``eval_input("fib(15) + sq(7)")``.
* ``tables`` -- init computes lookup tables (CRC-32, popcounts, a Q15 sine,
  square roots, Collatz stopping times); the first answer is ``collatz_steps(27)``.

Tasks:

* ``instantiate->first answer``: a fresh Store, instantiate the already
  compiled module, get the first answer. The original runs its reactor
  ``_initialize`` and ``wizer.initialize`` first (its start-up work); the
  snapshots (wasmweld's and Wizer's, same init function, WASI on) answer
  directly. All three run in this process with wasmweld's wasmtime engine;
  the answers are checked to be equal.
* ``compile``: wasmtime compiling each module (the snapshots carry the state as
  data segments, which wasmtime turns into a copy-on-write memory image here).
* ``snapshot``: producing the snapshot -- wasmweld in process (notes: the
  report's time per stage and the compiler: Winch without a cache) and as a CLI child process, vs the native Wizer
  binary as a child process (start-up included, as a user sees it). The child
  processes run interleaved (fair on a busy machine); each row also carries the
  median CPU time (user + system, all threads) as ``cpu``. ``wasmweld CLI
  --cache (warm)`` keeps the compiled module in an artifact cache of the bench's
  own, as Wizer keeps it in wasmtime's cache (on by default in Wizer, and warm
  after the first of its runs here).
* ``quickjs-app``: the QuickJS tutorial's engine template (docs/tutorials/quickjs: the C sources
  of the PyPI ``quickjs`` sdist, built -O2 here) with its app injected by ``wasmweld edit
  --keep-data`` (Wizer refuses ``data.drop``); init boots the engine and evaluates the app. Only
  the ``snapshot`` rows (the same three child processes; outputs differ from Wizer's by the
  engine's random hash seeds). A row with an error when clang or the sdist is missing.
* ``starlingmonkey``: the corpus's StarlingMonkey (10.5 MB) evaluating a small JS file at init (its
  ``wizer-initialize`` reads the script's path from stdin; the file through a read-only preopen):
  the same three child processes, 3 runs each (each compiles 9 MB of code when cold; not with
  ``--quick``). The issue's target: within 1.1x of Wizer.
* ``floor``: what any Python CLI doing this pays before its first stage, for scale:
  ``python -c pass``, ``import wasmtime`` (wasmtime-py), ``import wasmweld.module`` (the module layer),
  ``import wasmtime, wasmweld.preinit``, and loading wasmtime-py's shared library with ctypes alone (where
  a binding of its own would start) (child processes, byte code cached).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fixtures.snapshot.snaputil import build, run_wizer, wizer_path  # noqa: E402

from wasmweld.preinit import Preopen, WasiOptions, snapshot_bytes  # noqa: E402

INNER = 20  # instantiations per timed call (each is well under a millisecond)

CALC_SCRIPT = """
def sq(x) = x * x;
def fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2);
def gcd(a, b) = b == 0 ? a : gcd(b, a % b);
"""
CALC_EXPR = b"fib(15) + sq(7)"


def _interleaved(ctx, fns: dict, inner: int) -> dict:
    """Median seconds per call of each function, timed in alternation (fair on a busy machine)."""
    for fn in fns.values():
        for _ in range(inner):
            fn()  # warm-up
    samples = {k: [] for k in fns}
    for _ in range(max(3 * ctx.repeats, 9)):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[k].append((time.perf_counter() - t0) / inner)
    return {k: statistics.median(v) for k, v in samples.items()}


def run(ctx):
    import wasmtime

    from wasmweld.runtime.engine import engine

    eng = engine()
    rows = []
    script_dir = Path(tempfile.mkdtemp(dir=ctx.tmp))
    (script_dir / "prog.calc").write_text(CALC_SCRIPT)
    wizer_version = f"wizer {ctx.peers.version('@bytecodealliance/wizer')}"

    cases = {
        "primes": dict(wasi=None, wizer_args=("--allow-wasi",), dirs=()),
        "tables": dict(wasi=None, wizer_args=("--allow-wasi",), dirs=()),
        "calc": dict(wasi=WasiOptions(preopens=[Preopen(str(script_dir), "/script", writable=False)],
                                      stdout=None, stderr=None),
                     wizer_args=("--allow-wasi", "--mapdir", f"/script::{script_dir}"),
                     dirs=((str(script_dir), "/script"),)),
    }
    for name, case in cases.items():
        rows += _bench_case(ctx, wasmtime, eng, name, case, wizer_version)
    rows += _quickjs_rows(ctx, wizer_version)
    if not ctx.quick:
        rows += _starlingmonkey_rows(ctx, wizer_version)
    rows += _floor_rows(ctx)
    return rows


def _floor_rows(ctx) -> list:
    """The start-up every ``wasmweld snapshot`` process pays: the interpreter, then its imports."""
    import importlib.util

    base = [sys.executable, "-X", f"pycache_prefix={ctx.tmp}/pycache", "-c"]
    argvs = {"python -c pass": base + ["pass"],
             "python -c 'import wasmtime'": base + ["import wasmtime"],
             "python -c 'import wasmweld.module'": base + ["import wasmweld.module"],
             "python -c 'import wasmtime, wasmweld.preinit'": base + ["import wasmtime, wasmweld.preinit"]}
    spec = importlib.util.find_spec("wasmtime")
    libs = sorted(Path(spec.origin).parent.glob("*-*/_libwasmtime.*")) if spec and spec.origin else []
    if libs:  # what a ctypes binding of its own would start from: loading the library wasmtime-py ships
        argvs["python -c 'import ctypes; ctypes.CDLL(<wasmtime-py's library>)'"] = base + [
            f"import ctypes; ctypes.CDLL({str(libs[0])!r})"]
    medians = _children_interleaved(ctx, argvs)
    return [ctx.row("snapshot", "floor (start-up only)", label, wall, cpu=f"{cpu:.3f}s")
            for label, (wall, cpu) in medians.items()]


SM_SCRIPT = "globalThis.table = Array.from({length: 1000}, (_, i) => i * i); console.log('booted');\n"


def _starlingmonkey_rows(ctx, wizer_version: str) -> list:
    """StarlingMonkey evaluating a JS file at init: wasmweld CLI cold / warm cache vs Wizer."""
    name = "starlingmonkey (JS file at init)"
    try:
        src = ctx.corpus("wasisdk-starlingmonkey").read_bytes()
    except FileNotFoundError as exc:
        return [ctx.row("snapshot", name, "wasmweld CLI (child process)", None, error=str(exc)[:200])]
    folder = Path(tempfile.mkdtemp(dir=ctx.tmp))
    (folder / "app.js").write_text(SM_SCRIPT)
    (folder / "stdin.txt").write_text("/app.js\n")
    case = dict(wizer_args=("--allow-wasi", "--inherit-stdio", "true", "--mapdir", f"/::{folder}"),
                dirs=((str(folder), "/"),))
    return _cli_rows(ctx, src, case, wizer_version, name, "wizer-initialize", stdin=folder / "stdin.txt",
                     extra_args=("--inherit-stdio",), repeats=3)


def _quickjs_app(ctx) -> bytes:
    """The QuickJS tutorial's template (C sources of the PyPI sdist, -O2) with its app injected."""
    import subprocess

    from helpers import REPO, compile_c
    from test_dwarf_large import QJS_FILES, quickjs_sources

    src = quickjs_sources()
    flags = ["-mexec-model=reactor", "-D_GNU_SOURCE", f'-DCONFIG_VERSION="{(src / "VERSION").read_text().strip()}"',
             "-DCONFIG_BIGNUM", "-DEMSCRIPTEN", "-DFE_DOWNWARD=0x400", "-DFE_UPWARD=0x800", "-Wno-everything",
             f"-I{src}", "-lm"]
    template = compile_c([src / f"{n}.c" for n in QJS_FILES] + [src / "shim.c"], flags=flags)
    folder = Path(tempfile.mkdtemp(dir=ctx.tmp))
    (folder / "template.wasm").write_bytes(template)
    app_js = REPO / "docs" / "tutorials" / "quickjs" / "app.js"
    subprocess.run([sys.executable, "-m", "wasmweld", "edit", str(folder / "template.wasm"), "-o",
                    str(folder / "app.wasm"), "--add-passive-data", f"app={app_js}", "--size-func", "js_size",
                    "--init-func", "js_init", "--keep-data", "--add-export", "count_the=execute_method_js(2,0)"],
                   check=True, capture_output=True, timeout=300)
    return (folder / "app.wasm").read_bytes()


def _quickjs_rows(ctx, wizer_version: str) -> list:
    name = "quickjs-app"
    try:
        src = _quickjs_app(ctx)
    except Exception as exc:  # no clang, no sdist: say so in the results
        return [ctx.row("snapshot", name, "wasmweld CLI (child process)", None,
                        error=f"{type(exc).__name__}: {exc}"[:200])]
    case = dict(wizer_args=("--allow-wasi",), dirs=())
    reports: list = []
    snapshot_bytes(src, wasi=True, report=reports.append)
    stages = " ".join(f"{k}={v * 1000:.0f}ms" for k, v in reports[0].times.items())
    return _cli_rows(ctx, src, case, wizer_version, name, "wizer-initialize", stages=stages,
                     compiler=reports[0].compiler)


def _cli_argv(ctx, src: bytes, case: dict, *extra: str, init_func: str = "wizer.initialize") -> list[str]:
    """``wasmweld snapshot`` as a user runs it: a fresh process, start-up included (like the Wizer row)."""
    folder = Path(tempfile.mkdtemp(dir=ctx.tmp))
    (folder / "in.wasm").write_bytes(src)
    argv = [sys.executable, "-m", "wasmweld", "snapshot", str(folder / "in.wasm"), "-o", str(folder / "out.wasm"),
            "-q", "--init-func", init_func, "--allow-wasi", *extra]
    for host, guest in case["dirs"]:
        argv += ["--dir", f"{host}::{guest}"]
    return argv


def _children_interleaved(ctx, argvs: dict[str, list[str]], env=None, stdin: Path | None = None,
                          repeats: int | None = None) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds (user + system of the child, all its threads) per command, run in turn."""
    import resource
    import subprocess

    def child(argv: list[str]) -> None:
        if stdin is None:
            subprocess.run(argv, check=True, capture_output=True, env=env)
            return
        with open(stdin, "rb") as fh:
            subprocess.run(argv, check=True, capture_output=True, env=env, stdin=fh)

    for argv in argvs.values():  # warm-up: file cache, Wizer's and our artifact caches
        child(argv)
    walls: dict[str, list[float]] = {k: [] for k in argvs}
    cpus: dict[str, list[float]] = {k: [] for k in argvs}
    for _ in range(repeats or max(ctx.repeats, 3)):
        for label, argv in argvs.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            child(argv)
            walls[label].append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[label].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return {k: (statistics.median(walls[k]), statistics.median(cpus[k])) for k in argvs}


def _bench_case(ctx, wasmtime, eng, name: str, case: dict, wizer_version: str) -> list:
    rows = []
    src = build(name)
    reports = []
    ours = snapshot_bytes(src, wasi=case["wasi"] or True, report=reports.append)
    theirs = run_wizer(src, *case["wizer_args"])
    sizes = {"original": len(src), "wasmweld": len(ours), "wizer": len(theirs)}

    modules = {}
    for label, wasm in (("original", src), ("wasmweld", ours), ("wizer", theirs)):
        t0 = time.perf_counter()
        modules[label] = wasmtime.Module(eng, wasm)
        tool = {"wasmweld": "wasmweld output", "wizer": f"{wizer_version} output"}.get(label, label)
        rows.append(ctx.row("compile", name, tool,
                            time.perf_counter() - t0, bytes=sizes[label]))

    def instantiate(module, wasi_dirs):
        store = wasmtime.Store(eng)
        linker = wasmtime.Linker(eng)
        if wasi_dirs:
            cfg = wasmtime.WasiConfig()
            for host, guest in wasi_dirs:
                cfg.preopen_dir(host, guest)
            store.set_wasi(cfg)
            linker.define_wasi()
        linker.define_unknown_imports_as_traps(module)
        return store, linker.instantiate(store, module).exports(store)

    def first_answer(label):
        module = modules[label]
        # the original does its start-up work, which may need WASI (calc reads its script)
        store, ex = instantiate(module, case["dirs"] if label == "original" else ())
        if label == "original":
            ex["_initialize"](store)
            ex["wizer.initialize"](store)
        if name == "primes":
            return ex["nth_prime"](store, 100_000)
        if name == "tables":
            return ex["collatz_steps"](store, 27)
        ptr = ex["input_buf"](store)
        ex["memory"].write(store, CALC_EXPR, ptr)
        return ex["eval_input"](store, len(CALC_EXPR))

    answers = {label: first_answer(label) for label in modules}
    if len(set(answers.values())) != 1:
        raise AssertionError(f"{name}: first answers differ: {answers}")
    medians = _interleaved(ctx, {label: (lambda label=label: first_answer(label)) for label in modules}, INNER)
    for label, tool in (("wasmweld", "wasmweld output"), ("original", "original (init at start-up)"),
                        ("wizer", f"{wizer_version} output")):
        rows.append(ctx.row("instantiate->first answer", name, tool, medians[label], answer=answers[label]))

    report = reports[0]
    stages = " ".join(f"{k}={v * 1000:.0f}ms" for k, v in report.times.items())
    rows.append(ctx.measure("snapshot", name, "wasmweld (in process)",
                            lambda: snapshot_bytes(src, wasi=case["wasi"] or True),
                            segments=report.segments, bytes=len(ours), stages=stages, compiler=report.compiler))
    return rows + _cli_rows(ctx, src, case, wizer_version, name)


def _cli_rows(ctx, src: bytes, case: dict, wizer_version: str, name: str, init_func: str = "wizer.initialize", *,
              stdin: Path | None = None, extra_args: tuple[str, ...] = (), repeats: int | None = None,
              **extra) -> list:
    """The three child processes, interleaved: wasmweld CLI cold and with a warm artifact cache, Wizer.

    ``stdin``: a file each reads as standard input; ``extra_args``: more options for wasmweld.
    """
    cache = Path(tempfile.mkdtemp(dir=ctx.tmp))  # private (0700): the artifact cache accepts it
    folder = Path(tempfile.mkdtemp(dir=ctx.tmp))
    (folder / "in.wasm").write_bytes(src)
    wizer_argv = [wizer_path(), str(folder / "in.wasm"), "-o", str(folder / "wizer.wasm"),
                  "--init-func", init_func, *case["wizer_args"]]
    labels = {"cold": "wasmweld CLI (child process)", "warm": "wasmweld CLI --cache (warm, child process)",
              "wizer": f"{wizer_version} (native, child process)"}
    argvs = {"cold": _cli_argv(ctx, src, case, *extra_args, init_func=init_func),
             "warm": _cli_argv(ctx, src, case, *extra_args, "--cache", str(cache), init_func=init_func),
             "wizer": wizer_argv}
    medians = _children_interleaved(ctx, argvs, stdin=stdin, repeats=repeats)
    rows = []
    for key, label in labels.items():
        wall, cpu = medians[key]
        out = Path(argvs[key][argvs[key].index("-o") + 1])
        rows.append(ctx.row("snapshot", name, label, wall, cpu=f"{cpu:.3f}s", bytes=out.stat().st_size,
                            **(extra if key == "cold" else {})))
    return rows
