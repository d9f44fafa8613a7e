"""WAVE (the WebAssembly Value Encoding of wasm-tools and wasmtime) for component values.

``wasmweld run app.wasm --invoke 'greet("x", [1, 2])'`` parses the call with
:func:`parse_call` and each argument, guided by the function's parameter types
(wasmtime-py's ``component.ValType``), into wasmtime-py values; the result is
printed back with :func:`to_wave`::

    "héllo"  'c'  42  -1.5  nan  true  [1, 2]  (1, "a")  {x: 1, y: 2}
    red  circle(1.5)  some("x")  none  ok(3)  err("bad")  ok  {read, write}

Malformed text or a value that does not fit its type raises :class:`~wasmweld.errors.WasmError`.
"""

from __future__ import annotations

import math
import re
from typing import Any

from wasmweld.errors import WasmError

__all__ = ["WaveError", "parse_call", "parse_value", "to_wave"]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<chr>'(?:[^'\\]|\\.|\\u\{[0-9a-fA-F]+\})')
    | (?P<num>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)|-inf)
    | (?P<id>%?[a-zA-Z][a-zA-Z0-9-]*)
    | (?P<punct>[()\[\]{},:])
    )""", re.VERBOSE)
_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


class WaveError(WasmError):
    """Text that is not WAVE, or a WAVE value of the wrong type."""


def _unescape(body: str) -> str:
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1:i + 2]
        if nxt == "u":
            m = re.match(r"u\{([0-9a-fA-F]{1,6})\}", body[i + 1:])
            if not m or int(m.group(1), 16) > 0x10FFFF:
                raise WaveError(f"bad escape in {body!r}")
            out.append(chr(int(m.group(1), 16)))
            i += 1 + m.end()
        elif nxt in _ESC:
            out.append(_ESC[nxt])
            i += 2
        else:
            raise WaveError(f"bad escape \\{nxt} in {body!r}")
    return "".join(out)


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise WaveError(f"unexpected {text[pos:pos + 10]!r} at column {pos + 1}")
        kind = m.lastgroup
        assert kind is not None     # every alternative of _TOKEN is a named group
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, value: str | None = None):
        tok = self.peek()
        if tok[0] is None or (value is not None and tok[1] != value):
            raise WaveError(f"expected {value or 'a value'}, found {tok[1] or 'the end'}")
        self.i += 1
        return tok

    def seq(self, close: str, item):
        out = []
        while self.peek()[1] != close:
            out.append(item())
            if self.peek()[1] == ",":
                self.take(",")
            elif self.peek()[1] != close:
                raise WaveError(f"expected , or {close}, found {self.peek()[1] or 'the end'}")
        self.take(close)
        return out

    def value(self, ty) -> Any:     # noqa: C901 - one branch per WIT type family, flat
        from wasmtime import component as wc

        kind, tok = self.peek()
        if isinstance(ty, wc.Bool):
            self.take()
            if tok not in ("true", "false"):
                raise WaveError(f"expected true or false, found {tok}")
            return tok == "true"
        if isinstance(ty, (wc.S8, wc.S16, wc.S32, wc.S64, wc.U8, wc.U16, wc.U32, wc.U64)):
            self.take()
            if kind != "num" or not re.fullmatch(r"[-+]?\d+", tok):
                raise WaveError(f"expected an integer, found {tok}")
            return int(tok)
        if isinstance(ty, (wc.F32, wc.F64)):
            self.take()
            if tok in ("nan", "inf", "-inf"):
                return float(tok)
            if kind != "num":
                raise WaveError(f"expected a number, found {tok}")
            return float(tok)
        if isinstance(ty, wc.Char):
            self.take()
            if kind != "chr":
                raise WaveError(f"expected a char, found {tok}")
            s = _unescape(tok[1:-1])
            if len(s) != 1:
                raise WaveError(f"not one char: {tok}")
            return s
        if isinstance(ty, wc.String):
            self.take()
            if kind != "str":
                raise WaveError(f"expected a string, found {tok}")
            return _unescape(tok[1:-1])
        if isinstance(ty, wc.ListType):
            self.take("[")
            items = self.seq("]", lambda: self.value(ty.element))
            return bytes(items) if isinstance(ty.element, wc.U8) and ty._is_bytes() else items
        if isinstance(ty, wc.TupleType):
            self.take("(")
            elems = ty.elements
            n = [0]

            def item():
                if n[0] >= len(elems):
                    raise WaveError("too many tuple elements")
                n[0] += 1
                return self.value(elems[n[0] - 1])
            vals = self.seq(")", item)
            if len(vals) != len(elems):
                raise WaveError(f"expected {len(elems)} tuple elements, found {len(vals)}")
            return tuple(vals)
        if isinstance(ty, wc.RecordType):
            return self._record(ty)
        if isinstance(ty, wc.FlagsType):
            self.take("{")
            names = self.seq("}", lambda: self.take()[1].lstrip("%"))
            bad = set(names) - set(ty.names)
            if bad:
                raise WaveError(f"unknown flag(s): {', '.join(sorted(bad))}")
            return set(names)
        if isinstance(ty, wc.EnumType):
            self.take()
            if tok.lstrip("%") not in ty.names:
                raise WaveError(f"unknown enum case {tok}")
            return tok.lstrip("%")
        if isinstance(ty, (wc.VariantType, wc.OptionType, wc.ResultType)):
            return self._variant(ty)
        raise WaveError(f"values of type {type(ty).__name__} cannot be written in WAVE here")

    def _record(self, ty):
        from wasmtime import component as wc

        self.take("{")
        fields = dict(ty.fields)
        got: dict[str, Any] = {}

        def field():
            name = self.take()[1].lstrip("%")
            if name not in fields:
                raise WaveError(f"unknown record field {name}")
            self.take(":")
            got[name] = self.value(fields[name])
        self.seq("}", field)
        rec = wc.Record()
        for name, fty in ty.fields:
            if name not in got and not isinstance(fty, wc.OptionType):
                raise WaveError(f"record field {name} missing")
            setattr(rec, name, got.get(name))
        return rec

    def _variant(self, ty):
        from wasmtime import component as wc

        kind, tok = self.peek()
        cases = dict(ty._cases())
        name = (tok or "").lstrip("%")
        if isinstance(ty, wc.OptionType) and name not in ("some", "none"):
            return self.value(ty.payload)           # WAVE allows the payload of some() bare
        if name not in cases:
            raise WaveError(f"unknown case {tok}")
        self.take()
        payload = None
        if cases[name] is not None:
            if self.peek()[1] == "(":
                self.take("(")
                payload = self.value(cases[name])
                self.take(")")
            elif not isinstance(ty, wc.ResultType):
                raise WaveError(f"case {name} needs a payload")
        if ty._tagged():
            return wc.Variant(name, payload)
        return payload


def parse_value(text: str, ty: Any) -> Any:
    """One WAVE value of type ``ty`` (a wasmtime-py component ValType)."""
    p = _Parser(text)
    v = p.value(ty)
    if p.peek()[0] is not None:
        raise WaveError(f"unexpected {p.peek()[1]} after the value")
    return v


def parse_call(text: str) -> tuple[str, str]:
    """``'greet("x", [1, 2])'`` -> ``("greet", '"x", [1, 2]')`` (the argument text is parsed later)."""
    m = re.fullmatch(r"\s*([^\s(]+)\s*(?:\((.*)\))?\s*", text, re.S)
    if not m:
        raise WaveError(f"not a function call: {text!r}")
    return m.group(1), m.group(2) or ""


def parse_args(text: str, types: list[Any]) -> list[Any]:
    """The comma-separated WAVE arguments in ``text`` for parameter ``types``."""
    p = _Parser(text)
    out = []
    for i, ty in enumerate(types):
        if i:
            p.take(",")
        out.append(p.value(ty))
    if p.peek()[1] == ",":
        p.take(",")
    if p.peek()[0] is not None:
        raise WaveError(f"{len(types)} argument(s) expected; unexpected {p.peek()[1]}")
    return out


def _str(s: str, quote: str) -> str:
    out = []
    for c in s:
        if c in ("\\", quote):
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif ord(c) < 0x20:
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return quote + "".join(out) + quote


def _matches(ty, value) -> bool:
    if ty is None:
        return value is None
    s: set = set()
    ty.add_classes(s)
    return isinstance(value, tuple(s))


def to_wave(value: Any, ty: Any) -> str:     # noqa: C901 - one branch per WIT type family, flat
    """``value`` (of wasmtime-py component type ``ty``) as WAVE text."""
    from wasmtime import component as wc

    if isinstance(ty, wc.Bool):
        return "true" if value else "false"
    if isinstance(ty, (wc.F32, wc.F64)):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(float(value))
    if isinstance(ty, wc.Char):
        return _str(value, "'")
    if isinstance(ty, wc.String):
        return _str(value, '"')
    if isinstance(ty, wc.ListType):
        return "[" + ", ".join(to_wave(v, ty.element) for v in value) + "]"
    if isinstance(ty, wc.TupleType):
        return "(" + ", ".join(to_wave(v, t) for v, t in zip(value, ty.elements)) + ")"
    if isinstance(ty, wc.RecordType):
        return "{" + ", ".join(f"{n}: {to_wave(getattr(value, n), t)}" for n, t in ty.fields) + "}"
    if isinstance(ty, wc.FlagsType):
        return "{" + ", ".join(n for n in ty.names if n in value) + "}"
    if isinstance(ty, wc.EnumType):
        return str(value)
    if isinstance(ty, (wc.VariantType, wc.OptionType, wc.ResultType)):
        if isinstance(value, wc.Variant):
            name, payload = value.tag, value.payload
            case_ty = dict(ty._cases()).get(name)
        else:
            found = [(n, t) for n, t in ty._cases() if _matches(t, value)]
            if not found:
                return repr(value)
            (name, case_ty), payload = found[0], value
        if case_ty is None:
            return name
        return f"{name}({to_wave(payload, case_ty)})"
    if isinstance(ty, (wc.OwnType, wc.BorrowType)):
        return "<resource>"
    return str(value)
