"""Item-based scoring as a sparse matrix product, for the neighbour recommenders (co-occurrence, content). Pure.

score(u, j) = sum over the user's items i of affinity(u, i) x similarity(i, j): one row of A @ S per user. In SQL
that is a join and a GROUP BY over every (user, candidate) pair, a matrix product done the slow way (DESIGN.md,
section 4). Here SciPy multiplies the sparse matrices a slice of users at a time, drops the items each user already
has, and keeps per user the candidates scoring at or above the user's k-th best score: k rows, more when scores tie
at the k-th. SQL then ranks them (ties broken by item) and maps the indexes back to ids, so this path and the SQL
path (`neighbour_scoring = "sql"`) return the same lists. A score of exactly 0 (no evidence either way) is not a
candidate on either path.

>>> import numpy as np
>>> users, items, scores = top_candidates(
...     user=np.array([0, 0, 1]), item=np.array([0, 1, 1]), affinity=np.array([1.0, 2.0, 1.0]),
...     sim_item=np.array([0, 1, 1, 2]), sim_other=np.array([2, 0, 2, 1]), sim_value=np.array([0.5, 0.3, 0.2, 0.2]),
...     k=1)
>>> [(int(u), int(i), float(s)) for u, i, s in zip(users, items, scores)]
[(0, 2, 0.9), (1, 0, 0.3)]
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

#: Multiply-adds per slice of users. Small slices keep every temporary array under glibc's mmap threshold (32 MB), so
#: memory is reused from slice to slice instead of being mapped and page-faulted afresh (measured: 2x faster cold).
WORK_PER_SLICE = 1_000_000


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_blocks(func, blocks, threads: int | None = None) -> list:
    """[func(b) for b in blocks], on `threads` threads (default: every available core). When one fails or the run
    is interrupted (Ctrl-C), the blocks not yet started are cancelled rather than run to the end of the stage."""
    pool = ThreadPoolExecutor(max(1, threads or available_cores()))
    try:
        return list(pool.map(func, blocks))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def top_candidates(user: np.ndarray, item: np.ndarray, affinity: np.ndarray, sim_item: np.ndarray,
                   sim_other: np.ndarray, sim_value: np.ndarray, k: int, work_per_slice: int = WORK_PER_SLICE,
                   threads: int | None = None, seen: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per user, the unseen items whose score is at or above the user's k-th highest nonzero score.

    user, item, affinity: the (user_ix, item_ix, affinity) rows, at most one per pair; sim_item, sim_other,
    sim_value: the (item_ix, other_item_ix, similarity) rows. Indexes are dense non-negative integers.
    Slices of users are scored on `threads` threads (default: every available core; SciPy and NumPy release the
    GIL in the heavy parts). Returns (user_ix, item_ix, score) arrays, by user, the same for any thread count.
    `seen`: the (user_ix, item_ix) pairs to leave out, when they are not just the affinity rows (everything a user
    ever had, when the affinity is only their latest visit).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if len(user) == 0 or len(sim_item) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
    n_users = int(user.max()) + 1
    most_seen = seen[1].max(initial=0) if seen is not None else 0
    n_items = int(max(item.max(), sim_item.max(), sim_other.max(), most_seen)) + 1
    a = sp.csr_matrix((affinity.astype(np.float64), (user, item)), shape=(n_users, n_items))
    a.sort_indices()
    s = sp.csr_matrix((sim_value.astype(np.float64), (sim_item, sim_other)), shape=(n_items, n_items))
    if seen is None:
        left_out = a
    else:  # only the users being scored
        in_range = seen[0] < n_users
        left_out = sp.csr_matrix((np.ones(int(in_range.sum())), (seen[0][in_range], seen[1][in_range])),
                                 shape=(n_users, n_items))
    slices = list(_slices(a, s, work_per_slice))
    found = map_blocks(lambda bounds: _slice_candidates(a[bounds[0]:bounds[1]], s, k, bounds[0],
                                                        left_out[bounds[0]:bounds[1]]), slices, threads)
    return tuple(np.concatenate(parts) for parts in zip(*found))


def _slices(a: sp.csr_matrix, s: sp.csr_matrix, budget: int):
    """Consecutive user ranges whose products cost at most `budget` multiply-adds each (one user at least)."""
    neighbours = np.diff(s.indptr)
    history = np.diff(a.indptr)
    work = np.zeros(a.shape[0], np.int64)
    has = history > 0
    work[has] = np.add.reduceat(neighbours[a.indices], a.indptr[:-1][has])
    return row_ranges(work, budget)


def row_ranges(work: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive (lo, hi) row ranges covering every row, each costing at most `budget` of `work` (the cost of
    each row), or one row where a single row costs more.

    >>> row_ranges(np.array([3, 3, 3, 9, 1]), 6)
    [(0, 2), (2, 3), (3, 4), (4, 5)]
    """
    done = np.cumsum(work)
    ranges, lo = [], 0
    while lo < len(work):
        before = done[lo - 1] if lo else 0
        hi = min(max(lo + 1, int(np.searchsorted(done, before + budget, side="right"))), len(work))
        ranges.append((lo, hi))
        lo = hi
    return ranges


def _slice_candidates(a: sp.csr_matrix, s: sp.csr_matrix, k: int, first_user: int, left_out: sp.csr_matrix):
    scores = a @ s  # SciPy leaves out entries that sum to exactly 0
    seen_mark = sp.csr_matrix((np.full(left_out.nnz, np.nan), left_out.indices, left_out.indptr), shape=a.shape)
    marked = scores + seen_mark  # NaN wherever the user already has the item
    seen = np.isnan(marked.data)
    values = np.where(seen, -np.inf, marked.data)
    rows = np.repeat(np.arange(marked.shape[0], dtype=np.int64), np.diff(marked.indptr))
    kth = kth_largest_per_row(marked.indptr, values, k)
    keep = ~seen & (values >= kth[rows])
    return rows[keep] + first_user, marked.indices[keep].astype(np.int64), values[keep]


def kth_largest_per_row(indptr: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """The k-th largest of each CSR row's values (repeats count), or -inf for a row of fewer than k values.

    Rows are padded with -inf into blocks of equal width (the next power of two of their length, so padding at
    most doubles the work) and each block is partitioned at once, instead of sorting every row.

    >>> kth_largest_per_row(np.array([0, 3, 4, 4]), np.array([1.0, 5.0, 5.0, 2.0]), 2).tolist()
    [5.0, -inf, -inf]
    """
    lengths = np.diff(indptr)
    kth = np.full(len(lengths), -np.inf)
    long_rows = np.flatnonzero(lengths >= k)
    if not len(long_rows):
        return kth
    width_class = np.ceil(np.log2(lengths[long_rows])).astype(np.int64)
    for width_bits in np.unique(width_class):
        members = long_rows[width_class == width_bits]
        width = max(1 << int(width_bits), k)
        counts = lengths[members]
        member = np.repeat(np.arange(len(members)), counts)
        column = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        block = np.full((len(members), width), -np.inf)
        block[member, column] = values[np.repeat(indptr[members], counts) + column]
        kth[members] = np.partition(block, width - k, axis=1)[:, width - k]
    return kth
