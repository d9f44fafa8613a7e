"""dylink.0 (typed custom section) and World.dlopen of shared-everything side modules (issue 6).

C fixtures in tests/fixtures/world/: a main module that owns memory and table
(dl_main.c) and two side modules built with clang -fPIC + wasm-ld -shared
(dl_side1.c, dl_side2.c; the first has a constructor that counts itself in
the main's data, the second calls the first and reads the main's data). The corpus part loads emscripten's tree-sitter language side modules
into web-tree-sitter.wasm and parses a snippet.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import FIXTURES, build_cache_dir, clang_env, compile_c
from wasmweld.custom.dylink import (
    EXPORT_INFO, IMPORT_INFO, MEM_INFO, NEEDED, RUNTIME_PATH, SYMBOL_BINDING_WEAK, SYMBOL_TLS, Dylink, ExportInfo,
    ImportInfo, find_dylink, iter_sections,
)
from wasmweld.errors import DecodeError, EncodeError, ExecutionError, LinkError
from wasmweld.runtime.dylink_loader import LibHandle, export_all_funcs, scan_module
from wasmweld.runtime.world import World, WasiOptions

W = FIXTURES / "world"


# ------------------------------------------------------------------ dylink.0 section


def leb(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def name(s: str) -> bytes:
    return leb(len(s.encode())) + s.encode()


def sub(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + leb(len(payload)) + payload


FULL = (sub(MEM_INFO, leb(1234) + leb(3) + leb(5) + leb(1))
        + sub(NEEDED, leb(2) + name("libfoo.so") + name("libbär.so"))
        + sub(EXPORT_INFO, leb(1) + name("tls_var") + leb(SYMBOL_TLS))
        + sub(IMPORT_INFO, leb(2) + name("env") + name("maybe") + leb(SYMBOL_BINDING_WEAK)
              + name("GOT.mem") + name("x") + leb(0))
        + sub(RUNTIME_PATH, leb(1) + name("$ORIGIN/lib"))
        + sub(0x42, b"\x01\x02\x03"))


def test_dylink_decode_all_subsections():
    d = Dylink.decode(FULL, 100)
    assert (d.mem_size, d.mem_align, d.table_size, d.table_align) == (1234, 3, 5, 1)
    assert d.mem_alignment == 8 and d.table_alignment == 2
    assert d.needed == ["libfoo.so", "libbär.so"]
    assert d.export_info == [ExportInfo("tls_var", SYMBOL_TLS)]
    assert d.import_info == [ImportInfo("env", "maybe", SYMBOL_BINDING_WEAK), ImportInfo("GOT.mem", "x", 0)]
    assert d.import_flags("env", "maybe") == SYMBOL_BINDING_WEAK and d.import_flags("env", "nope") == 0
    assert d.export_flags("tls_var") == SYMBOL_TLS
    assert d.runtime_path == ["$ORIGIN/lib"]
    assert d.unknown == [(0x42, b"\x01\x02\x03")]
    assert d.section_name == "dylink.0" and not d.legacy
    assert d.encode() == FULL


def test_dylink_encode_is_byte_identical_even_with_overlong_lebs():
    odd = sub(MEM_INFO, b"\x80\x80\x00" + b"\x82\x00" + b"\x81\x80\x80\x80\x00" + b"\x00") + \
        bytes([NEEDED]) + b"\x85\x80\x00" + leb(1) + name("abc")
    d = Dylink.decode(odd)
    assert (d.mem_size, d.mem_align, d.table_size, d.needed) == (0, 2, 1, ["abc"])
    assert d.encode() == odd
    # a change re-encodes only that subsection (canonically); the rest stays as it was
    d.table_size = 9
    out = d.encode()
    assert out.endswith(odd[odd.index(bytes([NEEDED]) + b"\x85"):])
    assert Dylink.decode(out).table_size == 9


def test_dylink_edit_and_new_values():
    d = Dylink.decode(FULL)
    d.needed.append("libz.so")
    d.unknown.clear()
    again = Dylink.decode(d.encode())
    assert again == d and again.needed[-1] == "libz.so" and again.unknown == []
    fresh = Dylink(mem_size=16, mem_align=4, needed=["a"])
    assert Dylink.decode(fresh.encode()) == fresh
    assert Dylink().encode() == sub(MEM_INFO, b"\x00\x00\x00\x00")


def test_legacy_dylink_section():
    raw = leb(9428) + leb(4) + leb(1) + leb(0) + leb(1) + name("libc.so")
    d = Dylink.decode(raw, legacy=True)
    assert d.legacy and d.section_name == "dylink"
    assert (d.mem_size, d.mem_align, d.table_size, d.needed) == (9428, 4, 1, ["libc.so"])
    assert d.encode() == raw
    d.mem_size = 1
    assert Dylink.decode(d.encode(), legacy=True).mem_size == 1
    d.export_info.append(ExportInfo("x"))
    with pytest.raises(EncodeError):
        d.encode()


@pytest.mark.parametrize("data, offset, what", [
    (bytes([MEM_INFO, 10, 1, 2]), 0, "runs past the end"),
    (bytes([MEM_INFO, 4, 1, 2, 3]), 0, "runs past the end"),
    (bytes([MEM_INFO, 3, 1, 2, 0x80]), 4, "unexpected end"),
    (sub(MEM_INFO, b"\x01\x02\x03\x04\x05"), 6, "unread bytes"),
    (sub(NEEDED, leb(1000) + b"ab"), 2, "count 1000"),
    (sub(NEEDED, leb(1) + leb(5) + b"ab"), 3, "runs past the end"),
    (sub(NEEDED, leb(1) + leb(2) + b"\xff\xfe"), 4, "not valid UTF-8"),
    (sub(MEM_INFO, b"\xff\xff\xff\xff\x7f\x00\x00\x00"), 2, "does not fit in u32"),
    (sub(MEM_INFO, b"\x00" * 4) + sub(MEM_INFO, b"\x00" * 4), 6, "duplicate"),
    (bytes([MEM_INFO]), 1, "unexpected end"),
])
def test_malformed_dylink_raises_decode_error_with_absolute_offset(data, offset, what):
    base = 0x200
    with pytest.raises(DecodeError, match=what) as ei:
        Dylink.decode(data, base)
    assert ei.value.offset == base + offset


def test_malformed_legacy_dylink():
    with pytest.raises(DecodeError, match="trailing") as ei:
        Dylink.decode(leb(1) + leb(2) + leb(3) + leb(4) + leb(0) + b"zz", 7, legacy=True)
    assert ei.value.offset == 7 + 5


subsets = st.builds(
    Dylink,
    mem_size=st.integers(0, 2**32 - 1), mem_align=st.integers(0, 31), table_size=st.integers(0, 2**32 - 1),
    table_align=st.integers(0, 31), needed=st.lists(st.text(max_size=8), max_size=3),
    export_info=st.lists(st.builds(ExportInfo, st.text(max_size=6), st.integers(0, 0x3FF)), max_size=3),
    import_info=st.lists(st.builds(ImportInfo, st.text(max_size=4), st.text(max_size=4), st.integers(0, 3)),
                         max_size=3),
    runtime_path=st.lists(st.text(max_size=8), max_size=2),
    unknown=st.lists(st.tuples(st.integers(6, 255), st.binary(max_size=8)), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(subsets)
def test_dylink_roundtrip_property(d):
    enc = d.encode()
    back = Dylink.decode(enc)
    assert back == d
    assert back.encode() == enc


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_dylink_garbage_never_escapes(data):
    try:
        d = Dylink.decode(data, 0)
    except DecodeError as e:
        assert e.offset is not None and 0 <= e.offset <= len(data)
    else:
        assert d.encode() == data


def test_find_dylink_in_modules():
    from wasmweld.runtime.engine import wat2wasm

    assert find_dylink(wat2wasm("(module)")) is None
    sec = b"\x00" + leb(len(name("dylink.0")) + len(FULL)) + name("dylink.0") + FULL
    mod = b"\0asm\x01\0\0\0" + sec
    d = find_dylink(mod)
    assert d is not None and d.mem_size == 1234
    bad = b"\0asm\x01\0\0\0" + b"\x00" + leb(len(name("dylink.0")) + 3) + name("dylink.0") + b"\x01\x09\x00"
    with pytest.raises(DecodeError, match="dylink.0 section") as ei:
        find_dylink(bad)
    assert ei.value.offset == 8 + 2 + 9
    assert [s[0] for s in iter_sections(mod)] == [0]


# ------------------------------------------------------------------ building the C fixtures


def build_side(src: Path) -> bytes:
    """A side module: clang -fPIC (emscripten triple: clang 14's wasm32 default assumes DSO-local
    symbols and refuses -shared relocations) + wasm-ld --experimental-pic -shared, no libc."""
    clang = shutil.which("clang") or shutil.which("clang-14")
    if clang is None:
        pytest.fail("clang not found: run `bash ../shared/peers/setup.sh` (make test does)", pytrace=False)
    argv = [clang, "--target=wasm32-unknown-emscripten", "-O2", "-fPIC", "-fvisibility=default", "-nostdlib",
            "-Wl,--experimental-pic", "-Wl,-shared"]
    version = subprocess.run([clang, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256((version + repr(argv[1:])).encode() + src.read_bytes()).hexdigest()[:24]
    cached = build_cache_dir() / f"side-{key}.wasm"
    if not cached.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "side.wasm"
            proc = subprocess.run([*argv, str(src), "-o", str(out)], capture_output=True, text=True,
                                  env=clang_env())
            assert proc.returncode == 0, proc.stderr
            tmpc = cached.with_name(cached.name + f".{Path(tmp).name}")
            tmpc.write_bytes(out.read_bytes())
            tmpc.replace(cached)
    return cached.read_bytes()


@pytest.fixture(scope="module")
def dl_modules(tmp_path_factory):
    main = compile_c(W / "dl_main.c", target="wasm32", flags=[
        "-mmutable-globals", "-Wl,--export-dynamic", "-Wl,--export-table", "-Wl,--growable-table",
        "-Wl,--export=__heap_base", "-Wl,--export=__stack_pointer"])
    d = tmp_path_factory.mktemp("dl")
    paths = {"main": d / "dl_main.wasm", "side1": d / "side1.wasm", "side2": d / "side2.wasm"}
    paths["main"].write_bytes(main)
    paths["side1"].write_bytes(build_side(W / "dl_side1.c"))
    paths["side2"].write_bytes(build_side(W / "dl_side2.c"))
    return paths


def test_side_modules_carry_dylink_and_got_imports(dl_modules):
    s1 = dl_modules["side1"].read_bytes()
    d = find_dylink(s1)
    assert d is not None and d.mem_size > 0 and d.table_size >= 1
    scan = scan_module(s1)
    assert {e.name for e in scan.exports} >= {"side1_add", "side1_apply", "side1_data", "side1_ops"}
    assert find_dylink(dl_modules["main"].read_bytes()) is None


# ------------------------------------------------------------------ dlopen with clang-built modules


def test_dlopen_main_and_two_side_modules(dl_modules):
    w = World()
    w.add("main", dl_modules["main"])
    h1 = w.dlopen(dl_modules["side1"])
    assert isinstance(h1, LibHandle) and h1.name == "side1"
    assert h1.memory_base >= w.exports("main")["__heap_base"].value  # from the main's malloc
    assert h1.memory_base % find_dylink(dl_modules["side1"].read_bytes()).mem_alignment == 0
    mem = w.memory("main")
    # weights[3] == 4 lives in side1's data at its __memory_base
    assert h1.sym("side1_add")(1, 2) == 7
    # side1_ops = {inc, main_twice}: function pointers relocated into the shared table
    assert h1.sym("side1_apply")(0, 10) == 11
    counter_addr = w.exports("main")["main_counter"].value
    assert mem.read_i32(counter_addr) == 42
    assert h1.sym("side1_apply")(1, 10) == 20  # main_twice through GOT.func -> main_counter 43
    assert mem.read_i32(counter_addr) == 43
    # a pointer into its own data, relocated
    assert "".join(chr(h1.sym("side1_name_char")(i)) for i in range(8)) == "side-one"
    # its data symbol: absolute address = __memory_base + exported offset
    assert mem.read_i32(h1.sym("side1_data")) == 7
    # a function pointer from the side module called by the main through the shared table
    inc_ptr = h1.sym("side1_get_inc")()
    table = w.exports("main")["__indirect_function_table"]
    assert table[inc_ptr](41) == 42 and w.invoke("main", "main_call", inc_ptr, 1) == 2

    h2 = w.dlopen(dl_modules["side2"], name="two")
    # side1_add(5, main_counter=43) = 5 + 43 + 4; + main_twice(side1_data=7) = 14
    assert h2.sym("side2_compute")(5) == 66
    assert mem.read_i32(counter_addr) == 44
    assert h2.sym("side2_counter_addr")() == counter_addr
    assert h2.sym("side2_via_main")(7) == 21  # its static function, called by main via the table
    sp = w.exports("main")["__stack_pointer"]
    before = sp.value
    assert h2.sym("side2_stack_sum")(3) == sum(i * 3 for i in range(32))
    assert sp.value == before  # the shared stack pointer is restored
    # symbols are World modules too
    assert w.invoke("two", "side2_compute", 0) == 0 + 44 + 4 + 14
    assert w.dynamic_linker.symbol("side1_data") == h1.sym("side1_data")
    assert w.dynamic_linker.symbol("side2_compute")(1) == 1 + 45 + 4 + 14


def test_dlopen_runs_side_module_constructors_once(dl_modules, tmp_path):
    """side1's __attribute__((constructor)) runs exactly once per load, after the data relocations."""
    side1 = dl_modules["side1"].read_bytes()
    exports = {e.name for e in scan_module(side1).exports}
    # (wasm-ld 14 applies the data relocations at the start of __wasm_call_ctors; later ones export
    # __wasm_apply_data_relocs too, and the loader calls it first)
    assert {"__wasm_call_ctors", "side1_ctor_value"} <= exports
    w = World()
    w.add("main", dl_modules["main"])
    runs_addr = w.exports("main")["main_ctor_runs"].value
    mem = w.memory("main")
    assert mem.read_i32(runs_addr) == 0
    h1 = w.dlopen(dl_modules["side1"])
    # the constructor set its static from the relocated side1_name ("side-one"): 's' == 115, not
    # 115115 (run twice) and not whatever an unrelocated pointer reads; and bumped the main's counter
    assert h1.sym("side1_ctor_value")() == ord("s")
    assert mem.read_i32(runs_addr) == 1
    # calling into the library, or loading another one that uses it, does not run it again
    assert h1.sym("side1_add")(1, 2) == 7
    h2 = w.dlopen(dl_modules["side2"])
    assert h2.sym("side2_compute")(5) == 5 + 42 + 4 + 14
    assert mem.read_i32(runs_addr) == 1 and h1.sym("side1_ctor_value")() == ord("s")
    # loaded as a NEEDED library of another side module: also once
    (tmp_path / "side1.wasm").write_bytes(side1)
    (tmp_path / "app.wasm").write_bytes(with_needed(dl_modules["side2"].read_bytes(), ["side1.wasm"]))
    w2 = World()
    w2.add("main", dl_modules["main"])
    w2.dlopen(tmp_path / "app.wasm")
    assert w2.modules == ["main", "side1", "app"]
    assert w2.memory("main").read_i32(w2.exports("main")["main_ctor_runs"].value) == 1
    assert w2.invoke("side1", "side1_ctor_value") == ord("s")


def test_missing_symbol_is_a_link_error_then_lazy_binding(dl_modules):
    w = World()
    w.add("main", dl_modules["main"])
    with pytest.raises(LinkError) as ei:
        w.dlopen(dl_modules["side2"])  # needs side1's symbols, not loaded yet
    msg = str(ei.value)
    assert "side module 'side2'" in msg and ("side1_data" in msg or "side1_add" in msg)
    assert "side2" not in w
    # lazily bound: loads, but calling into the missing library traps until it is loaded
    h2 = w.dlopen(dl_modules["side2"], allow_undefined=True)
    with pytest.raises(ExecutionError, match="not loaded yet|uninitialized"):
        h2.sym("side2_compute")(5)
    w.dlopen(dl_modules["side1"])
    # GOT.mem.side1_data (0 until now) and the trampoline slot for side1_add are filled:
    # side1_add(5, main_counter=42) + main_twice(side1_data=7)
    assert h2.sym("side2_compute")(5) == 5 + 42 + 4 + 14
    assert w.memory("main").read_i32(w.exports("main")["main_counter"].value) == 43


def test_malformed_dylink_side_module_is_refused_and_world_stays_usable(dl_modules):
    data = bytearray(dl_modules["side1"].read_bytes())
    (sid, start, end, nm) = next(iter_sections(bytes(data)))
    assert nm == "dylink.0"
    data[start + 1] = 0x7F  # the MEM_INFO subsection's size now runs past the section
    w = World()
    w.add("main", dl_modules["main"])
    with pytest.raises(DecodeError) as ei:
        w.dlopen(bytes(data), name="broken")
    assert "broken" in str(ei.value) and "dylink.0" in str(ei.value) and ei.value.offset == start
    assert "broken" not in w
    assert w.dlopen(dl_modules["side1"]).sym("side1_add")(0, 0) == 4


def with_needed(wasm: bytes, needed: list[str]) -> bytes:
    """``wasm`` with its dylink.0 section's NEEDED list replaced (the section is re-encoded)."""
    sid, start, end, nm = next(iter_sections(wasm))
    assert (sid, nm) == (0, "dylink.0")
    d = Dylink.decode(wasm[start:end], start)
    d.needed = list(needed)
    payload = name("dylink.0") + d.encode()
    return wasm[:8] + b"\x00" + leb(len(payload)) + payload + wasm[end:]


def test_needed_libraries_are_loaded_first(dl_modules, tmp_path):
    side2 = dl_modules["side2"].read_bytes()
    assert with_needed(side2, []) == side2  # re-encoding an unchanged section changes nothing
    (tmp_path / "side1.wasm").write_bytes(dl_modules["side1"].read_bytes())
    (tmp_path / "app.wasm").write_bytes(with_needed(side2, ["side1.wasm"]))
    w = World()
    w.add("main", dl_modules["main"])
    h = w.dlopen(tmp_path / "app.wasm")
    assert w.modules == ["main", "side1", "app"]  # side1 was found beside app.wasm and loaded first
    assert h.sym("side2_compute")(5) == 5 + 42 + 4 + 14
    # a NEEDED library that is nowhere to be found
    (tmp_path / "lonely.wasm").write_bytes(with_needed(side2, ["libmissing.so"]))
    with pytest.raises(LinkError, match="side module 'lonely' needs library 'libmissing.so'"):
        w.dlopen(tmp_path / "lonely.wasm")
    assert "lonely" not in w


def test_two_mains_need_an_explicit_choice(dl_modules):
    w = World()
    w.add("m1", dl_modules["main"])
    w.add("m2", dl_modules["main"])
    with pytest.raises(LinkError, match="several modules could be the main"):
        w.dlopen(dl_modules["side1"])
    h = w.dlopen(dl_modules["side1"], main="m2")
    h.sym("side1_apply")(1, 1)  # main_twice of m2
    m2_counter = w.memory("m2").read_i32(w.exports("m2")["main_counter"].value)
    m1_counter = w.memory("m1").read_i32(w.exports("m1")["main_counter"].value)
    assert (m1_counter, m2_counter) == (42, 43)


def test_export_all_funcs_keeps_other_sections(dl_modules):
    data = dl_modules["main"].read_bytes()
    out = export_all_funcs(data)
    scan = scan_module(out)
    assert len({e.index for e in scan.exports if e.kind == 0}) == scan.num_defined_funcs
    before = [(s[0], data[s[1]:s[2]]) for s in iter_sections(data) if s[0] != 7]
    after = [(s[0], out[s[1]:s[2]]) for s in iter_sections(out) if s[0] != 7]
    assert before == after


# ------------------------------------------------------------------ corpus: emscripten tree-sitter


def test_tree_sitter_language_side_modules_load_and_parse(corpus_dir):
    html_src = "<p class=x>Hi <b>there</b></p>"
    enc = html_src.encode("utf-16-le")
    w = World(wasi=WasiOptions(stdout=None, stderr=None))

    def parse_callback(buf, index, row, col, length_ptr):
        chunk = enc[2 * index: 2 * index + 10 * 1024 - 4]
        mem = w.dynamic_linker.memory_view
        mem.write(buf, chunk)
        mem.write_u32(length_ptr, len(chunk) // 2)

    w.define_host("env", "tree_sitter_parse_callback", parse_callback, "i32 i32 i32 i32 i32 ->")
    w.stub("env")  # the other JS callbacks (logging, progress) are not used here
    ts = w.dlopen(corpus_dir / "ts-web-tree-sitter.wasm", name="ts")
    assert ts.memory_base == 1024 and ts.table_base == 1
    html = w.dlopen(corpus_dir / "ts-html-side.wasm", name="html")
    c = w.dlopen(corpus_dir / "ts-c-side.wasm", name="c")
    assert html.memory_base > ts.memory_base and c.table_base > html.table_base

    def call(f, *a):
        return w.invoke("ts", f, *a)

    mem = w.memory("ts")
    html_lang = html.sym("tree_sitter_html")()
    c_lang = c.sym("tree_sitter_c")()
    assert html_lang and c_lang and html_lang != c_lang
    assert call("ts_language_abi_version", html_lang) in range(13, 16)
    names = [mem.read_cstr(call("ts_language_symbol_name", html_lang, i)) for i in range(1, 6)]
    assert names[:2] == ["<!", "doctype_token1"]
    c_names = {mem.read_cstr(call("ts_language_symbol_name", c_lang, i))
               for i in range(call("ts_language_symbol_count", c_lang))}
    assert {"identifier", "function_definition", "translation_unit"} <= c_names

    tb = call("ts_init")
    call("ts_parser_new_wasm")
    parser, input_buffer = mem.read_u32(tb), mem.read_u32(tb + 4)
    assert call("ts_parser_set_language", parser, html_lang) == 1
    tree = call("ts_parser_parse_wasm", parser, input_buffer, 0, 0, 0)
    assert tree
    call("ts_tree_root_node_wasm", tree)
    text = mem.read_cstr(call("ts_node_to_string_wasm", tree))
    assert text.startswith("(document (element (start_tag (tag_name) (attribute")
    assert text.count("(element") == 2 and "(end_tag (tag_name))" in text
