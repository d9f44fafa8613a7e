"""wasmweld.cli.main: subcommand discovery and the exit-status / error-message contract."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from wasmweld.cli import main as climain
from wasmweld.errors import DecodeError, WasmError


def fake_command(name, behaviour):
    mod = types.ModuleType(f"wasmweld.cli.{name}")

    def register(sub):
        p = sub.add_parser(name, help="test command")
        p.add_argument("--flag", action="store_true")
        return p

    def run(args):
        return behaviour(args)

    mod.register, mod.run = register, run
    return mod


@pytest.fixture
def command(monkeypatch):
    """Install a fake subcommand `t` whose run() does what the test says."""

    def install(behaviour, name="t"):
        monkeypatch.setitem(sys.modules, f"wasmweld.cli.{name}", fake_command(name, behaviour))
        monkeypatch.setattr(climain, "SUBCOMMANDS", [*climain.SUBCOMMANDS, name])

    return install


def raiser(exc):
    def run(args):
        raise exc

    return run


def test_success_status_and_args(command, capsys):
    command(lambda args: print("flag", args.flag) or 0)
    assert climain.main(["t", "--flag"]) == 0
    assert capsys.readouterr().out == "flag True\n"


def test_wasm_error_is_one_line_exit_1(command, capsys):
    command(raiser(DecodeError("bad section id 99", 0x1F, "section header")))
    assert climain.main(["t"]) == 1
    err = capsys.readouterr().err
    assert err == "error: bad section id 99 while reading section header at offset 0x1f\n"


def test_multiline_wasm_error_is_joined(command, capsys):
    command(raiser(WasmError("first\n  second\n")))
    assert climain.main(["t"]) == 1
    assert capsys.readouterr().err == "error: first; second\n"


def test_internal_error_exit_2_with_hint(command, capsys):
    command(raiser(IndexError("list index out of range")))
    assert climain.main(["t"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "internal error: IndexError: list index out of range",
        "this is a bug in wasmweld; rerun with --debug for a traceback",
    ]


@pytest.mark.parametrize("argv", [["--debug", "t"], ["t", "--debug"]])
def test_debug_prints_traceback(command, capsys, argv):
    command(raiser(IndexError("boom")))
    assert climain.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "IndexError: boom" in err
    assert "rerun with --debug" not in err


def test_debug_from_environment(command, capsys, monkeypatch):
    monkeypatch.setenv("WASMWELD_DEBUG", "1")
    command(raiser(WasmError("refused")))
    assert climain.main(["t"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("error: refused\n")


def test_keyboard_interrupt_130(command, capsys):
    command(raiser(KeyboardInterrupt()))
    assert climain.main(["t"]) == 130


def test_usage_errors_exit_2(capsys):
    assert climain.main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert climain.main([]) == 2
    assert "usage: wasmweld" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys):
    assert climain.main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out
    assert climain.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "wasmweld 0.1.0"


def test_missing_subcommand_modules_are_skipped(monkeypatch):
    monkeypatch.setattr(climain, "SUBCOMMANDS", ["validate", "surely_not_a_command"])
    parser = climain.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == ["validate"]


def test_broken_subcommand_does_not_break_the_others(monkeypatch, capsys):
    broken = types.ModuleType("wasmweld.cli.broken")

    def register(sub):
        raise ValueError("bad register")

    broken.register = register
    monkeypatch.setitem(sys.modules, "wasmweld.cli.broken", broken)
    monkeypatch.setattr(climain, "SUBCOMMANDS", ["broken", "validate"])
    assert climain.main(["validate", "--help"]) == 0
    capsys.readouterr()
    assert climain.main(["broken", "x"]) == 2
    assert "subcommand 'broken' failed to load: ValueError: bad register" in capsys.readouterr().err


@pytest.mark.parametrize("launcher", ["console-script", "python -m"])
def test_entry_points(launcher):
    bindir = sys.executable.rsplit("/", 1)[0]
    argv = [f"{bindir}/wasmweld"] if launcher == "console-script" else [sys.executable, "-m", "wasmweld"]
    proc = subprocess.run([*argv, "--version"], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, "wasmweld 0.1.0\n")
    proc = subprocess.run([*argv, "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice: 'frobnicate'" in proc.stderr
