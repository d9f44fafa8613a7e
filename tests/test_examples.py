"""The bundled examples (examples/*.wat) are valid and work together when linked by name.

bank imports from ledger and logger, ledger imports from logger; wasmtime's
Linker wires them the way `wasmweld merge` will fuse them.
"""

from __future__ import annotations

import wasmtime
import pytest
from helpers import REPO

from wasmweld.runtime.engine import engine, load_bytes
from wasmweld.validate import validate

EXAMPLES = REPO / "examples"
NAMES = ["logger", "ledger", "bank"]  # dependency order

CREDIT, DEBIT, REFUSED, TRANSFER, FEE = 1, 2, 3, 10, 11


@pytest.mark.parametrize("name", NAMES)
def test_example_is_valid(name):
    validate(load_bytes(EXAMPLES / f"{name}.wat"))


@pytest.fixture
def bank():
    eng = engine()
    store = wasmtime.Store(eng)
    linker = wasmtime.Linker(eng)
    instances = {}
    for name in NAMES:
        module = wasmtime.Module(eng, load_bytes(EXAMPLES / f"{name}.wat"))
        inst = linker.instantiate(store, module)
        linker.define_instance(store, name, inst)
        instances[name] = inst

    class Bank:
        def __getattr__(self, attr):
            mod, _, export = attr.partition("_")
            fn = instances[mod].exports(store)[export]
            return lambda *a: fn(store, *a)

    return Bank()


def events(b):
    return [(b.logger_code_at(i), b.logger_value_at(i)) for i in range(b.logger_count())]


def test_imports_are_what_the_demo_merges():
    eng = engine()
    imports = {
        name: sorted((i.module, i.name) for i in wasmtime.Module(eng, load_bytes(EXAMPLES / f"{name}.wat")).imports)
        for name in NAMES
    }
    assert imports["logger"] == []
    assert imports["ledger"] == [("logger", "log")]
    assert imports["bank"] == [("ledger", "balance"), ("ledger", "credit"), ("ledger", "debit"), ("logger", "log")]


def test_open_and_transfer_without_fee(bank):
    assert bank.bank_reserve() == 1_000_000  # from ledger's data segment
    assert bank.bank_open(1, 500) == 1
    assert bank.bank_reserve() == 999_500
    assert bank.bank_transfer(1, 2, 100) == 1
    assert (bank.bank_balance(1), bank.bank_balance(2)) == (400, 100)
    assert events(bank) == [(DEBIT, 500), (CREDIT, 500), (DEBIT, 100), (CREDIT, 100), (TRANSFER, 100)]


def test_fee_policies_go_through_the_table(bank):
    bank.bank_open(1, 10_000)
    bank.bank_set_policy(1)
    assert bank.bank_policy() == 1
    assert bank.bank_fee(5000) == 1
    assert bank.bank_transfer(1, 2, 100) == 1
    assert bank.bank_balance(1) == 10_000 - 101
    assert bank.bank_reserve() == 1_000_000 - 10_000 + 1
    bank.bank_set_policy(2)
    assert bank.bank_fee(5000) == 50
    assert bank.bank_transfer(1, 3, 5000) == 1
    assert bank.bank_balance(1) == 10_000 - 101 - 5050
    assert events(bank)[-3:] == [(CREDIT, 50), (FEE, 50), (TRANSFER, 5000)]
    with pytest.raises(wasmtime.Trap):
        bank.bank_set_policy(3)  # no such policy: traps
    assert bank.bank_policy() == 2


def test_refused_transfer_changes_nothing(bank):
    bank.bank_open(1, 50)
    before = bank.logger_count()
    assert bank.bank_transfer(1, 2, 51) == 0
    assert (bank.bank_balance(1), bank.bank_balance(2)) == (50, 0)
    assert events(bank)[before:] == [(REFUSED, 51)]
    assert bank.bank_open(5, 2_000_000) == 0  # more than the reserve


def test_ledger_traps_on_unknown_account(bank):
    with pytest.raises(wasmtime.Trap):
        bank.bank_balance(1024)
    assert bank.ledger_balance(1023) == 0


def test_logger_ring_wraps(bank):
    for i in range(5461 + 2):
        bank.logger_log(7, i)
    assert bank.logger_count() == 5463
    assert bank.logger_value_at(0) == 5461  # slot 0 overwritten by event 5461
    assert bank.logger_value_at(5462) == 5462
    assert bank.logger_value_at(5460) == 5460
