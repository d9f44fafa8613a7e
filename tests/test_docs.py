"""`make docs`: the API reference builds from the docstrings with no pdoc warning (issue 15)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_api_reference_builds_without_warnings(tmp_path):
    specs = subprocess.run([sys.executable, str(REPO / "docs" / "api_modules.py")], capture_output=True, text=True,
                           check=True).stdout.split()
    assert {"wasmweld", "wasmweld.cli", "wasmweld.link", "wasmweld.passes", "wasmweld.runtime"} <= set(specs)
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", "-W", "ignore:The module specification:UserWarning",
                           "-m", "pdoc", "-o", str(tmp_path), *specs],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr[-3000:]
    pages = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html")}
    for page in ("wasmweld.html", "wasmweld/cli/io.html", "wasmweld/cli/files.html", "wasmweld/link/graph.html",
                 "wasmweld/validate.html"):
        assert page in pages, page
    io_page = (tmp_path / "wasmweld" / "cli" / "io.html").read_text()
    assert "write_output" in io_page and "Write <code>data</code> to <code>path</code> atomically" in io_page
