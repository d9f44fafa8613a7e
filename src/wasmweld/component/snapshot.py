"""Pre-initialising a component: the core module holding the state, snapshotted in place.

``wasmweld snapshot app.component.wasm -o out.wasm`` works like Wizer on the one core
module of the component that exports the init function (``wizer-initialize`` by default)::

    (component
      (core module $main ... (func (export "wizer-initialize") ...))   ;; <- instrumented, run, rewritten
      (core instance $m (instantiate $main ...))
      ...)

1. the module is instrumented (:func:`wasmweld.preinit.instrument.instrument`) and given
   small core helpers: a getter per mutable global, a size getter per table, and per
   memory a grow function (one page more, for the pairs below) and a chunk function
   ``(start, len)`` that writes ``(start, len)`` in that page and returns its address,
   lifted as a ``latin1+utf16`` string: any bytes are a valid latin-1 string, and a
   string crosses the boundary as one copy (a ``list<u8>`` is one host value per byte);
2. :func:`probe_component` puts it in place of the original and appends, after every
   original section, core aliases of those exports from the core instance that
   instantiates the module, a ``canon lift`` of each, and component exports
   ``wasmweld-probe-N``: a component whose own exports read the module's state;
3. the runner (:mod:`wasmweld.runtime.component_snapshot`) instantiates that component
   with its imports (WASI 0.2 where granted), calls the start function, the init
   function, and reads the state into a :class:`~wasmweld.preinit.snapshot.Snapshot`;
4. :func:`put_back` rewrites the *original* module (:func:`wasmweld.preinit.rewrite.rewrite`),
   makes a WASI reactor's ``_initialize`` (which the component calls at instantiation, and which
   already ran) a no-op, and replaces the module in the *original* component: every other byte
   stays as it was.

Refused (SnapshotError): the module instantiated more than once or inside a nested
component, 64-bit memories, v128 and reference globals, passive segments. Table
contents are checked by size only (element identity cannot be read through the
component boundary).
"""

from __future__ import annotations

from ..record import record
from typing import TYPE_CHECKING

from ..binary.instr import Instr, MemArg
from ..binary.leb import write_u
from ..errors import SnapshotError
from ..module import Export, FuncBody, Module
from ..module import parse as parse_module
from ..preinit.instrument import DEFAULT_INIT_FUNCS, REACTOR_INIT, Instrumented, instrument
from ..types import I32, I64, ExternKind, FuncType, RecGroup, SubType
from . import codec
from . import types as T
from .check import CoreSpaces
from .model import Component
from .typeval import evaluate

if TYPE_CHECKING:
    from ..preinit.snapshot import Snapshot

__all__ = ["ProbePlan", "find_state_module", "probe_component", "put_back", "PROBE_PREFIX"]

PROBE_PREFIX = "wasmweld-probe-"
_HELPER = "__wasmweld_cprobe:"


@record
class ProbePlan:
    """What the runner calls: component export names, by role."""

    module_index: int
    instrumented: Instrumented
    start: str | None
    init: str
    globals: list[tuple[int, str, str]]        # (global index, valtype, export)
    tables: list[tuple[int, str, int]]         # (table index, export, size before init)
    memories: list[tuple[int, str, str]]       # (memory index, grow export, chunk export)


def find_state_module(comp: Component, init_func: str | None) -> int:
    """The index of the top-level core module exporting the init function (exactly one must)."""
    names = (init_func,) if init_func else DEFAULT_INIT_FUNCS
    found = []
    for i, m in enumerate(comp.modules):
        exported = {e.name for e in m.exports if e.kind == ExternKind.FUNC}
        if any(n in exported for n in names):
            found.append(i)
    if not found:
        raise SnapshotError(f"no core module of the component exports an init function "
                            f"({' or '.join(repr(n) for n in names)})")
    if len(found) > 1:
        raise SnapshotError(f"core modules {found} all export the init function: name the module")
    return found[0]


def _type_index(m: Module, params: tuple, results: tuple) -> int:
    for i, st in enumerate(m.type_list()):
        c = st.comp
        if isinstance(c, FuncType) and tuple(c.params) == params and tuple(c.results) == results and st.final \
                and not st.supers:
            return i
    m.types.append(RecGroup((SubType(FuncType(params, results), (), True, "plain"),), False))
    return len(m.type_list()) - 1


def _grow_body(mem: int) -> FuncBody:
    """``memory.grow 1`` (trap if it fails), returning the page count before: the new page holds the
    ``(start, len)`` pairs of :func:`_chunk_body`."""
    i = Instr.make
    return FuncBody.from_instrs([(1, I32)], [
        i("i32.const", 1), i("memory.grow", mem), i("local.tee", 0), i("i32.const", -1), i("i32.eq"),
        i("if", None), i("unreachable"), i("end"), i("local.get", 0),
    ])


def _chunk_body(mem: int) -> FuncBody:
    """``(start, len)``: store the pair at the start of the last page and return its address, lifted as a
    latin-1 string: bytes ``start..start+len`` of the memory cross as one string, one char per byte."""
    i = Instr.make
    return FuncBody.from_instrs([(1, I32)], [
        i("memory.size", mem), i("i32.const", 1), i("i32.sub"), i("i32.const", 16), i("i32.shl"),
        i("local.tee", 2), i("local.get", 0), i("i32.store", MemArg(2, 0, mem)),
        i("local.get", 2), i("local.get", 1), i("i32.store", MemArg(2, 4, mem)),
        i("local.get", 2),
    ])


def _add_helpers(inst: Instrumented) -> tuple[Module, list, list, list]:
    """The instrumented module with the component probe helpers added."""
    m = parse_module(inst.wasm)
    probes = inst.probes
    if probes.passive_datas or probes.passive_elems:
        raise SnapshotError("the state module has passive data or element segments: not supported for components")
    globals_, tables, memories = [], [], []
    exports = m.exports
    n = m.num_funcs

    def add(type_idx: int, body: FuncBody, name: str) -> None:
        nonlocal n
        m.funcs.append(type_idx)
        m.code.append(body)
        exports.append(Export(name, ExternKind.FUNC, n))
        n += 1

    for gp in probes.globals:
        if gp.valtype not in ("i32", "i64", "f32", "f64"):
            raise SnapshotError(f"global {gp.label or gp.index} of type {gp.valtype}: not supported for components")
        if gp.getter:
            globals_.append((gp.index, gp.valtype, gp.export))
            continue
        vt = I32 if gp.valtype == "i32" else I64
        name = f"{_HELPER}global:{gp.index}"
        add(_type_index(m, (), (vt,)), FuncBody.from_instrs([], [Instr.make("global.get", gp.index)]), name)
        globals_.append((gp.index, gp.valtype, name))
    for tp in probes.tables:
        name = f"{_HELPER}table:{tp.index}"
        add(_type_index(m, (), (I32,)), FuncBody.from_instrs([], [Instr.make("table.size", tp.index)]), name)
        tables.append((tp.index, name))
    for mp in probes.memories:
        if mp.is64:
            raise SnapshotError("64-bit memories: not supported for components")
        grow, chunk = f"{_HELPER}memory-grow:{mp.index}", f"{_HELPER}memory:{mp.index}"
        add(_type_index(m, (), (I32,)), _grow_body(mp.index), grow)
        add(_type_index(m, (I32, I32), (I32,)), _chunk_body(mp.index), chunk)
        memories.append((mp.index, grow, chunk, mp.export))
    return m, globals_, tables, memories


def _section(sid: int, items: list) -> bytes:
    payload = write_u(len(items)) + b"".join(codec.ITEM_WRITERS[sid](x) for x in items)
    return bytes((sid,)) + write_u(len(payload)) + payload


def probe_component(comp: Component, init_func: str | None) -> tuple[bytes, ProbePlan]:
    """The component with the state module instrumented and its state readable through component exports."""
    index = find_state_module(comp, init_func)
    inst_index = [k for k, ci in enumerate(comp.core_instances)
                  if isinstance(ci, T.CoreInstantiate) and ci.module == index]
    if len(inst_index) != 1:
        raise SnapshotError(f"core module {index} is instantiated {len(inst_index)} times: need exactly once")
    k = inst_index[0]
    instrumented = instrument(comp.modules[index], init_func)
    helper_module, globals_, tables, memories = _add_helpers(instrumented)

    scope = evaluate(comp)
    core = CoreSpaces(comp)
    n_types, n_funcs, n_core_funcs, n_core_mems = len(scope.types), len(scope.funcs), len(core.funcs), core.memories

    aliases: list = []
    types: list = [T.FuncType((), None), T.FuncType((), "s32"), T.FuncType((), "s64"),
                   T.FuncType((("start", "u32"), ("len", "u32")), "string")]   # a memory chunk, latin-1
    canons: list = []
    exports: list = []

    counts = {"func": 0, "memory": 0}

    def lift(core_name: str, type_offset: int, options=()) -> str:
        aliases.append(T.InstanceExportAlias("core func", k, core_name))
        core_idx = n_core_funcs + counts["func"]
        counts["func"] += 1
        canons.append(T.Canon("lift", (core_idx, n_types + type_offset), tuple(options)))
        name = f"{PROBE_PREFIX}{len(exports)}"
        exports.append(T.Export(T.ExternName(name), "func", n_funcs + len(canons) - 1))
        return name

    probes = instrumented.probes
    start = lift(probes.start, 0) if probes.start else None
    init = lift(instrumented.init_export.name, 0)
    g_out = [(gi, vt, lift(exp, 1 if vt in ("i32", "f32") else 2)) for gi, vt, exp in globals_]
    t_out = [(ti, lift(exp, 1), -1) for ti, exp in tables]
    m_out = []
    for mi, grow, chunk, export in memories:
        aliases.append(T.InstanceExportAlias("core memory", k, export))
        mem_idx = n_core_mems + counts["memory"]
        counts["memory"] += 1
        m_out.append((mi, lift(grow, 1), lift(chunk, 3, (T.CanonOption("memory", mem_idx),
                                                         T.CanonOption("latin1+utf16")))))

    comp_copy = Component.parse(comp.encode())
    comp_copy.replace_module(index, helper_module)
    extra = _section(6, aliases) + _section(7, types) + _section(8, canons) + _section(11, exports)
    plan = ProbePlan(index, instrumented, start, init, g_out, t_out, m_out)
    return comp_copy.encode() + extra, plan


def put_back(comp: Component, plan: ProbePlan, snap: Snapshot, *, keep_init_func: bool | None = None) -> bytes:
    """The original component with the state module rewritten to start in the captured state."""
    from ..preinit.rewrite import rewrite

    original = comp.modules[plan.module_index]
    init_name = plan.instrumented.init_export.name
    if keep_init_func is None:      # the component itself may refer to the init export: keep it then
        keep_init_func = any(isinstance(a, T.InstanceExportAlias) and a.name == init_name for a in comp.aliases)
    out_module = rewrite(parse_module(original.encode()), snap, init_export_name=init_name,
                         keep_init_func=keep_init_func, ran_exports=())
    _reactor_init_done(out_module)
    result = Component.parse(comp.encode())
    result.replace_module(plan.module_index, out_module)
    return result.encode()


def _reactor_init_done(m: Module) -> None:
    """A WASI reactor's ``_initialize`` ran when the component was instantiated for the snapshot; the
    component calls it again at every instantiation, so it becomes a no-op (as Wizer drops it)."""
    exp = m.export(REACTOR_INIT)
    if exp is None or exp.kind != ExternKind.FUNC:
        return
    k = exp.index - m.num_imported(ExternKind.FUNC)
    ft = m.func_type(exp.index)
    if k >= 0 and not ft.params and not ft.results:
        m.code[k] = FuncBody.from_instrs([], [])
