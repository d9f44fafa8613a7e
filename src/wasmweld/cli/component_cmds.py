"""The component branches of ``wasmweld run`` and ``wasmweld snapshot`` (cli/run.py and cli/snapshot.py
hand a component over to these)::

    $ wasmweld run hello.component.wasm                      # calls wasi:cli/run#run (WASI 0.2 granted)
    hello from a component
    $ wasmweld run lib.wasm --invoke 'test:values/provider@0.1.0#echo-points([{x: 1, y: 2, label: "a"}])'
    [{x: 1, y: 2, label: "a"}]
    $ wasmweld snapshot app.component.wasm -o pre.wasm       # the state module pre-initialised in place

Arguments and results of ``--invoke`` are WAVE (:mod:`wasmweld.runtime.component_wave`).
"""

from __future__ import annotations

import os
import time
from argparse import Namespace
from typing import Any

from wasmweld.errors import ExecutionError, LinkError

__all__ = ["run_component_cli", "snapshot_component_cli"]


def _wasi_for_cli(args, argv: list[str]):
    from wasmweld.runtime.wasi import Preopen, WasiOptions

    if getattr(args, "wasi", None) is False:
        return False
    pre = []
    for d in getattr(args, "dir", []) or []:
        host, _, guest = d.partition("::")
        pre.append(Preopen(host, guest or host))
    env = {}
    for e in getattr(args, "env", []) or []:
        k, eq, v = e.partition("=")
        if not eq or not k:
            raise LinkError(f"--env wants NAME=VALUE, got {e!r}")
        env[k] = v
    return WasiOptions(argv=tuple(argv), env=env, stdin="inherit", preopens=tuple(pre))


def _exit_code(e: BaseException) -> int | None:
    import re

    m = re.search(r"[Ee]xited with i32 exit status (\d+)", str(e))
    return int(m.group(1)) if m else None


def run_component_cli(args: Namespace) -> int:
    """``wasmweld run COMPONENT [ARGS]`` (``wasi:cli/run``) and ``--invoke 'f(wave, ...)'``."""
    import sys

    from wasmweld.cli.io import blame
    from wasmweld.runtime.component_wave import parse_args, parse_call, to_wave
    from wasmweld.runtime.component_world import ComponentWorld

    target = args.target
    extra = list(getattr(args, "args", None) or [])
    w = ComponentWorld(wasi=_wasi_for_cli(args, [os.path.basename(target), *extra]))
    name = os.path.basename(target).rsplit(".", 1)[0] or "main"  # errors name the component as the user did
    with blame(target):
        h = w.add(name, target)
    try:
        invoke = getattr(args, "invoke", None)
        if invoke is None:
            runs = [n for n, (sort, _) in h.exports.items() if n.startswith("wasi:cli/run@") and sort == "instance"]
            if not runs:
                raise LinkError(f"{target}: the component exports no wasi:cli/run (use --invoke FUNC)")
            result = w.invoke(name, runs[0] + "#run")
            return 0 if getattr(result, "tag", "ok") == "ok" else 1
        call = " ".join([invoke, *extra]) if extra else invoke
        fname, argtext = parse_call(call)
        f = w.func(name, fname)
        ft = f.type(w.store)
        values = parse_args(argtext, [t for _, t in ft.params])
        result = w.invoke(name, fname, *values)
    except ExecutionError as e:
        code = _exit_code(e)
        if code is not None:
            return code
        raise
    if ft.result is not None:
        sys.stdout.write(to_wave(result, ft.result) + "\n")
    return 0


def snapshot_component_cli(args: Namespace, data: bytes, path: str, force: bool, wasi: Any) -> int:
    """``wasmweld snapshot COMPONENT -o OUT`` (the options a component snapshot supports)."""
    import sys

    from wasmweld.cli.io import blame, write_output
    from wasmweld.errors import WasmError
    from wasmweld.runtime.component_snapshot import snapshot_component

    unsupported = [flag for flag, attr in (("--fuel", "fuel"), ("--timeout", "timeout"), ("--max-memory", "max_memory"),
                                           ("--rename-func", "rename_func"), ("--report", "report"))
                   if getattr(args, attr, None)]
    if unsupported:
        raise WasmError(f"{', '.join(unsupported)}: not supported for components")
    t0 = time.perf_counter()
    with blame(args.input):
        out = snapshot_component(data, getattr(args, "init_func", None), wasi=wasi,
                                 keep_init_func=getattr(args, "keep_init_func", False) or None)
    write_output(path, out, inputs=[args.input], force=force)
    if not getattr(args, "quiet", False):
        print(f"snapshot: component {len(data)} -> {len(out)} bytes in {(time.perf_counter() - t0) * 1000:.1f} ms "
              "(one core module rewritten, every other section unchanged)", file=sys.stderr)
    return 0
