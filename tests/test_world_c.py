"""The World on C fixtures (issue 6): a WASI command, a C import cycle, C services in reverse order."""

from __future__ import annotations

import json

from helpers import FIXTURES, compile_c
from wasmweld.cli.main import main as cli
from wasmweld.runtime.wasi import Preopen, WasiOptions
from wasmweld.runtime.world import World

W = FIXTURES / "world"
SERVICES = FIXTURES / "merge" / "c" / "services"


def test_wasi_command_output_via_temp_file(tmp_path):
    wasm = compile_c(W / "wasi_echo.c", target="wasm32-wasi")
    data = tmp_path / "data"
    data.mkdir()
    (data / "greeting.txt").write_text("hello from the host\nsecond line\n")
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    opts = WasiOptions(argv=["echo", "one", "two words"], env={"WHO": "wasmweld"}, stdout=str(out), stderr=str(err),
                       preopens=[Preopen(str(data), "/data", writable=False)])
    w = World(wasi=opts)
    w.add("echo", wasm)
    assert w.run_command("echo") == 2
    assert out.read_text() == "arg1=one\narg2=two words\nwho=wasmweld\nfile=hello from the host\n"
    assert err.read_text() == "done\n"


def test_wasi_without_grants_sees_nothing(tmp_path):
    wasm = compile_c(W / "wasi_echo.c", target="wasm32-wasi")
    chunks = []
    w = World(wasi=WasiOptions(stdout=chunks.append, stderr=None))
    w.add("echo", wasm)
    assert w.run_command("echo", argv=["echo", "x"]) == 1
    assert b"".join(chunks).decode() == "arg1=x\nwho=(unset)\nfile=(none)\n"
    # without WASI the command waits for a module named wasi_snapshot_preview1
    w2 = World()
    w2.add("echo", wasm)
    assert any("WASI is not enabled" in r for r in w2.pending["echo"])


def test_cli_runs_a_wasi_command(tmp_path, capfd):
    path = tmp_path / "echo.wasm"
    path.write_bytes(compile_c(W / "wasi_echo.c", target="wasm32-wasi"))
    (tmp_path / "greeting.txt").write_text("hi\n")
    status = cli(["run", "--propagate-exit", "--env", "WHO=cli", "--dir", f"{tmp_path}::/data", str(path), "a", "b", "c"])
    assert status == 3
    out = capfd.readouterr().out
    assert out == "arg1=a\narg2=b\narg3=c\nwho=cli\nfile=hi\n"
    # issue 15: by default the guest's status is named on stderr and wasmweld's own status is 0; arguments
    # after TARGET that are not wasmweld options (-V) and everything after -- belong to the guest
    status = cli(["run", "--env", "WHO=cli", str(path), "--dir", f"{tmp_path}::/data", "-V", "--", "--fuel"])
    cap = capfd.readouterr()
    assert status == 0 and cap.out == "arg1=-V\narg2=--\narg3=--fuel\nwho=cli\nfile=hi\n"
    assert "the guest exited with status 3" in cap.err
    status = cli(["run", str(path), "--env", "WHO=x", "--", "--fuel", "1"])
    cap = capfd.readouterr()
    assert status == 0 and cap.out == "arg1=--fuel\narg2=1\nwho=x\nfile=(none)\n"
    assert "the guest exited with status 2" in cap.err
    assert cli(["run", str(path), "--json", "x"]) == 0
    doc = json.loads(capfd.readouterr().out.splitlines()[-1])
    assert doc == {"schema": 1, "target": str(path), "invoke": None, "results": None, "exit_status": 1}


def test_c_modules_in_a_cycle():
    w = World()
    w.add("even", compile_c(W / "even.c", target="wasm32"))
    w.add("odd", compile_c(W / "odd.c", target="wasm32"))
    for n in (0, 1, 2, 7, 10, 999, 5000):
        assert w.invoke("even", "is_even", n) == (n % 2 == 0)
        assert w.invoke("odd", "is_odd", n) == (n % 2 == 1)
    # the calls really alternate between the two instances (is_even runs every other step)
    before = w.invoke("even", "even_calls")
    w.invoke("odd", "is_odd", 100)
    assert w.invoke("even", "even_calls") - before == 50


def test_c_services_added_in_reverse_dependency_order():
    w = World()
    w.add("bank", compile_c(SERVICES / "bank.c", target="wasm32"))
    w.add("ledger", compile_c(SERVICES / "ledger.c", target="wasm32"))
    assert not any(h for h in ("bank", "ledger") if h not in w.pending)  # both wait for the logger
    w.add("logger", compile_c(SERVICES / "logger.c", target="wasm32"))
    assert w.pending == {}
    assert w.invoke("bank", "set_policy", 2) == 2
    assert w.invoke("bank", "transfer", 1, 2, 100) == 1
    assert w.invoke("ledger", "balance", 1) == 500 - 100 - 100 * 25 // 10000
    assert w.invoke("ledger", "balance", 2) == 250 + 100
    assert w.invoke("bank", "transfer", 2, 3, 5000) == 0
    # each service keeps its own memory: the ledger's names live in the ledger's memory
    assert chr(w.invoke("ledger", "name_char", 2, 1)) == "o"
    assert w.memory("ledger").raw is not w.memory("bank").raw
    assert w.invoke("logger", "count") >= 4
