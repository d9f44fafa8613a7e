"""Issue 17 items in the CLI: bounded, regular-file-only reading (8), every file read is protected (14),
`-=NAME` for standard input (17), stale temporary files cleaned and read-only targets refused (23)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wasmweld.cli import files as cli_files
from wasmweld.cli import io as cli_io
from wasmweld.cli.main import main
from wasmweld.errors import WasmError

REPO = Path(__file__).resolve().parent.parent
MOD = '(module (memory (export "memory") 1) (func (export "f") (result i32) (i32.const 7)))'


@pytest.fixture
def folder(tmp_path, wat, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.wasm").write_bytes(wat(MOD))
    (tmp_path / "data.bin").write_bytes(b"payload")
    for name in ("logger", "ledger"):
        (tmp_path / f"{name}.wasm").write_bytes(wat((REPO / "examples" / f"{name}.wat").read_text()))
    return tmp_path


def listing(d):
    return sorted(p.name for p in Path(d).iterdir())


# ------------------------------------------------------------------ 8: non-regular files, caps

@pytest.mark.parametrize("argv", [
    ["info", "/dev/zero"],
    ["strip", "/dev/zero", "-o", "o.wasm"],
    ["merge", "/dev/zero=a", "-o", "o.wasm"],
    ["edit", "m.wasm", "-o", "o.wasm", "--add-passive-data", "d=/dev/zero"],
    ["edit", "m.wasm", "-o", "o.wasm", "--add-custom", "c=@/dev/zero"],
    ["edit", "m.wasm", "-o", "o.wasm", "--plan", "/dev/zero"],
    ["metadata", "add", "m.wasm", "-o", "o.wasm", "--custom", "c=@/dev/zero"],
])
def test_character_device_is_refused_not_read_forever(folder, capsys, argv):
    before = listing(folder)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "/dev/zero" in err and "not a regular file (a character device)" in err
    assert listing(folder) == before


def test_fifo_is_refused_without_waiting_for_a_writer(folder, capsys):
    os.mkfifo(folder / "pipe")
    t = time.monotonic()
    assert main(["info", "pipe"]) == 1
    assert time.monotonic() - t < 5
    assert capsys.readouterr().err == "error: pipe: not a regular file (a FIFO); give a file\n"


def test_file_over_the_cap_is_refused(folder, capsys, monkeypatch):
    monkeypatch.setenv("WASMWELD_MAX_INPUT", "100")
    assert main(["info", "m.wasm"]) == 0  # small enough
    capsys.readouterr()
    (folder / "big.wasm").write_bytes(b"\0asm\1\0\0\0" + b"\0\x01\x00" * 60)
    assert main(["info", "big.wasm"]) == 1
    assert capsys.readouterr().err == (
        "error: big.wasm: too large (188 bytes; the limit is 100 bytes, WASMWELD_MAX_INPUT raises it)\n")
    monkeypatch.setenv("WASMWELD_MAX_INPUT", "1k")
    assert cli_files.max_input() == 1024
    monkeypatch.setenv("WASMWELD_MAX_INPUT", "lots")
    with pytest.raises(WasmError, match="expected a number of bytes"):
        cli_files.max_input()


def test_endless_stdin_stops_at_the_cap():
    """An endless pipe on stdin: the read stops at the cap with a clear error, not a MemoryError."""
    env = dict(os.environ, WASMWELD_MAX_INPUT="8M")
    env.pop("WASMWELD_DEBUG", None)
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.run([sys.executable, "-m", "wasmweld", "info", "-"], stdin=zero, capture_output=True,
                              text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == ("error: <stdin>: too large (more than 8388608 bytes; the limit is 8388608 bytes, "
                           "WASMWELD_MAX_INPUT raises it)\n")


def test_read_stream_reads_in_chunks_up_to_the_cap():
    assert cli_files.read_stream(io.BytesIO(b"x" * 100), limit=100) == b"x" * 100
    with pytest.raises(WasmError, match="too large"):
        cli_files.read_stream(io.BytesIO(b"x" * 101), limit=100)


# ------------------------------------------------------------------ 14: never replace a file the command read

@pytest.mark.parametrize("argv, victim", [
    (["edit", "m.wasm", "-o", "data.bin", "--add-passive-data", "d=data.bin"], "data.bin"),
    (["edit", "m.wasm", "-o", "data.bin", "--add-active-data", "d=data.bin"], "data.bin"),
    (["edit", "m.wasm", "-o", "data.bin", "--add-custom", "c=@data.bin"], "data.bin"),
    (["metadata", "add", "m.wasm", "-o", "data.bin", "--custom", "c=@data.bin"], "data.bin"),
    (["edit", "m.wasm", "-o", "plan.toml", "--plan", "plan.toml"], "plan.toml"),
    (["edit", "m.wasm", "-o", "./sub/../data.bin", "--add-custom", "c=@data.bin"], "data.bin"),
])
def test_output_never_replaces_a_file_the_command_read(folder, capsys, argv, victim):
    (folder / "sub").mkdir()
    (folder / "plan.toml").write_text('[[custom]]\nname = "x"\ntext = "y"\n')
    before = (folder / victim).read_bytes()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to overwrite input ") and "--force" in err
    assert (folder / victim).read_bytes() == before
    if "--add-active-data" in argv:  # m.wasm has no __data_end: with --force, the placement is refused
        assert main([*argv, "--force"]) == 1 and "cannot find __data_end" in capsys.readouterr().err
        return
    assert main([*argv, "--force"]) == 0  # --force says so
    assert (folder / victim).read_bytes()[:4] == b"\0asm"


# ------------------------------------------------------------------ 17: -=NAME

def test_stdin_as_named_input(folder, capsys, monkeypatch):
    class Stdin:
        buffer = io.BytesIO((folder / "logger.wasm").read_bytes())

    monkeypatch.setattr(sys, "stdin", Stdin)
    assert main(["merge", "-=logger", "ledger.wasm=ledger", "-o", "a.wasm"]) == 0
    assert "merged 2 inputs: 1 fusion" in capsys.readouterr().err
    class Stdin2:  # a new stream: the first one was read (standard input is read once per run)
        buffer = io.BytesIO((folder / "logger.wasm").read_bytes())

    monkeypatch.setattr(sys, "stdin", Stdin2)
    assert main(["graph", "-=logger", "ledger.wasm=ledger", "--format", "dot"]) == 0
    assert '"ledger" -> "logger"' in capsys.readouterr().out
    assert main(["merge", "logger.wasm=logger", "ledger.wasm=ledger", "-o", "b.wasm"]) == 0
    assert (folder / "a.wasm").read_bytes() == (folder / "b.wasm").read_bytes()


# ------------------------------------------------------------------ 23: stale temporaries, read-only targets

def test_stale_temporary_of_a_killed_run_is_cleaned(folder, capsys):
    """A run killed between write and rename leaves .NAME.PID.XXXXXXXX.tmp; the next run removes it."""
    code = ("import os, signal, sys; from wasmweld.cli import io\n"
            "os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)\n"
            "io.write_output('out.wasm', b'\\0asm\\1\\0\\0\\0')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=folder)
    assert proc.returncode == -9
    left = [n for n in listing(folder) if n.startswith(".out.wasm.")]
    assert len(left) == 1 and left[0].endswith(".tmp")
    old = time.time() - 2 * cli_io.STALE_AFTER
    os.utime(folder / left[0], (old, old))
    # someone else's fresh temp file and an unrelated dot-file stay
    alive = folder / f".out.wasm.{os.getpid()}.abcdefgh.tmp"
    alive.write_bytes(b"")
    os.utime(alive, (old, old))
    (folder / ".out.wasm.notours.tmp").write_bytes(b"")
    assert main(["strip", "m.wasm", "-o", "out.wasm"]) == 0
    names = listing(folder)
    assert left[0] not in names and alive.name in names and ".out.wasm.notours.tmp" in names
    assert (folder / "out.wasm").read_bytes()[:4] == b"\0asm"


def test_fresh_temporary_of_a_dead_process_is_kept_for_a_while(folder):
    young = folder / ".out.wasm.999999999.abcdefgh.tmp"  # no such pid, but just written
    young.write_bytes(b"")
    assert cli_io.clean_stale_temporaries(str(folder), "out.wasm") == []
    old = time.time() - 2 * cli_io.STALE_AFTER
    os.utime(young, (old, old))
    assert cli_io.clean_stale_temporaries(str(folder), "out.wasm") == [young.name]


def test_old_naming_temporaries_go_by_age(folder):
    """Files of the naming before pids (.NAME.XXXXXXXX.tmp) carry no pid: removed once an hour old."""
    young, old = folder / ".out.wasm.abcd1234.tmp", folder / ".out.wasm.efgh5678.tmp"
    young.write_bytes(b"")
    old.write_bytes(b"")
    t = time.time() - 2 * cli_io.STALE_OLD_NAMING_AFTER
    os.utime(old, (t, t))
    assert cli_io.clean_stale_temporaries(str(folder), "out.wasm") == [old.name]
    assert young.exists()


def test_read_only_target_is_refused(folder, capsys):
    target = folder / "ro.wasm"
    target.write_bytes(b"keep me")
    target.chmod(0o444)
    assert main(["strip", "m.wasm", "-o", "ro.wasm"]) == 1
    assert capsys.readouterr().err == "error: ro.wasm: is read-only; refusing to replace it (--force replaces it)\n"
    assert target.read_bytes() == b"keep me"
    assert main(["strip", "m.wasm", "-o", "ro.wasm", "--force"]) == 0
    assert target.read_bytes()[:4] == b"\0asm"
