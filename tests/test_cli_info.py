"""``wasmweld info`` and feature detection (wasmweld.features).

Cross-checks against independent sources: the corpus manifest (imports, exports,
functions, memories, custom sections, producers, target_features, wabt's features),
the conformance index's ``features`` column (what wasmtime needs switched on), and
the slow reference walk of the feature scanner.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

import helpers
from wasmweld.cli import info as info_cmd
from wasmweld.cli.main import main
from wasmweld.errors import DecodeError
from wasmweld.features import FEATURES, detect_features, op_features
from wasmweld.binary.leb import write_u
from wasmweld.binary.opcodes import OPCODES
from wasmweld.module import parse

CLI = Path(__file__).resolve().parent / "cli"


def run_cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def info_json(path) -> dict:
    status, out, err = run_cli("info", "--json", str(path))
    assert status == 0, err
    return json.loads(out)


# ------------------------------------------------------------------ the JSON form


def test_json_of_a_module_with_every_section():
    info = info_json(CLI / "info_every_section.wat")
    assert [(s["id"], s["name"]) for s in info["sections"]] == [
        (1, None), (2, None), (3, None), (4, None), (5, None), (13, None), (6, None), (7, None), (8, None),
        (9, None), (12, None), (10, None), (11, None), (0, "extra"), (0, "producers"), (0, "name")]
    # sections tile the file after the preamble
    pos = 8
    for s in info["sections"]:
        assert s["offset"] == pos
        pos = s["payload_offset"] + s["size"]
    assert pos == info["size"]
    counts = {k: (v["imported"], v["defined"], v["total"]) for k, v in info["counts"].items()}
    assert counts == {"types": (0, 7, 7), "funcs": (1, 3, 4), "tables": (1, 3, 4), "memories": (1, 1, 2),
                      "globals": (1, 3, 4), "tags": (1, 1, 2), "elems": (0, 6, 6), "datas": (0, 3, 3)}
    assert [(i["kind"], i["index"], i["module"], i["name"]) for i in info["imports"]] == [
        ("func", 0, "env", "log"), ("table", 0, "env", "table"), ("memory", 0, "env", "memory"),
        ("global", 0, "env", "counter"), ("tag", 0, "env", "oops")]
    mem_import = info["imports"][2]
    assert (mem_import["min"], mem_import["max"], mem_import["shared"], mem_import["memory64"]) == (1, 2, True, False)
    assert info["imports"][3]["mutable"] is True and info["imports"][3]["type"] == "i32"
    assert [(e["name"], e["kind"], e["index"]) for e in info["exports"]] == [
        ("add", "func", 1), ("memory64", "memory", 1), ("g", "global", 1), ("done", "tag", 1), ("t", "table", 1)]
    assert [(m["index"], m["imported"], m["shared"], m["memory64"]) for m in info["memories"]] == [
        (0, True, True, False), (1, False, False, True)]
    assert [(t["index"], t["element"], t["min"], t["max"], t["table64"]) for t in info["tables"]] == [
        (0, "funcref", 1, None, False), (1, "funcref", 4, 10, False), (2, "externref", 1, None, True),
        (3, "(ref null 3)", 1, None, False)]
    assert info["start"] == 2
    assert set(info["features"]) == {
        "mutable-globals", "multi-value", "bulk-memory", "reference-types", "threads", "extended-const",
        "function-references", "gc", "exceptions", "memory64", "multi-memory"}
    assert info["features"] == [f for f in FEATURES if f in info["features"]]
    assert info["feature_evidence"]["extended-const"] == "i32.add in global 2 initializer"
    assert info["producers"] == {"language": {"WAT": "1.0"}, "processed-by": {"hand": "1"}}
    assert info["target_features"] is None
    assert info["code"]["bodies"] == 3 and info["data"] == {"segments": 3, "bytes": 2 + 16 + 12, "section_bytes": 44}
    assert info["warnings"] == []


def test_json_keys_are_the_documented_ones():
    documented = set(re.findall(r"^``(\w+)``(?: / ``(\w+)``)?$", info_cmd.__doc__, re.M))
    keys = {k for pair in documented for k in pair if k}
    info = info_json(CLI / "info_json.wat")
    assert set(info) == keys
    assert info["target_features"] == ["+atomics", "+simd128", "-multimemory"]
    assert info["features"] == ["simd", "threads", "memory64", "multi-memory"]


def test_json_matches_the_library(corpus_dir):
    """The counts info reports are the Module's own (cross-check of the plumbing on a real module)."""
    path = helpers.corpus_path("em-sqljs")
    info = info_json(path)
    m = parse(path.read_bytes())
    assert info["counts"]["funcs"]["total"] == m.num_funcs
    assert info["counts"]["globals"]["total"] == m.num_globals
    assert info["counts"]["types"]["total"] == len(m.type_list())
    assert info["code"]["body_bytes"] == sum(len(b.raw) for b in m.code)
    assert info["data"]["bytes"] == sum(len(d.init) for d in m.datas)


def test_human_output_lists_what_json_has():
    status, out, err = run_cli("info", str(CLI / "info_every_section.wat"))
    assert status == 0 and err == ""
    for needle in ('custom "producers"', "memory  0  imported  i32  min 1  max 2  shared", "start: func 2",
                   "extended-const", 'func    1  <add>  "add"', "code: 3 bodies"):
        assert needle in out
    status, summary, _ = run_cli("info", "--summary", str(CLI / "info_every_section.wat"))
    assert status == 0 and "imports (" not in summary and "features (11):" in summary


def test_malformed_producers_is_a_warning_not_an_error(wat):
    data = wat('(module (@custom "producers" "\\01\\08language\\05"))')
    info = info_cmd.collect(data)
    assert info["producers"] is None
    assert info["warnings"] and info["warnings"][0].startswith("producers section kept raw:")


def test_bad_input_is_one_line_exit_1(tmp_path):
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x01\0\0\0\x01\x05\x01")
    for args in (["info", str(bad)], ["info", "--json", str(bad)], ["info", str(tmp_path / "missing.wasm")]):
        status, out, err = run_cli(*args)
        assert status == 1 and out == ""
        assert err.count("\n") == 1 and err.startswith("error: ")


def test_info_on_malformed_modules_raises_only_decode_errors(conformance_dir):
    """info reads lazily, but what it reads it checks; the only gap is block nesting inside bodies."""
    accepted = []
    for path in sorted((conformance_dir / "malformed").glob("*/*.wasm")):
        data = path.read_bytes()
        try:
            info_cmd.collect(data)
        except DecodeError:
            continue
        accepted.append(path)
    for path in accepted:  # each must be a problem inside a code body that info does not decode
        with pytest.raises(DecodeError) as e:
            parse(path.read_bytes(), lazy=False)
        assert (e.value.context or "").startswith("code body"), f"{path.name}: {e.value}"
    assert len(accepted) <= 2, [p.name for p in accepted]


# ------------------------------------------------------------------ corpus vs manifest


def _producers_text(p: dict | None) -> str:
    if not p:
        return "-"
    return "; ".join(f"{field}: " + ", ".join(f"{n} {v}".strip() for n, v in vals.items()) for field, vals in p.items())


_WABT_NAMES = {"saturating-float-to-int": "nontrapping-fptoint", "sign-extension": "sign-extension",
               "bulk-memory": "bulk-memory", "simd": "simd", "threads": "threads", "exceptions": "exceptions",
               "mutable-globals": "mutable-globals", "reference-types": "reference-types",
               "multi-value": "multi-value", "tail-call": "tail-call"}


@pytest.mark.slow
def test_corpus_info_matches_the_manifest(corpus_dir):
    kinds = ("func", "table", "memory", "global", "tag")
    spaces = ("funcs", "tables", "memories", "globals", "tags")
    rows = helpers.read_tsv(helpers.CORPUS_MANIFEST)
    assert len(rows) == 21
    for row in rows:
        cid = row["id"]
        info = info_json(helpers.corpus_path(cid))
        imports = "/".join(str(info["counts"][s]["imported"]) for s in spaces)
        exports = "/".join(str(sum(e["kind"] == k for e in info["exports"])) for k in kinds)
        assert imports == row["imports(f/t/m/g/tag)"], cid
        assert exports == row["exports(f/t/m/g/tag)"], cid
        assert info["counts"]["funcs"]["defined"] == int(row["functions_defined"]), cid
        mem = info["memories"]
        where = "+".join(["imp" if m["imported"] else "def" for m in mem] + (["shared"] if any(m["shared"] for m in mem) else []))
        assert f"{len(mem)};{where}" == row["memories(def+imp;flags)"], cid
        customs = " ".join(s["name"] for s in info["sections"] if s["id"] == 0) or "-"
        assert customs == row["custom_sections"], cid
        assert _producers_text(info["producers"]) == row["producers"], cid
        assert (" ".join(info["target_features"]) if info["target_features"] else "-") == row["target_features"], cid
        # every feature wabt's tools found, info finds too (info may find more: wabt's list is partial)
        wabt = row["features_used(wabt)"].split()
        wabt = set() if wabt == ["MVP-only"] else {_WABT_NAMES[f] for f in wabt}
        assert wabt <= set(info["features"]), (cid, wabt - set(info["features"]))
        assert info["warnings"] == [], cid


# ------------------------------------------------------------------ features vs the conformance oracle


def test_features_cover_what_wasmtime_needs(conformance_dir):
    """index.tsv lists, per valid module, the features wasmtime cannot do without. We must find each of them;
    what we find beyond that is explained: mutable-globals (wasmtime cannot turn it off, so the index never
    lists it), tail-call for return_call_ref (wasmtime gates it on function-references only), and
    function-references for typed references where the index's runs had gc on (checked below with both off)."""
    import wasmtime

    from wasmweld.runtime.engine import make_config

    no_typed_refs = wasmtime.Engine(make_config(wasm_gc=False, wasm_function_references=False))
    rows = [r for r in helpers.conformance_rows("valid") if r["wasmtime"] == "accept"]
    assert len(rows) > 2400
    extra_fr = 0
    for row in rows:
        data = (conformance_dir / row["path"]).read_bytes()
        found = detect_features(parse(data))
        needed = {f.replace("nontrapping-float-to-int", "nontrapping-fptoint") for f in row["features"].split(",") if f}
        assert needed <= set(found), (row["path"], needed - set(found))
        for f in set(found) - needed:
            if f == "mutable-globals":
                continue
            if f == "tail-call":
                assert "return_call_ref" in found[f], (row["path"], found[f])
                continue
            assert f == "function-references", (row["path"], f, found[f])
            with pytest.raises(wasmtime.WasmtimeError):
                wasmtime.Module.validate(no_typed_refs, data)
            extra_fr += 1
    assert extra_fr > 0


def test_fast_scanner_agrees_with_the_reference_walk(conformance_dir, corpus_dir):
    """The pattern scanner and the instruction-by-instruction walk find the same features with the same evidence."""
    paths = sorted((conformance_dir / "valid").glob("*/*.wasm")) + sorted((conformance_dir / "invalid").glob("*/*.wasm"))
    paths += [helpers.corpus_path(c) for c in ("as-sha256-simd", "em-webp-enc-simd", "em-sqljs", "ts-web-tree-sitter")]
    for path in paths:
        m = parse(path.read_bytes())
        assert detect_features(m) == detect_features(m, exhaustive=True), path.name


# ------------------------------------------------------------------ features of small modules


@pytest.mark.parametrize("text,expected", [
    ("(module (func (result i32) i32.const 1))", set()),
    ("(module (func (param i32) (result i32) local.get 0 i32.extend8_s))", {"sign-extension"}),
    ("(module (func (param f32) (result i32) local.get 0 i32.trunc_sat_f32_s))", {"nontrapping-fptoint"}),
    ("(module (func (result i32 i32) i32.const 1 i32.const 2))", {"multi-value"}),
    ("(module (type $t (func (param i32) (result i32))) (func (param i32) (result i32) local.get 0 (block (type $t))))",
     {"multi-value"}),
    ("(module (memory 1) (func (memory.fill (i32.const 0) (i32.const 0) (i32.const 0))))", {"bulk-memory"}),
    ("(module (memory 1) (data \"x\"))", {"bulk-memory"}),
    ("(module (func (param externref)))", {"reference-types"}),
    ("(module (table 2 funcref) (table 2 funcref))", {"reference-types"}),
    ("(module (func (result v128) v128.const i64x2 0 0))", {"simd"}),
    ("(module (func (param v128) (result v128) local.get 0 local.get 0 i8x16.relaxed_swizzle))",
     {"simd", "relaxed-simd"}),
    ("(module (memory 1 1 shared))", {"threads"}),
    ("(module (memory 1) (func (atomic.fence)))", {"threads"}),
    ("(module (func return_call 0))", {"tail-call"}),
    ("(module (global i32 (i32.add (i32.const 1) (i32.const 2))))", {"extended-const"}),
    ("(module (type $f (func)) (func (param (ref $f))))", {"reference-types", "function-references"}),
    ("(module (type $s (struct)))", {"gc"}),
    ("(module (func (param anyref)))", {"reference-types", "gc"}),
    ("(module (tag))", {"exceptions"}),
    ("(module (tag $e) (func try nop catch $e end))", {"exceptions", "legacy-exceptions"}),
    ("(module (memory i64 1))", {"memory64"}),
    ("(module (memory 1) (memory 1))", {"multi-memory"}),
    ("(module (import \"m\" \"g\" (global (mut i32))))", {"mutable-globals"}),
    ("(module (global (export \"g\") (mut i32) (i32.const 0)))", {"mutable-globals"}),
])
def test_each_feature_from_a_minimal_module(wat, text, expected):
    m = parse(wat(text))
    found = detect_features(m)
    assert set(found) == expected, found
    assert detect_features(m, exhaustive=True) == found


def _module_with_body(body: bytes, *, memories: int = 1, tables: int = 1) -> bytes:
    """(type (func)) (table funcref)* (memory 1)* (func <body>) with the body bytes given (no locals)."""
    def sec(sid: int, payload: bytes) -> bytes:
        return bytes([sid]) + write_u(len(payload)) + payload
    out = b"\0asm\x01\0\0\0" + sec(1, b"\x01\x60\x00\x00") + sec(3, b"\x01\x00")
    if tables:
        out += sec(4, bytes([tables]) + b"\x70\x00\x01" * tables)
    if memories:
        out += sec(5, bytes([memories]) + b"\x00\x01" * memories)
    code = b"\x00" + body + b"\x0b"
    return out + sec(10, b"\x01" + write_u(len(code)) + code)


@pytest.mark.parametrize("body,memories,expected", [
    (bytes.fromhex("41 00 11 00 80 00 00"), 1, {"reference-types"}),          # call_indirect, table 0 written in 2 bytes
    (bytes.fromhex("41 00 28 42 00 00 1a"), 1, {"multi-memory"}),             # i32.load with an explicit memory 0
    (bytes.fromhex("3f 80 00 1a"), 1, {"multi-memory"}),                      # memory.size with a 2-byte zero
    (bytes.fromhex("41 00 0e 02 00 00 00"), 1, set()),                        # br_table, short form
    (bytes.fromhex("41 00 0e 80 01") + b"\x00" * 129, 1, set()),              # br_table with 128 targets
    (bytes.fromhex("41 00 41 00 41 00 1b 1a"), 1, set()),                    # plain select is MVP
    (bytes.fromhex("41 00 41 00 41 00 1c 01 7f 1a"), 1, {"reference-types"}),  # select (result i32)
    (bytes.fromhex("41 80 80 80 80 00 1a"), 1, set()),                        # padded i32.const: still MVP
])
def test_features_from_immediates(body, memories, expected):
    from wasmweld.runtime.engine import validate_bytes

    data = _module_with_body(body, memories=memories)
    validate_bytes(data)  # the fixtures are valid modules (all Wasm 3.0 features on)
    m = parse(data)
    found = detect_features(m)
    assert set(found) == expected, found
    assert detect_features(m, exhaustive=True) == found


def test_malformed_integers_do_not_pass_the_fast_path():
    """An over-long LEB128 inside a body is reported, not skipped over by the scanner."""
    for body in (bytes.fromhex("41 80 80 80 80 80 00 1a"),     # i32.const: 6 bytes
                 bytes.fromhex("41 00 28 02 ff ff ff ff ff ff ff ff ff 7f 1a")):  # u64 offset too large
        with pytest.raises(DecodeError, match="integer"):
            detect_features(parse(_module_with_body(body)))
    with pytest.raises(DecodeError, match="END opcode expected"):
        detect_features(parse(_module_with_body(b"")[:-1] + b"\x01"))  # body ends in nop, not end


def test_data_index_without_data_count_is_reported():
    """memory.init needs a data count section: the scanner does not skip over it when there is none."""
    body = bytes.fromhex("41 00 41 00 41 00 fc 08 00 00")
    data = _module_with_body(body) + bytes.fromhex("0b 03 01 01 00")  # data section: one empty passive segment
    with pytest.raises(DecodeError, match="data count section required"):
        parse(data, lazy=False)  # the library's verdict
    for exhaustive in (False, True):
        with pytest.raises(DecodeError, match="data count section required"):
            detect_features(parse(data), exhaustive=exhaustive)


def test_opcode_mapping():
    by = {op.name: op_features(op) for op in OPCODES}
    for op in OPCODES:
        if op.prefix == 0xFD:
            assert "simd" in by[op.name]
        if op.prefix == 0xFE:
            assert by[op.name] == {"threads"}
        if op.prefix == 0xFB:
            assert by[op.name] == {"gc"}
    assert by["i32.add"] == set() and by["call"] == set() and by["br_table"] == set()
    assert by["memory.copy"] == {"bulk-memory"} and by["table.grow"] == {"reference-types"}
    assert by["i8x16.relaxed_swizzle"] == {"simd", "relaxed-simd"}
    assert by["return_call_ref"] == {"tail-call", "function-references"}
    assert by["try"] == {"legacy-exceptions"} and by["try_table"] == {"exceptions"}
    assert all(f in FEATURES for fs in by.values() for f in fs)
