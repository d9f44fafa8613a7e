"""TOML for edit plans: :mod:`tomllib` (Python 3.11+) or ``tomli``, else a small reader.

The fallback reads the subset edit plans use (see docs/edit-plan.md)::

    gc = true                     # key = value (bare or quoted keys, dotted keys not supported)
    [[export]]                    # arrays of tables
    name = "canister_query m0"    # basic "..." (escapes) and literal '...' strings
    args = [0, 1.5, "..."]        # arrays (may span lines), integers (0x/0o/0b, _), floats, booleans
    [gc]                          # tables

Anything else (inline tables, dates, multi-line strings) is a :class:`~wasmweld.errors.EditError`
naming the line, so a plan that works on 3.10 works everywhere.
"""

from __future__ import annotations

import re

from wasmweld.errors import EditError

__all__ = ["loads"]


def loads(text: str, origin: str = "plan") -> dict:
    """Parse TOML ``text``; errors are :class:`EditError` naming ``origin`` and the line."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: tomli if installed, else the reader below
        try:
            import tomli as tomllib
        except ImportError:
            return _Reader(text, origin).parse()
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EditError(f"{origin}: invalid TOML: {exc}") from None


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INT = re.compile(r"[+-]?(0x[0-9A-Fa-f_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*)$")
_FLOAT = re.compile(r"[+-]?([0-9_]+(\.[0-9_]+)?([eE][+-]?[0-9_]+)?|inf|nan)$")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class _Reader:
    def __init__(self, text: str, origin: str):
        self.text = text
        self.origin = origin
        self.pos = 0

    # -- helpers
    def error(self, message: str) -> EditError:
        line = self.text.count("\n", 0, self.pos) + 1
        return EditError(f"{self.origin}: invalid TOML at line {line}: {message}")

    def skip_ws(self, newlines: bool = False) -> None:
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c in " \t" or (newlines and c in "\r\n"):
                self.pos += 1
            elif c == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                break

    def end_of_line(self) -> None:
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] not in "\r\n":
            raise self.error(f"unexpected {self.text[self.pos]!r}")

    def key(self) -> str:
        self.skip_ws()
        if self.text.startswith('"', self.pos) or self.text.startswith("'", self.pos):
            return self.string()
        m = _BARE_KEY.match(self.text, self.pos)
        if not m:
            raise self.error("expected a key")
        self.pos = m.end()
        return m.group()

    def string(self) -> str:
        quote = self.text[self.pos]
        if self.text.startswith(quote * 3, self.pos):
            raise self.error("multi-line strings are not supported without Python 3.11's tomllib")
        self.pos += 1
        out = []
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] in "\r\n":
                raise self.error("unterminated string")
            c = self.text[self.pos]
            self.pos += 1
            if c == quote:
                return "".join(out)
            if c == "\\" and quote == '"':
                e = self.text[self.pos: self.pos + 1]
                self.pos += 1
                if e in _ESCAPES:
                    out.append(_ESCAPES[e])
                elif e in ("u", "U"):
                    n = 4 if e == "u" else 8
                    digits = self.text[self.pos: self.pos + n]
                    if len(digits) != n or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
                        raise self.error("bad unicode escape")
                    out.append(chr(int(digits, 16)))
                    self.pos += n
                else:
                    raise self.error(f"bad escape \\{e}")
            else:
                out.append(c)

    def value(self):
        self.skip_ws()
        if self.pos >= len(self.text):
            raise self.error("expected a value")
        c = self.text[self.pos]
        if c in "\"'":
            return self.string()
        if c == "[":
            self.pos += 1
            items = []
            while True:
                self.skip_ws(newlines=True)
                if self.text.startswith("]", self.pos):
                    self.pos += 1
                    return items
                items.append(self.value())
                self.skip_ws(newlines=True)
                if self.text.startswith(",", self.pos):
                    self.pos += 1
                elif not self.text.startswith("]", self.pos):
                    raise self.error("expected ',' or ']' in array")
        if c == "{":
            raise self.error("inline tables are not supported without Python 3.11's tomllib")
        m = re.compile(r"[^\s,\]#]+").match(self.text, self.pos)
        word = m.group() if m else ""
        self.pos += len(word)
        if word == "true":
            return True
        if word == "false":
            return False
        if _INT.match(word):
            w = word.replace("_", "")
            sign = -1 if w.startswith("-") else 1
            w = w.lstrip("+-")
            base = {"0x": 16, "0o": 8, "0b": 2}.get(w[:2], 10)
            return sign * int(w[2:] if base != 10 else w, base)
        if _FLOAT.match(word):
            return float(word.replace("_", ""))
        raise self.error(f"cannot read value {word!r}")

    # -- document
    def parse(self) -> dict:
        root: dict = {}
        current = root
        while True:
            self.skip_ws(newlines=True)
            if self.pos >= len(self.text):
                return root
            if self.text.startswith("[[", self.pos):
                self.pos += 2
                name = self.key()
                self.skip_ws()
                if not self.text.startswith("]]", self.pos):
                    raise self.error("expected ']]'")
                self.pos += 2
                arr = root.setdefault(name, [])
                if not isinstance(arr, list):
                    raise self.error(f"{name!r} is not an array of tables")
                current = {}
                arr.append(current)
            elif self.text.startswith("[", self.pos):
                self.pos += 1
                name = self.key()
                self.skip_ws()
                if not self.text.startswith("]", self.pos):
                    raise self.error("expected ']'")
                self.pos += 1
                if name in root:
                    raise self.error(f"table {name!r} defined twice")
                current = root[name] = {}
            else:
                k = self.key()
                self.skip_ws()
                if not self.text.startswith("=", self.pos):
                    raise self.error("expected '='")
                self.pos += 1
                if k in current:
                    raise self.error(f"key {k!r} defined twice")
                current[k] = self.value()
            self.end_of_line()
