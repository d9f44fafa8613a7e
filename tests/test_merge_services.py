"""Seed scenario of issue 3, "services into one world".

Three C services -- ``ledger`` owns the balances, ``bank`` calls the ledger,
``logger`` is called by both -- each with its own memory and static data, are
merged by the CLI into one module that must give the same answers as the three
run separately (linked at run time). A Go ``GOOS=js`` module joins the world:
its ``go``/``gojs`` imports stay unresolved and ``--plan`` reports them; with
``--single-memory`` the merged world even runs under node, which has no
multi-memory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "fixtures" / "merge"))

import harness  # noqa: E402
from helpers import build_services, go_build_js, run_go_js  # noqa: E402
from test_merge_diff import SERVICE_CALLS  # noqa: E402

from wasmweld import parse  # noqa: E402
from wasmweld.cli.main import main  # noqa: E402
from wasmweld.link import merge_plan  # noqa: E402

GO_HELLO = HERE / "fixtures" / "merge" / "go" / "hello"
GO_OUTPUT = "hello from go: sum of squares = 385"


@pytest.fixture(scope="module")
def service_files(tmp_path_factory):
    return build_services(tmp_path_factory.mktemp("services"))


def _modules(files):
    return [(n, files[n].read_bytes()) for n in ("logger", "ledger", "bank")]


@pytest.mark.parametrize("single", [False, True], ids=["multi-memory", "single-memory"])
def test_services_into_one_world(service_files, tmp_path, single, capsys):
    world = tmp_path / "world.wasm"
    argv = ["merge", *(f"{service_files[n]}={n}" for n in ("logger", "ledger", "bank")),
            "--rename-export-conflicts", "-o", str(world)]
    if single:
        argv += ["--single-memory", "--drop-memory-exports"]
    assert main(argv) == 0, capsys.readouterr().err
    summary = capsys.readouterr().err
    assert "merged 3 inputs: 5 fusions, 0 imports left" in summary
    data = world.read_bytes()
    harness.validate(data, multi_memory=not single)

    m = parse(data)
    assert m.imports == []                                  # every import was another service's export
    assert m.num_memories == (1 if single else 3)           # each service kept its own memory (or region)
    assert len(m.datas) == sum(len(parse(b).datas) for _n, b in _modules(service_files))

    modules = _modules(service_files)
    layout = None
    if single:  # where the CLI put each service's memory: the plan of the same merge says
        mp = merge_plan(modules, export_conflicts="rename", single_memory=True, drop_memory_exports=True)
        layout = mp.memory_layout
        assert [r.input for r in layout] == ["logger", "ledger", "bank"]
        assert mp.memory_base("logger") == 0 < mp.memory_base("ledger") < mp.memory_base("bank")
        plan_argv = [a for a in argv if a not in ("-o", str(world))] + ["--plan", "--json"]
        assert main(plan_argv) == 0                                     # the CLI's plan says the same
        doc = json.loads(capsys.readouterr().out)
        assert [(r["input"], r["base"]) for r in doc["memory_layout"]] == [(r.input, r.base) for r in layout]
    linked, merged = harness.compare(modules, data, SERVICE_CALLS, policy="rename",
                                     multi_memory=not single, layout=layout)
    if single:  # each service's memory was compared with its region of the one memory
        assert [e[1] for e in merged if e[0] == "memory-region"] == ["logger", "ledger", "bank"]
    assert linked == merged
    answers = {(mod, fn, args): out for mod, fn, args, out in linked[: len(SERVICE_CALLS)]}
    # the scenario really happened: money moved, the fee was charged, the refused transfer was logged
    assert answers[("bank", "transfer", (1, 2, 100))] == ("ok", 1)
    assert answers[("bank", "transfer", (2, 3, 5000))] == ("ok", 0)
    assert answers[("bank", "fees", ())] == ("ok", 1000 * 25 // 10000)     # policy 2: 25 basis points
    assert answers[("ledger", "name_char", (2, 1))] == ("ok", ord("o"))     # static data of the ledger ("bob")
    assert answers[("bank", "motto_char", (5,))] == ("ok", ord("d"))        # ... and of the bank
    assert answers[("logger", "count", ())][1] >= 10


@pytest.fixture(scope="module")
def go_hello():
    return go_build_js(GO_HELLO)


def test_go_module_unresolved_imports_in_plan(service_files, go_hello, tmp_path, capsys):
    go_path = tmp_path / "hello.wasm"
    go_path.write_bytes(go_hello)
    inputs = [f"{go_path}=hello", *(f"{service_files[n]}={n}" for n in ("logger", "ledger", "bank"))]
    status = main(["merge", *inputs, "--rename-export-conflicts", "--plan"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert list(tmp_path.iterdir()) == [go_path], "--plan wrote something"
    go_imports = [i for i in parse(go_hello).imports if i.module in ("go", "gojs")]
    assert len(go_imports) >= 10
    section = out.split("unresolved imports", 1)[1].split("exports (", 1)[0]
    assert f"unresolved imports ({len(go_imports)})" in out
    for imp in go_imports:
        assert f"{imp.module}.{imp.name}" in section
    assert "ledger    logger.log" in out.split("unresolved imports")[0]
    # the JSON form says the same
    assert main(["merge", *inputs, "--rename-export-conflicts", "--plan", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {(u["module"], u["name"]) for u in doc["unresolved"]} == {(i.module, i.name) for i in go_imports}
    assert all(u["importers"] == ["hello"] for u in doc["unresolved"])
    assert len(doc["fusions"]) == 5


def test_go_world_runs_under_node_with_single_memory(service_files, go_hello, tmp_path, capsys):
    """node 20 has no multi-memory: the --single-memory world still runs the Go program."""
    expected = run_go_js(go_hello)
    assert expected.returncode == 0 and GO_OUTPUT in expected.stdout.decode()
    go_path = tmp_path / "hello.wasm"
    go_path.write_bytes(go_hello)
    world = tmp_path / "world.wasm"
    argv = ["merge", f"{go_path}=hello", *(f"{service_files[n]}={n}" for n in ("logger", "ledger", "bank")),
            "--rename-export-conflicts", "--single-memory", "--drop-memory-exports", "-o", str(world)]
    assert main(argv) == 0, capsys.readouterr().err
    m = parse(world.read_bytes())
    assert m.num_memories == 1 and {i.module for i in m.imports} <= {"go", "gojs"}
    assert {e.name for e in m.exports} >= {"run", "resume", "getsp", "mem", "transfer", "log"}
    got = run_go_js(world.read_bytes())
    assert got.returncode == expected.returncode
    assert got.stdout == expected.stdout
    # the multi-memory world is rejected by node's engine, as expected of an engine without multi-memory
    multi = tmp_path / "multi.wasm"
    multi_argv = [a for a in argv if a not in ("--single-memory", "--drop-memory-exports")]
    multi_argv[-1] = str(multi)
    assert main(multi_argv) == 0
    assert parse(multi.read_bytes()).num_memories == 4
    assert run_go_js(multi.read_bytes()).returncode != 0
