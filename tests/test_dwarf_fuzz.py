"""Hostile DWARF (issue 14): mutated ``.debug_*`` sections through merge, edit and addr2line.

Every outcome must be a result or a :class:`WasmError` (the input's DWARF dropped with a warning,
or a clean refusal), never another exception. ``WASMWELD_DWARF_FUZZ=N`` runs N cases (default 60).
"""

from __future__ import annotations

import os
import random

import pytest
from dwarfcheck import build_dwarf_services

from wasmweld import parse
from wasmweld.dwarf.lookup import addr2line
from wasmweld.errors import WasmError
from wasmweld.link import merge
from wasmweld.passes.registry import Op, apply_ops

CASES = int(os.environ.get("WASMWELD_DWARF_FUZZ", "60"))


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    m = parse(data)
    cs = rnd.choice([c for c in m.customs if c.name.startswith(".debug_")])
    b = bytearray(cs.data)
    for _ in range(rnd.choice([1, 2, 5, 20])):
        r = rnd.random()
        if r < 0.6 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif r < 0.8 and b:
            del b[rnd.randrange(len(b)):][:rnd.randrange(1, 50)]
        else:
            p = rnd.randrange(len(b) + 1)
            b[p:p] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 8)))
    name = cs.name
    m.remove_custom(cs)
    m.add_custom(name, bytes(b))
    return m.encode()


@pytest.mark.parametrize("version", [4, 5])
def test_mutated_dwarf_never_crashes(version):
    services = build_dwarf_services(version)
    rnd = random.Random(version)
    outcomes = {"ok": 0, "refused": 0, "dropped": 0}
    for _ in range(CASES // 2):
        k = rnd.randrange(3)
        ins = list(services)
        ins[k] = (ins[k][0], _mutate(rnd, ins[k][1]))
        warnings: list[str] = []
        try:
            out = merge(ins, export_conflicts="rename", warn=warnings.append).encode()
            addr2line(out, range(0, 2500, 41), code_section_relative=True)
            addr2line(ins[k][1], range(0, 900, 17), code_section_relative=True)
            m, _ctx = apply_ops(parse(out), [Op("remove-exports", {"patterns": ["report"]}), Op("gc", {})])
            m.encode()
            outcomes["dropped" if any("dropped the DWARF" in w for w in warnings) else "ok"] += 1
        except WasmError:
            outcomes["refused"] += 1
    assert sum(outcomes.values()) == CASES // 2
    assert outcomes["ok"] + outcomes["dropped"] > 0, outcomes
