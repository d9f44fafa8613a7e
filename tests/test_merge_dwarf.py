"""DWARF across a merge (issues 3 and 14): every input's line table is carried over, rebased.

The first input (``bank``, built with ``clang -g``) imports everything it calls
from the other two; after the merge its imports are gone and every call site
names another function, yet its code sits at the same code-section offsets.
The second (``ledger``, also ``-g``) moves behind it. The check reads the
``.debug_line`` programs (a small DWARF 4 line-table reader below, independent
of wasmweld.dwarf) and asserts that each address they list starts the same
instruction in the original and in the merged module.
"""

from __future__ import annotations

import struct

from helpers import SERVICES, compile_c

from wasmweld import parse
from wasmweld.binary.instr import decode_body
from wasmweld.binary.leb import read_s64, read_u32, read_u64
from wasmweld.binary.reader import split_sections
from wasmweld.link import merge
from wasmweld.runtime.engine import wat2wasm



# ------------------------------------------------------------------------------------------ DWARF 4 .debug_line

def _uleb(b: bytes, p: int) -> tuple[int, int]:
    return read_u64(b, p, len(b))


def _sleb(b: bytes, p: int) -> tuple[int, int]:
    return read_s64(b, p, len(b))


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


def _rows_start_same_instructions(rows_in, rows_out, data_in, data_out) -> int:
    before, after = instruction_starts(data_in), instruction_starts(data_out)
    checked = 0
    for (addr, line, end_seq), (addr2, line2, end_seq2) in zip(rows_in, rows_out):
        assert (line, end_seq) == (line2, end_seq2)
        assert addr in before, f"line table address 0x{addr:x} is not an instruction of the original"
        assert after.get(addr2) == before[addr], f"0x{addr:x}: {before[addr]} became {after.get(addr2)} at 0x{addr2:x}"
        checked += not end_seq
    return checked


def test_every_input_keeps_its_dwarf():
    bank = compile_c(SERVICES / "bank.c", target="wasm32", flags=["-g"])
    ledger = compile_c(SERVICES / "ledger.c", target="wasm32", flags=["-g"])
    logger = compile_c(SERVICES / "logger.c", target="wasm32")
    warnings: list[str] = []
    merged = merge([("bank", bank), ("ledger", ledger), ("logger", logger)], export_conflicts="rename",
                   warn=warnings.append).encode()
    assert not any("dropped the DWARF" in w for w in warnings), warnings

    # bank's calls really were renumbered (its 4 imports were fused away) ...
    assert len(parse(bank).imports) == 4 and len(parse(merged).imports) == 0
    orig_code = parse(bank).code
    new_code = parse(merged).code
    assert any(a.raw != b.raw for a, b in zip(orig_code, new_code))

    # ... yet every row of both line tables names the same instruction, bank's at the same address
    rows_bank = line_addresses(_custom(bank, ".debug_line"))
    rows_ledger = line_addresses(_custom(ledger, ".debug_line"))
    rows = line_addresses(_custom(merged, ".debug_line"))
    assert len(rows_bank) > 20 and len(rows_ledger) > 20
    assert len(rows) == len(rows_bank) + len(rows_ledger)
    assert rows[:len(rows_bank)] == rows_bank
    assert _rows_start_same_instructions(rows_bank, rows[:len(rows_bank)], bank, merged) > 20
    moved = rows[len(rows_bank):]
    assert all(b[0] > a[0] for a, b in zip(rows_ledger, moved))        # ledger's code moved behind bank's
    assert _rows_start_same_instructions(rows_ledger, moved, ledger, merged) > 20


def test_dwarf_dropped_when_code_moves():
    """DWARF that cannot be read (here a truncated line table) is dropped with a warning, never kept stale."""
    # 'a' calls an import that becomes function 200 of the merge: a 1-byte index grows to 2 bytes
    a = parse(wat2wasm('(module (import "b" "f199" (func $f)) (func (export "run") call $f))'))
    a.add_custom(".debug_line", b"\x00" * 8)
    many = "".join(f'(func (export "f{i}"))' for i in range(200))
    b = wat2wasm(f"(module {many})")
    warnings: list[str] = []
    merged = merge([("a", a.encode()), ("b", b)], warn=warnings.append)
    assert merged.custom(".debug_line") is None
    assert any("dropped the DWARF of a" in w for w in warnings), warnings
