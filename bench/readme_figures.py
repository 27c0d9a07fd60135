"""The docs' figures that sqlrec's own commands produce, regenerated from those commands so they cannot go stale.

    python bench/readme_figures.py            # run the commands, rewrite the docs' generated blocks
    python bench/readme_figures.py --check    # exit 1 if a deterministic block differs from a fresh run

Each block sits between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->` in a page of docs/ (evaluation.md,
your-data.md):
- demo-experiment: `sqlrec run --demo` then `sqlrec experiment` in a fresh demo folder; the table and the rounds
  paragraph come from the published experiment tables (seeded: the same on every rerun, so --check compares them);
- demo-experiment-time, online-retail-time: wall-clock seconds of the commands (median of 3 fresh processes for
  Online Retail); machine-dependent, so rewritten but never compared.
tests/test_readme_figures.py runs the --check comparison of the deterministic block.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

CHECKOUT = Path(__file__).resolve().parents[1]
EVALUATION_PAGE = CHECKOUT / "docs" / "evaluation.md"  # the demo experiment's figures
DATA_PAGE = CHECKOUT / "docs" / "your-data.md"  # the Online Retail timing
RETAIL = CHECKOUT.parent / "shared" / "datasets" / "online-retail" / "online_retail.parquet"
COLUMNS = [("offline", "ndcg", "NDCG@10", "{:.4f}"), ("offline", "catalog_coverage", "catalogue coverage", "{:.3f}"),
           ("offline", "category_diversity", "category diversity", "{:.3f}"), ("online", "ctr", "CTR", "{:.4f}"),
           ("online", "conversion", "conversion", "{:.3f}"), ("online", "revenue", "revenue / user", "{:.2f}")]
BOUNDS = {"oracle": "truly best items", "random": "uniform"}


def sqlrec(*args: str, cwd: Path | None = None) -> float:
    """Run one sqlrec command in a fresh process; its wall-clock seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sqlrec", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def demo_experiment(folder: Path) -> tuple[Path, float]:
    """The demo project and its experiment, published under `folder`; the experiment's seconds. The README's tour
    runs there too, every command and the Python snippet as written, so that the README cannot show one that fails."""
    sqlrec("run", "--demo", "--demo-dir", str(folder), "-q")
    seconds = sqlrec("experiment", "--no-progress", cwd=folder)
    readme_tour(folder)
    return (folder / "output" / "experiments" / "strategies" / "current").resolve(), seconds


def readme_tour(folder: Path) -> None:
    tour = (CHECKOUT / "README.md").read_text().split("## A short tour")[1].split("\n## ")[0]
    commands = [line.split("#")[0].strip() for line in re.search(r"```sh\n(.*?)```", tour, re.S).group(1).splitlines()]
    ran = 0
    for command in commands:
        if command.startswith("sqlrec ") and command != "sqlrec experiment":  # the experiment ran above
            done = subprocess.run([sys.executable, "-m", "sqlrec", *command.split()[1:]], cwd=folder,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"the README's `{command}` failed: {done.stderr}")
            ran += 1
    snippet = re.search(r"```python\n(.*?)```", tour, re.S).group(1)
    done = subprocess.run([sys.executable, "-c", snippet], cwd=folder.parent, capture_output=True, text=True)
    if done.returncode != 0 or "reason" not in done.stdout:
        raise SystemExit(f"the README's Python snippet failed: {done.stderr}")
    print(f"the README's tour ran: {ran} commands and the Python snippet")


def experiment_block(run_dir: Path) -> str:
    """The demo experiment's table and the rounds paragraph, from its published tables."""
    con = duckdb.connect()
    read = lambda table: f"read_parquet('{run_dir / table / 'data.parquet'}')"  # noqa: E731  (a local path)
    summary = __import__("json").loads((run_dir / "experiment.json").read_text())
    k = summary["k"]
    values = {(kind, arm, metric): (value, users, p_holm, diff) for kind, arm, metric, value, users, p_holm, diff in
              con.execute(f"SELECT kind, arm, metric, value, users, p_holm, diff FROM {read('experiment_results')} "
                          "WHERE k = $k", {"k": k}).fetchall()}
    variants = [(v["name"], v["description"]) for v in summary["variants"]]
    control = summary["control"]
    best = {metric: max(values[(kind, name, metric)][0] for name, _ in variants) for kind, metric, _, _ in COLUMNS}
    rows = []
    for name, description in variants:
        cells = []
        for kind, metric, _, fmt in COLUMNS:
            text = fmt.format(values[(kind, name, metric)][0])
            cells.append(f"**{text}**" if values[(kind, name, metric)][0] == best[metric] else text)
        rows.append([name + (" (control)" if name == control else ""), description, *cells])
    online_only = [("holdout", f"shown {control}")] + list(BOUNDS.items())
    for arm, description in online_only:
        if ("online", arm, "ctr") in values:
            rows.append([arm, description, "", "", "",
                         *[fmt.format(values[(kind, arm, metric)][0]) for kind, metric, _, fmt in COLUMNS[3:]]])
    header = ["arm", "strategy", *[title for _, _, title, _ in COLUMNS]]
    table = "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                      + ["| " + " | ".join(r) + " |" for r in rows])

    test_users = values[("offline", control, "ndcg")][1]
    arm_users = [values[("online", name, "ctr")][1] for name, _ in variants]
    compared = [values[(kind, name, metric)] for name, _ in variants if name != control
                for kind, metric in (("offline", "ndcg"), ("online", "ctr"), ("online", "conversion"),
                                     ("online", "revenue"))]
    if all(diff > 0 for _, _, _, diff in compared):
        verdict = (f"every variant beats the control {control} on all four at Holm-corrected "
                   f"p <= {max(p for _, _, p, _ in compared):.2g}")
    else:
        verdict = "not every variant beats the control on all of them (see experiment_results)"
    intro = (f"Its results ({test_users:,} test users offline; {summary['rounds']} simulated rounds; seeded, the same "
             f"on every rerun). Offline NDCG@{k} is paired on the same users; the online figures are per user over "
             f"the rounds, each arm {min(arm_users):,} to {max(arm_users):,} users; {verdict}:")

    rounds = {arm: con.execute(f"SELECT min(catalog_coverage), max(catalog_coverage), min(avg_popularity), "
                               f"max(avg_popularity), min(ctr), max(ctr), min(revenue_per_user), "
                               f"max(revenue_per_user) FROM {read('experiment_rounds')} WHERE arm = $a",
                               {"a": arm}).fetchall()[0] for arm in ("E", "F")}
    e, f = rounds["E"], rounds["F"]
    span = lambda lo, hi, fmt: f"{fmt.format(lo)}-{fmt.format(hi)}"  # noqa: E731
    paragraph = (f"Over the rounds, exploration (F) showed {span(f[0], f[1], '{:.2f}')} of the catalogue against "
                 f"{span(e[0], e[1], '{:.2f}')} for pure exploitation (E), and less popular items (mean popularity "
                 f"{span(f[2], f[3], '{:.2f}')} against {span(e[2], e[3], '{:.2f}')}, 1 = the catalogue's average); "
                 f"its CTR per round was {span(f[4], f[5], '{:.3f}')} against {span(e[4], e[5], '{:.3f}')}, and its "
                 f"revenue per user {span(f[6], f[7], '{:.2f}')} against {span(e[6], e[7], '{:.2f}')}.")
    con.close()
    return "\n\n".join([_wrap(intro), table, _wrap(paragraph)])


def _wrap(text: str, width: int = 116) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])


def retail_seconds() -> str:
    """Median wall-clock seconds of `sqlrec run` on the Online Retail example, 5 fresh processes."""
    with tempfile.TemporaryDirectory() as scratch:
        config = (CHECKOUT / "examples" / "online-retail" / "sqlrec.toml").read_text()
        config = config.replace("../../../shared/datasets/online-retail/online_retail.parquet", str(RETAIL))
        (Path(scratch) / "sqlrec.toml").write_text(config)
        times = [sqlrec("run", "-q", "-p", scratch) for _ in range(5)]
    return (f"in {statistics.median(times):.1f} s (median of 5 runs of `sqlrec run -p examples/online-retail`, "
            "fresh processes, 2 cores, checks included; `python bench/readme_figures.py` measures it)")


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- figures:{name} -->)(.*?)(<!-- /figures:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"no block figures:{name} in the page")
    return pattern.sub(lambda m: m.group(1) + ("\n" + body + "\n" if "\n" in body else body) + m.group(3), text)


def save_figures(rows: list, out: Path, doc: Path, name: str, body: str) -> None:
    """Write a benchmark's results to `out` (JSON) and its table into `doc`'s block `name`."""
    import json
    out.write_text(json.dumps(rows, indent=2) + "\n")
    doc.write_text(replace_block(doc.read_text(), name, body))
    print(f"written: {out} and the table in {doc}")


def block(text: str, name: str) -> str:
    found = re.search(rf"<!-- figures:{name} -->(.*?)<!-- /figures:{name} -->", text, re.S)
    return found.group(1).strip() if found else ""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare the deterministic blocks, change nothing")
    args = parser.parse_args(argv)
    text = EVALUATION_PAGE.read_text()
    with tempfile.TemporaryDirectory() as scratch:
        run_dir, seconds = demo_experiment(Path(scratch) / "sqlrec-demo")
        fresh = experiment_block(run_dir)
    if args.check:
        if block(text, "demo-experiment") != fresh:
            print("docs/evaluation.md's demo experiment figures differ from a fresh run; run python "
                  "bench/readme_figures.py")
            print(fresh)
            return 1
        print("docs/evaluation.md's demo experiment figures match a fresh run")
        return 0
    text = replace_block(text, "demo-experiment", fresh)
    text = replace_block(text, "demo-experiment-time", f"about {seconds:.0f} s on 2 cores")
    EVALUATION_PAGE.write_text(text)
    if RETAIL.is_file():
        DATA_PAGE.write_text(replace_block(DATA_PAGE.read_text(), "online-retail-time", retail_seconds()))
    print("docs/evaluation.md and docs/your-data.md rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
