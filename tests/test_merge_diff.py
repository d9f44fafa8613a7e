"""Differential tests of `wasmweld merge` (issue 3): merged module == the same modules linked at run time.

For every multi-module program (WAT in tests/fixtures/merge/wat, C compiled
with clang to bare wasm32 and to wasm32-wasi), the merged module -- default
(multi-memory) and --single-memory -- must validate in wasmtime, and every
export must give the same results, traps, globals, memories, host calls and
stdout as the separate modules instantiated through a ``wasmtime.Linker``.
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


def _merge(modules, mode: str, **kw) -> tuple[bytes, list[str]]:
    warnings: list[str] = []
    opts = dict(kw)
    if mode == "single":
        opts.update(single_memory=True, drop_memory_exports=True)
    merged = merge(modules, warn=warnings.append, **opts).encode()
    harness.validate(merged, multi_memory=(mode == "multi"))
    return merged, warnings


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
    merged, _warnings = _merge(prog.modules, mode)
    _no_cross_imports(merged, [n for n, _ in prog.modules])
    m = parse(merged)
    if mode == "single":
        assert m.num_memories <= 1
        harness.validate(merged, multi_memory=False)
    linked, merged_t = harness.compare(prog.modules, merged, prog.calls, multi_memory=(mode == "multi"),
                                       memories=(mode == "multi"), nosweep=prog.nosweep)
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
    merged, _ = _merge(modules, mode, export_conflicts="rename")
    _no_cross_imports(merged, ["logger", "ledger", "bank"])
    linked, merged_t = harness.compare(modules, merged, SERVICE_CALLS, policy="rename",
                                       multi_memory=(mode == "multi"), memories=(mode == "multi"))
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
    merged, warnings = _merge(modules, mode, export_conflicts="rename")
    _no_cross_imports(merged, ["app", "textlib"])
    # textlib links wasi-libc's stdio (snprintf) and so imports WASI with a memory of its own: said out loud
    assert any("textlib imports WASI" in w for w in warnings), warnings
    m = parse(merged)
    wasi = [i for i in m.imports if i.module == "wasi_snapshot_preview1"]
    assert len(wasi) == len({(i.name, i.desc) for i in wasi})          # deduplicated
    assert {"fd_write", "fd_close", "fd_seek"} <= {i.name for i in wasi}
    linked, merged_t = harness.compare(modules, merged, WASI_CALLS, policy="rename", initialize=True,
                                       multi_memory=(mode == "multi"), memories=(mode == "multi"))
    _assert_same(linked, merged_t, WASI_CALLS)
    stdout = linked[-1][1]
    assert "report 3: 7^1 has 1 digits" in stdout and "churn(6)" in stdout
