"""`sqlrec experiment`: assign users, compare the variants offline on one split, simulate the online test where the
data is a generated world, and publish the tables under <output>/experiments/<name>/.

Offline, every test user is scored under every variant, so variants are compared pairwise on the same users
(paired bootstrap, paired t-test, Wilcoxon). Online, each user sees only their arm's list, so arms are compared as
independent samples (bootstrap, Welch t-test, Mann-Whitney U). Either way p-values are corrected with Holm over the
variants compared on one metric.
"""

from __future__ import annotations

import json
import math
import platform
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..config import Config, ExperimentSpec
from ..connections import quiet_connection
from ..datagen.truth import Truth
from ..errors import ConfigError
from ..inputs import resolve
from ..metrics import ACCURACY, BEYOND, EXPOSURE
from ..publish import publish_tables
from . import simulation, stats, tables
from .assignment import SampleRatioCheck, md5_unit, sample_ratio_check
from .variants import run_variants

EXPERIMENTS_FOLDER = "experiments"
ONLINE_METRICS = ("ctr", "conversion", "revenue", "aov", "category_coverage", "clicks", "purchases")
AA_SPLITS = 200
Loader = Callable[[Mapping[str, Any], Mapping[str, Any]], Config]  # (vars, dotted overrides) -> config


@dataclass(frozen=True)
class ExperimentResult:
    spec: ExperimentSpec
    run_dir: Path
    tables: Mapping[str, pa.Table]
    srm: SampleRatioCheck
    aa_rate: float  # share of A/A splits of the control's users found significant (nominal: alpha)
    simulated: bool

    @property
    def results(self) -> pa.Table:
        return self.tables["experiment_results"]


def choose_experiment(config: Config, name: str | None) -> ExperimentSpec:
    if not config.experiments:
        raise ConfigError(f"{config.source} declares no experiment",
                          hint="add [experiments.<name>] with control = \"A\" and [experiments.<name>.variants.A], "
                               "[experiments.<name>.variants.B] (see docs/evaluation.md, \"Experiments\")")
    if name is None:
        if len(config.experiments) > 1:
            raise ConfigError(f"{config.source} declares {len(config.experiments)} experiments; say which",
                              hint="sqlrec experiment NAME, one of: " + ", ".join(config.experiments))
        return next(iter(config.experiments.values()))
    if name not in config.experiments:
        raise ConfigError(f"{config.source} has no experiment {name!r}",
                          hint="declared: " + ", ".join(config.experiments))
    return config.experiments[name]


def variant_configs(load: Loader, spec: ExperimentSpec, overrides: Mapping[str, Any] | None = None,
                    evaluate: bool = False) -> dict[str, Config]:
    """Each variant's config: the project's, with the variant's vars, and (evaluate) the final list scored at
    every k the comparison needs."""
    configs = {}
    for variant in spec.variants:
        extra = dict(overrides or {})
        vars_ = dict(variant.vars)
        if evaluate:
            base = load(vars_, extra)
            ks = sorted(set(base.evaluation["k"]) | {spec.k})
            extra.update({"evaluate.models": ["final"], "evaluate.k": ks})
            vars_["k"] = max(base.vars.get("k", 10), max(ks))
        configs[variant.name] = replace(load(vars_, extra), experiment=spec)
    return configs


def run_experiment(load: Loader, name: str | None = None, report: Callable[[str], None] | None = None,
                   progress: bool = False, simulate: bool | None = None) -> ExperimentResult:
    """Run experiment `name` (or the only one) of the project `load({}, {})` gives. `simulate`: None runs the
    online simulation when a generated world's truth is found, True requires it, False skips it."""
    report = report or (lambda _msg: None)
    started_at = datetime.now(timezone.utc)
    base = load({}, {})
    spec = choose_experiment(base, name)
    truth_dir = _truth_folder(base, spec, simulate)

    report(f"experiment {spec.name}: offline comparison of {len(spec.variants)} variants on one split")
    offline = run_variants(variant_configs(load, spec, evaluate=True),
                           ("metrics_by_user", "metrics_by_slice", "metrics"), mode="evaluate", show_progress=progress)
    try:
        report(f"offline: {len(offline.computed)} stages computed, {len(offline.shared)} shared between variants")
        by_user = {v: offline.arrow(v, "metrics_by_user") for v in offline.schemas}
        slices = [(v, offline.arrow(v, "metrics_by_slice")) for v in offline.schemas]
        summaries = {v: offline.arrow(v, "metrics") for v in offline.schemas}
    finally:
        offline.close()
    offline_results, offline_users, aa_rate = compare_offline(spec, by_user)
    offline_results = pa.concat_tables([offline_results, _list_quality_rows(spec, summaries)])
    out = {tables.RESULTS.name: offline_results, tables.USER_METRICS.name: offline_users,
           tables.SLICES.name: _slices_table(slices)}

    if truth_dir is None:
        assignments = _assignments(load, spec)
        report("no generated world (truth/) beside the events: the online simulation is skipped")
    else:
        online = simulate_online(load, spec, Truth.load(truth_dir), report, progress)
        assignments = online["experiment_assignments"]
        out[tables.RESULTS.name] = pa.concat_tables([out[tables.RESULTS.name], online["results"]])
        out[tables.USER_METRICS.name] = pa.concat_tables(
            [out[tables.USER_METRICS.name], _cast_users(online["user_metrics"], offline_users.schema)])
        out[tables.ROUNDS.name] = online["rounds"]
        out[tables.POSTERIORS.name] = online["posteriors"]
    counts = dict(zip(*np.unique(np.array(assignments.column("arm").to_pylist(), dtype=object),
                                 return_counts=True)))
    srm = sample_ratio_check(counts, spec)
    out[tables.ASSIGNMENTS.name] = assignments
    out[tables.SRM.name] = _srm_table(srm, spec)
    if srm.mismatch:
        report(f"SAMPLE RATIO MISMATCH: users per arm {srm.observed} differ from the configured shares "
               f"(chi-square p = {srm.p_value:.2g})")
    run_dir = _publish(base, spec, out, started_at, srm, aa_rate, truth_dir)
    return ExperimentResult(spec, run_dir, out, srm, aa_rate, truth_dir is not None)


def _truth_folder(config: Config, spec: ExperimentSpec, simulate: bool | None) -> Path | None:
    if simulate is False:
        return None
    if spec.truth is not None:
        folder = (config.root / spec.truth).resolve()
    else:
        events = resolve(config)["events"].files
        folder = events[0].parent if events else None
    found = folder is not None and (folder / "truth" / "users.parquet").exists() and \
        (folder / "items.parquet").exists()
    if not found:
        if simulate or spec.truth is not None:
            raise ConfigError(f"experiments.{spec.name}: no generated world at {folder} (items.parquet and truth/)",
                              hint="the online simulation needs data written by `sqlrec generate`; set "
                                   f"experiments.{spec.name}.truth to its folder, or run with --no-simulate")
        return None
    return folder


def _assignments(load: Loader, spec: ExperimentSpec) -> pa.Table:
    control = {spec.control: replace(load(dict(spec.variant(spec.control).vars), {}), experiment=spec)}
    run = run_variants(control, ("experiment_assignments",))
    try:
        return run.arrow(spec.control, "experiment_assignments")
    finally:
        run.close()


# -- offline ---------------------------------------------------------------------------------------------------


def compare_offline(spec: ExperimentSpec, by_user: Mapping[str, pa.Table]) -> tuple[pa.Table, pa.Table, float]:
    """Paired comparison of every variant with the control on the same test users, at every k; returns the results
    rows, the per-user rows and the A/A false-positive rate of the control's per-user `spec.metric`."""
    matrices = {}
    users = None
    for variant, table in by_user.items():
        rows = table.filter(pa.compute.equal(table.column("model"), "final"))
        rows = rows.sort_by([("k", "ascending"), ("user_id", "ascending")])
        matrices[variant] = rows
        key = (rows.column("k").to_numpy(), rows.column("user_id").to_pylist())
        if users is None:
            users = key
        elif not (np.array_equal(users[0], key[0]) and users[1] == key[1]):
            raise AssertionError(f"variant {variant} was scored on other test users than the others")
    ks = sorted(set(users[0].tolist()))
    rows_out = []
    control = matrices[spec.control]
    for k in ks:
        at_k = users[0] == k
        for metric in ACCURACY:
            values = {v: m.column(metric).to_numpy()[at_k].astype(np.float64) for v, m in matrices.items()}
            rows_out += _compare_arms(spec, "offline", metric, k, values, paired=True, seed_key=(k, ACCURACY.index(metric)))
    per_user = pa.concat_tables([
        pa.table({"experiment": pa.array([spec.name] * m.num_rows), "kind": pa.array(["offline"] * m.num_rows),
                  "arm": pa.array([v] * m.num_rows), "user_id": m.column("user_id"),
                  "k": m.column("k").cast(pa.int64()), "metric": pa.array([metric] * m.num_rows),
                  "value": m.column(metric).cast(pa.float64())})
        for v, m in matrices.items() for metric in ACCURACY])
    primary = control.filter(pa.compute.equal(control.column("k"), spec.k)).column(spec.metric).to_numpy()
    aa_rate = stats.aa_false_positive_rate(primary, AA_SPLITS, spec.alpha, spec.seed)
    return _results_table(rows_out), per_user, aa_rate


def _compare_arms(spec: ExperimentSpec, kind: str, metric: str, k: int, values: Mapping[str, np.ndarray],
                  paired: bool, seed_key: tuple, bounds: Mapping[str, np.ndarray] | None = None) -> list[dict]:
    """One results row per arm: its mean and interval; for each variant, the comparison with the control, with
    Holm's correction over the variants."""
    # md5, not hash(): Python's hash of text changes between processes, and reruns must agree
    keys = [int(md5_unit(str(x)) * 2 ** 32) for x in (kind, metric, *seed_key)]
    rng = np.random.default_rng([spec.seed, *keys])
    control = _finite(values[spec.control])
    rows = []
    for arm, raw in {**values, **(bounds or {})}.items():
        arm_values = _finite(raw)
        low, high = stats.mean_interval(arm_values, spec.alpha, spec.bootstrap, rng)
        row = {"experiment": spec.name, "kind": kind, "arm": arm, "is_control": arm == spec.control,
               "metric": metric, "k": k, "users": len(arm_values),
               "value": float(arm_values.mean()) if len(arm_values) else math.nan, "ci_low": low, "ci_high": high}
        if arm in values and arm != spec.control and arm != "holdout":
            if paired:
                c = stats.paired(values[spec.control], raw, spec.alpha, spec.bootstrap, rng)
            else:
                c = stats.two_sample(control, arm_values, spec.alpha, spec.bootstrap, rng)
            row.update(diff=c.diff, diff_low=c.diff_low, diff_high=c.diff_high, lift=c.lift, p_t=c.p_t,
                       p_rank=c.p_rank)
        rows.append(row)
    compared = [r for r in rows if "p_t" in r]
    for row, adjusted in zip(compared, stats.holm([r["p_t"] for r in compared])):
        row["p_holm"] = adjusted
        row["significant"] = bool(adjusted < spec.alpha) if not math.isnan(adjusted) else False
    return rows


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[~np.isnan(values)]


RESULT_COLUMNS = {"experiment": pa.string(), "kind": pa.string(), "arm": pa.string(), "is_control": pa.bool_(),
                  "metric": pa.string(), "k": pa.int64(), "users": pa.int64(), "value": pa.float64(),
                  "ci_low": pa.float64(), "ci_high": pa.float64(), "diff": pa.float64(), "diff_low": pa.float64(),
                  "diff_high": pa.float64(), "lift": pa.float64(), "p_t": pa.float64(), "p_rank": pa.float64(),
                  "p_holm": pa.float64(), "significant": pa.bool_()}


def _results_table(rows: list[dict]) -> pa.Table:
    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v
    return pa.table({c: pa.array([clean(r.get(c)) for r in rows], t) for c, t in RESULT_COLUMNS.items()})


def _list_quality_rows(spec: ExperimentSpec, summaries: Mapping[str, pa.Table]) -> pa.Table:
    """Coverage, exposure, novelty, popularity and diversity of each variant's lists (from `metrics`): one value
    per variant and k, without intervals (they describe the lists, not a sample of users)."""
    rows = []
    for variant, table in summaries.items():
        for row in table.to_pylist():
            if row["model"] != "final":
                continue
            for metric in (*EXPOSURE, *BEYOND):
                if row.get(metric) is not None:
                    rows.append({"experiment": spec.name, "kind": "offline", "arm": variant,
                                 "is_control": variant == spec.control, "metric": metric, "k": row["k"],
                                 "value": float(row[metric])})
    return _results_table(rows)


def _slices_table(slices: list[tuple[str, pa.Table]]) -> pa.Table:
    parts = []
    for variant, table in slices:
        rows = table.filter(pa.compute.equal(table.column("model"), "final")).drop_columns(["model"])
        parts.append(rows.add_column(0, "arm", pa.array([variant] * rows.num_rows)))
    return pa.concat_tables(parts)


def _cast_users(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Online user ids in the offline table's id type (text when they cannot be cast)."""
    target = schema.field("user_id").type
    try:
        return table.set_column(table.schema.get_field_index("user_id"), "user_id",
                                table.column("user_id").cast(target))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return table.set_column(table.schema.get_field_index("user_id"), "user_id",
                                table.column("user_id").cast(pa.string()))


def _srm_table(srm: SampleRatioCheck, spec: ExperimentSpec) -> pa.Table:
    arms = list(srm.expected)
    total = sum(srm.observed.values())
    return pa.table({
        "arm": arms, "expected_share": [srm.expected[a] / total if total else 0.0 for a in arms],
        "expected_users": [srm.expected[a] for a in arms], "observed_users": [srm.observed[a] for a in arms],
        "chi2": [srm.chi2] * len(arms), "p_value": [srm.p_value] * len(arms),
        "mismatch": [srm.mismatch] * len(arms)})


# -- online ----------------------------------------------------------------------------------------------------


def simulate_online(load: Loader, spec: ExperimentSpec, truth: Truth, report: Callable[[str], None],
                    progress: bool) -> dict[str, pa.Table]:
    """spec.rounds rounds of: train every variant on the events so far, show each user their arm's list, draw the
    responses, add them to the events."""
    base = load({}, {})
    event_files = [str(f) for f in resolve(base)["events"].files]
    schema = pq.read_schema(event_files[0])
    start_ts = _last_event_ts(event_files) + 3600
    posterior = np.ones((len(truth.item_ids), 2))
    explore = {v.name: min(v.explore_slots, spec.k) for v in spec.variants if v.explore_slots}
    outcomes, posterior_rows, assignments = [], [], None
    with tempfile.TemporaryDirectory(prefix="sqlrec-simulation-") as scratch:
        feedback: list[str] = []
        for round_number in range(1, spec.rounds + 1):
            overrides = {"inputs.events.path": event_files + feedback, "vars.k": spec.k}
            configs = variant_configs(load, spec, overrides)
            targets = ("recommendations", "experiment_assignments")
            run = run_variants(configs, targets, mode="run", show_progress=progress)
            try:
                if assignments is None:
                    assignments = run.arrow(spec.control, "experiment_assignments")
                shown = _shown_lists(run, spec, assignments, truth)
            finally:
                run.close()
            outcome = simulation.simulate_round(truth, shown, round_number, spec.seed, spec.k, explore, posterior)
            outcomes.append(outcome)
            posterior = simulation.update_posterior(posterior, outcome)
            posterior_rows.append((round_number, posterior.copy()))
            path = Path(scratch) / f"round_{round_number}.parquet"
            events = simulation.feedback_events(truth, outcome, start_ts, schema)
            feedback.append(str(simulation.write_feedback(path, events)))
            report(f"online round {round_number}: {int(outcome.clicked.sum())} clicks, "
                   f"{int(outcome.purchased.sum())} purchases from {len(shown.users)} users")
    results, user_metrics = _online_results(spec, truth, outcomes)
    return {"experiment_assignments": assignments, "results": results, "user_metrics": user_metrics,
            "rounds": _rounds_table(spec, truth, outcomes),
            "posteriors": _posteriors_table(truth, posterior_rows)}


def _last_event_ts(files: list[str]) -> int:
    con = quiet_connection()
    try:
        return int(con.execute("SELECT epoch(max(ts)) FROM read_parquet($f)", {"f": files}).fetchall()[0][0])
    finally:
        con.close()


def _shown_lists(run, spec: ExperimentSpec, assignments: pa.Table, truth: Truth) -> simulation.ShownLists:
    """Every assigned user of the world with the list of the variant they are shown."""
    ids = assignments.column("user_id").to_numpy()
    arms = np.array(assignments.column("arm").to_pylist(), dtype=object)
    shown_variant = np.array(assignments.column("shown").to_pylist(), dtype=object)
    index = simulation.index_of(truth.user_ids, ids)
    keep = (index >= 0) & (shown_variant != None)  # noqa: E711  (object array: elementwise test for None)
    ids, arms, shown_variant, index = ids[keep], arms[keep], shown_variant[keep], index[keep]
    order = np.argsort(index, kind="stable")
    ids, arms, shown_variant, index = ids[order], arms[order], shown_variant[order], index[order]
    lists = np.full((len(ids), spec.k), -1, dtype=np.int64)
    for variant in spec.variants:
        rows = shown_variant == variant.name
        if rows.any():
            recs = run.arrow(variant.name, "recommendations", ("user_id", "item_id", "rank"))
            lists[rows] = simulation.lists_matrix(recs, ids[rows], truth, spec.k)
    return simulation.ShownLists(users=index, arms=arms.astype(str), lists=lists)


def _user_totals(truth: Truth, outcomes: list, pick) -> dict[str, np.ndarray]:
    """Outcomes summed over rounds per user; `pick(outcome)` gives (mask, lists, clicked, purchased)."""
    totals: dict[str, np.ndarray] = {}
    for outcome in outcomes:
        mask, lists, clicked, purchased = pick(outcome)
        got = simulation.user_outcomes(truth, lists[mask], clicked[mask], purchased[mask])
        got["orders"] = (got["purchases"] > 0).astype(np.int64)
        got["rounds"] = np.ones(int(mask.sum()))
        for key, value in got.items():
            totals[key] = totals.get(key, 0) + value
    return simulation.per_user_metrics(totals)


def _online_results(spec: ExperimentSpec, truth: Truth, outcomes: list) -> tuple[pa.Table, pa.Table]:
    first = outcomes[0].shown
    arms = [v.name for v in spec.variants] + (["holdout"] if (first.arms == "holdout").any() else [])
    per_arm = {arm: _user_totals(truth, outcomes, lambda o, a=arm: (o.shown.arms == a, o.shown.lists,
                                                                     o.clicked, o.purchased)) for arm in arms}
    in_test = first.arms != "holdout"
    bounds = {name: _user_totals(truth, outcomes, lambda o, n=name: (o.shown.arms != "holdout", *o.bounds[n]))
              for name in simulation.BOUNDS}
    rows = []
    for i, metric in enumerate(ONLINE_METRICS):
        key = "revenue" if metric == "revenue" else metric
        rows += _compare_arms(spec, "online", metric, spec.k, {a: per_arm[a][key] for a in arms}, paired=False,
                              seed_key=(i,), bounds={b: bounds[b][key] for b in bounds})
    user_rows = []
    user_ids = {arm: truth.user_ids[first.users[first.arms == arm]] for arm in arms}
    user_ids.update({b: truth.user_ids[first.users[in_test]] for b in simulation.BOUNDS})
    for arm, metrics in {**per_arm, **bounds}.items():
        for metric in ONLINE_METRICS:
            values = metrics[metric]
            user_rows.append(pa.table({
                "experiment": pa.array([spec.name] * len(values)), "kind": pa.array(["online"] * len(values)),
                "arm": pa.array([arm] * len(values)), "user_id": pa.array(user_ids[arm]),
                "k": pa.array([spec.k] * len(values), pa.int64()), "metric": pa.array([metric] * len(values)),
                "value": pa.array(values, pa.float64(), from_pandas=True)}))
    return _results_table(rows), pa.concat_tables(user_rows)


def _rounds_table(spec: ExperimentSpec, truth: Truth, outcomes: list) -> pa.Table:
    popularity = truth.item_popularity * len(truth.item_popularity)
    rows = []
    for outcome in outcomes:
        arms = {a: (outcome.shown.arms == a, outcome.shown.lists, outcome.clicked, outcome.purchased)
                for a in [v.name for v in spec.variants] + ["holdout"] if (outcome.shown.arms == a).any()}
        for name in simulation.BOUNDS:
            arms[name] = (outcome.shown.arms != "holdout", *outcome.bounds[name])
        for arm, (mask, lists, clicked, purchased) in arms.items():
            lists, clicked, purchased = lists[mask], clicked[mask], purchased[mask]
            got = simulation.user_outcomes(truth, lists, clicked, purchased)
            shown = lists[lists >= 0]
            orders = int((got["purchases"] > 0).sum())
            impressions = max(int(got["impressions"].sum()), 1)
            rows.append({
                "round": outcome.round, "arm": arm, "users": len(lists),
                "ctr": float(got["clicks"].sum() / impressions), "conversion": orders / max(len(lists), 1),
                "revenue_per_user": float(got["revenue"].sum() / max(len(lists), 1)),
                "aov": float(got["revenue"].sum() / orders) if orders else None,
                "category_coverage": float(got["category_coverage"].mean()) if len(lists) else None,
                "catalog_coverage": len(np.unique(shown)) / len(truth.item_ids),
                "exposure_gini": simulation.gini(np.bincount(shown, minlength=len(truth.item_ids))),
                "avg_popularity": float(popularity[shown].mean()) if len(shown) else None})
    return pa.Table.from_pylist(rows)


def _posteriors_table(truth: Truth, snapshots: list[tuple[int, np.ndarray]]) -> pa.Table:
    n = len(truth.item_ids)
    return pa.table({
        "round": np.concatenate([np.full(n, r) for r, _ in snapshots]),
        "item_id": np.concatenate([truth.item_ids for _ in snapshots]),
        "alpha": np.concatenate([p[:, 0] for _, p in snapshots]),
        "beta": np.concatenate([p[:, 1] for _, p in snapshots]),
        "mean": np.concatenate([p[:, 0] / p.sum(axis=1) for _, p in snapshots])})


# -- publish ---------------------------------------------------------------------------------------------------


def _publish(config: Config, spec: ExperimentSpec, out: Mapping[str, pa.Table], started_at: datetime,
             srm: SampleRatioCheck, aa_rate: float, truth_dir: Path | None) -> Path:
    summary = {"experiment": spec.name, "description": spec.description, "control": spec.control,
               "variants": [{"name": v.name, "traffic": v.traffic, "description": v.description,
                             "vars": dict(v.vars), "explore_slots": v.explore_slots} for v in spec.variants],
               "salt": spec.salt, "holdout": spec.holdout, "holdout_gets": spec.holdout_gets,
               "metric": spec.metric, "k": spec.k, "alpha": spec.alpha, "bootstrap": spec.bootstrap,
               "seed": spec.seed, "rounds": spec.rounds, "simulated": truth_dir is not None,
               "truth": str(truth_dir) if truth_dir else None, "srm_p_value": srm.p_value,
               "srm_mismatch": srm.mismatch, "aa_false_positive_rate": aa_rate, "aa_splits": AA_SPLITS}
    manifest = {"mode": "experiment", "project": config.name, "config_file": str(config.source),
                "config_hash": config.hash, "started_at": started_at.isoformat(),
                "versions": {"sqlrec": __version__, "duckdb": duckdb.__version__, "pyarrow": pa.__version__,
                             "numpy": np.__version__, "python": platform.python_version()},
                "vars": dict(config.vars), "experiment": summary}
    return publish_tables(config.output_dir / EXPERIMENTS_FOLDER / spec.name, config.output.keep_runs,
                          [(t, out[t.name]) for t in tables.ALL if t.name in out], manifest,
                          {"experiment.json": json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n"},
                          config.contract, config.output.grace_seconds)
