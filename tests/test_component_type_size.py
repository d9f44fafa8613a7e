"""A component whose types double at each link (``tuple<t(i-1), t(i-1)>``, 40 links:
2^40 nodes when expanded) is refused by wasmweld's own type evaluation with wasmparser's rule
("effective type size exceeds the limit of 1000000" for one type), as `wasm-tools validate` refuses it
(wasmparser also sums a component type's imports and exports: a bound on work, not checked here), so that
nothing after it (fuse's adapters, the printer of values, the canonical ABI's flattening) expands
it. Just under the limit it is accepted by both."""

from __future__ import annotations

import subprocess

import pytest

from component_build import WASM_TOOLS, wasm_tools
from wasmweld.component import parse_component
from wasmweld.component.typeval import evaluate
from wasmweld.errors import ValidationError, WasmError


def doubling(links: int) -> bytes:
    types = "\n".join(f"  (type $t{i} (tuple $t{i - 1} $t{i - 1}))" for i in range(1, links + 1))
    wat = f"""(component
  (type $t0 (tuple u8))
{types}
  (type $f (func (param "p" $t{links})))
  (import "f" (func $imp (type $f)))
  (export "g" (func $imp)))"""
    return wasm_tools("parse", "-", input=wat.encode())


def _wasm_tools_accepts(data: bytes) -> bool:
    return subprocess.run([str(WASM_TOOLS), "validate", "-"], input=data, capture_output=True).returncode == 0


def test_exponential_type_is_refused_like_wasm_tools():
    data = doubling(40)
    assert not _wasm_tools_accepts(data)
    with pytest.raises(ValidationError, match="effective type size exceeds the limit of 1000000"):
        evaluate(parse_component(data))
    from wasmweld.fuse import fuse

    with pytest.raises(WasmError, match="effective type size"):
        fuse(data)


def test_type_just_under_the_limit_is_accepted_like_wasm_tools():
    data = doubling(17)                 # 3 * 2^17 - 1 = 393,215 nodes
    assert _wasm_tools_accepts(data)
    evaluate(parse_component(data))
    over = doubling(19)                 # 1,572,863 nodes in one type
    assert not _wasm_tools_accepts(over)
    with pytest.raises(ValidationError, match="effective type size"):
        evaluate(parse_component(over))
