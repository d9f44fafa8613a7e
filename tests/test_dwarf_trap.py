"""Trap frames with source lines (issue 14): a trap in the third service of a merged module.

``shop.refund`` orders a negative quantity; ``pricing.quote`` passes it to ``audit.audit_check``,
which executes ``__builtin_trap()``. The merged module's DWARF (all three inputs') must name
audit.c at the trap's line, and the callers in pricing.c and shop.c, in ``wasmweld run``'s
error and in the :class:`World` API's ExecutionError; ``wasmweld addr2line`` says the same.
"""

from __future__ import annotations

import pytest
from dwarfcheck import DWARF_C, build_dwarf_services

from wasmweld.cli.main import main as cli_main
from wasmweld.errors import ExecutionError
from wasmweld.link import merge
from wasmweld.runtime.world import World


def source_line(name: str, needle: str) -> int:
    lines = (DWARF_C / name).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def expected_frames() -> list[str]:
    """The source backtrace of refund(3): innermost first, ``function at file:line`` (clang -O2
    attributes the trap to the ``if`` that guards ``__builtin_trap()``, as wasmtime's own
    WASMTIME_BACKTRACE_DETAILS backtrace does)."""
    return [f"audit_check at {DWARF_C / 'audit.c'}:{source_line('audit.c', 'if (amount < 0)')}",
            f"quote at {DWARF_C / 'pricing.c'}:{source_line('pricing.c', 'return audit_check(total)')}",
            f"order at {DWARF_C / 'shop.c'}:{source_line('shop.c', 'o->paid = quote')}",
            f"refund at {DWARF_C / 'shop.c'}:{source_line('shop.c', 'return order(k')}"]


def assert_trap_frames(text: str) -> None:
    assert "source backtrace" in text, text
    at = 0
    for frame in expected_frames():
        k = text.find(frame, at)
        assert k >= 0, f"{frame!r} missing (in order) from {text!r}"
        at = k + len(frame)


@pytest.fixture(scope="module")
def merged() -> bytes:
    return merge(build_dwarf_services(), export_conflicts="rename", warn=lambda text: None).encode()


def test_world_trap_names_source_lines(merged):
    world = World()
    world.add("svc", merged)
    assert world.invoke("svc", "order", 2, 5) > 0           # the services work
    with pytest.raises(ExecutionError) as info:
        world.invoke("svc", "refund", 3)
    assert_trap_frames(str(info.value))


def test_run_trap_names_source_lines(merged, tmp_path, capsys):
    path = tmp_path / "m.wasm"
    path.write_bytes(merged)
    assert cli_main(["run", str(path), "--invoke", "refund", "3"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")     # still one line
    assert_trap_frames(err)


def test_no_source_backtrace_without_dwarf(tmp_path):
    """Built without -g (and merged in another order, so its code sits elsewhere than the -g
    merge's, which the same process loaded before): no source backtrace."""
    from helpers import compile_c
    plain = [(n, compile_c(DWARF_C / f"{n}.c", target="wasm32")) for n in ("audit", "pricing", "shop")]
    world = World()
    world.add("svc", merge(plain, export_conflicts="rename", warn=lambda text: None).encode())
    with pytest.raises(ExecutionError) as info:
        world.invoke("svc", "refund", 3)
    assert "unreachable" in str(info.value) and "source backtrace" not in str(info.value)


def test_addr2line_cli_matches_wasm_tools(merged, tmp_path, capsys):
    import subprocess

    from dwarfcheck import WASM_TOOLS, bodies, func_names

    from wasmweld.binary.reader import split_sections
    path = tmp_path / "m.wasm"
    path.write_bytes(merged)
    code = next(s.payload_offset for s in split_sections(merged) if s.id == 10)
    at = {name: code + bodies(merged)[k][0] for name, k in func_names(merged).items()}
    addrs = [hex(at["audit_check"] + 9), hex(at["quote"] + 30), f"@{at['refund'] + 12:x}", str(at["order"] + 20),
             hex(at["report"])]
    assert cli_main(["addr2line", str(path), *addrs]) == 0
    ours = capsys.readouterr().out
    ref = subprocess.run([str(WASM_TOOLS), "addr2line", str(path), *addrs], capture_output=True, text=True)
    assert ref.returncode == 0 and ours == ref.stdout
    assert "audit.c" in ours and "shop.c" in ours
    assert cli_main(["addr2line", str(path), "nope"]) == 1
    assert capsys.readouterr().err.startswith("error: ")
