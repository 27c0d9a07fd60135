"""Synthetic retail data with patterns a recommender can learn, and the ground truth behind them.

>>> from sqlrec.datagen import WorldSize, generate
>>> paths = generate(Path("shop"), WorldSize(users=2_000, items=300, events=40_000, seed=42))   # doctest: +SKIP

Writes items.parquet, users.parquet, events.parquet and truth/ (see `truth.py`). Same size and seed, same bytes.
Events are simulated one chunk of users at a time and streamed to Parquet, so memory stays bounded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .catalog import BRANDS, CATEGORIES, TIERS
from .simulate import EVENT_TYPES, ItemSampler, events_per_user, simulate_chunk
from .world import DAY, HIGH_PROPENSITY_SHARE, NEW_ITEM_DAYS, NEW_USER_DAYS, WorldSize, build_items, build_users, \
    item_title

__all__ = ["WorldSize", "DemoSize", "generate", "EVENTS_PER_CHUNK"]

DemoSize = WorldSize  # the demo uses the default size
EVENTS_PER_CHUNK = 500_000  # bounds memory: about 0.5 GB of working arrays per chunk
ITEM_ID_BASE = 100_000  # item ids look like product codes and never collide with user ids
_PARQUET = {"compression": "zstd"}
_US = pa.timestamp("us", tz="UTC")


def generate(out: Path, size: WorldSize = WorldSize()) -> dict[str, Path]:
    """Write the world of `size` into `out`; return the path of each table."""
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    world_rng = np.random.default_rng([size.seed, 0])
    items = build_items(size, world_rng)
    users = build_users(size, world_rng)
    paths = {"items": out / "items.parquet", "users": out / "users.parquet", "events": out / "events.parquet",
             "truth": out / "truth"}
    _write_items(paths["items"], items, np.random.default_rng([size.seed, 1]))
    _write_users(paths["users"], users)
    _write_truth(out / "truth", size, items, users)
    budget = events_per_user(size, users, np.random.default_rng([size.seed, 2]))
    _write_events(paths["events"], size, items, users, budget)
    return paths


def _item_ids(index: np.ndarray) -> np.ndarray:
    return ITEM_ID_BASE + index


def _user_ids(index: np.ndarray) -> np.ndarray:
    return 1 + index


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype(np.int64) * 1_000_000, type=_US)


def _write_items(path: Path, items, rng: np.random.Generator) -> None:
    texts = [item_title(items, i, rng) for i in range(items.count)]
    table = pa.table({
        "item_id": _item_ids(np.arange(items.count)),
        "category": [CATEGORIES[c].name for c in items.category],
        "subcategory": [CATEGORIES[c].subcategories[s] for c, s in zip(items.category, items.subcategory)],
        "brand": [BRANDS[b][0] for b in items.brand],
        "price": items.price,
        "price_tier": [TIERS[t] for t in items.tier],
        "title": [t for t, _ in texts],
        "description": [d for _, d in texts],
        "launched_at": _timestamps(items.launched_at),
        "in_stock": items.in_stock,
        "margin": items.margin,
    })
    pq.write_table(table, path, **_PARQUET)


def _write_users(path: Path, users) -> None:
    pq.write_table(pa.table({
        "user_id": _user_ids(np.arange(users.count)),
        "segment": np.where(users.high_propensity, "high_propensity", "regular"),
        "signup_at": _timestamps(users.signup_at),
        "propensity": users.propensity,
    }), path, **_PARQUET)


def _write_events(path: Path, size: WorldSize, items, users, budget: np.ndarray) -> None:
    sampler = ItemSampler(items)
    schema = pa.schema([("user_id", pa.int64()), ("item_id", pa.int64()), ("event_type", pa.string()),
                        ("ts", _US), ("quantity", pa.int32()), ("price", pa.float64()), ("session_id", pa.int64())])
    kinds = pa.array(EVENT_TYPES)
    with pq.ParquetWriter(path, schema, **_PARQUET) as writer:
        for chunk_index, (first, last) in enumerate(_chunks(budget)):
            rng = np.random.default_rng([size.seed, 3, chunk_index])
            chunk = simulate_chunk(size, items, users, sampler, first, budget[first:last], rng)
            writer.write_table(pa.table({
                "user_id": _user_ids(chunk.user),
                "item_id": _item_ids(chunk.item),
                "event_type": kinds.take(pa.array(chunk.kind)),
                "ts": _timestamps(chunk.ts),
                "quantity": chunk.quantity,
                "price": items.price[chunk.item],
                "session_id": chunk.session,
            }, schema=schema))


def _chunks(budget: np.ndarray):
    """Consecutive user ranges holding about EVENTS_PER_CHUNK events each (a single user may hold more)."""
    cumulative = np.cumsum(budget)
    first = 0
    while first < len(budget):
        done = cumulative[first - 1] if first else 0
        last = int(np.searchsorted(cumulative, done + EVENTS_PER_CHUNK, side="right"))
        last = max(last, first + 1)
        yield first, min(last, len(budget))
        first = last


def _write_long(path: Path, column: str, names: list[str], matrix: np.ndarray, users_per_group: int = 100_000) -> None:
    """A users x names matrix as (user_id, name, affinity) rows, written in row groups to bound memory."""
    labels = pa.array(names)
    schema = pa.schema([("user_id", pa.int64()), (column, pa.string()), ("affinity", pa.float64())])
    with pq.ParquetWriter(path, schema, **_PARQUET) as writer:
        for first in range(0, len(matrix), users_per_group):
            block = matrix[first:first + users_per_group]
            writer.write_table(pa.table({
                "user_id": np.repeat(_user_ids(np.arange(first, first + len(block))), len(names)),
                column: labels.take(pa.array(np.tile(np.arange(len(names), dtype=np.int32), len(block)))),
                "affinity": block.ravel(),
            }, schema=schema))


def _write_truth(folder: Path, size: WorldSize, items, users) -> None:
    pq.write_table(pa.table({
        "user_id": _user_ids(np.arange(users.count)),
        "cluster": users.cluster,
        "tier": [TIERS[t] for t in users.tier],
        "propensity": users.propensity,
        "is_new": users.signup_at > size.end - NEW_USER_DAYS * DAY,
    }), folder / "users.parquet", **_PARQUET)
    _write_long(folder / "user_category_affinity.parquet", "category", [c.name for c in CATEGORIES],
                users.category_affinity)
    _write_long(folder / "user_brand_affinity.parquet", "brand", [b for b, _ in BRANDS], users.brand_affinity)
    pq.write_table(pa.table({
        "item_id": _item_ids(np.arange(items.count)),
        "popularity": items.popularity,
        "complement_item_id": pa.array([int(_item_ids(c)) if c >= 0 else None for c in items.complement], pa.int64()),
        "predecessor_item_id": _item_ids(items.predecessor),
        "consumable": [CATEGORIES[c].consumable for c in items.category],
        "season_peak_day": pa.array([CATEGORIES[c].season_peak_day for c in items.category], pa.int64()),
        "is_new": items.launched_at > size.end - NEW_ITEM_DAYS * DAY,
    }), folder / "items.parquet", **_PARQUET)
    params = {"seed": size.seed, "users": size.users, "items": size.items, "events": size.events,
              "days": size.days, "end": size.end, "high_propensity_share": HIGH_PROPENSITY_SHARE,
              "new_user_days": NEW_USER_DAYS, "new_item_days": NEW_ITEM_DAYS,
              "item_id_base": ITEM_ID_BASE, "events_per_chunk": EVENTS_PER_CHUNK}
    (folder / "world.json").write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")
