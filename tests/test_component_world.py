"""Components in a World: a provider and a consumer exchanging every WIT value family, resources,
host interfaces, WASI 0.2; compared with wasmtime-py's component API on the static composition."""

from __future__ import annotations

import math

import pytest
from component_build import COMPONENT_FIXTURES, build_component, compose_pair
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmweld.errors import ExecutionError, LinkError
from wasmweld.runtime.component_world import ComponentWorld
from wasmweld.runtime.wasi import WasiOptions

VALUES = COMPONENT_FIXTURES / "values"
HELLO = COMPONENT_FIXTURES / "hello"
C = "test:values/consumer@0.1.0#"
P = "test:values/provider@0.1.0#"


@pytest.fixture(scope="module")
def built() -> dict[str, bytes]:
    out = {w: build_component((VALUES / f"{w.split('-')[0]}.wat").read_text(), VALUES, w)
           for w in ("provider-world", "consumer-world", "logger-world")}
    out["hello"] = build_component((HELLO / "hello.wat").read_text(), HELLO, "hello")
    out["composed"] = _compose(out["consumer-world"], out["provider-world"])
    return out


def _compose(consumer: bytes, provider: bytes) -> bytes:
    """The static composition (what wac / ``wasm-tools compose`` write), built with wasmweld's encoder:
    both components nested, the provider instantiated, the consumer instantiated with it, both exported."""
    return compose_pair(consumer, provider, "test:values/provider@0.1.0", "test:values/consumer@0.1.0",
                        export_provided=True)


class Direct:
    """The reference: wasmtime-py's component API used directly on the static composition."""

    def __init__(self, data: bytes):
        import wasmtime
        from wasmtime import component as wc

        from wasmweld.runtime.component import component_engine

        self.store = wasmtime.Store(component_engine())
        linker = wc.Linker(self.store.engine)
        self.inst = linker.instantiate(self.store, wc.Component(self.store.engine, data))

    def __call__(self, func: str, *args):
        iface, _, name = func.rpartition("#")
        idx = self.inst.get_export_index(self.store, name, self.inst.get_export_index(self.store, iface))
        f = self.inst.get_func(self.store, idx)
        out = f(self.store, *args)
        f.post_return(self.store)
        return out


@pytest.fixture(scope="module")
def world(built):
    w = ComponentWorld()
    w.add("app", built["consumer-world"])      # the consumer first: linking waits for the provider
    w.add("lib", built["provider-world"])
    return w


@pytest.fixture(scope="module")
def direct(built):
    return Direct(built["composed"])


def _rec(**kw):
    from wasmtime.component import Record

    r = Record()
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def _norm(v):
    """Comparable form of a component value (Records as dicts, NaN as a marker)."""
    from wasmtime.component import Record, Variant

    if isinstance(v, Record):
        return {"__record__": {k: _norm(x) for k, x in vars(v).items()}}
    if isinstance(v, Variant):
        return ("__variant__", v.tag, _norm(v.payload))
    if isinstance(v, (list, tuple)):
        return type(v)(_norm(x) for x in v)
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    return v


FIXED = [
    ("echo-u32", 0), ("echo-u32", 0xFFFFFFFF), ("echo-s64", -(1 << 63)), ("echo-f64", -0.0), ("echo-f64", math.inf),
    ("echo-char", "\U0001F600"), ("echo-bool", False),
    ("echo-string", ""), ("echo-string", "naïve ✓ 日本語 \U0001F600"), ("echo-bytes", b"\x00\xff" * 300),
    ("echo-points", []), ("echo-points", [_rec(x=-1, y=2 ** 31 - 1, label="é"), _rec(x=0, y=0, label="")]),
    ("echo-shapes", [1.25, _rec(x=1, y=2, label="r"), None]),
    ("echo-colors", ["red", "green", "blue"]),
    ("echo-perms", [set(), {"read"}, {"read", "write", "exec"}]),
    ("echo-options", [None, "", "x"]),
    ("echo-results", [0, "err ✓", 4294967295]),
    ("echo-tuples", [(255, -1, True), (0, 1 << 62, False)]),
]


@pytest.mark.parametrize("func,value", FIXED, ids=[f"{f}-{i}" for i, (f, _) in enumerate(FIXED)])
def test_every_family_fixed(world, direct, func, value):
    got = world.invoke("app", C + func, value)
    assert _norm(got) == _norm(direct(C + func, value))
    expect = list(value) if func == "echo-bytes" else value
    assert _norm(got if func != "echo-bytes" else list(got)) == _norm(expect)


def test_records_as_dicts(world):
    got = world.invoke("app", C + "echo-points", [{"x": 3, "y": 4, "label": "dict"}])
    assert [vars(p) for p in got] == [{"x": 3, "y": 4, "label": "dict"}]


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_point = st.builds(lambda x, y, s: _rec(x=x, y=y, label=s), st.integers(-2 ** 31, 2 ** 31 - 1),
                   st.integers(-2 ** 31, 2 ** 31 - 1), _text)
_CASES = {
    "echo-string": _text,
    "echo-points": st.lists(_point, max_size=8),
    "echo-shapes": st.lists(st.one_of(st.floats(allow_nan=False), _point, st.none()), max_size=8),
    "echo-perms": st.lists(st.sets(st.sampled_from(["read", "write", "exec"])), max_size=8),
    "echo-options": st.lists(st.one_of(st.none(), _text), max_size=8),
    "echo-results": st.lists(st.one_of(st.integers(0, 2 ** 32 - 1), _text), max_size=8),
    "echo-tuples": st.lists(st.tuples(st.integers(0, 255), st.integers(-2 ** 63, 2 ** 63 - 1), st.booleans()),
                            max_size=8),
    "echo-char": st.characters(blacklist_categories=("Cs",)),
}


@pytest.mark.parametrize("func", sorted(_CASES))
def test_every_family_generated(world, direct, func):
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(_CASES[func])
    def check(value):
        got = world.invoke("app", C + func, value)
        assert _norm(got) == _norm(direct(C + func, value)) == _norm(value)

    check()


def test_resources_own_borrow_destructor(world, direct):
    before = world.invoke("lib", P + "drops")
    assert world.invoke("app", C + "counter-roundtrip", 10, 5) == 20 == direct(C + "counter-roundtrip", 10, 5)
    assert world.invoke("lib", P + "drops") == before + 1          # the provider's destructor ran once
    assert world.invoke("app", C + "drops") == before + 1
    # a provider resource held by Python: own, borrow (method calls), drop
    c = world.invoke("lib", P + "[constructor]counter", 3)
    assert world.invoke("lib", P + "[method]counter.incr", c, 4) == 7
    assert world.invoke("lib", P + "[method]counter.get", c) == 7
    c.drop(world.store)
    assert world.invoke("lib", P + "drops") == before + 2


def test_host_interface_from_python(built):
    w = ComponentWorld()
    seen = []
    w.add("log", built["logger-world"])
    w.define_interface("test:values/host@0.1.0", {"log": lambda s: seen.append(s) or len(s.encode())})
    assert w.invoke("log", "test:values/logged@0.1.0#echo-string", "héllo") == "héllo"
    assert seen == ["héllo"] and w.invoke("log", "test:values/logged@0.1.0#last") == 6


def test_link_errors(built):
    w = ComponentWorld()
    w.add("app", built["consumer-world"])
    with pytest.raises(LinkError, match="test:values/provider@0.1.0"):
        w.invoke("app", C + "echo-u32", 1)
    with pytest.raises(LinkError, match="already"):
        w.add("app", built["provider-world"])
    w.add("lib", built["provider-world"])
    w.add("lib2", built["provider-world"])
    with pytest.raises(LinkError, match="more than one component"):
        w.invoke("app", C + "echo-u32", 1)
    w2 = ComponentWorld()
    w2.add("lib", built["provider-world"])
    with pytest.raises(LinkError, match="does not export"):
        w2.invoke("lib", "nope#f")
    with pytest.raises(ExecutionError, match="argument"):
        w2.invoke("lib", P + "echo-u32", "not a number")
    w3 = ComponentWorld()                                         # WASI not granted
    w3.add("hello", built["hello"])
    with pytest.raises(LinkError, match="WASI is not granted"):
        w3.invoke("hello", "wasi:cli/run@0.2.0#run")


def test_wasi_stdout_captured(built):
    out = bytearray()
    w = ComponentWorld(wasi=WasiOptions(stdout=out.extend))
    w.add("hello", built["hello"])
    result = w.invoke("hello", "wasi:cli/run@0.2.0#run")
    assert result.tag == "ok"
    assert out.decode() == "hello from a component \u2713\n"


def test_mixed_world_core_modules_and_components(built):
    import wasmweld
    from wasmweld.runtime.engine import wat2wasm

    w = wasmweld.World()
    w.add("core", wat2wasm('(module (func (export "add") (param i32 i32) (result i32) '
                           'local.get 0 local.get 1 i32.add))'))
    w.add("app", built["consumer-world"])
    w.add("lib", built["provider-world"])
    assert w.invoke("core", "add", 2, 3) == 5
    assert w.invoke("app", C + "echo-string", "mixed ✓") == "mixed ✓"
    assert w.invoke("app", C + "counter-roundtrip", 1, 2) == 5


def _cli(*args: str):
    import contextlib
    import io

    from wasmweld.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


def test_cli_run_and_wave_invoke(built, tmp_path):
    import subprocess
    import sys

    hello = tmp_path / "hello.wasm"
    hello.write_bytes(built["hello"])
    p = subprocess.run([sys.executable, "-m", "wasmweld", "run", str(hello)], capture_output=True, check=False)
    assert p.returncode == 0 and p.stdout.decode() == "hello from a component \u2713\n", p.stderr
    p = subprocess.run([sys.executable, "-m", "wasmweld", "run", "--no-wasi", str(hello)], capture_output=True,
                       check=False)
    assert p.returncode == 1 and b"WASI is not granted" in p.stderr and p.stderr.count(b"\n") == 1
    prov = tmp_path / "p.wasm"
    prov.write_bytes(built["provider-world"])
    cases = {
        'echo-string("h\\u{e9}llo\\n")': '"héllo\\n"',
        'echo-points([{x: 1, y: -2, label: "a"}])': '[{x: 1, y: -2, label: "a"}]',
        'echo-shapes([circle(1.5), rect({x: 1, y: 2, label: "r"}), nothing])':
            '[circle(1.5), rect({x: 1, y: 2, label: "r"}), nothing]',
        'echo-results([ok(3), err("x")])': '[ok(3), err("x")]',
        'echo-perms([{read, exec}, {}])': "[{read, exec}, {}]",
        'echo-options([some("a"), none])': '[some("a"), none]',
        "echo-tuples([(1, -5, true)])": "[(1, -5, true)]",
        "echo-char('\U0001F600')": "'\U0001F600'",
        "echo-f64(-inf)": "-inf",
        "echo-colors([red, blue])": "[red, blue]",
    }
    for call, expect in cases.items():
        rc, out, err = _cli("run", str(prov), "--invoke", P + call)
        assert rc == 0 and out == expect + "\n", (call, out, err)
    for bad, msg in (('echo-u32("x")', "expected an integer"), ("echo-u32(1, 2)", "argument"),
                     ("echo-colors([purple])", "unknown enum case"), ("nope(1)", "does not export")):
        rc, out, err = _cli("run", str(prov), "--invoke", P + bad)
        assert rc == 1 and msg in err and err.startswith("error:") and err.count("\n") == 1, (bad, err)
