"""The renumbering re-encoder (issue 2): wasmweld.binary.reencode.

What is checked, and against what:

* WAT fixtures (tests/fixtures/wat/renumber_*.wat) that use every index-carrying
  instruction and every element/data segment form: random permutations of every index
  space (imports permuted among imports, definitions among definitions, items moved with
  ``reindex``) give modules that wasmtime validates and whose exports compute what the
  original's compute; names follow their items.
* An independent oracle: ``renumber`` output decoded with instr.py / module.py equals the
  original with every index mapped (instruction by instruction, item by item).
* The regex fast path produces exactly what the table-driven generic path produces.
* Real corpus modules: every function index shifted by N (N dummy imports in front)
  validates (wasmtime; wabt for the legacy-exceptions module) and smoke calls agree.
* Widths: padded indices keep their width; indices that outgrow theirs are re-encoded
  and body sizes follow.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import tempfile
import zlib
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers
from wasmweld.binary.instr import decode_body, decode_expr
from wasmweld.binary.leb import write_s, write_u
from wasmweld.binary.opcodes import INDEX_KINDS, OPCODES
from wasmweld.binary.reencode import (
    SPACES, IndexMaps, Renumberer, Scanner, references, reindex, renumber, renumber_bytes,
)
from wasmweld.errors import DecodeError, EditError, WasmError
from wasmweld.module import Import, parse
from wasmweld.runtime.engine import engine, validate_bytes, wat2wasm
from wasmweld.types import ArrayType, ExternKind, FuncType, RefType, StructType

WAT_DIR = helpers.FIXTURES / "wat"
FIXTURES = sorted(p.name for p in WAT_DIR.glob("renumber_*.wat"))


def fixture_bytes(name: str) -> bytes:
    return wat2wasm((WAT_DIR / name).read_text())


# ----------------------------------------------------------------------------- running modules

def _const(key: str) -> int:
    return zlib.crc32(key.encode()) % 50 + 2


def _host_import(store, imp):
    """A host item for an import, derived from its name only (so permuted imports bind the same items)."""
    import wasmtime

    t = imp.type
    key = f"{imp.module}.{imp.name}"
    if isinstance(t, wasmtime.FuncType):
        k = _const(key) * 100
        n_results = len(list(t.results))

        def fn(*args):
            out = [k + sum(a for a in args if isinstance(a, int))] * n_results
            return out[0] if n_results == 1 else (out or None)
        return wasmtime.Func(store, t, fn)
    if isinstance(t, wasmtime.GlobalType):
        content = str(t.content)
        v = _const(key) % 3 + 1
        val = wasmtime.Val.i32(v) if content == "i32" else wasmtime.Val.i64(v) if content == "i64" else None
        return wasmtime.Global(store, t, val)
    if isinstance(t, wasmtime.TableType):
        return wasmtime.Table(store, t, None)
    if isinstance(t, wasmtime.MemoryType):
        return wasmtime.Memory(store, t)
    if isinstance(t, wasmtime.TagType):
        return wasmtime.Tag(store, t)
    raise TypeError(f"no host item for {t}")


def observe(wasm: bytes) -> dict:
    """Instantiate with name-derived imports, call every no-parameter export (name order), read the rest."""
    import wasmtime

    eng = engine(shared_memory=True)
    store = wasmtime.Store(eng)
    module = wasmtime.Module(eng, wasm)
    inst = wasmtime.Instance(store, module, [_host_import(store, imp) for imp in module.imports])
    exports = inst.exports(store)
    out = {}
    for name in sorted(e.name for e in module.exports):
        item = exports[name]
        if isinstance(item, wasmtime.Func):
            try:
                out[name] = ("ok", item(store))
            except wasmtime.Trap as e:
                out[name] = ("trap", e.trap_code)
        elif isinstance(item, wasmtime.Global):
            v = item.value(store)
            out[name] = ("global", v if isinstance(v, (int, float)) else type(v).__name__)
        elif isinstance(item, wasmtime.Memory):
            data = item.read(store, 0, item.data_len(store))
            out[name] = ("memory", item.size(store), hashlib.sha256(data).hexdigest())
        elif isinstance(item, wasmtime.Table):
            out[name] = ("table", item.size(store))
        else:
            out[name] = (type(item).__name__,)
    return out


# ----------------------------------------------------------------------------- random permutations

def _type_refs(rg) -> set[int]:
    refs: set[int] = set()

    def vt(t):
        if isinstance(t, RefType) and isinstance(t.heap, int):
            refs.add(t.heap)
    for sub in rg.types:
        refs.update(sub.supers)
        comp = sub.comp
        if isinstance(comp, FuncType):
            for t in comp.params + comp.results:
                vt(t)
        elif isinstance(comp, StructType):
            for f in comp.fields:
                vt(f.storage)
        else:
            vt(comp.field.storage)
    return refs


def type_permutation(m, rng: random.Random) -> list[int]:
    """Move whole recursion groups to a random order in which every group follows the groups it uses."""
    groups, start = [], 0
    for rg in m.types:
        groups.append((start, len(rg.types), _type_refs(rg)))
        start += len(rg.types)
    owner = {s + j: gi for gi, (s, n, _) in enumerate(groups) for j in range(n)}
    deps = [{owner[r] for r in refs} - {gi} for gi, (_, _, refs) in enumerate(groups)]
    placed: set[int] = set()
    perm = [0] * start
    nxt = 0
    while len(placed) < len(groups):
        g = rng.choice([g for g in range(len(groups)) if g not in placed and deps[g] <= placed])
        placed.add(g)
        s, n, _ = groups[g]
        for j in range(n):
            perm[s + j] = nxt
            nxt += 1
    return perm


def _shuffled(lo: int, hi: int, rng: random.Random) -> list[int]:
    xs = list(range(lo, hi))
    rng.shuffle(xs)
    return xs


def random_maps(m, rng: random.Random, spaces=SPACES) -> IndexMaps:
    """Random permutations: imports among imports, definitions among definitions."""
    defined = {"func": m.funcs, "table": m.tables, "memory": m.memories, "global": m.globals, "tag": m.tags}
    kw = {}
    for space in spaces:
        if space == "type":
            kw["type"] = type_permutation(m, rng)
        elif space in ("elem", "data"):
            kw[space] = _shuffled(0, len(m.elems if space == "elem" else m.datas), rng)
        else:
            n_imp = m.num_imported(ExternKind[space.upper()])
            key = "global_" if space == "global" else space
            kw[key] = _shuffled(0, n_imp, rng) + _shuffled(n_imp, n_imp + len(defined[space]), rng)
    return IndexMaps(**kw)


def _all_spaces_maps(rng: random.Random, n: int = 400) -> IndexMaps:
    """Random injective maps of every space into 0..n-1 (references only: the result need not be valid)."""
    return IndexMaps(**{("global_" if s == "global" else s): rng.sample(range(n), n) for s in SPACES})


# ----------------------------------------------------------------------------- the oracle

def _map_vt(t, maps):
    if isinstance(t, RefType) and isinstance(t.heap, int):
        return replace(t, heap=maps.lookup("type", t.heap))
    return t


def _map_arg(kind: str, a, maps):
    if kind in INDEX_KINDS:
        return maps.lookup(kind, a)
    if kind == "heaptype":
        return maps.lookup("type", a) if isinstance(a, int) else a
    if kind == "blocktype":
        return maps.lookup("type", a) if isinstance(a, int) else _map_vt(a, maps)
    if kind == "valtypes":
        return tuple(_map_vt(t, maps) for t in a)
    if kind == "memarg":
        return a._replace(memory=maps.lookup("memory", a.memory))
    if kind == "catches":
        return tuple(c if c.tag is None else c._replace(tag=maps.lookup("tag", c.tag)) for c in a)
    return a


def expected_instrs(instrs, maps):
    out = []
    for ins in instrs:
        kinds = [k for k in ins.op.imm if k != "zero"]
        out.append((ins.op.name, tuple(_map_arg(k, a, maps) for k, a in zip(kinds, ins.args))))
    return out


def expr_view(raw: bytes):
    instrs, _ = decode_expr(raw, 0, len(raw))
    return [(ins.op.name, tuple(ins.args)) for ins in instrs]


def check_against_oracle(old, new, maps) -> None:
    """``new`` (renumber(old, maps)) equals ``old`` with every reference mapped, item by item."""
    lk = maps.lookup
    # code
    assert len(new.code) == len(old.code)
    for i, (a, b) in enumerate(zip(old.code, new.code)):
        la, ia = decode_body(a.raw)
        lb, ib = decode_body(b.raw)
        assert [(n, _map_vt(t, maps)) for n, t in la] == list(lb), f"locals of body {i}"
        assert expected_instrs(ia, maps) == [(x.op.name, tuple(x.args)) for x in ib], f"body {i}"

    def cexpr(e):
        return None if e is None else expected_instrs(decode_expr(e.raw, 0, len(e.raw))[0], maps)

    def view(e):
        return None if e is None else expr_view(e.raw)
    # imports, functions, tables, tags, globals, exports, start
    for a, b in zip(old.imports, new.imports, strict=True):
        d = a.desc
        if a.kind == ExternKind.FUNC:
            d = lk("type", d)
        elif a.kind == ExternKind.TABLE:
            d = replace(d, elem=_map_vt(d.elem, maps))
        elif a.kind == ExternKind.GLOBAL:
            d = replace(d, val=_map_vt(d.val, maps))
        elif a.kind == ExternKind.TAG:
            d = replace(d, type_idx=lk("type", d.type_idx))
        assert (a.module, a.name, a.kind, d) == (b.module, b.name, b.kind, b.desc)
    assert [lk("type", t) for t in old.funcs] == new.funcs
    for a, b in zip(old.tables, new.tables, strict=True):
        assert replace(a.type, elem=_map_vt(a.type.elem, maps)) == b.type
        assert cexpr(a.init) == view(b.init)
    assert [lk("type", t.type.type_idx) for t in old.tags] == [t.type.type_idx for t in new.tags]
    for a, b in zip(old.globals, new.globals, strict=True):
        assert replace(a.type, val=_map_vt(a.type.val, maps)) == b.type
        assert cexpr(a.init) == view(b.init)
    space_of = {ExternKind.FUNC: "func", ExternKind.TABLE: "table", ExternKind.MEMORY: "memory",
                ExternKind.GLOBAL: "global", ExternKind.TAG: "tag"}
    assert [(e.name, e.kind, lk(space_of[e.kind], e.index)) for e in old.exports] == \
        [(e.name, e.kind, e.index) for e in new.exports]
    assert (None if old.start is None else lk("func", old.start)) == new.start
    # element and data segments
    for a, b in zip(old.elems, new.elems, strict=True):
        assert (a.mode, _map_vt(a.elem_type, maps)) == (b.mode, b.elem_type)
        if a.mode == "active":
            assert lk("table", a.table) == b.table
            assert cexpr(a.offset) == view(b.offset)
        if a.init and isinstance(a.init[0], int):
            assert [lk("func", f) for f in a.init] == list(b.init)
        else:
            assert [cexpr(e) for e in a.init] == [view(e) for e in b.init]
    for a, b in zip(old.datas, new.datas, strict=True):
        assert (a.mode, a.init) == (b.mode, b.init)
        if a.mode == "active":
            assert lk("memory", a.memory) == b.memory
            assert cexpr(a.offset) == view(b.offset)
    # types
    for a, b in zip(old.type_list(), new.type_list(), strict=True):
        assert [lk("type", s) for s in a.supers] == list(b.supers)
        ca, cb = a.comp, b.comp
        if isinstance(ca, FuncType):
            assert [_map_vt(t, maps) for t in ca.params + ca.results] == list(cb.params + cb.results)
        elif isinstance(ca, StructType):
            assert [replace(f, storage=_map_vt(f.storage, maps)) for f in ca.fields] == list(cb.fields)
        else:
            assert isinstance(ca, ArrayType)
            assert replace(ca.field, storage=_map_vt(ca.field.storage, maps)) == cb.field
    check_names(old, new, maps)


_NAME_SPACES = {"funcs": "func", "types": "type", "tables": "table", "memories": "memory", "globals": "global",
                "elems": "elem", "datas": "data", "tags": "tag", "locals": "func", "labels": "func", "fields": "type"}


def check_names(old, new, maps) -> None:
    """Every name of the old module names the same item, at its new index, in the new one."""
    a, b = old.names, new.names
    if a is None:
        assert b is None
        return
    for attr, space in _NAME_SPACES.items():
        want = {}
        for idx, name in getattr(a, attr).items():
            target = maps.target(space, idx)
            if target is not None:
                want[target] = name
        assert want == dict(getattr(b, attr)), f"{attr} names"


# ----------------------------------------------------------------------------- fixtures: coverage

# Legacy exception handling (try / catch / catch_all / rethrow / delegate), which neither
# wasmtime's WAT parser nor its validator accept: hand-assembled. Tags: 0 (param i32), 1 ().
LEGACY_TYPES = bytes.fromhex("01 08 02 60 01 7f 00 60 00 00".replace(" ", ""))
LEGACY_BODY = bytes.fromhex(
    "00"                      # no locals
    "06 40"                   # try
    "  41 07 08 00"           #   i32.const 7, throw 0
    "07 00 1a"                # catch 0: drop
    "07 01"                   # catch 1
    "  06 40 08 01 18 00"     #   try (throw 1) delegate 0
    "19 09 00"                # catch_all: rethrow 0
    "0b 0b".replace(" ", ""))


def legacy_module() -> bytes:
    """Types (i32)->() and ()->(); one function of type 1; two tags (types 0 and 1); the body above."""
    sec = lambda sid, payload: bytes((sid,)) + write_u(len(payload)) + payload   # noqa: E731
    return (b"\0asm\x01\0\0\0" + LEGACY_TYPES + sec(3, b"\x01\x01") + sec(13, b"\x02\x00\x00\x00\x01")
            + sec(10, b"\x01" + write_u(len(LEGACY_BODY)) + LEGACY_BODY))


def test_fixtures_cover_every_index_carrying_instruction():
    seen: set[str] = set()
    mem_nonzero: set = set()
    typed_heap: set[str] = set()
    typed_block: set[str] = set()
    for name in FIXTURES:
        m = parse(fixture_bytes(name))
        for body in m.code:
            for ins in body.instrs:
                seen.add(ins.name)
                for kind, a in zip([k for k in ins.op.imm if k != "zero"], ins.args):
                    if kind == "memarg" and a.memory:
                        mem_nonzero.add(ins.op.prefix)
                    if kind == "heaptype" and isinstance(a, int):
                        typed_heap.add(ins.name)
                    if kind == "blocktype" and isinstance(a, int):
                        typed_block.add(ins.name)
    for ins in decode_body(LEGACY_BODY)[1]:
        seen.add(ins.name)
    need = {op.name for op in OPCODES if set(op.imm) & INDEX_KINDS}
    assert need - seen == set(), "index-carrying instructions no fixture uses"
    assert {"try", "catch", "catch_all", "rethrow", "delegate", "try_table", "throw_ref", "select_t"} <= seen
    assert {None, 0xFD, 0xFE} <= mem_nonzero, "memargs naming a memory other than 0"
    assert {op.name for op in OPCODES if "heaptype" in op.imm} <= typed_heap, "heap types with a type index"
    assert {"block", "loop", "if"} <= typed_block, "block types with a type index"


def test_fixtures_use_every_segment_encoding():
    elem_flags, data_flags = set(), set()
    for name in FIXTURES:
        m = parse(fixture_bytes(name))
        elem_flags |= {e.flags for e in m.elems}
        data_flags |= {d.flags for d in m.datas}
    assert elem_flags == set(range(8))
    assert data_flags == {0, 1, 2}


# ----------------------------------------------------------------------------- fixtures: behaviour

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", FIXTURES)
def test_permutation_keeps_behaviour(name, seed):
    orig = fixture_bytes(name)
    want = observe(orig)
    rng = random.Random(f"{name}/{seed}")
    for spaces in [SPACES] + [(s,) for s in SPACES]:
        m = parse(orig)
        maps = random_maps(m, rng, spaces)
        new = reindex(m, maps)
        out = new.encode()
        validate_bytes(out)
        assert observe(out) == want, f"{spaces}: {maps!r}"
        check_names(m, new, maps)
        if spaces == SPACES:
            assert out != orig


def test_implicit_table_and_memory_zero_moving():
    """Swapping imported tables 0/1 and memories 0/1 turns implicit-index segments into explicit ones."""
    orig = fixture_bytes("renumber_core.wat")
    m = parse(orig)
    assert [e.flags for e in m.elems][:5] == [0, 1, 2, 3, 4] and m.datas[0].flags == 0
    maps = IndexMaps(table=[1, 0, 2, 3, 4, 5], memory=[1, 0, 2, 3, 4])
    new = reindex(m, maps)
    out = new.encode()
    validate_bytes(out)
    assert observe(out) == observe(orig)
    # active segments e0 (table 0, flags 0), e2 (table 2), e4 (table 0, flags 4), e6 (table 3), e8 (table 1)
    assert [(e.flags, e.table) for e in new.elems if e.mode == "active"] == [(2, 1), (2, 2), (6, 1), (6, 3), (2, 0)]
    assert (new.datas[0].flags, new.datas[0].memory) == (2, 1)
    # the fast path agrees with the generic one on the memory-0 rewrite of every memarg
    assert renumber_bytes(orig, Renumberer(maps)) == renumber_bytes(orig, Renumberer(maps, _fast=False))


@pytest.mark.parametrize("name", FIXTURES)
def test_renumber_matches_oracle(name):
    orig = fixture_bytes(name)
    old = parse(orig)
    rng = random.Random(name)
    for _ in range(3):
        # any injective maps will do for references (the result need not be valid)
        maps = _all_spaces_maps(rng)
        check_against_oracle(old, renumber(old, maps), maps)


def test_legacy_exception_tags():
    data = legacy_module()
    maps = IndexMaps(tag=[1, 0], type=[1, 0])
    out = renumber_bytes(data, maps)
    old, new = parse(data), parse(out)
    check_against_oracle(old, new, maps)
    assert [i.args for i in new.code[0].instrs if i.name in ("throw", "catch")] == [(1,), (1,), (0,), (0,)]
    assert out == renumber_bytes(data, Renumberer(maps, _fast=False))


def test_legacy_exception_module_validates_after_shift(peers_env):
    """wasmtime has no legacy exceptions; wabt validates them."""
    data = legacy_module()
    m = parse(data)
    shifted = renumber(m, IndexMaps(func=lambda i: i + 2))
    shifted.imports = [Import("x", f"f{i}", ExternKind.FUNC, 1) for i in range(2)]
    wabt_validate(shifted.encode(), peers_env)


# ----------------------------------------------------------------------------- fast path == generic path

@pytest.mark.parametrize("name", FIXTURES)
def test_fast_path_matches_generic_path_on_fixtures(name):
    data = fixture_bytes(name)
    rng = random.Random(name)
    for spaces in [SPACES] + [(s,) for s in SPACES]:
        full = _all_spaces_maps(rng)
        maps = IndexMaps(**{("global_" if s == "global" else s): full[s] for s in spaces})
        assert renumber_bytes(data, Renumberer(maps)) == renumber_bytes(data, Renumberer(maps, _fast=False))


@pytest.mark.parametrize("cid", ["jco-p1-adapter-reactor", "ts-web-tree-sitter", "em-webp-enc-simd",
                                 "rs-walrus-wasi-threads"])
def test_fast_path_matches_generic_path_on_corpus(cid, corpus_dir):
    data = helpers.corpus_path(cid).read_bytes()
    shift = lambda i: i + 1000   # noqa: E731
    for kw in ({"func": shift}, {"type": shift, "global_": shift}, {"memory": shift, "table": shift},
               {s: shift for s in ("type", "func", "table", "memory", "global_", "tag", "elem", "data")}):
        maps = IndexMaps(**kw)
        fast = renumber_bytes(data, Renumberer(maps))
        assert fast != data
        assert fast == renumber_bytes(data, Renumberer(maps, _fast=False)), kw


# ----------------------------------------------------------------------------- real modules

def wabt_validate(data: bytes, env: dict) -> None:
    """wabt's wasm-validate (every feature it knows, legacy exceptions included)."""
    with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
        f.write(data)
        f.flush()
        proc = subprocess.run(["wasm-validate", "--enable-all", f.name], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def shift_functions(data: bytes, n: int):
    """Every function index + n: rewrite references, then put n dummy imported functions in front."""
    m = renumber(parse(data), IndexMaps(func=lambda i: i + n))
    ftype = next(i for i, sub in enumerate(m.type_list()) if isinstance(sub.comp, FuncType))
    m.imports = [Import("wasmweld-test", f"dummy{i}", ExternKind.FUNC, ftype) for i in range(n)] + m.imports
    return m


# calls that exercise real code (direct and indirect calls, memory) without needing the host
SMOKE_CALLS = {
    "as-rabin": [("degree", 0x1234567), ("mod", 1000003, 97), ("degree", 1 << 40)],
    "ts-web-tree-sitter": [("iswspace", 32), ("iswalnum", 65), ("iswalnum", 33), ("malloc", 64),
                           ("calloc", 4, 8)],
    "rs-tiktoken": [("__wbindgen_add_to_stack_pointer", -16), ("__wbindgen_export_0", 8)],
}


def _stub_import(store, imp):
    """Imports for smoke calls: functions trap, globals are zero, tables and memories are fresh."""
    import wasmtime

    t = imp.type
    if isinstance(t, wasmtime.FuncType):
        def trap(*args):
            raise RuntimeError(f"import {imp.module}.{imp.name} called")
        return wasmtime.Func(store, t, trap)
    if isinstance(t, wasmtime.GlobalType):
        kind = str(t.content)
        val = {"i32": wasmtime.Val.i32, "i64": wasmtime.Val.i64, "f32": wasmtime.Val.f32,
               "f64": wasmtime.Val.f64}[kind](0)
        return wasmtime.Global(store, t, val)
    return _host_import(store, imp)


def smoke(data: bytes, calls) -> list:
    import wasmtime

    eng = engine(shared_memory=True)
    store = wasmtime.Store(eng)
    module = wasmtime.Module(eng, data)
    inst = wasmtime.Instance(store, module, [_stub_import(store, imp) for imp in module.imports])
    ex = inst.exports(store)
    out = []
    for name, *args in calls:
        try:
            out.append(("ok", ex[name](store, *args)))
        except wasmtime.Trap as e:
            out.append(("trap", e.trap_code))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("cid", helpers.corpus_ids())
def test_corpus_function_shift(cid, corpus_dir, peers_env):
    data = helpers.corpus_path(cid).read_bytes()
    n = 70   # pushes indices 58..127 past one LEB byte
    m = shift_functions(data, n)
    out = m.encode()
    assert len(out) > len(data)
    try:
        validate_bytes(data)
    except WasmError:
        # the original needs what wasmtime does not have (em-pyodide: legacy exceptions): wabt checks both
        wabt_validate(data, peers_env)
        wabt_validate(out, peers_env)
    else:
        validate_bytes(out)
    orig = parse(data)
    assert len(m.code) == len(orig.code) and m.num_funcs == orig.num_funcs + n
    assert [e.index for e in m.exports if e.kind == ExternKind.FUNC] == \
        [e.index + n for e in orig.exports if e.kind == ExternKind.FUNC]
    if orig.names is not None and orig.names.funcs:
        assert m.names.funcs == {i + n: name for i, name in orig.names.funcs.items()}
    if cid in SMOKE_CALLS:
        want = smoke(data, SMOKE_CALLS[cid])
        assert any(r[0] == "ok" for r in want)
        assert smoke(out, SMOKE_CALLS[cid]) == want


# ----------------------------------------------------------------------------- widths

def _module_with_body(body: bytes, n_funcs: int) -> bytes:
    """n_funcs functions of type ()->(i32): function 0 has ``body``, the others return their index."""
    sec = lambda sid, payload: bytes((sid,)) + write_u(len(payload)) + payload   # noqa: E731
    bodies = [body] + [b"\x00\x41" + write_s(i) + b"\x0b" for i in range(1, n_funcs)]
    code = write_u(n_funcs) + b"".join(write_u(len(b)) + b for b in bodies)
    exports = b"\x01\x03run\x00\x00"
    return (b"\0asm\x01\0\0\0" + sec(1, b"\x01\x60\x00\x01\x7f") + sec(3, write_u(n_funcs) + b"\x00" * n_funcs)
            + sec(7, exports) + sec(10, code))


def test_padded_index_keeps_its_width():
    # call 3 written as LLVM writes relocatable indices: 10 83 80 80 80 00
    body = b"\x00\x10\x83\x80\x80\x80\x00\x0b"
    data = _module_with_body(body, 200)
    assert observe(data)["run"] == ("ok", 3)
    perm = list(range(200))
    perm[3], perm[150] = 150, 3
    new = reindex(parse(data), IndexMaps(func=perm))
    out = new.encode()
    assert new.code[0].raw == b"\x00\x10\x96\x81\x80\x80\x00\x0b"     # 150, still five bytes
    assert len(out) == len(data)
    validate_bytes(out)
    assert observe(out)["run"] == ("ok", 3)


def test_index_that_outgrows_its_width_is_reencoded():
    body = b"\x00\x10\x03\x0b"                                           # call 3, one byte
    data = _module_with_body(body, 200)
    perm = list(range(200))
    perm[3], perm[150] = 150, 3
    new = reindex(parse(data), IndexMaps(func=perm))
    assert new.code[0].raw == b"\x00\x10\x96\x01\x0b"
    out = new.encode()
    validate_bytes(out)
    assert observe(out)["run"] == ("ok", 3)


def test_block_type_index_outgrowing_signed_byte():
    """A block type index is an s33: 63 fits one byte, 64 needs two."""
    types = [f"(type $t{i} (func (result i32 i32)))" for i in range(70)]
    wasm = wat2wasm(f"""(module {' '.join(types)}
      (func (export "run") (result i32) (block (type $t5) (i32.const 2) (i32.const 3)) i32.add))""")
    m = parse(wasm)
    perm = list(range(len(m.type_list())))      # 70 + the exported function's type
    perm[5], perm[64] = 64, 5
    new = reindex(m, IndexMaps(type=perm))
    assert b"\x02\xc0\x00" in new.code[0].raw                           # block, s33 64 = c0 00
    out = new.encode()
    validate_bytes(out)
    assert observe(out)["run"] == ("ok", 5)


def test_corpus_padded_indices_keep_width(corpus_dir):
    """jco's adapter has 94 distinct five-byte call indices: after a shift every one is still five bytes."""
    data = helpers.corpus_path("jco-p1-adapter-reactor").read_bytes()
    maps = IndexMaps(func=lambda i: i + 5)
    old, new = parse(data), renumber(parse(data), maps)
    padded = 0
    for a, b in zip(old.code, new.code, strict=True):
        for x, y in zip(decode_body(a.raw)[1], decode_body(b.raw)[1], strict=True):
            if x.name in ("call", "return_call", "ref.func"):
                assert y.args == (x.args[0] + 5,)
                if len(x.raw) == 6:
                    padded += 1
                    assert len(y.raw) == 6
    assert padded > 50
    assert sum(len(b.raw) for b in new.code) == sum(len(b.raw) for b in old.code)


# ----------------------------------------------------------------------------- API details and errors

def test_identity_maps_touch_nothing():
    data = fixture_bytes("renumber_core.wat")
    m = parse(data)
    assert renumber(m, IndexMaps()) is m
    assert IndexMaps(func=range(10), type=[0, 1, 2], global_={0: 0, 1: 1}).is_identity()
    assert renumber_bytes(data, IndexMaps(func=list(range(5)))) is data
    r = Renumberer(IndexMaps(global_=lambda i: i + 1))
    body = m.code[0].raw                           # $c10: no global
    assert r.body(body) is body
    # a space whose map is identity is left alone even where other spaces change
    out = renumber_bytes(data, IndexMaps(global_=lambda i: i))
    assert out == data


def test_body_and_const_expr():
    r = Renumberer(IndexMaps(func=[1, 0], global_=[0, 5]))
    assert r.body(bytes.fromhex("00 10 00 10 01 23 01 0b")) == bytes.fromhex("00 10 01 10 00 23 05 0b")
    assert r.const_expr(bytes.fromhex("d2 00 0b")) == bytes.fromhex("d2 01 0b")
    assert r.const_expr(bytes.fromhex("23 01 41 01 6a 0b")) == bytes.fromhex("23 05 41 01 6a 0b")
    # locals with a typed reference: (local (ref null 3))
    rt = Renumberer(IndexMaps(type=lambda i: i + 100))
    assert rt.body(bytes.fromhex("01 02 63 03 0b")) == bytes.fromhex("01 02 63 e7 00 0b")


def test_removed_item_names_dropped_and_references_refused():
    wasm = wat2wasm("""(module
      (func $keep (export "k") (result i32) (i32.const 1))
      (func $gone (result i32) (i32.const 2))
      (func $user (export "u") (result i32) (call $keep)))""")
    m = parse(wasm)
    new = reindex(m, IndexMaps(func=[0, None, 1]))
    out = new.encode()
    validate_bytes(out)
    assert new.names.funcs == {0: "keep", 1: "user"}
    assert observe(out) == {"k": ("ok", 1), "u": ("ok", 1)}
    with pytest.raises(EditError, match="func index 0 is referenced but was removed"):
        renumber(m, IndexMaps(func=[None, 0, 1]))
    with pytest.raises(EditError, match="no entry in the func map"):
        renumber(m, IndexMaps(func=[1, 0]))


def test_reindex_refuses_a_non_permutation():
    m = parse(fixture_bytes("renumber_core.wat"))
    n_imp = m.num_imported(ExternKind.FUNC)
    moves_import_last = list(range(1, m.num_funcs)) + [0]
    with pytest.raises(EditError, match="imports must stay before definitions"):
        reindex(m, IndexMaps(func=moves_import_last))
    with pytest.raises(EditError, match="recursion group"):
        gc = parse(fixture_bytes("renumber_gc.wat"))
        reindex(gc, IndexMaps(type=[0, 2, 1] + list(range(3, len(gc.type_list())))))
    assert n_imp == 3


def test_bad_input_raises_decode_errors_with_offsets():
    r = Renumberer(IndexMaps(func=lambda i: i + 1))
    with pytest.raises(DecodeError) as e:
        r.body(b"\x00\x10\x80\x80")                  # call with a truncated index
    assert e.value.offset is not None
    with pytest.raises(DecodeError, match="illegal opcode"):
        r.body(b"\x00\xff\x0b", base=100)
    with pytest.raises(DecodeError, match="code body 0"):
        renumber_bytes(_module_with_body(b"\x00\x10\x80\x80\x80\x80\x80\x00\x0b", 2), IndexMaps(func=[1, 0]))


def _custom(name: str, data: bytes) -> bytes:
    payload = write_u(len(name)) + name.encode() + data
    return b"\x00" + write_u(len(payload)) + payload


def test_malformed_name_section_is_dropped_not_fatal():
    wasm = wat2wasm("(module (func (result i32) (i32.const 1)) (func (export \"f\") (result i32) (call 0)))")
    assert parse(wasm).custom("name") is None
    bad = wasm + _custom("name", b"\x01\x09\x02\x00\x01a")        # func names: 9 bytes announced, 5 there
    out = renumber_bytes(bad, IndexMaps(func=[1, 0]))
    assert parse(out).custom("name") is None
    assert out[:len(wasm)] != wasm                                      # the code did change
    with pytest.raises(DecodeError, match="name subsection"):
        Renumberer(IndexMaps(func=[1, 0])).section(0, bad[len(wasm) + 2:])


def test_section_api():
    r = Renumberer(IndexMaps(func=[2, 0, 1], type=[1, 0]))
    assert r.section(3, b"\x03\x00\x01\x00") == b"\x03\x01\x00\x01"          # function section: types
    assert r.section(7, b"\x01\x01f\x00\x02") == b"\x01\x01f\x00\x01"          # export f -> func 1
    assert r.section(8, b"\x01") == b"\x00"                                        # start
    assert r.section(5, b"\x01\x00\x01") == b"\x01\x00\x01"                     # memories: untouched
    names = write_u(4) + b"name" + b"\x01\x07\x02\x00\x01a\x02\x01c"            # func names {0: a, 2: c}
    assert r.section(0, names) == write_u(4) + b"name" + b"\x01\x07\x02\x01\x01c\x02\x01a"
    other = write_u(5) + b"other" + b"\x10"
    assert r.section(0, other) == other


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_modules_only_raise_wasm_errors(data):
    base = bytearray(_FUZZ_SEED)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(8, len(base) - 1))
        how = data.draw(st.sampled_from(["flip", "set", "cut", "insert"]))
        if how == "flip":
            base[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "set":
            base[pos] = data.draw(st.integers(0, 255))
        elif how == "cut":
            del base[pos:pos + data.draw(st.integers(1, 16))]
        else:
            base[pos:pos] = bytes(data.draw(st.lists(st.integers(0, 255), min_size=1, max_size=8)))
        if len(base) <= 9:
            break
    shift = lambda i: i + 1   # noqa: E731
    maps = IndexMaps(type=shift, func=shift, table=shift, memory=shift, global_=shift, tag=shift, elem=shift,
                     data=shift)
    try:
        renumber_bytes(bytes(base), maps)
    except WasmError:
        pass


_FUZZ_SEED = wat2wasm((WAT_DIR / "renumber_core.wat").read_text())


# ----------------------------------------------------------------------------- Scanner / references

def const_exprs(m) -> list[bytes]:
    out = [g.init.raw for g in m.globals] + [t.init.raw for t in m.tables if t.init is not None]
    for el in m.elems:
        if el.offset is not None:
            out.append(el.offset.raw)
        out.extend(x.raw for x in el.init if not isinstance(x, int))
    return out + [d.offset.raw for d in m.datas if d.offset is not None]


def check_scanner(m, spaces_list=(SPACES,)) -> int:
    """Scanner results == the decoding oracle for every body and constant expression of ``m``."""
    scanners = [Scanner(spaces) for spaces in spaces_list]
    for i, body in enumerate(m.code):
        locals_, instrs = decode_body(body.raw)
        for sc in scanners:
            assert sc.body(body.raw) == helpers.decoded_refs(locals_, instrs, sc.spaces), (i, sc)
            assert sc.sites(body.raw) == helpers.decoded_sites(instrs, sc.spaces), (i, sc)
    for raw in const_exprs(m):
        instrs = decode_expr(raw, 0, len(raw))[0]
        for sc in scanners:
            assert sc.const_expr(raw) == helpers.decoded_refs((), instrs, sc.spaces), (raw.hex(), sc)
            assert sc.sites(raw, body=False) == helpers.decoded_sites(instrs, sc.spaces), (raw.hex(), sc)
    return len(m.code)


EACH_SPACE = [SPACES] + [(s,) for s in SPACES] + [("type", "table"), ("func", "memory", "global")]


@pytest.mark.parametrize("name", FIXTURES)
def test_scanner_matches_decoding_on_fixtures(name):
    """The fixtures use every index-carrying instruction (see the coverage test above)."""
    assert check_scanner(parse(fixture_bytes(name)), EACH_SPACE) > 0


def test_scanner_on_legacy_exceptions():
    m = parse(legacy_module())
    check_scanner(m, EACH_SPACE)
    assert Scanner({"tag"}).body(LEGACY_BODY) == {"tag": {0, 1}}


def test_scanner_matches_decoding_on_conformance(conformance_dir):
    rows = helpers.conformance_rows("valid")
    assert len(rows) > 2400
    bodies = 0
    for row in rows:
        m = parse((conformance_dir / row["path"]).read_bytes())
        try:
            bodies += check_scanner(m)
        except AssertionError as e:
            raise AssertionError(f"{row['path']}: {e}") from None
    assert bodies > 8000


@pytest.mark.parametrize("cid", ["as-sha256-simd", "jco-p1-adapter-reactor", "ts-web-tree-sitter",
                                 "em-webp-enc-simd", "rs-walrus-wasi-threads"])
def test_scanner_matches_decoding_on_corpus(cid, corpus_dir):
    m = parse(helpers.corpus_path(cid).read_bytes())
    assert check_scanner(m, [SPACES, ("type", "table")]) == len(m.code) > 0


def _memarg_op(memory: int, width: int, implicit: bool) -> bytes:
    """i32.load of ``memory`` (implicit memory 0 when asked, else explicit in ``width`` bytes)."""
    if implicit:
        return b"\x28\x02\x00"
    return b"\x28\x42" + leb_width(memory, width) + b"\x04"


def leb_width(v: int, width: int) -> bytes:
    out = bytearray()
    for i in range(width):
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if i < width - 1 else 0))
    return bytes(out)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("mem"), st.sampled_from([0, 1, 2, 5, 127, 128, 300]), st.integers(1, 3), st.booleans()),
    st.tuples(st.just("call"), st.integers(0, 300), st.integers(1, 3), st.booleans()),
    st.tuples(st.just("msize"), st.sampled_from([0, 1, 3, 129]), st.integers(1, 2), st.booleans()),
    st.tuples(st.just("plain"), st.integers(0, 0x7F), st.integers(1, 1), st.booleans()),
), max_size=40))
def test_scanner_memory_skipping_never_loses_a_reference(ops):
    """Once a memory was seen in a body, the scanner no longer stops at its memargs: random mixes of
    memargs (implicit memory 0, explicit ones, padded ones, indices above 127), memory.size and calls
    must still give exactly what decoding gives, with scanners reused from body to body."""
    code = bytearray(b"\x00")
    for kind, v, width, flag in ops:
        width = max(width, (v.bit_length() + 6) // 7)
        if kind == "mem":
            code += _memarg_op(v, width, flag and v == 0)
        elif kind == "call":
            code += b"\x10" + leb_width(v, width)
        elif kind == "msize":
            code += b"\x3f" + leb_width(v, width)
        else:
            code += b"\x41" + bytes((v,)) + b"\x1a"        # i32.const v; drop
    code += b"\x0b"
    raw = bytes(code)
    locals_, instrs = decode_body(raw)
    for sc in _REUSED_SCANNERS:
        assert sc.body(raw) == helpers.decoded_refs(locals_, instrs, sc.spaces)
        assert sc.sites(raw) == helpers.decoded_sites(instrs, sc.spaces)


_REUSED_SCANNERS = [Scanner(SPACES), Scanner({"memory"}), Scanner({"memory", "func"})]


def test_scanner_api():
    raw = bytes.fromhex("00 10 05 41 00 28 02 00 1a 23 02 1a 02 03 0b d2 07 1a 0b")
    assert Scanner().body(raw) == {"type": {3}, "func": {5, 7}, "table": set(), "memory": {0}, "global": {2},
                                   "tag": set(), "elem": set(), "data": set()}
    assert Scanner(["func", "global_"]).body(raw) == {"func": {5, 7}, "global": {2}}
    assert Scanner("memory").body(raw) == {"memory": {0}}
    assert Scanner(()).body(raw) == {}
    assert references(raw, {"func"}) == {"func": {5, 7}}
    assert references(raw) == Scanner().body(raw)
    assert Scanner({"func", "memory"}).sites(raw) == [("call", (("func", 5),)), ("i32.load", (("memory", 0),)),
                                                      ("ref.func", (("func", 7),))]
    # call_indirect (type 3, table 1): both, in immediate order
    assert Scanner({"type", "table"}).sites(bytes.fromhex("00 41 00 11 03 01 0b")) == [
        ("call_indirect", (("type", 3), ("table", 1)))]
    assert Scanner({"global"}).const_expr(bytes.fromhex("23 04 41 01 6a 0b")) == {"global": {4}}
    assert Scanner().expr(bytes.fromhex("23 04 0b"))["global"] == {4}
    # locals: (local (ref null 9)) is a type reference of the body, not a site
    assert Scanner({"type"}).body(bytes.fromhex("01 01 63 09 0b")) == {"type": {9}}
    assert Scanner({"type"}).sites(bytes.fromhex("01 01 63 09 0b")) == []
    assert "func" in repr(Scanner({"func"}))
    with pytest.raises(ValueError, match="unknown index space"):
        Scanner({"function"})


def test_scanner_bad_input_raises_decode_errors_with_offsets():
    """The same errors, at the same offsets, as decoding and re-encoding."""
    sc = Scanner()
    for raw in (b"\x00\x10\x80\x80",                           # call with a truncated index
                b"\x00\x10\x80\x80\x80\x80\x80\x00\x0b",          # a 6-byte u32
                b"\x00\x10\xff\xff\xff\xff\x7f\x0b",               # beyond 32 bits
                b"\x00\x28\x42\x80",                           # memarg: truncated memory index
                b"\x00\xff\x0b"):                               # illegal opcode
        with pytest.raises(DecodeError) as want:
            decode_body(raw, 100)
        for scan in (sc.body, sc.sites, Scanner({"func"}).body):
            with pytest.raises(DecodeError) as got:
                scan(raw, 100)
            assert (str(got.value), got.value.offset) == (str(want.value), want.value.offset), raw.hex()
            assert got.value.offset >= 100


def _random_chain(rng: random.Random, sizes: dict, removal: bool) -> tuple[IndexMaps, IndexMaps]:
    """A first map per space (shifts across LEB width limits, shuffles) and a second one (optionally removing)."""
    first, then = {}, {}
    for space, k in sizes.items():
        shift = rng.choice([0, 1, 5, 100, 127, 128, 16000])
        f = [i + shift for i in range(k + 300)]
        if rng.random() < 0.5:
            rng.shuffle(f)
        first[space] = f
        t, c = [], 0
        for _ in range(max(f) + 1):
            if removal and rng.random() < 0.3:
                t.append(None)
            else:
                t.append(c)
                c += 1
        then[space] = t

    def mk(d):
        return IndexMaps(type=d["type"], func=d["func"], table=d["table"], memory=d["memory"], global_=d["global"],
                         tag=d["tag"], elem=d["elem"], data=d["data"])
    return mk(first), mk(then)


def _outcome(fn):
    try:
        return fn()
    except WasmError as exc:
        return ("error", type(exc).__name__)


@pytest.mark.parametrize("cid", ["rs-tiktoken", "em-quickjs", "as-sha256-simd", "ts-c-side"])
def test_chained_renumberer_equals_two_passes(cid, corpus_dir):
    """Renumberer(a, then=b) writes exactly what Renumberer(b) after Renumberer(a) writes (merge's one-pass gc)."""
    m = parse((corpus_dir / f"{cid}.wasm").read_bytes())
    sizes = {"type": len(m.type_list()), "func": m.num_funcs, "table": m.num_tables, "memory": max(m.num_memories, 3),
             "global": m.num_globals, "tag": m.num_tags, "elem": len(m.elems), "data": len(m.datas)}
    rng = random.Random(cid)
    bodies = m.code[:300]
    compared = 0
    for trial in range(4):
        first, then = _random_chain(rng, sizes, removal=trial % 2 == 1)
        r1, r2, chained = Renumberer(first), Renumberer(then), Renumberer(first, then=then)
        for body in bodies:
            two = _outcome(lambda r1=r1, r2=r2, raw=body.raw: r2.body(r1.body(raw)))
            one = _outcome(lambda rc=chained, raw=body.raw: rc.body(raw))
            assert one == two, f"{cid} trial {trial}: chained renumbering differs from two passes"
            compared += 1
    assert compared == 4 * len(bodies) > 0


@pytest.mark.parametrize("first,then", [
    ([1, 0, 2], [None, 0, 1]), ([0, 1, 2], [5, None, 200]), ([200, 1, 2], [0, 1, 2] + [None] * 197 + [3]),
    ([3, 4, 5], [0, 1, 2, 0, 1, 2]), ([1, 0, 2], [1, 0, 2]), ([0, 1, 2], [2, 0, 1]),
])
def test_chained_renumberer_memory_index_forms(first, then):
    """Implicit memory 0 made explicit by the first map, and back, gives the two-pass bytes."""
    wat = ('(module (memory 1) (memory 1) (memory 1) (func (param i32) (result i32) (i32.load (local.get 0)) '
           '(i32.load 1 (local.get 0)) i32.add (i32.store 2 (local.get 0) (i32.const 1))))')
    raw = parse(wat2wasm(wat)).code[0].raw
    f, t = IndexMaps(memory=first), IndexMaps(memory=then)
    assert _outcome(lambda: Renumberer(f, then=t).body(raw)) == _outcome(lambda: Renumberer(t).body(Renumberer(f).body(raw)))
