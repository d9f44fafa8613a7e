"""The World's record classes are :func:`wasmweld.record.record` classes with ``__slots__`` (not dataclasses:
issue 16.3, start-up; they were hand-written twins of a record before): they behave as the dataclasses they
replaced did. Each is compared with a reference dataclass of the
same fields (repr, equality, hashing, immutability, defaults), and the World's public options keep
their dataclass behaviour (DlLimits, WasiOptions)."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest

from wasmweld.runtime._linking import Entry, Host, ImportSlot
from wasmweld.runtime.dylink_loader import DlLimits
from wasmweld.runtime.typecheck import TypeReport, Unsupported
from wasmweld.runtime.wasi import WasiOptions
from wasmweld.runtime.world import World

F = dataclasses.field

RefUnsupported = dataclasses.make_dataclass(
    "Unsupported", [("kind", str), ("desc", str), ("bad", str), ("params", tuple, F(default=())),
                    ("results", tuple, F(default=()))], frozen=True)
RefTypeReport = dataclasses.make_dataclass(
    "TypeReport", [("imports", dict, F(default_factory=dict)), ("exports", dict, F(default_factory=dict))])
RefImportSlot = dataclasses.make_dataclass(
    "ImportSlot", [("module", str), ("name", str), ("type", Any), ("bad", Any, F(default=None)),
                   ("index", int, F(default=-1))], eq=False)
RefHost = dataclasses.make_dataclass("Host", [("module", str), ("name", str), ("func", Any), ("type", Any)])
ENTRY_FIELDS = [("name", str), ("module", Any), ("wasm", Any), ("imports", list), ("export_types", dict),
                ("index", int, F(default=-1)), ("instance", Any, F(default=None)),
                ("exports", dict, F(default_factory=dict)), ("bound", list, F(default_factory=list)),
                ("kind", str, F(default="module")), ("export_all", bool, F(default=False)),
                ("scan", Any, F(default=None)), ("meta", dict, F(default_factory=dict)),
                ("bad_exports", dict, F(default_factory=dict))]
RefEntry = dataclasses.make_dataclass("Entry", ENTRY_FIELDS, eq=False)


def test_the_world_classes_are_slotted_records():
    for cls in (Unsupported, TypeReport, ImportSlot, Entry, Host):
        assert cls.__record_fields__ and "__dict__" not in vars(cls) and cls.__slots__, cls


def test_unsupported_is_a_frozen_value():
    args = ("func", "func (v128) -> ()", "v128", ("v128",), ())
    u, ref = Unsupported(*args), RefUnsupported(*args)
    assert repr(u) == repr(ref)
    assert repr(Unsupported("global", "global v128", "v128")) == repr(RefUnsupported("global", "global v128", "v128"))
    assert u == Unsupported(*args) and hash(u) == hash(Unsupported(*args)) and hash(u) == hash(ref)
    assert u != Unsupported("func", "func (v128) -> ()", "v128", ("v128",), ("i32",)) and u != ref
    assert len({u, Unsupported(*args), Unsupported("table", "table anyref", "anyref")}) == 2
    with pytest.raises(AttributeError):
        u.bad = "i32"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del u.desc
    assert u.bad == "v128"
    assert pickle.loads(pickle.dumps(u)) == u and Unsupported.from_json(u.to_json()) == u


def test_type_report_compares_by_value_and_round_trips():
    u = Unsupported("func", "func (v128) -> ()", "v128", ("v128",), ())
    r = TypeReport({0: u}, {"f": u})
    assert repr(r) == repr(RefTypeReport({0: RefUnsupported(*u.to_json()[:3], ("v128",), ())},
                                         {"f": RefUnsupported(*u.to_json()[:3], ("v128",), ())}))
    assert r == TypeReport.from_json(r.to_json()) and r != TypeReport() and TypeReport() == TypeReport()
    a, b = TypeReport(), TypeReport()
    a.imports[1] = u
    assert b.imports == {}  # fresh dicts per instance, as default_factory made
    assert bool(TypeReport())  # truthy when empty, as the dataclass was (``types or TypeReport()``)
    with pytest.raises(TypeError):
        hash(a)
    assert TypeReport.from_json({"imports": 3}) is None


def test_entry_and_import_slot_keep_the_dataclass_shape():
    slot, ref = ImportSlot("env", "f", "T", None, 2), RefImportSlot("env", "f", "T", None, 2)
    assert repr(slot) == repr(ref) and slot.label == "env.f"
    assert slot != ImportSlot("env", "f", "T", None, 2) and slot == slot  # identity, as eq=False
    e, r = Entry("m", None, b"x", [slot], {}), RefEntry("m", None, b"x", [slot], {})
    assert repr(e) == repr(r)
    assert e.index == -1 and e.kind == "module" and not e.ready and e.exports == {} and e.meta == {}
    e2 = Entry("n", None, None, [], {}, kind="side", export_all=True)
    e2.exports["x"] = 1
    e2.bound.append(1)
    assert e.exports == {} and e.bound == [] and e2.kind == "side" and e2.export_all
    e.instance = object()
    assert e.ready and e != Entry("m", None, b"x", [slot], {})


def test_host_compares_by_value():
    h, ref = Host("env", "f", "F", "T"), RefHost("env", "f", "F", "T")
    assert repr(h) == repr(ref)
    assert h == Host("env", "f", "F", "T") and h != Host("env", "g", "F", "T")
    with pytest.raises(TypeError):
        hash(h)


def test_world_options_keep_their_dataclass_behaviour():
    assert World().dl_limits == DlLimits() and dataclasses.is_dataclass(DlLimits)
    lim = DlLimits(max_mem_size=1 << 20)
    w = World(dl_limits=lim)
    assert w.dl_limits is lim
    w.dl_limits = DlLimits(max_table_size=8)
    assert w.dl_limits.max_table_size == 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        lim.max_mem_size = 0  # type: ignore[misc]
    opts = World(wasi=WasiOptions(argv=["a"])).wasi_options
    assert opts == WasiOptions(argv=("a",)) and dataclasses.replace(opts, argv=("b",)).argv == ("b",)
    assert World(wasi=True).wasi_options == WasiOptions(stdin="inherit")
    assert World(wasi=False).wasi_options is None and World().wasi_options is None
    with pytest.raises(TypeError, match="wasi must be a bool or WasiOptions, not int"):
        World(wasi=0)  # type: ignore[arg-type]
