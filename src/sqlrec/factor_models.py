"""The math of the latent-factor and linear item models, in NumPy and SciPy. Pure: arrays in, arrays out.

- `randomized_svd`: a truncated SVD of the sparse user x item matrix by Halko, Martinsson and Tropp's randomized
  range finder (2011, algorithm 4.4 with 5.1), seeded and sign-normalised, so reruns give the same factors.
- `ease_weights`: Steck's EASE (2019), the closed-form item x item model B = I - P diag(1/diag(P)),
  P = (X^T X + lambda I)^-1, with a zero diagonal.
- `top_factor_candidates`: the scores U V^T a block of users at a time (BLAS), each user's own items removed, and per
  user the items at or above their k-th best score, for SQL to rank.

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

from .neighbour_scoring import available_cores


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


#: Users scored at once: 500 x 5,000 items is a 20 MB block of scores, under glibc's mmap threshold.
USERS_PER_BLOCK = 500


def top_factor_candidates(user_factors: np.ndarray, item_factors: np.ndarray, seen: sp.csr_matrix, k: int,
                          users_per_block: int = USERS_PER_BLOCK, threads: int | None = None):
    """Per user (row of `user_factors`), the items not in their row of `seen` whose score u . v is at or above
    their k-th highest score (k items, more on ties at the k-th). Returns (user, item, score) arrays, by user.

    Blocks of users run on `threads` threads (default: every available core), each product on one BLAS thread
    where threadpoolctl can set it: many small single-threaded products beat few multi-threaded ones here.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    n_users, n_items = user_factors.shape[0], item_factors.shape[0]
    if n_users == 0 or n_items == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
    items_t = np.ascontiguousarray(item_factors.T)
    seen = seen.tocsr()

    def block(lo: int):
        hi = min(n_users, lo + users_per_block)
        scores = user_factors[lo:hi] @ items_t
        mine = seen[lo:hi]
        scores[np.repeat(np.arange(hi - lo), np.diff(mine.indptr)), mine.indices] = -np.inf
        if n_items >= k:  # -inf when a user has fewer than k unseen items: all of them are kept
            kth = np.partition(scores, n_items - k, axis=1)[:, n_items - k]
        else:
            kth = np.full(hi - lo, -np.inf)
        rows, cols = np.nonzero((scores >= kth[:, None]) & np.isfinite(scores))
        return rows + lo, cols.astype(np.int64), scores[rows, cols]

    with _one_blas_thread(), ThreadPoolExecutor(max(1, threads or available_cores())) as pool:
        found = list(pool.map(block, range(0, n_users, users_per_block)))
    return tuple(np.concatenate(parts) for parts in zip(*found))


def _one_blas_thread():
    return threadpool_limits(limits=1, user_api="blas")
