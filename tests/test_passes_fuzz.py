"""Issue 17.22: well-formed but invalid modules through every registered pass raise WasmError only.

Small modules (built here from WAT) are mutated byte by byte with a fixed seed; every mutant that
is still well-formed (what ``wasmweld edit`` accepts before running passes) goes through each pass
of the registry with parameters that fit the seed, and the result is encoded. Anything but a
:class:`~wasmweld.errors.WasmError` (an IndexError, KeyError, TypeError...) fails the test.
``WASMWELD_FUZZ_N`` raises the number of mutants (default 150 per seed).
"""

from __future__ import annotations

import os
import random

import pytest
import wasmtime

from wasmweld.errors import WasmError
from wasmweld.module import parse
from wasmweld.passes.registry import PASSES, Op, apply_ops
from wasmweld.validate import check_wellformed

SEEDS = [
    """(module
      (type $v (func)) (type $ii (func (param i32) (result i32)))
      (import "env" "f" (func $f (type $ii)))
      (import "env" "g" (global $g i32))
      (memory 1) (table 2 funcref)
      (global $m (mut i32) (i32.const 0))
      (elem (i32.const 0) $a $b)
      (elem func $b)
      (data (i32.const 8) "hi") (data "passive")
      (func $a (export "e") (type $ii) (call $f (local.get 0)))
      (func $b (type $v) (global.set $m (global.get $g)) (drop (call_indirect (type $ii) (i32.const 1) (i32.const 0))))
      (func $c (export "c") (result i32) (i32.const 7))
      (start $b))""",
    """(module
      (type $s (struct (field i32)))
      (type $t (func (param (ref null $s)) (result i32)))
      (import "env" "h" (func $h (param i64)))
      (tag $x (param i32))
      (func $k (export "e") (type $t) (struct.get $s 0 (local.get 0)))
      (func (export "r") (result funcref) (ref.func $k))
      (elem declare func $k))""",
]

PARAMS = {
    "add-data": [{"name": "d", "data": b"xy"}, {"name": "d2", "data": b"z", "mode": "active"}],
    "add-export": [{"name": "zz", "call": "#1", "args": [1]}, {"name": "zy", "func": "#0"}],
    "replace-body": [{"func": "#1", "trap": True}, {"func": "e", "const": [0]}],
    "rename-import": [{"module": "env", "name": "f", "new_name": "f2"}],
    "resolve-import": [{"module": "env", "name": "f", "target": "e"}],
    "stub-imports": [{"module": "env"}, {"module": "env", "name": "h", "mode": "default"}],
    "list-uncalled-imports": [{}],
    "rename-export": [{"old": "e", "new": "e2"}],
    "remove-exports": [{"patterns": ["*"]}],
    "keep-exports": [{"patterns": ["c"]}],
    "strip": [{"all": True}],
    "add-producer": [{"field": "language", "name": "x"}],
    "add-custom": [{"name": "c", "data": b"1"}],
    "gc": [{}],
}


def test_every_pass_has_fuzz_parameters():
    assert set(PARAMS) == set(PASSES)


def _mutants(data: bytes, n: int, rng: random.Random):
    for _ in range(n):
        b = bytearray(data)
        for _k in range(rng.choice((1, 1, 2))):
            b[rng.randrange(8, len(b))] = rng.choice((0, 1, 2, 5, 0x7F, 0x80, rng.randrange(256)))
        yield bytes(b)


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_invalid_modules_through_every_pass_raise_only_wasm_errors(seed):
    n = int(os.environ.get("WASMWELD_FUZZ_N", "150"))
    data = wasmtime.wat2wasm(SEEDS[seed])
    rng = random.Random(1700 + seed)
    tried = 0
    for mutant in _mutants(data, n, rng):
        try:
            check_wellformed(mutant)
            parse(mutant)
        except WasmError:
            continue                       # malformed: refused before any pass runs
        for name, variants in PARAMS.items():
            for params in variants:
                tried += 1
                try:
                    module, _ctx = apply_ops(parse(mutant), [Op(name, dict(params), f"--{name}")])
                    module.encode()
                except WasmError:
                    pass
                except Exception as exc:  # noqa: BLE001 - the point of the test
                    pytest.fail(f"{name} {params} on mutant {mutant.hex()}: {type(exc).__name__}: {exc}")
    assert tried > 100
