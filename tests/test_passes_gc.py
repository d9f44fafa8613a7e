"""Issue 4: the "used" analysis and gc (remove unused) on a WAT module and on the real-world corpus.

The WAT module has one dead thing of every kind, each kept alive only by a
dead function, next to a live thing of the same kind; gc must remove exactly
the dead ones, renumber everything, and the module must still compute the
same. On the corpus, every export beyond the first half is removed first (so
gc has real work), then the output must validate and behave like the input
on smoke calls (same results, traps and memory, with the same fuel).
"""

from __future__ import annotations

import hashlib
import subprocess

import pytest
import wasmtime

from fixtures.surgery.check import changed_sections, instantiate
from helpers import corpus_ids, corpus_path, decoded_refs
from wasmweld import EditError, ExternKind, parse
from wasmweld import passes
from wasmweld.binary.reencode import SPACES, Scanner, references
from wasmweld.passes.used import body_references
from wasmweld.runtime.engine import engine, validate_bytes

GC_WAT = r"""(module $gc
  (type $ii (func (param i32) (result i32)))
  (type $unused_t (func (param f32 f32 f32)))
  (type $s (struct (field i32)))
  (type $s2 (struct (field i64)))
  (type $live_s (struct (field (ref null $s2))))
  (rec (type $r1 (struct)) (type $r2 (struct (field (ref null $r1)))))
  (rec (type $d1 (struct (field f32))) (type $d2 (struct (field (ref null $d1)))))
  (import "env" "used" (func $used_imp (type $ii)))
  (import "env" "dead" (func $dead_imp (param i64)))
  (import "env" "dead_g" (global $dead_gi i32))
  (import "env" "live_g" (global $live_gi i32))
  (tag $dead_tag (param i32))
  (tag $live_tag (param i64))
  (memory $m0 1)
  (memory $dead_mem 1)
  (table $t 2 funcref)
  (table $dead_t 1 externref)
  (global $g1 (mut i32) (global.get $live_gi))
  (global $g_dead i32 (i32.const 3))
  (global $g_ref funcref (ref.func $via_global))
  (elem (i32.const 0) $indirect_target)
  (elem $passive_dead func $dead_f)
  (elem $passive_live func $from_table_init)
  (elem declare func $declared_live $declared_dead)
  (data (i32.const 0) "active")
  (data $dpass_dead "dead passive")
  (data $dpass_live "live passive")
  (export "main" (func $main))
  (export "g_ref" (global $g_ref))
  (export "g1" (global $g1))
  (export "memory" (memory $m0))
  (func $main (param $x i32) (result i32) (local $r i32)
    (local.set $r (call $used_imp (local.get $x)))
    (table.init $t $passive_live (i32.const 1) (i32.const 0) (i32.const 1))
    (local.set $r (i32.add (local.get $r) (call_indirect $t (type $ii) (local.get $x) (i32.const 1))))
    (local.set $r (i32.add (local.get $r) (call_indirect $t (type $ii) (local.get $x) (i32.const 0))))
    (memory.init $dpass_live (i32.const 100) (i32.const 0) (i32.const 4))
    (local.set $r (i32.add (local.get $r) (i32.load8_u (i32.const 100))))
    (drop (ref.func $declared_live))
    (global.set $g1 (i32.add (global.get $g1) (i32.const 1)))
    (drop (struct.new_default $live_s))
    (drop (struct.new_default $r2))
    (if (i32.eq (local.get $x) (i32.const -1)) (then (throw $live_tag (i64.const 1))))
    (local.get $r))
  (func $indirect_target (type $ii) (local.get 0))
  (func $from_table_init (type $ii) (i32.add (local.get 0) (i32.const 100)))
  (func $via_global (type $ii) (local.get 0))
  (func $declared_live)
  (func $declared_dead)
  (func $dead_f (param f32 f32 f32)
    (call $dead_imp (i64.const 1))
    (drop (global.get $g_dead))
    (drop (global.get $dead_gi))
    (drop (i32.load $dead_mem (i32.const 0)))
    (drop (table.get $dead_t (i32.const 0)))
    (data.drop $dpass_dead)
    (drop (ref.func $declared_dead))
    (drop (struct.new_default $s))
    (drop (struct.new_default $d2))
    (call $dead_too)
    (throw $dead_tag (i32.const 1)))
  (func $dead_too (elem.drop $passive_dead))
)"""


@pytest.fixture(scope="module")
def gc_module(wat) -> bytes:
    data = wat(GC_WAT)
    validate_bytes(data)
    return data


#: the host side of GC_WAT's imports (whichever of them a module still has)
HOST = {"env": {"used": lambda v: 2 * v, "dead": lambda *a: None, "dead_g": 7, "live_g": 7}}


def run_main(data: bytes, x: int) -> tuple[int, int]:
    store, ex = instantiate(data, HOST)
    return ex["main"](store, x), ex["g1"].value(store)


def test_used_analysis(gc_module):
    m = parse(gc_module)
    used = passes.analyze(m)
    names = m.names
    by_name = {v: k for k, v in names.funcs.items()}
    assert {names.funcs[i] for i in used.funcs} == {
        "used_imp", "main", "indirect_target", "from_table_init", "via_global", "declared_live"}
    assert by_name["dead_f"] not in used.funcs and by_name["dead_too"] not in used.funcs
    assert used.memories == {0} and used.tables == {0} and used.tags == {1}
    assert {names.globals[i] for i in used.globals} == {"live_gi", "g1", "g_ref"}
    assert used.elems == {0, 2} and used.datas == {0, 2}
    counts = used.counts(m)
    assert counts["func"] == (6, 10) and counts["type"] == (7, 12)


def test_gc_removes_exactly_the_dead_items(gc_module):
    before = run_main(gc_module, 3)
    assert before == (220, 8)                       # 6 + 103 + 3 + ord('l') ; g1 = 7 + 1
    res = passes.gc(parse(gc_module))
    out = res.module.encode()
    validate_bytes(out)
    assert res.removed == {"type": 5, "func": 4, "table": 1, "memory": 1, "global": 2, "tag": 1, "elem": 1,
                           "data": 1}
    m = parse(out)
    assert [(i.module, i.name) for i in m.imports] == [("env", "used"), ("env", "live_g")]
    assert sorted(m.names.funcs.values()) == sorted(
        ["used_imp", "main", "indirect_target", "from_table_init", "via_global", "declared_live"])
    assert len(m.memories) == 1 and len(m.tables) == 1 and len(m.tags) == 1
    assert [e.mode for e in m.elems] == ["active", "passive", "declarative"]
    assert len(m.elems[2].init) == 1                # $declared_dead is no longer declared
    assert [d.init for d in m.datas] == [b"active", b"live passive"] and m.datacount == 2
    assert run_main(out, 3) == before
    with pytest.raises(wasmtime.Trap):              # the live tag still throws (uncaught)
        run_main(out, -1)
    # gc of a gc'd module removes nothing and changes nothing
    again = passes.gc(parse(out))
    assert not any(again.removed.values()) and again.module.encode() == out


def test_gc_extra_roots_and_keep_imports(gc_module):
    res = passes.gc(parse(gc_module), roots=["dead_f"])
    m = res.module
    validate_bytes(m.encode())
    assert "dead_f" in m.names.funcs.values() and "dead_too" in m.names.funcs.values()
    assert res.removed["memory"] == 0 and res.removed["tag"] == 0 and res.removed["data"] == 0
    res = passes.gc(parse(gc_module), roots=[("func", 0), (ExternKind.GLOBAL, 0)], keep_imports=True)
    m = res.module
    validate_bytes(m.encode())
    assert len(m.imports) == 4 and res.removed["func"] == 3   # dead_f, dead_too, declared_dead
    with pytest.raises(EditError, match="unknown function 'nope' \\(gc root\\)"):
        passes.remove_unused(parse(gc_module), roots=["nope"])
    with pytest.raises(EditError, match="unknown index space 'funcs2'"):
        passes.remove_unused(parse(gc_module), roots=[("funcs2", 0)])


def test_gc_refuses_object_files(wat):
    m = parse(wat("(module (func))"))
    m.add_custom("linking", b"\x02")
    with pytest.raises(EditError, match="relocatable object files"):
        passes.remove_unused(m)


def test_remove_unused_is_the_merge_entry_point(gc_module):
    out = passes.remove_unused(parse(gc_module)).encode()
    assert out == passes.gc(parse(gc_module)).module.encode()


# ----------------------------------------------------------------------------------- the corpus

#: modules wasmtime runs quickly enough for smoke calls (compiled twice each)
SMOKE = {"as-rabin", "as-sha256-simd", "ts-html-side", "jco-p1-adapter-reactor", "em-webp-enc-simd",
         "em-wabt", "ts-web-tree-sitter"}
#: validated by node (V8) instead: wasmtime-py cannot enable legacy exception handling
LEGACY_EH = {"em-pyodide"}


def keep_half(data: bytes) -> bytes:
    """The module with only the first half of its function exports (and every other export)."""
    m = parse(data)
    fex = [e.name for e in m.exports if e.kind == ExternKind.FUNC]
    keep = set(fex[: (len(fex) + 1) // 2]) | {e.name for e in m.exports if e.kind != ExternKind.FUNC}
    m.exports = [e for e in m.exports if e.name in keep]
    return m.encode()


def node_validate(data: bytes, tmp_path) -> bool:
    path = tmp_path / "m.wasm"
    path.write_bytes(data)
    proc = subprocess.run(["node", "-e", "const fs=require('fs');"
                           "process.exit(WebAssembly.validate(fs.readFileSync(process.argv[1]))?0:3)", str(path)],
                          capture_output=True, timeout=120)
    return proc.returncode == 0


def smoke(data: bytes):
    """Outcome of calling every export with zero arguments, in order, under a fuel budget.

    Imports are stubs (functions trap, memories/tables/globals fresh); returns a
    list of (export, result-or-trap) plus a digest of the exported memories.
    """
    eng = engine(fuel=True)
    store = wasmtime.Store(eng)
    module = wasmtime.Module(eng, data)
    linker = wasmtime.Linker(eng)

    class HostTrap(Exception):
        pass

    def trap(*_args):
        raise HostTrap("import called")

    for imp in module.imports:
        t = imp.type
        if isinstance(t, wasmtime.FuncType):
            item = wasmtime.Func(store, t, trap)
        elif isinstance(t, wasmtime.MemoryType):
            item = wasmtime.Memory(store, t)
        elif isinstance(t, wasmtime.TableType):
            item = wasmtime.Table(store, t, None)
        elif isinstance(t, wasmtime.GlobalType):
            zero = {"i32": wasmtime.Val.i32(0), "i64": wasmtime.Val.i64(0), "f32": wasmtime.Val.f32(0.0),
                    "f64": wasmtime.Val.f64(0.0)}.get(str(t.content))
            if zero is None:
                return None
            item = wasmtime.Global(store, t, zero)
        else:
            return None
        linker.define(store, imp.module, imp.name, item)
    outcome = []
    store.set_fuel(2_000_000)
    try:
        inst = linker.instantiate(store, module)
    except (wasmtime.Trap, wasmtime.WasmtimeError, HostTrap) as exc:
        return [("<instantiate>", type(exc).__name__)]
    exports = inst.exports(store)
    for exp in module.exports:
        t = exp.type
        if not isinstance(t, wasmtime.FuncType):
            continue
        if any(str(p) not in ("i32", "i64", "f32", "f64") for p in t.params):
            continue
        args = [0.0 if str(p) in ("f32", "f64") else 0 for p in t.params]
        store.set_fuel(2_000_000)
        try:
            result = exports[exp.name](store, *args)
            outcome.append((exp.name, repr(result)))
        except (wasmtime.Trap, HostTrap, wasmtime.WasmtimeError) as exc:
            code = getattr(exc, "trap_code", None)
            outcome.append((exp.name, f"{type(exc).__name__}:{code}"))
    digest = hashlib.sha256()
    for exp in module.exports:
        if isinstance(exp.type, wasmtime.MemoryType):
            mem = exports[exp.name]
            digest.update(bytes(mem.read(store, 0, min(mem.data_len(store), 1 << 22))))
    return outcome, digest.hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("cid", corpus_ids())
def test_gc_on_corpus(cid, corpus_dir, tmp_path):
    data = corpus_path(cid).read_bytes()
    src = keep_half(data)
    res = passes.gc(parse(src))
    out = res.module.encode()
    assert res.kept["func"] > 0
    assert len(out) <= len(src), f"gc grew {cid} by {len(out) - len(src)} bytes"   # issue 15: never grows
    if cid in LEGACY_EH:
        assert node_validate(src, tmp_path) and node_validate(out, tmp_path)
    else:
        validate_bytes(out)
    # what gc keeps is what it was asked to keep
    assert [e.name for e in parse(out).exports] == [e.name for e in parse(src).exports]
    # custom sections other than the name section are copied byte for byte
    changed = changed_sections(src, out)
    assert not {k for k in changed if k.startswith("custom:") and k != "custom:name"}, changed
    if not res.removed["data"] and not res.removed["global"] and not res.removed["memory"]:
        assert "data" not in changed
    if cid in SMOKE:
        before, after = smoke(src), smoke(out)
        assert before is not None and before[0], f"{cid}: no export could be smoke-called"
        assert after == before


TABLE_WAT = r"""(module
  (type $ii (func (param i32) (result i32)))
  (type $ff (func (param f32) (result f32)))
  (table $t 4 funcref)
  (elem (i32.const 0) $inc $neg $dbl $half)
  (func $inc (type $ii) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $ii) (i32.mul (local.get 0) (i32.const 2)))
  (func $neg (type $ff) (f32.neg (local.get 0)))
  (func $half (type $ff) (f32.mul (local.get 0) (f32.const 0.5)))
  (func (export "call_ii") (param i32 i32) (result i32)
    (call_indirect $t (type $ii) (local.get 1) (local.get 0)))
  %s)"""


def test_private_table_pruned_by_call_indirect_type(wat):
    data = wat(TABLE_WAT % "")
    res = passes.gc(parse(data))
    out = res.module.encode()
    validate_bytes(out)
    m = res.module
    assert sorted(v for v in m.names.funcs.values()) == ["dbl", "inc"]
    # issue 15: the segment keeps its index encoding (re-encoding it as expressions grew it); the two
    # unreachable entries point to one shared function whose body only traps ($neg's slot, its name dropped)
    assert res.removed["func"] == 1 and len(out) <= len(data)
    init = m.elems[0].init
    inc, dbl = (i for n in ("inc", "dbl") for i, v in m.names.funcs.items() if v == n)
    assert len(init) == 4 and init[0] == inc and init[2] == dbl and init[1] == init[3] not in (inc, dbl)
    assert [i.name for i in m.code[init[1]].instrs] == ["unreachable", "end"]
    store, ex = instantiate(out)
    assert ex["call_ii"](store, 0, 41) == 42 and ex["call_ii"](store, 2, 21) == 42
    with pytest.raises(wasmtime.Trap):
        ex["call_ii"](store, 1, 0)              # was a signature mismatch, now a null entry: a trap either way
    # without pruning, or when the table is read otherwise or exported, every entry stays
    assert passes.gc(parse(data), prune_tables=False).removed["func"] == 0
    read = wat(TABLE_WAT % '(func (export "get") (result funcref) (table.get $t (i32.const 1)))')
    assert passes.gc(parse(read)).removed["func"] == 0
    exported = wat(TABLE_WAT % '(export "t" (table $t))')
    assert passes.gc(parse(exported)).removed["func"] == 0


@pytest.mark.parametrize("cid", ["as-sha256-simd", "jco-p1-adapter-reactor", "ts-web-tree-sitter", "em-webp-enc-simd"])
def test_fast_reference_scanner_agrees_with_decoded_instructions(cid, corpus_dir):
    """The used analysis scans bodies with the re-encoder's byte scanner; decoding every
    instruction must find exactly the same references."""
    scanner = Scanner(SPACES)
    assert scanner.spaces == frozenset(SPACES), "the scanner must record every index space"
    m = parse(corpus_path(cid).read_bytes())
    for i, body in enumerate(m.code):
        fast = scanner.body(body.raw, body.offset)
        assert body_references(m, i) == fast, f"{cid} body {i}: the used analysis sees what the scanner finds"
        slow = decoded_refs(body.locals, body.instrs)
        assert {k: v for k, v in fast.items() if v} == {k: v for k, v in slow.items() if v}, f"{cid} body {i}"


def test_fast_reference_scanner_on_gc_and_exceptions(gc_module):
    m = parse(gc_module)
    for body in m.code:
        fast = references(body.raw, base=body.offset)
        assert {k: v for k, v in fast.items() if v} == {k: v for k, v in decoded_refs(body.locals, body.instrs).items()
                                                      if v}


DECLARING_WAT = """(module
  (type $t (func (result i32)))
  (elem func $f)                         ;; passive: nothing table.inits it, but it declares $f
  (elem declare func $h)
  (func $f (type $t) (i32.const 7))
  (func $h (type $t) (i32.const 8))
  (func $dead (type $t) (i32.const 9))
  (elem func $dead)                      ;; names only a dead function: goes
  (func (export "g") (result i32) (call_ref $t (ref.func $f))))"""


@pytest.mark.parametrize("spec", ["", "br_on_null.0", "br_on_null.2", "br_on_non_null.0", "br_on_non_null.2",
                                  "ref_as_non_null.0"])
def test_gc_keeps_the_declaration_ref_func_needs(spec):
    """Issue 17.16: gc removed a passive segment nothing reads though it declared $f for ref.func (the output
    was invalid: undeclared function reference). The declaration stays (a declarative segment); the output
    validates, is no larger, and still computes."""
    if spec:
        from helpers import CONFORMANCE_DIR
        data = (CONFORMANCE_DIR / "valid" / "core" / f"{spec}.wasm").read_bytes()
    else:
        data = wasmtime.wat2wasm(DECLARING_WAT)
    res = passes.gc(parse(data))
    out = res.module.encode()
    validate_bytes(out)
    assert len(out) <= len(data)
    if not spec:
        # $dead and $h go, with the segments naming only them; $f's passive segment stays as a declaration
        assert res.removed["func"] == 2 and res.removed["elem"] == 2
        assert [e.mode for e in res.module.elems] == ["declarative"]
        store, exports = instantiate(out)
        assert exports["g"](store) == 7
