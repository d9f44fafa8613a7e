"""wasmweld.cli.main: subcommand discovery and the exit-status / error-message contract."""

from __future__ import annotations

import importlib.metadata
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
        "this is a bug in wasmweld; rerun with --traceback for a traceback",
    ]


@pytest.mark.parametrize(
    "argv", [["--traceback", "t"], ["t", "--traceback"], ["--debug", "t"], ["t", "--debug"]]
)
def test_traceback_option_prints_traceback(command, capsys, argv):
    command(raiser(IndexError("boom")))
    assert climain.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "IndexError: boom" in err
    assert "rerun with --traceback" not in err


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
    assert capsys.readouterr().out.strip() == f"wasmweld 0.1.0 (wasmtime {importlib.metadata.version('wasmtime')})"


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
    assert (proc.returncode, proc.stdout) == (0, climain.version_text() + "\n")
    proc = subprocess.run([*argv, "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice: 'frobnicate'" in proc.stderr


def test_version_comes_from_the_installed_metadata():
    from wasmweld.cli.version import distribution_version

    import wasmweld

    assert distribution_version("wasmweld") == importlib.metadata.version("wasmweld") == wasmweld.__version__
    assert distribution_version("wasmtime") == importlib.metadata.version("wasmtime")
    assert distribution_version("no-such-distribution-here") is None


def test_strip_debug_is_strips_own_option_not_a_traceback(tmp_path, capsys):
    """`strip --debug` used to turn on tracebacks too (one dest for both): an error printed a traceback."""
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\1\0\0\0\1\5")
    assert climain.main(["strip", str(bad), "-o", str(tmp_path / "o.wasm"), "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1


def _imported_after(argv):
    code = ("import sys; from wasmweld.cli.main import main; main(%r); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('wasmweld'))))" % (argv,))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return set(proc.stdout.split()), proc


def test_only_the_named_subcommand_is_imported():
    mods, proc = _imported_after(["--version"])
    assert proc.stdout.startswith("wasmweld ") and not any(m.startswith("wasmweld.link") for m in mods)
    assert not {"wasmweld.cli.merge", "wasmweld.cli.info", "wasmweld.module"} & mods
    mods, proc = _imported_after(["info", "--help"])
    assert "wasmweld.cli.info" in mods and not {"wasmweld.cli.merge", "wasmweld.link.merge", "wasmweld.preinit"} & mods
    mods, proc = _imported_after(["--help"])
    assert {"wasmweld.cli.merge", "wasmweld.cli.info", "wasmweld.cli.strip"} <= mods


# A subprocess in which `import wasmtime` fails as if it were not installed.
HIDE_WASMTIME = """
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "wasmtime" or name.startswith("wasmtime."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Hide())
from wasmweld.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def run_without_wasmtime(*argv, cwd=None):
    return subprocess.run([sys.executable, "-c", HIDE_WASMTIME, *argv], capture_output=True, text=True, cwd=cwd)


def test_version_without_wasmtime(monkeypatch, capsys):
    from wasmweld.cli import version

    real = version.distribution_version
    monkeypatch.setattr(version, "distribution_version", lambda name: None if name == "wasmtime" else real(name))
    assert climain.main(["--version"]) == 0
    assert capsys.readouterr().out == "wasmweld 0.1.0 (wasmtime not installed)\n"


def test_missing_wasmtime_reaching_main_is_the_install_hint(command, capsys, monkeypatch):
    def needs_runtime(args):
        raise ModuleNotFoundError("No module named 'wasmtime'", name="wasmtime")

    command(needs_runtime)
    assert climain.main(["t"]) == 1
    assert capsys.readouterr().err == "error: this needs wasmtime, which is not installed: " \
        "pip install 'wasmweld[runtime]'\n"


def test_missing_wasmtime_in_a_subprocess_gives_the_hint(tmp_path):
    """`run` imports wasmtime at module level (runtime/world.py): without it, the hint, exit 1, not a bug report."""
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(b"\0asm\1\0\0\0")
    proc = run_without_wasmtime("run", str(wasm), "--invoke", "f")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: this needs wasmtime, which is not installed: pip install 'wasmweld[runtime]'")
    assert "internal error" not in proc.stderr and "bug" not in proc.stderr


@pytest.fixture
def example_wasm(tmp_path, wat, repo_root):
    """The bundled examples as binary modules in tmp_path (without wasmtime, .wat cannot be read)."""
    for name in ("logger", "ledger", "bank"):
        (tmp_path / f"{name}.wasm").write_bytes(wat((repo_root / "examples" / f"{name}.wat").read_text()))
    return tmp_path


def test_merge_and_edit_work_without_wasmtime(example_wasm, monkeypatch):
    """Plain `pip install wasmweld`: merge and edit validate their result with wasmweld's own validator
    (not 'this needs wasmtime', and no unvalidated output): same result as with wasmtime, and an
    invalid result is still refused."""
    from wasmweld.validate import validate

    d = example_wasm
    args = ["merge", "logger.wasm=logger", "ledger.wasm=ledger", "bank.wasm=bank", "--rename-export-conflicts"]
    proc = run_without_wasmtime(*args, "-o", "bare.wasm", cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("merged 3 inputs") and "not validated" not in proc.stderr, proc.stderr
    monkeypatch.chdir(d)
    assert climain.main([*args, "-o", "full.wasm", "-q"]) == 0
    assert (d / "bare.wasm").read_bytes() == (d / "full.wasm").read_bytes()  # same result, validated both ways
    validate((d / "bare.wasm").read_bytes(), engine="wasmtime")

    proc = run_without_wasmtime("edit", "bare.wasm", "-o", "edited.wasm", "--add-export", "open2=open(2,5)", cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert "not validated" not in proc.stderr
    validate((d / "edited.wasm").read_bytes(), engine="wasmtime")
    proc = run_without_wasmtime("edit", "bare.wasm", "-o", "q.wasm", "--add-export", "o=open(2,5)", "-q", cwd=d)
    assert (proc.returncode, proc.stderr) == (0, "")
    # the own validator is really asked: an invalid input is refused without wasmtime too
    (d / "bad.wasm").write_bytes(bytes.fromhex("0061736d01000000010401600000030201000a060104006a1a0b"))
    proc = run_without_wasmtime("validate", "bad.wasm", cwd=d)
    assert proc.returncode == 1 and proc.stderr.startswith("bad.wasm: ") and "type mismatch" in proc.stderr, proc.stderr
