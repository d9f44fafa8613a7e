"""The demanding user: every subcommand and the public API fed bad input.

Non-negotiable 3: bad input gets a wasmweld error -- exit status 1 (2 for usage
errors), one ``error: ...`` line naming the file and, for binary input, the byte
offset; never a traceback or an internal error; and nothing written (no output
file created, no input modified). The matrix below runs every subcommand on
every kind of broken module, in-process through ``wasmweld.cli.main.main``;
a few cases run the real ``wasmweld`` process (a terminal as stdout, --debug).
Pinned messages live in ``tests/cli/badinput_*`` (golden tests).
"""

from __future__ import annotations

import importlib
import io
import os
import pty
import random
import subprocess
import sys
from pathlib import Path

import pytest

import wasmweld
from wasmweld import DecodeError, EditError, EncodeError, ExecutionError, LinkError, SnapshotError, WasmError
from wasmweld.cli.main import main
from wasmweld.errors import InitError
from wasmweld.runtime.engine import wat2wasm

REPO = Path(__file__).resolve().parent.parent

# A module with every kind of section wat2wasm writes, no imports (so run/snapshot get as far as they can).
GOOD_WAT = r"""
(module
  (type $t (func (param i32) (result i32)))
  (table 2 funcref)
  (memory (export "memory") 1)
  (global $h (mut i32) (i32.const 5))
  (export "f" (func $f))
  (export "wizer.initialize" (func $init))
  (elem (i32.const 0) $f)
  (func $f (type $t) local.get 0 global.get $h i32.add)
  (func $init i32.const 9 global.set $h)
  (data (i32.const 16) "hello")
  (@custom "meta" "xyz"))
"""
GOOD = wat2wasm(GOOD_WAT)
SECTIONS = [(s.id, s.name if s.id == 0 else None, s.offset, s.offset + len(s.raw)) for s in wasmweld.parse(GOOD).sections]
PRE = b"\0asm\x01\0\0\0"


def _truncations() -> dict[str, bytes]:
    """Cuts inside every section: in its header, right after its size, in the middle of its payload."""
    out = {}
    for sid, name, start, end in SECTIONS:
        label = f"{name or sid}"
        out[f"cut-{label}-header"] = GOOD[: start + 1]
        out[f"cut-{label}-payload"] = GOOD[: (start + 2 + end) // 2]
        out[f"cut-{label}-last-byte"] = GOOD[: end - 1]
    # cut exactly before the code section: 2 functions declared, no bodies
    code = next(start for sid, _n, start, _e in SECTIONS if sid == 10)
    out["cut-before-code"] = GOOD[:code]
    return out


BINARY_CASES: dict[str, bytes] = {
    "empty": b"",
    "short-magic": b"\0as",
    "wrong-magic": b"\0asx\x01\0\0\0",
    "wrong-version": b"\0asm\x02\0\0\0",
    # an empty component is valid now (wasmweld.component); a component cut inside its type section is not
    "component": b"\0asm\x0d\0\x01\0\x07\x05\x01\x40",
    "garbage": bytes(random.Random(7).randrange(256) for _ in range(300)),
    "garbage-after-preamble": PRE + bytes(random.Random(8).randrange(256) for _ in range(300)),
    "text-not-wasm": b"hello, world\n",
    "huge-type-count": PRE + b"\x01\x06\xff\xff\xff\xff\x0f\x60",
    "huge-section-size": PRE + b"\x01\xff\xff\xff\xff\x0f",
    "huge-data-length": PRE + b"\x05\x03\x01\x00\x01\x0b\x0a\x01\x00\x41\x00\x0b\xff\xff\xff\xff\x0f",
    "duplicate-section": PRE + b"\x01\x04\x01\x60\x00\x00" * 2,
    **_truncations(),
}
TEXT_CASES: dict[str, bytes] = {
    "wat-syntax-error": b"(module (func frob))",
    "wat-unclosed": b"(module (func",
    "wat-not-utf8": b"(module (func \xff\xfe))",
}


def run_cli(monkeypatch, argv, *, stdin: bytes = b"", tty: bool = False) -> tuple[int, bytes, str]:
    """``wasmweld ARGV`` in-process: (status, stdout bytes, stderr text)."""

    class Stream(io.TextIOWrapper):
        def __init__(self, data=b""):
            super().__init__(io.BytesIO(data), encoding="utf-8", write_through=True)

        def isatty(self):
            return tty

    out, err = Stream(), Stream()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdin", Stream(stdin))
    monkeypatch.delenv("WASMWELD_DEBUG", raising=False)
    status = main([str(a) for a in argv])
    return status, out.buffer.getvalue(), err.buffer.getvalue().decode("utf-8", "replace")


# Every subcommand, as a function of (input, output) -> argv. `writes` marks the ones that write OUT.
COMMANDS = {
    "validate": (lambda i, o: ["validate", i], False),
    "info": (lambda i, o: ["info", i], False),
    "dump": (lambda i, o: ["dump", i], False),
    "compile": (lambda i, o: ["compile", i, "-o", o], True),
    "snapshot": (lambda i, o: ["snapshot", i, "-o", o], True),
    "run": (lambda i, o: ["run", i, "--invoke", "f", "1"], False),
    "merge": (lambda i, o: ["merge", f"{i}=a", "-o", o], True),
    "merge-pair-syntax": (lambda i, o: ["merge", i, "a", "-o", o], True),
    "merge-plan": (lambda i, o: ["merge", f"{i}=a", "--plan"], False),
    "graph": (lambda i, o: ["graph", f"{i}=a", "-o", o], True),
    "edit": (lambda i, o: ["edit", i, "-o", o, "--gc"], True),
    "strip": (lambda i, o: ["strip", i, "-o", o], True),
    "metadata-show": (lambda i, o: ["metadata", "show", i], False),
    "metadata-add": (lambda i, o: ["metadata", "add", i, "-o", o, "--custom", "k=v"], True),
}

# strip and metadata only split the sections and copy the ones they do not touch, so a
# malformed section they do not read goes through (reported to their owner).
def _assert_rejected(status, out, err, *, name: str, binary: bool, command: str):
    assert "Traceback" not in err and "internal error" not in err, err
    assert status == 1, f"exit status {status}; stderr: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    line = lines[0]
    assert line.startswith("error: " if command != "validate" else name), line
    assert name in line, f"the message does not name the file {name}: {line}"
    if binary:
        assert "offset 0x" in line, f"no byte offset in: {line}"
    if command not in ("dump",):  # dump prints what decodes before the error, by design
        assert out == b"", out[:200]


@pytest.mark.parametrize("case", sorted(BINARY_CASES) + sorted(TEXT_CASES))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_module(command, case, tmp_path, monkeypatch):
    binary = case in BINARY_CASES
    data = BINARY_CASES[case] if binary else TEXT_CASES[case]
    src = tmp_path / (case + (".wasm" if binary else ".wat"))
    src.write_bytes(data)
    out = tmp_path / "out.bin"
    build, writes = COMMANDS[command]
    monkeypatch.chdir(tmp_path)
    status, stdout, err = run_cli(monkeypatch, build(src.name, out.name))
    _assert_rejected(status, stdout, err, name=src.name, binary=binary, command=command)
    assert not out.exists()
    assert src.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]  # no temporary files left either


# ------------------------------------------------------------------ multi-line messages: one line for every command

_TRAP = InitError("init function 'wizer-initialize' trapped: integer divide by zero", "trap",
                  ["#0 func 3 <div> at offset 0x1a", "#1 func 4 <init> at offset 0x30"], "[stdout] hi\n  there\n")
_TRAP_LINE = ("error: init function 'wizer-initialize' trapped: integer divide by zero; "
              "wasm backtrace: #0 func 3 <div> at offset 0x1a; #1 func 4 <init> at offset 0x30; "
              "init output (tail): [stdout] hi; there")


@pytest.mark.parametrize("exc, expect", [
    (_TRAP, _TRAP_LINE),
    (LinkError("cannot merge:\n  a.f: type mismatch\n  b.g: missing\n"), "error: cannot merge: a.f: type mismatch; b.g: missing"),
], ids=["init-error", "link-error"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_prints_a_multiline_error_as_one_line(command, exc, expect, good_file, monkeypatch):
    """Whatever a subcommand raises, the CLI prints it as one line: newlines become "; ", indentation goes."""
    assert "\n" in str(exc)  # the library's message may have several lines; the CLI's may not
    name = command.split("-")[0]
    mod = importlib.import_module(f"wasmweld.cli.{name}")

    def run(args):
        raise exc

    monkeypatch.setattr(mod, "run", run)
    status, out, err = run_cli(monkeypatch, COMMANDS[command][0]("good.wasm", "out.bin"))
    assert (status, out) == (1, b""), err
    assert err == expect + "\n"


def test_process_prints_a_trap_in_init_as_one_line(tmp_path):
    """The real program: the snapshot trap's message and its backtrace frames on one stderr line."""
    (tmp_path / "trap.wat").write_text(
        '(module (func $div (param i32) (result i32) (i32.div_s (local.get 0) (i32.const 0)))'
        ' (func $init (export "wizer-initialize") (drop (call $div (i32.const 1)))))')
    r = _wasmweld("snapshot", "trap.wat", "-o", "out.wasm", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (1, b"")
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: trap.wat: init function 'wizer-initialize' trapped: integer divide by zero; "
                               "wasm backtrace: #0 func 0 <div> at offset 0x"), lines[0]
    assert "; #1 func 1 <init> at offset 0x" in lines[0]
    assert not (tmp_path / "out.wasm").exists()


# ------------------------------------------------------------------ files that are not there or not files

READERS = {name: build for name, (build, _w) in COMMANDS.items()}


@pytest.mark.parametrize("command", sorted(READERS))
@pytest.mark.parametrize("what", ["missing", "directory", "unreadable"])
def test_input_not_readable(command, what, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if what == "missing":
        src, expect = "nope.wasm", "nope.wasm"
    elif what == "directory":
        (tmp_path / "adir").mkdir()
        src, expect = "adir", "adir"
    else:  # we are root in CI: chmod 000 does not stop us, a read error does
        src, expect = "/proc/self/mem", "/proc/self/mem"
    status, out, err = run_cli(monkeypatch, READERS[command](src, "out.bin"))
    assert status == 1 and "Traceback" not in err and "internal error" not in err, err
    assert len(err.strip().splitlines()) == 1 and expect in err, err
    assert not (tmp_path / "out.bin").exists()


WRITERS = {name: build for name, (build, writes) in COMMANDS.items() if writes}


@pytest.fixture
def good_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.wasm").write_bytes(GOOD)
    return tmp_path / "good.wasm"


@pytest.mark.parametrize("command", sorted(WRITERS))
@pytest.mark.parametrize("target, message", [
    ("good.wasm", "refusing to overwrite input good.wasm"),
    ("nodir/out.wasm", "cannot write: no such directory"),
    ("good.wasm/out.wasm", "cannot write: not a directory"),
    (".", ".: is a directory"),
])
def test_bad_output_target(command, target, message, good_file, monkeypatch):
    before = sorted(p.name for p in good_file.parent.iterdir())
    status, out, err = run_cli(monkeypatch, WRITERS[command]("good.wasm", target))
    assert status == 1 and err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert good_file.read_bytes() == GOOD
    assert sorted(p.name for p in good_file.parent.iterdir()) == before
    assert not (good_file.parent / "nodir").exists()


@pytest.mark.parametrize("command", sorted(c for c in WRITERS if c != "graph"))
def test_binary_to_a_terminal_is_refused(command, good_file, monkeypatch):
    status, out, err = run_cli(monkeypatch, WRITERS[command]("good.wasm", "-"), tty=True)
    assert (status, out) == (1, b"") and "refusing to write binary to a terminal" in err, err


def test_graph_text_to_a_terminal_is_fine(good_file, monkeypatch):
    status, out, err = run_cli(monkeypatch, ["graph", "good.wasm=a"], tty=True)
    assert status == 0 and out.lstrip().startswith((b"<svg", b"<?xml")), (status, out[:80], err)


@pytest.mark.parametrize("command", sorted(READERS))
def test_unknown_option_is_a_usage_error(command, good_file, monkeypatch):
    status, out, err = run_cli(monkeypatch, READERS[command]("good.wasm", "out.bin") + ["--no-such-option"])
    assert status == 2 and "unrecognized arguments: --no-such-option" in err and "Traceback" not in err


def test_stdin_can_be_read_once(monkeypatch):
    status, out, err = run_cli(monkeypatch, ["validate", "-", "-"], stdin=GOOD)
    assert status == 1
    assert err.strip() == "<stdin>: standard input was read already; it can be given as an input only once"


@pytest.mark.parametrize("argv", [["validate", "-"], ["info", "-"], ["compile", "-", "-o", "x.cwasm"],
                                  ["snapshot", "-", "-o", "x.wasm"], ["run", "-", "--invoke", "f", "1"],
                                  ["merge", "-", "a", "-o", "x.wasm"]])
def test_bad_module_on_stdin_is_named_stdin(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(monkeypatch, argv, stdin=GOOD[:30])
    assert status == 1 and "<stdin>" in err and "offset 0x" in err, err
    assert list(tmp_path.iterdir()) == []


def test_run_reads_stdin(monkeypatch):
    status, out, err = run_cli(monkeypatch, ["run", "-", "--invoke", "f", "1"], stdin=GOOD)
    assert (status, out, err) == (0, b"6\n", "")


# ------------------------------------------------------------------ option values

@pytest.mark.parametrize("argv, status, message", [
    (["snapshot", "good.wasm", "-o", "x.wasm", "--fuel", "abc"], 2, "--fuel: not a whole number"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--fuel", "0"], 2, "--fuel: must be positive"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--fuel", "-5"], 2, "--fuel: must be positive"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--fuel", str(1 << 64)], 2, "--fuel: at most 18446744073709551615"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--timeout", "soon"], 2, "--timeout: not a number of seconds"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--timeout", "-1"], 2, "--timeout: must be positive"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--timeout", "nan"], 2, "--timeout: must be positive"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--timeout", "inf"], 2, "--timeout: at most"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--timeout", "1e400"], 2, "--timeout: at most"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--no-limits", "--timeout", "1"], 2, "not allowed with argument"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--max-memory", "lots"], 2, "--max-memory: not a size"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--max-memory", "-1"], 2, "--max-memory: not a size"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--max-segments", "0"], 2, "--max-segments: must be positive"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--max-memory", "0"], 1,
     "more memory than the cap of 0 bytes"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--rename-func", "=f"], 2, "expected NAME=VALUE"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--init-func", "nope"], 1, "no export named 'nope'"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--init-func", "f"], 1, "it must take no parameters"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--dir", "."], 1, "need --allow-wasi"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--allow-wasi", "--dir", "/no/such"], 1, "does not exist"),
    (["snapshot", "good.wasm", "-o", "-", "--report", "-"], 1, "would both write to standard output"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--report", "x.wasm"], 1, "is also the output module"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--report", "nodir/r.json"], 1, "nodir/r.json: cannot write"),
    (["snapshot", "good.wasm", "-o", "x.wasm", "--report", "good.wasm"], 1, "refusing to overwrite input"),
    (["snapshot", "good.wasm"], 1, "no output given"),
    (["run", "good.wasm", "--invoke", "f", "1", "--fuel", "abc"], 2, "--fuel: invalid int value"),
    (["run", "good.wasm", "--invoke", "f", "1", "--fuel", "-1"], 1, "fuel must be a whole number from 0"),
    (["run", "good.wasm", "--invoke", "f", "1", "--fuel", str(1 << 64)], 1, "fuel must be a whole number"),
    (["run", "good.wasm", "--invoke", "f", "1", "--fuel", "1"], 1, "ran out of fuel"),
    (["run", "good.wasm", "--invoke", "f", "abc"], 1, "'abc' is not a valid i32"),
    (["run", "good.wasm", "--invoke", "f", str(1 << 40)], 1, "is not a valid i32"),
    (["run", "good.wasm", "--invoke", "f"], 1, "takes 1 argument(s) (i32), got 0"),
    (["run", "good.wasm", "--invoke", "nope"], 1, "has no export 'nope'"),
    (["run", "good.wasm", "--invoke"], 2, "expected at least one argument"),
    (["run", "good.wasm"], 1, "is not a WASI command"),
    (["run", "good.wasm", "--invoke", "f", "1", "--stub", ".x"], 1, "--stub wants MODULE or MODULE.NAME"),
    (["run", "good.wasm", "--invoke", "f", "1", "--stub", "env."], 1, "--stub wants MODULE or MODULE.NAME"),
    (["run", "good.wasm", "--invoke", "f", "1", "--env", "NOEQUALS"], 1, "--env wants NAME=VALUE"),
    (["run", "good.wasm", "--invoke", "f", "1", "--dir", "/no/such"], 1, "does not exist"),
    (["run", "good.wasm", "--invoke", "f", "1", "--merged"], 1, "--merged applies to world manifests"),
    (["run", "good.wasm", "--invoke", "f", "1", "--cache", "good.wasm"], 1, "cannot create cache directory"),
    (["run", "good.wasm", "--invoke", "f", "1", "--dlopen", "nope.wasm"], 1, "nope.wasm"),
    (["merge"], 1, "no inputs: give FILE=NAME"),
    (["merge", "good.wasm", "-o", "x.wasm"], 1, "has no name: write good.wasm=NAME"),
    (["merge", "good.wasm=", "-o", "x.wasm"], 1, "expected FILE=NAME"),
    (["merge", "=a", "-o", "x.wasm"], 1, "expected FILE=NAME"),
    (["merge", "good.wasm", "good.wasm", "-o", "x.wasm"], 1, "looks like a file"),
    (["merge", "good.wasm=a", "good.wasm=a", "-o", "x.wasm"], 1, "two inputs are named 'a'"),
    (["merge", "good.wasm=a"], 1, "no output given"),
    (["merge", "good.wasm=a", "--plan", "-o", "x.wasm"], 1, "--plan writes nothing"),
    (["merge", "good.wasm=a", "--json", "-o", "-"], 1, "--json prints on standard output"),
    (["merge", "good.wasm=a", "-o", "x.wasm", "--export-from", "zz"], 1, "which is not an input"),
    (["merge", "good.wasm=a", "-o", "x.wasm", "--export-from", ","], 1, "export_from has an empty input name"),
    (["merge", "good.wasm=a", "-o", "x.wasm", "--single-memory", "--memory-reserve", "-5"], 1,
     "memory_reserve must be a number of 64 KiB pages"),
    (["merge", "good.wasm=a", "-o", "x.wasm", "--memory-reserve", "abc"], 2, "invalid int value"),
    (["merge", "good.wasm=a", "-o", "x.wasm", "--drop-memory-exports"], 1, "need --single-memory"),
    (["merge", "good.wasm=a", "-o", "x.wasm", "--gc", "--no-gc"], 2, "not allowed with argument"),
    (["merge", "good.wasm=a", "-o", "x.wasm", "-rec", "-sec"], 2, "not allowed with argument"),
    (["graph", "good.wasm=a", "--format", "png"], 2, "invalid choice: 'png'"),
    (["compile", "good.wasm"], 2, "the following arguments are required: -o/--output"),
    (["dump", "good.wasm", "--rows", "1"], 1, "--rows must be at least 3"),
    (["strip", "good.wasm", "-o", "x.wasm", "--regex", "("], 1, "bad section-name regex"),
    (["strip", "good.wasm", "-o", "x.wasm", "-i"], 1, "either -o/--output or -i/--in-place"),
    (["metadata", "add", "good.wasm", "-o", "x.wasm"], 1, "nothing to add"),
    (["metadata", "add", "good.wasm", "-o", "x.wasm", "--producer", "bogus", "x"], 1, "unknown producers field"),
    (["edit", "good.wasm", "-o", "x.wasm"], 1, "no edits given"),
    (["edit", "good.wasm", "-o", "x.wasm", "--plan", "nope.toml"], 1, "nope.toml"),
])
def test_option_errors(argv, status, message, good_file, monkeypatch):
    got, out, err = run_cli(monkeypatch, argv, tty=True)
    assert got == status and message in err, (got, err)
    assert "Traceback" not in err and "internal error" not in err
    if status == 1:
        assert len(err.strip().splitlines()) == 1, err
    assert good_file.read_bytes() == GOOD
    assert sorted(p.name for p in good_file.parent.iterdir()) == ["good.wasm"]


def test_snapshot_checks_report_target_before_writing(good_file, monkeypatch):
    """A bad --report destination used to be found after the output module was written."""
    status, out, err = run_cli(monkeypatch, ["snapshot", "good.wasm", "-o", "x.wasm", "--report", "nodir/r.json"])
    assert status == 1 and "nodir/r.json: cannot write: no such directory" in err
    assert not (good_file.parent / "x.wasm").exists()


# ------------------------------------------------------------------ world manifests

_MOD = '[[module]]\nname = "a"\npath = "good.wasm"\n'
MANIFESTS = {
    "toml-syntax": ('[[module]\nname = "a"', "not valid TOML"),
    "not-utf8": (b"\xff\xfe[[module]]", "not UTF-8 text"),
    "no-modules": ('[world]\nname = "x"\n', "no modules"),
    "module-no-name": ('[[module]]\npath = "good.wasm"\n', "module #1.name must be a non-empty string"),
    "module-no-path": ('[[module]]\nname = "a"\n', "module 'a'.path must be a non-empty string"),
    "module-name-int": ('[[module]]\nname = 5\npath = "good.wasm"\n', "module #1.name must be a non-empty string"),
    "modules-not-tables": ("modules = [1, 2]\n", "module #1 must be a table"),
    "duplicate-name": (_MOD + _MOD, "module name 'a' appears twice"),
    "unknown-key": (_MOD + "[extra]\n", "unknown key(s) extra"),
    "world-not-table": ("world = 5\n" + _MOD, "[world] must be a table"),
    "fuel-negative": ("[world]\nfuel = -1\n" + _MOD, "world.fuel must be a whole number"),
    "fuel-string": ('[world]\nfuel = "x"\n' + _MOD, "world.fuel must be a whole number"),
    "fuel-too-big": ("[world]\nfuel = 18446744073709551616\n" + _MOD, "world.fuel must be a whole number"),
    "stub-action": (_MOD + '[stubs]\n"env.f" = "explode"\n', 'must be "trap" or "zero"'),
    "stub-key": (_MOD + '[stubs]\n".f" = "trap"\n', "bad stub key"),
    "stubs-not-table": ('stubs = "x"\n' + _MOD, "[stubs] must be a table"),
    "wasi-not-table": ('wasi = "yes"\n' + _MOD, "[wasi] must be a table"),
    "wasi-args": (_MOD + '[wasi]\nargs = "x"\n', "wasi.args must be a list of strings"),
    "wasi-env": (_MOD + "[wasi]\nenv = {A = 1}\n", "wasi.env must be a table of strings"),
    "wasi-inherit-env": (_MOD + '[wasi]\ninherit_env = "yes"\n', "wasi.inherit_env must be true or false"),
    "wasi-preopens": (_MOD + "[wasi]\npreopens = 5\n", "wasi.preopens must be a table"),
    "wasi-readonly-string": (_MOD + '[wasi]\nreadonly = "/d"\n', "wasi.readonly must be a list"),
    "wasi-readonly-int": (_MOD + "[wasi]\nreadonly = 5\n", "wasi.readonly must be a list"),
    "wasi-readonly-unknown": (_MOD + '[wasi]\nreadonly = ["/d"]\n', "wasi.readonly names '/d'"),
    "wasi-preopen-missing": (_MOD + '[wasi]\npreopens = {"/d" = "nodir"}\n', "nodir' (for guest path '/d') does not exist"),
    "wasi-stdin-missing": (_MOD + '[wasi]\nstdin = "nope.txt"\n', "WASI stdin:"),
    "wasi-stdout-nodir": (_MOD + '[wasi]\nstdout = "nodir/out.txt"\n', "WASI stdout:"),
    "entries-not-table": ('entries = "x"\n' + _MOD, "[entries] must be a table"),
    "entry-bad-module": (_MOD + '[entries]\nx = "b.f"\n', "must be MODULE.EXPORT with MODULE one of a"),
    "entry-int": (_MOD + "[entries]\nx = 1\n", "entries.x must be a non-empty string"),
    "entry-missing-export": (_MOD + '[entries]\nx = "a.nope"\n', "a.nope is not an export"),
    "merge-unknown-option": (_MOD + "[merge]\nbogus = 1\n", "[merge]: unknown merge option(s) bogus"),
    "merge-option-type": (_MOD + '[merge]\ngc = "yes"\n', "[merge]: gc must be true or false"),
    "merge-option-value": (_MOD + "[merge]\nexport_conflicts = 5\n", "[merge]: export_conflicts must be one of"),
    "module-path-missing": ('[[module]]\nname = "a"\npath = "nope.wasm"\n', "nope.wasm"),
    "module-path-directory": ('[[module]]\nname = "a"\npath = "."\n', "directory"),
    "module-path-garbage": ('[[module]]\nname = "a"\npath = "bad.wasm"\n', "bad.wasm"),
    "module-path-malformed": ('[[module]]\nname = "a"\npath = "cut.wasm"\n', "cut.wasm"),
    "cache-dir-is-a-file": ('[world]\ncache_dir = "good.wasm"\n' + _MOD, "cannot create cache directory"),
    "unsatisfied-import": ('[[module]]\nname = "a"\npath = "imp.wat"\n', "unsatisfied imports"),
}


@pytest.mark.parametrize("merged", [False, True], ids=["swarm", "merged"])
@pytest.mark.parametrize("case", sorted(MANIFESTS))
def test_bad_manifest(case, merged, good_file, monkeypatch):
    text, message = MANIFESTS[case]
    if merged and case == "unsatisfied-import":
        # the merged module keeps the import; a.f is its export f (issue 15), which takes no argument
        message = "world.f takes 0 argument(s) (none), got 1"
    d = good_file.parent
    (d / "bad.wasm").write_bytes(b"garbage")
    (d / "cut.wasm").write_bytes(GOOD[:40])
    (d / "imp.wat").write_text('(module (import "zz" "f" (func)) (func (export "f")))')
    man = d / "world.toml"
    man.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = {p.name: p.stat().st_mtime_ns for p in d.iterdir()}
    argv = ["run", "world.toml", *(["--merged"] if merged else []), "--invoke", "a.f", "1"]
    status, out, err = run_cli(monkeypatch, argv)
    assert status == 1 and message in err, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert {p.name: p.stat().st_mtime_ns for p in d.iterdir()} == before


def test_manifest_that_is_a_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.toml").mkdir()
    status, out, err = run_cli(monkeypatch, ["run", "w.toml"])
    assert status == 1 and err.strip() == "error: w.toml: cannot read: Is a directory"


# ------------------------------------------------------------------ compiled artifacts (.cwasm)

def _flip_after(data: bytes, marker: bytes) -> bytes:
    i = data.rindex(marker) + len(marker)
    return data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> bytes:
    from wasmweld.cli.compile import compile_bytes

    return compile_bytes(GOOD, name="good.wasm")


@pytest.mark.parametrize("damage, message", [
    (lambda a: a[: len(a) // 2], "truncated or damaged"),
    (lambda a: a[:-10], "truncated or damaged"),
    (lambda a: a[:-1] + bytes([a[-1] ^ 1]), "truncated or damaged"),
    (lambda a: a[: len(a) // 3] + bytes([a[len(a) // 3] ^ 0xFF]) + a[len(a) // 3 + 1:], "checksum mismatch"),
    (lambda a: _flip_after(a, b'"wasmtime": "'), "checksum mismatch"),  # another wasmtime, same length
    (lambda a: b"", "neither a WebAssembly binary"),
    (lambda a: b"junk" * 20, "neither a WebAssembly binary"),
])
def test_corrupt_artifact(artifact, damage, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.cwasm").write_bytes(damage(artifact))
    status, out, err = run_cli(monkeypatch, ["run", "app.cwasm", "--invoke", "f", "1"])
    assert status == 1 and message in err and "app.cwasm" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_artifact_is_not_a_module_to_compile_or_merge(artifact, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.cwasm").write_bytes(artifact)
    for argv in (["compile", "app.cwasm", "-o", "again.cwasm"], ["validate", "app.cwasm"],
                 ["merge", "app.cwasm=a", "-o", "m.wasm"], ["snapshot", "app.cwasm", "-o", "s.wasm"]):
        status, out, err = run_cli(monkeypatch, argv)
        assert status == 1 and "app.cwasm" in err and "magic header not detected at offset 0x0" in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.cwasm"]
    status, out, err = run_cli(monkeypatch, ["run", "app.cwasm", "--invoke", "f", "1", "--fuel", "10"])
    assert status == 1 and "compiled for another engine configuration (differs in: fuel)" in err


# ------------------------------------------------------------------ malformed or invalid inputs that merge reads lazily

def _body_module(body: bytes, extra: bytes = b"") -> bytes:
    """(func (export "f")) with the given raw body (locals + expression)."""
    from wasmweld.binary.leb import write_u

    code = write_u(1) + write_u(len(body)) + body
    return (PRE + b"\x01\x04\x01\x60\x00\x00" + b"\x03\x02\x01\x00" + b"\x07\x05\x01\x01f\x00\x00"
            + b"\x0a" + write_u(len(code)) + code + extra)


MERGE_INPUTS = {
    # malformed where merge reads lazily: must be the input's DecodeError, at the input's offset
    "illegal-opcode": (_body_module(b"\x00\xff\x0b"), "input 'a': illegal opcode 0xff while reading code body 0 "
                                                      "at offset 0x1e"),
    "missing-end": (_body_module(b"\x00\x01"), "input 'a': unexpected end of section or function while reading "
                                               "code body 0 at offset 0x1f"),
    # invalid: wasmtime's verdict on the input, not "the merged module does not validate"
    "too-many-locals": (_body_module(b"\x01\xff\xff\xff\xff\x0f\x7f\x0b"),
                        "input 'a' is not a valid module: too many locals"),
    "call-out-of-range": (_body_module(b"\x00\x10\x05\x0b"),
                          "input 'a' is not a valid module: unknown function 5"),
    "export-out-of-range": (PRE + b"\x07\x05\x01\x01f\x00\x07", "input 'a' is not a valid module: unknown function 7"),
    "start-out-of-range": (PRE + b"\x08\x01\x03", "input 'a' is not a valid module: unknown function 3"),
}


@pytest.mark.parametrize("other", [False, True], ids=["alone", "with-another"])
@pytest.mark.parametrize("case", sorted(MERGE_INPUTS))
def test_merge_blames_the_bad_input(case, other, good_file, monkeypatch):
    data, message = MERGE_INPUTS[case]
    (good_file.parent / "bad.wasm").write_bytes(data)
    argv = ["merge", *(["good.wasm=g"] if other else []), "bad.wasm=a", "-o", "m.wasm", "-rec", "-q"]
    status, out, err = run_cli(monkeypatch, argv)
    assert status == 1 and err.startswith("error: bad.wasm: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (good_file.parent / "m.wasm").exists()


# ------------------------------------------------------------------ the real process

def _wasmweld(*args, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("WASMWELD_DEBUG", None)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "wasmweld", *args], env=env, timeout=120, **kw)


def test_process_bad_input_exit_1_without_traceback(tmp_path):
    (tmp_path / "cut.wasm").write_bytes(GOOD[:40])
    r = _wasmweld("snapshot", "cut.wasm", "-o", "out.wasm", cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode().startswith("error: cut.wasm: ") and b"Traceback" not in r.stderr
    assert b"offset 0x" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "out.wasm").exists()
    r = _wasmweld("--debug", "snapshot", "cut.wasm", "-o", "out.wasm", cwd=tmp_path)
    assert r.returncode == 1 and b"Traceback" in r.stderr  # --debug shows where it came from


def test_process_refuses_binary_to_a_terminal(tmp_path):
    (tmp_path / "good.wasm").write_bytes(GOOD)
    main_fd, tty_fd = pty.openpty()
    try:
        r = _wasmweld("compile", "good.wasm", "-o", "-", cwd=tmp_path, stdout=tty_fd, stderr=subprocess.PIPE)
    finally:
        os.close(tty_fd)
        os.close(main_fd)
    assert r.returncode == 1
    assert r.stderr.decode().strip() == "error: refusing to write binary to a terminal; use -o FILE"


# ------------------------------------------------------------------ the Python API

def _read_everything(m) -> None:
    for attr in ("types", "imports", "funcs", "tables", "memories", "tags", "globals", "exports", "elems",
                 "code", "datas", "start", "datacount"):
        getattr(m, attr)
    for body in m.code:
        assert body.instrs[-1].name == "end"


@pytest.mark.parametrize("case", sorted(BINARY_CASES))
@pytest.mark.parametrize("lazy", [True, False])
def test_parse_raises_decode_error_with_offset(case, lazy):
    """lazy=False finds the problem at once; lazy=True when the broken part is read, at the latest."""
    data = BINARY_CASES[case]
    with pytest.raises(DecodeError) as info:
        _read_everything(wasmweld.parse(data, lazy=lazy))
    assert isinstance(info.value.offset, int) and 0 <= info.value.offset <= len(data)
    assert f"at offset 0x{info.value.offset:x}" in str(info.value)


def test_lazy_parse_checks_function_and_code_counts():
    """A function section without bodies used to pass a lazy parse and end as an IndexError in merge."""
    data = BINARY_CASES["cut-before-code"]
    with pytest.raises(DecodeError, match="function and code section have inconsistent lengths"):
        wasmweld.parse(data)
    with pytest.raises(DecodeError, match="input 'a': function and code section"):
        wasmweld.merge([("a", data)])


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.exports.append(wasmweld.Export("x", wasmweld.ExternKind.FUNC, 1 << 32)), "does not fit in 32 bits"),
    (lambda m: m.exports.append(wasmweld.Export("x", wasmweld.ExternKind.FUNC, -1)), "does not fit in 32 bits"),
    (lambda m: m.exports.append(wasmweld.Export(5, wasmweld.ExternKind.FUNC, 0)), "a name must be a str"),
    (lambda m: m.exports.append(wasmweld.Export("\ud800", wasmweld.ExternKind.FUNC, 0)), "surrogates"),
    (lambda m: (m.funcs.append("x"), m.code.append(m.code[0])), "an index must be an int"),
    (lambda m: m.funcs.append(0), "3 functions but 2 bodies"),
    (lambda m: m.globals.append(wasmweld.Global(wasmweld.GlobalType(wasmweld.I32, False), wasmweld.ConstExpr(b""))),
     "a constant expression must end with end"),
    (lambda m: m.datas.append(wasmweld.Data("weird", 0, None, b"x", None)), "data mode must be active or passive"),
    (lambda m: m.memories.append(5), "cannot encode int #1 of the memory section"),
])
def test_encode_refuses_bad_items_with_encode_error(edit, message):
    m = wasmweld.parse(GOOD)
    edit(m)
    with pytest.raises(EncodeError, match=message):
        m.encode()


def test_encode_refuses_bad_items_of_a_new_module():
    m = wasmweld.Module()
    m.exports.append(wasmweld.Export(5, wasmweld.ExternKind.FUNC, 0))
    with pytest.raises(EncodeError, match="cannot encode Export #0 of the export section: a name must be a str"):
        m.encode()


@pytest.mark.parametrize("call, message", [
    (lambda m: setattr(m, "start", 1 << 32), "start must be an int from 0 to 2\\*\\*32-1"),
    (lambda m: m.add_custom(5, b""), "custom section name must be a str"),
    (lambda m: m.add_custom("x", "text"), "custom section data must be bytes"),
    (lambda m: m.add_custom(wasmweld.CustomSection("x", 5)), "data must be bytes"),
])
def test_module_edits_refuse_bad_values(call, message):
    with pytest.raises(EditError, match=message):
        call(wasmweld.parse(GOOD))


@pytest.mark.parametrize("options, message", [
    ({"gc": "yes"}, "gc must be true or false"),
    ({"memory_reserve": -1}, "memory_reserve must be a number"),
    ({"export_from": ","}, "export_from has an empty input name"),
    ({"export_from": 5}, "export_from must be input names"),
    ({"export_conflicts": "maybe"}, "export_conflicts must be one of"),
    ({"warn": 5}, "warn must be a callable"),
])
def test_merge_option_values(options, message):
    with pytest.raises(LinkError, match=message):
        wasmweld.merge([("a", GOOD)], **options)


@pytest.mark.parametrize("kw, message", [
    ({"fuel": 0}, "fuel must be a whole number of units"),
    ({"fuel": 1 << 64}, "fuel must be a whole number of units"),
    ({"fuel": "x"}, "fuel must be a whole number of units"),
    ({"timeout": float("inf")}, "the timeout must be at most"),
    ({"timeout": float("nan")}, "the timeout must be a positive number"),
    ({"max_memory": -1}, "max_memory must be a whole number of bytes"),
    ({"max_segments": 0}, "max_segments must be a whole number"),
    ({"wasi": "yes"}, "wasi must be None, True, False or WasiOptions"),
    ({"rename_funcs": 5}, "rename_funcs must map new export names"),
    ({"init_func": 5}, "init_func must be an export name"),
])
def test_snapshot_argument_values(kw, message):
    with pytest.raises(SnapshotError, match=message):
        wasmweld.snapshot(GOOD, **kw)


def test_snapshot_memory_cap_beyond_i64_is_no_cap():
    """wasmtime takes the cap as an i64: 2**64 used to wrap around to a cap of 0 bytes."""
    out = wasmweld.snapshot(GOOD, max_memory=1 << 64)
    assert [e.name for e in out.exports] == ["memory", "f"]  # the init export, the last one, is gone


def test_snapshot_removes_the_init_export_when_it_is_the_last_export():
    """apply_exports compared the filtered list with itself and kept an init export listed last."""
    wasm = wat2wasm('(module (export "f" (func 1)) (export "wizer.initialize" (func 0)) (func) (func))')
    assert [e.name for e in wasmweld.snapshot(wasm).exports] == ["f"]
    assert [e.name for e in wasmweld.snapshot(wasm, keep_init_func=True).exports] == ["f", "wizer.initialize"]


def test_snapshot_malformed_input_is_wasmwelds_decode_error():
    with pytest.raises(DecodeError, match="magic header not detected at offset 0x0"):
        wasmweld.snapshot(b"\0asx\x01\0\0\0")


@pytest.mark.parametrize("fuel", [-1, 1 << 64, "x", 1.5, True])
def test_world_fuel_range(fuel):
    with pytest.raises(ExecutionError, match="fuel must be a whole number from 0 to 18446744073709551615"):
        wasmweld.World(fuel=fuel)


def test_world_refuses_ints_that_do_not_fit():
    world = wasmweld.World()
    world.add("m", '(module (func (export "f") (param i32 i64) (result i64) local.get 1))')
    f = world.get_fn("m", "f")
    assert f(-1, (1 << 64) - 1) == -1 and f((1 << 32) - 1, -(1 << 63)) == -(1 << 63)
    with pytest.raises(ExecutionError, match=r"m.f: argument 0 \(4294967296\) does not fit in i32"):
        f(1 << 32, 0)
    with pytest.raises(ExecutionError, match="argument 1 .* does not fit in i64"):
        f(0, 1 << 64)
    with pytest.raises(ExecutionError, match="does not fit in i32"):
        world.invoke("m", "f", -(1 << 31) - 1, 0)


def test_world_truncated_artifact_path(artifact, tmp_path):
    (tmp_path / "a.cwasm").write_bytes(artifact[:-40])
    with pytest.raises(WasmError, match="truncated or damaged"):
        wasmweld.World().add("a", str(tmp_path / "a.cwasm"))


def test_world_compile_of_non_wasm_bytes():
    from wasmweld.runtime.cache import compile_module, engine_settings, make_engine

    with pytest.raises(DecodeError, match="not a WebAssembly module"):
        compile_module(make_engine(engine_settings()), b"\x7fELF....", "x")


def test_validate_reports_offset_of_bad_magic():
    with pytest.raises(wasmweld.ValidationError) as info:
        wasmweld.validate(b"garbage!")
    assert info.value.offset == 0
