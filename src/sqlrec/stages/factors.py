"""The latent-factor (truncated SVD) and linear item (EASE) models: NumPy fits between SQL stages.

int_svd_matrix / int_ease_matrix (SQL: the weighted user x item matrix)
  -> int_svd_item_factors, int_svd_user_factors, int_ease_weights (here)
  -> rec_svd, rec_ease (SQL: scoring, removing seen items, ranking), user_factors, item_factors, item_weights
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..arrays import to_arrow, to_numpy
from ..python_stages import python_stage
from .neighbours import list_depth, whole_var

_MATRIX = ["user_ix", "item_ix", "value"]
_FACTORS = ["item_ix", "factors"]


def _matrix(table: pa.Table, n_users: int | None = None, n_items: int | None = None):
    import scipy.sparse as sp
    users, items = to_numpy(table.column("user_ix"), np.int64), to_numpy(table.column("item_ix"), np.int64)
    values = to_numpy(table.column("value"), np.float64)
    shape = (n_users if n_users is not None else int(users.max(initial=-1)) + 1,
             n_items if n_items is not None else int(items.max(initial=-1)) + 1)
    return sp.csr_matrix((values, (users, items)), shape=shape)


def _lists(index: np.ndarray, matrix: np.ndarray, name: str) -> pa.Table:
    """Rows of `matrix` as a list column beside their index."""
    flat = to_arrow(matrix.ravel(), pa.float64())
    offsets = to_arrow(np.arange(0, matrix.size + 1, max(matrix.shape[1], 1)), pa.int32())
    return pa.table({name: to_arrow(index, pa.int32()), "factors": pa.ListArray.from_arrays(offsets, flat)})


def _list_matrix(table: pa.Table, index: str) -> tuple[np.ndarray, np.ndarray]:
    """(index, dense rows) from a table of (index, factors list) rows."""
    ids = to_numpy(table.column(index), np.int64)
    lists = table.column("factors").combine_chunks()
    if len(ids) == 0:
        return ids, np.empty((0, 0))
    flat = to_numpy(lists.flatten(), np.float64)
    return ids, flat.reshape(len(ids), -1)


@python_stage(inputs={"int_svd_matrix": _MATRIX}, columns=_FACTORS,
              vars=["svd_rank", "svd_oversampling", "svd_power_iterations", "svd_seed"],
              grain="one row per item with events: its factor vector", layer="features")
def int_svd_item_factors(tables, vars):
    """Item factors of a truncated SVD of the user x item matrix (randomized, seeded, sign-normalised)."""
    from ..factor_models import randomized_svd
    matrix = _matrix(tables["int_svd_matrix"])
    rank = whole_var(vars, "svd_rank", 64, 1)
    if matrix.nnz == 0:
        return _lists(np.empty(0, np.int64), np.empty((0, rank)), "item_ix")
    rank = min(rank, *matrix.shape)  # a small catalogue cannot have more factors than items
    _, factors = randomized_svd(matrix, rank, oversampling=whole_var(vars, "svd_oversampling", 10, 0),
                                power_iterations=whole_var(vars, "svd_power_iterations", 7, 0),
                                seed=whole_var(vars, "svd_seed", 42, 0))
    items = np.unique(matrix.indices)  # the items with events; catalogue items without any have no factors
    return _lists(items, factors[items], "item_ix")


@python_stage(inputs={"int_svd_matrix": _MATRIX, "int_svd_item_factors": _FACTORS},
              columns=["user_ix", "factors"], grain="one row per user with events: the user folded into the "
              "item factors, x_u V", layer="features")
def int_svd_user_factors(tables, vars):
    """Every user's events projected onto the item factors (PureSVD's fold-in): a user needs no refit to score."""
    items, factors = _list_matrix(tables["int_svd_item_factors"], "item_ix")
    n_items = int(max(items.max(initial=-1), to_numpy(tables["int_svd_matrix"].column("item_ix"),
                                                                  np.int64).max(initial=-1))) + 1
    dense = np.zeros((n_items, factors.shape[1] if factors.size else 0))
    dense[items] = factors  # items without factors (none, unless the factors come from an earlier run) weigh 0
    matrix = _matrix(tables["int_svd_matrix"], n_items=n_items)
    users = np.unique(matrix.nonzero()[0])
    return _lists(users, np.asarray(matrix[users] @ dense), "user_ix")


@python_stage(inputs={"int_ease_matrix": _MATRIX}, columns=["item_ix", "other_item_ix", "weight"],
              vars=["ease_lambda", "ease_max_items", "ease_neighbours"],
              grain="one row per (item_ix, other_item_ix) with a nonzero weight", layer="features")
def int_ease_weights(tables, vars):
    """EASE's item x item weights B = I - P diag(1/diag(P)), P = (X^T X + lambda I)^-1, zero diagonal."""
    from ..factor_models import ease_weights, strongest_per_row
    matrix = _matrix(tables["int_ease_matrix"])
    limit = whole_var(vars, "ease_max_items", 20_000, 1)
    if matrix.shape[1] > limit:
        raise ValueError(
            f"EASE solves a dense {matrix.shape[1]:,} x {matrix.shape[1]:,} system, over vars.ease_max_items "
            f"({limit:,}; memory grows with the square, time with the cube of the item count). For a catalogue "
            f"this size use rec_cooccurrence (with cooccurrence_neighbours) or rec_svd, or raise ease_max_items")
    regularisation = vars.get("ease_lambda", 300.0)
    if isinstance(regularisation, bool) or not isinstance(regularisation, (int, float)) or not regularisation > 0:
        raise ValueError(f"vars.ease_lambda must be a positive number, got {regularisation!r}")
    rows, cols, values = strongest_per_row(ease_weights(matrix, float(regularisation)),
                                           whole_var(vars, "ease_neighbours", 0, 0))
    return pa.table({"item_ix": to_arrow(rows, pa.int32()), "other_item_ix": to_arrow(cols, pa.int32()),
                     "weight": to_arrow(values, pa.float64())})


@python_stage(inputs={"int_svd_user_factors": ["user_ix", "factors"], "int_svd_item_factors": _FACTORS,
                      "int_svd_matrix": _MATRIX}, columns=["user_ix", "item_ix", "score"], vars=["k", "candidates"],
              grain="one row per (user_ix, item_ix): each user's unseen items scoring at or above their k-th best "
              "u . v (k rows, more on ties)", layer="candidates")
def int_svd_candidates(tables, vars):
    """SVD scores u . v as dense BLAS products a block of users at a time, items by descending norm until no item
    left can reach a user's k-th best (the same candidates as scoring every pair); the best per user."""
    from ..factor_models import top_factor_candidates
    users, user_factors = _list_matrix(tables["int_svd_user_factors"], "user_ix")
    items, item_factors = _list_matrix(tables["int_svd_item_factors"], "item_ix")
    events = tables["int_svd_matrix"]
    n_users = int(max(users.max(initial=-1), to_numpy(events.column("user_ix"), np.int64).max(initial=-1))) + 1
    n_items = int(max(items.max(initial=-1), to_numpy(events.column("item_ix"), np.int64).max(initial=-1))) + 1
    seen = _matrix(events, n_users=n_users, n_items=n_items)[users][:, items]
    rows, cols, scores = top_factor_candidates(user_factors, item_factors, seen, list_depth(vars))
    return pa.table({"user_ix": to_arrow(users[rows], pa.int32()), "item_ix": to_arrow(items[cols], pa.int32()),
                     "score": to_arrow(scores, pa.float64())})
