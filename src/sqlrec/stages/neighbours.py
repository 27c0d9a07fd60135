"""The scoring product of the neighbour recommenders: affinity x item similarity, as a sparse matrix product.

rec_cooccurrence, rec_content, rec_ease and rec_session rank these candidates in SQL when `vars.neighbour_scoring` is
"sparse" (the default); with "sql" they score in SQL instead (macros/neighbours.sql, rec_session.sql). Both give the
same lists; the benchmark (bench/cooccurrence.py) is why sparse is the default.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from ..arrays import indexes_of, to_arrow, to_numpy
from ..errors import ConfigError
from ..python_stages import python_stage

COLUMNS = ["user_ix", "item_ix", "score"]
GRAIN = ("one row per (user_ix, item_ix): each user's unseen items scoring at or above the user's k-th best "
         "nonzero score (k rows, more on ties at the k-th)")


def _candidates(tables: Mapping[str, pa.Table], vars: Mapping[str, Any], affinity: tuple[str, str],
                similarity: tuple[str, str]) -> pa.Table:
    """Score with the (stage, value column) pairs `affinity` (user_ix, item_ix, value) and `similarity`
    (item_ix, other_item_ix, value)."""
    (affinity_stage, affinity_value), (similarity_stage, similarity_value) = affinity, similarity
    held = tables[affinity_stage]
    return _scored(tables[similarity_stage], similarity_value, list_depth(vars), user=_ints(held, "user_ix"),
                   item=_ints(held, "item_ix"), affinity=_floats(held, affinity_value))


def _scored(similar: pa.Table, similarity_value: str, k: int, user: np.ndarray, item: np.ndarray,
            affinity: np.ndarray, seen: tuple[np.ndarray, np.ndarray] | None = None) -> pa.Table:
    """The candidates of the (user, item, affinity) rows scored with `similar` (item_ix, other_item_ix, value)."""
    from ..neighbour_scoring import top_candidates  # SciPy is imported only when a run scores this way
    users, items, scores = top_candidates(
        user=user, item=item, affinity=affinity, sim_item=_ints(similar, "item_ix"),
        sim_other=_ints(similar, "other_item_ix"), sim_value=_floats(similar, similarity_value), k=k, seen=seen)
    return pa.table({"user_ix": to_arrow(users, pa.int32()), "item_ix": to_arrow(items, pa.int32()),
                     "score": to_arrow(scores, pa.float64())})


def whole_var(vars: Mapping[str, Any], name: str, default: int, least: int) -> int:
    """vars[name] (or `default`), checked to be a whole number of at least `least`."""
    value = vars.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ConfigError(f"vars.{name} must be a whole number of at least {least}, got {value!r}",
                          hint=f"set {name} = {max(default, least)} (or another whole number) under [vars]")
    return value


def list_depth(vars: Mapping[str, Any]) -> int:
    """Items listed per user: vars.k, or vars.candidates when larger (as the list_depth macro)."""
    return max(whole_var(vars, "k", 10, 1), whole_var(vars, "candidates", 0, 0))


def _ints(table: pa.Table, column: str) -> np.ndarray:
    return to_numpy(table.column(column), np.int64)


def _floats(table: pa.Table, column: str) -> np.ndarray:
    return to_numpy(table.column(column), np.float64)


_AFFINITY = ["user_ix", "item_ix", "affinity"]
_SIMILARITY = ["item_ix", "other_item_ix", "similarity"]


@python_stage(inputs={"int_user_affinity": _AFFINITY, "int_item_similarity": _SIMILARITY}, columns=COLUMNS,
              vars=["k", "candidates"], grain=GRAIN, layer="candidates")
def int_cooccurrence_candidates(tables, vars):
    """Co-occurrence scores sum_i affinity(u, i) x similarity(i, j), computed as a sparse product; the best per user."""
    return _candidates(tables, vars, ("int_user_affinity", "affinity"), ("int_item_similarity", "similarity"))


@python_stage(inputs={"int_user_affinity": _AFFINITY, "int_item_content_similarity": _SIMILARITY}, columns=COLUMNS,
              vars=["k", "candidates"], grain=GRAIN, layer="candidates")
def int_content_candidates(tables, vars):
    """Content scores sum_i affinity(u, i) x content similarity(i, j), as a sparse product; the best per user."""
    return _candidates(tables, vars, ("int_user_affinity", "affinity"),
                       ("int_item_content_similarity", "similarity"))


@python_stage(inputs={"int_ease_matrix": ["user_ix", "item_ix", "value"],
                      "int_ease_weights": ["item_ix", "other_item_ix", "weight"]}, columns=COLUMNS,
              vars=["k", "candidates"], grain=GRAIN, layer="candidates")
def int_ease_candidates(tables, vars):
    """EASE scores sum_i x(u, i) x B(i, j), as a sparse product; the best per user."""
    return _candidates(tables, vars, ("int_ease_matrix", "value"), ("int_ease_weights", "weight"))


@python_stage(inputs={"int_latest_session": ["user_id", "item_id"], "stg_events": ["user_id", "item_id"],
                      "int_user_index": ["user_id", "user_ix"], "int_item_index": ["item_id", "item_ix"],
                      "int_item_similarity": _SIMILARITY}, columns=COLUMNS, vars=["k", "candidates"], grain=GRAIN,
              layer="candidates")
def int_session_candidates(tables, vars):
    """Latest-visit scores sum_i similarity(i, j) over the items of the latest session, sparse; the best per user.

    Every item the user ever had is left out, not only those of the latest session (as rec_session's SQL path)."""
    session, events = tables["int_latest_session"], tables["stg_events"]
    users, items = tables["int_user_index"], tables["int_item_index"]

    def user_ix(table: pa.Table) -> np.ndarray:
        return indexes_of(table.column("user_id"), users.column("user_id"), users.column("user_ix"))

    def item_ix(table: pa.Table) -> np.ndarray:
        return indexes_of(table.column("item_id"), items.column("item_id"), items.column("item_ix"))

    return _scored(tables["int_item_similarity"], "similarity", list_depth(vars), user=user_ix(session),
                   item=item_ix(session), affinity=np.ones(session.num_rows), seen=(user_ix(events), item_ix(events)))
