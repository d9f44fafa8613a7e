"""Edit plans: many edits in one TOML file (``wasmweld edit IN -o OUT --plan edits.toml``).

The format is documented in docs/edit-plan.md. A plan is turned into the same
list of :class:`~wasmweld.passes.registry.Op` the CLI options produce, then
applied with :func:`~wasmweld.passes.registry.apply_ops`::

    gc = true                          # top-level keys go before the first [[table]]

    [[data]]                           # inject the JS bundle as a passive segment
    name = "js"
    file = "bundle.js"                 # relative to the plan's folder
    size_func = "js_passive_data_size"
    init_func = "init_js_passive_data"

    [[export]]                         # a new entry point calling the engine
    name = "canister_query greet"
    call = "execute_method_js"
    args = [0, 1]

Tables are applied kind by kind in a fixed order, each kind in file order:
``[[data]]``, ``[[body]]``, ``[[import]]``, ``[[export]]``, ``[[custom]]``,
``[[producers]]``, ``[[strip]]``, then ``gc``. Unknown tables or keys, wrong
value types and missing keys are :class:`~wasmweld.errors.EditError` s naming
the plan, the table and its position.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from wasmweld import _toml
from wasmweld.errors import EditError
from wasmweld.passes.registry import Op

__all__ = ["load_plan", "parse_plan", "PLAN_ORDER"]

#: table name -> converter, in application order
PLAN_ORDER = ("data", "body", "import", "export", "custom", "producers", "strip", "gc")


def load_plan(path: str | os.PathLike[str], *, allow_outside: bool = False) -> list[Op]:
    """Read the plan file at ``path`` (files it names are relative to its folder and must stay inside it,
    unless ``allow_outside``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EditError(f"{path}: no such plan file") from None
    except IsADirectoryError:
        raise EditError(f"{path}: is a directory, not a plan file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise EditError(f"{path}: cannot read plan: {reason}") from None
    return parse_plan(text, base_dir=path.parent, origin=str(path), allow_outside=allow_outside)


def parse_plan(text: str, *, base_dir: str | os.PathLike[str] = ".", origin: str = "plan",
               allow_outside: bool = False) -> list[Op]:
    """The operations of the plan in ``text``, in application order.

    A plan is data, not a script: the files it names (``file = ...``) are relative to ``base_dir``
    and must lie inside it (no absolute path, no ``..`` out of it, no symlink out of it) unless
    ``allow_outside``; they must be regular files.
    """
    doc = _toml.loads(text, origin, EditError)
    base = _Base(Path(base_dir), allow_outside)
    known = set(PLAN_ORDER)
    for key in doc:
        if key not in known:
            raise EditError(f"{origin}: unknown plan entry {key!r} (known: {', '.join(PLAN_ORDER)})")
    ops: list[Op] = []
    for kind in PLAN_ORDER:
        if kind not in doc:
            continue
        value = doc[kind]
        if kind == "gc":
            ops.extend(_gc(value, origin))
            continue
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise EditError(f"{origin}: '{kind}' must be written as [[{kind}]] tables")
        for i, table in enumerate(value, 1):
            where = f"{origin}: [[{kind}]] #{i}"
            ops.append(_CONVERT[kind](_Table(table, where), base))
    return ops


class _Table:
    """Typed access to one plan table, tracking which keys were used."""

    def __init__(self, table: dict, where: str) -> None:
        self.table = table
        self.where = where
        self.used: set[str] = set()

    def error(self, message: str) -> EditError:
        return EditError(f"{self.where}: {message}")

    def has(self, key: str) -> bool:
        return key in self.table

    def get(self, key: str, types, default=None, required: bool = False):
        self.used.add(key)
        if key not in self.table:
            if required:
                raise self.error(f"missing key {key!r}")
            return default
        value = self.table[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            names = "/".join(t.__name__ for t in _as_tuple(types))
            raise self.error(f"{key!r} must be {names}, not {type(value).__name__} ({value!r})")
        return value

    def str_list(self, key: str, default=()) -> list[str]:
        value = self.get(key, (str, list), None)
        if value is None:
            return list(default)
        if isinstance(value, str):
            return [value]
        if not all(isinstance(v, str) for v in value):
            raise self.error(f"{key!r} must be a list of strings")
        return list(value)

    def done(self, op: Op) -> Op:
        unknown = set(self.table) - self.used
        if unknown:
            raise self.error(f"unknown key(s) {', '.join(sorted(map(repr, unknown)))}")
        return op

    def op(self, pass_name: str, /, **params) -> Op:
        return self.done(Op(pass_name, dict(params), self.where))


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


class _Base:
    """The plan's folder: where the files it names are looked up, and (unless ``allow_outside``) kept."""

    def __init__(self, folder: Path, allow_outside: bool) -> None:
        self.folder = folder
        self.allow_outside = allow_outside

    def resolve(self, t: _Table, file: str, what: str) -> Path:
        path = Path(file)
        if self.allow_outside:
            return path if path.is_absolute() else self.folder / path
        if path.is_absolute():
            raise t.error(f"{what} file {file!r} is an absolute path; a plan names files inside its own "
                          f"folder (allow files elsewhere explicitly)")
        full = self.folder / path
        try:
            inside = full.resolve().is_relative_to(self.folder.resolve())
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            raise t.error(f"{what} file {file!r} lies outside the plan's folder; a plan names files inside "
                          f"its own folder (allow files elsewhere explicitly)")
        return full


def _payload(t: _Table, base: _Base, *, what: str) -> bytes:
    """The bytes of ``file = ...`` (relative to the plan) or ``text = ...``."""
    file = t.get("file", str)
    text = t.get("text", str)
    if (file is None) == (text is None):
        raise t.error(f"give exactly one of 'file' or 'text' for the {what}")
    if text is not None:
        return text.encode("utf-8")
    path = base.resolve(t, file, what)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise t.error(f"{what} file {str(path)!r} is not a regular file")
        return path.read_bytes()
    except FileNotFoundError:
        raise t.error(f"{what} file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise t.error(f"cannot read {what} file {str(path)!r}: {exc.strerror or exc}") from None


def _data(t: _Table, base: _Base) -> Op:
    name = t.get("name", str, required=True)
    data = _payload(t, base, what="data")
    mode = t.get("mode", str, "passive")
    if mode not in ("passive", "active"):
        raise t.error(f"'mode' must be \"passive\" or \"active\", not {mode!r}")
    return t.op(
        "add-data", name=name, data=data, mode=mode,
        size_func=t.get("size_func", str), init_func=t.get("init_func", str),
        addr_func=t.get("addr_func", str), accessors=t.get("accessors", bool),
        align=t.get("align", int, 16), keep_data=t.get("keep_data", bool, False),
    )


def _body(t: _Table, base: _Base) -> Op:
    func = t.get("func", str, required=True)
    kinds = [k for k in ("const", "call", "trap") if t.has(k)]
    if len(kinds) != 1:
        raise t.error("give exactly one of 'const', 'call' or 'trap'")
    if kinds[0] == "const":
        value = t.get("const", (int, float, str, list))
        return t.op("replace-body", func=func, const=value)
    if kinds[0] == "call":
        return t.op("replace-body", func=func, call=t.get("call", str), args=t.get("args", list, []))
    if not t.get("trap", bool):
        raise t.error("'trap' must be true")
    return t.op("replace-body", func=func, trap=True)


def _import(t: _Table, base: _Base) -> Op:
    module = t.get("module", str, required=True)
    actions = [k for k in ("resolve", "stub") if t.has(k)] + (["rename"] if t.has("new_module") or t.has("new_name") else [])
    if len(actions) != 1:
        raise t.error("give exactly one action: 'resolve', 'stub', or 'new_module'/'new_name' (rename)")
    action = actions[0]
    if action == "stub":
        mode = t.get("stub", str)
        if mode not in ("trap", "default"):
            raise t.error(f"'stub' must be \"trap\" or \"default\", not {mode!r}")
        return t.op("stub-imports", module=module, name=t.get("name", str), mode=mode)
    name = t.get("name", str, required=True)
    if action == "resolve":
        return t.op("resolve-import", module=module, name=name, target=t.get("resolve", str))
    return t.op("rename-import", module=module, name=name,
                new_module=t.get("new_module", str), new_name=t.get("new_name", str))


def _export(t: _Table, base: _Base) -> Op:
    if t.has("remove"):
        return t.op("remove-exports", patterns=t.str_list("remove"))
    if t.has("keep"):
        return t.op("keep-exports", patterns=t.str_list("keep"))
    if t.has("rename"):
        return t.op("rename-export", old=t.get("rename", str), new=t.get("to", str, required=True))
    name = t.get("name", str, required=True)
    if t.has("call") == t.has("func"):
        raise t.error("give exactly one of 'call' (new entry point) or 'func' (re-export)")
    if t.has("func"):
        return t.op("add-export", name=name, func=t.get("func", str))
    return t.op("add-export", name=name, call=t.get("call", str), args=t.get("args", list, []),
                drop_results=t.get("drop_results", bool, False))


def _custom(t: _Table, base: _Base) -> Op:
    name = t.get("name", str, required=True)
    return t.op("add-custom", name=name, data=_payload(t, base, what="custom section"),
                replace=t.get("replace", bool, False))


def _producers(t: _Table, base: _Base) -> Op:
    return t.op("add-producer", field=t.get("field", str, required=True), name=t.get("name", str, required=True),
                version=t.get("version", str, ""))


def _strip(t: _Table, base: _Base) -> Op:
    names = t.str_list("names") + t.str_list("name")
    regex = t.str_list("regex")
    op = t.op("strip", all=t.get("all", bool, False), names=names, regex=regex,
              debug=t.get("debug", bool, False), producers=t.get("producers", bool, False),
              everything=t.get("everything", bool, False), keep=t.str_list("keep"))
    p = op.params
    if not (p["all"] or names or regex or p["debug"] or p["producers"] or p["everything"]):
        raise t.error("says nothing to strip (use all, everything, names, regex, debug or producers)")
    return op


def _gc(value, origin: str) -> list[Op]:
    if isinstance(value, bool):
        return [Op("gc", {}, f"{origin}: gc")] if value else []
    if isinstance(value, dict):
        t = _Table(value, f"{origin}: [gc]")
        enabled = t.get("enabled", bool, True)
        roots = t.str_list("roots")
        op = t.op("gc", roots=roots or None)
        return [op] if enabled else []
    raise EditError(f"{origin}: 'gc' must be true/false or a [gc] table")


_CONVERT = {
    "data": _data, "body": _body, "import": _import, "export": _export,
    "custom": _custom, "producers": _producers, "strip": _strip,
}
