"""Content similarity as blocks of dense products: the cosine of every pair of catalogue items' TF-IDF vectors.

In SQL (vars.content_similarity = "sql") this is a self-join of int_item_tokens on the token, one row per pair of
items sharing a token before any is dropped: with a small shop vocabulary (categories, brands, price tiers) that is
nearly every pair, 10^10 rows at 100k items, which spilled 66 GB and failed. Here a block of items at a time is
multiplied with all of them (BLAS, or SciPy when the vocabulary is too large for a dense matrix) and only each item's
best vars.content_neighbours are kept; int_item_content_similarity (SQL) then ranks them, ties broken by the smaller
id, exactly as on the SQL path.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..arrays import indexes_of, to_arrow, to_numpy
from ..python_stages import python_stage
from .neighbours import whole_var

#: Similarities are rounded to a multiple of 2^-40 (about 1e-12) on both paths, so that pairs equal in exact
#: arithmetic tie exactly (and are ordered by id) whatever order BLAS or SQL summed their terms in.
GRID_BITS = 40
#: The TF-IDF matrix is made dense (for BLAS) when it fits in this many bytes and BLAS's multiply-adds (items^2 x
#: tokens) are at most DENSE_OVER_SPARSE times the sparse product's (the sum over tokens of their items squared);
#: otherwise it stays sparse. BLAS does about 1,000 multiply-adds in the time SciPy's sparse product does one (on
#: Online Retail's titles, 3,900 items x 2,085 words at 0.2% density: 1.18 s dense, 0.19 s sparse, the same lists;
#: a shop vocabulary of categories and brands is dense enough for BLAS).
DENSE_BYTES = 256 * 2**20
DENSE_OVER_SPARSE = 1_000

COLUMNS = ["item_ix", "other_item_ix", "similarity"]


@python_stage(inputs={"int_item_tokens": ["item_id", "token", "weight"], "int_item_index": ["item_id", "item_ix"]},
              columns=COLUMNS, vars=["content_neighbours"], layer="features",
              grain="one row per (item_ix, other_item_ix): each item's other items whose content similarity is "
                    "positive and at or above its n-th best (n = vars.content_neighbours; more on ties)")
def int_content_similarity_candidates(tables, vars):
    """Each item's most similar other items by the cosine of their TF-IDF vectors, block by block."""
    import scipy.sparse as sp

    from ..factor_models import top_factor_candidates
    tokens, index = tables["int_item_tokens"], tables["int_item_index"]
    keep = whole_var(vars, "content_neighbours", 50, 1)
    if tokens.num_rows == 0:
        return _table(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    item_ix = indexes_of(tokens.column("item_id"), index.column("item_id"), index.column("item_ix"))
    # one chunk, so that the codes refer to one dictionary
    token = to_numpy(pc.dictionary_encode(tokens.column("token").combine_chunks()).indices, np.int64)
    weight = to_numpy(tokens.column("weight"), np.float64)
    n_items, n_tokens = index.num_rows, int(token.max()) + 1
    vectors = sp.csr_matrix((weight, (item_ix, token)), shape=(n_items, n_tokens))
    items_per_token = np.bincount(token, minlength=n_tokens).astype(np.float64)
    if n_items * n_tokens * 8 <= DENSE_BYTES and \
            float(n_items) ** 2 * n_tokens <= DENSE_OVER_SPARSE * float(np.dot(items_per_token, items_per_token)):
        vectors = vectors.toarray()
    itself = sp.identity(n_items, format="csr")
    # by_norm=False: cosine vectors all have norm 1, so norms bound nothing
    rows, cols, values = top_factor_candidates(vectors, vectors, itself, keep, positive_only=True,
                                                grid_bits=GRID_BITS, by_norm=False)
    return _table(rows, cols, values)


def _table(rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> pa.Table:
    return pa.table({"item_ix": to_arrow(rows, pa.int32()), "other_item_ix": to_arrow(cols, pa.int32()),
                     "similarity": to_arrow(values, pa.float64())})
