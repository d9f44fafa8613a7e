"""Issue 6: `wasmweld merge --world world.toml -o one.wasm`, the one-world module of a manifest, from the CLI.

The same manifest runs as a swarm (`wasmweld run world.toml --invoke bank.transfer 1 2 50`) and,
merged by the CLI, as one module (`wasmweld run one.wasm --invoke transfer 1 2 50`): the answers
must be the same.
"""

from __future__ import annotations

import pytest

from helpers import REPO, services_world
from wasmweld.cli.main import main as cli
from wasmweld.errors import ExecutionError
from wasmweld.manifest import load_manifest
from wasmweld.module import parse
from wasmweld.runtime.engine import validate_bytes
from wasmweld.runtime.world import World

#: entry name -> MODULE.EXPORT (the merged module also exports each entry under its name)
ENTRIES = {"transfer": "bank.transfer", "open": "bank.open", "balance": "ledger.balance", "count": "logger.count"}

# (entry name in the merged module, MODULE.EXPORT in the swarm, args)
CALLS = [
    ("transfer", "bank.transfer", ["1", "2", "50"]),
    ("transfer", "bank.transfer", ["2", "3", "99999"]),
    ("open", "bank.open", ["7", "300"]),
    ("balance", "ledger.balance", ["0"]),
    ("balance", "ledger.balance", ["1"]),
    ("set_policy", "bank.set_policy", ["9"]),
    ("motto_char", "bank.motto_char", ["3"]),
    ("name_char", "ledger.name_char", ["1", "2"]),
    ("count", "logger.count", []),
]


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("merge_world")
    services_world(d, ENTRIES)
    return d


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = cli([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("extra", [[], ["--single-memory", "--drop-memory-exports"]], ids=["multi-memory", "single-memory"])
def test_merge_world_cli_matches_the_swarm(world_dir, capsys, extra):
    toml = world_dir / "world.toml"
    one = world_dir / f"one{len(extra)}.wasm"
    status, _out, err = run_cli(capsys, "merge", "--world", toml, "-o", one, *extra)
    assert status == 0, err
    assert "merged 3 modules" in err and "5 fusions, 0 imports left" in err
    data = one.read_bytes()
    validate_bytes(data)
    m = parse(data)
    assert m.imports == []  # every import was fused
    assert len(m.memories) == (1 if extra else 3)
    assert {"transfer", "open", "balance", "count"} <= {e.name for e in m.exports}

    answers = []
    for entry, qualified, args in CALLS:
        s1, merged_out, e1 = run_cli(capsys, "run", one, "--invoke", entry, *args)
        s2, swarm_out, e2 = run_cli(capsys, "run", toml, "--invoke", qualified, *args)
        assert (s1, merged_out) == (s2, swarm_out), (entry, args, e1, e2)
        assert s1 == 0, e1
        answers.append(merged_out.split())
    # the calls did something: a transfer went through, one was refused, the reserve is there
    assert answers[0] == ["1"] and answers[1] == ["0"] and answers[3] == ["1000000"]


def test_merge_world_cli_output_keeps_state_like_the_swarm(world_dir, capsys):
    """A stateful sequence: the CLI's one.wasm in one instance vs the manifest's swarm."""
    toml = world_dir / "world.toml"
    one = world_dir / "stateful.wasm"
    assert run_cli(capsys, "merge", "--world", toml, "-o", one, "-q")[0] == 0
    man = load_manifest(toml)
    swarm = World.from_manifest(man)
    merged = World()
    merged.add("world", one.read_bytes())
    seq = [("open", (1, 1000)), ("transfer", (1, 2, 400)), ("transfer", (3, 9, 500)), ("bank.set_policy", (3,)),
           ("transfer", (1, 3, 100)), ("bank.fees", ()), ("balance", (1,)), ("balance", (0,)),
           ("ledger.changes", ()), ("count", ()), ("logger.checksum", ()), ("balance", (5000,))]
    got = []
    for name, args in seq:
        pair = []
        for world, resolve in ((swarm, man.resolve_entry), (merged, lambda n: ("world", n.split(".")[-1]))):
            try:
                pair.append(world.invoke(*resolve(name), *args))
            except ExecutionError as e:
                pair.append(("trap", str(e).split(": trapped: ")[-1]))
        assert pair[0] == pair[1], (name, args, pair)
        got.append(pair[0])
    assert got[:3] == [1, 1, 0] and got[5] > 0 and got[9] > 5


def test_merge_world_plan_and_entry_names(tmp_path, capsys):
    """The bundled examples: bank and ledger both export `balance`; the entry point decides which one it is."""
    ex = REPO / "examples"
    toml = tmp_path / "w.toml"
    toml.write_text(f"""
[[module]]
name = "logger"
path = "{ex / 'logger.wat'}"
[[module]]
name = "ledger"
path = "{ex / 'ledger.wat'}"
[[module]]
name = "bank"
path = "{ex / 'bank.wat'}"
[entries]
balance = "ledger.balance"
""")
    status, out, err = run_cli(capsys, "merge", "--world", toml, "--plan")
    assert status == 0, err
    assert "fusions (5)" in out and "bank      ledger.credit" in out
    assert not list(tmp_path.glob("*.wasm"))

    one = tmp_path / "one.wasm"
    assert run_cli(capsys, "merge", "--world", toml, "-o", one)[0] == 0
    exports = {e.name: e for e in parse(one.read_bytes()).exports}
    assert "bank:balance" in exports  # the later conflicting export, renamed (the manifest default)
    w = World()
    w.add("one", one.read_bytes())
    assert w.invoke("one", "open", 4, 250) == 1
    assert w.invoke("one", "balance", 4) == 250       # ledger.balance, by entry name
    assert w.invoke("one", "bank:balance", 4) == 250  # bank.balance, renamed
    assert w.invoke("one", "balance", 0) == 1_000_000 - 250


def test_merge_world_cli_errors_write_nothing(world_dir, tmp_path, capsys):
    out = tmp_path / "one.wasm"
    status, _o, err = run_cli(capsys, "merge", "--world", world_dir / "world.toml", "a.wasm=a", "-o", out)
    assert status == 1 and "drop the INPUT arguments" in err
    status, _o, err = run_cli(capsys, "merge", "-o", out)
    assert status == 1 and "no inputs" in err
    status, _o, err = run_cli(capsys, "merge", "--world", tmp_path / "missing.toml", "-o", out)
    assert status == 1 and "missing.toml" in err
    # a module that imports an export its provider does not have: a LinkError naming both sides
    (tmp_path / "a.wat").write_text('(module (import "b" "nope" (func)) (func (export "f")))')
    (tmp_path / "b.wat").write_text('(module (func (export "g")))')
    (tmp_path / "bad.toml").write_text('[[module]]\nname="a"\npath="a.wat"\n[[module]]\nname="b"\npath="b.wat"\n')
    status, _o, err = run_cli(capsys, "merge", "--world", tmp_path / "bad.toml", "-o", out)
    assert status == 1 and "missing export: a imports b.nope" in err and "b has no export named 'nope'" in err, err
    assert not out.exists()
    # an invalid module (f64 where i32 is due): the error blames that module's file, not the merge
    (tmp_path / "b.wasm").write_bytes(bytes.fromhex("0061736d01000000" "010501600001 7f" "03020100"
                                                    "07050101680000" "0a0d010b0044" + "00" * 8 + "0b"))
    (tmp_path / "bad2.toml").write_text('[[module]]\nname="a"\npath="a.wat"\n[[module]]\nname="b"\n'
                                        'path="b.wasm"\n')
    (tmp_path / "a.wat").write_text('(module (import "b" "h" (func (result i32))) (func (export "f") (result i32) call 0))')
    status, _o, err = run_cli(capsys, "merge", "--world", tmp_path / "bad2.toml", "-o", out)
    assert status == 1 and "b.wasm" in err and "not a valid module" in err, err
    assert not out.exists()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.wat", "b.wasm", "b.wat", "bad.toml", "bad2.toml"]
