"""``wasmweld fuse prov.wasm cons.wasm``: separate components whose unsatisfied imports are spread
over both, fused into the component ``wasm-tools compose cons.wasm -d prov.wasm`` would give.

The provider prints to ``wasi:cli/stdout`` (``blocking-write-and-flush``, ``blocking-flush``), the
consumer to ``wasi:cli/stderr`` (``check-write``, ``blocking-write-and-flush``); both call the
world-level ``log``. So the output imports ``wasi:io/streams`` once, its instance type the union
of the two inputs' (each declares only the methods it uses), plus stdout, stderr and ``log``: no
single input has these imports. The fused component (the default output when imports remain) has
the composition's world (``wasm-tools component wit`` identical) and, under wasmtime with WASI 0.2,
returns, logs and prints what the composition does for fixed and generated names.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

pytest.importorskip("wasmtime")
import wasmtime  # noqa: E402
import wasmtime.component as C  # noqa: E402

import fuse_fixtures as F  # noqa: E402
from wasmweld.component import Component  # noqa: E402
from wasmweld.fuse import FuseError, fuse  # noqa: E402

_IO = """
package wasi:io@0.2.0 {
  interface error { resource error; }
  interface streams {
    use error.{error};
    resource output-stream {
      check-write: func() -> result<u64, stream-error>;
      blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>;
      blocking-flush: func() -> result<_, stream-error>;
    }
    variant stream-error { last-operation-failed(error), closed }
  }
}

package wasi:cli@0.2.0 {
  interface stdout {
    use wasi:io/streams@0.2.0.{output-stream};
    get-stdout: func() -> output-stream;
  }
  interface stderr {
    use wasi:io/streams@0.2.0.{output-stream};
    get-stderr: func() -> output-stream;
  }
}
"""

SEP_WIT = """package test:sep;

interface api {
  greet: func(name: string) -> string;
}

world prov { import wasi:cli/stdout@0.2.0; import log: func(x: u32); export api; }
world cons { import wasi:cli/stderr@0.2.0; import log: func(x: u32); import api; export run: func(name: string) -> u32; }
world other { import log: func(x: u64); export tick: func(); }
""" + _IO

#: the provider's api as another shape: greet returns list<u8> (the same core signature)
BAD_WIT = SEP_WIT.replace("greet: func(name: string) -> string;", "greet: func(name: string) -> list<u8>;")

_ALLOC = F.ALLOC.replace('(func (export "cabi_realloc")', '(func $realloc (export "cabi_realloc")')

PROV = """(module
  (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $get (result i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-flush" (func $flush (param i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop (param i32)))
  (import "$root" "log" (func $log (param i32)))""" + _ALLOC + """
  (data (i32.const 16) "hello, ")
  (data (i32.const 32) "provider: ")
  (data (i32.const 48) "\\n")
  (func $print (param $p i32) (param $n i32)
    (local $h i32)
    (local.set $h (call $get))
    (call $write (local.get $h) (local.get $p) (local.get $n) (i32.const 80))
    (if (i32.load8_u (i32.const 80)) (then unreachable))
    (call $flush (local.get $h) (i32.const 80))
    (if (i32.load8_u (i32.const 80)) (then unreachable))
    (call $drop (local.get $h)))
  ;; greet(name) logs len(name), prints "provider: hello, NAME!" and returns "hello, NAME!"
  (func (export "test:sep/api#greet") (param $p i32) (param $n i32) (result i32)
    (local $q i32)
    (call $log (local.get $n))
    (local.set $q (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (i32.add (local.get $n) (i32.const 8))))
    (memory.copy (local.get $q) (i32.const 16) (i32.const 7))
    (memory.copy (i32.add (local.get $q) (i32.const 7)) (local.get $p) (local.get $n))
    (i32.store8 (i32.add (i32.add (local.get $q) (i32.const 7)) (local.get $n)) (i32.const 33))
    (call $print (i32.const 32) (i32.const 10))
    (call $print (local.get $q) (i32.add (local.get $n) (i32.const 8)))
    (call $print (i32.const 48) (i32.const 1))
    (i32.store (i32.const 64) (local.get $q))
    (i32.store (i32.const 68) (i32.add (local.get $n) (i32.const 8)))
    (i32.const 64)))
"""

CONS = """(module
  (import "wasi:cli/stderr@0.2.0" "get-stderr" (func $get (result i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.check-write" (func $cw (param i32 i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop (param i32)))
  (import "$root" "log" (func $log (param i32)))
  (import "test:sep/api" "greet" (func $greet (param i32 i32 i32)))""" + _ALLOC + """
  (data (i32.const 16) "consumer: start\\n")
  (data (i32.const 40) "consumer got: ")
  (data (i32.const 60) "\\n")
  (func $print (param $p i32) (param $n i32)
    (local $h i32)
    (local.set $h (call $get))
    (call $cw (local.get $h) (i32.const 88))
    (call $log (i32.add (i32.const 1000) (i32.load8_u (i32.const 88))))      ;; 1000: check-write ok
    (call $write (local.get $h) (local.get $p) (local.get $n) (i32.const 80))
    (if (i32.load8_u (i32.const 80)) (then unreachable))
    (call $drop (local.get $h)))
  ;; run(name) prints around greet(name) to stderr; returns the greeting's length
  (func (export "run") (param $p i32) (param $n i32) (result i32)
    (call $print (i32.const 16) (i32.const 16))
    (call $greet (local.get $p) (local.get $n) (i32.const 128))
    (call $print (i32.const 40) (i32.const 14))
    (call $print (i32.load (i32.const 128)) (i32.load (i32.const 132)))
    (call $print (i32.const 60) (i32.const 1))
    (i32.load (i32.const 132))))
"""

OTHER = """(module
  (import "$root" "log" (func $log (param i64)))
  (func (export "tick") (call $log (i64.const 7))))
"""

NAMES = ["world", "", "wörld 𝄞", "x" * 3000]


def _generated(n: int) -> list[str]:
    rng = random.Random(1205)
    alphabet = "ab é€𝄞\u0000\u07ff\uffff\U0010ffff"
    return ["".join(rng.choice(alphabet) for _ in range(rng.choice((0, 1, 5, 40, 700)))) for _ in range(n)]


@pytest.fixture(scope="module")
def sep(tmp_path_factory):
    d = tmp_path_factory.mktemp("sep")
    prov = F.build_wit(SEP_WIT, "prov", PROV)
    cons = F.build_wit(SEP_WIT, "cons", CONS)
    for name, data in (("prov", prov), ("cons", cons)):
        (d / f"{name}.wasm").write_bytes(data)
    comp = F.compose(cons, prov)
    (d / "comp.wasm").write_bytes(comp)
    return d, prov, cons, comp


def _wit(path) -> bytes:
    return F.wasm_tools("component", "wit", str(path))


def _run_all(data: bytes, names: list[str], d, tag: str):
    """``run(name)`` for each name in one instance under WASI 0.2 (``log`` defined at the root):
    the results, the logged values, and what was printed to stdout and stderr."""
    cfg = wasmtime.Config()
    cfg.wasm_multi_memory = True
    eng = wasmtime.Engine(cfg)
    store = wasmtime.Store(eng)
    wasi = wasmtime.WasiConfig()
    out, err = d / f"{tag}.out", d / f"{tag}.err"
    wasi.stdout_file, wasi.stderr_file = str(out), str(err)
    store.set_wasi(wasi)
    linker = C.Linker(eng)
    linker.add_wasip2()
    logs: list[int] = []
    with linker.root() as root:
        root.add_func("log", lambda _s, x: logs.append(x))
    inst = linker.instantiate(store, C.Component(eng, data))
    f = inst.get_func(store, inst.get_export_index(store, "run"))
    results = []
    for n in names:
        results.append(f(store, n))
        f.post_return(store)
    return results, logs, out.read_bytes(), err.read_bytes()


def test_union_of_the_imports_is_the_composition_s_world(sep, tmp_path):
    d, prov, cons, comp = sep
    fused = fuse([("prov", prov), ("cons", cons)])
    assert isinstance(fused, Component)             # the default: imports remain
    data = fused.encode()
    F.wasm_tools("validate", "-", input=data)
    (tmp_path / "f.wasm").write_bytes(data)
    wit = _wit(d / "comp.wasm")
    assert _wit(tmp_path / "f.wasm") == wit
    # no input has these imports: stdout is the provider's, stderr the consumer's, streams the union
    pw, cw = _wit(d / "prov.wasm"), _wit(d / "cons.wasm")
    assert b"blocking-flush" in pw and b"check-write" not in pw and b"wasi:cli/stderr" not in pw
    assert b"check-write" in cw and b"blocking-flush" not in cw and b"wasi:cli/stdout" not in cw
    for text in (b"import wasi:cli/stdout@0.2.0;", b"import wasi:cli/stderr@0.2.0;", b"import log: func(x: u32);",
                 b"check-write: func()", b"blocking-flush: func()", b"export run: func(name: string) -> u32;"):
        assert text in wit
    assert [im.name.name for im in fused.imports].count("wasi:io/streams@0.2.0") == 1
    assert len(fused.modules) == 3 and not fused.components      # the fused module, shim and fixup


def test_fused_separate_inputs_behave_like_the_composition(sep, tmp_path):
    d, prov, cons, comp = sep
    fused = fuse([("prov", prov), ("cons", cons)], emit="component").encode()
    names = NAMES + _generated(40)
    expect = _run_all(comp, names, tmp_path, "c")
    results, logs, out, err = expect
    assert results[:3] == [13, 8, 19] and results[3] == 3008
    assert logs[:2] == [1000, 5] and out.startswith(b"provider: hello, world!\n")
    assert err.startswith(b"consumer: start\nconsumer got: hello, world!\n")
    assert _run_all(fused, names, tmp_path, "f") == expect


def test_cli_several_inputs_default_plan_graph_and_manifest(sep, tmp_path):
    d, prov, cons, comp = sep
    api = fuse([("prov.wasm", prov), ("cons.wasm", cons)]).encode()

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "wasmweld", "fuse", *map(str, args)], capture_output=True, text=True)

    out = tmp_path / "o.wasm"
    p = cli(d / "prov.wasm", d / "cons.wasm", "-o", out)
    assert p.returncode == 0 and "one component" in p.stderr, p.stderr
    assert out.read_bytes() == api
    p = cli(d / "prov.wasm", d / "cons.wasm", "--emit", "core", "-o", tmp_path / "core.wasm")
    assert p.returncode == 0 and "one core module" in p.stderr, p.stderr
    F.wasm_tools("validate", "-", input=(tmp_path / "core.wasm").read_bytes())
    p = cli(d / "prov.wasm", d / "cons.wasm", "--plan")
    assert p.returncode == 0 and "adapters: 1" in p.stdout and "$root#log" in p.stdout, p.stderr
    assert "wasi:cli/stderr@0.2.0#get-stderr" in p.stdout and "wasi:cli/stdout@0.2.0#get-stdout" in p.stdout
    dot = cli(d / "prov.wasm", d / "cons.wasm", "--graph", "-").stdout
    assert '"prov.wasm" -> "host"' in dot and '"cons.wasm" -> "host"' in dot and '"cons.wasm" -> "prov.wasm"' in dot
    mods = '[[module]]\nname = "prov.wasm"\npath = "prov.wasm"\n\n[[module]]\nname = "cons.wasm"\npath = "cons.wasm"\n'
    (d / "w.toml").write_text(mods + '\n[fuse]\nemit = "component"\n')
    p = cli(d / "w.toml", "-o", tmp_path / "m.wasm")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "m.wasm").read_bytes() == api


def _cli_error(*args) -> str:
    p = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", *map(str, args)], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, p.stderr
    return p.stderr


def test_unsatisfiable_wiring_is_one_error_line(sep, tmp_path):
    d, prov, cons, comp = sep
    o = tmp_path / "o.wasm"
    # two providers of test:sep/api: refused, then chosen with a plug naming the input
    (tmp_path / "prov2.wasm").write_bytes(prov)
    msg = _cli_error(d / "prov.wasm", tmp_path / "prov2.wasm", d / "cons.wasm", "-o", o)
    assert "`test:sep/api` (imported by cons.wasm) is exported by prov.wasm and prov2.wasm" in msg
    assert "--plug test:sep/api=prov.wasm#test:sep/api" in msg and not o.exists()
    p = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", str(d / "prov.wasm"), str(tmp_path / "prov2.wasm"),
                        str(d / "cons.wasm"), "--plug", "test:sep/api=prov2.wasm#test:sep/api", "--plan"],
                       capture_output=True, text=True)
    lines = p.stdout.splitlines()
    assert p.returncode == 0 and lines[3] == "  prov2.wasm", p.stdout + p.stderr      # component 2
    assert "adapter0: component 4 -> 2 " in p.stdout, p.stdout
    msg = _cli_error(d / "prov.wasm", d / "prov.wasm", d / "cons.wasm", "--plan")      # the same file twice
    assert "is exported by prov.wasm and prov.wasm~2" in msg
    # no provider for a plug
    msg = _cli_error(d / "prov.wasm", d / "cons.wasm", "--plug", "test:sep/api=my:x/y", "-o", o)
    assert "--plug test:sep/api=my:x/y: no other input exports `my:x/y`" in msg and not o.exists()
    # the provider's greet returns list<u8>, the consumer expects a string
    (tmp_path / "bad.wasm").write_bytes(F.build_wit(BAD_WIT, "prov", PROV))
    msg = _cli_error(tmp_path / "bad.wasm", d / "cons.wasm", "-o", o)
    assert ("`test:sep/api#greet`: cons.wasm imports it as func(name: string) -> string but bad.wasm exports "
            "func(name: string) -> list<u8>") in msg
    # two inputs import `log` with different types: no union
    (tmp_path / "other.wasm").write_bytes(F.build_wit(SEP_WIT, "other", OTHER))
    msg = _cli_error(tmp_path / "other.wasm", d / "prov.wasm", d / "cons.wasm", "-o", o)
    assert "`log` is imported by cons.wasm and other.wasm with different types" in msg and not o.exists()
    with pytest.raises(FuseError, match="`log` is imported by cons and other with different types"):
        fuse([("other", tmp_path / "other.wasm"), ("prov", prov), ("cons", cons)], emit="component")
    # with --emit core the same inputs fuse (each keeps its own lowering of `log`)
    core = fuse([("other", tmp_path / "other.wasm"), ("prov", prov), ("cons", cons)], emit="core")
    F.wasm_tools("validate", "-", input=core.encode())


def test_separate_c_components_fuse_like_their_composition(tmp_path):
    """The C provider and consumer (wasi-libc, the preview-1 adapter: 13 WASI interfaces each, as
    instance types with resources) given separately: the consumer's world-level ``pair`` names a
    record of the api the provider satisfies, written out by structure as compose writes it."""
    from component_build import build_c_component, jco_adapter
    from test_fuse_c_js import pair
    from test_fuse_wasi import WasiRunner

    adapter = jco_adapter()
    prov = build_c_component(F.C_DIR / "c_provider.c", F.C_DIR, "cprov", adapter)
    cons = build_c_component(F.C_DIR / "c_consumer.c", F.C_DIR, "ccons", adapter)
    comp = F.compose(cons, prov)
    fused = fuse([("cprov", prov), ("ccons", cons)])
    assert isinstance(fused, Component)
    data = fused.encode()
    F.wasm_tools("validate", "-", input=data)
    for name, b in (("c", comp), ("f", data), ("cons", cons)):
        (tmp_path / f"{name}.wasm").write_bytes(b)
    wit = _wit(tmp_path / "c.wasm")
    assert _wit(tmp_path / "f.wasm") == wit
    assert b"import test:c/api;" in _wit(tmp_path / "cons.wasm") and b"test:c/api" not in wit
    a, b = WasiRunner(comp, tmp_path / "a.txt"), WasiRunner(data, tmp_path / "b.txt")
    for s in ["hello", "", "wörld" * 100] + _generated(20):
        assert b.call("run", s) == a.call("run", s)
    for xs in [[], [pair(1, "ab")], [pair(2**31, "x" * 50), pair(7, "")] * 30]:
        assert b.call("tally", xs) == a.call("tally", xs) == 2 * sum(x.a + len(x.s) for x in xs) + 1
    assert a.stdout() == b.stdout() and b"provider: count(60 pairs)" in a.stdout()


def test_damaged_separate_inputs_give_wasm_errors(sep):
    """Bytes of the consumer's import sections changed: fusing it with the provider into a component
    succeeds or raises a WasmError, never anything else."""
    from wasmweld.errors import WasmError

    _, prov, cons, _ = sep
    rng = random.Random(7)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(80):
        data = bytearray(cons)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(8, 1500)] = rng.randrange(256)
        try:
            fuse([("prov", prov), ("cons", bytes(data))], emit="component").encode()
            outcomes["ok"] += 1
        except WasmError:
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and sum(outcomes.values()) == 80


CHAIN_WIT = """package test:chain;

interface api {
  greet: func(name: string) -> string;
}
interface mid {
  wrap: func(name: string) -> string;
}

world prov { import wasi:cli/stdout@0.2.0; import log: func(x: u32); export api; }
world middle { import wasi:cli/stderr@0.2.0; import api; export mid; }
world top { import wasi:cli/stdout@0.2.0; import log: func(x: u32); import mid; export run: func(name: string) -> u32; }
""" + _IO

MIDDLE = """(module
  (import "wasi:cli/stderr@0.2.0" "get-stderr" (func $get (result i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.check-write" (func $cw (param i32 i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop (param i32)))
  (import "test:chain/api" "greet" (func $greet (param i32 i32 i32)))""" + _ALLOC + """
  (data (i32.const 16) "middle: ")
  ;; wrap(name) prints "middle: " and greet(name) to stderr and returns greet(name)
  (func (export "test:chain/mid#wrap") (param $p i32) (param $n i32) (result i32)
    (local $h i32)
    (call $greet (local.get $p) (local.get $n) (i32.const 128))
    (local.set $h (call $get))
    (call $cw (local.get $h) (i32.const 88))
    (if (i32.load8_u (i32.const 88)) (then unreachable))
    (call $write (local.get $h) (i32.const 16) (i32.const 8) (i32.const 80))
    (call $write (local.get $h) (i32.load (i32.const 128)) (i32.load (i32.const 132)) (i32.const 80))
    (call $drop (local.get $h))
    (i32.const 128)))
"""

TOP = """(module
  (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $get (result i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop (param i32)))
  (import "$root" "log" (func $log (param i32)))
  (import "test:chain/mid" "wrap" (func $wrap (param i32 i32 i32)))""" + _ALLOC + """
  (data (i32.const 16) "top: ")
  ;; run(name) prints "top: " and wrap(name) to stdout, logs and returns its length
  (func (export "run") (param $p i32) (param $n i32) (result i32)
    (local $h i32)
    (call $wrap (local.get $p) (local.get $n) (i32.const 128))
    (local.set $h (call $get))
    (call $write (local.get $h) (i32.const 16) (i32.const 5) (i32.const 80))
    (call $write (local.get $h) (i32.load (i32.const 128)) (i32.load (i32.const 132)) (i32.const 80))
    (call $drop (local.get $h))
    (call $log (i32.load (i32.const 132)))
    (i32.load (i32.const 132))))
"""


def test_three_separate_inputs_fuse_like_their_composition(tmp_path):
    """A chain top -> middle -> provider given as three files: stdout imported by the top and the
    provider, stderr by the middle, log by the top and the provider; the output's world is that of
    ``wasm-tools compose top -d (wasm-tools compose middle -d prov)`` (compose wires only the main
    component's imports, so the chain is composed in two steps) and it behaves the same."""
    prov = F.build_wit(CHAIN_WIT, "prov", PROV.replace("test:sep/api#greet", "test:chain/api#greet"))
    mid = F.build_wit(CHAIN_WIT, "middle", MIDDLE)
    top = F.build_wit(CHAIN_WIT, "top", TOP)
    comp = F.compose(top, F.compose(mid, prov))
    for name, b in (("prov", prov), ("mid", mid), ("top", top), ("c", comp)):
        (tmp_path / f"{name}.wasm").write_bytes(b)
    out = tmp_path / "f.wasm"
    p = subprocess.run([sys.executable, "-m", "wasmweld", "fuse", *(str(tmp_path / f"{n}.wasm") for n in ("prov", "mid", "top")),
                        "-o", str(out)], capture_output=True, text=True)
    assert p.returncode == 0 and "one component" in p.stderr, p.stderr
    F.wasm_tools("validate", str(out))
    wit = _wit(tmp_path / "c.wasm")
    assert _wit(out) == wit and b"import wasi:cli/stderr@0.2.0;" in wit and b"import log: func(x: u32);" in wit
    names = NAMES + _generated(20)
    expect = _run_all(comp, names, tmp_path, "c")
    assert expect[0][0] == 13 and expect[2].startswith(b"provider: hello, world!\n")
    assert b"top: hello, world!" in expect[2] and expect[3].startswith(b"middle: hello, world!")
    assert _run_all(out.read_bytes(), names, tmp_path, "f") == expect


_A = """(component
  (type (func (param "x" u32)))
  (import "log" (func (type 0)))
  (import "log2" (func (type 0)))
  (type (instance
    (type (record (field "x" u32))) (export "a" (type (eq 0)))
    (type (record (field "x" u32))) (export "b" (type (eq 2)))
    (type (func (param "v" 1))) (export "fa" (func (type 4)))
    (type (func (param "v" 3))) (export "fb" (func (type 5)))))
  (import "my:x/i" (instance (type 1))))"""

_B = """(component
  (type (instance
    (type (record (field "x" u32))) (export "b" (type (eq 0)))
    (type (func (param "v" 1))) (export "fb" (func (type 2)))
    (type (func (param "v" 1) (result string))) (export "fc" (func (type 3)))))
  (import "my:x/i" (instance (type 0)))
  (type (func (param "x" u32)))
  (import "log" (func (type 1))))"""


def test_union_prefix_merges_instance_types_by_export_name():
    """Structurally equal records named differently stay two types (no false clash); exports of
    one name are one export; a function import shared by name is one import."""
    from wasmweld.component import parse_component
    from wasmweld.fuse.union import union_prefix

    a, b = (parse_component(F.wasm_tools("parse", "-", input=x.encode())) for x in (_A, _B))
    u = union_prefix([("A", a, {"log", "log2", "my:x/i"}), ("B", b, {"my:x/i", "log"})])
    data = u.encode()
    F.wasm_tools("validate", "-", input=data)
    assert [im.name.name for im in u.imports] == ["log", "log2", "my:x/i"]
    wit = u.wit()
    for text in ("record a", "record b", "fa: func(v: a);", "fb: func(v: b);", "fc: func(v: b) -> string;"):
        assert text in wit, wit
    # B's fb takes `a`: the same name with another type
    bad = parse_component(F.wasm_tools("parse", "-", input=_B.replace('(export "b" (type (eq 0)))',
                                                                       '(export "a" (type (eq 0)))').encode()))
    with pytest.raises(FuseError, match=r"`my:x/i` is imported by A and B with different types \(`fb`\)"):
        union_prefix([("A", a, {"my:x/i"}), ("B", bad, {"my:x/i"})])
    # only the kept imports (and what they use) are copied
    u = union_prefix([("A", a, {"log2"}), ("B", b, {"log"})])
    assert [im.name.name for im in u.imports] == ["log2", "log"]
    assert [type(t).__name__ for t in u.types] == ["FuncType", "FuncType"]      # my:x/i left out


def test_union_prefix_compares_world_types_by_structure():
    """World-level named types two inputs import (``(import "outer" (type (eq ..)))``, a record
    holding a list of tuples: each input's anonymous types are written apart) are one import when
    their structure is the same, a clash otherwise."""
    from wasmweld.component import parse_component
    from wasmweld.fuse.union import union_prefix

    def comp(field: str) -> Component:
        return parse_component(F.wasm_tools("parse", "-", input=f"""(component
          (type (tuple u32 string))
          (type (list 0))
          (type (record (field "{field}" 1) (field "s" string)))
          (import "outer" (type (eq 2)))
          (type (func (param "o" 3)))
          (import "use" (func (type 4))))""".encode()))

    u = union_prefix([("A", comp("x"), {"outer", "use"}), ("B", comp("x"), {"outer", "use"})])
    F.wasm_tools("validate", "-", input=u.encode())
    assert [im.name.name for im in u.imports] == ["outer", "use"]
    with pytest.raises(FuseError, match="`outer` is imported by A and B with different types"):
        union_prefix([("A", comp("x"), {"outer", "use"}), ("B", comp("y"), {"outer", "use"})])


def test_union_prefix_refuses_an_interface_whose_union_needs_a_later_import():
    """``x:y/c`` uses ``x:y/a``'s resource in A and ``x:y/b``'s in B: its union would refer to B's
    import of ``x:y/b``, which comes after it (compose sorts such imports; fuse refuses, naming both)."""
    from wasmweld.component import parse_component
    from wasmweld.fuse.union import union_prefix

    def comp(iface: str, res: str, func: str) -> Component:
        return parse_component(F.wasm_tools("parse", "-", input=f"""(component
          (type (instance (export "{res}" (type (sub resource)))))
          (import "x:y/{iface}" (instance (type 0)))
          (alias export 0 "{res}" (type))
          (type (instance (alias outer 1 1 (type)) (export "{res}" (type (eq 0)))
                          (type (own 1)) (type (func (result 2))) (export "{func}" (func (type 3)))))
          (import "x:y/c" (instance (type 2))))""".encode()))

    a, b = comp("a", "r", "f"), comp("b", "s", "g")
    F.wasm_tools("validate", "-", input=union_prefix([("A", a, {"x:y/a", "x:y/c"})]).encode())
    with pytest.raises(FuseError, match="`x:y/c`: the union of its types in A and B uses an import that comes after it"):
        union_prefix([("A", a, {"x:y/a", "x:y/c"}), ("B", b, {"x:y/b", "x:y/c"})])
