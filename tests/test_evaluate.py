"""`sqlrec evaluate`: leakage-free splits, and published metrics equal to an independent computation."""

from __future__ import annotations

import hashlib
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

import sqlrec
from sqlrec.cli import cli
from sqlrec.errors import ConfigError, OutputCheckError

from conftest import ML100K, tree_digest, write_events

WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


def _events(seed=0, n=2_000, users=120, items=40, days=60):
    rng = np.random.default_rng(seed)
    return list(zip(rng.integers(1, users, n).tolist(), rng.integers(1, items, n).tolist(),
                    rng.choice(list(WEIGHTS), n, p=[0.7, 0.2, 0.1]).tolist(), rng.integers(0, days, n).tolist()))


def _project(make_project, evaluate: str, rows=None, name="ev"):
    project = make_project(f"\n[evaluate]\n{evaluate}\n", name=name)
    write_events(project.root / "data" / "events.parquet", rows if rows is not None else _events())
    return project


def _table(result, name):
    return result.table(name).to_pylist()


def test_time_split_keeps_the_future_out_of_training(make_project):
    rows = _events()
    # Item 99 appears only after the cut-off, bought by half the users: popularity trained on all data puts it at
    # the top of everybody else's list; trained on the training split, it cannot know it.
    rows += [(u, 99, "purchase", 59) for u in range(1, 60)]
    project = _project(make_project, 'cutoff = "2026-02-20"\nk = [5, 10]', rows)
    project.write("sql/eval_publish/lists.sql", """
        -- columns: model, user_id, item_id, rank
        SELECT model, user_id, item_id, rank FROM {{ ref('eval_recs') }}
    """)
    result = sqlrec.evaluate(project.root, progress=False)
    summary = {r["split"]: r for r in _table(result, "split_summary")}
    assert summary["train"]["leaked_rows"] == 0 and summary["test"]["leaked_rows"] == 0
    assert summary["train"]["last_ts"] < summary["test"]["first_ts"]
    assert {r["k"] for r in _table(result, "metrics_by_user")} == {5, 10}
    lists = result.table("lists")
    assert lists.num_rows > 0 and 99 not in set(lists.column("item_id").to_pylist())
    live = sqlrec.run(project.root, progress=False)
    assert 99 in {r["item_id"] for r in live.table("recommendations").to_pylist()}  # the live model sees it


def test_published_metrics_equal_an_independent_computation(make_project):
    rows = _events(seed=3)
    project = _project(make_project, 'cutoff = "2026-02-15"\nk = [3, 10]\nexclude_seen = true', rows)
    result = sqlrec.evaluate(project.root, progress=False)
    cutoff_day = 45  # 2026-02-15
    train = [r for r in rows if r[3] < cutoff_day]
    test = [r for r in rows if r[3] >= cutoff_day]
    score = Counter()
    for _, item, kind, _ in train:
        score[item] += WEIGHTS[kind]
    ranked = sorted(score, key=lambda i: (-score[i], i))
    seen = {}
    for user, item, _, _ in train:
        seen.setdefault(user, set()).add(item)
    truth = {}
    for user, item, _, _ in test:
        if item not in seen.get(user, set()):
            truth.setdefault(user, set()).add(item)
    published = {(r["model"], r["k"]): r for r in _table(result, "metrics")}
    for k in (3, 10):
        precision, ndcg, users = [], [], 0
        for user, relevant in truth.items():
            top = [i for i in ranked if i not in seen.get(user, set())][:k] if user in seen else []
            hits = [1.0 if i in relevant else 0.0 for i in top]
            precision.append(sum(hits) / k)
            dcg = sum(h / np.log2(p + 2) for p, h in enumerate(hits))
            idcg = sum(1 / np.log2(p + 2) for p in range(min(k, len(relevant))))
            ndcg.append(dcg / idcg)
            users += 1
        row = published[("popularity", k)]
        assert row["users"] == users
        assert row["precision"] == pytest.approx(np.mean(precision), abs=1e-12)
        assert row["ndcg"] == pytest.approx(np.mean(ndcg), abs=1e-12)
    slices = {(r["k"], r["slice"], r["value"]): r for r in _table(result, "metrics_by_slice")}
    cold = [u for u in truth if u not in seen]
    assert slices.get((10, "history", "cold"), {"users": 0})["users"] == len(cold)


def test_last_n_split_holds_out_each_users_latest_events(make_project):
    rows = _events(seed=4)
    project = _project(make_project, 'split = "last_n"\nlast_n = 2\nexclude_seen = false', rows)
    result = sqlrec.evaluate(project.root, progress=False)
    per_user = Counter(u for u, *_ in rows)
    expected_test = sum(2 for n in per_user.values() if n > 2)
    summary = {r["split"]: r for r in _table(result, "split_summary")}
    assert summary["test"]["events"] == expected_test and summary["train"]["leaked_rows"] == 0


def _round_half_even(x: float) -> int:
    return int(Decimal(repr(x)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def test_stratified_split_counts_and_determinism(make_project, tmp_path):
    rows = _events(seed=5)
    digests = []
    for threads in (1, 2):
        project = _project(make_project, 'split = "stratified"\nratio = 0.75\nstratify_by = "user"\nseed = 7',
                           rows, name=f"st{threads}")
        project.write("sqlrec.toml", project.config.read_text().replace("threads = 1", f"threads = {threads}"))
        project.write("sql/eval_publish/split_rows.sql", """
            -- columns: user_id, item_id, ts, event_type, split
            SELECT user_id, item_id, ts, event_type, __split AS split FROM {{ ref('eval_split') }}
        """)
        result = sqlrec.evaluate(project.root, progress=False)
        table = result.table("split_rows").sort_by([("user_id", "ascending"), ("ts", "ascending"),
                                                   ("item_id", "ascending"), ("event_type", "ascending")])
        digests.append(hashlib.sha256(str(table.to_pylist()).encode()).hexdigest())
        per_user = Counter(u for u, *_ in rows)
        train = Counter(r["user_id"] for r in table.to_pylist() if r["split"] == "train")
        assert all(train.get(u, 0) == _round_half_even(0.75 * n) for u, n in per_user.items())
    assert digests[0] == digests[1]  # same split on 1 and 2 threads


def test_kfold_partitions_users(make_project):
    rows = _events(seed=6)
    test_users = []
    for fold in range(3):
        project = _project(make_project, f'split = "kfold"\nfolds = 3\nfold = {fold}\nseed = 1', rows, name=f"kf{fold}")
        project.write("sql/eval_publish/test_users.sql", """
            -- columns: user_id
            SELECT DISTINCT user_id FROM {{ ref('eval_split') }} WHERE __split = 'test'
        """)
        result = sqlrec.evaluate(project.root, progress=False)
        users = set(result.table("test_users").column("user_id").to_pylist())
        # The fold of a user is floor(md5_unit(seed:user) * folds), computed here with Python's hashlib.
        expected = {u for u in {r[0] for r in rows}
                    if int(int(hashlib.md5(f"1:{u}".encode()).hexdigest()[:8], 16) / 2**32 * 3) == fold}
        assert users == expected
        test_users.append(users)
    assert set().union(*test_users) == {r[0] for r in rows}
    assert sum(len(u) for u in test_users) == len({r[0] for r in rows})


@pytest.mark.skipif(not (ML100K / "derived" / "ms_benchmark_split_seed42.csv.gz").is_file(),
                    reason=f"MovieLens 100K benchmark split not found in {ML100K} (set SQLREC_ML100K)")
def test_stratified_by_item_gives_recommenders_per_item_counts_on_movielens(tmp_path):
    (tmp_path / "sqlrec.toml").write_text(f"""
[inputs.events]
path = "{ML100K / 'u.data'}"
format = "csv"
delimiter = "\\t"
header = false
names = ["user_id", "item_id", "rating", "unix_time"]
ts_format = "epoch_s"
weight_range = [1, 5]
[inputs.events.columns]
ts = "unix_time"
weight = "rating"
[evaluate]
split = "stratified"
stratify_by = "item"
ratio = 0.75
""")
    (tmp_path / "sql" / "eval_publish").mkdir(parents=True)
    (tmp_path / "sql" / "eval_publish" / "train_counts.sql").write_text(
        "-- columns: item_id, n\nSELECT item_id, count(*) AS n FROM {{ ref('eval_split') }} "
        "WHERE __split = 'train' GROUP BY item_id\n")
    result = sqlrec.evaluate(tmp_path, progress=False)
    ours = {r["item_id"]: r["n"] for r in result.table("train_counts").to_pylist()}
    theirs = dict(duckdb.sql("SELECT itemID, count(*) FROM read_csv($p) WHERE split = 'train' GROUP BY itemID",
                             params={"p": str(ML100K / "derived" / "ms_benchmark_split_seed42.csv.gz")}).fetchall())
    assert ours == theirs  # 75,066 training rows, item by item, as python_stratified_split(filter_by="item")


def test_zero_header_fails_the_run(project):
    project.write("sql/publish/bad.sql", "-- zero: n\n-- columns: n\nSELECT 3 AS n\n")
    with pytest.raises(OutputCheckError, match="`n` must be 0, e.g. \\{n: 3\\}"):
        sqlrec.run(project.root, progress=False)


@pytest.mark.parametrize("setting, message", [
    ("k = [0]", "`evaluate.k` must be a list of positive integers"),
    ('split = "random"', "`evaluate.split` must be one of"),
    ("fold = 5", "`evaluate.fold` must be in 0 .. folds - 1"),
    ("ratio = 1.5", "`evaluate.ratio` must be between 0 and 1"),
    ("models = []", "`evaluate.models` names no recommender"),
])
def test_evaluate_settings_are_validated(make_project, setting, message):
    project = _project(make_project, setting)
    with pytest.raises(ConfigError, match=message):
        sqlrec.evaluate(project.root, progress=False)


def test_unknown_model_names_the_missing_stage(make_project):
    project = _project(make_project, 'models = ["popularity", "sar"]')
    with pytest.raises(sqlrec.SqlrecError, match="`evaluate.models` names the recommender `sar`, which has no stage `rec_sar`"):
        sqlrec.evaluate(project.root, progress=False)


def test_evaluate_command_prints_a_table_and_keeps_the_run_outputs(make_project):
    project = _project(make_project, 'test_days = 10')
    live = sqlrec.run(project.root, progress=False)
    result = CliRunner().invoke(cli, ["evaluate", "-p", str(project.root), "--no-progress"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "precision" in line).split()
    assert header[:9] == ["model", "k", "users", "precision", "recall", "ndcg", "map", "mrr", "hit_rate"]
    assert "popularity" in result.output and "leaked" not in result.output
    assert sqlrec.open_outputs(project.root).run_id == live.run_id  # evaluation publishes beside, not over
    assert (project.out / "evaluation" / "current" / "metrics" / "data.parquet").is_file()


def test_graded_ndcg_uses_the_test_weights(make_project):
    rows = [(1, 10, "purchase", 50), (1, 11, "view", 51), (2, 10, "view", 1), (2, 11, "view", 2), (2, 12, "cart", 3),
            (3, 12, "purchase", 4), (3, 11, "view", 5), (1, 12, "view", 6)]
    binary = sqlrec.evaluate(_project(make_project, 'cutoff = "2026-02-10"', rows, name="b").root, progress=False)
    graded = sqlrec.evaluate(_project(make_project, 'cutoff = "2026-02-10"\ngraded = true', rows, name="g").root,
                             progress=False)
    # User 1 trained on item 12 only; popularity ranks 11 (score 4) over 10 (score 1): list [11, 10].
    # Test: 10 (purchase, weight 5) and 11 (view, weight 1).
    b = {r["user_id"]: r["ndcg"] for r in binary.table("metrics_by_user").to_pylist()}
    g = {r["user_id"]: r["ndcg"] for r in graded.table("metrics_by_user").to_pylist()}
    assert b[1] == pytest.approx(1.0)
    gains = [2**1 - 1, 2**5 - 1]  # positions 1 and 2 hold items 11 and 10
    ideal = [2**5 - 1, 2**1 - 1]
    dcg = sum(x / np.log2(p + 2) for p, x in enumerate(gains))
    idcg = sum(x / np.log2(p + 2) for p, x in enumerate(ideal))
    assert g[1] == pytest.approx(dcg / idcg, abs=1e-12)


@pytest.mark.parametrize("graded", [False, True])
def test_a_test_event_weighing_zero_or_less_is_not_relevant(make_project, graded):
    """An event type weighed 0 (an impression) or below (a return) says the user did not want the item: it is no
    hit, no gain and not one of the user's relevant items; a user with only such test events is not a test user."""
    rows = [(1, 12, "view", 1), (2, 10, "view", 2), (2, 11, "view", 3), (3, 10, "view", 4), (4, 11, "view", 5),
            (1, 10, "impression", 50), (1, 11, "view", 51), (3, 11, "return", 52), (3, 12, "impression", 53)]
    project = _project(make_project, f'cutoff = "2026-02-10"\ngraded = {str(graded).lower()}', rows,
                       name=f"z{graded}")
    text = project.config.read_text() + '\n[vars]\nevent_weights = { view = 1, impression = 0, "return" = -1 }\n'
    project.config.write_text(text)
    result = CliRunner().invoke(cli, ["evaluate", "-p", str(project.root), "--no-progress"])
    assert result.exit_code == 0, result.output
    published = duckdb.sql("FROM read_parquet($p)", params={
        "p": str(project.out / "evaluation" / "current" / "metrics_by_user" / "data.parquet")}).to_arrow_table()
    users = {r["user_id"]: r for r in published.to_pylist() if r["model"] == "popularity"}
    # User 1 trained on 12; popularity ranks 10 (2 users) then 11 (2 users, larger id): list [10, 11].
    # Test: 10 (impression, weight 0: not relevant), 11 (view, 1). User 3 has only a return and an impression.
    assert set(users) == {1}
    assert users[1]["n_relevant"] == 1 and users[1]["hits"] == 1
    assert users[1]["ndcg"] == pytest.approx(1 / np.log2(3), abs=1e-12)  # the one hit sits at position 2
    assert users[1]["precision"] == pytest.approx(1 / 10)


@pytest.fixture(scope="module")
def launching_world(tmp_path_factory):
    """A generated world whose catalogue keeps launching items through the test period."""
    from conftest import generated_world
    return generated_world(tmp_path_factory, users=800, items=200, events=30_000, seed=5)


@pytest.mark.parametrize("launch_column", [True, False])
def test_a_backtest_recommends_nothing_before_it_was_available(launching_world, tmp_path, launch_column):
    """Availability: the earlier of launched_at (when mapped) and the item's first event. Checked against the raw
    files with DuckDB, on every list the evaluation scored (published as evaluation_lists)."""
    from conftest import project_on
    extra = '\n[evaluate]\ntest_days = 21\nmodels = ["content", "final", "popularity"]\n' \
            '[vars]\nblend = { cooccurrence = 0.5, content = 0.5 }\n'
    folder = project_on(launching_world, tmp_path / "p", extra=extra)
    if not launch_column:  # a catalogue without launch dates: every item is available from its first event
        items = duckdb.sql("SELECT * EXCLUDE (launched_at) FROM read_parquet($p)",
                           params={"p": str(launching_world / "items.parquet")})
        items.write_parquet(str(tmp_path / "items.parquet"))
        text = (folder / "sqlrec.toml").read_text().replace(str(launching_world / "items.parquet"),
                                                            str(tmp_path / "items.parquet"))
        (folder / "sqlrec.toml").write_text(text)
    result = sqlrec.evaluate(folder, progress=False)
    cutoff = result.relation("split_summary").filter("split = 'test'").project("cutoff").fetchall()[0][0]
    lists = result.table("evaluation_lists")
    availability = duckdb.sql(f"""
        SELECT i.item_id, {'least(i.launched_at, f.first_ts)' if launch_column else 'f.first_ts'} AS available
        FROM read_parquet($items) AS i
        LEFT JOIN (SELECT item_id, min(ts) AS first_ts FROM read_parquet($events) GROUP BY item_id) AS f
          USING (item_id)""", params={"items": str(launching_world / "items.parquet"),
                                      "events": str(launching_world / "events.parquet")}).fetchall()
    available = {item: ts for item, ts in availability}
    late = {item for item, ts in available.items() if ts is None or ts >= cutoff}
    assert len(late) >= 5, "the world must launch items after the cut-off for this test to mean anything"
    models = set(lists.column("model").to_pylist())
    assert models == {"content", "final", "popularity"}
    listed = lists.to_pylist()
    assert len(listed) > 1000
    assert not [r for r in listed if r["item_id"] in late], "an item was recommended before it was available"
    # The catalogue coverage is over the items available at the cut-off.
    coverage = {r["model"]: r["catalog_coverage"] for r in result.table("metrics").to_pylist()}
    content_items = {r["item_id"] for r in listed if r["model"] == "content"}
    assert coverage["content"] == pytest.approx(len(content_items) / (len(available) - len(late)))


@pytest.mark.parametrize("leak, leaked", [
    ("relabel", 1),  # the newest test event moved into training: one training event at or after the cut-off
    ("copy", 2),  # the newest test event also in training: in both splits, and a training event after the cut-off
])
def test_a_split_that_leaks_is_refused_and_publishes_nothing(make_project, leak, leaked):
    project = _project(make_project, 'test_days = 10', name=leak)
    sqlrec.evaluate(project.root, progress=False)
    before = tree_digest(project.out / "evaluation")
    newest = "ts = (SELECT max(ts) FROM s)"
    if leak == "relabel":
        body = f"SELECT * EXCLUDE (__split), CASE WHEN {newest} THEN 'train' ELSE __split END AS __split FROM s"
    else:
        body = f"SELECT * FROM s UNION ALL SELECT * EXCLUDE (__split, __cutoff), 'train', __cutoff FROM s WHERE {newest}"
    project.write("sql/eval/eval_split.sql", f"""
        -- A split with a leak, to see the leakage check refuse it.
        -- not_null: __split
        WITH s AS ({{{{ split_events(source('events'), evaluation) }}}})
        {body}
    """)
    with pytest.raises(OutputCheckError) as info:
        sqlrec.evaluate(project.root, progress=False)
    assert "split_summary" in info.value.message and "`leaked_rows` must be 0" in info.value.message
    assert f"leaked_rows: {leaked}" in info.value.message
    assert tree_digest(project.out / "evaluation") == before


def test_category_diversity_prints_n_a_when_the_catalogue_has_no_categories(make_project):
    import pyarrow as pa
    import pyarrow.parquet as pq
    project = _project(make_project, 'test_days = 10', name="nocat")
    items = sorted({r[1] for r in _events()})
    pq.write_table(pa.table({"item_id": pa.array(items, pa.int64()), "title": [f"item {i}" for i in items]}),
                   project.root / "data" / "items.parquet")
    project.config.write_text(project.config.read_text() + '\n[inputs.items]\npath = "data/items.parquet"\n')
    result = CliRunner().invoke(cli, ["evaluate", "-p", str(project.root), "--no-progress"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if "category_diversity" in line).split()
    row = next(line for line in lines if line.split() and line.split()[0] == "popularity").split()
    assert row[header.index("category_diversity")] == "n/a"


def test_evaluate_writes_a_report_that_reads_well_in_a_browser_and_states_the_numbers(make_project, tmp_path):
    from browser import assert_reads_well, assert_self_contained
    project = _project(make_project, 'test_days = 10\nk = [5, 10]')
    result = CliRunner().invoke(cli, ["evaluate", "-p", str(project.root), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = project.out / "evaluation" / "report.html"
    assert f"Report: {report}" in result.output
    text = report.read_text()
    assert_self_contained(text)  # one file that opens offline
    charts = assert_reads_well(report, tmp_path)
    assert [c["xlabel"] for c in charts][:2] == ["ndcg@10", "recall@10"] and "k" in [c["xlabel"] for c in charts]

    # the summary's leader and its interval, against the published tables and a normal-approximation interval
    by_user = duckdb.sql("SELECT model, ndcg FROM read_parquet($p) WHERE k = 10",
                         params={"p": str(project.out / "evaluation" / "current" / "metrics_by_user" /
                                          "data.parquet")}).fetchall()
    scores: dict[str, list[float]] = {}
    for model, ndcg in by_user:
        scores.setdefault(model, []).append(ndcg)
    best = max(scores, key=lambda m: np.mean(scores[m]))
    values = np.array(scores[best])
    sentence = next(line for line in text.split("<li>") if line.startswith("Most accurate by ndcg@10"))
    assert f"<b>{best}</b> at {np.mean(values):.4g}" in sentence, sentence
    low, high = (float(x) for x in sentence.split("interval [")[1].split("]")[0].split(", "))
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert abs(low - (values.mean() - half)) < 0.25 * half and abs(high - (values.mean() + half)) < 0.25 * half

    # reported again on demand, without a new evaluation
    report.unlink()
    again = CliRunner().invoke(cli, ["report", "--evaluation", "-p", str(project.root)])
    assert again.exit_code == 0 and report.is_file(), again.output
