"""`sqlrec report`: one self-contained HTML file of an experiment's published tables, with charts drawn as inline
SVG (no script, no font or image to fetch: it opens offline and prints as it shows).

Charts: the lead metric per variant with interval whiskers, lift against the control, the metric by k, coverage and
popularity per variant, segment slices, and (after a simulated online test) online metrics with the oracle and random
bounds and the rounds of the feedback loop.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pyarrow.parquet as pq

from ..layout import table_path

PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e",
           "#9498a0")
BOUND_COLOUR = "#9498a0"
WIDTH = 720
ONLINE_LEAD = ("ctr", "conversion", "revenue", "aov", "category_coverage")
LABELS = {"revenue": "revenue per user", "ctr": "click-through rate", "aov": "average order value",
          "category_coverage": "category coverage per list", "catalog_coverage": "catalogue coverage",
          "avg_popularity": "mean popularity of listed items", "exposure_gini": "Gini of exposure",
          "novelty": "novelty", "category_diversity": "category diversity"}


def load_published(folder: Path) -> tuple[dict, dict[str, list[dict]]]:
    """The summary (experiment.json) and every table of a published experiment folder (its `current/`)."""
    summary = json.loads((folder / "experiment.json").read_text())
    tables = {}
    for name in ("experiment_results", "experiment_slices", "experiment_srm", "experiment_rounds"):
        path = table_path(folder, name)
        if path.exists():
            tables[name] = pq.read_table(path).to_pylist()
    return summary, tables


def write_report(folder: Path, out: Path) -> Path:
    summary, tables = load_published(folder)
    out.write_text(render_report(summary, tables), encoding="utf-8")
    return out


def render_report(summary: Mapping, tables: Mapping[str, Sequence[Mapping]]) -> str:
    results = tables.get("experiment_results", [])
    arms = [v["name"] for v in summary["variants"]]
    colours = {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(arms)}
    colours.update({"holdout": "#bbbbbb", "oracle": BOUND_COLOUR, "random": BOUND_COLOUR})
    metric, k = summary["metric"], summary["k"]
    sections = [_header(summary, tables.get("experiment_srm", []))]

    offline = [r for r in results if r["kind"] == "offline"]
    lead = [r for r in offline if r["metric"] == metric and r["k"] == k]
    sections.append(_section(
        f"Offline: {metric}@{k} per variant", "Every test user scored under every variant (paired). Whiskers: "
        f"{_pct(1 - summary['alpha'])} bootstrap interval of the mean.",
        dot_chart([(r["arm"], r["value"], r["ci_low"], r["ci_high"], colours[r["arm"]]) for r in lead],
                  f"{metric}@{k}")))
    sections.append(_section(
        f"Offline: lift over the control ({summary['control']})", "Difference of the mean from the control's, with "
        "its paired bootstrap interval; a filled dot is significant after Holm's correction.",
        dot_chart([(r["arm"], r["diff"], r["diff_low"], r["diff_high"], colours[r["arm"]], r["significant"])
                   for r in lead if r["diff"] is not None], f"difference in {metric}@{k}", zero=True)))
    sections.append(_section("Offline: comparison table", "", _results_html(
        [r for r in offline if r["k"] == k and r["users"] is not None])))
    by_k = {arm: sorted((r["k"], r["value"]) for r in offline if r["metric"] == metric and r["arm"] == arm)
            for arm in arms}
    if any(len(points) > 1 for points in by_k.values()):
        sections.append(_section(f"Offline: {metric} by k", "", line_chart(by_k, colours, "k", metric)))
    quality = [m for m in ("catalog_coverage", "avg_popularity", "category_diversity", "novelty")
               if any(r["metric"] == m for r in offline)]
    if quality:
        charts = "".join(bar_chart([(r["arm"], r["value"], colours[r["arm"]]) for r in offline
                                    if r["metric"] == m and r["k"] == k], f"{LABELS.get(m, m)} @{k}")
                         for m in quality)
        sections.append(_section("Offline: coverage and popularity per variant", "Of each variant's lists for the "
                                 "test users.", charts))
    slices = [s for s in tables.get("experiment_slices", []) if s["k"] == k and metric in s]
    if slices:
        sections.append(_section(f"Offline: {metric}@{k} by segment", "Users grouped by history (cold/warm) and "
                                 "the users input's evaluate.slices columns.", _slices_chart(slices, metric, arms,
                                                                                              colours)))
    online = [r for r in results if r["kind"] == "online"]
    if online:
        for m in ONLINE_LEAD:
            rows = [r for r in online if r["metric"] == m]
            sections.append(_section(
                f"Simulated online test: {LABELS.get(m, m)}", "Each user sees their own arm's list; grey: held-out "
                "users and the oracle / random bounds. Whiskers: bootstrap interval of the mean over users.",
                dot_chart([(r["arm"], r["value"], r["ci_low"], r["ci_high"], colours.get(r["arm"], BOUND_COLOUR),
                            r["significant"]) for r in rows], LABELS.get(m, m))))
        sections.append(_section("Simulated online test: comparison table", "Two-sample tests against the control "
                                 "(Welch t, Mann-Whitney U), Holm-corrected.", _results_html(online)))
        rounds = tables.get("experiment_rounds", [])
        if rounds and max(r["round"] for r in rounds) > 1:
            for m in ("ctr", "avg_popularity", "catalog_coverage"):
                series = {arm: sorted((r["round"], r[m]) for r in rounds if r["arm"] == arm) for arm in arms}
                sections.append(_section(f"Feedback loop: {LABELS.get(m, m)} by round", "Each round retrains on the "
                                         "clicks and purchases of the rounds before.",
                                         line_chart(series, colours, "round", LABELS.get(m, m))))
    body = "\n".join(sections)
    title = html.escape(f"sqlrec experiment {summary['experiment']}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: {WIDTH + 80}px; color: #222; }}
h1 {{ font-size: 1.6em; }} h2 {{ font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; font-size: 12px; }} td, th {{ padding: 2px 6px; text-align: right; white-space: nowrap; }}
th {{ border-bottom: 1px solid #999; }} td:first-child, th:first-child {{ text-align: left; }}
.sig {{ font-weight: bold; }} .warn {{ color: #b00; font-weight: bold; }} .note {{ color: #555; }}
svg text {{ font: 11px system-ui, sans-serif; fill: #333; }}
</style></head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


def _header(summary: Mapping, srm: Sequence[Mapping]) -> str:
    rows = "".join(f"<tr><td>{_e(v['name'])}{' (control)' if v['name'] == summary['control'] else ''}</td>"
                   f"<td>{_e(v['description'])}</td><td>{v['traffic']:g}</td>"
                   f"<td>{_e(json.dumps(v['vars'], sort_keys=True))}</td><td>{v['explore_slots']}</td></tr>"
                   for v in summary["variants"])
    srm_line = ""
    if srm:
        observed = ", ".join(f"{_e(r['arm'])} {r['observed_users']} (expected {r['expected_users']:.0f})" for r in srm)
        verdict = ('<span class="warn">sample ratio mismatch: do not trust the comparison</span>'
                   if srm[0]["mismatch"] else "no sample ratio mismatch")
        srm_line = f"<p>Users per arm: {observed}. Chi-square p = {srm[0]['p_value']:.3g}: {verdict}.</p>"
    aa = summary.get("aa_false_positive_rate")
    aa_line = (f"<p>A/A check: {summary['aa_splits']} random halvings of the control's test users, "
               f"{_pct(aa)} found significant at alpha {summary['alpha']} (nominal {_pct(summary['alpha'])}).</p>"
               if aa is not None and not _missing(aa) else "")
    return (f"<p>{_e(summary['description'])}</p><p class=note>Salt {_e(summary['salt'])}, holdout "
            f"{_pct(summary['holdout'])} (shown {_e(summary['holdout_gets'])}), alpha {summary['alpha']}, "
            f"{summary['bootstrap']} bootstrap resamples, seed {summary['seed']}, "
            f"{summary['rounds'] if summary['simulated'] else 0} simulated rounds.</p>"
            f"<table><tr><th>variant</th><th>what</th><th>traffic</th><th>vars</th><th>explore slots</th></tr>"
            f"{rows}</table>{srm_line}{aa_line}")


def _section(title: str, note: str, content: str) -> str:
    return f"<h2>{_e(title)}</h2>" + (f"<p class=note>{_e(note)}</p>" if note else "") + content


def _results_html(rows: Sequence[Mapping]) -> str:
    head = ("<tr><th>arm</th><th>metric</th><th>users</th><th>value</th><th>interval</th><th>diff</th>"
            "<th>diff interval</th><th>lift</th><th>p (t)</th><th>p (rank)</th><th>p (Holm)</th></tr>")
    body = []
    for r in rows:
        cls = ' class="sig"' if r.get("significant") else ""
        body.append(f"<tr{cls}><td>{_e(r['arm'])}</td><td>{_e(r['metric'])}</td><td>{r['users']}</td>"
                    f"<td>{_num(r['value'])}</td><td>{_interval(r['ci_low'], r['ci_high'])}</td>"
                    f"<td>{_num(r['diff'])}</td><td>{_interval(r['diff_low'], r['diff_high'])}</td>"
                    f"<td>{_pct(r['lift'])}</td><td>{_p(r['p_t'])}</td><td>{_p(r['p_rank'])}</td>"
                    f"<td>{_p(r['p_holm'])}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


# -- charts (inline SVG) ---------------------------------------------------------------------------------------


def dot_chart(rows: Iterable[tuple], axis: str, zero: bool = False) -> str:
    """One line per row (label, value, low, high, colour[, filled]): a dot at the value, a whisker low..high."""
    rows = [r for r in rows if not _missing(r[1])]
    if not rows:
        return "<p class=note>nothing to draw</p>"
    values = [x for r in rows for x in (r[1], r[2], r[3]) if not _missing(x)] + ([0.0] if zero else [])
    scale = _Scale(min(values), max(values), 110, WIDTH - 20)
    line = 22
    height = line * len(rows) + 40
    parts = [_axis(scale, height - 30, axis)]
    if zero:
        parts.append(f'<line x1="{scale(0):.1f}" x2="{scale(0):.1f}" y1="5" y2="{height - 30}" stroke="#999" '
                     'stroke-dasharray="3,3"/>')
    for i, row in enumerate(rows):
        label, value, low, high, colour = row[:5]
        filled = row[5] if len(row) > 5 else True
        y = 15 + i * line
        parts.append(f'<text x="100" y="{y + 4}" text-anchor="end">{_e(label)}</text>')
        if not _missing(low) and not _missing(high):
            parts.append(f'<line x1="{scale(low):.1f}" x2="{scale(high):.1f}" y1="{y}" y2="{y}" '
                         f'stroke="{colour}" stroke-width="2"><title>{_e(label)}: {_num(low)} .. {_num(high)}'
                         '</title></line>')
        fill = colour if filled is not False else "white"
        parts.append(f'<circle cx="{scale(value):.1f}" cy="{y}" r="5" fill="{fill}" stroke="{colour}" '
                     f'stroke-width="2"><title>{_e(label)}: {_num(value)}</title></circle>')
    return _svg(height, parts, f"{axis} per arm")


def bar_chart(rows: Sequence[tuple], axis: str) -> str:
    rows = [r for r in rows if not _missing(r[1])]
    if not rows:
        return ""
    scale = _Scale(0.0, max(max(r[1] for r in rows), 1e-12), 110, WIDTH - 20)
    line = 20
    height = line * len(rows) + 40
    parts = [_axis(scale, height - 30, axis)]
    for i, (label, value, colour) in enumerate(rows):
        y = 8 + i * line
        parts.append(f'<text x="100" y="{y + 11}" text-anchor="end">{_e(label)}</text>'
                     f'<rect x="{scale(0):.1f}" y="{y}" width="{max(scale(value) - scale(0), 0.5):.1f}" height="14" '
                     f'fill="{colour}"><title>{_e(label)}: {_num(value)}</title></rect>')
    return _svg(height, parts, axis)


def line_chart(series: Mapping[str, Sequence[tuple]], colours: Mapping[str, str], x_label: str, y_label: str) -> str:
    points = [(x, y) for s in series.values() for x, y in s if not _missing(y)]
    if not points:
        return ""
    height = 260
    xs = _Scale(min(p[0] for p in points), max(p[0] for p in points), 60, WIDTH - 110)
    ys = _Scale(min(p[1] for p in points), max(p[1] for p in points), height - 35, 10)
    parts = [_axis(xs, height - 35, x_label), _y_axis(ys, y_label)]
    for i, (name, pts) in enumerate(series.items()):
        pts = [(x, y) for x, y in pts if not _missing(y)]
        if not pts:
            continue
        colour = colours.get(name, BOUND_COLOUR)
        path = " ".join(f"{xs(x):.1f},{ys(y):.1f}" for x, y in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{xs(x):.1f}" cy="{ys(y):.1f}" r="3" fill="{colour}"><title>{_e(name)} {x_label} '
                  f'{x}: {_num(y)}</title></circle>' for x, y in pts]
        parts.append(f'<text x="{WIDTH - 95}" y="{20 + 15 * i}" fill="{colour}">&#9632; {_e(name)}</text>')
    return _svg(height, parts, f"{y_label} by {x_label}")


def _slices_chart(slices: Sequence[Mapping], metric: str, arms: Sequence[str], colours: Mapping[str, str]) -> str:
    groups = sorted({(s["slice"], str(s["value"])) for s in slices})
    out = []
    for slice_name, value in groups:
        rows = [(s["arm"], s[metric], colours.get(s["arm"], BOUND_COLOUR)) for s in slices
                if s["slice"] == slice_name and str(s["value"]) == value and s["arm"] in arms]
        users = next((s["users"] for s in slices if s["slice"] == slice_name and str(s["value"]) == value), 0)
        out.append(bar_chart(rows, f"{metric}: {slice_name} = {value} ({users} users)"))
    return "".join(out)


class _Scale:
    def __init__(self, low: float, high: float, start: float, stop: float):
        if high == low:
            high, low = high + 1.0, low - (1.0 if low != 0 else 0.0)
        pad = (high - low) * 0.05
        self.low, self.high, self.start, self.stop = low - pad, high + pad, start, stop

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.stop - self.start)

    def ticks(self, n: int = 5) -> list[float]:
        return [self.low + (self.high - self.low) * (i + 0.5) / n for i in range(n)]


def _axis(scale: _Scale, y: float, label: str) -> str:
    ticks = "".join(f'<text x="{scale(t):.1f}" y="{y + 14}" text-anchor="middle">{_num(t)}</text>'
                    for t in scale.ticks())
    return (f'<line x1="{min(scale.start, scale.stop)}" x2="{max(scale.start, scale.stop)}" y1="{y}" y2="{y}" '
            f'stroke="#999"/>{ticks}<text x="{WIDTH / 2}" y="{y + 28}" text-anchor="middle">{_e(label)}</text>')


def _y_axis(scale: _Scale, label: str) -> str:
    ticks = "".join(f'<text x="55" y="{scale(t) + 4:.1f}" text-anchor="end">{_num(t)}</text>' for t in scale.ticks())
    return f'<line x1="60" x2="60" y1="{scale.stop}" y2="{scale.start}" stroke="#999"/>{ticks}' \
           f'<text x="12" y="12">{_e(label)}</text>'


def _svg(height: float, parts: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" role="img" '
            f'aria-label="{_e(title)}" viewBox="0 0 {WIDTH} {height:.0f}">{"".join(parts)}</svg>')


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value) -> str:
    if _missing(value):
        return ""
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def _pct(value) -> str:
    return "" if _missing(value) else f"{value:.1%}"


def _p(value) -> str:
    return "" if _missing(value) else ("<0.0001" if value < 1e-4 else f"{value:.4f}")


def _interval(low, high) -> str:
    return "" if _missing(low) or _missing(high) else f"[{_num(low)}, {_num(high)}]"


