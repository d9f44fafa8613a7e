"""Golden tests of the command line, in the style of wasm-tools' tests/cli.

A case is a file ``tests/cli/<name>.wat`` (or ``.txt``) that starts with
directive lines::

    ;; RUN: validate %
    ;; EXIT: 1

``RUN`` holds the arguments of ``wasmweld`` (shell-quoted); ``%`` is this case
file and ``%t`` a fresh temporary folder for outputs. ``EXIT`` is the expected
exit status (default 0). Several ``RUN`` lines run in turn and their outputs are
concatenated. The command runs in-process from ``tests/cli`` (so ``%`` is just
the file name), and its standard output and error must equal
``<name>.stdout`` and ``<name>.stderr`` beside the case (a missing file means
empty); the temporary folder's path prints as ``%t``. Binary output to
standard output is shown as a hex dump line per 32 bytes.

``BLESS=1 pytest tests/test_cli_golden.py`` rewrites the expected files from
what the commands print now; review the diff before keeping it.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wasmweld.cli.main import main

CASES_DIR = Path(__file__).resolve().parent / "cli"
_DIRECTIVE = re.compile(r"^\s*(?:;;|#)\s*(RUN|EXIT):\s*(.*?)\s*$")


@dataclass
class Case:
    path: Path
    runs: list[str] = field(default_factory=list)
    exit: int = 0


def load_case(path: Path) -> Case:
    case = Case(path)
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _DIRECTIVE.match(line)
        if not m:
            if line.strip() and not line.lstrip().startswith((";;", "#")):
                break  # directives come first
            continue
        if m.group(1) == "RUN":
            case.runs.append(m.group(2))
        else:
            case.exit = int(m.group(2))
    return case


def discover() -> list[Path]:
    return sorted(p for p in CASES_DIR.iterdir() if p.suffix in (".wat", ".txt") and p.is_file())


class _Capture(io.TextIOWrapper):
    def __init__(self):
        super().__init__(io.BytesIO(), encoding="utf-8", newline="\n", write_through=True)

    def isatty(self):
        return False

    def text(self) -> str:
        self.flush()
        raw = self.buffer.getvalue()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "".join(f"{raw[i:i + 32].hex()}\n" for i in range(0, len(raw), 32))


def run_case(case: Case, tmp: Path, monkeypatch) -> tuple[str, str, int]:
    monkeypatch.chdir(case.path.parent)
    stdout_all, stderr_all, status = [], [], 0
    for run in case.runs:
        args = [a.replace("%t", str(tmp)) if a != "%" else case.path.name for a in shlex.split(run)]
        out, err = _Capture(), _Capture()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8"))
        status = main(args)
        stdout_all.append(out.text())
        stderr_all.append(err.text())
        if status != 0:
            break  # later runs depend on earlier ones
    out, err = "".join(stdout_all), "".join(stderr_all)
    return out.replace(str(tmp), "%t"), err.replace(str(tmp), "%t"), status


def _expected(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _bless(path: Path, text: str) -> None:
    if text:
        path.write_text(text, encoding="utf-8")
    elif path.exists():
        path.unlink()


@pytest.mark.parametrize("path", discover(), ids=lambda p: p.name)
def test_cli_golden(path: Path, tmp_path: Path, monkeypatch):
    case = load_case(path)
    assert case.runs, f"{path.name}: no ';; RUN:' line at the top"
    out, err, status = run_case(case, tmp_path, monkeypatch)
    stem = path.with_suffix("")
    exp_out, exp_err = stem.with_suffix(".stdout"), stem.with_suffix(".stderr")
    if os.environ.get("BLESS"):
        _bless(exp_out, out)
        _bless(exp_err, err)
    assert status == case.exit, f"exit status {status}, expected {case.exit}; stderr:\n{err}"
    assert out == _expected(exp_out), f"stdout differs from {exp_out.name} (BLESS=1 to regenerate)"
    assert err == _expected(exp_err), f"stderr differs from {exp_err.name} (BLESS=1 to regenerate)"


def test_directive_parser(tmp_path):
    f = tmp_path / "x.wat"
    f.write_text(";; a comment\n;; RUN: validate %\n;; RUN: info %\n;; EXIT: 1\n(module)\n;; RUN: ignored\n")
    case = load_case(f)
    assert (case.runs, case.exit) == (["validate %", "info %"], 1)
