"""What the libraries the reports and the terminal use cost: installed size and import time, measured here.

    python bench/library_costs.py        # prints a table; writes bench/results/library_costs.json

Size: the files of the library and of every package it alone brings in (its requirements, recursively, minus what
sqlrec's other dependencies already need), from the installed distributions' RECORDs. Import time: the median of 7
fresh processes importing what sqlrec imports from it, minus the median of a bare interpreter.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "library_costs.json"
LIBRARIES = {  # library -> (what sqlrec imports from it, who loads it)
    "matplotlib": ("import matplotlib.figure, matplotlib.backends.backend_svg", "the HTML reports only"),
    "rich": ("import rich.console, rich.table, rich.live", "tables and progress on a terminal only"),
    "mkdocs-material": ("import mkdocs.commands.build, material", "building the docs site (docs extra)"),
}
REPEATS = 7


def _name(requirement: str) -> str | None:
    if "extra ==" in requirement:
        return None
    return re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [n.lower().replace("_", "-") for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        todo += [n for n in map(_name, requires) if n]
    return seen


def size_mb(names: set[str]) -> float:
    total = 0
    for name in names:
        for file in metadata.distribution(name).files or []:
            path = Path(file.locate())
            if path.is_file():
                total += path.stat().st_size
    return total / 1e6


def import_seconds(statement: str) -> float:
    def once(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - started
    bare = statistics.median(once("pass") for _ in range(REPEATS))
    return statistics.median(once(statement) for _ in range(REPEATS)) - bare


def main() -> None:
    core = [n for n in map(_name, metadata.requires("sqlrec") or []) if n]
    rows = []
    for library, (statement, loaded_by) in LIBRARIES.items():
        others = closure([n for n in core if n != library])
        own = closure([library]) - others
        rows.append({"library": library, "version": metadata.version(library), "brings": sorted(own),
                     "size_mb": round(size_mb(own), 1), "import_s": round(import_seconds(statement), 3),
                     "loaded_by": loaded_by})
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    print("| library | version | installed size (with what it alone brings) | import time | loaded by |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['library']} | {r['version']} | {r['size_mb']} MB ({len(r['brings'])} packages) | "
              f"{r['import_s']:.2f} s | {r['loaded_by']} |")


if __name__ == "__main__":
    main()
