"""wasmweld.cli.io: reading modules (binary, text, stdin) and atomic, input-safe writing."""

from __future__ import annotations

import io
import os
import stat
import sys

import pytest

from wasmweld.cli import io as cio
from wasmweld.errors import DecodeError, WasmError

EMPTY = b"\0asm\x01\0\0\0"


class FakeStream(io.TextIOWrapper):
    """A text stream over BytesIO that can pretend to be a terminal."""

    def __init__(self, data: bytes = b"", tty: bool = False):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._tty = tty

    def isatty(self):
        return self._tty

    def value(self) -> bytes:
        self.flush()
        return self.buffer.getvalue()


# ------------------------------------------------------------------ read_input


def test_read_binary(tmp_path):
    f = tmp_path / "m.wasm"
    f.write_bytes(EMPTY)
    assert cio.read_input(f) == EMPTY
    assert cio.read_input(str(f)) == EMPTY


def test_read_text_by_suffix_and_by_content(tmp_path):
    (tmp_path / "a.wat").write_text('(module (func (export "f")))')
    (tmp_path / "b.txt").write_text(";; a comment first\n(module)")
    a = cio.read_input(tmp_path / "a.wat")
    assert a.startswith(EMPTY) and b"\x07\x05\x01\x01f\x00\x00" in a  # export section: "f" func 0
    assert cio.read_input(tmp_path / "b.txt") == EMPTY


def test_read_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStream(EMPTY))
    assert cio.read_input("-") == EMPTY
    monkeypatch.setattr(sys, "stdin", FakeStream(b"(module)"))
    assert cio.read_input("-") == EMPTY


def test_read_errors(tmp_path):
    with pytest.raises(WasmError, match=r"nope\.wasm: no such file$"):
        cio.read_input(tmp_path / "nope.wasm")
    with pytest.raises(WasmError, match="is a directory"):
        cio.read_input(tmp_path)
    (tmp_path / "bad.wat").write_text("(module (func frob))")
    with pytest.raises(DecodeError, match="unknown operator.*line 1, column 15.*WAT text"):
        cio.read_input(tmp_path / "bad.wat")


def test_read_permission_denied(tmp_path, monkeypatch):
    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    from wasmweld import files

    monkeypatch.setattr(files.os, "open", denied)  # inputs are opened by wasmweld.files.read_file
    with pytest.raises(WasmError, match=r"m\.wasm: permission denied$"):
        cio.read_input(tmp_path / "m.wasm")


def test_display_name():
    assert cio.display_name("-") == "<stdin>"
    assert cio.display_name("x.wasm") == "x.wasm"


# ------------------------------------------------------------------ write_output


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_new_and_replace(tmp_path):
    out = tmp_path / "out.wasm"
    cio.write_output(out, EMPTY)
    assert out.read_bytes() == EMPTY
    cio.write_output(str(out), b"\0asm\x01\0\0\0\0\x02\x01x")
    assert out.read_bytes() == b"\0asm\x01\0\0\0\0\x02\x01x"
    assert leftovers(tmp_path) == []


def test_write_text(tmp_path):
    cio.write_output(tmp_path / "o.txt", "héllo\n")
    assert (tmp_path / "o.txt").read_bytes() == "héllo\n".encode()


def test_new_file_mode_follows_umask_and_existing_mode_is_kept(tmp_path):
    old = os.umask(0o022)
    try:
        cio.write_output(tmp_path / "new.wasm", EMPTY)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.wasm").stat().st_mode) == 0o644
    exe = tmp_path / "exe.wasm"
    exe.write_bytes(b"old")
    exe.chmod(0o751)
    cio.write_output(exe, EMPTY)
    assert stat.S_IMODE(exe.stat().st_mode) == 0o751


def test_refuses_to_overwrite_input_unless_forced(tmp_path):
    inp = tmp_path / "in.wasm"
    inp.write_bytes(b"original")
    with pytest.raises(WasmError, match="refusing to overwrite input .*--force"):
        cio.write_output(inp, EMPTY, inputs=[inp])
    # the same file under another name, and through a symlink
    (tmp_path / "sub").mkdir()
    with pytest.raises(WasmError, match="refusing to overwrite input"):
        cio.write_output(tmp_path / "sub" / ".." / "in.wasm", EMPTY, inputs=[str(inp)])
    link = tmp_path / "link.wasm"
    link.symlink_to(inp)
    with pytest.raises(WasmError, match="refusing to overwrite input"):
        cio.write_output(link, EMPTY, inputs=[inp])
    assert inp.read_bytes() == b"original"
    cio.write_output(inp, EMPTY, inputs=[inp], force=True)
    assert inp.read_bytes() == EMPTY


def test_writes_through_a_symlink(tmp_path):
    target = tmp_path / "target.wasm"
    target.write_bytes(b"old")
    link = tmp_path / "link.wasm"
    link.symlink_to(target)
    cio.write_output(link, EMPTY)
    assert link.is_symlink() and target.read_bytes() == EMPTY


def test_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "out.wasm"
    out.write_bytes(b"old contents")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(WasmError, match="cannot write: No space left on device"):
        cio.write_output(out, EMPTY * 1000)
    assert out.read_bytes() == b"old contents"
    assert leftovers(tmp_path) == []


def test_interrupt_leaves_no_temp(tmp_path, monkeypatch):
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cio.write_output(tmp_path / "o.wasm", EMPTY)
    assert list(tmp_path.iterdir()) == []


def test_write_errors(tmp_path):
    with pytest.raises(WasmError, match="no such directory"):
        cio.write_output(tmp_path / "missing" / "o.wasm", EMPTY)
    with pytest.raises(WasmError, match="is a directory"):
        cio.write_output(tmp_path, EMPTY)


def test_stdout(monkeypatch):
    out = FakeStream()
    monkeypatch.setattr(sys, "stdout", out)
    cio.write_output("-", EMPTY)
    assert out.value() == EMPTY


def test_stdout_refuses_binary_to_a_terminal_but_not_text(monkeypatch):
    tty = FakeStream(tty=True)
    monkeypatch.setattr(sys, "stdout", tty)
    with pytest.raises(WasmError, match="refusing to write binary to a terminal; use -o FILE"):
        cio.write_output("-", EMPTY)
    cio.write_output("-", "text is fine\n")
    assert tty.value() == b"text is fine\n"


# ------------------------------------------------------------------ option helpers


def test_output_options():
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("input")
    cio.add_output_options(p)
    args = p.parse_args(["m.wasm", "-o", "x.wasm"])
    assert cio.output_target(args, args.input) == ("x.wasm", False)
    args = p.parse_args(["m.wasm", "-o", "m.wasm", "--force"])
    assert cio.output_target(args, args.input) == ("m.wasm", True)
    args = p.parse_args(["m.wasm", "-i"])
    assert cio.output_target(args, args.input) == ("m.wasm", True)
    with pytest.raises(WasmError, match="no output given"):
        cio.output_target(p.parse_args(["m.wasm"]), "m.wasm")
    with pytest.raises(WasmError, match="not both"):
        cio.output_target(p.parse_args(["m.wasm", "-i", "-o", "y"]), "m.wasm")
    with pytest.raises(WasmError, match="needs an input file"):
        cio.output_target(p.parse_args(["-", "-i"]), "-")
