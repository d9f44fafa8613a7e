"""Compiled-artifact cache and .cwasm files (issue 6): correctness and recovery, never speed (see bench/).

Every corruption case checks that the damaged entry is detected before
wasmtime maps it, deleted, recompiled, and that the module still computes the
right answers.
"""

from __future__ import annotations

import json
import os
import struct

import pytest

from helpers import FIXTURES
from wasmweld.cli.main import main as cli
from wasmweld.errors import CacheError
from wasmweld.runtime.cache import (
    MAGIC, ArtifactCache, CacheWarning, compile_module, engine_settings, fingerprint, is_artifact, load_artifact, make_engine,
    read_artifact_meta, serialize_artifact,
)
from wasmweld.runtime.engine import wat2wasm
from wasmweld.runtime.world import World

W = FIXTURES / "world"

FIB = wat2wasm("""(module (func $fib (export "fib") (param $n i32) (result i64)
  (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
    (then (i64.extend_i32_u (local.get $n)))
    (else (i64.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                   (call $fib (i32.sub (local.get $n) (i32.const 2))))))))""")


def entries(d):
    return sorted(p for p in os.listdir(d) if p.endswith(".cwasm"))


def fresh_world(d, **kw):
    w = World(cache_dir=d, **kw)
    w.add("fib", FIB)
    return w


def test_cold_then_warm(tmp_path):
    w1 = fresh_world(tmp_path)
    assert (w1.cache.stats.misses, w1.cache.stats.hits) == (1, 0)
    assert w1.invoke("fib", "fib", 20) == 6765
    [entry] = entries(tmp_path)
    assert entry.startswith(__import__("hashlib").sha256(FIB).hexdigest())
    assert fingerprint(w1.settings) in entry
    w2 = fresh_world(tmp_path)
    assert (w2.cache.stats.misses, w2.cache.stats.hits) == (0, 1)
    assert w2.invoke("fib", "fib", 21) == 10946
    meta = read_artifact_meta(str(tmp_path / entry))
    assert meta["wasm_sha256"] and meta["wasm_size"] == len(FIB) and meta["name"] == "fib"


def test_engine_configuration_is_part_of_the_key(tmp_path):
    fresh_world(tmp_path)
    w = fresh_world(tmp_path, fuel=10**9)  # fuel metering compiles different code
    assert (w.cache.stats.misses, w.cache.stats.hits) == (1, 0)
    assert len(entries(tmp_path)) == 2
    assert w.invoke("fib", "fib", 10) == 55 and w.fuel < 10**9


def _corrupt(path, how):
    data = bytearray(open(path, "rb").read())
    if how == "flip-code":
        data[len(data) // 3] ^= 0xFF
    elif how == "truncate":
        data = data[: len(data) // 2]
    elif how == "trailer-magic":
        data[-1] ^= 0x01
    elif how == "empty":
        data = bytearray()
    elif how == "garbage":
        data = bytearray(b"not an artifact at all" * 10)
    elif how == "meta-length":
        data[-44:-40] = struct.pack("<I", 0xFFFFFF)
    open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("how", ["flip-code", "truncate", "trailer-magic", "empty", "garbage", "meta-length"])
def test_corrupt_entry_is_discarded_and_recompiled(tmp_path, how):
    fresh_world(tmp_path)
    [entry] = entries(tmp_path)
    _corrupt(tmp_path / entry, how)
    with pytest.warns(CacheWarning, match="entry of module 'fib'"):
        w = fresh_world(tmp_path)
    stats = w.cache.stats
    assert (stats.discarded, stats.misses, stats.hits) == (1, 1, 0)
    assert stats.events[0][0] == "discard" and stats.events[0][1] == "fib"
    assert w.invoke("fib", "fib", 15) == 610
    # the entry was rewritten and is good again
    w3 = fresh_world(tmp_path)
    assert (w3.cache.stats.hits, w3.cache.stats.discarded) == (1, 0)


def _rewrite_meta(path, change):
    """Replace the meta JSON of an artifact and re-seal it with a valid MAC."""
    from wasmweld.runtime.trust import mac, user_key

    data = open(path, "rb").read()
    meta_len = struct.unpack("<I", data[-44:-40])[0]
    elf = data[: len(data) - 44 - meta_len]
    meta = json.loads(data[len(elf): len(elf) + meta_len])
    change(meta)
    raw = json.dumps(meta).encode()
    body = elf + raw + struct.pack("<I", len(raw))
    open(path, "wb").write(body + mac(user_key(), body) + MAGIC)  # sealed with this user's key: only the field differs


@pytest.mark.parametrize("field, value", [("wasmtime", "1.0.0"), ("fingerprint", "0" * 16),
                                          ("wasm_sha256", "ab" * 32), ("format", "other/9")])
def test_mismatched_entry_is_discarded(tmp_path, field, value):
    fresh_world(tmp_path)
    [entry] = entries(tmp_path)
    _rewrite_meta(tmp_path / entry, lambda m: m.__setitem__(field, value))
    with pytest.warns(CacheWarning):
        w = fresh_world(tmp_path)
    assert w.cache.stats.discarded == 1 and w.cache.stats.misses == 1
    assert w.invoke("fib", "fib", 12) == 144


def test_load_artifact_errors_name_the_file(tmp_path):
    settings = engine_settings()
    engine = make_engine(settings)
    art = serialize_artifact(compile_module(engine, FIB), settings, wasm=FIB)
    path = tmp_path / "fib.cwasm"
    path.write_bytes(art)
    assert is_artifact(str(path)) and is_artifact(art) and not is_artifact(FIB)
    mod = load_artifact(str(path), engine, settings)
    assert [e.name for e in mod.exports] == ["fib"]
    fuel_settings = engine_settings(fuel=True)
    with pytest.raises(CacheError, match=r"fib\.cwasm.*another engine configuration.*fuel"):
        load_artifact(str(path), make_engine(fuel_settings), fuel_settings)
    _corrupt(path, "flip-code")
    with pytest.raises(CacheError, match=r"fib\.cwasm: checksum mismatch"):
        load_artifact(str(path), engine, settings)
    with pytest.raises(CacheError, match="cannot read"):
        load_artifact(str(tmp_path / "missing.cwasm"), engine, settings)


def test_failing_cache_store_still_runs(tmp_path, monkeypatch):
    import errno

    import wasmweld.runtime.cache as cache_mod

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_mod, "_atomic_write", full)
    w = World(cache_dir=tmp_path)
    w.add("fib", FIB)
    assert w.invoke("fib", "fib", 8) == 21
    assert [e[0] for e in w.cache.stats.events] == ["store-failed"] and entries(tmp_path) == []


def test_cache_clear(tmp_path):
    c = ArtifactCache(tmp_path, make_engine(engine_settings()), engine_settings())
    c.load_or_compile(FIB, "a")
    c.load_or_compile(wat2wasm("(module)"), "b")
    assert c.clear() == 2 and entries(tmp_path) == []


# ------------------------------------------------------------------ wasmweld compile / run OUT.cwasm


def test_cli_compile_then_run_cwasm(tmp_path, capsys):
    src = tmp_path / "fib.wasm"
    src.write_bytes(FIB)
    out = tmp_path / "fib.cwasm"
    assert cli(["compile", str(src), "-o", str(out)]) == 0
    assert is_artifact(str(out)) and read_artifact_meta(str(out))["wasm_sha256"]
    capsys.readouterr()
    assert cli(["run", str(out), "--invoke", "fib", "25"]) == 0
    assert capsys.readouterr().out.split() == ["75025"]
    # a .cwasm is loaded, not compiled: a World with a cache compiles nothing for it
    w = World(cache_dir=tmp_path / "cache")
    w.add("fib", out)
    assert w.cache.stats.misses == 0 and w.invoke("fib", "fib", 9) == 34
    assert entries(tmp_path / "cache") == []
    # and a cache entry is a .cwasm: `wasmweld run` takes it as it is
    fresh_world(tmp_path / "cache")
    [entry] = entries(tmp_path / "cache")
    assert cli(["run", str(tmp_path / "cache" / entry), "--invoke", "fib", "10"]) == 0
    assert capsys.readouterr().out.split() == ["55"]
    # compile never overwrites its input unless asked
    assert cli(["compile", str(src), "-o", str(src)]) == 1
    assert "refusing to overwrite input" in capsys.readouterr().err
    assert src.read_bytes() == FIB


def test_cli_refuses_corrupt_or_mismatched_cwasm(tmp_path, capsys):
    out = tmp_path / "shop.cwasm"
    assert cli(["compile", str(W / "shop.wat"), "-o", str(out), "--fuel"]) == 0
    capsys.readouterr()
    assert cli(["run", str(out), "--stub", "host", "--invoke", "apply", "0", "4"]) == 1
    assert "compiled with fuel metering" in capsys.readouterr().err
    assert cli(["run", str(out), "--fuel", "100000", "--stub", "host", "--invoke", "apply", "0", "4"]) == 0
    assert capsys.readouterr().out.split() == ["8"]
    _corrupt(out, "flip-code")
    assert cli(["run", str(out), "--fuel", "1000", "--stub", "host", "--invoke", "apply", "0", "4"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "shop.cwasm" in err and "checksum mismatch" in err
