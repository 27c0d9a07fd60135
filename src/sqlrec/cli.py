"""The `sqlrec` command: thin wrappers over the Python API, one error handler for all of them.

Exit codes: 0 ok, 1 internal error (a bug), 2 usage/config, 3 data, 4 runtime, 5 lock, 130 Ctrl-C, 141 closed
output pipe, 143 SIGTERM (see sqlrec.errors).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import sys
import tomllib
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import interrupts
from .config import CONFIG_FILE
from .errors import EXIT_CLOSED_PIPE, EXIT_INTERNAL, SqlrecError
from .terminal import printable, printable_lines
from .terminal_tables import print_table

if TYPE_CHECKING:
    from .lookups import Rows
    from .result import RunResult

DEMO_DIR = "sqlrec-demo"  # as sqlrec.scaffold.DEMO_DIR (checked by a test), without importing the pipeline
DEMO_SIZE = {"users": 2_000, "items": 300, "events": 40_000, "seed": 42}  # sqlrec.datagen.DemoSize (also checked)


class _LazyApi:
    """sqlrec.api, imported on first use: a lookup should not pay for loading the whole pipeline."""

    def __getattr__(self, name: str):
        from . import api as module
        return getattr(module, name)


api = _LazyApi()


def _example(*lines: str):
    """An `Examples:` block at the end of a command's --help (set on the command once it exists; see the end of
    this module)."""
    def decorate(function):
        function.examples = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
        return function
    return decorate


class _Cli(click.Group):
    """Turns every SqlrecError into one red line and a hint (a traceback only with --debug); Ctrl-C and SIGTERM into
    one line and 128 + the signal; a closed output pipe into a quiet exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except BrokenPipeError:  # the reader went away (`sqlrec ls | head`): stop quietly, as shell tools do
            _silence_stdout()
            ctx.exit(EXIT_CLOSED_PIPE)
        except BaseException as exc:
            debug = bool(ctx.obj and ctx.obj.get("debug"))
            signum = interrupts.received()
            if signum is None and isinstance(exc, KeyboardInterrupt):
                signum = signal.SIGINT  # not through interrupts.install(): a test's runner, say
            if signum is not None:  # whatever the signal broke (a query, a stage) is not the news
                if debug:
                    traceback.print_exc()
                newline = "\n" if sys.stderr.isatty() else ""  # after the ^C and any progress line
                click.secho(f"{newline}sqlrec: {interrupts.message(signum)}", fg="red", err=True)
                ctx.exit(interrupts.exit_code(signum))
            if isinstance(exc, (click.ClickException, click.Abort)) or not isinstance(exc, Exception):
                raise
            if debug:
                traceback.print_exc()
            if isinstance(exc, SqlrecError):
                # messages quote the data (an example row): its control characters are shown, not obeyed
                click.secho(f"Error: {printable_lines(exc.message)}", fg="red", err=True)
                if exc.hint:
                    click.echo(f"Hint: {printable_lines(exc.hint)}", err=True)
                ctx.exit(exc.exit_code)
            # a bug: say so plainly
            click.secho(f"Error: internal error: {type(exc).__name__}: {printable_lines(str(exc))}", fg="red",
                        err=True)
            click.echo("Hint: rerun with `sqlrec --debug ...` and report the traceback", err=True)
            ctx.exit(EXIT_INTERNAL)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is left at exit does not fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test's runner)
        pass
    finally:
        os.close(devnull)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.version_option(package_name="sqlrec")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """sqlrec: recommendations written in SQL, run in DuckDB over Parquet.

    \b
    Exit codes: 0 ok, 1 internal error, 2 usage or configuration error,
                3 data error, 4 runtime error, 5 another run holds the lock,
                130 interrupted (Ctrl-C), 141 the output pipe closed,
                143 stopped by SIGTERM.
    """
    ctx.ensure_object(dict)["debug"] = debug


_project_option = click.option("-p", "--project", "project", type=click.Path(path_type=Path), default=None,
                               help="Project folder or sqlrec.toml (default: the current folder).")
_var_option = click.option("--var", "vars_", multiple=True, metavar="NAME=VALUE",
                           help="Override a [vars] entry; VALUE is read as TOML (10, 0.5, \"text\", [1, 2]).")
_contract_option = click.option("--update-contract", is_flag=True,
                                help="Accept changed output columns and record them in the output contract.")
_progress_option = click.option("--no-progress", is_flag=True, help="Never draw progress lines.")
_set_option = click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
                           help="Override any sqlrec.toml key, e.g. --set inputs.events.path=/data/events.parquet.")


def _engine_options(command):
    """--engine and --spark-master: which engine runs the stages (run and evaluate)."""
    command = click.option("--spark-master", metavar="URL", default=None,
                           help="Spark master for --engine spark: local[*] (default), spark://host:7077, yarn, "
                                "k8s://...")(command)
    return click.option("--engine", type=click.Choice(["duckdb", "spark"]), default=None,
                        help="Run the stages in DuckDB or Spark (default: [engine] name, duckdb).")(command)


def _overrides(settings: tuple[str, ...], engine: str | None, spark_master: str | None) -> dict:
    overrides = _parse_vars(settings, "--set")
    if engine:
        overrides["engine.name"] = engine
    if spark_master:
        overrides["engine.spark_master"] = spark_master
    return overrides


def _pipeline_options(command):
    """What every command that runs the pipeline and publishes takes: project, vars, settings, progress, contract."""
    for option in (_contract_option, _progress_option, _set_option, _var_option, _project_option):
        command = option(command)
    return command


def _parse_vars(pairs: tuple[str, ...], option: str = "--var") -> dict:
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint=option)
        try:
            values[name.strip()] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            values[name.strip()] = text  # a bare word is a string
    return values


def _project_dir(project: Path | None) -> Path:
    return project if project is not None else Path(".")


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--no-data", is_flag=True, help="Do not generate the small demo data into data/.")
@_example("sqlrec init shop", "sqlrec init shop --no-data")
def init(folder: Path, no_data: bool) -> None:
    """Create a commented starter project in FOLDER."""
    config = api.init(folder, with_data=not no_data)
    click.echo(f"Created {config}")
    if no_data:
        click.echo(f"Next: put your events in {folder / 'data'}/ (or point [inputs.events] path at them) and map "
                   f"their columns in {config}, then: cd {folder} && sqlrec check && sqlrec run")
    else:
        click.echo(f"Next: cd {folder} && sqlrec run   (generated demo data in {folder / 'data'}; point "
                   "[inputs.events] at your own files when you are ready)")


@cli.command()
@_pipeline_options
@_engine_options
@click.option("--demo", is_flag=True, help="Run the built-in demo project (written to --demo-dir first).")
@click.option("--demo-dir", type=click.Path(path_type=Path), default=Path(DEMO_DIR), show_default=True,
              help="Where the demo project is written and run.")
@click.option("-q", "--quiet", is_flag=True, help="Print only where the outputs are.")
@_example("sqlrec run --demo",
          "sqlrec run -p shop",
          "sqlrec run --var k=20 --set inputs.events.path=data/events/*.parquet",
          "sqlrec run --engine spark")
def run(project: Path | None, vars_: tuple[str, ...], settings: tuple[str, ...], demo: bool, demo_dir: Path,
        quiet: bool, no_progress: bool, update_contract: bool, engine: str | None, spark_master: str | None) -> None:
    """Run the pipeline and publish its outputs.

    Outside any project (no sqlrec.toml here and no --project), runs the demo.
    """
    progress = not no_progress
    report = _report_findings if quiet else _report_notes
    if demo or (project is None and not (Path(".") / CONFIG_FILE).exists()):
        if not demo and not quiet:
            click.echo(f"No {CONFIG_FILE} here: running the built-in demo project in {demo_dir}/")
        from .scaffold import ensure_demo
        config = ensure_demo(demo_dir)
        result = api.run(config, vars=_parse_vars(vars_), progress=progress, report=report,
                         overrides=_overrides(settings, engine, spark_master), update_contract=update_contract)
    else:
        result = api.run(_project_dir(project), vars=_parse_vars(vars_), progress=progress, report=report,
                         overrides=_overrides(settings, engine, spark_master), update_contract=update_contract)
    _print_summary(result, quiet)


def _report_notes(message: str) -> None:
    # what the input checks dropped or noticed, and what clients left in the outputs; stage timings go in the summary
    if message.startswith(("input ", "output: ")):
        click.echo(f"  {printable_lines(message)}", err=True)


def _report_findings(message: str) -> None:
    if message.startswith("output: "):  # even with --quiet: a scheduled job's log should show it
        click.echo(f"  {printable_lines(message)}", err=True)


def _print_summary(result: RunResult, quiet: bool) -> None:
    out = result.output_dir
    if quiet:
        click.echo(str(out / "current"))
        return
    manifest = result.manifest
    click.echo(f"\nRun {result.run_id} of project {manifest['project']!r}")
    width = max(len(s["stage"]) for s in manifest["stages"])
    click.echo(f"  {'stage'.ljust(width)}  {'rows':>10}  {'seconds':>8}")
    for s in manifest["stages"]:
        mark = "  -> published" if s["published"] else ""
        rows = "view" if s["rows"] < 0 else f"{s['rows']:,}"
        click.echo(f"  {s['stage'].ljust(width)}  {rows:>10}  {s['seconds']:>8.2f}{mark}")
    click.echo("\nOutputs")
    for table in result.tables:
        click.echo(f"  {table:<{width}}  {out / 'current' / table}/")
    click.echo(f"  snapshot for BI / SQL: {result.snapshot}  (views: {', '.join(result.tables)})")
    if "recommendations" in result.tables:
        sample = (result.relation("recommendations").order("user_id, rank").limit(6)
                  .project("user_id, item_id, round(score, 3) AS score, rank, source"))
        click.echo("")
        _print_rows(sample, "Sample of recommendations")
    query = f"import duckdb; duckdb.connect('{result.snapshot}', read_only=True).sql('FROM recommendations').show()"
    click.echo(f'\nQuery them: python -c "{query}"')


def _print_rows(relation, title: str | None = None) -> None:
    """A relation's rows as a table (NULL shown as n/a: not measurable)."""
    columns = relation.columns
    rows = [{c: "n/a" if v is None else v for c, v in zip(columns, row)} for row in relation.fetchall()]
    print_table(columns, rows, title)


@cli.command()
@click.argument("stage")
@_project_option
@_var_option
@click.option("--dialect", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
              help="Print the SQL for this engine (spark: transpiled by sqlglot).")
@click.option("--raw", is_flag=True, help="Print the rendered SQL exactly as it runs, not pretty-printed.")
@_example("sqlrec render rec_cooccurrence", "sqlrec render recommendations --dialect spark")
def render(stage: str, project: Path | None, vars_: tuple[str, ...], dialect: str, raw: bool) -> None:
    """Print the SQL of STAGE as it runs."""
    click.echo(api.render(stage, _project_dir(project), dialect=dialect, vars=_parse_vars(vars_), raw=raw))


@cli.command()
@_project_option
@_var_option
@_set_option
@_example("sqlrec validate -p shop")
def validate(project: Path | None, vars_: tuple[str, ...], settings: tuple[str, ...]) -> None:
    """Check config, stages, templates, SQL and input columns without running anything."""
    result = api.validate(_project_dir(project), vars=_parse_vars(vars_), overrides=_parse_vars(settings, "--set"))
    click.echo(f"OK: {len(result.plan.stages)} stages render and parse; "
               f"publishes {', '.join(result.plan.published)}")
    for name, columns in result.input_columns.items():
        click.echo(f"  input {name}: {len(columns)} columns ({', '.join(columns)})")


@cli.command()
@_project_option
@_set_option
@_example("sqlrec check -p shop", "sqlrec check --set inputs.events.path=data/events.parquet")
def check(project: Path | None, settings: tuple[str, ...]) -> None:
    """Run the input checks (types, NULLs, duplicates, time ranges, unknown items, ...) without running stages."""
    reports = api.check(_project_dir(project), overrides=_parse_vars(settings, "--set"))
    for name, report in reports.items():
        click.echo(f"input {name}: {report.rows_read:,} rows read from {report.files} file(s), {report.rows:,} kept")
        for note in report.notes:
            click.echo(f"  {printable_lines(note)}")
    click.echo("OK: every input passed its checks")


@cli.command()
@_pipeline_options
@_engine_options
@_example("sqlrec evaluate", "sqlrec evaluate --set evaluate.split=last_n --set evaluate.last_n=2",
          "sqlrec evaluate --engine spark", "sqlrec evaluate --no-report")
@click.option("--report/--no-report", "write_report", default=True, show_default=True,
              help="Write the HTML evaluation report (output/evaluation/report.html).")
def evaluate(project: Path | None, vars_: tuple[str, ...], settings: tuple[str, ...], no_progress: bool,
             update_contract: bool, engine: str | None, spark_master: str | None, write_report: bool) -> None:
    """Split the events, train on the training split, and score every model of [evaluate] on the test split."""
    result = api.evaluate(_project_dir(project), vars=_parse_vars(vars_),
                          overrides=_overrides(settings, engine, spark_master),
                          progress=not no_progress, report=_report_notes, update_contract=update_contract)
    sizes = result.relation("split_summary").order("split DESC").project(
        "split, events, users, items, CAST(cutoff AS VARCHAR) AS cutoff").fetchall()
    for split, events, users, items, cutoff in sizes:
        click.echo(f"{split:<5} {events:>10,} events  {users:>8,} users  {items:>7,} items"
                   + (f"  (cut-off {cutoff})" if cutoff else ""))
    columns = ["model", "k", "users", "precision", "recall", "ndcg", "map", "mrr", "hit_rate"]
    from .templating import ident
    optional = ["catalog_coverage", "novelty", "popularity_lift", "category_diversity"]
    counts = result.relation("metrics").aggregate(", ".join(f"count({ident(c)})" for c in optional)).fetchall()[0]
    # NULL without an items input (not shown); category_diversity NULL with one: no categories, shown as n/a
    shown = columns + [c for c, n in zip(optional, counts) if n or (c == "category_diversity" and counts[0])]
    table = result.relation("metrics").order("model, k").project(
        ", ".join(f"round({ident(c)}, 4) AS {ident(c)}" if c not in ("model", "k", "users") else ident(c)
                  for c in shown))
    click.echo("")
    _print_rows(table, "Metrics on the test split")
    history = result.relation("metrics_by_slice").filter("slice = 'history'").order("model, k, value DESC").project(
        "model, k, value AS history, users, round(precision, 4) AS precision, round(recall, 4) AS recall, "
        "round(ndcg, 4) AS ndcg, round(hit_rate, 4) AS hit_rate")
    click.echo("\nBy history: warm test users had training events, cold ones had none (only a fallback such as "
               "popularity or the cold-start cascade can serve them):")
    _print_rows(history)
    click.echo(f"\nTables: {result.run_dir}/  (metrics, metrics_by_user, metrics_by_slice, split_summary, "
               "evaluation_lists)")
    if write_report:
        click.echo(f"Report: {api.report(_project_dir(project), evaluation=True)}")


@cli.command()
@_pipeline_options
@_example("sqlrec tune", "sqlrec tune --set tune.metric=recall")
def tune(project: Path | None, vars_: tuple[str, ...], settings: tuple[str, ...], no_progress: bool,
         update_contract: bool) -> None:
    """Choose each model's parameters in [tune.grid] on a validation split carved from the training data."""
    result = api.tune(_project_dir(project), vars=_parse_vars(vars_), overrides=_parse_vars(settings, "--set"),
                      progress=not no_progress, report=click.echo, update_contract=update_contract)
    click.echo(f"\nBest by {result.metric}@{result.k} on the validation split:")
    for model, best in result.best.items():
        params = " ".join(f"--var {name}={value}" for name, value in best["params"].items())
        click.echo(f"  {model:<14} {result.metric} {best[result.metric]:.4f}   {params}")
    click.echo(f"\nTables: {result.run_dir}/  (tuning_results, best_params.json)")


@cli.command()
@click.argument("name", required=False)
@_pipeline_options
@click.option("--simulate/--no-simulate", default=None,
              help="Run the simulated online test (default: when the events are a generated world with truth/).")
@_example("sqlrec experiment", "sqlrec experiment strategies --no-simulate")
def experiment(name: str | None, project: Path | None, vars_: tuple[str, ...], settings: tuple[str, ...],
               simulate: bool | None, no_progress: bool, update_contract: bool) -> None:
    """Compare an experiment's variants: offline on one split, and in a simulated online test."""
    result = api.experiment(_project_dir(project), name, vars=_parse_vars(vars_),
                            overrides=_parse_vars(settings, "--set"), progress=not no_progress, report=click.echo,
                            simulate=simulate, update_contract=update_contract)
    spec = result.spec
    rows = result.results.to_pylist()
    lead = [r for r in rows if r["kind"] == "offline" and r["metric"] == spec.metric and r["k"] == spec.k]
    click.echo(f"\nOffline, {spec.metric}@{spec.k} on the same {lead[0]['users']} test users "
               f"(paired; {1 - spec.alpha:.0%} bootstrap intervals; p Holm-corrected over {len(lead) - 1} variants):")
    _comparison_table(lead, spec.control)
    if result.simulated:
        for metric in ("ctr", "conversion", "revenue"):
            click.echo(f"\nSimulated online test, {metric} per user over {spec.rounds} round(s) (two-sample):")
            _comparison_table([r for r in rows if r["kind"] == "online" and r["metric"] == metric], spec.control)
    srm = result.srm
    click.echo("\nUsers per arm: " + ", ".join(f"{a} {n}" for a, n in srm.observed.items())
               + f"; sample ratio check p = {srm.p_value:.3g}" + (" MISMATCH" if srm.mismatch else " (ok)"))
    click.echo(f"A/A check: {result.aa_rate:.1%} of random halvings significant at alpha {spec.alpha} "
               f"(nominal {spec.alpha:.0%})")
    click.echo(f"\nTables: {result.run_dir}/  (experiment_results, experiment_user_metrics, experiment_assignments, "
               "...); `sqlrec report` draws them")


def _comparison_table(rows: list[dict], control: str) -> None:
    """Each arm's value and interval; against the control its difference, interval, lift and Holm p (* significant)."""
    def interval(low, high) -> str:
        return f"[{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""
    table = [{"arm": r["arm"] + (" (control)" if r["arm"] == control else ""), "value": r["value"],
              "interval": interval(r["ci_low"], r["ci_high"]),
              "diff": "" if r["diff"] is None else f"{r['diff']:+.4g}",
              "diff interval": interval(r["diff_low"], r["diff_high"]) if r["diff"] is not None else "",
              "lift": f"{r['lift']:+.1%}" if r["diff"] is not None and r["lift"] is not None else "",
              "p Holm": f"{r['p_holm']:.4f}" if r["diff"] is not None and r["p_holm"] is not None else "",
              "": "*" if r["significant"] else ""} for r in rows]
    print_table(list(table[0]) if table else [], table, right=("interval", "diff", "diff interval", "lift", "p Holm"))


@cli.command()
@click.argument("name", required=False)
@_project_option
@click.option("--out", type=click.Path(path_type=Path), help="Where to write the HTML (default: report.html in "
                                                              "the experiment's output folder).")
@click.option("--evaluation", is_flag=True, help="Report the published evaluation (`sqlrec evaluate`) instead.")
@_example("sqlrec report", "sqlrec report strategies --out strategies.html", "sqlrec report --evaluation")
def report(name: str | None, project: Path | None, out: Path | None, evaluation: bool) -> None:
    """Write one self-contained HTML report of an experiment's (or the evaluation's) published results."""
    if evaluation and name:
        raise click.UsageError("--evaluation reports the evaluation: give no experiment name")
    path = api.report(_project_dir(project), name, out, evaluation=evaluation)
    click.echo(f"Report: {path}")
    click.echo("Screenshot: chromium-headless-shell --headless --no-sandbox --screenshot=report.png "
               f"--window-size=1000,4000 {path.resolve().as_uri()}")


_format_option = click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
                              show_default=True, help="table for people, json or csv for scripts.")


@cli.command()
@click.option("--user", "user", required=True, help="The user's id.")
@click.option("-k", "--k", "k", type=click.IntRange(1), default=None, help="Show the first K items (default: all).")
@click.option("--explain", is_flag=True, help="Add each item's largest contributors and their shares.")
@_format_option
@_project_option
@_example("sqlrec recommend --user 42", "sqlrec recommend --user 42 -k 5 --explain",
          "sqlrec recommend --user 42 --format json > user42.json")
def recommend(user: str, k: int | None, explain: bool, fmt: str, project: Path | None) -> None:
    """A user's published list: rank, item, score, source and reason. Reads the current run; runs nothing."""
    from .lookups import open_current
    with open_current(_config(project).output_dir) as lookup:
        _emit(lookup.recommendations(user, k, explain), fmt)


@cli.command()
@click.option("--item", "item", required=True, help="The item's id.")
@click.option("-k", "--k", "k", type=click.IntRange(1), default=None, help="Show the first K per source.")
@click.option("--source", default=None, help="Only this source (cooccurrence or content).")
@_format_option
@_project_option
@_example("sqlrec similar --item 100017", "sqlrec similar --item 100017 --source content -k 5 --format csv")
def similar(item: str, k: int | None, source: str | None, fmt: str, project: Path | None) -> None:
    """The items published as similar to an item, best first per source. Reads the current run; runs nothing."""
    from .lookups import open_current
    with open_current(_config(project).output_dir) as lookup:
        _emit(lookup.similar(item, k, source), fmt)


@cli.command()
@click.option("--user", "user", required=True, help="The user's id.")
@click.option("--item", "item", required=True, help="The recommended item's id.")
@_format_option
@_project_option
@_example("sqlrec explain --user 42 --item 100288", "sqlrec explain --user 42 --item 100288 --format json")
def explain(user: str, item: str, fmt: str, project: Path | None) -> None:
    """Why an item is in a user's published list: its source, reason and largest contributors."""
    from .lookups import open_current
    with open_current(_config(project).output_dir) as lookup:
        found = lookup.explanation(user, item)
        title, category = lookup.title_of(found.item_id)
    if fmt != "table":
        rows = [{"user_id": found.user_id, "item_id": found.item_id, "rank": found.rank, "source": found.source,
                 "reason": found.reason, "position": i + 1, **c} for i, c in enumerate(found.contributors)]
        _emit_rows(list(rows[0]) if rows else ["user_id", "item_id", "rank", "source", "reason"], rows, fmt)
        return
    named = f" {title}" + (f" [{category}]" if category else "") if title else ""
    click.echo(printable(f"user {found.user_id}, item {found.item_id}{named}: rank {found.rank}, "
                         f"from {found.source}"))
    click.echo(f"  {printable(str(found.reason))}")
    for c in found.contributors:
        name = f"{c['contributor']} ({c['title']})" if c["title"] else c["contributor"]
        click.echo(f"  {c['share']:6.1%}  {c['kind']:<10} {printable(str(name))}  [{c['source']}]")


def _config(project: Path | None):
    from .config import load_config
    return load_config(_project_dir(project))


def _emit(found: "Rows", fmt: str) -> None:
    _emit_rows(found.columns, found.dicts(), fmt)


def _emit_rows(columns: list[str], rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str, ensure_ascii=False))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False, color=True)  # color=True: the data's escape codes are kept, exactly
    else:
        print_table(columns, rows)


@cli.command(name="ls")
@_project_option
@_example("sqlrec ls -p shop")
def ls(project: Path | None) -> None:
    """List the project's stages in dependency layers, with their origin and inputs."""
    rows = api.list_stages(_project_dir(project))
    width = max(len(r["stage"]) for r in rows)
    for r in rows:
        flag = "publish" if r["published"] else r["materialized"]
        click.echo(f"{r['layer']:<13} {r['stage']:<{width}}  {r['kind']:<6} {r['origin']:<8} {flag:<7} "
                   f"<- {', '.join(r['deps']) or '-'}")


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write the Parquet files to.")
@click.option("--users", type=click.IntRange(1), default=DEMO_SIZE["users"], show_default=True)
@click.option("--items", type=click.IntRange(24), default=DEMO_SIZE["items"], show_default=True)
@click.option("--events", type=click.IntRange(1), default=DEMO_SIZE["events"], show_default=True)
@click.option("--seed", type=int, default=DEMO_SIZE["seed"], show_default=True)
@_example("sqlrec generate --out data", "sqlrec generate --out big --users 100000 --items 20000 --events 1000000")
def generate(out: Path, users: int, items: int, events: int, seed: int) -> None:
    """Write a synthetic retail world as Parquet: items, users, events, and its ground truth in truth/.

    The planted patterns (taste clusters, price tiers, cross-sell chains, seasons, repeat purchases, cold start)
    are described in the README. Same options, same bytes.
    """
    from .datagen import WorldSize, generate as generate_data
    paths = generate_data(out, WorldSize(users=users, items=items, events=events, seed=seed))
    for name, path in paths.items():
        click.echo(f"{name}: {path}")


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@_example('eval "$(sqlrec completion bash)"            # in ~/.bashrc',
          'eval "$(sqlrec completion zsh)"             # in ~/.zshrc',
          "sqlrec completion fish > ~/.config/fish/completions/sqlrec.fish")
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (commands, options, file names, choices)."""
    from click.shell_completion import get_completion_class
    script = get_completion_class(shell)(cli, {}, "sqlrec", "_SQLREC_COMPLETE").source()
    click.echo(script)


for _command in cli.commands.values():
    _command.epilog = getattr(_command.callback, "examples", None)


def main() -> None:
    interrupts.install()
    try:
        cli.main(prog_name="sqlrec", standalone_mode=True)
    except SystemExit as exc:
        if interrupts.received() is not None and isinstance(exc.code, int):
            interrupts.exit_now(exc.code)
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
