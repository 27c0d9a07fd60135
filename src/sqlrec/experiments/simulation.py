"""The simulated online test: every assigned user of a generated world is shown their arm's list, and clicks and
purchases are drawn from the user's true preference with a position bias (`Truth.respond`).

Over several rounds, each round's clicks (as views) and purchases become events the next round trains on, so
feedback loops show: a list that shows popular items makes them more popular. A variant with `explore_slots` gives
its last slots to Thompson sampling: each item's click-through has a Beta(1 + clicks, 1 + impressions - clicks)
posterior over every impression shown so far; each user gets the items with the highest draw not already listed.

Every arm meets the same random numbers (one generator per round for all users), and the oracle (each user's truly
best items) and random lists are scored on the same users as bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..datagen.catalog import CATEGORIES
from ..datagen.truth import Truth

DAY_SECONDS = 86_400
#: Per-user outcomes of a round, and how each arm's value is formed from them.
USER_METRICS = ("impressions", "clicks", "purchases", "revenue", "ctr", "conversion", "aov", "category_coverage")
BOUNDS = ("oracle", "random")


@dataclass
class ShownLists:
    """Who saw what in one round: user indexes of the truth, their arm, and a users x k matrix of item indexes."""

    users: np.ndarray
    arms: np.ndarray  # arm label per user
    lists: np.ndarray  # item indexes, -1 for an empty slot


@dataclass
class RoundOutcome:
    round: int
    shown: ShownLists
    clicked: np.ndarray
    purchased: np.ndarray
    bounds: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)  # lists, clicks, buys


def lists_matrix(recs: pa.Table, user_ids: np.ndarray, truth: Truth, k: int) -> np.ndarray:
    """A users x k matrix of truth item indexes from a recommendations table (user_id, item_id, rank)."""
    out = np.full((len(user_ids), k), -1, dtype=np.int64)
    if recs.num_rows == 0:
        return out
    rec_users = recs.column("user_id").to_numpy()
    rank = recs.column("rank").to_numpy().astype(np.int64)
    item_index = index_of(truth.item_ids, recs.column("item_id").to_numpy())
    row = index_of(user_ids, rec_users)
    keep = (row >= 0) & (item_index >= 0) & (rank >= 1) & (rank <= k)
    out[row[keep], rank[keep] - 1] = item_index[keep]
    return out


def index_of(universe: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in `universe` (-1 when absent)."""
    order = np.argsort(universe, kind="stable")
    sorted_universe = universe[order]
    position = np.searchsorted(sorted_universe, values)
    position = np.minimum(position, len(universe) - 1)
    found = sorted_universe[position] == values
    return np.where(found, order[position], -1)


def thompson_slots(lists: np.ndarray, slots: int, posterior: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give the last `slots` positions of each list to the items with the highest Beta(alpha, beta) draw that the
    list does not already hold. `posterior` is items x 2 (alpha, beta)."""
    if slots <= 0 or len(lists) == 0:
        return lists
    lists = lists.copy()
    keep = lists.shape[1] - slots
    draws = rng.beta(posterior[:, 0], posterior[:, 1], size=(len(lists), len(posterior)))
    kept = lists[:, :keep]
    rows = np.repeat(np.arange(len(lists)), keep)
    valid = kept.ravel() >= 0
    draws[rows[valid], kept.ravel()[valid]] = -1.0  # already in the list
    best = np.argsort(-draws, axis=1, kind="stable")[:, :slots]
    lists[:, keep:] = best
    return lists


def oracle_lists(truth: Truth, users: np.ndarray, k: int) -> np.ndarray:
    """Each user's k truly most preferred items (the best any recommender could show)."""
    pref = truth.preference(users)
    return np.argsort(-pref, axis=1, kind="stable")[:, :k]


def random_lists(n_items: int, users: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct items per user, uniformly at random."""
    return np.argsort(rng.random((len(users), n_items)), axis=1)[:, :k]


def user_outcomes(truth: Truth, lists: np.ndarray, clicked: np.ndarray, purchased: np.ndarray) -> dict[str, np.ndarray]:
    """Per user: impressions, clicks, purchases, revenue, and the category coverage of the list."""
    shown = lists >= 0
    price = truth.item_price[np.where(shown, lists, 0)]
    categories = np.where(shown, truth.item_category[np.where(shown, lists, 0)], -1)
    distinct = np.array([len(set(row[row >= 0])) for row in categories]) if len(lists) else np.zeros(0)
    return {"impressions": shown.sum(axis=1), "clicks": clicked.sum(axis=1), "purchases": purchased.sum(axis=1),
            "revenue": (price * purchased).sum(axis=1), "category_coverage": distinct / len(CATEGORIES)}


def per_user_metrics(totals: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reported per-user metrics from summed outcomes. AOV is NaN for users without an order (left out of its
    mean); a user's order is their purchases of a round taken together."""
    impressions = totals["impressions"].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ctr = np.where(impressions > 0, totals["clicks"] / impressions, 0.0)
        aov = np.where(totals["orders"] > 0, totals["revenue"] / totals["orders"], np.nan)
    return {"impressions": impressions, "clicks": totals["clicks"].astype(np.float64),
            "purchases": totals["purchases"].astype(np.float64), "revenue": totals["revenue"].astype(np.float64),
            "ctr": ctr, "conversion": (totals["orders"] > 0).astype(np.float64), "aov": aov,
            "category_coverage": totals["category_coverage"] / totals["rounds"]}


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of exposure over the catalogue (0: every item shown equally; 1: one item takes all)."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def feedback_events(truth: Truth, outcome: RoundOutcome, start_ts: int, schema: pa.Schema) -> pa.Table:
    """The round's clicks as view events and purchases as purchase events, in the events input's schema."""
    users, lists = outcome.shown.users, outcome.shown.lists
    ts0 = start_ts + outcome.round * DAY_SECONDS
    rows, cols = np.nonzero(outcome.clicked)
    buy_rows, buy_cols = np.nonzero(outcome.purchased)
    user = np.concatenate([users[rows], users[buy_rows]])
    slot = np.concatenate([cols, buy_cols])
    item = np.concatenate([lists[rows, cols], lists[buy_rows, buy_cols]])
    kind = np.array(["view"] * len(rows) + ["purchase"] * len(buy_rows), dtype=object)
    ts = ts0 + slot * 60 + (kind == "purchase") * 30  # a purchase half a minute after its view
    columns = {
        "user_id": truth.user_ids[user], "item_id": truth.item_ids[item], "event_type": kind,
        "ts": pa.array(ts.astype(np.int64) * 1_000_000, pa.timestamp("us", tz="UTC")),
        "quantity": np.where(kind == "purchase", 1, 0), "price": truth.item_price[item],
        "session_id": 9_000_000_000 + outcome.round * 10_000_000 + user, "weight": np.ones(len(user)),
    }
    arrays = []
    for schema_field in schema:
        value = columns.get(schema_field.name)
        arrays.append(pa.nulls(len(user), schema_field.type) if value is None
                      else pa.array(value).cast(schema_field.type) if not isinstance(value, pa.Array)
                      else value.cast(schema_field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_feedback(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def update_posterior(posterior: np.ndarray, outcome: RoundOutcome) -> np.ndarray:
    """Add the round's impressions and clicks of every shown list to the items' Beta posteriors."""
    lists, clicked = outcome.shown.lists, outcome.clicked
    shown = lists >= 0
    n_items = len(posterior)
    impressions = np.bincount(lists[shown], minlength=n_items)
    clicks = np.bincount(lists[shown & clicked], minlength=n_items)
    updated = posterior.copy()
    updated[:, 0] += clicks
    updated[:, 1] += impressions - clicks
    return updated


def simulate_round(truth: Truth, shown: ShownLists, round_number: int, seed: int, k: int,
                   explore: Mapping[str, int], posterior: np.ndarray,
                   report: Callable[[str], None] | None = None) -> RoundOutcome:
    """Show every user their list (with exploration slots where their arm has them), draw the responses, and
    score the oracle and random lists on the same users."""
    lists = shown.lists.copy()
    for arm, slots in explore.items():
        rows = shown.arms == arm
        if slots and rows.any():
            lists[rows] = thompson_slots(lists[rows], slots, posterior,
                                         np.random.default_rng([seed, round_number, 3]))
    shown = ShownLists(shown.users, shown.arms, lists)
    clicked, purchased = truth.respond(shown.users, lists, np.random.default_rng([seed, round_number, 0]))
    outcome = RoundOutcome(round_number, shown, clicked, purchased)
    users = shown.users  # every shown user, so each meets the same random numbers as with their arm's list
    for name, make in (("oracle", lambda: oracle_lists(truth, users, k)),
                       ("random", lambda: random_lists(len(truth.item_ids), users, k,
                                                       np.random.default_rng([seed, round_number, 1])))):
        bound_lists = make()
        bound_clicks, bound_buys = truth.respond(users, bound_lists, np.random.default_rng([seed, round_number, 0]))
        outcome.bounds[name] = (bound_lists, bound_clicks, bound_buys)
    return outcome
