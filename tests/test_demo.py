"""`make demo` (examples/demo.py) runs end to end and finds that the swarm and both merged modules agree."""

from __future__ import annotations

import subprocess
import sys

from helpers import REPO

from wasmweld.module import parse
from wasmweld.runtime.engine import validate_bytes


def test_demo_runs_and_the_answers_match(tmp_path):
    build = tmp_path / "build"
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "demo.py"), str(build)], capture_output=True,
                          text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "fusions (5)" in out
    assert "all answers match (11 calls)" in out and "DIFFERENT" not in out
    # the trapping call is reported as a trap by the swarm and both merged modules
    assert any(line.split()[:2] == ["bank.set_policy(7)", "trap"] and line.split()[-1] == "ok"
               for line in out.splitlines())
    assert out.rstrip().splitlines()[-1].startswith("demo: OK")
    for name, memories in (("world.wasm", 2), ("world-1mem.wasm", 1), ("world-edited.wasm", 2)):
        data = (build / name).read_bytes()
        validate_bytes(data)
        m = parse(data)
        assert m.imports == [] and len(m.memories) == memories
    assert "opening_reserve" in {e.name for e in parse((build / "world-edited.wasm").read_bytes()).exports}
    assert "\n1000000\n" in out  # what the added export returns
