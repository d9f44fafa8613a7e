"""Function bodies as text (the flat, one-instruction-a-line form of ``wasm-tools print``)::

    (func (;0;) (type 0) (param i32) (result i32)
      (local i32)
      block ;; label = @1
        local.get 0
        br_if 0 (;@1;)
      end
      i32.const 7
    )

The hot loop appends strings to a list: context-free instructions come from a
cache keyed by their encoded bytes (instructions are shared objects, so the
bytes' hash is computed once), blocks and branches are formatted in place from
the label stack, exactly as wasmprinter tracks it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from operator import itemgetter

from .instrs import CONTEXT_KINDS, InstrText, TypeText, named_group, text_name
from .names import Names
from ..binary.instr import Instr
from ..types import ValType

__all__ = ["BodyPrinter", "BodyState", "MAX_NESTING_TO_PRINT"]

MAX_NESTING_TO_PRINT = 50


class BodyPrinter:
    """Prints the instructions of bodies and constant expressions; one per module (it owns the caches)."""

    def __init__(self, names: Names, tt: TypeText, indent: str = "  ") -> None:
        self.names: Names = names
        self.tt: TypeText = tt
        self.it: InstrText = InstrText(tt)
        self.cache: dict[Any, Any] = {}
        #: block/loop/if/try encodings -> "block (result i32)" (functions without label names)
        self.heads: dict[Any, Any] = {}
        self.ind: list[str] = [indent * min(n, MAX_NESTING_TO_PRINT) for n in range(MAX_NESTING_TO_PRINT + 1)]
        self.nl: list[str] = ["\n" + s for s in self.ind]

    def indent(self, n: int) -> str:
        return self.ind[n if n <= MAX_NESTING_TO_PRINT else MAX_NESTING_TO_PRINT]

    # ------------------------------------------------------------------ locals
    def locals_text(self, func: int, nparams: int, locals_: Sequence[tuple[int, ValType]]) -> str:
        types = []
        for count, t in locals_:
            types.extend([t] * count)
        return named_group("local", types, self.names.local, func, nparams, self.tt.val)

    # ------------------------------------------------------------------ pieces shared with folding
    def block_head(self, ins: Instr, func: int, label: int) -> tuple[str, bool]:
        """``block $name (result i32)``: the name (if any) and block type; returns (text, has_name)."""
        op, args = ins[0], ins[1]
        out = [op.name]
        n = self.names.label.get((func, label)) if func in self.names.label_funcs else None
        if n is not None:
            out.append(" " + n.defn)
        bt = args[0]
        if bt is not None:
            if isinstance(bt, int):
                out.append(" " + self.tt.type_use(bt)[0])
            else:
                out.append(f" (result {self.tt.val(bt)})")
        return "".join(out), n is not None

    def rel(self, depth: int, cur: int, labels: list[Any], func: int) -> str:
        """A branch target: a label name, or the depth with its ``(;@N;)`` comment."""
        i = cur - depth
        if i < 0:
            return f"{depth} (; INVALID ;)"
        conflict = False
        if func in self.names.label_funcs and i >= 1 and i - 1 < len(labels):
            lnames = self.names.label
            n = lnames.get((func, labels[i - 1]))
            if n is not None:
                for other in labels[i:]:
                    o = lnames.get((func, other))
                    if o is not None and o.name == n.name:
                        conflict = True
                        break
                if not conflict:
                    return n.defn
        if not conflict and i > 0:
            return f"{depth} (;@{i};)"
        return str(depth)

    def ref_pair(self, ins: Instr) -> str:
        flags, _label, h1, h2 = ins[1]
        from ..types import RefType
        return f"{self.tt.ref(RefType(bool(flags & 1), h1))} {self.tt.ref(RefType(bool(flags & 2), h2))}"

    def try_table_catches(self, ins: Instr, cur: int, labels: list[Any], func: int) -> str:
        out = []
        tag = self.names.tag
        idx = self.tt.idx
        for c in ins[1][1]:
            if c.tag is not None:
                out.append(f" ({c.kind} {idx(tag, c.tag)} {self.rel(c.label, cur, labels, func)})")
            else:
                out.append(f" ({c.kind} {self.rel(c.label, cur, labels, func)})")
        return "".join(out)

    # ------------------------------------------------------------------ the flat body loop
    def flat(self, w: Callable[[str], object], instrs: list[Instr], func: int, nest0: int, offsets: int | None = None, sep_space: bool = False,
             hints: list[Any] | None = None, start: int = 0, body_start: int = 0) -> None:
        """Write ``instrs`` (without the final ``end``) through ``w``, one per line at ``nest0``.

        ``offsets``: absolute offset of the first instruction (prints ``(;@off;)`` on each line).
        ``sep_space``: constant expressions (space separated, on one line).
        ``hints``: branch hints ``[(hint offset, offset in body, taken)]`` of this function, printed as
        ``(@metadata.code.branch_hint "\\01")`` lines; ``start``/``body_start``: absolute offsets of the
        first instruction and of the body (what hint offsets count from).

        The texts of all instructions are looked up in the cache at once (C speed); the runs
        between two misses share a nesting level and are joined with one newline string; each
        miss (a block, branch or new instruction) is handled by :meth:`step`.
        """
        if sep_space:
            self.spaced(w, instrs, func)
            return
        cache = self.cache if func not in self.names.local_funcs else {}
        st = BodyState(nest0)
        if offsets is not None or hints:
            self._one_by_one(w, instrs, func, st, cache, offsets is not None, hints or [],
                             offsets if offsets is not None else start, body_start)
            return
        texts: list[Any] = list(map(cache.get, map(_RAW, instrs)))     # a text, or None for a miss
        index = texts.index
        n = len(texts)
        nl = self.nl
        top = MAX_NESTING_TO_PRINT
        fast = func not in self.names.label_funcs  # no label names: blocks and branches by number
        heads = self.heads
        kinds = CONTEXT_KINDS
        labels = st.labels
        i = 0
        while i < n:
            try:
                j = index(None, i)
            except ValueError:
                j = n
            nesting = st.nesting
            if j > i:
                sep = nl[nesting if nesting <= top else top]
                w(sep)
                w(sep.join(texts[i:j]))
                if j == n:
                    return
            i = j + 1
            ins = instrs[j]
            k = kinds.get(ins[0].name, 0) if fast else -1
            if k == 3:  # end
                if nesting > nest0:
                    nesting = st.nesting = nesting - 1
                if labels:
                    labels.pop()
                w(nl[nesting if nesting <= top else top])
                w("end")
                continue
            if k == 5:  # br, br_if, ...: the depth and where it goes
                d = ins[1][0]
                target = nesting - nest0 - d
                w(nl[nesting if nesting <= top else top])
                w(f"{ins[0].name} {d} (;@{target};)" if target > 0 else
                  f"{ins[0].name} {d}" if target == 0 else f"{ins[0].name} {d} (; INVALID ;)")
                continue
            if k == 1:  # block, loop, if, try
                head = heads.get(ins[2])
                if head is None:
                    head = heads[ins[2]] = self.block_head(ins, func, st.label)[0]
                labels.append(st.label)
                st.label += 1
                w(nl[nesting if nesting <= top else top])
                st.nesting = nesting + 1
                w(f"{head} ;; label = @{nesting + 1 - nest0}")
                continue
            level, t = self.step(ins, func, st, cache)
            w(nl[level if level <= top else top])
            w(t)

    def _one_by_one(self, w: Callable[[str], object], instrs: list[Instr], func: int, st: "BodyState", cache: dict[Any, Any], show: bool, hints: list[Any],
                    pos: int, body_start: int) -> None:
        """The slow path: offsets on every line, or branch hints between the instructions."""
        h = 0
        for ins in instrs:
            if h < len(hints) and hints[h][1] == pos - body_start:
                w(f"\n(;@{hints[h][0]:<6x};)" if show else "\n")
                w(self.indent(st.nesting))
                w(f'(@metadata.code.branch_hint "\\0{1 if hints[h][2] else 0}")')
                h += 1
            t = cache.get(ins[2])
            sep = st.nesting
            if t is None:
                sep, t = self.step(ins, func, st, cache)
            w(f"\n(;@{pos:<6x};)" if show else "\n")
            w(self.indent(sep))
            w(t)
            pos += len(ins[2])

    def step(self, ins: Instr, func: int, st: "BodyState", cache: dict[Any, Any]) -> tuple[int, str]:
        """One instruction not in the cache: ``(nesting of its line, text)``; updates ``st``."""
        op = ins[0]
        k = CONTEXT_KINDS.get(op.name, 0)
        nesting = st.nesting
        if k == 0 or k == 9:
            t = cache[ins[2]] = self.it.text(ins, func)
            return nesting, t
        nest0 = st.nest0
        labels = st.labels
        if k == 1 or k == 8:
            st.nesting = nesting + 1
            labels.append(st.label)
            head, has_name = self.block_head(ins, func, st.label)
            cur = nesting + 1 - nest0
            if k == 8:
                lab = labels.pop()
                head += self.try_table_catches(ins, cur - 1, labels, func)
                labels.append(lab)
            st.label += 1
            return nesting, head if has_name else f"{head} ;; label = @{cur}"
        if k == 2:
            t = text_name(op) if op.name != "catch" else f"catch {self.tt.idx(self.names.tag, ins[1][0])}"
            return nesting - 1, t
        if k == 3 or k == 4:
            if nesting > nest0:
                nesting = st.nesting = nesting - 1
            if k == 4:
                return nesting, "delegate " + self.rel(ins[1][0], nesting - nest0, labels, func)
            if labels:
                labels.pop()
            return nesting, "end"
        cur = nesting - nest0
        if k == 5:
            return nesting, f"{op.name} {self.rel(ins[1][0], cur, labels, func)}"
        if k == 6:
            targets, default = ins[1]
            return nesting, "br_table " + " ".join([self.rel(d, cur, labels, func) for d in targets] +
                                                   [self.rel(default, cur, labels, func)])
        # k == 7: br_on_cast / br_on_cast_fail
        return nesting, f"{op.name} {self.rel(ins[1][1], cur, labels, func)} {self.ref_pair(ins)}"

    def spaced(self, w: Callable[[str], object], instrs: list[Instr], func: int) -> None:
        """Constant expressions: the instructions on one line, space separated."""
        cache = self.cache
        w(" ".join([cache.get(ins[2]) or cache.setdefault(ins[2], self.it.text(ins, func)) for ins in instrs]))


_RAW = itemgetter(2)


class BodyState:
    """Where the printer is in a body: nesting level, label stack (wasmprinter's label_indices)."""

    __slots__ = ("nesting", "nest0", "labels", "label")

    def __init__(self, nest0: int) -> None:
        self.nesting: int = nest0
        self.nest0: int = nest0
        self.labels: list[Any] = []
        self.label: int = 0
