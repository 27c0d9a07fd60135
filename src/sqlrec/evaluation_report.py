"""The evaluation report: one self-contained HTML page of a published `sqlrec evaluate` run (sqlrec.html_page),
with charts drawn by matplotlib (sqlrec.charts).

At the top, sentences with the numbers: the most accurate model with its interval and its paired difference from the
runner-up, the catalogue each model covers, how popular its items are against the users' own history, and who serves
cold users. Then the models compared with bootstrap intervals of the mean over test users, accuracy against coverage
and against popularity bias, warm and cold users and the configured slices, and accuracy by k. The full tables are
folded below. Intervals are recomputed here from metrics_by_user (percentile bootstrap, paired by user).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pyarrow.parquet as pq

from . import charts
from .html_page import escape, figure, folded, interval, num, page, pct, section, signed, table
from .layout import MANIFEST, table_path

ACCURACY = ("ndcg", "precision", "recall", "map", "mrr", "hit_rate")
RESAMPLES = 2000
LEVEL = 0.95
SEED = 0
REPORT_NAME = "report.html"


def write_evaluation_report(run_dir: Path, out: Path, metric: str = "ndcg", k: int | None = None) -> Path:
    """Render the published evaluation in `run_dir` (a runs/<id> folder) to `out`, replacing it in one rename."""
    tables = {name: pq.read_table(table_path(run_dir, name)).to_pylist()
              for name in ("metrics", "metrics_by_slice", "split_summary")}
    by_user = pq.read_table(table_path(run_dir, "metrics_by_user"), columns=["model", "k", "user_id", *ACCURACY])
    manifest = json.loads((run_dir / MANIFEST).read_text())
    text = render_evaluation_report(tables, _per_user(by_user), manifest.get("run_id", run_dir.name), metric, k)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(out)
    return out


def _per_user(by_user) -> dict[tuple[str, int], dict]:
    """{(model, k): {"user_id": array, metric: array, ...}}, each sorted by user so that models pair up."""
    out = {}
    models, ks = by_user.column("model").to_numpy(zero_copy_only=False), by_user.column("k").to_numpy()
    users = by_user.column("user_id").to_numpy(zero_copy_only=False)
    values = {m: by_user.column(m).to_numpy(zero_copy_only=False).astype(float) for m in ACCURACY}
    for model, k in sorted(set(zip(models.tolist(), ks.tolist()))):
        rows = np.flatnonzero((models == model) & (ks == k))
        order = rows[np.argsort(users[rows], kind="stable")]
        out[(model, k)] = {"user_id": users[order], **{m: values[m][order] for m in ACCURACY}}
    return out


def bootstrap_interval(values: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """Percentile bootstrap interval (LEVEL) of the mean."""
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 200):  # bounded memory: 200 resamples of all users at a time
        stop = min(start + 200, resamples)
        means[start:stop] = values[rng.integers(0, len(values), size=(stop - start, len(values)))].mean(axis=1)
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def render_evaluation_report(tables: Mapping[str, Sequence[Mapping]], per_user: Mapping[tuple[str, int], Mapping],
                             run_id: str, metric: str = "ndcg", k: int | None = None) -> str:
    metrics = tables["metrics"]
    ks = sorted({r["k"] for r in metrics})
    k = k if k in ks else ks[-1]
    lead = sorted((r for r in metrics if r["k"] == k), key=lambda r: -(r[metric] or 0.0))
    models = [r["model"] for r in lead]
    colours = charts.colours_for(sorted(models))
    name = f"{metric}@{k}"
    intervals = {r["model"]: bootstrap_interval(per_user[(r["model"], k)][metric])
                 if (r["model"], k) in per_user else (None, None) for r in lead}

    sentences = _accuracy_sentences(lead, intervals, per_user, metric, k) + _trade_off_sentences(lead, name) \
        + _cold_sentences([s for s in tables["metrics_by_slice"] if s["k"] == k and s["slice"] == "history"],
                          metric, name)
    level = f"{LEVEL:.0%}"
    sections = [section(f"Models compared: {name}", f"Mean over the {lead[0]['users']:,} test users; whiskers: "
                        f"{level} bootstrap interval of the mean ({RESAMPLES:,} resamples of the users).",
                        figure(charts.interval_chart([charts.Interval(m["model"], m[metric], *intervals[m["model"]],
                                                                      colours[m["model"]]) for m in lead], name)))]
    others = [a for a in ("recall", "precision") if a != metric]
    sections.append(section(
        f"Models compared: {', '.join(f'{a}@{k}' for a in others)}", f"Whiskers: {level} bootstrap intervals.",
        *(figure(charts.interval_chart([charts.Interval(m["model"], m[a], *bootstrap_interval(
            per_user[(m["model"], k)][a]), colours[m["model"]]) for m in lead if (m["model"], k) in per_user],
            f"{a}@{k}")) for a in others)))
    sections.append(section(
        "Accuracy against coverage", "Catalogue coverage: the share of the catalogue that appears in at least one "
        "test user's list. Up and to the right is better.",
        figure(charts.scatter_chart([(m["model"], m.get("catalog_coverage"), m[metric]) for m in lead], colours,
                                    "catalogue coverage", name))))
    sections.append(section(
        "Accuracy against popularity bias", "Popularity lift: the mean popularity of listed items over that of the "
        "users' own history, minus 1. Right of the dashed line, lists push items more popular than what the users "
        "chose themselves.",
        figure(charts.scatter_chart([(m["model"], m.get("popularity_lift"), m[metric]) for m in lead], colours,
                                    "popularity lift", name, x_reference=0.0))))
    slices = [s for s in tables["metrics_by_slice"] if s["k"] == k]
    if slices:
        groups = sorted({(s["slice"], str(s["value"])) for s in slices},
                        key=lambda g: (g[0] != "history", g[0], g[1] != "warm", g[1]))
        users = {(s["slice"], str(s["value"])): s["users"] for s in slices}
        series = {m: [next((s[metric] for s in slices if s["model"] == m and (s["slice"], str(s["value"])) == g),
                           None) for g in groups] for m in models}
        sections.append(section(
            f"Warm and cold users, and slices: {name}", "Warm test users had training events, cold ones had none "
            "(only a fallback such as popularity or the cold-start cascade can serve them); other groups come from "
            "the users input's evaluate.slices columns.",
            figure(charts.bar_chart([f"{s} = {v} ({users[(s, v)]:,} users)" for s, v in groups], series, colours,
                                    name))))
    if len(ks) > 1:
        by_k = {m: sorted((r["k"], r[metric]) for r in metrics if r["model"] == m) for m in models}
        sections.append(section(f"{metric} by k", "", figure(charts.line_chart(by_k, colours, "k", metric))))
    sections.append(section("Full tables", "", folded("Every metric of every model", _metrics_table(metrics)),
                            folded("Every slice", _slices_table(slices, metric))))
    split = {r["split"]: r for r in tables["split_summary"]}
    lede = " ".join(f"{escape(s)}: {r['events']:,} events, {r['users']:,} users, {r['items']:,} items." for s, r in
                    sorted(split.items(), key=lambda kv: kv[0] != "train"))
    cutoff = next((r["cutoff"] for r in split.values() if r.get("cutoff")), None)
    lede += (f" Cut-off {escape(cutoff)}." if cutoff else "") + f" Run {escape(run_id)}."
    return page("sqlrec evaluation", lede, sentences, sections)


def _accuracy_sentences(lead, intervals, per_user, metric: str, k: int) -> list[str]:
    best = lead[0]
    low, high = intervals[best["model"]]
    out = [f"Most accurate by {metric}@{k}: <b>{escape(best['model'])}</b> at {num(best[metric])} "
           f"({LEVEL:.0%} interval {interval(low, high)}, {best['users']:,} test users)."]
    if len(lead) > 1 and (best["model"], k) in per_user and (lead[1]["model"], k) in per_user:
        second = lead[1]
        a, b = per_user[(best["model"], k)], per_user[(second["model"], k)]
        if len(a["user_id"]) == len(b["user_id"]) and (a["user_id"] == b["user_id"]).all():
            diff = a[metric] - b[metric]
            d_low, d_high = bootstrap_interval(diff)
            clear = d_low > 0
            out.append(f"Against the runner-up {escape(second['model'])} ({num(second[metric])}): "
                       f"{signed(float(diff.mean()))} ({pct(float(diff.mean()) / second[metric], True) if second[metric] else 'n/a'}), "
                       f"paired {LEVEL:.0%} interval {interval(d_low, d_high, True)}: "
                       + ("a clear lead." if clear else "<i>not</i> a clear lead: the interval includes 0."))
    return out


def _trade_off_sentences(lead, name: str) -> list[str]:
    out = []
    covered = [m for m in lead if not charts.missing(m.get("catalog_coverage"))]
    if covered:
        widest = max(covered, key=lambda m: m["catalog_coverage"])
        out.append(f"Catalogue coverage: {escape(lead[0]['model'])} lists {pct(lead[0].get('catalog_coverage'))} of "
                   f"the catalogue; the widest is {escape(widest['model'])} at {pct(widest['catalog_coverage'])}.")
    lifted = [m for m in lead if not charts.missing(m.get("popularity_lift"))]
    if lifted:
        most = max(lifted, key=lambda m: m["popularity_lift"])
        out.append(f"Popularity bias: {escape(lead[0]['model'])} lists items {_popularity(lead[0]['popularity_lift'])} "
                   f"the users' own history; the most popularity-biased is {escape(most['model'])} "
                   f"({_popularity(most['popularity_lift'])} it).")
    return out


def _popularity(lift: float) -> str:
    return f"{lift:.0%} more popular than" if lift >= 0 else f"{-lift:.0%} less popular than"


def _cold_sentences(history: Sequence[Mapping], metric: str, name: str) -> list[str]:
    cold = [s for s in history if str(s["value"]) == "cold"]
    if not cold or not cold[0]["users"]:
        return []
    best = max(cold, key=lambda s: s[metric] or 0.0)
    served = [s["model"] for s in cold if (s[metric] or 0.0) > 0]
    return [f"Cold users ({cold[0]['users']:,} with no training events): best served by {escape(best['model'])} "
            f"({name} {num(best[metric])}); {len(served)} of {len(cold)} models reach any of them."]


def _metrics_table(metrics: Sequence[Mapping]) -> str:
    columns = [c for c in ("users", *ACCURACY, "catalog_coverage", "novelty", "popularity_lift",
                           "category_diversity") if any(not charts.missing(r.get(c)) for r in metrics)]
    rows = [[escape(r["model"]), str(r["k"]), *(f"{r[c]:,}" if c == "users" else num(r.get(c)) for c in columns)]
            for r in sorted(metrics, key=lambda r: (r["k"], r["model"]))]
    return table(["model", "k", *columns], rows, text_columns=1)


def _slices_table(slices: Sequence[Mapping], metric: str) -> str:
    columns = [c for c in ("precision", "recall", "ndcg", "hit_rate") if any(c in s for s in slices)]
    rows = [[escape(s["model"]), escape(s["slice"]), escape(s["value"]), f"{s['users']:,}",
             *(num(s.get(c)) for c in columns)]
            for s in sorted(slices, key=lambda s: (s["slice"], str(s["value"]), s["model"]))]
    return table(["model", "slice", "value", "users", *columns], rows, text_columns=3)
