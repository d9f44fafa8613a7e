"""DWARF through surgery and snapshot (issue 14): the merged services' debug info stays true.

The three -g services are merged, then edited (``--gc`` after removing an export, so code moves
back; ``--replace-body``; ``--add-export``; ``--add-passive-data``) or snapshotted. After each,
``llvm-dwarfdump --verify`` finds no error, ``wasm-tools addr2line`` gives for >= 200 addresses
of each input the frames it gives on that input (functions found by name, so moved code counts
and removed code is not sampled), a replaced body has no frames, and the trap in audit still
shows its source lines.
"""

from __future__ import annotations

import pytest
from dwarfcheck import assert_same_lines, bodies, build_dwarf_services, func_names, verify, wasm_tools_addr2line
from test_dwarf_trap import assert_trap_frames

from wasmweld import parse
from wasmweld.cli.main import main as cli_main
from wasmweld.errors import ExecutionError
from wasmweld.link import merge
from wasmweld.runtime.world import World


@pytest.fixture(scope="module")
def services():
    return build_dwarf_services()


@pytest.fixture(scope="module")
def merged(services, tmp_path_factory):
    path = tmp_path_factory.mktemp("dwarf") / "merged.wasm"
    path.write_bytes(merge(services, export_conflicts="rename", warn=lambda text: None).encode())
    return path


def _trap_frames(data: bytes) -> None:
    world = World()
    world.add("svc", data)
    with pytest.raises(ExecutionError) as info:
        world.invoke("svc", "refund", 3)
    assert_trap_frames(str(info.value))


def _check(services, data: bytes, tmp_path, skip: tuple[str, ...] = ()) -> None:
    verify(data, tmp_path)
    for name, inp in services:
        # (pricing keeps only quote, 95 addresses, when price_list's body is replaced)
        assert_same_lines(inp, data, name, tmp_path, skip=skip, at_least=90 if "price_list" in skip else 200)
    _trap_frames(data)


EDITS = {
    "gc": ["--remove-export", "report", "--gc"],
    "replace-body": ["--replace-body", "report=0"],
    "add-export": ["--add-export", "extra=audit_check(5)"],
    "add-passive-data": ["--add-passive-data", "blob=BLOB"],
    "add-passive-data-into-bodies": ["--add-passive-data", "blob=BLOB", "--size-func", "report",
                                     "--init-func", "price_list"],
}
#: functions whose bodies an edit replaces (their old DWARF must be gone)
REPLACED = {"replace-body": ("report",), "add-passive-data-into-bodies": ("report", "price_list")}


@pytest.mark.parametrize("edit", list(EDITS))
def test_edit_keeps_dwarf_true(services, merged, edit, tmp_path, capsys):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 12)
    out = tmp_path / "out.wasm"
    argv = [a.replace("BLOB", str(blob)) for a in EDITS[edit]]
    assert cli_main(["edit", str(merged), "-o", str(out), *argv]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "DWARF" not in err, err
    data = out.read_bytes()
    _check(services, data, tmp_path, skip=REPLACED.get(edit, ()))
    before, after = merged.read_bytes(), data
    if edit == "gc":
        assert "report" not in func_names(after) and len(parse(after).code) == len(parse(before).code) - 1
    for name in REPLACED.get(edit, ()):
        start, end = bodies(after)[func_names(after)[name]]
        frames = wasm_tools_addr2line(after, list(range(start, end + 1)), tmp_path)
        assert all(f == "no dwarf frames found for this address" for f in frames), (name, frames[:3])
    if edit in ("add-export", "add-passive-data"):
        # the code of the inputs did not move: the DWARF is copied byte for byte
        for cs in parse(before).customs:
            if cs.name.startswith(".debug_"):
                assert parse(after).custom(cs.name).data == cs.data


def test_snapshot_keeps_dwarf_true(services, merged, tmp_path, capsys):
    out = tmp_path / "snap.wasm"
    assert cli_main(["snapshot", str(merged), "-o", str(out), "--init-func", "warm_up", "-q"]) == 0, \
        capsys.readouterr().err
    data = out.read_bytes()
    assert data != merged.read_bytes()
    _check(services, data, tmp_path)


def test_strip_debug_still_strips(merged, tmp_path):
    out = tmp_path / "s.wasm"
    assert cli_main(["edit", str(merged), "-o", str(out), "--strip-debug", "--gc"]) == 0
    assert not [cs for cs in parse(out.read_bytes()).customs if cs.name.startswith(".debug_")]


@pytest.mark.parametrize("argv", [["--stub-imports", "audit"], ["--resolve-import", "pricing", "quote", "order"]],
                         ids=["stub-imports", "resolve-import"])
def test_import_surgery_keeps_dwarf_true(services, argv, tmp_path, capsys):
    """Imports become definitions (stubs go first) or calls of a defined function: the function
    indices all move, and so may the code; the DWARF follows."""
    shop = dict(services)["shop"]
    src, out = tmp_path / "shop.wasm", tmp_path / "out.wasm"
    src.write_bytes(shop)
    assert cli_main(["edit", str(src), "-o", str(out), *argv]) == 0, capsys.readouterr().err
    data = out.read_bytes()
    assert len(parse(data).imports) < len(parse(shop).imports)
    verify(data, tmp_path)
    assert_same_lines(shop, data, "shop", tmp_path)
