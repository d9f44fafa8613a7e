"""Issue 16.5: what ``wasmweld merge`` as a process skips to start sooner, with the same output."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

from wasmweld.custom.producers import Producers
from wasmweld.module import parse
from wasmweld.runtime.engine import wat2wasm


def _with_producers(wat: str) -> bytes:
    """A module with a ``producers`` section (processed-by cc1 1): the merge adds wasmweld's version."""
    data = wat2wasm(wat)
    payload = b"\x09producers" + b"\x01\x0cprocessed-by\x01\x03cc1\x011"
    return data + b"\x00" + bytes([len(payload)]) + payload


def test_cli_merge_writes_the_installed_version_without_importlib_metadata(tmp_path):
    a = tmp_path / "a.wasm"
    b = tmp_path / "b.wasm"
    a.write_bytes(_with_producers('(module (func (export "f")))'))
    b.write_bytes(_with_producers('(module (import "a" "f" (func)) (func (export "g") call 0))'))
    out = tmp_path / "ab.wasm"
    code = ("import sys; from wasmweld.cli.main import main; status = main(sys.argv[1:]); "
            "print('importlib.metadata' in sys.modules); sys.exit(status)")
    proc = subprocess.run([sys.executable, "-c", code, "merge", f"{a}=a", f"{b}=b", "-q", "-o", str(out)],
                          capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
    producers = Producers.decode(parse(out.read_bytes()).custom("producers").data)
    assert producers.fields["processed-by"] == {"cc1": "1", "wasmweld": version("wasmweld")}
