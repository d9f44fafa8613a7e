"""The test harness itself works: clang (both targets) and Go build real modules that run."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from helpers import (
    CORPUS_MANIFEST,
    FIXTURES,
    REPO,
    compile_c,
    compile_c_text,
    conformance_rows,
    go_build_js,
    read_tsv,
    run_go_js,
    run_wasm,
)

from wasmweld.runtime.engine import load_bytes, validate_bytes


def test_compile_c_wasi_hello_runs():
    wasm = compile_c(FIXTURES / "c" / "harness_hello.c", target="wasm32-wasi")
    assert wasm[:4] == b"\0asm"
    validate_bytes(wasm)
    res = run_wasm(wasm, "_start", wasi=True, argv=("hello", "a", "b"))
    assert res.stdout == b"hello from wasm32-wasi, argc=3\n"
    assert res.exit_code == 3


def test_compile_c_bare_exports_and_imports():
    wasm = compile_c(FIXTURES / "c" / "harness_add.c", target="wasm32")
    validate_bytes(wasm)
    assert run_wasm(wasm, "add", 2, 40, imports={"env": {"twice": lambda x: 2 * x}}) == 42
    assert run_wasm(wasm, "add_twice", 2, 3, imports={"env": {"twice": lambda x: 2 * x}}) == 10


def test_compile_c_is_cached_and_flag_sensitive():
    a = compile_c(FIXTURES / "c" / "harness_add.c", target="wasm32")
    b = compile_c(FIXTURES / "c" / "harness_add.c", target="wasm32")
    c = compile_c(FIXTURES / "c" / "harness_add.c", target="wasm32", flags=("-O0",))
    assert a == b
    assert c != a  # -O0 keeps a different body


def test_compile_c_text_and_errors():
    wasm = compile_c_text('__attribute__((export_name("k"))) int k(void) { return 7; }', target="wasm32")
    assert run_wasm(wasm, "k") == 7
    with pytest.raises(AssertionError, match="clang failed"):
        compile_c_text("int broken( {", target="wasm32")


def test_go_build_js_runs_under_node():
    wasm = go_build_js(FIXTURES / "go" / "harness_hello")
    assert wasm[:4] == b"\0asm"
    validate_bytes(wasm)
    proc = run_go_js(wasm, "abc", "de")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"hello from go js/wasm, 5 bytes of arguments\n"


def test_corpus_fixture_matches_manifest(corpus_modules):
    rows = {r["id"]: r for r in read_tsv(CORPUS_MANIFEST)}
    assert [p.stem for p in corpus_modules] == list(rows)
    for path in corpus_modules:
        data = path.read_bytes()
        assert data[:4] == b"\0asm", path
        want = rows[path.stem].get("sha256")
        if want:
            assert hashlib.sha256(data).hexdigest() == want, path


def test_peers_env_puts_tools_on_path(peers_env, tmp_path):
    mod = tmp_path / "bank.wasm"
    mod.write_bytes(load_bytes(REPO / "examples" / "bank.wat"))
    subprocess.run(["wasm-validate", "--enable-all", str(mod)], env=peers_env, check=True)
    text = subprocess.run(["wasm2wat", str(mod)], env=peers_env, check=True, capture_output=True, text=True).stdout
    assert '(export "transfer"' in text and '(import "ledger" "debit"' in text


def test_conformance_dir_and_rows(conformance_dir):
    valid = conformance_rows("valid")
    assert len(valid) == 2513
    assert all((conformance_dir / r["path"]).is_file() for r in valid[:50])


def test_wat_fixture(wat):
    assert wat("(module)") == b"\0asm\x01\0\0\0"

