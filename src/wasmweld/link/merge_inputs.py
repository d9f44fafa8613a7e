"""Steps 1-2 of a merge: load the inputs, fold their type sections; and what is wrong with an input.

Each input becomes a :class:`MergeInput` (its name, the lazily parsed module, its imports by
kind and exports by name, and later its index maps). Errors raised while an input is read are
attributed to it (:func:`blame_input`), and when the merge fails on something an input should
not contain, :func:`diagnose` names the malformed or invalid input::

    (module $a (func (type 7)))     ;; input "a": 1 type, so type 7 is out of range
    -> LinkError: input 'a' is not a valid module: ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable, Literal

from ..errors import DecodeError, EditError, LinkError, ValidationError, WasmError
from ..module import Module, parse
from ..types import ExternKind, GlobalType, RefType, TableType, TagType
from .merge_model import KINDS
from .typecheck import TypeSpace

if TYPE_CHECKING:
    from ..types import SubType
    from .merge import MergeInputs

__all__ = ["MergeInput", "blame_input", "load_inputs", "fold_types", "out_desc", "input_error", "input_problem",
           "diagnose", "validate_in_background", "input_bytes", "check_inputs", "find_export"]

# --------------------------------------------------------------------------------------------- step 1: load

class MergeInput:
    """One input of a merge: ``name``, ``module``, position ``pos``, imports by kind, exports by name;
    ``tmap`` (its type map) and ``maps`` (space -> index map into the merged module) once planned."""

    __slots__ = ("name", "module", "pos", "imports", "n_imp", "exports", "tmap", "types", "maps")

    def __init__(self, name: str, module: Module, pos: int):
        self.name: str = name
        self.module: Module = module
        self.pos: int = pos
        self.imports: dict[ExternKind, list[Any]] = {k: [] for k in KINDS}
        for imp in module.imports:
            self.imports[imp.kind].append(imp)
        self.n_imp: dict[ExternKind, int] = {k: len(v) for k, v in self.imports.items()}
        self.exports: dict[str, Any] = {}
        for e in module.exports:
            self.exports.setdefault(e.name, e)
        self.tmap: list[int] = []
        self.types: list[SubType] | None = None
        self.maps: dict[str, list[int]] = {}

    def n_defined(self, kind: ExternKind) -> int:
        m = self.module
        if kind == ExternKind.FUNC:
            return len(m.funcs)
        if kind == ExternKind.TABLE:
            return len(m.tables)
        if kind == ExternKind.MEMORY:
            return len(m.memories)
        if kind == ExternKind.GLOBAL:
            return len(m.globals)
        return len(m.tags)

    def item_desc(self, kind: ExternKind, index: int) -> Any:
        """The type of item ``index`` of ``kind`` in this input's own index space (import desc form)."""
        n = self.n_imp[kind]
        if index < n:
            return self.imports[kind][index].desc
        d = index - n
        m = self.module
        if kind == ExternKind.FUNC:
            return m.funcs[d]
        if kind == ExternKind.TABLE:
            return m.tables[d].type
        if kind == ExternKind.MEMORY:
            return m.memories[d]
        if kind == ExternKind.GLOBAL:
            return m.globals[d].type
        return m.tags[d].type

    def type_list(self) -> list[SubType]:
        """The input's type index space (computed once)."""
        if self.types is None:
            self.types = self.module.type_list()
        return self.types


class blame_input:
    """Name the input in errors raised while reading it (inputs decode lazily, so this can be anywhere)::

        with blame_input("ledger"):
            body = inp.module.code[k]

    A malformed input stays a DecodeError; an index that points nowhere (an invalid input)
    becomes a LinkError instead of an IndexError. (A class rather than a generator: the merge
    enters it once per function body.)
    """

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type[BaseException] | None, e: BaseException | None, tb: object) -> Literal[False]:
        if typ is None:
            return False
        name = self.name
        if isinstance(e, DecodeError):
            if not e.message.startswith("input "):
                e.message = f"input {name!r}: {e.message}"
                e.args = (e._format(),)
            e.merge_input = name  # lets the CLI name the file this input came from
            return False
        if isinstance(e, (EditError, IndexError, KeyError, TypeError)):
            detail = str(e) if isinstance(e, EditError) else f"an index out of range ({type(e).__name__}: {e})"
            raise input_error(name, f"input {name!r} is not a valid module: {detail}; check it with wasmweld "
                                    "validate") from None
        return False


def load_inputs(inputs: MergeInputs) -> list[MergeInput]:
    """The inputs of a merge as :class:`MergeInput` objects (LinkError for a malformed list)."""
    if isinstance(inputs, dict):
        inputs = list(inputs.items())
    out: list[MergeInput] = []
    seen: set[str] = set()
    for pos, item in enumerate(inputs):
        try:
            name, src = item
        except (TypeError, ValueError):
            raise LinkError(f"input {pos}: expected a (name, module) pair, got {type(item).__name__}") from None
        if not isinstance(name, str) or not name:
            raise LinkError(f"input {pos}: the name must be a non-empty string, not {name!r}")
        if name in seen:
            raise LinkError(f"two inputs are named {name!r}; every input needs its own name")
        seen.add(name)
        with blame_input(name):
            if isinstance(src, Module):
                module = src
            elif isinstance(src, (bytes, bytearray, memoryview)):
                module = parse(bytes(src))
            elif isinstance(src, (str, os.PathLike)):
                from ..runtime.engine import load_bytes
                module = parse(load_bytes(src))
            else:
                raise LinkError(f"input {name!r}: expected a Module, bytes or a path, not {type(src).__name__}")
            if module.custom("linking") is not None:
                raise LinkError(f"input {name!r} is a relocatable object file (it has a 'linking' section): "
                                f"link it into a module (wasm-ld) before merging")
            out.append(MergeInput(name, module, pos))
    if not out:
        raise LinkError("nothing to merge: no inputs")
    return out


# --------------------------------------------------------------------------------------------- step 2: types

def fold_types(ins: list[MergeInput]) -> TypeSpace:
    """Step 2: every input's types folded into one combined type space (``tmap`` set on each input)."""
    space = TypeSpace()
    for inp in ins:
        try:
            inp.tmap = space.add_module(inp.name, inp.module.types)
        except IndexError as e:
            raise input_error(inp.name, f"input {inp.name!r}: type index {e} out of range in its type section") \
                from None
    return space


def out_desc(inp: MergeInput, kind: ExternKind, desc: Any, space: TypeSpace) -> Any:
    """An import/export type moved into the combined type space."""
    t = inp.tmap
    try:
        if kind == ExternKind.FUNC:
            return t[desc]
        if kind == ExternKind.TAG:
            return TagType(t[desc.type_idx], desc.attribute)
        if kind == ExternKind.GLOBAL:
            return GlobalType(_out_val(desc.val, t), desc.mutable)
        if kind == ExternKind.TABLE:
            return TableType(_out_val(desc.elem, t), desc.limits)
        return desc
    except IndexError:
        raise input_error(inp.name, f"input {inp.name!r}: a {kind} type refers to a type index out of range") \
            from None


def _out_val(v, t):
    if isinstance(v, RefType) and isinstance(v.heap, int):
        return RefType(v.nullable, t[v.heap], v.shorthand)
    return v


def input_error(name: str, text: str) -> LinkError:
    """A LinkError about one input (``merge_input`` lets the CLI name the file it came from)."""
    err = LinkError(text)
    err.merge_input = name
    return err


def input_problem(name: str, module: Module) -> WasmError | None:
    """What is wrong with one input, at its own offsets, or None when it is valid.

    An input wasmtime refuses is decoded in full: where it is malformed (wasmweld's
    DecodeError with the offset), else wasmtime's verdict, if wasmweld's validator
    refuses it too (wasmtime lacks legacy exceptions, for one). Without wasmtime the
    decoder and wasmweld's validator decide.
    """
    try:
        data = module.encode()
    except WasmError:
        return None
    verdict = None
    try:
        from ..runtime.engine import validate_bytes

        validate_bytes(data)
        return None
    except ValidationError as e:
        verdict = e
    except (ImportError, WasmError):  # no wasmtime
        pass
    try:
        parse(data, lazy=False)
    except DecodeError as e:
        e.message = f"input {name!r}: {e.message}"
        e.args = (e._format(),)
        e.merge_input = name
        return e
    if verdict is not None:
        from ..validate import validate

        try:
            validate(data)  # wasmweld's validator: what wasmtime lacks a feature for (legacy exceptions) passes
        except ValidationError:
            return input_error(name, f"input {name!r} is not a valid module: {verdict}")
    return None


def diagnose(ins: list[MergeInput], exc: BaseException) -> BaseException:
    """Merging failed on something an input should not contain: blame the malformed or invalid input
    (in its own offsets and wasmtime's words), else ``exc`` stands (a refusal, or a bug)."""
    for inp in ins:
        problem = input_problem(inp.name, inp.module)
        if problem is not None:
            return problem
    return exc


def input_bytes(ins: list[MergeInput]) -> list[tuple[MergeInput, bytes]]:
    """Each input with its bytes, for :func:`validate_in_background`: taken before the merge decodes
    the inputs' code (an input nothing changed encodes as the bytes it was parsed from, at no cost;
    once its code section is decoded, encoding compares every body)."""
    return [(inp, inp.module.encode()) for inp in ins]


def validate_in_background(ins: list[MergeInput],
                           blobs: list[tuple[MergeInput, bytes]] | None = None) -> Callable[[], WasmError | None]:
    """Start validating the inputs with wasmtime in a second thread (wasmtime runs without the GIL);
    the returned function waits and gives the first invalid input's problem, or None. The bytes
    are ``blobs`` (:func:`input_bytes`), or taken here, in the calling thread (a Module's lazy
    decoding is not shared across threads). Without wasmtime nothing is checked."""
    try:
        from ..runtime.engine import require_wasmtime, validate_bytes
        require_wasmtime()
    except (ImportError, WasmError):
        return lambda: None
    from ..background import Background

    if blobs is None:
        blobs = input_bytes(ins)
    bad: list[MergeInput] = []

    def work() -> None:
        for inp, data in blobs:
            try:
                validate_bytes(data)
            except ValidationError:
                bad.append(inp)

    job = Background(work, name="wasmweld-validate-inputs")

    def finish() -> WasmError | None:
        job.join()
        for inp in bad:  # wasmtime refused these; input_problem asks wasmweld's validator too
            problem = input_problem(inp.name, inp.module)
            if problem is not None:
                return problem
        return None

    return finish


def check_inputs(inputs: Iterable[tuple[str, Module]]) -> None:
    """Raise the problem of the first malformed or invalid input of ``(name, Module)`` pairs, if any.

    Each input is validated by wasmtime (fast); one that fails is decoded in full to say
    where it is malformed, in its own offsets, or else what wasmtime found invalid.
    ``wasmweld merge`` calls it when the merged module fails validation (to tell a bad
    input from a merge bug); ``merge --plan`` and ``graph``, which read only the imports
    and exports, call it so that they do not draw a module that cannot be merged.
    """
    for name, module in inputs:
        problem = input_problem(name, module)
        if problem is not None:
            raise problem


def find_export(inp: MergeInput, name: str) -> Any:
    """The export ``name`` of ``inp`` (from the input's dict by name: linear in the exports overall)."""
    e = inp.exports.get(name)
    if e is None:
        raise LinkError(f"{inp.name} has no export {name!r}")
    return e
