"""`sqlrec report`: one self-contained HTML file of an experiment's published tables (sqlrec.html_page), charts
drawn by matplotlib as inline SVG (sqlrec.charts).

At the top, a summary in sentences: which arm wins each lead metric, by how much, with its interval, and whether that
survives Holm's correction. Then the charts: the lead metric per variant with interval whiskers, the lift against the
control, the metric by k, coverage and popularity per variant, segment slices, and (after a simulated online test)
online metrics with the oracle and random bounds and the rounds of the feedback loop. The full tables are folded below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import pyarrow.parquet as pq

from .. import charts
from ..html_page import escape, figure, folded, interval, num, p_value, page, pct, section, signed, table
from ..layout import table_path

ONLINE_LEAD = ("ctr", "conversion", "revenue", "aov", "category_coverage")
LABELS = {"revenue": "revenue per user", "ctr": "click-through rate", "aov": "average order value",
          "category_coverage": "category coverage per list", "catalog_coverage": "catalogue coverage",
          "avg_popularity": "mean popularity of listed items", "exposure_gini": "Gini of exposure",
          "novelty": "novelty", "category_diversity": "category diversity", "conversion": "conversion rate"}
HIGHER_IS_WORSE = {"avg_popularity", "exposure_gini"}


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
    colours = charts.colours_for(arms, {"holdout": "#bbbbbb", "oracle": charts.GREY, "random": charts.GREY})
    metric, k, control = summary["metric"], summary["k"], summary["control"]
    level = f"{1 - summary['alpha']:.0%}"
    offline = [r for r in results if r["kind"] == "offline"]
    online = [r for r in results if r["kind"] == "online"]
    lead = [r for r in offline if r["metric"] == metric and r["k"] == k]
    srm = tables.get("experiment_srm", [])

    sentences = _srm_sentences(srm) + _verdicts(lead, f"{metric}@{k} (offline)", control, level)
    for m in ONLINE_LEAD[:3]:
        sentences += _verdicts([r for r in online if r["metric"] == m], f"{LABELS.get(m, m)} (simulated online)",
                               control, level)

    sections = [section("Variants", "", _variants_table(summary), _srm_line(srm), _aa_line(summary))]
    sections.append(section(
        f"Offline: {metric}@{k} per variant", f"Every test user scored under every variant (paired). Whiskers: "
        f"{level} bootstrap interval of the mean.",
        figure(charts.interval_chart([charts.Interval(r["arm"], r["value"], r["ci_low"], r["ci_high"],
                                                      colours[r["arm"]]) for r in lead], f"{metric}@{k}"))))
    sections.append(section(
        f"Offline: lift over the control ({control})", "Difference of the mean from the control's, with its paired "
        "bootstrap interval; a filled dot is significant after Holm's correction, a hollow one is not.",
        figure(charts.interval_chart([charts.Interval(r["arm"], r["diff"], r["diff_low"], r["diff_high"],
                                                      colours[r["arm"]], bool(r["significant"]))
                                      for r in lead if r["diff"] is not None], f"difference in {metric}@{k}",
                                     zero_line=True))))
    by_k = {arm: sorted((r["k"], r["value"]) for r in offline if r["metric"] == metric and r["arm"] == arm)
            for arm in arms}
    if any(len(points) > 1 for points in by_k.values()):
        sections.append(section(f"Offline: {metric} by k", "", figure(charts.line_chart(by_k, colours, "k", metric))))
    quality = [m for m in ("catalog_coverage", "avg_popularity", "category_diversity", "novelty")
               if any(r["metric"] == m for r in offline)]
    if quality:
        values = {arm: [next((r["value"] for r in offline if r["metric"] == m and r["k"] == k and r["arm"] == arm),
                             None) for m in quality] for arm in arms}
        sections.append(section("Offline: coverage and popularity per variant", "Of each variant's lists for the "
                                "test users; each measure on its own scale.",
                                *(figure(charts.bar_chart([f"{LABELS.get(m, m)} @{k}"], {a: [values[a][i]]
                                                          for a in arms}, colours, LABELS.get(m, m)))
                                  for i, m in enumerate(quality))))
    slices = [s for s in tables.get("experiment_slices", []) if s["k"] == k and metric in s]
    if slices:
        groups = sorted({(s["slice"], str(s["value"])) for s in slices})
        users = {(s["slice"], str(s["value"])): s["users"] for s in slices}
        names = [f"{name} = {value} ({users[(name, value)]:,} users)" for name, value in groups]
        series = {arm: [next((s[metric] for s in slices if s["arm"] == arm and (s["slice"], str(s["value"])) == g),
                             None) for g in groups] for arm in arms}
        sections.append(section(f"Offline: {metric}@{k} by segment", "Users grouped by history (cold/warm) and the "
                                "users input's evaluate.slices columns.",
                                figure(charts.bar_chart(names, series, colours, f"{metric}@{k}"))))
    if online:
        for m in ONLINE_LEAD:
            rows = [r for r in online if r["metric"] == m]
            sections.append(section(
                f"Simulated online test: {LABELS.get(m, m)}", "Each user sees their own arm's list; grey: held-out "
                f"users and the oracle / random bounds. Whiskers: {level} bootstrap interval of the mean over users; "
                "hollow: not significant after Holm.",
                figure(charts.interval_chart([charts.Interval(r["arm"], r["value"], r["ci_low"], r["ci_high"],
                                                              colours.get(r["arm"], charts.GREY),
                                                              r["significant"] is not False) for r in rows],
                                             LABELS.get(m, m)))))
        rounds = tables.get("experiment_rounds", [])
        if rounds and max(r["round"] for r in rounds) > 1:
            for m in ("ctr", "avg_popularity", "catalog_coverage"):
                series = {arm: sorted((r["round"], r[m]) for r in rounds if r["arm"] == arm) for arm in arms}
                sections.append(section(f"Feedback loop: {LABELS.get(m, m)} by round", "Each round retrains on the "
                                        "clicks and purchases of the rounds before.",
                                        figure(charts.line_chart(series, colours, "round", LABELS.get(m, m)))))
    sections.append(section("Full tables", "Bold rows are significant after Holm's correction.",
                            folded(f"Offline: every metric at k = {k}",
                                   _results_table([r for r in offline if r["k"] == k and r["users"] is not None])),
                            folded("Simulated online test: every metric (Welch t, Mann-Whitney U; Holm-corrected)",
                                   _results_table(online) if online else "")))
    simulated = summary["rounds"] if summary["simulated"] else 0
    lede = (f"{escape(summary['description'])} Salt {escape(summary['salt'])}, holdout {pct(summary['holdout'])} "
            f"(shown {escape(summary['holdout_gets'])}), alpha {summary['alpha']}, {summary['bootstrap']} bootstrap "
            f"resamples, seed {summary['seed']}, {simulated} simulated rounds.")
    return page(f"sqlrec experiment {summary['experiment']}", lede, sentences, sections)


def _verdicts(rows: Sequence[Mapping], what: str, control: str, level: str) -> list[str]:
    """Sentences on one metric: the best arm, then each arm against the control, with intervals and Holm."""
    by_arm = {r["arm"]: r for r in rows if not charts.missing(r["value"])}
    if control not in by_arm or len(by_arm) < 2:
        return []
    metric = rows[0]["metric"]
    worse_is_higher = metric in HIGHER_IS_WORSE
    contenders = {a: r for a, r in by_arm.items() if r.get("diff") is not None or a == control}
    best = (min if worse_is_higher else max)(contenders, key=lambda a: contenders[a]["value"])
    base = by_arm[control]["value"]
    head = (f"<b>{escape(what)}</b>: best is <b>{escape(best)}</b> at {num(by_arm[best]['value'])} "
            f"(control {escape(control)}: {num(base)}).")
    arms = []
    for arm, r in contenders.items():
        if arm == control:
            continue
        verdict = ("significant after Holm" if r["significant"] else "<i>not</i> significant after Holm")
        arms.append(f"{escape(arm)} against {escape(control)}: {signed(r['diff'])} ({pct(r['lift'], True)}), "
                    f"{level} interval {interval(r['diff_low'], r['diff_high'], True)}; {verdict} "
                    f"(p {_p_text(r['p_holm'])}).")
    return [head + "<ul>" + "".join(f"<li>{line}</li>" for line in arms) + "</ul>"]


def _srm_sentences(srm: Sequence[Mapping]) -> list[str]:
    if not srm:
        return []
    if srm[0]["mismatch"]:
        return [f'<span class="warn">Sample ratio mismatch (chi-square p = {srm[0]["p_value"]:.3g}): the arms did '
                "not get the traffic they were given, so do not trust the comparison below.</span>"]
    return [f"Traffic split as configured: no sample ratio mismatch (chi-square p = {srm[0]['p_value']:.3g})."]


def _variants_table(summary: Mapping) -> str:
    rows = [[escape(v["name"]) + (" (control)" if v["name"] == summary["control"] else ""), escape(v["description"]),
             f"{v['traffic']:g}", v["explore_slots"], escape(json.dumps(v["vars"], sort_keys=True))]
            for v in summary["variants"]]
    return table(["variant", "what", "traffic", "explore slots", "vars"], rows, text_columns=2, wrap=(4,))


def _srm_line(srm: Sequence[Mapping]) -> str:
    if not srm:
        return ""
    observed = ", ".join(f"{escape(r['arm'])} {r['observed_users']:,} (expected {r['expected_users']:,.0f})"
                         for r in srm)
    verdict = ('<span class="warn">sample ratio mismatch: do not trust the comparison</span>'
               if srm[0]["mismatch"] else "no sample ratio mismatch")
    return f"<p>Users per arm: {observed}. Chi-square p = {srm[0]['p_value']:.3g}: {verdict}.</p>"


def _aa_line(summary: Mapping) -> str:
    aa = summary.get("aa_false_positive_rate")
    if aa is None or charts.missing(aa):
        return ""
    return (f"<p>A/A check: {summary['aa_splits']} random halvings of the control's test users, {pct(aa)} found "
            f"significant at alpha {summary['alpha']} (nominal {pct(summary['alpha'])}).</p>")


def _results_table(rows: Sequence[Mapping]) -> str:
    header = ["arm", "metric", "users", "value", "interval", "diff", "diff interval", "lift", "p (t)", "p (rank)",
              "p (Holm)"]
    cells = [[escape(r["arm"]), escape(r["metric"]), "" if r["users"] is None else f"{r['users']:,}", num(r["value"]),
              interval(r["ci_low"], r["ci_high"]), signed(r["diff"]), interval(r["diff_low"], r["diff_high"], True),
              pct(r["lift"], True), p_value(r["p_t"]), p_value(r["p_rank"]), p_value(r["p_holm"])] for r in rows]
    return table(header, cells, text_columns=2, strong=[bool(r.get("significant")) for r in rows])


def _p_text(value) -> str:
    shown = p_value(value)
    return shown.replace("<", "&lt; ") if shown.startswith("<") else f"= {shown}"
