"""Linking modules together: ``merge`` many modules into one (``wasmweld merge``).

::

    ;; lib                                           ;; app
    (module (func (export "six") (result i32)       (module (import "lib" "six" (func $six (result i32)))
      i32.const 6))                                   (func (export "main") (result i32) call $six))

    >>> from wasmweld.link import merge
    >>> world = merge([("lib", lib_wasm), ("app", app_wasm)])
    >>> world.imports, [e.name for e in world.exports]
    ([], ['six', 'main'])

See :mod:`wasmweld.link.merge` for the steps, :func:`merge_plan` for a dry run
(:mod:`wasmweld.link.plan` prints it), :mod:`wasmweld.link.graph` for a picture
of the fusions and :mod:`wasmweld.link.single_memory` for ``single_memory=True``.
"""

from .merge import (
    EXPORT_POLICIES, ExportEntry, Fusion, MergePlan, MergeWarning, Unresolved, merge, merge_plan,
)

__all__ = ["merge", "merge_plan", "MergePlan", "Fusion", "Unresolved", "ExportEntry", "MergeWarning", "EXPORT_POLICIES"]
