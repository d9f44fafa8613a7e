"""Bounded resources in the binary layer (issue 17, items 6 and 7): dump of a deeply nested body
streams with capped indentation; removing 200k custom sections is one pass."""

from __future__ import annotations

import subprocess
import sys

import wasmweld
from wasmweld.binary.dump import MAX_INDENT, dump, format_lines
from wasmweld.binary.leb import write_u
from wasmweld.passes.strip import strip_custom

from helpers import REPO


def nested_blocks(n: int) -> bytes:
    """A valid module whose one function is ``n`` nested empty blocks (3 bytes a level)."""
    body = b"\x00" + b"\x02\x40" * n + b"\x0b" * n + b"\x0b"
    code = write_u(1) + write_u(len(body)) + body

    def sec(i: int, p: bytes) -> bytes:
        return bytes([i]) + write_u(len(p)) + p
    return b"\x00asm\x01\x00\x00\x00" + sec(1, b"\x01\x60\x00\x00") + sec(3, b"\x01\x00") + sec(10, code)


def many_customs(n: int) -> bytes:
    parts = [b"\x00asm\x01\x00\x00\x00"]
    for i in range(n):
        nm = f"s{i}".encode()
        p = write_u(len(nm)) + nm + b"x"
        parts.append(b"\x00" + write_u(len(p)) + p)
    return b"".join(parts)


def test_dump_nested_blocks_indentation_capped():
    data = nested_blocks(2000)
    lines = list(format_lines(dump(data)))
    blocks = [ln for ln in lines if ln.endswith("block")]
    assert len(blocks) == 2000
    widest = max(len(ln) for ln in lines)
    assert widest < 80 + 2 * MAX_INDENT + 20
    assert blocks[10].split("| ")[-1] == "  " * 10 + "block"
    assert blocks[-1].split("| ")[-1] == "  " * MAX_INDENT + "[depth 1999] block"


def test_dump_100k_nested_blocks_streams_in_bounded_memory():
    """300 KB, 100,000 levels: the child's peak RSS stays small (it was 20 GB) and every line arrives."""
    code = f"""
import resource, sys
sys.path.insert(0, {str(REPO / 'tests')!r})
from test_binary_bounds import nested_blocks
from wasmweld.binary.dump import dump, format_lines
data = nested_blocks(100_000)
n = 0
first_instr_at = None
for line in format_lines(dump(data)):
    n += 1
print(len(data), n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    size, nlines, rss_mb = map(int, out.stdout.split())
    assert size > 300_000
    assert nlines == 200_014                 # 2 per level + the frame lines: nothing lost
    assert rss_mb < 250, f"peak RSS {rss_mb} MB"


def test_dump_yields_before_the_walk_ends():
    """The first lines of a huge body come out before its last instruction is read."""
    data = nested_blocks(50_000)
    gen = dump(data)
    first = [next(gen) for _ in range(20)]
    assert first[0].meaning == "magic"
    frame = gen.gi_frame
    walker = frame.f_locals["w"]
    assert len(walker.out) < 10_000          # the walker holds at most a flush worth of lines
    gen.close()


def test_strip_many_custom_sections():
    """50,000 sections (bench/bench_grammar.py times 200,000): a per-name rebuild would take minutes."""
    data = many_customs(50_000)
    m = wasmweld.parse(data)
    removed = strip_custom(m, all=True)
    assert len(removed) == 50_000
    assert m.encode() == b"\x00asm\x01\x00\x00\x00"


def test_remove_custom_many_at_once():
    data = many_customs(1000)
    m = wasmweld.parse(data)
    names = [f"s{i}" for i in range(0, 1000, 2)]
    assert m.remove_custom(names) == 500
    assert [c.name for c in m.customs] == [f"s{i}" for i in range(1, 1000, 2)]
    cs = m.customs
    assert m.remove_custom(cs[:10]) == 10                       # by identity
    assert m.remove_custom("s21") == 1 and m.custom("s21") is None
    back = wasmweld.parse(m.encode())
    assert [c.name for c in back.customs] == [f"s{i}" for i in range(23, 1000, 2)]
