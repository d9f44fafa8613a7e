"""``fuse(inputs, **options)``: the fusion pipeline as named steps (like ``merge``).

::

    fuse(inputs)                        # a composition, or several components wired by name
      comps = load(inputs)              # 1 read the component(s)
      p     = plan.plan(comps, plugs)   # 2 instantiate statically: core instances, adapters, exports
      ins   = build.build_inputs(p)     # 3 adapters in Wasm; instances' imports renamed
      core  = link.merge(ins, ...)      # 4 merge: renumbering, type dedup, one memory per component

The output is a core module (``--emit core``) whose exports follow wit-component's core names
(``run``, ``iface#func``, ``cabi_post_...``, ``memory``, ``cabi_realloc``) so that the canonical
ABI drives it exactly as it drove the composition. Imports the fused world still has stay
imports, canonical-lowered: ``(import "wasi:cli/stdout@0.2.0" "get-stdout" (func ...))`` with the
core signature of ``canon lower`` (the memory they write is the importing component's).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Union

from ..component import Component, is_component, parse_component
from ..component.typeval import evaluate
from ..errors import LinkError, ValidationError, WasmError
from ..files import read_file
from ..link import merge
from ..module import Module
from ..passes.gc import gc as gc_pass
from . import abi
from .abi import FuseError
from .boundary import boundary
from .build import build_inputs, lower_sig
from .component_out import wrap
from .plan import Adapter, Plan, plan, root, wiring
from .record import adapter_lines, record
from .union import union_prefix

#: one fuse input: a Component, its bytes, or a path
FuseSource = Union[Component, bytes, bytearray, memoryview, str, "os.PathLike[str]"]
#: what :func:`fuse` takes: one composition, or several components (``(label, source)`` pairs,
#: ``{label: source}``, or bare sources labelled by file name)
FuseInputs = Union[FuseSource, Iterable[Union[FuseSource, tuple[str, FuseSource]]], Mapping[str, FuseSource]]

__all__ = ["fuse", "fuse_plan", "describe", "load", "FuseSource", "FuseInputs"]

def _read(x: Any, label: str) -> Component:
    if isinstance(x, Component):
        return x
    if isinstance(x, (str, os.PathLike)):
        try:
            x = read_file(x, f"{label}: {os.fspath(x)}")   # bounded (WASMWELD_MAX_INPUT), regular files only
        except WasmError as e:
            raise FuseError(str(e)) from None
    if not isinstance(x, (bytes, bytearray, memoryview)):
        raise FuseError(f"{label}: not a component")
    if not is_component(x):
        raise FuseError(f"{label}: not a component (core modules are merged with `merge`)")
    return parse_component(bytes(x))


def load(inputs: FuseInputs) -> Component | list[tuple[str, Component]]:
    """Step 1: one Component (a composition), or ``[(label, Component)]`` for several inputs."""
    if isinstance(inputs, (Component, bytes, bytearray, memoryview, str, os.PathLike)):
        return _read(inputs, "input")
    items = list(inputs.items()) if isinstance(inputs, dict) else list(inputs)
    out = []
    for i, it in enumerate(items):
        label, x = it if isinstance(it, tuple) else (os.path.basename(str(it)) if isinstance(
            it, (str, os.PathLike)) else f"input{i}", it)
        out.append((label, _read(x, label)))
    if not out:
        raise FuseError("no inputs")
    return out[0][1] if len(out) == 1 else out


def manifest_inputs(path: str | os.PathLike[str]) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The ``(name, path)`` components of world manifest ``path`` (``[[module]]``, in order: an import
    is satisfied by another module's export of the same name, the last module's exports are the
    world's) and its ``[fuse]`` options."""
    from ..manifest import load_manifest

    man = load_manifest(path)
    return [(m.name, m.path) for m in man.modules], dict(man.fuse_options)


def fuse_plan(inputs: FuseInputs, *, plugs: dict[str, str] | None = None) -> Plan:
    """Steps 1-2: the :class:`~.plan.Plan` (components, core instances, adapters, exports)."""
    if isinstance(inputs, (str, os.PathLike)) and os.fspath(inputs).endswith(".toml"):
        inputs, opts = manifest_inputs(inputs)
        plugs = plugs or opts.get("plugs")
    try:
        p = plan(load(inputs), plugs)
    except FuseError:
        raise
    except WasmError as e:
        raise FuseError(str(e)) from None
    for a in p.adapters:
        abi.func_types(a.callee.functype, a.name)        # refuse unsupported types early
    return p


def fuse(inputs: FuseInputs, *, plugs: dict[str, str] | None = None, emit: str = "auto", gc: bool = True,
         single_memory: bool = False, memory_reserve: int | None = None) -> Module | Component:
    """Fuse a composition (a component of components, bytes/path/Component) or several components
    (a list of them, wired by interface name; ``plugs`` maps an import name to the export name that
    satisfies it, or to ``LABEL#EXPORT`` for input LABEL's) into one core :class:`~wasmweld.module.Module`.

    ``emit="core"`` returns the core Module; ``emit="component"`` a Component with exactly that one
    core module and the composition's imports and exports (for several inputs: the imports they
    leave unsatisfied, merged as ``wasm-tools compose`` merges them); ``emit="auto"`` (the default)
    is ``component`` when the fused world still imports something (WASI 0.2, ...), else ``core``.

    ``single_memory``: every component's memory (and the handle tables) laid out in one memory by
    merge's single-memory pass (:mod:`wasmweld.link.single_memory`; ``memory_reserve`` pages for
    each memory without a maximum, 256 by default); the memory the exports are lifted with sits at
    base 0, so the canonical ABI drives the output unchanged.
    """
    if isinstance(inputs, (str, os.PathLike)) and os.fspath(inputs).endswith(".toml"):
        given = {"plugs": plugs, "emit": emit, "gc": gc, "single_memory": single_memory,
                 "memory_reserve": memory_reserve}
        mods, opts = manifest_inputs(inputs)
        opts.update({k: v for k, v in given.items() if v != _DEFAULTS[k]})
        return fuse(mods, **opts)
    if emit not in ("core", "component", "auto"):
        raise FuseError(f"unknown output kind {emit!r} (core, component or auto)")
    comps = load(inputs)
    p = fuse_plan(comps, plugs=plugs)
    if emit == "auto":
        emit = "component" if p.host else "core"
    prefix: Component | None = comps if isinstance(comps, Component) else None
    world = comps if isinstance(comps, Component) else None
    if emit == "component" and not isinstance(comps, Component):
        wires = wiring(comps, plugs or {})
        prefix, world = _union_input(comps, wires), comps[root(wires)][1]
    bnd = None
    if emit == "component":
        assert world is not None                                # set above
        try:
            bnd = boundary(p, evaluate(world))
        except ValidationError as e:
            raise FuseError(str(e)) from None
    ins = build_inputs(p, host_options=emit == "component", bnd=bnd)
    if single_memory:
        ins = _exported_memory_first(p, ins)
    try:
        m = merge(ins, export_from=["fuse:adapters"], gc=False, warn=lambda _msg: None,
                  single_memory=single_memory, memory_reserve=memory_reserve)
    except LinkError as e:
        if not single_memory:
            raise
        msg = str(e)
        raise FuseError(msg if msg.startswith("--single-memory") else f"--single-memory: {msg}") from None
    m.exports[:] = [e for e in m.exports if not e.name.startswith("fuse$")]
    m = gc_pass(m).module if gc else m
    record(m, adapter_lines(p, [_sig(a) for a in p.adapters]))
    if emit == "component":
        assert prefix is not None and bnd is not None          # set above
        return wrap(m, p, prefix, bnd)
    return m


def _compose_order(wires: list[dict[str, tuple[int, str]]]) -> list[int]:
    """The inputs in the order ``wasm-tools compose ROOT -d ...`` meets them: the :func:`.plan.root`
    input (the world's exports) first, then the providers of its imports in import order, breadth first;
    inputs nobody imports from come last."""
    order = [root(wires)]
    for i in order:
        order += [j for j, _ in wires[i].values() if j not in order]
    return order + [i for i in range(len(wires)) if i not in order]


def _union_input(comps: list[tuple[str, Component]], wires: list[dict[str, tuple[int, str]]]) -> Component:
    """For ``--emit component`` of several inputs (wired as :func:`.plan.wiring` gives): a component of
    the imports they leave unsatisfied (:func:`.union.union_prefix`: one import per name, instance types
    of an interface several inputs import merged, as ``wasm-tools compose`` does). The exports are the
    root input's, as :func:`.plan.plan` wires them."""
    parts = []
    for i in _compose_order(wires):
        label, c = comps[i]
        parts.append((label, c, {im.name.name for im in c.imports if im.name.name not in wires[i]}))
    if not any(keep for _, _, keep in parts):
        return Component()
    return union_prefix(parts)


_DEFAULTS: dict[str, Any] = {"plugs": None, "emit": "auto", "gc": True, "single_memory": False,
                             "memory_reserve": None}


def _exported_memory_first(p: Plan, ins: list[tuple[str, Module]]) -> list[tuple[str, Module]]:
    """The merge inputs with the instance whose memory the exports use first (its memory becomes
    memory 0, at base 0 of the single memory); refused when that would change the order in which
    start functions run."""
    mems = {e.options.memory for e in p.exports.values() if e.options.memory is not None}
    if len(mems) > 1:
        raise FuseError("--single-memory: the exports are lifted with different memories")
    if not mems:
        return ins
    owner = f"fuse:i{next(iter(mems)).instance}"
    k = next(i for i, (name, _) in enumerate(ins) if name == owner)
    if ins[k][1].start is not None and any(m.start is not None for _, m in ins[:k]):
        raise FuseError(f"--single-memory: the exports' memory belongs to {owner}, whose start function "
                        "runs after another instance's (cannot put its memory first)")
    return [ins[k]] + ins[:k] + ins[k + 1:]


def _sig(a: Adapter) -> str:
    """The lowered core signature of adapter ``a`` as text: ``[i32 i32] -> [i32]``."""
    params, result = abi.func_types(a.callee.functype, a.name)
    low = lower_sig(params, result)
    return f"[{' '.join(low[0])}] -> [{' '.join(low[1])}]"


def describe(p: Plan) -> str:
    """The plan as text (``wasmweld fuse --plan``)."""
    lines = [f"components: {len(p.components)}"]
    lines += [f"  {c}" for c in p.components]
    lines.append(f"core module instances: {len(p.instances)}")
    lines += [f"  fuse:i{i.index} {i.label}" for i in p.instances]
    lines.append(f"adapters: {len(p.adapters)}")
    for a in p.adapters:
        lines.append(f"  adapter{a.index}: component {a.caller.component} -> {a.callee.options.component} "
                     f"({a.callee.core.name}) {_sig(a)}")
    lines.append(f"resources: {len(p.resources)} (built-ins: {len(p.builtins)})")
    lines += [f"  resource{r.index}: component {r.component}" + (" (destructor)" if r.dtor else "")
              for r in p.resources]
    lines.append(f"exports: {len(p.exports)}")
    lines += [f"  {n}" for n in p.exports]
    hosts = sorted({f"{h.module}#{h.core_name}" for h in p.host})
    lines.append(f"imports: {len(hosts)}")
    lines += [f"  {h}" for h in hosts]
    return "\n".join(lines)
