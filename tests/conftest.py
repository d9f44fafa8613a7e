"""Session fixtures: shared material (../shared), the real-world corpus, the peer tools, WAT compilation.

Nothing here skips: a missing ../shared, corpus or peer tool fails the test that
needs it, with the command that fixes it (``make test`` runs them all first).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helpers  # noqa: E402


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return helpers.REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repository (``$WASMWELD_SHARED`` overrides)."""
    if not (helpers.SHARED_DIR / "conformance").is_dir():
        pytest.fail(
            f"shared material not found at {helpers.SHARED_DIR}: wasmweld's tests need the shared/ folder "
            "beside the repository (or WASMWELD_SHARED=/path/to/shared)",
            pytrace=False,
        )
    return helpers.SHARED_DIR


@pytest.fixture(scope="session")
def conformance_dir(shared_dir: Path) -> Path:
    """The spec test-suite modules: valid/, malformed/, invalid/ and index.tsv."""
    path = shared_dir / "conformance"
    if not (path / "index.tsv").is_file():
        pytest.fail(f"{path}/index.tsv missing", pytrace=False)
    return path


def _missing_corpus() -> list[str]:
    return [cid for cid in helpers.corpus_ids() if not helpers.corpus_path(cid).is_file()]


@pytest.fixture(scope="session")
def corpus_dir(shared_dir: Path) -> Path:
    """The real-world modules (``~/.cache/wasmweld-corpus`` or ``$CORPUS``), fetched once if missing."""
    if not helpers.corpus_ids():
        pytest.fail(f"{helpers.CORPUS_MANIFEST} lists no modules", pytrace=False)
    if _missing_corpus():
        helpers.CORPUS_DIR.mkdir(parents=True, exist_ok=True)
        # one fetch at a time, also across pytest-xdist workers
        with open(helpers.CORPUS_DIR / ".fetch.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _missing_corpus():
                env = dict(os.environ, CORPUS=str(helpers.CORPUS_DIR))
                proc = subprocess.run(
                    ["bash", str(helpers.CORPUS_FETCH)], env=env, capture_output=True, text=True, timeout=1800
                )
                if proc.returncode != 0 or _missing_corpus():
                    pytest.fail(
                        f"could not fetch the corpus into {helpers.CORPUS_DIR} (bash {helpers.CORPUS_FETCH}):\n"
                        f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}",
                        pytrace=False,
                    )
    return helpers.CORPUS_DIR


@pytest.fixture(scope="session")
def corpus_modules(corpus_dir: Path) -> list[Path]:
    """Paths of all corpus modules, in manifest order."""
    return [helpers.corpus_path(cid) for cid in helpers.corpus_ids()]


@pytest.fixture(scope="session")
def peers_env() -> dict[str, str]:
    """An environment whose PATH starts with the peer tools (wasm-merge, wasm-opt, wabt, wizer, ...)."""
    needed = ["wasm-merge", "wasm-opt", "wasm-validate", "wasm2wat", "wizer"]
    missing = [t for t in needed if not (helpers.PEERS_BIN / t).exists()]
    if missing:
        pytest.fail(
            f"peer tools missing from {helpers.PEERS_BIN}: {', '.join(missing)}; "
            "run `bash ../shared/peers/setup.sh` (make test does)",
            pytrace=False,
        )
    env = dict(os.environ)
    env["PATH"] = f"{helpers.PEERS_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["WASM_PEERS"] = str(helpers.PEERS_DIR)
    return env


@pytest.fixture(scope="session")
def wat():
    """``wat(text) -> bytes``: compile WebAssembly text (wasmtime's parser)."""
    from wasmweld.runtime.engine import wat2wasm

    return wat2wasm


@pytest.fixture
def forced(monkeypatch):
    """Every code section counts as big (a second process for renumbering, decoding, gc's scan when
    WASMWELD_FORK allows); yields the list of forks made."""
    import wasmweld.link.parallel as par
    from wasmweld.bodydecode import stop_helper

    monkeypatch.setattr(par, "MIN_PARALLEL_BYTES", 0)
    forks: list = []
    real_fork = os.fork

    def counting_fork():
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", counting_fork)
    stop_helper()               # (a decoding helper kept from an earlier test would take the job without a fork)
    for thread in threading.enumerate():    # (nor is there a fork while another thread runs: an earlier
        if thread is not threading.main_thread():   # test's background thread is given time to end)
            thread.join(timeout=10)
    yield forks
    stop_helper()
