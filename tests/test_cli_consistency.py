"""One consistent CLI (issue 15): strip's defaults, components refused by core-only commands, --json with
"schema": 1 and the fields docs/cli.md documents, elapsed time in summary lines, progress on a terminal."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

import wasmweld
from wasmweld.cli import io as cli_io
from wasmweld.cli.main import main

REPO = Path(__file__).resolve().parent.parent
DOCS = (REPO / "docs" / "cli.md").read_text()

MODULE = '''(module
  (memory (export "memory") 1)
  (func (export "f") (result i32) (i32.const 7))
  (func (export "g") (result i32) (call 0)))'''


def with_customs(wat, names):
    m = wasmweld.parse(wat(MODULE))
    for n in names:
        m.add_custom(n, n.encode())
    return m.encode()


CUSTOMS = ["name", "producers", "dylink.0", "target_features", "component-type:world", "my-notes", ".debug_info"]


@pytest.fixture
def module_file(tmp_path, wat):
    p = tmp_path / "in.wasm"
    p.write_bytes(with_customs(wat, CUSTOMS))
    return p


def customs_of(path):
    return [c.name for c in wasmweld.parse(Path(path).read_bytes()).customs]


@pytest.mark.parametrize("options, left", [
    ([], ["dylink.0", "target_features", "component-type:world"]),          # behaviour sections stay
    (["--all"], []),
    (["--all", "--keep", "name", "-k", "dylink.0"], ["name", "dylink.0"]),
    (["--keep", "producers"], ["producers", "dylink.0", "target_features", "component-type:world"]),
    (["--debug"], ["producers", "dylink.0", "target_features", "component-type:world", "my-notes"]),
    (["--name", "dylink.0"], [n for n in CUSTOMS if n != "dylink.0"]),    # naming one removes it
    (["--regex", "component-.*", "--keep", "name"], [n for n in CUSTOMS if n != "component-type:world"]),
])
def test_strip_keeps_behaviour_sections_by_default(module_file, tmp_path, options, left, capsys):
    out = tmp_path / "out.wasm"
    assert main(["strip", str(module_file), "-o", str(out), *options]) == 0
    assert customs_of(out) == left
    wasmweld.validate(out.read_bytes())


def test_strip_default_keeps_a_side_modules_dylink(module_file, tmp_path, capsys):
    out = tmp_path / "out.wasm"
    assert main(["strip", str(module_file), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "kept dylink.0, target_features, component-type:world (--all removes them)" in err
    m = wasmweld.parse(out.read_bytes())
    assert m.custom("dylink.0").data == b"dylink.0"
    one = tmp_path / "one.wasm"
    assert main(["strip", str(out), "-o", str(one), "--name", "target_features", "--name", "component-type:world"]) == 0
    assert main(["strip", str(one), "-o", str(tmp_path / "two.wasm")]) == 0
    assert "kept dylink.0 (--all removes it)" in capsys.readouterr().err


def test_component_is_refused_by_core_only_commands(tmp_path, capsys):
    comp = tmp_path / "c.wasm"
    comp.write_bytes(b"\0asm\x0d\x00\x01\x00")
    o = str(tmp_path / "o")
    # info and dump are left out: the components branch teaches them components
    for argv in (["strip", comp, "-o", o], ["edit", comp, "-o", o, "--gc"],
                 ["metadata", "show", comp], ["merge", f"{comp}=a", "-o", o], ["graph", f"{comp}=a", "-o", o],
                 ["addr2line", comp, "0x10"], ["compile", comp, "-o", o]):
        assert main([str(a) for a in argv]) == 1
        err = capsys.readouterr().err
        assert err == (f"error: {comp}: this is a WebAssembly component (binary version 0x0d, layer 1, at offset 0x4), not a core "
                       f"module: wasmweld {argv[0]} works on core modules\n")
    assert not Path(o).exists()


def documented_keys(heading: str) -> set[str]:
    """The keys of the table under ``### heading`` in docs/cli.md (`a` / `b` rows give both)."""
    section = DOCS.split(f"### {heading}", 1)[1].split("\n### ", 1)[0]
    keys = set()
    for row in re.findall(r"^\| (`[^|]+`) \|", section, flags=re.M):
        keys |= set(re.findall(r"`([a-z_]+)`", row))
    assert "schema" in keys
    return keys


def json_of(capsys, argv):
    assert main([str(a) for a in argv]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert next(iter(doc)) == "schema" and doc["schema"] == 1
    return doc


def test_json_outputs_carry_schema_and_the_documented_fields(tmp_path, wat, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("logger", "ledger", "bank"):
        (tmp_path / f"{name}.wasm").write_bytes(wat((REPO / "examples" / f"{name}.wat").read_text()))
    ins = ["logger.wasm=logger", "ledger.wasm=ledger", "bank.wasm=bank", "-rec"]

    doc = json_of(capsys, ["merge", *ins, "-o", "w.wasm", "--json"])
    assert set(doc) == documented_keys("`wasmweld merge ... -o OUT --json` (the result)")
    assert doc["bytes"] == Path("w.wasm").stat().st_size and doc["fusions"] == 5 and doc["validated"] is True
    assert "bank:balance" in doc["exports"] and doc["imports"] == []
    assert [i["name"] for i in doc["inputs"]] == ["logger", "ledger", "bank"]

    doc = json_of(capsys, ["merge", *ins, "--plan", "--json"])
    assert set(doc) == documented_keys("`wasmweld merge ... --plan --json`")
    assert len(doc["fusions"]) == 5 and doc["problems"] == []

    doc = json_of(capsys, ["edit", "w.wasm", "-o", "e.wasm", "--add-export", "x=open(1,2)", "--json"])
    assert set(doc) == documented_keys("`wasmweld edit IN -o OUT ... --json`")
    assert doc["bytes_out"] == Path("e.wasm").stat().st_size and doc["messages"]

    doc = json_of(capsys, ["strip", "e.wasm", "-o", "s.wasm", "--json"])
    assert set(doc) == documented_keys("`wasmweld strip IN -o OUT --json`")
    assert doc["removed"] == ["name"] and doc["kept"] == [] and doc["bytes_out"] == Path("s.wasm").stat().st_size

    doc = json_of(capsys, ["info", "s.wasm", "--json"])
    assert set(doc) == documented_keys("`wasmweld info FILE --json`")

    for argv in (["merge", *ins, "-o", "-", "--json"], ["strip", "e.wasm", "-o", "-", "--json"],
                 ["edit", "w.wasm", "-o", "-", "--gc", "--json"]):
        assert main(argv) == 1
        assert capsys.readouterr().err == "error: --json prints on standard output: write the module with -o FILE\n"


def test_summary_lines_end_with_the_elapsed_time(tmp_path, wat, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("logger", "ledger"):
        (tmp_path / f"{name}.wasm").write_bytes(wat((REPO / "examples" / f"{name}.wat").read_text()))
    timed = re.compile(r" in \d+\.\d+ s$")
    assert main(["merge", "logger.wasm=logger", "-o", "one.wasm"]) == 0
    line = capsys.readouterr().err.strip()
    assert line.startswith("merged 1 input: 0 fusions, 0 imports left, 5 exports -> one.wasm (") and timed.search(line)
    assert main(["merge", "logger.wasm=logger", "ledger.wasm=ledger", "-o", "two.wasm"]) == 0
    line = capsys.readouterr().err.strip()
    assert line.startswith("merged 2 inputs: 1 fusion, 0 imports left,") and timed.search(line)
    assert main(["edit", "two.wasm", "-o", "e.wasm", "--gc"]) == 0
    assert timed.search(capsys.readouterr().err.strip().splitlines()[-1])
    assert main(["strip", "e.wasm", "-o", "s.wasm"]) == 0
    assert timed.search(capsys.readouterr().err.strip())
    assert main(["merge", "--world", str(REPO / "examples" / "world.toml"), "-o", "world.wasm"]) == 0
    assert timed.search(capsys.readouterr().err.strip())


class Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_on_a_terminal_is_erased_and_quiet_silences_it(tmp_path, wat, monkeypatch, quiet):
    (tmp_path / "logger.wasm").write_bytes(wat((REPO / "examples" / "logger.wat").read_text()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_io, "PROGRESS_AFTER", 0.0)
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["merge", "logger.wasm=logger", "-o", "one.wasm", *(["-q"] if quiet else [])]) == 0
    text = err.getvalue()
    if quiet:
        assert text == ""
        return
    assert "\rreading 1 input (" in text and "\rmerging (" in text and "\rvalidating (" in text
    # the progress line is erased before the summary, which stands alone on its line
    before, summary = text.rsplit("\r\x1b[K", 1)
    assert summary.startswith("merged 1 input: ") and summary.count("\n") == 1


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path, wat, monkeypatch, capsys):
    (tmp_path / "logger.wasm").write_bytes(wat((REPO / "examples" / "logger.wat").read_text()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_io, "PROGRESS_AFTER", 0.0)
    assert main(["merge", "logger.wasm=logger", "-o", "one.wasm"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
