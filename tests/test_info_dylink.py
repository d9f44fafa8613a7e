"""`wasmweld info` shows a side module's dylink.0 / legacy dylink section (issue 15, tutorial 3).

The reference is `wasm-tools print`'s ``@dylink.0`` annotation (its own decoder) on the corpus's emscripten
tree-sitter main module; the legacy ``dylink`` section of a language side module is checked against the
LEB128 fields wasm-tools prints raw.
"""

from __future__ import annotations

import json
import re
import subprocess

from component_build import WASM_TOOLS
from wasmweld.cli.main import main


def info(path, capsys, *args: str) -> str:
    assert main(["info", str(path), *args]) == 0
    return capsys.readouterr().out


def test_info_shows_dylink0_as_wasm_tools_reads_it(corpus_dir, capsys):
    path = corpus_dir / "ts-web-tree-sitter.wasm"
    wat = subprocess.run([str(WASM_TOOLS), "print", str(path)], capture_output=True, text=True, check=True).stdout
    mem, mem_align, table, table_align = map(int, re.search(
        r"\(mem-info \(memory (\d+) (\d+)\) \(table (\d+) (\d+)\)\)", wat).groups())
    d = json.loads(info(path, capsys, "--json"))["dylink"]
    assert (d["section"], d["mem_size"], d["mem_align"], d["table_size"], d["table_align"]) == \
        ("dylink.0", mem, 1 << mem_align, table, 1 << table_align)
    assert d["needed"] == []
    text = info(path, capsys, "--summary")
    assert f"dylink.0: memory {mem} bytes (align {1 << mem_align}), table {table} slots (align 1), needed: none" in text


def test_info_shows_the_legacy_dylink_section(corpus_dir, capsys):
    path = corpus_dir / "ts-html-side.wasm"
    wat = subprocess.run([str(WASM_TOOLS), "print", str(path)], capture_output=True, text=True, check=True).stdout
    # legacy dylink: mem_size (LEB128 "\d4I" = 0x54 + 0x49 << 7), mem_align, table_size, table_align, needed count
    assert '(@custom "dylink" (before first) "\\d4I\\04\\01\\00\\00")' in wat
    d = json.loads(info(path, capsys, "--json"))["dylink"]
    assert (d["section"], d["mem_size"], d["mem_align"], d["table_size"], d["needed"]) == \
        ("dylink", 0x54 + (0x49 << 7), 16, 1, [])
    plain = corpus_dir / "rs-tiktoken.wasm"
    assert json.loads(info(plain, capsys, "--json"))["dylink"] is None
    assert "dylink" not in info(plain, capsys, "--summary")


def test_info_on_a_malformed_dylink_section_warns_and_goes_on(wat, tmp_path, capsys):
    path = tmp_path / "bad.wasm"
    path.write_bytes(wat('(module (@custom "dylink.0" (before first) "\\01\\7f\\00") (memory 1))'))
    d = json.loads(info(path, capsys, "--json"))
    assert d["dylink"] is None and len(d["warnings"]) == 1
    assert d["warnings"][0].startswith("dylink section kept raw: ") and "runs past the end" in d["warnings"][0]
    assert "warning: dylink section kept raw" in info(path, capsys)
