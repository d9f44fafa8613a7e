"""What the World and the dynamic linker share: wasmtime type checks, error wording, World entries.

Private to :mod:`wasmweld.runtime` (world.py and dylink_loader.py import it; neither
imports the other's private names). Types are described and compared without
asking wasmtime-py about value types it cannot represent (see :mod:`wasmweld.runtime.typecheck`)::

    fmt_type(func_type)                 # 'func (i32, i32) -> (i64)'
    type_mismatch(import_type, export_type)   # None, or why the export cannot satisfy the import
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from wasmweld.runtime.engine import require_wasmtime

from wasmweld.errors import ExecutionError, LinkError
from wasmweld.record import field, record
from wasmweld.runtime.typecheck import Unsupported

if TYPE_CHECKING:
    import wasmtime

if not TYPE_CHECKING:  # type checkers see the import above
    wasmtime = require_wasmtime()  # a WasmError with the install hint when it is missing

__all__ = ["ProcExit", "vt_name", "HOST_VALTYPES", "host_valtype", "parse_functype", "kind_of", "fmt_type", "extern_type",
           "is_simple", "type_mismatch", "MAX_FUEL", "check_fuel", "first_line", "trap_text", "exec_error",
           "ImportSlot", "Entry", "wrap_host", "tarjan", "Host", "WAIT", "DEP", "OK"]


class ProcExit(ExecutionError):
    """A WASI guest called ``proc_exit(code)``; ``code`` is its exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


HOST_VALTYPES = {
    "i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64, "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64, "funcref": wasmtime.ValType.funcref, "externref": wasmtime.ValType.externref,
}


def host_valtype(t: Any) -> wasmtime.ValType:
    if isinstance(t, wasmtime.ValType):
        return t
    name = str(t).strip()
    ctor = HOST_VALTYPES.get(name)
    if ctor is None:
        raise LinkError(f"unsupported value type {name!r} for a host function (use i32, i64, f32, f64, funcref, externref)")
    return ctor()


def parse_functype(ty: Any) -> wasmtime.FuncType:
    """Accept a function type in any of the forms the World's API takes.

    - ``wasmweld.types.FuncType((I32, I32), (I64,))``
    - ``(["i32", "i32"], ["i64"])`` (two sequences of names or types)
    - ``"i32 i32 -> i64"``, ``"(i32, i32) -> (i64)"``, ``"[i32 i32] -> [i64]"``, ``"-> i32"``
    - a ``wasmtime.FuncType``
    """
    if isinstance(ty, wasmtime.FuncType):
        return ty
    if hasattr(ty, "params") and hasattr(ty, "results"):
        params, results = ty.params, ty.results
    elif isinstance(ty, str):
        if "->" not in ty:
            raise LinkError(f"function type {ty!r} needs '->' between params and results")
        left, right = ty.split("->", 1)
        params = re.findall(r"[a-z0-9]+", left)
        results = re.findall(r"[a-z0-9]+", right)
    elif isinstance(ty, (tuple, list)) and len(ty) == 2:
        params, results = ty
    else:
        raise LinkError(f"cannot read a function type from {ty!r}")
    return wasmtime.FuncType([host_valtype(p) for p in params], [host_valtype(r) for r in results])


def kind_of(t) -> str:
    if isinstance(t, wasmtime.FuncType):
        return "func"
    if isinstance(t, wasmtime.GlobalType):
        return "global"
    if isinstance(t, wasmtime.MemoryType):
        return "memory"
    if isinstance(t, wasmtime.TableType):
        return "table"
    return "tag"


def vt_name(vt) -> str:
    """The WAT name of a wasmtime value type (only ever called on types wasmtime-py can represent).

    wasmtime-py calls externref "anyref" (the C API's name); wasmweld says externref.
    """
    name = str(vt)
    return "externref" if name == "anyref" else name


def fmt_type(t, bad: Unsupported | None = None) -> str:
    """A WAT-style description; ``bad`` (from the module's type report) replaces types wasmtime cannot show."""
    if bad is not None:
        return bad.desc
    k = kind_of(t)
    if k == "func":
        return f"func ({', '.join(map(vt_name, t.params))}) -> ({', '.join(map(vt_name, t.results))})"
    if k == "global":
        return f"global {'(mut ' + vt_name(t.content) + ')' if t.mutable else vt_name(t.content)}"
    if k == "memory":
        lim = t.limits
        return f"memory {lim.min}{'' if lim.max is None else '..' + str(lim.max)}{' i64' if t.is_64 else ''}"
    if k == "table":
        lim = t.limits
        return f"table {vt_name(t.element)} {lim.min}{'' if lim.max is None else '..' + str(lim.max)}"
    return "tag"


def extern_type(store, ext):
    if isinstance(ext, (wasmtime.Func, wasmtime.Global, wasmtime.Memory, wasmtime.Table)):
        return ext.type(store)
    return None


def is_simple(ts) -> bool:
    """Only ever called on representable types (see :mod:`wasmweld.runtime.typecheck`)."""
    return all(str(t) in ("i32", "i64", "f32", "f64", "funcref", "anyref") for t in ts)


def _bad_mismatch(imp_ty, exp_ty, ib: Unsupported | None, eb: Unsupported | None) -> str | None:
    """type_mismatch when one side uses a type wasmtime-py cannot show: compare the modules' own descriptions."""
    if ib is not None and eb is not None:
        if ib.desc == eb.desc or any(c.isdigit() for c in ib.desc + eb.desc):
            return None  # equal, or concrete type indices: for wasmtime to judge at instantiation
    if ib is not None and eb is not None or exp_ty is not None and kind_of(imp_ty) == kind_of(exp_ty):
        return f"it has type {fmt_type(exp_ty, eb)}, the import wants {fmt_type(imp_ty, ib)}"
    return None


def type_mismatch(imp_ty, exp_ty, ib: Unsupported | None = None, eb: Unsupported | None = None) -> str | None:
    """Why an export of type ``exp_ty`` cannot satisfy an import of ``imp_ty`` (None: fine or for wasmtime to judge).

    ``ib``/``eb``: the type reports' records of the import and the export when they use value
    types wasmtime-py cannot represent (their wasmtime types are then never looked into).
    """
    if exp_ty is None:
        return None
    ki, ke = kind_of(imp_ty), kind_of(exp_ty)
    if ki != ke:
        return f"it is a {ke}, the import wants a {ki}"
    if ib is not None or eb is not None:
        return _bad_mismatch(imp_ty, exp_ty, ib, eb)
    if ki == "func":
        ip, ir = [str(x) for x in imp_ty.params], [str(x) for x in imp_ty.results]
        ep, er = [str(x) for x in exp_ty.params], [str(x) for x in exp_ty.results]
        if (ip, ir) != (ep, er) and is_simple(imp_ty.params) and is_simple(imp_ty.results) \
                and is_simple(exp_ty.params) and is_simple(exp_ty.results):
            return f"it has type {fmt_type(exp_ty)}, the import wants {fmt_type(imp_ty)}"
        return None
    if ki == "global":
        if imp_ty.mutable != exp_ty.mutable:
            return f"it is {fmt_type(exp_ty)}, the import wants {fmt_type(imp_ty)}"
        if str(imp_ty.content) != str(exp_ty.content):
            return f"it is {fmt_type(exp_ty)}, the import wants {fmt_type(imp_ty)}"
        return None
    return None


MAX_FUEL = (1 << 64) - 1  # wasmtime's fuel is a u64 (a larger int would wrap around)


def check_fuel(fuel: Any) -> int:
    if isinstance(fuel, bool) or not isinstance(fuel, int) or not 0 <= fuel <= MAX_FUEL:
        raise ExecutionError(f"fuel must be a whole number from 0 to {MAX_FUEL}, not {fuel!r}")
    return fuel


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(e).__name__
    # wasmtime puts the cause after "Caused by:"; keep the most specific bits
    if "Caused by:" in lines:
        i = lines.index("Caused by:")
        cause = "; ".join(re.sub(r"^\d+:\s*", "", ln) for ln in lines[i + 1:])
        return f"{lines[0]}: {cause}" if cause else lines[0]
    return lines[0]


def trap_text(message: str) -> str:
    """The reason of a wasmtime trap message, on one line (the backtrace is dropped)."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    if "Caused by:" in lines:
        causes = [re.sub(r"^\d+:\s*", "", ln) for ln in lines[lines.index("Caused by:") + 1:]]
        if causes:
            main = re.sub(r"^wasm trap:\s*", "", causes[-1])
            return main + (f" ({'; '.join(causes[:-1])})" if len(causes) > 1 else "")
    if lines and lines[0].startswith("error while executing"):
        rest = [ln for ln in lines[1:] if not re.match(r"^\d+:\s+0x", ln)]
        return "; ".join(rest) or "trap"
    return lines[0] if lines else "trap"


def exec_error(e: BaseException, what: str) -> ExecutionError:
    if isinstance(e, wasmtime.ExitTrap):
        return ProcExit(f"{what}: exited with status {e.code}", e.code)
    if isinstance(e, wasmtime.Trap):
        msg = trap_text(e.message or "")
        code = getattr(e, "trap_code", None)
        if code is not None and getattr(code, "name", "") == "OUT_OF_FUEL":
            return ExecutionError(f"{what}: ran out of fuel")
        if "uninitialized element" in msg or (code is not None and getattr(code, "name", "") == "INDIRECT_CALL_TO_NULL"):
            msg += " (a call through an unfilled trampoline slot or table entry: the callee is not loaded yet)"
        from wasmweld.dwarf.trap import source_backtrace  # file:line frames when the module has DWARF
        return ExecutionError(f"{what}: trapped: {msg}{source_backtrace(e)}")
    return ExecutionError(f"{what}: {first_line(e)}")


@record(slots=True, eq=False)
class ImportSlot:
    """One import of a World entry (compared by identity)."""

    module: str
    name: str
    type: Any
    bad: Unsupported | None = None  # set when the type uses a value type wasmtime-py cannot represent
    index: int = -1  # position in the module's import list

    @property
    def label(self) -> str:
        return f"{self.module}.{self.name}"


@record(slots=True, eq=False)
class Entry:
    """One module of a World: compiled, then instantiated once its imports can be bound (compared by identity)."""

    name: str
    module: wasmtime.Module | None  # None only for the placeholder of an unresolved library
    wasm: bytes | None
    imports: list[ImportSlot]
    export_types: dict[str, Any]
    index: int = -1
    instance: wasmtime.Instance | None = None
    exports: dict[str, Any] = field(default_factory=dict)  # name -> extern, once instantiated
    bound: list[Any] = field(default_factory=list)  # externs the imports were bound to
    kind: str = "module"  # "module" | "side" (dylink) | "trampoline"
    export_all: bool = False
    scan: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    bad_exports: dict[str, Unsupported] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.instance is not None


@record(slots=True)
class Host:
    """A host function defined in a World (``World.define_host``); compared by value."""

    module: str
    name: str
    func: wasmtime.Func
    type: wasmtime.FuncType


WAIT = "wait"
DEP = "dep"
OK = "ok"


def wrap_host(fn: Callable, label: str, results: list[str]):
    """Wrap a Python host function so that a wrong return value is an ExecutionError naming ``label``."""
    n = len(results)
    if n == 0:
        def host(*args: Any):
            r = fn(*args)
            if r is not None:
                raise ExecutionError(f"host function {label} returned {r!r}, but its type has no results")
            return None
    elif n == 1:
        t = results[0]
        if t in ("i32", "i64"):
            def host(*args: Any):
                r = fn(*args)
                if isinstance(r, bool) or not isinstance(r, int):
                    raise ExecutionError(f"host function {label} returned {r!r}, but its type says {t}")
                return r
        else:
            host = fn
    else:
        def host(*args: Any):
            r = fn(*args)
            if not isinstance(r, (tuple, list)) or len(r) != n:
                raise ExecutionError(f"host function {label} must return {n} values ({', '.join(results)}), got {r!r}")
            return list(r)
    return host


def tarjan(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components, dependencies first (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    pos = {n: i for i, n in enumerate(nodes)}
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()), key=pos.__getitem__)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ()), key=pos.__getitem__))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp, key=pos.__getitem__))
    return out
