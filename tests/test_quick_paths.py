"""Quick paths (issue 10): strip, metadata and info never decode function bodies, on any module.

The fixture uses legacy exception handling, which wasmtime rejects, so ``check_wellformed``
cannot lean on wasmtime and takes wasmweld's own path. The full body decoder is replaced by
one that fails: the commands must still succeed (bodies are checked by the pattern scanner of
``wasmweld.binary.bodycheck``), and malformed bodies must still be refused with an offset
(with the real decoder, which the quick check falls back to for the message).
"""

from __future__ import annotations

import random
import sys

import pytest

from helpers import CONFORMANCE_DIR, conformance_rows

import wasmweld.binary.bodycheck  # noqa: F401  (its fallback decode_body is patched too)
import wasmweld.binary.instr as instr_mod
import wasmweld.items  # noqa: F401  (imported so that its decode_body is patched too)
import wasmweld.module as module_mod
import wasmweld.validator.modcheck  # noqa: F401
from wasmweld.binary.bodycheck import body_wellformed, check_body
from wasmweld.binary.instr import Catch, Instr, decode_body, encode_body
from wasmweld.cli.main import main
from wasmweld.errors import DecodeError, WasmError
from wasmweld.items import Export, Tag
from wasmweld.module import FuncBody, Module, parse
from wasmweld.passes.metadata import add_custom
from wasmweld.types import I32, ExternKind, FuncType, Limits, MemoryType, RecGroup, SubType, TagType

mk = Instr.make


def _bodies() -> list[list]:
    """Bodies (without the final end) using legacy try/catch, deep nesting, br_table, memory, select."""
    legacy = [mk("try", I32), mk("i32.const", 1), mk("throw", 0), mk("catch", 0), mk("catch_all"),
              mk("i32.const", 2), mk("end")]
    deep = []
    for _ in range(7):                      # deeper than the pattern matches whole (NEST_LEVELS)
        deep.append(mk("block", None))
    deep += [mk("local.get", 0), mk("br_table", tuple(range(7)) * 3, 4)]   # more labels than the pattern spells out
    deep += [mk("local.get", 0), mk("br_table", (0, 2, 5), 1)]
    deep += [mk("end")] * 7
    deep += [mk("loop", None), mk("local.get", 0), mk("if", None), mk("nop"), mk("else"), mk("br", 1), mk("end"),
             mk("end"), mk("i32.const", 0), mk("i32.load", instr_mod.MemArg(2, 8, 0)),
             mk("i32.const", 3), mk("local.get", 0), mk("select")]
    return [legacy, deep]


def legacy_module() -> bytes:
    m = Module()
    m.types = [RecGroup((SubType(FuncType((I32,), ())),)), RecGroup((SubType(FuncType((), (I32,))),)),
               RecGroup((SubType(FuncType((I32,), (I32,))),))]
    m.tags = [Tag(TagType(0))]
    m.memories = [MemoryType(Limits(1, None))]
    m.funcs = [1, 2]
    m.code = [FuncBody(raw=encode_body([], body + [mk("end")])) for body in _bodies()]
    m.exports = [Export("f", ExternKind.FUNC, 0), Export("g", ExternKind.FUNC, 1)]
    add_custom(m, ".debug_info", b"\x01\x02\x03")
    add_custom(m, "producers", b"\x00")
    return m.encode()


@pytest.fixture(scope="module")
def legacy_bytes() -> bytes:
    data = legacy_module()
    from wasmweld.runtime.engine import validate_bytes

    with pytest.raises(WasmError):       # the premise: wasmtime cannot vouch for this module
        validate_bytes(data)
    wasmweld_validate(data)              # ... but it is valid
    return data


def wasmweld_validate(data: bytes) -> None:
    from wasmweld.validate import validate

    validate(data)


@pytest.fixture
def no_body_decoding(monkeypatch):
    """Every module's ``decode_body`` fails; returns the list of quick checks made."""
    real = instr_mod.decode_body

    def refuse(*a, **k):
        raise AssertionError("a function body was decoded on the quick path")

    for mod in list(sys.modules.values()):
        if getattr(mod, "decode_body", None) is real and getattr(mod, "__name__", "").startswith("wasmweld"):
            monkeypatch.setattr(mod, "decode_body", refuse)
    checks = []

    def counting(raw, base=0):
        ok = body_wellformed(raw, base)
        checks.append(ok)
        return ok

    monkeypatch.setattr(module_mod, "body_wellformed", counting)
    return checks


def test_commands_do_not_decode_bodies(legacy_bytes, no_body_decoding, tmp_path, capsys):
    src = tmp_path / "eh.wasm"
    src.write_bytes(legacy_bytes)
    out = tmp_path / "out.wasm"
    assert main(["strip", str(src), "--debug", "-o", str(out), "-q"]) == 0, capsys.readouterr().err
    assert no_body_decoding == [True, True]          # both bodies checked, none decoded
    stripped = parse(out.read_bytes())
    assert [c.name for c in stripped.customs] == ["producers"]
    assert [b.raw for b in stripped.code] == [b.raw for b in parse(legacy_bytes).code]
    assert main(["metadata", "show", str(src)]) == 0
    assert main(["metadata", "add", str(src), "-o", str(tmp_path / "m.wasm"), "--custom", "k=v", "-q"]) == 0
    assert main(["info", str(src)]) == 0
    assert len(no_body_decoding) == 6 and all(no_body_decoding)
    capsys.readouterr()


def _malformed_variants(data: bytes) -> dict[str, bytes]:
    """The fixture with one body broken in place (same length, so sections stay consistent)."""
    m = parse(data)
    body = m.code[1]
    raw, at = body.raw, body.offset
    block = raw.index(bytes([0x02, 0x40]))          # the first `block` of the deep body
    end_at = len(raw) - 1
    inner_end = raw.rindex(b"\x0b", 0, end_at)      # the loop's end
    out = {
        "illegal-opcode": (block, b"\xff"),
        "missing-end": (inner_end, bytes([0x01])),          # nop instead of an end: the function never ends
        "early-end": (block, bytes([0x0b])),                # end at depth 0 before the body ends
        "bad-blocktype": (block + 1, b"\x80"),              # a type index LEB runs into the next bytes
    }
    variants = {}
    for name, (pos, repl) in out.items():
        b = bytearray(data)
        b[at + pos:at + pos + len(repl)] = repl
        variants[name] = bytes(b)
    return variants


@pytest.mark.parametrize("case", ["illegal-opcode", "missing-end", "early-end", "bad-blocktype"])
def test_malformed_bodies_still_refused(legacy_bytes, case, tmp_path, capsys):
    bad = _malformed_variants(legacy_bytes)[case]
    with pytest.raises(DecodeError) as full:
        parse(bad, lazy=False)
    with pytest.raises(DecodeError) as quick:
        parse(bad, lazy=False, bodies=False)
    assert str(quick.value) == str(full.value)
    src = tmp_path / "bad.wasm"
    src.write_bytes(bad)
    for argv in (["strip", str(src), "--debug", "-o", str(tmp_path / "o.wasm")], ["metadata", "show", str(src)]):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "offset 0x" in err[0], err
    assert not (tmp_path / "o.wasm").exists()


def test_quick_check_agrees_with_the_decoder_on_mutants(legacy_bytes):
    """Seeded mutations of real bodies: the quick check never vouches for a body the decoder refuses,
    and check_body raises exactly when decode_body does."""
    rng = random.Random(10)
    bodies = [b.raw for b in parse(legacy_bytes).code]
    catches = (Catch("catch", 0, 0), Catch("catch_ref", 0, 1), Catch("catch_all", None, 1), Catch("catch_all_ref", None, 0))
    for n in range(len(catches) + 1):      # try_table with 0..4 clauses (the pattern spells out up to 3)
        bodies.append(encode_body([], [mk("block", None), mk("try_table", None, catches[:n]), mk("nop"),
                                       mk("end"), mk("end"), mk("end")]))
    for path in sorted(CONFORMANCE_DIR.glob("valid/core/*.wasm"))[:300]:
        try:
            bodies += [b.raw for b in parse(path.read_bytes()).code]
        except DecodeError:
            pass
    vouched = refused = 0
    for _ in range(6000):
        r = bytearray(rng.choice(bodies))
        for _ in range(rng.randint(1, 3)):
            if not r:
                break
            i = rng.randrange(len(r))
            k = rng.randrange(3)
            if k == 0:
                r[i] = rng.randrange(256)
            elif k == 1:
                del r[i]
            else:
                r.insert(i, rng.randrange(256))
        r = bytes(r)
        try:
            decode_body(r, 100)
            ok = True
        except DecodeError:
            ok = False
        if body_wellformed(r, 100):
            vouched += 1
            assert ok, r.hex()
        if ok:
            check_body(r, 100)
        else:
            refused += 1
            with pytest.raises(DecodeError):
                check_body(r, 100)
    assert vouched > 300 and refused > 1000      # both sides exercised


def test_every_malformed_module_refused_on_the_quick_path(capsys, tmp_path):
    """The 711 malformed spec modules: the quick path gives the full decoder's error, and strip refuses each."""
    rows = conformance_rows("malformed")
    assert len(rows) == 711
    out = tmp_path / "o.wasm"
    for row in rows:
        path = CONFORMANCE_DIR / row["path"]
        data = path.read_bytes()
        with pytest.raises(DecodeError) as full:
            parse(data, lazy=False)
        with pytest.raises(DecodeError) as quick:
            parse(data, lazy=False, bodies=False)
        assert str(quick.value) == str(full.value), row["path"]
        assert main(["strip", str(path), "-o", str(out)]) == 1, row["path"]
        assert not out.exists()
    capsys.readouterr()
