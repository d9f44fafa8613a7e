"""``python -m wasmweld ...`` is the ``wasmweld`` command."""

from wasmweld.cli.main import console

console()
