"""The run-time World (issue 6): cross-module call overhead and start-up from the artifact cache.

(a) cross-module calls: a ``caller`` module calls ``f(x) = x + 1`` of another
module N times in a Wasm loop. Variants:

* ``wasmweld swarm``: two instances of a World, the import bound directly to the
  other instance's export (wasmtime's cross-instance call);
* ``wasmweld swarm, cycle trampoline``: the two modules import each other, so
  the call goes through the World's funcref-table trampoline (call_indirect);
* ``wasmweld one-world (merged)``: the two modules merged by ``wasmweld.link.merge``
  into one module, run in a World;
* ``single native module``: the same two functions written as one module
  (the floor: a plain direct call);
* ``Python host function``: ``f`` provided by ``World.define_host`` (what the
  trampoline avoids), and ``Python -> Wasm``: ``World.invoke`` per call. These two
  use fewer calls (their own input label).

``ns/call`` in the notes is the loop time divided by the number of calls.

(b) start-up of a 10 MB corpus module (wasisdk-starlingmonkey): ``cold`` is a
World with an empty cache directory compiling it (and storing the artifact);
``warm`` a World loading it from that cache as ``World.add(path)`` does (the
file's digest and the entry's MAC remembered per file version in authenticated
stamps, then mmap of the checked descriptor via ``Module.deserialize_file``;
issue 16 target: <= 10 ms); ``wasmtime deserialize_file`` the bare load
without wasmweld's checks. The issue's target is warm >= 10x faster than cold.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

CALLEE = '(module (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))'

LOOP = """
  (func (export "loop") (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (call $f (local.get $acc)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $acc))"""

CALLER = '(module (import "callee" "f" (func $f (param i32) (result i32)))' + LOOP + ")"
# the cyclic pair: the callee also imports the caller, so one direction needs a trampoline
CYC_CALLER = CALLER
CYC_CALLEE = ('(module (import "caller" "loop" (func $loop (param i32) (result i32)))'
              '(func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))'
              '(func (export "back") (param i32) (result i32) (call $loop (local.get 0))))')
NATIVE = ('(module (func $f (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))' + LOOP + ")")

STARTUP_MODULE = "wasisdk-starlingmonkey"


def _merged_world():
    """The one-world variant: caller + callee merged by wasmweld merge.

    TODO(lead): switch to ``wasmweld.manifest.merge_world`` with a manifest once the
    CLI `merge --world` lands; the result is the same module.
    """
    from wasmweld.link.merge import merge
    from wasmweld.runtime.engine import wat2wasm
    from wasmweld.runtime.world import World

    merged = merge([("callee", wat2wasm(CALLEE)), ("caller", wat2wasm(CALLER))]).encode()
    w = World()
    w.add("world", merged)
    return w, "world"


def _calls(ctx):
    from wasmweld.runtime.world import World

    n = 200_000 if ctx.quick else 2_000_000
    label = f"{n:,} calls of f(x)=x+1"
    rows = []

    def row(tool, world, module, calls=n, inp=label):
        fn = world.get_fn(module, "loop")
        assert fn(1000) == 1000  # warm up, and check it computes
        r = ctx.measure("cross-module call", inp, tool, lambda: fn(calls), warmup=1)
        if r.median_s is not None:
            r.extra["ns/call"] = round(r.median_s / calls * 1e9, 2)
        rows.append(r)

    w = World()
    w.add("callee", CALLEE)
    w.add("caller", CALLER)
    row("wasmweld swarm", w, "caller")

    w = World()
    w.add("caller", CYC_CALLER)
    w.add("callee", CYC_CALLEE)
    assert len(w._trampolines) == 1
    row("wasmweld swarm, cycle trampoline", w, "caller")

    try:
        w, mod = _merged_world()
        row("wasmweld one-world (merged)", w, mod)
    except Exception as exc:  # merge is another part of wasmweld; report, do not crash the bench
        rows.append(ctx.row("cross-module call", label, "wasmweld one-world (merged)", None,
                            error=f"{type(exc).__name__}: {exc}"[:200]))

    w = World()
    w.add("native", NATIVE)
    row("single native module", w, "native")

    small = n // 100
    w = World()
    w.define_host("callee", "f", lambda x: x + 1, "i32 -> i32")
    w.add("caller", CALLER)
    row("Python host function", w, "caller", small, f"{small:,} calls of f(x)=x+1")

    w = World()
    w.add("callee", CALLEE)
    f = w.get_fn("callee", "f")

    def py_loop():
        acc = 0
        for _ in range(small):
            acc = f(acc)
        return acc

    r = ctx.measure("cross-module call", f"{small:,} calls of f(x)=x+1", "Python -> Wasm (World.get_fn)", py_loop)
    if r.median_s is not None:
        r.extra["ns/call"] = round(r.median_s / small * 1e9, 2)
    rows.append(r)
    return rows


def _startup(ctx):
    import wasmtime

    from wasmweld.runtime.world import World

    path = ctx.corpus(STARTUP_MODULE)
    size = path.stat().st_size
    label = f"{STARTUP_MODULE} ({size / 1e6:.1f} MB)"
    rows = []
    cold_times = []
    keep = None
    for _ in range(1 if ctx.quick else min(ctx.repeats, 3)):
        d = tempfile.mkdtemp(dir=ctx.tmp)
        t0 = time.perf_counter()
        w = World(cache_dir=d)
        w._compile_bytes(path.read_bytes(), STARTUP_MODULE)
        cold_times.append(time.perf_counter() - t0)
        assert w.cache.stats.misses == 1
        if keep is None:
            keep = d
        else:
            shutil.rmtree(d)
    cold = sorted(cold_times)[len(cold_times) // 2]
    rows.append(ctx.row("start-up (compile or load)", label, "wasmweld cold (compile + store)", cold,
                        runs=len(cold_times)))

    def warm():  # what World.add(path) does before instantiating: read, digest (memo), check, map
        w = World(cache_dir=keep)
        w._compile_bytes(w._read_source(str(path), STARTUP_MODULE)[0], STARTUP_MODULE)
        assert w.cache.stats.hits == 1
    r = ctx.measure("start-up (compile or load)", label, "wasmweld warm (cache hit)", warm, warmup=1)
    if r.median_s:
        r.extra["cold/warm"] = round(cold / r.median_s, 1)
    rows.append(r)

    [entry] = [p for p in os.listdir(keep) if p.endswith(".cwasm")]
    artifact = f"{keep}/{entry}"
    engine = World().engine
    rows.append(ctx.measure("start-up (compile or load)", label, "wasmtime deserialize_file (no checks)",
                            lambda: wasmtime.Module.deserialize_file(engine, artifact), warmup=1,
                            artifact_mb=round(os.path.getsize(artifact) / 1e6, 1)))
    return rows


# Each timed in its own fresh process, after ``import wasmtime`` and ``import wasmweld`` (timed too, for
# scale), so that each is the first engine of its process. ``wasmweld.World()`` there includes importing
# wasmweld.runtime.world (the lazy ``wasmweld.World`` attribute); the split is printed as well.
_FIRST_WORLD = """
import time
t = time.perf_counter()
import wasmtime
import wasmweld
imports = time.perf_counter() - t
t = time.perf_counter()
World = wasmweld.World
t1 = time.perf_counter()
w = World()
t2 = time.perf_counter()
w.add("m", b"\\0asm\\1\\0\\0\\0")  # the first add (what it imports: the module model for type reports)
t3 = time.perf_counter()
print(t2 - t, t1 - t, t2 - t1, imports, t3 - t2)
"""

_FIRST_PLAIN = """
import time
t = time.perf_counter()
import wasmtime
import wasmweld
imports = time.perf_counter() - t
t = time.perf_counter()
e = wasmtime.Engine(); s = wasmtime.Store(e); l = wasmtime.Linker(e)
print(time.perf_counter() - t, imports)
"""


def _construction(ctx):
    """The first ``World()`` in a process (issue 16: <= 15 ms), next to a plain Engine+Store+Linker.

    Both in fresh processes, run in alternation, after ``import wasmtime`` and ``import wasmweld``
    (whose time is a row of its own, for scale). The World row is ``wasmweld.World()`` as a user
    writes it: importing wasmweld.runtime.world (``import_ms``) and constructing (``construct_ms``);
    ``first_add_ms`` (not in the row's time) is the first ``add`` of an empty module after it.
    """
    import statistics
    import subprocess
    import sys

    # as installed code runs: with byte code cached (bench/run.py drops PYTHONDONTWRITEBYTECODE)
    base = [sys.executable, "-X", f"pycache_prefix={ctx.tmp}/pycache", "-c"]
    cmds = {"world": base + [_FIRST_WORLD], "plain": base + [_FIRST_PLAIN]}
    samples: dict[str, list[list[float]]] = {k: [] for k in cmds}
    for cmd in cmds.values():
        subprocess.run(cmd, capture_output=True, check=True)  # writes the byte code
    for _ in range(3 if ctx.quick else max(5, ctx.repeats)):
        for key, cmd in cmds.items():
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            samples[key].append([float(x) for x in out.stdout.split()])

    def med(key: str, i: int) -> float:
        return statistics.median(s[i] for s in samples[key])

    label = "first in a fresh process, after import wasmtime + import wasmweld"
    n = len(samples["world"])
    return [ctx.row("World construction", label, "wasmweld.World() (import of runtime.world included)", med("world", 0),
                    runs=n, import_ms=round(med("world", 1) * 1e3, 2), construct_ms=round(med("world", 2) * 1e3, 2),
                    first_add_ms=round(med("world", 4) * 1e3, 2), target="<= 0.015 s"),
            ctx.row("World construction", label, "wasmtime Engine+Store+Linker", med("plain", 0), runs=n),
            ctx.row("World construction", label, "(for scale) import wasmtime + import wasmweld",
                    statistics.median([*(s[3] for s in samples["world"]), *(s[1] for s in samples["plain"])]),
                    runs=2 * n)]


def _chain(n):
    from wasmweld.runtime.engine import wat2wasm

    mods = []
    for i in range(n):
        if i == n - 1:
            mods.append(wat2wasm('(module (func (export "f") (result i32) i32.const 1))'))
        else:
            mods.append(wat2wasm(f'(module (import "m{i + 1}" "f" (func $g (result i32))) '
                                 '(func (export "f") (result i32) (i32.add (call $g) (i32.const 1))))'))
    return mods


def _reverse_order(ctx):
    """Issue 17 item 21: World.add of N modules, each importing the next, added dependents first (was O(n^2-n^3))."""
    from wasmweld.runtime.world import World

    rows = []
    for n in ((100, 200) if ctx.quick else (400, 800)):
        mods = _chain(n)

        def add_all(n=n, mods=mods):
            w = World()
            for i in range(n):
                w.add(f"m{i}", mods[i])
            assert w.invoke("m0", "f") == n

        rows.append(ctx.measure("World.add, reverse dependency order", f"{n} modules in a chain", "wasmweld", add_all))
        r = rows[-1]
        if r.median_s is not None:
            r.extra["per_module_ms"] = round(r.median_s / n * 1e3, 2)
    return rows


def run(ctx):
    """Rows for `make bench` (bench/run.py): cross-module calls, construction, reverse-order adds, cache start-up."""
    return _calls(ctx) + _construction(ctx) + _reverse_order(ctx) + _startup(ctx)
