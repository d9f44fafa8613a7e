"""The spec test suite's binary modules (../shared/conformance), against the binary core.

- every ``valid`` module round-trips byte for byte with ``lazy=True`` and with
  ``lazy=False``, and every decoded body re-encodes to its own bytes;
- rebuilt from scratch (a new Module holding the decoded items, every body built
  with ``FuncBody.from_instrs``), every valid module decodes to the same items and
  wasmtime still accepts the ones it accepted;
- every ``malformed`` module makes ``parse(data, lazy=False)`` raise DecodeError
  (with an offset inside the input) and nothing else;
- every ``invalid`` module (well-formed, ill-typed) decodes and round-trips.

One test per (kind, folder): each collects all failures of its folder and
reports them together. The malformed test prints how many messages agree with
the spec's expected message (``index.tsv``).
"""

from __future__ import annotations

import collections
import traceback

import pytest

from helpers import CONFORMANCE_DIR, conformance_rows

import wasmweld
from wasmweld import DecodeError, FuncBody, Module, parse
from wasmweld.binary.instr import encode_body

ROWS = conformance_rows()


def _folders(kind: str) -> list[str]:
    return sorted({r["path"].split("/")[1] for r in ROWS if r["kind"] == kind})


def _rows(kind: str, folder: str) -> list[dict[str, str]]:
    return [r for r in ROWS if r["kind"] == kind and r["path"].split("/")[1] == folder]


def _report(failures: list[tuple[str, str]], total: int) -> str:
    lines = [f"{len(failures)} of {total} modules failed:"]
    for path, why in failures[:40]:
        lines.append(f"  {path}: {why}")
    if len(failures) > 40:
        lines.append(f"  ... and {len(failures) - 40} more")
    return "\n".join(lines)


def _why(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    where = f" [{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}]" if tb else ""
    return f"{type(e).__name__}: {e}{where}"


def test_index_counts():
    counts = collections.Counter(r["kind"] for r in ROWS)
    assert counts == {"valid": 2513, "malformed": 711, "invalid": 2735}
    for r in ROWS:
        assert (CONFORMANCE_DIR / r["path"]).is_file(), r["path"]


def _roundtrip_checks(data: bytes) -> Module:
    out = parse(data).encode()
    assert out == data, "lazy round trip differs"
    m = parse(data, lazy=False)
    out = m.encode()
    assert out == data, "lazy=False round trip differs"
    for i, body in enumerate(m.code):
        again = encode_body(body.locals, body.instrs)
        assert again == body.raw, f"body {i} re-encodes differently"
    return m


@pytest.mark.parametrize("folder", _folders("valid"))
def test_valid_roundtrip(folder):
    rows = _rows("valid", folder)
    failures = []
    for row in rows:
        data = (CONFORMANCE_DIR / row["path"]).read_bytes()
        try:
            _roundtrip_checks(data)
        except Exception as e:  # collected and reported below
            failures.append((row["path"], _why(e)))
    print(f"valid/{folder}: {len(rows) - len(failures)}/{len(rows)} round-trip")
    assert not failures, _report(failures, len(rows))


def rebuild(m: Module) -> Module:
    """A new Module holding ``m``'s items, every body rebuilt from its instructions: nothing is copied raw."""
    new = Module()
    for attr in ("types", "imports", "funcs", "tables", "memories", "tags", "globals", "exports", "elems", "datas"):
        setattr(new, attr, list(getattr(m, attr)))
    new.code = [FuncBody.from_instrs(b.locals, b.instrs) for b in m.code]
    new.start = m.start
    new.datacount = m.datacount
    anchors = {}
    last = 0
    for sec in m.sections:
        if sec.id == 0:
            anchors.setdefault(sec.offset, last)
        else:
            last = sec.id
    for sec, cs in zip([s for s in m.sections if s.id == 0], m.customs):
        new.add_custom(cs.name, cs.data, after=anchors[sec.offset])
    return new


_ATTR = {1: "types", 2: "imports", 3: "funcs", 4: "tables", 5: "memories", 13: "tags", 6: "globals",
         7: "exports", 9: "elems", 10: "code", 11: "datas"}


def _layout(m: Module) -> list:
    return [(s.id, s.name) for s in m.sections if s.id not in _ATTR or getattr(m, _ATTR[s.id])]


def _same_items(a: Module, b: Module) -> None:
    for attr in ("types", "imports", "funcs", "tables", "memories", "tags", "globals", "exports", "elems", "datas",
                 "customs"):
        assert getattr(a, attr) == getattr(b, attr), f"{attr} differ after rebuild"
    assert a.start == b.start and a.datacount == b.datacount
    # a rebuilt module leaves out known sections with no items (the originals may have them)
    assert _layout(a) == _layout(b), "section order differs"
    for i, (x, y) in enumerate(zip(a.code, b.code)):
        assert x.locals == y.locals and x.instrs == y.instrs, f"body {i} differs after rebuild"


@pytest.mark.parametrize("folder", _folders("valid"))
def test_valid_rebuild(folder):
    rows = _rows("valid", folder)
    failures = []
    validated = 0
    for row in rows:
        data = (CONFORMANCE_DIR / row["path"]).read_bytes()
        try:
            m = parse(data, lazy=False)
            out = rebuild(m).encode()
            _same_items(m, parse(out, lazy=False))
            if row["wasmtime"] == "accept":
                wasmweld.validate(out)
                validated += 1
        except Exception as e:
            failures.append((row["path"], _why(e)))
    print(f"valid/{folder}: {len(rows) - len(failures)}/{len(rows)} rebuilt, {validated} validated by wasmtime")
    assert not failures, _report(failures, len(rows))


@pytest.mark.parametrize("folder", _folders("malformed"))
def test_malformed_rejected(folder):
    rows = _rows("malformed", folder)
    failures = []
    agree = 0
    for row in rows:
        data = (CONFORMANCE_DIR / row["path"]).read_bytes()
        try:
            parse(data, lazy=False)
        except DecodeError as e:
            if e.offset is None or not 0 <= e.offset <= len(data):
                failures.append((row["path"], f"DecodeError without a valid offset: {e}"))
            if row["expected_message"] and row["expected_message"] in e.message:
                agree += 1
            continue
        except Exception as e:
            failures.append((row["path"], f"not a DecodeError: {_why(e)}"))
            continue
        failures.append((row["path"], f"accepted (expected: {row['expected_message']})"))
    print(f"malformed/{folder}: {len(rows) - len(failures)}/{len(rows)} rejected with DecodeError, "
          f"{agree} with the spec's message")
    assert not failures, _report(failures, len(rows))


@pytest.mark.parametrize("folder", _folders("invalid"))
def test_invalid_decodes(folder):
    rows = _rows("invalid", folder)
    failures = []
    for row in rows:
        data = (CONFORMANCE_DIR / row["path"]).read_bytes()
        try:
            _roundtrip_checks(data)
        except Exception as e:
            failures.append((row["path"], _why(e)))
    print(f"invalid/{folder}: {len(rows) - len(failures)}/{len(rows)} decode and round-trip")
    assert not failures, _report(failures, len(rows))


def test_malformed_messages_summary():
    """Most rejections use the spec's own wording (the reference interpreter's messages)."""
    rows = [r for r in ROWS if r["kind"] == "malformed"]
    by_expected: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for row in rows:
        data = (CONFORMANCE_DIR / row["path"]).read_bytes()
        try:
            parse(data, lazy=False)
            got = ""
        except DecodeError as e:
            got = e.message
        entry = by_expected[row["expected_message"]]
        entry[1] += 1
        if row["expected_message"] in got:
            entry[0] += 1
    total_agree = sum(a for a, _n in by_expected.values())
    print(f"\nmalformed messages: {total_agree}/{len(rows)} agree with index.tsv")
    for msg, (a, n) in sorted(by_expected.items(), key=lambda kv: -kv[1][1]):
        print(f"  {a:4d}/{n:<4d} {msg}")
    # the module layer's checks use the spec's words exactly: names' UTF-8, section framing and
    # order, counts; the rest (LEB128 inside types and instructions, opcodes) nearly always
    assert total_agree >= 0.98 * len(rows)
    for msg in ("malformed UTF-8 encoding", "integer too large", "magic header not detected", "unknown binary version", "malformed section id",
                "function and code section have inconsistent lengths",
                "data count and data section have inconsistent lengths", "data count section required",
                "unexpected content after last section", "malformed import kind"):
        a, n = by_expected[msg]
        assert a == n, f"{msg!r}: only {a} of {n} rejections use the spec's message"


def test_cli_validate_rejects_every_malformed_module(capsys):
    """``wasmweld validate`` over the whole malformed suite at once: exit 1 and one line per module,
    ``FILE: message ... at offset 0x...``, on stderr, nothing on stdout."""
    from wasmweld.cli.main import main

    files = [CONFORMANCE_DIR / r["path"] for r in ROWS if r["kind"] == "malformed"]
    paths = [str(f) for f in files]
    assert len(paths) == 711
    assert main(["validate", *paths]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 711, f"{len(lines)} lines for 711 modules"
    for file, path, line in zip(files, paths, lines):  # in the order given
        assert line.startswith(f"{path}: "), (path, line)
        assert "offset 0x" in line, line
        assert "Traceback" not in line and "internal error" not in line, line
        with pytest.raises(DecodeError) as info:  # the same offset the library reports
            parse(file.read_bytes(), lazy=False)
        assert f"offset 0x{info.value.offset:x}" in line, (line, info.value.offset)
