"""Built-in Python stages: the math SQL does badly, between SQL stages (Arrow in, NumPy/SciPy, Arrow out).

Each is a function marked with @python_stage; it joins the graph like a built-in SQL stage, and a project's own stage
of the same name (SQL or Python) replaces it.
"""

from __future__ import annotations

from .content import int_content_similarity_candidates
from .cooccurrence import int_item_pair_counts_sparse
from .factors import int_ease_weights, int_svd_candidates, int_svd_item_factors, int_svd_user_factors
from .neighbours import (int_content_candidates, int_cooccurrence_candidates, int_ease_candidates,
                         int_session_candidates)

BUILTIN_STAGES = (int_item_pair_counts_sparse, int_content_similarity_candidates, int_cooccurrence_candidates,
                  int_content_candidates, int_session_candidates, int_ease_candidates, int_ease_weights,
                  int_svd_item_factors, int_svd_user_factors, int_svd_candidates)
