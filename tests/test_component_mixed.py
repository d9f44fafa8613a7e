"""Mixed Worlds (issue 11): core modules and components in one World, linked by interface name.

Fixtures (tests/fixtures/component/mixed): ``calc.wat`` (a component importing test:mixed/math),
``math_component.wat`` (a component exporting it), ``math_core.wat`` and ``user_core.wat`` (plain core
modules providing / importing it). The reference is wasmtime-py's component API on the static
composition of the same code as components: the core modules' exports renamed to the interface's
(``pkg:ns/iface@v#f``) and made components with ``wasm-tools component embed/new``, so that wasmtime's
own canonical ABI does the conversions the World does in between (u8 keeps the low bits, bool is
nonzero, an invalid char traps).
"""

from __future__ import annotations

import re

import pytest
from component_build import COMPONENT_FIXTURES, build_component, compose_pair
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmweld import World
from wasmweld.errors import ExecutionError, LinkError, WasmError
from wasmweld.runtime.component_world import components_of

MIXED = COMPONENT_FIXTURES / "mixed"
MATH = "test:mixed/math@0.1.0"
CALC = "test:mixed/calc@0.1.0"
USER = "test:mixed/user-api@0.1.0"
CHARS = ["a", "z", "{", "é", "\u4e2d", "\U0001F600", "\U0010fffe", "\ud7ff"]


def _as_component_exports(wat: str, iface: str, keep: set[str]) -> str:
    """A core module's exports renamed ``iface#name`` (those in ``keep``; the others dropped)."""
    def rename(m: re.Match) -> str:
        return f'(export "{iface}#{m.group(1)}")' if m.group(1) in keep else ""
    return re.sub(r'\(export "([a-z0-9-]+)"\)', rename, wat)


@pytest.fixture(scope="module")
def built() -> dict[str, bytes]:
    math_core = (MIXED / "math_core.wat").read_text()
    user_core = (MIXED / "user_core.wat").read_text()
    math_fns = {"add", "scale", "is-big", "wrap", "upper", "tick"}
    user_fns = {"add", "scale", "is-big", "wrap", "upper", "tick3"}
    out = {
        "calc": build_component((MIXED / "calc.wat").read_text(), MIXED, "uses-math"),
        "math": build_component((MIXED / "math_component.wat").read_text(), MIXED, "provides-math"),
        # the references: the core modules as components
        "math_core_as_component": build_component(_as_component_exports(math_core, MATH, math_fns),
                                                  MIXED, "provides-math"),
        "user_as_component": build_component(_as_component_exports(user_core, USER, user_fns),
                                             MIXED, "user-as-component"),
        "math_core": math_core, "user_core": user_core,
    }
    out["calc+math_core"] = compose_pair(out["calc"], out["math_core_as_component"], MATH, CALC)
    out["user+math"] = compose_pair(out["user_as_component"], out["math"], MATH, USER)
    return out


class Direct:
    """wasmtime-py's component API on a static composition exporting ``iface``."""

    def __init__(self, data: bytes, iface: str):
        import wasmtime
        from wasmtime import component as wc

        from wasmweld.runtime.component import component_engine

        self.store = wasmtime.Store(component_engine())
        self.inst = wc.Linker(self.store.engine).instantiate(self.store, wc.Component(self.store.engine, data))
        self.iface = self.inst.get_export_index(self.store, iface)

    def __call__(self, name: str, *args):
        f = self.inst.get_func(self.store, self.inst.get_export_index(self.store, name, self.iface))
        try:
            out = f(self.store, *args)
        except Exception as e:                          # a trap: compared as such
            return ("trap", type(e).__name__ != "")
        f.post_return(self.store)
        return out


def _calc_world(built, *, core_first: bool = True) -> World:
    w = World()
    steps = [lambda: w.add(MATH, built["math_core"]), lambda: w.add("app", built["calc"])]
    for step in steps if core_first else steps[::-1]:
        step()
    return w


def _world_call(w: World, module: str, func: str, *args):
    try:
        return w.invoke(module, func, *args)
    except WasmError:
        return ("trap", True)


CALC_CASES = ([("poly", x) for x in (0, 5, -3, 46340, -2**31, 2**31 - 1)]
              + [("scaled", x, k) for x, k in ((3.0, 0), (-7.5, 4), (1e300, 255), (0.1, 17))]
              + [("big", x) for x in (0, 1 << 39, 1 << 40, (1 << 64) - 1, 1 << 63)]
              + [("wrapped", x) for x in (0, 85, 86, 0xFFFFFFFF, 1 << 31)]
              + [("upper", c) for c in CHARS])


def test_component_imports_interface_from_core_module(built):
    """calc's import of test:mixed/math comes from the core module named after it; same answers as
    wasmtime-py on the composition with that core module made a component."""
    direct = Direct(built["calc+math_core"], CALC)
    for core_first in (True, False):
        w = _calc_world(built, core_first=core_first)
        # the core module is the World's own instance: its state is what calc's calls changed
        w.invoke("app", f"{CALC}#ticks", 5)
        assert w.invoke(MATH, "get-ticks") == 5
        assert w.invoke(MATH, "add", 10, 3) == 7 and set(w.modules) == {MATH}
        got = [_world_call(w, "app", f"{CALC}#{c[0]}", *c[1:]) for c in CALC_CASES]
        want = [direct(c[0], *c[1:]) for c in CALC_CASES]
        assert got == want
        assert got[-1] == ("trap", True) and got.count(("trap", True)) == 1  # U+D7FF + 1: a surrogate, no char
        direct = Direct(built["calc+math_core"], CALC)      # a trapped instance cannot be entered again


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=st.integers(-2**31, 2**31 - 1), u=st.integers(0, 2**32 - 1), big=st.integers(0, 2**64 - 1),
       f=st.floats(allow_nan=False), k=st.integers(0, 255))
def test_mixed_world_property(built, x, u, big, f, k):
    w = _calc_world(built)
    direct = Direct(built["calc+math_core"], CALC)
    for case in (("poly", x), ("wrapped", u), ("big", big), ("scaled", f, k)):
        assert _world_call(w, "app", f"{CALC}#{case[0]}", *case[1:]) == direct(*case)


USER_CASES = ([("add", a, b) for a, b in ((2, 3), (-5, 7), (2**31 - 1, 1))]
              + [("scale", x, k) for x, k in ((2.0, 3), (1.5, 256 + 4), (-1.0, -1))]
              + [("is-big", x) for x in (0, 2**32 - 1, 2**32, -1)]
              + [("wrap", x) for x in (0, 252, 253, 300, -1)]
              + [("upper", ord(c)) for c in "az{é"] + [("upper", 0xD800)])


def test_core_module_imports_interface_from_component(built):
    """user_core's imports (module "test:mixed/math@0.1.0") come from the math component, in either
    order of add(); same answers as the composition with user_core made a component."""
    direct = Direct(built["user+math"], USER)
    for component_first in (True, False):
        w = World()
        steps = [lambda w=w: w.add("lib", built["math"]), lambda w=w: w.add("user", built["user_core"])]
        for step in steps if component_first else steps[::-1]:
            step()
        assert w.invoke("user", "tick3") is None and direct("tick3") is None
        # both kinds invoked by name in one World
        assert w.invoke("lib", f"{MATH}#add", 4, 2) == 4002
        got = [_world_call(w, "user", c[0], *c[1:]) for c in USER_CASES]
        assert got == [direct(*c) for c in USER_CASES]
        assert got[-1] == ("trap", True) and got.count(("trap", True)) == 1     # no such char: trap
        direct = Direct(built["user+math"], USER)


def test_mixed_world_errors(built):
    # a core module without one of the interface's functions
    w = World()
    w.add(MATH, '(module (func (export "add") (param i32 i32) (result i32) (local.get 0)))')
    w.add("app", built["calc"])
    with pytest.raises(LinkError, match="has no such export"):
        w.invoke("app", f"{CALC}#poly", 1)
    # a function of the wrong core type
    wrong = re.sub(r'\(func \(export "add"\) \(param i32 i32\)', '(func (export "add") (param i64 i32)',
                   built["math_core"]).replace("(i32.sub (local.get 0) (local.get 1))",
                                               "(i32.sub (i32.wrap_i64 (local.get 0)) (local.get 1))")
    w = World()
    w.add(MATH, wrong)
    w.add("app", built["calc"])
    with pytest.raises(LinkError, match=r"flattens to \(i32 i32\) -> \(i32\)"):
        w.invoke("app", f"{CALC}#poly", 1)
    # an interface passing strings cannot come from a core module
    values = COMPONENT_FIXTURES / "values"
    consumer = build_component((values / "consumer.wat").read_text(), values, "consumer-world")
    w = World()
    w.add("test:values/provider@0.1.0", "(module)")
    w.add("app", consumer)
    with pytest.raises(LinkError, match="scalar types"):
        w.invoke("app", "test:values/consumer@0.1.0#echo-u32", 1)
    # no provider at all: the component's import is named
    w = World()
    w.add("app", built["calc"])
    with pytest.raises(LinkError, match="test:mixed/math@0.1.0"):
        w.invoke("app", f"{CALC}#poly", 1)
    # a core module importing a function the component does not export stays waiting
    w = World()
    w.add("lib", built["math"])
    w.add("user", '(module (import "test:mixed/math@0.1.0" "nope" (func)) (func (export "f")))')
    with pytest.raises(LinkError, match="nope"):
        w.invoke("user", "f")
    # a waiting core module importing the component's function with another type
    w = World()
    w.add("user", '(module (import "test:mixed/math@0.1.0" "add" (func (param i64) (result i32))))')
    with pytest.raises(LinkError, match="component 'lib' not added: .*add"):
        w.add("lib", built["math"])
    assert w.pending.keys() == {"user"} and "lib" not in components_of(w).components
    # the core module may be named without the interface's version
    w = World()
    w.add("test:mixed/math", built["math_core"])
    w.add("app", built["calc"])
    assert w.invoke("app", f"{CALC}#poly", 5) == 25 + (5 - 7)
    # component and core module names share the World
    with pytest.raises(LinkError, match="a module named 'test:mixed/math' is already"):
        w.add("test:mixed/math", built["math"])
    with pytest.raises(LinkError, match="a component named 'app' is already"):
        w.add("app", "(module)")
    with pytest.raises(ExecutionError):
        _calc_world(built).invoke("app", f"{CALC}#upper", "\ud7ff")
