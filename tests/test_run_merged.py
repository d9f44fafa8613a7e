"""Issue 15: ``run world.toml --merged --invoke MODULE.EXPORT`` (the qualified form, as for the swarm)."""

from __future__ import annotations

import pytest

from helpers import services_world
from wasmweld.cli.main import main as cli
from wasmweld.manifest import load_manifest, merged_export_name


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    # one entry only: the other exports are reached by MODULE.EXPORT
    return services_world(tmp_path_factory.mktemp("world"), {"go": "bank.transfer"})


@pytest.mark.parametrize("argv, expected", [
    (["--invoke", "bank.transfer", "1", "2", "50"], ["1"]),
    (["--invoke", "go", "1", "2", "50"], ["1"]),
    (["--invoke", "ledger.balance", "0"], ["1000000"]),
    (["--invoke", "logger.count"], None),
])
def test_merged_accepts_module_dot_export_like_the_swarm(manifest, argv, expected, capsys):
    assert cli(["run", str(manifest), *argv]) == 0
    swarm = capsys.readouterr().out.split()
    assert cli(["run", str(manifest), "--merged", *argv]) == 0
    merged = capsys.readouterr().out.split()
    assert merged == swarm and len(merged) == 1
    if expected is not None:
        assert merged == expected


def test_merged_export_names(manifest):
    man = load_manifest(manifest)
    assert merged_export_name(man, "bank", "transfer") == "go"              # the entry name wins
    assert merged_export_name(man, "ledger", "balance") == "balance"
    assert merged_export_name(man, "ledger", "memory") == "ledger:memory"   # renamed on the conflict
    assert merged_export_name(man, "ledger", "nope") is None


def test_merged_unknown_qualified_name_is_one_error_line(manifest, capsys):
    assert cli(["run", str(manifest), "--merged", "--invoke", "ledger.nope"]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: {manifest}: ledger.nope is not exported by the merged module "
                   "(is it an export of module 'ledger'?)\n")
    assert cli(["run", str(manifest), "--merged", "--invoke", "nomodule.f"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "neither an entry point" in err and len(err.splitlines()) == 1
