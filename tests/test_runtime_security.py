"""Issue 17: native code only from places this user controls; bounded side modules; no aborts.

Hostile artifacts, caches and side modules are built here; each test fails on
the code before the fix (a patched artifact ran, a planted cache entry loaded,
``../x`` was followed, ...).
"""

from __future__ import annotations

import hashlib

import json
import os
import stat
import struct
import time

import pytest

from wasmweld.cli.main import main as cli
from wasmweld.errors import CacheError, ExecutionError, LinkError
from wasmweld.runtime import trust
from wasmweld.runtime.cache import (
    MAGIC, OLD_MAGIC, ArtifactCache, CacheWarning, compile_module, engine_settings, load_artifact, make_engine,
    serialize_artifact,
)
from wasmweld.runtime.engine import wat2wasm
from wasmweld.runtime.world import World

SECRET = 1234567
CONST = wat2wasm(f'(module (func (export "f") (result i32) i32.const {SECRET}))')


@pytest.fixture()
def keydir(tmp_path, monkeypatch):
    """A fresh per-user configuration directory (so the key is made here)."""
    d = tmp_path / "config"
    monkeypatch.setenv("WASMWELD_CONFIG_DIR", str(d))
    return d


def _artifact(wasm=CONST, **kw) -> bytes:
    s = engine_settings()
    return serialize_artifact(compile_module(make_engine(s), wasm), s, wasm=wasm, **kw)


def _split(art: bytes):
    meta_len = struct.unpack("<I", art[-44:-40])[0]
    elf = art[: len(art) - 44 - meta_len]
    return elf, json.loads(art[len(elf): len(elf) + meta_len])


def _patched(art: bytes, magic: bytes = MAGIC) -> bytes:
    """The attacker's artifact: `i32.const 1234567` patched to 42 in the machine code, every checksum recomputed."""
    elf, meta = _split(art)
    pat = b"\xb8" + struct.pack("<I", SECRET)  # x86-64 `mov eax, imm32`
    assert elf.count(pat) == 1
    elf = elf.replace(pat, b"\xb8" + struct.pack("<I", 42))
    meta["elf_sha256"] = hashlib.sha256(elf).hexdigest()
    raw = json.dumps(meta, sort_keys=True).encode()
    body = elf + raw + struct.pack("<I", len(raw))
    return body + hashlib.sha256(body).digest() + magic  # a plain sha256 in the MAC's place


def test_key_is_private_and_created_once(keydir):
    k1 = trust.user_key()
    path = keydir / trust.KEY_NAME
    assert len(k1) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keydir.stat().st_mode) == 0o700
    trust._keys.clear()
    assert trust.user_key() == k1  # read back, not replaced
    os.chmod(path, 0o644)
    trust._keys.clear()
    with pytest.raises(CacheError, match="mode 0600"):
        trust.user_key()


def test_patched_machine_code_is_refused(keydir, tmp_path):
    art = _artifact()
    good, bad = tmp_path / "good.cwasm", tmp_path / "bad.cwasm"
    good.write_bytes(art)
    bad.write_bytes(_patched(art))
    w = World()
    w.add("g", str(good))
    assert w.invoke("g", "f") == SECRET
    with pytest.raises(CacheError, match="checksum mismatch.*not authenticated"):
        World().add("b", str(bad))
    # the patch is real: a caller who explicitly trusts the file gets the attacker's code
    assert World(trust_artifacts=True).add("b", str(bad)).sym("f")() == 42
    # from the command line: refused with one error line, loaded only with --trust-artifact
    assert cli(["run", str(bad), "--invoke", "f"]) == 1


def test_cli_trust_artifact(keydir, tmp_path, capsys):
    other = _artifact(key=b"k" * 32)  # made with someone else's key
    (tmp_path / "o.cwasm").write_bytes(other)
    assert cli(["run", str(tmp_path / "o.cwasm"), "--invoke", "f"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--trust-artifact" in err and len(err.splitlines()) == 1
    assert cli(["run", str(tmp_path / "o.cwasm"), "--trust-artifact", "--invoke", "f"]) == 0
    assert capsys.readouterr().out.split() == [str(SECRET)]
    # trusted, but damaged: the plain checksum of the code still catches it
    data = bytearray(other)
    data[len(data) // 3] ^= 0xFF
    (tmp_path / "o.cwasm").write_bytes(bytes(data))
    assert cli(["run", str(tmp_path / "o.cwasm"), "--trust-artifact", "--invoke", "f"]) == 1
    assert "checksum mismatch" in capsys.readouterr().err


def test_nested_json_metadata_is_a_clean_error(keydir, tmp_path):
    elf, _meta = _split(_artifact())
    raw = b"[" * 100000 + b"]" * 100000
    body = elf + raw + struct.pack("<I", len(raw))
    (tmp_path / "n.cwasm").write_bytes(body + trust.mac(trust.user_key(), body) + MAGIC)
    s = engine_settings()
    with pytest.raises(CacheError, match="corrupt metadata"):
        load_artifact(str(tmp_path / "n.cwasm"), make_engine(s), s)
    with pytest.raises(CacheError, match="corrupt metadata"):
        load_artifact(str(tmp_path / "n.cwasm"), make_engine(s), s, trusted=True)


# ------------------------------------------------------------------ the artifact cache


def test_cache_dir_world_writable_or_foreign_is_refused(keydir, tmp_path, capsys):
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    with pytest.raises(CacheError, match=r"writable by others \(mode 0777\)"):
        World(cache_dir=d)
    os.chmod(d, 0o700)
    os.chown(d, 12345, 12345)
    with pytest.raises(CacheError, match="belongs to uid 12345"):
        World(cache_dir=d)
    (tmp_path / "x.wasm").write_bytes(CONST)
    assert cli(["run", "--cache", str(d), str(tmp_path / "x.wasm"), "--invoke", "f"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: refusing cache directory") and "uid 12345" in err


def test_default_cache_dir_is_per_user(keydir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    w = World(cache_dir=True)
    assert w.cache.dir == str(tmp_path / "xdg" / "wasmweld" / "artifacts")
    assert stat.S_IMODE(os.stat(w.cache.dir).st_mode) == 0o700
    w.add("c", CONST)
    assert w.invoke("c", "f") == SECRET and w.cache.stats.misses == 1


def _entry(d):
    [e] = [p for p in os.listdir(d) if p.endswith(".cwasm")]
    return d / e


def test_planted_cache_entry_is_discarded(keydir, tmp_path):
    d = tmp_path / "cache"
    World(cache_dir=d).add("c", CONST)
    entry = _entry(d)
    # the attacker writes a patched artifact under the right name (names are computable from the .wasm)
    entry.write_bytes(_patched(entry.read_bytes(), OLD_MAGIC))  # the format-1 trailer
    with pytest.warns(CacheWarning, match="older wasmweld without an authenticated trailer"):
        w = World(cache_dir=d)
        w.add("c", CONST)
    assert w.invoke("c", "f") == SECRET and w.cache.stats.discarded == 1
    # same with a current-format trailer whose MAC the attacker cannot make
    elf, meta = _split(entry.read_bytes())
    elf = elf.replace(b"\xb8" + struct.pack("<I", SECRET), b"\xb8" + struct.pack("<I", 42))
    raw = json.dumps(meta).encode()
    body = elf + raw + struct.pack("<I", len(raw))
    entry.write_bytes(body + hashlib.sha256(body).digest() + MAGIC)
    with pytest.warns(CacheWarning, match="checksum mismatch"):
        w = World(cache_dir=d)
        w.add("c", CONST)
    assert w.invoke("c", "f") == SECRET


def test_warm_start_uses_the_stamp_and_notices_changes(keydir, tmp_path):
    d = tmp_path / "cache"
    World(cache_dir=d).add("c", CONST)
    entry = _entry(d)
    w = World(cache_dir=d)
    w.add("c", CONST)
    assert w.cache.stats.hits == 1 and (d / (entry.name + ".ok")).exists()
    # an in-place change keeps the name but changes the identity (ctime): verified again, refused
    data = bytearray(entry.read_bytes())
    data[len(data) // 3] ^= 0xFF
    with open(entry, "r+b") as f:
        f.write(bytes(data))
    with pytest.warns(CacheWarning, match="checksum mismatch"):
        w = World(cache_dir=d)
        w.add("c", CONST)
    assert w.invoke("c", "f") == SECRET


def test_stale_temp_files_are_removed(keydir, tmp_path):
    d = tmp_path / "cache"
    World(cache_dir=d)
    old, fresh, other = d / ".tmp-abc123.cwasm", d / ".tmp-def456.cwasm", d / "notes.txt"
    for p in (old, fresh, other):
        p.write_bytes(b"half written")
    past = time.time() - 3600
    os.utime(old, (past, past))
    w = World(cache_dir=d)
    assert not old.exists() and not fresh.exists() and other.exists()  # only files of our own naming
    assert sorted(e[1] for e in w.cache.stats.events if e[0] == "stale-removed") == sorted([fresh.name, old.name])
    # a writer whose temp file vanished only misses storing its entry
    w.add("c", CONST)
    assert w.invoke("c", "f") == SECRET


def test_cache_entry_with_nested_metadata_is_discarded(keydir, tmp_path):
    d = tmp_path / "cache"
    World(cache_dir=d).add("c", CONST)
    entry = _entry(d)
    elf, _ = _split(entry.read_bytes())
    raw = b"[" * 100000 + b"]" * 100000
    body = elf + raw + struct.pack("<I", len(raw))
    entry.write_bytes(body + trust.mac(trust.user_key(), body) + MAGIC)
    with pytest.warns(CacheWarning, match="corrupt metadata"):
        w = World(cache_dir=d)
        w.add("c", CONST)
    assert w.invoke("c", "f") == SECRET


def test_cache_never_maps_a_swapped_file(keydir, tmp_path, monkeypatch):
    """What is checked is what is mapped: the descriptor opened for the check, not the path again."""
    import wasmtime

    d = tmp_path / "cache"
    World(cache_dir=d).add("c", CONST)
    seen = []
    real = wasmtime.Module.deserialize_file

    def spy(engine, path):
        seen.append(path)
        return real(engine, path)

    monkeypatch.setattr(wasmtime.Module, "deserialize_file", staticmethod(spy))
    w = World(cache_dir=d)
    w.add("c", CONST)
    assert w.cache.stats.hits == 1 and seen and all(p.startswith("/proc/self/fd/") for p in seen)


def test_manifest_cache_dir_checked_too(keydir, tmp_path, capsys):
    (tmp_path / "c.wasm").write_bytes(CONST)
    (tmp_path / "pub").mkdir()
    os.chmod(tmp_path / "pub", 0o777)
    (tmp_path / "w.toml").write_text('[world]\ncache_dir = "pub"\n[[module]]\nname = "c"\npath = "c.wasm"\n')
    assert cli(["run", str(tmp_path / "w.toml"), "--invoke", "c.f"]) == 1
    assert "writable by others (mode 0777)" in capsys.readouterr().err
    os.chmod(tmp_path / "pub", 0o700)
    assert cli(["run", str(tmp_path / "w.toml"), "--invoke", "c.f"]) == 0
    assert capsys.readouterr().out.split() == [str(SECRET)]


def test_artifact_cache_class_default(keydir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    s = engine_settings()
    c = ArtifactCache(None, make_engine(s), s)
    assert c.dir.startswith(str(tmp_path / "x"))


# ------------------------------------------------------------------ TOML nesting (item 9)


def test_deeply_nested_toml_is_a_clean_error(tmp_path, capsys):
    from wasmweld.manifest import ManifestError, parse_manifest

    deep = "x = " + "[" * 500 + "]" * 500 + "\n"
    with pytest.raises(ManifestError, match="nested too deeply"):
        parse_manifest(deep)
    (tmp_path / "w.toml").write_text(deep)
    assert cli(["run", str(tmp_path / "w.toml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nested too deeply" in err and "internal error" not in err
    (tmp_path / "m.wasm").write_bytes(CONST)
    (tmp_path / "p.toml").write_text("gc = " + "{a = " * 600 + "1" + "}" * 600 + "\n")
    assert cli(["edit", str(tmp_path / "m.wasm"), "--plan", str(tmp_path / "p.toml"), "-o", str(tmp_path / "o.wasm")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nested too deeply" in err and not (tmp_path / "o.wasm").exists()


# ------------------------------------------------------------------ side modules: containment and limits


def _side(value: int = 5, **fields) -> bytes:
    """A minimal side module: dylink.0 with ``fields`` (mem_size, table_align, needed, runtime_path ...)."""
    from wasmweld.custom.dylink import Dylink, find_dylink
    from wasmweld.module import Module

    wasm = wat2wasm(f'''(module (import "env" "memory" (memory 0))
      (import "env" "__indirect_function_table" (table 0 funcref))
      (func (export "f") (result i32) i32.const {value}))''')
    d = Dylink()
    for k, v in fields.items():
        setattr(d, k, v)
    m = Module.parse(wasm)
    m.add_custom("dylink.0", d.encode(), after=0)
    out = m.encode()
    assert find_dylink(out) == d
    return out


def _main_world(**kw) -> World:
    w = World(**kw)
    w.add("main", wat2wasm('''(module (memory (export "memory") 1)
      (table (export "__indirect_function_table") 1 funcref))'''))
    return w


@pytest.mark.parametrize("needed", ["../outside.wasm", "sub/../../outside.wasm"])
def test_needed_outside_the_folder_is_refused(tmp_path, needed):
    (tmp_path / "outside.wasm").write_bytes(_side(99))
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "sub").mkdir()
    (lib / "app.wasm").write_bytes(_side(needed=[needed]))
    w = _main_world()
    with pytest.raises(LinkError, match=r"refused, a NEEDED name must stay inside the search path"):
        w.dlopen(lib / "app.wasm")
    assert w.modules == ["main"]
    # explicitly allowed: loads
    w = _main_world(dlopen_anywhere=True)
    w.dlopen(lib / "app.wasm")
    assert w.modules == ["main", "outside", "app"]


def test_needed_absolute_and_cwasm_and_runtime_path(keydir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.wasm").write_bytes(_side(7))
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "abs.wasm").write_bytes(_side(needed=[str(other / "x.wasm")]))
    with pytest.raises(LinkError, match="no absolute paths"):
        _main_world().dlopen(lib / "abs.wasm")
    (lib / "y.cwasm").write_bytes(_artifact())
    (lib / "nat.wasm").write_bytes(_side(needed=["y.cwasm"]))
    with pytest.raises(LinkError, match=r"never loads compiled artifacts \(.cwasm\)"):
        _main_world().dlopen(lib / "nat.wasm")
    # a RUNTIME_PATH leading out of the folder is ignored: the library is not found
    (lib / "rp.wasm").write_bytes(_side(needed=["x.wasm"], runtime_path=[str(other), "$ORIGIN/../other"]))
    with pytest.raises(LinkError, match="needs library 'x.wasm', which is not loaded and was not found"):
        _main_world().dlopen(lib / "rp.wasm")
    # ... unless the folder is on the explicit search path
    w = _main_world(dlopen_path=[other])
    w.dlopen(lib / "rp.wasm")
    assert "x" in w.modules
    # a symbolic link inside the folder that points outside is refused too
    (lib / "ln.wasm").symlink_to(other / "x.wasm")
    (lib / "sl.wasm").write_bytes(_side(needed=["ln.wasm"]))
    with pytest.raises(LinkError, match="leads outside the search path"):
        _main_world().dlopen(lib / "sl.wasm")


def test_cli_dlopen_path(tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.wasm").write_bytes(_side(7))
    (tmp_path / "app.wasm").write_bytes(_side(3, needed=["x.wasm"]))
    (tmp_path / "main.wasm").write_bytes(wat2wasm('''(module (memory (export "memory") 1)
      (table (export "__indirect_function_table") 1 funcref) (func (export "g") (result i32) i32.const 1))'''))
    argv = ["run", str(tmp_path / "main.wasm"), "--dlopen", str(tmp_path / "app.wasm"), "--invoke", "g"]
    assert cli(argv) == 1
    assert "needs library 'x.wasm'" in capsys.readouterr().err
    assert cli(argv[:2] + ["--dlopen-path", str(other)] + argv[2:]) == 0
    assert capsys.readouterr().out.split() == ["1"]


@pytest.mark.parametrize("fields, message", [
    ({"table_align": 31, "table_size": 1}, r"table alignment of 2\*\*31"),
    ({"mem_size": 3 << 30}, "asks for 3,221,225,472 bytes of memory"),
    ({"mem_size": 0xFFFFFFFF}, "asks for 4,294,967,295 bytes"),
    ({"table_size": 1 << 31}, "table slots"),
    ({"mem_align": 30, "mem_size": 4}, r"memory alignment of 2\*\*30"),
])
def test_side_module_requests_are_bounded(fields, message):
    with pytest.raises(LinkError, match=message):
        _main_world().dlopen(_side(**fields), name="evil")
    with pytest.raises(LinkError, match=message):  # standalone: the side module would be the main
        World().dlopen(_side(**fields), name="evil")


def test_huge_mem_size_without_main_memory_is_a_clean_error():
    from wasmweld.runtime.dylink_loader import DlLimits

    w = World(dl_limits=DlLimits(max_mem_size=1 << 40))
    with pytest.raises(LinkError, match="cannot create a memory"):
        w.dlopen(_side(mem_size=0xFFFFFFFF), name="evil")
    assert w.modules == []
    w.dlopen(_side(mem_size=64), name="ok")  # the World is still usable
    assert w.get_fn("ok", "f")() == 5


def test_fresh_pages_are_not_cleared_by_hand(monkeypatch):
    import ctypes

    calls = []
    monkeypatch.setattr(ctypes, "memset", lambda *a: calls.append(a))
    w = _main_world()
    w.dlopen(_side(mem_size=64 << 20), name="big")  # no malloc in the main: fresh pages, zero already
    assert calls == [] and w.get_fn("big", "f")() == 5
    w2 = World()
    w2.dlopen(_side(mem_size=8 << 20), name="standalone")
    assert calls == []


# ------------------------------------------------------------------ types wasmtime-py cannot represent (items 10, 11)

_SPEC_PROBE = r"""
import sys
sys.path.insert(0, sys.argv[1])
from helpers import CONFORMANCE_DIR, conformance_rows
from wasmweld.errors import ExecutionError, WasmError
from wasmweld.runtime.typecheck import type_report
from wasmweld.runtime.world import World

seen = ok = clean = refused_calls = 0
for r in conformance_rows():
    if r["kind"] != "valid":
        continue
    data = (CONFORMANCE_DIR / r["path"]).read_bytes()
    rep = type_report(data)
    if not (rep.imports or rep.exports):
        continue
    seen += 1
    try:
        w = World(stub_missing=True)
        w.add("m", data)
        for n, x in w.exports("m").items():
            repr(x)
            if hasattr(x, "params"):
                assert x.params is not None and x.results is not None
                if x.unsupported:
                    try:
                        x(*[0] * len(x.params))
                    except ExecutionError as e:
                        assert "cannot be called from Python" in str(e) and x.unsupported in str(e)
                        refused_calls += 1
        ok += 1
    except WasmError:
        clean += 1
print(seen, ok, clean, refused_calls)
"""


def test_spec_modules_with_unrepresentable_types_never_abort(tmp_path):
    """~300 valid spec modules aborted the process (SIGABRT) in add(stub_missing=True) + params: a subprocess
    makes an abort fail this test instead of killing pytest."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "probe.py"
    script.write_text(_SPEC_PROBE)
    tests_dir = str(Path(__file__).parent)
    p = subprocess.run([sys.executable, str(script), tests_dir], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    seen, ok, clean, refused = map(int, p.stdout.split())
    assert seen >= 300 and ok + clean == seen and ok >= 310 and refused >= 100, (seen, ok, clean, refused)


V128 = wat2wasm('''(module (global $calls (export "calls") (mut i32) (i32.const 0))
  (func (export "splat") (param i32) (result v128)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32x4.splat (local.get 0)))
  (func (export "lane0") (param v128) (result i32) (i32x4.extract_lane 0 (local.get 0)))
  (func (export "ext") (param externref) (result i32) (i32.const 1)))''')

USER = wat2wasm('''(module (import "simd" "lane0" (func $lane0 (param v128) (result i32)))
  (import "host" "v" (func $v (param v128)))
  (func (export "go") (result i32) (call $lane0 (i32x4.splat (i32.const 41)))))''')


def test_v128_functions_link_stub_and_are_refused_before_calling(capsys, tmp_path):
    w = World()
    w.add("simd", V128)
    f = w.get_fn("simd", "splat")
    assert f.params == ["i32"] and f.results == ["v128"] and f.unsupported == "v128"
    with pytest.raises(ExecutionError, match=r"simd.splat cannot be called from Python: its type func \(i32\) -> "
                                             r"\(v128\) uses v128"):
        f(1)
    assert w.exports("simd")["calls"].value == 0  # checked before calling: nothing ran
    assert w.get_fn("simd", "ext").params == ["externref"]  # not "anyref"
    # linking through a v128 function, and a stub of a v128 import (a generated Wasm function)
    w.stub("host", "v")
    w.add("user", USER)
    assert w.invoke("user", "go") == 41
    # type mismatch with a v128 import against a host function: a LinkError naming the types
    w2 = World()
    w2.define_host("host", "v", lambda: None, "->")
    w2.add("simd", V128)
    with pytest.raises(LinkError, match=r"imports host.v as func \(v128\) -> \(\)"):
        w2.add("user", USER)
    # the CLI: one error line, no abort, and the function did not run
    (tmp_path / "s.wasm").write_bytes(V128)
    assert cli(["run", str(tmp_path / "s.wasm"), "--invoke", "splat", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "uses v128" in err and len(err.splitlines()) == 1
    (tmp_path / "u.wasm").write_bytes(USER)
    assert cli(["run", str(tmp_path / "u.wasm"), "--stub-missing", "--invoke", "go"]) == 1  # lane0 stub traps
    assert "error: " in capsys.readouterr().err


def test_cycle_through_v128_is_a_clean_error():
    a = wat2wasm('''(module (import "b" "g" (func (param v128))) (func (export "f") (param v128)))''')
    b = wat2wasm('''(module (import "a" "f" (func (param v128))) (func (export "g") (param v128)))''')
    w = World()
    w.add("a", a)
    with pytest.raises(LinkError, match="through a trampoline.*uses v128"):
        w.add("b", b)


def test_dlclose_of_the_last_side_module(tmp_path):
    w = _main_world()
    w.dlopen(_side(3), name="one")
    w.dlopen(_side(4), name="two")
    with pytest.raises(LinkError, match="'two' were loaded after it"):
        w.remove("one")
    with pytest.raises(LinkError, match="main module of dynamic linking"):
        w.remove("main")
    w.remove("two")
    assert "two" not in w and "two" not in w.dynamic_linker.libs
    assert all(s.provider != "two" for s in w.dynamic_linker.symbols.values())
    w.remove("one")
    w.dlopen(_side(5), name="one")  # loadable again under the same name
    assert w.get_fn("one", "f")() == 5


# ------------------------------------------------------------------ threads (item 13)

_THREADS = r"""
import threading
from wasmweld.errors import ExecutionError
from wasmweld.runtime.world import World
w = World()
w.add("c", '''(module (global $n (export "n") (mut i32) (i32.const 0))
  (func (export "bump") (param i32) (local i32)
    (loop $l (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0)))))
  (func (export "trap") (param i32) (call 0 (local.get 0)) unreachable))''')
f = w.get_fn("c", "trap")
def work():
    for _ in range(300):
        try:
            f(1000)
        except ExecutionError:
            pass
ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(w.exports("c")["n"].value)
"""


def test_one_world_from_several_threads():
    """Calls from several threads into one store run one at a time: without the lock wasmtime's unwinder
    panics on concurrent traps (SIGABRT, exit 134); with it every update counts."""
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", _THREADS], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == [str(4 * 300 * 1000)]


# ------------------------------------------------------------------ world manifests (item 18)

HELLO = wat2wasm('''(module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1) (data (i32.const 16) "pwned\\n")
  (func (export "main") (result i32)
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 6))
    (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))''')


@pytest.mark.parametrize("wasi, key", [
    ('stdout = "../victim.txt"', "wasi.stdout"),
    ('stderr = "/tmp/../etc/victim"', "wasi.stderr"),
    ('stdin = "/etc/hostname"', "wasi.stdin"),
    ('preopens = { "/" = "/" }', "wasi.preopens"),
    ('preopens = { "/up" = ".." }', "wasi.preopens"),
    ('inherit_env = true', "wasi.inherit_env"),
])
def test_manifest_is_confined_to_its_folder(tmp_path, capsys, wasi, key):
    d = tmp_path / "m"
    d.mkdir()
    (d / "h.wasm").write_bytes(HELLO)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (d / "w.toml").write_text(f'[[module]]\nname = "h"\npath = "h.wasm"\n[wasi]\n{wasi}\n[entries]\nmain = "h.main"\n')
    assert cli(["run", str(d / "w.toml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and key in err and "--trust-manifest" in err, err
    assert victim.read_text() == "precious"
    if key == "wasi.stdout":  # trusted: it may write where it says
        assert cli(["run", "--trust-manifest", str(d / "w.toml")]) == 0
        assert victim.read_text() == "pwned\n"


def test_manifest_inside_its_folder_and_help_says_so(tmp_path, capsys):
    (tmp_path / "h.wasm").write_bytes(HELLO)
    (tmp_path / "w.toml").write_text('[[module]]\nname = "h"\npath = "h.wasm"\n[wasi]\nstdout = "sub/../out.txt"\n'
                                     '[entries]\nmain = "h.main"\n')
    assert cli(["run", str(tmp_path / "w.toml")]) == 0
    assert (tmp_path / "out.txt").read_text() == "pwned\n"
    capsys.readouterr()
    assert cli(["run", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "as powerful as a script" in out and "--trust-manifest" in out and "--trust-artifact" in out


# ------------------------------------------------------------------ issue 15: run's vocabulary and exit status


def test_run_errors_name_cli_options(tmp_path, capsys):
    (tmp_path / "h.wasm").write_bytes(HELLO)
    assert cli(["run", "--no-wasi", str(tmp_path / "h.wasm"), "--invoke", "main"]) == 1
    err = capsys.readouterr().err
    assert "WASI is not enabled (--wasi)" in err and "World(" not in err
    assert "--stub-missing" in err
    assert cli(["run", "--no-wasi", "--stub-missing", str(tmp_path / "h.wasm"), "--invoke", "main", "--json"]) == 1
    assert "stubbed import wasi_snapshot_preview1.fd_write" in capsys.readouterr().err
    (tmp_path / "c.wasm").write_bytes(CONST)
    assert cli(["run", str(tmp_path / "c.wasm"), "--invoke", "f", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"schema": 1, "target": str(tmp_path / "c.wasm"), "invoke": "c.f",
                                                   "results": [SECRET], "exit_status": None}


def test_stub_default_is_the_edit_vocabulary():
    w = World()
    w.stub("env", "now", action="default")
    w.add("m", '(module (import "env" "now" (func (result i64))) (func (export "f") (result i64) call 0))')
    assert w.invoke("m", "f") == 0
    with pytest.raises(LinkError, match="'trap' or 'default'"):
        w.stub("env", "x", action="nothing")


_NO_WASMTIME = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "wasmtime" or name.startswith("wasmtime."):
            raise ModuleNotFoundError("No module named 'wasmtime'", name=name)
sys.meta_path.insert(0, Block())
from wasmweld.cli.main import main
what = sys.argv[1]
if what == "world":
    import wasmweld
    from wasmweld.errors import WasmError
    try:
        wasmweld.World()
    except WasmError as e:
        print("WasmError:", e)
else:
    sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("what, argv", [("world", []), ("cli", ["run", "{m}", "--invoke", "f"]),
                                        ("cli", ["compile", "{m}", "-o", "{o}"])])
def test_without_wasmtime_the_install_hint(tmp_path, what, argv):
    import subprocess
    import sys

    (tmp_path / "m.wasm").write_bytes(CONST)
    argv = [a.format(m=tmp_path / "m.wasm", o=tmp_path / "o.cwasm") for a in argv]
    p = subprocess.run([sys.executable, "-c", _NO_WASMTIME, what, *argv], capture_output=True, text=True, timeout=120)
    text = p.stdout + p.stderr
    assert "pip install 'wasmweld[runtime]'" in text and "internal error" not in text and "Traceback" not in text, text
    if what == "cli":
        assert p.returncode == 1 and p.stderr.startswith("error: ") and not (tmp_path / "o.cwasm").exists()


def test_nul_in_runtime_path_is_ignored(tmp_path):
    """Found by the fuzz test (tests/test_runtime_fuzz.py): a NUL byte in RUNTIME_PATH raised ValueError."""
    (tmp_path / "app.wasm").write_bytes(_side(needed=["x.wasm"], runtime_path=["$ORIGIN/a\0b"]))
    with pytest.raises(LinkError, match="needs library 'x.wasm', which is not loaded and was not found"):
        _main_world().dlopen(tmp_path / "app.wasm")


def test_digest_memo_follows_file_changes(keydir, tmp_path):
    """Warm starts skip hashing a module file seen before, never at the price of running stale code."""
    d = tmp_path / "cache"
    mod = tmp_path / "m.wasm"
    mod.write_bytes(CONST)
    w = World(cache_dir=d)
    w.add("m", str(mod))
    assert w.invoke("m", "f") == SECRET and w.cache.stats.misses == 1
    assert len(list((d / "paths").iterdir())) == 1  # the digest remembered for this file version
    w = World(cache_dir=d)
    w.add("m", str(mod))
    assert w.cache.stats.hits == 1 and w.invoke("m", "f") == SECRET
    # the same file rewritten in place, same size, other code: a new identity, hence a new digest
    other = wat2wasm(f'(module (func (export "f") (result i32) i32.const {SECRET + 1}))')
    assert len(other) == len(CONST)
    with open(mod, "r+b") as f:
        f.write(other)
    w = World(cache_dir=d)
    w.add("m", str(mod))
    assert w.invoke("m", "f") == SECRET + 1 and w.cache.stats.misses == 1
    # a forged memo (right name, digest of the old content, no valid MAC) is ignored
    for p in (d / "paths").iterdir():
        p.write_bytes(hashlib.sha256(CONST).digest() + b"\0" * 32)
    w = World(cache_dir=d)
    w.add("m", str(mod))
    assert w.invoke("m", "f") == SECRET + 1


def test_cycle_through_externref_functions():
    """Trampolines spelled externref as wasmtime-py's "anyref" (a GC type): the cycle could not be instantiated."""
    a = wat2wasm('''(module (import "b" "g" (func $g (param externref) (result i32)))
      (func (export "f") (param externref) (result i32) (i32.add (i32.const 1) (ref.is_null (local.get 0))))
      (func (export "go") (result i32) (call $g (ref.null extern))))''')
    b = wat2wasm('''(module (import "a" "f" (func $f (param externref) (result i32)))
      (func (export "g") (param externref) (result i32) (i32.mul (i32.const 10) (call $f (local.get 0)))))''')
    w = World()
    w.add("a", a)
    w.add("b", b)
    assert w.invoke("a", "go") == 20 and w.get_fn("b", "g").params == ["externref"]


def test_side_module_import_minimums_are_bounded():
    """A side module importing env.memory (min 60,000 pages) or a 2^31-slot table cannot make the main grow that much."""
    from wasmweld.custom.dylink import Dylink
    from wasmweld.module import parse

    for imports, message in [('(import "env" "memory" (memory 60000))', "grow the shared memory"),
                             ('(import "env" "memory" (memory 0)) (import "env" "__indirect_function_table" '
                              '(table 3000000 funcref))', "imports a table of at least 3,000,000 slots")]:
        m = parse(wat2wasm(f'(module {imports} (func (export "f") (result i32) i32.const 5))'))
        m.add_custom("dylink.0", Dylink().encode(), after=0)
        w = _main_world()
        with pytest.raises(LinkError, match=message):
            w.dlopen(m.encode(), name="greedy")
        assert w.memory("main").pages == 1 and len(w.exports("main")["__indirect_function_table"]) == 1


def test_devices_and_pipes_are_not_read_whole(tmp_path, capsys):
    """A manifest module path, --dlopen or a manifest itself naming /dev/zero ended in MemoryError."""
    (tmp_path / "w.toml").write_text('[[module]]\nname = "z"\npath = "/dev/zero"\n')
    assert cli(["run", str(tmp_path / "w.toml"), "--invoke", "z.f"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "/dev/zero: not a regular file (a character device)" in err
    with pytest.raises(LinkError, match="not a regular file"):
        World().add("z", "/dev/zero")
    with pytest.raises(LinkError, match="not a regular file"):
        _main_world().dlopen("/dev/zero")
    os.mkfifo(tmp_path / "p.toml")
    from wasmweld.manifest import ManifestError, load_manifest

    import threading

    def writer():  # an endless writer on the other end of the pipe
        try:
            with open(tmp_path / "p.toml", "w") as f:
                f.write("x = 1\n" * 10)
        except OSError:
            pass

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    with pytest.raises(ManifestError, match="not a regular file"):
        load_manifest(tmp_path / "p.toml")


def test_compile_and_run_say_a_component_is_a_component(tmp_path, capsys):
    (tmp_path / "c.wasm").write_bytes(b"\0asm\x0d\x00\x01\x00")
    assert cli(["compile", str(tmp_path / "c.wasm"), "-o", str(tmp_path / "c.cwasm")]) == 1
    assert "this is a WebAssembly component (binary version 0x0d, layer 1, at offset 0x4), not a core module: wasmweld compile works on core modules" in capsys.readouterr().err
    assert cli(["run", str(tmp_path / "c.wasm")]) == 1  # run hosts components: this one has nothing to run
    assert "the component exports no wasi:cli/run" in capsys.readouterr().err
    assert not (tmp_path / "c.cwasm").exists()


_GC_TABLES = r"""
from wasmweld.errors import ExecutionError
from wasmweld.runtime.world import World
w = World()
w.add("m", '(module (type $s (struct)) (table (export "t") 2 (ref null $s)) (table (export "a") 1 anyref)'
           ' (global (export "g") (mut v128) (v128.const i64x2 0 0)) (table (export "f") 1 funcref))')
ex = w.exports("m")
for n in ("t", "a", "g"):
    try:
        ex[n][0] if n != "g" else ex[n].value
    except ExecutionError as e:
        print("refused", n)
print(len(ex["t"]), ex["f"][0])
"""


def test_gc_tables_and_v128_globals_are_refused_not_read():
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", _GC_TABLES], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-1500:]
    assert p.stdout.split("\n")[:4] == ["refused t", "refused a", "refused g", "2 None"]


def test_cache_dir_under_a_foreign_parent_is_refused(keydir, tmp_path):
    parent = tmp_path / "theirs"
    parent.mkdir()
    (parent / "cache").mkdir(mode=0o700)
    os.chown(parent, 12345, 12345)  # another user could rename our "cache" and put theirs in its place
    with pytest.raises(CacheError, match="parent folder .*theirs can be changed by others"):
        World(cache_dir=parent / "cache")
    os.chown(parent, os.geteuid(), os.getegid())
    os.chmod(parent, 0o1777)  # sticky and world-writable, like /tmp: others cannot rename what is ours
    assert World(cache_dir=parent / "cache").cache is not None


def test_stubs_of_unrepresentable_globals_and_tables():
    """Imports of GC-typed / v128 globals and tables are stubbed in Wasm with their type's default."""
    m = wat2wasm('''(module (type $f (func (result i32)))
      (import "h" "g" (global $g (ref null $f)))
      (import "h" "nn" (global $nn (ref $f)))
      (import "h" "v" (global $v v128))
      (import "h" "t" (table $t 2 (ref null $f)))
      (func (export "null_g") (result i32) (ref.is_null (global.get $g)))
      (func (export "lane") (result i32) (i32x4.extract_lane 0 (global.get $v)))
      (func (export "call_nn") (result i32) (call_ref $f (global.get $nn)))
      (func (export "tsize") (result i32) (table.size $t)))''')
    w = World(stub_missing=True)
    w.add("m", m)
    assert w.invoke("m", "null_g") == 1 and w.invoke("m", "lane") == 0 and w.invoke("m", "tsize") == 2
    with pytest.raises(ExecutionError, match="unreachable"):
        w.invoke("m", "call_nn")  # the non-nullable function reference is a function that traps


def test_library_paths_read_through_the_bounded_reader():
    """snapshot()/merge() given a path read it like the CLI does: a device is refused, not read forever."""
    import wasmweld
    from wasmweld.errors import WasmError

    with pytest.raises(WasmError, match="not a regular file"):
        wasmweld.snapshot("/dev/zero")
    with pytest.raises(WasmError, match="not a regular file"):
        wasmweld.merge([("a", "/dev/zero")])


def test_world_add_of_a_fifo_is_refused_not_waited_on(tmp_path):
    """World.add(path) opened the file blocking before checking it was a regular file (and the artifact
    test before that read its end the same way): a FIFO with no writer hung it. Both now go through the
    bounded reader's non-blocking open (wasmweld.files)."""
    from wasmweld.runtime.sourcefile import is_artifact, read_module_file

    fifo = tmp_path / "planted.wasm"
    os.mkfifo(fifo)
    assert is_artifact(str(fifo)) is False
    with pytest.raises(LinkError, match=r"module 'p': .*planted.wasm: not a regular file \(a FIFO\)"):
        World().add("p", str(fifo))
    with pytest.raises(LinkError, match="not a regular file"):
        read_module_file(str(fifo), "module 'q'")


def test_world_add_reads_a_module_file_within_the_input_bound(tmp_path, monkeypatch):
    """A module file larger than WASMWELD_MAX_INPUT is refused before it is read, like every other input."""
    path = tmp_path / "m.wasm"
    path.write_bytes(wat2wasm('(module (func (export "f") (result i32) i32.const 7))'))
    assert World().add("m", str(path)) is not None
    monkeypatch.setenv("WASMWELD_MAX_INPUT", "16")
    with pytest.raises(LinkError, match="too large"):
        World().add("m", str(path))


def test_world_add_of_a_component_file_is_read_within_the_input_bound(tmp_path, monkeypatch):
    """A component path is told apart by its first 8 bytes (a FIFO: not waited on) and then read by the
    bounded reader: over WASMWELD_MAX_INPUT it is refused before it is read."""
    from wasmweld.runtime.component_world import component_source

    comp = tmp_path / "c.wasm"
    comp.write_bytes(wat2wasm('(component (core module $m (func (export "f"))))'))
    fifo = tmp_path / "c2.wasm"
    os.mkfifo(fifo)
    assert component_source(str(comp)) and not component_source(str(fifo))
    monkeypatch.setenv("WASMWELD_MAX_INPUT", "8")
    from wasmweld.errors import WasmError

    with pytest.raises(WasmError, match="too large"):
        World().add("c", str(comp))
