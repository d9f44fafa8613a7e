"""`make demo`: wasmweld on the bundled example modules.

The examples are three modules that import each other: bank (accounts,
transfers, a fee policy called through a table) imports from ledger (balances in
its own memory) and logger (an event log); ledger imports from logger.

For now the demo compiles each example and validates it with `wasmweld validate`; `wasmweld info` runs too once that
subcommand exists. (Merging the three into one module comes with `wasmweld merge`.)
"""

from __future__ import annotations

import sys
from pathlib import Path

from wasmweld.cli.io import read_input
from wasmweld.cli.main import build_parser, main

HERE = Path(__file__).resolve().parent
EXAMPLES = [HERE / f"{name}.wat" for name in ("logger", "ledger", "bank")]


def command_exists(name: str) -> bool:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return name in sub.choices


def run(argv: list[str]) -> int:
    print(f"$ wasmweld {' '.join(argv)}", flush=True)
    status = main(argv)
    sys.stdout.flush()
    return status


def demo() -> int:
    rel = [str(p.relative_to(HERE.parent)) for p in EXAMPLES]
    print("wasmweld demo: three example modules that import each other\n")
    for path, name in zip(EXAMPLES, rel):
        data = read_input(path)
        print(f"{name}: {path.stat().st_size} bytes of text -> {len(data)} bytes of Wasm")
    print()
    status = run(["validate", "-v", *rel])
    if command_exists("info"):
        for name in rel:
            print()
            status |= run(["info", name])
    print()
    print("demo: all examples valid" if status == 0 else "demo: FAILED")
    return status


if __name__ == "__main__":
    sys.exit(demo())
