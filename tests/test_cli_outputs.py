"""Issue 15: one staging helper for every CLI output (cli/io.py write_outputs), all or nothing.

``write_output`` and ``snapshot``'s module + report go through it: regular files are staged in
temporary files and renamed last; standard output, devices and pipes are written in place
(renaming onto them would replace them).
"""

from __future__ import annotations

import os
import stat
import threading

import pytest

from wasmweld.cli import io as cio
from wasmweld.errors import WasmError

EMPTY = b"\0asm\x01\0\0\0"


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_outputs_writes_all(tmp_path):
    cio.write_outputs([(tmp_path / "a.wasm", EMPTY), (str(tmp_path / "b.json"), '{"x": 1}\n')])
    assert (tmp_path / "a.wasm").read_bytes() == EMPTY
    assert (tmp_path / "b.json").read_text() == '{"x": 1}\n'
    assert leftovers(tmp_path) == []


def test_write_outputs_none_when_one_fails(tmp_path):
    a = tmp_path / "a.wasm"
    a.write_bytes(b"old a")
    with pytest.raises(WasmError, match="no such directory"):
        cio.write_outputs([(a, EMPTY), (tmp_path / "missing" / "b.json", "x")])
    assert a.read_bytes() == b"old a" and leftovers(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_failing_device_leaves_the_staged_files_unwritten(tmp_path):
    a = tmp_path / "a.wasm"
    a.write_bytes(b"old a")
    with pytest.raises(WasmError, match="/dev/full: cannot write"):
        cio.write_outputs([(a, EMPTY), ("/dev/full", "report")])
    assert a.read_bytes() == b"old a" and leftovers(tmp_path) == []
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)   # written to, never replaced


def test_write_output_to_a_pipe_writes_through_it(tmp_path):
    """write_output used to rename a temporary file onto the target, replacing a FIFO (or a device)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
    reader.start()
    cio.write_output(fifo, EMPTY)
    reader.join(10)
    assert got == [EMPTY]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and leftovers(tmp_path) == []


def test_staged_output_discard_and_commit(tmp_path):
    target = tmp_path / "t.wasm"
    target.write_bytes(b"old")
    out = cio.StagedOutput(target, EMPTY)
    out.stage()
    assert len(leftovers(tmp_path)) == 1 and target.read_bytes() == b"old"
    out.discard()
    assert leftovers(tmp_path) == [] and target.read_bytes() == b"old"
    out = cio.StagedOutput(target, EMPTY)
    out.stage()
    out.commit()
    assert target.read_bytes() == EMPTY and leftovers(tmp_path) == []


def test_snapshot_uses_the_shared_helper():
    from wasmweld.cli import snapshot

    src = open(snapshot.__file__).read()
    assert "write_outputs(" in src and "mkstemp" not in src and "os.replace" not in src


def test_a_failing_check_writes_nothing(tmp_path, capsys):
    """``check`` (merge's validation of its result) runs beside the staging: when it raises, the
    target keeps its old bytes, no temporary file remains, nothing goes to standard output."""
    (tmp_path / "a.wasm").write_bytes(b"old")
    started = threading.Event()

    def check():
        started.set()
        raise WasmError("the merged module does not validate")

    with pytest.raises(WasmError, match="does not validate"):
        cio.write_outputs([(tmp_path / "a.wasm", EMPTY), ("-", "report\n")], check=check)
    assert started.is_set()
    assert (tmp_path / "a.wasm").read_bytes() == b"old" and leftovers(tmp_path) == []
    assert capsys.readouterr().out == ""


def test_a_passing_check_runs_beside_the_staging(tmp_path):
    """The check runs in another thread while the file is staged, and the file is committed after it."""
    seen = []

    def check():
        seen.append(threading.current_thread() is not threading.main_thread())

    cio.write_output(tmp_path / "a.wasm", EMPTY, check=check)
    assert seen == [True] and (tmp_path / "a.wasm").read_bytes() == EMPTY and leftovers(tmp_path) == []


def test_merge_cli_invalid_result_is_refused_and_nothing_written(tmp_path, monkeypatch, capsys):
    """The merge command validates its result in that check: an invalid result (forced here) is
    one error, exit 1, and the output file is not written."""
    from wasmweld.cli.main import main
    from wasmweld.errors import ValidationError

    a = tmp_path / "a.wat"
    a.write_text('(module (func (export "f") (result i32) i32.const 1))')
    b = tmp_path / "b.wat"
    b.write_text('(module (func (export "g") (result i32) i32.const 2))')

    def invalid(data, **_kw):
        raise ValidationError("type mismatch (forced)")

    monkeypatch.setattr(cio, "validate_result", invalid)
    rc = main(["merge", f"{a}=a", f"{b}=b", "-o", str(tmp_path / "out.wasm")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "the merged module does not validate" in err and "forced" in err
    assert not (tmp_path / "out.wasm").exists() and leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- the console entry point

def _cli(args: list[str], stdout):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "wasmweld", *args], stdout=stdout, stderr=subprocess.PIPE)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("command", ["info", "dump", "print"])
def test_standard_output_on_a_full_device_is_an_error_line_not_a_bug(tmp_path, command):
    """``wasmweld info x.wasm > /dev/full``: one ``error:`` line, exit 1 (it was an internal error, exit 2)."""
    from wasmweld.runtime.engine import wat2wasm

    src = tmp_path / "m.wasm"
    src.write_bytes(wat2wasm('(module (func (export "f") (result i32) (i32.const 7)))'))
    with open("/dev/full", "wb") as full:
        proc = _cli([command, str(src)], stdout=full)
    err = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 1 and len(err) == 1 and err[0].startswith("error: cannot write"), err
    assert "Traceback" not in proc.stderr.decode()


def test_console_runs_atexit_handlers_and_flushes_before_its_fast_exit(tmp_path):
    """``console()`` ends the process without the interpreter's teardown (os._exit): what was printed
    is all there, atexit handlers ran, the status is main()'s."""
    import subprocess
    import sys

    from wasmweld.cli.main import main
    from wasmweld.runtime.engine import wat2wasm

    src = tmp_path / "m.wasm"
    src.write_bytes(wat2wasm("(module " + "".join(f'(func (export "f{i}") (result i32) (i32.const {i}))'
                                                  for i in range(400)) + ")"))
    script = ("import atexit, sys\n"
              "atexit.register(lambda: sys.stderr.write('atexit ran\\n'))\n"
              "sys.argv = ['wasmweld'] + sys.argv[1:]\n"
              "from wasmweld.cli.main import console\n"
              "console()\n"
              "sys.stderr.write('not reached\\n')\n")
    proc = subprocess.run([sys.executable, "-c", script, "print", str(src)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "atexit ran\n"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["print", str(src)]) == 0
    assert proc.stdout == buf.getvalue() and len(proc.stdout) > 10_000     # all of it, flushed
    bad = subprocess.run([sys.executable, "-c", script, "info", str(tmp_path / "missing.wasm")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.splitlines()[-1] == "atexit ran"
