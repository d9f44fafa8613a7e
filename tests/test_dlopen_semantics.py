"""Issue 15 (tutorial 3): dlopen as a user of dlopen(3) expects it, found walking the tutorial.

- A World whose main module still waits for a host function: the loader, finding no instantiated main,
  made the side module a standalone main and failed on the main's symbols ("needs data symbol app_calls
  ... which no loaded module defines"). Now the error names the waiting main module and its import.
- dlopen of a file already loaded (e.g. as a NEEDED library) loaded a second copy under a new name and
  ran its constructors again; now it returns the loaded library's handle.
"""

from __future__ import annotations

import pytest

from wasmweld.cli.main import main
from wasmweld.errors import LinkError
from wasmweld.runtime.world import World

APP = '''(module
  (import "env" "host_log" (func (param i32 i32)))
  (memory (export "memory") 1)
  (table (export "__indirect_function_table") 1 funcref)
  (global (export "app_calls") i32 (i32.const 64))
  (func (export "app_log") (call 0 (i32.const 0) (i32.const 0))))'''

SIDE = '''(module
  (@dylink.0 (mem-info (memory 4 2)))
  (import "env" "memory" (memory 0))
  (import "env" "__memory_base" (global i32))
  (import "GOT.mem" "app_calls" (global $calls (mut i32)))
  (func (export "calls") (result i32) (i32.load (global.get $calls))))'''


def test_dlopen_names_the_main_module_that_waits_for_an_import(wat, tmp_path, capsys):
    app, side = wat(APP), wat(SIDE)
    w = World()
    w.add("app", app)
    assert w.pending == {"app": [w.pending["app"][0]]} and "env.host_log" in w.pending["app"][0]
    with pytest.raises(LinkError) as ei:
        w.dlopen(side, name="side")
    msg = str(ei.value)
    assert "module 'app' would be the main module of dynamic linking, but it is not instantiated" in msg
    assert "unresolved imports: env.host_log" in msg and "app_calls" not in msg
    assert "side" not in w and w.dynamic_linker is None
    # once the import is provided, the same World loads the side module against it
    w.define_host("env", "host_log", lambda p, n: None, "i32 i32 ->")
    h = w.dlopen(side, name="side")
    w.memory("app").write(64, (7).to_bytes(4, "little"))
    assert h.sym("calls")() == 7
    # the CLI says the same, on one line
    (tmp_path / "app.wasm").write_bytes(app)
    (tmp_path / "side.wasm").write_bytes(side)
    assert main(["run", str(tmp_path / "app.wasm"), "--dlopen", str(tmp_path / "side.wasm"), "--invoke",
                 "calls"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "would be the main module of dynamic linking" in err and "--stub-missing" in err
    assert main(["run", str(tmp_path / "app.wasm"), "--stub", "env.host_log", "--dlopen",
                 str(tmp_path / "side.wasm"), "--invoke", "side.calls"]) == 0
    assert capsys.readouterr().out.strip() == "0"


def test_dlopen_of_a_file_already_loaded_returns_its_handle(wat, tmp_path):
    """As dlopen(3): the same file (here first loaded as another library's NEEDED one) is not loaded twice."""
    from wasmweld.custom.dylink import find_dylink

    side = wat(SIDE)
    (tmp_path / "side.wasm").write_bytes(side)
    (tmp_path / "link.wasm").symlink_to(tmp_path / "side.wasm")
    # a second side module that needs side.wasm (its dylink.0 NEEDED list)
    user = wat(SIDE.replace("(mem-info (memory 4 2))", '(mem-info (memory 4 2)) (needed "side.wasm")')
               .replace('"calls"', '"calls2"'))
    assert find_dylink(user).needed == ["side.wasm"]
    (tmp_path / "user.wasm").write_bytes(user)
    w = World()
    w.define_host("env", "host_log", lambda p, n: None, "i32 i32 ->")
    w.add("app", wat(APP))
    u = w.dlopen(tmp_path / "user.wasm")
    assert w.modules == ["app", "side", "user"]
    h = w.dlopen(tmp_path / "side.wasm")
    assert h is w.dynamic_linker.libs["side"] and w.dlopen(str(tmp_path / "link.wasm")) is h
    assert w.modules == ["app", "side", "user"]            # no second copy, no second constructor run
    assert u.sym("calls2")() == h.sym("calls")() == 0
    # an explicit new name still loads another copy (a World module of that name)
    again = w.dlopen(tmp_path / "side.wasm", name="side2")
    assert again is not h and w.modules[-1] == "side2" and again.memory_base != h.memory_base
    # once unloaded, the file loads afresh
    w.remove("side2")
    with pytest.raises(LinkError, match="'user' were loaded after it"):
        h.close()                                           # dlclose: refused while user may use it
    u.close()
    h.close()
    assert "side" not in w.dynamic_linker.libs
    assert w.dlopen(tmp_path / "side.wasm").name == "side" and w.modules == ["app", "side"]


def test_run_a_manifest_with_dlopen_invokes_the_side_module(wat, tmp_path, capsys):
    """`wasmweld run world.toml --dlopen side.wasm --invoke side.f`: the manifest's resolver knew only its
    own modules ("neither an entry point nor MODULE.EXPORT"); loaded side modules count too."""
    (tmp_path / "log.wat").write_text('(module (func (export "host_log") (param i32 i32)))')
    (tmp_path / "app.wasm").write_bytes(wat(APP.replace("(i32.const 64)", "(i32.const 64)) (data (i32.const 64) \"\\2a\"")))
    (tmp_path / "side.wasm").write_bytes(wat(SIDE))
    (tmp_path / "w.toml").write_text('[[module]]\nname = "env"\npath = "log.wat"\n\n'
                                     '[[module]]\nname = "app"\npath = "app.wasm"\n')
    run = ["run", str(tmp_path / "w.toml"), "--dlopen", str(tmp_path / "side.wasm"), "--invoke"]
    assert main([*run, "side.calls"]) == 0
    assert capsys.readouterr().out == "42\n"          # the byte the app's data put at app_calls
    assert main([*run, "nope.calls"]) == 1
    assert "'nope.calls' is neither an entry point" in capsys.readouterr().err
