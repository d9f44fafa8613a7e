"""World manifests (issue 6): one TOML file, run as a swarm and as one merged module with the same answers."""

from __future__ import annotations

import random

import pytest

from helpers import REPO, services_world
from wasmweld.cli.main import main as cli
from wasmweld.errors import ExecutionError, WasmError
from wasmweld.manifest import ManifestError, load_manifest, merge_world, parse_manifest
from wasmweld.runtime.world import World

#: entry name -> MODULE.EXPORT
ENTRIES = {"transfer": "bank.transfer", "open": "bank.open", "set_policy": "bank.set_policy", "fees": "bank.fees",
           "total": "bank.total", "balance": "ledger.balance", "changes": "ledger.changes",
           "count": "logger.count", "checksum": "logger.checksum"}


@pytest.fixture(scope="module")
def services_manifest(tmp_path_factory):
    return services_world(tmp_path_factory.mktemp("world"), ENTRIES)


def call_script(n: int, seed: int = 6):
    """A deterministic sequence of ``n`` entry-point calls exercising every service."""
    rng = random.Random(seed)
    calls = []
    for _ in range(n):
        r = rng.random()
        if r < 0.45:
            calls.append(("transfer", (rng.randrange(0, 8), rng.randrange(0, 8), rng.randrange(0, 400))))
        elif r < 0.55:
            calls.append(("open", (rng.randrange(4, 64), rng.randrange(0, 1000))))
        elif r < 0.6:
            calls.append(("set_policy", (rng.randrange(-1, 5),)))
        elif r < 0.75:
            calls.append(("balance", (rng.randrange(-2, 70),)))
        else:
            calls.append((rng.choice(["fees", "changes", "count", "checksum"]), ()))
        if rng.random() < 0.05:
            calls.append(("total", (rng.randrange(0, 64),)))
    return calls[:n]


def play(world: World, resolve, calls):
    out = []
    for name, args in calls:
        mod, fn = resolve(name)
        try:
            out.append(("ok", world.invoke(mod, fn, *args)))
        except ExecutionError as e:  # a trap is an answer too; both worlds must agree on it
            out.append(("trap", str(e).split(": trapped: ")[-1]))
    return out


def test_manifest_swarm_and_one_world_agree_on_1000_calls(services_manifest):
    man = load_manifest(services_manifest)
    assert [m.name for m in man.modules] == ["bank", "ledger", "logger"]
    calls = call_script(1000)
    assert len(calls) == 1000

    swarm = World.from_manifest(man)
    assert swarm.pending == {}
    swarm_answers = play(swarm, man.resolve_entry, calls)

    one = World()
    one.add("world", merge_world(man))
    assert one.modules == ["world"]
    assert {e for e in man.entries} <= set(one.exports("world"))
    one_answers = play(one, lambda name: ("world", name), calls)

    assert swarm_answers == one_answers
    # the script did real work: money moved and was refused, fees were charged, the log filled up
    by_kind = {}
    for (name, _args), ans in zip(calls, swarm_answers):
        by_kind.setdefault(name, []).append(ans)
    assert ("ok", 1) in by_kind["transfer"] and ("ok", 0) in by_kind["transfer"]
    assert any(v[1] > 0 for v in by_kind["fees"])
    assert len({v for v in by_kind["checksum"]}) > 5
    assert swarm.invoke("logger", "count") == one.invoke("world", "count") > 500


def test_cli_runs_manifest_as_swarm_and_merged(services_manifest, capsys):
    assert cli(["run", str(services_manifest), "--invoke", "transfer", "1", "2", "50"]) == 0
    assert capsys.readouterr().out.split() == ["1"]
    assert cli(["run", str(services_manifest), "--invoke", "bank.transfer", "2", "3", "99999"]) == 0
    assert capsys.readouterr().out.split() == ["0"]
    assert cli(["run", str(services_manifest), "--merged", "--invoke", "transfer", "1", "2", "50"]) == 0
    assert capsys.readouterr().out.split() == ["1"]
    assert cli(["run", str(services_manifest), "--invoke", "balance", "0"]) == 0
    assert capsys.readouterr().out.split() == ["1000000"]
    assert cli(["run", str(services_manifest), "--invoke", "nope"]) == 1
    assert "neither an entry point" in capsys.readouterr().err
    assert cli(["run", str(services_manifest)]) == 1
    assert "nothing to run" in capsys.readouterr().err


def test_manifest_with_wasi_stubs_and_bundled_examples(tmp_path, capsys):
    examples = REPO / "examples"
    (tmp_path / "w.toml").write_text(f"""
[world]
fuel = 5_000_000
stub_missing = false

[[module]]
name = "bank"
path = "{examples / 'bank.wat'}"
[[module]]
name = "ledger"
path = "{examples / 'ledger.wat'}"
[[module]]
name = "logger"
path = "{examples / 'logger.wat'}"
[[module]]
name = "extra"
path = "extra.wat"

[stubs]
"env.now" = "zero"
"debug" = "trap"

[wasi]
args = ["x"]
stdout = "out.txt"

[entries]
open = "bank.open"
now = "extra.now"
boom = "extra.boom"
""")
    (tmp_path / "extra.wat").write_text("""(module
      (import "env" "now" (func $now (result i64)))
      (import "debug" "boom" (func $boom))
      (func (export "now") (result i64) call $now)
      (func (export "boom") call $boom))""")
    man = load_manifest(tmp_path / "w.toml")
    assert man.fuel == 5_000_000 and man.wasi.argv == ("x",) and man.wasi.stdout == str(tmp_path / "out.txt")
    w = World.from_manifest(man)
    assert w.fuel == 5_000_000
    assert w.invoke(*man.resolve_entry("open"), 1, 100) == 1
    assert w.invoke(*man.resolve_entry("now")) == 0
    with pytest.raises(ExecutionError, match=r"debug\.boom"):
        w.invoke(*man.resolve_entry("boom"))
    assert cli(["run", str(tmp_path / "w.toml"), "--invoke", "open", "1", "100"]) == 0
    assert capsys.readouterr().out.split() == ["1"]


@pytest.mark.parametrize("text, what", [
    ("", "no modules"),
    ("[[module]]\nname='a'\n", "path must be"),
    ("[[module]]\nname='a'\npath='a.wasm'\n[[module]]\nname='a'\npath='b.wasm'\n", "appears twice"),
    ("[[module]]\nname='a'\npath='a.wasm'\n[entries]\nx='b.f'\n", "MODULE.EXPORT"),
    ("[[module]]\nname='a'\npath='a.wasm'\n[stubs]\n'env.x'='explode'\n", "trap"),
    ("[[module]]\nname='a'\npath='a.wasm'\n[wasi]\nbogus=1\n", "wasi.bogus"),
    ("[[module]]\nname='a'\npath='a.wasm'\nsurprise=1\n", "unknown key"),
    ("[world]\nfuel=-1\n[[module]]\nname='a'\npath='a.wasm'\n", "fuel"),
    ("[[module]\n", "not valid TOML"),
])
def test_manifest_errors(text, what):
    with pytest.raises(ManifestError, match=what):
        parse_manifest(text, "/tmp", "w.toml")


def test_manifest_paths_are_relative_to_the_file(tmp_path):
    man = parse_manifest("[[module]]\nname='a'\npath='sub/a.wasm'\n[wasi]\npreopens={'/d'='data'}\nreadonly=['/d']\n",
                         str(tmp_path))
    assert man.modules[0].path == str(tmp_path / "sub" / "a.wasm")
    [pre] = man.wasi.preopens
    assert (pre.host, pre.guest, pre.writable) == (str(tmp_path / "data"), "/d", False)
    assert man.resolve_entry("a.f") == ("a", "f")
    with pytest.raises(WasmError):
        World.from_manifest(man)  # the module file does not exist: a WasmError naming it
