"""The math of the latent-factor and linear item models, in NumPy and SciPy. Pure: arrays in, arrays out.

- `randomized_svd`: a truncated SVD of the sparse user x item matrix by Halko, Martinsson and Tropp's randomized
  range finder (2011, algorithm 4.4 with 5.1), seeded and sign-normalised, so reruns give the same factors.
- `ease_weights`: Steck's EASE (2019), the closed-form item x item model B = I - P diag(1/diag(P)),
  P = (X^T X + lambda I)^-1, with a zero diagonal.
- `top_factor_candidates`: the scores U V^T a block of users at a time (BLAS), each user's own items removed, and per
  user the items at or above their k-th best score, for SQL to rank. Content similarity uses it too (X X^T of the
  items' TF-IDF vectors, each item itself removed).

>>> import numpy as np, scipy.sparse as sp
>>> x = sp.csr_matrix(np.array([[1.0, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]]))
>>> values, factors = randomized_svd(x, rank=2, seed=0)
>>> np.allclose(values, np.linalg.svd(x.toarray(), compute_uv=False)[:2])
True
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from .neighbour_scoring import available_cores, kth_largest_per_row, map_blocks


def randomized_svd(x: sp.csr_matrix, rank: int, oversampling: int = 10, power_iterations: int = 7,
                   seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """The `rank` largest singular values of `x` and the matching right singular vectors (items x rank).

    The randomized range finder runs on the item side (the range of x^T), so every orthonormalisation is of an
    items x (rank + oversampling) block, never of the much taller users side: with C = x Q, the SVD of x Q Q^T
    comes from the small eigenproblem of C^T C. Each vector's sign is chosen so that its largest-magnitude entry is
    positive: an SVD is unique only up to the signs, and a fixed rule makes reruns give the same factors.
    """
    n_rows, n_cols = x.shape
    if not 1 <= rank <= min(n_rows, n_cols):
        raise ValueError(f"the rank must be between 1 and {min(n_rows, n_cols)} (the smaller side of the "
                         f"{n_rows:,} x {n_cols:,} matrix), got {rank}")
    width = min(rank + max(0, oversampling), min(n_rows, n_cols))
    rng = np.random.default_rng(seed)
    # The range finder works in float32: its products read the dense block at random, so halving its bytes makes
    # them 2-5x faster; the final Rayleigh-Ritz step below is float64, so the values and vectors are too.
    x64 = x.astype(np.float64)
    x = x.astype(np.float32)
    xt = x.T.tocsr()
    threads = available_cores()
    # Threads of our own for the sparse products; one BLAS thread for the small QRs, which OpenBLAS's threads slow
    # down instead (measured: 0.2 to 1 s against 0.015 s for a 4,852 x 74 QR on 2 cores).
    with _one_blas_thread(), ThreadPoolExecutor(threads) as pool:
        def product(left: sp.csr_matrix, right: np.ndarray) -> np.ndarray:
            return _product(left, right, pool, threads)
        # A Gaussian start on the item side: 10x fewer draws than Halko's x^T Omega on the user side.
        basis = _orthonormal(rng.standard_normal((n_cols, width)).astype(np.float32))  # items x width
        for _ in range(max(0, power_iterations)):  # subspace iteration on x^T x, re-orthonormalised for stability
            basis = _orthonormal(product(xt, product(x, basis)))
        basis = _orthonormal(basis.astype(np.float64))
        projected = product(x64, basis)  # users x width: x restricted to the subspace
    eigenvalues, vectors = scipy.linalg.eigh(projected.T @ projected)  # ascending
    order = np.argsort(eigenvalues)[::-1][:rank]
    values = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
    factors = basis @ vectors[:, order]
    largest = np.abs(factors).argmax(axis=0)
    factors *= np.sign(factors[largest, np.arange(rank)])
    return values, np.ascontiguousarray(factors)


def _product(left: sp.csr_matrix, right: np.ndarray, pool: ThreadPoolExecutor, parts: int) -> np.ndarray:
    """left @ right, in `parts` blocks of rows on the pool's threads (SciPy's sparse x dense product is
    single-threaded, and releases the GIL)."""
    bounds = np.linspace(0, left.shape[0], parts + 1).astype(int)
    out = np.empty((left.shape[0], right.shape[1]), dtype=np.result_type(left.dtype, right.dtype))

    def block(i: int) -> None:
        out[bounds[i]:bounds[i + 1]] = left[bounds[i]:bounds[i + 1]] @ right

    list(pool.map(block, range(parts)))
    return out


def _orthonormal(block: np.ndarray) -> np.ndarray:
    q, _ = scipy.linalg.qr(block, mode="economic", check_finite=False)
    return q


def ease_weights(x: sp.csr_matrix, regularisation: float) -> np.ndarray:
    """EASE's item x item weights for the user x item matrix `x`: B = I - P diag(1/diag(P)), zero diagonal.

    P = (G + lambda I)^-1 with the Gram matrix G = x^T x, solved through a Cholesky factorisation (G + lambda I
    is symmetric positive definite for lambda > 0). Memory: three dense items x items matrices.
    """
    if not regularisation > 0:
        raise ValueError(f"the regularisation (lambda) must be positive, got {regularisation}")
    gram = (x.T @ x).toarray()
    gram[np.diag_indices_from(gram)] += regularisation
    inverse = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram, lower=True, check_finite=False),
                                     np.eye(gram.shape[0]), check_finite=False)
    weights = inverse / -np.diag(inverse)  # column j divided by -P_jj
    np.fill_diagonal(weights, 0.0)
    return weights


def strongest_per_row(weights: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nonzero entries of a dense matrix as (row, column, value), only each row's `keep` largest values when
    keep > 0 (ties at the cut kept whole, so the result does not depend on the order of columns)."""
    if keep > 0 and keep < weights.shape[1]:
        kth = np.partition(weights, weights.shape[1] - keep, axis=1)[:, weights.shape[1] - keep]
        mask = (weights >= kth[:, None]) & (weights != 0)
    else:
        mask = weights != 0
    rows, cols = np.nonzero(mask)
    return rows, cols, weights[rows, cols]


#: Scores held at once per block of rows: 2.5M doubles (20 MB, e.g. 500 users x 5,000 items), under glibc's mmap
#: threshold (32 MB), so each thread reuses its block's memory instead of mapping and page-faulting it afresh.
CELLS_PER_BLOCK = 2_500_000
#: Dense factors over at least this many items are scored a chunk of items at a time by descending norm
#: (`_pruned_block`); below it, one product per block of users costs less than bounding. The first chunk has
#: FIRST_CHUNK items, or 64 per listed item.
PRUNE_FROM_ITEMS, FIRST_CHUNK = 4_096, 512


def top_factor_candidates(user_factors, item_factors, seen: sp.spmatrix, k: int, users_per_block: int | None = None,
                          threads: int | None = None, positive_only: bool = False, grid_bits: int | None = None,
                          by_norm: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per user (row of `user_factors`), the items not in their row of `seen` whose score u . v is at or above
    their k-th highest score (k items, more on ties at the k-th). Returns (user, item, score) arrays, by user.

    The factors are dense arrays or SciPy sparse matrices (content vectors over a large vocabulary). With
    `positive_only`, scores of 0 or less are never candidates; with `grid_bits`, scores are first rounded to the
    nearest multiple of 2^-grid_bits (see `round_to_grid`).
    Blocks of users run on `threads` threads (default: every available core), each product on one BLAS thread
    where threadpoolctl can set it: many small single-threaded products beat few multi-threaded ones here.
    Dense factors over PRUNE_FROM_ITEMS items or more are scored by descending item norm, and each user stops where
    no item left can reach their k-th best (`_pruned_block`; `by_norm=False` turns this off, e.g. for unit vectors,
    whose norms bound nothing): the same candidates, from a small share of the products.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    n_users, n_items = user_factors.shape[0], item_factors.shape[0]
    if n_users == 0 or n_items == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
    sparse = sp.issparse(user_factors)
    user_factors = user_factors.tocsr() if sparse else user_factors
    seen = seen.tocsr()
    margin = 0.5 ** grid_bits if grid_bits is not None else 0.0
    pruned = by_norm and not sparse and n_items >= PRUNE_FROM_ITEMS
    if pruned:
        order, item_norms, items_t, seen = _item_order(item_factors, seen)
        first = min(n_items, max(FIRST_CHUNK, 64 * k))
        per_block = users_per_block or max(1, CELLS_PER_BLOCK // first)
    else:
        items_t = item_factors.T.tocsr() if sparse else np.ascontiguousarray(item_factors.T)
        per_block = users_per_block or max(1, CELLS_PER_BLOCK // n_items)

    def scored(lo: int, hi: int):
        """(row, item, score) of the block's rows: every score that can reach its row's k-th best."""
        if pruned:
            rows, cols, values = _pruned_block(user_factors[lo:hi], items_t, item_norms, seen[lo:hi], k, first, margin)
            cols = order[cols]
            by_row = np.lexsort((cols, rows))
            return rows[by_row], cols[by_row], values[by_row]
        scores = user_factors[lo:hi] @ items_t
        scores = scores.toarray() if sparse else scores
        mine = seen[lo:hi]
        scores[np.repeat(np.arange(hi - lo), np.diff(mine.indptr)), mine.indices] = -np.inf
        # the few scores that can reach a row's k-th best, then its k-th best among them: rounding to the grid
        # keeps the order and moves a score by at most half a step, so a margin of one step keeps every score
        # that can round up to tie with the k-th
        floor = k_th_lower_bound(scores, k) - margin
        at = np.flatnonzero(scores >= (np.maximum(floor, _TINY) if positive_only else floor)[:, None])
        rows, cols = np.divmod(at, n_items)  # 7x faster than a 2-d np.nonzero
        return rows, cols, scores.ravel()[at]

    def block(lo: int):
        hi = min(n_users, lo + per_block)
        rows, cols, values = scored(lo, hi)
        if grid_bits is not None:
            round_to_grid(values, grid_bits)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=hi - lo))])
        kth = kth_largest_per_row(indptr, values, k)  # -inf for a row of fewer than k: all of them are kept
        keep = (values >= kth[rows]) & np.isfinite(values)
        if positive_only:
            keep &= values > 0
        return rows[keep] + lo, cols[keep].astype(np.int64), values[keep]

    with _one_blas_thread():
        found = map_blocks(block, range(0, n_users, per_block), threads)
    return tuple(np.concatenate(parts) for parts in zip(*found))


def _item_order(item_factors: np.ndarray, seen: sp.csr_matrix):
    """The items by descending norm (ties by index), their norms in that order, the factors transposed in that
    order, and `seen` with its columns renumbered to match."""
    norms = np.linalg.norm(item_factors, axis=1)
    order = np.argsort(-norms, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    seen = sp.csr_matrix((np.ones(seen.nnz), position[seen.indices], seen.indptr), shape=seen.shape)
    return order, norms[order], np.ascontiguousarray(item_factors[order].T), seen


def _pruned_block(users: np.ndarray, items_t: np.ndarray, item_norms: np.ndarray, seen: sp.csr_matrix, k: int,
                  first: int, margin: float):
    """One block of users scored against items by descending norm, a chunk at a time, until no item left can reach
    a user's k-th best: an unscored item j scores at most |u| |v_j| <= |u| times the next chunk's first norm
    (Cauchy-Schwarz). Users whose k-th best so far is above that bound stop; the others go on to the next chunk.
    Returns every (row, item position, score) at or above the row's k-th best of the scored items minus `margin`,
    which holds every score at or above its k-th best of all items minus `margin`."""
    n_rows, n_items = users.shape[0], items_t.shape[1]
    user_norms = np.linalg.norm(users, axis=1)
    seen_row = np.repeat(np.arange(n_rows), np.diff(seen.indptr))
    seen_col = seen.indices
    kth = np.full(n_rows, -np.inf)  # each row's k-th best score so far: a lower bound of its final k-th best
    active = np.arange(n_rows)
    found_rows, found_cols, found_values = [], [], []
    start, width = 0, first
    while len(active) and start < n_items:
        end = min(n_items, start + width)
        scores = (users if len(active) == n_rows else users[active]) @ items_t[:, start:end]
        slot = np.full(n_rows, -1)
        slot[active] = np.arange(len(active))
        inside = (seen_col >= start) & (seen_col < end) & (slot[seen_row] >= 0)
        scores[slot[seen_row[inside]], seen_col[inside] - start] = -np.inf
        floor = np.maximum(kth[active], k_th_lower_bound(scores, k)) - margin
        at = np.flatnonzero(scores >= floor[:, None])
        rows, cols = np.divmod(at, end - start)
        found_rows.append(active[rows])
        found_cols.append(cols + start)
        found_values.append(scores.ravel()[at])
        if end == n_items:
            break
        # the k-th best so far of the rows still going, from everything kept for them (which holds their k best)
        all_rows, all_values = np.concatenate(found_rows), np.concatenate(found_values)
        ordered = np.argsort(all_rows, kind="stable")
        indptr = np.concatenate([[0], np.cumsum(np.bincount(all_rows, minlength=n_rows))])
        kth = kth_largest_per_row(indptr, all_values[ordered], k)
        # rounding in the products and the norms moves a score by far less than a millionth of |u| |v|
        reachable = user_norms[active] * item_norms[end] * (1 + 1e-6)
        active = active[reachable >= kth[active] - margin]
        # chunks double while users remain (fewer products for the users who stop early), within the block's cells
        start, width = end, max(first, min(2 * width, CELLS_PER_BLOCK // max(1, len(active))))
    return np.concatenate(found_rows), np.concatenate(found_cols), np.concatenate(found_values)


_TINY = np.nextafter(0.0, 1.0)
#: At most this many scores per group when bounding a row's k-th best (each group's maximum is one pass over the
#: block), and at least GROUPS_PER_K x k groups, so that few scores reach the bound.
GROUP, GROUPS_PER_K = 64, 16


def k_th_lower_bound(scores: np.ndarray, k: int) -> np.ndarray:
    """A lower bound of each row's k-th largest score: the k-th largest of the maxima of groups of scores (k
    groups reach it, so at least k scores do). A vectorised pass instead of a selection per row; the scores at or
    above it are few (about the k best groups), and the exact k-th is found among them. With too few scores per
    row for groups, the exact k-th (np.partition), or -inf for a row of fewer than k scores.

    >>> k_th_lower_bound(np.arange(2048.0).reshape(1, 2048), 2).tolist()  # 32 groups of 64: maxima 63, ..., 2047
    [1983.0]
    """
    n_rows, n = scores.shape
    if n < k:
        return np.full(n_rows, -np.inf)
    size = min(GROUP, n // (GROUPS_PER_K * k))
    if size < 4:
        return np.partition(scores, n - k, axis=1)[:, n - k]
    groups = n // size
    maxima = scores[:, :groups * size].reshape(n_rows, groups, size).max(axis=2)  # a view: no copy
    if groups * size < n:  # the last, shorter group
        maxima = np.concatenate([maxima, scores[:, groups * size:].max(axis=1, keepdims=True)], axis=1)
    return np.partition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k]


def round_to_grid(values: np.ndarray, bits: int) -> np.ndarray:
    """Round `values` (in place, |v| < 2^(52 - bits)) to the nearest multiple of 2^-bits, ties upwards.

    Every step is exact in IEEE doubles (scaling by a power of two, adding 1/2, floor), so DuckDB and Spark SQL
    computing floor(v * 2^bits + 0.5) / 2^bits get the same bits; decimal rounding does not (NumPy, DuckDB and
    Spark break x.5 differently). Sums equal in exact arithmetic but added in a different order (BLAS against SQL)
    then tie exactly, unless they straddle a grid point.

    >>> 0.1 + 0.2 == 0.3, round_to_grid(np.array([0.1 + 0.2, 0.3]), 40).tolist()
    (False, [0.3000000000001819, 0.3000000000001819])
    """
    scale = float(2**bits)
    np.multiply(values, scale, out=values)
    np.add(values, 0.5, out=values)
    np.floor(values, out=values)
    np.divide(values, scale, out=values)
    return values


def _one_blas_thread():
    return threadpool_limits(limits=1, user_api="blas")
