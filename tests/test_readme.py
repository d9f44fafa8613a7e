"""Every command in the README runs as written (issue 15).

The shell blocks (```sh) run in order, in one temporary folder holding a copy of
``examples/`` (the README's first block after the install lines compiles the
examples to ``logger.wasm``, ``ledger.wasm``, ``bank.wasm``), as one bash script
with ``set -e``: a command that fails fails the test with its output. A command
whose comment says ``# prints X`` must print exactly X. ``make ...`` lines are
this test suite itself and ``pip install ...`` is what tests/test_packaging.py
checks, so those two kinds are not run here. The example commands in the CLI
table run after the blocks, in the same folder. The Python blocks run in the
repository root, each in a fresh interpreter.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()

SKIPPED_PREFIXES = ("make ", "pip install ")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.S | re.M)


def logical_lines(block: str) -> list[str]:
    """The block's commands: backslash continuations joined, comment-only lines dropped."""
    out, cur = [], ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        if cur.strip() and not cur.strip().startswith("#"):
            out.append(cur.strip())
        cur = ""
    return out


def split_comment(line: str) -> tuple[str, str]:
    """``(command, comment)``: the comment is what follows the first `` #`` outside quotes."""
    quote, i = None, 0
    while i < len(line):
        c = line[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip(), line[i + 1:].strip()
        i += 1
    return line, ""


def script_line(line: str, skipped: tuple[str, ...] = SKIPPED_PREFIXES) -> str | None:
    """The bash line for a README/tutorial command: None for ``skipped`` ones, a check for ``# prints X``."""
    cmd, comment = split_comment(line)
    if cmd.startswith(skipped):
        return None
    m = re.match(r"(?:[^:]*: )?prints (.+?)(?:\s+\(.*\))?$", comment)  # "prints X" or "prints X (remark)"
    if not m:
        return cmd
    want = m.group(1)
    return (f"out=$({cmd}); if [ \"$out\" != {shlex.quote(want)} ]; then "
            f"echo {shlex.quote(cmd)}\": printed '$out', the text says {want}\" >&2; exit 1; fi")


def table_commands() -> list[str]:
    """The example column of the CLI table: `wasmweld ...` in the last cell of each row."""
    out = []
    for row in re.findall(r"^\| `[a-z]+` \|.*\| `(wasmweld [^`]*)` \|$", README, flags=re.M):
        out.append(row.replace("\\|", "|"))
    return out


def test_readme_has_the_install_route_below_the_make_commands():
    first, second = blocks("sh")[:2]
    assert logical_lines(first)[0].startswith("make demo") and logical_lines(first)[1].startswith("make test")
    assert logical_lines(second) == ["pip install 'wasmweld[runtime]'"]
    assert README.index("make test") < README.index("pip install 'wasmweld[runtime]'") < README.index("## What")


def test_readme_shell_commands_run_as_written(tmp_path):
    shutil.copytree(REPO / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("build", "*.wasm"))
    lines = ["set -euo pipefail"]
    for block in blocks("sh"):
        lines += [x for x in map(script_line, logical_lines(block)) if x]
    table = table_commands()
    assert len(table) >= 10, table  # one per command of the table
    lines += table
    ran = [x for x in lines if "wasmweld " in x]
    assert len(ran) >= 25
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("WASMWELD_DEBUG", None)
    proc = subprocess.run(["bash", "-c", "\n".join(lines)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"README commands failed:\n{proc.stderr[-3000:]}"
    for made in ("world.wasm", "one.wasm", "app.wasm", "boot.init.wasm", "world.svg", "world.cwasm"):
        assert (tmp_path / made).stat().st_size > 0, made


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_readme_python_blocks_run(index, tmp_path):
    code = blocks("python")[index]
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the `# value` comments on print lines are what those lines print
    printed = proc.stdout.splitlines()
    for expected in re.findall(r"^print\(.*\)[ \t]+# (.+)$", code, flags=re.M):
        expected = re.sub(r"\s*\(\.\.\.\)$", "", expected.strip())  # "message (...)": the start of the line
        assert any(line.startswith(expected) for line in printed), (expected, printed)
