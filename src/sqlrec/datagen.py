"""A small synthetic retail shop for the demo: users with category tastes, long-tail item popularity, and
view / cart / purchase events over 90 days. Seeded: the same seed gives the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CATEGORIES = ("tops", "trousers", "shoes", "accessories", "outerwear", "home", "beauty", "sport")
BRANDS = ("Northwind", "Aurelia", "Kestrel", "Monarch", "Tidewater", "Cobalt")
EVENT_TYPES = ("view", "cart", "purchase")
END = datetime(2026, 10, 31, tzinfo=timezone.utc)
DAYS = 90


@dataclass(frozen=True)
class DemoSize:
    users: int = 2_000
    items: int = 300
    events: int = 40_000
    seed: int = 42


def generate(out: Path, size: DemoSize = DemoSize()) -> dict[str, Path]:
    """Write items.parquet, users.parquet and events.parquet into `out`; return their paths."""
    rng = np.random.default_rng(size.seed)
    out.mkdir(parents=True, exist_ok=True)

    item_ids = np.arange(1, size.items + 1, dtype=np.int64)
    item_cat = rng.permutation(np.arange(size.items) % len(CATEGORIES))  # every category has items
    price = np.round(np.exp(rng.normal(3.4, 0.7, size.items)), 2)
    brand = rng.integers(0, len(BRANDS), size.items)
    items = pa.table({
        "item_id": item_ids,
        "category": [CATEGORIES[c] for c in item_cat],
        "brand": [BRANDS[b] for b in brand],
        "price": price,
        "title": [f"{BRANDS[b]} {CATEGORIES[c]} no. {i}" for i, b, c in zip(item_ids, brand, item_cat)],
    })

    user_ids = np.arange(1, size.users + 1, dtype=np.int64)
    taste = rng.dirichlet(np.full(len(CATEGORIES), 0.3), size.users)  # each user prefers a few categories
    users = pa.table({"user_id": user_ids,
                      "segment": np.where(rng.random(size.users) < 0.15, "high_value", "regular")})

    # Long-tail popularity: Zipf-like weights over a random permutation of the items.
    popularity = 1.0 / np.arange(1, size.items + 1) ** 0.9
    popularity = popularity[rng.permutation(size.items)]
    activity = rng.pareto(1.5, size.users) + 1.0  # a few very active users
    event_user = rng.choice(size.users, size.events, p=activity / activity.sum())
    chosen_cat = _sample_rows(rng, taste[event_user])
    event_item = np.empty(size.events, dtype=np.int64)
    for c in range(len(CATEGORIES)):
        pool = np.flatnonzero(item_cat == c)
        rows = np.flatnonzero(chosen_cat == c)
        weights = popularity[pool] / popularity[pool].sum()
        event_item[rows] = pool[rng.choice(len(pool), rows.size, p=weights)]
    kind = rng.choice(len(EVENT_TYPES), size.events, p=[0.7, 0.2, 0.1])
    seconds = np.sort(rng.integers(0, DAYS * 86_400, size.events))
    start = int(END.timestamp()) - DAYS * 86_400
    events = pa.table({
        "user_id": user_ids[event_user],
        "item_id": item_ids[event_item],
        "event_type": [EVENT_TYPES[k] for k in kind],
        "ts": pa.array((start + seconds) * 1_000_000, type=pa.timestamp("us", tz="UTC")),
        "quantity": np.where(kind == 2, rng.integers(1, 3, size.events), 0).astype(np.int32),
        "price": price[event_item],
    })
    paths = {"items": out / "items.parquet", "users": out / "users.parquet", "events": out / "events.parquet"}
    for name, table in (("items", items), ("users", users), ("events", events)):
        pq.write_table(table, paths[name])
    return paths


def _sample_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a probability matrix (vectorised inverse-CDF)."""
    cumulative = probabilities.cumsum(axis=1)
    draws = rng.random(len(probabilities))[:, None] * cumulative[:, -1:]
    return (draws > cumulative).sum(axis=1)
