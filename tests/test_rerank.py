"""The final list: blend and cascade, business rules, re-rankers, pins and explanations, each checked row by row
against the stages' inputs recomputed in Python."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sqlrec
from conftest import world_project
from sqlrec.datagen import WorldSize, generate

K = 10
STAGES = ("int_eligible", "int_candidates", "int_blend_parts", "int_item_attributes", "int_user_profile",
          "int_user_categories", "rec_final", "int_category_transitions", "rec_cross_sell")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("world")
    generate(data, WorldSize(users=500, items=150, events=12_000, seed=8))
    return data


def _run(world, folder, vars_toml="", extra=""):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sqlrec.toml").write_text(f"""
{world_project(world)}{extra}
[vars]
k = {K}
candidates = 40
{vars_toml}
""")
    (folder / "sql" / "publish").mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        (folder / "sql" / "publish" / f"out_{stage}.sql").write_text(f"SELECT * FROM {{{{ ref('{stage}') }}}}\n")
    return sqlrec.run(folder, progress=False)


def _lists(table):
    lists = defaultdict(list)
    for r in sorted(table.to_pylist(), key=lambda r: (r["user_id"], r["rank"])):
        lists[r["user_id"]].append(r)
    return lists


def _events(world):
    return pq.read_table(world / "events.parquet").to_pylist()


def _items(world):
    return {r["item_id"]: r for r in pq.read_table(world / "items.parquet").to_pylist()}


RULES = """
deny_items = [100003, 100010]
deny_brands = ["Cobalt"]
deny_categories = ["electronics"]
in_stock_only = true
margin_floor = 0.2
max_tier_distance = 0
repurchase_categories = ["coffee", "skincare"]
max_per_category = 3
max_per_brand = 4
blend = { cooccurrence = 0.6, content = 0.2, repurchase = 0.2 }
"""


@pytest.fixture(scope="module")
def ruled(world, tmp_path_factory):
    return _run(world, tmp_path_factory.mktemp("ruled"), RULES)


def test_every_rule_holds_on_every_row(world, ruled):
    items, events = _items(world), _events(world)
    tiers = ["budget", "mid", "premium", "luxury"]
    bought = {(e["user_id"], e["item_id"]) for e in events if e["event_type"] == "purchase"}
    history = defaultdict(list)
    for e in events:
        history[e["user_id"]].append((e["event_type"] == "purchase", tiers.index(items[e["item_id"]]["price_tier"])))
    typical = {}
    for user, rows in history.items():  # rounded mean tier of purchases, else of everything seen
        chosen = [t for b, t in rows if b] or [t for _, t in rows]
        typical[user] = int(round(sum(chosen) / len(chosen) + 1e-12)) if chosen else None
    rows = ruled.table("recommendations").to_pylist()
    assert rows
    for r in rows:
        item = items[r["item_id"]]
        assert r["item_id"] not in (100003, 100010)
        assert item["brand"] != "Cobalt" and item["category"] != "electronics"
        assert item["in_stock"] and item["margin"] >= 0.2
        if r["source"] != "pinned" and (r["user_id"], r["item_id"]) in bought:
            assert item["category"] in ("coffee", "skincare")  # only consumables come back
        if typical.get(r["user_id"]) is not None:
            assert tiers.index(item["price_tier"]) == typical[r["user_id"]]
    for user, listed in _lists(ruled.table("recommendations")).items():
        assert max(Counter(items[r["item_id"]]["category"] for r in listed).values()) <= 3
        assert max(Counter(items[r["item_id"]]["brand"] for r in listed).values()) <= 4


def test_repurchase_brings_back_consumables_only(world, ruled):
    items = _items(world)
    again = [r for r in ruled.table("recommendations").to_pylist() if r["source"] == "repurchase"]
    assert again and {items[r["item_id"]]["category"] for r in again} <= {"coffee", "skincare"}


def test_exactly_k_rows_whenever_k_eligible_candidates_exist(ruled):
    pool = defaultdict(list)
    for r in ruled.table("out_int_eligible").to_pylist():
        pool[r["user_id"]].append(r)
    lists = _lists(ruled.table("recommendations"))
    for user, candidates in pool.items():
        # The caps (3 per category, 4 per brand) taken greedily in cascade order, as the stage defines them.
        kept, categories, brands = [], Counter(), Counter()
        for r in sorted(candidates, key=lambda r: (r["tier"], -r["score"], r["item_id"])):
            if len(kept) < K and categories[r["category"]] < 3 and brands[r["brand"]] < 4:
                kept.append(r["item_id"])
                categories[r["category"]] += 1
                brands[r["brand"]] += 1
        assert [r["item_id"] for r in lists.get(user, [])] == kept, user
    assert sum(len(v) == K for v in lists.values()) >= 0.95 * len(lists)
    for listed in lists.values():
        assert [r["rank"] for r in listed] == list(range(1, len(listed) + 1))
        assert all(r["reason"] for r in listed)


def test_cold_users_and_new_items_are_served(world, tmp_path):
    result = _run(world, tmp_path / "cold", "freshness_boost = 3.0\nblend = { cooccurrence = 0.5, content = 0.5 }")
    users = {r["user_id"] for r in pq.read_table(world / "users.parquet").to_pylist()}
    active = {e["user_id"] for e in _events(world)}
    lists = _lists(result.table("recommendations"))
    assert users <= set(lists) and users - active  # every user, those without any event too
    for user in users - active:
        assert len(lists[user]) == K and {r["source"] for r in lists[user]} <= {"segment_popularity", "popularity"}
    new = {r["item_id"] for r in result.table("out_int_item_attributes").to_pylist() if r["is_new"]}
    sold = {e["item_id"] for e in _events(world)}
    recommended = {r["item_id"] for r in result.table("recommendations").to_pylist()}
    assert (new - sold) & recommended  # items nobody has bought yet reach lists, through content similarity


def test_the_same_lists_on_every_rerun(world, ruled, tmp_path):
    again = _run(world, tmp_path / "again", RULES)
    order = [("user_id", "ascending"), ("rank", "ascending")]
    assert ruled.table("recommendations").sort_by(order).equals(again.table("recommendations").sort_by(order))


@pytest.mark.parametrize("normalisation", ["rank", "minmax"])
def test_blend_parts_are_normalised_and_weighted_by_segment(world, tmp_path, normalisation):
    _run(world, tmp_path / normalisation, f"""
blend_normalisation = "{normalisation}"
blend = {{ cooccurrence = 0.6, content = 0.4 }}
[vars.blend_by_segment.high_propensity]
cooccurrence = 0.1
content = 0.9
""")
    segment = {r["user_id"]: r["segment"] for r in pq.read_table(world / "users.parquet").to_pylist()}
    folder = tmp_path / normalisation
    (folder / "sql" / "publish" / "out_rec_cooccurrence.sql").write_text("SELECT * FROM {{ ref('rec_cooccurrence') }}\n")
    (folder / "sql" / "publish" / "out_rec_content.sql").write_text("SELECT * FROM {{ ref('rec_content') }}\n")
    result = sqlrec.run(folder, progress=False)
    expected = {}
    for source in ("cooccurrence", "content"):
        lists = _lists(result.table(f"out_rec_{source}"))
        for user, listed in lists.items():
            scores = [r["score"] for r in listed]
            for r in listed:
                if normalisation == "rank":
                    value = (len(listed) - r["rank"] + 1) / len(listed)
                else:
                    value = 1.0 if max(scores) == min(scores) else (r["score"] - min(scores)) / (max(scores) - min(scores))
                weights = {"cooccurrence": 0.1, "content": 0.9} if segment.get(user) == "high_propensity" else \
                    {"cooccurrence": 0.6, "content": 0.4}
                expected[(user, r["item_id"], source)] = weights[source] * value
    got = {(r["user_id"], r["item_id"], r["source"]): r["contribution"]
           for r in result.table("out_int_blend_parts").to_pylist()}
    assert got.keys() == expected.keys()
    assert all(got[key] == pytest.approx(value, rel=1e-12) for key, value in expected.items())


def test_cascade_order_and_provenance(ruled):
    tiers = {(r["user_id"], r["item_id"]): r for r in ruled.table("out_int_candidates").to_pylist()}
    for user, listed in _lists(ruled.table("out_rec_final")).items():
        seen_tiers = [tiers[(user, r["item_id"])]["tier"] for r in listed]
        assert seen_tiers == sorted(seen_tiers)  # without a re-ranker, tier order is kept
        for r in listed:
            assert r["source"] == tiers[(user, r["item_id"])]["source"]


@pytest.mark.parametrize("method", ["round_robin", "geometric", "mmr", "calibration"])
def test_rerankers_arrange_the_pool_as_defined(world, tmp_path, method):
    extra = {"mmr": "mmr_lambda = 0.0", "calibration": "calibration_lambda = 1.0"}.get(method, "")
    result = _run(world, tmp_path / method, f'rerank = "{method}"\n{extra}')
    pool = defaultdict(list)
    for r in result.table("out_int_eligible").to_pylist():
        pool[r["user_id"]].append(r)
    shares = defaultdict(dict)
    for r in result.table("out_int_user_categories").to_pylist():
        shares[r["user_id"]][r["category"]] = r["share"]
    for user, listed in _lists(result.table("out_rec_final")).items():
        candidates = sorted(pool[user], key=lambda r: (r["tier"], -r["score"], r["item_id"]))
        n = len(candidates)
        position = {r["item_id"]: i + 1 for i, r in enumerate(candidates)}
        turn, counts = {}, Counter()
        for r in candidates:
            counts[r["category"]] += 1
            turn[r["item_id"]] = counts[r["category"]]
        if method == "round_robin":
            expected = sorted(candidates, key=lambda r: (turn[r["item_id"]], position[r["item_id"]]))
        elif method == "geometric":
            expected = sorted(candidates, key=lambda r: (-(n - position[r["item_id"]] + 1) / n
                                                         * 0.5 ** (turn[r["item_id"]] - 1), position[r["item_id"]]))
        elif method == "mmr":  # lambda 0: each pick is the best item of a category not picked yet, while any is left
            expected, picked = [], set()
            for _ in range(min(K, n)):
                rest = [r for r in candidates if r["item_id"] not in {e["item_id"] for e in expected}]
                fresh = [r for r in rest if r["category"] not in picked]
                choice = (fresh or rest)[0]
                expected.append(choice)
                picked.add(choice["category"])
        else:  # calibration, lambda 1: each pick lowers the KL divergence to the user's category mix the most
            expected, counts = [], Counter()
            p = shares[user]
            for step in range(1, min(K, n) + 1):
                def delta(category):
                    if category not in p:
                        return 0.0
                    def term(m):
                        return p[category] * math.log(p[category] / (0.99 * m / step + 0.01 * p[category]))
                    return term(counts[category] + 1) - term(counts[category])
                rest = [r for r in candidates if r["item_id"] not in {e["item_id"] for e in expected}]
                choice = min(rest, key=lambda r: (round(delta(r["category"]), 12), position[r["item_id"]]))
                expected.append(choice)
                counts[choice["category"]] += 1
        assert [r["item_id"] for r in listed] == [r["item_id"] for r in expected[:K]], user


def test_pins_take_their_slots_where_the_rules_allow(world, tmp_path):
    items = _items(world)
    pin = next(i for i, it in items.items() if it["in_stock"] and it["category"] != "coffee")
    result = _run(world, tmp_path / "pins", f'pinned_items = {{ "{pin}" = 3 }}')
    bought = {(e["user_id"], e["item_id"]) for e in _events(world) if e["event_type"] == "purchase"}
    for user, listed in _lists(result.table("recommendations")).items():
        at_three = [r for r in listed if r["rank"] == 3]
        if (user, pin) in bought:
            assert all(r["item_id"] != pin for r in listed)  # never re-sells what a user bought
        elif len(listed) >= 3:
            assert at_three[0]["item_id"] == pin and at_three[0]["source"] == "pinned"
            assert at_three[0]["reason"] == "Featured"
        assert sum(r["item_id"] == pin for r in listed) <= 1


def test_debiasing_divides_scores_by_popularity(world, tmp_path):
    result = _run(world, tmp_path / "debias", "debias_alpha = 0.7\nlongtail_boost = 0.5")
    pool = defaultdict(list)
    for r in result.table("out_int_eligible").to_pylist():
        pool[r["user_id"]].append(r)

    def adjusted(r):
        return r["score"] / max(r["users"], 1) ** 0.7 * (1.0 if r["is_head"] else 1.5)

    for user, listed in _lists(result.table("out_rec_final")).items():
        expected = sorted(pool[user], key=lambda r: (r["tier"], -adjusted(r), r["item_id"]))[:K]
        assert [r["item_id"] for r in listed] == [r["item_id"] for r in expected], user
        scores = {r["item_id"]: adjusted(r) for r in pool[user]}
        assert all(r["score"] == pytest.approx(scores[r["item_id"]], rel=1e-12) for r in listed)


def test_cross_sell_offers_categories_that_follow_recent_purchases(world, tmp_path):
    result = _run(world, tmp_path / "cross", 'cross_sell_segments = ["high_propensity"]')
    follows = {(r["category"], r["next_category"]) for r in result.table("out_int_category_transitions").to_pylist()}
    assert ("suits", "shirts") in follows or ("dresses", "shoes") in follows  # the planted chains are found
    items = _items(world)
    now = defaultdict(set)
    for r in result.table("out_int_user_categories").to_pylist():
        if r["recent_purchase"]:
            now[r["user_id"]].add(r["category"])
    offers = result.table("out_rec_cross_sell").to_pylist()
    assert offers
    for r in offers:
        category = items[r["item_id"]]["category"]
        assert category not in now[r["user_id"]]
        assert any((c, category) in follows for c in now[r["user_id"]])
    segment = {r["user_id"]: r["segment"] for r in pq.read_table(world / "users.parquet").to_pylist()}
    crossed = [r for r in result.table("recommendations").to_pylist() if r["source"] == "cross_sell"]
    assert crossed and all(segment[r["user_id"]] == "high_propensity" for r in crossed)
    assert all(r["reason"].startswith("Completes your recent ") for r in crossed)


def test_explanations_split_the_score_among_history_items(world, ruled):
    folder = ruled.run_dir.parents[2]
    (folder / "sql" / "publish" / "out_affinity.sql").write_text("SELECT * FROM {{ ref('int_user_affinity') }}\n")
    (folder / "sql" / "publish" / "out_similarity.sql").write_text("SELECT * FROM {{ ref('int_item_similarity') }}\n")
    result = sqlrec.run(folder, progress=False)
    affinity = defaultdict(dict)
    for r in result.table("out_affinity").to_pylist():
        affinity[r["user_id"]][r["item_id"]] = r["affinity"]
    similarity = defaultdict(dict)
    for r in result.table("out_similarity").to_pylist():
        similarity[r["other_item_id"]][r["item_id"]] = r["similarity"]
    parts = defaultdict(dict)
    for r in result.table("out_int_blend_parts").to_pylist():
        parts[(r["user_id"], r["item_id"])][r["source"]] = r["contribution"]
    explained = defaultdict(list)
    for r in result.table("explanations").to_pylist():
        explained[(r["user_id"], r["item_id"])].append(r)
    checked = 0
    for row in result.table("recommendations").to_pylist():
        key = (row["user_id"], row["item_id"])
        shares = explained[key]
        assert shares and sum(s["share"] for s in shares) <= 1 + 1e-9
        if row["source"] == "cooccurrence" and set(parts[key]) == {"cooccurrence"}:
            terms = {h: a * similarity[row["item_id"]].get(h, 0.0) for h, a in affinity[row["user_id"]].items()}
            total = sum(t for t in terms.values() if t > 0)
            best = max(terms, key=lambda h: (terms[h], -h))
            top = min(shares, key=lambda s: s["position"])
            assert top["contributor"] == str(best) and top["share"] == pytest.approx(terms[best] / total, rel=1e-9)
            assert best_title_in_reason(row["reason"], top["title"])
            checked += 1
    assert checked > 100


def best_title_in_reason(reason, title):
    return title is not None and title in reason


def test_explain_on_the_command_line(ruled):
    from click.testing import CliRunner
    from sqlrec.cli import cli
    folder = ruled.run_dir.parents[2]
    row = ruled.table("recommendations").to_pylist()[0]
    result = CliRunner().invoke(cli, ["explain", "--user", str(row["user_id"]), "--item", str(row["item_id"]),
                                      "-p", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"rank {row['rank']}, from {row['source']}" in result.output and row["reason"] in result.output
    missing = CliRunner().invoke(cli, ["explain", "--user", str(row["user_id"]), "--item", "no-such-item",
                                       "-p", str(folder)])
    assert missing.exit_code == 2 and "is not in user" in missing.output and "their list:" in missing.output


def test_similar_items_keep_the_anchor_tier_and_the_item_rules(world, tmp_path):
    result = _run(world, tmp_path / "similar", "max_tier_distance = 0\ndeny_brands = [\"Cobalt\"]")
    items = _items(world)
    rows = result.table("similar_items").to_pylist()
    assert rows
    for r in rows:
        anchor, shown = items[r["item_id"]], items[r["other_item_id"]]
        assert shown["price_tier"] == anchor["price_tier"] and shown["brand"] != "Cobalt"


def test_mmr_by_embedding_follows_the_greedy_definition(world, tmp_path):
    folder = tmp_path / "mmr_embedding"
    result = _run(world, folder, 'rerank = "mmr"\nmmr_similarity = "embedding"\nmmr_lambda = 0.5\nsvd_rank = 4')
    (folder / "sql" / "publish" / "out_vectors.sql").write_text(
        "SELECT i.item_id, f.factors FROM {{ ref('int_svd_item_factors') }} AS f "
        "JOIN {{ ref('int_item_index') }} AS i ON i.item_ix = f.item_ix\n")
    result = sqlrec.run(folder, progress=False)
    vectors = {r["item_id"]: r["factors"] for r in result.table("out_vectors").to_pylist()}

    def cosine(a, b):
        if a not in vectors or b not in vectors:
            return None
        u, v = vectors[a], vectors[b]
        norm = math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(x * x for x in v))
        return sum(x * y for x, y in zip(u, v)) / norm if norm else None

    pool = defaultdict(list)
    for r in result.table("out_int_eligible").to_pylist():
        pool[r["user_id"]].append(r)
    lists = _lists(result.table("out_rec_final"))
    for user in sorted(lists)[:60]:
        candidates = sorted(pool[user], key=lambda r: (r["tier"], -r["score"], r["item_id"]))
        n = len(candidates)
        chosen = []
        for _ in range(min(K, n)):
            def value(i, r):
                sims = [s for s in (cosine(r["item_id"], c) for c in chosen) if s is not None]
                return 0.5 * (n - i) / n - 0.5 * (max(sims) if sims else 0.0)
            rest = [(i, r) for i, r in enumerate(candidates) if r["item_id"] not in chosen]
            best = max(rest, key=lambda ir: (round(value(*ir), 12), -ir[0]))
            chosen.append(best[1]["item_id"])
        assert [r["item_id"] for r in lists[user]] == chosen, user


def test_deny_lists_keep_items_whose_brand_or_category_is_unknown(make_project):
    """The docs: a NULL brand or category is not denied. Items 11 and 14 have none and must still be recommended;
    10 (a denied brand) and 12 (a denied category) never are."""
    project = make_project("""
        [inputs.items]
        path = "data/items.parquet"
        [vars]
        k = 10
        blend = { popularity = 1.0 }
        cascade = ["popularity"]
        exclude_purchased = false
        deny_brands = ["Acme"]
        deny_categories = ["toys"]
    """, name="deny")
    pq.write_table(pa.table({
        "item_id": pa.array([10, 11, 12, 13, 14, 15], pa.int64()),
        "brand": ["Acme", None, "Other", "Other", None, "Other"],
        "category": ["shoes", None, "toys", "shoes", "shoes", None]}), project.root / "data" / "items.parquet")
    result = sqlrec.run(project.root, progress=False)
    listed = {r["item_id"] for r in result.table("recommendations").to_pylist()}
    assert {11, 14, 15} <= listed
    assert not listed & {10, 12}
