"""Checks for DWARF tests: the three -g services, llvm-dwarfdump --verify, and the addr2line oracle.

The oracle pairs each code address of an input with the address of the same place in an output
*independently of wasmweld.dwarf*: the function by its name (the name sections), the place by
instruction count inside the body (wasmweld's instruction decoder), the byte inside the
instruction by its distance from the instruction's start. ``wasm-tools addr2line`` must then
print the same frames for both.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import FIXTURES, REPO, compile_c

from wasmweld import parse
from wasmweld.binary.instr import decode_body
from wasmweld.binary.leb import read_u32
from wasmweld.binary.reader import split_sections

DWARF_C = FIXTURES / "dwarf"
#: shop imports pricing and audit, pricing imports audit; audit_check traps on a negative amount
DWARF_SERVICES = ("shop", "pricing", "audit")
WASM_TOOLS = REPO / ".venv" / "bin" / "wasm-tools"


def build_dwarf_services(version: int = 4) -> list[tuple[str, bytes]]:
    """The three services with DWARF ``version`` (clang's default for wasm32 is 4)."""
    flags = ["-g"] if version == 4 else ["-g", f"-gdwarf-{version}"]
    return [(n, compile_c(DWARF_C / f"{n}.c", target="wasm32", flags=flags)) for n in DWARF_SERVICES]


def dwarfdump() -> str:
    found = shutil.which("llvm-dwarfdump") or shutil.which("llvm-dwarfdump-14")
    if not found:
        pytest.fail("llvm-dwarfdump not found: install Debian's llvm package (apt-get install llvm)", pytrace=False)
    return found


def verify(data: bytes, tmp: Path, name: str = "m.wasm") -> str:
    """``llvm-dwarfdump --verify``: fails the test with its output unless it reports no errors."""
    path = tmp / name
    path.write_bytes(data)
    proc = subprocess.run([dwarfdump(), "--verify", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "No errors." in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


def bodies(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each body, relative to the code section's payload (as DWARF counts)."""
    for sec in split_sections(data):
        if sec.id == 10:
            base = sec.payload_offset
            n, p = read_u32(data, base, sec.end)
            out = []
            for _ in range(n):
                size, q = read_u32(data, p, sec.end)
                out.append((q - base, q - base + size))
                p = q + size
            return out
    return []


def _points(data: bytes, start: int, end: int) -> list[int]:
    """Instruction starts of one body (its first byte included, its end appended)."""
    base = next(s.payload_offset for s in split_sections(data) if s.id == 10)
    raw = data[base + start: base + end]
    _locals, instrs = decode_body(raw)
    p = start + len(raw) - sum(len(i.raw) for i in instrs)
    out = [start]
    for ins in instrs:
        out.append(p)
        p += len(ins.raw)
    return out + [end]


def func_names(data: bytes) -> dict[str, int]:
    """name -> defined-function position (0 = first body)."""
    m = parse(data)
    n_imp = sum(1 for i in m.imports if i.kind.name == "FUNC")
    return {name: i - n_imp for i, name in m.names.funcs.items() if i >= n_imp}


def corresponding(inp: bytes, out: bytes, prefix: str, limit: int = 300,
                  skip: tuple[str, ...] = ()) -> list[tuple[int, int]]:
    """Up to ``limit`` (input address, output address) pairs, every byte of every body of ``inp``
    whose function is in ``out`` (found by name, or ``prefix:name``; not one of ``skip``, bodies
    replaced), evenly sampled."""
    ib, ob = bodies(inp), bodies(out)
    onames = func_names(out)
    pairs = []
    for name, d in sorted(func_names(inp).items(), key=lambda kv: kv[1]):
        j = onames.get(name, onames.get(f"{prefix}:{name}"))
        if j is None or name in skip:
            continue
        ip, op = _points(inp, *ib[d]), _points(out, *ob[j])
        assert len(ip) == len(op), f"{name}: {len(ip)} vs {len(op)} instructions"
        for k in range(len(ip) - 1):
            width = op[k + 1] - op[k]
            pairs.extend((a, op[k] + min(a - ip[k], width - 1)) for a in range(ip[k], ip[k + 1]))
        pairs.append((ip[-1], op[-1]))
    if len(pairs) > limit:
        step = len(pairs) / limit
        pairs = [pairs[int(i * step)] for i in range(limit)]
    return pairs


def wasm_tools_addr2line(data: bytes, addrs: list[int], tmp: Path, name: str = "q.wasm") -> list[str]:
    """The frames ``wasm-tools addr2line --code-section-relative`` prints per address (its lines
    after the ``0x..: `` prefix, joined by '|')."""
    path = tmp / name
    path.write_bytes(data)
    proc = subprocess.run([str(WASM_TOOLS), "addr2line", "--code-section-relative", str(path),
                           *map(hex, addrs)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return split_frames(proc.stdout)


def split_frames(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith("\t"):
            out[-1] += "|" + line[1:]
        else:
            out.append(line.split(": ", 1)[1])
    return out


def assert_same_lines(inp: bytes, out: bytes, prefix: str, tmp: Path, at_least: int = 200,
                      skip: tuple[str, ...] = ()) -> int:
    """wasm-tools addr2line on ``out`` says for each sampled address what it says on ``inp`` at the
    corresponding one; returns how many addresses had a file:line."""
    pairs = corresponding(inp, out, prefix, skip=skip)
    assert len(pairs) >= at_least, f"{prefix}: only {len(pairs)} addresses"
    before = wasm_tools_addr2line(inp, [a for a, _ in pairs], tmp, "in.wasm")
    after = wasm_tools_addr2line(out, [b for _, b in pairs], tmp, "out.wasm")
    bad = [(hex(a), hex(b), x, y) for (a, b), x, y in zip(pairs, before, after) if x != y]
    assert not bad, f"{prefix}: {len(bad)} of {len(pairs)} addresses differ, e.g. {bad[:5]}"
    with_lines = sum(".c:" in x for x in before)
    assert with_lines >= len(pairs) // 2, f"{prefix}: only {with_lines} addresses have a source line"
    return with_lines
