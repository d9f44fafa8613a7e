"""The annotated dump (wasmweld.binary.dump, ``wasmweld dump``): every byte once, in order; errors only as DecodeError.

Golden outputs live in tests/cli/dump_*.wat; these tests check properties over the
whole conformance suite and a few real modules, and the text forms of instructions.
"""

from __future__ import annotations

import struct

import pytest

import helpers
from wasmweld.binary.dump import DumpLine, dump, format_lines, instr_text, read_instr
from wasmweld.binary.instr import decode_locals
from wasmweld.errors import DecodeError
from wasmweld.module import parse

VALID = [p for p in sorted((helpers.CONFORMANCE_DIR / "valid").glob("*/*.wasm"))]
INVALID = [p for p in sorted((helpers.CONFORMANCE_DIR / "invalid").glob("*/*.wasm"))]
MALFORMED = [p for p in sorted((helpers.CONFORMANCE_DIR / "malformed").glob("*/*.wasm"))]


def _check_cover(lines: list[DumpLine], data: bytes) -> None:
    """Lines are in order, contiguous, and their bytes are the input exactly."""
    pos = 0
    for ln in lines:
        assert isinstance(ln, DumpLine)
        if ln.bytes:
            assert ln.offset == pos, f"line at 0x{ln.offset:x} but previous ended at 0x{pos:x}: {ln}"
            assert data[ln.offset:ln.offset + len(ln.bytes)] == ln.bytes
            pos += len(ln.bytes)
        assert ln.meaning, f"line without meaning at 0x{ln.offset:x}"
    assert b"".join(ln.bytes for ln in lines) == data


def test_conformance_folders_present(conformance_dir):
    assert len(VALID) == 2513 and len(MALFORMED) == 711 and len(INVALID) == 2735


def test_every_valid_and_invalid_module_dumps_every_byte_once(conformance_dir):
    """The strong property: concatenating the byte columns reproduces the file exactly."""
    for path in VALID + INVALID:  # invalid modules are well-formed: they dump too
        data = path.read_bytes()
        try:
            lines = list(dump(data))
        except Exception as e:  # pragma: no cover - the failure message names the file
            pytest.fail(f"{path.relative_to(conformance_dir)}: {type(e).__name__}: {e}")
        _check_cover(lines, data)
        # the text rendering is total too (no exception, one line per field at least)
        assert len(list(format_lines(lines, max_rows=None))) >= len(lines)


def test_malformed_modules_end_in_decode_error_after_a_prefix(conformance_dir):
    """Malformed: DecodeError and nothing else; the lines before it are a prefix of the file, up to the error."""
    for path in MALFORMED:
        data = path.read_bytes()
        lines = []
        gen = dump(data)
        with pytest.raises(DecodeError) as info:
            for ln in gen:
                lines.append(ln)
        err = info.value
        assert err.offset is not None, f"{path.name}: {err}"
        shown = b"".join(ln.bytes for ln in lines)
        assert data.startswith(shown), path.name
        # what was printed was decoded before the problem was found
        assert len(shown) <= max(err.offset, 8), f"{path.name}: printed past the error at 0x{err.offset:x}"


def test_malformed_found_by_the_walker_itself(conformance_dir):
    """The final parse(lazy=False) is a backstop; the streaming walk already rejects every malformed module."""
    from wasmweld.binary.dump import _Walker

    for path in MALFORMED:
        w = _Walker(path.read_bytes(), None)
        with pytest.raises(DecodeError):
            for _ in w.run():
                pass


def test_read_instr_agrees_with_the_library_decoder(conformance_dir):
    """dump's one-instruction reader vs instr.decode_body: same opcode rows, bytes and immediates."""
    count = 0
    for path in VALID:
        m = parse(path.read_bytes())
        for body in m.code:
            raw = body.raw
            _locals, pos = decode_locals(raw, 0, len(raw))
            for ins in body.instrs:
                op, args, end = read_instr(raw, pos, len(raw))
                assert op is ins.op, (path.name, ins)
                assert raw[pos:end] == ins.raw, (path.name, ins)
                mine = [a for a, k in zip(args, op.imm) if k != "zero"]
                theirs = list(ins.args)
                for a, b, kind in zip(mine, theirs, [k for k in op.imm if k != "zero"]):
                    if kind == "memarg":
                        assert (a.align, a.offset, a.memory) == tuple(b), (path.name, ins)
                    elif kind == "catches":
                        assert [tuple(c) for c in a] == [tuple(c) for c in b], (path.name, ins)
                    else:
                        assert a == b, (path.name, ins, kind)
                pos = end
                count += 1
            assert pos == len(raw)
    assert count > 40_000  # not vacuous: the suite holds ~50k instructions


@pytest.mark.parametrize("cid", ["as-rabin", "as-sha256-simd", "ts-html-side", "jco-p1-adapter-reactor",
                                 "ts-web-tree-sitter"])
def test_small_corpus_modules_dump_every_byte(cid, corpus_dir):
    data = helpers.corpus_path(cid).read_bytes()
    lines = list(dump(data, elide=8))
    _check_cover(lines, data)
    meanings = [ln.meaning for ln in lines]
    if cid == "jco-p1-adapter-reactor":  # producers and target_features are decoded entry by entry
        assert any(m.startswith('field "processed-by"') for m in meanings)
        assert "+bulk-memory" in meanings
    if cid == "ts-web-tree-sitter":
        assert any(m.startswith("mem info subsection") for m in meanings)


# ------------------------------------------------------------------ text forms


def _text(hexbytes: str) -> str:
    data = bytes.fromhex(hexbytes)
    op, args, end = read_instr(data, 0, len(data))
    assert end == len(data)
    return instr_text(op, args)


@pytest.mark.parametrize("code,text", [
    ("2802 00", "i32.load"),                     # natural alignment omitted
    ("2800 08", "i32.load offset=8 align=1"),
    ("3241 01 02", "i64.load16_s 1 offset=2"),   # explicit memory index (multi-memory)
    ("2d00 00", "i32.load8_u"),
    ("fd00 04 00", "v128.load"),
    ("fd54 00 00 03", "v128.load8_lane 3"),
    ("fe00 02 00", "memory.atomic.notify"),
    ("fe48 02 04", "i32.atomic.rmw.cmpxchg offset=4"),
    ("0240", "block"),
    ("027f", "block (result i32)"),
    ("0203", "block (type 3)"),
    ("0e03 00 01 02 00", "br_table 0 1 2 0"),
    ("1103 00", "call_indirect (type 3)"),
    ("1103 01", "call_indirect 1 (type 3)"),
    ("1c01 7b", "select (result v128)"),
    ("4300 00c0 7f", "f32.const nan"),
    ("4301 00c0 7f", "f32.const nan:0x400001"),
    ("4300 0080 ff", "f32.const -inf"),
    ("43cd cccc 3d", "f32.const 0.1"),
    ("440000000000000080", "f64.const -0.0"),
    ("44 182d4454fb210940", "f64.const 3.141592653589793"),
    ("d06e", "ref.null any"),
    ("d003", "ref.null 3"),
    ("fb14 6e", "ref.test (ref any)"),
    ("fb17 03", "ref.cast (ref null 3)"),
    ("fb18 01 00 6e 03", "br_on_cast 0 (ref null any) (ref 3)"),
    ("1f40 02 00 00 01 02 01", "try_table (catch 0 1) (catch_all 1)"),
    ("fc0a 01 00", "memory.copy 1 0"),
    ("fe03 00", "atomic.fence"),
    ("fd0d 000102030405060708090a0b0c0d0e0f", "i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"),
    ("fd0c 01000000 02000000 03000000 ffffffff", "v128.const i32x4 0x00000001 0x00000002 0x00000003 0xffffffff"),
    ("1083 80 80 80 00", "call 3"),               # LLVM's padded index
])
def test_instruction_text(code, text):
    assert _text(code.replace(" ", "")) == text


def test_f32_text_is_the_shortest_round_trip():
    from wasmweld.binary.instrtext import f32_text as _f32_text

    for bits in (0x3DCCCCCD, 0x7F7FFFFF, 0x00000001, 0x80000000, 0x3F800000, 0x4B7FFFFF):
        text = _f32_text(bits)
        assert struct.unpack("<I", struct.pack("<f", float(text)))[0] == bits, text
        assert len(text) <= 13
    assert _f32_text(0x7F7FFFFF) == "3.4028235e+38"   # rounding past FLT_MAX must not overflow


@pytest.mark.parametrize("code,message", [
    ("ff", "illegal opcode 0xff"),
    ("fc 7f", "illegal opcode 0xfc 0x7f"),
    ("28 80 01 00", "malformed memop flags"),
    ("fe 03 01", "zero byte expected"),
    ("fb 18 07 00 6e 6e", "malformed cast flags"),
    ("1f 40 01 05 00", "malformed catch clause kind"),
    ("0e 05 00", "length out of bounds"),
    ("41 80 80 80 80 80 00", "integer representation too long"),
    ("44 00 00", "unexpected end"),
])
def test_read_instr_rejects_bad_immediates(code, message):
    data = bytes.fromhex(code.replace(" ", ""))
    with pytest.raises(DecodeError, match=message):
        read_instr(data, 0, len(data))


# ------------------------------------------------------------------ eliding, custom sections, errors


def test_elided_runs_keep_their_bytes(wat):
    data = wat('(module (memory 1) (data (i32.const 0) "' + "x" * 1000 + '"))')
    full = list(dump(data))
    short = list(dump(data, elide=8))
    _check_cover(full, data)
    _check_cover(short, data)
    hidden = [ln for ln in short if ln.meaning.endswith("bytes not shown")]
    rows = [ln for ln in short if set(ln.meaning) == {"x"}]
    # 63 rows of 16: the first 6 and the last 2 (16 + 8 bytes) shown, 880 bytes in between hidden
    assert [len(ln.bytes) for ln in rows] == [16] * 7 + [8]
    assert len(hidden) == 1 and len(hidden[0].bytes) == 880 and hidden[0].meaning == "... 880 bytes not shown"
    text = list(format_lines(short))
    assert any("| ..." in t and "bytes not shown" in t for t in text)
    assert len(text) < len(list(format_lines(full)))


def test_malformed_known_custom_section_is_shown_raw(wat):
    """A broken 'name' section is not an error (the library keeps it raw): the rest becomes hex rows."""
    payload = b"\x04name" + b"\x01\x03\x05\x00\x01"  # function names: 5 entries claimed, 2 bytes
    data = b"\x00asm\x01\x00\x00\x00\x00" + bytes([len(payload)]) + payload
    assert parse(data, lazy=False).warnings  # the library's own verdict: kept raw
    lines = list(dump(data))
    _check_cover(lines, data)
    assert any(ln.meaning.startswith("(malformed name section, kept raw:") for ln in lines)


def test_error_after_partial_output():
    data = bytes.fromhex("0061736d01000000" "010501600001 7f" "03020100" "0a080106004 12a1aff0b".replace(" ", ""))
    lines = []
    with pytest.raises(DecodeError) as info:
        for ln in dump(data):
            lines.append(ln)
    assert info.value.offset == 0x1B and "illegal opcode 0xff" in str(info.value)
    assert [ln.meaning for ln in lines[-2:]] == ["i32.const 42", "drop"]


def test_input_forms():
    m = bytes.fromhex("0061736d01000000")
    assert [ln.meaning for ln in dump(bytearray(m))] == ["magic", "version 1"]
    assert [ln.meaning for ln in dump(memoryview(m))] == ["magic", "version 1"]
    for bad, msg in ((b"", "unexpected end"), (b"\0asn", "magic header"), (b"\0asm\x02\0\0\0", "unknown binary version")):
        with pytest.raises(DecodeError, match=msg):
            list(dump(bad))


def test_natural_alignment_matches_the_text_encoder(wat):
    """``align=`` is left out exactly when it is the natural alignment the text format assumes."""
    from wasmweld.binary.instrtext import natural_align as _natural_align
    from wasmweld.binary.opcodes import OPCODES

    ops = [op for op in OPCODES if "memarg" in op.imm]
    assert len(ops) > 100
    for op in ops:
        lane = " 0" if "lane" in op.imm else ""
        data = wat(f"(module (memory 1) (func {op.name}{lane}))")  # wat2wasm does not type-check
        ins = parse(data).code[0].instrs[0]
        assert ins.op is op and ins.args[0].align == _natural_align(op.name), op.name


# ------------------------------------------------------------------ mutation fuzz (bounded)

_FUZZ_SEEDS = [p for p in VALID if p.stat().st_size < 4096][::25]


@pytest.mark.parametrize("seed_index", range(4))
def test_mutants_raise_only_decode_errors(seed_index, conformance_dir):
    """Bit flips, truncations, inserted and boundary bytes: dump and info fail with DecodeError or not at all."""
    import random

    from wasmweld.cli.info import _collect, render

    rng = random.Random(seed_index)
    seeds = [p.read_bytes() for p in _FUZZ_SEEDS]
    assert len(seeds) > 20
    for _ in range(1500):
        d = bytearray(rng.choice(seeds))
        how = rng.randrange(4)
        for _ in range(rng.randint(1, 4)):
            if not d:
                break
            i = rng.randrange(len(d))
            if how == 0:
                d[i] ^= 1 << rng.randrange(8)
            elif how == 1:
                del d[i:]
            elif how == 2:
                d[i:i] = bytes([rng.randrange(256)]) * rng.randint(1, 3)
            else:
                d[i] = rng.choice([0x00, 0x40, 0x7F, 0x80, 0xFF])
        data = bytes(d)
        try:
            list(format_lines(dump(data, elide=8)))
        except DecodeError:
            pass
        try:
            render(*_collect(data), "x")
        except DecodeError:
            pass


def test_function_names_like_wasm_objdump(tmp_path):
    """``== func N <name> ==`` and ``call N <name>`` agree with wabt's ``wasm-objdump -d``."""
    import re
    import shutil
    import subprocess

    import wasmtime

    objdump = helpers.PEERS_BIN / "wasm-objdump"
    if not objdump.exists() and shutil.which("wasm-objdump") is None:
        pytest.skip("wabt (peers) missing")
    wat = """(module
      (import "env" "log" (func $log (param i32)))
      (func $__original_main (result i32) i32.const 7)
      (func $_start (export "_start") call $__original_main call $log return_call $__original_main)
      (func (result i32) i32.const 1))"""
    data = wasmtime.wat2wasm(wat)
    path = tmp_path / "n.wasm"
    path.write_bytes(data)
    theirs = subprocess.run([str(objdump), "-d", str(path)], capture_output=True, text=True, check=True).stdout
    their_heads = re.findall(r"func\[(\d+)\] <([^>]+)>:", theirs)
    their_calls = re.findall(r"\| (call \d+ <[^>]+>)", theirs)
    ours = [ln.meaning for ln in dump(data)]
    our_heads = [re.match(r"== func (\d+) <([^>]+)> ==", m).groups() for m in ours if m.startswith("== func")
                 and "<" in m]
    assert our_heads == their_heads == [("1", "__original_main"), ("2", "_start")]
    assert [m.strip() for m in ours if m.strip().startswith("call ")] == their_calls
    assert "return_call 1 <__original_main>" in [m.strip() for m in ours]
    assert "== func 3 ==" in ours                   # no name: no label
