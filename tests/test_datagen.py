"""The synthetic world: deterministic, exactly sized, and every planted pattern is visible in the data.

Each pattern is measured with plain NumPy / DuckDB on the generated files, against the ground truth in truth/.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

import sqlrec
from conftest import world_inputs
from sqlrec.datagen import WorldSize, generate
from sqlrec.datagen.truth import Truth

SIZE = WorldSize(users=3_000, items=400, events=150_000, seed=7)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate(out, SIZE)
    return out


@pytest.fixture(scope="module")
def con(world):
    con = duckdb.connect()
    for name in ("events", "items", "users"):
        con.read_parquet(str(world / f"{name}.parquet")).to_table(name)
    for name in ("users", "items"):
        con.read_parquet(str(world / "truth" / f"{name}.parquet")).to_table(f"truth_{name}")
    con.execute("SET TimeZone = 'UTC'")
    return con


def _one(con, sql):
    return con.execute(sql).fetchall()[0]


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    small = WorldSize(users=500, items=120, events=8_000, seed=3)
    generate(tmp_path / "a", small)
    generate(tmp_path / "b", small)
    generate(tmp_path / "c", WorldSize(users=500, items=120, events=8_000, seed=4))
    a, b, c = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert a == b and len(a) == 8
    assert a["events.parquet"] != c["events.parquet"]


def test_sizes_and_columns(world, con):
    assert _one(con, "SELECT count(*) FROM events")[0] == SIZE.events
    assert _one(con, "SELECT count(*), count(DISTINCT user_id) FROM users") == (SIZE.users, SIZE.users)
    assert _one(con, "SELECT count(*), count(DISTINCT item_id) FROM items") == (SIZE.items, SIZE.items)
    assert pq.read_schema(world / "items.parquet").names == [
        "item_id", "category", "subcategory", "brand", "price", "price_tier", "title", "description", "launched_at",
        "in_stock", "margin"]
    assert pq.read_schema(world / "users.parquet").names == ["user_id", "segment", "signup_at", "propensity"]
    assert pq.read_schema(world / "events.parquet").names == [
        "user_id", "item_id", "event_type", "ts", "quantity", "price", "session_id"]
    assert {r[0] for r in con.execute("SELECT DISTINCT event_type FROM events").fetchall()} == {"view", "cart",
                                                                                                 "purchase"}


def test_generated_data_passes_the_default_input_checks(world, tmp_path):
    (tmp_path / "sqlrec.toml").write_text(f"""
{world_inputs(world)}""")
    reports = sqlrec.check(tmp_path)
    assert reports["events"].rows == SIZE.events and reports["events"].removed == {}


def test_long_tail_popularity(con):
    counts = np.array([r[0] for r in con.execute(
        "SELECT count(*) AS n FROM events GROUP BY item_id ORDER BY n DESC").fetchall()])
    top_decile = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_decile > 0.35  # 10% of items take over a third of the events
    assert counts[-1] < counts[0] / 50


def test_taste_clusters_show_in_category_mix(con):
    # Users of one cluster share a category mix: within-cluster similarity of users' category shares is far
    # above the similarity between clusters.
    rows = con.execute("""
        SELECT tu.cluster, e.user_id, i.category, count(*) AS n
        FROM events e JOIN items i USING (item_id) JOIN truth_users tu USING (user_id)
        GROUP BY ALL""").fetchall()
    categories = sorted({r[2] for r in rows})
    users = sorted({r[1] for r in rows})
    u_index = {u: k for k, u in enumerate(users)}
    mix = np.zeros((len(users), len(categories)))
    cluster = np.zeros(len(users), dtype=int)
    for c, u, cat, n in rows:
        mix[u_index[u], categories.index(cat)] += n
        cluster[u_index[u]] = c
    active = mix.sum(axis=1) >= 30
    unit = mix[active] / np.linalg.norm(mix[active], axis=1, keepdims=True)
    sim = unit @ unit.T
    same = cluster[active][:, None] == cluster[active][None, :]
    np.fill_diagonal(same, False)
    different = cluster[active][:, None] != cluster[active][None, :]
    assert sim[same].mean() > 0.8 and sim[same].mean() > sim[different].mean() + 0.3


def test_price_tier_coherence(con):
    share = _one(con, """
        SELECT avg(CASE WHEN i.price_tier = tu.tier THEN 1.0 ELSE 0.0 END)
        FROM events e JOIN items i USING (item_id) JOIN truth_users tu USING (user_id)
        WHERE e.event_type = 'purchase' AND tu.tier = 'luxury'""")[0]
    assert share > 0.75  # luxury buyers stay luxury (a third would match by chance)


def test_cross_sell_chains_are_ordered_and_recoverable_by_co_occurrence(con):
    # For each item, the item its buyers most often buy next within 3 days is its planted complement.
    rows = con.execute("""
        WITH p AS (SELECT user_id, item_id, ts FROM events WHERE event_type = 'purchase'),
        follows AS (
            SELECT a.item_id AS anchor, b.item_id AS next_item, count(*) AS n
            FROM p a JOIN p b ON a.user_id = b.user_id AND b.ts > a.ts AND b.ts <= a.ts + INTERVAL 3 DAY
                              AND a.item_id <> b.item_id
            GROUP BY ALL),
        best AS (SELECT anchor, arg_max(next_item, n) AS top, max(n) AS n FROM follows GROUP BY anchor)
        SELECT b.anchor, b.top, ti.complement_item_id, b.n
        FROM best b JOIN truth_items ti ON ti.item_id = b.anchor
        WHERE ti.complement_item_id IS NOT NULL AND b.n >= 5""").fetchall()
    assert len(rows) >= 40
    recovered = np.mean([top == complement for _, top, complement, _ in rows])
    assert recovered > 0.8
    forward, backward = _one(con, """
        WITH p AS (SELECT user_id, item_id, ts FROM events WHERE event_type = 'purchase'),
        pairs AS (SELECT item_id AS a, complement_item_id AS b FROM truth_items WHERE complement_item_id IS NOT NULL)
        SELECT count(*) FILTER (WHERE y.ts > x.ts), count(*) FILTER (WHERE y.ts < x.ts)
        FROM pairs JOIN p x ON x.item_id = pairs.a JOIN p y ON y.item_id = pairs.b AND y.user_id = x.user_id""")
    assert forward > 3 * backward  # suit then shirt, not shirt then suit


def test_seasonality(con):
    share = {r[0]: r[1:] for r in con.execute("""
        SELECT CASE WHEN month(ts) IN (12, 1, 2) THEN 'winter' WHEN month(ts) IN (6, 7, 8) THEN 'summer' END AS s,
               avg(CASE WHEN i.category = 'outerwear' THEN 1.0 ELSE 0 END),
               avg(CASE WHEN i.category = 'swimwear' THEN 1.0 ELSE 0 END)
        FROM events e JOIN items i USING (item_id) WHERE s IS NOT NULL GROUP BY s""").fetchall()}
    assert share["winter"][0] > 5 * share["summer"][0]  # coats in winter
    assert share["summer"][1] > 5 * share["winter"][1]  # swimwear in summer


def test_consumables_are_bought_again_and_durables_never(con):
    rows = dict(con.execute("""
        SELECT ti.consumable, avg(CASE WHEN n > 1 THEN 1.0 ELSE 0 END)
        FROM (SELECT user_id, item_id, count(*) AS n FROM events WHERE event_type = 'purchase' GROUP BY ALL) p
        JOIN truth_items ti USING (item_id) GROUP BY ALL""").fetchall())
    assert rows[True] > 0.2 and rows[False] == 0


def test_high_propensity_segment_is_more_active_and_buys_more(con):
    rows = {r[0]: r[1:] for r in con.execute("""
        SELECT u.segment, median(n), avg(purchases / n)
        FROM users u JOIN (SELECT user_id, count(*) AS n, count(*) FILTER (WHERE event_type = 'purchase') AS purchases
                           FROM events GROUP BY ALL) e USING (user_id)
        WHERE u.signup_at < TIMESTAMPTZ '2025-10-01'
        GROUP BY ALL""").fetchall()}
    assert rows["high_propensity"][0] > 2.5 * rows["regular"][0]
    assert rows["high_propensity"][1] > 2 * rows["regular"][1]


def test_new_users_and_new_items_appear_only_in_the_last_period(con):
    new_users, before_signup, with_events = _one(con, """
        SELECT count(DISTINCT u.user_id), count(*) FILTER (WHERE e.ts < u.signup_at), count(DISTINCT e.user_id)
        FROM users u JOIN truth_users tu USING (user_id) LEFT JOIN events e USING (user_id) WHERE tu.is_new""")
    assert new_users > 50 and before_signup == 0 and with_events > new_users / 3  # cold start: few events
    new_items, before_launch, sold = _one(con, """
        SELECT count(DISTINCT i.item_id), count(e.ts) FILTER (WHERE e.ts < i.launched_at), count(DISTINCT e.item_id)
        FROM items i JOIN truth_items ti USING (item_id) LEFT JOIN events e USING (item_id) WHERE ti.is_new""")
    assert new_items >= 10 and before_launch == 0 and sold > new_items / 2
    last = _one(con, "SELECT min(launched_at) > TIMESTAMPTZ '2026-10-09' FROM items JOIN truth_items USING (item_id) "
                     "WHERE is_new")[0]
    assert last


def test_titles_carry_category_signal(con):
    rows = con.execute("SELECT category, lower(title || ' ' || description) FROM items ORDER BY item_id").fetchall()
    category_names = {r[0] for r in rows}
    tokens = [set(re.findall(r"[a-z-]+", text)) - category_names for _, text in rows]  # no giving the answer away
    labels = [r[0] for r in rows]
    hits = 0
    for i, mine in enumerate(tokens):
        scores = [len(mine & other) / len(mine | other) if j != i else -1 for j, other in enumerate(tokens)]
        hits += labels[int(np.argmax(scores))] == labels[i]
    assert hits / len(rows) > 0.6  # the nearest title by word overlap is of the same category (chance: 1/12)


def test_a_recommender_that_reads_the_truth_beats_popularity(world, con):
    # Temporal split: the last 30 days are the test; both recommend 10 unseen items per user.
    cutoff = "TIMESTAMPTZ '2026-10-01'"
    train = con.execute(f"SELECT user_id, item_id FROM events WHERE ts < {cutoff}").fetchall()
    test = con.execute(f"SELECT DISTINCT user_id, item_id FROM events WHERE ts >= {cutoff}").fetchall()
    truth = Truth.load(world)
    item_index = {int(i): k for k, i in enumerate(truth.item_ids)}
    user_index = {int(u): k for k, u in enumerate(truth.user_ids)}
    seen: dict[int, set[int]] = {}
    for u, i in train:
        seen.setdefault(u, set()).add(item_index[i])
    relevant: dict[int, set[int]] = {}
    for u, i in test:
        if item_index[i] not in seen.get(u, set()):
            relevant.setdefault(u, set()).add(item_index[i])
    users = sorted(u for u in relevant if u in seen)
    popularity = np.bincount([item_index[i] for _, i in train], minlength=len(truth.item_ids)).astype(float)
    pref = truth.preference(np.array([user_index[u] for u in users]))

    def precision(scores_for) -> float:
        hits = 0
        for row, u in enumerate(users):
            scores = scores_for(row).copy()
            scores[list(seen[u])] = -np.inf
            top = np.argsort(-scores, kind="stable")[:10]
            hits += len(relevant[u] & set(top.tolist()))
        return hits / (10 * len(users))

    truth_p = precision(lambda row: pref[row])
    pop_p = precision(lambda row: popularity)
    assert truth_p > 4 * pop_p, (truth_p, pop_p)  # measured: 0.070 vs 0.010


def test_respond_prefers_relevant_lists(world):
    truth = Truth.load(world)
    rng = np.random.default_rng(0)
    users = np.arange(500)
    pref = truth.preference(users)
    best = np.argsort(-pref, axis=1)[:, :10]
    worst = np.argsort(pref, axis=1)[:, :10]
    clicks_best, buys_best = truth.respond(users, best, rng)
    clicks_worst, _ = truth.respond(users, worst, rng)
    assert clicks_best.mean() > 5 * clicks_worst.mean() and buys_best.sum() <= clicks_best.sum()
