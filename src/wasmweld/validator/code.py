"""Function bodies: the operand-stack type checker of the spec's validation algorithm.

One :class:`BodyChecker` per module walks each body's instructions (as decoded
by the fast path of :func:`wasmweld.binary.instr.decode_body`) once::

    (func (param i32) (result i32)
      local.get 0        ;; stack [i32]
      i32.const 1        ;; stack [i32 i32]
      i32.add)           ;; i32.add: [i32 i32] -> [i32]

The hot loop keeps the operand stack as a list of interned type objects (so
checks are ``is`` comparisons) and dispatches without allocating: ``local.*``
inline; every instruction whose effect depends only on the module (numeric,
memory, call, global, GC field access ...) through a cache keyed by the
instruction's bytes that holds ``(n, pops, pushes)``; the rest (control,
polymorphic and function-dependent instructions) through :mod:`.control`.
"""

from __future__ import annotations

from ..binary.opcodes import BY_NAME, OPCODES
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..binary.instr import Instr
from ..types import I32, FuncType, RefType, ValType
from .control import HANDLERS, LABELS, UNREACHABLE, Frame
from .invalid import Invalid
from .immediates import fixed_sig
from .sigs import FEATURE_OF
from .typectx import BOT, TypeContext, types_str

if TYPE_CHECKING:   # modcheck imports this module
    from .modcheck import ModuleContext

__all__ = ["BodyChecker", "Invalid"]


_LOCAL_GET, _LOCAL_SET, _LOCAL_TEE = (BY_NAME[n].code for n in ("local.get", "local.set", "local.tee"))
#: shapes >= _CONTROL in the byte table mark control instructions with an inline fast path
_CONTROL, _K_END, _K_BR_IF, _K_BLOCK, _K_DROP, _K_IF = 10, 10, 11, 12, 13, 14
_CONTROL_ENTRIES = {"end": (_K_END,), "br_if": (_K_BR_IF,), "block": (_K_BLOCK, "block"), "loop": (_K_BLOCK, "loop"),
                    "drop": (_K_DROP,), "if": (_K_IF,)}


def _byte_sigs(features: frozenset[str]) -> list[Any]:
    """Byte -> (n, pops, pushes) for one-byte opcodes whose effect depends on nothing else."""
    out: list[Any] = [None] * 256
    for name, entry in _CONTROL_ENTRIES.items():
        out[BY_NAME[name].code] = entry
    for op in OPCODES:
        if op.prefix is not None or "memarg" in op.imm:
            continue
        s = fixed_sig(op)
        if s is None:
            continue
        feat = FEATURE_OF.get(op.name)
        if feat is not None and feat not in features:
            continue
        out[op.code] = s
    return out


_BYTE_SIGS_CACHE: dict[Any, Any] = {}


class BodyChecker:
    """Validates function bodies of one module (``mc``: the module context of :mod:`.module`)."""

    def __init__(self, mc: ModuleContext) -> None:
        self.mc: ModuleContext = mc
        self.tc: TypeContext = mc.tc
        self.sub: Callable[[Any, Any], bool] = mc.tc.sub
        self.features: frozenset[str] = mc.features
        sigs = _BYTE_SIGS_CACHE.get(mc.features)
        if sigs is None:
            sigs = _BYTE_SIGS_CACHE[mc.features] = _byte_sigs(mc.features)
        self.byte_sigs: list[Any] = sigs
        self.cache: dict[Any, Any] = {}
        #: the operand stack (value types, or the unknown type of unreachable code)
        self.stack: list[Any] = []
        #: the control frames (see :mod:`.control`)
        self.frames: list[Any] = []
        self.h: int = 0
        self.unr: bool = False
        self.uninit: set[int] | None = None
        self.initlog: list[int] = []
        self.ltypes: list[Any] = []
        self.results: tuple[Any, ...] = ()
        #: the index of the instruction being checked
        self.pos: int = 0

    # ------------------------------------------------------------------ entry point
    def check(self, fidx: int, ftype: FuncType, locals_: Sequence[tuple[int, ValType]], instrs: list[Instr]) -> None:
        """Validate one body; raises :class:`Invalid` (with ``self.pos`` the instruction index)."""
        tc = self.tc
        self.pos = 0
        ltypes = list(ftype.params)
        uninit: set[int] | None = None
        total = len(ltypes)
        for count, t in locals_:
            total += count
            if total > 50000:
                raise Invalid("too many locals")
            t = tc.val(t)
            if not tc.defaultable(t):
                if uninit is None:
                    uninit = set()
                uninit.update(range(len(ltypes), len(ltypes) + count))
            ltypes.extend([t] * count)
        self.ltypes = ltypes
        self.uninit = uninit
        self.initlog = []
        self.results = ftype.results
        self.stack = []
        self.frames = [Frame("func", (), ftype.results, 0, 0)]
        self.h = 0
        self.unr = False
        self.pos = 0
        self.run(instrs)
        if self.frames:
            raise Invalid("END opcode expected: function body does not close all blocks")

    def run(self, instrs: list[Instr]) -> None:
        """The hot loop: inline paths for the common cases, :data:`HANDLERS` for the rest."""
        stack, frames, ltypes, initlog = self.stack, self.frames, self.ltypes, self.initlog
        push, nloc, fast_locals = stack.append, len(ltypes), self.uninit is None
        byte_sigs, cache_get, handlers, i32 = self.byte_sigs, self.cache.get, HANDLERS, I32
        lget, lset, ltee = _LOCAL_GET, _LOCAL_SET, _LOCAL_TEE
        h = 0
        i = -1
        for i, ins in enumerate(instrs):
            raw = ins[2]
            b = raw[0]
            if b == lget:
                x = ins[1][0]
                if x < nloc and fast_locals:
                    push(ltypes[x])
                    continue
            elif b == lset or b == ltee:
                x = ins[1][0]
                if x < nloc and fast_locals and len(stack) > h and stack[-1] is ltypes[x]:
                    if b == lset:
                        stack.pop()
                    continue
            sig = byte_sigs[b] or cache_get(raw)
            if sig is not None:
                k = sig[0]
                if k == 1:
                    push(sig[5])
                    continue
                if k < _CONTROL:
                    top = len(stack) - h
                    if k == 2:
                        if top and stack[-1] is sig[3]:
                            stack[-1] = sig[5]
                            continue
                    elif k == 4:
                        if top > 1 and stack[-1] is sig[3] and stack[-2] is sig[4]:
                            del stack[-1]
                            stack[-1] = sig[5]
                            continue
                    elif k == 5:
                        if top > 1 and stack[-1] is sig[3] and stack[-2] is sig[4]:
                            del stack[-2:]
                            continue
                    elif k == 3:
                        if top and stack[-1] is sig[3]:
                            del stack[-1]
                            continue
                    pops = sig[1]
                    n = len(pops)
                    if top >= n and stack[-n:] == pops:
                        del stack[-n:]
                    else:
                        self.pos = i
                        self.pop_vals(pops, ins)
                    stack += sig[2]
                    continue
                if k == _K_END:
                    fr = frames[-1]
                    res = fr[2]
                    nr = len(res)
                    if len(stack) - fr[3] == nr and (nr == 0 or (nr == 1 and stack[-1] is res[0])) \
                            and (fr[0] != "if" or not (nr or fr[1])) and fast_locals:
                        frames.pop()
                        if frames:
                            fr = frames[-1]
                            self.h = h = fr[3]
                            self.unr = fr[5]
                        continue
                elif k == _K_BR_IF:
                    if len(stack) > h and stack[-1] is i32:
                        x = ins[1][0]
                        if x < len(frames) and not frames[-1 - x][6]:
                            stack.pop()
                            continue
                elif k == _K_BLOCK:
                    if ins[1][0] is None and fast_locals:
                        self.h = h = len(stack)
                        self.unr = False
                        frames.append([sig[1], (), (), h, 0, False, ()])
                        continue
                elif k == _K_DROP:
                    if len(stack) > h:
                        stack.pop()
                        continue
                elif k == _K_IF:
                    if ins[1][0] is None and fast_locals and len(stack) > h and stack[-1] is i32:
                        stack.pop()
                        self.h = h = len(stack)
                        self.unr = False
                        frames.append(["if", (), (), h, len(initlog), False, ()])
                        continue
            self.pos = i
            handlers[ins[0].name](self, ins)
            h = self.h
        self.pos = i

    # ------------------------------------------------------------------ stack helpers
    def mismatch(self, ins: Instr | None, expected: Sequence[Any], what: str | None = None) -> Invalid:
        """The type-mismatch error of ``ins`` wanting ``expected`` on the stack."""
        n = max(len(expected), 1)
        found = self.stack[max(self.h, len(self.stack) - n):]
        name = what or (ins[0].name if ins is not None else "instruction")
        return Invalid(f"type mismatch: {name} expects {types_str(expected)} but the stack has {types_str(found)}",
                       tuple(expected), tuple(found))

    def pop_vals(self, expected: Sequence[Any], ins: Instr | None, what: str | None = None) -> None:
        """Pop values matching ``expected`` (bottom to top), with subtyping and the polymorphic stack."""
        stack = self.stack
        n = len(expected)
        avail = len(stack) - self.h
        sub = self.sub
        for k in range(1, n + 1):
            e = expected[-k]
            if k <= avail:
                a = stack[-k]
                if not (a is e or sub(a, e)):
                    raise self.mismatch(ins, expected, what)
            elif not self.unr:
                raise self.mismatch(ins, expected, what)
        del stack[len(stack) - min(n, avail):]

    def pop1(self, expected: Any, ins: Instr | None, what: str | None = None) -> Any:
        """Pop one value that must be a subtype of ``expected``; returns its type (BOT if unknown)."""
        stack = self.stack
        if len(stack) > self.h:
            a = stack[-1]
            if not (a is expected or self.sub(a, expected)):
                raise self.mismatch(ins, (expected,), what)
            return stack.pop()
        if self.unr:
            return BOT
        raise self.mismatch(ins, (expected,), what)

    def pop_any(self, ins: Instr, what: str = "a value") -> Any:
        """Pop one value of any type (BOT if the stack is polymorphic)."""
        stack = self.stack
        if len(stack) > self.h:
            return stack.pop()
        if self.unr:
            return BOT
        raise Invalid(f"type mismatch: {ins[0].name} expects {what} but the stack is empty", (what,), ())

    def pop_ref(self, ins: Instr) -> Any:
        """Pop one reference of any type (BOT if unknown)."""
        t = self.pop_any(ins, "a reference")
        if t is not BOT and not isinstance(t, RefType):
            raise Invalid(f"type mismatch: {ins[0].name} expects a reference but the stack has [{t}]",
                          ("ref",), (t,))
        return t

    def push_vals(self, ts: Sequence[Any]) -> None:
        """Push ``ts`` (bottom to top)."""
        self.stack += ts

    def set_unreachable(self) -> None:
        """The rest of the block is unreachable: the stack above the frame's height becomes polymorphic."""
        del self.stack[self.h:]
        self.unr = True
        self.frames[-1][UNREACHABLE] = True

    def label_types(self, depth: int, ins: Instr) -> Any:
        """The types a branch to label ``depth`` carries."""
        frames = self.frames
        if depth >= len(frames):
            raise Invalid(f"unknown label {depth}")
        return frames[-1 - depth][LABELS]

    def use_feature(self, ins: Instr) -> None:
        """Refuse ``ins`` when the feature it needs is not enabled."""
        feat = FEATURE_OF.get(ins[0].name)
        if feat is not None and feat not in self.features:
            raise Invalid(f"{ins[0].name} requires the {feat} feature, which is not enabled")

    def check_i32(self, ins: Instr) -> None:
        """Pop one i32 for ``ins``."""
        self.pop1(I32, ins)
