"""Compositions for the fuse tests, built from WIT + generated WAT with the wasm-tools CLI.

``provider`` exports interface ``test:fuse/api`` whose functions echo their argument (one per value
family); ``middle`` imports ``api`` and exports ``mid`` (the same functions, forwarded); ``consumer``
imports ``api`` (or ``mid``) and exports ``fwd``. Echoes store the flat arguments in the canonical
layout themselves (a small independent generator below), so the composition's results checked
against the inputs under wasmtime validate the fixtures.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import hashlib

from component_build import WASM_TOOLS, wasm_tools
from helpers import cached_build

from wasmweld.fuse import abi

TYPES_WIT = """
  record point { tag: u8, x: s32, y: f64, name: string }
  variant shape { empty, circle(f32), rect(point), label(string), wide(u64) }
  enum color { red, green, blue }
  flags perms { a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11 }
  flags small { r, w, x }
"""

#: function name -> WIT type of its parameter and result
FUNCS = {
    "echo-u8": "u8", "echo-s8": "s8", "echo-u16": "u16", "echo-s16": "s16", "echo-u32": "u32",
    "echo-s32": "s32", "echo-u64": "u64", "echo-s64": "s64", "echo-f32": "f32", "echo-f64": "f64",
    "echo-bool": "bool", "echo-char": "char", "echo-string": "string", "echo-bytes": "list<u8>",
    "echo-list-u32": "list<u32>", "echo-list-string": "list<string>", "echo-point": "point",
    "echo-points": "list<point>", "echo-shape": "shape", "echo-shapes": "list<shape>", "echo-color": "color",
    "echo-perms": "perms", "echo-small": "small", "echo-opt": "option<string>",
    "echo-res": "result<u32, string>", "echo-tuple": "tuple<u8, string, u64>",
    "echo-nested": "option<result<list<option<u16>>, shape>>",
}

#: functions returning an invalid value (the adapter must trap): name -> (WIT result, provider body)
BAD = {
    "bad-char": ("char", "i32.const 0xD800"),
    "bad-color": ("color", "i32.const 3"),
    "bad-string": ("string", "i32.const 64 i32.const 200 i32.store i32.const 68 i32.const 2 i32.store i32.const 64"),
    "bad-bytes": ("list<u8>", "i32.const 64 i32.const -16 i32.store i32.const 68 i32.const 100 i32.store "
                              "i32.const 64"),
    "bad-align": ("list<u32>", "i32.const 64 i32.const 201 i32.store i32.const 68 i32.const 1 i32.store "
                               "i32.const 64"),
    "bad-shape": ("shape", "i32.const 64 i32.const 9 i32.store8 i32.const 64"),
    # a lone UTF-16 surrogate for a UTF-16 provider ("\0" for a UTF-8 one)
    "bad-utf16": ("string", "i32.const 64 i32.const 204 i32.store i32.const 68 i32.const 1 i32.store i32.const 64"),
}

_POINT = ("record", ("u8", "s32", "f64", "string"))
_SHAPE = ("variant", (None, "f32", _POINT, "string", "u64"))
#: the same types, normalised as wasmweld.fuse.abi does (checked against wasmtime by the tests)
NORM = {
    "u8": "u8", "s8": "s8", "u16": "u16", "s16": "s16", "u32": "u32", "s32": "s32", "u64": "u64", "s64": "s64",
    "f32": "f32", "f64": "f64", "bool": "bool", "char": "char", "string": "string",
    "list<u8>": ("list", "u8"), "list<u32>": ("list", "u32"), "list<string>": ("list", "string"),
    "point": _POINT, "list<point>": ("list", _POINT), "shape": _SHAPE, "list<shape>": ("list", _SHAPE),
    "color": ("variant", (None, None, None)), "perms": ("flags", 12), "small": ("flags", 3),
    "option<string>": ("variant", (None, "string")), "result<u32, string>": ("variant", ("u32", "string")),
    "tuple<u8, string, u64>": ("record", ("u8", "string", "u64")),
    "option<result<list<option<u16>>, shape>>": ("variant", (None, ("variant", (
        ("list", ("variant", (None, "u16"))), _SHAPE)))),
}


def _tree_hash(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\1")
    return h.hexdigest()[:24]


def _cached(key: str, build) -> bytes:
    return cached_build(f"fuse-{key}.wasm", build)


def wit_text() -> str:
    funcs = "".join(f"  {n}: func(x: {t}) -> {t};\n" for n, t in FUNCS.items())
    funcs += "".join(f"  {n}: func() -> {t};\n" for n, (t, _) in BAD.items())
    return (f"package test:fuse;\n\ninterface api {{\n{TYPES_WIT}\n{funcs}}}\n\n"
            f"interface mid {{\n{TYPES_WIT}\n{funcs}}}\n\n"
            f"interface fwd {{\n{TYPES_WIT}\n{funcs}}}\n\n"
            "world provider { export api; }\n"
            "world middle { import api; export mid; }\n"
            "world consumer { import api; export fwd; }\n"
            "world consumer2 { import mid; export fwd; }\n")


_STORE = {"bool": "i32.store8", "u8": "i32.store8", "s8": "i32.store8", "u16": "i32.store16",
          "s16": "i32.store16", "u32": "i32.store", "s32": "i32.store", "char": "i32.store", "u64": "i64.store",
          "s64": "i64.store", "f32": "f32.store", "f64": "f64.store"}
_CONV = {("i32", "f32"): "f32.reinterpret_i32", ("i64", "i32"): "i32.wrap_i64",
         ("i64", "f32"): "i32.wrap_i64 f32.reinterpret_i32", ("i64", "f64"): "f64.reinterpret_i64"}


class _Gen:
    """WAT (flat instructions) storing flat values at ``$ret + offset`` in the canonical layout; a
    value is given as the instructions that push it (``local.get 3``, maybe with a conversion)."""

    def __init__(self) -> None:
        self.n = 0

    def store(self, t, vals: list[str], off: int) -> str:
        if isinstance(t, str):
            if t == "string":
                return self.store(("list", "u8"), vals, off)
            return f"local.get $ret {vals[0]} {_STORE[t]} offset={off}\n"
        k = t[0]
        if k == "list":
            return (f"local.get $ret {vals[0]} i32.store offset={off}\n"
                    f"local.get $ret {vals[1]} i32.store offset={off + 4}\n")
        if k == "record":
            out, at = "", 0
            for f, fo in zip(t[1], abi.field_offsets(t)):
                w = len(abi.flatten(f))
                out += self.store(f, vals[at:at + w], off + fo)
                at += w
            return out
        if k == "flags":
            op = {1: "i32.store8", 2: "i32.store16", 4: "i32.store"}[abi.size(t)]
            return f"local.get $ret {vals[0]} {op} offset={off}\n"
        return self._variant(t, vals, off)

    def _variant(self, t, vals, off) -> str:
        self.n += 1
        lab = f"$v{self.n}"
        cases = t[1]
        joined = abi.flatten(t)[1:]
        op = {1: "i32.store8", 2: "i32.store16", 4: "i32.store"}[abi.disc_size(len(cases))]
        out = f"local.get $ret {vals[0]} {op} offset={off}\nblock {lab}\n"
        for i in reversed(range(len(cases))):
            out += f"block {lab}c{i}\n"
        out += f"{vals[0]} br_table {' '.join(f'{lab}c{i}' for i in range(len(cases)))} {lab}c0\n"
        for c in cases:
            out += "end\n"
            if c is not None:
                cv = [f"{v} {_CONV.get((have, want), '')}".strip()
                      for want, have, v in zip(abi.flatten(c), joined, vals[1:])]
                out += self.store(c, cv, off + abi.payload_offset(t))
            out += f"br {lab}\n"
        return out + "end\n"


def _sig(t):
    fp = abi.flatten(t)
    return fp, fp if len(fp) <= 1 else ["i32"]


def _params(fp) -> str:
    return f"(param {' '.join(fp)})" if fp else ""


def _results(fr) -> str:
    return f"(result {' '.join(fr)})" if fr else ""


ALLOC = """
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $r i32)
    (local.set $r (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get 2))))
    (global.set $bump (i32.add (local.get $r) (local.get 3)))
    (if (i32.gt_u (global.get $bump) (i32.shl (memory.size) (i32.const 16)))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get 3) (i32.const 16)) (i32.const 1)))
                        (i32.const -1)) (then unreachable))))
    (if (local.get 0)   ;; a real realloc: keep the old contents
      (then (memory.copy (local.get $r) (local.get 0)
              (select (local.get 1) (local.get 3) (i32.lt_u (local.get 1) (local.get 3))))))
    (local.get $r))
"""


def provider_wat() -> str:
    """Echo every function; results in memory are written at 64 and cleared by the post-return."""
    g = _Gen()
    out = "(module\n" + ALLOC + '  (data (i32.const 200) "\\c3\\28\\00\\00\\00\\d8")\n'
    for name, (wt, body) in BAD.items():
        fr = _sig(NORM[wt])[1]
        out += f'  (func (export "test:fuse/api#{name}") {_results(fr)} {body})\n'
    for name, wt in FUNCS.items():
        t = NORM[wt]
        fp, fr = _sig(t)
        exp = f"test:fuse/api#{name}"
        if len(fp) <= 1:
            out += f'  (func (export "{exp}") {_params(fp)} {_results(fr)} local.get 0)\n'
            continue
        vals = [f"local.get {i}" for i in range(len(fp))]
        out += (f'  (func (export "{exp}") {_params(fp)} (result i32) (local $ret i32)\n'
                f"    i32.const 64 local.set $ret\n{g.store(t, vals, 0)}    i32.const 64)\n")
        out += (f'  (func (export "cabi_post_{exp}") (param i32)\n'
                f"    (memory.fill (local.get 0) (i32.const 0xAB) (i32.const {abi.size(t)})))\n")
    return out + ")\n"


def forwarder_wat(imp: str, exp: str) -> str:
    """Export ``exp#f`` for each function, calling the import ``imp`` ``f`` (results area at 128)."""
    out = "(module\n"
    for name, wt in FUNCS.items():
        fp = abi.flatten(NORM[wt])
        lp = fp + (["i32"] if len(fp) > 1 else [])
        lr = fp if len(fp) <= 1 else []
        out += f'  (import "{imp}" "{name}" (func ${name} {_params(lp)} {_results(lr)}))\n'
    defs = ""
    for name, (wt, _) in BAD.items():
        fp = abi.flatten(NORM[wt])
        lp, lr = (["i32"], []) if len(fp) > 1 else ([], fp)
        out += f'  (import "{imp}" "{name}" (func ${name} {_params(lp)} {_results(lr)}))\n'
        spill = "i32.const 128" if len(fp) > 1 else ""
        defs += f'  (func (export "{exp}#{name}") {_results(_sig(NORM[wt])[1])} {spill} call ${name} {spill})\n'
    out += ALLOC + defs
    for name, wt in FUNCS.items():
        fp, fr = _sig(NORM[wt])
        gets = " ".join(f"local.get {i}" for i in range(len(fp)))
        spill = " i32.const 128" if len(fp) > 1 else ""
        tail = " i32.const 128" if len(fp) > 1 else ""
        out += (f'  (func (export "{exp}#{name}") {_params(fp)} {_results(fr)}\n'
                f"    {gets}{spill} call ${name}{tail})\n")
    return out + ")\n"


def build(tmp_world: str, wat: str, encoding: str = "utf8") -> bytes:
    """A component of world ``tmp_world`` of the fixture WIT around ``wat`` (strings in ``encoding``:
    utf8, utf16 or compact-utf16, i.e. latin1+utf16)."""
    return build_wit(wit_text(), tmp_world, wat, encoding)


def compose(main: bytes, *deps: bytes) -> bytes:
    """``wasm-tools compose main -d dep ...``."""
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, b in enumerate((main, *deps)):
            p = Path(d) / f"c{i}.wasm"
            p.write_bytes(b)
            paths.append(str(p))
        args = ["compose", paths[0]]
        for p in paths[1:]:
            args += ["-d", p]
        args += ["-o", str(Path(d) / "out.wasm")]
        wasm_tools(*args)
        return (Path(d) / "out.wasm").read_bytes()


def pair(encoding: str = "utf8") -> bytes:
    """The consumer (UTF-8) and the provider (strings in ``encoding``)."""
    prov = build("provider", provider_wat(), encoding)
    cons = build("consumer", forwarder_wat("test:fuse/api", "test:fuse/fwd"))
    return compose(cons, prov)


def chain() -> bytes:
    prov = build("provider", provider_wat())
    mid = build("middle", forwarder_wat("test:fuse/api", "test:fuse/mid"))
    cons = build("consumer2", forwarder_wat("test:fuse/mid", "test:fuse/fwd"))
    inner = compose(mid, prov)
    return compose(cons, inner)


def wrap_core(core: bytes, world: str = "consumer", wit: str | None = None) -> bytes:
    """The fused core module made a component again by wit-component (the reference tool), so that
    wasmtime's component runtime drives it exactly as it drives the composition."""
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "w.wit").write_text(wit or wit_text())
        emb = wasm_tools("component", "embed", d, "-w", world, "-", input=core)
        return wasm_tools("component", "new", "-", input=emb)


# -- resources: a provider of `counter` (destructor counted) and a consumer that creates, lends,
# moves and drops them

RES_WIT = """package test:res;

interface res {
  resource counter {
    constructor(start: u32);
    get: func() -> u32;
  }
  make: func(start: u32) -> counter;
  peek: func(c: borrow<counter>) -> u32;
  consume: func(c: counter) -> u32;
  dropped: func() -> u32;
}

interface mid {
  use res.{counter};
  new-counter: func(start: u32) -> counter;
  get: func(c: borrow<counter>) -> u32;
  make: func(start: u32) -> counter;
  peek: func(c: borrow<counter>) -> u32;
  consume: func(c: counter) -> u32;
  dropped: func() -> u32;
}

world rprov { export res; }
world rmid { import res; export mid; }
world rcons {
  import res;
  export run: func(n: u32) -> u32;
  export dropped: func() -> u32;
  export double-drop: func();
  export use-after-drop: func() -> u32;
}
world rcons2 {
  import mid;
  export run: func(n: u32) -> u32;
  export dropped: func() -> u32;
  export double-drop: func();
  export use-after-drop: func() -> u32;
}
"""

RES_PROVIDER = """(module
  (import "[export]test:res/res" "[resource-new]counter" (func $new (param i32) (result i32)))
  (import "[export]test:res/res" "[resource-rep]counter" (func $rep (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $dropped (mut i32) (i32.const 0))
  (global $next (mut i32) (i32.const 1024))
  ;; a counter is 4 bytes of memory holding its value; rep = its address
  (func $alloc (param $v i32) (result i32) (local $p i32)
    (local.set $p (global.get $next)) (global.set $next (i32.add (local.get $p) (i32.const 4)))
    (i32.store (local.get $p) (local.get $v)) (local.get $p))
  (func (export "test:res/res#[constructor]counter") (param i32) (result i32)
    (call $new (call $alloc (local.get 0))))
  (func (export "test:res/res#[method]counter.get") (param i32) (result i32)
    (i32.load (local.get 0)))
  (func (export "test:res/res#make") (param i32) (result i32)
    (call $new (call $alloc (i32.mul (local.get 0) (i32.const 10)))))
  (func (export "test:res/res#peek") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "test:res/res#consume") (param i32) (result i32)
    (i32.add (i32.load (call $rep (local.get 0))) (i32.const 1000)))
  (func (export "test:res/res#dropped") (result i32) (global.get $dropped))
  (func (export "test:res/res#[dtor]counter") (param i32)
    (global.set $dropped (i32.add (global.get $dropped) (i32.const 1))))
)
"""

RES_CONSUMER = """(module
  (import "test:res/res" "[constructor]counter" (func $ctor (param i32) (result i32)))
  (import "test:res/res" "[method]counter.get" (func $get (param i32) (result i32)))
  (import "test:res/res" "make" (func $make (param i32) (result i32)))
  (import "test:res/res" "peek" (func $peek (param i32) (result i32)))
  (import "test:res/res" "consume" (func $consume (param i32) (result i32)))
  (import "test:res/res" "dropped" (func $dropped (result i32)))
  (import "test:res/res" "[resource-drop]counter" (func $drop (param i32)))
  (memory (export "memory") 1)
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $sum i32) (local $h i32)
    (block $b (loop $l (br_if $b (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.add (i32.const 256) (i32.shl (local.get $i) (i32.const 2))) (call $ctor (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)))
    (local.set $i (i32.const 0))
    (block $b (loop $l (br_if $b (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $sum (i32.add (local.get $sum)
        (call $get (i32.load (i32.add (i32.const 256) (i32.shl (local.get $i) (i32.const 2)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)))
    (local.set $h (call $make (i32.const 7)))
    (local.set $sum (i32.add (local.get $sum) (call $peek (local.get $h))))
    (local.set $sum (i32.add (local.get $sum) (call $consume (local.get $h))))
    (local.set $i (i32.const 0))
    (block $b (loop $l (br_if $b (i32.ge_u (local.get $i) (local.get $n)))
      (call $drop (i32.load (i32.add (i32.const 256) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)))
    (local.get $sum))
  (func (export "dropped") (result i32) (call $dropped))
  (func (export "double-drop") (local $h i32)
    (local.set $h (call $ctor (i32.const 1))) (call $drop (local.get $h)) (call $drop (local.get $h)))
  (func (export "use-after-drop") (result i32) (local $h i32)
    (local.set $h (call $ctor (i32.const 1))) (call $drop (local.get $h)) (call $get (local.get $h)))
)
"""


RES_MIDDLE = """(module
  (import "test:res/res" "[constructor]counter" (func $ctor (param i32) (result i32)))
  (import "test:res/res" "[method]counter.get" (func $get (param i32) (result i32)))
  (import "test:res/res" "make" (func $make (param i32) (result i32)))
  (import "test:res/res" "peek" (func $peek (param i32) (result i32)))
  (import "test:res/res" "consume" (func $consume (param i32) (result i32)))
  (import "test:res/res" "dropped" (func $dropped (result i32)))
  (import "test:res/res" "[resource-drop]counter" (func $drop (param i32)))
  (memory (export "memory") 1)
  ;; borrows received are dropped before returning, as the canonical ABI requires
  (func (export "test:res/mid#new-counter") (param i32) (result i32) (call $ctor (local.get 0)))
  (func (export "test:res/mid#get") (param i32) (result i32) (local $r i32)
    (local.set $r (call $get (local.get 0))) (call $drop (local.get 0)) (local.get $r))
  (func (export "test:res/mid#make") (param i32) (result i32) (call $make (local.get 0)))
  (func (export "test:res/mid#peek") (param i32) (result i32) (local $r i32)
    (local.set $r (call $peek (local.get 0))) (call $drop (local.get 0)) (local.get $r))
  (func (export "test:res/mid#consume") (param i32) (result i32) (call $consume (local.get 0)))
  (func (export "test:res/mid#dropped") (result i32) (call $dropped))
)
"""

#: the consumer calling the middle's functions instead of the provider's
RES_CONSUMER2 = RES_CONSUMER
for _f in ("make", "peek", "consume", "dropped"):
    RES_CONSUMER2 = RES_CONSUMER2.replace(f'"test:res/res" "{_f}"', f'"test:res/mid" "{_f}"')
RES_CONSUMER2 = RES_CONSUMER2.replace('"test:res/res" "[constructor]counter"', '"test:res/mid" "new-counter"')
RES_CONSUMER2 = RES_CONSUMER2.replace('"test:res/res" "[method]counter.get"', '"test:res/mid" "get"')


def _build_res(world: str, wat: str) -> bytes:
    key = _tree_hash("fuse-res", RES_WIT, world, wat, WASM_TOOLS.stat().st_size)

    def make() -> bytes:
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "w.wit").write_text(RES_WIT)
            core = wasm_tools("parse", "-", input=wat.encode())
            emb = wasm_tools("component", "embed", d, "-w", world, "-", input=core)
            return wasm_tools("component", "new", "-", input=emb)
    return _cached(key, make)


def resources_pair() -> bytes:
    return compose(_build_res("rcons", RES_CONSUMER), _build_res("rprov", RES_PROVIDER))


def resources_chain(drop_borrows: bool = True) -> list[tuple[str, bytes]]:
    """Provider, middle (re-exports the functions; drops the borrows it receives unless told not
    to) and consumer, as separate components (``wasm-tools compose`` cannot share the resource type
    between two dependencies; fuse wires them by interface name)."""
    mid = RES_MIDDLE if drop_borrows else RES_MIDDLE.replace("(call $drop (local.get 0))", "")
    return [("provider", _build_res("rprov", RES_PROVIDER)), ("middle", _build_res("rmid", mid)),
            ("consumer", _build_res("rcons2", RES_CONSUMER2))]


# -- WASI 0.2: a provider and a consumer that both print through wasi:cli/stdout (the imports the
# fused world keeps); the WIT declares the subset of wasi:io / wasi:cli they use

WASI_WIT = """package test:wasi;

interface api {
  greet: func(name: string) -> string;
}

world prov { import wasi:cli/stdout@0.2.0; export api; }
world cons { import wasi:cli/stdout@0.2.0; import api; export run: func(name: string); }

package wasi:io@0.2.0 {
  interface error { resource error; }
  interface streams {
    use error.{error};
    resource output-stream {
      blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>;
    }
    variant stream-error { last-operation-failed(error), closed }
  }
}

package wasi:cli@0.2.0 {
  interface stdout {
    use wasi:io/streams@0.2.0.{output-stream};
    get-stdout: func() -> output-stream;
  }
}
"""

_WASI_IMPORTS = """
  (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $get (result i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
    (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop (param i32)))
"""

_PRINT = """
  (func $print (param $p i32) (param $n i32)
    (local $h i32)
    (local.set $h (call $get))
    (call $write (local.get $h) (local.get $p) (local.get $n) (i32.const 80))
    (if (i32.load8_u (i32.const 80)) (then unreachable))
    (call $drop (local.get $h)))
"""

WASI_PROVIDER = "(module" + _WASI_IMPORTS + ALLOC + _PRINT + """
  (data (i32.const 16) "hello, ")
  (data (i32.const 32) "provider: ")
  ;; greet(name) prints "provider: hello, NAME!\\n" and returns "hello, NAME!"
  (func (export "test:wasi/api#greet") (param $p i32) (param $n i32) (result i32)
    (local $q i32)
    (local.set $q (call 3 (i32.const 0) (i32.const 0) (i32.const 1) (i32.add (local.get $n) (i32.const 9))))
    (memory.copy (local.get $q) (i32.const 16) (i32.const 7))
    (memory.copy (i32.add (local.get $q) (i32.const 7)) (local.get $p) (local.get $n))
    (i32.store8 (i32.add (i32.add (local.get $q) (i32.const 7)) (local.get $n)) (i32.const 33))
    (i32.store8 (i32.add (i32.add (local.get $q) (i32.const 8)) (local.get $n)) (i32.const 10))
    (call $print (i32.const 32) (i32.const 10))
    (call $print (local.get $q) (i32.add (local.get $n) (i32.const 9)))
    (i32.store (i32.const 64) (local.get $q))
    (i32.store (i32.const 68) (i32.add (local.get $n) (i32.const 8)))
    (i32.const 64)))
"""

WASI_CONSUMER = ("(module" + _WASI_IMPORTS + """
  (import "test:wasi/api" "greet" (func $greet (param i32 i32 i32)))""" + ALLOC + _PRINT + """
  (data (i32.const 16) "consumer: start\\n")
  (data (i32.const 40) "consumer got: ")
  (data (i32.const 60) "\\n")
  (func (export "run") (param $p i32) (param $n i32)
    (call $print (i32.const 16) (i32.const 16))
    (call $greet (local.get $p) (local.get $n) (i32.const 128))
    (call $print (i32.const 40) (i32.const 14))
    (call $print (i32.load (i32.const 128)) (i32.load (i32.const 132)))
    (call $print (i32.const 60) (i32.const 1))))
""")


def build_wit(wit: str, world: str, wat: str, encoding: str = "utf8") -> bytes:
    """A component of ``world`` of ``wit`` around the core module ``wat`` (cached)."""
    key = _tree_hash("fuse-wit", wit, world, wat, encoding, WASM_TOOLS.stat().st_size)

    def make() -> bytes:
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "w.wit").write_text(wit)
            core = wasm_tools("parse", "-", input=wat.encode())
            emb = wasm_tools("component", "embed", d, "-w", world, "--encoding", encoding, "-", input=core)
            return wasm_tools("component", "new", "-", input=emb)
    return _cached(key, make)


def wasi_pair() -> bytes:
    """The WASI consumer composed with the WASI provider (both print to stdout)."""
    return compose(build_wit(WASI_WIT, "cons", WASI_CONSUMER), build_wit(WASI_WIT, "prov", WASI_PROVIDER))


# -- JS: a provider and a consumer built by componentize-js (StarlingMonkey, 10+ MB each)

JS_WIT = """package test:js;

interface api {
  record point { x: s32, y: s32, label: string }
  greet: func(name: string) -> string;
  sum: func(xs: list<u32>) -> u64;
  flip: func(p: point) -> point;
  pick: func(x: option<string>) -> result<string, u32>;
}

world prov { export api; }
world cons {
  import api;
  use api.{point};
  export run: func(name: string) -> string;
  export total: func(xs: list<u32>) -> u64;
  export mirror: func(p: point) -> point;
  export choose: func(x: option<string>) -> result<string, u32>;
}
"""

JS_PROVIDER = """
export const api = {
  greet(name) { return "hello, " + name + "!"; },
  sum(xs) { let t = 0n; for (const x of xs) t += BigInt(x); return t; },
  flip(p) { return { x: p.y, y: p.x, label: p.label.split("").reverse().join("") }; },
  pick(x) { if (x === undefined || x === null) throw 7; return x + x; },
};
"""

JS_CONSUMER = """
import { greet, sum, flip, pick } from 'test:js/api';
export function run(name) { return "[" + greet(name) + "]"; }
export function total(xs) { return sum(xs) + 1n; }
export function mirror(p) { const q = flip(p); return { x: q.x + 1, y: q.y, label: q.label + "." }; }
export function choose(x) { return pick(x); }
"""


def js_pair() -> bytes:
    """The JS consumer composed with the JS provider (``wasm-tools compose``)."""
    from component_build import build_js_component

    return compose(build_js_component(JS_CONSUMER, JS_WIT, "cons"), build_js_component(JS_PROVIDER, JS_WIT, "prov"))


# -- C: a provider and a consumer in C (wasi-libc reactor, printf to stdout through the WASI
# preview-1 adapter), canonical-ABI exports and imports written by hand (tests/fixtures/fuse/c_*)

C_DIR = Path(__file__).parent / "fixtures" / "fuse"


def c_pair() -> bytes:
    """The C consumer (world ``ccons``) composed with the C provider (``cprov``)."""
    from component_build import build_c_component, jco_adapter

    adapter = jco_adapter()
    prov = build_c_component(C_DIR / "c_provider.c", C_DIR, "cprov", adapter)
    cons = build_c_component(C_DIR / "c_consumer.c", C_DIR, "ccons", adapter)
    return compose(cons, prov)
