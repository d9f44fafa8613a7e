"""The ``wasmweld`` command line: :mod:`wasmweld.cli.main` dispatches to one module per subcommand.

Shell::

    $ wasmweld validate examples/bank.wat
    $ wasmweld validate broken.wasm
    broken.wasm: type mismatch: expected i32, found i64 (at offset 0x1a)

Python::

    from wasmweld.cli.main import main
    status = main(["validate", "examples/bank.wat"])
"""
