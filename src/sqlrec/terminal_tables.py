"""Tables on the terminal: rich's tables on a TTY (title, header rule, numbers right-aligned), plain aligned columns
when the output is a pipe or a file (no colour, no box characters: easy for `grep`, `awk` and diff).

rich is imported only when a table goes to a terminal, so scripts and lookups piped elsewhere never pay for it.
Every cell from the data goes through sqlrec.terminal.printable (control characters shown, not obeyed) and reaches
rich as Text, never as markup: an item title holding "[bold]" prints as written.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Sequence, TextIO

TEXT_MIN_WIDTH = 16


def format_cell(value: Any) -> str:
    """NULL as blank (not measurable), floats to 4 significant digits, text with its control characters escaped."""
    from .terminal import printable
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else printable(str(value))


def numeric_columns(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[bool]:
    return [all(isinstance(r[c], (int, float)) and not isinstance(r[c], bool) or r[c] is None for r in rows)
            for c in columns]


def plain_table(columns: Sequence[str], rows: Sequence[dict[str, Any]], right: Sequence[str] = ()) -> str:
    """Aligned columns separated by two spaces: numbers (and the `right` columns) right-aligned, text left-aligned."""
    cells = [[format_cell(r[c]) for c in columns] for r in rows]
    numeric = [n or c in right for c, n in zip(columns, numeric_columns(columns, rows))]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                                  for v, w, n in zip(values, widths, numeric)).rstrip()
    return "\n".join([line(list(columns))] + [line(row) for row in cells])


def print_table(columns: Sequence[str], rows: Sequence[dict[str, Any]], title: str | None = None,
                stream: TextIO | None = None, right: Sequence[str] = ()) -> None:
    """A table for people: rich on a terminal, plain columns (with the title as a line above) elsewhere."""
    stream = stream or sys.stdout
    if not _is_terminal(stream):
        if title:
            stream.write(title + "\n")
        stream.write(plain_table(columns, rows, right) + "\n")
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    table = Table(title=Text(title, style="bold") if title else None, title_justify="left", box=box.SIMPLE_HEAD,
                  header_style="bold", pad_edge=False)
    cells = [[format_cell(r[c]) for c in columns] for r in rows]
    needed = 0
    for i, (column, numeric) in enumerate(zip(columns, numeric_columns(columns, rows))):
        aligned = numeric or column in right
        widest = max([len(column)] + [len(row[i]) for row in cells])
        # numbers are never cut or wrapped; text (titles, reasons) wraps, at no less than TEXT_MIN_WIDTH
        table.add_column(Text(column), justify="right" if aligned else "left", no_wrap=aligned,
                         min_width=widest if aligned else min(widest, TEXT_MIN_WIDTH))
        needed += (widest if aligned else min(widest, TEXT_MIN_WIDTH)) + 3  # padding and rule
    for row in cells:
        table.add_row(*(Text(cell) for cell in row))
    console = Console(file=stream, highlight=False)
    if needed > console.width:  # wider than the terminal: let the terminal wrap lines rather than cut numbers
        console = Console(file=stream, highlight=False, width=needed)
    console.print(table)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
