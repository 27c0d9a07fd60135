"""Answers from the published outputs of a run, without running anything: a user's list, an item's neighbours, why
an item is in a list.

Each reads the Parquet files of one published run. Those are written sorted by user (recommendations,
explanations) or item (similar_items), and the id is bound with the column's own type, so DuckDB skips every row
group whose min/max statistics cannot hold it: a lookup costs about the same on a large run as on a small one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .connections import quiet_connection
from .errors import ConfigError
from .layout import current_run_dir, read_manifest, table_path

TOP_CONTRIBUTORS = 3  # what `recommend --explain` shows per item
INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT")


@dataclass(frozen=True)
class Rows:
    """A lookup's answer: column names and rows. Plain Python, so a command line answer never loads pyarrow."""

    columns: list[str]
    rows: list[tuple]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def arrow(self):
        """As a pyarrow.Table (what the Python API returns)."""
        import pyarrow as pa
        return pa.Table.from_pylist(self.dicts()) if self.rows else pa.table({c: [] for c in self.columns})


@dataclass(frozen=True)
class Explanation:
    user_id: Any
    item_id: Any
    rank: int
    source: str
    reason: str
    contributors: list[dict[str, Any]]  # kind, contributor, title, share, source; largest share first


def open_current(output_dir: Path) -> "Lookup":
    """The run currently published under `output_dir` (pinned: a run publishing meanwhile does not move it)."""
    run_dir = current_run_dir(output_dir)
    if run_dir is None:
        raise ConfigError(f"{output_dir} has no published run yet", hint="run `sqlrec run` first")
    manifest = read_manifest(run_dir)
    return Lookup(run_dir, manifest["run_id"], tuple(manifest["published"]))


class Lookup:
    """The tables of one published run folder (runs/<run_id>), queried on a private in-memory connection."""

    def __init__(self, run_dir: Path, run_id: str, tables: tuple[str, ...]):
        self.run_dir = run_dir
        self.run_id = run_id
        self.tables = tables
        self.con = quiet_connection()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Lookup":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def recommendations(self, user: Any, k: int | None = None, explain: bool = False) -> Rows:
        """The user's published list (rank, item_id, score, source, reason), the first `k` rows; with `explain`,
        a `because` column naming each item's largest contributors and their shares."""
        path = self._path("recommendations")
        user_id = self._typed(path, "user_id", user)
        limit = k if k is not None else 2 ** 31 - 1
        params = {"p": str(path), "u": user_id, "k": limit}
        query = "SELECT rank, item_id, score, source, reason FROM read_parquet($p) WHERE user_id = $u AND rank <= $k"
        query, catalog = self._with_titles(query, "item_id", "rank, item_id, title, category, score, source, reason",
                                           "rank")
        params.update(catalog)
        if explain:
            query = ("SELECT r.*, b.because FROM (" + query + ") AS r LEFT JOIN ("
                     "SELECT item_id, string_agg(kind || ' ' || CAST(contributor AS VARCHAR) "
                     "|| CASE WHEN title IS NULL THEN '' ELSE ' (' || title || ')' END "
                     "|| ' ' || CAST(round(100 * share) AS INTEGER) || '%', '; ' ORDER BY position) AS because "
                     "FROM read_parquet($e) WHERE user_id = $u AND rank <= $k AND position <= $top GROUP BY item_id"
                     ") AS b ON b.item_id = r.item_id ORDER BY r.rank")
            params.update(e=str(self._path("explanations")), top=TOP_CONTRIBUTORS)
        rows = self._rows(query, params)
        if not rows.rows:
            raise ConfigError(f"user {user} has no recommendations in the published run {self.run_id}",
                              hint="check the id; `sqlrec run` recommends for every user with events or in the "
                                   "users input")
        return rows

    def similar(self, item: Any, k: int | None = None, source: str | None = None) -> Rows:
        """The items published as similar to `item` (source, rank, other_item_id, score), best first per source."""
        path = self._path("similar_items")
        item_id = self._typed(path, "item_id", item)
        query, catalog = self._with_titles(
            "SELECT source, rank, other_item_id, score FROM read_parquet($p) "
            "WHERE item_id = $i AND rank <= $k AND ($s IS NULL OR source = $s)", "other_item_id",
            "source, rank, other_item_id, title, category, score", "source, rank")
        rows = self._rows(query, {"p": str(path), "i": item_id, "k": k if k is not None else 2 ** 31 - 1,
                                  "s": source, **catalog})
        if not rows.rows:
            sources = [r[0] for r in self.con.execute("SELECT DISTINCT source FROM read_parquet($p) ORDER BY 1",
                                                      {"p": str(path)}).fetchall()]
            if source is not None and source not in sources:
                raise ConfigError(f"similar_items of run {self.run_id} has no source {source!r}",
                                  hint="its sources: " + ", ".join(sources))
            raise ConfigError(f"item {item} has no similar items in the published run {self.run_id}",
                              hint="check the id; items nobody interacted with and items without text have none")
        return rows

    def explanation(self, user: Any, item: Any) -> Explanation:
        """Why `item` is in `user`'s list: its rank, source and reason, and its largest contributors."""
        recs = self._path("recommendations")
        user_id = self._typed(recs, "user_id", user)
        try:
            item_id = self._typed(recs, "item_id", item)
        except ConfigError:
            item_id = None  # cannot be in the list: say so, with the list
        row = self.con.execute("SELECT user_id, item_id, rank, source, reason FROM read_parquet($p) "
                               "WHERE user_id = $u AND item_id = $i", {"p": str(recs), "u": user_id, "i": item_id}
                               ).fetchall()
        if not row:
            listed = self.recommendations(user).column("item_id")  # raises for an unknown user
            raise ConfigError(f"item {item} is not in user {user}'s list in the published run {self.run_id}",
                              hint="their list: " + ", ".join(str(i) for i in listed))
        found_user, found_item, rank, source, reason = row[0]
        contributors = self.con.execute(
            "SELECT kind, contributor, title, share, source FROM read_parquet($p) "
            "WHERE user_id = $u AND item_id = $i ORDER BY position",
            {"p": str(self._path("explanations")), "u": user_id, "i": item_id}).fetchall()
        return Explanation(found_user, found_item, rank, source, reason,
                           [dict(zip(("kind", "contributor", "title", "share", "source"), c)) for c in contributors])

    def title_of(self, item: Any) -> tuple[str | None, str | None]:
        """An item's title and category from the published item_catalog (None, None without one)."""
        if "item_catalog" not in self.tables:
            return None, None
        found = self.con.execute("SELECT title, category FROM read_parquet($c) WHERE item_id = $i",
                                 {"c": str(self._path("item_catalog")), "i": item}).fetchall()
        return found[0] if found else (None, None)

    def _with_titles(self, query: str, id_column: str, columns: str, order: str) -> tuple[str, dict[str, str]]:
        """`query` with each row's item title and category from item_catalog (when the run published it), in
        `columns` order, sorted by `order`; and the parameter that names the catalogue file."""
        if "item_catalog" not in self.tables:
            kept = ", ".join(c for c in columns.split(", ") if c not in ("title", "category"))
            return f"SELECT {kept} FROM ({query}) AS r ORDER BY {order}", {}
        return (f"SELECT {columns} FROM ({query}) AS r LEFT JOIN (SELECT item_id AS {id_column}, title, category "
                f"FROM read_parquet($catalog)) AS c USING ({id_column}) ORDER BY {order}",
                {"catalog": str(self._path("item_catalog"))})

    def _rows(self, query: str, params: dict[str, Any]) -> Rows:
        cursor = self.con.execute(query, params)
        columns = [d[0] for d in cursor.description]
        return Rows(columns, cursor.fetchall())

    def _path(self, table: str) -> Path:
        if table not in self.tables:
            raise ConfigError(f"the published run {self.run_id} has no {table} table",
                              hint=f"it published: {', '.join(self.tables)}; run `sqlrec run` to publish {table}")
        return table_path(self.run_dir, table)

    def _typed(self, path: Path, column: str, value: Any) -> Any:
        """`value` (often text from a command line) as the column's type, so the filter can use row-group
        statistics; an id that cannot have that type cannot be in the table."""
        found = self.con.execute(f'SELECT typeof("{column}") FROM read_parquet($p) LIMIT 1', {"p": str(path)}
                                 ).fetchall()
        kind = found[0][0] if found else None
        if kind in INTEGER_TYPES:
            try:
                return int(str(value))
            except ValueError:
                raise ConfigError(f"{column} {value!r} is not an id of this run: its {column}s are integers",
                                  hint=f"pass an integer {column}") from None
        if kind == "VARCHAR":
            return str(value)
        return value

