"""Printing with a second process (text/parallel.py, issue 16.4): the same text and the same first error.

- a synthetic module with a code section over ``parallel.MIN_BYTES`` (corpus-sized: 30,000 bodies
  of 200 distinct shapes, imports, a table and elements, local and function names, branch hints,
  a data section of ASCII, binary and large segments, custom sections after the code and at the
  end): forced two-process printing (``WASMWELD_FORK=1``), ``WASMWELD_FORK=0`` and ``jobs=1`` give
  the same text, through a text sink and through a binary file;
- smaller modules with every code section counted as big: folded, offsets, a core module inside a
  component printed with offsets (the child's text goes through the component's rewriting ``write``);
- a malformed body near the start, near the end, or a malformed data segment (printed by the child
  first): the same error (class, message, offset) as one process;
- a child that dies: the parent prints its part too (the same text, no temporary file left);
- one process where ``WASMWELD_FORK=0``, ``jobs=1``, ``--func`` or ``--skeleton`` (conftest's ``forced``
  counts the forks).
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import tempfile

import pytest

from helpers import both_ways

import wasmweld
from wasmweld.binary.leb import write_s, write_u
from wasmweld.custom.name import NameSection
from wasmweld.text import parallel, print_module, printer, to_wat

COPIES = 150        # 200 template bodies x 150: about 4.4 MB of code


def _wat_template(rng: random.Random) -> str:
    """200 functions of varied shapes (blocks, branches, constants, calls, locals, memory access), 3-5 times over."""
    funcs = []
    for i in range(200):
        k = rng.randrange(6)
        c = rng.randrange(-(1 << 31), 1 << 31)
        decl = {0: "(local i64 f32)", 3: "(local $x i32)"}.get(k, "")
        if k == 0:
            body = (f"local.get 0 if (result i32) i32.const {c} else local.get 0 i32.const {i} i32.add end"
                    f" i64.const {c * 7919} local.set 1 f32.const {c / 3:.6e} local.set 2")
        elif k == 1:
            body = (f"block (result i32) loop (result i32) local.get 0 i32.const {i + 1} i32.sub local.tee 0 br_if 0"
                    f" local.get 0 br 1 end end i32.load offset={i * 4} align=2")
        elif k == 2:
            body = (f"block block block local.get 0 br_table 0 1 2 end i32.const {c} drop end end"
                    f" local.get 0 call {rng.randrange(1, 201)} f64.const {c * 0.25} drop")
        elif k == 3:
            body = (f"local.get 0 local.set $x local.get $x i32.const {c} i32.mul local.get 0"
                    f" i32.store8 offset={i} local.get 0 local.get $x br_if 0 drop local.get 0 i32.const 1"
                    f" call_indirect (param i32) (result i32)")
        elif k == 4:
            body = f"local.get 0 i32.eqz if i32.const {c} return end " + " ".join(
                f"local.get 0 i32.const {c + j} i32.xor drop" for j in range(rng.randrange(1, 12))) + " local.get 0"
        else:
            body = f"global.get 0 local.get 0 i32.add global.set 0 i32.const {c} memory.size i32.add"
        funcs.append(f"(func (param i32) (result i32) {decl} {' drop '.join([body] * rng.randrange(3, 6))})")
    return ('(module (import "env" "f" (func (param i32) (result i32))) (memory 1) (global (mut i32) (i32.const 0))'
            ' (table 4 funcref) (elem (i32.const 0) func 1 2 3) (export "m" (memory 0))'
            f' {" ".join(funcs)} (data (i32.const 16) "hello") (func (export "start")))')


def _section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + write_u(len(payload)) + payload


def _custom(name: str, payload: bytes) -> bytes:
    n = name.encode()
    return _section(0, write_u(len(n)) + n + payload)


def _big_module(wat, copies: int = COPIES, bad_body: int | None = None, bad_data: bool = False) -> bytes:
    """The template's bodies ``copies`` times over (with names, branch hints, data and custom sections);
    ``bad_body``: that body cut short; ``bad_data``: a data segment whose offset expression is cut short."""
    # (lazily: a full decode here would fork its own second process, counted by ``forced``, whenever a core is idle)
    tmpl = wasmweld.parse(wat(_wat_template(random.Random(16))))
    raw = {s.id: tmpl.data[s.payload_offset:s.end] for s in tmpl.sections if s.id}
    bodies = [b.raw for b in tmpl.code]
    last = bodies.pop()                      # the exported () -> () function stays the last one
    every = bodies * copies + [last]
    if bad_body is not None:
        every[bad_body] = every[bad_body][:-1]
    types = list(tmpl.funcs)
    types = types[:-1] * copies + types[-1:]
    funcs = write_u(len(types)) + b"".join(write_u(t) for t in types)
    hints = []                               # a hint on the first `if` of some functions
    for k, b in enumerate(tmpl.code[:-1]):
        at = next((p for p, ins in _positions(b) if ins.name == "if"), None)
        if at is not None and k % 3 == 0:
            hints += [(1 + c * len(bodies) + k, at) for c in range(0, copies, 7)]
    hints.sort()
    hint_payload = write_u(len(hints)) + b"".join(write_u(f) + write_u(1) + write_u(at) + b"\x01" + bytes([f & 1])
                                                  for f, at in hints)
    code = write_u(len(every)) + b"".join(write_u(len(b)) + b for b in every)
    rng = random.Random(4)
    segs = [b"text: " + b"the quick brown fox " * 50, bytes(rng.randrange(256) for _ in range(3000)),
            b"\\\"quoted\"\x00\x7f", bytes(rng.randrange(256) for _ in range(300_000))]
    data = write_u(len(segs)) + b"".join(b"\x00\x41" + write_s(64 + 4096 * i) + (b"" if bad_data and i == 2 else b"\x0b")
                                         + write_u(len(s)) + s for i, s in enumerate(segs))
    out = [b"\0asm\1\0\0\0", _section(1, raw[1]), _section(2, raw[2]), _section(3, funcs)]
    out += [_section(i, raw[i]) for i in (4, 5, 6, 7, 9)]
    out += [_custom("metadata.code.branch_hint", hint_payload), _section(10, code), _custom("after-code", b"\x01\x02c"),
            _section(11, data), _custom("trailer", b"end \x00\xff")]
    m = wasmweld.parse(b"".join(out))
    m.names = NameSection(module="big", funcs={i: f"f{i}" for i in range(0, len(every), 5)},
                          locals={i: {0: "p", 1: "q"} for i in range(1, len(every), 97)})
    return m.encode()


def _positions(body):
    """``(offset in the body, instruction)`` of each instruction of a decoded body."""
    p = len(body.raw) - sum(len(i[2]) for i in body.instrs)
    for ins in body.instrs:
        yield p, ins
        p += len(ins[2])


@pytest.fixture(scope="module")
def big(wat):
    return _big_module(wat)


@pytest.fixture(scope="module")
def big_text(big):
    """The big module's text, printed in one process."""
    return to_wat(wasmweld.parse(big), jobs=1)


def test_big_module_is_big_and_valid(big):
    m = wasmweld.parse(big)
    code = next(s for s in m.sections if s.id == 10)
    assert code.end - code.payload_offset >= parallel.MIN_BYTES
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "wasm-tools"), "validate", "-"], input=big,
                   check=True, capture_output=True)


def test_two_processes_print_the_same_text(big, big_text, monkeypatch, forced):
    forks = forced
    m = wasmweld.parse(big)
    one = big_text
    two, unforced = both_ways(monkeypatch, lambda: to_wat(m))
    assert len(forks) == 1                   # WASMWELD_FORK=1 forked once, =0 not at all
    assert two == one and unforced == one
    assert one.count("\n  (func ") == len(m.code) and one.count("(@metadata.code.branch_hint") > 100
    assert '(@custom "after-code" (after code)' in one and one.endswith(')\n')
    monkeypatch.setenv("WASMWELD_FORK", "1")
    buf = io.BytesIO()                       # a binary file: the child's text copied as it is
    print_module(m, buf)
    assert buf.getvalue() == one.encode()
    assert len(forks) == 2


def test_single_process_when_asked(wat, monkeypatch, forced):
    m = wasmweld.parse(_big_module(wat, copies=3))
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    forks = forced
    monkeypatch.setenv("WASMWELD_FORK", "1")
    to_wat(m, jobs=1)
    one_func = to_wat(m, funcs=[5, 7])
    skeleton = to_wat(m, skeleton=True)
    assert not forks
    assert one_func.count("(func ") == 2 and "(func " in skeleton


def test_cli_prints_the_same_file_with_two_processes(big, big_text, tmp_path):
    src, out = tmp_path / "big.wasm", tmp_path / "big.wat"
    src.write_bytes(big)
    env = dict(os.environ, WASMWELD_FORK="1", WASMWELD_TIMING="1")
    run = subprocess.run([sys.executable, "-m", "wasmweld", "print", str(src), "-o", str(out)], env=env, check=True,
                         capture_output=True, text=True)
    assert "print: child's chunks done" in run.stderr        # (the child's note: it did print a part)
    assert out.read_bytes() == big_text.encode()


@pytest.mark.parametrize("where", ["first body", "last body", "data"])
def test_the_same_error_either_way(wat, monkeypatch, where, forced):
    n = 200 * 2 + 1
    kw = {"first body": dict(bad_body=3), "last body": dict(bad_body=n - 2), "data": dict(bad_data=True)}[where]
    data = _big_module(wat, copies=2, **kw)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    forks = forced
    one = both_ways(monkeypatch, lambda: to_wat(wasmweld.parse(data)))
    assert forks and one[0] == one[1] and one[0][0] == "error", one
    monkeypatch.setenv("WASMWELD_FORK", "1")
    with pytest.raises(wasmweld.DecodeError) as exc:
        to_wat(wasmweld.parse(data))
    assert exc.value.offset is not None and str(exc.value) == one[0][2]


@pytest.mark.parametrize("options", [dict(fold=True), dict(offsets=True), dict(names=False)])
def test_small_modules_split_everywhere(wat, monkeypatch, options, forced):
    data = _big_module(wat, copies=3)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    forks = forced
    two, one = both_ways(monkeypatch, lambda: to_wat(wasmweld.parse(data), **options))
    assert len(forks) == 1 and two == one and isinstance(one, str)


def test_core_module_in_a_component_with_offsets(wat, monkeypatch, forced):
    body = " ".join(f"(func (param i32) (result i32) local.get 0 i32.const {i} i32.add)" for i in range(300))
    data = wat(f"(component (core module $m {body}) (core instance (instantiate $m)))")
    comp = wasmweld.component.parse(data)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    forks = forced
    two, one = both_ways(monkeypatch, lambda: to_wat(comp, offsets=True))
    assert len(forks) == 1 and two == one and one.count("(;@") > 300


def test_chunks_cover_the_bodies_in_order(big):
    bodies = wasmweld.parse(big).code
    chunks = parallel.chunk_bounds(bodies)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(bodies)
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(chunks, chunks[1:]))
    assert parallel.CHUNKS // 2 <= len(chunks) <= parallel.CHUNKS + 1


def test_a_child_that_dies_leaves_the_work_to_the_parent(wat, monkeypatch, forced, tmp_path):
    m = wasmweld.parse(_big_module(wat, copies=2))
    one = to_wat(m, jobs=1)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setenv("WASMWELD_FORK", "1")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(parallel, "_child", lambda *_args: os._exit(3))    # dies before printing anything
    assert to_wat(m) == one and len(forced) == 1
    assert not os.listdir(tmp_path)


def _forced_split(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setenv("WASMWELD_FORK", "1")


def test_child_text_sent_into_a_file_keeps_its_position(wat, monkeypatch, forced, tmp_path):
    m = wasmweld.parse(_big_module(wat, copies=2))
    one = to_wat(m, jobs=1).encode()
    _forced_split(monkeypatch)
    sent = []
    real = os.sendfile
    monkeypatch.setattr(os, "sendfile", lambda *a: sent.append(a[3]) or real(*a))
    path = tmp_path / "out.wat"
    with open(path, "wb") as f:
        f.write(b";; head\n")
        print_module(m, f)
        assert f.tell() == len(one) + 8         # (the file object knows where the descriptor is)
        f.write(b";; tail\n")
    assert path.read_bytes() == b";; head\n" + one + b";; tail\n"
    assert sent and len(forced) == 1


def test_child_text_into_a_pipe(wat, monkeypatch, forced):
    m = wasmweld.parse(_big_module(wat, copies=2))
    one = to_wat(m, jobs=1).encode()
    _forced_split(monkeypatch)
    r, w = os.pipe()
    got = []
    import threading
    reader = threading.Thread(target=lambda: got.extend(iter(lambda: os.read(r, 1 << 16), b"")))
    with os.fdopen(w, "wb") as f:
        monkeypatch.setattr(printer, "splits", lambda *_a: True)  # (the reading thread would keep one process)
        reader.start()
        print_module(m, f)
    reader.join()
    os.close(r)
    assert b"".join(got) == one and len(forced) == 1


def test_a_compressing_file_gets_the_child_text_through_its_write(wat, monkeypatch, forced, tmp_path):
    """A GzipFile's ``fileno()`` is the compressed file's: the text may not be sent there as it is."""
    import gzip
    m = wasmweld.parse(_big_module(wat, copies=2))
    one = to_wat(m, jobs=1).encode()
    _forced_split(monkeypatch)
    path = tmp_path / "out.wat.gz"
    with gzip.open(path, "wb") as f:
        print_module(m, f)
    assert gzip.decompress(path.read_bytes()) == one and len(forced) == 1


def test_sendfile_refused_falls_back_to_copying(wat, monkeypatch, forced, tmp_path):
    m = wasmweld.parse(_big_module(wat, copies=2))
    one = to_wat(m, jobs=1).encode()
    _forced_split(monkeypatch)

    def refuse(*_a):
        raise OSError(22, "Invalid argument")
    monkeypatch.setattr(os, "sendfile", refuse)
    path = tmp_path / "out.wat"
    with open(path, "wb") as f:
        print_module(m, f)
    assert path.read_bytes() == one and len(forced) == 1
