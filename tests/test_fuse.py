"""wasmweld fuse: compositions of components become one core module with adapters in Wasm.

The compositions (tests/fuse_fixtures.py) are a provider/consumer pair and a three-component chain
whose functions echo one value of every supported family. Each is fused (``--emit core``), the core
module is checked (validates, one memory per component with a memory, no component left), made a
component again by the reference tool (wit-component) and run under wasmtime's component runtime
next to the composition: same results for fixed and hypothesis-generated values, same traps for
invalid values.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("wasmtime")
import wasmtime  # noqa: E402
import wasmtime.component as C  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fuse_fixtures as F  # noqa: E402
import wasmweld  # noqa: E402
from wasmweld.fuse import FuseError, fuse, fuse_plan  # noqa: E402
from wasmweld.fuse.pipeline import describe  # noqa: E402

_cfg = wasmtime.Config()
_cfg.wasm_multi_memory = True
ENGINE = wasmtime.Engine(_cfg)


class Runner:
    """One instance of a component; ``call(name, value)`` -> result or ("trap", ...)."""

    def __init__(self, data: bytes, iface: str = "test:fuse/fwd"):
        self.store = wasmtime.Store(ENGINE)
        self.inst = C.Linker(ENGINE).instantiate(self.store, C.Component(ENGINE, data))
        self.idx = self.inst.get_export_index(self.store, iface)
        self.funcs: dict = {}

    def call(self, name: str, *args):
        f = self.funcs.get(name)
        if f is None:
            f = self.funcs[name] = self.inst.get_func(self.store, self.inst.get_export_index(self.store, name, self.idx))
        try:
            r = f(self.store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            if "wasm trap" not in str(e) and "wasm backtrace" not in str(e):
                raise
            return ("trap",)
        f.post_return(self.store)
        return r


def point(tag, x, y, name):
    r = C.Record()
    r.tag, r.x, r.y, r.name = tag, x, y, name
    return r


def _key(v):
    """Values as comparable plain data (records are compared field by field)."""
    if isinstance(v, C.Record):
        return ("record", tuple(sorted((k, _key(x)) for k, x in vars(v).items())))
    if isinstance(v, C.Variant):
        return ("variant", v.tag, _key(v.payload))
    if isinstance(v, (list, tuple)):
        return tuple(_key(x) for x in v)
    if isinstance(v, set):
        return frozenset(v)
    if isinstance(v, float) and v != v:
        return "nan"
    return v


FIXED = {
    "echo-u8": [0, 200, 255], "echo-s8": [-128, -5, 127], "echo-u16": [0, 65535], "echo-s16": [-32768, 300],
    "echo-u32": [0, 4_000_000_000], "echo-s32": [-2**31, 7], "echo-u64": [0, 2**64 - 1], "echo-s64": [-2**63, 2**40],
    "echo-f32": [1.5, -0.0, float("inf")], "echo-f64": [-2.25, 1e300], "echo-bool": [True, False],
    "echo-char": ["a", "é", "\U0010FFFF", "\uFFFD"], "echo-string": ["", "héllo wörld", "x" * 5000, "𝄞💡"],
    "echo-bytes": [b"", b"abc", bytes(range(256))], "echo-list-u32": [[], [1, 2, 3], list(range(1000))],
    "echo-list-string": [[], ["a", "", "bc"]], "echo-point": [point(3, -9, 2.5, "pt")],
    "echo-points": [[], [point(i, i * 3, i / 2, "n" * i) for i in range(20)]],
    "echo-shape": [None, 1.25, point(1, 2, 3.0, "r"), "label", 2**60],
    "echo-shapes": [[None, 1.25, "xy", 2**60, point(1, 2, 3.0, "q")]], "echo-color": ["red", "green", "blue"],
    "echo-perms": [set(), {"a0", "a11", "a5"}, {f"a{i}" for i in range(12)}], "echo-small": [set(), {"w"}, {"r", "x"}],
    "echo-opt": [None, "some", ""], "echo-res": [5, "bad"], "echo-tuple": [(7, "t", 2**50)],
    "echo-nested": [C.Variant("none"), C.Variant("some", [None, 3, 65535]), C.Variant("some", 2.0),
                    C.Variant("some", point(1, 2, 3.0, "z")), C.Variant("some", [])],
}


@pytest.fixture(scope="module")
def built():
    out = {}
    for name, make, world in (("pair", F.pair, "consumer"), ("chain", F.chain, "consumer2")):
        comp = make()
        core = fuse(comp)
        out[name] = (comp, core, fuse(comp, emit="component").encode())
        assert F.wrap_core(core.encode(), world)        # wit-component accepts the core output too
    return out


@pytest.mark.parametrize("which", ["pair", "chain"])
def test_component_output_has_one_core_module_and_the_same_world(built, which, tmp_path):
    comp, _, fused = built[which]
    (tmp_path / "a.wasm").write_bytes(comp)
    (tmp_path / "b.wasm").write_bytes(fused)
    F.wasm_tools("validate", "-", input=fused)
    c = wasmweld.component.parse_component(fused)
    assert len(c.modules) == 1 and not c.components
    wit = F.wasm_tools("component", "wit", str(tmp_path / "b.wasm"))
    assert wit == F.wasm_tools("component", "wit", str(tmp_path / "a.wasm")) and b"interface fwd" in wit


@pytest.mark.parametrize("which", ["pair", "chain"])
def test_fused_core_module_shape(built, which):
    comp, core, _ = built[which]
    data = core.encode()
    wasmtime.Module(ENGINE, data)                       # validates (multi-memory)
    F.wasm_tools("validate", "-", input=data)
    assert not wasmweld.component.is_component(data)
    p = fuse_plan(comp)
    comps_with_memory = {i.component for i in p.instances if i.module.memories}
    assert core.num_memories == len(comps_with_memory) == (2 if which == "pair" else 3)
    assert core.imports == []
    names = {e.name for e in core.exports}
    assert "test:fuse/fwd#echo-string" in names and "memory" in names and "cabi_realloc" in names
    n_funcs = len(F.FUNCS) + len(F.BAD)
    assert len(p.adapters) == n_funcs * (1 if which == "pair" else 2)
    text = describe(p)
    assert f"adapters: {len(p.adapters)}" in text and "test:fuse/api#echo-string" in text


@pytest.mark.parametrize("which", ["pair", "chain"])
def test_fixed_values_same_as_composition(built, which):
    comp, _, fused = built[which]
    a, b = Runner(comp), Runner(fused)
    for name, values in FIXED.items():
        for v in values:
            ra, rb = a.call(name, v), b.call(name, v)
            assert _key(ra) == _key(v) or (name == "echo-f32" and ra == v), (name, v, ra)   # fixture echoes
            assert _key(rb) == _key(ra), (name, v, ra, rb)


ENCODED = ["utf16", "compact-utf16"]


@pytest.fixture(scope="module")
def encoded():
    """Pairs whose provider keeps strings in UTF-16 / latin1+utf16 (the adapters transcode)."""
    out = {}
    for enc in ENCODED:
        comp = F.pair(enc)
        out[enc] = (comp, fuse(comp, emit="component").encode())
    return out


@pytest.mark.parametrize("which", ["pair", "chain", *ENCODED])
def test_invalid_values_trap_like_composition(built, encoded, which):
    comp, fused = (built[which][0], built[which][2]) if which in built else encoded[which]
    traps = set()
    for bad in F.BAD:
        ra, rb = Runner(comp).call(bad), Runner(fused).call(bad)
        assert _key(ra) == _key(rb), (bad, ra, rb)
        if ra == ("trap",):
            traps.add(bad)
    expect = set(F.BAD) - {"bad-utf16"}
    if which in ENCODED:        # the bytes c3 28 are one UTF-16 unit, or two latin1 characters
        expect = expect - {"bad-string"}
    if which == "utf16":        # a lone surrogate (as latin1+utf16, length 1 untagged is one latin1 byte)
        expect = expect | {"bad-utf16"}
    assert traps == expect


@pytest.mark.parametrize("enc", ENCODED)
def test_transcoding_fixed_values(encoded, enc):
    comp, fused = encoded[enc]
    assert {(a.caller.encoding, a.callee.options.encoding) for a in fuse_plan(comp).adapters} >= {
        ("utf8", "utf16" if enc == "utf16" else "latin1+utf16")}
    a, b = Runner(comp), Runner(fused)
    for name in ("echo-string", "echo-list-string", "echo-points", "echo-shapes", "echo-opt", "echo-res",
                 "echo-tuple", "echo-char"):
        for v in FIXED[name]:
            ra, rb = a.call(name, v), b.call(name, v)
            assert _key(ra) == _key(v) and _key(rb) == _key(ra), (name, v, ra, rb)
    for s in ["", "abc", "é" * 300, "ÿ\u0100", "𝄞💡a", "\u00ff" * 7 + "x", "日本語テキスト" * 50]:
        assert b.call("echo-string", s) == s == a.call("echo-string", s)


# -- property tests: >= 500 generated values per pass-through function --------------------------------

_u = lambda bits: st.integers(0, 2**bits - 1)  # noqa: E731
_s = lambda bits: st.integers(-2**(bits - 1), 2**(bits - 1) - 1)  # noqa: E731
_text = st.text(max_size=80)
_points = st.builds(point, _u(8), _s(32), st.floats(allow_nan=False), _text)
_shapes = st.one_of(st.none(), st.floats(width=32, allow_nan=False), _points, _text, _u(64))
STRATEGIES = {
    "echo-u8": _u(8), "echo-s8": _s(8), "echo-u16": _u(16), "echo-s16": _s(16), "echo-u32": _u(32),
    "echo-s32": _s(32), "echo-u64": _u(64), "echo-s64": _s(64), "echo-f32": st.floats(width=32, allow_nan=False),
    "echo-f64": st.floats(allow_nan=False), "echo-bool": st.booleans(), "echo-char": st.characters(),
    "echo-string": st.one_of(_text, st.text(min_size=1000, max_size=1200)), "echo-bytes": st.binary(max_size=2000),
    "echo-list-u32": st.lists(_u(32), max_size=300), "echo-list-string": st.lists(_text, max_size=12),
    "echo-point": _points, "echo-points": st.lists(_points, max_size=12), "echo-shape": _shapes,
    "echo-shapes": st.lists(_shapes, max_size=12), "echo-color": st.sampled_from(["red", "green", "blue"]),
    "echo-perms": st.sets(st.sampled_from([f"a{i}" for i in range(12)])),
    "echo-small": st.sets(st.sampled_from(["r", "w", "x"])), "echo-opt": st.one_of(st.none(), _text),
    "echo-res": st.one_of(_u(32), _text), "echo-tuple": st.tuples(_u(8), _text, _u(64)),
    "echo-nested": st.one_of(st.just(C.Variant("none")),
                             st.builds(lambda x: C.Variant("some", x),
                                       st.one_of(st.lists(st.one_of(st.none(), _u(16)), max_size=20), _shapes))),
}
EXAMPLES = 500


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_generated_values_pair(built, name):
    comp, _, fused = built["pair"]
    a, b = Runner(comp), Runner(fused)
    seen = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(STRATEGIES[name])
    def check(v):
        ra, rb = a.call(name, v), b.call(name, v)
        assert _key(rb) == _key(ra), (v, ra, rb)
        seen.append(1)

    check()
    # hypothesis stops early once a small domain is exhausted (2 booleans, 3 colours, 8 sets of 3 flags)
    assert len(seen) >= {"echo-bool": 2, "echo-color": 3, "echo-small": 8, "echo-u8": 200, "echo-s8": 200}.get(
        name, EXAMPLES)


@pytest.mark.parametrize("which,name", [("chain", "echo-string"), ("chain", "echo-shapes"),
                                        ("chain", "echo-nested"), ("utf16", "echo-string"),
                                        ("compact-utf16", "echo-string"), ("compact-utf16", "echo-points")])
def test_generated_values_chain_and_encodings(built, encoded, which, name):
    comp, fused = (built[which][0], built[which][2]) if which in built else encoded[which]
    assert same_for_generated(comp, fused, name, EXAMPLES) >= EXAMPLES


def same_for_generated(comp: bytes, fused: bytes, name: str, examples: int) -> int:
    """Call ``name`` on both with ``examples`` generated values, asserting equal results; how many ran."""
    a, b = Runner(comp), Runner(fused)
    seen = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(STRATEGIES[name])
    def check(v):
        assert _key(b.call(name, v)) == _key(a.call(name, v))
        seen.append(1)

    check()
    return len(seen)


# -- errors ------------------------------------------------------------------------------------------


def test_not_a_component_and_cli_errors(tmp_path):
    core = wasmweld.parse(F.wasm_tools("parse", "-", input=b"(module)")).encode()
    with pytest.raises(FuseError, match="not a component"):
        fuse(core)
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x0d\0\x01\0\x07\x05")
    p = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", str(bad), "-o", str(tmp_path / "o.wasm")],
                       capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, p.stderr
    assert not (tmp_path / "o.wasm").exists()


def test_cli_plan_and_output(built, tmp_path):
    comp, core, _ = built["pair"]
    src = tmp_path / "pair.wasm"
    src.write_bytes(comp)
    p = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", str(src), "--plan"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert f"adapters: {len(F.FUNCS) + len(F.BAD)}" in p.stdout
    out = tmp_path / "out.wasm"
    p = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", str(src), "-o", str(out), "--emit", "core"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == core.encode()
    p = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", str(src), "-o", str(out), "--emit", "component"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == built["pair"][2]


def test_separate_components_wired_by_name(built):
    prov = F.build("provider", F.provider_wat())
    cons = F.build("consumer", F.forwarder_wat("test:fuse/api", "test:fuse/fwd"))
    core = fuse([("consumer", cons), ("provider", prov)][::-1])
    b = Runner(F.wrap_core(core.encode()))
    a = Runner(built["pair"][0])
    for name in ("echo-string", "echo-points", "echo-shape"):
        for v in FIXED[name]:
            assert _key(b.call(name, v)) == _key(a.call(name, v))
    # a plug to a name no input exports is refused; an import nothing satisfies stays a canonical-lowered import
    with pytest.raises(FuseError, match="--plug test:fuse/api=nope: no other input exports `nope`"):
        fuse([("provider", prov), ("consumer", cons)], plugs={"test:fuse/api": "nope"}, emit="core")
    core = fuse([("consumer", cons)], emit="core")
    assert {i.module for i in core.imports} == {"test:fuse/api"}
    assert {i.name for i in core.imports} == set(F.FUNCS) | set(F.BAD)
    F.wasm_tools("validate", "-", input=core.encode())


def test_damaged_compositions_give_wasm_errors(built):
    """Bytes of the composition changed at many places: fuse succeeds or raises a WasmError."""
    import random

    from wasmweld.errors import WasmError

    comp = built["pair"][0]
    rng = random.Random(12)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(100):
        data = bytearray(comp)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(8, len(data))] = rng.randrange(256)
        try:
            fuse(bytes(data))
            outcomes["ok"] += 1
        except WasmError:
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and sum(outcomes.values()) == 100


def test_core_output_driven_through_its_exports(built):
    """The fused core module on wasmtime's core runtime (multi-memory), driven by hand through the
    canonical ABI: arguments written with its cabi_realloc, results read at the returned pointer."""
    comp, core, _ = built["chain"]
    store = wasmtime.Store(ENGINE)
    inst = wasmtime.Instance(store, wasmtime.Module(ENGINE, core.encode()), [])
    ex = inst.exports(store)
    mem, realloc = ex["memory"], ex["cabi_realloc"]
    a = Runner(comp)
    assert ex["test:fuse/fwd#echo-u32"](store, 4_000_000_000 - 2**32) == -294967296
    assert ex["test:fuse/fwd#echo-char"](store, 0x1F4A1) == 0x1F4A1
    for s in ["", "héllo", "𝄞" * 100]:
        raw = s.encode()
        p = realloc(store, 0, 0, 1, len(raw))
        mem.write(store, raw, p)
        r = ex["test:fuse/fwd#echo-string"](store, p, len(raw))
        q = int.from_bytes(mem.read(store, r, r + 4), "little")
        n = int.from_bytes(mem.read(store, r + 4, r + 8), "little")
        assert bytes(mem.read(store, q, q + n)).decode() == s == a.call("echo-string", s)
        ex["cabi_post_test:fuse/fwd#echo-string"](store, r) if "cabi_post_test:fuse/fwd#echo-string" in ex else None
    p = realloc(store, 0, 0, 1, 2)
    mem.write(store, b"\xc3\x28", p)
    with pytest.raises(wasmtime.Trap):
        ex["test:fuse/fwd#echo-string"](store, p, 2)      # invalid UTF-8 crossing into the provider


def test_core_output_keeps_unsatisfied_imports_canonical_lowered(tmp_path):
    """The consumer alone: its api imports stay core imports with the canon-lower signature, and a
    host supplying them at the core level drives the fused module."""
    cons = F.build("consumer", F.forwarder_wat("test:fuse/api", "test:fuse/fwd"))
    core = fuse([("consumer", cons)], emit="core")
    imports = {(i.module, i.name): core.func_type(k) for k, i in enumerate(core.imports)}
    assert str(imports[("test:fuse/api", "echo-string")]) == "[i32 i32 i32] -> []"
    assert str(imports[("test:fuse/api", "echo-u32")]) == "[i32] -> [i32]"
    store = wasmtime.Store(ENGINE)
    linker = wasmtime.Linker(ENGINE)
    seen = []

    def echo_string(caller, p, n, ret):          # the host lowers "HOST:" + s into the consumer's memory
        mem = caller["memory"]
        s = bytes(mem.read(caller, p, p + n))
        seen.append(s)
        out = b"HOST:" + s
        q = caller["cabi_realloc"](caller, 0, 0, 1, len(out))
        mem.write(caller, out, q)
        mem.write(caller, q.to_bytes(4, "little") + len(out).to_bytes(4, "little"), ret)
    vt = {"i32": wasmtime.ValType.i32(), "i64": wasmtime.ValType.i64(), "f32": wasmtime.ValType.f32(),
          "f64": wasmtime.ValType.f64()}
    for (mod, name), ft in imports.items():
        wt = wasmtime.FuncType([vt[str(t)] for t in ft.params], [vt[str(t)] for t in ft.results])
        if name == "echo-string":
            linker.define_func(mod, name, wt, echo_string, access_caller=True)
        elif name == "echo-u32":
            linker.define_func(mod, name, wt, lambda x: x + 1)
        else:
            linker.define_func(mod, name, wt, lambda *a: 0 if len(a) == 1 else None)  # never called
    inst = linker.instantiate(store, wasmtime.Module(ENGINE, core.encode()))
    ex = inst.exports(store)
    assert ex["test:fuse/fwd#echo-u32"](store, 41) == 42
    mem = ex["memory"]
    p = ex["cabi_realloc"](store, 0, 0, 1, 3)
    mem.write(store, b"abc", p)
    r = ex["test:fuse/fwd#echo-string"](store, p, 3)
    q, n = (int.from_bytes(mem.read(store, r + k, r + k + 4), "little") for k in (0, 4))
    assert bytes(mem.read(store, q, q + n)) == b"HOST:abc" and seen == [b"abc"]
    # as a component (the default when imports remain): the same world as the consumer's
    out = fuse(cons)
    assert isinstance(out, wasmweld.component.Component) and not out.components
    # one module with all the code; the two glue modules (shim, fixup) define no memory and no code
    # of the input (lowerings with a memory option need the fused instance to exist first)
    fused, shim, fixup = out.modules
    assert fused.num_memories == 1 and shim.num_memories == fixup.num_memories == 0 and not fixup.code
    with_memory = [h for h in fuse_plan(cons).host if h.options.memory is not None]
    assert 0 < len(shim.code) == len(with_memory) < len(fused.imports) == len(F.FUNCS) + len(F.BAD)
    data = out.encode()
    F.wasm_tools("validate", "-", input=data)
    (tmp_path / "a.wasm").write_bytes(data)
    (tmp_path / "b.wasm").write_bytes(cons)
    wit = F.wasm_tools("component", "wit", str(tmp_path / "a.wasm"))
    assert wit == F.wasm_tools("component", "wit", str(tmp_path / "b.wasm")) and b"import test:fuse/api" in wit


# -- resources ----------------------------------------------------------------------------------------


class WorldRunner(Runner):
    """A component whose functions are exported at the world level."""

    def __init__(self, data: bytes):
        self.store = wasmtime.Store(ENGINE)
        self.inst = C.Linker(ENGINE).instantiate(self.store, C.Component(ENGINE, data))
        self.idx = None
        self.funcs = {}


@pytest.fixture(scope="module")
def resources():
    comp = F.resources_pair()
    return comp, fuse(comp), fuse(comp, emit="component").encode()


def test_resource_destructors_run_exactly_once(resources):
    comp, core, fused = resources
    p = fuse_plan(comp)
    assert len(p.resources) == 1 and p.resources[0].dtor is not None
    assert {b.op for b in p.builtins} == {"resource.new", "resource.rep", "resource.drop"}
    assert core.num_memories == 3                       # two components + the handle tables
    F.wasm_tools("validate", "-", input=core.encode())
    a, b = WorldRunner(comp), WorldRunner(fused)
    dropped = 0
    for n in (0, 1, 5, 40, 3):
        # n counters made, read through a borrow, dropped; one made by `make`, lent to `peek`,
        # then moved into the provider by `consume` (which keeps it: no destructor for it)
        expect = sum(range(n)) + 70 + 1070
        assert a.call("run", n) == b.call("run", n) == expect
        dropped += n
        assert a.call("dropped") == b.call("dropped") == dropped


@pytest.mark.parametrize("bad", ["double-drop", "use-after-drop"])
def test_resource_misuse_traps_like_composition(resources, bad):
    comp, _, fused = resources
    assert WorldRunner(comp).call(bad) == WorldRunner(fused).call(bad) == ("trap",)
    b = WorldRunner(fused)
    assert b.call("run", 2) == 1141 and b.call("dropped") == 2     # a fresh instance still works


def test_exponential_instantiation_is_bounded(tmp_path):
    """A component that instantiates its inner component twice, nested 20 deep (2**20 instances)."""
    wat = "(component (core module $m (memory (export \"memory\") 1)) (core instance (instantiate $m)))"
    for _ in range(20):
        wat = f"(component (component $c {wat[len('(component'):-1]}) (instance (instantiate $c)) (instance (instantiate $c)))"
    data = F.wasm_tools("parse", "-", input=wat.encode())
    with pytest.raises(FuseError, match="too many"):
        fuse(data)


def test_resources_through_a_middle_component():
    """Handles made by the provider travel through a middle component that is not their
    implementer (borrows become borrow handles in its table; own handles move through it); the
    numbers are those the composed pair gives under wasmtime (test above). A middle that keeps a
    borrow past the end of the call traps, as the canonical ABI requires."""
    core = fuse(F.resources_chain())
    assert core.num_memories == 3     # provider, consumer, handle tables (gc drops the unused middle one)
    b = WorldRunner(F.wrap_core(core.encode(), "rcons2", F.RES_WIT))
    assert b.call("run", 5) == 1150 and b.call("dropped") == 5
    assert b.call("run", 3) == 1143 and b.call("dropped") == 8
    assert WorldRunner(F.wrap_core(core.encode(), "rcons2", F.RES_WIT)).call("double-drop") == ("trap",)
    leaky = fuse(F.resources_chain(drop_borrows=False))
    bad = WorldRunner(F.wrap_core(leaky.encode(), "rcons2", F.RES_WIT))
    assert bad.call("run", 1) == ("trap",)


def test_async_is_refused_naming_the_function():
    wat = """(component
      (core module $m (func (export "f") (result i32) i32.const 0)
                      (func (export "cb") (param i32 i32 i32) (result i32) i32.const 0))
      (core instance $i (instantiate $m))
      (func (export "run-later") (canon lift (core func $i "f") async (callback (core func $i "cb")))))"""
    data = F.wasm_tools("parse", "-", input=wat.encode())
    with pytest.raises(FuseError, match="export `run-later`: async"):
        fuse(data)
