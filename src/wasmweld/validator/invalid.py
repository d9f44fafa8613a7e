"""The exception the body checker raises inside a function (turned into a ValidationError with its place).

::

    (func (result i32) (i64.const 0))   ->  Invalid("type mismatch: end of func expects [i32] but the stack has [i64]")
"""

from __future__ import annotations

from typing import Any

__all__ = ["Invalid"]


class Invalid(Exception):
    """Raised inside the checker; turned into a ValidationError with the function and offset."""

    def __init__(self, message: str, expected: Any = None, found: Any = None):
        super().__init__(message)
        self.message: str = message
        self.expected = expected
        self.found = found
