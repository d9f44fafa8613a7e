"""The type-completeness gate of ``make lint``: reads ``pyright --verifytypes wasmweld --outputjson``
on standard input, prints the score, and fails below ``MIN_SCORE`` (or ``argv[1]``, a percentage).

``pyright --verifytypes`` counts every symbol the package exports (public modules, their public names,
the members of their classes) whose type is known: parameters and returns annotated, no bare
``list``/``dict``, instance attributes declared. The modules with the most unknown symbols are listed
to show where to work next::

    pyright --verifytypes wasmweld --ignoreexternal --outputjson | python docs/type_completeness.py
    type completeness 99.5% (3741 of 3758 exported symbols known; the floor is 95%)
"""

import json
import sys
from collections import Counter

#: the floor, in percent: what issue 15 asks for (70.9% at the start, 89.4% and then 99.5% on
#: 2026-12-05). What is left (17 symbols) is runtime/component_world.py, component_wave.py and
#: component_mixed.py, typed on their own branch.
MIN_SCORE = 95.0


def main() -> int:
    floor = float(sys.argv[1]) if len(sys.argv) > 1 else MIN_SCORE
    report = json.load(sys.stdin)
    tc = report.get("typeCompleteness")
    if not tc or not tc.get("pyTypedPath"):
        problems = "; ".join(d.get("message", "") for d in report.get("generalDiagnostics", []))
        print(f"error: pyright did not find the wasmweld package ({problems})", file=sys.stderr)
        return 1
    counts = tc["exportedSymbolCounts"]
    known = counts["withKnownType"]
    total = known + counts["withAmbiguousType"] + counts["withUnknownType"]
    score = 100.0 * tc["completenessScore"]
    print(f"type completeness {score:.1f}% ({known} of {total} exported symbols known; the floor is {floor:g}%)")
    if score + 1e-9 >= floor:
        return 0
    worst = Counter(".".join(s["name"].split(".")[:3]) for s in tc["symbols"]
                    if s["isExported"] and not s["isTypeKnown"])
    print("error: below the floor; the modules with the most symbols of unknown type:", file=sys.stderr)
    for mod, n in worst.most_common(12):
        print(f"  {n:4}  {mod}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
