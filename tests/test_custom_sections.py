"""Typed custom sections: name (all subsections, extended names), producers, target_features.

Decoding then encoding gives the input bytes back; edits encode to what a
fresh decode reads again; malformed contents raise DecodeError when decoded on
their own, but only add a warning to a module parsed with lazy=False (the spec
does not validate custom section contents).
"""

from __future__ import annotations

import pytest

from wasmweld import DecodeError, parse
from wasmweld.binary.leb import write_u
from wasmweld.custom.name import NameSection
from wasmweld.custom.producers import Producers
from wasmweld.custom.target_features import TargetFeatures

NAMED = """(module $mod
  (type $t (func (param i32) (result i32)))
  (rec (type $s (struct (field $fx i32) (field $fy i64))) (type $a (array i8)))
  (import "env" "g" (global $g i32))
  (tag $e (param i32))
  (table $tab 2 funcref)
  (memory $mem 1)
  (global $gg (mut i32) (i32.const 0))
  (elem $el (i32.const 0) func $f)
  (data $d (i32.const 0) "hi")
  (func $f (type $t) (param $x i32) (result i32) (local $y i32)
    block $outer block $inner local.get $x local.set $y end end local.get $y))"""


def _sub(sid: int, content: bytes) -> bytes:
    return bytes([sid]) + write_u(len(content)) + content


def _custom(name: str, data: bytes) -> bytes:
    nb = name.encode()
    payload = write_u(len(nb)) + nb + data
    return b"\x00" + write_u(len(payload)) + payload


EMPTY = b"\x00asm\x01\x00\x00\x00"


def test_name_section_all_subsections(wat):
    m = parse(wat(NAMED), lazy=False)
    ns = m.names
    assert ns.module == "mod"
    assert ns.funcs == {0: "f"}
    assert ns.locals == {0: {0: "x", 1: "y"}}
    assert ns.labels == {0: {0: "outer", 1: "inner"}}
    assert ns.types == {0: "t", 1: "s", 2: "a"}
    assert ns.tables == {0: "tab"} and ns.memories == {0: "mem"}
    assert ns.globals == {0: "g", 1: "gg"}
    assert ns.elems == {0: "el"} and ns.datas == {0: "d"}
    assert ns.fields == {1: {0: "fx", 1: "fy"}}
    assert ns.tags == {0: "e"}
    assert ns.unknown == []
    raw = m.custom("name").data
    assert ns.encode() == raw
    assert NameSection.decode(ns.encode()) == ns


def test_name_section_edit_and_new_subsections(wat):
    m = parse(wat("(module $m (func $a) (func $b))"))
    ns = m.names
    ns.funcs[1] = "renamed"
    ns.globals = {0: "new_global"}  # a subsection the input did not have
    ns.module = None                # drop one
    data = ns.encode()
    again = NameSection.decode(data)
    assert again.module is None
    assert again.funcs == {0: "a", 1: "renamed"}
    assert again.globals == {0: "new_global"}
    ids = []
    pos = 0
    while pos < len(data):
        ids.append(data[pos])
        size = data[pos + 1]
        pos += 2 + size
    assert ids == sorted(ids) == [1, 7]


def test_name_section_keeps_unknown_and_odd_encodings():
    padded_func_names = _sub(1, b"\x02" + b"\x80\x80\x00" + b"\x01a" + b"\x01\x01b")  # padded index, 2 names
    unknown = _sub(42, b"whatever")
    data = padded_func_names + unknown + _sub(0, b"\x01m")
    ns = NameSection.decode(data)
    assert ns.funcs == {0: "a", 1: "b"} and ns.module == "m"
    assert ns.unknown == [(42, b"whatever")]
    assert ns.encode() == data  # unknown subsection, order and padding all kept
    ns.module = "n"
    out = ns.encode()
    assert out.startswith(padded_func_names + unknown)
    assert NameSection.decode(out).module == "n"


@pytest.mark.parametrize("content, message", [
    (_sub(1, b"\x01\x00\x01\xff"), "malformed UTF-8"),
    (_sub(1, b"\x05\x00"), "length out of bounds"),
    (b"\x01\x10\x00", "length out of bounds"),
    (_sub(1, b"\x01\x00\x01a" + b"junk"), "section size mismatch"),
    (_sub(0, b"\x01m") + _sub(0, b"\x01m"), "duplicate name subsection"),
])
def test_name_section_malformed(content, message):
    with pytest.raises(DecodeError, match=message):
        NameSection.decode(content, 100)


def test_malformed_custom_contents_are_warnings_not_errors():
    bad_names = _custom("name", _sub(1, b"\x01\x00\x05ab"))
    bad_producers = _custom("producers", b"\x01\x05lang")
    data = EMPTY + bad_names + bad_producers
    m = parse(data, lazy=False)
    assert len(m.warnings) == 2 and "name" in m.warnings[0] and "producers" in m.warnings[1]
    assert m.encode() == data
    with pytest.raises(DecodeError):
        _ = m.names
    # but a malformed custom section *header* (its name) makes the module malformed
    with pytest.raises(DecodeError, match="malformed UTF-8"):
        parse(EMPTY + b"\x00\x03\x02\xc0\x80", lazy=False)
    with pytest.raises(DecodeError, match="length out of bounds"):
        parse(EMPTY + b"\x00\x02\x05a", lazy=False)


def test_producers_roundtrip_and_edit():
    p = Producers()
    p.add("language", "Rust")
    p.add("processed-by", "rustc", "1.80.0")
    p.add("processed-by", "wasmweld", "0.1.0")
    data = p.encode()
    q = Producers.decode(data)
    assert q.fields == {"language": {"Rust": ""}, "processed-by": {"rustc": "1.80.0", "wasmweld": "0.1.0"}}
    assert q.encode() == data
    q.add("sdk", "wasi-sdk", "22")
    assert Producers.decode(q.encode()).fields["sdk"] == {"wasi-sdk": "22"}
    m = parse(EMPTY + _custom("producers", data))
    assert m.producers.fields == p.fields


@pytest.mark.parametrize("content, message", [
    (b"\x01\x08language\x01\x04Rust", "unexpected end"),
    (b"\x02\x01a\x00\x01a\x00", "duplicate producers field"),
    (b"\x01\x01a\x00junk", "section size mismatch"),
    (b"\xff\xff\xff\xff\x0f", "length out of bounds"),
])
def test_producers_malformed(content, message):
    with pytest.raises(DecodeError, match=message):
        Producers.decode(content)


def test_target_features():
    data = b"\x03" + b"\x2b\x07atomics" + b"\x2d\x04simd" + b"\x3d\x08sign-ext"
    tf = TargetFeatures.decode(data)
    assert tf.features == [("+", "atomics"), ("-", "simd"), ("=", "sign-ext")]
    assert tf.used == {"atomics", "sign-ext"}
    assert tf.encode() == data
    tf.features.append(("+", "bulk-memory"))
    assert TargetFeatures.decode(tf.encode()).features[-1] == ("+", "bulk-memory")
    with pytest.raises(DecodeError, match="prefix"):
        TargetFeatures.decode(b"\x01\x2a\x01a")
    with pytest.raises(DecodeError, match="section size mismatch"):
        TargetFeatures.decode(b"\x00\x00")
    m = parse(EMPTY + _custom("target_features", data), lazy=False)
    assert m.target_features.used == {"atomics", "sign-ext"} and m.warnings == []


def test_known_custom_sections_decoded_by_full_parse(wat):
    data = wat(NAMED)
    m = parse(data, lazy=False)
    # decoded once up front: the same object comes back
    assert m.names is m.names
    assert m.names.funcs == {0: "f"}
