"""wasmweld's own validator (src/wasmweld/validator) against the spec suites, the corpus and WAT fixtures.

- every spec ``valid`` module is accepted, every ``invalid`` one rejected with a
  ValidationError (>= 99% containing the suite's expected message), every
  ``malformed`` one still a DecodeError;
- the core modules of ../shared/conformance-components (compact imports, custom page
  sizes, legacy exceptions, exnref, branch hinting) likewise;
- error details (function index and name, instruction, offset, expected/found types);
- feature sets; GC type canonicalisation; non-defaultable locals; the two-process path.
"""

from __future__ import annotations

import pytest

from helpers import CONFORMANCE_DIR, SHARED_DIR, conformance_rows, read_tsv

import wasmweld
from wasmweld.errors import DecodeError, ValidationError
from wasmweld.validator import parse_features, validate_module
from wasmweld.validator.features import FeatureError

wasmtime = pytest.importorskip("wasmtime")
wat2wasm = wasmtime.wat2wasm

ROWS = conformance_rows()
COMPONENTS_DIR = SHARED_DIR / "conformance-components"


def _verdict(data: bytes, features=None):
    try:
        validate_module(data, features)
    except DecodeError as e:
        return "malformed", str(e)
    except ValidationError as e:
        return "invalid", str(e)
    return "valid", ""


# ---------------------------------------------------------------------------------------- spec suite

@pytest.mark.parametrize("kind", ["valid", "invalid", "malformed"])
def test_spec_suite(kind):
    rows = [r for r in ROWS if r["kind"] == kind]
    assert len(rows) == {"valid": 2513, "invalid": 2735, "malformed": 711}[kind]
    wrong, no_message = [], []
    for r in rows:
        got, msg = _verdict((CONFORMANCE_DIR / r["path"]).read_bytes())
        if got != kind:
            wrong.append(f"{r['path']}: {got}: {msg}")
        elif kind == "invalid" and r["expected_message"] not in msg:
            no_message.append(f"{r['path']}: expected {r['expected_message']!r}, got {msg!r}")
    assert not wrong, f"{len(wrong)} of {len(rows)} {kind} modules judged wrongly:\n" + "\n".join(wrong[:30])
    if kind == "invalid":
        # the suite's wording: at least 99% (the rest are the reference interpreter's own phrasing)
        assert len(no_message) <= len(rows) // 100, "\n".join(no_message)


def test_spec_suite_wasm3_features_suffice():
    """The spec suite is Wasm 3.0 plus legacy exceptions: that feature set accepts every valid module."""
    feats = parse_features("wasm3,+legacy-exceptions")
    bad = [r["path"] for r in ROWS if r["kind"] == "valid"
           and _verdict((CONFORMANCE_DIR / r["path"]).read_bytes(), feats)[0] != "valid"]
    assert not bad


def test_components_suite_core_modules():
    rows = [r for r in read_tsv(COMPONENTS_DIR / "index.tsv") if r["layer"] == "core"]
    assert len(rows) >= 50
    wrong = []
    for r in rows:
        data = (COMPONENTS_DIR / r["path"]).read_bytes()
        # compact-imports-rejected.wast runs with wasm-tools' default features, where the proposal is off
        feats = "all,-compact-imports" if "proposal disabled" in r["expected_message"] else None
        got, msg = _verdict(data, feats)
        if got != r["kind"]:
            wrong.append(f"{r['path']}: {got} ({msg}), the suite says {r['kind']}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------------------------- messages

def test_error_names_function_instruction_offset_and_types():
    data = wat2wasm('(module (func $ok) (func $parse_header (result i32) (i32.add (i32.const 1) (f64.const 2))))')
    with pytest.raises(ValidationError) as ei:
        wasmweld.validate(data)
    e = ei.value
    assert str(e).startswith("func 1 <parse_header> at 0x")
    assert "type mismatch: i32.add expects [i32 i32] but the stack has [i32 f64]" in str(e)
    assert (e.func, e.func_name, e.instr) == (1, "parse_header", "i32.add")
    assert [str(t) for t in e.expected] == ["i32", "i32"] and [str(t) for t in e.found] == ["i32", "f64"]
    # the offset is the instruction's absolute offset: wasmtime reports the same one
    with pytest.raises(wasmtime.WasmtimeError) as wt:
        wasmtime.Module.validate(wasmtime.Engine(), data)
    assert f"0x{e.offset:x}" in str(wt.value)
    assert data[e.offset] == 0x6A  # i32.add


@pytest.mark.parametrize("wat, words", [
    ("(module (func (local.get 3)))", "unknown local 3"),
    ("(module (func (drop (global.get 0))))", "unknown global 0"),
    ("(module (global i32 (i32.const 0)) (func (global.set 0 (i32.const 1))))", "immutable global"),
    ("(module (memory 1) (func (drop (i32.load align=8 (i32.const 0)))))", "alignment must not be larger than natural"),
    ("(module (func (br 1)))", "unknown label"),
    ("(module (func (call 5)))", "unknown function 5"),
    ("(module (memory 2 1))", "size minimum must not be greater than maximum"),
    ("(module (func) (export \"f\" (func 0)) (export \"f\" (func 0)))", "duplicate export name"),
    ("(module (func (param i32)) (start 0))", "start function"),
    ("(module (func (result i32) (ref.is_null (ref.func 0)) drop (i32.const 0)))", "undeclared function reference"),
])
def test_messages(wat, words):
    with pytest.raises(ValidationError, match=words):
        validate_module(wat2wasm(wat))


# ---------------------------------------------------------------------------------------- features

def test_feature_strings():
    assert "simd" not in parse_features("wasm1")
    assert "legacy-exceptions" in parse_features("wasm3,+legacy-exceptions")
    assert "threads" not in parse_features("all,-threads")
    assert parse_features(None) == parse_features("all")
    with pytest.raises(FeatureError):
        parse_features("wasm9")


@pytest.mark.parametrize("wat, features, words", [
    ("(module (func (drop (i32x4.splat (i32.const 1)))))", "wasm1", "simd"),
    ("(module (memory 1 1 shared))", "all,-threads", "threads"),
    ("(module (memory 1) (memory 1))", "wasm2", "multiple memories"),
    ("(module (func (return_call 0)))", "wasm2", "tail-call"),
    ("(module (func (drop (i64.extend32_s (i64.const 1)))))", "wasm1", "sign-extension"),
])
def test_features_gate(wat, features, words):
    data = wat2wasm(wat)
    validate_module(data)  # valid with the default features
    with pytest.raises(ValidationError, match=words):
        validate_module(data, features)


LEGACY_EH = """(module (tag $e (param i32))
  (func (export "f") (result i32)
    (try (result i32) (do (throw $e (i32.const 1))) (catch $e) (catch_all (i32.const 2)))))"""


def test_legacy_exceptions_default_on():
    from wasmweld.binary.instr import Instr, encode_body
    from wasmweld.module import FuncBody, Module
    from wasmweld.types import I32, FuncType, RecGroup, SubType, TagType
    from wasmweld.items import Tag

    m = Module()
    m.types = [RecGroup((SubType(FuncType((I32,), ())),)), RecGroup((SubType(FuncType((), (I32,))),))]
    m.tags = [Tag(TagType(0))]
    m.funcs = [1]
    body = [Instr.make("try", I32), Instr.make("i32.const", 1), Instr.make("throw", 0),
            Instr.make("catch", 0), Instr.make("catch_all"), Instr.make("i32.const", 2), Instr.make("end")]
    m.code = [FuncBody(raw=encode_body([], body + [Instr.make("end")]))]
    data = m.encode()
    validate_module(data)
    with pytest.raises(ValidationError, match="legacy-exceptions"):
        validate_module(data, "all,-legacy-exceptions")
    # catch pushes the tag's i32: a catch_all after it with nothing pushed is a mismatch
    bad = body[:4] + [Instr.make("drop")] + body[4:]
    m.code = [FuncBody(raw=encode_body([], bad + [Instr.make("end")]))]
    with pytest.raises(ValidationError, match="type mismatch"):
        validate_module(m.encode())


# ---------------------------------------------------------------------------------------- type system

def test_equivalent_rec_groups_are_one_type():
    wat = """(module
      (rec (type $a (struct (field (ref null $a)))))
      (rec (type $b (struct (field (ref null $b)))))
      (func (param (ref null $a)) (result (ref null $b)) (local.get 0)))"""
    validate_module(wat2wasm(wat))
    different = wat.replace("(rec (type $b (struct (field (ref null $b)))))",
                            "(rec (type $b (struct (field (ref null $b)) (field i32))))")
    with pytest.raises(ValidationError, match="type mismatch"):
        validate_module(wat2wasm(different))


def test_subtyping_and_final():
    ok = """(module (type $p (sub (struct (field i32)))) (type $c (sub $p (struct (field i32) (field f64))))
      (func (param (ref $c)) (result (ref $p)) (local.get 0)))"""
    validate_module(wat2wasm(ok))
    with pytest.raises(ValidationError, match="sub type"):
        validate_module(wat2wasm(ok.replace("(sub (struct (field i32)))", "(struct (field i32))")))
    with pytest.raises(ValidationError, match="type mismatch"):
        validate_module(wat2wasm(ok.replace("(param (ref $c)) (result (ref $p))", "(param (ref $p)) (result (ref $c))")))


def test_non_defaultable_locals():
    ok = """(module (type $t (func)) (func $f) (elem declare func $f)
      (func (local (ref $t)) (local.set 0 (ref.func $f)) (drop (local.get 0))))"""
    validate_module(wat2wasm(ok))
    bad = ok.replace("(local.set 0 (ref.func $f)) ", "")
    with pytest.raises(ValidationError, match="uninitialized local"):
        validate_module(wat2wasm(bad))
    # initialisation inside a block ends with the block
    scoped = ok.replace("(local.set 0 (ref.func $f))", "(block (local.set 0 (ref.func $f)))")
    with pytest.raises(ValidationError, match="uninitialized local"):
        validate_module(wat2wasm(scoped))


def test_malformed_body_after_invalid_one_is_decode_error():
    m = wasmweld.parse(wat2wasm("(module (func (drop (i64.add (i32.const 1) (i32.const 2)))) (func nop))"))
    data = bytearray(m.encode())
    last = m.code[1].offset + len(m.code[1].raw) - 2
    assert data[last] == 0x01  # the nop
    data[last] = 0xFF  # an illegal opcode in the second body
    with pytest.raises(DecodeError):
        validate_module(bytes(data))


def test_two_process_path_reports_the_first_error(monkeypatch):
    from wasmweld.validator import parallel

    funcs = " ".join("(func (result i32) (i32.const %d))" % i for i in range(40))
    bad = funcs + " (func (result i32) (i64.const 0))" + " (func (result i32) (f32.const 0))" + funcs
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setenv("WASMWELD_VALIDATE_JOBS", "3")
    validate_module(wat2wasm(f"(module {funcs} {funcs})"))
    with pytest.raises(ValidationError) as ei:
        validate_module(wat2wasm(f"(module {bad})"))
    assert ei.value.func == 40 and "i64" in str(ei.value)


def test_validate_output_says_whether_the_input_failed():
    from wasmweld.validate import validate_output

    good = wat2wasm("(module (func))")
    bad = wat2wasm("(module (func (result i32) (i64.const 0)))")
    validate_output(good, inputs=[("in.wasm", good)])
    with pytest.raises(ValidationError, match="input 'in.wasm' already fails validation"):
        validate_output(bad, inputs=[("in.wasm", bad)])
    with pytest.raises(ValidationError, match="every input validates"):
        validate_output(bad, inputs=[("in.wasm", good)])


def test_engines():
    bad = wat2wasm("(module (func (result i32) (i64.const 0)))")
    for engine in ("wasmweld", "wasmtime", "both", "auto"):
        with pytest.raises(ValidationError):
            wasmweld.validate(bad, engine=engine)
        wasmweld.validate(wat2wasm("(module)"), engine=engine)
    with pytest.raises(ValueError):
        wasmweld.validate(bad, engine="v8")


def test_if_without_else_passes_its_parameters_through():
    bad = "(module (type $t (func (param i32))) (func (param i32) (local.get 0) (i32.const 1) (if (type $t) (param i32) (then drop))))"
    with pytest.raises(ValidationError, match="type mismatch"):
        validate_module(wat2wasm(bad))
    ok = "(module (type $t (func (param i32) (result i32))) (func (param i32) (result i32) (local.get 0) (i32.const 1) (if (type $t) (param i32) (result i32) (then))))"
    validate_module(wat2wasm(ok))
