"""Mutation fuzzing of the binary core: bad bytes give a WasmError, never anything else, never a hang.

Seeds are spec conformance modules and the small real-world corpus modules.
Mutations: bit flips, byte overwrites, truncations, inserted and deleted
bytes, duplicated spans and huge LEB128 counts. For every mutant:

- ``parse(data, lazy=False)`` either raises a WasmError or gives a module that
  encodes back to exactly ``data``;
- a lazy parse, then touching every section, body and known custom section,
  behaves the same way;
- each input finishes within a time bound (hypothesis deadline, and a hard
  alarm that turns a hang into a failure).

Plus two exhaustive checks on a few seeds: every truncation, and a huge count
in every section.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import CONFORMANCE_DIR, conformance_rows, corpus_path

from wasmweld import DecodeError, WasmError, parse
from wasmweld.binary.leb import write_u
from wasmweld.binary.reader import split_sections

HARD_LIMIT_S = 20


def _conformance_seeds() -> list[bytes]:
    rows = [r for r in conformance_rows("valid") if int(r["bytes"]) <= 4096]
    # every 8th module: all folders, all proposals, varied sizes (about 300 seeds)
    return [(CONFORMANCE_DIR / r["path"]).read_bytes() for r in rows[::8]]


SEEDS = _conformance_seeds()
SMALL_CORPUS = ["as-rabin", "as-sha256-simd", "ts-html-side", "jco-p1-adapter-reactor"]


@pytest.fixture(scope="module")
def corpus_seeds(corpus_dir) -> list[bytes]:
    return [corpus_path(cid).read_bytes() for cid in SMALL_CORPUS]


class Hang(Exception):
    pass


@contextmanager
def hard_limit(seconds: int = HARD_LIMIT_S):
    def on_alarm(signum, frame):
        raise Hang(f"input not finished after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def exercise(data: bytes) -> None:
    """The property: WasmError or a lossless module, in both modes."""
    with hard_limit():
        try:
            m = parse(data, lazy=False)
        except WasmError:
            pass
        else:
            assert m.encode() == data, "accepted input does not round-trip (lazy=False)"
        try:
            m = parse(data)
            for attr in ("types", "imports", "funcs", "tables", "memories", "tags", "globals", "exports",
                         "elems", "datas", "customs"):
                _ = getattr(m, attr)
            _ = (m.start, m.datacount, m.names, m.producers, m.target_features, m.dylink)
            for body in m.code:
                _ = (body.locals, body.instrs)
            for g in m.globals:
                _ = g.init.instrs
        except WasmError:
            pass
        else:
            assert m.encode() == data, "accepted input does not round-trip (lazy)"


HUGE = b"\xff\xff\xff\xff\x0f"

mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 7)),
    st.tuples(st.just("set"), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 16)),
    st.tuples(st.just("huge"), st.floats(0, 1), st.booleans()),
    st.tuples(st.just("dup"), st.floats(0, 1), st.integers(1, 64)),
)


def mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for kind, where, arg in mutations:
        pos = min(int(where * len(buf)), max(len(buf) - 1, 0))
        if kind == "flip" and buf:
            buf[pos] ^= 1 << arg
        elif kind == "set" and buf:
            buf[pos] = arg
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = arg
        elif kind == "delete":
            del buf[pos:pos + arg]
        elif kind == "huge":
            if arg:
                buf[pos:pos + 5] = HUGE
            else:
                buf[pos:pos] = HUGE
        elif kind == "dup":
            buf[pos:pos] = buf[pos:pos + arg]
    return bytes(buf)


FUZZ = settings(max_examples=2500, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(seed=st.integers(0, len(SEEDS) - 1), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_fuzz_conformance_seeds(seed, mutations):
    exercise(mutate(SEEDS[seed], mutations))


@settings(max_examples=400, deadline=timedelta(seconds=10),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, len(SMALL_CORPUS) - 1), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_fuzz_corpus_seeds(corpus_seeds, seed, mutations):
    exercise(mutate(corpus_seeds[seed], mutations))


@FUZZ
@given(data=st.binary(max_size=64))
def test_fuzz_random_after_preamble(data):
    exercise(b"\x00asm\x01\x00\x00\x00" + data)


def test_every_truncation_is_rejected_or_lossless():
    for seed in SEEDS[:40]:
        boundaries = {8} | {s.end for s in split_sections(seed)}
        for n in range(len(seed)):
            prefix = seed[:n]
            with hard_limit():
                try:
                    m = parse(prefix, lazy=False)
                except WasmError:
                    continue
            # only a cut between sections can still be a module
            assert n in boundaries, f"truncation at {n} of {len(seed)} accepted"
            assert m.encode() == prefix


# the typed view of each custom section wasmweld decodes, by section name
_TYPED_CUSTOM = {"name": "names", "producers": "producers", "target_features": "target_features",
                 "dylink.0": "dylink", "dylink": "dylink"}
# the Module attribute holding each known section's items
_SECTION_ATTR = {1: "types", 2: "imports", 3: "funcs", 4: "tables", 5: "memories", 6: "globals", 7: "exports",
                 9: "elems", 10: "code", 11: "datas", 13: "tags"}


def _with_huge_count(seed: bytes, sec) -> tuple[bytes, int, int]:
    """``seed`` with HUGE inserted where ``sec``'s count (a custom section's data) starts, and the
    section's size grown to match, so the section stays well framed: (mutant, at, section end)."""
    at = sec.data_offset if sec.id == 0 else sec.payload_offset
    header = bytes([sec.id]) + write_u(sec.size + len(HUGE))
    mutant = seed[:sec.offset] + header + seed[sec.payload_offset:at] + HUGE + seed[at:]
    shift = len(header) - (sec.payload_offset - sec.offset)
    return mutant, at + shift, sec.end + shift + len(HUGE)


def _touch(m, attr: str) -> None:
    items = getattr(m, attr)
    if attr == "code":
        for body in items:
            _ = (body.locals, body.instrs)


def test_huge_count_in_every_section(corpus_seeds):
    """A count of 2**32-1 where each section's count is (in front of a custom section's data).

    Known sections: a DecodeError with an offset inside the section from ``lazy=False``, and
    one with an offset from a lazy parse once the section is read. Custom sections: their contents do not make a
    module malformed, so both modes accept it and it round-trips byte for byte; the typed view of
    a section wasmweld decodes (name, producers, ...) is what refuses it, with an offset.
    """
    customs = known = typed = 0
    for seed in SEEDS[:100] + corpus_seeds:
        sections = split_sections(seed)
        for sec in sections:
            if sec.id in (8, 12):  # start, data count: a single index or count, no vector
                continue
            mutant, at, end = _with_huge_count(seed, sec)
            exercise(mutant)
            with hard_limit():
                if sec.id == 0:
                    customs += 1
                    for lazy in (True, False):
                        m = parse(mutant, lazy=lazy)
                        assert m.encode() == mutant, f"custom section {sec.name!r} does not round-trip"
                    first = next(s for s in sections if s.id == 0 and s.name == sec.name) is sec
                    if not first:
                        continue
                    view = _TYPED_CUSTOM.get(sec.name)
                    if view is None:  # kept raw: the bytes are there as they were written
                        assert bytes(m.custom(sec.name).data[:len(HUGE)]) == HUGE
                        continue
                    typed += 1
                    for lazy in (True, False):
                        with pytest.raises(DecodeError) as info:
                            getattr(parse(mutant, lazy=lazy), view)
                        assert at <= info.value.offset <= end, (sec.name, info.value.offset, at, end)
                    continue
                known += 1
                with pytest.raises(DecodeError) as info:
                    parse(mutant, lazy=False)
                assert info.value.offset is not None and at <= info.value.offset <= end, \
                    (sec.id, info.value.offset, at, end)
                # lazy: the count is checked against the bytes left, or against the other section
                # that must agree with it (function count vs code bodies: reported at the code section)
                with pytest.raises(DecodeError) as info:
                    _touch(parse(mutant), _SECTION_ATTR[sec.id])
                assert info.value.offset is not None and 0 <= info.value.offset <= len(mutant), \
                    (sec.id, info.value.offset, len(mutant))
    assert customs >= 20 and typed >= 4 and known >= 400, (customs, typed, known)
