"""wasmweld snapshot refuses what it cannot capture soundly, and bounds the init function (issue 5).

Refusals name the item (import, memory, table, global); traps carry the
message and a wasm backtrace whose offsets point into the *input* module;
fuel, the wall-clock deadline and the memory cap each stop an init function
that would not stop by itself.
"""

from __future__ import annotations

import pytest

from fixtures.snapshot.snaputil import build

import wasmweld.module as wm
from wasmweld.errors import ExecutionError, SnapshotError, ValidationError
from wasmweld.preinit import InitError, snapshot_bytes


def refused(wasm: bytes, match: str, **kw) -> SnapshotError:
    with pytest.raises(SnapshotError, match=match) as info:
        snapshot_bytes(wasm, **kw)
    return info.value


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("decl, item", [
    ('(import "env" "mem" (memory 1))', "memory env.mem"),
    ('(import "env" "g" (global (mut i32)))', "global env.g"),
    ('(import "env" "k" (global i64))', "global env.k"),
    ('(import "host" "tab" (table 1 funcref))', "table host.tab"),
])
def test_imported_state_is_refused(wat, decl, item):
    err = refused(wat(f'(module {decl} (func (export "wizer-initialize")))'), "imports " + item)
    assert "outside the module" in str(err)


def test_shared_memory_is_refused(wat):
    refused(wat('(module (memory $heap 1 4 shared) (func (export "wizer-initialize")))'),
            r"memory 0 \(\$heap\) is shared")


@pytest.mark.parametrize("body, match", [
    ("(table.set $t (i32.const 1) (ref.func $g))", r"changed table 0 \(\$t\) at element 1"),
    ("(table.set $t (i32.const 0) (ref.null func))", r"changed table 0 \(\$t\) at element 0"),
    ("(drop (table.grow $t (ref.null func) (i32.const 2)))", r"table 0 \(\$t\): its size went from 4 to 6"),
    ("(table.copy $t $t (i32.const 2) (i32.const 0) (i32.const 1))", "at element 2"),
])
def test_table_modified_during_init_is_refused(wat, body, match):
    src = wat(f"""(module
      (table $t 4 funcref) (elem (i32.const 0) $f) (elem declare func $g)
      (func $f) (func $g)
      (func (export "wizer-initialize") {body}))""")
    refused(src, match)


def test_table_rewritten_with_the_same_function_is_accepted(wat):
    src = wat("""(module (table $t 2 funcref) (elem (i32.const 0) $f)
      (func $f) (func (export "wizer-initialize") (table.set $t (i32.const 0) (ref.func $f))))""")
    assert wm.parse(snapshot_bytes(src)).tables  # same function in the same slot: unchanged


def test_start_function_changing_a_table_is_refused(wat):
    """The start function runs before init but is removed from the output: its table writes count too."""
    src = wat("""(module (table $t 2 funcref) (func $f) (elem declare func $f)
      (func $start (table.set $t (i32.const 1) (ref.func $f))) (start $start)
      (func (export "wizer-initialize")))""")
    refused(src, "changed table 0")


def test_non_function_table_holding_references_is_refused(wat):
    src = wat("""(module (table $refs 2 anyref)
      (func (export "wizer-initialize") (table.set $refs (i32.const 1) (ref.i31 (i32.const 5)))))""")
    refused(src, r"table 0 \(\$refs\): it holds 1 non-null references")


@pytest.mark.parametrize("decl, body, what", [
    ("(global $x (mut funcref) (ref.null func)) (func $f) (elem declare func $f)", "(global.set $x (ref.func $f))",
     "a new non-null function reference"),
    ("(global $x (mut externref) (ref.null extern))",
     "(global.set $x (extern.convert_any (ref.i31 (i32.const 1))))", "a non-null extern reference"),
    ("(global $x (mut anyref) (ref.null any))", "(global.set $x (ref.i31 (i32.const 1)))",
     "a non-null any reference"),
    ("(type $s (struct (field i32))) (global $x (mut (ref null $s)) (ref.null $s))",
     "(global.set $x (struct.new $s (i32.const 1)))", "a non-null concrete reference"),
])
def test_mutable_reference_global_holding_a_value_is_refused(wat, decl, body, what):
    src = wat(f'(module {decl} (func (export "wizer-initialize") {body}))')
    err = refused(src, r"global 0 \(\$x\)")
    assert what in str(err)


def test_trap_shows_message_and_backtrace_in_input_offsets(wat):
    src = wat("""(module (memory 1)
      (func $inner (i32.store (i32.const 0) (i32.div_u (i32.const 1) (i32.const 0))))
      (func $middle (call $inner))
      (func (export "wizer-initialize") (call $middle)))""")
    with pytest.raises(InitError) as info:
        snapshot_bytes(src)
    err = info.value
    assert isinstance(err, SnapshotError) and isinstance(err, ExecutionError)
    assert err.reason == "trap"
    assert "integer divide by zero" in str(err)
    assert [line.split(" at ")[0] for line in err.backtrace] == [
        "#0 func 0 <inner>", "#1 func 1 <middle>", "#2 func 2 <export 'wizer-initialize'>"]
    # the innermost offset is the i32.div_u instruction of the input module
    offset = int(err.backtrace[0].rsplit("0x", 1)[1], 16)
    assert src[offset] == 0x6E  # i32.div_u
    assert "wasm backtrace:" in str(err)


def test_trap_in_the_start_function(wat):
    src = wat("""(module (func $boom unreachable) (start $boom) (func (export "wizer-initialize")))""")
    with pytest.raises(InitError, match="the start function trapped: wasm `unreachable`"):
        snapshot_bytes(src)


def test_calling_an_import_without_wasi(wat):
    src = wat("""(module (import "env" "log" (func $log (param i32)))
      (func (export "wizer-initialize") (call $log (i32.const 1))))""")
    with pytest.raises(InitError, match=r"called the imported function env\.log") as info:
        snapshot_bytes(src)
    assert info.value.reason == "import"
    c = build("calc")  # calc's start-up scans the WASI preopens: WASI is off by default
    with pytest.raises(InitError, match=r"wasi_snapshot_preview1\.fd_prestat_get.*WASI is off"):
        snapshot_bytes(c)


def test_proc_exit_during_init_is_an_error_with_captured_output(wat):
    src = wat("""(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "config missing\\n")
      (func (export "wizer-initialize")
        (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 15))
        (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $exit (i32.const 3))))""")
    with pytest.raises(InitError, match=r"proc_exit\(3\)") as info:
        snapshot_bytes(src, wasi=True)
    assert info.value.reason == "exit"
    assert "config missing" in info.value.output  # stderr was captured, not inherited


@pytest.mark.parametrize("module, match", [
    ('(module (func (export "x")))', "exports no init function"),
    ('(module (func (export "start")))', "no export named 'init'"),
    ('(module (memory (export "init") 1))', "is a memory, not a function"),
    ('(module (func (export "init") (param i32)))', r"has type \[i32\] -> \[\]"),
    ('(module (func (export "init") (result i32) i32.const 0))', r"must take no parameters and return nothing"),
])
def test_bad_init_function(wat, module, match):
    init = None if "exports no" in match else "init"
    refused(wat(module), match, init_func=init)


def test_invalid_input_is_a_validation_error(wat):
    bad = wat("(module (func (export \"wizer-initialize\")))")
    bad = bad.replace(b"\x0b", b"\x41", 1)  # corrupt the body: i32.const with no immediate
    with pytest.raises(ValidationError) as info:
        snapshot_bytes(bad)
    assert info.value.offset is not None


# ------------------------------------------------------------------ bounds

LOOP = '(module (func (export "wizer-initialize") (loop $l (br $l))))'


def test_endless_loop_stopped_by_fuel(wat):
    with pytest.raises(InitError, match="ran out of fuel after 1000000 units") as info:
        snapshot_bytes(wat(LOOP), fuel=1_000_000)
    assert info.value.reason == "fuel"
    assert info.value.backtrace and "func 0" in info.value.backtrace[0]


def test_endless_loop_stopped_by_timeout(wat):
    with pytest.raises(InitError, match=r"did not finish within the 0.2 s deadline") as info:
        snapshot_bytes(wat(LOOP), timeout=0.2)
    assert info.value.reason == "timeout"


def test_enough_fuel_and_time_let_init_finish(wat):
    src = wat("""(module (global $n (mut i32) (i32.const 0))
      (func (export "wizer-initialize") (loop $l
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (br_if $l (i32.lt_u (global.get $n) (i32.const 1000)))))
      (func (export "n") (result i32) global.get $n))""")
    reports = []
    out = snapshot_bytes(src, fuel=1_000_000, report=reports.append)
    assert wm.parse(out).globals[0].init == wm.ConstExpr.i32(1000)
    assert 1000 < reports[0].fuel_used < 1_000_000
    assert wm.parse(snapshot_bytes(src, timeout=30)).globals[0].init == wm.ConstExpr.i32(1000)
    with pytest.raises(InitError, match="out of fuel"):
        snapshot_bytes(src, fuel=100)


GROW = """(module (memory $m 1 {max})
  (func (export "wizer-initialize")
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))))"""


def test_memory_growth_past_the_cap_is_stopped(wat):
    with pytest.raises(InitError) as info:
        snapshot_bytes(wat(GROW.format(max="")), max_memory=8 * 65536)
    err = info.value
    assert err.reason == "memory"
    assert "tried to grow memory 0 by 1 pages (from 8 pages" in str(err)
    assert "memory cap of 524288 bytes" in str(err)
    assert "memory.grow guard" in err.backtrace[0]


def test_growth_refused_by_the_module_own_maximum_is_not_the_cap(wat):
    """memory.grow failing at the declared maximum is ordinary behaviour and snapshots fine."""
    out = snapshot_bytes(wat(GROW.format(max=5)), max_memory=8 * 65536)
    assert wm.parse(out).memories[0].limits.min == 5


def test_initial_memory_over_the_cap(wat):
    with pytest.raises(InitError, match="instantiation needs more memory than the cap of 65536 bytes") as info:
        snapshot_bytes(wat('(module (memory 3) (func (export "wizer-initialize")))'), max_memory=65536)
    assert info.value.reason == "memory"


def test_c_program_bounds():
    """The primes fixture: its sieve needs 2 MB and ~10^8 instructions."""
    primes = build("primes")
    with pytest.raises(InitError, match="out of fuel"):
        snapshot_bytes(primes, fuel=1_000_000)
    with pytest.raises(InitError, match=r"past the memory cap of 3145728 bytes") as info:
        snapshot_bytes(primes, max_memory=3 << 20)  # 2 MiB of static data fit, the 4 MiB hash map does not
    assert any("sbrk" in line for line in info.value.backtrace)  # the guard was reached from malloc's sbrk
    out = snapshot_bytes(primes, max_memory=16 << 20)  # enough: works with the guards in place
    assert wm.parse(out).memories[0].limits.min * 65536 <= 16 << 20
