"""Issue 16.4: the helper process that decodes half of a big code section is kept between jobs.

``wasmweld.bodydecode``: the first big full decode forks a helper that takes the job's bodies from what it
inherits; later jobs reach it through a command pipe, their code section copied into a shared map. Every
decode must equal the one-process decode; a job left early, a helper that died, went idle or is too small
for the next module, and forks of the process that owns it must all leave later decodes right.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time

import pytest

import wasmweld.bodydecode as bodydecode
import wasmweld.module as module
from wasmweld.binary.instr import decode_body
from wasmweld.module import parse

from test_twocore import _decoded, _rich_module

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the helper is forked (Linux)")


def _one_process(monkeypatch, data: bytes, forced: list):
    """The one-process decode of ``data``; no helper, and the fork count starts again from here."""
    monkeypatch.setenv("WASMWELD_FORK", "0")
    want = _decoded(data)
    monkeypatch.setenv("WASMWELD_FORK", "1")
    bodydecode.stop_helper()    # (building the module may have forked one, under a light load)
    forced.clear()
    return want


def _slow_parent(monkeypatch) -> list[int]:
    """This process decodes slowly from now on (the helper, forked before, does not): the helper's parts
    are then most of the job, however busy the machine. Returns the list of the bodies this process decodes."""
    here: list[bytes] = []
    parent = os.getpid()

    def counted(raw, base=0):
        if os.getpid() == parent:
            here.append(raw)
            time.sleep(0.002)
        return decode_body(raw, base)

    monkeypatch.setattr(bodydecode, "decode_body", counted)
    monkeypatch.setattr(module, "decode_body", counted)
    return here


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie counts: it holds no memory and runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return _gone(pid)


def test_the_helper_is_kept_and_later_jobs_come_through_the_shared_map(monkeypatch, forced):
    data = _rich_module()
    want = _one_process(monkeypatch, data, forced)
    assert _decoded(data) == want and len(forced) == 1
    helper = bodydecode._HELPER
    assert helper is not None and not helper.dead
    here = _slow_parent(monkeypatch)
    for _ in range(2):
        here.clear()
        m = parse(data, lazy=False)
        n = len(m.code)
        assert 0 < len(here) < n                        # the rest came from the kept helper
        assert [(list(b.locals), [(i.name, i.args, i.raw) for i in b.instrs]) for b in m.code] == want[0]
        assert m.encode() == data
    assert len(forced) == 1 and bodydecode._HELPER is helper and helper.number == 3


def test_a_job_left_at_a_bad_body_then_a_good_one(monkeypatch, forced):
    """The parent stops at its first bad body and tells the helper to stop; the next job waits for the
    helper to finish the part it was at, then gives it the new job (no second fork)."""
    data = _rich_module()
    want = _one_process(monkeypatch, data, forced)
    first = parse(data).code[0]
    at = first.offset + len(first.raw) - 1
    bad = data[:at] + b"\xff" + data[at + 1:]
    monkeypatch.setenv("WASMWELD_FORK", "0")
    with pytest.raises(Exception) as alone:
        parse(bad, lazy=False)
    monkeypatch.setenv("WASMWELD_FORK", "1")
    with pytest.raises(type(alone.value)) as paired:
        parse(bad, lazy=False)
    assert str(paired.value) == str(alone.value) and "illegal opcode" in str(alone.value)
    here = _slow_parent(monkeypatch)
    assert _decoded(data) == want and 0 < len(here) < len(parse(data).code)
    assert len(forced) == 1


def test_a_helper_that_died_is_replaced(monkeypatch, forced):
    data = _rich_module()
    want = _one_process(monkeypatch, data, forced)
    assert _decoded(data) == want
    pid = bodydecode._HELPER.pid
    os.kill(pid, signal.SIGKILL)
    assert _wait_gone(pid)
    assert _decoded(data) == want and len(forced) == 2 and bodydecode._HELPER.pid != pid


def test_the_helper_leaves_when_idle(monkeypatch, forced):
    data = _rich_module()
    want = _one_process(monkeypatch, data, forced)
    monkeypatch.setattr(bodydecode, "IDLE_SECONDS", 0.2)  # (the helper forked next inherits it)
    assert _decoded(data) == want
    pid = bodydecode._HELPER.pid
    assert _wait_gone(pid)
    assert _decoded(data) == want and len(forced) == 2


def test_a_bigger_code_section_takes_a_new_helper(monkeypatch, forced):
    small, big = _rich_module(2), _rich_module(8)
    want_small, want_big = _one_process(monkeypatch, small, forced), _one_process(monkeypatch, big, forced)
    assert _decoded(small) == want_small and len(forced) == 1
    first = bodydecode._HELPER
    assert _decoded(big) == want_big and len(forced) == 2
    assert first.dead and bodydecode._HELPER is not first
    assert _decoded(small) == want_small and len(forced) == 2  # (the bigger one takes the smaller job)


def test_a_forked_child_does_not_hold_the_helper(monkeypatch, forced):
    """Any fork of the process that owns the helper forgets it there (and closes its pipes: the helper sees
    its owner's exit as the end of its command pipe, which no other process may keep open)."""
    data = _rich_module()
    _one_process(monkeypatch, data, forced)
    _decoded(data)
    helper = bodydecode._HELPER
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            ok = bodydecode._HELPER is None and helper.cmd == -1 and helper.fd == -1 and helper.dead
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 1) == b"1"
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    assert bodydecode._HELPER is helper and not helper.dead


def test_the_helper_ends_with_the_process_that_made_it(tmp_path):
    """No helper outlives its owner: a process that decoded a big module and forked a child of its own
    (which ends later) exits; its helper then ends too."""
    module_file = tmp_path / "m.wasm"
    module_file.write_bytes(_rich_module())
    script = (
        "import os, sys, time\n"
        "import wasmweld.link.parallel as par, wasmweld.bodydecode as bd\n"
        "from wasmweld.module import parse\n"
        "par.MIN_PARALLEL_BYTES = 0\n"
        "parse(open(sys.argv[1], 'rb').read(), lazy=False)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(0.5); os._exit(0)\n"
        "print(bd._HELPER.pid, flush=True)\n"
    )
    env = dict(os.environ, WASMWELD_FORK="1")
    out = subprocess.run([sys.executable, "-c", script, str(module_file)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[0])
    assert _wait_gone(pid)


def test_bodies_from_another_module_are_decoded_from_their_own_bytes(monkeypatch, forced):
    """What the helper decodes for a later job is each body's own bytes, copied into the shared map, not
    the code section's bytes at the body's offset: a body taken from another module decodes as itself."""
    data, other = _rich_module(), _rich_module(3)
    want = _one_process(monkeypatch, data, forced)
    assert _decoded(data) == want                       # (the helper is forked; the next job reaches it by pipe)
    here = _slow_parent(monkeypatch)
    m, donor = parse(data), parse(other)
    for k in (len(donor.code) - 1, len(donor.code) - 2):
        m.funcs.append(donor.funcs[k])
        m.code.append(donor.code[k])                    # (an original body of ``other``: its offset is there)
    m.decode_all()
    assert len(forced) == 1
    assert not any(r is b._raw for b in m.code[-2:] for r in here)     # the helper decoded them
    got = [(list(b.locals), [i.raw for i in b.instrs]) for b in m.code]
    expect = [(list(a), [i.raw for i in b]) for a, b in (decode_body(b.raw) for b in m.code)]
    assert got == expect


def test_the_helper_holds_no_file_its_owner_had_open(monkeypatch, forced):
    """A pipe open here when the helper was forked reaches its end of file as soon as this process closes
    its write end: the kept helper does not hold it (it closed everything it inherited but its own pipes)."""
    import select

    data = _rich_module()
    want = _one_process(monkeypatch, data, forced)
    r, w = os.pipe()
    try:
        assert _decoded(data) == want and len(forced) == 1     # the helper is forked with ``w`` open here
        os.close(w)
        w = -1
        waiter = select.poll()
        waiter.register(r, select.POLLIN | select.POLLHUP)
        assert waiter.poll(5000) and os.read(r, 1) == b""      # the end, though the helper lives on
        assert not bodydecode._HELPER.dead and not _gone(bodydecode._HELPER.pid)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_a_fork_that_fails_leaves_one_process_and_no_open_pipe(monkeypatch, forced):
    """No process to be had (``fork`` fails): the decode is done here alone, and the helper's pipes made for the
    fork are closed again."""
    data = _rich_module()
    want = _one_process(monkeypatch, data, forced)

    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    gc.collect()                # (garbage holding a descriptor, e.g. from building the module, closed now)
    before = sorted(os.listdir("/proc/self/fd"))
    assert _decoded(data) == want
    assert sorted(os.listdir("/proc/self/fd")) == before and bodydecode._HELPER is None
