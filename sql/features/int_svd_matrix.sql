-- The user x item matrix the SVD model learns from: one row per (user, item) with events, valued by
-- vars.svd_weighting (binary, count, weight, affinity, log or bm25; see macros/interactions.sql).
-- grain: one row per (user_ix, item_ix)
-- inputs: stg_events, int_user_index, int_item_index
-- unique: user_ix, item_ix
-- columns:
--   user_ix: the user (int_user_index)
--   item_ix: the item (int_item_index)
--   value: the weighted interaction
{{ interaction_matrix(ref, var, 'svd') }}
