"""wasmweld snapshot on C programs (issue 5): same answers as the original and as Wizer, without re-running init.

Fixtures (tests/fixtures/snapshot/, compiled with clang --target=wasm32-wasi
-mexec-model=reactor):

* primes.c -- init sieves the primes below 2,000,000 and builds a hash map;
  queries use them (and would run init lazily if it had not run).
* calc.c   -- a tiny interpreter: init reads and parses a script (from a WASI
  preopen, an env variable or its built-in default); calls evaluate the
  script's functions and new expressions.
* tables.c -- init computes lookup tables (CRC-32, popcounts, Q15 sine, integer
  square roots, Collatz stopping times); checked against Python oracles.

Every output is validated and run by wasmtime; the expected values come from
running the original module (init, then the query) and, for primes and tables,
from oracles written in Python.
"""

from __future__ import annotations

import random

import pytest

from fixtures.snapshot.snaputil import Instance, build, python_primes, run_wizer

import wasmweld.module as wm
from wasmweld.preinit import Preopen, WasiOptions, snapshot, snapshot_bytes
from wasmweld.runtime.engine import validate_bytes
from wasmweld.types import ExternKind

LIMIT = 2_000_000


@pytest.fixture(scope="module")
def primes_wasm() -> bytes:
    return build("primes")


@pytest.fixture(scope="module")
def primes_snap(primes_wasm) -> tuple[bytes, object]:
    reports = []
    out = snapshot_bytes(primes_wasm, report=reports.append)
    return out, reports[0]


@pytest.fixture(scope="module")
def primes_wizer(primes_wasm) -> bytes:
    return run_wizer(primes_wasm, "--allow-wasi")


@pytest.fixture(scope="module")
def oracle() -> list[int]:
    return python_primes(LIMIT)


def _queries(rng: random.Random, n_primes: int) -> list[tuple]:
    qs = [("prime_count",), ("init_runs",), ("map_checksum",), ("nth_prime", -1), ("nth_prime", n_primes),
          ("is_prime", LIMIT - 1), ("prime_index", 4), ("count_below", 0), ("count_below", LIMIT)]
    for _ in range(40):
        qs.append(("nth_prime", rng.randrange(n_primes)))
        qs.append(("count_below", rng.randrange(LIMIT)))
        qs.append(("is_prime", rng.randrange(LIMIT)))
        qs.append(("prime_index", rng.randrange(LIMIT)))
        a = rng.randrange(LIMIT)
        qs.append(("sum_range", a, a + rng.randrange(50_000)))
    return qs


def _answers(inst: Instance, queries) -> list:
    return [inst(*q) for q in queries]


def test_primes_snapshot_answers_like_the_original(primes_wasm, primes_snap, oracle):
    out, report = primes_snap
    validate_bytes(out)
    queries = _queries(random.Random(5), len(oracle))

    original = Instance(primes_wasm)
    original("_initialize")  # the WASI reactor protocol: _initialize, then the init function
    original("wizer.initialize")
    expected = _answers(original, queries)

    snap = Instance(out)
    assert not snap.has("wizer.initialize")
    assert _answers(snap, queries) == expected
    # the state is the one init built, and init did not run again in the new instance
    assert snap("init_runs") == 1
    assert snap.memory() == original.memory()

    # independent oracle: the Python sieve
    assert snap("prime_count") == len(oracle)
    for k in (0, 1, 1000, 77_777, len(oracle) - 1):
        assert snap("nth_prime", k) == oracle[k]
        assert snap("prime_index", oracle[k]) == k
    assert snap("sum_range", 0, 10_000) == sum(p for p in oracle if p < 10_000)

    # the report matches the module
    assert report.output_size == len(out)
    assert report.input_size == len(primes_wasm)
    assert report.segments == sum(1 for d in wm.parse(out).datas if d.mode == "active")
    assert report.captured_bytes >= len(oracle) * 4  # at least the prime table


def test_primes_snapshot_structure(primes_wasm, primes_snap):
    out, report = primes_snap
    before, after = wm.parse(primes_wasm), wm.parse(out)
    # memory minimum raised to the size init grew it to; the start-up code is unchanged
    assert after.memories[0].limits.min > before.memories[0].limits.min
    assert after.memories[0].limits.min == report.memory_pages[0][1]
    assert [b.raw for b in after.code] == [b.raw for b in before.code]
    # the init function and the reactor's _initialize (which ran before it, as with Wizer) are not exported
    assert [e.name for e in after.exports] == [e.name for e in before.exports
                                               if e.name not in ("wizer.initialize", "_initialize")]
    # custom sections (name, producers, DWARF) kept, byte for byte
    assert [(c.name, c.data) for c in after.customs] == [(c.name, c.data) for c in before.customs]
    assert 0 < len([d for d in after.datas if d.mode == "active"]) <= 10_000


def test_primes_matches_wizer(primes_wasm, primes_snap, primes_wizer):
    out, _ = primes_snap
    queries = _queries(random.Random(11), 148_933)
    ours, theirs = Instance(out), Instance(primes_wizer)
    assert _answers(ours, queries) == _answers(theirs, queries)
    # same memory image and the same globals after instantiation
    assert ours.memory() == theirs.memory()
    assert wm.parse(out).globals == wm.parse(primes_wizer).globals
    # Wizer's segment rule (gaps of up to 4 zero bytes merged, then the smallest gaps until 10,000
    # remain): the same number of segments carrying the same number of bytes (which of several
    # equal gaps are merged may differ), so the sizes differ by a few offset bytes at most
    a, b = _active_segments(out), _active_segments(primes_wizer)
    assert len(a) == len(b) == 10_000
    assert sum(n for _, n in a) == sum(n for _, n in b)
    assert abs(len(out) - len(primes_wizer)) <= 64


def test_keep_init_func_and_rename(primes_wasm):
    out = snapshot(primes_wasm, keep_init_func=True, rename_funcs={"count": "prime_count", "nth": "nth_prime"})
    names = [e.name for e in out.exports]
    assert "wizer.initialize" in names
    assert "count" in names and "nth" in names
    assert "prime_count" not in names and "nth_prime" not in names
    inst = Instance(out.encode())
    assert inst("count") == 148_933
    assert inst("nth", 0) == 2
    # the kept init function really runs again (the counter proves the snapshot did not)
    assert inst("init_runs") == 1
    inst("wizer.initialize")
    assert inst("init_runs") == 2
    assert inst("count") == 148_933


# ------------------------------------------------------------------ calc: the seed scenario

SCRIPT = """
# a script read from a WASI preopen
def tri(n) = n == 0 ? 0 : n + tri(n - 1);
def sq(x) = x * x;
def mix(a, b) = sq(a) - tri(b) + a * b % 7;
def fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2);
"""

EXPRS = ["tri(100)", "sq(12) + mix(3, 4)", "fib(20)", "mix(-5, 30) * 2", "sq(sq(3))", "1 +", "nosuch(1)"]


@pytest.fixture(scope="module")
def calc_wasm() -> bytes:
    return build("calc")


@pytest.fixture(scope="module")
def script_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("script")
    (d / "prog.calc").write_text(SCRIPT)
    return d


def _calc_answers(inst: Instance) -> list:
    out = [inst("init_runs"), inst("script_source"), inst("func_count"), inst("node_count")]
    out += [inst("call", f, a, b) for f in range(inst("func_count")) for a, b in ((0, 0), (3, 4), (15, 2))]
    out += [inst.eval(e) for e in EXPRS]
    return out


def test_calc_answers_without_rerunning_init(calc_wasm, script_dir):
    wasi = WasiOptions(preopens=[Preopen(str(script_dir), "/script", writable=False)])
    out = snapshot_bytes(calc_wasm, wasi=wasi)
    validate_bytes(out)

    original = Instance(calc_wasm, wasi={"dirs": [(script_dir, "/script")]})
    original("_initialize")
    original("wizer.initialize")
    expected = _calc_answers(original)
    assert expected[:3] == [1, 1, 4]  # init ran once, read the file, defined 4 functions

    # the snapshot needs no WASI at all to answer: every import traps if called
    snap = Instance(out)
    assert not snap.has("wizer.initialize") and not snap.has("_initialize")
    assert _calc_answers(snap) == expected
    assert snap.memory() == original.memory()
    assert snap.eval("tri(100)") == 5050
    assert snap("init_runs") == 1  # still 1 after all those calls: init never ran again


def test_calc_matches_wizer(calc_wasm, script_dir):
    ours = snapshot_bytes(calc_wasm, wasi=WasiOptions(preopens=[Preopen(str(script_dir), "/script", writable=False)]))
    theirs = run_wizer(calc_wasm, "--allow-wasi", "--mapdir", f"/script::{script_dir}")
    a, b = Instance(ours), Instance(theirs)
    assert _calc_answers(a) == _calc_answers(b)
    assert a.memory() == b.memory()
    # below the segment cap the segments are Wizer's exactly, and so is the size
    assert _active_segments(ours) == _active_segments(theirs)
    assert len(ours) == len(theirs)


def _active_segments(wasm: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each active data segment."""
    out = []
    for d in wm.parse(wasm).datas:
        if d.mode == "active":
            (ins,) = d.offset.instrs[:-1]  # one i32.const
            out.append((ins.args[0], len(d.init)))
    return out


def test_calc_wasi_grants_only_what_is_given(calc_wasm, script_dir):
    # without the directory the file is invisible: the built-in script is used
    out = snapshot_bytes(calc_wasm, wasi=WasiOptions())
    inst = Instance(out)
    assert inst("script_source") == 3
    assert inst.eval("fib(10) + gcd(12, 18)") == 61
    # a directory granted under another guest path is not /script either
    inst = Instance(snapshot_bytes(calc_wasm, wasi=WasiOptions(preopens=[Preopen(str(script_dir), "/elsewhere", writable=False)])))
    assert inst("script_source") == 3
    # an environment variable, when granted
    inst = Instance(snapshot_bytes(calc_wasm, wasi=WasiOptions(env={"CALC_SCRIPT": "def dbl(x) = 2 * x;"})))
    assert inst("script_source") == 2
    assert inst.eval("dbl(21)") == 42


def test_calc_snapshot_is_idempotent_on_exports(calc_wasm):
    """A second snapshot of a snapshot (init kept) gives a module with the same answers and init run twice."""
    once = snapshot(calc_wasm, wasi=True, keep_init_func=True)
    twice = snapshot(once, wasi=True)
    inst = Instance(twice.encode())
    assert inst("init_runs") == 2
    assert inst.eval("ack(2, 3)") == 9
    assert twice.export("wizer.initialize") is None
    assert twice.export("call").kind == ExternKind.FUNC


def _collatz(n: int) -> int:
    steps = 0
    while n != 1:
        n = 3 * n + 1 if n & 1 else n // 2
        steps += 1
    return steps


def test_tables_snapshot_answers_like_the_original_and_wizer():
    """tables.c: lookup tables built at init (CRC-32, popcounts, a Q15 sine, integer square roots,
    Collatz stopping times); the snapshot answers like the original after init, like independent
    Python oracles, and holds the same memory image as Wizer's output."""
    import math
    import zlib

    src = build("tables")
    reports = []
    out = snapshot_bytes(src, wasi=True, report=reports.append)
    validate_bytes(out)
    theirs = run_wizer(src, "--allow-wasi")
    original = Instance(src, wasi=True)
    original("_initialize")
    original("wizer.initialize")
    ours, wizer = Instance(out), Instance(theirs)
    assert not ours.has("wizer.initialize") and ours("init_runs") == 1
    rng = random.Random(3)
    data = bytes(rng.randrange(256) for _ in range(300))
    xs = [rng.randrange(1 << 32) for _ in range(20)]
    ns = [1, 2, 27, 97, 871, 77_031, 131_071] + [rng.randrange(1, 1 << 17) for _ in range(10)]
    answers = []
    for inst in (original, ours, wizer):
        inst.exports["memory"].write(inst.store, data, inst("input_buf"))
        answers.append([inst("crc32", len(data)) & 0xFFFFFFFF]
                       + [inst("popcount32", x) for x in xs] + [inst("sine_q15", i) for i in range(0, 4096, 37)]
                       + [inst("isqrt16", x & 0xFFFF) for x in xs] + [inst("collatz_steps", n) for n in ns])
    assert answers[0] == answers[1] == answers[2]
    got = iter(answers[1])
    assert next(got) == zlib.crc32(data)
    assert [next(got) for _ in xs] == [bin(x).count("1") for x in xs]
    assert all(abs(next(got) - 32767 * math.sin(2 * math.pi * i / 4096)) <= 1 for i in range(0, 4096, 37))
    assert [next(got) for _ in xs] == [math.isqrt(x & 0xFFFF) for x in xs]
    assert [next(got) for _ in ns] == [_collatz(n) for n in ns]
    assert ours.memory() == wizer.memory() == original.memory()
    assert len(out) == len(theirs) and reports[0].segments == len(_active_segments(theirs))
