"""The item leaf module (wasmweld.items): ConstExpr predicates, re-exports, no cycle."""

from __future__ import annotations

import pytest

from wasmweld.binary.instr import Instr
from wasmweld.items import ConstExpr

I = Instr.make  # noqa: E741


def test_items_reexported_from_module():
    import wasmweld.items as items
    import wasmweld.module as module
    for name in ("Import", "Export", "Global", "Table", "Elem", "Data", "Tag", "FuncBody", "ConstExpr",
                 "CustomSection"):
        assert getattr(module, name) is getattr(items, name)


@pytest.mark.parametrize("ce, single, value, is_const", [
    (ConstExpr.i32(-1), ("i32.const", -1), -1, True),
    (ConstExpr.i32(0xFFFFFFFF), ("i32.const", -1), -1, True),
    (ConstExpr.i64(1 << 40), ("i64.const", 1 << 40), 1 << 40, True),
    (ConstExpr.f32(1.5), ("f32.const", 1.5), 1.5, True),
    (ConstExpr.f64(-2.25), ("f64.const", -2.25), -2.25, True),
    (ConstExpr.global_get(7), ("global.get", 7), None, False),
    (ConstExpr.ref_func(300), ("ref.func", 300), None, True),
    (ConstExpr.ref_null("extern"), ("ref.null", "extern"), None, True),
    (ConstExpr.from_instrs([I("v128.const", bytes(range(16)))]), ("v128.const", bytes(range(16))),
     bytes(range(16)), True),
    (ConstExpr.from_instrs([I("global.get", 0), I("i32.const", 4), I("i32.add")]), None, None, False),
])
def test_const_expr_predicates(ce, single, value, is_const):
    assert ce.single == single
    assert ce.op == (single[0] if single else None)
    assert ce.value == value
    assert ce.is_constant is is_const
    assert ce.global_index == (single[1] if single and single[0] == "global.get" else None)
    assert ce.func_index == (single[1] if single and single[0] == "ref.func" else None)
    if single and single[0] in ("i32.const", "i64.const"):
        assert ce.int_value == single[1]
    else:
        assert ce.int_value is None
    # the predicates agree with the decoded instructions
    instrs = ce.instrs
    assert (len(instrs) == 2) == (single is not None)


def test_const_expr_overlong_and_garbage():
    # an over-long i32.const (5-byte LEB128 of 1) is still one constant
    ce = ConstExpr(bytes([0x41, 0x81, 0x80, 0x80, 0x80, 0x00, 0x0B]))
    assert ce.value == 1 and ce.is_constant
    # trailing bytes after the constant: not a single instruction
    assert ConstExpr(bytes([0x41, 0x01, 0x01, 0x0B])).single is None
    assert ConstExpr(b"").single is None and not ConstExpr(b"").is_constant
    assert ConstExpr(b"\xff\x0b").single is None


def test_const_expr_evaluate():
    g = {0: 1024, 1: None}.get
    assert ConstExpr.i32(-1).evaluate() == 0xFFFFFFFF
    assert ConstExpr.i64(-1).evaluate() == 0xFFFFFFFFFFFFFFFF
    assert ConstExpr.global_get(0).evaluate(g) == 1024
    assert ConstExpr.global_get(1).evaluate(g) is None
    assert ConstExpr.global_get(0).evaluate() is None
    add = ConstExpr.from_instrs([I("global.get", 0), I("i32.const", 16), I("i32.add")])
    assert add.evaluate(g) == 1040
    wrap = ConstExpr.from_instrs([I("i32.const", 0x7FFFFFFF), I("i32.const", 2), I("i32.mul")])
    assert wrap.evaluate() == 0xFFFFFFFE
    sub64 = ConstExpr.from_instrs([I("i64.const", 0), I("i64.const", 1), I("i64.sub")])
    assert sub64.evaluate() == 0xFFFFFFFFFFFFFFFF
    assert ConstExpr.f32(1.0).evaluate() is None
    assert ConstExpr.ref_func(1).evaluate() is None
    assert ConstExpr(b"\xff\x0b").evaluate() is None          # undecodable: unknown, no exception
