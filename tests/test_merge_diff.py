"""Differential tests of `wasmweld merge` (issue 3): merged module == the same modules linked at run time.

For every multi-module program (WAT in tests/fixtures/merge/wat, C compiled
with clang to bare wasm32 and to wasm32-wasi), the merged module -- default
(multi-memory) and --single-memory -- must validate in wasmtime, and every
export must give the same results, traps, globals, memories, host calls and
stdout as the separate modules instantiated through a ``wasmtime.Linker``.
With --single-memory, every input's own memory (exported or not) is compared
with its region of the one memory, at the base the merge reports.
Both worlds run inside the test (see tests/fixtures/merge/harness.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "fixtures" / "merge"))

import harness  # noqa: E402
from helpers import compile_c  # noqa: E402

from wasmweld import parse  # noqa: E402
from wasmweld.link import merge  # noqa: E402
from wasmweld.types import ExternKind  # noqa: E402

MERGE_FIX = HERE / "fixtures" / "merge"
MODES = ["multi", "single"]


def _merge(modules, mode: str, **kw) -> tuple[bytes, list[str], list | None]:
    """(merged bytes, warnings, memory layout: the regions of a single-memory merge, else None)."""
    warnings: list[str] = []
    plans = []
    opts = dict(kw)
    if mode == "single":
        opts.update(single_memory=True, drop_memory_exports=True)
    merged = merge(modules, warn=warnings.append, report=plans.append, **opts).encode()
    harness.validate(merged, multi_memory=(mode == "multi"))
    layout = plans[0].memory_layout if mode == "single" else None   # compare() checks it covers every memory
    return merged, warnings, layout


def _assert_same(linked, merged_t, calls) -> None:
    assert len(linked) == len(merged_t)
    for a, b in zip(linked, merged_t):
        assert a == b, f"linked {a!r}\n merged {b!r}"
    # the script really ran: every scripted call produced a result, and not all are traps
    outcomes = [entry[3] for entry in linked[: len(calls)]]
    assert all(o[0] in ("ok", "trap") for o in outcomes), outcomes
    assert sum(o[0] == "ok" for o in outcomes) >= max(1, len(outcomes) // 2)


def _no_cross_imports(merged: bytes, names) -> None:
    m = parse(merged)
    left = [f"{i.module}.{i.name}" for i in m.imports if i.module in set(names)]
    assert not left, f"imports between inputs were not fused: {left}"


# ------------------------------------------------------------------------------------------ WAT programs

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", harness.wat_programs(), ids=lambda p: Path(p).stem)
def test_wat_program(path, mode):
    prog = harness.load_wat_program(path)
    merged, _warnings, layout = _merge(prog.modules, mode)
    _no_cross_imports(merged, [n for n, _ in prog.modules])
    m = parse(merged)
    if mode == "single":
        assert m.num_memories <= 1
        harness.validate(merged, multi_memory=False)
    linked, merged_t = harness.compare(prog.modules, merged, prog.calls, multi_memory=(mode == "multi"),
                                       layout=layout, nosweep=prog.nosweep)
    _assert_same(linked, merged_t, prog.calls)


def test_wat_programs_cover_every_kind():
    """The WAT programs fuse funcs, tables, memories, globals and tags, with chains and a cycle."""
    kinds = set()
    for path in harness.wat_programs():
        prog = harness.load_wat_program(path)
        names = {n for n, _ in prog.modules}
        for _n, data in prog.modules:
            for imp in parse(data).imports:
                if imp.module in names:
                    kinds.add(imp.kind)
    assert kinds == set(ExternKind)


# ------------------------------------------------------------------------------------------ C: services

SERVICE_CALLS = [
    ("bank", "set_policy", (2,)),
    ("bank", "open", (4, 1000)),
    ("bank", "transfer", (1, 2, 100)),
    ("bank", "transfer", (2, 3, 5000)),
    ("bank", "transfer", (4, 1, 333)),
    ("ledger", "credit", (9, -5)),
    ("ledger", "debit", (3, 70)),
    ("bank", "total", (6,)),
    ("bank", "fees", ()),
    ("ledger", "balance", (0,)),
    ("ledger", "balance", (4,)),
    ("ledger", "name_char", (2, 1)),
    ("bank", "motto_char", (5,)),
    ("logger", "count", ()),
    ("logger", "code_at", (3,)),
    ("logger", "value_at", (3,)),
    ("logger", "checksum", ()),
    ("ledger", "changes", ()),
]


def services(debug_first: bool = False):
    src = MERGE_FIX / "c" / "services"
    flags = ["-g"] if debug_first else []
    return [
        ("logger", compile_c(src / "logger.c", target="wasm32", flags=flags)),
        ("ledger", compile_c(src / "ledger.c", target="wasm32")),
        ("bank", compile_c(src / "bank.c", target="wasm32")),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_c_services(mode):
    modules = services()
    merged, _, layout = _merge(modules, mode, export_conflicts="rename")
    _no_cross_imports(merged, ["logger", "ledger", "bank"])
    linked, merged_t = harness.compare(modules, merged, SERVICE_CALLS, policy="rename",
                                       multi_memory=(mode == "multi"), layout=layout)
    _assert_same(linked, merged_t, SERVICE_CALLS)
    m = parse(merged)
    assert m.num_memories == (3 if mode == "multi" else 1)
    assert len(m.imports) == 0


# ------------------------------------------------------------------------------------------ C: wasi

WASI_CALLS = [
    ("app", "report", (5,)),
    ("app", "report", (12,)),
    ("textlib", "digits", (1234567,)),
    ("app", "grow", (6,)),
    ("textlib", "sorted_hash", (3,)),
    ("app", "report", (1,)),
]


def wasi_program():
    src = MERGE_FIX / "c" / "wasi"
    reactor = ["-mexec-model=reactor"]
    return [
        ("app", compile_c(src / "app.c", target="wasm32-wasi", flags=reactor)),
        ("textlib", compile_c(src / "textlib.c", target="wasm32-wasi", flags=reactor)),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_c_wasi(mode):
    modules = wasi_program()
    merged, warnings, layout = _merge(modules, mode, export_conflicts="rename")
    _no_cross_imports(merged, ["app", "textlib"])
    # textlib links wasi-libc's stdio (snprintf) and so imports WASI with a memory of its own: said out loud
    assert any("textlib imports WASI" in w for w in warnings), warnings
    m = parse(merged)
    wasi = [i for i in m.imports if i.module == "wasi_snapshot_preview1"]
    assert len(wasi) == len({(i.name, i.desc) for i in wasi})          # deduplicated
    # (fd_close is gone: gc no longer keeps the first input's unused functions for its DWARF, issue 14)
    assert {"fd_write", "fd_seek"} <= {i.name for i in wasi}
    linked, merged_t = harness.compare(modules, merged, WASI_CALLS, policy="rename", initialize=True,
                                       multi_memory=(mode == "multi"), layout=layout)
    _assert_same(linked, merged_t, WASI_CALLS)
    stdout = linked[-1][1]
    assert "report 3: 7^1 has 1 digits" in stdout and "churn(6)" in stdout


# ------------------------------------------------------------------------------------------ the oracle itself

WRITE_ONLY = [
    ("a", harness.wasmtime.wat2wasm('(module (memory 1) (data (i32.const 0) "first")'
                                    ' (func (export "first") (result i32) i32.const 0 i32.load8_u))')),
    ("b", harness.wasmtime.wat2wasm('(module (memory 1) (data (i32.const 100) "write-only")'
                                    ' (func (export "put") (param i32 i32) local.get 0 local.get 1 i32.store)'
                                    ' (func (export "ping") (result i32) i32.const 7))')),
]
WRITE_ONLY_CALLS = [("a", "first", ()), ("b", "put", (200, 77)), ("b", "ping", ())]


def _break_rebasing(monkeypatch, what: str) -> None:
    """Make --single-memory misplace what lives above base 0 by 8 bytes: data segments or stores."""
    from wasmweld.binary.instr import Instr, MemArg
    from wasmweld.link import single_memory
    from wasmweld.module import ConstExpr, Data

    real = single_memory.lower_memories

    def broken(module, **kw):
        out = real(module, **kw)
        moved = min(r.base for r in kw["layout"].regions if r.base)
        if what == "data":
            for k, d in enumerate(out.datas):
                if d.mode == "active" and d.offset.int_value >= moved:
                    out.datas[k] = Data("active", 0, ConstExpr.i32(d.offset.int_value + 8), d.init, None)
        else:
            for body in out.code:
                body.instrs = [Instr(i.op, [MemArg(a.align, a.offset + 8, a.memory) if isinstance(a, MemArg)
                                            and a.offset >= moved else a for a in i.args]) for i in body.instrs]
        return out

    monkeypatch.setattr(single_memory, "lower_memories", broken)


@pytest.mark.parametrize("what", ["data", "store"])
def test_single_memory_comparison_catches_broken_rebasing(what, monkeypatch):
    """b's data and stores are never read back by an export: only the memory comparison can see them."""
    merged, _, layout = _merge(WRITE_ONLY, "single")
    assert [(r.input, r.input_memory, r.base > 0) for r in layout] == [("a", 0, False), ("b", 0, True)]
    linked, merged_t = harness.compare(WRITE_ONLY, merged, WRITE_ONLY_CALLS, multi_memory=False, layout=layout)
    _assert_same(linked, merged_t, WRITE_ONLY_CALLS)

    _break_rebasing(monkeypatch, what)
    broken, _, layout = _merge(WRITE_ONLY, "single")
    assert broken != merged
    linked, merged_t = harness.compare(WRITE_ONLY, broken, WRITE_ONLY_CALLS, multi_memory=False, layout=layout)
    differ = [(a, b) for a, b in zip(linked, merged_t) if a != b]
    assert [a[:3] for a, _b in differ] == [("memory-region", "b", 0)], differ
    assert "first difference at +0x" in differ[0][1][-1]
    # without the memory comparison (what single-memory runs compared before) the breakage went unseen
    linked, merged_t = harness.compare(WRITE_ONLY, broken, WRITE_ONLY_CALLS, multi_memory=False, memories=False)
    assert linked == merged_t
