"""Regression: a transient EBUSY from the kernel when wasmtime seals the memfd of a new memory image
("cannot add seals to the memfd") failed a component instantiation once in CI; instantiation is tried
again for that error only (it comes before any start function runs), every other error propagates."""

from __future__ import annotations

import pytest

from wasmweld.runtime.engine import MEMFD_BUSY, instantiate


def test_the_transient_memfd_seal_error_is_retried():
    calls = []

    def make():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(f"failed to instantiate\n\nCaused by:\n    {MEMFD_BUSY}")
        return "instance"

    assert instantiate(make) == "instance" and len(calls) == 3


def test_it_gives_up_after_the_attempts():
    calls = []

    def make():
        calls.append(1)
        raise RuntimeError(MEMFD_BUSY)

    with pytest.raises(RuntimeError, match="seals"):
        instantiate(make, attempts=2)
    assert len(calls) == 2


def test_other_errors_are_not_retried():
    calls = []

    def make():
        calls.append(1)
        raise RuntimeError("unknown import: `env::f` has not been defined")

    with pytest.raises(RuntimeError, match="unknown import"):
        instantiate(make)
    assert calls == [1]


def test_a_real_instantiation_goes_through_it():
    from wasmweld import World
    from wasmweld.runtime.engine import wat2wasm

    w = World()
    w.add("m", wat2wasm('(module (func (export "f") (result i32) i32.const 42))'))
    assert w.invoke("m", "f") == 42
