"""``wasmweld validate``: engines, feature sets, JSON report (schema 1), one line per problem."""

from __future__ import annotations

import json

import pytest

from wasmweld.cli.main import main

wasmtime = pytest.importorskip("wasmtime")

BAD = '(module (func $parse_header (result i32) (i32.add (i32.const 1) (f64.const 2))))'
LEGACY = """(module (tag $e) (func (export "f") (try (do (throw $e)) (catch_all))))"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "ok.wat").write_text("(module (func (export \"f\") (result i32) (i32.const 1)))")
    (tmp_path / "bad.wat").write_text(BAD)
    (tmp_path / "simd.wasm").write_bytes(wasmtime.wat2wasm("(module (func (drop (i32x4.splat (i32.const 1)))))"))
    (tmp_path / "broken.wasm").write_bytes(b"\0asm\x01\0\0\0\x01\x05")
    return tmp_path


def test_valid_and_invalid(files, capsys):
    assert main(["validate", "-v", str(files / "ok.wat")]) == 0
    assert capsys.readouterr().out.strip().endswith("ok.wat: ok")
    assert main(["validate", str(files / "ok.wat"), str(files / "bad.wat")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "bad.wat: func 0 <parse_header> at 0x23: type mismatch: i32.add expects [i32 i32] but the stack has " \
           "[i32 f64]" in err


def test_malformed_names_the_offset(files, capsys):
    assert main(["validate", "--engine", "wasmweld", str(files / "broken.wasm")]) == 1
    assert "offset 0x" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ["auto", "wasmweld", "wasmtime", "both"])
def test_engines_agree_on_bad(files, engine, capsys):
    assert main(["validate", "--engine", engine, str(files / "bad.wat")]) == 1
    assert "type mismatch" in capsys.readouterr().err


def test_legacy_exceptions_wasmweld_accepts_wasmtime_does_not(files, capsys):
    path = files / "legacy.wasm"
    from wasmweld.binary.instr import Instr, encode_body
    from wasmweld.items import Tag
    from wasmweld.module import FuncBody, Module
    from wasmweld.types import FuncType, RecGroup, SubType, TagType

    m = Module()
    m.types = [RecGroup((SubType(FuncType()),))]
    m.tags = [Tag(TagType(0))]
    m.funcs = [0]
    body = [Instr.make("try", None), Instr.make("throw", 0), Instr.make("catch_all"), Instr.make("end"),
            Instr.make("end")]
    m.code = [FuncBody(raw=encode_body([], body))]
    path.write_bytes(m.encode())
    assert main(["validate", str(path)]) == 0
    assert main(["validate", "--engine", "both", "--json", str(path)]) == 1
    rep = json.loads(capsys.readouterr().out)
    rec = rep["files"][0]
    assert rep["schema"] == 1 and rec["agree"] is False
    assert rec["verdicts"]["wasmweld"] is None and rec["verdicts"]["wasmtime"]["kind"] == "invalid"
    assert main(["validate", "--features", "all,-legacy-exceptions", str(path)]) == 1
    assert "legacy-exceptions" in capsys.readouterr().err


def test_features(files, capsys):
    assert main(["validate", str(files / "simd.wasm")]) == 0
    assert main(["validate", "--features", "wasm1", str(files / "simd.wasm")]) == 1
    assert "simd" in capsys.readouterr().err
    assert main(["validate", "--features", "wasm9", str(files / "simd.wasm")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "unknown feature 'wasm9'" in err and err.count("\n") == 1


def test_json_report(files, capsys):
    assert main(["validate", "--json", "--engine", "wasmweld", str(files / "ok.wat"), str(files / "bad.wat"),
                 str(files / "broken.wasm"), str(files / "missing.wasm")]) == 1
    out = capsys.readouterr()
    assert out.err == ""
    rep = json.loads(out.out)
    assert rep["schema"] == 1 and rep["engine"] == "wasmweld"
    ok, bad, broken, missing = rep["files"]
    assert ok["valid"] is True and "error" not in ok
    e = bad["error"]
    assert (e["kind"], e["func"], e["func_name"], e["instr"], e["offset"]) == ("invalid", 0, "parse_header", "i32.add", 0x23)
    assert e["expected"] == ["i32", "i32"] and e["found"] == ["i32", "f64"]
    assert broken["error"]["kind"] == "malformed" and isinstance(broken["error"]["offset"], int)
    assert missing["valid"] is False and missing["error"]["kind"] == "unreadable"
