"""``wasmweld.text.component``: components printed exactly as ``wasm-tools print`` prints them.

- every valid component of ../shared/conformance-components (index.tsv, layer=component, kind=valid)
  prints byte for byte as wasm-tools does; the only ones not compared are those whose core modules
  wasmweld's binary layer does not decode yet (a DecodeError, never a wrong text, listed in _UNDECODED);
  the well-formed invalid ones too (printing does not validate); ``--fold``, ``--offsets`` and ``--skeleton`` as well;
- the components the tests build (WIT worlds through ``wasm-tools component new``) likewise;
- identifiers from hand-made ``component-name`` sections (duplicates, empty and ``#`` names, names that
  are not identifiers, a malformed map): the derivation is the module printer's, per index space;
- text round trip: wasmtime's ``wat2wasm`` reads our text back (it accepts components) to the bytes
  ``wasm-tools parse`` makes of it, wasmweld decodes those to the same items, and prints the same text;
- ``wasmweld print COMP``, ``Component.to_wat()``, streaming to a file object.

wasm-tools runs once for all components: they go in as the nested components of one component (the
same trick as tests/test_print.py, whose ``nested`` helper turns our standalone text into that form).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from component_build import COMPONENT_FIXTURES, build_component, build_dummy
from helpers import SHARED_DIR, read_tsv
from test_print import WASM_TOOLS, nested

import wasmweld
from wasmweld.binary.leb import write_u
from wasmweld.component import Component, parse_component
from wasmweld.component import types as T
from wasmweld.errors import DecodeError, WasmError
from wasmweld.runtime.engine import wat2wasm
from wasmweld.text import print_module

CC_DIR = SHARED_DIR / "conformance-components"
_PREAMBLE = b"\0asm\x0d\x00\x01\x00"
_HEADER = re.compile(r"^(?:\(;@[0-9a-f]+ *;\))?  \(component \(;\d+;\)\)?$")


def _wasm_tools(*args: str, data: bytes) -> bytes | None:
    p = subprocess.run([WASM_TOOLS, *args, "-"], input=data, capture_output=True)
    return p.stdout if p.returncode == 0 else None


FLAGS = {"plain": [], "fold": ["--fold-instructions"], "offsets": ["--print-offsets"], "skeleton": ["--skeleton"]}
_OFFSET = re.compile(r"^\(;@([0-9a-f]+) *;\)", re.M)


def _bases(datas: list[bytes]) -> list[int]:
    """Where each component starts in the batch of :func:`_batch`."""
    out, pos = [], len(_PREAMBLE)
    for d in datas:
        pos += 1 + len(write_u(len(d)))
        out.append(pos)
        pos += len(d)
    return out


def _batch(datas: list[bytes], mode: str = "plain") -> list[str]:
    """wasm-tools print of every component, as the nested components of one (one process)."""
    outer = _PREAMBLE + b"".join(b"\x04" + write_u(len(d)) + d for d in datas)
    out = _wasm_tools("print", *FLAGS[mode], data=outer)
    assert out is not None, "wasm-tools refused the batch"
    lines = out.decode("utf-8").split("\n")
    starts = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    assert len(starts) == len(datas), "one (component) per input"
    ends = starts[1:] + [len(lines) - 2]  # the outer component's ")" and ""
    return ["\n".join(lines[i + 1:j]) for i, j in zip(starts, ends)]


def _difference(ours: str, ref: str) -> str:
    for i, (x, y) in enumerate(zip(ours.split("\n"), ref.split("\n"))):
        if x != y:
            return f"line {i + 1}: ours {x!r} wasm-tools {y!r}"
    return f"{ours.count(chr(10))} lines vs {ref.count(chr(10))}"


def compare(items: list[tuple[str, bytes]], mode: str = "plain") -> list[str]:
    """Our text of each component against wasm-tools' (batched); the failures."""
    datas = [d for _n, d in items]
    refs = _batch(datas, mode)
    failures = []
    for (name, data), ref, base in zip(items, refs, _bases(datas)):
        ours = parse_component(data).to_wat(fold=mode == "fold", offsets=mode == "offsets",
                                            skeleton=mode == "skeleton")
        if mode == "offsets":  # ours are offsets in the component alone
            ours = _OFFSET.sub(lambda m, b=base: f"(;@{int(m.group(1), 16) + b:<6x};)", ours)
        ours = nested(ours, mode == "offsets")
        if ours != ref:
            failures.append(f"{name}: {_difference(ours, ref)}")
    return failures


def _report(failures: list[str], total: int) -> str:
    return f"{len(failures)} of {total} differ:\n  " + "\n  ".join(failures[:30])


# ---------------------------------------------------------------------------------------------- conformance

def _rows(kind: str) -> list[tuple[str, bytes]]:
    rows = [r for r in read_tsv(CC_DIR / "index.tsv") if r["layer"] == "component" and r["kind"] == kind]
    return [(r["path"], (CC_DIR / r["path"]).read_bytes()) for r in rows]


@pytest.fixture(scope="module")
def conformance() -> list[tuple[str, bytes]]:
    rows = _rows("valid")
    assert len(rows) >= 300
    return rows


def _printable(items):
    """(printable, undecoded): the components whose core modules the binary layer reads, and the rest."""
    ok, undecoded = [], []
    for name, data in items:
        try:
            parse_component(data).decode_all()
        except DecodeError:
            undecoded.append(name)
            continue
        ok.append((name, data))
    return ok, undecoded


@pytest.mark.parametrize("mode", ["plain", "fold", "offsets", "skeleton"])
def test_conformance_components_print_like_wasm_tools(conformance, mode):
    items, undecoded = _printable(conformance)
    assert not undecoded, f"not decoded: {undecoded}"     # shared heap types (0x65) included
    assert len(items) == 312
    failures = compare(items, mode)
    assert not failures, _report(failures, len(items))


def test_invalid_components_print_like_wasm_tools():
    """Printing does not validate (neither does wasm-tools): the well-formed but invalid components of the
    suite (forward references, type mismatches...) print the same too."""
    items, undecoded = _printable(_rows("invalid"))
    assert not undecoded, f"not decoded: {undecoded}"
    assert len(items) == 517
    failures = compare(items)
    assert not failures, _report(failures, len(items))


def test_top_level_names_standalone(conformance):
    """The component's own name (``(component $name``) shows only at the top level: standalone prints."""
    items, _ = _printable(conformance)
    named = [(n, d) for n, d in items if not parse_component(d).to_wat().startswith(("(component\n", "(component)"))]
    assert len(named) >= 5
    for name, data in named[:8]:
        ref = _wasm_tools("print", data=data)
        assert ref is not None and parse_component(data).to_wat() == ref.decode(), name


# ---------------------------------------------------------------------------------------------- built components

WASI = COMPONENT_FIXTURES / "wasi-http"
VALUES = COMPONENT_FIXTURES / "values"


@pytest.fixture(scope="module")
def built() -> list[tuple[str, bytes]]:
    out = [("types-provider", build_dummy(COMPONENT_FIXTURES / "types", "provider")),
           ("wasi-http-proxy", build_dummy(WASI, "wasi:http/proxy")),
           ("wasi-cli-command", build_dummy(WASI, "wasi:cli/command")),
           ("hello", build_component((COMPONENT_FIXTURES / "hello" / "hello.wat").read_text(),
                                     COMPONENT_FIXTURES / "hello", "hello"))]
    for w in ("provider-world", "consumer-world", "logger-world"):
        out.append((w, build_component((VALUES / f"{w.split('-')[0]}.wat").read_text(), VALUES, w)))
    return out


@pytest.mark.parametrize("mode", ["plain", "fold", "offsets"])
def test_built_components_print_like_wasm_tools(built, mode):
    failures = compare(built, mode)
    assert not failures, _report(failures, len(built))
    text = parse_component(built[1][1]).to_wat()
    assert '(import "wasi:random/random@0.2.0-rc-2023-11-10" (instance' in text and "(canon lift" in text


# ---------------------------------------------------------------------------------------------- names

NAMED_WAT = """(component $top
  (core module $m (func (export "f") (result i32) i32.const 7) (memory (export "mem") 1))
  (core instance $i (instantiate $m))
  (alias core export $i "f" (core func $cf))
  (alias core export $i "mem" (core memory $cm))
  (type $t (func (result s32)))
  (type $r (record (field "a" u32) (field "b" string)))
  (type $l (list u8)) (type $o (option $r)) (type $v (variant (case "x") (case "y" u32)))
  (type $e (enum "a" "b")) (type $fl (flags "p" "q")) (type $tu (tuple u8 $l)) (type $res (result $l (error u8)))
  (func $f (type $t) (canon lift (core func $cf)))
  (component $inner (type $it (func)) (alias outer $top $t (type $ot)))
  (instance $x (instantiate $inner))
  (export $e "f" (func $f))
)"""


def _name_subsection(sort: bytes, names: list[tuple[int, str]]) -> bytes:
    body = sort + write_u(len(names)) + b"".join(write_u(i) + write_u(len(n.encode())) + n.encode()
                                                 for i, n in names)
    return b"\x01" + write_u(len(body)) + body


def _with_names(data: bytes, payload: bytes) -> bytes:
    c = parse_component(data)
    for e in c.sections:
        assert not (e.id == 0 and e.name == "component-name"), "strip the names first"
    c.add_custom("component-name", payload)
    return c.encode()


WEIRD = ["", "#hash", "a b", "dup", "dup", 'quote"back\\slash', "tab\there", "\u00e9t\u00e9", "ok.name$x"]


def test_names_exactly_as_wasm_tools_derives_them():
    plain = wat2wasm(NAMED_WAT)
    stripped = _strip_names(plain)
    pairs = list(enumerate(WEIRD))
    payload = (b"\x00" + write_u(len(b"\x03top")) + b"\x03top"
               + b"".join(_name_subsection(s, pairs) for s in
                          (b"\x00\x00", b"\x00\x02", b"\x00\x10", b"\x00\x11", b"\x00\x12", b"\x01", b"\x03", b"\x04",
                           b"\x05"))
               + _name_subsection(b"\x09", [(0, "unknown-sort")]))
    cases = [("plain", plain), ("stripped", stripped), ("weird", _with_names(stripped, payload)),
             ("truncated", _with_names(stripped, payload[:-7])),
             ("bad-map", _with_names(stripped, _name_subsection(b"\x03", [(0, "t0")])[:-1] + b"\x05"))]
    failures = compare(cases)
    assert not failures, _report(failures, len(cases))
    for name, data in cases:
        assert parse_component(data).to_wat() == _wasm_tools("print", data=data).decode(), name
    text = parse_component(_with_names(stripped, payload)).to_wat()
    for ident in ('$"#type1 #hash" (@name "#hash")', '$"a b"', "(type $dup (;3;)", '$"#type4 dup" (@name "dup")',
                  '$"quote\\u{22}back\\u{5c}slash"', '$"tab\\u{9}here"', '$"\\u{e9}t\\u{e9}"', "$ok.name$x",
                  "(alias outer $top $", "(option $"):
        assert ident in text, ident
    assert "(component $top" in parse_component(plain).to_wat()


def _strip_names(data: bytes) -> bytes:
    """The component with no component-name sections (nested ones too)."""
    out = _wasm_tools("strip", "--all", data=data)
    assert out is not None
    return out


def test_no_names_option():
    data = wat2wasm(NAMED_WAT)
    assert "$" in parse_component(data).to_wat()
    assert parse_component(data).to_wat(names=False) == parse_component(_strip_names(data)).to_wat()


# ---------------------------------------------------------------------------------------------- round trip

def _items(c: Component) -> list:
    """Every item but custom sections; name prefixes (0x00 / 0x01, not in the text) made equal; modules as
    their items; nested components as their items."""
    out = []
    for sid, it in c.items():
        if sid == 0:
            continue
        if sid == 1:
            it = [(s.id, bytes(s.payload)) for s in it.sections if s.id != 0]
        elif sid == 4:
            it = _items(it)
        elif isinstance(it, (T.Import, T.Export)):
            it = type(it)(**{**it.__dict__, "name": T.ExternName(it.name.name, 0, it.name.options)})
        out.append((sid, it))
    return out


def test_text_round_trip(conformance, built):
    """wat2wasm(print(c)) (wasmtime reads component text) equals ``wasm-tools parse`` of the same text,
    decodes to the items of ``c``, re-encodes to itself and prints the same text."""
    items, _ = _printable(conformance)
    items += built
    texts = [parse_component(d).to_wat() for _n, d in items]
    ours = [wat2wasm(t) for t in texts]
    # wasm-tools parse: the unnamed ones nested in one component (one process), named ones one by one
    unnamed = [i for i, t in enumerate(texts) if t.startswith(("(component\n", "(component)"))]
    named = [i for i in range(len(texts)) if i not in set(unnamed)]
    outer = _wasm_tools("parse", data=("(component\n" + "".join(texts[i] for i in unnamed) + ")\n").encode())
    assert outer is not None
    ref = dict(zip(unnamed, (c.encode() for c in parse_component(outer).components)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        ref.update(zip(named, pool.map(lambda i: _wasm_tools("parse", data=texts[i].encode()), named)))
    failures = []
    for i, ((name, data), text, b) in enumerate(zip(items, texts, ours)):
        c2 = parse_component(b, lazy=False)
        if b != ref[i]:
            failures.append(f"{name}: wasmtime's wat2wasm and wasm-tools parse differ")
        elif c2.encode() != b:
            failures.append(f"{name}: the reparsed binary does not re-encode to itself")
        elif _items(c2) != _items(parse_component(data, lazy=False)):
            failures.append(f"{name}: the reparsed binary has other items")
        elif c2.to_wat() != text:
            failures.append(f"{name}: printed again, the text differs")
    assert len(items) >= 310
    assert not failures, _report(failures, len(items))


# ---------------------------------------------------------------------------------------------- API and CLI

def test_streams_and_dispatches(built, tmp_path):
    data = built[1][1]
    c = wasmweld.component.parse(data)
    writes = []

    class Sink:
        def write(self, s: str) -> None:
            writes.append(s)

    print_module(c, Sink())
    assert "".join(writes) == c.to_wat() == wasmweld.text.to_wat(c)
    assert len(writes) > 2  # nested modules are written as they are printed
    buf = io.StringIO()
    print_module(c, buf, fold=True)
    assert buf.getvalue() == _wasm_tools("print", "--fold-instructions", data=data).decode()
    assert c.to_wat(offsets=True) == _wasm_tools("print", "--print-offsets", data=data).decode()
    with pytest.raises(WasmError, match="not supported for components"):
        c.to_wat(funcs=[1])


def test_cli_print_component(built, tmp_path):
    src = tmp_path / "c.wasm"
    src.write_bytes(built[0][1])
    out = tmp_path / "c.wat"
    from wasmweld.cli.main import main

    assert main(["print", str(src), "-o", str(out)]) == 0
    assert out.read_text() == _wasm_tools("print", data=built[0][1]).decode()
    p = subprocess.run([sys.executable, "-m", "wasmweld", "print", str(src),
                        "--func", "1"], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.startswith("error:") and p.stderr.count("\n") == 1


# ---------------------------------------------------------------------------------------------- limits and bad input

def _deep(components: int, types: int) -> bytes:
    """``components`` components nested in each other, the innermost with an instance type ``types`` deep."""
    t = b"\x42\x00"
    for _ in range(types):
        t = b"\x42\x01\x01" + t  # an instance type declaring one type: the next one
    data = _PREAMBLE + b"\x07" + write_u(len(t) + 1) + b"\x01" + t
    for _ in range(components - 1):
        data = _PREAMBLE + b"\x04" + write_u(len(data)) + data
    return data


def test_deepest_nesting_prints_like_wasm_tools():
    """The deepest nesting the decoder accepts (100 components, types 100 deep): no RecursionError, the
    indentation clamped at 50 levels like wasm-tools; one more type level is a DecodeError."""
    data = _deep(100, 99)
    assert parse_component(data).to_wat() == _wasm_tools("print", data=data).decode()
    with pytest.raises(DecodeError, match="too deep"):
        parse_component(_deep(100, 100)).to_wat()


def test_mutated_components_print_or_raise_wasm_error(conformance):
    """Hostile input: a few hundred byte-mutated components either print or raise a WasmError."""
    import random

    rng = random.Random(13)
    printed = 0
    for _ in range(400):
        d = bytearray(rng.choice(conformance)[1])
        for _ in range(rng.randint(1, 3)):
            d[rng.randrange(8, len(d))] = rng.randrange(256)
        try:
            text = parse_component(bytes(d)).to_wat(offsets=rng.random() < 0.5)
        except WasmError:
            continue
        assert text.startswith("(component") and text.endswith(")\n")
        printed += 1
    assert printed > 20


def test_changed_component_prints_as_it_encodes(built):
    """After an edit (a core module replaced), the text is the text of the new encoding."""
    c = parse_component(built[3][1])  # hello: a real core module
    m = wasmweld.parse(wat2wasm('(module (func (export "g") (result i32) i32.const 42))'))
    c.replace_module(0, m)
    data = c.encode()
    assert "i32.const 42" in c.to_wat()
    for flags, opts in (([], {}), (["--print-offsets"], {"offsets": True})):
        assert c.to_wat(**opts) == _wasm_tools("print", *flags, data=data).decode()
