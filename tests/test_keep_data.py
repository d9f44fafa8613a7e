"""Issue 15: the passive-data init accessor, with and without ``--keep-data``.

Default: ``memory.init`` then ``data.drop``; a second call traps through
``unreachable`` (a guard global), and Wizer refuses the module (it rejects
``data.drop``). ``--keep-data`` (``keep_data = true`` in a plan): no drop, the
accessor copies again on every call, Wizer accepts the module and
``wasmweld snapshot`` captures the copy made by init.
"""

from __future__ import annotations

import pytest
import wasmtime

from fixtures.snapshot.snaputil import run_wizer, wizer_path
from wasmweld.cli.main import main
from wasmweld.module import parse

# The template has a data section, as compiled templates do (a module without one: see
# tests/test_data_section_after_name_section.py).
TEMPLATE = '''(module
  (memory (export "memory") 1)
  (data (i32.const 16) "static")
  (func $size_stub (export "size_stub") (result i32) (i32.const 0))
  (func $init_stub (export "init_stub") (param i32) (result i32) (local.get 0))
  (func (export "load") (param i32) (result i32) (call $init_stub (local.get 0)))
  (func (export "wizer.initialize") (drop (call $init_stub (i32.const 1024)))))'''

PAYLOAD = b"console.log('keep');\n" * 20


@pytest.fixture
def edited(wat, tmp_path):
    """edit(keep: bool) -> output bytes of ``wasmweld edit`` on the template."""
    src = tmp_path / "template.wasm"
    src.write_bytes(wat(TEMPLATE))
    bundle = tmp_path / "bundle.js"
    bundle.write_bytes(PAYLOAD)

    def edit(keep: bool, *, plan: bool = False) -> bytes:
        out = tmp_path / f"out-{keep}-{plan}.wasm"
        if plan:
            p = tmp_path / "plan.toml"
            p.write_text(f'[[data]]\nname = "js"\nfile = "bundle.js"\nsize_func = "size_stub"\n'
                         f'init_func = "init_stub"\nkeep_data = {"true" if keep else "false"}\n')
            args = ["edit", str(src), "-o", str(out), "--plan", str(p)]
        else:
            args = ["edit", str(src), "-o", str(out), "--add-passive-data", f"js={bundle}",
                    "--size-func", "size_stub", "--init-func", "init_stub"] + (["--keep-data"] if keep else [])
        assert main(args) == 0
        return out.read_bytes()
    return edit


def _instance(data: bytes):
    eng = wasmtime.Engine()
    store = wasmtime.Store(eng)
    inst = wasmtime.Instance(store, wasmtime.Module(eng, data), [])
    return store, inst.exports(store)


@pytest.mark.parametrize("plan", [False, True], ids=["cli", "plan"])
def test_default_accessor_traps_clearly_on_a_second_call(edited, plan):
    store, ex = _instance(edited(False, plan=plan))
    assert ex["size_stub"](store) == len(PAYLOAD)
    assert ex["load"](store, 100) == 100
    assert bytes(ex["memory"].read(store, 100, 100 + len(PAYLOAD))) == PAYLOAD
    with pytest.raises(wasmtime.Trap) as info:
        ex["load"](store, 5000)
    assert "unreachable" in str(info.value) and "out of bounds" not in str(info.value)
    assert bytes(ex["memory"].read(store, 5000, 5000 + len(PAYLOAD))) == bytes(len(PAYLOAD))


@pytest.mark.parametrize("plan", [False, True], ids=["cli", "plan"])
def test_keep_data_accessor_is_callable_again(edited, plan):
    out = edited(True, plan=plan)
    assert not any(i.name == "data.drop" for body in parse(out).code for i in body.instrs)
    store, ex = _instance(out)
    for dest in (100, 5000, 100):
        assert ex["load"](store, dest) == dest
        assert bytes(ex["memory"].read(store, dest, dest + len(PAYLOAD))) == PAYLOAD


@pytest.mark.peers
def test_wizer_refuses_the_default_and_accepts_keep_data(edited, tmp_path):
    wizer_path()   # the peer tool must be there (AssertionError otherwise, not a skip)
    with pytest.raises(AssertionError, match="wizer failed"):
        run_wizer(edited(False))
    snap = run_wizer(edited(True))
    store, ex = _instance(snap)
    # init ran in Wizer: the copy is in the snapshot's memory before anything runs
    assert bytes(ex["memory"].read(store, 1024, 1024 + len(PAYLOAD))) == PAYLOAD
    assert ex["load"](store, 3000) == 3000   # and the segment is still there
    assert bytes(ex["memory"].read(store, 3000, 3000 + len(PAYLOAD))) == PAYLOAD


def test_wasmweld_snapshot_of_keep_data(edited, tmp_path):
    src = tmp_path / "keep.wasm"
    src.write_bytes(edited(True))
    out = tmp_path / "keep.snap.wasm"
    assert main(["snapshot", str(src), "-o", str(out), "--init-func", "wizer.initialize", "-q"]) == 0
    snap = out.read_bytes()
    datas = parse(snap).datas
    # segment 0 (the template's active data) is captured in memory and left empty; segment 1, the
    # injected one, is not dropped: kept whole at its index
    assert (datas[1].mode, datas[1].init) == ("passive", PAYLOAD) and datas[0].init == b""
    store, ex = _instance(snap)
    assert bytes(ex["memory"].read(store, 16, 22)) == b"static"
    assert bytes(ex["memory"].read(store, 1024, 1024 + len(PAYLOAD))) == PAYLOAD
    assert ex["load"](store, 7000) == 7000
    assert bytes(ex["memory"].read(store, 7000, 7000 + len(PAYLOAD))) == PAYLOAD


def test_keep_data_is_for_passive_data_only(wat, tmp_path, capsys):
    src = tmp_path / "t.wasm"
    src.write_bytes(wat(TEMPLATE))
    (tmp_path / "b").write_bytes(b"x")
    status = main(["edit", str(src), "-o", str(tmp_path / "o.wasm"), "--add-active-data", f"js={tmp_path / 'b'}",
                   "--keep-data"])
    err = capsys.readouterr().err
    assert status == 1 and err.startswith("error: ") and "--keep-data is only for --add-passive-data" in err
    assert not (tmp_path / "o.wasm").exists()
    status = main(["edit", str(src), "-o", str(tmp_path / "o.wasm"), "--keep-data"])
    assert status == 2 and "--keep-data must follow" in capsys.readouterr().err
