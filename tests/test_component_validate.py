"""``validate`` on every component of ../shared/conformance-components, with each script's features.

The index's features column is empty (wasm-tools 1.262's json-from-wast does not carry them): the
features below are the ``-f`` flags of each script's ``;; RUN:`` line in wasm-tools' test suite at the
commit the files come from (README there). The oracle is ``wasm-tools validate --features ...``: the
index says valid/invalid, and wherever our verdict differs from the index, wasm-tools 1.262 must agree
with us (6 `valid` scripts use import names, ``unlocked-dep=<a:b>``, that wasm-tools 1.262 and wasmtime
no longer accept); a sample of the rest is checked against wasm-tools too.
"""

from __future__ import annotations

import contextlib
import re
import hashlib
import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from component_build import WASM_TOOLS
from helpers import SHARED_DIR, cached_build, read_tsv

import wasmweld
from wasmweld.binary.leb import write_u
from wasmweld.component import parse_component
from wasmweld.component.wit import component_wit
from wasmweld.component.validation import split_features, validate_component
from wasmweld.errors import DecodeError, ValidationError, WasmError

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


def script_features(source_wast: str) -> str:
    parts = source_wast[:-len(".wast")].split("/")
    key = "/".join(parts[-2:])
    if key in SCRIPT_FEATURES:
        return SCRIPT_FEATURES[key]
    return {"gc": "gc,cm-gc", "memory64": "cm64"}.get(parts[-2], "")


def _rows() -> list[dict[str, str]]:
    return [r for r in read_tsv(CC_DIR / "index.tsv") if r["layer"] == "component" and r["kind"] != "malformed"]


def _oracle_valid(path, features: str) -> bool:
    args = [str(WASM_TOOLS), "validate"] + ([f"--features={features}"] if features else []) + [str(path)]
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
    failures, disagreements, other = [], [], []
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
            elif kind == "invalid":     # wasm-tools 1.262 words some differently from the suite: theirs then
                other.append((row["path"], feats, err))
            if n % 80 == 0:         # a sample checked against the oracle too
                assert _oracle_valid(path, feats) == (err is None), (row["path"], feats, err)
        else:
            disagreements.append(row["path"])
            if _oracle_valid(path, feats) != (err is None):
                failures.append(f"{row['path']} [{feats}]: {'accepted' if err is None else err}")
    assert not failures, "\n".join(failures)
    assert set(disagreements) == ORACLE_REJECTS
    # 312 valid (306 that wasm-tools 1.262 accepts) and 517 invalid; the suite's message for most invalid ones
    assert counts["valid accepted"] == 306 and counts["invalid rejected"] == 517, counts
    assert counts["message"] >= 454, counts
    for path, feats, err in other:
        args = [str(WASM_TOOLS), "validate"] + (["--features", feats] if feats else []) + [str(CC_DIR / path)]
        theirs = subprocess.run(args, capture_output=True, text=True).stderr
        last = re.sub(r" \(at offset 0x[0-9a-f]+\)$", "", err.split("\n")[-1])
        last = re.sub(r"^canon \d+ \(\w+\): ", "", last)
        if "ResourceId" not in last:    # (wasmtime numbers its resources differently)
            assert last in theirs, (path, err, theirs)


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
    # core proposals left out apply to the component's core modules (wasmtime's own set is fixed)
    simd = subprocess.run([str(WASM_TOOLS), "parse", "-"], capture_output=True, check=True, input=b"""
        (component (core module (func (result v128) v128.const i64x2 1 2)))""").stdout
    wasmweld.validate(simd)
    assert _oracle_valid_bytes(simd, "") and not _oracle_valid_bytes(simd, "wasm1,component-model")
    with pytest.raises(ValidationError, match="SIMD"):
        wasmweld.validate(simd, features="wasm1")
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


# ---------------------------------------------------------------------------------- must-show 1 and 2, all files

def _all_rows() -> list[dict[str, str]]:
    return [r for r in read_tsv(CC_DIR / "index.tsv") if r["layer"] == "component"]


def _wasm_tools_wit(data: bytes) -> str | None:
    """``wasm-tools component wit`` (None: it refuses), kept in the build cache."""
    def run() -> bytes:
        p = subprocess.run([str(WASM_TOOLS), "component", "wit"], input=data, capture_output=True, check=False)
        return b"\0refused" if p.returncode else p.stdout

    key = hashlib.sha256(data + str(WASM_TOOLS.stat().st_size).encode()).hexdigest()[:32]
    text = cached_build(f"cc-wit-{key}.txt", run)
    return None if text == b"\0refused" else text.decode()


def test_wit_on_invalid_components_equals_wasm_tools():
    """The invalid components too: where wasm-tools prints a WIT world, ours is the same text; never a crash."""
    rows = [r for r in _all_rows() if r["kind"] == "invalid"]
    datas = [(CC_DIR / r["path"]).read_bytes() for r in rows]
    with ThreadPoolExecutor(4) as pool:
        refs = list(pool.map(_wasm_tools_wit, datas))
    same = 0
    for row, data, ref in zip(rows, datas, refs):
        try:
            mine = component_wit(parse_component(data))
        except WasmError:
            mine = None
        if ref is not None:
            assert mine == ref, row["path"]
            same += 1
    assert same == 8


def test_extract_all_on_every_component(tmp_path):
    """``extract --all`` of every valid and invalid component writes each core module byte for byte (nested
    components included); the modules of the valid ones all validate (wasm-tools, in one batch; wasmweld)."""
    from wasmweld.cli.extract import modules_in
    from wasmweld.cli.main import main

    valid_modules = []
    rows = [r for r in _all_rows() if r["kind"] != "malformed"]
    ran = 0
    for n, row in enumerate(rows):
        src = CC_DIR / row["path"]
        mods = modules_in(parse_component(src.read_bytes()))
        if not mods:
            continue
        out = tmp_path / str(n)
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["extract", str(src), "--all", "-o", str(out)]) == 0, row["path"]
        ran += 1
        files = sorted(out.iterdir(), key=lambda f: int(f.stem[6:]))
        assert len(files) == len(mods), row["path"]
        for f, (_path, comp, i) in zip(files, mods):
            blob = f.read_bytes()
            assert blob == comp.module_data(i), (row["path"], f.name)
            if row["kind"] == "valid":
                valid_modules.append(blob)
    assert len(valid_modules) == 136 and ran == 185

    def batch(blobs: list[bytes]) -> subprocess.CompletedProcess:
        # every module as a core module section of one component: wasm-tools validates each (one process)
        outer = b"\0asm\x0d\0\x01\0" + b"".join(b"\x01" + write_u(len(b)) + b for b in blobs)
        return subprocess.run([str(WASM_TOOLS), "validate", "--features", "all", "-"], input=outer,
                              capture_output=True, text=False)

    p = batch(valid_modules)
    assert p.returncode == 0, p.stderr.decode()
    for blob in valid_modules:                                     # and wasmweld's own validator agrees
        wasmweld.validate(blob, engine="wasmweld")
    broken = valid_modules[0][:8] + b"\x03\x02\x01\x05"        # a function section naming type 5: invalid
    assert batch(valid_modules + [broken]).returncode != 0        # the batch does check every module


def test_core_shared_reference_types():
    """shared-everything-threads in core modules: decoded, printed and validated like wasm-tools."""
    ok = b"""(module
      (table 1 2 (ref null (shared func)))
      (table shared 1 2 (ref null (shared func)))
      (func (result (ref null (shared any))) ref.null (shared any))
      (func (param (ref null (shared extern))) (result (ref null (shared extern))) local.get 0)
      (func (param (ref null (shared none))) (result (ref null (shared eq))) local.get 0))"""
    bad_mix = b"(module (func (param (ref null (shared func))) (result funcref) local.get 0))"
    bad_table = b"(module (table shared 1 2 funcref))"
    for wat, valid in ((ok, True), (bad_mix, False), (bad_table, False)):
        data = subprocess.run([str(WASM_TOOLS), "parse", "-"], input=wat, capture_output=True, check=True).stdout
        assert _oracle_valid_bytes(data, "all") == valid
        m = wasmweld.parse(data)
        assert m.encode() == data
        ref = subprocess.run([str(WASM_TOOLS), "print", "-"], input=data, capture_output=True, check=True).stdout
        assert m.to_wat() == ref.decode()
        with pytest.raises(ValidationError, match="shared-everything-threads|cannot be shared"):
            wasmweld.validate(data, features="wasm3")         # a proposal of its own
        if valid:
            wasmweld.validate(data)
        else:
            with pytest.raises(ValidationError, match="type mismatch|shared element type"):
                wasmweld.validate(data)


def _oracle_valid_bytes(data: bytes, features: str) -> bool:
    p = subprocess.run([str(WASM_TOOLS), "validate", "--features", features, "-"], input=data, capture_output=True)
    return p.returncode == 0


def test_mutated_components_never_crash():
    """Bytes changed at random in conformance components: validate raises a WasmError or accepts, never
    anything else (own checks on half-valid index spaces, GC lowering of garbage types)."""
    import random

    rows = [r for r in _all_rows() if r["kind"] != "malformed"]
    datas = [d for d in ((CC_DIR / r["path"]).read_bytes() for r in rows) if len(d) > 8]
    rnd = random.Random(11)
    outcomes = {"accepted": 0, "rejected": 0}
    for _ in range(1500):
        d = bytearray(rnd.choice(datas))
        for _ in range(rnd.randint(1, 3)):
            d[rnd.randrange(8, len(d))] = rnd.randrange(256)
        try:
            validate_component(bytes(d), "all")
            outcomes["accepted"] += 1
        except WasmError:
            outcomes["rejected"] += 1
    assert outcomes["accepted"] > 0 and outcomes["rejected"] > 0, outcomes


def test_core_instantiation_types():
    """The own check of core instantiation arguments: the same type passes, any other (even one with subtype
    results: function types are final) is named, as wasm-tools does."""
    from wasmweld.component.rules import rule_problems

    def comp(export: bytes, imp: bytes) -> bytes:
        return subprocess.run([str(WASM_TOOLS), "parse", "-"], capture_output=True, check=True, input=b"""
            (component
              (core module $a (func (export "f") %s))
              (core module $b (import "a" "f" (func %s)))
              (core instance $ia (instantiate $a))
              (core instance (instantiate $b (with "a" (instance $ia)))))""" % (export, imp)).stdout

    same = comp(b"(param externref) (result eqref) ref.null eq", b"(param externref) (result eqref)")
    assert _oracle_valid_bytes(same, "all")
    assert rule_problems(parse_component(same)) == []
    wasmweld.validate(same)
    sub = comp(b"(result eqref) ref.null eq", b"(result anyref)")
    assert not _oracle_valid_bytes(sub, "all")
    assert rule_problems(parse_component(sub)) == [
        "type mismatch for export `f` of module instantiation argument `a`\n"
        "expected: (func (result anyref))\nfound:    (func (result eqref))"]
    bad = comp(b"(result i64) i64.const 0", b"(result i32)")
    assert not _oracle_valid_bytes(bad, "all")
    assert rule_problems(parse_component(bad)) == [
        "type mismatch for export `f` of module instantiation argument `a`\n"
        "expected: (func (result i32))\nfound:    (func (result i64))"]
    with pytest.raises(ValidationError):
        wasmweld.validate(bad)


def test_features_turned_off_agree_with_wasm_tools():
    """``-cm-async`` / ``-cm-map`` / ``-cm-implements`` (on by default, and wasmtime has them) are honoured:
    on the valid files of the scripts that use them, the verdict is wasm-tools' with the same features."""
    drops = {"async/": "cm-async", "component-model/map": "cm-map", "component-model/implements": "cm-implements"}
    checked = rejected = 0
    for row in _rows():
        drop = next((f for k, f in drops.items() if k in row["source_wast"]), None)
        if row["kind"] != "valid" or drop is None:
            continue
        base = [f for f in script_features(row["source_wast"]).split(",") if f and f != drop]
        feats = ",".join(base + [f"-{drop}"])
        path = CC_DIR / row["path"]
        ours = _verdict(path.read_bytes(), feats)
        assert (ours is None) == _oracle_valid(path, feats), (row["path"], feats, ours)
        checked += 1
        rejected += ours is not None
    assert checked == 37 and rejected >= 30, (checked, rejected)
