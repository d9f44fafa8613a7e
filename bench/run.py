"""``make bench``: run every bench/bench_*.py, print one table of medians, write bench/results.md.

A bench module exposes ``run(ctx) -> list[Row]``. ``ctx`` gives it inputs and
timing; peers run as child processes of this one (helpers in bench/peers.py)::

    def run(ctx):
        path = ctx.corpus("em-sqljs")
        data = path.read_bytes()
        rows = [ctx.row("parse", path.name, "wasmweld", ctx.time(lambda: wasmweld.parse(data)))]
        rows.append(ctx.row("parse", path.name, "walrus", ctx.time(lambda: peers.walrus_roundtrip(path, ctx.tmp / "o.wasm"))))
        return rows

Each timing is the median of ``--repeats`` runs (``--quick``: 1 run, and
``ctx.quick`` tells benches to use their small inputs). A peer's time is the
wall-clock time of its whole process (start-up included), as a user sees it. The column ``vs
wasmweld`` is the row's median divided by the median of the wasmweld row of the
same task and input (a row whose tool is ``wasmweld`` or starts with
``wasmweld``): above 1 the peer is slower, below 1 faster.

usage: bench/run.py [--quick] [--repeats N] [-k SUBSTRING] [--out FILE] [--list]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402

CORPUS_DIR = Path(os.environ.get("CORPUS", Path.home() / ".cache" / "wasmweld-corpus"))
SHARED_DIR = Path(os.environ.get("WASMWELD_SHARED", REPO.parent / "shared"))


@dataclass
class Row:
    """One measurement: ``tool`` did ``task`` on ``input`` in ``median_s`` seconds (None: failed)."""

    task: str
    input: str
    tool: str
    median_s: float | None
    extra: dict = field(default_factory=dict)


class Context:
    """What a bench module gets: settings, inputs, a scratch folder and timers."""

    def __init__(self, repeats: int, quick: bool, tmp: Path):
        self.repeats = repeats
        self.quick = quick
        self.tmp = tmp
        self.peers = peers
        self.corpus_dir = CORPUS_DIR
        self.shared_dir = SHARED_DIR
        self.repo = REPO

    def corpus(self, cid: str) -> Path:
        """Path of a corpus module by id (``make bench`` fetches the corpus first)."""
        path = self.corpus_dir / f"{cid}.wasm"
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: run `bash ../shared/corpus/fetch.sh`")
        return path

    def times(self, fn: Callable[[], object], repeats: int | None = None, warmup: int = 0) -> list[float]:
        """Wall-clock seconds of ``repeats`` calls of ``fn``, after ``warmup`` untimed calls."""
        for _ in range(warmup):
            fn()
        out = []
        for _ in range(repeats or self.repeats):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return out

    def paired(self, fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
        """Wall-clock seconds of each of ``fns``, called in turn for ``max(repeats, rounds)`` rounds (interleaved:
        a ratio between them is not moved by the machine drifting between two series)."""
        out: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(max(self.repeats, rounds)):
            for k, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                out[k].append(time.perf_counter() - t0)
        return out

    @staticmethod
    def call_with_env(fn: Callable[[], object], **env: str) -> object:
        """``fn()`` with the environment variables ``env`` set meanwhile (``WASMWELD_FORK="0"``: one process)."""
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return fn()
        finally:
            for k, v in old.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v

    def time(self, fn: Callable[[], object], repeats: int | None = None, warmup: int = 0) -> float:
        """Median wall-clock seconds of ``fn()`` over ``repeats`` calls."""
        return statistics.median(self.times(fn, repeats, warmup))

    def row(self, task: str, input: str, tool: str, median_s: float | None, **extra) -> Row:
        return Row(task, input, tool, median_s, extra)

    def measure(
        self, task: str, input: str, tool: str, fn: Callable[[], object], *, warmup: int = 0, **extra
    ) -> Row:
        """Time ``fn`` into a Row; a failure becomes a row with no time and the error in ``extra``."""
        try:
            ts = self.times(fn, warmup=warmup)
        except Exception as exc:  # a peer that cannot do the job is a result, not a crash
            return Row(task, input, tool, None, {**extra, "error": f"{type(exc).__name__}: {exc}"[:200]})
        return Row(task, input, tool, statistics.median(ts), {**extra, "runs": len(ts)})

    def log(self, *args) -> None:
        print(*args, file=sys.stderr, flush=True)


def discover(pattern: str | None = None) -> list[Path]:
    files = sorted(HERE.glob("bench_*.py"))
    return [f for f in files if not pattern or pattern in f.stem]


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"bench_modules.{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _is_wasmweld(tool: str) -> bool:
    return tool == "wasmweld" or tool.startswith("wasmweld")


def baselines(rows: Sequence[Row]) -> dict[tuple[str, str], float]:
    """(task, input) -> median of its wasmweld row (the one named exactly ``wasmweld`` first)."""
    base: dict[tuple[str, str], float] = {}
    for exact in (True, False):
        for r in rows:
            key = (r.task, r.input)
            if key in base or r.median_s is None:
                continue
            if (r.tool == "wasmweld") if exact else _is_wasmweld(r.tool):
                base[key] = r.median_s
    return base


def _fmt_s(v: float | None) -> str:
    if v is None:
        return "failed"
    return f"{v:.3g}" if v < 1 else f"{v:.3f}" if v < 100 else f"{v:.1f}"


def table(rows: Sequence[Row]) -> list[list[str]]:
    base = baselines(rows)
    out = [["task", "input", "tool", "median s", "vs wasmweld", "notes"]]
    for r in rows:
        b = base.get((r.task, r.input))
        ratio = "" if r.median_s is None or not b else f"{r.median_s / b:.2f}x"
        notes = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.extra.items())
        out.append([r.task, r.input, r.tool, _fmt_s(r.median_s), ratio, notes])
    return out


def render_text(cells: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(cells: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in cells]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 2 + ["---"]) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in esc[1:]]
    return "\n".join(lines)


def machine_line(repeats: int) -> str:
    try:
        wt = importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:
        wt = "not installed"
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"wasmtime {wt}, binaryen {peers.version('binaryen')}, wabt {peers.version('wabt')}; "
        f"median of {repeats} run{'s' if repeats != 1 else ''}"
    )


def _as_installed() -> None:
    """Run wasmweld as installed code runs: byte code compiled once (pip does it when installing a wheel),
    also in child processes. An environment with PYTHONDONTWRITEBYTECODE=1 would otherwise make every
    CLI row pay for compiling every imported module (0.3-0.5 s for merge) on every start."""
    import compileall

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(str(REPO / "src"), quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one run each, small inputs")
    ap.add_argument("--repeats", type=int, default=None, help="runs per measurement (default 5, --quick 1)")
    ap.add_argument("-k", dest="pattern", help="only bench modules whose name contains this")
    ap.add_argument("--out", type=Path, help="markdown results file (default bench/results.md, not written with -k)")
    ap.add_argument("--list", action="store_true", help="list bench modules and exit")
    args = ap.parse_args(argv)

    files = discover(args.pattern)
    if args.list:
        print("\n".join(f.stem for f in files))
        return 0
    if not files:
        print("no bench modules matched", file=sys.stderr)
        return 1
    repeats = args.repeats or (1 if args.quick else 5)
    _as_installed()

    rows: list[Row] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wasmweld-bench-") as tmp:
        for f in files:
            ctx = Context(repeats, args.quick, Path(tmp) / f.stem)
            ctx.tmp.mkdir()
            print(f"== {f.stem}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                got = list(load(f).run(ctx))
            except Exception:
                traceback.print_exc()
                failed.append(f.stem)
                continue
            rows.extend(got)
            print(f"   {len(got)} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    cells = table(rows)
    print(render_text(cells))
    header = machine_line(repeats)
    print(f"\n{header}")
    md = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run.py); do not edit by hand.",
        "`vs wasmweld` is the tool's median time divided by wasmweld's on the same task and input "
        "(above 1: slower than wasmweld).",
        "",
        f"{header}{' (--quick)' if args.quick else ''}.",
        "",
        render_markdown(cells),
        "",
    ]
    if failed:
        md += [f"Bench modules that failed: {', '.join(failed)}.", ""]
    out = args.out or (None if args.pattern else HERE / "results.md")
    if out is not None:
        out.write_text("\n".join(md), encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    if failed:
        print(f"failed bench modules: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
