"""wasmweld snapshot on WAT modules: what the rewritten module contains, item by item (issue 5).

Each test snapshots a small module whose init function changes one kind of
state, checks the output's structure with wasmweld's reader, then runs the
output in wasmtime and compares with the original after init.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.snapshot.snaputil import Instance

import wasmweld.module as wm
from wasmweld.errors import SnapshotError
from wasmweld.preinit import snapshot, snapshot_bytes
from wasmweld.runtime.engine import validate_bytes
from wasmweld.types import ExternKind


def snap(wasm: bytes, **kw) -> bytes:
    out = snapshot_bytes(wasm, **kw)
    validate_bytes(out)
    return out


def after_init(wasm: bytes, init="wizer-initialize") -> Instance:
    inst = Instance(wasm)
    inst(init)
    return inst


def test_globals_of_every_numeric_type(wat):
    src = wat("""
    (module
      (global $i (mut i32) (i32.const 1))
      (global $j (mut i64) (i64.const 1))
      (global $f (mut f32) (f32.const 1))
      (global $d (mut f64) (f64.const 1))
      (global $v (mut v128) (v128.const i64x2 0 0))
      (global $k i32 (i32.const 99))
      (global $same (mut i32) (i32.const 5))
      (func (export "wizer-initialize")
        (global.set $i (i32.const -123456))
        (global.set $j (i64.const 0x7fffffffffffffff))
        (global.set $f (f32.const nan:0x200001))      ;; a signalling NaN with a payload
        (global.set $d (f64.const -0x1.5p-1000))
        (global.set $v (v128.const i64x2 0x0102030405060708 -2))
        (global.set $same (i32.const 5)))             ;; written, but to the same value
      (func (export "i") (result i32) global.get $i)
      (func (export "j") (result i64) global.get $j)
      (func (export "f_bits") (result i32) (i32.reinterpret_f32 (global.get $f)))
      (func (export "d") (result f64) global.get $d)
      (func (export "v_lo") (result i64) (i64x2.extract_lane 0 (global.get $v)))
      (func (export "v_hi") (result i64) (i64x2.extract_lane 1 (global.get $v)))
      (func (export "k") (result i32) global.get $k))
    """)
    reports = []
    out = snap(src, report=reports.append)
    orig, new = after_init(src), Instance(out)
    for name in ("i", "j", "f_bits", "d", "v_lo", "v_hi", "k"):
        assert new(name) == orig(name), name
    assert new("f_bits") & 0xFFFFFFFF == 0x7FA00001  # the NaN payload, bit for bit
    before, after = wm.parse(src), wm.parse(out)
    # immutable $k and the rewritten-to-the-same-value $same keep their initialisers byte for byte
    assert after.globals[5].init.raw == before.globals[5].init.raw
    assert after.globals[6].init.raw == before.globals[6].init.raw
    assert after.globals[0].init == wm.ConstExpr.i32(-123456)
    assert reports[0].globals_set == 5 and reports[0].mutable_globals == 6


def test_memory_contents_size_and_active_data(wat):
    src = wat("""
    (module
      (memory (export "memory") 1 10)
      (data (i32.const 16) "hello")
      (data (i32.const 100) "world")
      (func (export "wizer-initialize")
        (drop (memory.grow (i32.const 2)))
        (i32.store (i32.const 16) (i32.const 0x6c6c6548))   ;; "Hell" over "hell"
        (i32.store (i32.const 100) (i32.const 0))           ;; "world" erased to "\\0\\0\\0\\0d"
        (i64.store (i32.const 131000) (i64.const -1)))
      (func (export "size") (result i32) memory.size))
    """)
    out = snap(src)
    m = wm.parse(out)
    assert m.memories[0].limits.min == 3 and m.memories[0].limits.max == 10
    # the two original active segments are now empty passive ones (same indices), then the snapshot's
    assert [(d.mode, d.init) for d in m.datas[:2]] == [("passive", b""), ("passive", b"")]
    active = [(d.offset.int_value, d.init) for d in m.datas[2:]]
    assert active == [(16, b"Hello"), (104, b"d"), (131000, b"\xff" * 8)]
    new, orig = Instance(out), after_init(src)
    assert new.memory() == orig.memory()
    assert new("size") == 3


def test_memory_init_and_data_drop_indices_stay_valid(wat):
    """Code that uses memory.init / data.drop sees the same segments after the rewrite."""
    src = wat("""
    (module
      (memory (export "memory") 1)
      (data $a (i32.const 0) "active")
      (data $p "passive-kept")
      (data $q "passive-dropped")
      (global $ran (mut i32) (i32.const 0))
      (func (export "wizer-initialize")
        (memory.init $p (i32.const 32) (i32.const 0) (i32.const 7))
        (data.drop $q)
        (global.set $ran (i32.const 1)))
      ;; copy n bytes of segment $p / $q / $a to 200; traps if dropped (or too short)
      (func (export "init_p") (param i32) (memory.init $p (i32.const 200) (i32.const 0) (local.get 0)))
      (func (export "init_q") (param i32) (memory.init $q (i32.const 200) (i32.const 0) (local.get 0)))
      (func (export "init_a") (param i32) (memory.init $a (i32.const 200) (i32.const 0) (local.get 0)))
      (func (export "load") (param i32) (result i64) (i64.load (local.get 0))))
    """)
    reports = []
    out = snap(src, report=reports.append)
    m = wm.parse(out)
    assert m.datacount == len(m.datas)
    assert [(d.mode, d.init) for d in m.datas[:3]] == [("passive", b""), ("passive", b"passive-kept"),
                                                       ("passive", b"")]
    assert reports[0].dropped_datas == 1
    orig, new = after_init(src), Instance(out)

    def outcome(inst, name, n):
        try:
            inst(name, n)
        except Exception as exc:  # a trap: report its kind
            return "trap:" + type(exc).__name__
        return inst("load", 200)

    for name in ("init_p", "init_q", "init_a"):
        for n in (0, 1, 12):
            assert outcome(new, name, n) == outcome(orig, name, n), (name, n)
    assert outcome(new, "init_p", 12) == struct.unpack("<q", b"passive-")[0]
    assert outcome(new, "init_q", 1).startswith("trap:")


def test_start_function_runs_once_and_is_removed(wat):
    src = wat("""
    (module
      (memory 1)
      (global $count (mut i32) (i32.const 0))
      (func $start (global.set $count (i32.add (global.get $count) (i32.const 10))))
      (start $start)
      (func (export "wizer-initialize") (global.set $count (i32.add (global.get $count) (i32.const 1))))
      (func (export "count") (result i32) global.get $count))
    """)
    out = snap(src)
    assert wm.parse(out).start is None
    assert Instance(out)("count") == 11  # start then init, each once; nothing runs at instantiation


def test_reactor_initialize_runs_first_and_is_removed(wat):
    src = wat("""
    (module
      (global $a (mut i32) (i32.const 0))
      (global $b (mut i32) (i32.const 0))
      (func (export "_initialize") (global.set $a (i32.add (global.get $a) (i32.const 1))))
      (func (export "wizer-initialize") (global.set $b (i32.add (global.get $a) (i32.const 100))))
      (func (export "a") (result i32) global.get $a)
      (func (export "b") (result i32) global.get $b))
    """)
    out = snapshot(src)
    assert out.export("_initialize") is None and out.export("wizer-initialize") is None
    inst = Instance(out.encode())
    assert (inst("a"), inst("b")) == (1, 101)


def test_default_init_name_and_fallback(wat):
    both = wat("""(module (global $g (mut i32) (i32.const 0))
      (func (export "wizer-initialize") (global.set $g (i32.const 1)))
      (func (export "wizer.initialize") (global.set $g (i32.const 2)))
      (func (export "g") (result i32) global.get $g))""")
    assert Instance(snap(both))("g") == 1  # the default wins when both exist
    dotted = wat("""(module (global $g (mut i32) (i32.const 0))
      (func (export "wizer.initialize") (global.set $g (i32.const 2)))
      (func (export "g") (result i32) global.get $g))""")
    assert Instance(snap(dotted))("g") == 2
    custom = wat("""(module (global $g (mut i32) (i32.const 0))
      (func (export "setup") (global.set $g (i32.const 3)))
      (func (export "g") (result i32) global.get $g))""")
    out = snap(custom, init_func="setup")
    assert Instance(out)("g") == 3
    assert wm.parse(out).export("setup") is None


def test_renames(wat):
    src = wat("""(module
      (func (export "wizer-initialize"))
      (func (export "_start") (result i32) i32.const 1)
      (func (export "resume") (result i32) i32.const 2)
      (func (export "a") (result i32) i32.const 3)
      (func (export "b") (result i32) i32.const 4)
      (memory (export "mem") 1))""")
    out = snapshot(src, rename_funcs={"_start": "resume", "a": "b", "b": "a"})
    inst = Instance(out.encode())
    assert inst("_start") == 2  # replaced by resume
    assert not inst.has("resume")
    assert (inst("a"), inst("b")) == (4, 3)  # swapped
    with pytest.raises(SnapshotError, match="no export named 'nope'"):
        snapshot(src, rename_funcs={"x": "nope"})
    with pytest.raises(SnapshotError, match="not a function export"):
        snapshot(src, rename_funcs={"x": "mem"})
    with pytest.raises(SnapshotError, match="renamed twice"):
        snapshot(src, rename_funcs={"x": "a", "y": "a"})
    with pytest.raises(SnapshotError, match="init function"):
        snapshot(src, rename_funcs={"x": "wizer-initialize"})
    kept = snapshot(src, keep_init_func=True, rename_funcs={"init": "wizer-initialize"})
    assert kept.export("init").kind == ExternKind.FUNC and kept.export("wizer-initialize") is None


def test_custom_sections_names_and_untouched_sections_kept(wat):
    src = wat("""(module $mod
      (memory 1)
      (global $counter (mut i32) (i32.const 0))
      (func $bump (export "wizer-initialize") (global.set $counter (i32.const 9)))
      (func $read (export "read") (result i32) global.get $counter))""")
    m = wm.parse(src)
    m.add_custom("producers", b"\x00")
    m.add_custom("my.custom", b"\x01\x02\x03", after="type")
    src = m.encode()
    out = snap(src)
    before, after = wm.parse(src), wm.parse(out)
    assert [(c.name, c.data) for c in after.customs] == [(c.name, c.data) for c in before.customs]
    assert after.names.funcs == {0: "bump", 1: "read"} and after.names.module == "mod"
    # sections the snapshot does not touch are copied byte for byte
    for sid in (1, 3, 10):
        a = [s for s in before.sections if s.id == sid][0]
        b = [s for s in after.sections if s.id == sid][0]
        assert bytes(src[a.offset:a.end]) == bytes(out[b.offset:b.end])


def test_multi_memory_and_memory64(wat):
    src = wat("""(module
      (memory $a 1)
      (memory $b i64 1)
      (func (export "wizer-initialize")
        (i32.store $a (i32.const 8) (i32.const 0x11223344))
        (drop (memory.grow $b (i64.const 1)))
        (i64.store $b (i64.const 70000) (i64.const 0x55667788)))
      (func (export "a8") (result i32) (i32.load $a (i32.const 8)))
      (func (export "b") (result i64) (i64.load $b (i64.const 70000)))
      (func (export "bsize") (result i64) (memory.size $b)))""")
    out = snap(src)
    m = wm.parse(out)
    assert m.memories[1].limits.is64 and m.memories[1].limits.min == 2
    segs = [(d.memory, d.offset.int_value, d.init) for d in m.datas]
    assert segs == [(0, 8, b"\x44\x33\x22\x11"), (1, 70000, b"\x88\x77\x66\x55")]
    assert m.datas[1].offset.raw[0] == 0x42  # an i64.const offset for the 64-bit memory
    inst = Instance(out)
    assert (inst("a8"), inst("b"), inst("bsize")) == (0x11223344, 0x55667788, 2)


def test_passive_elem_dropped_during_init(wat):
    src = wat("""(module
      (table $t 4 funcref)
      (elem $e func $one $two)
      (elem $keep func $two)
      (func $one (result i32) i32.const 1)
      (func $two (result i32) i32.const 2)
      (func (export "wizer-initialize") (elem.drop $e))
      (func (export "fill") (param i32) (table.init $t $e (i32.const 0) (i32.const 0) (local.get 0)))
      (func (export "fill_keep") (table.init $t $keep (i32.const 2) (i32.const 0) (i32.const 1)))
      (func (export "call") (param i32) (result i32) (call_indirect (result i32) (local.get 0))))""")
    out = snap(src)
    m = wm.parse(out)
    assert m.elems[0].init == () and m.elems[1].init == wm.parse(src).elems[1].init
    inst = Instance(out)
    inst("fill", 0)
    with pytest.raises(inst.wasmtime.Trap, match="out of bounds"):
        inst("fill", 1)  # dropped: as in the original after init
    inst("fill_keep")
    assert inst("call", 2) == 2


def test_funcref_global_unchanged_or_nulled(wat):
    src = wat("""(module
      (global $keep (mut funcref) (ref.func $f))
      (global $clear (mut funcref) (ref.func $f))
      (global $n (mut externref) (ref.null extern))
      (func $f (result i32) i32.const 7)
      (table 1 funcref)
      (func (export "wizer-initialize") (global.set $clear (ref.null func)))
      (func (export "is_null_keep") (result i32) (ref.is_null (global.get $keep)))
      (func (export "is_null_clear") (result i32) (ref.is_null (global.get $clear))))""")
    out = snap(src)
    m = wm.parse(out)
    assert m.globals[0].init.raw == wm.parse(src).globals[0].init.raw  # still (ref.func $f)
    assert m.globals[1].init == wm.ConstExpr.ref_null("func")
    inst = Instance(out)
    assert (inst("is_null_keep"), inst("is_null_clear")) == (0, 1)


def test_noop_init_changes_only_the_export(wat):
    src = wat("""(module (memory 1) (data (i32.const 4) "abc")
      (func (export "wizer-initialize")) (func (export "x") (result i32) (i32.load (i32.const 4))))""")
    out = snap(src)
    m = wm.parse(out)
    assert [e.name for e in m.exports] == ["x"]
    assert [(d.mode, d.init) for d in m.datas] == [("passive", b""), ("active", b"abc")]
    assert Instance(out)("x") == after_init(src)("x")


def test_segment_cap_is_respected(wat):
    src = wat("""(module (memory (export "memory") 2)
      (func (export "wizer-initialize") (local $i i32)
        (loop $l
          (i32.store8 (local.get $i) (i32.const 1))
          (local.set $i (i32.add (local.get $i) (i32.const 100)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 131072))))))""")
    reports = []
    out = snap(src, max_segments=50, report=reports.append)
    m = wm.parse(out)
    assert len(m.datas) == 50 and reports[0].segments == 50
    assert Instance(out).memory() == after_init(src).memory()
    full = snap(src)
    assert len(wm.parse(full).datas) == 1311  # one per byte written: 100 apart is more than the merge gap


def _wat_bytes(data: bytes) -> str:
    return "".join(f"\\{b:02x}" for b in data)


@settings(max_examples=25, deadline=None)
@given(
    writes=st.lists(st.tuples(st.integers(0, 2 * 65536 - 64), st.binary(min_size=1, max_size=48)), max_size=12),
    grow=st.integers(0, 2),
    values=st.tuples(st.integers(-2**31, 2**31 - 1), st.integers(-2**63, 2**63 - 1),
                     st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1)),
)
def test_random_state_round_trips(writes, grow, values):
    """Random memory writes (through passive segments and memory.init) and global values survive the snapshot."""
    from wasmweld.runtime.engine import wat2wasm

    segs = "\n".join(f'(data $d{i} "{_wat_bytes(b)}")' for i, (_, b) in enumerate(writes))
    inits = "\n".join(f"(memory.init $d{i} (i32.const {off}) (i32.const 0) (i32.const {len(b)}))"
                      for i, (off, b) in enumerate(writes))
    i32, i64, f32_bits, f64_bits = values
    src = wat2wasm(f"""(module
      (memory (export "memory") 2)
      {segs}
      (global $a (mut i32) (i32.const 0)) (global $b (mut i64) (i64.const 0))
      (global $c (mut f32) (f32.const 0)) (global $d (mut f64) (f64.const 0))
      (func (export "wizer-initialize")
        {inits}
        (drop (memory.grow (i32.const {grow})))
        (global.set $a (i32.const {i32})) (global.set $b (i64.const {i64}))
        (global.set $c (f32.reinterpret_i32 (i32.const {f32_bits - (1 << 32) if f32_bits >= 1 << 31 else f32_bits})))
        (global.set $d (f64.reinterpret_i64 (i64.const {f64_bits - (1 << 64) if f64_bits >= 1 << 63 else f64_bits}))))
      (func (export "state") (result i32 i64 i32 i64)
        (global.get $a) (global.get $b)
        (i32.reinterpret_f32 (global.get $c)) (i64.reinterpret_f64 (global.get $d))))""")
    out = snap(src)
    orig, new = after_init(src), Instance(out)
    assert new.memory() == orig.memory()
    assert new("state") == orig("state")
    assert [v & m for v, m in zip(new("state"), (2**32 - 1, 2**64 - 1, 2**32 - 1, 2**64 - 1))] == \
        [i32 & (2**32 - 1), i64 & (2**64 - 1), f32_bits, f64_bits]


def test_stages_exchange_plain_data(wat):
    """The runner is a small interface: a fake one returning a hand-made Snapshot drives the rewrite."""
    from wasmweld.preinit import GlobalValue, MemorySnapshot, Runner, Snapshot
    from wasmweld.preinit.probes import Probes

    src = wat("""(module (memory (export "memory") 1) (global $g (mut i64) (i64.const 0))
      (func $s) (start $s)
      (func (export "wizer-initialize") unreachable)
      (func (export "g") (result i64) global.get $g))""")
    seen = {}

    class FakeRunner:
        def run_init(self, wasm: bytes, init_func: str, export_names: Probes) -> Snapshot:
            seen.update(init=init_func, probes=export_names, wasm=wasm)
            return Snapshot([GlobalValue(0, "i64", -7)], [MemorySnapshot(2, [(65536, b"\x2a")])])

    assert isinstance(FakeRunner(), Runner)
    out = snap(src, runner=FakeRunner())
    probes = seen["probes"]
    assert seen["init"] == "wizer-initialize"
    assert [(p.index, p.valtype) for p in probes.globals] == [(0, "i64")]
    assert probes.start is not None and [p.index for p in probes.memories] == [0]
    instrumented = wm.parse(seen["wasm"])
    assert instrumented.start is None  # the runner calls the start function itself
    assert {e.name for e in instrumented.exports} >= {p.export for p in probes.memories + probes.globals}
    inst = Instance(out)
    assert inst("g") == -7 and inst.memory()[65536] == 0x2A and len(inst.memory()) == 2 * 65536


def test_top_level_api_and_world_wasi_options(tmp_path):
    """wasmweld.snapshot is the function; the World's wasmweld.WasiOptions grants work for the init too."""
    from fixtures.snapshot.snaputil import build

    import wasmweld
    from wasmweld.runtime.wasi import Preopen

    (tmp_path / "prog.calc").write_text("def half(x) = x / 2;\n")
    opts = wasmweld.WasiOptions(preopens=[Preopen(str(tmp_path), "/script")],
                                stdout=None, stderr=None)
    out = wasmweld.snapshot(build("calc"), wasi=opts)
    assert isinstance(out, wasmweld.Module)
    inst = Instance(out.encode())
    assert inst("script_source") == 1 and inst.eval("half(84)") == 42


def test_snapshot_of_the_passive_data_accessor(wat):
    """Issue 15: init copies an injected passive segment (memory.init, then data.drop); the copy is captured.

    Wizer refuses any module containing data.drop; wasmweld runs it and records the drop (the
    segment is empty in the output, as it is in the instance after init).
    """
    import wasmtime

    from wasmweld import passes
    from wasmweld.module import parse
    from wasmweld.preinit import snapshot_bytes

    src = parse(wat('''(module
      (memory (export "memory") 1)
      (func $size_stub (export "size_stub") (result i32) (i32.const 0))
      (func $init_stub (export "init_stub") (param i32) (result i32) (local.get 0))
      (func (export "wizer-initialize") (drop (call $init_stub (i32.const 1024)))))'''))
    payload = b"console.log('hi');" * 3
    passes.add_passive_data(src, "js", payload, size_func="size_stub", init_func="init_stub")
    out = snapshot_bytes(src.encode())
    seg = [d for d in parse(out).datas if d.mode == "passive"]
    assert len(seg) == 1 and seg[0].init == b""   # dropped during init: empty, index kept
    eng = wasmtime.Engine()
    store = wasmtime.Store(eng)
    inst = wasmtime.Instance(store, wasmtime.Module(eng, out), [])
    mem = inst.exports(store)["memory"]
    assert bytes(mem.read(store, 1024, 1024 + len(payload))) == payload


@pytest.mark.parametrize("case", ["one-memory", "no-data-section", "datacount", "multi-memory-64", "high-offset"])
def test_fast_rewrite_writes_the_same_bytes_as_the_module_path(wat, case):
    """``rewrite_bytes`` (segments spliced into the encoded data section) == ``rewrite(...).encode()``."""
    from wasmweld.preinit.rewrite import rewrite, rewrite_bytes
    from wasmweld.preinit.snapshot import GlobalValue, MemorySnapshot, Snapshot

    mems, datas, segs = "(memory 2)", '(data (i32.const 8) "ab")', [[(16, b"xyz"), (300, b"\x01" * 200)]]
    extra = ""
    if case == "no-data-section":
        datas = ""
    elif case == "datacount":
        datas += ' (data $p "passive")'
        extra = "(func (data.drop $p))"
    elif case == "multi-memory-64":
        mems = "(memory 2) (memory i64 1)"
        segs = [[(0, b"\x05")], [(1 << 40 >> 24, b"q" * 3), (65535, b"z")]]
    elif case == "high-offset":
        mems = "(memory 40000)"
        segs = [[((1 << 31) + 5, b"hi"), (0xFFFF0000, b"\x07")]]
    src = wat(f"""(module {mems} (global $g (mut i32) (i32.const 0)) {datas} {extra}
                 (func (export "wizer-initialize")) (export "keep" (global $g)))""")
    snap_ = Snapshot([GlobalValue(0, "i32", 42)],
                     [MemorySnapshot(p, s) for p, s in zip((3, 2), segs)] if len(segs) == 2 else
                     [MemorySnapshot(40000 if case == "high-offset" else 3, segs[0])],
                     [1] if case == "datacount" else [], [])
    slow = rewrite(wm.parse(src), snap_, init_export_name="wizer-initialize").encode()
    fast = rewrite_bytes(wm.parse(src), snap_, init_export_name="wizer-initialize")
    assert fast == slow
    validate_bytes(fast)
    assert len(wm.parse(fast).datas) == len(wm.parse(src).datas) + sum(len(s) for s in segs)
