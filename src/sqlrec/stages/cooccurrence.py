"""Co-occurrence counts C = B^T B as a sparse product, for int_item_pair_counts (vars.cooccurrence_counting).

In SQL the counts are a self-join of the baskets on the user and a GROUP BY over every pair of items a user had:
a hash table entry per pair made. Here SciPy multiplies the item x user matrix by its transpose, a slice of items at
a time on every core, and keeps the upper triangle (each unordered pair once, the diagonal included). The counts
are integers, so both paths give identical rows; int_item_pair_counts reads them from here unless the run is an
incremental refresh, which adds new baskets to the last run's counts in SQL.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..arrays import to_arrow, to_numpy
from ..python_stages import python_stage

#: Multiply-adds per slice of items: enough slices to keep every core busy, each product small enough to stay in
#: memory that is reused from slice to slice.
WORK_PER_SLICE = 2_000_000

COLUMNS = ["item_ix", "other_item_ix", "users"]


def upper_pair_counts(user_ix: np.ndarray, item_ix: np.ndarray, n_items: int, threads: int | None = None,
                      work_per_slice: int = WORK_PER_SLICE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pair of items i <= j that some user had both of, (i, j, the number of such users); (i, i, users
    who had i) on the diagonal. `user_ix`, `item_ix`: the baskets, each (user, item) at most once; dense indexes.
    In order of i (j in no particular order within an i). The same rows for any thread count or slice size.

    >>> i, j, n = upper_pair_counts(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 0, 1, 2]), 3)
    >>> sorted((int(a), int(b), int(c)) for a, b, c in zip(i, j, n))
    [(0, 0, 2), (0, 1, 2), (0, 2, 1), (1, 1, 2), (1, 2, 1), (2, 2, 1)]
    """
    import scipy.sparse as sp

    from ..neighbour_scoring import map_blocks, row_ranges
    if len(user_ix) == 0 or n_items == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    n_users = int(user_ix.max()) + 1
    ones = np.ones(len(user_ix), np.int32)  # counts stay below 2^31: at most one per user
    by_item = sp.csr_matrix((ones, (item_ix, user_ix)), shape=(n_items, n_users))
    by_user = by_item.T.tocsr()
    # an item's row of the product costs, over its users, the size of each user's basket
    work = by_item @ np.diff(by_user.indptr).astype(np.int64)

    def slice_counts(bounds: tuple[int, int]):
        lo, hi = bounds
        part = (by_item[lo:hi] @ by_user).tocoo()
        upper = part.col >= part.row + lo
        return part.row[upper] + lo, part.col[upper], part.data[upper]

    found = map_blocks(slice_counts, row_ranges(work, work_per_slice), threads)
    return tuple(np.concatenate(parts) for parts in zip(*found))


@python_stage(inputs={"int_user_affinity": ["user_ix", "item_ix"], "int_item_index": ["item_ix"]},
              columns=COLUMNS, layer="features",
              grain="one row per (item_ix, other_item_ix), item_ix <= other_item_ix: the pairs some user had both of")
def int_item_pair_counts_sparse(tables, vars):
    """C = B^T B over the binary user x item matrix, upper triangle, as a sparse product a slice of items at a time."""
    baskets, index = tables["int_user_affinity"], tables["int_item_index"]
    n_items = int(to_numpy(index.column("item_ix"), np.int64).max()) + 1 if index.num_rows else 0
    rows, cols, users = upper_pair_counts(to_numpy(baskets.column("user_ix"), np.int64),
                                          to_numpy(baskets.column("item_ix"), np.int64), n_items)
    return pa.table({"item_ix": to_arrow(rows, pa.int32()), "other_item_ix": to_arrow(cols, pa.int32()),
                     "users": to_arrow(users, pa.int64())})
