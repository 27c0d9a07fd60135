"""The published experiment tables: their names, grain and documented columns (shown in the snapshot)."""

from __future__ import annotations

from pathlib import Path

from ..project import Column, Stage, StageHeader


def _table(name: str, description: str, grain: str, columns: list[tuple[str, str]], unique: tuple[str, ...]) -> Stage:
    """`unique` is the grain's key, checked before publishing."""
    return Stage(name=name, kind="python", path=Path(__file__), origin="builtin", layer="experiment",
                 header=StageHeader(description=description, grain=grain, unique=unique,
                                    columns=tuple(Column(c, doc) for c, doc in columns)))


ASSIGNMENTS = _table(
    "experiment_assignments", "Every known user's arm: md5(salt:experiment:user_id) buckets, holdout, variant race.",
    "one row per user_id",
    [("user_id", "the user"), ("experiment", "the experiment"), ("bucket", "0 .. 9,999 from the md5 of the key"),
     ("in_holdout", "true for held-out users"), ("variant", "assigned variant (NULL when held out)"),
     ("arm", "the variant, or 'holdout'"), ("shown", "the variant whose list the user sees (NULL: none)")], ("user_id",))
USER_METRICS = _table(
    "experiment_user_metrics", "Per-user metrics behind every comparison: offline (every test user under every "
    "variant, paired) and online (simulated; each user under their own arm, totals over the rounds).",
    "one row per (kind, arm, user_id, k, metric)",
    [("experiment", "the experiment"), ("kind", "offline or online"), ("arm", "variant, holdout, oracle or random"),
     ("user_id", "the user"), ("k", "list length"), ("metric", "the metric"), ("value", "the user's value")],
    ("kind", "arm", "user_id", "k", "metric"))
RESULTS = _table(
    "experiment_results", "Each arm's metrics with confidence intervals and, for each variant, the difference from "
    "the control with its interval and Holm-corrected p-values.",
    "one row per (kind, arm, metric, k)",
    [("experiment", "the experiment"), ("kind", "offline (paired: same test users) or online (simulated, two-sample)"),
     ("arm", "variant, holdout, or the bounds oracle / random"), ("is_control", "true for the control"),
     ("metric", "the metric"), ("k", "list length"), ("users", "users behind the mean"),
     ("value", "mean over users"), ("ci_low", "bootstrap interval of the mean, 1 - alpha"), ("ci_high", ""),
     ("diff", "value - control's value"), ("diff_low", "bootstrap interval of the difference, 1 - alpha"),
     ("diff_high", ""), ("lift", "diff / control's value"),
     ("p_t", "paired t-test (offline) or Welch t-test (online)"),
     ("p_rank", "Wilcoxon signed-rank (offline) or Mann-Whitney U (online)"),
     ("p_holm", "p_t corrected by Holm over the variants compared on this metric and k"),
     ("significant", "p_holm < alpha")], ("kind", "arm", "metric", "k"))
SLICES = _table(
    "experiment_slices", "Offline metrics of each variant per user group (history cold/warm, and evaluate.slices).",
    "one row per (arm, k, slice, value)",
    [("arm", "the variant"), ("k", "cut-off"), ("slice", "the user attribute"), ("value", "its value"),
     ("users", "test users in the group"), ("precision", ""), ("recall", ""), ("ndcg", ""), ("map", ""),
     ("mrr", ""), ("hit_rate", "")], ("arm", "k", "slice", "value"))
ROUNDS = _table(
    "experiment_rounds", "The simulated online test round by round: what each arm's users did and what was shown.",
    "one row per (round, arm)",
    [("round", "1, 2, ...: each round retrains on the responses of the rounds before"), ("arm", "arm or bound"),
     ("users", "users shown a list"), ("ctr", "clicks / impressions"), ("conversion", "share of users who bought"),
     ("revenue_per_user", "revenue / users"), ("aov", "revenue / orders"),
     ("category_coverage", "mean share of the categories a list spans"),
     ("catalog_coverage", "share of the catalogue shown to anyone"),
     ("exposure_gini", "Gini of impressions over the catalogue (1: all on one item)"),
     ("avg_popularity", "mean true popularity of shown items, 1 = the catalogue's average")], ("round", "arm"))
SRM = _table(
    "experiment_srm", "Sample-ratio-mismatch check: users per arm against the configured shares (chi-square).",
    "one row per arm",
    [("arm", "variant or holdout"), ("expected_share", "configured share"), ("expected_users", ""),
     ("observed_users", ""), ("chi2", "the test statistic (same on every row)"),
     ("p_value", "below 0.001: the assignment or the logging is broken"), ("mismatch", "p_value < 0.001")], ("arm",))
POSTERIORS = _table(
    "experiment_item_posteriors", "Thompson sampling's Beta posteriors of each item's click-through after each round.",
    "one row per (round, item_id)",
    [("round", "after this round"), ("item_id", "the item"), ("alpha", "1 + clicks"),
     ("beta", "1 + impressions - clicks"), ("mean", "alpha / (alpha + beta)")], ("round", "item_id"))

#: In the order they are published.
ALL = (ASSIGNMENTS, USER_METRICS, RESULTS, SLICES, SRM, ROUNDS, POSTERIORS)
