"""``--emit component``: the fused core module wrapped in a component with the composition's exports.

For a composition exporting the interface ``test:fuse/fwd`` the output is::

    (component
      (core module $fused ...)                          ;; the one core module
      (core instance $f (instantiate $fused))
      (type $point (record (field "x" u32) (field "name" string)))
      (type $ft (func (param "p" $point) (result u32)))
      (alias core export $f "test:fuse/fwd#f" (core func $cf))
      (alias core export $f "memory" (core memory $m))
      (alias core export $f "cabi_realloc" (core func $r))
      (func $f (type $ft) (canon lift (core func $cf) (memory $m) (realloc $r) string-encoding=utf8))
      (instance $i (export "point" (type $point)) (export "f" (func $f)))
      (export "test:fuse/fwd" (instance $i)))

The value types are rebuilt from the composition's own export types (names of records, variants,
enums, flags and their fields/cases kept), every named type of an exported interface exported by
the instance under its name. Compositions that still import something are refused for now.
"""

from __future__ import annotations

from typing import Any

from ..binary.leb import write_u
from ..component import COMPONENT_PREAMBLE, Component, parse_component
from ..component import types as T
from ..component.typeval import Alias, Def, FuncT, InstT, evaluate
from ..errors import ValidationError
from ..module import Module
from .abi import MAX_TYPE_DEPTH, FuseError
from .plan import Plan

__all__ = ["wrap"]


class _Types:
    """Type definitions appended to one type section, memoised by object identity."""

    def __init__(self) -> None:
        self.items: list = []
        self.memo: dict[int, Any] = {}

    def add(self, item) -> int:
        self.items.append(item)
        return len(self.items) - 1

    def val(self, t: Any, depth: int = 0) -> Any:
        if depth > MAX_TYPE_DEPTH:
            raise FuseError("--emit component: value type nesting too deep")
        if isinstance(t, str):
            return t
        key = id(t)
        if key in self.memo:
            return self.memo[key]
        if isinstance(t, Alias):
            idx = self.val(t.target, depth + 1)
        elif isinstance(t, Def):
            idx = self.add(self._defined(t, depth))
        else:
            raise FuseError(f"--emit component: cannot write the type {t!r}")
        self.memo[key] = idx
        return idx

    def _defined(self, t: Def, depth: int):
        v = lambda x: None if x is None else self.val(x, depth + 1)  # noqa: E731
        k, d = t.kind, t.data
        if k == "prim":
            return T.Primitive(d)
        if k == "record":
            return T.Record(tuple((n, v(x)) for n, x in d))
        if k == "variant":
            return T.Variant(tuple(T.Case(n, v(x)) for n, x in d))
        if k == "list":
            return T.List(v(d))
        if k == "tuple":
            return T.Tuple(tuple(v(x) for x in d))
        if k == "flags":
            return T.Flags(tuple(d))
        if k == "enum":
            return T.Enum(tuple(d))
        if k == "option":
            return T.Option(v(d))
        if k == "result":
            return T.Result(v(d[0]), v(d[1]))
        raise FuseError(f"--emit component: values of kind {k} are not supported")

    def func(self, ft: FuncT) -> int:
        return self.add(T.FuncType(tuple((n, self.val(x)) for n, x in ft.params),
                                   None if ft.result is None else self.val(ft.result)))


def _section(sid: int, payload: bytes) -> bytes:
    return bytes((sid,)) + write_u(len(payload)) + payload


def wrap(core: Module, p: Plan, source: Component) -> Component:
    """The component around ``core`` (the fused module of plan ``p`` of the composition ``source``)."""
    if p.host:
        raise FuseError("--emit component: compositions that still import functions are not supported yet "
                        "(use --emit core)")
    try:
        top = evaluate(source)
    except ValidationError as e:
        raise FuseError(str(e)) from None
    core_names = {e.name for e in core.exports}
    types = _Types()
    aliases: list = []
    canons: list = []
    insts: list = []
    exports: list = []
    n_funcs = 0

    def core_item(sort: str, name: str) -> int:
        if name not in core_names:
            raise FuseError(f"--emit component: the fused module does not export `{name}`")
        aliases.append(T.InstanceExportAlias(sort, 0, name))
        return sum(1 for a in aliases if a.sort == sort) - 1

    def lift(core_name: str, ft: FuncT) -> int:
        nonlocal n_funcs
        lifted = p.exports[core_name]
        opts = [T.CanonOption(lifted.options.encoding)]
        if lifted.options.memory is not None:
            opts.append(T.CanonOption("memory", core_item("core memory", _mem_name(p, lifted))))
        if lifted.options.realloc is not None:
            opts.append(T.CanonOption("realloc", core_item("core func", _realloc_name(p, lifted))))
        if lifted.options.post_return is not None:
            opts.append(T.CanonOption("post-return", core_item("core func", f"cabi_post_{core_name}")))
        func = core_item("core func", core_name)
        canons.append(T.Canon("lift", (func, types.func(ft)), tuple(opts)))
        n_funcs += 1
        return n_funcs - 1

    for name, ent in top.exports.items():
        if ent.sort == "func" and isinstance(ent.ty, FuncT) and name in p.exports:
            exports.append(T.Export(T.ExternName(name), "func", lift(name, ent.ty)))
        elif ent.sort == "instance" and isinstance(ent.ty, InstT):
            items = []
            for n, x in ent.ty.exports.items():
                if x.sort == "type":
                    items.append(T.Export(T.ExternName(n), "type", types.val(x.ty)))
                elif x.sort == "func" and f"{name}#{n}" in p.exports:
                    items.append(T.Export(T.ExternName(n), "func", lift(f"{name}#{n}", x.ty)))
                else:
                    raise FuseError(f"--emit component: cannot export `{name}` `{n}` ({x.sort})")
            insts.append(T.InstanceExports(tuple(items)))
            exports.append(T.Export(T.ExternName(name), "instance", len(insts) - 1))
        else:
            raise FuseError(f"--emit component: cannot export `{name}` ({ent.sort})")
    rest = Component()
    rest.add_section(2, [T.CoreInstantiate(0, ())])
    for sid, items in ((7, types.items), (6, aliases), (8, canons), (5, insts), (11, exports)):
        if items:
            rest.add_section(sid, items)
    body = rest.encode()[len(COMPONENT_PREAMBLE):]
    return parse_component(COMPONENT_PREAMBLE + _section(1, core.encode()) + body)


def _mem_name(p: Plan, lifted) -> str:
    for name, other in p.exports.items():
        if other.options.memory is not None:
            return "memory" if other.options.memory == lifted.options.memory else _no(name)
    return _no("memory")


def _realloc_name(p: Plan, lifted) -> str:
    for name, other in p.exports.items():
        if other.options.realloc is not None:
            return "cabi_realloc" if other.options.realloc == lifted.options.realloc else _no(name)
    return _no("cabi_realloc")


def _no(name: str) -> str:
    raise FuseError(f"--emit component: exports lifted with different memories are not supported yet ({name})")
