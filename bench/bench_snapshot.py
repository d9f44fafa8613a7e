"""Pre-initialisation (issue 5): start-up time saved by ``wasmweld snapshot``, next to Wizer's.

Inputs are the C fixtures of tests/fixtures/snapshot, built with clang for
wasm32-wasi (reactors):

* ``primes`` -- init sieves the primes below 2,000,000 and builds a hash map;
  the first answer is ``nth_prime(100000)``.
* ``calc`` -- init reads a script through a WASI preopen and parses it; the
  first answer is ``eval_input("fib(15) + sq(7)")``.

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
  report's time per stage) and as a CLI child process, vs the native Wizer
  binary as a child process (start-up included, as a user sees it).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fixtures.snapshot.snaputil import build, run_wizer  # noqa: E402

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
        "calc": dict(wasi=WasiOptions(preopens=[Preopen(str(script_dir), "/script", writable=False)],
                                      stdout=None, stderr=None),
                     wizer_args=("--allow-wasi", "--mapdir", f"/script::{script_dir}"),
                     dirs=((str(script_dir), "/script"),)),
    }
    for name, case in cases.items():
        rows += _bench_case(ctx, wasmtime, eng, name, case, wizer_version)
    return rows


def _cli_snapshot(ctx, src: bytes, name: str, case: dict) -> None:
    """``wasmweld snapshot`` as a user runs it: a fresh process, start-up included (like the Wizer row)."""
    import subprocess

    folder = Path(tempfile.mkdtemp(dir=ctx.tmp))
    (folder / "in.wasm").write_bytes(src)
    argv = [sys.executable, "-m", "wasmweld", "snapshot", str(folder / "in.wasm"), "-o", str(folder / "out.wasm"),
            "-q", "--init-func", "wizer.initialize", "--allow-wasi"]
    for host, guest in case["dirs"]:
        argv += ["--dir", f"{host}::{guest}"]
    subprocess.run(argv, check=True, capture_output=True)


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
                            segments=report.segments, bytes=len(ours), stages=stages))
    rows.append(ctx.measure("snapshot", name, "wasmweld CLI (child process)",
                            lambda: _cli_snapshot(ctx, src, name, case), bytes=len(ours)))
    rows.append(ctx.measure("snapshot", name, f"{wizer_version} (native, child process)",
                            lambda: run_wizer(src, *case["wizer_args"]), bytes=len(theirs)))
    return rows
