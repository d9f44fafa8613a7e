"""Start-up cost kept by construction (issue 16): what a command or ``World()`` imports, checked on sys.modules.

Timings live in bench/ (bench_cli.py, bench_world.py); these tests check the cause
instead, cheaply and deterministically: a fresh interpreter runs the command and
lists the modules it loaded. ``wasmweld info small.wasm`` must not load the linker
(link.merge), the pre-initialiser or wasmtime; the first ``World()`` must not load
the pure-Python module model (wasmweld.module: parsing, ~40 ms) nor the DWARF
reader until a module is added; ``wasmweld snapshot`` must not load the linker.
"""

from __future__ import annotations

import subprocess
import sys

from wasmweld.runtime.engine import wat2wasm

LIST = "print(' '.join(sorted(sys.modules)))"


def _modules_after(code: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", "import sys\n" + code + "\n" + LIST],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(proc.stdout.strip().splitlines()[-1].split())


def _cli(argv: list[str]) -> str:
    return ("from wasmweld.cli.main import main\n"
            f"rc = main({argv!r})\n"
            "assert rc == 0, rc")


def test_info_on_a_small_module_loads_neither_linker_nor_wasmtime(tmp_path):
    small = tmp_path / "small.wasm"
    small.write_bytes(wat2wasm('(module (memory 1) (func (export "f") (result i32) i32.const 1))'))
    mods = _modules_after(_cli(["info", str(small)]))
    assert "wasmweld.cli.info" in mods and "wasmweld.module" in mods  # it did the work
    loaded = {m for m in mods if m.startswith(("wasmweld.link", "wasmweld.preinit", "wasmweld.runtime", "wasmtime",
                                               "wasmweld.fuse", "wasmweld.component"))}
    assert not loaded, loaded
    slow = {"dataclasses", "inspect", "ast", "dis", "tokenize", "shutil"} & mods    # (records; cli.main.Formatter)
    assert not slow, slow


def test_version_loads_no_module_model():
    mods = _modules_after(_cli(["--version"]))
    assert "wasmweld.cli.main" in mods
    assert not {m for m in mods if m.startswith(("wasmweld.module", "wasmweld.link", "wasmtime"))}


def test_first_world_loads_no_parser_until_a_module_is_added():
    mods = _modules_after("import wasmweld\nw = wasmweld.World()\nassert w.store is not None")
    assert "wasmweld.runtime.world" in mods and "wasmtime" in mods
    heavy = {"wasmweld.module", "wasmweld.types", "wasmweld.items", "wasmweld.binary.sections"}
    assert not heavy & mods, heavy & mods
    assert not {m for m in mods if m.startswith("wasmweld.dwarf")}
    # adding a module brings them in, and the World works
    mods = _modules_after("import wasmweld\nw = wasmweld.World()\n"
                          "w.add('m', '(module (func (export \"f\") (result i32) i32.const 7))')\n"
                          "assert w.invoke('m', 'f') == 7")
    assert "wasmweld.module" in mods


def test_snapshot_cli_does_not_load_the_linker(tmp_path):
    src = tmp_path / "in.wasm"
    src.write_bytes(wat2wasm('(module (memory 1) (global (mut i32) (i32.const 0))'
                             ' (func (export "wizer-initialize") (i32.store (i32.const 8) (i32.const 42))))'))
    mods = _modules_after(_cli(["snapshot", str(src), "-o", str(tmp_path / "out.wasm"), "-q"]))
    assert "wasmweld.preinit" in mods and (tmp_path / "out.wasm").stat().st_size > 0
    assert not {m for m in mods if m.startswith(("wasmweld.link", "wasmweld.fuse", "wasmweld.component",
                                                 "wasmweld.text", "wasmweld.validator"))}
    assert not {"dataclasses", "inspect"} & mods        # (the snapshot's classes are records)


def test_first_world_imports_neither_dataclasses_nor_threading_nor_wasi():
    """``wasmweld.World`` + ``World()`` load no :mod:`dataclasses` (with inspect, ast, dis, tokenize: 5 ms),
    threading or the WASI glue; a World with WASI, the dynamic-link limits and ``world.WasiOptions`` load
    them when used. Checked on what each step adds to sys.modules, so what wasmtime itself imports does not count."""
    code = ("import wasmtime, wasmweld\nbefore = set(sys.modules)\nw = wasmweld.World()\n"
            "print(' '.join(sorted(set(sys.modules) - before)))\n"
            "assert w.invoke(w.add('m', '(module (func (export \"f\") (result i32) i32.const 7))').name, 'f') == 7\n"
            "assert w.dl_limits.max_mem_size == 1 << 30\n"
            "print(' '.join(sorted(set(sys.modules) - before)))")
    proc = subprocess.run([sys.executable, "-c", "import sys\n" + code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, after_use = (set(line.split()) for line in proc.stdout.strip().splitlines()[-2:])
    assert "wasmweld.runtime.world" in first
    heavy = {"dataclasses", "inspect", "ast", "dis", "tokenize", "threading", "importlib",
             "wasmweld.runtime.wasi", "wasmweld.runtime.dylink_loader", "wasmweld.runtime.cache"}
    assert not heavy & first, heavy & first
    assert "wasmweld.runtime.dylink_loader" in after_use  # dl_limits: the DlLimits dataclass, made when asked for
    # a World with WASI loads the WASI module (and WasiOptions is the one class, wherever it is reached from)
    mods = _modules_after("import wasmweld\nfrom wasmweld.runtime import world, wasi\n"
                          "w = wasmweld.World(wasi=True)\n"
                          "assert w.wasi_options == wasi.WasiOptions(stdin='inherit')\n"
                          "assert world.WasiOptions is wasi.WasiOptions is wasmweld.WasiOptions")
    assert "wasmweld.runtime.wasi" in mods


def test_adding_a_core_module_loads_neither_component_model_nor_cache_nor_dwarf(tmp_path):
    """World.add of a plain core module (path or bytes, no cache_dir, no DWARF) does not import the component
    model (telling a component apart needs 8 bytes), the artifact cache's hashing code or the DWARF reader."""
    path = tmp_path / "m.wasm"
    path.write_bytes(wat2wasm('(module (func (export "f") (result i32) i32.const 7))'))
    code = ("import wasmweld\nw = wasmweld.World()\nbefore = set(sys.modules)\n"
            f"w.add('a', {str(path)!r})\nw.add('b', open({str(path)!r}, 'rb').read())\n"
            "assert w.invoke('a', 'f') == w.invoke('b', 'f') == 7\n"
            "print(' '.join(sorted(set(sys.modules) - before)))")
    proc = subprocess.run([sys.executable, "-c", "import sys\n" + code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    added = set(proc.stdout.split())
    assert "wasmweld.runtime.sourcefile" in added and "wasmweld.module" in added  # it read and typed the module
    assert not {m for m in added if m.startswith(("wasmweld.component", "wasmweld.dwarf", "wasmweld.runtime.cache",
                                                  "wasmweld.runtime.trust"))}, added


def test_component_preamble_is_defined_once_in_the_binary_reader():
    """The World tells a component apart with the binary layer's test, the one the component model uses."""
    from wasmweld.binary import reader
    from wasmweld.component import model

    assert model.COMPONENT_PREAMBLE is reader.COMPONENT_PREAMBLE == reader.MAGIC + b"\x0d\x00\x01\x00"
    assert model.is_component is reader.is_component



def test_component_sources_are_still_told_apart(tmp_path):
    """A component as bytes, a file or a parsed wasmweld Component is one; a core module, WAT or a missing file not."""
    import wasmweld
    from wasmweld.runtime.component_world import component_source

    comp, core = wat2wasm("(component)"), wat2wasm("(module)")
    (tmp_path / "c.wasm").write_bytes(comp)
    (tmp_path / "m.wasm").write_bytes(core)
    assert component_source(comp) and component_source(memoryview(comp)) and component_source(bytearray(comp))
    assert component_source(str(tmp_path / "c.wasm")) and component_source(tmp_path / "c.wasm")
    assert component_source(wasmweld.parse(comp))
    assert not component_source(core) and not component_source(tmp_path / "m.wasm")
    assert not component_source(wasmweld.parse(core)) and not component_source("(component)")
    assert not component_source(tmp_path / "missing.wasm") and not component_source(b"")


def test_help_width_is_what_shutil_says(monkeypatch):
    import shutil

    from wasmweld.cli.main import terminal_columns
    for columns in ("57", "0", "wide", None):
        if columns is None:
            monkeypatch.delenv("COLUMNS", raising=False)
        else:
            monkeypatch.setenv("COLUMNS", columns)
        assert terminal_columns() == shutil.get_terminal_size().columns
