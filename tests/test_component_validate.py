"""``validate`` on every component of ../shared/conformance-components, with each script's features.

The index's features column is empty (wasm-tools 1.262's json-from-wast does not carry them): the
features below are the ``-f`` flags of each script's ``;; RUN:`` line in wasm-tools' test suite at the
commit the files come from (README there). The oracle is ``wasm-tools validate --features ...``: the
index says valid/invalid, and wherever our verdict differs from the index, wasm-tools 1.262 must agree
with us (6 `valid` scripts use import names, ``unlocked-dep=<a:b>``, that wasm-tools 1.262 and wasmtime
no longer accept); a sample of the rest is checked against wasm-tools too.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from component_build import WASM_TOOLS
from helpers import SHARED_DIR, read_tsv

import wasmweld
from wasmweld.component.validation import split_features, validate_component
from wasmweld.errors import DecodeError, ValidationError

CC_DIR = SHARED_DIR / "conformance-components"

# `;; RUN: wast ... -f X` of tests/cli/component-model/**.wast (directory/name without .wast)
SCRIPT_FEATURES = {
    "async/abi": "cm-async,cm-fixed-length-lists", "async/async-builtins": "cm-async,cm-more-async-builtins",
    "async/futures": "cm-async", "async/lift": "cm-async", "async/lower": "cm-async", "async/names": "cm-async",
    "async/streams": "cm-async", "async/threading-and-memory64": "cm-async,cm-threading,cm64",
    "component-model/custom-page-sizes": "custom-page-sizes", "error-context/error-context": "cm-error-context",
    "component-model/fixed-length-lists": "cm-fixed-length-lists", "component-model/gated-tags": "-exceptions",
    "gc/error-context": "gc,cm-gc,cm-error-context", "gc/futures": "gc,cm-gc,cm-async",
    "component-model/implements": "cm-implements", "component-model/indices": "cm-threading",
    "component-model/map": "cm-map", "memory64/context": "cm-async,cm64",
    "component-model/nested-names": "cm-nested-names", "component-model/options": "custom-page-sizes",
    "shared-everything-threads/not-accepted": "shared-everything-threads",
    "values/start": "cm-values", "values/values": "cm-values",
}
# the index's `valid` files that wasm-tools 1.262 rejects (import names it no longer parses)
ORACLE_REJECTS = {
    "valid/component-model/import.33.wasm", "valid/component-model/import.44.wasm",
    "valid/component-model/import.56.wasm", "valid/component-model/import.64.wasm",
    "valid/component-model/nested-names.1.wasm", "valid/component-model/nested-names.2.wasm",
}

# valid, but its core module uses shared-everything-threads (shared tables), which wasmweld's core
# validator does not implement and wasmtime-py cannot enable: rejected, naming the reason
NOT_IMPLEMENTED = {"valid/component-model/shared-everything-threads/not-accepted.1.wasm": "tables cannot be shared"}


def script_features(source_wast: str) -> str:
    parts = source_wast[:-len(".wast")].split("/")
    key = "/".join(parts[-2:])
    if key in SCRIPT_FEATURES:
        return SCRIPT_FEATURES[key]
    return {"gc": "gc,cm-gc", "memory64": "cm64"}.get(parts[-2], "")


def _rows() -> list[dict[str, str]]:
    return [r for r in read_tsv(CC_DIR / "index.tsv") if r["layer"] == "component" and r["kind"] != "malformed"]


def _oracle_valid(path, features: str) -> bool:
    args = [str(WASM_TOOLS), "validate"] + (["--features", features] if features else []) + [str(path)]
    return subprocess.run(args, capture_output=True).returncode == 0


def _verdict(data: bytes, features: str) -> str | None:
    try:
        validate_component(data, features or None)
    except (DecodeError, ValidationError) as e:
        return str(e)
    return None


def test_conformance_components_validate():
    rows = _rows()
    assert len(rows) == 829
    counts = {"valid": 0, "valid accepted": 0, "invalid": 0, "invalid rejected": 0, "message": 0}
    failures, disagreements = [], []
    for n, row in enumerate(rows):
        path = CC_DIR / row["path"]
        feats = script_features(row["source_wast"])
        err = _verdict(path.read_bytes(), feats)
        kind = row["kind"]
        counts[kind] += 1
        if (err is None) == (kind == "valid"):
            counts["valid accepted" if kind == "valid" else "invalid rejected"] += 1
            if kind == "invalid" and row["expected_message"] in err:
                counts["message"] += 1
            if n % 40 == 0:         # a sample checked against the oracle too
                assert _oracle_valid(path, feats) == (err is None), (row["path"], feats, err)
        else:
            disagreements.append(row["path"])
            if row["path"] in NOT_IMPLEMENTED and NOT_IMPLEMENTED[row["path"]] in (err or ""):
                continue
            if _oracle_valid(path, feats) != (err is None):
                failures.append(f"{row['path']} [{feats}]: {'accepted' if err is None else err}")
    assert not failures, "\n".join(failures)
    assert set(disagreements) == ORACLE_REJECTS | set(NOT_IMPLEMENTED)
    # 312 valid (306 that wasm-tools 1.262 accepts) and 517 invalid; the suite's message for most invalid ones
    assert counts["valid accepted"] == 305 and counts["invalid rejected"] == 517, counts
    assert counts["message"] >= 437, counts


def test_features_are_honoured(tmp_path):
    gc = CC_DIR / "valid/component-model/gc/primitive-types.0.wasm"
    data = gc.read_bytes()
    with pytest.raises(ValidationError, match="cm-gc"):
        wasmweld.validate(data)                      # the default does not enable cm-gc (as in wasm-tools)
    assert not _oracle_valid(gc, "")
    wasmweld.validate(data, features="gc,cm-gc")
    wasmweld.validate(wasmweld.parse(data), features="gc,cm-gc")      # a Component object too
    with pytest.raises(ValidationError, match="cm-gc"):
        wasmweld.validate(data, features="gc,cm-gc,-cm-gc")
    bad = CC_DIR / "invalid/component-model/gc/primitive-types.1.wasm"
    with pytest.raises(ValidationError, match="to core `i32` type, found `anyref`"):
        wasmweld.validate(bad.read_bytes(), features="gc,cm-gc")
    assert split_features("all")[1] >= {"cm-gc", "cm-async", "cm64"}
    assert "cm-gc" not in split_features("all,-all,gc")[1]
    # core modules take component-model names without complaint
    core = (CC_DIR / "valid/branch-hinting/branch-hinting-simple.0.wasm").read_bytes()
    wasmweld.validate(core, features="all,cm-gc")


def test_cli_validate_features(tmp_path):
    from wasmweld.cli.main import main

    ok = CC_DIR / "valid/component-model/values/values.0.wasm"
    bad = CC_DIR / "invalid/component-model/values/start.0.wasm"
    assert main(["validate", "--features", "cm-values", str(ok)]) == 0
    assert main(["validate", str(ok)]) == 1
    p = subprocess.run([sys.executable, "-m", "wasmweld", "validate", "--features", "cm-values", str(bad)],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "start function requires 1 arguments" in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "wasmweld", "validate", "--features", "cm-nope", str(ok)],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "cm-nope" in p.stderr and "Traceback" not in p.stderr
