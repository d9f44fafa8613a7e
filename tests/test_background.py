"""wasmweld.background.Background: one helper for the three places that run a function in a daemon thread
and hand its error back (snapshot's and merge's input validation, the CLI's output check)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from wasmweld.background import Background
from wasmweld.errors import ValidationError


def test_runs_beside_the_caller_and_join_raises_what_it_raised():
    started, go = threading.Event(), threading.Event()

    def fn(x):
        started.set()
        assert go.wait(30)                  # only the caller's thread can let it finish
        raise ValidationError(f"bad {x}")

    job = Background(fn, 7, name="wasmweld-test")
    assert started.wait(30) and job.thread.daemon and job.thread.name == "wasmweld-test"
    go.set()
    with pytest.raises(ValidationError, match="bad 7"):
        job.join()


def test_wait_only_waits_and_a_clean_run_joins_quietly():
    seen: list = []
    job = Background(seen.append, "done")
    job.wait()
    assert seen == ["done"] and job.error is None
    job.join()
    failing = Background(lambda: 1 / 0)
    failing.wait()                          # no raise
    assert isinstance(failing.error, ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        failing.join()


def test_importing_it_loads_no_thread_machinery():
    code = "import sys, wasmweld.background; print('threading' in sys.modules, 'typing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_merge_and_snapshot_input_checks_and_the_cli_use_it():
    """No second copy of the thread-and-error hand-back: the three users import this one."""
    from pathlib import Path

    import wasmweld

    src = Path(wasmweld.__file__).parent
    for rel in ("cli/io.py", "link/merge_inputs.py", "preinit/__init__.py"):
        text = (src / rel).read_text()
        assert "background import Background" in text and "threading.Thread(" not in text, rel
