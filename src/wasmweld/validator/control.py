"""Control, polymorphic and function-dependent instructions of the body checker.

Each handler takes the :class:`~.code.BodyChecker` and the instruction. Blocks
push a :class:`Frame` (its label types, the operand stack height at entry and
the locals initialised inside it); ``end`` checks that exactly the block's
results are left::

    (block (result i32)      ;; frame [] -> [i32], height 0
      i32.const 1
      br 0                   ;; pops [i32] for label 0, then the stack is polymorphic
      f64.add)               ;; fine: unreachable code pops unknown values
"""

from __future__ import annotations

from typing import Any, Callable

from ..types import I32, RefType
from .immediates import BUILDERS, build_sig, make_entry
from .invalid import Invalid
from .typectx import BOT, types_str

__all__ = ["Frame", "HANDLERS", "KIND", "PARAMS", "RESULTS", "HEIGHT", "INITLEN", "UNREACHABLE", "LABELS"]


#: indices into a control frame (a list, for speed): kind, params, results, stack height at entry,
#: length of the initialised-locals log at entry, unreachable flag, label types
KIND, PARAMS, RESULTS, HEIGHT, INITLEN, UNREACHABLE, LABELS = range(7)


def Frame(kind: str, params: tuple[Any, ...], results: tuple[Any, ...], height: int, initlen: int) -> list[Any]:
    """A new control frame: ``kind`` (block, loop, if, else, try, catch, catch_all, try_table, func)."""
    return [kind, params, results, height, initlen, False, params if kind == "loop" else results]


def _invalid(message: str, expected=None, found=None):
    return Invalid(message, expected, found)


# ---------------------------------------------------------------------- helpers

def _blocktype(c, bt):
    if bt is None:
        return (), ()
    if isinstance(bt, int):
        ft = c.tc.func_type(bt, "block type")
        return ft.params, ft.results
    return (), (c.tc.val(bt),)


def _push_frame(c, kind: str, params: tuple[Any, ...], results: tuple[Any, ...]) -> None:
    c.frames.append(Frame(kind, params, results, len(c.stack), len(c.initlog)))
    c.h = len(c.stack)
    c.unr = False
    c.stack += params


def _restore_inits(c, frame: list[Any]) -> None:
    log = c.initlog
    if len(log) > frame[INITLEN]:
        c.uninit.update(log[frame[INITLEN]:])
        del log[frame[INITLEN]:]


def _check_end(c, ins, frame: list[Any]) -> None:
    """The stack of ``frame`` must hold exactly its results."""
    res = frame[RESULTS]
    c.pop_vals(res, ins, f"{ins[0].name} of {frame[KIND]}")
    if len(c.stack) != frame[HEIGHT]:
        found = c.stack[frame[HEIGHT]:] + list(res)
        raise _invalid(f"type mismatch: {ins[0].name} of {frame[KIND]} expects {types_str(res)} "
                       f"but the stack has {types_str(found)}", tuple(res), tuple(found))


def _leave(c) -> None:
    if c.frames:
        f = c.frames[-1]
        c.h = f[HEIGHT]
        c.unr = f[UNREACHABLE]
    else:
        c.h = 0
        c.unr = False


def _peek_check(c, ins, types) -> None:
    stack = c.stack
    avail = len(stack) - c.h
    for k in range(1, len(types) + 1):
        if k <= avail:
            a = stack[-k]
            if not (a is types[-k] or c.sub(a, types[-k])):
                raise c.mismatch(ins, types)
        elif not c.unr:
            raise c.mismatch(ins, types)


def _tag_params(c, x: int) -> tuple[Any, ...]:
    if x >= len(c.mc.tags):
        raise _invalid(f"unknown tag {x}")
    return c.mc.tags[x].params


# ---------------------------------------------------------------------- blocks

def _block(c, ins) -> None:
    c.use_feature(ins)
    params, results = _blocktype(c, ins[1][0])
    c.pop_vals(params, ins)
    _push_frame(c, ins[0].name, params, results)


def _if(c, ins) -> None:
    params, results = _blocktype(c, ins[1][0])
    c.pop1(I32, ins)
    c.pop_vals(params, ins)
    _push_frame(c, "if", params, results)


def _try_table(c, ins) -> None:
    c.use_feature(ins)
    bt, catches = ins[1]
    params, results = _blocktype(c, bt)
    exn = c.tc.mkref(False, "exn")
    for cat in catches:
        vals = () if cat.tag is None else _tag_params(c, cat.tag)
        if cat.kind.endswith("_ref"):
            vals = vals + (exn,)
        lt = c.label_types(cat.label, ins)
        if len(lt) != len(vals) or not all(c.sub(a, b) for a, b in zip(vals, lt)):
            raise _invalid(f"type mismatch: {cat.kind} label {cat.label} takes {types_str(lt)} "
                           f"but the clause gives {types_str(vals)}", tuple(lt), tuple(vals))
    c.pop_vals(params, ins)
    _push_frame(c, "try_table", params, results)


def _else(c, ins) -> None:
    frame = c.frames[-1]
    if frame[KIND] != "if":
        raise _invalid("else found outside an if block")
    _check_end(c, ins, frame)
    if c.uninit is not None:
        _restore_inits(c, frame)
    frame[KIND] = "else"
    frame[UNREACHABLE] = False
    c.unr = False
    c.stack += frame[PARAMS]


def _end(c, ins) -> None:
    frame = c.frames[-1]
    _check_end(c, ins, frame)
    if frame[KIND] == "if":
        p, r = frame[PARAMS], frame[RESULTS]
        if len(p) != len(r) or not all(c.sub(a, b) for a, b in zip(p, r)):
            raise _invalid(f"type mismatch: if without else must leave its parameters {types_str(p)} "
                           f"as results {types_str(r)}", tuple(r), tuple(p))
    c.frames.pop()
    if c.uninit is not None:
        _restore_inits(c, frame)
    _leave(c)
    c.stack += frame[RESULTS]


def _catch(c, ins) -> None:
    c.use_feature(ins)
    frame = c.frames[-1]
    name = ins[0].name
    if frame[KIND] not in ("try", "catch"):
        raise _invalid(f"{name} found outside a try block" if frame[KIND] != "catch_all"
                       else f"{name} after catch_all")
    params = _tag_params(c, ins[1][0]) if name == "catch" else ()
    _check_end(c, ins, frame)
    if c.uninit is not None:
        _restore_inits(c, frame)
    frame[KIND] = name
    frame[UNREACHABLE] = False
    c.unr = False
    c.stack += params


def _delegate(c, ins) -> None:
    c.use_feature(ins)
    frame = c.frames[-1]
    if frame[KIND] != "try":
        raise _invalid("delegate found outside a try block")
    _check_end(c, ins, frame)
    c.frames.pop()
    if ins[1][0] >= len(c.frames):
        raise _invalid(f"unknown label {ins[1][0]}: delegate target")
    if c.uninit is not None:
        _restore_inits(c, frame)
    _leave(c)
    c.stack += frame[RESULTS]


# ---------------------------------------------------------------------- branches

def _unreachable(c, ins) -> None:
    c.set_unreachable()


def _nop(c, ins) -> None:
    pass


def _br(c, ins) -> None:
    c.pop_vals(c.label_types(ins[1][0], ins), ins)
    c.set_unreachable()


def _br_if(c, ins) -> None:
    c.pop1(I32, ins)
    lt = c.label_types(ins[1][0], ins)
    c.pop_vals(lt, ins)
    c.stack += lt


def _br_table(c, ins) -> None:
    c.pop1(I32, ins)
    labels, default = ins[1]
    dt = c.label_types(default, ins)
    arity = len(dt)
    for lab in labels:
        lt = c.label_types(lab, ins)
        if len(lt) != arity:
            raise _invalid(f"type mismatch: br_table label {lab} takes {len(lt)} values but the default "
                           f"label {default} takes {arity}", tuple(dt), tuple(lt))
        _peek_check(c, ins, lt)
    _peek_check(c, ins, dt)
    c.set_unreachable()


def _return(c, ins) -> None:
    c.pop_vals(c.results, ins)
    c.set_unreachable()


def _return_call(c, ins) -> None:
    c.use_feature(ins)
    pops, results = BUILDERS[ins[0].name[7:]](c.mc, ins)
    c.pop_vals(pops, ins)
    mine = c.results
    if len(results) != len(mine) or not all(c.sub(a, b) for a, b in zip(results, mine)):
        raise _invalid(f"type mismatch: {ins[0].name} returns {types_str(results)} but the function "
                       f"returns {types_str(mine)}", tuple(mine), tuple(results))
    c.set_unreachable()


def _throw(c, ins) -> None:
    c.use_feature(ins)
    c.pop_vals(_tag_params(c, ins[1][0]), ins)
    c.set_unreachable()


def _throw_ref(c, ins) -> None:
    c.use_feature(ins)
    c.pop1(c.tc.mkref(True, "exn"), ins)
    c.set_unreachable()


def _rethrow(c, ins) -> None:
    c.use_feature(ins)
    d = ins[1][0]
    if d >= len(c.frames):
        raise _invalid(f"unknown label {d}")
    if c.frames[-1 - d][KIND] not in ("catch", "catch_all"):
        raise _invalid(f"invalid rethrow label {d}: not a catch block")
    c.set_unreachable()


# ---------------------------------------------------------------------- parametric, locals

def _drop(c, ins) -> None:
    c.pop_any(ins)


def _select(c, ins) -> None:
    c.pop1(I32, ins)
    t1 = c.pop_any(ins)
    t2 = c.pop_any(ins)
    for t in (t1, t2):
        if isinstance(t, RefType):
            raise _invalid(f"type mismatch: select without a type annotation on a reference ({t})", ("num",), (t,))
    if t1 is not BOT and t2 is not BOT and t1 is not t2:
        raise _invalid(f"type mismatch: select expects two values of one type but the stack has "
                       f"{types_str((t2, t1))}", (t1, t1), (t2, t1))
    c.stack.append(t2 if t1 is BOT else t1)


def _local(c, ins):
    x = ins[1][0]
    if x >= len(c.ltypes):
        raise _invalid(f"unknown local {x}")
    return x, c.ltypes[x]


def _local_get(c, ins) -> None:
    x, t = _local(c, ins)
    if c.uninit is not None and x in c.uninit:
        raise _invalid(f"uninitialized local {x}")
    c.stack.append(t)


def _local_set(c, ins) -> None:
    x, t = _local(c, ins)
    c.pop1(t, ins)
    if c.uninit is not None and x in c.uninit:
        c.uninit.discard(x)
        c.initlog.append(x)
    if ins[0].name == "local.tee":
        c.stack.append(t)


# ---------------------------------------------------------------------- references

def _ref_is_null(c, ins) -> None:
    c.use_feature(ins)
    c.pop_ref(ins)
    c.stack.append(I32)


def _ref_as_non_null(c, ins) -> None:
    c.use_feature(ins)
    t = c.pop_ref(ins)
    c.stack.append(t if t is BOT else c.tc.mkref(False, t.heap))


def _br_on_null(c, ins) -> None:
    c.use_feature(ins)
    t = c.pop_ref(ins)
    lt = c.label_types(ins[1][0], ins)
    c.pop_vals(lt, ins)
    c.stack += lt
    c.stack.append(t if t is BOT else c.tc.mkref(False, t.heap))


def _br_on_non_null(c, ins) -> None:
    c.use_feature(ins)
    t = c.pop_ref(ins)
    lt = c.label_types(ins[1][0], ins)
    if not lt or not isinstance(lt[-1], RefType):
        raise _invalid(f"type mismatch: br_on_non_null label {ins[1][0]} must take a reference last "
                       f"but takes {types_str(lt)}")
    if t is not BOT and not c.sub(c.tc.mkref(False, t.heap), lt[-1]):
        raise c.mismatch(ins, lt)
    c.pop_vals(lt[:-1], ins)
    c.stack += lt[:-1]


def _same_hierarchy(c, ins, t, h) -> None:
    if t is not BOT and c.tc.top_of(t.heap) != c.tc.top_of(h):
        raise _invalid(f"type mismatch: {ins[0].name} of {t} to a heap type of another hierarchy ({h})")


def _ref_test(c, ins) -> None:
    c.use_feature(ins)
    h = c.tc.heap(ins[1][0])
    t = c.pop_ref(ins)
    _same_hierarchy(c, ins, t, h)
    name = ins[0].name
    if name.startswith("ref.test"):
        c.stack.append(I32)
    else:
        c.stack.append(c.tc.mkref(name.endswith("_null"), h))


def _br_on_cast(c, ins) -> None:
    c.use_feature(ins)
    flags, label, h1, h2 = ins[1]
    tc = c.tc
    rt1 = tc.mkref(bool(flags & 1), tc.heap(h1))
    rt2 = tc.mkref(bool(flags & 2), tc.heap(h2))
    if not tc.sub(rt2, rt1):
        raise _invalid(f"type mismatch: {ins[0].name} target type {rt2} is not a subtype of {rt1}")
    c.pop1(rt1, ins)
    lt = c.label_types(label, ins)
    diff = tc.mkref(rt1.nullable and not rt2.nullable, rt1.heap)
    taken, rest = (rt2, diff) if ins[0].name == "br_on_cast" else (diff, rt2)
    if not lt or not tc.sub(taken, lt[-1]):
        raise _invalid(f"type mismatch: {ins[0].name} label {label} takes {types_str(lt)} "
                       f"but the branch gives {taken}", tuple(lt), (taken,))
    c.pop_vals(lt[:-1], ins)
    c.stack += lt[:-1]
    c.stack.append(rest)


def _convert(c, ins) -> None:
    c.use_feature(ins)
    src, dst = ("extern", "any") if ins[0].name == "any.convert_extern" else ("any", "extern")
    t = c.pop1(c.tc.mkref(True, src), ins)
    c.stack.append(c.tc.mkref(True if t is BOT else t.nullable, dst))


# ---------------------------------------------------------------------- everything cacheable

def _generic(c, ins) -> None:
    """Instructions with a fixed effect given the module: check once, cache under their bytes."""
    c.use_feature(ins)
    sig = build_sig(c.mc, ins)
    if sig is None:
        raise _invalid(f"{ins[0].name} is not supported by the validator")
    pops, pushes = sig
    entry = make_entry(pops, pushes)
    c.cache[ins[2]] = entry
    if pops:
        c.pop_vals(pops, ins)
    c.stack += entry[2]


class _Handlers(dict):
    def __missing__(self, name):
        return _generic


#: the handler of each control/operand-stack instruction by name, ``handler(checker, instr)``; the generic
#: one (the fixed effect of its signature, checked once and cached) for every other name
HANDLERS: dict[str, Callable[[Any, Any], None]] = _Handlers({
    "block": _block, "loop": _block, "try": _block, "if": _if, "try_table": _try_table,
    "else": _else, "end": _end, "catch": _catch, "catch_all": _catch, "delegate": _delegate,
    "unreachable": _unreachable, "nop": _nop, "br": _br, "br_if": _br_if, "br_table": _br_table,
    "return": _return, "return_call": _return_call, "return_call_indirect": _return_call,
    "return_call_ref": _return_call, "throw": _throw, "throw_ref": _throw_ref, "rethrow": _rethrow,
    "drop": _drop, "select": _select, "local.get": _local_get, "local.set": _local_set, "local.tee": _local_set,
    "ref.is_null": _ref_is_null, "ref.as_non_null": _ref_as_non_null, "br_on_null": _br_on_null,
    "br_on_non_null": _br_on_non_null, "ref.test": _ref_test, "ref.test_null": _ref_test,
    "ref.cast": _ref_test, "ref.cast_null": _ref_test, "br_on_cast": _br_on_cast, "br_on_cast_fail": _br_on_cast,
    "any.convert_extern": _convert, "extern.convert_any": _convert,
})
