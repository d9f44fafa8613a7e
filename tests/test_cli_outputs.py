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
