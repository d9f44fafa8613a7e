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

from .instrs import CONTEXT_KINDS, InstrText, TypeText, named_group, text_name
from .names import Names

__all__ = ["BodyPrinter", "MAX_NESTING_TO_PRINT"]

MAX_NESTING_TO_PRINT = 50


class BodyPrinter:
    """Prints the instructions of bodies and constant expressions; one per module (it owns the caches)."""

    def __init__(self, names: Names, tt: TypeText, indent: str = "  ") -> None:
        self.names = names
        self.tt = tt
        self.it = InstrText(tt)
        self.cache: dict = {}
        self.ind = [indent * min(n, MAX_NESTING_TO_PRINT) for n in range(MAX_NESTING_TO_PRINT + 1)]
        self.nl = ["\n" + s for s in self.ind]

    def indent(self, n: int) -> str:
        return self.ind[n if n <= MAX_NESTING_TO_PRINT else MAX_NESTING_TO_PRINT]

    # ------------------------------------------------------------------ locals
    def locals_text(self, func: int, nparams: int, locals_) -> str:
        types = []
        for count, t in locals_:
            types.extend([t] * count)
        return named_group("local", types, self.names.local, func, nparams, self.tt.val)

    # ------------------------------------------------------------------ pieces shared with folding
    def block_head(self, ins, func: int, label: int) -> tuple[str, bool]:
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

    def rel(self, depth: int, cur: int, labels: list, func: int) -> str:
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

    def ref_pair(self, ins) -> str:
        flags, _label, h1, h2 = ins[1]
        from ..types import RefType
        return f"{self.tt.ref(RefType(bool(flags & 1), h1))} {self.tt.ref(RefType(bool(flags & 2), h2))}"

    def try_table_catches(self, ins, cur: int, labels: list, func: int) -> str:
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
    def flat(self, w, instrs, func: int, nest0: int, offsets: int | None = None, sep_space: bool = False) -> None:
        """Write ``instrs`` (without the final ``end``) through ``w``, one per line at ``nest0``.

        ``offsets``: absolute offset of the first instruction (prints ``(;@off;)`` on each line).
        ``sep_space``: constant expressions (space separated, on one line).
        """
        cache = self.cache if func not in self.names.local_funcs else {}
        get = cache.get
        nl = self.nl
        top = MAX_NESTING_TO_PRINT
        nesting = nest0
        labels: list = []
        label = 0
        kinds = CONTEXT_KINDS
        it_text = self.it.text
        pos = offsets
        first = True
        for ins in instrs:
            raw = ins[2]
            if sep_space:
                if first:
                    first = False
                else:
                    w(" ")
                t = get(raw)
                if t is None:
                    t = cache[raw] = it_text(ins, func)
                w(t)
                continue
            t = get(raw)
            if t is not None:
                if pos is None:
                    w(nl[nesting if nesting <= top else top])
                else:
                    w(f"\n(;@{pos:<6x};)")
                    w(self.ind[nesting if nesting <= top else top])
                    pos += len(raw)
                w(t)
                continue
            op = ins[0]
            k = kinds.get(op, 0)
            if k == 0 or k == 9:
                t = cache[raw] = it_text(ins, func)
                sep = nesting
            elif k == 1 or k == 8:
                sep = nesting
                nesting += 1
                labels.append(label)
                head, has_name = self.block_head(ins, func, label)
                cur = nesting - nest0
                if k == 8:
                    lab = labels.pop()
                    head += self.try_table_catches(ins, cur - 1, labels, func)
                    labels.append(lab)
                t = head if has_name else f"{head} ;; label = @{cur}"
                label += 1
            elif k == 2:
                sep = nesting - 1
                t = text_name(op) if op.name != "catch" else f"catch {self.tt.idx(self.names.tag, ins[1][0])}"
            elif k == 3:
                if nesting > nest0:
                    nesting -= 1
                sep = nesting
                t = "end"
                if labels:
                    labels.pop()
            elif k == 4:
                if nesting > nest0:
                    nesting -= 1
                sep = nesting
                t = "delegate " + self.rel(ins[1][0], nesting - nest0, labels, func)
            elif k == 5:
                sep = nesting
                t = f"{op.name} {self.rel(ins[1][0], nesting - nest0, labels, func)}"
            elif k == 6:
                sep = nesting
                cur = nesting - nest0
                targets, default = ins[1]
                t = "br_table " + " ".join([self.rel(d, cur, labels, func) for d in targets] +
                                           [self.rel(default, cur, labels, func)])
            else:  # k == 7: br_on_cast / br_on_cast_fail
                sep = nesting
                t = f"{op.name} {self.rel(ins[1][1], nesting - nest0, labels, func)} {self.ref_pair(ins)}"
            if pos is None:
                w(nl[sep if sep <= top else top])
            else:
                w(f"\n(;@{pos:<6x};)")
                w(self.ind[sep if sep <= top else top])
                pos += len(raw)
            w(t)
