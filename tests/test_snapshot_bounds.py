"""Issue 17 regressions for ``wasmweld snapshot``: every run bounded, tables included; all outputs or none.

Each test builds a hostile or odd module in WAT and checks the outcome (an
``InitError`` with its reason, the output's memory, the files left behind).
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wasmweld.cli.main import main
from wasmweld.preinit import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_TIMEOUT,
    InitError,
    Preopen,
    WasiOptions,
    snapshot,
    snapshot_bytes,
    tables_may_change,
)
from wasmweld.runtime import preinit_runner
from wasmweld.runtime.engine import wat2wasm

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "conformance"


def memory_of(out: bytes, n: int = 16) -> bytes:
    import wasmtime

    eng = wasmtime.Engine()
    store = wasmtime.Store(eng)
    module = wasmtime.Module(eng, out)
    linker = wasmtime.Linker(eng)
    seen = set()
    for imp in module.imports:
        if isinstance(imp.type, wasmtime.TagType) and (imp.module, imp.name) not in seen:
            seen.add((imp.module, imp.name))
            linker.define(store, imp.module, imp.name, wasmtime.Tag(store, imp.type))
    linker.define_unknown_imports_as_traps(module)
    inst = linker.instantiate(store, module)
    mem = next(v for _, v in inst.exports(store).items() if isinstance(v, wasmtime.Memory))
    return bytes(mem.read(store, 0, n))


def test_defaults_bound_every_run():
    for fn in (snapshot, snapshot_bytes):
        params = inspect.signature(fn).parameters
        assert params["timeout"].default == DEFAULT_TIMEOUT == 120.0
        assert params["max_memory"].default == DEFAULT_MAX_MEMORY == 2 << 30


def test_cli_reports_the_default_bounds_and_no_limits_lifts_them(tmp_path, capsys):
    src = tmp_path / "m.wat"
    src.write_text('(module (memory 1) (func (export "wizer-initialize")))')
    out, rep = tmp_path / "o.wasm", tmp_path / "r.json"
    assert main(["snapshot", str(src), "-o", str(out), "--report", str(rep), "-q"]) == 0
    doc = json.loads(rep.read_text())
    assert (doc["timeout"], doc["max_memory"]) == (120.0, 2 << 30)
    assert set(doc["times"]) == {"startup", "compile", "instrument", "init", "capture", "rewrite", "write"}
    assert main(["snapshot", str(src), "-o", str(out), "--report", str(rep), "-q", "--no-limits"]) == 0
    doc = json.loads(rep.read_text())
    assert (doc["timeout"], doc["max_memory"]) == (None, None)
    capsys.readouterr()


# ---------------------------------------------------------------------- tables

HUGE_TABLE_EMPTY_INIT = '(module (table 2000000 funcref) (func $f) (elem (i32.const 7) $f) ' \
    '(func (export "wizer-initialize")))'


def test_tables_are_not_read_back_when_no_code_can_change_them(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("the table was read element by element")

    monkeypatch.setattr(preinit_runner, "_func_table_ids", fail)
    out = snapshot_bytes(wat2wasm(HUGE_TABLE_EMPTY_INIT), timeout=30)
    assert out.startswith(b"\0asm")


@pytest.mark.parametrize("body, expected", [
    ("(func (export \"wizer-initialize\"))", False),
    ("(func (export \"wizer-initialize\") (table.set (i32.const 0) (ref.null func)))", True),
    ("(func (export \"wizer-initialize\") (drop (table.grow (ref.null func) (i32.const 1))))", True),
    ("(func (export \"wizer-initialize\") (table.fill (i32.const 0) (ref.null func) (i32.const 1)))", True),
])
def test_tables_may_change(body, expected):
    from wasmweld.module import parse

    assert tables_may_change(parse(wat2wasm(f"(module (table 2 funcref) {body})"))) is expected
    # no table of its own: nothing to compare whatever the code
    assert tables_may_change(parse(wat2wasm('(module (func (export "wizer-initialize")))'))) is False


def test_reading_a_huge_table_back_stops_at_the_deadline():
    # table.set exists (in dead code): the 4M-element table must be compared, which takes seconds
    src = wat2wasm('(module (table 4000000 funcref) (func (export "wizer-initialize") '
                   '(if (i32.const 0) (then (table.set (i32.const 0) (ref.null func))))))')
    with pytest.raises(InitError) as info:
        snapshot_bytes(src, timeout=0.5)
    assert info.value.reason == "timeout"


def test_table_growth_past_the_cap_fails_inside_the_module():
    # with a 1 MiB cap a table may hold 131072 elements: table.grow by 20M returns -1 at once
    src = wat2wasm('(module (memory (export "m") 1) (table 1 funcref) (func (export "wizer-initialize") '
                   '(i32.store (i32.const 0) (table.grow (ref.null func) (i32.const 20000000)))))')
    out = snapshot_bytes(src, max_memory=1 << 20)
    assert memory_of(out, 4) == b"\xff\xff\xff\xff"


def test_table_over_the_cap_at_instantiation_is_refused():
    src = wat2wasm('(module (table 200000 funcref) (func (export "wizer-initialize")))')
    with pytest.raises(InitError, match="table of more than 131072 elements") as info:
        snapshot_bytes(src, max_memory=1 << 20)
    assert info.value.reason == "memory"
    assert snapshot_bytes(src, max_memory=None).startswith(b"\0asm")


# ---------------------------------------------------------------------- the same tag imported twice

def test_a_tag_imported_twice_is_one_tag():
    src = wat2wasm('''(module
      (tag $a (import "test" "e0")) (tag $b (import "test" "e0"))
      (memory (export "m") 1)
      (func (export "wizer-initialize")
        (block $h (try_table (catch $b $h) (throw $a)))
        (i32.store8 (i32.const 0) (i32.const 1))))''')
    assert memory_of(snapshot_bytes(src), 1) == b"\x01"


def test_spec_module_importing_a_tag_twice_gives_a_clean_error():
    path = SHARED / "valid" / "exceptions" / "try_table.1.wasm"
    if not path.exists():
        pytest.skip("the conformance suite (../shared) is not there")
    with pytest.raises(InitError, match="init function 'unreachable-not-caught' trapped"):
        snapshot_bytes(path.read_bytes(), "unreachable-not-caught")


# ---------------------------------------------------------------------- blocking WASI calls, output

SLEEP = '''(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wizer-initialize")
    ;; one clock subscription: tag 0 at 8, clock id 1 (monotonic) at 16, timeout 20 s at 24
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 20000000000))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))'''


def test_a_blocking_wasi_sleep_is_stopped_at_the_deadline(tmp_path):
    """In a child process: the worker thread left sleeping in WASI lives until its 20 s are up, and a
    thread alive in the test process would keep later tests' big jobs in one process (no fork while
    another thread runs: tests/test_twocore.py)."""
    (tmp_path / "sleep.wasm").write_bytes(wat2wasm(SLEEP))
    code = ("import sys, time\nfrom wasmweld.errors import InitError\nfrom wasmweld.preinit import snapshot_bytes\n"
            "t0 = time.monotonic()\ntry:\n"
            f"    snapshot_bytes(open({str(tmp_path / 'sleep.wasm')!r}, 'rb').read(), wasi=True, timeout=1)\n"
            "except InitError as e:\n    print(e.reason, time.monotonic() - t0)\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout, f"no InitError: {proc.stderr[-2000:]}"
    reason, seconds = proc.stdout.splitlines()[0].split()
    assert reason == "timeout" and "outside wasm code" in proc.stdout, proc.stdout + proc.stderr
    assert float(seconds) < 15  # the 20 s sleep was not waited for


CHATTY = '''(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (func (export "wizer-initialize") (local $i i32)
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 1048576))
    (memory.fill (i32.const 1024) (i32.const 65) (i32.const 1048576))
    (i32.store8 (i32.const 1049599) (i32.const 90))
    (loop $l
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 256))))
    unreachable))'''


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak RSS read from /proc")
def test_captured_output_is_not_read_into_memory(tmp_path):
    """256 MiB written by init: the error shows the tail; the process never holds the output."""
    src = tmp_path / "chatty.wat"
    src.write_text(CHATTY)
    # VmHWM (this process's peak RSS), not ru_maxrss: that one keeps a big parent's peak across fork+exec
    code = ("import sys\nfrom wasmweld.cli.main import main\n"
            f"rc = main(['snapshot', {str(src)!r}, '-o', {str(tmp_path / 'o.wasm')!r}, '--allow-wasi'])\n"
            "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]\n"
            "print(hwm.split()[1])\nsys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "trapped" in proc.stderr and "AAAAZ" in proc.stderr
    peak_kib = int(proc.stdout.split()[-1])
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB: the 256 MiB of output were held in memory"
    assert not (tmp_path / "o.wasm").exists()


# ---------------------------------------------------------------------- directories read-only by default

CREATE = '''(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "made.txt")
  (func (export "wizer-initialize")
    ;; path_open(fd 3, dirflags 0, "made.txt", O_CREAT, rights: all, fdflags 0, fd out at 64)
    (i32.store (i32.const 0)
      (call $open (i32.const 3) (i32.const 0) (i32.const 32) (i32.const 8) (i32.const 1)
                  (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 64)))))'''


@pytest.mark.parametrize("how, writable", [
    (["--dir", "{d}::/cfg"], False),
    (["--dir", "{d}::/cfg::rw"], True),
    (["--dir-rw", "{d}::/cfg"], True),
])
def test_cli_dirs_are_read_only_unless_asked(tmp_path, capsys, how, writable):
    d = tmp_path / "host"
    d.mkdir()
    src = tmp_path / "create.wat"
    src.write_text(CREATE)
    out = tmp_path / "o.wasm"
    argv = [a.format(d=d) for a in how]
    assert main(["snapshot", str(src), "-o", str(out), "-q", "--allow-wasi", *argv]) == 0
    capsys.readouterr()
    errno = int.from_bytes(memory_of(out.read_bytes(), 4), "little")
    assert (d / "made.txt").exists() is writable
    assert (errno == 0) is writable


def test_api_preopen_read_only():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = snapshot_bytes(wat2wasm(CREATE), wasi=WasiOptions(preopens=[Preopen(d, "/cfg", writable=False)],
                                                               stdout=None, stderr=None))
        assert not os.listdir(d)
        assert int.from_bytes(memory_of(out, 4), "little") != 0


# ---------------------------------------------------------------------- all outputs or none

def test_report_write_failure_leaves_no_output(tmp_path, capsys):
    src = tmp_path / "m.wat"
    src.write_text('(module (memory 1) (func (export "wizer-initialize") (i32.store (i32.const 0) (i32.const 7))))')
    out = tmp_path / "o.wasm"
    assert main(["snapshot", str(src), "-o", str(out), "--report", "/dev/full", "-q"]) == 1
    assert "/dev/full" in capsys.readouterr().err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m.wat"]  # no temporary file left either
    # an existing output is left as it was
    out.write_bytes(b"old")
    assert main(["snapshot", str(src), "-o", str(out), "--report", "/dev/full", "-q"]) == 1
    assert out.read_bytes() == b"old"
    capsys.readouterr()


GROW_BIG = '''(module (memory (export "m") 1)
  (func (export "wizer-initialize") (i32.store (i32.const 0) (memory.grow (i32.const 40000)))))'''


def test_the_default_memory_cap_refuses_growth_inside_the_module():
    # 40,000 pages (2.4 GiB) is past the default cap of 2 GiB: memory.grow returns -1, no guard is needed
    out = snapshot_bytes(wat2wasm(GROW_BIG))
    assert memory_of(out, 4) == b"\xff\xff\xff\xff"
    from wasmweld.module import parse

    assert parse(out).memories[0].limits.min == 1
    # a cap asked for stops init with a message naming it (the memory.grow guard)
    with pytest.raises(InitError, match="past the memory cap of 1048576 bytes") as info:
        snapshot_bytes(wat2wasm(GROW_BIG), max_memory=1 << 20)
    assert info.value.reason == "memory"


def test_a_deadline_passed_before_init_starts_still_stops_it(monkeypatch):
    """The epoch deadline is relative: a tick that came before it was set must not leave init unbounded."""
    real = preinit_runner.WasmtimeRunner._init_export

    def slow_init_export(self, exports, init_func):
        time.sleep(0.5)  # the 0.2 s deadline passes while the runner is still getting ready
        return real(self, exports, init_func)

    monkeypatch.setattr(preinit_runner.WasmtimeRunner, "_init_export", slow_init_export)
    src = wat2wasm('(module (func (export "wizer-initialize") (loop $l (br $l))))')
    with pytest.raises(InitError, match="before the init code could start") as info:
        snapshot_bytes(src, timeout=0.2)  # not "abandoned": that would leave the loop spinning in its thread
    assert info.value.reason == "timeout"
