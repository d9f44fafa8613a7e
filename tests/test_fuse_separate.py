"""``--emit component`` of several separate inputs (``wasmweld fuse prov.wasm cons.wasm``).

The provider imports ``log`` from the host and exports ``test:ml/api`` (test_fuse_may_leave's
fixture); the consumer imports ``test:ml/api`` and exports ``run``. Fused from the two separate
components, the output has the world ``wasm-tools compose`` gives (``wasm-tools component wit``
identical: the unsatisfied import ``log``, the consumer's ``run``) and behaves like that
composition under wasmtime (results, host calls, the may_leave trap).
"""

from __future__ import annotations

import pytest

pytest.importorskip("wasmtime")


def test_separate_inputs_give_the_composition_s_world_and_behaviour(tmp_path):
    import fuse_fixtures as F
    from test_fuse_may_leave import ML_CONSUMER, ML_PROVIDER, ML_WIT, _run
    from test_fuse_perf import build_component

    from wasmweld.fuse import fuse

    cons, prov = build_component(ML_WIT, "cons", ML_CONSUMER), build_component(ML_WIT, "prov", ML_PROVIDER)
    comp = F.compose(cons, prov)
    fused = fuse([("prov", prov), ("cons", cons)], emit="component").encode()
    F.wasm_tools("validate", "-", input=fused)
    (tmp_path / "c.wasm").write_bytes(comp)
    (tmp_path / "f.wasm").write_bytes(fused)
    wit = F.wasm_tools("component", "wit", str(tmp_path / "c.wasm"))
    assert b"import log: func(x: u32);" in wit and b"export run: func(realloc: bool, post: bool) -> u32;" in wit
    assert F.wasm_tools("component", "wit", str(tmp_path / "f.wasm")) == wit
    for args, expect in (((False, False), (ord("h") + 5000, [5])), ((True, False), ("trap", []))):
        assert _run(comp, *args) == _run(fused, *args) == expect
    # the CLI: the same output from the two files
    import subprocess
    import sys

    (tmp_path / "prov.wasm").write_bytes(prov)
    (tmp_path / "cons.wasm").write_bytes(cons)
    r = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", str(tmp_path / "prov.wasm"), str(tmp_path / "cons.wasm"),
                        "--emit", "component", "-o", str(tmp_path / "cli.wasm")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert F.wasm_tools("component", "wit", str(tmp_path / "cli.wasm")) == wit
    assert _run((tmp_path / "cli.wasm").read_bytes(), False, False) == (ord("h") + 5000, [5])


def test_separate_inputs_plugged_to_a_missing_export_are_refused():
    from test_fuse_may_leave import ML_CONSUMER, ML_PROVIDER, ML_WIT
    from test_fuse_perf import build_component

    from wasmweld.fuse import FuseError, fuse

    cons, prov = build_component(ML_WIT, "cons", ML_CONSUMER), build_component(ML_WIT, "prov", ML_PROVIDER)
    with pytest.raises(FuseError, match="--plug test:ml/api=nope: no other input exports `nope`"):
        fuse([("prov", prov), ("cons", cons)], plugs={"test:ml/api": "nope"}, emit="component")
    with pytest.raises(FuseError, match="--plug test:ml/apx=x: no input imports `test:ml/apx`"):
        fuse([("prov", prov), ("cons", cons)], plugs={"test:ml/apx": "x"})


def test_separate_inputs_export_the_root_whatever_the_order(tmp_path):
    """The world's exports are those of the input no other input imports from (the consumer's
    ``run``), also when the consumer is not the last input: ``fuse cons.wasm prov.wasm`` equals
    ``fuse prov.wasm cons.wasm`` (the provider's ``test:ml/api`` is consumed, not exported)."""
    import fuse_fixtures as F
    from test_fuse_may_leave import ML_CONSUMER, ML_PROVIDER, ML_WIT, _run
    from test_fuse_perf import build_component

    from wasmweld.fuse import fuse, fuse_plan

    cons, prov = build_component(ML_WIT, "cons", ML_CONSUMER), build_component(ML_WIT, "prov", ML_PROVIDER)
    a = fuse([("cons", cons), ("prov", prov)], emit="component").encode()
    b = fuse([("prov", prov), ("cons", cons)], emit="component").encode()
    (tmp_path / "a.wasm").write_bytes(a)
    (tmp_path / "c.wasm").write_bytes(F.compose(cons, prov))
    wit = F.wasm_tools("component", "wit", str(tmp_path / "a.wasm"))
    assert wit == F.wasm_tools("component", "wit", str(tmp_path / "c.wasm"))
    assert b"export run:" in wit and b"export test:ml/api" not in wit
    assert _run(a, False, False) == _run(b, False, False) == (ord("h") + 5000, [5])
    assert list(fuse_plan([("cons", cons), ("prov", prov)]).exports) == ["run"]
