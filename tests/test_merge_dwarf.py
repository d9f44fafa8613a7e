"""DWARF across a merge (issue 3): the first input's debug info stays valid, later inputs' is dropped.

The first input (``bank``, built with ``clang -g``) imports everything it calls
from the other two; after the merge its imports are gone and every call site
names another function, yet its code must sit at the same code-section offsets.
The check reads the ``.debug_line`` program of the original (a small DWARF 4
line-table reader below) and asserts that each address it lists starts the
same instruction in the original and in the merged module.
"""

from __future__ import annotations

import struct

from helpers import SERVICES, compile_c

from wasmweld import parse
from wasmweld.binary.instr import decode_body
from wasmweld.binary.leb import read_u32
from wasmweld.binary.reader import split_sections
from wasmweld.link import merge
from wasmweld.runtime.engine import wat2wasm



# ------------------------------------------------------------------------------------------ DWARF 4 .debug_line

def _uleb(b: bytes, p: int) -> tuple[int, int]:
    v = s = 0
    while True:
        x = b[p]
        p += 1
        v |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return v, p


def _sleb(b: bytes, p: int) -> tuple[int, int]:
    v = s = 0
    while True:
        x = b[p]
        p += 1
        v |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            if x & 0x40:
                v -= 1 << s
            return v, p


def line_addresses(debug_line: bytes) -> list[tuple[int, int, bool]]:
    """(address, line, end_sequence) of every row of every DWARF 4 line program."""
    rows = []
    p = 0
    while p < len(debug_line):
        unit_len = struct.unpack_from("<I", debug_line, p)[0]
        end = p + 4 + unit_len
        version = struct.unpack_from("<H", debug_line, p + 4)[0]
        assert version == 4, f"line table version {version}"
        header_len = struct.unpack_from("<I", debug_line, p + 6)[0]
        q = p + 10
        min_inst, _max_ops, default_is_stmt, line_base, line_range, opcode_base = struct.unpack_from(
            "<BBBbBB", debug_line, q)
        std_lens = list(debug_line[q + 6: q + 6 + opcode_base - 1])
        q = p + 10 + header_len
        addr, line = 0, 1
        while q < end:
            op = debug_line[q]
            q += 1
            if op >= opcode_base:
                adj = op - opcode_base
                addr += (adj // line_range) * min_inst
                line += line_base + adj % line_range
                rows.append((addr, line, False))
            elif op == 0:                       # extended
                n, q = _uleb(debug_line, q)
                sub = debug_line[q]
                if sub == 1:                    # end_sequence
                    rows.append((addr, line, True))
                    addr, line = 0, 1
                elif sub == 2:                  # set_address
                    addr = int.from_bytes(debug_line[q + 1: q + n], "little")
                q += n
            elif op == 1:                       # copy
                rows.append((addr, line, False))
            elif op == 2:                       # advance_pc
                v, q = _uleb(debug_line, q)
                addr += v * min_inst
            elif op == 3:                       # advance_line
                v, q = _sleb(debug_line, q)
                line += v
            elif op == 8:                       # const_add_pc
                addr += ((255 - opcode_base) // line_range) * min_inst
            elif op == 9:                       # fixed_advance_pc
                addr += struct.unpack_from("<H", debug_line, q)[0]
                q += 2
            else:                               # other standard opcodes: skip their operands
                for _ in range(std_lens[op - 1]):
                    _v, q = _uleb(debug_line, q)
        p = end
    return rows


# ------------------------------------------------------------------------------------------ code offsets

def instruction_starts(data: bytes) -> dict[int, str]:
    """Offset (relative to the code section's payload, as DWARF counts) -> instruction name.

    Also marks where each body starts (a function's ``low_pc``) and ends.
    """
    out = {}
    for sec in split_sections(data):
        if sec.id != 10:
            continue
        base = sec.payload_offset
        n, p = read_u32(data, base, sec.end)
        for _ in range(n):
            size, body = read_u32(data, p, sec.end)
            raw = data[body: body + size]
            locals_, instrs = decode_body(raw)
            out[body - base] = "<body start: locals>"      # a function's low_pc
            q = body + (len(raw) - sum(len(i.raw) for i in instrs))
            for ins in instrs:
                out[q - base] = ins.name
                q += len(ins.raw)
            out[q - base] = "<end of body>"
            p = body + size
    return out


def _custom(data: bytes, name: str) -> bytes | None:
    cs = parse(data).custom(name)
    return None if cs is None else cs.data


def test_first_input_dwarf_stays_valid():
    bank = compile_c(SERVICES / "bank.c", target="wasm32", flags=["-g"])
    ledger = compile_c(SERVICES / "ledger.c", target="wasm32", flags=["-g"])
    logger = compile_c(SERVICES / "logger.c", target="wasm32")
    warnings: list[str] = []
    merged = merge([("bank", bank), ("ledger", ledger), ("logger", logger)], export_conflicts="rename",
                   warn=warnings.append).encode()

    # the first input's sections are all there, byte for byte; the second input's DWARF is gone, said so
    for cs in parse(bank).customs:
        if cs.name.startswith(".debug_"):
            assert _custom(merged, cs.name) == cs.data, cs.name
    assert any("dropped the DWARF of ledger" in w for w in warnings), warnings
    assert not any("DWARF of bank" in w for w in warnings), warnings

    # bank's calls really were renumbered (its 4 imports were fused away) ...
    assert len(parse(bank).imports) == 4 and len(parse(merged).imports) == 0
    orig_code = parse(bank).code
    new_code = parse(merged).code
    assert any(a.raw != b.raw for a, b in zip(orig_code, new_code))

    # ... yet every address of the line table starts the same instruction
    rows = line_addresses(_custom(bank, ".debug_line"))
    assert len(rows) > 20
    before, after = instruction_starts(bank), instruction_starts(merged)
    checked = 0
    for addr, _line, end_seq in rows:
        assert addr in before, f"line table address 0x{addr:x} is not an instruction of the original"
        assert after.get(addr) == before[addr], f"0x{addr:x}: {before[addr]} became {after.get(addr)}"
        checked += not end_seq
    assert checked == len([r for r in rows if not r[2]])


def test_dwarf_dropped_when_code_moves():
    """If the first input's code cannot keep its offsets, its DWARF is dropped with a warning, never kept stale."""
    # 'a' calls an import that becomes function 200 of the merge: a 1-byte index grows to 2 bytes
    a = parse(wat2wasm('(module (import "b" "f199" (func $f)) (func (export "run") call $f))'))
    a.add_custom(".debug_line", b"\x00" * 8)
    many = "".join(f'(func (export "f{i}"))' for i in range(200))
    b = wat2wasm(f"(module {many})")
    warnings: list[str] = []
    merged = merge([("a", a.encode()), ("b", b)], warn=warnings.append)
    assert merged.custom(".debug_line") is None
    assert any("dropped the DWARF of a" in w for w in warnings), warnings
