"""Lazy decoding of a Module is idempotent under threads (issue 17, item 13)."""

from __future__ import annotations

import threading

import wasmweld
from wasmweld.module import Export, Module
from wasmweld.types import ExternKind


def _module_with_exports(n: int) -> bytes:
    m = Module()
    m.exports = [Export(f"e{i}", ExternKind.FUNC, 0) for i in range(n)]
    # an export of a missing function is fine for the decoder (it is not validated)
    return m.encode()


def _race(data: bytes, attr: str, nthreads: int = 8):
    m = wasmweld.parse(data)
    barrier = threading.Barrier(nthreads)
    seen = []
    errors = []

    def worker(i: int):
        try:
            barrier.wait()
            lst = getattr(m, attr)
            seen.append(lst)
            lst.append(Export(f"added{i}", ExternKind.FUNC, 0))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return m, seen


def test_two_threads_touching_exports_share_one_list():
    # a big export section makes the decode take long enough for the threads to overlap
    data = _module_with_exports(5000)
    for _trial in range(10):
        m, seen = _race(data, "exports")
        assert all(lst is seen[0] for lst in seen)          # one list
        assert m.exports is seen[0]
        names = [e.name for e in m.exports]
        assert len(names) == 5000 + 8                      # no lost append
        assert {f"added{i}" for i in range(8)} <= set(names)
        back = wasmweld.parse(m.encode())
        assert len(back.exports) == 5000 + 8


def test_threads_decoding_one_body_share_one_instruction_list():
    wasm = bytes.fromhex(
        "0061736d01000000" "01080260017f00600000" "020b0103656e76036c6f670000"
        "03020101" "0503010001" "0707010372756e0001" "0a08010600412a10000b")
    for _trial in range(20):
        m = wasmweld.parse(wasm)
        body = m.code[0]
        got = []
        barrier = threading.Barrier(4)

        def worker(barrier=barrier, got=got, body=body):
            barrier.wait()
            got.append(body.instrs)

        ts = [threading.Thread(target=worker) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert all(x is got[0] for x in got)
        assert not body.modified
        assert m.encode() == wasm
