"""``wasmweld snapshot IN -o OUT ...``: the command line of issue 5.

The output is written atomically and validated, the report goes to stderr,
errors are exactly one ``error:`` line with exit status 1 (for a trap, running
out of fuel or time: the cause, the wasm backtrace and the init's output tail
joined with "; "), usage errors exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fixtures.snapshot.snaputil import Instance, build

import wasmweld.module as wm
from wasmweld.cli.main import main
from wasmweld.runtime.engine import validate_bytes

COUNTER = """(module
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (func (export "wizer-initialize")
    (global.set $n (i32.const 41))
    (i32.store (i32.const 1024) (i32.const 0xabcdef)))
  (func (export "answer") (result i32) (i32.add (global.get $n) (i32.const 1)))
  (func (export "stored") (result i32) (i32.load (i32.const 1024))))"""


@pytest.fixture
def counter(tmp_path):
    path = tmp_path / "counter.wat"
    path.write_text(COUNTER)
    return path


def test_snapshot_writes_a_valid_module_and_reports(counter, tmp_path, capsys):
    out = tmp_path / "out.wasm"
    assert main(["snapshot", str(counter), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    data = out.read_bytes()
    validate_bytes(data)
    inst = Instance(data)
    assert (inst("answer"), inst("stored")) == (42, 0xABCDEF)
    assert not inst.has("wizer-initialize")
    assert "snapshot: memory captured: 3 bytes of 65536 in 1 data segments" in err
    assert "snapshot: globals set: 1 of 1 mutable" in err
    assert f"-> {len(data)} bytes" in err


def test_options_reach_the_snapshot(counter, tmp_path, capsys):
    out, report = tmp_path / "out.wasm", tmp_path / "report.json"
    status = main(["snapshot", str(counter), "-o", str(out), "--keep-init-func", "--rename-func", "get=answer",
                   "--fuel", "100000", "--max-memory", "1MiB", "--report", str(report), "-q"])
    assert status == 0
    assert capsys.readouterr().err == ""
    m = wm.parse(out.read_bytes())
    assert [e.name for e in m.exports] == ["memory", "wizer-initialize", "get", "stored"]
    doc = json.loads(report.read_text())
    assert doc["globals_set"] == 1 and doc["output_size"] == len(out.read_bytes())
    assert 0 < doc["fuel_used"] < 100000


def test_wasi_directory_and_env(tmp_path, capsys):
    calc = tmp_path / "calc.wasm"
    calc.write_bytes(build("calc"))
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "prog.calc").write_text("def cube(x) = x * x * x;\n")
    out = tmp_path / "out.wasm"
    assert main(["snapshot", str(calc), "-o", str(out), "--allow-wasi", "--dir", f"{scripts}::/script"]) == 0
    inst = Instance(out.read_bytes())
    assert inst("script_source") == 1 and inst.eval("cube(7)") == 343
    assert main(["snapshot", str(calc), "-o", str(out), "--allow-wasi", "--env", "CALC_SCRIPT=def h(x) = x / 2;"]) == 0
    inst = Instance(out.read_bytes())
    assert inst("script_source") == 2 and inst.eval("h(9)") == 4
    capsys.readouterr()
    # WASI off: the first WASI call (wasi-libc's preopen scan in the reactor's _initialize, which runs
    # before the init function) is the error, with its backtrace
    assert main(["snapshot", str(calc), "-o", str(tmp_path / "x.wasm")]) == 1
    err = _one_error_line(capsys.readouterr().err)
    assert err.startswith(f"error: {calc}: the reactor initialiser '_initialize' called the imported function "
                          "wasi_snapshot_preview1.fd_prestat_get")
    assert "; wasm backtrace: #0 func " in err
    assert err.index("<__wasilibc_populate_preopens>") < err.index("<_initialize>")
    assert not (tmp_path / "x.wasm").exists()


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"expected exactly one error line, got {err!r}"
    return lines[0]


# $inner does the work and fails; $init calls it: the backtrace names both, innermost first
_FAILING_INIT = {
    "trap": ('(module (global $z (mut i32) (i32.const 0))'
             ' (func $divide (param i32) (result i32) (i32.div_s (local.get 0) (global.get $z)))'
             ' (func $init (export "wizer-initialize") (drop (call $divide (i32.const 7)))))',
             [], "init function 'wizer-initialize' trapped: integer divide by zero", "divide"),
    "fuel": ('(module (func $spin (loop $l (br $l))) (func $init (export "wizer-initialize") (call $spin)))',
             ["--fuel", "5000"], "init function 'wizer-initialize' ran out of fuel after 5000 units", "spin"),
    "timeout": ('(module (func $spin (loop $l (br $l))) (func $init (export "wizer-initialize") (call $spin)))',
                ["--timeout", "0.1"], "init function 'wizer-initialize' did not finish within the 0.1 s deadline",
                "spin"),
}


@pytest.mark.parametrize("case", sorted(_FAILING_INIT))
def test_trap_and_bounds_are_one_line_with_the_backtrace(case, tmp_path, capsys):
    wat, options, cause, inner = _FAILING_INIT[case]
    src = tmp_path / "app.wat"
    src.write_text(wat)
    out = tmp_path / "out.wasm"
    assert main(["snapshot", str(src), "-o", str(out), *options]) == 1
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert captured.out == ""
    assert line.startswith(f"error: {src}: {cause}"), line
    # the frames of the function that failed and of its caller, in order, after the cause
    assert f"; wasm backtrace: #0 func 0 <{inner}> at offset 0x" in line, line
    assert "; #1 func 1 <init> at offset 0x" in line, line
    assert line.index(cause) < line.index("#0 func 0") < line.index("#1 func 1")
    assert "  " not in line  # the library's indentation is gone
    assert not out.exists()


def test_trap_shows_the_init_output_on_the_same_line(tmp_path, capsys):
    """With WASI on, stdout is captured: its tail is part of the one error line."""
    src = tmp_path / "chatty.wat"
    src.write_text("""(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "booting\\n  step 1 done\\n")
      (func $fail (unreachable))
      (func $init (export "wizer-initialize")
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 22))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $fail)))""")
    assert main(["snapshot", str(src), "-o", str(tmp_path / "o.wasm"), "--allow-wasi"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: {src}: init function 'wizer-initialize' trapped: wasm `unreachable`"), line
    assert "; wasm backtrace: #0 func 1 <fail> at offset 0x" in line and "; #1 func 2 <init> at offset 0x" in line
    assert line.endswith("; init output (tail): [stdout] booting; step 1 done"), line
    assert not (tmp_path / "o.wasm").exists()


def test_refusal_is_one_error_line(tmp_path, capsys):
    src = tmp_path / "imp.wat"
    src.write_text('(module (import "env" "memory" (memory 1)) (func (export "wizer-initialize")))')
    assert main(["snapshot", str(src), "-o", str(tmp_path / "o.wasm")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {src}: cannot snapshot: the module imports memory env.memory")


@pytest.mark.parametrize("argv, message", [
    (["--dir", "/tmp"], "--dir, --dir-rw, --env and --inherit-stdio need --allow-wasi"),
    (["--allow-wasi", "--dir", "/no/such/dir"], "does not exist"),
    (["--rename-func", "a=b", "--rename-func", "a=c"], "two sources for 'a'"),
])
def test_option_errors(counter, tmp_path, capsys, argv, message):
    assert main(["snapshot", str(counter), "-o", str(tmp_path / "o.wasm"), *argv]) == 1
    assert message in capsys.readouterr().err


def test_usage_errors_exit_2(counter, tmp_path, capsys):
    out = str(tmp_path / "o.wasm")
    assert main(["snapshot", str(counter), "-o", out, "--fuel", "0"]) == 2
    assert main(["snapshot", str(counter), "-o", out, "--max-memory", "lots"]) == 2
    assert main(["snapshot", str(counter), "-o", out, "--rename-func", "nodst"]) == 2
    capsys.readouterr()


def test_no_limits_contradicting_a_bound_is_refused(counter, tmp_path, capsys):
    out = tmp_path / "o.wasm"
    assert main(["snapshot", str(counter), "-o", str(out), "--no-limits", "--timeout", "1"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["snapshot", str(counter), "-o", str(out), "--no-limits", "--max-memory", "1M"]) == 1
    assert "--no-limits lifts --timeout and --max-memory" in capsys.readouterr().err
    assert not out.exists()


def test_refuses_to_overwrite_the_input(tmp_path, capsys):
    src = tmp_path / "m.wasm"
    from wasmweld.runtime.engine import wat2wasm

    original = wat2wasm(COUNTER)
    src.write_bytes(original)
    assert main(["snapshot", str(src), "-o", str(src)]) == 1
    assert "refusing to overwrite input" in capsys.readouterr().err
    assert src.read_bytes() == original
    assert main(["snapshot", str(src), "-o", str(src), "--force", "-q"]) == 0
    assert Instance(src.read_bytes())("answer") == 42


def test_runs_as_a_program(counter, tmp_path):
    out = tmp_path / "out.wasm"
    env = dict(os.environ)
    src_dir = str(os.path.join(os.path.dirname(__file__), "..", "src"))
    env["PYTHONPATH"] = src_dir + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "wasmweld", "snapshot", str(counter), "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "snapshot: globals set: 1 of 1 mutable" in proc.stderr
    assert Instance(out.read_bytes())("answer") == 42


def test_cache_skips_compiling_and_survives_a_damaged_entry(tmp_path, wat):
    """--cache DIR: the second snapshot loads the compiled module (authenticated); a damaged entry is
    discarded with a warning and recompiled; the output is the same every time."""
    import warnings

    from wasmweld.preinit import snapshot_bytes
    from wasmweld.runtime.cache import CacheWarning

    src = wat("""(module (memory 1) (global $g (mut i32) (i32.const 0))
                   (func (export "wizer-initialize") (i32.store (i32.const 64) (i32.const 42))
                     (global.set $g (i32.const 7)))
                   (func (export "get") (result i32) (i32.add (global.get $g) (i32.load (i32.const 64)))))""")
    plain = snapshot_bytes(src)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    inp, out = tmp_path / "in.wasm", tmp_path / "out.wasm"
    inp.write_bytes(src)
    assert main(["snapshot", str(inp), "-o", str(out), "-q", "--cache", str(cache)]) == 0
    assert out.read_bytes() == plain
    entries = [p for p in cache.iterdir() if p.suffix == ".cwasm"]
    assert len(entries) == 1 and not (cache / (entries[0].name + ".ok")).exists()
    assert snapshot_bytes(src, cache_dir=cache) == plain
    assert (cache / (entries[0].name + ".ok")).exists()  # loaded (and verified once) from the cache
    raw = bytearray(entries[0].read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    entries[0].write_bytes(bytes(raw))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = snapshot_bytes(src, cache_dir=cache)
    assert again == plain
    assert any(issubclass(w.category, CacheWarning) for w in caught)
    assert Instance(again)("get") == 49
