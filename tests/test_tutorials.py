"""The tutorials in docs/tutorials/ run as written (issue 15).

Each tutorial ``docs/tutorials/NAME.md`` runs in a copy of its folder ``docs/tutorials/NAME/`` (the
sources it builds): its ```sh blocks as one bash script with ``set -e`` (``# prints X`` comments
checked, as for the README: see tests/test_readme.py), its ```python blocks in order after the shell
block before them, in the same folder. clang comes from the peer tools (``make test`` installs them).

Slow build steps are cached between runs, not skipped: the QuickJS tutorial's sdist download and object
files are kept in the test build cache (keyed by its makefile) and put back before its commands run,
so `test -f ... || pip download` and `make` find them done; the commands themselves run unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import build_cache_dir, clang_env
from test_readme import logical_lines, script_line

REPO = Path(__file__).resolve().parent.parent
TUTORIALS = REPO / "docs" / "tutorials"
NAMES = sorted(p.stem for p in TUTORIALS.glob("*.md"))


def test_the_five_tutorials_are_there_and_linked_from_the_readme():
    assert {"quickjs", "services", "dlopen", "preinit", "components"} <= set(NAMES)
    readme = (REPO / "README.md").read_text()
    assert all(f"(docs/tutorials/{name}.md)" in readme for name in NAMES)


# tutorial -> (files its commands make that are worth keeping between runs, the file whose hash keys them)
CACHED = {
    "quickjs": (["quickjs-1.19.4.tar.gz", "quickjs.o", "libregexp.o", "libunicode.o", "cutils.o", "libbf.o"],
                "engine.mk"),
}


# tutorial -> {file its commands download: corpus id}: the corpus has the same files (same sha256, checked
# by the tutorial itself), fetched once by the corpus_dir fixture; put in place so `test -f X || curl` skips
CORPUS_FILES = {
    "dlopen": {"web-tree-sitter.wasm": "ts-web-tree-sitter", "tree-sitter-html.wasm": "ts-html-side",
               "tree-sitter-c.wasm": "ts-c-side"},
}


def _cache_dir(name: str) -> Path | None:
    if name not in CACHED:
        return None
    files, key = CACHED[name]
    digest = hashlib.sha256((TUTORIALS / name / key).read_bytes() + repr(files).encode()).hexdigest()[:16]
    return build_cache_dir() / f"tutorial-{name}-{digest}"


@pytest.mark.parametrize("name", NAMES)
def test_tutorial_runs_as_written(name, tmp_path, request):
    text = (TUTORIALS / f"{name}.md").read_text()
    work = tmp_path / name
    shutil.copytree(TUTORIALS / name, work)
    if name in CORPUS_FILES:
        corpus = request.getfixturevalue("corpus_dir")
        for f, cid in CORPUS_FILES[name].items():
            shutil.copy(corpus / f"{cid}.wasm", work / f)
    cache = _cache_dir(name)
    if cache is not None and cache.is_dir():
        for f in CACHED[name][0]:
            if (cache / f).is_file():
                shutil.copy(cache / f, work / f)  # newer than the sources tar unpacks: make sees them done
    env = clang_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("WASMWELD_DEBUG", None)
    blocks = re.findall(r"^```(sh|python)\n(.*?)^```", text, flags=re.S | re.M)
    assert sum(1 for kind, _b in blocks if kind == "sh") >= 3
    checked = 0
    for kind, block in blocks:
        if kind == "sh":
            lines = [x for x in (script_line(ln, skipped=()) for ln in logical_lines(block)) if x]
            checked += sum(1 for x in lines if x.startswith("out=$("))
            argv = ["bash", "-c", "\n".join(["set -euo pipefail", *lines])]
        else:
            argv = [sys.executable, "-c", block]
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{name}.md: a {kind} block failed:\n{block}\n{proc.stderr[-3000:]}"
    assert checked >= 4, "each tutorial checks what its commands print"
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for f in CACHED[name][0]:
            if (work / f).is_file() and not (cache / f).is_file():
                tmp = cache / f".{f}.tmp"
                shutil.copy(work / f, tmp)
                os.replace(tmp, cache / f)
