"""Issue 4, the seed scenario, end to end.

A template compiled from C (tests/fixtures/surgery/template.c: an "engine"
``execute_method_js(index, pass_arg)`` that records its calls, stubs
``js_passive_data_size``/``init_js_passive_data``, a bump allocator over
``memory.grow``) gets a 1 MB JS bundle and 100 method exports
``canister_query m0`` ... ``canister_update m99`` from one
``wasmweld edit --plan`` call. Then, in wasmtime, each export calls the engine
with its index and the bundle read back through the accessors equals the
file byte for byte. The same with active placement (and the allocator never
returns memory overlapping the bundle), and a wasi-libc module (dlmalloc) for
which active placement is refused with a clear message.
"""

from __future__ import annotations

import pytest
import wasmtime

from fixtures.surgery import build
from fixtures.surgery.check import assert_only_changed, instantiate, read_u32s
from helpers import build_cache_dir
from wasmweld import parse
from wasmweld.cli.main import main
from wasmweld.runtime.engine import validate_bytes

METHODS = build.method_names(100)


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    outdir = build_cache_dir() / "surgery"
    tmp = tmp_path_factory.mktemp("seed")
    bundle = tmp / "bundle.js"
    bundle.write_bytes(build.make_bundle(1 << 20))
    return {
        "tmp": tmp,
        "bundle": bundle,
        "template": build.compile_fixture("template", outdir),
        "stack_after": build.compile_fixture("template_stack_after", outdir),
        "wasi_malloc": build.compile_fixture("wasi_malloc", outdir),
    }


def edit_with_plan(fx, mode: str, name: str, capsys) -> tuple[bytes, str]:
    plan = fx["tmp"] / f"{name}.toml"
    # the plan names the bundle relative to its own folder
    plan.write_text(build.seed_plan("bundle.js", mode=mode))
    out = fx["tmp"] / f"{name}.wasm"
    status = main(["edit", str(fx["template"]), "-o", str(out), "--plan", str(plan)])
    err = capsys.readouterr().err
    assert status == 0, err
    return out.read_bytes(), err


def check_methods(store, ex):
    """Each of the 100 exports calls the engine once with its index (and its pass_arg)."""
    assert ex["call_count"](store) == 0
    for name in reversed(METHODS):         # call in reverse to see that each export has its own index
        ex[name](store)
    count = ex["call_count"](store)
    assert count == 100
    log = read_u32s(ex["memory"], store, ex["call_log"](store), 2 * count)
    assert log == tuple(v for i in reversed(range(100)) for v in (i, i % 3))


def test_seed_passive(fx, capsys):
    template = fx["template"].read_bytes()
    bundle = fx["bundle"].read_bytes()
    out, log = edit_with_plan(fx, "passive", "passive", capsys)
    validate_bytes(out)
    assert "added passive data segment" in log and "(+99 more)" in log
    m = parse(out)
    assert [e.name for e in m.exports][-100:] == METHODS
    assert m.datas[-1].mode == "passive" and m.datas[-1].init == bundle and m.datacount == len(m.datas)
    # table, memory, elements, producers: byte for byte; the name section was stripped (plan); the
    # globals gain only the init accessor's guard (the template's own globals unchanged)
    changed = assert_only_changed(template, out, {"type", "func", "export", "code", "data", "datacount",
                                                  "custom:name", "global"})
    assert "custom:name" in changed and m.custom("name") is None
    assert m.globals[:-1] == parse(template).globals and len(m.globals) == len(parse(template).globals) + 1
    store, ex = instantiate(out)
    check_methods(store, ex)
    ptr = ex["load_js"](store)
    assert ex["js_len"](store) == len(bundle) == 1 << 20
    assert bytes(ex["memory"].read(store, ptr, ptr + len(bundle))) == bundle
    with pytest.raises(wasmtime.Trap, match="unreachable"):   # dropped: a second copy traps (guard)
        ex["load_js"](store)


def test_seed_active(fx, capsys):
    template = fx["template"].read_bytes()
    bundle = fx["bundle"].read_bytes()
    out, log = edit_with_plan(fx, "active", "active", capsys)
    validate_bytes(out)
    assert "rule: the stack lies below the data" in log and "memory.grow" in log
    store, ex = instantiate(out)
    addr = ex["js_addr"](store)
    tm = parse(template)
    data_end = tm.globals[1].init.int_value
    assert addr >= data_end and addr % 16 == 0
    # placed at instantiation: in memory before anything runs
    assert bytes(ex["memory"].read(store, addr, addr + len(bundle))) == bundle
    assert ex["memory"].size(store) * 65536 >= addr + len(bundle)
    assert_only_changed(template, out, {"type", "func", "memory", "global", "export", "code", "data",
                                        "custom:name"})
    check_methods(store, ex)
    ptr = ex["load_js"](store)                  # the engine copies the bundle through the accessors
    assert bytes(ex["memory"].read(store, ptr, ptr + len(bundle))) == bundle
    # the allocator never hands out memory overlapping the placed bundle
    spans = [(ptr, ptr + len(bundle))]
    for n in (1, 16, 100, 4096, 65535, 65536, 70000, 300000, 8, 1 << 20):
        p = ex["alloc"](store, n)
        assert p != 0
        spans.append((p, p + n))
    for lo, hi in spans:
        assert hi <= addr or lo >= addr + len(bundle), f"allocation {lo:#x}..{hi:#x} overlaps the bundle"
    assert bytes(ex["memory"].read(store, addr, addr + len(bundle))) == bundle


def test_active_refused_for_wasi_libc_malloc(fx, capsys):
    out = fx["tmp"] / "refused.wasm"
    status = main(["edit", str(fx["wasi_malloc"]), "-o", str(out), "--add-active-data", f"js={fx['bundle']}"])
    err = capsys.readouterr().err
    assert status == 1
    assert "active placement refused" in err and "'dlmalloc'" in err and "__heap_base" in err
    assert "memory between __heap_base and the end of the initial memory" in err
    assert err.count("\n") == 1                 # one line, no traceback
    assert not out.exists()
    # the same module takes the bundle as passive data
    assert main(["edit", str(fx["wasi_malloc"]), "-o", str(out), "--add-passive-data", f"js={fx['bundle']}"]) == 0
    validate_bytes(out.read_bytes())


def test_active_refused_when_stack_follows_data(fx, capsys):
    out = fx["tmp"] / "refused2.wasm"
    status = main(["edit", str(fx["stack_after"]), "-o", str(out), "--add-active-data", f"js={fx['bundle']}"])
    err = capsys.readouterr().err
    assert status == 1 and "the stack lies above the static data" in err and "--stack-first" in err
    assert not out.exists()
