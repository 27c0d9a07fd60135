"""Experiments: md5 assignment (Python, DuckDB, Spark SQL), the statistics, the multi-variant run with shared
stages, the simulated online test with feedback rounds and Thompson sampling, the published tables and the report."""

from __future__ import annotations

import hashlib
import math
import re
import shlex
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats as scipy_stats

import sqlrec
from conftest import CHECKOUT, tree_digest, world_project
from sqlrec.config import ExperimentSpec, Variant, load_config
from sqlrec.datagen import WorldSize, generate
from sqlrec.datagen.truth import Truth
from sqlrec.errors import ConfigError
from sqlrec.experiments import simulation, stats
from sqlrec.experiments.assignment import assign, md5_unit, sample_ratio_check
from sqlrec.experiments.variants import run_variants

K = 10


def _spec(variants, holdout=0.1, salt="s1", name="home"):
    return ExperimentSpec(name=name, description="", control=variants[0][0], salt=salt, holdout=holdout,
                          holdout_gets="control", metric="ndcg", k=K, alpha=0.05, bootstrap=300, seed=7, rounds=1,
                          truth=None, variants=tuple(Variant(n, float(t), "", {}) for n, t in variants))


def _reference_arm(user_id, spec):
    """Written from the documented definition, independently of sqlrec.experiments.assignment."""
    key = f"{spec.salt}:{spec.name}:{user_id}"
    unit = int(hashlib.md5(key.encode()).hexdigest()[:8], 16) / 2 ** 32
    if math.floor(unit * 10_000) < round(spec.holdout * 10_000):
        return "holdout"
    best = None
    for v in spec.variants:
        u = int(hashlib.md5(f"{key}:{v.name}".encode()).hexdigest()[:8], 16) / 2 ** 32
        finish = -math.log(u + 0.5 / 2 ** 32) / v.traffic
        best = min(best or (finish, v.name), (finish, v.name))
    return best[1]


# -- configuration -------------------------------------------------------------------------------------------

EXPERIMENT = """
[experiments.home]
control = "A"
holdout = 0.1
[experiments.home.variants.A]
vars = { blend = { popularity = 1.0 }, cascade = ["popularity"] }
[experiments.home.variants.B]
vars = { blend = { cooccurrence = 1.0 } }
"""


@pytest.mark.parametrize("change, message", [
    ('control = "A"', "is not one of its variants"),
    ('[experiments.home.variants.holdout]', "not a valid variant name"),
    ('holdout = 0.7', "holdout` must be between 0 and 0.5"),
    ('bogus = 1', "unknown key `experiments.home.bogus`"),
])
def test_experiment_config_errors_name_the_key(tmp_path, change, message):
    text = EXPERIMENT.replace('control = "A"', 'control = "Z"') if change == 'control = "A"' else \
        EXPERIMENT.replace("holdout = 0.1", change) if change.startswith(("holdout", "bogus")) else EXPERIMENT + change
    (tmp_path / "sqlrec.toml").write_text('[inputs.events]\npath = "e.parquet"\n' + text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(tmp_path / "sqlrec.toml")


def test_a_single_variant_is_refused(tmp_path):
    text = EXPERIMENT.split("[experiments.home.variants.B]")[0]
    (tmp_path / "sqlrec.toml").write_text('[inputs.events]\npath = "e.parquet"\n' + text)
    with pytest.raises(ConfigError, match="must name 2 to"):
        load_config(tmp_path / "sqlrec.toml")


# -- assignment ----------------------------------------------------------------------------------------------


def _sql_arms(spec, user_ids):
    """The SQL macro, rendered through the project's stage, run in DuckDB over the given users."""
    from sqlrec.plan import render_one
    from sqlrec.project import load_project
    return _run_assignment_sql(render_one, load_project, spec, user_ids)


def _run_assignment_sql(render_one, load_project, spec, user_ids, dialect=None):
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        pq.write_table(__import__("pyarrow").table({"user_id": user_ids, "item_id": user_ids,
                                                    "ts": __import__("pyarrow").array(
                                                        [0] * len(user_ids), __import__("pyarrow").timestamp("s"))}),
                       folder / "e.parquet")
        (folder / "sqlrec.toml").write_text('[inputs.events]\npath = "e.parquet"\n')
        config = replace(load_config(folder / "sqlrec.toml"), experiment=spec)
        sql, _ = render_one(load_project(config), "experiment_assignments")
        if dialect:
            return sql
        con = duckdb.connect()
        con.execute("CREATE TABLE int_experiment_users AS SELECT unnest($u) AS user_id", {"u": list(user_ids)})
        con.execute("CREATE TABLE stg_events AS SELECT * FROM int_experiment_users")
        rows = con.execute(f"SELECT user_id, arm, bucket, shown FROM ({sql})").fetchall()
        return {u: (arm, bucket, shown) for u, arm, bucket, shown in rows}


def test_python_duckdb_and_an_independent_reference_assign_every_user_alike():
    spec = _spec([("A", 1), ("B", 2), ("C", 1)])
    users = list(range(1, 3001))
    in_sql = _sql_arms(spec, users)
    for user in users:
        python = assign(user, spec)
        assert python.arm == _reference_arm(user, spec) == in_sql[user][0], user
        assert python.bucket == in_sql[user][1]
        assert in_sql[user][2] == (python.variant or "A")  # held-out users are shown the control


def test_golden_vectors_fix_the_hash_in_python_and_duckdb():
    # RFC 1321's test suite: md5("") and md5("abc")
    published = {"": "d41d8cd98f00b204e9800998ecf8427e", "abc": "900150983cd24fb0d6963f7d28e17f72"}
    con = duckdb.connect()
    for text, digest in published.items():
        assert con.execute("SELECT md5($t)", {"t": text}).fetchall()[0][0] == digest
        assert md5_unit(text) == int(digest[:8], 16) / 2 ** 32
    spec = _spec([("A", 1), ("B", 1)])
    for user in (1, 2, 3, 42, 1000, 99999):
        assert assign(user, spec).arm == _reference_arm(user, spec)


def test_the_assignment_transpiles_to_spark_with_md5_and_ln():
    spec = _spec([("A", 1), ("B", 1)])
    from sqlrec.plan import render_one
    from sqlrec.project import load_project
    from sqlrec.sql_lint import parse_stage, pretty
    sql = _run_assignment_sql(render_one, load_project, spec, [1, 2], dialect="spark")
    spark = pretty(parse_stage(sql, "experiment_assignments", Path("x.sql"),
                               {"int_experiment_users", "stg_events"}), "spark")
    assert "MD5(" in spark.upper() and "LN(" in spark.upper() and "ROW_NUMBER()" in spark.upper()


def test_shares_follow_traffic_and_the_holdout():
    spec = _spec([("A", 1), ("B", 3)], holdout=0.2)
    arms = [assign(u, spec).arm for u in range(40_000)]
    counts = {a: arms.count(a) for a in ("holdout", "A", "B")}
    assert abs(counts["holdout"] / 40_000 - 0.2) < 0.01
    assert abs(counts["B"] / (counts["A"] + counts["B"]) - 0.75) < 0.01
    assert not sample_ratio_check(counts, spec).mismatch


def test_adding_a_variant_or_raising_traffic_moves_only_the_users_it_must():
    users = range(20_000)
    before = {u: assign(u, _spec([("A", 1), ("B", 1)])).arm for u in users}
    added = {u: assign(u, _spec([("A", 1), ("B", 1), ("C", 1)])).arm for u in users}
    moved = [u for u in users if before[u] != added[u]]
    assert moved and all(added[u] == "C" for u in moved)
    assert abs(len(moved) / sum(a != "holdout" for a in before.values()) - 1 / 3) < 0.02
    raised = {u: assign(u, _spec([("A", 1), ("B", 2)])).arm for u in users}
    moved = [u for u in users if before[u] != raised[u]]
    assert moved and all(before[u] == "A" and raised[u] == "B" for u in moved)
    assert all(before[u] == "holdout" for u in users if raised[u] == "holdout")


def test_sample_ratio_check_is_pearson_chi_square():
    spec = _spec([("A", 1), ("B", 1)], holdout=0.0)
    check = sample_ratio_check({"A": 5200, "B": 4800}, spec)
    assert check.chi2 == pytest.approx((200 ** 2 + 200 ** 2) / 5000)
    assert check.p_value == pytest.approx(scipy_stats.chi2.sf(16, 1)) and check.mismatch
    assert not sample_ratio_check({"A": 5030, "B": 4970}, spec).mismatch


# -- statistics ------------------------------------------------------------------------------------------------


def test_holm_matches_the_textbook_example():
    # Holm (1979) step-down on p = 0.01, 0.04, 0.03, 0.005: sorted 0.005 x4, 0.01 x3, 0.03 x2, 0.04 x1, then monotone
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(stats.holm([math.nan, 0.5])[0])


def test_paired_and_two_sample_tests_agree_with_scipy_and_are_seeded():
    rng = np.random.default_rng(1)
    a = rng.normal(0.3, 0.2, 400)
    b = a + rng.normal(0.02, 0.1, 400)
    got = stats.paired(a, b, 0.05, 1000, np.random.default_rng(5))
    assert got.p_t == pytest.approx(scipy_stats.ttest_rel(b, a).pvalue)
    assert got.p_rank == pytest.approx(scipy_stats.wilcoxon(b - a, zero_method="zsplit").pvalue)
    assert got.diff_low < (b - a).mean() < got.diff_high
    assert stats.paired(a, b, 0.05, 1000, np.random.default_rng(5)) == got
    two = stats.two_sample(a, b[:300], 0.05, 1000, np.random.default_rng(5))
    assert two.p_t == pytest.approx(scipy_stats.ttest_ind(b[:300], a, equal_var=False).pvalue)
    assert two.p_rank == pytest.approx(scipy_stats.mannwhitneyu(b[:300], a, alternative="two-sided").pvalue)
    same = stats.paired(a, a, 0.05, 200, np.random.default_rng(5))
    assert same.diff == 0 and same.p_t == 1.0 and same.p_rank == 1.0


def test_bootstrap_interval_covers_the_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(200):
        sample = rng.exponential(1.0, 200)
        low, high = stats.mean_interval(sample, 0.1, 500, rng)
        covered += low <= 1.0 <= high
    assert 0.82 <= covered / 200 <= 0.97  # nominal 0.90


def test_a_a_false_positives_are_near_alpha():
    values = np.random.default_rng(4).binomial(1, 0.2, 3000).astype(float)
    rate = stats.aa_false_positive_rate(values, 600, 0.05, seed=1)
    assert 0.03 <= rate <= 0.075


# -- simulation pieces -------------------------------------------------------------------------------------------


def test_thompson_slots_take_the_best_draws_and_never_repeat_the_list():
    posterior = np.ones((50, 2))
    posterior[7] = (500, 1)  # nearly certain clicks
    posterior[3] = (400, 1)
    lists = np.tile(np.arange(10, 20), (30, 1))
    lists[0, :8] = [3, 11, 12, 13, 14, 15, 16, 17]
    out = simulation.thompson_slots(lists, 2, posterior, np.random.default_rng(0))
    assert (out[:, :8] == lists[:, :8]).all()
    assert set(out[1, 8:]) == {3, 7}
    assert 7 in out[0, 8:] and 3 not in out[0, 8:]  # 3 is listed already
    assert all(len(set(row)) == 10 for row in out)


def test_empty_slots_draw_no_response(tmp_path):
    generate(tmp_path, WorldSize(users=100, items=40, events=1000, seed=3))
    truth = Truth.load(tmp_path)
    lists = np.full((100, K), -1)
    clicked, purchased = truth.respond(np.arange(100), lists, np.random.default_rng(0))
    assert not clicked.any() and not purchased.any()


# -- the whole experiment on a generated world ------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("world")
    generate(data, WorldSize(users=600, items=120, events=15_000, seed=11))
    return data


def _project(world, folder, rounds=2, extra_variant=""):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sqlrec.toml").write_text(f"""
{world_project(world)}[evaluate]
k = [5, 10]
test_days = 30
[vars]
k = {K}
candidates = 30
[experiments.home]
control = "A"
salt = "t"
holdout = 0.1
rounds = {rounds}
bootstrap = 300
[experiments.home.variants.A]
vars = {{ blend = {{ popularity = 1.0 }}, cascade = ["popularity"] }}
[experiments.home.variants.A2]
vars = {{ blend = {{ popularity = 1.0 }}, cascade = ["popularity"] }}
[experiments.home.variants.B]
vars = {{ blend = {{ cooccurrence = 1.0 }} }}
[experiments.home.variants.B2]
vars = {{ blend = {{ cooccurrence = 1.0 }} }}
[experiments.home.variants.X]
explore_slots = 2
vars = {{ blend = {{ cooccurrence = 1.0 }} }}
{extra_variant}
""")
    return folder


@pytest.fixture(scope="module")
def experiment(world, tmp_path_factory):
    folder = _project(world, tmp_path_factory.mktemp("exp"))
    return folder, sqlrec.experiment(folder, progress=False)


def _rows(result, **where):
    return [r for r in result.results.to_pylist() if all(r[k] == v for k, v in where.items())]


def test_identical_variants_share_every_stage_and_never_differ(experiment):
    folder, result = experiment
    b2 = _rows(result, kind="offline", arm="B2", metric="ndcg", k=K)[0]
    b = _rows(result, kind="offline", arm="B", metric="ndcg", k=K)[0]
    assert (b2["value"], b2["diff"], b2["p_t"]) == (b["value"], b["diff"], b["p_t"])
    a2 = _rows(result, kind="offline", arm="A2", metric="ndcg", k=K)[0]  # an A/A pair: the control twice
    assert a2["diff"] == 0 and a2["p_t"] == 1.0 and a2["p_holm"] == 1.0 and not a2["significant"]
    from sqlrec.experiments.runner import variant_configs
    spec = load_config(folder / "sqlrec.toml").experiments["home"]
    run = run_variants(variant_configs(lambda v, o: sqlrec.load(folder, v, o).config, spec, evaluate=True),
                       ("metrics_by_user",), mode="evaluate")
    try:
        computed_b2 = [s for s in run.computed if s.startswith("B2.")]
        computed_b = [s for s in run.computed if s.startswith("B.")]
        assert computed_b and not computed_b2  # B2 = B: nothing recomputed
        assert not [s for s in run.computed if s.startswith("X.")]  # exploration changes only the online test
        assert any(s == "A.stg_events" for s in run.computed) and "B.stg_events" in run.shared
    finally:
        run.close()


def test_offline_comparison_is_paired_and_matches_scipy(experiment):
    _, result = experiment
    users = result.tables["experiment_user_metrics"].to_pylist()
    a = {u["user_id"]: u["value"] for u in users if u["kind"] == "offline" and u["arm"] == "A"
         and u["metric"] == "ndcg" and u["k"] == K}
    b = {u["user_id"]: u["value"] for u in users if u["kind"] == "offline" and u["arm"] == "B"
         and u["metric"] == "ndcg" and u["k"] == K}
    assert a.keys() == b.keys() and len(a) > 50
    order = sorted(a)
    row = _rows(result, kind="offline", arm="B", metric="ndcg", k=K)[0]
    diff = np.array([b[u] - a[u] for u in order])
    assert row["diff"] == pytest.approx(diff.mean())
    assert row["p_t"] == pytest.approx(scipy_stats.ttest_1samp(diff, 0).pvalue)
    compared = _rows(result, kind="offline", metric="ndcg", k=K)
    p = [r["p_t"] for r in compared if r["p_t"] is not None]
    assert sorted(r["p_holm"] for r in compared if r["p_t"] is not None) == pytest.approx(sorted(stats.holm(p)))
    assert 0.0 <= result.aa_rate <= 0.15


def test_online_arms_sit_between_random_and_oracle(experiment):
    _, result = experiment
    ctr = {r["arm"]: r["value"] for r in _rows(result, kind="online", metric="ctr")}
    assert max(ctr[a] for a in ("A", "A2", "B", "B2", "X", "holdout", "random")) < ctr["oracle"]
    assert ctr["random"] < ctr["B"]  # popularity need not beat random: the truth rewards taste, not fame
    b = _rows(result, kind="online", metric="ctr", arm="B")[0]
    assert b["diff"] > 0 and b["significant"]  # co-occurrence beats popularity on this world


def test_assignments_rounds_posteriors_and_srm_are_published(experiment):
    folder, result = experiment
    snapshot = duckdb.connect(str(folder / "out" / "experiments" / "home" / "sqlrec.duckdb"), read_only=True)
    try:
        arms = dict(snapshot.execute("SELECT arm, count(*) FROM experiment_assignments GROUP BY arm").fetchall())
        assert arms == result.srm.observed and set(arms) == {"holdout", "A", "A2", "B", "B2", "X"}
        spec = load_config(folder / "sqlrec.toml").experiments["home"]
        for user, arm in snapshot.execute("SELECT user_id, arm FROM experiment_assignments").fetchall():
            assert arm == _reference_arm(user, spec)
        assert snapshot.execute("SELECT count(DISTINCT round) FROM experiment_rounds").fetchall()[0][0] == 2
        n_items = snapshot.execute("SELECT count(*) FROM experiment_item_posteriors WHERE round = 2").fetchall()[0][0]
        assert n_items == 120
        grown = snapshot.execute("SELECT sum(alpha + beta) FROM experiment_item_posteriors GROUP BY round "
                                 "ORDER BY round").fetchall()
        assert grown[1][0] > grown[0][0] > 240  # every round's impressions are added
        srm = snapshot.execute("SELECT DISTINCT p_value FROM experiment_srm").fetchall()
        assert srm[0][0] == pytest.approx(result.srm.p_value)
        comment = snapshot.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'experiment_results'"
                                   ).fetchall()[0][0]
        assert "Holm" in comment
    finally:
        snapshot.close()


def test_reruns_give_identical_results(experiment, world, tmp_path):
    _, first = experiment
    again = sqlrec.experiment(_project(world, tmp_path / "again"), progress=False)
    assert set(again.tables) == set(first.tables)
    for name, table in first.tables.items():  # to the bit: means are exact decimal sums, rows are ordered
        assert again.tables[name].equals(table), name


def test_the_feedback_loop_changes_the_next_rounds_lists(world, tmp_path):
    one = sqlrec.experiment(_project(world, tmp_path / "one", rounds=1), progress=False)
    two = sqlrec.experiment(_project(world, tmp_path / "two", rounds=2), progress=False)
    rounds = two.tables["experiment_rounds"].to_pylist()
    first = {r["arm"]: r for r in rounds if r["round"] == 1}
    assert first == {r["arm"]: r for r in one.tables["experiment_rounds"].to_pylist()}
    second = {r["arm"]: r for r in rounds if r["round"] == 2}
    assert second["B"]["avg_popularity"] != first["B"]["avg_popularity"]  # retrained on round 1's responses
    assert second["oracle"]["ctr"] == pytest.approx(first["oracle"]["ctr"], rel=0.2)  # the truth does not move


def test_no_world_means_no_simulation_unless_asked(world, tmp_path):
    folder = _project(world, tmp_path / "p")
    data = tmp_path / "copy"
    data.mkdir()
    for name in ("events.parquet", "items.parquet", "users.parquet"):
        shutil.copy(world / name, data / name)
    text = (folder / "sqlrec.toml").read_text().replace(str(world), str(data))
    (folder / "sqlrec.toml").write_text(text)
    result = sqlrec.experiment(folder, progress=False)
    assert not result.simulated and not _rows(result, kind="online")
    assert result.tables["experiment_assignments"].num_rows == 600
    with pytest.raises(ConfigError, match="no generated world"):
        sqlrec.experiment(folder, progress=False, simulate=True)


# -- the report ---------------------------------------------------------------------------------------------------


def test_the_report_is_self_contained_reads_well_in_headless_chromium_and_leads_with_the_verdicts(experiment,
                                                                                                 tmp_path):
    from browser import assert_reads_well, assert_self_contained
    folder, result = experiment
    path = sqlrec.report(folder, out=tmp_path / "report.html")
    text = path.read_text()
    assert_self_contained(text)
    charts = assert_reads_well(path, tmp_path)
    labels = [c["xlabel"] for c in charts]
    assert "round" in labels and len(charts) >= 8, labels
    # the summary comes first and states each arm's verdict on the lead metric with the published numbers
    summary = text.split('<section class="summary">')[1].split("</section>")[0]
    assert text.index('<section class="summary">') < text.index("<figure>")
    spec = result.spec
    lead = [r for r in result.results.to_pylist() if r["kind"] == "offline" and r["metric"] == spec.metric
            and r["k"] == spec.k and r["diff"] is not None]
    assert lead
    for r in lead:
        verdict = "significant after Holm" if r["significant"] else "<i>not</i> significant after Holm"
        assert f"{r['arm']} against {spec.control}: {r['diff']:+.4g} ({r['lift']:+.1%})" in summary
        assert f"[{r['diff_low']:+.4g}, {r['diff_high']:+.4g}]; {verdict}" in summary
    # the full tables are below, folded
    assert text.index("<details>") > text.index("<figure>")
    # the docs' screenshot command, as written, in a folder laid out like a project (with the Chromium found)
    from browser import chromium
    line = re.search(r"^(chromium-headless-shell --headless .*?report\.html\")$",
                     (CHECKOUT / "docs" / "evaluation.md").read_text(), re.S | re.M).group(1)
    shot = tmp_path / "shot"
    (shot / "output" / "experiments" / "strategies").mkdir(parents=True)
    (shot / "output" / "experiments" / "strategies" / "report.html").write_text(text)
    done = subprocess.run(["bash", "-c", line.replace("chromium-headless-shell", shlex.quote(chromium()), 1)],
                          cwd=shot, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and (shot / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", done.stderr


# -- declared grain ---------------------------------------------------------------------------------------------


def test_without_a_users_input_each_user_is_assigned_once_and_passes_the_ratio_check(world, tmp_path):
    """Every user has many events; without [inputs.users] the assignment must still be one row per user."""
    folder = _project(world, tmp_path / "p", rounds=1)
    text = (folder / "sqlrec.toml").read_text()
    users_block = f'[inputs.users]\npath = "{world / "users.parquet"}"\n'
    assert users_block in text
    (folder / "sqlrec.toml").write_text(text.replace(users_block, ""))
    result = sqlrec.experiment(folder, progress=False, simulate=False)
    assignments = result.tables["experiment_assignments"]
    events_users = duckdb.sql("SELECT count(DISTINCT user_id) FROM read_parquet($p)",
                              params={"p": str(world / "events.parquet")}).fetchall()[0][0]
    assert assignments.num_rows == events_users == len(set(assignments.column("user_id").to_pylist()))
    assert not result.srm.mismatch, result.srm


def test_an_experiment_table_that_breaks_its_grain_is_not_published(tmp_path):
    from sqlrec.errors import OutputCheckError
    from sqlrec.experiments import tables
    from sqlrec.publish import publish_tables

    root = tmp_path / "out"
    good = pa.table({"user_id": [1, 2], "experiment": ["e", "e"], "bucket": [1, 2], "in_holdout": [False, False],
                     "variant": ["A", "B"], "arm": ["A", "B"], "shown": ["A", "B"]})
    manifest = {"project": "t", "config_hash": "h", "started_at": "2026-01-01T00:00:00+00:00", "versions": {},
                "vars": {}}
    publish_tables(root, 3, [(tables.ASSIGNMENTS, good)], manifest)
    before = tree_digest(root)
    bad = pa.concat_tables([good, good.slice(1)])
    with pytest.raises(OutputCheckError) as info:
        publish_tables(root, 3, [(tables.ASSIGNMENTS, bad)], manifest)
    assert "experiment_assignments" in info.value.message and "unique: user_id" in info.value.message
    assert "user_id=2 appears 2 times" in info.value.message
    assert tree_digest(root) == before


def test_the_holdout_boundary_bucket_is_the_same_in_sql_python_and_the_reference():
    """Users in the last held-out bucket and the first assigned one, found by the documented hash: a boundary moved
    by one bucket in the macro or the Python twin puts one of them in the wrong arm."""
    spec = _spec([("A", 1), ("B", 1)], holdout=0.05)
    boundary = round(spec.holdout * 10_000)
    wanted = {boundary - 1: [], boundary: []}
    user = 0
    while any(len(found) < 3 for found in wanted.values()):
        user += 1
        bucket = math.floor(int(hashlib.md5(f"{spec.salt}:{spec.name}:{user}".encode()).hexdigest()[:8], 16)
                            / 2 ** 32 * 10_000)
        if bucket in wanted:
            wanted[bucket].append(user)
    users = wanted[boundary - 1] + wanted[boundary]
    in_sql = _sql_arms(spec, users)
    for user in users:
        expected_holdout = user in wanted[boundary - 1]
        assert in_sql[user][1] == assign(user, spec).bucket, user
        assert (in_sql[user][0] == "holdout") == expected_holdout, user
        assert (assign(user, spec).arm == "holdout") == expected_holdout, user
        assert (_reference_arm(user, spec) == "holdout") == expected_holdout, user
