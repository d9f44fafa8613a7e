"""``may_leave``: a component's realloc or post-return, run by an adapter, may not call the host.

The provider imports ``log`` from the host and exports ``test:ml/api``; its ``cabi_realloc`` calls
``log`` once armed (``arm``), and its post-return of ``echo`` calls ``log`` once ``arm-post`` ran.
The composition traps there ("cannot leave component instance"); so must the fused component
(a trampoline checks the provider's ``may_leave`` flag before each of its host imports), while
the ordinary ``log`` calls (from ``echo`` itself) reach the host in both, in the same order.
"""

from __future__ import annotations

import pytest

pytest.importorskip("wasmtime")
import wasmtime  # noqa: E402
from wasmtime import component as wc  # noqa: E402

ML_WIT = """package test:ml;

interface api {
  echo: func(s: string) -> string;
  arm: func(realloc: bool, post: bool);
}
world prov { import log: func(x: u32); export api; }
world cons { import api; export run: func(realloc: bool, post: bool) -> u32; }
"""

ML_PROVIDER = """(module
  (import "$root" "log" (func $log (param i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (global $armed (mut i32) (i32.const 0))
  (global $post (mut i32) (i32.const 0))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $r i32)
    (if (global.get $armed) (then (call $log (i32.const 999))))
    (local.set $r (global.get $bump)) (global.set $bump (i32.add (local.get $r) (local.get 3))) (local.get $r))
  (func (export "test:ml/api#arm") (param i32 i32) (global.set $armed (local.get 0)) (global.set $post (local.get 1)))
  ;; echo: log the length, return the same bytes (ptr, len at 16)
  (func (export "test:ml/api#echo") (param $p i32) (param $n i32) (result i32)
    (call $log (local.get $n))
    (i32.store (i32.const 16) (local.get $p)) (i32.store (i32.const 20) (local.get $n)) (i32.const 16))
  (func (export "cabi_post_test:ml/api#echo") (param i32)
    (if (global.get $post) (then (call $log (i32.const 777))))))
"""

ML_CONSUMER = """(module
  (import "test:ml/api" "echo" (func $echo (param i32 i32 i32)))
  (import "test:ml/api" "arm" (func $arm (param i32 i32)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (data (i32.const 32) "hello")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $r i32)
    (local.set $r (global.get $bump)) (global.set $bump (i32.add (local.get $r) (local.get 3))) (local.get $r))
  (func (export "run") (param i32 i32) (result i32)
    (call $arm (local.get 0) (local.get 1))
    (call $echo (i32.const 32) (i32.const 5) (i32.const 64))
    (i32.add (i32.load8_u (i32.load (i32.const 64))) (i32.mul (i32.load (i32.const 68)) (i32.const 1000)))))
"""


def _composition() -> bytes:
    import fuse_fixtures as F
    from test_fuse_perf import build_component

    return F.compose(build_component(ML_WIT, "cons", ML_CONSUMER), build_component(ML_WIT, "prov", ML_PROVIDER))


def _run(data: bytes, realloc: bool, post: bool):
    """``run(realloc, post)`` in a fresh instance: its result (or "trap") and the host's log."""
    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = True
    eng = wasmtime.Engine(cfg)
    store = wasmtime.Store(eng)
    logs: list[int] = []
    linker = wc.Linker(eng)
    with linker.root() as root:
        root.add_func("log", lambda _s, x: logs.append(x))
    inst = linker.instantiate(store, wc.Component(eng, data))
    f = inst.get_func(store, inst.get_export_index(store, "run"))
    try:
        r = f(store, realloc, post)
        f.post_return(store)
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        assert "wasm trap" in str(e) or "cannot leave" in str(e) or "wasm backtrace" in str(e), e
        return "trap", logs
    return r, logs


@pytest.mark.parametrize("realloc,post", [(False, False), (True, False), (False, True)])
def test_host_call_from_realloc_or_post_return_traps_like_the_composition(realloc, post):
    from wasmweld.fuse import fuse

    comp = _composition()
    fused = fuse(comp, emit="component").encode()
    expect = ("trap", []) if realloc else ("trap", [5]) if post else (ord("h") + 5000, [5])
    assert _run(comp, realloc, post) == expect
    assert _run(fused, realloc, post) == expect
