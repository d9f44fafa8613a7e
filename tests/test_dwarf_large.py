"""DWARF at scale (issue 14 item 4): QuickJS built with ``clang -g`` merged with a small -g service.

QuickJS's five C files and the QuickJS tutorial's shim (docs/tutorials/quickjs/), compiled for
wasm32-wasi as a reactor with ``-g``: some 850 bodies and ~2.8 MB of ``.debug_*`` (114 compile
units with wasi-libc's), with what wasm-ld leaves in real builds (line sequences running over
several bodies and past the code, ranges ending on the next body's size field). Merged behind the
``audit`` service (so every address of QuickJS moves and its calls are renumbered):
``llvm-dwarfdump --verify`` finds no error and ``wasm-tools addr2line`` prints the same frames for
sampled addresses of QuickJS before and after (tests/dwarfcheck.py's oracle, independent of
wasmweld.dwarf).

The sources come from the PyPI ``quickjs`` sdist the QuickJS tutorial downloads (its cached copy
when there, else ``pip download``); the build is cached (helpers.compile_c). DWARF 4 always;
``WASMWELD_DWARF_LARGE=1`` adds DWARF 5 and ``--single-memory``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from dwarfcheck import DWARF_C, assert_same_lines, build_dwarf_services, verify
from helpers import REPO, build_cache_dir, compile_c

from wasmweld import parse
from wasmweld.dwarf import info, rewrite
from wasmweld.link import merge

SDIST = "quickjs-1.19.4.tar.gz"
QJS_FILES = ("quickjs", "libregexp", "libunicode", "cutils", "libbf")
LARGE = bool(os.environ.get("WASMWELD_DWARF_LARGE"))


def _sdist() -> Path:
    """The ``quickjs`` sdist: the QuickJS tutorial's cached copy, else downloaded with pip."""
    cache = build_cache_dir()
    for found in sorted(cache.glob(f"tutorial-quickjs-*/{SDIST}")) + [cache / "quickjs-sdist" / SDIST]:
        if found.is_file():
            return found
    dest = cache / "quickjs-sdist"
    dest.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "quickjs==1.19.4",
                    "-d", str(dest)], check=True, capture_output=True, timeout=300)
    return dest / SDIST


def quickjs_sources() -> Path:
    """The unpacked ``upstream-quickjs`` folder (cached), the tutorial's shim.c copied in."""
    root = build_cache_dir() / "quickjs-1.19.4-src"
    if not (root / "upstream-quickjs" / "shim.c").is_file():
        tmp = build_cache_dir() / f".quickjs-src-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        with tarfile.open(_sdist()) as tar:
            members = [m for m in tar.getmembers() if "/upstream-quickjs/" in m.name and m.isfile()]
            for m in members:
                m.name = "upstream-quickjs/" + m.name.split("/upstream-quickjs/", 1)[1]
            tar.extractall(tmp, members=members, filter="data")
        shutil.copy(REPO / "docs" / "tutorials" / "quickjs" / "shim.c", tmp / "upstream-quickjs" / "shim.c")
        shutil.rmtree(root, ignore_errors=True)
        os.replace(tmp, root)
    return root / "upstream-quickjs"


def build_quickjs(version: int = 4) -> bytes:
    """QuickJS + shim, wasm32-wasi reactor, ``-O2 -g`` (``-gdwarf-5`` for version 5)."""
    src = quickjs_sources()
    flags = ["-g", *([f"-gdwarf-{version}"] if version != 4 else []), "-mexec-model=reactor", "-D_GNU_SOURCE",
             f'-DCONFIG_VERSION="{(src / "VERSION").read_text().strip()}"', "-DCONFIG_BIGNUM", "-DEMSCRIPTEN",
             "-DFE_DOWNWARD=0x400", "-DFE_UPWARD=0x800", "-Wno-everything", f"-I{src}", "-lm"]
    return compile_c([src / f"{n}.c" for n in QJS_FILES] + [src / "shim.c"], target="wasm32-wasi", flags=flags)


def debug_size(data: bytes) -> int:
    return sum(len(cs.data) for cs in parse(data).customs if cs.name.startswith(".debug_"))


def memory_size_users(data: bytes) -> tuple[str, ...]:
    """Names of the functions using ``memory.size`` or ``memory.grow``."""
    m = parse(data)
    n_imp = sum(1 for i in m.imports if i.kind.name == "FUNC")
    users = []
    for i, name in m.names.funcs.items():
        if i >= n_imp and any(ins.name in ("memory.size", "memory.grow")
                              for ins in m.code[i - n_imp].instrs):
            users.append(name)
    return tuple(users)


CASES = [(4, False)] + ([(5, False), (4, True)] if LARGE else [])


@pytest.mark.parametrize("version,single_memory", CASES, ids=[f"dwarf{v}{'-single' * s}" for v, s in CASES])
def test_quickjs_dwarf_merged(version, single_memory, tmp_path):
    qjs = build_quickjs(version)
    audit = compile_c(DWARF_C / "audit.c", target="wasm32", flags=["-g"])
    assert debug_size(qjs) > 2_000_000
    names = {cs.name for cs in parse(qjs).customs}
    assert (".debug_rnglists" in names) == (version == 5)
    warnings: list[str] = []
    out = merge([("audit", audit), ("qjs", qjs)], export_conflicts="rename", single_memory=single_memory,
                drop_memory_exports=single_memory, warn=warnings.append).encode()
    assert not any("dropped the DWARF" in w for w in warnings), warnings
    assert debug_size(out) > debug_size(qjs)
    verify(out, tmp_path)
    # single-memory lowers memory.size/grow to more instructions: the oracle pairs instructions one for one
    skip = memory_size_users(qjs) if single_memory else ()
    assert assert_same_lines(qjs, out, "qjs", tmp_path, at_least=290, skip=skip) > 200
    assert_same_lines(audit, out, "audit", tmp_path, at_least=20)


def test_plan_walker_writes_what_the_full_reader_writes(monkeypatch):
    """The rewrite steps over the DIE values it never reads (:func:`wasmweld.dwarf.info.kept_dies`);
    with every DIE read whole (:func:`~wasmweld.dwarf.info.dies`) the merged bytes are the same."""
    cases = [[("audit", compile_c(DWARF_C / "audit.c", target="wasm32", flags=["-g"])), ("qjs", build_quickjs(4))],
             build_dwarf_services(5)[::-1]]
    for inputs in cases:
        fast = merge(inputs, export_conflicts="rename", warn=lambda text: None).encode()
        with monkeypatch.context() as mp:
            mp.setattr(rewrite, "kept_dies", lambda data, abbrev, unit, *_a: info.dies(data, abbrev, unit))
            full = merge(inputs, export_conflicts="rename", warn=lambda text: None).encode()
        assert debug_size(fast) > 5000
        assert fast == full


def test_grown_list_offsets_are_re_laid_out():
    """A DWARF 5 offset that needs a byte more (what the DWARF 5 QuickJS merge above meets):
    the list grows, the next list's offset in the table and the table's length follow."""
    from wasmweld.dwarf.grow import fix_tables, splice

    lists = bytes([4, 1, 2, 0]) + bytes([4, 3, 4, 0])              # two lists: offset_pair 1,2 / 3,4
    header = (5).to_bytes(2, "little") + bytes([4, 0]) + (2).to_bytes(4, "little")
    table = header + (8).to_bytes(4, "little") + (12).to_bytes(4, "little") + lists
    old = (len(table)).to_bytes(4, "little") + table
    first = 4 + len(header) + 8                                      # list 0 starts after the offsets array
    new, where = splice(bytearray(old), [(first + 2, first + 3, 300)])
    fix_tables(new, old, where)
    assert new[first:first + 5] == bytes([4, 1, 0xAC, 0x02, 0])       # 300 as a two-byte ULEB128
    assert int.from_bytes(new[0:4], "little") == len(new) - 4 == len(old) - 3
    assert int.from_bytes(new[12:16], "little") == 8 and int.from_bytes(new[16:20], "little") == 13
    assert new[first + 5:] == old[first + 4:]
    assert where(first + 4) == first + 5 and where(first) == first
