"""fuse's value-type trees: ``abi.normalize`` and the boundary's ``tree`` (handles numbered by the
output's resources) are one walk; the node budget bounds a type that uses another many times."""

from __future__ import annotations

import pytest

from wasmweld.component.typeval import Alias, Def, Res
from wasmweld.fuse import abi, boundary
from wasmweld.fuse.abi import FuseError


def _doubling(links: int) -> Def:
    """record{a: t, b: t} nested ``links`` times over u8: 2**links leaves, a small effective type size
    per link only because each Def is built once (the expansion is what the budget bounds)."""
    t: object = "u8"
    for _ in range(links):
        t = Def("record", (("a", t), ("b", t)))
    return t  # type: ignore[return-value]


def test_tree_is_normalize_with_the_handles_numbered():
    mine, theirs = Res(), Res()
    t = Def("record", (("x", Def("own", mine)), ("y", Def("option", Def("borrow", Alias(theirs)))),
                       ("z", Def("list", "string"))))
    plain = abi.normalize(t, "f")
    assert plain == ("record", (("own",), ("variant", (None, ("borrow",))), ("list", "string")))
    numbered = boundary.tree(t, {id(mine): 3}, "f")
    assert numbered == ("record", (("own", 3), ("variant", (None, ("borrow", None))), ("list", "string")))


def test_the_node_budget_stops_a_doubling_type():
    t = _doubling(12)                                   # 4096 leaves
    assert abi.normalize(t, "f")[0] == "record"          # no budget: expanded
    with pytest.raises(FuseError, match="f: value type nesting too deep or too large"):
        boundary.tree(t, {}, "f", budget=[1000])
    budget = [10_000]
    boundary.tree(t, {}, "f", budget=budget)
    assert budget[0] == 10_000 - (2 ** 13 - 1)         # one per node, leaves included


def test_depth_limit_either_way():
    t: object = "u8"
    for _ in range(abi.MAX_TYPE_DEPTH + 2):
        t = Def("list", t)
    with pytest.raises(FuseError, match="nesting too deep$"):
        abi.normalize(t, "g")
    with pytest.raises(FuseError, match="nesting too deep or too large"):
        boundary.tree(t, {}, "g")


def test_fuse_reads_a_path_through_the_bounded_reader(tmp_path):
    """fuse(path) had its own 1 GiB cap and a blocking open (a FIFO hung it; /dev/zero was read up to the cap):
    it reads like every other input now."""
    import os

    import wasmweld.fuse

    fifo = tmp_path / "planted.wasm"
    os.mkfifo(fifo)
    for path, why in ((str(fifo), "not a regular file \\(a FIFO\\)"), ("/dev/zero", "not a regular file"),
                      (str(tmp_path / "missing.wasm"), "no such file")):
        with pytest.raises(FuseError, match=why):
            wasmweld.fuse.fuse(path)
