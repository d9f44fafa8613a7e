"""`make demo`: wasmweld's main job on the bundled example modules, step by step.

The examples are three modules that import each other (examples/*.wat):
logger (an event log) imports nothing; ledger (balances in its own memory)
imports logger.log; bank (accounts, transfers, a fee policy called through a
table) imports ledger.credit/debit/balance and logger.log.

The demo
  1. prints the fusion plan (`wasmweld merge --plan`),
  2. merges the three into one module in examples/build/ (`wasmweld merge -o`; or the folder given as argument),
     once keeping each memory (multi-memory) and once with `--single-memory`,
  3. summarises the result (`wasmweld info`),
  4. runs the same calls on the swarm (a wasmweld.World with the three modules,
     each its own instance) and on both merged modules, and checks the answers match,
  5. adds an export to the merged module (`wasmweld edit --add-export`), validates and runs it.

Each step prints the command it runs; the CLI runs in this process (same code as .venv/bin/wasmweld),
its messages (normally on stderr) printed in line with the rest.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import wasmweld
from wasmweld.cli.main import main as wasmweld_cli

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["logger", "ledger", "bank"]  # dependency order: the merged module keeps this order
INPUTS = [f"examples/{n}.wat={n}" for n in NAMES]

# the calls made on both worlds, in order: (module, export, args)
CALLS = [
    ("bank", "open", (1, 500)),           # fund account 1 from the reserve
    ("bank", "transfer", (1, 2, 120)),    # no fee (policy 0)
    ("bank", "set_policy", (2,)),         # fee: 1%, chosen by call_indirect through bank's table
    ("bank", "transfer", (1, 2, 300)),    # 300 + fee 3
    ("bank", "transfer", (2, 1, 10_000)),  # refused: account 2 holds 420
    ("bank", "balance", (1,)),
    ("ledger", "balance", (2,)),
    ("bank", "reserve", ()),
    ("logger", "count", ()),
    ("logger", "code_at", (8,)),          # 11 = a fee was logged
    ("bank", "set_policy", (7,)),         # no such policy: traps, in every variant
]


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def cli(*argv: str) -> None:
    """Run one wasmweld command as a user would type it; stop the demo if it fails."""
    print(f"$ wasmweld {' '.join(a if ' ' not in a and '(' not in a else repr(a) for a in argv)}", flush=True)
    status = wasmweld_cli(list(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    if status != 0:
        raise SystemExit(f"demo: `wasmweld {argv[0]}` failed with status {status}")


def show(value) -> str:
    return "trap" if isinstance(value, Exception) else "-" if value is None else str(value)


def call(world, module: str, name: str, args):
    try:
        return world.invoke(module, name, *args)
    except wasmweld.WasmError as e:  # a trap is an answer too: both worlds must agree on it
        return e


def demo(build: str = "examples/build") -> int:
    """Run the demo, writing into ``build`` (relative to the repository root, or absolute)."""
    merged, single_memory, edited = (f"{build}/world.wasm", f"{build}/world-1mem.wasm", f"{build}/world-edited.wasm")
    start = time.perf_counter()
    sys.stderr = sys.stdout  # the CLI's summaries and warnings appear right after their command
    os.chdir(ROOT)  # paths in the printed commands are relative to the repository
    os.makedirs(build, exist_ok=True)
    print("wasmweld demo: three modules that import each other -> one module with the same behaviour")
    for n in NAMES:
        m = wasmweld.parse(_wasm(n))
        imports = ", ".join(f"{i.module}.{i.name}" for i in m.imports) or "nothing"
        print(f"  examples/{n + '.wat':10} {len(m.exports):2} exports, imports {imports}")

    step("1. the fusion plan: which import binds to which export (nothing is written)")
    cli("merge", *INPUTS, "--rename-export-conflicts", "--plan")

    step("2. merge into one module (bank's `balance` clashes with ledger's: renamed bank:balance)")
    cli("merge", *INPUTS, "--rename-export-conflicts", "-o", merged)
    print("\nthe same, for hosts that allow one memory (each input's memory gets its own region):")
    cli("merge", *INPUTS, "--rename-export-conflicts", "--single-memory", "-o", single_memory)

    step("3. what came out")
    cli("info", merged)

    step("4. the same calls on the swarm (3 instances, linked by name) and on the merged modules")
    swarm = wasmweld.World()
    for n in reversed(NAMES):  # any order: a module is instantiated once its imports can be satisfied
        swarm.add(n, f"examples/{n}.wat")
    one, single = wasmweld.World(), wasmweld.World()
    one.add("world", merged)
    single.add("world", single_memory)
    plan = wasmweld.merge_plan([(n, f"examples/{n}.wat") for n in NAMES], export_conflicts="rename")
    rows, same = [], True
    for module, name, args in CALLS:
        merged_name = plan.export_name(module, name)  # e.g. bank.balance -> "bank:balance"
        a, b, c = (call(swarm, module, name, args), call(one, "world", merged_name, args),
                   call(single, "world", merged_name, args))
        ok = all(type(x) is type(a) and (isinstance(a, Exception) or x == a) for x in (b, c))
        same &= ok
        rows.append((f"{module}.{name}{args if len(args) != 1 else f'({args[0]})'}", show(a),
                     merged_name, show(b), show(c), "ok" if ok else "DIFFERENT"))
    head = ("call", "swarm", "merged export", "merged", "1-memory", "")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"  {'all answers match' if same else 'ANSWERS DIFFER'} ({len(CALLS)} calls)")

    step("5. surgery on the result: export a new entry point, validate it, call it")
    cli("edit", merged, "-o", edited, "--add-export", "opening_reserve=balance(0)")
    cli("validate", "-v", edited)
    cli("run", edited, "--invoke", "opening_reserve")

    print(f"\ndemo: {'OK' if same else 'FAILED'} in {time.perf_counter() - start:.1f} s; "
          f"outputs in {build}/ (try: .venv/bin/wasmweld dump {merged} | head)")
    return 0 if same else 1


def _wasm(name: str) -> bytes:
    from wasmweld.cli.io import read_input  # .wat -> .wasm via wasmtime

    return read_input(f"examples/{name}.wat")


if __name__ == "__main__":
    sys.exit(demo(*sys.argv[1:2]))  # optional argument: the output folder
