"""DWARF through ``merge`` (issue 14): every input's debug info rebased onto the merged code.

Three C services built with ``clang -g`` (shop -> pricing -> audit, calls fused by the merge)
are merged with and without ``--single-memory``; ``llvm-dwarfdump --verify`` must find no error,
and for >= 200 code addresses of each input ``wasm-tools addr2line`` (and wasmweld's own) must
print the same frames on the merged module at the corresponding address.
"""

from __future__ import annotations

import pytest
from dwarfcheck import (
    assert_same_lines, build_dwarf_services, corresponding, split_frames, verify, wasm_tools_addr2line,
)

from wasmweld import parse
from wasmweld.dwarf import debug_sections
from wasmweld.dwarf.lookup import DebugInfo, format_frames
from wasmweld.link import merge


@pytest.fixture(scope="module")
def services():
    return build_dwarf_services()


@pytest.mark.parametrize("version", [4, 5], ids=["dwarf4", "dwarf5"])
@pytest.mark.parametrize("single_memory", [False, True], ids=["multi-memory", "single-memory"])
def test_merged_dwarf_verifies_and_lines_match(single_memory, version, tmp_path):
    services = build_dwarf_services(version)
    sections = {cs.name for cs in parse(services[0][1]).customs}
    assert (".debug_rnglists" in sections) == (version == 5)       # really DWARF 5's forms
    warnings: list[str] = []
    out = merge(services, export_conflicts="rename", single_memory=single_memory, drop_memory_exports=single_memory,
                warn=warnings.append).encode()
    assert not any("dropped the DWARF" in w for w in warnings), warnings
    # multi-memory: pricing's and audit's variables live in memories 1 and 2, said out loud
    moved = sorted(w.split()[3] for w in warnings if "places its variables in its memory" in w)
    assert moved == ([] if single_memory else ["audit", "pricing"]), warnings
    assert len(parse(out).imports) == 0            # every call between the services was fused
    report = verify(out, tmp_path)
    assert report.count("Verifying unit:") == 3     # one compile unit per input
    for name, data in services:
        assert assert_same_lines(data, out, name, tmp_path) >= 150


def test_own_addr2line_matches_wasm_tools(services, tmp_path):
    out = merge(services, export_conflicts="rename", warn=lambda text: None).encode()
    dbg = DebugInfo(debug_sections(parse(out)))
    addrs = sorted({b for name, data in services for _a, b in corresponding(data, out, name, limit=120)})
    ref = wasm_tools_addr2line(out, addrs + [0, 1, 1 << 20], tmp_path)
    mine = split_frames("\n".join(format_frames(a, dbg.frames(a)) for a in addrs + [0, 1, 1 << 20]))
    assert mine == ref
    assert sum("|" in x for x in ref) > 0            # some addresses are inside inlined calls


def test_input_without_dwarf_contributes_none(services, tmp_path):
    from helpers import compile_c
    from dwarfcheck import DWARF_C
    plain = compile_c(DWARF_C / "audit.c", target="wasm32")          # no -g
    ins = [services[0], services[1], ("audit", plain)]
    out = merge(ins, export_conflicts="rename", warn=lambda text: None).encode()
    verify(out, tmp_path)
    assert "audit.c" not in str(debug_sections(parse(out)).get(".debug_str", b""))
    for name, data in ins[:2]:
        assert_same_lines(data, out, name, tmp_path)


def test_wasi_libc_dwarf_merged(tmp_path):
    """Two WASI reactors whose wasi-libc brings ~60 compile units each, with wasm-ld's tombstones
    (-1 / -2) for the libc code it dropped, and functions the merge's gc removes: verify-clean, and
    addr2line still agrees on the code that stays."""
    from helpers import FIXTURES, compile_c
    src = FIXTURES / "merge" / "c" / "wasi"
    ins = [(n, compile_c(src / f"{n}.c", target="wasm32-wasi", flags=["-g", "-mexec-model=reactor"]))
           for n in ("app", "textlib")]
    warnings: list[str] = []
    out = merge(ins, export_conflicts="rename", warn=warnings.append).encode()
    assert not any("dropped the DWARF" in w for w in warnings), warnings
    assert len(parse(out).code) < sum(len(parse(d).code) for _n, d in ins)      # gc removed code
    report = verify(out, tmp_path)
    assert report.count("Verifying unit:") > 60
    for name, data in ins:
        assert_same_lines(data, out, name, tmp_path)


def _variable_address(data: bytes, name: str, tmp_path) -> int:
    """``DW_OP_addr`` of global variable ``name`` as llvm-dwarfdump reads it (DWARF 4)."""
    import re
    import subprocess

    from dwarfcheck import dwarfdump
    path = tmp_path / "v.wasm"
    path.write_bytes(data)
    text = subprocess.run([dwarfdump(), "--debug-info", f"--name={name}", str(path)], capture_output=True,
                          text=True, check=True).stdout
    found = re.findall(r"DW_OP_addr 0x([0-9a-f]+)", text)
    assert len(found) == 1, text
    return int(found[0], 16)


def test_single_memory_moves_variable_addresses(services, tmp_path):
    """With --single-memory audit's memory moves up; the DWARF location of its ``ring`` follows,
    so memory read there holds what audit_log wrote (ring[0] = code * 1000 + amount)."""
    from wasmweld.runtime.world import World
    out = merge(services, export_conflicts="rename", single_memory=True, drop_memory_exports=True,
                warn=lambda text: None).encode()
    before = _variable_address(dict(services)["audit"], "ring", tmp_path)
    after = _variable_address(out, "ring", tmp_path)
    assert after > before + 65536                        # audit's region is not at the bottom
    world = World()
    world.add("svc", out)
    world.invoke("svc", "audit_log", 7, 123)
    assert world.memory("svc").read_i32(after) == 7123
