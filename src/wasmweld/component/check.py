"""wasmweld's own checks of the canonical options of a component's ``canon`` definitions.

A lifted or lowered function passes strings and lists through a linear memory, so
its canonical options must say which memory, which ``realloc`` allocates in it,
and at most one string encoding::

    (func (type $f) (canon lift (core func $run) (memory $mem) (realloc $alloc)
                               string-encoding=utf8 (post-return $free)))

:func:`check_canon_options` reports, with wasm-tools' wording: conflicting or
repeated options, a memory index out of bounds, ``memory`` / ``realloc`` missing
where the function type needs them, ``realloc`` without ``memory``,
``post-return`` on a lowering, and ``realloc`` / ``post-return`` with the wrong
core signature (when the core function's type is known). Only the outermost
component's own definitions are checked; wasmtime's validation covers the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..types import I32, I64, F32, F64, FuncType
from . import typeval as tv
from . import types as T

if TYPE_CHECKING:
    from .model import Component

__all__ = ["check_canon_options", "canon_problems", "comp_spaces", "canon_item_problems", "flat_count", "needs_memory",
           "CoreSpaces"]

MAX_FLAT_PARAMS = 16
MAX_FLAT_RESULTS = 1
_ENCODINGS = {"utf8": "utf8", "utf16": "utf16", "latin1+utf16": "latin1-utf16"}
_SINGLE = ("memory", "realloc", "post-return", "callback", "core-type")


def _flat(t, depth: int = 0) -> list:
    """The core types a value of component type ``t`` flattens to (canonical ABI)."""
    if depth > 100:
        raise ValidationError("type nesting is too deep")
    if isinstance(t, str):
        return {"s64": [I64], "u64": [I64], "f32": [F32], "f64": [F64], "string": [I32, I32]}.get(t, [I32])
    t = tv.peel(t)
    if not isinstance(t, tv.Def):
        return [I32]
    k, x = t.kind, t.data
    if k == "prim":
        return _flat(x, depth + 1)
    if k in ("list", "map"):
        return [I32, I32]
    if k == "fixed-list":
        return _flat(x[0], depth + 1) * min(x[1], 1 << 16)
    if k == "record":
        return [c for _, f in x for c in _flat(f, depth + 1)]
    if k == "tuple":
        return [c for f in x for c in _flat(f, depth + 1)]
    if k in ("variant", "option", "result"):
        cases = [c for _, c in x] if k == "variant" else ([x] if k == "option" else list(x))
        joined: list = []
        for c in cases:
            if c is None:
                continue
            for i, ct in enumerate(_flat(c, depth + 1)):
                if i < len(joined):
                    if joined[i] != ct:
                        joined[i] = I32 if {joined[i], ct} == {I32, F32} else I64
                else:
                    joined.append(ct)
        return [I32] + joined
    if k == "flags":
        return [I32] * ((len(x) + 31) // 32)
    return [I32]


def flat_count(types: Iterable[Any]) -> int:
    """How many core values the component value types ``types`` flatten to."""
    return sum(len(_flat(t)) for t in types)


def needs_memory(t: Any, depth: int = 0) -> bool:
    """True if a value of type ``t`` is passed through linear memory (contains a string or list)."""
    if depth > 100:
        raise ValidationError("type nesting is too deep")
    if isinstance(t, str):
        return t == "string"
    t = tv.peel(t)
    if not isinstance(t, tv.Def):
        return False
    k, x = t.kind, t.data
    if k in ("list", "map"):
        return True
    if k == "fixed-list":
        return needs_memory(x[0], depth + 1)
    if k in ("record", "variant"):
        return any(f is not None and needs_memory(f, depth + 1) for _, f in x)
    if k in ("tuple", "result"):
        return any(f is not None and needs_memory(f, depth + 1) for f in x)
    if k == "option":
        return needs_memory(x, depth + 1)
    return False


class CoreSpaces:
    """The core index spaces of a component that the checks need (func types where known, memory count)."""

    def __init__(self, comp: Component):
        self.funcs: list[FuncType | None] = []
        self.memories: int = 0
        self.instances: list[dict[str, FuncType | None]] = []
        modules = list(comp.modules)
        mi = 0
        self.module_exports: list[dict[str, FuncType | None]] = []
        for sid, item in comp.items():
            if sid == 1:
                self.module_exports.append(_module_exports(modules[mi]))
                mi += 1
            elif sid == 2:
                self.instances.append(self._instance(item))
            elif sid == 6 and isinstance(item, T.InstanceExportAlias) and item.sort.startswith("core"):
                exports = self.instances[item.instance] if item.instance < len(self.instances) else {}
                if item.sort == "core func":
                    self.funcs.append(exports.get(item.name))
                elif item.sort == "core memory":
                    self.memories += 1
            elif sid == 8 and item.op != "lift":
                self.funcs.append(_CANON_TYPES.get(item.op))

    def _instance(self, item) -> dict:
        if isinstance(item, T.CoreInstantiate):
            return self.module_exports[item.module] if item.module < len(self.module_exports) else {}
        return {e.name: (self.funcs[e.index] if e.kind == 0 and e.index < len(self.funcs) else None)
                for e in item.exports}


_CANON_TYPES = {
    "resource.new": FuncType((I32,), (I32,)), "resource.rep": FuncType((I32,), (I32,)),
    "resource.drop": FuncType((I32,), ()),
}


def _module_exports(m) -> dict:
    out = {}
    try:
        for e in m.exports:
            if e.kind.name == "FUNC":
                out[e.name] = m.func_type(e.index)
    except Exception:  # noqa: BLE001 - an undecodable module: types unknown, wasmtime reports it
        return {}
    return out


def _opts_problems(c: T.Canon, core: CoreSpaces) -> list[str]:
    problems = []
    seen_enc = None
    seen = set()
    for o in c.options or ():
        if o.name in _ENCODINGS:
            if seen_enc is not None:
                problems.append(f"canonical encoding option `{_ENCODINGS[seen_enc]}` conflicts with option "
                                f"`{_ENCODINGS[o.name]}`")
            seen_enc = o.name
        elif o.name in _SINGLE:
            if o.name in seen:
                problems.append(f"canonical option `{o.name}` is specified more than once")
            seen.add(o.name)
    mem = c.option_index("memory")
    if mem is not None and mem >= core.memories:
        problems.append(f"memory index out of bounds: {mem} (the component has {core.memories})")
    for name in ("realloc", "post-return", "callback"):
        oi = c.option_index(name)
        if oi is not None and oi >= len(core.funcs):
            problems.append(f"canonical option `{name}`: core func index {oi} out of bounds")
    if c.option("realloc") is not None and mem is None:
        problems.append("canonical option `realloc` requires `memory` to also be specified")
    return problems


def _func_problems(c: T.Canon, ft: tv.FuncT, core: CoreSpaces) -> list[str]:
    problems = []
    params = [t for _, t in ft.params]
    results = [] if ft.result is None else [ft.result]
    lift = c.op == "lift"
    gc = c.option("gc") is not None
    is_async = c.option("async") is not None
    if is_async and c.option("post-return") is not None:
        problems.append("cannot specify post-return function in async")
    cb = c.option_index("callback")
    if lift and is_async and cb is not None and cb < len(core.funcs):
        t = core.funcs[cb]
        if t is not None and tuple(t.params) not in ((I32,) * 3, (I32,)):
            problems.append("canonical option `callback` uses a core function with an incorrect signature")
    if is_async and not ft.is_async:
        problems.append("the `async` canonical option requires an async function type")
    p_mem = any(needs_memory(t) for t in params)
    r_mem = any(needs_memory(t) for t in results)
    if is_async and not lift:
        mem_needed = p_mem or r_mem or bool(results) or flat_count(params) > 4
    elif is_async:
        mem_needed = p_mem or flat_count(params) > MAX_FLAT_PARAMS
    else:
        mem_needed = (p_mem or r_mem or flat_count(params) > MAX_FLAT_PARAMS
                      or flat_count(results) > MAX_FLAT_RESULTS)
    realloc_needed = (p_mem or flat_count(params) > MAX_FLAT_PARAMS) if lift else r_mem
    if not gc and mem_needed and c.option("memory") is None:
        problems.append("canonical option `memory` is required")
    elif not gc and realloc_needed and c.option("realloc") is None:
        problems.append("canonical option `realloc` is required")
    if not lift and c.option("post-return") is not None:
        problems.append("canonical option `post-return` cannot be specified for lowerings")
    realloc = c.option_index("realloc")
    if realloc is not None and realloc < len(core.funcs):
        t = core.funcs[realloc]
        sigs = (((I32,) * 4, (I32,)), ((I64,) * 4, (I64,)))    # memory32 / memory64
        if t is not None and (tuple(t.params), tuple(t.results)) not in sigs:
            problems.append("canonical option `realloc` uses a core function with an incorrect signature")
    post = c.option_index("post-return")
    if lift and post is not None and post < len(core.funcs) and not is_async:
        t = core.funcs[post]
        flat_results = [x for r in results for x in _flat(r)]
        want = tuple(flat_results) if len(flat_results) <= MAX_FLAT_RESULTS else (I32,)
        if t is not None and (tuple(t.params), tuple(t.results)) != (want, ()):
            problems.append("canonical option `post-return` uses a core function with an incorrect signature")
    return problems


def canon_problems(comp: Component) -> list[str]:
    """Every canonical-option problem of ``comp``'s own ``canon`` definitions, in file order."""
    spaces = comp_spaces(comp)
    if isinstance(spaces, str):
        return [spaces]
    core, scope = spaces
    problems: list[str] = []
    for i, c in enumerate(comp.canons):
        problems.extend(canon_item_problems(i, c, core, scope))
    return problems


def comp_spaces(comp: Component) -> tuple[CoreSpaces, tv.Scope] | str:
    """``comp``'s core index spaces and evaluated type scope, or the message of the problem that stops evaluation."""
    core = CoreSpaces(comp)
    try:
        return core, tv.evaluate(comp)
    except ValidationError as e:
        return str(e)


def canon_item_problems(i: int, c: T.Canon, core: CoreSpaces, scope: tv.Scope) -> list[str]:
    """The problems of the ``i``-th canon ``c`` of a component whose spaces are ``core`` and ``scope``."""
    found = _opts_problems(c, core)
    ft = None
    if c.op == "lift" and 0 <= c.args[1] < len(scope.types):
        ft = scope.types[c.args[1]]
    elif c.op == "lower" and 0 <= c.args[0] < len(scope.funcs):
        ft = scope.funcs[c.args[0]]
    if isinstance(ft, tv.FuncT):
        found += _func_problems(c, ft, core)
    return [f"canon {i} ({c.op}): {p}" for p in found]


def check_canon_options(comp: Component) -> None:
    """Raise :class:`ValidationError` with the first problem :func:`canon_problems` finds."""
    problems = canon_problems(comp)
    if problems:
        raise ValidationError(problems[0])
