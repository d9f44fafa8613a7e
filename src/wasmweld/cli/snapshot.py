"""``wasmweld snapshot IN -o OUT``: pre-initialise a module (Wizer's job).

Runs the module's init function (``wizer-initialize``, else
``wizer.initialize``, or ``--init-func NAME``) once in wasmtime and writes a
module that starts in the state it left: globals, memory contents and sizes.
The report goes to standard error::

    $ wasmweld snapshot primes.wasm -o primes.init.wasm --fuel 10000000000
    snapshot: init function: 'wizer.initialize' (after '_initialize') ran in 33.2 ms, 105823815 fuel
    snapshot: memory captured: 5827522 bytes of 6881280 in 10000 data segments
    snapshot: globals set: 0 of 1 mutable
    snapshot: memory 0: minimum 32 -> 105 pages
    snapshot: size: 53010 -> 5967047 bytes (112.56x)
    snapshot: total time: 231.4 ms (startup 61.0, compile 11.2, instrument 9.1, init 33.3, capture 74.0, rewrite 26.1, write 16.7 ms)

Compiling is most of the time for a large module: without ``--cache`` the
module is compiled with Winch, wasmtime's baseline compiler (x86-64; its init
runs once: compiling fast matters more than running fast; ``--compiler
cranelift`` for an init that computes for long); with ``--cache`` it is
compiled optimised by Cranelift once and loaded from the cache afterwards.

The times: ``startup`` is the command's own start (options, importing the
pre-initialiser and wasmtime, reading the input; the interpreter's start
before ``wasmweld.cli.main`` runs is not counted), then the stages of
:func:`wasmweld.preinit.snapshot_bytes` (``write`` includes writing the files).

WASI is off unless ``--allow-wasi``; then only the ``--dir``/``--env``
granted are visible (directories read-only unless ``--dir-rw`` or
``HOST::GUEST::rw``) and stdio is captured (its last 4 KiB shown if init
fails) unless ``--inherit-stdio``. The run is bounded by default (a
``--timeout`` of 120 s for the whole run, ``--max-memory`` 2 GiB per memory
and 2 GiB / 8 elements per table; ``--no-limits`` lifts both) and ``--fuel``
if given; exceeding one, a trap, or something that cannot be snapshotted
(imported memory/global/table, a changed table, a shared memory, ...) is one
``error:`` line naming the cause, with the wasm backtrace (and the captured
output) joined in::

    error: app.wat: init function 'wizer-initialize' trapped: integer divide by zero; wasm backtrace: #0 func 0 <div> at offset 0x3f; #1 func 1 <init> at offset 0x45

Exit status 0 on success, 1 on such errors. The output module and the
``--report`` file are written together or not at all.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import threading
import time
from typing import Any

from wasmweld.errors import WasmError
from argparse import ArgumentParser, Namespace

NAME = "snapshot"

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(text: str) -> int:
    m = _SIZE_RE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 1048576, 64MiB, 2G)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _fuel(text: str) -> int:
    value = _positive_int(text)
    if value >= 1 << 64:
        raise argparse.ArgumentTypeError(f"at most {(1 << 64) - 1} (wasmtime's fuel is 64 bits)")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    if not math.isfinite(value) or value > threading.TIMEOUT_MAX:
        raise argparse.ArgumentTypeError(f"at most {threading.TIMEOUT_MAX:g} seconds (leave it out for no deadline)")
    return value


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key, value


def _same_path(a: str, b: str) -> bool:
    return b != "-" and os.path.realpath(a) == os.path.realpath(b)


def _preopens(dirs: list[str], dirs_rw: list[str]):
    """``--dir`` (read-only unless ``::rw``) and ``--dir-rw`` as Preopens."""
    from wasmweld.runtime.wasi import Preopen

    out = []
    for item, writable in [(d, False) for d in dirs] + [(d, True) for d in dirs_rw]:
        parts = item.split("::")
        if len(parts) == 3 and parts[2] == "rw" and not writable:
            parts, writable = parts[:2], True
        if len(parts) > 2 or not all(parts):
            raise WasmError(f"bad WASI directory {item!r}: expected HOST, HOST::GUEST or HOST::GUEST::rw")
        host, guest = parts[0], parts[-1]
        if not os.path.isdir(host):
            raise WasmError(f"WASI directory {host!r} does not exist or is not a directory")
        out.append(Preopen(host, guest, writable=writable))
    return out


def register(subparsers: Any) -> ArgumentParser:
    from wasmweld.cli.io import add_output_options

    p = subparsers.add_parser(
        NAME,
        help="pre-initialise a module: run its init function once, write the resulting state",
        description="Run the module's init function in wasmtime and write a module that starts in the state it "
        "left (globals, memory). Like Wizer, with bounds on the init run and a report on stderr.",
    )
    p.add_argument("input", metavar="IN", help="binary (.wasm) or text (.wat) module; '-' for stdin")
    add_output_options(p, in_place=False)
    p.add_argument("--init-func", metavar="NAME",
                   help="the export to run (default: wizer-initialize, else wizer.initialize)")
    p.add_argument("--keep-init-func", action="store_true", help="keep exporting the init function")
    p.add_argument("--rename-func", metavar="DST=SRC", action="append", type=_pair, default=[],
                   help="rename function export SRC to DST, replacing any DST export (repeatable)")
    w = p.add_argument_group("WASI (off unless --allow-wasi)")
    w.add_argument("--allow-wasi", action="store_true", help="give the init function WASI preview 1")
    w.add_argument("--dir", metavar="HOST[::GUEST[::rw]]", action="append", default=[],
                   help="make host directory HOST visible, read-only, as GUEST (default: the same path); "
                   "'::rw' at the end makes it writable; repeatable")
    w.add_argument("--dir-rw", metavar="HOST[::GUEST]", action="append", default=[],
                   help="like --dir, writable: the init function may create, change and delete files there")
    w.add_argument("--env", metavar="K=V", action="append", type=_pair, default=[],
                   help="set environment variable K to V; repeatable")
    w.add_argument("--inherit-stdio", action="store_true",
                   help="share this process's stdin/stdout/stderr (default: captured, shown on failure)")
    b = p.add_argument_group("bounds on the init run (on by default)")
    b.add_argument("--fuel", metavar="N", type=_fuel, help="stop the module's code after N units of fuel")
    deadline = b.add_mutually_exclusive_group()
    deadline.add_argument("--timeout", metavar="S", type=_seconds,
                   help="stop the whole run after S seconds of wall clock, blocking WASI calls included "
                   "(default 120)")
    b.add_argument("--max-memory", metavar="BYTES", type=_size,
                   help="cap each memory at BYTES and each table at BYTES/8 elements (suffixes K, M, G: "
                   "powers of 1024; default 2G)")
    deadline.add_argument("--no-limits", action="store_true",
                   help="no deadline and no memory cap (not with --timeout or --max-memory; --fuel still applies)")
    b.add_argument("--max-segments", metavar="N", type=_positive_int, default=None,
                   help="write at most N data segments (default 10000)")
    c = p.add_mutually_exclusive_group()
    c.add_argument("--cache", metavar="DIR", help="keep the compiled module in this compiled-artifact cache "
                   "directory (private to this user), so that the next snapshot of it skips compiling")
    c.add_argument("--user-cache", action="store_true",
                   help="the same with the per-user artifact cache (~/.cache/wasmweld/artifacts)")
    p.add_argument("--compiler", choices=("winch", "cranelift"), default=None,
                   help="compile the module for the init run with Winch (default without --cache: compiles "
                   "several times faster, runs a little slower) or Cranelift (optimised: for a long init)")
    p.add_argument("--report", metavar="FILE", help="also write the report as JSON to FILE ('-': stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the report on stderr")
    return p


def run(args: Namespace) -> int:
    from wasmweld.cli.io import blame, check_output, elapsed_seconds, output_target, read_input, write_outputs
    from wasmweld.preinit import DEFAULT_MAX_MEMORY, DEFAULT_TIMEOUT, MAX_SEGMENTS, WasiOptions, snapshot_bytes
    from wasmweld.runtime.engine import require_wasmtime
    from wasmweld.runtime.preinit_runner import OutputTail

    require_wasmtime()  # imported now: part of the command's start-up, not of the first stage

    if not args.allow_wasi and (args.dir or args.dir_rw or args.env or args.inherit_stdio):
        raise WasmError("--dir, --dir-rw, --env and --inherit-stdio need --allow-wasi")
    path, force = output_target(args, args.input)
    if args.report == "-" and path == "-":
        raise WasmError("--report - and -o - would both write to standard output")
    # both destinations are checked before the init runs: an unwritable --report must not
    # leave the output written (nor cost an init run)
    check_output(path, inputs=[args.input], force=force)
    if args.report:
        if args.report != "-" and _same_path(args.report, path):
            raise WasmError(f"--report {args.report} is also the output module")
        check_output(args.report, inputs=[args.input], force=force, binary=False)
    renames: dict[str, str] = {}
    for dst, src in args.rename_func:
        if dst in renames:
            raise WasmError(f"--rename-func gives two sources for {dst!r}: {renames[dst]!r} and {src!r}")
        renames[dst] = src
    wasi = None
    if args.allow_wasi:
        streams = dict(stdin="inherit", stdout="inherit", stderr="inherit") if args.inherit_stdio else \
            dict(stdin=None, stdout=OutputTail(), stderr=OutputTail())
        wasi = WasiOptions(argv=(), env=dict(args.env), preopens=tuple(_preopens(args.dir, args.dir_rw)), **streams)
    if args.no_limits and args.max_memory is not None:
        raise WasmError("--no-limits lifts --timeout and --max-memory: give one or the other")
    timeout = args.timeout if args.timeout is not None else (None if args.no_limits else DEFAULT_TIMEOUT)
    max_memory = args.max_memory if args.max_memory is not None else \
        (None if args.no_limits else DEFAULT_MAX_MEMORY)

    data = read_input(args.input)
    if data[:8] == b"\0asm\x0d\0\x01\0":  # a component: wasmweld.runtime.component_snapshot
        from wasmweld.cli.component_cmds import snapshot_component_cli
        return snapshot_component_cli(args, data, path, force, wasi)
    reports: list[Any] = []
    startup = elapsed_seconds()
    # an InitError (trap, fuel, deadline, ...) is printed like every other error, by
    # wasmweld.cli.main: one line, with the backtrace and the init's output tail joined in
    with blame(args.input):
        out = snapshot_bytes(
            data,
            args.init_func,
            keep_init_func=args.keep_init_func,
            rename_funcs=renames,
            wasi=wasi,
            fuel=args.fuel,
            timeout=timeout,
            max_memory=max_memory,
            max_segments=args.max_segments or MAX_SEGMENTS,
            report=reports.append,
            cache_dir=args.cache or (True if args.user_cache else None),
            compiler=args.compiler,
        )
    report = reports[0]
    report.times = {"startup": startup, **report.times}
    report.total_seconds += startup
    t0 = time.perf_counter()
    outputs = [(path, out)]
    if args.report:
        import json

        # the report cannot include the time taken to write itself
        doc = json.dumps({k: v for k, v in vars(report).items()}, indent=2) + "\n"
        outputs.append((args.report, doc.encode("utf-8")))
    write_outputs(outputs, inputs=[args.input], force=force)   # all or nothing
    written = time.perf_counter() - t0
    report.times["write"] = report.times.get("write", 0.0) + written
    report.total_seconds += written
    if not args.quiet:
        print("\n".join(f"snapshot: {line}" for line in report.lines()), file=sys.stderr)
    return 0
