"""The renumberer's type and name sections now go through the one grammar (typecodec's rec group reader
and custom.name's map readers, which report where each index sits): they must give the bytes the
renumberer's own walks gave before (issue 9). ``legacy_type_sec`` / ``legacy_name_section`` below are
those walks, frozen verbatim as the reference; every test compares whole section payloads byte for byte.

* A hand-made type section: an explicit rec group with sub / sub final and (padded) supertypes,
  struct fields and an array of (ref null t) / (ref t) with padded s33 heap indices, a func type.
* A name section with every known subsection (module, func, local, label, type, table, memory, global,
  elem, data, field, tag), an unknown one, padded indices and names out of order.
* Every valid module of the conformance suites and the smaller corpus modules (all of them with
  WASMWELD_SLOW=1), random permutations of every space, some with deleted items.
"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

import helpers
from wasmweld.binary.leb import read_u32, write_u
from wasmweld.binary.reader import split_sections
from wasmweld.binary.reencode import SPACES, IndexMaps, Renumberer
from wasmweld.binary.renumber import Edits
from wasmweld.custom.name import NameSection
from wasmweld.errors import DecodeError, EditError, WasmError

# ----------------------------------------------------------------------------- the frozen reference


def legacy_type_sec(r, buf, p, end, base, edits):
    """The renumberer's type-section walk before issue 9 (wasmweld 9480dc2), verbatim."""
    if "type" not in r.active:
        return
    idx = lambda q: r._leb_index("type", False, buf, q, end, base, edits)   # noqa: E731
    vt = lambda q: r._valtype(buf, q, end, base, edits)                     # noqa: E731

    def storagetype(q):     # (was Renumberer._storagetype, used only here)
        if q < end and buf[q] in (0x77, 0x78):    # i16, i8
            return q + 1
        return r._valtype(buf, q, end, base, edits)

    def field(q):
        q = storagetype(q)
        if q >= end:
            raise DecodeError("unexpected end", base + end)
        return q + 1

    def sub(q):
        if q >= end:
            raise DecodeError("unexpected end", base + end)
        b = buf[q]
        if b in (0x50, 0x4F):
            q = r._vec(buf, q + 1, end, base, idx)
            if q >= end:
                raise DecodeError("unexpected end", base + end)
            b = buf[q]
        q += 1
        if b == 0x60:
            q = r._vec(buf, q, end, base, vt)
            return r._vec(buf, q, end, base, vt)
        if b == 0x5F:
            return r._vec(buf, q, end, base, field)
        if b == 0x5E:
            return field(q)
        raise DecodeError(f"malformed composite type 0x{b:02x}", base + q - 1)

    def group(q):
        if q < end and buf[q] == 0x4E:
            return r._vec(buf, q + 1, end, base, sub)
        return sub(q)

    r._vec(buf, p, end, base, group)


_LEGACY_SUBSECTIONS = {1: ("func", False), 2: ("func", True), 3: ("func", True), 4: ("type", False),
                       5: ("table", False), 6: ("memory", False), 7: ("global", False), 8: ("elem", False),
                       9: ("data", False), 10: ("type", True), 11: ("tag", False)}


def legacy_name_section(r, buf, p, end, base, edits):
    """The renumberer's name-section walk before issue 9, verbatim."""
    while p < end:
        sub_at = p
        sub_id = buf[p]
        size, q = read_u32(buf, p + 1, end, base)
        send = q + size
        if send > end:
            raise DecodeError("length out of bounds", base + q, "name subsection")
        spaces = _LEGACY_SUBSECTIONS.get(sub_id)
        if spaces is not None and spaces[0] in r.active:
            new = legacy_name_map(r, buf, q, send, base, spaces[0], spaces[1])
            if new is not None:
                edits.replace(sub_at, send, bytes((sub_id,)) + write_u(len(new)) + new)
        p = send


def legacy_name_map(r, buf, p, end, base, space, indirect):
    n, p = read_u32(buf, p, end, base)
    if n * 2 > end - p:
        raise DecodeError("length out of bounds", base + p, "name map")
    entries = []
    changed = False
    for _ in range(n):
        old, p = read_u32(buf, p, end, base)
        body_at = p
        if indirect:
            m, p = read_u32(buf, p, end, base)
            for _ in range(m):
                p = read_u32(buf, p, end, base)[1]
                k, p = read_u32(buf, p, end, base)
                p += k
        else:
            k, p = read_u32(buf, p, end, base)
            p += k
        if p > end:
            raise DecodeError("length out of bounds", base + end, "name map")
        try:
            new = r.maps.target(space, old)
        except EditError:
            new = None
        if new != old:
            changed = True
        if new is not None:
            entries.append((new, buf[body_at:p]))
    if p != end:
        raise DecodeError("section size mismatch", base + p, "name map")
    if not changed:
        return None
    entries.sort(key=lambda e: e[0])
    return b"".join([write_u(len(entries))] + [write_u(new) + rest for new, rest in entries])


def legacy(r, sid: int, payload: bytes) -> bytes:
    """What the renumberer wrote for a type section (sid 1) or a name section's content (sid 0)."""
    edits = Edits(payload, 0)
    (legacy_type_sec if sid == 1 else legacy_name_section)(r, payload, 0, len(payload), 0, edits)
    out = edits.result(len(payload))
    return payload if out is None else b"".join(out)


def outcome(fn, *args):
    """``fn(*args)``, or the name of the WasmError it raised."""
    try:
        return fn(*args)
    except WasmError as e:
        return type(e).__name__


def now(r, sid: int, payload: bytes) -> bytes:
    """The renumberer's output today; a name section goes through ``section(0, ..)`` with its name."""
    if sid == 1:
        return r.section(1, payload)
    out = r.section(0, b"\x04name" + payload)
    assert out[:5] == b"\x04name"
    return out[5:]


def random_maps(rng: random.Random, n: int, drop: bool) -> IndexMaps:
    kw = {}
    for s in SPACES:
        xs: list = rng.sample(range(n), n)
        if drop:
            xs = [None if rng.random() < 0.2 else x for x in xs]
        kw["global_" if s == "global" else s] = xs
    return IndexMaps(**kw)


# ----------------------------------------------------------------------------- hand-made sections

# (rec (type $0 (sub (struct (field (mut (ref null $1))) (field i8))))
#      (type $1 (sub final $0 (struct (field (ref $2)))))      super and heap index padded
#      (type $2 (sub $0 $1 (array (mut (ref null $0))))))
# (type $3 (func (param i32 (ref null $2)) (result (ref func) (ref $3))))   $3 padded to 5 bytes
GC_TYPES = bytes.fromhex(
    "02"
    "4e03"
    "50005f02630101 7800"
    "4f0180005f01 64828000 00"
    "500200015e630001"
    "6002 7f 6302 02 6470 648380808000".replace(" ", ""))


def names_content() -> bytes:
    ns = NameSection(module="m", funcs={0: "f0", 3: "f3", 1: "f1"}, locals={1: {0: "x", 1: "y"}, 0: {2: "z"}},
                     labels={2: {0: "l"}}, types={0: "t0", 2: "t2"}, tables={0: "tb"}, memories={1: "mem"},
                     globals={0: "g0", 2: "g2"}, elems={1: "e"}, datas={0: "d"}, fields={0: {0: "a", 1: "b"}},
                     tags={0: "tag"}, unknown=[(42, b"\x01\x02")])
    content = ns.encode()
    # plus a function-name subsection copy with a padded index (a second id 1 subsection: the
    # renumberer re-keys every subsection it meets, duplicates included)
    padded = b"\x01" + write_u(7) + b"\x01" + b"\x85\x80\x00" + b"\x02p5"
    # and one whose name is not UTF-8: the renumberer copies name bytes, it never decoded them
    not_utf8 = b"\x01" + write_u(5) + b"\x01\x02\x02\xff\xfe"
    return content + padded + not_utf8


def test_hand_made_type_section_same_bytes_as_before():
    changed = 0
    for seed in range(300):
        r = Renumberer(random_maps(random.Random(seed), 4, False))
        want = legacy(r, 1, GC_TYPES)
        got = now(r, 1, GC_TYPES)
        assert got == want, seed
        changed += got != GC_TYPES
    assert changed > 250          # the maps really move type indices in every position


def test_hand_made_name_section_same_bytes_as_before():
    content = names_content()
    seen_changed: set[int] = set()
    for seed in range(300):
        r = Renumberer(random_maps(random.Random(seed), 8, seed % 3 == 0))
        want = legacy(r, 0, content)
        got = now(r, 0, content)
        assert got == want, seed
        before = {sid: raw for sid, raw in _subsections(content)}
        for sid, raw in _subsections(got):
            if before.get(sid) != raw:
                seen_changed.add(sid)
    assert seen_changed == set(range(1, 12))      # every name map kind was re-keyed at least once


def _subsections(content: bytes):
    p = 0
    while p < len(content):
        size, q = read_u32(content, p + 1, len(content))
        yield content[p], content[p:q + size]
        p = q + size


def test_malformed_sections_fail_in_both():
    for bad in (GC_TYPES[:-3], GC_TYPES[:7] + b"\x5d" + GC_TYPES[8:], b"\x01\x60\x01\x63"):
        r = Renumberer(IndexMaps(type=[1, 0, 3, 2]))
        assert isinstance(outcome(now, r, 1, bad), str)
        assert isinstance(outcome(legacy, r, 1, bad), str)
    content = names_content()
    r = Renumberer(IndexMaps(func=[1, 0, 3, 2, 5, 4, 7, 6]))
    assert isinstance(outcome(now, r, 0, content[:-2]), str)
    assert isinstance(outcome(legacy, r, 0, content[:-2]), str)


# ----------------------------------------------------------------------------- real modules

def _sections(path) -> list[tuple[int, bytes]]:
    data = path.read_bytes()
    try:
        secs = split_sections(data)
    except WasmError:
        return []
    out = []
    for s in secs:
        payload = data[s.payload_offset:s.end]
        if s.id == 1:
            out.append((1, payload))
        elif s.id == 0 and payload.startswith(b"\x04name"):
            out.append((0, payload[5:]))
    return out


def _compare(path, seeds, n: int) -> Counter:
    """Compare the two on every type and name section of ``path``; count the changed ones per id."""
    changed: Counter = Counter()
    for sid, payload in _sections(path):
        for seed in seeds:
            r = Renumberer(random_maps(random.Random(seed), n, seed % 2 == 1))
            want = outcome(legacy, r, sid, payload)
            got = outcome(now, r, sid, payload)
            if isinstance(want, str):     # the old walk refused it: the grammar refuses it too
                assert isinstance(got, str), (path.name, sid, seed, want)
                continue
            assert got == want, (path.name, sid, seed)
            changed[sid] += got != payload
    return changed


def test_conformance_modules_same_bytes_as_before(conformance_dir):
    rows = helpers.conformance_rows("valid")
    paths = [conformance_dir / r["path"] for r in rows if r["path"].endswith(".wasm")]
    if not os.environ.get("WASMWELD_SLOW"):
        paths = paths[::3]
    assert len(paths) > 200
    changed = sum((_compare(p, (0, 1), 2000) for p in paths), Counter())
    assert changed[1] > 20, changed        # (the suites carry hardly any name sections: see above)


#: corpus modules with a name section (jco's 11 kB, swc's 75 B) and one without (as-rabin: types only)
CORPUS_QUICK = ("as-rabin", "jco-p1-adapter-reactor", "rs-swc")
#: the small corpus modules by default, all 21 with WASMWELD_SLOW=1
CORPUS = helpers.corpus_ids() if os.environ.get("WASMWELD_SLOW") else \
    [c for c in helpers.corpus_ids() if c in CORPUS_QUICK]


@pytest.mark.parametrize("cid", CORPUS)
def test_corpus_same_bytes_as_before(cid, corpus_dir):
    path = helpers.corpus_path(cid)
    secs = _sections(path)
    assert secs
    changed = _compare(path, (0, 1), 70000)
    assert sum(changed.values()) > 0 or not any(sid == 0 for sid, _ in secs), changed


def test_renumberer_keeps_no_type_or_name_layout_of_its_own():
    """The guard of issue 9: renumber.py spells out no composite/sub/rec type code and no name
    subsection table; it reads both sections through typecodec and custom.name."""
    import inspect

    import wasmweld.binary.renumber as renumber
    src = inspect.getsource(renumber)
    for code in ("0x4E", "0x4F", "0x50", "0x5E", "0x5F", "0x60", "0x77", "0x78"):
        assert code not in src and code.lower() not in src, code
    assert "read_recgroup" in src and "read_name_map" in src and "read_subsection" in src
    assert not hasattr(renumber, "_NAME_SUBSECTIONS")
