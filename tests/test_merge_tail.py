"""Issue 16.5, the tail of a two-process merge: the parent's idle wait for the child's second phase
is used (``TwoPhaseMap.second(meanwhile=...)``: the inputs' validation starts there), ended children
are reaped without waiting for their exit, and the code section is encoded with each body copied once.
Results, bytes and errors stay those of one process.
"""

from __future__ import annotations

import os
import sys

import pytest

from helpers import both_ways
from wasmweld.errors import EncodeError, WasmError
from wasmweld.link import merge, parallel
from wasmweld.link.parallel import TwoPhaseMap
from wasmweld.module import FuncBody, parse
from wasmweld.runtime.engine import wat2wasm

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the second process forks on Linux only")

N = 3000


def _job(stream: int = 0) -> TwoPhaseMap:
    def first(i):
        return (i * 3, os.getpid())

    def make_second(arg):
        return lambda k, r: (k, None if r is None else r[0], arg, os.getpid())

    return TwoPhaseMap(N, first, make_second, send=lambda r: (r[0], None), stream=stream)


@linux_only
@pytest.mark.parametrize("stream", [0, 16])
def test_meanwhile_runs_after_the_parents_share_and_drops_its_first_results(monkeypatch, stream):
    monkeypatch.setenv("WASMWELD_FORK", "1")
    parent = os.getpid()
    job = _job(stream)
    assert job.forks
    seen: list = []
    with job:
        firsts = job.first() if not stream else (job.first_own(), job.finish_first())[1]
        own = [i for i in range(N) if firsts[i][1] == parent]

        def meanwhile():
            # the parent's own items are done (their results are in ``out`` already) and their first
            # results are no longer held; the child's are (redone here if it fails)
            seen.append([job.results[i] for i in own[:50]])

        out = job.second(list(range(N)), "arg", meanwhile=meanwhile)
    assert len(seen) == 1 and seen[0] == [None] * len(seen[0])
    assert [o[:3] for o in out] == [(k, k * 3, "arg") for k in range(N)]
    assert parent in {o[3] for o in out} and len({o[3] for o in out}) == 2     # each process did its share


@linux_only
def test_meanwhile_in_one_process_and_after_a_failed_child(monkeypatch):
    monkeypatch.setenv("WASMWELD_FORK", "0")
    calls: list[int] = []
    job = _job()
    assert not job.forks
    job.first()
    out = job.second(list(range(N)), "x", meanwhile=lambda: calls.append(1))
    assert calls == [1] and [o[:3] for o in out] == [(k, k * 3, "x") for k in range(N)]
    # a child that dies before its second phase: its items are redone here, meanwhile still runs once
    monkeypatch.setenv("WASMWELD_FORK", "1")
    job = _job()
    job.first()
    os.kill(job.pid, 9)
    calls.clear()
    out = job.second(list(range(N)), "y", meanwhile=lambda: calls.append(1))
    assert calls == [1] and [o[:3] for o in out] == [(k, k * 3, "y") for k in range(N)]


@linux_only
def test_ended_children_are_reaped_later_and_do_not_pile_up(monkeypatch):
    monkeypatch.setenv("WASMWELD_FORK", "1")
    pids = []
    for _ in range(6):
        job = _job()
        job.first()
        pids.append(job.pid)
        job.second(list(range(N)), None)
        assert job.pid is None
    parallel.reap_later(None)
    import time
    deadline = time.monotonic() + 10
    while parallel._ENDING and time.monotonic() < deadline:
        time.sleep(0.02)
        parallel.reap_later(None)
    assert parallel._ENDING == []
    for pid in pids:                            # every one reaped: none is our child any more
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_code_section_encoded_from_raw_bodies_is_the_same_bytes():
    funcs = "".join(f"(func (export \"f{i}\") (result i32) (i32.const {i * 1000}))" for i in range(300))
    data = wat2wasm(f"(module {funcs})")
    m = parse(data)
    m.code = [FuncBody(b.raw) for b in m.code]      # new objects: no original spans to copy
    assert m.encode() == data
    m.code[7] = FuncBody.from_instrs([], parse(data, lazy=False).code[8].instrs)
    out = m.encode()
    assert out != data and parse(out).code[7].raw == parse(data).code[8].raw
    m.code[9] = "not a body"                        # type: ignore[call-overload]
    with pytest.raises(EncodeError, match="#9 of the code section"):
        m.encode()


@linux_only
def test_merge_still_refuses_an_invalid_input_with_a_second_process(monkeypatch, tmp_path):
    """The inputs' bytes are taken before the merge decodes them; their validation starts during the
    second phase: an input that decodes but does not validate is still the error, either way."""
    pytest.importorskip("wasmtime")
    import wasmweld.link.parallel as par
    monkeypatch.setattr(par, "MIN_PARALLEL_BYTES", 0)
    funcs = "".join(f"(func (export \"g{i}\") (result i32) (call $h{i}))" for i in range(2500))
    helpers_ = "".join(f"(func $h{i} (result i32) (i32.const {i}))" for i in range(2500))
    good = parse(wat2wasm(f"(module (memory 1) {funcs} {helpers_})"))
    bad_src = wat2wasm('(module (func (export "x") (result i32) (i32.const 1) (i32.const 2) drop))')
    # make the body return nothing: (i32.const 1) drop -> invalid (a result is missing)
    body = parse(bad_src).code[0].raw
    bad_body = body.replace(bytes.fromhex("41 01 41 02 1a"), bytes.fromhex("41 01 1a 01 01"))
    bad = bad_src.replace(body, bad_body)
    with_child, without = both_ways(monkeypatch, lambda: merge([("a", good), ("b", parse(bad))], validate_inputs=True))
    assert with_child == without and with_child[0] == "error"
    with pytest.raises(WasmError):
        merge([("a", good), ("b", parse(bad))], validate_inputs=True)


@linux_only
def test_waiting_for_a_child_works_with_descriptors_above_1023():
    """The parent waits for its child's messages with poll: select() refuses descriptor numbers above
    1023, which a process with many open files hands out."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.fail(f"this test needs 1100 file descriptors; the hard limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < 1100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1100, hard))
    r, w = os.pipe()
    high_r = os.dup2(r, 1050)
    try:
        os.write(w, b"x")
        parallel.wait_readable_fd(high_r)            # returns: there is something to read
        assert os.read(high_r, 1) == b"x"
        parallel.wait_readable_fd(high_r, 0.01)      # nothing to read: returns after the timeout
    finally:
        for fd in (r, w, high_r):
            os.close(fd)
        if soft != resource.RLIM_INFINITY and soft < 1100:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _fused_and_two_pass(inputs: list) -> tuple[bytes, bytes]:
    from wasmweld.passes.gc import gc

    fused = merge(inputs, export_conflicts="rename").encode()
    two = gc(merge(inputs, export_conflicts="rename", gc=False)).module.encode()
    return fused, two


@linux_only
def test_sections_encoded_while_the_child_patches_are_those_of_merge_then_gc(monkeypatch, forced):
    """The parent encodes and renumbers every section but the code while the child patches its bodies
    (merge_gc._Shell), then splices the code in: the bytes are those of merging without gc and collecting
    after (names, exports, data, elements renumbered by gc's maps), with a second process or without."""
    n = 2500
    a = wat2wasm("(module (memory (export \"mem\") 1) (global $g (mut i32) (i32.const 0))"
                 + "".join(f"(func $f{i} (export \"f{i}\") (result i32) (global.set $g (i32.const {i})) (call $h{i}))"
                           for i in range(0, n, 2))
                 + "".join(f"(func $h{i} (result i32) (i32.load (i32.const {i * 4})))" for i in range(n))
                 + "(func $dead (drop (i32.const 7))) (table 2 funcref) (elem (i32.const 0) $h1 $h3))")
    b = wat2wasm("(module (import \"a\" \"f0\" (func $f0 (result i32))) (memory 1) (data (i32.const 8) \"hi\")"
                 + "".join(f"(func $k{i} (export \"k{i}\") (result i32) (i32.add (call $f0) (i32.load8_u (i32.const {i}))))"
                           for i in range(n))
                 + "(func $dead2 (drop (i32.const 8))))")
    outs = []
    for on in ("1", "0"):
        monkeypatch.setenv("WASMWELD_FORK", on)
        fused, two = _fused_and_two_pass([("a", a), ("b", b)])
        assert fused == two
        outs.append(fused)
    assert forced and outs[0] == outs[1]
    m = parse(outs[0])
    assert m.custom("name") is not None and len(m.code) == n // 2 + n // 2 + n     # the odd $h, $dead, $dead2 removed
    from wasmweld.runtime.engine import validate_bytes
    validate_bytes(outs[0])


@linux_only
def test_fused_merge_that_keeps_no_function_writes_no_code_section(monkeypatch, forced):
    """gc removes every function (only a memory and a global are exported): the spliced module has no
    code section, as merging and collecting after gives."""
    funcs = "".join(f"(func $f{i} (result i32) (i32.const {i}))" for i in range(2100))
    a = wat2wasm(f"(module (memory (export \"mem\") 1) {funcs})")
    b = wat2wasm(f"(module (global (export \"g\") i32 (i32.const 5)) {funcs})")
    for on in ("1", "0"):
        monkeypatch.setenv("WASMWELD_FORK", on)
        fused, two = _fused_and_two_pass([("a", a), ("b", b)])
        assert fused == two
        m = parse(fused)
        assert len(m.code) == 0 and 10 not in {s.id for s in m.sections}
