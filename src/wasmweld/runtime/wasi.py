"""WASI (preview 1) grants for a :class:`~wasmweld.runtime.world.World`.

A World runs WASI modules only when asked: ``World(wasi=True)`` gives the
guests this process's stdin/stdout/stderr and nothing else (no files, no
environment); ``World(wasi=WasiOptions(...))`` says exactly what they get::

    opts = WasiOptions(argv=["app", "--fast"], env={"LANG": "C"},
                       stdout="/tmp/out.txt",            # a file, "inherit", or a callable(bytes)
                       preopens=[Preopen("./data", "/data", writable=False)])
    world = World(wasi=opts)
    world.add("app", "app.wasm")     # imports of wasi_snapshot_preview1.* are satisfied
    code = world.run_command("app")  # calls _start, returns the exit code

All WASI modules of one World share one WASI context (one set of file
descriptors), as processes linked into one program would.
"""

from __future__ import annotations

import os
from ..record import field, record
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Union

from wasmweld.errors import LinkError
from wasmweld.runtime.engine import WASI_MODULES, require_wasmtime

if TYPE_CHECKING:
    import wasmtime

__all__ = ["WasiOptions", "Preopen", "OutputTail", "OUTPUT_TAIL_BYTES", "WASI_MODULES", "make_wasi_config"]

Stream = Union[None, str, os.PathLike[str], Callable[[bytes], None]]


@record(frozen=True)
class Preopen:
    """A host directory made visible to the guest at ``guest`` (read-only unless ``writable``)."""

    host: str
    guest: str
    writable: bool = True


@record(frozen=True)
class WasiOptions:
    """What WASI guests of a World may see.

    ``stdin``: None (empty), ``"inherit"``, or a file path.
    ``stdout`` / ``stderr``: None (discarded), ``"inherit"``, a file path
    (created/truncated), or a callable receiving each written chunk as bytes.
    ``env``: a mapping; ``inherit_env`` copies this process's environment.
    ``argv``: the guest's argv; when None the World uses ``[module name]``.
    """

    argv: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    inherit_env: bool = False
    stdin: Stream = None
    stdout: Stream = "inherit"
    stderr: Stream = "inherit"
    preopens: tuple[Preopen, ...] = ()

    def __post_init__(self) -> None:
        if self.argv is not None and not isinstance(self.argv, tuple):
            object.__setattr__(self, "argv", tuple(self.argv))
        pre = self.preopens
        if isinstance(pre, Mapping):
            pre = tuple(Preopen(str(host), str(guest)) for guest, host in pre.items())
        elif not isinstance(pre, tuple):
            pre = tuple(pre)
        object.__setattr__(self, "preopens", pre)

    @classmethod
    def coerce(cls, value: "bool | WasiOptions | None") -> "WasiOptions | None":
        if value is None or value is False:
            return None
        if value is True:
            return cls(stdin="inherit")
        if isinstance(value, cls):
            return value
        raise TypeError(f"wasi must be a bool or WasiOptions, not {type(value).__name__}")

    def with_argv(self, argv: Iterable[str]) -> "WasiOptions":
        from ..record import replace

        return replace(self, argv=tuple(argv))


def _stream(cfg, which: str, value: Stream) -> None:
    if value is None:
        return
    if value == "inherit":
        getattr(cfg, f"inherit_{which}")()
        return
    if callable(value):
        if which == "stdin":
            raise LinkError("WASI stdin cannot be a callable; give a file path")
        setattr(cfg, f"{which}_custom", lambda data: value(bytes(data)))
        return
    path = os.fspath(value)
    wasmtime = require_wasmtime()

    try:
        setattr(cfg, f"{which}_file", path)
    except wasmtime.WasmtimeError:
        # wasmtime says only "failed to set stdin file": say which file and why
        if which == "stdin":
            why = "no such file" if not os.path.exists(path) else \
                "is a directory" if os.path.isdir(path) else "cannot be read"
        else:
            folder = os.path.dirname(os.path.abspath(path))
            why = f"no such directory {folder}" if not os.path.isdir(folder) else \
                "is a directory" if os.path.isdir(path) else "cannot be written"
        raise LinkError(f"WASI {which}: {path}: {why}") from None


def make_wasi_config(opts: WasiOptions, default_argv: Iterable[str] = ()) -> wasmtime.WasiConfig:
    """Build a ``wasmtime.WasiConfig`` from ``opts``; bad grants raise LinkError."""
    wasmtime = require_wasmtime()

    cfg = wasmtime.WasiConfig()
    try:
        cfg.argv = list(opts.argv if opts.argv is not None else default_argv)
        if opts.inherit_env:
            cfg.inherit_env()
        if opts.env:
            cfg.env = [(str(k), str(v)) for k, v in opts.env.items()]
        _stream(cfg, "stdin", opts.stdin)
        _stream(cfg, "stdout", opts.stdout)
        _stream(cfg, "stderr", opts.stderr)
        for p in opts.preopens:
            if not os.path.isdir(p.host):
                raise LinkError(f"WASI preopen: host directory {p.host!r} (for guest path {p.guest!r}) does not exist")
            cfg.preopen_dir(os.fspath(p.host), p.guest, p.writable)
    except wasmtime.WasmtimeError as e:
        raise LinkError(f"WASI configuration rejected: {' '.join(str(e).split())}") from None
    return cfg


#: how much of an output stream an :class:`OutputTail` keeps by default
OUTPUT_TAIL_BYTES = 4096


class OutputTail:
    """A WASI output stream keeping only the last ``limit`` bytes: ``WasiOptions(stdout=OutputTail())``.

    ``total`` counts every byte written; ``data`` is the tail; ``text()`` the
    tail decoded (UTF-8, errors replaced). Works as a stream of a World too.
    """

    def __init__(self, limit: int = OUTPUT_TAIL_BYTES):
        self.limit = limit
        self.total: int = 0
        self._buf = bytearray()

    def __call__(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if len(chunk) >= self.limit:
            self._buf[:] = chunk[len(chunk) - self.limit:]
            return
        self._buf += chunk
        if len(self._buf) > self.limit:
            del self._buf[:len(self._buf) - self.limit]

    def replace(self, data: bytes, total: int) -> None:
        """Set the tail to ``data`` (its last ``limit`` bytes) after ``total`` bytes were written in all."""
        self._buf[:] = data[max(len(data) - self.limit, 0):]
        self.total = total

    @property
    def data(self) -> bytes:
        return bytes(self._buf)

    def text(self) -> str:
        return self._buf.decode("utf-8", errors="replace")
