"""Everything that needs wasmtime lives here, and only here.

``engine`` holds the shared configuration (every supported Wasm 3.0 feature
on), ``wat2wasm``, ``validate_bytes`` and ``load_bytes``; the other modules of
this package (the run-time World, the compiled-module cache, WASI glue) build
on it. wasmtime itself is imported inside functions, so importing this package
never needs it::

    from wasmweld.runtime import engine
    engine.validate_bytes(engine.wat2wasm("(module)"))
"""
