"""Real-world modules (../shared/corpus, cached in ~/.cache/wasmweld-corpus) and a Go GOOS=js module.

Each one round-trips byte for byte lazily and with lazy=False; every decoded
body re-encodes to its own bytes; the decoded contents agree with what the
corpus manifest (made with other tools) says about the module: counts of
imports/exports/functions/memories, the custom sections, producers and
target features.
"""

from __future__ import annotations

import csv

import pytest

from helpers import CORPUS_MANIFEST, corpus_ids, corpus_path, go_build_js

from wasmweld import ExternKind, parse
from wasmweld.binary.instr import encode_body



def _manifest() -> dict[str, dict[str, str]]:
    if not CORPUS_MANIFEST.is_file():
        return {}
    with open(CORPUS_MANIFEST, newline="", encoding="utf-8") as fh:
        return {row["id"]: row for row in csv.DictReader(fh, delimiter="\t") if row.get("id")}


MANIFEST = _manifest()
KINDS = (ExternKind.FUNC, ExternKind.TABLE, ExternKind.MEMORY, ExternKind.GLOBAL, ExternKind.TAG)


def _check_roundtrip(data: bytes):
    assert parse(data).encode() == data, "lazy round trip differs"
    m = parse(data, lazy=False)
    assert m.encode() == data, "lazy=False round trip differs"
    assert len(m.code) == len(m.funcs)
    bad = [i for i, b in enumerate(m.code) if encode_body(b.locals, b.instrs) != b.raw]
    assert not bad, f"{len(bad)} bodies re-encode differently, first: {bad[:5]}"
    assert m.warnings == [], m.warnings
    return m


def _counts(items) -> str:
    return "/".join(str(sum(1 for x in items if x.kind == k)) for k in KINDS)


@pytest.mark.parametrize("cid", corpus_ids())
def test_corpus_roundtrip(cid, corpus_dir):
    data = corpus_path(cid).read_bytes()
    m = _check_roundtrip(data)
    row = MANIFEST[cid]
    assert len(data) == int(row["size"])
    assert str(len(m.funcs)) == row["functions_defined"]
    assert _counts(m.imports) == row["imports(f/t/m/g/tag)"]
    assert _counts(m.exports) == row["exports(f/t/m/g/tag)"]
    nmem, where = row["memories(def+imp;flags)"].split(";")
    assert m.num_memories == int(nmem)
    mem = m.memory_type(0)
    assert ("imp" in where) == (m.num_imported(ExternKind.MEMORY) == 1)
    assert ("shared" in where) == mem.limits.shared
    customs = row["custom_sections"]
    assert " ".join(c.name for c in m.customs) == ("" if customs == "-" else customs)
    if row["producers"] != "-":
        p = m.producers
        text = "; ".join(f"{field}: " + ", ".join(f"{n} {v}".strip() for n, v in values.items())
                         for field, values in p.fields.items())
        assert text == row["producers"]
        assert p.encode() == m.custom("producers").data
    if row["target_features"] != "-":
        tf = m.target_features
        assert " ".join(prefix + name for prefix, name in tf.features) == row["target_features"]
        assert tf.encode() == m.custom("target_features").data
    for dyname in ("dylink.0", "dylink"):
        if m.custom(dyname) is not None:
            dl = m.dylink
            assert dl is not None and dl.encode() == m.custom(dyname).data
            assert dl.mem_size >= 0 and (dl.legacy == (dyname == "dylink"))
    if m.custom("name") is not None:
        ns = m.names
        assert ns.encode() == m.custom("name").data
        assert ns.funcs, "a name section without function names"
        assert max(ns.funcs) < m.num_funcs


GO_MAIN = """package main

import (
\t"fmt"
\t"strings"
)

type shape interface{ area() float64 }
type rect struct{ w, h float64 }

func (r rect) area() float64 { return r.w * r.h }

func main() {
\tshapes := []shape{rect{2, 3}, rect{4, 5}}
\ttotal := 0.0
\tfor _, s := range shapes {
\t\ttotal += s.area()
\t}
\tfmt.Println(strings.Repeat("=", 3), "total area", total)
}
"""


def test_go_js_module_roundtrip(tmp_path):
    (tmp_path / "main.go").write_text(GO_MAIN)
    data = go_build_js(tmp_path)
    m = _check_roundtrip(data)
    # what a Go GOOS=js binary looks like: imports from "go", exports run/resume, a name section
    assert {imp.module for imp in m.imports} == {"go"}
    assert {"run", "resume"} <= {e.name for e in m.exports}
    names = m.names
    assert names is not None and "main.main" in names.funcs.values()
    assert m.custom("go.buildid") is not None or m.custom("go:buildid") is not None
