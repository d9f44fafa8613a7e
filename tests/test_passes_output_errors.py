"""Issue 17.16: an edit whose output would not validate says it is the output's fault (not the input's),
quotes no input offset as if it were the input's, and writes nothing."""

from __future__ import annotations

import wasmtime

from wasmweld.cli.main import main
from wasmweld.errors import ValidationError


def test_invalid_output_is_reported_as_the_outputs(tmp_path, capsys, monkeypatch):
    src = tmp_path / "in.wasm"
    src.write_bytes(wasmtime.wat2wasm('(module (func (export "f")) (func $dead))'))
    out = tmp_path / "out.wasm"
    import sys

    validation = sys.modules["wasmweld.validate"]

    given = src.read_bytes()
    real = validation.validate

    def refuse(data, **kw):                # stands for a pass that produced an invalid module
        if bytes(data) != given:
            raise ValidationError("undeclared function reference", 0x44)
        return real(data, **kw)

    monkeypatch.setattr(validation, "validate", refuse)
    assert main(["edit", str(src), "-o", str(out), "--gc"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the edited module does not validate"), err
    assert "nothing written" in err[0] and "every input validates" in err[0], err
    assert "in.wasm" not in err[0]
    assert not out.exists()
