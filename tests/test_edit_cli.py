"""Issue 4: ``wasmweld edit``, ``wasmweld strip`` and ``wasmweld metadata`` from the command line.

Edits apply in the order given, qualifying options attach to the edit before
them, errors are one line with exit status 1, and on any error nothing is
written (an existing output file is left as it was).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fixtures.surgery import build
from fixtures.surgery.check import instantiate, read_u32s
from helpers import REPO, build_cache_dir
from wasmweld import parse
from wasmweld.cli.main import main
from wasmweld.runtime.engine import validate_bytes


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    tpl = tmp / "template.wasm"
    tpl.write_bytes(build.compile_fixture("template", build_cache_dir() / "surgery").read_bytes())
    bundle = tmp / "bundle.js"
    bundle.write_bytes(build.make_bundle(100_000, seed=7))
    (tmp / "service.did").write_text("service : { greet : (text) -> (text) query }")
    return tmp


def edit(files, *args):
    return main(["edit", str(files / "template.wasm"), *args])


def test_issue_example_command_line(files, capsys):
    out = files / "greet.wasm"
    status = edit(files, "-o", str(out), "--add-passive-data", f"js={files / 'bundle.js'}",
                  "--size-func", "js_passive_data_size", "--init-func", "init_js_passive_data",
                  "--add-export", "canister_query greet=execute_method_js(0,1)", "--strip-debug", "--gc")
    err = capsys.readouterr().err
    assert status == 0, err
    assert "gc removed" in err and f"wrote {out}" in err
    data = out.read_bytes()
    validate_bytes(data)
    store, ex = instantiate(data)
    ex["canister_query greet"](store)
    assert read_u32s(ex["memory"], store, ex["call_log"](store), 2) == (0, 1)
    ptr = ex["load_js"](store)
    bundle = (files / "bundle.js").read_bytes()
    assert bytes(ex["memory"].read(store, ptr, ptr + len(bundle))) == bundle
    assert parse(data).custom("name") is None


def test_edits_apply_in_the_order_given(files, capsys):
    out = files / "order.wasm"
    # the engine is not exported: only the name section knows it, so stripping it first loses it
    assert edit(files, "-o", str(out), "--strip-debug", "--add-export", "m=execute_method_js(1,2)") == 1
    assert "unknown function 'execute_method_js'" in capsys.readouterr().err
    assert not out.exists()
    assert edit(files, "-o", str(out), "--add-export", "m=execute_method_js(1,2)", "--strip-debug") == 0
    validate_bytes(out.read_bytes())


@pytest.mark.parametrize("args, message", [
    (["--size-func", "f"], "--size-func must follow --add-passive-data or --add-active-data"),
    (["--add-export", "a=execute_method_js(0,0)", "--size-func", "f"], "--size-func must follow"),
    (["--drop-results"], "--drop-results must follow --add-export"),
    (["--stub-default"], "--stub-default must follow --stub-imports or --stub-import"),
])
def test_misplaced_qualifiers_are_usage_errors(files, capsys, args, message):
    assert edit(files, "-o", str(files / "x.wasm"), *args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--add-export", "call_count=execute_method_js(0,1)"], "export name clash: the module already exports 'call_count'"),
    (["--add-export", "x=execute_method_js(0)"], "takes 2 argument(s) (i32, i32), got 1"),
    (["--add-export", "x=nope(0)"], "unknown function 'nope'"),
    (["--add-passive-data", "js=/does/not/exist.js"], "no such file '/does/not/exist.js'"),
    (["--add-passive-data", "js-no-file"], "expected NAME=FILE"),
    (["--add-passive-data", "js=bundle.js", "--size-func", "init_js_passive_data"], "type mismatch: size function"),
    (["--resolve-import", "env", "x", "alloc"], "unknown import 'env' 'x'"),
    (["--stub-imports", "gojs"], "no import matches module 'gojs'"),
    (["--remove-exports", "zz*"], "no export matches 'zz*'"),
    (["--rename-export", "alloc", "load_js"], "export name clash: the module already exports 'load_js'"),
    (["--replace-body", "alloc=1.5"], "result 0 of 'alloc' (#5) is i32, got 1.5"),
    (["--replace-custom", "producers=junk"], "does not decode"),
    (["--add-custom", "producers=\x00"], "custom section name clash"),
    (["--plan", "/does/not/exist.toml"], "no such plan file"),
])
def test_errors_write_nothing(files, capsys, args, message):
    out = files / "kept.wasm"
    out.write_bytes(b"previous contents")
    cwd = os.getcwd()
    os.chdir(files)
    try:
        status = edit(files, "-o", str(out), *args)
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert status == 1, err
    assert message in err and err.startswith("error: ") and err.count("\n") == 1
    assert out.read_bytes() == b"previous contents"
    assert not [p for p in files.iterdir() if p.name.startswith(".kept.wasm")]   # no temp file left


def test_invalid_result_is_not_written_unless_asked(files, wat, capsys):
    data = wat('(module (func (export "f") (result i32) i32.const 1))')
    bad = data.replace(b"\x41\x01\x0b", b"\x42\x01\x0b")      # i64.const where i32 is due: invalid
    src = files / "bad.wasm"
    src.write_bytes(bad)
    out = files / "bad-out.wasm"
    assert main(["edit", str(src), "-o", str(out), "--add-custom", "x=y"]) == 1
    assert "type mismatch" in capsys.readouterr().err and not out.exists()
    assert main(["edit", str(src), "-o", str(out), "--add-custom", "x=y", "--no-validate"]) == 0
    assert parse(out.read_bytes()).custom("x").data == b"y"


def test_input_is_not_replaced_without_asking(files, capsys):
    src = files / "inplace.wasm"
    src.write_bytes((files / "template.wasm").read_bytes())
    assert main(["edit", str(src), "-o", str(src), "--strip-all"]) == 1
    assert "refusing to overwrite input" in capsys.readouterr().err
    assert main(["edit", str(src), "-i", "--strip-all"]) == 0
    assert parse(src.read_bytes()).customs == []


def test_imports_exports_bodies_metadata_options(files, capsys):
    out = files / "many.wasm"
    status = edit(files, "-o", str(out), "--replace-body", "js_passive_data_size=42",
                  "--replace-body", "init_js_passive_data=alloc(...)",
                  "--add-export", "sz=js_passive_data_size", "--add-export", "engine=execute_method_js(7, ...)",
                  "--rename-export", "banner", "the banner",
                  "--keep-exports", "memory", "--keep-exports", "sz", "--keep-exports", "engine",
                  "--keep-exports", "call_*", "--keep-exports", "init_js_passive_data",
                  "--add-custom", f"icp:public candid:service=@{files / 'service.did'}",
                  "--add-producer", "processed-by", "cdk", "1.0", "--strip-producers", "--gc")
    err = capsys.readouterr().err
    assert status == 0, err
    data = out.read_bytes()
    validate_bytes(data)
    m = parse(data)
    assert [e.name for e in m.exports] == ["memory", "call_count", "call_log", "init_js_passive_data", "sz",
                                           "engine"]
    assert m.custom("icp:public candid:service").data == (files / "service.did").read_bytes()
    assert m.custom("producers") is None          # added, then stripped: order given
    store, ex = instantiate(data)
    assert ex["sz"](store) == 42
    p = ex["init_js_passive_data"](store, 32)      # now the allocator
    assert p % 16 == 0 and p >= 65536
    ex["engine"](store, 9)
    assert read_u32s(ex["memory"], store, ex["call_log"](store), 2) == (7, 9)


def test_list_uncalled_imports_prints_and_writes_nothing(files, wat, capsys):
    src = files / "imports.wasm"
    src.write_bytes(wat('(module (import "env" "a" (func)) (import "env" "b" (func)) '
                        '(func (export "f") call 1))'))
    assert main(["edit", str(src), "--list-uncalled-imports"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["uncalled imports: 1", "  env a"]


def test_stub_default_and_rename_import(files, wat, capsys):
    src = files / "stub.wasm"
    src.write_bytes(wat('(module (import "gojs" "now" (func (result i64))) (import "env" "log" (func (param i32)))'
                        ' (func (export "f") (result i64) call 0))'))
    out = files / "stub-out.wasm"
    assert main(["edit", str(src), "-o", str(out), "--stub-imports", "gojs", "--stub-default",
                 "--rename-import", "env", "log", "host", "print"]) == 0
    data = out.read_bytes()
    m = parse(data)
    assert [(i.module, i.name) for i in m.imports] == [("host", "print")]
    store, ex = instantiate(data, {"host": {"print": lambda x: None}})
    assert ex["f"](store) == 0


def test_list_passes(capsys):
    assert main(["edit", "--list-passes"]) == 0
    out = capsys.readouterr().out
    assert "add-data" in out and "gc" in out and len(out.splitlines()) >= 14


def test_strip_command(files, capsys):
    src = files / "template.wasm"
    out = files / "stripped.wasm"
    assert main(["strip", str(src), "-o", str(out), "--debug"]) == 0
    assert [c.name for c in parse(out.read_bytes()).customs] == ["producers"]
    assert main(["strip", str(src), "-o", str(out), "--force"]) == 0
    assert parse(out.read_bytes()).customs == []
    assert "stripped 2 custom section(s) (name, producers)" in capsys.readouterr().err
    validate_bytes(out.read_bytes())


def test_metadata_commands(files, capsys):
    src = files / "template.wasm"
    out = files / "meta.wasm"
    assert main(["metadata", "add", str(src), "-o", str(out), "--producer", "processed-by", "my-cdk", "2.0",
                 "--custom", f"icp:public candid:service=@{files / 'service.did'}",
                 "--custom", "icp:private note=hello"]) == 0
    capsys.readouterr()
    assert main(["metadata", "show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "processed-by: my-cdk 2.0" in text and "'icp:public candid:service': 44 bytes" in text
    assert main(["metadata", "show", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["producers"]["processed-by"]["my-cdk"] == "2.0"
    assert {s["name"] for s in info["custom_sections"]} >= {"icp:public candid:service", "icp:private note"}
    assert main(["metadata", "add", str(out), "-o", str(files / "m2.wasm"), "--custom", "icp:private note=x"]) == 1
    assert "custom section name clash" in capsys.readouterr().err
    assert main(["metadata", "add", str(out), "-o", str(files / "m2.wasm"), "--custom", "icp:private note=x",
                 "--replace"]) == 0
    assert parse((files / "m2.wasm").read_bytes()).custom("icp:private note").data == b"x"


def test_real_entry_point(files):
    """``python -m wasmweld edit`` in a child process, as a user runs it."""
    out = files / "sub.wasm"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-m", "wasmweld", "edit", str(files / "template.wasm"), "-o", str(out),
                           "--add-export", "canister_update set=execute_method_js(3,4)"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    store, ex = instantiate(out.read_bytes())
    ex["canister_update set"](store)
    assert read_u32s(ex["memory"], store, ex["call_log"](store), 2) == (3, 4)


def test_add_export_with_bad_arguments_says_both_readings(tmp_path, capsys):
    """'f(abc)' is no call (abc is no constant) and no function is named 'f(abc)': say both."""
    src = REPO / "examples" / "ledger.wat"
    out = tmp_path / "out.wasm"
    status = main(["edit", str(src), "-o", str(out), "--add-export", "x=balance(abc)"])
    err = capsys.readouterr().err
    assert status == 1 and not out.exists()
    assert "unknown function 'balance(abc)'" in err
    assert "cannot read constant 'abc'" in err


def test_plan_that_is_a_directory(tmp_path, capsys):
    status = main(["edit", str(REPO / "examples" / "ledger.wat"), "-o", str(tmp_path / "o.wasm"),
                   "--plan", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 1 and "is a directory, not a plan file" in err and "Errno" not in err


def test_check_wellformed_fast_path_and_decoder(tmp_path):
    """Valid input passes via wasmtime; a malformed section that a lazy parse would copy is caught."""
    from wasmweld.errors import DecodeError
    from wasmweld.validate import check_wellformed
    from wasmweld.runtime.engine import wat2wasm

    good = wat2wasm("(module (func (export \"f\") (result i32) i32.const 1))")
    check_wellformed(good)
    # a type section claiming 0xFFFFFFFF entries in a 5-byte payload
    bad = b"\0asm\x01\0\0\0" + b"\x01\x05\xff\xff\xff\xff\x0f"
    with pytest.raises(DecodeError) as info:
        check_wellformed(bad)
    assert info.value.offset is not None
