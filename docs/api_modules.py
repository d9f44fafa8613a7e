"""The module specs `make docs` gives pdoc: ``wasmweld`` and every public module under it.

pdoc documents only what a package's ``__all__`` lists, so every module is named one by one
(pdoc's notice that a spec names a module it has added already is expected and ignored);
private modules (``_name``) are left out.
"""

import pkgutil

import wasmweld

names = ["wasmweld"] + [
    m.name for m in pkgutil.walk_packages(wasmweld.__path__, "wasmweld.")
    if not any(part.startswith("_") for part in m.name.split("."))
]
print(" ".join(names))
