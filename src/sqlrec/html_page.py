"""The page around a report: one self-contained HTML file (no script, nothing fetched), a summary in sentences at
the top, charts in the middle, the full tables folded at the bottom. Shared by the experiment and evaluation reports.

Tables fit the page: they take its width, long cells (a variant's vars) wrap, and wide tables scroll inside their own
box rather than widening the page.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

MAX_WIDTH = 960  # px: wide enough for a chart and its legend, narrow enough to read

CSS = f"""
body {{ font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1.5em 1.2em 4em;
        max-width: {MAX_WIDTH}px; color: #1f2328; }}
h1 {{ font-size: 1.7em; margin-bottom: 0.2em; }}
h2 {{ font-size: 1.2em; margin-top: 2.2em; padding-bottom: 0.2em; border-bottom: 1px solid #d8dee4; }}
.lede {{ color: #57606a; margin-top: 0; }}
.summary {{ background: #f6f8fa; border: 1px solid #d8dee4; border-radius: 6px; padding: 0.6em 1.2em; }}
.summary li {{ margin: 0.35em 0; }}
.note {{ color: #57606a; font-size: 0.92em; }}
.warn {{ color: #b42318; font-weight: 600; }}
figure {{ margin: 1em 0; }} figure svg {{ width: 100%; height: auto; display: block; }}
.table {{ overflow-x: auto; max-width: 100%; }}
table {{ border-collapse: collapse; font-size: 13px; width: 100%; }}
th, td {{ padding: 3px 8px; text-align: right; vertical-align: top; font-variant-numeric: tabular-nums; }}
th {{ border-bottom: 1px solid #8c959f; font-weight: 600; }}
tr:nth-child(even) td {{ background: #f6f8fa; }}
td.text, th.text {{ text-align: left; }}
td.wrap {{ text-align: left; overflow-wrap: anywhere; font-family: ui-monospace, monospace; font-size: 12px; }}
tr.sig td {{ font-weight: 600; }}
details {{ margin: 1em 0; }} summary {{ cursor: pointer; color: #0969da; }}
"""


def page(title: str, lede: str, summary: Sequence[str], sections: Sequence[str]) -> str:
    """The whole file: title, one line on what it is, the summary's sentences, then the sections."""
    items = "".join(f"<li>{sentence}</li>" for sentence in summary)
    summary_html = f'<section class="summary"><h2 style="margin-top:0.6em">Summary</h2><ul>{items}</ul></section>' \
        if items else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<style>{CSS}</style></head>\n'
            f'<body>\n<h1>{escape(title)}</h1>\n<p class="lede">{lede}</p>\n{summary_html}\n'
            + "\n".join(sections) + "\n</body></html>\n")


def section(title: str, note: str, *content: str) -> str:
    body = "".join(c for c in content if c)
    if not body:
        return ""
    return f"<h2>{escape(title)}</h2>" + (f'<p class="note">{escape(note)}</p>' if note else "") + body


def figure(svg: str) -> str:
    return f"<figure>{svg}</figure>" if svg else ""


def table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1, wrap: Sequence[int] = (),
          strong: Sequence[bool] | None = None) -> str:
    """An HTML table of already formatted (and escaped) cells: the first `text_columns` are left-aligned text,
    columns in `wrap` wrap anywhere (long settings), rows flagged in `strong` are bold."""
    def cls(i: int) -> str:
        return ' class="wrap"' if i in wrap else (' class="text"' if i < text_columns else "")
    head = "".join(f"<th{' class=text' if i < text_columns or i in wrap else ''}>{escape(h)}</th>"
                   for i, h in enumerate(header))
    body = "".join(f"<tr{' class=sig' if strong and strong[r] else ''}>"
                   + "".join(f"<td{cls(i)}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
                   for r, row in enumerate(rows))
    return f'<div class="table"><table><tr>{head}</tr>{body}</table></div>'


def folded(label: str, content: str) -> str:
    return f"<details><summary>{escape(label)}</summary>{content}</details>" if content else ""


def escape(value) -> str:
    return html.escape(str(value), quote=True)


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def num(value) -> str:
    if missing(value):
        return ""
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def signed(value) -> str:
    return "" if missing(value) else (f"{value:+.4g}" if abs(value) < 1000 else f"{value:+,.0f}")


def pct(value, signed_: bool = False) -> str:
    if missing(value):
        return ""
    return f"{value:+.1%}" if signed_ else f"{value:.1%}"


def p_value(value) -> str:
    return "" if missing(value) else ("<0.0001" if value < 1e-4 else f"{value:.4f}")


def interval(low, high, signed_: bool = False) -> str:
    if missing(low) or missing(high):
        return ""
    show = signed if signed_ else num
    return f"[{show(low)}, {show(high)}]"
