"""The run-time World (issue 6): linking by name, any add order, cycles, host functions, access API, errors.

WAT fixtures live in tests/fixtures/world/; every expected value is computed
here from the fixture's definition, not copied from a run.
"""

from __future__ import annotations

import pytest

from helpers import FIXTURES
from wasmweld.errors import DecodeError, ExecutionError, LinkError, ValidationError, WasmError
from wasmweld.runtime.world import Function, Handle, World, parse_functype

W = FIXTURES / "world"


def pa(n):  # the cycle fixture's definition, in Python
    return 1000 if n == 0 else pb(n - 1) + 1


def pb(n):
    return 2000 if n == 0 else pc(n - 1) + 10


def pc(n):
    return 3000 if n == 0 else pa(n - 1) + 100


LEDGER = """(module
  (memory 1)
  (func (export "credit") (param $acct i32) (param $amt i64)
    (i64.store (i32.shl (local.get $acct) (i32.const 3))
      (i64.add (i64.load (i32.shl (local.get $acct) (i32.const 3))) (local.get $amt))))
  (func (export "balance") (param $acct i32) (result i64)
    (i64.load (i32.shl (local.get $acct) (i32.const 3)))))"""

BANK = """(module
  (import "ledger" "credit" (func $credit (param i32 i64)))
  (import "ledger" "balance" (func $balance (param i32) (result i64)))
  (import "audit" "check" (func $check (param i64) (result i32)))
  (func (export "deposit") (param $acct i32) (param $amt i64) (result i64)
    (if (i32.eqz (call $check (local.get $amt))) (then (return (i64.const -1))))
    (call $credit (local.get $acct) (local.get $amt))
    (call $balance (local.get $acct))))"""

AUDIT = """(module
  (func (export "check") (param i64) (result i32) (i64.lt_s (local.get 0) (i64.const 1000))))"""


# ------------------------------------------------------------------ add order, pending, link


def test_reverse_dependency_order_instantiates_when_possible():
    w = World()
    h = w.add("bank", BANK)
    assert isinstance(h, Handle) and not h.ready
    pend = w.pending["bank"]
    assert any("ledger.credit" in r and "no module named 'ledger'" in r for r in pend)
    assert any("audit.check" in r for r in pend)
    with pytest.raises(LinkError, match=r"module 'bank' is not instantiated.*ledger\.credit"):
        w.invoke("bank", "deposit", 1, 5)
    with pytest.raises(LinkError, match="unsatisfied imports"):
        w.link()
    w.add("audit", AUDIT)
    assert not h.ready  # still waiting for ledger
    w.add("ledger", LEDGER)
    assert h.ready and w.pending == {}
    w.link()
    assert w.modules == ["bank", "audit", "ledger"]
    assert w.invoke("bank", "deposit", 3, 40) == 40
    assert w.invoke("bank", "deposit", 3, 2) == 42
    assert w.invoke("bank", "deposit", 3, 5000) == -1  # the auditor refuses
    assert w.invoke("ledger", "balance", 3) == 42


def test_three_module_cycle_with_reentrant_calls():
    w = World()
    w.add("a", W / "cycle_a.wat")
    w.add("b", W / "cycle_b.wat")
    assert w.pending.keys() == {"a", "b"}
    w.add("c", W / "cycle_c.wat")
    assert w.pending == {}
    for n in range(0, 40):
        assert w.invoke("a", "pa", n) == pa(n)
        assert w.invoke("b", "pb", n) == pb(n)
        assert w.invoke("c", "pc", n) == pc(n)
    # a long re-entrant chain a -> b -> c -> a -> ... (3000 frames deep); a runs at depths 0, 3, ..., 3000
    before = w.exports("a")["calls"].value
    assert w.invoke("a", "pa", 3000) == pa_iter(3000)
    # c reads a's mutable global directly (a non-function import inside the cycle)
    assert w.get_fn("c", "a_calls")() == w.exports("a")["calls"].value == before + 1001


def pa_iter(n):
    add = {0: 1, 1: 10, 2: 100}
    base = {0: 1000, 1: 2000, 2: 3000}
    total, k = 0, 0
    while n:
        total += add[k % 3]
        n -= 1
        k += 1
    return total + base[k % 3]


def test_cycle_calls_go_through_a_wasm_trampoline_not_python():
    w = World()
    for name in "abc":
        w.add(name, W / f"cycle_{name}.wat")
    assert len(w._trampolines) == 1
    tramp = w._trampolines[0]
    # the trampoline is a pure Wasm module: no imports, so no host code can be on the call path
    assert tramp.module.imports == []
    assert all(tramp.filled)
    # a's import of b.pb is bound to the trampoline's forwarding function, not to a host function
    bound = w.get_fn_idx("a", 0).raw
    assert any(bound._func.__private == f._func.__private and bound._func.store_id == f._func.store_id
               for f in tramp.funcs)
    # and the forwarder reaches b
    assert w.get_fn_idx("a", 0)(5) == pb(5)


def test_cycle_in_any_add_order():
    for order in ("cba", "bca", "acb"):
        w = World()
        for name in order:
            w.add(name, W / f"cycle_{name}.wat")
        assert [w.invoke(m, f"p{m}", 7) for m in "abc"] == [pa(7), pb(7), pc(7)]


def test_self_import_cycle():
    w = World()
    w.add("fib", """(module
      (import "fib" "fib" (func $fib (param i32) (result i64)))
      (func (export "fib") (param $n i32) (result i64)
        (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
          (then (i64.extend_i32_u (local.get $n)))
          (else (i64.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                         (call $fib (i32.sub (local.get $n) (i32.const 2))))))))""")
    assert [w.invoke("fib", "fib", n) for n in range(10)] == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]


def test_cycle_member_failing_at_start_can_be_added_again():
    w = World()
    w.add("a", W / "cycle_a.wat")
    w.add("b", W / "cycle_b.wat")
    broken_c = (W / "cycle_c.wat").read_text().replace('(func (export "a_calls")',
                                                      '(func $s unreachable) (start $s) (func (export "a_calls")')
    with pytest.raises(ExecutionError, match=r"module 'c'.*unreachable"):
        w.add("c", broken_c)
    assert "c" not in w
    # a and b may be instantiated; calls that need c trap until a good c arrives
    with pytest.raises(ExecutionError):
        w.invoke("a", "pa", 5)
    with pytest.raises(LinkError, match="import cycle"):
        w.add("c", '(module (func (export "pc") (param i64) (result i32) i32.const 0))')
    w.add("c", W / "cycle_c.wat")
    assert [w.invoke(m, f"p{m}", 9) for m in "abc"] == [pa(9), pb(9), pc(9)]


def test_cycle_through_memories_is_refused_and_world_stays_usable():
    w = World()
    w.add("m1", '(module (import "m2" "mem" (memory 1)) (memory (export "mem") 1))')
    with pytest.raises(LinkError, match="only function imports can be routed"):
        w.add("m2", '(module (import "m1" "mem" (memory 1)) (memory (export "mem") 1))')
    assert "m2" not in w
    w.add("ok", '(module (func (export "f") (result i32) i32.const 5))')
    assert w.invoke("ok", "f") == 5


# ------------------------------------------------------------------ host functions


def test_host_functions_in_every_type_form_and_reentrancy():
    w = World()
    log = []
    w.define_host("host", "log", lambda order, total: log.append((order, total)), "i32 i64 -> ")
    prices = {1: 250, 2: 99, 3: 1}
    w.define_host("host", "price", lambda item: prices.get(item, 0), (["i32"], ["i64"]))
    w.add("shop", W / "shop.wat")
    mem = w.memory("shop")
    items = [(1, 2), (2, 3), (3, 10), (4, 7)]
    for i, (item, qty) in enumerate(items):
        mem.write(64 + 8 * i, item.to_bytes(4, "little") + qty.to_bytes(4, "little"))
    expected = sum(prices.get(it, 0) * q for it, q in items)
    assert w.invoke("shop", "order", 64, len(items)) == expected
    assert w.invoke("shop", "order", 64, 1) == 500
    assert log == [(1, expected), (2, 500)]

    # a host function that calls back into Wasm (re-entrant through the host)
    from wasmweld.types import I32, FuncType

    w.define_host("cb", "twice_square", lambda x: 2 * w.invoke("shop", "apply", 1, x), FuncType((I32,), (I32,)))
    w.add("user", '(module (import "cb" "twice_square" (func $t (param i32) (result i32)))'
                  '(func (export "go") (param i32) (result i32) (call $t (local.get 0))))')
    assert w.invoke("user", "go", 9) == 162


def test_parse_functype_forms():
    for form in ("i32 i64 -> f64", "(i32, i64) -> (f64)", "[i32 i64] -> [f64]", (["i32", "i64"], ["f64"])):
        ft = parse_functype(form)
        assert [str(t) for t in ft.params] == ["i32", "i64"] and [str(t) for t in ft.results] == ["f64"]
    assert [str(t) for t in parse_functype("-> i32").results] == ["i32"]
    with pytest.raises(LinkError):
        parse_functype("i32 i32")
    with pytest.raises(LinkError, match="unsupported value type"):
        parse_functype("i33 -> i32")


def test_host_type_mismatch_is_a_link_error_naming_module_and_item():
    w = World()
    w.define_host("host", "price", lambda item: 1, "i32 -> i32")  # shop wants (i32) -> (i64)
    w.define_host("host", "log", lambda a, b: None, "i32 i64 ->")
    with pytest.raises(LinkError) as ei:
        w.add("shop", W / "shop.wat")
    msg = str(ei.value)
    assert "'shop'" in msg and "host.price" in msg and "(i32) -> (i64)" in msg and "(i32) -> (i32)" in msg
    assert "shop" not in w  # the failed add left nothing behind
    # defining a host function for a waiting module with the wrong type is refused too
    w2 = World()
    w2.add("shop", W / "shop.wat")
    with pytest.raises(LinkError, match=r"module 'shop' imports host\.log"):
        w2.define_host("host", "log", lambda a: None, "i32 ->")
    w2.define_host("host", "log", lambda a, b: None, "i32 i64 ->")
    w2.define_host("host", "price", lambda item: 3, "i32 -> i64")
    assert w2.invoke("shop", "order", 0, 0) == 0


def test_host_function_returning_wrong_type_is_reported():
    w = World()
    w.define_host("h", "f", lambda: "nope", "-> i32")
    w.add("m", '(module (import "h" "f" (func $f (result i32))) (func (export "g") (result i32) call $f))')
    with pytest.raises(ExecutionError, match=r"host function h\.f returned 'nope'"):
        w.invoke("m", "g")
    w.add("n", '(module (func (export "k") (result i32) i32.const 3))')
    assert w.invoke("n", "k") == 3


# ------------------------------------------------------------------ access API


def _shop_world():
    w = World()
    w.define_host("host", "log", lambda a, b: None, "i32 i64 ->")
    w.define_host("host", "price", lambda item: 10 * item, "i32 -> i64")
    w.add("shop", W / "shop.wat", export_all=True)
    return w


def test_exports_wrappers():
    w = _shop_world()
    ex = w.exports("shop")
    assert set(ex) >= {"memory", "orders", "version", "ops", "order", "stamp", "apply"}
    assert isinstance(ex["order"], Function) and ex["order"].params == ["i32", "i32"] and ex["order"].results == ["i64"]
    assert ex["version"].value == 7 and not ex["version"].mutable
    assert ex["orders"].value == 0
    ex["orders"].set(41)
    w.invoke("shop", "order", 0, 0)
    assert ex["orders"].value == 42
    with pytest.raises(ExecutionError):
        ex["version"].set(1)
    table = ex["ops"]
    assert len(table) == 2 and table[0](21) == 42 and table[1](12) == 144
    with pytest.raises(ExecutionError):
        table[5]


def test_memory_read_write():
    w = _shop_world()
    mem = w.memory("shop")
    assert mem.size == 65536 and mem.pages == 1
    w.invoke("shop", "stamp", 1000, 33)
    assert mem.read(1000, 3) == b"ok!"
    assert mem[1000:1002] == b"ok" and mem[1002] == 33
    mem.write(2000, (7).to_bytes(4, "little") + (3).to_bytes(4, "little"))
    assert w.invoke("shop", "order", 2000, 1) == 210  # price(7) = 70, qty 3
    mem.write_u32(3000, 0xDEADBEEF)
    assert mem.read_u32(3000) == 0xDEADBEEF and mem.read_i32(3000) == 0xDEADBEEF - (1 << 32)
    assert mem.grow(1) == 1 and mem.pages == 2
    with pytest.raises(ExecutionError, match="out of bounds"):
        mem.read(mem.size - 2, 4)
    with pytest.raises(ExecutionError, match="out of bounds"):
        mem.write(-1, b"x")


def test_get_fn_idx_reaches_imports_exports_and_hidden_functions():
    w = _shop_world()
    # function index space: 0 host.log, 1 host.price, 2 $double, 3 $square, 4 order, 5 stamp, 6 $secret, 7 apply
    assert w.get_fn_idx(0, 1)(4) == 40  # the import: host.price
    assert w.get_fn_idx("shop", 2)(21) == 42  # $double (not exported by the source)
    assert w.get_fn_idx(0, 3)(5) == 25
    assert w.get_fn_idx(0, 6)(0x5A5A) == 0  # $secret
    assert w.get_fn_idx(0, 7)(0, 8) == 16  # apply
    with pytest.raises(LinkError, match="has 8 functions"):
        w.get_fn_idx(0, 8)
    with pytest.raises(LinkError, match="no module with index 3"):
        w.get_fn_idx(3, 0)
    # without export_all only exported ones are reachable, with a hint
    w2 = World()
    w2.define_host("host", "log", lambda a, b: None, "i32 i64 ->")
    w2.define_host("host", "price", lambda item: 1, "i32 -> i64")
    w2.add("shop", W / "shop.wat")
    assert w2.get_fn_idx(0, 7)(1, 3) == 9
    with pytest.raises(LinkError, match="export_all=True"):
        w2.get_fn_idx(0, 6)


def test_get_fn_errors_name_the_problem():
    w = _shop_world()
    with pytest.raises(LinkError, match="no module named 'nope'"):
        w.get_fn("nope", "f")
    with pytest.raises(LinkError, match="has no export 'ordr'.*order"):
        w.get_fn("shop", "ordr")
    with pytest.raises(LinkError, match="not a function"):
        w.get_fn("shop", "memory")
    with pytest.raises(ExecutionError, match="takes 2 arguments"):
        w.invoke("shop", "order", 1)
    with pytest.raises(ExecutionError, match="bad argument"):
        w.invoke("shop", "order", "x", 1)


def test_sources_path_bytes_text_and_module_objects():
    from wasmweld.runtime.engine import wat2wasm

    text = '(module (func (export "f") (result i32) i32.const 11))'
    w = World()
    w.add("from_text", text)
    w.add("from_bytes", wat2wasm(text))
    w.add("from_path", W / "cycle_b.wat")  # waits for c

    class Encodable:
        def encode(self):
            return wat2wasm(text)

    w.add("from_obj", Encodable())
    import wasmweld

    w.add("from_module", wasmweld.parse(wat2wasm(text)))
    for n in ("from_text", "from_bytes", "from_obj", "from_module"):
        assert w.invoke(n, "f") == 11
    with pytest.raises(DecodeError):
        w.add("garbage", b"\x01\x02garbage")
    with pytest.raises(DecodeError, match="module 'bad_text'"):
        w.add("bad_text", "(module (func (result i32) i32.const))) ")
    with pytest.raises(ValidationError, match="module 'invalid'"):
        w.add("invalid", "(module (func (result i32) i64.const 1))")
    with pytest.raises(LinkError, match="already in the World"):
        w.add("from_text", text)
    assert w.invoke("from_text", "f") == 11


def test_dlopen_of_a_plain_module_is_a_shared_nothing_instance():
    w = World()
    h = w.dlopen('(module (memory (export "memory") 1) (func (export "f") (result i32) i32.const 5))', name="plain")
    assert h.ready and h.sym("f")() == 5
    h2 = w.dlopen(W / "cycle_a.wat")
    assert h2.name == "cycle_a" and not h2.ready  # waits for "b" like any added module


# ------------------------------------------------------------------ failures leave the World usable


def test_unsatisfiable_import_names_module_and_item():
    w = World()
    w.add("ledger", LEDGER)
    with pytest.raises(LinkError) as ei:
        w.add("thief", '(module (import "ledger" "steal" (func (param i32))))')
    assert "'thief'" in str(ei.value) and "ledger.steal" in str(ei.value) and "no export 'steal'" in str(ei.value)
    with pytest.raises(LinkError, match=r"ledger\.balance.*does not fit"):
        w.add("bad", '(module (import "ledger" "balance" (func (param i32) (result i32))))')
    with pytest.raises(LinkError, match="is a memory|wants a func|it is a"):
        w.add("kind", '(module (import "ledger" "balance" (memory 1)))')
    # waiting modules are checked when their provider arrives: the newcomer is refused
    w.add("waiter", '(module (import "later" "g" (func)) (func (export "f") (result i32) i32.const 1))')
    with pytest.raises(LinkError, match=r"module 'waiter' imports later\.g.*no export 'g'"):
        w.add("later", '(module (func (export "h")))')
    assert "later" not in w
    w.add("later", '(module (func (export "g")))')
    assert w.invoke("waiter", "f") == 1
    w.invoke("ledger", "credit", 1, 9)
    assert w.invoke("ledger", "balance", 1) == 9


def test_trap_in_start_function_drops_the_module_only():
    w = World()
    w.add("ok", '(module (func (export "f") (result i32) i32.const 1))')
    with pytest.raises(ExecutionError, match=r"module 'boom'.*unreachable"):
        w.add("boom", "(module (func $s unreachable) (start $s))")
    assert "boom" not in w and w.invoke("ok", "f") == 1
    with pytest.raises(ExecutionError, match="trapped: .*divide by zero"):
        w.add("div", '(module (func (export "d") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0))))')
        w.invoke("div", "d", 0)
    assert w.invoke("div", "d", 1) == 1


def test_remove_pending_module():
    w = World()
    w.add("waiter", '(module (import "x" "y" (func)))')
    w.remove("waiter")
    assert "waiter" not in w
    # issue 15: an instantiated module can go when nothing imports it; a provider cannot
    w.add("lib", '(module (func (export "f") (result i32) i32.const 7))')
    w.add("user", '(module (import "lib" "f" (func (result i32))) (func (export "g") (result i32) call 0))')
    with pytest.raises(LinkError, match="module 'lib' cannot be removed: 'user' imports from it"):
        w.remove("lib")
    w.remove("user")
    w.remove("lib")
    assert w.modules == []
    w.add("lib", '(module (func (export "f") (result i32) i32.const 8))')  # the name is free again
    assert w.invoke("lib", "f") == 8


def test_stubs_trap_or_return_zero():
    w = World()
    w.stub("env", "now", action="zero")
    w.stub("debug")
    w.add("m", """(module
      (import "env" "now" (func $now (result i64)))
      (import "debug" "print" (func $print (param i32)))
      (import "debug" "level" (global i32))
      (func (export "t") (result i64) call $now)
      (func (export "p") (call $print (i32.const 1))))""")
    assert w.invoke("m", "t") == 0
    with pytest.raises(ExecutionError, match=r"stubbed import debug\.print"):
        w.invoke("m", "p")
    w2 = World(stub_missing=True)
    w2.add("m", '(module (import "who" "knows" (func $k)) (func (export "go") call $k))')
    with pytest.raises(ExecutionError, match=r"who\.knows"):
        w2.invoke("m", "go")


def test_fuel_limits_and_can_be_refilled():
    w = World(fuel=100_000)
    w.add("spin", """(module (func (export "spin") (param $n i32) (result i32)
      (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))
      (local.get $n)))""")
    assert w.invoke("spin", "spin", 100) == 0
    left = w.fuel
    assert 0 < left < 100_000
    with pytest.raises(ExecutionError, match="ran out of fuel"):
        w.invoke("spin", "spin", 10_000_000)
    w.set_fuel(10_000)
    assert w.invoke("spin", "spin", 10) == 0
    assert World().fuel is None
    with pytest.raises(ExecutionError):
        World().set_fuel(5)


def test_errors_are_wasm_errors():
    # everything the World raises for bad input is a WasmError
    w = World()
    for bad in (lambda: w.add("", "(module)"), lambda: w.get_fn("x", "y"), lambda: w.define_host("a", "b", 3, "->"),
                lambda: w.stub("a", action="explode"), lambda: w.add("p", 12345)):
        with pytest.raises(WasmError):
            bad()
