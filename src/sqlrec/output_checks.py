"""Checks on the published recommendations before anything is published, done again on the final table rather
than trusted to the stages that built it:

- every score is finite, and only a pinned row (whose score means nothing) may have none;
- each user's ranks are 1..n without gaps and no item appears twice in a list;
- no item the user purchased is recommended when purchased items are filtered (vars.exclude_purchased, the
  default), except in vars.repurchase_categories;
- every user with at least k eligible candidates gets k items (with category or brand caps, which can leave a list
  short, short lists are counted instead).

A failure raises OutputCheckError with an example row; nothing is published. What they measured (users, short
lists, the share of rows and users served by the cold-start cascade or pins) goes into the run manifest.
"""

from __future__ import annotations

from typing import Any, Collection, Mapping

from .engines.duckdb import DuckDBEngine
from .errors import OutputCheckError

TABLE = "recommendations"


def check_recommendations(engine: DuckDBEngine, vars: Mapping[str, Any], path: str,
                          computed: Collection[str]) -> dict[str, Any]:
    """Raise on a broken list; return the figures for the manifest. `path` names the stage file in messages;
    `computed` is the stages of this run (the checks that read stg_events or int_eligible need them)."""
    where = f"output {TABLE} ({path})"
    _fail_on(engine, f"""SELECT user_id, item_id, score, source FROM {TABLE}
                      WHERE (score IS NULL AND source <> 'pinned') OR isnan(score) OR isinf(score)""",
             f"{where}: a score is missing or not finite", "fix the stage that scores this source")
    _fail_on(engine, f"""SELECT user_id, count(*) AS items, min(rank) AS first, max(rank) AS last,
                             count(DISTINCT rank) AS ranks, count(DISTINCT item_id) AS distinct_items
                      FROM {TABLE} GROUP BY user_id
                      HAVING min(rank) <> 1 OR max(rank) <> count(*) OR count(DISTINCT rank) <> count(*)
                          OR count(DISTINCT item_id) <> count(*)""",
             f"{where}: a list's ranks are not 1..n, or it repeats an item", "check the re-ranking stage")
    if vars.get("exclude_purchased", True) and {"stg_events", "int_item_attributes"} <= set(computed):
        _fail_on(engine, f"""SELECT r.user_id, r.item_id, r.rank, r.source, a.category
                          FROM {TABLE} AS r JOIN int_item_attributes AS a ON a.item_id = r.item_id
                          WHERE EXISTS (SELECT 1 FROM stg_events AS e WHERE e.user_id = r.user_id
                                        AND e.item_id = r.item_id AND list_contains($purchases, e.event_type))
                            AND NOT coalesce(list_contains($repurchase, a.category), false)""",
                 f"{where}: a user is recommended an item they purchased",
                 "purchased items are filtered (vars.exclude_purchased); check the project's own rules",
                 {"purchases": list(vars.get("purchase_events", ["purchase"])),
                  "repurchase": list(vars.get("repurchase_categories", []))})
    k = int(vars.get("k", 10))
    figures: dict[str, Any] = {"users": _first(engine, f"SELECT count(DISTINCT user_id) FROM {TABLE}"), "k": k}
    if "int_eligible" in computed:
        short = f"""SELECT r.user_id, r.items, e.candidates FROM
                        (SELECT user_id, count(*) AS items FROM {TABLE} GROUP BY user_id) AS r
                    JOIN (SELECT user_id, count(DISTINCT item_id) AS candidates FROM int_eligible GROUP BY user_id)
                        AS e ON e.user_id = r.user_id
                    WHERE r.items < $k AND e.candidates >= $k"""
        capped = bool(vars.get("max_per_category", 0) or vars.get("max_per_brand", 0))
        if capped:  # caps may leave a list short: counted, not refused
            figures["short_lists"] = _first(engine, f"SELECT count(*) FROM ({short})", {"k": k})
        else:
            _fail_on(engine, short, f"{where}: a user with at least k = {k} eligible candidates got fewer items",
                     "check the re-ranking stage; every step runs before the cut", {"k": k})
            figures["short_lists"] = 0  # or _fail_on had raised
        tiers = engine.scalar(f"""
            SELECT avg(CASE WHEN r.source = 'pinned' THEN 0 WHEN e.tier > 1 THEN 1 ELSE 0 END),
                   avg(CASE WHEN r.source = 'pinned' THEN 1 ELSE 0 END)
            FROM {TABLE} AS r LEFT JOIN int_eligible AS e ON e.user_id = r.user_id AND e.item_id = r.item_id
        """)
        figures["fallback_share"] = float(tiers[0] or 0)  # rows from the cold-start cascade (tier > 1)
        figures["pinned_share"] = float(tiers[1] or 0)
        figures["users_all_fallback"] = _first(engine, f"""
            SELECT count(*) FROM (SELECT r.user_id FROM {TABLE} AS r
                                  LEFT JOIN int_eligible AS e ON e.user_id = r.user_id AND e.item_id = r.item_id
                                  GROUP BY r.user_id HAVING bool_and(coalesce(e.tier, 2) > 1))""")
    return figures


def _fail_on(engine, query: str, message: str, hint: str, params: Mapping[str, Any] | None = None) -> None:
    names, found = engine.fetch(f"SELECT count(*) OVER () AS __rows, * FROM ({query}) AS q LIMIT 1",
                                dict(params or {}))
    if found:
        row = dict(zip(names, found[0]))
        count = row.pop("__rows")
        raise OutputCheckError(f"{message}: {count} row(s), e.g. {row}", hint=hint)


def _first(engine: DuckDBEngine, query: str, params: Mapping[str, Any] | None = None) -> Any:
    return engine.scalar(query, dict(params or {}))[0]
